//! Runs through the service: start one, list them, show one, follow one's progress as
//! server-sent events. The run is the CLI's run, in this process.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;

use axum::Json;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use axum::response::sse::KeepAlive;
use axum::response::sse::Sse;
use carry_orchestrator::history::History;
use carry_orchestrator::history::HistoryError;
use carry_orchestrator::history::probe_lock;
use carry_orchestrator::lock::LockError;
use carry_orchestrator::options::Cancel;
use carry_orchestrator::report::RunReport;
use carry_orchestrator::run::Progress;
use carry_orchestrator::run::RunEvent;
use carry_orchestrator::run::RunOptions;
use carry_orchestrator::workspace::LoadedWorkspace;
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tokio::sync::broadcast;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;
use super::schemas::ErrorBody;
use super::schemas::RunEventMessage;
use super::schemas::RunRequest;
use super::schemas::RunStarted;
use super::schemas::RunView;
use super::schemas::Runs;

/// How many events of a finished run are kept for late followers.
const KEPT_EVENTS: usize = 10_000;

/// The run going on (if any) and the events of recent ones.
#[derive(Clone, Default)]
pub(crate) struct RunRegistry {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    active: Option<Active>,
    /// Recently finished runs: id and every event, the last one being `finished`.
    finished: VecDeque<(String, Vec<Value>)>,
}

struct Active {
    id: String,
    events: Vec<Value>,
    sender: broadcast::Sender<Value>,
    cancel: Cancel,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl RunRegistry {
    fn push(&self, id: &str, event: Value) {
        let Ok(mut registry) = self.inner.lock() else {
            return;
        };
        if let Some(active) = registry.active.as_mut().filter(|a| a.id == id) {
            if active.events.len() < KEPT_EVENTS {
                active.events.push(event.clone());
            }
            let _ = active.sender.send(event);
        }
    }

    fn finish(&self, id: &str, event: Value) {
        self.push(id, event);
        let Ok(mut registry) = self.inner.lock() else {
            return;
        };
        if registry.active.as_ref().is_some_and(|a| a.id == id)
            && let Some(active) = registry.active.take()
        {
            registry.finished.push_back((active.id, active.events));
            while registry.finished.len() > 20 {
                registry.finished.pop_front();
            }
        }
    }

    /// A run's events so far, and a live feed when it is still going.
    fn lookup(&self, id: &str) -> Option<(Vec<Value>, Option<broadcast::Receiver<Value>>)> {
        let registry = self.inner.lock().ok()?;
        if let Some(active) = registry.active.as_ref().filter(|a| a.id == id) {
            return Some((active.events.clone(), Some(active.sender.subscribe())));
        }
        registry
            .finished
            .iter()
            .find(|(run, _)| run == id)
            .map(|(_, events)| (events.clone(), None))
    }

    /// The id of the run going on.
    pub(crate) fn active(&self) -> Option<String> {
        self.inner
            .lock()
            .ok()
            .and_then(|r| r.active.as_ref().map(|a| a.id.clone()))
    }

    /// Asks the run going on to stop: its tests are stopped at once, its rebases after the
    /// stage they are on.
    pub(crate) fn cancel(&self) {
        if let Ok(registry) = self.inner.lock()
            && let Some(active) = &registry.active
        {
            active.cancel.cancel();
        }
    }

    /// Asks the run going on to stop (see [`Self::cancel`]), and waits for it.
    pub(crate) async fn stop(&self) {
        let handle = {
            let Ok(mut registry) = self.inner.lock() else {
                return;
            };
            registry.active.as_mut().and_then(|active| {
                active.cancel.cancel();
                active.done.take()
            })
        };
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}

/// Progress events of a run, as JSON on the registry's channel.
struct ServiceProgress {
    registry: RunRegistry,
    id: String,
}

impl Progress for ServiceProgress {
    fn event(&self, event: RunEvent) {
        // The event's own JSON form: `{"type": "fetching", "project": ...}` and so on.
        let Ok(value) = serde_json::to_value(&event) else {
            return;
        };
        self.registry.push(&self.id, value);
    }
}

/// Checks the bearer token, in constant time.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.as_bytes().ct_eq(state.token.as_bytes()).into() {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// What a client may ask of a run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRequest {
    #[serde(default)]
    pub(crate) projects: Vec<String>,
    #[serde(default)]
    pub(crate) all: bool,
    #[serde(default)]
    pub(crate) no_test: bool,
    #[serde(default)]
    pub(crate) jobs: Option<u16>,
}

#[utoipa::path(post, path = "/api/v1/runs", request_body(content = RunRequest, description = "what to run; an empty body runs everything that moved", content_type = "application/json"), security(("bearer" = [])), responses((status = 202, description = "started; the body names the run and its events", body = RunStarted), (status = 400, description = "the body is not a run request", body = ErrorBody), (status = 401, description = "no or wrong bearer token", body = ErrorBody), (status = 404, description = "a project named does not exist", body = ErrorBody), (status = 409, description = "a run is going on (here or from the CLI)", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&state, &headers)?;
    let request: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body is not a run request: {e}")))?
    };
    if let Some(jobs) = request.jobs
        && !(1..=MAX_JOBS).contains(&jobs)
    {
        return Err(ApiError::bad_request(format!(
            "jobs must be between 1 and {MAX_JOBS}, not {jobs}"
        )));
    }
    let id = start_run(&state, request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"id": id, "events": format!("/api/v1/runs/{id}/events"), "report": format!("/api/v1/runs/{id}")}),
        ),
    ))
}

/// The most tests of one stage a run may start side by side (as `carry run --jobs`).
const MAX_JOBS: u16 = 256;

/// Starts a run in this process; the caller has checked authority.
pub(crate) async fn start_run(state: &AppState, request: StartRequest) -> Result<String, ApiError> {
    let workspace = blocking({
        let state = state.clone();
        move || load(&state)
    })
    .await?;
    let mut projects = Vec::new();
    for name in &request.projects {
        match workspace
            .manifest
            .workspace
            .projects
            .keys()
            .find(|p| p.as_str() == name)
        {
            Some(project) => projects.push(project.clone()),
            None => return Err(ApiError::not_found(format!("no project '{name}'"))),
        }
    }
    let id = carry_orchestrator::run::new_run_id();
    // A CLI run holds the workspace lock: refuse now rather than fail later.
    {
        let registry = state.runs.inner.lock().map_err(ApiError::internal)?;
        if let Some(active) = &registry.active {
            return Err(ApiError::conflict(format!("run {} is going on", active.id)));
        }
        match probe_lock(&workspace, &id) {
            Ok(()) => {}
            Err(HistoryError::Lock(
                held @ (LockError::Held { .. } | LockError::HeldUnknown { .. }),
            )) => {
                return Err(ApiError::conflict(held.to_string()));
            }
            Err(other) => return Err(ApiError::internal(other)),
        }
    }
    let cancel = Cancel::new();
    let options = RunOptions {
        projects,
        all: request.all,
        no_test: request.no_test,
        jobs: usize::from(request.jobs.unwrap_or(2)).max(1),
        run_id: Some(id.clone()),
        cancel: cancel.clone(),
        ..RunOptions::default()
    };
    let (sender, _) = broadcast::channel(1024);
    {
        let mut registry = state.runs.inner.lock().map_err(ApiError::internal)?;
        if let Some(active) = &registry.active {
            return Err(ApiError::conflict(format!("run {} is going on", active.id)));
        }
        registry.active = Some(Active {
            id: id.clone(),
            events: vec![json!({"type": "started", "run": id})],
            sender,
            cancel,
            done: None,
        });
    }
    let registry = state.runs.clone();
    let cache = state.cache.clone();
    let metrics = state.metrics.clone();
    let run_id = id.clone();
    let handle = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let progress = ServiceProgress {
            registry: registry.clone(),
            id: run_id.clone(),
        };
        // A run that panics still ends with `finished`: clients following its events are
        // never left waiting, and the panic is logged.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            carry_orchestrator::run::run(&workspace, &options, &progress)
        }));
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(run = %run_id, panic = %why, "a service run panicked");
                registry.finish(
                    &run_id,
                    json!({"type": "finished", "run": run_id, "status": "failed", "error": "carry failed unexpectedly; the service log says why"}),
                );
                metrics.run_ended("failed", started.elapsed(), None);
                cache.forget_graph();
                return;
            }
        };
        let status = match &outcome {
            Ok(report) => serde_json::to_value(report.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            Err(carry_orchestrator::run::RunError::Cancelled) => "interrupted".to_owned(),
            Err(_) => "failed".to_owned(),
        };
        metrics.run_ended(&status, started.elapsed(), outcome.as_ref().ok());
        let last = match outcome {
            Ok(report) => json!({"type": "finished", "run": run_id, "status": report.status}),
            Err(carry_orchestrator::run::RunError::Cancelled) => {
                json!({"type": "finished", "run": run_id, "status": "interrupted"})
            }
            Err(error) => {
                tracing::error!(%error, "a service run failed");
                json!({"type": "finished", "run": run_id, "status": "failed", "error": carry_graph::redact::urls_in_text(&error.to_string())})
            }
        };
        registry.finish(&run_id, last);
        cache.forget_graph();
    });
    if let Ok(mut registry) = state.runs.inner.lock()
        && let Some(active) = registry.active.as_mut().filter(|a| a.id == id)
    {
        active.done = Some(tokio::spawn(async move {
            let _ = handle.await;
        }));
    }
    Ok(id)
}

#[utoipa::path(get, path = "/api/v1/runs", responses((status = 200, description = "recent runs, newest first, and the one going on", body = Runs), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let active = state.runs.active();
    blocking(move || {
        let workspace = load(&state)?;
        let runs = History::open(&workspace)
            .and_then(|history| history.runs(50))
            .map_err(ApiError::internal)?;
        Ok(Json(json!({"active": active, "runs": runs})))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", params(("id" = String, Path, description = "a run id")), responses((status = 200, description = "the run's report (schema carry.run/v1), or its state while it runs", body = RunView), (status = 404, description = "no such run", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    if state.runs.active().as_deref() == Some(id.as_str()) {
        return Ok(Json(
            json!({"run": id, "status": "running", "events": format!("/api/v1/runs/{id}/events")}),
        )
        .into_response());
    }
    let json_text = |text: Arc<String>| {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text.as_str().to_owned(),
        )
            .into_response()
    };
    if let Some(text) = state.cache.report(&id) {
        return Ok(json_text(text));
    }
    let found = blocking({
        let state = state.clone();
        let id = id.clone();
        move || {
            let workspace = load(&state)?;
            let history = History::open(&workspace).map_err(ApiError::internal)?;
            if let Some(text) = history.report_json(&id).map_err(ApiError::internal)? {
                return Ok(Ok(text));
            }
            match history.run(&id).map_err(ApiError::internal)? {
                Some(record) => Ok(Err(json!({"run": id, "status": record.status}))),
                None => Err(ApiError::not_found(format!("no run '{id}'"))),
            }
        }
    })
    .await?;
    match found {
        Ok(text) => {
            let text = Arc::new(text);
            state.cache.keep_report(&id, text.clone());
            Ok(json_text(text))
        }
        Err(status) => Ok(Json(status).into_response()),
    }
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/events", params(("id" = String, Path, description = "a run id")), responses((status = 200, description = "server-sent events: the run's progress, ending with `finished`", body = RunEventMessage, content_type = "text/event-stream"), (status = 404, description = "no such run", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let known = state.runs.lookup(&id);
    let (history, receiver) = match known {
        Some(found) => found,
        None => {
            // A run from before this service started (or the CLI's): its final status only.
            let status = blocking({
                let state = state.clone();
                let id = id.clone();
                move || {
                    let workspace = load(&state)?;
                    let history = History::open(&workspace).map_err(ApiError::internal)?;
                    Ok(history
                        .run(&id)
                        .map_err(ApiError::internal)?
                        .map(|r| r.status))
                }
            })
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no run '{id}'")))?;
            (
                vec![json!({"type": "finished", "run": id, "status": status})],
                None,
            )
        }
    };
    let ended = history.last().is_some_and(|e| e["type"] == "finished");
    let past = futures_util::stream::iter(history);
    let live = match receiver.filter(|_| !ended) {
        Some(receiver) => tokio_stream::wrappers::BroadcastStream::new(receiver)
            .filter_map(|item| async move { item.ok() })
            .boxed(),
        None => futures_util::stream::empty().boxed(),
    };
    // Stop after the `finished` event.
    let stream = past
        .chain(live)
        .scan(false, |done, event| {
            let out = if *done { None } else { Some(event.clone()) };
            *done = *done || event["type"] == "finished";
            futures_util::future::ready(out)
        })
        .map(|event| {
            let kind = event["type"].as_str().unwrap_or("progress").to_owned();
            Ok::<_, std::convert::Infallible>(Event::default().event(kind).data(event.to_string()))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The newest stored report, for the dashboard and the picture.
pub(crate) fn last_report(workspace: &LoadedWorkspace) -> Option<RunReport> {
    History::open(workspace).ok()?.last_report().ok()?
}
