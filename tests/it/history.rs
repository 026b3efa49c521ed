//! `porthole history` and the history store: the real binary over stores
//! the tests fill with the records the recorder writes; a writer in a
//! separate process for the lock, `kill -9` and read-while-writing cases; a
//! real full file system; a real PostgreSQL.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use porthole::model::monitor::{
    CaptureMode, ConnectionEnd, ConnectionRecord, ListenerChange, ListenerEvent, LossKind,
    LossRecord, MonitorEvent, ProcessIdentity, UnixMicros,
};
use porthole::model::{Family, Protocol, Scope};
use porthole::store::{self, StoreError, StoreLocation, WriterOptions};

use crate::util::{self, ChildGuard, Output};

/// 2026-11-28 10:00:00 UTC.
const T0: UnixMicros = 1_795_860_000_000_000;
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;

fn process(pid: u32, name: &str) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        start_time: Some(1_795_850_000),
        start_ticks: None,
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

fn connection(
    cookie: u64,
    client: SocketAddr,
    server: SocketAddr,
    at: UnixMicros,
    owner: Option<ProcessIdentity>,
    bytes: u64,
) -> MonitorEvent {
    MonitorEvent::Connection(Box::new(ConnectionRecord {
        cookie,
        net_namespace: None,
        client,
        server,
        started_at: Some(at),
        ended_at: Some(at + 2_000),
        bytes_client_to_server: bytes / 10,
        bytes_server_to_client: bytes - bytes / 10,
        client_process: owner,
        server_process: Some(process(812, "postgres")),
        client_uid: Some(1000),
        server_uid: Some(116),
        end: ConnectionEnd::Closed,
    }))
}

fn listener(
    at: UnixMicros,
    change: ListenerChange,
    local: &str,
    owner: ProcessIdentity,
) -> MonitorEvent {
    MonitorEvent::Listener(ListenerEvent {
        at,
        change,
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: Some(local.parse().unwrap()),
        path: None,
        inode: 31337,
        uid: 116,
        net_namespace: None,
        scope: Scope::Loopback,
        exposed: false,
        v6only: None,
        owners: vec![owner],
    })
}

/// A morning on a developer machine: PostgreSQL on 5432 restarted once,
/// python3 connecting 1,203 times, psql a few, one unnamed client, and a
/// netlink overflow.
fn morning(port: u16) -> Vec<MonitorEvent> {
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut events = vec![
        MonitorEvent::Started {
            at: T0 - 3 * MINUTE,
            mode: CaptureMode::Ebpf,
            reason: "eBPF tracepoints attached".into(),
        },
        listener(
            T0 - 2 * MINUTE,
            ListenerChange::Appeared,
            &server.to_string(),
            process(700, "postgres"),
        ),
        listener(
            T0 - MINUTE,
            ListenerChange::Disappeared,
            &server.to_string(),
            process(700, "postgres"),
        ),
        listener(
            T0 - MINUTE + 5 * SECOND,
            ListenerChange::Appeared,
            &server.to_string(),
            process(812, "postgres"),
        ),
    ];
    let python = process(4411, "python3");
    for i in 0..1203u64 {
        // 10:02 to 10:41, 2.1 MB in all.
        let at = T0 + 2 * MINUTE + (i as i64) * 39 * MINUTE / 1202;
        events.push(connection(
            i + 1,
            format!("127.0.0.1:{}", 40000 + i).parse().unwrap(),
            server,
            at,
            Some(python.clone()),
            1750,
        ));
    }
    for i in 0..12u64 {
        events.push(connection(
            5000 + i,
            format!("127.0.0.1:{}", 50000 + i).parse().unwrap(),
            server,
            T0 + 15 * MINUTE + (i as i64) * SECOND,
            Some(process(5120, "psql")),
            4000,
        ));
    }
    events.push(connection(
        6000,
        "127.0.0.1:51000".parse().unwrap(),
        server,
        T0 + 20 * MINUTE,
        None,
        300,
    ));
    events.push(MonitorEvent::Loss(LossRecord {
        at: T0 + 3 * MINUTE,
        kind: LossKind::NetlinkOverflow,
        count: 4,
        net_namespace: None,
    }));
    events
}

/// A store under a fresh directory, filled with `events`.
fn filled_store(events: &[MonitorEvent]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let options = WriterOptions { host: "devbox".into(), ..WriterOptions::default() };
    let mut writer = store::open_writer(&StoreLocation::Sqlite(path.clone()), &options).unwrap();
    for batch in events.chunks(500) {
        writer.write_batch(batch).unwrap();
    }
    (dir, path)
}

fn history(store: &Path, args: &[&str]) -> Output {
    util::run(util::porthole().arg("history").args(args).arg("--store").arg(store))
}

#[test]
fn aggregates_connections_per_client() {
    let (_dir, path) = filled_store(&morning(5432));
    let output = history(&path, &["5432"]);
    assert_eq!(output.code, 0, "{output:?}");
    let text = &output.stdout;
    assert!(text.starts_with("History of port 5432 (UTC, from "), "{text}");
    assert!(text.contains("Clients of 127.0.0.1:5432 (1,216 connections)"), "{text}");
    assert!(
        text.contains(
            "  python3 (pid 4411, user alice) connected 1,203 times, 2026-11-28 10:02–10:41, 2.1 MB"
        ),
        "{text}"
    );
    assert!(text.contains("  psql (pid 5120, user alice) connected 12 times, 2026-11-28 10:15:00–10:15:11, 48.0 kB"), "{text}");
    assert!(
        text.contains(
            "  an unnamed process (uid 1000) connected once, at 2026-11-28 10:20:00, 300 B"
        ),
        "{text}"
    );
    // Listeners in order, the old owner first.
    let listening: Vec<&str> =
        text.lines().filter(|l| l.contains("127.0.0.1:5432  loopback")).collect();
    assert_eq!(listening.len(), 3, "{text}");
    assert!(
        listening[0].contains("09:58:00  listening") && listening[0].contains("pid 700"),
        "{text}"
    );
    assert!(listening[1].contains("09:59:00  gone"), "{text}");
    assert!(
        listening[2].contains("09:59:05  listening") && listening[2].contains("pid 812"),
        "{text}"
    );
    assert!(text.contains("Recorder started 2026-11-28 09:57:00 in eBPF"), "{text}");
    assert!(
        text.contains("4 lost to a netlink buffer overflow (ENOBUFS), at 2026-11-28 10:03:00"),
        "{text}"
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}

#[test]
fn windows_processes_and_sections() {
    let (_dir, path) = filled_store(&morning(5432));
    // 10:15 to 10:16: psql's 12 and python's few.
    let output = history(
        &path,
        &["127.0.0.1:5432", "--since", "2026-11-28T10:15", "--until", "2026-11-28T10:16", "--json"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["since"], "2026-11-28T10:15:00.000000Z");
    let clients = json["clients"].as_array().unwrap();
    let psql = clients.iter().find(|c| c["process"]["name"] == "psql").unwrap();
    assert_eq!(psql["connections"], 12);
    assert_eq!(psql["bytes_client_to_server"], 12 * 400);
    assert_eq!(psql["server_address"], "127.0.0.1");
    assert_eq!(psql["server_port"], 5432);
    let python = clients.iter().find(|c| c["process"]["name"] == "python3").unwrap();
    assert!(python["connections"].as_u64().unwrap() < 40, "{python}");
    // Listener changes before the window are not in it.
    assert_eq!(json["listeners"].as_array().unwrap().len(), 0, "{json:#}");

    let output = history(&path, &["5432", "--process", "psql", "--each", "--jsonl"]);
    assert_eq!(output.code, 0, "{output:?}");
    let lines: Vec<serde_json::Value> =
        output.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let connections: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "connection").collect();
    assert_eq!(connections.len(), 12, "{}", output.stdout);
    assert_eq!(connections[0]["client_process"]["name"], "psql");
    assert_eq!(connections[0]["duration_us"], 2000);
    assert_eq!(connections[0]["end"], "closed");
    assert!(lines.iter().all(|l| l["type"] != "client"));

    let output = history(&path, &["5432", "--listeners"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains("Clients of"), "{}", output.stdout);
    assert!(output.stdout.contains("Listeners"), "{}", output.stdout);

    let output = history(&path, &["5432", "--each", "--limit", "5", "--connections"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("Connections (5)"), "{}", output.stdout);
    assert!(output.stdout.contains("more connections match"), "{}", output.stdout);
    assert!(output.stdout.contains("TIME                 DURATION  CLIENT"), "{}", output.stdout);

    // Nothing on another port: exit 1, and the answer says so.
    let output = history(&path, &["6379"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("nothing recorded"), "{output:?}");
}

/// A time typed with a space (`--since 2026-11-28 10:00`) leaves `10:00`
/// as the ENDPOINT: the resolver read its host `10` as 0.0.0.10, and the
/// answer was about 0.0.0.10 port 0 ("nothing recorded", exit 1). It is bad
/// input, said in one line: beside a bare date it is named as the time of
/// day it is, with the two ways to write it; other such hosts are named by
/// what the resolver would have made of them.
#[test]
fn a_number_the_resolver_reads_as_an_address_is_refused_as_a_host() {
    let (_dir, path) = filled_store(&morning(5432));
    let output = history(&path, &["--since", "2026-11-28", "10:00"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stdout, "", "{output:?}");
    assert_eq!(
        output.stderr,
        "porthole: '10:00' is a time of day, not a port: --since takes the date and the time as \
         one word: write --since '2026-11-28 10:00' or --since 2026-11-28T10:00\n"
    );
    // Both forms it names run, and find the morning's records.
    for since in ["2026-11-28 10:00", "2026-11-28T10:00"] {
        let output = history(&path, &["--since", since, "--until", "2026-11-28T12:00"]);
        assert_eq!(output.code, 0, "{since}: {output:?}");
    }
    for (args, reads_as) in [(vec!["127.1:5432"], "127.0.0.1"), (vec!["010.0.0.1:5432"], "8.0.0.1")]
    {
        let output = history(&path, &args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(output.stdout, "", "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {output:?}");
        let expected = format!("the resolver reads it as the IPv4 address {reads_as}");
        assert!(output.stderr.contains(&expected), "{args:?}: {output:?}");
    }
}

/// `--store DIR/` made a file named DIR that `history --store DIR/` then
/// could not open ("Not a directory"); `--store file:/x` was a path for the
/// writer and a SQLite URI for readers. Both are bad input for every
/// command, and nothing is created.
#[test]
fn store_texts_that_name_a_directory_or_a_uri_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let directory = format!("{}/", dir.path().join("state").display());
    let uri = format!("file:{}", dir.path().join("h.sqlite").display());
    for (store, expected) in [
        (&directory, "names a directory: give the store file's path, such as "),
        (&uri, "a SQLite URI is not taken: give the file's path ("),
    ] {
        for command in [vec!["history"], vec!["monitor", "--no-alerts"]] {
            let output = util::run(util::porthole().args(&command).args(["--store", store]));
            assert_eq!(output.code, 2, "{command:?} {store}: {output:?}");
            assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
            assert!(
                output.stderr.starts_with(&format!("porthole: --store '{store}': {expected}")),
                "{output:?}"
            );
        }
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing is made");
}

#[test]
fn bad_input_and_bad_stores_exit_2_with_one_line() {
    let (dir, path) = filled_store(&morning(5432));
    for args in [
        vec!["5432", "--since", "tomorrow"],
        vec!["5432", "--since", "2099-01-01"],
        vec!["5432", "--since", "2026-11-28T10:00", "--until", "2026-11-28T09:00"],
        vec!["99999"],
        vec!["--each", "--limit", "none"],
        vec!["5432", "--host", "web-1"],
        vec!["5432", "--each", "--by", "process"],
        // Spans and times out of every range: no panic, no silent window.
        vec!["5432", "--since", "999999d"],
        vec!["5432", "--since", "0s"],
        vec!["5432", "--until", "@999999999999"],
        vec!["5432", "--until", "@99999999999999999999"],
        vec!["5432", "--since", "2026-02-30"],
    ] {
        let output = history(&path, &args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {output:?}");
        assert!(output.stderr.starts_with("porthole: "), "{output:?}");
    }
    let missing = dir.path().join("none.sqlite");
    let output = history(&missing, &["5432"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("no history at"), "{output:?}");
    assert!(!missing.exists());

    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, b"this is not a database, it is a shopping list\n".repeat(200))
        .unwrap();
    let before = std::fs::read(&garbage).unwrap();
    let output = history(&garbage, &["5432"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("is not a SQLite database")
            && output.stderr.contains("left as it is"),
        "{output:?}"
    );
    assert_eq!(std::fs::read(&garbage).unwrap(), before);

    let output = util::run(util::porthole().args(["history", "5432", "--store", "mysql://x/y"]));
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("unknown scheme"), "{output:?}");
}

/// "Who touched 127.0.0.1:5432 last night?" asked after midnight:
/// `--since 'yesterday 20:00' --until today` (or `'20:00 yesterday'`,
/// `--until now`) answers with last night's client alone, and last
/// evening's time typed alone is refused with the `yesterday` form, which
/// runs as printed. A time no form reads is one line naming the forms.
#[test]
fn last_night_is_asked_as_yesterday_at_a_time() {
    const DAY: i64 = 86_400 * SECOND;
    let midnight = || store::now_micros().div_euclid(DAY) * DAY;
    let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let client = |port: u16| format!("127.0.0.1:{port}").parse().unwrap();
    let names = |output: &Output| -> Vec<String> {
        assert_eq!(output.code, 0, "{output:?}");
        let clients = output.json()["clients"].as_array().cloned().unwrap_or_default();
        let mut names: Vec<String> = clients
            .iter()
            .map(|c| c["process"]["name"].as_str().unwrap_or("-").to_string())
            .collect();
        names.sort();
        names
    };
    // A run that crosses midnight UTC between filling the store and the
    // last answer asks again, on the new day's records.
    let crossed = (0..3).all(|_| {
        let today = midnight();
        let since_midnight = store::now_micros() - today;
        let (_dir, path) = filled_store(&[
            connection(
                1,
                client(40001),
                server,
                today - 16 * 60 * MINUTE,
                Some(process(1, "backup")),
                10,
            ),
            connection(
                2,
                client(40002),
                server,
                today - 2 * 60 * MINUTE,
                Some(process(2, "psql")),
                10,
            ),
            connection(
                3,
                client(40003),
                server,
                today + since_midnight / 2,
                Some(process(3, "cron")),
                10,
            ),
        ]);
        let answers = [
            history(&path, &["5432", "--since", "yesterday 20:00", "--until", "today", "--json"]),
            history(&path, &["5432", "--since", "20:00 yesterday", "--until", "today", "--json"]),
            history(&path, &["5432", "--since", "yesterday 20:00", "--until", "now", "--json"]),
        ];
        if midnight() != today {
            return true;
        }
        assert_eq!(names(&answers[0]), ["psql"]);
        assert_eq!(names(&answers[1]), ["psql"]);
        assert_eq!(names(&answers[2]), ["cron", "psql"]);
        false
    });
    assert!(!crossed, "midnight UTC was crossed three times in a row");

    let (_dir, path) = filled_store(&morning(5432));
    // 23:59:59 is later than now but in the last second of the day, when
    // it is not: the hint is checked only when the time was refused.
    let output = history(&path, &["5432", "--since", "23:59:59"]);
    if output.code == 2 {
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        let printed = "--since 'yesterday 23:59:59'";
        assert!(output.stderr.contains(&format!("yesterday's is {printed}")), "{output:?}");
        let output = history(&path, &["5432", "--since", "yesterday 23:59:59"]);
        assert!(output.code == 1 && output.stderr.is_empty(), "{output:?}");
    }
    for typed in ["last night", "2 hours ago"] {
        let output = history(&path, &["5432", "--since", typed]);
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        for form in ["2h", "2026-11-28T09:00", "+01:00", "yesterday 22:00", "now", "@1795860000"] {
            assert!(output.stderr.contains(form), "{form} in {output:?}");
        }
    }
}

/// "Which process keeps connecting to PostgreSQL?" asked with a name that
/// matches nothing: the answer is empty (exit 1) and one stderr line names
/// the processes the same question finds without `--process`, escaped; a
/// name that matches, or a question with nothing recorded at all, adds
/// nothing.
#[test]
fn a_process_name_that_matches_nothing_names_those_that_do() {
    let mut events = morning(5432);
    events.push(connection(
        7000,
        "127.0.0.1:52000".parse().unwrap(),
        "127.0.0.1:5432".parse().unwrap(),
        T0 + 30 * MINUTE,
        Some(process(6000, "\x1b[2Jcron\n")),
        10,
    ));
    let (_dir, path) = filled_store(&events);
    let output = history(&path, &["5432", "--process", "nginx"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(
        output.stderr,
        "porthole: nothing recorded involves a process matching 'nginx'; the same question \
         without --process finds \\x1b[2Jcron\\n, postgres, psql, python3\n"
    );
    let output = history(&path, &["5432", "--process", "nginx", "--listeners", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.ends_with("without --process finds postgres\n"), "{output:?}");
    for args in [&["5432", "--process", "psql"][..], &["5433", "--process", "nginx"]] {
        let output = history(&path, args);
        assert!(!output.stderr.contains("--process"), "{args:?}: {output:?}");
    }
}

#[test]
fn porthole_port_shows_the_port_history() {
    let port = util::unique_port();
    let (_dir, path) = filled_store(&morning(port));
    let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", &path));
    assert_eq!(output.code, 1, "nothing listens now: {output:?}");
    let text = &output.stdout;
    let history = text.split("\nHistory (UTC, from ").nth(1).unwrap_or_else(|| panic!("{text}"));
    // The record ends with postgres listening; nothing does now.
    assert!(
        history.contains(&format!(
            "recorded listening since 2026-11-28 09:59:05 on 127.0.0.1:{port}: postgres (pid 812, user alice); not listening now"
        )),
        "{text}"
    );
    assert!(history.contains("before: gone 2026-11-28 09:59:00"), "{text}");
    // The fixture's clients are older than the seven days counted.
    let output = util::run(
        util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", "/nonexistent/h.sqlite"),
    );
    assert!(!output.stdout.contains("History"), "{output:?}");
}

/// A store that is there but cannot be read (another program's file, one a
/// newer porthole wrote) costs `porthole PORT` its History section only:
/// the report and its exit code stand, and one line on stderr says which
/// store could not be read and why. (It used to leave the section out
/// without a word, as if the port had no history.)
#[test]
fn porthole_port_says_why_a_store_it_cannot_read_gives_no_history() {
    let port = util::unique_port();
    let (dir, newer) = filled_store(&morning(port));
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let garbage = dir.path().join("not-a-store.sqlite");
    std::fs::write(&garbage, b"a shopping list, not a database\n".repeat(100)).unwrap();
    for (store, why) in [(&newer, "schema version 99"), (&garbage, "is not a SQLite database")] {
        let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", store));
        assert_eq!(output.code, 1, "nothing listens: {output:?}");
        assert!(output.stdout.contains(&format!("nothing holds port {port}")), "{output:?}");
        assert!(!output.stdout.contains("History"), "{output:?}");
        let expected =
            format!("porthole: no History section (PORTHOLE_STORE): {}", store.display());
        assert!(output.stderr.starts_with(&expected), "{expected}: {output:?}");
        assert!(output.stderr.contains(why), "{why}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    }
    // No store yet is no news: nothing is said.
    let missing = dir.path().join("never-recorded.sqlite");
    let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", &missing));
    assert_eq!(output.stderr, "", "{output:?}");
}

#[test]
fn porthole_port_lists_recent_frequent_clients() {
    let port = util::unique_port();
    let now = store::now_micros();
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(connection(
            i,
            "127.0.0.1:40000".parse().unwrap(),
            server,
            now - 3600 * SECOND + i as i64,
            Some(process(4411, "python3")),
            10,
        ));
    }
    events.push(connection(
        9,
        "127.0.0.1:40001".parse().unwrap(),
        server,
        now - 60 * SECOND,
        Some(process(5120, "psql")),
        10,
    ));
    let (_dir, path) = filled_store(&events);
    let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", &path));
    let text = &output.stdout;
    let python = text
        .find("python3 (pid 4411, user alice) — 5 connections to")
        .unwrap_or_else(|| panic!("{text}"));
    let psql = text
        .find("psql (pid 5120, user alice) — 1 connection to")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(python < psql, "busiest first: {text}");
}

// ------------------------------------------------ a writer in its own process

const WRITER_STORE: &str = "PORTHOLE_TEST_WRITER_STORE";
/// Connections per batch of the writer process.
const WRITER_BATCH: usize = 500;

/// Runs [`writer_process`] in a child: it prints `committed N` after each
/// batch and keeps writing until `batches` are done, then holds the store.
fn spawn_writer(
    store: &Path,
    batches: usize,
) -> (ChildGuard, std::io::BufReader<std::process::ChildStdout>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "history::writer_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_STORE, store)
        .env("PORTHOLE_TEST_WRITER_BATCHES", batches.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = ChildGuard::spawn(&mut command);
    let stdout = child.0.stdout.take().unwrap();
    (child, std::io::BufReader::new(stdout))
}

/// Reads the writer's lines until it reports `batches` commits.
fn wait_for_commits(reader: &mut impl BufRead, batches: usize) -> usize {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the writer process ended early");
        // The harness prints "test NAME ... " without a newline first.
        if let Some((_, count)) = line.trim().split_once("committed ") {
            let count: usize = count.parse().unwrap();
            if count >= batches {
                return count;
            }
        }
    }
}

/// The writer process of the tests below; it does nothing unless started
/// by [`spawn_writer`].
#[test]
#[ignore = "helper process, started by the writer tests"]
fn writer_process() {
    let Some(path) = std::env::var_os(WRITER_STORE) else {
        eprintln!("writer_process runs only as a child of the writer tests");
        return;
    };
    let batches: usize = std::env::var("PORTHOLE_TEST_WRITER_BATCHES").unwrap().parse().unwrap();
    let location = StoreLocation::Sqlite(PathBuf::from(path));
    let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
    let mut cookie = 0;
    let now = store::now_micros();
    for batch_index in 0..batches {
        let batch = python_batch(&mut cookie, |cookie| now + cookie as i64);
        writer.write_batch(&batch).unwrap();
        println!("committed {}", batch_index + 1);
    }
    println!("done");
    std::thread::sleep(Duration::from_secs(120));
}

/// [`WRITER_BATCH`] connections of python3 (pid 4411) to 127.0.0.1:5432,
/// their cookies counted on from `cookie`, each at `at(its cookie)`.
fn python_batch(cookie: &mut u64, at: impl Fn(u64) -> i64) -> Vec<MonitorEvent> {
    let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let python = process(4411, "python3");
    (0..WRITER_BATCH)
        .map(|i| {
            *cookie += 1;
            connection(
                *cookie,
                format!("127.0.0.1:{}", 10000 + i).parse().unwrap(),
                server,
                at(*cookie),
                Some(python.clone()),
                100,
            )
        })
        .collect()
}

fn count_connections(path: &Path) -> u64 {
    let output = history(path, &["5432", "--json", "--connections"]);
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    output.json()["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connections"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_second_writer_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (mut child, mut lines) = spawn_writer(&path, 1);
    wait_for_commits(&mut lines, 1);
    let location = StoreLocation::Sqlite(path.clone());
    let Err(error) = store::open_writer(&location, &WriterOptions::default()) else {
        panic!("a second writer opened the store");
    };
    assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "{} is in use by another porthole monitor; only one may record into a store at a time",
            path.display()
        )
    );
    // Readers are not refused.
    assert_eq!(count_connections(&path), WRITER_BATCH as u64);
    let _ = child.0.kill();
    let _ = child.0.wait();
    // The lock went with the process.
    store::open_writer(&location, &WriterOptions::default()).unwrap();
}

#[test]
fn kill_9_loses_at_most_the_batch_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (mut child, mut lines) = spawn_writer(&path, 1_000_000);
    let seen = wait_for_commits(&mut lines, 5);
    // SIGKILL while the writer is busy with its next batches.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let rows = count_connections(&path);
    assert!(rows >= (seen * WRITER_BATCH) as u64, "{rows} rows, {seen} batches were committed");
    assert_eq!(rows % WRITER_BATCH as u64, 0, "a batch was half written: {rows} rows");
    // The store is intact and a new writer takes over.
    let check = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = check.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    drop(check);
    let mut writer =
        store::open_writer(&StoreLocation::Sqlite(path.clone()), &WriterOptions::default())
            .unwrap();
    writer
        .write_batch(&[connection(
            u64::MAX,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:5432".parse().unwrap(),
            store::now_micros(),
            None,
            1,
        )])
        .unwrap();
    assert_eq!(count_connections(&path), rows + 1);
}

/// A recorder killed with `kill -9` leaves its `-wal` (with the records
/// since the last checkpoint) beside the store. Another user who may read
/// the files but not write their directory, and so cannot make SQLite's
/// `-shm` index, reads every committed record (from a private copy, which
/// is removed after); this was "is being recorded", with no recorder left.
#[test]
fn a_store_left_by_kill_9_is_read_by_a_user_who_cannot_write_its_directory() {
    use std::os::unix::fs::PermissionsExt;
    if !util::is_root() {
        util::skip("reading as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (mut child, mut lines) = spawn_writer(&path, 1_000_000);
    let seen = wait_for_commits(&mut lines, 3);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let wal = dir.path().join("history.sqlite-wal");
    let shm = dir.path().join("history.sqlite-shm");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "no -wal left");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in [&path, &wal] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let before = (std::fs::read(&path).unwrap(), std::fs::read(&wal).unwrap());
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let as_nobody = |temporary: &Path| {
        util::run(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(util::binary())
                .args(["history", "5432", "--json", "--connections", "--store"])
                .arg(&path)
                .env("TMPDIR", temporary),
        )
    };
    // The index left behind, owner-only; then no index at all.
    for remove_index in [false, true] {
        if remove_index {
            std::fs::remove_file(&shm).unwrap();
        }
        let output = as_nobody(private.path());
        assert_eq!(output.code, 0, "{output:?}");
        let rows: u64 = output.json()["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connections"].as_u64().unwrap())
            .sum();
        assert!(rows >= (seen * WRITER_BATCH) as u64, "{rows} rows, {seen} batches committed");
        assert_eq!(std::fs::read_dir(private.path()).unwrap().count(), 0, "the copy was left");
    }
    // A temporary directory the user may not write is named as the cause.
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = as_nobody(closed.path());
    assert_eq!(output.code, 2, "{output:?}");
    let cause = format!("copying failed (in {}: Permission denied", closed.path().display());
    assert!(output.stderr.contains(&cause), "{cause}: {output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert_eq!((std::fs::read(&path).unwrap(), std::fs::read(&wal).unwrap()), before);
}

#[test]
fn history_reads_while_the_monitor_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let (_child, mut lines) = spawn_writer(&path, 400);
    wait_for_commits(&mut lines, 1);
    let mut last = 0;
    for _ in 0..10 {
        let rows = count_connections(&path);
        assert!(rows >= last, "rows went from {last} to {rows}");
        assert_eq!(rows % WRITER_BATCH as u64, 0, "saw half a batch: {rows}");
        last = rows;
    }
    wait_for_commits(&mut lines, 400);
    assert_eq!(count_connections(&path), 400 * WRITER_BATCH as u64);
}

// ----------------------------------------------------------------- full disk

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallFileSystem {
    dir: tempfile::TempDir,
}

impl SmallFileSystem {
    fn mount(size: &str) -> Option<Self> {
        if !util::is_root() {
            util::skip("mounting a small file system needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "porthole-test"])
            .arg(dir.path())
            .status()
            .unwrap();
        if !status.success() {
            util::skip("mount -t tmpfs failed");
            return None;
        }
        Some(SmallFileSystem { dir })
    }
}

impl Drop for SmallFileSystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_stops_recording_and_keeps_what_was_committed() {
    let Some(small) = SmallFileSystem::mount("2m") else { return };
    let path = small.dir.path().join("history.sqlite");
    let location = StoreLocation::Sqlite(path.clone());
    let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
    let mut committed = 0u64;
    let mut cookie = 0u64;
    let error = loop {
        let batch = python_batch(&mut cookie, |_| store::now_micros());
        match writer.write_batch(&batch) {
            Ok(()) => committed += WRITER_BATCH as u64,
            Err(error) => break error,
        }
        assert!(committed < 1_000_000, "2 MB never filled up");
    };
    let message = error.to_string();
    assert!(message.starts_with("disk full writing"), "{message}");
    assert!(
        message.contains("recording stopped") && message.contains("committed before is kept"),
        "{message}"
    );
    drop(writer);
    assert!(committed > 0);
    assert_eq!(count_connections(&path), committed);
}

/// A recorder (root here) opens no store through a link another user
/// planted, nor in a directory others may write, where they could plant
/// one (or the -wal, -shm files) any time: it once created or wrote the
/// link's target, any file root may write. A link root made in its own
/// directory is followed, a store in a new directory inside a sticky one
/// is fine, and an empty file made for the store becomes owner-only.
#[test]
fn a_recorder_follows_no_link_another_user_could_plant() {
    use std::os::unix::fs::PermissionsExt;
    if !util::is_root() {
        util::skip("planting a link as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let as_nobody = |args: &[&str]| {
        let status = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    };
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let open = |path: &Path| {
        store::open_writer(&StoreLocation::Sqlite(path.to_path_buf()), &WriterOptions::default())
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "").unwrap();
    let missing_target = dir.path().join("created-by-root");
    for (shared_mode, name) in [(0o777, "shared"), (0o1777, "sticky")] {
        let shared = dir.path().join(name);
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(shared_mode)).unwrap();
        for (link, target) in
            [("to-precious.sqlite", &precious), ("dangling.sqlite", &missing_target)]
        {
            let link = shared.join(link);
            as_nobody(&["ln", "-s", target.to_str().unwrap(), link.to_str().unwrap()]);
            let error = open(&link).unwrap_err();
            assert!(error.contains("it is a symbolic link made by uid 65534"), "{error}");
            assert!(error.contains("keep it in a directory only you (or root) can write"));
        }
        let error = open(&shared.join("plain.sqlite")).unwrap_err();
        assert!(
            error.contains(&format!("may be written by other users (mode {shared_mode:o})")),
            "{error}"
        );
        assert!(!shared.join("plain.sqlite").exists());
    }
    assert_eq!(std::fs::read(&precious).unwrap(), b"");
    assert!(!missing_target.exists(), "root created the file a link named");
    // Not writable by others: 0777 refuses a new directory below it too.
    let error = open(&dir.path().join("shared/new/history.sqlite")).unwrap_err();
    assert!(error.contains("shared may be written by other users (mode 777)"), "{error}");
    // A new directory in a sticky one: created 0700, the store 0600.
    let below_sticky = dir.path().join("sticky/porthole/history.sqlite");
    open(&below_sticky).unwrap();
    assert_eq!(mode(below_sticky.parent().unwrap()), 0o700);
    assert_eq!(mode(&below_sticky), 0o600);
    // root's own link in root's own directory is followed.
    let own = dir.path().join("own.sqlite");
    std::os::unix::fs::symlink(dir.path().join("real.sqlite"), &own).unwrap();
    open(&own).unwrap();
    assert_eq!(mode(&dir.path().join("real.sqlite")), 0o600);
    // `touch`ed with the umask's 0644, the store is owner-only once used.
    let touched = dir.path().join("touched.sqlite");
    std::fs::write(&touched, "").unwrap();
    std::fs::set_permissions(&touched, std::fs::Permissions::from_mode(0o644)).unwrap();
    open(&touched).unwrap();
    assert_eq!(mode(&touched), 0o600);
}

// ----------------------------------------------------------------- PostgreSQL

#[cfg(feature = "postgres")]
pub(crate) mod postgresql {
    use super::*;

    /// The schema versions a PostgreSQL store records, oldest first.
    fn schema_versions(admin: &mut postgres::Client) -> Vec<i64> {
        admin
            .query("SELECT version FROM porthole.schema_version ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Debian's server binaries (not on PATH): the newest installed version.
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

    fn signal(pid: u32, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
    }

    fn as_postgres(program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        command
    }

    /// A PostgreSQL server of its own in a temporary directory, trusting local
    /// connections; stopped and deleted on drop.
    pub struct TestPostgres {
        server: ChildGuard,
        _dir: tempfile::TempDir,
        bin: PathBuf,
        data: PathBuf,
        pub port: u16,
    }

    impl TestPostgres {
        pub fn start() -> Option<Self> {
            let Some(bin) = postgres_bin() else {
                util::skip("postgresql not installed");
                return None;
            };
            if !util::is_root() {
                util::skip("starting PostgreSQL as user postgres needs root");
                return None;
            }
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let data = dir.path().join("data");
            std::fs::create_dir(&data).unwrap();
            let chown = Command::new("chown").args(["-R", "postgres"]).arg(&data).status().unwrap();
            assert!(chown.success());
            let init = util::run(
                as_postgres(&bin.join("initdb"))
                    .args([
                        "-D",
                        data.to_str().unwrap(),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "--no-sync",
                    ])
                    .env("LC_ALL", "C"),
            );
            assert_eq!(init.code, 0, "initdb failed: {init:?}");
            let port = util::non_ephemeral_port();
            let server = Self::run_server(&bin, &data, port);
            Some(TestPostgres { server, _dir: dir, bin, data, port })
        }

        fn run_server(bin: &Path, data: &Path, port: u16) -> ChildGuard {
            let mut command = as_postgres(&bin.join("postgres"));
            command
                .args([
                    "-D",
                    data.to_str().unwrap(),
                    "-p",
                    &port.to_string(),
                    "-k",
                    data.to_str().unwrap(),
                ])
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let server = ChildGuard::spawn(&mut command);
            assert!(
                util::wait_for_port(port, Duration::from_secs(60)),
                "postgres did not start on {port}"
            );
            // The port answers a moment before the server accepts logins.
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            let ready = util::eventually(Duration::from_secs(30), || {
                postgres::Client::connect(&url, postgres::NoTls).is_ok()
            });
            assert!(ready, "postgres on {port} accepts no logins");
            server
        }

        /// Stops the server as `pg_ctl stop -m fast` does (SIGINT: every
        /// connection is ended) and starts it again on the same port.
        pub fn restart(&mut self) {
            signal(self.server.pid(), "INT");
            let _ = self.server.0.wait();
            self.server = Self::run_server(&self.bin, &self.data, self.port);
        }

        /// The postmaster and every server process it started.
        pub fn processes(&self) -> Vec<u32> {
            let root = self.server.pid();
            let mut tree = vec![root];
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                    continue;
                };
                // `pid (comm) state ppid …`; comm may hold spaces.
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(root) {
                    tree.push(pid);
                }
            }
            tree
        }

        /// SIGSTOPs (`freeze`) or SIGCONTs every server process: a stopped
        /// server's kernel still acknowledges, so nothing ever times out.
        pub fn freeze(&self, frozen: bool) {
            let name = if frozen { "STOP" } else { "CONT" };
            let mut processes = self.processes().into_iter();
            signal(processes.next().expect("the postmaster"), name);
            for pid in processes {
                // A short-lived server process may be gone already.
                let _ = Command::new("kill")
                    .args([&format!("-{name}"), &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }

        pub fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
        }

        /// The URL through the server's Unix socket, which a recorder in a
        /// private network namespace reaches too (its loopback is its own).
        pub fn socket_url(&self) -> String {
            format!(
                "postgres:///postgres?user=postgres&host={}&port={}",
                self.data.display(),
                self.port
            )
        }
    }

    impl Drop for TestPostgres {
        /// A stopped server process would outlive the test for good.
        fn drop(&mut self) {
            for pid in self.processes() {
                let _ = Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    /// A Unix path and process text that are not UTF-8, and an abstract
    /// name with NULs, come back from SQLite and from a UTF-8 PostgreSQL
    /// database byte for byte: `history --json` writes U+FFFD in the text
    /// and the exact bytes beside it.
    #[test]
    fn paths_and_process_text_that_are_not_utf8_come_back_exact_from_both_stores() {
        use base64::Engine as _;
        let Some(database) = TestPostgres::start() else { return };
        let mut admin = postgres::Client::connect(&database.url(), postgres::NoTls).unwrap();
        admin.batch_execute("CREATE DATABASE exact TEMPLATE template0 ENCODING 'UTF8'").unwrap();
        let postgres_url = format!("postgres://postgres@127.0.0.1:{}/exact", database.port);
        let text = porthole::model::os_text::from_bytes;
        let owner = ProcessIdentity {
            name: text(b"ev\xff\x1b[2J"),
            exe: Some(text(b"/opt/\xfe/ev")),
            cmdline: vec![text(b"ev"), text(b"--sock=\xfe")],
            ..process(4100, "ev")
        };
        let MonitorEvent::Listener(mut event) =
            listener(T0, ListenerChange::Appeared, "127.0.0.1:1", owner)
        else {
            unreachable!("listener() builds a listener event")
        };
        event.protocol = Protocol::Unix;
        event.family = Family::Unix;
        event.local = None;
        event.path = Some(text(b"/run/s\xff\x1b[2J.sock"));
        event.uid = u32::MAX;
        let mut abstract_name = event.clone();
        abstract_name.at += SECOND;
        abstract_name.inode += 1;
        abstract_name.path = Some("@srv\0\0x".into());
        let events = [MonitorEvent::Listener(event), MonitorEvent::Listener(abstract_name)];
        let (_dir, sqlite) = filled_store(&events);
        let location = StoreLocation::parse(&postgres_url).unwrap();
        let options = WriterOptions { host: "devbox".into(), ..WriterOptions::default() };
        let mut writer = store::open_writer(&location, &options).unwrap();
        writer.write_batch(&events).unwrap();
        drop(writer);
        let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        for store in [sqlite.to_str().unwrap(), &postgres_url] {
            let output = util::run(util::porthole().args([
                "history",
                "--listeners",
                "--json",
                "--store",
                store,
            ]));
            let json = output.json();
            let listener = &json["listeners"][0];
            assert_eq!(listener["path"], "/run/s\u{fffd}\u{1b}[2J.sock", "{store}: {json:#}");
            assert_eq!(listener["path_bytes"], base64(b"/run/s\xff\x1b[2J.sock"), "{store}");
            let process = &listener["processes"][0];
            assert_eq!(process["name_bytes"], base64(b"ev\xff\x1b[2J"), "{store}: {json:#}");
            assert_eq!(process["exe_bytes"], base64(b"/opt/\xfe/ev"), "{store}: {json:#}");
            assert_eq!(
                process["argv_bytes"],
                serde_json::json!([base64(b"ev"), base64(b"--sock=\xfe")]),
                "{store}: {json:#}"
            );
            // A name that is not UTF-8 is asked for by its bytes.
            use std::os::unix::ffi::OsStrExt;
            let output = util::run(
                util::porthole()
                    .args(["history", "--listeners", "--json", "--store", store, "--process"])
                    .arg(std::ffi::OsStr::from_bytes(b"v\xff")),
            );
            let found = output.json();
            assert_eq!(found["listeners"].as_array().unwrap().len(), 2, "{store}: {found:#}");
            // An abstract name with NULs (PostgreSQL text cannot hold one).
            assert_eq!(json["listeners"][1]["path"], "@srv\0\0x", "{store}: {json:#}");
            let output = util::run(util::porthole().args(["history", "--store", store]));
            assert!(!output.stdout.contains(['\x1b', '\0']), "{store}: {output:?}");
            assert!(output.stdout.contains("/run/s\\xff\\x1b[2J.sock"), "{store}: {output:?}");
            assert!(output.stdout.contains("@srv\\x00\\x00x"), "{store}: {output:?}");
        }
    }

    /// `--store` reads a PostgreSQL connection string as libpq does:
    /// `?port=` overrides the URL's own port, a keyword string is taken,
    /// the PG* variables fill what the text leaves out, and port 0 is one
    /// clear error.
    #[test]
    fn postgres_store_urls_are_read_the_way_libpq_reads_them() {
        let Some(database) = TestPostgres::start() else { return };
        let port = database.port.to_string();
        let location = StoreLocation::parse(&format!(
            "postgres://127.0.0.1/postgres?port={port}&user=postgres"
        ))
        .unwrap();
        let options = WriterOptions { host: "devbox".into(), ..WriterOptions::default() };
        let mut writer = store::open_writer(&location, &options).unwrap();
        writer.write_batch(&morning(5432)).unwrap();
        drop(writer);
        let stores: [(&str, Vec<(&str, &str)>); 4] = [
            (&*format!("postgres://localhost/postgres?port={port}&user=postgres"), vec![]),
            (&*format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"), vec![]),
            (
                "postgres:///postgres",
                vec![("PGHOST", "127.0.0.1"), ("PGPORT", &port), ("PGUSER", "postgres")],
            ),
            (
                "postgres://127.0.0.1",
                vec![("PGPORT", &port), ("PGUSER", "postgres"), ("PGDATABASE", "postgres")],
            ),
        ];
        for (store, env) in &stores {
            let output = util::run(
                util::porthole()
                    .args(["history", "--json", "--store", store])
                    .envs(env.iter().copied()),
            );
            assert_eq!(output.code, 0, "{store} {env:?}: {output:?}");
            assert!(
                !output.json()["listeners"].as_array().unwrap().is_empty(),
                "{store}: {output:?}"
            );
        }
        for (store, env, reason) in [
            ("postgres://127.0.0.1:0/postgres", vec![], "invalid port number: \"0\""),
            ("postgres://127.0.0.1/postgres?port=0", vec![], "invalid port number: \"0\""),
            ("host=127.0.0.1 port=0", vec![], "invalid port number: \"0\""),
            ("postgres://127.0.0.1/postgres", vec![("PGPORT", "0")], "PGPORT: invalid port number"),
        ] {
            // The recorder refuses it before it starts (bounded all the same).
            for command in [&["history", "--store", store][..], &["monitor", "--store", store]] {
                let mut bounded = Command::new("timeout");
                bounded.arg("30").arg(util::binary());
                util::scrub(&mut bounded);
                let output = util::run(bounded.args(command).envs(env.iter().copied()));
                assert_eq!(output.code, 2, "{command:?} {env:?}: {output:?}");
                assert_eq!(output.stderr.lines().count(), 1, "{command:?}: {output:?}");
                assert!(output.stderr.contains(reason), "{command:?}: {output:?}");
            }
        }
    }

    #[test]
    fn postgres_store_keeps_many_hosts_apart_and_together() {
        let Some(database) = TestPostgres::start() else { return };
        let location = StoreLocation::parse(&database.url()).unwrap();
        let options = |host: &str| WriterOptions { host: host.into(), ..WriterOptions::default() };
        let mut web1 = store::open_writer(&location, &options("web-1")).unwrap();
        for batch in morning(5432).chunks(400) {
            web1.write_batch(batch).unwrap();
        }
        // One writer per host: web-1 again is refused, web-2 is welcome.
        let Err(error) = store::open_writer(&location, &options("web-1")) else {
            panic!("second writer for web-1 opened");
        };
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
        assert!(
            error.to_string().contains("(host web-1; a machine that shares this host name needs its own --host NAME) is in use by another porthole monitor"),
            "{error}"
        );
        let mut web2 = store::open_writer(&location, &options("web-2")).unwrap();
        web2.write_batch(&[connection(
            1,
            "127.0.0.1:45000".parse().unwrap(),
            "127.0.0.1:5432".parse().unwrap(),
            T0 + 30 * MINUTE,
            Some(process(999, "ruby")),
            5000,
        )])
        .unwrap();

        let url = database.url();
        let output = util::run(util::porthole().args(["history", "5432", "--store", &url]));
        assert_eq!(output.code, 0, "{output:?}");
        let text = &output.stdout;
        assert!(text.contains("[web-1] Clients of 127.0.0.1:5432 (1,216 connections)"), "{text}");
        assert!(text.contains("[web-2] Clients of 127.0.0.1:5432 (1 connection)"), "{text}");
        assert!(
        text.contains("  python3 (pid 4411, user alice) connected 1,203 times, 2026-11-28 10:02–10:41, 2.1 MB"),
        "{text}"
    );
        let output = util::run(
            util::porthole()
                .args(["history", "5432", "--host", "web-2", "--json", "--store", &url]),
        );
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        let clients = json["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 1, "{json:#}");
        assert_eq!(clients[0]["process"]["name"], "ruby");
        assert_eq!(clients[0]["host"], "web-2");
        assert_eq!(
            clients[0]["process"]["argv"],
            serde_json::json!(["ruby", "--flag", "with space"])
        );
        assert_eq!(clients[0]["process"]["cmdline"], "ruby --flag with space");
        // The same answers as SQLite: listeners, windows, single connections.
        let output = util::run(util::porthole().args([
            "history",
            "5432",
            "--host",
            "web-1",
            "--since",
            "2026-11-28T10:15",
            "--until",
            "2026-11-28T10:16",
            "--each",
            "--process",
            "psql",
            "--jsonl",
            "--store",
            &url,
        ]));
        assert_eq!(output.code, 0, "{output:?}");
        assert_eq!(
            output.stdout.lines().filter(|l| l.contains("\"type\":\"connection\"")).count(),
            12,
            "{output:?}"
        );
        let output = util::run(util::porthole().args([
            "history",
            "5432",
            "--listeners",
            "--json",
            "--store",
            &url,
        ]));
        let json = output.json();
        assert_eq!(json["listeners"].as_array().unwrap().len(), 3, "{json:#}");
        assert_eq!(json["listeners"][0]["processes"][0]["pid"], 700);
        assert_eq!(json["losses"][0]["count"], 4);

        // Passwords never reach messages.
        let output = util::run(util::porthole().args([
            "history",
            "--store",
            &format!("postgres://postgres:hunter2@127.0.0.1:{}/nonexistent", database.port),
        ]));
        assert_eq!(output.code, 2, "{output:?}");
        assert!(!output.stderr.contains("hunter2") && output.stderr.contains("***"), "{output:?}");
    }

    /// Machines cloned from one image share a host name; the per-host
    /// writer lock refuses the second, naming `--host`, and with its own
    /// `--host` it records beside the first.
    #[test]
    fn machines_that_share_a_host_name_record_apart_with_host() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let monitor = |extra: &[&str]| {
            let mut command = util::porthole();
            command
                .args(["monitor", "--capture", "netlink", "--no-alerts", "--store", &url])
                .args(extra);
            command
        };
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut hosts = || -> Vec<String> {
            admin
                .query("SELECT name FROM porthole.hosts ORDER BY name", &[])
                .map(|rows| rows.iter().map(|row| row.get(0)).collect())
                .unwrap_or_default()
        };
        let here = store::local_host_name();
        let quiet = |mut command: Command| {
            command.stdout(Stdio::null()).stderr(Stdio::null());
            ChildGuard::spawn(&mut command)
        };
        let _first = quiet(monitor(&[]));
        assert!(util::eventually(Duration::from_secs(30), || hosts().contains(&here)), "{here}");

        let refused = run_bounded(&mut monitor(&[]));
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(refused.stderr.contains("needs its own --host NAME"), "{refused:?}");

        let mut second = quiet(monitor(&["--host", "clone-2"]));
        assert!(
            util::eventually(Duration::from_secs(30), || hosts().contains(&"clone-2".to_string())),
            "{:?}",
            hosts()
        );
        assert!(second.0.try_wait().unwrap().is_none(), "the second recorder keeps recording");

        // --host names a machine in a shared store only.
        let sqlite = tempfile::tempdir().unwrap();
        let sqlite = sqlite.path().join("history.sqlite");
        let output = util::porthole_run(&[
            "monitor",
            "--host",
            "clone-3",
            "--store",
            sqlite.to_str().unwrap(),
        ]);
        util::assert_usage_error(&output, "--host with SQLite");
        assert!(output.stderr.contains("PostgreSQL store"), "{output:?}");
        let output = util::porthole_run(&["monitor", "--host", "a\u{1b}[31m", "--store", &url]);
        util::assert_usage_error(&output, "--host with a control character");
        assert!(!output.stderr.contains('\u{1b}'), "{output:?}");
    }

    #[test]
    fn postgres_store_prunes_per_host_and_refuses_foreign_schemas() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute("CREATE SCHEMA porthole; CREATE TABLE porthole.notes (body text);")
            .unwrap();
        let location = StoreLocation::parse(&url).unwrap();
        let Err(error) = store::open_writer(&location, &WriterOptions::default()) else {
            panic!("opened")
        };
        assert!(matches!(error, StoreError::Foreign { .. }), "{error}");
        let output = util::run(util::porthole().args(["history", "--store", &url]));
        assert_eq!(output.code, 2, "{output:?}");
        assert!(output.stderr.contains("not a porthole history store"), "{output:?}");
        admin.batch_execute("DROP SCHEMA porthole CASCADE").unwrap();

        // Records older than --keep go at start; the hourly totals stay.
        let now = store::now_micros();
        let old = now - 8 * 86_400 * SECOND;
        let server: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        {
            let mut writer = store::open_writer(
                &location,
                &WriterOptions { host: "a".into(), ..WriterOptions::default() },
            )
            .unwrap();
            writer
                .write_batch(&[
                    connection(
                        1,
                        "127.0.0.1:40000".parse().unwrap(),
                        server,
                        old,
                        Some(process(1, "redis-cli")),
                        10,
                    ),
                    connection(
                        2,
                        "127.0.0.1:40001".parse().unwrap(),
                        server,
                        now,
                        Some(process(1, "redis-cli")),
                        10,
                    ),
                ])
                .unwrap();
        }
        store::open_writer(
            &location,
            &WriterOptions { host: "a".into(), ..WriterOptions::default() },
        )
        .unwrap();
        let output =
            util::run(util::porthole().args(["history", "6379", "--json", "--store", &url]));
        let json = output.json();
        assert_eq!(json["clients"][0]["connections"], 1, "{json:#}");
        assert_eq!(json["hourly"].as_array().unwrap().len(), 1, "{json:#}");
        assert_eq!(json["hourly"][0]["connections"], 1);
        assert_eq!(json["hourly"][0]["client_name"], "redis-cli");
    }

    /// A connection reported open and then ended is one row, ended, and
    /// counted once, whether the end comes in a later batch or in the same
    /// batch as the start (whose row is inserted with the batch's other new
    /// rows, after the updates).
    #[test]
    fn postgres_open_connections_end_in_one_row() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let server: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        let report = |cookie: u64, ended: bool, bytes: u64| {
            let MonitorEvent::Connection(mut record) = connection(
                cookie,
                "127.0.0.1:40000".parse().unwrap(),
                server,
                T0,
                Some(process(1, "redis-cli")),
                bytes,
            ) else {
                unreachable!("connection() makes connection events")
            };
            if !ended {
                record.ended_at = None;
                record.end = ConnectionEnd::Unknown;
            }
            MonitorEvent::Connection(record)
        };
        {
            let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
            writer.write_batch(&[report(1, false, 100)]).unwrap();
            writer
                .write_batch(&[report(1, true, 1000), report(2, false, 100), report(2, true, 500)])
                .unwrap();
        }
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let rows: Vec<(i64, bool, i64)> = admin
            .query(
                "SELECT cookie, ended_at IS NOT NULL, bytes_up + bytes_down
                 FROM porthole.connections ORDER BY cookie",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        assert_eq!(rows, [(1, true, 1000), (2, true, 500)]);
        let totals = admin
            .query_one(
                "SELECT sum(connections)::bigint, sum(bytes_up + bytes_down)::bigint FROM porthole.namespace_rollups",
                &[],
            )
            .unwrap();
        assert_eq!((totals.get::<_, i64>(0), totals.get::<_, i64>(1)), (2, 1500));
    }

    /// Bytes of the `porthole` tables on disk, indexes included.
    fn disk_bytes(admin: &mut postgres::Client) -> u64 {
        let row = admin
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'porthole' AND c.relkind = 'r'",
                &[],
            )
            .unwrap();
        row.get::<_, i64>(0) as u64
    }

    #[test]
    fn postgres_size_cap_prunes_oldest_first() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let cap: u64 = 2_000_000;
        let mut writer = store::open_writer(
            &location,
            &WriterOptions {
                host: "capped".into(),
                max_size: Some(cap),
                ..WriterOptions::default()
            },
        )
        .unwrap();
        let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let now = store::now_micros() - 3_600 * SECOND;
        let batches = 60u64;
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut largest = 0;
        for batch_index in 0..batches {
            let batch: Vec<MonitorEvent> = (0..1000u64)
                .map(|i| {
                    let cookie = batch_index * 1000 + i + 1;
                    connection(
                        cookie,
                        format!("127.0.0.1:{}", 20000 + i).parse().unwrap(),
                        server,
                        now + cookie as i64 * 1000,
                        Some(process(4411, "python3")),
                        100,
                    )
                })
                .collect();
            writer.write_batch(&batch).unwrap();
            largest = largest.max(disk_bytes(&mut admin));
        }
        // 60,000 rows take about 9 MB; the freed space is reused, so the
        // tables stay near the cap (one batch and the indexes' slack over).
        assert!(largest <= cap * 3 / 2, "tables grew to {largest} bytes, cap {cap}");
        let row = admin
            .query_one("SELECT count(*), min(cookie), max(cookie) FROM porthole.connections", &[])
            .unwrap();
        let (kept, oldest, newest): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert!(kept > 2_000 && kept < 30_000, "{kept} kept");
        // The newest survived, the oldest went, nothing in between.
        assert_eq!(newest, 60_000);
        assert_eq!(oldest, 60_000 - kept + 1, "{kept} kept");
        // The hourly totals still count every connection.
        let rolled: i64 = admin
            .query_one("SELECT sum(connections)::bigint FROM porthole.namespace_rollups", &[])
            .unwrap()
            .get(0);
        assert_eq!(rolled, 60_000);
        // And `porthole history` answers from what is kept.
        let output =
            util::run(util::porthole().args(["history", "5432", "--json", "--store", &url]));
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        let clients: u64 = json["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connections"].as_u64().unwrap())
            .sum();
        assert_eq!(clients, kept as u64, "{json:#}");
    }

    /// `--process` reaches past the 15-byte `comm` in PostgreSQL too.
    #[test]
    fn postgres_process_names_longer_than_comm_match_the_executable() {
        let Some(database) = TestPostgres::start() else { return };
        let location = StoreLocation::parse(&database.url()).unwrap();
        let options = WriterOptions { host: "web-1".into(), ..WriterOptions::default() };
        let mut writer = store::open_writer(&location, &options).unwrap();
        writer.write_batch(&long_named_events(5432)).unwrap();
        let url = database.url();
        let history = |args: &[&str]| {
            util::run(util::porthole().arg("history").args(args).args(["--store", &url]))
        };
        let output = history(&["5432", "--process", "postgres_exporter", "--json"]);
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        let clients = json["clients"].as_array().expect("clients");
        assert_eq!(clients.len(), 1, "{json}");
        assert_eq!(clients[0]["process"]["pid"], 915, "{json}");
        let output = history(&["5432", "--process", "monitoring-tools"]);
        assert_eq!(output.code, 1, "{output:?}");
        let output = history(&["5432", "--process", "postgres", "--listeners"]);
        assert_eq!(output.code, 0, "{output:?}");
        // An argument that is the name, never part of one.
        let output = history(&["5432", "--process", "with space", "--listeners"]);
        assert_eq!(output.code, 0, "{output:?}");
        let output = history(&["5432", "--process", "with", "--listeners"]);
        assert_eq!(output.code, 1, "{output:?}");
    }

    /// Notices a writer gives, collected.
    fn collect_notices() -> (store::Notices, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        let notices = store::Notices::new(move |line: &str| sink.lock().unwrap().push(line.into()));
        (notices, lines)
    }

    /// A store of [`numbered_batch`]`(1, 10)` in a new database: the
    /// database, its URL and location, and a connection to it as its
    /// owner; `None` (a skip) without PostgreSQL.
    fn store_of_ten() -> Option<(TestPostgres, String, StoreLocation, postgres::Client)> {
        let database = TestPostgres::start()?;
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
        writer.write_batch(&numbered_batch(1, 10)).unwrap();
        drop(writer);
        let admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        Some((database, url, location, admin))
    }

    /// `count` connections with cookies from `first`, one batch.
    fn numbered_batch(first: u64, count: u64) -> Vec<MonitorEvent> {
        let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        (first..first + count)
            .map(|cookie| {
                connection(
                    cookie,
                    format!("127.0.0.1:{}", 10_000 + cookie % 50_000).parse().unwrap(),
                    server,
                    store::now_micros(),
                    Some(process(4411, "python3")),
                    100,
                )
            })
            .collect()
    }

    /// Runs `work` on a thread of its own and fails the test when it has
    /// not returned within a minute, rather than hanging it.
    fn bounded<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(work());
        });
        receiver.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{what} hung"))
    }

    /// (connection rows, distinct cookies, store_backlog losses).
    fn stored(url: &str) -> (i64, i64, i64) {
        let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let row = admin
            .query_one(
                "SELECT count(*), count(DISTINCT cookie),
                    (SELECT coalesce(sum(count), 0)::bigint FROM porthole.losses
                     WHERE kind = 'store_backlog')
                 FROM porthole.connections",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    /// A server that stops answering mid-run (SIGSTOP: its kernel still
    /// acknowledges, so neither TCP_USER_TIMEOUT nor keepalives ever fire)
    /// once stalled the recorder for good. Now the stalled batch is given
    /// up on after the URL's connect_timeout with one notice, batches wait
    /// in a bounded queue (what does not fit is stored as a store_backlog
    /// loss), `history` gives up with one line and exit 2, and once the
    /// server runs again everything queued is written exactly once.
    #[test]
    fn a_stopped_postgres_server_stalls_neither_writer_nor_history() {
        let Some(database) = TestPostgres::start() else { return };
        let url = format!("{}?connect_timeout=2", database.url());
        let location = StoreLocation::parse(&url).unwrap();
        let (notices, lines) = collect_notices();
        let options = WriterOptions { host: "stalled".into(), notices, ..WriterOptions::default() };
        let mut writer = store::open_writer(&location, &options).unwrap();
        writer.write_batch(&numbered_batch(1, 100)).unwrap();
        assert_eq!(stored(&url), (100, 100, 0));

        database.freeze(true);
        // 60 batches of 1000: more than the queue holds.
        let batches = 60u64;
        let mut writer = bounded("writing to a stopped server", move || {
            for index in 0..batches {
                writer.write_batch(&numbered_batch(1000 + index * 1000, 1000)).unwrap();
            }
            writer
        });
        {
            let lines = lines.lock().unwrap();
            assert!(
                lines.iter().any(|l| l.contains("the server has not answered for 2s")),
                "{lines:?}"
            );
            assert!(lines.iter().any(|l| l.contains("newer ones are dropped")), "{lines:?}");
        }
        let output = run_bounded(util::porthole().args(["history", "--store", &url]));
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        assert!(output.stderr.contains("did not answer within 2s"), "{output:?}");

        database.freeze(false);
        writer.write_batch(&numbered_batch(900_000, 10)).unwrap();
        bounded("draining the queue", move || drop(writer));
        let (rows, distinct, lost) = stored(&url);
        assert_eq!(rows, distinct, "a batch was written twice");
        assert!(lost > 0, "the overflow was not counted");
        // Every connection recorded is either stored or counted as lost.
        assert_eq!(rows + lost, 100 + batches as i64 * 1000 + 10, "lost {lost}");
        let lines = lines.lock().unwrap();
        assert!(lines.iter().any(|l| l.contains("connected again")), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains("were not written")), "{lines:?}");
    }

    /// A role that may only write the tables (no CREATE on the database)
    /// records into a current store; it was refused with "permission
    /// denied for database" because opening always ran the schema's DDL.
    /// A role that may only read is refused as a recorder with a message
    /// naming the rights, and reads.
    #[test]
    fn postgres_roles_with_table_rights_only_record_and_read() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        drop(store::open_writer(&StoreLocation::parse(&url).unwrap(), &WriterOptions::default()));
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(
                "CREATE ROLE recorder LOGIN; CREATE ROLE watcher LOGIN;
                 REVOKE CREATE ON SCHEMA public FROM PUBLIC;
                 REVOKE CREATE ON DATABASE postgres FROM PUBLIC;
                 GRANT USAGE ON SCHEMA porthole TO recorder, watcher;
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA porthole TO recorder;
                 GRANT USAGE ON ALL SEQUENCES IN SCHEMA porthole TO recorder;
                 GRANT SELECT ON ALL TABLES IN SCHEMA porthole TO watcher;",
            )
            .unwrap();
        let as_role = |role: &str| {
            StoreLocation::parse(&format!("postgres://{role}@127.0.0.1:{}/postgres", database.port))
                .unwrap()
        };
        let options = WriterOptions { host: "least".into(), ..WriterOptions::default() };
        let mut writer = store::open_writer(&as_role("recorder"), &options)
            .unwrap_or_else(|e| panic!("a role with table rights cannot record: {e}"));
        writer.write_batch(&numbered_batch(1, 10)).unwrap();
        drop(writer);
        assert_eq!(stored(&url), (10, 10, 0));
        let Err(error) = store::open_writer(&as_role("watcher"), &options) else {
            panic!("a read-only role opened a writer");
        };
        let message = error.to_string();
        assert!(message.contains("permission denied for table hosts"), "{message}");
        assert!(
            message.contains("a recorder needs SELECT, INSERT, UPDATE and DELETE"),
            "{message}"
        );
        let output = util::run(util::porthole().args([
            "history",
            "5432",
            "--store",
            &as_role("watcher").to_string(),
        ]));
        assert_eq!(output.code, 0, "{output:?}");
    }

    /// Tables changed outside porthole (a column of another type, a column
    /// dropped): `history` and the recorder refuse the store with one line
    /// naming the table and column. A changed type once panicked both.
    #[test]
    fn postgres_tables_changed_outside_porthole_are_refused_not_misread() {
        let Some((_database, url, location, mut admin)) = store_of_ten() else { return };
        for (change, expected) in [
            (
                "ALTER TABLE porthole.connections ALTER COLUMN bytes_up TYPE numeric",
                "table porthole.connections: column bytes_up is numeric, porthole keeps bigint there",
            ),
            (
                "ALTER TABLE porthole.connections DROP COLUMN bytes_up",
                "table porthole.connections: column bytes_up is missing",
            ),
            ("DROP TABLE porthole.captures", "table porthole.captures: the table is missing"),
        ] {
            admin.batch_execute(change).unwrap();
            let output = util::run(util::porthole().args(["history", "--each", "--store", &url]));
            assert_eq!(output.code, 2, "{change}: {output:?}");
            assert_eq!(output.stderr.lines().count(), 1, "{change}: {output:?}");
            assert!(output.stderr.contains(expected), "{change}: {output:?}");
            let Err(error) = store::open_writer(&location, &WriterOptions::default()) else {
                panic!("{change}: the writer opened");
            };
            assert!(matches!(error, StoreError::Altered { .. }), "{change}: {error}");
        }
    }

    /// The database dropped under the recorder (`DROP DATABASE … WITH
    /// (FORCE)` ends its connection): the writer tries to connect again,
    /// then stops recording with the server's reason.
    #[test]
    fn a_database_dropped_under_the_recorder_stops_it_with_the_reason() {
        let Some(database) = TestPostgres::start() else { return };
        let mut admin = postgres::Client::connect(&database.url(), postgres::NoTls).unwrap();
        admin.batch_execute("CREATE DATABASE victim").unwrap();
        let url = format!("postgres://postgres@127.0.0.1:{}/victim", database.port);
        let location = StoreLocation::parse(&url).unwrap();
        let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
        writer.write_batch(&numbered_batch(1, 10)).unwrap();
        admin.batch_execute("DROP DATABASE victim WITH (FORCE)").unwrap();
        let mut cookie = 100;
        let mut message = None;
        let stopped = util::eventually(Duration::from_secs(30), || {
            cookie += 10;
            message = writer.write_batch(&numbered_batch(cookie, 10)).err().map(|e| e.to_string());
            message.is_some()
        });
        assert!(stopped, "the writer carried on into a dropped database");
        let message = message.unwrap_or_default();
        assert!(message.contains("database \"victim\" does not exist"), "{message}");
    }

    /// A question the server cannot answer (a table locked by someone
    /// else's transaction) once held `porthole history` for as long as the
    /// lock; the statement is now bounded (here by the URL's own
    /// `statement_timeout`, else 60 s) and the server's reason is shown.
    #[test]
    fn history_waits_on_a_locked_postgres_table_only_so_long() {
        let Some((_database, url, _, mut admin)) = store_of_ten() else { return };
        let mut locked = admin.transaction().unwrap();
        locked
            .batch_execute("LOCK TABLE porthole.listener_events IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let bounded_url = format!("{url}?options=-c%20statement_timeout%3D1000");
        let output = run_bounded(util::porthole().args(["history", "--store", &bounded_url]));
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        assert!(
            output.stderr.contains("canceling statement due to statement timeout"),
            "{output:?}"
        );
        locked.rollback().unwrap();
        let output = run_bounded(util::porthole().args(["history", "5432", "--store", &url]));
        assert_eq!(output.code, 0, "{output:?}");
    }

    /// A store a newer porthole wrote (schema version 4 here) is refused by
    /// `history` and the recorder with a message naming both versions, and
    /// left exactly as it was: never migrated down or written into.
    #[test]
    fn a_newer_postgres_store_is_refused_and_left_alone() {
        let Some((_database, url, location, mut admin)) = store_of_ten() else { return };
        admin.batch_execute("INSERT INTO porthole.schema_version VALUES (6)").unwrap();
        let snapshot = |admin: &mut postgres::Client| -> (Vec<i64>, i64) {
            let versions = admin
                .query("SELECT version FROM porthole.schema_version ORDER BY version", &[])
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            let rows = admin.query_one("SELECT count(*) FROM porthole.connections", &[]).unwrap();
            (versions, rows.get(0))
        };
        let before = snapshot(&mut admin);
        let expected = "has schema version 6, newer than this porthole knows (5); upgrade porthole";
        let output = run_bounded(util::porthole().args(["history", "--store", &url]));
        assert_eq!(output.code, 2, "{output:?}");
        assert!(output.stderr.contains(expected), "{output:?}");
        let Err(error) = store::open_writer(&location, &WriterOptions::default()) else {
            panic!("a writer opened a newer store");
        };
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(snapshot(&mut admin), before);
    }

    /// `IPV6_V6ONLY` in a shared store: a store of schema 1 (a recorder of
    /// an older porthole may still be writing it) is read as it is and
    /// left alone by `history`; the next recorder migrates it, and a real
    /// v6only listener it records is read back as IPv6 only.
    #[test]
    fn a_schema_1_postgres_store_is_migrated_and_keeps_v6only() {
        let Some((_database, url, _, mut admin)) = store_of_ten() else { return };
        admin
            .batch_execute(
                "ALTER TABLE porthole.listener_events DROP COLUMN v6only;
                 DROP TABLE porthole.namespace_rollups;
                 ALTER TABLE porthole.captures DROP COLUMN netns;
                 ALTER TABLE porthole.processes DROP COLUMN exe_deleted;
                 ALTER TABLE porthole.processes DROP COLUMN start_ticks;
                 DELETE FROM porthole.schema_version WHERE version > 1",
            )
            .unwrap();
        let output = run_bounded(util::porthole().args(["history", "5432", "--store", &url]));
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stdout.contains("connected 10 times"), "{output:?}");
        assert_eq!(schema_versions(&mut admin), vec![1], "a reader changes nothing");
        // A wildcard asks about every address of its family.
        let output =
            run_bounded(util::porthole().args(["history", "0.0.0.0:5432", "--store", &url]));
        assert!(output.stdout.contains("connected 10 times"), "{output:?}");
        let output = run_bounded(util::porthole().args(["history", "[::]:5432", "--store", &url]));
        assert_eq!(output.code, 1, "no IPv6 client: {output:?}");

        let Some((v6only, dual)) = record_v6only_and_dual_stack("netlink", &url) else { return };
        assert_eq!(schema_versions(&mut admin), vec![1, 2, 3, 4, 5]);
        assert_v6only_read_back(&url, v6only, dual);
        let output = run_bounded(util::porthole().args(["history", "5432", "--store", &url]));
        assert!(output.stdout.contains("connected 10 times"), "kept: {output:?}");
    }

    /// A shared store as porthole wrote it before schema 3 (rows of the
    /// recorder's own namespace unlabelled, hourly totals for every
    /// namespace together) is read as it is, then migrated by the next
    /// recorder: the open row its snapshot finds open is carried on under
    /// its namespace (still one row), the closed row stays unlabelled, and
    /// the old totals are read beside the new ones, per namespace.
    #[test]
    fn a_schema_2_postgres_store_is_read_then_migrated() {
        const OWN: u64 = 4026531833;
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let at = store::now_micros() - MINUTE;
        let open_record = |bytes: u64| {
            let MonitorEvent::Connection(mut record) = connection(
                7,
                "127.0.0.1:40007".parse().unwrap(),
                server,
                at,
                Some(process(4411, "python3")),
                bytes,
            ) else {
                unreachable!("connection() makes connection events")
            };
            record.ended_at = None;
            record.end = ConnectionEnd::Unknown;
            MonitorEvent::Connection(record)
        };
        // What a recorder of schema 2 left: unlabelled rows, one open.
        let old = WriterOptions { host: "old".into(), net_namespace: None, ..Default::default() };
        let mut writer = store::open_writer(&location, &old).unwrap();
        let closed = connection(8, "127.0.0.1:40008".parse().unwrap(), server, at, None, 100);
        writer.write_batch(&[open_record(10), closed]).unwrap();
        drop(writer);
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(
                "INSERT INTO porthole.rollups
                    SELECT hour, connections, bytes_up, bytes_down, server_port, host,
                           client_exe, client_name
                    FROM porthole.namespace_rollups;
                 DROP TABLE porthole.namespace_rollups;
                 ALTER TABLE porthole.captures DROP COLUMN netns;
                 ALTER TABLE porthole.processes DROP COLUMN exe_deleted;
                 ALTER TABLE porthole.processes DROP COLUMN start_ticks;
                 DELETE FROM porthole.schema_version WHERE version > 2",
            )
            .unwrap();
        let output =
            run_bounded(util::porthole().args(["history", "5432", "--json", "--store", &url]));
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        let clients = json["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 2, "{json:#}");
        assert!(clients.iter().all(|c| c["net_namespace"].is_null()), "{json:#}");
        assert_eq!(schema_versions(&mut admin), vec![1, 2], "a reader changes nothing");

        let new = WriterOptions { net_namespace: Some(OWN), ..old };
        let mut writer = store::open_writer(&location, &new).unwrap();
        let snapshot = MonitorEvent::OpenSnapshot(porthole::model::monitor::OpenSnapshot {
            at: store::now_micros(),
            booted_at: Some(at - MINUTE),
            scope: porthole::model::monitor::SnapshotScope::Own,
            open: vec![(7, None)],
            own_namespace: OWN,
            unique_cookies: true,
        });
        writer.write_batch(&[snapshot, open_record(30)]).unwrap();
        drop(writer);
        assert_eq!(schema_versions(&mut admin), vec![1, 2, 3, 4, 5]);
        let mut rows: Vec<(i64, Option<i64>, bool)> = admin
            .query("SELECT cookie, netns, ended_at IS NULL FROM porthole.connections", &[])
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        rows.sort_unstable();
        assert_eq!(rows, [(7, Some(OWN as i64), true), (8, None, false)]);
        let mut reader = store::open_reader(&location).unwrap();
        let query = porthole::model::history::HistoryQuery { limit: 10, ..Default::default() };
        let mut hourly: Vec<_> = reader
            .hourly(&query)
            .unwrap()
            .iter()
            .map(|h| (h.net_namespace, h.connections, h.bytes_client_to_server))
            .collect();
        hourly.sort_unstable();
        // The old totals (per client), and what the open connection moved
        // since.
        assert_eq!(hourly, [(None, 1, 1), (None, 1, 10), (Some(OWN), 0, 2)]);
    }

    /// The deleted flag in a shared store: a store of schema 3 (a recorder
    /// of an older porthole may still be writing it) is read as it is, its
    /// processes as not deleted; the next recorder migrates it and keeps
    /// the flag, which `history` shows as `ls` does.
    #[test]
    fn a_schema_3_postgres_store_is_migrated_and_keeps_the_deleted_flag() {
        let Some(database) = TestPostgres::start() else { return };
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let appeared = |at: UnixMicros, exe_deleted: bool| {
            let owner = ProcessIdentity { exe_deleted, ..process(880, "nginx") };
            listener(at, ListenerChange::Appeared, "127.0.0.1:8080", owner)
        };
        // Recent: older records would be pruned.
        let at = store::now_micros() - 10 * MINUTE;
        let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
        writer.write_batch(&[appeared(at, false)]).unwrap();
        drop(writer);
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(
                "ALTER TABLE porthole.processes DROP COLUMN exe_deleted;
                 ALTER TABLE porthole.processes DROP COLUMN start_ticks;
                 DELETE FROM porthole.schema_version WHERE version > 3",
            )
            .unwrap();
        let read = |args: &[&str]| {
            run_bounded(
                util::porthole()
                    .args(["history", "8080", "--listeners", "--store", &url])
                    .args(args),
            )
        };
        let output = read(&["--json"]);
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        assert_eq!(json["listeners"][0]["processes"][0]["exe_deleted"], false, "{json:#}");
        assert_eq!(schema_versions(&mut admin), vec![1, 2, 3], "a reader changes nothing");

        let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
        writer
            .write_batch(&[appeared(at + MINUTE, false), appeared(at + 2 * MINUTE, true)])
            .unwrap();
        drop(writer);
        assert_eq!(schema_versions(&mut admin), vec![1, 2, 3, 4, 5]);
        let rows = admin.query_one("SELECT count(*) FROM porthole.processes", &[]).unwrap();
        assert_eq!(rows.get::<_, i64>(0), 2, "the old row, and one for the deleted executable");
        let json = read(&["--json"]).json();
        let flags: Vec<&serde_json::Value> = json["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|listener| &listener["processes"][0]["exe_deleted"])
            .collect();
        assert_eq!(flags, [false, false, true], "{json:#}");
        let output = read(&[]);
        assert_eq!(output.stdout.matches("nginx (deleted) (pid 880").count(), 1, "{output:?}");
        assert_eq!(output.stdout.matches("nginx (pid 880").count(), 2, "{output:?}");
    }

    /// A server restarted mid-run ends every connection: the writer
    /// connects again and writes the batch that failed, nothing committed
    /// is lost and nothing is written twice.
    #[test]
    fn a_restarted_postgres_server_is_reconnected_to() {
        let Some(mut database) = TestPostgres::start() else { return };
        let url = database.url();
        let location = StoreLocation::parse(&url).unwrap();
        let (notices, lines) = collect_notices();
        let options =
            WriterOptions { host: "restarted".into(), notices, ..WriterOptions::default() };
        let mut writer = store::open_writer(&location, &options).unwrap();
        writer.write_batch(&numbered_batch(1, 100)).unwrap();
        database.restart();
        writer.write_batch(&numbered_batch(1000, 100)).unwrap();
        writer.write_batch(&numbered_batch(2000, 100)).unwrap();
        drop(writer);
        assert_eq!(stored(&url), (300, 300, 0));
        let lines = lines.lock().unwrap();
        assert!(lines.iter().any(|l| l.contains("connecting again")), "{lines:?}");
        // The writer lock was taken again: a second writer is refused.
        let _writer = store::open_writer(&location, &options).unwrap();
        assert!(matches!(store::open_writer(&location, &options), Err(StoreError::Locked { .. })));
    }
}

/// Runs `command`, killing it when it has not finished within a minute: a
/// store that blocks its reader must fail the test, not hang it.
fn run_bounded(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("porthole starts");
    let finished = util::eventually(Duration::from_secs(60), || {
        child.try_wait().expect("waiting for porthole").is_some()
    });
    if !finished {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("porthole output");
    assert!(finished, "porthole did not finish: {output:?}");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// [`run_bounded`] of a recorder into the store at `url` (netlink capture,
/// no alerts), for a store it is expected to refuse.
#[cfg(feature = "postgres")]
fn record_bounded(url: &str) -> Output {
    run_bounded(util::porthole().args([
        "monitor",
        "--capture",
        "netlink",
        "--no-alerts",
        "--store",
        url,
    ]))
}

/// A directory, a named pipe and a device given as the store: one line that
/// names what it is, exit 2, nothing created or changed, from the reader
/// and from the writer. A pipe once blocked `history` for good, and the
/// writer answered "disk I/O error" twice over.
#[test]
fn stores_that_are_not_files_are_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("history.sqlite");
    std::fs::create_dir(&directory).unwrap();
    let pipe = dir.path().join("pipe.sqlite");
    let made = Command::new("mkfifo").arg(&pipe).status().expect("mkfifo runs");
    assert!(made.success());
    for (path, kind) in [
        (directory.as_path(), "a directory"),
        (pipe.as_path(), "a named pipe"),
        (Path::new("/dev/null"), "a device"),
    ] {
        let output = run_bounded(util::porthole().args(["history", "5432", "--store"]).arg(path));
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        let expected = format!("porthole: --store '{}': is {kind}", path.display());
        assert!(output.stderr.starts_with(&expected), "{expected}: {output:?}");

        let Err(error) = store::open_writer(
            &StoreLocation::Sqlite(path.to_path_buf()),
            &WriterOptions::default(),
        ) else {
            panic!("{} opened as a store", path.display());
        };
        assert!(matches!(error, StoreError::NotAFile { .. }), "{error:?}");
    }
    // `porthole PORT` reads the same store for its History section: no wait,
    // no section.
    let output = run_bounded(util::porthole().arg("5432").env("PORTHOLE_STORE", &pipe));
    assert!(!output.stdout.contains("History"), "{output:?}");
    assert!(std::fs::read_dir(&directory).unwrap().next().is_none(), "the directory was written");
    let entries: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
}

/// [`filled_store`] of [`morning`] in a directory user nobody may enter
/// (and not write); `None` (a skip) when not root, which reading as
/// another user needs.
fn store_for_nobody() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    if !util::is_root() {
        util::skip("reading as another user needs root");
        return None;
    }
    let (dir, path) = filled_store(&morning(5432));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Some((dir, path))
}

/// `porthole history ARGS --store STORE` as user nobody.
fn history_as_nobody(args: &[&str], store: &std::path::Path) -> Output {
    util::run(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(util::binary())
            .arg("history")
            .args(args)
            .arg("--store")
            .arg(store),
    )
}

/// Store errors print their cause once: the whole chain is printed, and the
/// message already carries the cause.
#[test]
fn store_errors_say_their_cause_once() {
    let Some((_dir, path)) = store_for_nobody() else { return };
    let output = history_as_nobody(&["5432"], &path);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert_eq!(output.stderr.matches("may not read").count(), 1, "{output:?}");
    let said = format!("porthole: this user may not read {}: ", path.display());
    assert!(output.stderr.starts_with(&said), "{output:?}");
}

/// A readable copy of a store in a directory the reader may not write (SQLite
/// cannot create the WAL index beside it) is read as it is; while a `-wal`
/// file says it is being recorded, the reason is said instead.
#[test]
fn a_readable_store_in_a_read_only_directory_is_read() {
    use std::os::unix::fs::PermissionsExt;
    let Some((dir, path)) = store_for_nobody() else { return };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let as_nobody = || history_as_nobody(&["5432", "--listeners"], &path);
    let output = as_nobody();
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("postgres (pid 812, user alice)"), "{output:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let wal = dir.path().join("history.sqlite-wal");
    std::fs::write(&wal, b"").unwrap();
    std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = as_nobody();
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("is being recorded"), "{output:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// `[::ffff:127.0.0.1]:PORT` is 127.0.0.1: the recorder stores the IPv4
/// peers of dual-stack sockets as IPv4.
#[test]
fn ipv4_mapped_endpoints_ask_about_ipv4() {
    let (_dir, path) = filled_store(&morning(5432));
    let plain = history(&path, &["127.0.0.1:5432", "--json"]);
    let mapped = history(&path, &["[::ffff:127.0.0.1]:5432", "--json"]);
    assert_eq!(mapped.code, 0, "{mapped:?}");
    let clients = |output: &Output| output.json()["clients"].clone();
    assert_eq!(clients(&mapped), clients(&plain));
    assert_eq!(clients(&mapped).as_array().map(Vec::len), Some(3), "{}", mapped.stdout);
    // Another address still finds nothing.
    let other = history(&path, &["[::ffff:127.0.0.2]:5432", "--connections"]);
    assert_eq!(other.code, 1, "{other:?}");
}

/// A process whose name is longer than the kernel's 15-byte `comm`: the
/// executable's file name carries the whole name, in listeners, clients,
/// single connections and hourly totals; a directory name does not match.
fn long_named_events(port: u16) -> Vec<MonitorEvent> {
    let exporter = ProcessIdentity {
        name: "postgres_export".into(),
        exe: Some("/opt/monitoring-tools/bin/postgres_exporter".into()),
        ..process(915, "postgres_export")
    };
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    vec![
        listener(T0, ListenerChange::Appeared, &server.to_string(), process(812, "postgres")),
        connection(1, "127.0.0.1:40001".parse().unwrap(), server, T0 + MINUTE, Some(exporter), 100),
        connection(
            2,
            "127.0.0.1:40002".parse().unwrap(),
            server,
            T0 + MINUTE,
            Some(process(5120, "psql")),
            100,
        ),
    ]
}

#[test]
fn process_names_longer_than_comm_match_the_executable() {
    let (_dir, path) = filled_store(&long_named_events(5432));
    let output = history(&path, &["5432", "--process", "postgres_exporter", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let clients = json["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 1, "{json}");
    assert_eq!(clients[0]["process"]["pid"], 915, "{json}");
    let each = history(&path, &["5432", "--process", "postgres_exporter", "--each", "--json"]);
    assert_eq!(each.json()["connections"].as_array().map(Vec::len), Some(1), "{each:?}");
    // Part of a name still matches; a directory of the path does not.
    let output = history(&path, &["5432", "--process", "exporter", "--connections"]);
    assert_eq!(output.code, 0, "{output:?}");
    let output = history(&path, &["5432", "--process", "monitoring-tools"]);
    assert_eq!(output.code, 1, "{output:?}");
    // The listener's owner: comm and executable are both `postgres`.
    let output = history(&path, &["5432", "--process", "postgres", "--listeners"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// `--limit` larger than any store holds means "all of them"; it once
/// failed with SQLite's "datatype mismatch". A link-local address with its
/// zone asks about that address, not about every address of the port.
#[test]
fn huge_limits_and_zoned_addresses() {
    let (_dir, path) = filled_store(&morning(5432));
    let output = history(&path, &["5432", "--each", "--limit", "18446744073709551615", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.json()["connections"].as_array().map(Vec::len), Some(1216), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    let output = history(&path, &["[fe80::1%1]:5432", "--connections"]);
    assert_eq!(output.code, 1, "{output:?}");
}

/// The record ends where the recorder stopped: `porthole PORT` tells its
/// last word as the present only when the live listeners agree, and says
/// what the recorder did not see when they do not.
#[test]
fn port_history_is_checked_against_the_live_listeners() {
    let port = util::unique_port();
    let (listener_process, mut out) = util::python(
        "import socket, sys, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n\
         print('ready', flush=True); time.sleep(120)",
        &[&port.to_string()],
    );
    assert_eq!(util::wait_for_line(&mut out), "ready");
    let pid = listener_process.pid();
    let local = format!("127.0.0.1:{port}");
    let section = |events: &[MonitorEvent]| {
        let (_dir, path) = filled_store(events);
        let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", &path));
        assert_eq!(output.code, 0, "{output:?}");
        let text = output.stdout.split("\nHistory (UTC, from ").nth(1).map(str::to_string);
        text.unwrap_or_else(|| panic!("no History section: {output:?}"))
    };
    let started =
        |pid: u32| listener(T0, ListenerChange::Appeared, &local, process(pid, "python3"));
    let gone = |pid: u32| {
        listener(T0 + MINUTE, ListenerChange::Disappeared, &local, process(pid, "python3"))
    };

    // Recorded with this very process: the record is the present.
    let text = section(&[started(pid)]);
    assert!(
        text.contains(&format!("  listening since 2026-11-28 10:00:00: python3 (pid {pid},")),
        "{text}"
    );
    // Recorded with another process, which is gone.
    let text = section(&[started(pid + 100_000)]);
    assert!(text.contains("recorded listening since 2026-11-28 10:00:00 on"), "{text}");
    assert!(
        text.contains("another process holds it now, which the recorder did not see"),
        "{text}"
    );
    // Recorded as gone, listening now.
    let text = section(&[started(pid + 100_000), gone(pid + 100_000)]);
    assert!(text.contains(&format!("recorded gone 2026-11-28 10:01:00 on {local}")), "{text}");
    assert!(text.contains("listening again now, which the recorder did not see"), "{text}");
    assert!(!text.contains("free since"), "{text}");
    // Gone on another address of the port: that address is free.
    let other = listener(
        T0 + MINUTE,
        ListenerChange::Disappeared,
        &format!("127.0.0.2:{port}"),
        process(pid + 100_000, "python3"),
    );
    let text = section(&[started(pid), other]);
    assert!(text.contains(&format!("  127.0.0.2:{port} free since 2026-11-28 10:01:00")), "{text}");
}

/// A time copied from porthole's own JSON (microseconds, `Z`) or written
/// with its offset from UTC picks the same moment as the UTC form.
#[test]
fn times_from_json_and_with_offsets_are_accepted() {
    let (_dir, path) = filled_store(&morning(5432));
    let output = history(&path, &["5432", "--listeners", "--jsonl"]);
    let times: Vec<String> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["type"] == "listener")
        .map(|line| line["at"].as_str().expect("at").to_string())
        .collect();
    assert_eq!(times.len(), 3, "{output:?}");
    assert_eq!(times[1], "2026-11-28T09:59:00.000000Z");
    for since in [times[1].as_str(), "2026-11-28T10:59:00+01:00", "2026-11-28T09:59:00"] {
        let output = history(&path, &["5432", "--listeners", "--since", since, "--json"]);
        assert_eq!(output.code, 0, "{since}: {output:?}");
        assert_eq!(output.json()["listeners"].as_array().map(Vec::len), Some(2), "{since}");
    }
    let output = history(&path, &["5432", "--since", "20261128"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("write it as 2026-11-28"), "{output:?}");
}

/// An empty SQLite database (what `sqlite3 FILE` leaves, whatever its
/// version number) holds no history: it says so rather than asking for an
/// upgrade or naming a missing table, and is left as it is.
#[test]
fn an_empty_database_has_no_history_yet() {
    let dir = tempfile::tempdir().unwrap();
    for version in [0, 1] {
        let path = dir.path().join(format!("empty-{version}.sqlite"));
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.pragma_update(None, "user_version", version).unwrap();
        connection.execute_batch("CREATE TABLE t (x); DROP TABLE t;").unwrap();
        drop(connection);
        let before = std::fs::read(&path).unwrap();
        let output = history(&path, &["5432"]);
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(
            output.stderr,
            format!(
                "porthole: no history at {} yet: `porthole monitor --store {}` records it\n",
                path.display(),
                path.display()
            ),
            "{output:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

/// A PostgreSQL store that cannot be reached says why, once, without the
/// password.
#[cfg(feature = "postgres")]
#[test]
fn an_unreachable_postgres_store_says_why() {
    let port = util::unique_port();
    let url = format!("postgres://porthole:secret@127.0.0.1:{port}/history");
    let output = util::run(util::porthole().args(["history", "5432", "--store", &url]));
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert_eq!(output.stderr.matches("Connection refused").count(), 1, "{output:?}");
    assert!(!output.stderr.contains("secret"), "{output:?}");
}

/// Passwords typed with `/`, `?` or `@` in them unencoded, given twice, or
/// under a misspelt `Password=` (which the client refuses quoting the URL)
/// were shown in part or whole; no message of `history` or `monitor` shows
/// any of them now.
#[cfg(feature = "postgres")]
#[test]
fn passwords_in_odd_urls_never_reach_messages() {
    let port = util::unique_port();
    for url in [
        format!("postgres://porthole:se/cr@et@127.0.0.1:{port}/history"),
        format!("postgres://porthole:se?cret@127.0.0.1:{port}/history"),
        format!("postgres://127.0.0.1:{port}/history?user=u&Password=secret"),
        format!("postgres://127.0.0.1:{port}/history?password=secret&password=secret"),
    ] {
        let output = util::run(util::porthole().args(["history", "--json", "--store", &url]));
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        let shown =
            |text: &str| ["secret", "se/", "se?", "cr@", "@et"].iter().any(|p| text.contains(p));
        assert!(!shown(&output.stderr), "{output:?}");
        if util::is_root() {
            let output = record_bounded(&url);
            assert_eq!(output.code, 2, "{output:?}");
            // A URL libpq would refuse is refused before recording starts,
            // in the words `history` uses; the others fail to connect.
            let refused = output.stderr.starts_with("porthole: --store '");
            let unreachable = output.stderr.contains("opening the history store");
            assert!(refused || unreachable, "{output:?}");
            assert!(!shown(&output.stderr), "{output:?}");
        }
    }
}

/// A port that accepts and then says nothing (another service, a stopped
/// server, a proxy whose upstream is gone): `history` and `monitor` give up
/// after the URL's `connect_timeout` with one line naming the bound, where
/// both once waited for ever on the server's greeting.
#[cfg(feature = "postgres")]
#[test]
fn a_postgres_store_that_never_answers_is_given_up_on() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    // Accepts every connection and keeps it open without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let url = format!("postgres://porthole:secret@127.0.0.1:{port}/history?connect_timeout=2");
    let expected = format!(
        "porthole: postgres://porthole:***@127.0.0.1:{port}/history?connect_timeout=2: \
         the server did not answer within 2s"
    );
    let output = run_bounded(util::porthole().args(["history", "5432", "--store", &url]));
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.starts_with(&expected), "{output:?}");
    assert!(!output.stderr.contains("secret"), "{output:?}");
    if !util::is_root() {
        util::skip("recording needs root");
        return;
    }
    let output = record_bounded(&url);
    assert_eq!(output.code, 2, "{output:?}");
    let last = output.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("the server did not answer within 2s"), "{output:?}");
}

/// A port that flapped all day has more listener changes than a report
/// lists: the newest are shown (what the port does now, not what it did
/// at dawn) and the report says earlier ones were left out; so does a port
/// with more client groups than listed. Both were cut silently, the
/// listeners at the oldest end.
#[test]
fn cut_sections_keep_the_newest_listener_changes_and_say_so() {
    let changes = 10_005usize;
    let owner = process(640, "flappy");
    let mut events: Vec<MonitorEvent> = (0..changes)
        .map(|index| {
            let change =
                if index % 2 == 0 { ListenerChange::Appeared } else { ListenerChange::Disappeared };
            listener(T0 + index as i64 * SECOND, change, "127.0.0.1:7070", owner.clone())
        })
        .collect();
    let clients = 1_003u32;
    events.extend((0..clients).map(|index| {
        connection(
            u64::from(index) + 1,
            format!("127.0.0.1:{}", 30_000 + index).parse().unwrap(),
            "127.0.0.1:7070".parse().unwrap(),
            T0 + i64::from(index) * SECOND,
            Some(process(10_000 + index, &format!("client{index}"))),
            100,
        )
    }));
    let (_dir, path) = filled_store(&events);

    let output = history(&path, &["7070", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let listeners = json["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 10_000);
    assert_eq!(json["listeners_truncated"], true);
    // Oldest first, ending with the newest change recorded.
    // T0 + 10,004 s and T0 + 5 s.
    assert_eq!(listeners[9_999]["at"], "2026-11-28T12:46:44.000000Z", "{}", listeners[9_999]);
    assert_eq!(listeners[0]["at"], "2026-11-28T10:00:05.000000Z", "{}", listeners[0]);
    assert_eq!(json["clients"].as_array().expect("clients").len(), 1_000);
    assert_eq!(json["clients_truncated"], true);

    let output = history(&path, &["7070"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.contains(
            "  … earlier changes match too (the newest 10000 are shown); narrow --since/--until"
        ),
        "{}",
        output.stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    assert!(output.stdout.contains("  … less busy clients match too"), "{output:?}");

    // A window that holds them all says nothing was left out.
    let since = "2026-11-28T12:30:00Z"; // T0 + 9,000 s
    let output = history(&path, &["7070", "--listeners", "--json", "--since", since]);
    let json = output.json();
    assert_eq!(json["listeners"].as_array().expect("listeners").len(), changes - 9_000);
    assert_eq!(json["listeners_truncated"], false);
}

/// Binds UDP `127.0.0.1:PORT` and listens on the Unix socket `PATH`
/// (argv 1 and 2), until killed.
const UDP_AND_UNIX_LISTENERS: &str = r#"
import socket, sys, time
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", int(sys.argv[1])))
unix = socket.socket(socket.AF_UNIX)
unix.bind(sys.argv[2])
unix.listen()
print("ok", flush=True)
time.sleep(3600)
"#;

/// A real recorder keeps a UDP listener and a Unix one at a hostile path,
/// and `history PORT/udp` and `history unix:PATH` find them.
#[test]
fn a_recorded_udp_and_unix_listener_are_found_by_their_spelling() {
    let Some(netns) = util::Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let socket = dir.path().join("app\u{1b}[2Jx.sock");
    let socket = socket.to_str().unwrap();
    let port = util::unique_port();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store.to_str().unwrap()],
    );
    let (mut child, mut ready) =
        util::python_in(&netns, UDP_AND_UNIX_LISTENERS, &[&port.to_string(), socket]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let ours = |lines: &[serde_json::Value], change: &str| {
        crate::monitor::of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["change"] == change)
            .filter(|l| (l["protocol"] == "udp" && l["local_port"] == port) || l["path"] == socket)
            .count()
    };
    let appeared = monitor.wait_for(|lines| ours(lines, "appeared") >= 2);
    let _ = child.0.kill();
    let _ = child.0.wait();
    let gone = monitor.wait_for(|lines| ours(lines, "disappeared") >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(appeared && gone, "not seen coming and going:\n{}", crate::monitor::dump(&lines));

    let output = history(&store, &[&format!("{port}/udp"), "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let listeners = json["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2, "appeared and gone: {json:#}");
    assert!(
        listeners.iter().all(|l| l["protocol"] == "udp" && l["local_port"] == port),
        "{json:#}"
    );
    assert_eq!(history(&store, &[&format!("{port}/tcp")]).code, 1);

    let output = history(&store, &[&format!("unix:{socket}")]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains('\u{1b}'), "{output:?}");
    assert_eq!(output.stdout.matches("app\\x1b[2Jx.sock").count(), 3, "{output:?}");
    let json = history(&store, &[&format!("unix:{socket}"), "--json"]).json();
    let listeners = json["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2, "{json:#}");
    assert!(listeners.iter().all(|l| l["path"] == socket), "{json:#}");
}

/// Unix and UDP listeners are asked about as the rest of porthole spells
/// them: `unix:PATH` (as `wait` and `check`), `PORT/udp` and `PORT/tcp` (as
/// `who` and the audit). A hostile path is shown escaped; a bare path is no
/// port and the error gives the spelling.
#[test]
fn unix_and_udp_listeners_are_asked_about_by_their_spelling() {
    let path_name = "/run/app/\u{1b}[31mevil\nname.sock";
    let unix = |at: UnixMicros, socket: &str| {
        let mut event = listener(at, ListenerChange::Appeared, "127.0.0.1:1", process(900, "app"));
        if let MonitorEvent::Listener(listener) = &mut event {
            listener.protocol = Protocol::Unix;
            listener.family = Family::Unix;
            listener.local = None;
            listener.path = Some(socket.into());
            listener.scope = Scope::Local;
        }
        event
    };
    let mut udp = listener(T0, ListenerChange::Appeared, "127.0.0.1:5353", process(901, "mdns"));
    if let MonitorEvent::Listener(listener) = &mut udp {
        listener.protocol = Protocol::Udp;
    }
    let tcp = listener(T0, ListenerChange::Appeared, "127.0.0.1:5353", process(902, "web"));
    let client = connection(
        1,
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:5353".parse().unwrap(),
        T0 + SECOND,
        Some(process(903, "curl")),
        100,
    );
    let (_dir, path) = filled_store(&[unix(T0, path_name), unix(T0, "@other"), udp, tcp, client]);

    let typed = format!("unix:{path_name}");
    let output = history(&path, &[&typed]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains('\u{1b}'), "{output:?}");
    assert!(
        output.stdout.starts_with("History of unix:/run/app/\\x1b[31mevil\\nname.sock (UTC"),
        "{output:?}"
    );
    assert_eq!(output.stdout.matches("evil").count(), 2, "heading and row: {output:?}");
    assert!(!output.stdout.contains("@other"), "{output:?}");
    let json = history(&path, &[&typed, "--json"]).json();
    let listeners = json["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{json:#}");
    assert_eq!(listeners[0]["path"], path_name);
    assert_eq!((&json["protocol"], &json["path"]), (&"unix".into(), &path_name.into()));
    assert_eq!(history(&path, &["unix:@other", "--json"]).json()["listeners"][0]["path"], "@other");
    assert_eq!(history(&path, &["unix:/run/app/none.sock"]).code, 1);
    for bare in ["/run/app/app.sock", "@app", "./app.sock"] {
        let output = history(&path, &[bare]);
        assert_eq!(output.code, 2, "{bare}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{bare}: {output:?}");
        assert!(output.stderr.contains(&format!("written unix:{bare}")), "{bare}: {output:?}");
    }

    // The port of a transport: its listeners, and connections only for TCP
    // (the recorder records no other).
    let protocols = |args: &[&str]| -> (Vec<String>, usize) {
        let json = history(&path, &[args, &["--json"]].concat()).json();
        let listeners = json["listeners"].as_array().unwrap();
        let protocols = listeners.iter().map(|l| l["protocol"].as_str().unwrap().to_string());
        (protocols.collect(), json["clients"].as_array().unwrap().len())
    };
    assert_eq!(protocols(&["5353/udp"]), (vec!["udp".to_string()], 0));
    assert_eq!(protocols(&["127.0.0.1:5353/UDP"]), (vec!["udp".to_string()], 0));
    assert_eq!(protocols(&["5353/tcp"]), (vec!["tcp".to_string()], 1));
    assert_eq!(protocols(&["5353"]).0.len(), 2);
    let output = history(&path, &["5353/udp"]);
    assert!(output.stdout.starts_with("History of port 5353/udp (UTC"), "{output:?}");
    assert!(!output.stdout.contains("Clients"), "{output:?}");
}

#[test]
fn jsonl_says_when_connections_were_cut_at_the_limit() {
    let (_dir, path) = filled_store(&morning(5432));
    let output = history(&path, &["5432", "--connections", "--each", "--limit", "5", "--jsonl"]);
    assert_eq!(output.code, 0, "{output:?}");
    let lines: Vec<serde_json::Value> =
        output.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let types: Vec<&str> = lines.iter().map(|line| line["type"].as_str().unwrap()).collect();
    let connections = types.iter().filter(|kind| **kind == "connection").count();
    assert_eq!(connections, 5, "{output:?}");
    // Right after the last connection, as `--json` says with `truncated`.
    let last = types.iter().rposition(|kind| *kind == "connection").unwrap();
    assert_eq!(
        lines[last + 1],
        serde_json::json!({"type": "truncated", "section": "connections", "left_out": "newest"}),
        "{output:?}"
    );
    let json = history(&path, &["5432", "--connections", "--each", "--limit", "5", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["truncated"], true);
    // Nothing cut, nothing said.
    let output = history(&path, &["5432", "--connections", "--each", "--limit", "5000", "--jsonl"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains(r#""type":"truncated""#), "{output:?}");
    assert_eq!(output.stdout.matches(r#""type":"connection""#).count(), 1216, "{output:?}");
}

// ------------------------------------------------------- a large --each

/// `--each` of every connection of [`large_each_store`].
const LARGE_EACH: [&str; 5] = ["6543", "--connections", "--each", "--limit", "1000000"];

/// `count` connections to 127.0.0.1:6543, a millisecond apart, written
/// straight into a store; most of them by a named python3.
fn large_each_store(count: u64) -> (tempfile::TempDir, PathBuf, Vec<MonitorEvent>) {
    let server: SocketAddr = "127.0.0.1:6543".parse().unwrap();
    let python = process(4411, "python3");
    let events: Vec<MonitorEvent> = (0..count)
        .map(|i| {
            let client =
                SocketAddr::from(([127, 0, (i / 50_000) as u8, 1], 10_000 + (i % 50_000) as u16));
            let owner = (i % 7 != 0).then(|| python.clone());
            connection(i + 1, client, server, T0 + i as i64 * 1_000, owner, i * 37)
        })
        .collect();
    let (dir, path) = filled_store(&events);
    (dir, path, events)
}

/// 100,000 connections written straight into a store: `--each` in text,
/// `--json` and `--jsonl` says the same of every one, row for row, and a
/// reader that stops after one line (`| head -1`) ends the command quietly
/// with exit 0.
#[test]
fn a_large_each_says_the_same_in_every_format_and_stops_quietly() {
    use porthole::render::history::{bytes, process_label};
    const COUNT: u64 = 100_000;
    let (_dir, path, events) = large_each_store(COUNT);
    let each = LARGE_EACH;

    let json = history(&path, &[&each[..], &["--json"]].concat());
    assert_eq!(json.code, 0, "{}", json.stderr);
    let json = json.json();
    let wire = json["connections"].as_array().unwrap();
    assert_eq!(wire.len(), COUNT as usize);
    let jsonl = history(&path, &[&each[..], &["--jsonl"]].concat());
    assert_eq!(jsonl.code, 0, "{}", jsonl.stderr);
    let lines: Vec<serde_json::Value> = jsonl
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["type"] == "connection")
        .map(|mut line| {
            line.as_object_mut().unwrap().remove("type");
            line
        })
        .collect();
    assert_eq!(lines.len(), wire.len());
    for (line, record) in lines.iter().zip(wire) {
        assert_eq!(line, record);
    }

    let text = history(&path, &each);
    assert_eq!(text.code, 0, "{}", text.stderr);
    // Counted at the end: the rows were written as they came.
    assert!(text.stdout.contains("\nConnections\n"), "{}", &text.stdout[..500]);
    assert!(text.stdout.contains("\n  100,000 connections\n"), "{}", text.stdout.len());
    let rows: Vec<Vec<&str>> = text
        .stdout
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("TIME "))
        .skip(1)
        .take_while(|line| line.starts_with("  2"))
        .map(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(rows.len(), wire.len());
    for ((row, record), event) in rows.iter().zip(wire).zip(&events) {
        let MonitorEvent::Connection(event) = event else { unreachable!() };
        let started = record["started_at"].as_str().unwrap();
        let time = format!("{} {}", &started[..10], &started[11..19]);
        let client =
            format!("{}:{}", record["client_address"].as_str().unwrap(), record["client_port"]);
        let server =
            format!("{}:{}", record["server_address"].as_str().unwrap(), record["server_port"]);
        let sent = bytes(record["bytes_client_to_server"].as_u64().unwrap());
        let received = bytes(record["bytes_server_to_client"].as_u64().unwrap());
        let process = match &event.client_process {
            Some(process) => {
                assert_eq!(record["client_process"]["pid"], process.pid);
                process_label(process)
            }
            None => {
                assert!(record["client_process"].is_null(), "{record}");
                format!("unnamed (uid {})", record["client_uid"])
            }
        };
        let expected = [
            time.as_str(),
            "2ms",
            &client,
            &server,
            &sent,
            &received,
            record["end"].as_str().unwrap(),
            &process,
        ];
        assert_eq!(row.as_slice(), expected.as_slice(), "{record}");
    }

    // `| head -1`: one line read, the pipe closed.
    for format in [None, Some("--json"), Some("--jsonl")] {
        let mut command = util::porthole();
        command.arg("history").args(each).args(format).arg("--store").arg(&path);
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        assert!(!util::wait_for_line(&mut stdout).is_empty());
        drop(stdout);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{format:?}: {stderr}");
        assert!(stderr.is_empty(), "{format:?}: {stderr}");
    }
}

/// Runs porthole with `args`, its output thrown away, and returns its peak
/// resident memory in kB (`ru_maxrss` of the finished child).
const PEAK_MEMORY: &str = r#"
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"#;

/// `--each` streams: a reader has the first connection while porthole is
/// still writing (it has not written the end), and an answer of 100,000
/// connections takes about the memory of one of 10,000, in every format.
#[test]
fn a_large_each_is_streamed() {
    let (_dir, path, _) = large_each_store(100_000);
    let mut command = util::porthole();
    command.arg("history").args(LARGE_EACH).arg("--jsonl").arg("--store").arg(&path);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut child = ChildGuard(child);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let first = util::wait_for_line(&mut stdout);
    assert!(first.contains(r#""type":"connection""#), "{first}");
    // Some 40 MB are to follow, far more than a pipe holds: the writer
    // cannot be done while this reader waits.
    assert!(child.0.try_wait().unwrap().is_none(), "porthole ended after one line was read");
    let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
    assert_eq!(rest.len(), 99_999, "{:?}", rest.last());
    assert!(child.0.wait().unwrap().success());

    let peak = |limit: &str, format: Option<&str>| -> u64 {
        let mut command = Command::new(util::python_binary());
        command.args(["-c", PEAK_MEMORY]).arg(util::binary()).arg("history");
        command.args(&LARGE_EACH[..3]).args(["--limit", limit]).args(format);
        let output = util::run(command.arg("--store").arg(&path));
        assert_eq!(output.code, 0, "{output:?}");
        output.stdout.trim().parse().unwrap()
    };
    for format in [None, Some("--json"), Some("--jsonl")] {
        let (small, large) = (peak("10000", format), peak("100000", format));
        // Held rows would make the large answer several times the small.
        assert!(
            large < small + small / 2,
            "{format:?}: {small} kB for 10,000, {large} kB for 100,000"
        );
    }
}

// ------------------------------------------------------------- pid reuse

/// Pid 1 of a private PID and network namespace: starts the recorder
/// (argv 1, store argv 2), forks a listener on 127.0.0.1:PORT (argv 3) at a
/// pid forced through `ns_last_pid` right after a second begins (by the
/// kernel's clock of starts, `/proc/uptime`), keeps it for most of that
/// second, kills it and at once forks the next listener at the same pid:
/// two holders started within one second. A pair the recorder did not see
/// both of, or that straddles a second, is tried again at another pid.
/// Prints the pid of the pair, then `done`.
const PID_REUSE: &str = r#"
import json, os, signal, socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
recorder = subprocess.Popen(
    [sys.argv[1], "monitor", "--jsonl", "--capture", "netlink", "--no-alerts",
     "--interval", "100ms", "--store", sys.argv[2]], stdout=subprocess.PIPE, text=True)
port = int(sys.argv[3])
def started():
    for line in recorder.stdout:
        if json.loads(line)["type"] == "started":
            return
    sys.exit("the recorder stopped early")
def until(change, pid, ticks, seen):
    """Reads listener events into `seen` up to that of (change, pid, ticks)."""
    for line in recorder.stdout:
        event = json.loads(line)
        if event["type"] != "listener" or event.get("local_port") != port:
            continue
        for process in event["processes"]:
            key = (event["change"], process["pid"], process["start_ticks"])
            seen[key] = process
            if key == (change, pid, ticks):
                return
    sys.exit("the recorder stopped early")
def listen(pid):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))
    child = os.fork()
    if child == 0:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        signal.pause()
    assert child == pid, child
    with open(f"/proc/{child}/stat") as f:
        return child, int(f.read().rsplit(")", 1)[1].split()[19])
def stop(child):
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
def ticks():
    with open("/proc/uptime") as f:
        return round(float(f.read().split()[0]) * 100)
started()
for pid in range(4000, 7000, 100):
    while ticks() % 100 > 5:
        time.sleep(0.005)
    first, first_ticks = listen(pid)
    # Alive for most of its second, for the recorder's dumps (every
    # 100ms) to see it, then followed at once.
    while ticks() % 100 < 75 and ticks() // 100 == first_ticks // 100:
        time.sleep(0.005)
    stop(first)
    second, second_ticks = listen(pid)
    seen = {}
    until("appeared", pid, second_ticks, seen)
    stop(second)
    until("disappeared", pid, second_ticks, seen)
    if (first_ticks // 100 == second_ticks // 100
            and ("appeared", pid, first_ticks) in seen
            and ("disappeared", pid, first_ticks) in seen):
        break
else:
    sys.exit("no two holders started within one second")
recorder.send_signal(signal.SIGINT)
recorder.wait()
print(pid)
print("done", flush=True)
"#;

/// Two holders of a port with the same pid (a listener exited and its pid
/// went to the next one), both started within one second, are two holders:
/// `history` and the History section of `porthole PORT` name each with its
/// own start, told to the hundredth of a second.
#[test]
fn a_reused_pid_is_two_holders() {
    if !util::is_root() {
        util::skip("a private PID namespace and ns_last_pid need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let port = util::unique_port().to_string();
    let output = util::run(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--net", "--kill-child"])
            .arg(util::python_binary())
            .args(["-c", PID_REUSE])
            .arg(util::binary())
            .arg(&store)
            .arg(&port),
    );
    assert!(output.stdout.ends_with("\ndone\n"), "{output:?}");
    let pid: u64 = output.stdout.lines().next().unwrap().parse().unwrap();
    let json = history(&store, &[&port, "--json"]).json();
    let holders: Vec<&serde_json::Value> = json["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["processes"][0])
        .filter(|process| process["pid"] == pid)
        .collect();
    assert_eq!(holders.len(), 4, "{json:#}");
    // Appeared and gone of one and of the other (the second may have been
    // seen before the first was seen gone), within one second.
    let one = holders[0];
    let other = *holders.iter().find(|holder| **holder != one).expect("two holders");
    for holder in [one, other] {
        assert_eq!(holders.iter().filter(|h| **h == holder).count(), 2, "{json:#}");
    }
    assert_eq!(one["start_time"], other["start_time"], "{json:#}");
    assert_ne!(one["start_ticks"], other["start_ticks"], "{json:#}");
    let started = |holder: &serde_json::Value| {
        let time = holder["start_time"].as_str().unwrap();
        let hundredths = holder["start_ticks"].as_u64().unwrap() % 100;
        format!("pid {pid}, user root, started {} {}.{hundredths:02})", &time[..10], &time[11..19])
    };
    let text = history(&store, &[&port]).stdout;
    for holder in [one, other] {
        assert_eq!(text.matches(&started(holder)).count(), 2, "{text}");
    }
    let output = util::run(util::porthole().arg(&port).env("PORTHOLE_STORE", &store));
    let section = output.stdout.split("History (UTC").nth(1).unwrap_or_default();
    for holder in [one, other] {
        assert!(section.contains(&started(holder)), "{output:?}");
    }
}

// ------------------------------------------------------------- IPV6_V6ONLY

/// Listens on `[::]:FIRST` with `IPV6_V6ONLY` set and on `[::]:SECOND`
/// without (dual-stack), until killed.
const V6_LISTENERS: &str = r#"
import socket, sys, time
held = []
for port, v6only in ((int(sys.argv[1]), 1), (int(sys.argv[2]), 0)):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind(("::", port))
    s.listen()
    held.append(s)
print("ok", flush=True)
time.sleep(3600)
"#;

/// Records, with a real `porthole monitor --store STORE`, an `IPV6_V6ONLY`
/// `[::]` listener and a dual-stack one coming and going in a namespace of
/// their own; returns their ports (v6only, dual-stack).
fn record_v6only_and_dual_stack(capture: &str, store: &str) -> Option<(u16, u16)> {
    let netns = util::Netns::create()?;
    let (v6only, dual) = (util::unique_port(), util::unique_port());
    let monitor = crate::monitor::Monitor::start(
        None,
        &["--netns", "all", "--capture", capture, "--no-alerts", "--store", store],
    );
    let (mut child, mut ready) =
        util::python_in(&netns, V6_LISTENERS, &[&v6only.to_string(), &dual.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let changes = |lines: &[serde_json::Value], change: &str| {
        crate::monitor::of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["change"] == change)
            .filter(|l| l["local_port"] == v6only || l["local_port"] == dual)
            .count()
    };
    let appeared = monitor.wait_for(|lines| changes(lines, "appeared") >= 2);
    let _ = child.0.kill();
    let _ = child.0.wait();
    let gone = monitor.wait_for(|lines| changes(lines, "disappeared") >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(appeared && gone, "the listeners were not seen coming and going:\n{}", {
        crate::monitor::dump(&lines)
    });
    Some((v6only, dual))
}

/// `history PORT --listeners --json` of `store`, which answers.
fn recorded_listeners(store: &str, port: u16) -> serde_json::Value {
    let output = util::porthole_run(&[
        "history",
        &port.to_string(),
        "--listeners",
        "--json",
        "--store",
        store,
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    output.json()
}

/// What `history` reads back of [`record_v6only_and_dual_stack`]: the flag
/// in JSON and text, in the History section, and in which listeners an
/// IPv4 or IPv6 address of the port finds.
fn assert_v6only_read_back(store: &str, v6only: u16, dual: u16) {
    for (port, dual_stack, scope) in
        [(v6only, false, "wildcard (IPv6 only"), (dual, true, "wildcard+v4")]
    {
        let json = recorded_listeners(store, port);
        let listeners = json["listeners"].as_array().unwrap();
        assert_eq!(listeners.len(), 2, "{json:#}");
        for listener in listeners {
            assert_eq!(listener["local_address"], "::", "{listener}");
            assert_eq!(listener["dual_stack"], dual_stack, "{port}: {listener}");
        }
        let output =
            util::porthole_run(&["history", &port.to_string(), "--listeners", "--store", store]);
        assert_eq!(output.code, 0, "{output:?}");
        assert_eq!(output.stdout.matches(scope).count(), 2, "{port}: {output:?}");
        // IPv6 clients reach both; IPv4 clients only the dual-stack one.
        let output = util::porthole_run(&[
            "history",
            &format!("[::1]:{port}"),
            "--listeners",
            "--json",
            "--store",
            store,
        ]);
        assert_eq!(output.json()["listeners"].as_array().unwrap().len(), 2, "{output:?}");
        let output = util::porthole_run(&[
            "history",
            &format!("127.0.0.1:{port}"),
            "--listeners",
            "--json",
            "--store",
            store,
        ]);
        let found = output.json()["listeners"].as_array().unwrap().len();
        assert_eq!(found, if dual_stack { 2 } else { 0 }, "{port}: {output:?}");
        // All IPv4 addresses: a dual-stack `[::]` accepted on them too; one
        // with `IPV6_V6ONLY` did not. `[::]` is the listener itself.
        for (wildcard, expected) in [("0.0.0.0", if dual_stack { 2 } else { 0 }), ("[::]", 2)] {
            let output = util::porthole_run(&[
                "history",
                &format!("{wildcard}:{port}"),
                "--listeners",
                "--json",
                "--store",
                store,
            ]);
            assert_eq!(output.code, if expected > 0 { 0 } else { 1 }, "{port}: {output:?}");
            let found = output.json()["listeners"].as_array().map_or(0, Vec::len);
            assert_eq!(found, expected, "{wildcard}:{port}: {output:?}");
        }
    }
}

/// Reads back as the recorder saw it, in both capture modes: a v6only
/// `[::]` listener was read back as dual-stack (the store kept no flag),
/// and `history 127.0.0.1:PORT` listed it although no IPv4 client could
/// reach it. The History section of `porthole PORT` says which it was.
#[test]
fn a_v6only_listener_is_read_back_as_ipv6_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut captures = vec!["netlink"];
    if crate::monitor::ebpf_available() {
        captures.push("ebpf");
    }
    for capture in captures {
        let path = dir.path().join(format!("{capture}.sqlite"));
        let store = path.to_str().unwrap();
        let Some((v6only, dual)) = record_v6only_and_dual_stack(capture, store) else { return };
        assert_v6only_read_back(store, v6only, dual);
        let output =
            util::run(util::porthole().arg(v6only.to_string()).env("PORTHOLE_STORE", &path));
        let text = &output.stdout;
        assert!(
            // Recorded in the listeners' own namespace (`--netns all`).
            text.contains(&format!("on [::]:{v6only} (IPv6 only) in network namespace ")),
            "{capture}: {output:?}"
        );
    }
}

/// A store that a porthole of schema 1 wrote: read as it is (no flag, so
/// a `[::]` counts as dual-stack, the kernel's default), then migrated by
/// the next recorder without losing a row, after which the flag is kept.
#[test]
fn a_schema_1_store_is_read_then_migrated() {
    let port = util::unique_port();
    let v6_wildcard = |at: UnixMicros| {
        let MonitorEvent::Listener(mut event) =
            listener(at, ListenerChange::Appeared, &format!("[::]:{port}"), process(900, "envoy"))
        else {
            unreachable!("listener() makes listener events")
        };
        event.family = Family::Ipv6;
        event.scope = Scope::Wildcard;
        event.v6only = Some(true);
        MonitorEvent::Listener(event)
    };
    let (_dir, path) = filled_store(&[v6_wildcard(T0)]);
    let connection = rusqlite::Connection::open(&path).unwrap();
    // As schema 1 left it: the same tables without the column (and
    // without the totals per namespace of schema 3).
    connection
        .execute_batch(
            "ALTER TABLE listener_events DROP COLUMN v6only; DROP TABLE namespace_rollups;
             ALTER TABLE captures DROP COLUMN netns; ALTER TABLE processes DROP COLUMN exe_deleted;
             ALTER TABLE processes DROP COLUMN start_ticks; PRAGMA user_version = 1;",
        )
        .unwrap();
    let version = |connection: &rusqlite::Connection| -> i64 {
        connection.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    let output = history(&path, &[&format!("127.0.0.1:{port}"), "--listeners", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    assert_eq!(json["listeners"].as_array().unwrap().len(), 1, "{json:#}");
    assert!(json["listeners"][0]["dual_stack"].is_null(), "{json:#}");
    assert_eq!(version(&connection), 1, "a reader changes nothing");

    let location = StoreLocation::Sqlite(path.clone());
    let mut writer = store::open_writer(&location, &WriterOptions::default()).unwrap();
    writer.write_batch(&[v6_wildcard(T0 + MINUTE)]).unwrap();
    drop(writer);
    assert_eq!(version(&connection), store::SCHEMA_VERSION);
    let output = history(&path, &[&format!("[::1]:{port}"), "--listeners", "--json"]);
    let json = output.json();
    let listeners = json["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2, "{json:#}");
    assert!(listeners[0]["dual_stack"].is_null(), "{json:#}");
    assert_eq!(listeners[1]["dual_stack"], false, "{json:#}");
    let output = history(&path, &[&format!("127.0.0.1:{port}"), "--listeners", "--json"]);
    assert_eq!(output.json()["listeners"].as_array().unwrap().len(), 1, "{output:?}");
}

/// A Unix time copied from `date +%s` or a log: with `@` it is that moment
/// (in any `TZ`: times without an offset are UTC); without, it was read as
/// a span of 56 years, a window from 1970, and is now refused with the
/// form to use.
#[test]
fn unix_times_need_their_at_sign() {
    let port = util::unique_port();
    let (_dir, path) = filled_store(&morning(port));
    for zone in ["America/New_York", "Asia/Kolkata"] {
        let output = util::run(
            util::porthole()
                .args(["history", &port.to_string(), "--since", "@1795860000"])
                .args(["--until", "2026-11-28T11:00", "--store"])
                .arg(&path)
                .env("TZ", zone),
        );
        assert_eq!(output.code, 0, "{output:?}");
        assert!(
            output.stdout.contains(&format!(
                "History of port {port}, 2026-11-28 10:00:00 – 2026-11-28 11:00:00 (UTC"
            )),
            "{zone}: {output:?}"
        );
    }
    let output = history(&path, &[&port.to_string(), "--since", "1795860000"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(
        output.stderr,
        "porthole: --since '1795860000': looks like a Unix time: write it as @1795860000 (or a \
         span such as 2h)\n"
    );
}

/// Byte counts past 4 GiB (past `u32`), per connection and summed, are
/// kept and added up exactly, in the summary and the single connections.
#[test]
fn byte_counts_past_4_gib_add_up() {
    const FIVE_GIB: u64 = 5 << 30;
    let port = util::unique_port();
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let events: Vec<MonitorEvent> = (0..3)
        .map(|cookie| {
            let MonitorEvent::Connection(mut record) = connection(
                cookie + 1,
                format!("127.0.0.1:{}", 41_000 + cookie).parse().unwrap(),
                server,
                T0 + cookie as i64 * MINUTE,
                Some(process(4411, "rsync")),
                0,
            ) else {
                unreachable!("connection() makes connection records")
            };
            record.bytes_client_to_server = FIVE_GIB;
            record.bytes_server_to_client = FIVE_GIB + 1;
            MonitorEvent::Connection(record)
        })
        .collect();
    let (_dir, path) = filled_store(&events);
    let output = history(&path, &[&port.to_string(), "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    assert_eq!(json["clients"][0]["bytes_client_to_server"], 3 * FIVE_GIB, "{json:#}");
    assert_eq!(json["clients"][0]["bytes_server_to_client"], 3 * (FIVE_GIB + 1), "{json:#}");
    let output = history(&path, &[&port.to_string()]);
    // 3 × (5 GiB + 5 GiB + 1) = 32,212,254,723 bytes.
    assert!(
        output.stdout.contains("connected 3 times, 2026-11-28 10:00–10:02, 32.2 GB"),
        "{output:?}"
    );
    let output = history(&path, &[&port.to_string(), "--each", "--json"]);
    let json = output.json();
    assert_eq!(json["connections"][2]["bytes_server_to_client"], FIVE_GIB + 1, "{json:#}");
}

/// Listens on the port given and says "ok".
const NAMED_LISTENER: &str = r#"
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("ok", flush=True)
time.sleep(3600)
"#;

/// A process whose name is not UTF-8 (its executable's file name has a byte
/// `\xff`, which `/proc/PID/status` repeats) keeps its uid and user in the
/// record: the rest of `status` is read though its name line is not text.
#[test]
fn a_process_named_with_bytes_that_are_not_utf8_keeps_its_user() {
    use std::os::unix::ffi::OsStrExt;
    let Some(netns) = util::Netns::create() else { return };
    let python = Command::new("python3")
        .args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"])
        .output()
        .expect("python3 runs");
    let python = String::from_utf8(python.stdout).expect("a path").trim().to_string();
    let directory = tempfile::tempdir().expect("temp dir");
    let named = directory.path().join(std::ffi::OsStr::from_bytes(b"p\xffq"));
    std::fs::copy(&python, &named).expect("python copied");
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().expect("utf-8 path");
    let port = util::unique_port();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store],
    );
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &netns.name]).arg(&named);
    let (mut child, mut ready) = util::python_via(command, NAMED_LISTENER, &[&port.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let seen = monitor.wait_for(|lines| {
        crate::monitor::of_type(lines, "listener").iter().any(|l| l["local_port"] == port)
    });
    let (lines, stderr, code) = monitor.stop();
    let _ = child.0.kill();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "{}", crate::monitor::dump(&lines));
    let json = recorded_listeners(store, port);
    let process = &json["listeners"][0]["processes"][0];
    assert_eq!(process["name"], "p\u{fffd}q", "{json:#}");
    assert_eq!(process["uid"], 0, "{json:#}");
    assert_eq!(process["user"], "root", "{json:#}");
}

/// A listener a `--netns all` recorder saw in another namespace, still
/// listening there: `porthole PORT` here says where it was recorded and
/// how to look there instead of "not listening now … is it running?"; in
/// that namespace (by `--netns NAME` or from inside) it is listening.
#[test]
fn port_history_of_a_listener_in_another_namespace_is_not_blamed_on_the_recorder() {
    let Some(netns) = util::Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().expect("utf-8 path");
    let port = util::unique_port();
    let (_listener, mut ready) = util::python_in(&netns, NAMED_LISTENER, &[&port.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let monitor = crate::monitor::Monitor::start(
        None,
        &["--netns", "all", "--capture", "netlink", "--no-alerts", "--store", store],
    );
    let seen = monitor.wait_for(|lines| {
        crate::monitor::of_type(lines, "listener").iter().any(|l| l["local_port"] == port)
    });
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "{}", crate::monitor::dump(&lines));
    let history_section = |command: &mut Command| {
        let output = util::run(command.env("PORTHOLE_STORE", store));
        let text = output.stdout.clone();
        let at = text.find("History (UTC").unwrap_or_else(|| panic!("no History: {output:?}"));
        text[at..].to_string()
    };
    // Run by its path, by a user whose PATH does not find it.
    let here = history_section(util::porthole().arg(port.to_string()).env("PATH", "/usr/bin:/bin"));
    assert!(!here.contains("is it running"), "{here}");
    assert!(here.contains("in network namespace"), "{here}");
    // The command printed runs as printed, by that user, and looks there.
    let printed = util::printed_after(&here, "not looked in here (");
    let everywhere = printed.strip_suffix(" looks there too").unwrap_or_else(|| panic!("{here}"));
    assert!(everywhere.ends_with(&format!("porthole {port} --netns all")), "{here}");
    let user = format!("PATH=/usr/bin:/bin PORTHOLE_STORE='{store}' {everywhere}");
    let output = util::run_as_printed(&user, "");
    assert!(output.stdout.contains("\n  listening since"), "{everywhere}: {output:?}");
    let mut inside = netns.command(util::binary().to_str().expect("utf-8 path"));
    util::scrub(&mut inside);
    for there in [
        history_section(util::porthole().args([&port.to_string(), "--netns", &netns.name])),
        history_section(util::porthole().args([&port.to_string(), "--netns", "all"])),
        history_section(inside.arg(port.to_string())),
    ] {
        assert!(there.contains("  listening since"), "{there}");
        assert!(!there.contains("is it running"), "{there}");
    }
    // `history` says which namespace, as `--json` does.
    let json = util::porthole_run(&["history", &port.to_string(), "--json", "--store", store]);
    let inode = json.json()["listeners"][0]["net_namespace"].as_u64().expect("an inode");
    let text = util::porthole_run(&["history", &port.to_string(), "--store", store]);
    let header = text.stdout.lines().find(|l| l.contains("CHANGE")).unwrap_or_default();
    assert!(header.contains("NETNS"), "{}", text.stdout);
    let row = text.stdout.lines().find(|l| l.contains("listening")).unwrap_or_default();
    assert!(row.contains(&format!("  {inode}  ")), "{}", text.stdout);
}

/// A UDP service and a TCP one on the same port, recorded by a real
/// recorder: the TCP one stopped, the UDP one still runs. The History
/// section of `porthole PORT` names each listener's transport, and `-t`
/// and `-u` ask about one transport's past as about its present. (It used
/// to mix them unlabelled: `-t` told the UDP service's start as the TCP
/// port's, and `-u` listed TCP clients.)
#[test]
fn port_history_tells_a_udp_service_from_a_tcp_one() {
    let Some(netns) = util::Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().expect("utf-8 path");
    let socket = directory.path().join("beside.sock");
    let number = util::unique_port();
    let port = number.to_string();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store],
    );
    let (udp, mut ready) = util::python_in(
        &netns,
        UDP_AND_UNIX_LISTENERS,
        &[&port, socket.to_str().expect("utf-8 path")],
    );
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let (mut tcp, mut ready) = util::python_in(&netns, NAMED_LISTENER, &[&port]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let changes = |lines: &[serde_json::Value], protocol: &str, change: &str| {
        crate::monitor::of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == number)
            .filter(|l| l["protocol"] == protocol && l["change"] == change)
            .count()
    };
    let appeared = monitor.wait_for(|lines| {
        changes(lines, "udp", "appeared") + changes(lines, "tcp", "appeared") == 2
    });
    // A TCP client, which only the TCP service may have had.
    let connect =
        "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()";
    netns.run_ok("python3", &["-c", connect, &port]);
    let tcp_pid = tcp.pid();
    let _ = tcp.0.kill();
    let _ = tcp.0.wait();
    // The connection the server never accepted is recorded as its
    // listener closes.
    let gone = monitor.wait_for(|lines| {
        changes(lines, "tcp", "disappeared") == 1
            && !crate::monitor::connections_to(lines, number).is_empty()
    });
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(appeared && gone, "{}", crate::monitor::dump(&lines));
    let (tcp_holder, udp_holder) = (format!("pid {tcp_pid},"), format!("pid {},", udp.pid()));

    let section = |flags: &[&str]| {
        let output =
            netns.porthole_env(&[("PORTHOLE_STORE", store)], &[&[port.as_str()], flags].concat());
        let at = output.stdout.find("History (UTC").unwrap_or_else(|| panic!("{output:?}"));
        output.stdout[at..].to_string()
    };
    // Both: the TCP service is gone while the UDP one listens on.
    let both = section(&[]);
    let tcp_gone = format!("127.0.0.1:{port}/tcp free since");
    assert!(both.contains(&tcp_gone), "{tcp_gone}: {both}");
    let udp_listening = "listening 20";
    assert!(
        both.lines().any(|l| l.contains(udp_listening)
            && l.contains(&format!("127.0.0.1:{port}/udp"))
            && l.contains(&udp_holder)),
        "{both}"
    );
    // One transport: the other one's listener is neither named nor blamed.
    assert!(both.contains("most frequent clients"), "{both}");
    let tcp_only = section(&["-t"]);
    assert!(tcp_only.contains("free since"), "{tcp_only}");
    assert!(tcp_only.contains("most frequent clients"), "{tcp_only}");
    assert!(tcp_only.contains(&tcp_holder) && !tcp_only.contains(&udp_holder), "{tcp_only}");
    let udp_only = section(&["-u"]);
    let since = "listening since 20";
    assert!(
        udp_only.lines().nth(1).is_some_and(|l| l.contains(since)
            && l.contains(&format!("127.0.0.1:{port}/udp: "))
            && l.contains(&udp_holder)),
        "{udp_only}"
    );
    assert!(!udp_only.contains(&tcp_holder) && !udp_only.contains("/tcp"), "{udp_only}");
    assert!(!udp_only.contains("clients"), "UDP has no recorded clients: {udp_only}");
    drop(udp);
}

/// Runs `porthole ARGS…` as `nobody` (home `/nonexistent`, no
/// `XDG_STATE_HOME`: its own default store is not there, or is under
/// `state_home`) in a mount namespace of its own where `var_lib` is
/// `/var/lib`, so `/var/lib/porthole/` is the test's.
fn as_nobody_beside(var_lib: &Path, state_home: Option<&Path>, args: &[&str]) -> Output {
    let script = r#"mount --bind "$0" /var/lib && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@""#;
    let mut command = Command::new("unshare");
    util::scrub(&mut command);
    command.env_remove("XDG_STATE_HOME").env("HOME", "/nonexistent");
    if let Some(state_home) = state_home {
        command.env("XDG_STATE_HOME", state_home);
    }
    command.args(["--mount", "--propagation", "private", "sh", "-c", script]).arg(var_lib);
    util::run(command.args(args))
}

/// The command line between the first two backquotes of `line`.
fn quoted_command(line: &str) -> &str {
    line.split('`').nth(1).unwrap_or_else(|| panic!("a command in {line:?}"))
}

// `porthole history` (and `porthole PORT`'s History section) without root
// read the user's own `$XDG_STATE_HOME/porthole/` while the recorder's
// service writes `/var/lib/porthole/`: "no history yet", or no section at
// all. They now say where the record is and give the command that reads it,
// which runs as printed.
#[test]
fn a_user_is_told_where_the_recorders_store_is() {
    if !util::is_root() {
        util::skip("a mount namespace and another user need root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let port = util::unique_port();
    let var_lib = tempfile::tempdir().unwrap();
    std::fs::set_permissions(var_lib.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let system_dir = var_lib.path().join("porthole");
    let system = system_dir.join("history.sqlite");
    std::fs::create_dir(&system_dir).unwrap();
    let options = WriterOptions { host: "devbox".into(), ..WriterOptions::default() };
    let mut writer = store::open_writer(&StoreLocation::Sqlite(system.clone()), &options).unwrap();
    writer.write_batch(&morning(port)).unwrap();
    drop(writer);
    let readable = |on: bool| {
        let (directory, file) = if on { (0o755, 0o644) } else { (0o700, 0o600) };
        std::fs::set_permissions(&system_dir, std::fs::Permissions::from_mode(directory)).unwrap();
        std::fs::set_permissions(&system, std::fs::Permissions::from_mode(file)).unwrap();
    };
    let binary = util::binary();
    let port_text = port.to_string();
    let history = [binary.to_str().unwrap(), "history", &port_text, "--listeners"];

    // Readable: `--store` reads it, and the line given runs as printed.
    readable(true);
    let output = as_nobody_beside(var_lib.path(), None, &history);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("/var/lib/porthole/history.sqlite"), "{output:?}");
    let line = quoted_command(&output.stderr);
    assert!(line.ends_with("--store /var/lib/porthole/history.sqlite"), "{output:?}");
    let rerun = as_nobody_beside(var_lib.path(), None, &["sh", "-c", line]);
    assert_eq!(rerun.code, 0, "{line}: {rerun:?}");
    assert!(rerun.stdout.contains("postgres (pid 812, user alice)"), "{rerun:?}");

    // `porthole PORT`: its History section says so on one line.
    let output = as_nobody_beside(var_lib.path(), None, &[binary.to_str().unwrap(), &port_text]);
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.starts_with("porthole: no History section: "), "{output:?}");
    let line = quoted_command(&output.stderr);
    assert!(line.starts_with("PORTHOLE_STORE=/var/lib/porthole/history.sqlite "), "{output:?}");
    let rerun = as_nobody_beside(var_lib.path(), None, &["sh", "-c", line]);
    assert!(rerun.stdout.contains("History (UTC"), "{line}: {rerun:?}");

    // The user's own store exists and knows nothing of the port: the empty
    // answer stands (exit 1) and a line says where else to look.
    let state_home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(state_home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let own_dir = state_home.path().join("porthole");
    std::fs::create_dir(&own_dir).unwrap();
    let own = own_dir.join("history.sqlite");
    drop(store::open_writer(&StoreLocation::Sqlite(own.clone()), &options).unwrap());
    std::fs::set_permissions(&own_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = as_nobody_beside(var_lib.path(), Some(state_home.path()), &history);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(
        output.stderr.contains(&format!("nothing recorded in {}", own.display())),
        "{output:?}"
    );

    // `porthole dashboard` serving the user's own (missing) store says so
    // when it starts.
    let dashboard_home = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dashboard_home.path(), Some(65534), Some(65534)).unwrap();
    let dashboard = [
        "timeout",
        "-s",
        "INT",
        "3",
        binary.to_str().unwrap(),
        "dashboard",
        "--serve",
        "127.0.0.1:0",
    ];
    let output = as_nobody_beside(var_lib.path(), Some(dashboard_home.path()), &dashboard);
    let line = output.stderr.lines().find(|line| line.contains("no history at"));
    let line = line.unwrap_or_else(|| panic!("{output:?}"));
    assert!(
        quoted_command(line)
            .ends_with("dashboard --serve 127.0.0.1:0 --store /var/lib/porthole/history.sqlite"),
        "{output:?}"
    );

    // Not readable by the user: root reads it.
    readable(false);
    let output = as_nobody_beside(var_lib.path(), None, &history);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("which this user may not read"), "{output:?}");
    let line = quoted_command(&output.stderr);
    let rerun = as_root_beside(var_lib.path(), line);
    assert_eq!(rerun.code, 0, "{line}: {rerun:?}");
    assert!(rerun.stdout.contains("postgres (pid 812, user alice)"), "{rerun:?}");

    // Named by --store, or found through a HOME that is not the user's:
    // one line, and root's command line names the store (root's default
    // is another file, and sudo drops PORTHOLE_STORE).
    let store_text = "/var/lib/porthole/history.sqlite";
    let typed = [&history[..], &["--store", store_text]].concat();
    let variable = ["env", &format!("PORTHOLE_STORE={store_text}")];
    let from_variable = [&variable[..], &history[..]].concat();
    for args in [&typed, &from_variable] {
        let output = as_nobody_beside(var_lib.path(), None, args);
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        assert!(
            output.stderr.starts_with(&format!("porthole: this user may not read {store_text}: ")),
            "{output:?}"
        );
        let line = quoted_command(&output.stderr);
        assert_eq!(line.matches(" --store ").count(), 1, "{output:?}");
        let rerun = as_root_beside(var_lib.path(), line);
        assert_eq!(rerun.code, 0, "{line}: {rerun:?}");
        assert!(rerun.stdout.contains("postgres (pid 812, user alice)"), "{rerun:?}");
    }
}

/// Runs `line` (a command porthole printed, `sudo ` left off: the test
/// is root) in a mount namespace of its own where `var_lib` is `/var/lib`.
fn as_root_beside(var_lib: &Path, line: &str) -> Output {
    let as_root = line.strip_prefix("sudo ").unwrap_or(line);
    let mut rerun = Command::new("unshare");
    util::scrub(&mut rerun);
    rerun.args(["--mount", "--propagation", "private", "sh", "-c"]);
    rerun.arg(format!(r#"mount --bind "$0" /var/lib && exec {as_root}"#)).arg(var_lib);
    util::run(&mut rerun)
}

// ------------------------------------------------------ deleted executables

/// Listens on 127.0.0.1 (a port the kernel picks) and prints the port.
const OLD_BUILD: &str = "import socket, time\n\
                         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                         print(s.getsockname()[1], flush=True); time.sleep(3600)";

/// An old build still serving after an upgrade looked like the new one in
/// the history: a listener started from a copy of Python whose file is
/// deleted before the recorder sees it is recorded with the flag, shown
/// as `NAME (deleted)` by `history` and the History section of `porthole
/// PORT` as `ls` shows it, and carried as `exe_deleted` in `--json` and
/// `monitor --jsonl`. A name with an ESC sequence, a newline and a bidi
/// override is shown escaped before ` (deleted)`, and kept exact in JSON.
#[test]
fn a_listener_whose_executable_was_deleted_reads_as_deleted() {
    for (name, escaped) in
        [("old-build", "old-build"), ("\u{1b}[31mold\n\u{202e}x", "\\x1b[31mold\\n\\u202ex")]
    {
        a_deleted_executable_named(name, escaped);
    }
}

/// [`a_listener_whose_executable_was_deleted_reads_as_deleted`] for a copy
/// named `name`, which a terminal shows as `escaped`.
fn a_deleted_executable_named(name: &str, escaped: &str) {
    let Some(netns) = util::Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join(name);
    std::fs::copy(util::python_binary(), &copy).unwrap();
    let (server, mut ready) =
        util::python_via(netns.command(copy.to_str().unwrap()), OLD_BUILD, &[]);
    let port = util::wait_for_line(&mut ready);
    std::fs::remove_file(&copy).unwrap();
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().unwrap();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store_text],
    );
    let number: u16 = port.parse().unwrap();
    fn recorded(lines: &[serde_json::Value], port: u16) -> Option<&serde_json::Value> {
        crate::monitor::of_type(lines, "listener").into_iter().find(|l| l["local_port"] == port)
    }
    let seen = monitor.wait_for(|lines| recorded(lines, number).is_some());
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "the listener was not recorded:\n{}", crate::monitor::dump(&lines));
    let line = recorded(&lines, number).unwrap();
    assert_eq!(line["processes"][0]["pid"], server.pid(), "{line}");
    assert_eq!(line["processes"][0]["exe_deleted"], true, "--jsonl: {line}");

    let shown = format!("{escaped} (deleted) (pid {}", server.pid());
    let output = history(&store, &[&port, "--listeners"]);
    assert_eq!(output.code, 0, "{output:?}");
    crate::hostile::assert_terminal_safe("history --listeners", &output);
    assert!(output.stdout.contains(&shown), "{output:?}");
    let output = history(&store, &[&port, "--listeners", "--json"]);
    let json = output.json();
    let owner = &json["listeners"][0]["processes"][0];
    assert_eq!(owner["exe_deleted"], true, "{json:#}");
    assert_eq!(owner["name"], name, "{json:#}");
    let report = netns.porthole_env(&[("PORTHOLE_STORE", store_text)], &[&port]);
    crate::hostile::assert_terminal_safe("porthole PORT", &report);
    let history_line =
        report.stdout.lines().find(|line| line.trim_start().starts_with("listening since"));
    assert!(history_line.is_some_and(|line| line.contains(&shown)), "{report:?}");
}

/// Listens on 127.0.0.1 (a port the kernel picks) and prints the port;
/// once its executable (argument 1) is deleted, closes the listener and
/// listens on the same port again, as a service reloading in place does,
/// and prints `again`.
const UPGRADED_UNDER_IT: &str = "import os, socket, sys, time\n\
    def listen(port):\n    \
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n    \
        s.bind(('127.0.0.1', port)); s.listen(); return s\n\
    s = listen(0); port = s.getsockname()[1]\n\
    print(port, flush=True)\n\
    while os.path.exists(sys.argv[1]): time.sleep(0.01)\n\
    s.close(); s = listen(port)\n\
    print('again', flush=True); time.sleep(3600)";

/// The deleted flag was read only when a process was first seen: a
/// service whose executable an upgrade deleted while it ran was never
/// flagged. A listener it closes and opens again afterwards is recorded
/// with the flag, both going and coming, in `monitor --jsonl`, `history`
/// and `history --json`; its first appearance keeps the flag it had then.
fn an_executable_deleted_while_serving_is_flagged(capture: &str) {
    let Some(netns) = util::Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join("service");
    std::fs::copy(util::python_binary(), &copy).unwrap();
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().unwrap();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", capture, "--no-alerts", "--store", store_text],
    );
    let copy_text = copy.to_str().unwrap();
    let (server, mut ready) =
        util::python_via(netns.command(copy_text), UPGRADED_UNDER_IT, &[copy_text]);
    let port = util::wait_for_line(&mut ready);
    let number: u16 = port.parse().unwrap();
    let flags = |lines: &[serde_json::Value]| -> Vec<(String, bool)> {
        crate::monitor::of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == number)
            .map(|l| {
                let change = l["change"].as_str().unwrap_or_default().to_string();
                (change, l["processes"][0]["exe_deleted"] == true)
            })
            .collect()
    };
    if !monitor.wait_for(|lines| !flags(lines).is_empty()) {
        let (lines, stderr, _) = monitor.stop();
        panic!("the listener was not recorded:\n{}\n{stderr}", crate::monitor::dump(&lines));
    }
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(util::wait_for_line(&mut ready), "again");
    let expected = [
        ("appeared".to_string(), false),
        ("disappeared".to_string(), true),
        ("appeared".to_string(), true),
    ];
    let recorded = monitor.wait_for(|lines| flags(lines).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(recorded, "not every change was recorded:\n{}", crate::monitor::dump(&lines));
    assert_eq!(flags(&lines), expected, "{}", crate::monitor::dump(&lines));

    let output = history(&store, &[&port, "--listeners", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let stored: Vec<(String, bool)> = json["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let change = l["change"].as_str().unwrap_or_default().to_string();
            (change, l["processes"][0]["exe_deleted"] == true)
        })
        .collect();
    assert_eq!(stored, expected, "{json:#}");
    let output = history(&store, &[&port, "--listeners"]);
    assert_eq!(output.code, 0, "{output:?}");
    let shown = format!("service (deleted) (pid {}", server.pid());
    assert_eq!(output.stdout.matches(&shown).count(), 2, "{output:?}");
    assert!(output.stdout.contains(&format!("service (pid {}", server.pid())), "{output:?}");
}

#[test]
fn an_executable_deleted_while_serving_is_flagged_in_netlink_mode() {
    an_executable_deleted_while_serving_is_flagged("netlink");
}

#[test]
fn an_executable_deleted_while_serving_is_flagged_in_ebpf_mode() {
    if crate::monitor::ebpf_available() {
        an_executable_deleted_while_serving_is_flagged("ebpf");
    }
}

// ------------------------------------------------------ --process

/// A script run by its interpreter (`python3 /srv/app.py`) is named
/// `python3` and runs Python's executable: `--process app.py` found
/// nothing. An argument that is NAME, or a path ending in `/NAME`, now
/// matches; part of an argument does not (as `app` is no file name), and
/// the name and the executable's file name match as before.
#[test]
fn a_script_is_found_by_its_file_name() {
    let Some(netns) = util::Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("app.py");
    std::fs::write(&script, OLD_BUILD).unwrap();
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().unwrap();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store_text],
    );
    let run_script = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')";
    let (server, mut ready) =
        util::python_via(netns.command("python3"), run_script, &[script.to_str().unwrap()]);
    let port = util::wait_for_line(&mut ready);
    let number: u16 = port.parse().unwrap();
    let seen = monitor.wait_for(|lines| {
        crate::monitor::of_type(lines, "listener").iter().any(|l| l["local_port"] == number)
    });
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "the listener was not recorded:\n{}", crate::monitor::dump(&lines));
    let exe = std::fs::read_link(format!("/proc/{}/exe", server.pid())).unwrap();
    let exe_name = exe.file_name().unwrap().to_str().unwrap().to_string();
    for (name, found) in
        [("app.py", true), ("app", false), ("python3", true), (exe_name.as_str(), true)]
    {
        let output = history(&store, &[&port, "--listeners", "--process", name]);
        let code = if found { 0 } else { 1 };
        assert_eq!(output.code, code, "--process {name}: {output:?}");
        let pid = format!("(pid {}", server.pid());
        assert_eq!(output.stdout.contains(&pid), found, "--process {name}: {output:?}");
    }
}

// ------------------------------------------------------ programs

/// A client that stays: three connections to Redis (argument 1 is the
/// port), each a PING and its answer, then `done`, then it waits.
const STEADY_REDIS_CLIENT: &str = "import socket, sys, time\n\
    for _ in range(3):\n    \
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n    \
        s.sendall(b'PING\\r\\n'); s.recv(64); s.close()\n\
    print('done', flush=True); time.sleep(3600)";

/// Records, into `store`, a real Redis in a private namespace with one
/// client that stays (3 connections) and a shell loop of 20 `redis-cli
/// PING`, a new process for each connection. Returns the namespace (for
/// `porthole PORT` in it), the Redis port and the steady client's pid;
/// `None` (a skip) without eBPF capture, which names clients that live
/// shorter than a netlink scan.
pub(crate) fn record_a_loop_and_a_steady_client(store: &str) -> Option<(util::Netns, u16, u32)> {
    if !crate::monitor::ebpf_available() || !crate::audit::require("redis-server") {
        return None;
    }
    let netns = util::Netns::create()?;
    let port = util::unique_port();
    let port_text = port.to_string();
    let directory = tempfile::tempdir().unwrap();
    let mut redis = netns.command("redis-server");
    redis
        .args(["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(directory.path())
        .stdout(Stdio::null());
    let _redis = ChildGuard::spawn(&mut redis);
    let answers = || {
        let ping = netns.command("redis-cli").args(["-p", &port_text, "PING"]).output();
        ping.is_ok_and(|output| output.stdout.starts_with(b"PONG"))
    };
    assert!(util::eventually(Duration::from_secs(60), answers), "redis-server did not start");
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "ebpf", "--no-alerts", "--store", store],
    );
    let (steady, mut ready) = util::python_in(&netns, STEADY_REDIS_CLIENT, &[&port_text]);
    assert_eq!(util::wait_for_line(&mut ready), "done");
    let script = "for i in $(seq 20); do redis-cli -p \"$0\" PING >/dev/null || exit 1; done";
    netns.run_ok("sh", &["-c", script, &port_text]);
    let recorded =
        monitor.wait_for(|lines| crate::monitor::connections_to(lines, port).len() >= 3 + 20);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(recorded, "not every connection was recorded:\n{}", crate::monitor::dump(&lines));
    Some((netns, port, steady.pid()))
}

/// What `history` answers about [`record_a_loop_and_a_steady_client`]: by
/// default one line for the loop's program with its process count and
/// one for the steady client as before; `--by process` lists all 21
/// processes apart; JSON carries `processes` and `pids`.
fn assert_the_loop_is_one_program(store: &str, port: u16, steady: u32) {
    let endpoint = format!("127.0.0.1:{port}");
    let ask = |extra: &[&str]| {
        let mut args = vec!["history", endpoint.as_str(), "--connections", "--store", store];
        args.extend(extra);
        let output = util::porthole_run(&args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        output
    };
    let output = ask(&[]);
    let lines: Vec<&str> =
        output.stdout.lines().filter(|line| line.contains(" connected ")).collect();
    assert_eq!(lines.len(), 2, "{output:?}");
    let program = format!("redis-cli -p {port} PING (20 processes, pids ");
    assert!(lines[0].trim_start().starts_with(&program), "{output:?}");
    assert!(lines[0].contains(" connected 20 times, "), "{output:?}");
    let steady_line = format!("python3 (pid {steady}");
    assert!(lines[1].trim_start().starts_with(&steady_line), "{output:?}");
    assert!(lines[1].contains(" connected 3 times, "), "{output:?}");

    let json = ask(&["--json"]).json();
    let clients = json["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{json:#}");
    assert_eq!(clients[0]["process_count"], 20, "{json:#}");
    assert_eq!(clients[0]["connections"], 20, "{json:#}");
    assert_eq!(clients[0]["process"]["name"], "redis-cli", "{json:#}");
    let pids = clients[0]["pids"].as_array().unwrap();
    assert_eq!(pids.len(), 20, "distinct pids of the loop: {json:#}");
    assert!(pids.windows(2).all(|pair| pair[0].as_u64() < pair[1].as_u64()), "{json:#}");
    assert_eq!(
        (&clients[1]["process_count"], &clients[1]["pids"]),
        (&1.into(), &vec![steady].into())
    );

    let output = ask(&["--by", "process"]);
    let lines: Vec<&str> =
        output.stdout.lines().filter(|line| line.contains(" connected ")).collect();
    assert_eq!(lines.len(), 21, "{output:?}");
    assert_eq!(lines.iter().filter(|line| line.contains(" connected once, ")).count(), 20);
    assert!(lines[0].trim_start().starts_with(&steady_line), "{output:?}");
    let json = ask(&["--by", "process", "--json"]).json();
    let clients = json["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 21, "{json:#}");
    assert!(clients.iter().all(|client| client["process_count"] == 1), "{json:#}");
}

/// A cron job, a shell loop or a health check starts a new client for
/// every connection: `history` listed one "connected once" line per pid
/// and the program that kept connecting drowned. Its processes are now
/// one line, recorded for real into SQLite, and the History section of
/// `porthole PORT` counts its most frequent clients the same way.
#[test]
fn a_loop_of_short_clients_is_one_program() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().unwrap();
    let Some((netns, port, steady)) = record_a_loop_and_a_steady_client(store) else { return };
    assert_the_loop_is_one_program(store, port, steady);
    let report = netns.porthole_env(&[("PORTHOLE_STORE", store)], &[&port.to_string()]);
    let frequent: Vec<&str> = report
        .stdout
        .lines()
        .skip_while(|line| !line.contains("most frequent clients"))
        .skip(1)
        .take(2)
        .collect();
    let program = format!("redis-cli -p {port} PING (20 processes, pids ");
    assert!(frequent.first().is_some_and(|line| line.contains(&program)), "{report:?}");
    assert!(frequent[0].contains("20 connections"), "{report:?}");
    assert!(frequent[1].contains(&format!("python3 (pid {steady}")), "{report:?}");
}

/// [`a_loop_of_short_clients_is_one_program`] recorded into PostgreSQL.
#[cfg(feature = "postgres")]
#[test]
fn a_loop_of_short_clients_is_one_program_in_postgres() {
    let Some(database) = postgresql::TestPostgres::start() else { return };
    let url = database.socket_url();
    let Some((_netns, port, steady)) = record_a_loop_and_a_steady_client(&url) else { return };
    assert_the_loop_is_one_program(&url, port, steady);
}

/// A recorder that ran for longer than `--keep` while a service listened
/// throughout: its "appeared" is older than the records kept, and is kept
/// anyway, as it is the only record of who holds the port. A listener that
/// went away, and one that closed while no recorder ran (a later recorder
/// start did not see it), go with the rest. (Retention used to delete the
/// start of every listener older than `--keep`, so after a week of
/// recording `porthole PORT` and `history` no longer knew the service.)
fn assert_a_listener_outlives_keep(store: &str) {
    let port = util::unique_port();
    let (server, mut ready) = util::python(NAMED_LISTENER, &[&port.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let now = store::now_micros();
    let hours_ago = |hours: i64| now - hours * 60 * MINUTE;
    let started = |at| MonitorEvent::Started {
        at,
        mode: CaptureMode::Netlink,
        reason: "netlink capture requested".into(),
    };
    let local = |port: u16| format!("127.0.0.1:{port}");
    let (gone, unseen) = (port.wrapping_add(1), port.wrapping_add(2));
    let serving = process(server.pid(), "python3");
    let events = [
        started(hours_ago(5)),
        listener(hours_ago(5) + SECOND, ListenerChange::Appeared, &local(port), serving.clone()),
        listener(
            hours_ago(5) + SECOND,
            ListenerChange::Appeared,
            &local(gone),
            process(901, "old"),
        ),
        listener(
            hours_ago(5) + SECOND,
            ListenerChange::Appeared,
            &local(unseen),
            process(902, "x"),
        ),
        listener(hours_ago(4), ListenerChange::Disappeared, &local(gone), process(901, "old")),
        // A restart records every listener there again.
        started(hours_ago(3)),
        listener(hours_ago(3) + SECOND, ListenerChange::Appeared, &local(port), serving),
    ];
    let location = StoreLocation::parse(store).expect("a store");
    let options = WriterOptions { keep: Duration::from_secs(3600), ..WriterOptions::default() };
    store::open_writer(&location, &options).expect("writer").write_batch(&events).unwrap();
    // Opening the writer again prunes.
    drop(store::open_writer(&location, &options).expect("writer"));

    let output =
        util::run(util::porthole().args(["history", "--listeners", "--json", "--store", store]));
    let json = output.json();
    let listeners = json["listeners"].as_array().unwrap_or_else(|| panic!("{output:?}"));
    let kept: Vec<(u64, &str)> = listeners
        .iter()
        .map(|l| {
            (l["local_port"].as_u64().unwrap_or_default(), l["at"].as_str().unwrap_or_default())
        })
        .collect();
    let restarted = porthole::render::monitor::rfc3339(hours_ago(3) + SECOND);
    assert_eq!(kept, [(u64::from(port), restarted.as_str())], "{json:#}");
    if let StoreLocation::Sqlite(path) = &location {
        let output = util::run(util::porthole().arg(port.to_string()).env("PORTHOLE_STORE", path));
        let history =
            output.stdout.split("\nHistory (UTC").nth(1).unwrap_or_else(|| panic!("{output:?}"));
        // 2026-12-01T04:20:00.123456Z as the text writes it.
        let since = format!("listening since {}:", restarted[..19].replace('T', " "));
        assert!(history.contains(&since), "{since}: {output:?}");
        assert!(history.contains(&format!("(pid {},", server.pid())), "{output:?}");
    }
}

#[test]
fn a_listener_outlives_keep() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    assert_a_listener_outlives_keep(store.to_str().expect("utf-8 path"));
}

#[test]
fn a_listener_outlives_keep_in_postgres() {
    let Some(database) = postgresql::TestPostgres::start() else { return };
    assert_a_listener_outlives_keep(&database.socket_url());
}

/// One recording written into SQLite and into PostgreSQL reads back the
/// same from both, in every form: order, counts, byte totals past 4 GB,
/// times, an open connection, a UDP listener beside the TCP one, a
/// listener of another namespace and text to escape. Only `host` differs
/// in JSON: a PostgreSQL store names the machine of every row, a SQLite
/// store (one machine's) none.
#[test]
fn one_recording_reads_the_same_from_sqlite_and_postgres() {
    let Some(database) = postgresql::TestPostgres::start() else { return };
    let url = database.socket_url();
    let mut events = morning(5432);
    let MonitorEvent::Listener(mut udp) =
        listener(T0, ListenerChange::Appeared, "127.0.0.1:5432", process(900, "dns\u{1b}x"))
    else {
        unreachable!("listener() builds a listener event")
    };
    udp.protocol = Protocol::Udp;
    udp.inode = 4242;
    events.push(MonitorEvent::Listener(udp.clone()));
    udp.net_namespace = Some(4_026_532_999);
    events.push(MonitorEvent::Listener(udp));
    let server = "[::1]:5432".parse().unwrap();
    let client = "[::1]:41000".parse().unwrap();
    let at = T0 + 30 * MINUTE;
    if let MonitorEvent::Connection(mut open) =
        connection(7000, client, server, at, Some(process(77, "psql")), 5_000_000_000)
    {
        open.ended_at = None;
        open.end = ConnectionEnd::Unknown;
        events.push(MonitorEvent::Connection(open));
    }
    // Two programs that served port 7000 one after the other.
    let served = "127.0.0.1:7000".parse().unwrap();
    let servers = [process(901, "app-a"), process(901, "app-a"), process(902, "app-b")];
    for (i, server) in (0..).zip(servers) {
        let client = format!("127.0.0.1:{}", 42000 + i).parse().unwrap();
        let at = T0 + (10 + i) * MINUTE;
        let psql = Some(process(77, "psql"));
        if let MonitorEvent::Connection(mut record) =
            connection(8000 + i as u64, client, served, at, psql, 100)
        {
            record.server_process = Some(server);
            events.push(MonitorEvent::Connection(record));
        }
    }
    let (_dir, sqlite) = filled_store(&events);
    let options = WriterOptions { host: "devbox".into(), ..WriterOptions::default() };
    let mut writer = store::open_writer(&StoreLocation::parse(&url).unwrap(), &options).unwrap();
    for batch in events.chunks(500) {
        writer.write_batch(batch).unwrap();
    }
    drop(writer);
    let sqlite = sqlite.to_str().expect("utf-8 path");
    let questions: [&[&str]; 14] = [
        &["7000"],
        &["7000", "--json"],
        &["7000", "--each"],
        &["7000", "--by", "process", "--jsonl"],
        &[],
        &["5432"],
        &["5432", "--json"],
        &["5432", "--jsonl"],
        &["5432", "--each", "--jsonl"],
        &["5432", "--each"],
        &["5432", "--by", "process"],
        &["5432/udp"],
        &["[::1]:5432", "--json"],
        &[
            "--process",
            "psql",
            "--since",
            "2026-11-28T10:15",
            "--until",
            "2026-11-28T10:16",
            "--each",
        ],
    ];
    for question in questions {
        let answer = |store: &str| {
            let output =
                util::run(util::porthole().arg("history").args(question).args(["--store", store]));
            let stdout = output.stdout.replace(store, "STORE");
            (
                output.code,
                output.stderr,
                stdout
                    .replace("\"host\":\"devbox\"", "\"host\":null")
                    .replace("\"host\": \"devbox\"", "\"host\": null"),
            )
        };
        let (from_sqlite, from_postgres) = (answer(sqlite), answer(&url));
        if question == ["7000"] {
            let served = from_sqlite.2.matches(" served by app-").count();
            assert_eq!(served, 2, "{from_sqlite:?}");
        }
        assert!(
            from_sqlite == from_postgres,
            "{question:?}:\nSQLite:\n{from_sqlite:?}\nPostgreSQL:\n{from_postgres:?}"
        );
        assert!(from_sqlite.0 != 2, "{question:?}: {from_sqlite:?}");
    }
}

/// A server that answers each connection with the line it read, until the
/// client closes: it holds the server end while the connection lasts.
const ECHO_ONCE_SERVER: &str = r#"
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    connection.sendall(connection.recv(64))
    connection.recv(64)
    connection.close()
"#;

/// Records, into `store`, two programs that served one port one after the
/// other in a private namespace (copies of python named `app-a` and
/// `app-b`): two clients of `app-a`, then one of `app-b`. Returns the port
/// and the two servers' pids.
fn record_two_servers_one_after_the_other(store: &str) -> Option<(u16, u32, u32)> {
    let netns = util::Netns::create()?;
    let directory = tempfile::tempdir().unwrap();
    let port = util::unique_port();
    let port_text = port.to_string();
    let monitor = crate::monitor::Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--no-alerts", "--store", store],
    );
    let appeared = |lines: &[serde_json::Value]| {
        crate::monitor::of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == port && l["change"] == "appeared")
            .count()
    };
    let connect = "import socket, sys\n\
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
        s.sendall(b'hello'); s.recv(64); s.close()";
    let mut pids = Vec::new();
    for (name, clients) in [("app-a", 2), ("app-b", 1)] {
        let copy = directory.path().join(name);
        std::fs::copy(util::python_binary(), &copy).unwrap();
        let command = netns.command(copy.to_str().unwrap());
        let (mut server, mut ready) = util::python_via(command, ECHO_ONCE_SERVER, &[&port_text]);
        assert_eq!(util::wait_for_line(&mut ready), "ok");
        let served = pids.len() + 1;
        assert!(monitor.wait_for(|lines| appeared(lines) == served), "{name} was not seen");
        for _ in 0..clients {
            netns.run_ok("python3", &["-c", connect, &port_text]);
        }
        let total = if served == 1 { 2 } else { 3 };
        let recorded =
            monitor.wait_for(|lines| crate::monitor::connections_to(lines, port).len() == total);
        assert!(recorded, "the clients of {name} were not recorded");
        pids.push(server.pid());
        let _ = server.0.kill();
        let _ = server.0.wait();
    }
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let servers: Vec<_> = crate::monitor::connections_to(&lines, port)
        .iter()
        .map(|c| c["server_process"]["pid"].as_u64())
        .collect();
    let expected = [pids[0], pids[0], pids[1]].map(|pid| Some(u64::from(pid)));
    assert_eq!(servers, expected, "{}", crate::monitor::dump(&lines));
    Some((port, pids[0], pids[1]))
}

/// What `history` answers about [`record_two_servers_one_after_the_other`]:
/// a group of clients per server program, each naming its server, in the
/// order they served; `--each` names each connection's server; JSON
/// carries `server_process` on each group.
fn assert_two_servers_are_two_groups(store: &str, port: u16, first: u32, second: u32) {
    let endpoint = format!("127.0.0.1:{port}");
    let ask = |extra: &[&str]| {
        let mut args = vec!["history", endpoint.as_str(), "--connections", "--store", store];
        args.extend(extra);
        let output = util::porthole_run(&args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        output
    };
    for by in ["program", "process"] {
        let output = ask(&["--by", by]);
        let headers: Vec<&str> =
            output.stdout.lines().filter(|line| line.starts_with("Clients of ")).collect();
        assert_eq!(headers.len(), 2, "{output:?}");
        // The server's command line is its program (`app-a -u -c SCRIPT
        // PORT`, cut when long), the namespace that of the recorder's.
        let served = |line: &str, name: &str, pid: u32, count: &str| {
            line.starts_with(&format!("Clients of {endpoint} in network namespace "))
                && line.contains(&format!(" served by {name} -u -c \\nimport socket"))
                && line.ends_with(&format!("… (pid {pid}, user root) ({count})"))
        };
        assert!(served(headers[0], "app-a", first, "2 connections"), "{output:?}");
        assert!(served(headers[1], "app-b", second, "1 connection"), "{output:?}");
    }

    let json = ask(&["--json"]).json();
    let clients = json["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{json:#}");
    let servers: Vec<_> = clients
        .iter()
        .map(|c| (c["server_process"]["name"].clone(), c["server_process"]["pid"].clone()))
        .collect();
    assert_eq!(servers, [("app-a".into(), first.into()), ("app-b".into(), second.into())]);
    assert_eq!((&clients[0]["connections"], &clients[1]["connections"]), (&2.into(), &1.into()));

    let each = ask(&["--each"]);
    let header = each.stdout.lines().find(|line| line.contains("CLIENT PROCESS")).unwrap();
    assert!(header.trim_end().ends_with("SERVER PROCESS"), "{each:?}");
    let rows: Vec<&str> = each.stdout.lines().filter(|line| line.contains(" closed ")).collect();
    assert_eq!(rows.len(), 3, "{each:?}");
    for (row, pid) in rows.iter().zip([first, first, second]) {
        assert!(row.contains(&format!("(pid {pid}, user root)")), "{each:?}");
    }
}

/// Two programs served one port one after the other: `history PORT` used
/// to merge their clients in one group, with no word of which program each
/// client talked to. Recorded for real into SQLite.
#[test]
fn programs_that_served_a_port_in_turn_are_told_apart() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().unwrap();
    let Some((port, first, second)) = record_two_servers_one_after_the_other(store) else {
        return;
    };
    assert_two_servers_are_two_groups(store, port, first, second);
}

/// [`programs_that_served_a_port_in_turn_are_told_apart`] recorded into
/// PostgreSQL.
#[cfg(feature = "postgres")]
#[test]
fn programs_that_served_a_port_in_turn_are_told_apart_in_postgres() {
    let Some(database) = postgresql::TestPostgres::start() else { return };
    let url = database.socket_url();
    let Some((port, first, second)) = record_two_servers_one_after_the_other(&url) else {
        return;
    };
    assert_two_servers_are_two_groups(&url, port, first, second);
}
