//! `carry resolutions export|import`: recorded resolutions (with their reviews and the patches
//! dropped by hand) moved between workspaces, as a file or through the project repositories'
//! `refs/carry/resolutions/<project>` refs.

use std::collections::BTreeSet;

use carry_adapters::rebase::resolutions::RecordedResolution;
use carry_adapters::resolution_transfer;
use carry_adapters::resolution_transfer::ExportedResolution;
use carry_adapters::resolution_transfer::RESOLUTIONS_SCHEMA;
use carry_adapters::resolution_transfer::ResolutionsFile;
use carry_adapters::store::Store;
use carry_adapters::store::StoreError;
use serde::Serialize;

use crate::workspace::LoadedWorkspace;

/// Why resolutions could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or published resolution is not what carry writes.
    #[error("{place}: {why}")]
    Invalid {
        /// The file (and line), or the ref and path.
        place: String,
        /// What is wrong.
        why: String,
    },
    /// A repository's refs could not be read or written.
    #[error("{project}: {source}")]
    Git {
        /// The project.
        project: String,
        /// What failed.
        source: carry_adapters::git::GitError,
    },
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Resolutions recorded now, as `PROJECT/PATCH@id`.
    pub imported: Vec<String>,
    /// Resolutions this workspace had already.
    pub already: usize,
    /// Resolutions not taken because this workspace resolved the same region differently,
    /// with the region.
    pub kept_local: Vec<String>,
    /// Resolutions of projects this workspace does not have.
    pub unknown_project: Vec<String>,
    /// Reviews taken.
    pub reviews: usize,
    /// Dropped patches taken.
    pub drops: usize,
}

/// Everything this workspace recorded, as a file's content.
pub fn export(workspace: &LoadedWorkspace) -> Result<ResolutionsFile, TransferError> {
    let store = Store::open(&workspace.state_dir())?;
    Ok(ResolutionsFile {
        schema: RESOLUTIONS_SCHEMA.to_owned(),
        resolutions: store
            .all_resolutions()?
            .iter()
            .map(|(project, resolution)| ExportedResolution::new(project, resolution))
            .collect(),
        reviews: store.reviews()?,
        drops: store.drops()?,
    })
}

/// Parses an export file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<ResolutionsFile, TransferError> {
    let parsed: ResolutionsFile =
        serde_json::from_str(text).map_err(|error| TransferError::Invalid {
            place: format!("{file}:{}:{}", error.line(), error.column()),
            why: error.to_string(),
        })?;
    if parsed.schema != RESOLUTIONS_SCHEMA {
        return Err(TransferError::Invalid {
            place: file.to_owned(),
            why: format!(
                "schema is {:?}, carry reads {RESOLUTIONS_SCHEMA:?}",
                parsed.schema
            ),
        });
    }
    Ok(parsed)
}

/// Records what `file` holds that this workspace lacks; every resolution is checked first
/// (an edited or damaged one refuses the whole file), then each is recorded whole.
pub fn import(
    workspace: &LoadedWorkspace,
    file: &ResolutionsFile,
    place: &str,
) -> Result<ImportSummary, TransferError> {
    let mut checked = Vec::new();
    for (index, exported) in file.resolutions.iter().enumerate() {
        let resolution = exported
            .resolution()
            .map_err(|why| TransferError::Invalid {
                place: format!("{place}: resolutions[{index}]"),
                why,
            })?;
        checked.push((exported.project.clone(), resolution));
    }
    let mut store = Store::open(&workspace.state_dir())?;
    let mut summary = ImportSummary::default();
    let mut touched = BTreeSet::new();
    for (project, resolution) in checked {
        match take(workspace, &mut store, &project, &resolution)? {
            Taken::Recorded => {
                summary
                    .imported
                    .push(format!("{project}/{}@{}", resolution.patch, resolution.id));
                touched.insert(project);
            }
            Taken::Already => summary.already += 1,
            Taken::Differs(region) => summary.kept_local.push(format!(
                "{project}/{}@{} ({region})",
                resolution.patch, resolution.id
            )),
            Taken::UnknownProject => summary
                .unknown_project
                .push(format!("{project}/{}@{}", resolution.patch, resolution.id)),
        }
    }
    for review in &file.reviews {
        if !store.reviews()?.contains(review) {
            store.save_review(review)?;
            summary.reviews += 1;
        }
    }
    let drops = store.drops()?;
    for dropped in &file.drops {
        if !drops
            .iter()
            .any(|d| d.project == dropped.project && d.patch == dropped.patch)
        {
            store.save_drop(dropped)?;
            summary.drops += 1;
        }
    }
    drop(store);
    for project in &touched {
        publish(workspace, project)?;
    }
    Ok(summary)
}

/// Every resolution published in the workspace's project repositories (fetched from a team's
/// remote, say), as one file's content.
pub fn published(workspace: &LoadedWorkspace) -> Result<ResolutionsFile, TransferError> {
    let mut resolutions = Vec::new();
    for (name, project) in &workspace.manifest.workspace.projects {
        let found = resolution_transfer::read_published(&workspace.root.join(&project.repo))
            .map_err(|source| TransferError::Git {
                project: name.to_string(),
                source,
            })?;
        for (place, bytes) in found {
            let exported: ExportedResolution =
                serde_json::from_slice(&bytes).map_err(|error| TransferError::Invalid {
                    place: format!("{place}:{}:{}", error.line(), error.column()),
                    why: error.to_string(),
                })?;
            resolutions.push(exported);
        }
    }
    Ok(ResolutionsFile {
        schema: RESOLUTIONS_SCHEMA.to_owned(),
        resolutions,
        reviews: Vec::new(),
        drops: Vec::new(),
    })
}

/// Publishes every resolution of `project` under `refs/carry/resolutions/<project>` in its
/// repository.
pub fn publish(workspace: &LoadedWorkspace, project: &str) -> Result<(), TransferError> {
    let Some((_, spec)) = workspace
        .manifest
        .workspace
        .projects
        .iter()
        .find(|(name, _)| name.as_str() == project)
    else {
        return Ok(());
    };
    let store = Store::open(&workspace.state_dir())?;
    let resolutions: Vec<ExportedResolution> = store
        .resolutions_of(project)?
        .iter()
        .map(|resolution| ExportedResolution::new(project, resolution))
        .collect();
    resolution_transfer::publish(&workspace.root.join(&spec.repo), project, &resolutions).map_err(
        |source| TransferError::Git {
            project: project.to_owned(),
            source,
        },
    )
}

enum Taken {
    Recorded,
    Already,
    Differs(String),
    UnknownProject,
}

fn take(
    workspace: &LoadedWorkspace,
    store: &mut Store,
    project: &str,
    resolution: &RecordedResolution,
) -> Result<Taken, TransferError> {
    if !workspace
        .manifest
        .workspace
        .projects
        .keys()
        .any(|name| name.as_str() == project)
    {
        return Ok(Taken::UnknownProject);
    }
    let local = store.resolutions_of(project)?;
    if local.iter().any(|r| r.id == resolution.id) {
        return Ok(Taken::Already);
    }
    for hunk in &resolution.hunks {
        let differs = local
            .iter()
            .filter(|r| r.patch == resolution.patch)
            .flat_map(|r| &r.hunks)
            .any(|mine| {
                mine.path == hunk.path
                    && mine.upstream == hunk.upstream
                    && mine.base == hunk.base
                    && mine.patch == hunk.patch
                    && mine.resolved != hunk.resolved
            });
        if differs {
            return Ok(Taken::Differs(format!(
                "a region of {} is resolved differently here",
                hunk.path
            )));
        }
    }
    store.save_resolution(
        project,
        &format!("imported:{}", resolution.id),
        "import",
        resolution,
    )?;
    Ok(Taken::Recorded)
}
