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
