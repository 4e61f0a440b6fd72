//! A promotion as a recorded plan: every change it will make is written to the store before
//! the first is made, and each is made so that making it again is harmless. A promotion
//! killed at any point is finished by the next carry command (see [`finish_unfinished`]),
//! or, where the workspace changed under it, the command says exactly what is left.
//!
//! The plan is recorded only once everything it needs is on disk: a patch directory's new
//! files are written and synced beside the old one first, so rolling forward never has to
//! regenerate anything.

use std::path::Path;
use std::path::PathBuf;

use carry_adapters::lock::LockError;
use carry_adapters::lock::LockHolder;
use carry_adapters::lock::WorkspaceLock;
use carry_adapters::publish;
use carry_adapters::store::PromotionEnd;
use carry_adapters::store::Store;
use carry_adapters::store::StoreError;
use git2::Oid;
use serde::Deserialize;
use serde::Serialize;

/// The changes of one promotion, in the order they are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionPlan {
    /// The run whose results are promoted.
    pub run: String,
    /// What to do, in order.
    pub steps: Vec<PlanStep>,
}

/// One change. Paths are relative to the workspace root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum PlanStep {
    /// Move `branch` from `from` to `to` by compare-and-swap, keeping `from` in `backup`.
    MoveBranch {
        /// The project.
        project: String,
        /// Its repository.
        repo: PathBuf,
        /// The branch, without `refs/heads/`.
        branch: String,
        /// The tip the run read.
        from: String,
        /// The run's result.
        to: String,
        /// The ref that keeps the old tip.
        backup: String,
    },
    /// Exchange the patch directory `dir` with `staged` (the new series, already written
    /// and synced), then keep the old series in `backup`. The new `series` file starts with
    /// `marker`: that is how a rolled-forward promotion tells a swapped directory.
    SwapDir {
        /// The project.
        project: String,
        /// The patch directory.
        dir: PathBuf,
        /// The new series, beside it.
        staged: PathBuf,
        /// Where the old series is kept.
        backup: PathBuf,
        /// The first line of the new `series` file.
        marker: String,
    },
    /// Point `reference` at `to` (the upstream commit a patch directory now applies to).
    SetRef {
        /// The project.
        project: String,
        /// Its repository.
        repo: PathBuf,
        /// The full ref name.
        reference: String,
        /// The commit.
        to: String,
    },
    /// Remember a landed patch the promotion drops.
    RememberLanded {
        /// The project.
        project: String,
        /// The patch id.
        patch: String,
        /// Its subject.
        subject: String,
        /// The upstream commit that matched, where one did.
        upstream_commit: Option<String>,
        /// The signal that matched.
        by: String,
    },
    /// Replace the manifest's text `before` with `after` (moved bases, renamed and dropped
    /// feature patches).
    EditManifest {
        /// The manifest file.
        file: PathBuf,
        /// Its text when the plan was made.
        before: String,
        /// Its text after the promotion.
        after: String,
    },
}

impl PromotionPlan {
    /// The repositories its steps write to, relative to the workspace root.
    fn repositories(&self) -> std::collections::BTreeSet<&Path> {
        self.steps
            .iter()
            .filter_map(|step| match step {
                PlanStep::MoveBranch { repo, .. } | PlanStep::SetRef { repo, .. } => {
                    Some(repo.as_path())
                }
                _ => None,
            })
            .collect()
    }
}

impl PlanStep {
    /// What the step does, for a human.
    pub fn describe(&self) -> String {
        match self {
            Self::MoveBranch {
                project,
                branch,
                from,
                to,
                ..
            } => format!(
                "{project}: move branch '{branch}' from {} to {}",
                short(from),
                short(to)
            ),
            Self::SwapDir {
                project,
                dir,
                staged,
                ..
            } => format!(
                "{project}: swap the new series {} in for {}",
                staged.display(),
                dir.display()
            ),
            Self::SetRef {
                project,
                reference,
                to,
                ..
            } => format!("{project}: point {reference} at {}", short(to)),
            Self::RememberLanded { project, patch, .. } => {
                format!("{project}: remember that {patch} landed")
            }
            Self::EditManifest { file, .. } => format!("edit {}", file.display()),
        }
    }
}

/// Why a plan could not be made whole.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workspace lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A step cannot be made: the workspace changed under the promotion.
    #[error(
        "promotion {id} of run {run} is half done and cannot be finished: {why}; left to do: {}",
        left.join("; ")
    )]
    Stuck {
        /// The promotion.
        id: String,
        /// Its run.
        run: String,
        /// Why the next step cannot be made.
        why: String,
        /// The steps not made, the stuck one first.
        left: Vec<String>,
    },
}

/// Makes every step of `plan` (recorded in `store` as promotion `id`) that is not made yet,
/// in order, and records the promotion done. The caller holds the workspace lock.
pub fn carry_out(
    root: &Path,
    store: &Store,
    id: &str,
    plan: &PromotionPlan,
) -> Result<(), PlanError> {
    fault_point(0);
    for (at, step) in plan.steps.iter().enumerate() {
        if let Err(why) = make(root, store, &plan.run, step) {
            return Err(PlanError::Stuck {
                id: id.to_owned(),
                run: plan.run.clone(),
                why,
                left: plan.steps[at..].iter().map(PlanStep::describe).collect(),
            });
        }
        fault_point(at + 1);
    }
    store.finish_promotion(id, PromotionEnd::Done)?;
    Ok(())
}

/// Finishes a promotion a killed carry left half done, if there is one and no live carry
/// holds the workspace; returns its id. Every command calls this before it reads the
/// workspace, so none sees a series moved and its manifest not.
pub fn finish_unfinished(root: &Path) -> Result<Option<String>, PlanError> {
    let state = root.join(".carry");
    if !state.join("carry.db").is_file() {
        return Ok(None);
    }
    let store = Store::open(&state)?;
    if store.unfinished_promotion::<PromotionPlan>()?.is_none() {
        return Ok(None);
    }
    let lock = match WorkspaceLock::acquire(
        &state,
        &LockHolder {
            run: "finishing a promotion".to_owned(),
            pid: std::process::id(),
            started_at: carry_adapters::store::now(),
        },
    ) {
        Ok(lock) => lock,
        // A live carry holds the workspace: the promotion is its own, still going.
        Err(LockError::Held { .. } | LockError::HeldUnknown { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    // Read again under the lock: the holder may have finished it meanwhile.
    let Some((id, plan)) = store.unfinished_promotion::<PromotionPlan>()? else {
        lock.release();
        return Ok(None);
    };
    tracing::warn!(promotion = %id, run = %plan.run, "finishing a promotion that was cut short");
    // The carry that was killed may have died holding a ref's lock file; we hold the
    // workspace lock, so no live carry does.
    for repo in plan.repositories() {
        carry_adapters::git::clear_stale_carry_locks(&root.join(repo));
    }
    let finished = carry_out(root, &store, &id, &plan);
    lock.release();
    finished.map(|()| Some(id))
}

/// Gives up on an unfinished promotion: the steps it did not make are not made. Returns it.
pub fn abandon_unfinished(root: &Path) -> Result<Option<(String, PromotionPlan)>, PlanError> {
    let state = root.join(".carry");
    if !state.join("carry.db").is_file() {
        return Ok(None);
    }
    let store = Store::open(&state)?;
    let found = store.unfinished_promotion::<PromotionPlan>()?;
    if let Some((id, _)) = &found {
        store.finish_promotion(id, PromotionEnd::Abandoned)?;
    }
    Ok(found)
}

/// Makes one step, or says why it cannot be made. Made already is fine.
fn make(root: &Path, store: &Store, run: &str, step: &PlanStep) -> Result<(), String> {
    match step {
        PlanStep::MoveBranch {
            repo,
            branch,
            from,
            to,
            backup,
            ..
        } => {
            let repo =
                git2::Repository::open(root.join(repo)).map_err(|e| e.message().to_owned())?;
            let from = Oid::from_str(from).map_err(|e| e.message().to_owned())?;
            let to = Oid::from_str(to).map_err(|e| e.message().to_owned())?;
            publish::move_branch(&repo, branch, from, to, backup).map_err(|e| e.to_string())?;
            if repo.refname_to_id(backup).is_err() {
                // Moved before its backup was written by an earlier carry: keep the old tip.
                repo.reference(backup, from, true, "carry: branch before promotion")
                    .map_err(|e| e.message().to_owned())?;
            }
            Ok(())
        }
        PlanStep::SwapDir {
            dir,
            staged,
            backup,
            marker,
            ..
        } => swap_dir(
            &root.join(dir),
            &root.join(staged),
            &root.join(backup),
            marker,
        ),
        PlanStep::SetRef {
            repo,
            reference,
            to,
            ..
        } => {
            let repo =
                git2::Repository::open(root.join(repo)).map_err(|e| e.message().to_owned())?;
            let to = Oid::from_str(to).map_err(|e| e.message().to_owned())?;
            repo.reference(reference, to, true, "carry: promoted")
                .map(|_| ())
                .map_err(|e| e.message().to_owned())
        }
        PlanStep::RememberLanded {
            project,
            patch,
            subject,
            upstream_commit,
            by,
        } => store
            .remember_landed(project, patch, subject, upstream_commit.as_deref(), by, run)
            .map_err(|e| e.to_string()),
        PlanStep::EditManifest {
            file,
            before,
            after,
        } => {
            let path = root.join(file);
            let now = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if now == *after {
                return Ok(());
            }
            if now != *before {
                return Err(format!(
                    "{} changed since the promotion started",
                    path.display()
                ));
            }
            publish::write_atomically(&path, after.as_bytes()).map_err(|e| e.to_string())
        }
    }
}

/// The directory exchange, from wherever a killed promotion left it.
fn swap_dir(dir: &Path, staged: &Path, backup: &Path, marker: &str) -> Result<(), String> {
    let first_line = |dir: &Path| {
        std::fs::read_to_string(dir.join("series"))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned))
    };
    let io = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        format!("cannot {what} {}: {e}", path.display())
    };
    if first_line(dir).as_deref() != Some(marker) {
        if first_line(staged).as_deref() != Some(marker) {
            return Err(format!(
                "neither {} nor {} holds the new series",
                dir.display(),
                staged.display()
            ));
        }
        publish::exchange_dirs(dir, staged).map_err(|e| e.to_string())?;
    }
    // `staged` now holds the old series (or is gone, kept already).
    if staged.exists() {
        if let Some(parent) = backup.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create", parent, &e))?;
        }
        if backup.exists() {
            std::fs::remove_dir_all(backup).map_err(|e| io("replace", backup, &e))?;
        }
        std::fs::rename(staged, backup).map_err(|e| io("keep the old series in", backup, &e))?;
    }
    Ok(())
}

/// For the kill tests: `CARRY_FAULT_AFTER_STEP=N` ends the process, as a kill would, once N
/// steps of a plan are made (0: right after the plan is recorded).
fn fault_point(at: usize) {
    if std::env::var("CARRY_FAULT_AFTER_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        == Some(at)
    {
        std::process::abort();
    }
}

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}
