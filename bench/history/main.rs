//! Benchmark of the history store (not a test): bytes per connection
//! record with indexes, insert rate through the writer, and the latency of
//! "who connected to 127.0.0.1:5432 in this 1-minute window" over 10
//! million rows, for SQLite and PostgreSQL.
//!
//! The first million rows go through the real writer (`open_writer`,
//! batches of 5,000 events, one transaction each), so the size per record
//! is what the recorder produces. The next nine million are copied inside
//! the database with the same distribution (`INSERT … SELECT` over a
//! generated series), which takes seconds instead of minutes. The query
//! runs through the reader `porthole history` uses (`HistoryReader::clients`,
//! process names included) for 1,000 random windows after 100 warm-up
//! ones.
//!
//! Run with `bench/history/run.sh` (release build). PostgreSQL needs root
//! (the server runs as user `postgres` from a temporary `initdb`);
//! without it only SQLite is measured. `--quick` uses 1/10 of the rows.

#![expect(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use porthole::model::history::{ClientGrouping, ClientSummary, HistoryQuery};
use porthole::model::monitor::{
    ConnectionEnd, ConnectionRecord, MonitorEvent, ProcessIdentity, UnixMicros,
};
use porthole::store::{self, HistoryReader, StoreLocation, WriterOptions};

/// The traffic spans seven days, the default retention.
const SPAN: i64 = 7 * 86_400 * 1_000_000;
/// 2026-11-21 00:00:00 UTC.
const START: UnixMicros = 1_795_219_200_000_000;
/// Server ports and how many of every 20 connections go to each: 5432
/// gets a quarter of the traffic.
const PORTS: [u16; 20] = [
    5432, 5432, 5432, 5432, 5432, 6379, 6379, 6379, 3000, 3000, 8080, 8080, 9229, 5173, 11211,
    27017, 3306, 9200, 4000, 8000,
];
/// Distinct client processes.
const CLIENTS: u64 = 200;
const BATCH: usize = 5_000;

/// A deterministic generator (SplitMix64): the same rows on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn client_process(index: u64) -> ProcessIdentity {
    let names = ["python3", "node", "psql", "curl", "redis-cli", "java", "ruby", "go-test"];
    let name = names[(index % names.len() as u64) as usize];
    ProcessIdentity {
        pid: 10_000 + index as u32,
        start_time: Some(1_795_200_000 + index),
        start_ticks: Some(4_200 + index),
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        exe_deleted: false,
        cmdline: vec![name.into(), "--worker".into(), index.to_string()],
        uid: 1000,
        user: Some("dev".into()),
        unit: None,
        container: None,
    }
}

/// Connection `index` of `total`: times spread evenly over the span, so
/// row order is time order, as the recorder writes them.
fn record(
    index: u64,
    total: u64,
    random: &mut Random,
    clients: &[ProcessIdentity],
) -> MonitorEvent {
    let at = START + (index as i128 * SPAN as i128 / total as i128) as i64;
    let port = PORTS[(random.next() % PORTS.len() as u64) as usize];
    let v6 = random.next() % 10 == 0;
    let (client, server): (SocketAddr, SocketAddr) = if v6 {
        (
            format!("[::1]:{}", 32768 + random.next() % 28232).parse().unwrap(),
            format!("[::1]:{port}").parse().unwrap(),
        )
    } else {
        (
            format!("127.0.0.1:{}", 32768 + random.next() % 28232).parse().unwrap(),
            format!("127.0.0.1:{port}").parse().unwrap(),
        )
    };
    let client_process = clients[(random.next() % CLIENTS) as usize].clone();
    MonitorEvent::Connection(Box::new(ConnectionRecord {
        cookie: 1 + index,
        net_namespace: None,
        client,
        server,
        started_at: Some(at),
        ended_at: Some(at + (random.next() % 50_000) as i64),
        bytes_client_to_server: random.next() % 2_000,
        bytes_server_to_client: random.next() % 20_000,
        client_process: Some(client_process),
        server_process: None,
        client_uid: Some(1000),
        server_uid: Some(116),
        end: ConnectionEnd::Closed,
    }))
}

/// Writes `count` rows through the writer; returns rows per second.
fn write_through_writer(location: &StoreLocation, count: u64, total: u64) -> f64 {
    let options = WriterOptions {
        host: "bench".into(),
        // Everything is kept: the bench measures size and queries, not
        // pruning.
        keep: Duration::from_secs(100 * 365 * 86_400),
        keep_hourly: Duration::from_secs(100 * 365 * 86_400),
        ..WriterOptions::default()
    };
    let mut writer = store::open_writer(location, &options).expect("writer opens");
    let clients: Vec<ProcessIdentity> = (0..CLIENTS).map(client_process).collect();
    let mut random = Random(42);
    let started = Instant::now();
    let mut index = 0;
    while index < count {
        let batch: Vec<MonitorEvent> = (0..BATCH as u64)
            .take_while(|i| index + i < count)
            .map(|i| record(index + i, total, &mut random, &clients))
            .collect();
        index += batch.len() as u64;
        writer.write_batch(&batch).expect("batch written");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Latency of the 1-minute question over random windows: (p50, p99, max,
/// mean rows per window).
fn query_latency(
    reader: &mut dyn HistoryReader,
    windows: usize,
) -> (Duration, Duration, Duration, f64) {
    window_latency(windows, |query| reader.clients(query, 1000, true).expect("query runs"))
}

/// Latency of the whole client summary `porthole history 127.0.0.1:5432
/// --connections` reads for a window (`store::report`: the groups, hourly
/// totals, losses, recorder starts), with clients per program or per
/// process.
fn report_window_latency(
    reader: &mut dyn HistoryReader,
    windows: usize,
    grouping: ClientGrouping,
) -> (Duration, Duration, Duration, f64) {
    let sections = store::Sections { listeners: false, connections: true, each: false };
    window_latency(windows, |query| {
        let query = HistoryQuery { grouping, ..query.clone() };
        store::report(reader, &query, sections).expect("report reads").clients
    })
}

/// Times `ask` over random 1-minute windows on 127.0.0.1:5432 after 100
/// warm-up ones: (p50, p99, max, mean connections per window).
fn window_latency(
    windows: usize,
    mut ask: impl FnMut(&HistoryQuery) -> Vec<ClientSummary>,
) -> (Duration, Duration, Duration, f64) {
    let mut random = Random(7);
    let mut timings = Vec::with_capacity(windows);
    let mut rows = 0u64;
    for round in 0..windows + 100 {
        let since = START + (random.next() % (SPAN as u64 - 60_000_000)) as i64;
        let query = HistoryQuery {
            port: Some(5432),
            addresses: vec!["127.0.0.1".parse().unwrap()],
            since: Some(since),
            until: Some(since + 60_000_000),
            limit: 1000,
            ..HistoryQuery::default()
        };
        let started = Instant::now();
        let clients = ask(&query);
        let elapsed = started.elapsed();
        if round >= 100 {
            timings.push(elapsed);
            rows += clients.iter().map(|c| c.connections).sum::<u64>();
        }
    }
    timings.sort();
    let at = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
    (at(0.50), at(0.99), *timings.last().unwrap(), rows as f64 / windows as f64)
}

fn report_latency(store: &str, rows: u64, latency: (Duration, Duration, Duration, f64)) {
    let (p50, p99, max, per_window) = latency;
    println!(
        "{store}: 1-minute window on 127.0.0.1:5432 over {rows} rows: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({per_window:.0} connections per window, 1000 windows)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

fn sqlite(dir: &Path, first: u64, total: u64) {
    let path = dir.join("history.sqlite");
    let location = StoreLocation::Sqlite(path.clone());
    let rate = write_through_writer(&location, first, total);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let size = |connection: &rusqlite::Connection| -> u64 {
        // Pages in use by the connections table and its indexes (dbstat
        // is not compiled in; the other tables are tiny next to them, and
        // counted too).
        connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let pages: i64 = connection.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        let free: i64 = connection.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
        let page: i64 = connection.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        ((pages - free) * page) as u64
    };
    let bytes = size(&connection);
    let address = |text: &str| -> i64 {
        connection
            .query_row("SELECT id FROM addresses WHERE address = ?1", [text], |r| r.get(0))
            .unwrap()
    };
    let (v4, v6) = (address("127.0.0.1"), address("::1"));
    println!(
        "SQLite: {first} connections through the writer at {rate:.0} rows/s (batches of {BATCH}); {bytes} bytes in use: {:.1} bytes per connection, indexes and dictionaries included",
        bytes as f64 / first as f64
    );
    // The remaining rows, copied inside SQLite with the same distribution.
    let started = Instant::now();
    let mut from = first;
    while from < total {
        let to = (from + 1_000_000).min(total);
        connection
            .execute(
                "WITH RECURSIVE g(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM g WHERE x < ?2)
                 INSERT INTO connections
                    (at, ended_at, server_address, server_port, client_address, client_port,
                     client_process, server_process, client_uid, server_uid, bytes_up,
                     bytes_down, flags, cookie, netns)
                 SELECT ?3 + x * ?4 / ?5, ?3 + x * ?4 / ?5 + (x * 7919) % 50000,
                        CASE WHEN x % 10 = 0 THEN ?7 ELSE ?6 END,
                        CASE (x * 2654435761) % 20
                            WHEN 0 THEN 5432 WHEN 1 THEN 5432 WHEN 2 THEN 5432 WHEN 3 THEN 5432
                            WHEN 4 THEN 5432 WHEN 5 THEN 6379 WHEN 6 THEN 6379 WHEN 7 THEN 6379
                            WHEN 8 THEN 3000 WHEN 9 THEN 3000 WHEN 10 THEN 8080
                            WHEN 11 THEN 8080 WHEN 12 THEN 9229 WHEN 13 THEN 5173
                            WHEN 14 THEN 11211 WHEN 15 THEN 27017 WHEN 16 THEN 3306
                            WHEN 17 THEN 9200 WHEN 18 THEN 4000 ELSE 8000 END,
                        CASE WHEN x % 10 = 0 THEN ?7 ELSE ?6 END, 32768 + (x * 40503) % 28232,
                        1 + (x * 48271) % 200, NULL, 1000, 116, (x * 31) % 2000,
                        (x * 97) % 20000, 4, x + 1, NULL
                 FROM g",
                rusqlite::params![from as i64, to as i64 - 1, START, SPAN, total as i64, v4, v6],
            )
            .unwrap();
        from = to;
    }
    let bytes_total = size(&connection);
    println!(
        "SQLite: filled to {total} rows in {:.1} s; {bytes_total} bytes in use: {:.1} bytes per connection",
        started.elapsed().as_secs_f64(),
        bytes_total as f64 / total as f64
    );
    drop(connection);
    let mut reader = store::open_reader(&location).expect("reader opens");
    report_latency("SQLite", total, query_latency(reader.as_mut(), 1000));
    for (grouping, name) in
        [(ClientGrouping::Process, "per process"), (ClientGrouping::Program, "per program")]
    {
        let latency = report_window_latency(reader.as_mut(), 1000, grouping);
        report_latency(&format!("SQLite history report, clients {name}"), total, latency);
    }
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
    command
}

/// The PostgreSQL server of the run; stopped on drop.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: a smart shutdown that removes the data directory's pid.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn start_postgres(dir: &Path) -> Option<(Server, String)> {
    let bin = postgres_bin()?;
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("pgdata");
    std::fs::create_dir(&data).unwrap();
    Command::new("chown").args(["-R", "postgres"]).arg(&data).status().unwrap();
    let status = as_postgres(&bin.join("initdb"))
        .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
        .env("LC_ALL", "C")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "initdb failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = as_postgres(&bin.join("postgres"))
        .args(["-D", data.to_str().unwrap(), "-p", &port.to_string(), "-k", data.to_str().unwrap()])
        // Durable settings as a server would run them, except fsync: the
        // VM's disk is shared, and sizes and query times do not depend on it.
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=256MB"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    while postgres::Client::connect(&url, postgres::NoTls).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "postgres did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((server, url))
}

fn postgresql(dir: &Path, first: u64, total: u64) {
    let Some((_server, url)) = start_postgres(dir) else {
        println!("PostgreSQL: not measured (needs root and /usr/lib/postgresql/*/bin)");
        return;
    };
    let location = StoreLocation::parse(&url).unwrap();
    let rate = write_through_writer(&location, first, total);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let size = |client: &mut postgres::Client| -> (u64, u64) {
        client.batch_execute("VACUUM ANALYZE porthole.connections").unwrap();
        let row = client
            .query_one(
                "SELECT pg_total_relation_size('porthole.connections'),
                        (SELECT count(*) FROM porthole.connections)",
                &[],
            )
            .unwrap();
        (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64)
    };
    let (bytes, rows) = size(&mut client);
    println!(
        "PostgreSQL: {rows} connections through the writer at {rate:.0} rows/s (batches of {BATCH}); table with indexes {bytes} bytes: {:.1} bytes per connection",
        bytes as f64 / rows as f64
    );
    let ids = client
        .query_one(
            "SELECT (SELECT id FROM porthole.addresses WHERE address = '127.0.0.1'),
                    (SELECT id FROM porthole.addresses WHERE address = '::1'),
                    (SELECT min(id) FROM porthole.processes), (SELECT id FROM porthole.hosts LIMIT 1)",
            &[],
        )
        .unwrap();
    let (v4, v6, process, host): (i32, i32, i32, i16) =
        (ids.get(0), ids.get(1), ids.get(2), ids.get(3));
    let started = Instant::now();
    let mut from = first as i64;
    while from < total as i64 {
        let to = (from + 1_000_000).min(total as i64);
        client
            .execute(
                "INSERT INTO porthole.connections
                    (at, ended_at, bytes_up, bytes_down, cookie, netns, server_address,
                     client_address, server_port, client_port, client_process, server_process,
                     client_uid, server_uid, host, flags)
                 SELECT $3::bigint + x * $4::bigint / $5::bigint,
                        $3::bigint + x * $4::bigint / $5::bigint + (x * 7919) % 50000,
                        (x * 31) % 2000, (x * 97) % 20000, x + 1, NULL,
                        CASE WHEN x % 10 = 0 THEN $7::integer ELSE $6::integer END,
                        CASE WHEN x % 10 = 0 THEN $7::integer ELSE $6::integer END,
                        (ARRAY[5432,5432,5432,5432,5432,6379,6379,6379,3000,3000,8080,8080,
                               9229,5173,11211,27017,3306,9200,4000,8000])[1 + (x * 2654435761) % 20],
                        32768 + (x * 40503) % 28232, $8::integer + ((x * 48271) % 200)::integer,
                        NULL,
                        1000, 116, $9::smallint, 4::smallint
                 FROM generate_series($1::bigint, $2::bigint) AS x",
                &[&from, &(to - 1), &START, &SPAN, &(total as i64), &v4, &v6, &process, &host],
            )
            .unwrap();
        from = to;
    }
    let (bytes_total, rows_total) = size(&mut client);
    println!(
        "PostgreSQL: filled to {rows_total} rows in {:.1} s; table with indexes {bytes_total} bytes: {:.1} bytes per connection",
        started.elapsed().as_secs_f64(),
        bytes_total as f64 / rows_total as f64
    );
    let mut reader = store::open_reader(&location).expect("reader opens");
    report_latency("PostgreSQL", rows_total, query_latency(reader.as_mut(), 1000));
    for (grouping, name) in
        [(ClientGrouping::Process, "per process"), (ClientGrouping::Program, "per program")]
    {
        let latency = report_window_latency(reader.as_mut(), 1000, grouping);
        report_latency(&format!("PostgreSQL history report, clients {name}"), rows_total, latency);
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (first, total) = if quick { (100_000, 1_000_000) } else { (1_000_000, 10_000_000) };
    let only = std::env::args().skip(1).find(|a| a == "sqlite" || a == "postgres");
    let dir = tempfile::tempdir().expect("temporary directory");
    if only.as_deref() != Some("postgres") {
        sqlite(dir.path(), first, total);
    }
    if only.as_deref() != Some("sqlite") {
        postgresql(dir.path(), first, total);
    }
}
