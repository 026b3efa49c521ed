//! `porthole top` in a private network namespace: the live view driven in a
//! real terminal (tmux: keys, sorting, narrow and tiny sizes, a terminal
//! that hangs up), and `--jsonl` frames checked against traffic the test
//! makes with processes it started (so pids and byte counts are known).

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use crate::util::{self, eventually, python_in, server_in, unique_port, wait_for_line, Netns};

/// A server that accepts connections and echoes nothing: it reads what a
/// client sends, counts it, and answers with a fixed number of bytes.
const SINK: &str = r#"
import socket, sys, threading
port, answer = int(sys.argv[1]), int(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(64)
print("ok", flush=True)
held = []
def serve(connection):
    data = connection.recv(65536)
    connection.sendall(b"x" * answer)
    held.append(connection)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;

/// A client that opens N connections, sends SIZE bytes on each, reads the
/// answer, prints "ok" and keeps them open.
const CLIENTS: &str = r#"
import socket, sys, time
port, count, size, answer = (int(a) for a in sys.argv[1:5])
held = []
for _ in range(count):
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"y" * size)
    got = 0
    while got < answer:
        got += len(connection.recv(65536))
    held.append(connection)
print("ok", flush=True)
time.sleep(3600)
"#;

fn jsonl_frames(netns: &Netns, args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["top", "--jsonl"];
    full.extend_from_slice(args);
    let output = netns.porthole(&full);
    assert_eq!(output.code, 0, "{output:?}");
    output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn listener_on(frame: &serde_json::Value, port: u16) -> Option<&serde_json::Value> {
    frame["listeners"]
        .as_array()?
        .iter()
        .find(|listener| listener["local_port"] == port && listener["protocol"] == "tcp")
}

#[test]
fn jsonl_counts_connections_bytes_and_owners() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (server, mut ready) = python_in(&netns, SINK, &[&port.to_string(), "3000"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (clients, mut ready) =
        python_in(&netns, CLIENTS, &[&port.to_string(), "4", "1000", "3000"]);
    assert_eq!(wait_for_line(&mut ready), "ok");

    let frames = jsonl_frames(&netns, &["--count", "2", "--interval", "300ms"]);
    assert_eq!(frames.len(), 2);
    let last = &frames[1];
    assert_eq!(last["schema_version"], 2);
    let listener = listener_on(last, port).expect("the server's listener is a row");
    assert_eq!(listener["open_connections"], 4, "{listener:#}");
    let owners: Vec<u64> = listener["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(owners, vec![u64::from(server.pid())]);
    let connections = listener["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 4);
    for connection in connections {
        assert_eq!(
            connection["bytes_client_to_server"], 1000,
            "the server received 1000 bytes: {connection}"
        );
        assert_eq!(connection["bytes_server_to_client"], 3000, "and sent 3000: {connection}");
        assert_eq!(connection["server_port"], port);
        // `--jsonl`, `--json` and `--once` listed `client_pids: []` (`-`)
        // for every connection, a local client's too: only the live view's
        // expanded row looked for them.
        assert_eq!(
            connection["client_pids"],
            serde_json::json!([clients.pid()]),
            "the local client is named: {connection}"
        );
    }
    // The client ends are not listeners' connections of their own ports.
    let total: u64 = last["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["open_connections"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 4);
    drop(clients);
    drop(server);
}

#[test]
fn an_ipv4_client_of_a_v4_mapped_listener_is_named() {
    // The listener is an AF_INET6 socket on ::ffff:127.0.0.1 and the
    // client an AF_INET socket on 127.0.0.1: its process was shown as `-`.
    let Some(netns) = Netns::create() else { return };
    let (server, mut ready) = python_in(
        &netns,
        "import socket,time\n\
         s=socket.socket(socket.AF_INET6); s.bind(('::ffff:127.0.0.1',0)); s.listen()\n\
         print(s.getsockname()[1]); a=[]\n\
         while True: a.append(s.accept())",
        &[],
    );
    let port: u16 = wait_for_line(&mut ready).parse().expect("a port");
    let (client, mut ready) = python_in(
        &netns,
        "import socket,sys,time\n\
         c=socket.create_connection(('127.0.0.1',int(sys.argv[1]))); print('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let frames = jsonl_frames(&netns, &["--count", "1"]);
    let listener = listener_on(&frames[0], port).expect("the listener is a row");
    let connections = listener["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{listener:#}");
    assert_eq!(
        connections[0]["client_pids"],
        serde_json::json!([client.pid()]),
        "the local IPv4 client is named: {listener:#}"
    );
    drop(client);
    drop(server);
}

#[test]
fn jsonl_rates_follow_traffic_between_frames() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // An echo server and a client that streams 64 KiB every 100 ms.
    let echo = r#"
import socket, sys, threading
server = socket.socket(); server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen(8)
print("ok", flush=True)
def serve(connection):
    while True:
        data = connection.recv(65536)
        if not data: return
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;
    let streamer = r#"
import socket, sys, time
connection = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("ok", flush=True)
for _ in range(600):
    connection.sendall(b"z" * 65536)
    time.sleep(0.1)
"#;
    let (_server, mut ready) = python_in(&netns, echo, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (_client, mut ready) = python_in(&netns, streamer, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let frames = jsonl_frames(&netns, &["--count", "3", "--interval", "500ms"]);
    let rate = listener_on(&frames[2], port).unwrap()["bytes_client_to_server_per_second"]
        .as_f64()
        .unwrap();
    // 640 KiB/s nominal; scheduling on a loaded machine slows the sender,
    // never speeds it up past the nominal rate by much.
    assert!(rate > 100_000.0 && rate < 1_000_000.0, "bytes in per second: {rate}");
}

/// A tmux session running a shell inside the namespace, killed on drop.
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(netns: &Netns) -> Option<Self> {
        if !util::installed("tmux") {
            util::skip("tmux is not installed");
            return None;
        }
        let session = format!("porthole-top-{}-{}", std::process::id(), netns.name);
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "140", "-y", "40"])
            .args([
                "ip",
                "netns",
                "exec",
                &netns.name,
                "env",
                "-i",
                "PATH=/usr/bin:/bin",
                "TERM=xterm-256color",
            ])
            .args(["NO_COLOR=1", "bash", "--norc", "--noprofile"])
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session");
        Some(Tmux { session })
    }

    fn send(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Resizes the terminal to `columns` × `rows`, as a user dragging the
    /// window would (the view gets SIGWINCH).
    fn resize(&self, columns: u16, rows: u16) {
        let status = Command::new("tmux")
            .args(["resize-window", "-t", &self.session])
            .args(["-x", &columns.to_string(), "-y", &rows.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "tmux resize-window");
    }

    /// The pid of the pane's own process (the shell, or what it `exec`ed).
    fn pane_pid(&self) -> u32 {
        let output = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("a pane pid")
    }

    /// The pid of the process the pane's shell is running.
    fn foreground_child(&self) -> Option<u32> {
        let output = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .ok()?;
        let shell: u32 = String::from_utf8_lossy(&output.stdout).trim().parse().ok()?;
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let parent: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (parent == shell).then_some(pid)
        })
    }

    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen satisfies `condition`; panics with the screen.
    fn wait_for(&self, what: &str, condition: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        // A liveness bound, not a speed figure: the suite runs beside
        // monitor load tests on two cores, where a frame can lag seconds.
        let seen = eventually(Duration::from_secs(30), || {
            last = self.screen();
            condition(&last)
        });
        assert!(seen, "waiting for {what}; the screen shows:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}

fn row_of<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|line| line.contains(needle))
}

#[test]
fn live_view_shows_listeners_connections_and_restores_the_terminal() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 300ms", binary.display()), "Enter"]);
    tmux.wait_for("the view", |screen| screen.contains("PROTO") && screen.contains("q quit"));

    // A server started while top runs appears with its process.
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "silent");
    let address = format!("127.0.0.1:{port}");
    let pid = server.pid().to_string();
    let screen = tmux.wait_for("the new listener", |screen| {
        row_of(screen, &address).is_some_and(|row| row.contains("python3") && row.contains(&pid))
    });
    assert!(
        screen.contains(&format!("python3 (pid {pid}) started listening on tcp {address}")),
        "an event line names it:\n{screen}"
    );

    // Two clients connect and stay: the connection count moves.
    let client = r#"
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(2)]
print("ok", flush=True)
time.sleep(3600)
"#;
    let (clients, mut ready) = python_in(&netns, client, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    tmux.wait_for("two connections", |screen| {
        row_of(screen, &address).is_some_and(|row| row.split_whitespace().nth(3) == Some("2"))
    });

    // Selecting the row and pressing Enter lists the connections with the
    // client process.
    tmux.send(&["/"]);
    tmux.send(&["-l", &port.to_string()]);
    tmux.send(&["Enter"]);
    tmux.send(&["Enter"]);
    let clients_pid = clients.pid().to_string();
    tmux.wait_for("the connection list", |screen| {
        screen.contains("connections of") && screen.contains(&format!("python3 ({clients_pid})"))
    });
    tmux.send(&["Escape"]);
    tmux.send(&["Escape"]);

    // The server is killed: its row goes away, with an event.
    drop(clients);
    drop(server);
    tmux.wait_for("the departure", |screen| {
        screen.contains(&format!("python3 (pid {pid}) on tcp {address} went away"))
    });
    tmux.wait_for("the row to be dropped", |screen| {
        row_of(screen, &format!("tcp   {address}")).is_none()
            && !screen.lines().any(|line| line.starts_with("tcp") && line.contains(&address))
    });

    // q leaves the view and gives the shell back as it was.
    tmux.send(&["q"]);
    tmux.send(&["echo after-top-$?", "Enter"]);
    let screen = tmux.wait_for("the shell again", |screen| screen.contains("after-top-0"));
    assert!(screen.contains("shell-ready"), "the main screen is restored:\n{screen}");
    assert!(!screen.contains("q quit"), "the view is gone:\n{screen}");
}

/// SIGTERM, SIGQUIT (whose default, a core dump, left the terminal raw on
/// the alternate screen) and SIGUSR1 (whose default ends the process just
/// as abruptly) end the view with the terminal restored.
#[test]
fn sigterm_restores_the_terminal() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    let binary = util::binary();
    for name in ["TERM", "QUIT", "USR1"] {
        tmux.send(&[&format!("clear; echo shell-ready-{name}"), "Enter"]);
        tmux.wait_for("the shell", |screen| {
            screen.lines().any(|line| line == format!("shell-ready-{name}"))
        });
        // The marker is built by the shell so the command line itself never
        // matches it.
        tmux.send(&[&format!("{} top; echo top$((0))-{name}-$?", binary.display()), "Enter"]);
        tmux.wait_for("the view", |screen| screen.contains("q quit"));
        let pid = tmux.foreground_child().expect("porthole top runs under the shell");
        signal(&format!("-{name}"), pid);
        let marker = format!("top0-{name}-");
        let screen = tmux.wait_for("top to end", |screen| screen.contains(&marker));
        assert!(screen.contains(&format!("{marker}0")), "{name}: {screen}");
        assert!(screen.contains("shell-ready") && !screen.contains("q quit"), "{screen}");
        // The terminal is back in cooked mode: a typed line echoes and runs.
        tmux.send(&[&format!("echo cooked-{name}"), "Enter"]);
        tmux.wait_for("echo to run", |screen| {
            screen.lines().any(|line| line.trim() == format!("cooked-{name}"))
        });
    }
}

// `timeout 60 porthole top` from a script: `timeout` starts its command in
// a process group of its own, in the background of the terminal. Switching
// the terminal to raw mode stopped porthole there (SIGTTOU), and the stopped
// call was restarted at each SIGCONT, so not even timeout's SIGTERM ended
// it. The live view now says at once that it needs the foreground.
#[test]
fn the_live_view_started_in_the_background_says_so_instead_of_stopping() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let binary = util::binary();
    // A non-interactive shell, as a script runs it; KILL bounds a porthole
    // that stopped. The marker is built by the shell.
    tmux.send(&[
        &format!(
            "bash -c 'timeout -s KILL 20 {} top --interval 1h; echo top$((0))-ended-$?'",
            binary.display()
        ),
        "Enter",
    ]);
    let screen = tmux.wait_for("top to end", |screen| {
        screen.lines().any(|line| line.starts_with("top0-ended-"))
    });
    assert!(screen.lines().any(|line| line == "top0-ended-2"), "{screen}");
    assert!(screen.contains("porthole: the live view needs the terminal's foreground"), "{screen}");
    assert!(!screen.contains("q quit"), "{screen}");
}

#[test]
fn scripted_output_needs_no_terminal_and_bad_input_is_an_error() {
    let once = util::porthole_run(&["top", "--once", "--interval", "200ms"]);
    assert_eq!(once.code, 0, "{once:?}");
    assert!(once.stdout.starts_with("PROTO"), "{once:?}");

    // Every key the live view acts on is in --help, not only in the README.
    let help = util::porthole_run(&["top", "--help"]);
    for key in ["Ctrl-C", "Ctrl-Z", "j k", "PgUp/PgDn", "Home", "End", "Tab", "Esc"] {
        assert!(help.stdout.contains(key), "{key} is not in --help:\n{}", help.stdout);
    }

    let live = util::porthole_run(&["top"]);
    assert_eq!(live.code, 2, "{live:?}");
    assert!(live.stderr.contains("needs a terminal"), "{live:?}");

    for bad in [
        &["top", "--interval", "fast"][..],
        &["top", "--interval", "10ms"],
        &["top", "--count", "3"],
    ] {
        let output = util::porthole_run(bad);
        assert_eq!(output.code, 2, "{bad:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "one line: {output:?}");
        assert!(output.stderr.starts_with("porthole: "), "{output:?}");
    }
}

#[test]
fn closed_stdout_ends_jsonl_quietly() {
    let mut child = util::porthole()
        .args(["top", "--jsonl", "--interval", "200ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn connections_shorter_than_a_refresh_are_counted() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    // 20 clients that connect, ask, read and exit, spread over ~1 s: each
    // lives far less than the 2 s refresh.
    let burst = r#"
import socket, sys, time
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    time.sleep(0.05)
print("ok", flush=True)
"#;
    let mut top = netns.command(util::binary().to_str().unwrap());
    util::scrub(&mut top);
    let top = top
        .args(["top", "--jsonl", "--interval", "2s", "--count", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let (_clients, mut ready) = python_in(&netns, burst, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let output = top.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let frames: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(frames.len(), 4, "{stdout}");
    // Every frame after the first counts the connections of its interval;
    // together they must have seen all 20.
    let mut counted = 0;
    let mut bytes_out = 0.0;
    for frame in &frames {
        assert_eq!(frame["short_lived_counted"], true, "{stdout}");
        let listener = listener_on(frame, port).expect("the server's row");
        let seconds = frame["interval_seconds"].as_f64().unwrap();
        counted +=
            (listener["new_connections_per_second"].as_f64().unwrap() * seconds).round() as u64;
        bytes_out += listener["bytes_server_to_client_per_second"].as_f64().unwrap() * seconds;
    }
    assert_eq!(counted, 20, "short connections counted:\n{stdout}");
    assert!(bytes_out > 0.0, "{stdout}");
}

/// As an ordinary user, root's listener is shown with owner `?`, and the
/// note names the reason (not root) on every frame, including those after
/// the first, whose refresh finds no new listener and scans nothing.
#[test]
fn without_root_hidden_owners_are_explained() {
    if !util::is_root() {
        util::skip("runs top as nobody next to a listener of root's");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let mut command = netns.command("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(util::binary())
        .args(["top", "--once", "--interval", "1s"]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 0, "{output:?}");
    let row = row_of(&output.stdout, &format!("127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("no row for the server:\n{}", output.stdout));
    assert!(row.trim_end().ends_with('?'), "owner hidden: {row}");
    assert!(
        output.stderr.contains("listener(s) show owner ?: not running as root"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("no process porthole can see"), "{}", output.stderr);
}

#[test]
fn netns_watches_a_named_namespace_not_the_callers() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (server, mut ready) = python_in(&netns, SINK, &[&port.to_string(), "3000"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (clients, mut ready) =
        python_in(&netns, CLIENTS, &[&port.to_string(), "2", "1000", "3000"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let ours = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener here");
    let our_port = ours.local_addr().unwrap().port();

    for netns_argument in [netns.name.clone(), format!("/run/netns/{}", netns.name)] {
        let output = util::porthole_run(&[
            "top",
            "--jsonl",
            "--count",
            "2",
            "--interval",
            "300ms",
            "--netns",
            &netns_argument,
        ]);
        assert_eq!(output.code, 0, "{output:?}");
        let last: serde_json::Value =
            serde_json::from_str(output.stdout.lines().last().expect("two frames")).unwrap();
        let listener = listener_on(&last, port).expect("the namespace's listener is a row");
        assert_eq!(listener["open_connections"], 2, "{listener:#}");
        assert!(listener_on(&last, our_port).is_none(), "the caller's listener is not: {last:#}");
    }
    let output = util::porthole_run(&["top", "--json", "--interval", "200ms"]);
    assert_eq!(output.code, 0, "{output:?}");
    let here = output.json();
    assert!(listener_on(&here, our_port).is_some(), "{here:#}");
    assert!(listener_on(&here, port).is_none(), "{here:#}");
    drop(clients);
    drop(server);
}

#[test]
fn netns_values_that_are_not_one_namespace_are_usage_errors() {
    for bad in ["nosuch", "/etc/passwd", "/proc/self/ns/mnt", "all", ""] {
        let output = util::porthole_run(&["top", "--once", "--netns", bad]);
        util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

/// A server that reads every connection to its end and answers nothing
/// sends no byte: the FIN of each orderly close takes a sequence number the
/// kernel counts as acknowledged, and must not show as one byte out.
#[test]
fn short_connections_that_answer_nothing_send_no_bytes() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let silent = r#"
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(64)
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    while connection.recv(65536):
        pass
    connection.close()
"#;
    let (_server, mut ready) = python_in(&netns, silent, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let burst = r#"
import socket, sys
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"y" * 1000)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
print("ok", flush=True)
"#;
    let mut top = netns.command(util::binary().to_str().unwrap());
    util::scrub(&mut top);
    let top = top
        .args(["top", "--jsonl", "--interval", "1s", "--count", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // After the first frame, so every close falls between two frames.
    std::thread::sleep(Duration::from_millis(1300));
    let (_clients, mut ready) = python_in(&netns, burst, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let output = top.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let frames: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(frames.len(), 3, "{stdout}");
    let (mut counted, mut bytes_in, mut bytes_out) = (0, 0.0, 0.0);
    for frame in &frames {
        assert_eq!(frame["short_lived_counted"], true, "{stdout}");
        let listener = listener_on(frame, port).expect("the server's row");
        let seconds = frame["interval_seconds"].as_f64().unwrap();
        counted +=
            (listener["new_connections_per_second"].as_f64().unwrap() * seconds).round() as u64;
        bytes_in += listener["bytes_client_to_server_per_second"].as_f64().unwrap() * seconds;
        bytes_out += listener["bytes_server_to_client_per_second"].as_f64().unwrap() * seconds;
    }
    assert_eq!(counted, 20, "short connections counted:\n{stdout}");
    assert!(bytes_in >= 20_000.0 - 0.5, "{stdout}");
    assert!(bytes_out.abs() < 0.5, "the server sent nothing:\n{stdout}");
}

/// A server that reads each connection to its end, answers `ANSWER` bytes
/// and then closes it (`close`) or keeps it open in CLOSE-WAIT (`keep`).
const READ_ALL_THEN_ANSWER: &str = r#"
import socket, sys, threading
port, answer, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(64)
print("ok", flush=True)
held = []
def serve(connection):
    while connection.recv(65536):
        pass
    connection.sendall(b"x" * answer)
    if mode == "close":
        connection.close()
    else:
        held.append(connection)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;

/// Opens COUNT connections, sends SIZE bytes and a FIN on each, reads the
/// answer to its end (or ANSWER bytes, when the server keeps the
/// connection), prints "ok" and keeps or closes them.
const SEND_THEN_SHUTDOWN: &str = r#"
import socket, sys, time
port, count, size, answer = (int(a) for a in sys.argv[1:5])
mode = sys.argv[5]
held = []
for _ in range(count):
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"y" * size)
    connection.shutdown(socket.SHUT_WR)
    got = 0
    while got < answer:
        got += len(connection.recv(65536))
    if mode == "close":
        while connection.recv(65536):
            pass
        connection.close()
    else:
        held.append(connection)
print("ok", flush=True)
time.sleep(3600)
"#;

/// The peer's FIN takes one sequence number and `tcp_info` counts it in
/// `tcpi_bytes_received`: it is not a byte the client sent, whether the
/// connection is still open (the server end in CLOSE-WAIT) or closed
/// between two refreshes.
#[test]
fn a_received_fin_is_not_a_byte_in() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) =
        python_in(&netns, READ_ALL_THEN_ANSWER, &[&port.to_string(), "300", "keep"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (_clients, mut ready) =
        python_in(&netns, SEND_THEN_SHUTDOWN, &[&port.to_string(), "3", "1000", "300", "keep"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let frames = jsonl_frames(&netns, &["--count", "1"]);
    let listener = listener_on(&frames[0], port).expect("the server's row");
    let connections = listener["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 3, "{listener:#}");
    for connection in connections {
        assert_eq!(connection["state"], "CLOSE-WAIT", "{connection}");
        assert_eq!(
            connection["bytes_client_to_server"], 1000,
            "the client sent 1000 bytes: {connection}"
        );
        assert_eq!(connection["bytes_server_to_client"], 300, "{connection}");
    }

    // Connections that open and close between two refreshes.
    let port = unique_port();
    let (_server, mut ready) =
        python_in(&netns, READ_ALL_THEN_ANSWER, &[&port.to_string(), "300", "close"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let mut top = netns.command(util::binary().to_str().unwrap());
    util::scrub(&mut top);
    let top = top
        .args(["top", "--jsonl", "--interval", "1s", "--count", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // After the first frame, so every close falls between two frames.
    std::thread::sleep(Duration::from_millis(1300));
    let (_clients, mut ready) =
        python_in(&netns, SEND_THEN_SHUTDOWN, &[&port.to_string(), "20", "1000", "300", "close"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let output = top.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (mut bytes_in, mut bytes_out) = (0.0, 0.0);
    for line in stdout.lines() {
        let frame: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(frame["short_lived_counted"], true, "{stdout}");
        let listener = listener_on(&frame, port).expect("the server's row");
        let seconds = frame["interval_seconds"].as_f64().unwrap();
        bytes_in += listener["bytes_client_to_server_per_second"].as_f64().unwrap() * seconds;
        bytes_out += listener["bytes_server_to_client_per_second"].as_f64().unwrap() * seconds;
    }
    assert!((bytes_in - 20_000.0).abs() < 0.5, "20 x 1000 bytes in, no FIN: {bytes_in}\n{stdout}");
    assert!((bytes_out - 6_000.0).abs() < 0.5, "20 x 300 bytes out: {bytes_out}\n{stdout}");
}

/// A listener that opens, serves three connections of 100 bytes each and
/// closes, all between two refreshes, never has a row: the frame names it
/// from its connections' closes. A port probe (bind, close) is not named.
#[test]
fn a_listener_that_lives_less_than_a_refresh_is_named() {
    let Some(netns) = Netns::create() else { return };
    let (port, probed) = (unique_port(), unique_port());
    let fleeting = r#"
import os, socket, sys, time
port, probed, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# Python starts slowly on a loaded machine: start first, act on the signal.
print("started", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
probe = socket.socket()
probe.bind(("127.0.0.1", probed))
probe.close()
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(8)
for _ in range(3):
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"z" * 100)
    client.shutdown(socket.SHUT_WR)
    connection, _ = server.accept()
    while connection.recv(4096):
        pass
    connection.close()
    client.recv(1)
    client.close()
server.close()
print("ok", flush=True)
"#;
    let signals = tempfile::tempdir().unwrap();
    let go = signals.path().join("go");
    let (_listener, mut ready) = python_in(
        &netns,
        fleeting,
        &[&port.to_string(), &probed.to_string(), go.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "started");
    let mut top = netns.command(util::binary().to_str().unwrap());
    util::scrub(&mut top);
    let mut top = top
        .args(["top", "--jsonl", "--interval", "2s", "--count", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The listener lives between the first frame and the second: the
    // first frame on stdout says a refresh has just been taken.
    let mut frames = std::io::BufReader::new(top.stdout.take().unwrap());
    let first = wait_for_line(&mut frames);
    std::fs::write(&go, b"").unwrap();
    assert_eq!(wait_for_line(&mut ready), "ok");
    let mut rest = String::new();
    frames.read_to_string(&mut rest).unwrap();
    let output = top.wait_with_output().unwrap();
    let stdout = format!("{first}\n{rest}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let named: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .flat_map(|frame| frame["fleeting_listeners"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        named,
        [serde_json::json!({
            "local_address": "127.0.0.1",
            "local_port": port,
            "connections": 3,
            "bytes_client_to_server": 300,
            "bytes_server_to_client": 0,
        })],
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!stdout.contains(&format!("\"local_port\":{probed}")), "{stdout}");

    // --once says it on stderr, as it says what else it could not see.
    let port = unique_port();
    let go = signals.path().join("go-once");
    let (_listener, mut ready) = python_in(
        &netns,
        fleeting,
        &[&port.to_string(), &probed.to_string(), go.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "started");
    let mut once = netns.command(util::binary().to_str().unwrap());
    util::scrub(&mut once);
    let once = once
        .args(["top", "--once", "--interval", "4s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `--once` prints nothing before its second refresh; its first is taken
    // at start, well inside this second on a loaded machine.
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::write(&go, b"").unwrap();
    assert_eq!(wait_for_line(&mut ready), "ok");
    let output = once.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        format!(
            "porthole: a listener on 127.0.0.1:{port} came and went between two refreshes: it served 3 connection(s), 300 B in, 0 B out\n"
        )
    );
}

/// With nothing listening, every output still works: the table is its
/// header, a frame has no listeners, and nothing is reported as missing.
#[test]
fn no_listeners_is_an_empty_frame_not_an_error() {
    let Some(netns) = Netns::create() else { return };
    let once = netns.porthole(&["top", "--once", "--interval", "200ms"]);
    assert_eq!(once.code, 0, "{once:?}");
    assert_eq!(once.stdout.lines().count(), 1, "the header only: {once:?}");
    assert!(once.stdout.starts_with("PROTO"), "{once:?}");
    assert_eq!(once.stderr, "", "{once:?}");
    let frames = jsonl_frames(&netns, &["--count", "2", "--interval", "200ms"]);
    assert_eq!(frames.len(), 2);
    for frame in &frames {
        assert_eq!(frame["listeners"], serde_json::json!([]), "{frame:#}");
        assert_eq!(frame["fleeting_listeners"], serde_json::json!([]), "{frame:#}");
        assert_eq!(frame["short_lived_counted"], true, "{frame:#}");
    }
}

/// The listener rows on `screen`, top to bottom.
fn listener_rows(screen: &str) -> Vec<&str> {
    screen.lines().filter(|line| line.starts_with("tcp ")).collect()
}

// Cells wider than their column were clipped at the edge with no mark: in
// an 80-column terminal `127.0.0.1:45123` read `127.0.0.1:4512`, another
// port, and `python3 (81234)` lost digits of its pid. A cut cell now keeps
// the port and the pid and shows `…`. Terminals far too small for the
// table draw what fits, and the view still redraws and quits cleanly.
#[test]
fn a_narrow_terminal_keeps_ports_and_pids_whole_and_a_tiny_one_breaks_nothing() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.resize(80, 20);
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    // Ports from unique_port() have five digits: `127.0.0.1:PORT` is 15
    // columns, one more than LOCAL gets at 80 columns.
    let port = unique_port();
    assert!(port >= 10_000, "a five-digit port: {port}");
    let server = server_in(&netns, "127.0.0.1", port, "silent");
    let pid = server.pid();
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 300ms; echo after-top-$?", binary.display()), "Enter"]);
    let row = |screen: &str| {
        listener_rows(screen).into_iter().next().map(str::to_string).unwrap_or_default()
    };
    let screen = tmux.wait_for("the listener's row", |screen| !row(screen).is_empty());
    let shown = row(&screen);
    assert!(
        shown.contains(&format!("127.0.0.1:{port} ")) || shown.contains(&format!("…:{port} ")),
        "the port is whole: {shown:?}\n{screen}"
    );
    assert!(shown.contains(&format!("{pid})")), "the pid is whole: {shown:?}\n{screen}");
    assert!(shown.chars().count() <= 80, "{shown:?}");

    // Far too small for the table: what fits, no panic, no leftovers.
    tmux.resize(20, 5);
    tmux.wait_for("the narrow frame", |screen| {
        screen.contains("porthole top") && screen.lines().all(|line| line.chars().count() <= 20)
    });
    tmux.resize(2, 1);
    tmux.resize(20, 2);
    tmux.resize(120, 30);
    let screen = tmux.wait_for("the full frame again", |screen| {
        row(screen).contains(&format!("127.0.0.1:{port}")) && screen.contains("q quit")
    });
    assert!(!screen.contains("panicked"), "{screen}");
    tmux.send(&["q"]);
    // The typed command line holds "after-top-" too: wait for the line
    // the shell prints once the view has ended.
    let screen = tmux.wait_for("the shell again", |screen| {
        screen.lines().any(|line| line.starts_with("after-top-"))
    });
    assert!(screen.lines().any(|line| line == "after-top-0"), "{screen}");
}

/// Sends `signal` to `pid`.
fn signal(name: &str, pid: u32) {
    let status = Command::new("kill").args([name, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {name} {pid}");
}

// Keys were read through crossterm's event reader, whose poll is
// edge-triggered and returns at the first event: a key typed in the instant
// of a resize could be left unread until the next key, and so could what
// followed the first 1,024 bytes of a paste. The view reads the terminal
// itself now, with a level-triggered poll. Here everything arrives in one
// instant: the view is stopped while the window is resized and the keys and
// a 2,000-byte paste are typed, then continued. With a refresh interval of
// an hour, only the keys and the resize can change the screen.
#[test]
fn keys_a_paste_and_a_resize_arriving_together_are_all_handled() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let address = format!("127.0.0.1:{port} ");
    let binary = util::binary();
    // exec: the pane's process is the view, which can then be stopped
    // without a shell taking the terminal back.
    tmux.send(&[&format!("exec {} top --interval 1h", binary.display()), "Enter"]);
    tmux.wait_for("the listener", |screen| {
        row_of(screen, &address).is_some() && screen.contains("q quit")
    });
    let pid = tmux.pane_pid();

    signal("-STOP", pid);
    tmux.resize(90, 30);
    tmux.send(&["c", "/"]);
    tmux.send(&["-l", &"x".repeat(2000)]);
    tmux.send(&["Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    signal("-CONT", pid);
    let screen = tmux.wait_for("the sort, the whole filter and its end at 90 columns", |screen| {
        screen.contains("CONNS▼")
            && screen.contains("0 shown, filter: xxx")
            && screen.contains("q quit")
    });
    assert!(screen.lines().all(|line| line.chars().count() <= 90), "{screen}");

    signal("-STOP", pid);
    tmux.resize(130, 35);
    // Esc clears the filter; read together with the next key it was taken
    // for Alt held with that key, and the filter stayed.
    tmux.send(&["Escape", "c"]);
    std::thread::sleep(Duration::from_millis(300));
    signal("-CONT", pid);
    let screen =
        tmux.wait_for("the filter cleared, the order reversed, at 130 columns", |screen| {
            screen.contains("CONNS▲")
                && row_of(screen, &address).is_some()
                && screen.lines().any(|line| line.chars().count() > 90)
        });
    assert!(screen.contains("q quit"), "{screen}");
    tmux.send(&["q"]);
    assert!(eventually(Duration::from_secs(30), || !util::process_alive(pid)), "q ended the view");
}

// What is typed right after `q` belongs to the shell that gets the terminal
// back. Keys were read on a thread of their own that took every byte the
// terminal had, so a command typed on the heels of `q` was swallowed about
// half the time. The view now reads one byte at a time, and nothing after
// the key that quits.
#[test]
fn what_is_typed_after_q_reaches_the_shell() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let binary = util::binary();
    for round in 0..5 {
        tmux.send(&[&format!("clear; {} top --interval 300ms", binary.display()), "Enter"]);
        tmux.wait_for("the view", |screen| screen.contains("q quit"));
        // Past the first refreshes: `q` read during one was handled after it,
        // by when the reader had taken the command typed next.
        std::thread::sleep(Duration::from_millis(500));
        tmux.send(&["q"]);
        // Built by the shell, so only the command's output matches.
        tmux.send(&[&format!("echo typed-{round}-$((6*7))"), "Enter"]);
        let line = format!("typed-{round}-42");
        tmux.wait_for("the command typed after q", |screen| {
            screen.lines().any(|shown| shown == line)
        });
    }
}

// Sorting by a column orders the rows by it, the same key reverses, and the
// header marks the column and the direction: CONNS was one column too
// narrow for its arrow, which was clipped, so the sorted column went
// unmarked.
#[test]
fn sort_keys_order_the_rows_and_the_same_key_reverses() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let (busy, idle) = (unique_port(), unique_port());
    let _busy = server_in(&netns, "127.0.0.1", busy, "silent");
    let _idle = server_in(&netns, "127.0.0.1", idle, "silent");
    let client = r#"
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(2)]
print("ok", flush=True)
time.sleep(3600)
"#;
    let (_clients, mut ready) = python_in(&netns, client, &[&busy.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 300ms", binary.display()), "Enter"]);
    let (busy, idle) = (format!("127.0.0.1:{busy} "), format!("127.0.0.1:{idle} "));
    // Where the idle and the busy row are, when both are on screen.
    let order = |screen: &str| {
        let rows = listener_rows(screen);
        let position = |address: &str| rows.iter().position(|row| row.contains(address));
        Some((position(&idle)?, position(&busy)?))
    };
    tmux.wait_for("both rows, two connections on one", |screen| {
        row_of(screen, &busy).is_some_and(|row| row.split_whitespace().nth(3) == Some("2"))
            && order(screen).is_some()
    });
    // Counts read best largest first; the same key again reverses.
    tmux.send(&["c"]);
    tmux.wait_for("most connections first", |screen| {
        screen.contains("CONNS▼") && order(screen).is_some_and(|(idle, busy)| busy < idle)
    });
    tmux.send(&["c"]);
    tmux.wait_for("fewest connections first", |screen| {
        screen.contains("CONNS▲") && order(screen).is_some_and(|(idle, busy)| idle < busy)
    });
    tmux.send(&["p"]);
    tmux.wait_for("by port again", |screen| screen.contains("LOCAL▲"));
    tmux.send(&["q"]);
}

// A terminal that goes away (its window closed, its SSH connection dropped,
// its tmux session killed) hangs up: reads return 0 from then on, and the
// key reader retried them forever, so `top` kept a core busy long after
// its window was gone, deaf to the SIGHUP that came with it.
#[test]
fn a_terminal_that_hangs_up_ends_the_view() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 300ms", binary.display()), "Enter"]);
    tmux.wait_for("the view", |screen| screen.contains("q quit"));
    let pid = tmux.foreground_child().expect("porthole top runs under the shell");
    // Killing the session closes the terminal's master side.
    drop(tmux);
    let ended = eventually(Duration::from_secs(30), || !util::process_alive(pid));
    if !ended {
        // Not left behind spinning when the assertion fails.
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    assert!(ended, "porthole top (pid {pid}) still runs after its terminal hung up");
}

/// The title of the open connection list: `connections of ADDRESS (N)`.
fn connection_list_title(screen: &str) -> Option<&str> {
    screen.lines().find_map(|line| line.strip_prefix("connections of ")?.split(' ').next())
}

// The selection was a row number: a listener that appeared above the
// selected one, or a sort by a column whose values changed, put another
// listener under it, and the open connection list went on with that
// listener's connections under the same title it had before. It now stays
// on the listener it was put on, and closes once that listener is gone.
#[test]
fn the_selection_stays_on_its_listener_while_rows_come_go_and_sort() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    // The namespace's own loopback: fixed ports, so the order is known.
    let selected = server_in(&netns, "127.0.0.1", 3000, "silent");
    let _other = server_in(&netns, "127.0.0.1", 4000, "silent");
    let client = r#"
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", 3000)) for _ in range(2)]
print("ok", flush=True)
time.sleep(3600)
"#;
    let (clients, mut ready) = python_in(&netns, client, &[]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 300ms", binary.display()), "Enter"]);
    tmux.wait_for("both listeners", |screen| listener_rows(screen).len() == 2);
    // The first row, by port: 3000, with its two connections listed.
    tmux.send(&["Enter"]);
    tmux.wait_for("the connection list of 3000", |screen| {
        connection_list_title(screen) == Some("127.0.0.1:3000")
            && screen.contains(&format!("python3 ({})", clients.pid()))
    });

    // A listener appears above it.
    let _above = server_in(&netns, "127.0.0.1", 2000, "silent");
    let screen = tmux.wait_for("the new first row", |screen| {
        listener_rows(screen).first().is_some_and(|row| row.contains("127.0.0.1:2000 "))
    });
    assert_eq!(connection_list_title(&screen), Some("127.0.0.1:3000"), "{screen}");

    // Most connections first, then fewest: 3000 moves to the top, then
    // below the idle ones.
    for (key, place) in [("c", 0), ("c", 2)] {
        tmux.send(&[key]);
        let screen = tmux.wait_for("the new order", |screen| {
            listener_rows(screen).get(place).is_some_and(|row| row.contains("127.0.0.1:3000 "))
        });
        assert_eq!(connection_list_title(&screen), Some("127.0.0.1:3000"), "{screen}");
    }

    // Once its row is gone for good, its list closes rather than show
    // another listener's connections.
    drop(clients);
    drop(selected);
    let screen = tmux.wait_for("the row to be dropped", |screen| {
        listener_rows(screen).len() == 2
            && !screen.lines().any(|line| line.starts_with("tcp") && line.contains(":3000 "))
    });
    assert_eq!(connection_list_title(&screen), None, "{screen}");
    tmux.send(&["q"]);
}

// The open connection list shows ten rows; its title gave the total
// (`(30)`) but the rest could not be reached. Tab moves the cursor keys
// into it, the title says which rows are shown, and Page Down, End and
// Home scroll it.
#[test]
fn the_connection_list_scrolls_to_every_connection() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let client = r#"
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(30)]
print(" ".join(str(c.getsockname()[1]) for c in held), flush=True)
time.sleep(3600)
"#;
    let (_clients, mut ready) = python_in(&netns, client, &[&port.to_string()]);
    let clients: std::collections::BTreeSet<String> = wait_for_line(&mut ready)
        .split_whitespace()
        .map(|client_port| format!("127.0.0.1:{client_port}"))
        .collect();
    assert_eq!(clients.len(), 30);
    let binary = util::binary();
    // An hour between refreshes: only the keys change the screen.
    tmux.send(&[&format!("{} top --interval 1h", binary.display()), "Enter"]);
    let address = format!("127.0.0.1:{port} ");
    tmux.wait_for("the listener with 30 connections", |screen| {
        row_of(screen, &address).is_some_and(|row| row.split_whitespace().nth(3) == Some("30"))
    });
    tmux.send(&["/"]);
    tmux.send(&["-l", &port.to_string()]);
    tmux.send(&["Enter"]);
    tmux.send(&["Enter"]);
    let title = format!("connections of 127.0.0.1:{port} (30)");
    tmux.wait_for("the first rows of the list", |screen| {
        screen.contains(&format!("{title} 1–10")) && screen.contains("Tab scroll connections")
    });
    // The client addresses on screen.
    let shown = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .filter(|line| line.contains("ESTAB"))
            .filter_map(|line| line.split_whitespace().next().map(str::to_string))
            .filter(|client| clients.contains(client))
            .collect()
    };
    tmux.send(&["Tab"]);
    let mut seen = std::collections::BTreeSet::new();
    seen.extend(shown(
        &tmux.wait_for("the focus in the list", |screen| screen.contains("Tab/Esc back")),
    ));
    // Page Down moves the list a whole page, as `less` does (it moved the
    // selection ten rows and the list only as far as to show it: 2–11).
    for (first, last) in [(11, 20), (21, 30), (21, 30)] {
        tmux.send(&["PageDown"]);
        let screen = tmux.wait_for("the list scrolled", |screen| {
            screen.contains(&format!("{title} {first}–{last}"))
        });
        seen.extend(shown(&screen));
    }
    assert_eq!(seen, clients, "every connection can be reached");
    tmux.send(&["PageUp"]);
    tmux.wait_for("a page back", |screen| screen.contains(&format!("{title} 11–20")));
    tmux.send(&["Home"]);
    tmux.wait_for("the top of the list", |screen| screen.contains(&format!("{title} 1–10")));
    tmux.send(&["End"]);
    tmux.wait_for("the end of the list", |screen| screen.contains(&format!("{title} 21–30")));
    // Esc gives the keys back to the listeners, the second closes the list.
    tmux.send(&["Escape"]);
    tmux.wait_for("the focus back", |screen| screen.contains("Tab scroll connections"));
    tmux.send(&["Escape"]);
    tmux.wait_for("the list closed", |screen| !screen.contains("connections of"));
    tmux.send(&["q"]);
}

// Page Down in the listener table moved the selection a page and the table
// only as far as to show it: one row at a time. It now moves the table a
// page, as `less` and `htop` do, and Page Up brings it back.
#[test]
fn page_keys_move_the_listener_table_a_whole_page() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.resize(140, 16);
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let listeners = r#"
import socket, time
held = []
for port in range(21001, 21041):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(4)
    held.append(s)
print("ok", flush=True)
time.sleep(3600)
"#;
    let (_listeners, mut ready) = python_in(&netns, listeners, &[]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let binary = util::binary();
    tmux.send(&[&format!("{} top --interval 1h", binary.display()), "Enter"]);
    let ports = |screen: &str| -> Vec<u16> {
        listener_rows(screen)
            .iter()
            .filter_map(|row| row.split_whitespace().nth(1)?.rsplit_once(':')?.1.parse().ok())
            .collect()
    };
    let first =
        tmux.wait_for("the first listeners", |screen| ports(screen).first() == Some(&21001));
    let page = ports(&first);
    assert!(page.len() >= 3 && page.len() < 40, "a page of rows: {page:?}");
    tmux.send(&["PageDown"]);
    let next = page[page.len() - 1] + 1;
    let screen = tmux.wait_for("the next page", |screen| {
        ports(screen).first() == Some(&next) || ports(screen).first() != Some(&21001)
    });
    assert_eq!(ports(&screen).first(), Some(&next), "a whole page down:\n{screen}");
    tmux.send(&["PageUp"]);
    tmux.wait_for("the first page again", |screen| ports(screen) == page);
    tmux.send(&["End"]);
    tmux.wait_for("the last listener", |screen| ports(screen).last() == Some(&21040));
    tmux.send(&["q"]);
}

/// The pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// Whether `pid` is stopped (state `T` in /proc/PID/stat).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("T")
    })
}

/// Whether the terminal is in cooked mode (canonical input, echo), as
/// `stty` reads it from the terminal itself.
fn cooked(tty: &str) -> bool {
    let output = Command::new("stty").args(["-a", "-F", tty]).output().expect("stty runs");
    assert!(output.status.success(), "stty -F {tty}: {output:?}");
    let settings = String::from_utf8_lossy(&output.stdout).into_owned();
    let words: Vec<&str> = settings.split_whitespace().collect();
    words.contains(&"icanon") && words.contains(&"echo")
}

// `kill -TSTP` (or a Ctrl-Z that a raw terminal delivers as a key) stopped
// porthole with the terminal still in raw mode and on the alternate
// screen: the shell behind it took no line until `reset`. The view now
// gives the terminal back before it stops, and takes it again and redraws
// when it is continued.
#[test]
fn a_stop_gives_the_terminal_back_and_a_continue_takes_it_again() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    let output = Command::new("tmux")
        .args(["display-message", "-p", "-t", &tmux.session, "#{pane_tty}"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(tty.starts_with("/dev/"), "{tty:?}");
    let binary = util::binary();
    // Under a shell without job control, nothing but porthole touches the
    // terminal's modes while it is stopped. The marker is built by that
    // shell, so the command line itself never matches it.
    tmux.send(&[
        &format!("bash -c '{} top --interval 300ms; echo top$((0))-ended-$?'", binary.display()),
        "Enter",
    ]);
    tmux.wait_for("the view", |screen| screen.contains("q quit"));
    let wrapper = tmux.foreground_child().expect("bash -c runs under the shell");
    let pid = *children_of(wrapper).first().expect("porthole runs under bash -c");
    assert!(!cooked(&tty), "the view runs in raw mode");

    for stop in ["kill", "Ctrl-Z"] {
        if stop == "kill" {
            signal("-TSTP", pid);
        } else {
            tmux.send(&["C-z"]);
        }
        assert!(eventually(Duration::from_secs(30), || stopped(pid)), "{stop} stops porthole");
        let screen = tmux.screen();
        assert!(
            screen.contains("shell-ready") && !screen.contains("q quit"),
            "{stop}: the main screen is back:\n{screen}"
        );
        assert!(cooked(&tty), "{stop}: the terminal is cooked again");
        signal("-CONT", pid);
        tmux.wait_for("the view again", |screen| {
            screen.contains("q quit") && !screen.contains("shell-ready")
        });
        assert!(!cooked(&tty), "{stop}: raw mode again after SIGCONT");
    }
    tmux.send(&["q"]);
    let screen = tmux.wait_for("top to end", |screen| screen.contains("top0-ended-"));
    assert!(screen.contains("top0-ended-0"), "{screen}");
}

/// A server whose program file was deleted after it started (an upgrade
/// that replaced the build) reads `NAME (deleted)` in every listing that
/// names it: `top` showed the bare name while `ls` and `porthole PORT` said
/// it was deleted, so the old build looked like the one on disk.
#[test]
fn a_deleted_executable_reads_the_same_in_every_listing() {
    const LISTENER: &str = "import os,socket,time\n\
                            s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                            print(s.getsockname()[1], flush=True); time.sleep(120)";
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join("old-build");
    std::fs::copy(util::python_binary(), &copy).unwrap();
    let (server, mut out) = util::python_via(Command::new(&copy), LISTENER, &[]);
    let port = wait_for_line(&mut out);
    std::fs::remove_file(&copy).unwrap();
    let shown = format!("old-build (deleted) ({})", server.pid());

    let once = util::porthole_run(&["top", "--once", "-t", "--interval", "200ms"]);
    assert_eq!(once.code, 0, "{once:?}");
    let row = row_of(&once.stdout, &format!("127.0.0.1:{port} ")).expect("the listener's row");
    assert!(row.ends_with(&shown), "{row}");

    let ls = util::porthole_run(&["ls", "--port", &port]);
    assert!(ls.stdout.contains(&format!("{}/old-build (deleted)", server.pid())), "{ls:?}");
    let report = util::porthole_run(&[&port]);
    assert!(
        report.stdout.contains(&format!("old-build (deleted) (pid {}", server.pid())),
        "{report:?}"
    );
    let plan = util::porthole_run(&["kill", &port, "--dry-run"]);
    let row = row_of(&plan.stdout, &format!("127.0.0.1:{port}/tcp")).expect("the target's row");
    assert!(row.contains(" old-build (deleted) "), "{row}");
}

/// A listener and one client of it in the same process, whose port it
/// prints; its name and its 10 KB argument are chosen to attack a terminal.
const HOSTILE_PAIR: &str = r#"
import socket, time
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.create_connection(server.getsockname())
held = [server, client, server.accept()[0]]
print(server.getsockname()[1], flush=True)
time.sleep(3600)
"#;

/// A process name with an OSC title write and a bidi override, and an
/// argument of 10 KB of screen clears and carriage returns, reach the live
/// view's listener row and the Enter connection list only escaped: the
/// terminal's title is untouched and the escapes are visible as text.
#[test]
fn hostile_names_are_escaped_in_the_rows_and_the_connection_list() {
    let Some(netns) = Netns::create() else { return };
    let Some(tmux) = Tmux::start(&netns) else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let executable = directory.path().join("\x1b]0;pwned\x07\u{202e}x");
    std::fs::copy(util::python_binary(), &executable).expect("copying python");
    let argument = "\x1b[2J\r".repeat(2048);
    let command = netns.command(executable.to_str().expect("UTF-8 name"));
    let (_process, mut ready) = util::python_via(command, HOSTILE_PAIR, &[&argument]);
    let port = wait_for_line(&mut ready);
    assert!(port.parse::<u16>().is_ok(), "the hostile process: {port:?}");

    tmux.send(&["clear; echo shell-ready", "Enter"]);
    tmux.wait_for("the shell", |screen| screen.contains("shell-ready"));
    tmux.send(&[&format!("{} top --interval 300ms", util::binary().display()), "Enter"]);
    tmux.wait_for("the view", |screen| screen.contains("PROTO") && screen.contains("q quit"));
    tmux.send(&["/"]);
    tmux.send(&["-l", &port]);
    tmux.send(&["Enter"]);
    tmux.send(&["Enter"]);
    let escaped = "\\x1b]0;pwned\\x07\\u202ex";
    let screen = tmux.wait_for("the connection list", |screen| {
        screen.contains("connections of") && screen.matches(escaped).count() >= 2
    });
    let listener = row_of(&screen, &format!("127.0.0.1:{port}")).expect("the listener row");
    assert!(listener.contains(escaped), "{screen}");
    let title = Command::new("tmux")
        .args(["display-message", "-p", "-t", &tmux.session, "#{pane_title}"])
        .output()
        .expect("tmux runs");
    assert!(!String::from_utf8_lossy(&title.stdout).contains("pwned"), "{title:?}");
    tmux.send(&["q"]);
}
