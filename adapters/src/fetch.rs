//! Bringing an upstream into a project's repository, with the user's own `git`.
//!
//! Fetching runs the `git` command rather than libgit2 so that https and ssh work exactly as
//! they do for the user: credential helpers, `~/.ssh/config`, agents, proxies and `insteadOf`
//! rewrites all apply. The upstream branch lands under `refs/carry/upstream/heads/` and its
//! tags under `refs/carry/upstream/tags/`, never in the user's own refs.

use std::path::Path;
use std::process::Command;

use crate::git::UPSTREAM_HEADS;
use crate::git::UPSTREAM_TAGS;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// `git` could not be started.
    #[error("cannot run git")]
    Spawn(#[source] std::io::Error),
    /// carry refuses to pass this to git.
    #[error("{0}")]
    Refused(String),
    /// `git` ran and failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments, for the user to retry by hand.
        args: String,
        /// What git said.
        stderr: String,
    },
}

/// Creates a bare repository at `repo` if nothing is there yet.
pub fn ensure_repository(repo: &Path) -> Result<bool, FetchError> {
    if repo.exists() {
        return Ok(false);
    }
    run(
        None,
        &["init", "--quiet", "--bare", &repo.to_string_lossy()],
    )?;
    Ok(true)
}

/// Fetches `reference` (a branch or tag) and every tag of `source` (a URL or a path) into
/// `repo`; returns nothing, the refs say what arrived.
pub fn fetch_upstream(repo: &Path, source: &str, reference: &str) -> Result<(), FetchError> {
    if source.starts_with('-') {
        return Err(FetchError::Refused(format!(
            "upstream '{source}' starts with '-', which git would read as an option"
        )));
    }
    // `main~3` is fetched as `main`; the suffix is resolved in the fetched history.
    let name = carry_graph::manifest::revision_name(reference);
    let heads = format!("+{name}:{UPSTREAM_HEADS}{name}");
    let tags = format!("+refs/tags/*:{UPSTREAM_TAGS}*");
    run(
        Some(repo),
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--prune",
            "--",
            source,
            &heads,
            &tags,
        ],
    )
}

fn run(dir: Option<&Path>, args: &[&str]) -> Result<(), FetchError> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    // Never prompt on a terminal in the middle of a nightly run.
    command.env("GIT_TERMINAL_PROMPT", "0").args(args);
    let output = command.output().map_err(FetchError::Spawn)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(FetchError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
