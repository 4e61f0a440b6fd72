//! The workspace graph as a serializable view: stages, projects with their upstreams, series,
//! consumers and patches, and features with their needs. `carry graph --format json` prints
//! it; the service serves it and draws its picture from it.
#![allow(
    missing_docs,
    reason = "a plain view whose fields are named for what they hold"
)]

use carry_graph::FeatureName;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use carry_graph::workspace::Workspace;
use serde::Serialize;

#[derive(Serialize)]
pub struct GraphReport {
    pub schema: &'static str,
    pub workspace: String,
    pub stages: Vec<Vec<ProjectName>>,
    pub projects: Vec<ProjectView>,
    pub features: Vec<FeatureView>,
}

#[derive(Serialize)]
pub struct ProjectView {
    pub name: ProjectName,
    pub stage: usize,
    pub upstream: UpstreamView,
    pub series: SeriesView,
    pub consumes: Vec<ProjectName>,
    pub consumers: Vec<ProjectName>,
    pub patches: Vec<PatchRef>,
}

#[derive(Serialize)]
pub struct UpstreamView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Serialize)]
pub struct SeriesView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

#[derive(Serialize)]
pub struct FeatureView {
    pub name: FeatureName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    pub patches: Vec<FeaturePatchView>,
}

#[derive(Serialize)]
pub struct FeaturePatchView {
    pub id: PatchRef,
    pub needs: Vec<PatchRef>,
}

pub fn report(workspace: &Workspace, graph: &WorkspaceGraph) -> GraphReport {
    let mut projects = Vec::new();
    for stage in graph.stages() {
        for name in stage {
            let Some(id) = graph.project(name.as_str()) else {
                continue;
            };
            let project = &workspace.projects[name];
            let (url, path) = match &project.upstream.source {
                UpstreamSource::Url(url) => {
                    (Some(carry_graph::redact::url(url).into_owned()), None)
                }
                UpstreamSource::Path(path) => (None, Some(path.clone())),
            };
            let (branch, dir) = match &project.series.source {
                SeriesSource::Branch(branch) => (Some(branch.clone()), None),
                SeriesSource::Dir(dir) => (None, Some(dir.clone())),
            };
            projects.push(ProjectView {
                name: name.clone(),
                stage: graph.stage_of(id) + 1,
                upstream: UpstreamView {
                    url,
                    path,
                    reference: project.upstream.reference.clone(),
                },
                series: SeriesView {
                    branch,
                    dir,
                    base: project.series.base.clone(),
                },
                consumes: graph.consumes(id),
                consumers: graph.consumers(id),
                patches: graph.patches_of(id),
            });
        }
    }
    let features = workspace
        .features
        .values()
        .map(|feature| FeatureView {
            name: feature.name.clone(),
            description: feature.description.clone(),
            deadline: feature.deadline.map(|d| d.to_string()),
            tracking: feature.tracking.clone(),
            patches: feature
                .patches()
                .into_iter()
                .map(|patch| FeaturePatchView {
                    id: patch.clone(),
                    needs: feature.needs.get(patch).cloned().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    GraphReport {
        schema: "carry.graph/v1",
        workspace: workspace.name.clone(),
        stages: graph.stages().to_vec(),
        projects,
        features,
    }
}
