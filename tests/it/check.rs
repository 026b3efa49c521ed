//! `porthole check`: every cause id is produced by creating the situation
//! for real inside a private network namespace (listeners, nftables rules,
//! sysctls, stopped processes, TLS servers, hosts files, seccomp), and a
//! healthy target comes back `ok` with no cause.

use std::process::Command;
use std::time::Duration;

use crate::util::{
    cause, cause_ids, eventually, porthole_run, python_in, server_in, server_with_backlog,
    unique_port, wait_for_line, ChildGuard, Netns, NetnsEtc,
};

/// `check ARGS --json` inside `netns`: (exit code, parsed JSON). Every fix
/// command in the answer must parse (see [`assert_fix_commands_run`]).
pub(crate) fn check(netns: &Netns, args: &[&str]) -> (i32, serde_json::Value) {
    let mut full = vec!["check"];
    full.extend_from_slice(args);
    full.push("--json");
    let output = netns.porthole(&full);
    let json = output.json();
    assert_fix_commands_run(netns, &json);
    (output.code, json)
}

/// A fix command is pasted as printed: it must parse as shell (`bash -n`),
/// carry no placeholder (`PID`, `<client>`, `…`), and an nft command must
/// pass `nft -c` against the namespace's own ruleset (so `delete rule …
/// handle N` names a rule that exists, `add rule` a chain that exists).
/// Every fix line that is not a command is a step in words.
pub(crate) fn assert_fix_commands_run(netns: &Netns, json: &serde_json::Value) {
    let placeholder =
        regex_lite::Regex::new(r"\b(PID|PORT|CONTAINER|NAME|TYPE)\b|<[a-z-]+>|…").unwrap();
    for cause in json["causes"].as_array().expect("causes array") {
        let fixes: Vec<&str> =
            cause["fix"].as_array().expect("fix array").iter().filter_map(|f| f.as_str()).collect();
        for command in cause["fix_commands"].as_array().expect("fix_commands array") {
            let command = command.as_str().expect("a string");
            assert!(fixes.contains(&command), "a command is one of the fix lines: {cause:#}");
            let code = command.split("   #").next().unwrap_or(command).trim();
            assert!(!placeholder.is_match(code), "placeholder in a fix command: {command}");
            let parsed = Command::new("bash").args(["-n", "-c", command]).status().unwrap();
            assert!(parsed.success(), "bash -n rejects the fix command: {command}");
            if let Some(rest) = code.strip_prefix("nft ") {
                let output = netns.command("nft").arg("-c").arg(rest).output().unwrap();
                assert!(
                    output.status.success(),
                    "nft -c rejects the fix command {command}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

fn stop(child: &ChildGuard) {
    let status = Command::new("kill").args(["-STOP", &child.pid().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn nothing_listening() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["ok"], false);
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "refused");
    assert_eq!(json["attempts"][0]["address"], "127.0.0.1");
    assert_eq!(json["attempts"][0]["port"], port);
    assert_eq!(json["listeners"].as_array().unwrap().len(), 0);
    assert_eq!(cause(&json, "nothing-listening")["severity"], "error");

    let text = netns.porthole(&["check", &port.to_string()]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.starts_with("nothing-listening: nothing listens on port"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("fix:"), "{}", text.stdout);
}

/// A port copied from a connection's line of `ss` or `lsof` (the client's
/// source port) has nothing listening on it: the evidence says whose
/// connection uses it, so the user sees they picked the wrong end.
#[test]
fn a_client_source_port_is_named_as_one() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let client = r#"
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(1)
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
accepted, _ = server.accept()
print(client.getsockname()[1], flush=True)
time.sleep(60)
"#;
    let (child, mut out) = python_in(&netns, client, &[&port.to_string()]);
    let source: u16 = wait_for_line(&mut out).parse().unwrap();
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{source}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    let evidence = cause(&json, "nothing-listening")["evidence"].to_string();
    let expected = format!(
        "port {source} is the local end of a connection 127.0.0.1:{source} -> 127.0.0.1:{port} [ESTAB] held by python3 (pid {}",
        child.pid()
    );
    assert!(evidence.contains(&expected), "{expected}\nin {evidence}");
    assert!(evidence.contains("a client's source port, not a server"), "{evidence}");
}

#[test]
fn healthy_targets_are_ok_without_causes() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    for target in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("http://127.0.0.1:{port}/health"),
        format!("tcp://127.0.0.1:{port}"),
    ] {
        let (code, json) = check(&netns, &[&target]);
        assert_eq!(code, 0, "{target}: {json:#}");
        assert_eq!(json["ok"], true, "{json:#}");
        assert!(json["causes"].as_array().unwrap().is_empty(), "{target}: {json:#}");
        assert_eq!(json["listeners"][0]["local_port"], port);
        assert_eq!(json["listeners"][0]["processes"][0]["name"], "python3");
    }
    let text = netns.porthole(&["check", &format!("http://127.0.0.1:{port}/")]);
    assert!(text.stdout.starts_with("OK: "), "{}", text.stdout);
    assert!(text.stdout.contains("HTTP 200"), "{}", text.stdout);
}

#[test]
fn family_mismatch_for_an_ipv6_literal_and_for_localhost_resolving_v6_first() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let (code, json) = check(&netns, &[&format!("[::1]:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
    let mismatch = cause(&json, "family-mismatch");
    assert!(mismatch["summary"].as_str().unwrap().contains("127.0.0.1 only"), "{mismatch:#}");

    // /etc/hosts lists ::1 first: single-address clients fail, Happy
    // Eyeballs clients connect, so it is a warning and the target is ok.
    let output = netns.porthole_with_hosts(
        "::1 localhost\n127.0.0.1 localhost\n",
        &["check", &format!("localhost:{port}"), "--json"],
    );
    let json = output.json();
    assert_eq!(output.code, 0, "{json:#}");
    assert_eq!(json["attempts"][0]["address"], "::1", "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "refused");
    assert_eq!(json["attempts"][1]["outcome"], "connected");
    assert_eq!(cause(&json, "family-mismatch")["severity"], "warning");
}

/// A name that resolves to one family only (an /etc/hosts line in a
/// private mount namespace), and a listener of the other on an address
/// that is not that family's usual loopback: the summary names the name's
/// addresses and the listener's scope, and the fix connects to the
/// listener's own address (it named 127.0.0.1 for one on 127.0.0.2, which
/// refuses) with a `porthole check` line that runs.
#[test]
fn a_name_of_one_family_and_a_listener_of_the_other_get_a_fix_that_runs() {
    let Some(netns) = Netns::create() else { return };
    let (v4_port, v6_port) = (unique_port(), unique_port());
    let _v4 = server_in(&netns, "127.0.0.2", v4_port, "http");
    let _v6 = server_in(&netns, "::1", v6_port, "http");
    let hosts = "::1 v6only.test\n127.0.0.1 v4only.test\n";
    let cases = [
        (
            format!("v6only.test:{v4_port}"),
            format!("127.0.0.2 only (IPv4, loopback); [::1]:{v4_port} is IPv6, and v6only.test has IPv6 addresses only (::1)"),
            format!("porthole check 127.0.0.2:{v4_port}   # the same target at the listener's address"),
        ),
        (
            format!("http://v4only.test:{v6_port}/"),
            format!("::1 only (IPv6, loopback); 127.0.0.1:{v6_port} is IPv4, and v4only.test has IPv4 addresses only (127.0.0.1)"),
            format!("porthole check 'http://[::1]:{v6_port}/'   # the same target at the listener's address"),
        ),
    ];
    for (target, summary, command) in cases {
        let output = netns.porthole_with_hosts(hosts, &["check", "--json", &target]);
        assert_eq!(output.code, 1, "{output:?}");
        let json = output.json();
        assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
        let mismatch = cause(&json, "family-mismatch");
        assert!(mismatch["summary"].as_str().unwrap().ends_with(&summary), "{mismatch:#}");
        let commands: Vec<&str> = mismatch["fix_commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line.as_str().unwrap())
            .collect();
        assert_eq!(commands, [command.as_str()], "{mismatch:#}");
        // `scrub` puts the build on PATH, where the fix calls it by name.
        let mut shell = netns.command("bash");
        crate::util::scrub(&mut shell);
        let ran = crate::util::run(shell.args(["-c", &command]));
        assert_eq!(ran.code, 0, "{command}: {ran:?}");
    }
}

#[test]
fn bound_elsewhere() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.2", port, "http");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["bound-elsewhere"], "{json:#}");
    let fix = cause(&json, "bound-elsewhere")["fix"][0].as_str().unwrap().to_string();
    assert_eq!(fix, format!("connect to 127.0.0.2:{port}"));
}

/// A listener in a namespace without a name, found from the caller's: the
/// fix names the `nsenter --net=/proc/PID/ns/net` prefix, and a client run
/// behind it as printed, from here, reaches the listener there.
#[test]
fn other_namespace_without_a_name_is_entered_as_printed() {
    let Some(server_side) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&server_side, "127.0.0.1", port, "http");
    // The server keeps the namespace alive once its name is gone.
    let deleted = Command::new("ip").args(["netns", "del", &server_side.name]).status();
    assert!(deleted.unwrap().success());
    let output = porthole_run(&["check", &format!("127.0.0.1:{port}"), "--json"]);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["other-namespace"], "{json:#}");
    let step = cause(&json, "other-namespace")["fix"][0].as_str().unwrap().to_string();
    let prefix = step.split('`').nth(1).unwrap_or_else(|| panic!("no quoted prefix: {step}"));
    assert!(prefix.starts_with("nsenter --net=/proc/"), "{step}");
    let client = format!(
        "{prefix} {} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 5)'",
        crate::util::python_binary().display()
    );
    let connected = crate::util::run_as_printed(&client, "");
    assert_eq!(connected.code, 0, "{client}: {connected:?}");
    // And without it, from here, nothing answers.
    let here = crate::util::run_as_printed(&client.replacen(prefix, "", 1), "");
    assert_ne!(here.code, 0, "{here:?}");
}

#[test]
fn other_namespace() {
    let (Some(client), Some(server_side)) = (Netns::create(), Netns::create()) else { return };
    let port = unique_port();
    let _server = server_in(&server_side, "127.0.0.1", port, "http");
    let (code, json) = check(&client, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["other-namespace"], "{json:#}");
    let evidence = cause(&json, "other-namespace")["evidence"].to_string();
    assert!(evidence.contains(&server_side.name), "names the namespace: {evidence}");
    assert!(evidence.contains("python3"), "{evidence}");
    assert!(json["listeners"][0]["net_namespace"].is_u64(), "{json:#}");
    // The fix asks the same question inside the server's namespace, and
    // there the port answers.
    let inside = format!("porthole check {port} --netns {}", server_side.name);
    let commands = cause(&json, "other-namespace")["fix_commands"].to_string();
    assert!(commands.contains(&inside), "{commands}");
    let args: Vec<&str> = inside.split(' ').skip(1).collect();
    let output = client.porthole(&args);
    assert_eq!(output.code, 0, "{inside}: {output:?}");
}

#[test]
fn nftables_drop_reject_and_admin_prohibited() {
    let Some(netns) = Netns::create() else { return };
    let (dropped, rejected, prohibited) = (unique_port(), unique_port(), unique_port());
    let _servers: Vec<ChildGuard> = [dropped, rejected, prohibited]
        .iter()
        .map(|port| server_in(&netns, "127.0.0.1", *port, "http"))
        .collect();
    netns.run_ok("nft", &["add", "table", "inet", "guard"]);
    netns.run_ok(
        "nft",
        &["add chain inet guard input { type filter hook input priority 0 ; policy accept ; }"],
    );
    netns.run_ok("nft", &[&format!("add rule inet guard input iif lo tcp dport {dropped} drop")]);
    netns.run_ok("nft", &[&format!("add rule inet guard input tcp dport {rejected} reject")]);
    netns.run_ok("nft", &["add", "table", "ip", "guard4"]);
    netns.run_ok(
        "nft",
        &["add chain ip guard4 output { type filter hook output priority 0 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!(
            "add rule ip guard4 output tcp dport {prohibited} reject with icmp type admin-prohibited"
        )],
    );

    let (code, json) = check(&netns, &[&format!("127.0.0.1:{dropped}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "timeout");
    assert_eq!(cause_ids(&json), ["firewall-drop"], "{json:#}");
    let drop = cause(&json, "firewall-drop");
    assert!(
        drop["evidence"].to_string().contains(&format!("tcp dport {dropped} drop")),
        "{drop:#}"
    );
    assert!(drop["fix"][0]
        .as_str()
        .unwrap()
        .starts_with("nft delete rule inet guard input handle"));

    let (code, json) = check(&netns, &[&format!("127.0.0.1:{rejected}")]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "refused");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");

    let (code, json) = check(&netns, &[&format!("127.0.0.1:{prohibited}")]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "unreachable", "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().starts_with("EHOSTUNREACH"));
    let reject = cause(&json, "firewall-reject");
    assert!(reject["summary"].as_str().unwrap().contains("admin-prohibited"), "{reject:#}");
    assert!(reject["summary"].as_str().unwrap().contains("ip guard4 output"), "{reject:#}");
}

#[test]
fn legacy_iptables_reject() {
    let Some(netns) = Netns::create() else { return };
    if Command::new("iptables-legacy").arg("--version").output().is_err() {
        crate::util::skip("iptables-legacy is not installed");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    netns.run_ok(
        "iptables-legacy",
        &["-A", "OUTPUT", "-o", "lo", "-p", "tcp", "--dport", &port.to_string(), "-j", "REJECT"],
    );
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "refused");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
    let reject = cause(&json, "firewall-reject");
    assert!(reject["evidence"].to_string().contains("iptables-legacy"), "{reject:#}");
    assert_eq!(reject["fix"][0], "iptables-legacy -t filter -D OUTPUT 1");
}

#[test]
fn stopped_process() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    stop(&server);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(
        json["attempts"][0]["outcome"], "connected",
        "the kernel still completes handshakes"
    );
    assert_eq!(cause_ids(&json), ["process-stopped"], "{json:#}");
    assert_eq!(cause(&json, "process-stopped")["fix"][0], format!("kill -CONT {}", server.pid()));
}

/// Fills a `listen(1)` queue with connections nobody accepts.
pub(crate) fn fill_queue(netns: &Netns, port: u16) -> ChildGuard {
    let (child, mut ready) = python_in(
        netns,
        "import socket,sys,time\n\
         held=[]\n\
         for _ in range(4):\n\
         \x20   s=socket.socket(); s.settimeout(0.5)\n\
         \x20   try: s.connect(('127.0.0.1',int(sys.argv[1])))\n\
         \x20   except OSError: pass\n\
         \x20   held.append(s)\n\
         print('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    child
}

#[test]
fn accept_queue_full() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 1);
    let _clients = fill_queue(&netns, port);
    // SYN cookies never (0), on a full SYN queue (1) or always (2): a full
    // accept queue drops the SYN whichever is set.
    for syncookies in ["0", "1", "2"] {
        netns.run_ok("sysctl", &["-qw", &format!("net.ipv4.tcp_syncookies={syncookies}")]);
        let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
        assert_eq!(code, 1, "tcp_syncookies={syncookies}: {json:#}");
        assert_eq!(json["attempts"][0]["outcome"], "timeout", "{json:#}");
        assert_eq!(cause_ids(&json), ["accept-queue-full"], "{json:#}");
        let evidence = cause(&json, "accept-queue-full")["evidence"].to_string();
        assert!(evidence.contains("Recv-Q 2") && evidence.contains("Send-Q 1"), "{evidence}");
        assert!(evidence.contains("ListenOverflows"), "{evidence}");
    }
}

/// A server that took every descriptor its `RLIMIT_NOFILE` allows calls
/// accept(), which fails with EMFILE: connections stay queued as behind a
/// blocked accept loop, but the cause is the limit. It is named, with the
/// `prlimit` that raises it in place, and that line run as printed lets
/// the server accept again.
#[test]
fn a_server_out_of_file_descriptors_is_named_with_its_limit() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "exhausted");
    let target = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
    let starved = cause(&json, "not-responding");
    assert!(starved["summary"].as_str().unwrap().contains("EMFILE"), "{starved:#}");
    let evidence = starved["evidence"].to_string();
    assert!(evidence.contains("RLIMIT_NOFILE soft 32"), "{evidence}");
    let fix = starved["fix_commands"][0].as_str().unwrap().to_string();
    let prefix = format!("prlimit --pid {} --nofile=4096:", server.pid());
    assert!(fix.starts_with(&prefix), "{starved:#}");
    assert!(!fix.contains("wchan"), "the accept loop is not blocked: {starved:#}");

    netns.run_ok("bash", &["-c", &fix]);
    assert!(
        eventually(Duration::from_secs(10), || check(&netns, &[&target]).0 == 0),
        "the server accepts once its limit is raised"
    );
}

/// `check --from PID` of a client that took every descriptor its
/// `RLIMIT_NOFILE` allows: its `socket()` fails with EMFILE whatever the
/// server does, while porthole's own probe gets through. The client is
/// named with its limit, and the printed `prlimit` frees it.
#[test]
fn a_client_out_of_file_descriptors_is_named_and_its_printed_prlimit_frees_it() {
    let Some(netns) = Netns::create() else { return };
    let (port, held) = (unique_port(), unique_port());
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    // The same stand-in, out of descriptors, is the client.
    let client = server_in(&netns, "127.0.0.1", held, "exhausted");
    let pid = client.pid().to_string();
    let target = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &["--from", &pid, &target]);
    assert_eq!((code, cause_ids(&json)), (1, vec!["client-fd-limit".to_string()]), "{json:#}");
    let starved = cause(&json, "client-fd-limit");
    let summary = starved["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("(pid {pid})")) && summary.contains("EMFILE"), "{starved:#}");
    assert!(starved["evidence"].to_string().contains("RLIMIT_NOFILE soft 32"), "{starved:#}");
    let fix = starved["fix_commands"][0].as_str().unwrap().to_string();
    assert!(fix.contains(&format!("prlimit --pid {pid} --nofile=")), "{starved:#}");
    netns.run_ok("bash", &["-c", &fix]);
    let (code, json) = check(&netns, &["--from", &pid, &target]);
    assert_eq!((code, cause_ids(&json)), (0, vec![]), "after the fix: {json:#}");
}

/// Another user's server out of descriptors: its limit is raised as
/// printed, whether the printed line is a plain `prlimit` (root with
/// `CAP_SYS_RESOURCE`) or one run as the server's own user (root without
/// it, as in a container, may still set its soft limit as that user).
#[test]
fn the_limit_of_another_user_s_server_out_of_descriptors_is_raised_as_printed() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let mut as_nobody = netns.command("setpriv");
    as_nobody
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(crate::util::python_binary());
    let args = ["127.0.0.1", &port.to_string(), "exhausted", "16"];
    let (server, mut ready) = crate::util::python_via(as_nobody, crate::util::SERVER, &args);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1);
    let starved = cause(&json, "not-responding");
    let fix = starved["fix_commands"][0].as_str().unwrap().to_string();
    assert!(fix.contains(&format!("prlimit --pid {} --nofile=", server.pid())), "{starved:#}");
    netns.run_ok("bash", &["-c", &fix]);
    assert!(
        eventually(Duration::from_secs(10), || check(&netns, &[&target]).0 == 0),
        "the server accepts once its limit is raised"
    );
}

/// A server frozen by the cgroup freezer (`docker pause`, `systemctl
/// freeze`) leaves connections queued as a blocked accept loop does; it is
/// named as frozen, and the thaw printed, run as printed, lets it answer.
#[test]
fn a_frozen_server_is_named_with_the_thaw_that_lets_it_accept() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    // Made after the server, so it is thawed (on drop) before the server
    // is killed and waited for: SIGKILL does not end a task frozen on v1.
    let Some(cgroup) = crate::util::FreezerCgroup::create() else {
        crate::util::skip("no cgroup hierarchy with a freezer can be written here");
        return;
    };
    if !cgroup.freeze(server.pid()) {
        crate::util::skip("the process could not be moved into a frozen cgroup");
        return;
    }
    // `--netns`, not `ip netns exec`: that one mounts its own /sys, where
    // the cgroup hierarchies are not.
    let target = format!("http://127.0.0.1:{port}/");
    let check_inside = |timeout: &str| {
        let output = porthole_run(&[
            "check",
            &target,
            "--netns",
            &netns.name,
            "--timeout",
            timeout,
            "--json",
        ]);
        let json = output.json();
        assert_fix_commands_run(&netns, &json);
        (output.code, json)
    };
    let (code, json) = check_inside("1s");
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
    let frozen = cause(&json, "not-responding");
    let summary = frozen["summary"].as_str().unwrap();
    assert!(summary.contains("is frozen by the cgroup freezer"), "{frozen:#}");
    let thaw = format!("echo {} > {}/{}", cgroup.thaw, cgroup.directory, cgroup.control);
    let fix = frozen["fix_commands"][0].as_str().unwrap().to_string();
    assert!(fix.starts_with(&thaw), "{frozen:#}");
    let status = Command::new("bash").args(["-c", &fix]).status().expect("bash runs");
    assert!(status.success(), "{fix}");
    assert!(
        eventually(Duration::from_secs(10), || check_inside("2s").0 == 0),
        "the server answers once thawed"
    );
}

/// The same server with a full accept queue: a larger backlog would only
/// queue more connections it cannot accept, so the limit is the fix.
#[test]
fn a_full_queue_of_a_server_out_of_file_descriptors_names_the_limit_not_the_backlog() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_with_backlog(&netns, "127.0.0.1", port, "exhausted", 1);
    let _clients = fill_queue(&netns, port);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["accept-queue-full"], "{json:#}");
    let full = cause(&json, "accept-queue-full");
    assert!(full["summary"].as_str().unwrap().contains("EMFILE"), "{full:#}");
    let fixes = full["fix"].to_string();
    assert!(fixes.contains(&format!("prlimit --pid {}", server.pid())), "{fixes}");
    assert!(!fixes.contains("backlog"), "{fixes}");
}

#[test]
fn combination_stopped_process_with_a_full_accept_queue() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_with_backlog(&netns, "127.0.0.1", port, "http", 1);
    stop(&server);
    let _clients = fill_queue(&netns, port);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    let ids = cause_ids(&json);
    assert!(ids.contains(&"accept-queue-full".to_string()), "{json:#}");
    assert!(ids.contains(&"process-stopped".to_string()), "{json:#}");
}

#[test]
fn combination_family_mismatch_and_firewall_drop() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    netns.run_ok("nft", &["add", "table", "ip", "guard"]);
    netns.run_ok(
        "nft",
        &["add chain ip guard input { type filter hook input priority 0 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule ip guard input ip daddr 127.0.0.1 tcp dport {port} drop")],
    );
    let output = netns.porthole_with_hosts(
        "::1 localhost\n127.0.0.1 localhost\n",
        &["check", &format!("localhost:{port}"), "--timeout", "1s", "--json"],
    );
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    let ids = cause_ids(&json);
    assert!(ids.contains(&"family-mismatch".to_string()), "{json:#}");
    assert!(ids.contains(&"firewall-drop".to_string()), "{json:#}");
    assert_eq!(cause(&json, "firewall-drop")["severity"], "error");
}

#[test]
fn not_responding() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{port}/"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "connected");
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
    assert_eq!(cause(&json, "not-responding")["severity"], "error");
    // For a bare TCP target the protocol is unknown: only a warning.
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(cause(&json, "not-responding")["severity"], "warning");
}

#[test]
fn an_mptcp_listener_gets_the_verdicts_of_a_tcp_one() {
    let Some(netns) = Netns::create() else { return };
    let enabled = netns.command("cat").arg("/proc/sys/net/mptcp/enabled").output().unwrap();
    if String::from_utf8_lossy(&enabled.stdout).trim() != "1" {
        crate::util::skip("MPTCP is not enabled (net.mptcp.enabled)");
        return;
    }
    // A server that answers, one that accepts and stays silent, one that
    // never accepts: each as TCP and as MPTCP (protocol 262), whose TCP
    // clients fall back to plain TCP.
    for (mode, code) in [("http", 0), ("silent", 0), ("hold", 1)] {
        let verdicts: Vec<(i32, Vec<String>)> = ["0", "262"]
            .iter()
            .map(|protocol| {
                let port = unique_port();
                let arguments = ["127.0.0.1", &port.to_string(), mode, "16", protocol];
                let (_server, mut ready) = python_in(&netns, crate::util::SERVER, &arguments);
                assert_eq!(wait_for_line(&mut ready), "ok", "{mode} server, protocol {protocol}");
                let (code, json) =
                    check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
                (code, cause_ids(&json))
            })
            .collect();
        assert_eq!(verdicts[0].0, code, "{mode} over TCP: {verdicts:?}");
        assert_eq!(verdicts[1], verdicts[0], "{mode}: MPTCP then TCP");
    }
}

/// A TLS server with a fresh self-signed certificate (openssl req).
fn tls_server(netns: &Netns, port: u16) -> (ChildGuard, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    self_signed(directory.path(), "/CN=localhost", "key.pem", "cert.pem", &[]);
    let child = https_server(netns, port, directory.path());
    (child, directory)
}

#[test]
fn tls_mismatch_both_ways() {
    let Some(netns) = Netns::create() else { return };
    let (tls_port, plain_port) = (unique_port(), unique_port());
    let _tls = tls_server(&netns, tls_port);
    let _plain = server_in(&netns, "127.0.0.1", plain_port, "http");

    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{tls_port}/")]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["tls-mismatch"], "{json:#}");
    let mismatch = cause(&json, "tls-mismatch");
    assert!(mismatch["summary"].as_str().unwrap().contains("speaks TLS"), "{mismatch:#}");
    assert_eq!(mismatch["fix"][0], format!("use https://127.0.0.1:{tls_port}/"));

    let (code, json) = check(&netns, &[&format!("https://127.0.0.1:{plain_port}/")]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["tls-mismatch"], "{json:#}");
    assert!(cause(&json, "tls-mismatch")["summary"].as_str().unwrap().contains("plain HTTP"));

    // The right scheme works, with a self-signed certificate.
    let (code, json) = check(&netns, &[&format!("https://127.0.0.1:{tls_port}/")]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().contains("HTTP 200 OK (over TLS)"));
}

#[test]
fn proxy_variables_without_no_proxy_for_the_address() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("http://127.0.0.1:{port}/");
    // no_proxy=localhost does not cover 127.0.0.1 (string match in both).
    let output = netns.porthole_env(
        &[("http_proxy", "http://192.0.2.1:3128"), ("no_proxy", "localhost")],
        &["check", &target, "--json"],
    );
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "connected", "the probe never uses the proxy");
    let proxy = cause(&json, "proxy-env");
    assert!(proxy["evidence"].to_string().contains("curl would send"), "{proxy:#}");
    assert!(proxy["evidence"].to_string().contains("python would send"), "{proxy:#}");
    let output = netns.porthole_env(
        &[("http_proxy", "http://192.0.2.1:3128"), ("no_proxy", "localhost,127.0.0.1")],
        &["check", &target, "--json"],
    );
    assert_eq!(output.code, 0, "{}", output.stdout);
}

#[test]
fn proxy_variables_of_another_process_with_from() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let client = ChildGuard::spawn(
        netns.command("sleep").arg("60").env("HTTP_PROXY", "http://192.0.2.1:3128"),
    );
    // `ip netns exec` enters the namespace, then execs sleep under the same
    // pid: wait for the exec so --from sees the namespace, not ours.
    let comm = format!("/proc/{}/comm", client.pid());
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_to_string(&comm)
            .is_ok_and(|name| name.trim() == "sleep")),
        "the client never started"
    );
    // porthole runs outside the namespace: --from enters the client's.
    let output = porthole_run(&[
        "check",
        &format!("http://127.0.0.1:{port}/"),
        "--from",
        &client.pid().to_string(),
        "--json",
    ]);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "connected", "{json:#}");
    assert!(cause(&json, "proxy-env")["evidence"].to_string().contains("HTTP_PROXY"));
}

/// `check --from PID` of a client in another network namespace than the
/// server's: the verdict says the listener is not in the client's
/// namespace, and names the client and that namespace.
#[test]
fn a_client_in_another_namespace_than_the_server_is_named_with_its_namespace() {
    let Some(server_side) = Netns::create() else { return };
    let Some(client_side) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&server_side, "127.0.0.1", port, "http");
    let client = ChildGuard::spawn(client_side.command("sleep").arg("60"));
    // `ip netns exec` execs sleep under the same pid once it entered.
    let comm = format!("/proc/{}/comm", client.pid());
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_to_string(&comm)
            .is_ok_and(|name| name.trim() == "sleep")),
        "the client never started"
    );
    let pid = client.pid().to_string();
    let output = porthole_run(&["check", &format!("127.0.0.1:{port}"), "--from", &pid, "--json"]);
    let json = output.json();
    assert_eq!((output.code, cause_ids(&json)[0].as_str()), (1, "other-namespace"), "{json:#}");
    let summary = cause(&json, "other-namespace")["summary"].as_str().unwrap().to_string();
    let namespace = crate::util::netns_inode(&client_side);
    let expected = format!("not in the client's (sleep, pid {pid}, network namespace {namespace})");
    assert!(summary.ends_with(&expected), "{summary}");
}

#[test]
fn localhost_resolving_to_a_non_loopback_address() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let output = netns.porthole_with_hosts(
        "192.0.2.7 localhost\n",
        &["check", &format!("localhost:{port}"), "--json", "--timeout", "1s"],
    );
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json)[0], "localhost-resolution", "{json:#}");
    assert!(cause(&json, "localhost-resolution")["evidence"].to_string().contains("192.0.2.7"));
}

#[test]
fn ipv6_disabled_on_loopback() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    netns.run_ok("sysctl", &["-w", "net.ipv6.conf.lo.disable_ipv6=1"]);
    let (code, json) = check(&netns, &[&format!("[::1]:{port}")]);
    assert_eq!(code, 1);
    assert_eq!(json["attempts"][0]["outcome"], "unreachable", "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().starts_with("EADDRNOTAVAIL"));
    assert_eq!(cause_ids(&json), ["ipv6-disabled"], "{json:#}");
}

#[test]
fn self_connect_in_a_narrowed_ephemeral_range() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_port_range=40000 40001"]);
    let (code, json) = check(&netns, &["127.0.0.1:40000"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "self-connect", "{json:#}");
    assert_eq!(cause_ids(&json), ["self-connect"]);
    assert!(cause(&json, "self-connect")["summary"].as_str().unwrap().contains("40000-40001"));
    // The printed sysctl keeps the port out of the range: no more
    // self-connects, just nothing listening.
    let reserve = cause(&json, "self-connect")["fix_commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .find(|c| c.starts_with("sysctl"))
        .expect("a sysctl fix")
        .to_string();
    assert!(reserve.contains("ip_local_reserved_ports=40000"), "{reserve}");
    netns.run_ok("bash", &["-c", &reserve]);
    for _ in 0..3 {
        let (_, json) = check(&netns, &["127.0.0.1:40000"]);
        assert_eq!(json["attempts"][0]["outcome"], "refused", "{json:#}");
    }
}

#[test]
fn split_listeners_across_families() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _v4 = server_in(&netns, "127.0.0.1", port, "http");
    let _v6 = server_in(&netns, "::1", port, "http");
    let (code, json) = check(&netns, &[&format!("localhost:{port}")]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["ok"], true);
    assert_eq!(cause_ids(&json), ["split-listeners"], "{json:#}");
    assert_eq!(cause(&json, "split-listeners")["severity"], "warning");
}

#[test]
fn unix_socket_only() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(format!(".s.PGSQL.{port}"));
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); print('ok')\n\
         held = []\n\
         while True: held.append(s.accept()[0])",
        &[path.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["unix-socket-only"], "{json:#}");
    assert!(
        cause(&json, "unix-socket-only")["evidence"].to_string().contains("python3"),
        "{json:#}"
    );
    assert!(cause(&json, "unix-socket-only")["summary"]
        .as_str()
        .unwrap()
        .contains(path.to_str().unwrap()));
    // The socket itself, whose server accepts, is a healthy unix: target.
    let (code, json) = check(&netns, &[&format!("unix:{}", path.display())]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["attempts"][0]["port"], serde_json::Value::Null);
}

#[test]
fn bind_port_in_use_wildcard_covers_specific() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "0.0.0.0", port, "hold");
    let (code, json) = check(&netns, &["--bind", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json)[0], "port-in-use", "{json:#}");
    let in_use = cause(&json, "port-in-use");
    assert!(in_use["summary"].as_str().unwrap().contains("wildcard"), "{in_use:#}");
    assert_eq!(in_use["fix"][0], format!("kill {}   # stop the holder", server.pid()));
    assert_eq!(json["attempts"][0]["outcome"], "in-use");
}

#[test]
fn bind_port_in_use_by_time_wait_only() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // The server side closes first, so its end (local port = PORT) stays
    // in TIME-WAIT after the listener is gone.
    let (_child, mut ready) = python_in(
        &netns,
        "import socket,sys,time\n\
         p=int(sys.argv[1]); l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         l.bind(('127.0.0.1',p)); l.listen()\n\
         c=socket.create_connection(('127.0.0.1',p)); a,_=l.accept(); a.close(); time.sleep(0.2); c.close(); l.close()\n\
         print('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &["--bind", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "a warning only: {json:#}");
    let in_use = cause(&json, "port-in-use");
    assert_eq!(in_use["severity"], "warning");
    assert!(in_use["summary"].as_str().unwrap().contains("TIME-WAIT"), "{in_use:#}");
    assert_eq!(json["attempts"][0]["outcome"], "in-use");
    assert_eq!(json["attempts"][1]["outcome"], "bound");
}

#[test]
fn bind_privileged_port_as_nobody() {
    let Some(netns) = Netns::create() else { return };
    let mut command = netns.command("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(crate::util::binary())
        .args(["check", "--bind", "127.0.0.1:80", "--json"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["privileged-port"], "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "denied");
    // As root the same bind is fine.
    let (code, json) = check(&netns, &["--bind", "127.0.0.1:80"]);
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn bind_inside_the_ephemeral_range_warns() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_port_range=40000 40100"]);
    let (code, json) = check(&netns, &["--bind", "127.0.0.1:40050"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(cause_ids(&json), ["ephemeral-port"], "{json:#}");
    assert_eq!(cause(&json, "ephemeral-port")["severity"], "warning");
    let (_, json) = check(&netns, &["--bind", "127.0.0.1:30000"]);
    assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");
}

/// A seccomp filter (installed by python through prctl) that fails every
/// connect() with EACCES, then execs porthole: a real sandbox denial.
const SECCOMP_EXEC: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
ALLOW, EACCES = 0x7fff0000, 0x00050000 | 13
program = (stmt(0x20, 4) + jump(0x15, 0xc000003e, 1, 0) + stmt(0x06, ALLOW)
           + stmt(0x20, 0) + jump(0x15, 42, 0, 1) + stmt(0x06, EACCES) + stmt(0x06, ALLOW))
buffer = ctypes.create_string_buffer(program)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(program) // 8, ctypes.addressof(buffer))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()
os.execv(sys.argv[1], sys.argv[1:])
"#;

#[test]
fn sandbox_denied_by_a_seccomp_filter() {
    if std::env::consts::ARCH != "x86_64" {
        crate::util::skip("the seccomp program is written for x86_64");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let mut command = netns.command("python3");
    command.args(["-c", SECCOMP_EXEC]).arg(crate::util::binary()).args([
        "check",
        &format!("127.0.0.1:{port}"),
        "--json",
    ]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "denied", "{json:#}");
    assert_eq!(cause_ids(&json), ["sandbox-denied"], "{json:#}");
    assert!(cause(&json, "sandbox-denied")["evidence"].to_string().contains("seccomp"));
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    for args in [
        vec!["check"],
        vec!["check", "localhost"],
        vec!["check", "ftp://x:1"],
        vec!["check", "http://[::1:80/"],
        vec!["check", "1", "--timeout", "0"],
        vec!["check", "1", "--timeout", "fast"],
        vec!["check", "1", "--from", "abc"],
        vec!["check", "1", "--from", "999999999"],
        vec!["check", "--bind", "localhost:80"],
        vec!["check", "--bind", "127.0.0.1"],
    ] {
        let output = porthole_run(&args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {}", output.stderr);
        assert!(output.stderr.starts_with("porthole: "), "{args:?}: {}", output.stderr);
    }
}

#[test]
fn the_no_proxy_fix_keeps_the_users_list_and_covers_the_target_host() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("curl") {
        crate::util::skip("curl is not installed");
        return;
    }
    let port = unique_port();
    // 127.0.0.2: loopback, but not what `127.0.0.1` in no_proxy covers.
    let _server = server_in(&netns, "127.0.0.2", port, "http");
    let target = format!("http://127.0.0.2:{port}/");
    // A dead proxy, and the user's own exceptions in upper case.
    let environment =
        [("http_proxy", "http://127.0.0.1:9"), ("NO_PROXY", "corp.example,.internal")];
    let output = netns.porthole_env(&environment, &["check", &target, "--json"]);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    let proxy = cause(&json, "proxy-env");
    let evidence = proxy["evidence"].to_string();
    assert!(evidence.contains("nothing accepts connections at the proxy 127.0.0.1:9"), "{proxy:#}");
    let fix = proxy["fix_commands"][0].as_str().unwrap().to_string();
    assert!(fix.contains("corp.example,.internal,"), "the user's list is kept: {fix}");
    // Run as printed in the user's environment, it sends curl and Python
    // straight to the server and keeps the user's hosts on the proxy.
    let after = format!(
        "{fix}; python3 -c 'import urllib.request; print(urllib.request.proxy_bypass(\"corp.example\"))'"
    );
    let statuses = curl_and_python_statuses(&netns, &environment, &after, &target);
    assert_eq!(statuses, ["True", "200", "200"]);
    let output = netns.porthole_env(
        &[
            ("http_proxy", "http://127.0.0.1:9"),
            ("NO_PROXY", fix.split("NO_PROXY=").nth(1).unwrap()),
        ],
        &["check", &target, "--json"],
    );
    assert_eq!(output.code, 0, "after the fix: {}", output.stdout);
}

/// Runs `BEFORE; curl TARGET; python3 urllib TARGET` in `netns` with
/// `environment` (proxy variables) and returns the printed lines: each
/// client's HTTP status, `000` when it could not get one (a dead proxy),
/// after whatever `before` printed.
fn curl_and_python_statuses(
    netns: &Netns,
    environment: &[(&str, &str)],
    before: &str,
    target: &str,
) -> Vec<String> {
    let target = porthole::shell::word(target);
    let script = format!(
        "{before}; curl -s -m 5 -o /dev/null -w '%{{http_code}}\\n' {target}; \
         python3 -c 'import sys,urllib.request
try: print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except OSError: print(\"000\")' {target}"
    );
    let mut command = netns.command("sh");
    command.args(["-c", &script]);
    crate::util::scrub(&mut command);
    for (key, value) in environment {
        command.env(key, value);
    }
    let ran = crate::util::run(&mut command);
    assert_eq!(ran.code, 0, "{script}: {ran:?}");
    ran.stdout.lines().map(str::to_string).collect()
}

/// An IPv6 literal URL (`http://[::1]:P/`) and `no_proxy`: curl compares
/// the address without brackets as a name, Python's urllib with brackets
/// (and with the port), so `localhost,127.0.0.1,::1` leaves urllib on the
/// proxy and `[::1]` or `[::1]:P` leaves curl on it. check names exactly the client that real curl and
/// Python show using the proxy, and its fix (both spellings) sends both to
/// the server.
/// See: <https://github.com/curl/curl/pull/19828>
#[test]
fn no_proxy_spellings_of_an_ipv6_literal_and_a_port_are_judged_per_client() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("curl") {
        crate::util::skip("curl is not installed");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    let target = format!("http://[::1]:{port}/");
    // urllib also compares the entry with host and port; curl does not.
    let with_port = format!("[::1]:{port}");
    for (no_proxy, proxied) in [
        ("localhost,127.0.0.1,::1", ["200", "000"]),
        ("::1", ["200", "000"]),
        ("[::1]", ["000", "200"]),
        (with_port.as_str(), ["000", "200"]),
        ("localhost, ::1, [::1]", ["200", "200"]),
    ] {
        // A dead proxy: a client that uses it gets no status.
        let environment = [("http_proxy", "http://127.0.0.1:9"), ("no_proxy", no_proxy)];
        let real = curl_and_python_statuses(&netns, &environment, "true", &target);
        assert_eq!(real, proxied, "curl and python with no_proxy={no_proxy}");
        let output = netns.porthole_env(&environment, &["check", &target, "--json"]);
        let json = output.json();
        crate::check::assert_fix_commands_run(&netns, &json);
        if proxied == ["200", "200"] {
            assert_eq!(output.code, 0, "{no_proxy}: {json:#}");
            continue;
        }
        assert_eq!(output.code, 1, "{no_proxy}: {json:#}");
        let proxy = cause(&json, "proxy-env");
        let evidence = proxy["evidence"].to_string();
        for (client, status) in ["curl", "python"].iter().zip(proxied) {
            let named = evidence.contains(&format!("{client} would send"));
            assert_eq!(named, status == "000", "{no_proxy}: {client}: {proxy:#}");
        }
        let fix = proxy["fix_commands"][0].as_str().unwrap().to_string();
        let after = curl_and_python_statuses(&netns, &environment, &fix, &target);
        assert_eq!(after, ["200", "200"], "{no_proxy}: after {fix}");
        let fixed = [("http_proxy", "http://127.0.0.1:9"), ("no_proxy", fix_list(&fix))];
        let output = netns.porthole_env(&fixed, &["check", &target, "--json"]);
        assert_eq!(output.code, 0, "{no_proxy}: after {fix}: {}", output.stdout);
    }
}

/// `no_proxy` set and empty beside `NO_PROXY=127.0.0.1`: curl skips the
/// empty variable and reads NO_PROXY, Python's urllib takes the empty one
/// and uses the proxy. check names Python alone, says why, and its fix
/// sends both to the server.
#[test]
fn an_empty_no_proxy_hides_no_proxy_from_python_only() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("curl") {
        crate::util::skip("curl is not installed");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("http://127.0.0.1:{port}/");
    let environment =
        [("http_proxy", "http://127.0.0.1:9"), ("no_proxy", ""), ("NO_PROXY", "127.0.0.1")];
    let real = curl_and_python_statuses(&netns, &environment, "true", &target);
    assert_eq!(real, ["200", "000"], "curl and python");
    let output = netns.porthole_env(&environment, &["check", &target, "--json"]);
    let json = output.json();
    crate::check::assert_fix_commands_run(&netns, &json);
    assert_eq!(output.code, 1, "{json:#}");
    let proxy = cause(&json, "proxy-env");
    let evidence = proxy["evidence"].to_string();
    assert!(evidence.contains("python would send"), "{proxy:#}");
    assert!(!evidence.contains("curl would send"), "{proxy:#}");
    assert!(evidence.contains("no_proxy is set and empty"), "{proxy:#}");
    let fix = proxy["fix_commands"][0].as_str().unwrap();
    assert_eq!(curl_and_python_statuses(&netns, &environment, fix, &target), ["200", "200"]);
}

/// The list an `export no_proxy=LIST NO_PROXY=LIST` fix sets, unquoted.
fn fix_list(fix: &str) -> &str {
    let list = fix.split("NO_PROXY=").nth(1).expect("a NO_PROXY list");
    list.trim_matches('\'')
}

/// Starts nginx in `netns` with one `server { SERVER }` block, its files in
/// `directory`; the caller waits until it answers.
pub(crate) fn nginx_in(netns: &Netns, directory: &std::path::Path, server: &str) -> ChildGuard {
    let root = directory.display().to_string();
    let config = directory.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "master_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n  server {{\n    {server}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    ChildGuard::spawn(
        netns
            .command("nginx")
            .args(["-c", config.to_str().unwrap(), "-p", &root, "-g", "daemon off;"])
            .stderr(std::process::Stdio::null()),
    )
}

/// nginx on a TLS port answers a plain request with `400 The plain HTTP
/// request was sent to HTTPS port`: that is a TLS mismatch, not a Host
/// header the service refused (for http://) nor a deadlocked service (for
/// a bare port, which is up). A plain port's own 404 stays an HTTP error.
#[test]
fn a_tls_port_that_answers_plain_http_with_400_is_a_tls_mismatch() {
    if !crate::util::installed("nginx") || !crate::util::installed("curl") {
        crate::util::skip("nginx and curl are needed");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let (port, plain) = (unique_port(), unique_port());
    let dir = tempfile::tempdir().unwrap();
    self_signed(dir.path(), "/CN=localhost", "key.pem", "cert.pem", &[]);
    let root = dir.path().display();
    let _nginx = nginx_in(
        &netns,
        dir.path(),
        &format!(
            "listen 127.0.0.1:{port} ssl;\n    listen [::1]:{port} ssl;\n    ssl_certificate {root}/cert.pem;\n    ssl_certificate_key {root}/key.pem;\n    location / {{ return 200 \"tls ok\\n\"; }}\n  }}\n  server {{\n    listen 127.0.0.1:{plain};\n    location / {{ return 404; }}"
        ),
    );
    let bare = format!("127.0.0.1:{port}");
    assert!(
        eventually(Duration::from_secs(20), || check(&netns, &[&bare]).0 == 0),
        "nginx did not start"
    );
    let (code, json) = check(&netns, &[&bare]);
    assert!(json["attempts"][0]["detail"].as_str().unwrap().contains("speaks TLS"), "{json:#}");
    assert_eq!((code, cause_ids(&json)), (0, vec![]), "{json:#}");
    for (target, https) in [
        (format!("http://localhost:{port}/"), format!("https://localhost:{port}/")),
        (format!("http://[::1]:{port}/"), format!("https://[::1]:{port}/")),
    ] {
        let (code, json) = check(&netns, &[&target]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["tls-mismatch"], "{target}: {json:#}");
        let mismatch = cause(&json, "tls-mismatch");
        assert_eq!(mismatch["fix"][0], format!("use {https}"), "{mismatch:#}");
        // The URL it names is the one the server serves.
        let output = netns.command("curl").args(["-sk", &https]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "tls ok\n", "{https}: {output:?}");
    }
    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{plain}/")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["http-error"], "{json:#}");
}

#[test]
fn an_http2_only_server_is_named_and_its_printed_curl_talks_to_it() {
    if !crate::util::installed("nginx") || !crate::util::installed("curl") {
        crate::util::skip("nginx and curl are needed");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let dir = tempfile::tempdir().unwrap();
    // `listen … http2` without `ssl`: HTTP/2 with prior knowledge only (h2c).
    let _nginx = nginx_in(
        &netns,
        dir.path(),
        &format!("listen 127.0.0.1:{port} http2;\n    location / {{ return 200 \"h2 ok\\n\"; }}"),
    );
    let target = format!("http://127.0.0.1:{port}/");
    assert!(
        eventually(Duration::from_secs(20), || check(&netns, &[&target]).1["attempts"][0]
            ["outcome"]
            == "connected"),
        "nginx did not start"
    );
    let (code, json) = check(&netns, &[&target]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
    let cause = cause(&json, "not-responding");
    assert!(cause["summary"].as_str().unwrap().contains("HTTP/2 only"), "{cause:#}");
    // The printed command talks to the server as printed.
    let curl = cause["fix_commands"][0].as_str().unwrap();
    assert!(curl.starts_with("curl --http2-prior-knowledge"), "{cause:#}");
    let output = netns.command("sh").args(["-c", curl]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "h2 ok\n", "{curl}: {output:?}");
    // A bare TCP target is reachable: the server is up.
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn a_proxy_fix_for_another_process_is_a_restart_with_the_list_not_an_export() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let client = ChildGuard::spawn(
        netns
            .command("sleep")
            .arg("60")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("no_proxy", "corp.example"),
    );
    let comm = format!("/proc/{}/comm", client.pid());
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read_to_string(&comm)
            .is_ok_and(|name| name.trim() == "sleep")),
        "the client never started"
    );
    let from = client.pid().to_string();
    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{port}/"), "--from", &from]);
    assert_eq!(code, 1, "{json:#}");
    let proxy = cause(&json, "proxy-env");
    // An export in the user's shell would not reach the running process.
    assert!(proxy["fix_commands"].as_array().unwrap().is_empty(), "{proxy:#}");
    let fix = proxy["fix"][0].as_str().unwrap();
    assert!(
        fix.starts_with(&format!("restart sleep (pid {from}) with no_proxy=corp.example,")),
        "{fix}"
    );
}

#[test]
fn netns_checks_from_inside_a_named_namespace() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "plain");
    let text = port.to_string();

    // The caller's namespace has nothing on the port; the named one has
    // the server, and the answer is about it.
    let here = porthole_run(&["check", &text, "--json"]);
    assert_eq!(here.code, 1, "{here:?}");
    let inside = porthole_run(&["check", &text, "--netns", &netns.name, "--json"]);
    assert_eq!(inside.code, 0, "{inside:?}");
    let diagnosis = inside.json();
    assert_eq!(diagnosis["ok"], true, "{diagnosis:#}");
    let path = format!("/run/netns/{}", netns.name);
    let by_path = porthole_run(&["check", &text, "--netns", &path, "--json"]);
    assert_eq!(by_path.code, 0, "{by_path:?}");

    // --from a process in the same namespace agrees; one in another does not.
    let pid = server.pid().to_string();
    let same = porthole_run(&["check", &text, "--netns", &netns.name, "--from", &pid]);
    assert_eq!(same.code, 0, "{same:?}");
    let own = std::process::id().to_string();
    let other = porthole_run(&["check", &text, "--netns", &netns.name, "--from", &own]);
    crate::util::assert_usage_error(&other, "--from elsewhere");
    assert!(other.stderr.contains("different network namespaces"), "{other:?}");

    // Fix lines printed for a failure inside say how to run them there.
    stop(&server);
    let output =
        porthole_run(&["check", &text, "--netns", &netns.name, "--timeout", "1s", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let diagnosis = output.json();
    let commands: Vec<String> = diagnosis["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .flat_map(|cause| cause["fix_commands"].as_array().cloned().unwrap_or_default())
        .map(|fix| fix.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        commands,
        [format!("ip netns exec {} kill -CONT {}", netns.name, server.pid())],
        "{diagnosis:#}"
    );
    let prefix = format!("ip netns exec {} ", netns.name);
    for command in &commands {
        assert!(command.replace("sudo ", "").starts_with(&prefix), "{command}: {diagnosis:#}");
    }
}

#[test]
fn netns_values_that_are_not_one_namespace_are_usage_errors() {
    for bad in ["nosuch", "/etc/passwd", "/proc/self/ns/mnt", "all", ""] {
        let output = porthole_run(&["check", "8080", "--netns", bad]);
        crate::util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

/// `ip netns exec NAME` bind-mounts `/etc/netns/NAME/hosts` over
/// `/etc/hosts` for its command; `check --netns NAME` and `wait --netns
/// NAME` resolved names with the caller's `/etc/hosts` all the same. Here
/// the namespace's own hosts file maps localhost (and a name of its own)
/// to 127.0.0.3, where the only server listens.
/// Under `--netns NAME` the client reads `/etc/netns/NAME/hosts`: a fix
/// that told the user to add `127.0.0.1 localhost` to `/etc/hosts` (or,
/// with IPv6 off, to drop `::1 localhost` from it) named a file that
/// namespace never reads. The steps name the namespace's file, and adding
/// the line there makes `localhost` answer.
#[test]
fn a_localhost_fix_under_netns_names_the_namespace_hosts_file() {
    let Some(netns) = Netns::create() else { return };
    let _etc = NetnsEtc::with_hosts(&netns, "::1 localhost\n");
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let hosts = format!("/etc/netns/{}/hosts", netns.name);
    let target = format!("localhost:{port}");
    let output = porthole_run(&["check", &target, "--netns", &netns.name, "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let mismatch = cause(&json, "family-mismatch");
    let fixes = mismatch["fix"].to_string();
    assert!(fixes.contains(&format!("or add '127.0.0.1 localhost' to {hosts}")), "{mismatch:#}");
    assert!(!fixes.contains("to /etc/hosts"), "{mismatch:#}");
    std::fs::write(&hosts, "::1 localhost\n127.0.0.1 localhost\n").unwrap();
    let output = porthole_run(&["check", &target, "--netns", &netns.name, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    // With IPv6 off, the `::1 localhost` line to drop is in that file too.
    netns.run_ok("sysctl", &["-w", "net.ipv6.conf.all.disable_ipv6=1"]);
    let output = porthole_run(&["check", &target, "--netns", &netns.name, "--json"]);
    let json = output.json();
    let disabled = cause(&json, "ipv6-disabled");
    let fixes = disabled["fix"].to_string();
    assert!(fixes.contains(&format!("drop '::1 localhost' from {hosts}")), "{disabled:#}");
    assert!(!fixes.contains("from /etc/hosts"), "{disabled:#}");
}

#[test]
fn netns_resolves_names_with_the_namespace_etc_hosts() {
    let Some(netns) = Netns::create() else { return };
    let own_name = format!("porthole-netns-hosts-{}", std::process::id());
    let _etc = NetnsEtc::with_hosts(&netns, &format!("127.0.0.3 localhost {own_name}\n"));
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.3", port, "http");
    let hosts = format!("/etc/netns/{}/hosts", netns.name);

    for host in ["localhost", own_name.as_str()] {
        let target = format!("{host}:{port}");
        let output = porthole_run(&["check", &target, "--netns", &netns.name, "--json"]);
        assert_eq!(output.code, 0, "{output:?}");
        let json = output.json();
        let attempts = json["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "{json:#}");
        assert_eq!(attempts[0]["address"], "127.0.0.3", "{json:#}");
        assert_eq!(attempts[0]["port"], port, "{json:#}");
        assert!(attempts[0]["detail"].as_str().unwrap().contains(&hosts), "{json:#}");
    }
    // The path form enters by the same namespace file: the same answer.
    let path = format!("/run/netns/{}", netns.name);
    let by_path = porthole_run(&["check", &format!("localhost:{port}"), "--netns", &path]);
    assert_eq!(by_path.code, 0, "{by_path:?}");

    // A name the namespace's files do not know is not looked up in the
    // caller's: `localhost` is in /etc/hosts, this one nowhere.
    let unknown =
        porthole_run(&["check", &format!("nowhere-{own_name}:{port}"), "--netns", &netns.name]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stdout.contains("name-resolution: 'nowhere-"), "{unknown:?}");
    assert!(unknown.stdout.contains(&format!("{hosts} has no line for")), "{unknown:?}");

    let waited = porthole_run(&[
        "wait",
        &format!("localhost:{port}"),
        "--netns",
        &netns.name,
        "--timeout",
        "20s",
    ]);
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(waited.stderr.contains("127.0.0.3"), "{waited:?}");
}

/// `--netns /proc/PID/ns/net` of a process that is gone is a usage error
/// that says so; and when the last process of the namespace exits while
/// `wait` polls inside it, `wait` stops with that reason instead of
/// polling a namespace only porthole keeps alive and printing fix lines
/// that name the dead pid.
#[test]
fn netns_of_a_process_that_exits() {
    if !crate::util::is_root() {
        crate::util::skip("entering namespaces needs root");
        return;
    }
    let mut gone = Command::new("unshare").args(["-n", "true"]).spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let path = format!("/proc/{pid}/ns/net");
    for command in ["check", "wait"] {
        let output = porthole_run(&[command, "127.0.0.1:9", "--netns", &path]);
        crate::util::assert_usage_error(&output, &path);
        assert!(output.stderr.contains(&format!("process {pid} does not exist")), "{output:?}");
    }

    let short = ChildGuard::spawn(Command::new("unshare").args(["-n", "sleep", "2"]));
    let path = format!("/proc/{}/ns/net", short.pid());
    let output = porthole_run(&[
        "wait",
        "127.0.0.1:9",
        "--netns",
        &path,
        "--timeout",
        "30s",
        "--interval",
        "200ms",
    ]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains(&format!("{path} led to is gone")), "{output:?}");
    assert!(!output.stderr.contains("fix: $"), "{output:?}");
}

/// A Unix listener whose process never calls accept(): the kernel queues
/// the connection, so connect succeeds, but nothing serves it. `check`
/// names the queue and the process, as it does for TCP, rather than
/// calling the socket reachable.
#[test]
fn a_unix_listener_that_never_accepts_is_named_not_called_reachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hung.sock");
    let (_server, mut ready) = crate::util::python(
        "import socket, sys, time\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.bind(sys.argv[1]); s.listen(5)\n\
         print('ok', flush=True)\n\
         time.sleep(60)",
        &[path.to_str().expect("utf-8 path")],
    );
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let target = format!("unix:{}", path.display());
    let run = crate::util::porthole_run(&["check", &target, "--timeout", "500ms"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(&format!("wait in the accept queue of {target} (backlog 5)")),
        "{run:?}"
    );
    assert!(run.stdout.contains("does not accept them"), "{run:?}");
}

/// A Unix listener whose backlog is full (listen(1), two connections no
/// process takes): a non-blocking connect fails with EAGAIN and polling the
/// socket then says POLLHUP, so the probe read "unreachable" and `check`
/// answered "nothing listens" beside a listener on the path. The probe now
/// waits as a blocking client does, times out, and the cause is the full
/// queue; `wait` explains its timeout the same way.
#[test]
fn a_unix_listener_with_a_full_backlog_is_named_not_called_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full.sock");
    let (_server, mut ready) = crate::util::python(
        "import socket, sys, time\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.bind(sys.argv[1]); s.listen(1)\n\
         held = []\n\
         for _ in range(2):\n    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); held.append(c)\n\
         print('ok', flush=True)\n\
         time.sleep(60)",
        &[path.to_str().expect("utf-8 path")],
    );
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let target = format!("unix:{}", path.display());
    let run = crate::util::porthole_run(&["check", &target, "--timeout", "500ms", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["attempts"][0]["outcome"], "timeout", "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().starts_with("EAGAIN"), "{json:#}");
    assert_eq!(cause_ids(&json), ["accept-queue-full"], "{json:#}");
    let waited = crate::util::porthole_run(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(waited.stderr.contains("  accept-queue-full: the accept queue of"), "{waited:?}");
}

/// Starts a Unix server at `path` running `body` after bind (the socket is
/// `s`); it prints `ok` once bound.
fn unix_server(path: &std::path::Path, body: &str) -> ChildGuard {
    let code = format!(
        "import socket, sys, time, os\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.bind(sys.argv[1])\n\
         {body}\n\
         print('ok', flush=True)\n\
         while True:\n    time.sleep(60)"
    );
    let (server, mut ready) = crate::util::python(&code, &[path.to_str().expect("utf-8 path")]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    server
}

/// A second server removed the path of a running listener and bound its own
/// socket there without listening. `unix_diag` still shows the first
/// listener on the path, but no client reaches it: `check` matches the
/// listener by the file it bound (device and inode), names the process that
/// now holds the path, and does not blame the old listener's state.
#[test]
fn a_listener_whose_socket_file_was_replaced_does_not_serve_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.sock");
    let target = format!("unix:{}", path.display());
    let old = unix_server(&path, "s.listen(5)");
    // The old server is also stopped: its state must not be blamed for a
    // path it no longer owns.
    assert!(Command::new("kill")
        .args(["-STOP", &old.pid().to_string()])
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(&path).expect("remove the socket file");
    let squatter = unix_server(&path, "");

    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    let json = run.json();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(cause_ids(&json), ["socket-file-replaced"], "{json:#}");
    let replaced = cause(&json, "socket-file-replaced");
    assert!(
        replaced["summary"].as_str().unwrap().contains(&format!("pid {}", old.pid())),
        "{replaced:#}"
    );
    let evidence = replaced["evidence"].to_string();
    assert!(
        evidence.contains(&format!("pid {}", squatter.pid()))
            && evidence.contains("does not listen"),
        "{replaced:#}"
    );
    drop(squatter);

    // A new server takes the path and serves it (silently, as Redis does):
    // the stopped old listener is a warning with a fix that ends it, not the
    // reason the path fails.
    std::fs::remove_file(&path).expect("remove the second socket file");
    let new = unix_server(
        &path,
        "s.listen(5)\n\
         import threading\n\
         held = []\n\
         threading.Thread(target=lambda: [held.append(s.accept()) for _ in iter(int, 1)], daemon=True).start()",
    );
    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    let json = run.json();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!cause_ids(&json).contains(&"process-stopped".to_string()), "{json:#}");
    let stranded = cause(&json, "socket-file-replaced");
    assert_eq!(stranded["severity"], "warning", "{json:#}");
    let fix = stranded["fix_commands"][0].as_str().expect("a kill command").to_string();
    assert!(fix.starts_with(&format!("kill {}", old.pid())), "{fix}");
    assert!(!fix.contains(&new.pid().to_string()), "{fix}");
    // The fix runs as printed and ends the old server.
    assert!(Command::new("bash").args(["-c", &fix]).status().unwrap().success());
    let old_pid = old.pid();
    assert!(eventually(Duration::from_secs(5), || !crate::util::process_alive(old_pid)));
    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    assert!(!cause_ids(&run.json()).contains(&"socket-file-replaced".to_string()), "{run:?}");
}

/// A server exited without removing its socket file. `check` says the file
/// is a socket nothing is bound to and prints the `rm` that clears it; after
/// running it, a server that does not unlink first can bind and serve.
#[test]
fn a_dangling_socket_file_is_named_and_its_removal_lets_a_server_bind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gone.sock");
    let target = format!("unix:{}", path.display());
    drop(unix_server(&path, "s.listen(5)"));
    assert!(path.exists(), "python leaves the socket file behind");

    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    let json = run.json();
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    let nothing = cause(&json, "nothing-listening");
    assert!(nothing["evidence"].to_string().contains("no socket is bound to"), "{nothing:#}");
    let fix = nothing["fix_commands"][0].as_str().expect("an rm command").to_string();
    assert!(fix.starts_with("rm -- "), "{fix}");
    assert!(Command::new("bash").args(["-c", &fix]).status().unwrap().success());
    assert!(!path.exists());

    let _server = unix_server(&path, "s.listen(5)\nimport threading\nthreading.Thread(target=lambda: [s.accept()[0].sendall(b'hi\\n') for _ in iter(int, 1)], daemon=True).start()");
    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A regular file where a socket should be, and a server that bound the
/// path relative to its working directory (the socket table shows
/// `rel.sock`, the client uses the absolute path): both are read by the file
/// at the path, not by its name.
#[test]
fn a_unix_path_is_matched_by_its_file_not_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain");
    std::fs::write(&file, "not a socket").unwrap();
    let run = porthole_run(&["check", &format!("unix:{}", file.display()), "--json"]);
    let evidence = cause(&run.json(), "nothing-listening")["evidence"].to_string();
    assert!(evidence.contains("is a regular file, not a socket"), "{run:?}");

    let code = "import socket, os, sys, time\n\
                os.chdir(sys.argv[1])\n\
                s = socket.socket(socket.AF_UNIX)\n\
                s.bind('rel.sock'); s.listen(3)\n\
                print('ok', flush=True)\n\
                time.sleep(60)";
    let (server, mut ready) = crate::util::python(code, &[dir.path().to_str().unwrap()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("unix:{}", dir.path().join("rel.sock").display());
    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    let json = run.json();
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
    let evidence = cause(&json, "not-responding")["evidence"].to_string();
    assert!(evidence.contains(&format!("pid {}", server.pid())), "{json:#}");
}

/// `--from` a process that exited but was not reaped: `/proc/PID` is still
/// there, so it passed as a client, then was called "not visible". It is
/// named a zombie, with its parent, and the run is a usage error.
#[test]
fn from_a_zombie_names_it_and_its_parent() {
    let (parent, mut ready) = crate::util::python(
        "import os, time\n\
         child = os.fork()\n\
         if child == 0:\n    os._exit(0)\n\
         time.sleep(0.2)\n\
         print(child, flush=True)\n\
         time.sleep(60)",
        &[],
    );
    let zombie = wait_for_line(&mut ready);
    let run = porthole_run(&["check", "127.0.0.1:9", "--from", &zombie]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "process {zombie} has exited: it is a zombie its parent (pid {})",
            parent.pid()
        )),
        "{run:?}"
    );
}

/// `/etc/hosts` has `localhost`, but the hosts line of nsswitch.conf has no
/// `files` source, so getaddrinfo never reads it: the evidence said the file
/// had no localhost line and the fix was to add the line that is already
/// there. It now names nsswitch.conf and the line to write; with that line
/// (bind-mounted as the fix says) the check passes.
#[test]
fn localhost_unresolved_because_nsswitch_skips_the_hosts_file() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let directory = tempfile::tempdir().unwrap();
    let hosts = directory.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let with_nsswitch = |nsswitch: &str| {
        let file = directory.path().join("nsswitch.conf");
        std::fs::write(&file, nsswitch).unwrap();
        let mut command = netns.command("unshare");
        command
            .args(["-m", "sh", "-c"])
            .arg(concat!(
                "mount --bind \"$0\" /etc/hosts && mount --bind \"$1\" /etc/nsswitch.conf",
                " && shift && exec \"$@\""
            ))
            .arg(&hosts)
            .arg(&file)
            .arg(crate::util::binary())
            .args(["check", &format!("localhost:{port}"), "--json", "--timeout", "1s"]);
        crate::util::scrub(&mut command);
        crate::util::run(&mut command)
    };
    let run = with_nsswitch("hosts: dns\n");
    let json = run.json();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(cause_ids(&json), ["localhost-resolution"], "{json:#}");
    let unresolved = cause(&json, "localhost-resolution");
    assert!(unresolved["evidence"].to_string().contains("no 'files' source"), "{unresolved:#}");
    let first = unresolved["fix"][0].as_str().unwrap();
    assert!(first.ends_with("hosts: files dns"), "{unresolved:#}");
    assert!(!unresolved["fix"].to_string().contains("add to /etc/hosts"), "{unresolved:#}");
    let line = first.rsplit_once(": hosts:").map(|(_, rest)| format!("hosts:{rest}\n")).unwrap();
    let run = with_nsswitch(&line);
    assert_eq!(run.code, 0, "with `{line}`: {run:?}");
}

/// A server with a private /tmp (its own mount namespace) listens on
/// `/tmp/…/x.sock`; from here the path does not exist, while `unix_diag`
/// lists the listener under that name. `check` says the file is in the
/// server's mount namespace (not deleted, not "nothing listens"), and the
/// printed `check --from PID` reaches it through `/proc/PID/root`.
#[test]
fn a_unix_listener_in_another_mount_namespace_is_reached_with_from() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("x.sock");
    let code = "import socket, sys, threading, time\n\
                s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)\n\
                def serve():\n    while True:\n        c, _ = s.accept(); c.sendall(b'hi\\n')\n\
                threading.Thread(target=serve, daemon=True).start()\n\
                print('ok', flush=True)\n\
                time.sleep(60)";
    // unshare and sh exec in turn: the pid is python's.
    let mut private = Command::new("unshare");
    private
        .args(["-m", "sh", "-c", "mount -t tmpfs none \"$0\" && exec python3 \"$@\""])
        .arg(directory.path());
    let (server, mut ready) = crate::util::python_via(private, code, &[path.to_str().unwrap()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    assert!(!path.exists(), "the socket file is only in the server's mount namespace");
    let target = format!("unix:{}", path.display());
    let run = porthole_run(&["check", &target, "--json", "--timeout", "500ms"]);
    let json = run.json();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(cause_ids(&json), ["other-namespace"], "{json:#}");
    let elsewhere = cause(&json, "other-namespace");
    assert!(elsewhere["summary"].as_str().unwrap().contains("another mount namespace"));
    let command = elsewhere["fix_commands"][0].as_str().unwrap();
    assert!(command.contains(&format!("--from {}", server.pid())), "{elsewhere:#}");
    let binary = crate::util::binary();
    let command = command.replacen("porthole", binary.to_str().unwrap(), 1);
    let inside = crate::util::run(Command::new("sh").args(["-c", &command]));
    assert_eq!(inside.code, 0, "{command}: {inside:?}");
}

/// An HTTP target that answers with an error status was "OK: reachable"
/// (exit 0) while `wait` called the same answer not ready. The connection
/// works, the request does not: `http-error`, worded by status class, with
/// `--status` to accept another answer, as `wait --status` does.
#[test]
fn an_http_error_status_is_a_cause_and_status_accepts_it() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // 503 under /busy, 502 under /gateway, 404 elsewhere, 400 for a Host
    // other than app.test, 200 at / for app.test.
    let server = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = self.headers.get("Host", "")
        code, body = 200, b"ok"
        if self.path == "/busy": code, body = 503, b"<h1>Service Unavailable</h1>\n<p>try later</p>"
        elif self.path == "/gateway": code, body = 502, b"no upstream"
        elif self.path == "/limited": code, body = 429, b"slow down"
        elif self.path == "/socket": code, body = 426, b"upgrade to websocket"
        elif self.path == "/hosted" and not host.startswith("app.test"): code, body = 400, b"Bad Request (400)"
        elif self.path not in ("/", "/hosted"): code, body = 404, b"not here"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ok", flush=True)
s.serve_forever()
"#;
    let (_server, mut ready) = python_in(&netns, server, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let (code, json) = check(&netns, &[&url("/")]);
    assert_eq!((code, json["ok"].clone()), (0, true.into()), "{json:#}");

    let expectations = [
        (
            "/busy",
            "HTTP 503 Service Unavailable",
            "cannot serve now",
            "Service Unavailable try later",
        ),
        (
            "/gateway",
            "HTTP 502 Bad Gateway",
            "could not get an answer from the service behind it",
            "no upstream",
        ),
        ("/missing", "HTTP 404 Not Found", "nothing is served at /missing", "not here"),
        ("/limited", "HTTP 429 Too Many Requests", "rate-limiting this client", "slow down"),
        (
            "/socket",
            "HTTP 426 Upgrade Required",
            "wants another protocol on /socket",
            "upgrade to websocket",
        ),
        ("/hosted", "HTTP 400 Bad Request", "possibly the Host header", "Bad Request (400)"),
    ];
    for (path, status, words, body) in expectations {
        let (code, json) = check(&netns, &[&url(path)]);
        assert_eq!(code, 1, "{path}: {json:#}");
        assert_eq!(json["ok"], false, "{json:#}");
        assert_eq!(cause_ids(&json), ["http-error"], "{path}: {json:#}");
        let cause = cause(&json, "http-error");
        assert_eq!(cause["severity"], "error");
        let summary = cause["summary"].as_str().unwrap();
        assert!(summary.contains(status) && summary.contains(words), "{path}: {summary}");
        let evidence = cause["evidence"].to_string();
        assert!(evidence.contains(&format!("the body begins: \\\"{body}\\\"")), "{evidence}");
        assert!(evidence.contains("held by python3"), "{evidence}");
    }
    let (_, json) = check(&netns, &[&url("/hosted")]);
    let evidence = cause(&json, "http-error")["evidence"].to_string();
    assert!(
        evidence.contains(&format!("the request carried Host: 127.0.0.1:{port}")),
        "{evidence}"
    );

    // The answer the user expects is accepted; a bad list is bad usage.
    let (code, json) = check(&netns, &[&url("/missing"), "--status", "200-299,404"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");
    let (code, json) = check(&netns, &[&url("/"), "--status", "204"]);
    assert_eq!(code, 1, "{json:#}");
    let refused = cause(&json, "http-error");
    assert!(refused["evidence"].to_string().contains("accepted statuses: 204"), "{refused:#}");
    let summary = refused["summary"].as_str().unwrap();
    assert!(
        summary.ends_with("HTTP 200 OK, which is not among the accepted statuses 204"),
        "{summary}"
    );
    let output = netns.porthole(&["check", &url("/"), "--status", "4o4"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(
        output.stderr,
        "porthole: --status '4o4': '4o4' is not an HTTP status (expected 100-599)\n"
    );
    // The text verdict leads with the cause, not "OK".
    let text = netns.porthole(&["check", &url("/busy")]);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.starts_with("http-error: 127.0.0.1:"), "{}", text.stdout);
}

/// Runs `openssl ARGS` in `directory`, which must succeed.
fn openssl(directory: &std::path::Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(directory).output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed certificate (a CA one, as `openssl req -x509` makes it) and
/// its key, written to `key` and `cert` in `directory`.
fn self_signed(directory: &std::path::Path, subject: &str, key: &str, cert: &str, extra: &[&str]) {
    let mut args = vec!["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"];
    args.extend(["-subj", subject, "-keyout", key, "-out", cert]);
    args.extend(extra);
    openssl(directory, &args);
}

/// An HTTPS server in `netns` on `port` with `cert.pem`/`key.pem` of
/// `directory`.
fn https_server(netns: &Netns, port: u16, directory: &std::path::Path) -> ChildGuard {
    let (child, mut ready) = python_in(
        netns,
        "import http.server,ssl,sys\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_GET(self):\n\
         \x20       self.send_response(200); self.send_header('Content-Length','2'); self.end_headers(); self.wfile.write(b'ok')\n\
         \x20   def log_message(self,*a): pass\n\
         s=http.server.ThreadingHTTPServer(('127.0.0.1',int(sys.argv[1])),H)\n\
         c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[2]+'/cert.pem',sys.argv[2]+'/key.pem')\n\
         s.socket=c.wrap_socket(s.socket,server_side=True)\n\
         print('ok',flush=True); s.serve_forever()",
        &[&port.to_string(), directory.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    child
}

/// `curl https://…` failed with "self-signed certificate" or "no alternative
/// certificate subject name matches" while `check` said OK with nothing
/// more: the probe accepts any certificate (a dev server's self-signed one
/// must not hide the answer), and now also says what a verifying client,
/// given the same trusted authorities (`SSL_CERT_FILE`), would refuse.
#[test]
fn a_certificate_a_verifying_client_refuses_is_named() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    // A private CA, and server certificates it signs: one for the names the
    // probe uses, one for another name only; and a self-signed one.
    self_signed(dir, "/CN=Test CA", "ca.key", "ca.pem", &[]);
    for (name, san) in [("right", "DNS:localhost,IP:127.0.0.1"), ("wrong", "DNS:other.test")] {
        let sub = dir.join(name);
        std::fs::create_dir(&sub).unwrap();
        openssl(
            &sub,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=server",
                "-keyout",
                "key.pem",
                "-out",
                "req.pem",
            ],
        );
        std::fs::write(sub.join("ext.cnf"), format!("subjectAltName={san}\n")).unwrap();
        openssl(
            &sub,
            &[
                "x509",
                "-req",
                "-in",
                "req.pem",
                "-CA",
                "../ca.pem",
                "-CAkey",
                "../ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "cert.pem",
            ],
        );
    }
    let selfsigned = dir.join("self");
    std::fs::create_dir(&selfsigned).unwrap();
    let names = "subjectAltName=DNS:localhost,IP:127.0.0.1";
    self_signed(&selfsigned, "/CN=localhost", "key.pem", "cert.pem", &["-addext", names]);
    let ports = [unique_port(), unique_port(), unique_port()];
    let _servers: Vec<ChildGuard> = ["right", "wrong", "self"]
        .iter()
        .zip(ports)
        .map(|(name, port)| https_server(&netns, port, &dir.join(name)))
        .collect();
    let ca = dir.join("ca.pem");
    let check_with_ca = |port: u16| {
        let target = format!("https://127.0.0.1:{port}/");
        let output = netns.porthole_env(
            &[("SSL_CERT_FILE", ca.to_str().unwrap())],
            &["check", &target, "--json"],
        );
        let json = output.json();
        assert_fix_commands_run(&netns, &json);
        (output.code, json)
    };

    // Signed by the trusted CA for this address: no cause.
    let (code, json) = check_with_ca(ports[0]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");

    // Made for another name: a warning naming both; the port still works.
    let (code, json) = check_with_ca(ports[1]);
    assert_eq!((code, json["ok"].clone()), (0, true.into()), "{json:#}");
    assert_eq!(cause_ids(&json), ["tls-certificate"], "{json:#}");
    let wrong = cause(&json, "tls-certificate");
    assert_eq!(wrong["severity"], "warning");
    let summary = wrong["summary"].as_str().unwrap();
    assert!(summary.contains("it is made for other.test, not for 127.0.0.1"), "{summary}");

    // Self-signed (a CA certificate, as `openssl req -x509` makes it), not
    // in the bundle: an unknown issuer. Once in the bundle, trusted.
    let (code, json) = check_with_ca(ports[2]);
    assert_eq!(code, 0, "{json:#}");
    let summary = cause(&json, "tls-certificate")["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("self-signed, or signed by a private CA"), "{summary}");
    let own = selfsigned.join("cert.pem");
    let output = netns.porthole_env(
        &[("SSL_CERT_FILE", own.to_str().unwrap())],
        &["check", &format!("https://127.0.0.1:{}/", ports[2]), "--json"],
    );
    assert!(output.json()["causes"].as_array().unwrap().is_empty(), "{}", output.stdout);

    // What curl itself says, where it is installed: the same verdicts.
    if crate::util::installed("curl") {
        let curl = |port: u16| {
            netns
                .command("curl")
                .args(["-sS", "-o", "/dev/null", "--cacert", ca.to_str().unwrap()])
                .arg(format!("https://127.0.0.1:{port}/"))
                .output()
                .unwrap()
                .status
                .success()
        };
        assert_eq!([curl(ports[0]), curl(ports[1]), curl(ports[2])], [true, false, false]);
    }
}

/// Two processes listen on one address with `SO_REUSEPORT`, and one of them
/// is stopped: the kernel spreads new connections over both, so about half
/// of them hang. A probe that reached the live one said "OK", every other
/// run; now every run names the stopped member, whichever one it reached.
#[test]
fn a_stopped_member_of_a_reuseport_group_is_named_even_when_the_probe_got_through() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = r#"
import os, socket, sys
def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(64)
    return s
def serve(s):
    while True:
        c, _ = s.accept()
        c.sendall(b"hello\n")
        c.close()
# Both members listen before the child's pid is printed (and stopped).
theirs, mine = listener(), listener()
child = os.fork()
if child == 0:
    mine.close()
    serve(theirs)
theirs.close()
print(child, flush=True)
serve(mine)
"#;
    let (_parent, mut out) = python_in(&netns, server, &[&port.to_string()]);
    let child: u32 = wait_for_line(&mut out).parse().unwrap();
    // The forked member outlives its parent's guard: killed (stopped or
    // not) when the test ends, however it ends.
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
        }
    }
    let stopped = KillOnDrop(child);
    let status = Command::new("kill").args(["-STOP", &child.to_string()]).status().unwrap();
    assert!(status.success());
    let mut reached_the_live_one = 0;
    for _ in 0..8 {
        let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "500ms"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["process-stopped"], "{json:#}");
        let cause = cause(&json, "process-stopped");
        assert_eq!(cause["fix"][0], format!("kill -CONT {child}"), "{cause:#}");
        if json["attempts"][0]["detail"].as_str().unwrap().contains("answered \"hello") {
            reached_the_live_one += 1;
            let summary = cause["summary"].as_str().unwrap();
            assert!(
                summary.contains(&format!(
                    "holds one of 2 listeners that share 127.0.0.1:{port} (SO_REUSEPORT) and is stopped"
                )),
                "{summary}"
            );
        }
    }
    // Which member a connection reaches is the kernel's hash of its source
    // port: eight probes reach the live one with near certainty (1 - 2^-8).
    eprintln!("{reached_the_live_one} of 8 probes reached the live listener");
    drop(stopped);
}

/// The same group, but the member that hangs is running and never calls
/// `accept()`: a probe that reached the live member said "OK" with no
/// warning. `check` now spreads a few closed connections over the group and
/// names the member whose queue keeps them; with it gone, the port is OK.
#[test]
fn a_reuseport_member_that_never_accepts_is_named_even_when_the_probe_got_through() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let member = |accepts: bool| {
        let code = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("ok", flush=True)
if sys.argv[2] == "accept":
    while True:
        c, _ = s.accept()
        c.sendall(b"hello\n")
        c.close()
else:
    import time
    time.sleep(3600)
"#;
        let mode = if accepts { "accept" } else { "hold" };
        let (child, mut ready) = python_in(&netns, code, &[&port.to_string(), mode]);
        assert_eq!(wait_for_line(&mut ready), "ok");
        child
    };
    let _live = member(true);
    let stuck = member(false);
    let stuck_pid = stuck.pid();
    let mut reached_the_live_one = 0;
    for _ in 0..6 {
        let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "500ms"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
        let cause = cause(&json, "not-responding");
        assert!(cause["evidence"].to_string().contains(&format!("pid {stuck_pid}")), "{cause:#}");
        if json["attempts"][0]["detail"].as_str().unwrap().contains("answered \"hello") {
            reached_the_live_one += 1;
            let summary = cause["summary"].as_str().unwrap();
            assert!(
                summary.contains(&format!(
                    "(pid {stuck_pid}) holds one of 2 listeners that share 127.0.0.1:{port} (SO_REUSEPORT) and does not accept"
                )),
                "{summary}"
            );
        }
    }
    eprintln!("{reached_the_live_one} of 6 probes reached the live listener");
    drop(stuck);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "500ms"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");
}

/// A link-local listener on an interface of a namespace the test made:
/// the zone is named by the interface's name everywhere (never its index);
/// a target without a zone, or with the zone of an interface that does not
/// hold the address, is `link-local` with the target that works, and that
/// fix runs as printed; an interface that does not exist is bad input.
#[test]
fn link_local_targets_name_their_zone() {
    let Some(netns) = Netns::create() else { return };
    // A veth pair whose only link-local address is the one added here.
    netns.run_ok("ip", &["link", "add", "ll0", "type", "veth", "peer", "name", "ll1"]);
    for end in ["ll0", "ll1"] {
        netns.run_ok("ip", &["link", "set", end, "addrgenmode", "none"]);
        netns.run_ok("ip", &["link", "set", end, "up"]);
    }
    netns.run_ok("ip", &["addr", "add", "fe80::10/64", "dev", "ll0", "nodad"]);
    let port = unique_port();
    let code = r#"
import socket, sys
server = socket.socket(socket.AF_INET6)
server.bind(("fe80::10", int(sys.argv[1]), 0, socket.if_nametoindex("ll0")))
server.listen(16)
print("ok", flush=True)
held = []
while True:
    held.append(server.accept()[0])
"#;
    let (_server, mut ready) = python_in(&netns, code, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let index = {
        let output = netns.command("cat").arg("/sys/class/net/ll0/ifindex").output().unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };

    for zone in ["ll0", "25ll0", index.as_str()] {
        let target = format!("[fe80::10%{zone}]:{port}");
        let (code, json) = check(&netns, &[&target]);
        assert_eq!(code, 0, "{target}: {json:#}");
        assert_eq!(json["target"], format!("[fe80::10%ll0]:{port}"), "{json:#}");
        assert_eq!(json["attempts"][0]["address"], "fe80::10%ll0", "{json:#}");
        let detail = json["attempts"][0]["detail"].as_str().unwrap();
        assert!(detail.starts_with("connected from [fe80::10%ll0]:"), "{detail}");
    }
    let text = netns.porthole(&["wait", &format!("[fe80::10%{index}]:{port}"), "-t", "2s"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stderr.contains(&format!("[fe80::10%ll0]:{port} connected")), "{text:?}");

    let fix = format!("porthole check '[fe80::10%ll0]:{port}'");
    for target in [format!("[fe80::10]:{port}"), format!("[fe80::10%lo]:{port}")] {
        let (code, json) = check(&netns, &[&target]);
        assert_eq!(code, 1, "{target}: {json:#}");
        assert_eq!(cause_ids(&json), ["link-local"], "{target}: {json:#}");
        assert_eq!(cause(&json, "link-local")["fix_commands"][0], fix.as_str(), "{json:#}");
        let printed = netns.porthole(&["check", &target]);
        assert!(!printed.stdout.contains(&format!("%{index}]")), "{}", printed.stdout);
    }
    let words: Vec<&str> = vec!["porthole-fix", "-c", &fix];
    // `scrub` puts the build on PATH, where the fix calls it by name.
    let mut run = netns.command("bash");
    crate::util::scrub(&mut run);
    let output = run.args(&words[1..]).output().expect("bash runs");
    assert!(output.status.success(), "{fix}: {}", String::from_utf8_lossy(&output.stdout));

    // Nothing link-local on the zone's interface (lo), no other host on ll0.
    let (code, json) = check(&netns, &[&format!("[fe80::99%lo]:{port}")]);
    assert_eq!((code, cause_ids(&json)), (1, vec!["link-local".to_string()]), "{json:#}");
    let evidence = cause(&json, "link-local")["evidence"].to_string();
    assert!(
        evidence.contains("interfaces with link-local addresses here: ll0 (fe80::10)"),
        "{evidence}"
    );

    let output = netns.porthole(&["check", &format!("[fe80::10%nosuch]:{port}")]);
    crate::util::assert_usage_error(&output, "an interface that does not exist");
    assert!(output.stderr.contains("no network interface 'nosuch'"), "{}", output.stderr);
}

/// The `porthole wait` a nothing-listening fix suggests waits for the
/// target that was checked, not for `localhost:PORT`.
#[test]
fn nothing_listening_suggests_waiting_for_the_target_itself() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    for (target, wait) in [
        (format!("[::1]:{port}"), format!("porthole wait '[::1]:{port}'")),
        (
            format!("postgres://app@127.0.0.1:{port}/db"),
            format!("porthole wait postgres://app@127.0.0.1:{port}/db"),
        ),
    ] {
        let (code, json) = check(&netns, &[&target]);
        assert_eq!(code, 1, "{json:#}");
        let fix = cause(&json, "nothing-listening")["fix"].to_string();
        assert!(fix.contains(&format!("{wait} -- followed by")), "{target}: {fix}");
    }
}

/// A space in an HTTP target's path was sent as typed, splitting the request
/// line: the server answered 400 and `check` blamed the Host header. It is
/// sent encoded, as browsers and Go's net/http send it, and so is text that
/// is not ASCII; a control character (a line break that would add a header
/// of its own) is refused.
#[test]
fn an_http_path_is_sent_encoded_and_a_control_character_is_refused() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // 200 only for the encoded paths; 404 for anything else.
    let server = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path in ("/a%20b?q=x%20y", "/caf%C3%A9") else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ok", flush=True)
s.serve_forever()
"#;
    let (_server, mut ready) = python_in(&netns, server, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    for path in ["/a b?q=x y", "/caf\u{e9}"] {
        let output = netns.porthole(&["check", &format!("http://127.0.0.1:{port}{path}")]);
        assert_eq!(output.code, 0, "{path}: {output:?}");
    }
    let target = format!("http://127.0.0.1:{port}/a\r\nX-Injected: 1");
    let output = netns.porthole(&["check", &target]);
    crate::util::assert_usage_error(&output, "a line break in the path");
    assert!(
        output.stderr.contains("/a\\r\\nX-Injected: 1': a control character in the path"),
        "{}",
        output.stderr
    );
}

/// A host name that does not resolve (a typo of a hosts-file name, a
/// compose service's name used outside its network, a reserved `.invalid`
/// name) ended `check` with exit 2 "resolving 'h'", as if the input were
/// bad. It is now the `name-resolution` cause (exit 1) with the sources
/// nsswitch.conf asked, what the hosts file says and the name or address
/// meant; the hosts line it suggests for `db` makes the check pass.
#[test]
fn a_host_name_that_does_not_resolve_is_a_diagnosis() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let hosts = "127.0.0.1 localhost\n127.0.0.1 dbhost\n";
    let run = |hosts: &str, name: &str| {
        let target = format!("{name}:{port}");
        let output =
            netns.porthole_with_hosts(hosts, &["check", &target, "--json", "--timeout", "1s"]);
        let json = output.json();
        assert_fix_commands_run(&netns, &json);
        (output.code, json)
    };

    let (code, json) = run(hosts, "dbhots");
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["name-resolution"], "{json:#}");
    let typo = cause(&json, "name-resolution");
    let evidence = typo["evidence"].to_string();
    assert!(evidence.contains("getaddrinfo(\\\"dbhots\\\") failed"), "{typo:#}");
    assert!(evidence.contains("asked files (/etc/hosts)"), "{typo:#}");
    assert!(evidence.contains("/etc/hosts has 'dbhost' (127.0.0.1)"), "{typo:#}");
    assert_eq!(typo["fix"][0], "connect to 'dbhost' (the name /etc/hosts lists)", "{typo:#}");

    let (code, json) = run(hosts, "db");
    assert_eq!(code, 1, "{json:#}");
    let service = cause(&json, "name-resolution");
    assert!(
        service["summary"].as_str().unwrap().contains("listens on this machine"),
        "{service:#}"
    );
    let line = service["fix"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|fix| fix.as_str()?.strip_prefix("or add to /etc/hosts: "))
        .unwrap_or_else(|| panic!("a hosts line to add: {service:#}"));
    assert_eq!(line, "127.0.0.1 db");
    let (code, json) = run(&format!("{hosts}{line}\n"), "db");
    assert_eq!(code, 0, "with the line added: {json:#}");

    let (code, json) = run(hosts, "nosuchhost.invalid");
    assert_eq!(code, 1, "{json:#}");
    let reserved = cause(&json, "name-resolution");
    assert!(reserved["evidence"].to_string().contains("RFC 6761"), "{reserved:#}");
}

/// `wait`'s timeout explanation for a name that never resolves is the same
/// diagnosis, not the resolver's bare error.
#[test]
fn wait_explains_a_name_that_does_not_resolve() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let target = format!("nosuchhost.invalid:{port}");
    let output = netns.porthole_with_hosts(
        "127.0.0.1 localhost\n",
        &["wait", &target, "--timeout", "1s", "--interval", "200ms"],
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("  name-resolution: 'nosuchhost.invalid' does not resolve"),
        "{output:?}"
    );
}

/// A fix line that runs porthole again called it `porthole` whatever the
/// user had run: for a build run by its path (`./target/release/porthole`,
/// a download, a copy in /tmp) the shell found no such command, or an older
/// install. The line now calls it by its path unless the PATH finds this
/// very file, and runs as printed either way.
#[test]
fn a_fix_that_runs_porthole_calls_it_as_this_shell_can_run_it() {
    use std::io::Write as _;
    // A listener that answers every connection with HTTP: not PostgreSQL,
    // so the fix names the process that holds the port (`porthole PORT`).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    // Named `porthole`, in a directory of its own: a hard link (or copy)
    // of the build.
    let (dir, build) = crate::util::binary_others_can_run();
    let copy = dir.path().join("porthole");
    std::fs::hard_link(&build, &copy).expect("link the build as porthole");
    let target = format!("postgres://127.0.0.1:{port}");
    let system_path = "/usr/sbin:/usr/bin:/sbin:/bin";
    let on_path = format!("{}:{system_path}", dir.path().display());
    let as_word = porthole::shell::word(copy.to_str().expect("a UTF-8 path")).into_owned();
    for (path, program) in [(system_path, as_word.as_str()), (on_path.as_str(), "porthole")] {
        let mut command = Command::new(&copy);
        crate::util::scrub(&mut command);
        let output = crate::util::run(command.env("PATH", path).args(["check", "--json", &target]));
        assert_eq!(output.code, 1, "PATH={path}: {output:?}");
        let json = output.json();
        let fix = format!("{program} {port}   # the process that holds the port");
        let commands = &cause(&json, "service-not-ready")["fix_commands"];
        assert_eq!(commands[0], fix.as_str(), "PATH={path}: {json:#}");
        // The line runs as printed in a shell with the same PATH: `porthole
        // PORT` finds the listener (0), where a missing command is 127.
        let mut shell = Command::new("sh");
        crate::util::scrub(&mut shell);
        let ran = crate::util::run(shell.env("PATH", path).args(["-c", &fix]));
        assert_eq!(ran.code, 0, "PATH={path}: {fix}: {ran:?}");
        assert!(ran.stdout.contains(&port.to_string()), "{fix}: {ran:?}");
    }

    // Off PATH in a directory named with a quote, `$(…)`, an ESC sequence,
    // a newline and a bidi override: the line as the terminal shows it
    // holds none of them raw and runs this very file.
    let hostile = dir.path().join("my dir's $(touch pwned) \u{1b}[31m\n\u{202e}x");
    std::fs::create_dir(&hostile).expect("a directory named with escapes");
    let copy = hostile.join("porthole");
    std::fs::hard_link(&build, &copy).expect("link the build as porthole");
    let program = porthole::shell::printable_word(copy.to_str().expect("a UTF-8 path"));
    let mut command = Command::new(&copy);
    crate::util::scrub(&mut command);
    let output = crate::util::run(command.env("PATH", system_path).args(["check", &target]));
    assert_eq!(output.code, 1, "{output:?}");
    crate::hostile::assert_terminal_safe("check", &output);
    let shown = output
        .stdout
        .lines()
        .find_map(|line| line.split_once("$ ").filter(|(_, fix)| fix.ends_with("holds the port")))
        .map(|(_, fix)| fix.to_string())
        .unwrap_or_else(|| panic!("no fix line: {output:?}"));
    assert_eq!(shown, format!("{program} {port}   # the process that holds the port"));
    let mut shell = Command::new("sh");
    crate::util::scrub(&mut shell);
    let ran = crate::util::run(
        shell.env("PATH", system_path).current_dir(dir.path()).args(["-c", &shown]),
    );
    assert_eq!(ran.code, 0, "{shown}: {ran:?}");
    assert!(ran.stdout.contains(&port.to_string()), "{shown}: {ran:?}");
    assert!(!dir.path().join("pwned").exists(), "{shown}");
}

/// A server that reads one request, says so, and answers `200` only once
/// the file named by its argument exists.
const ANSWERS_WHEN_RELEASED: &str = r#"
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(4096)
print("request", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
c.close()
"#;

/// Ctrl-Z then `fg` while `check` waits for an answer: Linux fails a read
/// that has a socket timeout with EINTR once the process is continued, even
/// with no signal handler. Taken as a failed read, a healthy server was
/// called not-responding ("it may be deadlocked"); the read is tried again
/// and the answer counts.
#[test]
fn a_stop_and_continue_while_waiting_for_the_answer_is_not_blamed_on_the_server() {
    let release = tempfile::tempdir().expect("a temporary directory");
    let release_file = release.path().join("release");
    let release_arg = release_file.to_str().expect("a UTF-8 temporary path");
    let (_server, mut out) = crate::util::python(ANSWERS_WHEN_RELEASED, &[release_arg]);
    let port = wait_for_line(&mut out);
    let url = format!("http://127.0.0.1:{port}/");
    let mut command = crate::util::porthole();
    command.args(["check", "--timeout", "120s", &url]);
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let check = command.spawn().expect("porthole starts");
    let pid = check.id();
    assert_eq!(wait_for_line(&mut out), "request");
    // The request was sent; stop porthole once one of its threads is
    // blocked receiving (recvfrom, 45 on x86_64; read, 0), as it will be.
    let receiving = || {
        std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten().any(|task| {
            std::fs::read_to_string(task.path().join("syscall"))
                .is_ok_and(|call| matches!(call.split(' ').next(), Some("45" | "0")))
        })
    };
    assert!(eventually(Duration::from_secs(60), receiving), "porthole never waited to receive");
    let stopped = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('T')))
    };
    for signal in ["-STOP", "-CONT"] {
        let sent = Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill");
        assert!(sent.success());
        if signal == "-STOP" {
            assert!(eventually(Duration::from_secs(60), stopped), "porthole did not stop");
        }
    }
    assert!(eventually(Duration::from_secs(60), || !stopped()), "porthole did not continue");
    std::fs::write(&release_file, b"").expect("release file written");
    let output = check.wait_with_output().expect("porthole ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("HTTP 200 OK"), "{stdout}");
}
