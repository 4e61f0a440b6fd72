//! Applying text hunks to a file's content where `git apply` would place them.
//!
//! Each hunk is looked for at the line its new side names (earlier hunks have already moved
//! the content), then one line after, one before, two after, … as `git apply`'s `find_pos`
//! does: the nearest exact match of its old lines wins. A hunk that starts at the file's first
//! line must match there, and one without trailing context must match at the end, unless
//! nothing else fits: then carry places it as GNU patch would, and says so. No fuzz: context
//! is never dropped.

use std::borrow::Cow;

use super::parse::Hunk;

/// Why the hunks do not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkFailure {
    /// The hunk's position in the file's section (0-based).
    pub index: usize,
    /// Its `@@` line in the patch file.
    pub line: usize,
    /// Its header.
    pub header: String,
}

/// The content with every hunk applied, and notes on what `git apply` would have refused.
pub fn apply(content: &[u8], hunks: &[Hunk]) -> Result<(Vec<u8>, Vec<String>), HunkFailure> {
    let mut image: Vec<Cow<'_, [u8]>> = content
        .split_inclusive(|&b| b == b'\n')
        .map(Cow::Borrowed)
        .collect();
    let mut notes = Vec::new();
    // The new lines live in the hunks, which outlive `image`.
    for (index, hunk) in hunks.iter().enumerate() {
        let mut placed_as_gnu = false;
        let expected = hunk.new_start.saturating_sub(1);
        let match_beginning = hunk.old_start <= 1;
        let match_end = hunk.trailing == 0;
        let found = find(&image, &hunk.old, expected, match_beginning, match_end, true).or_else(|| {
            // GNU patch anchors a hunk by its context instead: at the start when it has less
            // context before its change than after (and starts at line 1), at the end when it
            // has less after than before.
            let gnu_beginning = hunk.leading < hunk.trailing && hunk.old_start <= 1;
            let gnu_end = hunk.trailing < hunk.leading;
            if (gnu_beginning, gnu_end) == (match_beginning, match_end) {
                return None;
            }
            let at = find(&image, &hunk.old, expected, gnu_beginning, gnu_end, false)?;
            placed_as_gnu = true;
            notes.push(format!(
                "hunk '{}' applied at line {}, away from the file's {} where git apply insists on it (GNU patch takes it)",
                hunk.header,
                at + 1,
                if match_beginning { "start" } else { "end" }
            ));
            Some(at)
        });
        let Some(at) = found else {
            return Err(HunkFailure {
                index,
                line: hunk.line,
                header: hunk.header.clone(),
            });
        };
        let end = at + hunk.new.len();
        image.splice(
            at..at + hunk.old.len(),
            hunk.new.iter().map(|line| Cow::Borrowed(line.as_slice())),
        );
        // GNU patch ends a line that had no newline in the patch when more lines follow it.
        if placed_as_gnu
            && end < image.len()
            && let Some(last) = image.get_mut(end.wrapping_sub(1))
            && !last.ends_with(b"\n")
        {
            last.to_mut().push(b'\n');
        }
    }
    Ok((image.concat(), notes))
}

fn find(
    image: &[Cow<'_, [u8]>],
    old: &[Vec<u8>],
    expected: usize,
    match_beginning: bool,
    match_end: bool,
    as_git: bool,
) -> Option<usize> {
    if old.len() > image.len() {
        return None;
    }
    let start = if match_beginning {
        0
    } else if match_end {
        image.len() - old.len()
    } else {
        expected.min(image.len())
    };
    // git compares the hunk's bytes with the file's at that line, so an old last line without
    // its newline also matches a longer line it begins (and the line is then replaced whole);
    // GNU patch compares whole lines.
    let fits = |at: usize| {
        at + old.len() <= image.len()
            && (!match_beginning || at == 0)
            && (!match_end || at + old.len() == image.len())
            && image[at..at + old.len()]
                .iter()
                .zip(old)
                .all(|(have, want)| {
                    let have: &[u8] = have;
                    have == want.as_slice()
                        || (as_git
                            && !match_end
                            && !want.ends_with(b"\n")
                            && have.starts_with(want))
                })
    };
    if fits(start) {
        return Some(start);
    }
    // Outwards from `start`: one after, one before, two after, …
    for distance in 1..=image.len() {
        if start + distance <= image.len() && fits(start + distance) {
            return Some(start + distance);
        }
        if distance <= start && fits(start - distance) {
            return Some(start - distance);
        }
        if start + distance > image.len() && distance > start {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunk(
        old_start: usize,
        new_start: usize,
        old: &[&str],
        new: &[&str],
        trailing: usize,
    ) -> Hunk {
        Hunk {
            line: 1,
            header: "@@".to_owned(),
            old_start,
            new_start,
            old: old.iter().map(|l| l.as_bytes().to_vec()).collect(),
            new: new.iter().map(|l| l.as_bytes().to_vec()).collect(),
            leading: 1,
            trailing,
        }
    }

    #[test]
    fn hunks_apply_at_an_offset() {
        let content = b"x\ny\nz\na\nb\nc\nd\n";
        // Written for a file without the first three lines.
        let h = hunk(1 + 1, 2, &["a\n", "b\n", "c\n"], &["a\n", "B\n", "c\n"], 1);
        let (out, notes) = apply(content, &[h]).expect("applies");
        assert_eq!(out, b"x\ny\nz\na\nB\nc\nd\n");
        assert!(notes.is_empty());
    }

    #[test]
    fn the_nearest_match_wins_after_before() {
        let content = b"k\nk\nk\nk\nk\n";
        let h = hunk(3, 3, &["k\n"], &["K\n"], 1);
        let (out, _) = apply(content, &[h]).expect("applies");
        assert_eq!(out, b"k\nk\nK\nk\nk\n");
    }

    #[test]
    fn a_hunk_at_the_start_must_match_there_or_is_noted() {
        let content = b"new\na\nb\n";
        let h = hunk(1, 1, &["a\n", "b\n"], &["a\n", "c\n"], 0);
        let (out, notes) = apply(content, &[h]).expect("applies, as GNU patch would");
        assert_eq!(out, b"new\na\nc\n");
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn missing_context_fails_with_the_hunk() {
        let h = hunk(2, 2, &["q\n"], &["r\n"], 1);
        let failure = apply(b"a\nb\n", &[h]).expect_err("no match");
        assert_eq!(failure.index, 0);
    }
}
