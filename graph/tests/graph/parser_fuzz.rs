//! The parser never panics: random bytes, and valid manifests mutated at random.
//!
//! Runs `CARRY_FUZZ_CASES` cases per property (default 2,000 so the suite stays fast);
//! `CARRY_FUZZ_CASES=1000000 cargo test -p carry-graph --release parser_fuzz` runs a million.

use carry_graph::WorkspaceGraph;
use carry_graph::manifest;
use proptest::prelude::*;

const VALID: &str = include_str!("../../../examples/nfv/carry.toml");

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "{",
    "}",
    ",",
    "\n",
    "#",
    ".",
    "..",
    "/",
    " ",
    "project.",
    "feature.",
    "consumes",
    "repo",
    "upstream",
    "series",
    "branch",
    "dir",
    "base",
    "test",
    "timeout",
    "patches",
    "deadline",
    "\"nova/x\"",
    "[\"qemu\"]",
    "2027-02-30",
    "30m",
    "é",
    "\u{0}",
    "\u{feff}",
    "\r\n",
    "\\u0041",
    "\"\"\"",
    "1e9",
    "-",
    "true",
];

fn cases() -> u32 {
    std::env::var("CARRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Parses `text`; when it validates, also builds the graph and asks every query.
fn exercise(text: &str) {
    match manifest::parse("carry.toml", text) {
        Ok(manifest) => {
            let graph = WorkspaceGraph::from_manifest(&manifest.workspace)
                .expect("a manifest that validated has no cycles");
            let _ = graph.stages();
            for name in manifest.workspace.projects.keys() {
                let id = graph
                    .project(name.as_str())
                    .expect("every project is in the graph");
                let _ = graph.impact(id);
                let _ = graph.stages_for_moved(&[id]);
            }
        }
        Err(error) => {
            assert!(
                !error.diagnostics.is_empty(),
                "an error carries at least one diagnostic"
            );
            let lines = text.split('\n').count();
            for diagnostic in &error.diagnostics {
                assert!(!diagnostic.message.is_empty());
                if let Some(at) = &diagnostic.location {
                    assert!(
                        at.line >= 1 && at.line <= lines,
                        "line {} of {lines}",
                        at.line
                    );
                    assert!(at.column >= 1);
                    assert!(at.highlight.end <= at.line_text.len());
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(prop::sample::Index, usize),
    Insert(prop::sample::Index, usize),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    ReplaceByte(prop::sample::Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1..40usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<prop::sample::Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<prop::sample::Index>().prop_map(Mutation::DuplicateLine),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::ReplaceByte(i, b)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::Delete(at, len) if !bytes.is_empty() => {
                let start = at.index(bytes.len());
                let end = (start + len).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert(at, token) => {
                let pos = at.index(bytes.len() + 1);
                bytes.splice(pos..pos, TOKENS[*token].bytes());
            }
            Mutation::DuplicateLine(at) | Mutation::SwapLines(at, _) if bytes.is_empty() => {
                let _ = at;
            }
            Mutation::DuplicateLine(at) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let i = at.index(lines.len());
                lines.insert(i, lines[i]);
                bytes = lines.join("\n").into_bytes();
            }
            Mutation::SwapLines(a, b) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let (i, j) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(i, j);
                bytes = lines.join("\n").into_bytes();
            }
            Mutation::ReplaceByte(at, byte) if !bytes.is_empty() => {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_valid_example_parses() {
    let manifest = manifest::parse("carry.toml", VALID).expect("the example is valid");
    assert_eq!(manifest.workspace.projects.len(), 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_manifests_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        exercise(&apply(VALID, &mutations));
    }
}
