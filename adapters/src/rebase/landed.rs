//! What upstream already has: the moved range's commits, indexed so a patch can be matched
//! before any merge is tried.
//!
//! Signals, strongest first: an upstream commit the patch names (`(cherry picked from commit
//! X)`, `[ upstream commit X ]`, `Git-commit:`, `Applied-Upstream:` and others, see
//! [`named_upstream_commits`]), the same `Change-Id`, the same patch-id (equal to
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

impl LandedBy {
    /// Its name, as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CherryPick => "cherry-pick",
            Self::ChangeId => "change-id",
            Self::PatchId => "patch-id",
            Self::Empty => "empty",
        }
    }
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
    /// Whether it is a merge (merges are not matched by patch-id; their own changes, the
    /// paths that differ from every parent, are in `paths`).
    #[serde(default)]
    pub merge: bool,
    /// Whether a merge's own changes were computed (caches written before they were are
    /// filled again).
    #[serde(default)]
    pub merge_paths: bool,
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
    /// Every commit of the range, merges included: only they count as a named reference.
    in_range: HashSet<Oid>,
}

/// The commits of a moved range, walked but not yet read: enough to tell which upstream
/// commit a patch names, before the range is indexed.
pub(crate) struct UpstreamRange {
    /// Oldest first.
    ids: Vec<Oid>,
    /// Every commit of the range, merges included: only they count as a named reference.
    in_range: HashSet<Oid>,
}

impl UpstreamRange {
    /// The commits reachable from `to` and not from `from`.
    pub(crate) fn walk(repo: &Repository, from: Oid, to: Oid) -> Result<Self, GitError> {
        let mut walk = repo.revwalk().map_err(GitError::git("walking upstream"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .map_err(GitError::git("walking upstream"))?;
        walk.push(to).map_err(GitError::git("walking upstream"))?;
        walk.hide(from).map_err(GitError::git("walking upstream"))?;
        let ids: Vec<Oid> = walk
            .collect::<Result<_, _>>()
            .map_err(GitError::git("walking upstream"))?;
        let in_range = ids.iter().copied().collect();
        Ok(Self { ids, in_range })
    }

    /// The upstream commit of this range that `message` names, if any: the strongest sign
    /// that a patch landed, and the first [`UpstreamIndex::find`] looks for.
    pub(crate) fn named(&self, repo: &Repository, message: &str) -> Option<Oid> {
        named_in(&self.in_range, repo, message)
    }
}

/// The commit of `in_range` that `message` names, if any.
fn named_in(in_range: &HashSet<Oid>, repo: &Repository, message: &str) -> Option<Oid> {
    named_upstream_commits(message)
        .into_iter()
        .find_map(|named| {
            let upstream = repo.revparse_single(&named).ok()?.peel_to_commit().ok()?;
            // Only a commit upstream gained in this move counts: an id that resolves to
            // anything else (an older commit, a bug number that happens to be hex) does not.
            in_range.contains(&upstream.id()).then(|| upstream.id())
        })
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
        let range = UpstreamRange::walk(repo, from, to)?;
        Self::of_range(repo, range, &mut cache.commits, interesting)
    }

    /// [`build`](Self::build) from a range already walked, filling `facts` (the cache's
    /// commits) with what it lacks.
    pub(crate) fn of_range<'p>(
        repo: &Repository,
        range: UpstreamRange,
        facts: &mut HashMap<String, CommitFacts>,
        interesting: impl IntoIterator<Item = &'p str>,
    ) -> Result<Self, GitError> {
        let UpstreamRange { ids, in_range } = range;
        let mut index = Self {
            commits: Vec::new(),
            by_path: HashMap::new(),
            by_change_id: HashMap::new(),
            by_subject: HashMap::new(),
            in_range,
        };
        let within = directories_of(interesting);
        fill_cache(repo, &ids, facts, &within)?;
        for id in ids {
            let key = id.to_string();
            let Some(facts) = facts.get(&key) else {
                continue;
            };
            let position = index.commits.len();
            for path in &facts.paths {
                index
                    .by_path
                    .entry(path.clone())
                    .or_default()
                    .push(position);
            }
            if facts.merge {
                // A merge's own changes count for "which commits touched this path"; it is
                // never a patch-id or Change-Id match, as `git cherry` leaves merges out.
                index.commits.push(UpstreamCommit {
                    id,
                    known_paths: None,
                });
                continue;
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
        patch_ids: &mut PatchIds<'_>,
    ) -> Result<Option<(Option<Oid>, LandedBy)>, GitError> {
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        if let Some(upstream) = named_in(&self.in_range, repo, &message) {
            return Ok(Some((Some(upstream), LandedBy::CherryPick)));
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
        let Some(own) = patch_ids.of(repo, commit)? else {
            return Ok(None);
        };
        for candidate in candidates {
            let upstream = repo
                .find_commit(candidate)
                .map_err(GitError::git("reading an upstream commit"))?;
            if patch_ids.of(repo, &upstream)? == Some(own) {
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

/// The hunks of `patch` that `upstream` does not have (compared by their changed lines, path
/// by path, without context): what a downstream copy added to a change it names as landed.
/// Each is `path @@ -a,b +c,d @@`.
pub(crate) fn hunks_not_upstream(
    repo: &Repository,
    patch: &git2::Commit<'_>,
    upstream: Oid,
    paths: &[String],
) -> Result<Vec<String>, GitError> {
    let upstream = repo
        .find_commit(upstream)
        .map_err(GitError::git("reading an upstream commit"))?;
    let theirs: HashSet<(String, Vec<Vec<u8>>)> = commit_hunks(repo, &upstream, paths)?
        .into_iter()
        .map(|(path, _, lines)| (path, lines))
        .collect();
    let theirs_anywhere: HashSet<&Vec<Vec<u8>>> = theirs.iter().map(|(_, lines)| lines).collect();
    Ok(commit_hunks(repo, patch, paths)?
        .into_iter()
        .filter(|(path, _, lines)| {
            !theirs.contains(&(path.clone(), lines.clone())) && !theirs_anywhere.contains(lines)
        })
        .map(|(path, header, _)| format!("{path} {header}"))
        .collect())
}

/// Each hunk of `commit` (against its first parent, no context) within `paths`: its path,
/// header and changed lines.
type Hunks = Vec<(String, String, Vec<Vec<u8>>)>;

fn commit_hunks(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    paths: &[String],
) -> Result<Hunks, GitError> {
    let tree = commit.tree().map_err(GitError::git("reading a tree"))?;
    let parent = match commit.parent(0) {
        Ok(parent) => Some(parent.tree().map_err(GitError::git("reading a tree"))?),
        Err(_) => None,
    };
    let content = |tree: Option<&git2::Tree<'_>>,
                   path: &str|
     -> Result<Option<(Oid, Vec<u8>)>, GitError> {
        match tree.map(|tree| super::merge::entry_at(tree, path)) {
            Some(Ok(Some(entry))) => Ok(Some((entry.id, super::merge::read_content(repo, entry)?))),
            _ => Ok(None),
        }
    };
    let options = carry_xdiff::DiffOptions {
        context: 0,
        ..carry_xdiff::DiffOptions::git_default()
    };
    let mut hunks: Hunks = Vec::new();
    for path in paths {
        let (before, after) = (content(parent.as_ref(), path)?, content(Some(&tree), path)?);
        if before.as_ref().map(|(id, _)| id) == after.as_ref().map(|(id, _)| id) {
            continue;
        }
        let (old, new) = (
            before.map(|(_, bytes)| bytes).unwrap_or_default(),
            after.map(|(_, bytes)| bytes).unwrap_or_default(),
        );
        // git shows no hunks for a binary file.
        if super::merge::is_binary(&old) || super::merge::is_binary(&new) {
            continue;
        }
        let diffed = carry_xdiff::diff(&old, &new, &options, &mut |event| match event {
            carry_xdiff::DiffEvent::Hunk {
                old_start,
                old_lines,
                new_start,
                new_lines,
            } => hunks.push((
                path.clone(),
                carry_xdiff::DiffEvent::header(old_start, old_lines, new_start, new_lines),
                Vec::new(),
            )),
            carry_xdiff::DiffEvent::Line { origin, text } => {
                if let Some((_, _, lines)) = hunks.last_mut() {
                    let mut line = Vec::with_capacity(text.len() + 1);
                    line.push(origin);
                    line.extend_from_slice(text);
                    lines.push(line);
                }
            }
        });
        if let Err(error) = diffed {
            return Err(GitError::git(format!("diffing {path}"))(
                git2::Error::from_str(&error.to_string()),
            ));
        }
    }
    Ok(hunks)
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
    cache: &mut HashMap<String, CommitFacts>,
    within: &HashSet<String>,
) -> Result<(), GitError> {
    let mut trees = TreeReader::new(repo)?;
    let mut tree_of: HashMap<Oid, Oid> = HashMap::new();
    for &id in ids {
        let key = id.to_string();
        let known = cache.get(&key).is_some_and(|facts| {
            (!facts.merge || facts.merge_paths)
                && !facts
                    .paths
                    .iter()
                    .any(|path| path.ends_with('/') && within.contains(path))
        });
        if !known {
            let facts = commit_facts(repo, id, &mut trees, &mut tree_of, within)?;
            cache.insert(key, facts);
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
        // Its own changes: paths that differ from every parent (an evil merge, a conflict
        // resolution), as `git log --cc` shows them.
        let mut own: Option<HashSet<String>> = None;
        for parent in commit.parents() {
            let changed: HashSet<String> = trees
                .changes_within(Some(parent.tree_id()), Some(commit.tree_id()), Some(within))?
                .into_iter()
                .map(|change| change.path)
                .collect();
            own = Some(match own {
                None => changed,
                Some(own) => own.intersection(&changed).cloned().collect(),
            });
        }
        let mut paths: Vec<String> = own.unwrap_or_default().into_iter().collect();
        paths.sort();
        return Ok(CommitFacts {
            paths,
            merge: true,
            merge_paths: true,
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
        merge_paths: false,
    })
}

/// Patch-ids known from earlier runs, and those found in this one (kept apart so that
/// several threads may look up at once, each with its own finds).
pub(crate) struct PatchIds<'a> {
    known: &'a HashMap<String, String>,
    pub(crate) found: HashMap<String, String>,
}

impl<'a> PatchIds<'a> {
    /// `known`: the cache's patch-ids.
    pub(crate) fn new(known: &'a HashMap<String, String>) -> Self {
        Self {
            known,
            found: HashMap::new(),
        }
    }

    /// [`patch_id`], known or found before, else computed and kept.
    fn of(
        &mut self,
        repo: &Repository,
        commit: &git2::Commit<'_>,
    ) -> Result<Option<Oid>, GitError> {
        let key = commit.id().to_string();
        if let Some(id) = self.known.get(&key).or_else(|| self.found.get(&key)) {
            return Ok(Oid::from_str(id).ok());
        }
        let id = patch_id(repo, commit)?;
        if let Some(id) = id {
            self.found.insert(key, id.to_string());
        }
        Ok(id)
    }
}

/// `git patch-id --stable` of a commit against its first parent; `None` for an empty change.
pub fn patch_id(repo: &Repository, commit: &git2::Commit<'_>) -> Result<Option<Oid>, GitError> {
    super::patch_id::commit_patch_id(repo, commit)
}

/// Upstream commit ids a message names: cherry-pick lines, `Git-commit:`,
/// `Applied-Upstream:` and `Upstream-Status: Backport [...]` (a full or abbreviated id, or a
/// commit URL), and the stable-branch lines `[ upstream commit X ]` (DPDK, Linux) and
/// `commit X upstream.` (Linux). Each is only a candidate: it counts when it resolves to a
/// commit of the moved range.
pub(crate) fn named_upstream_commits(message: &str) -> Vec<String> {
    let mut named = Vec::new();
    for line in message.lines() {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        let stable = lower
            .strip_prefix('[')
            .and_then(|rest| rest.trim_start().strip_prefix("upstream commit "))
            .filter(|_| line.ends_with(']'))
            .or_else(|| {
                lower
                    .strip_prefix("commit ")
                    .filter(|rest| rest.trim_end_matches('.').ends_with(" upstream"))
            });
        let value = if let Some(rest) = stable {
            // The id is the first word; the line's own words are no ids.
            rest.split_whitespace().next().unwrap_or_default()
        } else if let Some(rest) = line.strip_prefix("(cherry picked from commit ") {
            rest.trim_end_matches(')')
        } else if let Some((key, value)) = line.split_once(':') {
            let key = key.trim();
            if key.eq_ignore_ascii_case("Git-commit")
                || key.eq_ignore_ascii_case("Applied-Upstream")
                || key.eq_ignore_ascii_case("Backported-from")
            {
                value
            } else if key.eq_ignore_ascii_case("Upstream-Status")
                && value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("backport")
            {
                value.trim_start()["backport".len()..].trim()
            } else {
                continue;
            }
        } else {
            continue;
        };
        for token in value.split(|c: char| !c.is_ascii_alphanumeric()) {
            if (7..=40).contains(&token.len()) && token.chars().all(|c| c.is_ascii_hexdigit()) {
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

#[cfg(test)]
mod tests {
    use super::named_upstream_commits;

    #[test]
    fn references_are_found_in_every_form_backports_use() {
        let id = "d74543f8ad30db164c08ec69910b05d6811b1b89";
        for message in [
            format!("fix\n\n(cherry picked from commit {id})\n"),
            format!("fix\n\n[ upstream commit {id} ]\n\nbody\n"),
            format!("fix\n\n[ Upstream commit {id} ]\n"),
            format!("fix\n\ncommit {id} upstream.\n\nbody\n"),
            format!("fix\n\nGit-commit: {id}\n"),
            format!("fix\n\nUpstream-Status: Backport [https://git.example.org/commit/?id={id}]\n"),
        ] {
            assert_eq!(named_upstream_commits(&message), [id], "{message}");
        }
        // Prose that merely mentions commits names none.
        for message in [
            format!("fix\n\nThe upstream commit {id} broke this.\n"),
            format!("fix\n\nFixes: {}\n", &id[..12]),
            "fix\n\ncommit message upstream.\n".to_owned(),
        ] {
            assert!(named_upstream_commits(&message).is_empty(), "{message}");
        }
    }
}
