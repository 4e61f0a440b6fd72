//! Upstream push notifications: GitHub and GitLab push events and Gerrit `ref-updated`,
//! each verified by the shared secret (`CARRY_HOOK_SECRET`), start a run for the projects
//! whose upstream URL and ref they name. Bursts are coalesced: pushes arriving within a few
//! seconds of each other make one run.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use carry_orchestrator::webhooks::followers;
use carry_orchestrator::webhooks::parse_push;
use hmac::Mac as _;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;
use super::runs::StartRequest;
use super::schemas::ErrorBody;
use super::schemas::HookAnswer;

/// How long to wait for more pushes before starting the run.
const COALESCE: Duration = Duration::from_secs(3);

#[utoipa::path(post, path = "/api/v1/hooks/upstream", request_body(content = serde_json::Value, description = "a GitHub or GitLab push event, or a Gerrit ref-updated event", content_type = "application/json"), responses((status = 202, description = "a run will start for the matching projects", body = HookAnswer), (status = 200, description = "no project follows that upstream ref", body = HookAnswer), (status = 400, description = "not a push event this service understands", body = ErrorBody), (status = 401, description = "the signature or token does not match", body = ErrorBody), (status = 403, description = "webhooks are off (no CARRY_HOOK_SECRET)", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 421, description = "the Host names no address this service answers for", body = ErrorBody), (status = 503, description = "the request took longer than the service allows", body = ErrorBody), (status = 500, description = "carry failed; the log names the request id", body = ErrorBody)))]
pub(crate) async fn upstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Some(secret) = state.hook_secret.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "webhooks are off: start carry serve with CARRY_HOOK_SECRET set",
        ));
    };
    verify(&headers, &body, &secret)?;
    let push = parse_push(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let matched = blocking({
        let state = state.clone();
        move || {
            let workspace = load(&state)?;
            Ok(followers(&push, &workspace.manifest.workspace)
                .into_iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>())
        }
    })
    .await?;
    if matched.is_empty() {
        return Ok((
            StatusCode::OK,
            Json(json!({"projects": [], "message": "no project follows that upstream ref"})),
        ));
    }
    coalesce(&state, matched.iter().cloned().collect());
    Ok((StatusCode::ACCEPTED, Json(json!({"projects": matched}))))
}

fn verify(headers: &HeaderMap, body: &[u8], secret: &str) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(signature) = header("x-hub-signature-256") {
        let expected = signature.strip_prefix("sha256=").unwrap_or("");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .map_err(ApiError::internal)?;
        mac.update(body);
        let computed = super::hex(&mac.finalize().into_bytes());
        return if computed.as_bytes().ct_eq(expected.as_bytes()).into() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the X-Hub-Signature-256 does not match the shared secret",
            ))
        };
    }
    if let Some(token) = header("x-gitlab-token") {
        return if token.as_bytes().ct_eq(secret.as_bytes()).into() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the X-Gitlab-Token does not match the shared secret",
            ))
        };
    }
    // Gerrit's webhooks do not sign: the secret goes as a bearer token.
    let bearer = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bearer.is_empty() && bool::from(bearer.as_bytes().ct_eq(secret.as_bytes())) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a webhook needs X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab) or the secret as a bearer token (Gerrit)",
    ))
}

/// Adds projects to the pending set; the first push of a burst starts the timer.
fn coalesce(state: &AppState, projects: BTreeSet<String>) {
    let Ok(mut pending) = state.pushed.lock() else {
        return;
    };
    if let Some(set) = pending.as_mut() {
        set.extend(projects);
        return;
    }
    *pending = Some(projects);
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(COALESCE).await;
        // Wait for a run going on to end, then start one for everything pushed meanwhile.
        while state.runs.active().is_some() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let projects = state
            .pushed
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or_default();
        let request = StartRequest {
            projects: projects.into_iter().collect(),
            ..StartRequest::default()
        };
        if let Err(error) = super::runs::start_run(&state, request).await {
            tracing::warn!(?error, "a webhook run could not start");
        }
    });
}
