//! `carry promote`: move series to a run's results, each series atomically.
//!
//! A branch moves by one compare-and-swap ref update (refused if the user moved it since the
//! run), its old tip kept under `refs/carry/backup/<project>/<run>`. A patch directory is
//! regenerated beside the old one with `git format-patch` (each applied patch keeps its own
//! headers and trailers; renumbered; a new `series` file; landed patches gone), synced, and
//! exchanged with the old one in a single `renameat2(RENAME_EXCHANGE)`; the old one is kept
//! under `.carry/backups/`. A pinned `base` moves in `carry.toml` with an edit that keeps the
//! file as written, and feature ids follow renumbered patch files. Landed patches are
//! remembered in the store. Everything is checked before anything is changed, so a feature's
//! projects move together or not at all; a promotion killed at any moment leaves each series
//! wholly old or wholly new, and running it again finishes it.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use carry_adapters::lock::LockHolder;
use carry_adapters::lock::WorkspaceLock;
use carry_adapters::publish;
use carry_adapters::rebase::Outcome;
use carry_adapters::store::Store;
use carry_graph::FeatureName;
use carry_graph::ProjectName;
use carry_graph::manifest::edit::ManifestEdit;
use carry_graph::manifest::edit::edit_manifest;
use carry_graph::workspace::SeriesSource;
use git2::Oid;
use serde::Serialize;

use crate::error::RunError;
use crate::promotion_plan;
use crate::promotion_plan::PlanStep;
use crate::promotion_plan::PromotionPlan;
use crate::refs::APPLIED_BASE_REFS;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::ReviewState;
use crate::report::RunReport;
use crate::report::TestStatus;
use crate::reviews::Reviews;
use crate::workspace::LoadedWorkspace;
use crate::workspace::MANIFEST_FILE;

/// What to promote.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// The run (default: the last one with a report).
    pub run: Option<String>,
    /// Only these projects (default: every rebased project of the run).
    pub projects: Vec<ProjectName>,
    /// Every project with a patch in this feature, together or none.
    pub feature: Option<FeatureName>,
    /// Promote projects whose run was not clean too.
    pub force: bool,
}

/// Why a promotion was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// The run machinery (lock, store, manifest) failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// There is no such run, or it has no report.
    #[error("no report for run '{0}'")]
    NoReport(String),
    /// A project cannot be promoted; nothing was changed.
    #[error("{project} cannot be promoted: {why}")]
    Refused {
        /// The project.
        project: ProjectName,
        /// Why.
        why: String,
    },
    /// The recorded plan could not be carried out whole.
    #[error(transparent)]
    Plan(#[from] promotion_plan::PlanError),
    /// A publication step failed.
    #[error("{project}: {source}")]
    Publish {
        /// The project.
        project: ProjectName,
        /// What failed.
        #[source]
        source: publish::PublishError,
    },
}

/// What happened to one project.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// The project.
    pub project: ProjectName,
    /// `branch` or `dir`.
    pub form: &'static str,
    /// Where the backup of the old series is.
    pub backup: String,
    /// Landed patches dropped from the series.
    pub dropped: Vec<String>,
    /// Patches a human dropped (`carry resolve --drop`), gone from the series.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Patches whose names changed (renumbered files): old id → new id.
    pub renamed: BTreeMap<String, String>,
    /// Whether it was already promoted (nothing to do).
    pub already: bool,
}

/// What a promotion did.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionReport {
    /// `carry.promote/v1`.
    pub schema: &'static str,
    /// The run promoted.
    pub run: String,
    /// The projects promoted.
    pub promoted: Vec<Promoted>,
    /// Projects of the run left alone, and why.
    pub skipped: BTreeMap<String, String>,
    /// Features removed from the manifest: every one of their patches landed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features_removed: Vec<String>,
}

/// What one project's promotion will do, checked before anything changes.
struct Step<'a> {
    project: &'a ProjectReport,
    result: Oid,
    onto: Oid,
    form: Form,
}

enum Form {
    Branch { branch: String, old_tip: Oid },
    Dir { dir: PathBuf },
}

/// Promotes a stored run's results.
pub fn promote(
    workspace: &LoadedWorkspace,
    options: &PromoteOptions,
) -> Result<PromotionReport, PromoteError> {
    let state = workspace.state_dir();
    let promotion_id = format!("promote-{}", crate::run::new_run_id());
    let lock = WorkspaceLock::acquire(
        &state,
        &LockHolder {
            run: promotion_id.clone(),
            pid: std::process::id(),
            started_at: carry_adapters::store::now(),
        },
    )
    .map_err(RunError::from)?;
    let store = Store::open(&state).map_err(RunError::from)?;
    for project in workspace.manifest.workspace.projects.values() {
        carry_adapters::git::clear_stale_carry_locks(&workspace.root.join(&project.repo));
    }
    let run = match &options.run {
        Some(run) => run.clone(),
        None => store
            .last_reported_run()
            .map_err(RunError::from)?
            .ok_or_else(|| PromoteError::NoReport("(none yet)".to_owned()))?,
    };
    let mut report: RunReport = store
        .report(&run)
        .map_err(RunError::from)?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| PromoteError::NoReport(run.clone()))?;
    // Reviews made since the run count.
    Reviews::load(&store)
        .map_err(RunError::from)?
        .mark_report(&mut report);
    let manifest = &workspace.manifest.workspace;

    // Which projects.
    let mut chosen: Vec<&ProjectReport> = Vec::new();
    let mut skipped = BTreeMap::new();
    let feature_projects: Option<Vec<ProjectName>> = options.feature.as_ref().map(|name| {
        manifest
            .features
            .get(name)
            .map(|f| {
                f.patches()
                    .into_iter()
                    .map(|p| p.project.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default()
    });
    if let Some(name) = &options.feature
        && !manifest.features.contains_key(name)
    {
        return Err(RunError::UnknownProject(format!("feature {name}")).into());
    }
    let strict = feature_projects.is_some() || !options.projects.is_empty();
    for project in &report.projects {
        let wanted = feature_projects.as_ref().map_or_else(
            || options.projects.is_empty() || options.projects.contains(&project.name),
            |names| names.contains(&project.name),
        );
        if !wanted {
            continue;
        }
        if project.status != ProjectStatus::Rebased {
            if strict && project.status == ProjectStatus::Error {
                return Err(PromoteError::Refused {
                    project: project.name.clone(),
                    why: "carry could not rebase it in that run".to_owned(),
                });
            }
            skipped.insert(
                project.name.to_string(),
                "not rebased in that run".to_owned(),
            );
            continue;
        }
        let unclean = unclean(project).or_else(|| unreviewed_in(project));
        if let Some(why) = unclean.filter(|_| !options.force) {
            if strict {
                return Err(PromoteError::Refused {
                    project: project.name.clone(),
                    why: format!("{why} (use --force to promote anyway)"),
                });
            }
            skipped.insert(project.name.to_string(), why);
            continue;
        }
        chosen.push(project);
    }
    for name in &options.projects {
        if !report.projects.iter().any(|p| &p.name == name) {
            return Err(RunError::UnknownProject(name.to_string()).into());
        }
    }

    // Check everything first: a refusal changes nothing.
    let mut checked = Vec::new();
    for project in chosen {
        checked.push(plan_step(workspace, project)?);
    }
    let (plan, promoted, features_removed) = make_plan(workspace, &run, &promotion_id, &checked)?;
    // A resolution promoted unreviewed is recorded as forced past, not as reviewed.
    for step in &checked {
        record_forced_reviews(&store, step.project).map_err(RunError::from)?;
    }
    // Recorded before anything moves: from here on, a kill is finished by the next command.
    store
        .start_promotion(&promotion_id, &run, &plan)
        .map_err(RunError::from)?;
    promotion_plan::carry_out(&workspace.root, &store, &promotion_id, &plan)?;
    lock.release();
    Ok(PromotionReport {
        schema: "carry.promote/v1",
        run,
        promoted,
        skipped,
        features_removed,
    })
}

/// The plan of a promotion of `checked`, with what each project's promotion will be. A patch
/// directory's new series is written and synced beside the old one here, before the plan is
/// recorded.
fn make_plan(
    workspace: &LoadedWorkspace,
    run: &str,
    promotion_id: &str,
    checked: &[Step<'_>],
) -> Result<(PromotionPlan, Vec<Promoted>, Vec<String>), PromoteError> {
    let manifest = &workspace.manifest.workspace;
    let relative = |path: &Path| {
        path.strip_prefix(&workspace.root)
            .map_or_else(|_| path.to_owned(), Path::to_owned)
    };
    let mut steps = Vec::new();
    let mut landed_steps = Vec::new();
    let mut promoted = Vec::new();
    let mut edit = ManifestEdit::default();
    for step in checked {
        let name = &step.project.name;
        let spec = &manifest.projects[name];
        let publish_error = |source| PromoteError::Publish {
            project: name.clone(),
            source,
        };
        let (backup, renamed, already) = match &step.form {
            Form::Branch { branch, old_tip } => {
                let backup = format!("refs/carry/backup/{name}/{run}");
                let repo =
                    git2::Repository::open(workspace.root.join(&spec.repo)).map_err(|e| {
                        PromoteError::Refused {
                            project: name.clone(),
                            why: e.message().to_owned(),
                        }
                    })?;
                let already =
                    repo.refname_to_id(&format!("refs/heads/{branch}")).ok() == Some(step.result);
                if !already {
                    steps.push(PlanStep::MoveBranch {
                        project: name.to_string(),
                        repo: spec.repo.clone().into(),
                        branch: branch.clone(),
                        from: old_tip.to_string(),
                        to: step.result.to_string(),
                        backup: backup.clone(),
                    });
                }
                (backup, BTreeMap::new(), already)
            }
            Form::Dir { dir } => {
                let staged = stage_patch_dir(workspace, step, dir, run, promotion_id)
                    .map_err(publish_error)?;
                if !staged.already {
                    steps.push(PlanStep::SwapDir {
                        project: name.to_string(),
                        dir: relative(dir),
                        staged: relative(&staged.dir),
                        backup: relative(&staged.backup),
                        marker: staged.marker,
                    });
                }
                (
                    staged.backup.display().to_string(),
                    staged.renamed,
                    staged.already,
                )
            }
        };
        if spec.series.base.is_some() {
            edit.bases.insert(name.to_string(), step.onto.to_string());
        } else if matches!(spec.series.source, SeriesSource::Dir(_)) {
            steps.push(PlanStep::SetRef {
                project: name.to_string(),
                repo: spec.repo.clone().into(),
                reference: format!("{APPLIED_BASE_REFS}{name}"),
                to: step.onto.to_string(),
            });
        }
        let mut dropped = Vec::new();
        let mut removed = Vec::new();
        for patch in &step.project.patches {
            if let Outcome::Landed {
                upstream_commit,
                by,
            } = &patch.outcome
            {
                landed_steps.push(PlanStep::RememberLanded {
                    project: name.to_string(),
                    patch: patch.id.to_string(),
                    subject: patch.subject.clone(),
                    upstream_commit: upstream_commit.clone(),
                    by: by.as_str().to_owned(),
                });
                edit.removed.insert(patch.id.to_string());
                dropped.push(patch.id.to_string());
            }
            // A patch a human dropped (`carry resolve --drop`) leaves the series too; the
            // store keeps why.
            if matches!(patch.outcome, Outcome::Dropped { .. }) {
                edit.removed.insert(patch.id.to_string());
                removed.push(patch.id.to_string());
            }
        }
        edit.renames.extend(renamed.clone());
        promoted.push(Promoted {
            project: name.clone(),
            form: match step.form {
                Form::Branch { .. } => "branch",
                Form::Dir { .. } => "dir",
            },
            backup,
            dropped,
            removed,
            renamed,
            already,
        });
    }
    steps.extend(landed_steps);
    let mut features_removed = Vec::new();
    if !edit.is_empty() {
        let file = workspace.root.join(MANIFEST_FILE);
        let refuse = |why: String| PromoteError::Refused {
            project: checked[0].project.name.clone(),
            why,
        };
        // The text on disk now, under the lock: what the edit starts from.
        let before = std::fs::read_to_string(&file)
            .map_err(|e| refuse(format!("cannot read {}: {e}", file.display())))?;
        let (after, removed) = edit_manifest(&before, &edit).map_err(|e| refuse(e.to_string()))?;
        features_removed = removed;
        if after != before {
            steps.push(PlanStep::EditManifest {
                file: PathBuf::from(MANIFEST_FILE),
                before,
                after,
            });
        }
    }
    Ok((
        PromotionPlan {
            run: run.to_owned(),
            steps,
        },
        promoted,
        features_removed,
    ))
}

/// Why a project cannot be promoted unforced for its re-applied resolutions nobody reviewed.
fn unreviewed_in(project: &ProjectReport) -> Option<String> {
    let waiting: Vec<String> = project
        .patches
        .iter()
        .filter(|p| p.review == Some(ReviewState::Required))
        .map(|p| p.id.to_string())
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "carry re-applied a recorded resolution to {} and nobody reviewed it (`carry review --ack`)",
            waiting.join(", ")
        )
    })
}

/// Records each unreviewed resolution of `project` as promoted by force.
fn record_forced_reviews(
    store: &Store,
    project: &ProjectReport,
) -> Result<(), carry_adapters::store::StoreError> {
    let Some(onto) = project.upstream.as_ref().map(|u| u.to.clone()) else {
        return Ok(());
    };
    for patch in &project.patches {
        if let (Some(resolution), Some(ReviewState::Required)) = (&patch.resolution, patch.review) {
            store.save_review(&carry_adapters::store::ResolutionReview {
                project: project.name.to_string(),
                patch: patch.id.name.to_string(),
                resolution: resolution.clone(),
                onto: onto.clone(),
                acked_by: crate::reviews::who(),
                forced: true,
                at: carry_adapters::store::now(),
            })?;
        }
    }
    Ok(())
}

/// Why a project's run was not clean, if it was not.
fn unclean(project: &ProjectReport) -> Option<String> {
    let failed: Vec<String> = project
        .patches
        .iter()
        .filter(|p| p.outcome.failed())
        .map(|p| p.id.to_string())
        .collect();
    if !failed.is_empty() {
        return Some(format!(
            "patches conflicted or are blocked: {}",
            failed.join(", ")
        ));
    }
    match project.test.status {
        TestStatus::Failed | TestStatus::Timeout | TestStatus::Blocked => Some(format!(
            "its test {}",
            serde_json::to_value(project.test.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )),
        _ => None,
    }
}

fn plan_step<'a>(
    workspace: &LoadedWorkspace,
    project: &'a ProjectReport,
) -> Result<Step<'a>, PromoteError> {
    let refuse = |why: String| PromoteError::Refused {
        project: project.name.clone(),
        why,
    };
    let spec = &workspace.manifest.workspace.projects[&project.name];
    let result = project
        .result
        .as_deref()
        .and_then(|r| Oid::from_str(r).ok())
        .ok_or_else(|| refuse("the run has no result for it".to_owned()))?;
    let upstream = project
        .upstream
        .as_ref()
        .ok_or_else(|| refuse("the run has no upstream position for it".to_owned()))?;
    let onto = Oid::from_str(&upstream.to).map_err(|e| refuse(e.to_string()))?;
    let from = Oid::from_str(&upstream.from).map_err(|e| refuse(e.to_string()))?;
    let repo = git2::Repository::open(workspace.root.join(&spec.repo))
        .map_err(|e| refuse(e.message().to_owned()))?;
    if repo.find_commit(result).is_err() {
        return Err(refuse(format!(
            "its result {result} is not in the repository any more"
        )));
    }
    let form = match &spec.series.source {
        SeriesSource::Branch(branch) => {
            // The branch tip the run read: its last patch, or the base for an empty series.
            let old_tip = project
                .patches
                .last()
                .and_then(|p| p.from.as_deref())
                .and_then(|from| Oid::from_str(from).ok())
                .unwrap_or(from);
            let found = repo
                .refname_to_id(&format!("refs/heads/{branch}"))
                .map_err(|e| refuse(e.message().to_owned()))?;
            if found != old_tip && found != result {
                return Err(refuse(format!(
                    "branch '{branch}' moved since the run (expected {old_tip}, found {found}); run carry again"
                )));
            }
            Form::Branch {
                branch: branch.clone(),
                old_tip,
            }
        }
        SeriesSource::Dir(dir) => Form::Dir {
            dir: workspace.root.join(dir),
        },
    };
    Ok(Step {
        project,
        result,
        onto,
        form,
    })
}

/// A patch directory's new series, written beside the old one.
struct Staged {
    /// Where it is.
    dir: PathBuf,
    /// Where the old series will be kept.
    backup: PathBuf,
    /// The first line of its `series` file.
    marker: String,
    /// Old feature ids of applied patches → their new ids (renumbered files).
    renamed: BTreeMap<String, String>,
    /// Whether the directory holds exactly this series already (nothing staged).
    already: bool,
}

/// Writes the new series of `step` beside `dir` and syncs it.
fn stage_patch_dir(
    workspace: &LoadedWorkspace,
    step: &Step<'_>,
    dir: &Path,
    run: &str,
    promotion_id: &str,
) -> Result<Staged, publish::PublishError> {
    let name = &step.project.name;
    let spec = &workspace.manifest.workspace.projects[name];
    let repo_path = workspace.root.join(&spec.repo);
    let parent = dir.parent().unwrap_or(&workspace.root);
    let base_name = dir
        .file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned());
    let staged = parent.join(format!(".{base_name}.carry-new"));
    let backups = workspace.state_dir().join("backups");
    let backup = backups.join(format!("{name}-{run}"));
    if staged.exists() {
        // Left by a promotion killed before it recorded its plan (one that recorded it was
        // finished before this command started): nothing refers to it, but it is kept.
        let _ = std::fs::create_dir_all(&backups);
        let _ = std::fs::rename(
            &staged,
            backups.join(format!("{name}-stale-{promotion_id}")),
        );
    }
    let files = publish::format_patches(&repo_path, step.onto, step.result, &staged)?;
    let marker = format!(
        "# carried on {}, promoted from carry run {run} ({promotion_id})",
        short(&step.onto.to_string())
    );
    let mut series = format!("{marker}\n");
    for file in &files {
        series.push_str(file);
        series.push('\n');
    }
    std::fs::write(staged.join("series"), series).map_err(|source| publish::PublishError::Io {
        action: "write",
        path: staged.join("series"),
        source,
    })?;

    // Old ids of applied patches, in order, against the new file stems.
    let applied: Vec<String> = step
        .project
        .patches
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Applied { .. }))
        .map(|p| p.id.to_string())
        .collect();
    let mut renamed = BTreeMap::new();
    for (old, file) in applied.iter().zip(&files) {
        let new = format!("{name}/{}", file.trim_end_matches(".patch"));
        if *old != new {
            renamed.insert(old.clone(), new);
        }
    }
    let already = same_contents(dir, &staged);
    if already {
        let _ = std::fs::remove_dir_all(&staged);
    } else {
        publish::sync_dir(&staged)?;
    }
    Ok(Staged {
        dir: staged,
        backup,
        marker,
        renamed,
        already,
    })
}

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

/// Whether two directories hold the same files with the same bytes (the `series` file's
/// provenance comment aside).
fn same_contents(a: &Path, b: &Path) -> bool {
    let read = |dir: &Path| -> Option<BTreeMap<String, Vec<u8>>> {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut bytes = std::fs::read(entry.path()).ok()?;
            if name == "series" {
                let text = String::from_utf8_lossy(&bytes);
                bytes = text
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes();
            }
            files.insert(name, bytes);
        }
        Some(files)
    };
    matches!((read(a), read(b)), (Some(x), Some(y)) if x == y)
}
