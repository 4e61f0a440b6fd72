//! The culprit: the first upstream commit, along the first-parent line of the moved range, at
//! which a patch stops applying, found by bisection with trial merges in memory.
//!
//! A trial at upstream commit X looks only at the paths the patch touches: each path as X has
//! it, with the series' earlier patches merged in (their changes relative to the old base),
//! then the patch merged on top. Nothing is written.

use git2::Oid;
use git2::Repository;
use git2::Tree;

use super::merge::PathChange;
use super::merge::TextMerge;
use super::merge::entry_at;
use super::merge::merge_text;
use crate::git::GitError;

/// The first commit of `old_base..onto` (first-parent line, oldest first) at which the patch
/// (`changes` on `parent`) conflicts; `None` when it applies at every one (the conflict then
/// comes from elsewhere, such as a rename).
pub(crate) fn first_bad(
    repo: &Repository,
    old_base: Oid,
    onto: Oid,
    parent: &Tree<'_>,
    changes: &[PathChange],
) -> Result<Option<Oid>, GitError> {
    let line = first_parent_line(repo, old_base, onto)?;
    let old_tree = repo
        .find_commit(old_base)
        .and_then(|c| c.tree())
        .map_err(GitError::git("reading the old base"))?;
    let conflicts_at = |id: Oid| -> Result<bool, GitError> {
        let tree = repo
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(GitError::git("reading an upstream tree"))?;
        trial_conflicts(repo, &old_tree, &tree, parent, changes)
    };
    let Some(culprit) = first_conflicting(&line, &conflicts_at)? else {
        return Ok(None);
    };
    // A merge: the culprit is on the branch it merged, when one of that branch's commits
    // conflicts on its own (as `git bisect` would look there).
    let merge = repo
        .find_commit(culprit)
        .map_err(GitError::git("reading an upstream commit"))?;
    if merge.parent_count() > 1 {
        let (Ok(mainline), Ok(side)) = (merge.parent_id(0), merge.parent_id(1)) else {
            return Ok(Some(culprit));
        };
        if let Ok(fork) = repo.merge_base(mainline, side) {
            let side_line = first_parent_line(repo, fork, side)?;
            if let Some(on_side) = first_conflicting(&side_line, &conflicts_at)? {
                return Ok(Some(on_side));
            }
        }
    }
    Ok(Some(culprit))
}

/// The first of `line` whose trial conflicts, by bisection (once broken, assumed to stay
/// broken); `None` when the last one does not conflict.
fn first_conflicting(
    line: &[Oid],
    conflicts_at: &dyn Fn(Oid) -> Result<bool, GitError>,
) -> Result<Option<Oid>, GitError> {
    let (mut low, mut high) = (0usize, line.len());
    if high == 0 || !conflicts_at(line[high - 1])? {
        return Ok(None);
    }
    while low < high {
        let mid = low + (high - low) / 2;
        if conflicts_at(line[mid])? {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Ok(line.get(low).copied())
}

fn first_parent_line(repo: &Repository, from: Oid, to: Oid) -> Result<Vec<Oid>, GitError> {
    let mut walk = repo.revwalk().map_err(GitError::git("walking upstream"))?;
    walk.simplify_first_parent()
        .map_err(GitError::git("walking upstream"))?;
    walk.push(to).map_err(GitError::git("walking upstream"))?;
    walk.hide(from).map_err(GitError::git("walking upstream"))?;
    let mut line: Vec<Oid> = walk
        .collect::<Result<_, _>>()
        .map_err(GitError::git("walking upstream"))?;
    line.reverse();
    Ok(line)
}

type Content = Option<Vec<u8>>;

fn content(
    repo: &Repository,
    tree: &Tree<'_>,
    path: &str,
) -> Result<Result<Content, ()>, GitError> {
    match entry_at(tree, path) {
        Err(()) => Ok(Err(())),
        Ok(None) => Ok(Ok(None)),
        Ok(Some(entry)) => Ok(Ok(Some(crate::rebase::merge::read_content(repo, entry)?))),
    }
}

/// Three-way merge of optional contents; `None` on conflict.
fn merge_optional(base: &Content, ours: &Content, theirs: &Content) -> Option<Content> {
    if ours == base {
        return Some(theirs.clone());
    }
    if theirs == base || ours == theirs {
        return Some(ours.clone());
    }
    match (base, ours, theirs) {
        (base, Some(o), Some(t)) => {
            let empty = Vec::new();
            match merge_text(base.as_ref().unwrap_or(&empty), o, t) {
                Ok(TextMerge::Clean(merged)) => Some(Some(merged)),
                // Too large for a text merge is a conflict in git too.
                Ok(TextMerge::Conflict(..)) | Err(_) => None,
            }
        }
        _ => None,
    }
}

fn trial_conflicts(
    repo: &Repository,
    old: &Tree<'_>,
    at: &Tree<'_>,
    parent: &Tree<'_>,
    changes: &[PathChange],
) -> Result<bool, GitError> {
    for change in changes {
        let (Ok(old_c), Ok(at_c), Ok(parent_c)) = (
            content(repo, old, &change.path)?,
            content(repo, at, &change.path)?,
            content(repo, parent, &change.path)?,
        ) else {
            return Ok(true);
        };
        let after = match change.after {
            Some(entry) => Some(crate::rebase::merge::read_content(repo, entry)?),
            None => None,
        };
        let Some(with_series) = merge_optional(&old_c, &at_c, &parent_c) else {
            return Ok(true);
        };
        if merge_optional(&parent_c, &with_series, &after).is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}
