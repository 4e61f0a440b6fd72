//! `carry init`: from a checkout of a carried branch to a first `carry run --dry-run`.

use crate::support::TestRepo;
use crate::support::carry_in;

#[test]
fn init_finds_upstream_base_and_carried_commits_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let upstream = TestRepo::init(root.join("upstream/libvirt"));
    upstream.commit_file("a.c", "a\n", "import");
    upstream.commit_file("a.c", "a\nb\n", "more");
    // A clone whose branch tracks origin/main, two commits carried.
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&upstream.path)
        .arg(root.join("repos/libvirt"))
        .output()
        .expect("clone");
    assert!(cloned.status.success());
    let libvirt = TestRepo::open(&root.join("repos/libvirt"));
    libvirt.git(&[
        "checkout",
        "-q",
        "-b",
        "nfv/carried",
        "--track",
        "origin/main",
    ]);
    libvirt.commit_file("hostdev.c", "vf\n", "hostdev: VF token");
    libvirt.commit_file("docs.txt", "vf\n", "docs: VF token");
    // A second clone whose branch tracks nothing: origin's default branch is upstream.
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&upstream.path)
        .arg(root.join("repos/qemu"))
        .output()
        .expect("clone");
    assert!(cloned.status.success());
    let qemu = TestRepo::open(&root.join("repos/qemu"));
    qemu.git(&["checkout", "-q", "-b", "carried", "origin/main"]);
    qemu.git(&["branch", "--unset-upstream"]);
    qemu.commit_file("vfio.c", "token\n", "vfio: token");

    let out = carry_in(
        root,
        &["init", "--repo", "repos/libvirt", "--repo", "repos/qemu"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("libvirt: repos/libvirt carries 2 commits on branch nfv/carried"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("what nfv/carried tracks (origin/main)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("qemu: repos/qemu carries 1 commit"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("origin's default branch (origin/main)"),
        "{}",
        out.stdout
    );
    let manifest = std::fs::read_to_string(root.join("carry.toml")).expect("carry.toml");
    assert!(
        manifest.contains("upstream = { path = \"upstream/libvirt\", ref = \"main\" }"),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("base = \"{}\"", upstream.head())),
        "{manifest}"
    );
    assert_eq!(carry_in(root, &["validate"]).code, 0);
    let dry = carry_in(root, &["run", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("libvirt (2 patches)"), "{}", dry.stdout);

    let again = carry_in(root, &["init", "--repo", "repos/libvirt"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("carry.toml")).expect("kept"),
        manifest
    );

    // A detached checkout is refused, naming it.
    let other = tempfile::tempdir().expect("temp dir");
    let detached = TestRepo::init(other.path().join("r"));
    detached.commit_file("a", "a\n", "a");
    detached.git(&["checkout", "-q", "--detach"]);
    let refused = carry_in(other.path(), &["init", "--repo", "r"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("HEAD is detached"),
        "{}",
        refused.stderr
    );
    assert!(!other.path().join("carry.toml").exists());
}
