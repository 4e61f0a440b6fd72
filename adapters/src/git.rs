//! The project repositories, through git2.
//!
//! [`ProjectRepo`] opens a project's repository and, for a local-path upstream, reads the
//! upstream's objects in place through an in-memory alternate, so a fresh workspace can be
//! validated before its first fetch without copying anything. Nothing here writes to a working
//! tree or an index.

use std::path::Path;
use std::path::PathBuf;

use git2::Oid;
use git2::Repository;

/// Where carry keeps the upstream branch it follows, in the project's repository.
pub const UPSTREAM_HEADS: &str = "refs/carry/upstream/heads/";
/// Where carry keeps upstream's tags, in the project's repository.
pub const UPSTREAM_TAGS: &str = "refs/carry/upstream/tags/";

/// Why a repository could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository does not exist or is not a git repository.
    #[error("cannot open git repository {path}")]
    Open {
        /// The path tried.
        path: PathBuf,
        /// What git2 said.
        #[source]
        source: git2::Error,
    },
    /// A git operation failed.
    #[error("git failed while {action}")]
    Git {
        /// What carry was doing.
        action: String,
        /// What git2 said.
        #[source]
        source: git2::Error,
    },
}

impl GitError {
    pub(crate) fn git(action: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let action = action.into();
        move |source| Self::Git { action, source }
    }
}

/// A project's repository, with its upstream readable in place when that is a local path.
pub struct ProjectRepo {
    repo: Repository,
    upstream: Option<Repository>,
}

impl std::fmt::Debug for ProjectRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectRepo")
            .field("path", &self.repo.path())
            .field("upstream", &self.upstream.as_ref().map(Repository::path))
            .finish()
    }
}

impl ProjectRepo {
    /// Opens the repository at `path`; `local_upstream`, when given, is a repository whose
    /// objects and refs are read in place.
    pub fn open(path: &Path, local_upstream: Option<&Path>) -> Result<Self, GitError> {
        let repo = open(path)?;
        let upstream = match local_upstream {
            Some(upstream_path) => {
                let upstream = open(upstream_path)?;
                let objects = upstream.path().join("objects");
                let odb = repo
                    .odb()
                    .map_err(GitError::git("opening the object database"))?;
                odb.add_disk_alternate(&objects.to_string_lossy())
                    .map_err(GitError::git(format!(
                        "reading upstream objects from {}",
                        objects.display()
                    )))?;
                Some(upstream)
            }
            None => None,
        };
        Ok(Self { repo, upstream })
    }

    /// Another handle on the same repository whose new objects stay in memory: nothing
    /// written through it reaches the disk unless [`crate::pack::write_new_objects`] packs it.
    /// Reads see the repository, its local upstream and everything written so far.
    pub fn with_writes_in_memory(&self) -> Result<Self, GitError> {
        let upstream = self.upstream.as_ref().map(|u| u.path().to_owned());
        let reopened = Self::open(self.repo.path(), upstream.as_deref())?;
        {
            let odb = reopened
                .repo
                .odb()
                .map_err(GitError::git("opening the object database"))?;
            // Above the loose (1) and packed (2) backends, so every write lands here first.
            // The store belongs to the repository's object database from here on.
            odb.add_new_mempack_backend(1000)
                .map_err(GitError::git("adding an in-memory object store"))?;
        }
        Ok(reopened)
    }

    /// The underlying repository.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The commit `spec` names in the project's repository: a branch, a tag, carry's copy of
    /// an upstream branch or tag, or a commit id. `None` when nothing matches.
    pub fn resolve_local(&self, spec: &str) -> Option<Oid> {
        resolve_in(&self.repo, spec, &[UPSTREAM_HEADS, UPSTREAM_TAGS])
    }

    /// The commit `spec` names, looked up in the project's repository and then in a local
    /// upstream in place.
    pub fn resolve(&self, spec: &str) -> Option<Oid> {
        self.resolve_local(spec).or_else(|| {
            self.upstream
                .as_ref()
                .and_then(|upstream| resolve_in(upstream, spec, &[]))
        })
    }

    /// What `spec` names as a place upstream could move to: carry's copy of an upstream
    /// branch or tag first (`main` means upstream's main, not the user's), then anything
    /// [`resolve`](Self::resolve) finds.
    pub fn resolve_upstream_first(&self, spec: &str) -> Option<Oid> {
        [UPSTREAM_HEADS, UPSTREAM_TAGS]
            .iter()
            .find_map(|prefix| ref_commit(&self.repo, &format!("{prefix}{spec}")))
            .or_else(|| self.resolve(spec))
    }

    /// The upstream branch `reference` as carry last fetched it, or read in place.
    pub fn upstream_tip(&self, reference: &str) -> Option<Oid> {
        let fetched = format!("{UPSTREAM_HEADS}{reference}");
        if let Some(oid) = ref_commit(&self.repo, &fetched) {
            return Some(oid);
        }
        // `main~3`: `main` as fetched, then the suffix.
        let name = carry_graph::manifest::revision_name(reference);
        if name.len() < reference.len()
            && let Some(oid) = ref_commit(&self.repo, &format!("{UPSTREAM_HEADS}{name}"))
        {
            return self
                .repo
                .revparse_single(&format!("{oid}{}", &reference[name.len()..]))
                .ok()?
                .peel_to_commit()
                .ok()
                .map(|commit| commit.id());
        }
        let upstream = self.upstream.as_ref()?;
        resolve_in(upstream, reference, &[])
    }

    /// Whether the project's repository has `oid` itself, not only through the local
    /// upstream this handle borrows objects from (the rebase's workers open handles of
    /// their own): an upstream read in place but never fetched cannot be rebased onto.
    pub fn has_own_object(&self, oid: Oid) -> bool {
        Repository::open(self.repo.path())
            .ok()
            .is_some_and(|own| own.odb().is_ok_and(|odb| odb.exists(oid)))
    }

    /// Whether this project's upstream is read in place from a local path.
    pub fn has_local_upstream(&self) -> bool {
        self.upstream.is_some()
    }

    /// The tip of local branch `branch`.
    pub fn branch_tip(&self, branch: &str) -> Option<Oid> {
        ref_commit(&self.repo, &format!("refs/heads/{branch}"))
    }

    /// The best common ancestor of two commits, if any.
    pub fn merge_base(&self, one: Oid, two: Oid) -> Result<Option<Oid>, GitError> {
        match self.repo.merge_base(one, two) {
            Ok(base) => Ok(Some(base)),
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(error) => Err(GitError::git("finding a merge base")(error)),
        }
    }
}

/// A commit id's first 12 digits, as reports show it.
pub fn short(id: Oid) -> String {
    let mut text = id.to_string();
    text.truncate(12);
    text
}

/// Removes lock files a killed carry left in its own ref namespace (`refs/carry/`), so the
/// next run can write its refs again. Only carry writes there, and the caller holds the
/// workspace lock, so no live writer owns them. Returns how many were removed.
pub fn clear_stale_carry_locks(repo_path: &Path) -> usize {
    let Ok(repo) = Repository::open(repo_path) else {
        return 0;
    };
    let mut removed = 0;
    let mut stack = vec![repo.path().join("refs").join("carry")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "lock")
                && std::fs::remove_file(&path).is_ok()
            {
                tracing::debug!(path = %path.display(), "removed a stale lock");
                removed += 1;
            }
        }
    }
    removed
}

fn open(path: &Path) -> Result<Repository, GitError> {
    Repository::open(path).map_err(|source| GitError::Open {
        path: path.to_owned(),
        source,
    })
}

fn ref_commit(repo: &Repository, name: &str) -> Option<Oid> {
    let reference = repo.find_reference(name).ok()?;
    reference.peel_to_commit().ok().map(|commit| commit.id())
}

fn resolve_in(repo: &Repository, spec: &str, extra_prefixes: &[&str]) -> Option<Oid> {
    let named = |name: &str| {
        ["refs/heads/", "refs/tags/"]
            .iter()
            .chain(extra_prefixes)
            .find_map(|prefix| ref_commit(repo, &format!("{prefix}{name}")))
    };
    if let Some(oid) = named(spec) {
        return Some(oid);
    }
    // Anything else `git rev-parse` takes for a commit: `origin/main`, `v1.2^{}`, `main~3`, an
    // abbreviated id. A name only carry's own refs hold (a fetched upstream tag) still takes a
    // suffix: `v9.0.0~2` is read as that tag's commit followed by `~2`.
    let peel = |spec: &str| {
        repo.revparse_single(spec)
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|commit| commit.id())
    };
    if let Some(oid) = peel(spec) {
        return Some(oid);
    }
    let split = spec.find(['~', '^', '@'])?;
    let (name, suffix) = spec.split_at(split);
    let oid = named(name)?;
    peel(&format!("{oid}{suffix}"))
}
