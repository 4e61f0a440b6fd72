//! The plan of a run, as a value: which projects, in which stages, what is done with each and
//! why, with the inputs that decided it. `carry run --dry-run` prints it; `carry run` computes
//! it the same way (after fetching) and executes exactly it, so the two cannot disagree.
//!
//! A project is rebased when its upstream moved past its series' base, when its series
//! changed since a run last found it clean, when anything it depends on is redone, with
//! `--all`, or when its upstream was never fetched (the run finds out); a project whose fetch
//! failed is in error; the rest are skipped.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use carry_adapters::git::ProjectRepo;
use carry_adapters::series::SeriesListing;
use carry_adapters::store::Store;
use carry_graph::Direction;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use serde::Serialize;

use crate::error::RunError;
use crate::options::RunOptions;
use crate::refs::APPLIED_BASE_REFS;
use crate::report::UpstreamMove;
use crate::series_memory::series_identity;
use crate::validate::Validation;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// What a run does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunPlan {
    /// `carry.plan/v1`.
    pub schema: &'static str,
    /// Stages of projects, in order: a stage's projects depend only on earlier stages'.
    pub stages: Vec<Vec<PlannedProject>>,
}

impl RunPlan {
    /// Every project of the plan, stage by stage.
    pub fn projects(&self) -> impl Iterator<Item = &PlannedProject> {
        self.stages.iter().flatten()
    }

    /// The projects the run works on (rebased, or in error), in order.
    pub fn touched(&self) -> Vec<&ProjectName> {
        self.projects()
            .filter(|p| p.action != Action::Skip)
            .map(|p| &p.name)
            .collect()
    }
}

/// What a run does with one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedProject {
    /// The project.
    pub name: ProjectName,
    /// What is done with it.
    pub action: Action,
    /// Why, for a human.
    pub reason: String,
    /// Why, as data.
    pub why: Why,
    /// Upstream positions: the series' base and upstream's tip as fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamMove>,
    /// Patches in its series, where readable.
    pub patches: usize,
    /// Its test command, when it is tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

/// What a run does with a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Rebase its series, then test it.
    Rebase,
    /// Leave it as it is (reported `unchanged`).
    Skip,
    /// Report it in error: carry cannot work on it (its fetch failed).
    Error,
}

/// Why a project is planned as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Why {
    /// Neither named on the command line nor depending on a project that was.
    NotSelected,
    /// `--all`.
    All,
    /// Its upstream moved past its series' base.
    UpstreamMoved,
    /// Its series changed since a run last found it clean.
    SeriesChanged,
    /// Something it depends on is redone.
    DependsOn {
        /// Those projects.
        projects: Vec<ProjectName>,
    },
    /// Its upstream was never fetched: the run fetches it first (or, offline, finds out).
    NotFetched,
    /// Nothing it depends on moved.
    NothingMoved,
    /// Its upstream could not be fetched.
    FetchFailed {
        /// Why.
        error: String,
    },
}

impl Why {
    /// What is done for this reason.
    pub fn action(&self) -> Action {
        match self {
            Self::NotSelected | Self::NothingMoved => Action::Skip,
            Self::FetchFailed { .. } => Action::Error,
            Self::All
            | Self::UpstreamMoved
            | Self::SeriesChanged
            | Self::DependsOn { .. }
            | Self::NotFetched => Action::Rebase,
        }
    }

    fn describe(&self, upstream: Option<&UpstreamMove>) -> String {
        match self {
            Self::NotSelected => "not selected".to_owned(),
            Self::All => "--all".to_owned(),
            Self::UpstreamMoved => match upstream {
                Some(moved) => format!(
                    "upstream moved {} -> {}",
                    short(&moved.from),
                    short(&moved.to)
                ),
                None => "upstream moved".to_owned(),
            },
            Self::SeriesChanged => "its series changed since a run last found it clean".to_owned(),
            Self::DependsOn { projects } => format!(
                "it depends on {}, which will be redone",
                projects
                    .iter()
                    .map(ProjectName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::NotFetched => "upstream not fetched yet; the run fetches it first".to_owned(),
            Self::NothingMoved => "nothing it depends on moved".to_owned(),
            Self::FetchFailed { error } => format!("fetch failed: {error}"),
        }
    }
}

/// What a plan is computed from.
pub(crate) struct PlanInputs<'a> {
    pub(crate) workspace: &'a LoadedWorkspace,
    pub(crate) validation: &'a Validation,
    pub(crate) graph: &'a WorkspaceGraph,
    pub(crate) options: &'a RunOptions,
    /// Where series last found clean are remembered; none before the first run.
    pub(crate) store: Option<&'a Store>,
    /// Projects whose fetch failed in this run, with why.
    pub(crate) fetch_errors: &'a BTreeMap<ProjectName, String>,
}

/// Plans a run without fetching or writing anything: upstream positions are those last
/// fetched (or read in place), series are compared with what the store remembers.
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
    // A workspace with no store yet gets none: a dry run records nothing.
    let store = if workspace.state_dir().join("carry.db").is_file() {
        Some(Store::open(&workspace.state_dir())?)
    } else {
        None
    };
    compute(&PlanInputs {
        workspace,
        validation: &validation,
        graph: &graph,
        options,
        store: store.as_ref(),
        fetch_errors: &BTreeMap::new(),
    })
}

/// The named projects and everything that depends on them; every project when none is named.
pub(crate) fn selection(graph: &WorkspaceGraph, named: &[ProjectName]) -> BTreeSet<ProjectName> {
    if named.is_empty() {
        return graph.projects().cloned().collect();
    }
    let mut selected = BTreeSet::new();
    for name in named {
        if let Some(id) = graph.project(name.as_str()) {
            selected.insert(name.clone());
            selected.extend(graph.dependents(id, Direction::Downstream));
        }
    }
    selected
}

/// The plan, from its inputs. Reads git and the store; writes nothing.
pub(crate) fn compute(inputs: &PlanInputs<'_>) -> Result<RunPlan, RunError> {
    let manifest = &inputs.workspace.manifest.workspace;
    let selected = selection(inputs.graph, &inputs.options.projects);
    let mut redone: BTreeSet<ProjectName> = BTreeSet::new();
    let mut stages = Vec::new();
    for stage in inputs.graph.stages() {
        let mut planned = Vec::new();
        for name in stage {
            let project = &manifest.projects[name];
            // Stages list the graph's own projects, built from this manifest.
            let id = inputs
                .graph
                .project(name.as_str())
                .expect("every project is in the graph");
            let listing = inputs.validation.series.get(name);
            let upstream = positions(inputs.workspace, name, listing);
            let depends_on: Vec<ProjectName> = inputs
                .graph
                .dependents(id, Direction::Upstream)
                .into_iter()
                .filter(|d| redone.contains(d))
                .collect();
            let why = if !selected.contains(name) {
                Why::NotSelected
            } else if let Some(error) = inputs.fetch_errors.get(name) {
                Why::FetchFailed {
                    error: error.clone(),
                }
            } else if inputs.options.all {
                Why::All
            } else if upstream.as_ref().is_some_and(|u| u.from != u.to) {
                Why::UpstreamMoved
            } else if !depends_on.is_empty() {
                Why::DependsOn {
                    projects: depends_on,
                }
            } else if upstream.is_none() {
                Why::NotFetched
            } else {
                // With no run that found it clean yet, what it carries is the baseline
                // (recorded at the run's end): not news.
                match series_seen(inputs, name, listing)? {
                    Some(false) => Why::SeriesChanged,
                    Some(true) | None => Why::NothingMoved,
                }
            };
            let action = why.action();
            if action != Action::Skip {
                redone.insert(name.clone());
            }
            planned.push(PlannedProject {
                name: name.clone(),
                action,
                reason: why.describe(upstream.as_ref()),
                why,
                upstream,
                patches: listing.map_or(0, |l| l.patches.len()),
                test: (action == Action::Rebase && !inputs.options.no_test)
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

/// Whether the series is the one a run last found clean; `None` when none did.
fn series_seen(
    inputs: &PlanInputs<'_>,
    name: &ProjectName,
    listing: Option<&SeriesListing>,
) -> Result<Option<bool>, RunError> {
    let (Some(listing), Some(store)) = (listing, inputs.store) else {
        return Ok(None);
    };
    let identity = series_identity(&inputs.workspace.root, listing);
    Ok(store
        .series_seen(name.as_str())?
        .map(|seen| seen == identity))
}

/// The series' base and upstream's tip, as far as they can be read now.
fn positions(
    workspace: &LoadedWorkspace,
    name: &ProjectName,
    listing: Option<&SeriesListing>,
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
            Some(base) => repo.resolve_local(base)?,
            // A directory that pins no base sits where carry recorded it; the first run
            // records upstream's tip.
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

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
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
            let action = match project.action {
                Action::Rebase => "rebase",
                Action::Skip => "skip",
                Action::Error => "error",
            };
            let _ = writeln!(
                out,
                "  {action:<7} {} ({} patch{}): {}{test}",
                project.name,
                project.patches,
                if project.patches == 1 { "" } else { "es" },
                project.reason
            );
        }
    }
    out
}
