//! `carry impact P --furthest`: the newest upstream point the series survives, found by
//! bisection over trial rebases, checked against a linear scan with git's own merge.

use std::process::Command;

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::json;

/// A workspace of one project whose upstream has `moves` commits after the base; the one at
/// `breaking` (1-based) rewrites the line the carried patch changes. Tags `v1`... on every
/// fourth commit.
fn workspace(
    dir: &std::path::Path,
    moves: usize,
    breaking: usize,
) -> (std::path::PathBuf, Vec<String>) {
    let root = dir.join("ws");
    let upstream = TestRepo::init(root.join("upstream"));
    upstream.commit_file("lib.c", "int a = 1;\nint b = 2;\nint c = 3;\n", "import");
    let cloned = Command::new("git")
        .args(["clone", "-q"])
        .arg(&upstream.path)
        .arg(root.join("repo"))
        .output()
        .expect("clone");
    assert!(cloned.status.success());
    let repo = TestRepo::open(&root.join("repo"));
    repo.git(&["checkout", "-q", "-b", "carried"]);
    repo.commit_file(
        "lib.c",
        "int a = 1;\nint b = 20;\nint c = 3;\n",
        "carry: b is 20",
    );
    let mut commits = Vec::new();
    for n in 1..=moves {
        if n == breaking {
            let text = std::fs::read_to_string(upstream.path.join("lib.c")).expect("lib.c");
            upstream.commit_file(
                "lib.c",
                &text.replace("int b = 2;", "long b = 2;"),
                "upstream: b is long",
            );
        } else {
            upstream.commit_file(&format!("f{n}.c"), "x\n", &format!("upstream {n}"));
        }
        if n % 4 == 0 {
            upstream.git(&["tag", &format!("v{}", n / 4)]);
        }
        commits.push(upstream.head());
    }
    std::fs::write(
        root.join("carry.toml"),
        "[workspace]\nname = \"far\"\n\n[project.app]\nrepo = \"repo\"\nupstream = { path = \"upstream\", ref = \"main\" }\nseries = { branch = \"carried\", base = \"main\" }\n",
    )
    .expect("manifest");
    repo.git(&["branch", "-f", "main", "origin/main"]);
    assert_eq!(carry_in(&root, &["fetch"]).code, 0);
    (root, commits)
}

#[test]
fn furthest_is_the_last_point_before_the_first_break_in_few_trials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, commits) = workspace(dir.path(), 40, 27);
    let out = carry_in(&root, &["impact", "app", "--furthest", "--json"]);
    assert_eq!(out.code, 3, "something breaks: {}", out.stderr);
    let answer = json(&out.stdout);
    assert_eq!(answer["schema"], "carry.furthest/v1");
    assert_eq!(
        answer["furthest"]["commit"],
        commits[25].as_str(),
        "{answer:#}"
    );
    assert_eq!(answer["furthest"]["tag"], "v6");
    assert_eq!(answer["next"]["commit"], commits[26].as_str());
    assert_eq!(answer["breaks"][0]["patch"], "app/carry-b-is-20");
    assert_eq!(answer["breaks"][0]["culprit"], commits[26].as_str());
    let trials = answer["trials"].as_u64().expect("trials");
    // log2(40) rounds up to 6: at most 6 + 2 trials.
    assert!(trials <= 8, "{trials} trials");

    // The linear scan, with git's own merge as the judge: the same answer.
    let repo = TestRepo::open(&root.join("repo"));
    let patch = repo.git(&["rev-parse", "carried"]);
    let last_good = commits
        .iter()
        .take_while(|commit| {
            repo.git_output(&["merge-tree", "--write-tree", commit.as_str(), &patch])
                .status
                .success()
        })
        .last()
        .expect("the first points are good");
    assert_eq!(answer["furthest"]["commit"], last_good.as_str());

    // Among tags: v6 (commit 24) is the last good one, v7 (commit 28) breaks.
    let tagged = json(
        &carry_in(
            &root,
            &["impact", "app", "--furthest", "--tags", "v*", "--json"],
        )
        .stdout,
    );
    assert_eq!(tagged["furthest"]["tag"], "v6", "{tagged:#}");
    assert_eq!(tagged["next"]["tag"], "v7");
    assert_eq!(tagged["points"], 10);

    // Nothing was written: no new refs, no new objects on disk.
    let refs = repo.git(&["for-each-ref", "refs/carry/candidate"]);
    assert!(refs.is_empty(), "{refs}");
}

#[test]
fn furthest_is_the_tip_when_nothing_breaks_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, commits) = workspace(dir.path(), 6, 0);
    let out = carry_in(&root, &["impact", "app", "--furthest", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let answer = json(&out.stdout);
    assert_eq!(answer["furthest"]["commit"], commits[5].as_str());
    assert!(answer["next"].is_null());
    assert_eq!(answer["trials"], 1);

    let none = carry_in(
        &root,
        &["impact", "app", "--furthest", "--tags", "release-*"],
    );
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("matches 'release-*'"),
        "{}",
        none.stderr
    );
    let without = carry_in(&root, &["impact", "app", "--tags", "v*"]);
    assert_eq!(without.code, 2, "--tags needs --furthest");
}

/// Several moves at once, in graph order, with what they block together; bad input refused.
#[test]
fn several_moves_are_tried_together() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = crate::support::demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["fetch"]).code, 0);
    let out = carry_in(
        &demo,
        &[
            "impact",
            "--to",
            "libvirt=main",
            "--to",
            "qemu=main",
            "--json",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    let answer = json(&out.stdout);
    assert_eq!(answer["schema"], "carry.impact-many/v1");
    assert_eq!(
        answer["moves"][0]["project"], "qemu",
        "graph order: {answer:#}"
    );
    assert_eq!(answer["moves"][1]["project"], "libvirt");
    assert_eq!(answer["blocked"][0]["id"], "nova/sriov-vf-pci");
    assert_eq!(answer["features_at_risk"], serde_json::json!(["sriov"]));
    assert_eq!(
        answer["retest"],
        serde_json::json!(["qemu", "libvirt", "nova"])
    );
    let twice = carry_in(&demo, &["impact", "--to", "qemu=main", "--to", "qemu=main"]);
    assert_eq!(twice.code, 2);
    assert!(twice.stderr.contains("moved twice"), "{}", twice.stderr);
    let unknown = carry_in(
        &demo,
        &["impact", "--to", "qemu=v99", "--to", "libvirt=main"],
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("'v99' is not a ref"),
        "{}",
        unknown.stderr
    );
    let mixed = carry_in(&demo, &["impact", "qemu", "--to", "libvirt=main"]);
    assert_eq!(mixed.code, 2);
    // Nothing was written: no candidate refs.
    let refs =
        TestRepo::open(&demo.join("repos/libvirt")).git(&["for-each-ref", "refs/carry/candidate"]);
    assert!(refs.is_empty(), "{refs}");
}

#[test]
fn an_upstream_that_has_not_moved_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, _) = workspace(dir.path(), 0, 0);
    let out = carry_in(&root, &["impact", "app", "--furthest"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("has not moved past its series' base"),
        "{}",
        out.stderr
    );
}
