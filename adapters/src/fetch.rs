//! Bringing an upstream into a project's repository, with the user's own `git`.
//!
//! Fetching runs the `git` command rather than libgit2 so that https and ssh work exactly as
//! they do for the user: credential helpers, `~/.ssh/config`, agents, proxies and `insteadOf`
//! rewrites all apply. The upstream branch lands under `refs/carry/upstream/heads/` and its
//! tags under `refs/carry/upstream/tags/`, never in the user's own refs.

use std::path::Path;
use std::process::Command;

use crate::cancel::Cancel;
use crate::git::UPSTREAM_HEADS;
use crate::git::UPSTREAM_TAGS;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// `git` could not be started.
    #[error("cannot run git")]
    Spawn(#[source] std::io::Error),
    /// carry refuses to pass this to git.
    #[error("{0}")]
    Refused(String),
    /// The run was asked to stop; the fetch was ended (git leaves no half-updated ref).
    #[error("stopped")]
    Cancelled,
    /// `git` ran and failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments, for the user to retry by hand.
        args: String,
        /// What git said.
        stderr: String,
    },
}

/// Creates a bare repository at `repo` if nothing is there yet.
pub fn ensure_repository(repo: &Path) -> Result<bool, FetchError> {
    if repo.exists() {
        return Ok(false);
    }
    run(
        None,
        &["init", "--quiet", "--bare", &repo.to_string_lossy()],
        &Cancel::new(),
    )?;
    Ok(true)
}

/// Fetches `reference` (a branch or tag) and every tag of `source` (a URL or a path) into
/// `repo`; returns nothing, the refs say what arrived. `cancel` ends the fetch at once.
pub fn fetch_upstream(
    repo: &Path,
    source: &str,
    reference: &str,
    cancel: &Cancel,
) -> Result<(), FetchError> {
    if source.starts_with('-') {
        return Err(FetchError::Refused(format!(
            "upstream '{source}' starts with '-', which git would read as an option"
        )));
    }
    // `main~3` is fetched as `main`; the suffix is resolved in the fetched history.
    let name = carry_graph::manifest::revision_name(reference);
    let tags = format!("+refs/tags/*:{UPSTREAM_TAGS}*");
    let fetch = |source_ref: &str, prune: bool| {
        let heads = format!("+{source_ref}:{UPSTREAM_HEADS}{name}");
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
        if prune {
            args.push("--prune");
        }
        args.extend(["--", source, &heads, &tags]);
        run(Some(repo), &args, cancel)
    };
    if name.starts_with("refs/") {
        return fetch(name, true);
    }
    // A short name is fetched as the branch it usually is, fully qualified: with `--prune`,
    // git (2.47) takes a short, non-pattern source as stale and deletes its destination
    // before updating it, so every second fetch after upstream moves fails with "cannot
    // lock ref". A name upstream has no branch of (a tag) is fetched as it is, unpruned
    // (upstream's deleted tags then stay until a fetch of a branch prunes them).
    match fetch(&format!("refs/heads/{name}"), true) {
        Err(FetchError::Failed { stderr, .. }) if stderr.contains("couldn't find remote ref") => {
            fetch(name, false)
        }
        other => other,
    }
}

fn run(dir: Option<&Path>, args: &[&str], cancel: &Cancel) -> Result<(), FetchError> {
    // A URL's userinfo (a token) never reaches a message: arguments and git's output alike.
    let secret = args
        .iter()
        .find(|arg| carry_graph::redact::url(arg) != **arg)
        .copied();
    let shown = |text: &str| match secret {
        Some(url) => carry_graph::redact::in_text(text, url),
        None => text.to_owned(),
    };
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    // Never prompt on a terminal in the middle of a nightly run.
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().map_err(FetchError::Spawn)?;
    // stderr is read on its own thread, so a talkative git never blocks on a full pipe while
    // this one watches for a stop.
    let reader = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
            text
        })
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(FetchError::Spawn)? {
            break status;
        }
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(FetchError::Cancelled);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stderr = reader
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(FetchError::Failed {
            args: shown(&args.join(" ")),
            stderr: shown(String::from_utf8_lossy(&stderr).trim()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "a")
            .env("GIT_AUTHOR_EMAIL", "a@example.org")
            .env("GIT_COMMITTER_NAME", "a")
            .env("GIT_COMMITTER_EMAIL", "a@example.org")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    fn tip(repo: &Path, reference: &str) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["rev-parse", reference])
            .output()
            .expect("git runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    //   upstream:  c1 ─ c2 ─ c3 ─ c4 (tag v1 at c1), fetched after every commit
    #[test]
    fn every_fetch_after_upstream_moves_lands_whether_the_ref_is_a_branch_or_a_tag() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let upstream = tmp.path().join("upstream");
        let repo = tmp.path().join("repo.git");
        std::fs::create_dir_all(&upstream).expect("mkdir");
        git(&upstream, &["init", "-q", "-b", "main"]);
        ensure_repository(&repo).expect("init");
        let source = upstream.to_string_lossy().into_owned();
        for round in 1..=4 {
            std::fs::write(upstream.join("file"), format!("{round}\n")).expect("write");
            git(&upstream, &["add", "-A"]);
            git(&upstream, &["commit", "-q", "-m", &format!("c{round}")]);
            if round == 1 {
                git(&upstream, &["tag", "v1"]);
            }
            fetch_upstream(&repo, &source, "main", &Cancel::new())
                .unwrap_or_else(|e| panic!("fetch {round}: {e}"));
            assert_eq!(
                tip(&repo, "refs/carry/upstream/heads/main"),
                tip(&upstream, "main"),
                "after commit {round}"
            );
        }
        fetch_upstream(&repo, &source, "v1", &Cancel::new()).expect("a tag as the upstream ref");
        assert_eq!(
            tip(&repo, "refs/carry/upstream/heads/v1^{commit}"),
            tip(&upstream, "v1^{commit}")
        );
    }

    /// A stop ends a fetch at once (here one that would wait on a server that never answers).
    #[test]
    fn a_cancelled_fetch_ends_at_once() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let repo = tmp.path().join("repo.git");
        ensure_repository(&repo).expect("init");
        // A listener that accepts and never answers: git waits on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let address = listener.local_addr().expect("address");
        let cancel = Cancel::new();
        let stopper = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            stopper.cancel();
        });
        let started = std::time::Instant::now();
        let result = fetch_upstream(
            &repo,
            &format!("http://{address}/silent.git"),
            "main",
            &cancel,
        );
        assert!(matches!(result, Err(FetchError::Cancelled)), "{result:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        drop(listener);
    }

    /// A failed fetch quotes its command and git's words, never the token in the URL.
    #[test]
    fn a_failed_fetch_never_shows_the_token_in_its_url() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let repo = tmp.path().join("repo.git");
        ensure_repository(&repo).expect("init");
        // Loopback port 1: nothing listens, so git fails at once.
        let error = fetch_upstream(
            &repo,
            "http://ci:SECRET-TOKEN@127.0.0.1:1/nfv/qemu.git",
            "main",
            &Cancel::new(),
        )
        .expect_err("nothing to fetch from");
        let shown = error.to_string();
        assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        assert!(
            shown.contains("http://***@127.0.0.1:1/nfv/qemu.git"),
            "{shown}"
        );
    }
}
