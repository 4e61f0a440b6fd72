//! The manifest: any text parses to a workspace or to diagnostics with valid spans; a
//! workspace that parses builds its graph (or names its cycle) and renders every diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match carry_graph::manifest::parse("carry.toml", &text) {
        Ok(manifest) => {
            if let Ok(graph) = carry_graph::WorkspaceGraph::from_manifest(&manifest.workspace) {
                let _ = graph.stages();
            }
        }
        Err(error) => {
            for diagnostic in &error.diagnostics {
                // A location points inside the text: a line that exists, a column on it.
                if let Some(location) = &diagnostic.location {
                    assert!(location.line >= 1 && location.column >= 1, "{diagnostic:?}");
                    assert!(
                        location.column <= location.line_text.chars().count() + 1,
                        "{diagnostic:?}"
                    );
                    let highlight = &location.highlight;
                    assert!(highlight.start <= highlight.end, "{diagnostic:?}");
                    assert!(
                        location.line_text.get(highlight.clone()).is_some(),
                        "{diagnostic:?}"
                    );
                }
            }
        }
    }
});
