//! `carry resolve PROJECT/PATCH`: a place to resolve one conflict by hand, never the user's
//! checkout.
//!
//! The worktree is `.carry/resolve/<project>/<patch>/`, a detached worktree of the project's
//! repository at the candidate just before the patch (the last earlier patch's rebased commit,
//! or the new upstream base), with the patch cherry-picked without committing: conflict markers
//! in diff3 style and the index's conflict stages set, so `git mergetool` and editors work.
//! Beside it, `<patch>.txt` names the culprit and the upstream commits that touched the paths,
//! and `<patch>.json` records the session; a second resolve of the same patch is refused while
//! that file exists. `--abort` removes all three.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use carry_adapters::rebase::Outcome;
use carry_graph::PatchRef;
use serde::Deserialize;
use serde::Serialize;

use crate::conflicts::conflict_key;
use crate::history::History;
use crate::history::HistoryError;
use crate::workspace::LoadedWorkspace;

/// A conflict being resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveSession {
    /// The patch.
    pub patch: String,
    /// Its conflict's key (`carry conflicts`).
    pub key: String,
    /// The run whose conflict it is.
    pub run: String,
    /// The worktree.
    pub worktree: PathBuf,
    /// The notes file (culprit, upstream commits).
    pub notes: PathBuf,
    /// The commit the worktree starts from: the candidate just before the patch.
    pub before: String,
    /// The patch's own commit.
    pub patch_commit: String,
    /// The paths git left conflicted.
    pub conflicted: Vec<String>,
    /// When it started.
    pub started_at: String,
}

/// Why a resolve cannot start or end.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No run has a report yet.
    #[error("no run yet: `carry run` finds the conflicts")]
    NoRun,
    /// The patch is not in the last run.
    #[error("no patch {0} in the last run; `carry conflicts` lists the open conflicts")]
    UnknownPatch(String),
    /// The patch did not conflict.
    #[error(
        "{patch} is not in conflict in run {run} (it is {outcome}); `carry conflicts` lists those that are"
    )]
    NotInConflict {
        /// The patch.
        patch: String,
        /// The run.
        run: String,
        /// What it is instead.
        outcome: String,
    },
    /// A resolve of this patch is going on.
    #[error("{patch} is being resolved already (since {since}, in {}); `carry resolve --abort {patch}` drops that one", worktree.display())]
    InProgress {
        /// The patch.
        patch: String,
        /// When the first started.
        since: String,
        /// Its worktree.
        worktree: PathBuf,
    },
    /// Conflict markers are still in the files.
    #[error("conflict markers remain at {}; resolve them (or `carry resolve --abort`)", .0.join(", "))]
    MarkersRemain(Vec<String>),
    /// The resolution cannot be read region by region.
    #[error(transparent)]
    Extract(#[from] carry_adapters::rebase::resolutions::ExtractError),
    /// The resolution could not be recorded.
    #[error(transparent)]
    Store(#[from] carry_adapters::store::StoreError),
    /// No resolve of this patch is going on.
    #[error("no resolve of {0} is going on")]
    NotInProgress(String),
    /// The patch has no commit in the repository (a patch file whose commit exists only in
    /// a run's memory).
    #[error(
        "{0} has no commit in its repository to merge from (resolving patch-directory series is not supported yet)"
    )]
    NoCommit(String),
    /// git failed.
    #[error("git {args} failed: {stderr}")]
    Git {
        /// What was run.
        args: String,
        /// What git said.
        stderr: String,
    },
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A file of the session could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn session_dir(workspace: &LoadedWorkspace, patch: &PatchRef) -> PathBuf {
    workspace
        .state_dir()
        .join("resolve")
        .join(patch.project.as_str())
}

fn session_file(workspace: &LoadedWorkspace, patch: &PatchRef) -> PathBuf {
    session_dir(workspace, patch).join(format!("{}.json", patch.name))
}

/// The resolve going on for `patch`, if any.
pub fn in_progress(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
) -> Result<Option<ResolveSession>, ResolveError> {
    let file = session_file(workspace, patch);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ResolveError::Io {
                path: file,
                source: std::io::Error::other(e),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ResolveError::Io { path: file, source }),
    }
}

/// Prepares the worktree for resolving `patch`'s conflict of the last run.
pub fn start(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
) -> Result<ResolveSession, ResolveError> {
    if let Some(session) = in_progress(workspace, patch)? {
        return Err(ResolveError::InProgress {
            patch: patch.to_string(),
            since: session.started_at,
            worktree: session.worktree,
        });
    }
    let history = History::open(workspace)?;
    let report = history.last_report()?.ok_or(ResolveError::NoRun)?;
    let project = report
        .projects
        .iter()
        .find(|p| p.name == patch.project)
        .ok_or_else(|| ResolveError::UnknownPatch(patch.to_string()))?;
    let position = project
        .patches
        .iter()
        .position(|p| p.id == *patch)
        .ok_or_else(|| ResolveError::UnknownPatch(patch.to_string()))?;
    let entry = &project.patches[position];
    let Outcome::Conflict {
        paths,
        conflicts,
        upstream_commits,
        first_bad,
    } = &entry.outcome
    else {
        return Err(ResolveError::NotInConflict {
            patch: patch.to_string(),
            run: report.run.clone(),
            outcome: entry.outcome.name().to_owned(),
        });
    };
    // The candidate just before the patch: the last earlier patch that applied, else the new
    // upstream base.
    let before = project.patches[..position]
        .iter()
        .rev()
        .find_map(|p| match &p.outcome {
            Outcome::Applied { to } => Some(to.clone()),
            _ => None,
        })
        .or_else(|| project.upstream.as_ref().map(|u| u.to.clone()))
        .ok_or_else(|| ResolveError::UnknownPatch(patch.to_string()))?;
    let repo = project_repo(workspace, patch)?;
    let patch_commit = entry
        .from
        .clone()
        .filter(|id| git(&repo, &["cat-file", "-e", &format!("{id}^{{commit}}")]).is_ok())
        .ok_or_else(|| ResolveError::NoCommit(patch.to_string()))?;

    let dir = session_dir(workspace, patch);
    let worktree = dir.join(patch.name.as_str());
    carry_adapters::checkout::checkout(&repo, &worktree, &before).map_err(|e| {
        ResolveError::Git {
            args: "worktree add".to_owned(),
            stderr: e.to_string(),
        }
    })?;
    // Exit 1 with conflicts is the expected case; anything else is a failure.
    let picked = Command::new("git")
        .arg("-C")
        .arg(&worktree)
        .args([
            "-c",
            "merge.conflictStyle=diff3",
            "cherry-pick",
            "--no-commit",
            &patch_commit,
        ])
        .output()
        .map_err(|source| ResolveError::Io {
            path: worktree.clone(),
            source,
        })?;
    let conflicted: Vec<String> = git(&worktree, &["diff", "--name-only", "--diff-filter=U"])?
        .lines()
        .map(str::to_owned)
        .collect();
    if !picked.status.success() && conflicted.is_empty() {
        return Err(ResolveError::Git {
            args: format!("cherry-pick --no-commit {patch_commit}"),
            stderr: String::from_utf8_lossy(&picked.stderr).into_owned(),
        });
    }

    // What git left, markers and all: the preimage a resolution is read against.
    let preimages = preimage_dir(&dir, patch);
    for path in &conflicted {
        let bytes = std::fs::read(worktree.join(path)).map_err(|source| ResolveError::Io {
            path: worktree.join(path),
            source,
        })?;
        write(&preimages.join(path), &bytes)?;
    }
    let notes = dir.join(format!("{}.txt", patch.name));
    let mut text = format!(
        "Resolving {patch} (\"{}\") from run {}\nits commit: {patch_commit}\nstarting from: {before} (the candidate just before it)\nconflicting paths: {}\n",
        entry.subject,
        report.run,
        paths.join(", ")
    );
    match first_bad {
        Some(culprit) => {
            let line = git(
                &repo,
                &["log", "-1", "--format=%h %s (%an <%ae>, %ad)", culprit],
            )
            .unwrap_or_else(|_| culprit.clone());
            text.push_str(&format!(
                "culprit (the first upstream commit it stops applying at): {}\n",
                line.trim()
            ));
        }
        None => text.push_str("culprit: none found (the conflict may come from a rename)\n"),
    }
    if !upstream_commits.is_empty() {
        text.push_str("upstream commits that touched those paths, oldest first:\n");
        for commit in upstream_commits {
            let line = git(&repo, &["log", "-1", "--format=%h %s (%an)", commit])
                .unwrap_or_else(|_| commit.clone());
            text.push_str(&format!("  {}\n", line.trim()));
        }
    }
    write(&notes, text.as_bytes())?;
    let session = ResolveSession {
        patch: patch.to_string(),
        key: conflict_key(&patch.to_string(), conflicts),
        run: report.run.clone(),
        worktree,
        notes,
        before,
        patch_commit,
        conflicted,
        started_at: carry_adapters::store::now(),
    };
    let json = serde_json::to_vec_pretty(&session).map_err(|e| ResolveError::Io {
        path: session_file(workspace, patch),
        source: std::io::Error::other(e),
    })?;
    write(&session_file(workspace, patch), &json)?;
    Ok(session)
}

/// Drops the resolve of `patch`: its worktree, notes and session go; nothing else changes.
pub fn abort(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
) -> Result<ResolveSession, ResolveError> {
    let session = in_progress(workspace, patch)?
        .ok_or_else(|| ResolveError::NotInProgress(patch.to_string()))?;
    let repo = project_repo(workspace, patch)?;
    let target = session.worktree.to_string_lossy().into_owned();
    // The worktree may be gone already (removed by hand): prune then.
    if git(&repo, &["worktree", "remove", "--force", &target]).is_err() {
        let _ = std::fs::remove_dir_all(&session.worktree);
        let _ = git(&repo, &["worktree", "prune"]);
    }
    let _ = std::fs::remove_file(&session.notes);
    let _ = std::fs::remove_dir_all(preimage_dir(&session_dir(workspace, patch), patch));
    let file = session_file(workspace, patch);
    std::fs::remove_file(&file).map_err(|source| ResolveError::Io { path: file, source })?;
    Ok(session)
}

/// What `--continue` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The session it ended.
    pub session: ResolveSession,
    /// How many conflict regions were recorded.
    pub regions: usize,
}

/// Records the resolution made in `patch`'s worktree, region by region, then drops the
/// worktree; refuses while conflict markers remain. The store takes the whole resolution or
/// none of it.
pub fn record(workspace: &LoadedWorkspace, patch: &PatchRef) -> Result<Recorded, ResolveError> {
    let session = in_progress(workspace, patch)?
        .ok_or_else(|| ResolveError::NotInProgress(patch.to_string()))?;
    let preimages = preimage_dir(&session_dir(workspace, patch), patch);
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ResolveError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let mut remaining = Vec::new();
    let mut resolved = Vec::new();
    for path in &session.conflicted {
        let now = read(&session.worktree.join(path))?;
        remaining.extend(
            carry_adapters::rebase::resolutions::marker_lines(&now)
                .into_iter()
                .map(|line| format!("{path}:{line}")),
        );
        resolved.push((path, now));
    }
    if !remaining.is_empty() {
        return Err(ResolveError::MarkersRemain(remaining));
    }
    let mut hunks = Vec::new();
    for (path, now) in &resolved {
        let before = read(&preimages.join(path))?;
        hunks.extend(carry_adapters::rebase::resolutions::extract(
            path, &before, now,
        )?);
    }
    let mut store = carry_adapters::store::Store::open(&workspace.state_dir())?;
    store.save_resolutions(
        patch.project.as_str(),
        patch.name.as_str(),
        &session.key,
        &session.run,
        &hunks,
    )?;
    let session = abort(workspace, patch)?;
    Ok(Recorded {
        session,
        regions: hunks.len(),
    })
}

fn preimage_dir(dir: &Path, patch: &PatchRef) -> PathBuf {
    dir.join(format!("{}.pre", patch.name))
}

/// The repository of `patch`'s project.
fn project_repo(workspace: &LoadedWorkspace, patch: &PatchRef) -> Result<PathBuf, ResolveError> {
    let project = workspace
        .manifest
        .workspace
        .projects
        .get(&patch.project)
        .ok_or_else(|| ResolveError::UnknownPatch(patch.to_string()))?;
    Ok(workspace.root.join(&project.repo))
}

/// Writes `bytes` to `path` whole or not at all (a temporary file renamed over it).
fn write(path: &Path, bytes: &[u8]) -> Result<(), ResolveError> {
    let io = |source| ResolveError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, ResolveError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| ResolveError::Io {
            path: dir.to_owned(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ResolveError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
