//! The run report, schema `carry.run/v1`: what every project, patch and feature came to.

pub use carry_adapters::rebase::Outcome;
use carry_graph::FeatureName;
use carry_graph::PatchRef;
use carry_graph::ProjectName;
use serde::Deserialize;
use serde::Serialize;

/// The schema name and version of [`RunReport`].
pub const RUN_SCHEMA: &str = "carry.run/v1";

/// Whether a run needs a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Nothing conflicted, nothing is blocked, nothing failed.
    Clean,
    /// Something needs attention.
    Attention,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`RUN_SCHEMA`].
    pub schema: String,
    /// The run's id.
    pub run: String,
    /// The workspace's name.
    pub workspace: String,
    /// Clean or attention.
    pub status: RunStatus,
    /// The projects worked on, in the order they were worked on.
    pub order: Vec<ProjectName>,
    /// Each project of the workspace, in order.
    pub projects: Vec<ProjectReport>,
    /// Each feature.
    pub features: Vec<FeatureReport>,
}

/// What a project's series came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectStatus {
    /// Rebased (its upstream, its series or something it consumes moved).
    Rebased,
    /// Nothing it depends on moved; not redone.
    Unchanged,
    /// carry could not work on it (a patch file that does not parse, a fetch that failed).
    Error,
}

/// Upstream positions of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamMove {
    /// Where the series sat.
    pub from: String,
    /// Where upstream is now.
    pub to: String,
}

/// What a project's test came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// passed, failed, timeout, blocked or skipped.
    pub status: TestStatus,
    /// How long it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Where its output is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Its exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last lines of its log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Why it was blocked or skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the result was reused from an earlier run with the same inputs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The cluster job it ran as, and the node, when it ran on a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<carry_adapters::process::JobRef>,
}

impl TestReport {
    /// A test that did not run, and why.
    pub fn not_run(status: TestStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            duration_ms: None,
            log: None,
            exit_code: None,
            log_tail: Vec::new(),
            reason: Some(reason.into()),
            reused: false,
            job: None,
        }
    }
}

/// A test's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestStatus {
    /// Exit status 0.
    Passed,
    /// Any other exit status.
    Failed,
    /// Killed at its timeout.
    Timeout,
    /// Not run: something it needs failed.
    Blocked,
    /// Not run: tests were not asked for, or the project has none.
    Skipped,
}

/// A project in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectReport {
    /// The project.
    pub name: ProjectName,
    /// Rebased, unchanged or error.
    pub status: ProjectStatus,
    /// Why carry could not work on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Upstream positions, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamMove>,
    /// The candidate commit: upstream plus every applied patch.
    pub result: Option<String>,
    /// The candidate's ref in the project's repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_ref: Option<String>,
    /// The test.
    pub test: TestReport,
    /// Each patch, in series order.
    pub patches: Vec<PatchReport>,
}

impl ProjectReport {
    /// A project the run did not work on.
    pub fn unchanged(name: &ProjectName) -> Self {
        Self {
            name: name.clone(),
            status: ProjectStatus::Unchanged,
            error: None,
            upstream: None,
            result: None,
            candidate_ref: None,
            test: TestReport::not_run(TestStatus::Skipped, "tests were not run"),
            patches: Vec::new(),
        }
    }

    /// A project carry could not work on, and why.
    pub fn error(name: &ProjectName, upstream: Option<UpstreamMove>, error: String) -> Self {
        Self {
            name: name.clone(),
            status: ProjectStatus::Error,
            // Whatever the error quotes (a git command line, a URL), no credential reaches
            // the report.
            error: Some(match carry_graph::redact::urls_in_text(&error) {
                std::borrow::Cow::Borrowed(_) => error,
                std::borrow::Cow::Owned(redacted) => redacted,
            }),
            upstream,
            result: None,
            candidate_ref: None,
            test: TestReport::not_run(TestStatus::Blocked, "carry could not work on the project"),
            patches: Vec::new(),
        }
    }

    /// How many patches came to each outcome, as "2 applied, 1 landed" (applied, landed,
    /// conflict, blocked; zero counts left out).
    pub fn patch_counts(&self) -> String {
        let mut counts = Vec::new();
        for kind in [
            "applied", "landed", "conflict", "blocked", "error", "dropped",
        ] {
            let n = self
                .patches
                .iter()
                .filter(|p| outcome_name(&p.outcome) == kind)
                .count();
            if n > 0 {
                counts.push(format!("{n} {kind}"));
            }
        }
        counts.join(", ")
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
        Outcome::Dropped { .. } => "dropped",
    }
}

/// A patch in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchReport {
    /// `PROJECT/NAME`.
    pub id: PatchRef,
    /// Its subject.
    pub subject: String,
    /// Its commit before the run (none for a patch file that gave no commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What happened to it.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Things a human should check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The recorded resolution its conflict was resolved with, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Whether a human must still look at it: `required` for a resolution carry re-applied
    /// by itself onto an upstream nobody reviewed it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewState>,
}

/// Whether a re-applied resolution was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewState {
    /// Nobody has looked at it on this upstream.
    Required,
    /// A human acknowledged it (`carry review --ack`), or made it on this upstream.
    Acknowledged,
}

/// How a feature stands after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureStatus {
    /// Every patch applied or landed.
    Ok,
    /// Nothing is blocked, but something needs a look (a project error, a note, a failed test).
    AtRisk,
    /// A patch of the feature conflicted or is blocked.
    Blocked,
}

/// A feature in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureReport {
    /// The feature.
    pub name: FeatureName,
    /// ok, at-risk or blocked.
    pub status: FeatureStatus,
    /// The failed patches that block it (conflicts first found), when blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
}

impl RunStatus {
    /// Its name, as the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Attention => "attention",
        }
    }
}

impl ProjectStatus {
    /// Its name, as the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rebased => "rebased",
            Self::Unchanged => "unchanged",
            Self::Error => "error",
        }
    }
}

impl TestStatus {
    /// Its name, as the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Blocked => "blocked",
            Self::Skipped => "skipped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the store keeps are the names the report's JSON spells.
    #[test]
    fn names_are_the_json_names() {
        for status in [RunStatus::Clean, RunStatus::Attention] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
        for status in [
            ProjectStatus::Rebased,
            ProjectStatus::Unchanged,
            ProjectStatus::Error,
        ] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
        for status in [
            TestStatus::Passed,
            TestStatus::Failed,
            TestStatus::Timeout,
            TestStatus::Blocked,
            TestStatus::Skipped,
        ] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
    }
}
