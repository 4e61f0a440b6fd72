//! Where tests run: one interface, so the test phase never knows whether a test is a local
//! process or a job on a cluster. [`LocalExecutor`] (processes on this machine, in their own
//! process group, killed whole at the timeout) is the default; a cluster backend implements
//! [`Executor`] without touching the orchestrator.

use std::future::Future;
use std::pin::Pin;

use carry_adapters::cancel::Cancel;
use carry_adapters::process::TestCommand;
use carry_adapters::process::TestRun;
use carry_adapters::process::run_test;

/// A test on its way: resolves to how it ended, or why it could not run.
pub type TestFuture = Pin<Box<dyn Future<Output = Result<TestRun, String>> + Send + 'static>>;

/// Runs test commands.
pub trait Executor: Send + Sync {
    /// A short name for logs and reports: `local`, `slurm`.
    fn name(&self) -> &'static str;

    /// Starts `test` (its command, directory, environment, timeout and log). The future owns
    /// everything it needs, so the test phase can run several side by side; `Err` means the
    /// test could not be run at all, which makes its project an error, never a pass. When
    /// `cancel` is cancelled the test is stopped at once and ends
    /// [`Ended::Interrupted`](carry_adapters::process::Ended::Interrupted).
    fn run(&self, test: TestCommand, cancel: Cancel) -> TestFuture;

    /// Where checkouts of the candidates go, when not under `.carry/checkouts` (a cluster's
    /// nodes must see them); `workspace_tag` tells workspaces apart.
    fn checkout_root(&self, workspace_tag: &str) -> Option<std::path::PathBuf> {
        let _ = workspace_tag;
        None
    }

    /// How many of one stage's tests to run at once, given `--jobs`: a cluster takes them
    /// all and runs them as it can.
    fn parallel(&self, jobs: usize) -> usize {
        jobs
    }

    /// Ends what a dead run of this workspace left running on the executor; what it ended.
    /// Local processes are ended when the workspace lock is taken.
    fn end_leftovers(&self, workspace_tag: &str) -> Result<Vec<String>, String> {
        let _ = workspace_tag;
        Ok(Vec::new())
    }
}

/// The executor `[executor]` in the workspace's manifest names.
pub fn for_workspace(workspace: &crate::workspace::LoadedWorkspace) -> Box<dyn Executor> {
    match &workspace.manifest.workspace.executor {
        carry_graph::workspace::ExecutorSpec::Local => Box::new(LocalExecutor),
        carry_graph::workspace::ExecutorSpec::Slurm {
            partition,
            shared_dir,
            sbatch_args,
        } => Box::new(crate::slurm_executor::SlurmExecutor::new(
            partition.clone(),
            shared_dir.clone(),
            sbatch_args.clone(),
        )),
    }
}

/// Tests as processes on this machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalExecutor;

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(&self, test: TestCommand, cancel: Cancel) -> TestFuture {
        Box::pin(async move { run_test(&test, &cancel).await.map_err(|e| e.to_string()) })
    }
}
