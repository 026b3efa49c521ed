//! What the owner scan of `porthole ls` costs in the shapes a real machine
//! has: processes with many threads, sockets no process holds, processes
//! with tens of thousands of mappings. Each test traces porthole's system
//! calls (`strace`) in a private network namespace, so only the sockets the
//! test made are listed, and checks both the owners found and the work done.

use crate::util::{self, python_via, wait_for_line, Netns};

/// `porthole ARGS…` inside `netns` under `strace -f`, tracing `calls`; the
/// output and the trace, one system call per line.
fn traced(netns: &Netns, calls: &str, args: &[&str]) -> (util::Output, String) {
    let trace = tempfile::NamedTempFile::new().expect("trace file");
    let mut command = netns.command("strace");
    command.args(["-f", "-qq", "-e", &format!("trace={calls}"), "-o"]);
    command.arg(trace.path()).arg(util::binary()).args(args);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    let text = std::fs::read_to_string(trace.path()).expect("trace written");
    (output, text)
}

/// Whether `strace` runs here (a missing program is a skip).
fn strace_available() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        util::skip("strace is not installed");
    }
    found
}

/// `openat` calls of the trace whose path contains `fragment`.
fn opened<'a>(trace: &'a str, fragment: &str) -> impl Iterator<Item = &'a str> + 'a {
    let fragment = fragment.to_string();
    trace.lines().filter(move |line| line.contains("openat(") && line.contains(&fragment))
}

/// `openat` calls of the trace whose path ends with `tail` right after a
/// `/` or at its start (`"1234/fd"`, `"/proc/9/task/1234/fd"`, never
/// `"51234/fd"`).
fn opened_path_ending<'a>(trace: &'a str, tail: &str) -> impl Iterator<Item = &'a str> + 'a {
    let (relative, absolute) = (format!("\"{tail}\""), format!("/{tail}\""));
    trace.lines().filter(move |line| {
        line.contains("openat(") && (line.contains(&relative) || line.contains(&absolute))
    })
}

/// A socket of argv[1] (`tcp` listener or bound `udp`) whose only
/// descriptor is in flight in a Unix-socket message nobody receives: a
/// socket with a file that no process holds. Prints its port.
const IN_FLIGHT: &str = r#"
import array, socket, sys, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", 0))
if kind == socket.SOCK_STREAM:
    s.listen()
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(port, flush=True)
time.sleep(120)
"#;

// A memory mapping can hold a TCP socket (`tcp_mmap`) but never a UDP or
// Unix one (`mmap` fails with ENODEV), so an ownerless UDP socket must not
// make the scan read every process's mappings: on a machine with a
// JVM-like process that is tens of milliseconds for nothing.
#[test]
fn only_an_ownerless_tcp_socket_makes_the_scan_read_mappings() {
    if !util::is_root() {
        util::skip("only root can tell that no process holds a socket");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    if !strace_available() {
        return;
    }
    for (kind, flag) in [("udp", "-u"), ("tcp", "-t")] {
        let (_sender, mut out) = python_via(netns.command("python3"), IN_FLIGHT, &[kind]);
        let port = wait_for_line(&mut out);
        let (output, trace) = traced(&netns, "openat", &["ls", flag, "--port", &port, "--json"]);
        assert_eq!(output.code, 0, "{kind}: {output:?}");
        let listing = output.json();
        assert_eq!(listing[0]["processes"], serde_json::json!([]), "{kind}: {listing:#}");
        // The runtime reads `/proc/self/maps` at start; the scan reads
        // `/proc/PID/maps`.
        let mappings_read =
            opened(&trace, "/maps\"").filter(|line| !line.contains("/proc/self/")).count();
        match kind {
            "udp" => assert_eq!(mappings_read, 0, "no mapping can hold a UDP socket:\n{trace}"),
            _ => assert!(mappings_read > 0, "a mapping could hold the TCP listener:\n{trace}"),
        }
    }
}

/// A listener in a process whose main thread exited (`pthread_exit`: a
/// zombie leader with an empty `/proc/PID/fd`) while argv[1] threads keep
/// running, all sharing one descriptor table; and a second, single-threaded
/// process holding another listener. Prints `PORT PID TID… / PORT PID`.
const THREADS: &str = r#"
import ctypes, os, socket, sys, threading, time
def listener():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    return s
single_read, single_write = os.pipe()
single = os.fork()
if single == 0:
    held = listener()
    os.write(single_write, str(held.getsockname()[1]).encode())
    time.sleep(120)
    os._exit(0)
single_port = os.read(single_read, 16).decode()
held = listener()
tids = []
started = threading.Barrier(int(sys.argv[1]) + 1)
def work():
    tids.append(threading.get_native_id())
    started.wait()
    time.sleep(120)
threading.stack_size(64 * 1024)
for _ in range(int(sys.argv[1])):
    threading.Thread(target=work).start()
started.wait()
print(held.getsockname()[1], os.getpid(), *tids, "/", single_port, single, flush=True)
ctypes.CDLL(None).pthread_exit(None)
"#;

// A process whose threads share one table has it read once, not once per
// thread (a 2,000-thread server whose main thread exited was read 2,000
// times), and a single-threaded process is ruled out by one `statx` of its
// task directory, not a listing of it.
#[test]
fn threads_sharing_a_table_have_it_read_once_and_one_thread_is_not_listed() {
    if !util::is_root() {
        util::skip("reading another process's thread tables needs root");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    if !strace_available() {
        return;
    }
    let (_server, mut out) = python_via(netns.command("python3"), THREADS, &["40"]);
    let line = wait_for_line(&mut out);
    let (threaded, single) = line.split_once(" / ").expect("two parts");
    let fields: Vec<&str> = threaded.split_whitespace().collect();
    let (port, pid, tids) = (fields[0], fields[1], &fields[2..]);
    assert_eq!(tids.len(), 40, "{line}");
    let (single_port, single_pid) = single.split_once(' ').expect("port and pid");
    let zombie = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    assert!(util::eventually(std::time::Duration::from_secs(5), zombie), "main thread ends");
    let (output, trace) = traced(&netns, "openat", &["ls", "-t", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    let owner = |port: &str| {
        let socket = listing
            .as_array()
            .unwrap()
            .iter()
            .find(|socket| socket["local_port"].as_u64() == port.parse().ok())
            .unwrap_or_else(|| panic!("port {port} listed: {listing:#}"));
        socket["processes"][0]["pid"].to_string()
    };
    assert_eq!(owner(port), pid, "{listing:#}");
    assert_eq!(owner(single_port), single_pid, "{listing:#}");
    let tables_read = tids
        .iter()
        .map(|tid| opened_path_ending(&trace, &format!("{tid}/fd")).count())
        .sum::<usize>();
    assert_eq!(tables_read, 1, "one shared table, read once:\n{trace}");
    let listed: Vec<&str> = opened_path_ending(&trace, &format!("{single_pid}/task")).collect();
    assert!(listed.is_empty(), "a single thread needs no task listing: {listed:?}");
}

/// A listener held only by a memory mapping, in a process with argv[1]
/// other (private anonymous) mappings, as a JVM has. Prints `PORT PID`.
const MAPPED_AMONG_MANY: &str = r#"
import ctypes, mmap, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
regions = [mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE,
                     prot=mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE)
           for i in range(int(sys.argv[1]))]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
address = libc.mmap(None, 4096, 1, 1, s.fileno(), 0)  # PROT_READ, MAP_SHARED
assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
port = s.getsockname()[1]
s.close()
print(port, os.getpid(), flush=True)
time.sleep(120)
"#;

// The search through mappings asks the kernel for file-backed mappings
// only (no text for 20,000 anonymous ones).
#[test]
fn a_mapped_listener_is_found_without_reading_every_mapping() {
    if !util::is_root() {
        util::skip("only root reads other processes' mappings");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    if !strace_available() {
        return;
    }
    let (_holder, mut out) = python_via(netns.command("python3"), MAPPED_AMONG_MANY, &["20000"]);
    let line = wait_for_line(&mut out);
    let (port, holder) = line.split_once(' ').expect("port and pid");
    let (output, trace) =
        traced(&netns, "openat,read,ioctl", &["ls", "-t", "--port", port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    assert_eq!(listing[0]["processes"][0]["pid"].to_string(), holder, "{listing:#}");
    assert_eq!(opened(&trace, &format!("/proc/{holder}/maps\"")).count(), 1, "{trace}");
    let queried = trace.lines().any(|line| line.contains("ioctl(") && line.contains("= 0"));
    if !queried {
        util::skip("this kernel has no PROCMAP_QUERY (Linux 6.11+)");
        return;
    }
    // Bytes returned by read(2): the holder's mappings as text would be
    // over a megabyte.
    let bytes: u64 = trace
        .lines()
        .filter(|line| line.contains("read(") && !line.contains("readlink"))
        .filter_map(|line| line.rsplit_once("= ")?.1.trim().parse::<u64>().ok())
        .sum();
    assert!(bytes < 256 * 1024, "{bytes} bytes read: mappings read as text?");
}

/// A listener held only by a memory mapping that a fork shares: parent and
/// child both map it. Prints `PORT PARENT CHILD`.
const MAPPED_AND_FORKED: &str = r#"
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
address = libc.mmap(None, 4096, 1, 1, s.fileno(), 0)  # PROT_READ, MAP_SHARED
assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
port = s.getsockname()[1]
s.close()
child = os.fork()
if child == 0:
    time.sleep(120)
    os._exit(0)
print(port, os.getpid(), child, flush=True)
time.sleep(120)
"#;

// Two processes can map one socket (a server that forked after mapping
// it): both are its owners, and `kill` stops both, so the port is free.
#[test]
fn every_process_that_maps_a_listener_is_an_owner_and_kill_stops_them_all() {
    if !util::is_root() {
        util::skip("only root reads other processes' mappings");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let (_holder, mut out) = python_via(netns.command("python3"), MAPPED_AND_FORKED, &[]);
    let line = wait_for_line(&mut out);
    let fields: Vec<&str> = line.split(' ').collect();
    let (port, parent, child) = (fields[0], fields[1], fields[2]);
    let output = netns.porthole(&["ls", "-t", "--port", port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    let pids: Vec<String> =
        listing[0]["processes"].as_array().unwrap().iter().map(|p| p["pid"].to_string()).collect();
    assert!(pids.contains(&parent.to_string()) && pids.contains(&child.to_string()), "{listing:#}");
    let killed = netns.porthole(&["kill", port, "--yes", "--json"]);
    assert_eq!(killed.code, 0, "{killed:?}");
    assert_eq!(killed.json()["freed"], true, "{killed:?}");
}
