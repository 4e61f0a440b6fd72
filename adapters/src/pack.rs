//! carry's new objects, written once as a pack.
//!
//! A rebase through [`crate::git::ProjectRepo::with_writes_in_memory`] keeps every tree, blob
//! and commit it makes in memory. Written one loose file each, they were most of a rebase's
//! time (a 200-patch series in a deep tree makes about 1,400 of them); here they become one
//! pack, as `git fast-import` does. Only what the new commits reach is written: the trial
//! merges of the census and the first-bad bisection never leave the process.

use std::collections::HashSet;
use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use git2::ObjectType;
use git2::Oid;
use git2::Repository;
use git2::Tree;

use crate::git::GitError;

const TREE_MODE: i32 = 0o040_000;
const GITLINK_MODE: i32 = 0o160_000;

/// What [`write_new_objects`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackStats {
    /// Commits in the written range.
    pub commits: usize,
    /// Objects in the pack (commits, trees and blobs).
    pub objects: usize,
}

/// Writes, as one pack in `repo`'s object database, every object the commits of
/// `base..tip` (a first-parent line, as a rebase makes) reach that their parents do not and
/// that the repository does not already have on disk; none that `tip` needs is left out, so
/// a ref may point at `tip` once this returns.
///
/// `also` names more commits to write the same way (each with what it adds over its first
/// parent): the commits a patch directory's files became, which reports name as each
/// patch's `from`.
pub fn write_new_objects(
    repo: &Repository,
    tip: Oid,
    base: Oid,
    also: &[Oid],
) -> Result<PackStats, GitError> {
    // What the repository already has on disk (a patch's blob that merged unchanged, a tree
    // equal to upstream's elsewhere, a commit an earlier run packed) is not written again.
    // The repository opened afresh has no in-memory store, so it answers for the disk alone.
    let disk = Repository::open(repo.path()).map_err(GitError::git("opening the repository"))?;
    let on_disk = disk
        .odb()
        .map_err(GitError::git("opening the object database"))?;
    let mut walk_state = Walk {
        repo,
        on_disk: &on_disk,
        objects: Vec::new(),
        seen: HashSet::new(),
        walked: HashSet::new(),
    };
    let mut commits = 0;
    let mut current = tip;
    let walk = std::time::Instant::now();
    while current != base {
        let commit = repo
            .find_commit(current)
            .map_err(GitError::git("reading a rebased commit"))?;
        walk_state.commit(&commit)?;
        commits += 1;
        current = commit
            .parent_id(0)
            .map_err(GitError::git("reading a rebased commit's parent"))?;
    }
    for &id in also {
        let commit = repo
            .find_commit(id)
            .map_err(GitError::git("reading a commit"))?;
        walk_state.commit(&commit)?;
    }
    let Walk { objects, .. } = walk_state;
    tracing::debug!(
        new = objects.len(),
        elapsed_ms = walk.elapsed().as_millis(),
        "new objects found"
    );
    if objects.is_empty() {
        return Ok(PackStats {
            commits,
            objects: 0,
        });
    }

    let started = std::time::Instant::now();
    let pack = pack_of(repo, &objects)?;
    tracing::debug!(
        bytes = pack.bytes.len(),
        elapsed_ms = started.elapsed().as_millis(),
        "pack built"
    );
    write_pack(&repo.commondir().join("objects").join("pack"), &pack)?;
    Ok(PackStats {
        commits,
        objects: objects.len(),
    })
}

/// A pack's bytes and, per object, what its index records.
struct Pack {
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

struct PackEntry {
    id: Oid,
    offset: u64,
    crc: u32,
}

/// Writes `pack` and its version 2 index into `dir`, as `git index-pack` would leave them.
///
/// Why not libgit2's indexer: it inflates and hashes every object again to learn what carry
/// already knows (each id, where it starts, its CRC); that was most of the pack's cost. The
/// pack goes in first and the index last, each by an atomic rename: git looks a pack up
/// by its index, so no reader sees one half written, and a crash leaves at most an unindexed
/// temporary file, which `git gc` removes.
fn write_pack(dir: &std::path::Path, pack: &Pack) -> Result<(), GitError> {
    let io = |action: &'static str| {
        move |error: std::io::Error| {
            GitError::git(action)(git2::Error::from_str(&error.to_string()))
        }
    };
    let checksum = &pack.bytes[pack.bytes.len() - 20..];
    let name = checksum
        .iter()
        .fold(String::with_capacity(40), |mut name, byte| {
            name.push_str(&format!("{byte:02x}"));
            name
        });
    let index = index_of(pack, checksum);
    let place = |extension: &str, bytes: &[u8]| -> Result<(), GitError> {
        let mut file = tempfile::Builder::new()
            .prefix("tmp_carry_")
            .tempfile_in(dir)
            .map_err(io("starting to write a pack"))?;
        file.write_all(bytes).map_err(io("writing a pack"))?;
        // git makes pack files read-only for everyone (0444); a temporary file is 0600.
        std::fs::set_permissions(
            file.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o444),
        )
        .map_err(io("writing a pack"))?;
        file.persist(dir.join(format!("pack-{name}.{extension}")))
            .map_err(|error| io("placing a pack")(error.error))?;
        Ok(())
    };
    place("pack", &pack.bytes)?;
    place("idx", &index)
}

/// The version 2 index of `pack`: a fan-out table, the sorted ids, their CRCs and offsets
/// (those past 2 GiB in a second table), the pack's checksum and the index's own.
fn index_of(pack: &Pack, pack_checksum: &[u8]) -> Vec<u8> {
    let mut sorted: Vec<&PackEntry> = pack.entries.iter().collect();
    sorted.sort_unstable_by_key(|entry| entry.id);
    let mut index = Vec::with_capacity(8 + 1024 + sorted.len() * 28 + 40);
    index.extend_from_slice(b"\xfftOc");
    index.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for entry in &sorted {
        fanout[usize::from(entry.id.as_bytes()[0])] += 1;
    }
    let mut running = 0;
    for count in fanout {
        running += count;
        index.extend_from_slice(&running.to_be_bytes());
    }
    for entry in &sorted {
        index.extend_from_slice(entry.id.as_bytes());
    }
    for entry in &sorted {
        index.extend_from_slice(&entry.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for entry in &sorted {
        let small = match u32::try_from(entry.offset) {
            Ok(offset) if offset < 0x8000_0000 => offset,
            _ => {
                // A slot per object past 2 GiB: a run writes thousands of objects, not the
                // 2^31 it would take to reach the flag bit.
                let slot = u32::try_from(large.len()).expect("fewer than 2^31 large offsets");
                large.push(entry.offset);
                0x8000_0000 | slot
            }
        };
        index.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        index.extend_from_slice(&offset.to_be_bytes());
    }
    index.extend_from_slice(pack_checksum);
    let digest = sha1_smol::Sha1::from(&index).digest().bytes();
    index.extend_from_slice(&digest);
    index
}

/// A version 2 pack of `objects`, undeltified. Why not libgit2's pack builder: its delta
/// search cost more than all the rebasing (138 ms for 1,500 small objects), and a pack of one
/// run's objects is small; `git gc` deltifies it with the rest later.
fn pack_of(repo: &Repository, objects: &[Oid]) -> Result<Pack, GitError> {
    let odb = repo
        .odb()
        .map_err(GitError::git("opening the object database"))?;
    let count = u32::try_from(objects.len())
        .map_err(|_| GitError::git("writing a pack")(git2::Error::from_str("too many objects")))?;
    let mut pack = Vec::with_capacity(objects.len() * 256);
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    let mut entries = Vec::with_capacity(objects.len());
    for &id in objects {
        let offset = pack.len();
        let object = odb
            .read(id)
            .map_err(GitError::git("reading a new object"))?;
        let kind: u8 = match object.kind() {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            ObjectType::Tag => 4,
            ObjectType::Any => {
                return Err(GitError::git("writing a pack")(git2::Error::from_str(
                    "an object of unknown type",
                )));
            }
        };
        push_object_header(&mut pack, kind, object.len());
        if object.len() < DEFLATE_FROM {
            push_stored(&mut pack, object.data());
        } else {
            push_deflated(&mut pack, object.data())?;
        }
        let mut crc = flate2::Crc::new();
        crc.update(&pack[offset..]);
        entries.push(PackEntry {
            id,
            offset: offset as u64,
            crc: crc.sum(),
        });
    }
    let digest = sha1_smol::Sha1::from(&pack).digest().bytes();
    pack.extend_from_slice(&digest);
    Ok(Pack {
        bytes: pack,
        entries,
    })
}

/// Objects at least this large are deflated; smaller ones are stored as they are. zlib clears
/// a 128 KiB table for every stream it starts, which for the typical new object (a tree or a
/// patched source file of a few KiB) cost ten times the compression itself: 40 ms for one
/// run's 1,500 objects. `git gc` compresses the stored ones with the rest later.
const DEFLATE_FROM: usize = 64 * 1024;

/// `data` as a zlib stream of stored (uncompressed) deflate blocks (RFC 1950, RFC 1951 3.2.4).
fn push_stored(pack: &mut Vec<u8>, data: &[u8]) {
    // CMF: deflate with a 32 KiB window; FLG: no dictionary, level "fastest", check bits.
    pack.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(usize::from(u16::MAX)).peekable();
    if blocks.peek().is_none() {
        pack.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = u16::try_from(block.len()).expect("blocks are at most 65,535 bytes");
        pack.push(last);
        pack.extend_from_slice(&len.to_le_bytes());
        pack.extend_from_slice(&(!len).to_le_bytes());
        pack.extend_from_slice(block);
    }
    let mut adler = adler2::Adler32::new();
    adler.write_slice(data);
    pack.extend_from_slice(&adler.checksum().to_be_bytes());
}

/// `data` deflated as one zlib stream.
fn push_deflated(pack: &mut Vec<u8>, data: &[u8]) -> Result<(), GitError> {
    let mut encoder = ZlibEncoder::new(pack, Compression::fast());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish().map(|_| ()))
        .map_err(|error| {
            GitError::git("compressing an object")(git2::Error::from_str(&error.to_string()))
        })
}

/// A pack entry's header: the type and the inflated size, seven bits at a time.
fn push_object_header(pack: &mut Vec<u8>, kind: u8, size: usize) {
    let low_bits = |value: usize, mask: usize| u8::try_from(value & mask).unwrap_or_default();
    let mut byte = (kind << 4) | low_bits(size, 0x0f);
    let mut rest = size >> 4;
    while rest > 0 {
        pack.push(byte | 0x80);
        byte = low_bits(rest, 0x7f);
        rest >>= 7;
    }
    pack.push(byte);
}

/// `commit` and what its tree adds over its first parent's.
/// The objects of a rebased line that the disk lacks, found walking it.
struct Walk<'a, 'r> {
    repo: &'r Repository,
    on_disk: &'a git2::Odb<'a>,
    objects: Vec<Oid>,
    seen: HashSet<Oid>,
    /// Each tree walked, with the tree it was walked against: a tree met again against
    /// another one must be walked again, for what it has that the other lacks.
    walked: HashSet<(Oid, Oid)>,
}

impl Walk<'_, '_> {
    /// `commit` and what it adds over its first parent. A commit or tree already on disk
    /// is passed over whole: git stores nothing without what it refers to, so what it
    /// reaches is on disk too (a rerun of the same inputs walks no further than its commits).
    fn commit(&mut self, commit: &git2::Commit<'_>) -> Result<(), GitError> {
        if !self.push_new(commit.id()) {
            return Ok(());
        }
        let tree = commit.tree().map_err(GitError::git("reading a tree"))?;
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree().map_err(GitError::git("reading a tree"))?),
            Err(_) => None,
        };
        self.tree(parent_tree.as_ref(), &tree)
    }

    /// Whether `id` is new: neither seen in this walk nor on disk (then it is kept).
    fn push_new(&mut self, id: Oid) -> bool {
        if !self.seen.insert(id) || self.on_disk.exists(id) {
            return false;
        }
        self.objects.push(id);
        true
    }

    /// `new` and every tree and blob under it whose id differs from the entry at the same
    /// path in `old`: equal ids at a path are already stored (upstream's, or packed for an
    /// earlier commit of the range).
    ///
    /// A tree seen before is not always done: it was walked against another commit's tree,
    /// and what this `old` lacks may not have been written (a revert makes a commit's tree
    /// again, and met first, that commit was walked against the reverted one). So it is
    /// walked once per `old`, and passed over only when it is on disk.
    fn tree(&mut self, old: Option<&Tree<'_>>, new: &Tree<'_>) -> Result<(), GitError> {
        let old_id = old.map_or_else(Oid::zero, Tree::id);
        if old_id == new.id() || !self.walked.insert((old_id, new.id())) {
            return Ok(());
        }
        if !self.push_new(new.id()) && self.on_disk.exists(new.id()) {
            return Ok(());
        }
        let repo = self.repo;
        for entry in new {
            let before = old.and_then(|old| old.get_name_bytes(entry.name_bytes()));
            if before
                .as_ref()
                .is_some_and(|b| b.id() == entry.id() && b.filemode() == entry.filemode())
            {
                continue;
            }
            match entry.filemode() {
                TREE_MODE => {
                    let subtree = repo
                        .find_object(entry.id(), Some(ObjectType::Tree))
                        .and_then(|o| o.peel_to_tree())
                        .map_err(GitError::git("reading a tree"))?;
                    let old_subtree = match before.filter(|b| b.filemode() == TREE_MODE) {
                        Some(b) => Some(
                            repo.find_object(b.id(), Some(ObjectType::Tree))
                                .and_then(|o| o.peel_to_tree())
                                .map_err(GitError::git("reading a tree"))?,
                        ),
                        None => None,
                    };
                    self.tree(old_subtree.as_ref(), &subtree)?;
                }
                // A submodule's commit lives in the submodule's repository, not this one.
                GITLINK_MODE => {}
                _ => {
                    self.push_new(entry.id());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::ZlibDecoder;

    use super::*;

    #[test]
    fn stored_streams_inflate_to_their_input() {
        for size in [0, 1, 100, 65_535, 65_536, 200_000] {
            let data: Vec<u8> = (0..size)
                .map(|i: usize| u8::try_from(i * 7 % 251).unwrap_or(0))
                .collect();
            let mut stream = Vec::new();
            push_stored(&mut stream, &data);
            let mut inflated = Vec::new();
            ZlibDecoder::new(&stream[..])
                .read_to_end(&mut inflated)
                .expect("a valid zlib stream");
            assert_eq!(inflated, data, "size {size}");
        }
    }

    #[test]
    fn entry_headers_carry_type_and_size() {
        let header = |kind, size| {
            let mut out = Vec::new();
            push_object_header(&mut out, kind, size);
            out
        };
        assert_eq!(header(3, 0), [0x30]);
        assert_eq!(header(3, 15), [0x3f]);
        assert_eq!(header(1, 16), [0x90, 0x01]);
        assert_eq!(header(2, 1000), [0xa8, 0x3e]);
    }
}
