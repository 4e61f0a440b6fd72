//! What CI systems read: JUnit XML of a run, and the example nightly jobs in `examples/ci/`.

use crate::support::carry_in;
use crate::support::demo_workspace;

/// Every element of `xml` in document order, with its attributes; panics on XML that does
/// not parse.
fn elements(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut found = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attributes = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("an attribute");
                        (
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            a.unescape_value().expect("a value").into_owned(),
                        )
                    })
                    .collect();
                found.push((name, attributes));
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    found
}

fn attribute<'a>(element: &'a (String, Vec<(String, String)>), key: &str) -> Option<&'a str> {
    element
        .1
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_run_writes_junit_a_suite_per_project_a_case_per_patch_and_test() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    // A bare file name: written in the current directory.
    let file = demo.join("junit.xml");
    let run = carry_in(&demo, &["run", "--junit", "junit.xml", "--json"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = crate::support::json(&run.stdout);
    let xml = std::fs::read_to_string(&file).expect("the JUnit file");
    let elements = elements(&xml);
    let suites: Vec<_> = elements.iter().filter(|e| e.0 == "testsuite").collect();
    assert_eq!(
        suites.len(),
        report["projects"].as_array().map_or(0, Vec::len)
    );
    let cases: Vec<_> = elements.iter().filter(|e| e.0 == "testcase").collect();
    let patches: usize = report["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| p["patches"].as_array().map_or(0, Vec::len) + 1)
        .sum();
    assert_eq!(
        cases.len(),
        patches,
        "a case per patch and per project's test"
    );
    // The conflict fails its case, with the paths; the nova patch it blocks fails too; the
    // landed patch is skipped, saying so.
    let position = |name: &str| {
        elements
            .iter()
            .position(|e| e.0 == "testcase" && attribute(e, "name") == Some(name))
            .unwrap_or_else(|| panic!("{name} in {xml}"))
    };
    let conflict = &elements[position("libvirt/hostdev-vf") + 1];
    assert_eq!(conflict.0, "failure");
    assert_eq!(attribute(conflict, "type"), Some("conflict"));
    assert!(attribute(conflict, "message").is_some_and(|m| m.contains("src/qemu/qemu_hostdev.c")));
    assert_eq!(elements[position("nova/sriov-vf-pci") + 1].0, "failure");
    let landed = &elements[position("ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown") + 1];
    assert_eq!(landed.0, "skipped");
    assert!(xml.contains("<testcase name=\"kernel test\""), "{xml}");
    let top = elements
        .iter()
        .find(|e| e.0 == "testsuites")
        .expect("testsuites");
    assert_eq!(attribute(top, "failures"), Some("2"));
}

/// Every string of a YAML document, depth first.
fn strings(yaml: &yaml_rust2::Yaml, found: &mut Vec<String>) {
    match yaml {
        yaml_rust2::Yaml::String(s) => found.push(s.clone()),
        yaml_rust2::Yaml::Array(items) => {
            for item in items {
                strings(item, found);
            }
        }
        yaml_rust2::Yaml::Hash(map) => {
            for (key, value) in map {
                strings(key, found);
                strings(value, found);
            }
        }
        _ => {}
    }
}

/// The example nightly jobs parse, and every carry command they run exists with the options
/// they give it (each is run with `--help` appended: clap refuses an unknown option first).
#[test]
fn the_example_ci_jobs_parse_and_name_commands_that_exist() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci");
    let files = [
        "github-actions.yml",
        "gitlab-ci.yml",
        "zuul/jobs.yaml",
        "zuul/playbooks/carry-nightly.yaml",
    ];
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(examples.join(file)).expect("an example");
        let documents =
            yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!documents.is_empty(), "{file}");
        let mut found = Vec::new();
        for document in &documents {
            strings(document, &mut found);
        }
        for line in found.iter().flat_map(|s| s.lines()) {
            // A shell line that runs carry (not a job's name that says "carry").
            let Some(rest) = line.trim_start().strip_prefix("carry ") else {
                continue;
            };
            if !line.contains(" -C ") && !rest.starts_with("demo") {
                continue;
            }
            // Up to a redirection, a pipe or another command.
            let command = rest.split(['>', '|', ';']).next().unwrap_or_default();
            // A template's expression (`{{ var }}`) is one value.
            let mut command = command.to_owned();
            while let (Some(open), Some(close)) = (command.find("{{"), command.find("}}")) {
                if close < open {
                    break;
                }
                command.replace_range(open..close + 2, "x");
            }
            let mut args: Vec<String> = Vec::new();
            let mut tokens = command.split_whitespace().peekable();
            while let Some(token) = tokens.next() {
                if token == "-C" {
                    tokens.next();
                    continue;
                }
                if token.starts_with('#') {
                    break;
                }
                args.push(if token.contains('$') || token.contains("{{") {
                    "x".to_owned()
                } else {
                    token.trim_matches('"').to_owned()
                });
            }
            if args.is_empty() || args[0] == "carry" || args[0].starts_with("state") {
                continue;
            }
            args.push("--help".to_owned());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = carry_in(std::path::Path::new("."), &refs);
            assert_eq!(
                out.code,
                0,
                "{file}: `carry {}`: {}",
                command.trim(),
                out.stderr
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} carry commands found");
}
