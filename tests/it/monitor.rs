//! `porthole monitor`: real listeners and connections from processes the
//! tests start (so pids can be checked), in private network namespaces so
//! that nothing else on the machine shows up, in both capture modes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    binary, eventually, is_root, porthole_run, python_in, scrub, server_in, skip, unique_port,
    wait_for_line, ChildGuard, Netns,
};

/// A running `porthole monitor --jsonl`, its lines collected by threads
/// (also used by the alert tests).
pub(crate) struct Monitor {
    child: ChildGuard,
    pub(crate) lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts the monitor (inside `netns` when given) and waits until it
    /// reported its start, i.e. every subscription is open.
    pub(crate) fn start(netns: Option<&Netns>, args: &[&str]) -> Monitor {
        let command = match netns {
            Some(netns) => netns.command(binary().to_str().expect("utf-8 path")),
            None => Command::new(binary()),
        };
        Monitor::start_command(command, args)
    }

    /// Starts `command` (which runs the porthole binary, perhaps through a
    /// wrapper such as `unshare`) as `monitor --jsonl ARGS…`.
    pub(crate) fn start_command(mut command: Command, args: &[&str]) -> Monitor {
        scrub(&mut command);
        command.args(["monitor", "--jsonl"]).args(args);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("porthole monitor starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let error = child.stderr.take().expect("piped stderr");
        let collected = Arc::clone(&lines);
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // A line cut short can only come from a monitor killed by
                // a failing test's guard; keep it visible in the dump.
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "type": "unparsable", "line": line }));
                collected.lock().unwrap().push(value);
            }
        });
        let text = Arc::clone(&stderr);
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(error).lines() {
                let Ok(line) = line else { break };
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let monitor = Monitor {
            child: ChildGuard(child),
            lines,
            stderr,
            readers: vec![out_reader, err_reader],
        };
        // Loading eBPF parses the kernel's BTF, slow in a debug build on a
        // busy machine: the bound is generous, the usual wait a second.
        let started = eventually(Duration::from_secs(90), || {
            monitor.lines.lock().unwrap().iter().any(|l| l["type"] == "started")
        });
        assert!(started, "monitor did not start; stderr:\n{}", monitor.stderr.lock().unwrap());
        monitor
    }

    /// Waits (up to 60 s; usually a second or two) until the lines satisfy
    /// `condition`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub(crate) fn wait_for(&self, condition: impl Fn(&[Value]) -> bool) -> bool {
        eventually(Duration::from_secs(60), || condition(&self.lines.lock().unwrap()))
    }

    /// Waits (up to 60 s) until stderr satisfies `condition`.
    pub(crate) fn wait_for_stderr(&self, condition: impl Fn(&str) -> bool) -> bool {
        eventually(Duration::from_secs(60), || condition(&self.stderr.lock().unwrap()))
    }

    /// Stops it with SIGINT; returns every line, stderr, and the exit code.
    pub(crate) fn stop(mut self) -> (Vec<Value>, String, i32) {
        let pid = rustix::process::Pid::from_raw(self.child.pid() as i32).expect("positive pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let status = self.child.0.wait().expect("monitor exits");
        for reader in self.readers.drain(..) {
            reader.join().expect("reader thread");
        }
        let lines = self.lines.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        let broken: Vec<&Value> = lines.iter().filter(|l| l["type"] == "unparsable").collect();
        assert!(broken.is_empty(), "stdout lines that are not JSON: {broken:?}");
        (lines, stderr, status.code().unwrap_or(-1))
    }
}

pub(crate) fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["type"] == kind).collect()
}

pub(crate) fn connections_to(lines: &[Value], port: u16) -> Vec<&Value> {
    of_type(lines, "connection").into_iter().filter(|c| c["server_port"] == port).collect()
}

pub(crate) fn dump(lines: &[Value]) -> String {
    lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
}

/// Whether eBPF capture can be tested here; records a skip otherwise.
pub(crate) fn ebpf_available() -> bool {
    if !is_root() {
        skip("eBPF capture needs root");
        return false;
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        skip("the kernel has no BTF (/sys/kernel/btf/vmlinux)");
        return false;
    }
    true
}

/// A client that connects, sends an HTTP request, reads the answer and
/// exits at once.
const CLIENT: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(4096):
    pass
s.close()
"#;

/// Runs `count` short-lived clients in `netns`; returns their pids.
fn run_clients(netns: &Netns, host: &str, port: u16, count: usize) -> Vec<u32> {
    (0..count)
        .map(|_| {
            let mut child = netns
                .command("python3")
                .args(["-c", CLIENT, host, &port.to_string()])
                .stdin(Stdio::null())
                .spawn()
                .expect("client starts");
            let pid = child.id();
            assert!(child.wait().expect("client exits").success(), "client {pid} failed");
            pid
        })
        .collect()
}

#[test]
fn short_connections_get_both_pids_in_ebpf_mode() {
    short_connections_get_both_pids("127.0.0.1");
}

/// Over an address of a device (the namespace's own, so both ends are
/// still recorded) the programs send the server end's start themselves;
/// over loopback the client's connect() gives it. Either way every record
/// is whole and nothing is counted lost.
#[test]
fn short_connections_to_a_device_address_get_both_pids_in_ebpf_mode() {
    short_connections_get_both_pids("10.9.9.1");
}

fn short_connections_get_both_pids(address: &str) {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    if address != "127.0.0.1" {
        netns.add_veth(&format!("{address}/24"));
    }
    let port = unique_port();
    let server = server_in(&netns, address, port, "http");
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let clients = run_clients(&netns, address, port, 5);
    let complete = monitor.wait_for(|lines| connections_to(lines, port).len() >= clients.len());
    let (lines, stderr, code) = monitor.stop();
    assert!(complete, "not every connection was recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("capture ebpf (eBPF capture requested)"), "{stderr}");
    assert_eq!(of_type(&lines, "started")[0]["mode"], "ebpf");
    let records = connections_to(&lines, port);
    for pid in &clients {
        let record = records
            .iter()
            .find(|r| r["client_process"]["pid"] == *pid)
            .unwrap_or_else(|| panic!("no connection from client pid {pid}:\n{}", dump(&lines)));
        assert_eq!(record["server_process"]["pid"], server.pid(), "{record}");
        assert_eq!(record["client_process"]["name"], "python3", "{record}");
        assert!(record["client_process"]["start_time"].is_string(), "{record}");
        assert_eq!(record["client_address"], address);
        assert_eq!(record["bytes_client_to_server"], 18, "the request: {record}");
        // Bytes and uids come from the programs' CLOSE events in this mode.
        assert!(record["bytes_server_to_client"].as_u64() > Some(18), "{record}");
        assert_eq!((&record["server_uid"], &record["client_uid"]), (&0.into(), &0.into()));
        assert_eq!(record["end"], "closed", "{record}");
        assert!(record["started_at_us"].as_i64() <= record["ended_at_us"].as_i64(), "{record}");
        assert_eq!(record["net_namespace"], Value::Null, "the monitor's own namespace");
    }
    // A server end whose start the recorder missed counts as a loss.
    assert_eq!(of_type(&lines, "loss"), Vec::<&Value>::new(), "{}", dump(&lines));
}

/// The monitor's netlink sockets subscribed to the sock_diag TCP destroy
/// groups (1 and 3): rows of its namespace's `/proc/net/netlink` with
/// protocol 4 (NETLINK_SOCK_DIAG), a group mask with bit 0 or 2, and the
/// inode of one of its descriptors (a `--netns all` recorder of another
/// test may subscribe in this namespace too).
fn destroy_subscriptions_of(monitor: &Monitor) -> usize {
    let pid = monitor.pid();
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the monitor's fds are readable")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/netlink")).expect("netlink table");
    table
        .lines()
        .skip(1)
        .filter(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let groups = fields.get(3).and_then(|g| u32::from_str_radix(g, 16).ok());
            fields.get(1) == Some(&"4")
                && groups.is_some_and(|g| g & 0b101 != 0)
                && fields.get(9).is_some_and(|inode| inodes.contains(*inode))
        })
        .count()
}

/// While anyone subscribes to the destroy broadcast the kernel queues work
/// for every TCP socket destroyed: eBPF mode takes closes from its own
/// programs and must not subscribe; netlink mode has to.
#[test]
fn only_netlink_mode_subscribes_to_the_destroy_broadcast() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let in_ebpf_mode = destroy_subscriptions_of(&monitor);
    let (_, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(in_ebpf_mode, 0, "eBPF mode subscribed to the destroy groups");
    let monitor = Monitor::start(Some(&netns), &["--capture", "netlink"]);
    let in_netlink_mode = destroy_subscriptions_of(&monitor);
    let (_, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(in_netlink_mode, 1, "netlink mode reads closes from the destroy groups");
}

#[test]
fn every_close_is_recorded_in_netlink_mode() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    let monitor = Monitor::start(Some(&netns), &["--capture", "netlink"]);
    let clients = run_clients(&netns, "127.0.0.1", port, 5);
    let complete = monitor.wait_for(|lines| connections_to(lines, port).len() >= clients.len());
    let (lines, stderr, code) = monitor.stop();
    assert!(complete, "not every connection was recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("capture netlink (netlink capture requested)"), "{stderr}");
    let records = connections_to(&lines, port);
    assert_eq!(records.len(), clients.len(), "{}", dump(&lines));
    for record in &records {
        assert_eq!(record["bytes_client_to_server"], 18, "{record}");
        assert!(record["bytes_server_to_client"].as_u64() > Some(18), "{record}");
        assert_eq!(record["server_uid"], 0);
        assert_eq!(record["client_uid"], 0);
        // The listener's owner names the server; clients that lived less
        // than a scan interval stay unknown, and that is counted.
        assert_eq!(record["server_process"]["pid"], server.pid(), "{record}");
    }
    let unknown: u64 = of_type(&lines, "loss")
        .iter()
        .filter(|l| l["kind"] == "unknown_process")
        .filter_map(|l| l["count"].as_u64())
        .sum();
    let unnamed = records.iter().filter(|r| r["client_process"].is_null()).count() as u64;
    assert_eq!(unknown, unnamed, "every unnamed client is counted as a loss");
}

/// A listener that exists for 50 ms: bind, listen, print, sleep, exit.
const BRIEF_LISTENER: &str = r#"
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ok", flush=True)
time.sleep(0.05)
"#;

fn brief_listener_is_named(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (mut child, mut ready) = python_in(&netns, BRIEF_LISTENER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let pid = child.pid();
    child.0.wait().expect("listener exits");
    let listener_events = |lines: &[Value]| -> Vec<Value> {
        of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == port)
            .cloned()
            .collect()
    };
    let seen = monitor.wait_for(|lines| listener_events(lines).len() >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let events = listener_events(&lines);
    assert!(seen, "the 50 ms listener was not seen coming and going:\n{}", dump(&lines));
    assert_eq!(events[0]["change"], "appeared");
    assert_eq!(events[0]["processes"][0]["pid"], pid, "{}", events[0]);
    assert_eq!(events[0]["processes"][0]["name"], "python3");
    assert_eq!(events[0]["scope"], "loopback");
    assert_eq!(events[1]["change"], "disappeared");
    assert_eq!(events[1]["processes"][0]["pid"], pid, "still named after exit");
}

/// Listens on `0.0.0.0:argv[1]` bound to `lo` and on `0.0.0.0:argv[2]`
/// bound to the device `argv[3]` (`SO_BINDTODEVICE`).
const DEVICE_BOUND_LISTENERS: &str = r#"
import socket, sys, time
held = []
for port, device in ((sys.argv[1], "lo"), (sys.argv[2], sys.argv[3])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    s.bind(("0.0.0.0", int(port)))
    s.listen()
    held.append(s)
print("ok", flush=True)
time.sleep(3600)
"#;

// eBPF mode judged a listener by its address alone: `0.0.0.0` bound to `lo`
// (`SO_BINDTODEVICE`) was recorded `wildcard`, exposed (and alerted on),
// while `porthole PORT` calls it loopback: only this host reaches it. The
// recorded scope now matches `porthole PORT` in both modes.
fn device_bound_listeners_are_scoped_as_porthole_port_says(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "ph0", "type", "veth", "peer", "name", "ph1"]);
    let (on_lo, on_device) = (unique_port(), unique_port());
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (_listeners, mut ready) = python_in(
        &netns,
        DEVICE_BOUND_LISTENERS,
        &[&on_lo.to_string(), &on_device.to_string(), "ph0"],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let appeared = |lines: &[Value], port: u16| -> Option<Value> {
        of_type(lines, "listener")
            .into_iter()
            .find(|l| l["local_port"] == port && l["change"] == "appeared")
            .cloned()
    };
    let seen = monitor
        .wait_for(|lines| appeared(lines, on_lo).is_some() && appeared(lines, on_device).is_some());
    let mut said = Vec::new();
    for port in [on_lo, on_device] {
        let report = netns.porthole(&[&port.to_string(), "--json"]).json();
        said.push((
            report["listeners"][0]["scope"].clone(),
            report["listeners"][0]["exposed"].clone(),
        ));
    }
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "both listeners recorded:\n{}", dump(&lines));
    assert_eq!(said[0], (Value::from("loopback"), Value::from(false)), "porthole PORT on lo");
    for (port, (scope, exposed)) in [on_lo, on_device].into_iter().zip(said) {
        let event = appeared(&lines, port).unwrap();
        assert_eq!((&event["scope"], &event["exposed"]), (&scope, &exposed), "{event}");
    }
}

#[test]
fn device_bound_listeners_are_scoped_as_porthole_port_says_in_netlink_mode() {
    device_bound_listeners_are_scoped_as_porthole_port_says("netlink");
}

#[test]
fn device_bound_listeners_are_scoped_as_porthole_port_says_in_ebpf_mode() {
    if ebpf_available() {
        device_bound_listeners_are_scoped_as_porthole_port_says("ebpf");
    }
}

/// Listens on `0.0.0.0:argv[1]`; on a line on stdin binds it to `lo`
/// (`SO_BINDTODEVICE` after listen(), as some servers do once configured)
/// and opens a UDP socket, as such a server goes on to do.
const BOUND_TO_LO_LATER: &str = r#"
import socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ok", flush=True)
sys.stdin.readline()
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
print("bound", flush=True)
time.sleep(3600)
"#;

// A listener bound to `lo` after listen() kept the scope it had when it was
// recorded (`wildcard`, exposed) for as long as it lived: eBPF reads the
// device at listen(), and neither mode looked again at a listener it knew.
// The next dump that finds it bound ends that row and records it again as
// `loopback`, with the same owner.
fn a_listener_bound_to_lo_after_listen_is_rescoped(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut command = netns.command("python3");
    command.args(["-u", "-c", BOUND_TO_LO_LATER, &port.to_string()]);
    let mut server = ChildGuard(
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("server starts"),
    );
    let mut output = BufReader::new(server.0.stdout.take().expect("piped stdout"));
    assert_eq!(wait_for_line(&mut output), "ok");
    let events = |lines: &[Value]| -> Vec<Value> {
        of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == port)
            .cloned()
            .collect()
    };
    let recorded = monitor.wait_for(|lines| !events(lines).is_empty());
    let mut stdin = server.0.stdin.take().expect("piped stdin");
    std::io::Write::write_all(&mut stdin, b"bind\n").expect("tell the server");
    assert_eq!(wait_for_line(&mut output), "bound");
    let rescoped = monitor.wait_for(|lines| events(lines).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(recorded && rescoped, "{}", dump(&lines));
    let events = events(&lines);
    let seen: Vec<(&Value, &Value, &Value)> =
        events.iter().map(|e| (&e["change"], &e["scope"], &e["exposed"])).collect();
    assert_eq!(
        seen[..3],
        [
            (&Value::from("appeared"), &Value::from("wildcard"), &Value::from(true)),
            (&Value::from("disappeared"), &Value::from("wildcard"), &Value::from(true)),
            (&Value::from("appeared"), &Value::from("loopback"), &Value::from(false)),
        ],
        "{}",
        dump(&lines)
    );
    assert_eq!(events[2]["processes"][0]["pid"], server.pid(), "{}", events[2]);
}

#[test]
fn a_listener_bound_to_lo_after_listen_is_rescoped_in_netlink_mode() {
    a_listener_bound_to_lo_after_listen_is_rescoped("netlink");
}

#[test]
fn a_listener_bound_to_lo_after_listen_is_rescoped_in_ebpf_mode() {
    if ebpf_available() {
        a_listener_bound_to_lo_after_listen_is_rescoped("ebpf");
    }
}

/// Listens on `127.0.0.1:argv[1]`, and after 4 s (past the quick dumps
/// that follow a process start) closes and listens again, as a server
/// that reloads does; the second listener lives 2 s.
const RELISTEN: &str = r#"
import socket, sys, time
def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    return s
s = listen()
print("ok", flush=True)
time.sleep(4)
s.close()
# A restart takes a moment between the close and the new listen(): the
# recorder's look at the close's notice comes before the new listener.
time.sleep(0.2)
s = listen()
print("again", flush=True)
time.sleep(2)
"#;

// A listener closed and opened again in one tick leaves the socket counts
// as they were: netlink mode saw neither change until the full look, so
// history showed one listener from the first listen() to the last close.
// The first one's destroy notification now ends it and makes the recorder
// look for the one that took its place.
fn a_listener_opened_again_in_place_is_recorded_twice(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (mut child, mut out) = python_in(&netns, RELISTEN, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ok");
    assert_eq!(wait_for_line(&mut out), "again");
    let pid = child.pid();
    let events = |lines: &[Value]| -> Vec<Value> {
        of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == port)
            .cloned()
            .collect()
    };
    // Both seen while the second still listens.
    let seen = monitor.wait_for(|lines| events(lines).len() >= 3);
    let exited = child.0.wait().expect("the server exits");
    assert!(exited.success());
    let closed = monitor.wait_for(|lines| events(lines).len() >= 4);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen && closed, "{}", dump(&lines));
    let events = events(&lines);
    let changes: Vec<&str> = events.iter().map(|e| e["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["appeared", "disappeared", "appeared", "disappeared"], "{}", dump(&lines));
    if capture == "netlink" {
        // eBPF reports no inode; a later dump would complete it.
        assert_ne!(events[0]["inode"], events[2]["inode"], "two sockets");
    }
    for event in &events {
        assert_eq!(event["processes"][0]["pid"], pid, "{event}");
    }
    let at = |i: usize| events[i]["at_us"].as_i64().unwrap();
    assert!(at(1) <= at(2) && at(3) - at(2) >= 1_000_000, "the second lived ~2 s: {events:?}");
}

#[test]
fn a_listener_opened_again_in_place_is_recorded_twice_in_netlink_mode() {
    a_listener_opened_again_in_place_is_recorded_twice("netlink");
}

#[test]
fn a_listener_opened_again_in_place_is_recorded_twice_in_ebpf_mode() {
    if ebpf_available() {
        a_listener_opened_again_in_place_is_recorded_twice("ebpf");
    }
}

/// Renames itself (`prctl(PR_SET_NAME)`, as many servers name their
/// processes) to `argv[2]`, then listens on `127.0.0.1:argv[1]`.
const RENAMED_LISTENER: &str = r#"
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ok", flush=True)
time.sleep(3600)
"#;

// Netlink mode named a listener's owner by the name the process had at its
// exec (`python3`), read when the process connector reported it, though it
// had renamed itself since: `porthole PORT` and `ls` named it otherwise.
fn a_renamed_process_is_named_as_ls_names_it(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (server, mut ready) =
        python_in(&netns, RENAMED_LISTENER, &[&port.to_string(), "porthole-srv"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let appeared = |lines: &[Value]| -> Option<Value> {
        of_type(lines, "listener").into_iter().find(|l| l["local_port"] == port).cloned()
    };
    let seen = monitor.wait_for(|lines| appeared(lines).is_some());
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "{}", dump(&lines));
    let event = appeared(&lines).unwrap();
    assert_eq!(event["processes"][0]["pid"], server.pid(), "{event}");
    assert_eq!(event["processes"][0]["name"], "porthole-srv", "{event}");
}

#[test]
fn a_renamed_process_is_named_as_ls_names_it_in_netlink_mode() {
    a_renamed_process_is_named_as_ls_names_it("netlink");
}

#[test]
fn a_renamed_process_is_named_as_ls_names_it_in_ebpf_mode() {
    if ebpf_available() {
        a_renamed_process_is_named_as_ls_names_it("ebpf");
    }
}

#[test]
fn a_listener_that_lives_50ms_is_named_in_netlink_mode() {
    brief_listener_is_named("netlink");
}

#[test]
fn a_listener_that_lives_50ms_is_named_in_ebpf_mode() {
    if ebpf_available() {
        brief_listener_is_named("ebpf");
    }
}

/// A client of a server that never accepts: connects, sends, prints its
/// port, then closes (`close`) or waits for the server's reset (`wait`).
const QUEUED_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"hello")
print(s.getsockname()[1], flush=True)
if sys.argv[2] == "wait":
    try:
        s.recv(1)
    except OSError:
        pass
s.close()
"#;

/// "Who was waiting on port 3000 when it died?": a server that hangs
/// (listens, never accepts) is killed with clients in its accept queue,
/// three that gave up before it died and one still waiting. Each is
/// recorded once, by its own port, as reset. In netlink mode the kernel
/// reports such a server end without the client's port, and none of them
/// was recorded.
fn clients_of_a_server_that_never_accepted(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "hold");
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let queued = |mode: &str| python_in(&netns, QUEUED_CLIENT, &[&port.to_string(), mode]);
    let mut ports = Vec::new();
    let mut waiting = None;
    for mode in ["close", "close", "close", "wait"] {
        let (client, mut out) = queued(mode);
        ports.push(wait_for_line(&mut out).parse::<u64>().expect("a port"));
        waiting = Some(client);
    }
    drop(server);
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= ports.len());
    drop(waiting);
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "not every queued client was recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let records = connections_to(&lines, port);
    let mut recorded_ports: Vec<u64> =
        records.iter().filter_map(|record| record["client_port"].as_u64()).collect();
    recorded_ports.sort_unstable();
    ports.sort_unstable();
    assert_eq!(recorded_ports, ports, "{}", dump(&lines));
    for record in records {
        assert_eq!(record["end"], "reset", "{record}");
        assert_eq!(record["bytes_client_to_server"], 5, "{record}");
        assert_eq!(record["client_address"], "127.0.0.1", "{record}");
    }
}

#[test]
fn clients_of_a_server_that_never_accepted_are_recorded_in_netlink_mode() {
    clients_of_a_server_that_never_accepted("netlink");
}

#[test]
fn clients_of_a_server_that_never_accepted_are_recorded_in_ebpf_mode() {
    if ebpf_available() {
        clients_of_a_server_that_never_accepted("ebpf");
    }
}

/// Makes and closes `argv[1]` loopback connections in one process, one
/// after another: six ring-buffer records each in eBPF mode, so 8,000 of
/// them overflow the 4 MiB ring of a recorder that is not reading.
const CHURN: &str = r#"
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
for _ in range(int(sys.argv[1])):
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    client.close()
    accepted.close()
print("ok", flush=True)
"#;

/// In eBPF mode TCP listeners come as events and the namespace's TCP
/// counts (which every connection moves) do not ask for a dump; but an
/// event lost to a full ring buffer must not leave a listener unseen until
/// the full look 30 s after the start. The recorder is stopped while
/// connections overflow its ring and a listener starts, then continued:
/// the drop makes its next tick dump.
#[test]
fn a_listener_whose_event_was_dropped_is_dumped_at_the_next_tick_in_ebpf_mode() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let recorder = rustix::process::Pid::from_raw(monitor.pid() as i32).expect("positive pid");
    rustix::process::kill_process(recorder, rustix::process::Signal::STOP).expect("SIGSTOP");
    let stopped_at = std::time::Instant::now();
    let (mut churn, mut done) = python_in(&netns, CHURN, &["8000"]);
    let churned = wait_for_line(&mut done);
    churn.0.wait().expect("churn exits");
    let listener = server_in(&netns, "127.0.0.1", port, "hold");
    rustix::process::kill_process(recorder, rustix::process::Signal::CONT).expect("SIGCONT");
    assert_eq!(churned, "ok");
    let appeared = |lines: &[Value]| {
        of_type(lines, "listener")
            .into_iter()
            .any(|l| l["local_port"] == port && l["change"] == "appeared")
    };
    // The full look comes 30 s after the start; the next tick within about
    // a second. The bound sits between the two.
    let seen = eventually(Duration::from_secs(20), || appeared(&monitor.lines.lock().unwrap()));
    let waited = stopped_at.elapsed();
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    let dropped: u64 = of_type(&lines, "loss")
        .iter()
        .filter(|loss| loss["kind"] == "ring_buffer_full")
        .filter_map(|loss| loss["count"].as_u64())
        .sum();
    assert!(
        dropped > 0,
        "the churn did not overflow the ring:\n{}",
        dump(&of_type(&lines, "loss").into_iter().cloned().collect::<Vec<_>>())
    );
    assert!(
        seen,
        "listener on {port} not seen {waited:?} after the recorder was stopped:\n{}",
        dump(&lines)
    );
    let event = of_type(&lines, "listener")
        .into_iter()
        .find(|l| l["local_port"] == port)
        .cloned()
        .expect("listener event");
    assert_eq!(event["processes"][0]["pid"], listener.pid(), "{event}");
}

/// Connects twice from processes with the same pid: the first exits, then
/// `ns_last_pid` is set so the next fork gets the same number; each child
/// execs python with its own tag. Each client stays 300 ms after its close:
/// a command line is read from `/proc` while the process lives, and a
/// recorder starved by a loaded machine may read its events that late.
const PID_REUSE: &str = r#"
import os, sys
port = sys.argv[1]
client = "import socket,sys,time; s=socket.create_connection(('127.0.0.1', int(sys.argv[2]))); s.sendall(sys.argv[1].encode()); s.recv(100); s.close(); time.sleep(0.3)"
def spawn(tag):
    pid = os.fork()
    if pid == 0:
        os.execvp("python3", ["python3", "-c", client, tag, port])
    os.waitpid(pid, 0)
    return pid
first = spawn("first")
for attempt in range(200):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(first - 1))
    pid = os.fork()
    if pid == 0:
        os.execvp("python3", ["python3", "-c", client, "second", port])
    os.waitpid(pid, 0)
    if pid == first:
        print(first, flush=True)
        break
else:
    print("no-reuse", flush=True)
"#;

/// Accepts connections and echoes one read back, forever.
const ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if ":" in sys.argv[1]:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ok", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(c.recv(100))
    c.close()
"#;

#[test]
fn a_reused_pid_names_each_process_correctly() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) = python_in(&netns, ECHO, &["127.0.0.1", &port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf"]);
    let (_spawner, mut result) = python_in(&netns, PID_REUSE, &[&port.to_string()]);
    let reused = wait_for_line(&mut result);
    if reused == "no-reuse" {
        let _ = monitor.stop();
        skip("could not make the kernel reuse a pid (ns_last_pid raced with other forks)");
        return;
    }
    let pid: u64 = reused.parse().expect("a pid");
    let both = monitor.wait_for(|lines| {
        connections_to(lines, port).iter().filter(|c| c["client_process"]["pid"] == pid).count()
            >= 2
    });
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(both, "two connections from pid {pid} expected:\n{}", dump(&lines));
    let tags: Vec<(u64, String)> = connections_to(&lines, port)
        .iter()
        .filter(|c| c["client_process"]["pid"] == pid)
        .map(|c| {
            let argv = &c["client_process"]["argv"];
            let tag = argv.as_array().and_then(|a| a.get(3)).and_then(|t| t.as_str());
            (c["bytes_client_to_server"].as_u64().unwrap(), tag.unwrap_or("?").to_string())
        })
        .collect();
    // Each connection sent its own tag, and is named by the process that
    // really sent it: "first" (5 bytes) and "second" (6 bytes).
    assert!(tags.contains(&(5, "first".to_string())), "{tags:?}\n{}", dump(&lines));
    assert!(tags.contains(&(6, "second".to_string())), "{tags:?}\n{}", dump(&lines));
}

/// IPv4 clients of a dual-stack listener (also those of IPv6 sockets
/// connecting to `::ffff:127.0.0.1`) are recorded under their IPv4 address; `history localhost:PORT` finds the clients of 127.0.0.1 and of
/// ::1 (RFC 6761, though this machine's /etc/hosts may name only one), and
/// `[::ffff:127.0.0.1]:PORT` those of 127.0.0.1.
fn ipv4_mapped_clients_match(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("utf-8 path").to_string();
    let port = unique_port();
    let (server, mut ready) = python_in(&netns, ECHO, &["::", &port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let monitor = Monitor::start(Some(&netns), &["--capture", capture, "--store", &store_text]);
    let mut clients = run_clients(&netns, "127.0.0.1", port, 2);
    // An IPv6 socket connecting to the IPv4-mapped address is an IPv4
    // client on the wire.
    clients.extend(run_clients(&netns, "::ffff:127.0.0.1", port, 1));
    let ipv6_clients = run_clients(&netns, "::1", port, 1);
    let all = clients.len() + ipv6_clients.len();
    let complete = monitor.wait_for(|lines| connections_to(lines, port).len() >= all);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(complete, "{}", dump(&lines));
    let ipv4 = connections_to(&lines, port).into_iter().filter(|r| r["client_address"] != "::1");
    for record in ipv4 {
        // The dual-stack server sees ::ffff:127.0.0.1; it is reported as
        // the IPv4 address the client used.
        assert_eq!(record["client_address"], "127.0.0.1", "{record}");
        assert_eq!(record["server_address"], "127.0.0.1", "{record}");
        assert_eq!(record["server_process"]["pid"], server.pid(), "{record}");
        if capture == "ebpf" {
            let pid = record["client_process"]["pid"].as_u64().expect("client pid");
            assert!(clients.contains(&(pid as u32)), "{record}");
        }
    }
    // Connections per server address (one group per client program).
    let servers = |endpoint: &str| -> Vec<(String, u64)> {
        let args = ["history", endpoint, "--connections", "--json", "--store", &store_text];
        let output = porthole_run(&args);
        assert_eq!(output.code, 0, "{endpoint}: {output:?}");
        let json: Value = serde_json::from_str(&output.stdout).expect("JSON");
        let mut servers = std::collections::BTreeMap::<String, u64>::new();
        for group in json["clients"].as_array().expect("clients") {
            let address = group["server_address"].as_str().unwrap_or("?").to_string();
            *servers.entry(address).or_default() += group["connections"].as_u64().unwrap_or(0);
        }
        servers.into_iter().collect()
    };
    let both = vec![("127.0.0.1".to_string(), 3), ("::1".to_string(), 1)];
    assert_eq!(servers(&format!("localhost:{port}")), both);
    let ipv4 = vec![("127.0.0.1".to_string(), 3)];
    assert_eq!(servers(&format!("[::ffff:127.0.0.1]:{port}")), ipv4);
    assert_eq!(servers(&format!("127.0.0.1:{port}")), ipv4);
    assert_eq!(servers(&format!("[::1]:{port}")), vec![("::1".to_string(), 1)]);
}

/// A client that sends "ping", reads the echo, and closes either in order
/// or with `SO_LINGER` 0 (a RST instead of a FIN); prints its port.
const ENDING_CLIENT: &str = r#"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
s.sendall(b"ping")
s.recv(100)
if sys.argv[2] == "reset":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
"#;

/// An echo server that closes only after its client did (FIN or RST), so
/// the client decides how each connection ends.
const ECHO_THEN_WAIT: &str = r#"
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ok", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(c.recv(100))
    try:
        c.recv(100)
    except ConnectionResetError:
        pass
    c.close()
"#;

fn connection_ends_are_told_apart(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (server, mut ready) = python_in(&netns, ECHO_THEN_WAIT, &["127.0.0.1", &port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let server_pid = server.0.id();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut client_ports = Vec::new();
    for how in ["close", "reset"] {
        let (mut client, mut output) = python_in(&netns, ENDING_CLIENT, &[&port.to_string(), how]);
        let client_port: u64 = wait_for_line(&mut output).parse().expect("a port");
        assert!(client.0.wait().expect("client exits").success());
        client_ports.push((client_port, how));
    }
    let complete = monitor.wait_for(|lines| connections_to(lines, port).len() >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(complete, "{}", dump(&lines));
    let records = connections_to(&lines, port);
    for (client_port, how) in client_ports {
        let record = records
            .iter()
            .find(|r| r["client_port"] == client_port)
            .unwrap_or_else(|| panic!("no record of port {client_port}:\n{}", dump(&lines)));
        let expected = if how == "reset" { "reset" } else { "closed" };
        assert_eq!(record["end"], expected, "{record}");
        // eBPF mode names the server at its close(); a server end reset
        // before that (and netlink mode) falls back to the listener's owner.
        assert_eq!(record["server_process"]["pid"], server_pid, "{record}");
        assert_eq!(record["bytes_client_to_server"], 4, "{record}");
    }
}

#[test]
fn a_reset_and_a_close_are_told_apart_in_ebpf_mode() {
    if ebpf_available() {
        connection_ends_are_told_apart("ebpf");
    }
}

#[test]
fn a_reset_and_a_close_are_told_apart_in_netlink_mode() {
    connection_ends_are_told_apart("netlink");
}

#[test]
fn ipv4_mapped_ipv6_clients_are_joined_in_ebpf_mode() {
    if ebpf_available() {
        ipv4_mapped_clients_match("ebpf");
    }
}

#[test]
fn ipv4_mapped_ipv6_clients_are_joined_in_netlink_mode() {
    ipv4_mapped_clients_match("netlink");
}

#[test]
fn unix_listeners_come_and_go_with_their_owner() {
    let Some(netns) = Netns::create() else { return };
    let path = format!("/tmp/porthole-monitor-{}-{}.sock", std::process::id(), unique_port());
    let monitor = Monitor::start(Some(&netns), &["--capture", "netlink"]);
    let code = r#"
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
print("ok", flush=True)
time.sleep(0.3)
s.close()
os.unlink(sys.argv[1])
"#;
    let (mut child, mut ready) = python_in(&netns, code, &[&path]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let pid = child.pid();
    child.0.wait().expect("listener exits");
    let events_of = |lines: &[Value]| -> Vec<Value> {
        of_type(lines, "listener").into_iter().filter(|l| l["path"] == path).cloned().collect()
    };
    let seen = monitor.wait_for(|lines| events_of(lines).len() >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(seen, "{}", dump(&lines));
    let events = events_of(&lines);
    assert_eq!(events[0]["protocol"], "unix");
    assert_eq!(events[0]["change"], "appeared");
    assert_eq!(events[0]["processes"][0]["pid"], pid);
    assert_eq!(events[1]["change"], "disappeared");
}

/// Binds a UDP socket to each port in `argv[2:]`, one after another,
/// each for 10 ms, after waiting `argv[1]` seconds (past the quick dumps
/// that follow a process start).
const BRIEF_UDP_LISTENERS: &str = r#"
import socket, sys, time
time.sleep(float(sys.argv[1]))
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(port)))
    time.sleep(0.01)
    s.close()
    time.sleep(0.3)
print("done", flush=True)
"#;

/// UDP listeners that each live 10 ms between two of netlink mode's dumps
/// (no counter it compares moves across the gap) were missed without a
/// word. Each is now either recorded or counted as an `unseen_listener`
/// loss of the namespace, from the UDP destroy notifications. eBPF mode,
/// whose programs see TCP only, finds UDP listeners by the same dumps and
/// was silent about them too.
#[test]
fn udp_listeners_between_two_dumps_are_never_missed_silently_in_netlink_mode() {
    udp_listeners_between_two_dumps_are_never_missed_silently("netlink");
}

#[test]
fn udp_listeners_between_two_dumps_are_never_missed_silently_in_ebpf_mode() {
    if crate::monitor::ebpf_available() {
        udp_listeners_between_two_dumps_are_never_missed_silently("ebpf");
    }
}

fn udp_listeners_between_two_dumps_are_never_missed_silently(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let ports: Vec<u16> = (0..5).map(|_| unique_port()).collect();
    let texts: Vec<String> = ports.iter().map(u16::to_string).collect();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut args = vec!["3.5"];
    args.extend(texts.iter().map(String::as_str));
    let (mut child, mut out) = python_in(&netns, BRIEF_UDP_LISTENERS, &args);
    assert_eq!(wait_for_line(&mut out), "done");
    child.0.wait().expect("the binder exits");
    let accounted = |lines: &[Value]| -> u64 {
        let recorded = of_type(lines, "listener")
            .iter()
            .filter(|l| l["change"] == "appeared" && l["protocol"] == "udp")
            .filter(|l| ports.iter().any(|&port| l["local_port"] == port))
            .count() as u64;
        let unseen: u64 = of_type(lines, "loss")
            .iter()
            .filter(|l| l["kind"] == "unseen_listener")
            .filter_map(|l| l["count"].as_u64())
            .sum();
        recorded + unseen
    };
    let told = monitor.wait_for(|lines| accounted(lines) >= 5);
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(told, "5 brief UDP listeners, {} accounted for:\n{}", accounted(&lines), dump(&lines));
    assert_eq!(accounted(&lines), 5, "each told once:\n{}", dump(&lines));
    for loss in of_type(&lines, "loss").iter().filter(|l| l["kind"] == "unseen_listener") {
        assert_eq!(loss["net_namespace"], Value::Null, "the recorder's own namespace: {loss}");
    }
}

fn child_namespace_is_recorded(capture: &str) {
    // The recorder runs in this (host) namespace; the service and its
    // clients run in a container-like namespace of their own.
    let Some(container) = Netns::create() else { return };
    let inode = std::fs::metadata(format!("/run/netns/{}", container.name))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("namespace inode");
    let port = unique_port();
    let server = server_in(&container, "127.0.0.1", port, "http");
    let monitor = Monitor::start(None, &["--netns", "all", "--capture", capture]);
    let in_container = |lines: &[Value]| -> Vec<Value> {
        connections_to(lines, port)
            .into_iter()
            .filter(|c| c["net_namespace"] == inode)
            .cloned()
            .collect()
    };
    let clients = run_clients(&container, "127.0.0.1", port, 3);
    let complete = monitor.wait_for(|lines| in_container(lines).len() >= clients.len());
    let (lines, stderr, code) = monitor.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("recording all network namespaces"), "{stderr}");
    assert!(complete, "connections in netns {inode} missing");
    let records = in_container(&lines);
    for record in &records {
        assert_eq!(record["server_process"]["pid"], server.pid(), "{record}");
    }
    if capture == "ebpf" {
        for pid in &clients {
            assert!(
                records.iter().any(|r| r["client_process"]["pid"] == *pid),
                "client {pid} not named: {records:?}"
            );
        }
    }
    let listener = of_type(&lines, "listener")
        .into_iter()
        .find(|l| l["local_port"] == port && l["net_namespace"] == inode)
        .cloned();
    let listener = listener.expect("the container's listener is reported with its namespace");
    assert_eq!(listener["processes"][0]["pid"], server.pid());
}

#[test]
fn netns_all_records_a_child_namespace_in_netlink_mode() {
    child_namespace_is_recorded("netlink");
}

#[test]
fn netns_all_records_a_child_namespace_in_ebpf_mode() {
    if ebpf_available() {
        child_namespace_is_recorded("ebpf");
    }
}

#[test]
fn sigterm_flushes_the_last_batch() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let mut command = netns.command(binary().to_str().expect("utf-8 path"));
    scrub(&mut command);
    let child = command
        .args(["monitor", "--jsonl", "--capture", "ebpf"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("monitor starts");
    let mut guard = ChildGuard(child);
    let mut stderr = BufReader::new(guard.0.stderr.take().expect("stderr"));
    // The start line is printed once everything is attached.
    let mut line = String::new();
    stderr.read_line(&mut line).expect("start line");
    assert!(line.contains("capture ebpf"), "{line}");
    run_clients(&netns, "127.0.0.1", port, 2);
    // Stop at once: the connections are still in the recorder's queues.
    let pid = rustix::process::Pid::from_raw(guard.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let status = guard.0.wait().expect("monitor exits");
    assert_eq!(status.code(), Some(0));
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut guard.0.stdout.take().expect("stdout"), &mut stdout)
        .expect("stdout read");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(connections_to(&lines, port).len(), 2, "{stdout}");
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let output = porthole_run(&["monitor", "--interval", "5x"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.starts_with("porthole: --interval '5x':"), "{}", output.stderr);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    let output = porthole_run(&["monitor", "--interval", "10ms"]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("at least 100ms"), "{}", output.stderr);
}

/// The whole path: `porthole monitor --store FILE` records real traffic,
/// and `porthole history` answers from that file with the client's pid.
#[test]
fn history_answers_from_what_the_monitor_recorded() {
    if !ebpf_available() {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("utf-8 path").to_string();
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    let monitor = Monitor::start(Some(&netns), &["--capture", "ebpf", "--store", &store_text]);
    let clients = run_clients(&netns, "127.0.0.1", port, 3);
    let complete = monitor.wait_for(|lines| connections_to(lines, port).len() >= clients.len());
    let (lines, stderr, code) = monitor.stop();
    assert!(complete, "not every connection was recorded:\n{}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let mode = std::fs::metadata(&store).expect("the store exists").permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

    let output = crate::util::porthole_run(&[
        "history",
        &port.to_string(),
        "--store",
        &store_text,
        "--each",
        "--json",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let text = output.stdout.clone();
    for pid in &clients {
        assert!(text.contains(&format!("\"pid\": {pid}")), "client {pid} in history:\n{text}");
    }
    assert!(text.contains(&format!("\"pid\": {}", server.pid())), "the server:\n{text}");
}

/// A size cap below what an empty store takes would delete every
/// connection as it is written: refused before anything starts. A store
/// path that is a directory is named as one, its cause said once.
#[test]
fn store_settings_that_cannot_work_are_refused() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("utf-8 path");
    for cap in ["1", "64kB", "999999"] {
        let output = porthole_run(&["monitor", "--store", store_text, "--max-size", cap]);
        assert_eq!(output.code, 2, "{cap}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{cap}: {output:?}");
        assert!(output.stderr.contains("at least 1MB"), "{cap}: {output:?}");
        assert!(!store.exists(), "{cap}: the store was created");
    }
    if !is_root() {
        skip("recording needs root");
        return;
    }
    std::fs::create_dir(&store).expect("mkdir");
    // Said before anything starts: the one line there is.
    let output = porthole_run(&["monitor", "--store", store_text, "--max-size", "1MB"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(
        output.stderr,
        format!(
            "porthole: --store '{store_text}': is a directory: give the store file's path, \
             such as {store_text}/history.sqlite\n"
        ),
        "{output:?}"
    );
    // A file where a directory of the path should be is named, not the
    // store with "File exists".
    let file = directory.path().join("notes");
    std::fs::write(&file, b"shopping list\n").expect("write");
    let under_file = file.join("history.sqlite");
    let output = porthole_run(&["monitor", "--store", under_file.to_str().expect("utf-8")]);
    assert_eq!(output.code, 2, "{output:?}");
    let last = output.stderr.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(&format!("{}: Not a directory (os error 20)", file.display())),
        "{output:?}"
    );
    assert_eq!(std::fs::read(&file).expect("read"), b"shopping list\n");
}

/// SIGHUP (a closed terminal, a dropped SSH session) stops the recorder as
/// SIGTERM does: the batch in hand reaches stdout and the store, the
/// summary is printed and the exit code is 0. Its default action killed the
/// process with up to a second of events unwritten.
#[test]
fn sighup_writes_the_last_batch_to_stdout_and_the_store() {
    if !is_root() {
        skip("recording needs root");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("utf-8 path").to_string();
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let mut command = netns.command(binary().to_str().expect("utf-8 path"));
    scrub(&mut command);
    let child = command
        .args(["monitor", "--jsonl", "--capture", "netlink", "--no-alerts", "--store", &store_text])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("monitor starts");
    let mut guard = ChildGuard(child);
    let mut stderr = BufReader::new(guard.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("start line");
    assert!(line.contains("capture netlink"), "{line}");
    run_clients(&netns, "127.0.0.1", port, 2);
    // At once: the closes are still in the recorder's batch.
    let pid = rustix::process::Pid::from_raw(guard.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("SIGHUP");
    let status = guard.0.wait().expect("monitor exits");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr read");
    assert_eq!(status.code(), Some(0), "{status:?}: {rest}");
    assert!(rest.contains("porthole monitor: stopped after"), "{rest}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut guard.0.stdout.take().expect("stdout"), &mut stdout)
        .expect("stdout read");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(connections_to(&lines, port).len(), 2, "{stdout}");
    let output = porthole_run(&[
        "history",
        &port.to_string(),
        "--connections",
        "--each",
        "--jsonl",
        "--store",
        &store_text,
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let stored = output.stdout.lines().filter(|l| l.contains("\"type\":\"connection\"")).count();
    assert_eq!(stored, 2, "{output:?}");
}

/// Listens, forks a child that keeps the listener, prints the child's pid
/// and exits: the listener is handed on. The child answers each connection
/// with its pid and exits when a line arrives on its stdin (the test's pipe,
/// inherited).
const HANDED_ON: &str = r#"
import os, socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
child = os.fork()
if child:
    print(child, flush=True)
    os._exit(0)
threading.Thread(target=lambda: (sys.stdin.readline(), os._exit(0)), daemon=True).start()
while True:
    c, _ = s.accept()
    c.recv(100)
    c.sendall(str(os.getpid()).encode())
    c.close()
"#;

/// A listener whose owner forked and exited is named after the process
/// that holds it now: the connections its new holder serves (in netlink
/// mode named from the listener) and its disappearance.
fn a_listener_handed_to_a_child_names_its_new_holder(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut command = netns.command("python3");
    command.args(["-u", "-c", HANDED_ON, &port.to_string()]);
    let mut parent = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = parent.stdin.take().expect("piped stdin");
    let child: u64 = wait_for_line(&mut BufReader::new(parent.stdout.take().unwrap()))
        .parse()
        .expect("the child's pid");
    let parent_pid = parent.id();
    assert!(parent.wait().expect("parent exits").success());
    run_clients(&netns, "127.0.0.1", port, 1);
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() == 1);
    std::io::Write::write_all(&mut stdin, b"exit\n").expect("tell the child to exit");
    let events_of = |lines: &[Value]| -> Vec<Value> {
        of_type(lines, "listener")
            .into_iter()
            .filter(|l| l["local_port"] == port)
            .cloned()
            .collect()
    };
    let gone = monitor.wait_for(|lines| events_of(lines).len() >= 2);
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded && gone, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let record = connections_to(&lines, port)[0];
    assert_eq!(record["server_process"]["pid"], child, "parent {parent_pid}: {record}");
    let events = events_of(&lines);
    assert_eq!(events[1]["change"], "disappeared");
    let holders: Vec<&Value> =
        events[1]["processes"].as_array().unwrap().iter().map(|p| &p["pid"]).collect();
    assert_eq!(holders, [&Value::from(child)], "parent {parent_pid}: {}", events[1]);
}

#[test]
fn a_listener_handed_to_a_child_names_its_new_holder_in_netlink_mode() {
    a_listener_handed_to_a_child_names_its_new_holder("netlink");
}

#[test]
fn a_listener_handed_to_a_child_names_its_new_holder_in_ebpf_mode() {
    if ebpf_available() {
        a_listener_handed_to_a_child_names_its_new_holder("ebpf");
    }
}

/// A server that answers each connection with its pid, on a
/// `SO_REUSEPORT` socket.
const REUSEPORT_SERVER: &str = r#"
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("ok", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(str(os.getpid()).encode())
    c.close()
"#;

/// Connects `argv[2]` times; prints "CLIENT_PORT SERVER_PID" per connection.
const ASK_PID: &str = r#"
import socket, sys
for _ in range(int(sys.argv[2])):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    print(c.getsockname()[1], c.recv(100).decode(), flush=True)
    c.close()
"#;

/// Two processes in one `SO_REUSEPORT` group: the kernel spreads the
/// connections between them. Each record names the process that really
/// served it, or (netlink mode, where a short connection's server is
/// known only from the listeners) nobody — never the other process.
fn a_reuseport_group_never_names_the_wrong_server(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let (server, mut ready) = python_in(&netns, REUSEPORT_SERVER, &[&port.to_string()]);
        assert_eq!(wait_for_line(&mut ready), "ok");
        servers.push(server);
    }
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let both = monitor.wait_for(|lines| {
        of_type(lines, "listener").iter().filter(|l| l["local_port"] == port).count() == 2
    });
    let output = netns.command("python3").args(["-c", ASK_PID, &port.to_string(), "16"]).output();
    let output = output.expect("clients run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let served: std::collections::HashMap<u64, u64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let (client, server) = line.split_once(' ').expect("two numbers");
            (client.parse().unwrap(), server.parse().unwrap())
        })
        .collect();
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= served.len());
    let (lines, stderr, code) = monitor.stop();
    assert!(both && recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let pids: std::collections::HashSet<u64> = served.values().copied().collect();
    if pids.len() < 2 {
        skip("the kernel gave all 16 connections to one member of the group");
        return;
    }
    for record in connections_to(&lines, port) {
        let client_port = record["client_port"].as_u64().unwrap();
        let expected = served[&client_port];
        match &record["server_process"] {
            Value::Null if capture == "netlink" => {}
            server => assert_eq!(server["pid"], expected, "{record}"),
        }
    }
    let listeners = of_type(&lines, "listener");
    let mut owners: Vec<u64> = listeners
        .iter()
        .filter(|l| l["local_port"] == port)
        .map(|l| l["processes"][0]["pid"].as_u64().unwrap())
        .collect();
    owners.sort_unstable();
    let mut started: Vec<u64> = servers.iter().map(|s| u64::from(s.pid())).collect();
    started.sort_unstable();
    assert_eq!(owners, started, "each socket of the group is named after its process");
}

#[test]
fn a_reuseport_group_never_names_the_wrong_server_in_netlink_mode() {
    a_reuseport_group_never_names_the_wrong_server("netlink");
}

#[test]
fn a_reuseport_group_never_names_the_wrong_server_in_ebpf_mode() {
    if ebpf_available() {
        a_reuseport_group_never_names_the_wrong_server("ebpf");
    }
}

/// `systemd-socket-activate` listens, then execs the service with the
/// socket as fd 3: same pid, new program. Connections and the listener's
/// end name the service, not the launcher.
fn socket_activation_names_the_service(capture: &str) {
    if !crate::util::installed("systemd-socket-activate") {
        skip("systemd-socket-activate is not installed (Debian: systemd)");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let service = "import socket\ns = socket.socket(fileno=3)\nwhile True:\n    c, _ = s.accept()\n    c.recv(100)\n    c.sendall(b'ok')\n    c.close()\n";
    let address = format!("127.0.0.1:{port}");
    let mut command = netns.command("systemd-socket-activate");
    command.args(["-l", &address, "python3", "-c", service]);
    let activator = ChildGuard::spawn(command.stdout(Stdio::null()).stderr(Stdio::null()));
    let listening = monitor
        .wait_for(|lines| of_type(lines, "listener").iter().any(|l| l["local_port"] == port));
    // The first connection starts the service (the exec); the second finds
    // it running.
    run_clients(&netns, "127.0.0.1", port, 2);
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= 2);
    let pid = activator.pid();
    drop(activator);
    let gone = monitor.wait_for(|lines| {
        of_type(lines, "listener")
            .iter()
            .any(|l| l["local_port"] == port && l["change"] == "disappeared")
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(listening && recorded && gone, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    for record in connections_to(&lines, port) {
        assert_eq!(record["server_process"]["pid"], pid, "{record}");
        assert_eq!(record["server_process"]["name"], "python3", "{record}");
    }
    let events: Vec<&Value> =
        of_type(&lines, "listener").into_iter().filter(|l| l["local_port"] == port).collect();
    assert_eq!(events[0]["processes"][0]["name"], "systemd-socket-", "who called listen()");
    let last = events.last().unwrap();
    assert_eq!(last["change"], "disappeared");
    assert_eq!(last["processes"][0]["pid"], pid, "{last}");
    assert_eq!(last["processes"][0]["name"], "python3", "the service held it: {last}");
}

#[test]
fn socket_activation_names_the_service_in_netlink_mode() {
    socket_activation_names_the_service("netlink");
}

#[test]
fn socket_activation_names_the_service_in_ebpf_mode() {
    if ebpf_available() {
        socket_activation_names_the_service("ebpf");
    }
}

/// A listener on `argv[1]` comes and goes; a client bound to source port
/// `argv[2]` is refused (its socket, disconnected, stays bound without a
/// peer until it is destroyed); the listener returns and the same client
/// port connects, sends "hello" and reads "hi". The listener stays two
/// seconds more, so that it is seen going.
const REFUSED_THEN_SERVED: &str = r#"
import gc, socket, sys, time
port, source = int(sys.argv[1]), int(sys.argv[2])
def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    return s
def connect():
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", source))
    try:
        c.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        c.close()
        return None
    return c
s = listen(); time.sleep(1); s.close(); time.sleep(1)
assert connect() is None
time.sleep(1)
s = listen()
c = connect()
a, _ = s.accept()
c.sendall(b"hello"); a.recv(10); a.sendall(b"hi"); c.recv(10)
c.close(); time.sleep(0.2); a.close()
print("ok", flush=True)
time.sleep(2)
"#;

/// A refused connect() leaves a socket bound to the client's port with no
/// peer; its destruction looks like a listener's close. A later connection
/// from that port to a real listener is recorded once, the right way
/// round.
fn a_refused_clients_port_is_not_taken_for_a_server(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let (port, source) = (unique_port(), unique_port());
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let (mut driver, mut done) =
        python_in(&netns, REFUSED_THEN_SERVED, &[&port.to_string(), &source.to_string()]);
    assert_eq!(wait_for_line(&mut done), "ok");
    assert!(driver.0.wait().expect("driver exits").success());
    let recorded = monitor.wait_for(|lines| !connections_to(lines, port).is_empty());
    let gone = monitor.wait_for(|lines| {
        of_type(lines, "listener")
            .iter()
            .filter(|l| l["local_port"] == port && l["change"] == "disappeared")
            .count()
            == 2
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded && gone, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(connections_to(&lines, source), Vec::<&Value>::new(), "reversed record");
    let records = connections_to(&lines, port);
    assert_eq!(records.len(), 1, "{}", dump(&lines));
    assert_eq!(records[0]["client_port"], source, "{}", records[0]);
    assert_eq!(records[0]["bytes_client_to_server"], 5, "{}", records[0]);
    assert_eq!(records[0]["bytes_server_to_client"], 2, "{}", records[0]);
    assert_eq!(records[0]["end"], "closed", "{}", records[0]);
}

#[test]
fn a_refused_clients_port_is_not_taken_for_a_server_in_netlink_mode() {
    a_refused_clients_port_is_not_taken_for_a_server("netlink");
}

#[test]
fn a_refused_clients_port_is_not_taken_for_a_server_in_ebpf_mode() {
    if ebpf_available() {
        a_refused_clients_port_is_not_taken_for_a_server("ebpf");
    }
}

/// Connects to `argv[1]` from a thread, from a forked child and from a
/// child in a new pid namespace (`unshare -p -f`); each holds its
/// connection a second (long enough for netlink capture to name it at a
/// scan) and prints "how CLIENT_PORT HOST_PID": the pid as the host sees
/// it (`NSpid`'s first field, read through the host's /proc).
const CLIENTS_OF_EVERY_KIND: &str = r#"
import os, socket, subprocess, sys, threading, time
port = int(sys.argv[1])
hold = "import socket,sys,time\nc=socket.create_connection(('127.0.0.1',%d))\npid=[l.split()[1] for l in open('/proc/self/status') if l.startswith('NSpid:')][0]\nprint(sys.argv[1], c.getsockname()[1], pid, flush=True)\nc.sendall(b'x')\ntime.sleep(1)\nc.close()\n" % port
def connect(how):
    c = socket.create_connection(("127.0.0.1", port))
    print(how, c.getsockname()[1], os.getpid(), flush=True)
    c.sendall(b"x")
    time.sleep(1)
    c.close()
thread = threading.Thread(target=connect, args=("thread",))
thread.start(); thread.join()
child = os.fork()
if child == 0:
    connect("fork")
    os._exit(0)
os.waitpid(child, 0)
subprocess.run(["unshare", "-p", "-f", sys.executable, "-c", hold, "pidns"], check=True)
"#;

/// Clients that are not a process's main thread, a forked child that
/// never execs, and a process in a child pid namespace are named by the
/// pid `ps` on the host shows.
fn clients_of_every_kind_are_named_by_their_host_pid(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) = python_in(&netns, ECHO_THEN_WAIT, &["127.0.0.1", &port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let monitor = Monitor::start(Some(&netns), &["--capture", capture, "--interval", "200ms"]);
    let output = netns
        .command("python3")
        .args(["-c", CLIENTS_OF_EVERY_KIND, &port.to_string()])
        .output()
        .expect("clients run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let clients: Vec<(String, u64, u64)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0].to_string(), fields[1].parse().unwrap(), fields[2].parse().unwrap())
        })
        .collect();
    assert_eq!(clients.len(), 3, "{clients:?}");
    let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    for (how, client_port, pid) in clients {
        let record = connections_to(&lines, port)
            .into_iter()
            .find(|r| r["client_port"] == client_port)
            .unwrap_or_else(|| panic!("no record of the {how} client:\n{}", dump(&lines)));
        assert_eq!(record["client_process"]["pid"], pid, "{how}: {record}");
    }
}

#[test]
fn clients_of_every_kind_are_named_by_their_host_pid_in_netlink_mode() {
    clients_of_every_kind_are_named_by_their_host_pid("netlink");
}

#[test]
fn clients_of_every_kind_are_named_by_their_host_pid_in_ebpf_mode() {
    if ebpf_available() {
        clients_of_every_kind_are_named_by_their_host_pid("ebpf");
    }
}

/// Listens on `argv[1]` until told (a line on stdin), then closes it and
/// at once listens on `argv[2]`: the namespace's socket counters read the
/// same before and after. Three short connections to the new listener
/// follow; it stays two seconds more.
const SWAPPED_LISTENER: &str = r#"
import socket, sys, time
def listen(port):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s
first = listen(int(sys.argv[1]))
print("ok", flush=True)
sys.stdin.readline()
first.close()
second = listen(int(sys.argv[2]))
for _ in range(3):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    a, _ = second.accept()
    c.sendall(b"ping"); a.recv(10); a.sendall(b"pong"); c.recv(10)
    c.close(); a.close()
print("done", flush=True)
time.sleep(2)
"#;

/// A listener that opened as another socket closed is invisible to the
/// counters that decide netlink mode's listener dumps; the closes of its
/// connections, between two local ports nobody is known to listen on,
/// make the recorder look: they are recorded as connections to it.
fn connections_to_a_listener_the_counters_missed_are_recorded(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let (first, second) = (unique_port(), unique_port());
    let monitor = Monitor::start(Some(&netns), &["--capture", capture]);
    let mut command = netns.command("python3");
    command.args(["-u", "-c", SWAPPED_LISTENER, &first.to_string(), &second.to_string()]);
    let mut driver = ChildGuard(
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("driver starts"),
    );
    let mut output = BufReader::new(driver.0.stdout.take().expect("piped stdout"));
    assert_eq!(wait_for_line(&mut output), "ok");
    let seen = monitor
        .wait_for(|lines| of_type(lines, "listener").iter().any(|l| l["local_port"] == first));
    // Past the quick dumps that follow a process start (HURRY_FOR).
    std::thread::sleep(Duration::from_secs(4));
    let mut stdin = driver.0.stdin.take().expect("piped stdin");
    std::io::Write::write_all(&mut stdin, b"swap\n").expect("tell the driver");
    assert_eq!(wait_for_line(&mut output), "done");
    let recorded = monitor.wait_for(|lines| connections_to(lines, second).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert!(seen && recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    for record in connections_to(&lines, second) {
        assert_eq!(record["server_process"]["pid"], driver.pid(), "{record}");
        assert_eq!(record["bytes_client_to_server"], 4, "{record}");
    }
}

#[test]
fn connections_to_a_listener_the_counters_missed_are_recorded_in_netlink_mode() {
    connections_to_a_listener_the_counters_missed_are_recorded("netlink");
}

#[test]
fn connections_to_a_listener_the_counters_missed_are_recorded_in_ebpf_mode() {
    if ebpf_available() {
        connections_to_a_listener_the_counters_missed_are_recorded("ebpf");
    }
}

/// Two connects to `argv[1]` time out in SYN_SENT (its SYNs are dropped,
/// one retry), then three TCP Fast Open connections (data in the SYN) go
/// to `argv[2]`; prints "ok" when done.
const SYN_TIMEOUT_THEN_FAST_OPEN: &str = r#"
import socket, subprocess, sys, time
dropped, fast = int(sys.argv[1]), int(sys.argv[2])
silent = socket.socket(); silent.bind(("127.0.0.1", dropped)); silent.listen()
subprocess.run(["sysctl", "-qw", "net.ipv4.tcp_syn_retries=1", "net.ipv4.tcp_fastopen=3"], check=True)
subprocess.run(["nft", "add table ip synfilter; add chain ip synfilter input { type filter hook input priority 0; }; add rule ip synfilter input tcp dport %d tcp flags syn drop" % dropped], check=True)
for _ in range(2):
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", dropped))
        sys.exit("connected through the drop rule")
    except TimeoutError:
        pass
    c.close()
server = socket.socket()
server.bind(("127.0.0.1", fast))
server.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
server.listen()
for i in range(3):
    c = socket.socket()
    c.sendto(b"tfo%d" % i, socket.MSG_FASTOPEN, ("127.0.0.1", fast))
    a, _ = server.accept()
    a.sendall(a.recv(10)); c.recv(10)
    c.close(); a.close()
print("ok", flush=True)
time.sleep(1)
"#;

/// Connections that never got past SYN_SENT are not connections: nothing
/// is recorded for them and nothing is counted lost. Fast Open
/// connections (the data rides on the SYN, the server reads it before the
/// handshake completes) are recorded with both processes and their bytes.
fn syn_sent_timeouts_and_fast_open(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let (dropped, fast) = (unique_port(), unique_port());
    let monitor = Monitor::start(Some(&netns), &["--capture", capture, "--interval", "200ms"]);
    let (mut driver, mut done) =
        python_in(&netns, SYN_TIMEOUT_THEN_FAST_OPEN, &[&dropped.to_string(), &fast.to_string()]);
    assert_eq!(wait_for_line(&mut done), "ok");
    let pid = driver.pid();
    assert!(driver.0.wait().expect("driver exits").success());
    let recorded = monitor.wait_for(|lines| connections_to(lines, fast).len() >= 3);
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(connections_to(&lines, dropped), Vec::<&Value>::new());
    let unmatched: Vec<&Value> = of_type(&lines, "loss")
        .into_iter()
        .filter(|loss| loss["kind"] == "unmatched_cookie")
        .collect();
    assert_eq!(unmatched, Vec::<&Value>::new(), "{}", dump(&lines));
    for record in connections_to(&lines, fast) {
        assert_eq!(record["bytes_client_to_server"], 4, "{record}");
        assert_eq!(record["bytes_server_to_client"], 4, "{record}");
        assert_eq!(record["end"], "closed", "{record}");
        assert_eq!(record["server_process"]["pid"], pid, "{record}");
        if capture == "ebpf" {
            assert_eq!(record["client_process"]["pid"], pid, "{record}");
        }
    }
}

#[test]
fn syn_sent_timeouts_are_not_recorded_and_fast_open_is_in_netlink_mode() {
    syn_sent_timeouts_and_fast_open("netlink");
}

#[test]
fn syn_sent_timeouts_are_not_recorded_and_fast_open_is_in_ebpf_mode() {
    if ebpf_available() {
        syn_sent_timeouts_and_fast_open("ebpf");
    }
}

/// Makes `argv[2]` connections to a listener of its own on `argv[1]`, each
/// accepted and closed, then prints "done".
const CONNECTIONS: &str = r#"
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(64)
for _ in range(int(sys.argv[2])):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    a, _ = listener.accept()
    c.close()
    a.close()
print("done", flush=True)
"#;

/// A reader that is slow to take the lines left at stop (a busy machine, a
/// pager) gets every one of them, whole: the recorder used to give its
/// stdout thread two seconds after the stop and exit, cutting a line in
/// half (and dropping the rest) although the reader was still reading.
/// Now it waits while the reader takes lines, a line at a time.
#[test]
fn a_slow_reader_gets_every_line_left_at_stop_whole() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let mut command = netns.command(binary().to_str().expect("utf-8 path"));
    scrub(&mut command);
    command
        .args(["monitor", "--jsonl", "--no-alerts", "--capture", "netlink", "--store"])
        .arg(&store);
    let mut child = ChildGuard::spawn(
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()),
    );
    let mut stdout = child.0.stdout.take().expect("piped stdout");
    let mut stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
    let start = wait_for_line(&mut stderr);
    assert!(start.starts_with("porthole monitor: capture"), "{start}");
    let port = unique_port();
    let connections = 300;
    let (mut load, mut out) =
        python_in(&netns, CONNECTIONS, &[&port.to_string(), &connections.to_string()]);
    assert_eq!(wait_for_line(&mut out).trim(), "done");
    let _ = load.0.wait();
    let recorded = eventually(Duration::from_secs(60), || {
        let output =
            porthole_run(&["history", &port.to_string(), "--store", store.to_str().unwrap()]);
        output.stdout.contains(&format!("connected {connections} times"))
    });
    assert!(recorded, "the store did not get every connection");
    let pid = rustix::process::Pid::from_raw(child.pid() as i32).expect("positive pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("signal sent");
    // Nothing was read so far: the pipe holds 64 KiB and the rest waits in
    // the recorder. Read it 8 KiB at a time, ten times a second: several
    // seconds for these lines, always taking some.
    let mut taken = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match std::io::Read::read(&mut stdout, &mut chunk) {
            Ok(0) => break,
            Ok(count) => taken.extend_from_slice(&chunk[..count]),
            Err(error) => panic!("reading stdout: {error}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.0.wait().expect("exited");
    assert_eq!(status.code(), Some(0));
    let text = String::from_utf8(taken).expect("UTF-8 lines");
    assert!(
        text.ends_with('\n'),
        "the last line was cut: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let mut cookies = std::collections::HashSet::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if value["type"] == "connection" && value["server_port"] == port {
            cookies.insert(value["cookie"].as_u64().expect("cookie"));
        }
    }
    assert_eq!(cookies.len(), connections, "connections printed");
}

/// A reader that stops reading (`porthole monitor --jsonl | slow`): the
/// pipe fills, and the recorder used to block inside `write(2)`, where
/// neither the store got another batch nor SIGTERM could stop it (its flag
/// is looked at between writes). Now every connection still reaches the
/// store, and SIGTERM stops the recorder with its summary line.
#[test]
fn a_reader_that_stops_reading_holds_neither_the_store_nor_a_stop() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let mut command = netns.command(binary().to_str().expect("utf-8 path"));
    scrub(&mut command);
    command.args(["monitor", "--jsonl", "--no-alerts", "--store"]).arg(&store);
    let mut child = ChildGuard::spawn(
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()),
    );
    // Never read: the pipe (64 KiB) fills with the first fifty connections.
    let _unread = child.0.stdout.take().expect("piped stdout");
    let mut stderr = BufReader::new(child.0.stderr.take().expect("piped stderr"));
    let start = wait_for_line(&mut stderr);
    assert!(start.starts_with("porthole monitor: capture"), "{start}");
    let port = unique_port();
    let (mut load, mut out) = python_in(&netns, CONNECTIONS, &[&port.to_string(), "600"]);
    assert_eq!(wait_for_line(&mut out).trim(), "done");
    let _ = load.0.wait();
    let recorded = eventually(Duration::from_secs(60), || {
        let output =
            porthole_run(&["history", &port.to_string(), "--store", store.to_str().unwrap()]);
        output.stdout.contains("connected 600 times")
    });
    assert!(recorded, "the store stopped getting batches while stdout was full");
    let pid = rustix::process::Pid::from_raw(child.pid() as i32).expect("positive pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("signal sent");
    let stopped = eventually(Duration::from_secs(60), || matches!(child.0.try_wait(), Ok(Some(_))));
    assert!(stopped, "SIGTERM did not stop a recorder whose stdout was full");
    let status = child.0.wait().expect("exited");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("porthole monitor: stopped after"), "{rest}");
}
