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
use carry_graph::workspace::UpstreamSource;
use hmac::Mac as _;
use serde_json::Value;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::AppState;
use super::api::blocking;
use super::api::load;
use super::error::ApiError;
use super::runs::StartRequest;

/// How long to wait for more pushes before starting the run.
const COALESCE: Duration = Duration::from_secs(3);

/// Where a push came from and what it moved.
#[derive(Debug, PartialEq, Eq)]
struct Push {
    urls: Vec<String>,
    reference: String,
}

#[utoipa::path(post, path = "/api/v1/hooks/upstream", request_body(content = String, description = "a GitHub or GitLab push event, or a Gerrit ref-updated event", content_type = "application/json"), responses((status = 202, description = "a run will start for the matching projects"), (status = 200, description = "no project follows that upstream ref"), (status = 400, description = "not a push event this service understands"), (status = 401, description = "the signature or token does not match"), (status = 403, description = "webhooks are off (no CARRY_HOOK_SECRET)")))]
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
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let push = parse(&headers, &payload)?;
    let matched = blocking({
        let state = state.clone();
        move || {
            let workspace = load(&state)?;
            Ok(workspace
                .manifest
                .workspace
                .projects
                .values()
                .filter(|p| {
                    let url = match &p.upstream.source {
                        UpstreamSource::Url(url) => url.as_str(),
                        UpstreamSource::Path(path) => path.as_str(),
                    };
                    let reference = push
                        .reference
                        .trim_start_matches("refs/heads/")
                        .trim_start_matches("refs/tags/");
                    p.upstream.reference == reference
                        && push.urls.iter().any(|u| same_repository(u, url))
                })
                .map(|p| p.name.to_string())
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

fn parse(headers: &HeaderMap, payload: &Value) -> Result<Push, ApiError> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if payload["type"] == "ref-updated" {
        let update = &payload["refUpdate"];
        let project = text(&update["project"])
            .ok_or_else(|| ApiError::bad_request("ref-updated without refUpdate.project"))?;
        let reference = text(&update["refName"])
            .ok_or_else(|| ApiError::bad_request("ref-updated without refUpdate.refName"))?;
        return Ok(Push {
            urls: vec![project],
            reference,
        });
    }
    let reference =
        text(&payload["ref"]).ok_or_else(|| ApiError::bad_request("a push event has a \"ref\""))?;
    let mut urls = Vec::new();
    for pointer in [
        "/repository/clone_url",
        "/repository/ssh_url",
        "/repository/html_url",
        "/repository/git_http_url",
        "/repository/git_ssh_url",
        "/project/git_http_url",
        "/project/git_ssh_url",
        "/project/web_url",
    ] {
        if let Some(url) = payload.pointer(pointer).and_then(Value::as_str) {
            urls.push(url.to_owned());
        }
    }
    if urls.is_empty() {
        let event = headers
            .get("x-github-event")
            .or_else(|| headers.get("x-gitlab-event"));
        return Err(ApiError::bad_request(format!(
            "no repository URL in the payload (event {event:?})"
        )));
    }
    Ok(Push { urls, reference })
}

/// Whether two git URLs name the same repository: scheme, user, `.git` and case of the host
/// aside (`https://github.com/openvswitch/ovs.git` = `git@github.com:openvswitch/ovs`). A
/// Gerrit project name matches a URL ending in it.
fn same_repository(a: &str, b: &str) -> bool {
    fn key(url: &str) -> String {
        let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
        let rest = rest.replacen(':', "/", 1);
        match rest.split_once('/') {
            Some((host, path)) => format!("{}/{path}", host.to_lowercase()),
            None => rest.to_lowercase(),
        }
    }
    let (a, b) = (key(a), key(b));
    if a == b {
        return true;
    }
    // A Gerrit project name (`openstack/nova`) has no host: match it with a URL's path end.
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.split('/').next().unwrap_or("").contains('.') && long.ends_with(&format!("/{short}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_repository_match_whatever_their_form() {
        assert!(same_repository(
            "https://github.com/openvswitch/ovs.git",
            "git@github.com:openvswitch/ovs"
        ));
        assert!(same_repository(
            "ssh://git@GitLab.com/qemu-project/qemu",
            "https://gitlab.com/qemu-project/qemu.git/"
        ));
        assert!(same_repository(
            "openstack/nova",
            "https://opendev.org/openstack/nova"
        ));
        assert!(!same_repository(
            "https://github.com/openvswitch/ovs",
            "https://github.com/openvswitch/ovn"
        ));
    }

    #[test]
    fn pushes_from_each_provider_are_read() {
        let github = json!({"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/openvswitch/ovs.git"}});
        assert_eq!(
            parse(&HeaderMap::new(), &github).expect("github").reference,
            "refs/heads/main"
        );
        let gitlab = json!({"ref": "refs/heads/master", "project": {"git_http_url": "https://gitlab.com/qemu-project/qemu.git"}});
        assert_eq!(
            parse(&HeaderMap::new(), &gitlab).expect("gitlab").urls,
            ["https://gitlab.com/qemu-project/qemu.git"]
        );
        let gerrit = json!({"type": "ref-updated", "refUpdate": {"project": "openstack/nova", "refName": "refs/heads/master"}});
        assert_eq!(
            parse(&HeaderMap::new(), &gerrit).expect("gerrit").urls,
            ["openstack/nova"]
        );
        assert!(parse(&HeaderMap::new(), &json!({"zen": "hi"})).is_err());
    }
}
