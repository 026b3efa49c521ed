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
//! [`MAX_CONNECTIONS`] at once; newcomers wait in the kernel's backlog) and
//! a receiver of `stop`. Dropping `stop` when shutdown begins ends every
//! connection's task at its next await; each task holds a clone of
//! `finished_sender`, so when the last one ends `finished.recv()` returns
//! and `run` returns, or after [`GRACE`] at the latest.

pub mod facts;
pub mod metrics;
pub mod token;
pub mod views;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

pub use facts::{FactSource, RecorderHealth};
pub use web::DashboardState;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long shutdown waits for connections still being served.
pub const GRACE: Duration = Duration::from_secs(2);
/// A request's headers must arrive within this long.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves the dashboard on `listener` until `shutdown` completes. The
/// caller binds (loopback unless the user exposed it) and starts the
/// [`FactSource`] threads.
pub async fn run(listener: TcpListener, state: Arc<DashboardState>, shutdown: impl Future) {
    tokio::pin!(shutdown);
    let (stop, stop_signal) = watch::channel(());
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
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
        let state = Arc::clone(&state);
        let mut stop = stop_signal.clone();
        let finished = finished_sender.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _finished = finished;
            let service = service_fn(move |request| web::handle(Arc::clone(&state), request));
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            let serving = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = serving => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(IDLE_TIMEOUT) => {}
            }
        });
    }
    drop(listener);
    drop(stop);
    drop(finished_sender);
    let _ = tokio::time::timeout(GRACE, finished.recv()).await;
}
