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
use imara_diff::InternedInput;
use serde::Deserialize;
use serde::Serialize;

use crate::git::GitError;

/// One side's view of a path: what kind of entry, which object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: Oid,
    pub(crate) mode: i32,
}

impl Entry {
    fn is_blob(self) -> bool {
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
    /// A file becomes a directory (or the reverse): libgit2's whole-tree merge decides.
    NeedsFullMerge,
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
) -> Result<TreeMerge, GitError> {
    // A file that becomes a directory (or the reverse) in the patch: libgit2's tree update
    // cannot remove `a` and add `a/b` in one go; the full merge handles it as git does.
    let paths: std::collections::HashSet<&str> =
        changes.iter().map(|change| change.path.as_str()).collect();
    let replaces_file_with_directory = changes.iter().any(|change| {
        change
            .path
            .match_indices('/')
            .any(|(end, _)| paths.contains(&change.path[..end]))
    });
    if replaces_file_with_directory {
        return Ok(TreeMerge::NeedsFullMerge);
    }
    // A patch that deletes one path and adds another may be renaming: if upstream changed what
    // it deletes, or has the path it adds, the rename-following merge decides, as `ort`
    // follows the rename.
    let may_rename = changes
        .iter()
        .any(|change| change.before.is_none() && change.after.is_some())
        && changes
            .iter()
            .any(|change| change.before.is_some() && change.after.is_none());
    let mut update = git2::build::TreeUpdateBuilder::new();
    let mut conflicts = Vec::new();
    let mut updates = 0usize;
    for change in changes {
        let Ok(ours) = entry_at(onto, &change.path) else {
            // A directory upstream where the patch had a file: deleting the file is what
            // upstream did too; anything else is a file/directory conflict.
            if change.after.is_none() {
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
        match merge_path(repo, change.before, ours, change.after, &change.path)? {
            PathMerge::Keep => {}
            // Upstream made a file where the patch adds under a directory of that name:
            // libgit2's tree update (and its full merge) would quietly replace the file; git
            // reports a file/directory conflict.
            PathMerge::Set(_) if ours.is_none() && under_a_file(onto, &change.path) => {
                conflicts.push(PathConflict {
                    path: change.path.clone(),
                    kind: ConflictKind::Type,
                    hunks: Vec::new(),
                });
            }
            PathMerge::Set(entry) => {
                update.upsert(
                    crate::paths::to_bytes(&change.path).into_owned(),
                    entry.id,
                    file_mode(entry.mode),
                );
                updates += 1;
            }
            PathMerge::Remove => {
                update.remove(crate::paths::to_bytes(&change.path).into_owned());
                updates += 1;
            }
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
    if updates == 0 {
        return Ok(TreeMerge::Clean(onto.id()));
    }
    match update.create_updated(repo, onto) {
        Ok(tree) => Ok(TreeMerge::Clean(tree)),
        // Upstream made a file where the patch adds under a directory of that name (or the
        // reverse): a file/directory conflict, which the full merge reports as git does.
        Err(error) if error.message().contains("D/F conflict") => Ok(TreeMerge::NeedsFullMerge),
        Err(error) => Err(GitError::git("writing a merged tree")(error)),
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
            if is_binary(&base_bytes) || is_binary(&ours_bytes) || is_binary(&theirs_bytes) {
                return Ok(conflict(ConflictKind::Binary));
            }
            match merge_text(&base_bytes, &ours_bytes, &theirs_bytes) {
                TextMerge::Clean(merged) => {
                    let id = repo
                        .blob(&merged)
                        .map_err(GitError::git("writing a merged blob"))?;
                    Ok(PathMerge::Set(Entry { id, mode }))
                }
                TextMerge::Conflict(hunks) => Ok(PathMerge::Conflict(PathConflict {
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
    Conflict(Vec<ConflictHunk>),
}

/// How close (in lines of the base) two sides' changes may come before git itself is asked.
const NEAR_LINES: u32 = 3;

/// Three-way merge of file contents with a histogram diff, as git's `ort` does.
///
/// gix-merge ports git's merge of changes, and its histogram diff agrees with git's on real
/// history; but on repetitive text the two histogram implementations may place a change a
/// few lines apart, and git's merge calls changes that touch a conflict. Where the two sides'
/// changes come within [`NEAR_LINES`] of each other, the verdict hangs on that placement, so
/// `git merge-file` decides (about one three-way merge in ten on generated history; none
/// elsewhere pay for a process).
pub(crate) fn merge_text(base: &[u8], ours: &[u8], theirs: &[u8]) -> TextMerge {
    // The verdict and a clean result come from git's default ("merge") style, whose zealous
    // refinement resolves what diff3 style leaves as a conflict (both sides made the same
    // deletion next to a change, say); the hunks of a conflict then come from diff3 style,
    // which shows the base.
    let ask_git = match (SideDiff::new(base, ours), SideDiff::new(base, theirs)) {
        (Some(ours), Some(theirs)) => ours.comes_near(&theirs),
        _ => true,
    };
    let merged = if ask_git {
        git_merge_file(base, ours, theirs, Style::Merge)
    } else {
        None
    };
    let merged = merged.unwrap_or_else(|| merge_in_process(base, ours, theirs, Style::Merge));
    if let Merged::Clean(text) = merged {
        return TextMerge::Clean(text);
    }
    let with_base = if ask_git {
        git_merge_file(base, ours, theirs, Style::Diff3)
    } else {
        None
    };
    match with_base.unwrap_or_else(|| merge_in_process(base, ours, theirs, Style::Diff3)) {
        Merged::Conflict(text) => TextMerge::Conflict(parse_conflict_hunks(&text)),
        Merged::Clean(_) => TextMerge::Conflict(Vec::new()),
    }
}

/// How conflicts are written: git's default, or with the base between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Merge,
    Diff3,
}

/// A merged text: clean, or with conflict markers.
enum Merged {
    Clean(Vec<u8>),
    Conflict(Vec<u8>),
}

/// One side's changes against the base, as gix-merge places them.
struct SideDiff {
    /// The base lines each change replaces.
    hunks: Vec<std::ops::Range<u32>>,
}

impl SideDiff {
    /// `None` unless gix-merge diffs `base` against `side` as git does: the same raw
    /// histogram diff (see [`super::git_histogram`]), and no change its indent heuristic
    /// places elsewhere than git's plain clean-up would.
    fn new(base: &[u8], side: &[u8]) -> Option<Self> {
        let [base_ids, side_ids] = super::git_histogram::line_ids([base, side]);
        let git = super::git_histogram::diff(&base_ids, &side_ids)?;
        let input = InternedInput::new(base, side);
        // imara-diff refuses inputs past i32::MAX lines, so every index fits.
        let lines = |n: usize| 0..u32::try_from(n).unwrap_or(u32::MAX);
        let flags = |diff: &imara_diff::Diff| -> (Vec<bool>, Vec<bool>) {
            (
                lines(input.before.len())
                    .map(|i| diff.is_removed(i))
                    .collect(),
                lines(input.after.len()).map(|i| diff.is_added(i)).collect(),
            )
        };
        let mut plain = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
        if flags(&plain) != git {
            return None;
        }
        let mut indented = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
        plain.postprocess_no_heuristic(&input);
        indented.postprocess_lines(&input);
        (flags(&plain) == flags(&indented)).then(|| Self {
            hunks: indented.hunks().map(|hunk| hunk.before).collect(),
        })
    }

    /// Whether a change of this side and one of `other` are within [`NEAR_LINES`] lines of
    /// each other in the base.
    fn comes_near(&self, other: &Self) -> bool {
        self.hunks.iter().any(|o| {
            other
                .hunks
                .iter()
                .any(|t| o.start <= t.end + NEAR_LINES && t.start <= o.end + NEAR_LINES)
        })
    }
}

/// `git merge-file --diff-algorithm=histogram` in `style`; `None` when git cannot be run (the
/// in-process merge then stands).
fn git_merge_file(base: &[u8], ours: &[u8], theirs: &[u8], style: Style) -> Option<Merged> {
    let dir = tempfile::Builder::new()
        .prefix("carry-merge-")
        .tempdir()
        .ok()?;
    for (name, contents) in [("ours", ours), ("base", base), ("theirs", theirs)] {
        std::fs::write(dir.path().join(name), contents).ok()?;
    }
    let mut command = std::process::Command::new("git");
    command
        .current_dir(dir.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["merge-file", "-p", "--diff-algorithm=histogram"]);
    if style == Style::Diff3 {
        command.arg("--diff3");
    }
    match command.args(["ours", "base", "theirs"]).output() {
        Ok(output) => match output.status.code() {
            Some(0) => Some(Merged::Clean(output.stdout)),
            // A count of conflicts; git exits with -1 (255) on errors.
            Some(code) if (1..128).contains(&code) => Some(Merged::Conflict(output.stdout)),
            _ => {
                tracing::warn!(
                    stderr = %String::from_utf8_lossy(&output.stderr),
                    "git merge-file failed; merging in process"
                );
                None
            }
        },
        Err(error) => {
            tracing::warn!(%error, "cannot run git merge-file; merging in process");
            None
        }
    }
}

/// The in-process merge (gix-merge's port of git's, over its histogram diff).
fn merge_in_process(base: &[u8], ours: &[u8], theirs: &[u8], style: Style) -> Merged {
    use gix_merge::blob::Resolution;
    use gix_merge::blob::builtin_driver::text;

    let mut out = Vec::new();
    let mut input = InternedInput::default();
    let options = text::Options {
        diff_algorithm: imara_diff::Algorithm::Histogram,
        conflict: text::Conflict::Keep {
            style: match style {
                Style::Merge => text::ConflictStyle::Merge,
                Style::Diff3 => text::ConflictStyle::Diff3,
            },
            marker_size: std::num::NonZeroU8::new(7).expect("7 is not zero"),
        },
    };
    let resolution = gix_merge::blob::builtin_driver::text(
        &mut out,
        &mut input,
        text::Labels::default(),
        ours,
        base,
        theirs,
        options,
    );
    match resolution {
        Resolution::Complete | Resolution::CompleteWithAutoResolvedConflict => Merged::Clean(out),
        Resolution::Conflict => Merged::Conflict(out),
    }
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
    use proptest::prelude::*;

    use super::*;

    /// Lines that repeat, as code does: braces, blank lines, the same statement.
    const LINES: &[&str] = &["", "{", "}", "  x;", "  y;", "f() {", "/* c */", "A", "B"];

    /// Up to 24 lines, or `CARRY_TEXT_MERGE_LINES` (past 64 repeats git's histogram falls
    /// back to its classic diff).
    fn text() -> impl Strategy<Value = Vec<String>> {
        let most = std::env::var("CARRY_TEXT_MERGE_LINES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(24usize);
        prop::collection::vec((0..LINES.len()).prop_map(|i| LINES[i].to_owned()), 0..most)
    }

    /// Each edit: (position, kind 0 replace / 1 insert / 2 delete, new line).
    fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, usize)>> {
        prop::collection::vec(
            (any::<prop::sample::Index>(), 0..3u8, 0..LINES.len() + 2),
            1..4,
        )
    }

    fn edited(base: &[String], edits: &[(prop::sample::Index, u8, usize)], side: &str) -> Vec<u8> {
        let mut lines = base.to_vec();
        for (at, kind, word) in edits {
            let new = LINES
                .get(*word)
                .map_or_else(|| format!("{side} {word}"), |l| (*l).to_owned());
            match kind {
                0 if !lines.is_empty() => {
                    let i = at.index(lines.len());
                    lines[i] = new;
                }
                2 if !lines.is_empty() => {
                    lines.remove(at.index(lines.len()));
                }
                _ => lines.insert(at.index(lines.len() + 1), new),
            }
        }
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect()
    }

    /// What `git merge-file` makes of the same three texts: the merged text, or `None` for
    /// a conflict.
    fn git_merge_file(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in [("ours", ours), ("base", base), ("theirs", theirs)] {
            std::fs::write(dir.path().join(name), contents).expect("write");
        }
        let output = std::process::Command::new("git")
            .current_dir(dir.path())
            .args([
                "merge-file",
                "-p",
                "--diff-algorithm=histogram",
                "ours",
                "base",
                "theirs",
            ])
            .output()
            .expect("git merge-file");
        (output.status.code() == Some(0)).then_some(output.stdout)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("CARRY_TEXT_MERGE_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(300),
            // Fixed unless CARRY_ORACLE_SEED says otherwise (a number, or `random`).
            rng_seed: match std::env::var("CARRY_ORACLE_SEED").as_deref() {
                Ok("random") => proptest::test_runner::RngSeed::Random,
                Ok(n) => proptest::test_runner::RngSeed::Fixed(n.parse().unwrap_or(20_261_123)),
                Err(_) => proptest::test_runner::RngSeed::Fixed(20_261_123),
            },
            ..ProptestConfig::default()
        })]

        /// git is the oracle for every text merge: the same verdict, and the same text when
        /// clean, on repetitive text where placements are ambiguous.
        #[test]
        fn text_merges_agree_with_git_merge_file(
            base in text(),
            upstream in edits(),
            patch in edits(),
        ) {
            let base_text: Vec<u8> =
                base.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let ours = edited(&base, &upstream, "upstream");
            let theirs = edited(&base, &patch, "patch");
            let git = git_merge_file(&base_text, &ours, &theirs);
            match (merge_text(&base_text, &ours, &theirs), git) {
                (TextMerge::Clean(carry), Some(git)) => prop_assert_eq!(
                    String::from_utf8_lossy(&carry),
                    String::from_utf8_lossy(&git)
                ),
                (TextMerge::Conflict(_), None) => {}
                (TextMerge::Clean(_), None) => prop_assert!(false, "carry merged, git conflicts"),
                (TextMerge::Conflict(_), Some(_)) => {
                    prop_assert!(false, "carry conflicts, git merged");
                }
            }
        }
    }

    /// Found by `text_merges_agree_with_git_merge_file` with `CARRY_ORACLE_SEED=2`: git's
    /// histogram diff anchors on the rarest line common to both sides (`  y;`, moved from the
    /// end to the start) and so sees a moved block that conflicts with the patch's change five
    /// lines away; gix-merge's histogram did not, and merged cleanly. Now git's own diff says
    /// that gix-merge's is not git's here, and git merges the file.
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
        assert!(git_merge_file(base.as_bytes(), upstream.as_bytes(), patch.as_bytes()).is_none());
        assert!(matches!(
            merge_text(base.as_bytes(), upstream.as_bytes(), patch.as_bytes()),
            TextMerge::Conflict(_)
        ));
    }

    #[test]
    fn text_merge_takes_both_sides_when_they_touch_different_lines() {
        let base = b"a\nb\nc\nd\ne\n";
        let ours = b"A\nb\nc\nd\ne\n";
        let theirs = b"a\nb\nc\nd\nE\n";
        match merge_text(base, ours, theirs) {
            TextMerge::Clean(merged) => assert_eq!(merged, b"A\nb\nc\nd\nE\n"),
            TextMerge::Conflict(_) => panic!("expected a clean merge"),
        }
    }

    #[test]
    fn conflicting_lines_come_back_as_hunks() {
        let base = b"a\nb\nc\n";
        let ours = b"a\nUP\nc\n";
        let theirs = b"a\nPATCH\nc\n";
        match merge_text(base, ours, theirs) {
            TextMerge::Conflict(hunks) => {
                assert_eq!(hunks.len(), 1);
                assert_eq!(hunks[0].base, ["b"]);
                assert_eq!(hunks[0].upstream, ["UP"]);
                assert_eq!(hunks[0].patch, ["PATCH"]);
            }
            TextMerge::Clean(_) => panic!("expected a conflict"),
        }
    }
}
