//! Bringing each upstream into its project's repository, several `git fetch` processes at a
//! time.

use std::path::Path;

use carry_adapters::cancel::Cancel;
use carry_adapters::fetch;
use carry_graph::ProjectName;
use carry_graph::workspace::Project;
use carry_graph::workspace::UpstreamSource;

use crate::events::Progress;
use crate::events::RunEvent;
use crate::workspace::LoadedWorkspace;

/// Fetches every selected project's upstream into its repository; `cancel` ends the fetches
/// going on and starts no more.
pub fn fetch_all(
    workspace: &LoadedWorkspace,
    projects: &[ProjectName],
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Vec<(ProjectName, Result<(), fetch::FetchError>)> {
    let manifest = &workspace.manifest.workspace;
    let mut chosen: Vec<&Project> = manifest
        .projects
        .values()
        .filter(|p| projects.is_empty() || projects.contains(&p.name))
        .collect();
    chosen.sort_by_key(|p| p.position);
    // Each fetch is a `git fetch` process that mostly waits (on the network, or on a local
    // upstream's disk), so several run at once; results keep the manifest's order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(chosen.len()));
    let fetcher = || {
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(project) = chosen.get(index) else {
                return;
            };
            if cancel.is_cancelled() {
                return;
            }
            progress.event(RunEvent::Fetching {
                project: project.name.clone(),
            });
            let result = fetch_project(&workspace.root, project, cancel);
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((index, (project.name.clone(), result)));
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..chosen.len().clamp(1, PARALLEL_FETCHES) {
            scope.spawn(fetcher);
        }
    });
    in_order(results)
}

/// How many `git fetch` processes run at once.
const PARALLEL_FETCHES: usize = 8;

fn fetch_project(root: &Path, project: &Project, cancel: &Cancel) -> Result<(), fetch::FetchError> {
    let repo = root.join(&project.repo);
    fetch::ensure_repository(&repo)?;
    let source = match &project.upstream.source {
        UpstreamSource::Url(url) => url.clone(),
        UpstreamSource::Path(path) => root.join(path).to_string_lossy().into_owned(),
    };
    fetch::fetch_upstream(&repo, &source, &project.upstream.reference, cancel)
}

/// What workers pushed as `(index, result)`, in index order: the order they were queued,
/// whichever finished first. A worker that panicked cannot have left a half-pushed entry, so
/// a poisoned lock still holds whole results.
pub(crate) fn in_order<T>(results: std::sync::Mutex<Vec<(usize, T)>>) -> Vec<T> {
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}
