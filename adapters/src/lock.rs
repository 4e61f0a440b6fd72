//! The workspace lock: one run at a time, and a dead run noticed.
//!
//! An advisory lock on `.carry/lock` (`flock`), held for the whole run. The kernel releases
//! it when the process dies, even by SIGKILL, so a lock that can be taken while the store
//! says a run is going means that run is dead. The file holds who holds it, for the message a
//! second run prints.
//!
//! Holding the lock proves no carry runs tests in the workspace, so taking it ends whatever
//! test processes a dead carry left running ([`crate::process_tree`]) before any work starts.

use std::fs::File;
use std::fs::OpenOptions;
use std::io::Read as _;
use std::io::Seek as _;
use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

use crate::process_tree;
use crate::process_tree::Selector;
use crate::process_tree::TaggedProcess;
use crate::process_tree::workspace_tag;

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The run's id.
    pub run: String,
    /// Its process.
    pub pid: u32,
    /// When it started.
    pub started_at: String,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("the workspace is locked by run {} (pid {}, started {})", holder.run, holder.pid, holder.started_at)]
    Held {
        /// Who.
        holder: LockHolder,
    },
    /// Another process holds it and did not say who.
    #[error("the workspace is locked by another carry process ({})", path.display())]
    HeldUnknown {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be used.
    #[error("cannot use the lock file {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct WorkspaceLock {
    file: File,
    leftovers: Vec<TaggedProcess>,
}

impl WorkspaceLock {
    /// Takes the lock in `state_dir` for `holder`, or says who has it.
    pub fn acquire(state_dir: &Path, holder: &LockHolder) -> Result<Self, LockError> {
        let path = state_dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes who it is right after taking the lock: a reader that
                // comes in between finds the file empty or half written, so it looks again.
                for _ in 0..50 {
                    let mut text = String::new();
                    if file.rewind().is_ok()
                        && file.read_to_string(&mut text).is_ok()
                        && let Ok(holder) = serde_json::from_str(&text)
                    {
                        return Err(LockError::Held { holder });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(4));
                }
                return Err(LockError::HeldUnknown { path });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        let text = serde_json::to_string(holder).map_err(|e| io(std::io::Error::other(e)))?;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        let leftovers = process_tree::end(Selector::Workspace(&workspace_tag(state_dir)));
        for process in &leftovers {
            tracing::info!(
                pid = process.pid,
                test = %process.test,
                command = %process.command,
                "ended a test process a dead carry left running"
            );
        }
        Ok(Self { file, leftovers })
    }

    /// The test processes a dead carry had left running, ended when the lock was taken.
    pub fn leftovers(&self) -> &[TaggedProcess] {
        &self.leftovers
    }

    /// Releases the lock now, saying no one holds it.
    pub fn release(self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Who holds the lock now, learnt without taking it for longer than a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No carry holds it; `stale` names a holder that died without clearing the file.
    Free {
        /// The dead holder the file still names.
        stale: Option<LockHolder>,
    },
    /// A live carry holds it.
    Held(Option<LockHolder>),
    /// The lock file cannot be used (a directory in its place, a read-only `.carry/`).
    Unusable(String),
}

/// Looks at the lock in `state_dir` without ending anything (unlike [`WorkspaceLock::acquire`]).
pub fn inspect(state_dir: &Path) -> LockState {
    let path = state_dir.join("lock");
    if !path.exists() {
        return LockState::Free { stale: None };
    }
    let file = OpenOptions::new().read(true).write(true).open(&path);
    let mut file = match file {
        Ok(file) => file,
        Err(error) => return LockState::Unusable(format!("{}: {error}", path.display())),
    };
    let mut text = String::new();
    let holder = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| serde_json::from_str::<LockHolder>(&text).ok());
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            LockState::Free { stale: holder }
        }
        Err(std::fs::TryLockError::WouldBlock) => LockState::Held(holder),
        Err(std::fs::TryLockError::Error(error)) => {
            LockState::Unusable(format!("{}: {error}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_told_who_has_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = LockHolder {
            run: "r1".to_owned(),
            pid: 42,
            started_at: "2026-01-01T00:00:00Z".to_owned(),
        };
        let lock = WorkspaceLock::acquire(dir.path(), &first).expect("first");
        match WorkspaceLock::acquire(dir.path(), &first) {
            Err(LockError::Held { holder }) => assert_eq!(holder, first),
            other => panic!("expected Held, got {other:?}"),
        }
        lock.release();
        WorkspaceLock::acquire(dir.path(), &first).expect("free again");
    }
}
