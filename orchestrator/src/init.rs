//! `carry init`: a first `carry.toml` from repositories a team already has.
//!
//! For each repository: its current branch is the carried series; upstream is what that
//! branch tracks (`branch.<name>.remote` and `.merge`), else the remote's default branch
//! (`refs/remotes/<remote>/HEAD`); the series' base is the merge base of the two, pinned by
//! id; the carried commits are those on top. Every guess is written as a comment beside
//! what it made, and the manifest is checked by carry's own validation before it is
//! written; an existing manifest is never overwritten.

use std::path::Path;
use std::path::PathBuf;

use git2::Repository;

use crate::workspace::MANIFEST_FILE;

/// What was found for one repository.
#[derive(Debug, Clone)]
pub struct Guessed {
    /// The project's name (the directory's, made valid).
    pub name: String,
    /// The repository, relative to the workspace when it can be.
    pub repo: String,
    /// `url` or `path` of the upstream.
    pub upstream: (String, String),
    /// The upstream branch followed.
    pub reference: String,
    /// How upstream was found.
    pub upstream_from: String,
    /// The carried branch.
    pub branch: String,
    /// The merge base, pinned.
    pub base: String,
    /// How many commits are carried on it.
    pub carried: usize,
}

/// Why a manifest could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// There is a manifest already.
    #[error("{} exists already; carry init never overwrites a manifest", .0.display())]
    Exists(PathBuf),
    /// A repository could not be read as carry needs it.
    #[error("{}: {why}", repo.display())]
    Repo {
        /// The repository.
        repo: PathBuf,
        /// Why.
        why: String,
    },
    /// The manifest made does not validate (a bug, or names carry cannot use).
    #[error("the manifest carry made does not validate:\n{0}")]
    Invalid(String),
    /// The manifest could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Finds what carries what in `repo`, for a workspace at `workspace`.
pub fn guess(workspace: &Path, repo_path: &Path) -> Result<Guessed, InitError> {
    let fail = |why: String| InitError::Repo {
        repo: repo_path.to_owned(),
        why,
    };
    let repo = Repository::open(repo_path).map_err(|e| fail(e.message().to_owned()))?;
    let head = repo
        .head()
        .map_err(|e| fail(format!("no current branch: {}", e.message())))?;
    if !head.is_branch() {
        return Err(fail(
            "HEAD is detached; check out the branch that carries the patches".to_owned(),
        ));
    }
    let branch = head.shorthand().unwrap_or_default().to_owned();
    let head_id = head
        .peel_to_commit()
        .map_err(|e| fail(e.message().to_owned()))?
        .id();
    let config = repo.config().map_err(|e| fail(e.message().to_owned()))?;
    let tracked = config
        .get_string(&format!("branch.{branch}.remote"))
        .ok()
        .zip(config.get_string(&format!("branch.{branch}.merge")).ok());
    let (remote, reference, upstream_from) = match tracked {
        Some((remote, merge)) if remote != "." => {
            let reference = merge.trim_start_matches("refs/heads/").to_owned();
            let from = format!("what {branch} tracks ({remote}/{reference})");
            (remote, reference, from)
        }
        _ => {
            let remote = if repo.find_remote("origin").is_ok() {
                "origin".to_owned()
            } else {
                repo.remotes()
                    .ok()
                    .and_then(|r| r.get(0).map(str::to_owned))
                    .ok_or_else(|| fail(format!("{branch} tracks nothing and there is no remote: add the upstream as a remote (`git remote add origin URL`)")))?
            };
            let default = repo
                .find_reference(&format!("refs/remotes/{remote}/HEAD"))
                .ok()
                .and_then(|r| r.symbolic_target().map(str::to_owned))
                .and_then(|t| {
                    t.strip_prefix(&format!("refs/remotes/{remote}/"))
                        .map(str::to_owned)
                })
                .ok_or_else(|| {
                    fail(format!("{branch} tracks nothing and {remote} has no default branch; set one with `git branch --set-upstream-to {remote}/BRANCH` or `git remote set-head {remote} --auto`"))
                })?;
            let from =
                format!("{remote}'s default branch ({remote}/{default}); {branch} tracks nothing");
            (remote, default, from)
        }
    };
    let upstream_ref = repo
        .refname_to_id(&format!("refs/remotes/{remote}/{reference}"))
        .map_err(|_| {
            fail(format!(
                "{remote}/{reference} is not fetched; run `git fetch {remote}`"
            ))
        })?;
    let base = repo.merge_base(head_id, upstream_ref).map_err(|_| {
        fail(format!(
            "{branch} and {remote}/{reference} share no history"
        ))
    })?;
    let mut walk = repo.revwalk().map_err(|e| fail(e.message().to_owned()))?;
    walk.push(head_id)
        .map_err(|e| fail(e.message().to_owned()))?;
    walk.hide(base).map_err(|e| fail(e.message().to_owned()))?;
    let carried = walk.count();
    let url = repo
        .find_remote(&remote)
        .ok()
        .and_then(|r| r.url().map(str::to_owned))
        .ok_or_else(|| fail(format!("remote {remote} has no URL")))?;
    let upstream = if url.contains("://") || url.contains('@') {
        ("url".to_owned(), url)
    } else {
        let local = repo_path.join(&url);
        let absolute = if Path::new(&url).is_absolute() {
            PathBuf::from(&url)
        } else {
            local
        };
        ("path".to_owned(), relative(workspace, &absolute))
    };
    let directory = std::fs::canonicalize(repo_path).unwrap_or_else(|_| repo_path.to_owned());
    let root = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_owned());
    if !directory.starts_with(&root) {
        return Err(fail(format!(
            "it is outside the workspace {}; carry works on repositories inside its workspace: run carry init in a directory that holds them (its parent, say)",
            root.display()
        )));
    }
    let raw_name = directory.file_name().map_or_else(
        || "project".to_owned(),
        |n| n.to_string_lossy().trim_end_matches(".git").to_owned(),
    );
    Ok(Guessed {
        name: project_name(&raw_name),
        repo: relative(workspace, &directory),
        upstream,
        reference,
        upstream_from,
        branch,
        base: base.to_string(),
        carried,
    })
}

/// A valid project name from a directory's: lower case, runs of other characters as `-`.
fn project_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_owned();
    if name.parse::<carry_graph::ProjectName>().is_ok() {
        name
    } else {
        format!("p-{name}")
    }
}

/// `to` relative to `from` when it is under it, else absolute.
fn relative(from: &Path, to: &Path) -> String {
    let from = std::fs::canonicalize(from).unwrap_or_else(|_| from.to_owned());
    let to = std::fs::canonicalize(to).unwrap_or_else(|_| to.to_owned());
    to.strip_prefix(&from)
        .map(|p| p.display().to_string())
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| to.display().to_string())
}

/// The manifest for `guesses`, commented.
pub fn manifest(name: &str, guesses: &[Guessed]) -> String {
    let quote = |s: &str| toml_string(s);
    let mut text = format!(
        "# Made by `carry init`; every guess is said in a comment. `carry validate` checks it,\n# `carry run --dry-run` shows what a run would do.\n\n[workspace]\nname = {}\n",
        quote(name)
    );
    for guess in guesses {
        text.push_str(&format!(
            "\n# {} carries {} commit{} on {}.\n# upstream: {}.\n[project.{}]\nrepo = {}\nupstream = {{ {} = {}, ref = {} }}\n# base: the merge base of {} and upstream when carry init ran; `carry promote` moves it.\nseries = {{ branch = {}, base = {} }}\n# consumes = [\"...\"]   # projects this one builds on\n# test = {{ command = \"make check\", timeout = \"1h\" }}\n",
            guess.repo,
            guess.carried,
            if guess.carried == 1 { "" } else { "s" },
            guess.branch,
            guess.upstream_from,
            guess.name,
            quote(&guess.repo),
            guess.upstream.0,
            quote(&guess.upstream.1),
            quote(&guess.reference),
            guess.branch,
            quote(&guess.branch),
            quote(&guess.base),
        ));
    }
    text
}

/// `value` as a TOML string, quoted and escaped by the TOML library the manifest is read with.
fn toml_string(value: &str) -> String {
    toml_edit::Value::from(value).to_string().trim().to_owned()
}

/// Writes the manifest for `repos` into `dir`; refuses when one exists. What it guessed.
pub fn init(dir: &Path, repos: &[PathBuf]) -> Result<Vec<Guessed>, InitError> {
    let file = dir.join(MANIFEST_FILE);
    if file.exists() {
        return Err(InitError::Exists(file));
    }
    let mut guesses = Vec::new();
    for repo in repos {
        let repo = if repo.is_absolute() {
            repo.clone()
        } else {
            dir.join(repo)
        };
        guesses.push(guess(dir, &repo)?);
    }
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workspace".to_owned());
    let text = manifest(&name, &guesses);
    if let Err(error) = carry_graph::manifest::parse(MANIFEST_FILE, &text) {
        return Err(InitError::Invalid(
            error
                .diagnostics
                .iter()
                .map(|d| format!("{d:?}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    // Never over a manifest written meanwhile: create, not truncate.
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                InitError::Exists(file.clone())
            } else {
                InitError::Write {
                    path: file.clone(),
                    source,
                }
            }
        })?;
    std::io::Write::write_all(&mut out, text.as_bytes()).map_err(|source| InitError::Write {
        path: file.clone(),
        source,
    })?;
    Ok(guesses)
}
