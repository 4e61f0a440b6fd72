//! `[notify]`: webhooks and chat hooks hear of a run that needs attention, a conflict once
//! when it appears (then "still open, night N"), and a conflict resolved; a receiver that
//! fails is retried, and one that is down never fails the run. Tested against a receiver on
//! loopback.

use std::io::BufRead as _;
use std::io::Read as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::Mutex;

use crate::support::carry_in;
use crate::support::demo_workspace;
use crate::support::json;

/// A loopback HTTP receiver: answers its first request 503, the rest 200; keeps each
/// request's path and body.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let seen = received.clone();
        std::thread::spawn(move || {
            let mut first = true;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let status = if first {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                first = false;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                if status.starts_with("200") {
                    seen.lock()
                        .expect("lock")
                        .push((path, String::from_utf8_lossy(&body).into_owned()));
                }
            }
        });
        Self { port, received }
    }

    fn take(&self) -> Vec<(String, serde_json::Value)> {
        std::mem::take(&mut *self.received.lock().expect("lock"))
            .into_iter()
            .map(|(path, body)| (path, json(&body)))
            .collect()
    }
}

#[test]
fn a_conflict_is_announced_once_then_counted_then_resolved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = demo_workspace(dir.path(), "ws");
    let receiver = Receiver::start();
    let manifest = demo.join("carry.toml");
    let mut text = std::fs::read_to_string(&manifest).expect("manifest");
    text.push_str(&format!(
        "\n[notify]\nwebhooks = [\"http://127.0.0.1:{port}/hook\"]\nchat = [\"http://127.0.0.1:{port}/chat\"]\n",
        port = receiver.port
    ));
    std::fs::write(&manifest, text).expect("manifest");

    assert_eq!(carry_in(&demo, &["run"]).code, 3);
    let first = receiver.take();
    assert_eq!(
        first.len(),
        2,
        "both hooks, the first after a retry: {first:?}"
    );
    let (_, payload) = first
        .iter()
        .find(|(p, _)| p == "/hook")
        .expect("the webhook");
    assert_eq!(payload["schema"], "carry.notify/v1");
    assert_eq!(payload["status"], "attention");
    assert_eq!(
        payload["new_conflicts"][0]["patch"], "hostdev-vf",
        "{payload}"
    );
    assert_eq!(payload["still_open"], serde_json::json!([]));
    let (_, chat) = first
        .iter()
        .find(|(p, _)| p == "/chat")
        .expect("the chat hook");
    let line = chat["text"].as_str().expect("text");
    assert!(line.contains("new conflict: libvirt/hostdev-vf"), "{line}");

    // The next night: the same conflict is not new, it is still open.
    assert_eq!(carry_in(&demo, &["run", "--all"]).code, 3);
    let second = receiver.take();
    let (_, payload) = second
        .iter()
        .find(|(p, _)| p == "/hook")
        .expect("the webhook");
    assert_eq!(payload["new_conflicts"], serde_json::json!([]));
    assert_eq!(payload["still_open"][0]["nights"], 2, "{payload}");
    let (_, chat) = second
        .iter()
        .find(|(p, _)| p == "/chat")
        .expect("the chat hook");
    assert!(
        chat["text"]
            .as_str()
            .is_some_and(|t| t.contains("(night 2)")),
        "{chat}"
    );

    // Resolved: announced as such.
    assert_eq!(carry_in(&demo, &["resolve", "libvirt/hostdev-vf"]).code, 0);
    let file = demo.join(".carry/resolve/libvirt/hostdev-vf/src/qemu/qemu_hostdev.c");
    let merged = std::fs::read_to_string(&file).expect("file");
    let start = merged.find("<<<<<<< ").expect("a conflict");
    let end = start + merged[start..].find(">>>>>>> ").expect("end");
    let end = end + merged[end..].find('\n').expect("line") + 1;
    std::fs::write(
        &file,
        format!(
            "{}    return qemuHostdevPCIAddress(x) + 4 + vf_token;\n{}",
            &merged[..start],
            &merged[end..]
        ),
    )
    .expect("write");
    assert_eq!(carry_in(&demo, &["resolve", "--continue"]).code, 0);
    let third = receiver.take();
    let (_, payload) = third
        .iter()
        .find(|(p, _)| p == "/hook")
        .expect("the webhook");
    assert_eq!(payload["status"], "clean");
    assert_eq!(
        payload["resolved"][0]["patch"], "libvirt/hostdev-vf",
        "{payload}"
    );

    // A receiver that is down: logged, the run unharmed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let text = std::fs::read_to_string(&manifest)
        .expect("manifest")
        .replace(
            &format!("127.0.0.1:{}/hook", receiver.port),
            &format!("127.0.0.1:{closed}/hook"),
        );
    std::fs::write(&manifest, text).expect("manifest");
    let upstream = crate::support::TestRepo::open(&demo.join("upstream/libvirt"));
    let qemu =
        std::fs::read_to_string(upstream.path.join("src/qemu/qemu_hostdev.c")).expect("file");
    upstream.commit_file(
        "src/qemu/qemu_hostdev.c",
        &qemu.replace(
            "qemuHostdevPCIAddress(x) + 4;",
            "qemuHostdevPCIAddress(x, 1) + 4;",
        ),
        "upstream: again",
    );
    let run = carry_in(&demo, &["run", "-v"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("not delivered"), "{}", run.stderr);
}

#[test]
fn notify_urls_are_checked_at_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("carry.toml"),
        "[workspace]\nname = \"x\"\n\n[notify]\nwebhooks = [\"ftp://nope\"]\nmail = \"a@b\"\n",
    )
    .expect("manifest");
    let out = carry_in(dir.path(), &["validate"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("carry.toml:5") && out.stderr.contains("is not an http(s) URL"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown key 'mail' in [notify]"),
        "{}",
        out.stderr
    );
}
