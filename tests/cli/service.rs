//! `carry serve` for real: a process on a free port, a run started over HTTP, its events
//! followed to the end, its report read, and the dashboard rendered in headless Chromium.
//!
//! The browser part needs Debian's `chromium`; `.ci/run` installs it and sets
//! `CARRY_REQUIRE_BROWSER=1`, which makes its absence a failure rather than a skip.

use std::io::BufRead as _;
use std::io::BufReader;
use std::io::Read as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::process::Stdio;
use std::time::Duration;

use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::hermetic;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
    /// Everything the service wrote to stderr after its first line, drained as it comes so
    /// that a chatty service never blocks on a full pipe; shown when a check fails.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(workspace: &Path) -> Server {
    serve_with(workspace, &[])
}

pub(crate) fn serve_with(workspace: &Path, extra: &[&str]) -> Server {
    let mut child = hermetic(&mut std::process::Command::new(env!("CARGO_BIN_EXE_carry")))
        .current_dir(workspace)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("carry serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    let mut reader = BufReader::new(stderr);
    reader
        .read_line(&mut line)
        .expect("the first line names the address");
    let rest = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = rest.clone();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if let Ok(mut text) = sink.lock() {
                text.push_str(&line);
                text.push('\n');
            }
        }
    });
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Server {
        child,
        address,
        stderr: rest,
    }
}

/// One HTTP/1.1 request; returns the status and the body.
pub(crate) fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    // A read that times out ends the response: the caller's checks then say what was missing.
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn unchunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn a_run_started_over_http_streams_its_progress_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "demo");
    let server = serve(&demo);
    let token = std::fs::read_to_string(demo.join(".carry/token")).expect("a token was made");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(demo.join(".carry/token"))
            .expect("token")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let (status, _) = request(&server.address, "POST", "/api/v1/runs", None, "");
    assert_eq!(status, 401);
    let (status, body) = request(&server.address, "POST", "/api/v1/runs", Some(&token), "{}");
    assert_eq!(status, 202, "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let id = started["id"].as_str().expect("id").to_owned();

    // The CLI is refused while the service runs.
    let cli = carry_in(&demo, &["run"]);
    let (_, events) = request(
        &server.address,
        "GET",
        &format!("/api/v1/runs/{id}/events"),
        None,
        "",
    );
    assert!(
        cli.code == 1 && cli.stderr.contains("is locked by run"),
        "{}",
        cli.stderr
    );
    assert!(
        events.contains("event: rebasing"),
        "{events}\nthe service said: {}",
        server.stderr()
    );
    assert!(events.contains("event: test-finished"), "{events}");
    assert!(
        events.contains("event: finished\ndata: {\"run\":"),
        "{events}\nthe service said: {}",
        server.stderr()
    );

    let (status, body) = request(
        &server.address,
        "GET",
        &format!("/api/v1/runs/{id}"),
        None,
        "",
    );
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["run"], id);
    assert_eq!(report["status"], "attention");

    browser_check(&server.address);
}

fn browser_check(address: &str) {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CARRY_REQUIRE_BROWSER").is_none(),
            "CARRY_REQUIRE_BROWSER is set and chromium is not installed"
        );
        eprintln!(
            "SKIPPED the browser check: no chromium (install Debian's chromium, or set CARRY_REQUIRE_BROWSER=1 to require it)"
        );
        return;
    };
    let profile = tempfile::tempdir().expect("profile");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1300",
        "--virtual-time-budget=3000",
    ];
    let url = format!("http://{address}/");
    let dom = std::process::Command::new(chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<svg"), "the graph is drawn: {dom}");
    for project in ["kernel", "qemu", "libvirt", "ovs", "nova"] {
        assert!(
            dom.contains(&format!("class=\"project-row\" data-project=\"{project}\"")),
            "a row for {project}"
        );
    }
    assert!(
        dom.contains("needs attention"),
        "the last run's status shows"
    );
    assert!(
        dom.contains(
            "conflict</span> <a href=\"/patches/libvirt/hostdev-vf\"><code>libvirt/hostdev-vf</code></a>"
        ),
        "the conflict shows, linked to its page"
    );
    assert!(
        dom.contains("blocked by libvirt/hostdev-vf"),
        "the feature shows blocked"
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let status = std::process::Command::new(chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(status.success());
    let png = std::fs::read(&shot).expect("a screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture: {} bytes",
        png.len()
    );
    eprintln!("dashboard screenshot: {}", shot.display());
}

/// A flood of idle connections past the limit does not keep a real client out (the idlest
/// are closed for newcomers), and a client that never finishes its request head is cut off.
#[test]
fn idle_connections_past_the_limit_do_not_keep_clients_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    let server = serve_with(&demo, &["--max-connections", "16"]);
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(&server.address).ok())
        .collect();
    assert!(idle.len() > 16, "only {} connections", idle.len());
    let (status, body) = request(&server.address, "GET", "/api/v1/health", None, "");
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    // Most of the idle ones were closed to make room: reading them ends (EOF or reset).
    let closed = idle
        .into_iter()
        .filter(|stream| {
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let mut byte = [0u8; 1];
            match (&*stream).read(&mut byte) {
                Ok(read) => read == 0,
                Err(error) => !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        })
        .count();
    assert!(closed >= 150, "only {closed} idle connections were closed");
}
