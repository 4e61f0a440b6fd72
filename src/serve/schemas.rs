//! The shapes of the API's bodies, for the OpenAPI document: what every answer holds at its
//! top level (nested reports are described as objects; the run report's full schema is
//! `docs/carry.run.v1.schema.json`). Documentation types only: handlers build the same JSON from
//! the orchestrator's own types.

#![allow(dead_code, reason = "read by utoipa's derive, never constructed")]

use utoipa::ToSchema;

/// Every error answer.
#[derive(ToSchema)]
pub(crate) struct ErrorBody {
    /// What is wrong, for a human; never internal details.
    error: String,
    /// The request's correlation id (also in `x-request-id`), which the service's log names.
    request_id: Option<String>,
}

/// `GET /api/v1/health`.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: String,
    /// carry's version.
    version: String,
}

/// `GET /api/v1/workspace` and `GET /api/v1/graph`: the workspace's projects, their upstreams
/// and series, the consumes edges and the features.
#[derive(ToSchema)]
pub(crate) struct WorkspaceView {
    /// `carry.workspace/v1` or `carry.graph/v1`.
    schema: String,
    /// The workspace's name.
    workspace: String,
    /// The stages of the safe order.
    stages: Vec<Vec<String>>,
    /// Each project.
    #[schema(value_type = Vec<Object>)]
    projects: Vec<serde_json::Value>,
    /// Each feature.
    #[schema(value_type = Vec<Object>)]
    features: Vec<serde_json::Value>,
}

/// `GET /api/v1/order`.
#[derive(ToSchema)]
pub(crate) struct Order {
    /// Stages of project names: each stage only depends on earlier ones.
    stages: Vec<Vec<String>>,
}

/// `GET /api/v1/debt`.
#[derive(ToSchema)]
pub(crate) struct Debt {
    /// `carry.debt/v1`.
    schema: String,
    /// Each carried patch with its age, upstream state and deadline, overdue first.
    #[schema(value_type = Vec<Object>)]
    patches: Vec<serde_json::Value>,
}

/// `GET /api/v1/runs`.
#[derive(ToSchema)]
pub(crate) struct Runs {
    /// The run going on, if any.
    active: Option<String>,
    /// Recent runs, newest first.
    #[schema(value_type = Vec<Object>)]
    runs: Vec<serde_json::Value>,
}

/// `POST /api/v1/runs`: what to run (every field optional; an empty body runs everything
/// that moved).
#[derive(ToSchema)]
pub(crate) struct RunRequest {
    /// Only these projects and what depends on them.
    projects: Option<Vec<String>>,
    /// Redo every selected project, moved or not.
    all: Option<bool>,
    /// Rebase only.
    no_test: Option<bool>,
    /// Tests of one stage side by side.
    #[schema(minimum = 1, maximum = 256)]
    jobs: Option<u16>,
}

/// `POST /api/v1/runs` answered 202.
#[derive(ToSchema)]
pub(crate) struct RunStarted {
    /// The run's id.
    id: String,
    /// Where its progress streams.
    events: String,
    /// Where its report will be.
    report: String,
}

/// `GET /api/v1/runs/{id}`: the run's report (`carry.run/v1`) once it ended, or its state
/// while it runs.
#[derive(ToSchema)]
pub(crate) struct RunView {
    /// `carry.run/v1` for a report.
    schema: Option<String>,
    /// The run's id (`run` while it runs).
    run: Option<String>,
    /// Its state.
    status: Option<String>,
}

/// `POST /api/v1/hooks/upstream` answered 200 or 202.
#[derive(ToSchema)]
pub(crate) struct HookAnswer {
    /// The projects a run starts for.
    projects: Vec<String>,
    /// Why nothing starts, when nothing does.
    message: Option<String>,
}

/// One server-sent event of `GET /api/v1/runs/{id}/events`: its type in `event` and the
/// event as JSON in `data` (`{"type": "finished", "run": ..., "status": ...}` ends the stream).
#[derive(ToSchema)]
pub(crate) struct RunEventMessage {
    /// The event's type: `started`, `planned`, `fetching`, `rebasing`, `patch`, `reused`,
    /// `test-started`, `test-finished`, `resuming`, `leftovers-ended`, `project-done`,
    /// `finished`.
    event: Option<String>,
    /// The event as JSON.
    data: String,
    /// The event's id, when it has one.
    id: Option<String>,
}
