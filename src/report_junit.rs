//! The run report as JUnit XML, which CI systems show as test results: a test suite per
//! project, a test case per patch (a conflict, a block or an error fails it; a landed or
//! dropped patch is skipped, saying why) and one for the project's test (its log's tail when it
//! failed). Written with `quick-junit`, nextest's own writer.

use carry_orchestrator::report::Outcome;
use carry_orchestrator::report::RunReport;
use carry_orchestrator::report::TestStatus;
use quick_junit::NonSuccessKind;
use quick_junit::Report;
use quick_junit::TestCase;
use quick_junit::TestCaseStatus;
use quick_junit::TestSuite;

/// `report` as JUnit XML.
pub(crate) fn junit(report: &RunReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new(format!("carry run {}", report.run));
    for project in &report.projects {
        let mut suite = TestSuite::new(project.name.as_str());
        if let Some(error) = &project.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(error.as_str());
            suite.add_test_case(TestCase::new(format!("{} (project)", project.name), status));
        }
        for patch in &project.patches {
            let status = match &patch.outcome {
                Outcome::Applied { .. } => TestCaseStatus::success(),
                Outcome::Landed {
                    upstream_commit, ..
                } => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_message(format!(
                        "landed upstream{}",
                        upstream_commit
                            .as_deref()
                            .map(|c| format!(" as {c}"))
                            .unwrap_or_default()
                    ));
                    status
                }
                Outcome::Dropped { reason } => {
                    let mut status = TestCaseStatus::skipped();
                    status.set_message(format!("dropped: {reason}"));
                    status
                }
                Outcome::Conflict {
                    paths,
                    upstream_commits,
                    first_bad,
                    ..
                } => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!("conflicts in {}", paths.join(", ")));
                    status.set_type("conflict");
                    status.set_description(format!(
                        "paths: {}\nfirst bad upstream commit: {}\nupstream commits touching them: {}\nresolve it: carry resolve {}",
                        paths.join(", "),
                        first_bad.as_deref().unwrap_or("not found"),
                        upstream_commits.len(),
                        patch.id
                    ));
                    status
                }
                Outcome::Blocked { blocked_by } => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!("blocked by {}", blocked_by.join(", ")));
                    status.set_type("blocked");
                    status
                }
                Outcome::Error { problem } => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status.set_message(format!(
                        "{}:{}: {}",
                        problem.file, problem.line, problem.reason
                    ));
                    status
                }
            };
            let mut case = TestCase::new(patch.id.to_string(), status);
            case.set_classname(format!("{}.patches", project.name));
            if !patch.notes.is_empty() {
                case.set_system_out(patch.notes.join("\n"));
            }
            suite.add_test_case(case);
        }
        let test = &project.test;
        let status = match test.status {
            TestStatus::Passed => TestCaseStatus::success(),
            TestStatus::Failed | TestStatus::Timeout => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(match (test.status, test.exit_code) {
                    (TestStatus::Timeout, _) => "timed out".to_owned(),
                    (_, Some(code)) => format!("exit {code}"),
                    _ => test.reason.clone().unwrap_or_else(|| "failed".to_owned()),
                });
                status.set_type(if test.status == TestStatus::Timeout {
                    "timeout"
                } else {
                    "failed"
                });
                status.set_description(test.log_tail.join("\n"));
                status
            }
            TestStatus::Blocked | TestStatus::Skipped => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(test.reason.clone().unwrap_or_default());
                status
            }
        };
        let mut case = TestCase::new(format!("{} test", project.name), status);
        case.set_classname(format!("{}.test", project.name));
        if let Some(ms) = test.duration_ms {
            case.set_time(std::time::Duration::from_millis(ms));
        }
        if let Some(log) = &test.log {
            case.set_system_out(format!("log: {log}"));
        }
        suite.add_test_case(case);
        junit.add_test_suite(suite);
    }
    junit.to_string()
}
