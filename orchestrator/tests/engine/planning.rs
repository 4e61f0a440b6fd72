//! The plan `--dry-run` prints is the plan the run executes, and the run touches exactly the
//! projects its plan names.

use carry_orchestrator::events::RunEvent;
use carry_orchestrator::options::RunOptions;
use carry_orchestrator::plan::Action;
use carry_orchestrator::plan::Why;
use carry_orchestrator::report::ProjectStatus;

use crate::support::Recorded;
use crate::support::RecordingExecutor;
use crate::support::load;
use crate::support::repo;
use crate::support::upstream;
use crate::support::workspace;

/// Upstreams are local paths: fetching them is quick, and brings their objects in for the
/// checkouts tests run in.
fn options() -> RunOptions {
    RunOptions {
        jobs: 2,
        ..RunOptions::default()
    }
}

//   base's upstream moves:  base (moved) ─► app (depends on base) ; other (nothing moved)
#[test]
fn a_run_executes_the_plan_a_dry_run_prints_and_touches_nothing_else() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    workspace(dir);
    // A first run takes every series as its baseline; nothing moved, so nothing is touched.
    let first = carry_orchestrator::run::run_with(
        &load(dir),
        &options(),
        &Recorded::default(),
        &RecordingExecutor::default(),
    )
    .expect("first run");
    assert!(first.order.is_empty(), "{:?}", first.order);

    upstream(dir, "base").commit_file("lib.c", "one\ntwo\nthree\n", "upstream moves");
    let loaded = load(dir);
    // The dry run reads upstream as last fetched, so fetch as the run will.
    for (project, fetched) in carry_orchestrator::run::fetch_all(
        &loaded,
        &[],
        &Recorded::default(),
        &carry_adapters::cancel::Cancel::new(),
    ) {
        fetched.unwrap_or_else(|e| panic!("fetch {project}: {e}"));
    }
    let dry = carry_orchestrator::plan::plan(&loaded, &options()).expect("plan");
    let whys: Vec<(String, Action, Why)> = dry
        .projects()
        .map(|p| (p.name.to_string(), p.action, p.why.clone()))
        .collect();
    assert_eq!(
        whys,
        [
            ("base".to_owned(), Action::Rebase, Why::UpstreamMoved),
            ("other".to_owned(), Action::Skip, Why::NothingMoved),
            (
                "app".to_owned(),
                Action::Rebase,
                Why::DependsOn {
                    projects: vec!["base".parse().expect("name")]
                }
            ),
        ]
    );

    let events = Recorded::default();
    let executor = RecordingExecutor::default();
    let report =
        carry_orchestrator::run::run_with(&loaded, &options(), &events, &executor).expect("run");
    let executed = events
        .0
        .lock()
        .expect("not poisoned")
        .iter()
        .find_map(|e| match e {
            RunEvent::Planned { plan } => Some(plan.clone()),
            _ => None,
        })
        .expect("the run announces its plan");
    assert_eq!(
        executed, dry,
        "the run executes the plan the dry run printed"
    );

    let touched: Vec<String> = report
        .projects
        .iter()
        .filter(|p| p.status != ProjectStatus::Unchanged)
        .map(|p| p.name.to_string())
        .collect();
    let planned: Vec<String> = executed.touched().iter().map(ToString::to_string).collect();
    assert_eq!(touched, planned);
    assert_eq!(
        report
            .order
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        planned
    );
    // Tests ran for exactly those projects, in stage order.
    assert_eq!(executor.projects(), ["base", "app"]);
}

//   repos/other:  import ── other: carried patch ── other: a second patch   (upstream unmoved)
#[test]
fn a_series_that_changed_is_planned_rebased_and_tested() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    workspace(dir);
    carry_orchestrator::run::run_with(
        &load(dir),
        &options(),
        &Recorded::default(),
        &RecordingExecutor::default(),
    )
    .expect("first run");

    repo(dir, "other").commit_file("second.c", "more\n", "other: a second patch");
    let loaded = load(dir);
    let plan = carry_orchestrator::plan::plan(&loaded, &options()).expect("plan");
    let other = plan
        .projects()
        .find(|p| p.name.as_str() == "other")
        .expect("other is planned");
    assert_eq!(
        (other.action, &other.why),
        (Action::Rebase, &Why::SeriesChanged)
    );

    let executor = RecordingExecutor::default();
    let report =
        carry_orchestrator::run::run_with(&loaded, &options(), &Recorded::default(), &executor)
            .expect("run");
    assert_eq!(executor.projects(), ["other"]);
    let other = report
        .projects
        .iter()
        .find(|p| p.name.as_str() == "other")
        .expect("reported");
    assert_eq!(other.status, ProjectStatus::Rebased);
    assert_eq!(other.patches.len(), 2);
}
