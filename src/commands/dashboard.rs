//! `porthole dashboard` and the server half of `porthole monitor --serve`:
//! bind, load the token, start the fact threads and the HTTP server, and
//! say where it is.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use crate::cli::args::DashboardArgs;
use crate::cli::dashboard::{DashboardSettings, ServeSettings};
use crate::commands::ExitStatus;
use crate::dashboard::{self, DashboardState, FactSource, RecorderHealth};
use crate::proxy::host::HostPolicy;
use crate::store::StoreLocation;

/// Serves the dashboard from an existing store until SIGINT, SIGTERM or
/// SIGHUP.
pub fn run(args: DashboardArgs) -> anyhow::Result<ExitStatus> {
    let default_store = args.store.is_none();
    let settings = DashboardSettings::resolve(args)?;
    refuse_unreadable_store(&settings.store)?;
    let stop = crate::commands::monitor::shutdown_on_signal()?;
    let bound = bind(&settings.serve)?;
    // A user who is not root serves their own store by default, while the
    // recorder's service writes root's: a page with no history says why.
    if let (true, StoreLocation::Sqlite(own)) = (default_store, &settings.store) {
        if !own.exists() {
            if let Some(system) = crate::store::SystemStore::beside(&settings.store) {
                crate::commands::warn(&crate::commands::system_store_advice(
                    own, true, &system, true,
                ));
            }
        }
    }
    let server = start(bound, &settings.serve, Some(settings.store), None, Arc::clone(&stop))?;
    server.join().map_err(|_| anyhow::anyhow!("the dashboard thread panicked"))?;
    Ok(ExitStatus::Success)
}

/// A SQLite store this porthole can never read — a newer porthole's,
/// another program's file — is refused as `porthole history` refuses it:
/// served, its dashboard showed no history, saying why only in
/// `/api/health`. A store not written yet is served (a recorder may start
/// later), and so is a PostgreSQL store, whose server may come up later.
fn refuse_unreadable_store(store: &StoreLocation) -> anyhow::Result<()> {
    use crate::store::StoreError;
    let StoreLocation::Sqlite(path) = store else { return Ok(()) };
    if !path.exists() {
        return Ok(());
    }
    match crate::store::open_reader(store) {
        Err(
            error @ (StoreError::NewerSchema { .. }
            | StoreError::NotSqlite { .. }
            | StoreError::Foreign { .. }),
        ) => Err(error.into()),
        _ => Ok(()),
    }
}

/// The dashboard's token and socket, taken before anything else starts.
pub struct Bound {
    token: String,
    listener: TcpListener,
}

/// Loads the token and binds the address: what can go wrong with `--serve`
/// goes wrong here, so `monitor --serve` calls it before it starts
/// recording, and a taken port or a bad token file is one line and exit 2
/// rather than a recorder that started and stopped at once.
pub fn bind(settings: &ServeSettings) -> anyhow::Result<Bound> {
    let token = dashboard::token::load_or_create(&settings.token_file)
        .context("loading the dashboard token")?;
    let listener = TcpListener::bind(settings.address)
        .with_context(|| format!("--serve {}: binding", settings.address))?;
    listener.set_nonblocking(true).context("configuring the dashboard socket")?;
    Ok(Bound { token, listener })
}

/// Prints the URL and serves on a thread of its own until `stop` is set.
pub fn start(
    bound: Bound,
    settings: &ServeSettings,
    store: Option<StoreLocation>,
    health: Option<Arc<RecorderHealth>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let Bound { token, listener } = bound;
    let bound = listener.local_addr().context("reading the dashboard address")?;
    // The first facts are read before the URL is printed, so the first
    // page load already shows the listeners.
    let facts = Arc::new(FactSource::new(store, true));
    facts.refresh();
    // The token goes to a terminal only: under systemd stderr is the
    // journal, which others can read (see `render::dashboard`).
    let printed = std::io::stderr().is_terminal().then_some(token.as_str());
    crate::render::dashboard::serving(
        &mut std::io::stderr().lock(),
        bound,
        printed,
        settings.exposed,
        &settings.token_file,
    )?;
    facts.spawn(Arc::clone(&stop)).context("starting the dashboard's threads")?;
    let session =
        dashboard::token::Session::new(&token).context("drawing the dashboard's session key")?;
    let state = Arc::new(DashboardState {
        token,
        session,
        hosts: HostPolicy { extra: settings.allow_hosts.clone() },
        port: bound.port(),
        metrics_public: settings.metrics_public,
        facts,
        health,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dashboard")
        .enable_all()
        .build()
        .context("starting the dashboard runtime")?;
    let thread = std::thread::Builder::new()
        .name("dashboard".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let shutdown = async {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                };
                dashboard::run(listener, state, shutdown).await;
            });
        })
        .context("starting the dashboard thread")?;
    Ok(thread)
}
