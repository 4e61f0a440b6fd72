//! Telling people: after a run that needs attention, or that resolved a conflict, each
//! `[notify]` webhook gets the `carry.notify/v1` JSON payload and each chat hook (Slack or
//! Matrix incoming webhooks) a line of text. A conflict is announced once, the run it first
//! appears; after that it is only listed in the digest, "still open, night N". Delivery is
//! retried with backoff; a receiver that is down is logged and never fails the run.

use std::time::Duration;

use carry_adapters::notify::Delivery;
use carry_adapters::notify::post_json;
use serde::Serialize;

use crate::conflicts::OpenConflict;
use crate::report::ProjectStatus;
use crate::report::RunReport;
use crate::report::RunStatus;
use crate::report::TestStatus;
use crate::workspace::LoadedWorkspace;

/// The payload's schema.
pub const NOTIFY_SCHEMA: &str = "carry.notify/v1";

/// What a webhook receives.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// [`NOTIFY_SCHEMA`].
    pub schema: &'static str,
    /// The workspace.
    pub workspace: String,
    /// The run.
    pub run: String,
    /// `clean` or `attention`.
    pub status: RunStatus,
    /// One line for humans (the chat text).
    pub summary: String,
    /// Conflicts this run met first.
    pub new_conflicts: Vec<OpenConflict>,
    /// Conflicts open since an earlier run, with how many runs in a row met them.
    pub still_open: Vec<OpenConflict>,
    /// Conflicts the run before had that this one did not meet: `{key, patch}`.
    pub resolved: Vec<ResolvedConflict>,
    /// Projects whose test failed or timed out.
    pub failed_tests: Vec<String>,
    /// Projects carry could not work on, with why.
    pub errors: Vec<String>,
}

/// A conflict that is gone.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedConflict {
    /// Its key.
    pub key: String,
    /// Its patch.
    pub patch: String,
}

/// The notification for `report` (the newest run), if it warrants one: it needs attention,
/// or it resolved a conflict.
pub fn notification(workspace: &LoadedWorkspace, report: &RunReport) -> Option<Notification> {
    let open = crate::conflicts::open_conflicts(workspace).ok()?;
    let current: Vec<&str> = open.conflicts.iter().map(|c| c.key.as_str()).collect();
    let resolved: Vec<ResolvedConflict> = crate::conflicts::earlier_keys(workspace)
        .ok()?
        .into_iter()
        .filter(|(key, _)| !current.contains(&key.as_str()))
        .map(|(key, patch)| ResolvedConflict { key, patch })
        .collect();
    if report.status == RunStatus::Clean && resolved.is_empty() {
        return None;
    }
    let (new_conflicts, still_open): (Vec<_>, Vec<_>) =
        open.conflicts.into_iter().partition(|c| c.nights <= 1);
    let failed_tests: Vec<String> = report
        .projects
        .iter()
        .filter(|p| matches!(p.test.status, TestStatus::Failed | TestStatus::Timeout))
        .map(|p| p.name.to_string())
        .collect();
    let errors: Vec<String> = report
        .projects
        .iter()
        .filter(|p| p.status == ProjectStatus::Error)
        .map(|p| format!("{}: {}", p.name, p.error.as_deref().unwrap_or("error")))
        .collect();
    let summary = summary(
        &workspace.manifest.workspace.name,
        report,
        &new_conflicts,
        &still_open,
        &resolved,
        &failed_tests,
        &errors,
    );
    Some(Notification {
        schema: NOTIFY_SCHEMA,
        workspace: workspace.manifest.workspace.name.clone(),
        run: report.run.clone(),
        status: report.status,
        summary,
        new_conflicts,
        still_open,
        resolved,
        failed_tests,
        errors,
    })
}

fn summary(
    workspace: &str,
    report: &RunReport,
    new: &[OpenConflict],
    still: &[OpenConflict],
    resolved: &[ResolvedConflict],
    failed: &[String],
    errors: &[String],
) -> String {
    let mut parts = Vec::new();
    if !new.is_empty() {
        parts.push(format!(
            "new conflict{}: {}",
            if new.len() == 1 { "" } else { "s" },
            new.iter()
                .map(|c| format!("{}/{} ({})", c.project, c.patch, c.paths.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !still.is_empty() {
        parts.push(format!(
            "still open: {}",
            still
                .iter()
                .map(|c| format!("{}/{} (night {})", c.project, c.patch, c.nights))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !resolved.is_empty() {
        parts.push(format!(
            "resolved: {}",
            resolved
                .iter()
                .map(|c| c.patch.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !failed.is_empty() {
        parts.push(format!("tests failed: {}", failed.join(", ")));
    }
    if !errors.is_empty() {
        parts.push(format!("errors: {}", errors.join("; ")));
    }
    let state = match report.status {
        RunStatus::Clean => "clean",
        RunStatus::Attention => "needs attention",
    };
    format!(
        "carry {workspace}, run {}: {state}{}{}",
        report.run,
        if parts.is_empty() { "" } else { " - " },
        parts.join(" - ")
    )
}

/// Sends the notification of `report` to every `[notify]` receiver; what each delivery did.
pub fn send(workspace: &LoadedWorkspace, report: &RunReport) -> Vec<Delivery> {
    let spec = &workspace.manifest.workspace.notify;
    if spec.webhooks.is_empty() && spec.chat.is_empty() {
        return Vec::new();
    }
    let Some(notification) = notification(workspace, report) else {
        return Vec::new();
    };
    let timeout = Duration::from_secs(10);
    let payload = serde_json::to_value(&notification).unwrap_or_default();
    let text = serde_json::json!({ "text": notification.summary, "body": notification.summary });
    let mut deliveries = Vec::new();
    for url in &spec.webhooks {
        deliveries.push(post_json(url, &payload, timeout));
    }
    for url in &spec.chat {
        deliveries.push(post_json(url, &text, timeout));
    }
    deliveries
}
