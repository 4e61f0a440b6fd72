//! Killed at any moment, a run loses nothing: SIGKILL `carry run` at random moments, again
//! and again, then check that a final run reports what an uninterrupted run reports and that
//! the user's branches, tags and patch files are byte for byte what they were.
//!
//! `CARRY_KILLS` sets the number of kills (default 24).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use carry_adapters::store::RunState;
use carry_adapters::store::Store;

use crate::support::TestRepo;
use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::hermetic;

/// What must come out the same: each project's status, patch outcomes and test status, and
/// each feature's status.
fn outcomes(report: &serde_json::Value) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for project in report["projects"].as_array().into_iter().flatten() {
        let name = project["name"].as_str().unwrap_or("").to_owned();
        found.insert(format!("{name}.status"), project["status"].to_string());
        found.insert(format!("{name}.result"), project["result"].to_string());
        found.insert(
            format!("{name}.test"),
            project["test"]["status"].to_string(),
        );
        for patch in project["patches"].as_array().into_iter().flatten() {
            found.insert(
                patch["id"].as_str().unwrap_or("").to_owned(),
                patch["outcome"].to_string(),
            );
        }
    }
    for feature in report["features"].as_array().into_iter().flatten() {
        found.insert(
            format!("feature {}", feature["name"]),
            feature["status"].to_string(),
        );
    }
    found
}

/// The user's refs (branches and tags) in every repository, and every patch file's bytes.
fn user_state(workspace: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut state = BTreeMap::new();
    for entry in std::fs::read_dir(workspace.join("repos"))
        .expect("repos")
        .flatten()
    {
        let repo = TestRepo::open(&entry.path());
        let refs = repo.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        ]);
        state.insert(
            format!("refs of {}", entry.file_name().to_string_lossy()),
            refs.into_bytes(),
        );
    }
    let mut stack = vec![workspace.join("patches")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("patches").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                state.insert(
                    path.display().to_string(),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    state
}

#[test]
fn runs_killed_at_random_moments_resume_to_the_same_outcome() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = dir.path().join("reference");
    let uninterrupted = carry_in(
        dir.path(),
        &["demo", &reference.display().to_string(), "--json"],
    );
    assert_eq!(uninterrupted.code, 0, "{}", uninterrupted.stderr);
    let expected = outcomes(&serde_json::from_str(&uninterrupted.stdout).expect("JSON"));

    let killed = demo_workspace(dir.path(), "killed");
    let before = user_state(&killed);

    let kills: u64 = std::env::var("CARRY_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut seed: u64 = 0x5eed_cafe;
    for _ in 0..kills {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = Duration::from_millis((seed >> 33) % 700);
        let mut child = hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
            .current_dir(&killed)
            .args(["-q", "run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start carry run");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_eq!(
            user_state(&killed),
            before,
            "a killed run changed the user's refs or patch files"
        );
    }

    let last = carry_in(&killed, &["run", "--json"]);
    assert_eq!(last.code, 3, "{}", last.stderr);
    assert_eq!(
        outcomes(&serde_json::from_str(&last.stdout).expect("JSON")),
        expected
    );
    assert_eq!(user_state(&killed), before);

    let store = Store::open(&killed.join(".carry")).expect("store");
    let runs = store.runs(1000).expect("runs");
    let interrupted = runs
        .iter()
        .filter(|r| r.status == RunState::Interrupted)
        .count();
    assert!(interrupted > 0, "no kill landed mid-run: {runs:?}");
    assert!(
        runs.iter().all(|r| r.status != RunState::Running),
        "every dead run was noticed"
    );
    assert!(
        runs.iter().any(|r| r.resumed_from.is_some()),
        "a run resumed a dead one"
    );
}
