//! The fuzzers' seeds and every crash they found (`fuzz/corpus/<target>/`), replayed through
//! the same entry points on every test run: the small slice of the fuzzing campaign CI runs.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).expect("seed");
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no seeds in {}", dir.display());
    found
}

#[test]
fn manifest_seeds_parse_or_point_inside_the_text() {
    for (name, bytes) in seeds("manifest") {
        let text = String::from_utf8_lossy(&bytes);
        match carry_graph::manifest::parse("carry.toml", &text) {
            Ok(manifest) => {
                if let Ok(graph) = carry_graph::WorkspaceGraph::from_manifest(&manifest.workspace) {
                    let _ = graph.stages();
                }
            }
            Err(error) => {
                for diagnostic in &error.diagnostics {
                    if let Some(location) = &diagnostic.location {
                        assert!(location.line >= 1 && location.column >= 1, "{name}");
                        assert!(
                            location.line_text.get(location.highlight.clone()).is_some(),
                            "{name}: {diagnostic:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn series_file_seeds_parse() {
    for (_, bytes) in seeds("series_file") {
        let _ = carry_adapters::series::parse_series_file(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn patch_file_seeds_parse_or_fail_cleanly() {
    for (_, bytes) in seeds("patch_file") {
        for strip in 0..4 {
            let _ = carry_adapters::patchfile::parse("0001-seed.patch", &bytes, strip);
        }
    }
}

#[test]
fn webhook_seeds_parse_or_fail_cleanly() {
    let mut pushes = 0;
    for (_, bytes) in seeds("webhook") {
        if let Ok(push) = carry_orchestrator::webhooks::parse_push(&bytes) {
            pushes += 1;
            for url in &push.urls {
                assert!(carry_orchestrator::webhooks::same_repository(url, url));
            }
        }
    }
    assert!(pushes >= 3, "the provider samples parse");
}
