//! Test commands as real processes.
//!
//! Each command runs through `sh -c` in its own process group, with stdout and stderr into
//! one log file. At the timeout the whole group is killed, grandchildren included (a test
//! that starts `sleep 1000 &` does not outlive it), and the group is swept again after a
//! normal exit so nothing a test left behind keeps running.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use serde::Deserialize;
use serde::Serialize;

/// How many lines of the log a report keeps.
pub const TAIL_LINES: usize = 20;

/// A test to run.
#[derive(Debug, Clone)]
pub struct TestCommand {
    /// The shell command.
    pub command: String,
    /// Where it runs.
    pub dir: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// When to kill it.
    pub timeout: Duration,
    /// Where its output goes.
    pub log: PathBuf,
}

/// How a test process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ended {
    /// Exit status 0.
    Passed,
    /// Another exit status, or killed by a signal.
    Failed,
    /// Killed at its timeout.
    Timeout,
}

/// What a test run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    /// How it ended.
    pub ended: Ended,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub duration_ms: u64,
    /// The last lines of its log.
    pub tail: Vec<String>,
}

/// Why a test could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The log file could not be created.
    #[error("cannot create the log {}", path.display())]
    Log {
        /// The log.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `sh` could not be started.
    #[error("cannot start `sh -c {command:?}`")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `test` to its end or its timeout.
pub async fn run_test(test: &TestCommand) -> Result<TestRun, ProcessError> {
    let log_error = |source| ProcessError::Log {
        path: test.log.clone(),
        source,
    };
    if let Some(parent) = test.log.parent() {
        std::fs::create_dir_all(parent).map_err(log_error)?;
    }
    let log = std::fs::File::create(&test.log).map_err(log_error)?;
    let log_err = log.try_clone().map_err(log_error)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&test.command)
        .current_dir(&test.dir)
        .envs(test.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            command: test.command.clone(),
            source,
        })?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let waited = tokio::time::timeout(test.timeout, child.wait()).await;
    let kill_group = || {
        if let Some(group) = group {
            // ESRCH (nothing left in the group) is the usual, happy case.
            let _ = killpg(group, Signal::SIGKILL);
        }
    };
    let (ended, exit_code) = match waited {
        Ok(Ok(status)) => {
            kill_group();
            match status.code() {
                Some(0) => (Ended::Passed, Some(0)),
                code => (Ended::Failed, code),
            }
        }
        Ok(Err(_)) => {
            kill_group();
            (Ended::Failed, None)
        }
        Err(_elapsed) => {
            kill_group();
            let _ = child.wait().await;
            (Ended::Timeout, None)
        }
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(TestRun {
        ended,
        exit_code,
        duration_ms,
        tail: tail(&test.log),
    })
}

/// The last [`TAIL_LINES`] lines of a log.
pub fn tail(log: &std::path::Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(log) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(dir: &std::path::Path, command: &str, timeout: Duration) -> TestCommand {
        TestCommand {
            command: command.to_owned(),
            dir: dir.to_owned(),
            env: vec![("CARRY_PROJECT".to_owned(), "qemu".to_owned())],
            timeout,
            log: dir.join("logs/test.log"),
        }
    }

    #[tokio::test]
    async fn exit_codes_and_output_are_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let passed = run_test(&command(
            dir.path(),
            "echo hello $CARRY_PROJECT",
            Duration::from_secs(10),
        ))
        .await
        .expect("runs");
        assert_eq!(passed.ended, Ended::Passed);
        assert_eq!(passed.tail, ["hello qemu"]);
        let failed = run_test(&command(
            dir.path(),
            "echo oops >&2; exit 3",
            Duration::from_secs(10),
        ))
        .await
        .expect("runs");
        assert_eq!((failed.ended, failed.exit_code), (Ended::Failed, Some(3)));
        assert_eq!(failed.tail, ["oops"]);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("grandchild.pid");
        let script = format!("sleep 1000 & echo $! > {}; wait", marker.display());
        let started = Instant::now();
        let run = run_test(&command(dir.path(), &script, Duration::from_millis(500)))
            .await
            .expect("runs");
        assert_eq!(run.ended, Ended::Timeout);
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&marker)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        // The grandchild is gone (or a zombie about to be reaped by init).
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = state.split_whitespace().nth(2).is_some_and(|s| s != "Z");
        assert!(!alive, "sleep 1000 survived the timeout: {state}");
    }
}
