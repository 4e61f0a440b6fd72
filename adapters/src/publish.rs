//! Publishing results into the user's world, each step atomic: a branch moved by
//! compare-and-swap, a patch directory swapped in whole by an atomic exchange of two
//! directories (`renameat2(RENAME_EXCHANGE)`), a file replaced by write-sync-rename.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use git2::Oid;
use git2::Repository;

/// Why a publication step failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The branch is not where the run left it.
    #[error(
        "branch '{branch}' moved since the run: expected {expected}, found {found}; nothing was changed"
    )]
    Moved {
        /// The branch.
        branch: String,
        /// Where the run saw it.
        expected: String,
        /// Where it is.
        found: String,
    },
    /// git failed.
    #[error("git failed while {action}: {message}")]
    Git {
        /// What carry was doing.
        action: &'static str,
        /// What git said.
        message: String,
    },
    /// The file system failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What carry was doing.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PublishError {
    let path = path.to_owned();
    move |source| PublishError::Io {
        action,
        path,
        source,
    }
}

/// Moves `refs/heads/<branch>` from `expected` to `new` in one compare-and-swap, keeping
/// `expected` under `backup`. Fails, changing nothing, if the branch is elsewhere.
pub fn move_branch(
    repo: &Repository,
    branch: &str,
    expected: Oid,
    new: Oid,
    backup: &str,
) -> Result<(), PublishError> {
    let name = format!("refs/heads/{branch}");
    let found = repo.refname_to_id(&name).map_err(|e| PublishError::Git {
        action: "reading the branch",
        message: e.message().to_owned(),
    })?;
    if found == new {
        return Ok(());
    }
    if found != expected {
        return Err(PublishError::Moved {
            branch: branch.to_owned(),
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    clear_own_stale_lock(repo, &name, new);
    repo.reference(backup, expected, true, "carry: branch before promotion")
        .map_err(|e| PublishError::Git {
            action: "writing the backup ref",
            message: e.message().to_owned(),
        })?;
    repo.reference_matching(&name, new, true, expected, "carry: promote")
        .map(|_| ())
        .map_err(|e| {
            // Lost a race with the user between the check and the update.
            let found = repo
                .refname_to_id(&name)
                .map(|id| id.to_string())
                .unwrap_or_default();
            if found == expected.to_string() {
                PublishError::Git {
                    action: "moving the branch",
                    message: e.message().to_owned(),
                }
            } else {
                PublishError::Moved {
                    branch: branch.to_owned(),
                    expected: expected.to_string(),
                    found,
                }
            }
        })
}

/// Removes `<ref>.lock` when a killed promotion left it: it is empty (carry was killed
/// between creating and writing it) or holds exactly the commit carry is promoting now. The
/// caller holds the workspace lock, so no other carry owns it; a lock holding anything else
/// is somebody else's and stays, and the update then fails with git's own message.
fn clear_own_stale_lock(repo: &Repository, refname: &str, new: Oid) {
    let lock = repo.commondir().join(format!("{refname}.lock"));
    let Ok(contents) = std::fs::read_to_string(&lock) else {
        return;
    };
    let contents = contents.trim();
    if (contents.is_empty() || contents == new.to_string()) && std::fs::remove_file(&lock).is_ok() {
        tracing::warn!(lock = %lock.display(), "removed a lock a killed promotion left");
    }
}

/// Writes `git format-patch` files for `from..to` into `dir` (created empty); returns their
/// file names, in order.
pub fn format_patches(
    repo: &Path,
    from: Oid,
    to: Oid,
    dir: &Path,
) -> Result<Vec<String>, PublishError> {
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["format-patch", "--quiet", "--binary", "-o"])
        .arg(dir)
        .arg(format!("{from}..{to}"))
        .output()
        .map_err(io("run git format-patch in", repo))?;
    if !output.status.success() {
        return Err(PublishError::Git {
            action: "formatting patches",
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io("read", dir))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Flushes every file in `dir`, then `dir` itself, to disk.
pub fn sync_dir(dir: &Path) -> Result<(), PublishError> {
    for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let path = entry.map_err(io("read", dir))?.path();
        if path.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io("sync", &path))?;
        }
    }
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("sync", dir))
}

/// Exchanges two directories in one step: after it, each holds the other's contents.
pub fn exchange_dirs(a: &Path, b: &Path) -> Result<(), PublishError> {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        a,
        nix::fcntl::AT_FDCWD,
        b,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
    .map_err(|errno| PublishError::Io {
        action: "swap in",
        path: a.to_owned(),
        source: std::io::Error::from(errno),
    })?;
    if let Some(parent) = a.parent() {
        std::fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(io("sync", parent))?;
    }
    Ok(())
}

/// Replaces `path` with `contents`: written beside it, synced, renamed over it.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), PublishError> {
    let temporary = path.with_extension(format!("carry-tmp-{}", std::process::id()));
    std::fs::write(&temporary, contents).map_err(io("write", &temporary))?;
    std::fs::File::open(&temporary)
        .and_then(|f| f.sync_all())
        .map_err(io("sync", &temporary))?;
    std::fs::rename(&temporary, path).map_err(io("replace", path))?;
    // A bare file name's directory is the current one (its parent is "").
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|f| f.sync_all())
        .map_err(io("sync", parent))?;
    Ok(())
}
