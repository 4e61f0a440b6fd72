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
pub mod resolutions;
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
    /// Recorded conflict resolutions, oldest first: a conflict whose every region has one,
    /// recorded for the same patch (its normalized diff), is resolved in memory (the patch
    /// applies, naming the resolution).
    pub resolutions: Vec<resolutions::RecordedResolution>,
    /// Patches a human dropped from the series, by name, with the reason.
    pub drops: std::collections::HashMap<String, String>,
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
    /// A human dropped it from the series (`carry resolve --drop`).
    Dropped {
        /// Why.
        reason: String,
    },
    /// The patch file cannot be read or does not apply to its own base.
    Error {
        /// Where and why.
        #[serde(flatten)]
        problem: PatchProblem,
    },
}

impl Outcome {
    /// Its name in reports: `applied`, `landed`, `conflict`, `blocked`, `error`, `dropped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Landed { .. } => "landed",
            Self::Conflict { .. } => "conflict",
            Self::Blocked { .. } => "blocked",
            Self::Error { .. } => "error",
            Self::Dropped { .. } => "dropped",
        }
    }

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
    /// The recorded resolution it was applied with, if its conflict was resolved from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
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
        let decided = verdicts::decide_all(repo, &index, &jobs, cache)?;
        let series = Series {
            repo,
            request,
            options,
            ahead: None,
        };
        let (tip, merged) = merge_all(
            &series,
            &prepared,
            &mut trees,
            on_patch,
            &mut Decided(decided),
        )?;
        let results = finish_with_index(repo, &index, merged)?;
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
        // The range is indexed on a thread of its own while this one merges: the merges
        // need no index, only the verdicts of patches that name no upstream commit do.
        let indexer = scope.spawn(|| {
            // However it ends, nobody waits for an index that is not coming.
            let _abandon = Abandon(&verdicts);
            let indexing = std::time::Instant::now();
            let own = Repository::open(&path)
                .map_err(GitError::git("opening the repository to index upstream"))?;
            let built = UpstreamIndex::of_range(
                &own,
                range,
                facts,
                interesting.iter().map(String::as_str),
            )?;
            verdicts.index_built(index_slot.get_or_init(|| built));
            Ok::<_, GitError>(indexing.elapsed())
        });
        let series = Series {
            repo,
            request,
            options,
            ahead: Some(&made_ahead),
        };
        let mut source = &verdicts;
        let merged = merge_all(&series, &prepared, &mut trees, on_patch, &mut source);
        tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "merged");
        if merged.is_err() {
            verdicts.stop();
        }
        // When the index failed, that is the error (the merges' is only its echo).
        let index_time = indexer.join().unwrap_or_else(|_| {
            Err(GitError::git("indexing upstream")(git2::Error::from_str(
                "the indexing thread panicked",
            )))
        })?;
        let (tip, merged) = merged?;
        let index = index_slot
            .get()
            .expect("the indexer set the index before it returned Ok");
        let results = finish_with_index(repo, index, merged)?;
        Ok::<_, RebaseError>((tip, results, index.len(), index_time))
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

/// Tells the verdict workers that no index is coming, when the indexer ends without one.
struct Abandon<'r, 'a>(&'r verdicts::Verdicts<'a>);

impl Drop for Abandon<'_, '_> {
    fn drop(&mut self) {
        self.0.index_abandoned();
    }
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
    /// Text merges made ahead by another thread, when one runs.
    ahead: Option<&'a ahead::Ahead>,
}

/// Where the merge loop takes each patch's landed verdict from.
trait VerdictSource {
    /// Patch `position`'s verdict, waiting for it.
    fn take(&mut self, position: usize) -> verdicts::Verdict;
    /// Patch `position`'s verdict if it is decided already.
    fn try_take(&mut self, position: usize) -> Option<verdicts::Verdict>;
    /// The upstream commit of the range that patch `position` names, known before its
    /// verdict: it is landed, whatever else the verdict says (its note).
    fn named(&self, _position: usize) -> Option<Oid> {
        None
    }
}

/// Verdicts all decided before the loop.
struct Decided(Vec<Option<verdicts::Landed>>);

impl VerdictSource for Decided {
    fn take(&mut self, position: usize) -> verdicts::Verdict {
        Ok(self.0.get_mut(position).and_then(Option::take))
    }

    fn try_take(&mut self, position: usize) -> Option<verdicts::Verdict> {
        Some(self.take(position))
    }
}

impl VerdictSource for &verdicts::Verdicts<'_> {
    fn take(&mut self, position: usize) -> verdicts::Verdict {
        verdicts::Verdicts::take(self, position)
    }

    fn try_take(&mut self, position: usize) -> Option<verdicts::Verdict> {
        verdicts::Verdicts::try_take(self, position)
    }

    fn named(&self, position: usize) -> Option<Oid> {
        verdicts::Verdicts::named(self, position)
    }
}

/// How many patches the loop merges on before their verdicts are in (each taken as not
/// landed; a later verdict that says landed undoes what followed it).
const SPECULATION: usize = 256;

/// A patch's verdict as the loop holds it.
#[derive(Clone)]
enum Held {
    /// Not taken yet.
    Waiting,
    /// Taken: landed or not.
    Decided(Option<verdicts::Landed>),
}

/// Where the loop stood before a patch it merged without its verdict.
struct Checkpoint {
    position: usize,
    tip: Oid,
    failures: Failures,
}

/// One patch's result as the loop leaves it: what still needs the upstream index (which
/// commits touched its paths, a subject upstream has too) is filled in by [`finish_with_index`].
struct Merged {
    result: PatchResult,
    paths: Vec<String>,
}

/// The merge loop: each patch in order onto the tip so far, taking whether it landed from
/// `source` (see [`verdicts`]). It never waits for the upstream index: a verdict that is not
/// in yet is taken as "not landed" and checked when it comes.
fn merge_all(
    series: &Series<'_>,
    prepared: &[Prepared<'_, '_>],
    trees: &mut TreeReader<'_>,
    on_patch: &mut dyn FnMut(usize, &str),
    source: &mut dyn VerdictSource,
) -> Result<(Oid, Vec<Merged>), RebaseError> {
    let Series {
        repo,
        request,
        options,
        ahead,
    } = *series;
    let mut tip = repo
        .find_commit(request.onto)
        .map_err(GitError::git("reading the new upstream commit"))?;
    let mut failures = Failures::default();
    let mut results: Vec<Merged> = Vec::with_capacity(request.patches.len());
    // Verdicts taken from `source`, kept: a patch merged again after an undo needs its own.
    let mut verdicts: Vec<Held> = vec![Held::Waiting; prepared.len()];
    let mut speculated: std::collections::VecDeque<Checkpoint> = std::collections::VecDeque::new();
    // Patches landed by the commit they name, whose notes are still being worked out.
    let mut notes_to_come = BTreeSet::new();
    // The first bad upstream commit of each conflict: it depends on the patch and the range
    // only, so a patch merged again after an undo keeps its own.
    let mut first_bad_of: std::collections::HashMap<usize, Option<String>> =
        std::collections::HashMap::new();
    let mut position = 0;

    loop {
        // Check the patches merged without their verdicts; past the end, all of them.
        let wait = if position == prepared.len() {
            Wait::All
        } else if speculated.len() >= SPECULATION {
            Wait::Oldest
        } else {
            Wait::No
        };
        if let Some(checkpoint) = settle(&mut speculated, &mut verdicts, source, wait)? {
            // It landed: what was merged from it on is undone, and redone without it.
            tracing::debug!(
                position = checkpoint.position,
                "a patch merged ahead of its verdict had landed"
            );
            speculated.clear();
            results.truncate(checkpoint.position);
            tip = repo
                .find_commit(checkpoint.tip)
                .map_err(GitError::git("reading a rebased commit"))?;
            failures = checkpoint.failures;
            position = checkpoint.position;
        } else if position == prepared.len() {
            break;
        }
        let input = &request.patches[position];
        on_patch(position, &input.name);
        if let Some(ahead) = ahead {
            ahead.reached(position);
        }
        let (commit, parent_tree, changes) = match &prepared[position] {
            Prepared::Commit {
                commit,
                parent_tree,
                changes,
            } => (commit, *parent_tree, changes),
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
                results.push(Merged {
                    result: PatchResult {
                        name: input.name.clone(),
                        subject: (*subject).to_owned(),
                        from: None,
                        outcome,
                        notes: Vec::new(),
                        resolution: None,
                    },
                    paths: Vec::new(),
                });
                position += 1;
                continue;
            }
        };
        if matches!(verdicts[position], Held::Waiting) {
            if let Some(verdict) = source.try_take(position) {
                verdicts[position] = Held::Decided(verdict?);
            } else if let Some(upstream) = source.named(position) {
                // Landed, as it names an upstream commit of the range; only its note is to
                // come.
                verdicts[position] = Held::Decided(Some(verdicts::Landed {
                    upstream: Some(upstream),
                    by: LandedBy::CherryPick,
                    note: None,
                }));
                notes_to_come.insert(position);
            } else {
                speculated.push_back(Checkpoint {
                    position,
                    tip: tip.id(),
                    failures: failures.clone(),
                });
            }
        }
        let parent_tree = repo
            .find_tree(parent_tree)
            .map_err(GitError::git("reading a tree"))?;
        let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
        let subject = commit.summary().unwrap_or("").to_owned();
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let mut notes = Vec::new();
        let mut resolution = None;

        let blockers = failures.blockers(input, &paths, &message);

        // Landed first: what upstream already has is landed, whatever came before it.
        let outcome = if let Held::Decided(Some(found)) = &verdicts[position] {
            notes.extend(found.note.clone());
            Outcome::Landed {
                upstream_commit: found.upstream.map(|id| id.to_string()),
                by: found.by,
            }
        } else if let Some(reason) = request.drops.get(&input.name) {
            Outcome::Dropped {
                reason: reason.clone(),
            }
        } else if blockers.is_empty() {
            let tip_tree = tip.tree().map_err(GitError::git("reading a tree"))?;
            let resolver = resolver_for(repo, request, &input.name, commit)?;
            let merged = merge_onto(
                repo,
                trees,
                &tip_tree,
                &parent_tree,
                changes,
                ahead,
                resolver.as_ref(),
            )?;
            if let Some(resolver) = &resolver {
                let used = resolver.take();
                // The report names the resolution; whether it needs a review is the
                // orchestrator's to say (it knows who looked at it where).
                if !used.paths.is_empty() && matches!(merged, TreeMerge::Clean(_)) {
                    resolution = used.resolution;
                }
                if !used.misfits.is_empty() {
                    notes.push(format!(
                        "the resolution recorded for its conflict no longer fits {}: a conflict region there has no recorded resolution (upstream changed resolved lines again, or another region conflicts now); resolve it anew (`carry resolve`)",
                        used.misfits.join(", ")
                    ));
                }
            }
            match merged {
                // A commit that was empty in the series stays, as `git rebase` keeps it.
                TreeMerge::Clean(tree) if tree == tip_tree.id() && !changes.is_empty() => {
                    landed_empty()
                }
                TreeMerge::Clean(tree) => {
                    let id = rebased_commit(repo, commit, tree, tip.id())?;
                    tip = repo
                        .find_commit(id)
                        .map_err(GitError::git("reading a rebased commit"))?;
                    Outcome::Applied { to: id.to_string() }
                }
                TreeMerge::Conflict(conflicts) => {
                    let first_bad = if options.skip_first_bad {
                        None
                    } else if let Some(known) = first_bad_of.get(&position) {
                        known.clone()
                    } else {
                        let found = census::first_bad(
                            repo,
                            request.old_base,
                            request.onto,
                            &parent_tree,
                            changes,
                        )?
                        .map(|id| id.to_string());
                        first_bad_of.insert(position, found.clone());
                        found
                    };
                    Outcome::Conflict {
                        paths: conflicts.iter().map(|c| c.path.clone()).collect(),
                        conflicts,
                        upstream_commits: Vec::new(),
                        first_bad,
                    }
                }
                TreeMerge::NeedsRenames => {
                    unreachable!("the rename-following merge never asks for itself")
                }
            }
        } else if !changes.is_empty() && {
            let tip_tree = tip.tree().map_err(GitError::git("reading a tree"))?;
            merge_onto(repo, trees, &tip_tree, &parent_tree, changes, ahead, None)?
                == TreeMerge::Clean(tip_tree.id())
        } {
            // Upstream already has all of it: landed, whatever it waited for (as git's own
            // chain of merges finds it empty).
            landed_empty()
        } else {
            Outcome::Blocked {
                blocked_by: blockers.into_iter().collect(),
            }
        };

        if outcome.failed() {
            failures.record(&input.name, &paths);
        }
        // A resolution that left nothing of the patch made it landed (empty): there is no
        // rebased patch to name it on, or to review.
        if !matches!(outcome, Outcome::Applied { .. }) {
            resolution = None;
        }
        results.push(Merged {
            result: PatchResult {
                name: input.name.clone(),
                subject,
                from: Some(commit.id().to_string()),
                outcome,
                notes,
                resolution,
            },
            paths,
        });
        position += 1;
    }
    for position in notes_to_come {
        if let Some(landed) = source.take(position)? {
            results[position].result.notes.extend(landed.note);
        }
    }
    Ok((tip.id(), results))
}

/// A resolver of the resolutions recorded for the patch `name` (`commit`), if any: those
/// recorded for its normalized diff.
fn resolver_for(
    repo: &Repository,
    request: &RebaseRequest,
    name: &str,
    commit: &git2::Commit<'_>,
) -> Result<Option<resolutions::Resolver>, GitError> {
    if request.resolutions.is_empty() {
        return Ok(None);
    }
    let patch_id = landed::patch_id(repo, commit)?.map(|id| id.to_string());
    let fitting: Vec<_> = request
        .resolutions
        .iter()
        .filter(|r| r.fits_patch(name, patch_id.as_deref()))
        .cloned()
        .collect();
    Ok((!fitting.is_empty()).then(|| resolutions::Resolver::new(fitting)))
}

/// How long [`settle`] waits for verdicts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Not at all.
    No,
    /// For the oldest patch merged without its verdict.
    Oldest,
    /// For every one.
    All,
}

/// Takes the verdicts of patches merged without them, oldest first, as far as they are in
/// (and as `wait` says). The first that landed is returned: the loop goes back to it.
fn settle(
    speculated: &mut std::collections::VecDeque<Checkpoint>,
    verdicts: &mut [Held],
    source: &mut dyn VerdictSource,
    wait: Wait,
) -> Result<Option<Checkpoint>, GitError> {
    let mut waited = false;
    while let Some(checkpoint) = speculated.front() {
        let at = checkpoint.position;
        if matches!(verdicts[at], Held::Waiting) {
            let verdict = match wait {
                Wait::All => Some(source.take(at)),
                Wait::Oldest if !waited => Some(source.take(at)),
                Wait::Oldest | Wait::No => source.try_take(at),
            };
            let Some(verdict) = verdict else {
                break;
            };
            verdicts[at] = Held::Decided(verdict?);
        }
        waited = true;
        let checkpoint = speculated.pop_front().expect("the front was just read");
        if matches!(verdicts[at], Held::Decided(Some(_))) {
            return Ok(Some(checkpoint));
        }
    }
    Ok(None)
}

/// The loop's results with what needs the upstream index filled in: the upstream commits
/// that touched a conflict's paths, the one a patch landed empty after, and a note where an
/// upstream commit has a patch's subject.
fn finish_with_index(
    repo: &Repository,
    index: &UpstreamIndex,
    merged: Vec<Merged>,
) -> Result<Vec<PatchResult>, GitError> {
    merged
        .into_iter()
        .map(|Merged { mut result, paths }| {
            match &mut result.outcome {
                Outcome::Conflict {
                    paths,
                    upstream_commits,
                    ..
                } => {
                    *upstream_commits = index
                        .touching(repo, paths.iter().map(String::as_str))?
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                }
                Outcome::Landed {
                    upstream_commit,
                    by: LandedBy::Empty,
                } => {
                    *upstream_commit = index
                        .touching(repo, paths.iter().map(String::as_str))?
                        .last()
                        .map(ToString::to_string);
                }
                _ => {}
            }
            if result.from.is_some()
                && !matches!(result.outcome, Outcome::Landed { .. })
                && let Some(same) = index.same_subject(&result.subject)
            {
                result.notes.push(format!(
                    "upstream commit {same} has the same subject; check whether this patch landed"
                ));
            }
            Ok(result)
        })
        .collect()
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
    resolver: Option<&resolutions::Resolver>,
) -> Result<TreeMerge, GitError> {
    match merge::merge_changes(repo, changes, tip_tree, ahead, resolver)? {
        TreeMerge::NeedsRenames => {
            renames::merge(repo, trees, parent_tree, tip_tree, changes, ahead, resolver)
        }
        merged => Ok(merged),
    }
}

/// A patch whose changes upstream already has; credited to the last upstream commit that
/// touched its paths by [`finish_with_index`].
fn landed_empty() -> Outcome {
    Outcome::Landed {
        upstream_commit: None,
        by: LandedBy::Empty,
    }
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
#[derive(Default, Clone)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit of `files` (flat, name and content) on `parent`.
    fn commit(
        repo: &Repository,
        parent: Option<Oid>,
        files: &[(&str, &str)],
        message: &str,
    ) -> Oid {
        let mut builder = repo.treebuilder(None).expect("a tree builder");
        for (name, content) in files {
            let blob = repo.blob(content.as_bytes()).expect("a blob");
            builder.insert(name, blob, 0o100_644).expect("an entry");
        }
        let tree = repo
            .find_tree(builder.write().expect("a tree"))
            .expect("the tree");
        let signature = git2::Signature::new("t", "t@example.org", &git2::Time::new(0, 0))
            .expect("a signature");
        let parents: Vec<git2::Commit<'_>> = parent
            .iter()
            .map(|id| repo.find_commit(*id).expect("the parent"))
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(None, &signature, &signature, message, &tree, &parents)
            .expect("a commit")
    }

    /// Decided verdicts handed out only when the loop waits for them: every patch is merged
    /// ahead of its verdict.
    struct Late(Decided);

    impl VerdictSource for Late {
        fn take(&mut self, position: usize) -> verdicts::Verdict {
            self.0.take(position)
        }

        fn try_take(&mut self, _: usize) -> Option<verdicts::Verdict> {
            None
        }
    }

    /// A patch merged before its verdict came, which then says it landed, is undone with all
    /// that followed it: the series comes out as if every verdict had been there first.
    #[test]
    fn merging_ahead_of_the_verdicts_ends_as_merging_after_them() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let repo = Repository::init_bare(dir.path()).expect("a repository");
        let lines = |first: &str| format!("{first}\n2\n3\n4\n5\n6\n7\n8\n");
        let base = commit(
            &repo,
            None,
            &[("a", &lines("a")), ("b", &lines("b")), ("c", &lines("c"))],
            "base\n",
        );
        let files = |a: &str, b: &str, c: &str| [("a", lines(a)), ("b", lines(b)), ("c", lines(c))];
        let mut series = Vec::new();
        let mut tip = base;
        for (message, (a, b, c)) in [
            ("p1\n", ("A", "b", "c")),
            ("p2\n", ("A", "B", "c")),
            ("p3\n", ("A", "BB", "C")),
            ("p4\n", ("A", "BB", "CC")),
        ] {
            let files = files(a, b, c);
            let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
            tip = commit(&repo, Some(tip), &files, message);
            series.push(tip);
        }
        // Upstream made p2's very change under another message (a patch-id match), and more.
        let upstream = commit(
            &repo,
            Some(base),
            &[("a", &lines("a")), ("b", &lines("B")), ("c", &lines("c"))],
            "b, as upstream wrote it\n",
        );
        let onto = commit(
            &repo,
            Some(upstream),
            &[
                ("a", &lines("a")),
                ("b", &lines("B")),
                ("c", &lines("c")),
                ("d", "new\n"),
            ],
            "d\n",
        );
        let request = RebaseRequest {
            old_base: base,
            onto,
            patches: series
                .iter()
                .enumerate()
                .map(|(n, id)| PatchInput {
                    name: format!("p{}", n + 1),
                    body: PatchBody::Commit(*id),
                    blocked_by: Vec::new(),
                    needs: Vec::new(),
                })
                .collect(),
            resolutions: Vec::new(),
            drops: std::collections::HashMap::new(),
        };
        let options = RebaseOptions::default();
        let run = |late: bool| {
            let mut trees = TreeReader::new(&repo).expect("a tree reader");
            let prepared: Vec<Prepared<'_, '_>> = series
                .iter()
                .map(|id| {
                    let commit = repo.find_commit(*id).expect("a patch");
                    let parent_tree = commit.parent(0).expect("a parent").tree_id();
                    let changes = trees
                        .changes(Some(parent_tree), Some(commit.tree_id()))
                        .expect("changes");
                    Prepared::Commit {
                        commit,
                        parent_tree,
                        changes,
                    }
                })
                .collect();
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
            let mut cache = UpstreamCache::default();
            let index = UpstreamIndex::build(&repo, base, onto, &mut cache, ["a", "b", "c"])
                .expect("an index");
            let decided =
                Decided(verdicts::decide_all(&repo, &index, &jobs, &mut cache).expect("verdicts"));
            let series = Series {
                repo: &repo,
                request: &request,
                options: &options,
                ahead: None,
            };
            let (tip, merged) = if late {
                merge_all(
                    &series,
                    &prepared,
                    &mut trees,
                    &mut |_, _| {},
                    &mut Late(decided),
                )
            } else {
                merge_all(&series, &prepared, &mut trees, &mut |_, _| {}, &mut {
                    decided
                })
            }
            .expect("a rebase");
            (
                tip,
                finish_with_index(&repo, &index, merged).expect("results"),
            )
        };
        let (first_tip, first) = run(false);
        let (late_tip, late) = run(true);
        assert!(matches!(
            first[1].outcome,
            Outcome::Landed {
                by: LandedBy::PatchId,
                ..
            }
        ));
        assert_eq!(first, late);
        assert_eq!(first_tip, late_tip);
    }
}
