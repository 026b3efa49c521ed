//! `porthole audit` grades and fixes against real servers: a stock
//! loopback memcached is not told to do what it already does, memcached's
//! UDP port belongs to the memcached finding, a Redis on 0.0.0.0 with
//! protected mode is graded as the loopback case it effectively is, the
//! firewall command in a fix runs on an empty ruleset, and DNS-rebinding
//! evidence names the address that was probed.
//!
//! See: issue 11, "Fixes that don't run or do harm", "Severity that doesn't
//! match the risk".

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, eventually, installed, wait_for_port, ChildGuard, Netns, Output};

const START: Duration = Duration::from_secs(60);

fn findings_of(json: &Value, port: u16) -> Vec<&Value> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["port"] == port)
        .collect()
}

fn finding<'a>(json: &'a Value, port: u16, rule: &str) -> &'a Value {
    findings_of(json, port)
        .into_iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding for port {port} in {json:#}"))
}

fn require(program: &str) -> bool {
    if installed(program) {
        true
    } else {
        util::skip(&format!("{program} not installed"));
        false
    }
}

/// `porthole audit --port PORT --json` inside `netns`.
fn audit_in(netns: &Netns, port: u16) -> Output {
    // The machine's own pending updates are not these tests' business.
    let output = netns.porthole(&[
        "audit",
        "--port",
        &port.to_string(),
        "--json",
        "--skip",
        "outdated-package",
    ]);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output
}

/// Waits until something accepts TCP on 127.0.0.1:PORT inside `netns`.
fn wait_in(netns: &Netns, port: u16) -> bool {
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
        .filter(|c| c.starts_with("nft ") || c.starts_with("iptables "))
        .map(str::to_string)
        .collect()
}

#[test]
fn loopback_memcached_with_udp_off_is_not_told_to_do_it_again() {
    if !require("memcached") {
        return;
    }
    let port = util::unique_port();
    let _memcached = ChildGuard::spawn(Command::new("memcached").args([
        "-u",
        "nobody",
        "-l",
        "127.0.0.1",
        "-U",
        "0",
        "-p",
        &port.to_string(),
    ]));
    assert!(wait_for_port(port, START), "memcached did not start");
    let output = util::porthole_run(&[
        "audit",
        "--port",
        &port.to_string(),
        "--json",
        "--skip",
        "outdated-package",
    ]);
    let json = output.json();
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
    if !require("memcached") {
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = util::unique_port();
    let _memcached = ChildGuard::spawn(netns.command("memcached").args([
        "-u",
        "nobody",
        "-l",
        "0.0.0.0",
        "-U",
        &port.to_string(),
        "-p",
        &port.to_string(),
    ]));
    assert!(wait_in(&netns, port), "memcached did not start");
    let output = audit_in(&netns, port);
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
    assert!(no_auth["fix"].as_str().unwrap().contains("`-l 127.0.0.1` and `-U 0`"), "{no_auth}");

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
    // Loopback clients still get in.
    assert!(wait_in(&netns, port), "the rule must spare loopback");
}

#[test]
fn redis_on_all_interfaces_with_protected_mode_is_graded_as_loopback() {
    if !require("redis-server") {
        return;
    }
    let Some(netns) = Netns::create() else { return };
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

    let output = audit_in(&netns, port);
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
        let output = util::porthole_run(&[
            "audit",
            "--port",
            &port.to_string(),
            "--json",
            "--skip",
            "outdated-package",
        ]);
        let json = output.json();
        let rebinding = finding(&json, port, "dns-rebinding");
        let evidence = rebinding["evidence"].as_str().unwrap();
        assert!(evidence.contains(&format!("Host: {host}:{port}")), "{address}: {evidence}");
        assert!(!evidence.contains("Host: 127.0.0.1"), "{address}: {evidence}");
        let fix = rebinding["fix"].as_str().unwrap();
        assert!(fix.contains(&format!("{host}:{port}")), "{address}: {fix}");
    }
}
