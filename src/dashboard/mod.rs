//! The dashboard and `/metrics` of `porthole monitor --serve` and
//! `porthole dashboard`: a small HTTP server on loopback that shows the
//! listeners now (with exposure, owners and audit findings), the
//! connections of the last hour and the open ones, who held a port over
//! the last day, and a feed of changes; and the same facts for Prometheus.
//!
//! # Layout
//! - [`facts`]: gathers the live inventory, the store's history and the
//!   passive audit on background threads; requests read the latest result.
//! - [`views`]: one JSON view per endpoint, filtered and paged.
//! - [`metrics`]: the Prometheus text exposition.
//! - [`web`]: security checks, routing, response headers (the security
//!   model is documented there).
//! - [`token`]: the access token file.
//! - `assets/`: the page, its script and style, compiled in with
//!   `include_str!` (no CDN, nothing fetched at run time).
//!
//! # Lifecycle
//! [`run`] owns the listener and serves until `shutdown` completes. Each
//! connection runs on its own task holding a permit of `permits` (at most
//! [`MAX_CONNECTIONS`] at once) and a receiver of `stop`. When every permit
//! is taken, a newcomer does not wait behind connections that are doing
//! nothing: the one idle the longest (no request being answered: still
//! sending its headers, between keep-alive requests, or not reading its
//! answer) is closed to make room, through the evict sender that
//! `Connections` keeps for it. Any local user can open connections, so
//! without this 64 of them that never finish their headers kept everyone
//! out of the dashboard for the header timeout, again and again. Only when
//! every connection is busy answering does a newcomer wait in the kernel's
//! backlog. Dropping `stop` when shutdown begins ends every
//! connection's task at its next await; each task holds a clone of
//! `finished_sender`, so when the last one ends `finished.recv()` returns
//! and `run` returns, or after [`GRACE`] at the latest.

pub mod facts;
pub mod metrics;
pub mod token;
pub mod views;
pub mod web;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
// The runtime's clock, so that tests may pause it.
use tokio::time::Instant;

pub use facts::{FactSource, RecorderHealth};
pub use web::DashboardState;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long shutdown waits for connections still being served.
pub const GRACE: Duration = Duration::from_secs(2);
/// A request's headers must arrive within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that has answered no request for this long is closed: one
/// that does not read its answer (between requests the header timeout
/// closes it sooner, as hyper runs it while waiting for the next request).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The connections being served, for choosing one to close when every
/// permit is taken (see the module docs).
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Connection>,
}

struct Connection {
    /// Since when no request has been answered on it; `None` while one is.
    idle_since: Option<Instant>,
    /// Sending (or dropping) it closes the connection.
    evict: Option<oneshot::Sender<()>>,
}

impl Connections {
    fn add(&mut self, evict: oneshot::Sender<()>) -> u64 {
        self.next_id += 1;
        let connection = Connection { idle_since: Some(Instant::now()), evict: Some(evict) };
        self.open.insert(self.next_id, connection);
        self.next_id
    }

    fn set_busy(&mut self, id: u64, busy: bool) {
        if let Some(connection) = self.open.get_mut(&id) {
            connection.idle_since = if busy { None } else { Some(Instant::now()) };
        }
    }

    /// Closes the connection idle the longest; whether there was one.
    fn evict_oldest_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter_mut()
            .filter(|(_, c)| c.evict.is_some())
            .filter_map(|(_, c)| c.idle_since.map(|since| (since, c)))
            .min_by_key(|(since, _)| *since);
        match oldest.and_then(|(_, connection)| connection.evict.take()) {
            Some(evict) => {
                let _ = evict.send(());
                true
            }
            None => false,
        }
    }
}

fn lock(connections: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Completes once connection `id` has answered no request for `limit`:
/// counted from its last answer, not from when it opened, so a page that
/// polls on one keep-alive connection keeps it (it was cut after a minute,
/// whatever it was doing, an answer being written included).
async fn idle_for(connections: &Mutex<Connections>, id: u64, limit: Duration) {
    loop {
        let since = lock(connections).open.get(&id).and_then(|c| c.idle_since);
        let left = match since {
            Some(since) => limit.saturating_sub(since.elapsed()),
            // Answering: look again a whole period later.
            None => limit,
        };
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left).await;
    }
}

/// Serves the dashboard on `listener` until `shutdown` completes. The
/// caller binds (loopback unless the user exposed it) and starts the
/// [`FactSource`] threads.
pub async fn run(listener: TcpListener, state: Arc<DashboardState>, shutdown: impl Future) {
    serve(listener, state, shutdown, HEADER_TIMEOUT).await;
}

/// [`run`] with the header timeout as a parameter (tests lengthen it, so
/// that only eviction can make room).
async fn serve(
    listener: TcpListener,
    state: Arc<DashboardState>,
    shutdown: impl Future,
    header_timeout: Duration,
) {
    tokio::pin!(shutdown);
    let (stop, stop_signal) = watch::channel(());
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = Arc::new(Mutex::new(Connections::default()));
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors: back off a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Full: make room by closing the longest idle connection,
                // then wait for its permit (or any other).
                lock(&connections).evict_oldest_idle();
                tokio::select! {
                    _ = &mut shutdown => break,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let state = Arc::clone(&state);
        let mut stop = stop_signal.clone();
        let finished = finished_sender.clone();
        // The address the client reached: a Host naming it is accepted.
        let local = stream.local_addr().ok().map(|address| address.ip());
        let (evict, evicted) = oneshot::channel();
        let id = lock(&connections).add(evict);
        let connections = Arc::clone(&connections);
        tokio::spawn(async move {
            let _permit = permit;
            let _finished = finished;
            let tracked = Arc::clone(&connections);
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                let tracked = Arc::clone(&tracked);
                async move {
                    lock(&tracked).set_busy(id, true);
                    let reply = web::handle(state, request, local).await;
                    lock(&tracked).set_busy(id, false);
                    reply
                }
            });
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let serving = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = serving => {}
                _ = stop.changed() => {}
                _ = evicted => {}
                _ = idle_for(&connections, id, IDLE_TIMEOUT) => {}
            }
            lock(&connections).open.remove(&id);
        });
    }
    drop(listener);
    drop(stop);
    drop(finished_sender);
    let _ = tokio::time::timeout(GRACE, finished.recv()).await;
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};

    use super::*;
    use crate::dashboard::facts::Facts;
    use crate::proxy::host::HostPolicy;

    fn test_state(port: u16) -> Arc<DashboardState> {
        let facts = Arc::new(FactSource::new(None, false));
        facts.publish(Facts::default());
        Arc::new(DashboardState {
            token: "secret-token-0123456789".into(),
            session: token::Session::new("secret-token-0123456789").expect("random key"),
            hosts: HostPolicy::default(),
            port,
            metrics_public: false,
            facts,
            health: None,
        })
    }

    /// One keep-alive request; the answer's status line, or why none came.
    async fn keep_alive_request(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        let length = STYLE_LENGTH.len();
        loop {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            answer.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                if body.len() >= length {
                    return Ok(head.lines().next().unwrap_or("").to_string());
                }
            }
        }
    }

    const STYLE_LENGTH: &str = include_str!("assets/style.css");

    // The idle timeout ran from when a connection opened: a page polling
    // every 2 s over one keep-alive connection had it cut after a minute,
    // an answer being written or not. It now runs from the last answer.
    // The runtime's clock is paused, so the minute passes at once.
    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_connection_in_use_is_not_closed_as_idle() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run(listener, test_state(address.port()), async {
            let _ = stopped.await;
        }));
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
        // Two minutes of polling every 5 s (the page polls every 2 s), on
        // one connection.
        for round in 0..25 {
            let status = keep_alive_request(&mut stream).await;
            assert_eq!(status.ok().as_deref(), Some("HTTP/1.1 200 OK"), "request {round}");
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        // Silent for longer than the idle timeout: closed.
        tokio::time::sleep(IDLE_TIMEOUT + Duration::from_secs(1)).await;
        assert!(keep_alive_request(&mut stream).await.is_err(), "an idle connection is closed");
        let _ = stop.send(());
        server.await.expect("server");
    }

    /// Every permit taken by connections that send half a request and then
    /// nothing: a newcomer is answered at once, and only the oldest of them
    /// is closed to make room. Before, the newcomer waited for the header
    /// timeout (10 s) of the oldest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_that_never_finish_their_headers_do_not_keep_others_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let facts = Arc::new(FactSource::new(None, false));
        facts.publish(Facts::default());
        let state = Arc::new(DashboardState {
            token: "secret-token-0123456789".into(),
            session: token::Session::new("secret-token-0123456789").expect("random key"),
            hosts: HostPolicy::default(),
            port: address.port(),
            metrics_public: false,
            facts,
            health: None,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        // Longer than the test's hang guard: only eviction makes room.
        let header_timeout = Duration::from_secs(600);
        let server = tokio::spawn(serve(
            listener,
            state,
            async {
                let _ = stopped.await;
            },
            header_timeout,
        ));
        let clients = tokio::task::spawn_blocking(move || {
            let slow: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS)
                .map(|_| {
                    let mut stream = std::net::TcpStream::connect(address).expect("connect");
                    stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").expect("write");
                    stream
                })
                .collect();
            let mut newcomer = std::net::TcpStream::connect(address).expect("connect");
            newcomer
                .write_all(b"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .expect("write");
            // A hang guard only: the answer comes at once.
            newcomer.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
            let mut answer = [0u8; 12];
            newcomer.read_exact(&mut answer).expect("an answer");
            let mut closed = Vec::new();
            for (index, mut stream) in slow.into_iter().enumerate() {
                let mut byte = [0u8; 1];
                let state = if index == 0 {
                    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
                    stream.read(&mut byte)
                } else {
                    stream.set_nonblocking(true).expect("nonblocking");
                    stream.read(&mut byte)
                };
                match state {
                    Ok(0) => closed.push(index),
                    Err(error) if error.kind() == ErrorKind::ConnectionReset => closed.push(index),
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                    other => panic!("connection {index}: {other:?}"),
                }
            }
            (answer, closed)
        });
        let (answer, closed) = clients.await.expect("clients");
        assert_eq!(&answer, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&answer));
        assert_eq!(closed, [0], "only the longest idle connection is closed");
        let _ = stop.send(());
        server.await.expect("server");
    }
}
