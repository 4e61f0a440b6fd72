//! `carry impact P --to REF`: the planner's question, answered by a trial rebase in memory.
//!
//! Every object the trial makes goes to an in-memory object store that is dropped afterwards,
//! and nothing is written to carry's store or refs: the answer is computed, shown, forgotten.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use carry_adapters::git::ProjectRepo;
use carry_adapters::rebase;
use carry_adapters::rebase::PatchInput;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::RebaseRequest;
use carry_adapters::store::Store;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use serde::Serialize;

use crate::error::RunError;
use crate::refs::APPLIED_BASE_REFS;
use crate::report::PatchReport;
use crate::report::RunReport;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// Why a trial could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The run machinery failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// REF names nothing in the project's repository.
    #[error(
        "'{reference}' is not a ref or commit of {project}'s repository; run `carry fetch {project}` first"
    )]
    UnknownRef {
        /// The project.
        project: ProjectName,
        /// What was asked for.
        reference: String,
    },
    /// The project's series or repository cannot be read.
    #[error("{project}: {reason}")]
    Project {
        /// The project.
        project: ProjectName,
        /// Why.
        reason: String,
    },
}

/// A project that would need its tests run again.
#[derive(Debug, Clone, Serialize)]
pub struct Retest {
    /// The project.
    pub project: ProjectName,
    /// How long its test took in the last run that ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<u64>,
}

/// A patch elsewhere that the move would block.
#[derive(Debug, Clone, Serialize)]
pub struct BlockedElsewhere {
    /// `PROJECT/NAME`.
    pub id: String,
    /// The failed patches it needs.
    pub blocked_by: Vec<String>,
}

/// What moving a project's upstream to a ref would do.
#[derive(Debug, Clone, Serialize)]
pub struct TrialImpact {
    /// `carry.impact/v1`.
    pub schema: &'static str,
    /// The project.
    pub project: ProjectName,
    /// What was asked for, and the commit it names.
    pub to: String,
    /// That commit.
    pub to_commit: String,
    /// Where the series sits now.
    pub from: String,
    /// Each of the project's patches, as the move would leave it.
    pub patches: Vec<PatchReport>,
    /// Patches in other projects that would be blocked through features.
    pub blocked_elsewhere: Vec<BlockedElsewhere>,
    /// Features with a patch that would conflict or be blocked.
    pub features_at_risk: Vec<String>,
    /// Projects that consume it, directly or not.
    pub consumers: Vec<ProjectName>,
    /// Projects whose tests must run again, in order, with their last test time.
    pub retest: Vec<Retest>,
}

/// Rebases `project`'s series onto `to` in memory and reports what would happen.
pub fn trial(
    workspace: &LoadedWorkspace,
    project: &ProjectName,
    to: &str,
) -> Result<TrialImpact, TrialError> {
    let mut trials = Trials::new(workspace, project)?;
    let onto = trials.resolve(to)?;
    trials.at(onto, to)
}

/// Trial rebases of one project's series, onto any upstream commit, all in memory: the
/// repository with an in-memory object store (dropped with it), the series read once.
pub struct Trials<'w> {
    workspace: &'w LoadedWorkspace,
    project: ProjectName,
    graph: WorkspaceGraph,
    repo: ProjectRepo,
    from: git2::Oid,
    inputs: Vec<crate::series_inputs::SeriesInput>,
    cache: carry_adapters::rebase::landed::UpstreamCache,
}

impl<'w> Trials<'w> {
    /// Reads `project`'s series and prepares its repository for trials.
    pub fn new(workspace: &'w LoadedWorkspace, project: &ProjectName) -> Result<Self, TrialError> {
        let manifest = &workspace.manifest.workspace;
        let Some(spec) = manifest.projects.get(project) else {
            return Err(RunError::UnknownProject(project.to_string()).into());
        };
        let validation = validate(workspace);
        if validation.has_errors() {
            return Err(RunError::Invalid(validation.diagnostics).into());
        }
        let graph =
            WorkspaceGraph::build(manifest, &validation.patch_names()).map_err(RunError::from)?;
        let fail = |reason: String| TrialError::Project {
            project: project.clone(),
            reason,
        };
        let local = match &spec.upstream.source {
            UpstreamSource::Path(path) => Some(workspace.root.join(path)),
            UpstreamSource::Url(_) => None,
        };
        let repo = ProjectRepo::open(&workspace.root.join(&spec.repo), local.as_deref())
            .map_err(|e| fail(e.to_string()))?;
        // Everything the trials write stays in memory and is dropped with `repo`.
        repo.repo()
            .odb()
            .and_then(|odb| odb.add_new_mempack_backend(1000).map(|_| ()))
            .map_err(|e| fail(format!("cannot set up an in-memory object store: {e}")))?;
        let listing = validation
            .series
            .get(project)
            .ok_or_else(|| fail("its series cannot be read; run `carry validate`".to_owned()))?;
        let (from, inputs) = match &spec.series.source {
            SeriesSource::Branch(_) => {
                let base = listing
                    .base
                    .ok_or_else(|| fail("its series has no base yet".to_owned()))?;
                (base, crate::series_inputs::branch_inputs(listing))
            }
            SeriesSource::Dir(_) => {
                let base = match &spec.series.base {
                    Some(base) => repo.resolve(base),
                    None => repo
                        .repo()
                        .find_reference(&format!("{APPLIED_BASE_REFS}{project}"))
                        .ok()
                        .and_then(|r| r.target())
                        .or_else(|| repo.upstream_tip(&spec.upstream.reference)),
                }
                .ok_or_else(|| {
                    fail("the base of its patch directory is unknown; run `carry fetch`".to_owned())
                })?;
                let inputs =
                    crate::series_inputs::dir_commits(&workspace.root, &repo, base, listing)
                        .map_err(fail)?;
                (base, inputs)
            }
        };
        // The cache is read, never written: a trial records nothing.
        let cache = Store::open(&workspace.state_dir())
            .and_then(|store| store.upstream_cache(project.as_str()))
            .unwrap_or_default();
        Ok(Self {
            workspace,
            project: project.clone(),
            graph,
            repo,
            from,
            inputs,
            cache,
        })
    }

    /// The commit `to` names in the project's repository (upstream's refs first).
    pub fn resolve(&self, to: &str) -> Result<git2::Oid, TrialError> {
        self.repo
            .resolve_upstream_first(to)
            .ok_or_else(|| TrialError::UnknownRef {
                project: self.project.clone(),
                reference: to.to_owned(),
            })
    }

    /// Where the series sits now.
    pub fn base(&self) -> git2::Oid {
        self.from
    }

    /// The project's repository (for walking upstream's history and tags).
    pub fn repository(&self) -> &git2::Repository {
        self.repo.repo()
    }

    /// The project's upstream tip as last fetched.
    pub fn upstream_tip(&self) -> Option<git2::Oid> {
        let spec = &self.workspace.manifest.workspace.projects[&self.project];
        self.repo.upstream_tip(&spec.upstream.reference)
    }

    /// A trial onto `onto` (shown as `to`).
    pub fn at(&mut self, onto: git2::Oid, to: &str) -> Result<TrialImpact, TrialError> {
        let project = self.project.clone();
        let fail = |reason: String| TrialError::Project {
            project: project.clone(),
            reason,
        };
        let request = RebaseRequest {
            old_base: self.from,
            onto,
            patches: self
                .inputs
                .iter()
                .map(|input| PatchInput {
                    name: input.name.clone(),
                    body: input.body.clone(),
                    blocked_by: Vec::new(),
                    needs: Vec::new(),
                })
                .collect(),
            resolutions: Vec::new(),
            drops: std::collections::HashMap::new(),
        };
        // Whatever the trial rebase makes stays in memory and is gone with it.
        let scratch = self
            .repo
            .with_writes_in_memory()
            .map_err(|e| fail(crate::error::error_chain(&e)))?;
        let result = rebase::rebase_series(
            scratch.repo(),
            &request,
            &mut self.cache,
            &RebaseOptions::default(),
        )
        .map_err(|e| fail(crate::error::error_chain(&e)))?;
        let graph = &self.graph;
        let patches: Vec<PatchReport> = result
            .patches
            .into_iter()
            .map(|patch| PatchReport {
                id: crate::rebasing::patch_ref(&project, &patch.name),
                subject: patch.subject,
                from: patch.from,
                outcome: crate::rebasing::qualify(&project, patch.outcome),
                notes: patch.notes,
                resolution: patch.resolution,
                review: None,
            })
            .collect();
        let failed: BTreeSet<PatchRef> = patches
            .iter()
            .filter(|p| p.outcome.failed())
            .map(|p| p.id.clone())
            .collect();
        let blocked = graph.blocked_by_needs(&failed);
        let blocked_elsewhere = blocked
            .iter()
            .filter(|(patch, _)| patch.project != project)
            .map(|(patch, causes)| BlockedElsewhere {
                id: patch.to_string(),
                blocked_by: causes.iter().map(ToString::to_string).collect(),
            })
            .collect();
        let mut features_at_risk = BTreeSet::new();
        for patch in failed.iter().chain(blocked.keys()) {
            if let Some(id) = graph.patch(patch) {
                features_at_risk.extend(graph.features_of(id).into_iter().map(|f| f.to_string()));
            }
        }
        // `project` was looked up in this manifest, and the graph is built from it.
        let id = graph
            .project(project.as_str())
            .expect("the project is in the graph");
        let impact = graph.impact(id);
        let durations = last_test_durations(self.workspace);
        Ok(TrialImpact {
            schema: "carry.impact/v1",
            project: project.clone(),
            to: to.to_owned(),
            to_commit: onto.to_string(),
            from: self.from.to_string(),
            patches,
            blocked_elsewhere,
            features_at_risk: features_at_risk.into_iter().collect(),
            consumers: impact.consumers,
            retest: impact
                .retest
                .into_iter()
                .map(|project| Retest {
                    last_duration_ms: durations.get(&project).copied(),
                    project,
                })
                .collect(),
        })
    }
}

/// Each project's test time in the newest stored run that ran it.
fn last_test_durations(workspace: &LoadedWorkspace) -> BTreeMap<ProjectName, u64> {
    let mut found = BTreeMap::new();
    let Ok(store) = Store::open(&workspace.state_dir()) else {
        return found;
    };
    for run in store.runs(50).unwrap_or_default() {
        let Some(report) = store
            .report(&run.id)
            .ok()
            .flatten()
            .and_then(|text| serde_json::from_str::<RunReport>(&text).ok())
        else {
            continue;
        };
        for project in report.projects {
            if let Some(ms) = project.test.duration_ms {
                found.entry(project.name).or_insert(ms);
            }
        }
    }
    found
}

/// Whether the trial found nothing to worry about.
pub fn is_clean(trial: &TrialImpact) -> bool {
    trial.patches.iter().all(|p| !p.outcome.failed()) && trial.blocked_elsewhere.is_empty()
}

/// The outcome counts of a trial, for a summary line.
pub fn counts(trial: &TrialImpact) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for patch in &trial.patches {
        *counts
            .entry(crate::report::outcome_name(&patch.outcome))
            .or_default() += 1;
    }
    counts
}

/// Several upstream moves tried together: `carry impact --to P=REF --to Q=REF`.
#[derive(Debug, Clone, Serialize)]
pub struct ManyTrials {
    /// `carry.impact-many/v1`.
    pub schema: &'static str,
    /// Each move's own trial, in graph order.
    pub moves: Vec<TrialImpact>,
    /// Patches anywhere in the workspace the moves together would block through features.
    pub blocked: Vec<BlockedElsewhere>,
    /// Features with a patch that would conflict or be blocked.
    pub features_at_risk: Vec<String>,
    /// Projects whose tests must run again, in graph order.
    pub retest: Vec<ProjectName>,
}

/// Why several moves cannot be tried.
#[derive(Debug, thiserror::Error)]
pub enum ManyError {
    /// One of the trials failed.
    #[error(transparent)]
    Trial(#[from] TrialError),
    /// A project was named twice.
    #[error("{0} is moved twice; give one --to per project")]
    Twice(ProjectName),
}

/// Tries every move of `moves` (project, ref) together, in graph order.
pub fn trial_many(
    workspace: &LoadedWorkspace,
    moves: &[(ProjectName, String)],
) -> Result<ManyTrials, ManyError> {
    let mut seen = BTreeSet::new();
    for (project, _) in moves {
        if !seen.insert(project.clone()) {
            return Err(ManyError::Twice(project.clone()));
        }
    }
    let validation = validate(workspace);
    if validation.has_errors() {
        return Err(TrialError::from(RunError::Invalid(validation.diagnostics)).into());
    }
    let graph = WorkspaceGraph::build(&workspace.manifest.workspace, &validation.patch_names())
        .map_err(|e| TrialError::from(RunError::from(e)))?;
    // Every ref is checked before any trial runs.
    let mut ordered: Vec<&(ProjectName, String)> = moves.iter().collect();
    let position = |name: &ProjectName| {
        graph
            .stages()
            .iter()
            .flatten()
            .position(|p| p == name)
            .unwrap_or(usize::MAX)
    };
    ordered.sort_by_key(|(project, _)| position(project));
    let mut prepared = Vec::new();
    for (project, to) in ordered {
        let trials = Trials::new(workspace, project)?;
        let onto = trials.resolve(to)?;
        prepared.push((trials, onto, to.clone()));
    }
    let mut results = Vec::new();
    for (mut trials, onto, to) in prepared {
        results.push(trials.at(onto, &to)?);
    }
    let failed: BTreeSet<PatchRef> = results
        .iter()
        .flat_map(|t| &t.patches)
        .filter(|p| p.outcome.failed())
        .map(|p| p.id.clone())
        .collect();
    let blocked_map = graph.blocked_by_needs(&failed);
    let blocked: Vec<BlockedElsewhere> = blocked_map
        .iter()
        .filter(|(patch, _)| !failed.contains(*patch))
        .map(|(patch, causes)| BlockedElsewhere {
            id: patch.to_string(),
            blocked_by: causes.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let mut features_at_risk = BTreeSet::new();
    for patch in failed.iter().chain(blocked_map.keys()) {
        if let Some(id) = graph.patch(patch) {
            features_at_risk.extend(graph.features_of(id).into_iter().map(|f| f.to_string()));
        }
    }
    let mut retest: BTreeSet<ProjectName> = BTreeSet::new();
    for (project, _) in moves {
        if let Some(id) = graph.project(project.as_str()) {
            retest.extend(graph.impact(id).retest);
        }
    }
    let retest = graph
        .stages()
        .iter()
        .flatten()
        .filter(|p| retest.contains(*p))
        .cloned()
        .collect();
    Ok(ManyTrials {
        schema: "carry.impact-many/v1",
        moves: results,
        blocked,
        features_at_risk: features_at_risk.into_iter().collect(),
        retest,
    })
}
