//! `carry run`: fetch, plan, rebase, test, record, report.
//!
//! The run first fetches, then computes its [`RunPlan`](crate::plan::RunPlan) (the same value
//! `--dry-run` prints) and executes exactly it, stage by stage. Patches blocked through
//! features are known before a project is rebased, because everything a project depends on
//! comes in an earlier stage. Results go under `refs/carry/candidate/<project>`; the user's
//! branches and patch files are only read.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use carry_adapters::git::ProjectRepo;
use carry_adapters::lock::LockHolder;
use carry_adapters::lock::WorkspaceLock;
use carry_adapters::rebase::Outcome;
use carry_adapters::store::PatchOutcomeRow;
use carry_adapters::store::RunState;
use carry_adapters::store::Step;
use carry_adapters::store::Store;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_graph::workspace::SeriesSource;
use git2::Oid;

pub use crate::error::RunError;
use crate::error::error_chain;
pub use crate::events::NoProgress;
pub use crate::events::Progress;
pub use crate::events::RunEvent;
use crate::executor::Executor;
use crate::features::feature_reports;
pub use crate::fetching::fetch_all;
pub use crate::options::RunOptions;
use crate::plan;
use crate::plan::Action;
use crate::plan::PlanInputs;
use crate::plan::PlannedProject;
use crate::plan::Why;
use crate::plan::selection;
use crate::rebasing::StageWork;
use crate::rebasing::needs_within_projects;
use crate::rebasing::rebase_side_by_side;
pub use crate::refs::APPLIED_BASE_REFS;
pub use crate::refs::CANDIDATE_REFS;
use crate::report::FeatureStatus;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::RUN_SCHEMA;
use crate::report::ReviewState;
use crate::report::RunReport;
use crate::report::RunStatus;
use crate::report::TestStatus;
use crate::series_inputs::dir_base;
use crate::series_memory::record_clean_series;
use crate::validate::validate;
use crate::workspace::LoadedWorkspace;

/// A new run id: the UTC time and the process id (and, from a process's second id on, a
/// count: the service runs many in one process, and two may start within one second).
pub fn new_run_id() -> String {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = jiff::Timestamp::now();
    let id = format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), std::process::id());
    match MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
        0 => id,
        count => format!("{id}-{count}"),
    }
}

/// Runs the nightly job, its tests as local processes, and reports.
pub fn run(
    workspace: &LoadedWorkspace,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    run_with(
        workspace,
        options,
        progress,
        crate::executor::for_workspace(workspace).as_ref(),
    )
}

/// Runs the nightly job with its tests on `executor`, and reports.
pub fn run_with(
    workspace: &LoadedWorkspace,
    options: &RunOptions,
    progress: &dyn Progress,
    executor: &dyn Executor,
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
    if !lock.leftovers().is_empty() {
        progress.event(RunEvent::LeftoversEnded {
            processes: lock
                .leftovers()
                .iter()
                .map(|process| {
                    format!(
                        "{} (pid {}, test {})",
                        process.command, process.pid, process.test
                    )
                })
                .collect(),
        });
    }
    // What a dead run left on the executor (jobs on a cluster) goes too.
    match executor.end_leftovers(&carry_adapters::process_tree::workspace_tag(&state_dir)) {
        Ok(ended) if !ended.is_empty() => progress.event(RunEvent::LeftoversEnded {
            processes: ended
                .iter()
                .map(|id| format!("{} job {id}", executor.name()))
                .collect(),
        }),
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, executor = executor.name(), "cannot end what a dead run left");
        }
    }
    let mut store = Store::open(&state_dir)?;
    // We hold the lock, so any run the store still calls running is dead.
    let interrupted = store.interrupt_dead_runs()?;
    let resumed_from = interrupted.first().cloned();
    if let Some(dead) = &resumed_from {
        // What it finished is reused below, step by step, through the results it recorded.
        let finished = store
            .journal_of(dead)?
            .into_iter()
            .filter(|(step, ..)| {
                step != Step::Fetched.as_str() && step != Step::FetchFailed.as_str()
            })
            .map(|(step, subject, ..)| format!("{step} {subject}"))
            .collect();
        progress.event(RunEvent::Resuming {
            run: dead.clone(),
            finished,
        });
    }
    store.start_run(&run_id, options, resumed_from.as_deref())?;
    let result = run_locked(workspace, options, progress, executor, &mut store, &run_id);
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
    executor: &dyn Executor,
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
        let names: Vec<ProjectName> = selection(&graph, &options.projects).into_iter().collect();
        for (project, result) in fetch_all(workspace, &names, progress, &options.cancel) {
            if matches!(result, Err(carry_adapters::fetch::FetchError::Cancelled)) {
                continue;
            }
            match result {
                Ok(()) => store.journal(run_id, Step::Fetched, project.as_str(), "")?,
                Err(error) => {
                    store.journal(
                        run_id,
                        Step::FetchFailed,
                        project.as_str(),
                        &error.to_string(),
                    )?;
                    fetch_errors.insert(project, error.to_string());
                }
            }
        }
    }

    if options.cancelled() {
        return Err(RunError::Cancelled);
    }
    let started = std::time::Instant::now();
    let validation = validate(workspace);
    tracing::debug!(elapsed_ms = started.elapsed().as_millis(), "validated");
    if validation.has_errors() {
        return Err(RunError::Invalid(validation.diagnostics));
    }
    let graph = WorkspaceGraph::build(manifest, &validation.patch_names())?;
    let plan = plan::compute(&PlanInputs {
        workspace,
        validation: &validation,
        graph: &graph,
        options,
        store: Some(store),
        fetch_errors: &fetch_errors,
    })?;
    progress.event(RunEvent::Planned { plan: plan.clone() });

    let own_needs = needs_within_projects(&graph);
    let mut failed: BTreeSet<PatchRef> = BTreeSet::new();
    let mut reports: BTreeMap<ProjectName, ProjectReport> = BTreeMap::new();
    let mut order = Vec::new();

    for stage in &plan.stages {
        if options.cancelled() {
            return Err(RunError::Cancelled);
        }
        // Projects of one stage do not depend on each other (stages follow consumes and
        // feature needs), so what blocks them is known before any of them starts, and they
        // are rebased side by side.
        let blocked = graph.blocked_by_needs(&failed);
        let mut stage_reports: BTreeMap<&ProjectName, ProjectReport> = BTreeMap::new();
        let mut to_rebase = Vec::new();
        for planned in stage {
            match planned.action {
                Action::Skip => {
                    let mut report = ProjectReport::unchanged(&planned.name);
                    report.upstream.clone_from(&planned.upstream);
                    stage_reports.insert(&planned.name, report);
                }
                Action::Error => {
                    stage_reports.insert(
                        &planned.name,
                        ProjectReport::error(&planned.name, None, planned.reason.clone()),
                    );
                }
                Action::Rebase => to_rebase.push(&planned.name),
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
        for planned in stage {
            let name = &planned.name;
            // Each project of the stage was either decided above or among `to_rebase`.
            let report = stage_reports
                .remove(name)
                .expect("every project of the stage has a report");
            if planned.action != Action::Skip {
                order.push(name.clone());
            }
            failed.extend(
                report
                    .patches
                    .iter()
                    .filter(|patch| patch.outcome.failed())
                    .map(|patch| patch.id.clone()),
            );
            if report.status == ProjectStatus::Error
                && let Some(id) = graph.project(name.as_str())
            {
                failed.extend(graph.patches_of(id));
            }
            progress.event(RunEvent::ProjectDone {
                project: name.clone(),
                summary: summary(&report),
            });
            reports.insert(name.clone(), report);
        }
    }
    // A project carried on a directory that pins no base, seen for the first time: where it
    // sits now is where later moves are measured from.
    for planned in plan.projects().filter(|p| p.action == Action::Skip) {
        record_first_dir_base(workspace, planned);
    }

    if options.cancelled() {
        return Err(RunError::Cancelled);
    }
    if !options.no_test {
        let tests = crate::test_phase::run_tests(
            &crate::test_phase::TestContext {
                workspace,
                graph: &graph,
                series: &validation.series,
                store,
                run_id,
                jobs: options.jobs.max(1),
                fresh: options.fresh,
                progress,
                executor,
                cancel: &options.cancel,
            },
            &reports,
        )?;
        for (name, outcome) in tests {
            if let Some(report) = reports.get_mut(&name) {
                report.test_outcome(outcome);
            }
        }
    }

    let mut projects: Vec<ProjectReport> = graph
        .stages()
        .iter()
        .flatten()
        .filter_map(|name| reports.remove(name))
        .collect();
    let reviews = crate::reviews::Reviews::load(store)?;
    for project in &mut projects {
        reviews.mark(project);
    }
    // A project the run did not select is not known clean.
    let considered: BTreeSet<&ProjectName> = plan
        .projects()
        .filter(|p| p.why != Why::NotSelected)
        .map(|p| &p.name)
        .collect();
    record_clean_series(
        store,
        &workspace.root,
        &validation.series,
        &considered,
        &projects,
        !options.no_test,
        run_id,
    )?;
    let features = feature_reports(&graph, &projects);
    let attention = projects.iter().any(|p| {
        p.status == ProjectStatus::Error
            || p.patches
                .iter()
                .any(|patch| patch.outcome.failed() || patch.review == Some(ReviewState::Required))
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
    record(store, &report)?;
    // Telling people never fails the run: a receiver that is down is logged.
    for delivery in crate::notify::send(workspace, &report) {
        match (delivery.tries, delivery.error) {
            (Some(tries), _) => tracing::info!(url = %delivery.url, tries, "notified"),
            (None, error) => tracing::warn!(url = %delivery.url, ?error, "not notified"),
        }
    }
    Ok(report)
}

/// Records where a patch directory that pins no base sits, the first time a run sees it.
fn record_first_dir_base(workspace: &LoadedWorkspace, planned: &PlannedProject) {
    let project = &workspace.manifest.workspace.projects[&planned.name];
    if project.series.base.is_some() || !matches!(project.series.source, SeriesSource::Dir(_)) {
        return;
    }
    let Some(to) = planned
        .upstream
        .as_ref()
        .and_then(|u| Oid::from_str(&u.to).ok())
    else {
        return;
    };
    if let Ok(repo) = ProjectRepo::open(&workspace.root.join(&project.repo), None)
        && let Err(error) = dir_base(&repo, project, to)
    {
        tracing::warn!(project = %planned.name, %error, "cannot record the series' base");
    }
}

/// Writes the finished run, its outcomes and its report to the store.
fn record(store: &mut Store, report: &RunReport) -> Result<(), RunError> {
    let patches: Vec<PatchOutcomeRow> = report
        .projects
        .iter()
        .flat_map(|p| &p.patches)
        .map(|patch| {
            let (upstream_commit, matched_by) = match &patch.outcome {
                Outcome::Landed {
                    upstream_commit,
                    by,
                } => (upstream_commit.clone(), Some(by.as_str().to_owned())),
                _ => (None, None),
            };
            PatchOutcomeRow {
                patch: patch.id.to_string(),
                outcome: crate::report::outcome_name(&patch.outcome).to_owned(),
                upstream_commit,
                matched_by,
            }
        })
        .collect();
    let state = match report.status {
        RunStatus::Clean => RunState::Clean,
        RunStatus::Attention => RunState::Attention,
    };
    store.finish_run(&report.run, state, report, &patches)?;
    Ok(())
}

fn summary(report: &ProjectReport) -> String {
    match report.status {
        ProjectStatus::Unchanged => "unchanged".to_owned(),
        ProjectStatus::Error => format!("error: {}", report.error.as_deref().unwrap_or("")),
        ProjectStatus::Rebased => report.patch_counts(),
    }
}
