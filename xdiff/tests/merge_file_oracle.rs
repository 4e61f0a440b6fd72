//! `git merge-file --diff-algorithm=histogram` is the oracle for every merge this crate makes:
//! the same bytes out (merged text, conflict markers, labels) and the same conflict count.
//!
//! The inputs are generated to be hard: few distinct lines (braces, blank lines, one
//! statement repeated), so that where a change goes is ambiguous and git's histogram, its
//! fallback to Myers past 64 repeats, its change compaction and its conflict refinement all
//! decide the result. `CARRY_XDIFF_CASES` (default 400) and `CARRY_XDIFF_SEED` (default
//! fixed) widen the campaign; the README gives the million-case command.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use carry_xdiff::Options;
use carry_xdiff::Style;

/// splitmix64: a small, seedable generator, so a failing case is named by its seed and index.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).expect("below n")
    }
}

/// Lines that repeat, as code does.
const LINES: &[&str] = &[
    "",
    "{",
    "}",
    "  x;",
    "  y;",
    "f() {",
    "/* c */",
    "A",
    "B",
    "\treturn 0;",
    "#endif",
];

/// One generated case: base, ours, theirs, and the style asked for.
struct Case {
    base: Vec<u8>,
    ours: Vec<u8>,
    theirs: Vec<u8>,
    style: Style,
}

fn render(lines: &[String], newline_at_end: bool, crlf: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut text = lines.join(eol);
    if newline_at_end && !lines.is_empty() {
        text.push_str(eol);
    }
    text.into_bytes()
}

fn edited(rng: &mut Rng, base: &[String], side: &str) -> Vec<String> {
    let mut lines = base.to_vec();
    for edit in 0..=rng.below(3) {
        let new = if rng.below(3) == 0 {
            format!("{side} {edit} {}", rng.below(4))
        } else {
            LINES[rng.below(LINES.len())].to_owned()
        };
        let at = rng.below(lines.len() + 1);
        match rng.below(4) {
            0 if at < lines.len() => lines[at] = new,
            1 if at < lines.len() => {
                let end = (at + 1 + rng.below(4)).min(lines.len());
                lines.drain(at..end);
            }
            2 => {
                // A block moved: the rarest lines move, which is what histogram anchors on.
                if at < lines.len() {
                    let end = (at + 1 + rng.below(5)).min(lines.len());
                    let block: Vec<String> = lines.drain(at..end).collect();
                    let to = rng.below(lines.len() + 1);
                    lines.splice(to..to, block);
                }
            }
            _ => {
                for _ in 0..=rng.below(3) {
                    lines.insert(at, new.clone());
                }
            }
        }
    }
    lines
}

fn case(seed: u64, index: u64) -> Case {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
    // Mostly short texts; some past 64 repeats of a line, where git's histogram falls back.
    let most = if rng.below(10) == 0 { 160 } else { 30 };
    let base: Vec<String> = (0..rng.below(most))
        .map(|i| {
            if rng.below(8) == 0 {
                format!("line {i}")
            } else {
                LINES[rng.below(LINES.len())].to_owned()
            }
        })
        .collect();
    let crlf = rng.below(20) == 0;
    let ours = edited(&mut rng, &base, "ours");
    let theirs = edited(&mut rng, &base, "theirs");
    let end = |rng: &mut Rng| rng.below(12) != 0;
    Case {
        base: render(&base, end(&mut rng), crlf),
        ours: render(&ours, end(&mut rng), crlf),
        theirs: render(&theirs, end(&mut rng), crlf),
        style: [
            Style::Merge,
            Style::Merge,
            Style::Diff3,
            Style::ZealousDiff3,
        ][rng.below(4)],
    }
}

/// git's answer: the bytes it prints and its exit code (the conflict count, at most 127).
fn git_merge_file(dir: &Path, case: &Case) -> (Vec<u8>, i32) {
    for (name, contents) in [
        ("ours", &case.ours),
        ("base", &case.base),
        ("theirs", &case.theirs),
    ] {
        std::fs::File::create(dir.join(name))
            .and_then(|mut f| f.write_all(contents))
            .expect("write an input");
    }
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["merge-file", "-p", "--diff-algorithm=histogram"]);
    match case.style {
        Style::Merge => {}
        Style::Diff3 => {
            command.arg("--diff3");
        }
        Style::ZealousDiff3 => {
            command.arg("--zdiff3");
        }
    }
    let output = command
        .args(["ours", "base", "theirs"])
        .output()
        .expect("run git merge-file");
    (output.stdout, output.status.code().expect("an exit code"))
}

fn options(style: Style) -> Options {
    let label = |l: &str| Some(std::ffi::CString::new(l).expect("no NUL"));
    Options {
        labels: [label("base"), label("ours"), label("theirs")],
        ..Options::merge_file().with_style(style)
    }
}

/// Runs cases `start, start + step, …` below `cases`; returns the first difference.
fn campaign(seed: u64, start: u64, step: u64, cases: u64) -> Result<u64, String> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut conflicted = 0;
    let mut index = start;
    while index < cases {
        let case = case(seed, index);
        let (git_text, git_code) = git_merge_file(dir.path(), &case);
        let carry = carry_xdiff::merge(&case.base, &case.ours, &case.theirs, &options(case.style))
            .map_err(|error| format!("case {index} (seed {seed}): {error}"))?;
        let carry_code = i32::try_from(carry.conflicts.min(127)).expect("small");
        if carry.text != git_text || carry_code != git_code {
            return Err(format!(
                "case {index} (seed {seed}, {:?}) differs from git merge-file:\n\
                 git ({git_code} conflicts):\n{}\ncarry ({carry_code}):\n{}",
                case.style,
                String::from_utf8_lossy(&git_text),
                String::from_utf8_lossy(&carry.text),
            ));
        }
        conflicted += u64::from(carry.conflicts > 0);
        index += step;
    }
    Ok(conflicted)
}

#[test]
fn merges_are_byte_for_byte_git_merge_files() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cases = env("CARRY_XDIFF_CASES", 400);
    let seed = env("CARRY_XDIFF_SEED", 20_261_202);
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get) as u64;
    let results: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || campaign(seed, t, threads, cases)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker"))
            .collect()
    });
    let mut conflicted = 0;
    for result in results {
        conflicted += result.unwrap_or_else(|difference| panic!("{difference}"));
    }
    eprintln!("{cases} merges (seed {seed}) agree with git merge-file; {conflicted} conflicted");
    // A campaign that never conflicts (or never merges) tests half of xdl_merge.
    assert!(cases < 50 || (conflicted > cases / 10 && conflicted < cases * 9 / 10));
}

#[test]
fn an_empty_side_taken_whole_is_an_empty_text() {
    let merged = carry_xdiff::merge(b"a\n", b"", b"a\n", &Options::ort()).expect("merges");
    assert_eq!(
        merged,
        carry_xdiff::Merged {
            text: Vec::new(),
            conflicts: 0
        }
    );
}

#[test]
fn inputs_past_gits_limit_are_refused_before_xdiff_sees_them() {
    let big = vec![0u8; carry_xdiff::MAX_SIZE + 1];
    assert_eq!(
        carry_xdiff::merge(b"", &big, b"", &Options::ort()),
        Err(carry_xdiff::Error::TooLarge { size: big.len() })
    );
}

/// What `git diff --no-index -U<context>` prints for each hunk: its header (without the
/// function context) and its context, removed and added lines, without "\ No newline"
/// markers.
fn git_diff_lines(dir: &Path, old: &[u8], new: &[u8], context: u32) -> Vec<u8> {
    std::fs::write(dir.join("old"), old).expect("write");
    std::fs::write(dir.join("new"), new).expect("write");
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "diff",
            "--no-index",
            "--no-color",
            "--no-ext-diff",
            &format!("-U{context}"),
            "old",
            "new",
        ])
        .output()
        .expect("run git diff");
    let mut lines = Vec::new();
    let mut in_hunk = false;
    for line in output.stdout.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"@@") {
            in_hunk = true;
            // The header without the function context git prints after it.
            let end = line[2..]
                .windows(2)
                .position(|w| w == b"@@")
                .map_or(line.len(), |p| p + 4);
            lines.extend_from_slice(&line[..end]);
            lines.push(b'\n');
        } else if in_hunk && matches!(line.first(), Some(b' ' | b'-' | b'+')) {
            lines.extend_from_slice(line);
        }
    }
    lines
}

/// carry's patch-ids hash the lines of git's default diff; they must be git's lines.
#[test]
fn diffs_are_the_lines_git_diff_prints() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cases = std::env::var("CARRY_XDIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(150, |n: u64| n / 4);
    for index in 0..cases {
        let mut case = case(7, index);
        // Every other case without context and with a long tail both share (git trims it
        // first), ending in a line end or not.
        let context = if index % 2 == 0 { 3 } else { 0 };
        if context == 0 {
            let mut tail: Vec<u8> = (0..(index % 7) * 150)
                .flat_map(|i| format!("shared tail line {i}\n").into_bytes())
                .collect();
            if index % 3 == 0 {
                tail.extend_from_slice(b"no line end");
            }
            for text in [&mut case.base, &mut case.ours] {
                if !text.is_empty() && !text.ends_with(b"\n") {
                    text.push(b'\n');
                }
                text.extend_from_slice(&tail);
            }
        }
        let git = git_diff_lines(dir.path(), &case.base, &case.ours, context);
        let mut carry = Vec::new();
        carry_xdiff::diff(
            &case.base,
            &case.ours,
            &carry_xdiff::DiffOptions {
                context,
                ..carry_xdiff::DiffOptions::git_default()
            },
            &mut |event| match event {
                carry_xdiff::DiffEvent::Hunk {
                    old_start,
                    old_lines,
                    new_start,
                    new_lines,
                } => {
                    let header =
                        carry_xdiff::DiffEvent::header(old_start, old_lines, new_start, new_lines);
                    carry.extend_from_slice(header.as_bytes());
                    carry.push(b'\n');
                }
                carry_xdiff::DiffEvent::Line { origin, text } => {
                    carry.push(origin);
                    carry.extend_from_slice(text);
                    if !text.ends_with(b"\n") {
                        carry.push(b'\n');
                    }
                }
            },
        )
        .expect("a diff");
        assert!(
            carry == git,
            "case {index}: git diff printed\n{}\ncarry's diff\n{}",
            String::from_utf8_lossy(&git),
            String::from_utf8_lossy(&carry)
        );
    }
}
