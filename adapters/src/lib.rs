//! carry's adapters to the outside world; each wraps one thing behind a small API.
//!
//! - [`git`]: project repositories through git2, local upstreams read in place.
//! - [`commits`]: the commits of a branch series.
//! - [`series`]: a series in either form (branch or patch directory) as named patches.
//! - [`patchfile`]: `git format-patch` mails and DEP-3 diffs, parsed.
//! - [`rebase`]: the in-memory rebase engine: landed detection, path-limited merges, census.
//! - [`pack`]: the objects a rebase made, written once as one pack.
//! - [`store`]: the embedded store (SQLite): runs, journal, outcomes, caches, results.
//! - [`lock`]: one run per workspace; a dead run's lock is free again.
//! - [`process`]: test commands as real processes, with timeouts that end the whole group.
//! - [`checkout`]: the candidate checkouts tests run in, under `.carry/`.
//! - [`publish`]: atomic publication: branch compare-and-swap, directory exchange, file replace.
//! - [`fetch`]: bringing upstreams into project repositories with the user's own git.
//! - [`resolution_transfer`]: recorded resolutions as a file and as refs a team shares.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cancel;
pub mod checkout;
pub mod commits;
pub mod diff;
pub mod fetch;
pub mod git;
pub mod lock;
pub mod notify;
pub mod pack;
pub mod patchfile;
pub mod paths;
pub mod process;
pub mod process_tree;
pub mod publish;
pub mod rebase;
pub mod resolution_transfer;
pub mod series;
pub mod slurm;
pub mod store;
