//! `carry graph`, `order` and `impact` through the binary, on the NFV example (no repositories).

use std::path::PathBuf;

use crate::support::carry_in;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/nfv")
}

#[test]
fn order_prints_stages_consumed_first() {
    let output = carry_in(&example(), &["order"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(output.stdout, @r"
    stage 1: kernel
    stage 2: ceph, dpdk, qemu
    stage 3: libvirt, ovs
    stage 4: neutron, nova
    ");
}

#[test]
fn order_json_with_moved_keeps_moved_and_transitive_consumers() {
    let output = carry_in(
        &example(),
        &["order", "--moved", "dpdk", "--moved", "qemu", "--json"],
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"stages": [["dpdk", "qemu"], ["libvirt", "ovs"], ["neutron", "nova"]]})
    );
}

#[test]
fn order_with_an_unknown_moved_project_is_a_usage_error() {
    let output = carry_in(&example(), &["order", "--moved", "libvrt"]);
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .contains("no project 'libvrt'; did you mean 'libvirt'?"),
        "{}",
        output.stderr
    );
}

#[test]
fn impact_json_follows_the_spec() {
    let output = carry_in(&example(), &["impact", "qemu", "--json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "project": "qemu",
            "consumers": ["libvirt", "nova"],
            "features": ["rbd-multipath", "sriov"],
            "patches_at_risk": [
                "libvirt/0001-qemu-hostdev-pass-vf-token-to-vfio-pci",
                "nova/libvirt-Support-SR-IOV-VF-hot-plug-with-vf-token",
                "qemu/vfio-pci-accept-a-vf-token-for-SR-IOV-VFs"
            ],
            "retest": ["qemu", "libvirt", "nova"]
        })
    );
}

#[test]
fn impact_text_names_each_part() {
    let output = carry_in(&example(), &["impact", "dpdk"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    insta::assert_snapshot!(output.stdout, @r"
    if dpdk moves:
      consumers (2): neutron, ovs
      features (1): vhost-numa
      patches at risk (3): dpdk/vhost-reallocate-virtqueue-on-the-guest-NUMA-node, neutron/ovs-Report-vhost-user-NUMA-affinity-to-placement, ovs/netdev-dpdk-Reallocate-vhost-queues-on-NUMA-change
      re-test, in order (3): dpdk, ovs, neutron
    ");
}

#[test]
fn graph_formats_all_render() {
    for format in ["text", "dot", "mermaid", "json"] {
        let output = carry_in(&example(), &["graph", "--format", format]);
        assert_eq!(output.code, 0, "{format}: {}", output.stderr);
        assert!(output.stdout.contains("libvirt"), "{format}");
    }
    let dot = carry_in(&example(), &["graph", "--format", "dot"]).stdout;
    assert!(dot.starts_with("digraph carry {"));
    assert!(dot.contains("p_nova -> p_libvirt [label=\"consumes\"];"));
    let mermaid = carry_in(&example(), &["graph", "--format", "mermaid"]).stdout;
    assert!(mermaid.starts_with("flowchart BT\n"));
    assert!(mermaid.contains("p_nova -->|consumes| p_libvirt"));
    let json: serde_json::Value =
        serde_json::from_str(&carry_in(&example(), &["graph", "--format", "json"]).stdout)
            .expect("JSON");
    assert_eq!(json["schema"], "carry.graph/v1");
    assert_eq!(json["projects"].as_array().map(Vec::len), Some(8));
    assert_eq!(json["stages"][0], serde_json::json!(["kernel"]));
}

#[test]
fn commands_find_the_manifest_from_a_subdirectory_and_with_dash_c() {
    let sub = example().join("patches");
    let from_sub = if sub.is_dir() {
        carry_in(&sub, &["order"])
    } else {
        carry_in(&example(), &["order"])
    };
    assert_eq!(from_sub.code, 0, "{}", from_sub.stderr);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let with_c = carry_in(&root, &["-C", "examples/nfv", "order"]);
    assert_eq!(with_c.stdout, from_sub.stdout);
}

#[test]
fn no_workspace_is_an_error_with_a_hint() {
    let empty = tempfile::tempdir().expect("temp dir");
    let output = carry_in(empty.path(), &["order"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("no carry.toml in"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("hint:"), "{}", output.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let output = carry_in(&example(), &["graph", "--format", "png"]);
    assert_eq!(output.code, 2);
    let output = carry_in(&example(), &["frobnicate"]);
    assert_eq!(output.code, 2);
}

#[test]
fn color_always_colours_diagnostics_and_never_does_not() {
    let workspace = crate::support::TestWorkspace::new("[workspace]\nnam = \"x\"\n");
    let coloured =
        crate::support::hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
            .current_dir(workspace.path())
            .args(["--color", "always", "validate"])
            .output()
            .expect("run carry");
    assert!(String::from_utf8_lossy(&coloured.stderr).contains("\u{1b}["));
    let plain = workspace.carry(&["--color", "never", "validate"]);
    assert!(!plain.stderr.contains('\u{1b}'));
    assert!(
        plain
            .stderr
            .contains("unknown key 'nam' in [workspace], did you mean 'name'?"),
        "{}",
        plain.stderr
    );
}

/// A token in an upstream URL is never shown: not by `graph --format json` (what the
/// service's `/api/v1/workspace` and `/api/v1/graph` serve), not by `validate`'s note.
#[test]
fn a_token_in_an_upstream_url_is_never_shown() {
    let workspace = crate::support::TestWorkspace::new(
        "[workspace]\nname = \"w\"\n\n[project.qemu]\nrepo = \"repos/qemu\"\nupstream = { url = \"https://ci:glpat-SECRET@gitlab.example.org/nfv/qemu.git\", ref = \"main\" }\nseries = { branch = \"carried\" }\n",
    );
    let qemu = workspace.repo("repos/qemu");
    qemu.commit_file("a", "a\n", "import");
    qemu.git(&["checkout", "-q", "-b", "carried"]);
    let graph = workspace.carry(&["graph", "--format", "json"]);
    assert_eq!(graph.code, 0, "{}", graph.stderr);
    assert!(!graph.stdout.contains("SECRET"), "{}", graph.stdout);
    assert!(
        graph
            .stdout
            .contains("https://***@gitlab.example.org/nfv/qemu.git"),
        "{}",
        graph.stdout
    );
    let validate = workspace.carry(&["validate"]);
    assert!(
        validate
            .stderr
            .contains("upstream 'https://***@gitlab.example.org"),
        "{}",
        validate.stderr
    );
    // A run (its fetch fails: no such host) at debug level: not in the report, not in an
    // error, not in a log line.
    let run = workspace.carry(&["-v", "run", "--json", "--no-test"]);
    assert!(!run.stdout.contains("SECRET"), "{}", run.stdout);
    assert!(!run.stderr.contains("SECRET"), "{}", run.stderr);
    assert!(
        run.stderr.contains("***@gitlab.example.org"),
        "{}",
        run.stderr
    );
    let report = workspace.carry(&["report", "--json"]);
    assert!(!report.stdout.contains("SECRET"), "{}", report.stdout);
}
