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

type Verdict = Result<Option<Landed>, GitError>;

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
    // Named or matched by Change-Id, yet a different diff: say what the downstream copy has
    // that upstream's commit does not, before it is dropped. (Equal diffs have no such
    // hunks: the hunk comparison alone decides.)
    let note = match (upstream, by) {
        (Some(upstream), LandedBy::CherryPick | LandedBy::ChangeId) => {
            let extra = hunks_not_upstream(repo, &commit, upstream, &job.paths)?;
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
    Ok(Some(Landed { upstream, by, note }))
}

/// The verdicts of a series, filled by workers and taken by the merging thread.
pub(crate) struct Verdicts<'a> {
    jobs: Vec<Option<Job>>,
    slots: Mutex<Vec<Option<Verdict>>>,
    ready: Condvar,
    next: AtomicUsize,
    index: &'a UpstreamIndex,
    cache: &'a UpstreamCache,
    /// Patch-ids the workers found, to keep in the cache.
    found: Mutex<HashMap<String, String>>,
}

impl<'a> Verdicts<'a> {
    /// `jobs` in series order (`None` for a patch with no commit).
    pub(crate) fn new(
        jobs: Vec<Option<Job>>,
        index: &'a UpstreamIndex,
        cache: &'a UpstreamCache,
    ) -> Self {
        let slots = jobs.iter().map(|_| None).collect();
        Self {
            jobs,
            slots: Mutex::new(slots),
            ready: Condvar::new(),
            next: AtomicUsize::new(0),
            index,
            cache,
            found: Mutex::new(HashMap::new()),
        }
    }

    /// A worker: opens its own handle on the repository at `path` and decides patches in
    /// series order until none is left.
    pub(crate) fn work(&self, path: &std::path::Path) {
        let repo = Repository::open(path);
        let mut patch_ids = PatchIds::new(self.cache);
        loop {
            let position = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(job) = self.jobs.get(position) else {
                break;
            };
            let verdict = match (job, &repo) {
                (None, _) => Ok(None),
                // A panic here would leave the merging thread waiting for this verdict.
                (Some(job), Ok(repo)) => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        decide(repo, self.index, job, &mut patch_ids)
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
            self.slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)[position] = Some(verdict);
            self.ready.notify_all();
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
    let mut patch_ids = PatchIds::new(cache);
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
