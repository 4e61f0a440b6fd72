//! Recorded resolutions against `git rerere`, on generated conflicts.
//!
//! A patch and an upstream change the same lines of one or two files; a human resolves each
//! conflict region (upstream's side, the patch's, both, or new text), and both carry and git's
//! rerere learn it. Upstream then moves once more, elsewhere or onto a resolved region's lines.
//! carry re-applies the resolution exactly where rerere replays it, to the same tree; where
//! upstream moved elsewhere it always does; where one region of a file changed both leave a
//! conflict, and carry's partial re-application (for the resolve worktree) resolves every
//! other region of that file as recorded.
//!
//! `CARRY_ORACLE_CASES` and `CARRY_ORACLE_SEED` work as in `properties.rs`.

use std::collections::BTreeSet;

use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::landed::UpstreamCache;
use carry_adapters::rebase::rebase_series;
use carry_adapters::rebase::resolutions::HunkResolution;
use carry_adapters::rebase::resolutions::RecordedResolution;
use carry_adapters::rebase::resolutions::Resolver;
use carry_adapters::rebase::resolutions::extract;
use proptest::prelude::*;

use crate::oracle;
use crate::repo::TestRepo;

const FILES: usize = 2;
const STANZAS: usize = 4;

/// A file of `STANZAS` stanzas, each a changeable line and a fixed one, set apart by filler;
/// `lines` overrides a stanza's changeable line.
fn file_text(file: usize, lines: &dyn Fn(usize) -> Option<String>, header: bool) -> String {
    let mut text = String::new();
    if header {
        text.push_str("/* upstream added a header */\n#include <new.h>\n\n");
    }
    for stanza in 0..STANZAS {
        for k in 0..4 {
            text.push_str(&format!("filler f{file} s{stanza} {k}\n"));
        }
        text.push_str(&lines(stanza).unwrap_or_else(|| format!("f{file} s{stanza} one")));
        text.push('\n');
        text.push_str(&format!("f{file} s{stanza} two\n"));
    }
    text
}

fn name(file: usize) -> String {
    format!("f{file}.c")
}

#[derive(Debug, Clone)]
struct Case {
    /// Stanzas the patch changes.
    patch: BTreeSet<(usize, usize)>,
    /// Stanzas upstream changes besides the patch's first.
    upstream: BTreeSet<(usize, usize)>,
    /// How each region is resolved: 0 upstream's side, 1 the patch's, 2 both, 3 new text.
    choices: Vec<u8>,
    /// How upstream moves next: 0 a header on top of each file, 1 a stanza nobody touched,
    /// 2 a resolved region's lines again.
    next: u8,
}

fn stanza() -> impl Strategy<Value = (usize, usize)> {
    (0..FILES, 0..STANZAS)
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::btree_set(stanza(), 1..5),
        prop::collection::btree_set(stanza(), 0..4),
        prop::collection::vec(0..4u8, 8),
        0..3u8,
    )
        .prop_map(|(patch, upstream, choices, next)| Case {
            patch,
            upstream,
            choices,
            next,
        })
}

/// The state of every stanza upstream has after its first move.
fn upstream_lines(case: &Case) -> BTreeSet<(usize, usize)> {
    let mut touched = case.upstream.clone();
    touched.extend(case.patch.iter().next().copied());
    touched
}

fn write_all(repo: &TestRepo, changed: &dyn Fn(usize, usize) -> Option<String>, header: bool) {
    for file in 0..FILES {
        repo.write(&name(file), &file_text(file, &|s| changed(file, s), header));
    }
}

/// What a human makes of a region: the line each side has, chosen by `choice`.
fn resolve_region(upstream: &[u8], patch: &[u8], choice: u8, index: usize) -> Vec<u8> {
    match choice {
        0 => upstream.to_vec(),
        1 => patch.to_vec(),
        2 => [upstream, patch].concat(),
        _ => format!("resolved by hand {index}\n").into_bytes(),
    }
}

/// Splits a diff3 text's regions out and resolves each as `choices` say: the resolved file.
fn resolve_file(merged: &str, choices: &[u8], counter: &mut usize) -> String {
    let mut out = String::new();
    let mut lines = merged.split_inclusive('\n');
    while let Some(line) = lines.next() {
        if !line.starts_with("<<<<<<< ") {
            out.push_str(line);
            continue;
        }
        let mut sides: [String; 3] = Default::default();
        let mut side = 0;
        for line in lines.by_ref() {
            if line.starts_with("||||||| ") {
                side = 1;
            } else if line.starts_with("=======") {
                side = 2;
            } else if line.starts_with(">>>>>>> ") {
                break;
            } else {
                sides[side].push_str(line);
            }
        }
        let choice = choices[*counter % choices.len()];
        out.push_str(&String::from_utf8_lossy(&resolve_region(
            sides[0].as_bytes(),
            sides[2].as_bytes(),
            choice,
            *counter,
        )));
        *counter += 1;
    }
    out
}

fn engine(
    repo: &TestRepo,
    onto: &str,
    resolutions: Vec<RecordedResolution>,
) -> carry_adapters::rebase::PatchResult {
    let git = git2::Repository::open(&repo.path).expect("open repository");
    let mut request = oracle::request(repo, "base", "series", onto);
    request.resolutions = resolutions;
    rebase_series(
        &git,
        &request,
        &mut UpstreamCache::default(),
        &RebaseOptions::default(),
    )
    .expect("rebase")
    .patches
    .remove(0)
}

/// git's answer: cherry-pick the patch onto `onto` with rerere on; the tree when every path
/// was resolved (by the merge or rerere), else the paths left conflicted.
fn git_with_rerere(repo: &TestRepo, onto: &str) -> Result<String, Vec<String>> {
    repo.git(&["checkout", "-q", "--detach", onto]);
    let _ = repo.git_output(&["cherry-pick", "--no-commit", "series"]);
    let left = repo.git(&["diff", "--name-only", "--diff-filter=U"]);
    let result = if left.is_empty() {
        Ok(repo.git(&["write-tree"]))
    } else {
        Err(left.lines().map(str::to_owned).collect())
    };
    repo.git(&["reset", "-q", "--hard"]);
    result
}

/// The tree a patch's outcome leaves on `onto`: its commit's when applied, `onto`'s when it
/// became empty; `None` for a conflict.
fn tree_of(repo: &TestRepo, outcome: &Outcome, onto: &str) -> Option<String> {
    match outcome {
        Outcome::Applied { to } => Some(repo.git(&["rev-parse", &format!("{to}^{{tree}}")])),
        Outcome::Landed { .. } => Some(repo.git(&["rev-parse", &format!("{onto}^{{tree}}")])),
        _ => None,
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    for (key, value) in [
        ("rerere.enabled", "true"),
        ("rerere.autoupdate", "true"),
        ("merge.conflictStyle", "diff3"),
    ] {
        repo.git(&["config", key, value]);
    }
    write_all(&repo, &|_, _| None, false);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "base"]);
    repo.git(&["tag", "base"]);
    repo.git(&["checkout", "-q", "-b", "series"]);
    write_all(
        &repo,
        &|f, s| {
            case.patch
                .contains(&(f, s))
                .then(|| format!("patch f{f} s{s}"))
        },
        false,
    );
    repo.git(&["commit", "-q", "-am", "the patch"]);
    repo.git(&["checkout", "-q", "-b", "upstream", "base"]);
    let first = upstream_lines(case);
    let upstream_line = |f: usize, s: usize| {
        first
            .contains(&(f, s))
            .then(|| format!("upstream f{f} s{s}"))
    };
    write_all(&repo, &upstream_line, false);
    repo.git(&["commit", "-q", "-am", "upstream moves"]);
    repo.git(&["tag", "u1"]);

    let before = engine(&repo, "u1", Vec::new());
    prop_assert!(
        matches!(before.outcome, Outcome::Conflict { .. }),
        "the patch and upstream change one line: {:?}",
        before.outcome
    );

    // The human resolves it once, in a worktree: rerere and carry both learn it.
    repo.git(&["checkout", "-q", "--detach", "u1"]);
    let picked = repo.git_output(&["cherry-pick", "--no-commit", "series"]);
    prop_assert!(!picked.status.success(), "git conflicts too");
    let conflicted: Vec<String> = repo
        .git(&["diff", "--name-only", "--diff-filter=U"])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut hunks: Vec<HunkResolution> = Vec::new();
    let mut counter = 0;
    for path in &conflicted {
        let merged = std::fs::read_to_string(repo.path.join(path)).expect("merged");
        let resolved = resolve_file(&merged, &case.choices, &mut counter);
        std::fs::write(repo.path.join(path), &resolved).expect("write");
        hunks.extend(extract(path, merged.as_bytes(), resolved.as_bytes()).expect("extracted"));
    }
    repo.git(&["add", "-A"]);
    repo.git(&["rerere"]);
    let resolved_tree = repo.git(&["write-tree"]);
    repo.git(&["reset", "-q", "--hard"]);
    let git = git2::Repository::open(&repo.path).expect("open");
    let commit = git
        .find_commit(git.revparse_single("series").expect("series").id())
        .expect("commit");
    let patch_id = carry_adapters::rebase::landed::patch_id(&git, &commit)
        .expect("patch-id")
        .map(|id| id.to_string());
    let resolution = RecordedResolution {
        id: RecordedResolution::id_of(patch_id.as_deref(), &hunks),
        patch: "p0".to_owned(),
        patch_id,
        onto: None,
        hunks,
    };

    // Re-applied where it was made: the tree the human made (upstream's own when the human
    // took upstream's side everywhere: the patch became empty, as with git).
    let same = engine(&repo, "u1", vec![resolution.clone()]);
    let Some(tree) = tree_of(&repo, &same.outcome, "u1") else {
        return Err(TestCaseError::fail(format!(
            "not re-applied where it was made: {:?}",
            same.outcome
        )));
    };
    prop_assert_eq!(tree, resolved_tree);
    if matches!(same.outcome, Outcome::Applied { .. }) {
        prop_assert_eq!(same.resolution.as_deref(), Some(resolution.id.as_str()));
    }

    // Upstream moves once more.
    repo.git(&["checkout", "-q", "upstream"]);
    let regions: Vec<(usize, usize)> = case
        .patch
        .iter()
        .filter(|p| first.contains(p))
        .copied()
        .collect();
    let untouched = (0..FILES)
        .flat_map(|f| (0..STANZAS).map(move |s| (f, s)))
        .find(|p| !first.contains(p) && !case.patch.contains(p));
    let touched_again = regions[case.choices[0] as usize % regions.len()];
    let next = match (case.next, untouched) {
        (1, Some(_)) => 1,
        (1, None) => 0,
        (other, _) => other,
    };
    match next {
        0 => write_all(&repo, &upstream_line, true),
        1 => {
            let elsewhere = untouched.expect("a stanza nobody touched");
            write_all(
                &repo,
                &|f, s| {
                    if (f, s) == elsewhere {
                        Some(format!("upstream elsewhere f{f} s{s}"))
                    } else {
                        upstream_line(f, s)
                    }
                },
                false,
            );
        }
        _ => write_all(
            &repo,
            &|f, s| {
                if (f, s) == touched_again {
                    Some(format!("upstream again f{f} s{s}"))
                } else {
                    upstream_line(f, s)
                }
            },
            false,
        ),
    }
    repo.git(&["commit", "-q", "-am", "upstream moves again"]);
    repo.git(&["tag", "u2"]);

    let carried = engine(&repo, "u2", vec![resolution.clone()]);
    let git_says = git_with_rerere(&repo, "u2");
    match (tree_of(&repo, &carried.outcome, "u2"), &git_says) {
        (Some(carried), Ok(tree)) => prop_assert_eq!(&carried, tree),
        (None, Err(_)) if matches!(carried.outcome, Outcome::Conflict { .. }) => {}
        (_, git) => {
            return Err(TestCaseError::fail(format!(
                "carry {:?}, git with rerere {git:?}",
                carried.outcome
            )));
        }
    }
    if next < 2 {
        prop_assert!(
            tree_of(&repo, &carried.outcome, "u2").is_some(),
            "upstream moved elsewhere: the resolution is re-applied"
        );
    } else {
        let conflicted = matches!(carried.outcome, Outcome::Conflict { .. });
        prop_assert!(conflicted, "upstream changed a resolved region: a conflict");
        // In the resolve worktree, every region but the one upstream changed is done.
        let path = name(touched_again.0);
        repo.git(&["checkout", "-q", "--detach", "u2"]);
        let _ = repo.git_output(&["cherry-pick", "--no-commit", "series"]);
        let merged = std::fs::read(repo.path.join(&path)).expect("merged");
        repo.git(&["reset", "-q", "--hard"]);
        let resolver = Resolver::new(vec![resolution.clone()]);
        let (partly, left) = resolver
            .resolve_partially(&path, &merged)
            .expect("diff3 text");
        prop_assert_eq!(left, 1, "only the region upstream changed again is left");
        let recorded_here: Vec<&HunkResolution> =
            resolution.hunks.iter().filter(|h| h.path == path).collect();
        let others = recorded_here.len() - 1;
        let text = String::from_utf8_lossy(&partly);
        let kept = recorded_here
            .iter()
            .filter(|h| text.contains(&*String::from_utf8_lossy(&h.resolved)))
            .count();
        prop_assert!(kept >= others, "the other regions are resolved as recorded");
    }
    Ok(())
}

fn seed() -> proptest::test_runner::RngSeed {
    match std::env::var("CARRY_ORACLE_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(n) => n.parse().map_or(
            proptest::test_runner::RngSeed::Fixed(20_261_206),
            proptest::test_runner::RngSeed::Fixed,
        ),
        None => proptest::test_runner::RngSeed::Fixed(20_261_206),
    }
}

fn cases() -> u32 {
    std::env::var("CARRY_ORACLE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), rng_seed: seed(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn recorded_resolutions_are_replayed_where_git_rerere_replays_them(case in case()) {
        check(&case)?;
    }
}
