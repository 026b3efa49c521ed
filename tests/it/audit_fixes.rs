//! `porthole audit` grades and fixes against real servers: a stock
//! loopback memcached is not told to do what it already does, memcached's
//! UDP port belongs to the memcached finding, a Redis on 0.0.0.0 with
//! protected mode is graded as the loopback case it effectively is, the
//! firewall command in a fix runs on an empty ruleset, and DNS-rebinding
//! evidence names the address that was probed. Then hostile and odd
//! situations: escape sequences and 100 KB greetings, a control byte in one
//! HTTP header, firewall rules of the other protocol or address family,
//! redirecting HTTP servers, and an inspector enabled through NODE_OPTIONS.
//!
//! See: issue 11, "Fixes that don't run or do harm", "Severity that doesn't
//! match the risk".

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::audit::require;
use crate::util::{
    self, eventually, wait_for_port, Answering, ChildGuard, GroupGuard, Netns, Output,
};

const START: Duration = Duration::from_secs(60);

pub(crate) fn findings_of(json: &Value, port: u16) -> Vec<&Value> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["local_port"] == port)
        .collect()
}

pub(crate) fn finding<'a>(json: &'a Value, port: u16, rule: &str) -> &'a Value {
    findings_of(json, port)
        .into_iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding for port {port} in {json:#}"))
}

/// `porthole audit --port PORTS --json` inside `netns` (PORTS as `--port`
/// takes them: `80`, `80,443`).
pub(crate) fn audit_in(netns: &Netns, ports: &str) -> Output {
    // The machine's own pending updates are not these tests' business.
    let output =
        netns.porthole(&["audit", "--port", ports, "--json", "--skip", "outdated-package"]);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output
}

/// A network namespace of the test's own, once every one of `programs`
/// is installed; `None` (a skip) when one is not.
pub(crate) fn netns_with(programs: &[&str]) -> Option<Netns> {
    if !programs.iter().all(|program| require(program)) {
        return None;
    }
    Netns::create()
}

/// Waits until something accepts TCP on 127.0.0.1:PORT inside `netns`.
pub(crate) fn wait_in(netns: &Netns, port: u16) -> bool {
    eventually(START, || {
        netns
            .command("python3")
            .args([
                "-c",
                "import socket,sys; socket.create_connection(('127.0.0.1',int(sys.argv[1])),0.5)",
            ])
            .arg(port.to_string())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The firewall commands quoted in a fix (`like this`).
fn firewall_commands(fix: &str) -> Vec<String> {
    fix.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| {
            c.starts_with("nft ") || c.starts_with("iptables ") || c.starts_with("ip6tables ")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn loopback_memcached_with_udp_off_is_not_told_to_do_it_again() {
    if !require("memcached") {
        return;
    }
    let (_memcached, port) = crate::audit::start_memcached(&[], &[]);
    let (output, json) = crate::audit::audit(port, &[]);
    let open = finding(&json, port, "no-auth");
    assert_eq!(open["severity"], "high", "{open}");
    let fix = open["fix"].as_str().unwrap();
    assert!(!fix.contains("-l 127.0.0.1") && !fix.contains("-U 0"), "already configured: {fix}");
    assert!(fix.contains("SASL"), "{fix}");
    // A stock loopback cache does not fail the default gate (critical).
    assert_eq!(output.code, 0, "{json:#}");
}

#[test]
fn memcached_udp_on_all_interfaces_is_one_memcached_finding_and_its_firewall_fix_runs() {
    let Some(netns) = netns_with(&["memcached"]) else { return };
    let port = util::unique_port();
    let _memcached = memcached_on_every_interface(&netns, port, port);
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    assert_eq!(output.code, 1, "exposed and unauthenticated is critical: {json:#}");
    let udp: Vec<&Value> =
        findings_of(&json, port).into_iter().filter(|f| f["protocol"] == "udp").collect();
    assert!(udp.is_empty(), "no separate UDP finding: {udp:#?}");
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["severity"], "high", "{exposed:#}");
    assert!(exposed["service"].as_str().unwrap().starts_with("memcached"), "{exposed:#}");
    assert!(exposed["evidence"].as_str().unwrap().contains("amplification"), "{exposed:#}");
    let fix = exposed["fix"].as_str().unwrap();
    assert!(fix.contains("-l 127.0.0.1 -U 0"), "{fix}");
    let no_auth = finding(&json, port, "no-auth");
    assert_eq!(no_auth["severity"], "critical");
    let no_auth_fix = no_auth["fix"].as_str().unwrap();
    assert!(no_auth_fix.contains("-l 127.0.0.1 -U 0`"), "{no_auth}");

    // The firewall command (nft or iptables, whichever the evidence named)
    // runs as printed on the namespace's empty ruleset; the nft one again
    // once its table exists.
    let commands = firewall_commands(fix);
    assert_eq!(commands.len(), 1, "{fix}");
    let runs = if commands[0].starts_with("nft ") { 2 } else { 1 };
    for _ in 0..runs {
        let status = netns.command("bash").args(["-c", &commands[0]]).status().unwrap();
        assert!(status.success(), "{}", commands[0]);
    }
    let listing = netns.command("nft").args(["list", "ruleset"]).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let rule = listing.lines().find(|l| l.contains(&format!("tcp dport {port}")));
    assert!(
        rule.is_some_and(|r| r.contains("iifname != \"lo\"") && r.contains("drop")),
        "{listing}"
    );
    let udp_rule = listing.lines().find(|l| l.contains(&format!("udp dport {port}")));
    assert!(
        udp_rule.is_some_and(|r| r.contains("iifname != \"lo\"") && r.contains("drop")),
        "the reflector's UDP port is dropped too: {listing}"
    );
    // Loopback clients still get in.
    assert!(wait_in(&netns, port), "the rule must spare loopback");
}

/// The commands quoted in a fix (`like this`).
pub(crate) fn quoted(fix: &str) -> Vec<String> {
    fix.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// A memcached in `netns` on every interface (`-l 0.0.0.0`), TCP on
/// `port` and UDP on `udp_port` (0: off), once it answers.
fn memcached_on_every_interface(netns: &Netns, port: u16, udp_port: u16) -> ChildGuard {
    let memcached = ChildGuard::spawn(netns.command("memcached").args([
        "-u",
        "nobody",
        "-l",
        "0.0.0.0",
        "-U",
        &udp_port.to_string(),
        "-p",
        &port.to_string(),
    ]));
    assert!(wait_in(netns, port), "memcached did not start on {port}");
    memcached
}

/// A memcached started by hand in `netns` on every interface, TCP and UDP
/// on `port`, its options on the command line.
fn memcached_by_hand(netns: &Netns, port: u16) -> ChildGuard {
    let memcached = ChildGuard::spawn(netns.command("memcached").args([
        "-u",
        "nobody",
        "--listen=0.0.0.0",
        "-m",
        "16",
        "-U",
        &port.to_string(),
        "-p",
        &port.to_string(),
    ]));
    assert!(wait_in(netns, port), "memcached did not start");
    memcached
}

/// A memcached started by hand with its options on the command line was
/// told to edit Debian's /etc/memcached.conf, which it never read: the fix
/// is now its own command line with the address and UDP options replaced,
/// and running it as printed leaves memcached on loopback with UDP off.
#[test]
fn a_memcached_started_by_hand_is_restarted_with_its_own_command_line() {
    let Some(netns) = netns_with(&["memcached"]) else { return };
    let port = util::unique_port();
    let memcached = memcached_by_hand(&netns, port);
    let json = audit_in(&netns, &port.to_string()).json();
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    assert!(!fix.contains("memcached.conf"), "it read no file: {fix}");
    assert!(fix.contains(&format!("(`--listen=0.0.0.0 -U {port}`)")), "{fix}");
    let commands = quoted(&fix);
    let kill = format!("kill {}", memcached.pid());
    let at = commands.iter().position(|c| *c == kill).unwrap_or_else(|| panic!("{fix}"));
    let start = &commands[at + 1];
    assert_eq!(start, &format!("memcached -u nobody -m 16 -p {port} -l 127.0.0.1 -U 0"), "{fix}");
    // Run as printed: the old one ends, the new one takes its port.
    assert!(Command::new("bash").args(["-c", &kill]).status().unwrap().success());
    let mut memcached = memcached;
    let _ = memcached.0.wait();
    let _restarted =
        ChildGuard::spawn(netns.command("bash").args(["-c", &format!("exec {start}")]));
    assert!(wait_in(&netns, port), "the printed command did not start memcached");
    let json = audit_in(&netns, &port.to_string()).json();
    let left: Vec<&Value> = findings_of(&json, port);
    assert!(left.iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
    assert!(left.iter().all(|f| f["protocol"] != "udp"), "{json:#}");
    let no_auth = finding(&json, port, "no-auth");
    assert!(no_auth["fix"].as_str().unwrap().contains("already listens on loopback only"));
}

/// A rule that drops memcached's TCP port used to count as blocking the
/// whole service: the finding fell to low, `no-auth` to high, and its
/// firewall fix dropped TCP only, while the same process answered every
/// device, unauthenticated, on its UDP port (the amplification reflector
/// the finding is about). The UDP port is judged by the chain too, and the
/// printed command drops what is still open.
#[test]
fn a_firewall_drop_of_memcached_tcp_alone_leaves_its_udp_port_in_the_finding() {
    let Some(netns) = netns_with(&["memcached", "nft"]) else { return };
    let port = util::unique_port();
    let udp_port = util::unique_port();
    let _memcached = memcached_on_every_interface(&netns, port, udp_port);
    netns.run_ok(
        "nft",
        &[&format!(
            "add table inet filter; add chain inet filter input {{ type filter hook input priority 0; }}; add rule inet filter input iifname != \"lo\" tcp dport {port} drop"
        )],
    );
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    assert_eq!(output.code, 1, "UDP is still open to every device: {json:#}");
    assert_eq!(finding(&json, port, "no-auth")["severity"], "critical", "{json:#}");
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["severity"], "high", "{exposed:#}");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("for udp port {udp_port}: nftables input policy accept")),
        "{evidence}"
    );
    assert!(!evidence.contains("likely blocked"), "{evidence}");
    let fix = exposed["fix"].as_str().unwrap();
    let commands = firewall_commands(fix);
    assert_eq!(commands.len(), 1, "{fix}");
    assert!(commands[0].contains(&format!("udp dport {udp_port} drop")), "{fix}");
    assert!(!commands[0].contains(&format!("tcp dport {port}")), "already dropped: {fix}");
    let status = netns.command("bash").args(["-c", &commands[0]]).status().unwrap();
    assert!(status.success(), "{}", commands[0]);

    // Both ports dropped now: the service is graded as out of reach.
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    assert_eq!(output.code, 0, "{json:#}");
    assert_eq!(finding(&json, port, "no-auth")["severity"], "high", "{json:#}");
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["severity"], "low", "{exposed:#}");
    assert!(!exposed["fix"].as_str().unwrap().contains("nft"), "{exposed:#}");
}

#[test]
fn redis_on_all_interfaces_with_protected_mode_is_graded_as_loopback() {
    let Some(netns) = netns_with(&["redis-server"]) else { return };
    let port = util::unique_port();
    let dir = tempfile::tempdir().unwrap();
    let _redis = ChildGuard::spawn(
        netns
            .command("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "0.0.0.0",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null()),
    );
    assert!(wait_in(&netns, port), "redis-server did not start");
    // What protected mode does: a client from another address is denied.
    netns.run_ok("ip", &["addr", "add", "10.77.0.1/32", "dev", "lo"]);
    let denied = netns
        .command("python3")
        .args([
            "-c",
            "import socket,sys; s=socket.create_connection(('10.77.0.1',int(sys.argv[1])),2); s.sendall(b'PING\\r\\n'); print(s.recv(7).decode())",
        ])
        .arg(port.to_string())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&denied.stdout).trim(), "-DENIED");

    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    let open = finding(&json, port, "no-auth");
    assert_eq!(open["severity"], "high", "graded as the loopback case: {open:#}");
    assert!(open["evidence"].as_str().unwrap().contains("protected mode is on"), "{open:#}");
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["severity"], "low", "{exposed:#}");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(!evidence.contains("other devices can connect"), "{evidence}");
    assert!(evidence.contains("protected mode"), "{evidence}");
    assert!(!exposed["fix"].as_str().unwrap().contains("protected-mode yes"), "{exposed:#}");
    assert_eq!(output.code, 0, "{json:#}");
}

/// Starts `redis-server ARGS…` in `netns` and waits for its port.
fn redis_in(netns: &Netns, port: u16, args: &[String]) -> ChildGuard {
    let redis = ChildGuard::spawn(netns.command("redis-server").args(args).stdout(Stdio::null()));
    assert!(wait_in(netns, port), "redis-server {args:?} did not start");
    redis
}

#[test]
fn a_redis_bind_fix_goes_where_the_server_reads_its_settings_and_repairs_it() {
    let Some(netns) = netns_with(&["redis-server"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let open = |port: u16| -> Vec<String> {
        ["--port", &port.to_string(), "--bind", "0.0.0.0", "--protected-mode", "no"]
            .into_iter()
            .chain(["--save", "", "--appendonly", "no", "--dir", &data])
            .map(str::to_string)
            .collect()
    };

    // Started with options only: a line in some redis.conf would not be
    // read; the fix adds the options to its command, and doing so works.
    let port = util::unique_port();
    let redis = redis_in(&netns, port, &open(port));
    let json = audit_in(&netns, &port.to_string()).json();
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    let added = "--bind 127.0.0.1 -::1 --protected-mode yes";
    let no_auth = finding(&json, port, "no-auth")["fix"].as_str().unwrap().to_string();
    assert_eq!(
        no_auth,
        "it runs without a config file: add `--requirepass <long random secret> --bind 127.0.0.1 -::1` to the command that starts it (or ACL users instead of requirepass)"
    );
    assert!(fix.starts_with(&format!("it runs without a config file: add `{added}`")), "{fix}");
    drop(redis);
    let mut repaired = open(port);
    repaired.extend(added.split(' ').map(str::to_string));
    let _redis = redis_in(&netns, port, &repaired);
    let json = audit_in(&netns, &port.to_string()).json();
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");

    // Started with a file: the fix names that file, and its lines work.
    let port = util::unique_port();
    let config = dir.path().join("cache.conf");
    let lines = format!(
        "port {port}\nbind 0.0.0.0\nprotected-mode no\nsave \"\"\nappendonly no\ndir {data}\n"
    );
    std::fs::write(&config, &lines).unwrap();
    let config = config.to_str().unwrap().to_string();
    let redis = redis_in(&netns, port, std::slice::from_ref(&config));
    let fix = finding(&audit_in(&netns, &port.to_string()).json(), port, "exposed-service")["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        fix.starts_with(&format!(
            "set `bind 127.0.0.1 -::1` and `protected-mode yes` in {config}, then restart"
        )),
        "{fix}"
    );
    drop(redis);
    std::fs::write(&config, format!("{lines}bind 127.0.0.1 -::1\nprotected-mode yes\n")).unwrap();
    let _redis = redis_in(&netns, port, &[config]);
    let json = audit_in(&netns, &port.to_string()).json();
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
}

/// A Python `http.server` bound to one address: answers any Host.
const ANY_HOST: &str = r#"
import http.server, socket, sys
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = Server((sys.argv[1], 0), Quiet)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn dns_rebinding_evidence_and_fix_use_the_address_probed() {
    for (address, host) in [("127.0.0.2", "127.0.0.2"), ("::1", "[::1]")] {
        let (_server, mut ready) = util::python(ANY_HOST, &[address]);
        let port: u16 = util::wait_for_line(&mut ready).parse().unwrap();
        let (_, json) = crate::audit::audit(port, &[]);
        let rebinding = finding(&json, port, "dns-rebinding");
        let evidence = rebinding["evidence"].as_str().unwrap();
        assert!(evidence.contains(&format!("Host: {host}:{port}")), "{address}: {evidence}");
        assert!(!evidence.contains("Host: 127.0.0.1"), "{address}: {evidence}");
        let fix = rebinding["fix"].as_str().unwrap();
        assert!(fix.contains(&format!("{host}:{port}")), "{address}: {fix}");
    }
}

#[test]
fn hostile_greetings_are_sanitised_in_text_exact_in_json_and_bounded() {
    let Some(netns) = Netns::create() else { return };
    let (escapes, huge) = (util::unique_port(), util::unique_port());
    let hostile = b"SSH-2.0-Evil\x1b]0;owned\x07\x1b[2J\r\n";
    let long = format!("220 {}\r\n", "A".repeat(100_000));
    let (_server, _) = util::answering(
        netns.command("python3"),
        &[
            Answering::greeting("0.0.0.0", escapes, hostile),
            Answering::greeting("0.0.0.0", huge, long.as_bytes()),
        ],
    );
    assert!(wait_in(&netns, escapes) && wait_in(&netns, huge));
    let ports = format!("{escapes},{huge}");
    let args = ["audit", "--port", &ports, "--skip", "outdated-package", "--fail-on", "never"];

    let text = netns.porthole(&args);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(!text.stdout.contains(['\x1b', '\x07']), "raw escapes reached the terminal");
    assert!(text.stdout.contains(r"SSH-2.0-Evil\x1b]0;owned\x07"), "{}", text.stdout);
    let widest = text.stdout.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest < 1000, "a banner stretched the table to {widest} characters");

    let json = netns.porthole(&[&args[..], &["--json"]].concat()).json();
    let version = |port: u16| {
        json["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["local_port"] == port)
            .and_then(|s| s["version"].as_str())
            .unwrap_or_else(|| panic!("no version for {port}: {json:#}"))
            .to_string()
    };
    assert_eq!(version(escapes), "SSH-2.0-Evil\x1b]0;owned\x07\x1b[2J", "exact in JSON");
    let cut = version(huge);
    assert!(cut.starts_with("AAAA") && cut.ends_with('…'), "{cut}");
    assert!(cut.chars().count() <= 81, "{} characters", cut.chars().count());
    for finding in findings_of(&json, huge) {
        assert!(finding["service"].as_str().unwrap().chars().count() < 100, "{finding}");
    }
}

#[test]
fn a_firewall_rule_counts_only_for_its_protocol_and_is_named() {
    let Some(netns) = netns_with(&["nft"]) else { return };
    let (udp_dropped, tcp_dropped) = (util::unique_port(), util::unique_port());
    let (_server, _) = util::answering(
        netns.command("python3"),
        &[
            Answering::greeting("0.0.0.0", udp_dropped, b"hello\n"),
            Answering::greeting("0.0.0.0", tcp_dropped, b"hello\n"),
        ],
    );
    assert!(wait_in(&netns, udp_dropped) && wait_in(&netns, tcp_dropped));
    let rules = format!(
        "add table inet filter; add chain inet filter input {{ type filter hook input priority 0; policy accept; }}; \
         add rule inet filter input udp dport {udp_dropped} drop; \
         add rule inet filter input iifname != \"lo\" tcp dport {tcp_dropped} drop"
    );
    netns.run_ok("nft", &[&rules]);
    let ports = format!("{udp_dropped},{tcp_dropped}");
    let output = audit_in(&netns, &ports);
    let json = output.json();

    // A UDP rule says nothing about the TCP listener on the same number.
    let open = finding(&json, udp_dropped, "exposed-service");
    let evidence = open["evidence"].as_str().unwrap();
    assert!(evidence.contains("other devices can connect"), "{evidence}");
    assert!(!evidence.contains("blocked"), "{evidence}");
    assert_eq!(open["severity"], "low", "{open:#}");
    assert!(open["fix"].as_str().unwrap().contains(&format!("tcp dport {udp_dropped} drop")));

    // A TCP rule overrides the accept policy, and the evidence says so
    // instead of "policy accept: … blocked".
    let closed = finding(&json, tcp_dropped, "exposed-service");
    let evidence = closed["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!(
            "nftables input policy accept, but a rule drops tcp port {tcp_dropped}: other devices are likely blocked"
        )),
        "{evidence}"
    );
    assert_eq!(closed["severity"], "info", "{closed:#}");
    assert!(!closed["fix"].as_str().unwrap().contains("nft"), "already dropped: {closed:#}");
}

/// An HTTP server on 127.0.0.1 whose `/` redirects, by `argv[1]`:
/// `canonical` sends every Host but `localhost:PORT` to
/// `http://localhost:PORT/`; `login` sends everyone to `/login`, a page it
/// serves to any Host; `foreign` sends only other Hosts away.
pub(crate) const REDIRECTING: &str = r#"
import http.server, sys
mode = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        port = self.server.server_address[1]
        host = self.headers.get("Host", "")
        own = host in ("127.0.0.1:%d" % port, "localhost:%d" % port)
        if mode == "canonical" and host != "localhost:%d" % port:
            return self.answer(301, b"", "http://localhost:%d/" % port)
        if mode == "foreign" and not own:
            return self.answer(301, b"", "http://127.0.0.1:%d/" % port)
        if mode == "login" and self.path == "/":
            return self.answer(302, b"", "/login")
        self.answer(200, b"<html>notes of " + self.path.encode() + b"</html>", None)
    def answer(self, status, body, location):
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn redirects_are_judged_by_where_they_land() {
    for (mode, rebindable) in [("canonical", false), ("foreign", false), ("login", true)] {
        let (_server, mut ready) = util::python(REDIRECTING, &[mode]);
        let port: u16 = util::wait_for_line(&mut ready).parse().unwrap();
        let (_, json) = crate::audit::audit(port, &["--skip", "root-service"]);
        let found = findings_of(&json, port).into_iter().find(|f| f["rule"] == "dns-rebinding");
        assert_eq!(found.is_some(), rebindable, "{mode}: {json:#}");
        if let Some(found) = found {
            let evidence = found["evidence"].as_str().unwrap();
            assert!(
                evidence.ends_with(&format!(
                    "with Host: rebind.example:{port} → 302 /login → 200 (same answer)"
                )),
                "{evidence}"
            );
        }
    }
}

#[test]
fn each_listener_is_judged_by_the_firewall_of_its_address_family() {
    let Some(netns) = netns_with(&["nft"]) else { return };
    // A non-loopback IPv6 address (on lo: the kernel may lack dummy links),
    // so the IPv6 listener is exposed.
    netns.run_ok("ip", &["-6", "addr", "add", "fd00:5::1/128", "dev", "lo", "nodad"]);
    let (v4, v6) = (util::unique_port(), util::unique_port());
    let (_server, _) = util::answering(
        netns.command("python3"),
        &[
            Answering::greeting("0.0.0.0", v4, b"hello\n"),
            Answering::greeting("fd00:5::1", v6, b"hello\n"),
        ],
    );
    assert!(wait_in(&netns, v4));
    // Only IPv4 is filtered: an `ip` table with policy drop.
    netns.run_ok(
        "nft",
        &["add table ip only4; add chain ip only4 input { type filter hook input priority 0; policy drop; }; add rule ip only4 input iifname \"lo\" accept"],
    );
    let ports = format!("{v4},{v6}");
    let output = audit_in(&netns, &ports);
    let json = output.json();

    let ipv4 = finding(&json, v4, "exposed-service");
    let evidence = ipv4["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("nftables input policy drop: other devices are likely blocked"),
        "{evidence}"
    );

    // The IPv4 table's policy says nothing about IPv6.
    let ipv6 = finding(&json, v6, "exposed-service");
    assert_eq!(ipv6["local_address"], "fd00:5::1", "{ipv6:#}");
    let evidence = ipv6["evidence"].as_str().unwrap();
    assert!(evidence.contains("other devices can connect"), "{evidence}");
    assert!(!evidence.contains("policy drop"), "{evidence}");
    let fix = ipv6["fix"].as_str().unwrap();
    assert!(!fix.contains("127.0.0.1:") || fix.contains("[::1]"), "{fix}");
    // The firewall command it prints covers IPv6 and runs as printed.
    let commands = firewall_commands(fix);
    assert_eq!(commands.len(), 1, "{fix}");
    assert!(!commands[0].starts_with("iptables "), "iptables does not filter IPv6: {fix}");
    let status = netns.command("bash").args(["-c", &commands[0]]).status().unwrap();
    assert!(status.success(), "{}", commands[0]);
    let again = audit_in(&netns, &v6.to_string());
    let json = again.json();
    let evidence = finding(&json, v6, "exposed-service")["evidence"].as_str().unwrap().to_string();
    assert!(evidence.contains("likely blocked"), "after the fix: {evidence}");
}

#[test]
fn an_escape_in_one_header_hides_neither_the_others_nor_reaches_the_terminal() {
    // `Server` carries a terminal escape, `Access-Control-Allow-Origin` is `*`.
    let reply = b"HTTP/1.1 200 OK\r\nServer: tidy\x1b]0;owned\x07\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let listener = Answering::replying("127.0.0.1", 0, reply);
    let (_server, ports) = util::answering(Command::new("python3"), &[listener]);
    let port = ports[0];
    let args = ["audit", "--port", &port.to_string(), "--skip", "outdated-package"];
    let json = util::porthole_run(&[&args[..], &["--json"]].concat()).json();
    let cors = finding(&json, port, "cors-any-origin");
    assert!(
        cors["evidence"].as_str().unwrap().contains("Access-Control-Allow-Origin: *"),
        "{cors}"
    );
    assert_eq!(cors["service"], "http (tidy\x1b]0;owned\x07)", "exact in JSON: {cors}");
    let text = util::porthole_run(&args);
    assert!(!text.stdout.contains(['\x1b', '\x07']), "raw escapes reached the terminal");
    assert!(text.stdout.contains(r"tidy\x1b]0;owned\x07"), "{}", text.stdout);
}

#[test]
fn an_inspector_from_node_options_is_traced_to_the_environment() {
    if !require("node") {
        return;
    }
    let mut command = Command::new("node");
    command
        .args(["-e", "setInterval(() => {}, 1000)"])
        .env("NODE_OPTIONS", "--inspect=127.0.0.1:0")
        .stderr(Stdio::piped());
    let mut node = ChildGuard::spawn(&mut command);
    let pid = node.pid();
    let mut stderr = std::io::BufReader::new(node.0.stderr.take().unwrap());
    let line = util::wait_for_line(&mut stderr);
    let port = crate::audit::inspector_port(&line);
    let (_, json) = crate::audit::audit(port, &[]);
    let fix = finding(&json, port, "debugger-exposed")["fix"].as_str().unwrap().to_string();
    assert!(fix.starts_with(&format!("pid {pid} (node) gets `")), "{fix}");
    assert!(fix.contains("from NODE_OPTIONS in its environment"), "{fix}");
    // The option it quotes is the one the process's environment holds.
    let quoted = fix.split('`').nth(1).expect("a quoted option");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let held = environ
        .split(|&byte| byte == 0)
        .find_map(|entry| entry.strip_prefix(b"NODE_OPTIONS="))
        .map(|value| String::from_utf8_lossy(value).into_owned());
    assert_eq!(held.as_deref(), Some(quoted), "{fix}");
}

#[test]
fn an_ipv6_only_wildcard_is_judged_by_the_ipv6_chain_alone() {
    let Some(netns) = netns_with(&["nft"]) else { return };
    let (v6only, dual) = (util::unique_port(), util::unique_port());
    let (_server, _) = util::answering(
        netns.command("python3"),
        &[
            Answering { v6only: Some(true), ..Answering::greeting("::", v6only, b"hello\n") },
            Answering { v6only: Some(false), ..Answering::greeting("::", dual, b"hello\n") },
        ],
    );
    // IPv4 is let in, IPv6 from other devices dropped.
    netns.run_ok(
        "nft",
        &["add table ip open4; add chain ip open4 input { type filter hook input priority 0; policy accept; }; add table ip6 shut6; add chain ip6 shut6 input { type filter hook input priority 0; policy drop; }; add rule ip6 shut6 input iifname \"lo\" accept"],
    );
    let output = audit_in(&netns, &format!("{v6only},{dual}"));
    let json = output.json();

    // No IPv4 client reaches the IPV6_V6ONLY socket: the IPv4 policy is
    // beside the point.
    let only = finding(&json, v6only, "exposed-service");
    let evidence = only["evidence"].as_str().unwrap();
    assert!(evidence.contains("IPV6_V6ONLY"), "{evidence}");
    assert!(evidence.contains("other devices are likely blocked"), "{evidence}");
    assert!(!evidence.contains("policy accept"), "{evidence}");
    assert_eq!(only["severity"], "info", "{only:#}");
    assert!(firewall_commands(only["fix"].as_str().unwrap()).is_empty(), "{only:#}");

    // The dual-stack one takes IPv4 clients, which the IPv4 chain admits.
    let both = finding(&json, dual, "exposed-service");
    let evidence = both["evidence"].as_str().unwrap();
    assert!(evidence.contains("other devices can connect"), "{evidence}");
    assert!(evidence.contains("every interface"), "{evidence}");
    // The summary names both chains when both families are reached…
    assert_eq!(json["firewall"]["input_policy"], "accept", "{:#}", json["firewall"]);
    assert_eq!(json["firewall"]["ipv6"], "nftables input policy drop", "{:#}", json["firewall"]);

    // …and the IPv6 one alone for the IPV6_V6ONLY listener: the IPv4
    // chain's accept is not what its clients meet.
    let output = audit_in(&netns, &v6only.to_string());
    let json = output.json();
    assert_eq!(json["firewall"]["input_policy"], "drop", "{:#}", json["firewall"]);
    assert_eq!(json["firewall"]["ipv6"], Value::Null, "{:#}", json["firewall"]);
    let text =
        netns.porthole(&["audit", "--port", &v6only.to_string(), "--skip", "outdated-package"]);
    let summary = format!("{}{}", text.stdout, text.stderr);
    assert!(summary.contains("nftables input policy drop"), "{summary}");
    assert!(!summary.contains("policy accept"), "{summary}");
}

/// An HTTP server on `[::]:PORT` with `IPV6_V6ONLY` that answers every
/// Host the same; prints `ready` once it listens.
const V6ONLY_HTTP: &str = r#"
import http.server, socket, sys
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>hello</body></html>")
    def log_message(self, *args):
        pass
server = Server(("::", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"#;

/// The DNS-rebinding allow list of an IPv6-only server named
/// `127.0.0.1:PORT` among its own names, an address no request to it can
/// carry; it names only the loopback of the family that reaches it.
#[test]
fn the_allow_list_of_an_ipv6_only_server_names_no_ipv4_loopback() {
    let Some(netns) = Netns::create() else { return };
    let port = util::unique_port();
    let (_server, mut ready) = util::python_in(&netns, V6ONLY_HTTP, &[&port.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ready");
    let json = audit_in(&netns, &port.to_string()).json();
    let fix = finding(&json, port, "dns-rebinding")["fix"].as_str().unwrap().to_string();
    assert!(fix.contains(&format!("[::1]:{port}")), "{fix}");
    assert!(!fix.contains(&format!("127.0.0.1:{port}")), "{fix}");
}

/// `iptables` on Debian is iptables-nft: a rule added with it leaves an
/// nftables `ip filter` table and no IPv6 one, so a `[::]` listener's IPv4
/// chain is read from nftables and its IPv6 chain from ip6tables. The
/// printed firewall command used to be `ip6tables` alone, which left every
/// IPv4 client getting in; it is one nft `inet` rule, which both families
/// pass, and after it the listener is judged blocked.
#[test]
fn a_dual_stack_listener_with_ipv4_rules_in_nftables_only_is_dropped_for_both_families() {
    let Some(netns) = netns_with(&["nft", "ip6tables"]) else { return };
    netns.run_ok(
        "nft",
        &["add table ip filter; add chain ip filter input { type filter hook input priority 0; policy accept; }"],
    );
    let port = util::unique_port();
    let _server = ChildGuard::spawn(
        netns
            .command("python3")
            .args(["-m", "http.server", "--bind", "::", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_in(&netns, port), "the server did not start");
    let json = audit_in(&netns, &port.to_string()).json();
    let exposed = finding(&json, port, "exposed-service");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("ip6tables input policy accept; nftables input policy accept"),
        "{evidence}"
    );
    let fix = exposed["fix"].as_str().unwrap();
    let commands = firewall_commands(fix);
    assert_eq!(commands.len(), 1, "{fix}");
    assert!(commands[0].starts_with("nft "), "IPv4 is read from nftables: {fix}");
    let status = netns.command("sh").args(["-c", &commands[0]]).status().unwrap();
    assert!(status.success(), "{}", commands[0]);
    let json = audit_in(&netns, &port.to_string()).json();
    let exposed = finding(&json, port, "exposed-service");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(evidence.contains("likely blocked"), "both families are dropped now: {evidence}");
    assert!(wait_in(&netns, port), "the rule must spare loopback");
}

#[test]
fn postgres_trusting_loopback_only_is_not_critical_on_all_interfaces() {
    let Some(netns) = Netns::create() else { return };
    let hba = |network: &str| {
        format!("local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all 0.0.0.0/0 {network}\n")
    };
    // 10.77.0.1, an address of the namespace that is not loopback, is
    // where another device's login is judged from.
    let Some((dir, postmaster, port)) = postgres_in(&netns, &hba("scram-sha-256")) else { return };
    let json = postgres_audit(&netns, port);
    let trust = finding(&json, port, "trust-auth");
    assert_eq!(trust["severity"], "high", "other devices are asked for a password: {trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(evidence.contains("loopback clients only"), "{evidence}");
    assert!(evidence.contains("line 2 `host all all 127.0.0.1/32 trust`"), "{evidence}");

    // Trusting every address is critical again.
    let hba_file = dir.path().join("data").join("pg_hba.conf");
    std::fs::write(&hba_file, hba("trust")).unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(postmaster.pid() as i32).unwrap(),
        rustix::process::Signal::HUP,
    )
    .unwrap();
    let mut last = Value::Null;
    let critical = eventually(START, || {
        last = postgres_audit(&netns, port);
        findings_of(&last, port)
            .iter()
            .any(|f| f["rule"] == "trust-auth" && f["severity"] == "critical")
    });
    assert!(critical, "{last:#}");
    let evidence = finding(&last, port, "trust-auth")["evidence"].as_str().unwrap().to_string();
    assert!(!evidence.contains("loopback clients only"), "{evidence}");
}

/// A PostgreSQL on 0.0.0.0:PORT in `netns`, run by user postgres on a fresh
/// data directory whose pg_hba.conf is `hba`; 10.77.0.1 is an address of
/// the namespace that is not loopback (on lo).
fn postgres_in(netns: &Netns, hba: &str) -> Option<(tempfile::TempDir, ChildGuard, u16)> {
    postgres_in_with(netns, hba, &[], util::unique_port())
}

/// As [`postgres_in`]; with `conf_d` files (name, text), `listen_addresses`
/// is not on the command line: `postgresql.conf` gets `include_dir
/// 'conf.d'`, and the files go into `conf.d`. It listens on `port`
/// (PostgreSQL's own 5432 is free in a namespace of the test's).
fn postgres_in_with(
    netns: &Netns,
    hba: &str,
    conf_d: &[(&str, &str)],
    port: u16,
) -> Option<(tempfile::TempDir, ChildGuard, u16)> {
    postgres_started(netns, hba, conf_d, port, None)
}

/// As [`postgres_in_with`]; with `socket_only`, a directory, the server
/// listens on no address (`listen_addresses=''`), only on its Unix socket
/// file in that directory.
pub(crate) fn postgres_started(
    netns: &Netns,
    hba: &str,
    conf_d: &[(&str, &str)],
    port: u16,
    socket_only: Option<&std::path::Path>,
) -> Option<(tempfile::TempDir, ChildGuard, u16)> {
    let Some(bin) = crate::audit::postgres_bin() else {
        util::skip("postgresql not installed");
        return None;
    };
    netns.run_ok("ip", &["addr", "add", "10.77.0.1/32", "dev", "lo"]);
    let dir = crate::audit::shared_tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    crate::audit::chown(&data, "postgres");
    let as_postgres = |program: &str| {
        let mut command = netns.command("setpriv");
        command
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
            .arg(bin.join(program));
        command
    };
    let init = util::run(
        as_postgres("initdb")
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
    crate::audit::chown(&data.join("pg_hba.conf"), "postgres");
    let mut listen = vec!["-c", "listen_addresses=0.0.0.0"];
    if !conf_d.is_empty() {
        listen.clear();
        let conf = data.join("postgresql.conf");
        let mut main = std::fs::read_to_string(&conf).unwrap();
        main.push_str("include_dir 'conf.d'\n");
        std::fs::write(&conf, main).unwrap();
        std::fs::create_dir(data.join("conf.d")).unwrap();
        for (name, text) in conf_d {
            std::fs::write(data.join("conf.d").join(name), text).unwrap();
        }
    }
    let socket_directory = socket_only.unwrap_or(&data).to_str().unwrap().to_string();
    if socket_only.is_some() {
        listen = vec!["-c", "listen_addresses="];
    }
    let postmaster = ChildGuard::spawn(
        as_postgres("postgres")
            .args(["-D", data.to_str().unwrap(), "-p", &port.to_string()])
            .args(["-k", &socket_directory, "-c", "fsync=off"])
            .args(&listen)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    if socket_only.is_none() {
        assert!(wait_in(netns, port), "postgres did not start on {port}");
    }
    assert!(
        crate::audit::postgres_ready_at(&bin, &socket_directory, port, Some(netns)),
        "postgres on {port} accepts no logins"
    );
    Some((dir, postmaster, port))
}

/// `porthole audit --netns all --port PORT --json` from this namespace,
/// with `extra` options.
pub(crate) fn netns_all_audit(port: u16, extra: &[&str]) -> Value {
    let port = port.to_string();
    let mut args =
        vec!["audit", "--netns", "all", "--port", &port, "--json", "--skip", "outdated-package"];
    args.extend_from_slice(extra);
    let output = util::porthole_run(&args);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output.json()
}

/// The `trust-auth` finding of `audit --netns all --active` for `port`.
fn netns_all_trust_finding(port: u16) -> Value {
    finding(&netns_all_audit(port, &["--active"]), port, "trust-auth").clone()
}

/// Runs the restart in `fix` as printed, from this (the caller's)
/// namespace: `kill PID` of `server`, then the command quoted after it,
/// through `sh -c` as a user pastes it. The started command is returned
/// for the caller's checks; its processes end with the guard.
pub(crate) fn restart_as_printed(fix: &str, server: ChildGuard) -> (String, GroupGuard) {
    let commands = quoted(fix);
    let kill = format!("kill {}", server.pid());
    let at = commands.iter().position(|c| *c == kill).unwrap_or_else(|| panic!("{fix}"));
    let start = commands.get(at + 1).unwrap_or_else(|| panic!("no restart in {fix}")).clone();
    assert!(Command::new("sh").args(["-c", &kill]).status().unwrap().success());
    let mut server = server;
    let _ = server.0.wait();
    let restarted = GroupGuard::spawn(
        Command::new("sh").args(["-c", &start]).stdout(Stdio::null()).stderr(Stdio::null()),
    );
    (start, restarted)
}

/// With `--netns all`, the restart line of a memcached in a named
/// namespace started it again in the caller's namespace; it now runs
/// through `ip netns exec NAME`, and run as printed from here it leaves
/// that namespace's memcached on loopback with UDP off.
#[test]
fn netns_all_restarts_a_memcached_in_its_own_namespace() {
    let Some(netns) = netns_with(&["memcached"]) else { return };
    let port = util::unique_port();
    let memcached = memcached_by_hand(&netns, port);
    let json = netns_all_audit(port, &[]);
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["net_namespace"], util::netns_inode(&netns), "{exposed:#}");
    let fix = exposed["fix"].as_str().unwrap();
    let (start, _restarted) = restart_as_printed(fix, memcached);
    assert_eq!(
        start,
        format!(
            "ip netns exec {} memcached -u nobody -m 16 -p {port} -l 127.0.0.1 -U 0",
            netns.name
        ),
        "{fix}"
    );
    assert!(wait_in(&netns, port), "the printed command did not start memcached there");
    let json = audit_in(&netns, &port.to_string()).json();
    let left = findings_of(&json, port);
    assert!(left.iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
    assert!(left.iter().all(|f| f["protocol"] != "udp"), "{json:#}");
    // Nothing of it in this namespace.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "it started here");
}

/// With `--netns all`, a PostgreSQL in another namespace that asks its
/// loopback login for a password was never logged in to from a
/// non-loopback address of its namespace, so `trust` for 10.0.0.0/8 went
/// unseen; the second login is now made from inside that namespace.
#[test]
fn netns_all_logs_in_to_another_namespace_postgres_from_its_own_address() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 10.0.0.0/8 trust\n";
    let Some((_dir, _postmaster, port)) = postgres_in(&netns, hba) else { return };
    let trust = netns_all_trust_finding(port);
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(evidence.contains("from 10.77.0.1"), "{evidence}");
    assert!(evidence.contains("10.0.0.0/8"), "the line that trusts it is named: {evidence}");
    assert_eq!(trust["severity"], "critical", "{trust:#}");
}

/// With `--netns all`, the pg_hba.conf of a PostgreSQL in another network
/// namespace is judged by that namespace's addresses: `samehost` there is
/// not another device, and 192.0.2.0/24 holds none of its addresses.
#[test]
fn netns_all_judges_another_namespace_pg_hba_conf_by_its_own_addresses() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all app samehost trust\nhost all all 192.0.2.0/24 trust\n";
    let Some((dir, _postmaster, port)) = postgres_in(&netns, hba) else { return };
    let trust = netns_all_trust_finding(port);
    assert_eq!(trust["severity"], "critical", "{trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    let file = dir.path().join("data").join("pg_hba.conf");
    assert!(
        evidence.contains(&format!(
            "{} line 3 `host all app samehost trust` (this machine's own addresses)",
            file.display()
        )),
        "{evidence}"
    );
    assert!(evidence.contains("line 4 `host all all 192.0.2.0/24 trust` (other devices, from a network that holds none of this machine's addresses)"), "{evidence}");
    let fix = trust["fix"].as_str().unwrap();
    assert!(fix.contains("'3{") && fix.contains(";4{"), "both records are edited: {fix}");
}

fn postgres_audit(netns: &Netns, port: u16) -> Value {
    let port = port.to_string();
    let args = ["audit", "--port", &port, "--json", "--skip", "outdated-package", "--active"];
    let output = netns.porthole(&args);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output.json()
}

/// A PostgreSQL ([`postgres_in`]) in a namespace of its own, and the
/// `trust-auth` finding of its audit.
struct TrustingPostgres {
    // Fields drop in order: the server stops before its directory and its
    // namespace go.
    postmaster: ChildGuard,
    dir: tempfile::TempDir,
    netns: Netns,
    port: u16,
    /// Its pg_hba.conf.
    hba_file: std::path::PathBuf,
    /// The `trust-auth` finding of its first audit.
    trust: Value,
}

impl TrustingPostgres {
    /// Started on `hba` and audited; `None` (a skip) without PostgreSQL.
    fn start(hba: &str) -> Option<Self> {
        let netns = Netns::create()?;
        let (dir, postmaster, port) = postgres_in(&netns, hba)?;
        let hba_file = dir.path().join("data").join("pg_hba.conf");
        let trust = finding(&postgres_audit(&netns, port), port, "trust-auth").clone();
        Some(TrustingPostgres { postmaster, dir, netns, port, hba_file, trust })
    }

    fn evidence(&self) -> &str {
        self.trust["evidence"].as_str().expect("evidence")
    }

    fn fix(&self) -> &str {
        self.trust["fix"].as_str().expect("fix")
    }

    /// Runs the fix's edit and reload as printed; pg_hba.conf as edited.
    fn fix_as_printed(&self) -> String {
        run_edit_and_reload(self.fix(), self.dir.path(), Some(self.postmaster.pid()));
        std::fs::read_to_string(&self.hba_file).unwrap()
    }
}

/// Gives user postgres a password, through the Unix socket of the server
/// [`postgres_in`] started in `dir`, as a fix's `\password` would.
fn set_postgres_password(netns: &Netns, dir: &std::path::Path, port: u16) {
    let sql = format!("ALTER USER postgres PASSWORD '{}'", "Zq8-unguessable-4m");
    let socket = dir.join("data");
    let set = util::run(
        netns
            .command("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--", "psql"])
            .args(["-h", socket.to_str().unwrap(), "-p", &port.to_string(), "-c", &sql]),
    );
    assert_eq!(set.code, 0, "{set:?}");
}

/// A `\` at the end of a pg_hba.conf line continues the record (PostgreSQL
/// 14 and later; the installed 15 reads it so, as its own
/// `pg_hba_file_rules` shows). The printed `sed` edited only the record's
/// first line, where the method was not, so the fix ran and changed
/// nothing. Run as printed, it now changes the method where it is.
#[test]
fn the_fix_of_a_trust_record_continued_over_lines_changes_its_method() {
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 192.0.2.0/24 \\\n    trust\nhost all all 0.0.0.0/0 scram-sha-256\n";
    let Some(postgres) = TrustingPostgres::start(hba) else { return };
    let line = format!("{} line 3 `host all all 192.0.2.0/24 trust`", postgres.hba_file.display());
    assert!(postgres.evidence().contains(&line), "{}", postgres.evidence());
    let edited = postgres.fix_as_printed();
    assert!(
        edited.contains("host all all 192.0.2.0/24 \\\n    scram-sha-256\n"),
        "the continued record keeps its form: {edited}"
    );
    assert_trust_auth_goes(&postgres.netns, postgres.port);
}

/// `@file` user lists in pg_hba.conf were shown as written (`@admins`): the
/// evidence did not say who gets in. The file is now read as the server
/// reads it, and the evidence names its users. (A line whose files name no
/// one is refused by the server, which then does not start: the unit tests
/// of `postgres_hba` cover it.)
#[test]
fn at_file_user_lists_in_pg_hba_conf_are_read_for_the_evidence() {
    let Some(netns) = Netns::create() else { return };
    // The list must exist before the server reads pg_hba.conf.
    let lists = crate::audit::shared_tempdir();
    let admins = lists.path().join("admins");
    std::fs::write(&admins, "alice, bob # not carol\n").unwrap();
    let hba = format!(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all @{} 192.0.2.0/24 trust\nhost all all 0.0.0.0/0 scram-sha-256\n",
        admins.display()
    );
    let Some((dir, _postmaster, port)) = postgres_in(&netns, &hba) else { return };
    let data = dir.path().join("data");
    let view = server_reading(&netns, &data, port, "line_number, user_name");
    assert!(view.contains("3|{alice,bob}\n"), "the server's reading: {view}");
    let json = postgres_audit(&netns, port);
    let trust = finding(&json, port, "trust-auth");
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(evidence.contains("line 3 `host all alice,bob 192.0.2.0/24 trust`"), "{evidence}");
}

#[test]
fn postgres_trusting_samehost_is_not_critical_and_its_printed_fix_repairs_it() {
    // `samehost` admits every address of this machine and no other device:
    // a second login from 10.77.0.1 is trusted, yet no other device is.
    let hba =
        "local all all trust\nhost all all samehost trust # trust this machine\nhost all all 0.0.0.0/0 scram-sha-256\n";
    let Some(postgres) = TrustingPostgres::start(hba) else { return };
    let (trust, port) = (&postgres.trust, postgres.port);
    assert_eq!(trust["severity"], "high", "only this machine is trusted: {trust:#}");
    let line = format!("{} line 2 `host all all samehost trust`", postgres.hba_file.display());
    assert!(postgres.evidence().contains(&line), "{}", postgres.evidence());
    let fix = postgres.fix();
    assert!(fix.contains(&format!("psql -h 127.0.0.1 -p {port} -U postgres")), "{fix}");

    // The fix as printed: a password first (here through the socket, as
    // `\password` prompts on a terminal), then its edit and its reload.
    set_postgres_password(&postgres.netns, postgres.dir.path(), port);
    let edited = postgres.fix_as_printed();
    // A comment that says `trust` is not the method: the edit leaves it.
    assert!(
        edited.contains("host all all samehost scram-sha-256 # trust this machine\n"),
        "{edited}"
    );
    assert!(edited.starts_with("local all all trust\n"), "the socket line is left: {edited}");
    assert_trust_auth_goes(&postgres.netns, port);
}

/// A PostgreSQL that asks loopback logins for a password and trusts a
/// network (`host all all 10.0.0.0/8 trust`): the loopback login alone
/// found nothing, so the audit was clean while other devices got in as
/// the superuser. A second login from an address of the machine that is
/// not loopback finds the trust, and its printed fix repairs it.
#[test]
fn postgres_trusting_a_network_but_not_loopback_is_critical_and_its_fix_repairs_it() {
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 10.0.0.0/8 trust\n";
    let Some(postgres) = TrustingPostgres::start(hba) else { return };
    let (trust, port) = (&postgres.trust, postgres.port);
    assert_eq!(trust["severity"], "critical", "{trust:#}");
    let evidence = postgres.evidence();
    assert!(evidence.starts_with("from 10.77.0.1, an address of this machine"), "{evidence}");
    let line = format!("{} line 3 `host all all 10.0.0.0/8 trust`", postgres.hba_file.display());
    assert!(evidence.contains(&line), "{evidence}");
    let fix = postgres.fix();
    assert!(fix.contains(&format!("psql -h 10.77.0.1 -p {port} -U postgres")), "{fix}");

    set_postgres_password(&postgres.netns, postgres.dir.path(), port);
    let edited = postgres.fix_as_printed();
    assert!(edited.contains("host all all 10.0.0.0/8 scram-sha-256\n"), "{edited}");
    assert_trust_auth_goes(&postgres.netns, port);
}

/// `host all all 192.0.2.0/24 trust` admits a network that holds none of
/// the machine's addresses: the loopback login and the one from 10.77.0.1
/// are both asked for a password, so the audit was clean while every device
/// of that network got in as the superuser. pg_hba.conf is now read from
/// disk (here the data directory's, through `-D`), the line is named, and
/// the printed fix removes the finding; without root, stderr says which
/// file was not seen.
/// `trust` for one database and for one user on loopback, `peer` for the
/// socket, and a password for every other login: the probe's login
/// (postgres to database postgres) is asked for a password, yet anyone on
/// the machine gets into `sales` as the superuser, and in as `alice`. Both
/// lines are found in the file; the evidence said no login from this
/// machine could test them, when one to `sales` would. The printed fix
/// changes both and leaves `peer` alone.
#[test]
fn postgres_trusting_one_database_and_one_user_is_found_and_its_printed_fix_repairs_it() {
    let hba = "local all all peer\nhost sales all 127.0.0.1/32 trust\nhost all alice 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n";
    let Some(postgres) = TrustingPostgres::start(hba) else { return };
    let trust = &postgres.trust;
    assert_eq!(trust["severity"], "high", "loopback clients only: {trust:#}");
    assert_eq!(trust["pid"], postgres.postmaster.pid(), "{trust:#}");
    let file = postgres.hba_file.display();
    for line in [
        format!("{file} line 2 `host sales all 127.0.0.1/32 trust` (loopback clients)"),
        format!("{file} line 3 `host all alice 127.0.0.1/32 trust` (loopback clients)"),
    ] {
        assert!(postgres.evidence().contains(&line), "{}", postgres.evidence());
    }
    assert!(postgres.evidence().contains("matches none of them"), "{}", postgres.evidence());
    let edited = postgres.fix_as_printed();
    assert_eq!(
        edited,
        hba.replace("all 127.0.0.1/32 trust", "all 127.0.0.1/32 scram-sha-256")
            .replace("alice 127.0.0.1/32 trust", "alice 127.0.0.1/32 scram-sha-256"),
        "only the two trust lines change"
    );
    assert_trust_auth_goes(&postgres.netns, postgres.port);
}

#[test]
fn postgres_trusting_a_network_that_holds_no_address_of_the_machine_is_found_in_pg_hba_conf() {
    let Some(netns) = Netns::create() else { return };
    let trusted = "host all all 192.0.2.0/24 trust";
    let hba = format!(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n{trusted}\nhost all all 0.0.0.0/0 scram-sha-256\n"
    );
    // On PostgreSQL's own port, where a run without root, which cannot see
    // the process, still knows the service.
    let Some((dir, postmaster, port)) = postgres_in_with(&netns, &hba, &[], 5432) else {
        return;
    };
    let hba_file = dir.path().join("data").join("pg_hba.conf");
    let json = postgres_audit(&netns, port);
    let trust = finding(&json, port, "trust-auth");
    assert_eq!(trust["severity"], "critical", "other devices reach port {port}: {trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    let line = format!("{} line 3 `{trusted}`", hba_file.display());
    assert!(evidence.contains(&line), "{evidence}");
    assert!(evidence.contains("holds none of this machine's addresses"), "{evidence}");

    let fix = trust["fix"].as_str().unwrap();
    run_edit_and_reload(fix, dir.path(), Some(postmaster.pid()));
    let edited = std::fs::read_to_string(&hba_file).unwrap();
    assert!(edited.contains("host all all 192.0.2.0/24 scram-sha-256\n"), "{edited}");
    assert_trust_auth_goes(&netns, port);

    // Not root: the data directory is postgres's alone, and stderr says
    // what could not be seen.
    let output = audit_as_nobody(&netns, port, &[]);
    assert!(
        output.stderr.lines().any(|l| l
            .starts_with("porthole: not seen: the pg_hba.conf of the PostgreSQL on port")
            && (l.ends_with("run as root to read it") || l.ends_with("run as root to see it)"))),
        "{output:?}"
    );
}

/// `porthole audit --port PORT --active` (and `extra`) in `netns` as user
/// nobody, who cannot read the server's data directory.
fn audit_as_nobody(netns: &Netns, port: u16, extra: &[&str]) -> Output {
    let mut command = netns.command("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(util::binary()).args([
        "audit",
        "--port",
        &port.to_string(),
        "--active",
        "--skip",
        "outdated-package",
    ]);
    command.args(extra);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    output
}

/// With `--active`, the lines of a server that let porthole in were judged
/// from its `pg_hba_file_rules` view, which drops quotes: `host all "all"
/// 0.0.0.0/0 trust`, a line for the role named all, read as a line for
/// every role, and the finding said other devices got in as the superuser.
/// The file's own tokens now decide: the role named all and the database
/// named all (`host "all" all …`) are not the superuser's login, which the
/// loopback line lets in. Run as nobody, who can read neither the file nor
/// the process that names it, the view decides, and the evidence says that
/// it shows no quotes.
#[test]
fn with_active_quoted_names_in_pg_hba_conf_are_judged_from_the_file() {
    let Some(netns) = Netns::create() else { return };
    let hba = concat!(
        "local all all trust\n",
        "host \"all\" all 127.0.0.1/32 trust\n",
        "host all \"all\" 0.0.0.0/0 trust\n",
        "host all postgres 127.0.0.1/32 trust\n",
        "host all all 0.0.0.0/0 scram-sha-256\n",
    );
    // On PostgreSQL's own port, where a run without root, which cannot see
    // the process, still knows the service.
    let Some((dir, _postmaster, port)) = postgres_in_with(&netns, hba, &[], 5432) else {
        return;
    };
    let data = dir.path().join("data");
    let view = server_reading(&netns, &data, port, "line_number, database, user_name");
    assert!(view.contains("2|{all}|{all}\n3|{all}|{all}\n"), "the view drops quotes: {view}");
    let json = postgres_audit(&netns, port);
    let trust = finding(&json, port, "trust-auth");
    assert_eq!(trust["severity"], "high", "{trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    let line = format!(
        "{} line 4 `host all postgres 127.0.0.1/32 trust`",
        data.join("pg_hba.conf").display()
    );
    assert!(
        evidence.ends_with(&format!(
            "pg_hba.conf trusts loopback clients only ({line}); other devices meet the lines after it"
        )),
        "{evidence}"
    );

    let output = audit_as_nobody(&netns, port, &["--json"]);
    let json = output.json();
    let trust = finding(&json, port, "trust-auth");
    assert_eq!(trust["severity"], "critical", "{trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(evidence.contains("line 3 `host all all 0.0.0.0/0 trust`"), "{evidence}");
    assert!(evidence.contains("pg_hba_file_rules view shows them, without quotes"), "{evidence}");
}

/// PostgreSQL's `listen_addresses` set in an included file, or on the
/// postmaster's command line: "set it in postgresql.conf" changed nothing
/// (a later include, postgresql.auto.conf and the command line all beat
/// it). The fix names the argument, or edits the line that sets it, and
/// the edited server listens on loopback only.
#[test]
fn a_postgres_listen_addresses_fix_changes_the_setting_the_server_uses() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let Some((_dir, postmaster, port)) = postgres_in(&netns, hba) else { return };
    let json = postgres_audit(&netns, port);
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    assert!(
        fix.starts_with("its command line sets it (`-c listen_addresses=0.0.0.0`): start it with `-c listen_addresses=localhost` instead, then restart pid "),
        "{fix}"
    );
    drop(postmaster);

    let Some(netns) = Netns::create() else { return };
    let conf = "# the network\nlisten_addresses = '0.0.0.0'  # every address\n";
    let Some((dir, postmaster, port)) =
        postgres_in_with(&netns, hba, &[("10-listen.conf", conf)], util::unique_port())
    else {
        return;
    };
    let json = postgres_audit(&netns, port);
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    let file = dir.path().join("data/conf.d/10-listen.conf");
    let sed = format!("sed -i \"2s/.*/listen_addresses = 'localhost'/\" {}", file.display());
    let set = "(line 2 sets it to '0.0.0.0')";
    assert!(fix.starts_with(&format!("`{sed}` {set}, then restart pid ")), "{fix}");
    run_printed_in(dir.path(), &sed);
    // The same data directory, started again as it was: loopback only.
    let _again = restart_postgres(&netns, postmaster, &dir.path().join("data"), port);
    let json = postgres_audit(&netns, port);
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
}

/// Stops the PostgreSQL of [`postgres_in_with`] (a fast shutdown, so its
/// data directory starts again cleanly) and starts it again on `data` as
/// it was, on `port` in `netns`.
fn restart_postgres(
    netns: &Netns,
    mut postmaster: ChildGuard,
    data: &std::path::Path,
    port: u16,
) -> ChildGuard {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(postmaster.pid() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let _ = postmaster.0.wait();
    let bin = crate::audit::postgres_bin().unwrap();
    let again = ChildGuard::spawn(
        netns
            .command("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
            .arg(bin.join("postgres"))
            .args(["-D", data.to_str().unwrap(), "-p", &port.to_string()])
            .args(["-k", data.to_str().unwrap(), "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_in(netns, port), "postgres did not start again on {port}");
    again
}

/// What PostgreSQL itself reads for setting `name` from the configuration
/// files of `data` (`postgres -C NAME -D DATA`, run as postgres); `None`
/// when it refuses them.
fn server_setting(data: &std::path::Path, name: &str) -> Option<String> {
    let bin = crate::audit::postgres_bin().expect("postgresql is installed");
    let output = util::run(
        crate::audit::as_user("postgres", &bin.join("postgres"))
            .args(["-C", name, "-D"])
            .arg(data)
            .env("LC_ALL", "C"),
    );
    (output.code == 0).then(|| output.stdout.strip_suffix('\n').unwrap_or(&output.stdout).into())
}

/// postgresql.conf lines as PostgreSQL's lexer reads them: porthole's
/// reader cut a line at its first `#` and `=`, so a quoted `#` or `=`, a
/// `''` or a backslash escape, and a value without `=` came out otherwise
/// than the server read them. Each form is now read by porthole as the
/// installed server reads it (`postgres -C listen_addresses`), and a line
/// the server refuses sets nothing.
#[test]
fn postgresql_conf_values_are_read_as_the_server_reads_them() {
    if crate::audit::postgres_bin().is_none() {
        util::skip("postgresql not installed");
        return;
    }
    let dir = crate::audit::shared_tempdir();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    crate::audit::chown(&conf, "postgres");
    for text in [
        "listen_addresses = 'localhost,10.0.0.1' # comment\n",
        "listen_addresses = '*'#x\n",
        "listen_addresses 'a#b'\n",
        "listen_addresses 'a=b' # no equals sign\n",
        "  Listen_Addresses='it''s'\n",
        "listen_addresses = 'a\\'b\\\\c\\101\\tz'\r\n",
        "listen_addresses = localhost#unquoted\n",
        "listen_addresses = ''\n",
        "listen_addresses = '127.0.0.1'\nport 5433\nlisten_addresses '*' # the last wins\n",
        "listen_addresses = *\n",
        "listen_addresses = 0.0.0.0\n",
        "listen_addresses = 'a''\n",
        "listen_addresses = 'a' 'b'\n",
        "listen-addresses = 'x'\n",
    ] {
        std::fs::write(conf.join("postgresql.conf"), text).unwrap();
        let server = server_setting(&conf, "listen_addresses");
        let ours = porthole::audit::postgres_options::assignments(text.as_bytes())
            .into_iter()
            .rfind(|assignment| assignment.name == "listen_addresses")
            .map(|assignment| assignment.value);
        assert_eq!(ours, server, "{text:?}");
    }
}

/// `listen_addresses` set last in a file that an `include` names with a
/// quote, a `#` and an `=` in its name (`include 'it''s #2=wide'`), on a
/// line without `=` whose comment follows the value: porthole read the
/// name as `it''s ` (cut at the `#`), missed the file, and its `sed` edited
/// the earlier line the server no longer uses, so the server kept
/// listening on 10.77.0.1. The fix names the included file's line and the
/// addresses the server read there; run as printed and restarted, the
/// server listens on loopback only.
#[test]
fn a_listen_addresses_fix_edits_the_line_postgresql_reads_whatever_its_form() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let listen = "# the network\nlisten_addresses = '127.0.0.1' # 'loopback' = only\ninclude 'it''s #2=wide' # beats it\n";
    // Not named *.conf: `include_dir` leaves it to the `include`.
    let wide = "listen_addresses 'localhost,10.77.0.1'#no `=`, a comment right after\n";
    let files = [("10-listen.conf", listen), ("it's #2=wide", wide)];
    let Some((dir, postmaster, port)) = postgres_in_with(&netns, hba, &files, util::unique_port())
    else {
        return;
    };
    let data = dir.path().join("data");
    let read = server_setting(&data, "listen_addresses").expect("the server reads its files");
    assert_eq!(read, "localhost,10.77.0.1");
    let json = postgres_audit(&netns, port);
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    let file = data.join("conf.d/it's #2=wide");
    let sed = format!(
        "sed -i \"1s/.*/listen_addresses = 'localhost'/\" {}",
        porthole::shell::printable_word(file.to_str().unwrap())
    );
    let set = format!("(line 1 sets it to '{read}')");
    assert!(fix.starts_with(&format!("`{sed}` {set}, then restart pid ")), "{fix}");
    run_printed_in(dir.path(), &sed);
    assert_eq!(server_setting(&data, "listen_addresses").as_deref(), Some("localhost"));
    let _again = restart_postgres(&netns, postmaster, &data, port);
    let json = postgres_audit(&netns, port);
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
}

/// `listen_addresses` set in an included file whose name holds a quote, a
/// newline, an ESC sequence and a bidi override, to a value that holds
/// them too and 100 KB more: the text shown holds none of them raw and no
/// 100 KB line, and the `sed` as shown edits that file, after which the
/// server listens on loopback only.
#[test]
fn a_listen_addresses_fix_for_a_hostile_file_and_value_runs_as_shown() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    // The server logs the addresses it cannot resolve and listens on the
    // others.
    let listen = format!(
        "listen_addresses = '0.0.0.0,it''s\\033[31m\\007\u{202e}{}'\n",
        "a".repeat(100_000)
    );
    let name = "it's\n\u{1b}[31m \u{202e}listen.conf";
    let files = [(name, listen.as_str())];
    let Some((dir, postmaster, port)) = postgres_in_with(&netns, hba, &files, util::unique_port())
    else {
        return;
    };
    let data = dir.path().join("data");
    let read = server_setting(&data, "listen_addresses").expect("the server reads its files");
    assert!(read.starts_with("0.0.0.0,it's\u{1b}[31m\u{7}\u{202e}aaa"), "{read:.80}");
    let port_text = port.to_string();
    let output = netns.porthole(&[
        "audit",
        "--port",
        &port_text,
        "--skip",
        "outdated-package",
        "--fail-on",
        "never",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    crate::hostile::assert_terminal_safe("audit", &output);
    assert!(output.stdout.len() < 20_000, "{} bytes: {:.2000}", output.stdout.len(), output.stdout);
    let sed = output
        .stdout
        .split('`')
        .find(|command| command.starts_with("sed -i "))
        .unwrap_or_else(|| panic!("no sed in {}", output.stdout));
    run_printed_in(dir.path(), sed);
    assert_eq!(server_setting(&data, "listen_addresses").as_deref(), Some("localhost"));
    let _again = restart_postgres(&netns, postmaster, &data, port);
    let json = postgres_audit(&netns, port);
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
}

/// A MariaDB in `netns` bound to 10.77.0.5 (an address of the namespace,
/// whose name resolves back, as MariaDB needs to count errors) that blocks
/// an address after two connection errors (`max_connect_errors = 2`), with
/// an account for every host (else the address gets ERR 1130).
struct BlockingMariadb {
    dir: tempfile::TempDir,
    _etc: util::NetnsEtc,
    _server: ChildGuard,
    port: u16,
    socket: std::path::PathBuf,
}

impl BlockingMariadb {
    /// Started with `extra` appended to its `[mysqld]` group.
    fn start(netns: &Netns, extra: &str) -> Option<Self> {
        let _etc =
            util::NetnsEtc::with_hosts(netns, "127.0.0.1 localhost\n10.77.0.5 client.test\n");
        netns.run_ok("ip", &["addr", "add", "10.77.0.5/32", "dev", "lo"]);
        let dir = crate::audit::shared_tempdir();
        let (data, scratch) = crate::audit::install_mariadb(dir.path(), "normal");
        let port = util::unique_port();
        let socket = data.join("mysqld.sock");
        let my_cnf = dir.path().join("my.cnf");
        std::fs::write(
            &my_cnf,
            format!(
                "[mysqld]\ndatadir = {data}\nsocket = {socket}\npid-file = {data}/mysqld.pid\ntmpdir = {scratch}\nport = {port}\nbind-address = 10.77.0.5\nmax_connect_errors = 2\nuser = mysql\nskip-log-bin\n{extra}",
                data = data.display(),
                socket = socket.display(),
                scratch = scratch.display(),
            ),
        )
        .unwrap();
        let _server = ChildGuard::spawn(
            netns
                .command("mariadbd")
                .arg(format!("--defaults-file={}", my_cnf.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let up = eventually(START, || std::os::unix::net::UnixStream::connect(&socket).is_ok());
        assert!(up, "mariadbd did not start on {}", socket.display());
        let sql = "CREATE USER 'app'@'%' IDENTIFIED BY 'Zq8-unguessable-4m'";
        let created = util::run(
            Command::new("mariadb").arg(format!("--socket={}", socket.display())).args(["-e", sql]),
        );
        assert_eq!(created.code, 0, "{created:?}");
        Some(BlockingMariadb { dir, _etc, _server, port, socket })
    }
}

/// Three handshakes that are not one, from 10.77.0.5: the server blocks
/// the address (run in the namespace). Given `LOG NEEDLE`, it first reads a
/// process group from its standard input, waits until NEEDLE appears in
/// LOG, and holds that group stopped while it blocks the address, so the
/// group's next connection meets the block however slow this machine is.
const BOGUS_HANDSHAKES: &str = r#"
import os, signal, socket, sys, time
group = None
if len(sys.argv) > 2:
    group = int(sys.stdin.readline())
    end = time.time() + 60
    while sys.argv[3] not in open(sys.argv[2], errors="replace").read() and time.time() < end:
        time.sleep(0.005)
    os.killpg(group, signal.SIGSTOP)
try:
    for _ in range(3):
        s = socket.create_connection(("10.77.0.5", int(sys.argv[1])), 5)
        s.recv(200)
        s.sendall(b"\x05\x00\x00\x01bogus")
        # The server answers and closes; a close with our bytes unread is
        # a reset, which may come before its answer is read. Either way
        # the error was counted.
        try:
            s.recv(200)
        except ConnectionResetError:
            pass
        s.close()
    # The block shows in the greeting of the next connection.
    s = socket.create_connection(("10.77.0.5", int(sys.argv[1])), 5)
    print(s.recv(200))
finally:
    if group is not None:
        os.killpg(group, signal.SIGCONT)
"#;

#[test]
fn a_mariadb_that_blocks_this_machine_s_address_mid_way_gets_the_unblocking_command() {
    let Some(netns) = netns_with(&["mariadbd", "mariadb-install-db", "mariadb-admin"]) else {
        return;
    };
    // The general log shows the first failed login, the empty-password
    // check: the helper then blocks the address, so a later attempt meets
    // ERR 1129 whichever one it is.
    let log_dir = crate::audit::shared_tempdir();
    std::fs::set_permissions(log_dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    let log = log_dir.path().join("general.log");
    let extra = format!("general_log = 1\ngeneral_log_file = {}\n", log.display());
    let Some(mariadb) = BlockingMariadb::start(&netns, &extra) else { return };
    let port = mariadb.port.to_string();
    let passwords = log_dir.path().join("passwords");
    std::fs::write(&passwords, "root:one\nroot:two\nroot:three\nroot:four\n").unwrap();
    let log_path = log.to_str().unwrap();
    // The helper stops porthole (its own process group) from the moment the
    // log shows the first failed login until the address is blocked: on a
    // busy machine the logins, 300 ms apart, could otherwise all be done
    // before the block.
    let mut helper = netns
        .command("python3")
        .args(["-c", BOGUS_HANDSHAKES, &port, log_path, "Access denied for user 'root'"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the helper starts");
    let args = ["audit", "--port", &port, "--active", "--skip", "outdated-package", "--passwords"];
    let mut audit = netns.command(util::binary().to_str().expect("a UTF-8 path"));
    util::scrub(&mut audit);
    let audit = audit
        .args(args)
        .arg(&passwords)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("porthole starts");
    writeln!(helper.stdin.take().expect("piped"), "{}", audit.id()).expect("pid sent");
    let output = audit.wait_with_output().expect("porthole ends");
    let output = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    // Its last connection is refused at once: it is done before the flush.
    let helper_ended = helper.wait_with_output().expect("the helper is waited for");
    assert!(
        helper_ended.status.success(),
        "the helper could not block the address: {}; {output:?}",
        String::from_utf8_lossy(&helper_ended.stderr)
    );
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    let line = output
        .stderr
        .lines()
        .chain(output.stdout.lines())
        .find(|l| l.starts_with("weak-password: mariadb on 10.77.0.5:"))
        .unwrap_or_else(|| panic!("{output:?}"));
    assert!(line.contains("(ERR 1129 "), "{line}");
    assert!(line.contains("; not tried: root ×"), "{line}");
    let command = line.split('`').nth(1).expect("a quoted command");
    assert_eq!(command, format!("mariadb-admin --socket={} flush-hosts", mariadb.socket.display()));
    run_printed_in(mariadb.dir.path(), command);
    let again = netns.porthole(&[&args[..], &[passwords.to_str().unwrap(), "--json"]].concat());
    let json = again.json();
    let logins = &json["logins"][0];
    assert_eq!(logins["stopped"], Value::Null, "{json:#}");
    assert_eq!(logins["attempts"], 7, "the defaults and the site's four: {json:#}");
    assert_eq!(logins["not_tried"], serde_json::json!([]), "{json:#}");
}

/// A Redis in a mount namespace of its own reads its configuration file
/// through its own mounts: the fix named the path as the server names it,
/// which here is another file (on a real machine, the system Redis's
/// /etc/redis/redis.conf). The fix now names `/proc/PID/root` and the path,
/// which is the server's file.
#[test]
fn a_redis_in_its_own_mount_namespace_is_told_to_edit_its_own_file() {
    if !require("redis-server") || !require("unshare") || !util::is_root() {
        return;
    }
    let dir = crate::audit::shared_tempdir();
    let (theirs, here) = (dir.path().join("theirs"), dir.path().join("etc"));
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::create_dir_all(&here).unwrap();
    let port = util::unique_port();
    let config = format!(
        "port {port}\nbind 0.0.0.0\nprotected-mode no\ndaemonize no\ndir {}\n",
        theirs.display()
    );
    std::fs::write(theirs.join("redis.conf"), &config).unwrap();
    std::fs::write(here.join("redis.conf"), "# another server's file\n").unwrap();
    let script = format!(
        "mount --bind {} {} && exec redis-server {}/redis.conf",
        theirs.display(),
        here.display(),
        here.display()
    );
    let server = ChildGuard::spawn(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_for_port(port, START), "redis did not start on {port}");
    let json = audit_args(&["--port", &port.to_string()]).json();
    let fix = finding(&json, port, "no-auth")["fix"].as_str().unwrap().to_string();
    let named = fix
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("a file in: {fix}"));
    assert_eq!(named, format!("/proc/{}/root{}/redis.conf", server.pid(), here.display()), "{fix}");
    assert_eq!(std::fs::read_to_string(named).unwrap(), config, "the server's own file: {fix}");
}

/// Debian's MariaDB sets `bind-address` in an included file
/// (`mariadb.conf.d/50-server.cnf`), which is read after my.cnf's own
/// `[mysqld]`: the fix "set `bind-address = 127.0.0.1` under [mysqld]"
/// changed nothing there. The fix now edits the line that sets it, and runs.
/// A MariaDB bound to an address of the machine that has blocked that
/// address after connection errors (ERR 1129, `max_connect_errors`) greets
/// the audit with the error: the service column showed the server's
/// message as a version, and nothing said the login checks never ran.
/// Now stderr says what was not seen and prints the unblocking command,
/// over the Unix socket its option file names (TCP from the blocked
/// address is refused); run as printed, the next audit sees the server.
#[test]
fn a_mariadb_that_blocks_this_machine_s_address_is_reported_with_a_command_that_unblocks_it() {
    let Some(netns) = netns_with(&["mariadbd", "mariadb-install-db", "mariadb-admin"]) else {
        return;
    };
    let Some(mariadb) = BlockingMariadb::start(&netns, "") else { return };
    let (dir, port, socket) = (&mariadb.dir, mariadb.port, &mariadb.socket);
    let bad = util::run(netns.command("python3").args(["-c", BOGUS_HANDSHAKES, &port.to_string()]));
    assert!(bad.stdout.contains("is blocked because of many connection errors"), "{bad:?}");

    let args = ["audit", "--port", &port.to_string(), "--active", "--skip", "outdated-package"];
    let output = netns.porthole(&args);
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    let line = output
        .stderr
        .lines()
        .find(|l| l.starts_with("porthole: not seen: the version and login checks"))
        .unwrap_or_else(|| panic!("{output:?}"));
    assert!(line.contains("ERR 1129"), "{line}");
    assert!(!output.stdout.contains("is blocked"), "server text is no version: {output:?}");
    let json = netns.porthole(&[&args[..], &["--json"]].concat()).json();
    assert!(json["not_seen"][0].as_str().unwrap().contains("ERR 1129"), "{json:#}");
    let command = line.split('`').nth(1).expect("a quoted command");
    assert_eq!(command, format!("mariadb-admin --socket={} flush-hosts", socket.display()));
    // `check` from the blocked address explains the refusal with the same
    // command, not prose.
    let check = netns.porthole(&["check", &format!("mysql://10.77.0.5:{port}")]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stdout.contains("error 1129"), "{check:?}");
    assert!(
        check.stdout.lines().any(|l| l.trim_start().starts_with(&format!("$ {command}   #"))),
        "the fix is the command: {check:?}"
    );
    run_printed_in(dir.path(), command);
    let output = netns.porthole(&args);
    assert!(!output.stderr.contains("not seen"), "{output:?}");
    assert!(output.stdout.contains("MariaDB"), "its greeting is seen again: {output:?}");
}

/// A MariaDB run from option files of its own: `my.cnf` in `root` sets
/// its data directory, socket and port, then `!includedir conf.d`, where
/// `name` holds `text`. Root is installed with `root_authentication`
/// (`normal`, `socket`). Returns my.cnf, the included file and the port.
fn mariadb_option_files(
    root: &std::path::Path,
    root_authentication: &str,
    name: &str,
    text: &str,
) -> (std::path::PathBuf, std::path::PathBuf, u16) {
    let (data, scratch) = crate::audit::install_mariadb(root, root_authentication);
    let port = util::unique_port();
    let conf_d = root.join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let my_cnf = root.join("my.cnf");
    std::fs::write(
        &my_cnf,
        format!(
            "[mysqld]\ndatadir = {data}\nsocket = {data}/mysqld.sock\npid-file = {data}/mysqld.pid\ntmpdir = {scratch}\nport = {port}\nuser = mysql\nskip-log-bin\n!includedir {conf_d}\n",
            data = data.display(),
            scratch = scratch.display(),
            conf_d = conf_d.display()
        ),
    )
    .unwrap();
    let included = conf_d.join(name);
    std::fs::write(&included, text).unwrap();
    (my_cnf, included, port)
}

/// Starts `mariadbd --defaults-file=MY_CNF` inside `netns` and waits for
/// its `port`.
fn start_mariadb_from(netns: &Netns, my_cnf: &std::path::Path, port: u16) -> ChildGuard {
    let server = ChildGuard::spawn(
        netns
            .command("mariadbd")
            .arg(format!("--defaults-file={}", my_cnf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_in(netns, port), "mariadbd did not start on {port}");
    server
}

#[test]
fn a_mariadb_bind_address_fix_edits_the_included_file_that_sets_it() {
    let Some(netns) = netns_with(&["mariadbd", "mariadb-install-db"]) else { return };
    let dir = crate::audit::shared_tempdir();
    let root = dir.path();
    let text = "[mariadbd]\n# every interface\nbind-address = 0.0.0.0\n";
    let (my_cnf, server_cnf, port) = mariadb_option_files(root, "normal", "50-server.cnf", text);
    let server = start_mariadb_from(&netns, &my_cnf, port);
    let json = audit_in(&netns, &port.to_string()).json();
    let exposed = finding(&json, port, "exposed-service");
    assert_eq!(exposed["local_address"], "0.0.0.0", "{exposed:#}");
    let fix = exposed["fix"].as_str().unwrap();
    let edit = format!("sed -i '3s/.*/bind-address = 127.0.0.1/' {}", server_cnf.display());
    assert!(
        fix.starts_with(&format!("`{edit}` (line 3 sets it), then restart pid {}", server.pid())),
        "{fix}"
    );
    run_printed_in(root, &edit);
    drop(server);
    let _server = start_mariadb_from(&netns, &my_cnf, port);
    let json = audit_in(&netns, &port.to_string()).json();
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
    assert_eq!(json["services"][0]["local_address"], "127.0.0.1", "{json:#}");
}

/// `skip-grant-tables` in a file of a my.cnf `!includedir` (a debugging
/// leftover): the fix said to remove it "from the server's option files
/// (`my_print_defaults --mysqld` lists what they set)", and that command
/// reads /etc/mysql, not the `--defaults-file` this server was started
/// with. The fix now deletes the line that sets it, and after the printed
/// restart root, authenticated by `unix_socket`, is no finding over TCP.
#[test]
fn a_mariadb_skip_grant_tables_in_an_included_file_is_deleted_by_the_printed_fix() {
    let Some(netns) = netns_with(&["mariadbd", "mariadb-install-db"]) else { return };
    let dir = crate::audit::shared_tempdir();
    let root = dir.path();
    let text = "[mysqld]\nbind-address = 127.0.0.1\n# while debugging\nskip-grant-tables\n";
    let (my_cnf, debug_cnf, port) = mariadb_option_files(root, "socket", "90-debug.cnf", text);
    let server = start_mariadb_from(&netns, &my_cnf, port);
    let active = |netns: &Netns| {
        let port = port.to_string();
        let args = ["audit", "--port", &port, "--json", "--active", "--skip", "outdated-package"];
        let output = netns.porthole(&args);
        assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
        output.json()
    };
    let json = active(&netns);
    let empty = finding(&json, port, "empty-password");
    assert_eq!(empty["severity"], "high", "{empty:#}");
    assert_eq!(empty["pid"], server.pid(), "{empty:#}");
    assert!(empty["evidence"].as_str().unwrap().contains("`skip-grant-tables`"), "{empty:#}");
    let fix = empty["fix"].as_str().unwrap();
    let edit = format!("sed -i -e '4d' {}", debug_cnf.display());
    let expected = format!("`{edit}` (line 4 sets it), then restart pid {}", server.pid());
    assert!(fix.starts_with(&expected), "{fix}");
    run_printed_in(root, &edit);
    drop(server);
    let _server = start_mariadb_from(&netns, &my_cnf, port);
    let json = active(&netns);
    assert_eq!(json["services"][0]["service"], "mariadb", "{json:#}");
    assert!(findings_of(&json, port).is_empty(), "{json:#}");
}

/// The option files of an exposed MySQL/MariaDB are read where its command
/// line says: any local user can start a server that greets like MariaDB
/// with `--defaults-file` naming a FIFO (an open or read would wait for a
/// writer forever) or a 10 GiB sparse file. The audit ends all the same.
#[test]
fn a_mysql_option_file_that_is_a_fifo_or_huge_neither_hangs_nor_fills_memory() {
    let Some(netns) = Netns::create() else { return };
    let dir = crate::audit::shared_tempdir();
    let fifo = dir.path().join("my.cnf");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let huge = dir.path().join("huge.cnf");
    std::fs::File::create(&huge).unwrap().set_len(10 << 30).unwrap();
    let greeter = r#"
import socket, struct, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(8)
print("ready", flush=True)
payload = (b"\x0a5.5.5-10.11.19-MariaDB\x00" + struct.pack("<I", 7) + b"abcdefgh\x00"
    + struct.pack("<H", 0xf7ff) + b"\x21" + struct.pack("<H", 2) + struct.pack("<H", 0x81bf)
    + b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00" + b"mysql_native_password\x00")
while True:
    client, _ = server.accept()
    client.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
    client.close()
"#;
    for option in [
        format!("--defaults-file={}", fifo.display()),
        format!("--defaults-file={}", huge.display()),
    ] {
        let port = util::unique_port();
        let (_greeter, mut ready) =
            util::python_in(&netns, greeter, &[&port.to_string(), option.as_str()]);
        util::wait_for_line(&mut ready);
        let output = netns
            .command("timeout")
            .arg("60")
            .arg(util::binary())
            .args(["audit", "--port", &port.to_string(), "--json", "--skip", "outdated-package"])
            .output()
            .expect("porthole runs");
        assert!(matches!(output.status.code(), Some(0 | 1)), "{option}: {output:?}");
        let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let exposed = finding(&json, port, "exposed-service");
        let fix = exposed["fix"].as_str().unwrap();
        assert!(!fix.contains("sed"), "nothing was read from {option}: {fix}");
    }
}

/// An nginx configuration serving `return 200` on 0.0.0.0:PORT, with
/// `server_extra` inside its `server {}` and `extra` inside `http {}` (a
/// single process, so dropping it stops nginx).
fn nginx_config(root: &str, port: u16, server_extra: &str, extra: &str) -> String {
    nginx_config_with(root, port, server_extra, extra, "return 200 \"hello\\n\";")
}

/// [`nginx_config`] whose `location /` holds `location` (one directive a
/// line, as nginx -T prints them back).
pub(crate) fn nginx_config_with(
    root: &str,
    port: u16,
    server_extra: &str,
    extra: &str,
    location: &str,
) -> String {
    format!(
        "master_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n  server_tokens on;\n  {extra}\n  server {{\n    listen 0.0.0.0:{port};\n    {server_extra}\n    location / {{\n      {location}\n    }}\n  }}\n}}\n"
    )
}

/// Starts nginx inside `netns` with `config` under the prefix `root`, in
/// the foreground, and waits until it answers on `port`.
pub(crate) fn start_nginx_in(
    netns: &Netns,
    config: &std::path::Path,
    root: &str,
    port: u16,
) -> ChildGuard {
    let nginx = ChildGuard::spawn(
        netns
            .command("nginx")
            .args(["-c", config.to_str().unwrap(), "-p", root, "-g", "daemon off;"])
            .stderr(Stdio::null()),
    );
    assert!(wait_in(netns, port), "nginx did not start");
    nginx
}

/// What an nginx test starts from: a namespace of its own, a port and a
/// directory for the configuration and the pages (one nginx's workers,
/// another user, can read); `None` (a skip) without nginx.
pub(crate) fn nginx_fixture() -> Option<(Netns, u16, tempfile::TempDir)> {
    let netns = netns_with(&["nginx"])?;
    Some((netns, util::unique_port(), crate::audit::shared_tempdir()))
}

#[test]
fn an_nginx_rebinding_fix_is_nginx_configuration_and_repairs_it() {
    let Some((netns, port, dir)) = nginx_fixture() else { return };
    let root = dir.path().display().to_string();
    let config = dir.path().join("nginx.conf");
    let start = |text: String| {
        std::fs::write(&config, text).unwrap();
        start_nginx_in(&netns, &config, &root, port)
    };
    let nginx = start(nginx_config(&root, port, "", ""));
    let json = audit_in(&netns, &port.to_string()).json();
    let rebinding = finding(&json, port, "dns-rebinding");
    let fix = rebinding["fix"].as_str().unwrap();
    assert!(fix.starts_with("in nginx"), "{fix}");
    assert!(!fix.contains("webpack"), "{fix}");
    // The two pieces of configuration the fix quotes, applied as quoted.
    let pieces: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    assert_eq!(pieces.len(), 3, "{fix}");
    let (server_name, catch_all) = (pieces[0], pieces[1]);
    drop(nginx);
    let _nginx = start(nginx_config(&root, port, server_name, catch_all));
    let json = audit_in(&netns, &port.to_string()).json();
    assert!(
        findings_of(&json, port).iter().all(|f| f["rule"] != "dns-rebinding"),
        "after the fix: {json:#}"
    );
    // The server still answers its own names.
    let ok =
        netns.command("curl").args(["-s", &format!("http://127.0.0.1:{port}/")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "hello\n");
}

/// The nginx fix ended in `nginx -s reload`, which signals the pid in the
/// default pid file: for an nginx started with its own `-c` and `-p` it
/// fails (no /run/nginx.pid) or reloads another nginx. The fix names the
/// master's pid; applied as printed (configuration, then that command), the
/// running nginx stops answering foreign names without a restart.
/// nginx's stock default site (`listen … default_server; server_name _;`)
/// proxying to a local admin server answers every Host. The fix added a
/// catch-all `default_server` next to it, which nginx refuses ("a
/// duplicate default server"): the reload failed and the old configuration
/// stayed. The fix now removes the flag on the line that sets it; each
/// piece applied as printed, nginx reloads and the rebinding is gone.
#[test]
fn an_nginx_default_server_proxying_to_an_admin_port_gets_a_fix_nginx_accepts() {
    let Some((netns, port, dir)) = nginx_fixture() else { return };
    let admin = dir.path().join("admin");
    std::fs::create_dir(&admin).unwrap();
    std::fs::write(admin.join("index.html"), "admin\n").unwrap();
    let admin_port = util::unique_port();
    let _admin = crate::audit_files::http_server_in(&netns, &admin, admin_port);
    let root = dir.path().display().to_string();
    let config = dir.path().join("nginx.conf");
    let location = format!("proxy_pass http://127.0.0.1:{admin_port};");
    let text = nginx_config_with(&root, port, "server_name _;", "", &location).replace(
        &format!("listen 0.0.0.0:{port};"),
        &format!("listen 0.0.0.0:{port} default_server;"),
    );
    let line = 1 + text.lines().position(|l| l.contains("default_server")).unwrap();
    std::fs::write(&config, &text).unwrap();
    let nginx = start_nginx_in(&netns, &config, &root, port);
    let json = audit_in(&netns, &port.to_string()).json();
    let rebinding = finding(&json, port, "dns-rebinding");
    assert_eq!(rebinding["severity"], "high", "nginx runs as root: {rebinding:#}");
    let fix = rebinding["fix"].as_str().unwrap();
    let pieces: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    assert_eq!(pieces.len(), 4, "the flag's edit, two pieces, the reload: {fix}");
    assert_eq!(pieces[0], format!("sed -i '{line}s/ default_server//' {}", config.display()));
    assert_eq!(pieces[3], format!("kill -HUP {}", nginx.pid()), "{fix}");
    run_printed_in(dir.path(), pieces[0]);
    let edited = std::fs::read_to_string(&config).unwrap().replace("server_name _;", pieces[1]);
    let edited = format!("{}  {}\n}}\n", edited.trim_end().trim_end_matches('}'), pieces[2]);
    std::fs::write(&config, edited).unwrap();
    let test =
        netns.command("nginx").args(["-t", "-c", config.to_str().unwrap(), "-p", &root]).output();
    let test = test.expect("nginx -t runs");
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stderr));
    run_printed_in(dir.path(), pieces[3]);
    let fixed = eventually(START, || {
        let json = audit_in(&netns, &port.to_string()).json();
        findings_of(&json, port).iter().all(|f| f["rule"] != "dns-rebinding")
    });
    assert!(
        fixed,
        "the reload took the fix: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
    // Its own names still reach the admin server (through a fresh start:
    // an nginx without a master process answers oddly after a reload).
    drop(nginx);
    let _nginx = start_nginx_in(&netns, &config, &root, port);
    let page = netns.command("curl").args(["-s", &format!("http://127.0.0.1:{port}/")]).output();
    assert_eq!(String::from_utf8_lossy(&page.unwrap().stdout), "admin\n");
}

#[test]
fn an_nginx_with_its_own_config_file_is_reloaded_as_printed() {
    let Some((netns, port, dir)) = nginx_fixture() else { return };
    let root = dir.path().display().to_string();
    let config = dir.path().join("site.conf");
    let with_master = |server_extra: &str, extra: &str| {
        nginx_config(&root, port, server_extra, extra).replace("master_process off;\n", "")
    };
    std::fs::write(&config, with_master("", "")).unwrap();
    /// Stops the master with SIGTERM, which takes its workers down too
    /// (killed, it would leave them serving the port).
    struct Master(ChildGuard);
    impl Drop for Master {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-TERM", &self.0.pid().to_string()]).status();
            let _ = self.0 .0.wait();
        }
    }
    let nginx = Master(ChildGuard::spawn(
        netns
            .command("nginx")
            .args(["-c", config.to_str().unwrap(), "-p", &root, "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    ));
    let nginx = &nginx.0;
    assert!(wait_in(&netns, port), "nginx did not start");
    let json = audit_in(&netns, &port.to_string()).json();
    let fix = finding(&json, port, "dns-rebinding")["fix"].as_str().unwrap().to_string();
    let pieces: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    assert_eq!(pieces.len(), 3, "{fix}");
    assert_eq!(pieces[2], format!("kill -HUP {}", nginx.pid()), "the master's pid: {fix}");
    let named = format!("in nginx's configuration ({}, or a file it includes)", config.display());
    assert!(fix.starts_with(&named), "the file nginx reads: {fix}");
    std::fs::write(&config, with_master(pieces[0], pieces[1])).unwrap();
    let reload = netns.command("sh").args(["-c", pieces[2]]).status().unwrap();
    assert!(reload.success(), "{}", pieces[2]);
    let mut last = Value::Null;
    let repaired = eventually(START, || {
        last = audit_in(&netns, &port.to_string()).json();
        findings_of(&last, port).iter().all(|f| f["rule"] != "dns-rebinding")
    });
    assert!(repaired, "after the printed reload: {last:#}");
    assert!(util::process_alive(nginx.pid()), "reloaded, not restarted");
}

// ------------------------------------------------- other network namespaces

/// An nftables input chain with `policy` in `netns`'s own ruleset.
fn input_policy(netns: &Netns, policy: &str) {
    netns.run_ok(
        "nft",
        &[&format!(
            "add table inet filter; add chain inet filter input {{ type filter hook input priority 0; policy {policy}; }}"
        )],
    );
}

/// The firewall commands quoted in a fix, wherever the program comes in
/// them (`ip netns exec NAME nft …`).
fn entered_firewall_commands(fix: &str) -> Vec<String> {
    fix.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.split_whitespace().any(|w| matches!(w, "nft" | "iptables" | "ip6tables")))
        .map(str::to_string)
        .collect()
}

/// The caller's nftables ruleset, to show a fix left it alone.
fn caller_ruleset() -> String {
    let output = Command::new("nft").args(["list", "ruleset"]).output().expect("nft runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// After a fix, the PostgreSQL on `port` in `netns` is audited until no
/// `trust-auth` finding is left (the reload takes a moment).
fn assert_trust_auth_goes(netns: &Netns, port: u16) {
    let mut last = Value::Null;
    let gone = eventually(START, || {
        last = postgres_audit(netns, port);
        findings_of(&last, port).iter().all(|f| f["rule"] != "trust-auth")
    });
    assert!(gone, "{last:#}");
}

/// Runs, in `directory`, the two commands a PostgreSQL `trust-auth` fix
/// quotes: its `sed` edit and its `kill -HUP` reload (of `postmaster` when
/// given).
pub(crate) fn run_edit_and_reload(fix: &str, directory: &std::path::Path, postmaster: Option<u32>) {
    let commands: Vec<&str> = fix
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("sed ") || c.starts_with("kill "))
        .collect();
    assert_eq!(commands.len(), 2, "{fix}");
    if let Some(pid) = postmaster {
        assert_eq!(commands[1], format!("kill -HUP {pid}"), "{fix}");
    }
    for command in commands {
        run_printed_in(directory, command);
    }
}

/// Runs a command as printed, in a POSIX shell (in `directory`).
fn run_printed_in(directory: &std::path::Path, command: &str) {
    let output =
        Command::new("sh").args(["-c", command]).current_dir(directory).output().expect("sh runs");
    assert!(
        output.status.success(),
        "the printed command failed: {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn audit_args(args: &[&str]) -> Output {
    let mut full = vec!["audit", "--json", "--skip", "outdated-package"];
    full.extend_from_slice(args);
    let output = util::porthole_run(&full);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output
}

fn namespace_inode(netns: &Netns) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", netns.name)).expect("namespace file").ino()
}

/// `audit --netns` used to judge a namespace's listeners by the caller's
/// firewall (or call it unknown) and print firewall commands that changed
/// the caller's ruleset. Two namespaces with their own, opposite input
/// policies: each listener is judged by its own, and the printed command
/// repairs the open one without touching the caller's ruleset.
#[test]
fn netns_audit_judges_by_the_namespace_firewall_and_its_fix_runs_there() {
    if !require("nft") {
        return;
    }
    let Some(closed) = Netns::create() else { return };
    let Some(open) = Netns::create() else { return };
    input_policy(&closed, "drop");
    input_policy(&open, "accept");
    let port = util::unique_port();
    let ports = port.to_string();
    let _closed_server = util::server_in(&closed, "0.0.0.0", port, "http");
    let open_server = util::server_in(&open, "0.0.0.0", port, "http");

    let inside = audit_args(&["--port", &ports, "--netns", &closed.name]).json();
    let exposed = finding(&inside, port, "exposed-service");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(evidence.contains("nftables input policy drop"), "{exposed}");
    assert!(evidence.contains("likely blocked"), "{exposed}");
    assert!(entered_firewall_commands(exposed["fix"].as_str().unwrap()).is_empty(), "{exposed}");
    assert_eq!(inside["firewall"]["input_policy"], "drop", "{inside:#}");

    let before = audit_args(&["--port", &ports, "--netns", &open.name]).json();
    let exposed = finding(&before, port, "exposed-service");
    assert!(exposed["evidence"].as_str().unwrap().contains("can connect"), "{exposed}");
    let commands = entered_firewall_commands(exposed["fix"].as_str().unwrap());
    assert_eq!(commands.len(), 1, "{exposed}");
    assert!(commands[0].starts_with(&format!("ip netns exec {} nft ", open.name)), "{exposed}");

    // A path to a process's namespace gets nsenter with that path.
    let by_path = format!("/proc/{}/ns/net", open_server.pid());
    let json = audit_args(&["--port", &ports, "--netns", &by_path]).json();
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    let commands_by_path = entered_firewall_commands(&fix);
    assert!(
        commands_by_path.iter().all(|c| c.starts_with(&format!("nsenter --net={by_path} nft "))),
        "{fix}"
    );

    // All namespaces at once: each judged by its own ruleset, named.
    let everywhere = audit_args(&["--port", &ports, "--netns", "all"]).json();
    for (netns, words) in [(&closed, "policy drop"), (&open, "policy accept")] {
        let inode = namespace_inode(netns);
        let theirs = findings_of(&everywhere, port)
            .into_iter()
            .find(|f| f["rule"] == "exposed-service" && f["net_namespace"] == inode)
            .unwrap_or_else(|| panic!("no finding in {}: {everywhere:#}", netns.name));
        let evidence = theirs["evidence"].as_str().unwrap();
        assert!(evidence.contains(words), "{theirs}");
        assert!(evidence.contains(&format!("(network namespace '{}')", netns.name)), "{theirs}");
        for command in entered_firewall_commands(theirs["fix"].as_str().unwrap()) {
            assert!(command.starts_with(&format!("ip netns exec {} ", netns.name)), "{theirs}");
        }
    }

    // The printed command repairs the finding, in that namespace only.
    let ruleset = caller_ruleset();
    run_printed_in(std::path::Path::new("/"), &commands[0]);
    assert_eq!(caller_ruleset(), ruleset, "the caller's ruleset changed");
    let after = audit_args(&["--port", &ports, "--netns", &open.name]).json();
    let exposed_after = finding(&after, port, "exposed-service");
    assert!(exposed_after["evidence"].as_str().unwrap().contains("likely blocked"), "{after:#}");
    assert_ne!(exposed_after["severity"], exposed["severity"], "{after:#}");
    assert!(
        entered_firewall_commands(exposed_after["fix"].as_str().unwrap()).is_empty(),
        "{after:#}"
    );
}

/// `ip netns add` takes any name: one with a space and a command
/// substitution, one with an escape sequence. The printed fix runs as
/// printed (and runs nothing else), and no escape reaches the terminal.
#[test]
fn netns_audit_fixes_quote_odd_namespace_names_and_show_no_escapes() {
    if !require("nft") {
        return;
    }
    if !util::is_root() {
        util::skip("network namespaces need root");
        return;
    }
    // A name holds no `/`: the substitution would touch `ran` where the
    // command runs.
    let directory = tempfile::tempdir().unwrap();
    let marker = directory.path().join("ran");
    let names = [
        format!("porthole odd {};$(touch ran)", std::process::id()),
        format!("porthole-esc-{}\x1b[2J\x1b]0;title\x07", std::process::id()),
    ];
    for name in names {
        let status = Command::new("ip").args(["netns", "add", &name]).status().unwrap();
        assert!(status.success(), "ip netns add {name:?}");
        // Dropped (deleted) at the end of this iteration.
        let netns = Netns { name: name.clone() };
        netns.run_ok("ip", &["link", "set", "lo", "up"]);
        input_policy(&netns, "accept");
        let port = util::unique_port();
        let ports = port.to_string();
        let _server = util::server_in(&netns, "0.0.0.0", port, "http");

        let json = audit_args(&["--port", &ports, "--netns", &name]).json();
        let exposed = finding(&json, port, "exposed-service");
        let commands = entered_firewall_commands(exposed["fix"].as_str().unwrap());
        assert_eq!(commands.len(), 1, "{exposed}");
        assert!(!commands[0].contains('\x1b'), "no raw escape in {:?}", commands[0]);
        run_printed_in(directory.path(), &commands[0]);
        assert!(!marker.exists(), "the name ran as a command: {:?}", commands[0]);
        let after = audit_args(&["--port", &ports, "--netns", &name]).json();
        let evidence = finding(&after, port, "exposed-service")["evidence"].as_str().unwrap();
        assert!(evidence.contains("likely blocked"), "{after:#}");

        // The table, as a terminal shows it: the name's escapes are inert.
        for netns_argument in [name.as_str(), "all"] {
            let table = util::porthole_run(&[
                "audit",
                "--port",
                &ports,
                "--netns",
                netns_argument,
                "--skip",
                "outdated-package",
            ]);
            assert!(!table.stdout.contains('\x1b'), "{:?}", table.stdout);
            assert!(!table.stderr.contains('\x1b'), "{:?}", table.stderr);
        }
    }
}

/// The input chain of a workstation as nftables examples write it: policy
/// accept, loopback and replies let in, IPv6 dropped, one port open to a
/// private network, everything else rejected by a last rule without a
/// port. Read as a bag of port rules, it was "policy accept: other devices
/// can connect" for every listener, and an unauthenticated memcached
/// behind the final reject was critical. Read in order: the allow-listed
/// port is reachable from that network only and says so, the others are
/// blocked, the IPv6-only listener meets the IPv6 drop, and the printed
/// drop command closes the allow-listed port too (it goes before the
/// accept, where an appended rule would never be reached).
#[test]
fn the_input_chain_is_read_in_order_with_rules_that_name_no_port() {
    let Some(netns) = netns_with(&["memcached", "nft"]) else { return };
    let (listed, rejected, v6only) =
        (util::unique_port(), util::unique_port(), util::unique_port());
    let _listed = memcached_on_every_interface(&netns, listed, 0);
    let _rejected = memcached_on_every_interface(&netns, rejected, 0);
    let listener =
        Answering { v6only: Some(true), ..Answering::greeting("::", v6only, b"hello\n") };
    let (_server, _) = util::answering(netns.command("python3"), &[listener]);
    let rules = format!(
        "add table inet filter; \
         add chain inet filter input {{ type filter hook input priority 0; policy accept; }}; \
         add rule inet filter input iif lo accept; \
         add rule inet filter input ct state established,related accept; \
         add rule inet filter input meta nfproto ipv6 drop; \
         add rule inet filter input ip saddr 10.0.0.0/8 tcp dport {listed} accept; \
         add rule inet filter input counter reject"
    );
    netns.run_ok("nft", &[&rules]);
    let ports = format!("{listed},{rejected},{v6only}");
    let json = audit_in(&netns, &ports).json();

    // Behind the final reject: not reachable, so not critical.
    let closed = finding(&json, rejected, "exposed-service");
    let evidence = closed["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!(
            "nftables input policy accept, but a rule drops tcp port {rejected}: other devices are likely blocked"
        )),
        "{evidence}"
    );
    assert_eq!(finding(&json, rejected, "no-auth")["severity"], "high", "{json:#}");
    assert!(firewall_commands(closed["fix"].as_str().unwrap()).is_empty(), "{closed:#}");

    // IPv6 is dropped before any port is looked at.
    let only = finding(&json, v6only, "exposed-service");
    assert!(only["evidence"].as_str().unwrap().contains("likely blocked"), "{only:#}");
    assert_eq!(only["severity"], "info", "{only:#}");

    // The allow-listed port is open to 10.0.0.0/8, and the evidence says
    // who gets in.
    let open = finding(&json, listed, "exposed-service");
    let evidence = open["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!(
            "but a rule drops tcp port {listed} for all but `ip saddr 10.0.0.0/8`: other devices can connect"
        )),
        "{evidence}"
    );
    assert_eq!(finding(&json, listed, "no-auth")["severity"], "critical", "{json:#}");

    // Its printed drop runs as printed and closes the port for that
    // network too; loopback clients still get in.
    let commands = firewall_commands(open["fix"].as_str().unwrap());
    assert_eq!(commands.len(), 1, "{open:#}");
    let status = netns.command("sh").args(["-c", &commands[0]]).status().unwrap();
    assert!(status.success(), "{}", commands[0]);
    let json = audit_in(&netns, &listed.to_string()).json();
    let now = finding(&json, listed, "exposed-service");
    assert!(now["evidence"].as_str().unwrap().contains("likely blocked"), "{now:#}");
    assert_eq!(finding(&json, listed, "no-auth")["severity"], "high", "{json:#}");
    assert!(wait_in(&netns, listed), "the rule must spare loopback");
}

/// Application metrics in Prometheus's text format, served on every path
/// of `argv[1]` as prometheus_client's `start_http_server` does (no Host
/// check, no credentials); prints the port.
const APP_METRICS: &str = r##"
import http.server, sys
BODY = b"# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\napp_requests_total{path=\"/checkout\"} 1027\n"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((sys.argv[1], 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"##;

/// Metrics served by a process with no exporter in its name were only
/// checked for DNS rebinding: the format itself now says what the service
/// is. On all interfaces the open `/metrics` is `no-auth` medium, with a
/// fix in the application's terms (not an exporter's flags) naming its
/// port; restarted as the fix says, on 127.0.0.1, it is low, and its fix
/// no longer asks for a bind it already has.
#[test]
fn metrics_are_known_by_their_format_whoever_serves_them() {
    let Some(netns) = Netns::create() else { return };
    let start = |address: &str| {
        let (child, mut stdout) = util::python_in(&netns, APP_METRICS, &[address]);
        let port: u16 = util::wait_for_line(&mut stdout).parse().expect("python prints its port");
        assert!(wait_in(&netns, port), "metrics server did not start");
        (child, port)
    };
    let (exposed, port) = start("0.0.0.0");
    let json = audit_in(&netns, &port.to_string()).json();
    let open = finding(&json, port, "no-auth");
    assert_eq!(open["severity"], "medium", "{json:#}");
    assert!(open["service"].as_str().unwrap().starts_with("metrics ("), "{open:#}");
    let evidence = open["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("GET /metrics without credentials → 200 OK # HELP"), "{evidence}");
    let fix = open["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("start_http_server({port}, addr=\"127.0.0.1\")")), "{fix}");
    assert!(!fix.contains("--web."), "not an exporter: {fix}");
    assert_eq!(finding(&json, port, "exposed-service")["severity"], "medium", "{json:#}");
    drop(exposed);

    let (_local, port) = start("127.0.0.1");
    let json = audit_in(&netns, &port.to_string()).json();
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
    let open = finding(&json, port, "no-auth");
    assert_eq!(open["severity"], "low", "{json:#}");
    let fix = open["fix"].as_str().unwrap();
    assert!(fix.starts_with("it listens on loopback only"), "{fix}");
    assert!(!fix.contains("127.0.0.1"), "{fix}");
}

/// An API on 127.0.0.1 with no route at `/` (404, as FastAPI answers) and
/// data under `/api/`. `argv[1]`: `open` answers every Host; `checked`
/// answers other Hosts with 421, as a Host allow-list does. Prints the port.
const API_WITHOUT_INDEX: &str = r#"
import http.server, json, sys
checked = sys.argv[1] == "checked"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        port = self.server.server_address[1]
        own = self.headers.get("Host", "") in ("127.0.0.1:%d" % port, "localhost:%d" % port)
        if checked and not own:
            return self.answer(421, {"detail": "Invalid host"})
        if self.path.startswith("/api/"):
            return self.answer(200, {"notes": ["private"]})
        self.answer(404, {"detail": "Not Found"})
    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A 404 at `/` hid a missing Host check: only a 2xx page counted, so an
/// API without an index was never `dns-rebinding`, whatever it served
/// under `/api/`. The same 404 for both Hosts is reported (low, since `/`
/// shows no page and no other path is fetched); an API that answers a
/// foreign Host with 421 is not.
#[test]
fn an_api_without_an_index_is_judged_by_its_not_found() {
    let start = |mode: &str| {
        let (child, mut stdout) = util::python(API_WITHOUT_INDEX, &[mode]);
        let port: u16 = util::wait_for_line(&mut stdout).parse().expect("python prints its port");
        (child, port)
    };
    let (_open, open_port) = start("open");
    let (_checked, checked_port) = start("checked");
    let json = audit_args(&["--port", &format!("{open_port},{checked_port}")]).json();
    let rebinding = finding(&json, open_port, "dns-rebinding");
    assert_eq!(rebinding["severity"], "low", "{rebinding:#}");
    let evidence = rebinding["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with(&format!(
            "GET / with Host: 127.0.0.1:{open_port} → 404; with Host: rebind.example:{open_port} → 404 (the same answer"
        )),
        "{evidence}"
    );
    assert!(!evidence.contains("private"), "no other path is read: {evidence}");
    let probes = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local_port"] == open_port)
        .map(|s| s["probes"].to_string())
        .unwrap();
    assert!(!probes.contains("/api"), "{probes}");
    assert!(findings_of(&json, checked_port).is_empty(), "{json:#}");
}

/// Starts `redis-server ARGS…` in `netns` and waits until something
/// listens on PORT there, whatever the address.
fn start_redis_anywhere(netns: &Netns, port: u16, args: &[&str]) -> ChildGuard {
    let redis = ChildGuard::spawn(netns.command("redis-server").args(args).stdout(Stdio::null()));
    let listening = eventually(START, || {
        netns
            .command("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    assert!(listening, "redis-server {args:?} did not start");
    redis
}

#[test]
fn redis_on_a_link_local_address_is_probed_through_its_interface() {
    // The socket dump names the interface a link-local listener is bound
    // to: the probe connects through it instead of skipping the listener.
    let Some(netns) = netns_with(&["redis-server"]) else { return };
    netns.add_veth("fe80::1/64");
    let port = util::unique_port();
    let _redis = start_redis_anywhere(
        &netns,
        port,
        &["--port", &port.to_string(), "--bind", "fe80::1%pv0", "--protected-mode", "no"],
    );
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    let open = finding(&json, port, "no-auth");
    assert_eq!(open["local_address"], "fe80::1", "{open}");
    assert!(open["evidence"].as_str().unwrap().contains("+PONG"), "{open}");
    assert_eq!(open["severity"], "critical", "other devices on the link get in: {open}");
}

#[test]
fn redis_refusing_a_specific_address_in_protected_mode_is_named_redis() {
    // Bound to one non-loopback address, a passwordless Redis in protected
    // mode greets every client (this machine's too) with -DENIED before it
    // is sent anything.
    let Some(netns) = netns_with(&["redis-server"]) else { return };
    netns.add_veth("10.9.9.1/24");
    let port = util::unique_port();
    let _redis =
        start_redis_anywhere(&netns, port, &["--port", &port.to_string(), "--bind", "10.9.9.1"]);
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    let service = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local_port"] == port)
        .expect("the listener is a service");
    assert_eq!(service["service"], "redis", "{json:#}");
    let exposed = finding(&json, port, "exposed-service");
    let evidence = exposed["evidence"].as_str().unwrap();
    assert!(evidence.contains("protected mode refuses clients from other addresses"), "{exposed}");
    assert_eq!(exposed["severity"], "low", "graded as the closed service it is: {exposed}");
    // Where its settings live is unknown: the fix names both places.
    let fix = exposed["fix"].as_str().unwrap();
    assert!(fix.contains("redis.conf") && fix.contains("`--bind 127.0.0.1 -::1`"), "{fix}");
}

/// The rows of the server's own `pg_hba_file_rules` view, `|`-separated:
/// how PostgreSQL itself read the file.
fn server_reading(netns: &Netns, data: &std::path::Path, port: u16, columns: &str) -> String {
    server_query(netns, data, port, &format!("SELECT {columns} FROM pg_hba_file_rules"))
}

/// What `sql` gives, asked as user postgres over the socket in `data`.
fn server_query(netns: &Netns, data: &std::path::Path, port: u16, sql: &str) -> String {
    let bin = crate::audit::postgres_bin().expect("postgresql is installed");
    let view = util::run(
        netns
            .command("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
            .arg(bin.join("psql"))
            .args(["-h", data.to_str().unwrap(), "-p", &port.to_string(), "-U", "postgres"])
            .args(["-Atc", sql]),
    );
    assert_eq!(view.code, 0, "{view:?}");
    view.stdout
}

/// A quoted name in pg_hba.conf is a name to PostgreSQL: `"@admins"` is
/// the user `@admins`, not a file, and `"samehost"` a host name (whoever
/// it resolves to), not this machine's addresses. porthole read both as
/// the file and the keyword: the `@admins` line, naming a file that does
/// not exist, admitted no one and went unreported, and the `samehost` line
/// was graded as trusting this machine only. The run is passive: the file
/// is read, no login is made.
#[test]
fn quoted_names_in_pg_hba_conf_are_names_as_postgresql_reads_them() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all \"@admins\" 192.0.2.0/24 trust\nhost \"all\" all \"samehost\" trust\nhost all all 0.0.0.0/0 scram-sha-256\n";
    let Some((dir, _postmaster, port)) = postgres_in(&netns, hba) else { return };
    let data = dir.path().join("data");
    let reading = server_reading(&netns, &data, port, "line_number, user_name, address");
    assert!(reading.contains("3|{@admins}|192.0.2.0\n"), "a user, not a file: {reading}");
    let args = ["audit", "--port", &port.to_string(), "--json", "--skip", "outdated-package"];
    let output = netns.porthole(&args);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    let trust = finding(&json, port, "trust-auth");
    assert_eq!(trust["severity"], "critical", "{trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    let file = data.join("pg_hba.conf");
    assert!(
        evidence.contains(&format!(
            "{} line 3 `host all \"@admins\" 192.0.2.0/24 trust` (other devices, from a network",
            file.display()
        )),
        "{evidence}"
    );
    assert!(
        evidence.contains(
            "line 4 `host \"all\" all \"samehost\" trust` (other devices: whoever the host name resolves to)"
        ),
        "{evidence}"
    );
    let probes = json["services"][0]["probes"].to_string();
    assert!(!probes.contains("StartupMessage"), "passive: {probes}");
}

/// A `trust` split over continued lines (`tru\` and `st`; PostgreSQL 14
/// and later join them into `trust`) was found, but the printed `sed`
/// looked for the method as one word and changed nothing: other devices
/// kept getting in. Run as printed, the fix now joins the method into
/// `scram-sha-256`, and after the reload a client from 10.77.0.1 is asked
/// for a password.
#[test]
fn a_trust_method_split_over_continued_lines_gets_a_fix_that_runs() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 10.0.0.0/8 tru\\\nst # split\nhost all all 0.0.0.0/0 scram-sha-256\n";
    let Some((dir, postmaster, port)) = postgres_in(&netns, hba) else { return };
    let hba_file = dir.path().join("data").join("pg_hba.conf");
    let bin = crate::audit::postgres_bin().expect("postgresql is installed");
    let login = || {
        util::run(
            netns
                .command(bin.join("psql").to_str().unwrap())
                .args(["-w", "-h", "10.77.0.1", "-p", &port.to_string(), "-U", "postgres"])
                .args(["-d", "postgres", "-Atc", "SELECT 1"]),
        )
    };
    let before = login();
    assert_eq!(before.code, 0, "the server joins `tru\\` and `st`: {before:?}");
    let json = postgres_audit(&netns, port);
    let trust = finding(&json, port, "trust-auth");
    let fix = trust["fix"].as_str().unwrap();
    run_edit_and_reload(fix, dir.path(), Some(postmaster.pid()));
    let edited = std::fs::read_to_string(&hba_file).unwrap();
    assert!(edited.contains("host all all 10.0.0.0/8 scram-sha-256 # split\n"), "{edited}");
    let mut last = None;
    let asked = eventually(START, || {
        let after = login();
        let asked = after.code != 0 && after.stderr.contains("no password supplied");
        last = Some(after);
        asked
    });
    assert!(asked, "after the reload a password is asked: {last:?}");
}

/// A PostgreSQL in a mount namespace of its own (`unshare -m`, the root
/// filesystem shared) with its configuration directory bind-mounted over
/// reads another pg_hba.conf than the one at the same path here: porthole
/// judged this side's file (`scram-sha-256` only) and missed the server's
/// `trust`. Its files are now read through /proc/PID/root, the evidence and
/// the fix name that path and say whose file it is, and the fix, run from
/// here, edits the server's file and reloads it.
#[test]
fn a_postgres_in_its_own_mount_namespace_is_judged_by_the_pg_hba_conf_it_reads() {
    let Some(bin) = crate::audit::postgres_bin() else {
        util::skip("postgresql not installed");
        return;
    };
    if !util::is_root() || !util::installed("unshare") {
        util::skip("a mount namespace needs root and unshare");
        return;
    }
    let ours = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let served = "local all all trust\nhost all all 127.0.0.1/32 trust\n";
    let server =
        PostgresWithItsOwnConf::start(&bin, None, &[], &[("pg_hba.conf", ours, served)], |conf| {
            format!("-c listen_addresses=127.0.0.1 -c hba_file={}/pg_hba.conf", conf.display())
        });
    let PostgresWithItsOwnConf { dir, conf, theirs, port, postmaster } = &server;
    let (port, hba_file) = (*port, conf.join("pg_hba.conf"));
    let (_, json) = crate::audit::audit(port, &[]);
    let trust = crate::audit::finding(&json, "trust-auth");
    let reached = format!("/proc/{}/root{}", postmaster.pid(), hba_file.display());
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("{reached} line 2 `host all all 127.0.0.1/32 trust`")),
        "{evidence}"
    );
    let fix = trust["fix"].as_str().unwrap();
    let named = format!(
        " {reached}` (the server's {}, which its mount namespace shows",
        hba_file.display()
    );
    assert!(fix.contains(&named), "{fix}");
    // Logged in to, the server names its file as it sees it: the fix
    // still edits it where it is reached from here.
    let (_, active) = crate::audit::audit(port, &["--active"]);
    let logged_in = crate::audit::finding(&active, "trust-auth");
    let evidence = logged_in["evidence"].as_str().unwrap();
    assert!(evidence.contains("AuthenticationOk"), "{evidence}");
    assert!(logged_in["fix"].as_str().unwrap().contains(&named), "{logged_in:#}");
    run_edit_and_reload(fix, dir.path(), None);
    assert_eq!(std::fs::read_to_string(&hba_file).unwrap(), ours, "this side's file is left");
    let edited = std::fs::read_to_string(theirs.join("pg_hba.conf")).unwrap();
    assert!(edited.contains("host all all 127.0.0.1/32 scram-sha-256\n"), "{edited}");
    let mut last = Value::Null;
    let gone = eventually(START, || {
        last = crate::audit::audit(port, &["--active"]).1;
        crate::audit::rules(&last).iter().all(|rule| rule != "trust-auth")
    });
    assert!(gone, "{last:#}");
}

/// The `exposed-service` fix of a PostgreSQL in a mount namespace of its
/// own, whose configuration directory is bind-mounted over there: porthole
/// saw another file at the server's path and gave up on naming the line
/// ("set it in postgresql.conf"). The server's own file is now read through
/// /proc/PID/root, and the printed `sed`, run from here, edits the line
/// that sets `listen_addresses` in that file, not in this side's.
#[test]
fn the_listen_addresses_fix_of_a_postgres_in_its_own_mount_namespace_edits_its_file() {
    let Some(netns) = Netns::create() else { return };
    let Some(bin) = crate::audit::postgres_bin() else {
        util::skip("postgresql not installed");
        return;
    };
    if !util::installed("unshare") {
        util::skip("unshare not installed");
        return;
    }
    let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let ours = "listen_addresses = 'localhost'\n";
    let served = "# the server's\nlisten_addresses = '0.0.0.0'\n";
    let server = PostgresWithItsOwnConf::start(
        &bin,
        Some(&netns),
        &[("pg_hba.conf", hba)],
        &[("postgresql.conf", ours, served)],
        |conf| format!("-c config_file={}/postgresql.conf", conf.display()),
    );
    let PostgresWithItsOwnConf { dir, conf, theirs, port, postmaster } = &server;
    let (port, config_file) = (*port, conf.join("postgresql.conf"));
    let json = postgres_audit(&netns, port);
    let fix = finding(&json, port, "exposed-service")["fix"].as_str().unwrap().to_string();
    let reached = format!("/proc/{}/root{}", postmaster.pid(), config_file.display());
    let sed = format!("sed -i \"2s/.*/listen_addresses = 'localhost'/\" {reached}");
    let set = "(line 2 sets it to '0.0.0.0')";
    assert!(fix.starts_with(&format!("`{sed}` {set}, then restart pid ")), "{fix}");
    run_printed_in(dir.path(), &sed);
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), ours, "this side's file is left");
    assert_eq!(
        std::fs::read_to_string(theirs.join("postgresql.conf")).unwrap(),
        "# the server's\nlisten_addresses = 'localhost'\n"
    );
}

/// A private PostgreSQL started in a mount namespace of its own (`unshare
/// -m`, the root filesystem shared) where `conf-in-namespace` is
/// bind-mounted over `conf`: at the same paths the server reads other files
/// than this side does.
struct PostgresWithItsOwnConf {
    dir: tempfile::TempDir,
    conf: std::path::PathBuf,
    theirs: std::path::PathBuf,
    port: u16,
    postmaster: ChildGuard,
}

impl PostgresWithItsOwnConf {
    /// initdb, then `data_files` (name, text) into the data directory and
    /// `conf_files` (name, this side's text, the server's text) into both
    /// configuration directories; `settings(conf)` gives the server's extra
    /// command-line settings. Started in `netns` when given; returns once
    /// it takes logins.
    fn start(
        bin: &std::path::Path,
        netns: Option<&Netns>,
        data_files: &[(&str, &str)],
        conf_files: &[(&str, &str, &str)],
        settings: impl FnOnce(&std::path::Path) -> String,
    ) -> Self {
        let dir = crate::audit::shared_tempdir();
        let data = dir.path().join("data");
        let conf = dir.path().join("conf");
        let theirs = dir.path().join("conf-in-namespace");
        for directory in [&data, &conf, &theirs] {
            std::fs::create_dir(directory).unwrap();
        }
        crate::audit::chown(&data, "postgres");
        let init = util::run(
            crate::audit::as_user("postgres", &bin.join("initdb"))
                .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
                .env("LC_ALL", "C"),
        );
        assert_eq!(init.code, 0, "initdb failed: {init:?}");
        for (name, text) in data_files {
            std::fs::write(data.join(name), text).unwrap();
        }
        for (name, ours, served) in conf_files {
            std::fs::write(conf.join(name), ours).unwrap();
            std::fs::write(theirs.join(name), served).unwrap();
        }
        for directory in [&data, &conf, &theirs] {
            crate::audit::chown(directory, "postgres");
        }
        let port = util::unique_port();
        let script = format!(
            "mount --bind {theirs} {conf} && exec setpriv --reuid=postgres --regid=postgres --init-groups -- {postgres} -D {data} -p {port} -k {data} -c fsync=off {settings}",
            theirs = theirs.display(),
            conf = conf.display(),
            postgres = bin.join("postgres").display(),
            data = data.display(),
            settings = settings(&conf),
        );
        let mut command = match netns {
            Some(netns) => netns.command("unshare"),
            None => Command::new("unshare"),
        };
        command
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let postmaster = ChildGuard::spawn(&mut command);
        let started = match netns {
            Some(netns) => wait_in(netns, port),
            None => wait_for_port(port, START),
        };
        assert!(started, "postgres did not start on {port}");
        assert!(
            crate::audit::postgres_ready(bin, port, netns),
            "postgres on {port} accepts no logins"
        );
        PostgresWithItsOwnConf { dir, conf, theirs, port, postmaster }
    }
}

/// The `cleartext-password` findings of the PostgreSQL on `port` in
/// `netns`, from a passive audit (reading pg_hba.conf sends it nothing).
fn cleartext_findings(netns: &Netns, port: u16) -> Vec<Value> {
    let output = audit_in(netns, &port.to_string());
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    findings_of(&json, port)
        .into_iter()
        .filter(|f| f["rule"] == "cleartext-password")
        .cloned()
        .collect()
}

/// A `host … password` line sends passwords in clear text: for 0.0.0.0/0
/// on a server listening on 0.0.0.0 it is medium, for 127.0.0.1/32 low
/// (the evidence says why). Each printed fix, run as printed, turns its
/// line into `scram-sha-256`, and the next audit finds nothing.
#[test]
fn postgres_cleartext_password_lines_are_graded_by_who_sends_them_and_fixed_as_printed() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\nhost all all 127.0.0.1/32 password\nhost all all 0.0.0.0/0 password\n";
    let Some((dir, postmaster, port)) = postgres_in(&netns, hba) else { return };
    let hba_file = dir.path().join("data").join("pg_hba.conf");
    let found = cleartext_findings(&netns, port);
    assert_eq!(found.len(), 2, "{found:#?}");
    let on_line = |line: &str| {
        found.iter().find(|f| f["evidence"].as_str().unwrap().contains(line)).expect(line)
    };
    let (loopback, network) = (on_line(" line 2 "), on_line(" line 3 "));
    let evidence = network["evidence"].as_str().unwrap();
    assert_eq!(network["severity"], "medium", "{network:#}");
    let line = format!("{} line 3 `host all all 0.0.0.0/0 password`", hba_file.display());
    assert!(evidence.contains(&line), "{evidence}");
    assert!(evidence.contains("other devices send it across the network"), "{evidence}");
    assert!(evidence.ends_with("ssl is off: no connection is encrypted"), "{evidence}");
    assert_eq!(loopback["severity"], "low", "{loopback:#}");
    let evidence = loopback["evidence"].as_str().unwrap();
    assert!(evidence.contains("line 2 `host all all 127.0.0.1/32 password`"), "{evidence}");
    assert!(evidence.contains("the line's addresses are this machine's own"), "{evidence}");

    let data = dir.path().join("data");
    let loaded = || server_query(&netns, &data, port, "SELECT pg_conf_load_time()");
    let before = loaded();
    for finding in [network, loopback] {
        let fix = finding["fix"].as_str().unwrap();
        assert!(fix.contains("md5"), "{fix}");
        run_edit_and_reload(fix, dir.path(), Some(postmaster.pid()));
    }
    let edited = std::fs::read_to_string(&hba_file).unwrap();
    assert_eq!(
        edited,
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n"
    );
    // The printed reload makes the server read the edited file.
    assert!(eventually(START, || loaded() != before), "the server did not reload");
    let last = cleartext_findings(&netns, port);
    assert!(last.is_empty(), "{last:#?}");
}
