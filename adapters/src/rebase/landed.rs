//! What upstream already has: the moved range's commits, indexed so a patch can be matched
//! before any merge is tried.
//!
//! Signals, strongest first: an upstream commit the patch names (`(cherry picked from commit
//! X)`, `Git-commit:`, `Applied-Upstream:`), the same `Change-Id`, the same patch-id (equal to
//! `git patch-id --stable`). Full patch-ids are computed only for upstream commits that touch
//! one of the patch's paths, and cached by commit id with each commit's paths, so a nightly
//! run pays only for new upstream commits.

use std::collections::HashMap;
use std::collections::HashSet;

use git2::Oid;
use git2::Repository;
use serde::Deserialize;
use serde::Serialize;

use super::tree_diff::TreeReader;
use crate::commits::trailer;
use crate::git::GitError;

/// How a landed patch was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LandedBy {
    /// The patch names an upstream commit that upstream now contains.
    CherryPick,
    /// An upstream commit in the moved range has the patch's `Change-Id`.
    ChangeId,
    /// An upstream commit in the moved range has the patch's patch-id.
    PatchId,
    /// Merged onto upstream, the patch changes nothing.
    Empty,
}

/// Per-commit facts about upstream commits, kept between runs: a commit never changes, so
/// neither do they.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct UpstreamCache {
    /// What each commit is, by commit id.
    pub commits: HashMap<String, CommitFacts>,
    /// `git patch-id --stable` of each commit, computed on demand.
    pub patch_ids: HashMap<String, String>,
}

/// What the landed check needs to know of one upstream commit.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CommitFacts {
    /// Paths it changes relative to its first parent. A path ending in `/` is a directory
    /// in which something changed that was not looked into: no carried patch touched it
    /// then. A later run whose patches touch it there looks again.
    pub paths: Vec<String>,
    /// Its `Change-Id` trailer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// Its subject, normalized.
    pub subject_key: String,
    /// Whether it is a merge (merges are not matched).
    #[serde(default)]
    pub merge: bool,
}

/// One upstream commit of the moved range.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamCommit {
    pub(crate) id: Oid,
    /// How many paths it changes, when every one is known (no directory left unread).
    known_paths: Option<usize>,
}

/// The moved range, indexed.
pub struct UpstreamIndex {
    /// Oldest first.
    pub(crate) commits: Vec<UpstreamCommit>,
    by_path: HashMap<String, Vec<usize>>,
    by_change_id: HashMap<String, usize>,
    by_subject: HashMap<String, usize>,
    pub(crate) to: Oid,
}

impl UpstreamIndex {
    /// Indexes the commits reachable from `to` and not from `from` (merges left out), looking
    /// into the directories that hold `interesting` paths (the paths the series touches) and
    /// no further: a commit elsewhere in the tree costs one read of each differing tree on
    /// the way down to where the series' paths end.
    pub fn build<'p>(
        repo: &Repository,
        from: Oid,
        to: Oid,
        cache: &mut UpstreamCache,
        interesting: impl IntoIterator<Item = &'p str>,
    ) -> Result<Self, GitError> {
        let mut walk = repo.revwalk().map_err(GitError::git("walking upstream"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .map_err(GitError::git("walking upstream"))?;
        walk.push(to).map_err(GitError::git("walking upstream"))?;
        walk.hide(from).map_err(GitError::git("walking upstream"))?;
        let mut index = Self {
            commits: Vec::new(),
            by_path: HashMap::new(),
            by_change_id: HashMap::new(),
            by_subject: HashMap::new(),
            to,
        };
        let ids: Vec<Oid> = walk
            .collect::<Result<_, _>>()
            .map_err(GitError::git("walking upstream"))?;
        let within = directories_of(interesting);
        fill_cache(repo, &ids, cache, &within)?;
        for id in ids {
            let key = id.to_string();
            let Some(facts) = cache.commits.get(&key) else {
                continue;
            };
            if facts.merge {
                continue;
            }
            let position = index.commits.len();
            for path in &facts.paths {
                index
                    .by_path
                    .entry(path.clone())
                    .or_default()
                    .push(position);
            }
            if let Some(change_id) = &facts.change_id {
                index
                    .by_change_id
                    .entry(change_id.clone())
                    .or_insert(position);
            }
            if !facts.subject_key.is_empty() {
                index
                    .by_subject
                    .entry(facts.subject_key.clone())
                    .or_insert(position);
            }
            let complete = !facts.paths.iter().any(|path| path.ends_with('/'));
            index.commits.push(UpstreamCommit {
                id,
                known_paths: complete.then_some(facts.paths.len()),
            });
        }
        Ok(index)
    }

    /// Upstream commits of the range that touch any of `paths`, oldest first.
    pub(crate) fn touching<'a>(
        &self,
        repo: &Repository,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Oid>, GitError> {
        let mut positions = Vec::new();
        for path in paths {
            positions.extend(self.by_path.get(path).into_iter().flatten().copied());
            // A directory the index did not look into (no patch touched it when it was
            // built, as for a path upstream renamed): ask git for the path itself.
            for (end, _) in path.match_indices('/') {
                for &position in self.by_path.get(&path[..=end]).into_iter().flatten() {
                    if commit_touches(repo, self.commits[position].id, path)? {
                        positions.push(position);
                    }
                }
            }
        }
        positions.sort_unstable();
        positions.dedup();
        Ok(positions.into_iter().map(|p| self.commits[p].id).collect())
    }

    /// Upstream commits that change exactly `paths`, oldest first. Only they can have the
    /// same patch-id: each changed path hashes its own header into a patch-id (git's
    /// `diff_get_patch_id`, without rename detection, as `git cherry` diffs).
    fn same_paths(&self, paths: &[String]) -> Vec<Oid> {
        let mut hits: HashMap<usize, usize> = HashMap::new();
        for path in paths {
            for &position in self.by_path.get(path).into_iter().flatten() {
                *hits.entry(position).or_default() += 1;
            }
        }
        let mut positions: Vec<usize> = hits
            .into_iter()
            .filter(|&(position, count)| {
                count == paths.len() && self.commits[position].known_paths == Some(paths.len())
            })
            .map(|(position, _)| position)
            .collect();
        positions.sort_unstable();
        positions.into_iter().map(|p| self.commits[p].id).collect()
    }

    /// Whether upstream already has the patch `commit`, and by which signal.
    pub(crate) fn find(
        &self,
        repo: &Repository,
        commit: &git2::Commit<'_>,
        patch_paths: &[String],
        cache: &mut UpstreamCache,
    ) -> Result<Option<(Option<Oid>, LandedBy)>, GitError> {
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        for named in named_upstream_commits(&message) {
            let Ok(object) = repo.revparse_single(&named) else {
                continue;
            };
            let Ok(upstream) = object.peel_to_commit() else {
                continue;
            };
            if upstream.id() == self.to
                || repo
                    .graph_descendant_of(self.to, upstream.id())
                    .unwrap_or(false)
            {
                return Ok(Some((Some(upstream.id()), LandedBy::CherryPick)));
            }
        }
        if let Some(change_id) = trailer(&message, "Change-Id")
            && let Some(&position) = self.by_change_id.get(&change_id)
        {
            return Ok(Some((Some(self.commits[position].id), LandedBy::ChangeId)));
        }
        let candidates = self.same_paths(patch_paths);
        if candidates.is_empty() {
            return Ok(None);
        }
        // A patch's commit does not change between nightly runs either: its patch-id is
        // cached like upstream's.
        let Some(own) = cached_patch_id(repo, commit, cache)? else {
            return Ok(None);
        };
        for candidate in candidates {
            let upstream = repo
                .find_commit(candidate)
                .map_err(GitError::git("reading an upstream commit"))?;
            if cached_patch_id(repo, &upstream, cache)? == Some(own) {
                return Ok(Some((Some(candidate), LandedBy::PatchId)));
            }
        }
        Ok(None)
    }

    /// An upstream commit with the same normalized subject, for a human to check.
    pub(crate) fn same_subject(&self, subject: &str) -> Option<Oid> {
        let key = subject_key(subject);
        self.by_subject.get(&key).map(|&p| self.commits[p].id)
    }

    /// How many commits the range holds.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

/// Every directory holding one of `paths`, as `a/` and `a/b/` for `a/b/c`.
fn directories_of<'p>(paths: impl IntoIterator<Item = &'p str>) -> HashSet<String> {
    let mut dirs = HashSet::new();
    for path in paths {
        for (end, _) in path.match_indices('/') {
            dirs.insert(path[..=end].to_owned());
        }
    }
    dirs
}

/// Whether `commit` changes `path` relative to its first parent.
fn commit_touches(repo: &Repository, commit: Oid, path: &str) -> Result<bool, GitError> {
    let commit = repo
        .find_commit(commit)
        .map_err(GitError::git("reading an upstream commit"))?;
    // A directory at `path` counts as absent: the question is about a file.
    let entry = |tree: &git2::Tree<'_>| super::merge::entry_at(tree, path).ok().flatten();
    let tree = commit.tree().map_err(GitError::git("reading a tree"))?;
    let parent_tree = match commit.parent(0) {
        Ok(parent) => Some(parent.tree().map_err(GitError::git("reading a tree"))?),
        Err(_) => None,
    };
    Ok(entry(&tree) != parent_tree.as_ref().and_then(entry))
}

/// Computes the facts of every commit the cache lacks, or holds without looking into a
/// directory that now holds one of the series' paths; oldest first, so that each commit's
/// trees are still at hand when its child is diffed. (Threads do not help here: libgit2
/// serializes pack reads behind one global lock; measured, no gain on two cores.)
fn fill_cache(
    repo: &Repository,
    ids: &[Oid],
    cache: &mut UpstreamCache,
    within: &HashSet<String>,
) -> Result<(), GitError> {
    let mut trees = TreeReader::new(repo)?;
    let mut tree_of: HashMap<Oid, Oid> = HashMap::new();
    for &id in ids {
        let key = id.to_string();
        let known = cache.commits.get(&key).is_some_and(|facts| {
            !facts
                .paths
                .iter()
                .any(|path| path.ends_with('/') && within.contains(path))
        });
        if !known {
            let facts = commit_facts(repo, id, &mut trees, &mut tree_of, within)?;
            cache.commits.insert(key, facts);
        }
    }
    Ok(())
}

fn commit_facts(
    repo: &Repository,
    id: Oid,
    trees: &mut TreeReader<'_>,
    tree_of: &mut HashMap<Oid, Oid>,
    within: &HashSet<String>,
) -> Result<CommitFacts, GitError> {
    let commit = repo
        .find_commit(id)
        .map_err(GitError::git("reading an upstream commit"))?;
    tree_of.insert(id, commit.tree_id());
    if commit.parent_count() > 1 {
        return Ok(CommitFacts {
            merge: true,
            ..CommitFacts::default()
        });
    }
    let parent_tree = match commit.parent_ids().next() {
        Some(parent) => Some(match tree_of.get(&parent) {
            Some(&tree) => tree,
            None => repo
                .find_commit(parent)
                .map_err(GitError::git("reading an upstream commit"))?
                .tree_id(),
        }),
        None => None,
    };
    let paths = trees
        .changes_within(parent_tree, Some(commit.tree_id()), Some(within))?
        .into_iter()
        .map(|change| change.path)
        .collect();
    let message = String::from_utf8_lossy(commit.message_bytes());
    Ok(CommitFacts {
        paths,
        change_id: trailer(&message, "Change-Id"),
        subject_key: subject_key(commit.summary().unwrap_or("")),
        merge: false,
    })
}

/// [`patch_id`], from `cache` when it has the commit, else computed and kept there.
fn cached_patch_id(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    cache: &mut UpstreamCache,
) -> Result<Option<Oid>, GitError> {
    let key = commit.id().to_string();
    if let Some(id) = cache.patch_ids.get(&key) {
        return Ok(Oid::from_str(id).ok());
    }
    let id = patch_id(repo, commit)?;
    if let Some(id) = id {
        cache.patch_ids.insert(key, id.to_string());
    }
    Ok(id)
}

/// `git patch-id --stable` of a commit against its first parent; `None` for an empty change.
pub fn patch_id(repo: &Repository, commit: &git2::Commit<'_>) -> Result<Option<Oid>, GitError> {
    super::patch_id::commit_patch_id(repo, commit)
}

/// Upstream commit ids a message names: cherry-pick lines, `Git-commit:` and
/// `Applied-Upstream:` trailers (whose value may be a URL ending in the id).
fn named_upstream_commits(message: &str) -> Vec<String> {
    let mut named = Vec::new();
    for line in message.lines() {
        let line = line.trim();
        let value = if let Some(rest) = line.strip_prefix("(cherry picked from commit ") {
            rest.trim_end_matches(')')
        } else if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case("Git-commit")
                || key.eq_ignore_ascii_case("Applied-Upstream")
            {
                value
            } else {
                continue;
            }
        } else {
            continue;
        };
        for token in value.split(|c: char| !c.is_ascii_hexdigit()) {
            if (7..=40).contains(&token.len())
                && token
                    .chars()
                    .any(|c| c.is_ascii_alphabetic() || c.is_ascii_digit())
            {
                named.push(token.to_ascii_lowercase());
            }
        }
    }
    named
}

/// A subject without prefixes, case and spacing, for likely-the-same matches.
pub(crate) fn subject_key(subject: &str) -> String {
    let mut rest = crate::patchfile::clean_subject(subject);
    for prefix in [
        "UPSTREAM:",
        "BACKPORT:",
        "FROMLIST:",
        "FROMGIT:",
        "CHROMIUM:",
    ] {
        if let Some(stripped) = rest.strip_prefix(prefix) {
            rest = stripped.trim().to_owned();
        }
    }
    rest.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
