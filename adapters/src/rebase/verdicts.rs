//! Which patches upstream already has, decided side by side with the merges.
//!
//! Whether a patch landed depends only on the patch and the upstream range, never on how
//! the patches before it merged; and it is most of a rebase's reading (patch-ids diff both
//! sides of every candidate, a landed copy's note diffs it against upstream's commit). So
//! worker threads decide it for every patch, in series order, each with its own handle on
//! the repository, while the calling thread merges: it takes each patch's verdict when it
//! reaches it. When a patch's commit is only in memory (a trial's), the caller decides
//! everything itself, in order.

use std::collections::HashMap;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use git2::Oid;
use git2::Repository;

use super::landed::LandedBy;
use super::landed::PatchIds;
use super::landed::UpstreamCache;
use super::landed::UpstreamIndex;
use super::landed::hunks_not_upstream;
use crate::git::GitError;

/// A patch upstream already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Landed {
    pub(crate) upstream: Option<Oid>,
    pub(crate) by: LandedBy,
    /// What a copy named as landed has that upstream's commit does not.
    pub(crate) note: Option<String>,
}

/// One patch to decide: its commit and the paths it changes.
pub(crate) struct Job {
    pub(crate) commit: Oid,
    pub(crate) paths: Vec<String>,
}

pub(crate) type Verdict = Result<Option<Landed>, GitError>;

/// Decides `job` against `index`.
fn decide(
    repo: &Repository,
    index: &UpstreamIndex,
    job: &Job,
    patch_ids: &mut PatchIds<'_>,
) -> Verdict {
    let commit = repo
        .find_commit(job.commit)
        .map_err(GitError::git("reading a patch commit"))?;
    let Some((upstream, by)) = index.find(repo, &commit, &job.paths, patch_ids)? else {
        return Ok(None);
    };
    landed(repo, &commit, upstream, by, &job.paths).map(Some)
}

/// The verdict of a patch found landed as `upstream` by `by`.
fn landed(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    upstream: Option<Oid>,
    by: LandedBy,
    paths: &[String],
) -> Result<Landed, GitError> {
    // Named or matched by Change-Id, yet a different diff: say what the downstream copy has
    // that upstream's commit does not, before it is dropped. (Equal diffs have no such
    // hunks: the hunk comparison alone decides.)
    let note = match (upstream, by) {
        (Some(upstream), LandedBy::CherryPick | LandedBy::ChangeId) => {
            let extra = hunks_not_upstream(repo, commit, upstream, paths)?;
            (!extra.is_empty()).then(|| {
                format!(
                    "landed upstream as {}, but {} hunk(s) of this copy are not in it: {}",
                    &upstream.to_string()[..12],
                    extra.len(),
                    extra.join("; ")
                )
            })
        }
        _ => None,
    };
    Ok(Landed { upstream, by, note })
}

/// Where the index of the upstream range is: workers wait for it to decide the patches
/// that name no upstream commit.
enum IndexState<'a> {
    Building,
    Built(&'a UpstreamIndex),
    /// Never coming (building it failed).
    Gone,
}

/// The verdicts of a series, filled by workers and taken by the merging thread.
///
/// A patch that names an upstream commit of the range is landed whatever the index says,
/// so workers start on those (their notes are most of their cost) while the merging thread
/// still builds the index, and go on to the rest once it is built.
pub(crate) struct Verdicts<'a> {
    jobs: Vec<Option<Job>>,
    /// The upstream commit each patch names, found before the range was indexed.
    named: Vec<Option<Oid>>,
    /// The order workers take patches in: those that name a commit first, then the rest,
    /// each in series order.
    order: Vec<usize>,
    slots: Mutex<Vec<Option<Verdict>>>,
    ready: Condvar,
    next: AtomicUsize,
    index: Mutex<IndexState<'a>>,
    index_changed: Condvar,
    /// The cache's patch-ids.
    known: &'a HashMap<String, String>,
    /// Patch-ids the workers found, to keep in the cache.
    found: Mutex<HashMap<String, String>>,
}

impl<'a> Verdicts<'a> {
    /// `jobs` in series order (`None` for a patch with no commit), with the upstream commit
    /// each names (see [`UpstreamRange::named`](super::landed::UpstreamRange::named)).
    pub(crate) fn new(
        jobs: Vec<Option<Job>>,
        named: Vec<Option<Oid>>,
        known: &'a HashMap<String, String>,
    ) -> Self {
        let slots = jobs.iter().map(|_| None).collect();
        let (first, rest): (Vec<usize>, Vec<usize>) =
            (0..jobs.len()).partition(|&position| named.get(position).is_some_and(Option::is_some));
        Self {
            jobs,
            named,
            order: first.into_iter().chain(rest).collect(),
            slots: Mutex::new(slots),
            ready: Condvar::new(),
            next: AtomicUsize::new(0),
            index: Mutex::new(IndexState::Building),
            index_changed: Condvar::new(),
            known,
            found: Mutex::new(HashMap::new()),
        }
    }

    /// The index is built: workers may decide every patch.
    pub(crate) fn index_built(&self, index: &'a UpstreamIndex) {
        *self.lock_index() = IndexState::Built(index);
        self.index_changed.notify_all();
    }

    /// No index is coming (building it failed, or the merging thread is gone): workers stop
    /// at the first patch that needs it. Harmless once the index is built.
    pub(crate) fn index_abandoned(&self) {
        let mut state = self.lock_index();
        if matches!(*state, IndexState::Building) {
            *state = IndexState::Gone;
        }
        drop(state);
        self.index_changed.notify_all();
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, IndexState<'a>> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The index, once built; `None` if it never will be.
    pub(crate) fn wait_for_index(&self) -> Option<&'a UpstreamIndex> {
        let mut state = self.lock_index();
        loop {
            match *state {
                IndexState::Built(index) => return Some(index),
                IndexState::Gone => return None,
                IndexState::Building => {
                    state = self
                        .index_changed
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
        }
    }

    /// A worker: opens its own handle on the repository at `path` and decides patches in
    /// [`order`](Self::order) until none is left.
    pub(crate) fn work(&self, path: &std::path::Path) {
        let repo = Repository::open(path);
        let mut patch_ids = PatchIds::new(self.known);
        while let Some(&position) = self.order.get(self.next.fetch_add(1, Ordering::SeqCst)) {
            let named = self.named.get(position).copied().flatten();
            let verdict = match (&self.jobs[position], &repo) {
                (None, _) => Ok(None),
                // A panic here would leave the merging thread waiting for this verdict.
                (Some(job), Ok(repo)) => {
                    let index = match named {
                        Some(_) => None,
                        None => match self.wait_for_index() {
                            Some(index) => Some(index),
                            None => {
                                // The merging thread may wait for this verdict: it must
                                // learn that none is coming.
                                self.put(
                                    position,
                                    Err(GitError::git("deciding whether a patch landed")(
                                        git2::Error::from_str("the upstream index was not built"),
                                    )),
                                );
                                continue;
                            }
                        },
                    };
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match index {
                        Some(index) => decide(repo, index, job, &mut patch_ids),
                        None => repo
                            .find_commit(job.commit)
                            .map_err(GitError::git("reading a patch commit"))
                            .and_then(|commit| {
                                landed(repo, &commit, named, LandedBy::CherryPick, &job.paths)
                            })
                            .map(Some),
                    }))
                    .unwrap_or_else(|_| {
                        Err(GitError::git("deciding whether a patch landed")(
                            git2::Error::from_str("the landed check panicked"),
                        ))
                    })
                }
                (Some(_), Err(error)) => Err(GitError::git("opening the repository")(
                    git2::Error::from_str(&error.to_string()),
                )),
            };
            self.put(position, verdict);
        }
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(patch_ids.found);
    }

    /// Patch `position`'s verdict, waiting for the worker deciding it.
    pub(crate) fn take(&self, position: usize) -> Verdict {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(verdict) = slots.get_mut(position).and_then(Option::take) {
                return verdict;
            }
            slots = self
                .ready
                .wait(slots)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn put(&self, position: usize, verdict: Verdict) {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[position] = Some(verdict);
        self.ready.notify_all();
    }

    /// The upstream commit patch `position` names, if any.
    pub(crate) fn named(&self, position: usize) -> Option<Oid> {
        self.named.get(position).copied().flatten()
    }

    /// Patch `position`'s verdict if a worker has decided it.
    pub(crate) fn try_take(&self, position: usize) -> Option<Verdict> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(position)
            .and_then(Option::take)
    }

    /// Stops handing out patches: after an error, the rest need not be decided.
    pub(crate) fn stop(&self) {
        self.next.store(self.jobs.len(), Ordering::SeqCst);
    }

    /// The patch-ids the workers found.
    pub(crate) fn into_found(self) -> HashMap<String, String> {
        self.found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Decides every job on the calling thread, in order: for commits only `repo` can read.
pub(crate) fn decide_all(
    repo: &Repository,
    index: &UpstreamIndex,
    jobs: &[Option<Job>],
    cache: &mut UpstreamCache,
) -> Result<Vec<Option<Landed>>, GitError> {
    let mut patch_ids = PatchIds::new(&cache.patch_ids);
    let verdicts = jobs
        .iter()
        .map(|job| match job {
            None => Ok(None),
            Some(job) => decide(repo, index, job, &mut patch_ids),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let found = patch_ids.found;
    cache.patch_ids.extend(found);
    Ok(verdicts)
}
