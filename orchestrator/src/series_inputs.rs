//! A series as the rebase engine takes it: a branch's commits, or a patch directory's files
//! applied onto their base as commits (a file that cannot be used is that patch's outcome).

use std::collections::BTreeMap;
use std::path::Path;

use carry_adapters::git::ProjectRepo;
use carry_adapters::rebase;
use carry_adapters::rebase::PatchBody;
use carry_adapters::rebase::PatchProblem;
use carry_adapters::rebase::apply::AppliedFile;
use carry_adapters::rebase::apply::PatchFileInput;
use carry_adapters::series::PatchSource;
use carry_adapters::series::SeriesListing;
use carry_graph::workspace::Project;
use git2::Oid;

use crate::error::error_chain;
use crate::refs::APPLIED_BASE_REFS;

/// A patch directory's base: the pinned one, else the one carry recorded, else upstream now
/// (recorded for next time).
pub(crate) fn dir_base(repo: &ProjectRepo, project: &Project, to: Oid) -> Result<Oid, String> {
    if let Some(base) = &project.series.base {
        return repo.resolve_local(base).ok_or_else(|| {
            format!(
                "base '{base}' is not in the repository; run `carry fetch {}`",
                project.name
            )
        });
    }
    let recorded = format!("{APPLIED_BASE_REFS}{}", project.name);
    if let Ok(reference) = repo.repo().find_reference(&recorded)
        && let Some(oid) = reference.target()
    {
        return Ok(oid);
    }
    repo.repo()
        .reference(
            &recorded,
            to,
            false,
            "carry: first base of a patch directory",
        )
        .map_err(|error| format!("cannot record {recorded}: {error}"))?;
    Ok(to)
}

/// One patch of a series as the engine gets it, with notes from reading it.
pub(crate) struct SeriesInput {
    pub(crate) name: String,
    pub(crate) body: PatchBody,
    /// What carry accepted in a patch file that `git am` would not.
    pub(crate) notes: Vec<String>,
}

/// The commits of a branch series.
pub(crate) fn branch_inputs(listing: &SeriesListing) -> Vec<SeriesInput> {
    listing
        .patches
        .iter()
        .filter_map(|patch| match patch.source {
            PatchSource::Commit(commit) => Some(SeriesInput {
                name: patch.name.to_string(),
                body: PatchBody::Commit(commit),
                notes: Vec::new(),
            }),
            PatchSource::File { .. } => None,
        })
        .collect()
}

/// The patch files of a directory series, applied onto `base` as commits; a file that cannot
/// be read or applied is that patch's outcome, not the project's.
pub(crate) fn dir_commits(
    root: &Path,
    repo: &ProjectRepo,
    base: Oid,
    listing: &SeriesListing,
) -> Result<Vec<SeriesInput>, String> {
    let mut files = Vec::with_capacity(listing.patches.len());
    let mut unreadable = BTreeMap::new();
    for (index, patch) in listing.patches.iter().enumerate() {
        let PatchSource::File { path, strip, .. } = &patch.source else {
            continue;
        };
        let bytes = match carry_adapters::series::read_patch_file(root, path) {
            Ok(bytes) => bytes,
            Err(reason) => {
                unreadable.insert(index, reason);
                Vec::new()
            }
        };
        files.push(PatchFileInput {
            path: path.clone(),
            bytes,
            strip: *strip,
        });
    }
    let applied = rebase::apply::apply_patch_files(repo.repo(), base, &files)
        .map_err(|error| error_chain(&error))?;
    Ok(listing
        .patches
        .iter()
        .zip(applied)
        .enumerate()
        .map(|(index, (patch, applied))| {
            let (body, notes) = match applied {
                AppliedFile::Commit { id, notes } => (PatchBody::Commit(id), notes),
                AppliedFile::Unusable {
                    subject,
                    paths,
                    error,
                } => {
                    let problem = match unreadable.get(&index) {
                        Some(reason) => PatchProblem {
                            file: error.file,
                            line: 1,
                            reason: reason.clone(),
                        },
                        None => PatchProblem {
                            file: error.file,
                            line: error.line,
                            reason: error.reason,
                        },
                    };
                    (
                        PatchBody::Unusable {
                            subject,
                            paths,
                            problem: Some(problem),
                        },
                        Vec::new(),
                    )
                }
                AppliedFile::Waiting { subject, paths, .. } => (
                    PatchBody::Unusable {
                        subject,
                        paths,
                        problem: None,
                    },
                    Vec::new(),
                ),
            };
            SeriesInput {
                name: patch.name.to_string(),
                body,
                notes,
            }
        })
        .collect())
}

/// The series as it is carried now, as a commit: a branch's tip, or a patch directory's files
/// applied onto its base (written to the repository, so a checkout can read them). This is
/// what a run tests its consumers against when the project itself is not redone.
pub(crate) fn series_tip(
    root: &Path,
    project: &Project,
    listing: &SeriesListing,
) -> Result<Oid, String> {
    let local_upstream = match &project.upstream.source {
        carry_graph::workspace::UpstreamSource::Path(path) => Some(root.join(path)),
        carry_graph::workspace::UpstreamSource::Url(_) => None,
    };
    let repo = ProjectRepo::open(&root.join(&project.repo), local_upstream.as_deref())
        .map_err(|e| error_chain(&e))?;
    if let Some(tip) = listing.patches.iter().rev().find_map(|p| match p.source {
        PatchSource::Commit(commit) => Some(commit),
        PatchSource::File { .. } => None,
    }) {
        return Ok(tip);
    }
    let base = match (&project.series.source, listing.base) {
        (carry_graph::workspace::SeriesSource::Branch(_), Some(base)) => base,
        (carry_graph::workspace::SeriesSource::Branch(_), None) => {
            return Err("the series has no base".to_owned());
        }
        (carry_graph::workspace::SeriesSource::Dir(_), _) => {
            let upstream = repo
                .upstream_tip(&project.upstream.reference)
                .ok_or_else(|| {
                    format!("upstream '{}' is not fetched", project.upstream.reference)
                })?;
            dir_base(&repo, project, upstream)?
        }
    };
    let batch = repo.with_writes_in_memory().map_err(|e| error_chain(&e))?;
    let commits: Vec<Oid> = dir_commits(root, &batch, base, listing)?
        .into_iter()
        .filter_map(|input| match input.body {
            PatchBody::Commit(id) => Some(id),
            PatchBody::Unusable { .. } => None,
        })
        .collect();
    let Some(&tip) = commits.last() else {
        return Ok(base);
    };
    carry_adapters::pack::write_new_objects(batch.repo(), base, base, &commits)
        .map_err(|e| error_chain(&e))?;
    Ok(tip)
}
