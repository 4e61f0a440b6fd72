//! git's own histogram diff (`xdiff/xhistogram.c`), to know when gix-merge's diff is git's.
//!
//! carry merges file contents in process with gix-merge, whose histogram diff (imara-diff)
//! usually finds git's changes, but not always: it trims the common ends first (git does not),
//! and git anchors on the rarest line common to both sides even where that makes a moved
//! block. Where the two disagree, git itself merges the file. This is the raw diff only;
//! git's clean-up of ambiguous placements (`xdl_change_compact`) runs on it afterwards, as
//! imara-diff's does on its own.

use std::collections::HashMap;

/// How often a line may occur and still anchor the diff (git's `max_chain_length`).
const MAX_COUNT: u32 = 64;

/// Which lines of `before` are removed and which of `after` are added, as git's histogram
/// diff says; `None` where git would fall back to its classic (Myers) diff, whose result
/// this does not compute. Lines are compared by their ids.
pub(crate) fn diff(before: &[u32], after: &[u32]) -> Option<(Vec<bool>, Vec<bool>)> {
    let mut state = Histogram {
        a: before,
        b: after,
        removed: vec![false; before.len()],
        added: vec![false; after.len()],
    };
    state.diff(1, before.len(), 1, after.len())?;
    Some((state.removed, state.added))
}

/// Lines as ids, equal ids for equal lines (each line with its newline, as git compares).
pub(crate) fn line_ids<'a>(texts: [&'a [u8]; 2]) -> [Vec<u32>; 2] {
    let mut ids: HashMap<&'a [u8], u32> = HashMap::new();
    texts.map(|text| {
        text.split_inclusive(|&b| b == b'\n')
            .map(|line| {
                let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                *ids.entry(line).or_insert(next)
            })
            .collect()
    })
}

/// The state of one diff. Line numbers are 1-based, as in git's code, so that 0 can mean
/// "none" the way git's does.
struct Histogram<'a> {
    a: &'a [u32],
    b: &'a [u32],
    removed: Vec<bool>,
    added: Vec<bool>,
}

/// A common run: lines `begin1..=end1` of `a` equal `begin2..=end2` of `b`.
#[derive(Debug, Default, Clone, Copy)]
struct Region {
    begin1: usize,
    end1: usize,
    begin2: usize,
    end2: usize,
}

/// Where each line of a range of `a` occurs: its line's occurrence count and the next line
/// with the same content.
struct Index {
    /// Per line id: the first line of the range holding it, and how often it occurs.
    records: HashMap<u32, (usize, u32)>,
    /// Per line of the range (from `line1`): the next line with the same content, or 0.
    next: Vec<usize>,
    line1: usize,
    /// The lowest occurrence count of an anchor so far.
    count: u32,
    has_common: bool,
}

impl Histogram<'_> {
    fn line_a(&self, line: usize) -> u32 {
        self.a[line - 1]
    }

    fn line_b(&self, line: usize) -> u32 {
        self.b[line - 1]
    }

    /// `histogram_diff`; `None` for git's fall-back to the classic diff.
    fn diff(
        &mut self,
        mut line1: usize,
        mut count1: usize,
        mut line2: usize,
        mut count2: usize,
    ) -> Option<()> {
        loop {
            if count1 == 0 {
                self.added[line2 - 1..line2 - 1 + count2].fill(true);
                return Some(());
            }
            if count2 == 0 {
                self.removed[line1 - 1..line1 - 1 + count1].fill(true);
                return Some(());
            }
            let lcs = self.find_lcs(line1, count1, line2, count2)?;
            if lcs.begin1 == 0 && lcs.begin2 == 0 {
                self.removed[line1 - 1..line1 - 1 + count1].fill(true);
                self.added[line2 - 1..line2 - 1 + count2].fill(true);
                return Some(());
            }
            self.diff(line1, lcs.begin1 - line1, line2, lcs.begin2 - line2)?;
            let (end1, end2) = (line1 + count1 - 1, line2 + count2 - 1);
            count1 = end1 - lcs.end1;
            line1 = lcs.end1 + 1;
            count2 = end2 - lcs.end2;
            line2 = lcs.end2 + 1;
        }
    }

    /// `find_lcs`: the common run to split at, or `None` for the classic fall-back.
    fn find_lcs(&self, line1: usize, count1: usize, line2: usize, count2: usize) -> Option<Region> {
        let end1 = line1 + count1 - 1;
        let mut index = Index {
            records: HashMap::new(),
            next: vec![0; count1],
            line1,
            count: MAX_COUNT + 1,
            has_common: false,
        };
        // scanA: from the last line back, so each record ends at its first occurrence.
        for ptr in (line1..=end1).rev() {
            let record = index.records.entry(self.line_a(ptr)).or_insert((0, 0));
            if record.1 > 0 {
                index.next[ptr - line1] = record.0;
            }
            record.0 = ptr;
            record.1 = record.1.saturating_add(1);
        }
        let mut lcs = Region::default();
        let mut b_ptr = line2;
        while b_ptr < line2 + count2 {
            b_ptr = self.try_lcs(&mut index, &mut lcs, b_ptr, line1, count1, line2, count2);
        }
        if index.has_common && MAX_COUNT < index.count {
            return None;
        }
        Some(lcs)
    }

    /// `try_lcs`: the common runs through line `b_ptr` of `b`; returns the next line to try.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors git's try_lcs, argument for argument"
    )]
    fn try_lcs(
        &self,
        index: &mut Index,
        lcs: &mut Region,
        b_ptr: usize,
        line1: usize,
        count1: usize,
        line2: usize,
        count2: usize,
    ) -> usize {
        let mut b_next = b_ptr + 1;
        let Some(&(first, count)) = index.records.get(&self.line_b(b_ptr)) else {
            return b_next;
        };
        index.has_common = true;
        if count > index.count {
            return b_next;
        }
        let (end1, end2) = (line1 + count1 - 1, line2 + count2 - 1);
        let count_at = |index: &Index, line: usize| {
            index
                .records
                .get(&self.line_a(line))
                .map_or(u32::MAX, |r| r.1)
        };
        let mut a_start = first;
        loop {
            let mut next = index.next[a_start - index.line1];
            let (mut a_s, mut b_s, mut a_e, mut b_e) = (a_start, b_ptr, a_start, b_ptr);
            let mut run_count = count;
            while line1 < a_s && line2 < b_s && self.line_a(a_s - 1) == self.line_b(b_s - 1) {
                a_s -= 1;
                b_s -= 1;
                if 1 < run_count {
                    run_count = run_count.min(count_at(index, a_s));
                }
            }
            while a_e < end1 && b_e < end2 && self.line_a(a_e + 1) == self.line_b(b_e + 1) {
                a_e += 1;
                b_e += 1;
                if 1 < run_count {
                    run_count = run_count.min(count_at(index, a_e));
                }
            }
            if b_next <= b_e {
                b_next = b_e + 1;
            }
            if lcs.end1 - lcs.begin1 < a_e - a_s || run_count < index.count {
                *lcs = Region {
                    begin1: a_s,
                    end1: a_e,
                    begin2: b_s,
                    end2: b_e,
                };
                index.count = run_count;
            }
            if next == 0 {
                break;
            }
            while next != 0 && next <= a_e {
                next = index.next[next - index.line1];
            }
            if next == 0 {
                break;
            }
            a_start = next;
        }
        b_next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(before: &str, after: &str) -> (Vec<usize>, Vec<usize>) {
        let [a, b] = line_ids([before.as_bytes(), after.as_bytes()]);
        let (removed, added) = diff(&a, &b).expect("no fall-back");
        let lines = |flags: Vec<bool>| {
            flags
                .iter()
                .enumerate()
                .filter(|(_, f)| **f)
                .map(|(i, _)| i + 1)
                .collect()
        };
        (lines(removed), lines(added))
    }

    #[test]
    fn a_rare_line_anchors_even_when_it_moves() {
        // `git diff --histogram --no-indent-heuristic` of these: the unique `  y;` anchors,
        // so the twelve lines before it are removed and added back after it.
        let before = "/* c */\n\nA\n}\n\n}\nf() {\n}\n\nA\n\n/* c */\n  y;\nf() {\n\nA\n";
        let after = "  y;\n\nA\n}\n\n}\nf() {\n}\n\nA\n\n/* c */\nf() {\n\nA\n";
        assert_eq!(
            changed(before, after),
            ((1..=12).collect(), (2..=12).collect())
        );
        // And where nothing moves, the same as any diff.
        assert_eq!(
            changed("c\n\nA\n}\ny\nf\n", "y\n\nA\n}\nf\n"),
            (vec![1, 5], vec![1])
        );
    }

    #[test]
    fn common_ends_are_not_trimmed_first() {
        assert_eq!(changed("a\nb\nc\n", "a\nx\nc\n"), (vec![2], vec![2]));
        assert_eq!(changed("", "a\n"), (vec![], vec![1]));
        assert_eq!(changed("a\n", ""), (vec![1], vec![]));
    }
}
