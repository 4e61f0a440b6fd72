//! A correlation id for every request: in the `x-request-id` header of every answer, in the
//! body of every error answer, and on every log line the request causes, so a user who
//! reports "internal error, request 5f…" points at the log line with the details.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries it.
pub(crate) const HEADER: &str = "x-request-id";

/// The largest error body the id is added to; error bodies are small.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A new id: this process's random prefix and a count.
fn next_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        use std::io::Read as _;
        let mut random = [0u8; 4];
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut random));
        super::hex(&random)
    });
    format!("{prefix}-{}", COUNT.fetch_add(1, Ordering::Relaxed) + 1)
}

/// Gives the request its id and the answer its header; adds `request_id` to JSON errors.
pub(crate) async fn assign(request: Request, next: Next) -> Response {
    let id = next_id();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let response = tracing::Instrument::instrument(next.run(request), span).await;
    let mut response = if response.status().is_client_error() || response.status().is_server_error()
    {
        with_id_in_body(response, &id).await
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

async fn with_id_in_body(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let is_json = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await else {
        return Response::from_parts(parts, Body::from(r#"{"error":"internal error"}"#));
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert("request_id".to_owned(), serde_json::Value::from(id));
            let text = serde_json::Value::Object(object).to_string();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Body::from(text)
        }
        _ => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}
