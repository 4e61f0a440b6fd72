//! carry's engine: drives the adapters over the workspace graph.
//!
//! - [`workspace`]: finding and loading the workspace.
//! - [`validate`]: the manifest, every series and every feature patch id.
//! - [`run`]: the nightly job: fetch, order, rebase, candidates.
//! - [`report`]: the run report, schema `carry.run/v1`.
//! - [`queries`]: the graph-level questions (`graph`, `order`, `impact`) over a loaded workspace.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod queries;
pub mod report;
pub mod run;
pub mod validate;
pub mod workspace;
