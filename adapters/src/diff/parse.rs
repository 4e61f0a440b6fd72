//! Reading a diff as `git apply` does: git diffs with their extended headers, traditional
//! `---`/`+++` diffs (quilt's `Index:` style among them), binary patches, quoted paths.
//!
//! A hunk is read by its line counts, so a `--- `/`+++ ` pair inside a hunk is content, and
//! whatever stands between file sections (diffstat, `Index:` lines, a mail signature) is
//! skipped. Paths stay bytes.

use super::binary;
use super::binary::BinaryData;
use super::quote::unquote;

/// One file's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePatch {
    /// The line of the patch file where this file's section starts.
    pub line: usize,
    /// The path before the change; `None` when the file is created.
    pub old_path: Option<Vec<u8>>,
    /// The path after the change; `None` when the file is deleted.
    pub new_path: Option<Vec<u8>>,
    /// The mode the patch says the file had.
    pub old_mode: Option<u32>,
    /// The mode the file gets.
    pub new_mode: Option<u32>,
    /// When the paths differ: a copy (the old path stays) rather than a rename.
    pub copy: bool,
    /// Text hunks, in order.
    pub hunks: Vec<Hunk>,
    /// A binary change.
    pub binary: Option<Binary>,
    /// What carry accepted that `git apply` would not (said in the patch's notes).
    pub notes: Vec<String>,
}

impl FilePatch {
    /// The paths this section touches.
    pub fn paths(&self) -> impl Iterator<Item = &[u8]> {
        let new = self
            .new_path
            .as_deref()
            .filter(|new| Some(*new) != self.old_path.as_deref());
        self.old_path.as_deref().into_iter().chain(new)
    }
}

/// A binary change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binary {
    /// The forward data.
    Data(BinaryData),
    /// `Binary files a/x and b/x differ`: git diff without `--binary` left the data out.
    Missing,
}

/// One text hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// Its `@@` line in the patch file.
    pub line: usize,
    /// The `@@ -a,b +c,d @@` header, for messages.
    pub header: String,
    /// The old start line (1-based; 0 for an empty old side).
    pub old_start: usize,
    /// The new start line.
    pub new_start: usize,
    /// The lines it expects (context and removed), each with its newline unless it is the
    /// file's last line without one.
    pub old: Vec<Vec<u8>>,
    /// The lines it leaves (context and added).
    pub new: Vec<Vec<u8>>,
    /// Context lines before the first change.
    pub leading: usize,
    /// Context lines after the last change.
    pub trailing: usize,
}

/// A line of the patch file and what is wrong there.
pub type ParseError = (usize, String);

/// Parses the diff in `lines` (each with its newline), whose first line is line `first_line`
/// of the patch file, stripping `strip` leading path components as `-pN` does.
pub fn parse(lines: &[&[u8]], first_line: usize, strip: u32) -> Result<Vec<FilePatch>, ParseError> {
    let mut parser = Parser {
        lines,
        first_line,
        strip: usize::try_from(strip).unwrap_or(usize::MAX),
        at: 0,
    };
    let mut files = Vec::new();
    while parser.at < lines.len() {
        let line = lines[parser.at];
        if line.starts_with(b"diff --git ") {
            files.push(parser.git_section()?);
        } else if line.starts_with(b"--- ")
            && parser.peek(1).is_some_and(|next| next.starts_with(b"+++ "))
            && parser.peek(2).is_some_and(|next| next.starts_with(b"@@ -"))
        {
            files.push(parser.traditional_section()?);
        } else {
            parser.at += 1;
        }
    }
    Ok(files)
}

struct Parser<'a> {
    lines: &'a [&'a [u8]],
    first_line: usize,
    strip: usize,
    at: usize,
}

fn chomp(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl<'a> Parser<'a> {
    fn peek(&self, ahead: usize) -> Option<&'a [u8]> {
        self.lines.get(self.at + ahead).copied()
    }

    fn number(&self) -> usize {
        self.first_line + self.at
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T, ParseError> {
        Err((self.number(), reason.into()))
    }

    /// Strips `count` leading components (repeated slashes count once, as in git).
    fn strip_components(&self, path: &[u8], count: usize) -> Result<Vec<u8>, ParseError> {
        let mut rest = path;
        for _ in 0..count {
            match rest.iter().position(|&b| b == b'/') {
                Some(slash) => {
                    rest = &rest[slash + 1..];
                    while let Some(after) = rest.strip_prefix(b"/") {
                        rest = after;
                    }
                }
                None => {
                    return self.error(format!(
                        "cannot strip {count} components from '{}'",
                        text(path)
                    ));
                }
            }
        }
        if rest.is_empty() {
            return self.error(format!("no file name left in '{}'", text(path)));
        }
        Ok(rest.to_vec())
    }

    /// A `---`/`+++` name: quoted, or up to a tab or a trailing timestamp. `None` for
    /// `/dev/null` (and for the epoch timestamp GNU diff writes for a missing file).
    fn header_name(&self, raw: &[u8], count: usize) -> Result<Option<Vec<u8>>, ParseError> {
        let raw = chomp(raw);
        let (name, stamp): (Vec<u8>, &[u8]) = match unquote(raw) {
            Some((name, rest)) => (name, rest),
            None => match raw.iter().position(|&b| b == b'\t') {
                Some(tab) => (raw[..tab].to_vec(), &raw[tab..]),
                None => {
                    let cut = timestamp_start(raw).unwrap_or(raw.len());
                    (raw[..cut].to_vec(), &raw[cut..])
                }
            },
        };
        let stamp = String::from_utf8_lossy(stamp);
        if name == b"/dev/null"
            || stamp.contains("1970-01-01 00:00:00")
            || stamp.contains("1969-12-31 ")
        {
            return Ok(None);
        }
        self.strip_components(&name, count).map(Some)
    }

    /// A path after `rename from` and the like: no `a/` prefix, so one component fewer.
    fn bare_name(&self, raw: &[u8]) -> Result<Vec<u8>, ParseError> {
        let raw = chomp(raw);
        let name = unquote(raw).map_or_else(|| raw.to_vec(), |(name, _)| name);
        self.strip_components(&name, self.strip.saturating_sub(1))
    }

    fn mode(&self, raw: &[u8]) -> Result<u32, ParseError> {
        let raw = chomp(raw);
        let digits = raw.split(|&b| b == b' ').next().unwrap_or(raw);
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| u32::from_str_radix(d, 8).ok())
            .map_or_else(|| self.error(format!("bad file mode '{}'", text(raw))), Ok)
    }

    fn git_section(&mut self) -> Result<FilePatch, ParseError> {
        let start = self.number();
        let names = chomp(&self.lines[self.at][b"diff --git ".len()..]);
        let (default_old, default_new) = match split_git_names(names) {
            Some((old, new)) => (
                self.strip_components(&old, self.strip).ok(),
                self.strip_components(&new, self.strip).ok(),
            ),
            None => (None, None),
        };
        let mut file = FilePatch {
            line: start,
            old_path: default_old.clone(),
            new_path: default_new.clone(),
            old_mode: None,
            new_mode: None,
            copy: false,
            hunks: Vec::new(),
            binary: None,
            notes: Vec::new(),
        };
        let (mut created, mut deleted) = (false, false);
        let (mut explicit_old, mut explicit_new) = (false, false);
        self.at += 1;
        while let Some(line) = self.peek(0) {
            if let Some(rest) = line.strip_prefix(b"old mode ") {
                file.old_mode = Some(self.mode(rest)?);
            } else if let Some(rest) = line.strip_prefix(b"new mode ") {
                file.new_mode = Some(self.mode(rest)?);
            } else if let Some(rest) = line.strip_prefix(b"deleted file mode ") {
                file.old_mode = Some(self.mode(rest)?);
                deleted = true;
            } else if let Some(rest) = line.strip_prefix(b"new file mode ") {
                file.new_mode = Some(self.mode(rest)?);
                created = true;
            } else if let Some(rest) = line
                .strip_prefix(b"rename from ")
                .or_else(|| line.strip_prefix(b"rename old "))
            {
                file.old_path = Some(self.bare_name(rest)?);
                explicit_old = true;
            } else if let Some(rest) = line
                .strip_prefix(b"rename to ")
                .or_else(|| line.strip_prefix(b"rename new "))
            {
                file.new_path = Some(self.bare_name(rest)?);
                explicit_new = true;
            } else if let Some(rest) = line.strip_prefix(b"copy from ") {
                file.old_path = Some(self.bare_name(rest)?);
                file.copy = true;
                explicit_old = true;
            } else if let Some(rest) = line.strip_prefix(b"copy to ") {
                file.new_path = Some(self.bare_name(rest)?);
                file.copy = true;
                explicit_new = true;
            } else if line.starts_with(b"similarity index ")
                || line.starts_with(b"dissimilarity index ")
            {
            } else if let Some(rest) = line.strip_prefix(b"index ") {
                // `index abc..def 100644`: the mode of a file whose mode does not change.
                let rest = chomp(rest);
                if let Some(space) = rest.iter().position(|&b| b == b' ') {
                    let mode = self.mode(&rest[space + 1..])?;
                    file.old_mode.get_or_insert(mode);
                    file.new_mode.get_or_insert(mode);
                }
            } else if let Some(rest) = line.strip_prefix(b"--- ") {
                if self.peek(1).is_none_or(|next| !next.starts_with(b"+++ ")) {
                    break;
                }
                match self.header_name(rest, self.strip)? {
                    Some(name) if !explicit_old => file.old_path = Some(name),
                    Some(_) => {}
                    None => created = true,
                }
            } else if let Some(rest) = line.strip_prefix(b"+++ ") {
                match self.header_name(rest, self.strip)? {
                    Some(name) if !explicit_new => file.new_path = Some(name),
                    Some(_) => {}
                    None => deleted = true,
                }
            } else if line.starts_with(b"GIT binary patch") {
                self.at += 1;
                file.binary = Some(Binary::Data(self.binary_hunk()?));
                // The reverse hunk, when there is one, is not needed.
                if self
                    .peek(0)
                    .is_some_and(|l| l.starts_with(b"literal ") || l.starts_with(b"delta "))
                {
                    self.binary_hunk()?;
                }
                break;
            } else if line.starts_with(b"Binary files ") {
                file.binary = Some(Binary::Missing);
                self.at += 1;
                break;
            } else {
                break;
            }
            self.at += 1;
        }
        if created {
            file.old_path = None;
            if !explicit_new && file.new_path.is_none() {
                file.new_path = default_new;
            }
        }
        if deleted {
            file.new_path = None;
            if !explicit_old && file.old_path.is_none() {
                file.old_path = default_old;
            }
        }
        if file.old_path.is_none() && file.new_path.is_none() {
            return Err((
                start,
                "cannot read the file name of this section".to_owned(),
            ));
        }
        if file.binary.is_none() {
            self.hunks(&mut file)?;
        }
        Ok(file)
    }

    fn traditional_section(&mut self) -> Result<FilePatch, ParseError> {
        let start = self.number();
        let old = self.header_name(&self.lines[self.at][4..], self.strip)?;
        self.at += 1;
        let new = self.header_name(&self.lines[self.at][4..], self.strip)?;
        self.at += 1;
        let (old_path, new_path) = match (old, new) {
            (None, None) => {
                return Err((start, "both file names are /dev/null".to_owned()));
            }
            (None, Some(new)) => (None, Some(new)),
            (Some(old), None) => (Some(old), None),
            // git takes the new name for both (quilt's `a.orig/x` and `b/x` name one file).
            (Some(_), Some(new)) => (Some(new.clone()), Some(new)),
        };
        let mut file = FilePatch {
            line: start,
            old_path,
            new_path,
            old_mode: None,
            new_mode: None,
            copy: false,
            hunks: Vec::new(),
            binary: None,
            notes: Vec::new(),
        };
        self.hunks(&mut file)?;
        Ok(file)
    }

    fn hunks(&mut self, file: &mut FilePatch) -> Result<(), ParseError> {
        while self.peek(0).is_some_and(|line| line.starts_with(b"@@ -")) {
            let hunk = self.hunk(&mut file.notes)?;
            file.hunks.push(hunk);
        }
        Ok(())
    }

    fn hunk(&mut self, notes: &mut Vec<String>) -> Result<Hunk, ParseError> {
        let line = self.number();
        let header_line = chomp(self.lines[self.at]);
        let header = text(header_line);
        let Some((old_start, old_count, new_start, new_count)) = hunk_header(header_line) else {
            return self.error(format!("bad hunk header '{header}'"));
        };
        self.at += 1;
        // The counts are the file's word: a hunk cannot hold more lines than are left, so
        // a header claiming billions reserves nothing (found by fuzzing: a capacity overflow).
        let left = self.lines.len().saturating_sub(self.at);
        let mut hunk = Hunk {
            line,
            header: header
                .split(" @@")
                .next()
                .map_or_else(String::new, |h| format!("{h} @@")),
            old_start,
            new_start,
            old: Vec::with_capacity(old_count.min(left)),
            new: Vec::with_capacity(new_count.min(left)),
            leading: 0,
            trailing: 0,
        };
        let (mut old_left, mut new_left) = (old_count, new_count);
        let mut changed = false;
        // Which sides the last line went to, for a `\ No newline at end of file` after it.
        let mut last = (false, false);
        while old_left > 0 || new_left > 0 {
            let Some(raw) = self.peek(0) else {
                // GNU patch assumes a hunk cut short at the end by up to three lines lost
                // blank context lines (mail trims trailing blank lines); git apply refuses.
                if old_left == new_left && old_left <= 3 {
                    for _ in 0..old_left {
                        hunk.old.push(b"\n".to_vec());
                        hunk.new.push(b"\n".to_vec());
                        hunk.trailing += 1;
                    }
                    notes.push(format!(
                        "hunk at line {line} ends early: {old_left} blank context line(s) restored, as GNU patch does (git apply refuses it)"
                    ));
                    break;
                }
                return Err((
                    line,
                    format!(
                        "hunk '{}' is cut short: {old_left} old and {new_left} new lines missing at the end of the patch",
                        hunk.header
                    ),
                ));
            };
            // An empty line is an empty context line (newer GNU diff; mail that lost the
            // leading space).
            let is_context = raw.first() == Some(&b' ') || raw == b"\n" || raw == b"\r\n";
            if is_context {
                if old_left == 0 || new_left == 0 {
                    return self.error(format!(
                        "hunk '{}' has more context lines than its header counts",
                        hunk.header
                    ));
                }
                let content = raw.strip_prefix(b" ").unwrap_or(raw).to_vec();
                hunk.old.push(content.clone());
                hunk.new.push(content);
                old_left -= 1;
                new_left -= 1;
                if changed {
                    hunk.trailing += 1;
                } else {
                    hunk.leading += 1;
                }
                last = (true, true);
            } else if let Some(content) = raw.strip_prefix(b"-") {
                if old_left == 0 {
                    return self.error(format!(
                        "hunk '{}' removes more lines than its header counts",
                        hunk.header
                    ));
                }
                hunk.old.push(content.to_vec());
                old_left -= 1;
                changed = true;
                hunk.trailing = 0;
                last = (true, false);
            } else if let Some(content) = raw.strip_prefix(b"+") {
                if new_left == 0 {
                    return self.error(format!(
                        "hunk '{}' adds more lines than its header counts",
                        hunk.header
                    ));
                }
                hunk.new.push(content.to_vec());
                new_left -= 1;
                changed = true;
                hunk.trailing = 0;
                last = (false, true);
            } else if raw.starts_with(b"\\") {
                no_newline(&mut hunk, last);
            } else {
                return self.error(format!(
                    "hunk '{}' ends early: {old_left} old and {new_left} new lines missing",
                    hunk.header
                ));
            }
            self.at += 1;
        }
        if self.peek(0).is_some_and(|l| l.starts_with(b"\\")) {
            no_newline(&mut hunk, last);
            self.at += 1;
        }
        Ok(hunk)
    }

    /// One `literal N`/`delta N` block and the empty line after it.
    fn binary_hunk(&mut self) -> Result<BinaryData, ParseError> {
        let Some(head) = self.peek(0) else {
            return self.error("a binary patch without data");
        };
        let head = chomp(head);
        let (literal, size) = if let Some(size) = head.strip_prefix(b"literal ") {
            (true, size)
        } else if let Some(size) = head.strip_prefix(b"delta ") {
            (false, size)
        } else {
            return self.error(format!("unexpected '{}' in a binary patch", text(head)));
        };
        let Some(size) = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return self.error(format!("bad size in '{}'", text(head)));
        };
        self.at += 1;
        let mut deflated = Vec::new();
        while let Some(line) = self.peek(0) {
            let line = chomp(line);
            self.at += 1;
            if line.is_empty() {
                break;
            }
            match binary::decode_line(line) {
                Ok(bytes) => deflated.extend_from_slice(&bytes),
                Err(reason) => return Err((self.number() - 1, reason)),
            }
        }
        let data = binary::inflate(&deflated, size).map_err(|reason| (self.number(), reason))?;
        Ok(if literal {
            BinaryData::Literal(data)
        } else {
            BinaryData::Delta(data)
        })
    }
}

fn no_newline(hunk: &mut Hunk, (old, new): (bool, bool)) {
    let strip = |lines: &mut Vec<Vec<u8>>| {
        if let Some(last) = lines.last_mut()
            && last.last() == Some(&b'\n')
        {
            last.pop();
        }
    };
    if old {
        strip(&mut hunk.old);
    }
    if new {
        strip(&mut hunk.new);
    }
}

/// `@@ -a[,b] +c[,d] @@`.
fn hunk_header(line: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let line = std::str::from_utf8(line.get(4..)?).ok()?;
    let (old, rest) = line.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some((old_start, old_count, new_start, new_count))
}

/// Where a `---` line's name ends when a timestamp follows it after spaces (`diff -u` of some
/// systems writes no tab): the space before a `YYYY-MM-DD` or a weekday.
fn timestamp_start(raw: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(raw).ok()?;
    text.match_indices(' ').map(|(at, _)| at).find(|&at| {
        let rest = text[at..].trim_start();
        let bytes = rest.as_bytes();
        let iso = bytes.len() >= 10
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[4] == b'-'
            && bytes[7] == b'-';
        let weekday = ["Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "]
            .iter()
            .any(|day| rest.starts_with(day));
        iso || weekday
    })
}

/// Splits the names of `diff --git a/x b/x`; either may be quoted, and unquoted names may hold
/// spaces when both name the same path.
fn split_git_names(rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if let Some((old, after)) = unquote(rest) {
        let after = after.strip_prefix(b" ")?;
        let new = unquote(after).map_or_else(|| after.to_vec(), |(new, _)| new);
        return Some((old, new));
    }
    let spaces: Vec<usize> = rest
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b' ')
        .map(|(i, _)| i)
        .collect();
    if let Some(at) = rest.windows(2).position(|w| w == b" \"") {
        let new = unquote(&rest[at + 1..])?.0;
        return Some((rest[..at].to_vec(), new));
    }
    let tail = |p: &[u8]| {
        p.iter()
            .position(|&b| b == b'/')
            .map(|s| p[s + 1..].to_vec())
    };
    for &at in &spaces {
        let (old, new) = (&rest[..at], &rest[at + 1..]);
        if tail(old).is_some() && tail(old) == tail(new) {
            return Some((old.to_vec(), new.to_vec()));
        }
    }
    let at = *spaces.first()?;
    Some((rest[..at].to_vec(), rest[at + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hunk header's counts are not trusted for memory: a count of 2^64-1 is an error
    /// about the hunk, not a capacity overflow (found by fuzzing).
    #[test]
    fn a_huge_hunk_count_is_an_error_not_an_allocation() {
        let text = "--- a/x\n+++ b/x\n@@ -1,18446744073709551615 +1,18446744073709551615 @@\n x\n";
        let lines: Vec<&[u8]> = text.as_bytes().split_inclusive(|b| *b == b'\n').collect();
        assert!(parse(&lines, 1, 1).is_err());
    }

    fn lines(text: &[u8]) -> Vec<&[u8]> {
        text.split_inclusive(|&b| b == b'\n').collect()
    }

    #[test]
    fn hunks_are_read_by_their_counts() {
        // A removed line `-- x` and a pair of `--- `/`+++ ` lines inside a hunk are content.
        let text = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n--- x\n++++ y\n keep\n-- \n2.47.3\n";
        let files = parse(&lines(text), 1, 1).expect("parses");
        assert_eq!(files.len(), 1);
        let hunk = &files[0].hunks[0];
        assert_eq!(hunk.old, vec![b"-- x\n".to_vec(), b"keep\n".to_vec()]);
        assert_eq!(hunk.new, vec![b"+++ y\n".to_vec(), b"keep\n".to_vec()]);
    }

    #[test]
    fn quilt_index_headers_and_orig_prefixes() {
        let text = b"Index: pkg/src/a.c\n===================================================================\n--- pkg.orig/src/a.c\t2020-01-01 00:00:00.000000000 +0000\n+++ pkg/src/a.c\t2020-01-02 00:00:00.000000000 +0000\n@@ -1 +1 @@\n-a\n+b\n";
        let files = parse(&lines(text), 10, 1).expect("parses");
        assert_eq!(files[0].old_path.as_deref(), Some(&b"src/a.c"[..]));
        assert_eq!(files[0].new_path.as_deref(), Some(&b"src/a.c"[..]));
        assert_eq!(files[0].line, 12);
    }

    #[test]
    fn quoted_non_ascii_paths_and_renames() {
        let text = b"diff --git \"a/caf\\303\\251.c\" \"b/th\\303\\251.c\"\nsimilarity index 90%\nrename from \"caf\\303\\251.c\"\nrename to \"th\\303\\251.c\"\n";
        let files = parse(&lines(text), 1, 1).expect("parses");
        assert_eq!(files[0].old_path.as_deref(), Some("café.c".as_bytes()));
        assert_eq!(files[0].new_path.as_deref(), Some("thé.c".as_bytes()));
        assert!(files[0].hunks.is_empty());
    }

    #[test]
    fn created_deleted_and_mode_changes() {
        let text = b"diff --git a/n b/n\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/n\n@@ -0,0 +1 @@\n+x\ndiff --git a/d b/d\ndeleted file mode 100644\n--- a/d\n+++ /dev/null\n@@ -1 +0,0 @@\n-y\ndiff --git a/m b/m\nold mode 100644\nnew mode 100755\n";
        let files = parse(&lines(text), 1, 1).expect("parses");
        assert_eq!(files.len(), 3);
        assert_eq!(
            (files[0].old_path.is_none(), files[0].new_mode),
            (true, Some(0o100_755))
        );
        assert!(files[1].new_path.is_none());
        assert_eq!(
            (files[2].old_mode, files[2].new_mode),
            (Some(0o100_644), Some(0o100_755))
        );
    }

    #[test]
    fn no_newline_markers_and_blank_context() {
        let text = b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n";
        let files = parse(&lines(text), 1, 1).expect("parses");
        let hunk = &files[0].hunks[0];
        assert_eq!(
            hunk.old,
            vec![b"a\n".to_vec(), b"\n".to_vec(), b"b".to_vec()]
        );
        assert_eq!(
            hunk.new,
            vec![b"a\n".to_vec(), b"\n".to_vec(), b"c".to_vec()]
        );
        assert_eq!((hunk.leading, hunk.trailing), (2, 0));
    }

    #[test]
    fn hunks_cut_short_by_mail_get_their_blank_lines_back() {
        let text = b"--- a/f\n+++ b/f\n@@ -1,3 +1,4 @@\n a\n+b\n c\n";
        let files = parse(&lines(text), 1, 1).expect("parses");
        assert_eq!(files[0].hunks[0].old.len(), 3);
        assert_eq!(files[0].notes.len(), 1);
        let broken = b"--- a/f\n+++ b/f\n@@ -1,9 +1,9 @@\n a\n";
        assert!(parse(&lines(broken), 1, 1).is_err());
    }
}
