//! Runs the engine on a repository and checks every verdict against git's own.

use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::PatchBody;
use carry_adapters::rebase::PatchInput;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::RebaseRequest;
use carry_adapters::rebase::SeriesResult;
use carry_adapters::rebase::landed::LandedBy;
use carry_adapters::rebase::landed::UpstreamCache;
use carry_adapters::rebase::rebase_series;
use git2::Oid;

use crate::repo::TestRepo;

/// Rebases `base..series` onto `onto` with the engine.
pub(crate) fn rebase(repo: &TestRepo, base: &str, series: &str, onto: &str) -> SeriesResult {
    rebase_with_cache(repo, base, series, onto, &mut UpstreamCache::default())
}

/// [`rebase`] with an upstream cache an earlier rebase may have filled.
pub(crate) fn rebase_with_cache(
    repo: &TestRepo,
    base: &str,
    series: &str,
    onto: &str,
    cache: &mut UpstreamCache,
) -> SeriesResult {
    let git = git2::Repository::open(&repo.path).expect("open repository");
    let request = request(repo, base, series, onto);
    rebase_series(&git, &request, cache, &RebaseOptions::default()).expect("rebase")
}

/// The request to rebase `base..series` onto `onto`, patches named `p0`, `p1`, ….
pub(crate) fn request(repo: &TestRepo, base: &str, series: &str, onto: &str) -> RebaseRequest {
    let revs = repo.git(&["rev-list", "--reverse", &format!("{base}..{series}")]);
    let patches = revs
        .lines()
        .enumerate()
        .map(|(i, id)| PatchInput {
            name: format!("p{i}"),
            body: PatchBody::Commit(Oid::from_str(id).expect("oid")),
            blocked_by: Vec::new(),
            needs: Vec::new(),
        })
        .collect();
    RebaseRequest {
        old_base: Oid::from_str(&repo.git(&["rev-parse", base])).expect("oid"),
        onto: Oid::from_str(&repo.git(&["rev-parse", onto])).expect("oid"),
        patches,
        resolutions: Vec::new(),
        drops: std::collections::HashMap::new(),
    }
}

/// What git says of merging `commit` (on its parent) onto `onto`: the tree, or a conflict.
pub(crate) fn git_merge(repo: &TestRepo, onto: &str, commit: &str) -> Result<String, ()> {
    let out = repo.git_output(&[
        "merge-tree",
        "--write-tree",
        &format!("--merge-base={commit}^"),
        onto,
        commit,
    ]);
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()),
        Some(1) => Err(()),
        other => panic!(
            "git merge-tree failed ({other:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Checks `result` against git; returns a description of the first disagreement.
pub(crate) fn check(
    repo: &TestRepo,
    base: &str,
    series: &str,
    onto: &str,
    result: &SeriesResult,
) -> Result<(), String> {
    let mut previous = repo.git(&["rev-parse", onto]);
    let cherry = repo.git(&["cherry", onto, series, base]);
    let equivalent: Vec<String> = cherry
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .map(str::to_owned)
        .collect();
    for patch in &result.patches {
        let from = patch.from.as_ref().expect("every patch here is a commit");
        let by_patch_id = matches!(
            patch.outcome,
            Outcome::Landed {
                by: LandedBy::PatchId,
                ..
            }
        );
        let landed = matches!(patch.outcome, Outcome::Landed { .. });
        if by_patch_id && !equivalent.contains(from) {
            return Err(format!(
                "{}: carry says landed by patch-id, git cherry does not",
                patch.name
            ));
        }
        if equivalent.contains(from) && !landed {
            return Err(format!(
                "{}: git cherry says upstream has it, carry says {:?}",
                patch.name, patch.outcome
            ));
        }
        match &patch.outcome {
            Outcome::Applied { to } => {
                let tree = repo.git(&["rev-parse", &format!("{to}^{{tree}}")]);
                match git_merge(repo, &previous, from) {
                    Ok(git_tree) if git_tree == tree => {}
                    Ok(git_tree) => {
                        return Err(format!(
                            "{}: carry tree {tree}, git tree {git_tree}",
                            patch.name
                        ));
                    }
                    Err(()) => {
                        return Err(format!("{}: carry applied it, git conflicts", patch.name));
                    }
                }
                previous.clone_from(to);
            }
            Outcome::Conflict { .. } => {
                if let Ok(tree) = git_merge(repo, &previous, from) {
                    return Err(format!(
                        "{}: carry conflicts, git merges cleanly to {tree}",
                        patch.name
                    ));
                }
            }
            Outcome::Landed {
                by: LandedBy::Empty,
                ..
            } => {
                let previous_tree = repo.git(&["rev-parse", &format!("{previous}^{{tree}}")]);
                match git_merge(repo, &previous, from) {
                    Ok(tree) if tree == previous_tree => {}
                    other => {
                        return Err(format!(
                            "{}: carry says it became empty, git says {other:?}",
                            patch.name
                        ));
                    }
                }
            }
            Outcome::Landed { .. } | Outcome::Blocked { .. } => {}
            Outcome::Error { problem } => panic!("{}: no patch file here: {problem:?}", patch.name),
            Outcome::Dropped { reason } => panic!("{}: nothing was dropped: {reason}", patch.name),
        }
    }
    Ok(())
}
