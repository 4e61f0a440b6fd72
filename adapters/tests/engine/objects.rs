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

    let stats = write_new_objects(batch.repo(), result.tip, onto).expect("pack");
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
