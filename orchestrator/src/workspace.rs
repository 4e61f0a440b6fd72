//! Finding and loading a workspace: the `carry.toml` nearest the starting directory.

use std::path::Path;
use std::path::PathBuf;

use carry_graph::Manifest;
use carry_graph::ManifestError;
use carry_graph::manifest;

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

/// Finds the `carry.toml` in `start` or its nearest parent and loads it.
pub fn load(start: &Path) -> Result<LoadedWorkspace, LoadError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
    let root = start
        .ancestors()
        .find(|dir| dir.join(MANIFEST_FILE).is_file())
        .ok_or_else(|| LoadError::NotFound {
            start: start.clone(),
        })?
        .to_owned();
    let path = root.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let manifest = manifest::parse(MANIFEST_FILE, &text)?;
    Ok(LoadedWorkspace { root, manifest })
}
