//! The port report behind `porthole PORT`: which sockets of a snapshot
//! listen on the port, which are its clients (paired with their other end
//! when both are on this machine), which are outbound connections to it,
//! and whether different processes split it between addresses.
//!
//! Pure reasoning over a [`Snapshot`] the caller took (with
//! [`Query::for_port`](super::Query::for_port)), so it is tested on
//! constructed sockets; the command only resolves settings and renders.
//! The one exception, [`attach_peer_servers`], takes a second, LISTEN-only
//! look for the servers of connections that have closed or whose own
//! listener is gone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::Query;
use crate::model::{
    Connection, ListenerKey, PortMeaning, PortReport, PortSet, Protocol, Scope, Snapshot, Socket,
    SocketState, TimeWaitEnd,
};

/// Resolves a host name the way clients do (getaddrinfo, all results in
/// order, duplicates removed).
pub fn resolve(name: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in (name, port).to_socket_addrs()? {
        if !addresses.contains(&address.ip()) {
            addresses.push(address.ip());
        }
    }
    Ok(addresses)
}

/// Whether `socket` is a connection whose destination is a listener of
/// this machine (same protocol and namespace) though no server end pairs
/// with it: a connected UDP socket (the server's socket stays unconnected),
/// or a TCP connect still in SYN-SENT because the listener's accept queue is
/// full (the kernel drops its SYN). The destination is a loopback address a
/// listener serves, or the very address a listener is bound to; a wildcard
/// listener does not make every destination local.
fn client_of_local_listener(socket: &Socket, listeners: &[Socket]) -> bool {
    let Some(remote) = socket.remote else { return false };
    let unpaired = match socket.protocol {
        Protocol::Udp => true,
        // An established TCP connection has a server end here, or its
        // server is elsewhere.
        Protocol::Tcp => socket.state == SocketState::SynSent,
        Protocol::Unix | Protocol::Raw => false,
    };
    unpaired
        && listeners
            .iter()
            .any(|listener| listener.listens_for(socket.protocol, socket.net_namespace, remote))
}

/// Whether a connection to `ip` can arrive where `listener` listens: one
/// bound to a device (`SO_BINDTODEVICE`) only sees packets arriving on it,
/// and a connection to a loopback address arrives on `lo`.
fn reaches(listener: &Socket, ip: IpAddr) -> bool {
    !crate::model::is_loopback(ip)
        || listener.interface == 0
        || listener.interface == crate::model::LOOPBACK_INTERFACE
}

/// `address` with a v4-mapped IPv6 address written as the IPv4 address
/// it stands for.
fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// Whether `name` is `localhost` or a name under it (`app.localhost`),
/// which RFC 6761 reserves for the loopback addresses.
/// See: <https://www.rfc-editor.org/rfc/rfc6761#section-6.3>
pub fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The loopback addresses `localhost` stands for.
pub fn loopback_addresses() -> Vec<IpAddr> {
    vec![IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)]
}

/// Classifies the sockets of one port into listeners, clients and local
/// ends. `addresses` are what the host part resolved to (empty for a bare
/// port); `zone` the interface index of a scoped address
/// (`[fe80::1%eth0]`), whose listeners bound to another interface do not
/// serve it; `meaning` is what the number means on this machine.
pub fn build(
    endpoint: String,
    port: u16,
    addresses: Vec<IpAddr>,
    zone: Option<u32>,
    snapshot: Snapshot,
    meaning: PortMeaning,
) -> PortReport {
    let sockets = &snapshot.sockets;
    let listeners: Vec<Socket> =
        sockets.iter().filter(|s| s.is_listener() && s.local_port() == port).cloned().collect();
    let serving: Vec<Socket> = if addresses.is_empty() {
        listeners.clone()
    } else {
        listeners
            .iter()
            .filter(|l| {
                addresses.iter().any(|ip| l.serves(SocketAddr::new(*ip, port)) && reaches(l, *ip))
            })
            // A socket bound to a link-local address with a zone is bound
            // to that interface (`sk_bound_dev_if`), as is one bound with
            // `SO_BINDTODEVICE`.
            .filter(|l| zone.is_none_or(|zone| l.interface == 0 || l.interface == zone))
            .cloned()
            .collect()
    };
    // Index every socket by its (local, remote) pair so each end of a
    // loopback connection finds the other by the swapped tuple.
    // With `--netns all` the same tuple can exist in several namespaces
    // (each has its own loopback): the namespace is part of every key.
    // An IPv6 socket's end of a connection to an IPv4 address is written
    // v4-mapped (`::ffff:127.0.0.1`), the IPv4 server's end plainly: the
    // keys compare them as the IPv4 they are.
    let mut by_tuple: HashMap<(SocketAddr, SocketAddr, Protocol, Option<u64>), &Socket> =
        HashMap::new();
    for socket in sockets {
        if let (Some(local), Some(remote)) = (socket.local, socket.remote) {
            let key = (canonical(local), canonical(remote), socket.protocol, socket.net_namespace);
            by_tuple.insert(key, socket);
        }
    }
    // With `--netns all`, a connection between two namespaces of this
    // machine (through a veth, a bridge) has both ends here, each in its
    // own namespace. Loopback never crosses namespaces, and two isolated
    // namespaces may reuse one address plan: only a single end with the
    // swapped tuple elsewhere is taken as the other end.
    let mut across: HashMap<(SocketAddr, SocketAddr, Protocol), Vec<&Socket>> = HashMap::new();
    for socket in sockets {
        if let (Some(local), Some(remote)) = (socket.local, socket.remote) {
            if !crate::model::is_loopback(local.ip()) && !remote.ip().is_unspecified() {
                let key = (canonical(local), canonical(remote), socket.protocol);
                across.entry(key).or_default().push(socket);
            }
        }
    }
    // The one end in another namespace with the swapped tuple, if exactly
    // one has it.
    let single_across = |socket: &Socket| -> Option<&Socket> {
        let (local, remote) = (canonical(socket.local?), canonical(socket.remote?));
        let mut elsewhere = across
            .get(&(remote, local, socket.protocol))?
            .iter()
            .filter(|peer| peer.net_namespace != socket.net_namespace);
        match (elsewhere.next(), elsewhere.next()) {
            (Some(peer), None) => Some(*peer),
            _ => None,
        }
    };
    let peer_of = |socket: &Socket| -> Option<Socket> {
        // A socket connected to itself has no other end: its swapped tuple
        // is its own.
        if socket.connected_to_itself() {
            return None;
        }
        let (local, remote) = (canonical(socket.local?), canonical(socket.remote?));
        if let Some(peer) = by_tuple.get(&(remote, local, socket.protocol, socket.net_namespace)) {
            return Some((*peer).clone());
        }
        // Each end must be the other's only candidate.
        let peer = single_across(socket)?;
        (single_across(peer).map(|back| back.net_namespace) == Some(socket.net_namespace))
            .then(|| peer.clone())
    };
    let is_connection =
        |s: &Socket| !s.is_listener() && s.state != SocketState::TimeWait && s.remote_port() != 0;
    let listening_protocols: Vec<(Protocol, Option<u64>)> =
        listeners.iter().map(|l| (l.protocol, l.net_namespace)).collect();

    let mut clients = Vec::new();
    let mut local_ends = Vec::new();
    let mut outbound = Vec::new();
    for socket in sockets.iter().filter(|s| is_connection(s)) {
        if socket.local_port() == port {
            let connection = Connection { near: Some(socket.clone()), far: peer_of(socket) };
            if listening_protocols.contains(&(socket.protocol, socket.net_namespace)) {
                clients.push(connection);
            } else {
                local_ends.push(connection);
            }
        } else if socket.remote_port() == port && peer_of(socket).is_none() {
            if client_of_local_listener(socket, &listeners) {
                // A client of a listener here that no server end pairs
                // with (connected UDP, or TCP waiting on a full queue).
                clients.push(Connection { near: None, far: Some(socket.clone()) });
            } else {
                // The other end is not on this machine (or not in this
                // namespace).
                outbound.push(socket.clone());
            }
        }
    }
    let time_wait_ends: Vec<TimeWaitEnd> = sockets
        .iter()
        .filter(|s| s.state == SocketState::TimeWait && (s.local_port() == port))
        .map(|socket| TimeWaitEnd { socket: socket.clone(), servers: Vec::new() })
        .collect();
    let bound: Vec<Socket> = sockets
        .iter()
        .filter(|s| {
            s.protocol == Protocol::Tcp && s.state == SocketState::Close && s.local_port() == port
        })
        .cloned()
        .collect();
    // Owners per (protocol, local address): a SO_REUSEPORT group on one
    // address is one healthy service, not a split.
    let split_listeners = {
        let mut groups: Vec<(ListenerKey, Vec<u32>)> = Vec::new();
        for listener in listeners.iter().filter(|l| !l.owners.is_empty()) {
            let Some(key) = listener.listener_key() else { continue };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, owners)) => owners.extend(listener.owners.iter().copied()),
                None => groups.push((key, listener.owners.clone())),
            }
        }
        // Clients choose between addresses of one namespace only.
        let mut namespaces: Vec<Option<u64>> =
            groups.iter().map(|((_, _, ns, _), _)| *ns).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        namespaces.into_iter().any(|namespace| {
            let groups: Vec<&Vec<u32>> = groups
                .iter()
                .filter(|((_, _, ns, _), _)| *ns == namespace)
                .map(|(_, o)| o)
                .collect();
            groups.len() > 1
                && groups.iter().enumerate().all(|(i, a)| {
                    groups.iter().skip(i + 1).all(|b| a.iter().all(|pid| !b.contains(pid)))
                })
        })
    };
    let unexpected_owners = unexpected_owners(port, &listeners, &snapshot.processes);
    PortReport {
        endpoint,
        port,
        addresses,
        listeners,
        serving,
        split_listeners,
        clients,
        local_ends,
        outbound,
        time_wait: time_wait_ends.len(),
        time_wait_ends,
        bound,
        local_end_servers: Vec::new(),
        bind_check: None,
        elsewhere: Vec::new(),
        meaning,
        namespace_meanings: Vec::new(),
        unexpected_owners,
        processes: snapshot.processes,
        visibility: snapshot.visibility,
        namespaces: snapshot.namespaces,
        unassigned: Vec::new(),
        only_loopback_addresses: false,
        name_unresolved: false,
        unspecified: false,
    }
}

/// The remote ports of the report's TIME-WAIT connections and local ends,
/// ascending, each once (the asked port itself excepted: its listeners are
/// in the report already).
fn peer_ports(report: &PortReport) -> Vec<u16> {
    let local_ends = report.local_ends.iter().filter_map(|end| end.near.as_ref());
    let mut ports: Vec<u16> = report
        .time_wait_ends
        .iter()
        .map(|end| &end.socket)
        .chain(local_ends)
        .map(Socket::remote_port)
        .filter(|&remote| remote != 0 && remote != report.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Names the servers of this machine the report's connections without a
/// listener on the port talk to: those of the TIME-WAIT connections
/// ([`TimeWaitEnd::servers`]), which no process holds any more, and those
/// of the local ends ([`PortReport::local_end_servers`]), which tell a
/// client's end from a server's end whose listener is gone. One
/// LISTEN-only dump (no walk of the established hash) per remote port, in
/// the namespaces `base` selects; a dump that fails leaves those
/// connections without servers.
pub fn attach_peer_servers(report: &mut PortReport, base: &Query) {
    for remote_port in peer_ports(report) {
        let query = Query {
            listeners_only: true,
            match_remote_port: false,
            ports: Some(PortSet::single(remote_port)),
            ..base.clone()
        };
        let Ok(snapshot) = super::snapshot(&query) else { continue };
        let serving = |socket: &Socket| -> Vec<Socket> {
            let Some(remote) = socket.remote.filter(|r| r.port() == remote_port) else {
                return Vec::new();
            };
            snapshot
                .sockets
                .iter()
                .filter(|listener| {
                    listener.listens_for(socket.protocol, socket.net_namespace, remote)
                })
                .cloned()
                .collect()
        };
        for end in &mut report.time_wait_ends {
            end.servers.extend(serving(&end.socket));
        }
        let servers: Vec<Socket> = report
            .local_ends
            .iter()
            .filter_map(|end| end.near.as_ref())
            .flat_map(serving)
            .collect();
        for server in servers {
            if !report.local_end_servers.contains(&server) {
                report.local_end_servers.push(server);
            }
        }
        for (pid, process) in snapshot.processes {
            report.processes.entry(pid).or_insert(process);
        }
    }
}

/// The owners of `listeners` that are not the service clients expect on
/// `port` (see [`crate::portinfo::serves_expected`]); `None` when every
/// visible owner is, or the port has no expected service.
fn unexpected_owners(
    port: u16,
    listeners: &[Socket],
    processes: &std::collections::BTreeMap<u32, crate::model::Process>,
) -> Option<crate::model::UnexpectedOwners> {
    let (service, expected) = crate::portinfo::expected_programs(port)?;
    let mut pids: Vec<u32> = listeners
        .iter()
        .flat_map(|listener| &listener.owners)
        .filter(|pid| {
            processes
                .get(pid)
                .is_some_and(|process| !crate::portinfo::serves_expected(port, process))
        })
        .copied()
        .collect();
    pids.sort_unstable();
    pids.dedup();
    (!pids.is_empty()).then(|| crate::model::UnexpectedOwners {
        service: service.to_string(),
        expected: expected.iter().map(|p| p.to_string()).collect(),
        pids,
    })
}

/// The namespaces other than the current one that hold a row of `report`
/// (a listener, a bound socket, a local end, a client's server end, an
/// outbound connection), ascending, each once: with `--netns all` the
/// number means what each of those namespaces' own sysctls say.
pub fn other_namespaces_with_rows(report: &PortReport) -> Vec<u64> {
    let current: Vec<u64> =
        report.namespaces.iter().filter(|n| n.is_current).map(|n| n.inode).collect();
    let ends = report.clients.iter().chain(&report.local_ends).filter_map(|c| c.near.as_ref());
    let mut inodes: Vec<u64> = report
        .listeners
        .iter()
        .chain(&report.bound)
        .chain(&report.outbound)
        .chain(ends)
        .filter_map(|socket| socket.net_namespace)
        .filter(|inode| !current.contains(inode))
        .collect();
    inodes.sort_unstable();
    inodes.dedup();
    inodes
}

/// The specific addresses `listeners` are bound to that are none of
/// `assigned` (every address of the interfaces of their namespace): a
/// socket bound with `IP_FREEBIND` or under `ip_nonlocal_bind` listens on
/// an address no packet is delivered to until an interface gets it.
/// Loopback and wildcard binds always have their address.
pub fn unassigned_addresses(listeners: &[Socket], assigned: &[IpAddr]) -> Vec<IpAddr> {
    let mut unassigned: Vec<IpAddr> = Vec::new();
    for listener in listeners.iter().filter(|l| l.scope() == Scope::Specific) {
        let Some(local) = listener.local else { continue };
        let ip = local.ip().to_canonical();
        if !assigned.iter().any(|a| a.to_canonical() == ip) && !unassigned.contains(&ip) {
            unassigned.push(ip);
        }
    }
    unassigned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(port: u16) -> PortMeaning {
        crate::portinfo::describe_on(&crate::inventory::system::fake::Scripted::default(), port)
    }

    fn listener(address: &str, owner: u32) -> Socket {
        Socket {
            inode: u64::from(owner),
            owners: vec![owner],
            ..Socket::listening(Protocol::Tcp, address.parse().unwrap())
        }
    }

    fn tcp(local: &str, remote: &str, state: SocketState, owner: Option<u32>) -> Socket {
        Socket {
            owners: owner.into_iter().collect(),
            ..Socket::ip(Protocol::Tcp, local.parse().unwrap(), remote.parse().unwrap(), state)
        }
    }

    fn report(sockets: Vec<Socket>, addresses: Vec<IpAddr>) -> PortReport {
        let snapshot = Snapshot { sockets, ..Snapshot::default() };
        build("8080".into(), 8080, addresses, None, snapshot, meaning(8080))
    }

    #[test]
    fn loopback_clients_are_paired_with_their_other_end() {
        let server_end = tcp("127.0.0.1:8080", "127.0.0.1:40000", SocketState::Established, None);
        let client_end =
            tcp("127.0.0.1:40000", "127.0.0.1:8080", SocketState::Established, Some(7));
        let remote = tcp("10.0.0.1:50000", "10.9.9.9:8080", SocketState::Established, Some(8));
        let report = report(
            vec![listener("127.0.0.1:8080", 5), server_end.clone(), client_end.clone(), remote],
            Vec::new(),
        );
        assert!(report.is_held());
        assert_eq!(report.listeners.len(), 1);
        assert_eq!(report.serving, report.listeners, "a bare port is served by every listener");
        assert_eq!(
            report.clients,
            vec![Connection { near: Some(server_end), far: Some(client_end) }]
        );
        assert!(report.local_ends.is_empty());
        // The client end's remote port is 8080 but its peer is here: not
        // outbound. The connection to 10.9.9.9 is.
        assert_eq!(report.outbound.len(), 1);
        assert_eq!(report.outbound[0].owners, vec![8]);
        assert!(!report.split_listeners);
    }

    #[test]
    fn a_v4_mapped_client_end_pairs_with_the_ipv4_server_end() {
        // A client's IPv6 socket connected to 127.0.0.1 (Java, Node's
        // dual-stack sockets) writes both addresses v4-mapped.
        let server_end = tcp("127.0.0.1:8080", "127.0.0.1:40000", SocketState::Established, None);
        let client_end = tcp(
            "[::ffff:127.0.0.1]:40000",
            "[::ffff:127.0.0.1]:8080",
            SocketState::Established,
            Some(7),
        );
        let report = report(
            vec![listener("127.0.0.1:8080", 5), server_end.clone(), client_end.clone()],
            vec!["::ffff:127.0.0.1".parse().unwrap()],
        );
        assert_eq!(report.serving.len(), 1, "the IPv4 listener serves the mapped address");
        assert_eq!(
            report.clients,
            vec![Connection { near: Some(server_end), far: Some(client_end) }]
        );
        assert!(report.outbound.is_empty(), "{:?}", report.outbound);
    }

    #[test]
    fn namespaces_are_kept_apart() {
        // `--netns all`: the same loopback tuples in two namespaces. The
        // client in namespace 2 talks to the listener there, not to the
        // one in namespace 1, and two namespaces are no split.
        let in_namespace =
            |socket: Socket, namespace: u64| Socket { net_namespace: Some(namespace), ..socket };
        let server_one = in_namespace(listener("127.0.0.1:8080", 5), 1);
        let server_two = in_namespace(listener("127.0.0.1:8080", 6), 2);
        let server_end = in_namespace(
            tcp("127.0.0.1:8080", "127.0.0.1:40000", SocketState::Established, Some(6)),
            2,
        );
        let client_end = in_namespace(
            tcp("127.0.0.1:40000", "127.0.0.1:8080", SocketState::Established, Some(7)),
            2,
        );
        // An end in namespace 1 with the same tuple but no peer there.
        let stray = in_namespace(
            tcp("127.0.0.1:40000", "127.0.0.1:8080", SocketState::Established, Some(8)),
            1,
        );
        let report = report(
            vec![server_one, server_two, server_end.clone(), client_end.clone(), stray.clone()],
            Vec::new(),
        );
        assert_eq!(report.listeners.len(), 2);
        assert_eq!(
            report.clients,
            vec![Connection { near: Some(server_end), far: Some(client_end) }]
        );
        assert_eq!(report.outbound, vec![stray], "its server is in namespace 2, not here");
        assert!(!report.split_listeners, "each namespace has one listener");
    }

    #[test]
    fn a_connection_between_two_namespaces_has_both_ends_here() {
        let in_namespace =
            |socket: Socket, namespace: u64| Socket { net_namespace: Some(namespace), ..socket };
        let server = in_namespace(listener("0.0.0.0:8080", 5), 1);
        let server_end = in_namespace(
            tcp("10.0.0.1:8080", "10.0.0.2:40000", SocketState::Established, Some(5)),
            1,
        );
        let client_end = in_namespace(
            tcp("10.0.0.2:40000", "10.0.0.1:8080", SocketState::Established, Some(7)),
            2,
        );
        let report =
            report(vec![server.clone(), server_end.clone(), client_end.clone()], Vec::new());
        assert_eq!(
            report.clients,
            vec![Connection { near: Some(server_end.clone()), far: Some(client_end.clone()) }]
        );
        assert!(report.outbound.is_empty(), "{:?}", report.outbound);
        // Two namespaces with the same tuple: which one is the client is
        // not known, and neither is claimed.
        let twin = Socket { net_namespace: Some(3), ..client_end.clone() };
        let report = self::report(vec![server, server_end.clone(), client_end, twin], Vec::new());
        assert_eq!(report.clients, vec![Connection { near: Some(server_end), far: None }]);
        assert_eq!(report.outbound.len(), 2);
    }

    #[test]
    fn without_a_listener_a_local_port_is_a_local_end() {
        let end = tcp("127.0.0.1:8080", "127.0.0.1:5432", SocketState::Established, Some(9));
        let time_wait = tcp("127.0.0.1:8080", "127.0.0.1:5433", SocketState::TimeWait, None);
        let report = report(vec![end.clone(), time_wait], Vec::new());
        assert!(report.is_held());
        assert!(report.clients.is_empty());
        assert_eq!(report.local_ends, vec![Connection { near: Some(end), far: None }]);
        assert_eq!(report.time_wait, 1);
    }

    #[test]
    fn an_orphaned_closing_end_alone_does_not_hold_the_port() {
        // No inode: its process closed it; the kernel finishes the close.
        let orphan = tcp("127.0.0.1:8080", "127.0.0.1:5432", SocketState::FinWait2, None);
        let report = report(vec![orphan.clone()], Vec::new());
        assert_eq!(report.local_ends.len(), 1);
        assert!(!report.is_held(), "as TIME-WAIT does not");
        // A process that half-closed it (shutdown) still holds it.
        let owned = Socket { inode: 77, ..orphan };
        assert!(self::report(vec![owned], Vec::new()).is_held());
    }

    #[test]
    fn bound_sockets_and_time_wait_alone() {
        let bound = tcp("0.0.0.0:8080", "0.0.0.0:0", SocketState::Close, Some(3));
        let time_wait = tcp("127.0.0.1:8080", "127.0.0.1:5433", SocketState::TimeWait, None);
        let report = report(vec![bound], Vec::new());
        assert!(report.is_held(), "a bound socket blocks a bind");
        assert_eq!(report.bound.len(), 1);
        let report = self::report(vec![time_wait], Vec::new());
        assert!(!report.is_held(), "TIME-WAIT alone does not hold the port");
        assert_eq!(report.time_wait, 1);
    }

    #[test]
    fn a_host_keeps_only_the_listeners_that_serve_it() {
        let loopback = listener("127.0.0.1:8080", 5);
        let v6 = Socket { v6only: Some(true), ..listener("[::1]:8080", 6) };
        let report = report(vec![loopback.clone(), v6], vec!["127.0.0.1".parse().unwrap()]);
        assert_eq!(report.listeners.len(), 2);
        assert_eq!(report.serving, vec![loopback]);
        // Two processes on two addresses: a split port.
        assert!(report.split_listeners);
    }

    #[test]
    fn a_listener_on_an_address_no_interface_has_is_not_exposed() {
        let freebind = listener("192.0.2.77:8080", 5);
        let lan = listener("10.0.0.5:8080", 6);
        let wildcard = listener("0.0.0.0:8080", 7);
        let assigned: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap()];
        let sockets = [freebind.clone(), lan.clone(), wildcard];
        assert_eq!(
            unassigned_addresses(&sockets, &assigned),
            vec!["192.0.2.77".parse::<IpAddr>().unwrap()]
        );
        let mut alone = report(vec![freebind.clone()], Vec::new());
        assert!(alone.exposed(), "unknown interfaces: taken as assigned");
        alone.unassigned = unassigned_addresses(&alone.listeners, &assigned);
        assert!(!alone.exposed());
        assert!(alone.is_unassigned(&freebind));
        let mut both = report(vec![freebind, lan.clone()], Vec::new());
        both.unassigned = unassigned_addresses(&both.listeners, &assigned);
        assert!(both.exposed() && both.reachable_exposed(&lan));
    }

    #[test]
    fn a_listener_bound_to_another_device_does_not_serve_loopback() {
        let on_eth = Socket { interface: 2, ..listener("0.0.0.0:8080", 5) };
        let on_lo = Socket { interface: 1, ..listener("0.0.0.0:8080", 6) };
        let loopback = vec!["127.0.0.1".parse().unwrap()];
        let report = report(vec![on_eth.clone(), on_lo.clone()], loopback);
        assert_eq!(report.serving, vec![on_lo]);
        let lan = self::report(vec![on_eth.clone()], vec!["10.0.0.5".parse().unwrap()]);
        assert_eq!(lan.serving, vec![on_eth]);
    }

    #[test]
    fn a_reuseport_group_is_not_a_split() {
        let first = listener("127.0.0.1:8080", 5);
        let second = Socket { inode: 99, ..listener("127.0.0.1:8080", 6) };
        let report = report(vec![first, second], Vec::new());
        assert!(!report.split_listeners);
        // One process on two addresses is not a split either.
        let v4 = listener("127.0.0.1:8080", 5);
        let v6 = listener("[::1]:8080", 5);
        assert!(!self::report(vec![v4, v6], Vec::new()).split_listeners);
        // One address, two interfaces, two processes: two services.
        let on_lo = Socket { interface: 1, ..listener("0.0.0.0:8080", 5) };
        let on_eth = Socket { interface: 2, inode: 98, ..listener("0.0.0.0:8080", 6) };
        assert!(self::report(vec![on_lo, on_eth], Vec::new()).split_listeners);
    }

    #[test]
    fn a_wildcard_udp_listener_does_not_make_every_destination_local() {
        let listener = Socket::listening(Protocol::Udp, "0.0.0.0:53".parse().unwrap());
        let connected = |remote: &str| {
            Socket::ip(
                Protocol::Udp,
                "10.0.0.5:40000".parse().unwrap(),
                remote.parse().unwrap(),
                SocketState::Established,
            )
        };
        let listeners = [listener];
        assert!(client_of_local_listener(&connected("127.0.0.1:53"), &listeners));
        assert!(!client_of_local_listener(&connected("192.0.2.1:53"), &listeners));
        let specific = [Socket::listening(Protocol::Udp, "10.0.0.5:53".parse().unwrap())];
        assert!(client_of_local_listener(&connected("10.0.0.5:53"), &specific));
        // A TCP connect is a client of a TCP listener only.
        let syn_sent = Socket::ip(
            Protocol::Tcp,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:53".parse().unwrap(),
            SocketState::SynSent,
        );
        assert!(!client_of_local_listener(&syn_sent, &listeners));
        let tcp = [Socket::listening(Protocol::Tcp, "127.0.0.1:53".parse().unwrap())];
        assert!(client_of_local_listener(&syn_sent, &tcp));
    }
}
