//! The HTTP server loop: connections accepted, bounded and timed out by carry, so no client
//! can starve the service.
//!
//! axum's own `serve` has no connection limit and no way to set hyper's header-read timeout,
//! so connections are served here with hyper directly:
//! - at most [`Limits::max_connections`] are open; when a new one comes at the limit, the
//!   connection idle longest (no request in flight) is closed to make room, so a flood of
//!   idle connections never keeps a real client out; when every connection has a request in
//!   flight, the new one is closed at once;
//! - a connection that sends no complete request head within [`Limits::header_timeout`], or
//!   stays idle between requests longer than [`Limits::idle_timeout`], is closed;
//! - on shutdown, connections finish the request they are serving, then close; after
//!   [`SHUTDOWN_GRACE`] the rest (event streams) are dropped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;

/// How long open requests have to finish once the service stops.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What bounds the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Open connections at most.
    pub(crate) max_connections: usize,
    /// How long a client has to send a request's head.
    pub(crate) header_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    pub(crate) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Tracked {
    /// Requests whose response (body included) is not done.
    in_flight: AtomicUsize,
    /// When it last started or finished a request, in ms since the server started.
    last_active_ms: AtomicU64,
    /// Closes it.
    close: tokio::sync::watch::Sender<bool>,
}

impl Tracked {
    fn touch(&self, epoch: Instant) {
        let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(now, Ordering::Relaxed);
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let epoch = Instant::now();
    let open: Arc<Mutex<HashMap<u64, Arc<Tracked>>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        if !make_room(&open, limits.max_connections) {
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: every connection has a request in flight"
            );
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let (close, closed) = tokio::sync::watch::channel(false);
        let tracked = Arc::new(Tracked {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            close,
        });
        tracked.touch(epoch);
        open.lock()
            .expect("the connection table is never poisoned")
            .insert(id, tracked.clone());
        let app = app.clone();
        let open = open.clone();
        tasks.spawn(async move {
            serve_connection(stream, app, limits, tracked, closed, epoch).await;
            open.lock()
                .expect("the connection table is never poisoned")
                .remove(&id);
        });
    }
    // Stop: every connection finishes what it serves and closes.
    for tracked in open
        .lock()
        .expect("the connection table is never poisoned")
        .values()
    {
        tracked.close.send_replace(true);
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            left = tasks.len(),
            "closing connections still open after the grace"
        );
        tasks.abort_all();
    }
}

/// Makes room for one more connection: true when there is (closing the idlest if at the
/// limit), false when every connection is busy.
fn make_room(open: &Mutex<HashMap<u64, Arc<Tracked>>>, limit: usize) -> bool {
    let open = open.lock().expect("the connection table is never poisoned");
    // Connections already told to close still count until their task ends.
    let live: Vec<&Arc<Tracked>> = open.values().filter(|t| !*t.close.borrow()).collect();
    if live.len() < limit {
        return true;
    }
    let idlest = live
        .into_iter()
        .filter(|t| t.in_flight.load(Ordering::Relaxed) == 0)
        .min_by_key(|t| t.last_active_ms.load(Ordering::Relaxed));
    match idlest {
        Some(tracked) => {
            tracked.close.send_replace(true);
            true
        }
        None => false,
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    limits: Limits,
    tracked: Arc<Tracked>,
    mut closed: tokio::sync::watch::Receiver<bool>,
    epoch: Instant,
) {
    let service = {
        let tracked = tracked.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            tracked.in_flight.fetch_add(1, Ordering::Relaxed);
            tracked.touch(epoch);
            let guard = InFlight {
                tracked: tracked.clone(),
                epoch,
            };
            let app = app.clone();
            async move {
                let response = tower::ServiceExt::oneshot(app, request.map(Body::new)).await;
                Ok::<_, std::convert::Infallible>(match response {
                    Ok(response) => response.map(|body| Body::new(Guarded { body, guard })),
                    Err(never) => match never {},
                })
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            changed = closed.changed(), if !closing => {
                if changed.is_err() || *closed.borrow() {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = idle_check.tick(), if !closing => {
                let idle_ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
                    .saturating_sub(tracked.last_active_ms.load(Ordering::Relaxed));
                if tracked.in_flight.load(Ordering::Relaxed) == 0
                    && u128::from(idle_ms) > limits.idle_timeout.as_millis()
                {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Counts a request in flight until its response's body is done or dropped.
struct InFlight {
    tracked: Arc<Tracked>,
    epoch: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracked.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.tracked.touch(self.epoch);
    }
}

/// A response body that holds its request's [`InFlight`] until it is dropped.
struct Guarded {
    body: Body,
    #[allow(dead_code, reason = "held for its Drop")]
    guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
