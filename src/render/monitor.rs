//! Output of `porthole monitor`: JSON Lines wire types (`--jsonl`), one
//! human-readable line per event otherwise, and the start/stop lines on
//! stderr.
//!
//! The wire types are their own structs, never the engine's: field names
//! are what scripts rely on. Times appear twice, as RFC 3339 UTC text and as
//! integer microseconds (`*_us`), so a reader can sort exactly without
//! parsing dates.

use std::io::Write;

use serde::Serialize;

use crate::model::monitor::{
    CaptureMode, ConnectionEnd, ConnectionRecord, ListenerChange, LossKind, LossRecord,
    MonitorEvent, OpenSnapshot, ProcessIdentity, SnapshotScope, UnixMicros,
};

use super::json::{time_of_seconds, ListenerChangeLayout, ListenerChangeRecord, SCHEMA_VERSION};

/// One line of `porthole monitor --jsonl`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventLine<'a> {
    /// The first line: which capture mode and why.
    Started {
        schema_version: u32,
        at: String,
        at_us: UnixMicros,
        /// `ebpf` or `netlink`.
        mode: &'static str,
        reason: &'a str,
    },
    Listener(ListenerChangeRecord),
    /// Boxed: a connection line is much larger than the others.
    Connection(Box<ConnectionLine>),
    Loss(LossLine),
    OpenSnapshot(OpenSnapshotLine),
}

/// The connections open when the recorder started: a store ends the rows
/// an earlier run left open for any other connection in `net_namespaces`.
#[derive(Debug, Serialize)]
pub struct OpenSnapshotLine {
    pub at: String,
    pub at_us: UnixMicros,
    /// When the machine booted: an open row that began earlier belongs to
    /// an earlier boot and is ended whatever its cookie.
    pub booted_at: Option<String>,
    pub booted_at_us: Option<UnixMicros>,
    /// `own` (the recorder's namespace) or `all`.
    pub net_namespaces: &'static str,
    /// With `all`: namespaces that could not be read, whose rows stay open.
    pub unread_net_namespaces: Vec<u64>,
    /// Server-end cookie and namespace of every connection open then.
    pub open: Vec<OpenKeyLine>,
}

/// The key of a connection's row: its server end's socket cookie and its
/// namespace (`null` for the recorder's own).
#[derive(Debug, Serialize)]
pub struct OpenKeyLine {
    pub cookie: u64,
    pub net_namespace: Option<u64>,
}

/// One connection to a local service: written while it is open (`end`
/// `open`, `ended_at` null, bytes so far) and again when it ended.
#[derive(Debug, Serialize)]
pub struct ConnectionLine {
    pub cookie: u64,
    pub net_namespace: Option<u64>,
    pub client_address: String,
    pub client_port: u16,
    pub server_address: String,
    pub server_port: u16,
    pub started_at: Option<String>,
    pub started_at_us: Option<UnixMicros>,
    pub ended_at: Option<String>,
    pub ended_at_us: Option<UnixMicros>,
    pub duration_us: Option<i64>,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    pub client_uid: Option<u32>,
    pub server_uid: Option<u32>,
    /// `null` when the client process could not be known (netlink mode, a
    /// client that connected and exited between two scans, or a remote
    /// client).
    pub client_process: Option<ProcessLine>,
    pub server_process: Option<ProcessLine>,
    /// `open` (still open: a later line of the same cookie updates it),
    /// `closed`, `reset`, `timed_out` or `unknown`.
    pub end: &'static str,
}

/// Events the recorder could not see.
#[derive(Debug, Serialize)]
pub struct LossLine {
    pub at: String,
    pub at_us: UnixMicros,
    /// `netlink_overflow`, `ring_buffer_full`, `unmatched_cookie`,
    /// `unknown_process`, `store_backlog`, `program_skipped` or
    /// `unseen_listener`.
    pub kind: &'static str,
    pub count: u64,
    pub net_namespace: Option<u64>,
}

/// A process as recorded.
#[derive(Debug, Serialize)]
pub struct ProcessLine {
    pub pid: u32,
    /// When the process started, RFC 3339 UTC as in `ls --json`; with
    /// `pid` it names the process even after the pid is reused.
    pub start_time: Option<String>,
    /// The start in clock ticks after boot (`/proc/PID/stat` field 22):
    /// with `pid` and `start_time` it tells apart two processes given one
    /// pid within one second. `null` where it was not recorded (records of
    /// history schema 4 and earlier).
    pub start_ticks: Option<u64>,
    pub name: String,
    pub exe: Option<String>,
    /// The executable was deleted or replaced after the start, as
    /// `exe_deleted` is in `ls --json`; false also when not known (a
    /// process that exited before it was read, records of history schema
    /// 3 and earlier).
    pub exe_deleted: bool,
    /// The arguments joined by spaces, as `cmdline` is in `ls --json`.
    pub cmdline: String,
    /// The exact argument list, as `argv` is in `ls --json`.
    pub argv: Vec<String>,
    pub uid: u32,
    pub user: Option<String>,
    pub unit: Option<String>,
    pub container: Option<String>,
    #[serde(flatten)]
    pub bytes: super::json::ProcessBytes,
}

impl ProcessLine {
    pub(crate) fn of(process: &ProcessIdentity) -> Self {
        ProcessLine {
            pid: process.pid,
            start_time: process.start_time.map(time_of_seconds),
            start_ticks: process.start_ticks,
            name: process.name.clone(),
            exe: process.exe.clone(),
            exe_deleted: process.exe_deleted,
            cmdline: process.cmdline.join(" "),
            argv: process.cmdline.clone(),
            uid: process.uid,
            user: process.user.clone(),
            unit: process.unit.clone(),
            container: process.container.clone(),
            bytes: super::json::ProcessBytes::of(
                &process.name,
                process.exe.as_deref(),
                &process.cmdline,
            ),
        }
    }
}

/// `ebpf` or `netlink`, as the history store spells it.
pub fn mode_name(mode: CaptureMode) -> &'static str {
    crate::model::history::capture_mode_name(mode)
}

/// The same names the history store uses, so a JSON line and a stored row
/// spell a loss alike.
fn loss_name(kind: LossKind) -> &'static str {
    crate::model::history::loss_kind_name(kind)
}

fn end_name(end: ConnectionEnd) -> &'static str {
    match end {
        ConnectionEnd::Closed => "closed",
        ConnectionEnd::Reset => "reset",
        ConnectionEnd::TimedOut => "timed_out",
        ConnectionEnd::Unknown => "unknown",
    }
}

/// The wire form of one event.
pub fn event_line(event: &MonitorEvent) -> EventLine<'_> {
    match event {
        MonitorEvent::Started { at, mode, reason } => EventLine::Started {
            schema_version: SCHEMA_VERSION,
            at: rfc3339(*at),
            at_us: *at,
            mode: mode_name(*mode),
            reason,
        },
        MonitorEvent::Listener(listener) => EventLine::Listener(ListenerChangeRecord::of(
            listener,
            ListenerChangeLayout::Recorder,
            None,
        )),
        MonitorEvent::Connection(record) => {
            EventLine::Connection(Box::new(connection_line(record)))
        }
        MonitorEvent::Loss(loss) => EventLine::Loss(loss_line(loss)),
        MonitorEvent::OpenSnapshot(snapshot) => EventLine::OpenSnapshot(snapshot_line(snapshot)),
    }
}

fn snapshot_line(snapshot: &OpenSnapshot) -> OpenSnapshotLine {
    let (net_namespaces, unread) = match &snapshot.scope {
        SnapshotScope::Own => ("own", Vec::new()),
        SnapshotScope::All { unread } => ("all", unread.clone()),
    };
    OpenSnapshotLine {
        at: rfc3339(snapshot.at),
        at_us: snapshot.at,
        booted_at: snapshot.booted_at.map(rfc3339),
        booted_at_us: snapshot.booted_at,
        net_namespaces,
        unread_net_namespaces: unread,
        open: snapshot
            .open
            .iter()
            .map(|&(cookie, net_namespace)| OpenKeyLine { cookie, net_namespace })
            .collect(),
    }
}

fn connection_line(record: &ConnectionRecord) -> ConnectionLine {
    ConnectionLine {
        cookie: record.cookie,
        net_namespace: record.net_namespace,
        client_address: record.client.ip().to_string(),
        client_port: record.client.port(),
        server_address: record.server.ip().to_string(),
        server_port: record.server.port(),
        started_at: record.started_at.map(rfc3339),
        started_at_us: record.started_at,
        ended_at: record.ended_at.map(rfc3339),
        ended_at_us: record.ended_at,
        duration_us: record.started_at.zip(record.ended_at).map(|(start, end)| end - start),
        bytes_client_to_server: record.bytes_client_to_server,
        bytes_server_to_client: record.bytes_server_to_client,
        client_uid: record.client_uid,
        server_uid: record.server_uid,
        client_process: record.client_process.as_ref().map(ProcessLine::of),
        server_process: record.server_process.as_ref().map(ProcessLine::of),
        end: if record.ended_at.is_none() { "open" } else { end_name(record.end) },
    }
}

fn loss_line(loss: &LossRecord) -> LossLine {
    LossLine {
        at: rfc3339(loss.at),
        at_us: loss.at,
        kind: loss_name(loss.kind),
        count: loss.count,
        net_namespace: loss.net_namespace,
    }
}

/// Writes a batch as JSON Lines.
pub fn write_jsonl(out: &mut dyn Write, batch: &[MonitorEvent]) -> std::io::Result<()> {
    for event in batch {
        super::sanitize::write_json(&mut *out, &event_line(event))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes a batch as one line per event for people. The start event is
/// left out: the start line on stderr says the same.
pub fn write_text(out: &mut dyn Write, batch: &[MonitorEvent]) -> std::io::Result<()> {
    for event in batch {
        match event {
            // For stores: the open lines below say the same to a reader.
            MonitorEvent::Started { .. } | MonitorEvent::OpenSnapshot(_) => continue,
            MonitorEvent::Listener(listener) => {
                let verb = match listener.change {
                    ListenerChange::Appeared => "listen",
                    ListenerChange::Disappeared => "unlisten",
                };
                let place = match (listener.local, &listener.path) {
                    (Some(address), _) => address.to_string(),
                    (None, Some(path)) => visible(path),
                    (None, None) => "(unnamed)".to_string(),
                };
                let owners: Vec<String> = listener.owners.iter().map(process_text).collect();
                let owners = if owners.is_empty() { "-".to_string() } else { owners.join(", ") };
                writeln!(
                    out,
                    "{}  {verb:<8} {} {place}{}  {owners}",
                    clock(listener.at),
                    listener.protocol,
                    namespace_text(listener.net_namespace),
                )?;
            }
            MonitorEvent::Connection(record) => {
                let client = record.client_process.as_ref().map_or("?".to_string(), process_text);
                let server = record.server_process.as_ref().map_or("?".to_string(), process_text);
                let duration = match (record.started_at, record.ended_at) {
                    (Some(start), Some(end)) => {
                        format!("{:.1} ms", (end - start) as f64 / 1000.0)
                    }
                    (Some(start), None) => format!("open since {}", clock(start)),
                    (None, None) => "open".to_string(),
                    (None, Some(_)) => "-".to_string(),
                };
                // An open report has no end: its line carries the time it
                // was reported.
                let (at, verb) = match record.ended_at {
                    Some(end) => (end, "connect"),
                    None => (now_micros(), "open"),
                };
                writeln!(
                    out,
                    "{}  {verb:<8} {} -> {}{}  {client} -> {server}  {duration}  {} B up, {} B down",
                    clock(at),
                    record.client,
                    record.server,
                    namespace_text(record.net_namespace),
                    record.bytes_client_to_server,
                    record.bytes_server_to_client,
                )?;
            }
            MonitorEvent::Loss(loss) => {
                writeln!(
                    out,
                    "{}  lost     {} ({}){}",
                    clock(loss.at),
                    loss.count,
                    loss_name(loss.kind).replace('_', " "),
                    namespace_text(loss.net_namespace),
                )?;
            }
        }
    }
    out.flush()
}

/// Now, microseconds since the Unix epoch.
fn now_micros() -> UnixMicros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX))
}

/// The start line on stderr: mode, why, and where.
pub fn start_line(
    err: &mut dyn Write,
    mode: CaptureMode,
    reason: &str,
    all_namespaces: bool,
    process_events_error: Option<&str>,
) -> std::io::Result<()> {
    let namespaces =
        if all_namespaces { "all network namespaces" } else { "this network namespace" };
    let names = match process_events_error {
        None => String::new(),
        Some(error) => format!(
            "; process connector unavailable ({}): exited processes may stay unnamed",
            visible(error)
        ),
    };
    writeln!(
        err,
        "porthole monitor: capture {} ({}); recording {namespaces}{names}",
        mode_name(mode),
        visible(reason)
    )
}

/// The closing line on stderr.
pub fn stop_line(
    err: &mut dyn Write,
    listener_events: u64,
    connections: u64,
    losses: u64,
) -> std::io::Result<()> {
    writeln!(
        err,
        "porthole monitor: stopped after {listener_events} listener events, {connections} connections, {losses} losses"
    )
}

fn process_text(process: &ProcessIdentity) -> String {
    format!("{} (pid {})", visible(&process.shown_name()), process.pid)
}

fn namespace_text(net_namespace: Option<u64>) -> String {
    net_namespace.map_or(String::new(), |inode| format!(" [netns {inode}]"))
}

/// Other users' text (names, command lines, paths) through the one
/// sanitiser every renderer uses.
fn visible(text: &str) -> String {
    crate::render::sanitize::sanitize(text).into_owned()
}

/// `HH:MM:SS.mmm` UTC, for the text lines.
fn clock(at: UnixMicros) -> String {
    let text = rfc3339(at);
    text.get(11..23).unwrap_or(&text).to_string()
}

/// RFC 3339 UTC with microseconds: `2026-11-28T08:12:01.123456Z`.
pub fn rfc3339(at: UnixMicros) -> String {
    let seconds = at.div_euclid(1_000_000);
    let micros = at.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::monitor::ListenerEvent;
    use crate::model::{Family, Protocol, Scope};

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_795_854_721_123_456), "2026-11-28T08:32:01.123456Z");
        assert_eq!(rfc3339(951_782_400_000_001), "2000-02-29T00:00:00.000001Z");
        assert_eq!(clock(1_795_854_721_123_456), "08:32:01.123");
    }

    fn listener() -> ListenerEvent {
        ListenerEvent {
            at: 1_000_000,
            change: ListenerChange::Appeared,
            protocol: Protocol::Tcp,
            family: Family::Ipv4,
            local: Some("127.0.0.1:8080".parse().unwrap()),
            path: None,
            inode: 42,
            uid: 1000,
            net_namespace: None,
            scope: Scope::Loopback,
            exposed: false,
            v6only: None,
            owners: vec![ProcessIdentity {
                pid: 7,
                name: "evil\x1b[31m\u{202e}".into(),
                ..ProcessIdentity::default()
            }],
        }
    }

    #[test]
    fn jsonl_lines_are_tagged_and_escaped() {
        let batch = vec![
            MonitorEvent::Started { at: 0, mode: CaptureMode::Netlink, reason: "because".into() },
            MonitorEvent::Listener(listener()),
            MonitorEvent::Loss(LossRecord {
                at: 5,
                kind: LossKind::NetlinkOverflow,
                count: 3,
                net_namespace: Some(9),
            }),
        ];
        let mut out = Vec::new();
        write_jsonl(&mut out, &batch).unwrap();
        let written = String::from_utf8(out).unwrap();
        // Read on a terminal too: the bidi override is a JSON escape.
        assert!(written.contains("evil\\u001b[31m\\u202e"), "{written}");
        assert!(!written.contains('\u{202e}'), "{written}");
        let lines: Vec<serde_json::Value> =
            written.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines[0]["type"], "started");
        assert_eq!(lines[0]["mode"], "netlink");
        assert_eq!(lines[0]["schema_version"], crate::render::json::SCHEMA_VERSION);
        assert_eq!(lines[1]["type"], "listener");
        assert_eq!(lines[1]["local_port"], 8080);
        assert_eq!(lines[1]["processes"][0]["name"], "evil\x1b[31m\u{202e}");
        assert_eq!(lines[2]["kind"], "netlink_overflow");
        assert_eq!(lines[2]["count"], 3);
    }

    /// A recorded process has the keys `ls --json` gives a live one, with
    /// the same types: `cmdline` the joined text, `argv` the exact list.
    #[test]
    fn recorded_processes_use_the_keys_of_live_ones() {
        let identity = ProcessIdentity {
            pid: 7,
            name: "ruby".into(),
            cmdline: vec!["ruby".into(), "--flag".into(), "with space".into()],
            ..ProcessIdentity::default()
        };
        let recorded = serde_json::to_value(ProcessLine::of(&identity)).unwrap();
        assert_eq!(recorded["cmdline"], "ruby --flag with space");
        assert_eq!(recorded["argv"], serde_json::json!(["ruby", "--flag", "with space"]));
        let live = serde_json::to_value(crate::render::json::ProcessRecord::from_process(
            &crate::model::Process {
                pid: 7,
                name: "ruby".into(),
                cmdline: identity.cmdline.clone(),
                ..crate::model::Process::default()
            },
        ))
        .unwrap();
        for (key, value) in recorded.as_object().unwrap() {
            if let Some(same) = live.get(key) {
                assert_eq!(
                    std::mem::discriminant(value),
                    std::mem::discriminant(same),
                    "{key}: {value} vs {same}"
                );
            }
        }
    }

    #[test]
    fn text_lines_never_carry_raw_control_characters() {
        let mut out = Vec::new();
        write_text(&mut out, &[MonitorEvent::Listener(listener())]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("listen   tcp 127.0.0.1:8080"), "{text}");
        assert!(text.contains("evil\\x1b[31m\\u202e (pid 7)"), "{text}");
        // Deleted since it started: the name stays escaped before the mark.
        let mut deleted = listener();
        deleted.owners[0].exe_deleted = true;
        let mut out = Vec::new();
        write_text(&mut out, &[MonitorEvent::Listener(deleted)]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("evil\\x1b[31m\\u202e (deleted) (pid 7)"), "{text}");
    }
}
