//! Checkouts of candidates for tests, under `.carry/checkouts/<project>`.
//!
//! A checkout is a detached git worktree of the project's repository, kept between runs and
//! moved to each new candidate with `git checkout --force`, so only changed files are
//! rewritten and build outputs left in it survive (incremental builds stay incremental). The
//! user's own working trees and branches are never involved.

use std::path::Path;
use std::process::Command;

/// Why a checkout could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot check out {commit} into {}: {stderr}", dir.display())]
pub struct CheckoutError {
    /// The commit.
    pub commit: String,
    /// The checkout directory.
    pub dir: std::path::PathBuf,
    /// What git said.
    pub stderr: String,
}

/// Makes `dir` a checkout of `commit` from the repository at `repo`.
pub fn checkout(repo: &Path, dir: &Path, commit: &str) -> Result<(), CheckoutError> {
    let fail = |stderr: String| CheckoutError {
        commit: commit.to_owned(),
        dir: dir.to_owned(),
        stderr,
    };
    if dir.join(".git").exists() {
        // A run killed while the checkout was made can leave it half-registered: start over.
        if git(dir, &["checkout", "--quiet", "--force", "--detach", commit]).is_ok() {
            return Ok(());
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
    }
    git(repo, &["worktree", "prune"]).map_err(fail)?;
    let target = dir.to_string_lossy().into_owned();
    git(
        repo,
        &[
            "worktree", "add", "--quiet", "--force", "--detach", &target, commit,
        ],
    )
    .map_err(fail)
}

fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}
