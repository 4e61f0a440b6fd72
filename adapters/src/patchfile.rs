//! Patch files: `git format-patch` mails and plain diffs with a DEP-3 header.
//!
//! A patch file is split into its message (author, date, subject, body with trailers) and its
//! diff, as `git mailinfo` would: `[PATCH n/m]` and `Re:` prefixes leave the subject, the
//! diffstat after `---` and the `-- ` signature are dropped, RFC 2047 encoded words are
//! decoded. Paths are re-rooted for `-pN` so libgit2 can apply the diff. Problems point at the
//! file and line.

use serde::Serialize;

use crate::diff;
use crate::diff::FilePatch;

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
    /// Each file's change, in order.
    pub files: Vec<FilePatch>,
    /// The line in the file where the diff starts.
    pub diff_line: usize,
    /// What carry did that `git am` would not (CRLF removed, blank lines restored, …).
    pub notes: Vec<String>,
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

    /// Every path the patch touches, as the diff names them.
    pub fn paths(&self) -> Vec<Vec<u8>> {
        let mut paths: Vec<Vec<u8>> = self
            .files
            .iter()
            .flat_map(|file| file.paths().map(<[u8]>::to_vec))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

/// Parses the patch file `bytes`, shown as `file`, stripping `strip` leading path components.
pub fn parse(file: &str, bytes: &[u8], strip: u32) -> Result<PatchFile, PatchFileError> {
    let error = |line: usize, reason: String| PatchFileError {
        file: file.to_owned(),
        line,
        reason,
    };
    let mut notes = Vec::new();
    let normalized = strip_crlf(bytes);
    if normalized.is_some() {
        notes.push("CRLF line ends removed, as git am does".to_owned());
    }
    let bytes = normalized.as_deref().unwrap_or(bytes);
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    let header_end = diff_start(&lines).unwrap_or(lines.len());
    let mail = read_mail_header(&lines[..header_end]);
    // A body in quoted-printable or base64 holds the diff too: decode it, then look again.
    let decoded;
    let (lines, first_line, header_end) = match &mail {
        Some(mail) if mail.transfer_encoded => {
            decoded = decode_body(bytes).map_err(|reason| error(mail.body_start + 1, reason))?;
            let body: Vec<&[u8]> = decoded.split_inclusive(|&b| b == b'\n').collect();
            let end = diff_start(&body).unwrap_or(body.len());
            (body, mail.body_start + 1, end)
        }
        _ => (lines, 1, header_end),
    };
    if header_end == lines.len() {
        return Err(error(
            1,
            "no diff found (no 'diff --git', '---'/'+++' or 'Index:' lines)".to_owned(),
        ));
    }
    let (author, subject, body) = match mail {
        Some(mail) => {
            let body_lines: Vec<String> = lines[if mail.transfer_encoded {
                0
            } else {
                mail.body_start
            }..header_end]
                .iter()
                .map(|l| {
                    mail.charset_text(l)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned()
                })
                .collect();
            mail.into_message(body_lines)
        }
        None => {
            let header: Vec<String> = lines[..header_end]
                .iter()
                .map(|l| {
                    String::from_utf8_lossy(l)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned()
                })
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            parse_dep3(&header)
        }
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
    let diff_line = first_line + header_end;
    let files = diff::parse::parse(&lines[header_end..], diff_line, strip)
        .map_err(|(line, reason)| error(line, reason))?;
    if files.is_empty() {
        return Err(error(diff_line, "the diff changes no file".to_owned()));
    }
    notes.extend(files.iter().flat_map(|f| f.notes.iter().cloned()));
    Ok(PatchFile {
        author,
        subject,
        body,
        files,
        diff_line,
        notes,
    })
}

/// The paths a patch file's diff headers name, read without judging the rest: what an
/// unreadable patch would have touched, so later patches on those paths wait for it.
pub fn mentioned_paths(bytes: &[u8], strip: u32) -> Vec<String> {
    let strip = usize::try_from(strip).unwrap_or(usize::MAX);
    let mut paths: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let rest = line
                .strip_prefix(b"+++ ")
                .or_else(|| line.strip_prefix(b"--- "))?;
            let rest = String::from_utf8_lossy(rest);
            let name = rest
                .split('\t')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if name == "/dev/null" {
                return None;
            }
            let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
            (parts.len() > strip).then(|| parts[strip..].join("/"))
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// A file whose every line ends in CRLF, without the CRs (git am's mailsplit removes them).
fn strip_crlf(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut lines = bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"));
    let mut any = false;
    if !lines.all(|line| {
        any = true;
        line.ends_with(b"\r\n")
    }) || !any
    {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\r\n") {
            Some(content) => {
                out.extend_from_slice(content);
                out.push(b'\n');
            }
            None => out.extend_from_slice(line),
        }
    }
    Some(out)
}

/// The first line of the diff: a `diff --git` line, or a `---`/`+++`/`@@` triple, with the
/// `Index:`, `====` and `diff -u` lines right before it.
fn diff_start(lines: &[&[u8]]) -> Option<usize> {
    let first = lines.iter().enumerate().position(|(i, line)| {
        line.starts_with(b"diff --git ")
            || (line.starts_with(b"--- ")
                && lines.get(i + 1).is_some_and(|l| l.starts_with(b"+++ "))
                && lines.get(i + 2).is_some_and(|l| l.starts_with(b"@@ -")))
    })?;
    let mut start = first;
    while start > 0 {
        let previous = lines[start - 1];
        if previous.starts_with(b"Index: ")
            || previous.starts_with(b"=====")
            || (previous.starts_with(b"diff ") && !previous.starts_with(b"diff --git"))
        {
            start -= 1;
        } else {
            break;
        }
    }
    Some(start)
}

/// Headers that belong to the mail, not to the patch's description.
const MAIL_ONLY: &[&str] = &[
    "from",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "bcc",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "received",
    "return-path",
    "reply-to",
    "sender",
    "delivered-to",
    "user-agent",
    "thread-topic",
    "thread-index",
];

/// A patch file that starts as a mail: `From <commit>`, or `From:`/`Subject:`/`Date:` headers.
struct MailHeader {
    from: Option<String>,
    author: Option<String>,
    date: Option<String>,
    subject: Option<String>,
    /// Other header fields (`Upstream-Status`, …): kept in the message as DEP-3 fields.
    fields: Vec<String>,
    charset: Option<charset::Charset>,
    transfer_encoded: bool,
    /// The index of the first line after the headers' blank line.
    body_start: usize,
}

impl MailHeader {
    fn charset_text(&self, line: &[u8]) -> String {
        match self.charset {
            Some(charset) => charset.decode(line).0.into_owned(),
            None => String::from_utf8_lossy(line).into_owned(),
        }
    }

    /// Author, subject and body; in-body `From:`/`Subject:`/`Date:` lines override the
    /// mail's, and the body ends at the last `---` before the diff (the diffstat's line).
    fn into_message(
        mut self,
        mut body: Vec<String>,
    ) -> (Option<Signature>, Option<String>, String) {
        let in_body: usize = body
            .iter()
            .take_while(|line| {
                ["From:", "Subject:", "Date:"].iter().any(|key| {
                    line.len() > key.len()
                        && line
                            .get(..key.len())
                            .is_some_and(|head| head.eq_ignore_ascii_case(key))
                })
            })
            .count();
        if in_body > 0 && body.get(in_body).is_none_or(|line| line.trim().is_empty()) {
            for line in body.drain(..in_body) {
                let (key, value) = line.split_once(':').unwrap_or_default();
                let value = value.trim().to_owned();
                match key.to_ascii_lowercase().as_str() {
                    "from" => self.from = Some(value),
                    "subject" => self.subject = Some(value),
                    _ => self.date = Some(value),
                }
            }
        }
        if let Some(cut) = body.iter().rposition(|line| line.trim_end() == "---") {
            body.truncate(cut);
        }
        let who = self.from.or(self.author);
        let author = who.and_then(|from| {
            let (name, email) = parse_address(&from)?;
            let (time, offset_minutes) =
                self.date.as_deref().and_then(parse_date).unwrap_or((0, 0));
            Some(Signature {
                name,
                email,
                time,
                offset_minutes,
            })
        });
        let mut text = body.join("\n").trim().to_owned();
        if !self.fields.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&self.fields.join("\n"));
        }
        (author, self.subject.map(|s| clean_subject(&s)), text)
    }
}

/// Reads the mail header at the top of `lines`, when the file starts as a mail.
fn read_mail_header(lines: &[&[u8]]) -> Option<MailHeader> {
    let mut start = 0;
    if lines.first().is_some_and(|l| l.starts_with(b"From ")) {
        start = 1;
    }
    // The header block: field lines and their continuations, up to a blank line.
    let mut end = start;
    while let Some(line) = lines.get(end) {
        let is_field = line
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|colon| colon > 0 && line[..colon].iter().all(u8::is_ascii_graphic));
        let continues = end > start && line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !(is_field || continues) || chomp_line(line).is_empty() {
            break;
        }
        end += 1;
    }
    let block: Vec<u8> = lines[start..end].concat();
    let (headers, _) = mailparse::parse_headers(&block).ok()?;
    let mut found = MailHeader {
        from: None,
        author: None,
        date: None,
        subject: None,
        fields: Vec::new(),
        charset: None,
        transfer_encoded: false,
        body_start: end + usize::from(lines.get(end).is_some_and(|l| chomp_line(l).is_empty())),
    };
    let mut is_mail = start == 1;
    for header in &headers {
        let key = header.get_key().to_ascii_lowercase();
        let value = header.get_value().trim().to_owned();
        match key.as_str() {
            "from" => {
                found.from = Some(value);
                is_mail = true;
            }
            "subject" => {
                found.subject = Some(value.split_whitespace().collect::<Vec<_>>().join(" "));
                is_mail = true;
            }
            "date" => {
                found.date = Some(value);
                is_mail = true;
            }
            "author" => found.author = Some(value),
            "content-type" => {
                let parsed = mailparse::parse_content_type(&value);
                let label = parsed.charset.to_ascii_lowercase();
                if label != "utf-8" && label != "us-ascii" {
                    found.charset = charset::Charset::for_label(label.as_bytes());
                }
            }
            "content-transfer-encoding" => {
                let encoding = value.to_ascii_lowercase();
                found.transfer_encoded = encoding == "quoted-printable" || encoding == "base64";
            }
            _ if MAIL_ONLY.contains(&key.as_str())
                || key.starts_with("x-")
                || key.starts_with("list-") => {}
            _ => found.fields.push(format!("{}: {value}", header.get_key())),
        }
    }
    is_mail.then_some(found)
}

fn chomp_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The body of a mail in quoted-printable or base64, decoded.
fn decode_body(mail: &[u8]) -> Result<Vec<u8>, String> {
    let skip = if mail.starts_with(b"From ") {
        mail.iter()
            .position(|&b| b == b'\n')
            .map_or(mail.len(), |at| at + 1)
    } else {
        0
    };
    let parsed =
        mailparse::parse_mail(&mail[skip..]).map_err(|e| format!("cannot read the mail: {e}"))?;
    parsed
        .get_body_raw()
        .map_err(|e| format!("cannot decode the mail's body: {e}"))
}

/// `Name <email>` as mail writes it (quoted names, RFC 2047 words already decoded).
fn parse_address(value: &str) -> Option<(String, String)> {
    if let Ok(list) = mailparse::addrparse(value)
        && let Some(single) = list.extract_single_info()
    {
        let name = single.display_name.unwrap_or_else(|| single.addr.clone());
        return Some((name, single.addr));
    }
    split_address(value)
}

/// RFC 2822 dates as format-patch writes them, and the looser forms mail clients write.
fn parse_date(date: &str) -> Option<(i64, i32)> {
    parse_rfc2822(date).or_else(|| mailparse::dateparse(date).ok().map(|time| (time, 0)))
}

/// A DEP-3 header: `Description:`/`Subject:` (continued by indented lines), `Author:`/`From:`,
/// `Last-Update:`, and the other fields, kept in the body.
fn parse_dep3(header: &[&str]) -> (Option<Signature>, Option<String>, String) {
    let mut subject = None;
    let mut description = Vec::new();
    let mut fields = Vec::new();
    let mut author = None;
    let mut updated = None;
    let mut dated = None;
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
            "description" => {
                subject = Some(value.to_owned());
                in_description = true;
            }
            "subject" => {
                subject = Some(clean_subject(value));
                in_description = true;
            }
            "date" => dated = parse_date(value),
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
    let (time, offset_minutes) = dated.unwrap_or_else(|| {
        let time = updated
            .as_deref()
            .and_then(|date| date.parse::<jiff::civil::Date>().ok())
            .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map_or(0, |zoned| zoned.timestamp().as_second());
        (time, 0)
    });
    let author = author.map(|(name, email)| Signature {
        name,
        email,
        time,
        offset_minutes,
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
        if let Some(after) = rest
            .get(..3)
            .filter(|head| head.eq_ignore_ascii_case("re:"))
            .and_then(|_| rest.get(3..))
        {
            rest = after.trim_start();
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

/// RFC 2822 dates as format-patch writes them: `Mon, 4 Mar 2024 10:20:30 +0100`.
fn parse_rfc2822(date: &str) -> Option<(i64, i32)> {
    let parsed = jiff::fmt::rfc2822::parse(date.trim()).ok()?;
    let offset = parsed.offset().seconds() / 60;
    Some((parsed.timestamp().as_second(), offset))
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
        let patch = parse("p/0002-x.patch", MAIL.as_bytes(), 1).expect("parses");
        let author = patch.author.clone().expect("author");
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
        assert_eq!(patch.files.len(), 1);
        assert_eq!(patch.files[0].line, 15);
        assert_eq!(patch.files[0].hunks[0].new.len(), 2);
        assert_eq!(patch.paths(), vec![b"src/qemu/qemu_hostdev.c".to_vec()]);
    }

    #[test]
    fn dep3_plain_diffs_with_strip_levels() {
        let text = "Description: fix the leak\n more words\nAuthor: Ada <ada@example.org>\nForwarded: https://example.org/x\nLast-Update: 2024-05-01\n\n--- pkg-1.0.orig/src/a.c\n+++ pkg-1.0/src/a.c\n@@ -1 +1 @@\n-a\n+b\n";
        let patch = parse("d/fix.diff", text.as_bytes(), 1).expect("parses");
        assert_eq!(patch.subject, "fix the leak");
        assert!(patch.body.starts_with("more words"));
        assert!(patch.body.contains("Forwarded: https://example.org/x"));
        assert_eq!(patch.paths(), vec![b"src/a.c".to_vec()]);
        let p0 = parse(
            "d/fix.diff",
            text.replace("pkg-1.0.orig/", "")
                .replace("pkg-1.0/", "")
                .as_bytes(),
            0,
        )
        .expect("parses");
        assert_eq!(p0.paths(), vec![b"src/a.c".to_vec()]);
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
            parse("p/x.patch", b"Subject: nothing\n\nno diff here\n", 1).expect_err("no diff");
        assert_eq!(error.line, 1);
    }
}
