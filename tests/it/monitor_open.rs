//! `porthole monitor` and connections that are still open: reported at the
//! recorder's start, every `PORTHOLE_OPEN_REPORT_EVERY` and at its stop,
//! updated (never duplicated) by their close in a later run, and ended
//! `unknown` by the next start when they closed while no recorder ran.
//! Real echo servers and clients in private network namespaces, both
//! capture modes, SQLite and PostgreSQL stores.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::monitor::{connections_to, dump, ebpf_available, of_type, Monitor};
use crate::util::{binary, eventually, run, unique_port, wait_for_line, ChildGuard, Netns};

/// Echoes what each client sends until it closes.
const ECHO_SERVER: &str = r#"
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("ok", flush=True)
def serve(connection):
    while True:
        data = connection.recv(65536)
        if not data:
            break
        connection.sendall(data)
    connection.close()
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;

/// Connects, prints its port, then for each number read on stdin sends that
/// many bytes and reads them back ("done"); closes at the end of stdin.
const LONG_CLIENT: &str = r#"
import socket, sys
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(client.getsockname()[1], flush=True)
for line in sys.stdin:
    count = int(line)
    client.sendall(b"x" * count)
    got = 0
    while got < count:
        got += len(client.recv(65536))
    print("done", flush=True)
client.close()
"#;

/// A client holding one connection open until told to close it.
struct LongClient {
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl LongClient {
    fn connect(netns: &Netns, port: u16) -> LongClient {
        let mut command = netns.command("python3");
        porthole::sys::signal::start_with_default_signals(&mut command);
        let mut child = command
            .args(["-u", "-c", LONG_CLIENT, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the client prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("a port, not {line:?}"));
        LongClient { child: ChildGuard(child), stdin, stdout, port }
    }

    fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Sends `count` bytes and waits for their echo.
    fn exchange(&mut self, count: usize) {
        let stdin = self.stdin.as_mut().expect("still connected");
        writeln!(stdin, "{count}").expect("the client reads its stdin");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the client answers");
        assert_eq!(line.trim(), "done", "the exchange of {count} bytes");
    }

    /// Closes the connection and waits for the client to exit.
    fn close(&mut self) {
        drop(self.stdin.take());
        let status = self.child.0.wait().expect("the client exits");
        assert!(status.success(), "client {} failed", self.pid());
    }
}

/// Starts [`ECHO_SERVER`] in `netns` and waits until it listens.
fn echo_server(netns: &Netns, port: u16) -> ChildGuard {
    let (child, mut ready) = crate::util::python_in(netns, ECHO_SERVER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok", "echo server did not start");
    child
}

/// `porthole history PORT --each --json` from `store`: its single
/// connections.
fn stored_connections(store: &str, port: u16) -> Vec<Value> {
    let output = run(crate::util::porthole().args([
        "history",
        &port.to_string(),
        "--store",
        store,
        "--each",
        "--json",
    ]));
    assert_eq!(output.code, 0, "{output:?}");
    output.json()["connections"].as_array().cloned().unwrap_or_default()
}

/// Starts the recorder in `netns` writing to `store`.
fn recorder(netns: &Netns, capture: &str, store: &str, env: &[(&str, &str)]) -> Monitor {
    // Through `env`: the monitor's own command has porthole's variables
    // scrubbed.
    let mut command = netns.command("env");
    command.args(env.iter().map(|(name, value)| format!("{name}={value}")));
    command.arg(binary());
    Monitor::start_command(command, &["--capture", capture, "--store", store])
}

/// Whether `capture` can be tested here (records a skip otherwise).
fn capture_available(capture: &str) -> bool {
    capture != "ebpf" || ebpf_available()
}

/// A client connected across a recorder stop: the stop writes one open row
/// with both processes, the 4-tuple and the bytes so far; the next run's
/// close updates that row with the final bytes, and no second row appears.
fn open_connection_survives_a_stop(capture: &str, store: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = echo_server(&netns, port);
    let monitor = recorder(&netns, capture, store, &[]);
    let mut client = LongClient::connect(&netns, port);
    client.exchange(6);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let reported = connections_to(&lines, port);
    assert_eq!(reported.len(), 1, "one open report at stop:\n{}", dump(&lines));
    assert_eq!(reported[0]["end"], "open", "{}", reported[0]);
    assert!(reported[0]["ended_at"].is_null(), "{}", reported[0]);

    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["end"], "open", "{row:#}");
    assert!(row["ended_at"].is_null(), "{row:#}");
    assert!(row["open_since"].is_string(), "{row:#}");
    assert_eq!(row["client_port"], client.port, "{row:#}");
    assert_eq!(row["client_address"], "127.0.0.1", "{row:#}");
    assert_eq!(row["server_port"], port, "{row:#}");
    assert_eq!(row["client_process"]["pid"], client.pid(), "{row:#}");
    assert_eq!(row["server_process"]["pid"], server.pid(), "{row:#}");
    assert_eq!(row["bytes_client_to_server"], 6, "{row:#}");
    assert_eq!(row["bytes_server_to_client"], 6, "{row:#}");
    let cookie = row["cookie"].clone();

    let monitor = recorder(&netns, capture, store, &[]);
    client.exchange(5);
    client.close();
    let closed = monitor
        .wait_for(|lines| connections_to(lines, port).iter().any(|line| line["end"] != "open"));
    let (lines, stderr, code) = monitor.stop();
    assert!(closed, "the close was not recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 1, "the close updates the open row:\n{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["end"], "closed", "{row:#}");
    assert!(row["ended_at"].is_string() && row["open_since"].is_null(), "{row:#}");
    assert_eq!(row["cookie"], cookie, "{row:#}");
    assert_eq!(row["bytes_client_to_server"], 11, "{row:#}");
    assert_eq!(row["bytes_server_to_client"], 11, "{row:#}");
    assert_eq!(row["client_process"]["pid"], client.pid(), "{row:#}");
    assert_eq!(row["server_process"]["pid"], server.pid(), "{row:#}");
}

fn sqlite_store() -> (tempfile::TempDir, String) {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("history.sqlite");
    let text = path.to_str().expect("utf-8 path").to_string();
    (directory, text)
}

#[test]
fn an_open_connection_survives_a_recorder_stop_in_netlink_mode() {
    let (_directory, store) = sqlite_store();
    open_connection_survives_a_stop("netlink", &store);
}

#[test]
fn an_open_connection_survives_a_recorder_stop_in_ebpf_mode() {
    if !capture_available("ebpf") {
        return;
    }
    let (_directory, store) = sqlite_store();
    open_connection_survives_a_stop("ebpf", &store);
}

#[cfg(feature = "postgres")]
#[test]
fn an_open_connection_survives_a_recorder_stop_in_postgres_in_netlink_mode() {
    let Some(database) = crate::history::postgresql::TestPostgres::start() else { return };
    open_connection_survives_a_stop("netlink", &database.socket_url());
}

#[cfg(feature = "postgres")]
#[test]
fn an_open_connection_survives_a_recorder_stop_in_postgres_in_ebpf_mode() {
    if !capture_available("ebpf") {
        return;
    }
    let Some(database) = crate::history::postgresql::TestPostgres::start() else { return };
    open_connection_survives_a_stop("ebpf", &database.socket_url());
}

/// A connection closed while no recorder ran is ended `unknown` by the next
/// start (by the time of its snapshot); one still open keeps its row open.
fn a_connection_closed_between_runs_is_ended(capture: &str, store: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = echo_server(&netns, port);
    let monitor = recorder(&netns, capture, store, &[]);
    let mut gone = LongClient::connect(&netns, port);
    gone.exchange(3);
    let mut staying = LongClient::connect(&netns, port);
    staying.exchange(4);
    let (_, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|row| row["end"] == "open"), "{rows:#?}");

    gone.close();
    let monitor = recorder(&netns, capture, store, &[]);
    let ended = eventually(Duration::from_secs(60), || {
        stored_connections(store, port).iter().any(|row| row["end"] == "unknown")
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(ended, "the gone connection's row was not ended:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let snapshots = of_type(&lines, "open_snapshot");
    assert_eq!(snapshots.len(), 1, "{}", dump(&lines));
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row = |client: &LongClient| {
        rows.iter().find(|row| row["client_port"] == client.port).expect("its row").clone()
    };
    let (gone_row, staying_row) = (row(&gone), row(&staying));
    assert_eq!(gone_row["end"], "unknown", "{gone_row:#}");
    assert!(gone_row["ended_at"].is_string(), "{gone_row:#}");
    assert_eq!(gone_row["bytes_client_to_server"], 3, "{gone_row:#}");
    assert_eq!(staying_row["end"], "open", "{staying_row:#}");
    assert_eq!(staying_row["bytes_client_to_server"], 4, "{staying_row:#}");
    let listed: Vec<&Value> =
        snapshots[0]["open"].as_array().expect("open keys").iter().map(|k| &k["cookie"]).collect();
    assert!(listed.contains(&&staying_row["cookie"]), "{}", snapshots[0]);
    assert!(!listed.contains(&&gone_row["cookie"]), "{}", snapshots[0]);
}

#[test]
fn a_connection_closed_while_no_recorder_ran_is_ended_unknown_in_netlink_mode() {
    let (_directory, store) = sqlite_store();
    a_connection_closed_between_runs_is_ended("netlink", &store);
}

#[test]
fn a_connection_closed_while_no_recorder_ran_is_ended_unknown_in_ebpf_mode() {
    if !capture_available("ebpf") {
        return;
    }
    let (_directory, store) = sqlite_store();
    a_connection_closed_between_runs_is_ended("ebpf", &store);
}

#[cfg(feature = "postgres")]
#[test]
fn a_connection_closed_while_no_recorder_ran_is_ended_unknown_in_postgres() {
    let Some(database) = crate::history::postgresql::TestPostgres::start() else { return };
    a_connection_closed_between_runs_is_ended("netlink", &database.socket_url());
}

/// While the recorder runs, `history PORT` lists a client that connected
/// after its start as open (with its process and bytes so far) within the
/// report cadence, long before it closes.
fn history_lists_a_long_lived_client(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let (_directory, store) = sqlite_store();
    let port = unique_port();
    let _server = echo_server(&netns, port);
    let monitor = recorder(&netns, capture, &store, &[("PORTHOLE_OPEN_REPORT_EVERY", "300ms")]);
    let mut client = LongClient::connect(&netns, port);
    client.exchange(7);
    let listed = eventually(Duration::from_secs(60), || {
        stored_connections(&store, port).iter().any(|row| {
            row["end"] == "open"
                && row["client_process"]["pid"] == client.pid()
                && row["bytes_client_to_server"] == 7
        })
    });
    let text = run(crate::util::porthole().args(["history", &port.to_string(), "--store", &store]));
    let (lines, stderr, code) = monitor.stop();
    assert!(listed, "the open client was not listed:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("connected once (open)"), "{}", text.stdout);
    assert!(text.stdout.contains("so far"), "{}", text.stdout);
    client.close();
}

#[test]
fn history_lists_a_long_lived_client_while_recording_in_netlink_mode() {
    history_lists_a_long_lived_client("netlink");
}

#[test]
fn history_lists_a_long_lived_client_while_recording_in_ebpf_mode() {
    if !capture_available("ebpf") {
        return;
    }
    history_lists_a_long_lived_client("ebpf");
}

/// The row of the connection from `client` among `rows`.
fn row_of<'a>(rows: &'a [Value], client: &LongClient) -> &'a Value {
    rows.iter()
        .find(|row| row["client_port"] == client.port)
        .unwrap_or_else(|| panic!("no row of client port {}: {rows:#?}", client.port))
}

/// Recorders in two namespaces take turns on one store: a `--netns all` one
/// outside a namespace and a `--netns current` one inside it both label
/// that namespace's rows with its inode. Each ends the rows the other left
/// open for connections gone since, and carries on the rows of connections
/// still open (one row each, never a second).
fn recorders_in_two_namespaces_take_turns(store: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = echo_server(&netns, port);
    let all = ["--netns", "all", "--capture", "netlink", "--no-alerts", "--store", store];

    // `--netns all` from outside leaves two rows open under the inode.
    let monitor = Monitor::start(None, &all);
    let mut gone = LongClient::connect(&netns, port);
    gone.exchange(3);
    let mut staying = LongClient::connect(&netns, port);
    staying.exchange(4);
    let (_, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let inode = rows[0]["net_namespace"].clone();
    assert!(inode.is_u64(), "{rows:#?}");
    assert!(rows.iter().all(|row| row["end"] == "open" && row["net_namespace"] == inode));

    // `--netns current` inside ends the gone one and updates the other.
    gone.close();
    let monitor = recorder(&netns, "netlink", store, &[]);
    let ended = eventually(Duration::from_secs(60), || {
        stored_connections(store, port).iter().any(|row| row["end"] == "unknown")
    });
    staying.exchange(5);
    staying.close();
    let closed = monitor
        .wait_for(|lines| connections_to(lines, port).iter().any(|line| line["end"] == "closed"));
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let rows = stored_connections(store, port);
    assert!(ended && closed, "{rows:#?}\n{}", dump(&lines));
    assert_eq!(rows.len(), 2, "one row per connection:\n{rows:#?}");
    let (gone_row, staying_row) = (row_of(&rows, &gone), row_of(&rows, &staying));
    assert_eq!(gone_row["end"], "unknown", "{gone_row:#}");
    assert_eq!(gone_row["bytes_client_to_server"], 3, "{gone_row:#}");
    assert_eq!(staying_row["end"], "closed", "{staying_row:#}");
    assert_eq!(staying_row["bytes_client_to_server"], 9, "{staying_row:#}");
    assert_eq!(staying_row["net_namespace"], inode, "{staying_row:#}");

    // The reverse: a row `--netns current` left open is carried on by
    // `--netns all` from outside, under the same inode.
    let mut third = LongClient::connect(&netns, port);
    third.exchange(2);
    let (_, stderr, code) = recorder(&netns, "netlink", store, &[]).stop();
    assert_eq!(code, 0, "{stderr}");
    let rows = stored_connections(store, port);
    assert_eq!(row_of(&rows, &third)["end"], "open", "{rows:#?}");
    assert_eq!(row_of(&rows, &third)["net_namespace"], inode, "{rows:#?}");
    let monitor = Monitor::start(None, &all);
    third.exchange(1);
    third.close();
    let closed = monitor
        .wait_for(|lines| connections_to(lines, port).iter().any(|line| line["end"] == "closed"));
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(closed, "{}", dump(&lines));
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 3, "one row per connection:\n{rows:#?}");
    let third_row = row_of(&rows, &third);
    assert_eq!(third_row["end"], "closed", "{third_row:#}");
    assert_eq!(third_row["bytes_client_to_server"], 3, "{third_row:#}");
    assert_eq!(third_row["net_namespace"], inode, "{third_row:#}");
}

#[test]
fn recorders_in_two_namespaces_take_turns_on_a_sqlite_store() {
    let (_directory, store) = sqlite_store();
    recorders_in_two_namespaces_take_turns(&store);
}

#[cfg(feature = "postgres")]
#[test]
fn recorders_in_two_namespaces_take_turns_on_a_postgres_store() {
    let Some(database) = crate::history::postgresql::TestPostgres::start() else { return };
    recorders_in_two_namespaces_take_turns(&database.socket_url());
}

/// Two `--netns current` recorders, each in its own namespace with a client
/// of the same address and port, take turns on one store: the start of one
/// neither ends the row the other left open for a connection still open
/// there nor takes it over, each carries on its own, and `history` lists
/// the two namespaces' clients apart.
fn current_recorders_in_two_namespaces_keep_their_rows(store: &str) {
    let Some(first) = Netns::create() else { return };
    let Some(second) = Netns::create() else { return };
    let port = unique_port();
    let _servers = [echo_server(&first, port), echo_server(&second, port)];

    // The first namespace's recorder stops with its client's row open.
    let monitor = recorder(&first, "netlink", store, &[]);
    let mut one = LongClient::connect(&first, port);
    one.exchange(3);
    let (_, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");

    // The second's start does not end it; it leaves its own row open.
    let monitor = recorder(&second, "netlink", store, &[]);
    let mut two = LongClient::connect(&second, port);
    two.exchange(4);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(of_type(&lines, "open_snapshot").len(), 1, "{}", dump(&lines));
    let rows = stored_connections(store, port);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (one_row, two_row) = (row_of(&rows, &one), row_of(&rows, &two));
    assert_eq!(
        one_row["end"], "open",
        "another namespace's start ended it:
{rows:#?}"
    );
    assert_eq!(two_row["end"], "open", "{rows:#?}");
    let (first_inode, second_inode) =
        (one_row["net_namespace"].clone(), two_row["net_namespace"].clone());
    assert!(first_inode.is_u64() && second_inode.is_u64(), "{rows:#?}");
    assert_ne!(first_inode, second_inode, "{rows:#?}");

    // The first again: the second's row stays open, and its own client's
    // close updates its own row.
    let monitor = recorder(&first, "netlink", store, &[]);
    one.exchange(2);
    one.close();
    let closed = monitor
        .wait_for(|lines| connections_to(lines, port).iter().any(|line| line["end"] == "closed"));
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(closed, "{}", dump(&lines));
    let rows = stored_connections(store, port);
    assert_eq!(
        rows.len(),
        2,
        "one row per connection:
{rows:#?}"
    );
    let (one_row, two_row) = (row_of(&rows, &one), row_of(&rows, &two));
    assert_eq!(one_row["end"], "closed", "{one_row:#}");
    assert_eq!(one_row["bytes_client_to_server"], 5, "{one_row:#}");
    assert_eq!(one_row["net_namespace"], first_inode, "{one_row:#}");
    assert_eq!(
        two_row["end"], "open",
        "another namespace's start ended it:
{two_row:#}"
    );
    assert_eq!(two_row["bytes_client_to_server"], 4, "{two_row:#}");

    // Clients of 127.0.0.1:PORT in each namespace are two groups.
    let output = run(crate::util::porthole().args([
        "history",
        &port.to_string(),
        "--store",
        store,
        "--json",
    ]));
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let mut groups: Vec<(Value, Value)> = json["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|group| (group["net_namespace"].clone(), group["connections"].clone()))
        .collect();
    groups.sort_by_key(|group| group.0.as_u64());
    let mut expected = vec![(first_inode.clone(), 1.into()), (second_inode.clone(), 1.into())];
    expected.sort_by_key(|group| group.0.as_u64());
    assert_eq!(groups, expected, "{json:#}");
    let output =
        run(crate::util::porthole().args(["history", &port.to_string(), "--store", store]));
    for inode in [&first_inode, &second_inode] {
        let heading =
            format!("Clients of 127.0.0.1:{port} in network namespace {inode} (1 connection)");
        assert!(output.stdout.contains(&heading), "{heading}:\n{}", output.stdout);
        // Each start says which namespace it recorded.
        let start = format!(" in network namespace {inode} in netlink");
        assert!(output.stdout.contains(&start), "{start}:\n{}", output.stdout);
    }
    two.close();
}

#[test]
fn current_recorders_in_two_namespaces_keep_their_rows_in_a_sqlite_store() {
    let (_directory, store) = sqlite_store();
    current_recorders_in_two_namespaces_keep_their_rows(&store);
}

#[cfg(feature = "postgres")]
#[test]
fn current_recorders_in_two_namespaces_keep_their_rows_in_a_postgres_store() {
    let Some(database) = crate::history::postgresql::TestPostgres::start() else { return };
    current_recorders_in_two_namespaces_keep_their_rows(&database.socket_url());
}

/// Accepts, closes its end at once, and prints "ok" when listening.
const CLOSING_SERVER: &str = r#"
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    connection.close()
"#;

/// Three clients whose server closes first: each stays in CLOSE_WAIT across
/// the recorder's dumps, then closes.
const LINGERING_CLIENTS: &str = r#"
import socket, sys, time
clients = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
time.sleep(2.5)
for client in clients:
    client.close()
"#;

/// A dump that first finds a client end after its server closed (the client
/// still in CLOSE_WAIT) did not see the connection start: no record, row or
/// history line starts after it ended.
#[test]
fn a_client_seen_after_its_server_closed_does_not_start_after_the_end() {
    let Some(netns) = Netns::create() else { return };
    let (_directory, store) = sqlite_store();
    let port = unique_port();
    let (_server, mut ready) = crate::util::python_in(&netns, CLOSING_SERVER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok", "server did not start");
    let monitor = recorder(&netns, "netlink", &store, &[]);
    let status = netns
        .command("python3")
        .args(["-c", LINGERING_CLIENTS, &port.to_string()])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(recorded, "{}", dump(&lines));
    for line in connections_to(&lines, port) {
        if let (Some(start), Some(end)) = (line["started_at"].as_str(), line["ended_at"].as_str()) {
            assert!(start <= end, "a start after the end: {line}");
        }
    }
    let rows = stored_connections(&store, port);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for row in &rows {
        assert!(row["duration_us"].is_null() || row["duration_us"].as_i64() >= Some(0), "{row:#}");
        if let (Some(start), Some(end)) = (row["started_at"].as_str(), row["ended_at"].as_str()) {
            assert!(start <= end, "a start after the end: {row:#}");
        }
    }
}
