//! Joining the two ends of a local TCP connection, and their processes,
//! into one [`ConnectionRecord`].
//!
//! Inputs arrive from three sources, in any order:
//! - **closes** ([`ConnectionJoiner::closed`]): one per socket end — 4-tuple,
//!   uid, bytes, cookie, no pid — from the eBPF CLOSE events or the sock_diag
//!   destroy multicast;
//! - **attributions** ([`ConnectionJoiner::attribute`]): "the end with this
//!   4-tuple belongs to this process", from eBPF (the client in connect(),
//!   the server at its close()) or from an established-socket dump plus a
//!   `/proc` scan;
//! - **listeners** ([`ListenerIndex`]), which say which end is the server
//!   when eBPF did not.
//!
//! The recorder also reports connections still open, from a dump, with the
//! processes [`ConnectionJoiner::holder`] names and the side
//! [`ConnectionJoiner::role`] judges; what follows is how a close becomes
//! the record that ends it.
//!
//! A record is emitted when the server end closes: at once if the client
//! end already closed, else after [`CLIENT_GRACE`] so that a client closing
//! right after the server still contributes its uid. A local client end
//! still open then (a client reading to the end after the server closed, or
//! one that lost the CPU for longer than the grace under load — in netlink
//! mode its uid came from nowhere else, and one run recorded an io_uring
//! client that way with none) is waited for up to [`OPEN_CLIENT_WAIT`]: the
//! recorder looks it up ([`ConnectionJoiner::overdue_local_clients`]). One
//! the look does not find open may have closed after the last read of
//! closes and before the look: the record waits until the closes sent
//! before the look are paired. A client end closing long after its server
//! is absorbed (the joiner remembers emitted server ends).
//!
//! How a connection ended ([`end_of`]) is read from the last `tcp_info` of
//! each end the kernel sent with its close, so it is known in both capture
//! modes.
//!
//! Everything here is plain data in, records out: the tests drive it with
//! hand-made closes and attributions.

use foldhash::{HashMap, HashMapExt};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::inventory::netlink::ClosedSocket;
use crate::model::monitor::{
    ConnectionEnd, ConnectionRecord, LossKind, ProcessIdentity, UnixMicros,
};

/// How long a server end waits for its client end to close.
pub const CLIENT_GRACE: Duration = Duration::from_millis(500);
/// How long an unpaired client end, or an attribution nobody used, is kept.
pub const KEEP_UNMATCHED: Duration = Duration::from_secs(600);
/// How long an emitted server end absorbs its late client end; a client
/// that closes later than this is held as unmatched and dropped after
/// [`KEEP_UNMATCHED`]. Short, because for remote clients no client end ever
/// comes and every connection would otherwise stay here.
pub const KEEP_EMITTED: Duration = Duration::from_secs(60);
/// How long a server end past [`CLIENT_GRACE`] waits for a client end
/// found still open on this machine ([`ConnectionJoiner::client_still_open`]):
/// a client reading to the end after the server closed, or one that lost the
/// CPU for longer than the grace, closes within it; one that never closes
/// does not hold the record back longer.
pub const OPEN_CLIENT_WAIT: Duration = Duration::from_secs(60);
/// Cap on held state, so a flood of outbound connections cannot grow memory
/// without bound; the oldest entries are dropped first.
pub const MAX_HELD: usize = 200_000;

/// Canonical form of an address: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as
/// IPv4, so a dual-stack server end and an IPv4 client end match.
pub fn canonical(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), address.port()),
            None => address,
        },
        IpAddr::V4(_) => address,
    }
}

/// One end of a connection: namespace, its own address, its peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndKey {
    pub net_namespace: Option<u64>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl EndKey {
    pub fn new(net_namespace: Option<u64>, local: SocketAddr, remote: SocketAddr) -> Self {
        EndKey { net_namespace, local: canonical(local), remote: canonical(remote) }
    }

    /// The other end of the same connection, on this machine.
    pub fn peer(&self) -> EndKey {
        EndKey { net_namespace: self.net_namespace, local: self.remote, remote: self.local }
    }
}

/// Which side of a connection an end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Who holds an end, and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Shared with the process table: an attribution that is superseded or
    /// expires never copies the identity; a record takes its own copy.
    pub process: Arc<ProcessIdentity>,
    pub role: Option<Role>,
    /// When the end was established (eBPF) or first seen (dump): the
    /// record's start.
    pub since: UnixMicros,
    /// When the end was last known open: `since`, or the latest dump that
    /// found it. Expiry counts from here, so an end that stays open for
    /// hours keeps its process and its start.
    pub seen: UnixMicros,
    /// Socket cookie of the end, when the source knows it.
    pub cookie: Option<u64>,
}

/// What the joiner needs to know about listeners.
pub trait ListenerIndex {
    /// Whether a listener on this machine (now, or recently) accepts
    /// connections to `local` in the namespace.
    fn serves(&self, net_namespace: Option<u64>, local: SocketAddr) -> bool;
    /// The owner of that listener, used as the server process when the
    /// process holding the server end was not seen.
    fn owner(&self, net_namespace: Option<u64>, local: SocketAddr) -> Option<ProcessIdentity>;
    /// How sure the index is that `local` is a server port, when it
    /// [serves](Self::serves) it at all: decides which end is the server
    /// when both ports of a connection look like one.
    fn certainty(&self, net_namespace: Option<u64>, local: SocketAddr) -> Option<Certainty> {
        self.serves(net_namespace, local).then_some(Certainty::Listening)
    }
}

/// What a port's server role rests on, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Certainty {
    /// A bound TCP socket was destroyed without a peer: a listener that
    /// lived between two dumps, or a client socket bound to the port (a
    /// refused connect() leaves one; so does "bind port 0 to find a free
    /// port") that never listened.
    Unbound,
    /// A listener seen listening, closed since.
    Closed,
    /// A listener open now.
    Listening,
}

/// A closed end waiting for its partner.
#[derive(Debug, Clone)]
struct HeldEnd {
    closed: ClosedSocket,
    at: UnixMicros,
    /// How this end ended, when its `tcp_info` tells.
    end: Option<ConnectionEnd>,
    /// The side it was judged to be when it closed: an end that called
    /// connect() counts its SYN in `tcpi_bytes_acked` even when it is
    /// recorded as the server of a simultaneous open.
    role: Role,
    /// The recorder saw neither this end's start nor that it was open
    /// before recording ([`ConnectionJoiner::start_unseen`]).
    start_unseen: bool,
}

/// How one end of a connection ended, judged from its last `tcp_info`;
/// `None` when the kernel does not report what is needed (before 4.19).
///
/// An end that closed in order sent a FIN and saw it acknowledged: the FIN
/// takes one sequence number, so the bytes the peer acknowledged are one
/// more than the payload bytes sent once (`tcpi_bytes_sent` counts payload
/// only, retransmissions included). Without that FIN the end was reset —
/// it sent or received a RST (`SO_LINGER` 0, a close with unread data, a
/// peer that was gone) — unless the kernel was still retransmitting or
/// probing when it gave up, which is a timeout.
///
/// # Platform specific behavior
/// On loopback nothing is lost, so `retransmits` and `probes` are non-zero
/// only when a rule drops packets or a peer stopped answering; a RST that
/// arrives while an end is retransmitting is reported as a timeout too.
/// See: <https://github.com/torvalds/linux/blob/v6.12/include/uapi/linux/tcp.h>
pub fn end_of(closed: &ClosedSocket, role: Role) -> Option<ConnectionEnd> {
    let sent = closed.bytes_sent?;
    let sent_once = sent.saturating_sub(closed.bytes_retransmitted);
    Some(if acknowledged_payload(closed, role) > sent_once {
        ConnectionEnd::Closed
    } else if closed.retransmits > 0 || closed.probes > 0 {
        ConnectionEnd::TimedOut
    } else {
        ConnectionEnd::Reset
    })
}

/// The sequence numbers an end's peer acknowledged, less the SYN: a client
/// counts its SYN in `tcpi_bytes_acked` (the SYN-ACK acknowledges it), an
/// accepted socket starts counting after it.
fn acknowledged_payload(closed: &ClosedSocket, role: Role) -> u64 {
    match role {
        Role::Client => closed.bytes_acked.saturating_sub(1),
        Role::Server => closed.bytes_acked,
    }
}

/// The connection's end from its ends': a reset or timeout at either end
/// is the connection's; an orderly close needs no contrary evidence. With
/// no evidence at all the connection still closed.
fn connection_end(ends: [Option<ConnectionEnd>; 2]) -> ConnectionEnd {
    let ends = ends.into_iter().flatten();
    let mut result = ConnectionEnd::Closed;
    for end in ends {
        match end {
            ConnectionEnd::Reset => return ConnectionEnd::Reset,
            ConnectionEnd::TimedOut => result = ConnectionEnd::TimedOut,
            ConnectionEnd::Closed | ConnectionEnd::Unknown => {}
        }
    }
    result
}

/// Counters the joiner reports as losses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JoinLosses {
    /// Server ends that began while recording and closed without their
    /// start seen (eBPF mode only): an event was lost. A server end whose
    /// process was not seen closing is not counted: a reset (`SO_LINGER`
    /// 0 at either end, a close with unread data), a listener closed with
    /// connections it never accepted and an io_uring teardown in a kernel
    /// worker all close a server end without a process's close(), and the
    /// record names the listener's owner.
    pub unmatched: u64,
    /// Records without a client or server process although one was
    /// expected.
    pub unknown_process: u64,
}

impl JoinLosses {
    pub fn take(&mut self) -> Vec<(LossKind, u64)> {
        let taken = [
            (LossKind::UnmatchedCookie, std::mem::take(&mut self.unmatched)),
            (LossKind::UnknownProcess, std::mem::take(&mut self.unknown_process)),
        ];
        taken.into_iter().filter(|(_, count)| *count > 0).collect()
    }
}

/// Pairs closes into records; see the module docs.
#[derive(Debug)]
pub struct ConnectionJoiner {
    /// Whether server ends' starts are reported (eBPF): a server end whose
    /// start was never seen is counted as unmatched.
    server_ends_attributed: bool,
    /// Cookies of closes whose start the recorder did not see, until the
    /// close is paired ([`ConnectionJoiner::start_unseen`]).
    unstarted: foldhash::HashSet<u64>,
    /// Attributions by end; removed when used.
    attributions: HashMap<EndKey, Attribution>,
    /// Attributions a newer connection on the same 4-tuple replaced in
    /// `attributions` before this one's close was paired, by socket cookie
    /// (eBPF only: its closes and attributions both carry the cookie).
    superseded: HashMap<u64, Attribution>,
    /// Client ends that closed before their server end, by server key.
    waiting_clients: HashMap<EndKey, HeldEnd>,
    /// Server ends waiting [`CLIENT_GRACE`] for their client end.
    waiting_servers: HashMap<EndKey, HeldEnd>,
    /// Server ends of connections on this machine that their listener
    /// closed before accepting them, whose client end has not closed yet,
    /// oldest first, by namespace, server address and client address: the
    /// kernel reports such an end with the client's port cleared (see
    /// [`ConnectionJoiner::closed`]), so only the client end's close says
    /// which connection it was.
    unaccepted: HashMap<(Option<u64>, SocketAddr, IpAddr), Vec<HeldEnd>>,
    /// Waiting server ends past the grace whose local client end was looked
    /// for, and what the look found.
    clients_looked_for: HashMap<EndKey, ClientLook>,
    /// Server keys already emitted, so a late client end is absorbed.
    emitted: HashMap<EndKey, UnixMicros>,
    /// When old state was last pruned: pruning walks every held entry
    /// (hundreds of thousands at 5,000 connections/s), so it runs once a
    /// second, not at every [`ConnectionJoiner::expire`].
    pruned_at: UnixMicros,
    pub losses: JoinLosses,
    /// The recorder's own short connections and its identity, to name them
    /// as its own ([`crate::monitor::own`]); `None` until set.
    own: Option<(crate::monitor::own::OwnConnections, Arc<ProcessIdentity>)>,
}

/// What a look for the client end of a server end past [`CLIENT_GRACE`]
/// found ([`ConnectionJoiner::overdue_local_clients`]).
#[derive(Debug, Clone, Copy)]
enum ClientLook {
    /// Still open: the record waits for its close until `until`.
    Open { until: UnixMicros },
    /// Not open in a dump begun at `looked_at`: the record waits until the
    /// closes sent before then are paired.
    Closed { looked_at: UnixMicros },
}

/// How often held state is pruned of entries older than their keep time.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

impl ConnectionJoiner {
    pub fn new(server_ends_attributed: bool) -> Self {
        ConnectionJoiner {
            server_ends_attributed,
            unstarted: foldhash::HashSet::default(),
            attributions: HashMap::new(),
            superseded: HashMap::new(),
            waiting_clients: HashMap::new(),
            waiting_servers: HashMap::new(),
            unaccepted: HashMap::new(),
            clients_looked_for: HashMap::new(),
            emitted: HashMap::new(),
            pruned_at: UnixMicros::MIN,
            losses: JoinLosses::default(),
            own: None,
        }
    }

    /// Client ends with no process that [`OwnConnections`] claims are
    /// named after `identity`, the recorder itself.
    ///
    /// [`OwnConnections`]: crate::monitor::own::OwnConnections
    pub fn recognise_own(
        &mut self,
        own: crate::monitor::own::OwnConnections,
        identity: Arc<ProcessIdentity>,
    ) {
        self.own = Some((own, identity));
    }

    /// The recorder's identity when `client` (a client end of the
    /// recorder's namespace that no process was seen holding) is its own.
    fn own_client(&self, server_key: &EndKey, client: &HeldEnd) -> Option<Arc<ProcessIdentity>> {
        let (own, identity) = self.own.as_ref()?;
        let claimed = server_key.net_namespace.is_none()
            && own.is_own_client(
                client.closed.local,
                client.closed.remote,
                client.closed.uid,
                client.at,
            );
        claimed.then(|| Arc::clone(identity))
    }

    /// Records that `key` is held by a process. A newer attribution of the
    /// same end replaces an older one (the 4-tuple was reused); when both
    /// name their socket, the older is kept by cookie for its own close,
    /// which can be paired after the newer connection began (closes wait
    /// [`crate::monitor::CLOSE_DELAY`], attributions do not).
    pub fn attribute(&mut self, key: EndKey, attribution: Attribution) {
        if self.attributions.len() >= MAX_HELD {
            evict_oldest(&mut self.attributions, |a| a.seen);
        }
        let cookie = attribution.cookie;
        if let Some(previous) = self.attributions.insert(key, attribution) {
            if let (Some(old), Some(new)) = (previous.cookie, cookie) {
                if old != new {
                    if self.superseded.len() >= MAX_HELD {
                        evict_oldest(&mut self.superseded, |a: &Attribution| a.seen);
                    }
                    self.superseded.insert(old, previous);
                }
            }
        }
    }

    /// The attribution of the end whose close carried `cookie`: the current
    /// one of its 4-tuple when it names that socket (or names none, coming
    /// from a dump), else the one a newer connection superseded. An
    /// attribution naming another socket belongs to that newer connection
    /// and stays for it.
    fn take_attribution(&mut self, key: &EndKey, cookie: u64) -> Option<Attribution> {
        match self.attributions.get(key).map(|a| a.cookie) {
            Some(None) => self.attributions.remove(key),
            Some(Some(current)) if current == cookie => self.attributions.remove(key),
            _ => self.superseded.remove(&cookie),
        }
    }

    /// Whether the socket `cookie` at `key` already has an attribution: the
    /// end's current one, or one a newer connection on the 4-tuple
    /// superseded.
    pub fn attributed_to(&self, key: &EndKey, cookie: u64) -> bool {
        self.attributions.get(key).is_some_and(|a| a.cookie == Some(cookie))
            || self.superseded.contains_key(&cookie)
    }

    /// Which side an end still open is: what eBPF saw, else the listeners.
    pub fn role(&self, key: &EndKey, listeners: &dyn ListenerIndex) -> Option<Role> {
        self.role_of(key, listeners)
    }

    /// Who holds the end `key` whose socket is `cookie`: its attribution,
    /// unless that names another socket (a newer connection on the
    /// 4-tuple).
    pub fn holder(&self, key: &EndKey, cookie: u64) -> Option<&Attribution> {
        self.attributions.get(key).filter(|a| a.cookie.is_none_or(|own| own == cookie))
    }

    /// The close of socket `cookie`, to be handed to
    /// [`ConnectionJoiner::closed`] next, is of a socket whose start the
    /// recorder did not see although it was not open when recording began
    /// (eBPF). Judged a server end, it is counted as unmatched unless it
    /// connected itself (a simultaneous open).
    pub fn start_unseen(&mut self, cookie: u64) {
        self.unstarted.insert(cookie);
    }

    /// Whether the end already has an owner (dumps skip the `/proc` scan).
    pub fn is_attributed(&self, key: &EndKey) -> bool {
        self.attributions.contains_key(key)
    }

    /// Keeps attributions of ends a dump still shows from expiring.
    pub fn refresh(&mut self, key: &EndKey, now: UnixMicros) {
        if let Some(attribution) = self.attributions.get_mut(key) {
            attribution.seen = attribution.seen.max(now);
        }
    }

    /// One end closed. Returns a record when this completes a connection.
    ///
    /// # Platform specific behavior
    ///
    /// A listener that closes with connections in its accept queue resets
    /// them, and the sock_diag destroy message of each such server end
    /// carries the client's address with its port and byte counters cleared
    /// (`inet_child_forget` disconnects the child first: `tcp_disconnect`).
    /// Such an end is paired with a client end of the same addresses that
    /// closed before it or closes after it, whose 4-tuple it takes; without
    /// this, netlink mode recorded nothing of the clients of a server that
    /// hung and died.
    /// See: <https://github.com/torvalds/linux/blob/v6.12/net/ipv4/inet_connection_sock.c>
    pub fn closed(
        &mut self,
        net_namespace: Option<u64>,
        closed: ClosedSocket,
        at: UnixMicros,
        listeners: &dyn ListenerIndex,
    ) -> Option<ConnectionRecord> {
        let start_unseen = self.unstarted.remove(&closed.cookie);
        if closed.remote.port() == 0 {
            // A listener's own close or an unconnected socket has no peer
            // address: not a connection.
            if closed.remote.ip().is_unspecified() {
                return None;
            }
            return self.unaccepted_closed(net_namespace, closed, at, start_unseen, listeners);
        }
        let key = EndKey::new(net_namespace, closed.local, closed.remote);
        let role = self.role_of(&key, listeners);
        let end = role.and_then(|role| end_of(&closed, role));
        match role {
            Some(Role::Server) => {
                if let Some(client) = self.waiting_clients.remove(&key) {
                    return Some(self.build(
                        key,
                        HeldEnd { closed, at, end, role: Role::Server, start_unseen },
                        Some(client),
                        listeners,
                    ));
                }
                // A recorder that was stopped (SIGSTOP, a swapped-out VM)
                // reads seconds of closes at once, in which a busy server's
                // 4-tuples come round again: an earlier server end still
                // waiting on this one goes out now, without its client end,
                // rather than being overwritten and never recorded.
                let held = HeldEnd { closed, at, end, role: Role::Server, start_unseen };
                let earlier = self.waiting_servers.insert(key, held)?;
                self.clients_looked_for.remove(&key);
                Some(self.build(key, earlier, None, listeners))
            }
            Some(Role::Client) => {
                let server_key = key.peer();
                if let Some(server) = self.waiting_servers.remove(&server_key) {
                    self.clients_looked_for.remove(&server_key);
                    let held = HeldEnd { closed, at, end, role: Role::Client, start_unseen };
                    return Some(self.build(server_key, server, Some(held), listeners));
                }
                let slot = (net_namespace, server_key.local, server_key.remote.ip());
                if let Some(mut server) = self.take_unaccepted(slot, &closed) {
                    server.closed.remote = server_key.remote;
                    let held = HeldEnd { closed, at, end, role: Role::Client, start_unseen };
                    return Some(self.build(server_key, server, Some(held), listeners));
                }
                let held = HeldEnd { closed, at, end, role: Role::Client, start_unseen };
                // Both ends called connect(): a simultaneous open, whose
                // other end waits as a client of this one; or a socket
                // connected to itself.
                if let Some(peer) = self.waiting_clients.remove(&key) {
                    return Some(self.both_connected(key, held, peer, listeners));
                }
                if server_key == key {
                    return Some(self.both_connected(key, held.clone(), held, listeners));
                }
                // A client end established after that record went out
                // belongs to a newer connection on the same 4-tuple (ports
                // come round again within seconds at thousands of
                // connections a second): it must not be absorbed.
                let emitted_at = self.emitted.get(&server_key).copied();
                let newer = self
                    .attributions
                    .get(&key)
                    .zip(emitted_at)
                    .is_some_and(|(attribution, emitted_at)| attribution.since > emitted_at);
                if emitted_at.is_some() && !newer {
                    // Its record went out already; nothing new to add.
                    self.emitted.remove(&server_key);
                    self.attributions.remove(&key);
                    return None;
                }
                if self.waiting_clients.len() >= MAX_HELD {
                    evict_oldest(&mut self.waiting_clients, |held| held.at);
                }
                self.waiting_clients.insert(server_key, held);
                None
            }
            // An outbound connection to another machine: not ours to record.
            None => {
                self.attributions.remove(&key);
                None
            }
        }
    }

    /// A server end its listener closed before accepting it, reported with
    /// the client's port cleared: paired with the oldest waiting client end
    /// of the same addresses, or held for the client end's close. One of a
    /// client on another machine, whose end never closes here, is dropped:
    /// nothing says which connection it was. The waiting client ends are
    /// walked once per such end, which only a listener closing with a queue
    /// makes.
    fn unaccepted_closed(
        &mut self,
        net_namespace: Option<u64>,
        mut closed: ClosedSocket,
        at: UnixMicros,
        start_unseen: bool,
        listeners: &dyn ListenerIndex,
    ) -> Option<ConnectionRecord> {
        let (local, client) = (canonical(closed.local), canonical(closed.remote).ip());
        let end = end_of(&closed, Role::Server);
        let waiting = self
            .waiting_clients
            .iter()
            .filter(|(key, held)| {
                key.net_namespace == net_namespace
                    && key.local == local
                    && key.remote.ip() == client
                    && of_unaccepted(&held.closed)
            })
            .min_by_key(|(_, held)| held.at)
            .map(|(key, _)| *key);
        if let Some(server_key) = waiting {
            let client = self.waiting_clients.remove(&server_key);
            closed.remote = server_key.remote;
            let server = HeldEnd { closed, at, end, role: Role::Server, start_unseen };
            return Some(self.build(server_key, server, client, listeners));
        }
        let key = EndKey::new(net_namespace, closed.local, closed.remote);
        let held = self.unaccepted.len() < MAX_HELD
            || self.unaccepted.contains_key(&(net_namespace, local, client));
        if local_peer(&key) && held {
            let ends = self.unaccepted.entry((net_namespace, local, client)).or_default();
            // No accept queue is longer than 65,535 (`somaxconn`'s limit).
            if ends.len() < usize::from(u16::MAX) {
                ends.push(HeldEnd { closed, at, end, role: Role::Server, start_unseen });
            }
        }
        None
    }

    /// The oldest held server end of `slot`, when `client` can be the other
    /// end of one (see [`ConnectionJoiner::unaccepted_closed`]).
    fn take_unaccepted(
        &mut self,
        slot: (Option<u64>, SocketAddr, IpAddr),
        client: &ClosedSocket,
    ) -> Option<HeldEnd> {
        if !of_unaccepted(client) {
            return None;
        }
        let ends = self.unaccepted.get_mut(&slot)?;
        let server = (!ends.is_empty()).then(|| ends.remove(0));
        if ends.is_empty() {
            self.unaccepted.remove(&slot);
        }
        server
    }

    /// Server ends whose [`CLIENT_GRACE`] ran out (measured as in
    /// [`ConnectionJoiner::expire`]) before their client end, on this
    /// machine, closed and that were not looked for yet: the caller looks
    /// whether each client end is still open and says what it found with
    /// [`ConnectionJoiner::client_still_open`] or
    /// [`ConnectionJoiner::client_not_open`]. One not looked for is emitted
    /// by the next [`ConnectionJoiner::expire`] without its client end.
    pub fn overdue_local_clients(&self, paired_through: UnixMicros) -> Vec<EndKey> {
        let grace = micros(CLIENT_GRACE);
        self.waiting_servers
            .iter()
            .filter(|(key, held)| {
                paired_through.saturating_sub(held.at) >= grace
                    && !self.clients_looked_for.contains_key(key)
                    && local_peer(key)
            })
            .map(|(key, _)| *key)
            .collect()
    }

    /// The client end of the waiting server end `server_key` is still open
    /// past the grace: the record waits for its close (its uid, bytes and
    /// end) up to [`OPEN_CLIENT_WAIT`] from `now`.
    pub fn client_still_open(&mut self, server_key: EndKey, now: UnixMicros) {
        if self.waiting_servers.contains_key(&server_key) {
            let until = now.saturating_add(micros(OPEN_CLIENT_WAIT));
            self.clients_looked_for.insert(server_key, ClientLook::Open { until });
        }
    }

    /// The client end of the waiting server end `server_key` was not open
    /// in a dump: it closed, but its close may have been sent after the
    /// last read of closes and before the dump. The record waits until
    /// every close sent before `looked_at` (the dump's start, plus the lag
    /// of the kernel's notice) is paired (`paired_through` in
    /// [`ConnectionJoiner::expire`] reaches it), so such a client end still
    /// adds its uid and bytes.
    pub fn client_not_open(&mut self, server_key: EndKey, looked_at: UnixMicros) {
        if self.waiting_servers.contains_key(&server_key) {
            self.clients_looked_for.insert(server_key, ClientLook::Closed { looked_at });
        }
    }

    /// Emits server ends whose grace period ran out and forgets state older
    /// than [`KEEP_UNMATCHED`]. `flush_all` emits every waiting server end
    /// (at shutdown).
    ///
    /// `paired_through` is the time up to which every close the kernel sent
    /// has been handed to [`ConnectionJoiner::closed`]: the grace period is
    /// measured against it, not against the clock, so a recorder that fell
    /// behind does not give up on a client end that is already queued.
    pub fn expire(
        &mut self,
        now: UnixMicros,
        paired_through: UnixMicros,
        flush_all: bool,
        listeners: &dyn ListenerIndex,
    ) -> Vec<ConnectionRecord> {
        let grace = micros(CLIENT_GRACE);
        let waits = |key: &EndKey| match self.clients_looked_for.get(key) {
            Some(ClientLook::Open { until }) => now < *until,
            Some(ClientLook::Closed { looked_at }) => paired_through < *looked_at,
            None => false,
        };
        let due: Vec<EndKey> = self
            .waiting_servers
            .iter()
            .filter(|(key, held)| {
                flush_all || (paired_through.saturating_sub(held.at) >= grace && !waits(key))
            })
            .map(|(key, _)| *key)
            .collect();
        let mut records = Vec::with_capacity(due.len());
        for key in due {
            self.clients_looked_for.remove(&key);
            if let Some(server) = self.waiting_servers.remove(&key) {
                records.push(self.build(key, server, None, listeners));
            }
        }
        if !flush_all && now.saturating_sub(self.pruned_at) < micros(PRUNE_EVERY) {
            return records;
        }
        self.pruned_at = now;
        let keep = micros(KEEP_UNMATCHED);
        let keep_emitted = micros(KEEP_EMITTED);
        self.emitted.retain(|_, at| now - *at < keep_emitted);
        self.waiting_clients.retain(|_, held| now - held.at < keep);
        self.unaccepted.retain(|_, ends| {
            ends.retain(|held| now - held.at < keep);
            !ends.is_empty()
        });
        self.attributions.retain(|_, attribution| now - attribution.seen < keep);
        self.superseded.retain(|_, attribution| now - attribution.seen < keep);
        records
    }

    /// Decides which side `key` is: what eBPF saw first, then listeners.
    fn role_of(&self, key: &EndKey, listeners: &dyn ListenerIndex) -> Option<Role> {
        if let Some(role) = self.attributions.get(key).and_then(|a| a.role) {
            return Some(role);
        }
        let local = listeners.certainty(key.net_namespace, key.local);
        let remote = listeners.certainty(key.net_namespace, key.remote);
        match (local, remote) {
            // A client whose source port once belonged to a bound socket
            // that never listened, connected to a real listener.
            (Some(local), Some(remote)) if remote > local => Some(Role::Client),
            (Some(_), _) => Some(Role::Server),
            (None, Some(_)) => Some(Role::Client),
            (None, None) => None,
        }
    }

    /// A connection both of whose ends called connect() (TCP simultaneous
    /// open, SYN_SENT -> SYN_RECV -> ESTABLISHED at both ends), recorded
    /// once: the end that connected first is the client, the other plays
    /// the server. `end` is the end closing now, keyed `key`; `peer` closed
    /// before it (or is `end` itself, for a socket connected to itself).
    fn both_connected(
        &mut self,
        key: EndKey,
        end: HeldEnd,
        peer: HeldEnd,
        listeners: &dyn ListenerIndex,
    ) -> ConnectionRecord {
        let peer_key = key.peer();
        if peer_key == key {
            // One socket is both ends: its attribution names both.
            if let Some(attribution) = self.attributions.get(&key).cloned() {
                self.superseded.insert(end.closed.cookie, attribution);
            }
            return self.build(key, peer, Some(end), listeners);
        }
        let since = |key: &EndKey| self.attributions.get(key).map_or(UnixMicros::MAX, |a| a.since);
        if since(&key) <= since(&peer_key) {
            self.build(peer_key, peer, Some(end), listeners)
        } else {
            self.build(key, end, Some(peer), listeners)
        }
    }

    fn build(
        &mut self,
        server_key: EndKey,
        server: HeldEnd,
        client: Option<HeldEnd>,
        listeners: &dyn ListenerIndex,
    ) -> ConnectionRecord {
        let client_key = server_key.peer();
        let server_attribution = self.take_attribution(&server_key, server.closed.cookie);
        let mut client_attribution = match &client {
            Some(held) => self.take_attribution(&client_key, held.closed.cookie),
            None => self.attributions.remove(&client_key),
        };
        // A client end too short for any scan, made by the recorder itself
        // (an audit probe, a webhook post): named after it.
        if client_attribution.is_none() {
            let own = client.as_ref().and_then(|held| self.own_client(&server_key, held));
            client_attribution = own.map(|process| Attribution {
                process,
                role: Some(Role::Client),
                since: server.at,
                seen: server.at,
                cookie: None,
            });
        }
        // An end that called connect() (a simultaneous open's) started as
        // a client: its start was seen.
        let connected = server_attribution.as_ref().is_some_and(|a| a.role == Some(Role::Client));
        if self.server_ends_attributed && server.start_unseen && !connected {
            self.losses.unmatched += 1;
        }
        let server_process = match &server_attribution {
            Some(attribution) => Some(ProcessIdentity::clone(&attribution.process)),
            None => listeners.owner(server_key.net_namespace, server_key.local),
        };
        // The client is on this machine when its end closed here, or when a
        // process was seen connecting from it.
        let client_local = client.is_some() || client_attribution.is_some();
        if server_process.is_none() || (client_local && client_attribution.is_none()) {
            self.losses.unknown_process += 1;
        }
        // A dump that first found an end after the server end closed (a
        // client still in CLOSE_WAIT) saw it then; it did not see it start.
        let started_at = [&server_attribution, &client_attribution]
            .into_iter()
            .flatten()
            .map(|attribution| attribution.since)
            .filter(|since| *since <= server.at)
            .min();
        // Only a record that went out without its client end can meet it
        // later: remembering every record would hold a minute of them.
        if client.is_none() {
            self.emitted.insert(server_key, server.at);
        }
        // What the client sent: its own end's acknowledged bytes when it
        // closed here with a verdict (exact even when the server end was
        // destroyed before the client's FIN reached it), else what the
        // server end received, taking the client's FIN to have come unless
        // the server end was reset or timed out. (A client that aborts
        // with `SO_LINGER` 0 is never paired: the kernel clears its peer
        // address and counters before it reports the close.)
        let bytes_client_to_server = match &client {
            Some(held) if held.end.is_some() => {
                acknowledged_payload(&held.closed, Role::Client).saturating_sub(fin_count(held.end))
            }
            _ => server.closed.bytes_received.saturating_sub(fin_count(server.end)),
        };
        ConnectionRecord {
            cookie: server.closed.cookie,
            net_namespace: server_key.net_namespace,
            // IPv4-mapped addresses as the IPv4 the client used.
            client: canonical(server.closed.remote),
            server: canonical(server.closed.local),
            started_at,
            ended_at: Some(server.at),
            bytes_client_to_server,
            // The client acknowledged what the server sent, less its FIN.
            bytes_server_to_client: acknowledged_payload(&server.closed, server.role)
                .saturating_sub(fin_count(server.end)),
            client_uid: client
                .as_ref()
                .map(|held| held.closed.uid)
                .or(client_attribution.as_ref().map(|a| a.process.uid)),
            server_uid: Some(server.closed.uid),
            client_process: client_attribution
                .map(|attribution| Arc::unwrap_or_clone(attribution.process)),
            server_process,
            end: connection_end([server.end, client.and_then(|held| held.end)]),
        }
    }
}

/// Whether a client end can be the other end of a server end its listener
/// closed before accepting it: nothing came to the client from a server
/// that never accepted it, not even a FIN. (The server end tells nothing:
/// the kernel clears its counters with its peer's port.) The client of
/// another connection to the same address, one its server answered or
/// closed, is not taken for it.
fn of_unaccepted(client: &ClosedSocket) -> bool {
    client.bytes_received == 0
}

/// Whether the peer of an end is on this machine: a loopback address, or the
/// end's own address.
fn local_peer(key: &EndKey) -> bool {
    key.remote.ip().is_loopback() || key.remote.ip() == key.local.ip()
}

/// `tcpi_bytes_received` and `tcpi_bytes_acked` count the FIN, which takes
/// one sequence number, as a byte: after an orderly close each direction is
/// one above its payload. An end known to have been reset or to have timed
/// out sent no acknowledged FIN; an end with no verdict (Linux before 4.19)
/// is taken to have closed in order, and is one byte short if it did not.
pub(crate) fn fin_count(end: Option<ConnectionEnd>) -> u64 {
    match end {
        None | Some(ConnectionEnd::Closed) => 1,
        Some(ConnectionEnd::Reset | ConnectionEnd::TimedOut | ConnectionEnd::Unknown) => 0,
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Drops the oldest tenth of a map (by `age`), to stay under [`MAX_HELD`].
pub(crate) fn evict_oldest<K: Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    age: impl Fn(&V) -> UnixMicros,
) {
    let mut ages: Vec<UnixMicros> = map.values().map(&age).collect();
    let cut = ages.len() / 10;
    ages.select_nth_unstable(cut);
    let threshold = ages[cut];
    map.retain(|_, value| age(value) > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listeners on port 8080 (any address) in the own namespace, owned by
    /// "server" pid 10.
    struct Port8080;

    impl ListenerIndex for Port8080 {
        fn serves(&self, net_namespace: Option<u64>, local: SocketAddr) -> bool {
            net_namespace.is_none() && local.port() == 8080
        }
        fn owner(&self, net_namespace: Option<u64>, local: SocketAddr) -> Option<ProcessIdentity> {
            self.serves(net_namespace, local).then(|| process(10, "server"))
        }
    }

    fn process(pid: u32, name: &str) -> ProcessIdentity {
        ProcessIdentity { pid, name: name.to_string(), uid: 1000, ..ProcessIdentity::default() }
    }

    fn end(cookie: u64, local: &str, remote: &str, acked: u64, received: u64) -> ClosedSocket {
        ClosedSocket {
            cookie,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            uid: 1000,
            bytes_acked: acked,
            bytes_received: received,
            ..ClosedSocket::default()
        }
    }

    /// An end whose `tcp_info` says it sent `sent` payload bytes (with
    /// `again` of them retransmitted) and had `acked` acknowledged.
    fn with_info(acked: u64, sent: u64, again: u64, retransmits: u8) -> ClosedSocket {
        ClosedSocket {
            bytes_acked: acked,
            bytes_sent: Some(sent),
            bytes_retransmitted: again,
            retransmits,
            ..end(1, CLIENT, SERVER, acked, 0)
        }
    }

    #[test]
    fn eviction_drops_the_oldest_tenth_and_keeps_the_rest() {
        let mut starts: HashMap<u64, UnixMicros> =
            (0..100).map(|n| (n, 1_000 + n as i64)).collect();
        evict_oldest(&mut starts, |at| *at);
        assert!(starts.len() >= 89 && starts.len() < 100, "{} left", starts.len());
        let oldest_kept = starts.values().min().copied().unwrap();
        assert!(starts.values().all(|at| *at >= oldest_kept));
        assert!(starts.contains_key(&99), "the newest start is kept");
        assert!(!starts.contains_key(&0), "the oldest start is dropped");
    }

    #[test]
    fn tcp_info_tells_a_close_from_a_reset_and_a_timeout() {
        let server = |info: ClosedSocket| end_of(&info, Role::Server);
        // 18 bytes sent once, 18 and the FIN acknowledged.
        assert_eq!(server(with_info(19, 18, 0, 0)), Some(ConnectionEnd::Closed));
        // Retransmitted bytes are counted again in bytes_sent.
        assert_eq!(server(with_info(19, 20, 2, 0)), Some(ConnectionEnd::Closed));
        // No FIN acknowledged: a reset (SO_LINGER 0, or a RST received).
        assert_eq!(server(with_info(18, 18, 0, 0)), Some(ConnectionEnd::Reset));
        assert_eq!(server(with_info(0, 0, 0, 0)), Some(ConnectionEnd::Reset));
        // Still retransmitting when the kernel gave up.
        assert_eq!(server(with_info(5, 30, 12, 6)), Some(ConnectionEnd::TimedOut));
        // Linux before 4.19 reports no bytes_sent: no verdict.
        assert_eq!(server(end(1, CLIENT, SERVER, 19, 0)), None);
        // A client's count starts with its SYN: SYN, 4 bytes and no FIN.
        assert_eq!(end_of(&with_info(5, 4, 0, 0), Role::Client), Some(ConnectionEnd::Reset));
        assert_eq!(end_of(&with_info(6, 4, 0, 0), Role::Client), Some(ConnectionEnd::Closed));
    }

    #[test]
    fn a_reset_at_either_end_makes_the_connection_reset() {
        let mut joiner = ConnectionJoiner::new(false);
        // The client aborted (SYN and 18 bytes, no FIN); the server had
        // closed in order.
        let client = ClosedSocket { cookie: 1, ..with_info(19, 18, 0, 0) };
        let server = ClosedSocket {
            cookie: 2,
            local: SERVER.parse().unwrap(),
            remote: CLIENT.parse().unwrap(),
            ..with_info(101, 100, 0, 0)
        };
        assert!(joiner.closed(None, client, 100, &Port8080).is_none());
        let record = joiner.closed(None, server.clone(), 110, &Port8080).unwrap();
        assert_eq!(record.end, ConnectionEnd::Reset);
        assert_eq!((record.bytes_client_to_server, record.bytes_server_to_client), (18, 100));
        // Both in order (another connection): closed.
        let other = "127.0.0.1:40002";
        let client =
            ClosedSocket { cookie: 3, local: other.parse().unwrap(), ..with_info(20, 18, 0, 0) };
        let server = ClosedSocket { cookie: 4, remote: other.parse().unwrap(), ..server };
        assert!(joiner.closed(None, client, 200, &Port8080).is_none());
        let record = joiner.closed(None, server, 210, &Port8080).unwrap();
        assert_eq!(record.end, ConnectionEnd::Closed);
        assert_eq!((record.bytes_client_to_server, record.bytes_server_to_client), (18, 100));
        // A server end alone (remote client) that timed out.
        let lone = ClosedSocket {
            local: SERVER.parse().unwrap(),
            remote: "127.0.0.1:40001".parse().unwrap(),
            ..with_info(1, 40, 20, 5)
        };
        assert!(joiner.closed(None, lone, 300, &Port8080).is_none());
        let records = joiner.expire(400, 400, true, &Port8080);
        assert_eq!(records[0].end, ConnectionEnd::TimedOut);
    }

    const CLIENT: &str = "127.0.0.1:40000";
    const SERVER: &str = "127.0.0.1:8080";

    /// 4-tuples come round again within seconds at thousands of connections
    /// a second: a record that went out without its client end must not
    /// swallow the client end of the next connection on the same ports, and
    /// a record that had its client end is not remembered at all.
    #[test]
    fn a_reused_four_tuple_is_not_absorbed_by_the_previous_record() {
        let mut joiner = ConnectionJoiner::new(false);
        let client_key = EndKey::new(None, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        let attribution = |pid, since| Attribution {
            process: Arc::new(process(pid, "client")),
            role: Some(Role::Client),
            since,
            seen: since,
            cookie: None,
        };
        // First connection: the server end goes out alone after the grace.
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 100, &Port8080).is_none());
        let records = joiner.expire(1_000_000, 1_000_000, false, &Port8080);
        assert_eq!(records.len(), 1);
        // Second connection on the same ports, established after that.
        joiner.attribute(client_key, attribution(42, 2_000_000));
        assert!(joiner.closed(None, end(3, CLIENT, SERVER, 5, 7), 2_100_000, &Port8080).is_none());
        let record =
            joiner.closed(None, end(4, SERVER, CLIENT, 7, 5), 2_100_010, &Port8080).unwrap();
        assert_eq!(record.client_process.map(|p| p.pid), Some(42));
        // It had its client end: a third connection pairs normally too.
        joiner.attribute(client_key, attribution(43, 3_000_000));
        assert!(joiner.closed(None, end(5, CLIENT, SERVER, 5, 7), 3_100_000, &Port8080).is_none());
        let record =
            joiner.closed(None, end(6, SERVER, CLIENT, 7, 5), 3_100_010, &Port8080).unwrap();
        assert_eq!(record.client_process.map(|p| p.pid), Some(43));
        assert_eq!(joiner.losses.take(), []);
    }

    /// At 5,000 connections a second a 4-tuple can carry a new connection
    /// while the closes of the previous one still wait out the close delay:
    /// each close takes the attribution of its own socket (by cookie), not
    /// the newest one of the 4-tuple.
    #[test]
    fn a_new_connection_on_the_same_four_tuple_keeps_its_own_attributions() {
        let mut joiner = ConnectionJoiner::new(true);
        let client_key = EndKey::new(None, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        let server_key = client_key.peer();
        let attribution = |pid, role, since, cookie| Attribution {
            process: Arc::new(process(pid, "p")),
            role: Some(role),
            since,
            seen: since,
            cookie: Some(cookie),
        };
        // Connection A (client socket 1, accepted socket 2), then B
        // (sockets 3 and 4) attributed before A's closes are paired.
        joiner.attribute(client_key, attribution(20, Role::Client, 100, 1));
        joiner.attribute(server_key, attribution(10, Role::Server, 110, 2));
        joiner.attribute(client_key, attribution(21, Role::Client, 500, 3));
        joiner.attribute(server_key, attribution(11, Role::Server, 510, 4));
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 400, &Port8080).is_none());
        let first = joiner.closed(None, end(1, CLIENT, SERVER, 5, 7), 410, &Port8080).unwrap();
        assert_eq!(first.client_process.map(|p| p.pid), Some(20));
        assert_eq!(first.server_process.map(|p| p.pid), Some(10));
        assert_eq!(first.started_at, Some(100));
        assert!(joiner.closed(None, end(4, SERVER, CLIENT, 7, 5), 900, &Port8080).is_none());
        let second = joiner.closed(None, end(3, CLIENT, SERVER, 5, 7), 910, &Port8080).unwrap();
        assert_eq!(second.client_process.map(|p| p.pid), Some(21));
        assert_eq!(second.server_process.map(|p| p.pid), Some(11));
        assert_eq!(second.started_at, Some(500));
        assert_eq!(joiner.losses.take(), []);
        assert!(joiner.superseded.is_empty() && joiner.attributions.is_empty());
        // Both sockets stay known while either is attributed, superseded or not.
        joiner.attribute(client_key, attribution(20, Role::Client, 1_000, 5));
        joiner.attribute(client_key, attribution(21, Role::Client, 1_100, 6));
        assert!(joiner.attributed_to(&client_key, 5) && joiner.attributed_to(&client_key, 6));
        assert!(!joiner.attributed_to(&client_key, 7));
    }

    /// Both ends connect() to each other (TCP simultaneous open): eBPF names
    /// both as clients. One record, the first to connect as the client, and
    /// nothing left held; the "server" end's SYN is not counted as data.
    #[test]
    fn a_simultaneous_open_is_recorded_once_with_the_first_connect_as_client() {
        let (first, second) = ("127.0.0.1:7001", "127.0.0.1:7002");
        for first_to_close in [true, false] {
            let mut joiner = ConnectionJoiner::new(true);
            let key = |local: &str, remote: &str| {
                EndKey::new(None, local.parse().unwrap(), remote.parse().unwrap())
            };
            let attribution = |pid, since, cookie| Attribution {
                process: Arc::new(process(pid, "peer")),
                role: Some(Role::Client),
                since,
                seen: since,
                cookie: Some(cookie),
            };
            joiner.attribute(key(first, second), attribution(20, 100, 1));
            joiner.attribute(key(second, first), attribution(21, 105, 2));
            // Each end sent its SYN, 4 bytes and a FIN, all acknowledged,
            // and received the other's 5 bytes and FIN.
            let first_end = ClosedSocket { cookie: 1, ..with_info(6, 4, 0, 0) };
            let first_end = ClosedSocket {
                local: first.parse().unwrap(),
                remote: second.parse().unwrap(),
                bytes_received: 6,
                ..first_end
            };
            let second_end = ClosedSocket {
                cookie: 2,
                local: second.parse().unwrap(),
                remote: first.parse().unwrap(),
                bytes_acked: 7,
                bytes_sent: Some(5),
                bytes_received: 5,
                ..first_end.clone()
            };
            let (a, b) =
                if first_to_close { (first_end, second_end) } else { (second_end, first_end) };
            assert!(joiner.closed(None, a, 200, &Port8080).is_none());
            let record = joiner.closed(None, b, 210, &Port8080).expect("one record");
            assert_eq!(record.client, first.parse().unwrap(), "{record:?}");
            assert_eq!(record.server, second.parse().unwrap(), "{record:?}");
            assert_eq!(record.client_process.as_ref().map(|p| p.pid), Some(20));
            assert_eq!(record.server_process.as_ref().map(|p| p.pid), Some(21));
            assert_eq!((record.bytes_client_to_server, record.bytes_server_to_client), (4, 5));
            assert_eq!((record.started_at, record.end), (Some(100), ConnectionEnd::Closed));
            assert!(joiner.expire(10_000_000, 10_000_000, true, &Port8080).is_empty());
            assert_eq!(joiner.losses.take(), []);
            assert!(joiner.waiting_clients.is_empty() && joiner.attributions.is_empty());
            assert!(joiner.superseded.is_empty());
        }
    }

    /// A socket that connected to its own address (the SYN it sent was its
    /// peer's): one record naming its process at both ends.
    #[test]
    fn a_socket_connected_to_itself_is_recorded_once() {
        let mut joiner = ConnectionJoiner::new(true);
        let itself = "127.0.0.1:7003";
        let key = EndKey::new(None, itself.parse().unwrap(), itself.parse().unwrap());
        let attribution = Attribution {
            process: Arc::new(process(30, "loop")),
            role: Some(Role::Client),
            since: 100,
            seen: 100,
            cookie: Some(9),
        };
        joiner.attribute(key, attribution);
        let end = ClosedSocket {
            cookie: 9,
            local: itself.parse().unwrap(),
            remote: itself.parse().unwrap(),
            bytes_received: 4,
            ..with_info(5, 3, 0, 0)
        };
        let record = joiner.closed(None, end, 200, &Port8080).expect("one record");
        assert_eq!((record.client, record.server), (record.server, itself.parse().unwrap()));
        assert_eq!(record.client_process.map(|p| p.pid), Some(30));
        assert_eq!(record.server_process.map(|p| p.pid), Some(30));
        assert_eq!(joiner.losses.take(), []);
        assert!(joiner.expire(10_000_000, 10_000_000, true, &Port8080).is_empty());
        assert!(joiner.attributions.is_empty() && joiner.superseded.is_empty());
    }

    /// Seconds of closes read at once (the recorder was stopped) can hold
    /// two server ends of one 4-tuple before either client end: both are
    /// recorded.
    #[test]
    fn two_waiting_server_ends_of_one_four_tuple_are_both_recorded() {
        let mut joiner = ConnectionJoiner::new(false);
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 100, &Port8080).is_none());
        let earlier = joiner.closed(None, end(4, SERVER, CLIENT, 7, 5), 100, &Port8080);
        assert_eq!(earlier.map(|record| record.cookie), Some(2));
        let later = joiner.expire(10_000_000, 10_000_000, false, &Port8080);
        assert_eq!(later.iter().map(|record| record.cookie).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn pairs_client_first_then_server() {
        let mut joiner = ConnectionJoiner::new(false);
        let client = end(1, CLIENT, SERVER, 5, 7);
        assert!(joiner.closed(None, client, 100, &Port8080).is_none());
        let record = joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 110, &Port8080).unwrap();
        assert_eq!(record.cookie, 2);
        assert_eq!(record.client, CLIENT.parse().unwrap());
        assert_eq!(record.server, SERVER.parse().unwrap());
        // tcp_info counts each direction's FIN as a byte.
        assert_eq!((record.bytes_client_to_server, record.bytes_server_to_client), (4, 6));
        assert_eq!(record.ended_at, Some(110));
        // Netlink mode: the server is the listener's owner, the client unknown.
        assert_eq!(record.server_process.unwrap().pid, 10);
        assert!(record.client_process.is_none());
        assert_eq!(joiner.losses.take(), vec![(LossKind::UnknownProcess, 1)]);
    }

    /// A listener closed with connections in its accept queue: the kernel
    /// reports their server ends with the client's port cleared. Each is
    /// paired with a client end of the same addresses, one that closed
    /// before it (oldest first) or one that closes after it, and takes its
    /// port; one from another machine, and a listener's own close, make no
    /// record.
    #[test]
    fn server_ends_never_accepted_are_paired_by_their_client_end() {
        let mut joiner = ConnectionJoiner::new(false);
        let cleared = "127.0.0.1:0";
        // Each sent 1 byte and its FIN (acknowledged with its SYN: 3) and
        // received nothing; the kernel cleared the server ends' counters. A
        // client the server answered waits for its own server end.
        let answered = end(5, "127.0.0.1:40005", SERVER, 3, 9);
        let first = end(1, "127.0.0.1:40001", SERVER, 3, 0);
        let second = end(2, "127.0.0.1:40002", SERVER, 3, 0);
        assert!(joiner.closed(None, answered, 90, &Port8080).is_none());
        assert!(joiner.closed(None, first, 100, &Port8080).is_none());
        assert!(joiner.closed(None, second, 105, &Port8080).is_none());
        let record = joiner.closed(None, end(11, SERVER, cleared, 0, 0), 110, &Port8080).unwrap();
        assert_eq!(record.client, "127.0.0.1:40001".parse().unwrap());
        assert_eq!((record.cookie, record.server), (11, SERVER.parse().unwrap()));
        assert_eq!(record.client_uid, Some(1000));
        let record = joiner.closed(None, end(12, SERVER, cleared, 0, 0), 111, &Port8080).unwrap();
        assert_eq!(record.client, "127.0.0.1:40002".parse().unwrap());
        // Its client still open: the server end waits for its close; the
        // client of another connection closing meanwhile, answered by its
        // server, is not taken for it.
        assert!(joiner.closed(None, end(13, SERVER, cleared, 0, 0), 120, &Port8080).is_none());
        let other = end(6, "127.0.0.1:40006", SERVER, 3, 4);
        assert!(joiner.closed(None, other, 150, &Port8080).is_none());
        let late = end(3, "127.0.0.1:40003", SERVER, 2, 0);
        let record = joiner.closed(None, late, 200, &Port8080).unwrap();
        assert_eq!((record.cookie, record.client), (13, "127.0.0.1:40003".parse().unwrap()));
        assert_eq!(record.ended_at, Some(120));
        // A remote client's end never closes here; a listener has no peer.
        let remote = end(14, SERVER, "192.0.2.7:0", 1, 3);
        assert!(joiner.closed(None, remote, 300, &Port8080).is_none());
        assert!(joiner.closed(None, end(15, SERVER, "0.0.0.0:0", 0, 0), 300, &Port8080).is_none());
        assert!(joiner.unaccepted.is_empty());
        let answered = joiner.closed(None, end(7, SERVER, "127.0.0.1:40005", 8, 2), 400, &Port8080);
        assert_eq!(answered.map(|record| record.cookie), Some(7));
    }

    /// A local client end found still open after the grace holds its
    /// server end back until it closes (or [`OPEN_CLIENT_WAIT`] passes); a
    /// remote client is never looked for.
    #[test]
    fn a_server_end_waits_for_a_client_end_still_open() {
        let mut joiner = ConnectionJoiner::new(false);
        let grace = micros(CLIENT_GRACE);
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 0, &Port8080).is_none());
        let remote = end(3, SERVER, "192.0.2.7:40000", 7, 5);
        assert!(joiner.closed(None, remote, 0, &Port8080).is_none());
        assert!(joiner.overdue_local_clients(grace - 1).is_empty(), "inside the grace");
        let overdue = joiner.overdue_local_clients(grace);
        let server_key = EndKey::new(None, SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        assert_eq!(overdue, [server_key]);
        joiner.client_still_open(server_key, grace);
        assert!(joiner.overdue_local_clients(grace).is_empty(), "looked up once");
        // Only the remote one goes out; the other waits for its client.
        let records = joiner.expire(grace, grace, false, &Port8080);
        assert_eq!(records.iter().map(|r| r.cookie).collect::<Vec<_>>(), [3]);
        let later = grace + 10_000_000;
        assert!(joiner.expire(later, later, false, &Port8080).is_empty());
        let record = joiner.closed(None, end(1, CLIENT, SERVER, 6, 5), later, &Port8080).unwrap();
        assert_eq!((record.cookie, record.client_uid), (2, Some(1000)));
        assert!(joiner.clients_looked_for.is_empty());
        // A client that never closes holds it back no longer than the wait.
        assert!(joiner.closed(None, end(4, SERVER, CLIENT, 7, 5), 0, &Port8080).is_none());
        joiner.client_still_open(server_key, grace);
        let wait = micros(OPEN_CLIENT_WAIT);
        assert!(joiner.expire(grace + wait - 1, grace, false, &Port8080).is_empty());
        let records = joiner.expire(grace + wait, grace, false, &Port8080);
        assert_eq!(records.iter().map(|r| r.cookie).collect::<Vec<_>>(), [4]);
        assert!(joiner.clients_looked_for.is_empty());
    }

    /// A client end that closed after the last read of closes and before
    /// the look is not in the look's dump: the record waits for the reads
    /// that cover the look, so that close still pairs and gives its uid.
    #[test]
    fn a_client_closing_between_the_last_read_and_the_look_is_still_paired() {
        let mut joiner = ConnectionJoiner::new(false);
        let grace = micros(CLIENT_GRACE);
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 0, &Port8080).is_none());
        let server_key = EndKey::new(None, SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        assert_eq!(joiner.overdue_local_clients(grace), [server_key]);
        let looked_at = grace + 2_000;
        joiner.client_not_open(server_key, looked_at);
        assert!(joiner.overdue_local_clients(grace).is_empty(), "looked for once");
        assert!(joiner.expire(looked_at + 1, grace, false, &Port8080).is_empty());
        let record = joiner.closed(None, end(1, CLIENT, SERVER, 6, 5), grace + 1_000, &Port8080);
        let record = record.expect("paired with the server end");
        assert_eq!((record.cookie, record.client_uid), (2, Some(1000)));
        assert!(joiner.clients_looked_for.is_empty());
        // No close came: once the reads cover the look it goes out alone.
        assert!(joiner.closed(None, end(4, SERVER, CLIENT, 7, 5), 0, &Port8080).is_none());
        joiner.client_not_open(server_key, looked_at);
        assert!(joiner.expire(looked_at, looked_at - 1, false, &Port8080).is_empty());
        let records = joiner.expire(looked_at, looked_at, false, &Port8080);
        assert_eq!(
            records.iter().map(|r| (r.cookie, r.client_uid)).collect::<Vec<_>>(),
            [(4, None)]
        );
        assert!(joiner.clients_looked_for.is_empty());
    }

    #[test]
    fn server_first_waits_for_the_client_then_absorbs_a_late_one() {
        let mut joiner = ConnectionJoiner::new(false);
        assert!(joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), 0, &Port8080).is_none());
        assert!(
            joiner.expire(1_000, 1_000, false, &Port8080).is_empty(),
            "inside the grace period"
        );
        // A recorder that fell behind has not paired what is queued yet.
        let late = micros(CLIENT_GRACE) * 4;
        assert!(joiner.expire(late, 1_000, false, &Port8080).is_empty(), "queued closes first");
        let records = joiner.expire(micros(CLIENT_GRACE), micros(CLIENT_GRACE), false, &Port8080);
        assert_eq!(records.len(), 1);
        // The client end closing later adds nothing and is not held.
        let late = joiner.closed(None, end(1, CLIENT, SERVER, 5, 7), 2_000_000, &Port8080);
        assert!(late.is_none());
        assert!(joiner.waiting_clients.is_empty());
    }

    #[test]
    fn ebpf_attributions_name_both_ends_across_ipv4_mapped_addresses() {
        let mut joiner = ConnectionJoiner::new(true);
        // A dual-stack server sees the IPv4 client as ::ffff:127.0.0.1.
        let mapped_server = "[::ffff:127.0.0.1]:8080";
        let mapped_client = "[::ffff:127.0.0.1]:40000";
        let client_key = EndKey::new(None, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        let server_key =
            EndKey::new(None, mapped_server.parse().unwrap(), mapped_client.parse().unwrap());
        assert_eq!(client_key.peer(), server_key);
        let attribution = |pid, name, role, since| Attribution {
            process: Arc::new(process(pid, name)),
            role: Some(role),
            since,
            seen: since,
            cookie: None,
        };
        joiner.attribute(client_key, attribution(20, "curl", Role::Client, 50));
        joiner.attribute(server_key, attribution(11, "worker", Role::Server, 60));
        assert!(joiner.closed(None, end(1, CLIENT, SERVER, 5, 7), 100, &Port8080).is_none());
        let server = end(2, mapped_server, mapped_client, 7, 5);
        let record = joiner.closed(None, server, 120, &Port8080).unwrap();
        assert_eq!(record.client_process.unwrap().pid, 20);
        assert_eq!(
            record.server_process.unwrap().pid,
            11,
            "the server end's process, not the listener's"
        );
        assert_eq!(record.started_at, Some(50));
        assert!(joiner.losses.take().is_empty());
    }

    /// A connection open for an hour, found by a dump at every interval
    /// (netlink mode) or reconcile (eBPF mode): it keeps both processes
    /// and is recorded with the start the first dump saw, not the last.
    #[test]
    fn a_connection_open_for_an_hour_keeps_its_start_and_processes() {
        let mut joiner = ConnectionJoiner::new(false);
        let client_key = EndKey::new(None, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        let attribution = |pid, name, role| Attribution {
            process: Arc::new(process(pid, name)),
            role: Some(role),
            since: 1_000_000,
            seen: 1_000_000,
            cookie: None,
        };
        joiner.attribute(client_key, attribution(20, "psql", Role::Client));
        joiner.attribute(client_key.peer(), attribution(11, "postgres", Role::Server));
        let minute = 60_000_000;
        let mut now = 1_000_000;
        for _ in 0..60 {
            now += minute;
            joiner.refresh(&client_key, now);
            joiner.refresh(&client_key.peer(), now);
            assert!(joiner.expire(now, now, false, &Port8080).is_empty());
        }
        assert!(joiner.closed(None, end(1, CLIENT, SERVER, 5, 7), now, &Port8080).is_none());
        let record = joiner.closed(None, end(2, SERVER, CLIENT, 7, 5), now, &Port8080).unwrap();
        assert_eq!(record.started_at, Some(1_000_000), "{record:?}");
        assert_eq!(record.client_process.unwrap().pid, 20);
        assert_eq!(record.server_process.unwrap().pid, 11);
    }

    #[test]
    fn outbound_connections_and_listener_closes_are_ignored() {
        let mut joiner = ConnectionJoiner::new(false);
        let outbound = end(1, "10.0.0.2:40000", "192.0.2.1:443", 1, 1);
        assert!(joiner.closed(None, outbound, 0, &Port8080).is_none());
        let listener = end(3, SERVER, "0.0.0.0:0", 0, 0);
        assert!(joiner.closed(None, listener, 0, &Port8080).is_none());
        assert!(joiner.waiting_clients.is_empty() && joiner.waiting_servers.is_empty());
        // Another namespace's port 8080 is not served by our listener.
        let elsewhere = end(4, SERVER, CLIENT, 0, 0);
        assert!(joiner.closed(Some(7), elsewhere, 0, &Port8080).is_none());
        assert!(joiner.waiting_servers.is_empty());
    }

    /// eBPF mode: a server end whose start was lost (a full ring buffer, a
    /// skipped program run) is counted, with or without its process; one
    /// whose start was seen but whose process was not (reset, closed by a
    /// kernel worker) or that was open before recording is not; nor is the
    /// end of a simultaneous open that played the server.
    #[test]
    fn only_server_ends_whose_start_was_lost_are_counted_unmatched() {
        let mut joiner = ConnectionJoiner::new(true);
        let server_key = EndKey::new(None, SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        let attribution = |role, cookie| Attribution {
            process: Arc::new(process(11, "worker")),
            role,
            since: 0,
            seen: 0,
            cookie: Some(cookie),
        };
        // Start seen, process not: the listener's owner, no loss.
        joiner.closed(None, end(2, SERVER, CLIENT, 0, 0), 0, &Port8080);
        let records = joiner.expire(0, 0, true, &Port8080);
        assert_eq!(records[0].server_process.as_ref().map(|p| p.pid), Some(10));
        assert_eq!(joiner.losses.take(), []);
        // Start lost, no process: counted.
        joiner.start_unseen(4);
        joiner.closed(None, end(4, SERVER, CLIENT, 0, 0), 0, &Port8080);
        assert_eq!(joiner.expire(0, 0, true, &Port8080).len(), 1);
        assert_eq!(joiner.losses.take(), [(LossKind::UnmatchedCookie, 1)]);
        // Start lost, its process seen closing it: counted too.
        joiner.attribute(server_key, attribution(None, 6));
        joiner.start_unseen(6);
        joiner.closed(None, end(6, SERVER, CLIENT, 0, 0), 0, &Port8080);
        let records = joiner.expire(0, 0, true, &Port8080);
        assert_eq!(records[0].server_process.as_ref().map(|p| p.pid), Some(11));
        assert_eq!(joiner.losses.take(), [(LossKind::UnmatchedCookie, 1)]);
        // Both ends connected (a simultaneous open): no server start to see.
        let (first, second) = ("127.0.0.1:7001", "127.0.0.1:7002");
        let key = |local: &str, remote: &str| {
            EndKey::new(None, local.parse().unwrap(), remote.parse().unwrap())
        };
        joiner.attribute(key(first, second), attribution(Some(Role::Client), 7));
        joiner.attribute(key(second, first), attribution(Some(Role::Client), 8));
        joiner.start_unseen(7);
        joiner.start_unseen(8);
        assert!(joiner.closed(None, end(7, first, second, 0, 0), 0, &Port8080).is_none());
        assert!(joiner.closed(None, end(8, second, first, 0, 0), 0, &Port8080).is_some());
        assert_eq!(joiner.losses.take(), []);
        assert!(joiner.unstarted.is_empty());
        // Netlink mode never counts it: nothing reports starts.
        let mut joiner = ConnectionJoiner::new(false);
        joiner.start_unseen(2);
        joiner.closed(None, end(2, SERVER, CLIENT, 0, 0), 0, &Port8080);
        joiner.expire(0, 0, true, &Port8080);
        assert!(!joiner.losses.take().contains(&(LossKind::UnmatchedCookie, 1)));
    }
}
