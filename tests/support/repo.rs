//! Hermetic git repositories for tests, driven by the git command.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

/// Environment that makes git deterministic and deaf to the user's configuration.
pub(crate) fn hermetic(command: &mut Command) -> &mut Command {
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", "/nonexistent")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("GIT_AUTHOR_NAME", "Ada Carrier")
        .env("GIT_AUTHOR_EMAIL", "ada@example.org")
        .env("GIT_COMMITTER_NAME", "Ada Carrier")
        .env("GIT_COMMITTER_EMAIL", "ada@example.org")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
}

/// A git repository with a working tree, in a directory the test owns.
pub(crate) struct TestRepo {
    pub(crate) path: PathBuf,
    clock: AtomicU64,
}

impl TestRepo {
    /// `git init` at `path` with `main` as the first branch.
    pub(crate) fn init(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        std::fs::create_dir_all(&path).expect("create repository directory");
        let repo = Self {
            path,
            clock: AtomicU64::new(1_700_000_000),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A repository that already exists at `path`.
    pub(crate) fn open(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            clock: AtomicU64::new(1_800_000_000),
        }
    }

    /// Runs git in the repository and returns its trimmed stdout; panics on failure.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let output = self.git_output(args);
        assert!(
            output.status.success(),
            "git {args:?} failed in {}: {}",
            self.path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Runs git in the repository and returns what it did.
    pub(crate) fn git_output(&self, args: &[&str]) -> Output {
        let date = format!("@{} +0000", self.clock.fetch_add(60, Ordering::SeqCst));
        hermetic(&mut Command::new("git"))
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .current_dir(&self.path)
            .args(args)
            .output()
            .expect("run git")
    }

    /// Writes `contents` to `file` and commits it with `message`; returns the commit id.
    pub(crate) fn commit_file(&self, file: &str, contents: &str, message: &str) -> String {
        self.write(file, contents);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.head()
    }

    /// Writes `contents` to `file` without committing.
    pub(crate) fn write(&self, file: &str, contents: &str) {
        let target = self.path.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(target, contents).expect("write file");
    }

    /// The commit id of HEAD.
    pub(crate) fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}
