//! The history store: where `porthole monitor` keeps what it records and
//! where `porthole history` (and the history section of `porthole PORT`)
//! reads it back.
//!
//! # Layout
//! - [`location`]: where a store lives ([`StoreLocation`]: a SQLite file,
//!   by default in the state directory, or a `postgres://` URL).
//! - [`sqlite`]: the default store, one file, WAL, written by one process.
//! - `postgres` (feature `postgres`): the same records in PostgreSQL with
//!   a `host` column, for many machines writing into one database.
//! - [`codec`]: how model enums are spelled in both schemas.
//! - [`batch`]: what a batch of connection records inserts, updates and
//!   adds to the hourly totals, planned once for both writers.
//!
//! # Writing
//! [`open_writer`] returns an [`EventSink`]: the capture engine hands it a
//! batch about once a second and each batch is one transaction, so a crash
//! (even `kill -9`) loses at most the batch being written. The writer also
//! adds every connection to hourly totals per server port and client
//! executable, and prunes on its own: raw records older than
//! [`WriterOptions::keep`], totals older than
//! [`WriterOptions::keep_hourly`], and the oldest raw records whenever the
//! store grows past [`WriterOptions::max_size`]. Only one writer may use a
//! store (per host, for PostgreSQL); a second one gets
//! [`StoreError::Locked`].
//!
//! `write_batch` blocks on disk or network I/O: call it from a thread that
//! may block (a dedicated thread or `tokio::task::spawn_blocking`).
//!
//! # Reading
//! [`open_reader`] returns a [`HistoryReader`]. Readers never take a lock
//! the writer holds: SQLite readers open the file read-only and read a
//! consistent snapshot from the WAL while the writer appends.

pub mod batch;
pub mod codec;
#[cfg(feature = "postgres")]
pub mod conninfo;
pub mod location;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub mod postgres_link;
pub mod sqlite;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use location::{StoreLocation, SystemStore};

use crate::model::history::{
    CaptureSession, ClientGrouping, ClientSummary, ConnectionHistory, HistoryQuery, HistoryReport,
    HourlyTotal, ListenerHistory, LossSummary, PortHistory,
};
use crate::model::monitor::{EventSink, ProcessIdentity, UnixMicros};
use crate::model::Protocol;

/// Version of the schema this build writes; stores record theirs and are
/// migrated forward by the writer, one step at a time. Version 2 keeps the
/// `IPV6_V6ONLY` flag of listeners; version 3 labels every row with its
/// network namespace (earlier versions left the recorder's own unlabelled)
/// and keeps the hourly totals per namespace; version 4 keeps whether a
/// process's executable was deleted since it started; version 5 keeps a
/// process's start in clock ticks, which tells apart two processes given
/// one pid within one second.
pub const SCHEMA_VERSION: i64 = 5;

/// The oldest schema a reader still answers from: a store that a recorder
/// of an older porthole is still writing is read as it is (the flags it
/// does not keep read as unknown), rather than refused until that
/// recorder is replaced.
pub const OLDEST_READABLE_VERSION: i64 = 1;

/// How a writer keeps the store bounded, and which machine it writes for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Raw records (connections, listener changes, losses) older than this
    /// are deleted, but for the start of a listener that still listens as
    /// far as the record goes.
    pub keep: Duration,
    /// Hourly totals older than this are deleted.
    pub keep_hourly: Duration,
    /// When the records take more than this many bytes, the oldest
    /// connections are deleted until they take less than 90% of it.
    /// `None`: no size cap.
    pub max_size: Option<u64>,
    /// This machine's name, stored with every record in a shared
    /// (PostgreSQL) store.
    pub host: String,
    /// Inode of the network namespace the recorder runs in: the label of
    /// every record of its own namespace (which the capture engine calls
    /// `None`), so that recorders in different namespaces sharing a store
    /// tell their rows apart. `None` when it could not be read.
    pub net_namespace: Option<u64>,
    /// How often pruning runs (it also runs when the writer opens).
    pub maintenance_interval: Duration,
    /// Where a writer that carries on through trouble says so (a
    /// PostgreSQL server that stalled or went away); the command prints
    /// these lines on stderr.
    pub notices: Notices,
}

/// Receiver of a writer's notices: one line each, without the `porthole:`
/// prefix. The default drops them.
#[derive(Clone, Default)]
pub struct Notices(Option<std::sync::Arc<NoticeReceiver>>);

/// What [`Notices`] passes each line to.
pub type NoticeReceiver = dyn Fn(&str) + Send + Sync;

impl Notices {
    pub fn new(receiver: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Notices(Some(std::sync::Arc::new(receiver)))
    }

    /// Passes one line on.
    pub fn say(&self, line: &str) {
        if let Some(receiver) = &self.0 {
            receiver(line);
        }
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Notices(..)" } else { "Notices(none)" })
    }
}

/// Options are equal whatever their notices go to.
impl PartialEq for Notices {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Notices {}

/// Seven days of raw records, as the recorder keeps by default.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(7 * 86_400);
/// Ninety days of hourly totals.
pub const DEFAULT_KEEP_HOURLY: Duration = Duration::from_secs(90 * 86_400);

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            keep: DEFAULT_KEEP,
            keep_hourly: DEFAULT_KEEP_HOURLY,
            max_size: None,
            host: local_host_name(),
            net_namespace: own_net_namespace(),
            maintenance_interval: Duration::from_secs(60),
            notices: Notices::default(),
        }
    }
}

/// Inode of the network namespace this thread runs in, when readable.
pub fn own_net_namespace() -> Option<u64> {
    crate::sys::netns::inode_of("/proc/thread-self/ns/net").ok().filter(|&inode| inode != 0)
}

/// This machine's host name (`uname -n`).
pub fn local_host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// Why a store could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The causes below are part of the message and deliberately not a
    // `#[source]`: callers print the whole error chain, which would repeat
    // them ("x: Is a directory (os error 21): Is a directory (os error 21)").
    #[error("{path}: {}", cause_text(.error))]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{store}: {error}")]
    Sqlite { store: String, error: rusqlite::Error },
    #[cfg(feature = "postgres")]
    #[error("{store}: {}", cause_text(.error))]
    Postgres { store: String, error: ::postgres::Error },
    #[error("{path} is {kind}, not a history store file; it was left as it is")]
    NotAFile {
        path: PathBuf,
        /// `a directory`, `a named pipe`, …
        kind: &'static str,
    },
    #[error("{store} is in use by another porthole monitor{holder}; only one may record into a store at a time")]
    Locked {
        store: String,
        /// ` (pid N)` when known, else empty.
        holder: String,
    },
    #[error(
        "{path} is damaged ({detail}); it was left as it is: move it away to start a new history"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// Does not even start like a SQLite database: another program's file
    /// (`--store /etc/passwd`) as likely as a store overwritten from its
    /// first byte, so neither "damaged" nor "move it away" is said.
    #[error("{path} is not a SQLite database (another program's file, or a history store damaged from its first byte); it was left as it is: give --store the path of a history store")]
    NotSqlite { path: PathBuf },
    #[error("{store} is not a porthole history store ({detail}); it was left as it is")]
    Foreign { store: String, detail: String },
    #[error("{store}: the history tables were changed outside porthole ({detail}); they were left as they are")]
    Altered { store: String, detail: String },
    #[error("{store}: the recorder's writer stopped unexpectedly; recording stopped")]
    WriterFailed { store: String },
    #[error("{store} has schema version {found}, newer than this porthole knows ({known}); upgrade porthole")]
    NewerSchema { store: String, found: i64, known: i64 },
    #[error(
        "{store} has schema version {found}; run `{} monitor` once to upgrade it to {known}",
        crate::sys::executable::program_for(crate::sys::executable::Runner::User)
    )]
    OlderSchema { store: String, found: i64, known: i64 },
    #[error("{store}: the server did not answer within {seconds}s (is a PostgreSQL server listening there? `connect_timeout=N` in the URL sets this bound)")]
    NoAnswer { store: String, seconds: u64 },
    #[error("{store}: {detail}: the role lacks rights (a recorder needs SELECT, INSERT, UPDATE and DELETE on the tables of schema porthole and USAGE on its sequences, or CREATE on the database to make them; a reader needs USAGE on the schema and SELECT)")]
    Denied { store: String, detail: String },
    #[error("{path}: {detail}; another user could swap the store for a link to a file this recorder would then write over: keep it in a directory only you (or root) can write")]
    Untrusted { path: PathBuf, detail: String },
    #[error("disk full writing {store}: recording stopped; everything committed before is kept")]
    DiskFull { store: String },
    #[error("{path} is being recorded and this user may not create its -shm index beside it; read it as the recording user")]
    UnreadableWhileRecording { path: PathBuf },
    #[error("{path} was left by a recorder that stopped without closing it; its last records are in the -wal beside it, which this user can read only through a copy, and copying failed ({}): read it as the recording user, or record into it once to fold them in", cause_text(.error))]
    UnreadableAfterCrash { path: PathBuf, error: std::io::Error },
    #[error("no history at {path} yet: `{}` records it", record_command(.path))]
    Missing { path: PathBuf },
    /// The store (or a directory on its way) is not this user's to read:
    /// root's 0600 store, another user's state directory. The command
    /// says who may read it.
    #[error("this user may not read {path}")]
    NotReadable { path: PathBuf },
    #[error("--store '{text}': {reason}")]
    BadLocation { text: String, reason: String },
    #[error("{store}: this porthole was built without PostgreSQL support (feature `postgres`)")]
    PostgresUnsupported { store: String },
    #[error("no state directory: neither XDG_STATE_HOME nor HOME is set; pass --store PATH")]
    NoStateDirectory,
}

/// The command that records into `path`: `porthole monitor` for the
/// default store of the user running porthole, else with `--store PATH`
/// (plain `porthole monitor` would record somewhere else); porthole called
/// so that the user's `PATH` runs this build.
fn record_command(path: &std::path::Path) -> String {
    let program = crate::sys::executable::program_for(crate::sys::executable::Runner::User);
    match StoreLocation::default_for_user() {
        Ok(StoreLocation::Sqlite(default)) if default == path => format!("{program} monitor"),
        _ => format!(
            "{program} monitor {}",
            crate::shell::option_with_value(
                "--store",
                &crate::model::os_text::from_os_str(path.as_os_str())
            )
        ),
    }
}

/// An error and its causes on one line, each said once: the PostgreSQL
/// client's "error connecting to server" keeps "Connection refused" in its
/// source.
fn cause_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.contains(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}

/// Opens the single writer of a store, creating and migrating it as needed.
pub fn open_writer(
    location: &StoreLocation,
    options: &WriterOptions,
) -> Result<Box<dyn EventSink + Send>, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Box::new(sqlite::SqliteWriter::open(path, options)?)),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            Ok(Box::new(postgres_link::PostgresWriter::open(url, options)?))
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(url) => {
            Err(StoreError::PostgresUnsupported { store: location::redact(url) })
        }
    }
}

/// Opens a store for reading. Never creates, migrates or locks anything.
pub fn open_reader(location: &StoreLocation) -> Result<Box<dyn HistoryReader>, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Box::new(sqlite::SqliteReader::open(path)?)),
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => Ok(Box::new(postgres::PostgresReader::open(url)?)),
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(url) => {
            Err(StoreError::PostgresUnsupported { store: location::redact(url) })
        }
    }
}

/// Order of listener changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// The questions a store answers; [`report`] and [`port_history`] combine
/// them. Each method is one query against the store's indexes.
pub trait HistoryReader {
    /// Where the answers come from, for people (no password).
    fn describe(&self) -> String;
    /// Listener changes matching the query, at most `limit`.
    fn listeners(
        &mut self,
        query: &HistoryQuery,
        order: Order,
        limit: usize,
    ) -> Result<Vec<ListenerHistory>, StoreError>;
    /// Connections grouped by server endpoint and client process, busiest
    /// first; at most `limit` groups. With `servers`, per server process
    /// too, each group naming it in `server_process` (else `None`).
    fn clients(
        &mut self,
        query: &HistoryQuery,
        limit: usize,
        servers: bool,
    ) -> Result<Vec<ClientSummary>, StoreError>;
    /// Single connections, oldest first, at most `query.limit` (plus one,
    /// so the caller can tell the list was cut), each handed to `each` as
    /// it is read, never all held at once; `each` returns false to stop.
    fn each_connection(
        &mut self,
        query: &HistoryQuery,
        each: &mut dyn FnMut(ConnectionHistory) -> bool,
    ) -> Result<(), StoreError>;
    /// [`HistoryReader::each_connection`], collected.
    fn connections(&mut self, query: &HistoryQuery) -> Result<Vec<ConnectionHistory>, StoreError> {
        let mut connections = Vec::new();
        self.each_connection(query, &mut |connection| {
            connections.push(connection);
            true
        })?;
        Ok(connections)
    }
    /// Start of the oldest single connection kept (any port), if any.
    fn oldest_connection(&mut self) -> Result<Option<UnixMicros>, StoreError>;
    /// Hourly totals whose hour starts in the query's window.
    fn hourly(&mut self, query: &HistoryQuery) -> Result<Vec<HourlyTotal>, StoreError>;
    /// Losses in the window, per kind.
    fn losses(&mut self, query: &HistoryQuery) -> Result<Vec<LossSummary>, StoreError>;
    /// Recorder starts in the window and the last one before it.
    fn sessions(&mut self, query: &HistoryQuery) -> Result<Vec<CaptureSession>, StoreError>;
}

/// Opens `location` and answers [`report`], within a bound for a
/// PostgreSQL store: a server that stops answering after the connection
/// was made (stopped, frozen) would hold a query, and `porthole history`,
/// for ever. The bound is the connecting deadline plus
/// [`postgres::READ_DEADLINE`], which the server also applies to each
/// statement unless the URL sets its own `statement_timeout`.
pub fn report_within(
    location: &StoreLocation,
    query: &HistoryQuery,
    sections: Sections,
) -> Result<HistoryReport, StoreError> {
    let (mut report, mut feed) = report_streamed(location, query, sections)?;
    report.connections.extend(&mut feed);
    feed.finish()?;
    if report.connections.len() > query.limit {
        report.truncated = true;
        report.connections.truncate(query.limit);
    }
    Ok(report)
}

/// Opens `location` and answers [`report`] without its single connections
/// (`--each`), which follow in the returned [`ConnectionFeed`] as the store
/// reads them: at most `query.limit` plus one (which tells a cut list), a
/// few batches held at a time whatever the size of the answer. A
/// PostgreSQL store is asked within the bound [`report_within`] describes,
/// counted afresh for each batch.
pub fn report_streamed(
    location: &StoreLocation,
    query: &HistoryQuery,
    sections: Sections,
) -> Result<(HistoryReport, ConnectionFeed), StoreError> {
    // The store is read on a thread of its own, which hands over the
    // report and then the connections in batches through a channel of a
    // few batches; it stops when the feed is dropped (a closed pipe).
    let (bound, store) = match location {
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            let store = location::redact(url);
            (Some(postgres::client_deadline(url, &store)? + postgres::READ_DEADLINE), store)
        }
        other => (None, other.to_string()),
    };
    let (sender, receiver) = std::sync::mpsc::sync_channel(FEED_BATCHES);
    let (location, query) = (location.clone(), query.clone());
    let reading = std::thread::Builder::new()
        .name("history-read".into())
        .spawn(move || read_into(&location, &query, sections, &sender))
        .map_err(|error| StoreError::Io { path: store.clone().into(), error })?;
    let mut feed = ConnectionFeed {
        receiver,
        bound,
        store,
        batch: Vec::new(),
        ended: false,
        error: None,
        reading: Some(reading),
    };
    match feed.receive() {
        Some(Fed::Report(report)) => Ok((*report, feed)),
        Some(Fed::Failed(error)) => Err(error),
        Some(Fed::Rows(_) | Fed::Done) | None => {
            Err(feed.error.take().unwrap_or_else(|| feed.stopped()))
        }
    }
}

/// Batches of connections in flight between the reading thread and the
/// feed.
const FEED_BATCHES: usize = 4;
/// Connections per batch.
const FEED_BATCH: usize = 256;

/// What the reading thread of [`report_streamed`] hands over.
enum Fed {
    Report(Box<HistoryReport>),
    Rows(Vec<ConnectionHistory>),
    Done,
    Failed(StoreError),
}

/// Reads the report, then the single connections, into `sender`.
fn read_into(
    location: &StoreLocation,
    query: &HistoryQuery,
    sections: Sections,
    sender: &std::sync::mpsc::SyncSender<Fed>,
) {
    let mut reader = match open_reader(location) {
        Ok(reader) => reader,
        Err(error) => {
            let _ = sender.send(Fed::Failed(error));
            return;
        }
    };
    // The reader is closed before the last message goes out: a reader of
    // a store it could not write reads a private copy, which its drop
    // removes, and the process may exit as soon as the last message is in.
    match summary(reader.as_mut(), query, sections) {
        Ok(report) => {
            if sender.send(Fed::Report(Box::new(report))).is_err() {
                return;
            }
        }
        Err(error) => {
            drop(reader);
            let _ = sender.send(Fed::Failed(error));
            return;
        }
    }
    if !(sections.each && asks_connections(query, sections)) {
        drop(reader);
        let _ = sender.send(Fed::Done);
        return;
    }
    let mut batch = Vec::with_capacity(FEED_BATCH);
    let mut open = true;
    let read = reader.each_connection(query, &mut |connection| {
        batch.push(connection);
        if batch.len() == FEED_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(FEED_BATCH));
            open = sender.send(Fed::Rows(full)).is_ok();
        }
        open
    });
    let last = match read {
        Ok(()) if batch.is_empty() => Fed::Done,
        Ok(()) => {
            if sender.send(Fed::Rows(batch)).is_err() {
                return;
            }
            Fed::Done
        }
        Err(error) => Fed::Failed(error),
    };
    drop(reader);
    let _ = sender.send(last);
}

/// The single connections of a [`report_streamed`] answer, oldest first,
/// as the store reads them. An error of the store ends the rows; ask
/// [`ConnectionFeed::finish`] whether the rows were all there was.
pub struct ConnectionFeed {
    receiver: std::sync::mpsc::Receiver<Fed>,
    /// How long a PostgreSQL store may take for each batch; `None` for a
    /// local file, which is waited for.
    bound: Option<Duration>,
    store: String,
    /// The rows of the last batch not yet handed out, last row first.
    batch: Vec<ConnectionHistory>,
    /// Whether nothing more comes from the thread.
    ended: bool,
    error: Option<StoreError>,
    /// The reading thread, joined when the feed is dropped (see the
    /// `Drop` implementation).
    reading: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ConnectionFeed {
    /// A feed dropped early (a closed pipe) must not let the process exit
    /// while its reading thread still holds a private copy of a store it
    /// could not write: the copy would be left behind. The channel is
    /// closed first, so the thread stops at its next batch, then it is
    /// joined. A PostgreSQL reader holds no copy and may be waiting on the
    /// network, so it is left to end with the process.
    fn drop(&mut self) {
        let (_, closed) = std::sync::mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, closed));
        if let (None, Some(reading)) = (self.bound, self.reading.take()) {
            let _ = reading.join();
        }
    }
}

impl ConnectionFeed {
    fn receive(&mut self) -> Option<Fed> {
        let received = match self.bound {
            Some(bound) => self.receiver.recv_timeout(bound).map_err(|error| match error {
                std::sync::mpsc::RecvTimeoutError::Timeout => {
                    StoreError::NoAnswer { store: self.store.clone(), seconds: bound.as_secs() }
                }
                std::sync::mpsc::RecvTimeoutError::Disconnected => self.stopped(),
            }),
            None => self.receiver.recv().map_err(|_| self.stopped()),
        };
        match received {
            Ok(fed) => Some(fed),
            Err(error) => {
                self.error = Some(error);
                self.ended = true;
                None
            }
        }
    }

    /// The reading thread went away without a word (it panicked).
    fn stopped(&self) -> StoreError {
        StoreError::Io {
            path: self.store.clone().into(),
            error: std::io::Error::other("reading stopped unexpectedly"),
        }
    }

    /// Ok when every row was handed out, else the store's error.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.error.take().map_or(Ok(()), Err)
    }
}

impl Iterator for ConnectionFeed {
    type Item = ConnectionHistory;

    fn next(&mut self) -> Option<ConnectionHistory> {
        loop {
            if let Some(row) = self.batch.pop() {
                return Some(row);
            }
            if self.ended {
                return None;
            }
            match self.receive()? {
                Fed::Rows(mut rows) => {
                    rows.reverse();
                    self.batch = rows;
                }
                Fed::Done => {
                    self.ended = true;
                    return None;
                }
                Fed::Failed(error) => {
                    self.error = Some(error);
                    self.ended = true;
                    return None;
                }
                Fed::Report(_) => continue,
            }
        }
    }
}

/// Which parts of a [`HistoryReport`] to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    pub listeners: bool,
    pub connections: bool,
    /// Single connections instead of per-client summaries.
    pub each: bool,
}

/// Most client groups a report lists; a port with more distinct clients
/// shows the busiest.
const CLIENT_GROUP_LIMIT: usize = 1000;
/// Most listener changes a report lists (the newest).
pub const LISTENER_LIMIT: usize = 10_000;

/// Answers `porthole history`: listener changes, clients (or single
/// connections), hourly totals for the part of the window whose single
/// connections were already pruned, losses and capture modes.
pub fn report(
    reader: &mut dyn HistoryReader,
    query: &HistoryQuery,
    sections: Sections,
) -> Result<HistoryReport, StoreError> {
    let mut report = summary(reader, query, sections)?;
    if sections.each && asks_connections(query, sections) {
        let mut connections = reader.connections(query)?;
        report.truncated = connections.len() > query.limit;
        connections.truncate(query.limit);
        report.connections = connections;
    }
    Ok(report)
}

/// Most per-process groups read to make the program groups of one report:
/// a cron job of a week is some 10,000 processes.
const PROCESS_GROUP_LIMIT: usize = 20_000;

/// The clients of `query` as its [`ClientGrouping`] asks, busiest first, at
/// most `limit`, and whether per-process groups were left out before the
/// groups were added up (a group's counts are then too low).
///
/// The store groups per process, with the index it has for a window of one
/// endpoint; programs are added up here from those groups, so a program
/// line costs no other statement and no other index. With `servers`, the
/// groups are of one server program too (see [`with_known_servers`]) and,
/// when several server programs served the answer, ordered by when each
/// server program's clients first connected.
fn grouped_clients(
    reader: &mut dyn HistoryReader,
    query: &HistoryQuery,
    limit: usize,
    servers: bool,
) -> Result<(Vec<ClientSummary>, bool), StoreError> {
    let processes = reader.clients(query, PROCESS_GROUP_LIMIT + 1, servers)?;
    let cut = processes.len() > PROCESS_GROUP_LIMIT;
    let mut groups = grouped(processes, query.grouping);
    groups.truncate(limit);
    Ok((groups, cut))
}

/// The store's groups (per client process and server process) as
/// `grouping` asks, per server program too when the store named servers.
fn grouped(processes: Vec<ClientSummary>, grouping: ClientGrouping) -> Vec<ClientSummary> {
    // One group per client process and server program first: a program
    // counts each of its processes once, whatever processes served it.
    let processes = per_process(with_known_servers(processes));
    let mut groups = match grouping {
        ClientGrouping::Process => processes,
        ClientGrouping::Program => by_program(processes),
    };
    if several_servers(&groups) {
        order_by_server(&mut groups);
    }
    groups
}

/// A program as `history` tells programs apart: the executable (the name
/// when the path was not read), the command line and the user.
type Program = (String, Vec<String>, u32);

fn program_of(process: &ProcessIdentity) -> Program {
    let exe = process.exe.clone().unwrap_or_else(|| process.name.clone());
    (exe, process.cmdline.clone(), process.uid)
}

/// A server program as `history` tells server programs apart: the
/// executable (the name when the path was not read) and the user. Not the
/// command line, as for clients: a server that forks per connection shows
/// each child's command line as it was when the recorder read it (a
/// PostgreSQL backend: empty, its parent's, or the title it set), so one
/// service would read as many.
pub(crate) type ServerProgram = (String, u32);

pub(crate) fn server_program_of(process: &ProcessIdentity) -> ServerProgram {
    (process.exe.clone().unwrap_or_else(|| process.name.clone()), process.uid)
}

/// The server program of a group, when its server process is known.
fn server_program(summary: &ClientSummary) -> Option<ServerProgram> {
    summary.server_process.as_ref().map(server_program_of)
}

/// Whether more than one server program served `groups`.
fn several_servers(groups: &[ClientSummary]) -> bool {
    let mut programs = groups.iter().filter_map(server_program);
    let Some(first) = programs.next() else { return false };
    programs.any(|program| program != first)
}

/// The server end of a group: the same address and port on one machine, in
/// one namespace.
type ServerEnd = (Option<String>, Option<u64>, SocketAddr);

fn server_end(summary: &ClientSummary) -> ServerEnd {
    (summary.host.clone(), summary.net_namespace, summary.server)
}

/// Groups whose server process the recorder could not name are of the
/// server program that served their server end when only one did (named by
/// the process of its first connection); where several did, they stay a
/// group of an unknown server.
fn with_known_servers(mut groups: Vec<ClientSummary>) -> Vec<ClientSummary> {
    let mut known: HashMap<ServerEnd, Option<&ClientSummary>> = HashMap::new();
    for group in groups.iter().filter(|group| group.server_process.is_some()) {
        known
            .entry(server_end(group))
            .and_modify(|only| {
                *only = (*only)
                    .filter(|only| server_program(only) == server_program(group))
                    .map(|only| if group.first_at < only.first_at { group } else { only })
            })
            .or_insert(Some(group));
    }
    let fill: HashMap<ServerEnd, ProcessIdentity> = known
        .into_iter()
        .filter_map(|(end, only)| Some((end, only?.server_process.clone()?)))
        .collect();
    for group in groups.iter_mut().filter(|group| group.server_process.is_none()) {
        group.server_process = fill.get(&server_end(group)).cloned();
    }
    groups
}

/// Adds up the groups of one client process and one server program (the
/// store's are per server process), busiest first, then by first
/// connection.
fn per_process(groups: Vec<ClientSummary>) -> Vec<ClientSummary> {
    type Client = (u32, Option<u64>, Option<u64>, Program);
    type Key = (ServerEnd, Option<Client>, Option<u32>, Option<ServerProgram>);
    let key = |group: &ClientSummary| -> Key {
        let client =
            group.client.as_ref().map(|p| (p.pid, p.start_time, p.start_ticks, program_of(p)));
        let uid = if group.client.is_none() { group.client_uid } else { None };
        (server_end(group), client, uid, server_program(group))
    };
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut merged: Vec<ClientSummary> = Vec::new();
    for group in groups {
        match index.get(&key(&group)) {
            Some(&at) => {
                let one = &mut merged[at];
                add_process(one, group);
                // The same process, not another one.
                one.processes = u64::from(one.client.is_some());
                one.pids.dedup();
            }
            None => {
                index.insert(key(&group), merged.len());
                merged.push(group);
            }
        }
    }
    merged.sort_by(|a, b| b.connections.cmp(&a.connections).then(a.first_at.cmp(&b.first_at)));
    merged
}

/// Orders groups by when their server program (on their server end) was
/// first connected to, the busiest first within each: the programs that
/// served a port one after the other read in the order they served it.
fn order_by_server(groups: &mut [ClientSummary]) {
    type Served = (ServerEnd, Option<ServerProgram>);
    let mut first: HashMap<Served, UnixMicros> = HashMap::new();
    for group in groups.iter() {
        let at = first.entry((server_end(group), server_program(group))).or_insert(group.first_at);
        *at = (*at).min(group.first_at);
    }
    groups.sort_by_key(|group| first[&(server_end(group), server_program(group))]);
}

/// What makes two processes one program in [`ClientGrouping::Program`]:
/// the server end, the client's [`Program`] and the [`ServerProgram`]. Unnamed
/// clients keep their uid groups.
type ProgramKey =
    (Option<String>, Option<u64>, SocketAddr, Option<Program>, Option<u32>, Option<ServerProgram>);

fn program_key(summary: &ClientSummary) -> ProgramKey {
    let program = summary.client.as_ref().map(program_of);
    let uid = if summary.client.is_none() { summary.client_uid } else { None };
    let (host, net_namespace, server) = server_end(summary);
    (host, net_namespace, server, program, uid, server_program(summary))
}

/// Whether a process whose command line was not read (it exited before
/// the recorder looked) may be the program `program` runs: the same
/// server end and user, the same name as the kernel keeps it, and the same
/// executable when both paths were read.
fn may_run(unread: &ClientSummary, program: &ClientSummary) -> bool {
    let (Some(process), Some(known)) = (&unread.client, &program.client) else {
        return false;
    };
    let same_executable = comm_form(&process.name) == comm_form(&known.name)
        && match (&process.exe, &known.exe) {
            (Some(exe), Some(known_exe)) => exe == known_exe,
            _ => true,
        };
    unread.host == program.host
        && unread.net_namespace == program.net_namespace
        && unread.server == program.server
        && server_program(unread) == server_program(program)
        && process.uid == known.uid
        && !known.cmdline.is_empty()
        && same_executable
}

/// Adds a process's summary to the program its [`program_key`] names, or
/// starts that program with it.
fn add_to_its_program(
    programs: &mut Vec<ClientSummary>,
    index: &mut HashMap<ProgramKey, usize>,
    summary: ClientSummary,
) {
    let key = program_key(&summary);
    match index.get(&key) {
        Some(&at) => add_process(&mut programs[at], summary),
        None => {
            index.insert(key, programs.len());
            programs.push(summary);
        }
    }
}

/// Adds up per-process groups (busiest first) into one group per program,
/// busiest first, then by first connection. The program's process is the
/// one that connected first. `history` and the dashboard list clients so.
///
/// A short client often exits before the recorder reads its command line:
/// such a process joins the program of its executable when there is
/// exactly one (a loop of `redis-cli PING` whose last processes were read
/// too late), and otherwise makes a program of its own with the others of
/// its executable whose command line is unknown.
pub fn by_program(processes: Vec<ClientSummary>) -> Vec<ClientSummary> {
    let unread =
        |summary: &ClientSummary| summary.client.as_ref().is_some_and(|p| p.cmdline.is_empty());
    let (unread, read): (Vec<_>, Vec<_>) = processes.into_iter().partition(|s| unread(s));
    let mut index: HashMap<ProgramKey, usize> = HashMap::new();
    let mut programs: Vec<ClientSummary> = Vec::new();
    for summary in read {
        add_to_its_program(&mut programs, &mut index, summary);
    }
    // The programs an unread process may run, found by what `may_run`
    // needs to be equal, so a week of unread clients is not compared with
    // every program.
    type Near = (Option<String>, Option<u64>, SocketAddr, u32, String);
    let near = |summary: &ClientSummary| -> Option<Near> {
        let process = summary.client.as_ref()?;
        let name = comm_form(&process.name);
        Some((summary.host.clone(), summary.net_namespace, summary.server, process.uid, name))
    };
    let mut by_near: HashMap<Near, Vec<usize>> = HashMap::new();
    for (at, program) in programs.iter().enumerate() {
        if let Some(key) = near(program) {
            by_near.entry(key).or_default().push(at);
        }
    }
    for summary in unread {
        let known = near(&summary).and_then(|key| by_near.get(&key)).cloned().unwrap_or_default();
        let mut candidates = known.into_iter().filter(|&at| may_run(&summary, &programs[at]));
        if let (Some(at), None) = (candidates.next(), candidates.next()) {
            add_process(&mut programs[at], summary);
            continue;
        }
        add_to_its_program(&mut programs, &mut index, summary);
    }
    for program in &mut programs {
        program.pids.sort_unstable();
        program.pids.dedup();
    }
    programs.sort_by(|a, b| b.connections.cmp(&a.connections).then(a.first_at.cmp(&b.first_at)));
    programs
}

/// Adds one process's group to its program's; the program keeps the
/// process (and command line) of its first connection, and a command line
/// read over one that was not.
fn add_process(program: &mut ClientSummary, summary: ClientSummary) {
    let known =
        |summary: &ClientSummary| summary.client.as_ref().is_some_and(|p| !p.cmdline.is_empty());
    if summary.first_at < program.first_at && summary.server_process.is_some() {
        program.server_process.clone_from(&summary.server_process);
    }
    if summary.first_at < program.first_at && (known(&summary) || !known(program)) {
        program.client = summary.client;
    }
    program.first_at = program.first_at.min(summary.first_at);
    program.last_at = program.last_at.max(summary.last_at);
    program.processes += summary.processes;
    program.pids.extend(summary.pids);
    program.connections += summary.connections;
    program.open += summary.open;
    program.bytes_client_to_server =
        program.bytes_client_to_server.saturating_add(summary.bytes_client_to_server);
    program.bytes_server_to_client =
        program.bytes_server_to_client.saturating_add(summary.bytes_server_to_client);
}

/// Whether the sections ask for connections of the query's transport:
/// connections are recorded for TCP alone, so a UDP or Unix listener's
/// question has none, not every TCP connection of the port.
fn asks_connections(query: &HistoryQuery, sections: Sections) -> bool {
    let tcp = query.protocol.is_none_or(|protocol| protocol == Protocol::Tcp);
    sections.connections && tcp
}

/// [`report`] without the single connections of `--each`, which
/// [`report_streamed`] hands over one by one.
fn summary(
    reader: &mut dyn HistoryReader,
    query: &HistoryQuery,
    sections: Sections,
) -> Result<HistoryReport, StoreError> {
    let mut report = HistoryReport {
        store: reader.describe(),
        query: query.clone(),
        ..HistoryReport::default()
    };
    if sections.listeners {
        // The newest changes, shown oldest first; one more than shown
        // tells whether any were left out.
        let mut listeners = reader.listeners(query, Order::NewestFirst, LISTENER_LIMIT + 1)?;
        report.listeners_truncated = listeners.len() > LISTENER_LIMIT;
        listeners.truncate(LISTENER_LIMIT);
        listeners.reverse();
        report.listeners = listeners;
    }
    if asks_connections(query, sections) {
        if !sections.each {
            let (mut clients, cut) = grouped_clients(reader, query, CLIENT_GROUP_LIMIT + 1, true)?;
            report.clients_truncated = cut || clients.len() > CLIENT_GROUP_LIMIT;
            report.several_servers = several_servers(&clients);
            clients.truncate(CLIENT_GROUP_LIMIT);
            report.clients = clients;
        } else {
            // The single connections name their server when several
            // programs served them, which their groups tell.
            let groups = reader.clients(query, PROCESS_GROUP_LIMIT + 1, true)?;
            report.several_servers = several_servers(&with_known_servers(groups));
        }
        // Hours older than every kept connection are only known as totals.
        let oldest = reader.oldest_connection()?;
        let window_starts_before = match (query.since, oldest) {
            (_, None) => true,
            (None, Some(_)) => true,
            (Some(since), Some(oldest)) => since < oldest,
        };
        if window_starts_before {
            let until = match (query.until, oldest) {
                (Some(until), Some(oldest)) => Some(until.min(hour_start(oldest))),
                (None, Some(oldest)) => Some(hour_start(oldest)),
                (until, None) => until,
            };
            report.hourly = reader.hourly(&HistoryQuery { until, ..query.clone() })?;
        }
    }
    report.losses = reader.losses(query)?;
    report.sessions = reader.sessions(query)?;
    Ok(report)
}

/// Whether a recorded listener serves one of `addresses` (all of them when
/// empty), as the kernel would route a client to it: the same address, or
/// a wildcard of the address's family, or an `[::]` that takes IPv4 too
/// (`IPV6_V6ONLY` off; unknown in records of schema 1, read as the
/// kernel's default, dual-stack). A wildcard asked about is a listener on
/// every address of its family: `[::]:PORT` is the `[::]` listener, and
/// `0.0.0.0:PORT` the `0.0.0.0` one and a dual-stack `[::]`, which accepted
/// on every IPv4 address too — the listener behind the IPv4 connections the
/// same question lists.
pub fn listener_serves(
    local: Option<SocketAddr>,
    v6only: Option<bool>,
    addresses: &[IpAddr],
) -> bool {
    if addresses.is_empty() {
        return true;
    }
    let Some(bound) = local.map(|local| local.ip()) else {
        return false;
    };
    addresses.iter().any(|&wanted| {
        if bound == wanted {
            return true;
        }
        if wanted.is_unspecified() {
            return match (bound, wanted) {
                (IpAddr::V6(bound), IpAddr::V4(_)) => {
                    bound.is_unspecified() && v6only != Some(true)
                }
                _ => false,
            };
        }
        match (bound, wanted) {
            (IpAddr::V4(bound), IpAddr::V4(_)) => bound.is_unspecified(),
            (IpAddr::V6(bound), IpAddr::V6(_)) => bound.is_unspecified(),
            (IpAddr::V6(bound), IpAddr::V4(wanted)) => {
                (bound.is_unspecified() && v6only != Some(true))
                    || bound.to_ipv4_mapped() == Some(wanted)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    })
}

/// Longest process name (`comm`) the kernel keeps, in bytes.
const COMM_LENGTH: usize = 15;

/// `name` cut as the kernel cuts `comm`: what a process of that name whose
/// executable was never read is recorded as. The kernel cuts at 15 bytes,
/// inside a character if need be, and the recorder keeps the bytes of the
/// cut character as they are (see [`crate::model::os_text`]), so the name
/// is cut the same way. Names no longer than that are returned whole.
pub(crate) fn comm_form(name: &str) -> String {
    let bytes = crate::model::os_text::to_bytes(name);
    crate::model::os_text::from_bytes(&bytes[..bytes.len().min(COMM_LENGTH)])
}

/// How far back `porthole PORT` counts the frequent clients.
pub const PORT_HISTORY_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// The short history `porthole PORT` shows: the port's last listener
/// changes and its most frequent clients of the last seven days, of one
/// transport when `protocol` names it (`-t`, `-u`), as the live answer
/// beside it is: a UDP service's past is no answer about a TCP port.
pub fn port_history(
    reader: &mut dyn HistoryReader,
    port: u16,
    protocol: Option<Protocol>,
    now: UnixMicros,
) -> Result<PortHistory, StoreError> {
    let since = now - PORT_HISTORY_WINDOW.as_micros() as i64;
    let query = HistoryQuery { port: Some(port), protocol, ..HistoryQuery::default() };
    let recent_listeners = reader.listeners(&query, Order::NewestFirst, 3)?;
    let mut frequent_clients = Vec::new();
    if asks_connections(&query, Sections { listeners: true, connections: true, each: false }) {
        let recent = HistoryQuery { since: Some(since), ..query.clone() };
        // A short list that names no server: one line per client program.
        (frequent_clients, _) = grouped_clients(reader, &recent, 3, false)?;
        frequent_clients.truncate(3);
    }
    Ok(PortHistory {
        store: reader.describe(),
        recent_listeners,
        frequent_clients,
        clients_since: since,
    })
}

/// [`port_history`] from the local store at `configured` (the value of
/// `PORTHOLE_STORE`, or the default file when `None`), when there is
/// something to show. No store yet (nothing recorded, or no state
/// directory to look in) gives `Ok(None)`; a PostgreSQL store is not asked,
/// so `porthole PORT` never waits on the network. A store that is there but
/// cannot be read (damaged, another program's file, a newer schema, not
/// readable by this user) is an error for the caller to mention: the rest
/// of `porthole PORT` stands without it.
pub fn local_port_history(
    configured: Option<&str>,
    port: u16,
    protocol: Option<Protocol>,
) -> Result<Option<PortHistory>, StoreError> {
    let location = match StoreLocation::resolve(configured) {
        Ok(location) => location,
        Err(StoreError::NoStateDirectory) => return Ok(None),
        Err(error) => return Err(error),
    };
    let StoreLocation::Sqlite(path) = &location else {
        return Ok(None);
    };
    let mut reader = match sqlite::SqliteReader::open(path) {
        Ok(reader) => reader,
        Err(StoreError::Missing { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let history = port_history(&mut reader, port, protocol, now_micros())?;
    Ok(Some(history).filter(|history| !history.is_empty()))
}

/// Start of the UTC hour `at` falls in.
pub fn hour_start(at: UnixMicros) -> UnixMicros {
    const HOUR: i64 = 3_600_000_000;
    at.div_euclid(HOUR) * HOUR
}

/// The time pruning measures retention from: the wall clock, but never
/// ahead of the wall time the writer opened at plus the (monotonic) time
/// it has run since.
///
/// A clock stepped forward while recording (a wrong NTP answer, an RTC
/// corrected the wrong way) would otherwise make every record look old
/// and the next pruning delete the whole history; a clock stepped back
/// only prunes less for a while. Records keep the wall clock's times.
#[derive(Debug, Clone, Copy)]
pub struct PruneClock {
    opened_at: UnixMicros,
    opened: std::time::Instant,
}

impl PruneClock {
    /// Anchored at the wall clock now.
    pub fn start() -> Self {
        PruneClock { opened_at: now_micros(), opened: std::time::Instant::now() }
    }

    /// Now, for pruning.
    pub fn now(&self) -> UnixMicros {
        self.now_given(now_micros(), self.opened.elapsed())
    }

    /// Now, given the wall clock and the monotonic time since opening.
    pub fn now_given(&self, wall: UnixMicros, elapsed: Duration) -> UnixMicros {
        let steady = self.opened_at.saturating_add(elapsed.as_micros() as i64);
        wall.min(steady)
    }
}

/// Now, as the store's clock.
pub fn now_micros() -> UnixMicros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}

#[cfg(test)]
mod tests;
