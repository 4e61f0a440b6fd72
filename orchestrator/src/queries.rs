//! The graph-level questions over a loaded workspace.
//!
//! Series are read where they can be, so `impact` knows every carried patch; a project whose
//! repository is not there yet contributes only the patches its features name.

use carry_graph::GraphError;
use carry_graph::WorkspaceGraph;

use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// The workspace graph, with each series that reads cleanly.
pub fn workspace_graph(workspace: &LoadedWorkspace) -> Result<WorkspaceGraph, GraphError> {
    let validation = validate(workspace);
    WorkspaceGraph::build(&workspace.manifest.workspace, &validation.patch_names())
}
