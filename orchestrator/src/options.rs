//! What a run is asked to do: the knobs every face (CLI, service, demo) sets.

pub use carry_adapters::cancel::Cancel;
use carry_graph::ProjectName;

/// What to run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunOptions {
    /// Only these projects and what depends on them; every project when empty.
    pub projects: Vec<ProjectName>,
    /// Redo every selected project, moved or not.
    pub all: bool,
    /// Do not fetch; use the upstream refs as they are.
    pub offline: bool,
    /// Skip the bisection for each conflict's first bad upstream commit.
    pub skip_first_bad: bool,
    /// Rebase only; run no tests.
    pub no_test: bool,
    /// How many tests of one stage may run side by side (at least 1).
    pub jobs: usize,
    /// Redo every step: reuse no rebase or test result recorded for the same inputs.
    pub fresh: bool,
    /// The run's id, when the caller chose it (the service answers with it before starting).
    #[serde(skip)]
    pub run_id: Option<String>,
    /// Cancelled to stop the run: running tests are stopped at once (SIGTERM, then SIGKILL),
    /// the rebase phase stops after the stage it is on; the run is recorded as interrupted
    /// and the next run resumes it.
    #[serde(skip)]
    pub cancel: Cancel,
}

impl RunOptions {
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
