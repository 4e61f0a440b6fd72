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

/// Where the conflict region that starts at `at` (its `<<<<<<<` line) ends: after its
/// `>>>>>>>` line.
fn region_end(text: &[u8], at: usize) -> usize {
    let mut seen_start = false;
    for (start, line) in lines(&text[at..]) {
        match marker(line) {
            Some(b'<') if !seen_start => seen_start = true,
            Some(b'>') if seen_start => return at + start + line.len(),
            _ => {}
        }
    }
    text.len()
}

/// How many diff3 conflict regions `merged` has (0 when its markers do not nest).
pub fn regions(merged: &[u8]) -> usize {
    pieces(merged).map_or(0, |pieces| {
        pieces
            .iter()
            .filter(|p| matches!(p, Piece::Conflict { .. }))
            .count()
    })
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

/// One human resolution of one patch's conflict: every region they resolved in one
/// `carry resolve --continue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResolution {
    /// Its id: a digest of the patch's normalized diff and every region's images and
    /// resolution, so the same resolution recorded in two workspaces has one id.
    pub id: String,
    /// The patch's name in its series when it was recorded.
    pub patch: String,
    /// The patch's normalized diff (`git patch-id --stable`) when it was recorded; a patch
    /// whose diff changed since is another patch. `None` for resolutions recorded before carry
    /// kept it (matched by name).
    pub patch_id: Option<String>,
    /// The upstream commit the patch was being carried onto when it was recorded.
    pub onto: Option<String>,
    /// Each conflict region and what the human put in its place.
    pub hunks: Vec<HunkResolution>,
}

impl RecordedResolution {
    /// The id of a resolution of the patch with `patch_id` made of `hunks`.
    pub fn id_of(patch_id: Option<&str>, hunks: &[HunkResolution]) -> String {
        let mut hash = sha1_smol::Sha1::new();
        hash.update(patch_id.unwrap_or("").as_bytes());
        for hunk in hunks {
            for part in [
                hunk.path.as_bytes(),
                &hunk.upstream,
                &hunk.base,
                &hunk.patch,
                &hunk.resolved,
            ] {
                hash.update(&(part.len() as u64).to_le_bytes());
                hash.update(part);
            }
        }
        hash.digest().to_string()[..12].to_owned()
    }

    /// Whether it was recorded for the patch named `name` whose normalized diff is
    /// `patch_id`.
    pub fn fits_patch(&self, name: &str, patch_id: Option<&str>) -> bool {
        match &self.patch_id {
            Some(recorded) => Some(recorded.as_str()) == patch_id,
            None => self.patch == name,
        }
    }
}

/// Re-applies recorded resolutions to one patch's conflicts, and remembers which paths it
/// resolved, which resolutions it used, and where a recorded resolution no longer fits.
#[derive(Debug, Default)]
pub struct Resolver {
    resolutions: Vec<RecordedResolution>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    paths: Vec<String>,
    resolutions: Vec<usize>,
    misfits: Vec<String>,
}

impl Resolver {
    /// A resolver of one patch's recorded resolutions, oldest first (a newer one wins where
    /// two resolved the same region).
    pub fn new(resolutions: Vec<RecordedResolution>) -> Self {
        Self {
            resolutions,
            seen: Mutex::default(),
        }
    }

    /// The merge of `path` with each conflict region of `merged` (diff3 style) replaced by
    /// its recorded resolution; `None` when any region has none (and, when a resolution
    /// recorded for `path` exists, the path is remembered as a misfit).
    pub fn resolve(&self, path: &str, merged: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(merged.len());
        let mut used = Vec::new();
        for piece in pieces(merged)? {
            match piece {
                Piece::Agreed(text) => out.extend_from_slice(text),
                Piece::Conflict {
                    upstream,
                    base,
                    patch,
                } => {
                    let Some((index, hunk)) = self.find(path, upstream, base, patch) else {
                        let known = self
                            .resolutions
                            .iter()
                            .any(|r| r.hunks.iter().any(|h| h.path == path));
                        if known && let Ok(mut seen) = self.seen.lock() {
                            seen.misfits.push(path.to_owned());
                        }
                        return None;
                    };
                    used.push(index);
                    out.extend_from_slice(&hunk.resolved);
                }
            }
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.paths.push(path.to_owned());
            seen.resolutions.extend(used);
        }
        Some(out)
    }

    /// `merged` (diff3 style) with every conflict region that has a recorded resolution
    /// replaced by it, and the others left as they are, markers and all; with how many were
    /// left. For a worktree a human finishes: where `git rerere` gives up on a whole file when
    /// one region changed, the regions that did not change are done already.
    pub fn resolve_partially(&self, path: &str, merged: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut out = Vec::with_capacity(merged.len());
        let mut left = 0;
        let mut at = 0;
        for piece in pieces(merged)? {
            match piece {
                Piece::Agreed(text) => {
                    out.extend_from_slice(text);
                    at += text.len();
                }
                Piece::Conflict {
                    upstream,
                    base,
                    patch,
                } => {
                    // The region's own text in `merged`, markers included.
                    let end = region_end(merged, at);
                    match self.find(path, upstream, base, patch) {
                        Some((_, hunk)) => out.extend_from_slice(&hunk.resolved),
                        None => {
                            left += 1;
                            out.extend_from_slice(&merged[at..end]);
                        }
                    }
                    at = end;
                }
            }
        }
        Some((out, left))
    }

    /// The newest recorded region of `path` with these three images, and its resolution's
    /// index.
    fn find(
        &self,
        file: &str,
        upstream: &[u8],
        base: &[u8],
        patch: &[u8],
    ) -> Option<(usize, &HunkResolution)> {
        self.resolutions
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, resolution)| {
                resolution
                    .hunks
                    .iter()
                    .find(|h| {
                        h.path == file
                            && h.upstream == upstream
                            && h.base == base
                            && h.patch == patch
                    })
                    .map(|hunk| (index, hunk))
            })
    }

    /// What this merge used and missed, and forgets it (one patch's merge at a time).
    pub fn take(&self) -> ResolverUse {
        let seen = self
            .seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default();
        // A merge retried along renames meets a path twice.
        let sorted = |mut paths: Vec<String>| {
            paths.sort();
            paths.dedup();
            paths
        };
        ResolverUse {
            paths: sorted(seen.paths),
            resolution: seen
                .resolutions
                .into_iter()
                .max()
                .map(|index| self.resolutions[index].id.clone()),
            misfits: sorted(seen.misfits),
        }
    }
}

/// What one patch's merge did with the recorded resolutions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverUse {
    /// The paths resolved.
    pub paths: Vec<String>,
    /// The newest resolution used.
    pub resolution: Option<String>,
    /// The paths with a recorded resolution that a conflict region did not fit.
    pub misfits: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(hunks: Vec<HunkResolution>) -> RecordedResolution {
        RecordedResolution {
            id: "r1".to_owned(),
            patch: "p".to_owned(),
            patch_id: None,
            onto: None,
            hunks,
        }
    }

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
        let resolver = Resolver::new(vec![recorded(hunks)]);
        assert_eq!(
            resolver.resolve("f.c", MERGED).as_deref(),
            Some(&wanted[..])
        );
        let used = resolver.take();
        assert_eq!(used.paths, ["f.c"]);
        assert_eq!(used.resolution.as_deref(), Some("r1"));
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
        // Another path: none, and no misfit there (nothing was recorded for it).
        assert_eq!(resolver.resolve("g.c", MERGED), None);
        let used = resolver.take();
        assert_eq!(used.misfits, ["f.c"]);
        assert_eq!(used.resolution.as_deref(), Some("r1"));
    }

    #[test]
    fn regions_that_still_fit_are_resolved_and_the_others_left_with_their_markers() {
        let hunks = extract("f.c", MERGED, b"a\nup and mine\nb\nmine2 only\n").expect("extracted");
        let resolver = Resolver::new(vec![recorded(hunks)]);
        let moved = String::from_utf8_lossy(MERGED)
            .replace("up2", "up3")
            .into_bytes();
        let (partly, left) = resolver
            .resolve_partially("f.c", &moved)
            .expect("diff3 text");
        assert_eq!(left, 1);
        assert_eq!(
            String::from_utf8_lossy(&partly),
            "a\nup and mine\nb\n<<<<<<< HEAD\nup3\n||||||| base\nold2\n=======\nmine2\n>>>>>>> 1234 (p)\n"
        );
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
        let resolver = Resolver::new(vec![recorded(hunks)]);
        assert_eq!(resolver.resolve("f", merged).as_deref(), Some(&b""[..]));
    }
}
