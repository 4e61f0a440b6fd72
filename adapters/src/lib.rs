//! carry's adapters to the outside world; each wraps one thing behind a small API.
//!
//! - [`git`]: project repositories through git2, local upstreams read in place.
//! - [`commits`]: the commits of a branch series.
//! - [`series`]: a series in either form (branch or patch directory) as named patches.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commits;
pub mod git;
pub mod series;
