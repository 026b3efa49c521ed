//! `porthole proxy`: a fault-injection TCP proxy that speaks the Toxiproxy
//! 2.12 HTTP API, so existing Toxiproxy clients drive it unchanged.
//!
//! # Layout
//! - [`registry`]: the proxies and their toxics; every API operation.
//! - `forward`: one proxy's accept loop and connections (lifecycle docs).
//! - `link`: one direction of one connection; applies toxics.
//! - `relay`: toxic-free connections served by `epoll` threads, off tokio.
//! - `faults`: one file per toxic behind the `Fault` trait.
//! - [`toxics`] and [`wire`]: toxic definitions and the JSON shapes.
//! - [`api`]: the HTTP server; [`client`]: the HTTP client the CLI uses.
//! - `syntax`: Go's words for a malformed request body.
//!
//! # Differences from Toxiproxy
//! - A proxy created without `listen` binds `127.0.0.1:0`, not every
//!   interface.
//! - TCP half-close is forwarded: a client's `shutdown(SHUT_WR)` reaches
//!   the server as a half-close and the reply still arrives.
//! - Toxic changes never wait for live traffic: they are published through
//!   a `watch` channel (see `link`).
//! - `reset_peer` changes close behaviour only on links where it was drawn.
//! - Toxics can be listed per proxy in `--config` files and `/populate`.
//! - `/metrics` is always on and counts connections as well as bytes.
//! - The API accepts only loopback `Host` names (DNS-rebinding defence).

pub mod api;
pub mod budget;
mod carriers;
pub mod client;
pub mod error;
mod faults;
mod forward;
pub mod host;
mod link;
mod memory;
pub mod metrics;
pub mod registry;
mod relay;
pub mod service;
mod splice;
pub mod stats;
mod syntax;
pub mod toxics;
pub mod wire;
pub mod xid;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};

pub use api::ApiState;
pub use budget::FdBudget;
pub use error::ProxyError;
pub use host::HostPolicy;
pub use registry::{ProxyRequest, Registry};

use budget::{Claimant, FdClaim};

/// How long shutdown waits for API connections still being served.
const API_GRACE: Duration = Duration::from_secs(2);

/// How the API protects itself from clients that hold connections open.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// A keep-alive connection with no request for this long is closed
    /// (Go's `IdleTimeout` in Toxiproxy: 60 s).
    pub idle_timeout: Duration,
    /// A request's headers must arrive within this long of its first byte,
    /// its body within this long of its headers, and a new connection must
    /// start one within it (Go's `ReadTimeout` in Toxiproxy: 15 s).
    pub header_timeout: Duration,
    /// API connections served at once. When all are taken, the idlest
    /// connection with no request in flight is closed to make room; when
    /// every one is busy, the newcomer gets `503` and is closed.
    pub max_connections: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(15),
            max_connections: 64,
        }
    }
}

/// Serves the HTTP API on `listener` until `shutdown` completes, then stops
/// every proxy. The caller binds (the binary on `127.0.0.1:8474`, tests on
/// port 0) and chooses the shutdown signal.
pub async fn run(listener: TcpListener, state: Arc<ApiState>, shutdown: impl Future) {
    tokio::pin!(shutdown);
    // Dropping `stop` ends every API connection; the last `finished` clone
    // to go tells us they are all closed (mini-redis's shutdown idiom).
    let (stop, stop_signal) = watch::channel(());
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);
    let table = Arc::new(ConnectionTable::default());
    let limits = state.limits;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let budget = Arc::clone(state.registry.budget());
                    let state = Arc::clone(&state);
                    let table = Arc::clone(&table);
                    let stop = stop_signal.clone();
                    let finished = finished_sender.clone();
                    let admitted = match budget.take(Claimant::Api, 1) {
                        Some(claim) => Ok(table.admit(limits.max_connections, claim)),
                        None => Err(()),
                    };
                    tokio::spawn(async move {
                        let slot = match admitted {
                            Ok(slot) => slot,
                            // The descriptor budget is spent, often by
                            // connections evicted a moment ago whose tasks
                            // have not closed them yet: wait a little for
                            // one to come back before refusing.
                            Err(()) => claim_soon(&budget).await.and_then(|claim| {
                                table.admit(limits.max_connections, claim)
                            }),
                        };
                        match slot {
                            Some(slot) => serve_http(stream, state, slot, stop, finished).await,
                            None => refuse(stream).await,
                        }
                    });
                }
                // Out of descriptors: back off a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    drop(stop);
    drop(finished_sender);
    let _ = tokio::time::timeout(API_GRACE, finished.recv()).await;
    state.registry.shutdown().await;
}

/// One API connection's state as the table sees it.
#[derive(Default)]
struct Connection {
    /// Milliseconds since `ConnectionTable::epoch` of the last byte read or
    /// written.
    last_active: AtomicU64,
    /// Requests being answered; a connection with one is never evicted.
    in_flight: AtomicUsize,
    /// Woken to close the connection when a newcomer needs its place.
    evict: Notify,
}

/// The API connections open now, for the cap and for eviction.
struct ConnectionTable {
    epoch: Instant,
    open: Mutex<Vec<Arc<Connection>>>,
}

impl Default for ConnectionTable {
    fn default() -> Self {
        ConnectionTable { epoch: Instant::now(), open: Mutex::new(Vec::new()) }
    }
}

/// A place in the table, given back on drop.
struct Slot {
    table: Arc<ConnectionTable>,
    connection: Arc<Connection>,
    /// The connection's descriptor in the shared budget.
    _claim: FdClaim,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|poison| poison.into_inner());
        open.retain(|other| !Arc::ptr_eq(other, &self.connection));
    }
}

impl ConnectionTable {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection. At the cap, the idlest connection with
    /// no request in flight is told to close and its place is taken over
    /// (the table may briefly hold one more than the cap while it closes);
    /// `None` when every connection is busy.
    fn admit(self: &Arc<Self>, cap: usize, claim: FdClaim) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|poison| poison.into_inner());
        if open.len() >= cap.max(1) {
            let idlest = open
                .iter()
                .enumerate()
                .filter(|(_, connection)| connection.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, connection)| connection.last_active.load(Ordering::Relaxed))
                .map(|(index, _)| index)?;
            let evicted = open.swap_remove(idlest);
            evicted.evict.notify_one();
        }
        let connection = Arc::new(Connection::default());
        connection.last_active.store(self.now(), Ordering::Relaxed);
        open.push(Arc::clone(&connection));
        Some(Slot { table: Arc::clone(self), connection, _claim: claim })
    }
}

/// How long a new API connection waits for a descriptor to be given back
/// when the budget is spent.
const CLAIM_WAIT: Duration = Duration::from_millis(500);

/// A descriptor for an API connection once one is free, within
/// [`CLAIM_WAIT`]; `None` when none came back in time.
async fn claim_soon(budget: &Arc<FdBudget>) -> Option<FdClaim> {
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    loop {
        if let Some(claim) = budget.take(Claimant::Api, 1) {
            return Some(claim);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answers a connection the API has no room for with `503` and closes it.
/// Reads what the client sent first, so the close does not turn into a
/// reset that destroys the answer before the client reads it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "{\"error\":\"too many API connections\",\"status\":503}\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut request = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut request)).await;
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        while matches!(stream.read(&mut request).await, Ok(count) if count > 0) {}
    })
    .await;
}

async fn serve_http(
    stream: TcpStream,
    state: Arc<ApiState>,
    slot: Slot,
    mut stop: watch::Receiver<()>,
    _finished: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let limits = state.limits;
    let connection = Arc::clone(&slot.connection);
    let io =
        Tracked { stream, connection: Arc::clone(&connection), table: Arc::clone(&slot.table) };
    let service = {
        let connection = Arc::clone(&connection);
        service_fn(move |request| {
            let state = Arc::clone(&state);
            let connection = Arc::clone(&connection);
            async move {
                connection.in_flight.fetch_add(1, Ordering::AcqRel);
                let _done = InFlight(&connection);
                api::handle(&state, request).await
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Go writes `Content-Type`, not `content-type`; some clients compare.
        .title_case_headers(true);
    let serving = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(serving);
    let idle = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        let last = connection.last_active.load(Ordering::Relaxed);
        let quiet_for = slot.table.now().saturating_sub(last);
        let busy = connection.in_flight.load(Ordering::Acquire) > 0;
        if !busy && quiet_for >= idle {
            break;
        }
        let wait = Duration::from_millis(if busy { idle } else { idle - quiet_for });
        tokio::select! {
            _ = &mut serving => break,
            _ = stop.changed() => break,
            _ = connection.evict.notified() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    drop(slot);
}

/// Marks the end of a request on every path out of the handler.
struct InFlight<'a>(&'a Connection);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The API's socket, noting the time of every read and write for the idle
/// timeout and for choosing whom to evict.
struct Tracked {
    stream: TcpStream,
    connection: Arc<Connection>,
    table: Arc<ConnectionTable>,
}

impl Tracked {
    fn touch(&self) {
        self.connection.last_active.store(self.table.now(), Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(context, buffer);
        if matches!(result, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(context, data);
        if matches!(result, Poll::Ready(Ok(count)) if count > 0) {
            self.touch();
        }
        result
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(context, buffers);
        if matches!(result, Poll::Ready(Ok(count)) if count > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
