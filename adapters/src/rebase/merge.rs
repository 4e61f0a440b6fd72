//! Three-way merges of one patch onto a new tree, limited to the paths the patch touches.
//!
//! Why a fast path: the obvious git2 route (`cherrypick_commit`) builds a whole index per patch,
//! 14-45 ms on real trees. A patch touches a handful of paths, so this merges only those, each
//! with a histogram text merge (git's `ort` uses histogram; libgit2's Myers merge gives a
//! different file on about one clean merge in two hundred), and writes the result with a
//! `TreeUpdateBuilder` over the new base. When a path the patch changes is gone on the new
//! base (upstream may have renamed it) the caller falls back to a full merge with rename
//! detection, as `ort` would find the rename. Tests pin every path to git's own
//! `git merge-tree --write-tree` result.

use git2::FileMode;
use git2::ObjectType;
use git2::Oid;
use git2::Repository;
use git2::Tree;
use serde::Deserialize;
use serde::Serialize;

use super::ahead::Ahead;
use super::resolutions::Resolver;
use crate::git::GitError;

/// One side's view of a path: what kind of entry, which object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: Oid,
    pub(crate) mode: i32,
}

impl Entry {
    pub(crate) fn is_blob(self) -> bool {
        matches!(self.mode, 0o100_644 | 0o100_755)
    }
}

/// Why a path conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Both sides changed the same lines.
    Content,
    /// Both sides added the path with different contents.
    AddAdd,
    /// One side modified the path, the other deleted it.
    ModifyDelete,
    /// The sides disagree on the file mode.
    Mode,
    /// A binary file changed on both sides.
    Binary,
    /// A file on one side is a directory, symlink or submodule on the other.
    Type,
    /// Both sides moved a submodule to different commits.
    Submodule,
    /// The sides renamed a file to different names.
    Rename,
    /// The patch adds a file in a directory upstream renamed (git: "file location").
    Location,
}

/// One side of a conflicting hunk, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictHunk {
    /// The lines as the old base had them.
    pub base: Vec<String>,
    /// The lines as upstream has them now.
    pub upstream: Vec<String>,
    /// The lines as the patch wants them.
    pub patch: Vec<String>,
}

/// A path that does not merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathConflict {
    /// The path.
    pub path: String,
    /// Why.
    pub kind: ConflictKind,
    /// For content conflicts, the conflicting hunks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<ConflictHunk>,
}

/// How a patch merged onto a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TreeMerge {
    /// Clean: the new tree.
    Clean(Oid),
    /// Conflicts, path by path.
    Conflict(Vec<PathConflict>),
    /// A path the patch changes is missing on the new base, or the patch deletes and adds
    /// paths where upstream changed them: renames may explain it.
    NeedsRenames,
}

/// What the patch changed at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathChange {
    pub(crate) path: String,
    pub(crate) before: Option<Entry>,
    pub(crate) after: Option<Entry>,
}

/// A submodule entry (a gitlink): its id names a commit of another repository.
pub(crate) const GITLINK: i32 = 0o160_000;

/// An entry's content as git diffs it: a blob's bytes, or `Subproject commit <id>` for a
/// submodule, whose commit is not in this repository.
pub(crate) fn read_content(repo: &Repository, entry: Entry) -> Result<Vec<u8>, GitError> {
    if entry.mode == GITLINK {
        return Ok(format!("Subproject commit {}\n", entry.id).into_bytes());
    }
    Ok(repo
        .find_blob(entry.id)
        .map_err(GitError::git("reading a blob"))?
        .content()
        .to_vec())
}

/// The entry at `path` in `tree`: `Ok(None)` when absent, `Err(())` when it is a directory.
pub(crate) fn entry_at(tree: &Tree<'_>, path: &str) -> Result<Option<Entry>, ()> {
    match tree.get_path(&crate::paths::to_path(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Tree) => Err(()),
        Ok(entry) => Ok(Some(Entry {
            id: entry.id(),
            mode: entry.filemode(),
        })),
        Err(_) => Ok(None),
    }
}

/// Whether a directory on the way to `path` is a file (or symlink, or submodule) in `tree`.
fn under_a_file(tree: &Tree<'_>, path: &str) -> bool {
    let mut dir = 0;
    while let Some(slash) = path[dir..].find('/') {
        let end = dir + slash;
        match tree.get_path(&crate::paths::to_path(&path[..end])) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => dir = end + 1,
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
    false
}

/// Merges the patch `changes` (made on top of some parent) onto `onto`.
pub(crate) fn merge_changes(
    repo: &Repository,
    changes: &[PathChange],
    onto: &Tree<'_>,
    ahead: Option<&Ahead>,
    resolver: Option<&Resolver>,
) -> Result<TreeMerge, GitError> {
    // A patch that deletes one path and adds another may be renaming: if upstream changed what
    // it deletes, or has the path it adds, the rename-following merge decides, as `ort`
    // follows the rename.
    let may_rename = changes
        .iter()
        .any(|change| change.before.is_none() && change.after.is_some())
        && changes
            .iter()
            .any(|change| change.before.is_some() && change.after.is_none());
    let mut edits = TreeEdits::default();
    let mut conflicts = Vec::new();
    for change in changes {
        let Ok(ours) = entry_at(onto, &change.path) else {
            // A directory upstream where the patch had a file: deleting the file is what
            // upstream did too. A file the patch adds where it removes a directory is
            // decided once the removals are made (see `TreeEdits::build`); anything else is
            // a file/directory conflict.
            if change.after.is_none() {
                continue;
            }
            if change.before.is_none() {
                if let Some(entry) = change.after {
                    edits.set(&change.path, entry);
                }
                continue;
            }
            conflicts.push(PathConflict {
                path: change.path.clone(),
                kind: ConflictKind::Type,
                hunks: Vec::new(),
            });
            continue;
        };
        // A file added where upstream has no such directory: upstream may have renamed it.
        if change.before.is_none()
            && let Some(slash) = change.path.rfind('/')
            && matches!(entry_at(onto, &change.path[..slash]), Ok(None))
        {
            return Ok(TreeMerge::NeedsRenames);
        }
        // Both delete it: unless upstream renamed it (git: a rename/delete conflict).
        if change.before.is_some() && change.after.is_none() && ours.is_none() {
            return Ok(TreeMerge::NeedsRenames);
        }
        match merge_path(
            repo,
            change.before,
            ours,
            change.after,
            &change.path,
            ahead,
            resolver,
        )? {
            PathMerge::Keep => {}
            // Where upstream made a file on the way to a path the patch adds, `build` finds
            // the file/directory conflict that libgit2's tree update would quietly resolve.
            PathMerge::Set(entry) => edits.set(&change.path, entry),
            PathMerge::Remove => edits.remove(&change.path),
            PathMerge::Conflict(conflict)
                if may_rename
                    && matches!(
                        conflict.kind,
                        ConflictKind::ModifyDelete | ConflictKind::AddAdd
                    ) =>
            {
                return Ok(TreeMerge::NeedsRenames);
            }
            PathMerge::Conflict(conflict) => conflicts.push(conflict),
            PathMerge::Missing => return Ok(TreeMerge::NeedsRenames),
        }
    }
    if !conflicts.is_empty() {
        return Ok(TreeMerge::Conflict(conflicts));
    }
    edits.build(repo, onto)
}

/// The entries a merge sets and removes, written over a tree in one go.
#[derive(Default)]
pub(crate) struct TreeEdits {
    set: Vec<(String, Entry)>,
    removed: Vec<String>,
}

impl TreeEdits {
    pub(crate) fn set(&mut self, path: &str, entry: Entry) {
        self.set.push((path.to_owned(), entry));
    }

    pub(crate) fn remove(&mut self, path: &str) {
        self.removed.push(path.to_owned());
    }

    /// The tree `onto` with these edits. Removals go first, so that a patch may replace a
    /// file `a` with a directory `a/` (or the reverse) in one change, as git's merge lets it.
    /// If an entry would still land on or under a file or directory of another kind, that
    /// path is a file/directory conflict, as git reports it.
    pub(crate) fn build(self, repo: &Repository, onto: &Tree<'_>) -> Result<TreeMerge, GitError> {
        if self.set.is_empty() && self.removed.is_empty() {
            return Ok(TreeMerge::Clean(onto.id()));
        }
        let build_error = GitError::git("writing a merged tree");
        let mut tree = onto.clone();
        if !self.removed.is_empty() {
            let mut removals = git2::build::TreeUpdateBuilder::new();
            for path in &self.removed {
                removals.remove(crate::paths::to_bytes(path).into_owned());
            }
            let id = removals.create_updated(repo, &tree).map_err(build_error)?;
            tree = repo
                .find_tree(id)
                .map_err(GitError::git("reading a merged tree"))?;
        }
        let clashes: Vec<PathConflict> = self
            .set
            .iter()
            .filter(|(path, _)| entry_at(&tree, path).is_err() || under_a_file(&tree, path))
            .map(|(path, _)| PathConflict {
                path: path.clone(),
                kind: ConflictKind::Type,
                hunks: Vec::new(),
            })
            .collect();
        if !clashes.is_empty() {
            return Ok(TreeMerge::Conflict(clashes));
        }
        if self.set.is_empty() {
            return Ok(TreeMerge::Clean(tree.id()));
        }
        let mut additions = git2::build::TreeUpdateBuilder::new();
        for (path, entry) in &self.set {
            additions.upsert(
                crate::paths::to_bytes(path).into_owned(),
                entry.id,
                file_mode(entry.mode),
            );
        }
        let id = additions
            .create_updated(repo, &tree)
            .map_err(GitError::git("writing a merged tree"))?;
        Ok(TreeMerge::Clean(id))
    }
}

pub(crate) fn file_mode(mode: i32) -> FileMode {
    match mode {
        0o100_755 => FileMode::BlobExecutable,
        0o120_000 => FileMode::Link,
        0o160_000 => FileMode::Commit,
        0o040_000 => FileMode::Tree,
        _ => FileMode::Blob,
    }
}

pub(crate) enum PathMerge {
    Keep,
    Set(Entry),
    Remove,
    Conflict(PathConflict),
    Missing,
}

pub(crate) fn merge_path(
    repo: &Repository,
    base: Option<Entry>,
    ours: Option<Entry>,
    theirs: Option<Entry>,
    path: &str,
    ahead: Option<&Ahead>,
    resolver: Option<&Resolver>,
) -> Result<PathMerge, GitError> {
    let conflict = |kind| {
        PathMerge::Conflict(PathConflict {
            path: path.to_owned(),
            kind,
            hunks: Vec::new(),
        })
    };
    if ours == base {
        return Ok(match theirs {
            Some(entry) if Some(entry) == ours => PathMerge::Keep,
            Some(entry) => PathMerge::Set(entry),
            None if ours.is_none() => PathMerge::Keep,
            None => PathMerge::Remove,
        });
    }
    if ours == theirs {
        return Ok(PathMerge::Keep);
    }
    match (base, ours, theirs) {
        // Upstream removed (or moved) what the patch modifies.
        (Some(_), None, Some(_)) => Ok(PathMerge::Missing),
        // The patch removes what upstream modified.
        (Some(_), Some(_), None) => Ok(conflict(ConflictKind::ModifyDelete)),
        (_, Some(o), Some(t)) => {
            if o.mode == GITLINK && t.mode == GITLINK {
                return Ok(conflict(ConflictKind::Submodule));
            }
            if !(o.is_blob() && t.is_blob() && base.is_none_or(Entry::is_blob)) {
                return Ok(conflict(ConflictKind::Type));
            }
            let mode = match base {
                _ if o.mode == t.mode => o.mode,
                Some(b) if b.mode == o.mode => t.mode,
                Some(b) if b.mode == t.mode => o.mode,
                _ => return Ok(conflict(ConflictKind::Mode)),
            };
            if base.map(|b| b.id) == Some(o.id) {
                return Ok(PathMerge::Set(Entry { id: t.id, mode }));
            }
            if base.map(|b| b.id) == Some(t.id) || o.id == t.id {
                return Ok(if o.mode == mode {
                    PathMerge::Keep
                } else {
                    PathMerge::Set(Entry { id: o.id, mode })
                });
            }
            let made_ahead = match (base, ahead) {
                (Some(b), Some(ahead)) => ahead.take(b.id, o.id, t.id),
                _ => None,
            };
            let merged = match made_ahead {
                Some(merged) => merged,
                None => {
                    let read = |id: Oid| -> Result<Vec<u8>, GitError> {
                        Ok(repo
                            .find_blob(id)
                            .map_err(GitError::git("reading a blob"))?
                            .content()
                            .to_vec())
                    };
                    let base_bytes = match base {
                        Some(b) => read(b.id)?,
                        None => Vec::new(),
                    };
                    let (ours_bytes, theirs_bytes) = (read(o.id)?, read(t.id)?);
                    if is_binary(&base_bytes) || is_binary(&ours_bytes) || is_binary(&theirs_bytes)
                    {
                        return Ok(conflict(ConflictKind::Binary));
                    }
                    merge_text(&base_bytes, &ours_bytes, &theirs_bytes)
                }
            };
            let merged = match merged {
                Ok(merged) => merged,
                // Past git's size limit for text: git merges it as binary, a conflict.
                Err(carry_xdiff::Error::TooLarge { size }) => {
                    tracing::debug!(
                        path,
                        size,
                        "too large to merge as text; a binary conflict, as in git"
                    );
                    return Ok(conflict(ConflictKind::Binary));
                }
                Err(error @ carry_xdiff::Error::Failed) => {
                    return Err(GitError::git(format!("merging {path}"))(
                        git2::Error::from_str(&error.to_string()),
                    ));
                }
            };
            match merged {
                TextMerge::Clean(merged) => {
                    let id = repo
                        .blob(&merged)
                        .map_err(GitError::git("writing a merged blob"))?;
                    Ok(PathMerge::Set(Entry { id, mode }))
                }
                TextMerge::Conflict(_, diff3)
                    if base.is_some()
                        && let Some(resolved) = resolver.and_then(|r| r.resolve(path, &diff3)) =>
                {
                    let id = repo
                        .blob(&resolved)
                        .map_err(GitError::git("writing a resolved blob"))?;
                    Ok(PathMerge::Set(Entry { id, mode }))
                }
                TextMerge::Conflict(hunks, _) => Ok(PathMerge::Conflict(PathConflict {
                    path: path.to_owned(),
                    kind: if base.is_some() {
                        ConflictKind::Content
                    } else {
                        ConflictKind::AddAdd
                    },
                    hunks,
                })),
            }
        }
        // Both removed, or nothing anywhere: nothing to do.
        _ => Ok(PathMerge::Keep),
    }
}

/// git's test for binary content: a NUL in the first 8000 bytes.
pub(crate) fn is_binary(data: &[u8]) -> bool {
    data.iter().take(8000).any(|&b| b == 0)
}

/// A text merge's result.
pub(crate) enum TextMerge {
    Clean(Vec<u8>),
    /// The conflicting hunks (cut for reports) and the whole diff3-style text, markers and
    /// all, from which a recorded resolution is spliced.
    Conflict(Vec<ConflictHunk>, Vec<u8>),
}

/// Three-way merge of file contents exactly as git's `ort` makes it: git's own xdiff merge
/// (histogram, zealous), called in process through [`carry_xdiff`].
///
/// The verdict and a clean result come from git's default ("merge") style, whose zealous
/// refinement resolves what diff3 style leaves as a conflict (both sides made the same
/// deletion next to a change, say); the hunks of a conflict then come from diff3 style, which
/// shows the base. Inputs git would not text-merge (past [`carry_xdiff::MAX_SIZE`]) are a
/// conflict, as git makes them: `Err` says why, for the caller to log and count.
pub(crate) fn merge_text(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
) -> Result<TextMerge, carry_xdiff::Error> {
    let merged = carry_xdiff::merge(base, ours, theirs, &carry_xdiff::Options::ort())?;
    if merged.conflicts == 0 {
        return Ok(TextMerge::Clean(merged.text));
    }
    let with_base = carry_xdiff::merge(
        base,
        ours,
        theirs,
        &carry_xdiff::Options::ort().with_style(carry_xdiff::Style::Diff3),
    )?;
    Ok(TextMerge::Conflict(
        parse_conflict_hunks(&with_base.text),
        with_base.text,
    ))
}

/// How many lines of each side a reported hunk keeps.
const HUNK_LINES: usize = 12;

/// Reads diff3-style conflict markers back into hunks.
fn parse_conflict_hunks(merged: &[u8]) -> Vec<ConflictHunk> {
    #[derive(PartialEq)]
    enum Part {
        Outside,
        Ours,
        Base,
        Theirs,
    }
    let text = String::from_utf8_lossy(merged);
    let mut hunks = Vec::new();
    let mut part = Part::Outside;
    let mut current = ConflictHunk {
        base: Vec::new(),
        upstream: Vec::new(),
        patch: Vec::new(),
    };
    for line in text.lines() {
        let marker = |m: &str| {
            line.starts_with(m) && (line.len() == 7 || line.as_bytes().get(7) == Some(&b' '))
        };
        if marker("<<<<<<<") {
            part = Part::Ours;
        } else if marker("|||||||") && part == Part::Ours {
            part = Part::Base;
        } else if marker("=======") && part != Part::Outside {
            part = Part::Theirs;
        } else if marker(">>>>>>>") && part == Part::Theirs {
            part = Part::Outside;
            hunks.push(std::mem::replace(
                &mut current,
                ConflictHunk {
                    base: Vec::new(),
                    upstream: Vec::new(),
                    patch: Vec::new(),
                },
            ));
        } else {
            let side = match part {
                Part::Outside => continue,
                Part::Ours => &mut current.upstream,
                Part::Base => &mut current.base,
                Part::Theirs => &mut current.patch,
            };
            if side.len() < HUNK_LINES {
                side.push(line.to_owned());
            } else if side.len() == HUNK_LINES {
                side.push("…".to_owned());
            }
        }
    }
    hunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &[u8], ours: &[u8], theirs: &[u8]) -> TextMerge {
        merge_text(base, ours, theirs).expect("a text merge")
    }

    /// git's histogram diff anchors on the rarest line common to both sides (`  y;`, moved
    /// from the end to the start) and so sees a moved block that conflicts with the patch's
    /// change five lines away (an in-process histogram of another lineage merged it cleanly).
    #[test]
    fn a_moved_rare_line_makes_git_see_a_moved_block() {
        let base = [
            "/* c */", "", "A", "}", "", "}", "f() {", "}", "", "A", "", "/* c */", "  y;",
            "f() {", "", "A", "", "", "", "", "", "f() {",
        ];
        let mut upstream = base.to_vec();
        upstream.remove(12);
        upstream[0] = "  y;";
        let mut patch = base.to_vec();
        patch[5] = "  x;";
        let text = |lines: &[&str]| lines.iter().flat_map(|l| [*l, "\n"]).collect::<String>();
        let (base, upstream, patch) = (text(&base), text(&upstream), text(&patch));
        assert!(matches!(
            merged(base.as_bytes(), upstream.as_bytes(), patch.as_bytes()),
            TextMerge::Conflict(..)
        ));
    }

    #[test]
    fn text_merge_takes_both_sides_when_they_touch_different_lines() {
        let base = b"a\nb\nc\nd\ne\n";
        let ours = b"A\nb\nc\nd\ne\n";
        let theirs = b"a\nb\nc\nd\nE\n";
        match merged(base, ours, theirs) {
            TextMerge::Clean(merged) => assert_eq!(merged, b"A\nb\nc\nd\nE\n"),
            TextMerge::Conflict(..) => panic!("expected a clean merge"),
        }
    }

    /// Changes one line apart conflict in git (xdiff joins changes that touch).
    #[test]
    fn adjacent_changes_conflict_as_in_git() {
        let base = b"a\nb\nc\nd\n";
        let ours = b"a\nB\nc\nd\n";
        let theirs = b"a\nb\nC\nd\n";
        assert!(matches!(
            merged(base, ours, theirs),
            TextMerge::Conflict(..)
        ));
    }

    #[test]
    fn conflicting_lines_come_back_as_hunks() {
        let base = b"a\nb\nc\n";
        let ours = b"a\nUP\nc\n";
        let theirs = b"a\nPATCH\nc\n";
        match merged(base, ours, theirs) {
            TextMerge::Conflict(hunks, _) => {
                assert_eq!(hunks.len(), 1);
                assert_eq!(hunks[0].base, ["b"]);
                assert_eq!(hunks[0].upstream, ["UP"]);
                assert_eq!(hunks[0].patch, ["PATCH"]);
            }
            TextMerge::Clean(_) => panic!("expected a conflict"),
        }
    }
}
