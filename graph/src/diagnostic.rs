//! Problems found in user input, as data: what is wrong, where, and what was meant.
//!
//! A [`Diagnostic`] carries its own [`Location`] (file, line, column and the source line), so
//! it can be rendered, serialized or compared without the file it came from. Rendering with a
//! caret is the binary's job.

use std::ops::Range;

use serde::Serialize;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks carry from doing its job.
    Error,
    /// Worth fixing; carry can go on.
    Warning,
    /// Information a user may want, such as an upstream not fetched yet.
    Note,
}

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file as the user names it (relative to the workspace where possible).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The whole source line, without its line ending.
    pub line_text: String,
    /// The byte range within `line_text` to underline.
    pub highlight: Range<usize>,
}

impl Location {
    /// The location of byte range `span` in `text`, a file shown as `file`.
    ///
    /// Out-of-range or mid-character spans are clamped, never a panic.
    pub fn from_span(file: &str, text: &str, span: Range<usize>) -> Self {
        let start = clamp_to_char_boundary(text, span.start.min(text.len()));
        let end = clamp_to_char_boundary(text, span.end.clamp(start, text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        // Only a CRLF's CR ends the line: stray CRs before it are part of the line, where a
        // span may point (found by fuzzing: `x = 1\r\r\n`).
        let raw_line = &text[line_start..line_end];
        let line_text = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = text[..start].bytes().filter(|b| *b == b'\n').count() + 1;
        // A span on the line's ending (its CR) stands just past the text shown.
        let hl_start = (start - line_start).min(line_text.len());
        let column = line_text[..hl_start].chars().count() + 1;
        let hl_end = (end.min(line_end) - line_start).clamp(hl_start, line_text.len());
        Self {
            file: file.to_owned(),
            line,
            column,
            line_text: line_text.to_owned(),
            highlight: hl_start..hl_end,
        }
    }

    /// The location of a whole 1-based line of `text`.
    pub fn from_line(file: &str, text: &str, line: usize) -> Self {
        let offset: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let len = text[offset..].find('\n').unwrap_or(text.len() - offset);
        Self::from_span(file, text, offset..offset + len)
    }
}

#[cfg(test)]
mod location_tests {
    use super::*;

    /// A span on stray carriage returns points inside the line it shows.
    #[test]
    fn stray_carriage_returns_stay_in_the_line() {
        let text = "a = 1\r\r\r\nb = 2\n";
        let location = Location::from_span("carry.toml", text, 6..7);
        assert_eq!((location.line, location.column), (1, 7));
        assert_eq!(location.line_text, "a = 1\r\r");
        assert!(location.column <= location.line_text.chars().count() + 1);
        assert!(location.line_text.get(location.highlight.clone()).is_some());
        // On the CR of a CRLF: just past the text.
        let location = Location::from_span("carry.toml", "ab\r\ncd", 3..3);
        assert_eq!(
            (location.line, location.column, location.line_text.as_str()),
            (1, 3, "ab")
        );
    }
}

fn clamp_to_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One problem, with everything a user needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// Where, when the problem has a place in a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A short label under the caret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What was probably meant, or how to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with no location yet.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A warning with no location yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// A note with no location yet.
    pub fn note(message: impl Into<String>) -> Self {
        Self::new(Severity::Note, message)
    }

    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            severity,
            message: message.into(),
            location: None,
            label: None,
            help: None,
        }
    }

    /// Places the problem at `location`.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Adds a label under the caret.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this problem stops carry.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest of `candidates` to `wanted`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(wanted, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_columns_from_one() {
        let text = "a = 1\nbé = 2\n";
        let at = Location::from_span("carry.toml", text, 10..11);
        assert_eq!((at.line, at.column), (2, 4));
        assert_eq!(at.line_text, "bé = 2");
        assert_eq!(at.highlight, 4..5);
    }

    #[test]
    fn location_never_panics_on_odd_spans() {
        let text = "é\n";
        let _ = Location::from_span("f", text, 1..100);
        let (start, end) = (50, 2);
        let _ = Location::from_span("f", text, start..end);
        let _ = Location::from_span("f", "", 0..0);
        let _ = Location::from_line("f", text, 99);
    }

    #[test]
    fn near_names_are_suggested() {
        assert_eq!(
            did_you_mean("libvrt", ["qemu", "libvirt", "nova"]),
            Some("libvirt")
        );
        assert_eq!(
            did_you_mean("consume", ["consumes", "repo"]),
            Some("consumes")
        );
        assert_eq!(did_you_mean("zzz", ["qemu", "libvirt"]), None);
    }
}
