//! Recorded resolutions outside the store: a JSON file (`carry resolutions export|import`)
//! and refs a team pushes and fetches (`refs/carry/resolutions/<project>`).
//!
//! The ref points at a commit whose tree holds `<patch>/<resolution id>.json`, each file one
//! resolution in the export file's form; each publication is a new commit on top of the last,
//! so fetching another workspace's ref never loses what this one recorded.

use std::path::Path;

use git2::Oid;
use git2::Repository;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;

use crate::git::GitError;
use crate::rebase::resolutions::HunkResolution;
use crate::rebase::resolutions::RecordedResolution;
use crate::store::DroppedPatch;
use crate::store::ResolutionReview;

/// The schema of an export file.
pub const RESOLUTIONS_SCHEMA: &str = "carry.resolutions/v1";

/// Where a project's resolutions are published in its repository.
pub const RESOLUTION_REFS: &str = "refs/carry/resolutions/";

/// An export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionsFile {
    /// Always [`RESOLUTIONS_SCHEMA`].
    pub schema: String,
    /// Each recorded resolution.
    pub resolutions: Vec<ExportedResolution>,
    /// Each review of a re-applied resolution.
    #[serde(default)]
    pub reviews: Vec<ResolutionReview>,
    /// Each patch a human dropped.
    #[serde(default)]
    pub drops: Vec<DroppedPatch>,
}

/// One resolution, with its project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedResolution {
    /// The project.
    pub project: String,
    /// Its id.
    pub id: String,
    /// The patch's name.
    pub patch: String,
    /// The patch's normalized diff.
    #[serde(default)]
    pub patch_id: Option<String>,
    /// The upstream it was made on.
    #[serde(default)]
    pub onto: Option<String>,
    /// Each region.
    pub hunks: Vec<ExportedHunk>,
}

/// One region: text as text, other bytes as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedHunk {
    /// The file.
    pub path: String,
    /// Upstream's lines.
    #[serde(with = "text_or_hex")]
    pub upstream: Vec<u8>,
    /// The old base's lines.
    #[serde(with = "text_or_hex")]
    pub base: Vec<u8>,
    /// The patch's lines.
    #[serde(with = "text_or_hex")]
    pub patch: Vec<u8>,
    /// What the human made of them.
    #[serde(with = "text_or_hex")]
    pub resolved: Vec<u8>,
}

impl ExportedResolution {
    /// `resolution` of `project`, for a file.
    pub fn new(project: &str, resolution: &RecordedResolution) -> Self {
        Self {
            project: project.to_owned(),
            id: resolution.id.clone(),
            patch: resolution.patch.clone(),
            patch_id: resolution.patch_id.clone(),
            onto: resolution.onto.clone(),
            hunks: resolution
                .hunks
                .iter()
                .map(|h| ExportedHunk {
                    path: h.path.clone(),
                    upstream: h.upstream.clone(),
                    base: h.base.clone(),
                    patch: h.patch.clone(),
                    resolved: h.resolved.clone(),
                })
                .collect(),
        }
    }

    /// The resolution it holds; an error when its id is not the digest of what it holds
    /// (edited by hand, or damaged).
    pub fn resolution(&self) -> Result<RecordedResolution, String> {
        let hunks: Vec<HunkResolution> = self
            .hunks
            .iter()
            .map(|h| HunkResolution {
                path: h.path.clone(),
                upstream: h.upstream.clone(),
                base: h.base.clone(),
                patch: h.patch.clone(),
                resolved: h.resolved.clone(),
            })
            .collect();
        if hunks.is_empty() {
            return Err(format!("resolution {} has no region", self.id));
        }
        let id = RecordedResolution::id_of(self.patch_id.as_deref(), &hunks);
        if id != self.id {
            return Err(format!(
                "resolution {} of {}/{} does not match what it holds (its digest is {id}); was it edited?",
                self.id, self.project, self.patch
            ));
        }
        Ok(RecordedResolution {
            id,
            patch: self.patch.clone(),
            patch_id: self.patch_id.clone(),
            onto: self.onto.clone(),
            hunks,
        })
    }
}

mod text_or_hex {
    use super::Deserialize;
    use super::Deserializer;
    use super::Serialize;
    use super::Serializer;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Encoded {
        Text(String),
        Hex { hex: String },
    }

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], to: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Encoded::Text(text.to_owned()),
            Err(_) => Encoded::Hex {
                hex: bytes.iter().fold(String::new(), |mut hex, b| {
                    use std::fmt::Write as _;
                    let _ = write!(hex, "{b:02x}");
                    hex
                }),
            },
        }
        .serialize(to)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Vec<u8>, D::Error> {
        match Encoded::deserialize(from)? {
            Encoded::Text(text) => Ok(text.into_bytes()),
            Encoded::Hex { hex } => {
                if hex.len() % 2 != 0 {
                    return Err(serde::de::Error::custom("hex of odd length"));
                }
                (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                            .ok_or_else(|| serde::de::Error::custom("not hex"))
                    })
                    .collect()
            }
        }
    }
}

/// Publishes `resolutions` (all of one project's) under `refs/carry/resolutions/<project>`
/// in `repo`: a new commit whose tree holds what the ref held plus these; nothing is written
/// when it holds them all already.
pub fn publish(
    repo: &Path,
    project: &str,
    resolutions: &[ExportedResolution],
) -> Result<(), GitError> {
    let repo = Repository::open(repo).map_err(GitError::git("opening the repository"))?;
    let reference = format!("{RESOLUTION_REFS}{project}");
    let previous = repo
        .refname_to_id(&reference)
        .ok()
        .and_then(|id| repo.find_commit(id).ok());
    let mut root = repo
        .treebuilder(previous.as_ref().and_then(|c| c.tree().ok()).as_ref())
        .map_err(GitError::git("building a tree"))?;
    let mut changed = false;
    for patch in resolutions
        .iter()
        .map(|r| r.patch.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let existing = root
            .get(patch)
            .map_err(GitError::git("reading a tree"))?
            .map(|entry| entry.id());
        let existing = existing.and_then(|id| repo.find_tree(id).ok());
        let mut folder = repo
            .treebuilder(existing.as_ref())
            .map_err(GitError::git("building a tree"))?;
        for resolution in resolutions.iter().filter(|r| r.patch == patch) {
            let name = format!("{}.json", resolution.id);
            if folder
                .get(&name)
                .map_err(GitError::git("reading a tree"))?
                .is_some()
            {
                continue;
            }
            let json = serde_json::to_vec_pretty(resolution).unwrap_or_default();
            let blob = repo.blob(&json).map_err(GitError::git("writing a blob"))?;
            folder
                .insert(&name, blob, 0o100_644)
                .map_err(GitError::git("building a tree"))?;
            changed = true;
        }
        let folder = folder.write().map_err(GitError::git("writing a tree"))?;
        root.insert(patch, folder, 0o040_000)
            .map_err(GitError::git("building a tree"))?;
    }
    if !changed {
        return Ok(());
    }
    let tree = root.write().map_err(GitError::git("writing a tree"))?;
    let tree = repo
        .find_tree(tree)
        .map_err(GitError::git("reading a tree"))?;
    let signature = git2::Signature::now("carry", "carry@localhost")
        .map_err(GitError::git("making a signature"))?;
    let parents: Vec<&git2::Commit<'_>> = previous.iter().collect();
    let commit = repo
        .commit(
            None,
            &signature,
            &signature,
            &format!("carry: resolutions of {project}"),
            &tree,
            &parents,
        )
        .map_err(GitError::git("writing a commit"))?;
    // Compare-and-swap: a concurrent publication makes this one fail rather than vanish.
    match previous {
        Some(previous) => repo.reference_matching(
            &reference,
            commit,
            true,
            previous.id(),
            "carry: resolutions",
        ),
        None => repo.reference(&reference, commit, false, "carry: resolutions"),
    }
    .map_err(GitError::git("updating refs/carry/resolutions"))?;
    Ok(())
}

/// Every resolution published under `refs/carry/resolutions/*` in `repo`, with the file it
/// came from (`<ref>:<patch>/<id>.json`) for errors.
pub fn read_published(repo: &Path) -> Result<Vec<(String, Vec<u8>)>, GitError> {
    let repo = Repository::open(repo).map_err(GitError::git("opening the repository"))?;
    let mut found = Vec::new();
    let references = repo
        .references_glob(&format!("{RESOLUTION_REFS}*"))
        .map_err(GitError::git("listing refs"))?;
    for reference in references.flatten() {
        let (Some(name), Some(target)) = (reference.name().map(str::to_owned), reference.target())
        else {
            continue;
        };
        let Ok(tree) = repo.find_commit(target).and_then(|c| c.tree()) else {
            continue;
        };
        let mut blobs: Vec<(String, Oid)> = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                blobs.push((
                    format!("{name}:{folder}{}", entry.name().unwrap_or("")),
                    entry.id(),
                ));
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(GitError::git("reading a tree"))?;
        for (place, id) in blobs {
            let blob = repo
                .find_blob(id)
                .map_err(GitError::git("reading a blob"))?;
            found.push((place, blob.content().to_vec()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(id_hunks: &[(&str, &[u8])]) -> ExportedResolution {
        let hunks: Vec<HunkResolution> = id_hunks
            .iter()
            .map(|(path, resolved)| HunkResolution {
                path: (*path).to_owned(),
                upstream: b"u\n".to_vec(),
                base: b"b\xff\n".to_vec(),
                patch: b"p\n".to_vec(),
                resolved: resolved.to_vec(),
            })
            .collect();
        let resolution = RecordedResolution {
            id: RecordedResolution::id_of(Some("pid"), &hunks),
            patch: "0001-x.patch".to_owned(),
            patch_id: Some("pid".to_owned()),
            onto: None,
            hunks,
        };
        ExportedResolution::new("kernel", &resolution)
    }

    #[test]
    fn bytes_that_are_not_text_survive_a_file_and_an_edited_one_is_refused() {
        let one = exported(&[("a.c", b"r\n")]);
        let text = serde_json::to_string(&one).expect("json");
        assert!(text.contains(r#""base":{"hex":"62ff0a"}"#), "{text}");
        assert!(text.contains(r#""resolved":"r\n""#), "{text}");
        let back: ExportedResolution = serde_json::from_str(&text).expect("parsed");
        assert_eq!(back, one);
        assert!(back.resolution().is_ok());
        let edited = text.replace(r#""resolved":"r\n""#, r#""resolved":"evil\n""#);
        let edited: ExportedResolution = serde_json::from_str(&edited).expect("parsed");
        assert!(
            edited
                .resolution()
                .is_err_and(|e| e.contains("does not match")),
        );
    }

    #[test]
    fn publishing_adds_to_the_ref_and_reading_finds_every_resolution() {
        let dir = tempfile::tempdir().expect("tempdir");
        Repository::init(dir.path()).expect("init");
        let first = exported(&[("a.c", b"r1\n")]);
        let second = exported(&[("b.c", b"r2\n")]);
        publish(dir.path(), "kernel", std::slice::from_ref(&first)).expect("published");
        let repo = Repository::open(dir.path()).expect("open");
        let tip = repo
            .refname_to_id("refs/carry/resolutions/kernel")
            .expect("the ref");
        publish(dir.path(), "kernel", std::slice::from_ref(&first)).expect("again");
        assert_eq!(
            repo.refname_to_id("refs/carry/resolutions/kernel").ok(),
            Some(tip),
            "nothing new, no new commit"
        );
        publish(dir.path(), "kernel", std::slice::from_ref(&second)).expect("published");
        let found = read_published(dir.path()).expect("read");
        assert_eq!(found.len(), 2, "{found:?}");
        let parsed: Vec<ExportedResolution> = found
            .iter()
            .map(|(_, bytes)| serde_json::from_slice(bytes).expect("json"))
            .collect();
        assert!(parsed.contains(&first) && parsed.contains(&second));
        assert!(
            found[0]
                .0
                .starts_with("refs/carry/resolutions/kernel:0001-x.patch/")
        );
    }
}
