//! The SQLite store against hand-made events: what the capture engine
//! would write, read back through the same API `porthole history` uses.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::sqlite::{SqliteReader, SqliteWriter, APPLICATION_ID};
use super::*;
use crate::model::history::HistoryQuery;
use crate::model::monitor::{
    CaptureMode, ConnectionEnd, ConnectionRecord, ListenerChange, ListenerEvent, LossKind,
    LossRecord, MonitorEvent, ProcessIdentity,
};
use crate::model::{Family, Protocol, Scope};

/// 2026-11-28 10:00:00 UTC.
const T0: UnixMicros = 1_795_860_000_000_000;
const SECOND: i64 = 1_000_000;
const HOUR: i64 = 3600 * SECOND;

fn process(pid: u32, name: &str) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        start_time: Some(1_795_850_000 + u64::from(pid)),
        start_ticks: Some(4_200 + u64::from(pid)),
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        exe_deleted: false,
        cmdline: vec![name.into(), "--flag".into(), "with space".into()],
        uid: 1000,
        user: Some("alice".into()),
        unit: None,
        container: None,
    }
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A closed connection from `client` to `server` starting at `at`.
fn connection(
    cookie: u64,
    client: &str,
    server: &str,
    at: UnixMicros,
    owner: Option<&ProcessIdentity>,
) -> ConnectionRecord {
    ConnectionRecord {
        cookie,
        net_namespace: None,
        client: address(client),
        server: address(server),
        started_at: Some(at),
        ended_at: Some(at + 1500),
        bytes_client_to_server: 100,
        bytes_server_to_client: 1000,
        client_process: owner.cloned(),
        server_process: Some(process(812, "postgres")),
        client_uid: Some(1000),
        server_uid: Some(116),
        end: ConnectionEnd::Closed,
    }
}

fn listener(
    at: UnixMicros,
    change: ListenerChange,
    local: &str,
    owner: ProcessIdentity,
) -> ListenerEvent {
    ListenerEvent {
        at,
        change,
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: Some(address(local)),
        path: None,
        inode: 4242,
        uid: 116,
        net_namespace: None,
        scope: Scope::Loopback,
        exposed: false,
        v6only: None,
        owners: vec![owner],
    }
}

/// A writer whose namespace is not known, so rows keep the records'
/// labels (see `rows_name_the_writers_namespace` for the labelling).
fn options() -> WriterOptions {
    WriterOptions { host: "test-host".into(), net_namespace: None, ..WriterOptions::default() }
}

fn store_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("state/porthole/history.sqlite")
}

fn everything() -> HistoryQuery {
    HistoryQuery { limit: 1000, ..HistoryQuery::default() }
}

fn read(path: &Path) -> SqliteReader {
    SqliteReader::open(path).expect("store opens for reading")
}

#[test]
fn connections_round_trip_and_group_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let python = process(4411, "python3");
    let psql = process(5120, "psql");
    let mut batch = vec![MonitorEvent::Started {
        at: T0,
        mode: CaptureMode::Ebpf,
        reason: "tracepoints attached".into(),
    }];
    for i in 0..30 {
        batch.push(event(connection(
            i,
            &format!("127.0.0.1:{}", 40000 + i),
            "127.0.0.1:5432",
            T0 + i as i64 * SECOND,
            Some(&python),
        )));
    }
    batch.push(event(connection(100, "[::1]:50000", "[::1]:5432", T0 + 5 * SECOND, Some(&psql))));
    // A client the recorder could not name, and another port.
    batch.push(event(connection(101, "127.0.0.1:50001", "127.0.0.1:5432", T0, None)));
    batch.push(event(connection(102, "127.0.0.1:50002", "127.0.0.1:6379", T0, Some(&python))));
    writer.write(&batch).unwrap();

    let mut reader = read(&path);
    let query = HistoryQuery { port: Some(5432), ..everything() };
    let clients = reader.clients(&query, 100, false).unwrap();
    assert_eq!(clients.len(), 3, "{clients:#?}");
    let busiest = &clients[0];
    assert_eq!(busiest.client.as_ref(), Some(&python));
    assert_eq!(busiest.server, address("127.0.0.1:5432"));
    assert_eq!(busiest.connections, 30);
    assert_eq!(busiest.first_at, T0);
    assert_eq!(busiest.last_at, T0 + 29 * SECOND + 1500);
    assert_eq!(busiest.bytes_client_to_server, 3000);
    assert_eq!(busiest.bytes_server_to_client, 30_000);
    assert!(clients.iter().any(|c| c.client.is_none() && c.client_uid == Some(1000)));
    assert!(clients.iter().any(|c| c.server == address("[::1]:5432")));

    // One address of the port only.
    let query =
        HistoryQuery { port: Some(5432), addresses: vec!["::1".parse().unwrap()], ..everything() };
    let clients = reader.clients(&query, 100, false).unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].client.as_ref().unwrap().name, "psql");

    // An address never recorded matches nothing.
    let query = HistoryQuery { addresses: vec!["10.1.2.3".parse().unwrap()], ..everything() };
    assert!(reader.clients(&query, 100, false).unwrap().is_empty());

    // Single connections come back as they were written.
    let query = HistoryQuery { port: Some(6379), ..everything() };
    let connections = reader.connections(&query).unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        connections[0].record,
        connection(102, "127.0.0.1:50002", "127.0.0.1:6379", T0, Some(&python))
    );

    // The time window: [since, until).
    let query = HistoryQuery {
        port: Some(5432),
        since: Some(T0 + 10 * SECOND),
        until: Some(T0 + 20 * SECOND),
        ..everything()
    };
    let clients = reader.clients(&query, 100, false).unwrap();
    assert_eq!(clients.iter().map(|c| c.connections).sum::<u64>(), 10);

    // --process matches client or server names.
    let query = HistoryQuery { process: Some("psq".into()), ..everything() };
    assert_eq!(reader.clients(&query, 100, false).unwrap().len(), 1);
    let query = HistoryQuery { process: Some("postgres".into()), ..everything() };
    assert_eq!(reader.connections(&query).unwrap().len(), 33);

    let sessions = reader.sessions(&everything()).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].mode, CaptureMode::Ebpf);
}

/// Two processes given one pid within one second (the same start to the
/// second) are two clients: their starts in clock ticks tell them apart.
#[test]
fn two_processes_of_one_pid_within_one_second_are_two_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let first = process(4411, "python3");
    let second =
        ProcessIdentity { start_ticks: first.start_ticks.map(|t| t + 37), ..first.clone() };
    let batch: Vec<MonitorEvent> = [(1, &first), (2, &second), (3, &second)]
        .into_iter()
        .map(|(cookie, owner)| {
            let client = format!("127.0.0.1:{}", 40000 + cookie);
            event(connection(cookie, &client, "127.0.0.1:5432", T0, Some(owner)))
        })
        .collect();
    writer.write(&batch).unwrap();
    let mut reader = read(&path);
    let clients = reader.clients(&everything(), 100, false).unwrap();
    let mut seen: Vec<_> =
        clients.iter().map(|c| (c.client.clone().unwrap(), c.connections)).collect();
    seen.sort_by_key(|(_, connections)| *connections);
    assert_eq!(seen, [(first.clone(), 1), (second.clone(), 2)]);
    let owners: Vec<_> = reader
        .connections(&everything())
        .unwrap()
        .into_iter()
        .map(|c| c.record.client_process.unwrap().start_ticks)
        .collect();
    assert_eq!(owners, [first.start_ticks, second.start_ticks, second.start_ticks]);
}

#[test]
fn an_open_connection_is_updated_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let python = process(4411, "python3");
    let mut open = connection(7, "127.0.0.1:40000", "127.0.0.1:5432", T0, Some(&python));
    open.ended_at = None;
    open.end = ConnectionEnd::Unknown;
    open.bytes_client_to_server = 10;
    {
        let mut writer = SqliteWriter::open(&path, &options()).unwrap();
        writer.write(&[event(open.clone())]).unwrap();
        let rows = read(&path).connections(&everything()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].record.ended_at, None);
    }
    // A restarted writer still knows the connection is open.
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let closed = connection(7, "127.0.0.1:40000", "127.0.0.1:5432", T0, Some(&python));
    writer.write(&[event(closed.clone())]).unwrap();
    let mut reader = read(&path);
    let rows = reader.connections(&everything()).unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].record, closed);
    // Counted once in the hourly totals, with the final byte counts.
    let hourly = reader.hourly(&everything()).unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!(hourly[0].connections, 1);
    assert_eq!(hourly[0].bytes_client_to_server, 100);
    assert_eq!(hourly[0].bytes_server_to_client, 1000);
    assert_eq!(hourly[0].client_exe, "/usr/bin/python3");
}

#[test]
fn a_connection_that_opens_and_ends_within_one_batch_is_one_ended_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let python = process(4411, "python3");
    let mut open = connection(7, "127.0.0.1:40000", "127.0.0.1:5432", T0, Some(&python));
    open.ended_at = None;
    open.end = ConnectionEnd::Unknown;
    open.bytes_client_to_server = 10;
    let closed = connection(7, "127.0.0.1:40000", "127.0.0.1:5432", T0, Some(&python));
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    writer.write(&[event(open), event(closed.clone())]).unwrap();
    let mut reader = read(&path);
    let rows = reader.connections(&everything()).unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].record, closed);
    let hourly = reader.hourly(&everything()).unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!(hourly[0].connections, 1);
    assert_eq!(hourly[0].bytes_client_to_server, 100);
    // Nothing is left open: a restarted writer adds a new row for the key.
    drop(writer);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    writer.write(&[event(closed)]).unwrap();
    assert_eq!(read(&path).connections(&everything()).unwrap().len(), 2);
}

#[test]
fn listeners_with_owners_and_wildcards() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let node = process(3000, "node");
    let vite = process(3001, "vite");
    let mut unix = listener(T0, ListenerChange::Appeared, "127.0.0.1:1", node.clone());
    unix.at = T0 + 2 * SECOND;
    unix.local = None;
    unix.path = Some("/run/app.sock".into());
    unix.protocol = Protocol::Unix;
    unix.family = Family::Unix;
    unix.scope = Scope::Local;
    writer
        .write(&[
            MonitorEvent::Listener(listener(
                T0,
                ListenerChange::Appeared,
                "0.0.0.0:3000",
                node.clone(),
            )),
            MonitorEvent::Listener(listener(
                T0 + 50_000,
                ListenerChange::Disappeared,
                "0.0.0.0:3000",
                node.clone(),
            )),
            MonitorEvent::Listener(listener(
                T0 + SECOND,
                ListenerChange::Appeared,
                "127.0.0.2:3000",
                vite.clone(),
            )),
            MonitorEvent::Listener(unix.clone()),
        ])
        .unwrap();
    let mut reader = read(&path);
    let query = HistoryQuery { port: Some(3000), ..everything() };
    let all = reader.listeners(&query, Order::OldestFirst, 100).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].event.owners, vec![node.clone()]);
    assert_eq!(all[1].event.change, ListenerChange::Disappeared);
    assert_eq!(all[1].event.at, T0 + 50_000);
    // 127.0.0.1:3000 is served by the wildcard listener, not by 127.0.0.2.
    let query = HistoryQuery {
        port: Some(3000),
        addresses: vec!["127.0.0.1".parse().unwrap()],
        ..everything()
    };
    let served = reader.listeners(&query, Order::OldestFirst, 100).unwrap();
    assert_eq!(served.len(), 2);
    assert!(served.iter().all(|l| l.event.owners == vec![node.clone()]));
    let newest = reader.listeners(&everything(), Order::NewestFirst, 1).unwrap();
    assert_eq!(newest[0].event, unix);
    let query = HistoryQuery { process: Some("vit".into()), ..everything() };
    assert_eq!(reader.listeners(&query, Order::OldestFirst, 100).unwrap().len(), 1);
    // A Unix socket has no port: it is no answer about port 0.
    let query = HistoryQuery { port: Some(0), ..everything() };
    assert_eq!(reader.listeners(&query, Order::OldestFirst, 100).unwrap(), []);
}

#[test]
fn retention_prunes_raw_records_and_keeps_hourly_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let options = WriterOptions {
        keep: Duration::from_secs(7 * 86_400),
        keep_hourly: Duration::from_secs(90 * 86_400),
        ..options()
    };
    let mut writer = SqliteWriter::open(&path, &options).unwrap();
    let python = process(4411, "python3");
    let old = T0 - 10 * 86_400 * SECOND;
    let mut batch = Vec::new();
    for i in 0..20 {
        let at = if i < 10 { old + i * SECOND } else { T0 + i * SECOND };
        batch.push(event(connection(
            i as u64,
            "127.0.0.1:40000",
            "127.0.0.1:5432",
            at,
            Some(&python),
        )));
    }
    // A listener that came and went (one still listening would be kept).
    for (at, change) in
        [(old, ListenerChange::Appeared), (old + SECOND, ListenerChange::Disappeared)]
    {
        batch.push(MonitorEvent::Listener(listener(
            at,
            change,
            "127.0.0.1:5432",
            process(812, "postgres"),
        )));
    }
    batch.push(MonitorEvent::Loss(LossRecord {
        at: old,
        kind: LossKind::NetlinkOverflow,
        count: 3,
        net_namespace: None,
    }));
    writer.write(&batch).unwrap();
    writer.prune(T0 + HOUR).unwrap();

    let mut reader = read(&path);
    let connections = reader.connections(&everything()).unwrap();
    assert_eq!(connections.len(), 10);
    assert!(connections.iter().all(|c| c.record.started_at.unwrap() >= T0));
    assert!(reader.listeners(&everything(), Order::OldestFirst, 100).unwrap().is_empty());
    assert!(reader.losses(&everything()).unwrap().is_empty());
    // The pruned day still has its totals, and the report shows them.
    let query = HistoryQuery { port: Some(5432), ..everything() };
    let report =
        report(&mut reader, &query, Sections { listeners: true, connections: true, each: false })
            .unwrap();
    assert_eq!(report.clients[0].connections, 10);
    assert_eq!(report.hourly.len(), 1, "{:#?}", report.hourly);
    assert_eq!(report.hourly[0].hour, hour_start(old));
    assert_eq!(report.hourly[0].connections, 10);

    // Ninety days later the totals go too.
    writer.prune(T0 + 91 * 86_400 * SECOND).unwrap();
    assert!(reader.hourly(&everything()).unwrap().is_empty());
    assert!(reader.connections(&everything()).unwrap().is_empty());
}

#[test]
fn the_size_cap_prunes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let cap = 2_000_000;
    let options = WriterOptions { max_size: Some(cap), ..options() };
    let mut writer = SqliteWriter::open(&path, &options).unwrap();
    let python = process(4411, "python3");
    let mut cookie = 0u64;
    for batch_index in 0..60 {
        let batch: Vec<MonitorEvent> = (0..1000)
            .map(|i| {
                cookie += 1;
                event(connection(
                    cookie,
                    &format!("127.0.0.1:{}", 20000 + i),
                    "127.0.0.1:5432",
                    T0 + (batch_index * 1000 + i) * 1000,
                    Some(&python),
                ))
            })
            .collect();
        writer.write(&batch).unwrap();
        assert!(writer.used_bytes().unwrap() <= cap + 300_000, "batch {batch_index}");
    }
    let mut reader = read(&path);
    let kept = reader.connections(&HistoryQuery { limit: 100_000, ..everything() }).unwrap();
    assert!(kept.len() < 60_000 && kept.len() > 5_000, "{} kept", kept.len());
    // The newest survived, the oldest went.
    assert_eq!(kept.last().unwrap().record.cookie, 60_000);
    assert!(kept[0].record.cookie > 60_000 - kept.len() as u64 - 1000);
    // The totals still count every connection.
    let total: u64 = reader.hourly(&everything()).unwrap().iter().map(|h| h.connections).sum();
    assert_eq!(total, 60_000);
}

#[test]
fn a_second_writer_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let first = SqliteWriter::open(&path, &options()).unwrap();
    let Err(error) = SqliteWriter::open(&path, &options()) else { panic!("second writer opened") };
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    assert!(error.to_string().contains("in use by another porthole monitor"), "{error}");
    // Readers are never refused.
    read(&path);
    drop(first);
    SqliteWriter::open(&path, &options()).unwrap();
}

#[test]
fn damaged_and_foreign_files_are_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.sqlite");
    let content: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&garbage, &content).unwrap();
    let Err(error) = SqliteWriter::open(&garbage, &options()) else { panic!("opened garbage") };
    assert!(matches!(error, StoreError::NotSqlite { .. }), "{error}");
    assert!(error.to_string().contains("left as it is"), "{error}");
    assert!(!error.to_string().contains("move it away"), "{error}");
    assert!(matches!(SqliteReader::open(&garbage), Err(StoreError::NotSqlite { .. })));
    assert_eq!(std::fs::read(&garbage).unwrap(), content);

    // A SQLite header followed by garbage.
    let mut damaged = content.clone();
    damaged[..16].copy_from_slice(b"SQLite format 3\0");
    let damaged_path = dir.path().join("damaged.sqlite");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let Err(error) = SqliteWriter::open(&damaged_path, &options()) else { panic!("opened") };
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert_eq!(std::fs::read(&damaged_path).unwrap(), damaged);

    // Somebody else's database.
    let foreign = dir.path().join("app.db");
    {
        let connection = rusqlite::Connection::open(&foreign).unwrap();
        connection
            .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let Err(error) = SqliteWriter::open(&foreign, &options()) else { panic!("opened foreign") };
    assert!(matches!(error, StoreError::Foreign { .. }), "{error}");
    assert!(matches!(SqliteReader::open(&foreign), Err(StoreError::Foreign { .. })));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    assert!(!dir.path().join("app.db-wal").exists());
}

#[test]
fn schema_is_versioned_and_newer_stores_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(SqliteWriter::open(&path, &options()).unwrap());
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    let application: i64 =
        connection.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
    let journal: String =
        connection.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!((version, application, journal.as_str()), (SCHEMA_VERSION, APPLICATION_ID, "wal"));
    // Reopening migrates nothing and keeps the data.
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    writer.write(&[event(connection_to(1))]).unwrap();
    drop(writer);
    connection.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    let Err(error) = SqliteWriter::open(&path, &options()) else { panic!("opened newer") };
    assert!(matches!(error, StoreError::NewerSchema { .. }), "{error}");
    assert!(matches!(SqliteReader::open(&path), Err(StoreError::NewerSchema { .. })));
}

fn connection_to(cookie: u64) -> ConnectionRecord {
    connection(cookie, "127.0.0.1:40000", "127.0.0.1:5432", T0, None)
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    writer.write(&[event(connection_to(1))]).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("sqlite-wal")), 0o600);
    assert_eq!(mode(&path.with_extension("sqlite-shm")), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn readers_see_committed_batches_while_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    writer.write(&[event(connection_to(1))]).unwrap();
    let mut reader = read(&path);
    for cookie in 2..=50 {
        writer.write(&[event(connection_to(cookie))]).unwrap();
        // Every batch is visible at once, and reading never blocks writing.
        assert_eq!(reader.connections(&everything()).unwrap().len() as u64, cookie);
    }
}

#[test]
fn a_missing_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Err(error) = SqliteReader::open(&dir.path().join("nothing.sqlite")) else { panic!() };
    assert!(matches!(error, StoreError::Missing { .. }), "{error}");
    assert!(!dir.path().join("nothing.sqlite").exists());
}

#[test]
fn losses_are_summed_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let loss =
        |at, kind, count| MonitorEvent::Loss(LossRecord { at, kind, count, net_namespace: None });
    writer
        .write(&[
            loss(T0, LossKind::NetlinkOverflow, 5),
            loss(T0 + SECOND, LossKind::NetlinkOverflow, 7),
            loss(T0 + 2 * SECOND, LossKind::UnknownProcess, 1),
        ])
        .unwrap();
    let losses = read(&path).losses(&everything()).unwrap();
    assert_eq!(losses.len(), 2);
    let overflow = losses.iter().find(|l| l.kind == LossKind::NetlinkOverflow).unwrap();
    assert_eq!((overflow.count, overflow.first_at, overflow.last_at), (12, T0, T0 + SECOND));
}

fn event(record: ConnectionRecord) -> MonitorEvent {
    MonitorEvent::Connection(Box::new(record))
}

/// A wall clock stepped a year ahead while recording does not make the
/// next pruning delete the whole history; one stepped back prunes less.
#[test]
fn a_clock_stepped_forward_does_not_prune_everything() {
    let clock = super::PruneClock::start();
    let opened = super::now_micros();
    let year = 365 * 86_400 * SECOND;
    let minute = Duration::from_secs(60);
    // A minute later by both clocks: the wall clock (give or take the
    // moment between the two readings).
    let wall = opened + 60 * SECOND;
    assert!((clock.now_given(wall, minute) - wall).abs() < 5 * SECOND);
    // The wall clock jumped a year ahead: the monotonic minute counts.
    let steady = clock.now_given(opened + year, minute);
    assert!(steady < opened + 2 * 60 * SECOND, "{steady} vs {opened}");
    // Stepped back an hour: the wall clock, which prunes less.
    let back = opened - 3_600 * SECOND;
    assert_eq!(clock.now_given(back, minute), back);
}

/// Pruning with the writer's clock after a forward step keeps records.
#[test]
fn records_survive_pruning_after_a_forward_clock_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let now = super::now_micros();
    let python = process(4411, "python3");
    let batch: Vec<MonitorEvent> = (0..10)
        .map(|i| {
            MonitorEvent::Connection(Box::new(connection(
                i,
                "127.0.0.1:40000",
                "127.0.0.1:5432",
                now - HOUR,
                Some(&python),
            )))
        })
        .collect();
    writer.write(&batch).unwrap();
    let clock = super::PruneClock::start();
    let stepped = clock.now_given(now + 365 * 86_400 * SECOND, Duration::from_secs(1));
    writer.prune(stepped).unwrap();
    let mut reader = read(&path);
    assert_eq!(reader.connections(&everything()).unwrap().len(), 10);
}

/// Which recorded listeners an address of the port finds: the same
/// address, a wildcard of its family, and a `[::]` for IPv4 only when it
/// was not `IPV6_V6ONLY` (unknown counts as dual-stack, the kernel's
/// default); a wildcard asked about finds the listeners on every address
/// of its family: `0.0.0.0` finds a dual-stack `[::]` too, `[::]` only
/// itself.
#[test]
fn listeners_serve_the_addresses_the_kernel_routes_to_them() {
    let ip = |text: &str| -> std::net::IpAddr { text.parse().unwrap() };
    let at = |text: &str| Some(address(text));
    let (loopback, loopback6) = (ip("127.0.0.1"), ip("::1"));
    assert!(listener_serves(at("0.0.0.0:80"), None, &[loopback]));
    assert!(!listener_serves(at("0.0.0.0:80"), None, &[loopback6]));
    assert!(listener_serves(at("[::]:80"), Some(true), &[loopback6]));
    assert!(!listener_serves(at("[::]:80"), Some(true), &[loopback]));
    assert!(listener_serves(at("[::]:80"), Some(false), &[loopback]));
    assert!(listener_serves(at("[::]:80"), None, &[loopback]));
    assert!(!listener_serves(at("127.0.0.2:80"), None, &[loopback]));
    assert!(listener_serves(at("[::ffff:127.0.0.1]:80"), Some(false), &[loopback]));
    assert!(listener_serves(at("[::]:80"), Some(false), &[ip("::")]));
    assert!(listener_serves(at("[::]:80"), Some(false), &[ip("0.0.0.0")]));
    assert!(listener_serves(at("[::]:80"), None, &[ip("0.0.0.0")]));
    assert!(!listener_serves(at("[::]:80"), Some(true), &[ip("0.0.0.0")]));
    assert!(listener_serves(at("0.0.0.0:80"), None, &[ip("0.0.0.0")]));
    assert!(!listener_serves(at("127.0.0.1:80"), None, &[ip("0.0.0.0")]));
    assert!(!listener_serves(at("0.0.0.0:80"), None, &[ip("::")]));
    assert!(!listener_serves(None, None, &[loopback]));
    assert!(listener_serves(None, None, &[]));
}

/// A wildcard address asks about the connections to every address of its
/// family (connections record the address the client reached).
#[test]
fn a_wildcard_address_asks_about_its_whole_family() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let psql = process(5120, "psql");
    writer
        .write(&[
            event(connection(1, "127.0.0.1:40001", "127.0.0.1:5432", T0, Some(&psql))),
            event(connection(2, "10.0.0.7:40002", "10.0.0.1:5432", T0, Some(&psql))),
            event(connection(3, "[::1]:40003", "[::1]:5432", T0, Some(&psql))),
        ])
        .unwrap();
    let mut reader = read(&path);
    let cookies = |reader: &mut SqliteReader, wildcard: &str| -> Vec<u64> {
        let query = HistoryQuery {
            port: Some(5432),
            addresses: vec![wildcard.parse().unwrap()],
            ..everything()
        };
        let mut cookies: Vec<u64> =
            reader.connections(&query).unwrap().iter().map(|c| c.record.cookie).collect();
        cookies.sort_unstable();
        cookies
    };
    assert_eq!(cookies(&mut reader, "0.0.0.0"), vec![1, 2]);
    assert_eq!(cookies(&mut reader, "::"), vec![3]);
}

/// `--process postgres-exporter` finds a client whose executable was never
/// read (it exited first): the recorder has only its 15-byte `comm`,
/// `postgres-export`. A process of that `comm` whose executable is known
/// and named otherwise is not it.
#[test]
fn a_full_name_finds_its_cut_comm_when_the_executable_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let unread = ProcessIdentity { exe: None, ..process(7001, "postgres-export") };
    let other = ProcessIdentity {
        exe: Some("/opt/bin/postgres-export-tool".into()),
        ..process(7002, "postgres-export")
    };
    writer
        .write(&[
            event(connection(1, "127.0.0.1:40001", "127.0.0.1:5432", T0, Some(&unread))),
            event(connection(2, "127.0.0.1:40002", "127.0.0.1:5432", T0, Some(&other))),
        ])
        .unwrap();
    let mut reader = read(&path);
    let query = HistoryQuery { process: Some("postgres-exporter".into()), ..everything() };
    let found = reader.connections(&query).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].record.cookie, 1);
    let clients = reader.clients(&query, 10, false).unwrap();
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(comm_form("postgres-exporter"), "postgres-export");
    assert_eq!(comm_form("psql"), "psql");
    // Cut inside a character, as the kernel cuts: `é` is two bytes, the
    // 15th and 16th, and the 15th is kept as the byte it is.
    assert_eq!(
        comm_form("abcdefghijklmné"),
        crate::model::os_text::from_bytes(b"abcdefghijklmn\xc3")
    );
}

/// The kernel cuts `comm` at 15 bytes even inside a character:
/// `abcdefghijklmné-worker` runs as `abcdefghijklmn` and the first byte of
/// `é`. A process recorded so (its executable unread) is found by its full
/// name.
#[test]
fn a_full_name_finds_a_comm_cut_inside_a_character() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let cut = crate::model::os_text::from_bytes(b"abcdefghijklmn\xc3");
    let unread = ProcessIdentity { exe: None, ..process(7003, &cut) };
    writer
        .write(&[event(connection(3, "127.0.0.1:40003", "127.0.0.1:5432", T0, Some(&unread)))])
        .unwrap();
    let mut reader = read(&path);
    let query = HistoryQuery { process: Some("abcdefghijklmné-worker".into()), ..everything() };
    let found = reader.connections(&query).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].record.cookie, 3);
}

/// Rows name the writer's namespace, its own records (`None`) by the
/// writer's inode, and the clients and hourly totals are kept per
/// namespace: the same address and port in two namespaces is two services.
#[test]
fn rows_name_the_writers_namespace() {
    const OWN: u64 = 4026531833;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let options = WriterOptions { net_namespace: Some(OWN), ..options() };
    let mut writer = SqliteWriter::open(&path, &options).unwrap();
    let here = connection_to(1);
    let mut there = connection_to(2);
    there.net_namespace = Some(7);
    let mut listener = listener(T0, ListenerChange::Appeared, "127.0.0.1:5432", process(812, "pg"));
    let loss = LossRecord { at: T0, kind: LossKind::UnknownProcess, count: 1, net_namespace: None };
    listener.net_namespace = None;
    let started =
        MonitorEvent::Started { at: T0, mode: CaptureMode::Netlink, reason: "asked".into() };
    writer
        .write(&[
            started,
            MonitorEvent::Listener(listener),
            MonitorEvent::Loss(loss),
            event(here),
            event(there),
        ])
        .unwrap();
    drop(writer);
    let mut reader = read(&path);
    let mut labels: Vec<_> = reader
        .connections(&everything())
        .unwrap()
        .iter()
        .map(|c| (c.record.cookie, c.record.net_namespace))
        .collect();
    labels.sort_unstable();
    assert_eq!(labels, [(1, Some(OWN)), (2, Some(7))]);
    let listeners = reader.listeners(&everything(), Order::OldestFirst, 10).unwrap();
    assert_eq!(listeners[0].event.net_namespace, Some(OWN));
    let sessions = reader.sessions(&everything()).unwrap();
    assert_eq!(sessions[0].net_namespace, Some(OWN));
    let mut clients: Vec<_> =
        reader.clients(&everything(), 10, false).unwrap().iter().map(|c| c.net_namespace).collect();
    clients.sort_unstable();
    assert_eq!(clients, [Some(7), Some(OWN)]);
    let mut hourly: Vec<_> = reader
        .hourly(&everything())
        .unwrap()
        .iter()
        .map(|h| (h.net_namespace, h.connections))
        .collect();
    hourly.sort_unstable();
    assert_eq!(hourly, [(Some(7), 1), (Some(OWN), 1)]);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let loss_label: Option<i64> =
        connection.query_row("SELECT netns FROM losses", [], |r| r.get(0)).unwrap();
    assert_eq!(loss_label, Some(OWN as i64));
}

/// A store as porthole wrote it before schema 3 (made here from that
/// schema's own SQL: rows of the recorder's own namespace unlabelled, totals
/// for every namespace together) is read as it is, then migrated by the
/// next writer without losing a row: its open unlabelled row, found open
/// by that writer's snapshot, is taken as of the writer's namespace and
/// carried on (one row, labelled), the closed one stays unlabelled, and
/// the old totals are read beside the new ones.
#[test]
fn a_schema_2_store_is_read_then_migrated() {
    const OWN: u64 = 4026531833;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    for script in &super::sqlite::MIGRATIONS[..2] {
        connection.execute_batch(script).unwrap();
    }
    connection.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
    connection.pragma_update(None, "user_version", 2).unwrap();
    let open_flags = codec::connection_flags(ConnectionEnd::Unknown, true);
    let closed_flags = codec::connection_flags(ConnectionEnd::Closed, true);
    connection
        .execute_batch(&format!(
            "INSERT INTO addresses (id, address) VALUES (1, '127.0.0.1');
             INSERT INTO connections (at, ended_at, server_address, server_port, client_address,
                client_port, bytes_up, bytes_down, flags, cookie, netns)
             VALUES ({T0}, NULL, 1, 5432, 1, 40000, 10, 20, {open_flags}, 7, NULL),
                    ({T0}, {}, 1, 5432, 1, 40001, 100, 1000, {closed_flags}, 8, NULL);
             INSERT INTO rollups VALUES ({T0}, 5432, '', '', 2, 110, 1020);
             INSERT INTO captures (at, mode, reason) VALUES ({T0}, 'netlink', 'asked');",
            T0 + 1500
        ))
        .unwrap();
    let version = |connection: &rusqlite::Connection| -> i64 {
        connection.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    let mut reader = read(&path);
    let hourly = reader.hourly(&everything()).unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!((hourly[0].net_namespace, hourly[0].connections), (None, 2));
    let clients = reader.clients(&everything(), 10, false).unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!((clients[0].net_namespace, clients[0].connections), (None, 2));
    let since = HistoryQuery { since: Some(T0 + 1), ..everything() };
    let sessions = reader.sessions(&since).unwrap();
    assert_eq!((sessions.len(), sessions[0].net_namespace), (1, None));
    drop(reader);
    assert_eq!(version(&connection), 2, "a reader changes nothing");

    let options = WriterOptions { net_namespace: Some(OWN), ..options() };
    let mut writer = SqliteWriter::open(&path, &options).unwrap();
    assert_eq!(version(&connection), SCHEMA_VERSION);
    let mut still_open = connection_to(7);
    still_open.client = address("127.0.0.1:40000");
    still_open.ended_at = None;
    still_open.end = ConnectionEnd::Unknown;
    still_open.bytes_client_to_server = 15;
    still_open.bytes_server_to_client = 25;
    let snapshot = MonitorEvent::OpenSnapshot(crate::model::monitor::OpenSnapshot {
        at: T0 + HOUR,
        booted_at: Some(T0 - HOUR),
        scope: crate::model::monitor::SnapshotScope::Own,
        open: vec![(7, None)],
        own_namespace: OWN,
        unique_cookies: true,
    });
    let started =
        MonitorEvent::Started { at: T0 + HOUR, mode: CaptureMode::Netlink, reason: "x".into() };
    writer.write(&[started, snapshot, event(still_open)]).unwrap();
    drop(writer);
    let mut reader = read(&path);
    let mut rows: Vec<_> = reader
        .connections(&everything())
        .unwrap()
        .iter()
        .map(|c| (c.record.cookie, c.record.net_namespace, c.record.ended_at.is_some()))
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, [(7, Some(OWN), false), (8, None, true)]);
    // The last start before the window in each namespace, then those in it.
    let sessions = reader.sessions(&HistoryQuery { since: Some(T0 + HOUR + 1), ..everything() });
    let labels: Vec<_> = sessions.unwrap().iter().map(|s| (s.at, s.net_namespace)).collect();
    assert_eq!(labels, [(T0, None), (T0 + HOUR, Some(OWN))]);
    let mut hourly: Vec<_> = reader
        .hourly(&everything())
        .unwrap()
        .iter()
        .map(|h| (h.net_namespace, h.connections, h.bytes_client_to_server))
        .collect();
    hourly.sort_unstable();
    // The old total, and what the open connection moved since.
    assert_eq!(hourly, [(None, 2, 110), (Some(OWN), 0, 5)]);
}

/// A server whose executable was deleted since it started (an old build
/// still serving after an upgrade) keeps that flag in the store, for its
/// listener and its connections; the same pid and start seen before the
/// upgrade is its own row, not deleted.
#[test]
fn a_deleted_executable_is_kept_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let before = process(812, "nginx");
    let after = ProcessIdentity { exe_deleted: true, ..before.clone() };
    let mut served = connection(1, "127.0.0.1:40001", "127.0.0.1:8080", T0, Some(&before));
    served.server_process = Some(after.clone());
    writer
        .write(&[
            MonitorEvent::Listener(listener(
                T0,
                ListenerChange::Appeared,
                "127.0.0.1:8080",
                before.clone(),
            )),
            MonitorEvent::Listener(listener(
                T0 + SECOND,
                ListenerChange::Appeared,
                "127.0.0.1:8080",
                after.clone(),
            )),
            event(served),
        ])
        .unwrap();
    drop(writer);
    let mut reader = read(&path);
    let query = HistoryQuery { port: Some(8080), ..everything() };
    let listeners = reader.listeners(&query, Order::OldestFirst, 10).unwrap();
    let owners: Vec<bool> = listeners.iter().map(|l| l.event.owners[0].exe_deleted).collect();
    assert_eq!(owners, [false, true]);
    let connections = reader.connections(&query).unwrap();
    assert_eq!(connections[0].record.server_process.as_ref(), Some(&after));
    assert_eq!(connections[0].record.client_process.as_ref(), Some(&before));
    let clients = reader.clients(&query, 10, false).unwrap();
    assert_eq!(clients[0].client.as_ref(), Some(&before));
}

/// A store as porthole wrote it before schema 4 (made here from that
/// schema's own SQL, a process row without the flag) is read as it is, the
/// flag as not deleted; the next writer migrates it, keeps using the old
/// row for the same process not deleted, and keeps the flag from then on.
#[test]
fn a_schema_3_store_is_read_then_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    for script in &super::sqlite::MIGRATIONS[..3] {
        connection.execute_batch(script).unwrap();
    }
    connection.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
    connection.pragma_update(None, "user_version", 3).unwrap();
    // Read before schema 5: a start to the second only.
    let nginx = ProcessIdentity { start_ticks: None, ..process(812, "nginx") };
    connection
        .execute(
            "INSERT INTO processes (id, pid, start_time, name, exe, cmdline, uid, user)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                nginx.pid,
                nginx.start_time.map(|t| t as i64),
                nginx.name,
                nginx.exe,
                codec::cmdline_to_db(&nginx.cmdline),
                nginx.uid,
                nginx.user
            ],
        )
        .unwrap();
    connection
        .execute_batch(&format!(
            "INSERT INTO addresses (id, address) VALUES (1, '127.0.0.1');
             INSERT INTO listener_events (id, at, change, protocol, family, address, port, inode,
                uid, scope, exposed)
             VALUES (1, {T0}, {}, 'tcp', 'ipv4', 1, 8080, 4242, 116, 'loopback', 0);
             INSERT INTO listener_owners (event, process) VALUES (1, 1);",
            codec::change_to_db(ListenerChange::Appeared)
        ))
        .unwrap();
    let version = |connection: &rusqlite::Connection| -> i64 {
        connection.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    let query = HistoryQuery { port: Some(8080), ..everything() };
    let mut reader = read(&path);
    let listeners = reader.listeners(&query, Order::OldestFirst, 10).unwrap();
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].event.owners, vec![nginx.clone()]);
    drop(reader);
    assert_eq!(version(&connection), 3, "a reader changes nothing");

    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    assert_eq!(version(&connection), SCHEMA_VERSION);
    let deleted = ProcessIdentity { exe_deleted: true, ..nginx.clone() };
    let appeared = |at: UnixMicros, owner: &ProcessIdentity| {
        MonitorEvent::Listener(listener(
            at,
            ListenerChange::Appeared,
            "127.0.0.1:8080",
            owner.clone(),
        ))
    };
    writer.write(&[appeared(T0 + SECOND, &nginx), appeared(T0 + 2 * SECOND, &deleted)]).unwrap();
    drop(writer);
    let rows: i64 =
        connection.query_row("SELECT count(*) FROM processes", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2, "the old row, and one for the deleted executable");
    let mut reader = read(&path);
    let listeners = reader.listeners(&query, Order::OldestFirst, 10).unwrap();
    let flags: Vec<bool> = listeners.iter().map(|l| l.event.owners[0].exe_deleted).collect();
    assert_eq!(flags, [false, false, true]);
}

/// One process's group as the store reads it: `connections` at `first_at`.
fn process_group(client: ProcessIdentity, connections: u64, first_at: UnixMicros) -> ClientSummary {
    ClientSummary {
        host: None,
        net_namespace: Some(4026531840),
        server: "127.0.0.1:6379".parse().unwrap(),
        client_uid: Some(client.uid),
        processes: 1,
        pids: vec![client.pid],
        client: Some(client),
        connections,
        open: 0,
        first_at,
        last_at: first_at + SECOND,
        bytes_client_to_server: 14,
        bytes_server_to_client: 7,
        server_process: None,
    }
}

/// Processes of one executable, command line and user are one program;
/// another command line or user is another; a process whose command line
/// was not read joins the one program of its executable, and stays apart
/// when its executable runs two.
#[test]
fn processes_add_up_to_programs() {
    let ping = |pid: u32| ProcessIdentity {
        cmdline: vec!["redis-cli".into(), "PING".into()],
        ..process(pid, "redis-cli")
    };
    let unread = |pid: u32| ProcessIdentity { cmdline: Vec::new(), ..process(pid, "redis-cli") };
    let steady = ProcessIdentity {
        cmdline: vec!["python3".into(), "app.py".into()],
        ..process(7, "python3")
    };
    let mut groups: Vec<ClientSummary> =
        (0..5).map(|n| process_group(ping(3000 + n), 1, T0 + i64::from(n) * SECOND)).collect();
    groups.push(process_group(unread(3010), 1, T0 - SECOND));
    groups.push(process_group(steady.clone(), 4, T0));
    let other_user = ProcessIdentity { uid: 1001, ..ping(3020) };
    groups.push(process_group(other_user, 1, T0));
    let programs = by_program(groups.clone());
    let shape: Vec<(String, u64, u64, Vec<u32>)> = programs
        .iter()
        .map(|p| {
            let client = p.client.as_ref().unwrap();
            (client.cmdline.join(" "), p.processes, p.connections, p.pids.clone())
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("redis-cli PING".to_string(), 6, 6, vec![3000, 3001, 3002, 3003, 3004, 3010]),
            ("python3 app.py".to_string(), 1, 4, vec![7]),
            ("redis-cli PING".to_string(), 1, 1, vec![3020]),
        ]
    );
    // The earliest connection was the unread process's; its program still
    // shows the command line.
    assert_eq!(programs[0].first_at, T0 - SECOND);
    assert_eq!(programs[0].bytes(), 6 * 21);
    // Two programs of redis-cli: the unread one cannot tell which it ran.
    let info = ProcessIdentity {
        cmdline: vec!["redis-cli".into(), "INFO".into()],
        ..process(3030, "redis-cli")
    };
    groups.push(process_group(info, 1, T0));
    let programs = by_program(groups);
    let alone = programs.iter().find(|p| p.pids == [3010]);
    assert!(alone.is_some_and(|p| p.processes == 1), "{programs:#?}");
}

/// Two server programs that served one address in turn split its clients:
/// a client of both is a group per server, ordered by when each server was
/// first connected to; a group whose server was not named stays apart.
/// Where one server program served, its unnamed server's groups are its
/// own, and the groups are the client's alone, as without servers.
#[test]
fn clients_are_grouped_per_server_program() {
    let client = ProcessIdentity {
        cmdline: vec!["psql".into(), "-c".into(), "SELECT 1".into()],
        ..process(77, "psql")
    };
    let served =
        |server: Option<ProcessIdentity>, connections: u64, first_at: UnixMicros| ClientSummary {
            server_process: server,
            ..process_group(client.clone(), connections, first_at)
        };
    let app = |pid: u32, name: &str| ProcessIdentity {
        cmdline: vec![name.into(), "--serve".into()],
        ..process(pid, name)
    };
    // A child of app-a that set its own title (as a PostgreSQL backend
    // does) is still app-a.
    let a_again = ProcessIdentity { cmdline: vec!["app-a: serving".into()], ..app(11, "app-a") };
    let (a, b) = (app(10, "app-a"), app(20, "app-b"));
    // Busiest first, as the store hands them over: app-b's clients are the
    // busier, app-a served first (two processes of it, one program).
    let groups = vec![
        served(Some(b.clone()), 5, T0 + 10 * SECOND),
        served(Some(a.clone()), 2, T0),
        served(Some(a_again), 1, T0 + SECOND),
        served(None, 1, T0 + 2 * SECOND),
    ];
    for grouping in [ClientGrouping::Program, ClientGrouping::Process] {
        let grouped = grouped(groups.clone(), grouping);
        assert!(several_servers(&grouped));
        let shape: Vec<(Option<u32>, u64)> = grouped
            .iter()
            .map(|g| (g.server_process.as_ref().map(|p| p.pid), g.connections))
            .collect();
        assert_eq!(shape, [(Some(10), 3), (None, 1), (Some(20), 5)], "{grouping:?}");
        assert_eq!(grouped[0].processes, 1, "one client process: {grouping:?}");
    }

    let groups = vec![served(Some(a.clone()), 2, T0 + SECOND), served(None, 1, T0)];
    let grouped = grouped(groups, ClientGrouping::Program);
    assert!(!several_servers(&grouped));
    let shape: Vec<(Option<u32>, u64)> =
        grouped.iter().map(|g| (g.server_process.as_ref().map(|p| p.pid), g.connections)).collect();
    assert_eq!(shape, [(Some(10), 3)]);
}

/// A server that forks a process per connection (a PostgreSQL backend)
/// is one server program: one client's connections to it are one group
/// whatever the group limit, with every connection counted. Grouped per
/// server process, each connection was a group of its own, and a limit
/// below the connection count cut the answer.
#[test]
fn a_server_forking_per_connection_is_one_group_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut writer = SqliteWriter::open(&path, &options()).unwrap();
    let client = process(4411, "python3");
    let other_server =
        ProcessIdentity { exe: Some("/usr/bin/other".into()), ..process(900, "other") };
    let mut batch: Vec<MonitorEvent> = (1..=12u64)
        .map(|cookie| {
            let backend = ProcessIdentity {
                // Each backend sets its own title, as PostgreSQL's do.
                cmdline: vec![format!("postgres: alice app [local] {cookie}")],
                ..process(5000 + cookie as u32, "postgres")
            };
            let mut record = connection(
                cookie,
                &format!("127.0.0.1:{}", 40000 + cookie),
                "127.0.0.1:5432",
                T0,
                Some(&client),
            );
            record.server_process = Some(backend);
            event(record)
        })
        .collect();
    let mut elsewhere =
        connection(99, "127.0.0.1:41000", "127.0.0.1:5432", T0 + SECOND, Some(&client));
    elsewhere.server_process = Some(other_server);
    batch.push(event(elsewhere));
    writer.write(&batch).unwrap();
    let mut reader = read(&path);
    let groups = reader.clients(&everything(), 3, true).unwrap();
    let shape: Vec<(u64, Option<String>)> = groups
        .iter()
        .map(|g| (g.connections, g.server_process.as_ref().map(|p| p.name.clone())))
        .collect();
    assert_eq!(shape, [(12, Some("postgres".into())), (1, Some("other".into()))]);
}
