//! The proxy engine as this process's service: the async runtime, the
//! shutdown signals, the config file, and the two ways `porthole proxy`
//! runs it — the API server ([`serve`]) and the one-shot proxy
//! ([`run_one_shot`]).
//!
//! # Lifecycle
//! Both entry points build a multi-threaded runtime, bind, install the
//! SIGINT/SIGTERM handlers, and only then report through the caller's
//! callback (`Serving`, `Started`): a signal sent right after that report
//! finds a handler and shuts the proxies down cleanly, never killing the
//! process mid-write. The future from [`shutdown_signal`] is the shutdown
//! of [`super::run`]; once it completes, every proxy is stopped through
//! [`Registry::shutdown`] before the runtime is dropped.
//!
//! What the command shows (the exposure warning, the "serving" line, the
//! traffic summary) arrives through the callbacks and return values, so
//! this module prints nothing.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::registry::{ProxyRequest, Registry};
use super::wire::{PopulateRequestWire, ProxyWire};
use super::{ApiLimits, ApiState, HostPolicy, ProxyError};
use crate::model::proxy::ProxyMetrics;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("parsing {path}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: expected an array of proxies")]
    NotAnArray { path: String },
    /// An entry that cannot be a proxy; `entry` says which (`proxy 3
    /// ("db")`), unless the API's own message names it already (`missing
    /// required field: name at proxy 3`).
    #[error("in {path}{entry}")]
    Proxy {
        path: String,
        entry: String,
        #[source]
        source: ProxyError,
    },
}

/// Why the service could not start (or could not report).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("starting the async runtime")]
    Runtime(#[source] io::Error),
    #[error("installing a {signal} handler")]
    Signal {
        signal: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {listen}")]
    Listen {
        listen: String,
        #[source]
        source: io::Error,
    },
    /// The config file's proxies could not all be created; `reason` is
    /// the API's message for the first that failed.
    #[error("loading {path}: {reason}")]
    Populate { path: String, reason: String },
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The bound address could not be read, or the caller's callback
    /// failed to write its report.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What the API server needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address of the API (`HOST:PORT`, port 0 for any).
    pub listen: String,
    /// Proxies to create before serving (from the config file).
    pub requests: Vec<ProxyRequest>,
    /// The config file they came from, for error messages.
    pub config: Option<String>,
    /// Host headers accepted besides the loopback names.
    pub allow_host: Vec<String>,
    /// Bearer token the API requires, if any (never empty).
    pub token: Option<String>,
    pub limits: ApiLimits,
}

/// What [`serve`] reports while it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEvent {
    /// The API is bound to an address other hosts can reach, with no token.
    Exposed { address: String },
    /// Ready: the handlers are installed and the config's proxies run.
    Serving { address: String, proxies: usize },
}

/// The most of `--config FILE` read: the bound of a `POST /populate` body,
/// which takes the same list.
const MAX_CONFIG_FILE: u64 = super::api::MAX_BODY as u64;

/// Reads a config file: a JSON array of proxies (or `{"proxies": [...]}`),
/// each optionally with a `toxics` array.
pub fn load_config(path: &Path) -> Result<Vec<ProxyRequest>, ConfigError> {
    let name = path.display().to_string();
    let bytes = crate::sys::input_file::read(path, MAX_CONFIG_FILE)
        .map_err(|source| ConfigError::Read { path: name.clone(), source })?;
    let value: Value = serde_json::from_str(&super::wire::go_json_text(&bytes))
        .map_err(|source| ConfigError::Parse { path: name.clone(), source })?;
    let items = PopulateRequestWire::proxies(value)
        .map_err(|_| ConfigError::NotAnArray { path: name.clone() })?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            ProxyRequest::from_json(item, Some(index + 1)).map_err(|source| {
                let entry = match (&source, item.get("name").and_then(Value::as_str)) {
                    (ProxyError::MissingField { .. }, _) => String::new(),
                    (_, Some(proxy)) => format!(", proxy {} (\"{proxy}\")", index + 1),
                    (_, None) => format!(", proxy {}", index + 1),
                };
                ConfigError::Proxy { path: name.clone(), entry, source }
            })
        })
        .collect()
}

fn runtime() -> Result<tokio::runtime::Runtime, ServiceError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServiceError::Runtime)
}

/// How long the runtime waits, once the server has stopped, for blocking
/// work still running: a host name lookup the API gave up on keeps a
/// thread until the system resolver gives up too (30 s or more), and
/// dropping the runtime would wait for it.
const BLOCKING_GRACE: Duration = Duration::from_millis(500);

/// Runs `work` on a fresh runtime and then lets go of it without waiting
/// for abandoned lookups (see [`BLOCKING_GRACE`]).
fn run_to_end<T>(work: impl Future<Output = T>) -> Result<T, ServiceError> {
    let runtime = runtime()?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(BLOCKING_GRACE);
    Ok(result)
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are
/// installed when this is called, not when the future is first polled, so
/// a signal that arrives in between is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, ServiceError> {
    use tokio::signal::unix::{signal, SignalKind};
    let handler = |kind, signal_name| {
        signal(kind).map_err(|source| ServiceError::Signal { signal: signal_name, source })
    };
    let mut interrupt = handler(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = handler(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Host names a server bound to `bound` also answers to: the address
/// itself when it is not a loopback one (an IP literal cannot be
/// DNS-rebound). That includes `0.0.0.0` and `[::]`, which the start-up line
/// prints as the API's URL and which reach this machine as a client's
/// address; either is no more reachable from a web page than `127.0.0.1`.
/// A server on `[::]` also takes IPv4 clients, so it answers to `0.0.0.0`.
fn own_hosts(bound: SocketAddr) -> Vec<String> {
    let ip = bound.ip();
    if ip.is_loopback() {
        return Vec::new();
    }
    match ip {
        IpAddr::V4(ip) => vec![ip.to_string()],
        IpAddr::V6(ip) if ip.is_unspecified() => vec!["[::]".to_string(), "0.0.0.0".to_string()],
        IpAddr::V6(ip) => vec![format!("[{ip}]")],
    }
}

/// Runs the API server until SIGINT or SIGTERM.
pub fn serve(
    options: ServeOptions,
    mut on_event: impl FnMut(&ServeEvent) -> io::Result<()>,
) -> Result<(), ServiceError> {
    let ServeOptions { listen, requests, config, mut allow_host, token, limits } = options;
    run_to_end(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|source| ServiceError::Listen { listen: listen.clone(), source })?;
        let bound = listener.local_addr()?;
        let address = bound.to_string();
        if !bound.ip().is_loopback() && token.is_none() {
            on_event(&ServeEvent::Exposed { address: address.clone() })?;
        }
        allow_host.extend(own_hosts(bound));
        let registry = Arc::new(Registry::new());
        let proxies = requests.len();
        if !requests.is_empty() {
            if let Err(failure) = registry.populate(requests).await {
                registry.shutdown().await;
                return Err(ServiceError::Populate {
                    path: config.unwrap_or_default(),
                    reason: failure.error.to_string(),
                });
            }
        }
        let shutdown = shutdown_signal()?;
        on_event(&ServeEvent::Serving { address, proxies })?;
        let state =
            Arc::new(ApiState { registry, hosts: HostPolicy { extra: allow_host }, token, limits });
        super::run(listener, state, shutdown).await;
        Ok(())
    })?
}

/// Runs one proxy until SIGINT or SIGTERM; `on_started` is told once it
/// listens. Returns what passed through it and for how long.
pub fn run_one_shot(
    request: ProxyRequest,
    on_started: impl FnOnce(&ProxyWire) -> io::Result<()>,
) -> Result<Option<(ProxyMetrics, Duration)>, ServiceError> {
    run_to_end(async move {
        let registry = Registry::new();
        let proxy = registry.create(request).await?;
        let shutdown = shutdown_signal()?;
        on_started(&proxy)?;
        let started = Instant::now();
        shutdown.await;
        let elapsed = started.elapsed();
        // Counters are read once every connection has ended: a connection
        // task counts how it ended after it has passed the end on (its
        // client can see the close first), so a Ctrl-C right after a close
        // would otherwise miss it.
        registry.shutdown().await;
        let metrics = registry.metrics().await;
        Ok(metrics.into_iter().next().map(|metrics| (metrics, elapsed)))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_its_own_host() {
        let own = |bound: &str| own_hosts(bound.parse().expect("socket address"));
        assert_eq!(own("10.1.2.3:8474"), ["10.1.2.3"]);
        assert_eq!(own("[fd00::1]:8474"), ["[fd00::1]"]);
        assert!(own("127.0.0.1:8474").is_empty());
        assert!(own("[::1]:8474").is_empty());
        assert_eq!(own("0.0.0.0:8474"), ["0.0.0.0"]);
        assert_eq!(own("[::]:8474"), ["[::]", "0.0.0.0"]);
    }

    #[test]
    fn config_files_name_what_is_wrong() {
        let directory =
            std::env::temp_dir().join(format!("porthole-config-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let write = |name: &str, text: &str| {
            let path = directory.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write(
            "good.json",
            r#"{"proxies": [{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"}]}"#,
        );
        let requests = load_config(&good).unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].name, "db");
        let object = write("object.json", r#"{"name": "db"}"#);
        assert!(matches!(load_config(&object), Err(ConfigError::NotAnArray { .. })));
        let broken = write("broken.json", "[");
        assert!(matches!(load_config(&broken), Err(ConfigError::Parse { .. })));
        let nameless = write("nameless.json", r#"[{"upstream": "127.0.0.1:1"}]"#);
        assert!(matches!(load_config(&nameless), Err(ConfigError::Proxy { .. })));
        let error = load_config(&nameless).unwrap_err();
        assert_eq!(error.to_string(), format!("in {}", nameless.display()));
        let third = write(
            "third.json",
            r#"[{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b", "upstream": "127.0.0.1:2"},
                {"name": "c", "upstream": "127.0.0.1:3", "toxics": [{"type": "latncy"}]}]"#,
        );
        let error = load_config(&third).unwrap_err();
        assert_eq!(error.to_string(), format!("in {}, proxy 3 (\"c\")", third.display()));
        assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "invalid toxic type");
        assert!(matches!(
            load_config(&directory.join("missing.json")),
            Err(ConfigError::Read { .. })
        ));
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
