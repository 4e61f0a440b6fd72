//! Test commands as real processes.
//!
//! Each command runs through `sh -c` in its own process group, with stdout and stderr into
//! one pipe that carry copies to the log, bounded ([`TestCommand::log_limit`]): its start and
//! its end are kept, with a line saying how much was cut between them, so a test that
//! prints without end fills neither the disk nor carry's memory. At the timeout the whole
//! group is killed, grandchildren included (a test that starts `sleep 1000 &` does not
//! outlive it), and after any end every process carrying the test's tag is ended too, those
//! that left the group (`setsid`, double fork) included ([`crate::process_tree`]). Asked to
//! stop ([`Cancel`]), a test gets SIGTERM at once and SIGKILL after [`STOP_GRACE`].

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use serde::Deserialize;
use serde::Serialize;

use crate::cancel::Cancel;
use crate::process_tree::Selector;
use crate::process_tree::TestTag;

/// How many lines of the log a report keeps.
pub const TAIL_LINES: usize = 20;
/// How long a line of the report's tail may be; longer ones are cut, saying so.
pub const TAIL_LINE_CHARS: usize = 1_000;
/// How long output still in the pipe is read after the test's process group ended: a
/// process that left the group (`setsid`) and holds the pipe does not keep carry waiting.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long a test asked to stop has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

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
    /// How many bytes of its output the log keeps: the first four fifths and the last
    /// fifth, with a line saying what was cut between them.
    pub log_limit: u64,
    /// The tags its processes carry, by which every one of them is ended with it.
    pub tag: Option<TestTag>,
    /// Arguments for a cluster scheduler's job (`sbatch`), when it runs as one.
    pub scheduler_args: Vec<String>,
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
    /// Stopped because the run was asked to stop: it says nothing about the test.
    Interrupted,
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
    /// The cluster job it ran as, when it ran on a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
}

/// A test's job on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    /// The scheduler's job id.
    pub id: String,
    /// The node it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
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

/// Runs `test` to its end, its timeout, or until `cancel` asks it to stop.
pub async fn run_test(test: &TestCommand, cancel: &Cancel) -> Result<TestRun, ProcessError> {
    let log_error = |source| ProcessError::Log {
        path: test.log.clone(),
        source,
    };
    if let Some(parent) = test.log.parent() {
        std::fs::create_dir_all(parent).map_err(log_error)?;
    }
    let log = std::fs::File::create(&test.log).map_err(log_error)?;
    let (reader, writer) = std::io::pipe().map_err(log_error)?;
    let writer_err = writer.try_clone().map_err(log_error)?;
    let started = Instant::now();
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&test.command)
        .current_dir(&test.dir)
        .envs(test.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(test.tag.iter().flat_map(TestTag::env))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        .process_group(0)
        .kill_on_drop(true);
    let spawned = command.spawn();
    // Our copies of the pipe's writing end go now: the pipe ends when the test's do.
    drop(command);
    let mut child = spawned.map_err(|source| ProcessError::Spawn {
        command: test.command.clone(),
        source,
    })?;
    let receiver =
        tokio::net::unix::pipe::Receiver::from_owned_fd(std::os::fd::OwnedFd::from(reader))
            .map_err(log_error)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let tail_bytes = usize::try_from(test.log_limit / 5).unwrap_or(usize::MAX);
    let head_bytes = test.log_limit - test.log_limit / 5;
    let mut copy = tokio::spawn(copy_bounded(
        receiver,
        log,
        (head_bytes, tail_bytes),
        stopped,
    ));
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let signal_group = |signal| {
        if let Some(group) = group {
            // ESRCH (nothing left in the group) is the usual, happy case.
            let _ = killpg(group, signal);
        }
    };
    let (ended, exit_code) = tokio::select! {
        waited = tokio::time::timeout(test.timeout, child.wait()) => match waited {
            Ok(Ok(status)) => match status.code() {
                Some(0) => (Ended::Passed, Some(0)),
                code => (Ended::Failed, code),
            },
            Ok(Err(_)) => (Ended::Failed, None),
            Err(_elapsed) => (Ended::Timeout, None),
        },
        () = cancel.cancelled() => {
            signal_group(Signal::SIGTERM);
            let _ = tokio::time::timeout(STOP_GRACE, child.wait()).await;
            (Ended::Interrupted, None)
        }
    };
    signal_group(Signal::SIGKILL);
    let _ = child.wait().await;
    if let Some(tag) = test.tag.clone() {
        let _ = tokio::task::spawn_blocking(move || crate::process_tree::end(Selector::Test(&tag)))
            .await;
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let copied = match tokio::time::timeout(DRAIN_GRACE, &mut copy).await {
        Ok(copied) => copied,
        Err(_) => {
            let _ = stop.send(());
            copy.await
        }
    };
    match copied {
        Ok(Ok(())) => {}
        Ok(Err(source)) => return Err(log_error(source)),
        Err(_) => return Err(log_error(std::io::Error::other("the log's copier died"))),
    }
    Ok(TestRun {
        ended,
        exit_code,
        duration_ms,
        tail: tail(&test.log),
        job: None,
    })
}

/// Copies a test's output from `pipe` to `log`: the first `head` bytes as they come, then
/// only the last `tail` in memory, written after a line saying how much was cut when the pipe
/// ends or `stop` says to finish.
async fn copy_bounded(
    mut pipe: tokio::net::unix::pipe::Receiver,
    mut log: std::fs::File,
    (head, tail_bytes): (u64, usize),
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()> {
    use std::io::Write as _;

    use tokio::io::AsyncReadExt as _;

    let mut buffer = vec![0u8; 64 << 10];
    let mut written: u64 = 0;
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut cut: u64 = 0;
    loop {
        let read = tokio::select! {
            read = pipe.read(&mut buffer) => read?,
            _ = &mut stop => 0,
        };
        if read == 0 {
            break;
        }
        let mut chunk = &buffer[..read];
        let room = usize::try_from(head.saturating_sub(written)).unwrap_or(usize::MAX);
        if room > 0 {
            let head = chunk.len().min(room);
            log.write_all(&chunk[..head])?;
            written += head as u64;
            chunk = &chunk[head..];
        }
        tail.extend(chunk);
        if tail.len() > tail_bytes {
            let over = tail.len() - tail_bytes;
            tail.drain(..over);
            cut += over as u64;
        }
    }
    if cut > 0 {
        writeln!(
            log,
            "\n[carry: {cut} bytes of output cut here; the log keeps the first {head} and the last {tail_bytes}]"
        )?;
    }
    let (front, back) = tail.as_slices();
    log.write_all(front)?;
    log.write_all(back)?;
    log.flush()
}

/// The last [`TAIL_LINES`] lines of a log, each cut at [`TAIL_LINE_CHARS`]; only the log's
/// end is read.
pub fn tail(log: &std::path::Path) -> Vec<String> {
    use std::io::Read as _;
    use std::io::Seek as _;

    const END: u64 = 256 << 10;
    let Ok(mut file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let length = file.metadata().map_or(0, |m| m.len());
    let from = length.saturating_sub(END);
    let mut bytes = Vec::new();
    if file.seek(std::io::SeekFrom::Start(from)).is_err()
        || file.take(END).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if from > 0 && !lines.is_empty() {
        // The first line read may be the end of a longer one.
        lines.remove(0);
    }
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|line| match line.char_indices().nth(TAIL_LINE_CHARS) {
            Some((at, _)) => format!("{} [cut]", &line[..at]),
            None => (*line).to_owned(),
        })
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
            log_limit: 10 << 20,
            scheduler_args: Vec::new(),
            tag: Some(TestTag {
                workspace: format!("process-test-{}", std::process::id()),
                test: format!("run/{}", dir.display()),
            }),
        }
    }

    #[tokio::test]
    async fn exit_codes_and_output_are_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let passed = run_test(
            &command(
                dir.path(),
                "echo hello $CARRY_PROJECT",
                Duration::from_secs(10),
            ),
            &Cancel::new(),
        )
        .await
        .expect("runs");
        assert_eq!(passed.ended, Ended::Passed);
        assert_eq!(passed.tail, ["hello qemu"]);
        let failed = run_test(
            &command(dir.path(), "echo oops >&2; exit 3", Duration::from_secs(10)),
            &Cancel::new(),
        )
        .await
        .expect("runs");
        assert_eq!((failed.ended, failed.exit_code), (Ended::Failed, Some(3)));
        assert_eq!(failed.tail, ["oops"]);
    }

    /// A test that prints without end leaves a bounded log: its head, a line saying what was
    /// cut, and its tail; the report's lines are cut too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_keeps_its_head_and_tail_whatever_a_test_prints() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = "echo first; head -c 30000000 /dev/zero | tr '\\0' x; echo; echo last";
        let run = run_test(
            &command(dir.path(), script, Duration::from_secs(60)),
            &Cancel::new(),
        )
        .await
        .expect("runs");
        assert_eq!(run.ended, Ended::Passed);
        let log = std::fs::read(dir.path().join("logs/test.log")).expect("log");
        let cap = (10 << 20) + 200;
        assert!(log.len() as u64 <= cap, "{} bytes", log.len());
        assert!(log.starts_with(b"first\n"));
        assert!(log.ends_with(b"\nlast\n"));
        let text = String::from_utf8_lossy(&log);
        assert!(text.contains("bytes of output cut here"), "no marker");
        assert_eq!(run.tail.last().map(String::as_str), Some("last"));
        assert!(
            run.tail
                .iter()
                .all(|l| l.chars().count() <= TAIL_LINE_CHARS + 6)
        );
    }

    /// A process that left the group and still holds the output pipe does not keep the test
    /// from ending, and does not outlive it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_escaped_process_holding_the_output_does_not_hold_the_test() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("escaped.pid");
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 30' & sleep 0.2; echo done",
            marker.display()
        );
        let started = Instant::now();
        let run = run_test(
            &command(dir.path(), &script, Duration::from_secs(20)),
            &Cancel::new(),
        )
        .await
        .expect("runs");
        assert_eq!(run.ended, Ended::Passed);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(run.tail, ["done"]);
        let pid: i32 = std::fs::read_to_string(&marker)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        assert!(!alive(pid), "the setsid process survived its test");
    }

    fn alive(pid: i32) -> bool {
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z")
    }

    /// Asked to stop, a test ends within the grace, what it started with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_test_stops_at_once_with_everything_it_started() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("escaped.pid");
        let script = format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 60' & trap '' TERM; sleep 60",
            marker.display()
        );
        let cancel = Cancel::new();
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stopper.cancel();
        });
        let started = Instant::now();
        let run = run_test(
            &command(dir.path(), &script, Duration::from_secs(60)),
            &cancel,
        )
        .await
        .expect("runs");
        assert_eq!(run.ended, Ended::Interrupted);
        let took = started.elapsed();
        assert!(took < STOP_GRACE + Duration::from_secs(3), "{took:?}");
        let pid: i32 = std::fs::read_to_string(&marker)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        assert!(!alive(pid), "the setsid process survived the stop");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("grandchild.pid");
        let script = format!("sleep 1000 & echo $! > {}; wait", marker.display());
        let started = Instant::now();
        let run = run_test(
            &command(dir.path(), &script, Duration::from_millis(500)),
            &Cancel::new(),
        )
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
        assert!(!alive(pid), "sleep 1000 survived the timeout");
    }
}
