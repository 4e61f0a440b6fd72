//! Every error the API returns: JSON that says what is wrong; 5xx say nothing internal.

use axum::Json;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::response::Response;

/// An error on its way to an HTTP client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "this needs the service's bearer token (Authorization: Bearer …; see .carry/token)",
        )
    }

    /// An internal failure: logged here (with the request's id, from its span), never
    /// shown; the answer carries the id to look for in the log.
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        let error = carry_graph::redact::urls_in_text(&error.to_string()).into_owned();
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the service's log has the details under this request_id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {}", uri.path()))
}

/// An error answer that is not JSON (one axum or a layer made: a wrong method, a body over
/// the limit) made JSON, as every other error is: `{"error": "..."}` with the status's reason.
pub(crate) async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut answer = (status, axum::Json(serde_json::json!({ "error": reason }))).into_response();
    // Keep what tells the client how to go on (`Allow` on a 405).
    for name in [
        axum::http::header::ALLOW,
        axum::http::header::WWW_AUTHENTICATE,
    ] {
        if let Some(value) = response.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}
