//! The dashboard's JSON: one function per endpoint, from [`Facts`] (and,
//! for the timeline, a store query) to a wire type. The page uses these
//! endpoints and nothing else; they are documented in the README.
//!
//! Every list is filtered (`port`, `process`, `scope`) and paged on the
//! server (`offset`, `limit`, at most [`MAX_LIMIT`]) and answers
//! `{"total", "offset", "limit", "items"}`, so a phone never receives ten
//! thousand rows. Field names and formats are those of the command-line
//! JSON outputs (README, "JSON output"): times are RFC 3339 UTC text, with
//! a `*_us` twin (microseconds since the Unix epoch) where the page draws
//! them on a time axis.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::facts::{self, Facts, OpenConnection};
use crate::model::history::{ClientSummary, HistoryQuery, ListenerHistory};
use crate::model::monitor::{ListenerChange, ProcessIdentity, UnixMicros};
use crate::model::{Process, Scope, Snapshot, Socket};
use crate::store::{self, Order, StoreLocation};

/// The JSON layout's version: the one every porthole output carries.
pub const WIRE_VERSION: u32 = crate::render::json::SCHEMA_VERSION;
/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most rows one page may ask for.
pub const MAX_LIMIT: usize = 500;

/// Filters and paging from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub port: Option<u16>,
    /// Case-insensitive substring of a process name, command line, unit or
    /// container.
    pub process: Option<String>,
    /// `loopback`, `wildcard`, `specific` or `exposed`.
    pub scope: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// Why a query string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("{name}: '{value}' is not a number in range")]
    Number { name: &'static str, value: String },
    #[error("scope: '{0}' is not one of loopback, wildcard, specific, exposed")]
    Scope(String),
    #[error("{0}: given more than once")]
    Repeated(String),
    #[error("unknown parameter '{key}' (expected {expected})")]
    Unknown { key: String, expected: &'static str },
}

/// The parameters of the list endpoints, as a message says them.
const FILTER_KEYS: &str = "port, process, scope, offset or limit";

/// The first key of `pairs` that is neither one of `known` nor `token`
/// (which every path takes). A misspelt parameter (`?prot=5432`,
/// `?limt=5`) was ignored, and the answer was about every port, or fifty
/// rows, with no word said.
fn unknown<'a>(pairs: &'a [(String, String)], known: &[&str]) -> Option<&'a str> {
    pairs.iter().map(|(key, _)| key.as_str()).find(|key| *key != "token" && !known.contains(key))
}

/// Refuses a query string with any parameter but `token`, for the
/// endpoints that take none (`/api/health`).
pub fn no_parameters(query: &str) -> Result<(), FilterError> {
    match unknown(&pairs(query), &[]) {
        Some(key) => Err(FilterError::Unknown { key: key.to_string(), expected: "none" }),
        None => Ok(()),
    }
}

/// The first of `keys` that `pairs` holds more than once: `port=80&port=81`
/// was read as `port=81` alone, an answer about another port than the one
/// asked for with no word said.
fn repeated(pairs: &[(String, String)], keys: &[&str]) -> Option<String> {
    keys.iter()
        .find(|key| pairs.iter().filter(|(name, _)| name == *key).count() > 1)
        .map(|key| key.to_string())
}

impl Filter {
    /// Parses `port=…&process=…&scope=…&offset=…&limit=…` (and `token`);
    /// any other key is refused.
    pub fn parse(query: &str) -> Result<Self, FilterError> {
        let mut filter = Filter { limit: DEFAULT_LIMIT, ..Filter::default() };
        let pairs = pairs(query);
        if let Some(key) = unknown(&pairs, &["port", "process", "scope", "offset", "limit"]) {
            return Err(FilterError::Unknown { key: key.to_string(), expected: FILTER_KEYS });
        }
        if let Some(key) = repeated(&pairs, &["port", "process", "scope", "offset", "limit"]) {
            return Err(FilterError::Repeated(key));
        }
        for (key, value) in pairs {
            let number = |name: &'static str| FilterError::Number { name, value: value.clone() };
            match key.as_str() {
                "port" if !value.is_empty() => {
                    filter.port = Some(value.parse().map_err(|_| number("port"))?)
                }
                "process" if !value.is_empty() => filter.process = Some(value.to_lowercase()),
                "scope" if !value.is_empty() => {
                    if !["loopback", "wildcard", "specific", "exposed"].contains(&value.as_str()) {
                        return Err(FilterError::Scope(value));
                    }
                    filter.scope = Some(value);
                }
                "offset" => filter.offset = value.parse().map_err(|_| number("offset"))?,
                "limit" => {
                    filter.limit = value.parse().map_err(|_| number("limit"))?;
                    if filter.limit == 0 || filter.limit > MAX_LIMIT {
                        return Err(number("limit"));
                    }
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    fn scope_matches(&self, scope: Scope) -> bool {
        match self.scope.as_deref() {
            None => true,
            Some("exposed") => scope.is_exposed(),
            Some(name) => scope.as_str() == name,
        }
    }

    /// Whether one of `texts` holds the wanted substring, as written or as
    /// the page shows it: the page writes another user's control and bidi
    /// characters as escapes (`\u202e`), and that is what people type into
    /// the filter.
    fn process_matches<'a>(&self, mut texts: impl Iterator<Item = &'a str>) -> bool {
        match &self.process {
            None => true,
            Some(wanted) => texts.any(|text| {
                text.to_lowercase().contains(wanted.as_str())
                    || match crate::render::sanitize::sanitize(text) {
                        std::borrow::Cow::Owned(shown) => {
                            shown.to_lowercase().contains(wanted.as_str())
                        }
                        std::borrow::Cow::Borrowed(_) => false,
                    }
            }),
        }
    }

    /// One page of `items`.
    fn page<T: Serialize>(&self, items: Vec<T>) -> Page<T> {
        let total = items.len();
        let items = items.into_iter().skip(self.offset).take(self.limit).collect();
        Page { schema_version: WIRE_VERSION, total, offset: self.offset, limit: self.limit, items }
    }
}

/// `key=value` pairs of a query string, percent-decoded.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |byte: u8| (byte as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A time on the wire, as every porthole output writes it.
fn time(at: UnixMicros) -> String {
    crate::render::monitor::rfc3339(at)
}

/// A page of rows.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub schema_version: u32,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub items: Vec<T>,
}

/// A process, as every endpoint shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessWire {
    pub pid: u32,
    pub name: String,
    pub cmdline: String,
    pub user: Option<String>,
    pub uid: u32,
    pub unit: Option<String>,
    pub container: Option<String>,
    /// RFC 3339 UTC, as in `ls --json`.
    pub start_time: Option<String>,
    /// `name_bytes`, `argv_bytes`: the exact bytes where `name` or an
    /// argument is not UTF-8, as in `ls --json`.
    #[serde(flatten)]
    pub bytes: crate::render::json::ProcessBytes,
}

impl From<&Process> for ProcessWire {
    fn from(process: &Process) -> Self {
        ProcessWire {
            pid: process.pid,
            name: process.name.clone(),
            cmdline: process.command_line(),
            user: process.user.clone(),
            uid: process.uid,
            unit: process.unit.clone(),
            container: process.container.clone(),
            start_time: process.start_time.map(crate::render::json::time_of_seconds),
            bytes: crate::render::json::ProcessBytes::of(&process.name, None, &process.cmdline),
        }
    }
}

impl From<&ProcessIdentity> for ProcessWire {
    fn from(process: &ProcessIdentity) -> Self {
        ProcessWire {
            pid: process.pid,
            name: process.name.clone(),
            cmdline: if process.cmdline.is_empty() {
                process.name.clone()
            } else {
                process.cmdline.join(" ")
            },
            user: process.user.clone(),
            uid: process.uid,
            unit: process.unit.clone(),
            container: process.container.clone(),
            start_time: process.start_time.map(crate::render::json::time_of_seconds),
            bytes: crate::render::json::ProcessBytes::of(&process.name, None, &process.cmdline),
        }
    }
}

/// An audit finding on a listener.
#[derive(Debug, Clone, Serialize)]
pub struct FindingWire {
    pub rule: &'static str,
    pub severity: &'static str,
    pub service: Option<String>,
    pub evidence: String,
    pub fix: String,
}

/// `GET /api/listeners`: one row per listening socket, beginning with the
/// fields a recorded listener change has too.
#[derive(Debug, Serialize)]
pub struct ListenerWire {
    #[serde(flatten)]
    pub listener: crate::render::json::ListenerFields,
    /// The input chain's verdict for the port: `admitted`, `blocked`,
    /// `unknown`.
    pub firewall: &'static str,
    /// Exposed and not blocked by the firewall, as `audit` judges it.
    pub reachable: bool,
    pub processes: Vec<ProcessWire>,
    /// When the recorder saw it appear; else the owner's start (RFC 3339
    /// UTC).
    pub since: Option<String>,
    /// Whether `since` is the recorder's observation (else an estimate).
    pub since_recorded: bool,
    pub net_namespace: Option<u64>,
    pub open_connections: usize,
    pub findings: Vec<FindingWire>,
}

/// The listening sockets of a snapshot, most exposed first.
fn listeners_of(snapshot: &Snapshot) -> impl Iterator<Item = &Socket> {
    snapshot.sockets.iter().filter(|s| s.is_listener() && s.local.is_some())
}

fn process_texts(processes: &[ProcessWire]) -> impl Iterator<Item = &str> {
    processes.iter().flat_map(|p| {
        [Some(p.name.as_str()), Some(p.cmdline.as_str()), p.unit.as_deref(), p.container.as_deref()]
            .into_iter()
            .flatten()
    })
}

pub fn listeners(facts: &Facts, filter: &Filter) -> Page<ListenerWire> {
    let appeared: BTreeMap<(u64, Option<u64>), UnixMicros> = facts
        .store
        .changes
        .iter()
        .rev()
        .filter(|c| c.event.change == ListenerChange::Appeared)
        .map(|c| ((c.event.inode, c.event.net_namespace), c.event.at))
        .collect();
    let mut rows: Vec<ListenerWire> = listeners_of(&facts.snapshot)
        .filter(|s| filter.port.is_none_or(|port| s.local_port() == port))
        .filter(|s| filter.scope_matches(s.scope()))
        .map(|socket| {
            let port = socket.local_port();
            let processes: Vec<ProcessWire> =
                facts.snapshot.owners_of(socket).map(ProcessWire::from).collect();
            let recorded = appeared.get(&(socket.inode, socket.net_namespace)).copied();
            let started = facts
                .snapshot
                .owners_of(socket)
                .filter_map(|p| p.start_time)
                .min()
                .map(|seconds| seconds as i64 * 1_000_000);
            let listener = crate::render::json::ListenerFields::of_live(socket);
            let exposed = listener.exposed;
            let firewall = facts.audit.firewall_verdict(socket);
            let findings = facts
                .audit
                .findings
                .iter()
                .filter(|f| {
                    f.port == port
                        && f.protocol == socket.protocol
                        && f.net_namespace == socket.net_namespace
                })
                .map(|f| FindingWire {
                    rule: f.rule.as_str(),
                    severity: f.severity.as_str(),
                    service: f.service.clone(),
                    evidence: f.evidence.clone(),
                    fix: f.fix.clone(),
                })
                .collect();
            ListenerWire {
                listener,
                firewall,
                reachable: exposed && firewall != "blocked",
                processes,
                // The recorder reports every listener it finds at its start
                // as appearing then; an owner started earlier is closer to
                // the truth.
                since: match (recorded, started) {
                    (Some(recorded), Some(started)) => Some(recorded.min(started)),
                    (recorded, started) => recorded.or(started),
                }
                .map(time),
                since_recorded: recorded.is_some_and(|r| started.is_none_or(|s| r <= s)),
                net_namespace: socket.net_namespace,
                open_connections: facts
                    .open
                    .iter()
                    .filter(|c| c.server.port() == port && socket.protocol.as_str() == "tcp")
                    .count(),
                findings,
            }
        })
        .filter(|row| filter.process_matches(process_texts(&row.processes)))
        .collect();
    rows.sort_by(|a, b| {
        let (l, r) = (&a.listener, &b.listener);
        (b.reachable, r.exposed, l.local_port, l.protocol, &l.local_address).cmp(&(
            a.reachable,
            l.exposed,
            r.local_port,
            r.protocol,
            &r.local_address,
        ))
    });
    filter.page(rows)
}

/// `GET /api/connections`: per server port, the last hour.
#[derive(Debug, Clone, Serialize)]
pub struct PortActivityWire {
    pub server_port: u16,
    pub connections: u64,
    pub distinct_clients: u64,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    pub open: usize,
    /// Busiest clients first.
    pub clients: Vec<ClientWire>,
}

/// One client program of a port, as `porthole history` groups clients:
/// every process with the same executable, command line and user.
#[derive(Debug, Clone, Serialize)]
pub struct ClientWire {
    pub server_address: String,
    pub server_port: u16,
    /// The process of the program that connected first.
    pub process: Option<ProcessWire>,
    pub uid: Option<u32>,
    /// How many processes (pid and start time) the line adds up, as in
    /// `history --json`: 0 for an unnamed client.
    pub process_count: u64,
    /// Their distinct pids, ascending.
    pub pids: Vec<u32>,
    pub connections: u64,
    pub first_at: String,
    pub last_at: String,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
}

/// Clients listed per port in `/api/connections`.
const CLIENTS_PER_PORT: usize = 20;

pub fn connections(facts: &Facts, filter: &Filter) -> Page<PortActivityWire> {
    // The lines are programs; the totals count their processes.
    let mut processes = clients_by_port(&facts.store.recent_clients, filter);
    let mut rows: Vec<PortActivityWire> = clients_by_port(&facts.store.recent_programs, filter)
        .into_iter()
        .map(|(port, programs)| {
            let totals = facts::totals_by_port(processes.remove(&port).unwrap_or_default())
                .remove(&port)
                .unwrap_or_default();
            let mut clients: Vec<ClientWire> = programs
                .iter()
                .map(|s| ClientWire {
                    server_address: s.server.ip().to_string(),
                    server_port: s.server.port(),
                    process: s.client.as_ref().map(ProcessWire::from),
                    uid: s.client_uid,
                    process_count: s.processes,
                    pids: s.pids.clone(),
                    connections: s.connections,
                    first_at: time(s.first_at),
                    last_at: time(s.last_at),
                    bytes_client_to_server: s.bytes_client_to_server,
                    bytes_server_to_client: s.bytes_server_to_client,
                })
                .collect();
            clients.sort_by_key(|c| std::cmp::Reverse(c.connections));
            clients.truncate(CLIENTS_PER_PORT);
            PortActivityWire {
                server_port: port,
                connections: totals.connections,
                distinct_clients: totals.distinct_clients,
                bytes_client_to_server: totals.bytes_in,
                bytes_server_to_client: totals.bytes_out,
                open: facts.open.iter().filter(|c| c.server.port() == port).count(),
                clients,
            }
        })
        .collect();
    rows.sort_by_key(|row| (std::cmp::Reverse(row.connections), row.server_port));
    filter.page(rows)
}

/// The client groups `filter` keeps, per server port.
fn clients_by_port<'a>(
    summaries: &'a [ClientSummary],
    filter: &Filter,
) -> BTreeMap<u16, Vec<&'a ClientSummary>> {
    let mut by_port: BTreeMap<u16, Vec<&ClientSummary>> = BTreeMap::new();
    for summary in summaries {
        let process_ok = filter.process_matches(
            summary.client.iter().flat_map(|p| [p.name.as_str(), p.exe.as_deref().unwrap_or("")]),
        );
        if filter.port.is_none_or(|port| port == summary.server.port()) && process_ok {
            by_port.entry(summary.server.port()).or_default().push(summary);
        }
    }
    by_port
}

/// `GET /api/open`: connections open right now.
#[derive(Debug, Clone, Serialize)]
pub struct OpenWire {
    pub client_address: String,
    pub client_port: u16,
    pub server_address: String,
    pub server_port: u16,
    pub client_processes: Vec<ProcessWire>,
    pub server_processes: Vec<ProcessWire>,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
}

pub fn open(facts: &Facts, filter: &Filter) -> Page<OpenWire> {
    let named = |pids: &[u32]| -> Vec<ProcessWire> {
        pids.iter()
            .filter_map(|pid| facts.snapshot.processes.get(pid))
            .map(ProcessWire::from)
            .collect()
    };
    let rows: Vec<OpenWire> = facts
        .open
        .iter()
        .filter(|c| filter.port.is_none_or(|port| c.server.port() == port))
        .filter(|c| filter.scope_matches(Scope::of_address(c.server.ip())))
        .map(|c: &OpenConnection| OpenWire {
            client_address: c.client.ip().to_string(),
            client_port: c.client.port(),
            server_address: c.server.ip().to_string(),
            server_port: c.server.port(),
            client_processes: named(&c.client_pids),
            server_processes: named(&c.server_pids),
            bytes_client_to_server: c.bytes_in,
            bytes_server_to_client: c.bytes_out,
        })
        .filter(|row| {
            filter.process_matches(
                process_texts(&row.client_processes).chain(process_texts(&row.server_processes)),
            )
        })
        .collect();
    filter.page(rows)
}

/// `GET /api/changes`: the change feed, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeWire {
    /// RFC 3339 UTC; the fixed-width form sorts as the times do.
    pub at: String,
    /// `appeared`, `disappeared`, `exposed` (an exposed listener appeared)
    /// or `new-client` (a first client of a sensitive port).
    pub kind: &'static str,
    pub protocol: &'static str,
    pub local_address: String,
    pub local_port: u16,
    pub scope: &'static str,
    /// For `new-client`: what the port is (`PostgreSQL`…).
    pub service: Option<&'static str>,
    pub processes: Vec<ProcessWire>,
    pub connections: Option<u64>,
    /// For `new-client`: how many processes of the program connected and
    /// their pids, ascending (`processes` holds the first of them).
    pub process_count: Option<u64>,
    pub pids: Option<Vec<u32>>,
}

fn change_of(change: &ListenerHistory) -> Option<ChangeWire> {
    let event = &change.event;
    let local = event.local?;
    let kind = match (event.change, event.scope.is_exposed()) {
        (ListenerChange::Appeared, true) => "exposed",
        (ListenerChange::Appeared, false) => "appeared",
        (ListenerChange::Disappeared, _) => "disappeared",
    };
    Some(ChangeWire {
        at: time(event.at),
        kind,
        protocol: event.protocol.as_str(),
        local_address: local.ip().to_string(),
        local_port: local.port(),
        scope: event.scope.as_str(),
        service: None,
        processes: event.owners.iter().map(ProcessWire::from).collect(),
        connections: None,
        process_count: None,
        pids: None,
    })
}

pub fn changes(facts: &Facts, filter: &Filter) -> Page<ChangeWire> {
    let mut rows: Vec<ChangeWire> = facts.store.changes.iter().filter_map(change_of).collect();
    rows.extend(facts.store.new_sensitive_clients.iter().map(|summary| ChangeWire {
        at: time(summary.first_at),
        kind: "new-client",
        protocol: "tcp",
        local_address: summary.server.ip().to_string(),
        local_port: summary.server.port(),
        scope: Scope::of_address(summary.server.ip()).as_str(),
        service: facts::sensitive(summary.server.port()),
        processes: summary.client.iter().map(ProcessWire::from).collect(),
        connections: Some(summary.connections),
        process_count: Some(summary.processes),
        pids: Some(summary.pids.clone()),
    }));
    rows.retain(|row| {
        filter.port.is_none_or(|port| row.local_port == port)
            && filter.scope_matches(scope_named(row.scope))
            && filter.process_matches(process_texts(&row.processes))
    });
    rows.sort_by(|a, b| b.at.cmp(&a.at));
    filter.page(rows)
}

fn scope_named(name: &str) -> Scope {
    match name {
        "loopback" => Scope::Loopback,
        "wildcard" => Scope::Wildcard,
        "specific" => Scope::Specific,
        _ => Scope::Local,
    }
}

/// `GET /api/timeline?port=P`: who held the port, as spans.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineWire {
    pub schema_version: u32,
    pub local_port: u16,
    /// The window, RFC 3339 UTC, with `_us` twins for the time axis.
    pub since: String,
    pub since_us: UnixMicros,
    pub until: String,
    pub until_us: UnixMicros,
    pub spans: Vec<SpanLine>,
}

/// One span on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanLine {
    pub started_at: String,
    pub started_at_us: UnixMicros,
    /// `null`: still listening at the end of the window.
    pub ended_at: Option<String>,
    pub ended_at_us: Option<UnixMicros>,
    pub protocol: &'static str,
    pub local_address: String,
    pub pid: Option<u32>,
    pub process_name: Option<String>,
    /// The exact bytes of `process_name`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_name_bytes: Option<String>,
}

impl From<SpanWire> for SpanLine {
    fn from(span: SpanWire) -> Self {
        SpanLine {
            started_at: time(span.start),
            started_at_us: span.start,
            ended_at: span.end.map(time),
            ended_at_us: span.end,
            protocol: span.protocol,
            local_address: span.address,
            pid: span.pid,
            process_name_bytes: span
                .process
                .as_deref()
                .and_then(crate::model::os_text::exact_bytes),
            process_name: span.process,
        }
    }
}

/// One listener's life on the port within the window, as [`spans`]
/// pairs changes; [`SpanLine`] is its wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanWire {
    pub start: UnixMicros,
    /// `None`: still listening at the end of the window.
    pub end: Option<UnixMicros>,
    pub address: String,
    pub protocol: &'static str,
    pub process: Option<String>,
    pub pid: Option<u32>,
}

/// Pairs appearances with disappearances of the same socket (inode and
/// namespace). `before` are changes older than the window, newest first
/// (to know who held the port when the window starts); `within` are the
/// window's changes, oldest first.
pub fn spans(
    before: &[ListenerHistory],
    within: &[ListenerHistory],
    from: UnixMicros,
) -> Vec<SpanWire> {
    type Key = (u64, Option<u64>, Option<SocketAddr>);
    let mut open: BTreeMap<Key, SpanWire> = BTreeMap::new();
    let mut finished_before: std::collections::HashSet<Key> = std::collections::HashSet::new();
    // Newest first: a socket's latest change decides whether it was still
    // listening when the window started.
    for change in before {
        let event = &change.event;
        let key = (event.inode, event.net_namespace, event.local);
        if finished_before.contains(&key) || open.contains_key(&key) {
            continue;
        }
        match event.change {
            ListenerChange::Disappeared => {
                finished_before.insert(key);
            }
            ListenerChange::Appeared => {
                let mut span = span_of(change);
                span.start = from;
                open.insert(key, span);
            }
        }
    }
    let mut spans = Vec::new();
    for change in within {
        let event = &change.event;
        let key = (event.inode, event.net_namespace, event.local);
        match event.change {
            ListenerChange::Appeared => {
                open.entry(key).or_insert_with(|| span_of(change));
            }
            ListenerChange::Disappeared => {
                let mut span = open.remove(&key).unwrap_or_else(|| {
                    // Appeared before anything the store kept.
                    let mut span = span_of(change);
                    span.start = from;
                    span
                });
                span.end = Some(event.at);
                spans.push(span);
            }
        }
    }
    spans.extend(open.into_values());
    spans.sort_by_key(|span| (span.start, span.end.unwrap_or(UnixMicros::MAX)));
    spans
}

fn span_of(change: &ListenerHistory) -> SpanWire {
    let event = &change.event;
    let owner = event.owners.first();
    SpanWire {
        start: event.at,
        end: None,
        address: event.local.map(|a| a.ip().to_string()).unwrap_or_default(),
        protocol: event.protocol.as_str(),
        process: owner.map(|p| p.name.clone()),
        pid: owner.map(|p| p.pid),
    }
}

/// Hours a timeline covers unless asked otherwise, and at most.
pub const TIMELINE_HOURS: u32 = 24;
const MAX_TIMELINE_HOURS: u32 = 24 * 7;

/// Reads the port's listener changes from the store and builds spans.
pub fn timeline(
    location: &StoreLocation,
    query: &str,
    now: UnixMicros,
) -> Result<TimelineWire, TimelineError> {
    let mut port = None;
    let mut hours = TIMELINE_HOURS;
    let pairs = pairs(query);
    if let Some(key) = repeated(&pairs, &["port", "hours"]) {
        return Err(TimelineError::Repeated(key));
    }
    if let Some(key) = unknown(&pairs, &["port", "hours"]) {
        return Err(TimelineError::Unknown(key.to_string()));
    }
    for (key, value) in pairs {
        match key.as_str() {
            // Port 0 is where Unix sockets are kept, which have no port:
            // their spans came back with an empty address.
            "port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|port| *port != 0)
                        .ok_or(TimelineError::Port(value))?,
                )
            }
            "hours" => {
                hours = value
                    .parse()
                    .ok()
                    .filter(|h| (1..=MAX_TIMELINE_HOURS).contains(h))
                    .ok_or(TimelineError::Hours(value))?
            }
            _ => {}
        }
    }
    let port = port.ok_or(TimelineError::MissingPort)?;
    let mut from = now - i64::from(hours) * 3_600_000_000;
    let mut reader = store::open_reader(location)?;
    let base = HistoryQuery { port: Some(port), ..HistoryQuery::default() };
    // The newest changes of the window, one more than kept to see whether
    // any were left out. A port that flapped more than that starts its
    // timeline at the oldest change kept (`from` says so), so the chart
    // ends with what the port does now rather than stopping part-way.
    let mut within = reader.listeners(
        &HistoryQuery { since: Some(from), ..base.clone() },
        Order::NewestFirst,
        facts::CHANGES_KEPT + 1,
    )?;
    if within.len() > facts::CHANGES_KEPT {
        within.truncate(facts::CHANGES_KEPT);
        if let Some(oldest) = within.last() {
            from = oldest.event.at;
        }
    }
    within.reverse();
    let before =
        reader.listeners(&HistoryQuery { until: Some(from), ..base }, Order::NewestFirst, 1000)?;
    Ok(TimelineWire {
        schema_version: WIRE_VERSION,
        local_port: port,
        since: time(from),
        since_us: from,
        until: time(now),
        until_us: now,
        spans: spans(&before, &within, from).into_iter().map(SpanLine::from).collect(),
    })
}

/// Why a timeline could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("port: '{0}' is not a port number")]
    Port(String),
    #[error("hours: '{0}' is not between 1 and 168")]
    Hours(String),
    #[error("port: missing (timeline?port=3000)")]
    MissingPort,
    #[error("{0}: given more than once")]
    Repeated(String),
    #[error("unknown parameter '{0}' (expected port or hours)")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// `GET /api/health`: the recorder and the dashboard's own state.
#[derive(Debug, Clone, Serialize)]
pub struct HealthWire {
    pub schema_version: u32,
    pub at: String,
    pub store: Option<String>,
    pub store_note: Option<String>,
    pub inventory_note: Option<String>,
    pub capture_mode: Option<String>,
    pub capture_reason: Option<String>,
    pub recorder_started_at: Option<String>,
    pub losses: BTreeMap<&'static str, u64>,
    pub store_bytes: Option<u64>,
    pub audited_at: Option<String>,
    pub firewall: Option<String>,
    pub listeners: usize,
}

pub fn health(facts: &Facts, store: Option<&StoreLocation>) -> HealthWire {
    HealthWire {
        schema_version: WIRE_VERSION,
        at: time(facts.at),
        store: store.map(|s| s.to_string()),
        store_note: facts.store.note.clone(),
        inventory_note: facts.inventory_note.clone(),
        capture_mode: facts
            .store
            .session
            .as_ref()
            .map(|s| crate::model::history::capture_mode_name(s.mode).to_string()),
        capture_reason: facts.store.session.as_ref().map(|s| s.reason.clone()),
        recorder_started_at: facts.store.session.as_ref().map(|s| time(s.at)),
        losses: facts.store.session_losses.clone(),
        store_bytes: facts.store.size_bytes,
        audited_at: facts.audit.at.map(time),
        firewall: firewall_summary(&facts.audit.firewall),
        listeners: listeners_of(&facts.snapshot).count(),
    }
}

/// `nftables input policy drop`, or one phrase per address family when
/// IPv4 and IPv6 traffic meet different policies.
fn firewall_summary(firewall: &crate::audit::firewall::HostFirewall) -> Option<String> {
    let phrase = |chain: &crate::audit::firewall::InputChain| {
        chain
            .policy
            .as_ref()
            .map(|policy| format!("{} input policy {policy}", chain.source.unwrap_or("firewall")))
    };
    match (phrase(&firewall.v4), phrase(&firewall.v6)) {
        (Some(v4), Some(v6)) if v4 == v6 => Some(v4),
        (Some(v4), Some(v6)) => Some(format!("IPv4: {v4}; IPv6: {v6}")),
        (Some(v4), None) => Some(format!("IPv4: {v4}")),
        (None, Some(v6)) => Some(format!("IPv6: {v6}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::monitor::ListenerEvent;

    /// The bytes of one `/api/listeners` row, fixed: the row is built from
    /// the same listener record as `monitor --jsonl` and history write.
    #[test]
    fn a_listener_row_keeps_its_layout() {
        use crate::model::{Process, Protocol, Snapshot, Socket};
        let mut socket = Socket::listening(Protocol::Tcp, "0.0.0.0:8080".parse().unwrap());
        socket.inode = 77;
        socket.owners = vec![42];
        socket.net_namespace = Some(4026531840);
        let process = Process {
            pid: 42,
            name: "srv\u{1b}".into(),
            cmdline: vec!["srv".into(), "--port".into(), "8080".into()],
            uid: 1000,
            user: Some("ann".into()),
            start_time: Some(1_796_000_000),
            unit: Some("srv.service".into()),
            ..Process::default()
        };
        let snapshot = Snapshot {
            sockets: vec![socket],
            processes: [(42, process)].into_iter().collect(),
            ..Snapshot::default()
        };
        let facts = Facts { snapshot, ..Facts::default() };
        let page = listeners(&facts, &Filter { limit: 10, ..Filter::default() });
        assert_eq!(
            serde_json::to_string(&page.items).unwrap(),
            r#"[{"protocol":"tcp","local_address":"0.0.0.0","local_port":8080,"scope":"wildcard","exposed":true,"firewall":"unknown","reachable":true,"processes":[{"pid":42,"name":"srv\u001b","cmdline":"srv --port 8080","user":"ann","uid":1000,"unit":"srv.service","container":null,"start_time":"2026-11-30T00:53:20.000000Z"}],"since":"2026-11-30T00:53:20.000000Z","since_recorded":false,"net_namespace":4026531840,"open_connections":0,"findings":[]}]"#
        );
    }

    /// A shell loop's clients are one line with their count and pids, as
    /// `history` shows them; the port's distinct clients still count each
    /// process, with or without a process filter.
    #[test]
    fn clients_are_listed_per_program_and_counted_per_process() {
        use crate::model::history::ClientSummary;
        let client = |pid: u32, name: &str, cmdline: &[&str], first_at: i64| ClientSummary {
            host: None,
            net_namespace: None,
            server: "127.0.0.1:6379".parse().unwrap(),
            client: Some(ProcessIdentity {
                pid,
                name: name.into(),
                cmdline: cmdline.iter().map(|word| word.to_string()).collect(),
                uid: 1000,
                start_time: Some(1_796_000_000 + u64::from(pid)),
                ..ProcessIdentity::default()
            }),
            client_uid: Some(1000),
            processes: 1,
            pids: vec![pid],
            connections: 1,
            open: 0,
            first_at,
            last_at: first_at + 10,
            bytes_client_to_server: 14,
            bytes_server_to_client: 7,
            server_process: None,
        };
        let ping = ["redis-cli", "PING"];
        let recent_clients = vec![
            client(3001, "redis-cli", &ping, 100),
            client(3002, "redis-cli", &ping, 200),
            client(3003, "redis-cli", &ping, 300),
            client(4411, "python3", &["python3", "app.py"], 50),
        ];
        let store = facts::StoreView {
            recent_programs: store::by_program(recent_clients.clone()),
            recent_clients,
            ..facts::StoreView::default()
        };
        let facts = Facts { store, ..Facts::default() };
        let page = connections(&facts, &Filter { limit: 10, ..Filter::default() });
        let row = &page.items[0];
        assert_eq!((row.connections, row.distinct_clients), (4, 4));
        let lines: Vec<_> = row
            .clients
            .iter()
            .map(|c| (c.process.as_ref().unwrap().pid, c.process_count, c.pids.clone()))
            .collect();
        assert_eq!(lines, [(3001, 3, vec![3001, 3002, 3003]), (4411, 1, vec![4411])]);
        let loop_only = Filter { process: Some("redis".into()), limit: 10, ..Filter::default() };
        let row = &connections(&facts, &loop_only).items[0];
        assert_eq!((row.connections, row.distinct_clients, row.clients.len()), (3, 3, 1));
    }

    #[test]
    fn the_firewall_summary_names_the_family_when_the_policies_differ() {
        use crate::audit::firewall::{HostFirewall, InputChain};
        let chain = |policy: Option<&str>| InputChain {
            source: Some("nftables"),
            policy: policy.map(str::to_string),
            ..InputChain::default()
        };
        let both = |v4, v6| HostFirewall { v4: chain(v4), v6: chain(v6) };
        assert_eq!(
            firewall_summary(&both(Some("drop"), Some("drop"))).as_deref(),
            Some("nftables input policy drop")
        );
        assert_eq!(
            firewall_summary(&both(Some("drop"), Some("accept"))).as_deref(),
            Some("IPv4: nftables input policy drop; IPv6: nftables input policy accept")
        );
        assert_eq!(
            firewall_summary(&both(None, Some("drop"))).as_deref(),
            Some("IPv6: nftables input policy drop")
        );
        assert_eq!(firewall_summary(&both(None, None)), None);
    }

    #[test]
    fn an_ipv6_only_wildcard_is_judged_by_the_ipv6_policy_alone() {
        use crate::audit::firewall::{HostFirewall, InputChain};
        use crate::model::Socket;
        let chain = |policy: &str| InputChain {
            source: Some("nftables"),
            policy: Some(policy.to_string()),
            ..InputChain::default()
        };
        let audit = crate::dashboard::facts::AuditView {
            firewall: HostFirewall { v4: chain("accept"), v6: chain("drop") },
            ..Default::default()
        };
        let wildcard = |v6only| Socket {
            v6only,
            ..Socket::listening(Protocol::Tcp, "[::]:8080".parse().unwrap())
        };
        assert_eq!(audit.firewall_verdict(&wildcard(Some(true))), "blocked");
        assert_eq!(audit.firewall_verdict(&wildcard(Some(false))), "admitted");
        // Unknown (the /proc/net reader): the kernel's dual-stack default.
        assert_eq!(audit.firewall_verdict(&wildcard(None)), "admitted");
    }
    use crate::model::{Family, Protocol};

    fn change(at: i64, inode: u64, appeared: bool, name: &str) -> ListenerHistory {
        ListenerHistory {
            host: None,
            event: ListenerEvent {
                at,
                change: if appeared {
                    ListenerChange::Appeared
                } else {
                    ListenerChange::Disappeared
                },
                protocol: Protocol::Tcp,
                family: Family::Ipv4,
                local: Some("127.0.0.1:3000".parse().unwrap()),
                path: None,
                inode,
                uid: 0,
                net_namespace: None,
                scope: Scope::Loopback,
                exposed: false,
                v6only: None,
                owners: vec![ProcessIdentity {
                    pid: inode as u32,
                    name: name.into(),
                    ..Default::default()
                }],
            },
        }
    }

    /// A port that flapped more often than a timeline keeps: the timeline
    /// ends with the newest changes (the listener there now), starting at
    /// the oldest change kept. It used to keep the oldest and drop the rest,
    /// so the listener holding the port now was missing.
    #[test]
    fn a_timeline_of_a_flapping_port_ends_now() {
        use crate::model::monitor::MonitorEvent;
        use crate::store::{StoreLocation, WriterOptions};
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::Sqlite(dir.path().join("history.sqlite"));
        let now = store::now_micros();
        let flaps = facts::CHANGES_KEPT + 2;
        let mut events: Vec<MonitorEvent> = (0..flaps)
            .map(|index| {
                let at = now - 60_000_000 + index as i64 * 1_000;
                let inode = 10 + index as u64 / 2;
                MonitorEvent::Listener(change(at, inode, index % 2 == 0, "flappy").event)
            })
            .collect();
        events.push(MonitorEvent::Listener(change(now - 1_000_000, 1, true, "steady").event));
        let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
        for batch in events.chunks(1_000) {
            writer.write_batch(batch).unwrap();
        }
        drop(writer);
        let timeline = timeline(&location, "port=3000", now).unwrap();
        let last = timeline.spans.last().expect("spans");
        assert_eq!(
            (last.process_name.as_deref(), last.ended_at_us),
            (Some("steady"), None),
            "{last:?}"
        );
        // Starts at the oldest change kept: the third flap.
        assert_eq!(timeline.since_us, now - 60_000_000 + 3 * 1_000);
        assert_eq!(timeline.spans.len(), facts::CHANGES_KEPT / 2 + 1);
    }

    // A misspelt parameter was ignored: `?prot=5432` answered about every
    // port, `?limt=5` with fifty rows. Port 0 drew the Unix sockets (kept
    // under port 0) as spans with an empty address.
    #[test]
    fn unknown_parameters_and_port_0_are_refused() {
        assert_eq!(
            Filter::parse("prot=5432").unwrap_err(),
            FilterError::Unknown { key: "prot".into(), expected: FILTER_KEYS }
        );
        let error = Filter::parse("port=80&limt=5").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown parameter 'limt' (expected port, process, scope, offset or limit)"
        );
        assert!(Filter::parse("port=80&token=x").is_ok(), "the token is taken on every path");
        assert!(no_parameters("token=x").is_ok() && no_parameters("").is_ok());
        assert!(no_parameters("since=1h").is_err());
        // Judged before the store is opened: there is none here.
        let location = StoreLocation::Sqlite("/nonexistent/history.sqlite".into());
        for (query, expected) in [
            ("port=0", "port: '0' is not a port number"),
            ("port=80&hour=2", "unknown parameter 'hour' (expected port or hours)"),
            ("port=80&limit=5", "unknown parameter 'limit' (expected port or hours)"),
        ] {
            let error = timeline(&location, query, 0).map(|_| ()).unwrap_err();
            assert_eq!(error.to_string(), expected, "{query}");
        }
    }

    #[test]
    fn spans_pair_changes_and_carry_holders_into_the_window() {
        // node held 3000 since before the window and left at 150; python
        // came at 200 and is still there; vite came and went inside.
        let before = vec![change(10, 1, true, "node")];
        let within = vec![
            change(120, 2, true, "vite"),
            change(130, 2, false, "vite"),
            change(150, 1, false, "node"),
            change(200, 3, true, "python3"),
        ];
        let spans = spans(&before, &within, 100);
        let summary: Vec<_> =
            spans.iter().map(|s| (s.process.clone().unwrap(), s.start, s.end)).collect();
        assert_eq!(
            summary,
            vec![
                ("node".to_string(), 100, Some(150)),
                ("vite".to_string(), 120, Some(130)),
                ("python3".to_string(), 200, None),
            ]
        );
        // A socket that left before the window is not drawn.
        let before = vec![change(50, 1, false, "node"), change(10, 1, true, "node")];
        assert!(super::spans(&before, &[], 100).is_empty());
    }

    #[test]
    fn filters_parse_and_refuse_bad_values() {
        let filter =
            Filter::parse("port=5432&process=Post%20gres&scope=exposed&offset=50&limit=10&token=x")
                .unwrap();
        assert_eq!(filter.port, Some(5432));
        assert_eq!(filter.process.as_deref(), Some("post gres"));
        assert_eq!((filter.offset, filter.limit), (50, 10));
        assert!(Filter::parse("port=70000").is_err());
        assert!(Filter::parse("limit=0").is_err());
        assert!(Filter::parse("limit=100000").is_err());
        assert!(Filter::parse("scope=mars").is_err());
        assert_eq!(Filter::parse("").unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(percent_decode("a%3Cb%"), "a<b%");
        // A filter given twice is refused, not read as its last value.
        for query in ["port=80&port=81", "process=a&limit=5&process=b", "scope=exposed&scope="] {
            let key = query.split('=').next().unwrap().to_string();
            assert_eq!(Filter::parse(query).unwrap_err(), FilterError::Repeated(key), "{query}");
        }
        let location = StoreLocation::Sqlite("/nonexistent/history.sqlite".into());
        let twice = timeline(&location, "port=80&hours=1&port=81", 0).unwrap_err();
        assert_eq!(twice.to_string(), "port: given more than once");
    }

    #[test]
    fn pages_are_cut_on_the_server() {
        let filter = Filter { offset: 9_990, limit: 50, ..Filter::default() };
        let page = filter.page((0..10_000).collect::<Vec<u32>>());
        assert_eq!(page.total, 10_000);
        assert_eq!(page.items, (9_990..10_000).collect::<Vec<u32>>());
    }
}
