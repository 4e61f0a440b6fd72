//! A patch directory applied onto its base in memory, as `git am` would: one commit a patch,
//! with the patch's author, date and message.
//!
//! The commits are written to the object database and named by no ref. The committer is the
//! author, so the same patch files on the same base always give the same commit ids, which is
//! what lets a later run recognise work already done.

use git2::Oid;
use git2::Repository;

use crate::patchfile::PatchFile;
use crate::patchfile::PatchFileError;
use crate::patchfile::Signature;

/// Who a patch file without an author is attributed to.
const UNKNOWN_AUTHOR: (&str, &str) = ("Unknown Author", "unknown@localhost");

/// Applies `patches` in order onto `base`; returns the commit each one became.
pub fn apply_patch_files(
    repo: &Repository,
    base: Oid,
    patches: &[(String, PatchFile)],
) -> Result<Vec<Oid>, PatchFileError> {
    let internal = |file: &str, reason: String| PatchFileError {
        file: file.to_owned(),
        line: 1,
        reason,
    };
    let mut parent = repo
        .find_commit(base)
        .map_err(|e| internal("series", format!("the base commit cannot be read: {e}")))?;
    let mut commits = Vec::with_capacity(patches.len());
    for (file, patch) in patches {
        let tree = apply_diff(
            repo,
            &parent
                .tree()
                .map_err(|e| internal(file, e.message().to_owned()))?,
            file,
            patch,
        )?;
        let tree = repo.find_tree(tree).map_err(|e| {
            internal(
                file,
                format!("the applied tree cannot be read: {}", e.message()),
            )
        })?;
        let author = signature(patch.author.as_ref())
            .map_err(|e| internal(file, format!("bad author: {}", e.message())))?;
        let id = repo
            .commit(None, &author, &author, &patch.message(), &tree, &[&parent])
            .map_err(|e| internal(file, format!("cannot write the commit: {}", e.message())))?;
        parent = repo
            .find_commit(id)
            .map_err(|e| internal(file, e.message().to_owned()))?;
        commits.push(id);
    }
    Ok(commits)
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

/// Applies `patch`'s diff to `tree`; on failure, names the file section that does not apply.
fn apply_diff(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    file: &str,
    patch: &PatchFile,
) -> Result<Oid, PatchFileError> {
    let whole = git2::Diff::from_buffer(patch.diff.as_bytes()).map_err(|e| PatchFileError {
        file: file.to_owned(),
        line: patch.diff_line,
        reason: format!("malformed diff: {}", e.message()),
    })?;
    match repo.apply_to_tree(tree, &whole, None) {
        Ok(mut index) => index.write_tree_to(repo).map_err(|e| PatchFileError {
            file: file.to_owned(),
            line: patch.diff_line,
            reason: format!("cannot write the applied tree: {}", e.message()),
        }),
        Err(whole_error) => Err(locate_failure(repo, tree, file, patch, &whole_error)),
    }
}

/// Applies section by section to find the first that fails, for a precise `file:line`.
fn locate_failure(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    file: &str,
    patch: &PatchFile,
    whole_error: &git2::Error,
) -> PatchFileError {
    let sections = split_sections(&patch.diff);
    let mut current = tree.clone();
    for (index, text) in sections.iter().enumerate() {
        let (line, section_path) = patch
            .sections
            .get(index)
            .cloned()
            .unwrap_or((patch.diff_line, String::new()));
        let fail = |reason: String| PatchFileError {
            file: file.to_owned(),
            line,
            reason,
        };
        let diff = match git2::Diff::from_buffer(text.as_bytes()) {
            Ok(diff) => diff,
            Err(e) => {
                return fail(format!(
                    "malformed diff for '{section_path}': {}",
                    e.message()
                ));
            }
        };
        match repo.apply_to_tree(&current, &diff, None) {
            Ok(mut applied) => {
                let Ok(next) = applied
                    .write_tree_to(repo)
                    .and_then(|id| repo.find_tree(id))
                else {
                    break;
                };
                current = next;
            }
            Err(e) => {
                return fail(format!(
                    "does not apply to its base: '{section_path}': {}",
                    e.message()
                ));
            }
        }
    }
    PatchFileError {
        file: file.to_owned(),
        line: patch.diff_line,
        reason: format!("does not apply to its base: {}", whole_error.message()),
    }
}

fn split_sections(diff: &str) -> Vec<String> {
    let mut sections: Vec<String> = Vec::new();
    for line in diff.split_inclusive('\n') {
        if line.starts_with("diff --git ") || sections.is_empty() {
            sections.push(String::new());
        }
        if let Some(last) = sections.last_mut() {
            last.push_str(line);
        }
    }
    sections
}
