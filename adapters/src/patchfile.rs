//! Patch files: `git format-patch` mails and plain diffs with a DEP-3 header.
//!
//! A patch file is split into its message (author, date, subject, body with trailers) and its
//! diff, as `git mailinfo` would: `[PATCH n/m]` and `Re:` prefixes leave the subject, the
//! diffstat after `---` and the `-- ` signature are dropped, RFC 2047 encoded words are
//! decoded. Paths are re-rooted for `-pN` so libgit2 can apply the diff. Problems point at the
//! file and line.

use serde::Serialize;

/// Why a patch file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct PatchFileError {
    /// The patch file, relative to the workspace.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A person and when they acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Offset from UTC in minutes.
    pub offset_minutes: i32,
}

/// A parsed patch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    /// The author, when the file names one.
    pub author: Option<Signature>,
    /// The subject, prefixes stripped.
    pub subject: String,
    /// The body after the subject: description, trailers, DEP-3 fields.
    pub body: String,
    /// The diff, re-rooted to `a/` and `b/` paths.
    pub diff: String,
    /// The line in the file where the diff starts.
    pub diff_line: usize,
    /// Each file section of the diff: its first line in the patch file and its path.
    pub sections: Vec<(usize, String)>,
}

impl PatchFile {
    /// The commit message git am would make: subject, blank line, body.
    pub fn message(&self) -> String {
        let body = self.body.trim();
        if body.is_empty() {
            format!("{}\n", self.subject)
        } else {
            format!("{}\n\n{body}\n", self.subject)
        }
    }
}

/// Parses `text`, the patch file shown as `file`, stripping `strip` leading path components.
pub fn parse(file: &str, text: &str, strip: u32) -> Result<PatchFile, PatchFileError> {
    let error = |line: usize, reason: String| PatchFileError {
        file: file.to_owned(),
        line,
        reason,
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let diff_start = lines
        .iter()
        .position(|line| is_diff_start(line))
        .ok_or_else(|| {
            error(
                1,
                "no diff found (no 'diff --git', '---'/'+++' or 'Index:' lines)".to_owned(),
            )
        })?;
    let header: Vec<&str> = lines[..diff_start]
        .iter()
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .collect();
    let (author, subject, body) = if header.iter().take(3).any(|line| is_mail_header(line)) {
        parse_mail(&header)
    } else {
        parse_dep3(&header)
    };
    let subject = match subject {
        Some(subject) if !subject.trim().is_empty() => subject,
        _ => {
            let stem = file.rsplit('/').next().unwrap_or(file);
            stem.trim_end_matches(".patch")
                .trim_end_matches(".diff")
                .to_owned()
        }
    };
    let mut diff_lines: Vec<&str> = lines[diff_start..].to_vec();
    // The `-- ` signature of format-patch ends the diff.
    if let Some(sig) = diff_lines
        .iter()
        .rposition(|line| line.trim_end_matches(['\n', '\r']) == "-- ")
    {
        diff_lines.truncate(sig);
    }
    let (diff, sections) =
        reroot(&diff_lines, diff_start + 1, strip).map_err(|(line, reason)| error(line, reason))?;
    if sections.is_empty() {
        return Err(error(diff_start + 1, "the diff changes no file".to_owned()));
    }
    Ok(PatchFile {
        author,
        subject,
        body,
        diff,
        diff_line: diff_start + 1,
        sections,
    })
}

fn is_diff_start(line: &str) -> bool {
    line.starts_with("diff --git ")
        || line.starts_with("Index: ")
        || line.starts_with("--- ") && !line.starts_with("--- \n")
}

fn is_mail_header(line: &str) -> bool {
    line.starts_with("From ")
        || line.starts_with("From: ")
        || line.starts_with("Subject: ")
        || line.starts_with("Date: ")
}

/// `From`, `Date`, `Subject` (folded) and the body up to the `---` before the diffstat.
fn parse_mail(header: &[&str]) -> (Option<Signature>, Option<String>, String) {
    let mut from = None;
    let mut date = None;
    let mut subject: Option<String> = None;
    let mut index = 0;
    let mut last_key = "";
    while index < header.len() {
        let line = header[index];
        index += 1;
        if line.is_empty() {
            break;
        }
        if line.starts_with("From ") && index == 1 {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if last_key == "subject"
                && let Some(subject) = subject.as_mut()
            {
                subject.push(' ');
                subject.push_str(line.trim());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            break;
        };
        last_key = "";
        match key.to_ascii_lowercase().as_str() {
            "from" => from = Some(decode_words(value.trim())),
            "date" => date = Some(value.trim().to_owned()),
            "subject" => {
                subject = Some(value.trim().to_owned());
                last_key = "subject";
            }
            _ => {}
        }
    }
    let mut body_lines: Vec<&str> = header[index..].to_vec();
    if let Some(cut) = body_lines.iter().rposition(|line| *line == "---") {
        body_lines.truncate(cut);
    }
    let author = from.and_then(|from| {
        let (name, email) = split_address(&from)?;
        let (time, offset_minutes) = date.as_deref().and_then(parse_rfc2822).unwrap_or((0, 0));
        Some(Signature {
            name,
            email,
            time,
            offset_minutes,
        })
    });
    let subject = subject.map(|s| clean_subject(&decode_words(&s)));
    (author, subject, body_lines.join("\n"))
}

/// A DEP-3 header: `Description:`/`Subject:` (continued by indented lines), `Author:`/`From:`,
/// `Last-Update:`, and the other fields, kept in the body.
fn parse_dep3(header: &[&str]) -> (Option<Signature>, Option<String>, String) {
    let mut subject = None;
    let mut description = Vec::new();
    let mut fields = Vec::new();
    let mut author = None;
    let mut updated = None;
    let mut in_description = false;
    for line in header {
        if line.starts_with([' ', '\t']) && in_description {
            let text = line.trim();
            description.push(if text == "." {
                String::new()
            } else {
                text.to_owned()
            });
            continue;
        }
        in_description = false;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "description" | "subject" => {
                subject = Some(value.to_owned());
                in_description = true;
            }
            "author" | "from" => {
                author = split_address(value);
                fields.push(format!("{key}: {value}"));
            }
            "last-update" => {
                updated = Some(value.to_owned());
                fields.push(format!("{key}: {value}"));
            }
            _ if !key.contains(' ') && !key.is_empty() => fields.push(format!("{key}: {value}")),
            _ => {}
        }
    }
    let time = updated
        .as_deref()
        .and_then(|date| date.parse::<jiff::civil::Date>().ok())
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(0, |zoned| zoned.timestamp().as_second());
    let author = author.map(|(name, email)| Signature {
        name,
        email,
        time,
        offset_minutes: 0,
    });
    let mut body = description.join("\n").trim().to_owned();
    if !fields.is_empty() {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(&fields.join("\n"));
    }
    (author, subject, body)
}

/// `Name <email>` → (name, email).
fn split_address(value: &str) -> Option<(String, String)> {
    let value = value.trim();
    match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = value[..open].trim().trim_matches('"').to_owned();
            let email = value[open + 1..close].trim().to_owned();
            Some((if name.is_empty() { email.clone() } else { name }, email))
        }
        _ if value.contains('@') => Some((value.to_owned(), value.to_owned())),
        _ if !value.is_empty() => Some((value.to_owned(), String::new())),
        _ => None,
    }
}

/// Strips `Re:` and leading `[...]` groups, as `git mailinfo` does without `-k`.
pub fn clean_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("re:") {
            rest = rest[3..].trim_start();
        } else if rest.starts_with('[') {
            match rest.find(']') {
                Some(close) => rest = rest[close + 1..].trim_start(),
                None => break,
            }
        } else {
            break;
        }
    }
    rest.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes RFC 2047 encoded words (`=?UTF-8?q?...?=` and `=?UTF-8?b?...?=`).
fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, after) = rest.split_at(start);
        let Some(word) = encoded_word(after) else {
            out.push_str(before);
            out.push_str("=?");
            rest = &after[2..];
            last_was_word = false;
            continue;
        };
        // Whitespace between two encoded words is dropped.
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&word.0);
        rest = &after[word.1..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let mut parts = inner.splitn(3, '?');
    let _charset = parts.next()?;
    let encoding = parts.next()?;
    let tail = parts.next()?;
    let end = tail.find("?=")?;
    let payload = &tail[..end];
    let consumed = 2 + inner.len() - tail.len() + end + 2;
    let bytes = match encoding {
        "q" | "Q" => {
            let mut bytes = Vec::new();
            let raw = payload.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                match raw[i] {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        let hex = payload.get(i + 1..i + 3)?;
                        bytes.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    other => bytes.push(other),
                }
                i += 1;
            }
            bytes
        }
        "b" | "B" => decode_base64(payload)?,
        _ => return None,
    };
    Some((String::from_utf8_lossy(&bytes).into_owned(), consumed))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for &c in text.as_bytes() {
        if c == b'=' {
            break;
        }
        buffer = (buffer << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// RFC 2822 dates as format-patch writes them: `Mon, 4 Mar 2024 10:20:30 +0100`.
fn parse_rfc2822(date: &str) -> Option<(i64, i32)> {
    let parsed = jiff::fmt::rfc2822::parse(date.trim()).ok()?;
    let offset = parsed.offset().seconds() / 60;
    Some((parsed.timestamp().as_second(), offset))
}

/// A re-rooted diff and its file sections (first line, path), or a line and what is wrong.
type Rerooted = Result<(String, Vec<(usize, String)>), (usize, String)>;

/// Rewrites every file header of a diff to `a/PATH` and `b/PATH` after stripping `strip`
/// components, turning plain `---`/`+++` diffs into git ones; returns the diff and its sections.
fn reroot(lines: &[&str], first_line: usize, strip: u32) -> Rerooted {
    let strip_path = |raw: &str, line: usize| -> Result<Option<String>, (usize, String)> {
        let path = raw.trim_end_matches(['\n', '\r']);
        let path = path.split('\t').next().unwrap_or(path).trim();
        let path = path.trim_matches('"');
        if path == "/dev/null" {
            return Ok(None);
        }
        let parts: Vec<&str> = path.split('/').collect();
        let strip = usize::try_from(strip).unwrap_or(usize::MAX);
        if parts.len() <= strip {
            return Err((
                line,
                format!("cannot strip {strip} components from '{path}'"),
            ));
        }
        Ok(Some(parts[strip..].join("/")))
    };
    let mut out = String::new();
    let mut sections = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let number = first_line + i;
        if let Some(rest) = line.strip_prefix("diff --git ") {
            // `diff --git a/x b/x`: re-root both names; the --- / +++ lines follow.
            let rest = rest.trim_end_matches(['\n', '\r']);
            let (old, new) = split_git_names(rest).ok_or((
                number,
                format!("cannot read file names in '{}'", line.trim_end()),
            ))?;
            let old = strip_path(old, number)?.unwrap_or_default();
            let new = strip_path(new, number)?.unwrap_or_default();
            out.push_str(&format!("diff --git a/{old} b/{new}\n"));
            sections.push((number, new));
            i += 1;
            while i < lines.len()
                && !lines[i].starts_with("diff --git ")
                && !lines[i].starts_with("@@")
                && !lines[i].starts_with("GIT binary patch")
            {
                let header = lines[i];
                if let Some(path) = header.strip_prefix("--- ") {
                    match strip_path(path, first_line + i)? {
                        Some(path) => out.push_str(&format!("--- a/{path}\n")),
                        None => out.push_str("--- /dev/null\n"),
                    }
                } else if let Some(path) = header.strip_prefix("+++ ") {
                    match strip_path(path, first_line + i)? {
                        Some(path) => out.push_str(&format!("+++ b/{path}\n")),
                        None => out.push_str("+++ /dev/null\n"),
                    }
                } else if let Some(path) = header.strip_prefix("rename from ") {
                    out.push_str(&format!(
                        "rename from {}\n",
                        strip_again(path.trim_end(), strip)
                    ));
                } else if let Some(path) = header.strip_prefix("rename to ") {
                    out.push_str(&format!(
                        "rename to {}\n",
                        strip_again(path.trim_end(), strip)
                    ));
                } else {
                    out.push_str(header);
                }
                i += 1;
            }
            continue;
        }
        if line.starts_with("--- ")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("+++ "))
        {
            // A plain unified diff: make it a git one.
            let old = strip_path(&line[4..], number)?;
            let new = strip_path(&lines[i + 1][4..], number + 1)?;
            let name = new.clone().or_else(|| old.clone()).unwrap_or_default();
            out.push_str(&format!(
                "diff --git a/{} b/{}\n",
                old.as_deref().unwrap_or(&name),
                new.as_deref().unwrap_or(&name)
            ));
            match (&old, &new) {
                (None, _) => out.push_str("new file mode 100644\n"),
                (_, None) => out.push_str("deleted file mode 100644\n"),
                _ => {}
            }
            out.push_str(
                &old.map_or_else(|| "--- /dev/null\n".to_owned(), |p| format!("--- a/{p}\n")),
            );
            out.push_str(
                &new.map_or_else(|| "+++ /dev/null\n".to_owned(), |p| format!("+++ b/{p}\n")),
            );
            sections.push((number, name));
            i += 2;
            continue;
        }
        if line.starts_with("Index: ")
            || line.starts_with("=====")
            || (line.starts_with("diff ") && !line.starts_with("diff --git"))
        {
            i += 1;
            continue;
        }
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push('\n');
        }
        i += 1;
    }
    Ok((out, sections))
}

/// Rename lines carry paths without `a/`/`b/`: strip `strip - 1` components, so `-p1` leaves
/// them as they are.
fn strip_again(path: &str, strip: u32) -> String {
    let extra = usize::try_from(strip.saturating_sub(1)).unwrap_or(0);
    path.split('/').skip(extra).collect::<Vec<_>>().join("/")
}

/// Splits `a/x b/x` into its two names; names may hold spaces when both are equal.
fn split_git_names(rest: &str) -> Option<(&str, &str)> {
    if let Some(stripped) = rest.strip_prefix('"') {
        let close = stripped.find('"')?;
        let old = &rest[..close + 2];
        let new = rest[close + 2..].trim_start();
        return Some((old, new));
    }
    // Prefer the split where both halves name the same path after their first component.
    let bytes: Vec<usize> = rest.match_indices(' ').map(|(i, _)| i).collect();
    for &at in &bytes {
        let (old, new) = (&rest[..at], &rest[at + 1..]);
        let tail = |p: &str| p.split_once('/').map(|(_, t)| t.to_owned());
        if tail(old).is_some() && tail(old) == tail(new) {
            return Some((old, new));
        }
    }
    let at = *bytes.first()?;
    Some((&rest[..at], &rest[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From 1234567890abcdef1234567890abcdef12345678 Mon Sep 17 00:00:00 2001
From: =?UTF-8?q?Ren=C3=A9=20Dupont?= <rene@example.org>
Date: Mon, 4 Mar 2024 10:20:30 +0100
Subject: [PATCH 2/7] qemu: hostdev: pass the VF token
 to vfio-pci

Pass the token so SR-IOV VFs bind.

Upstream-Status: Submitted [libvir-list]
Signed-off-by: René Dupont <rene@example.org>
---
 src/qemu/qemu_hostdev.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/src/qemu/qemu_hostdev.c b/src/qemu/qemu_hostdev.c
index 1111111..2222222 100644
--- a/src/qemu/qemu_hostdev.c
+++ b/src/qemu/qemu_hostdev.c
@@ -1 +1,2 @@
 int hostdev;
+int vf_token;
-- 
2.47.3

";

    #[test]
    fn format_patch_mails_split_into_message_and_diff() {
        let patch = parse("p/0002-x.patch", MAIL, 1).expect("parses");
        let author = patch.author.expect("author");
        assert_eq!(author.name, "René Dupont");
        assert_eq!(author.email, "rene@example.org");
        assert_eq!(author.time, 1_709_544_030);
        assert_eq!(author.offset_minutes, 60);
        assert_eq!(
            patch.subject,
            "qemu: hostdev: pass the VF token to vfio-pci"
        );
        assert!(
            patch
                .body
                .contains("Upstream-Status: Submitted [libvir-list]")
        );
        assert!(
            patch
                .body
                .ends_with("Signed-off-by: René Dupont <rene@example.org>")
        );
        assert!(!patch.diff.contains("2.47.3"));
        assert_eq!(
            patch.sections,
            vec![(15, "src/qemu/qemu_hostdev.c".to_owned())]
        );
    }

    #[test]
    fn dep3_plain_diffs_with_strip_levels() {
        let text = "Description: fix the leak\n more words\nAuthor: Ada <ada@example.org>\nForwarded: https://example.org/x\nLast-Update: 2024-05-01\n\n--- pkg-1.0.orig/src/a.c\n+++ pkg-1.0/src/a.c\n@@ -1 +1 @@\n-a\n+b\n";
        let patch = parse("d/fix.diff", text, 1).expect("parses");
        assert_eq!(patch.subject, "fix the leak");
        assert!(patch.body.starts_with("more words"));
        assert!(patch.body.contains("Forwarded: https://example.org/x"));
        assert!(
            patch
                .diff
                .starts_with("diff --git a/src/a.c b/src/a.c\n--- a/src/a.c\n+++ b/src/a.c\n")
        );
        let p0 = parse(
            "d/fix.diff",
            &text.replace("pkg-1.0.orig/", "").replace("pkg-1.0/", ""),
            0,
        )
        .expect("parses");
        assert!(p0.diff.contains("--- a/src/a.c"));
    }

    #[test]
    fn subjects_lose_patch_and_re_prefixes() {
        assert_eq!(clean_subject("[PATCH v2 03/10] x: y"), "x: y");
        assert_eq!(clean_subject("Re: [RFC] [PATCH] x"), "x");
        assert_eq!(clean_subject("plain"), "plain");
    }

    #[test]
    fn no_diff_is_an_error_at_line_one() {
        let error =
            parse("p/x.patch", "Subject: nothing\n\nno diff here\n", 1).expect_err("no diff");
        assert_eq!(error.line, 1);
    }
}
