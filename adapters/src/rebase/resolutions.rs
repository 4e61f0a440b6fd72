//! Conflict resolutions, recorded once and re-applied hunk by hunk.
//!
//! A conflicting text merge, written in diff3 style, is a run of regions: text both sides
//! agree on, and conflicts, each with three images (upstream's lines, the old base's, the
//! patch's). A human's resolution is recorded per conflict region, keyed by its three images
//! ([`extract`], from the diff3 text git left in a worktree and the file the human made of
//! it). A later merge that meets a region with the same three images takes the recorded text
//! ([`Resolver::resolve`]); a merge with any region nobody resolved stays a conflict. The
//! images git writes with `merge.conflictStyle=diff3` are the ones carry's own merge writes
//! (git's xdiff, ort's options), so a resolution made in a worktree fits carry's in-memory
//! merge, and it keeps fitting while upstream moves elsewhere in the file.

use std::sync::Mutex;

use serde::Deserialize;
use serde::Serialize;

/// One conflict region and how a human resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HunkResolution {
    /// The file.
    pub path: String,
    /// Upstream's lines (the merge's "ours").
    pub upstream: Vec<u8>,
    /// The old base's lines.
    pub base: Vec<u8>,
    /// The patch's lines (the merge's "theirs").
    pub patch: Vec<u8>,
    /// What the human put in their place.
    pub resolved: Vec<u8>,
}

/// A piece of a diff3-style merge result.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Agreed(&'a [u8]),
    Conflict {
        upstream: &'a [u8],
        base: &'a [u8],
        patch: &'a [u8],
    },
}

/// Which marker, if any, a line is (`<<<<<<<`, `|||||||`, `=======`, `>>>>>>>` at its start,
/// then a space or the line's end).
fn marker(line: &[u8]) -> Option<u8> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let kind = *body.first()?;
    if !matches!(kind, b'<' | b'|' | b'=' | b'>') || body.len() < 7 {
        return None;
    }
    if !body[..7].iter().all(|b| *b == kind) {
        return None;
    }
    let rest = &body[7..];
    let ends = rest.is_empty() || (rest[0] == b' ' && kind != b'=');
    ends.then_some(kind)
}

/// The lines of `text`, each with its line ending.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= text.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i + 1);
        let line = (at, &text[at..end]);
        at = end;
        Some(line)
    })
}

/// Splits a diff3-style merge result into agreed text and conflicts; `None` when its markers
/// do not nest as diff3 writes them.
fn pieces(text: &[u8]) -> Option<Vec<Piece<'_>>> {
    #[derive(Clone, Copy)]
    enum State {
        Agreed(usize),
        Upstream(usize),
        Base(usize, usize, usize),
        Patch(usize, usize, usize, usize, usize),
    }
    let mut found = Vec::new();
    let mut state = State::Agreed(0);
    for (at, line) in lines(text) {
        let next = at + line.len();
        state = match (state, marker(line)) {
            (State::Agreed(start), Some(b'<')) => {
                found.push(Piece::Agreed(&text[start..at]));
                State::Upstream(next)
            }
            (State::Upstream(start), Some(b'|')) => State::Base(start, at, next),
            (State::Base(u_start, u_end, start), Some(b'=')) => {
                State::Patch(u_start, u_end, start, at, next)
            }
            (State::Patch(u_start, u_end, b_start, b_end, start), Some(b'>')) => {
                found.push(Piece::Conflict {
                    upstream: &text[u_start..u_end],
                    base: &text[b_start..b_end],
                    patch: &text[start..at],
                });
                State::Agreed(next)
            }
            (State::Agreed(_), Some(_)) | (_, Some(b'<')) => return None,
            (state, _) => state,
        };
    }
    match state {
        State::Agreed(start) => {
            found.push(Piece::Agreed(&text[start..]));
            Some(found)
        }
        _ => None,
    }
}

/// The lines of `text` that are conflict markers, 1-based, for a "markers remain" message.
pub fn marker_lines(text: &[u8]) -> Vec<usize> {
    lines(text)
        .enumerate()
        .filter(|(_, (_, line))| marker(line).is_some_and(|kind| kind != b'='))
        .map(|(index, _)| index + 1)
        .collect()
}

/// Why a resolution could not be read from a resolved file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The merge result has no well-formed diff3 conflicts.
    #[error("{0}: the merge left no diff3-style conflict to resolve")]
    NoConflict(String),
    /// Text outside the conflicts changed, so which region became what is unknown.
    #[error(
        "{0}: lines outside the conflicts were changed; keep edits inside the conflict regions (or `carry resolve --abort`)"
    )]
    OutsideChanged(String),
}

/// Each conflict region of `merged` (the diff3 text git left at `path`) with what `resolved`
/// (the file the human made of it) has in its place: the text between the agreed pieces
/// around it, which must be unchanged.
pub fn extract(
    path: &str,
    merged: &[u8],
    resolved: &[u8],
) -> Result<Vec<HunkResolution>, ExtractError> {
    let pieces = pieces(merged).ok_or_else(|| ExtractError::NoConflict(path.to_owned()))?;
    let conflicts = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Conflict { .. }))
        .count();
    if conflicts == 0 {
        return Err(ExtractError::NoConflict(path.to_owned()));
    }
    let outside = || ExtractError::OutsideChanged(path.to_owned());
    let mut found = Vec::new();
    let mut at = 0;
    let mut pieces = pieces.iter().peekable();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Agreed(text) => {
                if !resolved[at..].starts_with(text) {
                    return Err(outside());
                }
                at += text.len();
            }
            Piece::Conflict {
                upstream,
                base,
                patch,
            } => {
                // The region ends where the next agreed text starts; the last piece is
                // always agreed text (possibly empty), which must end the file.
                let last = pieces.len() == 1;
                let end = match pieces.peek() {
                    Some(Piece::Agreed(next)) if last => {
                        if !resolved.ends_with(next) || resolved.len() - next.len() < at {
                            return Err(outside());
                        }
                        resolved.len() - next.len()
                    }
                    Some(Piece::Agreed(next)) if !next.is_empty() => {
                        memchr::memmem::find(&resolved[at..], next)
                            .map(|i| at + i)
                            .ok_or_else(outside)?
                    }
                    _ => return Err(outside()),
                };
                found.push(HunkResolution {
                    path: path.to_owned(),
                    upstream: upstream.to_vec(),
                    base: base.to_vec(),
                    patch: patch.to_vec(),
                    resolved: resolved[at..end].to_vec(),
                });
                at = end;
            }
        }
    }
    if at != resolved.len() {
        return Err(outside());
    }
    Ok(found)
}

/// Re-applies recorded resolutions to one patch's conflicts, and remembers which paths it
/// resolved.
#[derive(Debug, Default)]
pub struct Resolver {
    hunks: Vec<HunkResolution>,
    used: Mutex<Vec<String>>,
    misfits: Mutex<Vec<String>>,
}

impl Resolver {
    /// A resolver of `hunks` (one patch's recorded resolutions).
    pub fn new(hunks: Vec<HunkResolution>) -> Self {
        Self {
            hunks,
            used: Mutex::default(),
            misfits: Mutex::default(),
        }
    }

    /// The merge of `path` with each conflict region of `merged` (diff3 style) replaced by
    /// its recorded resolution; `None` when any region has none.
    pub fn resolve(&self, path: &str, merged: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(merged.len());
        for piece in pieces(merged)? {
            match piece {
                Piece::Agreed(text) => out.extend_from_slice(text),
                Piece::Conflict {
                    upstream,
                    base,
                    patch,
                } => {
                    let recorded = self.hunks.iter().find(|h| {
                        h.path == path
                            && h.upstream == upstream
                            && h.base == base
                            && h.patch == patch
                    })?;
                    out.extend_from_slice(&recorded.resolved);
                }
            }
        }
        if let Ok(mut used) = self.used.lock() {
            used.push(path.to_owned());
        }
        Some(out)
    }

    /// The paths whose recorded resolution no longer fits, and forgets them.
    pub fn take_misfits(&self) -> Vec<String> {
        let mut misfits = self
            .misfits
            .lock()
            .map(|mut misfits| std::mem::take(&mut *misfits))
            .unwrap_or_default();
        // A merge retried along renames meets a path twice.
        misfits.sort();
        misfits.dedup();
        misfits
    }

    /// The paths resolved so far, and forgets them (one patch's merge at a time).
    pub fn take_used(&self) -> Vec<String> {
        let mut used = self
            .used
            .lock()
            .map(|mut used| std::mem::take(&mut *used))
            .unwrap_or_default();
        used.sort();
        used.dedup();
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERGED: &[u8] = b"a\n<<<<<<< HEAD\nup\n||||||| parent of 1234 (p)\nold\n=======\nmine\n>>>>>>> 1234 (p)\nb\n<<<<<<< HEAD\nup2\n||||||| base\nold2\n=======\nmine2\n>>>>>>> 1234 (p)\n";

    #[test]
    fn a_resolution_is_read_region_by_region_and_spliced_back() {
        let wanted = b"a\nup and mine\nb\nmine2 only\n";
        let hunks = extract("f.c", MERGED, wanted).expect("extracted");
        assert_eq!(hunks.len(), 2);
        assert_eq!(hunks[0].upstream, b"up\n");
        assert_eq!(hunks[0].base, b"old\n");
        assert_eq!(hunks[0].patch, b"mine\n");
        assert_eq!(hunks[0].resolved, b"up and mine\n");
        assert_eq!(hunks[1].resolved, b"mine2 only\n");
        let resolver = Resolver::new(hunks);
        assert_eq!(
            resolver.resolve("f.c", MERGED).as_deref(),
            Some(&wanted[..])
        );
        assert_eq!(resolver.take_used(), ["f.c"]);
        // Other labels, same images: the same resolution.
        let relabelled = String::from_utf8_lossy(MERGED)
            .replace("HEAD", "ours")
            .replace("1234 (p)", "theirs")
            .into_bytes();
        assert_eq!(
            resolver.resolve("f.c", &relabelled).as_deref(),
            Some(&wanted[..])
        );
        // A region nobody resolved (upstream changed those lines again): no resolution.
        let moved = String::from_utf8_lossy(MERGED)
            .replace("up2", "up3")
            .into_bytes();
        assert_eq!(resolver.resolve("f.c", &moved), None);
        // Another path: none.
        assert_eq!(resolver.resolve("g.c", MERGED), None);
    }

    #[test]
    fn edits_outside_the_conflicts_and_remaining_markers_are_refused() {
        assert_eq!(
            extract("f.c", MERGED, b"a!\nup\nb\nmine2\n"),
            Err(ExtractError::OutsideChanged("f.c".to_owned()))
        );
        assert_eq!(
            extract("f.c", b"no conflict\n", b"x\n"),
            Err(ExtractError::NoConflict("f.c".to_owned()))
        );
        assert_eq!(marker_lines(MERGED), [2, 4, 8, 10, 12, 16]);
        assert!(marker_lines(b"a\n=======\nb\n").is_empty());
    }

    #[test]
    fn a_region_resolved_to_nothing_and_one_at_the_end_are_read() {
        let merged = b"<<<<<<< HEAD\nup\n||||||| base\n=======\nmine\n>>>>>>> p\n";
        let hunks = extract("f", merged, b"").expect("extracted");
        assert_eq!(hunks[0].resolved, b"");
        assert_eq!(hunks[0].base, b"");
        let resolver = Resolver::new(hunks);
        assert_eq!(resolver.resolve("f", merged).as_deref(), Some(&b""[..]));
    }
}
