//! Tricky cases, each a small history with a sketch, checked against git and for its verdict.

use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::SeriesResult;
use carry_adapters::rebase::landed::LandedBy;

use crate::oracle;
use crate::repo::TestRepo;

/// A repository with `base` committed on `main`, a `series` branch from it, and `main` checked
/// out again; `upstream` and `series` then build the two sides.
fn history(
    base: &[(&str, &str)],
    upstream: impl FnOnce(&TestRepo),
    series: impl FnOnce(&TestRepo),
) -> (tempfile::TempDir, TestRepo, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    for (file, text) in base {
        repo.write(file, text);
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "base"]);
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    series(&repo);
    repo.git(&["checkout", "-q", "main"]);
    upstream(&repo);
    (dir, repo, base)
}

fn run(repo: &TestRepo, base: &str) -> SeriesResult {
    let result = oracle::rebase(repo, base, "series", "main");
    if let Err(disagreement) = oracle::check(repo, base, "series", "main", &result) {
        panic!("carry and git disagree: {disagreement}");
    }
    result
}

fn kinds(result: &SeriesResult) -> Vec<&'static str> {
    result
        .patches
        .iter()
        .map(|p| match &p.outcome {
            Outcome::Applied { .. } => "applied",
            Outcome::Landed {
                by: LandedBy::Empty,
                ..
            } => "landed-empty",
            Outcome::Landed {
                by: LandedBy::PatchId,
                ..
            } => "landed-patch-id",
            Outcome::Landed {
                by: LandedBy::ChangeId,
                ..
            } => "landed-change-id",
            Outcome::Landed {
                by: LandedBy::CherryPick,
                ..
            } => "landed-cherry-pick",
            Outcome::Conflict { .. } => "conflict",
            Outcome::Blocked { .. } => "blocked",
            Outcome::Error { .. } => "error",
            Outcome::Dropped { .. } => "dropped",
        })
        .collect()
}

const STANZAS: &str =
    "block {\n  call();\n}\nblock {\n  call();\n}\nblock {\n  call();\n}\nblock {\n  call();\n}\n";

#[test]
fn repeated_stanzas_merge_where_git_merges_them() {
    let (_dir, repo, base) = history(
        &[("s.c", STANZAS)],
        |r| {
            r.commit_file(
                "s.c",
                &STANZAS
                    .replacen("  call();\n", "  call();\n  again();\n", 3)
                    .replacen("  call();\n  again();\n", "  call();\n", 2),
                "upstream: third stanza",
            );
        },
        |r| {
            r.commit_file(
                "s.c",
                &STANZAS
                    .replacen("block {\n  call();", "block {\n  other();", 2)
                    .replacen("block {\n  other();", "block {\n  call();", 1),
                "patch: second stanza",
            );
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

#[test]
fn a_file_renamed_upstream_carries_the_patch_along() {
    let text = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n";
    let (_dir, repo, base) = history(
        &[("old.c", text), ("other.c", "x\n")],
        |r| {
            r.git(&["mv", "old.c", "new.c"]);
            r.git(&["commit", "-q", "-m", "rename"]);
        },
        |r| {
            r.commit_file("old.c", &text.replace("six", "SIX"), "patch: six");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

#[test]
fn a_mode_change_upstream_keeps_the_patch_content() {
    let (_dir, repo, base) = history(
        &[("run.sh", "echo one\necho two\n")],
        |r| {
            r.git(&["update-index", "--chmod=+x", "run.sh"]);
            r.git(&["commit", "-q", "-m", "executable"]);
        },
        |r| {
            r.commit_file("run.sh", "echo one\necho 2\n", "patch: two");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

#[test]
fn binary_files_conflict_only_when_both_sides_change_them() {
    let (_dir, repo, base) = history(
        &[("a.bin", "A\0one"), ("b.bin", "B\0one")],
        |r| {
            r.commit_file("a.bin", "A\0upstream", "upstream: a.bin");
        },
        |r| {
            r.commit_file("a.bin", "A\0patch", "patch: a.bin");
            r.commit_file("b.bin", "B\0patch", "patch: b.bin");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "applied"]);
}

#[test]
fn deletions_apply_or_conflict_as_git_says() {
    let (_dir, repo, base) = history(
        &[("keep.c", "k\n"), ("gone.c", "g\n"), ("edited.c", "e\n")],
        |r| {
            r.commit_file("edited.c", "e upstream\n", "upstream: edit");
        },
        |r| {
            r.git(&["rm", "-q", "gone.c"]);
            r.git(&["commit", "-q", "-m", "patch: remove gone.c"]);
            r.git(&["rm", "-q", "edited.c"]);
            r.git(&["commit", "-q", "-m", "patch: remove edited.c"]);
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied", "conflict"]);
}

#[test]
fn a_patch_upstream_made_with_more_is_landed_as_empty() {
    let (_dir, repo, base) = history(
        &[("a.c", "1\n2\n3\n"), ("b.c", "b\n")],
        |r| {
            r.write("a.c", "1\n2 fixed\n3\n");
            r.write("b.c", "b fixed\n");
            r.git(&["commit", "-q", "-am", "upstream: fix both"]);
        },
        |r| {
            r.commit_file("a.c", "1\n2 fixed\n3\n", "patch: fix a");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["landed-empty"]);
}

#[test]
fn whitespace_only_changes_are_changes() {
    let (_dir, repo, base) = history(
        &[("w.c", "a\nb\nc\nd\ne\nf\n")],
        |r| {
            r.commit_file("w.c", "a\nB\nc\nd\ne\nf\n", "upstream: b");
        },
        |r| {
            r.commit_file("w.c", "a\nb \nc\nd\ne\nf\n", "patch: trailing space on b");
            r.commit_file("w.c", "a\nb \nc\nd\ne\nf  \n", "patch: trailing space on f");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "blocked"]);
}

#[test]
fn change_id_and_cherry_pick_trailers_land_before_any_merge() {
    let (_dir, repo, base) = history(
        &[("a.c", "1\n2\n3\n4\n5\n6\n7\n8\n"), ("b.c", "b\n")],
        |r| {
            // Upstream took the change reworded and reworked (no patch-id match), then changed
            // the same lines again: a plain re-merge would conflict.
            r.commit_file(
                "a.c",
                "1\n2 v2\n3\n4\n5\n6\n7\n8\n",
                "fix two, v2\n\nChange-Id: I1111111111111111111111111111111111111111",
            );
            r.commit_file("a.c", "1\n2 v3\n3\n4\n5\n6\n7\n8\n", "rework two again");
            r.commit_file("b.c", "b upstream\n", "upstream b");
        },
        |r| {
            r.commit_file(
                "a.c",
                "1\n2 v1\n3\n4\n5\n6\n7\n8\n",
                "fix two\n\nChange-Id: I1111111111111111111111111111111111111111",
            );
        },
    );
    let upstream_b = repo.git(&["rev-parse", "main"]);
    repo.git(&["checkout", "-q", "series"]);
    repo.commit_file(
        "b.c",
        "b upstream\n",
        &format!("take upstream b\n\n(cherry picked from commit {upstream_b})"),
    );
    repo.git(&["checkout", "-q", "main"]);
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["landed-change-id", "landed-cherry-pick"]);
    let Outcome::Landed {
        upstream_commit, ..
    } = &result.patches[1].outcome
    else {
        panic!("landed");
    };
    assert_eq!(upstream_commit.as_deref(), Some(upstream_b.as_str()));
    // The Change-Id copy differs from what upstream took: the note says which hunk.
    assert!(
        result.patches[0]
            .notes
            .iter()
            .any(|note| note.contains("1 hunk(s) of this copy are not in it: a.c @@ -2 +2 @@")),
        "{:?}",
        result.patches[0].notes
    );
}

/// References as layers write them: `Upstream-Status: Backport [URL]` names an upstream
/// commit of the move (landed, although a merge would conflict); an id of a commit upstream
/// had before the series' base, or a bug number, is no reference.
#[test]
fn backport_references_count_only_inside_the_moved_range() {
    let (_dir, repo, base) = history(
        &[
            (
                "a.c",
                "1
2
3
4
5
6
7
8
",
            ),
            (
                "b.c", "b
",
            ),
        ],
        |r| {
            r.commit_file(
                "a.c",
                "1
2 v2
3
4
5
6
7
8
",
                "fix two upstream",
            );
            r.commit_file(
                "a.c",
                "1
2 v3
3
4
5
6
7
8
",
                "rework two again",
            );
        },
        |_| {},
    );
    let fix = repo.git(&["rev-parse", "main~1"]);
    let old = repo.git(&["rev-parse", &base]);
    repo.git(&["checkout", "-q", "series"]);
    repo.commit_file(
        "a.c",
        "1
2 v1
3
4
5
6
7
8
",
        &format!(
            "fix two

Upstream-Status: Backport [https://gitlab.example.org/p/-/commit/{}]",
            &fix[..10]
        ),
    );
    repo.commit_file(
        "b.c",
        "b mine
",
        &format!(
            "b: mine

Applied-Upstream: {old}
Bug: 1234567"
        ),
    );
    repo.git(&["checkout", "-q", "main"]);
    let result = oracle::rebase(&repo, &base, "series", "main");
    assert_eq!(kinds(&result), ["landed-cherry-pick", "applied"]);
}

/// ```text
/// base --- M1 ------------- M (merge: also edits c.c itself) --- main
///      \--- S1 --- S2 (a.c line 2) --/
/// ```
/// The conflict's culprit is S2 on the merged branch, not the merge; the merge's own change
/// to c.c is an upstream commit touching c.c.
#[test]
fn culprits_on_merged_branches_and_the_changes_merges_make() {
    let (_dir, repo, base) = history(
        &[
            (
                "a.c",
                "1
2
3
4
5
6
7
8
",
            ),
            (
                "c.c", "c
",
            ),
            (
                "d.c", "d
",
            ),
        ],
        |r| {
            r.git(&["checkout", "-q", "-b", "side"]);
            r.commit_file(
                "d.c", "d side
", "S1",
            );
            r.commit_file(
                "a.c",
                "1
2 side
3
4
5
6
7
8
",
                "S2",
            );
            r.git(&["checkout", "-q", "main"]);
            r.commit_file(
                "b.c", "b
", "M1",
            );
            r.git(&["merge", "-q", "--no-ff", "--no-commit", "side"]);
            r.write(
                "c.c",
                "c merged
",
            );
            r.git(&["add", "c.c"]);
            r.git(&["commit", "-q", "-m", "M"]);
        },
        |r| {
            r.commit_file(
                "a.c",
                "1
2 mine
3
4
5
6
7
8
",
                "patch: two",
            );
            r.commit_file(
                "c.c", "c mine
", "patch: c",
            );
        },
    );
    let s2 = repo.git(&["rev-parse", "side"]);
    let merge = repo.git(&["rev-parse", "main"]);
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "conflict"]);
    let Outcome::Conflict { first_bad, .. } = &result.patches[0].outcome else {
        unreachable!("checked above");
    };
    assert_eq!(first_bad.as_deref(), Some(s2.as_str()));
    let Outcome::Conflict {
        upstream_commits, ..
    } = &result.patches[1].outcome
    else {
        unreachable!("checked above");
    };
    assert_eq!(upstream_commits, &[merge]);
}

#[test]
fn a_same_subject_upstream_gets_a_note_not_a_drop() {
    let (_dir, repo, base) = history(
        &[("a.c", "1\n2\n3\n"), ("b.c", "b\n")],
        |r| {
            r.commit_file("b.c", "b other\n", "[PATCH] net: fix the thing");
        },
        |r| {
            r.commit_file("a.c", "1\n2 mine\n3\n", "net: fix the thing");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
    assert_eq!(
        result.patches[0].notes.len(),
        1,
        "{:?}",
        result.patches[0].notes
    );
}

#[test]
fn a_file_added_on_both_sides_alike_is_clean() {
    let (_dir, repo, base) = history(
        &[("a.c", "a\n")],
        |r| {
            r.commit_file("new.c", "same\n", "upstream: add new.c");
        },
        |r| {
            r.commit_file("new.c", "same\n", "patch: add new.c");
            r.commit_file("a.c", "a2\n", "patch: a");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["landed-patch-id", "applied"]);
}

/// Text changes, additions, deletions and mode changes; binary files are left to the cherry
/// oracle, because `git patch-id` reading `git show` text hashes them differently from the
/// patch-ids `git cherry` computes, and carry follows `git cherry`.
#[test]
fn patch_ids_equal_git_patch_id_stable() {
    let (_dir, repo, _base) = history(
        &[("a.c", "1\n2\n3\n"), ("b.c", "b\n")],
        |_| {},
        |r| {
            r.write("a.c", "1\n2 changed\n3\n4\n");
            r.write("b.c", "b\n  spaced  \n");
            r.write("c.c", "new\n");
            let script = r.path.join("a.c");
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
            r.git(&["add", "-A"]);
            r.git(&["commit", "-q", "-m", "several files"]);
            r.git(&["rm", "-q", "b.c"]);
            r.git(&["commit", "-q", "-m", "delete"]);
        },
    );
    let git = git2::Repository::open(&repo.path).expect("open");
    for rev in ["series", "series~1"] {
        let id = repo.git(&["rev-parse", rev]);
        let show = repo.git_output(&["show", &id]);
        let mut child = std::process::Command::new("git")
            .args(["patch-id", "--stable"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("git patch-id");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &show.stdout)
            .expect("write");
        let out = child.wait_with_output().expect("patch-id output");
        let git_id = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        let commit = git
            .find_commit(git2::Oid::from_str(&id).expect("oid"))
            .expect("commit");
        let carry_id = carry_adapters::rebase::landed::patch_id(&git, &commit)
            .expect("patch-id")
            .expect("non-empty");
        assert_eq!(carry_id.to_string(), git_id, "{rev}");
    }
}

/// Found by the generated-history property: a repetitive file where upstream inserts a brace
/// right before the line the patch deletes. git conflicts (the changes touch); so must carry.
#[test]
fn an_insertion_touching_a_deletion_conflicts_as_in_git() {
    let base_text = "\tindented();\n{\n\tindented();\n{\n{\n{\n{\n}\n";
    let (_dir, repo, base) = history(
        &[("f0.c", base_text)],
        |r| {
            r.commit_file(
                "f0.c",
                "\tindented();\n{\n{\n\tindented();\n{\n{\n{\n{\n}\n",
                "upstream: brace",
            );
        },
        |r| {
            r.commit_file(
                "f0.c",
                "\tindented();\n{\n{\n{\n{\n}\n",
                "patch: drop a line",
            );
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict"]);
}

/// Found by the generated-history property: both sides make a file executable, and both
/// change its content; the modes agree, so only the content is merged.
#[test]
fn both_sides_making_a_file_executable_agree() {
    let executable = |r: &TestRepo, file: &str| {
        let path = r.path.join(file);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    };
    let (_dir, repo, base) = history(
        &[("run.sh", "a\nb\nc\nd\ne\nf\n")],
        |r| {
            r.write("run.sh", "A\nb\nc\nd\ne\nf\n");
            executable(r, "run.sh");
            r.git(&["commit", "-q", "-am", "upstream: a, executable"]);
        },
        |r| {
            r.write("run.sh", "a\nb\nc\nd\ne\nF\n");
            executable(r, "run.sh");
            r.git(&["commit", "-q", "-am", "patch: f, executable"]);
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

/// Found by the generated-history property (`CARRY_ORACLE_SEED=1 CARRY_ORACLE_CASES=150`):
/// repeated lines, the patch drops the second `/* comment */`, upstream appends `{`. git's
/// histogram diff places upstream's change so it overlaps the patch's deletion and reports a
/// conflict; an in-process histogram of another lineage placed it a line apart and merged
/// cleanly. carry now merges with git's own xdiff, so it conflicts as git does.
#[test]
fn repeated_lines_where_git_sees_touching_changes() {
    let base_text = "\n/* comment */\n\n/* comment */\n\n";
    let (_dir, repo, base) = history(
        &[("f2.c", base_text)],
        |r| {
            r.commit_file(
                "f2.c",
                "\n/* comment */ \n\n/* comment */\n\n{\n",
                "upstream: space and brace",
            );
        },
        |r| {
            r.commit_file(
                "f2.c",
                "\n/* comment */\n\n\n",
                "patch: drop the second comment",
            );
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict"]);
}

/// The landed index looks only into directories the series touches, and caches what it saw.
/// A later series that touches a directory the first one did not must still find its landed
/// patch there: the cache entry is looked at again, not trusted.
#[test]
fn a_cache_filled_for_one_series_serves_a_series_that_touches_new_directories() {
    let (_dir, repo, base) = history(
        &[
            ("net/core/a.c", "a1\na2\na3\n"),
            ("drivers/gpu/b.c", "b1\nb2\nb3\n"),
        ],
        |r| {
            r.commit_file("drivers/gpu/b.c", "b1\nb2 fixed\nb3\n", "gpu: fix b2");
            r.commit_file("net/core/a.c", "a1\na2\na3 upstream\n", "net: change a3");
        },
        |r| {
            r.commit_file("net/core/a.c", "a1 carried\na2\na3\n", "net: carry a1");
        },
    );
    let mut cache = carry_adapters::rebase::landed::UpstreamCache::default();
    let first = oracle::rebase_with_cache(&repo, &base, "series", "main", &mut cache);
    assert_eq!(kinds(&first), ["applied"]);

    // The series grows a patch upstream already took, in a directory new to it.
    repo.git(&["checkout", "-q", "series"]);
    repo.commit_file(
        "drivers/gpu/b.c",
        "b1\nb2 fixed\nb3\n",
        "gpu: fix b2 (carried)",
    );
    repo.git(&["checkout", "-q", "main"]);
    let second = oracle::rebase_with_cache(&repo, &base, "series", "main", &mut cache);
    assert_eq!(kinds(&second), ["applied", "landed-patch-id"]);
    let fix = repo.git(&["rev-parse", "main~1"]);
    assert_eq!(
        second.patches[1].outcome,
        Outcome::Landed {
            upstream_commit: Some(fix),
            by: LandedBy::PatchId,
        }
    );
    if let Err(disagreement) = oracle::check(&repo, &base, "series", "main", &second) {
        panic!("carry and git disagree: {disagreement}");
    }
}

/// A conflict at a path the series never touched (upstream moved the file the patch edits)
/// still names exactly the upstream commits that touched that path.
#[test]
fn a_conflict_where_upstream_moved_the_file_names_the_commits_that_touched_it() {
    let lines: String = (1..=12)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let (_dir, repo, base) = history(
        &[("old/x.c", &lines), ("new/other.c", "other\n")],
        |r| {
            r.git(&["mv", "old/x.c", "new/x.c"]);
            r.git(&["commit", "-q", "-m", "move x.c"]);
            r.commit_file(
                "new/x.c",
                &lines.replace("line 6\n", "line 6 upstream\n"),
                "change x",
            );
            r.commit_file("new/other.c", "other changed\n", "change other");
        },
        |r| {
            r.commit_file(
                "old/x.c",
                &lines.replace("line 6\n", "line 6 carried\n"),
                "carry x",
            );
        },
    );
    let result = run(&repo, &base);
    let Outcome::Conflict {
        paths,
        upstream_commits,
        ..
    } = &result.patches[0].outcome
    else {
        panic!("expected a conflict: {:?}", result.patches[0].outcome);
    };
    let other = repo.git(&["rev-parse", "main"]);
    let change = repo.git(&["rev-parse", "main~1"]);
    assert!(
        upstream_commits.contains(&change),
        "{paths:?}: {upstream_commits:?}"
    );
    assert!(
        !upstream_commits.contains(&other),
        "{paths:?}: {upstream_commits:?}"
    );
}

/// A file becomes a directory of the same name (and the reverse) while upstream changes the
/// files around it: git sorts the directory `a` as `a/`, after `a-b` and before `a0`, so the
/// tree walk must pair entries as git orders them.
#[test]
fn a_file_that_becomes_a_directory_of_the_same_name() {
    let (_dir, repo, base) = history(
        &[
            ("a", "a file\n"),
            ("a-b", "dash\n"),
            ("a0", "zero\n"),
            ("d/x", "in a directory\n"),
        ],
        |r| {
            r.commit_file("a-b", "dash upstream\n", "upstream: a-b");
            r.commit_file("a0", "zero upstream\n", "upstream: a0");
        },
        |r| {
            r.git(&["rm", "-q", "a"]);
            r.commit_file(
                "a/inner",
                "now a directory\n",
                "patch: a becomes a directory",
            );
            r.git(&["rm", "-q", "-r", "d"]);
            r.commit_file("d", "now a file\n", "patch: d becomes a file");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied", "applied"]);
}

/// Upstream turned a directory into a file where the patch adds under that directory: git
/// reports a file/directory conflict, and so must carry (not fail the series).
#[test]
fn upstream_makes_a_file_where_the_patch_adds_under_a_directory() {
    let (_dir, repo, base) = history(
        &[("x/old", "old\n"), ("keep", "keep\n")],
        |r| {
            r.git(&["rm", "-q", "-r", "x"]);
            r.commit_file("x", "now a file\n", "upstream: x becomes a file");
        },
        |r| {
            r.commit_file("x/y", "added\n", "patch: add x/y");
            r.commit_file("keep", "kept\n", "patch: change keep");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "applied"]);
}

/// Upstream turned a file into a directory; the patch deletes the file (or changes it).
/// Deleting what upstream also removed merges cleanly in git (to nothing: landed, empty);
/// changing it conflicts.
#[test]
fn upstream_makes_a_directory_where_the_patch_deletes_or_changes_the_file() {
    let (_dir, repo, base) = history(
        &[("x", "a file\n"), ("y", "another\n"), ("keep", "keep\n")],
        |r| {
            r.git(&["rm", "-q", "x", "y"]);
            r.commit_file(
                "x/z",
                "now a directory\n",
                "upstream: x becomes a directory",
            );
            r.commit_file(
                "y/z",
                "now a directory\n",
                "upstream: y becomes a directory",
            );
        },
        |r| {
            r.git(&["rm", "-q", "x"]);
            r.git(&["commit", "-q", "-m", "patch: delete x"]);
            r.commit_file("y", "changed\n", "patch: change y");
            r.commit_file("keep", "kept\n", "patch: change keep");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["landed-empty", "conflict", "applied"]);
}

/// ```text
/// base (old.c) --- upstream edits old.c line 2                 main
///             \--- the patch renames old.c to new.c            series
/// ```
/// git's `ort` follows the patch's rename and carries upstream's edit into new.c.
#[test]
fn a_patch_that_renames_a_file_upstream_edited_follows_the_rename() {
    let text = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n";
    let (_dir, repo, base) = history(
        &[("old.c", text), ("other.c", "x\n")],
        |r| {
            r.commit_file("old.c", &text.replace("two", "TWO"), "upstream: two");
        },
        |r| {
            r.git(&["mv", "old.c", "new.c"]);
            r.git(&["commit", "-q", "-m", "patch: rename"]);
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

/// Upstream moves 300 files at once (beyond libgit2's default rename limit of 200), one of
/// which the patch edits: git follows the rename, and so does carry.
#[test]
fn a_large_upstream_reorganisation_still_follows_renames() {
    let files: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("drivers/nfp/f{i}.c"),
                (0..12).fold(String::new(), |mut text, line| {
                    text.push_str(&format!("file {i} line {line}\n"));
                    text
                }),
            )
        })
        .collect();
    let base_files: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let edited = files[7].1.replace("line 5\n", "line five\n");
    let (_dir, repo, base) = history(
        &base_files,
        |r| {
            r.git(&["mv", "drivers/nfp", "drivers/flower"]);
            r.git(&["commit", "-q", "-m", "reorganise"]);
        },
        |r| {
            r.commit_file("drivers/nfp/f7.c", &edited, "patch: f7");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

/// ```text
/// base (sub at X) --- upstream moves sub to Y, edits a.c       main
///                \--- patch 1 moves sub to Z                   series
///                 \-- patch 2 edits a.c elsewhere
/// ```
/// Both moving the submodule is a conflict, as in git; the gitlink is never read as a blob.
#[test]
fn submodules_moved_on_both_sides_conflict_as_in_git() {
    let gitlink = |r: &TestRepo, commit: &str| {
        r.git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{commit},sub"),
        ]);
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    repo.write("a.c", "one\ntwo\nthree\nfour\nfive\nsix\n");
    repo.git(&["add", "-A"]);
    gitlink(&repo, &"1".repeat(40));
    repo.git(&["commit", "-q", "-m", "base"]);
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    gitlink(&repo, &"3".repeat(40));
    repo.git(&["commit", "-q", "-m", "patch: move sub"]);
    repo.write("a.c", "one\ntwo\nthree\nfour\nfive\nSIX\n");
    repo.git(&["add", "a.c"]);
    repo.git(&["commit", "-q", "-m", "patch: six"]);
    repo.git(&["checkout", "-q", "main"]);
    gitlink(&repo, &"2".repeat(40));
    repo.write("a.c", "ONE\ntwo\nthree\nfour\nfive\nsix\n");
    repo.git(&["add", "a.c"]);
    repo.git(&["commit", "-q", "-m", "upstream: move sub"]);
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "applied"]);
}

/// A commit that was already empty in the series stays in it, as `git rebase` keeps it.
#[test]
fn a_commit_empty_in_the_series_stays() {
    let (_dir, repo, base) = history(
        &[("a.c", "a\n")],
        |r| {
            r.commit_file("b.c", "b\n", "upstream: b");
        },
        |r| {
            r.git(&[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "marker: nothing changes",
            ]);
            r.commit_file("a.c", "A\n", "patch: a");
        },
    );
    let result = oracle::rebase(&repo, &base, "series", "main");
    assert_eq!(kinds(&result), ["applied", "applied"]);
    let Outcome::Applied { to } = &result.patches[0].outcome else {
        unreachable!("checked above");
    };
    assert_eq!(
        repo.git(&["rev-parse", &format!("{to}^{{tree}}")]),
        repo.git(&["rev-parse", "main^{tree}"]),
        "the empty commit sits on upstream's tip"
    );
}

/// A commit written in another encoding keeps its `encoding` header and its message bytes.
#[test]
fn a_latin1_commit_keeps_its_encoding_and_message_bytes() {
    let (_dir, repo, base) = history(
        &[("a.c", "a\n")],
        |r| {
            r.commit_file("b.c", "b\n", "upstream: b");
        },
        |r| {
            r.write("a.c", "A\n");
            r.git(&["add", "a.c"]);
            let message = r.path.join("message");
            std::fs::write(&message, b"caf\xe9: fix\n\nna\xefve body\n").expect("write");
            r.git(&[
                "-c",
                "i18n.commitEncoding=ISO-8859-1",
                "commit",
                "-q",
                "-F",
                &message.display().to_string(),
            ]);
        },
    );
    let result = run(&repo, &base);
    let Outcome::Applied { to } = &result.patches[0].outcome else {
        panic!("applied: {:?}", result.patches[0].outcome);
    };
    let raw = |rev: &str| {
        repo.git_output(&["cat-file", "commit", rev])
            .stdout
            .split(|&b| b == b'\n')
            .skip_while(|line| !line.starts_with(b"encoding"))
            .flatten()
            .copied()
            .collect::<Vec<u8>>()
    };
    assert_eq!(raw(to), raw("series"));
    assert!(raw(to).starts_with(b"encoding ISO-8859-1"));
}

/// Names that are not UTF-8 stay exactly as they are: a patch deleting one is applied (not
/// taken for landed), one adding another makes that very name, and git agrees on the trees.
#[test]
fn non_utf8_names_are_kept_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    let name = |bytes: &[u8]| repo.path.join(std::ffi::OsStr::from_bytes(bytes));
    std::fs::write(name(b"latin-\xe9.txt"), "old\n").expect("write");
    repo.write("a.c", "a\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "base"]);
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    std::fs::remove_file(name(b"latin-\xe9.txt")).expect("remove");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "patch: drop the latin file"]);
    std::fs::write(name(b"new-\xff.bin"), "new\n").expect("write");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "patch: add a name that is not UTF-8"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("b.c", "b\n", "upstream: b");
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied", "applied"]);
    let Outcome::Applied { to } = &result.patches[1].outcome else {
        unreachable!("checked above");
    };
    let listing = repo
        .git_output(&["ls-tree", "-z", "--name-only", to])
        .stdout;
    assert!(
        listing.split(|&b| b == 0).any(|n| n == b"new-\xff.bin"),
        "{listing:?}"
    );
}

/// Found by the generated histories: files made of the same lines, the patch renames the
/// one upstream edited.
#[test]
fn a_rename_among_look_alike_files_follows_the_right_one() {
    let (_dir, repo, base) = history(
        &[
            ("f0.c", "{\n{\n{\n{\n{\n"),
            ("f1.c", "{\n{\n{\n{\n{\n{\n"),
            ("f2.c", "{\n{\n{\n"),
        ],
        |r| {
            r.commit_file("f0.c", "bar();\n{\n{\n{\n{\n", "upstream: f0");
        },
        |r| {
            r.git(&["mv", "f0.c", "moved-f0.c"]);
            r.git(&["commit", "-q", "-m", "patch: rename f0"]);
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["applied"]);
}

/// Found by the generated histories: upstream took the patch's rename (of a file it had
/// edited); carry must see the rename on both sides, as git does, not an add/add.
#[test]
fn a_rename_upstream_also_made_merges_as_a_rename() {
    let (_dir, repo, base) = history(
        &[("f0.c", "{\n{\n{\n{\n{\n"), ("f1.c", "x\n")],
        |r| {
            r.commit_file("f0.c", "bar();\n{\n{\n{\n{\n", "upstream: f0");
            r.git(&["mv", "f0.c", "moved.c"]);
            r.git(&["commit", "-q", "-m", "upstream: rename f0"]);
        },
        |r| {
            r.commit_file("f0.c", "{\n{\n{\n{\n", "patch: shorter f0");
            r.git(&["mv", "f0.c", "moved.c"]);
            r.git(&["commit", "-q", "-m", "patch: rename f0"]);
        },
    );
    run(&repo, &base);
}

/// ```text
/// base (lib/a.c, lib/b.c) --- upstream moves lib/ to core/         main
///                        \--- the patch adds lib/c.c               series
/// ```
/// git moves the new file along with its directory and calls it a conflict ("file
/// location"), and so does carry.
#[test]
fn a_file_added_in_a_directory_upstream_renamed_is_a_location_conflict() {
    let (_dir, repo, base) = history(
        &[
            ("lib/a.c", "a\na\na\n"),
            ("lib/b.c", "b\nb\nb\n"),
            ("x.c", "x\n"),
        ],
        |r| {
            r.git(&["mv", "lib", "core"]);
            r.git(&["commit", "-q", "-m", "upstream: lib is core now"]);
        },
        |r| {
            r.commit_file("lib/c.c", "c\n", "patch: add lib/c.c");
            r.commit_file("new/d.c", "d\n", "patch: a new directory");
        },
    );
    let result = run(&repo, &base);
    assert_eq!(kinds(&result), ["conflict", "applied"]);
}
