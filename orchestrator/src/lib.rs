//! carry's engine: drives the adapters over the workspace graph.
//!
//! - [`workspace`]: finding and loading the workspace.
//! - [`validate`]: the manifest, every series and every feature patch id.
//! - [`plan`]: the plan of a run as a value, which `--dry-run` prints and `run` executes.
//! - [`run`]: the nightly job: fetch, plan, then execute the plan and report.
//! - [`options`], [`events`], [`error`]: what a run is asked, what it tells, why it failed.
//! - `fetching`, `rebasing`, `test_phase`: a run's steps (`git fetch`, in-memory rebases side
//!   by side, tests stage by stage); `series_inputs`, `series_memory`, `features`: what they
//!   read and decide.
//! - [`executor`]: where tests run; [`executor::LocalExecutor`] by default.
//! - [`refs`]: the refs carry writes in project repositories.
//! - [`history`]: the runs the workspace remembers and their reports, for the faces.
//! - [`debt`]: the patch-debt ledger: ages, upstream states, deadlines.
//! - [`promote`]: moving series to a run's results, each series atomically; the changes are a
//!   recorded [`promotion_plan`] that any later command finishes if a promotion was cut short.
//! - [`trial`]: `impact --to`: a trial rebase in memory that records nothing.
//! - [`report`]: the run report, schema `carry.run/v1`.
//! - [`graph_view`]: the workspace graph as a serializable view, for `graph` and the service.
//! - [`queries`]: the graph-level questions (`graph`, `order`, `impact`) over a loaded workspace.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conflicts;
pub mod debt;
pub mod doctor;
pub mod error;
pub mod events;
pub mod executor;
mod features;
mod fetching;
pub mod furthest;
pub mod graph_view;
pub mod history;
pub mod init;
/// The workspace lock's errors, as the faces match on them.
pub mod lock {
    pub use carry_adapters::lock::LockError;
}
pub mod notify;
pub mod options;
pub mod plan;
pub mod promote;
pub mod promotion_plan;
pub mod queries;
mod rebasing;
pub mod refs;
pub mod report;
pub mod resolutions;
pub mod resolve;
pub mod review;
pub mod reviews;
pub mod run;
mod series_inputs;
mod series_memory;
pub mod slurm_executor;
mod test_phase;
pub mod trial;
pub mod validate;
pub mod webhooks;
pub mod workspace;
