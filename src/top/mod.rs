//! The engine of `porthole top`: turns successive samples of the machine's
//! listeners and connections into [`TopFrame`]s with rates and changes.
//!
//! Each refresh reads three things (at 60k sockets the cost is mostly the
//! kernel walking its socket table and filling `tcp_info`: BENCHMARKS.md,
//! "top"):
//! 1. a LISTEN-only inventory dump (no established-hash walk), through the
//!    [`System`] handle;
//! 2. the byte counters of the server ends of connections to those
//!    listeners (`tcp_info` in one filtered sock_diag walk,
//!    [`crate::inventory::counters`]), keyed by socket cookie;
//! 3. what the sock_diag destroy multicast reported closed since the last
//!    refresh, so a connection shorter than one refresh is still counted.
//!
//! Owners are attributed only for listener inodes not seen before (a
//! listener keeps its owners for life, bar a fork) and, for the selected
//! row, for the client ends of its connections: the `/proc/*/fd` walk is the
//! expensive part of an inventory and need not run every second.
//!
//! Per connection, a refresh does one lookup in a cookie-keyed table that
//! lives across refreshes (updated in place, not rebuilt) and one binary
//! search for its listener; connection rows, with their addresses and
//! client processes, are built only for the listeners a view lists
//! ([`ConnectionDetail`]).
//!
//! [`Tracker::frame`] holds the reasoning and reads nothing from the
//! machine; [`Sampler`] feeds it from the kernel. Tests drive the tracker
//! with scripted samples.

pub mod keys;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};

use crate::inventory::counters::{CounterPorts, CounterSampler};
use crate::inventory::netlink::ClosedSocket;
use crate::inventory::system::System;
use crate::inventory::{visibility, InventoryError, Query};
use crate::model::top::{
    ConnectionRow, FleetingListener, ListenerChange, ListenerRow, ShortLivedCapture, TcpCounters,
    TopEvent, TopFrame,
};
use crate::model::{OwnerGap, Process, Protocol, Socket, Visibility};
use crate::monitor::connections;

/// How long an appeared or disappeared listener stays highlighted, and how
/// long an event stays in the event strip.
pub const HIGHLIGHT_SECONDS: u64 = 5;
/// Events kept for the event strip.
const EVENTS_KEPT: usize = 50;

/// Which listeners to show.
#[derive(Debug, Clone)]
pub struct TopQuery {
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
}

/// Which listeners' connections a frame lists one by one. Counts and rates
/// are computed for every listener whatever this says; the list costs an
/// allocation and two addresses per connection, which at 30k connections
/// is most of a refresh's own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionDetail {
    /// Every listener's, with the processes of their local clients
    /// (`--once`, `--json`, `--jsonl`).
    All,
    /// Only that of the listener bound to this address (the live view's
    /// expanded row), with the processes of its local clients.
    Listener(SocketAddr),
    /// None (the live view with no row expanded).
    Counts,
}

impl ConnectionDetail {
    /// The listener whose clients' processes are wanted.
    pub fn selected(self) -> Option<SocketAddr> {
        match self {
            ConnectionDetail::Listener(address) => Some(address),
            ConnectionDetail::All | ConnectionDetail::Counts => None,
        }
    }

    /// Whose clients' processes are wanted: none, one listener's, or
    /// every listener's.
    pub fn clients(self) -> Clients {
        match self {
            ConnectionDetail::Listener(address) => Clients::Of(address),
            ConnectionDetail::All => Clients::All,
            ConnectionDetail::Counts => Clients::None,
        }
    }

    fn lists(self, listener: &Socket) -> bool {
        match self {
            ConnectionDetail::All => true,
            ConnectionDetail::Listener(address) => listener.local == Some(address),
            ConnectionDetail::Counts => false,
        }
    }
}

/// The listeners whose local clients' processes a sample finds (a `/proc`
/// walk for their inodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    None,
    /// Those of the listener bound to this address.
    Of(SocketAddr),
    /// Those of every TCP listener.
    All,
}

/// One reading of the machine, the tracker's only input.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When it was taken: seconds since the Unix epoch, fractional.
    pub at: f64,
    /// Listening sockets (owners attached where known).
    pub listeners: Vec<Socket>,
    /// Counters of the connected TCP sockets whose local port a listener
    /// uses (and of the selected listener's client ends). A socket may
    /// appear twice: sock_diag dumps are resumable.
    pub connections: Vec<TcpCounters>,
    /// Sockets the destroy multicast reported closed since the previous
    /// sample, with their final counters.
    pub closed: Vec<TcpCounters>,
    /// Pids holding each client-side socket inode that was asked for.
    pub client_owners: HashMap<u64, Vec<u32>>,
    pub processes: BTreeMap<u32, Process>,
    pub visibility: Visibility,
}

/// A closed socket's final counters as [`Sample::closed`] takes them: the
/// payload only, as [`crate::inventory::counters::payload_only`] gives it
/// for live sockets, so a connection seen open and then closed adds no byte
/// for its FINs.
///
/// `tcpi_bytes_acked` counts our FIN: the payload acknowledged is never
/// more than the payload sent once (`tcpi_bytes_sent` counts no FIN).
/// `tcpi_bytes_received` counts the peer's FIN, and nothing in `tcp_info`
/// says whether it came: as `porthole monitor` does, an end whose own FIN
/// was acknowledged (an orderly close) is taken to have received the
/// peer's, and a reset or timed-out end not. Before Linux 4.19 (no
/// `tcpi_bytes_sent`) both FINs are taken off.
pub fn closed_counters(socket: &ClosedSocket) -> TcpCounters {
    let acked = match socket.bytes_sent {
        Some(sent) => socket.bytes_acked.min(sent.saturating_sub(socket.bytes_retransmitted)),
        None => socket.bytes_acked.saturating_sub(1),
    };
    let end = connections::end_of(socket, connections::Role::Server);
    TcpCounters {
        cookie: socket.cookie,
        local: socket.local,
        remote: socket.remote,
        state: crate::model::SocketState::Close,
        inode: 0,
        uid: socket.uid,
        bytes_acked: acked,
        bytes_received: socket.bytes_received.saturating_sub(connections::fin_count(end)),
    }
}

/// A listener as the tracker remembers it between samples.
#[derive(Debug, Clone)]
struct Known {
    socket: Socket,
    /// Owner details as last seen, to name a listener after its process
    /// exited.
    processes: Vec<Process>,
    since: Option<u64>,
    since_exact: bool,
    /// When it appeared during this run (for highlighting).
    appeared_at: Option<u64>,
}

/// A connection's counters at the last refresh that saw it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    bytes_received: u64,
    bytes_acked: u64,
    /// The refresh that saw it ([`Tracker::refresh`]).
    refresh: u64,
}

/// Hashes socket cookies for the connection table. Cookies are numbers the
/// kernel hands out in sequence, so no one can pick them to collide; a
/// multiply and a fold of the high half spread them over the table at a
/// fraction of SipHash's cost, paid 30k times a refresh.
#[derive(Debug, Default)]
struct CookieHasher(u64);

impl Hasher for CookieHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(self.0 ^ u64::from(*byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        let mixed = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = mixed ^ (mixed >> 32);
    }
}

type CookieMap<V> = HashMap<u64, V, BuildHasherDefault<CookieHasher>>;

/// Turns samples into frames; remembers what the previous sample had.
#[derive(Debug, Default)]
pub struct Tracker {
    started: Option<f64>,
    previous_at: Option<f64>,
    /// Every connection of a listener by cookie, kept and updated in place
    /// from one refresh to the next.
    seen: CookieMap<Seen>,
    /// Refreshes folded in so far.
    refresh: u64,
    /// Listeners by (protocol, inode).
    known: HashMap<(Protocol, u64), Known>,
    /// Listeners that went away, with when, kept for the highlight period.
    departed: Vec<(Known, u64)>,
    events: VecDeque<TopEvent>,
}

impl Tracker {
    /// Folds one sample in and returns the frame it produces, with the
    /// connections of the listeners `detail` names listed. The first sample
    /// has no rates (nothing to compare with).
    pub fn frame(
        &mut self,
        sample: &Sample,
        detail: ConnectionDetail,
        short_lived: ShortLivedCapture,
    ) -> TopFrame {
        let now = sample.at as u64;
        let first = self.started.is_none();
        self.started.get_or_insert(sample.at);
        let interval = self.previous_at.map(|previous| (sample.at - previous).max(0.001));
        let rate = |bytes: u64| interval.map_or(0.0, |seconds| bytes as f64 / seconds);
        self.refresh += 1;
        let refresh = self.refresh;
        self.track_listeners(sample, now, first);

        let mut rows: Vec<ListenerRow> = Vec::with_capacity(self.known.len());
        let mut listed: Vec<bool> = Vec::with_capacity(self.known.len());
        for known in self.known.values() {
            listed.push(detail.lists(&known.socket));
            rows.push(row(known, now));
        }
        let serving = ServingIndex::new(self.known.values().map(|known| &known.socket));
        // The client end of a listed connection, when local, is in the same
        // dump (the sampler asks for the selected listener's clients).
        // Keyed by canonical addresses: an IPv4 client (AF_INET,
        // 127.0.0.1) of an AF_INET6 listener appears to the server's end
        // as ::ffff:127.0.0.1.
        let clients: HashMap<(SocketAddr, SocketAddr), u64> = sample
            .connections
            .iter()
            .filter(|c| c.inode != 0 && sample.client_owners.contains_key(&c.inode))
            .map(|c| ((canonical(c.local), canonical(c.remote)), c.inode))
            .collect();
        for connection in &sample.connections {
            // Each connection's server end is the socket whose local
            // address a listener serves.
            let Some(index) = serving.listener_for(connection.local) else {
                continue;
            };
            let current = Seen {
                bytes_received: connection.bytes_received,
                bytes_acked: connection.bytes_acked,
                refresh,
            };
            let (bytes_in, bytes_out, new) = match self.seen.entry(connection.cookie) {
                Entry::Occupied(mut entry) => {
                    let before = *entry.get();
                    if before.refresh == refresh {
                        continue; // reported twice by a resumable dump
                    }
                    entry.insert(current);
                    (
                        connection.bytes_received.saturating_sub(before.bytes_received),
                        connection.bytes_acked.saturating_sub(before.bytes_acked),
                        false,
                    )
                }
                Entry::Vacant(entry) => {
                    entry.insert(current);
                    (connection.bytes_received, connection.bytes_acked, true)
                }
            };
            let row = &mut rows[index];
            row.open_connections += 1;
            if new && interval.is_some() {
                row.new_per_second += 1.0;
            }
            row.bytes_in_per_second += rate(bytes_in);
            row.bytes_out_per_second += rate(bytes_out);
            if listed[index] {
                let client_pids = clients
                    .get(&(canonical(connection.remote), canonical(connection.local)))
                    .and_then(|inode| sample.client_owners.get(inode))
                    .cloned()
                    .unwrap_or_default();
                row.connections.push(ConnectionRow {
                    client: connection.remote,
                    server: connection.local,
                    state: connection.state,
                    client_pids,
                    bytes_in_per_second: rate(bytes_in),
                    bytes_out_per_second: rate(bytes_out),
                    bytes_in: connection.bytes_received,
                    bytes_out: connection.bytes_acked,
                });
            }
        }
        // Closed since the last sample: the bytes moved after that sample,
        // and a new connection when it was never seen open.
        // Closes no known listener accounts for: bound sockets (among them
        // listeners that lived less than a refresh) and the server ends
        // of connections nobody saw open.
        let mut bound_closed: Vec<SocketAddr> = Vec::new();
        let mut unserved: Vec<&TcpCounters> = Vec::new();
        for closed in &sample.closed {
            let before = self.seen.remove(&closed.cookie);
            let Some(seconds) = interval else { continue };
            let Some(index) = serving.listener_for(closed.local) else {
                if closed.remote.port() == 0 {
                    bound_closed.push(closed.local);
                } else if before.is_none() {
                    unserved.push(closed);
                }
                continue;
            };
            let row = &mut rows[index];
            let (before_in, before_out) = match before {
                Some(before) => (before.bytes_received, before.bytes_acked),
                None => {
                    row.new_per_second += 1.0;
                    (0, 0)
                }
            };
            row.bytes_in_per_second +=
                closed.bytes_received.saturating_sub(before_in) as f64 / seconds;
            row.bytes_out_per_second +=
                closed.bytes_acked.saturating_sub(before_out) as f64 / seconds;
        }
        if let Some(seconds) = interval {
            for row in &mut rows {
                row.new_per_second /= seconds;
            }
        }
        // A connection is kept one refresh after it was last seen: a dump
        // can miss a socket that moved, and one destroyed between the close
        // feed's drain and the dump is reported at the next refresh; either
        // way it is not new, and its bytes count from where they were.
        self.seen.retain(|_, seen| refresh - seen.refresh <= 1);
        drop(serving);

        let fleeting = fleeting_listeners(&bound_closed, &unserved, &self.departed);

        let mut processes = sample.processes.clone();
        for (known, _) in &self.departed {
            let mut departed = row(known, now);
            departed.change = Some(ListenerChange::Disappeared);
            // A pid of this sample held by a later process than the one
            // that owned the listener (the pid was reused) names that
            // process: the row leaves the pid out rather than blame it.
            // An owner still running (it closed one listener of several)
            // is the same process and keeps its name.
            departed.socket.owners.retain(|pid| {
                let then = known.processes.iter().find(|process| process.pid == *pid);
                match (processes.get(pid), then) {
                    (Some(current), Some(then)) => current.start_ticks == then.start_ticks,
                    _ => true,
                }
            });
            for process in &known.processes {
                if departed.socket.owners.contains(&process.pid) {
                    processes.entry(process.pid).or_insert_with(|| process.clone());
                }
            }
            rows.push(departed);
        }
        for row in &mut rows {
            // By client, then server: unique per connection, so an unstable
            // sort is deterministic, and integer keys compare faster than
            // addresses (a listener can have thousands).
            row.connections.sort_unstable_by_key(|connection| {
                (address_key(connection.client), address_key(connection.server))
            });
        }
        rows.sort_by(|a, b| listing_key(&a.socket).cmp(&listing_key(&b.socket)));
        self.previous_at = Some(sample.at);
        TopFrame {
            at: now,
            interval_seconds: interval.unwrap_or(0.0),
            listeners: rows,
            processes,
            events: self.events.iter().cloned().collect(),
            short_lived,
            visibility: sample.visibility.clone(),
            fleeting,
        }
    }

    /// Updates the known listeners: new ones appear (with an event unless
    /// this is the first sample), missing ones depart for the highlight
    /// period.
    fn track_listeners(&mut self, sample: &Sample, now: u64, first: bool) {
        let mut present = HashMap::with_capacity(sample.listeners.len());
        for socket in &sample.listeners {
            present.insert((socket.protocol, socket.inode), socket);
        }
        // Events of one refresh in the order the rows are listed, not in
        // the maps' hash order, which differed from run to run.
        let mut gone: Vec<(Protocol, u64)> =
            self.known.keys().filter(|key| !present.contains_key(key)).copied().collect();
        gone.sort_by(|a, b| {
            listing_key(&self.known[a].socket).cmp(&listing_key(&self.known[b].socket))
        });
        for key in gone {
            if let Some(known) = self.known.remove(&key) {
                self.push_event(TopEvent {
                    at: now,
                    change: ListenerChange::Disappeared,
                    socket: known.socket.clone(),
                    processes: known.processes.clone(),
                });
                self.departed.push((known, now));
            }
        }
        self.departed.retain(|(_, gone_at)| now.saturating_sub(*gone_at) < HIGHLIGHT_SECONDS);
        let mut present: Vec<((Protocol, u64), &Socket)> = present.into_iter().collect();
        present.sort_by(|(_, a), (_, b)| listing_key(a).cmp(&listing_key(b)));
        for (key, socket) in present {
            let processes: Vec<Process> =
                socket.owners.iter().filter_map(|pid| sample.processes.get(pid)).cloned().collect();
            match self.known.get_mut(&key) {
                Some(known) => {
                    // Owners can change (a fork, a passed descriptor);
                    // keep the latest view.
                    known.socket = socket.clone();
                    if !processes.is_empty() {
                        known.processes = processes;
                    }
                }
                None => {
                    let (since, since_exact) = if first {
                        let oldest_owner = socket
                            .owners
                            .iter()
                            .filter_map(|pid| sample.processes.get(pid)?.start_time)
                            .min();
                        (oldest_owner, false)
                    } else {
                        (Some(now), true)
                    };
                    if !first {
                        self.push_event(TopEvent {
                            at: now,
                            change: ListenerChange::Appeared,
                            socket: socket.clone(),
                            processes: processes.clone(),
                        });
                    }
                    self.known.insert(
                        key,
                        Known {
                            socket: socket.clone(),
                            processes,
                            since,
                            since_exact,
                            appeared_at: (!first).then_some(now),
                        },
                    );
                }
            }
        }
    }

    fn push_event(&mut self, event: TopEvent) {
        self.events.push_back(event);
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
    }
}

/// The listeners that came and went between two refreshes, from the closes
/// no known listener accounts for: a bound socket's close (`bound`, remote
/// port 0) at an address that the server ends of closed connections
/// (`unserved`) were accepted on. A bound socket that never listened has
/// no accepted connections, and a listener that served none cannot be
/// told from it, so it is not named (see [`FleetingListener`]). A listener
/// seen in an earlier refresh is a departure, not one of these. Both closes
/// must fall between the same two refreshes.
fn fleeting_listeners(
    bound: &[SocketAddr],
    unserved: &[&TcpCounters],
    departed: &[(Known, u64)],
) -> Vec<FleetingListener> {
    let mut fleeting: Vec<FleetingListener> = Vec::new();
    for &local in bound {
        let known = departed.iter().any(|(known, _)| known.socket.local == Some(local));
        if known || fleeting.iter().any(|listener| listener.local == local) {
            continue;
        }
        let listener = Socket::listening(Protocol::Tcp, local);
        let served: Vec<&&TcpCounters> =
            unserved.iter().filter(|closed| listener.serves(canonical(closed.local))).collect();
        if served.is_empty() {
            continue;
        }
        fleeting.push(FleetingListener {
            local,
            connections: served.len() as u64,
            bytes_in: served.iter().map(|closed| closed.bytes_received).sum(),
            bytes_out: served.iter().map(|closed| closed.bytes_acked).sum(),
        });
    }
    fleeting.sort_by_key(|listener| address_key(listener.local));
    fleeting
}

/// A frame's row for a known listener, before its connections are counted.
fn row(known: &Known, now: u64) -> ListenerRow {
    let socket = &known.socket;
    // A TCP listener's receive queue is the accept queue; its send queue is
    // the backlog it may hold.
    let accept_queue =
        (socket.protocol == Protocol::Tcp).then_some((socket.rx_queue, socket.tx_queue));
    let highlighted =
        known.appeared_at.is_some_and(|at| now.saturating_sub(at) < HIGHLIGHT_SECONDS);
    ListenerRow {
        socket: socket.clone(),
        open_connections: 0,
        new_per_second: 0.0,
        bytes_in_per_second: 0.0,
        bytes_out_per_second: 0.0,
        accept_queue,
        since: known.since,
        since_exact: known.since_exact,
        change: highlighted.then_some(ListenerChange::Appeared),
        connections: Vec::new(),
    }
}

/// Rows read by port; Unix sockets last, by path. Protocol and inode settle
/// ties so a frame's order does not depend on hashing.
fn listing_key(socket: &Socket) -> (bool, u16, &Option<String>, Option<SocketAddr>, Protocol, u64) {
    (
        socket.protocol == Protocol::Unix,
        socket.local_port(),
        &socket.path,
        socket.local,
        socket.protocol,
        socket.inode,
    )
}

/// An address as integers that sort as [`SocketAddr`] does (IPv4 first).
fn address_key(address: SocketAddr) -> (bool, u128, u16) {
    match address {
        SocketAddr::V4(v4) => (false, u128::from(u32::from(*v4.ip())), v4.port()),
        SocketAddr::V6(v6) => (true, u128::from(*v6.ip()), v6.port()),
    }
}

/// Finds the TCP listener that serves a local address: an exact address
/// first, then a wildcard of the family (a dual-stack `::` for IPv4 too).
/// Listeners are sorted by port, so a lookup is a binary search and a look
/// at the few listeners sharing that port.
struct ServingIndex<'a> {
    /// (port, address as [`canonical`] writes it, the listener, its
    /// position in the order the index was built from).
    listeners: Vec<(u16, IpAddr, &'a Socket, usize)>,
}

impl<'a> ServingIndex<'a> {
    fn new(listeners: impl Iterator<Item = &'a Socket>) -> Self {
        let mut index: Vec<(u16, IpAddr, &'a Socket, usize)> = listeners
            .enumerate()
            .filter(|(_, socket)| socket.protocol == Protocol::Tcp)
            .filter_map(|(position, socket)| {
                let bound = canonical(socket.local?);
                Some((bound.port(), bound.ip(), socket, position))
            })
            .collect();
        index.sort_by_key(|(port, _, _, position)| (*port, *position));
        ServingIndex { listeners: index }
    }

    /// The position of the listener serving `local`.
    fn listener_for(&self, local: SocketAddr) -> Option<usize> {
        let local = canonical(local);
        let start = self.listeners.partition_point(|(port, ..)| *port < local.port());
        let mut wildcard = None;
        for (port, bound, socket, position) in &self.listeners[start..] {
            if *port != local.port() {
                break;
            }
            if *bound == local.ip() {
                return Some(*position);
            }
            if socket.serves(local) {
                wildcard = Some(*position);
            }
        }
        wildcard
    }
}

/// IPv4-mapped IPv6 addresses as plain IPv4, so an accepted socket of a
/// dual-stack listener matches a `127.0.0.1` bind or a `0.0.0.0` one.
fn canonical(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => address,
        },
        SocketAddr::V4(_) => address,
    }
}

/// Reads samples from the kernel for a [`Tracker`].
pub struct Sampler {
    query: TopQuery,
    /// The counter dump's channel, kept open between refreshes.
    counters: CounterSampler,
    /// The sample handed out last; refilled in place, so its connection
    /// buffer is allocated once and its process details are kept.
    sample: Sample,
    /// Owners of listener inodes already attributed.
    listener_owners: HashMap<u64, Vec<u32>>,
    /// What the last `/proc` scan was refused, and why owners may be
    /// missing: kept, because most refreshes scan nothing (no new listener)
    /// while the `?` rows from an earlier scan are still on screen.
    unreadable_processes: usize,
    owner_gaps: Vec<OwnerGap>,
}

impl Sampler {
    pub fn new(query: TopQuery) -> Self {
        Sampler {
            query,
            counters: CounterSampler::new(),
            sample: Sample::default(),
            listener_owners: HashMap::new(),
            unreadable_processes: 0,
            owner_gaps: Vec::new(),
        }
    }

    /// Takes one sample of `system`. `clients` says whose clients'
    /// processes should be found (the `/proc` walk runs only then).
    pub fn sample(
        &mut self,
        system: &dyn System,
        closed: Vec<TcpCounters>,
        clients: Clients,
    ) -> Result<&Sample, InventoryError> {
        let at = now_seconds();
        let query = Query {
            tcp: self.query.tcp,
            udp: self.query.udp,
            unix: self.query.unix,
            listeners_only: true,
            owners: false,
            ..Query::default()
        };
        let mut listeners = system.snapshot(&query)?.sockets;
        // Only server ends of connections to a listener count in a row, and
        // the client ends only for the selected listener: the kernel is
        // asked for just those, which halves its work when clients are
        // local.
        let connections = &mut self.sample.connections;
        connections.clear();
        if self.query.tcp {
            let local_ports: Vec<u16> = listeners
                .iter()
                .filter(|socket| socket.protocol == Protocol::Tcp)
                .filter_map(|socket| socket.local.map(|address| address.port()))
                .collect();
            let remote_ports = match clients {
                Clients::None => Vec::new(),
                Clients::Of(server) => vec![server.port()],
                Clients::All => local_ports.clone(),
            };
            let ports = CounterPorts { local_ports, remote_ports };
            self.counters.sample(&ports, |counters| connections.push(counters))?;
        }

        // Attribute only inodes not seen before; forget the departed.
        let live: HashSet<u64> = listeners.iter().map(|s| s.inode).collect();
        self.listener_owners.retain(|inode, _| live.contains(inode));
        let mut wanted: Vec<u64> = listeners
            .iter()
            .map(|s| s.inode)
            .filter(|inode| *inode != 0 && !self.listener_owners.contains_key(inode))
            .collect();
        let tcp_listeners: Vec<SocketAddr> = listeners
            .iter()
            .filter(|socket| socket.protocol == Protocol::Tcp)
            .filter_map(|socket| socket.local)
            .collect();
        let client_of = |remote: SocketAddr| match clients {
            Clients::None => false,
            Clients::Of(server) => remote == server || canonical(remote) == canonical(server),
            // The client end of a connection to one of the listeners.
            Clients::All => tcp_listeners.iter().any(|&listener| {
                listener.port() == remote.port()
                    && (listener.ip().is_unspecified()
                        || canonical(listener).ip() == canonical(remote).ip())
            }),
        };
        let client_inodes: HashSet<u64> = connections
            .iter()
            .filter(|c| client_of(c.remote))
            .map(|c| c.inode)
            .filter(|inode| *inode != 0)
            .collect();
        wanted.extend(&client_inodes);
        let mut client_owners = HashMap::new();
        if !wanted.is_empty() {
            let scan = system.socket_owners(&wanted, None);
            self.unreadable_processes = scan.unreadable_processes;
            self.owner_gaps =
                visibility::owner_gaps(&scan.unreadable_pids, &scan.unreadable_own_processes);
            for inode in &wanted {
                let pids: Vec<u32> = scan.owners.pids(*inode).collect();
                if client_inodes.contains(inode) {
                    client_owners.insert(*inode, pids.clone());
                }
                if live.contains(inode) {
                    self.listener_owners.insert(*inode, pids);
                }
            }
        }
        for socket in &mut listeners {
            if let Some(pids) = self.listener_owners.get(&socket.inode) {
                socket.owners.clone_from(pids);
            }
        }
        let mut visibility = Visibility {
            sockets_without_visible_owner: listeners
                .iter()
                .filter(|s| s.inode != 0 && s.owners.is_empty())
                .count(),
            unreadable_processes: self.unreadable_processes,
            ..Visibility::default()
        };
        if visibility.sockets_without_visible_owner > 0 {
            visibility.owner_gaps.clone_from(&self.owner_gaps);
        }

        // Process details are kept across refreshes; pids that no longer
        // own anything are dropped so the map does not grow.
        let needed: BTreeSet<u32> = listeners
            .iter()
            .flat_map(|s| s.owners.iter().copied())
            .chain(client_owners.values().flatten().copied())
            .collect();
        let processes = &mut self.sample.processes;
        processes.retain(|pid, _| needed.contains(pid));
        for pid in &needed {
            if !processes.contains_key(pid) {
                if let Some(details) = system.process(*pid) {
                    processes.insert(*pid, details);
                }
            }
        }
        self.sample.at = at;
        self.sample.listeners = listeners;
        self.sample.closed = closed;
        self.sample.client_owners = client_owners;
        self.sample.visibility = visibility;
        Ok(&self.sample)
    }
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SocketState;

    fn listener(address: &str, inode: u64) -> Socket {
        Socket { inode, ..Socket::listening(Protocol::Tcp, address.parse().unwrap()) }
    }

    fn connection(
        cookie: u64,
        local: &str,
        remote: &str,
        received: u64,
        acked: u64,
    ) -> TcpCounters {
        TcpCounters {
            cookie,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state: SocketState::Established,
            inode: cookie + 1000,
            uid: 0,
            bytes_acked: acked,
            bytes_received: received,
        }
    }

    fn sample(at: f64, listeners: Vec<Socket>, connections: Vec<TcpCounters>) -> Sample {
        Sample { at, listeners, connections, ..Sample::default() }
    }

    fn frame_of(tracker: &mut Tracker, sample: Sample) -> TopFrame {
        tracker.frame(&sample, ConnectionDetail::All, ShortLivedCapture::Available)
    }

    #[test]
    fn a_listener_shorter_than_a_refresh_is_named_by_the_connections_it_served() {
        let mut tracker = Tracker::default();
        let known = listener("127.0.0.1:8000", 1);
        frame_of(&mut tracker, sample(100.0, vec![known.clone()], Vec::new()));
        let closed =
            |cookie: u64, local: &str, remote: &str, received: u64, acked: u64| TcpCounters {
                state: SocketState::Close,
                ..connection(cookie, local, remote, received, acked)
            };
        let mut next = sample(101.0, vec![known], Vec::new());
        next.closed = vec![
            // Two connections served by a wildcard listener on 9000, and
            // the listener itself.
            closed(1, "127.0.0.1:9000", "127.0.0.1:50000", 100, 10),
            closed(2, "127.0.0.1:9000", "127.0.0.1:50001", 200, 20),
            closed(3, "0.0.0.0:9000", "0.0.0.0:0", 0, 0),
            // Their client ends: not server ends of anything.
            closed(4, "127.0.0.1:50000", "127.0.0.1:9000", 10, 100),
            // A port probe: bound and closed, nothing served.
            closed(5, "127.0.0.1:9100", "0.0.0.0:0", 0, 0),
        ];
        let frame = frame_of(&mut tracker, next);
        assert_eq!(
            frame.fleeting,
            vec![FleetingListener {
                local: "0.0.0.0:9000".parse().unwrap(),
                connections: 2,
                bytes_in: 300,
                bytes_out: 30,
            }]
        );
        // A known listener that departs is an event, not a fleeting one.
        let mut gone = sample(102.0, Vec::new(), Vec::new());
        gone.closed = vec![
            closed(6, "127.0.0.1:8000", "127.0.0.1:50002", 5, 5),
            closed(7, "127.0.0.1:8000", "0.0.0.0:0", 0, 0),
        ];
        let frame = frame_of(&mut tracker, gone);
        assert!(frame.fleeting.is_empty(), "{:?}", frame.fleeting);
    }

    #[test]
    fn rates_come_from_counter_deltas_and_new_cookies() {
        let mut tracker = Tracker::default();
        let server = listener("127.0.0.1:8000", 1);
        let first = frame_of(
            &mut tracker,
            sample(
                100.0,
                vec![server.clone()],
                vec![connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 100, 1000)],
            ),
        );
        assert_eq!(first.listeners[0].open_connections, 1);
        assert_eq!(first.listeners[0].new_per_second, 0.0, "no rate without a previous sample");
        let second = frame_of(
            &mut tracker,
            sample(
                102.0,
                vec![server],
                vec![
                    connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 300, 5000),
                    connection(2, "127.0.0.1:8000", "127.0.0.1:50001", 10, 20),
                ],
            ),
        );
        let row = &second.listeners[0];
        assert_eq!(row.open_connections, 2);
        assert_eq!(row.new_per_second, 0.5);
        assert_eq!(row.bytes_in_per_second, (200.0 + 10.0) / 2.0);
        assert_eq!(row.bytes_out_per_second, (4000.0 + 20.0) / 2.0);
        assert_eq!(row.connections.len(), 2);
    }

    #[test]
    fn client_ends_are_not_counted_as_connections_of_their_port() {
        let mut tracker = Tracker::default();
        let frame = frame_of(
            &mut tracker,
            sample(
                1.0,
                vec![listener("127.0.0.1:8000", 1)],
                vec![
                    connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 0, 0),
                    connection(2, "127.0.0.1:50000", "127.0.0.1:8000", 0, 0),
                ],
            ),
        );
        assert_eq!(frame.listeners[0].open_connections, 1);
    }

    #[test]
    fn a_closed_socket_counts_its_payload_not_its_fins() {
        let closed = |acked: u64, sent: Option<u64>, received: u64| ClosedSocket {
            bytes_acked: acked,
            bytes_sent: sent,
            bytes_received: received,
            ..ClosedSocket::default()
        };
        let payload = |socket: ClosedSocket| {
            let counters = closed_counters(&socket);
            (counters.bytes_received, counters.bytes_acked)
        };
        // 1000 bytes in, 500 out, both FINs: an orderly close.
        assert_eq!(payload(closed(501, Some(500), 1001)), (1000, 500));
        // Nothing sent; our FIN acknowledged, the client's received.
        assert_eq!(payload(closed(1, Some(0), 1001)), (1000, 0));
        // Reset: no FIN of ours acknowledged, none taken off what came in.
        assert_eq!(payload(closed(0, Some(0), 1000)), (1000, 0));
        // Before Linux 4.19: taken to have closed in order.
        assert_eq!(payload(closed(501, None, 1001)), (1000, 500));
        assert_eq!(payload(closed(0, None, 0)), (0, 0));
    }

    #[test]
    fn short_lived_connections_count_through_closes() {
        let mut tracker = Tracker::default();
        let server = listener("[::]:9000", 1);
        frame_of(&mut tracker, sample(10.0, vec![server.clone()], vec![]));
        let mut next = sample(11.0, vec![server], vec![]);
        next.closed = vec![
            connection(7, "[::ffff:127.0.0.1]:9000", "[::ffff:127.0.0.1]:40000", 64, 128),
            connection(8, "[::1]:9000", "[::1]:40001", 1, 2),
            // The client end of the same connection is not the server's.
            connection(9, "[::1]:40001", "[::1]:9000", 2, 1),
        ];
        let frame = frame_of(&mut tracker, next);
        let row = &frame.listeners[0];
        assert_eq!(row.new_per_second, 2.0);
        assert_eq!(row.bytes_in_per_second, 65.0);
        assert_eq!(row.open_connections, 0);
    }

    #[test]
    fn exact_address_wins_over_wildcard() {
        let mut tracker = Tracker::default();
        let frame = frame_of(
            &mut tracker,
            sample(
                1.0,
                vec![listener("0.0.0.0:80", 1), listener("127.0.0.1:80", 2)],
                vec![connection(1, "127.0.0.1:80", "127.0.0.1:50000", 0, 0)],
            ),
        );
        let specific = frame.listeners.iter().find(|row| row.socket.inode == 2).unwrap();
        let wildcard = frame.listeners.iter().find(|row| row.socket.inode == 1).unwrap();
        assert_eq!((specific.open_connections, wildcard.open_connections), (1, 0));
    }

    #[test]
    fn appearing_and_departing_listeners_make_events_and_highlights() {
        let mut tracker = Tracker::default();
        let old = listener("127.0.0.1:5432", 1);
        let new = listener("[::1]:5173", 2);
        let first = frame_of(&mut tracker, sample(100.0, vec![old.clone()], vec![]));
        assert!(first.events.is_empty(), "what was there at start is not news");
        assert!(!first.listeners[0].since_exact);
        let second = frame_of(&mut tracker, sample(101.0, vec![new.clone()], vec![]));
        let changes: Vec<_> = second.events.iter().map(|e| (e.change, e.socket.inode)).collect();
        assert_eq!(changes, vec![(ListenerChange::Disappeared, 1), (ListenerChange::Appeared, 2)]);
        let gone = second.listeners.iter().find(|row| row.socket.inode == 1).unwrap();
        assert_eq!(gone.change, Some(ListenerChange::Disappeared));
        let came = second.listeners.iter().find(|row| row.socket.inode == 2).unwrap();
        assert_eq!(
            (came.change, came.since, came.since_exact),
            (Some(ListenerChange::Appeared), Some(101), true)
        );
        let later = frame_of(&mut tracker, sample(110.0, vec![new], vec![]));
        assert_eq!(later.listeners.len(), 1, "the departed row is dropped after the highlight");
        assert_eq!(later.listeners[0].change, None);
    }

    fn process(pid: u32, name: &str, start_ticks: u64) -> Process {
        Process { pid, name: name.to_string(), start_ticks, ..Process::default() }
    }

    fn owned(mut socket: Socket, pid: u32) -> Socket {
        socket.owners = vec![pid];
        socket
    }

    // A listener's crossed-out row named its owner through the frame's
    // processes, by pid: when that pid was taken by a later process that
    // holds a socket too, the row named that process as the one that had
    // gone away.
    #[test]
    fn a_departed_row_does_not_name_a_later_process_with_its_pid() {
        let mut tracker = Tracker::default();
        let old = owned(listener("127.0.0.1:8080", 1), 700);
        let mut first = sample(100.0, vec![old], vec![]);
        first.processes.insert(700, process(700, "nginx", 5));
        frame_of(&mut tracker, first);
        // nginx exited; a new process got pid 700 and listens elsewhere.
        let new = owned(listener("127.0.0.1:9090", 2), 700);
        let mut second = sample(101.0, vec![new], vec![]);
        second.processes.insert(700, process(700, "python3", 9));
        let frame = frame_of(&mut tracker, second);
        let gone = frame.listeners.iter().find(|row| row.socket.inode == 1).unwrap();
        assert_eq!(gone.change, Some(ListenerChange::Disappeared));
        for pid in &gone.socket.owners {
            assert_eq!(frame.processes[pid].name, "nginx", "{gone:?}");
        }
        let event = frame.events.iter().find(|event| event.socket.inode == 1).unwrap();
        assert_eq!(event.processes[0].name, "nginx");
        let came = frame.listeners.iter().find(|row| row.socket.inode == 2).unwrap();
        assert_eq!(frame.processes[&came.socket.owners[0]].name, "python3");
    }

    #[test]
    fn a_departed_row_keeps_an_owner_that_still_runs() {
        let mut tracker = Tracker::default();
        let closed = owned(listener("127.0.0.1:8080", 1), 700);
        let kept = owned(listener("127.0.0.1:8443", 2), 700);
        let mut first = sample(100.0, vec![closed, kept.clone()], vec![]);
        first.processes.insert(700, process(700, "nginx", 5));
        frame_of(&mut tracker, first);
        let mut second = sample(101.0, vec![kept], vec![]);
        second.processes.insert(700, process(700, "nginx", 5));
        let frame = frame_of(&mut tracker, second);
        let gone = frame.listeners.iter().find(|row| row.socket.inode == 1).unwrap();
        assert_eq!(gone.socket.owners, vec![700]);
        assert_eq!(frame.processes[&700].name, "nginx");
    }

    // Listeners that appear or go in the same refresh made their events in
    // hash order, different from run to run: the event strip showed three
    // of them at random and `--jsonl` listed them in any order.
    #[test]
    fn the_events_of_one_refresh_are_in_listing_order() {
        let mut tracker = Tracker::default();
        frame_of(&mut tracker, sample(100.0, vec![], vec![]));
        let listeners: Vec<Socket> = (0..20)
            .map(|index| listener(&format!("127.0.0.1:{}", 9000 + index), 100 - index))
            .collect();
        let came = frame_of(&mut tracker, sample(101.0, listeners, vec![]));
        let went = frame_of(&mut tracker, sample(102.0, vec![], vec![]));
        let ports = |events: &[TopEvent], change: ListenerChange| -> Vec<u16> {
            let ports = events.iter().filter(|event| event.change == change);
            ports.map(|event| event.socket.local_port()).collect()
        };
        let expected: Vec<u16> = (9000..9020).collect();
        assert_eq!(ports(&came.events, ListenerChange::Appeared), expected);
        assert_eq!(ports(&went.events, ListenerChange::Disappeared), expected);
    }

    #[test]
    fn an_ipv4_client_of_a_v4_mapped_listener_is_named() {
        // The server's end is AF_INET6 on ::ffff:127.0.0.1; the client's
        // own socket is AF_INET.
        let server = listener("[::ffff:127.0.0.1]:8000", 1);
        let connections = vec![
            connection(1, "[::ffff:127.0.0.1]:8000", "[::ffff:127.0.0.1]:50000", 5, 5),
            connection(2, "127.0.0.1:50000", "127.0.0.1:8000", 5, 5),
        ];
        let mut selected = sample(1.0, vec![server], connections);
        selected.client_owners.insert(2 + 1000, vec![4242]);
        let frame = Tracker::default().frame(
            &selected,
            ConnectionDetail::Listener("[::ffff:127.0.0.1]:8000".parse().unwrap()),
            ShortLivedCapture::Available,
        );
        let connections = &frame.listeners[0].connections;
        assert_eq!(connections.len(), 1, "{connections:?}");
        assert_eq!(connections[0].client_pids, vec![4242]);
    }

    #[test]
    fn only_the_named_listener_lists_its_connections_but_every_row_is_counted() {
        let web = listener("127.0.0.1:8000", 1);
        let database = listener("[::1]:5432", 2);
        let connections = vec![
            connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 5, 5),
            connection(2, "[::1]:5432", "[::1]:50001", 5, 5),
            // The database's client end, asked for because it is selected.
            connection(3, "[::1]:50001", "[::1]:5432", 5, 5),
        ];
        let mut selected = sample(1.0, vec![web.clone(), database.clone()], connections.clone());
        selected.client_owners.insert(3 + 1000, vec![4242]);
        let address = "[::1]:5432".parse().unwrap();
        let frame = Tracker::default().frame(
            &selected,
            ConnectionDetail::Listener(address),
            ShortLivedCapture::Available,
        );
        let counts: Vec<_> = frame
            .listeners
            .iter()
            .map(|row| (row.socket.inode, row.open_connections, row.connections.len()))
            .collect();
        assert_eq!(counts, vec![(2, 1, 1), (1, 1, 0)]);
        assert_eq!(frame.listeners[0].connections[0].client_pids, vec![4242]);

        let counts_only = Tracker::default().frame(
            &sample(1.0, vec![web, database], connections),
            ConnectionDetail::Counts,
            ShortLivedCapture::Available,
        );
        assert!(counts_only.listeners.iter().all(|row| row.connections.is_empty()));
        assert_eq!(counts_only.listeners.iter().map(|r| r.open_connections).sum::<usize>(), 2);
    }

    #[test]
    fn connections_are_listed_by_client_address_as_addresses_sort() {
        let mut clients: Vec<SocketAddr> = [
            "[::1]:40000",
            "127.0.0.2:1",
            "127.0.0.1:60000",
            "[::ffff:127.0.0.1]:5",
            "127.0.0.1:1024",
            "10.0.0.1:9",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let connections = clients
            .iter()
            .enumerate()
            .map(|(index, client)| {
                let server = if client.is_ipv4() { "127.0.0.1:80" } else { "[::1]:80" };
                connection(index as u64, server, &client.to_string(), 0, 0)
            })
            .collect();
        let frame = frame_of(
            &mut Tracker::default(),
            sample(1.0, vec![listener("[::]:80", 1)], connections),
        );
        let listed: Vec<SocketAddr> =
            frame.listeners[0].connections.iter().map(|c| c.client).collect();
        clients.sort();
        assert_eq!(listed, clients);
    }

    #[test]
    fn a_connection_dumped_twice_counts_once() {
        let mut tracker = Tracker::default();
        let server = listener("127.0.0.1:8000", 1);
        frame_of(&mut tracker, sample(1.0, vec![server.clone()], vec![]));
        let twice = connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 100, 10);
        let frame = frame_of(&mut tracker, sample(2.0, vec![server], vec![twice, twice]));
        let row = &frame.listeners[0];
        assert_eq!((row.open_connections, row.new_per_second), (1, 1.0));
        assert_eq!(row.bytes_in_per_second, 100.0);
        assert_eq!(row.connections.len(), 1);
    }

    #[test]
    fn a_connection_missing_from_one_dump_is_not_new_when_it_returns_or_closes() {
        let mut tracker = Tracker::default();
        let server = listener("127.0.0.1:8000", 1);
        let at = |received| connection(1, "127.0.0.1:8000", "127.0.0.1:50000", received, 0);
        let closing = |received| connection(2, "127.0.0.1:8000", "127.0.0.1:50001", received, 0);
        frame_of(&mut tracker, sample(1.0, vec![server.clone()], vec![at(100), closing(10)]));
        // Both missed by the next dump (moved during the walk, or closed
        // after the close feed was read).
        let missed = frame_of(&mut tracker, sample(2.0, vec![server.clone()], vec![]));
        assert_eq!(missed.listeners[0].open_connections, 0);
        let mut back = sample(3.0, vec![server], vec![at(150)]);
        back.closed = vec![closing(40)];
        let frame = frame_of(&mut tracker, back);
        let row = &frame.listeners[0];
        assert_eq!(row.open_connections, 1);
        assert_eq!(row.new_per_second, 0.0, "neither is a new connection");
        assert_eq!(row.bytes_in_per_second, 50.0 + 30.0);
    }
}
