//! `carry graph`: the workspace graph as text, Graphviz dot, Mermaid or JSON.

use std::fmt::Write as _;

use carry_graph::FeatureName;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use carry_graph::workspace::Workspace;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::cli::GraphArgs;
use crate::cli::GraphFormat;
use crate::error::CliError;
use crate::error::Outcome;

#[derive(Serialize)]
pub(crate) struct GraphReport {
    schema: &'static str,
    workspace: String,
    stages: Vec<Vec<ProjectName>>,
    projects: Vec<ProjectView>,
    features: Vec<FeatureView>,
}

#[derive(Serialize)]
struct ProjectView {
    name: ProjectName,
    stage: usize,
    upstream: UpstreamView,
    series: SeriesView,
    consumes: Vec<ProjectName>,
    consumers: Vec<ProjectName>,
    patches: Vec<PatchRef>,
}

#[derive(Serialize)]
struct UpstreamView {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Serialize)]
struct SeriesView {
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<String>,
}

#[derive(Serialize)]
struct FeatureView {
    name: FeatureName,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking: Option<String>,
    patches: Vec<FeaturePatchView>,
}

#[derive(Serialize)]
struct FeaturePatchView {
    id: PatchRef,
    needs: Vec<PatchRef>,
}

pub(crate) fn run(global: &GlobalArgs, args: &GraphArgs) -> Result<Outcome, CliError> {
    let workspace = super::load(global)?;
    let graph = carry_orchestrator::queries::workspace_graph(&workspace)?;
    let report = report(&workspace.manifest.workspace, &graph);
    match args.format {
        GraphFormat::Json => super::print_json(&report)?,
        GraphFormat::Text => anstream::print!("{}", text(&report)),
        GraphFormat::Dot => anstream::print!("{}", dot(&report)),
        GraphFormat::Mermaid => anstream::print!("{}", mermaid(&report)),
    }
    Ok(Outcome::Clean)
}

pub(crate) fn report(workspace: &Workspace, graph: &WorkspaceGraph) -> GraphReport {
    let mut projects = Vec::new();
    for stage in graph.stages() {
        for name in stage {
            let Some(id) = graph.project(name.as_str()) else {
                continue;
            };
            let project = &workspace.projects[name];
            let (url, path) = match &project.upstream.source {
                UpstreamSource::Url(url) => (Some(url.clone()), None),
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

fn join<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn text(report: &GraphReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "workspace {}: {} projects in {} stages, {} features",
        report.workspace,
        report.projects.len(),
        report.stages.len(),
        report.features.len()
    );
    for project in &report.projects {
        let upstream = project
            .upstream
            .url
            .as_deref()
            .or(project.upstream.path.as_deref())
            .unwrap_or("");
        let series = match (&project.series.branch, &project.series.dir) {
            (Some(branch), _) => format!("branch {branch}"),
            (_, Some(dir)) => format!("dir {dir}"),
            _ => String::new(),
        };
        let base = project
            .series
            .base
            .as_deref()
            .map_or_else(|| "merge base".to_owned(), ToOwned::to_owned);
        let _ = writeln!(
            out,
            "\n[{}] {} (stage {})",
            project.stage, project.name, project.stage
        );
        let _ = writeln!(
            out,
            "  upstream  {upstream} @ {}",
            project.upstream.reference
        );
        let _ = writeln!(out, "  series    {series} on {base}");
        let _ = writeln!(out, "  consumes  {}", join(&project.consumes));
        let _ = writeln!(out, "  consumers {}", join(&project.consumers));
        let names: Vec<&str> = project.patches.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(out, "  patches   {}", join(&names));
    }
    for feature in &report.features {
        let mut heading = format!("\nfeature {}", feature.name);
        if let Some(description) = &feature.description {
            let _ = write!(heading, ": {description}");
        }
        if let Some(deadline) = &feature.deadline {
            let _ = write!(heading, " (deadline {deadline})");
        }
        let _ = writeln!(out, "{heading}");
        for patch in &feature.patches {
            if patch.needs.is_empty() {
                let _ = writeln!(out, "  {}", patch.id);
            } else {
                let _ = writeln!(out, "  {} needs {}", patch.id, join(&patch.needs));
            }
        }
    }
    out
}

/// An identifier safe in dot and Mermaid, one-to-one with its name: letters and digits as they
/// are, anything else as `_` and its hex code.
fn node_id(kind: &str, name: &str) -> String {
    let mut id = String::with_capacity(kind.len() + name.len() * 2 + 1);
    id.push_str(kind);
    id.push('_');
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}", u32::from(c));
        }
    }
    id
}

fn dot(report: &GraphReport) -> String {
    let mut out =
        String::from("digraph carry {\n  rankdir=BT;\n  node [shape=box, style=rounded];\n");
    for project in &report.projects {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\"];",
            node_id("p", project.name.as_str()),
            project.name
        );
    }
    for project in &report.projects {
        for consumed in &project.consumes {
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"consumes\"];",
                node_id("p", project.name.as_str()),
                node_id("p", consumed.as_str())
            );
        }
    }
    for feature in &report.features {
        let _ = writeln!(
            out,
            "  subgraph {} {{\n    label=\"feature {}\";\n    style=dashed;",
            node_id("cluster", feature.name.as_str()),
            feature.name
        );
        for patch in &feature.patches {
            let _ = writeln!(
                out,
                "    {} [label=\"{}\", shape=note];",
                node_id("patch", &format!("{}_{}", feature.name, patch.id)),
                patch.id
            );
        }
        out.push_str("  }\n");
        for patch in &feature.patches {
            let from = node_id("patch", &format!("{}_{}", feature.name, patch.id));
            let _ = writeln!(
                out,
                "  {from} -> {} [style=dotted, arrowhead=none];",
                node_id("p", patch.id.project.as_str())
            );
            for needed in &patch.needs {
                let _ = writeln!(
                    out,
                    "  {from} -> {} [style=dashed, label=\"needs\"];",
                    node_id("patch", &format!("{}_{needed}", feature.name))
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid(report: &GraphReport) -> String {
    let mut out = String::from("flowchart BT\n");
    for project in &report.projects {
        let _ = writeln!(
            out,
            "  {}[\"{}\"]",
            node_id("p", project.name.as_str()),
            project.name
        );
    }
    for project in &report.projects {
        for consumed in &project.consumes {
            let _ = writeln!(
                out,
                "  {} -->|consumes| {}",
                node_id("p", project.name.as_str()),
                node_id("p", consumed.as_str())
            );
        }
    }
    for feature in &report.features {
        let _ = writeln!(
            out,
            "  subgraph {}[\"feature {}\"]",
            node_id("f", feature.name.as_str()),
            feature.name
        );
        for patch in &feature.patches {
            let _ = writeln!(
                out,
                "    {}([\"{}\"])",
                node_id("patch", &format!("{}_{}", feature.name, patch.id)),
                patch.id
            );
        }
        out.push_str("  end\n");
        for patch in &feature.patches {
            let from = node_id("patch", &format!("{}_{}", feature.name, patch.id));
            for needed in &patch.needs {
                let _ = writeln!(
                    out,
                    "  {from} -.->|needs| {}",
                    node_id("patch", &format!("{}_{needed}", feature.name))
                );
            }
            let _ = writeln!(
                out,
                "  {from} --- {}",
                node_id("p", patch.id.project.as_str())
            );
        }
    }
    out
}
