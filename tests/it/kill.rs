//! `porthole kill`: real listeners, clients, supervisors and other users'
//! processes; signals really sent.

use std::process::Command;
use std::time::Duration;

use crate::util::{
    eventually, is_root, non_ephemeral_port, porthole_run, process_alive, python, python_via,
    wait_for_line, FreezerCgroup, Netns,
};

/// A TCP server on 127.0.0.1:argv[2] (from [`non_ephemeral_port`]) that
/// prints `PORT PID` when listening. argv[1] picks how it treats signals.
const SERVER: &str = r#"
import os, signal, socket, sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "block-term":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
if mode == "slow-term":
    signal.signal(signal.SIGTERM, lambda *a: (time.sleep(60), sys.exit(0)))
if mode == "report":
    signal.signal(signal.SIGUSR1, lambda *a: print("got USR1", flush=True))
    signal.signal(signal.SIGTERM, lambda *a: print("got TERM", flush=True))
    signal.signal(signal.SIGRTMIN + 1, lambda *a: print("got RTMIN+1", flush=True))
port = int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen()
print(s.getsockname()[1], os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"#;

/// A client that connects to argv[1] and stays connected.
const CLIENT: &str = r#"
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
time.sleep(120)
"#;

fn server(
    mode: &str,
) -> (crate::util::ChildGuard, u16, std::io::BufReader<std::process::ChildStdout>) {
    let (child, mut out) = python(SERVER, &[mode, &non_ephemeral_port().to_string()]);
    let line = wait_for_line(&mut out);
    let port = line.split_whitespace().next().unwrap().parse().unwrap();
    (child, port, out)
}

#[test]
fn stops_the_listener_but_not_its_client() {
    let (server, port, _out) = server("plain");
    let (client, mut client_out) = python(CLIENT, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut client_out), "connected");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["freed"], true, "{report:#}");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "only the listener is a target: {report:#}");
    assert_eq!(targets[0]["pid"], server.pid());
    assert_eq!(targets[0]["signals"], serde_json::json!(["TERM"]));
    assert_eq!(targets[0]["outcome"], "exited");
    assert!(!process_alive(server.pid()), "the server was stopped");
    assert!(process_alive(client.pid()), "the client must survive");
}

#[test]
fn text_output_names_the_process_and_the_free_port() {
    let (server, port, _out) = server("plain");
    let output = porthole_run(&["kill", &port.to_string(), "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("Listening on port {port}")), "{}", output.stdout);
    assert!(output.stdout.contains(&server.pid().to_string()), "{}", output.stdout);
    assert!(output.stdout.contains("python3"), "{}", output.stdout);
    assert!(output.stdout.contains("Sent SIGTERM"), "{}", output.stdout);
    assert!(output.stdout.contains(&format!("Port {port} is free.")), "{}", output.stdout);
}

#[test]
fn a_process_ignoring_term_is_killed_after_the_grace() {
    let (server, port, _out) = server("ignore-term");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--grace", "500ms", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let target = &report["targets"][0];
    assert_eq!(target["signals"], serde_json::json!(["TERM", "KILL"]), "{report:#}");
    assert_eq!(target["outcome"], "killed");
    assert_eq!(target["why_killed"], "ignored", "{report:#}");
    assert!(target["exited_after_ms"].as_u64().unwrap() >= 500);
    assert!(!process_alive(server.pid()));
}

/// Attaches to argv[1] with `PTRACE_ATTACH` and keeps it in its tracing
/// stop, as a debugger sitting at a breakpoint does; prints `traced`, or
/// `refused ERRNO` when the kernel does not allow it.
const TRACER: &str = r#"
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid = int(sys.argv[1])
if libc.ptrace(16, pid, None, None) != 0:
    print("refused", ctypes.get_errno(), flush=True)
    sys.exit(0)
os.waitpid(pid, 0x40000000)
print("traced", flush=True)
time.sleep(120)
"#;

// "It ignored SIGTERM" was said of every process SIGKILL had to stop: one
// that blocks SIGTERM, one held by a debugger, one whose handler was still
// at work. Each is said for what it is, in the text and in --json.
#[test]
fn a_process_sigkill_had_to_stop_is_said_why_sigterm_did_not() {
    let cases = [
        ("ignore-term", "ignored", "it ignores SIGTERM (SIG_IGN)"),
        ("block-term", "blocked", "it blocks SIGTERM (sigprocmask), which was left pending"),
        ("slow-term", "handled", "it handles SIGTERM but had not exited when the grace ended"),
        ("plain", "traced", "it was stopped by its tracer "),
    ];
    for (mode, why, said) in cases {
        for json in [true, false] {
            let (server, port, _out) = server(mode);
            let mut tracer = None;
            if why == "traced" {
                let (guard, mut out) = python(TRACER, &[&server.pid().to_string()]);
                let line = wait_for_line(&mut out);
                if line != "traced" {
                    crate::util::skip(&format!("ptrace attach refused here: {line}"));
                    return;
                }
                tracer = Some(guard);
            }
            let port = port.to_string();
            if why == "traced" {
                // `porthole PORT` tells a tracing stop from one SIGCONT ends.
                let who = porthole_run(&[&port]);
                assert!(who.stdout.contains(", STOPPED by a debugger or strace)"), "{who:?}");
            }
            let mut args = vec!["kill", &port, "--yes", "--grace", "500ms"];
            if json {
                args.push("--json");
            }
            let output = porthole_run(&args);
            assert_eq!(output.code, 0, "{mode}: {output:?}");
            assert!(!process_alive(server.pid()), "{mode}: {output:?}");
            if json {
                let report = output.json();
                let target = &report["targets"][0];
                assert_eq!(target["outcome"], "killed", "{mode}: {report:#}");
                assert_eq!(target["why_killed"], why, "{mode}: {report:#}");
                let tracer_pid = tracer.as_ref().map(|t| t.pid());
                assert_eq!(target["tracer_pid"], serde_json::json!(tracer_pid), "{report:#}");
            } else {
                let line = output
                    .stdout
                    .lines()
                    .find(|line| line.starts_with("Sent SIGTERM, then SIGKILL to "))
                    .unwrap_or_else(|| panic!("{mode}: {output:?}"));
                assert!(line.contains(said), "{mode}: {line}");
                if let Some(tracer) = &tracer {
                    assert!(line.contains(&format!("tracer {} ", tracer.pid())), "{line}");
                }
                assert!(line.contains("; SIGKILL stopped it after "), "{mode}: {line}");
                if why != "ignored" {
                    assert!(!line.contains("ignore"), "{mode}: {line}");
                }
            }
        }
    }
}

#[test]
fn signal_sends_only_that_signal() {
    let (server, port, mut out) = server("report");
    let output = porthole_run(&[
        "kill",
        &port.to_string(),
        "--yes",
        "--signal",
        "USR1",
        "--grace",
        "300ms",
        "--json",
    ]);
    // The process handles USR1 and keeps the port: still held → 2.
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["signals"], serde_json::json!(["USR1"]), "{report:#}");
    assert_eq!(report["targets"][0]["outcome"], "survived");
    assert_eq!(report["holders_after"][0]["kind"], "survived");
    assert_eq!(wait_for_line(&mut out), "got USR1");
    assert!(process_alive(server.pid()), "USR1 must not be followed by KILL");

    let output = porthole_run(&["kill", &port.to_string(), "--yes", "-s", "INT"]);
    assert_eq!(output.code, 0, "SIGINT stops python: {output:?}");
    assert!(output.stdout.contains("Sent SIGINT to"), "{}", output.stdout);
    assert!(!output.stdout.contains("Sent SIGTERM"), "{}", output.stdout);
}

#[test]
fn a_survivor_of_the_one_signal_sent_is_given_the_kill_that_stops_it() {
    let (survivor, port, _out) = server("ignore-term");
    let port = port.to_string();
    let args = ["kill", &port, "--yes", "--signal", "TERM", "--settle", "200ms"];
    let output = porthole_run(&args);
    assert_eq!(output.code, 2, "still held: {output:?}");
    let pid = survivor.pid();
    let line = output
        .stdout
        .lines()
        .find(|line| line.contains(&format!("is still held by {pid} (python3)")))
        .unwrap_or_else(|| panic!("the survivor is named: {}", output.stdout));
    let command = format!("kill -KILL {pid}");
    assert!(
        line.ends_with(&format!("which survived SIGTERM; SIGKILL stops it: {command}")),
        "{line}"
    );
    // The command runs as printed, and then the port is free.
    let status = Command::new("sh").args(["-c", &command]).status().expect("sh runs");
    assert!(status.success(), "{command}");
    assert!(eventually(Duration::from_secs(10), || !process_alive(pid)), "{command} stops it");
    let output = porthole_run(&["kill", &port, "--yes"]);
    assert_eq!(output.code, 1, "nothing listens any more: {output:?}");
    // Once SIGKILL was sent, none is suggested again.
    let (server, port, _out) = server("ignore-term");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--grace", "200ms"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains("kill -KILL"), "{}", output.stdout);
    assert!(!process_alive(server.pid()));
}

#[test]
fn real_time_signals_are_taken_as_kill_s_spells_them() {
    // `kill -s RTMIN+1`, `SIGRTMIN+1` and `rtmin+1` name the same signal,
    // 35 with glibc; the report names it the way `kill -l` does.
    let (server, port, mut out) = server("report");
    for spelling in ["RTMIN+1", "sigrtmin+1", "35", "SIGRTMAX-29"] {
        let output = porthole_run(&[
            "kill",
            &port.to_string(),
            "--yes",
            "--signal",
            spelling,
            "--grace",
            "100ms",
            "--settle",
            "100ms",
            "--json",
        ]);
        assert_eq!(output.code, 2, "it handles the signal and keeps the port: {output:?}");
        let report = output.json();
        assert_eq!(report["targets"][0]["signals"], serde_json::json!(["RTMIN+1"]), "{report:#}");
        assert_eq!(wait_for_line(&mut out), "got RTMIN+1", "{spelling}");
    }
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "-s", "RTMIN+1"]);
    assert!(output.stdout.contains("Sent SIGRTMIN+1 to"), "{}", output.stdout);
    assert!(process_alive(server.pid()), "RTMIN+1 is not followed by KILL");
    let output = porthole_run(&["kill", &port.to_string(), "--signal", "0"]);
    crate::util::assert_usage_error(&output, "--signal 0");
    assert!(output.stderr.contains("--dry-run"), "{}", output.stderr);
}

#[test]
fn dry_run_stops_nothing() {
    let (server, port, _out) = server("plain");
    let output = porthole_run(&["kill", &port.to_string(), "--dry-run"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("Dry run"), "{}", output.stdout);
    let report = porthole_run(&["kill", &port.to_string(), "-n", "--json"]).json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["targets"][0]["action"], "stop");
    assert!(report["targets"][0]["outcome"].is_null());
    std::thread::sleep(Duration::from_millis(200));
    assert!(process_alive(server.pid()));
}

#[test]
fn without_a_terminal_or_yes_it_refuses() {
    let (server, port, _out) = server("plain");
    let output = porthole_run(&["kill", &port.to_string()]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "one line: {}", output.stderr);
    assert!(output.stderr.starts_with("porthole: refusing"), "{}", output.stderr);
    assert!(output.stderr.contains("--yes"), "{}", output.stderr);
    assert!(process_alive(server.pid()));
}

#[test]
fn nothing_listening_is_1_or_0_with_no_fail() {
    let Some(netns) = Netns::create() else { return };
    let output = netns.porthole(&["kill", "4000", "--yes"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("Nothing listens on port 4000"), "{}", output.stdout);
    let output = netns.porthole(&["kill", "4000", "--yes", "--no-fail"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = netns.porthole(&["kill", "4000", "4001", "--json"]).json();
    assert_eq!(report["listening"], false);
}

#[test]
fn refuses_itself_and_its_parent() {
    // The parent listens and hands the socket to porthole, so both own it.
    let code = r#"
import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen()
port = str(s.getsockname()[1])
r = subprocess.run([sys.argv[1], "kill", port, "--yes", "--json"], pass_fds=(s.fileno(),),
                   capture_output=True, text=True)
print(r.returncode)
print(r.stdout.replace("\n", " "))
print(r.stderr.strip())
"#;
    let port = non_ephemeral_port().to_string();
    let (_child, mut out) = python(code, &[crate::util::binary().to_str().unwrap(), &port]);
    let code_line = wait_for_line(&mut out);
    let json = wait_for_line(&mut out);
    let stderr = wait_for_line(&mut out);
    assert_eq!(code_line, "2", "{json}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut refusals: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["refusal"].as_str().unwrap())
        .collect();
    refusals.sort();
    assert_eq!(refusals, ["itself", "parent"], "{report:#}");
    assert!(stderr.contains("nothing was stopped"), "{stderr}");
}

#[test]
fn refuses_pid_1() {
    if !is_root() {
        crate::util::skip("a PID namespace needs root");
        return;
    }
    // In a new PID namespace, python is PID 1 and listens; porthole runs as
    // its child (so PID 1 is also its parent: the PID 1 rule comes first).
    let code = r#"
import os, socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen()
r = subprocess.run([sys.argv[1], "kill", str(s.getsockname()[1]), "--yes", "--json", "--force"],
                   capture_output=True, text=True)
print(os.getpid(), r.returncode, r.stdout.replace("\n", " "))
"#;
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "python3"]);
    let port = non_ephemeral_port().to_string();
    let binary = crate::util::binary();
    let (_child, mut out) = python_via(command, code, &[binary.to_str().unwrap(), &port]);
    let line = wait_for_line(&mut out);
    let mut parts = line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("1"), "python is PID 1: {line}");
    assert_eq!(parts.next(), Some("2"), "{line}");
    let report: serde_json::Value = serde_json::from_str(parts.next().unwrap()).unwrap();
    assert_eq!(report["targets"][0]["pid"], 1);
    assert_eq!(report["targets"][0]["refusal"], "pid_1", "{report:#}");
}

#[test]
fn a_socket_pid_1_hands_to_its_server_is_named_without_systemd_advice_when_pid_1_is_not_systemd() {
    if !is_root() {
        crate::util::skip("a PID namespace needs root");
        return;
    }
    // Socket activation without systemd: python is PID 1 of a new PID
    // namespace, holds the listener and hands it to the server it starts.
    // The server is stopped, PID 1 is refused, and the refusal does not send
    // the user to a systemctl that cannot reach this init.
    let code = r#"
import os, socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen()
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], pass_fds=[s.fileno()])
r = subprocess.run([sys.argv[1], "kill", str(s.getsockname()[1]), "--yes", "--settle", "0s"],
                   capture_output=True, text=True)
server.wait(timeout=10)
print(os.getpid(), r.returncode, server.returncode, repr(r.stdout + r.stderr))
"#;
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "python3"]);
    let port = non_ephemeral_port().to_string();
    let binary = crate::util::binary();
    let (_child, mut out) = python_via(command, code, &[binary.to_str().unwrap(), &port]);
    let line = wait_for_line(&mut out);
    let mut parts = line.splitn(4, ' ');
    assert_eq!(parts.next(), Some("1"), "python is PID 1: {line}");
    assert_eq!(parts.next(), Some("2"), "PID 1 still holds the port: {line}");
    assert_eq!(parts.next(), Some("-15"), "the server got SIGTERM: {line}");
    let text = parts.next().unwrap();
    assert!(text.contains("not stopping: 1 (python3): PID 1 holds the socket"), "{text}");
    assert!(text.contains("it is not systemd"), "{text}");
    assert!(!text.contains("systemctl list-sockets"), "no systemd here: {text}");
}
#[test]
fn another_users_process_needs_force() {
    if !is_root() {
        crate::util::skip("starting a process as nobody needs root");
        return;
    }
    // The system interpreter: one under /root would not be readable.
    if !std::path::Path::new("/usr/bin/python3").exists() {
        crate::util::skip("/usr/bin/python3 is missing");
        return;
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3"]);
    let (server, mut out) =
        python_via(command, SERVER, &["plain", &non_ephemeral_port().to_string()]);
    let line = wait_for_line(&mut out);
    let port = line.split_whitespace().next().unwrap().to_string();
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["refusal"], "other_user", "{report:#}");
    assert_eq!(report["targets"][0]["user"], "nobody");
    assert!(process_alive(server.pid()));
    // The refusal is said once, where the process is listed; stderr only
    // says that nothing was stopped.
    let output = porthole_run(&["kill", &port, "--yes"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stdout.matches("belongs to another user").count(), 1, "{}", output.stdout);
    assert!(!output.stdout.contains("Nothing porthole may stop"), "{}", output.stdout);
    assert_eq!(output.stderr, "porthole: nothing was stopped\n");
    let output = porthole_run(&["kill", &port, "--yes", "--force"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(server.pid())));
}

#[test]
fn an_unprivileged_caller_is_told_to_use_root() {
    if !is_root() {
        crate::util::skip("dropping privileges needs root");
        return;
    }
    let (server, port, _out) = server("plain");
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(crate::util::binary()).args(["kill", &port.to_string(), "--yes", "--force"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stdout.contains("run as root"), "{}", output.stdout);
    // No table header over no process: the hidden owner's line says it.
    assert!(!output.stdout.contains("PID"), "{}", output.stdout);
    assert_eq!(output.stdout.lines().count(), 2, "{}", output.stdout);
    assert!(process_alive(server.pid()));
}

#[test]
fn a_restarted_listener_is_reported_as_a_new_process() {
    let Some(netns) = Netns::create() else { return };
    // A supervisor that forks a new server whenever the old one exits.
    let code = r#"
import ctypes, os, signal, socket, time
while True:
    pid = os.fork()
    if pid == 0:
        # Die with the supervisor, so the test leaves nothing behind.
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 8000)); s.listen()
        print("child", os.getpid(), flush=True)
        while True:
            time.sleep(1)
    os.waitpid(pid, 0)
"#;
    let (supervisor, mut out) = python_via(netns.command("python3"), code, &[]);
    let first: u32 = wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
    let output = netns.porthole(&["kill", "8000", "--yes", "--json", "--settle", "10s"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["pid"], first);
    assert_eq!(report["targets"][0]["outcome"], "exited");
    assert_eq!(report["freed"], false);
    let holder = &report["holders_after"][0];
    assert_eq!(holder["kind"], "new_process", "{report:#}");
    assert_ne!(holder["pid"], first);
    assert_eq!(holder["parent_pid"], supervisor.pid());

    let output = netns.porthole(&["kill", "8000", "--yes", "--settle", "10s"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stdout.contains("a supervisor restarted it"), "{}", output.stdout);
    assert!(
        output.stdout.contains(&format!("stop the supervisor ({})", supervisor.pid())),
        "{}",
        output.stdout
    );
}

#[test]
fn a_supervisor_that_is_a_pid_namespace_init_is_stopped_with_the_kill_that_reaches_it() {
    if !is_root() {
        crate::util::skip("unshare -p needs root");
        return;
    }
    // A container whose init is the restart loop: python is PID 1 of its
    // own PID namespace, with no SIGTERM handler, so a plain `kill PID` from
    // here is dropped by the kernel and the loop goes on restarting.
    let port = non_ephemeral_port();
    let code = r#"
import ctypes, os, signal, socket, sys, time
while True:
    pid = os.fork()
    if pid == 0:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
        print("child", os.getpid(), flush=True)
        while True:
            time.sleep(1)
    os.waitpid(pid, 0)
"#;
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child", "python3"]);
    let (_namespace, mut out) = python_via(command, code, &[&port.to_string()]);
    wait_for_line(&mut out);
    let port = port.to_string();
    let output = porthole_run(&["kill", &port, "--yes", "--json", "--settle", "10s"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    let holder = &report["holders_after"][0];
    assert_eq!(holder["kind"], "new_process", "{report:#}");
    let init = holder["parent_pid"].as_u64().expect("the loop is named") as u32;
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")), "{status}");
    let stop = format!("kill -KILL {init}");
    assert_eq!(holder["parent_stop_command"], stop.as_str(), "{report:#}");
    assert!(holder["parent_namespace_processes"].as_u64() >= Some(2), "{report:#}");

    let output = porthole_run(&["kill", &port, "--yes", "--settle", "10s"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stdout.contains("it is PID 1 of a PID namespace"), "{output:?}");
    assert!(output.stdout.ends_with(&format!(": {stop}\n")), "{output:?}");
    // The advice runs as printed and ends the loop, and the port stays free.
    let ran = crate::util::run(Command::new("sh").args(["-c", &stop]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(eventually(Duration::from_secs(10), || !process_alive(init)), "{stop} ended it");
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 1, "nothing listens any more: {output:?}");
}

/// `kill 127.0.0.1:PORT`, copied from `porthole 127.0.0.1:PORT`, was "not
/// a port number"; it is one line naming the dry run that shows what kill
/// would stop on that port, which runs as printed and stops nothing.
#[test]
fn an_address_and_port_is_answered_with_the_dry_run_of_the_port() {
    let (server, port, _out) = server("plain");
    // The family of the address and the transport typed are kept.
    for (typed, flags) in
        [(format!("127.0.0.1:{port}"), " -4"), (format!("localhost:{port}/tcp"), " -t")]
    {
        let output = porthole_run(&["kill", &typed, "--yes"]);
        crate::util::assert_usage_error(&output, &typed);
        let command = crate::util::printed_after(&output.stderr, "to see which: ");
        assert!(command.ends_with(&format!(" kill {port}{flags} --dry-run")), "{command}");
        let plan = crate::util::run_as_printed(command, " --json");
        assert_eq!(plan.code, 0, "{command}: {plan:?}");
        assert_eq!(plan.json()["targets"][0]["pid"], server.pid(), "{command}: {plan:?}");
        assert!(process_alive(server.pid()), "{typed}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["kill", "70000"][..],
        &["kill", "abc"],
        &["kill", "0"],
        &["kill", "80", "--grace", "abc"],
        &["kill", "80", "--settle", "5 parsecs"],
        &["kill", "80", "--signal", "NOPE"],
        &["kill", "80", "--signal", "0"],
        &["kill", "80", "--signal", "-0"],
        &["kill", "80", "--signal", "65"],
        &["kill", "80", "--signal", "RTMIN+31"],
        &["kill", "80", "--signal", "RTMAX+1"],
        &["kill", "80", "--signal", "RTMIN-1"],
        &["kill", "3010-3000"],
        &["kill", "1-2000"],
        &["kill", "3000-"],
        &["kill", "3000-x"],
        &["kill", "80", "-4", "-6"],
        &["kill"],
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
    }
}

/// A threaded server that, on SIGTERM, ends its main thread at once
/// (`pthread_exit`: the process shows as a zombie) while a worker thread
/// keeps the listening socket for about a second, finishing its work, then
/// closes it and exits: what a Node or JVM server under load does. argv[1]
/// `exit-main-now` ends the main thread right after start-up instead.
const THREADED: &str = r#"
import ctypes, os, signal, socket, sys, threading, time
stop = threading.Event()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen(); s.settimeout(0.05)
def end_main_thread(*_):
    stop.set()
    ctypes.CDLL(None).pthread_exit(None)
signal.signal(signal.SIGTERM, end_main_thread)
def serve():
    while not stop.is_set():
        try:
            c, _ = s.accept(); c.close()
        except socket.timeout:
            pass
    time.sleep(1.0)
    s.close()
    os._exit(0)
threading.Thread(target=serve).start()
print(s.getsockname()[1], os.getpid(), flush=True)
if sys.argv[1] == "exit-main-now":
    time.sleep(0.2)
    ctypes.CDLL(None).pthread_exit(None)
while True:
    time.sleep(0.05)
"#;

fn threaded(mode: &str) -> (crate::util::ChildGuard, u16, u32) {
    let (child, mut out) = python(THREADED, &[mode, &non_ephemeral_port().to_string()]);
    let line = wait_for_line(&mut out);
    let mut fields = line.split_whitespace();
    let port = fields.next().unwrap().parse().unwrap();
    let pid = fields.next().unwrap().parse().unwrap();
    (child, port, pid)
}

fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim().chars().next()
}

// See: issue "kill of a Node server under load": the main thread was a
// zombie while other threads still held the socket.
#[test]
fn a_server_exiting_thread_by_thread_is_waited_for_not_called_hidden() {
    let (_server, port, pid) = threaded("on-term");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--json"]);
    assert_eq!(output.code, 0, "the port is free once the last thread exits: {output:?}");
    let report = output.json();
    assert_eq!(report["freed"], true, "{report:#}");
    assert_eq!(report["targets"][0]["pid"], pid);
    assert_eq!(report["targets"][0]["outcome"], "exited", "{report:#}");
    // The worker kept the socket about a second after the main thread.
    assert!(report["targets"][0]["exited_after_ms"].as_u64().unwrap() >= 900, "{report:#}");
    assert!(report["holders_after"].as_array().unwrap().is_empty(), "{report:#}");
    assert!(!output.stdout.contains("run as root") && !output.stderr.contains("run as root"));
}

#[test]
fn a_socket_still_held_by_an_exiting_target_is_watched_through_settle() {
    // --grace 0: porthole stops waiting for the exit at once, so the port
    // is still held when it looks; the watch must wait it out.
    let (_server, port, _pid) = threaded("on-term");
    let output = porthole_run(&[
        "kill",
        &port.to_string(),
        "--yes",
        "--signal",
        "TERM",
        "--grace",
        "0s",
        "--settle",
        "10s",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("Port {port} is free.")), "{}", output.stdout);
    assert!(!output.stdout.contains("still held"), "{}", output.stdout);
    assert!(
        !output.stdout.contains("still running"),
        "it exited during the watch: {}",
        output.stdout
    );
    assert!(output.stdout.contains("Sent SIGTERM to"), "{}", output.stdout);
    assert!(output.stdout.contains(": exited after "), "{}", output.stdout);
}

#[test]
fn a_server_whose_main_thread_exited_is_still_its_owner() {
    let (_server, port, pid) = threaded("exit-main-now");
    assert!(eventually(Duration::from_secs(5), || state_of(pid) == Some('Z')), "main thread ends");
    let report = porthole_run(&["kill", &port.to_string(), "--dry-run", "--json"]).json();
    assert_eq!(report["hidden_owners"], 0, "the threads' fds are read: {report:#}");
    assert_eq!(report["targets"][0]["pid"], pid, "{report:#}");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--grace", "500ms", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(
        report["targets"][0]["outcome"], "killed",
        "SIGTERM cannot run a handler: {report:#}"
    );
    assert!(eventually(Duration::from_secs(5), || !process_alive(pid)));
}

#[test]
fn root_is_never_told_to_run_as_root() {
    if !is_root() {
        crate::util::skip("a PID namespace needs root");
        return;
    }
    // porthole in its own PID namespace cannot see the server's process,
    // even as root: the owner is hidden for a reason privileges do not fix.
    let (server, port, _out) = server("plain");
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc"]).arg(crate::util::binary());
    command.args(["kill", &port.to_string(), "--yes"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stdout.contains("its own PID namespace")
            || output.stdout.contains("no process porthole can see holds"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("run as root"), "{}", output.stdout);
    assert!(!output.stderr.contains("run as root"), "{}", output.stderr);
    assert!(process_alive(server.pid()));
}

#[test]
fn the_default_settle_catches_a_supervisor_that_waits_before_restarting() {
    let Some(netns) = Netns::create() else { return };
    // A supervisor that waits 700 ms (longer than the old 500 ms watch)
    // before it forks a new server, like runit or s6 wait 1 s.
    let code = r#"
import ctypes, os, signal, socket, time
while True:
    pid = os.fork()
    if pid == 0:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 8000)); s.listen()
        print("child", os.getpid(), flush=True)
        while True:
            time.sleep(1)
    os.waitpid(pid, 0)
    time.sleep(0.7)
"#;
    let (supervisor, mut out) = python_via(netns.command("python3"), code, &[]);
    let first: u32 = wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
    let output = netns.porthole(&["kill", "8000", "--yes", "--json"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["pid"], first);
    assert_eq!(report["freed"], false, "{report:#}");
    let holder = &report["holders_after"][0];
    assert_eq!(holder["kind"], "new_process", "{report:#}");
    assert_eq!(holder["parent_pid"], supervisor.pid());
}

#[test]
fn a_supervisor_slower_than_the_watch_is_named() {
    // A shell loop that waits 30 s before restarting: no watch catches it,
    // so porthole names the parent that is still running.
    let server = "import ctypes, socket, sys\n\
                  ctypes.CDLL(None).prctl(1, 9)\n\
                  s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n\
                  print(s.getsockname()[1], flush=True)\n\
                  import time; time.sleep(120)";
    // The loop restarts its server on the same port, as a real one does.
    let loop_ = "while true; do python3 -u -c \"$0\" \"$1\"; sleep 30; done";
    let port = non_ephemeral_port().to_string();
    let mut command = Command::new("sh");
    command.args(["-c", loop_, server, &port]).stdout(std::process::Stdio::piped());
    let mut supervisor = crate::util::ChildGuard::spawn(&mut command);
    let mut out = std::io::BufReader::new(supervisor.0.stdout.take().unwrap());
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["freed"], true, "{report:#}");
    assert!(report["watched_ms"].as_u64().unwrap() >= 2000, "{report:#}");
    let parents = report["parents_still_running"].as_array().unwrap();
    assert_eq!(parents.len(), 1, "{report:#}");
    assert_eq!(parents[0]["pid"], supervisor.pid(), "{report:#}");
    drop(supervisor);

    // The text form, with a supervisor that has not restarted yet either;
    // its command line (another user's text) carries an escape sequence.
    let port = non_ephemeral_port().to_string();
    let mut command = Command::new("sh");
    command.args(["-c", loop_, server, &port]).arg("\x1b[2J").stdout(std::process::Stdio::piped());
    let mut supervisor = crate::util::ChildGuard::spawn(&mut command);
    let mut out = std::io::BufReader::new(supervisor.0.stdout.take().unwrap());
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["kill", &port, "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("Port {port} is free.")), "{}", output.stdout);
    assert!(
        output.stdout.contains(&format!("note: {} (sh -c while true;", supervisor.pid())),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("--settle"), "{}", output.stdout);
    assert!(!output.stdout.contains('\x1b'), "shown escaped: {:?}", output.stdout);
    assert!(output.stdout.contains("\\x1b[2J"), "{}", output.stdout);
}

#[test]
fn the_shell_porthole_runs_in_is_not_called_a_supervisor() {
    // The test process started both the server and porthole, like a shell
    // running `server & porthole kill PORT`: no note.
    let (_server, port, _out) = server("plain");
    let output = porthole_run(&["kill", &port.to_string(), "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains("note:"), "{}", output.stdout);
}

#[test]
fn a_stopped_server_is_continued_after_term_not_called_stubborn() {
    // A server suspended with Ctrl-Z (SIGSTOP here) keeps SIGTERM pending
    // until it runs again; without SIGCONT it would be SIGKILLed after the
    // grace and reported as having ignored SIGTERM.
    let (server, port, _out) = server("plain");
    let stop = Command::new("kill").args(["-STOP", &server.pid().to_string()]).status().unwrap();
    assert!(stop.success());
    assert!(eventually(Duration::from_secs(5), || state_of(server.pid()) == Some('T')));
    let dry = porthole_run(&["kill", &port.to_string(), "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("is stopped (SIGSTOP or Ctrl-Z)"), "{}", dry.stdout);
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--grace", "30s", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let target = &report["targets"][0];
    assert_eq!(target["signals"], serde_json::json!(["TERM", "CONT"]), "{report:#}");
    assert_eq!(target["outcome"], "exited", "SIGTERM did its work once continued: {report:#}");
    assert!(!process_alive(server.pid()));
}

/// Holds `ADDRESS:PORT` (argv[1], argv[2]) until killed:
/// listening when argv[3] is `listen`, only bound otherwise. Prints the port.
const HOLDER: &str = r#"
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
if sys.argv[3] == "listen":
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
"#;

fn holder(address: &str, port: u16, mode: &str) -> (crate::util::ChildGuard, u16) {
    let (child, mut out) = python(HOLDER, &[address, &port.to_string(), mode]);
    let port = wait_for_line(&mut out).parse().unwrap();
    (child, port)
}

#[test]
fn a_port_is_not_called_free_while_sockets_kill_left_alone_still_hold_it() {
    // -4 (and -t/-u/-6) narrow what is stopped, not what holds the port:
    // the IPv6 listener of another process is left, and said to be left.
    let (v4, port) = holder("127.0.0.1", non_ephemeral_port(), "listen");
    let (v6, _) = holder("::1", port, "listen");
    let output = porthole_run(&["kill", "-4", &port.to_string(), "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains(&format!("Port {port} is free")), "{}", output.stdout);
    assert!(
        output.stdout.contains(&format!("No selected listener is left on port {port}")),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains(&format!("[::1]:{port}/tcp held by {}", v6.pid())));
    assert!(!process_alive(v4.pid()) && process_alive(v6.pid()));
    // --udp selects nothing here: not "nothing listens".
    let output = porthole_run(&["kill", "--udp", &port.to_string(), "--yes", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let report = output.json();
    assert_eq!(report["other_sockets"][0]["kind"], "not_selected", "{report:#}");
    assert_eq!(report["other_sockets"][0]["socket"]["processes"][0]["pid"], v6.pid());
    let text = porthole_run(&["kill", "--udp", &port.to_string(), "--yes"]);
    assert!(!text.stdout.contains("Nothing listens"), "{}", text.stdout);
    drop(v6);

    // A socket bound without listen() is no listener, but the port is not
    // free while it exists: asked together with a listening port.
    let (bound, bound_port) = holder("127.0.0.1", non_ephemeral_port(), "bind");
    let (server, listen_port) = holder("127.0.0.1", non_ephemeral_port(), "listen");
    let ports = [bound_port.to_string(), listen_port.to_string()];
    let output = porthole_run(&["kill", &ports[0], &ports[1], "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("Port {listen_port} is free.")), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains(&format!("Nothing listens on port {bound_port}, but it is not free")),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("bound but not listening"), "{}", output.stdout);
    assert!(process_alive(bound.pid()), "only listeners are stopped");
    assert!(!process_alive(server.pid()));
}

#[test]
fn a_process_running_before_porthole_that_takes_the_port_is_no_restart() {
    // A server already running but not yet listening (slow start-up)
    // takes the port once the planned target is gone. It started before
    // porthole, so calling it "restarted by a supervisor" (and naming the
    // test process as the supervisor to stop) would be wrong.
    let (server, port, _out) = server("plain");
    let grabber = "import socket, sys, time\n\
                   print('waiting', flush=True)\n\
                   while True:\n\
                   \x20   try:\n\
                   \x20       s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n\
                   \x20       break\n\
                   \x20   except OSError:\n\
                   \x20       s.close(); time.sleep(0.01)\n\
                   time.sleep(120)";
    let (late, mut out) = python(grabber, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "waiting");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--json"]);
    assert_eq!(output.code, 2, "the port is held again: {output:?}");
    let report = output.json();
    let holder = &report["holders_after"][0];
    assert_eq!(holder["pid"], late.pid(), "{report:#}");
    assert_eq!(holder["kind"], "already_running", "{report:#}");
    assert!(holder["parent_pid"].is_null(), "no supervisor is named: {report:#}");
    assert!(!process_alive(server.pid()));
    let text = porthole_run(&["kill", &port.to_string(), "--yes"]);
    assert!(!text.stdout.contains("supervisor"), "{}", text.stdout);
}

#[test]
fn minus_4_stops_a_dual_stack_listener_that_takes_ipv4_clients() {
    // A `::` listener with IPV6_V6ONLY off is where IPv4 clients of the
    // port arrive: `kill -4` must see it rather than say nothing listens.
    let code = "import socket, sys\n\
                s = socket.socket(socket.AF_INET6)\n\
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
                s.bind(('::', int(sys.argv[1]))); s.listen()\n\
                print(s.getsockname()[1], flush=True)\n\
                import time; time.sleep(120)";
    let (server, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["kill", "-4", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["pid"], server.pid(), "{report:#}");
    assert_eq!(report["targets"][0]["outcome"], "exited", "{report:#}");
    assert!(!process_alive(server.pid()));
}

/// A listener on 127.0.0.1:`port` inside `netns` (never accepting).
fn netns_server(netns: &Netns, port: u16) -> crate::util::ChildGuard {
    crate::util::server_in(netns, "127.0.0.1", port, "hold")
}

#[test]
fn a_listener_in_another_namespace_is_named_with_the_kill_command_that_reaches_it() {
    let Some(netns) = Netns::create() else { return };
    let port = non_ephemeral_port();
    let server = netns_server(&netns, port);
    let text = port.to_string();

    // From the host's namespace nothing listens, but the container-like
    // namespace has it: say so, with the exact command.
    let output = porthole_run(&["kill", &text, "--yes", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let report = output.json();
    let elsewhere = report["elsewhere"].as_array().expect("elsewhere is a list");
    assert_eq!(elsewhere.len(), 1, "{report:#}");
    let command = format!("porthole kill {port} --netns {}", netns.name);
    assert_eq!(elsewhere[0]["command"], command.as_str(), "{report:#}");
    assert_eq!(elsewhere[0]["socket"]["processes"][0]["pid"], server.pid());
    assert!(process_alive(server.pid()), "nothing outside the namespace asked was signalled");
    let output = porthole_run(&["kill", &text, "--yes", "-t"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains(&format!("{command} -t")), "{output:?}");

    // The printed command, run as printed, stops it and checks the port in
    // that namespace.
    let mut words: Vec<&str> = command.split(' ').skip(1).collect();
    words.extend(["--yes", "--json"]);
    let output = porthole_run(&words);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["freed"], true, "{report:#}");
    assert_eq!(report["targets"][0]["pid"], server.pid(), "{report:#}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(server.pid())));
    let after = netns.porthole(&[&text, "--json"]);
    assert_eq!(after.code, 1, "nothing listens in the namespace any more: {after:?}");
}

#[test]
fn netns_all_stops_listeners_in_every_namespace_and_names_them() {
    let Some(netns) = Netns::create() else { return };
    let port = non_ephemeral_port();
    let inside = netns_server(&netns, port);
    let (outside, mut ready) = python(SERVER, &["plain", &port.to_string()]);
    wait_for_line(&mut ready);
    let text = port.to_string();
    let plan = porthole_run(&["kill", &text, "--netns", "all", "--dry-run", "--json"]).json();
    let hints: Vec<&str> = plan["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["net_namespace_hint"].as_str().unwrap_or(""))
        .collect();
    assert!(hints.contains(&format!("netns {}", netns.name).as_str()), "{plan:#}");
    assert!(hints.contains(&"current"), "{plan:#}");
    let output = porthole_run(&["kill", &text, "--netns", "all", "--yes"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("in netns {}", netns.name)), "{output:?}");
    assert!(
        output.stdout.contains(&format!("Port {port} is free in every network namespace.")),
        "{output:?}"
    );
    assert!(eventually(Duration::from_secs(5), || {
        !process_alive(inside.pid()) && !process_alive(outside.pid())
    }));
}

#[test]
fn netns_names_that_are_not_namespaces_are_usage_errors() {
    for bad in ["no-such-namespace-here", "/etc/passwd", "/proc/self/ns/mnt", ""] {
        let output = porthole_run(&["kill", "8080", "--netns", bad, "--dry-run"]);
        crate::util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

/// A listener that runs `sh -c 'PORTHOLE kill PORT ARGS… > OUT; true'`,
/// so that it is porthole's grandparent (the shell is the parent), as a
/// shell behind `sudo` or `sh -c` would be.
const ANCESTOR: &str = r#"
import os, socket, subprocess, sys, time
porthole, out, port, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
s = socket.socket(); s.bind(("127.0.0.1", port)); s.listen()
port = s.getsockname()[1]
print(port, flush=True)
line = " ".join([porthole, "kill", str(port), "--yes", "--json"] + extra)
subprocess.run(["sh", "-c", line + " > " + out + " 2>&1; echo $? >> " + out + ".code; true"])
time.sleep(120)
"#;

#[test]
fn an_ancestor_of_porthole_is_refused_without_allow_ancestors() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("out");
    let binary = crate::util::binary();
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_file(out.with_extension("code"));
        let port = non_ephemeral_port().to_string();
        let mut args = vec![binary.to_str().unwrap(), out.to_str().unwrap(), &port];
        args.extend(extra);
        let (child, mut ready) = python(ANCESTOR, &args);
        wait_for_line(&mut ready);
        assert!(
            eventually(Duration::from_secs(20), || out.with_extension("code").exists()),
            "porthole finished"
        );
        let code = std::fs::read_to_string(out.with_extension("code")).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        (child, code.trim().to_string(), text)
    };
    let (child, code, text) = run(&[]);
    assert_eq!(code, "2", "{text}");
    let json_end = text.rfind('}').expect("a JSON report") + 1;
    let report: serde_json::Value = serde_json::from_str(&text[..json_end]).expect("JSON");
    assert_eq!(report["targets"][0]["pid"], child.pid(), "{report:#}");
    assert_eq!(report["targets"][0]["refusal"], "ancestor", "{report:#}");
    assert!(
        report["targets"][0]["refusal_reason"].as_str().unwrap().contains("--allow-ancestors"),
        "{report:#}"
    );
    assert!(process_alive(child.pid()), "the ancestor was not signalled");
    drop(child);

    let (child, code, text) = run(&["--allow-ancestors", "--grace", "1s"]);
    assert!(eventually(Duration::from_secs(5), || !process_alive(child.pid())), "{code} {text}");
}

#[test]
fn a_connected_udp_socket_on_the_port_is_named_instead_of_nothing() {
    // Bound to a port and connected elsewhere: not a listener, but no
    // other UDP socket can bind the port while it lives.
    let code = "import socket,sys,time\n\
                c=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                c.bind(('127.0.0.1', int(sys.argv[1])))\n\
                c.connect(('127.0.0.1', 9))\n\
                print(c.getsockname()[1], flush=True); time.sleep(120)";
    let (client, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["kill", &port, "-u", "--yes"]);
    assert_eq!(output.code, 1, "nothing listened: {output:?}");
    assert!(output.stdout.contains("but it is not free"), "{output:?}");
    assert!(output.stdout.contains("connected, not listening"), "{output:?}");
    let report = porthole_run(&["kill", &port, "--json"]).json();
    assert_eq!(report["other_sockets"][0]["kind"], "connected", "{report:#}");
    assert!(process_alive(client.pid()), "a client is never signalled");
}

#[test]
fn a_server_in_another_pid_namespace_is_named_and_signalled_by_its_host_pid() {
    if !is_root() {
        crate::util::skip("unshare -p needs root");
        return;
    }
    // Not the namespace's init (the shell is): an ordinary process whose
    // pid inside is small and means nothing out here.
    let mut command = Command::new("unshare");
    command.args(["-p", "-f", "--mount-proc", "sh", "-c", "\"$@\" & wait", "sh", "python3"]);
    let (_namespace, mut out) =
        python_via(command, SERVER, &["plain", &non_ephemeral_port().to_string()]);
    let line = wait_for_line(&mut out);
    let mut fields = line.split_whitespace();
    let port = fields.next().unwrap().to_string();
    let inner_pid: u32 = fields.next().unwrap().parse().unwrap();
    let report = porthole_run(&["kill", &port, "--yes", "--json"]).json();
    let pid = report["targets"][0]["pid"].as_u64().expect("a target") as u32;
    assert_ne!(pid, inner_pid, "the host's pid, not the namespace's: {report:#}");
    assert_eq!(report["targets"][0]["outcome"], "exited", "{report:#}");
    assert_eq!(report["freed"], true, "{report:#}");
    assert!(!process_alive(pid));
}

#[test]
fn a_namespace_without_a_name_is_reached_through_its_process_and_checked_after_it_is_gone() {
    if !is_root() {
        crate::util::skip("unshare -n needs root");
        return;
    }
    // A container-like namespace: no `ip netns` name, one process inside,
    // which takes the namespace with it when it exits.
    let mut command = Command::new("unshare");
    command.args(["-n", "sh", "-c", "ip link set lo up && exec \"$@\"", "sh", "python3"]);
    let (server, mut out) =
        python_via(command, SERVER, &["plain", &non_ephemeral_port().to_string()]);
    let line = wait_for_line(&mut out);
    let port = line.split_whitespace().next().unwrap().to_string();
    let report = porthole_run(&["kill", &port, "--json"]).json();
    let command = report["elsewhere"][0]["command"].as_str().expect("a command").to_string();
    assert_eq!(command, format!("porthole kill {port} --netns /proc/{}/ns/net", server.pid()));
    let mut words: Vec<&str> = command.split(' ').skip(1).collect();
    words.push("--yes");
    let output = porthole_run(&words);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains(&format!("Port {port} is free")), "{output:?}");
    assert!(!process_alive(server.pid()));
}

#[test]
fn a_frozen_server_is_named_as_frozen_with_the_command_that_thaws_it() {
    if !is_root() {
        crate::util::skip("the cgroup freezer needs root");
        return;
    }
    // It catches SIGTERM, so on cgroup v2 too the signal waits for a thaw.
    let (server, port, _out) = server("report");
    let Some(cgroup) = FreezerCgroup::create() else {
        crate::util::skip("no cgroup hierarchy with a freezer can be written here");
        return;
    };
    if !cgroup.freeze(server.pid()) {
        crate::util::skip("the process could not be moved into a frozen cgroup");
        return;
    }
    let thaw = format!("echo {} > {}/{}", cgroup.thaw, cgroup.directory, cgroup.control);
    let plan = porthole_run(&["kill", &port.to_string(), "--dry-run", "--json"]);
    let target = &plan.json()["targets"][0];
    assert_eq!(target["frozen"], true, "{plan:?}");
    assert_eq!(target["thaw_command"], thaw.as_str(), "{plan:?}");
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--grace", "1s"]);
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(
        text.contains("is frozen by the cgroup freezer") && text.contains(&thaw),
        "the plan names the freeze and its thaw command ({thaw}): {output:?}"
    );
    assert!(!text.contains("ignored SIGTERM"), "a frozen process did not ignore it: {output:?}");
    if cgroup.thaw == "THAWED" {
        // cgroup v1: not even SIGKILL acts, the port stays held.
        assert_eq!(output.code, 2, "{output:?}");
        assert!(text.contains("still running, frozen by the cgroup freezer"), "{output:?}");
        assert!(process_alive(server.pid()));
        // The printed command runs as printed, and the pending SIGKILL acts.
        let status = Command::new("sh").args(["-c", &thaw]).status().expect("sh runs");
        assert!(status.success(), "{thaw}");
        assert!(
            eventually(Duration::from_secs(10), || !process_alive(server.pid())),
            "thawed, the server gets the signals porthole sent"
        );
    } else {
        // cgroup v2: SIGKILL ends a frozen process.
        assert_eq!(output.code, 0, "{output:?}");
        assert!(text.contains("frozen by the cgroup freezer, so SIGTERM waited"), "{output:?}");
    }
    drop(cgroup);
}

#[test]
fn a_hidden_owner_of_another_user_is_named_by_the_sockets_user() {
    if !is_root() {
        crate::util::skip("running as two other users needs root");
        return;
    }
    // The system interpreter: one under /root would not be readable.
    if !std::path::Path::new("/usr/bin/python3").exists() {
        crate::util::skip("/usr/bin/python3 is missing");
        return;
    }
    // The server runs as nobody, porthole as daemon: the process is out of
    // sight, but the kernel still reports whose socket it is.
    let mut as_nobody = Command::new("setpriv");
    as_nobody.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3"]);
    let (server, mut out) =
        python_via(as_nobody, SERVER, &["plain", &non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out).split_whitespace().next().unwrap().to_string();
    let mut command = Command::new("setpriv");
    command.args(["--reuid=daemon", "--regid=daemon", "--clear-groups", "--"]);
    command.arg(crate::util::binary()).args(["kill", &port, "--yes"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    assert_eq!(output.code, 2, "{output:?}");
    let uid = crate::util::run(Command::new("id").args(["-u", "nobody"])).stdout;
    let whose = format!("; the socket belongs to user nobody (uid {})", uid.trim());
    assert!(output.stdout.contains(&whose), "{whose}: {output:?}");
    assert!(process_alive(server.pid()));
    // The run that sees and stops it as root, not "--force", which cannot
    // help a user who is not root; it runs as printed (here as root already,
    // as after sudo or su) and finds the owner.
    let line = output.stdout.lines().find(|l| l.contains("hidden:")).unwrap();
    let (_, as_root) = line.split_once("; as root: ").expect("the command as root");
    assert!(as_root.contains(&format!(" kill {port} --force")), "{line}");
    assert!(as_root.starts_with("sudo ") || as_root.starts_with("su -c "), "{line}");
    let ran = crate::util::run(Command::new("sh").args(["-c", as_root]));
    assert!(
        ran.stdout.contains(&format!("{} ", server.pid())) && ran.stdout.contains("nobody"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("pass --yes"), "{ran:?}");
    assert!(process_alive(server.pid()));
}

#[test]
fn the_kill_command_for_a_namespace_named_like_an_option_runs_as_printed() {
    if !is_root() {
        crate::util::skip("ip netns add needs root");
        return;
    }
    // `ip netns add -dev…` is accepted; `--netns -dev…` written apart is
    // read as an option, so the printed line must join it with `=`.
    let name = format!("-porthole-test-{}-dash", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &name]).status().expect("ip runs");
    assert!(added.success(), "ip netns add {name}");
    let netns = Netns { name };
    let up = netns.command("ip").args(["link", "set", "lo", "up"]).status().expect("ip runs");
    assert!(up.success());
    let port = non_ephemeral_port();
    let server = netns_server(&netns, port);

    let report = porthole_run(&["kill", &port.to_string(), "--json"]).json();
    let command = report["elsewhere"][0]["command"].as_str().expect("a command").to_string();
    assert_eq!(command, format!("porthole kill {port} --netns={}", netns.name), "{report:#}");
    // Run by a shell exactly as printed, `porthole` being this binary.
    let output = crate::util::run(
        Command::new("sh")
            .arg("-c")
            .arg(format!("porthole() {{ \"$PORTHOLE_BIN\" \"$@\"; }}; {command} --yes"))
            .env("PORTHOLE_BIN", crate::util::binary()),
    );
    assert_eq!(output.code, 0, "{command}: {output:?}");
    assert!(output.stdout.contains(&format!("Port {port} is free")), "{output:?}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(server.pid())));
}

#[test]
fn a_listener_bound_to_a_v4_mapped_address_is_ipv4_for_the_family_flags() {
    // An IPv6 socket bound to `::ffff:127.0.0.1` takes IPv4 clients only:
    // `-6` must leave it alone and `-4` must stop it.
    let code = "import socket, sys\n\
                s=socket.socket(socket.AF_INET6)\n\
                s.bind(('::ffff:127.0.0.1', int(sys.argv[1]))); s.listen()\n\
                print(s.getsockname()[1], flush=True)\n\
                import time; time.sleep(120)";
    let (server, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["kill", "-6", &port, "--yes", "--json"]);
    assert_eq!(output.code, 1, "nothing IPv6 clients reach listens: {output:?}");
    assert!(process_alive(server.pid()), "-6 did not select it");
    let output = porthole_run(&["kill", "-4", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["pid"], server.pid(), "{report:#}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(server.pid())));
}

#[test]
fn a_worker_a_surviving_master_starts_after_the_signal_is_not_called_orphaned() {
    // A prefork master (nginx, gunicorn) reloads on SIGHUP: it starts a new
    // worker on the same listening socket and ends the old one. After
    // `--signal HUP` the master is still running, and it, not the new
    // worker, keeps the port: "nothing restarted it; run porthole kill
    // again" would send the user after a worker the master replaces.
    let code = r#"
import ctypes, os, signal, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
def worker():
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        while True:
            time.sleep(1)
    return pid
current = [worker()]
def reload(*_):
    old = current[0]
    current[0] = worker()
    os.kill(old, signal.SIGTERM)
signal.signal(signal.SIGHUP, reload)
print(s.getsockname()[1], os.getpid(), flush=True)
while True:
    time.sleep(0.05)
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        pass
"#;
    let (master, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out).split_whitespace().next().unwrap().to_string();
    let args = ["kill", &port, "--yes", "--signal", "HUP", "--grace", "200ms", "--settle", "1s"];
    let output = porthole_run(&[&args[..], &["--json"]].concat());
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    let holders = report["holders_after"].as_array().unwrap();
    let worker = holders.iter().find(|h| h["kind"] == "inherited").expect("the new worker");
    assert_eq!(worker["parent_pid"], master.pid(), "{report:#}");
    assert_eq!(worker["parent_is_target"], true, "{report:#}");
    assert!(holders.iter().any(|h| h["kind"] == "survived" && h["pid"] == master.pid()));

    let output = porthole_run(&args);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stdout.contains("handed the socket to this one"), "{output:?}");
    assert!(!output.stdout.contains("nothing restarted it"), "{output:?}");
    assert!(process_alive(master.pid()), "HUP is not a stop");
}

#[test]
fn a_socket_handed_to_a_child_forked_on_term_is_not_called_a_restart() {
    // A server that, on SIGTERM, forks a child keeping its listening
    // socket and exits. The port is held by the same socket, not a new
    // bind: no supervisor restarted anything, and naming one (or the
    // test process as one) would send the user after the wrong process.
    let code = r#"
import os, signal, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
def on_term(*_):
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print("child", os.getpid(), flush=True)
        time.sleep(60)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
print(s.getsockname()[1], os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"#;
    let (server, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port: u16 = wait_for_line(&mut out).split_whitespace().next().unwrap().parse().unwrap();
    let output = porthole_run(&["kill", &port.to_string(), "--yes", "--json", "--settle", "300ms"]);
    let child: u32 = wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
    // The child is this test's descendant: end it whatever the outcome.
    let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
    assert_eq!(output.code, 2, "the port is still held: {output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["pid"], server.pid(), "{report:#}");
    let holder = &report["holders_after"][0];
    assert_eq!(holder["pid"], child, "{report:#}");
    assert_eq!(holder["kind"], "inherited", "{report:#}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(child)));

    // The text form says what happened to the socket.
    let (server, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port: u16 = wait_for_line(&mut out).split_whitespace().next().unwrap().parse().unwrap();
    let text = porthole_run(&["kill", &port.to_string(), "--yes", "--settle", "300ms"]);
    let child: u32 = wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
    let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
    drop(server);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(!text.stdout.contains("supervisor"), "{}", text.stdout);
    assert!(text.stdout.contains("holds the very socket a stopped process"), "{}", text.stdout);
}

#[test]
fn a_replacement_the_target_spawned_as_it_exited_is_not_blamed_on_a_supervisor() {
    // On SIGTERM the server closes its socket, forks a replacement that
    // binds the port anew, and exits: the replacement is an orphan. No
    // supervisor exists, so "a supervisor restarted it" would be a guess.
    let code = r#"
import os, signal, socket, sys, time
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen()
    return s
s = serve(int(sys.argv[1]))
port = s.getsockname()[1]
def on_term(*_):
    s.close()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        t = serve(port)
        print("child", os.getpid(), flush=True)
        time.sleep(60)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
print(port, os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"#;
    let (_server, mut out) = python(code, &[&non_ephemeral_port().to_string()]);
    let port: u16 = wait_for_line(&mut out).split_whitespace().next().unwrap().parse().unwrap();
    let text = porthole_run(&["kill", &port.to_string(), "--yes", "--settle", "5s"]);
    let child: u32 = wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
    let parent = std::fs::read_to_string(format!("/proc/{child}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok());
    // The child is this test's descendant: end it whatever the outcome.
    let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
    assert!(parent.is_some(), "the replacement was running when porthole returned");
    assert_eq!(text.code, 2, "the port is held again: {text:?}");
    assert!(text.stdout.contains(&format!("new process, {child} (python3)")), "{}", text.stdout);
    // A subreaper above the test would be a living parent worth naming.
    if parent == Some(1) {
        assert!(!text.stdout.contains("supervisor restarted"), "{}", text.stdout);
        assert!(text.stdout.contains("no supervisor porthole can name"), "{}", text.stdout);
    }
}

#[test]
fn a_port_nothing_listens_on_is_not_listed_as_listening() {
    // `kill A B` where only A has a listener: the header named both as
    // "Listening on ports A, B".
    let (server, port, _out) = server("plain");
    let idle = non_ephemeral_port();
    let output = porthole_run(&["kill", &port.to_string(), &idle.to_string(), "--dry-run"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.contains(&format!("Listening on port {port} (nothing listens on {idle}):")),
        "{}",
        output.stdout
    );
    assert!(process_alive(server.pid()));
}

/// Listens on 127.0.0.1:argv[1] (with `SO_REUSEADDR` when argv[2] is
/// `reuse`), accepts one client and keeps it: a server with an open
/// connection, as a dev server with a browser's keep-alive.
const ACCEPTING: &str = r#"
import os, socket, sys, time
s = socket.socket()
if sys.argv[2] == "reuse":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print(os.getpid(), flush=True)
a, _ = s.accept()
time.sleep(120)
"#;

/// Tries to bind and listen on 127.0.0.1:argv[1], with `SO_REUSEADDR`
/// when argv[2] is `reuse`; prints `bound` or the error's name.
const BIND: &str = r#"
import errno, socket, sys
s = socket.socket()
if sys.argv[2] == "reuse":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("bound")
except OSError as e:
    print(errno.errorcode[e.errno])
"#;

#[test]
fn closing_connections_of_the_stopped_server_are_said_not_called_free() {
    // A server stopped with a client still connected leaves its end of the
    // connection closing in the kernel (FIN-WAIT-2 while the client keeps
    // its end, then TIME-WAIT). No process holds it, yet a new server
    // binds the port only if both set SO_REUSEADDR: "Port N is free" would
    // be wrong for the others, and `porthole free` passes the port over.
    let Some(netns) = Netns::create() else { return };
    for (port, reuse) in [(23110u16, "reuse"), (23111, "plain")] {
        let text = port.to_string();
        let (_server, mut out) = python_via(netns.command("python3"), ACCEPTING, &[&text, reuse]);
        wait_for_line(&mut out);
        let (_client, mut client_out) = python_via(netns.command("python3"), CLIENT, &[&text]);
        assert_eq!(wait_for_line(&mut client_out), "connected");
        let output = netns.porthole(&["kill", &text, "--yes"]);
        assert_eq!(output.code, 0, "the listener is gone: {output:?}");
        assert!(!output.stdout.contains("is free"), "{output:?}");
        assert!(
            output
                .stdout
                .contains(&format!("Nothing listens on port {text} any more, but it is not free")),
            "{output:?}"
        );
        assert!(
            output
                .stdout
                .contains("1 connection(s) still closing (FIN-WAIT-2 1), held by no process"),
            "{output:?}"
        );
        let report = netns.porthole(&["kill", &text, "--json"]).json();
        assert_eq!(report["other_sockets"][0]["kind"], "closing", "{report:#}");
        // What the line says holds: a plain bind fails, and a bind with
        // SO_REUSEADDR succeeds only after a server that set it too.
        let bind = |mode: &str| {
            let (_child, mut out) = python_via(netns.command("python3"), BIND, &[&text, mode]);
            wait_for_line(&mut out)
        };
        assert_eq!(bind("plain"), "EADDRINUSE", "{port}");
        let expected = if reuse == "reuse" { "bound" } else { "EADDRINUSE" };
        assert_eq!(bind("reuse"), expected, "{port}");
        let free = netns.porthole(&["free", "--prefer", &text, "--json"]).json();
        assert_ne!(free["port"], port, "{free:#}");
        assert_eq!(free["skipped_because"]["held only by closing connections"], 1, "{free:#}");
    }
    // --json says the same: the listener is gone (exit 0), the port is not
    // free.
    let text = "23112";
    let (_server, mut out) = python_via(netns.command("python3"), ACCEPTING, &[text, "reuse"]);
    wait_for_line(&mut out);
    let (_client, mut client_out) = python_via(netns.command("python3"), CLIENT, &[text]);
    assert_eq!(wait_for_line(&mut client_out), "connected");
    let output = netns.porthole(&["kill", text, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["freed"], false, "{report:#}");
    assert_eq!(report["free_ports"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["other_sockets"][0]["kind"], "closing", "{report:#}");
}

#[test]
fn a_free_hold_is_named_as_a_reservation_not_as_a_port_nobody_can_bind() {
    // `porthole free --hold` binds without listening, like any bound-only
    // socket, but with SO_REUSEADDR: the server it was made for binds the
    // port. "Nothing else can bind the port" would send the user to kill
    // the reservation they asked for; the line says what it is and how to
    // end it, as a command that runs as printed.
    let Some(netns) = Netns::create() else { return };
    let held = netns.porthole(&["free", "--hold", "60", "--json"]).json();
    let port = held["port"].as_u64().unwrap().to_string();
    let holder = held["holder_pid"].as_u64().unwrap() as u32;
    let output = netns.porthole(&["kill", &port]);
    assert_eq!(output.code, 1, "nothing listens: {output:?}");
    assert!(!output.stdout.contains("nothing else can bind"), "{output:?}");
    let said = "a reservation by porthole free --hold, not listening: a server that sets \
                SO_REUSEADDR binds the port now";
    assert!(output.stdout.contains(said), "{output:?}");
    let fix = format!("to end the hold: kill {holder}");
    assert!(output.stdout.contains(&fix), "{output:?}");
    let report = netns.porthole(&["kill", &port, "--json"]).json();
    assert_eq!(report["other_sockets"][0]["kind"], "hold", "{report:#}");
    // `porthole PORT` says the same of it.
    let who = netns.porthole(&[&port]);
    assert!(who.stdout.contains("a reservation by porthole free --hold"), "{who:?}");
    assert!(who.stdout.contains(&fix), "{who:?}");
    assert!(!who.stdout.contains("nothing else can bind"), "{who:?}");
    let status = Command::new("sh").args(["-c", &fix["to end the hold: ".len()..]]).status();
    assert!(status.expect("sh runs").success());
    assert!(eventually(Duration::from_secs(10), || !process_alive(holder)), "the hold ended");
}

/// A prefork server as nginx runs with `user nobody;`: the master, root,
/// listens and forks two workers that drop to nobody and keep the socket;
/// it starts a new worker for each one that exits and, on SIGTERM, stops
/// its workers and exits. Prints `PORT MASTER_PID`.
const ROOT_MASTER: &str = r#"
import ctypes, os, signal, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
def worker():
    pid = os.fork()
    if pid == 0:
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        # After setuid, which clears both: die with the master, and stay
        # readable in /proc to the worker's user, as nginx does
        # (PR_SET_DUMPABLE).
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        ctypes.CDLL(None).prctl(4, 1)
        while True:
            time.sleep(1)
    return pid
workers = {worker(), worker()}
stopping = False
def stop(*_):
    global stopping
    stopping = True
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print(s.getsockname()[1], os.getpid(), flush=True)
while True:
    try:
        pid, _ = os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.05)
        continue
    if not stopping:
        workers.discard(pid)
        workers.add(worker())
"#;

fn root_master() -> Option<(crate::util::ChildGuard, String)> {
    if !is_root() {
        crate::util::skip("a master that runs workers as nobody needs root");
        return None;
    }
    let (master, mut out) =
        python_via(Command::new("python3"), ROOT_MASTER, &[&non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out).split_whitespace().next().unwrap().to_string();
    Some((master, port))
}

#[test]
fn workers_of_another_user_under_a_root_master_stop_with_it_without_force() {
    // Root stopping nginx with `user nobody`: the workers are the master's
    // own children on its socket, and its SIGTERM ends them. "Belongs to
    // another user; pass --force" was advice for a refusal that helped
    // nobody: without --force the master went and the workers with it.
    let Some((master, port)) = root_master() else { return };
    let dry = porthole_run(&["kill", &port, "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(!dry.stdout.contains("pass --force"), "{}", dry.stdout);
    assert_eq!(dry.stdout.matches("no --force needed").count(), 2, "{}", dry.stdout);
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{report:#}");
    for worker in targets.iter().filter(|t| t["pid"] != master.pid()) {
        assert_eq!(worker["user"], "nobody", "{report:#}");
        assert_eq!(worker["action"], "stop", "{report:#}");
        assert_eq!(worker["stopped_with"], master.pid(), "{report:#}");
        // The master stops its workers: a worker signalled first would be
        // replaced by a new one.
        assert_eq!(worker["signals"], serde_json::json!([]), "{report:#}");
        assert_eq!(worker["outcome"], "exited", "{report:#}");
    }
    assert_eq!(report["freed"], true, "{report:#}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(master.pid())));
}

#[test]
fn a_caller_who_stops_only_the_workers_is_sent_to_the_root_master() {
    // The same server stopped by a user who is not root: the master's
    // sockets cannot be read, so only its workers are seen; each one
    // stopped is replaced. "Nothing restarted it; run porthole kill
    // again" sent the user round in circles: the master is named, with
    // the command that stops it as root, and that command runs.
    let Some((master, port)) = root_master() else { return };
    let sudo = ["/usr/bin/sudo", "/bin/sudo"].iter().any(|p| std::path::Path::new(p).exists());
    let stop = if sudo {
        format!("sudo kill {}", master.pid())
    } else {
        format!("su -c 'kill {}'", master.pid())
    };
    // The socket belongs to root, who made it, and the workers' parent is
    // root's: they are refused before any signal, with the master's stop.
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(crate::util::binary()).args(["kill", &port, "--yes", "--json"]);
    crate::util::scrub(&mut command);
    let refused = crate::util::run(&mut command);
    assert_eq!(refused.code, 2, "{refused:?}");
    let report = refused.json();
    let targets = report["targets"].as_array().unwrap();
    assert!(!targets.is_empty(), "{report:#}");
    for worker in targets {
        assert_eq!(worker["refusal"], "worker_of_master", "{report:#}");
        let reason = worker["refusal_reason"].as_str().unwrap();
        assert!(reason.contains(&format!("stop it instead, as root: {stop} ")), "{reason}");
        assert_eq!(worker["signals"], serde_json::json!([]), "{report:#}");
    }
    // With --force the workers are stopped anyway, and the master that
    // replaces them is named after the fact.
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command
        .arg(crate::util::binary())
        .args(["kill", &port, "--yes", "--force", "--settle", "2s", "--json"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    let holders = report["holders_after"].as_array().unwrap();
    assert!(!holders.is_empty(), "{report:#}");
    for holder in holders {
        assert_eq!(holder["kind"], "inherited", "{report:#}");
        assert_eq!(holder["parent_pid"], master.pid(), "{report:#}");
        assert_eq!(holder["parent_unseen"], true, "{report:#}");
        assert_eq!(holder["parent_stop_command"], stop.as_str(), "{report:#}");
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(crate::util::binary()).args(["kill", &port, "--yes", "--force", "--settle", "2s"]);
    crate::util::scrub(&mut command);
    let text = crate::util::run(&mut command);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(!text.stdout.contains("nothing restarted it"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("stop it instead, as root: {stop}\n")),
        "{}",
        text.stdout
    );
    // The advice runs as printed (root here, as after sudo or su) and
    // frees the port.
    let ran = crate::util::run(Command::new("sh").args(["-c", &stop]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(master.pid())));
    let after = porthole_run(&["kill", &port, "--yes"]);
    assert_eq!(after.code, 1, "nothing listens any more: {after:?}");
}

#[test]
fn a_listener_pid_1_restarts_is_blamed_on_pid_1() {
    // Inside a container whose PID 1 is a shell restart loop: the new
    // server's parent is PID 1, which porthole never signals. "No
    // supervisor porthole can name" hid who restarts it.
    if !is_root() {
        crate::util::skip("unshare -p and nsenter need root");
        return;
    }
    let port = non_ephemeral_port();
    let server = format!(
        "import os, socket, time\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port})); s.listen()\n\
         print('child', os.getpid(), flush=True)\n\
         while True: time.sleep(1)\n"
    );
    let loop_ = format!("while :; do python3 -u -c \"{server}\"; sleep 2; done");
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", &loop_]);
    let mut init = crate::util::ChildGuard::spawn(command.stdout(std::process::Stdio::piped()));
    let mut out = std::io::BufReader::new(init.0.stdout.take().expect("piped"));
    wait_for_line(&mut out);
    // The host pid of the namespace's PID 1: unshare's child.
    let sh = std::fs::read_to_string(format!("/proc/{}/task/{}/children", init.pid(), init.pid()))
        .unwrap()
        .trim()
        .to_string();
    let inside = |args: &[&str]| {
        let mut command = Command::new("nsenter");
        command.args(["-t", &sh, "-p", "-m", "--"]).arg(crate::util::binary()).args(args);
        crate::util::scrub(&mut command);
        crate::util::run(&mut command)
    };
    let port = port.to_string();
    // The watch ends as soon as the port is taken again: a long one only
    // gives a restart slowed by a loaded machine (the loop's python
    // starting up) time to come.
    let output = inside(&["kill", &port, "--yes", "--json", "--settle", "60s"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    assert!(report["init_still_running"].is_null(), "it restarted within the watch: {report:#}");
    let holder = &report["holders_after"][0];
    assert_eq!(holder["kind"], "new_process", "{report:#}");
    assert_eq!(holder["parent_pid"], 1, "{report:#}");
    assert_eq!(holder["parent_is_init"], true, "{report:#}");
    assert!(holder["parent_stop_command"].is_null(), "PID 1 is never signalled: {report:#}");
    let text = inside(&["kill", &port, "--yes", "--settle", "60s"]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.stdout.contains("started by 1 (sh -c while"), "{}", text.stdout);
    assert!(
        text.stdout.contains("PID 1, which started the stopped process too"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("no supervisor porthole can name"), "{}", text.stdout);
    // A watch shorter than the loop's sleep: the port is free for now, and
    // PID 1 is named as what may take it again.
    wait_for_line(&mut out);
    let quiet = inside(&["kill", &port, "--yes", "--json", "--settle", "0s"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    let report = quiet.json();
    let cmdline = report["init_still_running"].as_str().expect("PID 1 named");
    assert!(cmdline.starts_with("sh -c while"), "{report:#}");
}

#[test]
fn a_daemon_whose_parent_is_the_hosts_init_is_not_blamed_on_pid_1() {
    // On a host, a daemon's parent is init without init having started it,
    // and so is the replacement a stopped daemon spawns as it exits: PID 1
    // is named as a restarter only inside a container's PID namespace.
    if std::fs::read_link("/proc/self/ns/pid").is_ok_and(|l| l.as_os_str() != "pid:[4026531836]") {
        crate::util::skip("this test runs in a container's PID namespace, where PID 1 is named");
        return;
    }
    let code = r#"
import os, signal, socket, sys, time
if os.fork() != 0:
    os._exit(0)
os.setsid()
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen()
    return s
s = serve(int(sys.argv[1]))
port = s.getsockname()[1]
def on_term(*_):
    s.close()
    if sys.argv[2] == "replace" and os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        t = serve(port)
        print("child", os.getpid(), flush=True)
        time.sleep(60)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
time.sleep(0.3)
print(port, os.getpid(), os.getppid(), flush=True)
while True:
    time.sleep(0.05)
"#;
    for mode in ["plain", "replace"] {
        let (_outer, mut out) = python(code, &[&non_ephemeral_port().to_string(), mode]);
        let line = wait_for_line(&mut out);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (port, daemon) = (fields[0].to_string(), fields[1].parse::<u32>().unwrap());
        if fields[2] != "1" {
            let _ = porthole::sys::signal::send(daemon, porthole::sys::signal::Signal::KILL);
            crate::util::skip("a subreaper adopts orphans here, not PID 1");
            return;
        }
        let output = porthole_run(&["kill", &port, "--yes", "--json", "--settle", "1s"]);
        let _ = porthole::sys::signal::send(daemon, porthole::sys::signal::Signal::KILL);
        let report = output.json();
        assert!(report["init_still_running"].is_null(), "{mode}: {report:#}");
        if mode == "replace" {
            let child: u32 =
                wait_for_line(&mut out).split_whitespace().nth(1).unwrap().parse().unwrap();
            let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
            let holder = &report["holders_after"][0];
            assert_eq!(holder["kind"], "new_process", "{report:#}");
            assert_eq!(holder["parent_is_init"], false, "{report:#}");
            assert!(holder["parent_pid"].is_null(), "{report:#}");
        } else {
            assert_eq!(output.code, 0, "{output:?}");
        }
    }
}

#[test]
fn a_port_range_stops_its_listeners_and_reads_back_as_a_range() {
    // `kill 8000-8010`, as `ls --port` takes a range; the ports nothing
    // listens on are named as ranges, not one line each.
    let Some(netns) = Netns::create() else { return };
    let code = r#"
import socket, time
t = socket.socket(); t.bind(("127.0.0.1", 8001)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 8003))
print("ready", flush=True)
time.sleep(60)
"#;
    let (server, mut out) = python_via(netns.command("python3"), code, &[]);
    wait_for_line(&mut out);
    let output = netns.porthole(&["kill", "8000-8010", "--yes", "--settle", "0s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.starts_with(
            "Listening on ports 8001, 8003 (nothing listens on 8000, 8002, 8004-8010):"
        ),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("Ports 8000, 8002, 8004-8010 are free."), "{}", output.stdout);
    assert!(output.stdout.contains("Port 8001 is free."), "{}", output.stdout);
    assert!(output.stdout.contains("Port 8003 is free."), "{}", output.stdout);
    assert!(eventually(Duration::from_secs(5), || !process_alive(server.pid())));
    let output = netns.porthole(&["kill", "8000-8010", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(output.json()["ports"].as_array().unwrap().len(), 11);
}

/// `fuser -k 8001/udp` and `lsof -i :8001` write the port so: `kill
/// 8001/udp` stops the UDP holder alone (as `--udp` does) and `kill :8001`
/// is port 8001. Both were refused as "not a port number".
#[test]
fn a_port_written_as_fuser_and_lsof_write_it_is_taken() {
    let Some(netns) = Netns::create() else { return };
    let holder = |kind: &str| {
        let code = format!(
            "import socket, time\ns = socket.socket(socket.AF_INET, socket.{kind})\ns.bind(('127.0.0.1', 8001))\n{}print('ready', flush=True)\ntime.sleep(60)\n",
            if kind == "SOCK_STREAM" { "s.listen()\n" } else { "" }
        );
        let (child, mut out) = python_via(netns.command("python3"), &code, &[]);
        wait_for_line(&mut out);
        child
    };
    let (tcp, udp) = (holder("SOCK_STREAM"), holder("SOCK_DGRAM"));
    let output = netns.porthole(&["kill", "8001/udp", "--yes", "--settle", "0s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(udp.pid())), "{output:?}");
    assert!(process_alive(tcp.pid()), "/udp stops no TCP listener: {output:?}");
    let mixed = netns.porthole(&["kill", "8001/tcp", "8002/udp", "--dry-run"]);
    assert_eq!(mixed.code, 2, "{mixed:?}");
    assert!(mixed.stderr.contains("/tcp and /udp in one run"), "{mixed:?}");
    let plan = netns.porthole(&["kill", ":8001", "--dry-run", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan.json()["targets"][0]["pid"], tcp.pid(), "{plan:?}");
    // `lsof -i TCP:8001` puts the transport first; `check tcp:8001` takes
    // it so, and so do the question, the listing and kill. It was read as
    // the host `tcp`, or as "not a port number".
    let udp = holder("SOCK_DGRAM");
    for typed in ["TCP:8001", "udp:8001"] {
        let wanted = if typed.starts_with('u') { udp.pid() } else { tcp.pid() };
        let plan = netns.porthole(&["kill", typed, "--dry-run", "--json"]);
        assert_eq!(plan.code, 0, "{typed}: {plan:?}");
        let targets = plan.json()["targets"].clone();
        assert_eq!(targets.as_array().map(Vec::len), Some(1), "{typed}: {plan:?}");
        assert_eq!(targets[0]["pid"], wanted, "{typed}: {plan:?}");
        let listing = netns.porthole(&["ls", "--port", typed, "--json"]);
        assert_eq!(listing.code, 0, "{typed}: {listing:?}");
        let rows = listing.json().as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{typed}: {listing:?}");
        assert_eq!(rows[0]["processes"][0]["pid"], wanted, "{typed}: {listing:?}");
        let question = netns.porthole(&[typed, "--json"]);
        assert_eq!(question.code, 0, "{typed}: {question:?}");
        let listeners = question.json()["listeners"].clone();
        assert_eq!(listeners.as_array().map(Vec::len), Some(1), "{typed}: {question:?}");
        assert_eq!(listeners[0]["processes"][0]["pid"], wanted, "{typed}: {question:?}");
    }
    let mixed = netns.porthole(&["kill", "tcp:8001", "udp:8001", "--dry-run"]);
    crate::util::assert_usage_error(&mixed, "tcp: and udp:");
    assert!(mixed.stderr.contains("(give no /tcp, /udp, tcp: or udp:)"), "{mixed:?}");
    let both = netns.porthole(&["tcp:8001/udp"]);
    crate::util::assert_usage_error(&both, "tcp:8001/udp");
    assert!(both.stderr.contains("ask for both; give one"), "{both:?}");
}

/// `kill 8001,8003` (kill-port's `--port a,b`) was refused as "not a port
/// number" though `ls --port` takes the same list; a list, with ranges in it,
/// is taken, and an empty item in it is named, not skipped.
#[test]
fn a_comma_separated_list_is_taken_as_ls_port_takes_it() {
    let Some(netns) = Netns::create() else { return };
    let code = r#"
import socket, time
t = socket.socket(); t.bind(("127.0.0.1", 8001)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 8003))
print("ready", flush=True)
time.sleep(60)
"#;
    let (server, mut out) = python_via(netns.command("python3"), code, &[]);
    wait_for_line(&mut out);
    let plan = netns.porthole(&["kill", "8001,8003", "9000-9001, 9005", "--dry-run", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let ports: Vec<u64> =
        plan.json()["ports"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!(ports, [8001, 8003, 9000, 9001, 9005], "{plan:?}");
    for (list, expected) in [
        ("8001,,8003", "port list '8001,,8003': empty item between '8001' and '8003'"),
        ("8001,", "port list '8001,': empty item after '8001'"),
    ] {
        let output = netns.porthole(&["kill", list, "--yes"]);
        crate::util::assert_usage_error(&output, list);
        assert!(output.stderr.contains(expected), "{list}: {}", output.stderr);
    }
    assert!(process_alive(server.pid()), "a refused list stops nothing");
}

/// Debian's nginx on a private configuration and port, in the foreground:
/// the master runs as root and its two workers as www-data. Returns the
/// master (a child of the test) and the port.
fn real_nginx(dir: &std::path::Path) -> Option<(crate::util::ChildGuard, u16)> {
    let nginx = ["/usr/sbin/nginx", "nginx"].into_iter().find(|p| crate::util::installed(p));
    let Some(nginx) = nginx.filter(|_| is_root()) else {
        crate::util::skip("a real nginx with workers of another user needs nginx and root");
        return None;
    };
    let port = non_ephemeral_port();
    let d = dir.display();
    let config = format!(
        "user www-data;\nworker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n\
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n  server {{ listen 127.0.0.1:{port}; return 200 \"ok\\n\"; }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), config).expect("write the configuration");
    let mut command = Command::new(nginx);
    command.arg("-c").arg(dir.join("nginx.conf")).arg("-p").arg(dir);
    let master = crate::util::ChildGuard::spawn(&mut command);
    let workers = || {
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", master.pid(), master.pid()))
            .map_or(0, |children| children.split_whitespace().count())
    };
    assert!(
        crate::util::wait_for_port(port, Duration::from_secs(10))
            && eventually(Duration::from_secs(10), || workers() == 2),
        "nginx serves with two workers: {:?}",
        std::fs::read_to_string(dir.join("error.log"))
    );
    Some((master, port))
}

#[test]
fn a_real_nginx_is_stopped_through_its_master_whoever_asks() {
    // Debian's nginx with `user www-data`. www-data stopping "its" port saw
    // only the workers, stopped them, and found the port held again by new
    // ones; root was once told to pass --force for workers the master's
    // own shutdown stops. Now the worker user is sent to the master before
    // any signal, and root stops the master with its workers.
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((master, port)) = real_nginx(dir.path()) else { return };
    let port = port.to_string();
    let as_www_data = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=www-data", "--regid=www-data", "--clear-groups", "--"]);
        command.arg(crate::util::binary()).args(args).current_dir("/");
        crate::util::scrub(&mut command);
        crate::util::run(&mut command)
    };
    let output = as_www_data(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 2, "{output:?}");
    let report = output.json();
    let workers = report["targets"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{report:#}");
    let sudo = ["/usr/bin/sudo", "/bin/sudo"].iter().any(|p| std::path::Path::new(p).exists());
    let stop = if sudo {
        format!("sudo kill {}", master.pid())
    } else {
        format!("su -c 'kill {}'", master.pid())
    };
    for worker in workers {
        assert_eq!(worker["user"], "www-data", "{report:#}");
        assert_eq!(worker["refusal"], "worker_of_master", "{report:#}");
        assert_eq!(worker["signals"], serde_json::json!([]), "{report:#}");
        assert!(process_alive(worker["pid"].as_u64().unwrap() as u32), "{report:#}");
    }
    let text = as_www_data(&["kill", &port, "--dry-run"]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(text.stdout.contains(&format!("stop it instead, as root: {stop} ")), "{}", text.stdout);
    assert!(text.stdout.contains(", root's process, which made the listening socket"), "{text:?}");
    assert!(!text.stdout.contains("pass --force"), "{}", text.stdout);

    // Root: the master, and the workers with it, without --force.
    let dry = porthole_run(&["kill", &port, "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(!dry.stdout.contains("--force to stop"), "{}", dry.stdout);
    assert_eq!(dry.stdout.matches("no --force needed").count(), 2, "{}", dry.stdout);
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["freed"], true, "{report:#}");
    for worker in report["targets"].as_array().unwrap().iter().filter(|t| t["pid"] != master.pid())
    {
        assert_eq!(worker["stopped_with"], master.pid(), "{report:#}");
    }
}

/// Listens on 127.0.0.1:argv[1], prints `PORT`, then waits in the kernel (state
/// D) for a vfork child that closed its copy of the socket and stopped
/// itself before exec.
const VFORK_WAITER: &str = r#"
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t length = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) return 1;
    getsockname(s, (struct sockaddr *)&a, &length);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    if (vfork() == 0) {
        close(s);
        raise(SIGSTOP);
        _exit(0);
    }
    return 0;
}
"#;

/// A listener in uninterruptible sleep: [`VFORK_WAITER`], built with the C
/// compiler there is, on a port of its own, once it is in state D. Its
/// port, and the pid of the stopped vfork child it waits for, which the
/// caller kills when done (the guard ends the waiter). `None`, recorded as
/// a skip, without a compiler.
pub(crate) fn vfork_waiter() -> Option<(crate::util::ChildGuard, String, u32)> {
    let Some(compiler) = ["clang", "cc"].into_iter().find(|c| crate::util::installed(c)) else {
        crate::util::skip("a C compiler builds the vfork waiter");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("waiter.c"), VFORK_WAITER).expect("write the source");
    let built = crate::util::run(
        Command::new(compiler)
            .arg("-o")
            .arg(dir.path().join("waiter"))
            .arg(dir.path().join("waiter.c")),
    );
    assert_eq!(built.code, 0, "{built:?}");
    let mut command = Command::new(dir.path().join("waiter"));
    command.arg(non_ephemeral_port().to_string());
    let mut waiter = crate::util::ChildGuard::spawn(command.stdout(std::process::Stdio::piped()));
    let mut out = std::io::BufReader::new(waiter.0.stdout.take().expect("piped"));
    let port = wait_for_line(&mut out);
    assert!(eventually(Duration::from_secs(5), || state_of(waiter.pid()) == Some('D')));
    let children = format!("/proc/{}/task/{}/children", waiter.pid(), waiter.pid());
    let child: u32 = std::fs::read_to_string(children).unwrap().trim().parse().unwrap();
    Some((waiter, port, child))
}

#[test]
fn a_server_in_uninterruptible_sleep_is_named_as_such() {
    // A listener waiting in the kernel (state D: hung NFS or FUSE I/O, a
    // vfork child that never execs) acts on no signal until the wait ends:
    // SIGTERM sat out the grace with nothing said about why.
    let Some((_waiter, port, child)) = vfork_waiter() else { return };
    let dry = porthole_run(&["kill", &port, "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("is in uninterruptible sleep (state D"), "{}", dry.stdout);
    // `porthole PORT` says it too, as it says a stopped holder.
    let who = porthole_run(&[&port]);
    assert!(who.stdout.contains(", in uninterruptible sleep (D))"), "{}", who.stdout);
    // The vfork wait is killable: SIGTERM, whose default action is fatal,
    // ends it, and the port is free.
    let output = porthole_run(&["kill", &port, "--yes", "--grace", "5s", "--json"]);
    let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["targets"][0]["outcome"], "exited", "{report:#}");
    assert_eq!(report["freed"], true, "{report:#}");
}

/// `python3 -c BECOME_NOBODY PROGRAM ARGS…` runs PROGRAM as uid and gid
/// 65534 without a look at the user database.
const BECOME_NOBODY: &str = "import os, sys\n\
    os.setgroups([]); os.setgid(65534); os.setuid(65534)\n\
    os.execv(sys.argv[1], sys.argv[1:])";

#[test]
fn the_run_as_root_never_names_a_deleted_binary() {
    // A porthole whose file was deleted after it started (a temporary
    // copy removed, an upgrade) read its path from /proc/self/exe as
    // "PATH (deleted)" and printed `su -c "'PATH (deleted)' kill …"`,
    // which runs nothing anywhere. A replaced file's path runs the new
    // build; a deleted one is named by the path it had.
    if !is_root() {
        crate::util::skip("a private /etc/passwd and another user need root");
        return;
    }
    let (_server, port, _out) = server("plain");
    let port = port.to_string();
    for mode in ["deleted", "replaced"] {
        // uid 65534 must reach the file: a checkout under a directory only
        // root may enter (/root) gets a copy in the temporary directory.
        let (_dir, link) = crate::util::binary_others_can_run();
        let change = || {
            std::fs::remove_file(&link).expect("delete the link");
            if mode == "replaced" {
                std::fs::copy("/bin/true", &link).expect("put another file there");
            }
        };
        // Not root, the root-owned listener is hidden and named with the
        // run as root; porthole reads /etc/passwd (user names) before it
        // builds that run.
        // Not setpriv, which looks the ids up in /etc/passwd; and the real
        // Python file, not a launcher script (pyenv's shim is a bash script,
        // and bash reads /etc/passwd for the home directory when HOME is not
        // set), without `site`, which does the same.
        let python = crate::util::python_binary();
        let output = crate::util::run_after_changing_the_binary(
            &link,
            "/etc/passwd",
            &[python.to_str().expect("a UTF-8 path"), "-S", "-c", BECOME_NOBODY],
            change,
            &["kill", &port, "--dry-run"],
        );
        assert_eq!(output.code, 2, "{mode}: {output:?}");
        let line = output.stdout.lines().find(|l| l.contains("as root: ")).unwrap_or_else(|| {
            panic!("{mode}: the run as root is named: {output:?}");
        });
        assert!(!line.contains("(deleted)"), "{mode}: {line}");
        assert!(line.contains(&format!("{} kill {port} --force", link.display())), "{line}");
    }
}

/// Listens on 127.0.0.1:argv[2] and on the Unix socket argv[1]; on SIGTERM it
/// passes the listener (SCM_RIGHTS) to the process connected there, then
/// exits. Prints `PORT`.
const HANDS_OFF: &str = r#"
import os, signal, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[2]))); s.listen()
u = socket.socket(socket.AF_UNIX); u.bind(sys.argv[1]); u.listen()
print(s.getsockname()[1], flush=True)
c, _ = u.accept()
def term(*_):
    socket.send_fds(c, [b"x"], [s.fileno()])
    os._exit(0)
signal.signal(signal.SIGTERM, term)
while True:
    time.sleep(1)
"#;

/// Connects to the Unix socket argv[1], prints `ready`, and keeps the
/// descriptor it is sent.
const TAKES_OVER: &str = r#"
import socket, sys, time
u = socket.socket(socket.AF_UNIX); u.connect(sys.argv[1])
print("ready", flush=True)
_, fds, _, _ = socket.recv_fds(u, 10, 4)
kept = socket.socket(fileno=fds[0])
time.sleep(60)
"#;

#[test]
fn a_socket_passed_to_an_unrelated_process_does_not_blame_its_parent() {
    // A listener handed over a Unix socket on SIGTERM to a process the
    // target never started (a seamless reload, a socket broker): the
    // report said "started by <the shell that started the receiver>, which
    // holds the very socket", as if the shell held it.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("handoff");
    let path = path.to_str().expect("utf-8");
    let (_target, mut out) = python(HANDS_OFF, &[path, &non_ephemeral_port().to_string()]);
    let port = wait_for_line(&mut out);
    let (receiver, mut ready) = python(TAKES_OVER, &[path]);
    assert_eq!(wait_for_line(&mut ready), "ready");
    let output = porthole_run(&["kill", &port, "--yes", "--settle", "1s"]);
    assert_eq!(output.code, 2, "the receiver holds the port: {output:?}");
    let line =
        output.stdout.lines().find(|l| l.contains("is still held by")).unwrap_or_else(|| {
            panic!("the holder is named: {output:?}");
        });
    assert!(line.contains(&format!("held by {} (python3)", receiver.pid())), "{line}");
    assert!(line.contains("passed over a Unix socket"), "{line}");
    assert!(!line.contains("started by"), "{line}");
    assert!(!line.contains("child of"), "{line}");
    assert!(!line.contains(&std::process::id().to_string()), "the test process: {line}");
    let output = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.json()["targets"][0]["pid"], receiver.pid(), "{output:?}");
}
