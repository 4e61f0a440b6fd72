//! Progress as a stream of typed events: the CLI turns them into bars and lines, the service
//! into server-sent events, tests into assertions.

use carry_graph::ProjectName;
use serde::Serialize;

use crate::plan::RunPlan;
use crate::report::TestStatus;

/// Progress, as events a face turns into bars, lines or server-sent events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RunEvent {
    /// The run's plan, computed after fetching: what it does with each project and why.
    Planned {
        /// The plan.
        plan: RunPlan,
    },
    /// Fetching a project's upstream.
    Fetching {
        /// The project.
        project: ProjectName,
    },
    /// Rebasing a project's series.
    Rebasing {
        /// The project.
        project: ProjectName,
        /// How many patches its series has.
        patches: usize,
    },
    /// A patch is being rebased.
    Patch {
        /// The project.
        project: ProjectName,
        /// Its position in the series, from 0.
        index: usize,
        /// How many patches the series has.
        total: usize,
        /// The patch's name.
        name: String,
    },
    /// A project's earlier result for the same inputs is reused.
    Reused {
        /// The project.
        project: ProjectName,
        /// What was reused: "rebase" or "test".
        what: &'static str,
    },
    /// A test started.
    TestStarted {
        /// The project.
        project: ProjectName,
    },
    /// A test ended (or was blocked or reused).
    TestFinished {
        /// The project.
        project: ProjectName,
        /// How it ended.
        status: TestStatus,
        /// How long it ran.
        duration_ms: Option<u64>,
    },
    /// A previous run died; this one takes over, reusing the steps it finished.
    Resuming {
        /// The dead run.
        run: String,
        /// The steps it finished, from its journal ("rebased qemu", "tested kernel").
        finished: Vec<String>,
    },
    /// Test processes a dead carry left running were ended before this run started.
    LeftoversEnded {
        /// Each: its command, pid and test.
        processes: Vec<String>,
    },
    /// A project is done.
    ProjectDone {
        /// The project.
        project: ProjectName,
        /// A one-line summary.
        summary: String,
    },
}

/// Receives [`RunEvent`]s; the binary supplies one. Tests of one stage report from several
/// threads, hence `Sync`.
pub trait Progress: Sync {
    /// Called for each event, in order.
    fn event(&self, event: RunEvent);
}

/// A progress sink that drops everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: RunEvent) {}
}
