//! `carry conflicts` on the demo: its one real conflict, with the patch's and the culprit's
//! authors, a key that stays the same from run to run, and the run it has been open since.

use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

#[test]
fn open_conflicts_keep_their_key_and_say_since_when() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    let none = carry_in(&demo, &["conflicts"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(none.stdout.contains("no run yet"), "{}", none.stdout);

    let first = json(&carry_in(&demo, &["run", "--json"]).stdout);
    let listed = carry_in(&demo, &["conflicts", "--json"]);
    assert_eq!(
        listed.code, 3,
        "open conflicts need attention: {}",
        listed.stderr
    );
    let listed = json(&listed.stdout);
    assert_eq!(listed["schema"], "carry.conflicts/v1");
    let conflicts = listed["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{listed:#}");
    let conflict = &conflicts[0];
    assert_eq!(conflict["project"], "libvirt");
    assert_eq!(conflict["patch"], "hostdev-vf");
    assert!(
        conflict["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("libvirt/hostdev-vf:")),
        "{conflict}"
    );
    assert_eq!(conflict["paths"][0], "src/qemu/qemu_hostdev.c");
    assert!(
        conflict["patch_author"]
            .as_str()
            .is_some_and(|a| a.contains('@'))
    );
    assert!(
        conflict["culprit"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{conflict}"
    );
    assert_eq!(conflict["since_run"], first["run"]);

    // A second run meets the same conflict: same key, open since the first.
    let second = json(&carry_in(&demo, &["run", "--all", "--json"]).stdout);
    assert_ne!(second["run"], first["run"]);
    let again = json(&carry_in(&demo, &["conflicts", "--json"]).stdout);
    assert_eq!(again["run"], second["run"]);
    assert_eq!(again["conflicts"][0]["key"], conflict["key"]);
    assert_eq!(again["conflicts"][0]["since_run"], first["run"]);
    let text = carry_in(&demo, &["conflicts"]).stdout;
    assert!(
        text.contains("culprit") && text.contains("open     since run"),
        "{text}"
    );
}

/// `carry resolve` prepares a worktree under .carry/resolve/ at the candidate just before the
/// patch, with diff3 markers and the index's conflict stages, and notes naming the culprit;
/// a second resolve of the patch is refused naming the first; `--abort` leaves nothing; the
/// user's checkout and branches never change.
#[test]
fn resolve_prepares_a_worktree_with_the_conflict_and_abort_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let libvirt = demo.join("repos/libvirt");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let user_before = (
        git(&libvirt, &["status", "--porcelain"]),
        git(&libvirt, &["for-each-ref", "refs/heads", "refs/tags"]),
    );

    let started = carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let worktree = demo.join(".carry/resolve/libvirt/hostdev-vf");
    assert!(
        started.stdout.contains(&worktree.display().to_string()),
        "{}",
        started.stdout
    );
    let file = std::fs::read_to_string(worktree.join("src/qemu/qemu_hostdev.c")).expect("file");
    for marker in ["<<<<<<< ", "||||||| ", "=======", ">>>>>>> "] {
        assert!(file.contains(marker), "no {marker} in\n{file}");
    }
    let stages = git(&worktree, &["ls-files", "-u"]);
    assert_eq!(stages.lines().count(), 3, "{stages}");
    let notes =
        std::fs::read_to_string(demo.join(".carry/resolve/libvirt/hostdev-vf.txt")).expect("notes");
    assert!(
        notes.contains("culprit") && notes.contains("qemu: hostdev: rework"),
        "{notes}"
    );

    let again = carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("being resolved already"),
        "{}",
        again.stderr
    );
    let clean = carry_in(&demo, &["resolve", "qemu/vfio-sriov"]);
    assert_eq!(clean.code, 2);
    assert!(clean.stderr.contains("not in conflict"), "{}", clean.stderr);
    let unknown = carry_in(&demo, &["resolve", "qemu/no-such-patch"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);

    let aborted = carry_in(&demo, &["resolve", "--abort", "libvirt/hostdev-vf"]);
    assert_eq!(aborted.code, 0, "{}", aborted.stderr);
    assert!(!worktree.exists());
    assert!(!demo.join(".carry/resolve/libvirt/hostdev-vf.json").exists());
    assert_eq!(
        git(&libvirt, &["worktree", "list"]).lines().count(),
        1 + usize::from(demo.join(".carry/checkouts/libvirt").exists())
    );
    assert_eq!(
        (
            git(&libvirt, &["status", "--porcelain"]),
            git(&libvirt, &["for-each-ref", "refs/heads", "refs/tags"]),
        ),
        user_before
    );
    let twice = carry_in(&demo, &["resolve", "--abort", "libvirt/hostdev-vf"]);
    assert_eq!(twice.code, 2);
}

/// A resolution made once in the worktree is recorded region by region and re-applied in
/// memory: the patch applies, what it blocked runs and is tested, and the rebased tree is the
/// one git makes by cherry-picking the patch and writing the same resolution; a later run
/// re-applies it again. Markers left in are refused, each at file:line.
#[test]
fn a_recorded_resolution_is_reapplied_and_gives_the_tree_git_gives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    assert_eq!(carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]).code, 0);
    let worktree = demo.join(".carry/resolve/libvirt/hostdev-vf");
    let file = worktree.join("src/qemu/qemu_hostdev.c");

    let early = carry_in(&demo, &["resolve", "--continue", "libvirt/hostdev-vf"]);
    assert_eq!(early.code, 1);
    assert!(
        early
            .stderr
            .contains("markers remain at src/qemu/qemu_hostdev.c:"),
        "{}",
        early.stderr
    );

    let merged = std::fs::read_to_string(&file).expect("file");
    let start = merged.find("<<<<<<< ").expect("a conflict");
    let end = merged[start..]
        .find(">>>>>>> ")
        .map(|i| start + i)
        .expect("its end");
    let end = end + merged[end..].find('\n').expect("line") + 1;
    let resolution = "    return qemuHostdevPCIAddress(x) + 4 + vf_token;\n";
    let resolved = format!("{}{resolution}{}", &merged[..start], &merged[end..]);
    std::fs::write(&file, &resolved).expect("write");
    let recorded = carry_in(&demo, &["resolve", "--continue", "libvirt/hostdev-vf"]);
    // 0: the resolution was made on this very upstream; nothing needs a look.
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert!(
        recorded.stderr.contains("recorded resolution "),
        "{}",
        recorded.stderr
    );
    let recorded = carry_in(&demo, &["report", "--json"]);
    let report = json(&recorded.stdout);
    let patch = report["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "libvirt"))
        .and_then(|p| p["patches"].as_array())
        .and_then(|p| p.iter().find(|p| p["id"] == "libvirt/hostdev-vf"))
        .cloned()
        .expect("the patch in the report");
    assert_eq!(patch["outcome"], "applied", "{patch}");
    assert!(
        patch["resolution"]
            .as_str()
            .is_some_and(|id| id.len() == 12),
        "{patch}"
    );
    assert_eq!(patch["review"], "acknowledged", "{patch}");
    let nova = report["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "nova"))
        .cloned()
        .expect("nova");
    assert_eq!(
        nova["test"]["status"], "passed",
        "what the conflict blocked runs: {nova}"
    );
    assert!(!worktree.exists(), "the worktree goes once recorded");

    // git, as the oracle: cherry-pick the patch where carry put it, write the same
    // resolution, and compare trees.
    let libvirt = demo.join("repos/libvirt");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let rebased = patch["to"].as_str().expect("its new commit").to_owned();
    let original = patch["from"].as_str().expect("its commit").to_owned();
    let scratch = dir.path().join("oracle");
    git(
        &libvirt,
        &[
            "worktree",
            "add",
            "--detach",
            &scratch.display().to_string(),
            &format!("{rebased}^"),
        ],
    );
    git(&scratch, &["cherry-pick", "--no-commit", &original]);
    std::fs::write(scratch.join("src/qemu/qemu_hostdev.c"), &resolved).expect("write");
    git(&scratch, &["add", "-A"]);
    assert_eq!(
        git(&scratch, &["write-tree"]),
        git(&libvirt, &["rev-parse", &format!("{rebased}^{{tree}}")]),
        "carry's resolved tree is git's"
    );

    // A later run redoes everything and re-applies it again.
    let again = json(&carry_in(&demo, &["run", "--all", "--fresh", "--json"]).stdout);
    let applied = again["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "libvirt"))
        .and_then(|p| p["patches"].as_array())
        .and_then(|p| p.iter().find(|p| p["id"] == "libvirt/hostdev-vf"))
        .map(|p| p["outcome"].clone());
    assert_eq!(applied, Some(serde_json::json!("applied")));
}
