//! Text merges made ahead of the merge loop, on another thread.
//!
//! A patch's merge onto the tip so far depends on the patches before it only at the paths
//! they changed; everywhere else the tip has upstream's file. So a worker, running ahead of
//! the loop, merges each patch's files with upstream's (reading the three blobs and calling
//! git's merge, most of a merge's cost), and the loop takes the result when its three blob
//! ids are the ones it has. A path an earlier patch changed has another id on the tip and
//! is merged by the loop itself, as is anything the worker has not reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use git2::Oid;
use git2::Repository;

use super::merge::Entry;
use super::merge::TextMerge;
use super::merge::entry_at;
use super::merge::is_binary;
use super::merge::merge_text;

/// How many patches the worker may run ahead of the loop (its results wait in memory).
const LEAD: usize = 32;

/// The three sides of a text merge: base, ours, theirs.
type Sides = (Oid, Oid, Oid);

/// Text merges made ahead, and where the loop is.
#[derive(Default)]
pub(crate) struct Ahead {
    merged: Mutex<HashMap<Sides, Result<TextMerge, carry_xdiff::Error>>>,
    /// The patch the loop is on.
    position: AtomicUsize,
    done: AtomicBool,
}

/// One patch's file changes the worker may merge ahead: (path, before, after).
pub(crate) type Plan = Vec<Vec<(String, Entry, Entry)>>;

impl Ahead {
    /// The merge of these three blobs, if the worker made it.
    pub(crate) fn take(
        &self,
        base: Oid,
        ours: Oid,
        theirs: Oid,
    ) -> Option<Result<TextMerge, carry_xdiff::Error>> {
        self.merged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(base, ours, theirs))
    }

    /// The loop is on patch `position`.
    pub(crate) fn reached(&self, position: usize) {
        self.position.store(position, Ordering::SeqCst);
    }

    /// The loop is done: the worker stops.
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// The worker: for each patch of `plan` the loop has not reached, merges each changed file
    /// with upstream's at `onto` where all three differ. Reads through its own handle on the
    /// repository at `path` (the patches' commits are on disk).
    pub(crate) fn work(&self, path: &std::path::Path, onto: Oid, plan: &Plan) {
        let Ok(repo) = Repository::open(path) else {
            return;
        };
        let Ok(onto) = repo.find_commit(onto).and_then(|c| c.tree()) else {
            return;
        };
        for (position, changes) in plan.iter().enumerate() {
            while position > self.position.load(Ordering::SeqCst) + LEAD {
                if self.done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if self.done.load(Ordering::SeqCst) {
                return;
            }
            if position < self.position.load(Ordering::SeqCst) {
                continue;
            }
            for (file, before, after) in changes {
                let Ok(Some(ours)) = entry_at(&onto, file) else {
                    continue;
                };
                if !ours.is_blob() || ours.id == before.id || ours.id == after.id {
                    continue;
                }
                let read = |id: Oid| repo.find_blob(id).map(|blob| blob.content().to_vec());
                let (Ok(base), Ok(mine), Ok(theirs)) =
                    (read(before.id), read(ours.id), read(after.id))
                else {
                    continue;
                };
                if is_binary(&base) || is_binary(&mine) || is_binary(&theirs) {
                    continue;
                }
                let merged = merge_text(&base, &mine, &theirs);
                self.merged
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert((before.id, ours.id, after.id), merged);
            }
        }
    }
}
