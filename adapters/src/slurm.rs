//! Slurm job control through its own commands (`sbatch`, `scontrol`, `scancel`, `squeue`):
//! what a cluster's users already have, and the same calls a human would make.

use std::path::Path;
use std::process::Stdio;

/// Why Slurm could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A command could not be started (Slurm's client is not installed).
    #[error("cannot run {command}: {source} (is slurm-client installed and SLURM_CONF set?)")]
    Spawn {
        /// The command.
        command: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed: the controller is down, the partition unknown, …
    #[error("{command} failed: {stderr}")]
    Failed {
        /// The command.
        command: &'static str,
        /// What it said.
        stderr: String,
    },
}

/// A job's state as the controller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`, `NODE_FAIL`, …
    pub state: String,
    /// The exit code of the batch script, once it ended.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// The node it ran on.
    pub node: Option<String>,
    /// Why it is in that state.
    pub reason: Option<String>,
}

impl JobState {
    /// Whether the job has ended (any state but pending, running and the like).
    pub fn ended(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "STOPPED"
        )
    }
}

async fn slurm(command: &'static str, args: &[String]) -> Result<String, SlurmError> {
    let output = tokio::process::Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| SlurmError::Spawn { command, source })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(SlurmError::Failed {
            command,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Submits `script` with `args` (before it); the job's id.
pub async fn submit(script: &Path, args: &[String]) -> Result<String, SlurmError> {
    let mut all = vec!["--parsable".to_owned()];
    all.extend(args.iter().cloned());
    all.push(script.to_string_lossy().into_owned());
    let out = slurm("sbatch", &all).await?;
    // `--parsable` prints `id` or `id;cluster`.
    let id = out.trim().split(';').next().unwrap_or_default().to_owned();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(SlurmError::Failed {
            command: "sbatch",
            stderr: format!("no job id in its answer {:?}", out.trim()),
        });
    }
    Ok(id)
}

/// The job's state; `None` when the controller no longer knows the job.
pub async fn state(id: &str) -> Result<Option<JobState>, SlurmError> {
    match slurm(
        "scontrol",
        &["show".into(), "job".into(), "-o".into(), id.into()],
    )
    .await
    {
        Ok(line) => Ok(parse_state(&line)),
        Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => Ok(None),
        Err(other) => Err(other),
    }
}

/// `scontrol show job -o` output, as a state.
fn parse_state(line: &str) -> Option<JobState> {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let state = field("JobState")?;
    let (exit_code, signal) = field("ExitCode")
        .and_then(|code| {
            let (code, signal) = code.split_once(':')?;
            Some((code.parse().ok(), signal.parse().ok().filter(|s| *s != 0)))
        })
        .unwrap_or((None, None));
    Some(JobState {
        state,
        exit_code,
        signal,
        node: field("BatchHost")
            .or_else(|| field("NodeList"))
            .filter(|n| n != "(null)" && !n.is_empty()),
        reason: field("Reason").filter(|r| r != "None"),
    })
}

/// Cancels a job (nothing when it ended already).
pub async fn cancel(id: &str) -> Result<(), SlurmError> {
    slurm("scancel", &[id.to_owned()]).await.map(|_| ())
}

/// Cancels every job whose name starts with `prefix` (the jobs of a dead carry); their ids.
pub async fn cancel_named(prefix: &str) -> Result<Vec<String>, SlurmError> {
    let listed = slurm("squeue", &["-h".into(), "-o".into(), "%i %j".into()]).await?;
    let ids: Vec<String> = listed
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, name)| name.starts_with(prefix))
        .map(|(id, _)| id.to_owned())
        .collect();
    if !ids.is_empty() {
        slurm("scancel", &ids).await?;
    }
    Ok(ids)
}

/// Copies a job's output file into the test's log, keeping its first four fifths of `limit`
/// and its last fifth, with a line saying what was cut (as a local test's log).
pub fn copy_log(from: &Path, to: &Path, limit: u64) -> std::io::Result<()> {
    use std::io::Read as _;
    use std::io::Seek as _;
    use std::io::Write as _;

    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(to)?;
    let Ok(mut input) = std::fs::File::open(from) else {
        return Ok(());
    };
    let length = input.metadata()?.len();
    if length <= limit {
        std::io::copy(&mut input, &mut out)?;
        return Ok(());
    }
    let tail = limit / 5;
    let head = limit - tail;
    std::io::copy(&mut (&mut input).take(head), &mut out)?;
    writeln!(
        out,
        "\n[carry: {} bytes of output cut here; the log keeps the first {head} and the last {tail}]",
        length - head - tail
    )?;
    input.seek(std::io::SeekFrom::Start(length - tail))?;
    std::io::copy(&mut input, &mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_are_read() {
        let line = "JobId=7 JobName=carry-x JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 NodeList=vm BatchHost=vm";
        assert_eq!(
            parse_state(line),
            Some(JobState {
                state: "FAILED".to_owned(),
                exit_code: Some(3),
                signal: None,
                node: Some("vm".to_owned()),
                reason: Some("NonZeroExitCode".to_owned()),
            })
        );
        let pending =
            parse_state("JobId=8 JobState=PENDING Reason=Resources ExitCode=0:0 NodeList=(null)")
                .expect("a state");
        assert!(!pending.ended());
        assert_eq!(pending.node, None);
        assert!(parse_state("").is_none());
    }

    #[test]
    fn a_long_output_is_cut_in_the_middle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("out");
        std::fs::write(&from, "a".repeat(1000) + &"z".repeat(1000)).expect("write");
        copy_log(&from, &dir.path().join("log"), 500).expect("copied");
        let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
        assert!(log.starts_with(&"a".repeat(400)));
        assert!(log.ends_with(&"z".repeat(100)));
        assert!(log.contains("1500 bytes of output cut"));
    }
}
