//! `carry serve`: the same orchestrator as the CLI, kept running, behind an HTTP API.
//!
//! [`router`] builds the whole service from its [`AppState`], so tests drive it with
//! `oneshot` requests and no socket. Reads are open; anything that starts or changes work
//! needs the bearer token. Errors are JSON; 5xx bodies say nothing internal.

mod api;
mod cache;
mod dashboard;
mod error;
mod hooks;
mod hosts;
mod openapi;
mod runs;
mod schedule;
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
}

pub(crate) use hosts::from_env as allowed_hosts_from_env;

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

/// The whole service.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/workspace", get(api::workspace))
        .route("/api/v1/graph", get(api::graph))
        .route("/api/v1/graph.svg", get(api::graph_svg))
        .route("/api/v1/order", get(api::order))
        .route("/api/v1/impact/{project}", get(api::impact))
        .route("/api/v1/debt", get(api::debt))
        .route("/api/v1/runs", get(runs::list).post(runs::start))
        .route("/api/v1/runs/{id}", get(runs::show))
        .route("/api/v1/runs/{id}/events", get(runs::events))
        .route("/api/v1/hooks/upstream", post(hooks::upstream))
        .route("/api/v1/openapi.json", get(openapi::document))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Every error is JSON, also those axum answers itself (405, 413, 415 ...).
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hosts::allowed_host,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
