//! `carry validate` on malformed manifests: every problem, at file:line:col, with a caret and
//! what was meant. No repositories are needed: the manifest fails before series are read.

use crate::support::TestWorkspace;
use crate::support::normalize;

/// Validates `manifest` in a fresh workspace and snapshots exit code and stderr.
fn check(name: &str, manifest: &str) {
    let workspace = TestWorkspace::new(manifest);
    let output = workspace.carry(&["validate"]);
    assert_eq!(
        output.code, 1,
        "{name}: a bad manifest exits 1\n{}",
        output.stderr
    );
    assert!(output.stdout.is_empty(), "{name}: nothing on stdout");
    assert!(
        !output.stderr.contains("panicked"),
        "{name}: {}",
        output.stderr
    );
    insta::assert_snapshot!(name, normalize(&output.stderr, workspace.path()));
}

const HEADER: &str = "[workspace]\nname = \"nfv\"\n\n";

fn with_header(rest: &str) -> String {
    format!("{HEADER}{rest}")
}

#[test]
fn toml_syntax_error() {
    check("toml_syntax", "[workspace\nname = \"nfv\"\n");
}

#[test]
fn unknown_keys_suggest_the_near_one() {
    check(
        "unknown_keys",
        &with_header(
            r#"[project.kernel]
repo = "repos/kernel"
upstream = { url = "https://git.kernel.org/linux.git", ref = "master" }
series = { dir = "patches/kernel" }

[project.qemu]
repo = "repos/qemu"
upstream = { url = "https://gitlab.com/qemu-project/qemu.git", ref = "master", branch = "x" }
series = { branch = "carried", bas = "v9.0.0" }
consume = ["kernel"]
tests = "make check"

[feature.sriov]
descripton = "SR-IOV"
"#,
        ),
    );
}

#[test]
fn wrong_types() {
    check(
        "wrong_types",
        &with_header(
            r#"[project.kernel]
repo = 5
upstream = "https://git.kernel.org/linux.git"
series = { dir = ["patches"] }
consumes = "qemu"
test = true

[feature]
sriov = "yes"
"#,
        ),
    );
}

#[test]
fn missing_required_keys() {
    check(
        "missing_required",
        r#"[workspace]
max-patch-age = "180d"

[project.kernel]
consumes = []

[project.qemu]
repo = "repos/qemu"
upstream = { url = "https://gitlab.com/qemu-project/qemu.git" }
series = { branch = "carried" }
test = { timeout = "30m" }
"#,
    );
}

#[test]
fn missing_workspace_table() {
    check(
        "missing_workspace",
        r#"[project.kernel]
repo = "repos/kernel"
upstream = { path = "../linux", ref = "master" }
series = { dir = "patches/kernel" }
"#,
    );
}

#[test]
fn series_needs_exactly_one_form() {
    check(
        "series_branch_and_dir",
        &with_header(
            r#"[project.kernel]
repo = "repos/kernel"
upstream = { path = "../linux", ref = "master" }
series = { branch = "carried", dir = "patches/kernel" }

[project.qemu]
repo = "repos/qemu"
upstream = { path = "../qemu", ref = "master" }
series = { base = "v9.0.0" }
"#,
        ),
    );
}

#[test]
fn upstream_needs_exactly_one_source_and_a_real_url() {
    check(
        "upstream_sources",
        &with_header(
            r#"[project.kernel]
repo = "repos/kernel"
upstream = { url = "https://git.kernel.org/linux.git", path = "../linux", ref = "master" }
series = { dir = "patches/kernel" }

[project.qemu]
repo = "repos/qemu"
upstream = { ref = "master" }
series = { dir = "patches/qemu" }

[project.ovs]
repo = "repos/ovs"
upstream = { url = "github openvswitch", ref = "main" }
series = { dir = "patches/ovs" }
"#,
        ),
    );
}

#[test]
fn bad_project_names() {
    check(
        "bad_project_names",
        &with_header(
            r#"[project."open vswitch"]
repo = "repos/ovs"
upstream = { path = "../ovs", ref = "main" }
series = { dir = "patches/ovs" }

[project."kernel/vfio"]
repo = "repos/kernel"
upstream = { path = "../linux", ref = "master" }
series = { dir = "patches/kernel" }

[project.""]
repo = "repos/x"
upstream = { path = "../x", ref = "main" }
series = { dir = "patches/x" }

[project."a..b"]
repo = "repos/y"
upstream = { path = "../y", ref = "main" }
series = { dir = "patches/y" }
"#,
        ),
    );
}

#[test]
fn bad_feature_and_patch_names() {
    check(
        "bad_feature_and_patch_names",
        &with_header(
            r#"[project.nova]
repo = "repos/nova"
upstream = { path = "../nova", ref = "master" }
series = { branch = "carried" }

[feature."sr iov"]
patches = { "nova/x" = [] }

[feature.numa.patches]
"nova" = []
"nova/has space" = ["nova/../escape"]
"nova/ok" = ["nova/ok"]
"#,
        ),
    );
}

#[test]
fn unknown_projects_suggest_the_near_one() {
    check(
        "unknown_projects",
        &with_header(
            r#"[project.qemu]
repo = "repos/qemu"
upstream = { path = "../qemu", ref = "master" }
series = { branch = "carried" }

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "../libvirt", ref = "master" }
series = { dir = "patches/libvirt" }
consumes = ["qemu", "libvrt", "kernel", "libvirt"]

[feature.sriov.patches]
"libvrt/hostdev-vf" = ["qemu/vfio-sriov", "qemuu/other"]
"#,
        ),
    );
}

#[test]
fn bad_durations_and_dates() {
    check(
        "bad_durations_and_dates",
        r#"[workspace]
name = "nfv"
max-patch-age = "half a year"
test-timeout = "0s"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "../qemu", ref = "master" }
series = { branch = "carried" }
test = { command = "make check", timeout = "30 minutes please" }

[feature.sriov]
deadline = "2027-13-45"

[feature.numa]
deadline = "next spring"
"#,
    );
}

#[test]
fn bad_git_ref_names() {
    check(
        "bad_ref_names",
        &with_header(
            r#"[project.qemu]
repo = "repos/qemu"
upstream = { path = "../qemu", ref = "master..next" }
series = { branch = "nfv carried", base = "v9.0.0:README" }
"#,
        ),
    );
}

const CHAIN: &str = r#"[project.qemu]
repo = "repos/qemu"
upstream = { path = "../qemu", ref = "master" }
series = { branch = "carried" }
consumes = QEMU_CONSUMES

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "../libvirt", ref = "master" }
series = { dir = "patches/libvirt" }
consumes = ["qemu"]

[project.nova]
repo = "repos/nova"
upstream = { path = "../nova", ref = "master" }
series = { branch = "carried" }
consumes = ["libvirt"]
"#;

#[test]
fn consumes_cycle_names_every_member_in_order() {
    check(
        "consumes_cycle",
        &with_header(&CHAIN.replace("QEMU_CONSUMES", r#"["nova"]"#)),
    );
}

#[test]
fn feature_needs_cycle_names_every_member() {
    let manifest = with_header(&CHAIN.replace("QEMU_CONSUMES", "[]"))
        + r#"
[feature.sriov.patches]
"nova/sriov" = ["libvirt/hostdev"]
"libvirt/hostdev" = ["qemu/vfio"]

[feature.other.patches]
"qemu/vfio" = ["nova/sriov"]
"#;
    check("needs_cycle", &manifest);
}

#[test]
fn consumes_and_needs_together_can_make_an_order_cycle() {
    let manifest = with_header(&CHAIN.replace("QEMU_CONSUMES", "[]"))
        + r#"
[feature.backwards.patches]
"qemu/vfio" = ["nova/sriov"]
"#;
    check("order_cycle", &manifest);
}

#[test]
fn many_problems_are_reported_in_one_pass_in_file_order() {
    check(
        "many_problems",
        r#"[workspace]
name = "nfv"
colour = "blue"

[project.qemu]
repo = ""
upstream = { path = "../qemu", ref = "master" }
series = { branch = "carried" }
consumes = ["kernal"]

[project.kernel]
repo = "repos/kernel"
upstream = { url = "https://git.kernel.org/linux.git", ref = "master" }
series = { dir = "patches/kernel" }
test = { command = "", timeout = "1h" }
"#,
    );
}

#[test]
fn an_empty_file_lacks_a_workspace() {
    check("empty_file", "");
}

#[test]
fn arrays_of_tables_are_not_projects() {
    check(
        "array_of_tables",
        &with_header("[[project]]\nname = \"qemu\"\n"),
    );
}

/// A duration no calendar holds is refused at its line, so that no later command (`debt`,
/// the dashboard) computes a date from it.
#[test]
fn durations_longer_than_a_century_are_refused_where_they_are_written() {
    for (key, value, line) in [
        ("max-patch-age", "7304485d", 3),
        ("max-patch-age", "200000000h", 3),
        ("test-timeout", "36501days", 3),
    ] {
        let workspace = TestWorkspace::new(&format!(
            "[workspace]\nname = \"nfv\"\n{key} = \"{value}\"\n"
        ));
        let output = workspace.carry(&["validate"]);
        assert_eq!(output.code, 1, "{key} = {value}: {}", output.stderr);
        assert!(
            output
                .stderr
                .contains(&format!("'{key}' = \"{value}\" is longer than 100 years")),
            "{}",
            output.stderr
        );
        assert!(
            output.stderr.contains(&format!("carry.toml:{line}:")),
            "{}",
            output.stderr
        );
        let debt = workspace.carry(&["debt"]);
        assert_eq!(debt.code, 1, "debt refuses it too: {}", debt.stderr);
        assert!(!debt.stderr.contains("panicked"), "{}", debt.stderr);
    }
}

#[test]
fn a_test_log_limit_is_a_size_within_bounds() {
    for (value, expected) in [
        ("lots", "'test-log-limit' = \"lots\" is not a size"),
        (
            "1KiB",
            "'test-log-limit' = \"1KiB\" must be between 64KiB and 16GiB",
        ),
        (
            "99GiB",
            "'test-log-limit' = \"99GiB\" must be between 64KiB and 16GiB",
        ),
        ("99999999999999999999", "is not a size"),
    ] {
        let workspace = TestWorkspace::new(&format!(
            "[workspace]\nname = \"nfv\"\ntest-log-limit = \"{value}\"\n"
        ));
        let output = workspace.carry(&["validate"]);
        assert_eq!(output.code, 1, "{value}: {}", output.stderr);
        assert!(output.stderr.contains(expected), "{}", output.stderr);
        assert!(output.stderr.contains("carry.toml:3:"), "{}", output.stderr);
    }
    let fine = TestWorkspace::new("[workspace]\nname = \"nfv\"\ntest-log-limit = \"10MiB\"\n");
    let output = fine.carry(&["validate"]);
    assert!(
        !output.stderr.contains("test-log-limit"),
        "{}",
        output.stderr
    );
}
