//! `porthole ls` output: the socket table, JSON array and JSON Lines.

use std::io::Write;

use super::json::{socket_record, SocketRecord};
use super::table::Table;
use super::{Format, Style};
use crate::model::{Family, Process, Protocol, Scope, Snapshot, Socket};

/// Options of the listing table.
#[derive(Debug, Clone, Copy)]
pub struct ListingOptions {
    /// Add the REMOTE column (`ls -a`).
    pub remote: bool,
    /// Add the NETNS column (`--netns all`).
    pub namespace: bool,
    /// Add the PID/PROCESS and USER columns (owners were scanned).
    pub owners: bool,
    /// Full command lines instead of names.
    pub long: bool,
}

/// Writes `sockets` (a filtered view of `snapshot`) in `format`.
pub fn write_sockets(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    sockets: &[&Socket],
    format: Format,
    options: ListingOptions,
    style: Style,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let records: Vec<SocketRecord> =
                sockets.iter().map(|s| socket_record(snapshot, s)).collect();
            serde_json::to_writer_pretty(&mut *out, &records)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for socket in sockets {
                serde_json::to_writer(
                    &mut *out,
                    &SocketRecord::from_socket(socket, &snapshot.processes),
                )?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Table => write_table(out, snapshot, sockets, options, style),
    }
}

fn write_table(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    sockets: &[&Socket],
    options: ListingOptions,
    style: Style,
) -> std::io::Result<()> {
    let mut header = vec!["PROTO", "LOCAL"];
    if options.remote {
        header.push("REMOTE");
    }
    header.push("STATE");
    if options.owners {
        header.push("USER");
    }
    header.push("SCOPE");
    if options.namespace {
        header.push("NETNS");
    }
    if options.owners {
        header.push(if options.long { "PID/COMMAND" } else { "PID/PROCESS" });
    }
    let mut table = Table::new(&header);
    for socket in sockets {
        let mut row = vec![protocol_label(socket), local_label(socket)];
        if options.remote {
            row.push(remote_label(socket));
        }
        row.push(socket.state.ss_name().to_string());
        let owners: Vec<&Process> = snapshot.owners_of(socket).collect();
        if options.owners {
            row.push(user_label(socket, &owners));
        }
        row.push(scope_label(socket, style));
        if options.namespace {
            row.push(namespace_label(snapshot, socket));
        }
        if options.owners {
            row.push(owners_label(socket, &owners, options.long, style));
        }
        table.push(row);
    }
    // The last column (processes) is cut to the terminal width on a TTY.
    table.write(out, style.width, "")
}

/// `4026531840 (current)`, `4026532301 (netns test)`…
fn namespace_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let Some(inode) = socket.net_namespace else { return "-".into() };
    match snapshot.namespaces.iter().find(|n| n.inode == inode) {
        Some(namespace) => format!("{inode} ({})", namespace.hint(&snapshot.processes)),
        None => inode.to_string(),
    }
}

/// `tcp`, `tcp6`, `udp`, `udp6`, `u_str`, `u_dgr`, `u_seq`, as `ss` labels them.
pub fn protocol_label(socket: &Socket) -> String {
    match (socket.protocol, socket.family) {
        (Protocol::Unix, _) => match socket.unix_kind {
            Some(crate::model::UnixKind::Datagram) => "u_dgr".into(),
            Some(crate::model::UnixKind::SeqPacket) => "u_seq".into(),
            _ => "u_str".into(),
        },
        (protocol, Family::Ipv6) => format!("{protocol}6"),
        (protocol, _) => protocol.to_string(),
    }
}

/// `127.0.0.1:80`, `[::1]:80`, a Unix path, or `*` with the inode for an
/// unnamed Unix socket.
pub fn local_label(socket: &Socket) -> String {
    match (socket.local, &socket.path) {
        (Some(address), _) => address.to_string(),
        (None, Some(path)) => path.clone(),
        (None, None) => format!("* {}", socket.inode),
    }
}

fn remote_label(socket: &Socket) -> String {
    match socket.remote {
        Some(address) if address.port() != 0 || !address.ip().is_unspecified() => {
            address.to_string()
        }
        Some(_) => "*".into(),
        None => socket.peer_inode.map_or_else(|| "*".into(), |inode| format!("* {inode}")),
    }
}

fn scope_label(socket: &Socket, style: Style) -> String {
    let scope = socket.scope();
    let text =
        if socket.is_dual_stack() { "wildcard+v4".to_string() } else { scope.as_str().to_string() };
    match scope {
        Scope::Wildcard | Scope::Specific if socket.exposed() => style.yellow(&text),
        _ => text,
    }
}

fn user_label(socket: &Socket, owners: &[&Process]) -> String {
    if let Some(user) = owners.first().and_then(|p| p.user.clone()) {
        return user;
    }
    if socket.uid == u32::MAX {
        return "-".into();
    }
    crate::sys::users::name_of(socket.uid).unwrap_or_else(|| socket.uid.to_string())
}

fn owners_label(socket: &Socket, owners: &[&Process], long: bool, style: Style) -> String {
    if socket.owners.is_empty() {
        return if socket.inode == 0 { "-".into() } else { style.dim("?") };
    }
    let mut parts: Vec<String> = Vec::new();
    for pid in &socket.owners {
        let process = owners.iter().find(|p| p.pid == *pid);
        let text = match process {
            Some(p) if long => format!("{pid}/{}", p.command_line()),
            Some(p) => {
                let deleted = if p.exe_deleted { " (deleted)" } else { "" };
                let stopped = if p.is_stopped() { " (stopped)" } else { "" };
                format!("{pid}/{}{deleted}{stopped}", p.name)
            }
            None => pid.to_string(),
        };
        parts.push(text);
    }
    // Forked workers share the listener: show the first few and a count.
    if !long && parts.len() > 3 {
        let rest = parts.len() - 3;
        parts.truncate(3);
        parts.push(format!("+{rest}"));
    }
    parts.join(if long { "; " } else { "," })
}
