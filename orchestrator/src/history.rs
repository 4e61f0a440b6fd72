//! What the workspace remembers of its runs, for the faces to read: the list of runs, their
//! reports, and whether a run holds the workspace now. The faces never open the store or the
//! lock themselves.

use carry_adapters::lock::LockError;
use carry_adapters::lock::LockHolder;
use carry_adapters::lock::WorkspaceLock;
pub use carry_adapters::store::RunRecord;
pub use carry_adapters::store::RunState;
use carry_adapters::store::Store;
use carry_adapters::store::StoreError;

use crate::report::RunReport;
use crate::workspace::LoadedWorkspace;

/// Why the history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored report does not parse: the run failed or was interrupted before it had one,
    /// or a newer carry wrote it.
    #[error("run '{run}' has no readable report; it may have failed or been interrupted")]
    Unreadable {
        /// The run.
        run: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The workspace lock could not be probed.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// The runs of one workspace.
#[derive(Debug)]
pub struct History {
    store: Store,
    /// The recorded resolutions and reviews, read once for every report this reads.
    reviews: std::sync::OnceLock<crate::reviews::Reviews>,
}

impl History {
    /// Opens the workspace's history (an empty one before the first run).
    pub fn open(workspace: &LoadedWorkspace) -> Result<Self, HistoryError> {
        Ok(Self {
            store: Store::open(&workspace.state_dir())?,
            reviews: std::sync::OnceLock::new(),
        })
    }

    /// The most recent runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        Ok(self.store.runs(limit)?)
    }

    /// The newest run that has a report.
    pub fn last_reported(&self) -> Result<Option<String>, HistoryError> {
        Ok(self.store.last_reported_run()?)
    }

    /// A run's report, with each re-applied resolution's review as it stands now; `None`
    /// when the run is unknown or has none.
    pub fn report(&self, run: &str) -> Result<Option<RunReport>, HistoryError> {
        let Some(text) = self.store.report(run)? else {
            return Ok(None);
        };
        let mut report: RunReport =
            serde_json::from_str(&text).map_err(|source| HistoryError::Unreadable {
                run: run.to_owned(),
                source,
            })?;
        if self.reviews.get().is_none() {
            let _ = self
                .reviews
                .set(crate::reviews::Reviews::load(&self.store)?);
        }
        if let Some(reviews) = self.reviews.get() {
            reviews.mark_report(&mut report);
        }
        Ok(Some(report))
    }

    /// The store, for what reads more than reports.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// A run's report as JSON text, to serve: as the store keeps it, except that a report
    /// with a re-applied resolution is re-made, so its reviews are as they stand now.
    pub fn report_json(&self, run: &str) -> Result<Option<String>, HistoryError> {
        let Some(text) = self.store.report(run)? else {
            return Ok(None);
        };
        if !text.contains("\"resolution\"") {
            return Ok(Some(text));
        }
        let report = self.report(run)?;
        Ok(report.and_then(|r| serde_json::to_string(&r).ok()))
    }

    /// A run's record, if the workspace knows it.
    pub fn run(&self, run: &str) -> Result<Option<RunRecord>, HistoryError> {
        Ok(self
            .store
            .runs(usize::MAX)?
            .into_iter()
            .find(|r| r.id == run))
    }

    /// The newest run's report, if any run has one.
    pub fn last_report(&self) -> Result<Option<RunReport>, HistoryError> {
        match self.last_reported()? {
            Some(run) => self.report(&run),
            None => Ok(None),
        }
    }

    /// Whether the newest run did not finish (killed or stopped): the next run resumes it.
    pub fn resume_pending(&self) -> Result<bool, HistoryError> {
        Ok(self
            .runs(1)?
            .first()
            .is_some_and(|run| matches!(run.status, RunState::Interrupted | RunState::Running)))
    }
}

/// Whether a run (here or from another process) holds the workspace: `Err(Lock(Held…))`
/// says who; `Ok(())` means a run could start now.
pub fn probe_lock(workspace: &LoadedWorkspace, asking: &str) -> Result<(), HistoryError> {
    let lock = WorkspaceLock::acquire(
        &workspace.state_dir(),
        &LockHolder {
            run: asking.to_owned(),
            pid: std::process::id(),
            started_at: carry_adapters::store::now(),
        },
    )?;
    lock.release();
    Ok(())
}
