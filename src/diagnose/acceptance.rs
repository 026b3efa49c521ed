//! Did a process take our connection? The kernel completes a TCP handshake
//! for a listener on its own and parks the connection in the accept queue,
//! so `connect()` succeeds for a server that never calls `accept()`, one
//! that is stopped (SIGSTOP, a debugger) or one whose accept loop is hung.
//! `wait` uses this to tell such a listener from a server.
//!
//! The server's end of a queued connection is a full socket already
//! (ESTABLISHED in `ss`), but it has no file yet: its inode is 0 until
//! `accept()` gives it a descriptor. [`judge`] reads that from the server's
//! socket, found by our connection's 4-tuple in a single-port inventory
//! ([`server_end`]); the judgement is a pure function tested on data.
//!
//! A Unix stream listener does the same: `connect()` creates the server's
//! end at once and parks it on the listener's queue. That end has no
//! socket (and no inode) until `accept()` grafts one on, so our own socket,
//! found by its inode in a `unix_diag` dump ([`unix_client_end`]), names
//! peer inode 0 while queued and the server's inode once accepted
//! ([`judge_unix`]). After the server closes its end the peer reads 0
//! again; the caller tells that from a queue by the EOF it reads.
//!
//! # Platform specific behavior
//! Linux gives a socket its inode in `sock_alloc_file()`, called by
//! `accept()`; `inet_diag` and `/proc/net/tcp` report 0 before that. For
//! Unix sockets `UNIX_DIAG_PEER` is `sock_i_ino()` of the peer, 0 while the
//! peer has no `struct socket` (checked on Linux 6.18 with `ss -x`).
//! See: <https://elixir.bootlin.com/linux/v6.6/source/net/socket.c>,
//! <https://elixir.bootlin.com/linux/v6.6/source/net/unix/diag.c>

use std::net::SocketAddr;

use crate::inventory::system::System;
use crate::inventory::Query;
use crate::model::{PortSet, Protocol, Socket, SocketState};

/// Where our connection stands on the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// A process holds the server's end (`accept()` returned it).
    Accepted,
    /// The server's end still waits in the accept queue.
    Queued,
    /// The server's end is closing: it was accepted and closed already.
    Closed,
    /// The server's end is a request socket of a `TCP_DEFER_ACCEPT`
    /// listener: it is queued only once data arrives, which `wait` never
    /// sends, so only the listener's holders can say whether anyone would
    /// take it ([`holders_stopped`]).
    Deferred,
    /// The server's end could not be seen (no inventory, another
    /// namespace): nothing is known, so nothing is held against it.
    Unknown,
}

/// The server's end of the connection from `client` to `server`, from a
/// single-port TCP inventory without owners (one netlink dump).
pub fn server_end(system: &dyn System, client: SocketAddr, server: SocketAddr) -> Option<Socket> {
    let query = Query {
        udp: false,
        unix: false,
        listeners_only: false,
        ports: Some(PortSet::single(server.port())),
        match_remote_port: false,
        owners: false,
        ..Query::default()
    };
    let snapshot = system.snapshot(&query).ok()?;
    let (client, server) = (canonical(client), canonical(server));
    snapshot.sockets.into_iter().find(|socket| {
        socket.protocol == Protocol::Tcp
            && socket.local.map(canonical) == Some(server)
            && socket.remote.map(canonical) == Some(client)
    })
}

/// Our own end of a Unix stream connection (the socket with `inode`), by
/// one lookup of that inode: the wait looks every 20 ms, and a dump of the
/// namespace's Unix sockets each time would cost in proportion to all of
/// them (thousands on a desktop) for the one it needs.
pub fn unix_client_end(system: &dyn System, inode: u64) -> Option<Socket> {
    system.unix_socket(inode)
}

/// Judges our end of a Unix stream connection (see the module docs): a
/// connected end whose peer has an inode was accepted; one whose peer has
/// none is queued (or its server end is gone, which the caller reads as an
/// EOF).
pub fn judge_unix(client_end: Option<&Socket>) -> Acceptance {
    match client_end {
        Some(socket) if socket.state == SocketState::Established => match socket.peer_inode {
            Some(_) => Acceptance::Accepted,
            None => Acceptance::Queued,
        },
        // Not found (another namespace), or a state a connected stream
        // socket does not have: nothing is known.
        _ => Acceptance::Unknown,
    }
}

/// The listener bound to `path` and who holds it (`name (pid N)` each):
/// how many connections wait in its queue (`rx_queue`,
/// `UDIAG_SHOW_RQLEN`) and its backlog (`tx_queue`), to say who does not
/// accept them.
///
/// Listeners only, and owners looked for only for the one on `path`: a
/// `/proc` scan for every listener's holders would name many processes to
/// keep one.
pub fn unix_listener(system: &dyn System, path: &std::path::Path) -> Option<(Socket, Vec<String>)> {
    let query = Query { tcp: false, udp: false, unix: true, owners: false, ..Query::default() };
    let snapshot = system.snapshot(&query).ok()?;
    let path = path.to_string_lossy();
    let mut listener = snapshot.sockets.into_iter().find(|socket| {
        socket.state == SocketState::Listen && socket.path.as_deref() == Some(path.as_ref())
    })?;
    if listener.owners.is_empty() && listener.inode != 0 {
        listener.owners =
            system.socket_owners(&[listener.inode], None).owners.pids(listener.inode).collect();
    }
    let holders = listener
        .owners
        .iter()
        .map(|pid| match system.process(*pid) {
            Some(process) => format!("{} (pid {pid})", process.shown_name()),
            None => format!("pid {pid}"),
        })
        .collect();
    Some((listener, holders))
}

/// Judges the server's end of our connection (see the module docs).
pub fn judge(server_end: Option<&Socket>) -> Acceptance {
    match server_end {
        None => Acceptance::Unknown,
        Some(socket) => match socket.state {
            // Our end is still open, so a live server end is ESTABLISHED;
            // CLOSE-WAIT would mean we closed, and is read the same way.
            SocketState::Established | SocketState::CloseWait if socket.inode != 0 => {
                Acceptance::Accepted
            }
            SocketState::Established | SocketState::CloseWait => Acceptance::Queued,
            // A request socket: a listener with TCP_DEFER_ACCEPT (nginx
            // `deferred`) queues a connection only once data arrives, and
            // `wait` sends none.
            SocketState::SynRecv => Acceptance::Deferred,
            // The server closed its end.
            SocketState::FinWait1
            | SocketState::FinWait2
            | SocketState::Closing
            | SocketState::LastAck
            | SocketState::TimeWait
            | SocketState::Close => Acceptance::Closed,
            // A state this build does not know: hold nothing against it.
            _ => Acceptance::Unknown,
        },
    }
}

/// Whether every process holding a TCP listener that serves `server` is
/// stopped (`T`) or traced (`t`): the kernel still completes handshakes for
/// it, and a `TCP_DEFER_ACCEPT` listener's connection looks the same
/// whether a process would accept it or not. `false` when no holder is
/// known (nothing is held against a listener porthole cannot see).
pub fn holders_stopped(system: &dyn System, server: SocketAddr) -> bool {
    let query = Query {
        udp: false,
        unix: false,
        listeners_only: true,
        ports: Some(PortSet::single(server.port())),
        ..Query::default()
    };
    let Ok(snapshot) = system.snapshot(&query) else { return false };
    let server = canonical(server);
    let holders: Vec<u32> = snapshot
        .sockets
        .iter()
        .filter(|socket| socket.protocol == Protocol::Tcp && socket.serves(server))
        .flat_map(|socket| socket.owners.iter().copied())
        .collect();
    !holders.is_empty()
        && holders.iter().all(|pid| {
            snapshot
                .processes
                .get(pid)
                .map(|process| process.is_stopped())
                .or_else(|| system.process(*pid).map(|process| process.is_stopped()))
                .unwrap_or(false)
        })
}

/// The TCP listeners a connection to `address` can land on: those bound to
/// the address itself (a `SO_REUSEPORT` group), else the wildcards serving
/// it.
pub fn listener_group(sockets: &[Socket], address: SocketAddr) -> Vec<&Socket> {
    let serving: Vec<&Socket> = sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.is_listener() && s.serves(address))
        .collect();
    let exact: Vec<&Socket> =
        serving.iter().copied().filter(|s| s.local.map(|l| l.ip()) == Some(address.ip())).collect();
    if exact.is_empty() {
        serving
    } else {
        exact
    }
}

/// Connections per member of a `SO_REUSEPORT` group that [`stalled_members`]
/// spreads over it: the kernel picks a member by a hash of each connection's
/// ports, so one member misses all of them with a chance of about e^-8.
const SPREAD_PER_MEMBER: usize = 8;

/// At most this many connections are spread over a group.
const SPREAD_MAX: usize = 32;

/// The members of the `SO_REUSEPORT` group of `members` listeners on
/// `address` that leave connections in their accept queue: a few bare
/// connections are opened and closed (so each member gets some), and the
/// group's queues are read until they are empty or [`super::readiness::ACCEPT_GRACE`]
/// runs out. Each member that still queues some is returned as (inode,
/// connections queued). A probe that happened to reach a working member
/// says nothing about the others; this does.
pub fn stalled_members(
    system: &dyn System,
    address: SocketAddr,
    members: usize,
    timeout: std::time::Duration,
) -> Vec<(u64, u32)> {
    use super::probe::{self, ProbeAddress};
    let count = (members * SPREAD_PER_MEMBER).min(SPREAD_MAX);
    // Each is closed at once: a closed connection stays in the queue until
    // a process accepts it, and a server that handles one connection at a
    // time reads its end-of-file instead of waiting for a request.
    let connected = (0..count)
        .filter(|_| probe::connect(&ProbeAddress::Ip(address), timeout).stream.is_some())
        .count();
    if connected == 0 {
        return Vec::new();
    }
    let query = Query {
        udp: false,
        unix: false,
        owners: false,
        ports: Some(PortSet::single(address.port())),
        ..Query::default()
    };
    let started = std::time::Instant::now();
    loop {
        let Ok(snapshot) = system.snapshot(&query) else { return Vec::new() };
        let queued: Vec<(u64, u32)> = listener_group(&snapshot.sockets, address)
            .into_iter()
            .filter(|listener| listener.rx_queue > 0)
            .map(|listener| (listener.inode, listener.rx_queue))
            .collect();
        if queued.is_empty() || started.elapsed() >= super::readiness::ACCEPT_GRACE {
            return queued;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A dual-stack listener's end of an IPv4 connection is an IPv6 socket
/// with mapped addresses (`::ffff:127.0.0.1`): compare as IPv4.
fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    fn end(state: SocketState, inode: u64, local: &str, remote: &str) -> Socket {
        Socket {
            protocol: Protocol::Tcp,
            family: Family::Ipv6,
            local: Some(local.parse().unwrap()),
            remote: Some(remote.parse().unwrap()),
            path: None,
            unix_kind: None,
            peer_inode: None,
            bound_file: None,
            state,
            inode,
            uid: 0,
            cookie: 1,
            rx_queue: 0,
            tx_queue: 0,
            interface: 0,
            interface_name: None,
            v6only: None,
            net_namespace: None,
            ip_protocol: None,
            owners: Vec::new(),
        }
    }

    #[test]
    fn an_inode_means_a_process_took_it() {
        let (local, remote) = ("127.0.0.1:8080", "127.0.0.1:50000");
        let accepted = end(SocketState::Established, 4242, local, remote);
        assert_eq!(judge(Some(&accepted)), Acceptance::Accepted);
        let queued = end(SocketState::Established, 0, local, remote);
        assert_eq!(judge(Some(&queued)), Acceptance::Queued);
        let we_closed = end(SocketState::CloseWait, 0, local, remote);
        assert_eq!(judge(Some(&we_closed)), Acceptance::Queued);
        let they_closed = end(SocketState::FinWait2, 0, local, remote);
        assert_eq!(judge(Some(&they_closed)), Acceptance::Closed);
        assert_eq!(judge(None), Acceptance::Unknown);
        let deferred = end(SocketState::SynRecv, 0, local, remote);
        assert_eq!(judge(Some(&deferred)), Acceptance::Deferred);
    }

    fn unix_end(state: SocketState, peer_inode: Option<u64>) -> Socket {
        Socket { peer_inode, ..Socket::unix(None, None, state) }
    }

    #[test]
    fn a_unix_peer_with_an_inode_was_accepted() {
        let accepted = unix_end(SocketState::Established, Some(4242));
        assert_eq!(judge_unix(Some(&accepted)), Acceptance::Accepted);
        let queued = unix_end(SocketState::Established, None);
        assert_eq!(judge_unix(Some(&queued)), Acceptance::Queued);
        assert_eq!(judge_unix(None), Acceptance::Unknown);
        let odd = unix_end(SocketState::Close, None);
        assert_eq!(judge_unix(Some(&odd)), Acceptance::Unknown);
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.1:8080".parse().unwrap());
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }
}
