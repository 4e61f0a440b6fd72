//! Patch directories applied in memory, compared with what `git am` and `git apply` make of
//! the same files.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use carry_adapters::rebase::apply::AppliedFile;
use carry_adapters::rebase::apply::PatchFileInput;
use carry_adapters::rebase::apply::apply_patch_files;
use git2::Oid;

use crate::repo::TestRepo;
use crate::repo::hermetic;

fn input(path: &str, bytes: impl Into<Vec<u8>>, strip: u32) -> PatchFileInput {
    PatchFileInput {
        path: path.to_owned(),
        bytes: bytes.into(),
        strip,
    }
}

fn apply(repo: &TestRepo, base: &str, files: &[PatchFileInput]) -> Vec<AppliedFile> {
    let git = git2::Repository::open(&repo.path).expect("open");
    apply_patch_files(&git, Oid::from_str(base).expect("oid"), files).expect("git works")
}

fn commit_of(applied: &AppliedFile) -> String {
    match applied {
        AppliedFile::Commit { id, .. } => id.to_string(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

fn tree(repo: &TestRepo, commit: &str) -> String {
    repo.git(&["rev-parse", &format!("{commit}^{{tree}}")])
}

/// Patches written by `git format-patch base..tip`, as files.
fn format_patch(repo: &TestRepo, base: &str, tip: &str) -> Vec<(String, Vec<u8>)> {
    let out = tempfile::tempdir().expect("temp dir");
    repo.git(&[
        "format-patch",
        "-q",
        "--binary",
        "-o",
        &out.path().display().to_string(),
        &format!("{base}..{tip}"),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(out.path())
        .expect("patches")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            (
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(path).expect("read"),
            )
        })
        .collect()
}

/// `git am` of `files` on a branch at `base`; the trees of the commits it makes.
fn git_am_trees(repo: &TestRepo, base: &str, files: &[(String, Vec<u8>)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let branch = format!("am-{}", &base[..8]);
    repo.git(&["checkout", "-q", "-B", &branch, base]);
    let mut args = vec!["am".to_owned(), "-q".to_owned()];
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        args.push(path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    repo.git(&args);
    repo.git(&["rev-list", "--reverse", &format!("{base}..{branch}")])
        .lines()
        .map(|c| tree(repo, c))
        .collect()
}

/// ```text
/// base --- p1 (edit, Upstream-Status trailer) --- p2 (binary) --- p3 (rename + mode) --- p4 (same subject as p1)
/// ```
#[test]
fn format_patch_files_apply_like_git_am() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    repo.write("src/a.c", "int a;\nint b;\n");
    let big: String = (0..400)
        .flat_map(|i| [i.to_string(), "\x00\x01".to_owned()])
        .collect();
    repo.write("img.bin", &big);
    repo.commit_file("tools/run.sh", "echo hi\n", "base");
    let base = repo.head();
    repo.commit_file(
        "src/a.c",
        "int a;\nint b;\nint c;\n",
        "[carry] src: add c\n\nA body line.\n\nUpstream-Status: Pending\nSigned-off-by: Ada Carrier <ada@example.org>",
    );
    // A small change in a large binary: format-patch writes a delta.
    repo.commit_file(
        "img.bin",
        &big.replace("17\x00", "seventeen\x00"),
        "img: refresh",
    );
    repo.git(&["mv", "tools/run.sh", "tools/start.sh"]);
    repo.git(&["update-index", "--chmod=+x", "tools/start.sh"]);
    repo.git(&["commit", "-q", "-m", "tools: rename and make executable"]);
    repo.commit_file(
        "src/a.c",
        "int a;\nint b;\nint c;\nint d;\n",
        "[carry] src: add c",
    );
    let tip = repo.head();
    let files = format_patch(&repo, &base, &tip);
    assert!(
        files
            .iter()
            .any(|(_, bytes)| bytes.windows(6).any(|w| w == b"delta ")),
        "the binary change is a delta"
    );
    let inputs: Vec<_> = files.iter().map(|(n, b)| input(n, b.clone(), 1)).collect();
    let applied = apply(&repo, &base, &inputs);
    let commits: Vec<String> = applied.iter().map(commit_of).collect();
    let am_trees = git_am_trees(&repo, &base, &files);
    let am = repo.git(&["rev-list", "--reverse", &format!("{base}..HEAD")]);
    assert_eq!(commits.len(), 4);
    for ((carry, am_tree), am) in commits.iter().zip(&am_trees).zip(am.lines()) {
        let show =
            |rev: &str, format: &str| repo.git(&["show", "-s", &format!("--format={format}"), rev]);
        assert_eq!(&tree(&repo, carry), am_tree);
        assert_eq!(show(carry, "%an <%ae> %ad"), show(am, "%an <%ae> %ad"));
        assert_eq!(show(carry, "%B"), show(am, "%B"));
    }
}

#[test]
fn dep3_plain_diffs_with_strip_levels_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    let base = repo.commit_file("src/a.c", "one\ntwo\n", "base");
    let p2 = "Description: make two second\n longer explanation\nAuthor: Deb Packager <deb@example.org>\nForwarded: https://bugs.example.org/1\nLast-Update: 2024-05-01\n---\n--- pkg.orig/src/a.c\n+++ pkg/src/a.c\n@@ -1,2 +1,2 @@\n one\n-two\n+second\n";
    let p0 =
        "Subject: add three\n\n--- src/a.c\n+++ src/a.c\n@@ -1,2 +1,3 @@\n one\n second\n+three\n";
    let applied = apply(
        &repo,
        &base,
        &[input("fix.patch", p2, 1), input("three.patch", p0, 0)],
    );
    let last = commit_of(&applied[1]);
    assert_eq!(
        repo.git(&["show", &format!("{last}:src/a.c")]),
        "one\nsecond\nthree"
    );
    let first = commit_of(&applied[0]);
    assert_eq!(
        repo.git(&[
            "show",
            "-s",
            "--format=%an <%ae> %ad",
            "--date=short",
            &first
        ]),
        "Deb Packager <deb@example.org> 2024-05-01"
    );
    assert!(
        repo.git(&["show", "-s", "--format=%B", &first])
            .contains("Forwarded: https://bugs.example.org/1")
    );
}

#[test]
fn a_patch_that_does_not_apply_is_its_own_outcome() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    repo.write("b.c", "bee\n");
    let base = repo.commit_file("a.c", "one\ntwo\n", "base");
    let wrong = "Subject: wrong context\n\n---\n a.c | 2 +-\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n one\n-TWO\n+2\n";
    let other = "Subject: other file\n\ndiff --git a/b.c b/b.c\n--- a/b.c\n+++ b/b.c\n@@ -1 +1 @@\n-bee\n+BEE\n";
    let same = "Subject: same file\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n-one\n+1\n two\n";
    let unreadable = "Subject: not a diff\n\njust words\n";
    let applied = apply(
        &repo,
        &base,
        &[
            input("p/0001-wrong.patch", wrong, 1),
            input("p/0002-other.patch", other, 1),
            input("p/0003-same.patch", same, 1),
            input("p/0004-words.patch", unreadable, 1),
        ],
    );
    match &applied[0] {
        AppliedFile::Unusable { error, paths, .. } => {
            assert_eq!(error.file, "p/0001-wrong.patch");
            assert_eq!(error.line, 6);
            assert!(
                error.reason.contains("hunk #1") && error.reason.contains("a.c"),
                "{}",
                error.reason
            );
            assert_eq!(paths, &["a.c".to_owned()]);
        }
        other => panic!("expected unusable, got {other:?}"),
    }
    let other_commit = commit_of(&applied[1]);
    assert_eq!(repo.git(&["show", &format!("{other_commit}:b.c")]), "BEE");
    assert_eq!(
        repo.git(&["rev-parse", &format!("{other_commit}^")]),
        base,
        "applied onto the base, past the unusable patch"
    );
    assert!(
        matches!(&applied[2], AppliedFile::Waiting { waits_for, .. } if waits_for == &["p/0001-wrong.patch".to_owned()]),
        "{:?}",
        applied[2]
    );
    assert!(
        matches!(&applied[3], AppliedFile::Unusable { error, .. } if error.reason.contains("no diff")),
        "{:?}",
        applied[3]
    );
}

/// What real patch files hold and fixtures rarely do: CRLF line ends, quoted non-ASCII and
/// non-UTF-8 names, a `--- ` line in the message, a `--- `/`+++ ` pair inside a hunk, a mail
/// without its `From <commit>` line. Each gives `git am`'s tree.
#[test]
fn real_world_patch_files_give_git_ams_trees() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    repo.write("café.c", "int café;\n");
    std::fs::write(
        repo.path
            .join(std::ffi::OsStr::from_bytes(b"latin-\xe9.txt")),
        "old\n",
    )
    .expect("write a non-UTF-8 name");
    repo.write("notes.txt", "--- a\n+++ b\nkeep\n");
    let base = repo.commit_file("README", "readme\n", "base");
    repo.commit_file("café.c", "int café;\nint thé;\n", "café: add thé");
    std::fs::write(
        repo.path
            .join(std::ffi::OsStr::from_bytes(b"latin-\xe9.txt")),
        "new\n",
    )
    .expect("write");
    repo.git(&["add", "-A"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "latin: refresh\n\n--- a line that looks like a diff header\nand more text",
    ]);
    repo.commit_file(
        "notes.txt",
        "--- a\n+++ c\nkeep\n",
        "notes: a diff header as content",
    );
    let tip = repo.head();
    let mut files = format_patch(&repo, &base, &tip);
    assert!(
        String::from_utf8_lossy(&files[0].1).contains("\"a/caf\\303\\251.c\""),
        "git quotes the name"
    );
    // The first as CRLF, the second without its `From <commit>` line.
    files[0].1 = String::from_utf8_lossy(&files[0].1)
        .replace('\n', "\r\n")
        .into_bytes();
    let second = String::from_utf8_lossy(&files[1].1).into_owned();
    files[1].1 = second
        .split_once('\n')
        .expect("a first line")
        .1
        .as_bytes()
        .to_vec();
    let inputs: Vec<_> = files.iter().map(|(n, b)| input(n, b.clone(), 1)).collect();
    let applied = apply(&repo, &base, &inputs);
    let am_trees = git_am_trees(&repo, &base, &files);
    for (carry, am_tree) in applied.iter().zip(&am_trees) {
        assert_eq!(&tree(&repo, &commit_of(carry)), am_tree);
    }
    assert!(
        matches!(&applied[0], AppliedFile::Commit { notes, .. } if notes.iter().any(|n| n.contains("CRLF"))),
        "the CRLF removal is noted"
    );
    // git am cuts the message at the `--- ` line; carry keeps it.
    let message = repo.git(&["show", "-s", "--format=%B", &commit_of(&applied[1])]);
    assert!(message.contains("and more text"), "{message}");
}

/// A symlink added by one patch and a file beneath it by the next: `git am` refuses the second
/// ("beyond a symbolic link"), and so does carry. Paths out of the repository and into `.git`
/// are refused too.
#[test]
fn paths_never_escape_through_symlinks_dot_dot_or_dot_git() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    let base = repo.commit_file("README", "readme\n", "base");
    let link = "Subject: link\n\ndiff --git a/lib b/lib\nnew file mode 120000\n--- /dev/null\n+++ b/lib\n@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n";
    let beneath = "Subject: beneath\n\ndiff --git a/lib/passwd b/lib/passwd\nnew file mode 100644\n--- /dev/null\n+++ b/lib/passwd\n@@ -0,0 +1 @@\n+root\n";
    let dotdot = "Subject: out\n\ndiff --git a/../x b/../x\nnew file mode 100644\n--- /dev/null\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n";
    let dotgit = "Subject: hooks\n\ndiff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\nnew file mode 100755\n--- /dev/null\n+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+x\n";
    let applied = apply(
        &repo,
        &base,
        &[
            input("link.patch", link, 1),
            input("beneath.patch", beneath, 1),
            input("dotdot.patch", dotdot, 1),
            input("dotgit.patch", dotgit, 1),
        ],
    );
    let link_commit = commit_of(&applied[0]);
    assert_eq!(
        repo.git(&["ls-tree", &link_commit, "lib"])
            .split(' ')
            .next(),
        Some("120000")
    );
    for (index, words) in [(1, "symbolic link"), (2, "leaves"), (3, ".git")] {
        assert!(
            matches!(&applied[index], AppliedFile::Unusable { error, .. } if error.reason.contains(words)),
            "{:?}",
            applied[index]
        );
    }
    // git am agrees on the symlink.
    repo.git(&["checkout", "-q", "-B", "am", &base]);
    let path = dir.path().join("both.mbox");
    std::fs::write(&path, format!("From 0 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\n{link}\nFrom 0 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\n{beneath}")).expect("write");
    let am = repo.git_output(&["am", "-q", &path.display().to_string()]);
    assert!(!am.status.success());
    assert!(
        String::from_utf8_lossy(&am.stderr).contains("beyond a symbolic link"),
        "{}",
        String::from_utf8_lossy(&am.stderr)
    );
}

/// A tiny deterministic generator (xorshift), so the oracle needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).expect("small")
    }
}

fn random_lines(rng: &mut Rng, count: usize) -> Vec<String> {
    // Few distinct lines, so a hunk's context often fits at several places.
    const WORDS: &[&str] = &["{", "}", "", "return 0;", "x++;", "/* c */"];
    (0..count)
        .map(|_| {
            if rng.below(3) == 0 {
                format!("line {}", rng.below(1000))
            } else {
                WORDS[rng.below(WORDS.len())].to_owned()
            }
        })
        .collect()
}

fn joined(lines: &[String], final_newline: bool) -> String {
    let mut text = lines.join("\n");
    if final_newline && !lines.is_empty() {
        text.push('\n');
    }
    text
}

fn run(dir: &std::path::Path, program: &str, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir));
    hermetic(&mut command).output().expect("runs")
}

/// Hunk placement against `git apply` itself: a diff made on one text is applied to that
/// text moved around (lines inserted and deleted elsewhere), on repetitive lines where the
/// context fits at several places. Where git refuses and carry places a hunk as GNU patch
/// would (noted), GNU `patch -F0` must agree with carry.
#[test]
fn hunks_land_where_git_apply_puts_them() {
    let cases: u64 = std::env::var("CARRY_APPLY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150);
    let seed: u64 = std::env::var("CARRY_ORACLE_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_261_202);
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("w");
    let (mut agreed, mut lenient) = (0, 0);
    for case in 0..cases {
        let mut rng = Rng(seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(case * 2 + 1)
            | 1);
        let count = 5 + rng.below(40);
        let base = random_lines(&mut rng, count);
        let final_newline = rng.below(8) != 0;
        let mut edited = base.clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(edited.len() + 1);
            match rng.below(3) {
                0 if at < edited.len() => {
                    edited.remove(at);
                }
                1 if at < edited.len() => edited[at] = format!("changed {}", rng.below(100)),
                _ => edited.insert(at, format!("added {}", rng.below(100))),
            }
        }
        let mut moved = base.clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(moved.len() + 1);
            if rng.below(3) == 0 && at < moved.len() {
                moved.remove(at);
            } else {
                let count = 1 + rng.below(3);
                let new = random_lines(&mut rng, count);
                for (i, line) in new.into_iter().enumerate() {
                    moved.insert(at + i, line);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("old")).expect("dir");
        std::fs::create_dir_all(work.join("new")).expect("dir");
        std::fs::write(work.join("old/f"), joined(&base, final_newline)).expect("write");
        std::fs::write(work.join("new/f"), joined(&edited, final_newline)).expect("write");
        let diff = run(&work, "git", &["diff", "--no-index", "old/f", "new/f"]);
        let diff = String::from_utf8_lossy(&diff.stdout)
            .replace("a/old/f", "a/f")
            .replace("b/new/f", "b/f");
        if diff.is_empty() {
            continue;
        }
        std::fs::write(work.join("change.patch"), &diff).expect("write");
        std::fs::write(work.join("f"), joined(&moved, final_newline)).expect("write");

        let files = {
            let lines: Vec<&[u8]> = diff.as_bytes().split_inclusive(|&b| b == b'\n').collect();
            carry_adapters::diff::parse::parse(&lines, 1, 1).expect("git's diff parses")
        };
        let carry = carry_adapters::diff::hunks::apply(
            joined(&moved, final_newline).as_bytes(),
            &files[0].hunks,
        );
        let git = run(&work, "git", &["apply", "change.patch"]);
        let git_result = std::fs::read(work.join("f")).expect("read");
        match (&carry, git.status.success()) {
            (Ok((text, _)), true) => {
                assert_eq!(
                    String::from_utf8_lossy(text),
                    String::from_utf8_lossy(&git_result),
                    "case {case}: carry and git apply place the hunks differently\n{diff}"
                );
                agreed += 1;
            }
            (Err(_), false) => agreed += 1,
            (Ok((text, notes)), false) => {
                assert!(
                    !notes.is_empty(),
                    "case {case}: carry applies what git refuses, without saying so\n{diff}\nonto:\n{:?}\ngit: {}",
                    joined(&moved, final_newline),
                    String::from_utf8_lossy(&git.stderr)
                );
                std::fs::write(work.join("f"), joined(&moved, final_newline)).expect("write");
                let gnu = run(&work, "patch", &["-p1", "-F0", "-s", "-i", "change.patch"]);
                assert!(
                    gnu.status.success(),
                    "case {case}: carry applies what git and GNU patch refuse\n{diff}\nonto:\n{}\nGNU patch: {}",
                    joined(&moved, final_newline),
                    String::from_utf8_lossy(&gnu.stdout)
                );
                let gnu_result = std::fs::read(work.join("f")).expect("read");
                assert_eq!(
                    String::from_utf8_lossy(text),
                    String::from_utf8_lossy(&gnu_result),
                    "case {case}: carry and GNU patch differ\n{diff}\nonto:\n{:?}",
                    joined(&moved, final_newline)
                );
                lenient += 1;
            }
            (Err(failure), true) => panic!(
                "case {case}: git apply takes it, carry refuses hunk {}\n{diff}\nonto:\n{:?}\ngit:\n{:?}",
                failure.index + 1,
                joined(&moved, final_newline),
                String::from_utf8_lossy(&git_result)
            ),
        }
    }
    eprintln!("{agreed} agree with git apply, {lenient} placed as GNU patch does");
    assert!(agreed > 0);
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    const SAMPLE: &str = "From 1234567890abcdef1234567890abcdef12345678 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] x\nContent-Transfer-Encoding: 8bit\n\nbody\n---\n a | 2 +-\n\ndiff --git a/a b/a\nindex 1111111..2222222 100644\n--- a/a\n+++ b/a\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n\\ No newline at end of file\ndiff --git \"a/q\\303\\251\" \"b/q\\303\\251\"\nnew file mode 100755\n--- /dev/null\n+++ \"b/q\\303\\251\"\n@@ -0,0 +1 @@\n+x\ndiff --git a/bin b/bin\nGIT binary patch\nliteral 5\nMcmZQzWMX9C0000D0RR91\n\nliteral 0\nHcmV?d00001\n\n-- \n2.47.3\n";

    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 0..12),
            any::<bool>(),
        )
            .prop_map(|(edits, crlf)| {
                let mut bytes = SAMPLE.as_bytes().to_vec();
                if crlf {
                    bytes = String::from_utf8_lossy(&bytes)
                        .replace('\n', "\r\n")
                        .into_bytes();
                }
                for (at, byte, kind) in edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = at.index(bytes.len());
                    match kind {
                        0 => bytes[i] = byte,
                        1 => bytes.insert(i, byte),
                        2 => {
                            bytes.remove(i);
                        }
                        _ => bytes.truncate(i),
                    }
                }
                bytes
            })
    }

    fn cases() -> u32 {
        std::env::var("CARRY_FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(300)
    }

    /// Mangled patch files, and random bytes, are refused or applied: never a panic.
    #[test]
    fn patch_files_never_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = TestRepo::init(dir.path().join("repo"));
        repo.write("q\u{e9}", "");
        let base = repo.commit_file("a", "one\ntwo\nthree", "base");
        let git = git2::Repository::open(&repo.path).expect("open");
        let base = Oid::from_str(&base).expect("oid");
        let seed = match std::env::var("CARRY_ORACLE_SEED").ok().as_deref() {
            Some("random") => proptest::test_runner::RngSeed::Random,
            Some(n) => proptest::test_runner::RngSeed::Fixed(n.parse().unwrap_or(20_261_202)),
            None => proptest::test_runner::RngSeed::Fixed(20_261_202),
        };
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            rng_seed: seed,
            ..ProptestConfig::default()
        });
        let input_bytes = prop_oneof![mutated(), proptest::collection::vec(any::<u8>(), 0..400)];
        runner
            .run(&(input_bytes, 0u32..3), |(bytes, strip)| {
                let applied = apply_patch_files(&git, base, &[input("p/x.patch", bytes, strip)])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(applied.len(), 1);
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{failure}"));
    }
}

/// A copy (`git format-patch -C --find-copies-harder`) keeps its source and makes the copy,
/// with its edits, as `git am` does.
#[test]
fn copies_apply_like_git_am() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    let text = (1..=20).fold(String::new(), |mut text, i| {
        text.push_str(&format!("line {i}\n"));
        text
    });
    let base = repo.commit_file("src/a.c", &text, "base");
    repo.write("src/b.c", &text.replace("line 7\n", "line seven\n"));
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "copy a to b"]);
    let tip = repo.head();
    let out = tempfile::tempdir().expect("temp dir");
    repo.git(&[
        "format-patch",
        "-q",
        "-C",
        "--find-copies-harder",
        "-o",
        &out.path().display().to_string(),
        &format!("{base}..{tip}"),
    ]);
    let path = std::fs::read_dir(out.path())
        .expect("dir")
        .next()
        .expect("one patch")
        .expect("entry")
        .path();
    let bytes = std::fs::read(&path).expect("read");
    assert!(
        String::from_utf8_lossy(&bytes).contains("copy from src/a.c"),
        "a copy"
    );
    let applied = apply(&repo, &base, &[input("copy.patch", bytes, 1)]);
    assert_eq!(tree(&repo, &commit_of(&applied[0])), tree(&repo, &tip));
}
