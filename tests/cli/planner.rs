//! `carry impact P --to REF`: a trial rebase in memory, checked against what a real run onto
//! the same ref reports, and checked to record nothing.

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

fn outcomes(patches: &serde_json::Value) -> Vec<(String, String)> {
    patches
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_owned(),
                p["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_trial_rebase_predicts_the_run_and_records_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "demo");
    assert_eq!(carry_in(&demo, &["fetch"]).code, 0);
    let libvirt = TestRepo::open(&demo.join("repos/libvirt"));
    let refs_before = libvirt.git(&["for-each-ref"]);
    let objects_before = libvirt.git(&["count-objects"]);

    // A move that conflicts, and blocks nova through the feature.
    let conflict = carry_in(&demo, &["impact", "libvirt", "--to", "main", "--json"]);
    assert_eq!(conflict.code, 3, "{}", conflict.stderr);
    let conflict = json(&conflict.stdout);
    assert_eq!(
        conflict["blocked_elsewhere"],
        serde_json::json!([{"id": "nova/sriov-vf-pci", "blocked_by": ["libvirt/hostdev-vf"]}])
    );
    assert_eq!(conflict["features_at_risk"], serde_json::json!(["sriov"]));
    assert_eq!(conflict["retest"].as_array().map(Vec::len), Some(2));
    // A move where a patch has landed.
    let landed = json(&carry_in(&demo, &["impact", "ovs", "--to", "main", "--json"]).stdout);

    // The trial wrote no object, no ref, no run.
    assert_eq!(libvirt.git(&["for-each-ref"]), refs_before);
    assert_eq!(libvirt.git(&["count-objects"]), objects_before);
    assert!(!demo.join(".carry/carry.db").exists() || carry_in(&demo, &["report"]).code == 1);

    // A real run onto the same refs says the same, patch for patch.
    let run = json(&carry_in(&demo, &["run", "--json", "--no-test"]).stdout);
    let project = |name: &str| {
        run["projects"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        outcomes(&conflict["patches"]),
        outcomes(&project("libvirt")["patches"])
    );
    assert_eq!(
        conflict["patches"][0]["first_bad"],
        project("libvirt")["patches"][0]["first_bad"]
    );
    assert_eq!(
        outcomes(&landed["patches"]),
        outcomes(&project("ovs")["patches"])
    );
    assert_eq!(
        landed["patches"][0]["upstream_commit"],
        project("ovs")["patches"][0]["upstream_commit"]
    );
    assert_eq!(
        outcomes(&project("nova")["patches"]),
        [("nova/sriov-vf-pci".to_owned(), "blocked".to_owned())]
    );
}

#[test]
fn an_unknown_ref_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "demo");
    let output = carry_in(&demo, &["impact", "qemu", "--to", "v99.0.0"]);
    assert_eq!(output.code, 2);
    assert!(
        output.stderr.contains(
            "'v99.0.0' is not a ref or commit of qemu's repository; run `carry fetch qemu` first"
        ),
        "{}",
        output.stderr
    );
}
