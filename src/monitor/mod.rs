//! The capture engine of `porthole monitor`: who listened on which port and
//! which process connected to which local service, recorded as
//! [`MonitorEvent`]s and handed to an [`EventSink`] in batches.
//!
//! # Sources
//! - **Listeners**: LISTEN-only sock_diag dumps, repeated every `interval`
//!   and every 10 ms while the process connector reports new processes
//!   ([`listeners`]); in eBPF mode also the pid that called listen().
//! - **Connections**: the sock_diag destroy multicast, one subscription per
//!   network namespace, reports every closed TCP socket with 4-tuple, uid,
//!   bytes and cookie ([`connections`] pairs the two ends). Processes come
//!   from eBPF (`connected`/`accepted`, both ends of every connection) or,
//!   in netlink mode, from established-socket dumps plus a `/proc` scan every
//!   `interval` (only connections that lived that long get a client pid).
//! - **Processes**: the process connector keeps exited processes nameable
//!   ([`processes`]).
//!
//! # Capture mode
//! [`Recorder::start`] probes eBPF (load, attach, ring buffer) under
//! `--capture auto` and falls back to netlink capture with the reason,
//! never failing because eBPF is missing; `--capture ebpf` makes that
//! failure an error. The choice and its reason are the first event.
//!
//! # Lifecycle
//! [`Recorder::run`] is one thread polling every subscription. It returns
//! when `shutdown` becomes true (the command sets it from SIGINT/SIGTERM),
//! after emitting the connections still waiting for a partner and flushing
//! the last batch; or when the sink fails, which stops recording loudly.
//! Batches go out at most [`BATCH_LATENCY`] after their first event, or as
//! soon as [`BATCH_SIZE`] events are waiting. Every loss — netlink
//! overflows, ring-buffer drops, skipped eBPF runs, unmatched closes,
//! unknown processes — is emitted as a [`LossRecord`] with the batch.

pub mod connections;
pub mod listeners;
pub mod processes;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::inventory::destroy::DestroySubscription;
use crate::inventory::ebpf::{BpfEvent, BpfEventKind, EbpfCapture, EbpfError};
use crate::inventory::netlink::ClosedSocket;
use crate::inventory::proc_events::{ProcConnector, ProcEvent};
use crate::inventory::{self, InventoryError, NamespaceSelection, Query};
use crate::model::monitor::{
    CaptureMode, EventSink, LossKind, LossRecord, MonitorEvent, ProcessIdentity, SinkError,
    UnixMicros,
};
use crate::model::Socket;
use connections::{Attribution, ConnectionJoiner, EndKey, Role};
use listeners::ListenerTracker;
use processes::ProcessTable;

/// Longest time an event waits before its batch is written.
pub const BATCH_LATENCY: Duration = Duration::from_secs(1);
/// A batch this large is written at once.
pub const BATCH_SIZE: usize = 4096;
/// Listener dump cadence while processes are starting.
pub const HURRIED_DUMPS: Duration = Duration::from_millis(10);
/// How long after a fork or exec listeners are dumped at that cadence.
pub const HURRY_FOR: Duration = Duration::from_millis(500);
/// In eBPF mode established sockets are only dumped to keep the owners of
/// long-lived connections from expiring.
pub const EBPF_RECONCILE: Duration = Duration::from_secs(30);
/// Closes wait this long before they are paired, so that the close of a
/// listener that lived between two dumps (read in the same or a later
/// batch of notifications) is known when its connections are judged.
pub const CLOSE_DELAY: Duration = Duration::from_millis(300);
/// Longest sleep, so shutdown is noticed promptly even without a signal
/// interrupting `poll`.
pub const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Which capture the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureChoice {
    /// eBPF when it works here, netlink otherwise.
    #[default]
    Auto,
    Ebpf,
    Netlink,
}

/// What to record and how often to look.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Listener dump and (netlink mode) connection attribution interval.
    pub interval: Duration,
    pub namespaces: NamespaceSelection,
    pub capture: CaptureChoice,
}

/// Errors of the capture engine.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("eBPF capture was requested but is unavailable")]
    Ebpf(#[source] EbpfError),
    #[error("subscribing to socket destroy notifications (needs CAP_NET_ADMIN, i.e. root)")]
    Subscribe(#[source] InventoryError),
    #[error("reading sockets")]
    Inventory(#[source] InventoryError),
    #[error("waiting for kernel events")]
    Poll(#[source] std::io::Error),
    #[error("writing a batch of events")]
    Sink(#[source] SinkError),
}

/// A destroy subscription and the namespace it watches.
struct Subscription {
    /// `None` for the recorder's own namespace.
    net_namespace: Option<u64>,
    destroy: DestroySubscription,
    overflows: u64,
}

/// Loss totals already reported, to emit only increases.
#[derive(Debug, Default)]
struct Reported {
    ring_buffer_full: u64,
    recursion_misses: u64,
}

/// The running recorder. Fields are dropped in order: eBPF programs detach
/// and netlink sockets close when it goes away.
pub struct Recorder {
    mode: CaptureMode,
    reason: String,
    config: MonitorConfig,
    ebpf: Option<EbpfCapture>,
    connector: Option<ProcConnector>,
    /// Why the process connector could not be opened.
    connector_error: Option<String>,
    connector_overflows: u64,
    subscriptions: Vec<Subscription>,
    /// Inode of the recorder's own network namespace.
    own_namespace: u64,
    processes: ProcessTable,
    listeners: ListenerTracker,
    joiner: ConnectionJoiner,
    /// Realtime minus monotonic, microseconds: converts eBPF timestamps.
    monotonic_to_realtime: i64,
    batch: Vec<MonitorEvent>,
    batch_started: Option<Instant>,
    reported: Reported,
    /// Closed connection ends waiting [`CLOSE_DELAY`], oldest first.
    delayed: std::collections::VecDeque<DelayedClose>,
    /// Start times of recent reads of the sources, oldest first, to know up
    /// to when every close has been paired (see [`Recorder::paired_through`]).
    collects: std::collections::VecDeque<UnixMicros>,
    /// Inodes of established sockets a `/proc` scan could not name (their
    /// owner is in another pid namespace or gone): not scanned for again
    /// while they stay open, so an idle recorder does not scan every
    /// interval.
    unnameable: std::collections::HashSet<u64>,
}

/// A connection end's close, held for [`CLOSE_DELAY`].
struct DelayedClose {
    due: Instant,
    net_namespace: Option<u64>,
    end: ClosedSocket,
    at: UnixMicros,
}

/// What the recorder did, for the command's closing line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSummary {
    pub listener_events: u64,
    pub connections: u64,
    pub losses: u64,
}

impl Recorder {
    /// Chooses the capture mode and opens every subscription.
    pub fn start(config: MonitorConfig) -> Result<Self, MonitorError> {
        let (ebpf, mode, reason) = match config.capture {
            CaptureChoice::Netlink => {
                (None, CaptureMode::Netlink, "netlink capture requested".to_string())
            }
            CaptureChoice::Ebpf => {
                let capture = EbpfCapture::start().map_err(MonitorError::Ebpf)?;
                (Some(capture), CaptureMode::Ebpf, "eBPF capture requested".to_string())
            }
            CaptureChoice::Auto => match EbpfCapture::start() {
                Ok(capture) => (
                    Some(capture),
                    CaptureMode::Ebpf,
                    "eBPF tracepoints sock:inet_sock_set_state and \
                     syscalls:sys_exit_accept4 attached"
                        .to_string(),
                ),
                Err(error) => (
                    None,
                    CaptureMode::Netlink,
                    format!("eBPF unavailable: {}", error_chain(&error)),
                ),
            },
        };
        let own_namespace =
            crate::inventory::system::System::net_namespace(&crate::inventory::system::Machine);
        let destroy = DestroySubscription::open().map_err(MonitorError::Subscribe)?;
        let subscriptions = vec![Subscription { net_namespace: None, destroy, overflows: 0 }];
        // The connector only makes names survive exits and listeners be
        // caught sooner; without it (no privilege) recording goes on.
        let (connector, connector_error) = match ProcConnector::open_in_initial_namespace() {
            Ok(connector) => (Some(connector), None),
            Err(error) => (None, Some(error_chain(&error))),
        };
        let processes = ProcessTable::default();
        let accepts_observed = ebpf.is_some();
        let mut recorder = Recorder {
            mode,
            reason,
            config,
            ebpf,
            connector,
            connector_error,
            connector_overflows: 0,
            subscriptions,
            own_namespace,
            processes,
            listeners: ListenerTracker::default(),
            joiner: ConnectionJoiner::new(accepts_observed),
            monotonic_to_realtime: monotonic_to_realtime(),
            batch: Vec::new(),
            batch_started: None,
            reported: Reported::default(),
            delayed: std::collections::VecDeque::new(),
            collects: std::collections::VecDeque::new(),
            unnameable: std::collections::HashSet::new(),
        };
        recorder.sync_namespaces();
        Ok(recorder)
    }

    pub fn mode(&self) -> CaptureMode {
        self.mode
    }

    /// Why this mode was chosen.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Receive buffer granted to the destroy subscription, in bytes.
    pub fn receive_buffer(&self) -> usize {
        self.subscriptions.first().map_or(0, |s| s.destroy.receive_buffer)
    }

    /// Why the process connector is not active, when it is not.
    pub fn process_events_error(&self) -> Option<&str> {
        self.connector_error.as_deref()
    }

    /// Records until `shutdown` is set; see the module docs.
    pub fn run(
        mut self,
        sink: &mut dyn EventSink,
        shutdown: &AtomicBool,
    ) -> Result<MonitorSummary, MonitorError> {
        let mut summary = MonitorSummary::default();
        let now = unix_micros();
        self.push(MonitorEvent::Started { at: now, mode: self.mode, reason: self.reason.clone() });
        // Startup reconciliation: every existing listener, and the owners
        // of connections that are already open.
        self.dump_listeners(&mut summary)?;
        self.dump_connections(true)?;

        let reconcile_every = match self.mode {
            CaptureMode::Ebpf => EBPF_RECONCILE,
            CaptureMode::Netlink => self.config.interval,
        };
        let mut next_listener_dump = Instant::now() + self.config.interval;
        let mut next_reconcile = Instant::now() + reconcile_every;
        let mut hurry_until = Instant::now();
        let mut next_expire = Instant::now();

        while !shutdown.load(Ordering::Relaxed) {
            let next_pairing = self.delayed.front().map(|close| close.due);
            let wake = [
                Some(next_listener_dump),
                Some(next_reconcile),
                self.flush_deadline(),
                next_pairing,
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("at least one deadline");
            let timeout = wake.saturating_duration_since(Instant::now()).min(MAX_SLEEP);
            crate::sys::poll::readable(&self.fds(), timeout).map_err(MonitorError::Poll)?;

            if self.collect(&mut summary)? {
                hurry_until = Instant::now() + HURRY_FOR;
                next_listener_dump = next_listener_dump.min(Instant::now() + HURRIED_DUMPS);
            }
            self.pair_delayed(Instant::now(), &mut summary);

            let instant = Instant::now();
            if instant >= next_listener_dump {
                self.dump_listeners(&mut summary)?;
                let step = if instant < hurry_until { HURRIED_DUMPS } else { self.config.interval };
                next_listener_dump = instant + step;
            }
            if instant >= next_reconcile {
                self.sync_namespaces();
                self.dump_connections(self.mode == CaptureMode::Netlink)?;
                self.processes.expire(instant);
                next_reconcile = instant + reconcile_every;
            }
            if instant >= next_expire {
                let now = unix_micros();
                let paired_through = self.paired_through();
                let records = self.joiner.expire(now, paired_through, false, &self.listeners);
                self.push_connections(records, &mut summary);
                self.listeners.expire(now);
                next_expire = instant + Duration::from_millis(100);
            }
            if self.flush_deadline().is_some_and(|deadline| instant >= deadline)
                || self.batch.len() >= BATCH_SIZE
            {
                self.flush(sink, &mut summary)?;
            }
        }
        // What the kernel queued before the signal still belongs to the
        // record: read it, then emit everything that waits for a partner.
        self.collect(&mut summary)?;
        self.pair_delayed(Instant::now() + CLOSE_DELAY, &mut summary);
        let now = unix_micros();
        let records = self.joiner.expire(now, now, true, &self.listeners);
        self.push_connections(records, &mut summary);
        self.flush(sink, &mut summary)?;
        Ok(summary)
    }

    /// Reads every source once, without blocking, and queues what it read.
    /// Returns whether processes started (listeners are then dumped more
    /// often).
    fn collect(&mut self, summary: &mut MonitorSummary) -> Result<bool, MonitorError> {
        // Closes are read before eBPF events: every connect and accept of a
        // socket happened before its close, so draining the ring buffer
        // second sees the attribution of every close read first.
        // Every close the kernel sent before this instant is read below.
        let closed_at = unix_micros();
        self.collects.push_back(closed_at);
        let mut closed: Vec<(Option<u64>, ClosedSocket)> = Vec::new();
        let mut scratch = Vec::new();
        for subscription in &mut self.subscriptions {
            scratch.clear();
            let drained =
                subscription.destroy.drain(&mut scratch).map_err(MonitorError::Inventory)?;
            subscription.overflows += drained.overflows;
            let label = subscription.net_namespace;
            closed.extend(scratch.drain(..).map(|end| (label, end)));
        }
        let mut proc_events = Vec::new();
        if let Some(connector) = &mut self.connector {
            self.connector_overflows += connector.drain(&mut proc_events).unwrap_or(0);
        }
        self.processes.apply(&proc_events, Instant::now());
        let started = proc_events.iter().any(|e| !matches!(e, ProcEvent::Exit { .. }));
        let mut bpf_events = Vec::new();
        if let Some(ebpf) = &mut self.ebpf {
            ebpf.drain(&mut bpf_events);
        }
        for event in bpf_events {
            self.on_bpf_event(event, summary);
        }
        let due = Instant::now() + CLOSE_DELAY;
        for (net_namespace, end) in closed {
            if end.remote.port() == 0 {
                if end.local.port() != 0 {
                    self.listeners.socket_unbound(net_namespace, end.local, closed_at);
                }
                continue;
            }
            self.delayed.push_back(DelayedClose { due, net_namespace, end, at: closed_at });
        }
        Ok(started)
    }

    /// The start of the latest read whose closes have all been handed to
    /// the joiner: every close the kernel sent before it has been paired.
    fn paired_through(&mut self) -> UnixMicros {
        let pending = self.delayed.front().map(|close| close.at);
        let fully_paired = |start: UnixMicros| pending.is_none_or(|first| start < first);
        while self.collects.len() >= 2 && fully_paired(self.collects[1]) {
            self.collects.pop_front();
        }
        match self.collects.front() {
            Some(&start) if fully_paired(start) => start,
            _ => UnixMicros::MIN,
        }
    }

    /// Hands closes whose delay has passed to the joiner.
    fn pair_delayed(&mut self, now: Instant, summary: &mut MonitorSummary) {
        while self.delayed.front().is_some_and(|close| close.due <= now) {
            let Some(close) = self.delayed.pop_front() else { break };
            if let Some(record) =
                self.joiner.closed(close.net_namespace, close.end, close.at, &self.listeners)
            {
                summary.connections += 1;
                self.push(MonitorEvent::Connection(Box::new(record)));
            }
        }
    }

    fn fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> =
            self.subscriptions.iter().map(|s| s.destroy.as_raw_fd()).collect();
        if let Some(connector) = &self.connector {
            fds.push(connector.as_raw_fd());
        }
        if let Some(ebpf) = &self.ebpf {
            fds.push(ebpf.as_raw_fd());
        }
        fds
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.batch_started.map(|started| started + BATCH_LATENCY)
    }

    fn push(&mut self, event: MonitorEvent) {
        if self.batch.is_empty() {
            self.batch_started = Some(Instant::now());
        }
        self.batch.push(event);
    }

    fn push_connections(
        &mut self,
        records: Vec<crate::model::monitor::ConnectionRecord>,
        summary: &mut MonitorSummary,
    ) {
        for record in records {
            summary.connections += 1;
            self.push(MonitorEvent::Connection(Box::new(record)));
        }
    }

    /// Appends the losses counted since the last batch and writes it.
    fn flush(
        &mut self,
        sink: &mut dyn EventSink,
        summary: &mut MonitorSummary,
    ) -> Result<(), MonitorError> {
        let at = unix_micros();
        let mut losses: Vec<(LossKind, u64, Option<u64>)> = Vec::new();
        for subscription in &mut self.subscriptions {
            let count = std::mem::take(&mut subscription.overflows);
            losses.push((LossKind::NetlinkOverflow, count, subscription.net_namespace));
        }
        losses.push((
            LossKind::NetlinkOverflow,
            std::mem::take(&mut self.connector_overflows),
            None,
        ));
        if let Some(ebpf) = &self.ebpf {
            let totals = ebpf.losses();
            losses.push((
                LossKind::RingBufferFull,
                totals.ring_buffer_full.saturating_sub(self.reported.ring_buffer_full),
                None,
            ));
            losses.push((
                LossKind::ProgramSkipped,
                totals.recursion_misses.saturating_sub(self.reported.recursion_misses),
                None,
            ));
            self.reported.ring_buffer_full = totals.ring_buffer_full;
            self.reported.recursion_misses = totals.recursion_misses;
        }
        for (kind, count) in self.joiner.losses.take() {
            losses.push((kind, count, None));
        }
        for (kind, count, net_namespace) in losses {
            if count > 0 {
                summary.losses += count;
                self.push(MonitorEvent::Loss(LossRecord { at, kind, count, net_namespace }));
            }
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = sink.write_batch(&self.batch);
        self.batch.clear();
        self.batch_started = None;
        result.map_err(MonitorError::Sink)
    }

    /// `None` for the recorder's own namespace, else the inode.
    fn label(&self, inode: u64) -> Option<u64> {
        (inode != self.own_namespace).then_some(inode)
    }

    fn covers(&self, net_namespace: Option<u64>) -> bool {
        net_namespace.is_none() || self.config.namespaces == NamespaceSelection::All
    }

    /// Opens destroy subscriptions for new namespaces and closes those of
    /// namespaces that are gone (holding their socket would keep a deleted
    /// namespace alive).
    fn sync_namespaces(&mut self) {
        if self.config.namespaces != NamespaceSelection::All {
            return;
        }
        let (_, found) = inventory::namespaces::list();
        let present: HashMap<Option<u64>, String> =
            found.into_iter().map(|(inode, handle)| (self.label(inode), handle)).collect();
        self.subscriptions
            .retain(|s| s.net_namespace.is_none() || present.contains_key(&s.net_namespace));
        for (label, handle) in present {
            if label.is_none() || self.subscriptions.iter().any(|s| s.net_namespace == label) {
                continue;
            }
            // A namespace that cannot be entered is reported by the next
            // listener dump as unreadable; its connections stay unseen.
            if let Ok(destroy) = DestroySubscription::open_in(&handle) {
                self.subscriptions.push(Subscription {
                    net_namespace: label,
                    destroy,
                    overflows: 0,
                });
            }
        }
    }

    /// Sockets of the selected namespaces, labelled `None` for our own.
    fn enumerate(&self, query: Query) -> Result<Vec<Socket>, MonitorError> {
        let mut sockets = match self.config.namespaces {
            NamespaceSelection::Current => {
                inventory::enumerate_current(&query).map_err(MonitorError::Inventory)?.0
            }
            NamespaceSelection::All => {
                let mut visibility = crate::model::Visibility::default();
                inventory::namespaces::enumerate_all(&query, &mut visibility)
                    .map_err(MonitorError::Inventory)?
                    .sockets
            }
        };
        for socket in &mut sockets {
            socket.net_namespace = socket.net_namespace.and_then(|inode| self.label(inode));
        }
        Ok(sockets)
    }

    fn dump_listeners(&mut self, summary: &mut MonitorSummary) -> Result<(), MonitorError> {
        let query = Query { owners: false, ..Query::default() };
        let sockets = self.enumerate(query)?;
        let now = unix_micros();
        let all = self.config.namespaces == NamespaceSelection::All;
        let covered = move |namespace: Option<u64>| namespace.is_none() || all;
        let processes = &mut self.processes;
        let mut owners = |inodes: &[u64]| owners_of(inodes, processes);
        let events = self.listeners.observe_dump(&sockets, &covered, now, &mut owners);
        for event in events {
            summary.listener_events += 1;
            self.push(MonitorEvent::Listener(event));
        }
        Ok(())
    }

    /// Dumps established TCP sockets: keeps known owners from expiring and,
    /// when `attribute` is set, names the owners of new ones (`/proc` scan).
    fn dump_connections(&mut self, attribute: bool) -> Result<(), MonitorError> {
        let query = Query {
            udp: false,
            unix: false,
            listeners_only: false,
            owners: false,
            ..Query::default()
        };
        let sockets = self.enumerate(query)?;
        let now = unix_micros();
        let mut unnamed: Vec<(EndKey, u64)> = Vec::new();
        let mut open = std::collections::HashSet::with_capacity(sockets.len());
        for socket in &sockets {
            let (Some(local), Some(remote)) = (socket.local, socket.remote) else { continue };
            if remote.port() == 0 || socket.inode == 0 {
                continue;
            }
            open.insert(socket.inode);
            let key = EndKey::new(socket.net_namespace, local, remote);
            if self.joiner.is_attributed(&key) {
                self.joiner.refresh(&key, now);
            } else if attribute && !self.unnameable.contains(&socket.inode) {
                unnamed.push((key, socket.inode));
            }
        }
        self.unnameable.retain(|inode| open.contains(inode));
        if unnamed.is_empty() {
            return Ok(());
        }
        let inodes: Vec<u64> = unnamed.iter().map(|(_, inode)| *inode).collect();
        let mut named = owners_of(&inodes, &mut self.processes);
        for (key, inode) in unnamed {
            let Some(process) = named.remove(&inode).and_then(|owners| owners.into_iter().next())
            else {
                self.unnameable.insert(inode);
                continue;
            };
            let role = if self.listeners_serve(&key) { Some(Role::Server) } else { None };
            self.joiner.attribute(key, Attribution { process, role, since: now, cookie: None });
        }
        Ok(())
    }

    fn listeners_serve(&self, key: &EndKey) -> bool {
        use connections::ListenerIndex;
        self.listeners.serves(key.net_namespace, key.local)
    }

    fn on_bpf_event(&mut self, event: BpfEvent, summary: &mut MonitorSummary) {
        let net_namespace = self.label(event.net_namespace);
        if !self.covers(net_namespace) {
            return;
        }
        let at =
            self.monotonic_to_realtime + i64::try_from(event.at_monotonic_ns / 1000).unwrap_or(0);
        let process =
            self.processes.identify(event.pid, event.start_boottime_ns, &event.comm, event.uid);
        let key = EndKey::new(net_namespace, event.local, event.remote);
        match event.kind {
            BpfEventKind::Connected | BpfEventKind::Accepted => {
                let role =
                    if event.kind == BpfEventKind::Connected { Role::Client } else { Role::Server };
                let attribution = Attribution {
                    process,
                    role: Some(role),
                    since: at,
                    cookie: Some(event.cookie),
                };
                self.joiner.attribute(key, attribution);
            }
            BpfEventKind::Listen => {
                if let Some(listener) = self.listeners.listened(
                    net_namespace,
                    event.cookie,
                    event.local,
                    event.uid,
                    process,
                    at,
                ) {
                    summary.listener_events += 1;
                    self.push(MonitorEvent::Listener(listener));
                }
            }
            BpfEventKind::ListenClosed => {
                if let Some(listener) =
                    self.listeners.listen_closed(net_namespace, event.cookie, at)
                {
                    summary.listener_events += 1;
                    self.push(MonitorEvent::Listener(listener));
                }
            }
        }
    }
}

/// Owners of socket inodes, named through the process table.
fn owners_of(inodes: &[u64], processes: &mut ProcessTable) -> HashMap<u64, Vec<ProcessIdentity>> {
    let mut named = HashMap::new();
    if inodes.is_empty() {
        return named;
    }
    let scan = inventory::owners::scan(inodes);
    for &inode in inodes {
        // The owner is alive now: its current start time keeps a stale
        // entry of an earlier process with the same pid from being used.
        let owners: Vec<ProcessIdentity> = scan
            .owners
            .pids(inode)
            .filter_map(|pid| {
                let ticks = inventory::process::read_stat(pid).map(|stat| stat.start_ticks);
                processes.lookup(pid, ticks)
            })
            .collect();
        if !owners.is_empty() {
            named.insert(inode, owners);
        }
    }
    named
}

/// Microseconds since the Unix epoch, now.
pub fn unix_micros() -> UnixMicros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

/// Realtime minus CLOCK_MONOTONIC, in microseconds.
fn monotonic_to_realtime() -> i64 {
    let monotonic = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let monotonic_us = monotonic.tv_sec * 1_000_000 + monotonic.tv_nsec / 1000;
    unix_micros() - monotonic_us
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
