//! The default history store: one SQLite file in WAL mode.
//!
//! # Layout
//! Connections are the bulk of the data, so their rows are kept short:
//! addresses and processes are numbers pointing into small dictionary
//! tables (`addresses`, `processes`), times are microseconds, and how a
//! connection ended shares one small `flags` integer with whether its
//! start is known. Two indexes serve every query: `(server_port, at)` for
//! "who connected to this port then" and `(at)` for time windows and
//! oldest-first pruning. Hourly totals (`rollups`) are added up as rows
//! arrive, so they outlive the rows.
//!
//! # One writer, many readers
//! The writer holds an exclusive `flock` on the database file for its
//! whole life: a second writer fails at once with [`StoreError::Locked`],
//! and the lock goes away with the process, even after `kill -9`. SQLite's
//! own locks are POSIX record locks, which never conflict with `flock` on
//! Linux; readers take no `flock` at all. In WAL mode readers see the last
//! committed batch and never wait for the writer.
//!
//! # Damage and foreign files
//! A file that is not SQLite, or a SQLite file that is not a porthole store
//! (another `application_id`, or tables but no id), is reported and never
//! touched: the WAL switch, the schema and every write come after the
//! identity check.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{params, params_from_iter, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::batch::{
    stored_namespace, BatchPlan, ConnectionUpdate, NewConnection, OpenConnection, OpenConnections,
    Relabel,
};
use super::codec::{self, u64_from_db, u64_to_db};
use super::{
    HistoryReader, Order, StoreError, WriterOptions, OLDEST_READABLE_VERSION, SCHEMA_VERSION,
};
use crate::model::history::{
    CaptureSession, ClientSummary, ConnectionHistory, HistoryQuery, HourlyTotal, ListenerHistory,
    LossSummary,
};
use crate::model::monitor::{
    ConnectionRecord, EventSink, ListenerEvent, LossRecord, MonitorEvent, ProcessIdentity,
    SinkError, UnixMicros,
};

/// `PRAGMA application_id` of a porthole store ("Port" in ASCII): tells
/// our files from other SQLite databases.
pub const APPLICATION_ID: i64 = 0x506f_7274;

/// The schema, one script per version; `MIGRATIONS[n]` takes a store from
/// version `n` to `n + 1`. Never edit a released script: add one.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE addresses (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL UNIQUE
    );
    CREATE TABLE processes (
        id INTEGER PRIMARY KEY,
        pid INTEGER NOT NULL,
        start_time INTEGER,
        name TEXT NOT NULL,
        exe TEXT,
        cmdline TEXT NOT NULL,
        uid INTEGER NOT NULL,
        user TEXT,
        unit TEXT,
        container TEXT
    );
    CREATE INDEX processes_pid ON processes(pid, start_time);
    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        mode TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX captures_at ON captures(at);
    CREATE TABLE listener_events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        change INTEGER NOT NULL,
        protocol TEXT NOT NULL,
        family TEXT NOT NULL,
        address INTEGER,
        port INTEGER NOT NULL,
        path TEXT,
        inode INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        netns INTEGER,
        scope TEXT NOT NULL,
        exposed INTEGER NOT NULL
    );
    CREATE INDEX listener_events_port ON listener_events(port, at);
    CREATE INDEX listener_events_at ON listener_events(at);
    CREATE TABLE listener_owners (
        event INTEGER NOT NULL,
        process INTEGER NOT NULL,
        PRIMARY KEY (event, process)
    ) WITHOUT ROWID;
    CREATE TABLE connections (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        ended_at INTEGER,
        server_address INTEGER NOT NULL,
        server_port INTEGER NOT NULL,
        client_address INTEGER NOT NULL,
        client_port INTEGER NOT NULL,
        client_process INTEGER,
        server_process INTEGER,
        client_uid INTEGER,
        server_uid INTEGER,
        bytes_up INTEGER NOT NULL,
        bytes_down INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        cookie INTEGER NOT NULL,
        netns INTEGER
    );
    CREATE INDEX connections_port ON connections(server_port, at);
    CREATE INDEX connections_at ON connections(at);
    CREATE INDEX connections_open ON connections(cookie) WHERE ended_at IS NULL;
    CREATE TABLE losses (
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL,
        netns INTEGER
    );
    CREATE INDEX losses_at ON losses(at);
    CREATE TABLE rollups (
        hour INTEGER NOT NULL,
        server_port INTEGER NOT NULL,
        client_exe TEXT NOT NULL,
        client_name TEXT NOT NULL,
        connections INTEGER NOT NULL,
        bytes_up INTEGER NOT NULL,
        bytes_down INTEGER NOT NULL,
        PRIMARY KEY (hour, server_port, client_exe)
    ) WITHOUT ROWID;",
    // Version 2: `IPV6_V6ONLY` of IPv6 listeners (NULL: not IPv6, or not
    // known, as in every row version 1 wrote).
    "ALTER TABLE listener_events ADD COLUMN v6only INTEGER;",
    // Version 3: rows name their network namespace by inode, the
    // recorder's own too (rows of earlier versions leave it NULL), and so do
    // recorder starts; the hourly totals are kept per namespace in a table
    // of their own (`netns` 0: the namespace could not be read); the totals
    // of earlier versions stay in `rollups`, read as of no known namespace.
    "ALTER TABLE captures ADD COLUMN netns INTEGER;
    CREATE TABLE namespace_rollups (
        hour INTEGER NOT NULL,
        server_port INTEGER NOT NULL,
        client_exe TEXT NOT NULL,
        netns INTEGER NOT NULL,
        client_name TEXT NOT NULL,
        connections INTEGER NOT NULL,
        bytes_up INTEGER NOT NULL,
        bytes_down INTEGER NOT NULL,
        PRIMARY KEY (hour, server_port, client_exe, netns)
    ) WITHOUT ROWID;",
    // Version 4: whether a process's executable was deleted or replaced
    // since it started (NULL in every row earlier versions wrote: not
    // known, read as not deleted).
    "ALTER TABLE processes ADD COLUMN exe_deleted INTEGER;",
    // Version 5: a process's start in clock ticks after boot, beside its
    // start to the second: two processes given one pid within one second
    // are two rows (NULL in every row earlier versions wrote: not known).
    "ALTER TABLE processes ADD COLUMN start_ticks INTEGER;",
];

/// Rows deleted per pruning statement: small enough that one delete never
/// holds the write lock (or grows the WAL) for long.
const PRUNE_CHUNK: i64 = 20_000;

/// What identifies a process row: the same pid and start time with the
/// same name, executable and deleted flag is the same process. Cached by
/// pid and start time, with the names of each row beside them, so that a
/// lookup (one per connection end written) compares the names without
/// copying them.
type ProcessKey = (u32, Option<u64>, Option<u64>);
type ProcessRows = Vec<(String, Option<String>, bool, i64)>;

/// How often a refused store lock is looked at again, and the pause
/// between looks (together a fifth of a second; see `SqliteWriter::open`).
const LOCK_LOOKS: u32 = 20;
const LOCK_LOOK_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// The only writer of a SQLite store. See the module docs for its locking.
pub struct SqliteWriter {
    // Dropped before `lock` (fields drop in order): SQLite's POSIX locks
    // on the file would be released early if another descriptor of the
    // same file were closed first.
    connection: Connection,
    /// The database file, kept open to hold the `flock`.
    _lock: File,
    path: PathBuf,
    options: WriterOptions,
    processes: HashMap<ProcessKey, ProcessRows>,
    addresses: HashMap<IpAddr, i64>,
    /// Connections written while open, whose end will update their row.
    open: OpenConnections,
    last_maintenance: Instant,
    /// What retention is measured from (see [`super::PruneClock`]).
    clock: super::PruneClock,
}

/// Maps a SQLite error to the store's: damage and a full disk get their
/// own variants.
fn sqlite_error(path: &Path, error: rusqlite::Error) -> StoreError {
    let store = path.display().to_string();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path: path.to_path_buf(), detail: error.to_string() }
        }
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { store },
        _ => StoreError::Sqlite { store, error },
    }
}

/// Refuses a path that exists and is not a regular file. A directory fails
/// with a bare "Is a directory"; a named pipe would block the reader's
/// `open` until someone writes into it; a device gives SQLite "disk I/O
/// error". None of them can be a store, so they are named and left alone.
fn check_regular_file(path: &Path) -> Result<(), StoreError> {
    let file_type = match std::fs::metadata(path) {
        Ok(metadata) => metadata.file_type(),
        // Missing (or unreachable) files get their own answer from `open`.
        Err(_) => return Ok(()),
    };
    match crate::file_kind::not_a_regular_file(file_type) {
        None => Ok(()),
        Some(kind) => Err(StoreError::NotAFile { path: path.to_path_buf(), kind }),
    }
}

/// Where the writer may open `path` without being made to write over
/// another file: the path with its directories resolved, when the
/// directory the store goes in belongs to this user or root and no one
/// else may write to it, and a link as the last component was made by
/// this user or root.
///
/// Whoever may write that directory can put a link in it named like the
/// store (or its `-wal`, `-shm`), to a file of theirs or to any file the
/// recorder, often root, may write; SQLite follows it. When the writer
/// creates the store's directory itself (mode 0700), the directory it is
/// created in may be a sticky one such as `/tmp`, since no one may rename
/// another's entry there. The directories further up are the
/// administrator's: a world-writable, non-sticky one there is a problem
/// for far more than this store.
fn trusted_location(path: &Path) -> Result<PathBuf, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let io = |error| StoreError::Io { path: path.to_path_buf(), error };
    let euid = rustix::process::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == euid;
    let untrusted = |detail: String| StoreError::Untrusted { path: path.to_path_buf(), detail };
    let absolute = std::path::absolute(path).map_err(io)?;
    let mut file = absolute.clone();
    if let Ok(metadata) = std::fs::symlink_metadata(&absolute) {
        if metadata.file_type().is_symlink() {
            if !trusted(metadata.uid()) {
                return Err(untrusted(format!(
                    "it is a symbolic link made by uid {}",
                    metadata.uid()
                )));
            }
            let link_directory = absolute.parent().unwrap_or(Path::new("/"));
            check_directory(link_directory, false, &trusted).map_err(untrusted)?;
            // The store is what the link points to (a dangling link: the
            // file it names, which the writer creates).
            file = match std::fs::canonicalize(&absolute) {
                Ok(real) => real,
                Err(_) => link_directory.join(std::fs::read_link(&absolute).map_err(io)?),
            };
        }
    }
    let name = file.file_name().map(ToOwned::to_owned).unwrap_or_default();
    // The directories that exist, resolved; the writer creates the rest.
    let mut existing = file.parent().unwrap_or(Path::new("/"));
    let mut missing = Vec::new();
    while !existing.exists() {
        missing.push(existing.file_name().map(ToOwned::to_owned).unwrap_or_default());
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let mut real = std::fs::canonicalize(existing).map_err(io)?;
    check_directory(&real, !missing.is_empty(), &trusted).map_err(untrusted)?;
    for component in missing.iter().rev() {
        real.push(component);
    }
    Ok(real.join(name))
}

/// Checks that `directory` belongs to a trusted user and that no one else
/// may write to it, or, when `creating_below`, that it is sticky.
fn check_directory(
    directory: &Path,
    creating_below: bool,
    trusted: &dyn Fn(u32) -> bool,
) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let metadata =
        std::fs::metadata(directory).map_err(|e| format!("{}: {e}", directory.display()))?;
    let mode = metadata.mode();
    if !trusted(metadata.uid()) {
        return Err(format!("{} belongs to uid {}", directory.display(), metadata.uid()));
    }
    let shared = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if shared && !(sticky && creating_below) {
        return Err(format!(
            "{} may be written by other users (mode {:o})",
            directory.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// The first 16 bytes of every SQLite database.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Checks that a non-empty file starts like a SQLite database.
fn check_header(file: &mut File, path: &Path) -> Result<(), StoreError> {
    let io = |error| StoreError::Io { path: path.to_path_buf(), error };
    let length = file.metadata().map_err(io)?.len();
    if length == 0 {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = file.read(&mut header).map_err(io)?;
    if read < 16 || &header != SQLITE_MAGIC {
        return Err(StoreError::NotSqlite { path: path.to_path_buf() });
    }
    Ok(())
}

/// What a SQLite file says about itself.
struct Identity {
    application_id: i64,
    version: i64,
    tables: i64,
}

fn identity(connection: &Connection) -> rusqlite::Result<Identity> {
    Ok(Identity {
        application_id: connection.pragma_query_value(None, "application_id", |r| r.get(0))?,
        version: connection.pragma_query_value(None, "user_version", |r| r.get(0))?,
        tables: connection.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?,
    })
}

/// Refuses files that are not porthole stores.
fn check_identity(identity: &Identity, path: &Path) -> Result<(), StoreError> {
    let store = path.display().to_string();
    if identity.application_id != APPLICATION_ID
        && !(identity.application_id == 0 && identity.tables == 0)
    {
        let detail = if identity.application_id == 0 {
            format!("a SQLite database with {} other schema objects", identity.tables)
        } else {
            format!("SQLite application id {:#x}", identity.application_id)
        };
        return Err(StoreError::Foreign { store, detail });
    }
    if identity.version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            store,
            found: identity.version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

impl SqliteWriter {
    /// Opens (creating if needed, mode 0600 in a 0700 directory) and locks
    /// the store, migrates it to [`SCHEMA_VERSION`], and prunes it.
    pub fn open(path: &Path, options: &WriterOptions) -> Result<Self, StoreError> {
        let io = |error| StoreError::Io { path: path.to_path_buf(), error };
        check_regular_file(path)?;
        let real = trusted_location(path)?;
        if let Some(parent) = real.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(
                |error| match error.kind() {
                    // A file where a directory of the path should be: the
                    // bare error would be "File exists", about the store.
                    std::io::ErrorKind::AlreadyExists => StoreError::Io {
                        path: parent.to_path_buf(),
                        error: rustix::io::Errno::NOTDIR.into(),
                    },
                    _ => io(error),
                },
            )?;
        }
        // Connection history is sensitive: the file (and SQLite's -wal and
        // -shm files, which copy its mode) is readable by its owner only.
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            // Resolved already: a link appearing now is not followed.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&real)
            .map_err(io)?;
        // A lock that is refused may be held for a moment only: a writer
        // of this process that has just closed the store, whose descriptor a
        // process forked meanwhile by another thread still holds until it
        // executes (a flock belongs to the open file, which the child
        // shares). A second recorder holds it for its whole life, so a short
        // second look never lets one in.
        let mut looks = 0;
        loop {
            match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if looks < LOCK_LOOKS => {
                    looks += 1;
                    std::thread::sleep(LOCK_LOOK_PAUSE);
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(StoreError::Locked {
                        store: path.display().to_string(),
                        holder: String::new(),
                    })
                }
                Err(error) => return Err(io(error.into())),
            }
        }
        check_header(&mut lock, path)?;
        if lock.metadata().map_err(io)?.len() == 0 {
            // An empty file someone made for the store (`touch`, with the
            // umask's 0644) becomes a history store now: owner only, as
            // one the writer creates.
            use std::os::unix::fs::PermissionsExt;
            lock.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        let connection = Connection::open_with_flags(
            &real,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|e| sqlite_error(path, e))?;
        let found = identity(&connection).map_err(|e| sqlite_error(path, e))?;
        check_identity(&found, path)?;
        let mut writer = SqliteWriter {
            connection,
            _lock: lock,
            path: path.to_path_buf(),
            options: options.clone(),
            processes: HashMap::new(),
            addresses: HashMap::new(),
            open: HashMap::new(),
            last_maintenance: Instant::now(),
            clock: super::PruneClock::start(),
        };
        writer.configure(found.version).map_err(|e| sqlite_error(path, e))?;
        writer.reload_open().map_err(|e| sqlite_error(path, e))?;
        let now = writer.clock.now();
        writer.prune(now)?;
        Ok(writer)
    }

    fn configure(&mut self, version: i64) -> rusqlite::Result<()> {
        let connection = &mut self.connection;
        // The writer is alone (flock); a busy database means a reader is
        // checkpointing or recovering, which takes milliseconds.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        debug_assert_eq!(mode.to_ascii_lowercase(), "wal");
        // In WAL mode NORMAL loses no committed transaction on a process
        // crash, only (at most the last ones) on power loss.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        for (index, script) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let transaction = connection.transaction()?;
            transaction.execute_batch(script)?;
            transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()?;
        }
        Ok(())
    }

    /// Reads the connections still open from an earlier run, so their end
    /// updates them instead of adding a second row.
    fn reload_open(&mut self) -> rusqlite::Result<()> {
        self.open.clear();
        let mut statement = self.connection.prepare(
            "SELECT c.cookie, c.netns, c.bytes_up, c.bytes_down, c.at, c.server_port,
                    coalesce(p.exe, p.name, ''), c.flags
             FROM connections c LEFT JOIN processes p ON p.id = c.client_process
             WHERE c.ended_at IS NULL",
        )?;
        let own = self.options.net_namespace;
        let rows = statement.query_map([], |row| {
            let key = (u64_from_db(row.get(0)?), row.get::<_, Option<i64>>(1)?.map(u64_from_db));
            // A row of an earlier version (no label) that is still open is
            // taken to be of this recorder's namespace, as its snapshot
            // takes it.
            let rollup_namespace = key.1.or(own);
            let open = OpenConnection {
                bytes_up: row.get::<_, i64>(2)? as u64,
                bytes_down: row.get::<_, i64>(3)? as u64,
                rollup: (
                    super::hour_start(row.get(4)?),
                    row.get(5)?,
                    row.get(6)?,
                    rollup_namespace,
                ),
                at: row.get(4)?,
                start_known: codec::connection_from_flags(row.get(7)?).1,
            };
            Ok((key, open))
        })?;
        for row in rows {
            let (key, open) = row?;
            self.open.insert(key, open);
        }
        Ok(())
    }

    /// The path of the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one batch in one transaction.
    pub fn write(&mut self, batch: &[MonitorEvent]) -> Result<(), StoreError> {
        let result = self.write_transaction(batch);
        if let Err(error) = result {
            // Ids handed out inside the rolled-back transaction are gone.
            self.processes.clear();
            self.addresses.clear();
            let _ = self.reload_open();
            return Err(sqlite_error(&self.path, error));
        }
        if self.last_maintenance.elapsed() >= self.options.maintenance_interval {
            self.prune(self.clock.now())?;
        } else if self.options.max_size.is_some() {
            self.enforce_size_cap()?;
        }
        Ok(())
    }

    fn write_transaction(&mut self, batch: &[MonitorEvent]) -> rusqlite::Result<()> {
        let SqliteWriter { connection, processes, addresses, open, options, .. } = self;
        let own = options.net_namespace;
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut cache = Cache { connection: &transaction, processes, addresses };
        let plan = BatchPlan::of_events(open, batch, super::now_micros(), own);
        for event in batch {
            match event {
                MonitorEvent::Started { at, mode, reason } => {
                    cache
                        .connection
                        .prepare_cached(
                            "INSERT INTO captures (at, mode, reason, netns)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            at,
                            codec::mode_to_db(*mode),
                            reason,
                            own.map(u64_to_db)
                        ])?;
                }
                MonitorEvent::Listener(listener) => write_listener(&mut cache, listener, own)?,
                // Planned above, written below.
                MonitorEvent::Connection(_) | MonitorEvent::OpenSnapshot(_) => {}
                MonitorEvent::Loss(LossRecord { at, kind, count, net_namespace }) => {
                    cache
                        .connection
                        .prepare_cached(
                            "INSERT INTO losses (at, kind, count, netns) VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![
                            at,
                            codec::loss_to_db(*kind),
                            *count as i64,
                            stored_namespace(*net_namespace, own).map(u64_to_db)
                        ])?;
                }
            }
        }
        for relabel in &plan.relabels {
            relabel_connection(&cache, relabel)?;
        }
        for update in &plan.updates {
            update_connection(&mut cache, update)?;
        }
        for row in &plan.inserts {
            insert_connection(&mut cache, row)?;
        }
        {
            let mut upsert = transaction.prepare_cached(
                "INSERT INTO namespace_rollups
                    (hour, server_port, client_exe, netns, client_name, connections, bytes_up,
                     bytes_down)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (hour, server_port, client_exe, netns) DO UPDATE SET
                    client_name = excluded.client_name,
                    connections = connections + excluded.connections,
                    bytes_up = bytes_up + excluded.bytes_up,
                    bytes_down = bytes_down + excluded.bytes_down",
            )?;
            for ((hour, port, exe, net_namespace), delta) in &plan.rollups {
                upsert.execute(params![
                    hour,
                    port,
                    exe,
                    codec::rollup_namespace_to_db(*net_namespace),
                    delta.client_name,
                    delta.connections,
                    delta.bytes_up,
                    delta.bytes_down
                ])?;
            }
        }
        transaction.commit()?;
        plan.commit_to(open);
        Ok(())
    }

    /// Deletes what is older than the retention periods, then enforces the
    /// size cap. `now` is a parameter so tests can move the clock. A
    /// listener still listening as far as the record goes keeps its
    /// "appeared" (see `STILL_LISTENING`).
    pub fn prune(&mut self, now: UnixMicros) -> Result<(), StoreError> {
        self.last_maintenance = Instant::now();
        let keep = self.options.keep.as_micros() as i64;
        let keep_hourly = self.options.keep_hourly.as_micros() as i64;
        let cutoff = now.saturating_sub(keep);
        let hourly_cutoff = now.saturating_sub(keep_hourly);
        let path = self.path.clone();
        let run = |connection: &Connection| -> rusqlite::Result<()> {
            loop {
                let deleted = connection.execute(
                    "DELETE FROM connections WHERE id IN
                        (SELECT id FROM connections WHERE at < ?1 ORDER BY at LIMIT ?2)",
                    params![cutoff, PRUNE_CHUNK],
                )?;
                if (deleted as i64) < PRUNE_CHUNK {
                    break;
                }
            }
            connection.execute(
                &format!(
                    "DELETE FROM listener_owners WHERE event IN
                        (SELECT id FROM listener_events WHERE at < ?1 AND NOT {STILL_LISTENING})"
                ),
                [cutoff],
            )?;
            connection.execute(
                &format!("DELETE FROM listener_events WHERE at < ?1 AND NOT {STILL_LISTENING}"),
                [cutoff],
            )?;
            connection.execute("DELETE FROM losses WHERE at < ?1", [cutoff])?;
            connection.execute("DELETE FROM captures WHERE at < ?1", [cutoff])?;
            connection.execute("DELETE FROM rollups WHERE hour < ?1", [hourly_cutoff])?;
            connection.execute("DELETE FROM namespace_rollups WHERE hour < ?1", [hourly_cutoff])?;
            Ok(())
        };
        run(&self.connection).map_err(|e| sqlite_error(&path, e))?;
        self.reload_open().map_err(|e| sqlite_error(&path, e))?;
        self.enforce_size_cap()
    }

    /// Bytes the records take: pages in use, free pages excluded (SQLite
    /// reuses those before growing the file).
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let pragma = |name: &str| -> Result<i64, StoreError> {
            self.connection
                .pragma_query_value(None, name, |r| r.get(0))
                .map_err(|e| sqlite_error(&self.path, e))
        };
        let used_pages = pragma("page_count")? - pragma("freelist_count")?;
        Ok((used_pages.max(0) * pragma("page_size")?) as u64)
    }

    /// When the records take more than the cap, deletes the oldest
    /// connections, estimating from the average row size how many must go
    /// to get under 90% of it. The freed space is reused by new rows, so
    /// the file stops growing at about the cap.
    fn enforce_size_cap(&mut self) -> Result<(), StoreError> {
        let Some(cap) = self.options.max_size else {
            return Ok(());
        };
        let used = self.used_bytes()?;
        if used <= cap {
            return Ok(());
        }
        let path = self.path.clone();
        let rows: i64 = self
            .connection
            .query_row("SELECT coalesce(max(id) - min(id) + 1, 0) FROM connections", [], |r| {
                r.get(0)
            })
            .map_err(|e| sqlite_error(&path, e))?;
        if rows == 0 {
            return Ok(());
        }
        let per_row = (used / rows as u64).max(1);
        let excess = used - cap * 9 / 10;
        let mut remaining = (excess / per_row).max(1) as i64;
        while remaining > 0 {
            let chunk = remaining.min(PRUNE_CHUNK);
            let deleted = self
                .connection
                .execute(
                    "DELETE FROM connections WHERE id IN
                        (SELECT id FROM connections ORDER BY at LIMIT ?1)",
                    [chunk],
                )
                .map_err(|e| sqlite_error(&path, e))?;
            if deleted == 0 {
                break;
            }
            remaining -= deleted as i64;
        }
        self.reload_open().map_err(|e| sqlite_error(&path, e))
    }
}

impl EventSink for SqliteWriter {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        self.write(batch).map_err(Into::into)
    }
}

/// Dictionary ids of the current transaction.
struct Cache<'a> {
    connection: &'a Connection,
    processes: &'a mut HashMap<ProcessKey, ProcessRows>,
    addresses: &'a mut HashMap<IpAddr, i64>,
}

/// Most dictionary ids kept in memory; past it the cache starts over.
const CACHE_LIMIT: usize = 100_000;

impl Cache<'_> {
    fn address(&mut self, ip: IpAddr) -> rusqlite::Result<i64> {
        if let Some(id) = self.addresses.get(&ip) {
            return Ok(*id);
        }
        let text = ip.to_string();
        let found: Option<i64> = self
            .connection
            .prepare_cached("SELECT id FROM addresses WHERE address = ?1")?
            .query_row([&text], |r| r.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.connection
                    .prepare_cached("INSERT INTO addresses (address) VALUES (?1)")?
                    .execute([&text])?;
                self.connection.last_insert_rowid()
            }
        };
        if self.addresses.len() >= CACHE_LIMIT {
            self.addresses.clear();
        }
        self.addresses.insert(ip, id);
        Ok(id)
    }

    fn process(&mut self, process: &ProcessIdentity) -> rusqlite::Result<i64> {
        let key: ProcessKey = (process.pid, process.start_time, process.start_ticks);
        let cached = self.processes.get(&key).and_then(|rows| {
            rows.iter().find(|(name, exe, deleted, _)| {
                *name == process.name && *exe == process.exe && *deleted == process.exe_deleted
            })
        });
        if let Some((_, _, _, id)) = cached {
            return Ok(*id);
        }
        let start_time = process.start_time.map(|t| t as i64);
        let start_ticks = process.start_ticks.map(u64_to_db);
        // A row of schema 3 and earlier (flag NULL) is the process as long
        // as it reads as not deleted.
        let found: Option<i64> = self
            .connection
            .prepare_cached(
                "SELECT id FROM processes
                 WHERE pid = ?1 AND start_time IS ?2 AND name = ?3 AND exe IS ?4
                   AND coalesce(exe_deleted, 0) = ?5 AND start_ticks IS ?6 LIMIT 1",
            )?
            .query_row(
                params![
                    process.pid,
                    start_time,
                    process.name,
                    process.exe,
                    process.exe_deleted,
                    start_ticks
                ],
                |r| r.get(0),
            )
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.connection
                    .prepare_cached(
                        "INSERT INTO processes
                            (pid, start_time, name, exe, cmdline, uid, user, unit, container,
                             exe_deleted, start_ticks)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )?
                    .execute(params![
                        process.pid,
                        start_time,
                        process.name,
                        process.exe,
                        codec::cmdline_to_db(&process.cmdline),
                        process.uid,
                        process.user,
                        process.unit,
                        process.container,
                        process.exe_deleted,
                        start_ticks
                    ])?;
                self.connection.last_insert_rowid()
            }
        };
        if self.processes.len() >= CACHE_LIMIT {
            self.processes.clear();
        }
        self.processes.entry(key).or_default().push((
            process.name.clone(),
            process.exe.clone(),
            process.exe_deleted,
            id,
        ));
        Ok(id)
    }
}

fn write_listener(
    cache: &mut Cache<'_>,
    listener: &ListenerEvent,
    own: Option<u64>,
) -> rusqlite::Result<()> {
    let address = listener.local.map(|local| cache.address(local.ip())).transpose()?;
    cache
        .connection
        .prepare_cached(
            "INSERT INTO listener_events
                (at, change, protocol, family, address, port, path, inode, uid, netns, scope, exposed,
                 v6only)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            listener.at,
            codec::change_to_db(listener.change),
            listener.protocol.as_str(),
            listener.family.as_str(),
            address,
            listener.local.map_or(0, |l| l.port()),
            listener.path,
            u64_to_db(listener.inode),
            listener.uid,
            stored_namespace(listener.net_namespace, own).map(u64_to_db),
            listener.scope.as_str(),
            listener.exposed,
            listener.v6only
        ])?;
    let event = cache.connection.last_insert_rowid();
    for owner in &listener.owners {
        let process = cache.process(owner)?;
        cache
            .connection
            .prepare_cached(
                "INSERT OR IGNORE INTO listener_owners (event, process) VALUES (?1, ?2)",
            )?
            .execute(params![event, process])?;
    }
    Ok(())
}

/// Gives a row an earlier recorder left open the namespace label this
/// recorder uses for it.
fn relabel_connection(cache: &Cache<'_>, relabel: &Relabel) -> rusqlite::Result<()> {
    let Relabel { key: (cookie, net_namespace), net_namespace: new } = relabel;
    cache
        .connection
        .prepare_cached(
            "UPDATE connections SET netns = ?3
             WHERE cookie = ?1 AND netns IS ?2 AND ended_at IS NULL",
        )?
        .execute(params![u64_to_db(*cookie), net_namespace.map(u64_to_db), new.map(u64_to_db)])?;
    Ok(())
}

/// Updates a row an earlier batch left open (found through the
/// `connections_open` index).
fn update_connection(cache: &mut Cache<'_>, update: &ConnectionUpdate<'_>) -> rusqlite::Result<()> {
    let ConnectionUpdate { key: (cookie, net_namespace), state } = update;
    let client_process = state.client_process.map(|p| cache.process(p)).transpose()?;
    let server_process = state.server_process.map(|p| cache.process(p)).transpose()?;
    cache
        .connection
        .prepare_cached(
            "UPDATE connections SET ended_at = ?3, bytes_up = ?4, bytes_down = ?5,
                flags = ?6, client_process = coalesce(?7, client_process),
                server_process = coalesce(?8, server_process),
                client_uid = coalesce(?9, client_uid), server_uid = coalesce(?10, server_uid)
             WHERE cookie = ?1 AND netns IS ?2 AND ended_at IS NULL",
        )?
        .execute(params![
            u64_to_db(*cookie),
            net_namespace.map(u64_to_db),
            state.ended_at,
            state.bytes_up as i64,
            state.bytes_down as i64,
            state.flags,
            client_process,
            server_process,
            state.client_uid,
            state.server_uid
        ])?;
    Ok(())
}

fn insert_connection(cache: &mut Cache<'_>, row: &NewConnection<'_>) -> rusqlite::Result<()> {
    let NewConnection { record, net_namespace, at, state } = row;
    let client_process = state.client_process.map(|p| cache.process(p)).transpose()?;
    let server_process = state.server_process.map(|p| cache.process(p)).transpose()?;
    let server_address = cache.address(record.server.ip())?;
    let client_address = cache.address(record.client.ip())?;
    cache
        .connection
        .prepare_cached(
            "INSERT INTO connections
                (at, ended_at, server_address, server_port, client_address, client_port,
                 client_process, server_process, client_uid, server_uid,
                 bytes_up, bytes_down, flags, cookie, netns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            at,
            state.ended_at,
            server_address,
            record.server.port(),
            client_address,
            record.client.port(),
            client_process,
            server_process,
            state.client_uid,
            state.server_uid,
            state.bytes_up as i64,
            state.bytes_down as i64,
            state.flags,
            u64_to_db(record.cookie),
            net_namespace.map(u64_to_db)
        ])?;
    Ok(())
}

/// SQLite's write-ahead log beside the store: `PATH-wal`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_os_string();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI
/// filenames require (a `?` or `#` in a directory name must not end it).
/// See: <https://www.sqlite.org/uri.html>
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// A read-only view of a SQLite store; it never waits for the writer.
pub struct SqliteReader {
    connection: Connection,
    path: PathBuf,
    /// The store's schema version: a reader answers from older ones too.
    version: i64,
    /// The private copy read instead of the store, if any (see
    /// [`PrivateCopy`]); removed with the reader.
    _copy: Option<PrivateCopy>,
}

/// A copy of a store and its `-wal` in a directory of the reading user's
/// own, deleted on drop.
///
/// A recorder that was killed (`kill -9`, a crash) leaves its `-wal`
/// beside the store, holding what it committed since the last checkpoint.
/// SQLite reads it only through the `-shm` index, which it must create
/// when it is missing; a user who may read the files but not write their
/// directory cannot. With no recorder left to change the files, a copy
/// read where this user may write holds the same records.
struct PrivateCopy {
    directory: PathBuf,
}

impl PrivateCopy {
    /// Copies `path` and its `-wal` into a new 0700 directory under
    /// `$XDG_RUNTIME_DIR` (else the temporary directory); returns the copy
    /// of `path`.
    fn make(path: &Path) -> std::io::Result<(Self, PathBuf)> {
        let size = std::fs::metadata(path)?.len() + std::fs::metadata(wal_path(path))?.len();
        if size > COPY_LIMIT {
            return Err(std::io::Error::other(format!(
                "{} MB, more than the {} MB porthole copies",
                size >> 20,
                COPY_LIMIT >> 20
            )));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let name = format!("porthole-read-{}-{stamp}", std::process::id());
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(&name));
        let temporary = std::env::temp_dir().join(&name);
        // `create`, not `recursive`: fails if the name exists (planted).
        let create = |directory: &PathBuf| std::fs::DirBuilder::new().mode(0o700).create(directory);
        // The message names where the copy went, so that a temporary
        // directory this user may not write is seen to be the cause.
        let at = |directory: &Path| {
            let place = directory.parent().unwrap_or(directory).display().to_string();
            move |error: std::io::Error| {
                std::io::Error::new(error.kind(), format!("in {place}: {error}"))
            }
        };
        let directory = match runtime.filter(|directory| create(directory).is_ok()) {
            Some(directory) => directory,
            None => create(&temporary).map(|()| temporary.clone()).map_err(at(&temporary))?,
        };
        let copy = PrivateCopy { directory };
        let target = copy.directory.join(DEFAULT_COPY_NAME);
        std::fs::copy(path, &target).map_err(at(&copy.directory))?;
        std::fs::copy(wal_path(path), wal_path(&target)).map_err(at(&copy.directory))?;
        Ok((copy, target))
    }
}

/// Whether the `listener_events` row at hand is the "appeared" of a
/// listener that, as far as the record goes, still listens: no later
/// change of its socket (port, inode and namespace), and no recorder start
/// since (a recorder records every listener again when it starts, so one
/// that closed while none ran is not taken for listening).
///
/// Retention keeps these rows whatever their age: a service that has
/// listened for longer than `--keep` under one running recorder would
/// otherwise lose the only record of its start, and `porthole PORT` and
/// `history` would no longer know who holds the port. They are one per
/// socket, so they stay few. (`change = 1` is
/// [`codec::change_to_db`]'s "appeared".)
const STILL_LISTENING: &str = "(listener_events.change = 1
    AND NOT EXISTS (SELECT 1 FROM listener_events later
        WHERE later.port = listener_events.port AND later.inode = listener_events.inode
            AND later.netns IS listener_events.netns AND later.id > listener_events.id)
    AND NOT EXISTS (SELECT 1 FROM captures WHERE captures.at > listener_events.at))";

/// Largest store (with its `-wal`) read through a copy: the copy goes to
/// the temporary directory, often memory.
const COPY_LIMIT: u64 = 1 << 30;

/// The copy's file name: the store's own may hold anything.
const DEFAULT_COPY_NAME: &str = "history.sqlite";

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Whether the store's `-wal` holds anything: an empty one adds nothing
/// to the main file, and a copy would read the same as the file does.
fn wal_has_records(path: &Path) -> bool {
    std::fs::metadata(wal_path(path)).is_ok_and(|metadata| metadata.len() > 0)
}

/// Whether a recorder holds the store: the writer keeps an exclusive
/// `flock` on it for as long as it runs.
fn recorder_holds(file: &File) -> bool {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = rustix::fs::flock(file, rustix::fs::FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

impl SqliteReader {
    /// Opens an existing store read-only.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let io = |error| StoreError::Io { path: path.to_path_buf(), error };
        check_regular_file(path)?;
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { path: path.to_path_buf() })
            }
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(StoreError::NotReadable { path: path.to_path_buf() })
            }
            Err(error) => return Err(io(error)),
        };
        check_header(&mut file, path)?;
        if file.metadata().map_err(io)?.len() == 0 {
            // A writer created the file and has not written the schema yet.
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        let open = |immutable: bool, path: &Path| -> rusqlite::Result<(Connection, Identity)> {
            let connection = if immutable {
                Connection::open_with_flags(
                    immutable_uri(path),
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?
            } else {
                Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?
            };
            // Readers never wait on the writer in WAL mode; this only covers
            // a reader that arrives while another one recovers the WAL index.
            connection.busy_timeout(std::time::Duration::from_secs(2))?;
            let found = identity(&connection)?;
            Ok((connection, found))
        };
        let mut copy = None;
        let (connection, found) = match open(false, path) {
            Ok(opened) => opened,
            // A WAL database is read through its `-shm` index, which a
            // reader creates when it is missing: a copy of the store in a
            // directory this user may not write (a backup, another user's
            // state directory made readable) cannot be read that way. With
            // no `-wal` file no writer has the store open and every
            // committed record is in the main file, so the file is read as
            // it is, without the index.
            Err(error)
                if matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen)
                ) && !wal_path(path).exists() =>
            {
                open(true, path).map_err(|e| sqlite_error(path, e))?
            }
            // A `-wal` and no recorder: one was killed. Its records are
            // read from a private copy (see `PrivateCopy`).
            Err(error)
                if matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen)
                ) && wal_has_records(path)
                    && !recorder_holds(&file) =>
            {
                let (private, copied) = PrivateCopy::make(path).map_err(|error| {
                    StoreError::UnreadableAfterCrash { path: path.to_path_buf(), error }
                })?;
                let opened = open(false, &copied).map_err(|e| sqlite_error(path, e))?;
                copy = Some(private);
                opened
            }
            Err(error)
                if matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen)
                ) =>
            {
                return Err(StoreError::UnreadableWhileRecording { path: path.to_path_buf() })
            }
            Err(error) => return Err(sqlite_error(path, error)),
        };
        check_identity(&found, path)?;
        // An empty database (`sqlite3 FILE` makes one, as does a writer that
        // has not written its schema yet) holds no history, whatever version
        // number it carries.
        if found.tables == 0 {
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        if found.version < OLDEST_READABLE_VERSION {
            return Err(StoreError::OlderSchema {
                store: path.display().to_string(),
                found: found.version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(SqliteReader {
            connection,
            path: path.to_path_buf(),
            version: found.version,
            _copy: copy,
        })
    }

    fn error(&self, error: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path, error)
    }

    /// Ids of the query's server addresses; `None` when the query has none,
    /// an empty list when none of them was ever recorded.
    fn address_ids(&self, query: &HistoryQuery) -> rusqlite::Result<Option<Vec<i64>>> {
        if query.addresses.is_empty() {
            return Ok(None);
        }
        let mut ids = Vec::new();
        let mut statement =
            self.connection.prepare_cached("SELECT id FROM addresses WHERE address = ?1")?;
        // A wildcard asks about every address of its family that clients
        // reached (connections record the address, never the wildcard).
        let mut family = self
            .connection
            .prepare_cached("SELECT id FROM addresses WHERE (instr(address, ':') > 0) = ?1")?;
        for ip in &query.addresses {
            if ip.is_unspecified() {
                for id in family.query_map([ip.is_ipv6()], |r| r.get(0))? {
                    ids.push(id?);
                }
            } else if let Some(id) =
                statement.query_row([ip.to_string()], |r| r.get(0)).optional()?
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Some(ids))
    }

    fn address_of(&self, id: i64) -> rusqlite::Result<Option<IpAddr>> {
        let text: Option<String> = self
            .connection
            .prepare_cached("SELECT address FROM addresses WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| t.parse().ok()))
    }

    fn process_of(&self, id: i64) -> rusqlite::Result<Option<ProcessIdentity>> {
        let sql = format!(
            "SELECT pid, start_time, name, exe, cmdline, uid, user, unit, container, {}, {}
             FROM processes WHERE id = ?1",
            self.exe_deleted_column("exe_deleted"),
            self.start_ticks_column("start_ticks")
        );
        self.connection
            .prepare_cached(&sql)?
            .query_row([id], |row| {
                Ok(ProcessIdentity {
                    pid: row.get(0)?,
                    start_time: row.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                    start_ticks: row.get::<_, Option<i64>>(10)?.map(u64_from_db),
                    name: row.get(2)?,
                    exe: row.get(3)?,
                    exe_deleted: row.get(9)?,
                    cmdline: codec::cmdline_from_db(&row.get::<_, String>(4)?),
                    uid: row.get(5)?,
                    user: row.get(6)?,
                    unit: row.get(7)?,
                    container: row.get(8)?,
                })
            })
            .optional()
    }

    /// The deleted flag of a `processes` row as a 0/1 expression on
    /// `column`: stores before schema 4 have no such column, and rows they
    /// wrote leave it NULL; both read as not deleted.
    fn exe_deleted_column(&self, column: &str) -> String {
        if self.version >= 4 {
            format!("coalesce({column}, 0)")
        } else {
            "0".to_string()
        }
    }

    /// The start in clock ticks of a `processes` row: `column`, or NULL
    /// in stores before schema 5, which have no such column.
    fn start_ticks_column(&self, column: &str) -> String {
        if self.version >= 5 {
            column.to_string()
        } else {
            "NULL".to_string()
        }
    }
}

/// A WHERE clause under construction, with its parameters.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    values: Vec<rusqlite::types::Value>,
}

impl Filter {
    fn push(&mut self, clause: &str, values: impl IntoIterator<Item = rusqlite::types::Value>) {
        // Parameters are numbered in order: `?` placeholders get their
        // position from how many values came before.
        let mut text = String::new();
        let mut values = values.into_iter();
        for piece in clause.split('?').enumerate() {
            if piece.0 > 0 {
                let value = values.next().expect("one value per placeholder");
                self.values.push(value);
                text.push_str(&format!("?{}", self.values.len()));
            }
            text.push_str(piece.1);
        }
        self.clauses.push(text);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The time window on column `column`.
    fn window(&mut self, column: &str, query: &HistoryQuery) {
        if let Some(since) = query.since {
            self.push(&format!("{column} >= ?"), [since.into()]);
        }
        if let Some(until) = query.until {
            self.push(&format!("{column} < ?"), [until.into()]);
        }
    }
}

/// `--process NAME`: the name (`comm`) or the executable's file name
/// contains NAME; three `?` placeholders, filled by [`name_values`]. The
/// kernel cuts `comm` to 15 bytes, so `postgres-exporter` runs as
/// `postgres-export` and only its executable carries the whole name; a
/// process whose executable was not read (it exited first) has only its
/// cut name, which matches when it is NAME cut the same way. The file name
/// is what follows the last `/`: `rtrim` with every other character of the
/// path strips the file name and leaves the directory.
///
/// With a `cmdline` column, an argument that is NAME or a path ending in
/// `/NAME` matches too (two more placeholders): a script run by its
/// interpreter (`python3 app.py`) is named `python3` and runs python3's
/// executable. The arguments are NUL-separated, which SQLite's text
/// functions stop at: they are compared as bytes.
fn name_matches(name: &str, exe: &str, cmdline: Option<&str>) -> String {
    let argument = cmdline.map_or(String::new(), |cmdline| {
        format!(
            "
          OR instr(CAST(char(0) || {cmdline} || char(0) AS BLOB),
                   CAST(char(0) || ? || char(0) AS BLOB)) > 0
          OR instr(CAST({cmdline} || char(0) AS BLOB), CAST('/' || ? || char(0) AS BLOB)) > 0"
        )
    });
    format!(
        "(instr({name}, ?) > 0
          OR instr(substr(coalesce({exe}, ''),
                          length(rtrim(coalesce({exe}, ''), replace(coalesce({exe}, ''), '/', '')))
                          + 1), ?) > 0
          OR (coalesce({exe}, {name}) = {name} AND {name} = ?){argument})"
    )
}

/// The values of one [`name_matches`] (`cmdline`: it was given a column).
fn name_values(name: &str, cmdline: bool) -> Vec<rusqlite::types::Value> {
    let mut values: Vec<rusqlite::types::Value> =
        vec![name.to_string().into(), name.to_string().into(), super::comm_form(name).into()];
    if cmdline {
        values.extend([name.to_string().into(), name.to_string().into()]);
    }
    values
}

/// The connection filters of a query, or `None` when it cannot match.
fn connection_filter(
    reader: &SqliteReader,
    query: &HistoryQuery,
) -> rusqlite::Result<Option<Filter>> {
    let mut filter = Filter::default();
    if let Some(port) = query.port {
        filter.push("c.server_port = ?", [i64::from(port).into()]);
    }
    if let Some(ids) = reader.address_ids(query)? {
        if ids.is_empty() {
            return Ok(None);
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        filter.push(
            &format!("c.server_address IN ({placeholders})"),
            ids.into_iter().map(Into::into),
        );
    }
    filter.window("c.at", query);
    if let Some(name) = &query.process {
        let matching = name_matches("name", "exe", Some("cmdline"));
        filter.push(
            &format!(
                "(c.client_process IN (SELECT id FROM processes WHERE {matching})
                  OR c.server_process IN (SELECT id FROM processes WHERE {matching}))"
            ),
            name_values(name, true).into_iter().chain(name_values(name, true)),
        );
    }
    Ok(Some(filter))
}

impl HistoryReader for SqliteReader {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn listeners(
        &mut self,
        query: &HistoryQuery,
        order: Order,
        limit: usize,
    ) -> Result<Vec<ListenerHistory>, StoreError> {
        let run = || -> rusqlite::Result<Vec<ListenerHistory>> {
            let mut filter = Filter::default();
            if let Some(port) = query.port {
                // A Unix socket's row has port 0: it has no port.
                filter.push("e.port = ? AND e.protocol <> 'unix'", [i64::from(port).into()]);
            }
            if let Some(protocol) = query.protocol {
                filter.push("e.protocol = ?", [protocol.as_str().to_string().into()]);
            }
            if let Some(path) = &query.path {
                filter.push("e.path = ?", [path.clone().into()]);
            }
            filter.window("e.at", query);
            if let Some(name) = &query.process {
                filter.push(
                    &format!(
                        "e.id IN (SELECT o.event FROM listener_owners o
                                  JOIN processes p ON p.id = o.process WHERE {})",
                        name_matches("p.name", "p.exe", Some("p.cmdline"))
                    ),
                    name_values(name, true),
                );
            }
            let direction = match order {
                Order::OldestFirst => "ASC",
                Order::NewestFirst => "DESC",
            };
            // Schema 1 kept no `IPV6_V6ONLY`.
            let v6only = if self.version >= 2 { "e.v6only" } else { "NULL" };
            let sql = format!(
                "SELECT e.id, e.at, e.change, e.protocol, e.family, a.address, e.port, e.path,
                        e.inode, e.uid, e.netns, e.scope, e.exposed, {v6only}
                 FROM listener_events e LEFT JOIN addresses a ON a.id = e.address
                 WHERE {} ORDER BY e.at {direction}, e.id {direction}",
                filter.sql()
            );
            let mut statement = self.connection.prepare(&sql)?;
            let mut rows = statement.query(params_from_iter(filter.values.iter()))?;
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                let address: Option<String> = row.get(5)?;
                let port: u16 = row.get(6)?;
                let local = address
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, port));
                let v6only: Option<bool> = row.get(13)?;
                if !super::listener_serves(local, v6only, &query.addresses) {
                    continue;
                }
                let event_id: i64 = row.get(0)?;
                let event = ListenerEvent {
                    at: row.get(1)?,
                    change: codec::change_from_db(row.get(2)?),
                    protocol: codec::protocol_from_db(&row.get::<_, String>(3)?),
                    family: codec::family_from_db(&row.get::<_, String>(4)?),
                    local,
                    path: row.get(7)?,
                    inode: u64_from_db(row.get(8)?),
                    uid: row.get(9)?,
                    net_namespace: row.get::<_, Option<i64>>(10)?.map(u64_from_db),
                    scope: codec::scope_from_db(&row.get::<_, String>(11)?),
                    exposed: row.get(12)?,
                    v6only,
                    owners: Vec::new(),
                };
                found.push((event_id, event));
                if found.len() >= limit {
                    break;
                }
            }
            let mut listeners = Vec::with_capacity(found.len());
            let mut owners = self.connection.prepare_cached(
                "SELECT process FROM listener_owners WHERE event = ?1 ORDER BY process",
            )?;
            for (event_id, mut event) in found {
                let ids: Vec<i64> =
                    owners.query_map([event_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
                for id in ids {
                    if let Some(process) = self.process_of(id)? {
                        event.owners.push(process);
                    }
                }
                listeners.push(ListenerHistory { host: None, event });
            }
            Ok(listeners)
        };
        run().map_err(|e| self.error(e))
    }

    fn clients(
        &mut self,
        query: &HistoryQuery,
        limit: usize,
        servers: bool,
    ) -> Result<Vec<ClientSummary>, StoreError> {
        let run = || -> rusqlite::Result<Vec<ClientSummary>> {
            let Some(filter) = connection_filter(self, query)? else {
                return Ok(Vec::new());
            };
            // One statement: the groups with their server address and
            // client process joined in (a window of 40 clients was 80
            // lookups after the grouping).
            // With `servers`, the groups are per server *program* (its
            // executable and user), not per server process: a server that
            // forks per connection (a PostgreSQL backend) would otherwise
            // make every connection a group of its own and cut the answer
            // at the group limit. The inner grouping is per server process;
            // the outer adds those up per program, naming one of its
            // processes.
            let groups = if servers {
                format!(
                    "per_server AS (
                        SELECT c.server_address, c.server_port, c.client_process,
                               c.client_uid AS client_uid, count(*) AS connections,
                               min(c.at) AS first_at, max(coalesce(c.ended_at, c.at)) AS last_at,
                               sum(c.bytes_up) AS bytes_up, sum(c.bytes_down) AS bytes_down,
                               sum(c.ended_at IS NULL) AS open, c.netns AS netns,
                               c.server_process AS server_process
                        FROM connections c WHERE {}
                        GROUP BY c.netns, c.server_address, c.server_port, c.client_process,
                                 CASE WHEN c.client_process IS NULL THEN c.client_uid END,
                                 c.server_process),
                     groups AS (
                        SELECT ps.server_address, ps.server_port, ps.client_process,
                               min(ps.client_uid) AS client_uid,
                               sum(ps.connections) AS connections, min(ps.first_at) AS first_at,
                               max(ps.last_at) AS last_at, sum(ps.bytes_up) AS bytes_up,
                               sum(ps.bytes_down) AS bytes_down, sum(ps.open) AS open,
                               ps.netns AS netns, min(ps.server_process) AS server_process
                        FROM per_server ps LEFT JOIN processes sp ON sp.id = ps.server_process
                        GROUP BY ps.netns, ps.server_address, ps.server_port, ps.client_process,
                                 CASE WHEN ps.client_process IS NULL THEN ps.client_uid END,
                                 coalesce(sp.exe, sp.name), sp.uid
                        ORDER BY sum(ps.connections) DESC, min(ps.first_at) LIMIT {limit})",
                    filter.sql()
                )
            } else {
                format!(
                    "groups AS (
                        SELECT c.server_address, c.server_port, c.client_process,
                               c.client_uid AS client_uid, count(*) AS connections,
                               min(c.at) AS first_at, max(coalesce(c.ended_at, c.at)) AS last_at,
                               sum(c.bytes_up) AS bytes_up, sum(c.bytes_down) AS bytes_down,
                               sum(c.ended_at IS NULL) AS open, c.netns AS netns,
                               NULL AS server_process
                        FROM connections c WHERE {}
                        GROUP BY c.netns, c.server_address, c.server_port, c.client_process,
                                 CASE WHEN c.client_process IS NULL THEN c.client_uid END
                        ORDER BY count(*) DESC, min(c.at) LIMIT {limit})",
                    filter.sql()
                )
            };
            let sql = format!(
                "WITH {groups}
                 SELECT a.address, g.server_port, g.client_uid, g.connections, g.first_at,
                        g.last_at, g.bytes_up, g.bytes_down, p.id, p.pid, p.start_time, p.name,
                        p.exe, p.cmdline, p.uid, p.user, p.unit, p.container, g.open, g.netns,
                        {}, {}, g.server_process
                 FROM groups g
                 JOIN addresses a ON a.id = g.server_address
                 LEFT JOIN processes p ON p.id = g.client_process
                 ORDER BY g.connections DESC, g.first_at",
                self.exe_deleted_column("p.exe_deleted"),
                self.start_ticks_column("p.start_ticks"),
            );
            let mut statement = self.connection.prepare_cached(&sql)?;
            let mut rows = statement.query(params_from_iter(filter.values.iter()))?;
            let mut summaries = Vec::new();
            // A server process serves many groups: read once.
            let mut servers: HashMap<i64, Option<ProcessIdentity>> = HashMap::new();
            while let Some(row) = rows.next()? {
                let Ok(ip) = row.get::<_, String>(0)?.parse::<IpAddr>() else { continue };
                let server_process = match row.get::<_, Option<i64>>(22)? {
                    Some(id) => match servers.get(&id) {
                        Some(process) => process.clone(),
                        None => {
                            let process = self.process_of(id)?;
                            servers.insert(id, process.clone());
                            process
                        }
                    },
                    None => None,
                };
                let client = match row.get::<_, Option<i64>>(8)? {
                    Some(_) => Some(ProcessIdentity {
                        pid: row.get(9)?,
                        start_time: row.get::<_, Option<i64>>(10)?.map(|t| t as u64),
                        start_ticks: row.get::<_, Option<i64>>(21)?.map(u64_from_db),
                        name: row.get(11)?,
                        exe: row.get(12)?,
                        exe_deleted: row.get(20)?,
                        cmdline: codec::cmdline_from_db(&row.get::<_, String>(13)?),
                        uid: row.get(14)?,
                        user: row.get(15)?,
                        unit: row.get(16)?,
                        container: row.get(17)?,
                    }),
                    None => None,
                };
                let uid: Option<u32> = row.get(2)?;
                summaries.push(ClientSummary {
                    host: None,
                    net_namespace: row.get::<_, Option<i64>>(19)?.map(u64_from_db),
                    server: SocketAddr::new(ip, row.get(1)?),
                    client_uid: uid.or(client.as_ref().map(|c| c.uid)),
                    processes: u64::from(client.is_some()),
                    pids: client.as_ref().map(|c| c.pid).into_iter().collect(),
                    client,
                    connections: row.get::<_, i64>(3)? as u64,
                    open: row.get::<_, i64>(18)? as u64,
                    first_at: row.get(4)?,
                    last_at: row.get(5)?,
                    bytes_client_to_server: row.get::<_, i64>(6)? as u64,
                    bytes_server_to_client: row.get::<_, i64>(7)? as u64,
                    server_process,
                });
            }
            Ok(summaries)
        };
        run().map_err(|e| self.error(e))
    }

    fn each_connection(
        &mut self,
        query: &HistoryQuery,
        each: &mut dyn FnMut(ConnectionHistory) -> bool,
    ) -> Result<(), StoreError> {
        let mut run = || -> rusqlite::Result<()> {
            let Some(filter) = connection_filter(self, query)? else {
                return Ok(());
            };
            let sql = format!(
                "SELECT c.at, c.ended_at, c.server_address, c.server_port, c.client_address,
                        c.client_port, c.client_process, c.server_process, c.client_uid,
                        c.server_uid, c.bytes_up, c.bytes_down, c.flags, c.cookie, c.netns
                 FROM connections c WHERE {} ORDER BY c.at, c.id LIMIT {}",
                filter.sql(),
                query.limit.saturating_add(1)
            );
            // Stepped row by row: an answer of millions of rows is never
            // held (the addresses seen are, a few per client).
            let mut statement = self.connection.prepare(&sql)?;
            let mut rows = statement.query(params_from_iter(filter.values.iter()))?;
            let mut addresses: HashMap<i64, Option<IpAddr>> = HashMap::new();
            while let Some(row) = rows.next()? {
                let at: i64 = row.get(0)?;
                let mut ip_of = |id: i64| -> rusqlite::Result<Option<IpAddr>> {
                    if let Some(ip) = addresses.get(&id) {
                        return Ok(*ip);
                    }
                    let ip = self.address_of(id)?;
                    addresses.insert(id, ip);
                    Ok(ip)
                };
                let (Some(server_ip), Some(client_ip)) = (ip_of(row.get(2)?)?, ip_of(row.get(4)?)?)
                else {
                    continue;
                };
                let process = |column: usize| -> rusqlite::Result<Option<ProcessIdentity>> {
                    let id: Option<i64> = row.get(column)?;
                    Ok(id.map(|id| self.process_of(id)).transpose()?.flatten())
                };
                let (end, start_known) = codec::connection_from_flags(row.get(12)?);
                let record = ConnectionRecord {
                    cookie: u64_from_db(row.get(13)?),
                    net_namespace: row.get::<_, Option<i64>>(14)?.map(u64_from_db),
                    client: SocketAddr::new(client_ip, row.get::<_, i64>(5)? as u16),
                    server: SocketAddr::new(server_ip, row.get::<_, i64>(3)? as u16),
                    started_at: start_known.then_some(at),
                    ended_at: row.get(1)?,
                    bytes_client_to_server: row.get::<_, i64>(10)? as u64,
                    bytes_server_to_client: row.get::<_, i64>(11)? as u64,
                    client_process: process(6)?,
                    server_process: process(7)?,
                    client_uid: row.get::<_, Option<i64>>(8)?.map(|u| u as u32),
                    server_uid: row.get::<_, Option<i64>>(9)?.map(|u| u as u32),
                    end,
                };
                if !each(ConnectionHistory { host: None, record, seen_at: at }) {
                    break;
                }
            }
            Ok(())
        };
        run().map_err(|e| self.error(e))
    }

    fn oldest_connection(&mut self) -> Result<Option<UnixMicros>, StoreError> {
        self.connection
            .query_row("SELECT min(at) FROM connections", [], |r| r.get(0))
            .map_err(|e| self.error(e))
    }

    fn hourly(&mut self, query: &HistoryQuery) -> Result<Vec<HourlyTotal>, StoreError> {
        let run = || -> rusqlite::Result<Vec<HourlyTotal>> {
            let mut filter = Filter::default();
            if let Some(port) = query.port {
                filter.push("server_port = ?", [i64::from(port).into()]);
            }
            let hour_query = HistoryQuery {
                since: query.since.map(super::hour_start),
                until: query.until,
                ..HistoryQuery::default()
            };
            filter.window("hour", &hour_query);
            if let Some(name) = &query.process {
                // Totals are kept per executable: no arguments to match.
                let matching = name_matches("client_name", "client_exe", None);
                filter.push(&matching, name_values(name, false));
            }
            // Totals of schema 1 and 2 were kept for every namespace
            // together: they read as of no known namespace.
            let totals = if self.version >= 3 {
                "(SELECT hour, server_port, client_exe, client_name, connections, bytes_up,
                         bytes_down, NULL AS netns FROM rollups
                  UNION ALL
                  SELECT hour, server_port, client_exe, client_name, connections, bytes_up,
                         bytes_down, netns FROM namespace_rollups)"
            } else {
                "(SELECT *, NULL AS netns FROM rollups)"
            };
            let sql = format!(
                "SELECT hour, server_port, client_exe, client_name, connections, bytes_up,
                        bytes_down, netns
                 FROM {totals} WHERE {} ORDER BY hour, server_port, connections DESC, netns",
                filter.sql()
            );
            let mut statement = self.connection.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(filter.values.iter()), |row| {
                Ok(HourlyTotal {
                    host: None,
                    net_namespace: codec::rollup_namespace_from_db(row.get(7)?),
                    hour: row.get(0)?,
                    server_port: row.get(1)?,
                    client_exe: row.get(2)?,
                    client_name: row.get(3)?,
                    connections: row.get::<_, i64>(4)? as u64,
                    bytes_client_to_server: row.get::<_, i64>(5)? as u64,
                    bytes_server_to_client: row.get::<_, i64>(6)? as u64,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.error(e))
    }

    fn losses(&mut self, query: &HistoryQuery) -> Result<Vec<LossSummary>, StoreError> {
        let run = || -> rusqlite::Result<Vec<LossSummary>> {
            let mut filter = Filter::default();
            filter.window("at", query);
            let sql = format!(
                "SELECT kind, sum(count), min(at), max(at) FROM losses WHERE {}
                 GROUP BY kind ORDER BY kind",
                filter.sql()
            );
            let mut statement = self.connection.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(filter.values.iter()), |row| {
                Ok(LossSummary {
                    host: None,
                    kind: codec::loss_from_db(&row.get::<_, String>(0)?),
                    count: row.get::<_, i64>(1)? as u64,
                    first_at: row.get(2)?,
                    last_at: row.get(3)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.error(e))
    }

    fn sessions(&mut self, query: &HistoryQuery) -> Result<Vec<CaptureSession>, StoreError> {
        let run = || -> rusqlite::Result<Vec<CaptureSession>> {
            let to_session = |row: &rusqlite::Row<'_>| {
                Ok(CaptureSession {
                    host: None,
                    net_namespace: row.get::<_, Option<i64>>(3)?.map(u64_from_db),
                    at: row.get(0)?,
                    mode: codec::mode_from_db(&row.get::<_, String>(1)?),
                    reason: row.get(2)?,
                })
            };
            // Starts of schema 1 and 2 name no namespace.
            let netns = if self.version >= 3 { "netns" } else { "NULL AS netns" };
            let mut sessions = Vec::new();
            if let Some(since) = query.since {
                // The last start before the window in each namespace: the
                // recorders of different namespaces take turns.
                let sql = format!(
                    "SELECT at, mode, reason, netns FROM
                        (SELECT at, mode, reason, {netns},
                                row_number() OVER (PARTITION BY {} ORDER BY at DESC) AS n
                         FROM captures WHERE at < ?1)
                     WHERE n = 1 ORDER BY at",
                    if self.version >= 3 { "netns" } else { "NULL" }
                );
                let mut statement = self.connection.prepare(&sql)?;
                for session in statement.query_map([since], to_session)? {
                    sessions.push(session?);
                }
            }
            let mut filter = Filter::default();
            filter.window("at", query);
            let sql = format!(
                "SELECT at, mode, reason, {netns} FROM captures WHERE {} ORDER BY at",
                filter.sql()
            );
            let mut statement = self.connection.prepare(&sql)?;
            for session in
                statement.query_map(params_from_iter(filter.values.iter()), to_session)?
            {
                sessions.push(session?);
            }
            Ok(sessions)
        };
        run().map_err(|e| self.error(e))
    }
}
