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
    let file = dir.path().join("out/junit.xml");
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("dir");
    let run = carry_in(
        &demo,
        &["run", "--junit", &file.display().to_string(), "--json"],
    );
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
