//! `porthole PORT` output: who holds the port, its clients, what the number
//! means and whether other devices can reach it.

use std::io::Write;
use std::net::SocketAddr;

use super::json::PortReportRecord;
use super::listing::{local_label, protocol_label};
use super::sanitize::Foreign;
use super::table::Table;
use super::{Format, Style};
use crate::model::{Connection, PortReport, Process, Protocol, Socket, SocketState};

/// The most rows each list of connections (clients, local ends, outbound)
/// shows on a terminal: a busy server has thousands. The rest are counted
/// by state, and `--json` carries every one.
pub const LISTED_CONNECTIONS: usize = 20;

/// The rows of a list of connections to show, and the line that counts
/// those left out. When the list is cut, the rarest states come first (a
/// few CLOSE-WAIT among thousands of ESTAB are what a reader looks for);
/// otherwise the order is kept.
fn bounded<T>(items: &[T], state: impl Fn(&T) -> SocketState) -> (Vec<&T>, Option<String>) {
    if items.len() <= LISTED_CONNECTIONS {
        return (items.iter().collect(), None);
    }
    let mut tally: std::collections::BTreeMap<SocketState, usize> =
        std::collections::BTreeMap::new();
    for item in items {
        *tally.entry(state(item)).or_default() += 1;
    }
    let mut rows: Vec<&T> = items.iter().collect();
    rows.sort_by_key(|item| tally[&state(item)]);
    let left_out = &rows[LISTED_CONNECTIONS..];
    let mut left_tally: Vec<(SocketState, usize)> = Vec::new();
    for item in left_out {
        match left_tally.iter_mut().find(|(s, _)| *s == state(item)) {
            Some((_, count)) => *count += 1,
            None => left_tally.push((state(item), 1)),
        }
    }
    let states: Vec<String> =
        left_tally.iter().map(|(state, count)| format!("{count} {}", state.ss_name())).collect();
    let line =
        format!("… and {} more ({}); --json lists every one", left_out.len(), states.join(", "));
    rows.truncate(LISTED_CONNECTIONS);
    (rows, Some(line))
}

pub fn write_report(
    out: &mut dyn Write,
    report: &PortReport,
    format: Format,
    style: Style,
) -> std::io::Result<()> {
    match format {
        Format::Json | Format::Jsonl => {
            crate::render::sanitize::write_json_pretty(
                &mut *out,
                &PortReportRecord::from_report(report),
            )?;
            writeln!(out)
        }
        Format::Table => write_text(out, report, style),
    }
}

fn process_label(report: &PortReport, pid: u32) -> String {
    match report.processes.get(&pid) {
        Some(process) => describe_process(process),
        None => format!("pid {pid}"),
    }
}

fn describe_process(process: &Process) -> String {
    // Name, user, unit and container are other users' text.
    let mut text = format!("{} (pid {}", Foreign(&process.shown_name()), process.pid);
    if let Some(inner) = process.namespace_pid {
        // The pid here comes first: it is what `kill` and `/proc` take.
        text.push_str(&format!(", pid {inner} in its PID namespace"));
    }
    if let Some(user) = &process.user {
        text.push_str(&format!(", user {}", Foreign(user)));
    }
    if let Some(unit) = &process.unit {
        text.push_str(&format!(", unit {}", Foreign(unit)));
    }
    if let Some(container) = &process.container {
        text.push_str(&format!(", container {}", Foreign(container)));
    }
    if process.state == 't' {
        // SIGCONT does not resume a tracing stop: only its tracer does.
        text.push_str(", STOPPED by a debugger or strace");
    } else if process.is_stopped() {
        text.push_str(", STOPPED");
    } else if process.state == 'D' {
        // Waiting in the kernel: it answers no one, and acts on a signal
        // only once the wait ends.
        text.push_str(", in uninterruptible sleep (D)");
    }
    if process.exe_other_mount_namespace {
        text.push_str(", own mount namespace");
    }
    text.push(')');
    text
}

fn owners_text(report: &PortReport, socket: &Socket) -> String {
    if socket.owners.is_empty() {
        return if socket.inode == 0 {
            "no process".into()
        } else {
            let gaps = &report.visibility.owner_gaps;
            let places: Vec<String> = report
                .visibility
                .in_flight
                .iter()
                .map(|place| format!("{} (pid {})", Foreign(&place.name), place.pid))
                .collect();
            // A descriptor queued on a Unix socket is evidence of its own,
            // even where a process root was refused might hold it instead.
            let in_flight_may_hold_it =
                gaps.contains(&crate::model::OwnerGap::NoProcess) && !places.is_empty();
            if gaps == &[crate::model::OwnerGap::NoProcess] || in_flight_may_hold_it {
                if places.is_empty() {
                    // `?` as the stderr note says, which explains it.
                    "? (no process holds it: only the kernel)".into()
                } else {
                    // The kernel says how many descriptors a queue holds,
                    // not which: "may be".
                    format!(
                        "? (no process holds it: it may be in flight on a Unix socket held by {})",
                        places.join(", ")
                    )
                }
            } else {
                // Why is said once, on stderr (see `Visibility::owner_note`).
                "? (owner not visible)".into()
            }
        };
    }
    // With socket activation a launcher that stays (systemd, an inetd)
    // holds the socket beside the service it started: say which is which.
    let activated = |pid: u32| report.processes.get(&pid).and_then(|p| p.listen_fds).is_some();
    let service = socket.owners.iter().copied().find(|pid| activated(*pid));
    socket
        .owners
        .iter()
        .map(|&pid| {
            let label = process_label(report, pid);
            if activated(pid) {
                format!("{label}: the service, started with this socket (LISTEN_PID)")
            } else if let Some(service) =
                service.filter(|s| report.processes.get(s).is_some_and(|p| p.parent_pid == pid))
            {
                // Its parent: the launcher. Any other holder (a worker the
                // service forked) is not labelled.
                format!("{label}: started pid {service} with it")
            } else {
                label
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The namespace of a socket as `ls --netns all` shows it: its inode and
/// who lives there (other users' text, escaped).
fn namespace_label(report: &PortReport, socket: &Socket) -> String {
    socket.net_namespace.map_or_else(|| "-".into(), |inode| namespace_inode_label(report, inode))
}

fn write_text(out: &mut dyn Write, report: &PortReport, style: Style) -> std::io::Result<()> {
    let headline = if !report.listeners.is_empty() {
        style.green(&format!("port {} is listening", report.port))
    } else if report.live_local_end() {
        style.yellow(&format!(
            "port {} is the local end of a connection (nothing listens)",
            report.port
        ))
    } else if !report.local_ends.is_empty() {
        // Orphans a process closed, FIN-WAIT-2 after the server exited:
        // no process holds them, TIME-WAIT may follow.
        style.yellow(&format!(
            "only closing connections hold port {} (no process: the kernel ends them)",
            report.port
        ))
    } else if !report.bound.is_empty() {
        style.yellow(&format!("port {} is bound but not listening", report.port))
    } else if report.time_wait > 0 {
        style.yellow(&format!(
            "only TIME-WAIT connections hold port {} (no process; they expire within 60 s)",
            report.port
        ))
    } else if !report.elsewhere.is_empty() {
        style.red(&format!(
            "nothing holds port {} in the network namespace looked in; another one listens on it",
            report.port
        ))
    } else {
        style.red(&format!("nothing holds port {}", report.port))
    };
    writeln!(out, "{}: {headline}", style.bold(&Foreign(&report.endpoint).to_string()))?;
    if !report.elsewhere.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Listening in another network namespace"))?;
        for other in &report.elsewhere {
            let line = super::kill::elsewhere_text(&other.listener, other.command.as_deref());
            writeln!(out, "  {line}")?;
        }
    }
    let literal = report.addresses.len() == 1
        && report.endpoint.trim_start_matches('[').starts_with(&report.addresses[0].to_string());
    if !report.addresses.is_empty() && !literal {
        let list: Vec<String> = report.addresses.iter().map(ToString::to_string).collect();
        if report.name_unresolved {
            writeln!(out, "  does not resolve here; taken as {}, which it means", list.join(", "))?;
        } else if report.unspecified {
            writeln!(
                out,
                "  a connection to it goes to {}: Linux connects the unspecified address to \
                 the loopback",
                list.join(", ")
            )?;
        } else {
            writeln!(out, "  resolves to {}", list.join(", "))?;
        }
    }

    if !report.listeners.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Listening"))?;
        // With `--netns all` two rows may show the same address: each
        // namespace has its own loopback, so say which one.
        let namespaced = !report.namespaces.is_empty();
        let mut table = if namespaced {
            Table::new(&["PROTO", "LOCAL", "NETNS", "SCOPE", "QUEUE", "PROCESS"])
        } else {
            Table::new(&["PROTO", "LOCAL", "SCOPE", "QUEUE", "PROCESS"])
        };
        for socket in &report.listeners {
            let serves = report.serving.contains(socket);
            let mut local = local_label(socket);
            if !report.addresses.is_empty() && !serves {
                local.push_str(" (not for this address)");
            }
            let scope = if socket.is_dual_stack() && socket.scope() == crate::model::Scope::Wildcard
            {
                "wildcard (dual-stack: IPv4 too)".to_string()
            } else {
                socket.scope().as_str().to_string()
            };
            let queue = if socket.protocol == crate::model::Protocol::Tcp {
                format!("{}/{}", socket.rx_queue, socket.tx_queue)
            } else {
                "-".into()
            };
            let mut row = vec![protocol_label(socket).to_string(), local];
            if namespaced {
                row.push(namespace_label(report, socket));
            }
            row.extend([scope, queue, owners_text(report, socket)]);
            table.push(row);
        }
        table.write(out, style.width, "  ")?;
        for listener in report.listeners.iter().filter(|l| l.accept_queue_full()) {
            let waiting = report
                .clients
                .iter()
                .filter(|c| c.near.is_none())
                .filter_map(|c| c.far.as_ref())
                .filter(|far| {
                    far.state == SocketState::SynSent
                        && far.remote.is_some_and(|r| listener.serves(r))
                })
                .count();
            let waiting = if waiting > 0 {
                format!("; {waiting} client(s) wait in SYN-SENT")
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {} the accept queue of {} is full ({} waiting, backlog {}): the server does not call accept() fast enough, and the kernel drops new connections{waiting}",
                style.yellow("warning:"),
                local_label(listener),
                listener.rx_queue,
                listener.tx_queue
            )?;
        }
        // Several sockets on one address, interface and namespace: a
        // SO_REUSEPORT group (workers sharing one socket are one row).
        let mut groups: Vec<(crate::model::ListenerKey, &Socket, usize)> = Vec::new();
        for listener in &report.listeners {
            let Some(key) = listener.listener_key() else { continue };
            match groups.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, count)) => *count += 1,
                None => groups.push((key, listener, 1)),
            }
        }
        for (_, listener, count) in groups.iter().filter(|(_, _, count)| *count > 1) {
            writeln!(
                out,
                "  {}: {count} sockets share it (SO_REUSEPORT): the kernel spreads new connections among them",
                local_label(listener)
            )?;
        }
        if report.split_listeners {
            writeln!(
                out,
                "  {} different processes hold this port on different addresses; clients reach one or the other depending on the address they use",
                style.yellow("warning:")
            )?;
        }
        if !report.addresses.is_empty() && report.serving.is_empty() {
            writeln!(
                out,
                "  {} no listener serves {}: connections to it are refused",
                style.yellow("warning:"),
                Foreign(&report.endpoint)
            )?;
        }
    }

    if !report.bound.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Bound, not listening"))?;
        for socket in &report.bound {
            let holders: Vec<u32> = socket
                .owners
                .iter()
                .copied()
                .filter(|pid| report.processes.get(pid).is_some_and(Process::is_free_holder))
                .collect();
            // A `porthole free --hold` reservation lets the server it holds
            // for bind (SO_REUSEADDR); any other bound socket blocks all.
            let consequence = if !holders.is_empty() && holders.len() == socket.owners.len() {
                let pids: Vec<String> = holders.iter().map(u32::to_string).collect();
                format!(
                    "a reservation by porthole free --hold: a server that sets SO_REUSEADDR \
                     binds it now; to end the hold: kill {}",
                    pids.join(" ")
                )
            } else {
                "connections are refused, but nothing else can bind it".to_string()
            };
            writeln!(
                out,
                "  {} {}  {}: {consequence}",
                protocol_label(socket),
                local_label(socket),
                owners_text(report, socket)
            )?;
        }
    }
    if !report.clients.is_empty() {
        writeln!(out)?;
        writeln!(out, "{} ({})", style.bold("Clients"), report.clients.len())?;
        let (rows, more) = bounded(&report.clients, connection_state);
        write_connections(out, report, &rows, style)?;
        if let Some(more) = more {
            writeln!(out, "  {more}")?;
        }
    }
    if !report.local_ends.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Local end of"))?;
        let (rows, more) = bounded(&report.local_ends, connection_state);
        for connection in rows {
            if let Some(near) = &connection.near {
                let peer = near.remote.map_or_else(|| "?".into(), |r| r.to_string());
                let who = owners_text(report, near);
                if near.connected_to_itself() {
                    // A simultaneous open: no server, and the port stays
                    // taken until this one socket closes.
                    writeln!(
                        out,
                        "  a {} connection of {who} to itself ({peer} on both ends, a simultaneous open: no server is involved) [{}]",
                        near.protocol,
                        near.state.ss_name()
                    )?;
                    continue;
                }
                let servers = report.servers_of_local_end(near);
                let far = connection.far.as_ref();
                if let (Some(far), true) = (far, servers.is_empty()) {
                    // The other end is here but nothing listens where it is:
                    // this end may be a server's whose listener is gone (a
                    // draining server, an orphaned FIN-WAIT-2) as well as a
                    // client's, and neither end is called the server.
                    let far_who = owners_text(report, far);
                    let waiting = if far.state == SocketState::CloseWait {
                        "; the other end has not closed (CLOSE-WAIT)"
                    } else {
                        ""
                    };
                    writeln!(
                        out,
                        "  a {} connection of {who} with {far_who} at {peer} [{}]: nothing listens on either end, so which side served it is not known{waiting}",
                        near.protocol,
                        near.state.ss_name()
                    )?;
                    continue;
                }
                // The server's own end when it is here, else its listener.
                let server = far
                    .filter(|far| !far.owners.is_empty())
                    .map(|far| owners_text(report, far))
                    .or_else(|| {
                        let owned: Vec<String> = servers
                            .iter()
                            .filter(|listener| !listener.owners.is_empty())
                            .map(|listener| owners_text(report, listener))
                            .collect();
                        (!owned.is_empty()).then(|| owned.join(", "))
                    })
                    .map(|server| format!(" (served by {server})"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  the client side of a {} connection from {who} to {peer}{server} [{}]",
                    near.protocol,
                    near.state.ss_name()
                )?;
            }
        }
        if let Some(more) = more {
            writeln!(out, "  {more}")?;
        }
    }
    if !report.outbound.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{} ({})",
            style.bold("Outbound to this port elsewhere"),
            report.outbound.len()
        )?;
        let (rows, more) = bounded(&report.outbound, |socket| socket.state);
        for socket in rows {
            writeln!(
                out,
                "  {} → {}  {}  {}",
                local_label(socket),
                socket.remote.map_or_else(|| "?".into(), |r| r.to_string()),
                socket.state.ss_name(),
                owners_text(report, socket)
            )?;
        }
        if let Some(more) = more {
            writeln!(out, "  {more}")?;
        }
    }
    if report.time_wait > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "{} TIME-WAIT socket(s) on this port: no process; until they expire (60 s after the close) a new server binds it only if it and the server that closed them both set SO_REUSEADDR",
            report.time_wait
        )?;
        // Each closed connection, and the server it talked to where that
        // one listens here: a port from a log is named even after the
        // client is gone.
        let (rows, more) = bounded(&report.time_wait_ends, |end| end.socket.state);
        for end in rows {
            let peer = end.socket.remote.map_or_else(|| "?".into(), |r| r.to_string());
            let servers: Vec<String> = end
                .servers
                .iter()
                .filter(|server| !server.owners.is_empty())
                .map(|server| owners_text(report, server))
                .collect();
            let server = if servers.is_empty() {
                String::new()
            } else {
                format!(" (server: {})", servers.join(", "))
            };
            writeln!(
                out,
                "  a closed {} connection from {} to {peer}{server}",
                end.socket.protocol,
                local_label(&end.socket)
            )?;
        }
        if let Some(more) = more {
            writeln!(out, "  {more}")?;
        }
        if let Some(command) = &report.bind_check {
            writeln!(out, "  whether a server can bind it now: {command}")?;
        }
    }

    writeln!(out)?;
    writeln!(out, "{}", style.bold("About the number"))?;
    let meaning = &report.meaning;
    let (low, high) = meaning.iana_range.bounds();
    writeln!(out, "  IANA {} port ({low}-{high})", meaning.iana_range.as_str())?;
    if !meaning.services.is_empty() {
        writeln!(out, "  usually: {}", meaning.services.join(", "))?;
    }
    if let Some(unexpected) = &report.unexpected_owners {
        let owners: Vec<String> =
            unexpected.pids.iter().map(|pid| process_label(report, *pid)).collect();
        writeln!(
            out,
            "  {} held by {}, not by a {service} program ({}): a client that expects {service} here talks to something else",
            style.yellow("but"),
            owners.join(", "),
            unexpected.expected.join(", "),
            service = unexpected.service,
        )?;
    }
    for line in settings_lines(meaning, true) {
        writeln!(out, "  {line}")?;
    }
    for other in &report.namespace_meanings {
        let label = namespace_inode_label(report, other.inode);
        match &other.meaning {
            Ok(there) if there.namespace_settings_differ(meaning) => {
                writeln!(out, "  in netns {label}, under its own settings:")?;
                for line in settings_lines(there, false) {
                    writeln!(out, "    {line}")?;
                }
            }
            Ok(_) => {}
            Err(why) => writeln!(
                out,
                "  in netns {label} the settings could not be read ({}): the lines above are this namespace's",
                Foreign(why)
            )?,
        }
    }
    if meaning.browser_blocked {
        writeln!(out, "  browsers refuse it (fetch standard bad-port list)")?;
    }
    if !report.listeners.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Exposure"))?;
        let unassigned: Vec<String> =
            report.listeners.iter().filter(|s| report.is_unassigned(s)).map(local_label).collect();
        if report.exposed() {
            let exposed: Vec<String> = report
                .listeners
                .iter()
                .filter(|s| report.reachable_exposed(s))
                .map(local_label)
                .collect();
            writeln!(
                out,
                "  {} reachable from other devices via {}",
                style.yellow("exposed:"),
                exposed.join(", ")
            )?;
        } else if report.only_loopback_addresses
            && report.listeners.iter().any(|s| s.scope() == crate::model::Scope::Wildcard)
        {
            writeln!(
                out,
                "  loopback only: no interface of this network namespace has an address but \
                 loopback, so other devices cannot reach it"
            )?;
        } else if unassigned.len() < report.listeners.len() {
            writeln!(out, "  loopback only: other devices cannot reach it")?;
        }
        if !unassigned.is_empty() {
            writeln!(
                out,
                "  not reachable yet: {} is bound to an address no interface has (IP_FREEBIND \
                 or ip_nonlocal_bind); clients reach it once an interface gets the address",
                unassigned.join(", ")
            )?;
        }
    }
    Ok(())
}

/// What a namespace's sysctls make of the number: its ephemeral range, its
/// reserved ports, and whether binding it needs privilege there. `here`:
/// the namespace porthole looked from (else another one of `--netns all`).
fn settings_lines(meaning: &crate::model::PortMeaning, here: bool) -> Vec<String> {
    let whose = if here { "this machine's" } else { "its" };
    let mut lines = Vec::new();
    if meaning.port == 0 {
        lines.push(
            "no service can hold it: binding port 0 asks the kernel for any free port, and a connection to it fails"
                .to_string(),
        );
    } else if let Some((low, high)) = meaning.ephemeral_range {
        if meaning.in_ephemeral_range && meaning.reserved {
            // Reserving is exactly what keeps the kernel from handing a
            // port of the range out as a source port.
            lines.push(format!(
                "inside {whose} ephemeral range {low}-{high} but reserved (ip_local_reserved_ports): the kernel does not hand it out as a source port"
            ));
        } else if meaning.in_ephemeral_range {
            lines.push(format!(
                "inside {whose} ephemeral range {low}-{high}: the kernel hands it out as a source port for outbound connections"
            ));
        } else {
            lines.push(format!(
                "outside {} ephemeral range {low}-{high}: outbound connections will not take it",
                if here { "the" } else { whose }
            ));
        }
    }
    if meaning.reserved && !meaning.in_ephemeral_range {
        lines.push("listed in ip_local_reserved_ports: kept for a service on this machine".into());
    }
    if meaning.privileged {
        lines.push("privileged: binding it needs root or CAP_NET_BIND_SERVICE".into());
    } else if !here && meaning.port != 0 && meaning.port < 1024 {
        // Below 1024 but not privileged there: say why, since the first
        // unprivileged port was lowered in that namespace.
        lines
            .push("not privileged (ip_unprivileged_port_start is lower): any user binds it".into());
    }
    lines
}

/// A namespace's inode and who lives there, as the NETNS column shows it.
fn namespace_inode_label(report: &PortReport, inode: u64) -> String {
    match report.namespaces.iter().find(|n| n.inode == inode) {
        Some(namespace) => format!("{inode} ({})", Foreign(&namespace.hint(&report.processes))),
        None => inode.to_string(),
    }
}

/// The state of a connection as its rows show it: the server's end when
/// it is here, else the client's.
fn connection_state(connection: &Connection) -> SocketState {
    connection
        .near
        .as_ref()
        .or(connection.far.as_ref())
        .map_or(SocketState::Established, |socket| socket.state)
}

/// The PROTO of a client row: the family of the client's own socket. An
/// IPv4 client of an AF_INET6 listener (`::`, `::ffff:127.0.0.1`) holds an
/// AF_INET socket, though the server's end of the connection is AF_INET6;
/// a remote client seen only through a v4-mapped address came over IPv4.
fn client_protocol_label(connection: &Connection) -> &'static str {
    match (&connection.near, &connection.far) {
        (_, Some(far)) => protocol_label(far),
        (Some(near), None) => match near.remote {
            Some(SocketAddr::V6(remote)) if remote.ip().to_ipv4_mapped().is_some() => {
                match near.protocol {
                    Protocol::Udp => "udp",
                    _ => "tcp",
                }
            }
            _ => protocol_label(near),
        },
        (None, None) => "",
    }
}

/// Who the client of a server end is when no socket of it is here. A
/// loopback peer is on this machine, in the server's namespace, where every
/// socket is listed: its end is gone (closed, as a CLOSE-WAIT server end in
/// the accept queue shows), not on another host. A connected UDP socket
/// has no other end: `connect()` only names the peer it takes datagrams
/// from, which may have closed or never existed.
fn unseen_client(near: &Socket) -> &'static str {
    match near.remote.map(unmapped) {
        Some(remote) if remote.ip().is_loopback() => match near.protocol {
            Protocol::Udp => "this machine (no socket has that address now)",
            _ => "this machine (the client closed its end)",
        },
        _ => "remote host",
    }
}

/// A v4-mapped IPv6 address (`[::ffff:192.0.2.7]:5000`) as the IPv4 address
/// the peer really has (`192.0.2.7:5000`); other addresses unchanged.
fn unmapped(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => address,
        },
        SocketAddr::V4(_) => address,
    }
}

fn write_connections(
    out: &mut dyn Write,
    report: &PortReport,
    connections: &[&Connection],
    style: Style,
) -> std::io::Result<()> {
    let mut table = Table::new(&["PROTO", "CLIENT", "SERVER", "STATE", "CLIENT PROCESS"]);
    for &connection in connections {
        let (client_address, server_address, state, client_process) =
            match (&connection.near, &connection.far) {
                (Some(near), Some(far)) => {
                    let mut process = owners_text(report, far);
                    // A client in another namespace (`--netns all`, through
                    // a veth or a bridge) says which.
                    if far.net_namespace != near.net_namespace {
                        process.push_str(&format!(" in netns {}", namespace_label(report, far)));
                    }
                    (local_label(far), local_label(near), near.state.ss_name(), process)
                }
                (Some(near), None) => (
                    near.remote.map(unmapped).map_or_else(|| "?".into(), |r| r.to_string()),
                    local_label(near),
                    near.state.ss_name(),
                    unseen_client(near).to_string(),
                ),
                (None, Some(far)) => (
                    local_label(far),
                    far.remote.map_or_else(|| "?".into(), |r| r.to_string()),
                    far.state.ss_name(),
                    owners_text(report, far),
                ),
                (None, None) => continue,
            };
        let protocol = client_protocol_label(connection);
        table.push(vec![
            protocol.to_string(),
            client_address,
            server_address,
            state.to_string(),
            client_process,
        ]);
    }
    table.write(out, style.width, "  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(local: &str, remote: &str) -> Socket {
        Socket::ip(
            Protocol::Tcp,
            local.parse().unwrap(),
            remote.parse().unwrap(),
            SocketState::Established,
        )
    }

    #[test]
    fn a_client_row_is_labelled_with_the_client_socket_s_family() {
        // An IPv4 client of a listener on `::ffff:127.0.0.1`: the server's
        // end is AF_INET6, the client's AF_INET.
        let connection = Connection {
            near: Some(tcp("[::ffff:127.0.0.1]:8080", "[::ffff:127.0.0.1]:40000")),
            far: Some(tcp("127.0.0.1:40000", "127.0.0.1:8080")),
        };
        assert_eq!(client_protocol_label(&connection), "tcp");
        // An IPv6 client of an IPv6 server stays tcp6.
        let connection = Connection {
            near: Some(tcp("[::1]:8080", "[::1]:40000")),
            far: Some(tcp("[::1]:40000", "[::1]:8080")),
        };
        assert_eq!(client_protocol_label(&connection), "tcp6");
    }

    #[test]
    fn a_loopback_client_with_no_socket_is_not_a_remote_host() {
        let near = tcp("127.0.0.1:8080", "127.0.0.1:40000");
        assert_eq!(unseen_client(&near), "this machine (the client closed its end)");
        let near = tcp("[::ffff:127.0.0.1]:8080", "[::ffff:127.0.0.1]:40000");
        assert_eq!(unseen_client(&near), "this machine (the client closed its end)");
        let near = tcp("10.0.0.1:8080", "10.0.0.9:40000");
        assert_eq!(unseen_client(&near), "remote host");
        // A connected UDP socket names a peer; nothing says it ever had one.
        let near = Socket { protocol: Protocol::Udp, ..tcp("127.0.0.1:8080", "127.0.0.1:40000") };
        assert_eq!(unseen_client(&near), "this machine (no socket has that address now)");
    }

    #[test]
    fn a_remote_client_seen_through_a_v4_mapped_address_is_an_ipv4_client() {
        let connection = Connection {
            near: Some(tcp("[::ffff:10.0.0.1]:8080", "[::ffff:10.0.0.9]:40000")),
            far: None,
        };
        assert_eq!(client_protocol_label(&connection), "tcp");
        assert_eq!(
            unmapped("[::ffff:10.0.0.9]:40000".parse().unwrap()).to_string(),
            "10.0.0.9:40000"
        );
        let connection =
            Connection { near: Some(tcp("[fd00::1]:8080", "[fd00::9]:40000")), far: None };
        assert_eq!(client_protocol_label(&connection), "tcp6");
        assert_eq!(unmapped("[fd00::9]:40000".parse().unwrap()).to_string(), "[fd00::9]:40000");
    }
}
