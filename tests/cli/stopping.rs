//! Stopping is prompt and leaves nothing running: SIGTERM to `carry run` or `carry serve`
//! while a test runs ends the test (and what it started, even outside its process group) at
//! once, records the run as interrupted, and the next run resumes it; a carry killed with
//! SIGKILL leaves test processes that the next command ends.

use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use carry_adapters::store::RunState;
use carry_adapters::store::Store;

use crate::service::request;
use crate::service::serve_with;
use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::hermetic;

/// The demo with the kernel's test replaced by one that starts a process outside its group
/// (its pid in `escaped.pid`) and then waits long; returns the workspace.
fn workspace_with_a_long_test(dir: &Path) -> PathBuf {
    let demo = demo_workspace(dir, "ws");
    assert_eq!(carry_in(&demo, &["fetch"]).code, 0);
    let manifest = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");
    let marker = demo.join("escaped.pid");
    let long = format!(
        "test = \"setsid sh -c 'echo $$ > {}; exec sleep 300' & sleep 300\"",
        marker.display()
    );
    let edited = manifest.replacen("test = \"sh check.sh\"", &long, 1);
    assert_ne!(edited, manifest);
    std::fs::write(demo.join("carry.toml"), edited).expect("write");
    demo
}

fn restore_the_test(demo: &Path) {
    let manifest = std::fs::read_to_string(demo.join("carry.toml")).expect("manifest");
    let start = manifest.find("test = \"setsid").expect("the long test");
    let end = start + manifest[start..].find('\n').expect("line");
    let restored = format!(
        "{}test = \"sh check.sh\"{}",
        &manifest[..start],
        &manifest[end..]
    );
    std::fs::write(demo.join("carry.toml"), restored).expect("write");
}

/// The pid the long test's escaped process wrote, once it has.
fn escaped_pid(demo: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(pid) = std::fs::read_to_string(demo.join("escaped.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the test never started");
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn gone_soon(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn wait_with_deadline(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("carry did not stop within {limit:?}");
}

/// `carry run --offline` in `demo`, in the background.
fn start_run(demo: &Path) -> std::process::Child {
    hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
        .current_dir(demo)
        .args(["run", "--offline"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("carry run")
}

fn run_states(demo: &Path) -> Vec<RunState> {
    let store = Store::open(&demo.join(".carry")).expect("store");
    store
        .runs(10)
        .expect("runs")
        .into_iter()
        .map(|run| run.status)
        .collect()
}

#[test]
fn sigterm_stops_a_run_at_once_with_its_tests_and_the_next_run_resumes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = workspace_with_a_long_test(dir.path());
    let mut run = start_run(&demo);
    let escaped = escaped_pid(&demo);
    assert!(alive(escaped));
    signal(run.id(), "TERM");
    // The test ignores nothing here: it ends at SIGTERM; the deadline is generous for CI.
    let code = wait_with_deadline(&mut run, Duration::from_secs(20));
    assert_eq!(code, Some(130), "an interrupted run exits 130");
    assert!(gone_soon(escaped), "the test's setsid process survived");
    assert_eq!(run_states(&demo).first(), Some(&RunState::Interrupted));

    restore_the_test(&demo);
    let resumed = carry_in(&demo, &["run", "--offline"]);
    // 3: the demo carries a conflict, whatever stopped before.
    assert_eq!(resumed.code, 3, "{}{}", resumed.stdout, resumed.stderr);
    assert!(resumed.stderr.contains("resuming"), "{}", resumed.stderr);
}

#[test]
fn test_processes_a_killed_carry_left_are_ended_by_the_next_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = workspace_with_a_long_test(dir.path());
    let mut run = start_run(&demo);
    let escaped = escaped_pid(&demo);
    signal(run.id(), "KILL");
    let _ = run.wait();
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(escaped), "SIGKILL leaves the test running");

    restore_the_test(&demo);
    let next = carry_in(&demo, &["run", "--offline"]);
    assert_eq!(next.code, 3, "{}{}", next.stdout, next.stderr);
    assert!(
        next.stderr.contains("a dead carry left running"),
        "{}",
        next.stderr
    );
    assert!(
        gone_soon(escaped),
        "the dead run's test survived the next run"
    );
}

#[test]
fn sigterm_stops_the_service_at_once_while_tests_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = workspace_with_a_long_test(dir.path());
    let mut server = serve_with(&demo, &[]);
    let token = std::fs::read_to_string(demo.join(".carry/token")).expect("token");
    let (status, body) = request(&server.address, "POST", "/api/v1/runs", Some(&token), "{}");
    assert_eq!(status, 202, "{body}");
    let escaped = escaped_pid(&demo);
    signal(server.child.id(), "TERM");
    let code = wait_with_deadline(&mut server.child, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", server.stderr());
    assert!(gone_soon(escaped), "the test's setsid process survived");
    assert_eq!(run_states(&demo).first(), Some(&RunState::Interrupted));
}
