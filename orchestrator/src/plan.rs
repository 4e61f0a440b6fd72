//! `carry run --dry-run`: the plan as a value (which projects, in which stages, and why),
//! computed from what is on disk now, with nothing fetched and nothing written.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use carry_adapters::git::ProjectRepo;
use carry_graph::Direction;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use serde::Serialize;

use crate::report::UpstreamMove;
use crate::run::APPLIED_BASE_REFS;
use crate::run::RunError;
use crate::run::RunOptions;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// What a run would do.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// `carry.plan/v1`.
    pub schema: &'static str,
    /// Stages of projects, in order.
    pub stages: Vec<Vec<PlannedProject>>,
}

/// What a run would do with one project.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedProject {
    /// The project.
    pub name: ProjectName,
    /// `rebase` or `skip`.
    pub action: &'static str,
    /// Why.
    pub reason: String,
    /// Upstream positions as last fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamMove>,
    /// Patches in its series, where readable.
    pub patches: usize,
    /// Its test command, when it would be tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

/// Plans a run without fetching: upstream positions are those last fetched (or read in place).
pub fn plan(workspace: &LoadedWorkspace, options: &RunOptions) -> Result<RunPlan, RunError> {
    let manifest = &workspace.manifest.workspace;
    for name in &options.projects {
        if !manifest.projects.contains_key(name) {
            return Err(RunError::UnknownProject(name.to_string()));
        }
    }
    let validation = validate(workspace);
    if validation.has_errors() {
        return Err(RunError::Invalid(validation.diagnostics));
    }
    let graph = WorkspaceGraph::build(manifest, &validation.patch_names())?;
    let selected: BTreeSet<ProjectName> = if options.projects.is_empty() {
        graph.projects().cloned().collect()
    } else {
        let mut chosen = BTreeSet::new();
        for name in &options.projects {
            if let Some(id) = graph.project(name.as_str()) {
                chosen.insert(name.clone());
                chosen.extend(graph.dependents(id, Direction::Downstream));
            }
        }
        chosen
    };
    let mut redone: BTreeSet<ProjectName> = BTreeSet::new();
    let mut stages = Vec::new();
    for stage in graph.stages() {
        let mut planned = Vec::new();
        for name in stage {
            let project = &manifest.projects[name];
            // Stages list the graph's own projects, built from this manifest.
            let id = graph
                .project(name.as_str())
                .expect("every project is in the graph");
            let listing = validation.series.get(name);
            let upstream = positions(workspace, name, listing);
            let moved_dependencies: Vec<String> = graph
                .dependents(id, Direction::Upstream)
                .into_iter()
                .filter(|d| redone.contains(d))
                .map(|d| d.to_string())
                .collect();
            let (action, reason) = if !selected.contains(name) {
                ("skip", "not selected".to_owned())
            } else if options.all {
                ("rebase", "--all".to_owned())
            } else if let Some(moved) = upstream.as_ref().filter(|u| u.from != u.to) {
                (
                    "rebase",
                    format!(
                        "upstream moved {} -> {}",
                        &moved.from[..12.min(moved.from.len())],
                        &moved.to[..12.min(moved.to.len())]
                    ),
                )
            } else if !moved_dependencies.is_empty() {
                (
                    "rebase",
                    format!(
                        "it depends on {}, which will be redone",
                        moved_dependencies.join(", ")
                    ),
                )
            } else if upstream.is_none() {
                (
                    "rebase",
                    "upstream not fetched yet; the run fetches it first".to_owned(),
                )
            } else {
                ("skip", "nothing it depends on moved".to_owned())
            };
            if action == "rebase" {
                redone.insert(name.clone());
            }
            planned.push(PlannedProject {
                name: name.clone(),
                action,
                reason,
                upstream,
                patches: listing.map_or(0, |l| l.patches.len()),
                test: (action == "rebase" && !options.no_test)
                    .then(|| project.test.as_ref().map(|t| t.command.clone()))
                    .flatten(),
            });
        }
        stages.push(planned);
    }
    Ok(RunPlan {
        schema: "carry.plan/v1",
        stages,
    })
}

fn positions(
    workspace: &LoadedWorkspace,
    name: &ProjectName,
    listing: Option<&carry_adapters::series::SeriesListing>,
) -> Option<UpstreamMove> {
    let project = &workspace.manifest.workspace.projects[name];
    let local = match &project.upstream.source {
        UpstreamSource::Path(path) => Some(workspace.root.join(path)),
        UpstreamSource::Url(_) => None,
    };
    let repo = ProjectRepo::open(&workspace.root.join(&project.repo), local.as_deref()).ok()?;
    let to = repo.upstream_tip(&project.upstream.reference)?;
    let from = match &project.series.source {
        SeriesSource::Branch(_) => listing?.base?,
        SeriesSource::Dir(_) => match &project.series.base {
            Some(base) => repo.resolve(base)?,
            None => repo
                .repo()
                .find_reference(&format!("{APPLIED_BASE_REFS}{name}"))
                .ok()
                .and_then(|r| r.target())
                .unwrap_or(to),
        },
    };
    Some(UpstreamMove {
        from: from.to_string(),
        to: to.to_string(),
    })
}

/// The plan as text: a line per project under its stage.
pub fn render(plan: &RunPlan) -> String {
    let mut out = String::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        let _ = writeln!(out, "stage {}:", index + 1);
        for project in stage {
            let test = project
                .test
                .as_deref()
                .map_or(String::new(), |t| format!("; test: {t}"));
            let _ = writeln!(
                out,
                "  {:<7} {} ({} patch{}): {}{test}",
                project.action,
                project.name,
                project.patches,
                if project.patches == 1 { "" } else { "es" },
                project.reason
            );
        }
    }
    out
}
