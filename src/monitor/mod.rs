//! The capture engine of `porthole monitor`: who listened on which port and
//! which process connected to which local service, recorded as
//! [`MonitorEvent`]s and handed to an [`EventSink`] in batches.
//!
//! # Sources
//! - **Listeners**: LISTEN-only sock_diag dumps, every 10 ms while the
//!   process connector reports new processes in a recorded namespace, and
//!   otherwise every `interval` only when the namespace's socket counters
//!   moved ([`activity`]), with a full look every [`FULL_RECONCILE`]
//!   ([`listeners`]); in eBPF mode also the pid that called listen(), and
//!   the TCP counts (which every connection moves) no longer ask for a
//!   dump, since the programs report each TCP listen and its close —
//!   unless the ring buffer dropped events since the last look.
//! - **Connections**: every closed TCP socket with 4-tuple, uid, bytes and
//!   cookie ([`connections`] pairs the two ends). In eBPF mode the programs
//!   report it at the transition to CLOSE, and name the processes of both
//!   ends (the client inside connect(); the server at its close() or
//!   shutdown(), which alone make the FIN_WAIT1 and LAST_ACK transitions).
//!   In netlink mode it is the sock_diag destroy multicast, one
//!   subscription per network namespace, and the processes come from
//!   established-socket dumps plus a `/proc` scan every
//!   `interval` in which connections were opened (only connections that
//!   lived that long get a client pid). eBPF mode does not subscribe to the
//!   destroy multicast: while anyone does, the kernel queues a work item for
//!   every TCP socket destroyed on the machine, which every connection pays
//!   for in latency.
//! - **Processes**: the process connector keeps exited processes nameable
//!   ([`processes`]).
//! - **Connections still open**: a dump of connected TCP sockets with their
//!   `tcp_info` (server end's cookie and bytes so far) at start, every
//!   [`MonitorConfig::open_report_every`] and at stop, reported as records
//!   without an end (`Recorder::report_open`); the start's dump also becomes
//!   an [`OpenSnapshot`], which ends the rows an earlier run left open for
//!   connections gone since. A close later updates the same row: both carry
//!   the server end's cookie.
//!
//! # Capture mode
//! [`Recorder::start`] probes eBPF (load, attach, ring buffer) under
//! `--capture auto` and falls back to netlink capture with the reason,
//! never failing because eBPF is missing; `--capture ebpf` makes that
//! failure an error. The choice and its reason are the first event
//! (`choose_capture`: a kernel without BTF is not even tried, and a failed
//! load is explained by lockdown or missing capabilities when the machine
//! shows either).
//!
//! # The machine handle
//! Everything the recorder *reasons* about comes through the
//! [`System`] handle it is given: the evidence behind the capture mode,
//! process details and the owners of sockets (who is a listener's or a
//! connection's process), the network namespaces to subscribe in and which
//! of them a new process lives in, and the socket dumps. The event streams
//! themselves — destroy multicast, process connector, eBPF ring buffer —
//! are opened from `inventory` directly: they are sources, not facts to
//! judge, and a scripted machine could not produce them.
//!
//! # Lifecycle
//! [`Recorder::run`] is one thread polling every subscription. It returns
//! when `shutdown` becomes true (the command sets it from SIGINT/SIGTERM),
//! after emitting the connections still waiting for a partner, reporting
//! those still open, and flushing the last batch; or when the sink fails,
//! which stops recording loudly.
//! Batches go out at most [`BATCH_LATENCY`] after their first event, or as
//! soon as [`BATCH_SIZE`] events are waiting. Every loss — netlink
//! overflows, ring-buffer drops, skipped eBPF runs, server ends whose start
//! event was lost, unknown processes — is emitted as a [`LossRecord`] with
//! the batch. A server end no process closed (a reset, never accepted, a
//! kernel worker's close) or open before recording is not a loss.

pub mod activity;
pub mod connections;
pub mod listeners;
pub mod own;
pub mod processes;

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::inventory::counters::CounterPorts;
use crate::inventory::destroy::{DestroyGroups, DestroySubscription};
use crate::inventory::ebpf::{BpfEvent, BpfEventKind, EbpfCapture, EbpfError};
use crate::inventory::netlink::ClosedSocket;
use crate::inventory::owners::OwnerScan;
use crate::inventory::proc_events::{ProcConnector, ProcEvent};
use crate::inventory::system::System;
use crate::inventory::{InventoryError, NamespaceSelection, Query};
use crate::model::monitor::{
    CaptureMode, EventSink, LossKind, LossRecord, MonitorEvent, OpenSnapshot, ProcessIdentity,
    SinkError, SnapshotScope, UnixMicros,
};
use crate::model::top::TcpCounters;
use crate::model::{Protocol, Socket};
use crate::sys::clock::WallClockSteps;
use connections::{Attribution, ConnectionJoiner, EndKey, Role};
use listeners::{Listened, ListenerTracker, UdpDestroyed};
use processes::{ProcessTable, Recorded};

/// Longest time an event waits before its batch is written.
pub const BATCH_LATENCY: Duration = Duration::from_secs(1);
/// A batch this large is written at once.
pub const BATCH_SIZE: usize = 4096;
/// Listener dump cadence while processes are starting.
pub const HURRIED_DUMPS: Duration = Duration::from_millis(10);
/// How long after a fork or exec in a recorded namespace the counters are
/// watched at that cadence (a busy machine can take seconds to start an
/// interpreter and reach listen()).
pub const HURRY_FOR: Duration = Duration::from_secs(3);
/// How long after the namespace's socket counters moved listeners are
/// dumped at every tick: a Unix socket is counted at socket(), before the
/// bind() and listen() that make it a listener.
pub const EAGER_FOR: Duration = Duration::from_millis(500);
/// In eBPF mode established sockets are only dumped to keep the owners of
/// long-lived connections from expiring.
pub const EBPF_RECONCILE: Duration = Duration::from_secs(30);
/// Listeners and (netlink mode) connections are dumped at least this often
/// even when the namespace's counters say nothing changed
/// ([`activity`]): what the counters cannot see is found within this time.
pub const FULL_RECONCILE: Duration = Duration::from_secs(30);
/// Closes wait this long before they are paired, so that the close of a
/// listener that lived between two dumps (read in the same or a later
/// batch of notifications) is known when its connections are judged.
pub const CLOSE_DELAY: Duration = Duration::from_millis(300);
/// Longest sleep, so shutdown is noticed promptly even without a signal
/// interrupting `poll`.
pub const MAX_SLEEP: Duration = Duration::from_millis(100);
/// How long after a socket leaves the kernel's tables its destroy notice
/// may still be on its way (it is sent from a work queue once the last
/// reference is dropped, and on a busy machine that work waits its turn
/// for hundreds of milliseconds): a client end a dump did not find open is
/// waited for up to this much longer (see `look_for_open_clients`); its
/// notice, when it comes, pairs it at once. Short enough that such a record
/// is still visible within 2 s of its close.
pub const DESTROY_NOTICE_LAG: Duration = Duration::from_secs(1);
/// Shortest time between two reads of the sources. The process connector
/// reports every fork and exit on the machine and, under load, the destroy
/// multicast and the ring buffer have something new every few
/// microseconds: waking for each costs more than the events. Waiting this
/// long lets them gather (the kernel buffers hold far more), while
/// listeners are still dumped several times in the life of a 50 ms one.
pub const COLLECT_GAP: Duration = Duration::from_millis(15);

/// How often connections still open are reported (with their bytes so
/// far), and how long one must have been open to be reported: a user
/// looking at `history` sees a long-lived client within a minute, and
/// short connections are written once, when they end.
pub const OPEN_REPORT_EVERY: Duration = Duration::from_secs(60);

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
    /// How often connections still open are reported with their bytes so
    /// far ([`OPEN_REPORT_EVERY`] unless a test shortens it).
    pub open_report_every: Duration,
    /// Where the recorder says what it cannot record while it goes on
    /// (a namespace it may not enter); the command prints these lines on
    /// stderr.
    pub notices: crate::store::Notices,
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
    /// UDP listeners destroyed that no dump saw, since the last batch.
    unseen_listeners: u64,
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
    /// The machine: process details, socket owners, dumps, namespaces.
    system: Box<dyn System + Send>,
    /// The namespaces whose new processes matter.
    recorded: Recorded,
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
    /// What the recorder's own threads connect to ([`own`]); its
    /// connections are neither recorded nor counted.
    own: own::OwnConnections,
    /// Realtime minus monotonic, microseconds: converts eBPF timestamps.
    /// Taken again whenever `clock_steps` reports a step.
    monotonic_to_realtime: i64,
    /// Readable when the wall clock was stepped (eBPF mode; `None` when no
    /// timerfd could be had: the offset is then only taken again at every
    /// reconcile, as it is anyway to follow a slewing clock).
    clock_steps: Option<WallClockSteps>,
    /// The recorder's time namespace's clock offsets: eBPF reads the
    /// kernel's clocks, which no time namespace shifts.
    time_offsets: TimeOffsets,
    batch: Vec<MonitorEvent>,
    batch_started: Option<Instant>,
    reported: Reported,
    /// Start of server ends established while recording and not yet
    /// closed (eBPF), by socket cookie.
    server_starts: foldhash::HashMap<u64, UnixMicros>,
    /// Start of server ends whose peer has a loopback address, by the
    /// server end's 4-tuple: the programs send no start for them, their
    /// client's `connected` record gives it (see [`loopback_peer`]).
    loopback_starts: foldhash::HashMap<EndKey, UnixMicros>,
    /// Cookies of connected sockets the startup dump found open, whose
    /// start no program could see (eBPF), until they close; `None` before
    /// that dump. See [`Recorder::start_lost`].
    open_at_start: Option<foldhash::HashSet<u64>>,
    /// CLOCK_MONOTONIC (the kernel's, as eBPF times are) when the startup
    /// dump ended: a socket that closed before then may have been open when
    /// the programs attached without the dump finding it.
    open_at_start_until_ns: u64,
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
    /// Ring-buffer drops at the last listener tick (eBPF mode).
    ring_drops_seen: u64,
    /// Namespaces a new process was seen in that had no subscription, since
    /// the last look for namespaces: one that cannot be subscribed to is
    /// looked for once per look, not at every process that starts in it.
    namespaces_looked_for: std::collections::HashSet<u64>,
    /// Namespaces whose destroy subscription could not be opened, each
    /// said once; and the lines not yet said (a namespace refused while
    /// starting is told after the start line).
    namespaces_refused: std::collections::HashSet<u64>,
    notices_due: Vec<String>,
    /// A TCP listener's destroy notice was read (netlink mode): the next
    /// tick dumps listeners whatever the counters say, and takes its
    /// counters as the baseline. A server that listens again after the
    /// dump made at the notice leaves the counters where they were before
    /// the close, so without this its new listener waited for the full look.
    listener_closed_since_tick: bool,
    /// Rows of connections reported open in this run, by key: reported
    /// again at every look while they stay open.
    open_reported: std::collections::HashSet<(u64, Option<u64>)>,
    /// Connections open at the previous look, by key: one still open at
    /// the next has been open for a whole [`MonitorConfig::open_report_every`].
    open_seen: std::collections::HashSet<(u64, Option<u64>)>,
}

/// Why connections still open are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenLook {
    /// At start: every one is reported, after an [`OpenSnapshot`] that ends
    /// the rows an earlier run left open for connections gone since.
    Start,
    /// Every [`MonitorConfig::open_report_every`]: those open that long.
    Periodic,
    /// At stop: every one, so nothing open is lost.
    Stop,
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
    /// Chooses the capture mode and opens every subscription; `system` is
    /// the machine everything else is read from (see the module docs).
    pub fn start(
        config: MonitorConfig,
        system: Box<dyn System + Send>,
    ) -> Result<Self, MonitorError> {
        let own_namespace = system.net_namespace();
        let recorded = match config.namespaces {
            NamespaceSelection::Current => Recorded::Namespace(own_namespace),
            NamespaceSelection::All => Recorded::All,
        };
        // The programs see every namespace; recording one, they drop the
        // others' sockets in the kernel.
        let only_namespace = match config.namespaces {
            NamespaceSelection::Current => Some(own_namespace),
            NamespaceSelection::All => None,
        };
        let (ebpf, mode, reason) =
            choose_capture(config.capture, system.as_ref(), || EbpfCapture::start(only_namespace))?;
        // eBPF mode takes UDP destroys from netlink too: its programs see
        // TCP only, and a UDP listener that lives between two dumps is
        // recorded or counted from them, as in netlink mode.
        let destroy = DestroySubscription::open_groups(destroy_groups(mode))
            .map_err(MonitorError::Subscribe)?;
        let subscriptions =
            vec![Subscription { net_namespace: None, destroy, overflows: 0, unseen_listeners: 0 }];
        // The connector only makes names survive exits and listeners be
        // caught sooner; without it (no privilege) recording goes on.
        let (connector, connector_error) = match ProcConnector::open_in_initial_namespace() {
            Ok(connector) => (Some(connector), None),
            Err(error) => (None, Some(error_chain(&error))),
        };
        let processes = ProcessTable::default();
        let server_ends_attributed = ebpf.is_some();
        let own = own::OwnConnections::default();
        let mut joiner = ConnectionJoiner::new(server_ends_attributed);
        let pid = std::process::id();
        let identity = system
            .process(pid)
            .map(processes::identity_of)
            .unwrap_or(ProcessIdentity { pid, ..ProcessIdentity::default() });
        joiner.recognise_own(own.clone(), Arc::new(identity));
        let mut recorder = Recorder {
            system,
            recorded,
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
            joiner,
            own,
            monotonic_to_realtime: 0,
            clock_steps: None,
            time_offsets: TimeOffsets::default(),
            batch: Vec::new(),
            batch_started: None,
            reported: Reported::default(),
            server_starts: foldhash::HashMap::default(),
            loopback_starts: foldhash::HashMap::default(),
            open_at_start: None,
            open_at_start_until_ns: 0,
            delayed: std::collections::VecDeque::new(),
            collects: std::collections::VecDeque::new(),
            unnameable: std::collections::HashSet::new(),
            ring_drops_seen: 0,
            namespaces_looked_for: std::collections::HashSet::new(),
            namespaces_refused: std::collections::HashSet::new(),
            notices_due: Vec::new(),
            listener_closed_since_tick: false,
            open_reported: std::collections::HashSet::new(),
            open_seen: std::collections::HashSet::new(),
        };
        if recorder.ebpf.is_some() {
            // Only eBPF times are converted from CLOCK_MONOTONIC; the others
            // are read from the wall clock as they arrive.
            recorder.clock_steps = WallClockSteps::new().ok();
            recorder.time_offsets = recorder
                .system
                .read_text("/proc/self/timens_offsets")
                .map(|text| TimeOffsets::parse(&text))
                .unwrap_or_default();
        }
        recorder.monotonic_to_realtime = monotonic_to_realtime(recorder.time_offsets);
        recorder.sync_namespaces();
        Ok(recorder)
    }

    pub fn mode(&self) -> CaptureMode {
        self.mode
    }

    /// Where the threads of this process that connect somewhere (the
    /// passive audit, webhook posts) say so, for their connections to be
    /// left out ([`own`]).
    pub fn own_connections(&self) -> own::OwnConnections {
        self.own.clone()
    }

    /// Why this mode was chosen.
    pub fn reason(&self) -> &str {
        &self.reason
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
        // Both modes name the processes of connections already open: eBPF
        // saw neither their connect() nor their accept().
        self.dump_connections(true)?;
        self.report_open(OpenLook::Start)?;
        let mut next_open_report = Instant::now() + self.config.open_report_every;

        let reconcile_every = match self.mode {
            CaptureMode::Ebpf => EBPF_RECONCILE,
            CaptureMode::Netlink => self.config.interval,
        };
        let mut next_listener_dump = Instant::now() + self.config.interval;
        let mut next_reconcile = Instant::now() + reconcile_every;
        // Counters as they were before the last dumps: a dump is skipped
        // while they stay the same (see `activity`).
        let mut last_activity = self.activity();
        let mut seen_by_connection_dump = last_activity.clone();
        let mut previous_tick = last_activity.clone();
        let mut eager_until = Instant::now();
        let mut confirm = false;
        let mut next_full = Instant::now() + FULL_RECONCILE;
        let mut hurry_until = Instant::now();
        let mut next_expire = Instant::now();
        let mut last_collect = Instant::now();

        while !shutdown.load(Ordering::Relaxed) {
            for line in self.notices_due.drain(..) {
                self.config.notices.say(&line);
            }
            let next_pairing = self.delayed.front().map(|close| close.due);
            let wake = [
                Some(next_listener_dump),
                Some(next_reconcile),
                self.flush_deadline(),
                next_pairing,
                Some(next_open_report),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("at least one deadline");
            // Let events gather after the last read (see COLLECT_GAP).
            let since_collect = last_collect.elapsed();
            if since_collect < COLLECT_GAP {
                std::thread::sleep(COLLECT_GAP - since_collect);
            }
            let timeout = wake.saturating_duration_since(Instant::now()).min(MAX_SLEEP);
            crate::sys::poll::readable(&self.fds(), timeout).map_err(MonitorError::Poll)?;
            last_collect = Instant::now();

            if self.collect(&mut summary)? {
                hurry_until = Instant::now() + HURRY_FOR;
                next_listener_dump = next_listener_dump.min(Instant::now() + HURRIED_DUMPS);
            }
            self.pair_delayed(Instant::now(), &mut summary);
            let relisten_check = std::mem::take(&mut self.listener_closed_since_tick);
            if relisten_check {
                next_listener_dump = Instant::now();
            }

            let instant = Instant::now();
            let full = instant >= next_full;
            if full {
                next_full = instant + FULL_RECONCILE;
            }
            if instant >= next_listener_dump {
                // Read before the dump: a change after the read is seen
                // by this dump or by the next tick.
                let activity = self.activity();
                // Without counters (every namespace recorded, or no
                // procfs view) every tick dumps, as it always did.
                let tcp_from_events = self.tcp_listeners_from_events();
                let changed = match (&activity, &last_activity) {
                    (Some(now), Some(before)) => {
                        now.listeners_may_have_changed(before, tcp_from_events)
                    }
                    _ => true,
                };
                // While a process is starting every change counts at once;
                // otherwise (connections come and go all the time on a busy
                // server) a change is dumped at this tick and the next one,
                // which sees a listen() that followed a socket() late.
                if changed && activity.is_some() && instant < hurry_until {
                    eager_until = instant + EAGER_FOR;
                }
                if full || changed || confirm || relisten_check || instant < eager_until {
                    self.dump_listeners(&mut summary)?;
                }
                confirm = changed && activity.is_some();
                last_activity = activity;
                let quick = instant < hurry_until || instant < eager_until;
                let step = if quick { HURRIED_DUMPS } else { self.config.interval };
                next_listener_dump = instant + step;
            }
            if instant >= next_reconcile {
                let activity = self.activity();
                let opened = activity.is_none()
                    || seen_by_connection_dump.as_ref().map(|a| a.opens)
                        != activity.as_ref().map(|a| a.opens);
                // A connection that lived a whole interval was open at the
                // previous tick as well as now (see `activity`).
                let open_at = |activity: &Option<activity::Activity>| {
                    activity.as_ref().is_none_or(|a| a.established > 0)
                };
                let lived = open_at(&activity) && open_at(&previous_tick);
                previous_tick = activity.clone();
                if self.mode == CaptureMode::Ebpf || full || (opened && lived) {
                    // The regular look: namespaces a starting process asked
                    // for since the last one may be looked for again.
                    self.namespaces_looked_for.clear();
                    self.sync_namespaces();
                    self.dump_connections(self.mode == CaptureMode::Netlink)?;
                    seen_by_connection_dump = activity;
                }
                // The holders of the listeners, as they will be named when
                // a listener goes away or a connection finds its server: an
                // upgrade may have deleted their executables since.
                for owner in self.listeners.owners_mut() {
                    self.processes.recheck_deleted(self.system.as_ref(), owner);
                }
                self.processes.expire(instant);
                // NTP slews the wall clock without a step (up to 0.5 ms a
                // second): the offset follows it here.
                self.monotonic_to_realtime = monotonic_to_realtime(self.time_offsets);
                next_reconcile = instant + reconcile_every;
            }
            if instant >= next_open_report {
                // Owners of connections opened since the last dump first.
                self.dump_connections(true)?;
                self.report_open(OpenLook::Periodic)?;
                next_open_report = instant + self.config.open_report_every;
            }
            if instant >= next_expire {
                let paired_through = self.paired_through();
                self.look_for_open_clients(paired_through)?;
                let now = unix_micros();
                let records = self.joiner.expire(now, paired_through, false, &self.listeners);
                self.push_connections(records, &mut summary);
                self.listeners.expire(now);
                next_expire = instant + Duration::from_millis(100);
                sink.tick().map_err(MonitorError::Sink)?;
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
        // What is still open is written as open: the next run's close (or
        // its startup snapshot) ends the row. A failed dump still lets the
        // last batch out before it is reported.
        let open = self.dump_connections(true).and_then(|()| self.report_open(OpenLook::Stop));
        self.flush(sink, &mut summary)?;
        open?;
        Ok(summary)
    }

    /// Reports the connections open now whose server end is on this machine
    /// (see [`OpenLook`] for which), with their bytes so far, as records
    /// without an end; at start, after the [`OpenSnapshot`] of them all.
    fn report_open(&mut self, look: OpenLook) -> Result<(), MonitorError> {
        let ports = self.listeners.tcp_ports();
        let selection = CounterPorts { local_ports: ports.clone(), remote_ports: ports };
        let found = self
            .system
            .connection_counters(self.config.namespaces, &selection)
            .map_err(MonitorError::Inventory)?;
        let at = unix_micros();
        let mut ends: HashMap<EndKey, &TcpCounters> = HashMap::with_capacity(found.sockets.len());
        for (inode, socket) in &found.sockets {
            let label = self.label(*inode);
            // A request socket (SYN-RECV) is not a connection yet, and the
            // socket accept() returns has a cookie of its own.
            let established = socket.state != crate::model::SocketState::SynRecv;
            if self.covers(label) && socket.remote.port() != 0 && established {
                ends.insert(EndKey::new(label, socket.local, socket.remote), socket);
            }
        }
        let mut records = Vec::new();
        let mut open = std::collections::HashSet::new();
        for (key, server) in &ends {
            if self.joiner.role(key, &self.listeners) != Some(Role::Server) {
                continue;
            }
            let row = (server.cookie, key.net_namespace);
            open.insert(row);
            let due = match look {
                OpenLook::Start | OpenLook::Stop => true,
                OpenLook::Periodic => {
                    self.open_reported.contains(&row) || self.open_seen.contains(&row)
                }
            };
            if due {
                records.push(self.open_record(key, server, ends.get(&key.peer()).copied()));
            }
        }
        if look == OpenLook::Start {
            let scope = match self.config.namespaces {
                NamespaceSelection::Current => SnapshotScope::Own,
                NamespaceSelection::All => SnapshotScope::All {
                    unread: found
                        .unread
                        .iter()
                        .copied()
                        .filter(|inode| *inode != self.own_namespace)
                        .collect(),
                },
            };
            let booted_at = self
                .system
                .read_text("/proc/stat")
                .and_then(|text| crate::inventory::process::boot_time_of(&text))
                .and_then(|seconds| i64::try_from(seconds).ok())
                .map(|seconds| seconds.saturating_mul(1_000_000));
            let mut keys: Vec<(u64, Option<u64>)> = open.iter().copied().collect();
            keys.sort_unstable();
            let unique_cookies = self
                .system
                .sysctl("kernel.osrelease")
                .is_some_and(|release| crate::model::monitor::cookies_unique_in(&release));
            self.push(MonitorEvent::OpenSnapshot(OpenSnapshot {
                at,
                booted_at,
                scope,
                open: keys,
                own_namespace: self.own_namespace,
                unique_cookies,
            }));
        }
        // In the order of their rows' keys, so a batch reads the same every
        // time.
        records.sort_by_key(|record| (record.net_namespace, record.cookie));
        self.open_reported.retain(|row| open.contains(row));
        self.open_reported.extend(records.iter().map(|r| (r.cookie, r.net_namespace)));
        // Not counted as connections: each is counted once, when it ends.
        let pid = std::process::id();
        for record in records.into_iter().filter(|record| !own_client(record, pid)) {
            self.push(MonitorEvent::Connection(Box::new(record)));
        }
        self.open_seen = open;
        Ok(())
    }

    /// The record of a connection still open: its server end (and client
    /// end, when it is on this machine too) as dumped now, the processes
    /// the joiner knows, else the listener's owner as the server.
    fn open_record(
        &self,
        server_key: &EndKey,
        server: &TcpCounters,
        client: Option<&TcpCounters>,
    ) -> crate::model::monitor::ConnectionRecord {
        use connections::ListenerIndex;
        let client_key = server_key.peer();
        let server_holder = self.joiner.holder(server_key, server.cookie);
        let client_holder = match client {
            Some(end) => self.joiner.holder(&client_key, end.cookie),
            None => self.joiner.holder(&client_key, 0).filter(|a| a.cookie.is_none()),
        };
        let server_process = match server_holder {
            Some(attribution) => Some(ProcessIdentity::clone(&attribution.process)),
            None => self.listeners.owner(server_key.net_namespace, server_key.local),
        };
        // Only eBPF times are starts: the server end's establishment, the
        // client's connect(). A dump's first sight of a connection is not.
        let started_at = match self.mode {
            CaptureMode::Ebpf => [
                self.server_start(server.cookie, server_key),
                client_holder.filter(|a| a.cookie.is_some()).map(|a| a.since),
            ]
            .into_iter()
            .flatten()
            .min(),
            CaptureMode::Netlink => None,
        };
        crate::model::monitor::ConnectionRecord {
            cookie: server.cookie,
            net_namespace: server_key.net_namespace,
            client: connections::canonical(server.remote),
            server: connections::canonical(server.local),
            started_at,
            ended_at: None,
            bytes_client_to_server: server.bytes_received,
            bytes_server_to_client: server.bytes_acked,
            client_uid: client
                .map(|end| end.uid)
                .or(client_holder.map(|attribution| attribution.process.uid)),
            server_uid: Some(server.uid),
            client_process: client_holder
                .map(|attribution| ProcessIdentity::clone(&attribution.process)),
            server_process,
            end: crate::model::monitor::ConnectionEnd::Unknown,
        }
    }

    /// Reads every source once, without blocking, and queues what it read.
    /// Returns whether processes started (listeners are then dumped more
    /// often).
    fn collect(&mut self, summary: &mut MonitorSummary) -> Result<bool, MonitorError> {
        // Destroy notifications (netlink mode) are read before eBPF events,
        // and in eBPF mode closes come through the ring after the events of
        // their socket: either way a close is never read before what named
        // its socket. Every close the kernel sent before this instant is
        // read below.
        let closed_at = unix_micros();
        self.collects.push_back(closed_at);
        // Each close with the time it is recorded at.
        let mut closed: Vec<(Option<u64>, ClosedSocket, UnixMicros)> = Vec::new();
        let mut scratch = Vec::new();
        for subscription in &mut self.subscriptions {
            scratch.clear();
            let drained =
                subscription.destroy.drain(&mut scratch).map_err(MonitorError::Inventory)?;
            subscription.overflows += drained.overflows;
            let label = subscription.net_namespace;
            // A destroy message carries no time: the read's.
            closed.extend(scratch.drain(..).map(|end| (label, end, closed_at)));
        }
        let mut proc_events = Vec::new();
        if let Some(connector) = &mut self.connector {
            self.connector_overflows += connector.drain(&mut proc_events).unwrap_or(0);
        }
        let started =
            self.processes.apply(self.system.as_ref(), self.recorded, &proc_events, Instant::now())
                > 0;
        if self.entered_new_namespace(&proc_events) {
            self.sync_namespaces();
        }
        let mut bpf_events = Vec::new();
        if let Some(ebpf) = &mut self.ebpf {
            // A stepped wall clock moves every later eBPF time by the step:
            // the offset is taken again before the ring is read. Events of
            // the last COLLECT_GAP before the step take the new offset too.
            if self.clock_steps.as_ref().is_some_and(|steps| steps.stepped().unwrap_or(false)) {
                self.monotonic_to_realtime = monotonic_to_realtime(self.time_offsets);
            }
            ebpf.drain(&mut bpf_events);
        }
        for mut event in bpf_events {
            if let Some(end) = event.closed.take() {
                let net_namespace = self.label(event.net_namespace);
                let key = EndKey::new(net_namespace, end.local, end.remote);
                let started = self.server_starts.remove(&end.cookie).is_some()
                    | self.loopback_starts.remove(&key).is_some();
                if self.covers(net_namespace) {
                    if !started && self.start_lost(end.cookie, event.at_monotonic_ns) {
                        self.joiner.start_unseen(end.cookie);
                    }
                    // The event's own time: events keep coming while the
                    // ring is read, so a connection can start after
                    // `closed_at` and close within the same read; stamped
                    // with `closed_at` it would end before it began. Never
                    // before `closed_at`, which pairing counts on (every
                    // close of a read is at or after its start).
                    let at = self.monotonic_to_realtime
                        + i64::try_from(event.at_monotonic_ns / 1000).unwrap_or(0);
                    closed.push((net_namespace, end, at.max(closed_at)));
                }
                continue;
            }
            self.on_bpf_event(event, summary);
        }
        // After the eBPF events: a parent that listens, forks and exits
        // within one read is known as the listener's owner by now.
        self.rename_listener_owners(&proc_events, summary)?;
        // UDP destroys (both modes): a listener gone, or one that came
        // and went between two dumps, which is counted, never silent.
        let (udp, closed): (Vec<_>, Vec<_>) =
            closed.into_iter().partition(|(_, end, _)| end.protocol == Protocol::Udp);
        for (net_namespace, end, at) in udp {
            match self.listeners.udp_destroyed(net_namespace, end.cookie, end.local, end.remote, at)
            {
                UdpDestroyed::Gone(event) => {
                    summary.listener_events += 1;
                    self.push(MonitorEvent::Listener(event));
                }
                UdpDestroyed::Unseen => {
                    // Told with the next batch, which this starts.
                    self.batch_started.get_or_insert_with(Instant::now);
                    if let Some(subscription) =
                        self.subscriptions.iter_mut().find(|s| s.net_namespace == net_namespace)
                    {
                        subscription.unseen_listeners += 1;
                    }
                }
                UdpDestroyed::NotListener => {}
            }
        }
        if self.mode == CaptureMode::Netlink
            && closed.iter().any(|(ns, end, _)| self.unexplained(*ns, end))
        {
            // A connection between two local ports, neither of them a known
            // listener: its listener opened after the last dump, unseen by
            // the counters (a connection's socket closed as it opened). It
            // is still listening while its connections' closes wait
            // CLOSE_DELAY: dump it now, or they would be taken for
            // outbound connections and dropped.
            self.dump_listeners(summary)?;
        }
        let due = Instant::now() + CLOSE_DELAY;
        let mut listener_closed = false;
        for (net_namespace, end, at) in closed {
            if end.remote.port() == 0 {
                if end.local.port() != 0 {
                    // A listener a dump found is gone now, not at the next
                    // dump: another may already listen in its place.
                    if let Some(event) = self.listeners.listen_closed(net_namespace, end.cookie, at)
                    {
                        summary.listener_events += 1;
                        self.push(MonitorEvent::Listener(event));
                        listener_closed = true;
                    }
                    self.listeners.socket_unbound(net_namespace, end.local, at);
                }
                // A connection its listener closed before accepting it,
                // which the destroy message reports with the client's port
                // cleared: paired by the joiner with its client end.
                let unaccepted =
                    self.mode == CaptureMode::Netlink && !end.remote.ip().is_unspecified();
                if !unaccepted {
                    continue;
                }
            }
            self.delayed.push_back(DelayedClose { due, net_namespace, end, at });
        }
        if listener_closed && self.mode == CaptureMode::Netlink {
            // A server that closes its listener and listens again (a
            // restart, a reload, another process taking the port) leaves
            // the socket counts as they were: only a dump now sees the new
            // one, which would otherwise wait for the full look. One that
            // listens after this dump is left to the next tick's (read after
            // its counters: see `listener_closed_since_tick`).
            self.dump_listeners(summary)?;
            self.listener_closed_since_tick = true;
        }
        Ok(started)
    }

    /// Reads again who holds the listeners whose owners exited or executed
    /// a new program (see [`ListenerTracker::held_by`]), so that a
    /// listener's disappearance, and a connection whose server end was not
    /// seen, name the process that holds it now.
    fn rename_listener_owners(
        &mut self,
        proc_events: &[ProcEvent],
        summary: &mut MonitorSummary,
    ) -> Result<(), MonitorError> {
        let changed: std::collections::HashSet<u32> = proc_events
            .iter()
            .filter_map(|event| match *event {
                ProcEvent::Exec { pid } | ProcEvent::Exit { pid } => Some(pid),
                ProcEvent::Fork { .. } => None,
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut inodes = self.listeners.held_by(&changed);
        if inodes.contains(&0) {
            // Reported by eBPF at listen() and not dumped since (in eBPF
            // mode TCP listeners are not dumped when nothing was lost): a
            // LISTEN-only dump gives their inodes.
            self.dump_listeners(summary)?;
            inodes = self.listeners.held_by(&changed);
        }
        inodes.retain(|&inode| inode != 0);
        if inodes.is_empty() {
            return Ok(());
        }
        let named = owners_of(self.system.as_ref(), self.recorded, &inodes, &mut self.processes);
        self.listeners.update_owners(named);
        Ok(())
    }

    /// Whether the close at `closed_ns` (kernel CLOCK_MONOTONIC) of socket
    /// `cookie`, whose start no event reported, is of a socket that began
    /// while recording (eBPF): its start event was lost. A socket the
    /// startup dump found open, or that closed before that dump ended (it
    /// may have been open when the programs attached), began before.
    ///
    /// Only server ends are counted from this (the joiner decides which end
    /// a close is): a client end reports no start here, and one whose
    /// connect() was lost is counted as an unknown process.
    fn start_lost(&mut self, cookie: u64, closed_ns: u64) -> bool {
        let open_before = self.open_at_start.as_mut().is_none_or(|open| open.remove(&cookie));
        !open_before && closed_ns >= self.open_at_start_until_ns
    }

    /// Server ends past their grace whose local client end has not closed:
    /// one dump of connected sockets tells which client ends are still open,
    /// and those records wait for their close (see
    /// [`ConnectionJoiner::client_still_open`]); the others wait until the
    /// closes sent before the dump are read, as one may have closed between
    /// the last read and the dump. Without it a client that closes more
    /// than the grace after its server is never paired, and in netlink mode
    /// its uid is lost.
    fn look_for_open_clients(&mut self, paired_through: UnixMicros) -> Result<(), MonitorError> {
        let overdue = self.joiner.overdue_local_clients(paired_through);
        if overdue.is_empty() {
            return Ok(());
        }
        // Taken before the dump: a client end closing after it is either in
        // the dump or has its close read by a later collect, which starts
        // after the dump. The kernel sends a destroy notice from a work
        // queue once the socket's last reference is gone, after it left the
        // tables the dump reads: the wait covers that lag too.
        let looked_at = unix_micros();
        let closes_read_from = looked_at
            .saturating_add(i64::try_from(DESTROY_NOTICE_LAG.as_micros()).unwrap_or(i64::MAX));
        let query = connected_tcp();
        let open: std::collections::HashSet<EndKey> = self
            .enumerate(query)?
            .iter()
            .filter_map(|socket| {
                Some(EndKey::new(socket.net_namespace, socket.local?, socket.remote?))
            })
            .collect();
        let now = unix_micros();
        for server_key in overdue {
            if open.contains(&server_key.peer()) {
                self.joiner.client_still_open(server_key, now);
            } else {
                self.joiner.client_not_open(server_key, closes_read_from);
            }
        }
        Ok(())
    }

    /// Whether a closed end is a local connection that no listener the
    /// tracker knows explains.
    fn unexplained(&self, net_namespace: Option<u64>, end: &ClosedSocket) -> bool {
        use connections::ListenerIndex;
        let local = |address: std::net::SocketAddr| {
            let ip = connections::canonical(address).ip();
            ip.is_loopback() || ip == connections::canonical(end.local).ip()
        };
        end.remote.port() != 0
            && local(end.remote)
            && !self.listeners.serves(net_namespace, end.local)
            && !self.listeners.serves(net_namespace, end.remote)
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
                self.push_connections(vec![record], summary);
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
        if let Some(steps) = &self.clock_steps {
            fds.push(steps.as_raw_fd());
        }
        fds
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.batch_started.map(|started| started + BATCH_LATENCY)
    }

    fn push(&mut self, mut event: MonitorEvent) {
        if let MonitorEvent::Listener(listener) = &mut event {
            // Listeners come and go rarely: the moment to see whether their
            // holders' executables were deleted since they were read (an
            // upgrade under a running service).
            for owner in &mut listener.owners {
                self.processes.recheck_deleted(self.system.as_ref(), owner);
            }
        }
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
        // The recorder's own connections (audit probes, webhook posts, a
        // store on this machine) are no clients of anything: left out, and
        // not counted, so the stop line counts what was recorded.
        let pid = std::process::id();
        for record in records.into_iter().filter(|record| !own_client(record, pid)) {
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
            let unseen = std::mem::take(&mut subscription.unseen_listeners);
            losses.push((LossKind::UnseenListener, unseen, subscription.net_namespace));
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

    /// The recorded namespace's socket counters; `None` when recording
    /// every namespace (one thread cannot read them all cheaply) or when
    /// they cannot be read, which makes every tick dump.
    fn activity(&self) -> Option<activity::Activity> {
        match self.config.namespaces {
            NamespaceSelection::Current => activity::Activity::read(self.system.as_ref()),
            NamespaceSelection::All => None,
        }
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
        // eBPF mode's programs see every namespace, including ones created
        // later; its subscriptions are for UDP destroys only.
        if self.config.namespaces != NamespaceSelection::All {
            return;
        }
        let found = self.system.net_namespace_handles();
        let present: HashMap<Option<u64>, String> =
            found.into_iter().map(|(inode, handle)| (self.label(inode), handle)).collect();
        self.subscriptions
            .retain(|s| s.net_namespace.is_none() || present.contains_key(&s.net_namespace));
        for (label, handle) in present {
            if label.is_none() || self.subscriptions.iter().any(|s| s.net_namespace == label) {
                continue;
            }
            match DestroySubscription::open_in(&handle, destroy_groups(self.mode)) {
                Ok(destroy) => self.subscriptions.push(Subscription {
                    net_namespace: label,
                    destroy,
                    overflows: 0,
                    unseen_listeners: 0,
                }),
                // Its listeners may still be read (through `/proc/PID/net`),
                // but none of its connections will be: say so once, or a
                // recorder without the right to enter namespaces records
                // none of theirs without a word.
                Err(error) => {
                    if let Some(inode) = label.filter(|&i| self.namespaces_refused.insert(i)) {
                        let line = refused_namespace_line(inode, &handle, &error, self.mode);
                        self.notices_due.push(line);
                    }
                }
            }
        }
    }

    /// Whether a process that forked or executed lives in a network
    /// namespace without a destroy subscription yet (netlink mode, every
    /// namespace recorded). A container's connections can open and close
    /// well within one `--interval`, before the regular look for new
    /// namespaces: the subscription must be open by then, or their closes
    /// are never seen. One `readlink` per new process; the namespaces are
    /// listed only when one is new.
    fn entered_new_namespace(&mut self, events: &[ProcEvent]) -> bool {
        if self.mode != CaptureMode::Netlink || self.config.namespaces != NamespaceSelection::All {
            return false;
        }
        let mut new = false;
        for event in events {
            let pid = match *event {
                ProcEvent::Fork { child, .. } => child,
                ProcEvent::Exec { pid } => pid,
                ProcEvent::Exit { .. } => continue,
            };
            let Some(inode) = self.system.net_namespace_of(pid) else { continue };
            let label = self.label(inode);
            if label.is_some()
                && !self.subscriptions.iter().any(|s| s.net_namespace == label)
                && self.namespaces_looked_for.insert(inode)
            {
                new = true;
            }
        }
        new
    }

    /// Sockets of the selected namespaces, labelled `None` for our own.
    fn enumerate(&self, query: Query) -> Result<Vec<Socket>, MonitorError> {
        let query = Query { namespaces: self.config.namespaces, owners: false, ..query };
        let mut sockets = self.system.snapshot(&query).map_err(MonitorError::Inventory)?.sockets;
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
        let system = self.system.as_ref();
        let recorded = self.recorded;
        let mut owners = |inodes: &[u64]| owners_of(system, recorded, inodes, processes);
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
        let query = connected_tcp();
        let sockets = self.enumerate(query)?;
        let now = unix_micros();
        if self.open_at_start.is_none() {
            // The first dump: what is open now began before recording
            // (only eBPF reports starts, and closes to forget them at).
            let ebpf = self.ebpf.is_some();
            let open = sockets.iter().filter(|_| ebpf).map(|socket| socket.cookie);
            self.open_at_start = Some(open.collect());
            self.open_at_start_until_ns = kernel_monotonic_ns(self.time_offsets);
        }
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
        let mut named =
            owners_of(self.system.as_ref(), self.recorded, &inodes, &mut self.processes);
        for (key, inode) in unnamed {
            let Some(process) = named.remove(&inode).and_then(|owners| owners.into_iter().next())
            else {
                self.unnameable.insert(inode);
                continue;
            };
            let role = if self.listeners_serve(&key) { Some(Role::Server) } else { None };
            let process = Arc::new(process);
            self.joiner
                .attribute(key, Attribution { process, role, since: now, seen: now, cookie: None });
        }
        Ok(())
    }

    /// Whether every TCP listen and close since the last call came as an
    /// eBPF event: eBPF capture, and no event dropped for a full ring buffer
    /// since (a dropped listen would otherwise wait for the full look).
    fn tcp_listeners_from_events(&mut self) -> bool {
        let Some(ebpf) = &self.ebpf else { return false };
        let dropped = ebpf.ring_buffer_full();
        let complete = dropped == self.ring_drops_seen;
        self.ring_drops_seen = dropped;
        complete
    }

    fn listeners_serve(&self, key: &EndKey) -> bool {
        use connections::ListenerIndex;
        self.listeners.serves(key.net_namespace, key.local)
    }

    /// When a server end still open began, as the eBPF events told.
    fn server_start(&self, cookie: u64, key: &EndKey) -> Option<UnixMicros> {
        self.server_starts.get(&cookie).or_else(|| self.loopback_starts.get(key)).copied()
    }

    fn on_bpf_event(&mut self, event: BpfEvent, summary: &mut MonitorSummary) {
        let net_namespace = self.label(event.net_namespace);
        if !self.covers(net_namespace) {
            return;
        }
        let at =
            self.monotonic_to_realtime + i64::try_from(event.at_monotonic_ns / 1000).unwrap_or(0);
        if event.kind == BpfEventKind::ServerEstablished {
            if self.server_starts.len() >= connections::MAX_HELD {
                // Only starts whose close was lost (a full ring buffer)
                // stay unclaimed: the oldest tenth goes, and the server ends
                // open now keep their starts.
                connections::evict_oldest(&mut self.server_starts, |at| *at);
            }
            self.server_starts.insert(event.cookie, at);
            return;
        }
        let key = EndKey::new(net_namespace, event.local, event.remote);
        // A client's close() changes nothing: connect() named it. Checked
        // before the process lookup, which every client close would pay.
        if event.kind == BpfEventKind::Closing && self.joiner.attributed_to(&key, event.cookie) {
            return;
        }
        // In this namespace's terms, as `/proc/PID/stat` gives it.
        let start_boottime_ns =
            event.start_boottime_ns.saturating_add_signed(self.time_offsets.boottime_ns);
        let process = self.processes.identify(
            self.system.as_ref(),
            event.pid,
            start_boottime_ns,
            &event.comm,
            event.uid,
        );
        match event.kind {
            BpfEventKind::Connected => {
                if loopback_peer(&key) {
                    // Its server end, if on this machine, sends no start.
                    if self.loopback_starts.len() >= connections::MAX_HELD {
                        // Only starts of server ends never accepted (a full
                        // backlog) or whose close was lost stay unclaimed.
                        connections::evict_oldest(&mut self.loopback_starts, |at| *at);
                    }
                    self.loopback_starts.insert(key.peer(), at);
                }
                let attribution = Attribution {
                    process,
                    role: Some(Role::Client),
                    since: at,
                    seen: at,
                    cookie: Some(event.cookie),
                };
                self.joiner.attribute(key, attribution);
            }
            // Handled above, before the process is looked up.
            BpfEventKind::ServerEstablished => {}
            BpfEventKind::Closing => {
                // The holder of a server end that began while recording;
                // otherwise a socket opened before the recorder started,
                // whose side the listeners tell.
                // Kept until the close, which tells a lost start from one
                // seen (`start_lost`).
                let started = self.server_start(event.cookie, &key);
                let attribution = Attribution {
                    process,
                    role: started.map(|_| Role::Server),
                    since: started.unwrap_or(at),
                    seen: at,
                    cookie: Some(event.cookie),
                };
                self.joiner.attribute(key, attribution);
            }
            BpfEventKind::Listen => {
                let socket = Listened {
                    net_namespace,
                    cookie: event.cookie,
                    local: event.local,
                    v6only: event.v6only,
                    uid: event.uid,
                    interface: event.interface,
                };
                if let Some(listener) =
                    self.listeners.listened(socket, Arc::unwrap_or_clone(process), at)
                {
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
                } else {
                    // Never seen listening (it started before the
                    // programs): remembered like a destroyed bound socket,
                    // so its connections still count as to a local service.
                    self.listeners.socket_unbound(net_namespace, event.local, at);
                }
            }
            // Taken out as closes by `collect`.
            BpfEventKind::Closed => {}
        }
    }
}

/// Whether the server end of a client end `key` is one the eBPF programs
/// send no start for: its peer, this client, has a loopback address
/// (127.0.0.0/8, `::1`, `::ffff:127.0.0.0/104`; `key` is canonical). Such a
/// server end is in the client's network namespace, and the client's
/// `connected` record, sent before it was established, gives its start.
/// The same test as `peer_on_loopback` in `ebpf/monitor.bpf.c`.
fn loopback_peer(key: &EndKey) -> bool {
    key.local.ip().is_loopback()
}

/// Owners of socket inodes, named through the process table.
fn owners_of(
    system: &dyn System,
    recorded: Recorded,
    inodes: &[u64],
    processes: &mut ProcessTable,
) -> HashMap<u64, Vec<ProcessIdentity>> {
    let mut named = HashMap::new();
    if inodes.is_empty() {
        return named;
    }
    // Processes that just started in a recorded namespace are read first:
    // a listener that lives 50 ms must be named before its process exits,
    // and a full scan on a machine where some process holds tens of
    // thousands of fds takes longer than that. The other sockets are
    // looked for among the processes of the recorded namespace only (a
    // socket passed to a process in another namespace stays unnamed), so
    // other namespaces' busy processes are never read.
    let recent = processes.live_recent();
    let mut found = if recent.is_empty() {
        BTreeMap::new()
    } else {
        owners_by_inode(system.socket_owners(inodes, Some(&recent)), inodes)
    };
    let rest: Vec<u64> = inodes.iter().copied().filter(|i| !found.contains_key(i)).collect();
    if !rest.is_empty() {
        let others = match recorded {
            Recorded::Namespace(inode) => {
                let mut pids = system.processes_in_net_namespace(inode);
                pids.retain(|pid| !recent.contains(pid));
                Some(pids)
            }
            Recorded::All => None,
        };
        found.extend(owners_by_inode(system.socket_owners(&rest, others.as_deref()), &rest));
    }
    for (inode, pids) in found {
        // The owner is alive now: its current start time keeps a stale
        // entry of an earlier process with the same pid from being used.
        let owners: Vec<ProcessIdentity> = pids
            .into_iter()
            .filter_map(|pid| {
                let found = match system.stat(pid) {
                    // Its name now, as `ls` shows it.
                    Some(stat) => {
                        processes.lookup_named(system, pid, Some(stat.start_ticks), &stat.name)
                    }
                    None => processes.lookup(system, pid, None),
                };
                found.map(Arc::unwrap_or_clone)
            })
            .collect();
        if !owners.is_empty() {
            named.insert(inode, owners);
        }
    }
    named
}

/// What the chosen capture is, and why, in the words of the start line.
type CaptureDecision<C> = (Option<C>, CaptureMode, String);

/// Whether the recorder's process (`pid`) is the client of `record`.
fn own_client(record: &crate::model::monitor::ConnectionRecord, pid: u32) -> bool {
    record.client_process.as_ref().is_some_and(|client| client.pid == pid)
}

/// Chooses the capture mode: `probe` loads and attaches the eBPF programs
/// (only called when the machine does not already rule eBPF out). Under
/// `--capture auto` a failure falls back to netlink with its reason; under
/// `--capture ebpf` it is an error.
pub(crate) fn choose_capture<C>(
    choice: CaptureChoice,
    system: &dyn System,
    probe: impl FnOnce() -> Result<C, EbpfError>,
) -> Result<CaptureDecision<C>, MonitorError> {
    match choice {
        CaptureChoice::Netlink => {
            Ok((None, CaptureMode::Netlink, "netlink capture requested".to_string()))
        }
        CaptureChoice::Ebpf => {
            let capture = probe().map_err(MonitorError::Ebpf)?;
            Ok((Some(capture), CaptureMode::Ebpf, "eBPF capture requested".to_string()))
        }
        CaptureChoice::Auto => {
            // The programs are built on BTF tracepoints and CO-RE reads:
            // without the kernel's BTF they cannot load, so loading is
            // not even attempted.
            if !system.exists(KERNEL_BTF) {
                let reason = format!("eBPF unavailable: the kernel has no BTF ({KERNEL_BTF})");
                return Ok((None, CaptureMode::Netlink, reason));
            }
            match probe() {
                Ok(capture) => Ok((
                    Some(capture),
                    CaptureMode::Ebpf,
                    "eBPF tracepoint sock:inet_sock_set_state attached".to_string(),
                )),
                Err(error) => {
                    let mut reason = format!("eBPF unavailable: {}", error_chain(&error));
                    if let Some(cause) = ebpf_refusal(system) {
                        reason.push_str(" (");
                        reason.push_str(&cause);
                        reason.push(')');
                    }
                    Ok((None, CaptureMode::Netlink, reason))
                }
            }
        }
    }
}

/// Where the kernel publishes its BTF.
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
/// Capability bits in `CapEff` of `/proc/self/status`.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The owners a scan found, by inode, pids ascending; inodes nobody
/// visibly holds are left out.
fn owners_by_inode(scan: OwnerScan, inodes: &[u64]) -> BTreeMap<u64, Vec<u32>> {
    inodes
        .iter()
        .map(|&inode| {
            let mut pids: Vec<u32> = scan.owners.pids(inode).collect();
            pids.sort_unstable();
            pids.dedup();
            (inode, pids)
        })
        .filter(|(_, pids)| !pids.is_empty())
        .collect()
}

/// What on this machine explains a refused eBPF load, when something does.
fn ebpf_refusal(system: &dyn System) -> Option<String> {
    let lockdown = system.read_text("/sys/kernel/security/lockdown").unwrap_or_default();
    if lockdown.contains("[confidentiality]") {
        return Some(
            "kernel lockdown is in confidentiality mode, which forbids eBPF to read \
             kernel memory"
                .to_string(),
        );
    }
    let status = system.read_text("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|line| u64::from_str_radix(line.strip_prefix("CapEff:")?.trim(), 16).ok())?;
    let has = |bit: u32| effective & (1u64 << bit) != 0;
    (!has(CAP_BPF) && !has(CAP_SYS_ADMIN))
        .then(|| "porthole lacks CAP_BPF and CAP_PERFMON: run it as root or grant both".to_string())
}

/// The destroy notifications a capture mode subscribes to: eBPF mode's
/// programs see TCP themselves.
fn destroy_groups(mode: CaptureMode) -> DestroyGroups {
    match mode {
        CaptureMode::Netlink => DestroyGroups::TcpAndUdp,
        CaptureMode::Ebpf => DestroyGroups::Udp,
    }
}

/// The dump of connected TCP sockets, owners not looked up (the joiner
/// names only the ends it has not seen).
fn connected_tcp() -> Query {
    Query {
        udp: false,
        unix: false,
        listeners_only: false,
        owners: false,
        connected_only: true,
        ..Query::default()
    }
}

/// Microseconds since the Unix epoch, now.
pub fn unix_micros() -> UnixMicros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

/// The kernel's CLOCK_MONOTONIC (the one eBPF reads) now, in nanoseconds.
fn kernel_monotonic_ns(offsets: TimeOffsets) -> u64 {
    let monotonic = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let ns = i128::from(monotonic.tv_sec) * 1_000_000_000 + i128::from(monotonic.tv_nsec);
    u64::try_from(ns - i128::from(offsets.monotonic_ns)).unwrap_or(0)
}

/// Realtime minus the kernel's CLOCK_MONOTONIC (the one eBPF reads), in
/// microseconds.
fn monotonic_to_realtime(offsets: TimeOffsets) -> i64 {
    let monotonic = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let monotonic_us = monotonic.tv_sec * 1_000_000 + monotonic.tv_nsec / 1000;
    unix_micros() - (monotonic_us - offsets.monotonic_ns / 1000)
}

/// How far the recorder's time namespace shifts CLOCK_MONOTONIC and
/// CLOCK_BOOTTIME from the kernel's (`unshare -T --monotonic …`, a restored
/// container), in nanoseconds.
///
/// # Platform specific behavior
/// `bpf_ktime_get_ns()` and `task_struct.start_boottime` are the kernel's
/// clocks, while `clock_gettime` and `/proc/PID/stat` answer in the
/// namespace's: without these offsets every eBPF time would be off by
/// them, and no process start would match `/proc`. Linux 5.6 or later;
/// without `/proc/self/timens_offsets` both are 0.
/// See: <https://man7.org/linux/man-pages/man7/time_namespaces.7.html>
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TimeOffsets {
    monotonic_ns: i64,
    boottime_ns: i64,
}

impl TimeOffsets {
    /// Reads `/proc/self/timens_offsets`: `monotonic SECS NANOS` and
    /// `boottime SECS NANOS` lines.
    fn parse(text: &str) -> TimeOffsets {
        let mut offsets = TimeOffsets::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(clock), Some(seconds), Some(nanoseconds)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Ok(seconds), Ok(nanoseconds)) =
                (seconds.parse::<i64>(), nanoseconds.parse::<i64>())
            else {
                continue;
            };
            let total = seconds.saturating_mul(1_000_000_000).saturating_add(nanoseconds);
            match clock {
                "monotonic" => offsets.monotonic_ns = total,
                "boottime" => offsets.boottime_ns = total,
                _ => {}
            }
        }
        offsets
    }
}

/// The line that says a namespace's connections are not recorded: setns
/// needs CAP_SYS_ADMIN (which a unit's `CapabilityBoundingSet=` may leave
/// out) and, under systemd, `RestrictNamespaces=` allowing `net`.
fn refused_namespace_line(
    inode: u64,
    handle: &str,
    error: &InventoryError,
    mode: CaptureMode,
) -> String {
    let why = match error {
        InventoryError::Namespace { source, .. } => {
            let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
                " (entering a network namespace needs CAP_SYS_ADMIN and, under systemd, \
                 RestrictNamespaces= allowing net)"
            } else {
                ""
            };
            format!("entering it failed: {source}{hint}")
        }
        other => format!("subscribing there failed: {}", error_chain(other)),
    };
    // eBPF mode records the namespace's connections all the same; only
    // its UDP listeners' closes go unseen.
    let lost = match mode {
        CaptureMode::Netlink => "its connections are not recorded",
        CaptureMode::Ebpf => "its UDP listeners that close between two looks are not counted",
    };
    format!("network namespace {inode} ({handle}): {lost}: {why}")
}

/// An error and its causes, `: `-joined. A cause whose text its parent
/// already shows is left out: aya's errors print their source inside their
/// own message, which read "failed to create map `x` …: failed to create
/// map `x` …".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.last().is_some_and(|shown| shown.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;
    use crate::model::{Process, Protocol, SocketState};
    use std::cell::Cell;

    fn refused() -> EbpfError {
        EbpfError::Missing { what: "program", name: "on_state" }
    }

    #[test]
    fn a_cause_its_parent_already_prints_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to create map `connecting`: {0}")]
        struct Embeds(#[source] std::io::Error);
        let error = Embeds(std::io::Error::from_raw_os_error(libc::EPERM));
        let text = error_chain(&error);
        assert_eq!(text.matches("Operation not permitted").count(), 1, "{text}");
    }

    #[test]
    fn auto_capture_falls_back_with_the_reason_the_machine_shows() {
        let root = Scripted::default()
            .file(KERNEL_BTF, "")
            .file("/proc/self/status", "Name:\tporthole\nCapEff:\t000001ffffffffff\n");
        let (capture, mode, reason) =
            choose_capture(CaptureChoice::Auto, &root, || Ok(())).unwrap();
        assert_eq!((capture, mode), (Some(()), CaptureMode::Ebpf));
        assert!(reason.contains("attached"), "{reason}");

        // A refused load, explained by lockdown…
        let locked = Scripted::default()
            .file(KERNEL_BTF, "")
            .file("/sys/kernel/security/lockdown", "none integrity [confidentiality]\n");
        let (capture, mode, reason) =
            choose_capture(CaptureChoice::Auto, &locked, || Err::<(), _>(refused())).unwrap();
        assert_eq!((capture, mode), (None, CaptureMode::Netlink));
        assert!(reason.starts_with("eBPF unavailable: the eBPF object has no program"), "{reason}");
        assert!(reason.contains("confidentiality mode"), "{reason}");

        // …or by missing capabilities (CapEff without bits 21 and 39).
        let user = Scripted::default()
            .file(KERNEL_BTF, "")
            .file("/proc/self/status", "CapEff:\t0000000000000000\n");
        let (_, _, reason) =
            choose_capture(CaptureChoice::Auto, &user, || Err::<(), _>(refused())).unwrap();
        assert!(reason.contains("lacks CAP_BPF"), "{reason}");

        // As root on an unlocked kernel the error alone is the reason.
        let (_, _, reason) =
            choose_capture(CaptureChoice::Auto, &root, || Err::<(), _>(refused())).unwrap();
        assert!(!reason.contains('('), "{reason}");
    }

    #[test]
    fn time_namespace_offsets_are_read() {
        let text = "monotonic           86400         0\nboottime           -5 250000000\n";
        let offsets = TimeOffsets::parse(text);
        assert_eq!(offsets.monotonic_ns, 86_400_000_000_000);
        assert_eq!(offsets.boottime_ns, -4_750_000_000);
        assert_eq!(TimeOffsets::parse("garbage\nmonotonic x 1\n"), TimeOffsets::default());
    }

    #[test]
    fn a_kernel_without_btf_is_not_probed_unless_ebpf_is_demanded() {
        let machine = Scripted::default();
        let probes = Cell::new(0);
        let probe = || {
            probes.set(probes.get() + 1);
            Err::<(), _>(refused())
        };
        let (_, mode, reason) = choose_capture(CaptureChoice::Auto, &machine, probe).unwrap();
        assert_eq!(mode, CaptureMode::Netlink);
        assert!(reason.contains("no BTF"), "{reason}");
        assert_eq!(probes.get(), 0);
        let demanded = choose_capture(CaptureChoice::Ebpf, &machine, probe);
        assert!(matches!(demanded, Err(MonitorError::Ebpf(_))));
        assert_eq!(probes.get(), 1, "--capture ebpf tries and reports the load error");
        let (capture, mode, _) = choose_capture(CaptureChoice::Netlink, &machine, probe).unwrap();
        assert_eq!((capture, mode, probes.get()), (None, CaptureMode::Netlink, 1));
    }

    #[test]
    fn every_owner_of_a_socket_is_named_but_not_a_process_that_reused_a_pid() {
        let worker = |pid| Process { pid, name: "worker".into(), ..Process::default() };
        let mut listener = Socket::ip(
            Protocol::Tcp,
            "127.0.0.1:8080".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            SocketState::Listen,
        );
        listener.inode = 500;
        listener.owners = vec![11, 10];
        let machine = Scripted { sockets: vec![listener], ..Scripted::default() }
            .process(worker(10), 0)
            .process(worker(11), 0);
        let mut table = ProcessTable::default();
        let named = owners_of(&machine, Recorded::All, &[500, 501], &mut table);
        let pids: Vec<u32> = named[&500].iter().map(|owner| owner.pid).collect();
        assert_eq!(pids, [10, 11], "a prefork server's listener has every worker");
        assert!(!named.contains_key(&501), "nobody holds 501");

        // Pid 10 is reused by a newer process: the table's entry for the
        // old one must not name it.
        let mut newer = machine;
        newer.files.insert(
            "/proc/10/stat".into(),
            "10 (other) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9999".into(),
        );
        let other =
            Process { pid: 10, name: "other".into(), start_ticks: 9999, ..Process::default() };
        newer.processes.insert(10, other);
        let named = owners_of(&newer, Recorded::All, &[500], &mut table);
        assert_eq!(named[&500][0].name, "other");

        // Recording one namespace, processes of other namespaces are not
        // read: pid 11 moved to namespace 9.
        newer.process_namespaces.insert(11, 9);
        let named = owners_of(&newer, Recorded::Namespace(0), &[500], &mut table);
        let pids: Vec<u32> = named[&500].iter().map(|owner| owner.pid).collect();
        assert_eq!(pids, [10]);
    }

    /// The programs send no server start when the server end's peer has
    /// a loopback address; the recorder must take the client's `connected`
    /// record as that start for exactly those (`peer_on_loopback` in
    /// monitor.bpf.c), else it would count them lost.
    #[test]
    fn loopback_peers_are_those_the_programs_send_no_server_start_for() {
        let client = |local: &str, remote: &str| {
            EndKey::new(None, local.parse().unwrap(), remote.parse().unwrap())
        };
        for local in
            ["127.0.0.1:40000", "127.5.6.7:40000", "[::1]:40000", "[::ffff:127.0.0.2]:40000"]
        {
            assert!(loopback_peer(&client(local, "127.0.0.1:80")), "{local}");
        }
        for local in ["10.9.9.1:40000", "[::ffff:10.0.0.1]:40000", "[fe80::1]:40000", "[::]:40000"]
        {
            assert!(!loopback_peer(&client(local, "10.9.9.1:80")), "{local}");
        }
    }
}
