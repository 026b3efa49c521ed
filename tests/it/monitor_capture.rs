//! `porthole monitor` capture in situations the plain connect/accept tests
//! do not reach: sockets driven through io_uring, TCP simultaneous open, a
//! wall clock stepped while recording, a recorder in a time namespace.
//! Each runs in a private network namespace with real processes.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::monitor::{connections_to, dump, ebpf_available, of_type, Monitor};
use crate::util::{
    binary, eventually, installed, python_in, server_in, skip, unique_port, wait_for_line,
    ChildGuard, Netns,
};

/// The io_uring peer (`fixtures/uring_peer.c`), compiled once per run with
/// `cc` against liburing; `None` (skip recorded) when either is missing.
fn uring_peer() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if !installed("cc") {
            return Err("cc is not installed".to_string());
        }
        if !Path::new("/usr/include/liburing.h").exists() {
            return Err("liburing-dev is not installed".to_string());
        }
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/uring_peer.c");
        // Named `uring_peer`, its comm, in a directory of this run.
        let directory = std::env::temp_dir().join(format!("porthole-uring-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temporary directory");
        let output_path = directory.join("uring_peer");
        let output = Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-o"])
            .arg(&output_path)
            .arg(source)
            .arg("-luring")
            .output()
            .expect("cc runs");
        assert!(output.status.success(), "cc failed: {}", String::from_utf8_lossy(&output.stderr));
        Ok(output_path)
    });
    match built {
        Ok(path) => Some(path.clone()),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// Starts the io_uring peer in `netns`; returns it and the pid it printed
/// ("ready PID" for a server, "done PID" for a client).
fn start_peer(netns: &Netns, peer: &Path, args: &[&str]) -> (ChildGuard, u32, String) {
    let mut command = netns.command(peer.to_str().expect("utf-8 path"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = command.spawn().expect("io_uring peer starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let line = wait_for_line(&mut stdout);
    let pid = line.rsplit(' ').next().and_then(|pid| pid.parse().ok());
    let pid = pid.unwrap_or_else(|| panic!("peer {args:?} said {line:?}"));
    (ChildGuard(child), pid, line)
}

/// One connection per io_uring mode: accept and connect issued inline
/// (`plain`), on io-wq worker threads (`async`), and an accept into a fixed
/// file slot that the ring's teardown closes in a kernel worker (`direct`).
/// Every connection is recorded once with its 4-tuple, uids and bytes; in
/// eBPF mode both processes are the peers, never a worker or a kernel
/// thread.
fn io_uring_connections_are_recorded(capture: &str) {
    let Some(peer) = uring_peer() else { return };
    let Some(netns) = Netns::create() else { return };
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut expected = Vec::new();
    for mode in ["plain", "async", "direct"] {
        let port = unique_port();
        let (mut server, server_pid, _) =
            start_peer(&netns, &peer, &["server", &port.to_string(), mode]);
        // Long enough for a netlink-mode listener dump to name it, even
        // on a machine busy with parallel tests.
        std::thread::sleep(Duration::from_secs(1));
        let (mut client, client_pid, said) =
            start_peer(&netns, &peer, &["client", &port.to_string(), mode]);
        assert!(said.starts_with("done"), "{said}");
        assert!(client.0.wait().expect("client exits").success(), "{mode} client");
        assert!(server.0.wait().expect("server exits").success(), "{mode} server");
        expected.push((mode, port, server_pid, client_pid));
    }
    let complete = monitor.wait_for(|lines| {
        expected.iter().all(|(_, port, _, _)| !connections_to(lines, *port).is_empty())
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(complete, "not every io_uring connection was recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    for &(mode, port, server_pid, client_pid) in &expected {
        let records = connections_to(&lines, port);
        assert_eq!(records.len(), 1, "{mode}: {}", dump(&lines));
        let record = records[0];
        assert_eq!(record["client_address"], "127.0.0.1", "{mode}: {record}");
        assert_eq!(record["server_address"], "127.0.0.1", "{mode}: {record}");
        assert!(record["client_port"].as_u64().is_some_and(|p| p != 0), "{mode}: {record}");
        assert_eq!(record["bytes_client_to_server"], 5, "{mode}: {record}");
        assert_eq!(record["bytes_server_to_client"], 4, "{mode}: {record}");
        assert_eq!(record["server_uid"], 0, "{mode}: {record}");
        // A client that closes long after the server (it lost the CPU under
        // load) is still paired: its uid is known in both modes.
        assert_eq!(record["client_uid"], 0, "{mode}: {record}");
        assert_eq!(record["end"], "closed", "{mode}: {record}");
        if capture == "ebpf" {
            assert_eq!(record["server_process"]["pid"], server_pid, "{mode}: {record}");
            assert_eq!(record["server_process"]["name"], "uring_peer", "{mode}: {record}");
            assert_eq!(record["client_process"]["pid"], client_pid, "{mode}: {record}");
            assert_eq!(record["client_process"]["name"], "uring_peer", "{mode}: {record}");
        } else if !record["server_process"].is_null() {
            // Netlink mode names the listener's owner when a dump saw the
            // listener; one that replaced the previous test server between
            // two ticks (the socket counters read the same) may be missed,
            // and that is counted below.
            assert_eq!(record["server_process"]["pid"], server_pid, "{mode}: {record}");
        }
    }
    if capture == "ebpf" {
        // The `direct` server end is closed by a kernel worker, so no
        // process is seen closing it: its start was seen, nothing is lost.
        let losses = of_type(&lines, "loss");
        assert!(losses.is_empty(), "{}", dump(&lines));
    }
    if capture == "netlink" {
        let unnamed = expected
            .iter()
            .filter(|(_, port, _, _)| connections_to(&lines, *port)[0]["server_process"].is_null())
            .count() as u64;
        // Every client is unnamed in this mode (it lived less than an
        // interval), and so is every server that was not seen listening.
        let counted: u64 = of_type(&lines, "loss")
            .iter()
            .filter(|loss| loss["kind"] == "unknown_process")
            .filter_map(|loss| loss["count"].as_u64())
            .sum();
        assert!(counted >= unnamed.max(1), "{unnamed} unnamed servers, {counted} counted");
    }
}

#[test]
fn io_uring_connections_are_recorded_in_netlink_mode() {
    io_uring_connections_are_recorded("netlink");
}

#[test]
fn io_uring_connections_are_attributed_in_ebpf_mode() {
    if ebpf_available() {
        io_uring_connections_are_recorded("ebpf");
    }
}

/// A peer of a TCP simultaneous open: binds `argv[1]`, connects to
/// `argv[2]` without blocking (its SYN is dropped by the test's rule), says
/// "connecting", then waits for the handshake its retransmitted SYN makes
/// once the rule is gone, sends `argv[3]`, reads the other peer's word and
/// closes.
const SIMULTANEOUS_PEER: &str = r#"
import select, socket, sys
local, remote, word = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", local))
s.setblocking(False)
try:
    s.connect(("127.0.0.1", remote))
except BlockingIOError:
    pass
print("connecting", flush=True)
_, writable, _ = select.select([], [s], [], 20)
assert writable and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
s.setblocking(True)
s.sendall(word)
got = b""
while len(got) < int(sys.argv[4]):
    got += s.recv(64)
s.close()
print("done", flush=True)
"#;

/// A socket bound to `argv[1]` that connects to its own address (a TCP
/// self-connect), sends itself "echo" and reads it back.
const SELF_CONNECT: &str = r#"
import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.connect(("127.0.0.1", port))
s.sendall(b"echo")
assert s.recv(4) == b"echo"
s.close()
print("done", flush=True)
"#;

/// Entries of the `connecting` map (the LRU hash of clients between
/// connect() and their close()) of the eBPF object `pid` loaded, found by
/// its map type in the fds' fdinfo; `None` without bpftool.
fn connecting_entries(pid: u32) -> Option<usize> {
    if !installed("bpftool") {
        skip("bpftool is not installed");
        return None;
    }
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("monitor's fdinfo") {
        let Ok(text) = std::fs::read_to_string(entry.expect("fdinfo entry").path()) else {
            continue;
        };
        let field = |name: &str| {
            text.lines().find_map(|line| Some(line.strip_prefix(name)?.trim().to_string()))
        };
        // BPF_MAP_TYPE_LRU_HASH: only `connecting` is one.
        if field("map_type:").as_deref() == Some("9") {
            ids.extend(field("map_id:"));
        }
    }
    assert_eq!(ids.len(), 1, "one LRU map in the monitor: {ids:?}");
    let output =
        Command::new("bpftool").args(["map", "dump", "id", &ids[0], "-j"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let entries: Value = serde_json::from_slice(&output.stdout).expect("bpftool JSON");
    Some(entries.as_array().map_or(0, Vec::len))
}

/// TCP simultaneous open: both ends connect() to each other, their SYNs
/// cross (SYN_SENT -> SYN_RECV -> ESTABLISHED at both). Recorded once,
/// the end that connected first as the client, both processes named, no
/// stash left in the kernel map. A socket connected to itself likewise.
///
/// Run alone, after the suite: in one run among the suite's other eBPF
/// recorders on a loaded machine the crossed pair went unrecorded with no
/// loss counted, which no run alone or beside copies of itself has
/// reproduced; until that is explained it must not be hidden by a retry.
/// Not reproduced either in four runs of every `monitor_capture` test at
/// four threads on a loaded machine; both ends' connect() stashes and their
/// pairing as two clients were checked and found right.
#[test]
#[ignore = "scripts/test.sh runs it alone (see the comment)"]
fn a_simultaneous_open_is_recorded_once_in_ebpf_mode() {
    if !ebpf_available() || !installed("nft") {
        if !installed("nft") {
            skip("nft (nftables) is not installed");
        }
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let (first, second, itself) = (unique_port(), unique_port(), unique_port());
    // Pure SYNs are dropped until both ends are in SYN_SENT.
    netns.run_ok(
        "nft",
        &["add table inet crossing; \
             add chain inet crossing out { type filter hook output priority 0; }; \
             add rule inet crossing out tcp flags & (syn | ack) == syn drop"],
    );
    let start = |local: u16, remote: u16, word: &str, expect: usize| {
        let (local, remote, expect) = (local.to_string(), remote.to_string(), expect.to_string());
        let (child, mut out) =
            python_in(&netns, SIMULTANEOUS_PEER, &[&local, &remote, word, &expect]);
        assert_eq!(wait_for_line(&mut out), "connecting");
        (child, out)
    };
    let (mut a, mut a_out) = start(first, second, "first", 6);
    std::thread::sleep(Duration::from_millis(50));
    let (mut b, mut b_out) = start(second, first, "second", 5);
    netns.run_ok("nft", &["delete table inet crossing"]);
    assert_eq!(wait_for_line(&mut a_out), "done");
    assert_eq!(wait_for_line(&mut b_out), "done");
    let (a_pid, b_pid) = (a.pid(), b.pid());
    assert!(a.0.wait().unwrap().success() && b.0.wait().unwrap().success());
    let (mut looped, mut looped_out) = python_in(&netns, SELF_CONNECT, &[&itself.to_string()]);
    assert_eq!(wait_for_line(&mut looped_out), "done");
    let looped_pid = looped.pid();
    assert!(looped.0.wait().unwrap().success());

    let recorded = monitor.wait_for(|lines| {
        connections_to(lines, first).len() + connections_to(lines, second).len() > 0
            && !connections_to(lines, itself).is_empty()
    });
    // A further second: a second record of either would show by now.
    std::thread::sleep(Duration::from_secs(2));
    let stash = connecting_entries(monitor.pid());
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let mut records = connections_to(&lines, first);
    records.extend(connections_to(&lines, second));
    assert_eq!(records.len(), 1, "{}", dump(&lines));
    let record = records[0];
    // Which SYN gets through first once the drop rule is gone depends on
    // retransmission timing (on a loaded machine the first peer's first
    // retransmission may still be dropped): the end whose SYN was answered
    // first is the client, and the record must agree with the processes.
    let ((client_pid, server_pid), (sent, received)) = if record["client_port"] == first {
        ((a_pid, b_pid), (5, 6))
    } else {
        assert_eq!(record["client_port"], second, "{record}");
        ((b_pid, a_pid), (6, 5))
    };
    assert_eq!(record["client_process"]["pid"], client_pid, "{record}");
    assert_eq!(record["server_process"]["pid"], server_pid, "{record}");
    assert_eq!(record["bytes_client_to_server"], sent, "{record}");
    assert_eq!(record["bytes_server_to_client"], received, "{record}");
    assert_eq!(record["end"], "closed", "{record}");
    let records = connections_to(&lines, itself);
    assert_eq!(records.len(), 1, "{}", dump(&lines));
    assert_eq!(records[0]["client_port"], itself, "{}", records[0]);
    assert_eq!(records[0]["client_process"]["pid"], looped_pid, "{}", records[0]);
    assert_eq!(records[0]["server_process"]["pid"], looped_pid, "{}", records[0]);
    let unmatched: Vec<&Value> = of_type(&lines, "loss")
        .into_iter()
        .filter(|loss| loss["kind"] == "unmatched_cookie" || loss["kind"] == "unknown_process")
        .collect();
    assert!(unmatched.is_empty(), "{}", dump(&lines));
    if let Some(entries) = stash {
        assert_eq!(entries, 0, "clients left in the connecting map");
    }
}

/// A client that connects, sends "ping", reads to the end and exits.
const CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(4096):
    pass
s.close()
print("done", flush=True)
"#;

fn run_client(netns: &Netns, port: u16) -> u32 {
    let (mut child, mut out) = python_in(netns, CLIENT, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "done");
    let pid = child.pid();
    assert!(child.0.wait().expect("client exits").success());
    pid
}

fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).expect("after 1970").as_micros() as i64
}

fn set_wall_clock(time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).expect("after 1970");
    let timespec = rustix::time::Timespec {
        tv_sec: since_epoch.as_secs() as i64,
        tv_nsec: i64::from(since_epoch.subsec_nanos()),
    };
    rustix::time::clock_settime(rustix::time::ClockId::Realtime, timespec)
        .expect("clock_settime(CLOCK_REALTIME) as root");
}

/// The wall clock stepped forward by `step`; dropping it steps it back to
/// what it would read had it never been stepped (the time that passed is
/// measured on CLOCK_MONOTONIC, which the step does not move), even when
/// the test fails while it is held.
struct SteppedClock {
    step: Duration,
    stepped_at: Instant,
    stepped_to: SystemTime,
}

impl SteppedClock {
    fn forward(step: Duration) -> SteppedClock {
        let stepped_to = SystemTime::now() + step;
        set_wall_clock(stepped_to);
        SteppedClock { step, stepped_at: Instant::now(), stepped_to }
    }
}

impl Drop for SteppedClock {
    fn drop(&mut self) {
        set_wall_clock(self.stepped_to - self.step + self.stepped_at.elapsed());
    }
}

/// `started_at_us` of the one record of a connection from `client_pid`.
fn start_of(lines: &[Value], port: u16, client_pid: u32) -> i64 {
    let records: Vec<&Value> = connections_to(lines, port)
        .into_iter()
        .filter(|record| record["client_process"]["pid"] == client_pid)
        .collect();
    assert_eq!(records.len(), 1, "client {client_pid}:\n{}", dump(lines));
    records[0]["started_at_us"].as_i64().expect("a start")
}

/// eBPF events are stamped on CLOCK_MONOTONIC and converted with an offset
/// to the wall clock: when the wall clock is stepped (forward, then back),
/// connections made after the step are dated by the stepped clock, not by
/// the one the recorder started with, so records interleave with the rest
/// of the machine's times. The step is two minutes, held about a second,
/// and always undone.
///
/// Stepping the clock is felt by every process on the machine (timeouts
/// and windows of other tests), so this test runs alone, after the suite:
/// `scripts/test.sh` runs it with `--ignored`.
#[test]
#[ignore = "steps the machine's wall clock: scripts/test.sh runs it alone"]
fn ebpf_times_follow_a_stepped_wall_clock() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let step = Duration::from_secs(120);
    let slack = 2_000_000;

    let before = unix_micros(SystemTime::now());
    let unstepped = run_client(&netns, port);
    assert!(monitor.wait_for(|lines| connections_to(lines, port).len() == 1));
    let (stepped_client, stepped_window) = {
        let _stepped = SteppedClock::forward(step);
        let from = unix_micros(SystemTime::now());
        let client = run_client(&netns, port);
        let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() == 2);
        let to = unix_micros(SystemTime::now());
        assert!(recorded, "{}", dump(&monitor.lines.lock().unwrap()));
        (client, (from, to))
    };
    let from = unix_micros(SystemTime::now());
    let restored = run_client(&netns, port);
    assert!(monitor.wait_for(|lines| connections_to(lines, port).len() == 3));
    let to = unix_micros(SystemTime::now());
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");

    let first = start_of(&lines, port, unstepped);
    assert!((before..stepped_window.0).contains(&first), "{first} {before}\n{}", dump(&lines));
    let second = start_of(&lines, port, stepped_client);
    assert!(
        (stepped_window.0 - slack..=stepped_window.1).contains(&second),
        "started {second}, the stepped clock read {stepped_window:?}\n{}",
        dump(&lines)
    );
    let third = start_of(&lines, port, restored);
    assert!(
        (from - slack..=to).contains(&third),
        "started {third}, the restored clock read {from}..{to}\n{}",
        dump(&lines)
    );
    for record in connections_to(&lines, port) {
        assert!(record["started_at_us"].as_i64() <= record["ended_at_us"].as_i64(), "{record}");
    }
}

/// A recorder in a time namespace whose monotonic and boot clocks are a
/// day ahead (`unshare -T`, as a restored container is): eBPF stamps
/// events with the kernel's clocks, which no namespace shifts. Records are
/// still dated by the wall clock, and processes are matched with `/proc`.
#[test]
fn ebpf_times_are_right_in_a_time_namespace() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let probe = Command::new("unshare").args(["-T", "--monotonic", "1", "true"]).status();
    if !probe.is_ok_and(|status| status.success()) {
        skip("unshare -T (time namespaces) is not available");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let mut command = netns.command("unshare");
    command
        .args(["-T", "--monotonic", "86400", "--boottime", "86400"])
        .arg(binary().to_str().expect("utf-8 path"));
    let monitor = Monitor::start_command(command, &["--capture", "ebpf"]);
    let before = unix_micros(SystemTime::now());
    let client = run_client(&netns, port);
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() == 1);
    let after = unix_micros(SystemTime::now());
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded && code == 0, "{stderr}\n{}", dump(&lines));
    let record = connections_to(&lines, port)[0];
    let started = record["started_at_us"].as_i64().expect("a start");
    assert!((before - 1_000_000..=after).contains(&started), "{before}..{after}: {record}");
    let duration = record["duration_us"].as_i64().expect("a duration");
    assert!((0..60_000_000).contains(&duration), "{record}");
    let process = &record["client_process"];
    assert_eq!(process["pid"], client, "{record}");
    let start_time = process["start_time"].as_str().expect("a start time");
    let start_time = porthole::cli::history::parse_time(start_time, after).expect("RFC 3339");
    assert!((before - 2_000_000..=after).contains(&start_time), "{record}");
    // Matched with /proc (the kernel's comm alone has no executable).
    assert!(process["exe"].as_str().is_some_and(|exe| exe.contains("python")), "{record}");
}

/// Serves on `argv[1]` and connects to itself in a loop for `argv[2]`
/// seconds (each client sends "hi", reads "ok", closes); prints "ready"
/// once listening and how many connections it made at the end.
const LOAD: &str = r#"
import socket, sys, threading, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(512)
def serve():
    while True:
        a, _ = s.accept()
        a.recv(16)
        a.sendall(b"ok")
        a.close()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
made, end = 0, time.time() + seconds
while time.time() < end:
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"hi")
    c.recv(16)
    c.close()
    made += 1
print(made, flush=True)
"#;

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("positive pid");
    rustix::process::kill_process(pid, signal).expect("signal the monitor");
}

/// The recorder stopped (SIGSTOP) for 10 s while a loop makes thousands
/// of connections a second, then continued: every connection it does not
/// record is accounted for by a loss it reports. In netlink mode the
/// backlog of closes, read at once, holds 4-tuples that came round again
/// within it; each is still its own record.
fn a_stopped_recorder_loses_nothing_silently(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (mut load, mut out) = python_in(&netns, LOAD, &[&port.to_string(), "14"]);
    assert_eq!(wait_for_line(&mut out), "ready");
    std::thread::sleep(Duration::from_secs(2));
    signal(monitor.pid(), rustix::process::Signal::STOP);
    std::thread::sleep(Duration::from_secs(10));
    signal(monitor.pid(), rustix::process::Signal::CONT);
    let made: usize = wait_for_line(&mut out).parse().expect("a count");
    assert!(load.0.wait().expect("load exits").success());
    // Whatever is still queued is read and paired within seconds: wait
    // until every connection is recorded or the count stops moving (the
    // stop below reads and pairs what is left).
    let count = || connections_to(&monitor.lines.lock().unwrap(), port).len();
    let (mut last, mut still_since) = (count(), Instant::now());
    eventually(Duration::from_secs(60), || {
        let now = count();
        if now != last {
            (last, still_since) = (now, Instant::now());
        }
        now >= made || still_since.elapsed() > Duration::from_secs(10)
    });
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let recorded = connections_to(&lines, port).len();
    let lost = |kind: &str| -> u64 {
        of_type(&lines, "loss")
            .iter()
            .filter(|loss| loss["kind"] == kind)
            .filter_map(|loss| loss["count"].as_u64())
            .sum()
    };
    let (overflows, ring_full) = (lost("netlink_overflow"), lost("ring_buffer_full"));
    eprintln!(
        "{capture}: made {made}, recorded {recorded}, netlink_overflow {overflows}, \
         ring_buffer_full {ring_full}"
    );
    assert!(recorded <= made, "more records than connections: {recorded} > {made}");
    if recorded < made {
        // Each lost connection is two lost closes (netlink) or up to six
        // lost events (eBPF): some loss must have been counted.
        let explained = match capture {
            "netlink" => overflows > 0,
            _ => ring_full > 0,
        };
        assert!(
            explained,
            "{capture}: {} of {made} connections missing, no loss counted",
            made - recorded
        );
    }
}

#[test]
fn a_stopped_recorder_loses_nothing_silently_in_netlink_mode() {
    a_stopped_recorder_loses_nothing_silently("netlink");
}

#[test]
fn a_stopped_recorder_loses_nothing_silently_in_ebpf_mode() {
    if ebpf_available() {
        a_stopped_recorder_loses_nothing_silently("ebpf");
    }
}

/// A short-lived container's service: brings `lo` up in the fresh network
/// namespace it runs in, listens on `argv[1]`, and a second later (a
/// process starting) connects to itself once, exchanges a byte and exits.
/// (With 300 ms, a recorder kept off the CPU by a loaded machine could
/// read the new process after its namespace was gone.)
const CONTAINER: &str = r#"
import socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(1.0)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, _ = s.accept()
c.sendall(b"x")
a.recv(1)
a.sendall(b"y")
c.recv(1)
c.close()
a.close()
print("done", flush=True)
"#;

/// `--netns all` in netlink mode subscribes to each namespace's destroy
/// broadcast: a namespace made (`unshare -n`) and gone within a second,
/// long before the next regular look for namespaces, still has its
/// connection recorded, because the recorder subscribes as soon as a
/// process starts in it.
///
/// Run alone by scripts/test.sh: a `--netns all` recorder records every
/// other test's namespace too, and beside the tests that make tens of
/// thousands of connections it read the container's process start after
/// the namespace was gone (two of five missed, in runs at four threads on
/// two cores); alone it records all five.
#[test]
#[ignore = "records every namespace: scripts/test.sh runs it alone"]
fn a_container_that_lives_a_second_is_recorded_with_netns_all_in_netlink_mode() {
    if !crate::util::is_root() {
        skip("--netns all needs root");
        return;
    }
    let monitor = Monitor::start(None, &["--capture", "netlink", "--netns", "all"]);
    let ports: Vec<u16> = (0..5).map(|_| unique_port()).collect();
    for port in &ports {
        let mut command = Command::new("unshare");
        command.args(["-n", "python3", "-u", "-c", CONTAINER, &port.to_string()]);
        let output = command.stdin(Stdio::null()).output().expect("unshare runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let recorded =
        monitor.wait_for(|lines| ports.iter().all(|port| !connections_to(lines, *port).is_empty()));
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let missing: Vec<&u16> =
        ports.iter().filter(|port| connections_to(&lines, **port).is_empty()).collect();
    let losses = of_type(&lines, "loss");
    assert!(
        recorded,
        "no connection recorded on {missing:?} of {ports:?}; losses: {losses:?}\n{stderr}"
    );
    for port in &ports {
        let record = connections_to(&lines, *port)[0];
        assert!(record["net_namespace"].is_u64(), "{record}");
        assert_eq!(record["bytes_client_to_server"], 1, "{record}");
    }
}

/// Connections to `argv[1]` whose server end closes without a close() by
/// its process, each made, used and ended in turn: one open before the
/// recorder started (it prints "ready", then waits for SIGUSR1), then a
/// client that aborts (`SO_LINGER` 0), a server that closes with unread
/// data, a server that aborts, and one left in the accept queue when the
/// listener closes.
const RESETS: &str = r#"
import signal, socket, struct, sys, time
port = int(sys.argv[1])
abort = struct.pack("ii", 1, 0)
listener = socket.socket()
listener.bind(("127.0.0.1", port))
listener.listen()
def pair():
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = listener.accept()
    c.sendall(b"hi")
    return c, a
early_client, early_server = pair()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
signal.sigwait({signal.SIGUSR1})
early_server.recv(2)
early_client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
early_client.close()
time.sleep(0.1)
early_server.close()
c, a = pair()
a.recv(2)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
c.close()
time.sleep(0.1)
a.close()
c, a = pair()
time.sleep(0.1)
a.close()
c.close()
c, a = pair()
a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, abort)
a.close()
c.close()
queued = socket.create_connection(("127.0.0.1", port))
time.sleep(0.1)
listener.close()
time.sleep(0.1)
queued.close()
print("done", flush=True)
"#;

/// eBPF mode: a server end that no process closed (a reset by either end,
/// a listener closed with a connection it never accepted) or that was
/// open before the recorder started is recorded, the listener's owner
/// named as its server, and no loss is counted: nothing is missing.
/// (Each used to count an `unmatched_cookie`: the count meant "no process
/// seen closing the server end" rather than "an event was lost".)
#[test]
fn server_ends_no_process_closed_are_not_losses_in_ebpf_mode() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (mut peers, mut out) = python_in(&netns, RESETS, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ready");
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let pid = peers.pid();
    signal(pid, rustix::process::Signal::USR1);
    assert_eq!(wait_for_line(&mut out), "done");
    assert!(peers.0.wait().expect("peers exit").success());
    // The connection open at the start is also reported open then (`end`
    // "open"): only the records of ended connections count here.
    let ended = |lines: &[Value]| -> usize {
        connections_to(lines, port).iter().filter(|r| r["end"] != "open").count()
    };
    let recorded = monitor.wait_for(|lines| ended(lines) >= 5);
    // A further second for a loss counted after the records.
    std::thread::sleep(Duration::from_secs(2));
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let records: Vec<&Value> =
        connections_to(&lines, port).into_iter().filter(|r| r["end"] != "open").collect();
    assert_eq!(records.len(), 5, "{}", dump(&lines));
    for record in records {
        assert_eq!(record["end"], "reset", "{record}");
        assert_eq!(record["server_process"]["pid"], pid, "{record}");
        assert_eq!(record["client_process"]["pid"], pid, "{record}");
        assert_eq!(record["client_uid"], 0, "{record}");
    }
    let losses = of_type(&lines, "loss");
    assert!(losses.is_empty(), "{}", dump(&lines));
}

/// Listens on `argv[1]`, says "ready" and waits for SIGUSR1 (the recorder
/// is stopped then); makes `argv[2]` connections, which fill the
/// recorder's ring buffer, then opens three more whose every event is
/// dropped, says "held" and waits for SIGUSR1 again (the recorder has
/// read its ring by then) to close them in order.
const HELD_AFTER_A_FULL_RING: &str = r#"
import signal, socket, sys
port, fill = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket()
listener.bind(("127.0.0.1", port))
listener.listen(64)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
signal.sigwait({signal.SIGUSR1})
for _ in range(fill):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = listener.accept()
    c.close()
    a.close()
held = []
for _ in range(3):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = listener.accept()
    c.sendall(b"x")
    a.recv(1)
    held.append((c, a))
print("held", flush=True)
signal.sigwait({signal.SIGUSR1})
for c, a in held:
    a.close()
    c.close()
print("done", flush=True)
"#;

/// A real loss is still counted: connections that began while the ring
/// buffer was full (the recorder stopped) and closed after it was read
/// again have no start; each server end is an `unmatched_cookie`, beside
/// the `ring_buffer_full` drops. (Before, their process's close() named
/// the server end and the lost start went uncounted there.)
#[test]
fn server_ends_whose_start_was_dropped_are_counted_in_ebpf_mode() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    // 4 MiB of 136-byte events, four per connection over loopback: 12,000
    // overflow it.
    let (mut peers, mut out) =
        python_in(&netns, HELD_AFTER_A_FULL_RING, &[&port.to_string(), "12000"]);
    assert_eq!(wait_for_line(&mut out), "ready");
    let pid = peers.pid();
    signal(monitor.pid(), rustix::process::Signal::STOP);
    signal(pid, rustix::process::Signal::USR1);
    assert_eq!(wait_for_line(&mut out), "held");
    signal(monitor.pid(), rustix::process::Signal::CONT);
    let lost = |lines: &[Value], kind: &str| -> u64 {
        of_type(lines, "loss")
            .iter()
            .filter(|loss| loss["kind"] == kind)
            .filter_map(|loss| loss["count"].as_u64())
            .sum()
    };
    // Reported at the batch after the ring was read.
    let drained = monitor.wait_for(|lines| lost(lines, "ring_buffer_full") > 0);
    signal(pid, rustix::process::Signal::USR1);
    assert_eq!(wait_for_line(&mut out), "done");
    assert!(peers.0.wait().expect("peers exit").success());
    let counted = monitor.wait_for(|lines| lost(lines, "unmatched_cookie") >= 3);
    let (lines, stderr, code) = monitor.stop();
    let losses: Vec<&Value> = of_type(&lines, "loss");
    assert!(drained, "the ring never overflowed: {losses:?}");
    assert_eq!(code, 0, "{stderr}");
    assert!(counted, "{losses:?}");
    assert_eq!(lost(&lines, "unmatched_cookie"), 3, "{losses:?}");
}

/// Serves `argv[2]` connections on `argv[1]` one by one: the server answers
/// and closes first; its client reads to the end and closes two seconds
/// later, long after the recorder's grace for a client end.
const CLIENT_CLOSES_LATE: &str = r#"
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket()
listener.bind(("127.0.0.1", port))
listener.listen()
for _ in range(count):
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = listener.accept()
    c.sendall(b"ping!")
    a.recv(5)
    a.sendall(b"pong")
    a.close()
    while c.recv(64):
        pass
    time.sleep(2)
    c.close()
print("done", flush=True)
"#;

/// A client end that closes well after its server end (a client reading
/// to the end after the server closed; an io_uring client that lost the CPU
/// under load did the same) is still paired with it: the record has the
/// client's uid, the bytes it sent and its end. Before, the server end went
/// out alone after the grace: in netlink mode with no client uid (and the
/// client's bytes short by one), with no loss counted.
fn a_client_closing_long_after_its_server_is_paired(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (mut peers, mut out) = python_in(&netns, CLIENT_CLOSES_LATE, &[&port.to_string(), "2"]);
    assert_eq!(wait_for_line(&mut out), "done");
    assert!(peers.0.wait().expect("peers exit").success());
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let records = connections_to(&lines, port);
    assert_eq!(records.len(), 2, "{}", dump(&lines));
    for record in records {
        assert_eq!(record["client_uid"], 0, "{record}");
        assert_eq!(record["bytes_client_to_server"], 5, "{record}");
        assert_eq!(record["bytes_server_to_client"], 4, "{record}");
        assert_eq!(record["end"], "closed", "{record}");
    }
}

#[test]
fn a_client_closing_long_after_its_server_is_paired_in_netlink_mode() {
    a_client_closing_long_after_its_server_is_paired("netlink");
}

#[test]
fn a_client_closing_long_after_its_server_is_paired_in_ebpf_mode() {
    if ebpf_available() {
        a_client_closing_long_after_its_server_is_paired("ebpf");
    }
}

/// `--netns all` in netlink mode without the right to enter namespaces
/// (setns needs CAP_SYS_ADMIN, which the shipped unit's bounding set leaves
/// out): listeners are still read through `/proc/PID/net`, but no close in
/// another namespace can be; the recorder says so once per namespace
/// instead of recording none of their connections without a word.
#[test]
fn a_namespace_the_recorder_may_not_enter_is_named_in_netlink_mode() {
    a_namespace_the_recorder_may_not_enter_is_named("netlink", "its connections are not recorded");
}

/// eBPF mode records the namespace's connections without entering it; only
/// the UDP destroys it would read there are missing, and it says that.
#[test]
fn a_namespace_the_recorder_may_not_enter_is_named_in_ebpf_mode() {
    if ebpf_available() {
        a_namespace_the_recorder_may_not_enter_is_named(
            "ebpf",
            "its UDP listeners that close between two looks are not counted",
        );
    }
}

fn a_namespace_the_recorder_may_not_enter_is_named(capture: &str, lost: &str) {
    if !installed("setpriv") {
        skip("setpriv (util-linux) is not installed");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(format!("/run/netns/{}", netns.name)).expect("netns file").ino();
    let mut command = Command::new("setpriv");
    command.args(["--bounding-set=-sys_admin", "--inh-caps=-all"]).arg(binary());
    let monitor = Monitor::start_command(command, &["--capture", capture, "--netns", "all"]);
    let expected = format!(
        "porthole: network namespace {inode} (/run/netns/{}): {lost}: entering it failed: \
         Operation not permitted",
        netns.name
    );
    let said = monitor.wait_for_stderr(|stderr| stderr.contains(&expected));
    let (_, stderr, code) = monitor.stop();
    assert!(said, "{expected}\n{stderr}");
    assert!(stderr.contains("needs CAP_SYS_ADMIN"), "{stderr}");
    assert_eq!(stderr.matches(&expected).count(), 1, "said once: {stderr}");
    assert_eq!(code, 0, "{stderr}");
}

/// Entries the recorder gives its connect() stash on this machine: 256 per
/// possible CPU, at least 8,192 (`stash_entries` in src/inventory/ebpf.rs).
fn stash_entries() -> usize {
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .expect("/sys/devices/system/cpu/possible");
    let cpus: usize = possible
        .trim()
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((first, last)) => {
                last.parse::<usize>().expect("cpu range") - first.parse::<usize>().expect("cpu") + 1
            }
            None => 1,
        })
        .sum();
    (cpus * 256).max(8192)
}

/// Accepts `argv[2]` connections on `argv[1]` and holds them all; then
/// reads each to its end and closes it.
const HOLDING_SERVER: &str = r#"
import resource, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 256, count + 256))
listener = socket.socket()
listener.bind(("127.0.0.1", port))
listener.listen(4096)
print("ready", flush=True)
held = [listener.accept()[0] for _ in range(count)]
for connection in held:
    while connection.recv(16):
        pass
    connection.close()
print("done", flush=True)
"#;

/// Opens `argv[2]` connections to `argv[1]`, all held open at once, sends a
/// byte on each, then closes them oldest first.
const HOLDING_CLIENT: &str = r#"
import resource, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 256, count + 256))
held = []
for _ in range(count):
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"x")
    held.append(connection)
for connection in held:
    connection.close()
print("done", flush=True)
"#;

/// More client connections open at once than the connect() stash holds:
/// the oldest stashes are evicted while their connections are still open,
/// and each of those clients is then seen again at its close(). Every
/// connection is still recorded once, with the client and the server
/// process, no loss is counted, and no stash is left behind.
#[test]
fn more_open_clients_than_the_stash_holds_are_all_named_in_ebpf_mode() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let count = stash_entries() + 1_000;
    let port = unique_port();
    let (mut server, mut server_out) =
        python_in(&netns, HOLDING_SERVER, &[&port.to_string(), &count.to_string()]);
    assert_eq!(wait_for_line(&mut server_out), "ready");
    let (mut client, mut client_out) =
        python_in(&netns, HOLDING_CLIENT, &[&port.to_string(), &count.to_string()]);
    assert_eq!(wait_for_line(&mut client_out), "done");
    assert_eq!(wait_for_line(&mut server_out), "done");
    let (server_pid, client_pid) = (server.pid(), client.pid());
    assert!(client.0.wait().unwrap().success() && server.0.wait().unwrap().success());
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= count);
    // A further second for a second record of any connection, or a loss.
    std::thread::sleep(Duration::from_secs(1));
    let stash = connecting_entries(monitor.pid());
    let (lines, stderr, code) = monitor.stop();
    let records = connections_to(&lines, port);
    assert!(recorded, "{} of {count} recorded\n{stderr}", records.len());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(records.len(), count);
    let mut client_ports = std::collections::HashSet::new();
    for record in &records {
        assert_eq!(record["client_process"]["pid"], client_pid, "{record}");
        assert_eq!(record["server_process"]["pid"], server_pid, "{record}");
        assert_eq!(record["bytes_client_to_server"], 1, "{record}");
        assert_eq!(record["end"], "closed", "{record}");
        assert!(client_ports.insert(record["client_port"].as_u64()), "twice: {record}");
    }
    let losses = of_type(&lines, "loss");
    assert!(losses.is_empty(), "{losses:?}");
    if let Some(entries) = stash {
        assert_eq!(entries, 0, "clients left in the connecting map");
    }
}
