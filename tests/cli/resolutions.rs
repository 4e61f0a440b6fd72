//! The conflict loop past the first resolution: a recorded resolution carried onto a moved
//! upstream (the tree git's rerere gives), marked for review until acknowledged and refused
//! by promotion until then; a resolution that no longer fits; a patch dropped with a reason;
//! moving on to the next conflict; and a patch-directory series resolved and promoted.

use std::path::Path;

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

const HOSTDEV: &str = "src/qemu/qemu_hostdev.c";
const RESOLVED_LINE: &str = "    return qemuHostdevPCIAddress(x) + 4 + vf_token;\n";

/// The file with its one diff3 conflict region replaced by `resolution`.
fn resolve_region(file: &Path, resolution: &str) -> String {
    let merged = std::fs::read_to_string(file).expect("conflicted file");
    let start = merged.find("<<<<<<< ").expect("a conflict");
    let end = start + merged[start..].find(">>>>>>> ").expect("its end");
    let end = end + merged[end..].find('\n').expect("a line") + 1;
    let resolved = format!("{}{resolution}{}", &merged[..start], &merged[end..]);
    std::fs::write(file, &resolved).expect("write the resolution");
    resolved
}

fn patch_of<'r>(report: &'r serde_json::Value, id: &str) -> &'r serde_json::Value {
    let project = id.split('/').next().expect("a project");
    report["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == project))
        .and_then(|p| p["patches"].as_array())
        .and_then(|p| p.iter().find(|p| p["id"] == id))
        .unwrap_or_else(|| panic!("{id} in {report:#}"))
}

/// The demo run, its libvirt conflict resolved with `RESOLVED_LINE` and recorded.
fn resolved_demo(dir: &Path) -> (std::path::PathBuf, String) {
    let demo = demo_workspace(dir, "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    assert_eq!(carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]).code, 0);
    let resolved = resolve_region(
        &demo.join(".carry/resolve/libvirt/hostdev-vf").join(HOSTDEV),
        RESOLVED_LINE,
    );
    // Without the patch named: the one resolve going on.
    let recorded = carry_in(&demo, &["resolve", "--continue"]);
    assert_eq!(
        recorded.code, 0,
        "made here, nothing needs a look: {}{}",
        recorded.stdout, recorded.stderr
    );
    (demo, resolved)
}

fn upstream_commit(demo: &Path, file: &str, edit: impl FnOnce(&str) -> String, message: &str) {
    let upstream = TestRepo::open(&demo.join("upstream/libvirt"));
    let before = std::fs::read_to_string(upstream.path.join(file)).unwrap_or_default();
    upstream.commit_file(file, &edit(&before), message);
}

#[test]
fn a_resolution_carried_onto_a_moved_upstream_is_gits_rerere_tree_and_needs_a_review() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (demo, resolved) = resolved_demo(dir.path());
    let report = json(&carry_in(&demo, &["report", "--json"]).stdout);
    let made = patch_of(&report, "libvirt/hostdev-vf").clone();
    assert_eq!(made["outcome"], "applied");
    let resolution = made["resolution"].as_str().expect("the resolution named");
    assert_eq!(made["review"], "acknowledged", "made on this upstream");
    let original = made["from"].as_str().expect("its commit").to_owned();

    // Upstream moves elsewhere: the resolution is carried along, and needs a look.
    upstream_commit(&demo, "NEWS", |_| "news\n".to_owned(), "upstream: news");
    let moved = carry_in(&demo, &["run", "--json"]);
    assert_eq!(moved.code, 3, "a re-applied resolution needs attention");
    let moved = json(&moved.stdout);
    crate::support::check_schema(&moved);
    let carried = patch_of(&moved, "libvirt/hostdev-vf");
    assert_eq!(carried["outcome"], "applied", "{carried}");
    assert_eq!(carried["resolution"], resolution);
    assert_eq!(carried["review"], "required");
    let sriov = moved["features"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "sriov"))
        .expect("sriov");
    assert_eq!(sriov["status"], "at-risk");

    // git as the oracle: rerere, taught the same resolution on the old base, replays it on
    // the new one; the tree is carry's.
    let to = carried["to"].as_str().expect("its new commit");
    let libvirt = TestRepo::open(&demo.join("repos/libvirt"));
    let before_old = made["to"].as_str().expect("resolved commit");
    let scratch = dir.path().join("oracle");
    libvirt.git(&[
        "worktree",
        "add",
        "--detach",
        &scratch.display().to_string(),
        &format!("{before_old}^"),
    ]);
    let oracle = TestRepo::open(&scratch);
    oracle.git(&["config", "rerere.enabled", "true"]);
    oracle.git(&["config", "rerere.autoupdate", "true"]);
    oracle.git(&["config", "merge.conflictStyle", "diff3"]);
    let picked = oracle.git_output(&["cherry-pick", &original]);
    assert!(
        !picked.status.success(),
        "git conflicts on the old base too"
    );
    std::fs::write(scratch.join(HOSTDEV), &resolved).expect("write");
    oracle.git(&["add", "-A"]);
    oracle.git(&["rerere"]);
    oracle.git(&["cherry-pick", "--abort"]);
    oracle.git(&["checkout", "-q", "--detach", &format!("{to}^")]);
    let replayed = oracle.git_output(&["cherry-pick", "--no-commit", &original]);
    assert!(
        String::from_utf8_lossy(&replayed.stderr).contains("using previous resolution"),
        "rerere replays it: {replayed:?}"
    );
    assert_eq!(
        oracle.git(&["diff", "--name-only", "--diff-filter=U"]),
        "",
        "nothing left conflicted"
    );
    assert_eq!(
        oracle.git(&["write-tree"]),
        libvirt.git(&["rev-parse", &format!("{to}^{{tree}}")]),
        "carry's tree is the one git's rerere makes"
    );

    // Promotion refuses it until someone looks.
    let refused = carry_in(&demo, &["promote", "libvirt"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nobody reviewed it"),
        "{}",
        refused.stderr
    );
    let review = carry_in(&demo, &["review", "libvirt/hostdev-vf", "--json"]);
    assert_eq!(review.code, 3, "a review is required: {}", review.stderr);
    let review = json(&review.stdout);
    assert_eq!(review["schema"], "carry.review/v1");
    let entry = &review["patches"][0];
    assert_eq!(entry["change"], "modified");
    assert_eq!(entry["resolution"], resolution);
    let interdiff = entry["interdiff"].as_str().expect("an interdiff");
    assert!(
        interdiff.contains(&format!("++{}", RESOLVED_LINE.trim_end())),
        "the interdiff shows what the resolution made of the patch: {interdiff}"
    );
    let markdown = carry_in(&demo, &["review", "--markdown"]).stdout;
    assert!(
        markdown.contains("| `libvirt/hostdev-vf` | modified |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `libvirt/docs-describe-SR-IOV-VF-tokens` | unchanged |"),
        "{markdown}"
    );

    let not_resolved = carry_in(
        &demo,
        &["review", "--ack", "libvirt/docs-describe-SR-IOV-VF-tokens"],
    );
    assert_eq!(not_resolved.code, 2);
    assert!(
        not_resolved.stderr.contains("nothing to acknowledge"),
        "{}",
        not_resolved.stderr
    );
    let acked = carry_in(&demo, &["review", "--ack", "libvirt/hostdev-vf"]);
    assert_eq!(acked.code, 0, "{}", acked.stderr);
    let now = json(&carry_in(&demo, &["report", "--json"]).stdout);
    assert_eq!(
        patch_of(&now, "libvirt/hostdev-vf")["review"],
        "acknowledged"
    );
    let promoted = carry_in(&demo, &["promote", "libvirt"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(
        libvirt.git(&["rev-parse", "nfv/carried"]),
        moved["projects"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "libvirt"))
            .map(|p| p["result"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default(),
        "the branch holds the resolved patch"
    );
}

#[test]
fn a_resolution_whose_lines_upstream_changed_again_no_longer_fits_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (demo, _) = resolved_demo(dir.path());
    upstream_commit(
        &demo,
        HOSTDEV,
        |text| {
            text.replace(
                "qemuHostdevPCIAddress(x) + 4;",
                "qemuHostdevPCIAddress(x, 0) + 4;",
            )
        },
        "upstream: the resolved line changes again",
    );
    let report = json(&carry_in(&demo, &["run", "--json"]).stdout);
    let patch = patch_of(&report, "libvirt/hostdev-vf");
    assert_eq!(patch["outcome"], "conflict", "{patch}");
    assert!(
        patch["notes"]
            .to_string()
            .contains(&format!("no longer fits {HOSTDEV}")),
        "{patch}"
    );
    assert!(patch.get("resolution").is_none());
}

#[test]
fn a_dropped_patch_leaves_the_candidate_with_its_reason_and_promotion_removes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let conflicts = json(&carry_in(&demo, &["conflicts", "--json"]).stdout);
    let key = conflicts["conflicts"][0]["key"]
        .as_str()
        .expect("a key")
        .to_owned();

    // Bad input first: each a clear error, nothing changed.
    let stale = carry_in(&demo, &["resolve", "libvirt/hostdev-vf:0123456789ab"]);
    assert_eq!(stale.code, 2);
    assert!(
        stale.stderr.contains("no open conflict has the key"),
        "{}",
        stale.stderr
    );
    assert!(
        stale.stderr.contains(&key),
        "names the key it has now: {}",
        stale.stderr
    );
    let applied = carry_in(
        &demo,
        &["resolve", "libvirt/docs-describe-SR-IOV-VF-tokens"],
    );
    assert_eq!(applied.code, 2);
    assert!(
        applied.stderr.contains("is not in conflict"),
        "{}",
        applied.stderr
    );
    let no_reason = carry_in(&demo, &["resolve", "--drop", "libvirt/hostdev-vf"]);
    assert_eq!(no_reason.code, 2, "{}", no_reason.stderr);
    let blank = carry_in(
        &demo,
        &["resolve", "--drop", "--reason", " ", "libvirt/hostdev-vf"],
    );
    assert_eq!(blank.code, 2);
    assert!(blank.stderr.contains("say why"), "{}", blank.stderr);

    // Skipping the only conflict: it stays, nothing else to resolve.
    assert_eq!(
        carry_in(&demo, &["resolve", &key]).code,
        0,
        "the key names it too"
    );
    let twice = carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]);
    assert_eq!(twice.code, 1);
    assert!(
        twice.stderr.contains("being resolved already"),
        "{}",
        twice.stderr
    );
    let skipped = carry_in(&demo, &["resolve", "--skip"]);
    assert_eq!(skipped.code, 3, "{}", skipped.stderr);
    assert!(
        skipped.stdout.contains("stays in conflict"),
        "{}",
        skipped.stdout
    );
    assert!(
        skipped.stdout.contains("no other open conflict"),
        "{}",
        skipped.stdout
    );
    assert!(!demo.join(".carry/resolve/libvirt/hostdev-vf").exists());

    let reason = "upstream took another approach";
    let dropped = carry_in(&demo, &["resolve", "--drop", "--reason", reason, &key]);
    assert!(
        dropped.stderr.contains("dropped libvirt/hostdev-vf"),
        "{}",
        dropped.stderr
    );
    let report = json(&carry_in(&demo, &["report", "--json"]).stdout);
    crate::support::check_schema(&report);
    let patch = patch_of(&report, "libvirt/hostdev-vf");
    assert_eq!(patch["outcome"], "dropped");
    assert_eq!(patch["reason"], reason);
    assert_eq!(
        patch_of(&report, "nova/sriov-vf-pci")["outcome"],
        "applied",
        "what it blocked is tried again"
    );
    assert_eq!(
        json(&carry_in(&demo, &["conflicts", "--json"]).stdout)["conflicts"],
        serde_json::json!([])
    );

    // The demo's libvirt test wants the VF token, so its run is not clean: forced.
    let promoted = carry_in(&demo, &["promote", "--force", "libvirt", "--json"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    let promoted = json(&promoted.stdout);
    assert_eq!(
        promoted["promoted"][0]["removed"],
        serde_json::json!(["libvirt/hostdev-vf"])
    );
    let libvirt = TestRepo::open(&demo.join("repos/libvirt"));
    let subjects = libvirt.git(&["log", "--format=%s", "nfv/carried"]);
    assert!(!subjects.contains("pass the VF token"), "{subjects}");
    assert!(subjects.contains("describe SR-IOV VF tokens"), "{subjects}");
}

/// A patch of a patch-directory series is resolved like a branch's, and promotion writes
/// the resolved patch file, its headers kept.
#[test]
fn a_patch_file_is_resolved_and_promotion_regenerates_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    let upstream = TestRepo::open(&demo.join("upstream/kernel"));
    let file = "drivers/vfio/pci.c";
    let text = std::fs::read_to_string(upstream.path.join(file)).expect("pci.c");
    upstream.commit_file(
        file,
        &text.replace("    return x + 3;\n", "    return vfio_pci_token(x) + 3;\n"),
        "vfio-pci: tokens for step 3",
    );
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let id = "kernel/0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs";
    let started = carry_in(&demo, &["resolve", id]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let worktree = demo.join(".carry/resolve").join(id);
    resolve_region(
        &worktree.join(file),
        "    int vf_token = vfio_pci_token(x); /* accept a VF token */\n    return vf_token + 3;\n",
    );
    let recorded = carry_in(&demo, &["resolve", "--continue", id]);
    assert_eq!(
        recorded.code, 3,
        "the demo's libvirt conflict is still open: {}",
        recorded.stderr
    );
    let report = json(&carry_in(&demo, &["report", "--json"]).stdout);
    assert_eq!(patch_of(&report, id)["outcome"], "applied");
    assert_eq!(patch_of(&report, id)["review"], "acknowledged");

    let promoted = carry_in(&demo, &["promote", "kernel"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    let patch_file = std::fs::read_to_string(
        demo.join("patches/kernel/0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs.patch"),
    )
    .expect("the patch file");
    assert!(
        patch_file.contains("+    int vf_token = vfio_pci_token(x); /* accept a VF token */"),
        "{patch_file}"
    );
    assert!(
        patch_file.contains("-    return vfio_pci_token(x) + 3;"),
        "{patch_file}"
    );
    assert!(
        patch_file.contains("Upstream-Status: Submitted [https://lore.kernel.org/kvm/]"),
        "headers kept: {patch_file}"
    );
    // The promoted series applies cleanly now: nothing to resolve, nothing to review.
    let again = json(&carry_in(&demo, &["run", "kernel", "--json"]).stdout);
    assert_eq!(patch_of(&again, id)["outcome"], "applied");
    assert!(patch_of(&again, id).get("resolution").is_none());
}

/// A resolution made on a laptop reaches CI as a file, or through the repository's
/// refs/carry/resolutions/ (pushed and fetched like any ref); there it is re-applied with no
/// worktree. A damaged or edited file changes nothing.
#[test]
fn resolutions_move_between_workspaces_as_a_file_and_as_refs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (laptop, _) = resolved_demo(dir.path());
    let file = dir.path().join("resolutions.json");
    let exported = carry_in(
        &laptop,
        &["resolutions", "export", &file.display().to_string()],
    );
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    let text = std::fs::read_to_string(&file).expect("the export");
    let parsed = json(&text);
    assert_eq!(parsed["schema"], "carry.resolutions/v1");
    assert_eq!(parsed["resolutions"][0]["project"], "libvirt");
    assert_eq!(
        parsed["resolutions"][0]["hunks"][0]["resolved"],
        RESOLVED_LINE
    );

    for (name, by_refs) in [("ci-file", false), ("ci-refs", true)] {
        let ci = demo_workspace(dir.path(), name);
        assert_eq!(
            carry_in(&ci, &["run"]).code,
            3,
            "{name}: the conflict, before"
        );
        if by_refs {
            let fetched = TestRepo::open(&ci.join("repos/libvirt")).git_output(&[
                "fetch",
                &laptop.join("repos/libvirt").display().to_string(),
                "refs/carry/resolutions/*:refs/carry/resolutions/*",
            ]);
            assert!(fetched.status.success(), "{fetched:?}");
            let imported = carry_in(&ci, &["resolutions", "import", "--refs", "--json"]);
            assert_eq!(imported.code, 0, "{}", imported.stderr);
            assert_eq!(
                json(&imported.stdout)["imported"].as_array().map(Vec::len),
                Some(1)
            );
        } else {
            let damaged = dir.path().join("damaged.json");
            std::fs::write(&damaged, &text[..text.len() / 2]).expect("write");
            let refused = carry_in(
                &ci,
                &["resolutions", "import", &damaged.display().to_string()],
            );
            assert_eq!(refused.code, 2);
            assert!(
                refused.stderr.contains("damaged.json:"),
                "file:line: {}",
                refused.stderr
            );
            let edited = dir.path().join("edited.json");
            std::fs::write(&edited, text.replace("+ 4 + vf_token;", "+ 5 + vf_token;"))
                .expect("write");
            let refused = carry_in(
                &ci,
                &["resolutions", "import", &edited.display().to_string()],
            );
            assert_eq!(refused.code, 2);
            assert!(
                refused.stderr.contains("was it edited?"),
                "{}",
                refused.stderr
            );
            let imported = carry_in(&ci, &["resolutions", "import", &file.display().to_string()]);
            assert_eq!(imported.code, 0, "{}", imported.stderr);
            assert!(
                imported.stdout.contains("imported 1 resolution"),
                "{}",
                imported.stdout
            );
            let again = carry_in(&ci, &["resolutions", "import", &file.display().to_string()]);
            assert!(
                again
                    .stdout
                    .contains("imported 0 resolutions (1 already here)"),
                "{}",
                again.stdout
            );
        }
        let report = json(&carry_in(&ci, &["run", "--json"]).stdout);
        let patch = patch_of(&report, "libvirt/hostdev-vf");
        assert_eq!(patch["outcome"], "applied", "{name}: {patch}");
        assert_eq!(
            patch["resolution"], parsed["resolutions"][0]["id"],
            "{name}"
        );
    }
}

/// A resolve killed while it started leaves only its claim: the next is refused saying how
/// to clear it, and `--abort` does.
#[test]
fn a_killed_start_is_cleared_by_abort() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let claim = demo.join(".carry/resolve/libvirt/hostdev-vf.json");
    std::fs::create_dir_all(claim.parent().expect("parent")).expect("dir");
    std::fs::write(&claim, "").expect("an empty claim");
    let refused = carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("`--abort` clears it"),
        "{}",
        refused.stderr
    );
    let aborted = carry_in(&demo, &["resolve", "--abort", "libvirt/hostdev-vf"]);
    assert_eq!(aborted.code, 2, "nothing was going on: {}", aborted.stderr);
    assert!(!claim.exists());
    assert_eq!(carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]).code, 0);
}
