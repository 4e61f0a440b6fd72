//! carry's adapters to the outside world; each wraps one thing behind a small API.
//!
//! - [`git`]: project repositories through git2, local upstreams read in place.
//! - [`commits`]: the commits of a branch series.
//! - [`series`]: a series in either form (branch or patch directory) as named patches.
//! - [`patchfile`]: `git format-patch` mails and DEP-3 diffs, parsed.
//! - [`rebase`]: the in-memory rebase engine: landed detection, path-limited merges, census.
//! - [`fetch`]: bringing upstreams into project repositories with the user's own git.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commits;
pub mod fetch;
pub mod git;
pub mod patchfile;
pub mod rebase;
pub mod series;
