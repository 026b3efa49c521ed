//! What `porthole history` asks the history store and what it gets back.
//!
//! The store (`store`) keeps the [`super::monitor`] records the recorder
//! wrote; these types are the questions ([`HistoryQuery`]) and the answers
//! ([`HistoryReport`]) in plain data, so the renderers and the `porthole
//! PORT` history section need nothing but `model`. Times are
//! [`UnixMicros`], shown in UTC: the store may be shared by machines in
//! different time zones, and UTC needs no time zone database.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::monitor::{
    CaptureMode, ConnectionRecord, ListenerEvent, LossKind, ProcessIdentity, UnixMicros,
};
use super::Protocol;

/// A question to the history store. Every field narrows the answer; the
/// default asks for everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryQuery {
    /// Server port (of listeners and of the connections' server end).
    pub port: Option<u16>,
    /// Server addresses (`HOST:PORT`); empty means any address.
    pub addresses: Vec<IpAddr>,
    /// Only listeners of this protocol (`PORT/udp`, `unix:PATH`); `None`
    /// for every one. Connections are recorded for TCP alone, so a UDP or
    /// Unix question has none.
    pub protocol: Option<Protocol>,
    /// Unix listeners bound to this path (`unix:PATH`, `@NAME` for an
    /// abstract name, as `ls` shows them).
    pub path: Option<String>,
    /// Inclusive lower bound of the time window.
    pub since: Option<UnixMicros>,
    /// Exclusive upper bound of the time window.
    pub until: Option<UnixMicros>,
    /// Only records involving a process whose name contains this text.
    pub process: Option<String>,
    /// Only records of this machine (stores shared by several machines).
    pub host: Option<String>,
    /// Most single connections returned by [`HistoryReport::connections`];
    /// summaries are never cut.
    pub limit: usize,
    /// How connections are grouped into [`ClientSummary`] lines.
    pub grouping: ClientGrouping,
}

/// What one [`ClientSummary`] stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientGrouping {
    /// Every process running the same program: the same executable (its
    /// name when the path was not read), the same command line and the
    /// same user. A cron job or a shell loop that starts a new client for
    /// every connection is one line, not one per pid.
    #[default]
    Program,
    /// Every process (pid and start time) on its own line.
    Process,
}

/// A listener that appeared or went away, with the machine that saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerHistory {
    /// The machine that recorded it (`None` in a single-machine store).
    pub host: Option<String>,
    pub event: ListenerEvent,
}

/// One recorded connection, with the machine that saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionHistory {
    pub host: Option<String>,
    pub record: ConnectionRecord,
    /// The row's time: the start when known, else when the connection was
    /// first reported (while open) or its end. For an open connection
    /// without a known start, "open since at least then".
    pub seen_at: UnixMicros,
}

/// The connections of one client process to one server endpoint in the
/// window: "python3 (pid 4411) connected 1,203 times, 10:02–10:41, 2.1 MB".
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSummary {
    pub host: Option<String>,
    /// Network namespace of the server end by inode: the same address and
    /// port in two namespaces is two services. `None` for rows a recorder
    /// before schema 3 wrote in its own namespace.
    pub net_namespace: Option<u64>,
    pub server: SocketAddr,
    /// `None` when the recorder could not name the client (netlink mode,
    /// short connections).
    pub client: Option<ProcessIdentity>,
    /// The client socket's uid, for unnamed clients.
    pub client_uid: Option<u32>,
    /// How many processes (pid and start time) the line stands for: 1 per
    /// process, more for a program of many processes, 0 for an unnamed
    /// client. `client` is the one of them that connected first.
    pub processes: u64,
    /// Their distinct pids, ascending.
    pub pids: Vec<u32>,
    pub connections: u64,
    /// How many of `connections` are still open (bytes so far).
    pub open: u64,
    /// Start (or end, when the start is unknown) of the first connection.
    pub first_at: UnixMicros,
    /// End (or start, while open) of the last connection.
    pub last_at: UnixMicros,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    /// The server process of the first of `connections`, when the store
    /// was asked to tell servers apart and the recorder named it: two
    /// programs that served one address at different times are two groups.
    pub server_process: Option<ProcessIdentity>,
}

impl ClientSummary {
    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_client_to_server.saturating_add(self.bytes_server_to_client)
    }
}

/// Hourly totals per server port, client executable and network
/// namespace; they outlive the single connections they were added up from.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyTotal {
    pub host: Option<String>,
    /// `None` for totals of schema 1 and 2, kept for every namespace
    /// together, and when the recorder could not read its namespace.
    pub net_namespace: Option<u64>,
    /// Start of the hour.
    pub hour: UnixMicros,
    pub server_port: u16,
    /// Executable path of the client, or its name when the path was
    /// unknown, or empty when the client was unknown.
    pub client_exe: String,
    pub client_name: String,
    pub connections: u64,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
}

/// Losses of one kind in the window: what the recorder knows it missed.
#[derive(Debug, Clone, PartialEq)]
pub struct LossSummary {
    pub host: Option<String>,
    pub kind: LossKind,
    pub count: u64,
    pub first_at: UnixMicros,
    pub last_at: UnixMicros,
}

/// A start of the recorder, with the capture mode it chose.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSession {
    pub host: Option<String>,
    /// The recorder's own network namespace; `None` for starts a porthole
    /// before schema 3 recorded.
    pub net_namespace: Option<u64>,
    pub at: UnixMicros,
    pub mode: CaptureMode,
    pub reason: String,
}

/// Everything the store knows that answers a [`HistoryQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryReport {
    /// Where the answer came from (a path, or a URL without password).
    pub store: String,
    pub query: HistoryQuery,
    /// Listener changes, oldest first.
    pub listeners: Vec<ListenerHistory>,
    /// Whether earlier listener changes were left out (the newest are
    /// kept: a port that flapped all week shows what it does now).
    pub listeners_truncated: bool,
    /// Clients per server endpoint, busiest first.
    pub clients: Vec<ClientSummary>,
    /// Whether less busy client groups were left out.
    pub clients_truncated: bool,
    /// Whether more than one server program (executable and user)
    /// served the clients of the answer: then each group, and each single
    /// connection, names its server.
    pub several_servers: bool,
    /// Single connections, oldest first (only when asked for).
    pub connections: Vec<ConnectionHistory>,
    /// Whether `connections` was cut at the query's limit.
    pub truncated: bool,
    /// Hourly totals from before the oldest single connection kept.
    pub hourly: Vec<HourlyTotal>,
    pub losses: Vec<LossSummary>,
    /// Recorder starts in the window, and the last one before it.
    pub sessions: Vec<CaptureSession>,
    /// Inode of the network namespace the question was asked in: records
    /// of it need no NETNS column when they are all of it.
    pub net_namespace: Option<u64>,
}

impl HistoryReport {
    /// Whether the store had anything to say.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
            && self.clients.is_empty()
            && self.connections.is_empty()
            && self.hourly.is_empty()
    }
}

/// What `porthole PORT` shows about a port's past: a short summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortHistory {
    pub store: String,
    /// The most recent listener changes of the port, newest first.
    pub recent_listeners: Vec<ListenerHistory>,
    /// The most frequent clients of the last days, busiest first.
    pub frequent_clients: Vec<ClientSummary>,
    /// Since when the frequent clients are counted.
    pub clients_since: UnixMicros,
}

impl PortHistory {
    pub fn is_empty(&self) -> bool {
        self.recent_listeners.is_empty() && self.frequent_clients.is_empty()
    }
}

/// The name of a loss kind in JSON and in the store: `netlink_overflow`,
/// `ring_buffer_full`, `unmatched_cookie`, `unknown_process`,
/// `store_backlog`, `program_skipped`, `unseen_listener`.
pub fn loss_kind_name(kind: LossKind) -> &'static str {
    match kind {
        LossKind::NetlinkOverflow => "netlink_overflow",
        LossKind::RingBufferFull => "ring_buffer_full",
        LossKind::UnmatchedCookie => "unmatched_cookie",
        LossKind::UnknownProcess => "unknown_process",
        LossKind::StoreBacklog => "store_backlog",
        LossKind::ProgramSkipped => "program_skipped",
        LossKind::UnseenListener => "unseen_listener",
    }
}

/// The name of a capture mode in JSON and in the store: `ebpf`, `netlink`.
pub fn capture_mode_name(mode: CaptureMode) -> &'static str {
    match mode {
        CaptureMode::Ebpf => "ebpf",
        CaptureMode::Netlink => "netlink",
    }
}

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl UtcTime {
    /// The calendar time of a Unix time (whole seconds, rounded down).
    pub fn from_micros(micros: UnixMicros) -> Self {
        let seconds = micros.div_euclid(MICROS_PER_SECOND);
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (in_day / 3600) as u32,
            minute: (in_day % 3600 / 60) as u32,
            second: (in_day % 60) as u32,
        }
    }

    /// The Unix time of this calendar time, or `None` when a field is out
    /// of range (month 13, February 30th, hour 24).
    pub fn to_micros(self) -> Option<UnixMicros> {
        let UtcTime { year, month, day, hour, minute, second } = self;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        seconds.checked_mul(MICROS_PER_SECOND)
    }
}

impl fmt::Display for UtcTime {
    /// `2026-11-28 09:00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms: exact for every proleptic
// Gregorian date, no tables.
// See: <https://howardhinnant.github.io/date_algorithms.html>
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
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

    #[test]
    fn calendar_round_trips() {
        let time = UtcTime { year: 2026, month: 11, day: 28, hour: 9, minute: 0, second: 0 };
        let micros = time.to_micros().unwrap();
        // date -u -d 2026-11-28T09:00:00Z +%s
        assert_eq!(micros, 1_795_856_400 * 1_000_000);
        assert_eq!(UtcTime::from_micros(micros), time);
        assert_eq!(time.to_string(), "2026-11-28 09:00:00");
        assert_eq!(UtcTime::from_micros(0).to_string(), "1970-01-01 00:00:00");
        assert_eq!(UtcTime::from_micros(-1).to_string(), "1969-12-31 23:59:59");
        let leap = UtcTime { year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 59 };
        assert_eq!(UtcTime::from_micros(leap.to_micros().unwrap()), leap);
        assert_eq!(UtcTime { day: 30, ..leap }.to_micros(), None);
        assert_eq!(UtcTime { month: 13, ..leap }.to_micros(), None);
        assert_eq!(UtcTime { hour: 24, ..leap }.to_micros(), None);
    }
}
