//! `porthole proxy`: a fault-injection TCP proxy that speaks the Toxiproxy
//! 2.12 HTTP API, so existing Toxiproxy clients drive it unchanged.
//!
//! # Layout
//! - [`registry`]: the proxies and their toxics; every API operation.
//! - `forward`: one proxy's accept loop and connections (lifecycle docs).
//! - `link`: one direction of one connection; applies toxics.
//! - `faults`: one file per toxic behind the `Fault` trait.
//! - [`toxics`] and [`wire`]: toxic definitions and the JSON shapes.
//! - [`api`]: the HTTP server; [`client`]: the HTTP client the CLI uses.
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
pub mod client;
pub mod error;
mod faults;
mod forward;
pub mod host;
mod link;
pub mod metrics;
pub mod registry;
mod splice;
pub mod stats;
pub mod toxics;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub use api::ApiState;
pub use error::ProxyError;
pub use host::HostPolicy;
pub use registry::{ProxyRequest, Registry};

/// How long shutdown waits for API connections still being served.
const API_GRACE: Duration = Duration::from_secs(2);

/// Serves the HTTP API on `listener` until `shutdown` completes, then stops
/// every proxy. The caller binds (the binary on `127.0.0.1:8474`, tests on
/// port 0) and chooses the shutdown signal.
pub async fn run(listener: TcpListener, state: Arc<ApiState>, shutdown: impl Future) {
    tokio::pin!(shutdown);
    // Dropping `stop` ends every API connection; the last `finished` clone
    // to go tells us they are all closed (mini-redis's shutdown idiom).
    let (stop, stop_signal) = watch::channel(());
    let (finished_sender, mut finished) = mpsc::channel::<()>(1);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_http(
                        stream,
                        Arc::clone(&state),
                        stop_signal.clone(),
                        finished_sender.clone(),
                    ));
                }
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

async fn serve_http(
    stream: TcpStream,
    state: Arc<ApiState>,
    mut stop: watch::Receiver<()>,
    _finished: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { api::handle(&state, request).await }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = stop.changed() => {}
    }
}
