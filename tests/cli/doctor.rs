//! `carry doctor` on real workspaces: sound after a run, and each kind of damage found with
//! what to do, without changing anything.

use std::path::Path;
use std::process::Stdio;

use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

fn findings(demo: &Path) -> (i32, Vec<serde_json::Value>) {
    let doctor = carry_in(demo, &["doctor", "--json"]);
    let report = json(&doctor.stdout);
    assert_eq!(report["schema"], "carry.doctor/v1");
    (
        doctor.code,
        report["findings"].as_array().cloned().unwrap_or_default(),
    )
}

fn finding<'a>(
    found: &'a [serde_json::Value],
    check: &str,
    severity: &str,
) -> &'a serde_json::Value {
    found
        .iter()
        .find(|f| f["check"] == check && f["severity"] == severity)
        .unwrap_or_else(|| panic!("no {severity} {check} in {found:#?}"))
}

#[test]
fn a_workspace_after_a_run_is_sound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let (code, found) = findings(&demo);
    assert_eq!(code, 0, "{found:#?}");
    assert!(found.iter().all(|f| f["severity"] == "ok"), "{found:#?}");
    let text = carry_in(&demo, &["doctor"]);
    assert!(
        text.stdout.contains("sound, schema version"),
        "{}",
        text.stdout
    );
}

#[test]
fn each_kind_of_damage_is_found_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let state = demo.join(".carry");

    // A test process a dead carry left (it carries the workspace's tag).
    let tag = carry_adapters::process_tree::workspace_tag(&state);
    let mut leftover = std::process::Command::new("sleep")
        .arg("300")
        .env(carry_adapters::process_tree::WORKSPACE_TAG_VAR, &tag)
        .env(
            carry_adapters::process_tree::TEST_TAG_VAR,
            "dead-run/kernel",
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("sleep");
    // A ref lock file a killed carry left, and a ref pointing at nothing.
    let kernel_git = demo.join("repos/kernel/.git");
    std::fs::write(kernel_git.join("refs/carry/candidate/kernel.lock"), "").expect("lock");
    std::fs::create_dir_all(kernel_git.join("refs/carry/candidate")).expect("dir");
    std::fs::write(
        demo.join("repos/qemu/.git/refs/carry/candidate/ghost"),
        "1111111111111111111111111111111111111111\n",
    )
    .expect("ref");
    // A directory where the lock file should be.
    std::fs::remove_file(state.join("lock")).expect("lock file");
    std::fs::create_dir(state.join("lock")).expect("lock dir");

    let (code, found) = findings(&demo);
    assert_eq!(code, 3, "{found:#?}");
    let processes = finding(&found, "processes", "problem");
    assert!(
        processes["summary"].as_str().is_some_and(
            |s| s.contains(&leftover.id().to_string()) && s.contains("dead-run/kernel")
        ),
        "{processes}"
    );
    assert!(
        finding(&found, "lock", "problem")["fix"]
            .as_str()
            .is_some_and(|s| s.contains("a file"))
    );
    let ghost = finding(&found, "refs", "problem");
    assert!(
        ghost["fix"]
            .as_str()
            .is_some_and(|s| s.contains("update-ref -d refs/carry/candidate/ghost")),
        "{ghost}"
    );
    assert!(
        finding(&found, "refs", "warning")["summary"]
            .as_str()
            .is_some_and(|s| s.contains("kernel.lock"))
    );
    // The doctor only looks: the leftover still runs.
    assert!(leftover.try_wait().expect("wait").is_none());
    let _ = leftover.kill();
    let _ = leftover.wait();

    // A damaged store: named, with what to do, by the doctor and by any command.
    std::fs::remove_dir(state.join("lock")).expect("lock dir");
    for extra in ["carry.db-wal", "carry.db-shm"] {
        let _ = std::fs::remove_file(state.join(extra));
    }
    let db = state.join("carry.db");
    let mut bytes = std::fs::read(&db).expect("db");
    for byte in bytes.iter_mut().skip(100) {
        *byte = 0xA5;
    }
    std::fs::write(&db, bytes).expect("write");
    let (code, found) = findings(&demo);
    assert_eq!(code, 3);
    assert!(
        finding(&found, "store", "problem")["fix"]
            .as_str()
            .is_some_and(|s| s.contains("mv .carry/carry.db"))
    );
    let report = carry_in(&demo, &["report"]);
    assert_eq!(report.code, 1);
    assert!(report.stderr.contains("carry doctor"), "{}", report.stderr);
}
