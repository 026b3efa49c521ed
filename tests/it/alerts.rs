//! Alerts of `porthole monitor`: real listeners, clients, `--on-alert`
//! commands and a webhook server, all inside private network namespaces so
//! that nothing else on the machine raises or receives an alert.
//!
//! "Never delays recording" is checked by order, not by the clock: events
//! recorded after a webhook request was received (and left unanswered, or
//! answered with 500) must still reach stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::dashboard::{hex, NAMED_AS};
use crate::monitor::{connections_to, dump, of_type, Monitor};
use crate::util::{eventually, python_in, server_in, unique_port, wait_for_line, Netns};

/// A webhook receiver: `python3 WEBHOOK PORT MODE BODIES GATE` appends each
/// request body as one line to BODIES, then answers 200 (`ok`), 500
/// (`fail`), or — `hold` — nothing until the file GATE exists. One request
/// at a time, like a slow collector.
const WEBHOOK: &str = r#"
import http.server, os, sys, time
port, mode, bodies, gate = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(bodies, "ab") as f:
            f.write(body.rstrip(b"\n") + b"\n")
        while mode == "hold" and not os.path.exists(gate):
            time.sleep(0.05)
        self.send_response(500 if mode == "fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print("ok", flush=True)
server.serve_forever()
"#;

/// A client that connects, waits a second (so that netlink capture names
/// it at a scan), sends a request and reads the answer.
const SLOW_CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(1)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(4096):
    pass
s.close()
"#;

/// The webhook receiver of one test.
struct Receiver {
    _server: crate::util::ChildGuard,
    port: u16,
    url: String,
    bodies: PathBuf,
    gate: PathBuf,
}

impl Receiver {
    fn start(netns: &Netns, dir: &Path, mode: &str) -> Receiver {
        let port = unique_port();
        let bodies = dir.join("webhook.jsonl");
        let gate = dir.join("gate");
        let (server, mut ready) = python_in(
            netns,
            WEBHOOK,
            &[&port.to_string(), mode, bodies.to_str().unwrap(), gate.to_str().unwrap()],
        );
        assert_eq!(wait_for_line(&mut ready), "ok", "webhook receiver starts");
        Receiver {
            _server: server,
            port,
            url: format!("http://127.0.0.1:{port}/hook"),
            bodies,
            gate,
        }
    }

    /// Every body received so far, parsed.
    fn bodies(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.bodies)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a webhook body is JSON"))
            .collect()
    }
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("alerts.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn alerts<'a>(lines: &'a [Value], kind: &str, port: u16) -> Vec<&'a Value> {
    of_type(lines, "alert")
        .into_iter()
        .filter(|alert| alert["alert"] == kind && alert["local_port"] == port)
        .collect()
}

fn listener_changes(lines: &[Value], port: u16, change: &str) -> usize {
    of_type(lines, "listener")
        .into_iter()
        .filter(|l| l["local_port"] == port && l["change"] == change)
        .count()
}

/// The JSON documents the `--on-alert` command wrote, one file each.
fn command_outputs(dir: &Path) -> Vec<Value> {
    let mut outputs: Vec<Value> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                .filter_map(|text| serde_json::from_str(&text).ok())
                .collect()
        })
        .unwrap_or_default();
    outputs.sort_by_key(|value| value["at_us"].as_i64());
    outputs
}

/// A netlink recorder in `netns` with the alert `rules`, posting to a
/// webhook receiver that answers "ok" and running the `--on-alert` command
/// `on_alert` builds from the directory it is to write into (`commands`,
/// created under `dir`).
fn on_every_channel(
    netns: &Netns,
    dir: &std::path::Path,
    rules: &str,
    on_alert: impl FnOnce(&std::path::Path) -> String,
) -> (Receiver, std::path::PathBuf, Monitor) {
    let receiver = Receiver::start(netns, dir, "ok");
    let config = write_config(dir, rules);
    let commands = dir.join("commands");
    std::fs::create_dir(&commands).unwrap();
    let on_alert = on_alert(&commands);
    let monitor = Monitor::start(
        Some(netns),
        &[
            "--capture",
            "netlink",
            "--alerts",
            &config,
            "--on-alert",
            &on_alert,
            "--webhook",
            &receiver.url,
        ],
    );
    (receiver, commands, monitor)
}

#[test]
fn an_exposed_listener_alerts_once_per_change_on_every_channel() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The same program comes back: with a short repeat_after, that is a
    // new alert (a crash loop is held back by the default; see below).
    let (receiver, commands, monitor) = on_every_channel(
        &netns,
        dir.path(),
        "[rules]\naudit_severity = \"off\"\nrepeat_after = \"1ms\"\n",
        |commands| format!("cat > '{}'/alert-$$.json", commands.display()),
    );
    let port = unique_port();
    let first = server_in(&netns, "0.0.0.0", port, "http");
    let first_pid = first.pid();
    let raised = monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", port).len() == 1);
    // While it stays, later scans raise nothing: a loopback listener opened
    // after the alert is recorded, and the alert is still alone.
    let other = unique_port();
    let _quiet = server_in(&netns, "127.0.0.1", other, "http");
    let later = monitor.wait_for(|lines| listener_changes(lines, other, "appeared") == 1);
    let alone = monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", port).len() == 1);
    // Gone and back: a second change, a second alert.
    drop(first);
    let gone = monitor.wait_for(|lines| listener_changes(lines, port, "disappeared") == 1);
    let second = server_in(&netns, "0.0.0.0", port, "http");
    let again = monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", port).len() == 2);
    let posted = eventually(Duration::from_secs(60), || receiver.bodies().len() == 2);
    let ran = eventually(Duration::from_secs(60), || command_outputs(&commands).len() == 2);
    let (lines, stderr, code) = monitor.stop();
    let all = dump(&lines);
    assert!(raised && later && alone && gone && again, "{all}\n{stderr}");
    assert_eq!(code, 0, "{stderr}");

    let on_stdout = alerts(&lines, "new-exposed-listener", port);
    assert_eq!(on_stdout.len(), 2, "{all}");
    assert_eq!(of_type(&lines, "alert").len(), 2, "nothing else alerted: {all}");
    assert_eq!(on_stdout[0]["local_address"], "0.0.0.0");
    assert_eq!(on_stdout[0]["protocol"], "tcp");
    assert_eq!(on_stdout[0]["process"]["pid"], first_pid, "{all}");
    assert_eq!(on_stdout[1]["process"]["pid"], second.pid(), "{all}");
    assert_eq!(on_stdout[0]["process"]["name"], "python3");

    assert!(posted, "webhook bodies: {:?}", receiver.bodies());
    assert!(ran, "--on-alert outputs: {:?}", command_outputs(&commands));
    for delivered in [receiver.bodies(), command_outputs(&commands)] {
        let delivered: Vec<&Value> = delivered.iter().collect();
        assert_eq!(delivered, on_stdout, "the same JSON on every channel");
    }

    let logged = format!(
        "porthole monitor: alert new-exposed-listener protocol=tcp address=0.0.0.0 port={port} \
         process=python3 pid={first_pid} "
    );
    assert!(stderr.contains(&logged), "{stderr}");
    assert_eq!(stderr.matches("porthole monitor: alert new-").count(), 2, "{stderr}");
    assert!(stderr.contains("porthole monitor: alert rules from "), "{stderr}");
    // The posts are the recorder's own connections, too short for a scan
    // to name: neither records nor unknown clients.
    let posts = connections_to(&lines, receiver.port);
    assert!(posts.is_empty(), "webhook posts recorded: {posts:#?}");
    assert!(of_type(&lines, "loss").is_empty(), "{all}");
    assert!(
        stderr.contains(
            "porthole monitor: 2 alerts; --on-alert: 2 ran, 0 failed, 0 dropped (all runners \
             busy), 0 unfinished; --webhook: 2 delivered, 0 failed, 0 dropped (queue full), 0 \
             undelivered at stop"
        ),
        "{stderr}"
    );
}

/// A service in a crash loop binds 0.0.0.0 again and again: the first
/// appearance alerts, the returns of the same program within
/// `repeat_after` are held back and counted. Every return used to be an
/// alert on every channel (and a passive audit).
#[test]
fn a_crash_looping_exposed_listener_alerts_once() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&netns, dir.path(), "ok");
    let config = write_config(dir.path(), "[rules]\naudit_severity = \"off\"\n");
    let monitor = Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--alerts", &config, "--webhook", &receiver.url],
    );
    let port = unique_port();
    let mut seen = Vec::new();
    for restart in 1..=4 {
        let server = server_in(&netns, "0.0.0.0", port, "http");
        seen.push(monitor.wait_for(|lines| listener_changes(lines, port, "appeared") == restart));
        drop(server);
        seen.push(
            monitor.wait_for(|lines| listener_changes(lines, port, "disappeared") == restart),
        );
    }
    let posted = eventually(Duration::from_secs(60), || !receiver.bodies().is_empty());
    let (lines, stderr, code) = monitor.stop();
    let all = dump(&lines);
    assert!(seen.iter().all(|&ok| ok), "{seen:?}\n{all}\n{stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts(&lines, "new-exposed-listener", port).len(), 1, "{all}");
    assert!(posted);
    assert_eq!(receiver.bodies().len(), 1, "{:?}", receiver.bodies());
    assert_eq!(stderr.matches("porthole monitor: alert new-").count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "porthole monitor: 1 alert; --webhook: 1 delivered, 0 failed, 0 dropped (queue \
             full), 0 undelivered at stop; 3 held back (the same program back on the same \
             address within repeat_after)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_webhook_that_never_answers_does_not_delay_recording() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&netns, dir.path(), "hold");
    let config = write_config(dir.path(), "[rules]\naudit_severity = \"off\"\n");
    let monitor = Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--alerts", &config, "--webhook", &receiver.url],
    );
    let ports: Vec<u16> = (0..4).map(|_| unique_port()).collect();
    let mut servers = Vec::new();
    let mut recorded = Vec::new();
    for (index, &port) in ports.iter().enumerate() {
        servers.push(server_in(&netns, "0.0.0.0", port, "http"));
        recorded
            .push(monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", port).len() == 1));
        if index == 0 {
            // The receiver now holds the first alert's request unanswered.
            recorded.push(eventually(Duration::from_secs(60), || receiver.bodies().len() == 1));
        }
    }
    // Still holding the first request: the other three alerts were
    // recorded and printed while the webhook waited.
    let held = receiver.bodies().len();
    std::fs::write(&receiver.gate, "").unwrap();
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded.iter().all(|&ok| ok), "{recorded:?}\n{}\n{stderr}", dump(&lines));
    assert_eq!(held, 1, "one request at a time reaches this receiver");
    assert_eq!(code, 0, "{stderr}");
    for port in ports {
        assert_eq!(listener_changes(&lines, port, "appeared"), 1, "{}", dump(&lines));
    }
    assert!(stderr.contains("porthole monitor: 4 alerts; --webhook: "), "{stderr}");
}

#[test]
fn a_failing_webhook_and_a_failing_command_are_logged_and_recording_goes_on() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&netns, dir.path(), "fail");
    let config = write_config(
        dir.path(),
        "[rules]\naudit_severity = \"off\"\n[delivery]\nwebhook_attempts = 3\n",
    );
    let monitor = Monitor::start(
        Some(&netns),
        &[
            "--capture",
            "netlink",
            "--alerts",
            &config,
            "--webhook",
            &receiver.url,
            "--on-alert",
            "cat > /dev/null; exit 3",
        ],
    );
    let first_port = unique_port();
    let _first = server_in(&netns, "0.0.0.0", first_port, "http");
    let retried = eventually(Duration::from_secs(60), || receiver.bodies().len() >= 3);
    let gave_up = monitor.wait_for_stderr(|stderr| {
        stderr.contains("porthole: webhook delivery failed after 3 attempts: HTTP status 500")
            && stderr.contains("porthole: alert command failed: exit status: 3")
    });
    // Recorded after the failures: recording went on.
    let second_port = unique_port();
    let _second = server_in(&netns, "0.0.0.0", second_port, "http");
    let recorded =
        monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", second_port).len() == 1);
    let (lines, stderr, code) = monitor.stop();
    assert!(retried && gave_up && recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let bodies = receiver.bodies();
    assert!(bodies[..3].iter().all(|body| body["local_port"] == first_port), "{bodies:?}");
    assert!(stderr.contains("--webhook: 0 delivered, "), "{stderr}");
    assert!(stderr.contains("--on-alert: 0 ran, 2 failed, "), "{stderr}");
}

/// A DNS server that reads every query and answers none (`python3 SILENT`,
/// in the namespace, on 127.0.0.1:53). Prints `ready`.
const SILENT_DNS: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recvfrom(4096)
"#;

/// `getaddrinfo` has no timeout of its own: a resolver that never answers
/// held each attempt for resolv.conf's timeout (here 30 s) whatever
/// `webhook_timeout` said. The lookup is bounded by the attempt's timeout
/// now, and the failure says so.
#[test]
fn a_webhook_whose_name_never_resolves_fails_within_its_timeout() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let etc = crate::util::NetnsEtc::with_hosts(&netns, "127.0.0.1 localhost\n");
    std::fs::write(
        Path::new("/etc/netns").join(&netns.name).join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n",
    )
    .unwrap();
    let (_dns, mut ready) = python_in(&netns, SILENT_DNS, &[]);
    assert_eq!(wait_for_line(&mut ready), "ready");
    let config = write_config(
        dir.path(),
        "[rules]\naudit_severity = \"off\"\n[delivery]\nwebhook_timeout = \"1s\"\nwebhook_attempts = 1\n",
    );
    let monitor = Monitor::start(
        Some(&netns),
        &[
            "--capture",
            "netlink",
            "--alerts",
            &config,
            "--webhook",
            "http://alerts.porthole-test.example:8080/hook",
        ],
    );
    let port = unique_port();
    let _server = server_in(&netns, "0.0.0.0", port, "http");
    let failed = monitor.wait_for_stderr(|stderr| {
        stderr.contains("resolving alerts.porthole-test.example: no answer within 1s")
    });
    let (_, stderr, code) = monitor.stop();
    drop(etc);
    assert!(failed, "{stderr}");
    assert_eq!(code, 0, "{stderr}");
}

/// A webhook that hangs has alerts dropped (its queue is bounded) and a
/// command that fails fails them, which `monitor --serve` said only in its
/// closing line: a service that runs for months never reaches it. Its
/// `/metrics` counts them now, while it runs.
#[test]
fn failed_and_dropped_alert_deliveries_show_in_metrics_while_the_monitor_runs() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&netns, dir.path(), "hold");
    // One alert waits while the receiver holds another; a third pushes the
    // waiting one out. The timeout outlasts the test: no retries.
    let config = write_config(
        dir.path(),
        "[rules]\naudit_severity = \"off\"\n[delivery]\nwebhook_queue = 1\nwebhook_timeout = \"10m\"\n",
    );
    let store = dir.path().join("h.sqlite");
    let token = dir.path().join("t");
    let served = crate::dashboard::serve(
        &netns,
        &[
            "monitor",
            "--capture",
            "netlink",
            "--serve",
            &format!("127.0.0.1:{}", crate::dashboard::PORT),
            "--store",
            store.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
            "--alerts",
            &config,
            "--webhook",
            &receiver.url,
            "--on-alert",
            "cat > /dev/null; exit 3",
        ],
    );
    let mut servers = vec![server_in(&netns, "0.0.0.0", unique_port(), "http")];
    let held = eventually(Duration::from_secs(60), || receiver.bodies().len() == 1);
    servers.push(server_in(&netns, "0.0.0.0", unique_port(), "http"));
    servers.push(server_in(&netns, "0.0.0.0", unique_port(), "http"));
    let bearer = format!("Bearer {}", served.token);
    let expected = [
        "porthole_alerts_total 3",
        "porthole_alert_deliveries_total{channel=\"command\",outcome=\"failed\"} 3",
        "porthole_alert_deliveries_total{channel=\"webhook\",outcome=\"delivered\"} 0",
        "porthole_alert_deliveries_total{channel=\"webhook\",outcome=\"dropped\"} 1",
    ];
    let mut text = String::new();
    let counted = eventually(Duration::from_secs(60), || {
        text = crate::dashboard::get(&netns, "/metrics", &[("Authorization", &bearer)]).body;
        expected.iter().all(|line| text.lines().any(|l| l == *line))
    });
    std::fs::write(&receiver.gate, "").unwrap();
    assert!(held, "the receiver got the first alert");
    assert!(counted, "{expected:#?} in\n{text}");
}

#[test]
fn the_passive_audit_of_a_new_listener_alerts_on_its_findings() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[rules]\nnew_exposed_listener = false\naudit_severity = \"low\"\n",
    );
    let monitor = Monitor::start(Some(&netns), &["--capture", "netlink", "--alerts", &config]);
    let port = unique_port();
    let server = server_in(&netns, "0.0.0.0", port, "http");
    let found = monitor.wait_for(|lines| !alerts(lines, "audit-finding", port).is_empty());
    let (lines, stderr, code) = monitor.stop();
    assert!(found, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let findings = alerts(&lines, "audit-finding", port);
    let exposed = findings
        .iter()
        .find(|alert| alert["finding"]["rule"] == "exposed-service")
        .unwrap_or_else(|| panic!("no exposed-service finding: {findings:?}"));
    assert_eq!(exposed["process"]["pid"], server.pid());
    assert!(exposed["finding"]["fix"].as_str().is_some_and(|fix| !fix.is_empty()), "{exposed}");
    assert!(
        findings.iter().all(|alert| alert["finding"]["severity"] != "info"),
        "below the configured severity: {findings:?}"
    );
    assert!(
        stderr.contains(&format!("alert audit-finding protocol=tcp address=0.0.0.0 port={port}"))
    );
}

/// The passive audit's probes of a new listener are the recorder's own
/// connections: they are not recorded as clients of the listener (history
/// said "porthole (pid N) connected 2 times" and counted them), while a
/// real client after them is. Nor are they counted: the stop line's
/// connections are the records written (it counted the probes too), and in
/// netlink mode a probe too short for any scan is no "unknown process" loss
/// (it was recorded with no client at all).
fn the_audits_own_probes_are_not_recorded_as_clients(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[rules]\nnew_exposed_listener = false\naudit_severity = \"low\"\n",
    );
    // Scans 4 times during the real client's second, so that netlink mode
    // names it.
    let monitor = Monitor::start(
        Some(&netns),
        &["--capture", capture, "--interval", "250ms", "--alerts", &config],
    );
    let port = unique_port();
    let _server = server_in(&netns, "0.0.0.0", port, "http");
    let found = monitor.wait_for(|lines| !alerts(lines, "audit-finding", port).is_empty());
    // A client after the audit: its record comes after the probes' ends.
    let client = run_client(&netns, port);
    let recorded = monitor.wait_for(|lines| {
        connections_to(lines, port).iter().any(|c| c["client_process"]["pid"] == client)
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(found && recorded, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let own: Vec<&Value> = connections_to(&lines, port)
        .into_iter()
        .filter(|c| c["client_process"]["pid"] != client)
        .collect();
    assert!(own.is_empty(), "the audit's probes recorded as clients: {own:#?}");
    let closed = of_type(&lines, "connection").iter().filter(|c| !c["ended_at"].is_null()).count();
    assert!(
        stderr.contains(&format!(", {closed} connections, 0 losses")),
        "the stop line counts other connections than the {closed} recorded:\n{stderr}\n{}",
        dump(&lines)
    );
}

/// eBPF mode names every client, the audit's probes included.
#[test]
fn the_audits_own_probes_are_not_recorded_as_clients_in_ebpf_mode() {
    if crate::monitor::ebpf_available() {
        the_audits_own_probes_are_not_recorded_as_clients("ebpf");
    }
}

/// Netlink mode names no client shorter than a scan: the probes are
/// known as the recorder's own by what the audit said it was probing.
#[test]
fn the_audits_own_probes_are_not_recorded_as_clients_in_netlink_mode() {
    the_audits_own_probes_are_not_recorded_as_clients("netlink");
}

#[test]
fn watched_ports_and_unexpected_users_alert_for_loopback_listeners_too() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let watched = unique_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[rules]\naudit_severity = \"off\"\nwatched_ports = [{watched}]\n\
             expected_users = [\"nobody\"]\n"
        ),
    );
    let monitor = Monitor::start(Some(&netns), &["--capture", "netlink", "--alerts", &config]);
    let server = server_in(&netns, "127.0.0.1", watched, "http");
    let raised = monitor.wait_for(|lines| {
        !alerts(lines, "watched-port", watched).is_empty()
            && !alerts(lines, "unexpected-user", watched).is_empty()
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(raised, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let unexpected = alerts(&lines, "unexpected-user", watched);
    assert_eq!(unexpected.len(), 1, "{}", dump(&lines));
    assert_eq!(unexpected[0]["process"]["pid"], server.pid());
    assert_eq!(unexpected[0]["reason"], "owned by root (uid 0), not an expected user");
    assert_eq!(alerts(&lines, "watched-port", watched).len(), 1, "{}", dump(&lines));
    assert!(alerts(&lines, "new-exposed-listener", watched).is_empty(), "loopback is not exposed");
}

/// Runs [`SLOW_CLIENT`] against `port` in `netns`; returns its pid.
fn run_client(netns: &Netns, port: u16) -> u32 {
    let mut child = netns
        .command("python3")
        .args(["-c", SLOW_CLIENT, &port.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .expect("client starts");
    let pid = child.id();
    assert!(child.wait().expect("client exits").success(), "client {pid} failed");
    pid
}

#[test]
fn an_unknown_client_of_a_sensitive_port_alerts_once_even_across_restarts() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = unique_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[rules]\nnew_exposed_listener = false\naudit_severity = \"off\"\n\
             sensitive_ports = [{port}]\n"
        ),
    );
    let store = dir.path().join("history.sqlite");
    let store = store.to_str().unwrap();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let args =
        ["--capture", "netlink", "--interval", "200ms", "--alerts", &config, "--store", store];

    let monitor = Monitor::start(Some(&netns), &args);
    // Netlink capture names a client at a scan; on a busy machine a scan
    // can miss one, so clients run until two were named.
    let named_pids = |lines: &[Value]| -> Vec<Value> {
        connections_to(lines, port)
            .iter()
            .filter(|c| c["client_process"].is_object())
            .map(|c| c["client_process"]["pid"].clone())
            .collect()
    };
    let mut named = Vec::new();
    for attempt in 1..=8 {
        run_client(&netns, port);
        let recorded = monitor.wait_for(|lines| connections_to(lines, port).len() >= attempt);
        assert!(recorded, "connection {attempt} was not recorded");
        named = named_pids(&monitor.lines.lock().unwrap());
        if named.len() >= 2 {
            break;
        }
    }
    let (lines, stderr, code) = monitor.stop();
    assert!(named.len() >= 2, "fewer than two clients named:\n{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let raised = alerts(&lines, "new-client", port);
    assert_eq!(raised.len(), 1, "{}", dump(&lines));
    assert_eq!(raised[0]["process"]["pid"], named[0], "{}", dump(&lines));
    assert_ne!(named[0], named[1]);
    assert!(raised[0]["process"]["exe"].as_str().is_some_and(|exe| exe.contains("python")));
    assert_eq!(raised[0]["server_process"]["name"], "python3");
    assert!(
        stderr.contains(&format!("alert new-client protocol=tcp address=127.0.0.1 port={port}"))
    );

    // A new monitor on the same store remembers the executable.
    let monitor = Monitor::start(Some(&netns), &args);
    let mut recorded = false;
    for attempt in 1..=8 {
        run_client(&netns, port);
        assert!(monitor.wait_for(|lines| connections_to(lines, port).len() >= attempt));
        recorded = !named_pids(&monitor.lines.lock().unwrap()).is_empty();
        if recorded {
            break;
        }
    }
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "no client named:\n{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert!(of_type(&lines, "alert").is_empty(), "{}", dump(&lines));
}

#[test]
fn a_bad_rules_file_is_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        write_config(dir.path(), "[rules]\nwatched_ports = [22]\naudit_severity = \"hgh\"\n");
    let output = crate::util::porthole_run(&["monitor", "--alerts", &config]);
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert_eq!(
        output.stderr,
        format!(
            "porthole: {config} line 3, key 'audit_severity': unknown severity 'hgh' (expected \
             critical, high, medium, low, info or off)\n"
        )
    );
    assert_eq!(output.stdout, "");

    // A comment saved in Latin-1: the line, not only "stream did not
    // contain valid UTF-8".
    std::fs::write(&config, b"[rules]\n# caf\xe9\nwatched_ports = [22]\n").unwrap();
    let output = crate::util::porthole_run(&["monitor", "--alerts", &config]);
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert_eq!(
        output.stderr,
        format!("porthole: {config} line 2: not UTF-8 text (TOML files are UTF-8)\n")
    );
}

/// Listens on `[::]:PORT` with `IPV6_V6ONLY` set (`1`) or off (`0`) and
/// closes every connection it accepts.
const WILDCARD_V6: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(sys.argv[2]))
s.bind(("::", int(sys.argv[1])))
s.listen()
print("ok", flush=True)
while True:
    s.accept()[0].close()
"#;

/// An `IPV6_V6ONLY` `[::]` listener is reached over IPv6 alone: behind a
/// firewall that drops IPv6 and admits IPv4 it is not an exposed service,
/// while a dual-stack `[::]` on the same host is (over IPv4). The audit
/// thread takes listeners in order, so the dual-stack one's finding
/// arriving means the v6only one was judged before it.
fn a_v6only_wildcard_is_judged_without_ipv4(capture: &str) {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok(
        "nft",
        &["add table ip v4filter; \
             add chain ip v4filter input { type filter hook input priority 0; policy accept; }; \
             add table ip6 v6filter; \
             add chain ip6 v6filter input { type filter hook input priority 0; policy drop; }"],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[rules]\nnew_exposed_listener = false\naudit_severity = \"low\"\n",
    );
    let monitor = Monitor::start(Some(&netns), &["--capture", capture, "--alerts", &config]);
    let (v6only, dual) = (unique_port(), unique_port());
    let (_v6only_server, mut ready) = python_in(&netns, WILDCARD_V6, &[&v6only.to_string(), "1"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let recorded = monitor.wait_for(|lines| listener_changes(lines, v6only, "appeared") == 1);
    let (dual_server, mut ready) = python_in(&netns, WILDCARD_V6, &[&dual.to_string(), "0"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let exposed = |lines: &[Value], port: u16| -> Vec<Value> {
        alerts(lines, "audit-finding", port)
            .into_iter()
            .filter(|alert| alert["finding"]["rule"] == "exposed-service")
            .cloned()
            .collect()
    };
    // The finding is logged on stderr when raised, and reaches stdout while
    // the recorder runs although nothing else happens in the namespace
    // (the audit's probe over IPv6 is dropped): alert lines do not wait for
    // the next batch of events.
    let logged = format!("alert audit-finding protocol=tcp address=:: port={dual} ");
    let found = monitor.wait_for_stderr(|stderr| stderr.contains(&logged));
    let printed = monitor.wait_for(|lines| !exposed(lines, dual).is_empty());
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded && found, "{}\n{stderr}", dump(&lines));
    assert!(printed, "the finding reached stdout only at stop: {}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let listener = |port: u16| {
        of_type(&lines, "listener")
            .into_iter()
            .find(|l| l["local_port"] == port && l["change"] == "appeared")
            .cloned()
            .unwrap_or_else(|| panic!("no listener on {port}: {}", dump(&lines)))
    };
    assert_eq!(listener(v6only)["dual_stack"], false, "{}", listener(v6only));
    assert_eq!(listener(dual)["dual_stack"], true, "{}", listener(dual));
    assert_eq!(
        exposed(&lines, v6only),
        Vec::<Value>::new(),
        "IPv6 is dropped, IPv4 cannot reach it"
    );
    let finding = &exposed(&lines, dual)[0];
    assert_eq!(finding["process"]["pid"], dual_server.pid(), "{finding}");
    assert!(
        finding["reason"].as_str().is_some_and(|reason| reason.contains("every interface")),
        "{finding}"
    );
}

#[test]
fn a_v6only_wildcard_listener_is_not_judged_reachable_over_ipv4_in_netlink_mode() {
    a_v6only_wildcard_is_judged_without_ipv4("netlink");
}

#[test]
fn a_v6only_wildcard_listener_is_not_judged_reachable_over_ipv4_in_ebpf_mode() {
    if crate::monitor::ebpf_available() {
        a_v6only_wildcard_is_judged_without_ipv4("ebpf");
    }
}

/// A process whose name and command line are shell syntax (`$(…)`,
/// backquotes, `;`, a newline) listens on 0.0.0.0: the `--on-alert`
/// command gets them as data on its stdin, the webhook as the exact JSON
/// string, and neither runs any of it; the log line shows the newline
/// escaped.
#[test]
fn shell_syntax_in_a_process_name_reaches_alert_channels_as_data() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (receiver, commands, monitor) =
        on_every_channel(&netns, dir.path(), "[rules]\naudit_severity = \"off\"\n", |commands| {
            format!("cd '{}' && cat > alert-$$.json", commands.display())
        });
    // Were any of it run, in the command's directory or by absolute path,
    // a file would appear beside the alert.
    let name = "$(touch x)`y`;\n";
    let marker = |what: &str| commands.join(what).display().to_string();
    let payloads = [
        format!("$(touch {})", marker("dollar")),
        format!("`touch {}`", marker("backquote")),
        format!("; touch {}", marker("semicolon")),
        format!("\ntouch {}", marker("newline")),
    ];
    let port = unique_port();
    let mut args = vec![hex(name.as_bytes()), "0.0.0.0".to_string(), port.to_string()];
    args.extend(payloads.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_hostile, mut ready) = python_in(&netns, NAMED_AS, &args);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let raised = monitor.wait_for(|lines| alerts(lines, "new-exposed-listener", port).len() == 1);
    let posted = eventually(Duration::from_secs(60), || receiver.bodies().len() == 1);
    let ran = eventually(Duration::from_secs(60), || command_outputs(&commands).len() == 1);
    let (lines, stderr, code) = monitor.stop();
    assert!(raised && posted && ran, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    for delivered in [&receiver.bodies()[0], &command_outputs(&commands)[0]] {
        assert_eq!(delivered["process"]["name"], name, "{delivered}");
        let argv: Vec<&str> = delivered["process"]["argv"]
            .as_array()
            .unwrap_or_else(|| panic!("argv in {delivered}"))
            .iter()
            .map(|arg| arg.as_str().expect("a string"))
            .collect();
        let tail = &argv[argv.len().saturating_sub(payloads.len())..];
        assert_eq!(tail, payloads, "{delivered}");
    }
    let files: Vec<String> = std::fs::read_dir(&commands)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.len() == 1 && files[0].starts_with("alert-"),
        "only the alert itself was written: {files:?}"
    );
    assert!(stderr.contains(r#"process="$(touch x)`y`;\\n" "#), "{stderr}");
    assert!(!stderr.lines().any(|line| line.starts_with("touch")), "a raw newline: {stderr}");
}
