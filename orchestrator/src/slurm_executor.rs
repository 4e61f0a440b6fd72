//! Tests as jobs on a Slurm cluster.
//!
//! Each test becomes one batch job: a script in the shared directory that enters the
//! candidate's checkout (also in the shared directory, so every node sees it), sets the
//! usual `CARRY_*` environment and runs the test's command. The job's time limit is the
//! test's timeout; its output file is copied into the test's log when it ends. carry polls
//! the controller for the job's state and reads how it ended: `COMPLETED` passed, `FAILED`
//! (or out of memory) failed with its exit code, `TIMEOUT` timed out; a job the cluster lost
//! (node failure, cancelled by someone else, preempted) is reported as that, never as a test
//! failure. A stop (timeout, ctrl-c, `serve` shutting down) cancels the job; jobs are named
//! `carry-<workspace tag>-…`, so the next run cancels what a dead carry left.

use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use carry_adapters::cancel::Cancel;
use carry_adapters::process::Ended;
use carry_adapters::process::JobRef;
use carry_adapters::process::TestCommand;
use carry_adapters::process::TestRun;
use carry_adapters::slurm;

use crate::executor::Executor;
use crate::executor::TestFuture;

/// How often the controller is asked about a job.
const POLL: Duration = Duration::from_millis(250);
/// How long past its time limit carry waits for the cluster to end a job before it cancels
/// it itself (Slurm ends jobs on whole minutes, with a grace period).
const LIMIT_GRACE: Duration = Duration::from_secs(90);

/// Tests as Slurm jobs.
#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    partition: Option<String>,
    shared_dir: PathBuf,
    sbatch_args: Vec<String>,
}

impl SlurmExecutor {
    /// An executor submitting to `partition` (the cluster's default when `None`), with
    /// checkouts, scripts and job output under `shared_dir`.
    pub fn new(partition: Option<String>, shared_dir: PathBuf, sbatch_args: Vec<String>) -> Self {
        Self {
            partition,
            shared_dir,
            sbatch_args,
        }
    }
}

/// The prefix of every job name of one workspace.
fn job_prefix(workspace_tag: &str) -> String {
    format!("carry-{workspace_tag}-")
}

/// `value` quoted for `sh`.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The batch script of `test`.
fn script(test: &TestCommand) -> String {
    let mut body = String::from("#!/bin/sh\n# written by carry: one test, as a Slurm job\n");
    body.push_str(&format!(
        "cd {} || exit 125\n",
        quote(&test.dir.to_string_lossy())
    ));
    // Not the process-tree tags: they are for this machine's processes, and a job is ended
    // through the cluster (a one-node cluster's jobs would otherwise be swept as local
    // leftovers before the cluster is asked).
    for (key, value) in &test.env {
        body.push_str(&format!("export {key}={}\n", quote(value)));
    }
    body.push_str(&format!("exec sh -c {}\n", quote(&test.command)));
    body
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn checkout_root(&self, workspace_tag: &str) -> Option<PathBuf> {
        Some(self.shared_dir.join(workspace_tag).join("checkouts"))
    }

    fn parallel(&self, _jobs: usize) -> usize {
        usize::MAX
    }

    fn end_leftovers(&self, workspace_tag: &str) -> Result<Vec<String>, String> {
        let prefix = job_prefix(workspace_tag);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(slurm::cancel_named(&prefix))
            .map_err(|e| e.to_string())
    }

    fn run(&self, test: TestCommand, cancel: Cancel) -> TestFuture {
        let executor = self.clone();
        Box::pin(async move { executor.run_job(test, cancel).await })
    }
}

impl SlurmExecutor {
    async fn run_job(self, test: TestCommand, cancel: Cancel) -> Result<TestRun, String> {
        let (workspace_tag, test_name) = test.tag.as_ref().map_or_else(
            || ("untagged".to_owned(), "test".to_owned()),
            |t| (t.workspace.clone(), t.test.replace('/', "-")),
        );
        let job_dir = self
            .shared_dir
            .join(&workspace_tag)
            .join("jobs")
            .join(&test_name);
        std::fs::create_dir_all(&job_dir)
            .map_err(|e| format!("cannot make {}: {e}", job_dir.display()))?;
        let script_path = job_dir.join("job.sh");
        let output = job_dir.join("output.log");
        let _ = std::fs::remove_file(&output);
        std::fs::write(&script_path, script(&test))
            .map_err(|e| format!("cannot write {}: {e}", script_path.display()))?;
        // `--time=M:SS`: the cluster checks limits every half minute or so, so a short
        // timeout ends a little late, never early.
        let seconds = test.timeout.as_secs().max(1);
        let mut args = vec![
            format!("--job-name={}{test_name}", job_prefix(&workspace_tag)),
            format!("--time={}:{:02}", seconds / 60, seconds % 60),
            format!("--output={}", output.display()),
            format!("--chdir={}", test.dir.display()),
            "--export=ALL".to_owned(),
        ];
        if let Some(partition) = &self.partition {
            args.push(format!("--partition={partition}"));
        }
        args.extend(self.sbatch_args.iter().cloned());
        args.extend(test.scheduler_args.iter().cloned());
        let started = Instant::now();
        let id = slurm::submit(&script_path, &args)
            .await
            .map_err(|e| format!("cannot submit the test's job: {e}"))?;
        tracing::debug!(job = %id, "submitted");
        let limit = test.timeout + LIMIT_GRACE;
        let mut cancelled_by_us = false;
        let finished = loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = cancel.cancelled(), if !cancelled_by_us => {
                    cancelled_by_us = true;
                    let _ = slurm::cancel(&id).await;
                }
            }
            if !cancelled_by_us && started.elapsed() > limit {
                // The cluster did not end it at its limit: carry does.
                let _ = slurm::cancel(&id).await;
                break None;
            }
            match slurm::state(&id).await {
                Ok(Some(state)) if state.ended() => break Some(state),
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(format!("the cluster forgot job {id} before it ended"));
                }
                Err(error) if cancelled_by_us => {
                    tracing::warn!(%error, job = %id, "cannot read a cancelled job's state");
                    break None;
                }
                Err(error) => {
                    let _ = slurm::cancel(&id).await;
                    return Err(format!("cannot follow job {id}: {error}"));
                }
            }
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Err(error) = slurm::copy_log(&output, &test.log, test.log_limit) {
            return Err(format!(
                "cannot copy job {id}'s output to {}: {error}",
                test.log.display()
            ));
        }
        let node = finished.as_ref().and_then(|s| s.node.clone());
        let (ended, exit_code) = match (&finished, cancelled_by_us) {
            (_, true) => (Ended::Interrupted, None),
            (None, false) => (Ended::Timeout, None),
            (Some(state), false) => match state.state.as_str() {
                "COMPLETED" => (Ended::Passed, Some(0)),
                "FAILED" | "OUT_OF_MEMORY" => (Ended::Failed, state.exit_code),
                "TIMEOUT" | "DEADLINE" => (Ended::Timeout, None),
                other => {
                    return Err(format!(
                        "the cluster ended job {id} {other}{}{}: not the test's doing",
                        node.as_deref()
                            .map(|n| format!(" on {n}"))
                            .unwrap_or_default(),
                        state
                            .reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ));
                }
            },
        };
        Ok(TestRun {
            ended,
            exit_code,
            duration_ms,
            tail: carry_adapters::process::tail(&test.log),
            job: Some(JobRef { id, node }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_enters_the_checkout_and_quotes_everything() {
        let test = TestCommand {
            command: "echo 'it''s' && make check".to_owned(),
            dir: PathBuf::from("/shared/carry/x/checkouts/qemu"),
            env: vec![("CARRY_PROJECT".to_owned(), "qemu".to_owned())],
            timeout: Duration::from_secs(90),
            log: PathBuf::from("/tmp/log"),
            log_limit: 1 << 20,
            tag: None,
            scheduler_args: Vec::new(),
        };
        let written = script(&test);
        assert!(written.contains("cd '/shared/carry/x/checkouts/qemu' || exit 125\n"));
        assert!(written.contains("export CARRY_PROJECT='qemu'\n"));
        assert!(written.contains(r"exec sh -c 'echo '\''it'\'''\''s'\'' && make check'"));
    }
}
