//! Finding and loading a workspace: the `carry.toml` nearest the starting directory.

use std::path::Path;
use std::path::PathBuf;

use carry_graph::Manifest;
use carry_graph::ManifestError;
use carry_graph::manifest;

use crate::promotion_plan::PlanError;
use crate::promotion_plan::finish_unfinished;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "carry.toml";

/// Why a workspace could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No `carry.toml` in the directory or any parent.
    #[error("no {MANIFEST_FILE} in {} or any parent directory", start.display())]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// The manifest could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The manifest's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The manifest did not validate.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A promotion a killed carry left half done cannot be finished.
    #[error(transparent)]
    Promotion(#[from] PlanError),
}

/// A workspace on disk: its root directory and its validated manifest.
#[derive(Debug, Clone)]
pub struct LoadedWorkspace {
    /// The directory holding `carry.toml`.
    pub root: PathBuf,
    /// The validated manifest.
    pub manifest: Manifest,
}

impl LoadedWorkspace {
    /// The directory carry keeps its state in.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".carry")
    }
}

/// The directory of the `carry.toml` in `start` or its nearest parent.
pub fn find_root(start: &Path) -> Result<PathBuf, LoadError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
    start
        .ancestors()
        .find(|dir| dir.join(MANIFEST_FILE).is_file())
        .map(Path::to_owned)
        .ok_or(LoadError::NotFound { start })
}

/// Finds the `carry.toml` in `start` or its nearest parent and loads it, after finishing a
/// promotion a killed carry left half done (so that no command reads a series moved and its
/// manifest not).
pub fn load(start: &Path) -> Result<LoadedWorkspace, LoadError> {
    let root = find_root(start)?;
    finish_unfinished(&root)?;
    let path = root.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let manifest = manifest::parse(MANIFEST_FILE, &text)?;
    Ok(LoadedWorkspace { root, manifest })
}
