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
use carry_adapters::rebase::resolutions::RecordedResolution;
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
    /// The upstream commit the series is being carried onto.
    #[serde(default)]
    pub onto: Option<String>,
    /// How many conflict regions a recorded resolution resolved already.
    #[serde(default)]
    pub prefilled: usize,
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
    /// A conflict key that names no open conflict of the last run.
    #[error(
        "no open conflict has the key {key}{}; `carry conflicts` lists those that are open",
        current.as_deref().map_or_else(String::new, |now| format!(" ({now} is its key now)"))
    )]
    StaleKey {
        /// The key given.
        key: String,
        /// The patch's conflict's key in the last run, if it is still in conflict.
        current: Option<String>,
    },
    /// Only a patch that failed can be dropped this way.
    #[error(
        "{patch} {outcome} in run {run}: only a patch that conflicted, is blocked or is in error can be dropped with `carry resolve --drop`; remove it from its series yourself"
    )]
    NotDroppable {
        /// The patch.
        patch: String,
        /// The run.
        run: String,
        /// What it is.
        outcome: String,
    },
    /// The reason given for a drop is empty.
    #[error("say why {0} is dropped: `--reason TEXT` (it is kept with the drop)")]
    NoReason(String),
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
        Ok(bytes) if bytes.is_empty() => Ok(None),
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

/// The patch a `carry resolve` argument names: `PROJECT/PATCH`, or a conflict key
/// (`PROJECT/PATCH:<hex>`, from `carry conflicts`) that must still be open.
pub fn patch_of_argument(
    workspace: &LoadedWorkspace,
    argument: &str,
) -> Result<PatchRef, ResolveError> {
    let (name, key) = match argument.rsplit_once(':') {
        Some((name, hex)) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (name, Some(argument))
        }
        _ => (argument, None),
    };
    let patch: PatchRef = name
        .parse()
        .map_err(|_| ResolveError::UnknownPatch(argument.to_owned()))?;
    if let Some(key) = key {
        let open = crate::conflicts::open_conflicts(workspace)?;
        if !open.conflicts.iter().any(|c| c.key == key) {
            return Err(ResolveError::StaleKey {
                key: key.to_owned(),
                current: open
                    .conflicts
                    .iter()
                    .find(|c| c.project == patch.project && c.patch == patch.name.as_str())
                    .map(|c| c.key.clone()),
            });
        }
    }
    Ok(patch)
}

/// The next open conflict of the last run after `after` (in report order, wrapping round)
/// that nobody is resolving.
pub fn next_conflict(
    workspace: &LoadedWorkspace,
    after: &PatchRef,
) -> Result<Option<PatchRef>, ResolveError> {
    let open = crate::conflicts::open_conflicts(workspace)?;
    let busy: Vec<String> = sessions(workspace)?.into_iter().map(|s| s.patch).collect();
    let ids: Vec<String> = open
        .conflicts
        .iter()
        .map(|c| format!("{}/{}", c.project, c.patch))
        .collect();
    let start = ids
        .iter()
        .position(|id| *id == after.to_string())
        .map_or(0, |i| i + 1);
    Ok(ids
        .iter()
        .cycle()
        .skip(start)
        .take(ids.len())
        .find(|id| **id != after.to_string() && !busy.contains(id))
        .and_then(|id| id.parse().ok()))
}

/// Drops `patch` (in conflict, blocked or in error in the last run) from its series'
/// candidate, recorded with `reason`; a resolve of it going on is dropped. The next run leaves
/// it out, and `promote` removes it from the series.
pub fn drop_patch(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
    reason: &str,
) -> Result<carry_adapters::store::DroppedPatch, ResolveError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ResolveError::NoReason(patch.to_string()));
    }
    let history = History::open(workspace)?;
    let report = history.last_report()?.ok_or(ResolveError::NoRun)?;
    let entry = report
        .projects
        .iter()
        .filter(|p| p.name == patch.project)
        .flat_map(|p| &p.patches)
        .find(|p| p.id == *patch)
        .ok_or_else(|| ResolveError::UnknownPatch(patch.to_string()))?;
    if !entry.outcome.failed() {
        return Err(ResolveError::NotDroppable {
            patch: patch.to_string(),
            run: report.run.clone(),
            outcome: format!("is {}", entry.outcome.name()),
        });
    }
    let repo = project_repo(workspace, patch)?;
    let patch_id = match &entry.from {
        Some(commit) => patch_id_of(&repo, commit).ok().flatten(),
        None => None,
    };
    if let Some(session) = in_progress(workspace, patch)? {
        remove_session(workspace, patch, Some(&session))?;
    }
    let dropped = carry_adapters::store::DroppedPatch {
        project: patch.project.to_string(),
        patch: patch.name.to_string(),
        patch_id,
        reason: reason.to_owned(),
        run: report.run.clone(),
        dropped_at: carry_adapters::store::now(),
    };
    carry_adapters::store::Store::open(&workspace.state_dir())?.save_drop(&dropped)?;
    Ok(dropped)
}

/// Prepares the worktree for resolving `patch`'s conflict of the last run.
pub fn start(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
) -> Result<ResolveSession, ResolveError> {
    claim(workspace, patch)?;
    let started = prepare(workspace, patch);
    if started.is_err() {
        // Nothing of a failed start stays: the worktree, notes and claim go.
        let _ = remove_session(workspace, patch, None);
    }
    started
}

/// Takes the session file of `patch` before anything else, so of two resolves started at
/// once, the second is refused naming the first.
fn claim(workspace: &LoadedWorkspace, patch: &PatchRef) -> Result<(), ResolveError> {
    let file = session_file(workspace, patch);
    let io = |source| ResolveError::Io {
        path: file.clone(),
        source,
    };
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            // An empty file is a start going on (or killed while starting).
            let first = in_progress(workspace, patch).ok().flatten();
            Err(ResolveError::InProgress {
                patch: patch.to_string(),
                since: first.as_ref().map_or_else(
                    || "a start going on, or one killed: `--abort` clears it".to_owned(),
                    |s| s.started_at.clone(),
                ),
                worktree: first.map_or_else(
                    || session_dir(workspace, patch).join(patch.name.as_str()),
                    |s| s.worktree,
                ),
            })
        }
        Err(source) => Err(io(source)),
    }
}

fn prepare(workspace: &LoadedWorkspace, patch: &PatchRef) -> Result<ResolveSession, ResolveError> {
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
    let patch_id = patch_id_of(&repo, &patch_commit)?;
    let recorded: Vec<RecordedResolution> =
        carry_adapters::store::Store::open(&workspace.state_dir())?
            .resolutions_of(patch.project.as_str())?
            .into_iter()
            .filter(|r| r.fits_patch(patch.name.as_str(), patch_id.as_deref()))
            .collect();
    let resolver = carry_adapters::rebase::resolutions::Resolver::new(recorded);
    let mut prefilled = 0;
    for path in &conflicted {
        let bytes = std::fs::read(worktree.join(path)).map_err(|source| ResolveError::Io {
            path: worktree.join(path),
            source,
        })?;
        write(&preimages.join(path), &bytes)?;
        // Regions a recorded resolution still fits are done already; the rest keep their
        // markers.
        if let Some((partly, left)) = resolver.resolve_partially(path, &bytes)
            && partly != bytes
        {
            prefilled += carry_adapters::rebase::resolutions::regions(&bytes) - left;
            write(&worktree.join(path), &partly)?;
        }
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
    if prefilled > 0 {
        text.push_str(&format!(
            "{prefilled} conflict region(s) were resolved already with the resolution recorded for them (the lines around them did not change); check them\n"
        ));
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
        onto: project.upstream.as_ref().map(|u| u.to.clone()),
        prefilled,
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
    let Some(session) = in_progress(workspace, patch)? else {
        // A start killed before it wrote its session leaves only its claim: clear it.
        if session_file(workspace, patch).exists() {
            remove_session(workspace, patch, None)?;
        }
        return Err(ResolveError::NotInProgress(patch.to_string()));
    };
    remove_session(workspace, patch, Some(&session))?;
    Ok(session)
}

/// Removes a session: its session file first (a session file is the promise that the worktree
/// is there: killed after this, the worktree left over is replaced by the next resolve), then
/// the worktree, the preimages and the notes.
fn remove_session(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
    session: Option<&ResolveSession>,
) -> Result<(), ResolveError> {
    let file = session_file(workspace, patch);
    match std::fs::remove_file(&file) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(ResolveError::Io {
                path: file,
                source: error,
            });
        }
        _ => {}
    }
    let dir = session_dir(workspace, patch);
    let worktree = session.map_or_else(|| dir.join(patch.name.as_str()), |s| s.worktree.clone());
    if worktree.exists() {
        let repo = project_repo(workspace, patch)?;
        let target = worktree.to_string_lossy().into_owned();
        // The worktree may be half made or removed by hand: prune then.
        if git(&repo, &["worktree", "remove", "--force", &target]).is_err() {
            let _ = std::fs::remove_dir_all(&worktree);
            let _ = git(&repo, &["worktree", "prune"]);
        }
    }
    let _ = std::fs::remove_file(dir.join(format!("{}.txt", patch.name)));
    let _ = std::fs::remove_dir_all(preimage_dir(&dir, patch));
    Ok(())
}

/// Every resolve going on, oldest first.
pub fn sessions(workspace: &LoadedWorkspace) -> Result<Vec<ResolveSession>, ResolveError> {
    let root = workspace.state_dir().join("resolve");
    let mut found = Vec::new();
    let Ok(projects) = std::fs::read_dir(&root) else {
        return Ok(found);
    };
    for project in projects.flatten() {
        let Ok(files) = std::fs::read_dir(project.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).map_err(|source| ResolveError::Io {
                    path: path.clone(),
                    source,
                })?;
                if let Ok(session) = serde_json::from_slice::<ResolveSession>(&bytes) {
                    found.push(session);
                }
            }
        }
    }
    found.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    Ok(found)
}

/// What `--continue` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The session it ended.
    pub session: ResolveSession,
    /// How many conflict regions were recorded.
    pub regions: usize,
    /// The resolution's id.
    pub resolution: String,
}

/// `git patch-id --stable` of the commit `id` in `repo`.
fn patch_id_of(repo: &Path, id: &str) -> Result<Option<String>, ResolveError> {
    let git_error = |e: git2::Error| ResolveError::Git {
        args: format!("patch-id of {id}"),
        stderr: e.message().to_owned(),
    };
    let repository = git2::Repository::open(repo).map_err(git_error)?;
    let commit = git2::Oid::from_str(id)
        .and_then(|oid| repository.find_commit(oid))
        .map_err(git_error)?;
    carry_adapters::rebase::landed::patch_id(&repository, &commit)
        .map(|found| found.map(|oid| oid.to_string()))
        .map_err(|e| ResolveError::Git {
            args: format!("patch-id of {id}"),
            stderr: e.to_string(),
        })
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
    let patch_id = patch_id_of(&project_repo(workspace, patch)?, &session.patch_commit)?;
    let resolution = RecordedResolution {
        id: RecordedResolution::id_of(patch_id.as_deref(), &hunks),
        patch: patch.name.to_string(),
        patch_id,
        onto: session.onto.clone(),
        hunks,
    };
    let mut store = carry_adapters::store::Store::open(&workspace.state_dir())?;
    store.save_resolution(
        patch.project.as_str(),
        &session.key,
        &session.run,
        &resolution,
    )?;
    drop(store);
    // The store holds it; the ref is for a team to push and fetch, so a failure to write it
    // is said, not fatal.
    if let Err(error) = crate::resolutions::publish(workspace, patch.project.as_str()) {
        tracing::warn!(%error, "cannot publish the resolution under refs/carry/resolutions/");
    }
    let session = abort(workspace, patch)?;
    Ok(Recorded {
        session,
        regions: resolution.hunks.len(),
        resolution: resolution.id,
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
