//! git's patch-id, as `git cherry` computes it (`diff_get_patch_id`, "stable" form).
//!
//! Why not libgit2's `git_diff_patchid`: it hashes binary files and mode changes differently
//! from git, so its verdicts would not be `git cherry`'s. This follows git's rules: per file,
//! a SHA-1 of the header (`diff--git`, paths, new/deleted/old/new modes), then either both
//! blob ids (binary files) or the `---`/`+++` lines and every `+`/`-`/context line of a
//! three-line-context diff with all whitespace removed; the files' digests are summed
//! byte-wise with carry, so file order does not matter. The diff lines come from git's own
//! xdiff ([`carry_xdiff::diff`]) with git's default options (Myers and the indent heuristic,
//! which libgit2's diff does not apply by default).

use git2::Oid;
use git2::Repository;

use super::tree_diff::tree_changes;
use crate::git::GitError;
use crate::rebase::merge::is_binary;
use crate::rebase::merge::read_content;

/// The patch-id of `commit` against its first parent (its whole tree for a root commit);
/// `None` when it changes nothing.
pub(crate) fn commit_patch_id(
    repo: &Repository,
    commit: &git2::Commit<'_>,
) -> Result<Option<Oid>, GitError> {
    let tree = commit.tree().map_err(GitError::git("reading a tree"))?;
    let parent_tree = match commit.parent(0) {
        Ok(parent) => Some(parent.tree().map_err(GitError::git("reading a tree"))?),
        Err(_) => None,
    };
    let changes = tree_changes(repo, parent_tree.as_ref(), Some(&tree))?;
    if changes.is_empty() {
        return Ok(None);
    }
    let mut sum = [0u8; 20];
    for change in &changes {
        let path = &*crate::paths::to_bytes(&change.path);
        let old_mode = change.before.map_or(0, |e| e.mode);
        let new_mode = change.after.map_or(0, |e| e.mode);
        let old_id = change.before.map_or_else(Oid::zero, |e| e.id);
        let new_id = change.after.map_or_else(Oid::zero, |e| e.id);
        let mut hash = sha1_smol::Sha1::new();
        hash.update(b"diff--git");
        hash.update(b"a/");
        hash.update(&without_space(path));
        hash.update(b"b/");
        hash.update(&without_space(path));
        if old_mode == 0 {
            hash.update(b"newfilemode");
            hash.update(format!("{new_mode:06o}").as_bytes());
        } else if new_mode == 0 {
            hash.update(b"deletedfilemode");
            hash.update(format!("{old_mode:06o}").as_bytes());
        } else if old_mode != new_mode {
            hash.update(b"oldmode");
            hash.update(format!("{old_mode:06o}").as_bytes());
            hash.update(b"newmode");
            hash.update(format!("{new_mode:06o}").as_bytes());
        }
        let old_blob = change.before.map(|e| read_content(repo, e)).transpose()?;
        let new_blob = change.after.map(|e| read_content(repo, e)).transpose()?;
        let binary = old_blob.as_deref().is_some_and(is_binary)
            || new_blob.as_deref().is_some_and(is_binary);
        if binary {
            hash.update(old_id.to_string().as_bytes());
            hash.update(new_id.to_string().as_bytes());
        } else {
            if old_mode == 0 {
                hash.update(b"---/dev/null");
                hash.update(b"+++b/");
                hash.update(&without_space(path));
            } else if new_mode == 0 {
                hash.update(b"---a/");
                hash.update(&without_space(path));
                hash.update(b"+++/dev/null");
            } else {
                hash.update(b"---a/");
                hash.update(&without_space(path));
                hash.update(b"+++b/");
                hash.update(&without_space(path));
            }
            // git's xdiff with git's default diff options, as `git cherry` diffs.
            let mut line_bytes = Vec::new();
            let diffed = carry_xdiff::diff(
                old_blob.as_deref().unwrap_or_default(),
                new_blob.as_deref().unwrap_or_default(),
                &carry_xdiff::DiffOptions::git_default(),
                &mut |event| {
                    if let carry_xdiff::DiffEvent::Line { origin, text } = event {
                        line_bytes.clear();
                        line_bytes.push(origin);
                        line_bytes.extend_from_slice(text);
                        hash.update(&without_space(&line_bytes));
                    }
                },
            );
            if let Err(error) = diffed {
                return Err(GitError::git(format!("diffing {}", change.path))(
                    git2::Error::from_str(&error.to_string()),
                ));
            }
        }
        let digest = hash.digest().bytes();
        let mut carry = 0u16;
        for (total, byte) in sum.iter_mut().zip(digest) {
            carry += u16::from(*total) + u16::from(byte);
            *total = carry.to_le_bytes()[0];
            carry >>= 8;
        }
    }
    Ok(Oid::from_bytes(&sum).ok())
}

/// git's `remove_space`: drops every ASCII whitespace byte.
fn without_space(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .collect()
}
