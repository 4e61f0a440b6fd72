//! The commits of a branch series, from its base to its tip, oldest first.

use git2::Oid;
use git2::Repository;
use git2::Sort;

use crate::git::short;

/// Why a branch series could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// A merge commit sits inside the series.
    #[error(
        "the series has a merge commit {short} ('{subject}'); a series must be a line of commits"
    )]
    MergeCommit {
        /// The merge commit.
        id: Oid,
        /// Its abbreviation.
        short: String,
        /// Its subject.
        subject: String,
    },
    /// The base is not an ancestor of the tip.
    #[error("base {base} is not an ancestor of the branch tip {tip}")]
    BaseNotAncestor {
        /// The base, abbreviated.
        base: String,
        /// The tip, abbreviated.
        tip: String,
    },
    /// git failed.
    #[error("git failed while {action}")]
    Git {
        /// What carry was doing.
        action: &'static str,
        /// What git2 said.
        #[source]
        source: git2::Error,
    },
}

/// One commit of a branch series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesCommit {
    /// The commit.
    pub id: Oid,
    /// Its subject line.
    pub subject: String,
    /// Its `Carry-Patch` trailer, when it has one.
    pub carry_patch: Option<String>,
}

/// The commits reachable from `tip` and not from `base`, oldest first.
pub fn series_commits(
    repo: &Repository,
    base: Oid,
    tip: Oid,
) -> Result<Vec<SeriesCommit>, SeriesError> {
    let git = |action| move |source| SeriesError::Git { action, source };
    if base != tip
        && !repo
            .graph_descendant_of(tip, base)
            .map_err(git("checking ancestry"))?
    {
        return Err(SeriesError::BaseNotAncestor {
            base: short(base),
            tip: short(tip),
        });
    }
    let mut walk = repo.revwalk().map_err(git("walking the series"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
        .map_err(git("walking the series"))?;
    walk.push(tip).map_err(git("walking the series"))?;
    walk.hide(base).map_err(git("walking the series"))?;
    let mut commits = Vec::new();
    for id in walk {
        let id = id.map_err(git("walking the series"))?;
        let commit = repo.find_commit(id).map_err(git("reading a commit"))?;
        let subject = commit.summary().unwrap_or("").to_owned();
        if commit.parent_count() > 1 {
            return Err(SeriesError::MergeCommit {
                id,
                short: short(id),
                subject,
            });
        }
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        commits.push(SeriesCommit {
            id,
            subject,
            carry_patch: trailer(&message, "Carry-Patch"),
        });
    }
    Ok(commits)
}

/// The last value of trailer `key` (case-insensitive) in `message`'s trailer block.
pub fn trailer(message: &str, key: &str) -> Option<String> {
    let trailers = git2::message_trailers_strs(message).ok()?;
    trailers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_owned())
        .next_back()
}
