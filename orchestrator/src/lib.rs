//! carry's engine: drives the adapters over the workspace graph.
//!
//! - [`workspace`]: finding and loading the workspace.
//! - [`validate`]: the manifest, every series and every feature patch id.
//! - [`run`]: the nightly job: fetch, order, rebase, candidates.
//! - `tests`: the test phase: real processes in candidate checkouts, stage by stage.
//! - [`debt`]: the patch-debt ledger: ages, upstream states, deadlines.
//! - [`promote`]: moving series to a run's results, each series atomically.
//! - [`plan`]: `--dry-run`: what a run would do, and why.
//! - [`trial`]: `impact --to`: a trial rebase in memory that records nothing.
//! - [`report`]: the run report, schema `carry.run/v1`.
//! - [`queries`]: the graph-level questions (`graph`, `order`, `impact`) over a loaded workspace.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod debt;
pub mod plan;
pub mod promote;
pub mod promotion_plan;
pub mod queries;
pub mod report;
pub mod run;
mod tests;
pub mod trial;
pub mod validate;
pub mod workspace;
