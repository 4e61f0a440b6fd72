//! `carry promote`: branches by compare-and-swap, patch directories regenerated and swapped in
//! whole, pinned bases moved in the manifest, landed patches dropped, and kills at any moment
//! leaving each series wholly old or wholly new.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::hermetic;

fn demo(dir: &Path) -> std::path::PathBuf {
    let demo = dir.join("demo");
    let built = carry_in(dir, &["demo", &demo.display().to_string(), "--json"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    demo
}

fn dir_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn promotion_moves_clean_series_and_leaves_the_rest() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = demo(tmp.path());
    let report: serde_json::Value =
        serde_json::from_str(&carry_in(&demo, &["report", "--json"]).stdout).expect("JSON");
    let project = |name: &str| {
        report["projects"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    let ovs = TestRepo::open(&demo.join("repos/ovs"));
    let ovs_before = ovs.git(&["rev-parse", "nfv/carried"]);
    let libvirt = TestRepo::open(&demo.join("repos/libvirt"));
    let libvirt_before = libvirt.git(&["rev-parse", "nfv/carried"]);
    let manifest_before = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");

    let output = carry_in(&demo, &["promote", "--json"]);
    assert_eq!(
        output.code, 3,
        "libvirt and nova are skipped: {}",
        output.stderr
    );
    let promotion: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(
        promotion["skipped"]["libvirt"],
        "patches conflicted or are blocked: libvirt/hostdev-vf"
    );

    // The branch moved to the candidate in one step, the old tip kept as a backup.
    assert_eq!(
        ovs.git(&["rev-parse", "nfv/carried"]),
        project("ovs")["result"].as_str().expect("result")
    );
    let run = report["run"].as_str().expect("run");
    assert_eq!(
        ovs.git(&["rev-parse", &format!("refs/carry/backup/ovs/{run}")]),
        ovs_before
    );
    assert_eq!(
        promotion["promoted"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["project"] == "ovs"))
            .map(|p| p["dropped"].clone()),
        Some(serde_json::json!([
            "ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown"
        ]))
    );
    // The landed patch is gone from the branch: one carried commit on the new upstream.
    assert_eq!(
        ovs.git(&[
            "rev-list",
            "--count",
            "refs/carry/upstream/heads/main..nfv/carried"
        ]),
        "1"
    );
    // Unclean projects were not touched.
    assert_eq!(libvirt.git(&["rev-parse", "nfv/carried"]), libvirt_before);

    // The patch directory is what git format-patch makes of the candidate's commits, and git am
    // of it gives back the candidate's trees.
    let kernel = TestRepo::open(&demo.join("repos/kernel"));
    let result = project("kernel")["result"]
        .as_str()
        .expect("result")
        .to_owned();
    let onto = project("kernel")["upstream"]["to"]
        .as_str()
        .expect("to")
        .to_owned();
    let expected = tmp.path().join("expected");
    kernel.git(&[
        "format-patch",
        "-q",
        "--binary",
        "-o",
        &expected.display().to_string(),
        &format!("{onto}..{result}"),
    ]);
    let mut promoted = dir_contents(&demo.join("patches/kernel"));
    let series = String::from_utf8(promoted.remove("series").expect("series")).expect("utf-8");
    assert_eq!(promoted, dir_contents(&expected));
    assert_eq!(
        series
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        [
            "0001-vfio-pci-accept-a-VF-token-for-SR-IOV-VFs.patch",
            "0002-net-sriov-raise-the-VF-limit-for-NFV-hosts.patch"
        ]
    );
    kernel.git(&["checkout", "-q", "--detach", &onto]);
    let mut am = vec!["am".to_owned(), "-q".to_owned()];
    for line in series.lines().filter(|l| !l.starts_with('#')) {
        am.push(demo.join("patches/kernel").join(line).display().to_string());
    }
    kernel.git(&am.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        kernel.git(&["rev-parse", "HEAD^{tree}"]),
        kernel.git(&["rev-parse", &format!("{result}^{{tree}}")])
    );
    let kept = demo.join(format!(".carry/backups/kernel-{run}"));
    assert!(kept.join("series").exists(), "the old directory is kept");

    // Pinned bases moved; everything else in the manifest is as written.
    let manifest = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");
    assert!(
        manifest.contains(&format!(
            "series = {{ dir = \"patches/kernel\", base = \"{onto}\" }}"
        )),
        "{manifest}"
    );
    assert!(
        manifest.contains("base = \"v10.10.0\""),
        "libvirt's base stays"
    );
    assert_eq!(
        manifest.lines().filter(|l| l.starts_with('#')).count(),
        manifest_before
            .lines()
            .filter(|l| l.starts_with('#'))
            .count()
    );
    assert_eq!(carry_in(&demo, &["validate"]).code, 0);

    // Promoting again does nothing more.
    let again = carry_in(&demo, &["promote", "--json"]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).expect("JSON");
    assert!(
        again["promoted"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["already"] == true)
    );
}

#[test]
fn a_branch_the_user_moved_is_not_promoted() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = demo(tmp.path());
    let qemu = TestRepo::open(&demo.join("repos/qemu"));
    qemu.git(&["checkout", "-q", "nfv/carried"]);
    qemu.commit_file("late.c", "late\n", "a patch added after the run");
    let moved = qemu.head();
    let output = carry_in(&demo, &["promote", "qemu"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("qemu cannot be promoted: branch 'nfv/carried' moved since the run"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("hint: nothing was changed"),
        "{}",
        output.stderr
    );
    assert_eq!(qemu.git(&["rev-parse", "nfv/carried"]), moved);
}

#[test]
fn a_feature_is_promoted_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = demo(tmp.path());
    let qemu = TestRepo::open(&demo.join("repos/qemu"));
    let before = qemu.git(&["rev-parse", "nfv/carried"]);
    let output = carry_in(&demo, &["promote", "--feature", "sriov"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("libvirt cannot be promoted"),
        "{}",
        output.stderr
    );
    assert_eq!(
        qemu.git(&["rev-parse", "nfv/carried"]),
        before,
        "qemu is in the feature: untouched"
    );
}

#[test]
fn promotions_killed_at_random_moments_leave_each_series_old_or_new() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = demo(tmp.path());
    let report: serde_json::Value =
        serde_json::from_str(&carry_in(&demo, &["report", "--json"]).stdout).expect("JSON");
    let result = |name: &str| {
        report["projects"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["result"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    let branches = [
        ("ovs", TestRepo::open(&demo.join("repos/ovs"))),
        ("qemu", TestRepo::open(&demo.join("repos/qemu"))),
    ];
    let old: Vec<String> = branches
        .iter()
        .map(|(_, r)| r.git(&["rev-parse", "nfv/carried"]))
        .collect();
    let old_dir = dir_contents(&demo.join("patches/kernel"));

    let mut seed: u64 = 0xdead_beef;
    let mut new_dir = None;
    for _ in 0..24 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let mut child = hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
            .current_dir(&demo)
            .args(["-q", "promote"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("carry promote");
        std::thread::sleep(Duration::from_millis((seed >> 33) % 120));
        let _ = child.kill();
        let _ = child.wait();
        for ((name, repo), old) in branches.iter().zip(&old) {
            let now = repo.git(&["rev-parse", "nfv/carried"]);
            assert!(
                now == *old || now == result(name),
                "{name} is neither old nor new: {now}"
            );
        }
        let now = dir_contents(&demo.join("patches/kernel"));
        if now != old_dir {
            match &new_dir {
                None => new_dir = Some(now),
                Some(new) => assert_eq!(&now, new, "the patch directory is neither old nor new"),
            }
        }
        assert_eq!(
            carry_in(&demo, &["validate"]).code,
            0,
            "the manifest stays valid"
        );
    }
    let last = carry_in(&demo, &["promote"]);
    assert_eq!(last.code, 3, "{}", last.stderr);
    for (name, repo) in &branches {
        assert_eq!(repo.git(&["rev-parse", "nfv/carried"]), result(name));
    }
}

#[test]
fn a_lock_a_killed_promotion_left_is_cleared_and_anyone_elses_is_kept() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = demo(tmp.path());
    let qemu = TestRepo::open(&demo.join("repos/qemu"));
    let before = qemu.git(&["rev-parse", "nfv/carried"]);
    let lock = demo.join("repos/qemu/.git/refs/heads/nfv/carried.lock");

    // Somebody else's lock (it holds another commit): the promotion of qemu fails, and
    // neither the branch nor the lock is touched.
    std::fs::write(&lock, format!("{before}\n")).expect("write lock");
    let output = carry_in(&demo, &["promote", "qemu"]);
    assert_ne!(output.code, 0, "{}", output.stdout);
    assert!(output.stderr.contains("carried.lock"), "{}", output.stderr);
    assert_eq!(qemu.git(&["rev-parse", "nfv/carried"]), before);
    assert!(lock.exists());

    // An empty lock, as a promotion killed between creating and writing it leaves.
    std::fs::write(&lock, "").expect("write lock");
    let output = carry_in(&demo, &["promote", "qemu"]);
    assert!(!lock.exists(), "{}", output.stderr);
    assert_ne!(
        qemu.git(&["rev-parse", "nfv/carried"]),
        before,
        "{}",
        output.stderr
    );
}

/// What a promotion changes, as one value: every branch and carry ref of every repository,
/// the patch directory (its `series` file without the line naming the promotion) and the
/// manifest.
fn published_state(demo: &Path) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for project in ["kernel", "qemu", "libvirt", "ovs", "nova"] {
        let repo = TestRepo::open(&demo.join("repos").join(project));
        state.insert(
            format!("{project} refs"),
            repo.git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/carry/applied-base",
            ]),
        );
    }
    for (name, bytes) in dir_contents(&demo.join("patches/kernel")) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = if name == "series" {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            text
        };
        state.insert(format!("patches/kernel/{name}"), text);
    }
    state.insert(
        "carry.toml".to_owned(),
        std::fs::read_to_string(demo.join("carry.toml")).expect("manifest"),
    );
    state
}

fn copy_workspace(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .args(["-a", &from.display().to_string(), &to.display().to_string()])
        .status()
        .expect("cp");
    assert!(status.success(), "cp -a {}", from.display());
}

//   run ──► promote: record plan ─► step 1 ─► … ─► step N ─► done
//                         ▲ killed after each of these, the next command finishes the rest
#[test]
fn a_promotion_cut_short_after_any_step_is_finished_by_the_next_command() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pristine = demo(tmp.path());
    let old = published_state(&pristine);

    let whole = tmp.path().join("whole");
    copy_workspace(&pristine, &whole);
    assert_eq!(carry_in(&whole, &["promote"]).code, 3);
    let new = published_state(&whole);
    assert_ne!(old, new);

    // The demo's promotion: two branches, one patch directory, one landed patch remembered,
    // one manifest edit; past the last step the plan is done, so the run is whole.
    let mut cut_in_the_middle = 0;
    for step in 0..=6 {
        let copy = tmp.path().join(format!("cut-{step}"));
        copy_workspace(&pristine, &copy);
        let cut = hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
            .current_dir(&copy)
            .env("CARRY_FAULT_AFTER_STEP", step.to_string())
            .args(["-q", "promote"])
            .output()
            .expect("carry promote");
        if cut.status.code().is_none() {
            let left = published_state(&copy);
            if left != old && left != new {
                cut_in_the_middle += 1;
            }
        }
        // Any command finishes it first: here the one a user runs to look.
        let validated = carry_in(&copy, &["validate"]);
        assert_eq!(validated.code, 0, "after step {step}: {}", validated.stderr);
        assert_eq!(published_state(&copy), new, "after step {step}");
    }
    assert!(
        cut_in_the_middle >= 3,
        "the cuts fell between steps: {cut_in_the_middle}"
    );
}

//   ovs:  fix-leak (landed upstream) ─ vhost-numa-realloc
//   [feature.leak] holds only fix-leak; vhost-numa-realloc needs it in [feature.vhost-numa]
#[test]
fn promoting_a_landed_patch_takes_it_out_of_every_feature() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let demo = crate::support::demo_workspace(tmp.path(), "demo");
    let manifest = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");
    let manifest = manifest.replace(
        "\"ovs/vhost-numa-realloc\" = []",
        "\"ovs/vhost-numa-realloc\" = [\"ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown\"]  # keep\n\n\
         [feature.leak]\ndescription = \"the leak fix, until upstream has it\"\n\
         [feature.leak.patches]\n\"ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown\" = []\n",
    );
    std::fs::write(demo.join("carry.toml"), &manifest).expect("write manifest");
    assert_eq!(carry_in(&demo, &["validate"]).code, 0);
    assert_eq!(carry_in(&demo, &["run"]).code, 3);

    let output = carry_in(&demo, &["promote", "ovs", "--json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let promotion = crate::support::json(&output.stdout);
    assert_eq!(promotion["features_removed"], serde_json::json!(["leak"]));
    let after = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");
    assert!(!after.contains("netdev-dpdk-fix"), "{after}");
    assert!(!after.contains("[feature.leak"), "{after}");
    assert!(
        after.contains("\"ovs/vhost-numa-realloc\" = []  # keep"),
        "{after}"
    );
    let validated = carry_in(&demo, &["validate"]);
    assert_eq!(validated.code, 0, "{}", validated.stderr);

    // The ledger remembers the debt paid off.
    let debt = crate::support::json(&carry_in(&demo, &["debt", "--json"]).stdout);
    let paid = &debt["paid"][0];
    assert_eq!(
        paid["patch"],
        "ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown"
    );
    assert_eq!(paid["matched_by"], "patch-id");
    assert!(paid["upstream_commit"].is_string(), "{paid}");
    let text = carry_in(&demo, &["debt"]).stdout;
    assert!(
        text.contains("paid off (landed upstream, dropped by promotion):\n  ovs/netdev-dpdk-fix-a-leak-in-vhost-teardown"),
        "{text}"
    );
}
