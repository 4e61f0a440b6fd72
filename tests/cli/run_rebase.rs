//! `carry run --no-test` end to end on real repositories, with git as the oracle: every
//! applied patch's tree equals `git merge-tree --write-tree`'s, landed verdicts by patch-id
//! equal `git cherry`'s, and conflicts are where git conflicts.

use std::path::Path;
use std::path::PathBuf;

use crate::support::TestRepo;
use crate::support::TestWorkspace;

/// ```text
/// upstream qemu:  B (v1) --- U1 (a.c top) --- U2 (= P2) --- U3 (b.c line 2) --- U4 (d.c)   main
/// carried:        B --- P1 (a.c bottom) --- P2 (c.c) --- P3 (b.c line 2) --- P4 (b.c line 5)
///                   --- P5 (e.c) --- P6 (Carry-Requires: P3, f.c)
/// ```
/// P1 and P5 apply, P2 landed (patch-id), P3 conflicts (U3 changed its line), P4 is blocked
/// (same path), P6 is blocked (Carry-Requires).
fn scenario(workspace: &TestWorkspace) -> (TestRepo, TestRepo) {
    let upstream = workspace.repo("mirrors/qemu");
    let lines = |n: usize, tag: &str| {
        (1..=n).fold(String::new(), |mut text, i| {
            text.push_str(&format!("{tag} line {i}\n"));
            text
        })
    };
    upstream.write("a.c", &lines(20, "a"));
    upstream.write("b.c", &lines(10, "b"));
    upstream.write("c.c", &lines(5, "c"));
    upstream.commit_file("d.c", "d\n", "initial import");
    upstream.git(&["tag", "v1"]);
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::init(workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried", "v1"]);
    project.commit_file(
        "a.c",
        &lines(20, "a").replace("a line 19\n", "a line 19 patched\n"),
        "a: patch the bottom",
    );
    project.commit_file(
        "c.c",
        &lines(5, "c").replace("c line 3\n", "c line 3 fixed\n"),
        "c: fix line three\n\nChange-Id: I0000000000000000000000000000000000000002",
    );
    project.commit_file(
        "b.c",
        &lines(10, "b").replace("b line 2\n", "b line 2 from patch\n"),
        "b: change line two",
    );
    project.commit_file(
        "b.c",
        &lines(10, "b")
            .replace("b line 2\n", "b line 2 from patch\n")
            .replace("b line 5\n", "b line 5 from patch\n"),
        "b: change line five",
    );
    project.commit_file("e.c", "e\n", "e: add");
    project.commit_file(
        "f.c",
        "f\n",
        "f: needs line two\n\nCarry-Requires: b-change-line-two",
    );

    upstream.commit_file(
        "a.c",
        &lines(20, "a").replace("a line 1\n", "a line 1 upstream\n"),
        "a: upstream top",
    );
    upstream.commit_file(
        "c.c",
        &lines(5, "c").replace("c line 3\n", "c line 3 fixed\n"),
        "c: fix line three (upstream)",
    );
    upstream.commit_file(
        "b.c",
        &lines(10, "b").replace("b line 2\n", "b line 2 upstream\n"),
        "b: upstream line two",
    );
    upstream.commit_file("d.c", "d2\n", "d: more");
    (upstream, project)
}

const MANIFEST: &str = r#"[workspace]
name = "test"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { branch = "carried", base = "v1" }
"#;

fn run_json(workspace: &TestWorkspace) -> (i32, serde_json::Value, String) {
    let output = workspace.carry(&["run", "--no-test", "--json"]);
    let json = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", output.stdout, output.stderr));
    (output.code, json, output.stderr)
}

fn outcomes(json: &serde_json::Value, project: usize) -> Vec<(String, String)> {
    json["projects"][project]["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_owned(),
                p["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_series_rebases_with_landed_conflict_and_blocked_patches() {
    let workspace = TestWorkspace::new(MANIFEST);
    let (_upstream, project) = scenario(&workspace);
    let branch_before = project.git(&["rev-parse", "carried"]);
    let status_before = project.git(&["status", "--porcelain"]);

    let (code, json, stderr) = run_json(&workspace);
    assert_eq!(code, 3, "attention: {stderr}");
    assert_eq!(json["schema"], "carry.run/v1");
    assert_eq!(json["status"], "attention");
    assert_eq!(
        outcomes(&json, 0),
        [
            ("qemu/a-patch-the-bottom", "applied"),
            ("qemu/c-fix-line-three", "landed"),
            ("qemu/b-change-line-two", "conflict"),
            ("qemu/b-change-line-five", "blocked"),
            ("qemu/e-add", "applied"),
            ("qemu/f-needs-line-two", "blocked"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let patches = &json["projects"][0]["patches"];
    assert_eq!(patches[1]["by"], "patch-id");
    let upstream_c = project.git(&["rev-parse", "refs/carry/upstream/heads/main~2"]);
    assert_eq!(patches[1]["upstream_commit"], upstream_c);
    assert_eq!(patches[2]["paths"], serde_json::json!(["b.c"]));
    let culprit = project.git(&["rev-parse", "refs/carry/upstream/heads/main~1"]);
    assert_eq!(
        patches[2]["first_bad"], culprit,
        "U3 is the first commit the patch stops applying at"
    );
    assert_eq!(patches[2]["upstream_commits"], serde_json::json!([culprit]));
    assert_eq!(
        patches[2]["conflicts"][0]["hunks"][0]["upstream"],
        serde_json::json!(["b line 2 upstream"])
    );
    assert_eq!(
        patches[2]["conflicts"][0]["hunks"][0]["patch"],
        serde_json::json!(["b line 2 from patch"])
    );
    assert_eq!(
        patches[3]["blocked_by"],
        serde_json::json!(["qemu/b-change-line-two"])
    );
    assert_eq!(
        patches[5]["blocked_by"],
        serde_json::json!(["qemu/b-change-line-two"])
    );

    // Nothing of the user's moved.
    assert_eq!(project.git(&["rev-parse", "carried"]), branch_before);
    assert_eq!(project.git(&["status", "--porcelain"]), status_before);
    // The candidate is upstream plus the applied patches.
    let candidate = project.git(&["rev-parse", "refs/carry/candidate/qemu"]);
    assert_eq!(json["projects"][0]["result"], candidate);
    assert_eq!(
        project.git(&[
            "rev-list",
            "--count",
            "refs/carry/upstream/heads/main..refs/carry/candidate/qemu"
        ]),
        "2"
    );

    check_against_git(&project.path, &json);
    // Every object the candidate needs is really there, whole, and in a pack rather than
    // loose files.
    let fsck = project.git_output(&["fsck", "--full", "--strict", "--no-progress"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let git_dir = PathBuf::from(project.git(&["rev-parse", "--absolute-git-dir"]));
    let loose = git_dir
        .join("objects")
        .join(&candidate[..2])
        .join(&candidate[2..]);
    assert!(
        !loose.exists(),
        "the candidate was written as a loose object"
    );
}

/// For every applied patch, git's own merge gives the same tree; for every conflict, git
/// conflicts too; landed-by-patch-id equals `git cherry`.
fn check_against_git(repo: &Path, json: &serde_json::Value) {
    let git = TestRepo::open(repo);
    let onto = git.git(&["rev-parse", "refs/carry/upstream/heads/main"]);
    let mut previous = onto.clone();
    for patch in json["projects"][0]["patches"].as_array().expect("patches") {
        let from = patch["from"].as_str().expect("from");
        match patch["outcome"].as_str() {
            Some("applied") => {
                let to = patch["to"].as_str().expect("to");
                let out = git.git_output(&[
                    "merge-tree",
                    "--write-tree",
                    &format!("--merge-base={from}^"),
                    &previous,
                    from,
                ]);
                assert!(out.status.success(), "git merges {from} cleanly too");
                let git_tree = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                assert_eq!(
                    git.git(&["rev-parse", &format!("{to}^{{tree}}")]),
                    git_tree,
                    "tree of {from}"
                );
                to.clone_into(&mut previous);
            }
            Some("conflict") => {
                let out = git.git_output(&[
                    "merge-tree",
                    "--write-tree",
                    &format!("--merge-base={from}^"),
                    &previous,
                    from,
                ]);
                assert_eq!(out.status.code(), Some(1), "git conflicts on {from} too");
            }
            _ => {}
        }
    }
    let cherry = git.git(&["cherry", &onto, "carried", "v1"]);
    let git_landed: Vec<&str> = cherry
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    let carry_landed: Vec<&str> = json["projects"][0]["patches"]
        .as_array()
        .expect("patches")
        .iter()
        .filter(|p| p["by"] == "patch-id")
        .filter_map(|p| p["from"].as_str())
        .collect();
    assert_eq!(carry_landed, git_landed);
}

#[test]
fn a_second_run_with_nothing_moved_is_unchanged_and_clean() {
    let workspace = TestWorkspace::new(&MANIFEST.replace(", base = \"v1\"", ""));
    let upstream = workspace.repo("mirrors/qemu");
    upstream.commit_file("a.c", "a\n", "initial");
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::open(&workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried"]);
    project.commit_file("b.c", "b\n", "b: add");
    let output = workspace.carry(&["run", "--no-test"]);
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("unchanged"), "{}", output.stdout);
    let all = workspace.carry(&["run", "--no-test", "--all", "--json"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let json: serde_json::Value = serde_json::from_str(&all.stdout).expect("JSON");
    // Re-applying onto the same base gives back the very same commit.
    assert_eq!(
        json["projects"][0]["patches"][0]["to"],
        json["projects"][0]["patches"][0]["from"]
    );
}

/// Three projects tied by a feature, two series forms, one upstream fetched by URL:
///
/// ```text
/// qemu     (branch, file:// URL)  vfio-sriov conflicts with upstream
/// libvirt  (patch directory)      0001-hostdev-vf needs qemu/vfio-sriov   -> blocked
///                                 0002-unrelated applies
/// nova     (branch)               sriov-vf-pci needs libvirt/0001-hostdev-vf -> blocked
/// ```
#[test]
fn a_conflict_blocks_the_patches_that_need_it_across_projects() {
    let manifest = r#"[workspace]
name = "nfv"

[project.qemu]
repo = "repos/qemu"
upstream = { url = "file://UPSTREAM/mirrors/qemu", ref = "main" }
series = { branch = "carried", base = "v1" }

[project.libvirt]
repo = "repos/libvirt"
upstream = { path = "mirrors/libvirt", ref = "main" }
series = { dir = "patches/libvirt", base = "v1" }
consumes = ["qemu"]

[project.nova]
repo = "repos/nova"
upstream = { path = "mirrors/nova", ref = "main" }
series = { branch = "carried" }
consumes = ["libvirt"]

[feature.sriov]
[feature.sriov.patches]
"nova/sriov-vf-pci" = ["libvirt/0001-hostdev-vf"]
"libvirt/0001-hostdev-vf" = ["qemu/vfio-sriov"]
"#;
    let workspace = TestWorkspace::new("");
    std::fs::write(
        workspace.path().join("carry.toml"),
        manifest.replace("UPSTREAM", &workspace.path().display().to_string()),
    )
    .expect("manifest");

    // qemu: a conflict on vfio.c.
    let qemu = workspace.repo("mirrors/qemu");
    qemu.commit_file("vfio.c", "a\nb\nc\n", "import");
    qemu.git(&["tag", "v1"]);
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let qemu_project = TestRepo::open(&workspace.path().join("repos/qemu"));
    qemu_project.git(&["checkout", "-q", "-b", "carried", "v1"]);
    qemu_project.commit_file(
        "vfio.c",
        "a\nb sriov\nc\n",
        "vfio sriov\n\nCarry-Patch: vfio-sriov",
    );
    qemu.commit_file("vfio.c", "a\nb upstream\nc\n", "vfio: rework b");
    qemu.git(&["tag", "v2"]);

    // libvirt: a patch directory made by format-patch.
    let libvirt = workspace.repo("mirrors/libvirt");
    libvirt.commit_file("hostdev.c", "h\n", "import");
    libvirt.git(&["tag", "v1"]);
    let scratch = TestRepo::init(workspace.path().join("scratch"));
    scratch.git(&[
        "pull",
        "-q",
        &workspace
            .path()
            .join("mirrors/libvirt")
            .display()
            .to_string(),
        "main",
    ]);
    scratch.commit_file("hostdev.c", "h\nvf\n", "hostdev: vf");
    scratch.commit_file("other.c", "o\n", "unrelated");
    let patches = workspace.path().join("patches/libvirt");
    scratch.git(&[
        "format-patch",
        "-q",
        "-o",
        &patches.display().to_string(),
        "HEAD~2",
    ]);
    std::fs::write(
        patches.join("series"),
        "0001-hostdev-vf.patch\n0002-unrelated.patch\n",
    )
    .expect("series");
    libvirt.commit_file("README", "moved\n", "upstream moves");
    workspace.clone_repo("mirrors/libvirt", "repos/libvirt");

    // nova: a branch with one patch.
    let nova = workspace.repo("mirrors/nova");
    nova.commit_file("driver.py", "d\n", "import");
    workspace.clone_repo("mirrors/nova", "repos/nova");
    let nova_project = TestRepo::open(&workspace.path().join("repos/nova"));
    nova_project.git(&["checkout", "-q", "-b", "carried"]);
    nova_project.commit_file("driver.py", "d\nsriov\n", "sriov vf pci");
    nova.commit_file("other.py", "x\n", "upstream moves");

    let series_before = std::fs::read_dir(&patches).expect("dir").count();
    let (code, json, stderr) = run_json(&workspace);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(
        json["order"],
        serde_json::json!(["qemu", "libvirt", "nova"])
    );
    assert_eq!(
        outcomes(&json, 0),
        [("qemu/vfio-sriov".to_owned(), "conflict".to_owned())]
    );
    assert_eq!(
        outcomes(&json, 1),
        [
            ("libvirt/0001-hostdev-vf".to_owned(), "blocked".to_owned()),
            ("libvirt/0002-unrelated".to_owned(), "applied".to_owned())
        ]
    );
    assert_eq!(
        json["projects"][1]["patches"][0]["blocked_by"],
        serde_json::json!(["qemu/vfio-sriov"])
    );
    assert_eq!(
        outcomes(&json, 2),
        [("nova/sriov-vf-pci".to_owned(), "blocked".to_owned())]
    );
    assert_eq!(
        json["projects"][2]["patches"][0]["blocked_by"],
        serde_json::json!(["libvirt/0001-hostdev-vf"])
    );
    assert_eq!(
        json["features"],
        serde_json::json!([{"name": "sriov", "status": "blocked", "blocked_by": ["qemu/vfio-sriov"]}])
    );
    // The URL upstream was fetched with its tags, into carry's own namespace.
    let tags = qemu_project.git(&[
        "for-each-ref",
        "--format=%(refname)",
        "refs/carry/upstream/tags",
    ]);
    assert_eq!(
        tags,
        "refs/carry/upstream/tags/v1\nrefs/carry/upstream/tags/v2"
    );
    assert!(
        qemu_project.git(&["tag", "-l"]).lines().all(|t| t == "v1"),
        "the user's tags are untouched"
    );
    // The patch directory is untouched, and the applied patch keeps its author and message.
    assert_eq!(
        std::fs::read_dir(&patches).expect("dir").count(),
        series_before
    );
    let libvirt_project = TestRepo::open(&workspace.path().join("repos/libvirt"));
    let applied = json["projects"][1]["patches"][1]["to"]
        .as_str()
        .expect("to");
    assert_eq!(
        libvirt_project.git(&["show", "-s", "--format=%an <%ae>%n%s", applied]),
        "Ada Carrier <ada@example.org>\nunrelated"
    );

    // The text report names the conflict, its path and culprit, and the feature.
    let text = workspace.carry(&["run", "--no-test", "--offline"]);
    assert_eq!(text.code, 3);
    assert!(
        text.stdout.contains("conflict qemu/vfio-sriov: vfio sriov"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("  paths: vfio.c"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("feature sriov: blocked by qemu/vfio-sriov"),
        "{}",
        text.stdout
    );
}

/// A layer's patch directory as teams carry it: a plain diff whose hunk sits at an offset, a
/// patch that does not apply to its own base, one that touches the same file after it, one
/// that touches another file, and a `git format-patch` name holding `..`.
///
/// ```text
/// 0001-offset.patch          a.c, written for a file 3 lines shorter    -> applied
/// 0002-stale.patch           a.c, context the base does not have        -> error (file:line)
/// 0003-after-stale.patch     a.c                                        -> blocked by 0002
/// 0004-other.patch           b.c                                        -> applied
/// 0005-with-openssl-3..patch c.c                                        -> applied
/// ```
#[test]
fn a_patch_that_does_not_apply_is_that_patchs_error_not_the_projects() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "layer"

[project.busybox]
repo = "repos/busybox"
upstream = { path = "mirrors/busybox", ref = "main" }
series = { dir = "patches", base = "v1" }
"#,
    );
    let upstream = workspace.repo("mirrors/busybox");
    let numbered = |n: usize| {
        (1..=n)
            .flat_map(|i| ["a ".to_owned(), i.to_string(), "\n".to_owned()])
            .collect::<String>()
    };
    upstream.write("a.c", &format!("top 1\ntop 2\ntop 3\n{}", numbered(10)));
    upstream.write("b.c", "b\n");
    upstream.commit_file("c.c", "c\n", "import");
    upstream.git(&["tag", "v1"]);
    upstream.commit_file("NEWS", "v2\n", "upstream moves");
    workspace.clone_repo("mirrors/busybox", "repos/busybox");
    workspace.write(
        "patches/0001-offset.patch",
        "Upstream-Status: Pending\n\nIndex: busybox/a.c\n===================================================================\n--- busybox.orig/a.c\n+++ busybox/a.c\n@@ -4,7 +4,7 @@\n a 4\n a 5\n a 6\n-a 7\n+a seven\n a 8\n a 9\n a 10\n",
    );
    workspace.write(
        "patches/0002-stale.patch",
        "From: Old Hand <old@example.org>\nSubject: [PATCH] a: stale\n\n---\n a.c | 2 +-\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1,3 +1,3 @@\n top 1\n-top two\n+top 2!\n top 3\n",
    );
    workspace.write(
        "patches/0003-after-stale.patch",
        "From: Old Hand <old@example.org>\nSubject: [PATCH] a: after\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -11,3 +11,4 @@\n a 8\n a 9\n a 10\n+a 11\n",
    );
    workspace.write(
        "patches/0004-other.patch",
        "Subject: b: other\n\n--- a/b.c\n+++ b/b.c\n@@ -1 +1 @@\n-b\n+B\n",
    );
    workspace.write(
        "patches/0005-with-openssl-3..patch",
        "Subject: c: build with openssl 3.\n\n--- a/c.c\n+++ b/c.c\n@@ -1 +1 @@\n-c\n+C\n",
    );
    workspace.write(
        "patches/series",
        "0001-offset.patch\n0002-stale.patch\n0003-after-stale.patch\n0004-other.patch\n0005-with-openssl-3..patch\n",
    );
    let validate = workspace.carry(&["validate"]);
    assert_eq!(validate.code, 0, "{}{}", validate.stdout, validate.stderr);

    let (code, json, stderr) = run_json(&workspace);
    assert_eq!(code, 3, "{stderr}");
    let project = &json["projects"][0];
    assert_eq!(project["status"], "rebased", "{project}");
    assert_eq!(
        outcomes(&json, 0),
        [
            ("busybox/0001-offset", "applied"),
            ("busybox/0002-stale", "error"),
            ("busybox/0003-after-stale", "blocked"),
            ("busybox/0004-other", "applied"),
            ("busybox/0005-with-openssl-3.", "applied"),
        ]
        .map(|(id, outcome)| (id.to_owned(), outcome.to_owned()))
    );
    let stale = &project["patches"][1];
    assert_eq!(stale["file"], "patches/0002-stale.patch");
    assert_eq!(stale["line"], 7, "the section's `diff --git` line");
    assert!(
        stale["reason"]
            .as_str()
            .is_some_and(|r| r.contains("hunk #1")),
        "{stale}"
    );
    assert_eq!(
        project["patches"][2]["blocked_by"],
        serde_json::json!(["busybox/0002-stale"])
    );
    // The candidate has the offset patch and the others, not the stale ones.
    let repo = TestRepo::open(&workspace.path().join("repos/busybox"));
    let candidate = project["result"].as_str().expect("result");
    let a = repo.git(&["show", &format!("{candidate}:a.c")]);
    assert!(
        a.contains("a seven") && a.contains("top 2\n") && !a.contains("a 11"),
        "{a}"
    );
    assert_eq!(repo.git(&["show", &format!("{candidate}:c.c")]), "C");

    let text = workspace.carry(&["run", "--no-test", "--offline"]);
    assert!(
        text.stdout
            .contains("error    busybox/0002-stale: patches/0002-stale.patch:7: "),
        "{}",
        text.stdout
    );
}

/// `base` takes what `git rev-parse` takes for a commit: a remote-tracking branch with a
/// suffix, here.
#[test]
fn a_base_may_be_any_revision_git_resolves() {
    let workspace = TestWorkspace::new(
        r#"[workspace]
name = "revisions"

[project.qemu]
repo = "repos/qemu"
upstream = { path = "mirrors/qemu", ref = "main" }
series = { branch = "carried", base = "origin/main~1" }
"#,
    );
    let upstream = workspace.repo("mirrors/qemu");
    upstream.commit_file("a.c", "a\n", "import");
    upstream.commit_file("b.c", "b\n", "second");
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::open(&workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried", "HEAD~1"]);
    project.commit_file("c.c", "c\n", "carried: c");
    let validate = workspace.carry(&["validate"]);
    assert_eq!(validate.code, 0, "{}{}", validate.stdout, validate.stderr);
    let (code, json, stderr) = run_json(&workspace);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        outcomes(&json, 0),
        [("qemu/carried-c".to_owned(), "applied".to_owned())]
    );
}

#[test]
fn a_series_that_changed_is_rebased_and_tested_though_upstream_did_not_move() {
    let manifest = MANIFEST.replace(", base = \"v1\"", "")
        + "test = { command = \"test -f b.c && echo tested >> ../tested.log\" }\n";
    let workspace = TestWorkspace::new(&manifest);
    let upstream = workspace.repo("mirrors/qemu");
    upstream.commit_file("a.c", "a\n", "initial");
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::open(&workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried"]);
    project.commit_file("b.c", "b\n", "b: add");
    let first = workspace.carry(&["run", "--json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let json: serde_json::Value = serde_json::from_str(&first.stdout).expect("JSON");
    assert_eq!(
        json["projects"][0]["status"], "unchanged",
        "the first run is the baseline"
    );

    // The user adds a patch; upstream stays where it is.
    project.commit_file("c.c", "c\n", "c: add");
    let second = workspace.carry(&["run", "--json"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let json: serde_json::Value = serde_json::from_str(&second.stdout).expect("JSON");
    let qemu = &json["projects"][0];
    assert_eq!(qemu["status"], "rebased", "{qemu:#}");
    assert_eq!(qemu["patches"].as_array().map(Vec::len), Some(2));
    assert!(
        qemu["patches"]
            .as_array()
            .expect("patches")
            .iter()
            .all(|p| p["outcome"] == "applied")
    );
    assert_eq!(qemu["test"]["status"], "passed", "{qemu:#}");
    let tested = std::fs::read_to_string(workspace.path().join(".carry/checkouts/tested.log"))
        .expect("the test ran");
    assert_eq!(tested.lines().count(), 1);

    // Clean, so that series is the new baseline.
    let third = workspace.carry(&["run", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&third.stdout).expect("JSON");
    assert_eq!(
        json["projects"][0]["status"], "unchanged",
        "{}",
        third.stdout
    );
}

/// A feature need between two patches of one series blocks as one across projects does:
/// `qemu/b-user` needs `qemu/a-core` (through a feature), touches other paths, and comes
/// after it; `a-core` conflicts, so `b-user` is blocked, not applied.
#[test]
fn a_feature_need_within_one_project_blocks() {
    let manifest = format!(
        "{MANIFEST}\n[feature.sriov]\n[feature.sriov.patches]\n\"qemu/b-user\" = [\"qemu/a-core\"]\n"
    );
    let workspace = TestWorkspace::new(&manifest);
    let upstream = workspace.repo("mirrors/qemu");
    upstream.commit_file("core.c", "a\nb\nc\n", "import");
    upstream.git(&["tag", "v1"]);
    workspace.clone_repo("mirrors/qemu", "repos/qemu");
    let project = TestRepo::open(&workspace.path().join("repos/qemu"));
    project.git(&["checkout", "-q", "-b", "carried", "v1"]);
    project.commit_file("core.c", "a\nb core\nc\n", "core\n\nCarry-Patch: a-core");
    project.commit_file("user.c", "uses core\n", "user\n\nCarry-Patch: b-user");
    project.commit_file("other.c", "other\n", "other\n\nCarry-Patch: c-other");
    upstream.commit_file("core.c", "a\nb upstream\nc\n", "core: rework b");

    let (code, json, stderr) = run_json(&workspace);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(
        outcomes(&json, 0),
        [
            ("qemu/a-core".to_owned(), "conflict".to_owned()),
            ("qemu/b-user".to_owned(), "blocked".to_owned()),
            ("qemu/c-other".to_owned(), "applied".to_owned()),
        ]
    );
    assert_eq!(
        json["projects"][0]["patches"][1]["blocked_by"],
        serde_json::json!(["qemu/a-core"])
    );
}
