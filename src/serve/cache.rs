//! What read requests reuse: the loaded workspace while `carry.toml` is unchanged, the graph
//! (which reads every series) for a couple of seconds, and finished reports, which never
//! change. A wall screen polling the API then costs almost nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use carry_graph::WorkspaceGraph;
use carry_orchestrator::workspace::LoadedWorkspace;

/// How long a graph (and the series it read) is reused.
const GRAPH_TTL: Duration = Duration::from_secs(2);
/// How many finished reports are kept.
const REPORTS: usize = 64;

type Stamp = (SystemTime, u64);

#[derive(Default)]
pub(crate) struct Cache {
    workspace: Mutex<Option<(Stamp, Arc<LoadedWorkspace>)>>,
    graph: Mutex<Option<(Stamp, Instant, Arc<WorkspaceGraph>)>>,
    reports: Mutex<HashMap<String, Arc<String>>>,
}

fn stamp(root: &Path) -> Option<Stamp> {
    let metadata =
        std::fs::metadata(root.join(carry_orchestrator::workspace::MANIFEST_FILE)).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

impl Cache {
    /// The workspace, loaded again only when `carry.toml` changed.
    pub(crate) fn workspace<E>(
        &self,
        root: &Path,
        load: impl FnOnce() -> Result<LoadedWorkspace, E>,
    ) -> Result<Arc<LoadedWorkspace>, E> {
        let current = stamp(root);
        if let (Some(now), Ok(guard)) = (current, self.workspace.lock())
            && let Some((cached, workspace)) = guard.as_ref()
            && *cached == now
        {
            return Ok(workspace.clone());
        }
        let workspace = Arc::new(load()?);
        if let (Some(now), Ok(mut guard)) = (current, self.workspace.lock()) {
            *guard = Some((now, workspace.clone()));
        }
        Ok(workspace)
    }

    /// The graph with every series, rebuilt when older than a moment or when the manifest changed.
    pub(crate) fn graph<E>(
        &self,
        root: &Path,
        build: impl FnOnce() -> Result<WorkspaceGraph, E>,
    ) -> Result<Arc<WorkspaceGraph>, E> {
        let current = stamp(root);
        if let (Some(now), Ok(guard)) = (current, self.graph.lock())
            && let Some((cached, at, graph)) = guard.as_ref()
            && *cached == now
            && at.elapsed() < GRAPH_TTL
        {
            return Ok(graph.clone());
        }
        let graph = Arc::new(build()?);
        if let (Some(now), Ok(mut guard)) = (current, self.graph.lock()) {
            *guard = Some((now, Instant::now(), graph.clone()));
        }
        Ok(graph)
    }

    /// Forgets the graph (a run just changed candidates).
    pub(crate) fn forget_graph(&self) {
        if let Ok(mut guard) = self.graph.lock() {
            *guard = None;
        }
    }

    pub(crate) fn report(&self, id: &str) -> Option<Arc<String>> {
        self.reports.lock().ok()?.get(id).cloned()
    }

    pub(crate) fn keep_report(&self, id: &str, report: Arc<String>) {
        if let Ok(mut reports) = self.reports.lock() {
            if reports.len() >= REPORTS {
                reports.clear();
            }
            reports.insert(id.to_owned(), report);
        }
    }
}
