//! The run report as Markdown, for posting to a tracker.

use std::fmt::Write as _;

use carry_orchestrator::report::FeatureStatus;
use carry_orchestrator::report::Outcome;
use carry_orchestrator::report::ProjectStatus;
use carry_orchestrator::report::RunReport;
use carry_orchestrator::report::RunStatus;
use carry_orchestrator::report::TestStatus;

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

fn test_cell(status: TestStatus) -> &'static str {
    match status {
        TestStatus::Passed => "✅ passed",
        TestStatus::Failed => "❌ failed",
        TestStatus::Timeout => "⏱️ timeout",
        TestStatus::Blocked => "⛔ blocked",
        TestStatus::Skipped => "– skipped",
    }
}

pub(crate) fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let status = match report.status {
        RunStatus::Clean => "clean",
        RunStatus::Attention => "needs attention",
    };
    let _ = writeln!(
        out,
        "## carry run `{}` of `{}`: {status}\n",
        report.run, report.workspace
    );
    out.push_str("| project | series | upstream | test |\n| --- | --- | --- | --- |\n");
    for project in &report.projects {
        let series = match project.status {
            ProjectStatus::Unchanged => "unchanged".to_owned(),
            ProjectStatus::Error => format!("error: {}", project.error.as_deref().unwrap_or("")),
            ProjectStatus::Rebased => project.patch_counts(),
        };
        let upstream = project.upstream.as_ref().map_or(String::new(), |u| {
            format!("`{}` → `{}`", short(&u.from), short(&u.to))
        });
        let _ = writeln!(
            out,
            "| {} | {series} | {upstream} | {} |",
            project.name,
            test_cell(project.test.status)
        );
    }
    if !report.features.is_empty() {
        out.push_str("\n| feature | status |\n| --- | --- |\n");
        for feature in &report.features {
            let status = match feature.status {
                FeatureStatus::Ok => "ok".to_owned(),
                FeatureStatus::AtRisk => "at risk".to_owned(),
                FeatureStatus::Blocked => format!(
                    "blocked by {}",
                    feature
                        .blocked_by
                        .iter()
                        .map(|b| format!("`{b}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let _ = writeln!(out, "| {} | {status} |", feature.name);
        }
    }
    let mut details = String::new();
    for project in &report.projects {
        for patch in &project.patches {
            match &patch.outcome {
                Outcome::Conflict {
                    paths,
                    first_bad,
                    upstream_commits,
                    ..
                } => {
                    let _ = writeln!(
                        details,
                        "- **conflict** `{}` ({}): {}",
                        patch.id,
                        patch.subject,
                        paths
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    if let Some(first_bad) = first_bad {
                        let _ = writeln!(
                            details,
                            "  - first bad upstream commit `{}`; {} upstream commits touched these paths",
                            short(first_bad),
                            upstream_commits.len()
                        );
                    }
                }
                Outcome::Blocked { blocked_by } => {
                    let _ = writeln!(
                        details,
                        "- **blocked** `{}` by {}",
                        patch.id,
                        blocked_by
                            .iter()
                            .map(|b| format!("`{b}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                Outcome::Landed {
                    upstream_commit, ..
                } => {
                    let _ = writeln!(
                        details,
                        "- **landed** `{}` upstream as `{}`",
                        patch.id,
                        upstream_commit.as_deref().map_or("?", short)
                    );
                }
                Outcome::Error { problem } => {
                    let _ = writeln!(
                        details,
                        "- **error** `{}`: `{}:{}`: {}",
                        patch.id, problem.file, problem.line, problem.reason
                    );
                }
                Outcome::Dropped { reason } => {
                    let _ = writeln!(details, "- **dropped** `{}`: {reason}", patch.id);
                }
                Outcome::Applied { .. } => {
                    if let Some(resolution) = &patch.resolution {
                        let review = match patch.review {
                            Some(carry_orchestrator::report::ReviewState::Required) => {
                                " (**review required**)"
                            }
                            _ => "",
                        };
                        let _ = writeln!(
                            details,
                            "- **resolved** `{}` with recorded resolution `{resolution}`{review}",
                            patch.id
                        );
                    }
                }
            }
        }
        if matches!(
            project.test.status,
            TestStatus::Failed | TestStatus::Timeout
        ) {
            let _ = writeln!(
                details,
                "- **test {}** `{}` (exit {:?}):\n\n  ```\n{}\n  ```",
                test_cell(project.test.status),
                project.name,
                project.test.exit_code,
                project
                    .test
                    .log_tail
                    .iter()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    if !details.is_empty() {
        out.push_str("\n### Needs attention\n\n");
        out.push_str(&details);
    }
    out
}
