//! The test phase: each redone project's test command, stage by stage, in checkouts of the
//! candidates, with what it consumes checked out beside it.
//!
//! A project is not tested (`blocked`) when its own series has a conflict or a blocked patch,
//! or when anything it consumes, directly or not, failed, timed out or was blocked. A test is
//! reused when its command, its candidate's tree and the trees of everything it consumes are
//! those of an earlier run. Up to `jobs` tests of one stage run side by side.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::PathBuf;

use carry_adapters::cancel::Cancel;
use carry_adapters::checkout::checkout;
use carry_adapters::process::Ended;
use carry_adapters::process::TestCommand;
use carry_adapters::process::TestRun;
use carry_adapters::process_tree::TestTag;
use carry_adapters::process_tree::workspace_tag;
use carry_adapters::series::SeriesListing;
use carry_adapters::store::Step;
use carry_adapters::store::Store;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use serde::Deserialize;
use serde::Serialize;

use crate::error::RunError;
use crate::events::Progress;
use crate::events::RunEvent;
use crate::executor::Executor;
use crate::report::ProjectReport;
use crate::report::ProjectStatus;
use crate::report::TestReport;
use crate::report::TestStatus;
use crate::series_inputs::series_tip;
use crate::workspace::LoadedWorkspace;

pub(crate) struct TestContext<'a> {
    pub(crate) workspace: &'a LoadedWorkspace,
    pub(crate) graph: &'a WorkspaceGraph,
    /// Every series that was read, for what is tested with a project the run left alone.
    pub(crate) series: &'a BTreeMap<ProjectName, SeriesListing>,
    pub(crate) store: &'a Store,
    pub(crate) run_id: &'a str,
    pub(crate) jobs: usize,
    pub(crate) fresh: bool,
    pub(crate) progress: &'a dyn Progress,
    /// Where the tests run.
    pub(crate) executor: &'a dyn Executor,
    /// Cancelled to stop the tests at once.
    pub(crate) cancel: &'a Cancel,
}

/// What the store keeps of a test for reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredTest {
    run: TestRun,
    log: String,
}

/// A project's candidate: its repository and commit.
#[derive(Clone)]
struct Candidate {
    repo: PathBuf,
    commit: String,
    tree: String,
}

/// What became of a project's test.
#[derive(Debug, Clone)]
pub(crate) enum TestOutcome {
    /// It ran, was reused, or was not run for a reason (blocked, no test).
    Decided(TestReport),
    /// It could not start (no checkout, no process) or its task died: the project is in
    /// error, never clean.
    CouldNotRun(String),
}

impl ProjectReport {
    /// The report with what became of its test.
    pub(crate) fn test_outcome(&mut self, outcome: TestOutcome) {
        match outcome {
            TestOutcome::Decided(test) => self.test = test,
            TestOutcome::CouldNotRun(why) => {
                self.status = ProjectStatus::Error;
                self.error = Some(format!(
                    "its test could not run: {}",
                    carry_graph::redact::urls_in_text(&why)
                ));
                self.test = TestReport::not_run(TestStatus::Failed, why);
            }
        }
    }
}

/// Tests each project the rebase phase left rebased, stage by stage; returns what became of
/// each test. The reports are only read.
pub(crate) fn run_tests(
    context: &TestContext<'_>,
    reports: &BTreeMap<ProjectName, ProjectReport>,
) -> Result<BTreeMap<ProjectName, TestOutcome>, RunError> {
    let mut outcomes: BTreeMap<ProjectName, TestOutcome> = BTreeMap::new();
    let manifest = &context.workspace.manifest.workspace;
    let state = context.workspace.state_dir();
    let logs = state.join("logs").join(context.run_id);
    let workspace_tag = workspace_tag(&state);
    // A cluster's nodes must see the checkouts: the executor says where they go.
    let checkouts = context
        .executor
        .checkout_root(&workspace_tag)
        .unwrap_or_else(|| state.join("checkouts"));
    let mut candidates = Candidates::new(context);
    let mut checked_out: BTreeSet<ProjectName> = BTreeSet::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(context.jobs.clamp(1, 64))
        .enable_all()
        .build()
        .map_err(|source| RunError::State {
            path: state.clone(),
            source,
        })?;

    for stage in context.graph.stages() {
        let mut pending: Vec<(ProjectName, TestCommand, String)> = Vec::new();
        for name in stage {
            let Some(report) = reports.get(name) else {
                continue;
            };
            if report.status != ProjectStatus::Rebased {
                continue;
            }
            let project = &manifest.projects[name];
            let Some(spec) = &project.test else {
                set(
                    &mut outcomes,
                    name,
                    TestReport::not_run(TestStatus::Skipped, "the project has no test"),
                );
                continue;
            };
            if report.patches.iter().any(|p| p.outcome.failed()) {
                set(
                    &mut outcomes,
                    name,
                    TestReport::not_run(
                        TestStatus::Blocked,
                        "a patch of its own conflicted or is blocked",
                    ),
                );
                context.progress.event(RunEvent::TestFinished {
                    project: name.clone(),
                    status: TestStatus::Blocked,
                    duration_ms: None,
                });
                continue;
            }
            // The graph was built from this same manifest: every project is a node.
            let id = context
                .graph
                .project(name.as_str())
                .expect("every project is in the graph");
            let consumed = context.graph.consumed(id);
            let broken = consumed.iter().find_map(|dependency| {
                let status = reports.get(dependency)?.status;
                let why = match (status, outcomes.get(dependency)) {
                    (ProjectStatus::Error, _) | (_, Some(TestOutcome::CouldNotRun(_))) => {
                        "is in error"
                    }
                    (_, Some(TestOutcome::Decided(test))) => match test.status {
                        TestStatus::Failed => "failed its test",
                        TestStatus::Timeout => "timed out",
                        TestStatus::Blocked => "is blocked",
                        TestStatus::Passed | TestStatus::Skipped => return None,
                    },
                    (_, None) => return None,
                };
                Some(format!("{dependency} {why}"))
            });
            if let Some(why) = broken {
                set(
                    &mut outcomes,
                    name,
                    TestReport::not_run(TestStatus::Blocked, why),
                );
                context.progress.event(RunEvent::TestFinished {
                    project: name.clone(),
                    status: TestStatus::Blocked,
                    duration_ms: None,
                });
                continue;
            }
            let Some(own) = candidates.get(name, reports) else {
                set(
                    &mut outcomes,
                    name,
                    TestReport::not_run(TestStatus::Blocked, "it has no candidate"),
                );
                continue;
            };

            // Checkouts: the candidate, and everything it consumes that has one.
            let mut env = vec![
                ("CARRY_PROJECT".to_owned(), name.to_string()),
                ("CARRY_RUN".to_owned(), context.run_id.to_owned()),
            ];
            let own_dir = checkouts.join(name.as_str());
            if let Err(error) = prepare(&mut checked_out, name, &own, &own_dir) {
                could_not_test(
                    &mut outcomes,
                    name,
                    &format!("checking out its candidate: {error}"),
                );
                continue;
            }
            env.push((
                "CARRY_SOURCE_DIR".to_owned(),
                own_dir.to_string_lossy().into_owned(),
            ));
            let mut key = sha1_smol::Sha1::new();
            key.update(
                format!("carry-test-v1\0{}\0{}\0{}", name, spec.command, own.tree).as_bytes(),
            );
            let mut dependency_failed = None;
            for dependency in &consumed {
                let Some(candidate) = candidates.get(dependency, reports) else {
                    dependency_failed = Some(format!("{dependency} has nothing to test with"));
                    break;
                };
                let dir = checkouts.join(dependency.as_str());
                if let Err(error) = prepare(&mut checked_out, dependency, &candidate, &dir) {
                    dependency_failed = Some(error);
                    break;
                }
                env.push((
                    format!("CARRY_DEP_{}", dependency.env_suffix()),
                    dir.to_string_lossy().into_owned(),
                ));
                key.update(format!("\0{dependency}\0{}", candidate.tree).as_bytes());
            }
            if let Some(error) = dependency_failed {
                could_not_test(
                    &mut outcomes,
                    name,
                    &format!("checking out what it consumes: {error}"),
                );
                continue;
            }
            let key = key.digest().to_string();
            if !context.fresh
                && let Some(previous) = context.store.test_result::<StoredTest>(&key)?
                && previous.run.ended != Ended::Timeout
            {
                let mut test = test_report(&previous.run, previous.log);
                test.reused = true;
                context.progress.event(RunEvent::Reused {
                    project: name.clone(),
                    what: "test",
                });
                context.progress.event(RunEvent::TestFinished {
                    project: name.clone(),
                    status: test.status,
                    duration_ms: test.duration_ms,
                });
                context
                    .store
                    .journal(context.run_id, Step::ReusedTest, name.as_str(), &key)?;
                set(&mut outcomes, name, test);
                continue;
            }
            pending.push((
                name.clone(),
                TestCommand {
                    command: spec.command.clone(),
                    dir: own_dir,
                    env,
                    timeout: spec.timeout,
                    log: logs.join(format!("{name}.log")),
                    log_limit: manifest.test_log_limit,
                    scheduler_args: spec.sbatch_args.clone(),
                    tag: Some(TestTag {
                        workspace: workspace_tag.clone(),
                        test: format!("{}/{name}", context.run_id),
                    }),
                },
                key,
            ));
        }
        for (name, outcome, key, log) in run_stage(&runtime, context, pending) {
            if matches!(&outcome, Ok(run) if run.ended == Ended::Interrupted) {
                // Says nothing about the test: not kept, not journaled; the resumed run
                // runs it again.
                continue;
            }
            match outcome {
                Ok(run) => {
                    context.store.save_test_result(
                        &key,
                        name.as_str(),
                        context.run_id,
                        &StoredTest {
                            run: run.clone(),
                            log: log.clone(),
                        },
                    )?;
                    set(&mut outcomes, &name, test_report(&run, log));
                }
                Err(error) => could_not_test(&mut outcomes, &name, &error),
            }
            context
                .store
                .journal(context.run_id, Step::Tested, name.as_str(), &key)?;
        }
        if context.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
    }
    Ok(outcomes)
}

/// A test that could not start (no checkout, no process) or whose task died.
fn could_not_test(
    outcomes: &mut BTreeMap<ProjectName, TestOutcome>,
    name: &ProjectName,
    why: &str,
) {
    outcomes.insert(name.clone(), TestOutcome::CouldNotRun(why.to_owned()));
}

type StageResult = (ProjectName, Result<TestRun, String>, String, String);

/// Runs one stage's tests, at most `jobs` at a time.
fn run_stage(
    runtime: &tokio::runtime::Runtime,
    context: &TestContext<'_>,
    pending: Vec<(ProjectName, TestCommand, String)>,
) -> Vec<StageResult> {
    runtime.block_on(async {
        let mut queue = pending.into_iter();
        let mut running = tokio::task::JoinSet::new();
        // What each task tests, for a task that panics and returns nothing.
        let mut tasks = std::collections::HashMap::new();
        let mut done = Vec::new();
        loop {
            while running.len() < context.executor.parallel(context.jobs)
                && !context.cancel.is_cancelled()
            {
                let Some((name, command, key)) = queue.next() else {
                    break;
                };
                context.progress.event(RunEvent::TestStarted {
                    project: name.clone(),
                });
                let log = command.log.to_string_lossy().into_owned();
                let task = (name.clone(), key.clone(), log.clone());
                let test = context.executor.run(command, context.cancel.clone());
                let handle = running.spawn(async move { (name, test.await, key, log) });
                tasks.insert(handle.id(), task);
            }
            let Some(joined) = running.join_next_with_id().await else {
                break;
            };
            let (name, outcome, key, log) = match joined {
                Ok((_, finished)) => finished,
                Err(error) => {
                    let Some((name, key, log)) = tasks.remove(&error.id()) else {
                        continue;
                    };
                    let why = if error.is_panic() {
                        "the task running it panicked"
                    } else {
                        "the task running it was cancelled"
                    };
                    (name, Err(why.to_owned()), key, log)
                }
            };
            let (status, duration_ms) = match &outcome {
                Ok(run) => (ended_status(run.ended), Some(run.duration_ms)),
                Err(_) => (Some(TestStatus::Failed), None),
            };
            if let Some(status) = status {
                context.progress.event(RunEvent::TestFinished {
                    project: name.clone(),
                    status,
                    duration_ms,
                });
            }
            done.push((name, outcome, key, log));
        }
        done
    })
}

/// A test's status; none for one that was stopped, which says nothing about it.
fn ended_status(ended: Ended) -> Option<TestStatus> {
    match ended {
        Ended::Passed => Some(TestStatus::Passed),
        Ended::Failed => Some(TestStatus::Failed),
        Ended::Timeout => Some(TestStatus::Timeout),
        Ended::Interrupted => None,
    }
}

fn test_report(run: &TestRun, log: String) -> TestReport {
    TestReport {
        status: ended_status(run.ended).unwrap_or(TestStatus::Failed),
        duration_ms: Some(run.duration_ms),
        log: Some(log),
        exit_code: run.exit_code,
        log_tail: run.tail.clone(),
        reason: None,
        reused: false,
        job: run.job.clone(),
    }
}

fn set(outcomes: &mut BTreeMap<ProjectName, TestOutcome>, name: &ProjectName, test: TestReport) {
    outcomes.insert(name.clone(), TestOutcome::Decided(test));
}

fn prepare(
    done: &mut BTreeSet<ProjectName>,
    name: &ProjectName,
    candidate: &Candidate,
    dir: &std::path::Path,
) -> Result<(), String> {
    if done.contains(name) {
        return Ok(());
    }
    checkout(&candidate.repo, dir, &candidate.commit).map_err(|e| e.to_string())?;
    done.insert(name.clone());
    Ok(())
}

/// What each project is tested with, worked out when first needed: this run's result for a
/// project it rebased, the series as carried now for one it left alone, nothing for one in
/// error (its consumers are blocked).
struct Candidates<'c> {
    context: &'c TestContext<'c>,
    found: BTreeMap<ProjectName, Option<Candidate>>,
}

impl<'c> Candidates<'c> {
    fn new(context: &'c TestContext<'c>) -> Self {
        Self {
            context,
            found: BTreeMap::new(),
        }
    }

    fn get(
        &mut self,
        name: &ProjectName,
        reports: &BTreeMap<ProjectName, ProjectReport>,
    ) -> Option<Candidate> {
        if !self.found.contains_key(name) {
            let candidate = self.find(name, reports);
            self.found.insert(name.clone(), candidate);
        }
        self.found.get(name).cloned().flatten()
    }

    fn find(
        &self,
        name: &ProjectName,
        reports: &BTreeMap<ProjectName, ProjectReport>,
    ) -> Option<Candidate> {
        let workspace = self.context.workspace;
        let project = workspace.manifest.workspace.projects.get(name)?;
        let report = reports.get(name)?;
        let commit = match report.status {
            ProjectStatus::Rebased => report.result.as_deref()?.parse::<git2::Oid>().ok()?,
            ProjectStatus::Unchanged => {
                let listing = self.context.series.get(name)?;
                match series_tip(&workspace.root, project, listing) {
                    Ok(tip) => tip,
                    Err(error) => {
                        tracing::warn!(project = %name, %error, "cannot make the series' tip");
                        return None;
                    }
                }
            }
            ProjectStatus::Error => return None,
        };
        let repo_path = workspace.root.join(&project.repo);
        let repo = git2::Repository::open(&repo_path).ok()?;
        let tree = repo.find_commit(commit).ok()?.tree_id();
        Some(Candidate {
            repo: repo_path,
            commit: commit.to_string(),
            tree: tree.to_string(),
        })
    }
}
