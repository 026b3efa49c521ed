//! Rendering of `porthole top`: the live terminal view (ratatui), the
//! `--once` table, and the `--json`/`--jsonl` wire format — all from one
//! [`TopFrame`] plus the view state ([`TopView`]) the keys change.
//!
//! Text from other users (process names, Unix socket paths) goes through
//! [`sanitize`] before it reaches a cell, in the TUI as in the table.

use std::io::Write;
use std::net::IpAddr;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style as TuiStyle};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row as TuiRow, Table as TuiTable, TableState};
use serde::Serialize;

use super::json::{time_of_seconds, ProcessRecord, SCHEMA_VERSION};
use super::sanitize::sanitize;
use super::table::Table;
use super::Style;
use crate::model::top::{ConnectionRow, ListenerChange, ListenerRow, ShortLivedCapture, TopFrame};
use crate::model::{Process, Protocol};

/// Columns the rows can be sorted by, each with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Port,
    Process,
    Connections,
    NewPerSecond,
    BytesIn,
    BytesOut,
    Queue,
    Since,
}

impl SortKey {
    /// Every sort key with the letter that selects it, for the footer.
    pub const KEYS: [(char, SortKey, &'static str); 8] = [
        ('p', SortKey::Port, "port"),
        ('n', SortKey::Process, "process"),
        ('c', SortKey::Connections, "conns"),
        ('r', SortKey::NewPerSecond, "new/s"),
        ('i', SortKey::BytesIn, "in"),
        ('o', SortKey::BytesOut, "out"),
        ('a', SortKey::Queue, "queue"),
        ('t', SortKey::Since, "since"),
    ];

    /// The [`HEADER`] column this key sorts by.
    fn column(self) -> usize {
        match self {
            SortKey::Port => 1,
            SortKey::Connections => 3,
            SortKey::NewPerSecond => 4,
            SortKey::BytesIn => 5,
            SortKey::BytesOut => 6,
            SortKey::Queue => 7,
            SortKey::Since => 8,
            SortKey::Process => 9,
        }
    }

    pub fn from_key(key: char) -> Option<Self> {
        Self::KEYS.iter().find(|(letter, _, _)| *letter == key).map(|(_, sort, _)| *sort)
    }
}

/// What the person at the terminal chose: sort, filter, selection.
#[derive(Debug, Clone, PartialEq)]
pub struct TopView {
    pub sort: SortKey,
    pub descending: bool,
    /// Rows whose port, address, path, process name or scope contain it.
    pub filter: String,
    /// The filter is being typed (`/` pressed, not yet Enter/Esc).
    pub editing_filter: bool,
    /// Index into the visible rows.
    pub selected: usize,
    /// The listener `selected` is on, followed from frame to frame: a
    /// listener that appears above it, or another sort, moves its row.
    /// `None` after a key that moves the selection: the listener at
    /// `selected` is taken then.
    pub selected_listener: Option<ListenerKey>,
    /// Show the selected listener's connections.
    pub expanded: bool,
    /// The cursor keys move through the open connection list (Tab), not
    /// through the listeners.
    pub connections_focused: bool,
    /// Index of the selected connection in the open list.
    pub connection_selected: usize,
    /// Index of the first connection the list shows.
    pub connection_offset: usize,
    /// Index of the first listener row the table shows: kept between
    /// frames so Page Up and Page Down move the view a page, as `less`
    /// and `htop` do.
    pub listener_offset: usize,
}

/// How many rows each list showed at the last draw: a page for Page Up and
/// Page Down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pages {
    /// Listener rows the table has room for.
    pub listeners: usize,
    /// Connection rows the open list shows (0 when it is closed).
    pub connections: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Pages { listeners: 1, connections: CONNECTION_ROWS }
    }
}

/// Connection rows the open list shows at most: a page for Page Up and
/// Page Down in it.
pub const CONNECTION_ROWS: usize = 10;

impl TopView {
    /// Closes the connection list, or resets it for another listener: back
    /// to its top, the focus on the listeners.
    pub fn reset_connections(&mut self) {
        self.connections_focused = false;
        self.connection_selected = 0;
        self.connection_offset = 0;
    }

    /// Selects connection `index` (clamped to the `count` there are) and
    /// scrolls the list, `shown` rows high, just enough to show it.
    pub fn select_connection(&mut self, index: usize, count: usize, shown: usize) {
        self.connection_selected = index.min(count.saturating_sub(1));
        self.connection_offset = scrolled_to(
            self.connection_offset.min(count.saturating_sub(shown)),
            self.connection_selected,
            shown,
        );
    }

    /// Page Down (`forward`) or Page Up in the open connection list.
    pub fn page_connections(&mut self, forward: bool, count: usize, shown: usize) {
        (self.connection_offset, self.connection_selected) =
            paged(self.connection_offset, self.connection_selected, count, shown, forward);
    }

    /// Page Down (`forward`) or Page Up in the listener table.
    pub fn page_listeners(&mut self, forward: bool, count: usize, shown: usize) {
        (self.listener_offset, self.selected) =
            paged(self.listener_offset, self.selected, count, shown, forward);
    }

    /// Scrolls the listener table, `shown` rows high, just enough to show
    /// the selected row (after a move of one row, Home or End).
    pub fn show_selected_listener(&mut self, count: usize, shown: usize) {
        self.listener_offset = scrolled_to(
            self.listener_offset.min(count.saturating_sub(shown)),
            self.selected,
            shown,
        );
    }
}

/// The first row and the selected row after Page Down (`forward`) or Page
/// Up in a list of `count` rows that shows `shown` at a time, starting at
/// `offset` with `selected` on screen: the view moves a whole page (less at
/// either end) and the selection with it, so it stays on screen at the
/// same height; at the end the selection goes to the last row, at the top
/// to the first.
pub fn paged(
    offset: usize,
    selected: usize,
    count: usize,
    shown: usize,
    forward: bool,
) -> (usize, usize) {
    let page = shown.max(1);
    let last = count.saturating_sub(1);
    let selected = selected.min(last);
    // Where the view is now, with the selection on it.
    let offset = scrolled_to(offset.min(count.saturating_sub(page)), selected, page);
    if forward {
        let moved = (offset + page).min(count.saturating_sub(page));
        let target = if moved == offset { last } else { (selected + page).min(last) };
        (moved, target)
    } else {
        let moved = offset.saturating_sub(page);
        let target = if moved == offset { 0 } else { selected.saturating_sub(page) };
        (moved, target)
    }
}

/// The first row of a list showing `shown` rows from `offset`, moved just
/// enough that row `selected` is on screen.
fn scrolled_to(offset: usize, selected: usize, shown: usize) -> usize {
    if selected < offset {
        selected
    } else if shown > 0 && selected >= offset + shown {
        selected + 1 - shown
    } else {
        offset
    }
}

/// A listener as the selection knows it: its protocol and socket inode,
/// which stay while its place among the rows changes.
pub type ListenerKey = (Protocol, u64);

fn listener_key(row: &ListenerRow) -> ListenerKey {
    (row.socket.protocol, row.socket.inode)
}

/// Puts `selected` on the row of the listener chosen before, wherever the
/// frame, the sort or the filter moved it. When that listener is no longer
/// shown (gone, and its crossed-out row expired, or filtered out), the
/// selection stays at its place and the connection list closes: the
/// listener it listed is not on screen.
pub fn follow_selection(frame: &TopFrame, view: &mut TopView) {
    let rows = visible_rows(frame, view);
    if let Some(key) = view.selected_listener {
        if let Some(index) = rows.iter().position(|row| listener_key(row) == key) {
            view.selected = index;
            return;
        }
        view.expanded = false;
        view.reset_connections();
    }
    view.selected = view.selected.min(rows.len().saturating_sub(1));
    view.selected_listener = rows.get(view.selected).map(|row| listener_key(row));
}

impl Default for TopView {
    fn default() -> Self {
        TopView {
            sort: SortKey::Port,
            descending: false,
            filter: String::new(),
            editing_filter: false,
            selected: 0,
            selected_listener: None,
            expanded: false,
            connections_focused: false,
            connection_selected: 0,
            connection_offset: 0,
            listener_offset: 0,
        }
    }
}

/// The rows the view shows, filtered and sorted.
pub fn visible_rows<'a>(frame: &'a TopFrame, view: &TopView) -> Vec<&'a ListenerRow> {
    let needle = view.filter.to_lowercase();
    let mut rows: Vec<&ListenerRow> = frame
        .listeners
        .iter()
        .filter(|row| needle.is_empty() || search_text(row, frame).contains(&needle))
        .collect();
    rows.sort_by(|a, b| {
        let order = match view.sort {
            SortKey::Port => a.socket.local_port().cmp(&b.socket.local_port()),
            SortKey::Process => process_order(a, frame).cmp(&process_order(b, frame)),
            SortKey::Connections => a.open_connections.cmp(&b.open_connections),
            SortKey::NewPerSecond => a.new_per_second.total_cmp(&b.new_per_second),
            SortKey::BytesIn => a.bytes_in_per_second.total_cmp(&b.bytes_in_per_second),
            SortKey::BytesOut => a.bytes_out_per_second.total_cmp(&b.bytes_out_per_second),
            SortKey::Queue => a.accept_queue.map(|q| q.0).cmp(&b.accept_queue.map(|q| q.0)),
            SortKey::Since => a.since.cmp(&b.since),
        };
        if view.descending {
            order.reverse()
        } else {
            order
        }
    });
    rows
}

fn search_text(row: &ListenerRow, frame: &TopFrame) -> String {
    format!(
        "{} {} {} {}",
        local_label(row),
        row.socket.scope().as_str(),
        process_label(row, frame),
        row.socket.protocol.as_str()
    )
    .to_lowercase()
}

/// `127.0.0.1:8000`, `[::1]:5173`, or a Unix path (escaped).
fn local_label(row: &ListenerRow) -> String {
    match (&row.socket.local, &row.socket.path) {
        (Some(local), _) => local.to_string(),
        (None, Some(path)) => sanitize(path).into_owned(),
        (None, None) => "(unnamed)".to_string(),
    }
}

/// `node (4411)`, `nginx (812) +3`, or `?` when no owner is visible.
fn process_label(row: &ListenerRow, frame: &TopFrame) -> String {
    let mut owners = row.socket.owners.iter();
    let Some(first) = owners.next() else {
        return "?".to_string();
    };
    let name = frame.processes.get(first).map_or_else(|| "?".to_string(), Process::shown_name);
    let more = owners.count();
    let mut label = format!("{} ({first})", sanitize(&name));
    if more > 0 {
        label.push_str(&format!(" +{more}"));
    }
    label
}

/// What sorting by process compares: the first owner's name, then its pid
/// as a number (as text `python3 (100)` came before `python3 (99)`), then
/// how many more owners there are. Rows with no visible owner (`?`) come
/// last.
fn process_order(row: &ListenerRow, frame: &TopFrame) -> (bool, String, u32, usize) {
    let mut owners = row.socket.owners.iter();
    let Some(first) = owners.next() else {
        return (true, String::new(), 0, 0);
    };
    let name = frame.processes.get(first).map_or("?", |process| process.name.as_str());
    (false, sanitize(name).into_owned(), *first, owners.count())
}

fn pids_label(pids: &[u32], frame: &TopFrame) -> String {
    match pids.first() {
        None => "-".to_string(),
        Some(pid) => {
            let name =
                frame.processes.get(pid).map_or_else(|| "?".to_string(), Process::shown_name);
            format!("{} ({pid})", sanitize(&name))
        }
    }
}

/// Bytes per second in a short human form: `0`, `512B`, `1.2K`, `3.4M`.
pub fn rate(bytes_per_second: f64) -> String {
    let value = bytes_per_second.max(0.0);
    if value < 0.5 {
        "0".to_string()
    } else if value < 1024.0 {
        format!("{value:.0}B")
    } else if value < 1024.0 * 1024.0 {
        format!("{:.1}K", value / 1024.0)
    } else if value < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1}M", value / (1024.0 * 1024.0))
    } else {
        format!("{:.1}G", value / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Connections per second: `0`, `0.5`, `12`, `1.2k`.
fn per_second(value: f64) -> String {
    if value < 0.05 {
        "0".to_string()
    } else if value < 10.0 {
        format!("{value:.1}")
    } else if value < 10_000.0 {
        format!("{value:.0}")
    } else {
        format!("{:.1}k", value / 1000.0)
    }
}

/// How long ago `since` was: `45s`, `12m`, `3h`, `5d`; `~` marks an
/// estimate (the owner's start, not the moment it began listening).
fn age(row: &ListenerRow, now: u64) -> String {
    let Some(since) = row.since else {
        return "?".to_string();
    };
    let seconds = now.saturating_sub(since);
    let text = if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else if seconds < 86_400 {
        format!("{}h", seconds / 3600)
    } else {
        format!("{}d", seconds / 86_400)
    };
    if row.since_exact {
        text
    } else {
        format!("~{text}")
    }
}

fn queue(row: &ListenerRow) -> String {
    match row.accept_queue {
        Some((waiting, size)) => format!("{waiting}/{size}"),
        None => "-".to_string(),
    }
}

const HEADER: [&str; 10] =
    ["PROTO", "LOCAL", "SCOPE", "CONNS", "NEW/s", "IN/s", "OUT/s", "QUEUE", "SINCE", "PROCESS"];

/// The cells of one listener row, in [`HEADER`] order.
fn cells(row: &ListenerRow, frame: &TopFrame) -> [String; 10] {
    let tcp = row.socket.protocol == Protocol::Tcp;
    let dash = |text: String| if tcp { text } else { "-".to_string() };
    [
        row.socket.protocol.as_str().to_string(),
        local_label(row),
        row.socket.scope().as_str().to_string(),
        dash(row.open_connections.to_string()),
        dash(per_second(row.new_per_second)),
        dash(rate(row.bytes_in_per_second)),
        dash(rate(row.bytes_out_per_second)),
        queue(row),
        age(row, frame.at),
        process_label(row, frame),
    ]
}

/// What the frame could not see, as notes for the footer or stderr.
pub fn notes(frame: &TopFrame) -> Vec<String> {
    let mut notes = Vec::new();
    if let ShortLivedCapture::Unavailable { reason } = &frame.short_lived {
        notes.push(format!("connections shorter than one refresh are not counted: {reason}"));
    }
    for listener in &frame.fleeting {
        notes.push(format!(
            "a listener on {} came and went between two refreshes: it served {} connection(s), {} in, {} out",
            listener.local,
            listener.connections,
            super::history::bytes(listener.bytes_in),
            super::history::bytes(listener.bytes_out)
        ));
    }
    let hidden = frame.visibility.sockets_without_visible_owner;
    if hidden > 0 {
        let gaps = &frame.visibility.owner_gaps;
        let why = if !gaps.is_empty() {
            crate::model::OwnerGap::describe_all(gaps).join("; ")
        } else if frame.visibility.unreadable_processes > 0 {
            "processes of other users could not be read (run as root to see them)".to_string()
        } else {
            "no process porthole can see holds them (one in another PID namespace, or a socket only the kernel keeps)".to_string()
        };
        notes.push(format!("{hidden} listener(s) show owner ?: {why}"));
    }
    notes
}

/// `--once`: the frame as a plain table, then the connections of every
/// listener that has some.
pub fn write_table(out: &mut dyn Write, frame: &TopFrame, style: Style) -> std::io::Result<()> {
    let view = TopView::default();
    let rows = visible_rows(frame, &view);
    let mut table = Table::new(&HEADER);
    for row in &rows {
        table.push(cells(row, frame).to_vec());
    }
    table.write(out, style.width, "")?;
    for row in rows.iter().filter(|row| !row.connections.is_empty()) {
        writeln!(out)?;
        writeln!(out, "{} {}", style.bold("Connections of"), local_label(row))?;
        write_connections(out, &row.connections, frame, style)?;
    }
    for event in &frame.events {
        writeln!(out, "{}", event_line(event))?;
    }
    Ok(())
}

fn write_connections(
    out: &mut dyn Write,
    connections: &[ConnectionRow],
    frame: &TopFrame,
    style: Style,
) -> std::io::Result<()> {
    let mut table =
        Table::new(&["CLIENT", "STATE", "IN/s", "OUT/s", "IN", "OUT", "CLIENT PROCESS"]);
    for connection in connections {
        table.push(vec![
            connection.client.to_string(),
            connection.state.ss_name().to_string(),
            rate(connection.bytes_in_per_second),
            rate(connection.bytes_out_per_second),
            rate(connection.bytes_in as f64),
            rate(connection.bytes_out as f64),
            pids_label(&connection.client_pids, frame),
        ]);
    }
    table.write(out, style.width, "  ")
}

/// `node (pid 4411) started listening on tcp [::1]:5173` /
/// `postgres (pid 812) on tcp 127.0.0.1:5432 went away`.
pub fn event_line(event: &crate::model::top::TopEvent) -> String {
    let who = match (event.processes.first(), event.socket.owners.first()) {
        (Some(process), _) => format!("{} (pid {})", sanitize(&process.shown_name()), process.pid),
        (None, Some(pid)) => format!("? (pid {pid})"),
        (None, None) => "a process porthole cannot see".to_string(),
    };
    let place = match (&event.socket.local, &event.socket.path) {
        (Some(local), _) => format!("{} {local}", event.socket.protocol.as_str()),
        (None, Some(path)) => format!("unix {}", sanitize(path)),
        (None, None) => "an unnamed socket".to_string(),
    };
    let clock = clock(event.at);
    match event.change {
        ListenerChange::Appeared => format!("{clock} {who} started listening on {place}"),
        ListenerChange::Disappeared => format!("{clock} {who} on {place} went away"),
    }
}

/// `HH:MM:SS` in UTC.
fn clock(seconds: u64) -> String {
    let of_day = seconds % 86_400;
    format!("{:02}:{:02}:{:02}", of_day / 3600, of_day / 60 % 60, of_day % 60)
}

/// One frame on the wire (`--json`, and each line of `--jsonl`).
#[derive(Debug, Serialize)]
pub struct TopFrameRecord {
    pub schema_version: u32,
    /// When the frame was taken, RFC 3339 UTC.
    pub at: String,
    pub interval_seconds: f64,
    /// Whether connections shorter than one refresh are counted.
    pub short_lived_counted: bool,
    /// Why they are not, when they are not.
    pub short_lived_unavailable: Option<String>,
    pub listeners: Vec<TopListenerRecord>,
    pub events: Vec<TopEventRecord>,
    pub hidden_owners: usize,
    /// TCP listeners that came and went between this frame and the one
    /// before, known by the connections they served.
    pub fleeting_listeners: Vec<TopFleetingRecord>,
}

/// A listener that lived less than one refresh, on the wire.
#[derive(Debug, Serialize)]
pub struct TopFleetingRecord {
    pub local_address: String,
    pub local_port: u16,
    /// Connections it served that closed in the interval.
    pub connections: u64,
    #[serde(rename = "bytes_client_to_server")]
    pub bytes_in: u64,
    #[serde(rename = "bytes_server_to_client")]
    pub bytes_out: u64,
}

/// One listener on the wire.
#[derive(Debug, Serialize)]
pub struct TopListenerRecord {
    pub protocol: &'static str,
    pub local_address: Option<String>,
    pub local_port: u16,
    pub path: Option<String>,
    /// The exact bytes of `path`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    pub scope: &'static str,
    pub exposed: bool,
    pub inode: u64,
    pub open_connections: usize,
    pub new_connections_per_second: f64,
    #[serde(rename = "bytes_client_to_server_per_second")]
    pub bytes_in_per_second: f64,
    #[serde(rename = "bytes_server_to_client_per_second")]
    pub bytes_out_per_second: f64,
    /// `[waiting, size]` for TCP listeners.
    pub accept_queue: Option<[u32; 2]>,
    /// RFC 3339 UTC; see `since_exact`; `null` when unknown.
    pub since: Option<String>,
    /// `since` is when `top` saw it appear, not its owner's start.
    pub since_exact: bool,
    /// `appeared`, `disappeared` or `null`.
    pub change: Option<&'static str>,
    pub processes: Vec<ProcessRecord>,
    pub connections: Vec<TopConnectionRecord>,
}

/// One connection on the wire.
#[derive(Debug, Serialize)]
pub struct TopConnectionRecord {
    /// Serialised as text ("127.0.0.1", "::1") without an allocation per
    /// address: `--jsonl` writes every connection of every listener.
    pub client_address: IpAddr,
    pub client_port: u16,
    pub server_address: IpAddr,
    pub server_port: u16,
    pub state: &'static str,
    #[serde(rename = "bytes_client_to_server")]
    pub bytes_in: u64,
    #[serde(rename = "bytes_server_to_client")]
    pub bytes_out: u64,
    #[serde(rename = "bytes_client_to_server_per_second")]
    pub bytes_in_per_second: f64,
    #[serde(rename = "bytes_server_to_client_per_second")]
    pub bytes_out_per_second: f64,
    pub client_pids: Vec<u32>,
}

/// A listener change on the wire.
#[derive(Debug, Serialize)]
pub struct TopEventRecord {
    /// RFC 3339 UTC.
    pub at: String,
    /// `appeared` or `disappeared`.
    pub change: &'static str,
    pub protocol: &'static str,
    pub local_address: Option<String>,
    pub local_port: u16,
    pub path: Option<String>,
    /// The exact bytes of `path`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    pub pids: Vec<u32>,
}

fn change_name(change: ListenerChange) -> &'static str {
    match change {
        ListenerChange::Appeared => "appeared",
        ListenerChange::Disappeared => "disappeared",
    }
}

fn processes_of(pids: &[u32], frame: &TopFrame) -> Vec<ProcessRecord> {
    pids.iter()
        .filter_map(|pid| frame.processes.get(pid))
        .map(ProcessRecord::from_process)
        .collect()
}

impl TopFrameRecord {
    pub fn from_frame(frame: &TopFrame) -> Self {
        let (short_lived_counted, short_lived_unavailable) = match &frame.short_lived {
            ShortLivedCapture::Available => (true, None),
            ShortLivedCapture::Unavailable { reason } => (false, Some(reason.clone())),
        };
        TopFrameRecord {
            schema_version: SCHEMA_VERSION,
            at: time_of_seconds(frame.at),
            interval_seconds: frame.interval_seconds,
            short_lived_counted,
            short_lived_unavailable,
            listeners: frame
                .listeners
                .iter()
                .map(|row| TopListenerRecord {
                    protocol: row.socket.protocol.as_str(),
                    local_address: row.socket.local.map(|local| local.ip().to_string()),
                    local_port: row.socket.local_port(),
                    path: row.socket.path.clone(),
                    path_bytes: super::json::path_bytes(row.socket.path.as_deref()),
                    scope: row.socket.scope().as_str(),
                    exposed: row.socket.exposed(),
                    inode: row.socket.inode,
                    open_connections: row.open_connections,
                    new_connections_per_second: row.new_per_second,
                    bytes_in_per_second: row.bytes_in_per_second,
                    bytes_out_per_second: row.bytes_out_per_second,
                    accept_queue: row.accept_queue.map(|(waiting, size)| [waiting, size]),
                    since: row.since.map(time_of_seconds),
                    since_exact: row.since_exact,
                    change: row.change.map(change_name),
                    processes: processes_of(&row.socket.owners, frame),
                    connections: row
                        .connections
                        .iter()
                        .map(|connection| TopConnectionRecord {
                            client_address: connection.client.ip(),
                            client_port: connection.client.port(),
                            server_address: connection.server.ip(),
                            server_port: connection.server.port(),
                            state: connection.state.ss_name(),
                            bytes_in: connection.bytes_in,
                            bytes_out: connection.bytes_out,
                            bytes_in_per_second: connection.bytes_in_per_second,
                            bytes_out_per_second: connection.bytes_out_per_second,
                            client_pids: connection.client_pids.clone(),
                        })
                        .collect(),
                })
                .collect(),
            events: frame
                .events
                .iter()
                .map(|event| TopEventRecord {
                    at: time_of_seconds(event.at),
                    change: change_name(event.change),
                    protocol: event.socket.protocol.as_str(),
                    local_address: event.socket.local.map(|local| local.ip().to_string()),
                    local_port: event.socket.local_port(),
                    path: event.socket.path.clone(),
                    path_bytes: super::json::path_bytes(event.socket.path.as_deref()),
                    pids: event.socket.owners.clone(),
                })
                .collect(),
            hidden_owners: frame.visibility.sockets_without_visible_owner,
            fleeting_listeners: frame
                .fleeting
                .iter()
                .map(|listener| TopFleetingRecord {
                    local_address: listener.local.ip().to_string(),
                    local_port: listener.local.port(),
                    connections: listener.connections,
                    bytes_in: listener.bytes_in,
                    bytes_out: listener.bytes_out,
                })
                .collect(),
        }
    }
}

/// The width ratatui gives each column of a table with `widths` and a
/// column spacing of 1 in `total` columns (its own layout of a table
/// without a highlight symbol), so cells can be fitted before it clips them.
fn column_widths(widths: &[Constraint], total: u16) -> Vec<usize> {
    Layout::horizontal(widths.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, total, 1))
        .iter()
        .map(|column| usize::from(column.width))
        .collect()
}

/// How many bytes at the end of a cell [`fit`] keeps: what tells rows apart.
/// An address keeps its port and a Unix path its end (the file name); a
/// process label keeps its pid (`name (pid) +N`); anything else is cut at
/// the end.
fn kept_tail(address: bool, process: bool, text: &str) -> usize {
    if address {
        match text.rfind(':') {
            Some(colon) if !text.starts_with('/') && !text.starts_with('@') => text.len() - colon,
            _ => text.len(),
        }
    } else if process {
        text.rfind(" (").map_or(0, |open| text.len() - open)
    } else {
        0
    }
}

/// Fits `text` into `width` columns with `…` where it was cut. Ratatui clips
/// a cell at its edge with no mark, which in a narrow terminal turned
/// `127.0.0.1:16401` into `127.0.0.1:1640`, another port, and a pid into a
/// shorter one. The last `tail` bytes are kept whole when they fit, the
/// head is cut before them; otherwise the end of the text is kept.
fn fit(text: &str, width: usize, tail: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if super::sanitize::display_width(text) <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail = &text[text.len() - tail.min(text.len())..];
    let tail_width = super::sanitize::display_width(tail);
    if tail_width + 1 >= width || tail.is_empty() {
        if tail.is_empty() {
            return super::sanitize::truncate_to_width(text, width);
        }
        // Only the end fits: `…` and as much of the end as there is room for.
        let mut kept = Vec::new();
        let mut used = 0;
        for ch in text.chars().rev() {
            let columns = ch.width().unwrap_or(0);
            if used + columns > width - 1 {
                break;
            }
            used += columns;
            kept.push(ch);
        }
        return std::iter::once('…').chain(kept.into_iter().rev()).collect();
    }
    let head = &text[..text.len() - tail.len()];
    let mut fitted = super::sanitize::truncate_to_width(head, width - tail_width);
    if !fitted.ends_with('…') {
        fitted.push('…');
    }
    fitted.push_str(tail);
    fitted
}

/// Lines the open connection list takes: its border (with the title),
/// header and rows, at most [`CONNECTION_ROWS`] rows.
fn connection_list_height(connections: usize) -> u16 {
    u16::try_from(connections.min(CONNECTION_ROWS) + 2).expect("at most 12")
}

/// Draws the live view: listeners table, the selected row's connections
/// when expanded, the event strip, notes and the key footer. Returns how
/// many rows of each list fit on screen (a page, for Page Up and Page
/// Down).
pub fn draw(
    terminal_frame: &mut ratatui::Frame,
    frame: &TopFrame,
    view: &TopView,
    color: bool,
) -> Pages {
    let rows = visible_rows(frame, view);
    let selected = rows.get(view.selected.min(rows.len().saturating_sub(1))).copied();
    let notes = notes(frame);
    let events: Vec<String> = frame.events.iter().rev().take(3).map(event_line).collect();
    let connection_height = match (view.expanded, selected) {
        (true, Some(row)) => connection_list_height(row.connections.len()),
        _ => 0,
    };
    let areas = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(connection_height),
        Constraint::Length(events.len() as u16),
        Constraint::Length(notes.len() as u16),
        Constraint::Length(1),
    ])
    .split(terminal_frame.area());

    let paint = |style: TuiStyle| if color { style } else { TuiStyle::default() };
    let title = format!(
        "porthole top — {} listener(s), {} shown{}",
        frame.listeners.len(),
        rows.len(),
        if view.filter.is_empty() {
            String::new()
        } else {
            format!(", filter: {}", sanitize(&view.filter))
        }
    );
    terminal_frame.render_widget(
        Paragraph::new(title).style(paint(TuiStyle::default().add_modifier(Modifier::BOLD))),
        areas[0],
    );

    let widths = [
        Constraint::Length(5),
        Constraint::Min(14),
        Constraint::Length(8),
        // `CONNS▲`: room for the sort arrow.
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let listener_widths = column_widths(&widths, areas[1].width);
    let sorted_column = view.sort.column();
    let header = TuiRow::new(HEADER.iter().enumerate().map(|(index, name)| {
        let arrow = match (index == sorted_column, view.descending) {
            (false, _) => "",
            (true, false) => "▲",
            (true, true) => "▼",
        };
        fit(&format!("{name}{arrow}"), listener_widths[index], 0)
    }))
    .style(paint(TuiStyle::default().add_modifier(Modifier::BOLD)));
    let body: Vec<TuiRow> = rows
        .iter()
        .map(|row| {
            let mut style = TuiStyle::default();
            if row.socket.exposed() {
                style = style.fg(Color::Red);
            }
            match row.change {
                Some(ListenerChange::Appeared) => style = style.bg(Color::Green).fg(Color::Black),
                Some(ListenerChange::Disappeared) => {
                    style = style.add_modifier(Modifier::CROSSED_OUT | Modifier::DIM)
                }
                None => {}
            }
            let cells = cells(row, frame);
            let fitted = cells.iter().enumerate().map(|(index, cell)| {
                fit(cell, listener_widths[index], kept_tail(index == 1, index == 9, cell))
            });
            TuiRow::new(fitted.collect::<Vec<_>>()).style(paint(style))
        })
        .collect();
    let table = TuiTable::new(body, widths)
        .header(header)
        .row_highlight_style(TuiStyle::default().add_modifier(Modifier::REVERSED))
        .column_spacing(1);
    // The table's area less its header row.
    let listener_page = usize::from(areas[1].height.saturating_sub(1));
    let mut state = TableState::default();
    if !rows.is_empty() {
        let selected = view.selected.min(rows.len() - 1);
        let offset = scrolled_to(
            view.listener_offset.min(rows.len().saturating_sub(listener_page)),
            selected,
            listener_page,
        );
        state = state.with_offset(offset);
        state.select(Some(selected));
    }
    terminal_frame.render_stateful_widget(table, areas[1], &mut state);
    let mut connection_page = 0;

    if let (true, Some(row)) = (view.expanded, selected) {
        let widths = [
            Constraint::Min(22),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(12),
        ];
        let connection_widths = column_widths(&widths, areas[2].width);
        let connection_rows: Vec<TuiRow> = row
            .connections
            .iter()
            .map(|connection| {
                let cells = [
                    connection.client.to_string(),
                    connection.state.ss_name().to_string(),
                    rate(connection.bytes_in_per_second),
                    rate(connection.bytes_out_per_second),
                    pids_label(&connection.client_pids, frame),
                ];
                TuiRow::new(cells.iter().enumerate().map(|(index, cell)| {
                    fit(cell, connection_widths[index], kept_tail(index == 0, index == 4, cell))
                }))
            })
            .collect();
        // The border and the header take a line each.
        let shown = usize::from(areas[2].height.saturating_sub(2));
        connection_page = shown;
        let count = row.connections.len();
        let selected = view.connection_selected.min(count.saturating_sub(1));
        let offset =
            scrolled_to(view.connection_offset.min(count.saturating_sub(shown)), selected, shown);
        let mut title = format!("connections of {} ({count})", local_label(row));
        if count > shown && shown > 0 {
            title.push_str(&format!(" {}–{}", offset + 1, (offset + shown).min(count)));
        }
        let connections = TuiTable::new(connection_rows, widths)
            .header(TuiRow::new(vec!["CLIENT", "STATE", "IN/s", "OUT/s", "CLIENT PROCESS"]))
            .row_highlight_style(TuiStyle::default().add_modifier(Modifier::REVERSED))
            .block(Block::default().borders(Borders::TOP).title(title));
        let mut state = TableState::default().with_offset(offset);
        if view.connections_focused {
            state.select(Some(selected));
        }
        terminal_frame.render_stateful_widget(connections, areas[2], &mut state);
    }

    let event_lines: Vec<Line> = events.into_iter().map(Line::from).collect();
    terminal_frame.render_widget(
        Paragraph::new(event_lines).style(paint(TuiStyle::default().fg(Color::Yellow))),
        areas[3],
    );
    let note_lines: Vec<Line> = notes.into_iter().map(Line::from).collect();
    terminal_frame.render_widget(
        Paragraph::new(note_lines).style(paint(TuiStyle::default().add_modifier(Modifier::DIM))),
        areas[4],
    );

    let footer = if view.editing_filter {
        Line::from(vec![
            Span::raw("filter: "),
            Span::raw(sanitize(&view.filter).into_owned()),
            Span::raw("▏  Enter keep · Esc clear"),
        ])
    } else {
        let sorts: Vec<String> =
            SortKey::KEYS.iter().map(|(letter, _, label)| format!("{letter} {label}")).collect();
        let moves = match (view.expanded && selected.is_some(), view.connections_focused) {
            (true, true) => "↑↓ PgUp PgDn Home End scroll connections · Tab/Esc back · Enter close",
            (true, false) => "↑↓ select · Tab scroll connections · Enter close",
            (false, _) => "↑↓ select · Enter connections",
        };
        Line::from(format!(
            "q quit · / filter · {moves} · sort: {} · same key reverses",
            sorts.join(" ")
        ))
    };
    terminal_frame.render_widget(
        Paragraph::new(footer).style(paint(TuiStyle::default().add_modifier(Modifier::DIM))),
        areas[5],
    );
    Pages { listeners: listener_page, connections: connection_page }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_keys_move_the_view_a_whole_page_and_the_selection_with_it() {
        // 30 rows, 10 on screen, the selection on the first.
        assert_eq!(paged(0, 0, 30, 10, true), (10, 10));
        assert_eq!(paged(10, 10, 30, 10, true), (20, 20));
        // The last page: the view cannot move further, the selection goes
        // to the last row.
        assert_eq!(paged(20, 20, 30, 10, true), (20, 29));
        assert_eq!(paged(20, 29, 30, 10, true), (20, 29));
        // The selection keeps its height on screen.
        assert_eq!(paged(0, 4, 30, 10, true), (10, 14));
        assert_eq!(paged(10, 14, 30, 10, false), (0, 4));
        // A part page at the end: the view shows the last full page.
        assert_eq!(paged(10, 12, 25, 10, true), (15, 22));
        assert_eq!(paged(15, 22, 25, 10, false), (5, 12));
        // At the top Page Up goes to the first row.
        assert_eq!(paged(0, 7, 30, 10, false), (0, 0));
        // Fewer rows than a page, no rows, no room.
        assert_eq!(paged(0, 1, 4, 10, true), (0, 3));
        assert_eq!(paged(0, 0, 0, 10, true), (0, 0));
        assert_eq!(paged(0, 0, 5, 0, true), (1, 1));
        // A stale offset (rows went away) is brought back to the selection
        // before the page moves.
        assert_eq!(paged(40, 25, 30, 10, false), (10, 15));
        for count in 0..40_usize {
            for shown in 1..12 {
                for selected in 0..count {
                    let offset = selected.saturating_sub(shown / 2);
                    for forward in [true, false] {
                        let (offset, selected) = paged(offset, selected, count, shown, forward);
                        assert!(selected < count.max(1));
                        assert!(offset <= selected && selected < offset + shown, "kept on screen");
                    }
                }
            }
        }
    }

    #[test]
    fn a_cut_cell_keeps_what_tells_rows_apart_and_says_it_was_cut() {
        let address = "127.0.0.1:16401";
        assert_eq!(fit(address, 15, kept_tail(true, false, address)), address);
        assert_eq!(fit(address, 14, kept_tail(true, false, address)), "127.0.0…:16401");
        assert_eq!(fit(address, 6, kept_tail(true, false, address)), "…16401");
        let v6 = "[2001:db8::1]:5432";
        assert_eq!(fit(v6, 12, kept_tail(true, false, v6)), "[2001:…:5432");
        let path = "/run/user/1000/app/server.sock";
        assert_eq!(fit(path, 14, kept_tail(true, false, path)), "…p/server.sock");
        let process = "redis-server (32068) +2";
        assert_eq!(fit(process, 16, kept_tail(false, true, process)), "redi… (32068) +2");
        assert_eq!(fit(process, 10, kept_tail(false, true, process)), "…32068) +2");
        assert_eq!(fit("loopback", 5, 0), "loop…");
        assert_eq!(fit("anything", 0, 0), "");
        // Wide characters count as two columns.
        let wide = "日本語サーバ (7)";
        let fitted = fit(wide, 10, kept_tail(false, true, wide));
        assert_eq!(fitted, "日本… (7)");
        assert!(super::super::sanitize::display_width(&fitted) <= 10);
    }

    // The height was `connections as u16 + 3`: 65,533 connections
    // overflowed it (a panic in a debug build, no list at all in a release
    // one) and 65,536 made it 3, a list with no rows.
    #[test]
    fn the_connection_list_is_as_tall_as_its_rows_up_to_ten() {
        assert_eq!(connection_list_height(0), 2);
        assert_eq!(connection_list_height(4), 6);
        for many in [10, 65_533, 65_536, 65_540, 1 << 20] {
            assert_eq!(connection_list_height(many), 12, "{many} connections");
        }
    }

    // The filter is typed or pasted: a bidi override pasted into it turned
    // the title line around, and combining marks joined what they follow.
    #[test]
    fn the_filter_is_shown_escaped() {
        let frame = empty_frame();
        let view = TopView {
            filter: "\u{202e}red".to_string(),
            editing_filter: true,
            ..TopView::default()
        };
        let backend = ratatui::backend::TestBackend::new(80, 8);
        let mut terminal = ratatui::Terminal::new(backend).unwrap();
        terminal
            .draw(|screen| {
                draw(screen, &frame, &view, false);
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        let lines: Vec<String> = (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect())
            .collect();
        let screen = lines.join("\n");
        assert!(!screen.contains('\u{202e}'), "{screen}");
        assert!(lines[0].contains("filter: \\u202ered"), "{screen}");
        assert!(lines[7].starts_with("filter: \\u202ered▏"), "{screen}");
    }

    fn empty_frame() -> TopFrame {
        TopFrame {
            at: 0,
            interval_seconds: 1.0,
            listeners: Vec::new(),
            processes: Default::default(),
            events: Vec::new(),
            short_lived: ShortLivedCapture::Available,
            visibility: Default::default(),
            fleeting: Vec::new(),
        }
    }

    fn listener_row(port: u16, owners: &[u32]) -> ListenerRow {
        let mut socket = crate::model::Socket::listening(
            Protocol::Tcp,
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        );
        socket.inode = u64::from(port);
        socket.owners = owners.to_vec();
        ListenerRow {
            socket,
            open_connections: 0,
            new_per_second: 0.0,
            bytes_in_per_second: 0.0,
            bytes_out_per_second: 0.0,
            accept_queue: None,
            since: None,
            since_exact: false,
            change: None,
            connections: Vec::new(),
        }
    }

    // The label was compared as text: `python3 (100)` came before
    // `python3 (99)`, and `python3 (1000) +1` before `python3 (999)`.
    #[test]
    fn sorting_by_process_orders_by_name_then_pid_as_a_number() {
        let mut frame = empty_frame();
        for (pid, name) in [(99, "python3"), (100, "python3"), (1000, "python3"), (7, "nginx")] {
            frame.processes.insert(
                pid,
                crate::model::Process { pid, name: name.to_string(), ..Default::default() },
            );
        }
        frame.listeners = vec![
            listener_row(1, &[100]),
            listener_row(2, &[1000, 99]),
            listener_row(3, &[]),
            listener_row(4, &[99]),
            listener_row(5, &[7]),
            listener_row(6, &[99, 100]),
        ];
        let view = TopView { sort: SortKey::Process, ..TopView::default() };
        let order = |view: &TopView| -> Vec<String> {
            visible_rows(&frame, view).iter().map(|row| process_label(row, &frame)).collect()
        };
        let ascending = order(&view);
        assert_eq!(
            ascending,
            [
                "nginx (7)",
                "python3 (99)",
                "python3 (99) +1",
                "python3 (100)",
                "python3 (1000) +1",
                "?"
            ]
        );
        let mut descending = order(&TopView { descending: true, ..view });
        descending.reverse();
        assert_eq!(descending, ascending);
    }

    #[test]
    fn column_widths_match_the_space_given() {
        let widths = [Constraint::Length(5), Constraint::Min(14), Constraint::Min(10)];
        assert_eq!(column_widths(&widths, 80).iter().sum::<usize>() + 2, 80);
        assert!(column_widths(&widths, 3).iter().sum::<usize>() <= 3);
        assert_eq!(column_widths(&widths, 0), vec![0, 0, 0]);
    }
}
