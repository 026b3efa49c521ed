//! `porthole ls` output: the socket table, JSON array and JSON Lines.

use std::io::Write;

use super::json::{socket_record, SocketRecord};
use super::sanitize::{sanitize, Foreign};
use super::table::{Row, Table};
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
            crate::render::sanitize::write_json_pretty(&mut *out, &records)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for socket in sockets {
                // The same record as `--json`: namespace hint and hidden
                // owners included.
                crate::render::sanitize::write_json(&mut *out, &socket_record(snapshot, socket))?;
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
    let fill = |socket: &&Socket, row: &mut Row<'_>| {
        let owners: Vec<&Process> = snapshot.owners_of(socket).collect();
        let protocol = protocol_label(socket);
        row.cell_sized(protocol, Some(protocol.len()));
        let local_width = socket
            .local
            .filter(|_| socket.interface == 0 && socket.ip_protocol.is_none())
            .and_then(address_width);
        row.cell_sized(Local(socket), local_width);
        if options.remote {
            row.cell_sized(Remote(socket), Remote(socket).width());
        }
        row.cell_sized(socket.state.ss_name(), Some(socket.state.ss_name().len()));
        if options.owners {
            row.cell(user_label(socket, &owners, &snapshot.user_names));
        }
        let scope = scope_label(socket, style);
        let scope_width = (!style.color).then_some(scope.len());
        row.cell_sized(scope, scope_width);
        if options.namespace {
            row.cell(namespace_label(snapshot, socket));
        }
        if options.owners {
            row.cell(owners_label(socket, &owners, options.long, style));
        }
    };
    // Streamed: a full listing can have tens of thousands of rows. The last
    // column (processes) is cut to the terminal width on a TTY, except with
    // -l, whose whole point is the full command line: it wraps instead.
    if options.long {
        Table::stream_wrapped(&header, sockets, fill, out, style.width, "")
    } else {
        Table::stream(&header, sockets, fill, out, style.width, "")
    }
}

/// `4026531840 (current)`, `4026532301 (netns test)`…
fn namespace_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let Some(inode) = socket.net_namespace else { return "-".into() };
    match snapshot.namespaces.iter().find(|n| n.inode == inode) {
        Some(namespace) => {
            format!("{inode} ({})", Foreign(&namespace.hint(&snapshot.processes)))
        }
        None => inode.to_string(),
    }
}

/// `tcp`, `tcp6`, `udp`, `udp6`, `raw`, `raw6`, `u_str`, `u_dgr`, `u_seq`,
/// as `ss` labels them.
pub fn protocol_label(socket: &Socket) -> &'static str {
    match (socket.protocol, socket.family) {
        (Protocol::Unix, _) => match socket.unix_kind {
            Some(crate::model::UnixKind::Datagram) => "u_dgr",
            Some(crate::model::UnixKind::SeqPacket) => "u_seq",
            _ => "u_str",
        },
        (Protocol::Tcp, Family::Ipv6) => "tcp6",
        (Protocol::Udp, Family::Ipv6) => "udp6",
        (Protocol::Raw, Family::Ipv6) => "raw6",
        (Protocol::Raw, _) => "raw",
        (Protocol::Tcp, _) => "tcp",
        (Protocol::Udp, _) => "udp",
    }
}

/// The local end, formatted without an intermediate string.
struct Local<'a>(&'a Socket);

impl std::fmt::Display for Local<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0.local, &self.0.path) {
            (Some(_), _) if self.0.interface != 0 || self.0.ip_protocol.is_some() => {
                f.write_str(&local_label(self.0))
            }
            (Some(address), _) => write_address(f, address),
            (None, Some(path)) => f.write_str(&sanitize(path)),
            (None, None) => write!(f, "* {}", self.0.inode),
        }
    }
}

/// Writes `a.b.c.d:port` without the general formatting machinery (which
/// pads through a temporary buffer and dominated the 60k-socket listing);
/// IPv6 uses the standard formatter for its `::` compression rules.
fn write_address(
    f: &mut std::fmt::Formatter<'_>,
    address: std::net::SocketAddr,
) -> std::fmt::Result {
    match address {
        std::net::SocketAddr::V4(v4) => {
            let mut buffer = [0u8; 21]; // "255.255.255.255:65535"
            let mut length = 0;
            for (index, octet) in v4.ip().octets().iter().enumerate() {
                if index > 0 {
                    buffer[length] = b'.';
                    length += 1;
                }
                length += write_decimal(&mut buffer[length..], u32::from(*octet));
            }
            buffer[length] = b':';
            length += 1;
            length += write_decimal(&mut buffer[length..], u32::from(v4.port()));
            f.write_str(
                std::str::from_utf8(&buffer[..length]).expect("only ASCII digits, dots, colon"),
            )
        }
        other => write!(f, "{other}"),
    }
}

/// Writes `value` in decimal at the start of `out`; returns the length.
fn write_decimal(out: &mut [u8], mut value: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (value % 10) as u8;
        count += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for index in 0..count {
        out[index] = digits[count - 1 - index];
    }
    count
}

/// The printed length of an IPv4 `a.b.c.d:port` without formatting it;
/// `None` for IPv6 (whose `::` compression is left to the formatter).
fn address_width(address: std::net::SocketAddr) -> Option<usize> {
    match address {
        std::net::SocketAddr::V4(v4) => {
            let digits = |value: u32| match value {
                0..=9 => 1,
                10..=99 => 2,
                100..=999 => 3,
                1000..=9999 => 4,
                _ => 5,
            };
            let octets: usize = v4.ip().octets().iter().map(|&o| digits(u32::from(o))).sum();
            Some(octets + 3 + 1 + digits(u32::from(v4.port())))
        }
        std::net::SocketAddr::V6(_) => None,
    }
}

/// The remote end: `*` when not connected, the peer inode for Unix.
struct Remote<'a>(&'a Socket);

impl Remote<'_> {
    /// The printed width when it is known without formatting.
    fn width(&self) -> Option<usize> {
        match self.0.remote {
            Some(address) if address.port() != 0 || !address.ip().is_unspecified() => {
                address_width(address)
            }
            Some(_) => Some(1),
            None => None,
        }
    }
}

impl std::fmt::Display for Remote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.remote {
            Some(address) if address.port() != 0 || !address.ip().is_unspecified() => {
                write_address(f, address)
            }
            Some(_) => f.write_str("*"),
            None => match self.0.peer_inode {
                Some(inode) => write!(f, "* {inode}"),
                None => f.write_str("*"),
            },
        }
    }
}

/// `127.0.0.1:80`, `[::1]:80`, a Unix path (sanitised: another user chose
/// it), or `*` with the inode for an unnamed Unix socket. A socket bound to
/// an interface shows it after the address as `ss` does (`0.0.0.0%lo:8080`,
/// `[::]%eth0:8080`), since only packets arriving on that interface reach
/// it; the name is other users' text, escaped. A raw socket shows its IP
/// protocol where the port would be, by name where it has one
/// (`0.0.0.0:icmp`, `[::]:icmpv6`), as `ss` does.
pub fn local_label(socket: &Socket) -> String {
    match (socket.local, &socket.path) {
        (Some(address), _) if socket.interface != 0 || socket.ip_protocol.is_some() => {
            let ip = match address.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            };
            let device = (socket.interface != 0).then(|| {
                let name = socket.interface_name.as_deref();
                format!(
                    "%{}",
                    name.map_or_else(|| socket.interface.to_string(), |n| sanitize(n).into_owned())
                )
            });
            let port = match socket.ip_protocol {
                Some(number) => crate::model::ip_protocol::label(number),
                None => address.port().to_string().into(),
            };
            format!("{ip}{}:{port}", device.unwrap_or_default())
        }
        (Some(address), _) => address.to_string(),
        (None, Some(path)) => sanitize(path).into_owned(),
        (None, None) => format!("* {}", socket.inode),
    }
}

fn scope_label(socket: &Socket, style: Style) -> String {
    let scope = socket.scope();
    let text = if socket.is_dual_stack() && scope == Scope::Wildcard {
        "wildcard+v4".to_string()
    } else {
        scope.as_str().to_string()
    };
    match scope {
        Scope::Wildcard | Scope::Specific if socket.exposed() => style.yellow(&text),
        _ => text,
    }
}

/// The owner's user, else the name of the socket's uid (TIME-WAIT and
/// hidden sockets have no visible owner), else the bare uid.
fn user_label(
    socket: &Socket,
    owners: &[&Process],
    user_names: &std::collections::BTreeMap<u32, String>,
) -> String {
    if let Some(user) = owners.first().and_then(|p| p.user.as_deref()) {
        return sanitize(user).into_owned();
    }
    if socket.uid == u32::MAX {
        return "-".into();
    }
    user_names
        .get(&socket.uid)
        .map_or_else(|| socket.uid.to_string(), |name| sanitize(name).into_owned())
}

fn owners_label(socket: &Socket, owners: &[&Process], long: bool, style: Style) -> String {
    if socket.owners.is_empty() {
        return if socket.inode == 0 { "-".into() } else { style.dim("?") };
    }
    let mut parts: Vec<String> = Vec::new();
    for pid in &socket.owners {
        let process = owners.iter().find(|p| p.pid == *pid);
        let text = match process {
            Some(p) if long => {
                // The command line names the program by a path that may
                // be gone: say so next to it.
                let deleted = if p.exe_deleted { " (exe deleted)" } else { "" };
                format!("{pid}/{}{deleted}", Foreign(&p.command_line()))
            }
            Some(p) => {
                let stopped = if p.is_stopped() { " (stopped)" } else { "" };
                format!("{pid}/{}{stopped}", Foreign(&p.shown_name()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_address_formatting_matches_std() {
        for text in
            ["0.0.0.0:0", "127.0.0.1:8080", "255.255.255.255:65535", "10.2.30.4:9", "[::1]:80"]
        {
            let address: std::net::SocketAddr = text.parse().unwrap();
            let socket = Socket::listening(Protocol::Tcp, address);
            assert_eq!(Local(&socket).to_string(), address.to_string());
            if let Some(width) = address_width(address) {
                assert_eq!(width, address.to_string().len(), "{text}");
            }
        }
    }
}
