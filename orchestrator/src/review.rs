//! `carry review`: what each patch of the last run became, as a range-diff shows it.
//!
//! Each patch's diff as carried (its commit against its parent) is compared with its diff in
//! the candidate: `unchanged` when the two are the same text, `moved` when the lines it adds
//! and removes are the same and only their place or context changed, `modified` when those
//! lines differ. A moved or modified patch comes with its interdiff: a diff of the two diffs,
//! hunk headers without line numbers (as `git range-diff` shows it). For a patch applied
//! from a recorded resolution, the interdiff is what the resolution changed against the
//! original, and the review says whether a human has acknowledged it.

use std::path::Path;

use carry_adapters::rebase::Outcome;
use carry_adapters::store::ResolutionReview;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use serde::Serialize;

use crate::history::History;
use crate::history::HistoryError;
use crate::report::ReviewState;
use crate::workspace::LoadedWorkspace;

/// `carry review --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    /// `carry.review/v1`.
    pub schema: &'static str,
    /// The run reviewed.
    pub run: String,
    /// Each patch asked for, in the report's order.
    pub patches: Vec<PatchReview>,
}

/// What one patch became.
#[derive(Debug, Clone, Serialize)]
pub struct PatchReview {
    /// `PROJECT/PATCH`.
    pub id: PatchRef,
    /// Its subject.
    pub subject: String,
    /// Its outcome in the run.
    pub outcome: &'static str,
    /// For an applied patch: what its diff became.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Its commit as carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its commit in the candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The recorded resolution it was applied with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Whether that resolution still needs a human's look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewState>,
    /// The diff between its diff as carried and as rebased (moved or modified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interdiff: Option<String>,
}

/// What an applied patch's diff became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The same diff.
    Unchanged,
    /// The same lines added and removed; only where, or their context, changed.
    Moved,
    /// The lines added or removed changed.
    Modified,
}

/// Why a review could not be made or recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The store could not record an acknowledgement.
    #[error(transparent)]
    Store(#[from] carry_adapters::store::StoreError),
    /// No run has a report.
    #[error("no run yet: `carry run` makes something to review")]
    NoRun,
    /// What was asked for is not in the last run.
    #[error("no {0} in run {1}")]
    Unknown(String, String),
    /// The patch was not applied from a recorded resolution.
    #[error(
        "nothing to acknowledge: {patch} was not applied from a recorded resolution in run {run} (it is {outcome})"
    )]
    NoResolution {
        /// The patch.
        patch: String,
        /// The run.
        run: String,
        /// What it is.
        outcome: String,
    },
    /// git could not show a commit.
    #[error("{project}: cannot read {commit}: {message}")]
    Git {
        /// The project.
        project: ProjectName,
        /// The commit.
        commit: String,
        /// What git said.
        message: String,
    },
}

/// What to review: a project, a patch, or everything.
#[derive(Debug, Clone, Default)]
pub struct ReviewScope {
    /// Only this project.
    pub project: Option<ProjectName>,
    /// Only this patch (of `project`).
    pub patch: Option<String>,
}

/// The review of the last run's patches in `scope`.
pub fn review(
    workspace: &LoadedWorkspace,
    scope: &ReviewScope,
) -> Result<ReviewReport, ReviewError> {
    let history = History::open(workspace)?;
    let report = history.last_report()?.ok_or(ReviewError::NoRun)?;
    let mut patches = Vec::new();
    let mut found_project = scope.project.is_none();
    for project in &report.projects {
        if scope.project.as_ref().is_some_and(|p| *p != project.name) {
            continue;
        }
        found_project = true;
        let Some(spec) = workspace.manifest.workspace.projects.get(&project.name) else {
            continue;
        };
        let repo_path = workspace.root.join(&spec.repo);
        let repo = git2::Repository::open(&repo_path).map_err(|e| ReviewError::Git {
            project: project.name.clone(),
            commit: repo_path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        for patch in &project.patches {
            if scope
                .patch
                .as_ref()
                .is_some_and(|name| name != patch.id.name.as_str())
            {
                continue;
            }
            let mut entry = PatchReview {
                id: patch.id.clone(),
                subject: patch.subject.clone(),
                outcome: patch.outcome.name(),
                change: None,
                from: patch.from.clone(),
                to: None,
                resolution: patch.resolution.clone(),
                review: patch.review,
                interdiff: None,
            };
            if let (Outcome::Applied { to }, Some(from)) = (&patch.outcome, &patch.from) {
                let git_error = |commit: &str| {
                    let project = project.name.clone();
                    let commit = commit.to_owned();
                    move |e: git2::Error| ReviewError::Git {
                        project,
                        commit,
                        message: e.message().to_owned(),
                    }
                };
                let before = commit_diff(&repo, from).map_err(git_error(from))?;
                let after = commit_diff(&repo, to).map_err(git_error(to))?;
                let (change, interdiff) = compare(&before, &after).map_err(git_error(to))?;
                entry.change = Some(change);
                entry.interdiff = interdiff;
                entry.to = Some(to.clone());
            }
            patches.push(entry);
        }
    }
    if !found_project {
        return Err(ReviewError::Unknown(
            scope
                .project
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            report.run,
        ));
    }
    if let (Some(project), Some(patch)) = (&scope.project, &scope.patch)
        && patches.is_empty()
    {
        return Err(ReviewError::Unknown(
            format!("{project}/{patch}"),
            report.run,
        ));
    }
    Ok(ReviewReport {
        schema: "carry.review/v1",
        run: report.run,
        patches,
    })
}

/// Records that a human looked at the resolution `patch` was applied with in the last run.
pub fn acknowledge(
    workspace: &LoadedWorkspace,
    patch: &PatchRef,
    who: &str,
) -> Result<ResolutionReview, ReviewError> {
    let history = History::open(workspace)?;
    let report = history.last_report()?.ok_or(ReviewError::NoRun)?;
    let project = report
        .projects
        .iter()
        .find(|p| p.name == patch.project)
        .ok_or_else(|| ReviewError::Unknown(patch.to_string(), report.run.clone()))?;
    let entry = project
        .patches
        .iter()
        .find(|p| p.id == *patch)
        .ok_or_else(|| ReviewError::Unknown(patch.to_string(), report.run.clone()))?;
    let (Some(resolution), Some(onto)) = (&entry.resolution, &project.upstream) else {
        return Err(ReviewError::NoResolution {
            patch: patch.to_string(),
            run: report.run.clone(),
            outcome: entry.outcome.name().to_owned(),
        });
    };
    let review = ResolutionReview {
        project: patch.project.to_string(),
        patch: patch.name.to_string(),
        resolution: resolution.clone(),
        onto: onto.to.clone(),
        acked_by: who.to_owned(),
        forced: false,
        at: carry_adapters::store::now(),
    };
    history.store().save_review(&review)?;
    Ok(review)
}

/// The diff `commit` makes against its first parent, as patch text without `index` lines
/// (blob ids change with every rebase).
fn commit_diff(repo: &git2::Repository, commit: &str) -> Result<String, git2::Error> {
    let commit = repo.find_commit(git2::Oid::from_str(commit)?)?;
    let tree = commit.tree()?;
    let parent = match commit.parent(0) {
        Ok(parent) => Some(parent.tree()?),
        Err(_) => None,
    };
    let mut options = git2::DiffOptions::new();
    options.context_lines(3);
    let mut diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut options))?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))?;
    let mut text = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        let content = String::from_utf8_lossy(line.content());
        match line.origin() {
            '+' | '-' | ' ' => text.push(line.origin()),
            _ => {}
        }
        for part in content.split_inclusive('\n') {
            if !part.starts_with("index ") {
                text.push_str(part);
            }
        }
        true
    })?;
    Ok(text)
}

/// The hunk header `@@ -a,b +c,d @@ tail` as `@@ tail`.
fn without_line_numbers(line: &str) -> String {
    match line
        .strip_prefix("@@ ")
        .and_then(|rest| rest.find(" @@").map(|end| &rest[end + 3..]))
    {
        Some(tail) => format!("@@{tail}"),
        None => line.to_owned(),
    }
}

/// The lines a diff adds and removes, with the file headers they belong to.
fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|line| {
            line.starts_with("diff ")
                || (line.starts_with('+') && !line.starts_with("+++"))
                || (line.starts_with('-') && !line.starts_with("---"))
        })
        .collect()
}

fn compare(before: &str, after: &str) -> Result<(Change, Option<String>), git2::Error> {
    if before == after {
        return Ok((Change::Unchanged, None));
    }
    let change = if changed_lines(before) == changed_lines(after) {
        Change::Moved
    } else {
        Change::Modified
    };
    let normalize = |diff: &str| {
        diff.lines()
            .map(|line| without_line_numbers(line) + "\n")
            .collect::<String>()
    };
    let (before, after) = (normalize(before), normalize(after));
    let mut options = git2::DiffOptions::new();
    options.context_lines(3);
    let patch = git2::Patch::from_buffers(
        before.as_bytes(),
        Some(Path::new("before")),
        after.as_bytes(),
        Some(Path::new("after")),
        Some(&mut options),
    )?;
    let mut interdiff = String::new();
    let mut hunks = 0;
    for hunk in 0..patch.num_hunks() {
        let (header, lines) = patch.hunk(hunk)?;
        let _ = header;
        hunks += 1;
        interdiff.push_str("@@\n");
        for line in 0..lines {
            let line = patch.line_in_hunk(hunk, line)?;
            interdiff.push(line.origin());
            interdiff.push_str(&String::from_utf8_lossy(line.content()));
        }
    }
    // Only line numbers differed: nothing to show.
    Ok((change, (hunks > 0).then_some(interdiff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARRIED: &str =
        "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@ int main\n a\n-b\n+B\n c\n";

    #[test]
    fn a_patch_is_unchanged_moved_or_modified() {
        assert_eq!(
            compare(CARRIED, CARRIED).expect("compared"),
            (Change::Unchanged, None)
        );
        // Elsewhere in the file: only the line numbers differ, nothing to show.
        let shifted = CARRIED.replace("@@ -1,3 +1,3 @@", "@@ -10,3 +10,3 @@");
        assert_eq!(
            compare(CARRIED, &shifted).expect("compared"),
            (Change::Moved, None)
        );
        // New context: moved, and the interdiff shows the context.
        let context = CARRIED.replace(" c\n", " see\n");
        let (change, interdiff) = compare(CARRIED, &context).expect("compared");
        assert_eq!(change, Change::Moved);
        let interdiff = interdiff.expect("an interdiff");
        assert!(interdiff.contains("- c\n+ see\n"), "{interdiff}");
        // Another line added: modified.
        let modified = CARRIED.replace("+B\n", "+B2\n");
        let (change, interdiff) = compare(CARRIED, &modified).expect("compared");
        assert_eq!(change, Change::Modified);
        assert!(interdiff.expect("an interdiff").contains("-+B\n++B2\n"));
    }
}
