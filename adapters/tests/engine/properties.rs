//! Generated histories: a base, an upstream that moves, a series on the old base, some of
//! whose patches upstream also took. carry and git must agree on every patch.
//!
//! `CARRY_ORACLE_CASES` sets the number of histories (default 40); `CARRY_ORACLE_SEED` picks them
//! (see [`seed`]); a disagreement found with a random seed belongs in `corpus.rs` once minimized.

use proptest::prelude::*;

use crate::oracle;
use crate::repo::TestRepo;

const VOCABULARY: &[&str] = &[
    "{",
    "}",
    "",
    "return 0;",
    "x++;",
    "if (x) {",
    "foo();",
    "bar();",
    "/* comment */",
    "\tindented();",
];

#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, prop::sample::Index, usize),
    Insert(prop::sample::Index, prop::sample::Index, usize),
    Delete(prop::sample::Index, prop::sample::Index),
    DeleteFile(prop::sample::Index),
    AddFile(usize),
    Chmod(prop::sample::Index),
    Whitespace(prop::sample::Index, prop::sample::Index),
    /// `dN` turns from absent to a file, from a file to a directory, from a directory to a
    /// file: file/directory changes on either side.
    FileOrDirectory(usize),
    /// A `.c` file moves to a new name (git sees a rename).
    Rename(prop::sample::Index),
    /// `lN` becomes a symlink, or points somewhere else.
    Symlink(usize),
    /// A file whose name is not UTF-8 appears or grows.
    Latin(usize),
    /// Directory `dN` moves to a new name (git sees a directory rename).
    MoveDirectory(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        6 => (index(), index(), 0..VOCABULARY.len() + 4).prop_map(|(f, l, w)| Edit::Replace(f, l, w)),
        4 => (index(), index(), 0..VOCABULARY.len() + 4).prop_map(|(f, l, w)| Edit::Insert(f, l, w)),
        3 => (index(), index()).prop_map(|(f, l)| Edit::Delete(f, l)),
        1 => index().prop_map(Edit::DeleteFile),
        1 => (0..3usize).prop_map(Edit::AddFile),
        1 => index().prop_map(Edit::Chmod),
        1 => (index(), index()).prop_map(|(f, l)| Edit::Whitespace(f, l)),
        1 => (0..2usize).prop_map(Edit::FileOrDirectory),
        1 => index().prop_map(Edit::Rename),
        1 => (0..2usize).prop_map(Edit::Symlink),
        1 => (0..2usize).prop_map(Edit::Latin),
        1 => (0..2usize).prop_map(Edit::MoveDirectory),
    ]
}

fn word(w: usize, salt: &str) -> String {
    VOCABULARY
        .get(w)
        .map_or_else(|| format!("unique {salt} {w}"), |s| (*s).to_owned())
}

/// Applies `edit` to the working tree of `repo` (files `f0.c`…); returns false if it did nothing.
fn apply(repo: &TestRepo, edit: &Edit, salt: &str) -> bool {
    let mut files: Vec<String> = std::fs::read_dir(&repo.path)
        .expect("read tree")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "c")
        })
        .collect();
    files.sort();
    let read = |f: &str| -> Vec<String> {
        std::fs::read_to_string(repo.path.join(f))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let write = |f: &str, lines: &[String]| {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        repo.write(f, &text);
    };
    match edit {
        Edit::AddFile(n) => {
            let name = format!("new{n}.c");
            write(
                &name,
                &[format!("added {salt}"), "{".to_owned(), "}".to_owned()],
            );
            true
        }
        Edit::FileOrDirectory(n) => {
            let path = repo.path.join(format!("d{n}"));
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove directory");
                repo.write(&format!("d{n}"), &format!("file again {salt}\n"));
            } else if path.is_file() {
                std::fs::remove_file(&path).expect("remove file");
                repo.write(&format!("d{n}/inner.c"), &format!("inside {salt}\n"));
            } else {
                repo.write(&format!("d{n}"), &format!("file {salt}\n"));
            }
            true
        }
        Edit::Symlink(n) => {
            let path = repo.path.join(format!("l{n}"));
            let target = if std::fs::symlink_metadata(&path).is_ok() {
                std::fs::remove_file(&path).expect("remove link");
                format!("elsewhere-{salt}")
            } else {
                "f0.c".to_owned()
            };
            std::os::unix::fs::symlink(target, &path).expect("symlink");
            true
        }
        Edit::Latin(n) => {
            use std::os::unix::ffi::OsStrExt;
            let name = [&b"latin-\xe9"[..], n.to_string().as_bytes(), b".txt"].concat();
            let path = repo.path.join(std::ffi::OsStr::from_bytes(&name));
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("line {salt}\n"));
            std::fs::write(&path, text).expect("write");
            true
        }
        Edit::MoveDirectory(n) => {
            let path = repo.path.join(format!("d{n}"));
            if !path.is_dir() {
                return false;
            }
            std::fs::rename(&path, repo.path.join(format!("moved-{salt}-d{n}"))).expect("move");
            true
        }
        _ if files.is_empty() => false,
        Edit::Rename(f) => {
            let file = &files[f.index(files.len())];
            let to = format!("moved-{salt}-{file}");
            if repo.path.join(&to).exists() {
                return false;
            }
            std::fs::rename(repo.path.join(file), repo.path.join(&to)).expect("rename");
            true
        }
        Edit::Replace(f, l, w) | Edit::Insert(f, l, w) => {
            let file = &files[f.index(files.len())];
            let mut lines = read(file);
            let at = l.index(lines.len() + 1);
            let new = word(*w, salt);
            if matches!(edit, Edit::Replace(..)) && at < lines.len() {
                lines[at] = new;
            } else {
                lines.insert(at, new);
            }
            write(file, &lines);
            true
        }
        Edit::Delete(f, l) => {
            let file = &files[f.index(files.len())];
            let mut lines = read(file);
            if lines.is_empty() {
                return false;
            }
            lines.remove(l.index(lines.len()));
            write(file, &lines);
            true
        }
        Edit::Whitespace(f, l) => {
            let file = &files[f.index(files.len())];
            let mut lines = read(file);
            if lines.is_empty() {
                return false;
            }
            let at = l.index(lines.len());
            lines[at].push(' ');
            write(file, &lines);
            true
        }
        Edit::DeleteFile(f) => {
            std::fs::remove_file(repo.path.join(&files[f.index(files.len())])).expect("remove");
            true
        }
        Edit::Chmod(f) => {
            use std::os::unix::fs::PermissionsExt;
            let path = repo.path.join(&files[f.index(files.len())]);
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            let toggled = if mode & 0o111 == 0 { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(toggled))
                .expect("chmod");
            true
        }
    }
}

fn commit(repo: &TestRepo, edits: &[Edit], salt: &str) {
    let mut changed = false;
    for edit in edits {
        changed |= apply(repo, edit, salt);
    }
    repo.git(&["add", "-A"]);
    if changed && !repo.git(&["status", "--porcelain"]).is_empty() {
        repo.git(&["commit", "-q", "-m", &format!("change {salt}")]);
    }
}

/// A fixed seed keeps the suite (and CI) deterministic; `CARRY_ORACLE_SEED=random` explores new
/// histories, and `CARRY_ORACLE_SEED=<n>` replays one seed.
fn seed() -> proptest::test_runner::RngSeed {
    match std::env::var("CARRY_ORACLE_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(n) => n.parse().map_or(
            proptest::test_runner::RngSeed::Fixed(20_261_123),
            proptest::test_runner::RngSeed::Fixed,
        ),
        None => proptest::test_runner::RngSeed::Fixed(20_261_123),
    }
}

fn cases() -> u32 {
    std::env::var("CARRY_ORACLE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), rng_seed: seed(), failure_persistence: None, ..ProptestConfig::default() })]

    /// ```text
    /// base --- u1 --- … --- uN (+ cherry-picks of some series patches)   upstream
    ///     \--- s1 --- … --- sM                                           series
    /// ```
    #[test]
    fn carry_agrees_with_git_on_generated_histories(
        files in proptest::collection::vec(proptest::collection::vec(0..VOCABULARY.len() + 4, 3..14), 1..4),
        upstream in proptest::collection::vec(proptest::collection::vec(edit(), 1..3), 1..5),
        series in proptest::collection::vec(proptest::collection::vec(edit(), 1..3), 1..6),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = TestRepo::init(dir.path());
        for (i, words) in files.iter().enumerate() {
            let lines: Vec<String> = words.iter().map(|w| word(*w, &format!("base{i}"))).collect();
            repo.write(&format!("f{i}.c"), &(lines.join("\n") + "\n"));
        }
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "base"]);
        repo.git(&["branch", "series"]);
        for (i, edits) in upstream.iter().enumerate() {
            commit(&repo, edits, &format!("u{i}"));
        }
        repo.git(&["checkout", "-q", "series"]);
        for (i, edits) in series.iter().enumerate() {
            commit(&repo, edits, &format!("s{i}"));
        }
        repo.git(&["checkout", "-q", "main"]);
        let series_commits = repo.git(&["rev-list", "--reverse", "main..series"]);
        let series_commits: Vec<&str> = series_commits.lines().collect();
        for pick in &picks {
            if series_commits.is_empty() {
                break;
            }
            let chosen = series_commits[pick.index(series_commits.len())];
            if !repo.git_output(&["cherry-pick", "--allow-empty", chosen]).status.success() {
                repo.git_output(&["cherry-pick", "--abort"]);
            }
        }
        let base = repo.git(&["merge-base", "main", "series"]);
        let result = oracle::rebase(&repo, &base, "series", "main");
        if let Err(disagreement) = oracle::check(&repo, &base, "series", "main", &result) {
            // The history, so a minimal case can be rebuilt by hand for the corpus.
            let history = repo.git(&["log", "-p", "--reverse", "--format=== %h %s", &format!("{base}^!"), "main", "series"]);
            return Err(TestCaseError::fail(format!("{disagreement}\n{history}")));
        }
    }

    /// The same generated series as patch files: `git format-patch` output, as is, with CRLF
    /// line ends, or quilt-style (`Index:` headers, `pkg.orig/` prefixes) where a patch only
    /// edits, adds or deletes text. Applied by carry onto the base, every patch gives the tree
    /// of the commit it was made from (what `git am` gives back).
    #[test]
    fn patch_files_of_generated_series_give_the_series_trees(
        files in proptest::collection::vec(proptest::collection::vec(0..VOCABULARY.len() + 4, 3..14), 1..4),
        series in proptest::collection::vec(proptest::collection::vec(edit(), 1..3), 1..6),
        form in 0..3u8,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = TestRepo::init(dir.path().join("repo"));
        for (i, words) in files.iter().enumerate() {
            let lines: Vec<String> = words.iter().map(|w| word(*w, &format!("base{i}"))).collect();
            repo.write(&format!("f{i}.c"), &(lines.join("\n") + "\n"));
        }
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "base"]);
        let base = repo.head();
        for (i, edits) in series.iter().enumerate() {
            commit(&repo, edits, &format!("s{i}"));
        }
        let commits = repo.git(&["rev-list", "--reverse", &format!("{base}..HEAD")]);
        let commits: Vec<&str> = commits.lines().collect();
        let out = dir.path().join("patches");
        repo.git(&["format-patch", "-q", "--binary", "-o", &out.display().to_string(), &format!("{base}..HEAD")]);
        let mut names: Vec<_> = std::fs::read_dir(&out).expect("patches").map(|e| e.expect("entry").path()).collect();
        names.sort();
        let inputs: Vec<carry_adapters::rebase::apply::PatchFileInput> = names
            .iter()
            .map(|path| {
                let text = std::fs::read(path).expect("read");
                let bytes = match form {
                    1 => String::from_utf8_lossy(&text).replace('\n', "\r\n").into_bytes(),
                    2 => quilt(&String::from_utf8_lossy(&text)).map_or(text, String::into_bytes),
                    _ => text,
                };
                carry_adapters::rebase::apply::PatchFileInput {
                    path: path.file_name().expect("name").to_string_lossy().into_owned(),
                    bytes,
                    strip: 1,
                }
            })
            .collect();
        let git = git2::Repository::open(&repo.path).expect("open");
        let applied = carry_adapters::rebase::apply::apply_patch_files(
            &git,
            git2::Oid::from_str(&base).expect("oid"),
            &inputs,
        )
        .expect("git works");
        prop_assert_eq!(applied.len(), commits.len());
        for ((result, commit), input) in applied.iter().zip(&commits).zip(&inputs) {
            let carry_adapters::rebase::apply::AppliedFile::Commit { id, .. } = result else {
                return Err(TestCaseError::fail(format!("{}: {result:?}\n{}", input.path, String::from_utf8_lossy(&input.bytes))));
            };
            prop_assert_eq!(
                repo.git(&["rev-parse", &format!("{id}^{{tree}}")]),
                repo.git(&["rev-parse", &format!("{commit}^{{tree}}")]),
                "{} (form {})", input.path, form
            );
        }
    }
}

/// A format-patch mail rewritten as quilt writes patches, when every section only edits, adds
/// or deletes a text file; `None` otherwise.
fn quilt(mail: &str) -> Option<String> {
    let mut out = String::new();
    let mut lines = mail.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(names) = line.strip_prefix("diff --git a/") {
            let path = names.split(" b/").next()?.to_owned();
            out.push_str(&format!("Index: pkg/{path}\n===================================================================\n"));
            // Extended headers: only `index` and new/deleted file modes of 100644 are plain.
            while let Some(next) = lines.peek() {
                if next.starts_with("index ")
                    || *next == "new file mode 100644\n"
                    || *next == "deleted file mode 100644\n"
                {
                    lines.next();
                } else if next.starts_with("--- ")
                    || next.starts_with("@@")
                    || next.starts_with("diff --git")
                {
                    break;
                } else {
                    return None;
                }
            }
            continue;
        }
        if line.starts_with("GIT binary patch") {
            return None;
        }
        if let Some(rest) = line.strip_prefix("--- a/") {
            out.push_str(&format!("--- pkg.orig/{rest}"));
        } else if let Some(rest) = line.strip_prefix("+++ b/") {
            out.push_str(&format!("+++ pkg/{rest}"));
        } else {
            out.push_str(line);
        }
    }
    Some(out)
}
