//! The Host check: a page in the user's browser must not reach the loopback API through a
//! name it controls (DNS rebinding). Requests naming `localhost`, an IP address (no name to
//! rebind), or a name listed in `CARRY_ALLOWED_HOSTS` pass; others get a JSON 421. A request
//! without a Host (HTTP/1.0, in-process tests) passes: a browser always sends one.

use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

pub(crate) async fn allowed_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(host) = request.headers().get(HOST) {
        let name = host.to_str().map(host_name).unwrap_or_default();
        if !allowed(&name, &state.allowed_hosts) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!("host '{name}' is not served here; list it in CARRY_ALLOWED_HOSTS"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The host of a `Host` header, without its port or brackets.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn allowed(name: &str, listed: &[String]) -> bool {
    name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok()
        || listed
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
}

/// The names `CARRY_ALLOWED_HOSTS` lists (comma-separated).
pub(crate) fn from_env() -> Vec<String> {
    std::env::var("CARRY_ALLOWED_HOSTS")
        .unwrap_or_default()
        .split(',')
        .map(|name| name.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_read_as_browsers_send_them() {
        assert_eq!(host_name("127.0.0.1:7878"), "127.0.0.1");
        assert_eq!(host_name("[::1]:7878"), "::1");
        assert_eq!(host_name("LocalHost."), "localhost");
        let listed = vec!["carry.example.org".to_owned()];
        for ok in [
            "localhost",
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "carry.example.org",
        ] {
            assert!(allowed(ok, &listed), "{ok}");
        }
        for refused in ["evil.example", "localhost.evil.example", ""] {
            assert!(!allowed(refused, &listed), "{refused}");
        }
    }
}
