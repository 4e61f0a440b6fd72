//! `/metrics`: Prometheus' text format (OpenMetrics), written by `prometheus-client`.
//!
//! Live instruments count what this service saw: HTTP requests by route, method and status,
//! with their latency; the durations of the runs it made and of their tests. At each scrape the
//! workspace's own state is read as well: runs by status (all of the store's history), the last
//! run's patches by outcome, open conflicts, overdue patches.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::extract::State;
use axum::http::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    // 5 ms to about 6 hours: an HTTP answer to a kernel build.
    Histogram::new(exponential_buckets(0.005, 4.0, 11))
}

/// What the service measures while it runs.
#[derive(Clone)]
pub(crate) struct Metrics {
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histograms<RouteLabels>,
    run_seconds: Histograms<StatusLabels>,
    test_seconds: Histograms<ProjectLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(seconds),
            run_seconds: Family::new_with_constructor(seconds),
            test_seconds: Family::new_with_constructor(seconds),
        }
    }
}

impl Metrics {
    /// A run of this service ended with `status` after `elapsed`; its report, if it has one.
    pub(crate) fn run_ended(
        &self,
        status: &str,
        elapsed: std::time::Duration,
        report: Option<&carry_orchestrator::report::RunReport>,
    ) {
        self.run_seconds
            .get_or_create(&StatusLabels {
                status: status.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        for project in report.map(|r| r.projects.as_slice()).unwrap_or_default() {
            if let (Some(ms), false) = (project.test.duration_ms, project.test.reused) {
                self.test_seconds
                    .get_or_create(&ProjectLabels {
                        project: project.name.to_string(),
                    })
                    .observe(ms as f64 / 1000.0);
            }
        }
    }
}

/// Counts every request to a route by the route (its pattern, never the raw path), method
/// and status; a path no route matches is not counted (its 404 says enough).
pub(crate) async fn measure(
    State(state): State<AppState>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route: route.clone(),
            method,
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .http_seconds
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = Arc::new(state.metrics.clone());
    let text = blocking(move || {
        let workspace = load(&state)?;
        let mut registry = Registry::with_prefix("carry");
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            metrics.http_seconds.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Runs this service made, by how they ended",
            metrics.run_seconds.clone(),
        );
        registry.register(
            "test_duration_seconds",
            "Tests of this service's runs (reused ones left out), by project",
            metrics.test_seconds.clone(),
        );

        let history =
            carry_orchestrator::history::History::open(&workspace).map_err(ApiError::internal)?;
        let runs: Family<StatusLabels, Counter> = Family::default();
        for run in history.runs(usize::MAX).map_err(ApiError::internal)? {
            let status = serde_json::to_value(run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned());
            runs.get_or_create(&StatusLabels { status }).inc();
        }
        registry.register("runs", "Runs in the workspace's history, by status", runs);

        let patches: Family<OutcomeLabels, Gauge> = Family::default();
        let conflicts = Gauge::<i64>::default();
        if let Some(report) = history.last_report().map_err(ApiError::internal)? {
            for patch in report.projects.iter().flat_map(|p| &p.patches) {
                patches
                    .get_or_create(&OutcomeLabels {
                        outcome: patch.outcome.name().to_owned(),
                    })
                    .inc();
            }
        }
        if let Ok(open) = carry_orchestrator::conflicts::open_conflicts(&workspace) {
            conflicts.set(i64::try_from(open.conflicts.len()).unwrap_or(i64::MAX));
        }
        registry.register("patches", "Patches of the last run, by outcome", patches);
        registry.register(
            "open_conflicts",
            "Open conflicts of the last run",
            conflicts,
        );
        let overdue = Gauge::<i64>::default();
        if let Ok(debt) =
            carry_orchestrator::debt::debt(&workspace, carry_orchestrator::debt::today())
        {
            let count = debt.patches.iter().filter(|p| p.overdue).count();
            overdue.set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        registry.register(
            "overdue_patches",
            "Carried patches past their deadline",
            overdue,
        );

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(ApiError::internal)?;
        Ok(text)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
