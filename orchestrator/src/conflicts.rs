//! `carry conflicts`: the open conflicts of the last run, each with a key that stays the same
//! from run to run while the conflict does, who wrote the patch, which upstream commit broke
//! it and who wrote that, and since which run it has been open.
//!
//! A conflict's key is the patch and a digest of what conflicts: each path, its kind and, for
//! content conflicts, each hunk's three images (old base, upstream, patch). Upstream moving
//! on elsewhere keeps the key; upstream touching those lines again makes a new conflict.

use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::merge::PathConflict;
use carry_graph::ProjectName;
use serde::Serialize;

use crate::history::History;
use crate::history::HistoryError;
use crate::report::ProjectStatus;
use crate::report::RunReport;
use crate::workspace::LoadedWorkspace;

/// The schema of `carry conflicts --json`.
pub const CONFLICTS_SCHEMA: &str = "carry.conflicts/v1";

/// How many earlier runs are read to find when a conflict opened.
const LOOK_BACK: usize = 200;

/// A commit, as a reader of a conflict needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// Its id.
    pub commit: String,
    /// `Name <email>`.
    pub author: String,
    /// Its subject line.
    pub summary: String,
}

/// One open conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenConflict {
    /// `PROJECT/PATCH:DIGEST`, the same in every run while the conflict is the same.
    pub key: String,
    /// The project.
    pub project: ProjectName,
    /// The patch's name in its series.
    pub patch: String,
    /// Its subject.
    pub subject: String,
    /// Who wrote it (`Name <email>`), when its commit is readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_author: Option<String>,
    /// The first upstream commit at which the patch stops applying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub culprit: Option<CommitInfo>,
    /// The conflicting paths.
    pub paths: Vec<String>,
    /// How many upstream commits of the moved range touched those paths.
    pub upstream_commits: usize,
    /// The first run of the unbroken line of runs that met this conflict.
    pub since_run: String,
    /// How many runs in a row met it (1: this one is the first).
    pub nights: usize,
    /// The run this list is from.
    pub run: String,
}

/// Every open conflict.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictList {
    /// [`CONFLICTS_SCHEMA`].
    pub schema: &'static str,
    /// The last run with a report, if any.
    pub run: Option<String>,
    /// In the run's order of projects, then series order.
    pub conflicts: Vec<OpenConflict>,
}

/// The key of a patch's conflict: the patch and a digest of what conflicts.
pub fn conflict_key(patch: &str, conflicts: &[PathConflict]) -> String {
    let mut digest = sha1_smol::Sha1::new();
    let mut sorted: Vec<&PathConflict> = conflicts.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for conflict in sorted {
        digest.update(conflict.path.as_bytes());
        digest.update(format!("\0{:?}\0", conflict.kind).as_bytes());
        for hunk in &conflict.hunks {
            for side in [&hunk.base, &hunk.upstream, &hunk.patch] {
                for line in side {
                    digest.update(line.as_bytes());
                    digest.update(b"\n");
                }
                digest.update(b"\0");
            }
        }
    }
    let hex = digest.digest().to_string();
    format!("{patch}:{}", &hex[..12])
}

/// The open conflicts of the last run.
pub fn open_conflicts(workspace: &LoadedWorkspace) -> Result<ConflictList, HistoryError> {
    let history = History::open(workspace)?;
    let runs = history.runs(LOOK_BACK)?;
    let mut reports: Vec<RunReport> = Vec::new();
    for run in &runs {
        if let Some(report) = history.report(&run.id)? {
            reports.push(report);
        }
    }
    let Some(last) = reports.first() else {
        return Ok(ConflictList {
            schema: CONFLICTS_SCHEMA,
            run: None,
            conflicts: Vec::new(),
        });
    };
    let mut conflicts = Vec::new();
    for project in &last.projects {
        let repo = workspace
            .manifest
            .workspace
            .projects
            .get(&project.name)
            .and_then(|p| git2::Repository::open(workspace.root.join(&p.repo)).ok());
        for patch in &project.patches {
            let Outcome::Conflict {
                paths,
                conflicts: detail,
                upstream_commits,
                first_bad,
            } = &patch.outcome
            else {
                continue;
            };
            let key = conflict_key(&patch.id.to_string(), detail);
            let (since_run, nights) = since(&reports, &project.name, &key);
            conflicts.push(OpenConflict {
                key,
                project: project.name.clone(),
                patch: patch.id.name.to_string(),
                subject: patch.subject.clone(),
                patch_author: patch
                    .from
                    .as_deref()
                    .and_then(|id| commit_info(repo.as_ref(), id))
                    .map(|c| c.author),
                culprit: first_bad
                    .as_deref()
                    .and_then(|id| commit_info(repo.as_ref(), id)),
                paths: paths.clone(),
                upstream_commits: upstream_commits.len(),
                since_run,
                nights,
                run: last.run.clone(),
            });
        }
    }
    Ok(ConflictList {
        schema: CONFLICTS_SCHEMA,
        run: Some(last.run.clone()),
        conflicts,
    })
}

/// The oldest run of the unbroken line, newest first in `reports`, that met the conflict
/// `key` in `project` (a run that left the project alone does not break the line), and how
/// many runs of that line met it.
fn since(reports: &[RunReport], project: &ProjectName, key: &str) -> (String, usize) {
    let mut oldest = reports.first().map(|r| r.run.clone()).unwrap_or_default();
    let mut nights = 0;
    for report in reports {
        let Some(entry) = report.projects.iter().find(|p| &p.name == project) else {
            continue;
        };
        if entry.status == ProjectStatus::Unchanged {
            continue;
        }
        let met = entry.patches.iter().any(|patch| match &patch.outcome {
            Outcome::Conflict { conflicts, .. } => {
                conflict_key(&patch.id.to_string(), conflicts) == key
            }
            _ => false,
        });
        if !met {
            break;
        }
        nights += 1;
        oldest.clone_from(&report.run);
    }
    (oldest, nights.max(1))
}

/// The conflict keys each project's last worked-on run before the newest one had, for the
/// projects the newest run worked on: what the newest run may have resolved.
pub fn earlier_keys(workspace: &LoadedWorkspace) -> Result<Vec<(String, String)>, HistoryError> {
    let history = History::open(workspace)?;
    let mut reports: Vec<RunReport> = Vec::new();
    for run in history.runs(LOOK_BACK)? {
        if let Some(report) = history.report(&run.id)? {
            reports.push(report);
        }
    }
    let Some((last, earlier)) = reports.split_first() else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for project in last
        .projects
        .iter()
        .filter(|p| p.status != ProjectStatus::Unchanged)
    {
        let Some(before) = earlier.iter().find_map(|report| {
            report
                .projects
                .iter()
                .find(|p| p.name == project.name && p.status != ProjectStatus::Unchanged)
        }) else {
            continue;
        };
        for patch in &before.patches {
            if let Outcome::Conflict { conflicts, .. } = &patch.outcome {
                keys.push((
                    conflict_key(&patch.id.to_string(), conflicts),
                    patch.id.to_string(),
                ));
            }
        }
    }
    Ok(keys)
}

fn commit_info(repo: Option<&git2::Repository>, id: &str) -> Option<CommitInfo> {
    let repo = repo?;
    let commit = repo.find_commit(git2::Oid::from_str(id).ok()?).ok()?;
    let author = commit.author();
    Some(CommitInfo {
        commit: id.to_owned(),
        author: format!(
            "{} <{}>",
            String::from_utf8_lossy(author.name_bytes()),
            String::from_utf8_lossy(author.email_bytes())
        ),
        summary: commit.summary().unwrap_or_default().to_owned(),
    })
}
