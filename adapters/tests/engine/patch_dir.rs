//! Patch directories applied in memory, compared with what `git am` makes of the same files.

use carry_adapters::patchfile;
use carry_adapters::rebase::apply::apply_patch_files;
use git2::Oid;

use crate::repo::TestRepo;

/// ```text
/// base --- p1 (edit, Upstream-Status trailer) --- p2 (binary) --- p3 (rename + mode) --- p4 (same subject as p1)
/// ```
#[test]
fn format_patch_files_apply_like_git_am() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    repo.write("src/a.c", "int a;\nint b;\n");
    repo.write("img.bin", "\0\x01\x02old");
    repo.commit_file("tools/run.sh", "echo hi\n", "base");
    let base = repo.head();
    repo.commit_file(
        "src/a.c",
        "int a;\nint b;\nint c;\n",
        "[carry] src: add c\n\nA body line.\n\nUpstream-Status: Pending\nSigned-off-by: Ada Carrier <ada@example.org>",
    );
    repo.commit_file("img.bin", "\0\x01\x02new and longer", "img: refresh");
    repo.git(&["mv", "tools/run.sh", "tools/start.sh"]);
    repo.git(&["update-index", "--chmod=+x", "tools/start.sh"]);
    repo.git(&["commit", "-q", "-m", "tools: rename and make executable"]);
    repo.commit_file(
        "src/a.c",
        "int a;\nint b;\nint c;\nint d;\n",
        "[carry] src: add c",
    );
    let tip = repo.head();
    let out = dir.path().join("patches");
    repo.git(&[
        "format-patch",
        "-q",
        "--binary",
        "-o",
        &out.display().to_string(),
        &format!("{base}..{tip}"),
    ]);

    let mut files: Vec<_> = std::fs::read_dir(&out)
        .expect("patches")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let parsed: Vec<(String, patchfile::PatchFile)> = files
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(path).expect("read patch");
            let parsed = patchfile::parse(&name, &text, 1).unwrap_or_else(|e| panic!("{e}"));
            (name, parsed)
        })
        .collect();
    let git = git2::Repository::open(&repo.path).expect("open");
    let commits =
        apply_patch_files(&git, Oid::from_str(&base).expect("oid"), &parsed).expect("applies");

    // git am on a fresh branch at the base is the oracle.
    repo.git(&["checkout", "-q", "-b", "am", &base]);
    let mut args = vec!["am".to_owned(), "-q".to_owned()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    repo.git(&args);
    let am = repo.git(&["rev-list", "--reverse", &format!("{base}..am")]);
    for (carry, am) in commits.iter().zip(am.lines()) {
        let show =
            |rev: &str, format: &str| repo.git(&["show", "-s", &format!("--format={format}"), rev]);
        let carry = carry.to_string();
        assert_eq!(
            repo.git(&["rev-parse", &format!("{carry}^{{tree}}")]),
            repo.git(&["rev-parse", &format!("{am}^{{tree}}")])
        );
        assert_eq!(show(&carry, "%an <%ae> %ad"), show(am, "%an <%ae> %ad"));
        assert_eq!(show(&carry, "%B"), show(am, "%B"));
    }
    assert_eq!(commits.len(), 4);
}

#[test]
fn dep3_plain_diffs_with_strip_levels_apply() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    let base = repo.commit_file("src/a.c", "one\ntwo\n", "base");
    let p2 = "Description: make two second\n longer explanation\nAuthor: Deb Packager <deb@example.org>\nForwarded: https://bugs.example.org/1\nLast-Update: 2024-05-01\n---\n--- pkg.orig/src/a.c\n+++ pkg/src/a.c\n@@ -1,2 +1,2 @@\n one\n-two\n+second\n";
    let p0 =
        "Subject: add three\n\n--- src/a.c\n+++ src/a.c\n@@ -1,2 +1,3 @@\n one\n second\n+three\n";
    let patches = vec![
        (
            "fix.patch".to_owned(),
            patchfile::parse("fix.patch", p2, 1).expect("p1 parses"),
        ),
        (
            "three.patch".to_owned(),
            patchfile::parse("three.patch", p0, 0).expect("p0 parses"),
        ),
    ];
    let git = git2::Repository::open(&repo.path).expect("open");
    let commits =
        apply_patch_files(&git, Oid::from_str(&base).expect("oid"), &patches).expect("applies");
    let last = commits.last().expect("two commits").to_string();
    assert_eq!(
        repo.git(&["show", &format!("{last}:src/a.c")]),
        "one\nsecond\nthree"
    );
    let first = commits[0].to_string();
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
fn a_patch_that_does_not_apply_names_its_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = TestRepo::init(dir.path().join("repo"));
    let base = repo.commit_file("a.c", "one\ntwo\n", "base");
    let text = "Subject: wrong context\n\n---\n a.c | 2 +-\n\ndiff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1,2 +1,2 @@\n one\n-TWO\n+2\n";
    let patches = vec![(
        "0001-wrong.patch".to_owned(),
        patchfile::parse("0001-wrong.patch", text, 1).expect("parses"),
    )];
    let git = git2::Repository::open(&repo.path).expect("open");
    let error = apply_patch_files(&git, Oid::from_str(&base).expect("oid"), &patches)
        .expect_err("does not apply");
    assert_eq!(error.file, "0001-wrong.patch");
    assert_eq!(error.line, 6);
    assert!(error.reason.contains("does not apply"), "{}", error.reason);
}
