//! The engine of `porthole top`: turns successive samples of the machine's
//! listeners and connections into [`TopFrame`]s with rates and changes.
//!
//! Each refresh reads three things (at 60k sockets about 116 ms of CPU,
//! mostly the kernel filling `tcp_info`: BENCHMARKS.md, "top"):
//! 1. a LISTEN-only inventory dump (no established-hash walk);
//! 2. the byte counters of connected TCP sockets (`tcp_info` in one
//!    sock_diag walk), keyed by socket cookie;
//! 3. what the sock_diag destroy multicast reported closed since the last
//!    refresh, so a connection shorter than one refresh is still counted.
//!
//! Owners are attributed only for listener inodes not seen before (a
//! listener keeps its owners for life, bar a fork) and, for the selected
//! row, for the client ends of its connections: the `/proc/*/fd` walk is the
//! expensive part of an inventory and need not run every second.
//!
//! [`Tracker::frame`] holds the reasoning and reads nothing from the
//! machine; [`Sampler`] feeds it from the kernel. Tests drive the tracker
//! with scripted samples.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use crate::inventory::{self, owners, process, InventoryError, Query};
use crate::model::top::{
    ConnectionRow, ListenerChange, ListenerRow, ShortLivedCapture, TcpCounters, TopEvent, TopFrame,
};
use crate::model::{OwnerGap, Process, Protocol, Socket, Visibility};

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

/// One reading of the machine, the tracker's only input.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When it was taken: seconds since the Unix epoch, fractional.
    pub at: f64,
    /// Listening sockets (owners attached where known).
    pub listeners: Vec<Socket>,
    /// Counters of every connected TCP socket.
    pub connections: Vec<TcpCounters>,
    /// Sockets the destroy multicast reported closed since the previous
    /// sample, with their final counters.
    pub closed: Vec<TcpCounters>,
    /// Pids holding each client-side socket inode that was asked for.
    pub client_owners: HashMap<u64, Vec<u32>>,
    pub processes: BTreeMap<u32, Process>,
    pub visibility: Visibility,
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

/// Turns samples into frames; remembers what the previous sample had.
#[derive(Debug, Default)]
pub struct Tracker {
    started: Option<f64>,
    previous_at: Option<f64>,
    /// Counters of the previous sample by cookie.
    previous: HashMap<u64, TcpCounters>,
    /// Listeners by (protocol, inode).
    known: HashMap<(Protocol, u64), Known>,
    /// Listeners that went away, with when, kept for the highlight period.
    departed: Vec<(Known, u64)>,
    events: VecDeque<TopEvent>,
}

impl Tracker {
    /// Folds one sample in and returns the frame it produces. The first
    /// sample has no rates (nothing to compare with).
    pub fn frame(&mut self, sample: Sample, short_lived: ShortLivedCapture) -> TopFrame {
        let now = sample.at as u64;
        let first = self.started.is_none();
        self.started.get_or_insert(sample.at);
        let interval = self.previous_at.map(|previous| (sample.at - previous).max(0.001));
        self.track_listeners(&sample, now, first);

        // Each connection's server end is the socket whose local address a
        // listener serves; the client end (when local) is in the same dump.
        let listener_keys: Vec<(Protocol, u64)> = self.known.keys().copied().collect();
        let mut rows: BTreeMap<(Protocol, u64), ListenerRow> = BTreeMap::new();
        for key in &listener_keys {
            let known = &self.known[key];
            rows.insert(*key, self.row(known, now));
        }
        let by_address =
            ServingIndex::new(self.known.iter().map(|(key, known)| (*key, &known.socket)));
        let clients: HashMap<(SocketAddr, SocketAddr), &TcpCounters> =
            sample.connections.iter().map(|c| ((c.local, c.remote), c)).collect();
        for connection in &sample.connections {
            let Some(key) = by_address.listener_for(connection.local) else {
                continue;
            };
            let Some(row) = rows.get_mut(&key) else { continue };
            let (bytes_in, bytes_out) = match self.previous.get(&connection.cookie) {
                Some(before) => (
                    connection.bytes_received.saturating_sub(before.bytes_received),
                    connection.bytes_acked.saturating_sub(before.bytes_acked),
                ),
                None => {
                    if interval.is_some() {
                        row.new_per_second += 1.0;
                    }
                    (connection.bytes_received, connection.bytes_acked)
                }
            };
            row.open_connections += 1;
            let client_pids = clients
                .get(&(connection.remote, connection.local))
                .and_then(|client| sample.client_owners.get(&client.inode))
                .cloned()
                .unwrap_or_default();
            let rate = |bytes: u64| interval.map_or(0.0, |seconds| bytes as f64 / seconds);
            row.bytes_in_per_second += rate(bytes_in);
            row.bytes_out_per_second += rate(bytes_out);
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
        // Closed since the last sample: the bytes moved after that sample,
        // and a new connection when it was never seen open.
        if let Some(seconds) = interval {
            for closed in &sample.closed {
                let Some(key) = by_address.listener_for(closed.local) else {
                    continue;
                };
                let Some(row) = rows.get_mut(&key) else { continue };
                let (before_in, before_out) = match self.previous.get(&closed.cookie) {
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
            for row in rows.values_mut() {
                row.new_per_second /= seconds;
            }
        }
        drop(by_address);
        let mut listeners: Vec<ListenerRow> = rows.into_values().collect();
        let mut processes = sample.processes;
        for (known, _) in &self.departed {
            let mut row = self.row(known, now);
            row.change = Some(ListenerChange::Disappeared);
            listeners.push(row);
            for process in &known.processes {
                processes.entry(process.pid).or_insert_with(|| process.clone());
            }
        }
        for row in &mut listeners {
            row.connections.sort_by_key(|connection| connection.client);
        }
        listeners.sort_by(|a, b| {
            (
                a.socket.protocol == Protocol::Unix,
                a.socket.local_port(),
                &a.socket.path,
                a.socket.local,
            )
                .cmp(&(
                    b.socket.protocol == Protocol::Unix,
                    b.socket.local_port(),
                    &b.socket.path,
                    b.socket.local,
                ))
        });

        self.previous = sample.connections.iter().map(|c| (c.cookie, *c)).collect();
        self.previous_at = Some(sample.at);
        TopFrame {
            at: now,
            interval_seconds: interval.unwrap_or(0.0),
            listeners,
            processes,
            events: self.events.iter().cloned().collect(),
            short_lived,
            visibility: sample.visibility,
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
        let gone: Vec<(Protocol, u64)> =
            self.known.keys().filter(|key| !present.contains_key(key)).copied().collect();
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

    fn row(&self, known: &Known, now: u64) -> ListenerRow {
        let socket = &known.socket;
        // A TCP listener's receive queue is the accept queue; its send
        // queue is the backlog it may hold.
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
}

/// Finds the TCP listener that serves a local address: an exact address
/// first, then a wildcard of the family (a dual-stack `::` for IPv4 too).
struct ServingIndex<'a> {
    listeners: Vec<((Protocol, u64), &'a Socket)>,
}

impl<'a> ServingIndex<'a> {
    fn new(listeners: impl Iterator<Item = ((Protocol, u64), &'a Socket)>) -> Self {
        ServingIndex {
            listeners: listeners.filter(|(_, socket)| socket.protocol == Protocol::Tcp).collect(),
        }
    }

    fn listener_for(&self, local: SocketAddr) -> Option<(Protocol, u64)> {
        let local = canonical(local);
        let mut wildcard = None;
        for (key, socket) in &self.listeners {
            let Some(bound) = socket.local else { continue };
            if bound.port() != local.port() {
                continue;
            }
            if canonical(bound).ip() == local.ip() {
                return Some(*key);
            }
            if socket.serves(local) {
                wildcard = Some(*key);
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
    /// Owners of listener inodes already attributed.
    listener_owners: HashMap<u64, Vec<u32>>,
    details: process::DetailCache,
    processes: BTreeMap<u32, Process>,
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
            listener_owners: HashMap::new(),
            details: process::DetailCache::default(),
            processes: BTreeMap::new(),
            unreadable_processes: 0,
            owner_gaps: Vec::new(),
        }
    }

    /// Takes one sample. `selected` names the listener whose clients'
    /// processes should be found (the `/proc` walk runs only then).
    pub fn sample(
        &mut self,
        closed: Vec<TcpCounters>,
        selected: Option<SocketAddr>,
    ) -> Result<Sample, InventoryError> {
        let at = now_seconds();
        let query = Query {
            tcp: self.query.tcp,
            udp: self.query.udp,
            unix: self.query.unix,
            listeners_only: true,
            owners: false,
            ..Query::default()
        };
        let (mut listeners, _) = inventory::enumerate_current(&query)?;
        // Only server ends of connections to a listener count in a row, and
        // the client ends only for the selected listener: the kernel is
        // asked for just those, which halves its work when clients are
        // local.
        let connections = if self.query.tcp {
            let mut local_ports: Vec<u16> = listeners
                .iter()
                .filter(|socket| socket.protocol == Protocol::Tcp)
                .filter_map(|socket| socket.local.map(|address| address.port()))
                .collect();
            local_ports.sort_unstable();
            local_ports.dedup();
            let remote_ports = selected.map(|server| vec![server.port()]).unwrap_or_default();
            let ports = inventory::netlink::CounterPorts { local_ports, remote_ports };
            inventory::netlink::tcp_counters(Some(&ports))?
        } else {
            Vec::new()
        };

        // Attribute only inodes not seen before; forget the departed.
        let live: std::collections::HashSet<u64> = listeners.iter().map(|s| s.inode).collect();
        self.listener_owners.retain(|inode, _| live.contains(inode));
        let mut wanted: Vec<u64> = listeners
            .iter()
            .map(|s| s.inode)
            .filter(|inode| *inode != 0 && !self.listener_owners.contains_key(inode))
            .collect();
        let client_inodes: Vec<u64> = match selected {
            Some(server) => connections
                .iter()
                .filter(|c| c.remote == server || canonical(c.remote) == canonical(server))
                .map(|c| c.inode)
                .filter(|inode| *inode != 0)
                .collect(),
            None => Vec::new(),
        };
        wanted.extend(&client_inodes);
        let mut visibility = Visibility::default();
        let mut client_owners = HashMap::new();
        if !wanted.is_empty() {
            let scan = owners::scan(&wanted);
            self.unreadable_processes = scan.unreadable_processes;
            self.owner_gaps = inventory::visibility::owner_gaps(scan.unreadable_processes);
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
                socket.owners = pids.clone();
            }
        }
        visibility.sockets_without_visible_owner =
            listeners.iter().filter(|s| s.inode != 0 && s.owners.is_empty()).count();
        visibility.unreadable_processes = self.unreadable_processes;
        if visibility.sockets_without_visible_owner > 0 {
            visibility.owner_gaps = self.owner_gaps.clone();
        }

        // Process details are cached across refreshes; pids that no longer
        // own anything are dropped so the map does not grow.
        let needed: std::collections::BTreeSet<u32> = listeners
            .iter()
            .flat_map(|s| s.owners.iter().copied())
            .chain(client_owners.values().flatten().copied())
            .collect();
        self.processes.retain(|pid, _| needed.contains(pid));
        for pid in &needed {
            if !self.processes.contains_key(pid) {
                if let Some(details) = process::read(*pid, &mut self.details) {
                    self.processes.insert(*pid, details);
                }
            }
        }
        Ok(Sample {
            at,
            listeners,
            connections,
            closed,
            client_owners,
            processes: self.processes.clone(),
            visibility,
        })
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

    #[test]
    fn rates_come_from_counter_deltas_and_new_cookies() {
        let mut tracker = Tracker::default();
        let server = listener("127.0.0.1:8000", 1);
        let first = tracker.frame(
            sample(
                100.0,
                vec![server.clone()],
                vec![connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 100, 1000)],
            ),
            ShortLivedCapture::Available,
        );
        assert_eq!(first.listeners[0].open_connections, 1);
        assert_eq!(first.listeners[0].new_per_second, 0.0, "no rate without a previous sample");
        let second = tracker.frame(
            sample(
                102.0,
                vec![server],
                vec![
                    connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 300, 5000),
                    connection(2, "127.0.0.1:8000", "127.0.0.1:50001", 10, 20),
                ],
            ),
            ShortLivedCapture::Available,
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
        let frame = tracker.frame(
            sample(
                1.0,
                vec![listener("127.0.0.1:8000", 1)],
                vec![
                    connection(1, "127.0.0.1:8000", "127.0.0.1:50000", 0, 0),
                    connection(2, "127.0.0.1:50000", "127.0.0.1:8000", 0, 0),
                ],
            ),
            ShortLivedCapture::Available,
        );
        assert_eq!(frame.listeners[0].open_connections, 1);
    }

    #[test]
    fn short_lived_connections_count_through_closes() {
        let mut tracker = Tracker::default();
        let server = listener("[::]:9000", 1);
        tracker.frame(sample(10.0, vec![server.clone()], vec![]), ShortLivedCapture::Available);
        let mut next = sample(11.0, vec![server], vec![]);
        next.closed = vec![
            connection(7, "[::ffff:127.0.0.1]:9000", "[::ffff:127.0.0.1]:40000", 64, 128),
            connection(8, "[::1]:9000", "[::1]:40001", 1, 2),
            // The client end of the same connection is not the server's.
            connection(9, "[::1]:40001", "[::1]:9000", 2, 1),
        ];
        let frame = tracker.frame(next, ShortLivedCapture::Available);
        let row = &frame.listeners[0];
        assert_eq!(row.new_per_second, 2.0);
        assert_eq!(row.bytes_in_per_second, 65.0);
        assert_eq!(row.open_connections, 0);
    }

    #[test]
    fn exact_address_wins_over_wildcard() {
        let mut tracker = Tracker::default();
        let frame = tracker.frame(
            sample(
                1.0,
                vec![listener("0.0.0.0:80", 1), listener("127.0.0.1:80", 2)],
                vec![connection(1, "127.0.0.1:80", "127.0.0.1:50000", 0, 0)],
            ),
            ShortLivedCapture::Available,
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
        let first =
            tracker.frame(sample(100.0, vec![old.clone()], vec![]), ShortLivedCapture::Available);
        assert!(first.events.is_empty(), "what was there at start is not news");
        assert!(!first.listeners[0].since_exact);
        let second =
            tracker.frame(sample(101.0, vec![new.clone()], vec![]), ShortLivedCapture::Available);
        let changes: Vec<_> = second.events.iter().map(|e| (e.change, e.socket.inode)).collect();
        assert_eq!(changes, vec![(ListenerChange::Disappeared, 1), (ListenerChange::Appeared, 2)]);
        let gone = second.listeners.iter().find(|row| row.socket.inode == 1).unwrap();
        assert_eq!(gone.change, Some(ListenerChange::Disappeared));
        let came = second.listeners.iter().find(|row| row.socket.inode == 2).unwrap();
        assert_eq!(
            (came.change, came.since, came.since_exact),
            (Some(ListenerChange::Appeared), Some(101), true)
        );
        let later = tracker.frame(sample(110.0, vec![new], vec![]), ShortLivedCapture::Available);
        assert_eq!(later.listeners.len(), 1, "the departed row is dropped after the highlight");
        assert_eq!(later.listeners[0].change, None);
    }
}
