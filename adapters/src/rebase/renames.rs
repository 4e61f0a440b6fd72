//! Rename detection as git's merge (`ort`) does it, so a patch follows a file where git would
//! and nowhere else.
//!
//! Between a base tree and one side: deleted files are sources, added files destinations.
//! First exact renames (same blob; a source with the destination's base name preferred),
//! then base-name matches (a base name unique among sources and among destinations, at least
//! 75% similar), then every remaining pair scored, best first, at least 50% similar, unless
//! there are more pairs than git's rename limit allows. Similarity is git's own
//! (`diffcore-delta.c`): files cut into spans at newlines or 64 bytes, spans hashed, and the
//! bytes of the source found again in the destination counted against the larger size.
//! Only regular files are renamed by similarity; symlinks and submodules only exactly.

use std::collections::HashMap;
use std::collections::HashSet;

use git2::Oid;
use git2::Repository;

use git2::Tree;

use super::ahead::Ahead;
use super::merge::ConflictKind;
use super::merge::Entry;
use super::merge::PathChange;
use super::merge::PathConflict;
use super::merge::PathMerge;
use super::merge::TreeEdits;
use super::merge::TreeMerge;
use super::merge::entry_at;
use super::merge::is_binary;
use super::merge::merge_path;
use super::resolutions::Resolver;
use super::tree_diff::TreeReader;
use crate::git::GitError;

/// git's scale for similarity scores.
const MAX_SCORE: u64 = 60_000;
/// `diff.renames`'s default threshold, 50%.
const MINIMUM_SCORE: u64 = 30_000;
/// A base-name match must be this similar (75%), as in `find_basename_matches`.
const BASENAME_SCORE: u64 = MINIMUM_SCORE + (MAX_SCORE - MINIMUM_SCORE) / 2;
/// `merge.renameLimit`'s default: beyond this many sources times destinations (squared
/// limit), only exact renames are found.
const RENAME_LIMIT: usize = 7000;
/// Candidates kept per destination, as `NUM_CANDIDATE_PER_DST`.
const CANDIDATES_PER_DESTINATION: usize = 4;

/// A rename on one side: `from` in the base became `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rename {
    pub(crate) from: String,
    pub(crate) to: String,
}

fn is_regular(entry: Entry) -> bool {
    matches!(entry.mode, 0o100_644 | 0o100_755)
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The renames among `changes` (a side's changes against the base).
pub(crate) fn detect(
    repo: &Repository,
    changes: &[PathChange],
    spans: &mut SpanCache,
) -> Result<Vec<Rename>, GitError> {
    let mut sources: Vec<(&str, Entry)> = changes
        .iter()
        .filter_map(|c| match (c.before, c.after) {
            (Some(before), None) => Some((c.path.as_str(), before)),
            _ => None,
        })
        .collect();
    let mut destinations: Vec<(&str, Entry)> = changes
        .iter()
        .filter_map(|c| match (c.before, c.after) {
            (None, Some(after)) => Some((c.path.as_str(), after)),
            _ => None,
        })
        .collect();
    let mut renames = Vec::new();
    if sources.is_empty() || destinations.is_empty() {
        return Ok(renames);
    }

    // Exact renames: the same object (and mode kind).
    let mut by_id: HashMap<Oid, Vec<usize>> = HashMap::new();
    for (index, (_, entry)) in sources.iter().enumerate() {
        by_id.entry(entry.id).or_default().push(index);
    }
    let mut used_sources = HashSet::new();
    let mut used_destinations = HashSet::new();
    for (d, (dst, dst_entry)) in destinations.iter().enumerate() {
        let Some(candidates) = by_id.get(&dst_entry.id) else {
            continue;
        };
        let free: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|s| {
                !used_sources.contains(s) && (is_regular(sources[*s].1) == is_regular(*dst_entry))
            })
            .collect();
        let chosen = free
            .iter()
            .copied()
            .find(|s| basename(sources[*s].0) == basename(dst))
            .or_else(|| free.first().copied());
        if let Some(s) = chosen {
            used_sources.insert(s);
            used_destinations.insert(d);
            renames.push(Rename {
                from: sources[s].0.to_owned(),
                to: (*dst).to_owned(),
            });
        }
    }
    let keep_sources: Vec<(&str, Entry)> = sources
        .iter()
        .enumerate()
        .filter(|(i, (_, e))| !used_sources.contains(i) && is_regular(*e))
        .map(|(_, s)| *s)
        .collect();
    let keep_destinations: Vec<(&str, Entry)> = destinations
        .iter()
        .enumerate()
        .filter(|(i, (_, e))| !used_destinations.contains(i) && is_regular(*e))
        .map(|(_, d)| *d)
        .collect();
    sources = keep_sources;
    destinations = keep_destinations;
    if sources.is_empty() || destinations.is_empty() {
        return Ok(renames);
    }

    // Base-name matches: unique on both sides, 75% similar.
    let (source_names, destination_names) =
        (basename_counts(&sources), basename_counts(&destinations));
    let mut taken_sources = HashSet::new();
    let mut taken_destinations = HashSet::new();
    for (s, (src, src_entry)) in sources.iter().enumerate() {
        let name = basename(src);
        if source_names.get(name) != Some(&1) || destination_names.get(name) != Some(&1) {
            continue;
        }
        let Some(d) = destinations
            .iter()
            .position(|(dst, _)| basename(dst) == name)
        else {
            continue;
        };
        let score = spans.similarity(repo, *src_entry, destinations[d].1)?;
        if score >= BASENAME_SCORE {
            taken_sources.insert(s);
            taken_destinations.insert(d);
            renames.push(Rename {
                from: (*src).to_owned(),
                to: destinations[d].0.to_owned(),
            });
        }
    }

    // Every remaining pair, if git would look at that many.
    let remaining_sources: Vec<usize> = (0..sources.len())
        .filter(|s| !taken_sources.contains(s))
        .collect();
    let remaining_destinations: Vec<usize> = (0..destinations.len())
        .filter(|d| !taken_destinations.contains(d))
        .collect();
    let pairs = remaining_sources.len() * remaining_destinations.len();
    if pairs == 0 || pairs > RENAME_LIMIT * RENAME_LIMIT {
        return Ok(renames);
    }
    let mut scored: Vec<(u64, bool, usize, usize)> = Vec::new();
    for &d in &remaining_destinations {
        let mut best: Vec<(u64, bool, usize, usize)> = Vec::new();
        for &s in &remaining_sources {
            let score = spans.similarity(repo, sources[s].1, destinations[d].1)?;
            if score < MINIMUM_SCORE {
                continue;
            }
            let same_name = basename(sources[s].0) == basename(destinations[d].0);
            best.push((score, same_name, d, s));
        }
        // Higher score first; at equal scores, the same base name first, then the earlier
        // source (git keeps the first it saw).
        best.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.3.cmp(&b.3)));
        best.truncate(CANDIDATES_PER_DESTINATION);
        scored.extend(best);
    }
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    for (_, _, d, s) in scored {
        if taken_sources.contains(&s) || taken_destinations.contains(&d) {
            continue;
        }
        taken_sources.insert(s);
        taken_destinations.insert(d);
        renames.push(Rename {
            from: sources[s].0.to_owned(),
            to: destinations[d].0.to_owned(),
        });
    }
    Ok(renames)
}

/// The patch (`changes` from `base` to its commit) merged onto `ours` with renames followed
/// on both sides, as `ort` follows them: an edit to a file upstream renamed lands in its new
/// name, a file the patch renames takes upstream's edits along. Paths outside the patch's
/// changes are upstream's.
pub(crate) fn merge(
    repo: &Repository,
    trees: &mut TreeReader<'_>,
    base: &Tree<'_>,
    ours: &Tree<'_>,
    changes: &[PathChange],
    ahead: Option<&Ahead>,
    resolver: Option<&Resolver>,
) -> Result<TreeMerge, GitError> {
    let upstream_changes = trees.changes(Some(base.id()), Some(ours.id()))?;
    let upstream: HashMap<String, String> = detect(repo, &upstream_changes, &mut trees.spans)?
        .into_iter()
        .map(|r| (r.from, r.to))
        .collect();
    let patch_renames = detect(repo, changes, &mut trees.spans)?;
    let renamed_to: HashMap<&str, &str> = patch_renames
        .iter()
        .map(|r| (r.to.as_str(), r.from.as_str()))
        .collect();
    let renamed_from: HashSet<&str> = patch_renames.iter().map(|r| r.from.as_str()).collect();
    let at = |tree: &Tree<'_>, path: &str| entry_at(tree, path).ok().flatten();
    let conflict = |path: &str, kind| PathConflict {
        path: path.to_owned(),
        kind,
        hunks: Vec::new(),
    };

    let mut update = TreeEdits::default();
    let mut conflicts = Vec::new();
    let apply = |merged: PathMerge,
                 path: &str,
                 update: &mut TreeEdits,
                 conflicts: &mut Vec<PathConflict>| match merged {
        PathMerge::Keep => {}
        PathMerge::Set(entry) => update.set(path, entry),
        PathMerge::Remove => update.remove(path),
        PathMerge::Conflict(found) => conflicts.push(found),
        // Upstream deleted what the patch changes, and no rename explains it.
        PathMerge::Missing => conflicts.push(conflict(path, ConflictKind::ModifyDelete)),
    };
    // A file the patch adds in a directory upstream renamed as a whole: git moves it along
    // and, by default (`merge.directoryRenames=conflict`), calls the merge conflicted.
    let directories = directory_renames(base, ours, &upstream);
    for change in changes {
        let path = change.path.as_str();
        if change.before.is_none()
            && !renamed_to.contains_key(path)
            && let Some(moved) = renamed_directory(&directories, path)
        {
            conflicts.push(PathConflict {
                path: path.to_owned(),
                kind: ConflictKind::Location,
                hunks: Vec::new(),
            });
            tracing::debug!(path, moved, "added in a directory upstream renamed");
        }
    }
    for change in changes {
        let path = change.path.as_str();
        if renamed_from.contains(path) {
            // The deletion half of a rename the patch makes: handled with its target.
            continue;
        }
        if let Some(&from) = renamed_to.get(path) {
            let base_entry = at(base, from);
            match upstream.get(from) {
                // Both renamed it alike: merge the contents at the new name.
                Some(to) if to == path => {
                    let merged = merge_path(
                        repo,
                        base_entry,
                        at(ours, path),
                        change.after,
                        path,
                        ahead,
                        resolver,
                    )?;
                    apply(merged, path, &mut update, &mut conflicts);
                }
                Some(_) => conflicts.push(conflict(from, ConflictKind::Rename)),
                None => match at(ours, from) {
                    None => conflicts.push(conflict(path, ConflictKind::ModifyDelete)),
                    Some(_) if at(ours, path).is_some() => {
                        conflicts.push(conflict(path, ConflictKind::AddAdd));
                    }
                    Some(theirs_base) => {
                        // Upstream's version of the old name, with the patch's edits, at the
                        // new name; the old name goes.
                        let merged = merge_path(
                            repo,
                            base_entry,
                            Some(theirs_base),
                            change.after,
                            path,
                            ahead,
                            resolver,
                        )?;
                        let merged = match merged {
                            PathMerge::Keep => PathMerge::Set(theirs_base),
                            other => other,
                        };
                        apply(merged, path, &mut update, &mut conflicts);
                        apply(PathMerge::Remove, from, &mut update, &mut conflicts);
                    }
                },
            }
            continue;
        }
        let target = match (change.before, at(ours, path)) {
            (Some(_), None) => upstream.get(path).map_or(path, String::as_str),
            _ => path,
        };
        if target != path && change.after.is_none() {
            // Upstream renamed what the patch deletes.
            conflicts.push(conflict(target, ConflictKind::ModifyDelete));
            continue;
        }
        let merged = merge_path(
            repo,
            change.before,
            at(ours, target),
            change.after,
            target,
            ahead,
            resolver,
        )?;
        apply(merged, target, &mut update, &mut conflicts);
    }
    if !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.path.cmp(&b.path));
        conflicts.dedup_by(|a, b| a.path == b.path);
        return Ok(TreeMerge::Conflict(conflicts));
    }
    update.build(repo, ours)
}

fn basename_counts<'a>(names: &[(&'a str, Entry)]) -> HashMap<&'a str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (path, _) in names {
        *counts.entry(basename(path)).or_default() += 1;
    }
    counts
}

/// A blob's size, and its span hashes with the bytes each covers, sorted by hash.
type Spans = (u64, Vec<(u32, u64)>);

fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..slash])
}

/// Directories of `base` that `side` no longer has and whose files it renamed mostly to one
/// other directory, as `ort` finds them (`update_dir_rename_counts` and
/// `get_provisional_directory_renames`): each rename counts for its directory and for each
/// ancestor while the trailing components agree; a tie renames nothing.
fn directory_renames(
    base: &Tree<'_>,
    side: &Tree<'_>,
    renames: &HashMap<String, String>,
) -> HashMap<String, String> {
    let removed = |dir: &str| {
        !dir.is_empty()
            && matches!(entry_at(base, dir), Err(()))
            && matches!(entry_at(side, dir), Ok(None))
    };
    let mut counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for (from, to) in renames {
        let (mut old_dir, mut new_dir) = (parent_dir(from), parent_dir(to));
        loop {
            if old_dir == new_dir || !removed(old_dir) {
                break;
            }
            *counts
                .entry(old_dir.to_owned())
                .or_default()
                .entry(new_dir.to_owned())
                .or_default() += 1;
            if new_dir.is_empty() {
                break;
            }
            let (old_last, new_last) = (basename(old_dir), basename(new_dir));
            if old_last != new_last {
                break;
            }
            old_dir = parent_dir(old_dir);
            new_dir = parent_dir(new_dir);
        }
    }
    counts
        .into_iter()
        .filter_map(|(old_dir, targets)| {
            let best = targets.values().copied().max()?;
            let mut winners = targets.into_iter().filter(|(_, n)| *n == best);
            let (winner, _) = winners.next()?;
            winners.next().is_none().then_some((old_dir, winner))
        })
        .collect()
}

/// Where a path lands when the deepest of its directories that was renamed moves.
fn renamed_directory(directories: &HashMap<String, String>, path: &str) -> Option<String> {
    let mut dir = parent_dir(path);
    while !dir.is_empty() {
        if let Some(to) = directories.get(dir) {
            let rest = &path[dir.len()..];
            return Some(format!("{to}{rest}").trim_start_matches('/').to_owned());
        }
        dir = parent_dir(dir);
    }
    None
}

/// Each blob's size and span counts, computed once.
/// Each blob's span counts, kept for a whole rebase: a series' patches meet the same upstream
/// renames again and again, and a blob's spans never change.
#[derive(Default)]
pub(crate) struct SpanCache {
    spans: HashMap<Oid, Spans>,
}

impl SpanCache {
    fn ensure(&mut self, repo: &Repository, id: Oid) -> Result<(), GitError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.spans.entry(id) {
            let blob = repo
                .find_blob(id)
                .map_err(GitError::git("reading a blob"))?;
            let data = blob.content();
            slot.insert((data.len() as u64, span_counts(data)));
        }
        Ok(())
    }

    /// git's `estimate_similarity` for a rename from `source` to `destination`.
    fn similarity(
        &mut self,
        repo: &Repository,
        source: Entry,
        destination: Entry,
    ) -> Result<u64, GitError> {
        self.ensure(repo, source.id)?;
        self.ensure(repo, destination.id)?;
        let (source_size, source_spans) = &self.spans[&source.id];
        let (destination_size, destination_spans) = &self.spans[&destination.id];
        let max_size = *source_size.max(destination_size);
        let base_size = *source_size.min(destination_size);
        let delta_size = max_size - base_size;
        // Sizes too far apart (this also leaves out empty files).
        if max_size * (MAX_SCORE - MINIMUM_SCORE) < delta_size * MAX_SCORE || max_size == 0 {
            return Ok(0);
        }
        let copied = copied_bytes(source_spans, destination_spans);
        Ok(copied * MAX_SCORE / max_size)
    }
}

/// git's span hashes (`hash_chars`): spans end at a newline or after 64 bytes; in text, a CR
/// before a LF is skipped. Sorted by hash, with the bytes each hash covers.
fn span_counts(data: &[u8]) -> Vec<(u32, u64)> {
    const HASHBASE: u32 = 107_927;
    let text = !is_binary(data);
    // Every span, then sorted and summed per hash: cheaper than a map for a few thousand.
    let mut counts: Vec<(u32, u64)> = Vec::with_capacity(data.len() / 32 + 1);
    let (mut accum1, mut accum2): (u32, u32) = (0, 0);
    let mut n: u64 = 0;
    for (i, &c) in data.iter().enumerate() {
        if text && c == b'\r' && data.get(i + 1) == Some(&b'\n') {
            continue;
        }
        let old1 = accum1;
        accum1 = (accum1 << 7) ^ (accum2 >> 25);
        accum2 = (accum2 << 7) ^ (old1 >> 25);
        accum1 = accum1.wrapping_add(u32::from(c));
        n += 1;
        if n < 64 && c != b'\n' {
            continue;
        }
        let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        counts.push((hash, n));
        n = 0;
        accum1 = 0;
        accum2 = 0;
    }
    if n > 0 {
        let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        counts.push((hash, n));
    }
    counts.sort_unstable_by_key(|&(hash, _)| hash);
    let mut summed: Vec<(u32, u64)> = Vec::with_capacity(counts.len());
    for (hash, n) in counts {
        match summed.last_mut() {
            Some((last, total)) if *last == hash => *total += n,
            _ => summed.push((hash, n)),
        }
    }
    summed
}

/// `diffcore_count_changes`' `src_copied`: for each hash, the smaller of the two counts.
fn copied_bytes(source: &[(u32, u64)], destination: &[(u32, u64)]) -> u64 {
    let mut copied = 0;
    let mut d = 0;
    for &(hash, count) in source {
        while d < destination.len() && destination[d].0 < hash {
            d += 1;
        }
        if d < destination.len() && destination[d].0 == hash {
            copied += count.min(destination[d].1);
            d += 1;
        }
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_copy_every_byte() {
        let spans = span_counts(b"one\ntwo\nthree\n");
        assert_eq!(copied_bytes(&spans, &spans), 14);
        let other = span_counts(b"one\ntwo\nfour\n");
        assert_eq!(copied_bytes(&spans, &other), 8);
    }

    #[test]
    fn long_lines_are_cut_every_64_bytes() {
        let line = vec![b'x'; 130];
        let spans = span_counts(&line);
        assert_eq!(spans.iter().map(|(_, n)| n).sum::<u64>(), 130);
        assert_eq!(spans.len(), 2, "two 64-byte spans hash alike, one of 2");
    }
}
