//! The router without a socket: every endpoint, every error, and random input that must never
//! produce a 5xx.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::http::StatusCode;
use hmac::Mac as _;
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use tower::ServiceExt as _;

use super::AppState;
use super::RunRegistry;
use super::router;

const TOKEN: &str = "test-token";
const HOOK_SECRET: &str = "hook-secret";

fn demo() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("demo");
    crate::demo::build(&root).expect("demo builds");
    let state = AppState {
        root,
        token: Arc::new(TOKEN.to_owned()),
        hook_secret: Some(Arc::new(HOOK_SECRET.to_owned())),
        runs: RunRegistry::default(),
        cache: Arc::default(),
        pushed: Arc::default(),
        allowed_hosts: Arc::new(vec!["carry.example.org".to_owned()]),
        metrics: super::metrics::Metrics::default(),
        furthest: Arc::default(),
    };
    (dir, state)
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, String, String) {
    let (status, headers, body) = call_with_headers(state, request).await;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, body)
}

/// The answer's status, headers and body.
async fn call_with_headers(
    state: &AppState,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn post(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(uri).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).expect("request")
}

fn authorized_get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn read_endpoints_answer() {
    let (_dir, state) = demo();
    let (status, _, body) = call(&state, get("/api/v1/health")).await;
    assert_eq!(
        (status, json(&body)["status"].clone()),
        (StatusCode::OK, "ok".into())
    );

    let (status, _, body) = call(&state, get("/api/v1/workspace")).await;
    assert_eq!(status, StatusCode::OK);
    let workspace = json(&body);
    assert_eq!(workspace["schema"], "carry.workspace/v1");
    assert_eq!(workspace["projects"].as_array().map(Vec::len), Some(5));

    let (status, _, body) = call(&state, get("/api/v1/graph")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["stages"][0], serde_json::json!(["kernel"]));

    let (status, content_type, body) = call(&state, get("/api/v1/graph.svg")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "image/svg+xml")
    );
    assert!(body.starts_with("<svg") && body.contains("data-project=\"libvirt\""));

    let (status, _, body) = call(&state, get("/api/v1/order?moved=qemu")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        serde_json::json!({"stages": [["qemu"], ["libvirt"], ["nova"]]})
    );
    let (status, _, body) = call(&state, get("/api/v1/order?moved=qemu,libvrt")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json(&body)["error"],
        "no project 'libvrt'; did you mean 'libvirt'?"
    );

    let (status, _, body) = call(&state, get("/api/v1/impact/qemu")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body)["retest"],
        serde_json::json!(["qemu", "libvirt", "nova"])
    );
    // A trial rebase is git work: without the token it is refused.
    let (status, _, _) = call(&state, get("/api/v1/impact/libvirt?to=main")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(&state, authorized_get("/api/v1/impact/libvirt?to=main")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["schema"], "carry.impact/v1");
    let (status, _, _) = call(&state, authorized_get("/api/v1/impact/qemu?to=v99")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&state, get("/api/v1/impact/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = call(&state, get("/api/v1/debt")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["schema"], "carry.debt/v1");

    let (status, _, body) = call(&state, get("/api/v1/runs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["runs"], serde_json::json!([]));
    let (status, _, _) = call(&state, get("/api/v1/runs/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&state, get("/api/v1/runs/nope/events")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = call(&state, get("/api/v1/no/such/thing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json(&body)["error"],
        "no such endpoint: /api/v1/no/such/thing"
    );

    let (status, content_type, body) = call(&state, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
    assert!(body.contains("<svg") && body.contains("class=\"project-row\" data-project=\"nova\""));

    let (status, _, body) = call(&state, get("/api/v1/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let document = json(&body);
    for path in [
        "/api/v1/health",
        "/api/v1/workspace",
        "/api/v1/graph",
        "/api/v1/order",
        "/api/v1/impact/{project}",
        "/api/v1/debt",
        "/api/v1/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/events",
        "/api/v1/hooks/upstream",
        "/api/v1/conflicts",
        "/api/v1/review",
        "/api/v1/review/{project}/{patch}/ack",
        "/api/v1/impact",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is in the OpenAPI document"
        );
    }
}

/// A name the service does not know is refused (DNS rebinding); loopback, addresses and the
/// listed names are served.
#[tokio::test(flavor = "multi_thread")]
async fn only_known_host_names_are_served() {
    let (_dir, state) = demo();
    let with_host = |host: &str| {
        Request::get("/api/v1/health")
            .header("host", host)
            .body(Body::empty())
            .expect("request")
    };
    for served in [
        "127.0.0.1:7878",
        "localhost:7878",
        "[::1]:7878",
        "carry.example.org",
    ] {
        let (status, _, body) = call(&state, with_host(served)).await;
        assert_eq!(status, StatusCode::OK, "{served}: {body}");
    }
    let (status, content_type, body) = call(&state, with_host("rebind.evil.example:7878")).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        json(&body)["error"],
        "host 'rebind.evil.example' is not served here; list it in CARRY_ALLOWED_HOSTS"
    );
}

/// Errors axum answers itself are JSON like every other error.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_and_a_body_too_large_are_json_errors() {
    let (_dir, state) = demo();
    let (status, content_type, body) = call(
        &state,
        Request::delete("/api/v1/health")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(json(&body)["error"], "method not allowed");
    let (status, content_type, body) = call(
        &state,
        post("/api/v1/runs", Some(TOKEN), &"x".repeat(300 * 1024)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(json(&body)["error"], "payload too large");
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_a_run_needs_the_token_and_one_at_a_time() {
    let (_dir, state) = demo();
    let (status, _, body) = call(&state, post("/api/v1/runs", None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap_or("")
            .contains("bearer token")
    );
    let (status, _, _) = call(&state, post("/api/v1/runs", Some("wrong"), "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(
        &state,
        post("/api/v1/runs", Some(TOKEN), r#"{"bogus": true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("the body is not a run request")
    );
    for jobs in ["0", "257", "65535"] {
        let (status, _, body) = call(
            &state,
            post(
                "/api/v1/runs",
                Some(TOKEN),
                &format!(r#"{{"jobs": {jobs}}}"#),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            json(&body)["error"],
            format!("jobs must be between 1 and 256, not {jobs}")
        );
    }
    let (status, _, body) = call(
        &state,
        post("/api/v1/runs", Some(TOKEN), r#"{"projects": ["nope"]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, _, body) = call(
        &state,
        post("/api/v1/runs", Some(TOKEN), r#"{"no_test": false}"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = json(&body)["id"].as_str().expect("id").to_owned();
    let (status, _, _) = call(&state, post("/api/v1/runs", Some(TOKEN), "")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a second run while one runs");

    // Follow the events to the end.
    let (status, content_type, events) =
        call(&state, get(&format!("/api/v1/runs/{id}/events"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/event-stream");
    assert!(events.contains("event: started"), "{events}");
    assert!(events.contains("event: test-finished"), "{events}");
    assert!(
        events.trim_end().ends_with(&format!(
            "data: {{\"run\":\"{id}\",\"status\":\"attention\",\"type\":\"finished\"}}"
        )),
        "{events}"
    );
    let (status, _, body) = call(&state, get(&format!("/api/v1/runs/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let report = json(&body);
    assert_eq!(report["schema"], "carry.run/v1");
    assert_eq!(report["features"][0]["status"], "blocked");
}

fn github_signature(body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    format!("sha256={}", super::hex(&mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_verified_and_matched_to_projects() {
    let (_dir, mut state) = demo();
    let push = r#"{"ref": "refs/heads/main", "repository": {"clone_url": "upstream/qemu"}}"#;
    let hook = |signature: &str, body: &str| {
        Request::post("/api/v1/hooks/upstream")
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .body(Body::from(body.to_owned()))
            .expect("request")
    };
    let (status, _, _) = call(&state, hook("sha256=00", push)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(&state, hook(&github_signature(push), push)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(json(&body)["projects"], serde_json::json!(["qemu"]));
    let other = r#"{"ref": "refs/heads/stable", "repository": {"clone_url": "upstream/qemu"}}"#;
    let (status, _, body) = call(&state, hook(&github_signature(other), other)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gitlab = Request::post("/api/v1/hooks/upstream")
        .header("x-gitlab-token", "wrong")
        .body(Body::from(push.to_owned()))
        .expect("request");
    assert_eq!(call(&state, gitlab).await.0, StatusCode::UNAUTHORIZED);
    let gerrit = r#"{"type": "ref-updated", "refUpdate": {"project": "upstream/nova", "refName": "refs/heads/main"}}"#;
    let (status, _, body) = call(
        &state,
        post("/api/v1/hooks/upstream", Some(HOOK_SECRET), gerrit),
    )
    .await;
    assert_eq!(
        (status, json(&body)["projects"].clone()),
        (StatusCode::ACCEPTED, serde_json::json!(["nova"]))
    );
    state.hook_secret = None;
    assert_eq!(
        call(&state, hook(&github_signature(push), push)).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused() {
    let (_dir, state) = demo();
    let huge = format!(r#"{{"projects": ["{}"]}}"#, "x".repeat(400 * 1024));
    let (status, _, _) = call(&state, post("/api/v1/runs", Some(TOKEN), &huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Malformed and random input to every endpoint that takes input: 4xx, never 5xx.
    #[test]
    fn random_input_never_makes_a_server_error(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            Just(r#"{"projects": 5}"#.to_owned()),
            Just(r#"{"projects": ["kernel"], "jobs": 70000}"#.to_owned()),
            Just(r#"{"ref": 5, "repository": []}"#.to_owned()),
            Just(r#"{"type": "ref-updated", "refUpdate": null}"#.to_owned()),
            "\\PC{0,200}",
        ],
        path in "[a-zA-Z0-9%/._~-]{0,40}",
        query in "[a-zA-Z0-9%=&,._-]{0,60}",
    ) {
        static STATE: std::sync::OnceLock<(tempfile::TempDir, AppState)> = std::sync::OnceLock::new();
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let (_, state) = STATE.get_or_init(demo);
        let runtime = RUNTIME.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime"));
        runtime.block_on(async {
            let requests = vec![
                post("/api/v1/runs", Some("wrong"), &body),
                Request::post("/api/v1/hooks/upstream").header("x-hub-signature-256", "sha256=00").body(Body::from(body.clone())).expect("request"),
                post("/api/v1/hooks/upstream", Some(HOOK_SECRET), &body),
                get(&format!("/api/v1/order?{query}")),
                get(&format!("/api/v1/impact/{}?{query}", path.replace('/', "_"))),
                get(&format!("/api/v1/runs/{}", path.replace('/', "_"))),
                get(&format!("/api/v1/{path}")),
            ];
            for request in requests {
                let uri = request.uri().to_string();
                let (status, _, body) = call(state, request).await;
                assert!(!status.is_server_error(), "{uri} gave {status}: {body}");
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_run_holding_the_workspace_makes_a_start_conflict() {
    let (_dir, state) = demo();
    let holder = carry_adapters::lock::LockHolder {
        run: "cli-run".to_owned(),
        pid: 4242,
        started_at: "2026-11-23T02:00:00Z".to_owned(),
    };
    let lock = carry_adapters::lock::WorkspaceLock::acquire(&state.root.join(".carry"), &holder)
        .expect("lock");
    let (status, _, body) = call(&state, post("/api/v1/runs", Some(TOKEN), "")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        json(&body)["error"],
        "the workspace is locked by run cli-run (pid 4242, started 2026-11-23T02:00:00Z)"
    );
    lock.release();
}

/// Every answer carries a correlation id; an error's body names it too, so a user quoting
/// the error points at the service's log line.
#[tokio::test(flavor = "multi_thread")]
async fn every_answer_has_a_request_id_and_errors_name_it() {
    let (_dir, state) = demo();
    let request_id = |headers: &axum::http::HeaderMap| {
        headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("an x-request-id header")
            .to_owned()
    };
    let (status, headers, body) = call_with_headers(&state, get("/api/v1/no-such-thing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let header = request_id(&headers);
    let body = json(&body);
    assert_eq!(body["request_id"], header.as_str(), "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no such endpoint"))
    );
    // Two requests, two ids.
    let (status, headers, _) = call_with_headers(&state, get("/api/v1/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(request_id(&headers), header);
}

/// The OpenAPI document describes every body: each response of each operation has a
/// schema, the operations that start work name the bearer scheme, and what the service
/// answers validates against what the document says.
#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_every_body_and_the_answers_match_it() {
    let (_dir, state) = demo();
    let (_, _, body) = call(&state, get("/api/v1/openapi.json")).await;
    let document = json(&body);
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operation") {
            operations += 1;
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let content = response["content"].as_object();
                assert!(
                    content.is_some_and(|c| c.values().all(|m| m.get("schema").is_some())),
                    "{method} {path} {status} has no schema: {response}"
                );
            }
            if let Some(request) = operation.get("requestBody") {
                assert!(
                    request["content"]
                        .as_object()
                        .is_some_and(|c| c.values().all(|m| m.get("schema").is_some())),
                    "{method} {path}'s request body has no schema"
                );
            }
        }
    }
    assert!(operations >= 13, "{operations} operations");
    let security =
        |path: &str, method: &str| document["paths"][path][method]["security"].to_string();
    assert!(security("/api/v1/runs", "post").contains("bearer"));
    assert!(security("/api/v1/impact/{project}", "get").contains("bearer"));
    assert!(document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

    let validates = |path: &str, status: &str, answer: &serde_json::Value| {
        let schema = &document["paths"][path]["get"]["responses"][status]["content"]["application/json"]
            ["schema"];
        let root = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": document["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::validator_for(&root).expect("a valid schema");
        let errors: Vec<String> = validator
            .iter_errors(answer)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "GET {path} {status}: {errors:?}\n{answer}"
        );
    };
    for (path, uri) in [
        ("/api/v1/health", "/api/v1/health"),
        ("/api/v1/workspace", "/api/v1/workspace"),
        ("/api/v1/graph", "/api/v1/graph"),
        ("/api/v1/order", "/api/v1/order"),
        ("/api/v1/debt", "/api/v1/debt"),
        ("/api/v1/runs", "/api/v1/runs"),
        ("/api/v1/impact/{project}", "/api/v1/impact/kernel"),
    ] {
        let (status, _, body) = call(&state, get(uri)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        validates(path, "200", &json(&body));
    }
    let (status, _, body) = call(&state, get("/api/v1/runs/no-such-run")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    validates("/api/v1/runs/{id}", "404", &json(&body));
}

/// The conflict loop through the service: the open conflicts, a page per patch, the review,
/// and an acknowledgement that needs the token and a resolution to acknowledge.
#[tokio::test(flavor = "multi_thread")]
async fn conflicts_review_and_acknowledgements_are_served() {
    let (_dir, state) = demo();
    let (status, _, body) = call(&state, get("/api/v1/review")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no run yet: {body}");
    let root = state.root.clone();
    tokio::task::spawn_blocking(move || {
        let workspace = carry_orchestrator::workspace::load(&root).expect("loads");
        carry_orchestrator::run::run(
            &workspace,
            &carry_orchestrator::run::RunOptions::default(),
            &carry_orchestrator::run::NoProgress,
        )
        .expect("the demo runs");
    })
    .await
    .expect("joined");

    let (status, _, body) = call(&state, get("/api/v1/conflicts")).await;
    assert_eq!(status, StatusCode::OK);
    let conflicts = json(&body);
    assert_eq!(
        conflicts["conflicts"][0]["patch"], "hostdev-vf",
        "{conflicts}"
    );

    let (status, content_type, body) = call(&state, get("/patches/libvirt/hostdev-vf")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
    assert!(
        body.contains("culprit") && body.contains("upstream now"),
        "{body}"
    );
    let (status, _, body) = call(
        &state,
        get("/patches/libvirt/docs-describe-SR-IOV-VF-tokens"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("range-diff: <b>unchanged</b>"), "{body}");
    let (status, _, body) = call(&state, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<a href=\"/patches/libvirt/hostdev-vf\">"),
        "the dashboard links the conflict to its page"
    );
    let (status, _, _) = call(&state, get("/patches/libvirt/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = call(&state, get("/api/v1/review?project=libvirt")).await;
    assert_eq!(status, StatusCode::OK);
    let review = json(&body);
    assert_eq!(review["schema"], "carry.review/v1");
    assert_eq!(review["patches"][1]["change"], "unchanged", "{review}");
    let (status, _, _) = call(&state, get("/api/v1/review?patch=x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, content_type, metrics) = call(&state, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for expected in [
        r#"carry_http_requests_total{route="/api/v1/conflicts",method="GET",status="200"} 1"#,
        r#"carry_http_request_duration_seconds_count{route="/api/v1/conflicts"} 1"#,
        r#"carry_runs_total{status="attention"} 1"#,
        r#"carry_patches{outcome="conflict"} 1"#,
        r#"carry_patches{outcome="landed"} 1"#,
        "carry_open_conflicts 1",
        "carry_overdue_patches ",
        "# EOF",
    ] {
        assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
    }
    // A path is never a label.
    let _ = call(&state, get("/no/such/page")).await;
    let (_, _, metrics) = call(&state, get("/metrics")).await;
    assert!(!metrics.contains("/no/such/page"), "{metrics}");

    let ack = "/api/v1/review/libvirt/docs-describe-SR-IOV-VF-tokens/ack";
    let (status, _, _) = call(&state, post(ack, None, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(&state, post(ack, Some(TOKEN), "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing to acknowledge"))
    );
}

/// The planner's questions over HTTP: the furthest safe point, and several moves at once;
/// both are trials, so both need the token.
#[tokio::test(flavor = "multi_thread")]
async fn furthest_and_several_moves_are_served_with_the_token() {
    let (_dir, state) = demo();
    let root = state.root.clone();
    tokio::task::spawn_blocking(move || {
        let workspace = carry_orchestrator::workspace::load(&root).expect("loads");
        let fetched = carry_orchestrator::run::fetch_all(
            &workspace,
            &[],
            &carry_orchestrator::run::NoProgress,
            &carry_orchestrator::options::Cancel::new(),
        );
        assert!(fetched.iter().all(|(_, result)| result.is_ok()));
    })
    .await
    .expect("joined");
    let (status, _, _) = call(&state, get("/api/v1/impact/libvirt?furthest=true")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(
        &state,
        authorized_get("/api/v1/impact/libvirt?furthest=true"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = json(&body);
    assert_eq!(answer["schema"], "carry.furthest/v1");
    assert_eq!(answer["breaks"][0]["patch"], "libvirt/hostdev-vf");
    let (status, _, body) = call(
        &state,
        authorized_get("/api/v1/impact/libvirt?furthest=true&tags=nope*"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The schedule's computation, shown on the dashboard.
    super::schedule::compute_furthest(&state).await;
    let (status, _, page) = call(&state, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("How far each upstream can move"), "{page}");
    assert!(
        page.contains("<span class=\"pill bad\">conflict</span> <code>libvirt/hostdev-vf</code>"),
        "libvirt's furthest point and what breaks after it"
    );

    let (status, _, _) = call(&state, get("/api/v1/impact?to=qemu=main&to=libvirt=main")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(
        &state,
        authorized_get("/api/v1/impact?to=qemu=main&to=libvirt=main"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["moves"][1]["project"], "libvirt");
    let (status, _, _) = call(&state, authorized_get("/api/v1/impact?to=qemu")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&state, authorized_get("/api/v1/impact?to=qemu=v99")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
