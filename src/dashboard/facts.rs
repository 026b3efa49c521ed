//! What the dashboard knows, gathered off the request path.
//!
//! A refresher thread reads the machine and the store every
//! [`REFRESH`] and publishes one immutable [`Facts`] value; requests and
//! scrapes only read the latest one, so a page load or a `/metrics` scrape
//! never waits on a `/proc` walk or a store query (except the per-port
//! timeline and paging deep into the change feed, which ask the store).
//! The audit is slow (it probes every listener), so it runs on its own
//! thread every [`AUDIT_EVERY`] and the refresher picks up its latest
//! result.
//!
//! Sources:
//! - the live inventory (TCP and UDP sockets with their owners) and the
//!   byte counters of open TCP connections;
//! - the history store, read-only: listener changes, client summaries of
//!   the last hour and of the current recorder session, losses, sessions.
//!   The connections of this process are left out: they are its own
//!   audit's probes (a few per listener every minute), and counted they
//!   made porthole the busiest client of every quiet service and gave each
//!   listener's counters a steady rate with no client at all;
//! - the audit engine in passive mode, with the firewall's input chain.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::audit::firewall::{HostFirewall, Reach, Verdict};
use crate::audit::{self, AuditOptions};
use crate::inventory::counters::{CounterPorts, CounterSampler};
use crate::inventory::system::Machine;
use crate::inventory::{self, Query};
use crate::model::history::{CaptureSession, ClientSummary, HistoryQuery, ListenerHistory};
use crate::model::monitor::{LossKind, UnixMicros};
use crate::model::{Finding, Protocol, Snapshot, Socket, SocketState};
use crate::store::{self, Order, StoreError, StoreLocation};

/// How often the machine and the store are read again.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How often the listeners are audited again.
pub const AUDIT_EVERY: Duration = Duration::from_secs(60);
/// Window of the per-listener connection summaries.
pub const CONNECTION_WINDOW: Duration = Duration::from_secs(3600);
/// Window of the change feed and of the "new client" judgement.
pub const CHANGE_WINDOW: Duration = Duration::from_secs(86_400);
/// Most listener changes kept in memory for the change feed.
pub const CHANGES_KEPT: usize = 10_000;
/// Most client groups read from the store per refresh.
const CLIENT_GROUPS: usize = 100_000;

/// Ports whose clients deserve a line in the change feed: databases,
/// debuggers, container and cluster APIs, notebooks.
pub const SENSITIVE_PORTS: &[(u16, &str)] = &[
    (2375, "Docker API"),
    (2376, "Docker API (TLS)"),
    (2379, "etcd"),
    (3306, "MySQL/MariaDB"),
    (5005, "JDWP debugger"),
    (5432, "PostgreSQL"),
    (5984, "CouchDB"),
    (6379, "Redis"),
    (8888, "Jupyter"),
    (9200, "Elasticsearch"),
    (9222, "Chrome DevTools"),
    (9229, "Node.js inspector"),
    (10250, "kubelet"),
    (11211, "Memcached"),
    (27017, "MongoDB"),
];

/// What the sensitive port at `port` is, if it is one.
pub fn sensitive(port: u16) -> Option<&'static str> {
    SENSITIVE_PORTS.iter().find(|(p, _)| *p == port).map(|(_, name)| *name)
}

/// One open TCP connection to a local listener.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenConnection {
    pub server: SocketAddr,
    pub client: SocketAddr,
    /// Pids holding the client end, when it is on this machine.
    pub client_pids: Vec<u32>,
    /// Pids holding the server end.
    pub server_pids: Vec<u32>,
    /// Bytes the server received so far.
    pub bytes_in: u64,
    /// Bytes the server sent (acknowledged) so far.
    pub bytes_out: u64,
}

/// The latest audit: findings and the firewall view.
#[derive(Debug, Clone, Default)]
pub struct AuditView {
    pub at: Option<UnixMicros>,
    pub findings: Vec<Finding>,
    /// Both address families' input chains: a listener is judged by the
    /// chain its clients meet (`[::]` by both).
    pub firewall: HostFirewall,
}

impl AuditView {
    /// The firewall's word on a listener's port: `admitted`, `blocked` or
    /// `unknown`, through the chains of the families that reach it (an
    /// `IPV6_V6ONLY` `[::]` meets the IPv6 chain only).
    pub fn firewall_verdict(&self, socket: &Socket) -> &'static str {
        let reach = Reach::of_socket(socket);
        match self.firewall.judge_reach(reach, socket.protocol, socket.local_port()).0 {
            Verdict::Admitted => "admitted",
            Verdict::Blocked => "blocked",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Totals of one server port's connections in some window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub connections: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Distinct client processes (pid and start time); unnamed clients
    /// count once per uid.
    pub distinct_clients: u64,
}

/// What the store says, as of the last refresh.
#[derive(Debug, Clone, Default)]
pub struct StoreView {
    /// Whether this refresh read the store. When it did not, the counts
    /// below are empty rather than zero: `/metrics` leaves them out instead
    /// of reporting a counter reset.
    pub readable: bool,
    /// Why the store could not be read (missing yet, damaged, down…).
    pub note: Option<String>,
    /// Listener changes, newest first, at most [`CHANGES_KEPT`].
    pub changes: Vec<ListenerHistory>,
    /// Client groups of the last [`CONNECTION_WINDOW`], one per process:
    /// what the distinct client processes are counted from.
    pub recent_clients: Vec<ClientSummary>,
    /// The same connections, one group per program (executable, command
    /// line and user), as `porthole history` lists them: a cron job or a
    /// shell loop that starts a client per connection is one line.
    pub recent_programs: Vec<ClientSummary>,
    /// Totals per server port since the latest recorder start: the
    /// counters of `/metrics`.
    pub session_totals: BTreeMap<u16, PortTotals>,
    /// Losses per kind since the latest recorder start.
    pub session_losses: BTreeMap<&'static str, u64>,
    /// The latest recorder start.
    pub session: Option<CaptureSession>,
    /// Clients of sensitive ports first seen in the change window, one
    /// group per program.
    pub new_sensitive_clients: Vec<ClientSummary>,
    /// Size of the store's files on disk (SQLite only).
    pub size_bytes: Option<u64>,
    /// How long the store queries of this refresh took.
    pub query_seconds: f64,
}

/// Everything a request may show, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub at: UnixMicros,
    /// TCP and UDP sockets with owners (listeners and connections).
    pub snapshot: Snapshot,
    /// Why the live inventory could not be read, if it could not.
    pub inventory_note: Option<String>,
    pub open: Vec<OpenConnection>,
    pub audit: Arc<AuditView>,
    pub store: StoreView,
    /// Seconds the last refresh took.
    pub refresh_seconds: f64,
}

/// Health of a recorder running in the same process (`monitor --serve`);
/// the recorder's sink wrapper writes it, `/metrics` reads it.
#[derive(Debug, Default)]
pub struct RecorderHealth {
    /// Set once the recorder has started.
    pub running: AtomicBool,
    /// `ebpf` or `netlink`.
    pub mode: Mutex<Option<&'static str>>,
    /// Events written, per kind (`listener`, `connection`, `loss`,
    /// `started`).
    pub events: Mutex<BTreeMap<&'static str, u64>>,
    /// Losses reported by the recorder, per kind.
    pub losses: Mutex<BTreeMap<&'static str, u64>>,
    /// Events in the batch being written (the recorder's queue).
    pub queue_depth: AtomicU64,
    /// Duration of the last store write, in microseconds.
    pub last_write_micros: AtomicU64,
    /// Sum of store write durations, microseconds, and their count.
    pub write_micros_total: AtomicU64,
    pub writes: AtomicU64,
    /// The alert delivery's counters, when alerts are on. Without them a
    /// webhook that hung or refused for months dropped alerts that only
    /// the closing line, at the monitor's stop, ever mentioned.
    pub alerts: std::sync::OnceLock<AlertCountsSource>,
}

/// What alert delivery did since the monitor started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AlertCounts {
    /// Alerts raised (each goes to every channel).
    pub raised: u64,
    /// `--on-alert`, when given.
    pub commands: Option<DeliveryCounts>,
    /// `--webhook`, when given.
    pub webhook: Option<DeliveryCounts>,
}

/// One channel's outcomes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// A command that exited 0; a webhook POST answered 2xx.
    pub delivered: u64,
    /// Failed, after every attempt.
    pub failed: u64,
    /// Never tried: the queue was full.
    pub dropped: u64,
}

/// Reads [`AlertCounts`] from the monitor's alert delivery, which lives in
/// `commands` (the dashboard only asks it).
#[derive(Clone)]
pub struct AlertCountsSource(pub Arc<dyn Fn() -> AlertCounts + Send + Sync>);

impl std::fmt::Debug for AlertCountsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AlertCountsSource").field(&(self.0)()).finish()
    }
}

impl RecorderHealth {
    /// Counts one batch the recorder handed to the store.
    pub fn record_batch(&self, batch: &[crate::model::monitor::MonitorEvent], took: Duration) {
        use crate::model::monitor::MonitorEvent;
        self.running.store(true, Ordering::Relaxed);
        self.queue_depth.store(batch.len() as u64, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_write_micros.store(micros, Ordering::Relaxed);
        self.write_micros_total.fetch_add(micros, Ordering::Relaxed);
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut losses = self.losses.lock().unwrap_or_else(|e| e.into_inner());
        for event in batch {
            let kind = match event {
                MonitorEvent::Started { mode, .. } => {
                    *self.mode.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(crate::model::history::capture_mode_name(*mode));
                    "started"
                }
                MonitorEvent::Listener(_) => "listener",
                MonitorEvent::Connection(_) => "connection",
                MonitorEvent::OpenSnapshot(_) => "open_snapshot",
                MonitorEvent::Loss(loss) => {
                    *losses.entry(crate::model::history::loss_kind_name(loss.kind)).or_default() +=
                        loss.count;
                    "loss"
                }
            };
            *events.entry(kind).or_default() += 1;
        }
    }
}

/// Where the facts come from and where they are published.
pub struct FactSource {
    pub location: Option<StoreLocation>,
    current: RwLock<Arc<Facts>>,
    audit: RwLock<Arc<AuditView>>,
    /// The byte-counter dump `porthole top` uses too, its netlink channel
    /// kept between refreshes (both threads refresh, one at a time).
    counters: Mutex<CounterSampler>,
    /// Run the audit (off in unit tests and the benchmark).
    pub audit_enabled: bool,
}

impl FactSource {
    pub fn new(location: Option<StoreLocation>, audit_enabled: bool) -> Self {
        FactSource {
            location,
            current: RwLock::new(Arc::new(Facts::default())),
            audit: RwLock::new(Arc::new(AuditView::default())),
            counters: Mutex::new(CounterSampler::new()),
            audit_enabled,
        }
    }

    /// The latest facts.
    pub fn current(&self) -> Arc<Facts> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Publishes facts (the refresher, tests and the benchmark).
    pub fn publish(&self, facts: Facts) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(facts);
    }

    /// Reads everything once and publishes it.
    pub fn refresh(&self) {
        let started = Instant::now();
        let now = store::now_micros();
        let (snapshot, inventory_note) = match live_snapshot() {
            Ok(snapshot) => (snapshot, None),
            Err(error) => (Snapshot::default(), Some(error.to_string())),
        };
        let open = {
            let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            open_connections(&snapshot, &mut counters)
        };
        let store = match &self.location {
            Some(location) => read_store(location, now, std::process::id()),
            None => StoreView { note: Some("no history store".into()), ..StoreView::default() },
        };
        let audit = Arc::clone(&self.audit.read().unwrap_or_else(|e| e.into_inner()));
        self.publish(Facts {
            at: now,
            snapshot,
            inventory_note,
            open,
            audit,
            store,
            refresh_seconds: started.elapsed().as_secs_f64(),
        });
    }

    /// Audits the current listeners (passive probes only) and keeps the
    /// result for the next refresh; returns the listeners audited.
    pub fn run_audit(&self) -> HashSet<(Protocol, u16, Option<u64>)> {
        let query = Query { unix: false, listeners_only: true, ..Query::default() };
        let Ok(snapshot) = inventory::snapshot(&query) else { return HashSet::new() };
        let audited = listener_keys(&snapshot);
        let options = AuditOptions { active: false, parallelism: 16, ..AuditOptions::default() };
        let report = audit::audit(&Machine, &snapshot, &options);
        let view = AuditView {
            at: Some(store::now_micros()),
            findings: report.findings,
            firewall: HostFirewall::read(&Machine),
        };
        *self.audit.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(view);
        audited
    }

    /// Starts the refresher and audit threads; both stop when `stop` is
    /// set (checked at least every 100 ms).
    pub fn spawn(self: &Arc<Self>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let source = Arc::clone(self);
        let stop_refresh = Arc::clone(&stop);
        std::thread::Builder::new().name("dashboard-facts".into()).spawn(move || {
            while !stop_refresh.load(Ordering::Relaxed) {
                source.refresh();
                sleep_unless(&stop_refresh, REFRESH);
            }
        })?;
        if self.audit_enabled {
            let source = Arc::clone(self);
            std::thread::Builder::new().name("dashboard-audit".into()).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let audited = source.run_audit();
                    source.refresh();
                    // Again after the interval, or as soon as a listener
                    // that was not audited shows up (a new service's
                    // findings should not wait a minute).
                    let until = Instant::now() + AUDIT_EVERY;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        sleep_unless(&stop, Duration::from_secs(1));
                        if !listener_keys(&source.current().snapshot).is_subset(&audited) {
                            break;
                        }
                    }
                }
            })?;
        }
        Ok(())
    }
}

/// The listeners of a snapshot, as the audit groups them.
fn listener_keys(snapshot: &Snapshot) -> HashSet<(Protocol, u16, Option<u64>)> {
    snapshot
        .sockets
        .iter()
        .filter(|s| s.is_listener() && s.local.is_some())
        .map(|s| (s.protocol, s.local_port(), s.net_namespace))
        .collect()
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
    }
}

fn live_snapshot() -> Result<Snapshot, inventory::InventoryError> {
    let query = Query { unix: false, listeners_only: false, ..Query::default() };
    inventory::snapshot(&query)
}

/// Established TCP connections whose server end is a local listener,
/// with both ends' processes and the server end's byte counters (sampled
/// with `counters`).
pub fn open_connections(snapshot: &Snapshot, counters: &mut CounterSampler) -> Vec<OpenConnection> {
    let listening: HashSet<(u16, Option<u64>)> = snapshot
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.is_listener())
        .map(|s| (s.local_port(), s.net_namespace))
        .collect();
    let mut ends: HashMap<(SocketAddr, SocketAddr, Option<u64>), &crate::model::Socket> =
        HashMap::new();
    for socket in &snapshot.sockets {
        if let (Some(local), Some(remote)) = (socket.local, socket.remote) {
            if socket.protocol == Protocol::Tcp && socket.state == SocketState::Established {
                ends.insert((local, remote, socket.net_namespace), socket);
            }
        }
    }
    // Only the server ends are counted: the kernel fills tcp_info for the
    // sockets on listening ports and skips the client ends.
    let mut local_ports: Vec<u16> = listening.iter().map(|(port, _)| *port).collect();
    local_ports.sort_unstable();
    local_ports.dedup();
    let wanted = CounterPorts { local_ports, remote_ports: Vec::new() };
    let mut bytes: HashMap<u64, (u64, u64)> = HashMap::new();
    // A failed dump leaves the counters at zero; the connections still show.
    let _ = counters.sample(&wanted, |c| {
        bytes.insert(c.cookie, (c.bytes_received, c.bytes_acked));
    });
    let mut open: Vec<OpenConnection> = ends
        .iter()
        .filter(|((local, _, netns), _)| listening.contains(&(local.port(), *netns)))
        .map(|((local, remote, netns), socket)| {
            let client = ends.get(&(*remote, *local, *netns));
            let (bytes_in, bytes_out) = bytes.get(&socket.cookie).copied().unwrap_or_default();
            OpenConnection {
                server: *local,
                client: *remote,
                client_pids: client.map(|c| c.owners.clone()).unwrap_or_default(),
                server_pids: socket.owners.clone(),
                bytes_in,
                bytes_out,
            }
        })
        // A connection between two local listeners' ports (rare) shows
        // up from both ends; the end whose peer is the ephemeral port is
        // the server.
        .filter(|c| {
            !(listening.contains(&(c.client.port(), None)) && c.client.port() < c.server.port())
        })
        .collect();
    open.sort_by_key(|c| (c.server.port(), c.client));
    open
}

/// Reads what the store knows; errors become a note (the page still shows
/// the live view).
/// What the store says, without the connections of `own_pid` (this
/// process: the audit's probes).
fn read_store(location: &StoreLocation, now: UnixMicros, own_pid: u32) -> StoreView {
    let started = Instant::now();
    let mut view = match read_store_inner(location, now, own_pid) {
        Ok(view) => view,
        Err(error) => StoreView { note: Some(error.to_string()), ..StoreView::default() },
    };
    if let StoreLocation::Sqlite(path) = location {
        let mut size = 0;
        let mut any = false;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            if let Ok(metadata) = std::fs::metadata(&name) {
                size += metadata.len();
                any = true;
            }
        }
        view.size_bytes = any.then_some(size);
    }
    view.query_seconds = started.elapsed().as_secs_f64();
    view
}

fn read_store_inner(
    location: &StoreLocation,
    now: UnixMicros,
    own_pid: u32,
) -> Result<StoreView, StoreError> {
    let others = |mut clients: Vec<ClientSummary>| {
        clients.retain(|c| c.client.as_ref().is_none_or(|process| process.pid != own_pid));
        clients
    };
    let mut reader = store::open_reader(location)?;
    let mut view = StoreView { readable: true, ..StoreView::default() };
    let window = |span: Duration| HistoryQuery {
        since: Some(now - span.as_micros() as i64),
        limit: CLIENT_GROUPS,
        ..HistoryQuery::default()
    };
    view.changes = reader.listeners(&window(CHANGE_WINDOW), Order::NewestFirst, CHANGES_KEPT)?;
    // The store names this namespace by its inode, the live inventory by
    // none: the changes are compared with live sockets as the latter.
    let here = store::own_net_namespace();
    for change in &mut view.changes {
        if change.event.net_namespace == here {
            change.event.net_namespace = None;
        }
    }
    view.recent_clients =
        others(reader.clients(&window(CONNECTION_WINDOW), CLIENT_GROUPS, false)?);
    view.recent_programs = store::by_program(view.recent_clients.clone());
    let sessions =
        reader.sessions(&HistoryQuery { since: Some(now), ..HistoryQuery::default() })?;
    view.session = sessions.into_iter().max_by_key(|s| s.at);
    let session_start = view.session.as_ref().map(|s| s.at);
    let since_start =
        HistoryQuery { since: session_start, limit: CLIENT_GROUPS, ..HistoryQuery::default() };
    view.session_totals =
        totals_by_port(&others(reader.clients(&since_start, CLIENT_GROUPS, false)?));
    for loss in reader.losses(&since_start)? {
        *view
            .session_losses
            .entry(crate::model::history::loss_kind_name(loss.kind))
            .or_default() += loss.count;
    }
    // New clients of sensitive ports: seen in the change window, never
    // before it.
    let day = window(CHANGE_WINDOW);
    let recent = others(reader.clients(&day, CLIENT_GROUPS, false)?);
    let mut ports: Vec<u16> =
        recent.iter().map(|c| c.server.port()).filter(|port| sensitive(*port).is_some()).collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let before = HistoryQuery {
            port: Some(port),
            until: day.since,
            limit: CLIENT_GROUPS,
            ..HistoryQuery::default()
        };
        let known: HashSet<String> =
            reader.clients(&before, CLIENT_GROUPS, false)?.iter().map(client_key).collect();
        view.new_sensitive_clients.extend(
            recent
                .iter()
                .filter(|c| c.server.port() == port && !known.contains(&client_key(c)))
                .cloned(),
        );
    }
    view.new_sensitive_clients = store::by_program(view.new_sensitive_clients);
    view.new_sensitive_clients.sort_by_key(|c| std::cmp::Reverse(c.first_at));
    Ok(view)
}

/// Who a client is across restarts: its executable (or name), else its uid.
pub fn client_key(summary: &ClientSummary) -> String {
    match &summary.client {
        Some(process) => process.exe.clone().unwrap_or_else(|| process.name.clone()),
        None => format!("uid:{}", summary.client_uid.map_or(-1, i64::from)),
    }
}

/// Adds client groups up per server port.
pub fn totals_by_port<'a>(
    clients: impl IntoIterator<Item = &'a ClientSummary>,
) -> BTreeMap<u16, PortTotals> {
    let mut totals: BTreeMap<u16, PortTotals> = BTreeMap::new();
    // A client is a process (pid, start time) or, unnamed, a uid.
    type Client = (u32, Option<u64>, Option<u32>);
    let mut distinct: BTreeMap<u16, HashSet<Client>> = BTreeMap::new();
    for summary in clients {
        let port = summary.server.port();
        let entry = totals.entry(port).or_default();
        entry.connections += summary.connections;
        entry.bytes_in += summary.bytes_client_to_server;
        entry.bytes_out += summary.bytes_server_to_client;
        let identity = match &summary.client {
            Some(process) => (process.pid, process.start_time, None),
            None => (0, None, summary.client_uid),
        };
        distinct.entry(port).or_default().insert(identity);
    }
    for (port, set) in distinct {
        if let Some(entry) = totals.get_mut(&port) {
            entry.distinct_clients = set.len() as u64;
        }
    }
    totals
}

/// Loss kinds in the order `/metrics` lists them.
pub const LOSS_KINDS: &[LossKind] = &[
    LossKind::NetlinkOverflow,
    LossKind::RingBufferFull,
    LossKind::UnmatchedCookie,
    LossKind::UnknownProcess,
    LossKind::StoreBacklog,
    LossKind::ProgramSkipped,
    LossKind::UnseenListener,
];
