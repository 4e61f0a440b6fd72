//! What each project carried when a run last found it clean: a series that changed since is
//! rebased and tested even when its upstream did not move.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;

use carry_adapters::series::PatchSource;
use carry_adapters::series::SeriesListing;
use carry_adapters::store::Store;
use carry_graph::ProjectName;

use crate::error::RunError;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::TestStatus;

/// What a series carries, whatever its base: a branch's commits, a directory's patch files
/// byte for byte, in order.
pub(crate) fn series_identity(root: &Path, listing: &SeriesListing) -> String {
    let mut hash = sha1_smol::Sha1::new();
    hash.update(b"carry-series-v1");
    for patch in &listing.patches {
        hash.update(format!("\0{}\0", patch.name).as_bytes());
        match &patch.source {
            PatchSource::Commit(commit) => hash.update(commit.as_bytes()),
            PatchSource::File { path, strip, .. } => {
                hash.update(format!("-p{strip}\0").as_bytes());
                match std::fs::read(root.join(path)) {
                    Ok(bytes) => hash.update(&bytes),
                    // Unreadable now: a change of its own, whatever it was before.
                    Err(error) => hash.update(format!("unreadable: {error}").as_bytes()),
                }
            }
        }
    }
    hash.digest().to_string()
}

/// Records the series of every project this run found clean: the next run rebases and tests
/// a project whose series changed since, even when its upstream did not move.
pub(crate) fn record_clean_series(
    store: &Store,
    root: &Path,
    series: &BTreeMap<ProjectName, SeriesListing>,
    considered: &BTreeSet<&ProjectName>,
    projects: &[ProjectReport],
    tested: bool,
    run_id: &str,
) -> Result<(), RunError> {
    for project in projects {
        // A project the run did not look at, or rebased but left untested, is not known
        // clean.
        let clean = considered.contains(&project.name)
            && match project.status {
                ProjectStatus::Unchanged => true,
                ProjectStatus::Rebased => {
                    tested
                        && !project.patches.iter().any(|p| p.outcome.failed())
                        && matches!(
                            project.test.status,
                            TestStatus::Passed | TestStatus::Skipped
                        )
                }
                ProjectStatus::Error => false,
            };
        if let (true, Some(listing)) = (clean, series.get(&project.name)) {
            store.record_series_seen(
                project.name.as_str(),
                &series_identity(root, listing),
                run_id,
            )?;
        }
    }
    Ok(())
}
