//! `carry validate` reads every series that exists, in real repositories built in code.

use crate::support::TestRepo;
use crate::support::TestWorkspace;
use crate::support::normalize;

/// An upstream with two releases, and a project repository cloned from it.
///
/// ```text
/// upstream:  A (v1.0) --- B (v1.1)            main
/// project:   A --- P1 --- P2 --- P3            carried
/// ```
fn upstream_and_project(workspace: &TestWorkspace) -> (TestRepo, TestRepo) {
    let upstream = workspace.repo("mirrors/qemu");
    upstream.commit_file("hw/vfio/pci.c", "int vfio;\n", "initial import");
    upstream.git(&["tag", "v1.0"]);
    upstream.commit_file("hw/vfio/pci.c", "int vfio;\nint more;\n", "vfio: more");
    upstream.git(&["tag", "v1.1"]);
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::init(workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried", "v1.0"]);
    project.commit_file(
        "hw/vfio/sriov.c",
        "int sriov;\n",
        "vfio: accept a VF token for SR-IOV VFs",
    );
    project.commit_file("docs/sriov.rst", "SR-IOV\n", "docs: describe SR-IOV");
    project.commit_file(
        "hw/vfio/numa.c",
        "int numa;\n",
        "vfio: numa placement\n\nCarry-Patch: vfio-numa\nSigned-off-by: Ada <ada@example.org>",
    );
    (upstream, project)
}

const QEMU: &str = r#"[workspace]
name = "test"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { branch = "carried", base = "v1.0" }
"#;

#[test]
fn a_local_upstream_validates_before_the_first_fetch() {
    let workspace = TestWorkspace::new(&format!(
        "{QEMU}\n[feature.sriov.patches]\n\"qemu/vfio-accept-a-VF-token-for-SR-IOV-VFs\" = [\"qemu/vfio-numa\"]\n"
    ));
    upstream_and_project(&workspace);
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        output.stdout,
        "ok: workspace 'test': 1 projects, 1 features, 3 patches in 1 series read\n"
    );
    let graph = workspace.carry(&["graph", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&graph.stdout).expect("JSON");
    assert_eq!(
        json["projects"][0]["patches"],
        serde_json::json!([
            "qemu/vfio-accept-a-VF-token-for-SR-IOV-VFs",
            "qemu/docs-describe-SR-IOV",
            "qemu/vfio-numa"
        ])
    );
}

#[test]
fn branch_slugs_match_git_format_patch_file_names() {
    let workspace = TestWorkspace::new(QEMU);
    let (_, project) = upstream_and_project(&workspace);
    for subject in [
        "net: fix  [RFC]  the ... thing!!",
        "a very long subject line that goes on and on well past what format-patch keeps in a file name",
        "Revert \"vfio: x\"",
        "__init__.py: trailing dots...",
    ] {
        project.commit_file(&format!("f{}.txt", subject.len()), subject, subject);
    }
    let out_dir = workspace.path().join("fp");
    project.git(&[
        "format-patch",
        "-q",
        "-o",
        &out_dir.display().to_string(),
        "v1.0..carried",
    ]);
    let mut git_names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("format-patch output")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    git_names.sort();
    let git_names: Vec<String> = git_names
        .iter()
        .map(|file| file[5..].trim_end_matches(".patch").to_owned())
        .collect();

    let graph = workspace.carry(&["graph", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&graph.stdout).expect("JSON");
    let carry_names: Vec<String> = json["projects"][0]["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .map(|id| {
            id.as_str()
                .expect("string")
                .trim_start_matches("qemu/")
                .to_owned()
        })
        .collect();
    // The third patch carries a Carry-Patch trailer, which wins over the slug.
    let mut expected = git_names.clone();
    expected[2] = "vfio-numa".to_owned();
    assert_eq!(carry_names, expected);
}

#[test]
fn series_problems_are_reported_where_they_are() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "test"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { branch = "carried", base = "v0.9" }

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { dir = "patches/libvirt" }
consumes = ["qemu"]

[project.nova]
repo = "repos/qemu"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { branch = "no-such-branch" }

[feature.sriov.patches]
"libvirt/0002-hostdev-vf" = ["qemu/vfio-numa"]
"libvirt/0001-hostdev-vff" = []
"#,
    );
    upstream_and_project(&workspace);
    workspace.write(
        "patches/libvirt/series",
        "# carried on libvirt\n0001-hostdev-vf.patch\n\n0002-missing.patch\n0003-x.patch -q\n",
    );
    workspace.write("patches/libvirt/0001-hostdev-vf.patch", "From x\n");
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    insta::assert_snapshot!(normalize(&output.stderr, workspace.path()));
}

#[test]
fn a_url_upstream_not_fetched_yet_is_a_note() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "test"

[project.qemu]
repo = "repos/qemu"
upstream = { url = "https://gitlab.com/qemu-project/qemu.git", ref = "master" }
series = { branch = "carried", base = "v1.0" }
"#,
    );
    upstream_and_project(&workspace);
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stderr.contains(
            "note: upstream 'https://gitlab.com/qemu-project/qemu.git' (master) is not fetched yet"
        ),
        "{}",
        output.stderr
    );
    let quiet = workspace.carry(&["-q", "validate"]);
    assert_eq!(quiet.stderr, "");
}

#[test]
fn a_merge_inside_a_series_is_named() {
    let workspace = TestWorkspace::new(QEMU);
    let (_, project) = upstream_and_project(&workspace);
    project.git(&["checkout", "-q", "-b", "side", "HEAD~1"]);
    project.commit_file("side.txt", "side\n", "side work");
    project.git(&["checkout", "-q", "carried"]);
    project.git(&["merge", "-q", "--no-ff", "-m", "Merge side work", "side"]);
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("('Merge side work'); a series must be a line of commits"),
        "{}",
        output.stderr
    );
}

#[test]
fn repeated_subjects_are_numbered_and_a_bare_reference_is_ambiguous() {
    let workspace = TestWorkspace::new(&format!(
        "{QEMU}\n[feature.f.patches]\n\"qemu/fix-leak\" = []\n\"qemu/fix-leak-2\" = []\n"
    ));
    let (_, project) = upstream_and_project(&workspace);
    project.commit_file("a.c", "a\n", "fix leak");
    project.commit_file("b.c", "b\n", "fix leak");
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("error: patch id 'qemu/fix-leak' is ambiguous: 2 patches of qemu are named 'fix-leak' (fix-leak, fix-leak-2)"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("'qemu/fix-leak-2'"),
        "{}",
        output.stderr
    );
}

#[test]
fn default_base_is_the_merge_base_with_upstream() {
    let workspace = TestWorkspace::new(&QEMU.replace(", base = \"v1.0\"", ""));
    upstream_and_project(&workspace);
    let output = workspace.carry(&["graph", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(
        json["projects"][0]["patches"].as_array().map(Vec::len),
        Some(3)
    );
}

/// Nothing of a series may lead out of the workspace: a `repo` or `series.dir` through `..`,
/// a patch file that is a symlink to a file elsewhere, a `..` component in a series entry.
/// A file name that merely holds `..` (`git format-patch` makes `…-openssl-3..patch`) is fine.
#[test]
fn series_paths_never_lead_out_of_the_workspace() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        outside.path().join("secret.patch"),
        "Subject: x\n\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n",
    )
    .expect("write");
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "escape"

[project.a]
repo = "../elsewhere"
upstream = { path = "mirrors/a", ref = "main" }
series = { dir = "patches/a" }

[project.b]
repo = "repos/b"
upstream = { path = "mirrors/b", ref = "main" }
series = { dir = "patches/b" }
"#,
    );
    workspace
        .repo("mirrors/a")
        .commit_file("f", "a\n", "import");
    workspace
        .repo("mirrors/b")
        .commit_file("f", "a\n", "import");
    workspace.clone_repo("mirrors/b", "repos/b");
    workspace.write(
        "patches/b/0001-fine-with-openssl-3..patch",
        "Subject: fine\n\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n",
    );
    std::os::unix::fs::symlink(
        outside.path().join("secret.patch"),
        workspace.path().join("patches/b/0002-link.patch"),
    )
    .expect("symlink");
    workspace.write(
        "patches/b/series",
        "0001-fine-with-openssl-3..patch\n0002-link.patch\n../../carry.toml\n",
    );
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    let stderr = normalize(&output.stderr, workspace.path());
    assert!(
        stderr.contains("'repo' = \"../elsewhere\" leaves the workspace"),
        "{stderr}"
    );
    // With the manifest mended, the series itself is read.
    let manifest = std::fs::read_to_string(workspace.path().join("carry.toml")).expect("read");
    workspace.write("carry.toml", &manifest.replace("../elsewhere", "repos/a"));
    workspace.clone_repo("mirrors/a", "repos/a");
    workspace.write("patches/a/series", "");
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    let stderr = normalize(&output.stderr, workspace.path());
    assert!(stderr.contains("patches/b/series:2"), "{stderr}");
    assert!(stderr.contains("leads outside the workspace"), "{stderr}");
    assert!(stderr.contains("patches/b/series:3"), "{stderr}");
    assert!(!stderr.contains("series:1"), "{stderr}");
}

#[test]
fn a_patch_file_listed_twice_is_refused_where_it_is_listed_again() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "test"

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { dir = "patches/libvirt" }
"#,
    );
    upstream_and_project(&workspace);
    workspace.write(
        "patches/libvirt/series",
        "0001-a.patch\n0002-b.patch\n0001-a.patch -p1\n",
    );
    workspace.write("patches/libvirt/0001-a.patch", "From x\n");
    workspace.write("patches/libvirt/0002-b.patch", "From x\n");
    let output = workspace.carry(&["validate"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains(
            "patch file '0001-a.patch' is listed twice (first at patches/libvirt/series:1)"
        ),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("patches/libvirt/series:3:"),
        "{}",
        output.stderr
    );
}
