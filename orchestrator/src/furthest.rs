//! `carry impact P --furthest [--tags GLOB]`: the newest upstream point the project can move
//! to with every patch applied or landed and nothing blocked anywhere through features.
//!
//! The points are the first-parent line from the series' base to upstream's tip (or the tags
//! matching GLOB between the base and the tip, in version order). Each is tried with an
//! in-memory trial rebase; a bisection finds the last good point before the first bad one in
//! log2(N) + 1 trials. Both answers are trials that really ran, so the point printed never
//! breaks; when the tip itself is good, nothing is bisected at all. A history where a conflict
//! appears and later goes away makes "bad" not monotonic: bisection still returns a good point
//! followed by a bad one, and when the tip is good though a point before it failed, the
//! answer says so.

use std::collections::BTreeMap;

use carry_graph::ProjectName;
use serde::Serialize;

use crate::trial::TrialError;
use crate::trial::TrialImpact;
use crate::trial::Trials;
use crate::workspace::LoadedWorkspace;

/// A point of upstream's history.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// The commit.
    pub commit: String,
    /// The newest tag at or before it on the line searched, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its position among the points searched (0: the first after the base).
    pub index: usize,
}

/// What breaks at the first bad point.
#[derive(Debug, Clone, Serialize)]
pub struct Break {
    /// `PROJECT/PATCH`.
    pub patch: String,
    /// `conflict`, `blocked` or `error`.
    pub outcome: &'static str,
    /// The conflicting paths.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The first upstream commit it stops applying at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub culprit: Option<String>,
    /// What it waits for (blocked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
}

/// The answer: `carry.furthest/v1`.
#[derive(Debug, Clone, Serialize)]
pub struct Furthest {
    /// `carry.furthest/v1`.
    pub schema: &'static str,
    /// The project.
    pub project: ProjectName,
    /// Where the series sits now.
    pub base: String,
    /// Upstream's tip (or the newest tag matching).
    pub tip: String,
    /// How the points were chosen: `first-parent` or `tags GLOB`.
    pub line: String,
    /// How many points there are.
    pub points: usize,
    /// The newest safe point; the base itself when even the first point breaks.
    pub furthest: Option<Point>,
    /// The point after it, where something breaks; `None` when nothing does.
    pub next: Option<Point>,
    /// What breaks at `next`.
    pub breaks: Vec<Break>,
    /// How many trial rebases the answer took.
    pub trials: usize,
    /// Whether a point was found good after a point that broke (a conflict that went away).
    pub non_monotonic: bool,
}

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub enum FurthestError {
    /// A trial failed.
    #[error(transparent)]
    Trial(#[from] TrialError),
    /// Upstream has nothing past the base.
    #[error(
        "{0}'s upstream has not moved past its series' base; `carry fetch {0}` brings what is new"
    )]
    NotMoved(ProjectName),
    /// No tag matches.
    #[error(
        "no tag of {project}'s upstream between its series' base and upstream's tip matches '{pattern}'"
    )]
    NoTags {
        /// The project.
        project: ProjectName,
        /// The pattern.
        pattern: String,
    },
}

/// The furthest safe point for `project`.
pub fn furthest(
    workspace: &LoadedWorkspace,
    project: &ProjectName,
    tags: Option<&str>,
) -> Result<Furthest, FurthestError> {
    let mut trials = Trials::new(workspace, project)?;
    let base = trials.base();
    let tip = trials
        .upstream_tip()
        .ok_or_else(|| FurthestError::NotMoved(project.clone()))?;
    let tag_names = tag_map(trials.repository());
    let (points, line): (Vec<(git2::Oid, Option<String>)>, String) = match tags {
        None => {
            let line = first_parent_line(trials.repository(), base, tip).map_err(|e| {
                FurthestError::Trial(TrialError::Project {
                    project: project.clone(),
                    reason: e.message().to_owned(),
                })
            })?;
            // Each point with the newest tag at or before it on the line.
            let mut last_tag = None;
            let points = line
                .into_iter()
                .map(|id| {
                    if let Some(name) = tag_names.get(&id) {
                        last_tag = Some(name.clone());
                    }
                    (id, last_tag.clone())
                })
                .collect();
            (points, "first-parent".to_owned())
        }
        Some(pattern) => {
            let repo = trials.repository();
            let mut matching: Vec<(String, git2::Oid)> = tag_names
                .iter()
                .filter(|(_, name)| glob(pattern, name))
                // Between the base and the tip followed: tags of other branches (a stable
                // series) and past the tip are not points of this line.
                // Reachable from the tip and not from the base, as the first-parent line is
                // (the base may sit on a stable branch, off upstream's main line).
                .filter(|(id, _)| {
                    **id != base
                        && !repo.graph_descendant_of(base, **id).unwrap_or(true)
                        && (**id == tip || repo.graph_descendant_of(tip, **id).unwrap_or(false))
                })
                .map(|(id, name)| (name.clone(), *id))
                .collect();
            matching.sort_by(|a, b| version_order(&a.0, &b.0));
            if matching.is_empty() {
                return Err(FurthestError::NoTags {
                    project: project.clone(),
                    pattern: pattern.to_owned(),
                });
            }
            (
                matching
                    .into_iter()
                    .map(|(name, id)| (id, Some(name)))
                    .collect(),
                format!("tags {pattern}"),
            )
        }
    };
    if points.is_empty() {
        return Err(FurthestError::NotMoved(project.clone()));
    }
    let mut tried: BTreeMap<usize, TrialImpact> = BTreeMap::new();
    let mut try_at = |index: usize, trials: &mut Trials<'_>| -> Result<bool, FurthestError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = tried.entry(index) {
            let (commit, _) = &points[index];
            slot.insert(trials.at(*commit, &commit.to_string())?);
        }
        Ok(crate::trial::is_clean(&tried[&index]))
    };
    let last = points.len() - 1;
    let (good, bad) = if try_at(last, &mut trials)? {
        (Some(last), None)
    } else {
        // Invariant: `good` is clean (or the base), `bad` is not.
        let (mut good, mut bad): (Option<usize>, usize) = (None, last);
        while bad - good.map_or(0, |g| g + 1) > 0 {
            let low = good.map_or(0, |g| g + 1);
            let mid = low + (bad - low) / 2;
            if try_at(mid, &mut trials)? {
                good = Some(mid);
            } else {
                bad = mid;
            }
        }
        (good, Some(bad))
    };
    // A good point after a bad one: the history is not monotonic here.
    let non_monotonic = tried.iter().any(|(i, impact)| {
        crate::trial::is_clean(impact)
            && tried
                .iter()
                .any(|(j, other)| j < i && !crate::trial::is_clean(other))
    });
    let point = |index: usize| Point {
        commit: points[index].0.to_string(),
        tag: points[index].1.clone(),
        index,
    };
    let breaks = bad
        .and_then(|b| tried.get(&b))
        .map(breaks_of)
        .unwrap_or_default();
    Ok(Furthest {
        schema: "carry.furthest/v1",
        project: project.clone(),
        base: base.to_string(),
        tip: points[last].0.to_string(),
        line,
        points: points.len(),
        furthest: good.map(point),
        next: bad.map(point),
        breaks,
        trials: tried.len(),
        non_monotonic,
    })
}

fn breaks_of(impact: &TrialImpact) -> Vec<Break> {
    use carry_adapters::rebase::Outcome;
    let mut found: Vec<Break> = impact
        .patches
        .iter()
        .filter_map(|patch| match &patch.outcome {
            Outcome::Conflict {
                paths, first_bad, ..
            } => Some(Break {
                patch: patch.id.to_string(),
                outcome: "conflict",
                paths: paths.clone(),
                culprit: first_bad.clone(),
                blocked_by: Vec::new(),
            }),
            Outcome::Blocked { blocked_by } => Some(Break {
                patch: patch.id.to_string(),
                outcome: "blocked",
                paths: Vec::new(),
                culprit: None,
                blocked_by: blocked_by.clone(),
            }),
            Outcome::Error { problem } => Some(Break {
                patch: patch.id.to_string(),
                outcome: "error",
                paths: vec![problem.file.clone()],
                culprit: None,
                blocked_by: Vec::new(),
            }),
            _ => None,
        })
        .collect();
    found.extend(impact.blocked_elsewhere.iter().map(|b| Break {
        patch: b.id.clone(),
        outcome: "blocked",
        paths: Vec::new(),
        culprit: None,
        blocked_by: b.blocked_by.clone(),
    }));
    found
}

/// The first-parent line from just after `base` to `tip`, oldest first.
fn first_parent_line(
    repo: &git2::Repository,
    base: git2::Oid,
    tip: git2::Oid,
) -> Result<Vec<git2::Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.hide(base)?;
    walk.simplify_first_parent()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.collect()
}

/// Every tag of upstream carry fetched, by the commit it names.
fn tag_map(repo: &git2::Repository) -> BTreeMap<git2::Oid, String> {
    let mut found = BTreeMap::new();
    let Ok(references) = repo.references_glob("refs/carry/upstream/tags/*") else {
        return found;
    };
    for reference in references.flatten() {
        let (Some(name), Ok(commit)) = (
            reference
                .name()
                .and_then(|n| n.strip_prefix("refs/carry/upstream/tags/"))
                .map(str::to_owned),
            reference.peel_to_commit(),
        ) else {
            continue;
        };
        found
            .entry(commit.id())
            .and_modify(|existing: &mut String| {
                if version_order(&name, existing).is_gt() {
                    existing.clone_from(&name);
                }
            })
            .or_insert(name);
    }
    found
}

/// `*` and `?` globbing, whole name.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn matches(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &n[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), name.as_bytes())
}

/// Version order: runs of digits compare as numbers, the rest as text (`v9` < `v10`,
/// `v24.11-rc1` < `v24.11`: a pre-release before its release).
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<Result<u64, String>> {
        let mut out = Vec::new();
        let mut digits = String::new();
        let mut text = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !text.is_empty() {
                    out.push(Err(std::mem::take(&mut text)));
                }
                digits.push(c);
            } else {
                if !digits.is_empty() {
                    out.push(Ok(digits.parse().unwrap_or(u64::MAX)));
                    digits.clear();
                }
                text.push(c);
            }
        }
        if !digits.is_empty() {
            out.push(Ok(digits.parse().unwrap_or(u64::MAX)));
        }
        if !text.is_empty() {
            out.push(Err(text));
        }
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let order = match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            // A pre-release suffix ("-rc1") sorts before the release it precedes.
            (Err(x), Err(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
        };
        if order.is_ne() {
            return order;
        }
    }
    // One is the other plus more: "v24.11-rc1" (a pre-release suffix) is older than "v24.11",
    // "v24.11.1" (a further number) newer.
    let (longer, sign) = match pa.len().cmp(&pb.len()) {
        std::cmp::Ordering::Equal => return std::cmp::Ordering::Equal,
        std::cmp::Ordering::Greater => (&pa, std::cmp::Ordering::Greater),
        std::cmp::Ordering::Less => (&pb, std::cmp::Ordering::Less),
    };
    let shared = pa.len().min(pb.len());
    let pre_release = matches!(
        &longer[shared],
        Err(text) if text.starts_with('-') || text.starts_with('~') || text.chars().next().is_some_and(char::is_alphabetic)
    );
    if pre_release { sign.reverse() } else { sign }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_people_read_them() {
        let mut tags = vec![
            "v24.11.1",
            "v24.11",
            "v9.0",
            "v24.11-rc1",
            "v24.07",
            "v10.0",
        ];
        tags.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            tags,
            [
                "v9.0",
                "v10.0",
                "v24.07",
                "v24.11-rc1",
                "v24.11",
                "v24.11.1"
            ]
        );
        assert!(glob("v24.*", "v24.11") && !glob("v24.*", "v25.03") && glob("*rc?", "v1-rc2"));
    }
}
