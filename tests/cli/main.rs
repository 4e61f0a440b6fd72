//! End-to-end tests of the carry binary against workspaces and real git repositories built in
//! code.

#[path = "../support/mod.rs"]
mod support;

mod ci_output;
mod completions;
mod conflicts;
mod debt;
mod doctor;
mod furthest;
mod fuzz_seeds;
mod init;
mod manifest_diagnostics;
mod nightly;
mod notify;
mod planner;
mod promotion;
mod queries;
mod resolutions;
mod resume;
mod run_rebase;
mod series_validation;
mod service;
mod slurm;
mod stopping;
