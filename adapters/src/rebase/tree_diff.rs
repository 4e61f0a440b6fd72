//! Which paths differ between two trees, descending only into subtrees whose ids differ.
//!
//! Why not libgit2's `diff_tree_to_tree`: its tree iterators expand every directory of both
//! trees, so a one-line patch in a 50,000-file tree costs a walk of all 50,000 entries (it was
//! over 90% of a rebase's time). Equal subtree ids mean equal contents, so this reads only
//! the directories on the way to a change. Why raw tree bytes rather than `git2::Tree`: a
//! parsed tree allocates every entry, and the landed index diffs every upstream commit of the
//! range (5,000 here), where those allocations were a third of the time. Tests pin it to
//! git's own diffs through the patch-id and merge oracles.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::HashSet;
use std::rc::Rc;

use git2::ObjectType;
use git2::Oid;
use git2::Repository;
use git2::Tree;

use super::merge::Entry;
use super::merge::PathChange;
use crate::git::GitError;

const TREE_MODE: i32 = 0o040_000;
/// SHA-1 object ids; libgit2 opens no other kind of repository.
const ID_LEN: usize = 20;

/// Every path whose entry differs between `old` and `new` (either may be absent, as for a
/// root commit), in path order. A path that is a directory on one side and a file on the
/// other shows as its files removed or added, and the file added or removed.
pub(crate) fn tree_changes(
    repo: &Repository,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
) -> Result<Vec<PathChange>, GitError> {
    TreeReader::new(repo)?.changes(old.map(Tree::id), new.map(Tree::id))
}

/// Reads trees as raw bytes and diffs them, keeping the trees of the last two diffs: along a
/// line of history each commit's trees are read again as its child's parent's.
pub(crate) struct TreeReader<'r> {
    odb: git2::Odb<'r>,
    current: HashMap<Oid, Rc<[u8]>>,
    previous: HashMap<Oid, Rc<[u8]>>,
    /// Blobs' span counts for rename detection, kept as long as the reader: one rebase.
    pub(crate) spans: super::renames::SpanCache,
}

impl<'r> TreeReader<'r> {
    pub(crate) fn new(repo: &'r Repository) -> Result<Self, GitError> {
        Ok(Self {
            odb: repo
                .odb()
                .map_err(GitError::git("opening the object database"))?,
            current: HashMap::new(),
            previous: HashMap::new(),
            spans: super::renames::SpanCache::default(),
        })
    }

    /// [`tree_changes`] by tree id.
    pub(crate) fn changes(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
    ) -> Result<Vec<PathChange>, GitError> {
        self.changes_within(old, new, None)
    }

    /// [`changes`](Self::changes), descending only into the directories `within` holds
    /// (each written with a trailing `/`; the root is always read). A directory left out
    /// that differs is reported as its path with a trailing `/` and its tree entries.
    pub(crate) fn changes_within(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        within: Option<&HashSet<String>>,
    ) -> Result<Vec<PathChange>, GitError> {
        self.previous = std::mem::take(&mut self.current);
        let mut out = Vec::new();
        if old != new {
            let old = old.map(|id| self.read(id)).transpose()?;
            let new = new.map(|id| self.read(id)).transpose()?;
            self.walk(old.as_deref(), new.as_deref(), "", within, &mut out)?;
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn read(&mut self, id: Oid) -> Result<Rc<[u8]>, GitError> {
        if let Some(data) = self.current.get(&id) {
            return Ok(Rc::clone(data));
        }
        let data = match self.previous.remove(&id) {
            Some(data) => data,
            None => {
                let object = self.odb.read(id).map_err(GitError::git("reading a tree"))?;
                if object.kind() != ObjectType::Tree {
                    return Err(GitError::git("reading a tree")(git2::Error::from_str(
                        &format!("object {id} is a {}, not a tree", object.kind()),
                    )));
                }
                Rc::from(object.data())
            }
        };
        self.current.insert(id, Rc::clone(&data));
        Ok(data)
    }

    fn walk(
        &mut self,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
        prefix: &str,
        within: Option<&HashSet<String>>,
        out: &mut Vec<PathChange>,
    ) -> Result<(), GitError> {
        let mut olds = RawEntries::new(old.unwrap_or_default());
        let mut news = RawEntries::new(new.unwrap_or_default());
        let (mut next_old, mut next_new) = (None, None);
        loop {
            // Most entries of a tree on the way to a change are the same on both sides: those
            // are passed over as bytes, never parsed (it was most of the landed index's time).
            if next_old.is_none() && next_new.is_none() {
                olds.skip_identical(&mut news);
            }
            if next_old.is_none() {
                next_old = olds.next().transpose()?;
            }
            if next_new.is_none() {
                next_new = news.next().transpose()?;
            }
            if next_old.is_none() && next_new.is_none() {
                break;
            }
            let order = match (&next_old, &next_new) {
                (Some(a), Some(b)) => a.tree_order(b),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            let (before, after) = match order {
                Ordering::Less => (next_old.take(), None),
                Ordering::Greater => (None, next_new.take()),
                Ordering::Equal => (next_old.take(), next_new.take()),
            };
            let name = before.or(after).map(|e| e.name).unwrap_or_default();
            let (before, after) = (before.map(RawEntry::entry), after.map(RawEntry::entry));
            if before == after {
                continue;
            }
            let name = crate::paths::to_text(name);
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            // Entries sort as git sorts them, where a directory `a` sorts as `a/`: a file and a
            // directory of the same name come as two entries, one side each.
            let is_tree = |e: Option<Entry>| e.is_some_and(|e| e.mode == TREE_MODE);
            if (is_tree(before) || is_tree(after))
                && let Some(within) = within
            {
                let dir = format!("{path}/");
                if !within.contains(&dir) {
                    out.push(PathChange {
                        path: dir,
                        before,
                        after,
                    });
                    continue;
                }
            }
            match (before, after) {
                (Some(b), _) if b.mode == TREE_MODE => {
                    let old_tree = self.read(b.id)?;
                    let new_tree = after.map(|a| self.read(a.id)).transpose()?;
                    self.walk(Some(&old_tree), new_tree.as_deref(), &path, within, out)?;
                }
                (_, Some(a)) if a.mode == TREE_MODE => {
                    let new_tree = self.read(a.id)?;
                    self.walk(None, Some(&new_tree), &path, within, out)?;
                }
                _ => out.push(PathChange {
                    path,
                    before,
                    after,
                }),
            }
        }
        Ok(())
    }
}

/// One entry of a raw tree, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
struct RawEntry<'a> {
    name: &'a [u8],
    mode: i32,
    id: Oid,
}

impl RawEntry<'_> {
    fn entry(self) -> Entry {
        Entry {
            id: self.id,
            mode: self.mode,
        }
    }

    /// git's tree order (`base_name_compare`): a directory's name compares as if it ended
    /// in `/`.
    fn tree_order(&self, other: &Self) -> Ordering {
        let common = self.name.len().min(other.name.len());
        self.name[..common]
            .cmp(&other.name[..common])
            .then_with(|| self.next_byte(common).cmp(&other.next_byte(common)))
    }

    fn next_byte(&self, at: usize) -> u8 {
        match self.name.get(at) {
            Some(&byte) => byte,
            None if self.mode == TREE_MODE => b'/',
            None => 0,
        }
    }
}

/// The entries of a raw tree object: `MODE SP NAME NUL ID`, repeated.
struct RawEntries<'a> {
    rest: &'a [u8],
}

impl<'a> RawEntries<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// Passes over the entries that are byte for byte the same at the head of both trees.
    /// An entry that is cut short is left for [`next`](Iterator::next) to report.
    fn skip_identical(&mut self, other: &mut Self) {
        while let Some(nul) = memchr::memchr(0, self.rest) {
            let len = nul + 1 + ID_LEN;
            if self.rest.len() < len
                || other.rest.len() < len
                || self.rest[..len] != other.rest[..len]
            {
                return;
            }
            self.rest = &self.rest[len..];
            other.rest = &other.rest[len..];
        }
    }
}

impl<'a> Iterator for RawEntries<'a> {
    type Item = Result<RawEntry<'a>, GitError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let malformed =
            || GitError::git("reading a tree")(git2::Error::from_str("a malformed tree entry"));
        let Some(space) = memchr::memchr(b' ', self.rest) else {
            self.rest = &[];
            return Some(Err(malformed()));
        };
        let Some(nul) = memchr::memchr(0, &self.rest[space..]).map(|n| space + n) else {
            self.rest = &[];
            return Some(Err(malformed()));
        };
        let Some(id) = self.rest.get(nul + 1..nul + 1 + ID_LEN) else {
            self.rest = &[];
            return Some(Err(malformed()));
        };
        let mode = self.rest[..space].iter().try_fold(0i32, |mode, &digit| {
            (b'0'..=b'7')
                .contains(&digit)
                .then(|| mode.checked_mul(8)?.checked_add(i32::from(digit - b'0')))
                .flatten()
        });
        let (Some(mode), Ok(id)) = (mode, Oid::from_bytes(id)) else {
            self.rest = &[];
            return Some(Err(malformed()));
        };
        let entry = RawEntry {
            name: &self.rest[space + 1..nul],
            mode: canonical_mode(mode),
            id,
        };
        self.rest = &self.rest[nul + 1 + ID_LEN..];
        Some(Ok(entry))
    }
}

/// The mode as git and libgit2 read it (`canon_mode`): old trees hold modes like `100664`.
fn canonical_mode(mode: i32) -> i32 {
    match mode & 0o170_000 {
        0o040_000 => TREE_MODE,
        0o120_000 => 0o120_000,
        0o160_000 => 0o160_000,
        _ if mode & 0o111 != 0 => 0o100_755,
        _ => 0o100_644,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: i32) -> RawEntry<'_> {
        RawEntry {
            name: name.as_bytes(),
            mode,
            id: Oid::zero(),
        }
    }

    #[test]
    fn directories_sort_as_if_they_ended_in_a_slash() {
        // git sorts "a-b" (0x2d) before the directory "a" ("a/", 0x2f) before "a0" (0x30).
        assert_eq!(
            entry("a-b", 0o100_644).tree_order(&entry("a", TREE_MODE)),
            Ordering::Less
        );
        assert_eq!(
            entry("a", TREE_MODE).tree_order(&entry("a0", 0o100_644)),
            Ordering::Less
        );
        assert_eq!(
            entry("a", 0o100_644).tree_order(&entry("a-b", 0o100_644)),
            Ordering::Less
        );
        assert_ne!(
            entry("a", 0o100_644).tree_order(&entry("a", TREE_MODE)),
            Ordering::Equal
        );
    }

    #[test]
    fn modes_are_read_as_git_reads_them() {
        assert_eq!(canonical_mode(0o100_664), 0o100_644);
        assert_eq!(canonical_mode(0o100_775), 0o100_755);
        assert_eq!(canonical_mode(0o40_000), TREE_MODE);
        assert_eq!(canonical_mode(0o120_000), 0o120_000);
        assert_eq!(canonical_mode(0o160_000), 0o160_000);
    }

    #[test]
    fn a_truncated_tree_is_an_error_not_a_panic() {
        for bytes in [
            &b"100644 a"[..],
            b"100644 a\0abc",
            b"10x644 a\0aaaaaaaaaaaaaaaaaaaa",
            b"x",
        ] {
            assert!(RawEntries::new(bytes).any(|e| e.is_err()));
        }
    }
}
