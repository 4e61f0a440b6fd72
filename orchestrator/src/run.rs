//! `carry run`: fetch, order, rebase, record candidates, report.
//!
//! Projects are worked on stage by stage. A project is redone when its upstream moved (the
//! series' base is not upstream's tip), when anything it depends on was redone, or with
//! `--all`. Patches blocked through features are known before a project is rebased, because
//! everything a project depends on comes in an earlier stage. Results go under
//! `refs/carry/candidate/<project>`; the user's branches and patch files are only read.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;

use carry_adapters::fetch;
use carry_adapters::git::ProjectRepo;
use carry_adapters::lock::LockHolder;
use carry_adapters::lock::WorkspaceLock;
use carry_adapters::pack;
use carry_adapters::rebase;
use carry_adapters::rebase::Outcome;
use carry_adapters::rebase::PatchBody;
use carry_adapters::rebase::PatchInput;
use carry_adapters::rebase::PatchProblem;
use carry_adapters::rebase::RebaseOptions;
use carry_adapters::rebase::RebaseRequest;
use carry_adapters::rebase::apply::AppliedFile;
use carry_adapters::rebase::apply::PatchFileInput;
use carry_adapters::series::PatchSource;
use carry_adapters::series::SeriesListing;
use carry_adapters::store::PatchOutcomeRow;
use carry_adapters::store::ProjectOutcomeRow;
use carry_adapters::store::Store;
use carry_graph::Diagnostic;
use carry_graph::Direction;
use carry_graph::GraphError;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::Project;
use carry_graph::workspace::SeriesSource;
use carry_graph::workspace::UpstreamSource;
use git2::Oid;

use crate::report::FeatureReport;
use crate::report::FeatureStatus;
use crate::report::PatchReport;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::RUN_SCHEMA;
use crate::report::RunReport;
use crate::report::RunStatus;
use crate::report::TestReport;
use crate::report::TestStatus;
use crate::report::UpstreamMove;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// Where candidates go in each project's repository.
pub const CANDIDATE_REFS: &str = "refs/carry/candidate/";
/// Where carry remembers the base of a patch directory that pins none.
pub const APPLIED_BASE_REFS: &str = "refs/carry/applied-base/";

/// What to run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunOptions {
    /// Only these projects and what depends on them; every project when empty.
    pub projects: Vec<ProjectName>,
    /// Redo every selected project, moved or not.
    pub all: bool,
    /// Do not fetch; use the upstream refs as they are.
    pub offline: bool,
    /// Skip the bisection for each conflict's first bad upstream commit.
    pub skip_first_bad: bool,
    /// Rebase only; run no tests.
    pub no_test: bool,
    /// How many tests of one stage may run side by side (at least 1).
    pub jobs: usize,
    /// Redo every step: reuse no rebase or test result recorded for the same inputs.
    pub fresh: bool,
    /// The run's id, when the caller chose it (the service answers with it before starting).
    #[serde(skip)]
    pub run_id: Option<String>,
    /// Set to stop the run after the step it is on; it is then recorded as interrupted and the
    /// next run resumes it.
    #[serde(skip)]
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl RunOptions {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Progress, as events a face turns into bars, lines or server-sent events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// Fetching a project's upstream.
    Fetching {
        /// The project.
        project: ProjectName,
    },
    /// Rebasing a project's series.
    Rebasing {
        /// The project.
        project: ProjectName,
        /// How many patches its series has.
        patches: usize,
    },
    /// A patch is being rebased.
    Patch {
        /// The project.
        project: ProjectName,
        /// Its position in the series, from 0.
        index: usize,
        /// How many patches the series has.
        total: usize,
        /// The patch's name.
        name: String,
    },
    /// A project's earlier result for the same inputs is reused.
    Reused {
        /// The project.
        project: ProjectName,
        /// What was reused: "rebase" or "test".
        what: &'static str,
    },
    /// A test started.
    TestStarted {
        /// The project.
        project: ProjectName,
    },
    /// A test ended (or was blocked or reused).
    TestFinished {
        /// The project.
        project: ProjectName,
        /// How it ended.
        status: crate::report::TestStatus,
        /// How long it ran.
        duration_ms: Option<u64>,
    },
    /// A previous run died; this one takes over.
    Resuming {
        /// The dead run.
        run: String,
    },
    /// A project is done.
    ProjectDone {
        /// The project.
        project: ProjectName,
        /// A one-line summary.
        summary: String,
    },
}

/// Receives [`RunEvent`]s; the binary supplies one. Tests of one stage report from several
/// threads, hence `Sync`.
pub trait Progress: Sync {
    /// Called for each event, in order.
    fn event(&self, event: RunEvent);
}

/// A progress sink that drops everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: RunEvent) {}
}

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The workspace does not validate.
    #[error("the workspace has {} problem{}", .0.iter().filter(|d| d.is_error()).count(), if .0.iter().filter(|d| d.is_error()).count() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    /// The graph has cycles.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The run was asked to stop; what it finished is recorded and the next run resumes.
    #[error("the run was stopped; the next run resumes it")]
    Cancelled,
    /// A project named on the command line does not exist.
    #[error("no project '{0}'")]
    UnknownProject(String),
    /// Another run holds the workspace.
    #[error(transparent)]
    Locked(#[from] carry_adapters::lock::LockError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] carry_adapters::store::StoreError),
    /// carry's state directory could not be written.
    #[error("cannot write {}", path.display())]
    State {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Fetches every selected project's upstream into its repository.
pub fn fetch_all(
    workspace: &LoadedWorkspace,
    projects: &[ProjectName],
    progress: &dyn Progress,
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
            progress.event(RunEvent::Fetching {
                project: project.name.clone(),
            });
            let result = fetch_project(&workspace.root, project);
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((index, project.name.clone(), result));
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..chosen.len().clamp(1, PARALLEL_FETCHES) {
            scope.spawn(fetcher);
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _, _)| *index);
    results
        .into_iter()
        .map(|(_, name, result)| (name, result))
        .collect()
}

/// How many `git fetch` processes run at once.
const PARALLEL_FETCHES: usize = 8;

fn fetch_project(root: &Path, project: &Project) -> Result<(), fetch::FetchError> {
    let repo = root.join(&project.repo);
    fetch::ensure_repository(&repo)?;
    let source = match &project.upstream.source {
        UpstreamSource::Url(url) => url.clone(),
        UpstreamSource::Path(path) => root.join(path).to_string_lossy().into_owned(),
    };
    fetch::fetch_upstream(&repo, &source, &project.upstream.reference)
}

/// A new run id: the UTC time and the process id.
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), std::process::id())
}

/// Runs the rebase part of the nightly job and reports.
pub fn run(
    workspace: &LoadedWorkspace,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    let manifest = &workspace.manifest.workspace;
    for name in &options.projects {
        if !manifest.projects.contains_key(name) {
            return Err(RunError::UnknownProject(name.to_string()));
        }
    }
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let state_dir = workspace.state_dir();
    let lock = WorkspaceLock::acquire(
        &state_dir,
        &LockHolder {
            run: run_id.clone(),
            pid: std::process::id(),
            started_at: carry_adapters::store::now(),
        },
    )?;
    let mut store = Store::open(&state_dir)?;
    // We hold the lock, so any run the store still calls running is dead.
    let interrupted = store.interrupt_dead_runs()?;
    let resumed_from = interrupted.first().cloned();
    if let Some(dead) = &resumed_from {
        progress.event(RunEvent::Resuming { run: dead.clone() });
    }
    store.start_run(&run_id, options, resumed_from.as_deref())?;
    let result = run_locked(workspace, options, progress, &mut store, &run_id);
    match &result {
        Err(RunError::Cancelled) => {
            let _ = store.interrupt_dead_runs();
        }
        Err(error) => {
            let _ = store.fail_run(&run_id, &error_chain(error));
        }
        Ok(_) => {}
    }
    lock.release();
    result
}

fn run_locked(
    workspace: &LoadedWorkspace,
    options: &RunOptions,
    progress: &dyn Progress,
    store: &mut Store,
    run_id: &str,
) -> Result<RunReport, RunError> {
    let manifest = &workspace.manifest.workspace;
    // A run killed while writing a ref leaves its lock file behind; we hold the workspace lock.
    for project in manifest.projects.values() {
        carry_adapters::git::clear_stale_carry_locks(&workspace.root.join(&project.repo));
    }
    let mut fetch_errors: BTreeMap<ProjectName, String> = BTreeMap::new();
    if !options.offline {
        let graph = WorkspaceGraph::from_manifest(manifest)?;
        let selected = selection(&graph, &options.projects);
        let names: Vec<ProjectName> = selected.into_iter().collect();
        for (project, result) in fetch_all(workspace, &names, progress) {
            match result {
                Ok(()) => store.journal(run_id, "fetched", project.as_str(), "")?,
                Err(error) => {
                    store.journal(run_id, "fetch-failed", project.as_str(), &error.to_string())?;
                    fetch_errors.insert(project, error.to_string());
                }
            }
        }
    }

    let started = std::time::Instant::now();
    let validation = validate(workspace);
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "validated");
    if validation.has_errors() {
        return Err(RunError::Invalid(validation.diagnostics));
    }
    let graph = WorkspaceGraph::build(manifest, &validation.patch_names())?;
    let selected = selection(&graph, &options.projects);

    let own_needs = needs_within_projects(&graph);
    let mut redone: BTreeSet<ProjectName> = BTreeSet::new();
    let mut failed: BTreeSet<PatchRef> = BTreeSet::new();
    let mut reports: BTreeMap<ProjectName, ProjectReport> = BTreeMap::new();
    let mut order = Vec::new();

    for stage in graph.stages() {
        if options.cancelled() {
            return Err(RunError::Cancelled);
        }
        // Projects of one stage do not depend on each other (stages follow consumes and
        // feature needs), so what blocks them is known before any of them starts, and they
        // are rebased side by side.
        let blocked = graph.blocked_by_needs(&failed);
        let mut stage_reports: BTreeMap<&ProjectName, ProjectReport> = BTreeMap::new();
        let mut to_rebase = Vec::new();
        for name in stage {
            if !selected.contains(name) {
                stage_reports.insert(name, unchanged(name));
            } else if let Some(error) = fetch_errors.get(name) {
                stage_reports.insert(
                    name,
                    error_report(name, None, format!("fetch failed: {error}")),
                );
            } else {
                // Stages list the graph's own projects, built from this manifest.
                let id = graph
                    .project(name.as_str())
                    .expect("every project is in the graph");
                let depends_on_redone = graph
                    .dependents(id, Direction::Upstream)
                    .iter()
                    .any(|dep| redone.contains(dep));
                to_rebase.push((name, depends_on_redone));
            }
        }
        let work = StageWork {
            root: &workspace.root,
            projects: &manifest.projects,
            series: &validation.series,
            blocked: &blocked,
            own_needs: &own_needs,
            options,
            run_id,
        };
        let rebased =
            rebase_side_by_side(&to_rebase, &workspace.state_dir(), store, &work, progress)?;
        stage_reports.extend(rebased);
        for name in stage {
            // Each project of the stage was either decided above or among `to_rebase`.
            let report = stage_reports
                .remove(name)
                .expect("every project of the stage has a report");
            let id = graph
                .project(name.as_str())
                .expect("every project is in the graph");
            if report.status != ProjectStatus::Unchanged {
                redone.insert(name.clone());
                order.push(name.clone());
            }
            for patch in &report.patches {
                if patch.outcome.failed()
                    && let Ok(patch_ref) = patch.id.parse::<PatchRef>()
                {
                    failed.insert(patch_ref);
                }
            }
            if report.status == ProjectStatus::Error {
                for patch in graph.patches_of(id) {
                    failed.insert(patch);
                }
            }
            progress.event(RunEvent::ProjectDone {
                project: name.clone(),
                summary: summary(&report),
            });
            reports.insert(name.clone(), report);
        }
    }

    if options.cancelled() {
        return Err(RunError::Cancelled);
    }
    if !options.no_test {
        crate::tests::run_tests(
            &crate::tests::TestContext {
                workspace,
                graph: &graph,
                store,
                run_id,
                jobs: options.jobs.max(1),
                fresh: options.fresh,
                progress,
            },
            &mut reports,
        )?;
    }

    let projects: Vec<ProjectReport> = graph
        .stages()
        .iter()
        .flatten()
        .filter_map(|name| reports.remove(name))
        .collect();
    record_clean_series(
        store,
        &workspace.root,
        &validation.series,
        &projects,
        &selected,
        !options.no_test,
        run_id,
    )?;
    let features = feature_reports(&graph, &projects);
    let attention = projects.iter().any(|p| {
        p.status == ProjectStatus::Error
            || p.patches.iter().any(|patch| patch.outcome.failed())
            || matches!(
                p.test.status,
                TestStatus::Failed | TestStatus::Timeout | TestStatus::Blocked
            )
    }) || features.iter().any(|f| f.status != FeatureStatus::Ok);
    let report = RunReport {
        schema: RUN_SCHEMA.to_owned(),
        run: run_id.to_owned(),
        workspace: manifest.name.clone(),
        status: if attention {
            RunStatus::Attention
        } else {
            RunStatus::Clean
        },
        order,
        projects,
        features,
    };
    record(store, &report, manifest)?;
    Ok(report)
}

/// Writes the finished run, its outcomes and its report to the store.
fn record(
    store: &mut Store,
    report: &RunReport,
    manifest: &carry_graph::Workspace,
) -> Result<(), RunError> {
    let projects: Vec<ProjectOutcomeRow> = report
        .projects
        .iter()
        .map(|p| ProjectOutcomeRow {
            project: p.name.to_string(),
            reference: manifest.projects[&p.name].upstream.reference.clone(),
            status: enum_name(&p.status),
            upstream_from: p.upstream.as_ref().map(|u| u.from.clone()),
            upstream_to: p.upstream.as_ref().map(|u| u.to.clone()),
            result: p.result.clone(),
            test_status: enum_name(&p.test.status),
        })
        .collect();
    let patches: Vec<PatchOutcomeRow> = report
        .projects
        .iter()
        .flat_map(|p| &p.patches)
        .map(|patch| {
            let (upstream_commit, matched_by) = match &patch.outcome {
                Outcome::Landed {
                    upstream_commit,
                    by,
                } => (upstream_commit.clone(), Some(enum_name(by))),
                _ => (None, None),
            };
            PatchOutcomeRow {
                patch: patch.id.clone(),
                outcome: outcome_name(&patch.outcome).to_owned(),
                upstream_commit,
                matched_by,
            }
        })
        .collect();
    let status = enum_name(&report.status);
    store.finish_run(&report.run, &status, report, &projects, &patches)?;
    Ok(())
}

/// A serde enum's name as it appears in JSON.
fn enum_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The named projects and everything that depends on them; every project when none is named.
fn selection(graph: &WorkspaceGraph, named: &[ProjectName]) -> BTreeSet<ProjectName> {
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

fn unchanged(name: &ProjectName) -> ProjectReport {
    ProjectReport {
        name: name.clone(),
        status: ProjectStatus::Unchanged,
        error: None,
        upstream: None,
        result: None,
        candidate_ref: None,
        test: skipped(),
        patches: Vec::new(),
    }
}

fn skipped() -> TestReport {
    TestReport::not_run(TestStatus::Skipped, "tests were not run")
}

fn error_report(
    name: &ProjectName,
    upstream: Option<UpstreamMove>,
    error: String,
) -> ProjectReport {
    ProjectReport {
        name: name.clone(),
        status: ProjectStatus::Error,
        error: Some(error),
        upstream,
        result: None,
        candidate_ref: None,
        test: TestReport::not_run(TestStatus::Blocked, "carry could not work on the project"),
        patches: Vec::new(),
    }
}

/// Rebases `projects` (each with whether something it consumes was redone), as many at a
/// time as the machine has cores. Each worker has its own connection to the store (SQLite
/// serialises the writes); one project alone is rebased on this thread.
fn rebase_side_by_side<'n>(
    projects: &[(&'n ProjectName, bool)],
    state_dir: &Path,
    store: &Store,
    work: &StageWork<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(&'n ProjectName, ProjectReport)>, RunError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(projects.len());
    if workers <= 1 {
        return projects
            .iter()
            .map(|&(name, force)| {
                Ok((
                    name,
                    rebase_project(&work.project(name, force, store, false), progress)?,
                ))
            })
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(projects.len()));
    let worker = || -> Result<(), RunError> {
        let store = Store::open(state_dir)?;
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(&(name, force)) = projects.get(index) else {
                return Ok(());
            };
            let report = rebase_project(&work.project(name, force, &store, true), progress);
            let failed = report.is_err();
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((index, name, report));
            if failed {
                // The first error ends the run; the others need not start.
                next.store(projects.len(), std::sync::atomic::Ordering::SeqCst);
                return Ok(());
            }
        }
    };
    let opened: Vec<Result<(), RunError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for result in opened {
        result?;
    }
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _, _)| *index);
    results
        .into_iter()
        .map(|(_, name, report)| Ok((name, report?)))
        .collect()
}

/// What every project of a stage is rebased with.
struct StageWork<'a> {
    root: &'a Path,
    projects: &'a BTreeMap<ProjectName, Project>,
    series: &'a BTreeMap<ProjectName, SeriesListing>,
    blocked: &'a BTreeMap<PatchRef, BTreeSet<PatchRef>>,
    own_needs: &'a BTreeMap<PatchRef, Vec<String>>,
    options: &'a RunOptions,
    run_id: &'a str,
}

impl StageWork<'_> {
    fn project<'s>(
        &'s self,
        name: &ProjectName,
        force: bool,
        store: &'s Store,
        side_by_side: bool,
    ) -> ProjectWork<'s> {
        ProjectWork {
            side_by_side,
            root: self.root,
            project: &self.projects[name],
            listing: self.series.get(name),
            blocked: self.blocked,
            own_needs: self.own_needs,
            force: self.options.all || force,
            options: self.options,
            store,
            run_id: self.run_id,
        }
    }
}

struct ProjectWork<'a> {
    /// Other projects are rebased at the same time (each then uses one thread).
    side_by_side: bool,
    root: &'a Path,
    project: &'a Project,
    listing: Option<&'a SeriesListing>,
    blocked: &'a BTreeMap<PatchRef, BTreeSet<PatchRef>>,
    own_needs: &'a BTreeMap<PatchRef, Vec<String>>,
    force: bool,
    options: &'a RunOptions,
    store: &'a Store,
    run_id: &'a str,
}

fn rebase_project(
    work: &ProjectWork<'_>,
    progress: &dyn Progress,
) -> Result<ProjectReport, RunError> {
    let project = work.project;
    let name = &project.name;
    let repo_path = work.root.join(&project.repo);
    let local_upstream = match &project.upstream.source {
        UpstreamSource::Path(path) => Some(work.root.join(path)),
        UpstreamSource::Url(_) => None,
    };
    let repo = match ProjectRepo::open(&repo_path, local_upstream.as_deref()) {
        Ok(repo) => repo,
        Err(error) => return Ok(error_report(name, None, error.to_string())),
    };
    let Some(to) = repo.upstream_tip(&project.upstream.reference) else {
        return Ok(error_report(
            name,
            None,
            format!(
                "upstream '{}' is not fetched; run `carry fetch {name}`",
                project.upstream.reference
            ),
        ));
    };
    let Some(listing) = work.listing else {
        return Ok(error_report(
            name,
            None,
            "the series could not be read; run `carry validate`".to_owned(),
        ));
    };

    // Where the series sits now, and (for a branch) its patches as commits on it.
    let (from, branch) = match &project.series.source {
        SeriesSource::Branch(_) => {
            let Some(base) = listing.base else {
                return Ok(error_report(
                    name,
                    None,
                    "the series has no base; run `carry validate`".to_owned(),
                ));
            };
            (base, Some(branch_inputs(listing)))
        }
        SeriesSource::Dir(_) => match dir_base(&repo, project, to) {
            Ok(base) => (base, None),
            Err(error) => return Ok(error_report(name, None, error)),
        },
    };
    let upstream = UpstreamMove {
        from: from.to_string(),
        to: to.to_string(),
    };
    if from == to
        && !work.force
        && !series_changed(work.store, name, work.root, listing, work.run_id)?
    {
        let mut report = unchanged(name);
        report.upstream = Some(upstream);
        return Ok(report);
    }
    // New objects stay in memory until the series is done, then go to disk as one pack:
    // the commits a patch directory's files become, and the rebased ones.
    let batch = match repo.with_writes_in_memory() {
        Ok(batch) => batch,
        Err(error) => return Ok(error_report(name, Some(upstream), error_chain(&error))),
    };
    let inputs = match branch {
        Some(inputs) => inputs,
        None => match dir_commits(work.root, &batch, from, listing) {
            Ok(inputs) => inputs,
            Err(error) => return Ok(error_report(name, Some(upstream), error)),
        },
    };
    let applied_commits: Vec<Oid> = match &project.series.source {
        SeriesSource::Dir(_) => inputs
            .iter()
            .filter_map(|input| match input.body {
                PatchBody::Commit(id) => Some(id),
                PatchBody::Unusable { .. } => None,
            })
            .collect(),
        SeriesSource::Branch(_) => Vec::new(),
    };
    // The files' commits go to disk first: reports name them (each patch's `from`), and the
    // landed check reads them from other threads.
    if !applied_commits.is_empty()
        && let Err(error) = pack::write_new_objects(batch.repo(), from, from, &applied_commits)
    {
        return Ok(error_report(name, Some(upstream), error_chain(&error)));
    }

    let mut read_notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let request = RebaseRequest {
        old_base: from,
        onto: to,
        patches: inputs
            .into_iter()
            .map(
                |SeriesInput {
                     name: patch_name,
                     body,
                     notes,
                 }| {
                    if !notes.is_empty() {
                        read_notes.insert(patch_name.clone(), notes);
                    }
                    // The names come from the series listing, which made them as patch names.
                    let qualified = PatchRef::new(
                        name.clone(),
                        patch_name
                            .parse()
                            .expect("listed names are valid patch names"),
                    );
                    PatchInput {
                        blocked_by: work
                            .blocked
                            .get(&qualified)
                            .map(|causes| causes.iter().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                        needs: work.own_needs.get(&qualified).cloned().unwrap_or_default(),
                        name: patch_name,
                        body,
                    }
                },
            )
            .collect(),
    };
    // The same inputs were rebased before (an earlier run, or one that was killed after this
    // step): reuse the result, and point the candidate ref at it again.
    let key = rebase_key(name, &request, work.options.skip_first_bad);
    if !work.options.fresh
        && let Some(previous) = work.store.rebase_result::<ProjectReport>(&key)?
        && let Some(result) = previous
            .result
            .as_deref()
            .and_then(|r| Oid::from_str(r).ok())
        && repo.repo().find_commit(result).is_ok()
    {
        let candidate_ref = format!("{CANDIDATE_REFS}{name}");
        if repo
            .repo()
            .reference(&candidate_ref, result, true, "carry: candidate (reused)")
            .is_ok()
        {
            progress.event(RunEvent::Reused {
                project: name.clone(),
                what: "rebase",
            });
            work.store
                .journal(work.run_id, "reused-rebase", name.as_str(), &key)?;
            return Ok(previous);
        }
    }
    progress.event(RunEvent::Rebasing {
        project: name.clone(),
        patches: request.patches.len(),
    });
    let started = std::time::Instant::now();
    let mut cache = work.store.upstream_cache(name.as_str())?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "cache loaded");
    let rebase_options = RebaseOptions {
        skip_first_bad: work.options.skip_first_bad,
        one_thread: work.side_by_side,
    };
    let total = request.patches.len();
    let mut on_patch = |index: usize, patch: &str| {
        progress.event(RunEvent::Patch {
            project: name.clone(),
            index,
            total,
            name: patch.to_owned(),
        });
    };
    let result = match rebase::rebase_series_with_progress(
        batch.repo(),
        &request,
        &mut cache,
        &rebase_options,
        &mut on_patch,
    ) {
        Ok(result) => result,
        Err(error) => return Ok(error_report(name, Some(upstream), error_chain(&error))),
    };
    let started = std::time::Instant::now();
    match pack::write_new_objects(batch.repo(), result.tip, to, &[]) {
        Ok(stats) => tracing::debug!(
            commits = stats.commits,
            objects = stats.objects,
            elapsed_ms = started.elapsed().as_millis(),
            "pack written"
        ),
        Err(error) => return Ok(error_report(name, Some(upstream), error_chain(&error))),
    }
    let started = std::time::Instant::now();
    work.store.save_upstream_cache(name.as_str(), &cache)?;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "cache saved");

    let candidate_ref = format!("{CANDIDATE_REFS}{name}");
    if let Err(error) = repo.repo().reference(
        &candidate_ref,
        result.tip,
        true,
        &format!("carry: candidate for {name}"),
    ) {
        return Ok(error_report(
            name,
            Some(upstream),
            format!("cannot write {candidate_ref}: {error}"),
        ));
    }
    let patches = result
        .patches
        .into_iter()
        .map(|patch| {
            let mut notes = read_notes.remove(&patch.name).unwrap_or_default();
            notes.extend(patch.notes);
            PatchReport {
                id: format!("{name}/{}", patch.name),
                subject: patch.subject,
                from: patch.from,
                outcome: qualify(name, patch.outcome),
                notes,
            }
        })
        .collect();
    let report = ProjectReport {
        name: name.clone(),
        status: ProjectStatus::Rebased,
        error: None,
        upstream: Some(upstream),
        result: Some(result.tip.to_string()),
        candidate_ref: Some(candidate_ref),
        test: skipped(),
        patches,
    };
    work.store
        .save_rebase_result(&key, name.as_str(), work.run_id, &report)?;
    work.store
        .journal(work.run_id, "rebased", name.as_str(), &key)?;
    Ok(report)
}

/// For each patch, the patches of its own project it needs through features, by name: the
/// rebase blocks it when one of them fails first (needs across projects are known before the
/// project starts, as `blocked_by`).
fn needs_within_projects(graph: &WorkspaceGraph) -> BTreeMap<PatchRef, Vec<String>> {
    let mut needs = BTreeMap::new();
    for project in graph.projects() {
        let Some(id) = graph.project(project.as_str()) else {
            continue;
        };
        for patch in graph.patches_of(id) {
            let Some(node) = graph.patch(&patch) else {
                continue;
            };
            let own: Vec<String> = graph
                .needs_of(node)
                .into_iter()
                .filter(|needed| needed.project == *project)
                .map(|needed| needed.name.to_string())
                .collect();
            if !own.is_empty() {
                needs.insert(patch, own);
            }
        }
    }
    needs
}

/// What a series carries, whatever its base: a branch's commits, a directory's patch files
/// byte for byte, in order.
fn series_identity(root: &Path, listing: &SeriesListing) -> String {
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

/// Whether the series differs from the one `name` carried when a run last found it clean.
/// With no such run, the first one takes what it finds as the baseline: what the user
/// carries on an upstream that did not move is not news.
fn series_changed(
    store: &Store,
    name: &ProjectName,
    root: &Path,
    listing: &SeriesListing,
    run_id: &str,
) -> Result<bool, RunError> {
    let identity = series_identity(root, listing);
    match store.series_seen(name.as_str())? {
        Some(seen) => Ok(seen != identity),
        None => {
            store.record_series_seen(name.as_str(), &identity, run_id)?;
            Ok(false)
        }
    }
}

/// Records the series of every project this run found clean: the next run rebases and tests
/// a project whose series changed since, even when its upstream did not move.
fn record_clean_series(
    store: &Store,
    root: &Path,
    series: &BTreeMap<ProjectName, SeriesListing>,
    projects: &[ProjectReport],
    considered: &BTreeSet<ProjectName>,
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

/// The identity of a rebase's inputs: same key, same result.
fn rebase_key(project: &ProjectName, request: &RebaseRequest, skip_first_bad: bool) -> String {
    let mut hash = sha1_smol::Sha1::new();
    hash.update(b"carry-rebase-v1\0");
    hash.update(project.as_str().as_bytes());
    hash.update(format!("\0{}\0{}\0{skip_first_bad}", request.old_base, request.onto).as_bytes());
    for patch in &request.patches {
        match &patch.body {
            PatchBody::Commit(commit) => {
                hash.update(format!("\0{}\0{commit}", patch.name).as_bytes());
            }
            PatchBody::Unusable { paths, problem, .. } => {
                hash.update(
                    format!("\0{}\0unusable\0{paths:?}\0{problem:?}", patch.name).as_bytes(),
                );
            }
        }
        for cause in &patch.blocked_by {
            hash.update(format!("\0!{cause}").as_bytes());
        }
        for needed in &patch.needs {
            hash.update(format!("\0?{needed}").as_bytes());
        }
    }
    hash.digest().to_string()
}

/// Series-internal blockers are bare names; the report names every patch as `PROJECT/NAME`.
pub(crate) fn qualify(project: &ProjectName, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Blocked { blocked_by } => Outcome::Blocked {
            blocked_by: blocked_by
                .into_iter()
                .map(|name| {
                    if name.contains('/') {
                        name
                    } else {
                        format!("{project}/{name}")
                    }
                })
                .collect(),
        },
        other => other,
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A patch directory's base: the pinned one, else the one carry recorded, else upstream now
/// (recorded for next time).
fn dir_base(repo: &ProjectRepo, project: &Project, to: Oid) -> Result<Oid, String> {
    if let Some(base) = &project.series.base {
        return repo.resolve_local(base).ok_or_else(|| {
            format!(
                "base '{base}' is not in the repository; run `carry fetch {}`",
                project.name
            )
        });
    }
    let recorded = format!("{APPLIED_BASE_REFS}{}", project.name);
    if let Ok(reference) = repo.repo().find_reference(&recorded)
        && let Some(oid) = reference.target()
    {
        return Ok(oid);
    }
    repo.repo()
        .reference(
            &recorded,
            to,
            false,
            "carry: first base of a patch directory",
        )
        .map_err(|error| format!("cannot record {recorded}: {error}"))?;
    Ok(to)
}

/// One patch of a series as the engine gets it, with notes from reading it.
pub(crate) struct SeriesInput {
    pub(crate) name: String,
    pub(crate) body: PatchBody,
    /// What carry accepted in a patch file that `git am` would not.
    pub(crate) notes: Vec<String>,
}

/// The commits of a branch series.
pub(crate) fn branch_inputs(listing: &SeriesListing) -> Vec<SeriesInput> {
    listing
        .patches
        .iter()
        .filter_map(|patch| match patch.source {
            PatchSource::Commit(commit) => Some(SeriesInput {
                name: patch.name.to_string(),
                body: PatchBody::Commit(commit),
                notes: Vec::new(),
            }),
            PatchSource::File { .. } => None,
        })
        .collect()
}

/// The patch files of a directory series, applied onto `base` as commits; a file that cannot
/// be read or applied is that patch's outcome, not the project's.
pub(crate) fn dir_commits(
    root: &Path,
    repo: &ProjectRepo,
    base: Oid,
    listing: &SeriesListing,
) -> Result<Vec<SeriesInput>, String> {
    let mut files = Vec::with_capacity(listing.patches.len());
    let mut unreadable = BTreeMap::new();
    for (index, patch) in listing.patches.iter().enumerate() {
        let PatchSource::File { path, strip, .. } = &patch.source else {
            continue;
        };
        let bytes = match carry_adapters::series::read_patch_file(root, path) {
            Ok(bytes) => bytes,
            Err(reason) => {
                unreadable.insert(index, reason);
                Vec::new()
            }
        };
        files.push(PatchFileInput {
            path: path.clone(),
            bytes,
            strip: *strip,
        });
    }
    let applied = rebase::apply::apply_patch_files(repo.repo(), base, &files)
        .map_err(|error| error_chain(&error))?;
    Ok(listing
        .patches
        .iter()
        .zip(applied)
        .enumerate()
        .map(|(index, (patch, applied))| {
            let (body, notes) = match applied {
                AppliedFile::Commit { id, notes } => (PatchBody::Commit(id), notes),
                AppliedFile::Unusable {
                    subject,
                    paths,
                    error,
                } => {
                    let problem = match unreadable.get(&index) {
                        Some(reason) => PatchProblem {
                            file: error.file,
                            line: 1,
                            reason: reason.clone(),
                        },
                        None => PatchProblem {
                            file: error.file,
                            line: error.line,
                            reason: error.reason,
                        },
                    };
                    (
                        PatchBody::Unusable {
                            subject,
                            paths,
                            problem: Some(problem),
                        },
                        Vec::new(),
                    )
                }
                AppliedFile::Waiting { subject, paths, .. } => (
                    PatchBody::Unusable {
                        subject,
                        paths,
                        problem: None,
                    },
                    Vec::new(),
                ),
            };
            SeriesInput {
                name: patch.name.to_string(),
                body,
                notes,
            }
        })
        .collect())
}

fn summary(report: &ProjectReport) -> String {
    match report.status {
        ProjectStatus::Unchanged => "unchanged".to_owned(),
        ProjectStatus::Error => format!("error: {}", report.error.as_deref().unwrap_or("")),
        ProjectStatus::Rebased => report.patch_counts(),
    }
}

/// The outcome's name as the report spells it.
pub fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied { .. } => "applied",
        Outcome::Landed { .. } => "landed",
        Outcome::Conflict { .. } => "conflict",
        Outcome::Blocked { .. } => "blocked",
        Outcome::Error { .. } => "error",
    }
}

fn feature_reports(graph: &WorkspaceGraph, projects: &[ProjectReport]) -> Vec<FeatureReport> {
    let outcomes: BTreeMap<&str, &PatchReport> = projects
        .iter()
        .flat_map(|p| p.patches.iter().map(|patch| (patch.id.as_str(), patch)))
        .collect();
    let errored: BTreeSet<&ProjectName> = projects
        .iter()
        .filter(|p| p.status == ProjectStatus::Error)
        .map(|p| &p.name)
        .collect();
    graph
        .features()
        .map(|name| {
            // `features()` lists the graph's own features.
            let id = graph.feature(name.as_str()).expect("listed features exist");
            let mut blocked_by = BTreeSet::new();
            let mut at_risk = false;
            for patch in graph.feature_patches(id) {
                let key = patch.to_string();
                root_causes(&key, &outcomes, &mut BTreeSet::new(), &mut blocked_by);
                if errored.contains(&patch.project) {
                    blocked_by.insert(format!("{} (project error)", patch.project));
                }
                if outcomes
                    .get(key.as_str())
                    .is_some_and(|p| !p.notes.is_empty())
                {
                    at_risk = true;
                }
            }
            let status = if !blocked_by.is_empty() {
                FeatureStatus::Blocked
            } else if at_risk {
                FeatureStatus::AtRisk
            } else {
                FeatureStatus::Ok
            };
            FeatureReport {
                name: name.clone(),
                status,
                blocked_by: blocked_by.into_iter().collect(),
            }
        })
        .collect()
}

/// The conflicts at the root of `patch`'s failure: itself if it conflicted, else the roots of
/// whatever blocks it.
fn root_causes(
    patch: &str,
    outcomes: &BTreeMap<&str, &PatchReport>,
    seen: &mut BTreeSet<String>,
    roots: &mut BTreeSet<String>,
) {
    if !seen.insert(patch.to_owned()) {
        return;
    }
    match outcomes.get(patch).map(|p| &p.outcome) {
        Some(Outcome::Conflict { .. } | Outcome::Error { .. }) => {
            roots.insert(patch.to_owned());
        }
        Some(Outcome::Blocked { blocked_by }) => {
            for cause in blocked_by {
                root_causes(cause, outcomes, seen, roots);
            }
        }
        _ => {}
    }
}
