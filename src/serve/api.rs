//! The read endpoints: health, workspace, graph, order, impact, debt.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::IntoResponse;
use carry_graph::ProjectName;
use carry_graph::WorkspaceGraph;
use carry_orchestrator::workspace::LoadedWorkspace;
use serde_json::Value;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::schemas::Debt;
use super::schemas::ErrorBody;
use super::schemas::Health;
use super::schemas::Order;
use super::schemas::WorkspaceView;

/// Runs blocking work (git, SQLite, files) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    // The request's span (its correlation id) follows the work onto the blocking thread.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(ApiError::internal)?
}

pub(crate) fn load(state: &AppState) -> Result<std::sync::Arc<LoadedWorkspace>, ApiError> {
    state.cache.workspace(&state.root, || load_fresh(state))
}

/// The workspace graph with every series read, reused for a moment between requests.
pub(crate) fn workspace_graph(
    state: &AppState,
    workspace: &LoadedWorkspace,
) -> Result<std::sync::Arc<WorkspaceGraph>, ApiError> {
    state.cache.graph(&state.root, || {
        carry_orchestrator::queries::workspace_graph(workspace).map_err(ApiError::internal)
    })
}

fn load_fresh(state: &AppState) -> Result<LoadedWorkspace, ApiError> {
    carry_orchestrator::workspace::load(&state.root).map_err(|error| match error {
        carry_orchestrator::workspace::LoadError::Manifest(manifest) => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("{manifest}: run `carry validate`"),
        ),
        other => ApiError::internal(other),
    })
}

/// Query parameters, repeated ones kept in order (`moved=a&moved=b` or `moved=a,b`).
pub(crate) fn query(raw: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        found.entry(percent_decode(key)).or_default().extend(
            value
                .split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
        );
    }
    found
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() + 1 => {
                match text
                    .get(i + 1..i + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn project_id(graph: &WorkspaceGraph, name: &str) -> Result<carry_graph::ProjectId, ApiError> {
    graph.project(name).ok_or_else(|| {
        let near =
            carry_graph::diagnostic::did_you_mean(name, graph.projects().map(ProjectName::as_str));
        ApiError::not_found(match near {
            Some(near) => format!("no project '{name}'; did you mean '{near}'?"),
            None => format!("no project '{name}'"),
        })
    })
}

#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, description = "the service is up", body = Health), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

#[utoipa::path(get, path = "/api/v1/workspace", responses((status = 200, description = "the workspace: projects, upstreams, series, features", body = WorkspaceView), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn workspace(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let workspace = load(&state)?;
        let graph = WorkspaceGraph::from_manifest(&workspace.manifest.workspace)
            .map_err(ApiError::internal)?;
        let mut value = serde_json::to_value(carry_orchestrator::graph_view::report(
            &workspace.manifest.workspace,
            &graph,
        ))
        .map_err(ApiError::internal)?;
        value["schema"] = json!("carry.workspace/v1");
        Ok(Json(value))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/graph", responses((status = 200, description = "the graph with every series read", body = WorkspaceView), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn graph(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let workspace = load(&state)?;
        let graph = workspace_graph(&state, &workspace)?;
        serde_json::to_value(carry_orchestrator::graph_view::report(
            &workspace.manifest.workspace,
            &graph,
        ))
        .map(Json)
        .map_err(ApiError::internal)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/graph.svg", responses((status = 200, description = "the graph as a picture, projects coloured by their last outcome", body = String, content_type = "image/svg+xml"), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn graph_svg(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let svg = blocking(move || {
        let workspace = load(&state)?;
        let graph = workspace_graph(&state, &workspace)?;
        let last = super::runs::last_report(&workspace);
        Ok(super::svg::render(
            &workspace.manifest.workspace,
            &graph,
            last.as_ref(),
        ))
    })
    .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/svg+xml"),
    );
    Ok((headers, svg))
}

#[utoipa::path(get, path = "/api/v1/order", params(("moved" = Option<String>, Query, description = "moved projects, repeated or comma-separated")), responses((status = 200, description = "the stages", body = Order), (status = 404, description = "a moved project does not exist", body = ErrorBody), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn order(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let moved = query(raw.as_deref()).remove("moved").unwrap_or_default();
    blocking(move || {
        let workspace = load(&state)?;
        let graph = workspace_graph(&state, &workspace)?;
        let stages = if moved.is_empty() {
            graph.stages().to_vec()
        } else {
            let ids = moved
                .iter()
                .map(|m| project_id(&graph, m))
                .collect::<Result<Vec<_>, _>>()?;
            graph.stages_for_moved(&ids)
        };
        Ok(Json(json!({ "stages": stages })))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/impact/{project}", params(("project" = String, Path, description = "the project that moves", example = "kernel"), ("to" = Option<String>, Query, description = "a ref or commit: answer with a trial rebase (needs the token)"), ("furthest" = Option<bool>, Query, description = "true: the newest upstream point the series survives (carry.furthest/v1; needs the token)"), ("tags" = Option<String>, Query, description = "with furthest: search the tags matching this glob")), security((), ("bearer" = [])), responses((status = 200, description = "what breaks", body = serde_json::Value), (status = 401, description = "`to` needs the bearer token", body = ErrorBody), (status = 404, description = "no such project or ref", body = ErrorBody), (status = 422, description = "the manifest does not validate, or the project cannot be tried", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn impact(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut query = query(raw.as_deref());
    let to = query.remove("to").and_then(|v| v.into_iter().next());
    let furthest = query
        .remove("furthest")
        .and_then(|v| v.into_iter().next())
        .is_some_and(|v| v == "true");
    let tags = query.remove("tags").and_then(|v| v.into_iter().next());
    // A trial rebase is git work, as a run is: it needs the token.
    if to.is_some() || furthest {
        super::runs::authorize(&state, &headers)?;
    }
    blocking(move || {
        let workspace = load(&state)?;
        let graph = workspace_graph(&state, &workspace)?;
        let id = project_id(&graph, &project)?;
        if furthest {
            use carry_orchestrator::furthest::FurthestError;
            let name = graph.project_name_of(id).clone();
            return match carry_orchestrator::furthest::furthest(&workspace, &name, tags.as_deref())
            {
                Ok(answer) => serde_json::to_value(answer)
                    .map(Json)
                    .map_err(ApiError::internal),
                Err(error @ (FurthestError::NotMoved(_) | FurthestError::NoTags { .. })) => {
                    Err(ApiError::new(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        error.to_string(),
                    ))
                }
                Err(other) => Err(ApiError::internal(other)),
            };
        }
        match to {
            None => serde_json::to_value(graph.impact(id))
                .map(Json)
                .map_err(ApiError::internal),
            Some(to) => {
                use carry_orchestrator::trial::TrialError;
                let name = graph.project_name_of(id).clone();
                match carry_orchestrator::trial::trial(&workspace, &name, &to) {
                    Ok(trial) => serde_json::to_value(trial)
                        .map(Json)
                        .map_err(ApiError::internal),
                    Err(unknown @ TrialError::UnknownRef { .. }) => {
                        Err(ApiError::not_found(unknown.to_string()))
                    }
                    Err(TrialError::Project { reason, .. }) => Err(ApiError::new(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        reason,
                    )),
                    Err(other) => Err(ApiError::internal(other)),
                }
            }
        }
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/debt", responses((status = 200, description = "every carried patch with its age, upstream state and deadline, overdue first", body = Debt), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn debt(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let workspace = load(&state)?;
        let report = carry_orchestrator::debt::debt(&workspace, carry_orchestrator::debt::today())
            .map_err(ApiError::internal)?;
        serde_json::to_value(report)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/impact", params(("to" = Vec<String>, Query, description = "each move as PROJECT=REF; several are tried together in graph order", example = "qemu=main")), security(("bearer" = [])), responses((status = 200, description = "each move's trial, and what they block together", body = serde_json::Value), (status = 400, description = "a move that is not PROJECT=REF, or a project moved twice", body = ErrorBody), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 404, description = "no such project or ref", body = ErrorBody), (status = 422, description = "the manifest does not validate, or a project cannot be tried", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn impact_many(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    super::runs::authorize(&state, &headers)?;
    let moves = query(raw.as_deref()).remove("to").unwrap_or_default();
    if moves.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "give each move as to=PROJECT=REF",
        ));
    }
    blocking(move || {
        use carry_orchestrator::trial::ManyError;
        use carry_orchestrator::trial::TrialError;
        let workspace = load(&state)?;
        let graph = workspace_graph(&state, &workspace)?;
        let mut parsed = Vec::new();
        for to in &moves {
            let Some((project, reference)) = to.split_once('=') else {
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("'{to}' is not PROJECT=REF"),
                ));
            };
            let id = project_id(&graph, project)?;
            parsed.push((graph.project_name_of(id).clone(), reference.to_owned()));
        }
        match carry_orchestrator::trial::trial_many(&workspace, &parsed) {
            Ok(trials) => serde_json::to_value(trials)
                .map(Json)
                .map_err(ApiError::internal),
            Err(twice @ ManyError::Twice(_)) => Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                twice.to_string(),
            )),
            Err(ManyError::Trial(unknown @ TrialError::UnknownRef { .. })) => {
                Err(ApiError::not_found(unknown.to_string()))
            }
            Err(ManyError::Trial(TrialError::Project { reason, .. })) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                reason,
            )),
            Err(other) => Err(ApiError::internal(other)),
        }
    })
    .await
}
