//! `carry serve`: the same orchestrator as the CLI, kept running, behind an HTTP API.
//!
//! [`router`] builds the whole service from its [`AppState`], so tests drive it with
//! `oneshot` requests and no socket. Reads are open; anything that starts or changes work
//! needs the bearer token. Errors are JSON; 5xx bodies say nothing internal.

mod api;
mod cache;
mod conflicts;
mod dashboard;
mod error;
mod hooks;
mod hosts;
mod metrics;
mod openapi;
mod request_id;
mod runs;
mod schedule;
mod schemas;
pub(crate) mod server;
mod svg;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::routing::post;
pub(crate) use runs::RunRegistry;
pub(crate) use schedule::Schedule;
pub(crate) use schedule::drive as drive_schedule;

/// Starts a run with default options (used to resume after a restart).
pub(crate) async fn runs_start(state: &AppState) -> Result<String, error::ApiError> {
    runs::start_run(state, runs::StartRequest::default()).await
}
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The largest request body accepted (webhook payloads included).
const BODY_LIMIT: usize = 256 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The workspace root (holding `carry.toml`); the manifest is re-read per request so edits
    /// show without a restart.
    pub(crate) root: PathBuf,
    /// The bearer token that guards anything that starts or changes work.
    pub(crate) token: Arc<String>,
    /// Shared secrets for upstream webhooks, by provider.
    pub(crate) hook_secret: Option<Arc<String>>,
    /// The runs this service started, and the one going on.
    pub(crate) runs: RunRegistry,
    /// What reads reuse between requests.
    pub(crate) cache: Arc<cache::Cache>,
    /// Projects pushed upstream since the last webhook-started run, while a burst lasts.
    pub(crate) pushed: Arc<std::sync::Mutex<Option<std::collections::BTreeSet<String>>>>,
    /// Host names served besides `localhost` and IP addresses (`CARRY_ALLOWED_HOSTS`).
    pub(crate) allowed_hosts: Arc<Vec<String>>,
    /// What `/metrics` reports of the service itself.
    pub(crate) metrics: metrics::Metrics,
    /// Each project's furthest safe upstream point, from the last scheduled computation.
    pub(crate) furthest: Arc<std::sync::Mutex<Option<schedule::FurthestSnapshot>>>,
}

pub(crate) use hosts::from_env as allowed_hosts_from_env;
pub(crate) use metrics::Metrics;

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// How long a request may take by default before the service gives up on it.
pub(crate) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a client has to send a request's body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole service, with the default request timeout.
#[cfg(test)]
fn router(state: AppState) -> Router {
    router_with_timeout(state, REQUEST_TIMEOUT)
}

/// The whole service; a request that takes longer than `timeout` (before its answer starts:
/// event streams go on) is answered 503.
pub(crate) fn router_with_timeout(state: AppState, timeout: std::time::Duration) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/workspace", get(api::workspace))
        .route("/api/v1/graph", get(api::graph))
        .route("/api/v1/graph.svg", get(api::graph_svg))
        .route("/api/v1/order", get(api::order))
        .route("/api/v1/impact", get(api::impact_many))
        .route("/api/v1/impact/{project}", get(api::impact))
        .route("/api/v1/debt", get(api::debt))
        .route("/api/v1/conflicts", get(conflicts::list))
        .route("/api/v1/review", get(conflicts::review))
        .route(
            "/api/v1/review/{project}/{patch}/ack",
            post(conflicts::acknowledge),
        )
        .route("/patches/{project}/{patch}", get(conflicts::page))
        .route("/api/v1/runs", get(runs::list).post(runs::start))
        .route("/api/v1/runs/{id}", get(runs::show))
        .route("/api/v1/runs/{id}/events", get(runs::events))
        .route("/api/v1/hooks/upstream", post(hooks::upstream))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::scrape))
        .fallback(error::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::measure,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Every error is JSON, also those axum answers itself (405, 413, 415 ...).
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hosts::allowed_host,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}
