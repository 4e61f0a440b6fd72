//! The rebase engine: one series onto a new upstream, in memory.
//!
//! Takes object ids, returns object ids and outcomes; never reads the manifest, never prints,
//! never touches a working tree, an index file or a ref. New objects go to the repository's
//! object database. For each patch, in order:
//! 1. blocked, if a feature says it needs a patch that failed, if it touches a path a failed
//!    patch of this series touched, or if its `Carry-Requires:` names a failed patch;
//! 2. landed, if upstream already has it (see [`landed`]), whatever a merge would say;
//! 3. otherwise merged onto the rebased tip: applied, landed (`empty`), or a conflict with
//!    the whole census (paths, hunks, upstream commits that touched them, the first bad one).

mod ahead;
pub mod apply;
mod census;
pub mod landed;
pub mod merge;
mod patch_id;
mod renames;
mod tree_diff;
mod verdicts;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use git2::Oid;
use git2::Repository;
use landed::LandedBy;
use landed::UpstreamCache;
use landed::UpstreamIndex;
use landed::UpstreamRange;
use merge::PathConflict;
use merge::TreeMerge;
use serde::Deserialize;
use serde::Serialize;
use tree_diff::TreeReader;

use crate::git::GitError;

/// One patch to carry over.
#[derive(Debug, Clone)]
pub struct PatchInput {
    /// The patch's name in its series.
    pub name: String,
    /// What it is.
    pub body: PatchBody,
    /// Patches of other projects it needs (through features) that failed: it is blocked by them.
    pub blocked_by: Vec<String>,
    /// Patches of this series it needs (through features), by name: if one of them fails
    /// first, this one is blocked, as by a `Carry-Requires:` trailer.
    pub needs: Vec<String>,
}

/// A patch as the engine gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchBody {
    /// A commit whose first parent is the previous patch's commit (or the base).
    Commit(Oid),
    /// A patch file that gave no commit: it cannot be read or does not apply to its own base
    /// (`problem`), or it waits for such a patch before it (`problem` is `None`; it touches
    /// one of that patch's paths, so it is blocked by it).
    Unusable {
        /// Its subject, or its file's stem.
        subject: String,
        /// The paths it names.
        paths: Vec<String>,
        /// Where and why it is unusable.
        problem: Option<PatchProblem>,
    },
}

impl PatchBody {
    /// The commit, for a patch that has one.
    pub fn commit(&self) -> Option<Oid> {
        match self {
            Self::Commit(id) => Some(*id),
            Self::Unusable { .. } => None,
        }
    }
}

/// Why a patch file is unusable: the line of the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchProblem {
    /// The patch file, relative to the workspace.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// What to rebase.
#[derive(Debug, Clone)]
pub struct RebaseRequest {
    /// The upstream commit the series sits on now.
    pub old_base: Oid,
    /// The upstream commit to carry the series to.
    pub onto: Oid,
    /// The patches, in order.
    pub patches: Vec<PatchInput>,
}

/// What happened to one patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried over; its new commit.
    Applied {
        /// The new commit.
        to: String,
    },
    /// Upstream already has it.
    Landed {
        /// The upstream commit that matched, where one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream_commit: Option<String>,
        /// The signal that matched.
        by: LandedBy,
    },
    /// It does not merge.
    Conflict {
        /// The conflicting paths.
        paths: Vec<String>,
        /// Each conflicting path with its kind and hunks.
        conflicts: Vec<PathConflict>,
        /// Upstream commits in the moved range that touched those paths, oldest first.
        upstream_commits: Vec<String>,
        /// The first upstream commit (first-parent line) at which the patch stops applying.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_bad: Option<String>,
    },
    /// It needs a patch that conflicted or was blocked.
    Blocked {
        /// The patches it waits for.
        blocked_by: Vec<String>,
    },
    /// The patch file cannot be read or does not apply to its own base.
    Error {
        /// Where and why.
        #[serde(flatten)]
        problem: PatchProblem,
    },
}

impl Outcome {
    /// Whether later patches that depend on this one must be blocked.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::Blocked { .. } | Self::Error { .. }
        )
    }
}

/// One patch's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchResult {
    /// The patch's name in its series.
    pub name: String,
    /// Its subject line.
    pub subject: String,
    /// Its commit before the rebase (none for a patch file that gave no commit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Things a human should check (a subject that matches an upstream commit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A rebased series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesResult {
    /// The new tip: upstream plus every applied patch.
    pub tip: Oid,
    /// Each patch, in series order.
    pub patches: Vec<PatchResult>,
    /// How many upstream commits the moved range holds.
    pub upstream_commits: usize,
}

/// Why a series could not be rebased at all (a conflict is an outcome, not this).
#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A patch commit has no parent to diff against.
    #[error("patch '{name}' ({commit}) has no parent commit")]
    Root {
        /// The patch.
        name: String,
        /// Its commit.
        commit: String,
    },
}

/// Options for [`rebase_series`].
#[derive(Debug, Default, Clone)]
pub struct RebaseOptions {
    /// Skip the bisection for the first bad upstream commit.
    pub skip_first_bad: bool,
    /// Rebase on the calling thread alone (the caller already keeps every core busy, with
    /// other projects).
    pub one_thread: bool,
}

/// Rebases `request`'s patches onto `request.onto`, in memory.
pub fn rebase_series(
    repo: &Repository,
    request: &RebaseRequest,
    cache: &mut UpstreamCache,
    options: &RebaseOptions,
) -> Result<SeriesResult, RebaseError> {
    rebase_series_with_progress(repo, request, cache, options, &mut |_, _| {})
}

/// [`rebase_series`], calling `on_patch(index, name)` as each patch starts.
pub fn rebase_series_with_progress(
    repo: &Repository,
    request: &RebaseRequest,
    cache: &mut UpstreamCache,
    options: &RebaseOptions,
    on_patch: &mut dyn FnMut(usize, &str),
) -> Result<SeriesResult, RebaseError> {
    // carry wrote or verified every object it reads back here; git's checks on creation and
    // hash verification on read only cost time (process-wide settings, safe to repeat).
    git2::opts::strict_object_creation(false);
    git2::opts::strict_hash_verification(false);
    // libgit2's object cache kept every object of the landed index's 5,000-commit walk and
    // cost more to fill and free than it saved (measured: cold index 500 -> 380 ms without);
    // the tree diff keeps the few trees it reads again itself.
    git2::opts::enable_caching(false);
    let started = std::time::Instant::now();
    // What each patch changes, first: the landed index looks only where the series does.
    let mut trees = TreeReader::new(repo)?;
    let mut prepared = Vec::with_capacity(request.patches.len());
    for input in &request.patches {
        let id = match &input.body {
            PatchBody::Commit(id) => id,
            PatchBody::Unusable {
                subject,
                paths,
                problem,
            } => {
                prepared.push(Prepared::Unusable {
                    subject,
                    paths,
                    problem,
                });
                continue;
            }
        };
        let commit = repo
            .find_commit(*id)
            .map_err(GitError::git("reading a patch commit"))?;
        let parent = commit.parent(0).map_err(|_| RebaseError::Root {
            name: input.name.clone(),
            commit: id.to_string(),
        })?;
        let changes = trees.changes(Some(parent.tree_id()), Some(commit.tree_id()))?;
        prepared.push(Prepared::Commit {
            commit,
            parent_tree: parent.tree_id(),
            changes,
        });
    }
    let interesting: Vec<String> = prepared
        .iter()
        .flat_map(|prepared| match prepared {
            Prepared::Commit { changes, .. } => changes.iter().map(|c| c.path.clone()).collect(),
            Prepared::Unusable { .. } => Vec::new(),
        })
        .collect();
    let range = UpstreamRange::walk(repo, request.old_base, request.onto)?;
    let jobs: Vec<Option<verdicts::Job>> = prepared
        .iter()
        .map(|prepared| match prepared {
            Prepared::Commit {
                commit, changes, ..
            } => Some(verdicts::Job {
                commit: commit.id(),
                paths: changes.iter().map(|c| c.path.clone()).collect(),
            }),
            Prepared::Unusable { .. } => None,
        })
        .collect();
    // Workers read the patches' commits through their own handles, so only when the
    // commits are on disk (a trial's are in memory only).
    let on_disk = Repository::open(repo.path())
        .and_then(|disk| {
            let odb = disk.odb()?;
            Ok(jobs.iter().flatten().all(|job| odb.exists(job.commit)))
        })
        .unwrap_or(false);
    // Landed verdicts on every core but one, text merges made ahead on that one (measured on
    // 2 cores: a verdict worker per core starves the merges of a clean series, 0.68 -> 0.78 s
    // on 300 DPDK patches, while a backport series gains 0.45 -> 0.42 s).
    let workers = if on_disk && jobs.len() > 1 && !options.one_thread {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .saturating_sub(1)
            .max(1)
    } else {
        0
    };
    if workers == 0 {
        let indexing = std::time::Instant::now();
        let index = UpstreamIndex::of_range(
            repo,
            range,
            &mut cache.commits,
            interesting.iter().map(String::as_str),
        )?;
        let index_time = indexing.elapsed();
        let mut decided: Vec<Option<verdicts::Landed>> =
            verdicts::decide_all(repo, &index, &jobs, cache)?;
        let series = Series {
            repo,
            request,
            options,
            index: &index,
            ahead: None,
        };
        let (tip, results) = merge_all(&series, prepared, &mut trees, on_patch, &mut |position| {
            Ok(decided.get_mut(position).and_then(Option::take))
        })?;
        return Ok(finished(
            started,
            index_time,
            workers,
            tip,
            results,
            index.len(),
        ));
    }

    // A patch that names an upstream commit of the range is landed: no merge of it is made
    // ahead, and its verdict (its note) is worked out while the range is indexed.
    let named: Vec<Option<Oid>> = prepared
        .iter()
        .map(|prepared| match prepared {
            Prepared::Commit { commit, .. } => {
                range.named(repo, &String::from_utf8_lossy(commit.message_bytes()))
            }
            Prepared::Unusable { .. } => None,
        })
        .collect();
    let plan: ahead::Plan = prepared
        .iter()
        .zip(&named)
        .map(|(prepared, named)| match prepared {
            Prepared::Commit { changes, .. } if named.is_none() => changes
                .iter()
                .filter_map(|c| Some((c.path.clone(), c.before?, c.after?)))
                .filter(|(_, before, after)| before.is_blob() && after.is_blob())
                .collect(),
            Prepared::Commit { .. } | Prepared::Unusable { .. } => Vec::new(),
        })
        .collect();
    let index_slot: OnceLock<UpstreamIndex> = OnceLock::new();
    let made_ahead = ahead::Ahead::default();
    let facts = &mut cache.commits;
    let verdicts = verdicts::Verdicts::new(jobs, named, &cache.patch_ids);
    let path = repo.path().to_owned();
    let merged = std::thread::scope(|scope| {
        // However this thread leaves (an error, a panic), the workers must not wait for it.
        let _release = Release {
            verdicts: &verdicts,
            ahead: &made_ahead,
        };
        for _ in 0..workers {
            scope.spawn(|| verdicts.work(&path));
        }
        scope.spawn(|| made_ahead.work(&path, request.onto, &plan));
        let indexing = std::time::Instant::now();
        let built =
            UpstreamIndex::of_range(repo, range, facts, interesting.iter().map(String::as_str))?;
        let index_time = indexing.elapsed();
        let index = index_slot.get_or_init(|| built);
        verdicts.index_built(index);
        let series = Series {
            repo,
            request,
            options,
            index,
            ahead: Some(&made_ahead),
        };
        let merged = merge_all(&series, prepared, &mut trees, on_patch, &mut |position| {
            verdicts.take(position)
        });
        if merged.is_err() {
            verdicts.stop();
        }
        merged.map(|(tip, results)| (tip, results, index.len(), index_time))
    });
    let found = verdicts.into_found();
    cache.patch_ids.extend(found);
    let (tip, results, upstream_commits, index_time) = merged?;
    Ok(finished(
        started,
        index_time,
        workers,
        tip,
        results,
        upstream_commits,
    ))
}

/// Lets a series' helper threads go when the merging thread leaves, however it leaves.
struct Release<'r, 'a> {
    verdicts: &'r verdicts::Verdicts<'a>,
    ahead: &'r ahead::Ahead,
}

impl Drop for Release<'_, '_> {
    fn drop(&mut self) {
        self.verdicts.index_abandoned();
        self.ahead.finish();
    }
}

/// The result of a rebased series, logged.
fn finished(
    started: std::time::Instant,
    index_time: std::time::Duration,
    workers: usize,
    tip: Oid,
    results: Vec<PatchResult>,
    upstream_commits: usize,
) -> SeriesResult {
    tracing::debug!(
        patches = results.len(),
        workers,
        upstream_commits,
        elapsed_ms = started.elapsed().as_millis(),
        index_ms = index_time.as_millis(),
        "rebased series"
    );
    SeriesResult {
        tip,
        patches: results,
        upstream_commits,
    }
}

/// What every patch of a series is merged with.
#[derive(Clone, Copy)]
struct Series<'a> {
    repo: &'a Repository,
    request: &'a RebaseRequest,
    options: &'a RebaseOptions,
    index: &'a UpstreamIndex,
    /// Text merges made ahead by another thread, when one runs.
    ahead: Option<&'a ahead::Ahead>,
}

/// The merge loop: each patch in order onto the tip so far, taking whether it landed from
/// `landed` (see [`verdicts`]).
fn merge_all(
    series: &Series<'_>,
    prepared: Vec<Prepared<'_, '_>>,
    trees: &mut TreeReader<'_>,
    on_patch: &mut dyn FnMut(usize, &str),
    landed: &mut dyn FnMut(usize) -> Result<Option<verdicts::Landed>, GitError>,
) -> Result<(Oid, Vec<PatchResult>), RebaseError> {
    let Series {
        repo,
        request,
        options,
        index,
        ahead,
    } = *series;
    let mut tip = repo
        .find_commit(request.onto)
        .map_err(GitError::git("reading the new upstream commit"))?;
    let mut failures = Failures::default();
    let mut results = Vec::with_capacity(request.patches.len());

    for ((position, input), prepared) in request.patches.iter().enumerate().zip(prepared) {
        on_patch(position, &input.name);
        if let Some(ahead) = ahead {
            ahead.reached(position);
        }
        let (commit, parent_tree, changes) = match prepared {
            Prepared::Commit {
                commit,
                parent_tree,
                changes,
            } => (commit, parent_tree, changes),
            Prepared::Unusable {
                subject,
                paths,
                problem,
            } => {
                let outcome = match problem {
                    Some(problem) => Outcome::Error {
                        problem: problem.clone(),
                    },
                    None => Outcome::Blocked {
                        blocked_by: failures.blockers(input, paths, "").into_iter().collect(),
                    },
                };
                failures.record(&input.name, paths);
                results.push(PatchResult {
                    name: input.name.clone(),
                    subject: subject.to_owned(),
                    from: None,
                    outcome,
                    notes: Vec::new(),
                });
                continue;
            }
        };
        let parent_tree = repo
            .find_tree(parent_tree)
            .map_err(GitError::git("reading a tree"))?;
        let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        let subject = commit.summary().unwrap_or("").to_owned();
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let mut notes = Vec::new();

        let blockers = failures.blockers(input, &paths, &message);

        // Landed first: what upstream already has is landed, whatever came before it.
        let outcome = if let Some(found) = landed(position)? {
            notes.extend(found.note);
            let (upstream, by) = (found.upstream, found.by);
            Outcome::Landed {
                upstream_commit: upstream.map(|id| id.to_string()),
                by,
            }
        } else if blockers.is_empty() {
            let tip_tree = tip.tree().map_err(GitError::git("reading a tree"))?;
            match merge_onto(repo, trees, &tip_tree, &parent_tree, &changes, ahead)? {
                // A commit that was empty in the series stays, as `git rebase` keeps it.
                TreeMerge::Clean(tree) if tree == tip_tree.id() && !changes.is_empty() => {
                    landed_empty(repo, index, &paths)?
                }
                TreeMerge::Clean(tree) => {
                    let id = rebased_commit(repo, &commit, tree, tip.id())?;
                    tip = repo
                        .find_commit(id)
                        .map_err(GitError::git("reading a rebased commit"))?;
                    Outcome::Applied { to: id.to_string() }
                }
                TreeMerge::Conflict(conflicts) => {
                    let conflict_paths: Vec<String> =
                        conflicts.iter().map(|c| c.path.clone()).collect();
                    let upstream_commits = index
                        .touching(repo, conflict_paths.iter().map(String::as_str))?
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    let first_bad = if options.skip_first_bad {
                        None
                    } else {
                        census::first_bad(
                            repo,
                            request.old_base,
                            request.onto,
                            &parent_tree,
                            &changes,
                        )?
                        .map(|id| id.to_string())
                    };
                    Outcome::Conflict {
                        paths: conflict_paths,
                        conflicts,
                        upstream_commits,
                        first_bad,
                    }
                }
                TreeMerge::NeedsRenames => {
                    unreachable!("the rename-following merge never asks for itself")
                }
            }
        } else if !changes.is_empty() && {
            let tip_tree = tip.tree().map_err(GitError::git("reading a tree"))?;
            merge_onto(repo, trees, &tip_tree, &parent_tree, &changes, ahead)?
                == TreeMerge::Clean(tip_tree.id())
        } {
            // Upstream already has all of it: landed, whatever it waited for (as git's own
            // chain of merges finds it empty).
            landed_empty(repo, index, &paths)?
        } else {
            Outcome::Blocked {
                blocked_by: blockers.into_iter().collect(),
            }
        };

        if !matches!(outcome, Outcome::Landed { .. })
            && let Some(same) = index.same_subject(&subject)
        {
            notes.push(format!(
                "upstream commit {same} has the same subject; check whether this patch landed"
            ));
        }
        if outcome.failed() {
            failures.record(&input.name, &paths);
        }
        results.push(PatchResult {
            name: input.name.clone(),
            subject,
            from: Some(commit.id().to_string()),
            outcome,
            notes,
        });
    }
    Ok((tip.id(), results))
}

/// The patch `changes` (made on `parent_tree`) merged onto `tip_tree`, following renames
/// where the path-by-path merge asks for them.
fn merge_onto(
    repo: &Repository,
    trees: &mut TreeReader<'_>,
    tip_tree: &git2::Tree<'_>,
    parent_tree: &git2::Tree<'_>,
    changes: &[merge::PathChange],
    ahead: Option<&ahead::Ahead>,
) -> Result<TreeMerge, GitError> {
    match merge::merge_changes(repo, changes, tip_tree, ahead)? {
        TreeMerge::NeedsRenames => {
            renames::merge(repo, trees, parent_tree, tip_tree, changes, ahead)
        }
        merged => Ok(merged),
    }
}

/// A patch whose changes upstream already has, credited to the last upstream commit that
/// touched its paths.
fn landed_empty(
    repo: &Repository,
    index: &UpstreamIndex,
    paths: &[String],
) -> Result<Outcome, GitError> {
    Ok(Outcome::Landed {
        upstream_commit: index
            .touching(repo, paths.iter().map(String::as_str))?
            .last()
            .map(ToString::to_string),
        by: LandedBy::Empty,
    })
}

/// `original` on a new tree and parent: its author, committer, `encoding` and message kept
/// byte for byte (a message need not be UTF-8); a signature and other headers do not carry
/// over, as `git rebase` drops them.
fn rebased_commit(
    repo: &Repository,
    original: &git2::Commit<'_>,
    tree: Oid,
    parent: Oid,
) -> Result<Oid, GitError> {
    let mut raw = format!("tree {tree}\nparent {parent}\n").into_bytes();
    let mut keep = false;
    for line in original.raw_header_bytes().split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b" ") {
            keep = [&b"author "[..], b"committer ", b"encoding "]
                .iter()
                .any(|key| line.starts_with(key));
        }
        if keep {
            raw.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                raw.push(b'\n');
            }
        }
    }
    raw.push(b'\n');
    raw.extend_from_slice(original.message_raw_bytes());
    repo.odb()
        .and_then(|odb| odb.write(git2::ObjectType::Commit, &raw))
        .map_err(GitError::git("writing a rebased commit"))
}

/// A patch read before the series is rebased: its commit, parent tree and changes, or a patch
/// file that gave no commit.
enum Prepared<'r, 'i> {
    Commit {
        commit: git2::Commit<'r>,
        parent_tree: Oid,
        changes: Vec<merge::PathChange>,
    },
    Unusable {
        subject: &'i str,
        paths: &'i [String],
        problem: &'i Option<PatchProblem>,
    },
}

/// The patches of the series that failed so far, and the paths each touched.
#[derive(Default)]
struct Failures {
    failed: BTreeSet<String>,
    /// Each path a failed patch touched, with the failed patches that touched it.
    tainted: BTreeMap<String, BTreeSet<String>>,
}

impl Failures {
    /// What blocks a patch: failed patches of other projects it needs, failed patches of this
    /// series on its paths, and those its `Carry-Requires:` names.
    fn blockers(&self, input: &PatchInput, paths: &[String], message: &str) -> BTreeSet<String> {
        let mut blockers: BTreeSet<String> = input.blocked_by.iter().cloned().collect();
        for needed in &input.needs {
            if self.failed.contains(needed) {
                blockers.insert(needed.clone());
            }
        }
        for path in paths {
            if let Some(names) = self.tainted.get(path) {
                blockers.extend(names.iter().cloned());
            }
        }
        for required in trailers(message, "Carry-Requires") {
            if self.failed.contains(&required) {
                blockers.insert(required);
            }
        }
        blockers
    }

    fn record(&mut self, name: &str, paths: &[String]) {
        self.failed.insert(name.to_owned());
        for path in paths {
            self.tainted
                .entry(path.clone())
                .or_default()
                .insert(name.to_owned());
        }
    }
}

fn trailers(message: &str, key: &str) -> Vec<String> {
    let Ok(found) = git2::message_trailers_strs(message) else {
        return Vec::new();
    };
    let mut values: Vec<String> = found
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .flat_map(|(_, v)| {
            v.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    values.dedup();
    values
}
