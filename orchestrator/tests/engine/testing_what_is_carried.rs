//! Every consumed project's `CARRY_DEP_<NAME>` is a checkout of what this run tests it with:
//! its candidate when the run rebased it, its series as carried now when the run left it
//! alone, never a candidate an earlier run left behind.

use carry_orchestrator::options::RunOptions;

use crate::support::Recorded;
use crate::support::RecordingExecutor;
use crate::support::load;
use crate::support::upstream;
use crate::support::workspace;

//   run 1 (all):  base's upstream moved ─► base's candidate has upstream's `three`
//   run 2 (app):  app's upstream moved; base is not selected, so app is tested with base's
//                 series as carried (no `three`), not run 1's candidate
#[test]
fn a_consumer_is_tested_with_its_dependency_as_this_run_has_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    workspace(dir);
    let options = |projects: &[&str]| RunOptions {
        projects: projects
            .iter()
            .map(|p| p.parse().expect("project name"))
            .collect(),
        ..RunOptions::default()
    };
    upstream(dir, "base").commit_file("lib.c", "one\ntwo\nthree\n", "upstream moves");
    let first = RecordingExecutor::default();
    carry_orchestrator::run::run_with(&load(dir), &options(&[]), &Recorded::default(), &first)
        .expect("run 1");
    let dependency = |executor: &RecordingExecutor| {
        let tests = executor.0.lock().expect("not poisoned");
        let app = tests
            .iter()
            .find(|t| {
                t.env
                    .iter()
                    .any(|(k, v)| k == "CARRY_PROJECT" && v == "app")
            })
            .expect("app was tested");
        let (_, dir) = app
            .env
            .iter()
            .find(|(k, _)| k == "CARRY_DEP_BASE")
            .expect("app gets CARRY_DEP_BASE");
        std::fs::read_to_string(std::path::Path::new(dir).join("lib.c")).expect("lib.c")
    };
    assert_eq!(
        dependency(&first),
        "one\ntwo\nthree\n",
        "run 1 tests base's candidate"
    );

    upstream(dir, "app").commit_file("lib.c", "one\ntwo\nthree\n", "upstream moves");
    let second = RecordingExecutor::default();
    let report = carry_orchestrator::run::run_with(
        &load(dir),
        &options(&["app"]),
        &Recorded::default(),
        &second,
    )
    .expect("run 2");
    assert_eq!(report.order.len(), 1, "{:?}", report.order);
    assert_eq!(second.projects(), ["app"]);
    assert_eq!(
        dependency(&second),
        "one\ntwo\n",
        "run 2 tests app with base as carried, not run 1's candidate"
    );
}
