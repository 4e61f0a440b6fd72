//! A patch directory applied onto its base in memory, as `git am` would: one commit a patch,
//! with the patch's author, date and message.
//!
//! Hunks are placed as `git apply` places them (see [`crate::diff::hunks`]); the tree is
//! built from the base's entries and the new blobs, never from a working tree. A patch file
//! that cannot be read or does not apply is that patch's problem: the series goes on without
//! it, and a later patch touching one of its paths is not applied (it waits for it), as after
//! a conflict. The commits are named by no ref; their committer is the author, so the same
//! patch files on the same base always give the same commit ids.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

use git2::FileMode;
use git2::Oid;
use git2::Repository;

use crate::diff::FilePatch;
use crate::diff::binary::BinaryData;
use crate::diff::hunks;
use crate::diff::parse::Binary;
use crate::patchfile;
use crate::patchfile::PatchFile;
use crate::patchfile::PatchFileError;
use crate::patchfile::Signature;

/// Who a patch file without an author is attributed to (with the epoch as its date), so the
/// same file always makes the same commit.
pub const UNKNOWN_AUTHOR: (&str, &str) = ("Unknown Author", "unknown@localhost");

/// One patch file of a directory series.
#[derive(Debug, Clone)]
pub struct PatchFileInput {
    /// The file, as shown in messages (relative to the workspace).
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Leading path components to strip (`-pN`).
    pub strip: u32,
}

/// What one patch file became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliedFile {
    /// A commit on the previous one.
    Commit {
        /// The commit.
        id: Oid,
        /// What carry accepted that `git am` would not.
        notes: Vec<String>,
    },
    /// It cannot be read, or does not apply to the tree it was meant for.
    Unusable {
        /// Its subject, where it could be read, else the file's stem.
        subject: String,
        /// The paths it names.
        paths: Vec<String>,
        /// Where and why.
        error: PatchFileError,
    },
    /// Not applied: an unusable patch before it touches one of its paths.
    Waiting {
        /// Its subject.
        subject: String,
        /// The paths it touches.
        paths: Vec<String>,
        /// The unusable patch files it waits for.
        waits_for: Vec<String>,
    },
}

/// Why applying could not go on at all (the repository failed, not a patch).
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct ApplyError {
    action: &'static str,
    #[source]
    source: git2::Error,
}

fn git(action: &'static str) -> impl FnOnce(git2::Error) -> ApplyError {
    move |source| ApplyError { action, source }
}

/// Applies `files` in order onto `base`; returns what each one became.
pub fn apply_patch_files(
    repo: &Repository,
    base: Oid,
    files: &[PatchFileInput],
) -> Result<Vec<AppliedFile>, ApplyError> {
    let mut parent = repo
        .find_commit(base)
        .map_err(git("reading the series' base"))?;
    let mut results = Vec::with_capacity(files.len());
    // Paths of unusable patches, with the files that made them so.
    let mut tainted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for input in files {
        let parsed = patchfile::parse(&input.path, &input.bytes, input.strip);
        let paths = match &parsed {
            Ok(patch) => patch
                .paths()
                .iter()
                .map(|p| crate::paths::to_text(p))
                .collect(),
            Err(_) => patchfile::mentioned_paths(&input.bytes, input.strip),
        };
        let stem = crate::series::patch_file_stem(&input.path);
        let waits_for: BTreeSet<String> = paths
            .iter()
            .filter_map(|path| tainted.get(path))
            .flatten()
            .cloned()
            .collect();
        let subject = parsed.as_ref().map_or(stem, |p| p.subject.clone());
        if !waits_for.is_empty() {
            results.push(AppliedFile::Waiting {
                subject,
                paths,
                waits_for: waits_for.into_iter().collect(),
            });
            continue;
        }
        let applied = parsed.and_then(|patch| {
            let tree = parent.tree().map_err(git("reading a tree"));
            let tree = tree.map_err(|e| internal(&input.path, &e))?;
            let (new_tree, notes) = apply_to_tree(repo, &tree, &input.path, &patch)?;
            let id =
                commit_patch(repo, &parent, new_tree, &patch).map_err(|reason| PatchFileError {
                    file: input.path.clone(),
                    line: 1,
                    reason,
                })?;
            Ok((patch, id, notes))
        });
        match applied {
            Ok((patch, id, mut notes)) => {
                parent = repo.find_commit(id).map_err(git("reading a commit"))?;
                let mut all = patch.notes;
                all.append(&mut notes);
                results.push(AppliedFile::Commit { id, notes: all });
            }
            Err(error) => {
                for path in &paths {
                    tainted
                        .entry(path.clone())
                        .or_default()
                        .insert(input.path.clone());
                }
                results.push(AppliedFile::Unusable {
                    subject,
                    paths,
                    error,
                });
            }
        }
    }
    Ok(results)
}

/// The commit `git am` would make of `patch` on `parent`; an author git cannot write (a name
/// with `<` or a newline, say) or a message it refuses is the patch's problem.
fn commit_patch(
    repo: &Repository,
    parent: &git2::Commit<'_>,
    tree: Oid,
    patch: &PatchFile,
) -> Result<Oid, String> {
    let tree = repo
        .find_tree(tree)
        .map_err(|e| format!("cannot read the applied tree: {}", e.message()))?;
    let author = signature(patch.author.as_ref())
        .map_err(|e| format!("its author cannot be written: {}", e.message()))?;
    repo.commit(None, &author, &author, &patch.message(), &tree, &[parent])
        .map_err(|e| format!("cannot write its commit: {}", e.message()))
}

fn internal(file: &str, error: &ApplyError) -> PatchFileError {
    PatchFileError {
        file: file.to_owned(),
        line: 1,
        reason: error.to_string(),
    }
}

fn signature(author: Option<&Signature>) -> Result<git2::Signature<'static>, git2::Error> {
    match author {
        Some(author) => git2::Signature::new(
            &author.name,
            &author.email,
            &git2::Time::new(author.time, author.offset_minutes),
        ),
        None => git2::Signature::new(UNKNOWN_AUTHOR.0, UNKNOWN_AUTHOR.1, &git2::Time::new(0, 0)),
    }
}

/// An entry of the tree being built: its object and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: Oid,
    mode: u32,
}

const MODE_FILE: u32 = 0o100_644;
const MODE_EXEC: u32 = 0o100_755;
const MODE_LINK: u32 = 0o120_000;
const MODE_GITLINK: u32 = 0o160_000;
const MODE_TREE: u32 = 0o040_000;

/// The tree as the patch's earlier sections left it: changes over the base tree.
struct Overlay<'r> {
    repo: &'r Repository,
    base: &'r git2::Tree<'r>,
    changes: BTreeMap<Vec<u8>, Option<Entry>>,
}

impl Overlay<'_> {
    fn get(&self, path: &[u8]) -> Option<Entry> {
        if let Some(change) = self.changes.get(path) {
            return *change;
        }
        // A directory removed or replaced by an earlier section hides what was under it.
        let mut prefix = path;
        while let Some(slash) = prefix.iter().rposition(|&b| b == b'/') {
            prefix = &prefix[..slash];
            if self.changes.contains_key(prefix) {
                return None;
            }
        }
        let entry = self
            .base
            .get_path(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
            .ok()?;
        Some(Entry {
            id: entry.id(),
            mode: u32::try_from(entry.filemode()).unwrap_or(MODE_FILE),
        })
    }

    fn content(&self, entry: Entry) -> Result<Vec<u8>, String> {
        if entry.mode == MODE_GITLINK {
            return Ok(format!("Subproject commit {}\n", entry.id).into_bytes());
        }
        self.repo
            .find_blob(entry.id)
            .map(|blob| blob.content().to_vec())
            .map_err(|e| format!("cannot read {}: {}", entry.id, e.message()))
    }

    /// Whether a directory entry (in the base or added by an earlier section) is at `path`.
    fn is_directory(&self, path: &[u8]) -> bool {
        if self.changes.contains_key(path) {
            return false;
        }
        let mut under = path.to_vec();
        under.push(b'/');
        if self
            .changes
            .range(under.clone()..)
            .next()
            .is_some_and(|(p, e)| p.starts_with(&under) && e.is_some())
        {
            return true;
        }
        self.get(path).is_some_and(|entry| entry.mode == MODE_TREE)
    }
}

/// Applies every section of `patch` to `tree` (all or nothing, as `git apply`); returns the
/// new tree and notes.
pub fn apply_to_tree(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    file: &str,
    patch: &PatchFile,
) -> Result<(Oid, Vec<String>), PatchFileError> {
    let mut overlay = Overlay {
        repo,
        base: tree,
        changes: BTreeMap::new(),
    };
    let mut notes = Vec::new();
    for section in &patch.files {
        let fail = |reason: String| PatchFileError {
            file: file.to_owned(),
            line: section.line,
            reason,
        };
        apply_section(&mut overlay, section, &mut notes).map_err(fail)?;
    }
    // Removals first, then additions: libgit2 cannot remove `a` and add `a/b` (or the
    // reverse) in one update.
    let build_error = |e: git2::Error| PatchFileError {
        file: file.to_owned(),
        line: patch.diff_line,
        reason: format!("cannot build the patched tree: {}", e.message()),
    };
    let mut removals = git2::build::TreeUpdateBuilder::new();
    let mut additions = git2::build::TreeUpdateBuilder::new();
    for (path, change) in &overlay.changes {
        match change {
            Some(entry) => {
                additions.upsert(path.clone(), entry.id, file_mode(entry.mode));
            }
            // Only what the tree has: a file a section added and a later one deleted is not.
            None if tree
                .get_path(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
                .is_ok() =>
            {
                removals.remove(path.clone());
            }
            None => {}
        }
    }
    let removed = removals.create_updated(repo, tree).map_err(build_error)?;
    let removed = repo.find_tree(removed).map_err(build_error)?;
    let id = additions
        .create_updated(repo, &removed)
        .map_err(build_error)?;
    Ok((id, notes))
}

fn file_mode(mode: u32) -> FileMode {
    match mode {
        MODE_EXEC => FileMode::BlobExecutable,
        MODE_LINK => FileMode::Link,
        MODE_GITLINK => FileMode::Commit,
        _ => FileMode::Blob,
    }
}

/// git's own rule for a mode in a patch: anything executable is 100755, else 100644.
fn normalize(mode: u32) -> u32 {
    match mode & 0o170_000 {
        0o120_000 => MODE_LINK,
        0o160_000 => MODE_GITLINK,
        0o040_000 => MODE_TREE,
        _ if mode & 0o100 != 0 => MODE_EXEC,
        _ => MODE_FILE,
    }
}

fn shown(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Refuses a path that leaves the repository, names `.git`, or goes through a symlink.
fn check_path(overlay: &Overlay<'_>, path: &[u8]) -> Result<(), String> {
    if path.contains(&0) {
        return Err(format!(
            "'{}' holds a NUL byte",
            shown(path).replace('\0', "\\0")
        ));
    }
    if path.is_empty() || path.starts_with(b"/") {
        return Err(format!(
            "'{}' is not a path inside the repository",
            shown(path)
        ));
    }
    for component in path.split(|&b| b == b'/') {
        if component.is_empty() || component == b"." || component == b".." {
            return Err(format!("'{}' leaves the repository", shown(path)));
        }
        if component.eq_ignore_ascii_case(b".git") {
            return Err(format!("'{}' writes into .git", shown(path)));
        }
    }
    let mut at = 0;
    while let Some(slash) = path[at..].iter().position(|&b| b == b'/') {
        let prefix = &path[..at + slash];
        match overlay.get(prefix) {
            Some(entry) if entry.mode == MODE_LINK => {
                return Err(format!(
                    "'{}' is beyond a symbolic link ('{}')",
                    shown(path),
                    shown(prefix)
                ));
            }
            Some(entry) if entry.mode != MODE_TREE => {
                return Err(format!(
                    "'{}' needs a directory where '{}' is a file",
                    shown(path),
                    shown(prefix)
                ));
            }
            _ => {}
        }
        at += slash + 1;
    }
    Ok(())
}

fn apply_section(
    overlay: &mut Overlay<'_>,
    section: &FilePatch,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    for path in section.paths() {
        check_path(overlay, path)?;
    }
    let old = match &section.old_path {
        Some(path) => {
            let Some(entry) = overlay.get(path) else {
                return Err(format!("'{}' does not exist", shown(path)));
            };
            if entry.mode == MODE_TREE {
                return Err(format!("'{}' is a directory", shown(path)));
            }
            Some((path, entry))
        }
        None => None,
    };
    if let Some(new) = &section.new_path
        && Some(new) != section.old_path.as_ref()
        && (overlay.get(new).is_some() || overlay.is_directory(new))
    {
        return Err(format!("'{}' already exists", shown(new)));
    }
    let old_content = match old {
        Some((_, entry)) => overlay.content(entry)?,
        None => Vec::new(),
    };
    let new_content = match &section.binary {
        Some(Binary::Missing) => {
            return Err(format!(
                "'{}' is a binary change without its data (make the patch with `git diff --binary`)",
                shown(section.paths().next().unwrap_or_default())
            ));
        }
        Some(Binary::Data(BinaryData::Literal(data))) => data.clone(),
        Some(Binary::Data(BinaryData::Delta(delta))) => {
            crate::diff::binary::apply_delta(&old_content, delta)?
        }
        None => {
            let (content, mut placed) =
                hunks::apply(&old_content, &section.hunks).map_err(|f| {
                    format!(
                        "'{}': hunk #{} ({}, patch line {}) does not match",
                        shown(section.paths().last().unwrap_or_default()),
                        f.index + 1,
                        f.header,
                        f.line
                    )
                })?;
            notes.append(&mut placed);
            content
        }
    };
    let Some(new_path) = &section.new_path else {
        if !new_content.is_empty() && !section.hunks.is_empty() {
            return Err(format!(
                "removing '{}' leaves content in it",
                shown(section.old_path.as_deref().unwrap_or_default())
            ));
        }
        if let Some((path, _)) = old {
            overlay.changes.insert(path.clone(), None);
        }
        return Ok(());
    };
    let mode = normalize(
        section
            .new_mode
            .or_else(|| old.map(|(_, entry)| entry.mode))
            .unwrap_or(MODE_FILE),
    );
    let id = if mode == MODE_GITLINK {
        let text = String::from_utf8_lossy(&new_content);
        let hex = text
            .trim()
            .strip_prefix("Subproject commit ")
            .map(|rest| rest.trim_end_matches("-dirty"))
            .ok_or_else(|| {
                format!(
                    "'{}' is a submodule, but its new content names no commit",
                    shown(new_path)
                )
            })?;
        Oid::from_str(hex).map_err(|_| format!("'{hex}' is not a commit id"))?
    } else if old.is_some_and(|(_, entry)| entry.mode != MODE_GITLINK)
        && section.hunks.is_empty()
        && section.binary.is_none()
    {
        // A rename, copy or mode change without content changes keeps the blob.
        old.map_or_else(Oid::zero, |(_, entry)| entry.id)
    } else {
        overlay
            .repo
            .blob(&new_content)
            .map_err(|e| format!("cannot write a blob: {}", e.message()))?
    };
    if let Some((old_path, _)) = old
        && old_path != new_path
        && !section.copy
    {
        overlay.changes.insert(old_path.clone(), None);
    }
    overlay
        .changes
        .insert(new_path.clone(), Some(Entry { id, mode }));
    Ok(())
}
