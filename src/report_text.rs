//! The run report as text for a terminal: a line per project, a line per feature, then the
//! conflicts and blocked patches with their paths and culprits.

use std::fmt::Write as _;

use carry_orchestrator::report::FeatureStatus;
use carry_orchestrator::report::Outcome;
use carry_orchestrator::report::ProjectStatus;
use carry_orchestrator::report::RunReport;
use carry_orchestrator::report::RunStatus;

fn test_summary(test: &carry_orchestrator::report::TestReport) -> String {
    use carry_orchestrator::report::TestStatus;
    let status = match test.status {
        TestStatus::Passed => "passed",
        TestStatus::Failed => "FAILED",
        TestStatus::Timeout => "TIMED OUT",
        TestStatus::Blocked => "blocked",
        TestStatus::Skipped => return String::new(),
    };
    let time = test.duration_ms.map_or(String::new(), |ms| {
        format!(" in {:.1}s", ms as f64 / 1000.0)
    });
    let reused = if test.reused { ", reused" } else { "" };
    let why = match (&test.reason, test.status) {
        (Some(reason), TestStatus::Blocked) => format!(": {reason}"),
        _ => String::new(),
    };
    format!("; test {status}{time}{reused}{why}")
}

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

pub(crate) fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let status = match report.status {
        RunStatus::Clean => "clean",
        RunStatus::Attention => "needs attention",
    };
    let _ = writeln!(
        out,
        "run {} of workspace {}: {status}",
        report.run, report.workspace
    );
    let width = report
        .projects
        .iter()
        .map(|p| p.name.as_str().len())
        .max()
        .unwrap_or(0);
    for project in &report.projects {
        let line = match project.status {
            ProjectStatus::Unchanged => "unchanged".to_owned(),
            ProjectStatus::Error => format!("error: {}", project.error.as_deref().unwrap_or("")),
            ProjectStatus::Rebased => {
                let counts = project.patch_counts();
                let moved = project.upstream.as_ref().map_or(String::new(), |u| {
                    if u.from == u.to {
                        "  (upstream unchanged)".to_owned()
                    } else {
                        format!("  {} -> {}", short(&u.from), short(&u.to))
                    }
                });
                format!(
                    "rebased: {}{moved}",
                    if counts.is_empty() {
                        "no patches".to_owned()
                    } else {
                        counts
                    }
                )
            }
        };
        let test = test_summary(&project.test);
        let _ = writeln!(out, "  {:width$}  {line}{test}", project.name.as_str());
    }
    for feature in &report.features {
        let status = match feature.status {
            FeatureStatus::Ok => "ok".to_owned(),
            FeatureStatus::AtRisk => "at risk".to_owned(),
            FeatureStatus::Blocked => format!("blocked by {}", feature.blocked_by.join(", ")),
        };
        let _ = writeln!(out, "  feature {}: {status}", feature.name);
    }
    for project in &report.projects {
        for patch in &project.patches {
            match &patch.outcome {
                Outcome::Conflict {
                    paths,
                    upstream_commits,
                    first_bad,
                    ..
                } => {
                    let _ = writeln!(out, "\nconflict {}: {}", patch.id, patch.subject);
                    let _ = writeln!(out, "  paths: {}", paths.join(", "));
                    if let Some(first_bad) = first_bad {
                        let _ = writeln!(out, "  first bad upstream commit: {}", short(first_bad));
                    }
                    if !upstream_commits.is_empty() {
                        let shown: Vec<&str> = upstream_commits
                            .iter()
                            .rev()
                            .take(5)
                            .map(|c| short(c))
                            .collect();
                        let _ = writeln!(
                            out,
                            "  upstream commits touching them: {} (latest: {})",
                            upstream_commits.len(),
                            shown.join(", ")
                        );
                    }
                }
                Outcome::Blocked { blocked_by } => {
                    let _ = writeln!(
                        out,
                        "\nblocked  {}: needs {}",
                        patch.id,
                        blocked_by.join(", ")
                    );
                }
                Outcome::Landed {
                    upstream_commit,
                    by,
                } => {
                    let by = serde_json::to_value(by)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "\nlanded   {}: upstream {} (matched by {by})",
                        patch.id,
                        upstream_commit
                            .as_deref()
                            .map_or("(no single commit)", short)
                    );
                }
                Outcome::Error { problem } => {
                    let _ = writeln!(
                        out,
                        "\nerror    {}: {}:{}: {}",
                        patch.id, problem.file, problem.line, problem.reason
                    );
                }
                Outcome::Dropped { reason } => {
                    let _ = writeln!(out, "\ndropped  {}: {reason}", patch.id);
                }
                Outcome::Applied { .. } => {
                    if let Some(resolution) = &patch.resolution {
                        let review = match patch.review {
                            Some(carry_orchestrator::report::ReviewState::Required) => {
                                format!("; review it: `carry review {}`", patch.id)
                            }
                            _ => String::new(),
                        };
                        let _ = writeln!(
                            out,
                            "\nresolved {}: with recorded resolution {resolution}{review}",
                            patch.id
                        );
                    }
                }
            }
            for note in &patch.notes {
                let _ = writeln!(out, "  note {}: {note}", patch.id);
            }
        }
        if matches!(
            project.test.status,
            carry_orchestrator::report::TestStatus::Failed
                | carry_orchestrator::report::TestStatus::Timeout
        ) {
            let code = project
                .test
                .exit_code
                .map_or_else(|| "no exit code".to_owned(), |c| format!("exit {c}"));
            let _ = writeln!(
                out,
                "\ntest {} failed ({code}); log {}",
                project.name,
                project.test.log.as_deref().unwrap_or("-")
            );
            for line in &project.test.log_tail {
                let _ = writeln!(out, "  | {line}");
            }
        }
    }
    out
}
