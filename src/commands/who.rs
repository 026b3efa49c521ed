//! `porthole PORT` / `porthole HOST:PORT`: who holds a port, its clients,
//! and what the number means.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use anyhow::Context;

use crate::cli::args::WhoArgs;
use crate::cli::settings::WhoSettings;
use crate::commands::{ls::report_visibility, ExitStatus};
use crate::inventory::{self, Query};
use crate::model::{Connection, PortReport, Snapshot, Socket, SocketState};
use crate::render::port::write_report;
use crate::render::Style;
use crate::target::Host;

pub fn run(args: WhoArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = WhoSettings::resolve(args)?;
    let addresses = match &settings.endpoint.host {
        None => Vec::new(),
        Some(Host::Ip(ip)) => vec![*ip],
        // Listeners are matched by address and port; the kernel reports no
        // zone for them, so one would change nothing.
        Some(Host::Scoped { address, .. }) => anyhow::bail!(
            "'{}': a zone id does not apply here (listeners are matched by address and port): write [{address}]:{}",
            settings.endpoint,
            settings.endpoint.port
        ),
        Some(Host::Name(name)) => {
            resolve(name, settings.endpoint.port).with_context(|| format!("resolving '{name}'"))?
        }
    };
    let query = Query {
        tcp: settings.tcp,
        udp: settings.udp,
        namespaces: settings.namespaces,
        ..Query::for_port(settings.endpoint.port)
    };
    let snapshot = inventory::snapshot(&query).context("listing sockets")?;
    report_visibility(&snapshot);
    let report =
        build_report(settings.endpoint.to_string(), settings.endpoint.port, addresses, snapshot);
    write_report(out, &report, settings.format, Style::detect())?;
    if settings.format == crate::render::Format::Table {
        if let Some(history) = recorded_history(settings.endpoint.port) {
            crate::render::history::write_port_history(out, &history, Style::detect())?;
        }
    }
    Ok(if report.is_held() { ExitStatus::Success } else { ExitStatus::Failure })
}

/// The port's recorded past from the local history store (`PORTHOLE_STORE`
/// or the default file), when there is one. A missing or unreadable store
/// only means no "History" section; a PostgreSQL store is not asked, so
/// `porthole PORT` never waits on the network.
fn recorded_history(port: u16) -> Option<crate::model::history::PortHistory> {
    let configured = std::env::var("PORTHOLE_STORE").ok().filter(|s| !s.is_empty());
    let location = crate::store::StoreLocation::resolve(configured.as_deref()).ok()?;
    let crate::store::StoreLocation::Sqlite(path) = &location else {
        return None;
    };
    let mut reader = crate::store::sqlite::SqliteReader::open(path).ok()?;
    crate::store::port_history(&mut reader, port, crate::store::now_micros())
        .ok()
        .filter(|history| !history.is_empty())
}

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

/// Classifies the sockets of one port into listeners, clients and local ends.
pub fn build_report(
    endpoint: String,
    port: u16,
    addresses: Vec<IpAddr>,
    snapshot: Snapshot,
) -> PortReport {
    let sockets = &snapshot.sockets;
    let listeners: Vec<Socket> =
        sockets.iter().filter(|s| s.is_listener() && s.local_port() == port).cloned().collect();
    let serving: Vec<Socket> = if addresses.is_empty() {
        listeners.clone()
    } else {
        listeners
            .iter()
            .filter(|l| addresses.iter().any(|ip| l.serves(SocketAddr::new(*ip, port))))
            .cloned()
            .collect()
    };
    // Index every socket by its (local, remote) pair so each end of a
    // loopback connection finds the other by the swapped tuple.
    let mut by_tuple: HashMap<(SocketAddr, SocketAddr, crate::model::Protocol), &Socket> =
        HashMap::new();
    for socket in sockets {
        if let (Some(local), Some(remote)) = (socket.local, socket.remote) {
            by_tuple.insert((local, remote, socket.protocol), socket);
        }
    }
    let peer_of = |socket: &Socket| -> Option<Socket> {
        let (local, remote) = (socket.local?, socket.remote?);
        by_tuple.get(&(remote, local, socket.protocol)).map(|s| (*s).clone())
    };
    let is_connection =
        |s: &Socket| !s.is_listener() && s.state != SocketState::TimeWait && s.remote_port() != 0;
    let listening_protocols: Vec<crate::model::Protocol> =
        listeners.iter().map(|l| l.protocol).collect();

    let mut clients = Vec::new();
    let mut local_ends = Vec::new();
    let mut outbound = Vec::new();
    for socket in sockets.iter().filter(|s| is_connection(s)) {
        if socket.local_port() == port {
            let connection = Connection { near: Some(socket.clone()), far: peer_of(socket) };
            if listening_protocols.contains(&socket.protocol) {
                clients.push(connection);
            } else {
                local_ends.push(connection);
            }
        } else if socket.remote_port() == port && peer_of(socket).is_none() {
            // The other end is not on this machine (or not in this namespace).
            outbound.push(socket.clone());
        }
    }
    let time_wait = sockets
        .iter()
        .filter(|s| s.state == SocketState::TimeWait && (s.local_port() == port))
        .count();
    let bound: Vec<Socket> = sockets
        .iter()
        .filter(|s| {
            s.protocol == crate::model::Protocol::Tcp
                && s.state == SocketState::Close
                && s.local_port() == port
        })
        .cloned()
        .collect();
    // Owners per (protocol, local address): a SO_REUSEPORT group on one
    // address is one healthy service, not a split.
    let split_listeners = {
        let mut groups: Vec<((crate::model::Protocol, SocketAddr), Vec<u32>)> = Vec::new();
        for listener in listeners.iter().filter(|l| !l.owners.is_empty()) {
            let Some(local) = listener.local else { continue };
            let key = (listener.protocol, local);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, owners)) => owners.extend(listener.owners.iter().copied()),
                None => groups.push((key, listener.owners.clone())),
            }
        }
        groups.len() > 1
            && groups.iter().enumerate().all(|(i, (_, a))| {
                groups.iter().skip(i + 1).all(|(_, b)| a.iter().all(|pid| !b.contains(pid)))
            })
    };
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
        time_wait,
        bound,
        meaning: crate::portinfo::describe(port),
        processes: snapshot.processes,
        visibility: snapshot.visibility,
    }
}
