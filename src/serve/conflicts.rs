//! The conflict loop in the service: the open conflicts, the review of the last run, a
//! human's acknowledgement (with the token), and a dashboard page per patch (a conflict's
//! hunks and culprit; a rebased patch's range-diff and resolution).

use std::fmt::Write as _;

use axum::Json;
use axum::extract::Path;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Html;
use carry_orchestrator::report::Outcome;
use carry_orchestrator::review::ReviewError;
use carry_orchestrator::review::ReviewScope;
use serde_json::Value;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;
use super::schemas::ErrorBody;
use super::svg::escape;

#[utoipa::path(get, path = "/api/v1/conflicts", responses((status = 200, description = "every open conflict of the last run, with its key, authors, culprit and since when it is open", body = serde_json::Value), (status = 422, description = "the manifest does not validate", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let workspace = load(&state)?;
        let list = carry_orchestrator::conflicts::open_conflicts(&workspace)
            .map_err(ApiError::internal)?;
        serde_json::to_value(list)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/review", params(("project" = Option<String>, Query, description = "only this project", example = "libvirt"), ("patch" = Option<String>, Query, description = "only this patch of the project", example = "hostdev-vf")), responses((status = 200, description = "what each patch of the last run became: unchanged, moved or modified, with the interdiff and any resolution's review", body = serde_json::Value), (status = 400, description = "a bad project name, or a patch without a project", body = ErrorBody), (status = 404, description = "no run yet, or no such project or patch in it", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn review(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut query = super::api::query(raw.as_deref());
    let mut one = |key: &str| query.remove(key).and_then(|v| v.into_iter().next());
    let project = one("project");
    let patch = one("patch");
    if patch.is_some() && project.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`patch` needs `project`",
        ));
    }
    let project = project
        .map(|name| {
            name.parse()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("{name}: {e}")))
        })
        .transpose()?;
    blocking(move || {
        let workspace = load(&state)?;
        let review =
            carry_orchestrator::review::review(&workspace, &ReviewScope { project, patch })
                .map_err(review_error)?;
        serde_json::to_value(review)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/review/{project}/{patch}/ack", params(("project" = String, Path, description = "the project", example = "libvirt"), ("patch" = String, Path, description = "the patch applied from a recorded resolution", example = "hostdev-vf")), security(("bearer" = [])), responses((status = 200, description = "the acknowledgement recorded", body = serde_json::Value), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 404, description = "no run yet, or no such patch in it", body = ErrorBody), (status = 422, description = "the patch was not applied from a recorded resolution", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((project, patch)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    super::runs::authorize(&state, &headers)?;
    let id: carry_graph::PatchRef = format!("{project}/{patch}")
        .parse()
        .map_err(|e| ApiError::not_found(format!("{project}/{patch}: {e}")))?;
    blocking(move || {
        let workspace = load(&state)?;
        let review = carry_orchestrator::review::acknowledge(&workspace, &id, "carry serve")
            .map_err(review_error)?;
        serde_json::to_value(review)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

fn review_error(error: ReviewError) -> ApiError {
    match error {
        ReviewError::NoRun | ReviewError::Unknown(..) => ApiError::not_found(error.to_string()),
        ReviewError::NoResolution { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
        }
        other => ApiError::internal(other),
    }
}

/// `/patches/{project}/{patch}`: one patch of the last run, for a human.
pub(crate) async fn page(
    State(state): State<AppState>,
    Path((project, patch)): Path<(String, String)>,
) -> Result<Html<String>, ApiError> {
    let id = format!("{project}/{patch}");
    let project: carry_graph::ProjectName = project
        .parse()
        .map_err(|e| ApiError::not_found(format!("{id}: {e}")))?;
    blocking(move || {
        let workspace = load(&state)?;
        let history =
            carry_orchestrator::history::History::open(&workspace).map_err(ApiError::internal)?;
        let report = history
            .last_report()
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("no run yet"))?;
        let entry = report
            .projects
            .iter()
            .flat_map(|p| &p.patches)
            .find(|p| p.id.to_string() == id)
            .ok_or_else(|| ApiError::not_found(format!("no {id} in run {}", report.run)))?;
        let mut html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0} · carry</title><style>{1}</style></head><body><header><h1>{0}</h1><span class=\"meta\">{2} · run {3} · <a style=\"color:#cbd5e1\" href=\"/\">dashboard</a></span></header><main><section class=\"wide\">",
            escape(&id),
            super::dashboard::STYLE,
            escape(&entry.subject),
            escape(&report.run)
        );
        let _ = write!(
            html,
            "<h2>{}</h2>",
            escape(entry.outcome.name())
        );
        if let Outcome::Conflict {
            conflicts,
            upstream_commits,
            first_bad,
            ..
        } = &entry.outcome
        {
            let open = carry_orchestrator::conflicts::open_conflicts(&workspace)
                .map_err(ApiError::internal)?;
            if let Some(conflict) = open
                .conflicts
                .iter()
                .find(|c| format!("{}/{}", c.project, c.patch) == id)
            {
                let _ = write!(
                    html,
                    "<p>key <code>{}</code>, open since run {}</p>",
                    escape(&conflict.key),
                    escape(&conflict.since_run)
                );
                if let Some(culprit) = &conflict.culprit {
                    let _ = write!(
                        html,
                        "<p>culprit <code>{}</code> {} <span class=\"muted\">({})</span></p>",
                        escape(&culprit.commit[..culprit.commit.len().min(12)]),
                        escape(&culprit.summary),
                        escape(&culprit.author)
                    );
                }
            } else if let Some(first_bad) = first_bad {
                let _ = write!(html, "<p>first bad upstream commit <code>{}</code></p>", escape(first_bad));
            }
            let _ = write!(
                html,
                "<p class=\"muted\">{} upstream commit(s) touched these paths; <code>carry resolve {}</code> prepares a worktree</p>",
                upstream_commits.len(),
                escape(&id)
            );
            for conflict in conflicts {
                let _ = write!(html, "<h3><code>{}</code></h3>", escape(&conflict.path));
                for hunk in &conflict.hunks {
                    let _ = write!(
                        html,
                        "<table><thead><tr><th>upstream now</th><th>old base</th><th>the patch</th></tr></thead><tbody><tr><td><pre>{}</pre></td><td><pre>{}</pre></td><td><pre>{}</pre></td></tr></tbody></table>",
                        escape(&hunk.upstream.join("\n")),
                        escape(&hunk.base.join("\n")),
                        escape(&hunk.patch.join("\n"))
                    );
                }
            }
        } else {
            let scope = ReviewScope {
                project: Some(project),
                patch: Some(entry.id.name.to_string()),
            };
            let review = carry_orchestrator::review::review(&workspace, &scope)
                .map_err(review_error)?;
            for patch in &review.patches {
                if let Some(change) = patch.change {
                    let _ = write!(
                        html,
                        "<p>range-diff: <b>{}</b></p>",
                        escape(&format!("{change:?}").to_lowercase())
                    );
                }
                if let Some(resolution) = &patch.resolution {
                    let state = match patch.review {
                        Some(carry_orchestrator::report::ReviewState::Required) => {
                            "<span class=\"pill warn\">review required</span>"
                        }
                        _ => "<span class=\"pill good\">acknowledged</span>",
                    };
                    let _ = write!(
                        html,
                        "<p>applied with recorded resolution <code>{}</code> {state}</p>",
                        escape(resolution)
                    );
                }
                if let Some(interdiff) = &patch.interdiff {
                    let _ = write!(html, "<pre>{}</pre>", escape(interdiff));
                }
            }
        }
        for note in &entry.notes {
            let _ = write!(html, "<p class=\"muted\">note: {}</p>", escape(note));
        }
        html.push_str("</section></main></body></html>");
        Ok(Html(html))
    })
    .await
}
