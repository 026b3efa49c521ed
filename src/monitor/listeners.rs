//! Which listeners exist, and when they came and went.
//!
//! Two sources feed one table keyed by (namespace, protocol, socket
//! cookie):
//! - **LISTEN-only sock_diag dumps** (TCP LISTEN, bound UDP, listening Unix
//!   sockets): the kernel walks only the listening hash, so they are cheap
//!   enough to repeat every 10 ms while processes are starting; a diff
//!   against the table gives the appeared and disappeared listeners, and a
//!   `/proc` scan for the new inodes only names their owners;
//! - **eBPF** `listen` events (TCP only), which carry the pid that called
//!   listen() and so name a listener that lives a millisecond.
//!
//! The table also answers the connection joiner's question "is this a
//! server end?" — including for listeners closed in the last minutes, so a
//! connection that outlives its listener is still recognised.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::connections::{canonical, Certainty, ListenerIndex};
use crate::model::monitor::{ListenerChange, ListenerEvent, ProcessIdentity, UnixMicros};
use crate::model::{Family, Protocol, Scope, Socket};

/// How long a closed listener still marks its port as a server port.
pub const REMEMBER_CLOSED: Duration = Duration::from_secs(600);
/// A listener eBPF reported is not declared gone by a dump that may have
/// been taken just before it appeared.
pub const EBPF_SETTLE: Duration = Duration::from_secs(2);

/// A TCP socket as eBPF saw it enter LISTEN.
#[derive(Debug, Clone, Copy)]
pub struct Listened {
    pub net_namespace: Option<u64>,
    pub cookie: u64,
    pub local: SocketAddr,
    /// `IPV6_V6ONLY`, final by listen() (the kernel refuses to change it
    /// on a bound socket); `None` for IPv4.
    pub v6only: Option<bool>,
    /// The uid of the process that called listen().
    pub uid: u32,
    /// The device it is bound to (`SO_BINDTODEVICE`), 0 for none: one bound
    /// to `lo` is loopback whatever its address, as `porthole PORT` says.
    pub interface: u32,
}

/// What the destruction of a UDP socket means for the listener table.
#[derive(Debug, Clone, PartialEq)]
pub enum UdpDestroyed {
    /// A listener the table holds is gone now: its `Disappeared` event.
    Gone(ListenerEvent),
    /// A bound socket with no peer that no dump saw: it lived between two
    /// dumps. Who held it and when it appeared cannot be known any more;
    /// the caller counts it ([`crate::model::monitor::LossKind::UnseenListener`]).
    Unseen,
    /// A connected socket (a client): no listener.
    NotListener,
}

/// Socket inode → the processes holding it.
pub type OwnersByInode = HashMap<u64, Vec<ProcessIdentity>>;

/// Identity of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerKey {
    pub net_namespace: Option<u64>,
    pub protocol: Protocol,
    /// Socket cookie, or the inode when the source has no cookie.
    pub id: u64,
}

#[derive(Debug, Clone)]
struct Known {
    /// The `Appeared` event, reused (with `Disappeared`) when it goes.
    event: ListenerEvent,
    /// When eBPF reported it, to ignore dumps racing with the report.
    reported_by_ebpf_at: Option<UnixMicros>,
}

/// A closed TCP listener remembered for [`REMEMBER_CLOSED`].
#[derive(Debug, Clone)]
struct Closed {
    net_namespace: Option<u64>,
    local: SocketAddr,
    owner: Option<ProcessIdentity>,
    at: UnixMicros,
    /// Seen listening (by a dump or eBPF); false for a bound socket whose
    /// destruction is all that was seen of it.
    seen_listening: bool,
}

/// The listener table; see the module docs.
#[derive(Debug, Default)]
pub struct ListenerTracker {
    current: HashMap<ListenerKey, Known>,
    closed: Vec<Closed>,
    /// UDP listeners a dump found gone, with when: the kernel reports a UDP
    /// socket's destruction after an RCU grace period and from a work
    /// queue, so a dump can miss it before its destroy message is read.
    /// That message then tells nothing new (see [`Self::udp_destroyed`]).
    udp_gone: HashMap<ListenerKey, UnixMicros>,
}

impl ListenerTracker {
    /// Diffs one LISTEN-only dump of the namespaces in `covered` against the
    /// table. `owners` names the owners of the new sockets by inode (one
    /// `/proc` scan for all of them).
    pub fn observe_dump(
        &mut self,
        sockets: &[Socket],
        covered: &dyn Fn(Option<u64>) -> bool,
        now: UnixMicros,
        owners: &mut dyn FnMut(&[u64]) -> OwnersByInode,
    ) -> Vec<ListenerEvent> {
        let mut seen = std::collections::HashSet::with_capacity(sockets.len());
        let mut fresh = Vec::new();
        let mut events = Vec::new();
        for socket in sockets.iter().filter(|s| s.is_listener()) {
            let key = key_of(socket);
            seen.insert(key);
            match self.current.get_mut(&key) {
                // Bound to `lo` (or no longer) since it was recorded: a
                // program may set SO_BINDTODEVICE after listen(), which eBPF
                // saw, or after the dump that found it. The row it had is
                // ended and one with the scope it has now begins, with the
                // same owners: who can reach it changed.
                Some(known) if known.event.scope != socket.scope() => {
                    let owners = known.event.owners.clone();
                    if let Some(gone) = self.remove(&key, now) {
                        events.push(gone);
                    }
                    let event = appeared(socket, now, owners);
                    let known = Known { event: event.clone(), reported_by_ebpf_at: None };
                    self.current.insert(key, known);
                    events.push(event);
                }
                Some(known) => {
                    // eBPF reports no inode; the dump completes it.
                    if known.event.inode == 0 {
                        known.event.inode = socket.inode;
                    }
                    if known.event.v6only.is_none() {
                        known.event.v6only = socket.v6only;
                    }
                }
                None => fresh.push(socket),
            }
        }
        if !fresh.is_empty() {
            let inodes: Vec<u64> = fresh.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
            let mut named = owners(&inodes);
            for socket in fresh {
                let event = appeared(socket, now, named.remove(&socket.inode).unwrap_or_default());
                self.current.insert(
                    key_of(socket),
                    Known { event: event.clone(), reported_by_ebpf_at: None },
                );
                events.push(event);
            }
        }
        let settle = micros(EBPF_SETTLE);
        let gone: Vec<ListenerKey> = self
            .current
            .iter()
            .filter(|(key, known)| {
                covered(key.net_namespace)
                    && !seen.contains(key)
                    && known.reported_by_ebpf_at.is_none_or(|at| now - at >= settle)
            })
            .map(|(key, _)| *key)
            .collect();
        for key in gone {
            if let Some(event) = self.remove(&key, now) {
                if key.protocol == Protocol::Udp {
                    self.udp_gone.insert(key, now);
                }
                events.push(event);
            }
        }
        events
    }

    /// A TCP listener reported by eBPF at listen(). `None` when known.
    pub fn listened(
        &mut self,
        socket: Listened,
        owner: ProcessIdentity,
        now: UnixMicros,
    ) -> Option<ListenerEvent> {
        let Listened { net_namespace, cookie, local, v6only, uid, interface } = socket;
        let key = ListenerKey { net_namespace, protocol: Protocol::Tcp, id: cookie };
        if self.current.contains_key(&key) {
            return None;
        }
        let local = canonical(local);
        let scope = Scope::of_bound(local.ip(), interface);
        let event = ListenerEvent {
            at: now,
            change: ListenerChange::Appeared,
            protocol: Protocol::Tcp,
            family: if local.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 },
            local: Some(local),
            path: None,
            inode: 0,
            uid,
            net_namespace,
            scope,
            exposed: scope.is_exposed(),
            v6only,
            owners: vec![owner],
        };
        self.current.insert(key, Known { event: event.clone(), reported_by_ebpf_at: Some(now) });
        Some(event)
    }

    /// Inodes of the current listeners held by one of `pids`, processes that
    /// exited or executed a new program: a listener passed on (a parent
    /// that forked and exited, `systemd-socket-activate` and other
    /// launchers that exec their service) is now held by someone else, or
    /// by the same pid under a new name. A listener eBPF reported and no
    /// dump saw yet has no inode: it is listed as 0.
    pub fn held_by(&self, pids: &HashSet<u32>) -> Vec<u64> {
        self.current
            .values()
            .map(|known| &known.event)
            .filter(|event| event.owners.iter().any(|owner| pids.contains(&owner.pid)))
            .map(|event| event.inode)
            .collect()
    }

    /// The holders of every current listener, to be brought up to date
    /// in place (see [`super::processes::ProcessTable::recheck_deleted`]).
    pub fn owners_mut(&mut self) -> impl Iterator<Item = &mut ProcessIdentity> {
        self.current.values_mut().flat_map(|known| known.event.owners.iter_mut())
    }

    /// The holders a fresh scan found for listeners [`Self::held_by`]
    /// named. A listener the scan names nobody for keeps its owners: it
    /// closed with its process (the next dump reports it gone, with them)
    /// or its holder cannot be seen from here.
    pub fn update_owners(&mut self, mut named: OwnersByInode) {
        for known in self.current.values_mut() {
            if let Some(owners) = named.remove(&known.event.inode) {
                known.event.owners = owners;
            }
        }
    }

    /// A TCP listener closed, as eBPF or a destroy notification saw it.
    pub fn listen_closed(
        &mut self,
        net_namespace: Option<u64>,
        cookie: u64,
        now: UnixMicros,
    ) -> Option<ListenerEvent> {
        self.remove(&ListenerKey { net_namespace, protocol: Protocol::Tcp, id: cookie }, now)
    }

    /// A bound TCP socket with no peer was destroyed: a listener closed.
    /// Remembered so that its connections, whose closes may be processed
    /// after this one, are still recognised as connections to a local
    /// service even when no dump ever saw the listener.
    pub fn socket_unbound(
        &mut self,
        net_namespace: Option<u64>,
        local: SocketAddr,
        now: UnixMicros,
    ) {
        if self.find(net_namespace, local).is_none() {
            self.closed.push(Closed {
                net_namespace,
                local: canonical(local),
                owner: None,
                at: now,
                seen_listening: false,
            });
        }
    }

    /// A UDP socket was destroyed (the destroy multicast, netlink mode);
    /// see [`UdpDestroyed`].
    pub fn udp_destroyed(
        &mut self,
        net_namespace: Option<u64>,
        cookie: u64,
        local: SocketAddr,
        remote: SocketAddr,
        now: UnixMicros,
    ) -> UdpDestroyed {
        let key = ListenerKey { net_namespace, protocol: Protocol::Udp, id: cookie };
        if let Some(event) = self.remove(&key, now) {
            return UdpDestroyed::Gone(event);
        }
        if self.udp_gone.remove(&key).is_some() {
            return UdpDestroyed::NotListener;
        }
        // What a dump would have listed as a listener (see
        // `Socket::is_listener`): bound to a port, no peer.
        if local.port() != 0 && remote.port() == 0 {
            return UdpDestroyed::Unseen;
        }
        UdpDestroyed::NotListener
    }

    /// Forgets closed listeners older than [`REMEMBER_CLOSED`].
    pub fn expire(&mut self, now: UnixMicros) {
        let keep = micros(REMEMBER_CLOSED);
        self.closed.retain(|closed| now - closed.at < keep);
        self.udp_gone.retain(|_, at| now - *at < keep);
    }

    fn remove(&mut self, key: &ListenerKey, now: UnixMicros) -> Option<ListenerEvent> {
        let known = self.current.remove(key)?;
        let mut event = known.event;
        if let (Protocol::Tcp, Some(local)) = (event.protocol, event.local) {
            self.closed.push(Closed {
                net_namespace: event.net_namespace,
                local,
                owner: event.owners.first().cloned(),
                at: now,
                seen_listening: true,
            });
        }
        event.at = now;
        event.change = ListenerChange::Disappeared;
        Some(event)
    }

    /// The TCP listener (current first, then recently closed) that accepts
    /// connections to `local` in the namespace, and the process that
    /// accepts them when only one can: with several processes holding the
    /// listener (a parent and the children it forked, a `SO_REUSEPORT`
    /// group of sockets, a master and its workers) the kernel hands each
    /// connection to any of them, and naming one would be a guess.
    fn find(
        &self,
        net_namespace: Option<u64>,
        local: SocketAddr,
    ) -> Option<Option<&ProcessIdentity>> {
        let local = canonical(local);
        let accepts = |listener: SocketAddr| accepts(listener, local);
        let mut holders = self
            .current
            .values()
            .map(|known| &known.event)
            .filter(|event| {
                event.protocol == Protocol::Tcp
                    && event.net_namespace == net_namespace
                    && event.local.is_some_and(accepts)
            })
            .peekable();
        if holders.peek().is_some() {
            let mut only: Option<&ProcessIdentity> = None;
            for owner in holders.flat_map(|event| &event.owners) {
                match only {
                    Some(named) if named.pid != owner.pid => return Some(None),
                    _ => only = Some(owner),
                }
            }
            return Some(only);
        }
        self.closed
            .iter()
            .rev()
            .find(|closed| closed.net_namespace == net_namespace && accepts(closed.local))
            .map(|closed| closed.owner.as_ref())
    }

    /// The ports of the TCP listeners open now or closed recently, in any
    /// namespace: the server ends of connections that may still be open
    /// have one of them as their local port.
    pub fn tcp_ports(&self) -> Vec<u16> {
        let current = self
            .current
            .values()
            .filter(|known| known.event.protocol == Protocol::Tcp)
            .filter_map(|known| known.event.local.map(|local| local.port()));
        let closed = self.closed.iter().map(|closed| closed.local.port());
        let mut ports: Vec<u16> = current.chain(closed).filter(|port| *port != 0).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

impl ListenerIndex for ListenerTracker {
    fn serves(&self, net_namespace: Option<u64>, local: SocketAddr) -> bool {
        self.find(net_namespace, local).is_some()
    }

    fn owner(&self, net_namespace: Option<u64>, local: SocketAddr) -> Option<ProcessIdentity> {
        self.find(net_namespace, local).flatten().cloned()
    }

    fn certainty(&self, net_namespace: Option<u64>, local: SocketAddr) -> Option<Certainty> {
        let local = canonical(local);
        let accepts = |listener: SocketAddr| accepts(listener, local);
        let listening = self.current.values().map(|known| &known.event).any(|event| {
            event.protocol == Protocol::Tcp
                && event.net_namespace == net_namespace
                && event.local.is_some_and(accepts)
        });
        if listening {
            return Some(Certainty::Listening);
        }
        self.closed
            .iter()
            .filter(|closed| closed.net_namespace == net_namespace && accepts(closed.local))
            .map(
                |closed| if closed.seen_listening { Certainty::Closed } else { Certainty::Unbound },
            )
            .max()
    }
}

/// Whether a listener bound to `listener` takes connections to `local`
/// (canonical).
fn accepts(listener: SocketAddr, local: SocketAddr) -> bool {
    listener.port() == local.port()
        && (listener.ip().is_unspecified() || canonical(listener).ip() == local.ip())
}

/// The `Appeared` event of a listener a dump found.
fn appeared(socket: &Socket, now: UnixMicros, owners: Vec<ProcessIdentity>) -> ListenerEvent {
    ListenerEvent {
        at: now,
        change: ListenerChange::Appeared,
        protocol: socket.protocol,
        family: socket.family,
        local: socket.local.map(canonical),
        path: socket.path.clone(),
        inode: socket.inode,
        uid: socket.uid,
        net_namespace: socket.net_namespace,
        scope: socket.scope(),
        exposed: socket.exposed(),
        v6only: socket.v6only,
        owners,
    }
}

fn key_of(socket: &Socket) -> ListenerKey {
    ListenerKey {
        net_namespace: socket.net_namespace,
        protocol: socket.protocol,
        id: if socket.cookie != 0 { socket.cookie } else { socket.inode },
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SocketState;

    fn listener(address: &str, cookie: u64, inode: u64) -> Socket {
        Socket {
            cookie,
            inode,
            ..Socket::ip(
                Protocol::Tcp,
                address.parse().unwrap(),
                "0.0.0.0:0".parse().unwrap(),
                SocketState::Listen,
            )
        }
    }

    fn named(inodes: &[u64]) -> HashMap<u64, Vec<ProcessIdentity>> {
        inodes
            .iter()
            .map(|&inode| {
                let owner = ProcessIdentity {
                    pid: inode as u32,
                    name: "srv".into(),
                    ..ProcessIdentity::default()
                };
                (inode, vec![owner])
            })
            .collect()
    }

    #[test]
    fn a_listener_bound_to_lo_after_listen_is_recorded_again_with_its_new_scope() {
        let mut tracker = ListenerTracker::default();
        let all = |_: Option<u64>| true;
        let local: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let owner = ProcessIdentity { pid: 7, name: "srv".into(), ..ProcessIdentity::default() };
        let socket =
            Listened { net_namespace: None, cookie: 5, local, v6only: None, uid: 0, interface: 0 };
        let first = tracker.listened(socket, owner, 10).expect("new");
        assert_eq!((first.scope, first.exposed), (Scope::Wildcard, true));
        // The same socket, now SO_BINDTODEVICE lo: only this host reaches it.
        let mut dumped = listener("0.0.0.0:8080", 5, 500);
        dumped.interface = 1;
        let later = 10 + micros(EBPF_SETTLE);
        let events = tracker.observe_dump(&[dumped.clone()], &all, later, &mut |_| unreachable!());
        let changes: Vec<_> = events.iter().map(|e| (e.change, e.scope, e.exposed)).collect();
        assert_eq!(
            changes,
            [
                (ListenerChange::Disappeared, Scope::Wildcard, true),
                (ListenerChange::Appeared, Scope::Loopback, false)
            ]
        );
        assert_eq!(events[1].owners[0].pid, 7, "its owner is kept");
        assert_eq!(events[1].inode, 500);
        // Nothing more while it stays so.
        assert!(tracker
            .observe_dump(&[dumped], &all, later + 1, &mut |_| unreachable!())
            .is_empty());
    }

    #[test]
    fn a_destroyed_udp_socket_is_a_listener_gone_an_unseen_one_or_neither() {
        let mut tracker = ListenerTracker::default();
        let all = |_: Option<u64>| true;
        let udp = |address: &str, cookie: u64| Socket {
            cookie,
            inode: cookie * 100,
            ..Socket::ip(
                Protocol::Udp,
                address.parse().unwrap(),
                "0.0.0.0:0".parse().unwrap(),
                SocketState::Close,
            )
        };
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let dump = vec![udp("127.0.0.1:53", 1), udp("127.0.0.1:54", 2)];
        assert_eq!(tracker.observe_dump(&dump, &all, 10, &mut |inodes| named(inodes)).len(), 2);
        // Destroyed while the table holds it: gone now, with its owner.
        let at = "127.0.0.1:53".parse().unwrap();
        match tracker.udp_destroyed(None, 1, at, any, 20) {
            UdpDestroyed::Gone(event) => {
                assert_eq!((event.change, event.at), (ListenerChange::Disappeared, 20));
                assert_eq!(event.owners[0].pid, 100);
            }
            other => panic!("{other:?}"),
        }
        // A dump found the other gone before its destroy message came.
        let events = tracker.observe_dump(&[], &all, 30, &mut |inodes| named(inodes));
        assert_eq!(events.len(), 1);
        let at = "127.0.0.1:54".parse().unwrap();
        assert_eq!(tracker.udp_destroyed(None, 2, at, any, 40), UdpDestroyed::NotListener);
        // Bound, no peer, never dumped: it lived between two dumps.
        let at = "127.0.0.1:55".parse().unwrap();
        assert_eq!(tracker.udp_destroyed(None, 3, at, any, 50), UdpDestroyed::Unseen);
        // A connected client is no listener.
        let peer = "127.0.0.1:53".parse().unwrap();
        let at = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(tracker.udp_destroyed(None, 4, at, peer, 60), UdpDestroyed::NotListener);
    }

    #[test]
    fn dumps_report_appeared_and_disappeared_listeners_with_owners() {
        let mut tracker = ListenerTracker::default();
        let all = |_: Option<u64>| true;
        let first = vec![listener("127.0.0.1:8080", 1, 100), listener("0.0.0.0:22", 2, 200)];
        let events = tracker.observe_dump(&first, &all, 10, &mut |inodes| named(inodes));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].owners[0].pid, 100);
        assert!(events[1].exposed, "0.0.0.0 is reachable from other devices");
        assert!(tracker.serves(None, "127.0.0.1:8080".parse().unwrap()));
        assert!(tracker.serves(None, "[::ffff:10.1.2.3]:22".parse().unwrap()));
        assert!(!tracker.serves(None, "127.0.0.2:8080".parse().unwrap()));
        let mut scans = 0;
        let events = tracker.observe_dump(&first[1..], &all, 20, &mut |inodes| {
            scans += 1;
            named(inodes)
        });
        assert_eq!(scans, 0, "no new listener, no /proc scan");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].change, ListenerChange::Disappeared);
        assert_eq!(events[0].owners[0].pid, 100, "named after it is gone");
        // Its port still marks server ends of late closes.
        assert_eq!(tracker.owner(None, "127.0.0.1:8080".parse().unwrap()).unwrap().pid, 100);
    }

    #[test]
    fn ebpf_listeners_are_not_reported_twice_nor_dropped_by_a_racing_dump() {
        let mut tracker = ListenerTracker::default();
        let owner = ProcessIdentity { pid: 7, ..ProcessIdentity::default() };
        let local = "127.0.0.1:9000".parse().unwrap();
        let socket =
            Listened { net_namespace: None, cookie: 5, local, v6only: None, uid: 0, interface: 0 };
        assert!(tracker.listened(socket, owner.clone(), 100).is_some());
        assert!(tracker.listened(socket, owner, 100).is_none());
        let all = |_: Option<u64>| true;
        // A dump taken just before listen() does not show it yet.
        assert!(tracker.observe_dump(&[], &all, 200, &mut |i| named(i)).is_empty());
        // The next one does, with the same cookie: no second "appeared".
        let dumped = [listener("127.0.0.1:9000", 5, 300)];
        assert!(tracker.observe_dump(&dumped, &all, 300, &mut |i| named(i)).is_empty());
        let closed = tracker.listen_closed(None, 5, 400).unwrap();
        assert_eq!((closed.change, closed.inode), (ListenerChange::Disappeared, 300));
    }

    #[test]
    fn a_listener_held_by_several_processes_names_no_server_until_one_is_left() {
        let mut tracker = ListenerTracker::default();
        let all = |_: Option<u64>| true;
        let address: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        // A SO_REUSEPORT group: two sockets, one process each.
        let group = [listener("127.0.0.1:8080", 1, 100), listener("127.0.0.1:8080", 2, 200)];
        tracker.observe_dump(&group, &all, 10, &mut |inodes| named(inodes));
        assert!(tracker.serves(None, address));
        assert_eq!(tracker.owner(None, address), None, "either may accept");
        // The process holding socket 100 exits; a scan finds that its
        // socket passed to pid 200 (the group's other member).
        assert_eq!(tracker.held_by(&[100].into()), vec![100]);
        assert!(tracker.held_by(&[300].into()).is_empty());
        let one = ProcessIdentity { pid: 200, ..ProcessIdentity::default() };
        tracker.update_owners([(100, vec![one])].into());
        assert_eq!(tracker.owner(None, address).unwrap().pid, 200);
        // A scan that names nobody (the socket closed with its process)
        // leaves the owners as they were.
        tracker.update_owners(OwnersByInode::new());
        assert_eq!(tracker.owner(None, address).unwrap().pid, 200);
    }

    #[test]
    fn a_port_a_bound_socket_left_is_weaker_evidence_than_a_listener() {
        let mut tracker = ListenerTracker::default();
        let all = |_: Option<u64>| true;
        let client_port: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let server_port: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        // A refused client's socket, destroyed with no peer.
        tracker.socket_unbound(None, client_port, 5);
        assert_eq!(tracker.certainty(None, client_port), Some(Certainty::Unbound));
        let dumped = [listener("127.0.0.1:8080", 1, 100)];
        tracker.observe_dump(&dumped, &all, 10, &mut |inodes| named(inodes));
        assert_eq!(tracker.certainty(None, server_port), Some(Certainty::Listening));
        tracker.observe_dump(&[], &all, 20, &mut |inodes| named(inodes));
        assert_eq!(tracker.certainty(None, server_port), Some(Certainty::Closed));
        assert_eq!(tracker.certainty(None, "127.0.0.1:9".parse().unwrap()), None);
    }
}
