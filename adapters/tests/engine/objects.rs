//! Where a rebase's new objects go: memory first, then one pack, and nowhere for a trial.

use carry_adapters::git::ProjectRepo;
use carry_adapters::pack::write_new_objects;
use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::landed::UpstreamCache;
use carry_adapters::rebase::rebase_series;
use git2::Oid;

use crate::repo::TestRepo;

fn loose_objects(repo: &TestRepo) -> usize {
    let objects = repo.path.join(".git/objects");
    std::fs::read_dir(&objects)
        .expect("objects")
        .flatten()
        .filter(|dir| dir.file_name().len() == 2)
        .map(|dir| std::fs::read_dir(dir.path()).map_or(0, Iterator::count))
        .sum()
}

/// Rebases `base..series` onto `onto` in memory and packs what it made.
fn rebase_and_pack(
    repo: &TestRepo,
    base: &str,
    onto: Oid,
) -> (
    carry_adapters::rebase::SeriesResult,
    carry_adapters::pack::PackStats,
) {
    let project = ProjectRepo::open(&repo.path, None).expect("open");
    let batch = project.with_writes_in_memory().expect("in memory");
    let request = crate::oracle::request(repo, base, "series", &onto.to_string());
    let result = rebase_series(
        batch.repo(),
        &request,
        &mut UpstreamCache::default(),
        &RebaseOptions::default(),
    )
    .expect("rebase");
    let stats = write_new_objects(batch.repo(), result.tip, onto, &[]).expect("pack");
    (result, stats)
}

#[test]
fn new_objects_stay_in_memory_until_packed_and_then_are_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    repo.commit_file("src/a.c", "a1\na2\na3\n", "base");
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    repo.commit_file("src/a.c", "a1 carried\na2\na3\n", "carry a1");
    repo.commit_file("src/new/b.c", "b\n", "carry b");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("src/a.c", "a1\na2\na3 upstream\n", "upstream a3");
    let onto = Oid::from_str(&repo.head()).expect("oid");
    repo.git(&["gc", "-q"]);
    let loose_before = loose_objects(&repo);

    let project = ProjectRepo::open(&repo.path, None).expect("open");
    let batch = project.with_writes_in_memory().expect("in memory");
    let request = crate::oracle::request(&repo, &base, "series", &onto.to_string());
    let result = rebase_series(
        batch.repo(),
        &request,
        &mut UpstreamCache::default(),
        &RebaseOptions::default(),
    )
    .expect("rebase");
    assert!(
        result
            .patches
            .iter()
            .all(|p| matches!(p.outcome, Outcome::Applied { .. }))
    );
    let tip = result.tip.to_string();
    assert_eq!(loose_objects(&repo), loose_before, "nothing written loose");
    assert!(
        !repo.git_output(&["cat-file", "-e", &tip]).status.success(),
        "the new commit is not on disk before the pack is written"
    );

    let stats = write_new_objects(batch.repo(), result.tip, onto, &[]).expect("pack");
    assert_eq!(stats.commits, 2);
    assert_eq!(loose_objects(&repo), loose_before, "nothing written loose");
    repo.git(&["update-ref", "refs/carry/candidate/test", &tip]);
    let fsck = repo.git_output(&["fsck", "--full", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    assert_eq!(
        repo.git(&["show", &format!("{tip}:src/a.c")]),
        "a1 carried\na2\na3 upstream"
    );
}

/// A revert makes an earlier commit's tree again. Walked from the tip, that tree is met
/// first against the reverted commit's; met again against its own parent, what it adds there
/// must still be written (found on real history: a stable branch's "disable a job" and its
/// revert left a rebased commit's subtree out of the pack, and `git worktree add` failed).
#[test]
fn a_tree_made_again_by_a_revert_is_packed_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    repo.write("docs/x.txt", "x\n");
    repo.commit_file("src/a.c", "a1\n", "base");
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    repo.commit_file("src/a.c", "a1 carried\n", "carry a1");
    repo.commit_file("docs/x.txt", "x changed\n", "change docs");
    repo.git(&["revert", "--no-edit", "HEAD"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("src/b.c", "upstream\n", "upstream adds to src");
    let onto = Oid::from_str(&repo.head()).expect("oid");

    let (result, _) = rebase_and_pack(&repo, &base, onto);
    assert_eq!(result.patches.len(), 3);
    let tip = result.tip.to_string();
    repo.git(&["update-ref", "refs/carry/candidate/test", &tip]);
    let missing = repo.git(&["rev-list", "--objects", "--missing=print", &tip]);
    assert!(
        !missing.lines().any(|l| l.starts_with('?')),
        "objects missing: {missing}"
    );
    let fsck = repo.git_output(&["fsck", "--full", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}

/// carry indexes its own pack (it knows every id, offset and CRC already); the index must be
/// the very file `git index-pack` makes of the same pack, and git must read the objects.
#[test]
fn the_pack_index_is_the_one_git_index_pack_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path());
    repo.commit_file("src/a.c", "a1\na2\na3\n", "base");
    let base = repo.head();
    repo.git(&["checkout", "-q", "-b", "series"]);
    for i in 0..40 {
        // Enough objects that the fan-out table has gaps and runs; one large enough to deflate.
        let big = if i == 7 {
            "x\n".repeat(40_000)
        } else {
            String::new()
        };
        repo.commit_file(
            &format!("src/f{i}.c"),
            &format!("{i}\n{big}"),
            &format!("carry {i}"),
        );
    }
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_file("src/a.c", "a1\na2\na3 upstream\n", "upstream a3");
    let onto = Oid::from_str(&repo.head()).expect("oid");

    let (result, stats) = rebase_and_pack(&repo, &base, onto);
    assert!(stats.objects > 100, "{stats:?}");

    let packs = repo.path.join(".git/objects/pack");
    let (pack, idx) = std::fs::read_dir(&packs)
        .expect("pack dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .map(|p| (p.clone(), p.with_extension("idx")))
        .next()
        .expect("carry wrote a pack");
    let ours = std::fs::read(&idx).expect("carry's index");
    let theirs_path = dir.path().join("git.idx");
    let index_pack = repo.git_output(&[
        "index-pack",
        "-o",
        theirs_path.to_str().expect("utf-8"),
        pack.to_str().expect("utf-8"),
    ]);
    assert!(
        index_pack.status.success(),
        "{}",
        String::from_utf8_lossy(&index_pack.stderr)
    );
    assert!(
        ours == std::fs::read(&theirs_path).expect("git's index"),
        "the indexes differ"
    );
    let verify = repo.git_output(&["verify-pack", idx.to_str().expect("utf-8")]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let tip = result.tip.to_string();
    assert_eq!(repo.git(&["show", &format!("{tip}:src/f39.c")]), "39");
}
