//! `porthole history` output, and the "History" section of `porthole
//! PORT`: text for people, and the JSON wire types of the history (kept
//! here rather than in `json.rs` because only these two outputs use them).
//!
//! Text groups connections per client ("python3 (pid 4411) connected 1,203
//! times, 2026-11-28 10:02–10:41, 2.1 MB"); times are UTC, sizes decimal
//! (1 kB = 1000 bytes), counts with thousands separators.

use std::io::Write;

use serde::Serialize;

/// The same process object `porthole monitor --jsonl` writes.
use super::monitor::{rfc3339, ProcessLine};

use super::sanitize::sanitize;
use super::table::Table;
use super::{Format, Style};
use crate::model::history::{
    CaptureSession, ClientSummary, ConnectionHistory, HistoryReport, HourlyTotal, ListenerHistory,
    LossSummary, PortHistory, UtcTime,
};
use crate::model::monitor::{
    CaptureMode, ConnectionEnd, ListenerChange, ListenerEvent, LossKind, ProcessIdentity,
    UnixMicros,
};
use crate::model::{Protocol, Socket};

use super::json::{ListenerChangeLayout, ListenerChangeRecord, SCHEMA_VERSION};

pub fn write_history(
    out: &mut dyn Write,
    report: &HistoryReport,
    format: Format,
    style: Style,
) -> std::io::Result<()> {
    write_history_streamed(out, report, &mut std::iter::empty(), format, style).map(|_| ())
}

/// [`write_history`] of a report whose single connections (`--each`)
/// follow `report.connections` in `more`, as the store reads them: each is
/// written as it comes (text sizes its columns from a first batch), at
/// most the query's limit in all; one more says the list was cut. Returns
/// how many connections were written.
pub fn write_history_streamed(
    out: &mut dyn Write,
    report: &HistoryReport,
    more: &mut dyn Iterator<Item = ConnectionHistory>,
    format: Format,
    style: Style,
) -> std::io::Result<u64> {
    let mut rows = Rows {
        listed: report.connections.iter(),
        more,
        left: report.query.limit.saturating_sub(report.connections.len()),
        written: 0,
        cut: report.truncated,
    };
    match format {
        Format::Json => write_json(out, report, &mut rows)?,
        Format::Jsonl => write_jsonl(out, report, &mut rows)?,
        Format::Table => write_text(out, report, &mut rows, style)?,
    }
    Ok(rows.written)
}

/// The single connections of a report: those it lists, then the streamed
/// ones up to the query's limit.
struct Rows<'a> {
    listed: std::slice::Iter<'a, ConnectionHistory>,
    more: &'a mut dyn Iterator<Item = ConnectionHistory>,
    /// How many streamed rows may still be written.
    left: usize,
    written: u64,
    /// Whether rows past the limit were left out.
    cut: bool,
}

impl Iterator for Rows<'_> {
    type Item = ConnectionHistory;

    fn next(&mut self) -> Option<ConnectionHistory> {
        let row = match self.listed.next() {
            Some(row) => row.clone(),
            None => {
                let row = self.more.next()?;
                if self.left == 0 {
                    self.cut = true;
                    return None;
                }
                self.left -= 1;
                row
            }
        };
        self.written += 1;
        Some(row)
    }
}

// ------------------------------------------------------------------ text

/// `1,203`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// `2.1 MB`, `512 B`: decimal units, as `ls --si` and network tools count.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if value < 1000 {
        return format!("{value} B");
    }
    let mut scaled = value as f64 / 1000.0;
    let mut unit = 0;
    while scaled >= 999.95 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    format!("{scaled:.1} {}", UNITS[unit])
}

/// `2026-11-28 10:02:03`.
fn time(at: UnixMicros) -> String {
    UtcTime::from_micros(at).to_string()
}

/// `2026-11-28 10:02–10:41`; seconds when both fall in one minute
/// (`10:15:00–10:15:11`), both dates when they differ, one time when equal.
fn span(first: UnixMicros, last: UnixMicros) -> String {
    let (a, b) = (UtcTime::from_micros(first), UtcTime::from_micros(last));
    let date = |t: UtcTime| format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    let minute = |t: UtcTime| format!("{:02}:{:02}", t.hour, t.minute);
    let second = |t: UtcTime| format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
    let same_day = (a.year, a.month, a.day) == (b.year, b.month, b.day);
    if a == b {
        format!("at {a}")
    } else if same_day && (a.hour, a.minute) == (b.hour, b.minute) {
        format!("{} {}–{}", date(a), second(a), second(b))
    } else if same_day {
        format!("{} {}–{}", date(a), minute(a), minute(b))
    } else {
        format!("{} {} – {} {}", date(a), minute(a), date(b), minute(b))
    }
}

/// `psql (pid 5120, user alice)`, `nginx (deleted) (pid 880)` for a
/// process whose executable was deleted since it started, as `ls` names
/// it; names are other users' text, so they are escaped.
pub fn process_label(process: &ProcessIdentity) -> String {
    let mut text = format!("{} (pid {}", sanitize(&process.shown_name()), process.pid);
    if let Some(user) = &process.user {
        text.push_str(&format!(", user {}", sanitize(user)));
    }
    if let Some(unit) = &process.unit {
        text.push_str(&format!(", unit {}", sanitize(unit)));
    }
    if let Some(container) = &process.container {
        text.push_str(&format!(", container {}", sanitize(container)));
    }
    text.push(')');
    text
}

/// Most pids a program line lists one by one; more read as a range.
const PIDS_LISTED: usize = 4;

fn client_label(summary: &ClientSummary) -> String {
    match (&summary.client, summary.client_uid) {
        (Some(process), _) if summary.processes > 1 => program_label(process, summary),
        (Some(process), _) => process_label(process),
        (None, Some(uid)) => format!("an unnamed process (uid {uid})"),
        (None, None) => "an unnamed process".into(),
    }
}

/// `redis-cli PING (412 processes, pids 3001–3990, user alice)`: the
/// name and the arguments the processes of one program share, how many
/// there were and their pids (a range when many). Other users' text is
/// escaped.
fn program_label(process: &ProcessIdentity, summary: &ClientSummary) -> String {
    let mut name = process.shown_name();
    for argument in process.cmdline.iter().skip(1) {
        name.push(' ');
        name.push_str(argument);
    }
    let pids = match summary.pids.as_slice() {
        [] => String::new(),
        [only] => format!(", pid {only}"),
        pids if pids.len() <= PIDS_LISTED => {
            let listed: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!(", pids {}", listed.join(", "))
        }
        [first, .., last] => format!(", pids {first}–{last}"),
    };
    let mut text = format!(
        "{} ({} processes{pids}",
        sanitize(&crate::render::sanitize::elide_long_words(&name)),
        thousands(summary.processes)
    );
    if let Some(user) = &process.user {
        text.push_str(&format!(", user {}", sanitize(user)));
    }
    text.push(')');
    text
}

/// `reused` are pids that stand for more than one process among the
/// listeners shown (the kernel handed the pid out again): their owners say
/// when they started, or two holders read as one that came back; to the
/// hundredth of a second when two of them started within one second.
fn owners_label(owners: &[ProcessIdentity], reused: &Reused) -> String {
    if owners.is_empty() {
        return "no process seen".into();
    }
    let label = |owner: &ProcessIdentity| {
        let mut text = process_label(owner);
        if let Some(start) = owner.start_time.filter(|_| reused.pids.contains(&owner.pid)) {
            text.pop();
            text.push_str(&format!(", started {}", time(start as i64 * 1_000_000)));
            match owner.start_hundredths() {
                Some(hundredths) if reused.within_a_second.contains(&owner.pid) => {
                    text.push_str(&format!(".{hundredths:02}"))
                }
                _ => {}
            }
            text.push(')');
        }
        text
    };
    owners.iter().map(label).collect::<Vec<_>>().join(", ")
}

/// Pids held by more than one process among the listeners shown.
#[derive(Debug, Default, PartialEq)]
struct Reused {
    pids: Vec<u32>,
    /// Those of `pids` whose holders include two that started within
    /// one second: their start is told to the hundredth.
    within_a_second: Vec<u32>,
}

/// The pids held by more than one process (another start) among
/// `listeners`' owners.
fn reused_pids(listeners: &[ListenerHistory]) -> Reused {
    let mut seen: Vec<&ProcessIdentity> = Vec::new();
    let mut reused = Reused::default();
    for owner in listeners.iter().flat_map(|listener| &listener.event.owners) {
        // A start read to the second alone (a record of schema 4 and
        // earlier) may be either holder of its second.
        let others = seen.iter().filter(|other| {
            other.pid == owner.pid
                && (other.start_time != owner.start_time
                    || matches!((other.start_ticks, owner.start_ticks),
                        (Some(a), Some(b)) if a != b))
        });
        for other in others {
            if !reused.pids.contains(&owner.pid) {
                reused.pids.push(owner.pid);
            }
            if other.start_time == owner.start_time && !reused.within_a_second.contains(&owner.pid)
            {
                reused.within_a_second.push(owner.pid);
            }
        }
        seen.push(owner);
    }
    reused
}

fn listener_address(listener: &ListenerHistory) -> String {
    let event = &listener.event;
    match (&event.local, &event.path) {
        (Some(local), _) => local.to_string(),
        (None, Some(path)) => sanitize(path).into_owned(),
        (None, None) => format!("inode {}", event.inode),
    }
}

/// Whether an `[::]` listener takes IPv4 clients too, as recorded: `None`
/// for any other address, and where the store kept no `IPV6_V6ONLY` (a
/// record of schema 1, a source that could not read it).
/// The scope as `ls` names it (`wildcard+v4` for a dual-stack `[::]`), or
/// `wildcard (IPv6 only)` for an `IPV6_V6ONLY` one; `exposed` joins the
/// parenthesis.
fn scope_label(event: &ListenerEvent) -> String {
    let exposed = if event.exposed { "exposed" } else { "" };
    let (scope, notes) = match event.dual_stack() {
        Some(true) => ("wildcard+v4", vec![exposed]),
        Some(false) => ("wildcard", vec!["IPv6 only", exposed]),
        None => (event.scope.as_str(), vec![exposed]),
    };
    let notes: Vec<&str> = notes.into_iter().filter(|note| !note.is_empty()).collect();
    if notes.is_empty() {
        scope.to_string()
    } else {
        format!("{scope} ({})", notes.join(", "))
    }
}

/// The listener's address, with its transport when `transport` says so
/// (`127.0.0.1:53/udp`, as `porthole 53/udp` asks about it), and with
/// `(IPv6 only)` or `(IPv4 too)` after an `[::]` whose flag was recorded.
fn listener_place(listener: &ListenerHistory, transport: Transport) -> String {
    let address = format!("{}{}", listener_address(listener), transport.of(&listener.event));
    match listener.event.dual_stack() {
        Some(true) => format!("{address} (IPv4 too)"),
        Some(false) => format!("{address} (IPv6 only)"),
        None => address,
    }
}

/// Whether the History section of `porthole PORT` names each listener's
/// transport: a TCP and a UDP service on one port are two services, and a
/// line that left it out would tell the UDP one's past as the TCP port's.
/// Only TCP is the common case and stays unlabelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Named,
    Unnamed,
}

impl Transport {
    /// Named as soon as one of `listeners` is not TCP.
    fn for_listeners(listeners: &[ListenerHistory]) -> Self {
        if listeners.iter().any(|listener| listener.event.protocol != Protocol::Tcp) {
            Transport::Named
        } else {
            Transport::Unnamed
        }
    }

    /// `/tcp`, `/udp` after an address, or nothing.
    fn of(self, event: &ListenerEvent) -> String {
        match self {
            Transport::Named => format!("/{}", event.protocol),
            Transport::Unnamed => String::new(),
        }
    }
}

fn change_label(change: ListenerChange) -> &'static str {
    match change {
        ListenerChange::Appeared => "listening",
        ListenerChange::Disappeared => "gone",
    }
}

fn host_prefix(host: &Option<String>, show: bool) -> String {
    match host {
        Some(host) if show => format!("[{}] ", sanitize(host)),
        _ => String::new(),
    }
}

fn loss_label(kind: LossKind) -> &'static str {
    match kind {
        LossKind::NetlinkOverflow => "lost to a netlink buffer overflow (ENOBUFS)",
        LossKind::RingBufferFull => "lost to a full eBPF ring buffer",
        LossKind::UnmatchedCookie => "closes whose start was never seen",
        LossKind::UnknownProcess => "processes that exited before they could be named",
        LossKind::StoreBacklog => "dropped because the store could not keep up",
        LossKind::ProgramSkipped => "eBPF program runs the kernel skipped",
        LossKind::UnseenListener => "UDP listeners that came and went between two dumps",
    }
}

fn mode_label(mode: CaptureMode) -> &'static str {
    match mode {
        CaptureMode::Ebpf => "eBPF (both ends of every connection named)",
        CaptureMode::Netlink => "netlink (clients named only for connections alive at a dump)",
    }
}

/// Rows of `--each` a text table is sized by.
const FIRST_BATCH: usize = 1000;

fn write_text(
    out: &mut dyn Write,
    report: &HistoryReport,
    rows: &mut Rows<'_>,
    style: Style,
) -> std::io::Result<()> {
    // The first batch, and one more to tell whether it is all there is.
    let first: Vec<ConnectionHistory> = rows.by_ref().take(FIRST_BATCH + 1).collect();
    let query = &report.query;
    let subject = match (query.port, query.addresses.as_slice()) {
        (Some(port), []) => format!("port {port}"),
        (Some(port), [address]) => format!("{}", std::net::SocketAddr::new(*address, port)),
        (Some(port), addresses) => {
            let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            format!("port {port} on {}", list.join(", "))
        }
        (None, _) => "every port".into(),
    };
    // Spelled as it is asked: `port 5353/udp`, `unix:/run/app.sock`.
    let subject = match (&query.path, query.protocol) {
        (Some(path), _) => format!("unix:{}", sanitize(path)),
        (None, Some(Protocol::Unix)) => "Unix listeners".into(),
        (None, Some(protocol)) if query.port.is_some() => {
            format!("{subject}/{}", protocol.as_str())
        }
        (None, Some(protocol)) => format!("{subject} ({})", protocol.as_str()),
        (None, None) => subject,
    };
    let mut heading = format!("History of {subject}");
    if let Some(process) = &query.process {
        heading.push_str(&format!(" involving '{}'", sanitize(process)));
    }
    if let Some(host) = &query.host {
        heading.push_str(&format!(" on {}", sanitize(host)));
    }
    match (query.since, query.until) {
        (Some(since), Some(until)) => {
            heading.push_str(&format!(", {} – {}", time(since), time(until)))
        }
        (Some(since), None) => heading.push_str(&format!(", since {}", time(since))),
        (None, Some(until)) => heading.push_str(&format!(", until {}", time(until))),
        (None, None) => {}
    }
    writeln!(out, "{} (UTC, from {})", style.bold(&heading), sanitize(&report.store))?;
    if report.is_empty() && first.is_empty() {
        writeln!(out, "  nothing recorded")?;
    }
    // Show machine names only when the store holds more than one.
    let mut hosts: Vec<&String> = report
        .listeners
        .iter()
        .map(|l| &l.host)
        .chain(report.clients.iter().map(|c| &c.host))
        .chain(first.iter().map(|c| &c.host))
        .flatten()
        .collect();
    hosts.sort();
    hosts.dedup();
    let show_hosts = hosts.len() > 1;
    // Namespaces are named when the records come from several, or from
    // one other than the one asked in.
    let here = report.net_namespace;
    let show_netns =
        |labels: &mut dyn Iterator<Item = Option<u64>>| several_namespaces(labels, here);

    if !report.listeners.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Listeners"))?;
        let show_netns = show_netns(&mut report.listeners.iter().map(|l| l.event.net_namespace));
        let mut headers = vec!["TIME", "CHANGE", "PROTO", "LOCAL", "SCOPE"];
        headers.extend(show_netns.then_some("NETNS"));
        headers.push("PROCESS");
        let mut table = Table::new(&headers);
        let reused = reused_pids(&report.listeners);
        for listener in &report.listeners {
            let event = &listener.event;
            let scope = scope_label(event);
            let mut row = vec![
                format!("{}{}", host_prefix(&listener.host, show_hosts), time(event.at)),
                change_label(event.change).to_string(),
                event.protocol.as_str().to_string(),
                listener_address(listener),
                scope,
            ];
            row.extend(show_netns.then(|| netns_label(event.net_namespace)));
            row.push(owners_label(&event.owners, &reused));
            table.push(row);
        }
        table.write(out, style.width, "  ")?;
        if report.listeners_truncated {
            writeln!(
                out,
                "  … earlier changes match too (the newest {} are shown); narrow --since/--until",
                report.listeners.len()
            )?;
        }
    }
    if !report.clients.is_empty() {
        let show_netns = show_netns(&mut report.clients.iter().map(|c| c.net_namespace));
        let shown =
            ClientsShown { hosts: show_hosts, netns: show_netns, servers: report.several_servers };
        write_clients(out, &report.clients, shown, style)?;
        if report.clients_truncated {
            writeln!(
                out,
                "  … less busy clients match too (the busiest {} are shown); narrow with --process or --since/--until",
                report.clients.len()
            )?;
        }
    }
    if !first.is_empty() {
        let show_netns = show_netns(&mut first.iter().map(|c| c.record.net_namespace));
        let shown =
            Shown { hosts: &hosts, show_hosts, show_netns, show_server: report.several_servers };
        write_connections(out, &first, rows, shown, style)?;
        if rows.cut {
            writeln!(out, "  … more connections match; narrow --since/--until or raise --limit")?;
        }
    }
    if !report.hourly.is_empty() {
        let show_netns = show_netns(&mut report.hourly.iter().map(|h| h.net_namespace));
        write_hourly(out, &report.hourly, show_hosts, show_netns, style)?;
    }
    let show_netns = show_netns(&mut report.sessions.iter().map(|s| s.net_namespace));
    write_sessions(out, &report.sessions, show_hosts, show_netns)?;
    write_losses(out, &report.losses, show_hosts, style)?;
    Ok(())
}

/// Whether records of the namespaces `labels` need their namespace named:
/// they come from more than one, or from one other than `here` (the one
/// the question was asked in).
fn several_namespaces(labels: &mut dyn Iterator<Item = Option<u64>>, here: Option<u64>) -> bool {
    let Some(first) = labels.next() else { return false };
    if first.is_some() && first != here {
        return true;
    }
    for label in labels {
        if label != first {
            return true;
        }
    }
    false
}

/// What the client blocks name besides their server end.
struct ClientsShown {
    hosts: bool,
    netns: bool,
    /// The server program of each block (several served the answer).
    servers: bool,
}

/// Most characters of a server's command line a heading shows.
const SERVER_LABEL_CHARS: usize = 60;

/// `python3 -m http.server 7000 (pid 812, user alice)`: the server program
/// a block of clients connected to, by the command line of its first
/// process (what a user started it with); other users' text is escaped.
fn server_label(process: Option<&ProcessIdentity>) -> String {
    let Some(process) = process else {
        return "an unnamed process".into();
    };
    let mut name = process.shown_name();
    for argument in process.cmdline.iter().skip(1) {
        name.push(' ');
        name.push_str(argument);
    }
    // A heading, not the whole command line (a script passed with `-c`).
    if let Some((cut, _)) = name.char_indices().nth(SERVER_LABEL_CHARS) {
        name.truncate(cut);
        name.push('…');
    }
    let mut text = format!(
        "{} (pid {}",
        sanitize(&crate::render::sanitize::elide_long_words(&name)),
        process.pid
    );
    if let Some(user) = &process.user {
        text.push_str(&format!(", user {}", sanitize(user)));
    }
    text.push(')');
    text
}

fn write_clients(
    out: &mut dyn Write,
    clients: &[ClientSummary],
    shown: ClientsShown,
    style: Style,
) -> std::io::Result<()> {
    let ClientsShown { hosts: show_hosts, netns: show_netns, servers: show_servers } = shown;
    // One block per server endpoint (of one machine and namespace), and
    // per server program when several served, in the order of its first
    // client.
    let program = |summary: &ClientSummary| {
        summary
            .server_process
            .as_ref()
            .filter(|_| show_servers)
            .map(crate::store::server_program_of)
    };
    type Server<'a> = (
        &'a Option<String>,
        Option<u64>,
        std::net::SocketAddr,
        Option<crate::store::ServerProgram>,
    );
    let mut servers: Vec<(Server<'_>, Option<&ProcessIdentity>)> = Vec::new();
    for summary in clients {
        let server = (&summary.host, summary.net_namespace, summary.server, program(summary));
        if !servers.iter().any(|(known, _)| *known == server) {
            servers.push((server, summary.server_process.as_ref()));
        }
    }
    for (served, server_process) in servers {
        let (host, net_namespace, server, _) = served;
        let group: Vec<&ClientSummary> = clients
            .iter()
            .filter(|c| (&c.host, c.net_namespace, c.server, program(c)) == served)
            .collect();
        let total: u64 = group.iter().map(|c| c.connections).sum();
        let mut namespace = match net_namespace {
            Some(inode) if show_netns => format!(" in network namespace {inode}"),
            None if show_netns => " (network namespace not recorded)".to_string(),
            _ => String::new(),
        };
        if show_servers {
            namespace.push_str(&format!(" served by {}", server_label(server_process)));
        }
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style.bold(&format!(
                "{}Clients of {server}{namespace} ({} connection{})",
                host_prefix(host, show_hosts),
                thousands(total),
                if total == 1 { "" } else { "s" }
            ))
        )?;
        for summary in group {
            let times = if summary.connections == 1 {
                "once".to_string()
            } else {
                format!("{} times", thousands(summary.connections))
            };
            let open = match summary.open {
                0 => String::new(),
                open if open == summary.connections => " (open)".to_string(),
                open => format!(" ({} open)", thousands(open)),
            };
            writeln!(
                out,
                "  {} connected {times}{open}, {}, {}{}",
                client_label(summary),
                span(summary.first_at, summary.last_at),
                bytes(summary.bytes()),
                if summary.open > 0 { " so far" } else { "" },
            )?;
        }
    }
    Ok(())
}

/// The NETNS column: the namespace's inode, `-` for a record a recorder
/// before schema 3 made in its own namespace (not labelled then).
fn netns_label(net_namespace: Option<u64>) -> String {
    net_namespace.map_or_else(|| "-".to_string(), |inode| inode.to_string())
}

fn end_label(end: ConnectionEnd, open: bool) -> &'static str {
    match (end, open) {
        (_, true) => "open",
        (ConnectionEnd::Closed, _) => "closed",
        (ConnectionEnd::Reset, _) => "reset",
        (ConnectionEnd::TimedOut, _) => "timed_out",
        (ConnectionEnd::Unknown, _) => "unknown",
    }
}

/// `12ms`, `3.4s`, `5m02s`, `2h05m`.
fn duration(micros: i64) -> String {
    let micros = micros.max(0);
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", micros / 1_000)
    } else if micros < 60_000_000 {
        format!("{:.1}s", micros as f64 / 1e6)
    } else if micros < 3_600_000_000 {
        format!("{}m{:02}s", micros / 60_000_000, micros / 1_000_000 % 60)
    } else {
        format!("{}h{:02}m", micros / 3_600_000_000, micros / 60_000_000 % 60)
    }
}

/// What the text of single connections names, as decided from the
/// sections before them and the first batch of rows.
struct Shown<'a> {
    /// The machines of the rows seen so far.
    hosts: &'a [&'a String],
    show_hosts: bool,
    show_netns: bool,
    /// A SERVER PROCESS column: several server programs served the rows.
    show_server: bool,
}

/// The single connections: `first` (a batch, one past [`FIRST_BATCH`] when
/// more follow) sizes the columns, the rest of `rows` follow as they come.
fn write_connections(
    out: &mut dyn Write,
    first: &[ConnectionHistory],
    rows: &mut Rows<'_>,
    shown: Shown<'_>,
    style: Style,
) -> std::io::Result<()> {
    writeln!(out)?;
    let whole = first.len() <= FIRST_BATCH;
    if whole {
        writeln!(out, "{} ({})", style.bold("Connections"), thousands(first.len() as u64))?;
    } else {
        // How many is known at the end.
        writeln!(out, "{}", style.bold("Connections"))?;
    }
    let mut headers = vec!["TIME", "DURATION", "CLIENT", "SERVER", "SENT", "RECEIVED", "END"];
    headers.extend(shown.show_netns.then_some("NETNS"));
    headers.push("CLIENT PROCESS");
    headers.extend(shown.show_server.then_some("SERVER PROCESS"));
    // A later row of a machine the first batch did not show names its
    // machine from then on; one of another namespace, when no column names
    // them, names its namespace on its own line.
    let namespace = first.first().and_then(|c| c.record.net_namespace);
    let mut show_hosts = shown.show_hosts;
    let mut cells = |connection: &ConnectionHistory| {
        let new_host = connection.host.as_ref().is_some_and(|h| !shown.hosts.contains(&h));
        show_hosts |= new_host && !shown.hosts.is_empty();
        let mut cells = connection_cells(connection, show_hosts, shown.show_netns);
        if !shown.show_netns && connection.record.net_namespace != namespace {
            // After the client process, the column it names the namespace in.
            if let Some(last) = cells.last_mut() {
                let label = netns_label(connection.record.net_namespace);
                last.push_str(&format!(" (network namespace {label})"));
            }
        }
        if shown.show_server {
            cells.push(server_label(connection.record.server_process.as_ref()));
        }
        cells
    };
    let fill = |cells: &Vec<String>, row: &mut super::table::Row<'_>| {
        for cell in cells {
            row.cell(cell);
        }
    };
    let sample: Vec<Vec<String>> = first.iter().take(FIRST_BATCH).map(&mut cells).collect();
    let mut table = Table::start_stream(
        &headers,
        &sample,
        fill,
        out,
        style.width,
        "  ",
        super::table::Overflow::Truncate,
    )?;
    for row in &sample {
        table.stream_row(out, |line| fill(row, line))?;
    }
    for connection in first.iter().skip(FIRST_BATCH).cloned().chain(rows.by_ref()) {
        let row = cells(&connection);
        table.stream_row(out, |line| fill(&row, line))?;
    }
    if !whole {
        writeln!(out, "  {} connections", thousands(rows.written))?;
    }
    Ok(())
}

/// The cells of one connection's row.
fn connection_cells(
    connection: &ConnectionHistory,
    show_hosts: bool,
    show_netns: bool,
) -> Vec<String> {
    let record = &connection.record;
    let at = record.started_at.or(record.ended_at).unwrap_or(connection.seen_at);
    let length = match (record.started_at, record.ended_at) {
        (Some(start), Some(end)) => duration(end - start),
        // Open: TIME says since when (the first report, when the start
        // was not seen), SENT and RECEIVED what it moved so far.
        _ => "-".into(),
    };
    let client = match (&record.client_process, record.client_uid) {
        (Some(process), _) => process_label(process),
        (None, Some(uid)) => format!("unnamed (uid {uid})"),
        (None, None) => "unnamed".into(),
    };
    let mut row = vec![
        format!("{}{}", host_prefix(&connection.host, show_hosts), time(at)),
        length,
        record.client.to_string(),
        record.server.to_string(),
        bytes(record.bytes_client_to_server),
        bytes(record.bytes_server_to_client),
        end_label(record.end, record.ended_at.is_none()).to_string(),
    ];
    row.extend(show_netns.then(|| netns_label(record.net_namespace)));
    row.push(client);
    row
}

fn write_hourly(
    out: &mut dyn Write,
    hourly: &[HourlyTotal],
    show_hosts: bool,
    show_netns: bool,
    style: Style,
) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        style.bold("Hourly totals (single connections of these hours were pruned)")
    )?;
    let mut headers = vec!["HOUR", "PORT"];
    headers.extend(show_netns.then_some("NETNS"));
    headers.extend(["CLIENT", "CONNECTIONS", "BYTES"]);
    let mut table = Table::new(&headers);
    for total in hourly {
        let hour = UtcTime::from_micros(total.hour);
        let client = match (total.client_name.as_str(), total.client_exe.as_str()) {
            ("", "") => "unnamed".to_string(),
            (name, exe) if exe == name || exe.is_empty() => sanitize(name).into_owned(),
            (name, exe) => format!("{} ({})", sanitize(name), sanitize(exe)),
        };
        let mut row = vec![
            format!(
                "{}{:04}-{:02}-{:02} {:02}:00",
                host_prefix(&total.host, show_hosts),
                hour.year,
                hour.month,
                hour.day,
                hour.hour
            ),
            total.server_port.to_string(),
        ];
        row.extend(show_netns.then(|| netns_label(total.net_namespace)));
        row.extend([
            client,
            thousands(total.connections),
            bytes(total.bytes_client_to_server.saturating_add(total.bytes_server_to_client)),
        ]);
        table.push(row);
    }
    table.write(out, style.width, "  ")
}

fn write_sessions(
    out: &mut dyn Write,
    sessions: &[CaptureSession],
    show_hosts: bool,
    show_netns: bool,
) -> std::io::Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for session in sessions {
        // Recorders of different namespaces take turns on one store: each
        // start says which namespace it recorded from.
        let namespace = match session.net_namespace {
            Some(inode) if show_netns => format!(" in network namespace {inode}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{}Recorder started {}{namespace} in {} mode: {}",
            host_prefix(&session.host, show_hosts),
            time(session.at),
            mode_label(session.mode),
            sanitize(&session.reason)
        )?;
    }
    Ok(())
}

fn write_losses(
    out: &mut dyn Write,
    losses: &[LossSummary],
    show_hosts: bool,
    style: Style,
) -> std::io::Result<()> {
    if losses.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", style.yellow("Gaps: the recorder knows it missed"))?;
    for loss in losses {
        writeln!(
            out,
            "  {}{} {}, {}",
            host_prefix(&loss.host, show_hosts),
            thousands(loss.count),
            loss_label(loss.kind),
            span(loss.first_at, loss.last_at)
        )?;
    }
    Ok(())
}

/// The "History" section of `porthole PORT`: who held the port before,
/// when it was last free, the most frequent clients. `live` are the port's
/// listeners now: the record ends where the recorder stopped, so its last
/// word is checked against them rather than told as the present.
pub fn write_port_history(
    out: &mut dyn Write,
    history: &PortHistory,
    live: &LiveListeners<'_>,
    style: Style,
) -> std::io::Result<()> {
    if history.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{} (UTC, from {})", style.bold("History"), sanitize(&history.store))?;
    let reused = reused_pids(&history.recent_listeners);
    let transport = Transport::for_listeners(&history.recent_listeners);
    if let Some(last) = history.recent_listeners.first() {
        writeln!(out, "  {}", last_listener_line(last, live, &reused, transport))?;
    }
    for earlier in history.recent_listeners.iter().skip(1) {
        let event = &earlier.event;
        writeln!(
            out,
            "  before: {} {} on {}{}, {}",
            change_label(event.change),
            time(event.at),
            listener_place(earlier, transport),
            live.elsewhere(event.net_namespace),
            owners_label(&event.owners, &reused)
        )?;
    }
    if !history.frequent_clients.is_empty() {
        writeln!(out, "  most frequent clients since {}:", time(history.clients_since))?;
        for summary in &history.frequent_clients {
            // An open connection's last time is its start (or first
            // report): "open now" says more.
            let last = match summary.open {
                0 => format!("last {}", time(summary.last_at)),
                open => format!("{} open now", thousands(open)),
            };
            writeln!(
                out,
                "    {} — {} connection{} to {}{}, {last}",
                client_label(summary),
                thousands(summary.connections),
                if summary.connections == 1 { "" } else { "s" },
                summary.server,
                live.elsewhere(summary.net_namespace),
            )?;
        }
    }
    Ok(())
}

/// The listeners `porthole PORT` found now and the network namespaces it
/// looked in, which the record is held against.
#[derive(Debug, Clone, Copy)]
pub struct LiveListeners<'a> {
    pub sockets: &'a [Socket],
    /// Inode of porthole's own namespace: what no namespace means among
    /// `sockets`, and in the record (there it is the recorder's own, taken
    /// to be this one).
    pub own_namespace: u64,
    /// The one namespace looked in (porthole's own, or `--netns NAME`);
    /// `None` with `--netns all`.
    pub only: Option<u64>,
    /// The `porthole PORT --netns all` that looks in every namespace, as
    /// the user runs it (this build's path, the transport flag typed).
    pub everywhere: &'a str,
}

impl LiveListeners<'_> {
    fn namespace_of(&self, label: Option<u64>) -> u64 {
        label.unwrap_or(self.own_namespace)
    }

    /// ` in network namespace N` for a record of a namespace other than
    /// porthole's own, else nothing.
    fn elsewhere(&self, label: Option<u64>) -> String {
        match self.namespace_of(label) {
            inode if inode == self.own_namespace => String::new(),
            inode => format!(" in network namespace {inode}"),
        }
    }
}

/// The newest recorded listener change, as it stands against the live
/// listeners of its namespace: "listening since" and "free since" only when
/// the port still looks that way, else what the record says and that the
/// recorder did not see what followed (it was stopped). A change in a
/// namespace that was not looked in is told as recorded, with the command
/// that looks there.
fn last_listener_line(
    last: &ListenerHistory,
    live: &LiveListeners<'_>,
    reused: &Reused,
    transport: Transport,
) -> String {
    const UNSEEN: &str = "which the recorder did not see (is it running?)";
    let event = &last.event;
    let owners = owners_label(&event.owners, reused);
    let recorded_in = live.namespace_of(event.net_namespace);
    let elsewhere = live.elsewhere(event.net_namespace);
    if live.only.is_some_and(|only| only != recorded_in) {
        return format!(
            "recorded {} {} on {}{elsewhere}: {owners}; not looked in here \
             ({} looks there too)",
            change_label(event.change),
            time(event.at),
            listener_place(last, transport),
            live.everywhere,
        );
    }
    let live: Vec<&Socket> =
        live.sockets.iter().filter(|s| live.namespace_of(s.net_namespace) == recorded_in).collect();
    let same: Vec<&Socket> = live
        .iter()
        .copied()
        .filter(|socket| socket.protocol == event.protocol && socket.local == event.local)
        .collect();
    let recorded_pids: Vec<u32> = event.owners.iter().map(|owner| owner.pid).collect();
    let same_owner = same.iter().any(|socket| {
        socket.owners.is_empty() || socket.owners.iter().any(|pid| recorded_pids.contains(pid))
    });
    let address = format!("{}{elsewhere}", listener_place(last, transport));
    // The lines that name no address name it when the transport is told.
    let named = match transport {
        Transport::Named => format!(" on {}", listener_place(last, transport)),
        Transport::Unnamed => String::new(),
    };
    // Which families an `[::]` took is not visible in "listening since".
    let family = match event.dual_stack() {
        Some(true) => " (IPv4 too)",
        Some(false) => " (IPv6 only)",
        None => "",
    };
    match event.change {
        ListenerChange::Appeared if !same.is_empty() && (same_owner || recorded_pids.is_empty()) => {
            let family = if named.is_empty() { family } else { "" };
            format!("listening since {}{named}{family}{elsewhere}: {owners}", time(event.at))
        }
        ListenerChange::Appeared if !same.is_empty() => format!(
            "recorded listening since {} on {address}: {owners}; another process holds it now, {UNSEEN}",
            time(event.at)
        ),
        ListenerChange::Appeared => format!(
            "recorded listening since {} on {address}: {owners}; not listening now, {UNSEEN}",
            time(event.at)
        ),
        ListenerChange::Disappeared if live.is_empty() => {
            format!("free since {}{elsewhere} (last held by {owners}{named})", time(event.at))
        }
        ListenerChange::Disappeared if same.is_empty() => {
            format!("{address} free since {} (last held by {owners})", time(event.at))
        }
        ListenerChange::Disappeared => format!(
            "recorded gone {} on {address} (held by {owners}); listening again now, {UNSEEN}",
            time(event.at)
        ),
    }
}

// ------------------------------------------------------------------ JSON

/// A listener change as history writes it (with its machine).
fn listener_record(listener: &ListenerHistory) -> ListenerChangeRecord {
    ListenerChangeRecord::of(
        &listener.event,
        ListenerChangeLayout::History,
        listener.host.as_deref(),
    )
}

/// The connections of one client process to one server endpoint.
#[derive(Debug, Serialize)]
pub struct ClientWire {
    pub server_address: String,
    pub server_port: u16,
    /// `null` when the recorder could not name the client.
    pub process: Option<ProcessLine>,
    pub uid: Option<u32>,
    /// How many processes (pid and start time) the line adds up: more than
    /// one for a program (`--by program`), 0 for an unnamed client;
    /// `process` is the one that connected first. (`processes` names lists
    /// of process objects elsewhere.)
    pub process_count: u64,
    /// Their distinct pids, ascending.
    pub pids: Vec<u32>,
    pub connections: u64,
    /// How many of them are still open (their bytes are so far).
    pub open: u64,
    pub first_at: String,
    pub last_at: String,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    /// Inode of the server end's network namespace; `null` for records a
    /// recorder before schema 3 made in its own namespace.
    pub net_namespace: Option<u64>,
    pub host: Option<String>,
    /// The server process of the group's first connection: the groups are
    /// of one server program (executable and user); `null` when
    /// the recorder could not name it.
    pub server_process: Option<ProcessLine>,
}

impl ClientWire {
    fn from_summary(summary: &ClientSummary) -> Self {
        ClientWire {
            server_address: summary.server.ip().to_string(),
            server_port: summary.server.port(),
            process: summary.client.as_ref().map(ProcessLine::of),
            uid: summary.client_uid,
            process_count: summary.processes,
            pids: summary.pids.clone(),
            connections: summary.connections,
            open: summary.open,
            first_at: rfc3339(summary.first_at),
            last_at: rfc3339(summary.last_at),
            bytes_client_to_server: summary.bytes_client_to_server,
            bytes_server_to_client: summary.bytes_server_to_client,
            net_namespace: summary.net_namespace,
            host: summary.host.clone(),
            server_process: summary.server_process.as_ref().map(ProcessLine::of),
        }
    }
}

/// One connection.
#[derive(Debug, Serialize)]
pub struct ConnectionWire {
    pub client_address: String,
    pub client_port: u16,
    pub server_address: String,
    pub server_port: u16,
    /// `null` when the start was not seen.
    pub started_at: Option<String>,
    /// `null` while open.
    pub ended_at: Option<String>,
    /// While open: since when, the start when known, else the time it was
    /// first reported open (it began no later). `null` once ended.
    pub open_since: Option<String>,
    pub duration_us: Option<i64>,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    /// `closed`, `reset`, `timed_out`, `unknown`, or `open`.
    pub end: &'static str,
    pub client_process: Option<ProcessLine>,
    pub server_process: Option<ProcessLine>,
    pub client_uid: Option<u32>,
    pub server_uid: Option<u32>,
    pub cookie: u64,
    pub net_namespace: Option<u64>,
    pub host: Option<String>,
}

impl ConnectionWire {
    fn from_connection(connection: &ConnectionHistory) -> Self {
        let record = &connection.record;
        ConnectionWire {
            client_address: record.client.ip().to_string(),
            client_port: record.client.port(),
            server_address: record.server.ip().to_string(),
            server_port: record.server.port(),
            started_at: record.started_at.map(rfc3339),
            ended_at: record.ended_at.map(rfc3339),
            open_since: record
                .ended_at
                .is_none()
                .then(|| rfc3339(record.started_at.unwrap_or(connection.seen_at))),
            duration_us: record.started_at.zip(record.ended_at).map(|(s, e)| e - s),
            bytes_client_to_server: record.bytes_client_to_server,
            bytes_server_to_client: record.bytes_server_to_client,
            end: end_label(record.end, record.ended_at.is_none()),
            client_process: record.client_process.as_ref().map(ProcessLine::of),
            server_process: record.server_process.as_ref().map(ProcessLine::of),
            client_uid: record.client_uid,
            server_uid: record.server_uid,
            cookie: record.cookie,
            net_namespace: record.net_namespace,
            host: connection.host.clone(),
        }
    }
}

/// Totals of one hour, server port and client executable.
#[derive(Debug, Serialize)]
pub struct HourlyWire {
    pub hour: String,
    pub server_port: u16,
    pub client_exe: String,
    pub client_name: String,
    pub connections: u64,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    /// `null` for totals of schema 1 and 2, kept for all namespaces
    /// together.
    pub net_namespace: Option<u64>,
    pub host: Option<String>,
}

impl HourlyWire {
    fn from_total(total: &HourlyTotal) -> Self {
        HourlyWire {
            hour: rfc3339(total.hour),
            server_port: total.server_port,
            client_exe: total.client_exe.clone(),
            client_name: total.client_name.clone(),
            connections: total.connections,
            bytes_client_to_server: total.bytes_client_to_server,
            bytes_server_to_client: total.bytes_server_to_client,
            net_namespace: total.net_namespace,
            host: total.host.clone(),
        }
    }
}

/// What the recorder knows it missed.
#[derive(Debug, Serialize)]
pub struct LossWire {
    /// `netlink_overflow`, `ring_buffer_full`, `unmatched_cookie`,
    /// `unknown_process`, `store_backlog`, `program_skipped` or
    /// `unseen_listener`.
    pub kind: &'static str,
    pub count: u64,
    pub first_at: String,
    pub last_at: String,
    pub host: Option<String>,
}

/// A recorder start and its capture mode.
#[derive(Debug, Serialize)]
pub struct CaptureWire {
    pub at: String,
    /// `ebpf` or `netlink`.
    pub mode: &'static str,
    pub reason: String,
    /// The recorder's own network namespace; `null` for starts an older
    /// porthole recorded.
    pub net_namespace: Option<u64>,
    pub host: Option<String>,
}

/// `porthole history --json`.
#[derive(Debug, Serialize)]
pub struct HistoryRecord {
    pub schema_version: u32,
    pub store: String,
    pub port: Option<u16>,
    pub addresses: Vec<String>,
    /// The transport asked about (`tcp`, `udp`, `unix`), `null` for all.
    pub protocol: Option<&'static str>,
    /// The Unix socket path asked about (`unix:PATH`).
    pub path: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub listeners: Vec<ListenerChangeRecord>,
    /// Whether earlier listener changes were left out (the newest are
    /// listed).
    pub listeners_truncated: bool,
    pub clients: Vec<ClientWire>,
    /// Whether less busy client groups were left out.
    pub clients_truncated: bool,
    pub connections: Vec<ConnectionWire>,
    /// Whether `connections` was cut at `--limit`.
    pub truncated: bool,
    pub hourly: Vec<HourlyWire>,
    pub losses: Vec<LossWire>,
    pub captures: Vec<CaptureWire>,
}

fn loss_wire(loss: &LossSummary) -> LossWire {
    LossWire {
        kind: crate::model::history::loss_kind_name(loss.kind),
        count: loss.count,
        first_at: rfc3339(loss.first_at),
        last_at: rfc3339(loss.last_at),
        host: loss.host.clone(),
    }
}

fn capture_wire(session: &CaptureSession) -> CaptureWire {
    CaptureWire {
        at: rfc3339(session.at),
        mode: crate::model::history::capture_mode_name(session.mode),
        reason: session.reason.clone(),
        net_namespace: session.net_namespace,
        host: session.host.clone(),
    }
}

impl HistoryRecord {
    pub fn from_report(report: &HistoryReport) -> Self {
        HistoryRecord {
            schema_version: SCHEMA_VERSION,
            store: report.store.clone(),
            port: report.query.port,
            addresses: report.query.addresses.iter().map(ToString::to_string).collect(),
            protocol: report.query.protocol.map(Protocol::as_str),
            path: report.query.path.clone(),
            since: report.query.since.map(rfc3339),
            until: report.query.until.map(rfc3339),
            listeners: report.listeners.iter().map(listener_record).collect(),
            listeners_truncated: report.listeners_truncated,
            clients: report.clients.iter().map(ClientWire::from_summary).collect(),
            clients_truncated: report.clients_truncated,
            connections: report.connections.iter().map(ConnectionWire::from_connection).collect(),
            truncated: report.truncated,
            hourly: report.hourly.iter().map(HourlyWire::from_total).collect(),
            losses: report.losses.iter().map(loss_wire).collect(),
            captures: report.sessions.iter().map(capture_wire).collect(),
        }
    }
}

/// One line of `porthole history --jsonl`: a `type` tag and the record.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HistoryLine {
    Listener(ListenerChangeRecord),
    Client(Box<ClientWire>),
    Connection(Box<ConnectionWire>),
    Hourly(HourlyWire),
    Loss(LossWire),
    Capture(CaptureWire),
    /// After a section that was cut, as `--json` says with its
    /// `*_truncated` fields: a stream reader cannot tell otherwise.
    Truncated(TruncatedWire),
}

/// Which section of a `--jsonl` report left records out, and which ones.
#[derive(Debug, Serialize)]
pub struct TruncatedWire {
    /// `listeners`, `clients` or `connections`.
    pub section: &'static str,
    /// Which records were left out: the oldest listener changes, the least
    /// busy client groups, the newest connections past `--limit`.
    pub left_out: &'static str,
}

/// The `truncated` line after a section, when it was cut.
fn truncated_line(cut: bool, section: &'static str, left_out: &'static str) -> Option<HistoryLine> {
    cut.then_some(HistoryLine::Truncated(TruncatedWire { section, left_out }))
}

fn write_jsonl(
    out: &mut dyn Write,
    report: &HistoryReport,
    rows: &mut Rows<'_>,
) -> std::io::Result<()> {
    let lines = report
        .sessions
        .iter()
        .map(|s| HistoryLine::Capture(capture_wire(s)))
        .chain(report.listeners.iter().map(|l| HistoryLine::Listener(listener_record(l))))
        .chain(truncated_line(report.listeners_truncated, "listeners", "oldest"))
        .chain(
            report
                .clients
                .iter()
                .map(|c| HistoryLine::Client(Box::new(ClientWire::from_summary(c)))),
        )
        .chain(truncated_line(report.clients_truncated, "clients", "least_busy"));
    for line in lines {
        write_line(out, &line)?;
    }
    for connection in rows.by_ref() {
        let wire = ConnectionWire::from_connection(&connection);
        write_line(out, &HistoryLine::Connection(Box::new(wire)))?;
    }
    let lines = truncated_line(rows.cut, "connections", "newest")
        .into_iter()
        .chain(report.hourly.iter().map(|h| HistoryLine::Hourly(HourlyWire::from_total(h))))
        .chain(report.losses.iter().map(|l| HistoryLine::Loss(loss_wire(l))));
    for line in lines {
        write_line(out, &line)?;
    }
    Ok(())
}

fn write_line(out: &mut dyn Write, line: &HistoryLine) -> std::io::Result<()> {
    super::sanitize::write_json(&mut *out, line)?;
    writeln!(out)
}

/// `--json`: the document as [`HistoryRecord`] writes it, its
/// `connections` written one element at a time as they come.
fn write_json(
    out: &mut dyn Write,
    report: &HistoryReport,
    rows: &mut Rows<'_>,
) -> std::io::Result<()> {
    // The record without connections, split where they go: no string of
    // the document holds this text (its quotes would be escaped), and no
    // other `connections` is an array.
    const SLOT: &str = "\n  \"connections\": []";
    let mut record =
        HistoryRecord::from_report(&HistoryReport { connections: Vec::new(), ..report.clone() });
    let document = |record: &HistoryRecord| -> std::io::Result<String> {
        let mut text = Vec::new();
        super::sanitize::write_json_pretty(&mut text, record)?;
        String::from_utf8(text).map_err(std::io::Error::other)
    };
    let before = document(&record)?;
    let at = before.find(SLOT).ok_or_else(|| std::io::Error::other("no connections field"))?;
    out.write_all(&before.as_bytes()[..at + SLOT.len() - 1])?;
    let mut element = Vec::new();
    let mut any = false;
    for connection in rows.by_ref() {
        element.clear();
        super::sanitize::write_json_pretty(
            &mut element,
            &ConnectionWire::from_connection(&connection),
        )?;
        out.write_all(if any { b",\n" } else { b"\n" })?;
        any = true;
        // One level deeper than on its own: four more spaces a line
        // (strings hold no newline: JSON escapes it).
        for (index, line) in element.split(|&byte| byte == b'\n').enumerate() {
            if index > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(b"    ")?;
            out.write_all(line)?;
        }
    }
    out.write_all(if any { b"\n  ]" } else { b"]" })?;
    // The fields after the connections say whether the list was cut.
    record.truncated = rows.cut;
    let after = document(&record)?;
    let at = after.find(SLOT).ok_or_else(|| std::io::Error::other("no connections field"))?;
    out.write_all(&after.as_bytes()[at + SLOT.len()..])?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Scope};

    #[test]
    fn numbers_sizes_and_spans() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1203), "1,203");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2_100_000), "2.1 MB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(duration(12_345), "12ms");
        assert_eq!(duration(302_000_000), "5m02s");
        let at = 1_795_860_120_000_000; // 2026-11-28 10:02:00
        assert_eq!(span(at, at + 39 * 60_000_000), "2026-11-28 10:02–10:41");
        assert_eq!(span(at, at + 5_000_000), "2026-11-28 10:02:00–10:02:05");
        assert_eq!(span(at, at + 5_000), "at 2026-11-28 10:02:00");
        assert_eq!(span(at, at + 86_400_000_000), "2026-11-28 10:02 – 2026-11-29 10:02");
        assert_eq!(rfc3339(at + 7), "2026-11-28T10:02:00.000007Z");
    }

    /// A recorded Unix listener has no uid, written `null` as `ls --json`
    /// and `monitor --jsonl` write it, not the kernel's `u32::MAX`.
    #[test]
    fn a_unix_listener_has_a_null_uid() {
        use crate::model::monitor::ListenerEvent;
        use crate::model::{Family, Protocol, Scope};
        let event = |uid| ListenerHistory {
            host: None,
            event: ListenerEvent {
                at: 0,
                change: ListenerChange::Appeared,
                protocol: Protocol::Unix,
                family: Family::Unix,
                local: None,
                path: Some("/run/app.sock".into()),
                inode: 42,
                uid,
                net_namespace: None,
                scope: Scope::Local,
                exposed: false,
                v6only: None,
                owners: Vec::new(),
            },
        };
        let unix = serde_json::to_value(listener_record(&event(u32::MAX))).unwrap();
        assert_eq!(unix["uid"], serde_json::Value::Null, "{unix}");
        assert_eq!(unix["at"], "1970-01-01T00:00:00.000000Z");
        let owned = serde_json::to_value(listener_record(&event(1000))).unwrap();
        assert_eq!(owned["uid"], 1000);
    }

    #[test]
    fn scopes_say_which_families_a_wildcard_takes() {
        let event = |local: &str, v6only: Option<bool>, exposed: bool| ListenerEvent {
            at: 0,
            change: ListenerChange::Appeared,
            protocol: crate::model::Protocol::Tcp,
            family: if local.starts_with('[') { Family::Ipv6 } else { Family::Ipv4 },
            local: Some(local.parse().unwrap()),
            path: None,
            inode: 1,
            uid: 0,
            net_namespace: None,
            scope: Scope::of_address(local.parse::<std::net::SocketAddr>().unwrap().ip()),
            exposed,
            v6only,
            owners: Vec::new(),
        };
        assert_eq!(
            scope_label(&event("[::]:80", Some(true), true)),
            "wildcard (IPv6 only, exposed)"
        );
        assert_eq!(scope_label(&event("[::]:80", Some(true), false)), "wildcard (IPv6 only)");
        assert_eq!(scope_label(&event("[::]:80", Some(false), true)), "wildcard+v4 (exposed)");
        assert_eq!(scope_label(&event("[::]:80", None, true)), "wildcard (exposed)");
        assert_eq!(scope_label(&event("[::1]:80", Some(true), false)), "loopback");
        assert_eq!(scope_label(&event("0.0.0.0:80", None, false)), "wildcard");
    }

    /// A pid the kernel handed out again reads as two processes: each
    /// holder says when it started; a pid held by one process does not.
    #[test]
    fn reused_pids_say_when_each_holder_started() {
        let holder = |start: u64| ProcessIdentity {
            pid: 4000,
            start_time: Some(start),
            name: "python3".into(),
            ..ProcessIdentity::default()
        };
        let held = |owner: ProcessIdentity, change: ListenerChange| ListenerHistory {
            host: None,
            event: ListenerEvent {
                at: 0,
                change,
                protocol: crate::model::Protocol::Tcp,
                family: Family::Ipv4,
                local: Some("127.0.0.1:8000".parse().unwrap()),
                path: None,
                inode: 1,
                uid: 0,
                net_namespace: None,
                scope: Scope::Loopback,
                exposed: false,
                v6only: None,
                owners: vec![owner],
            },
        };
        // 2026-11-28 09:00:00 and 10:00:00 UTC.
        let (first, second) = (1_795_856_400, 1_795_860_000);
        let listeners = vec![
            held(holder(first), ListenerChange::Appeared),
            held(holder(first), ListenerChange::Disappeared),
            held(holder(second), ListenerChange::Appeared),
        ];
        let reused = reused_pids(&listeners);
        assert_eq!(reused.pids, vec![4000]);
        assert!(reused.within_a_second.is_empty());
        assert_eq!(
            owners_label(&listeners[2].event.owners, &reused),
            "python3 (pid 4000, started 2026-11-28 10:00:00)"
        );
        assert_eq!(reused_pids(&listeners[..2]), Reused::default());
        assert_eq!(
            owners_label(&listeners[0].event.owners, &Reused::default()),
            "python3 (pid 4000)"
        );

        // Two holders within one second, told apart by their start in
        // clock ticks: to the hundredth; one read to the second alone (an
        // older record) is no other holder.
        let ticked = |ticks: Option<u64>| ProcessIdentity { start_ticks: ticks, ..holder(second) };
        let listeners = vec![
            held(ticked(Some(123_437)), ListenerChange::Appeared),
            held(ticked(None), ListenerChange::Disappeared),
            held(ticked(Some(123_481)), ListenerChange::Appeared),
        ];
        let reused = reused_pids(&listeners);
        assert_eq!(reused, Reused { pids: vec![4000], within_a_second: vec![4000] });
        let labels: Vec<String> =
            listeners.iter().map(|l| owners_label(&l.event.owners, &reused)).collect();
        assert_eq!(
            labels,
            [
                "python3 (pid 4000, started 2026-11-28 10:00:00.37)",
                "python3 (pid 4000, started 2026-11-28 10:00:00)",
                "python3 (pid 4000, started 2026-11-28 10:00:00.81)",
            ]
        );
        assert_eq!(reused_pids(&listeners[..2]), Reused::default());
    }

    #[test]
    fn names_are_escaped() {
        let process = ProcessIdentity {
            pid: 7,
            name: "evil\nname".into(),
            user: Some("bob".into()),
            ..ProcessIdentity::default()
        };
        assert_eq!(process_label(&process), "evil\\nname (pid 7, user bob)");
    }

    /// An old build still serving after an upgrade reads as `ls` shows it,
    /// and its JSON carries the flag under `ls --json`'s name.
    #[test]
    fn a_deleted_executable_is_named_as_ls_names_it() {
        let process = ProcessIdentity {
            pid: 880,
            name: "nginx".into(),
            exe: Some("/usr/sbin/nginx".into()),
            exe_deleted: true,
            ..ProcessIdentity::default()
        };
        assert_eq!(process_label(&process), "nginx (deleted) (pid 880)");
        let json = serde_json::to_value(ProcessLine::of(&process)).unwrap();
        assert_eq!(json["exe_deleted"], true, "{json}");
        assert_eq!(json["name"], "nginx", "the name stays the process's own: {json}");
        let kept = ProcessIdentity { exe_deleted: false, ..process };
        assert_eq!(process_label(&kept), "nginx (pid 880)");
        assert_eq!(serde_json::to_value(ProcessLine::of(&kept)).unwrap()["exe_deleted"], false);
    }

    /// A program of many processes reads as its command line with their
    /// count and pids (a range past four); its arguments are other users'
    /// text and reach the terminal escaped.
    #[test]
    fn a_program_names_its_command_line_count_and_pids() {
        let process = ProcessIdentity {
            pid: 3001,
            name: "redis-cli".into(),
            cmdline: vec!["redis-cli".into(), "\u{1b}[2JPING".into()],
            user: Some("root".into()),
            ..ProcessIdentity::default()
        };
        let program = |pids: Vec<u32>| ClientSummary {
            host: None,
            net_namespace: None,
            server: "127.0.0.1:6379".parse().unwrap(),
            client: Some(process.clone()),
            client_uid: Some(0),
            processes: pids.len() as u64,
            pids,
            connections: 412,
            open: 0,
            first_at: 0,
            last_at: 0,
            bytes_client_to_server: 0,
            bytes_server_to_client: 0,
            server_process: None,
        };
        assert_eq!(
            client_label(&program((3001..3413).collect())),
            "redis-cli \\x1b[2JPING (412 processes, pids 3001–3412, user root)"
        );
        assert_eq!(
            client_label(&program(vec![3001, 3002, 3009])),
            "redis-cli \\x1b[2JPING (3 processes, pids 3001, 3002, 3009, user root)"
        );
        assert_eq!(client_label(&program(vec![3001])), "redis-cli (pid 3001, user root)");
    }

    /// The same address and port in two namespaces is two services: its
    /// clients are two groups, each naming its namespace, in the text and
    /// in JSON; records all of the namespace asked in name none.
    #[test]
    fn clients_are_grouped_per_namespace() {
        let here = 4026531833;
        let group = |net_namespace: Option<u64>, connections: u64| ClientSummary {
            host: None,
            net_namespace,
            server: "127.0.0.1:5432".parse().unwrap(),
            client: Some(ProcessIdentity {
                pid: 4411,
                name: "python3".into(),
                ..ProcessIdentity::default()
            }),
            client_uid: Some(1000),
            processes: 1,
            pids: vec![4411],
            connections,
            open: 0,
            first_at: 1_795_860_000_000_000,
            last_at: 1_795_860_060_000_000,
            bytes_client_to_server: 10,
            bytes_server_to_client: 20,
            server_process: None,
        };
        let text = |report: &HistoryReport| {
            let mut out = Vec::new();
            write_history(&mut out, report, Format::Table, Style::plain()).unwrap();
            String::from_utf8(out).unwrap()
        };
        let mut report = HistoryReport {
            clients: vec![group(Some(here), 3), group(Some(4026532451), 2)],
            net_namespace: Some(here),
            ..HistoryReport::default()
        };
        let shown = text(&report);
        for heading in [
            "Clients of 127.0.0.1:5432 in network namespace 4026531833 (3 connections)",
            "Clients of 127.0.0.1:5432 in network namespace 4026532451 (2 connections)",
        ] {
            assert!(shown.contains(heading), "{heading}:\n{shown}");
        }
        let json = HistoryRecord::from_report(&report);
        let labels: Vec<_> = json.clients.iter().map(|c| c.net_namespace).collect();
        assert_eq!(labels, [Some(here), Some(4026532451)]);

        // All of the namespace asked in: no namespace named.
        report.clients = vec![group(Some(here), 3)];
        let shown = text(&report);
        assert!(shown.contains("Clients of 127.0.0.1:5432 (3 connections)"), "{shown}");
        // One other namespace, or an unlabelled record beside a labelled
        // one: named.
        report.clients = vec![group(Some(4026532451), 3)];
        assert!(text(&report).contains("in network namespace 4026532451"));
        report.clients = vec![group(Some(here), 3), group(None, 1)];
        let shown = text(&report);
        assert!(shown.contains("(network namespace not recorded) (1 connection)"), "{shown}");
    }

    /// Clients of two server programs of one address are a block each,
    /// named after their server's command line (escaped, cut when long);
    /// of one server program, a block that names none, as before.
    #[test]
    fn clients_are_grouped_per_server_program() {
        let server = |pid: u32, name: &str, argument: &str| ProcessIdentity {
            pid,
            name: name.into(),
            cmdline: vec![name.into(), argument.into()],
            user: Some("alice".into()),
            ..ProcessIdentity::default()
        };
        let group = |server: ProcessIdentity, connections: u64| ClientSummary {
            host: None,
            net_namespace: None,
            server: "127.0.0.1:7000".parse().unwrap(),
            client: None,
            client_uid: Some(1000),
            processes: 0,
            pids: Vec::new(),
            connections,
            open: 0,
            first_at: 1_795_860_000_000_000,
            last_at: 1_795_860_060_000_000,
            bytes_client_to_server: 10,
            bytes_server_to_client: 20,
            server_process: Some(server),
        };
        let text = |report: &HistoryReport| {
            let mut out = Vec::new();
            write_history(&mut out, report, Format::Table, Style::plain()).unwrap();
            String::from_utf8(out).unwrap()
        };
        let long = "x".repeat(100);
        let mut report = HistoryReport {
            clients: vec![
                group(server(10, "app\u{1b}[2J", "--serve"), 3),
                group(server(20, "app-b", &long), 2),
            ],
            several_servers: true,
            ..HistoryReport::default()
        };
        let shown = text(&report);
        let cut = format!("app-b {}…", &long[..54]);
        for heading in [
            "Clients of 127.0.0.1:7000 served by app\\x1b[2J --serve (pid 10, user alice) (3 connections)".to_string(),
            format!("Clients of 127.0.0.1:7000 served by {cut} (pid 20, user alice) (2 connections)"),
        ] {
            assert!(shown.contains(&heading), "{heading}:\n{shown}");
        }
        let json = HistoryRecord::from_report(&report);
        let pids: Vec<_> =
            json.clients.iter().map(|c| c.server_process.as_ref().map(|p| p.pid)).collect();
        assert_eq!(pids, [Some(10), Some(20)]);

        report.several_servers = false;
        let shown = text(&report);
        assert!(shown.contains("Clients of 127.0.0.1:7000 (5 connections)"), "{shown}");
        assert!(!shown.contains("served by"), "{shown}");
    }
}
