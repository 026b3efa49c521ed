//! `porthole check` against situations where an earlier diagnosis was wrong
//! or its fix did not run: reuseport groups, iptables-nft rules, TIME-WAIT
//! leftovers, plain servers answering a ClientHello, two causes at once,
//! unreadable namespaces, a bad `localhost` line, and fixes that must name
//! real pids and settings. Each builds the real situation in a private
//! network namespace; where a fix is a command, running it repairs it.
//!
//! See: issue 11, "What users hit: wrong blames, fixes that don't run".

use std::process::Command;

use crate::check::{assert_fix_commands_run, check};
use crate::util::{
    cause, cause_ids, python, python_in, server_in, server_with_backlog, unique_port,
    wait_for_line, ChildGuard, Netns,
};

/// A server in a `SO_REUSEPORT` group on ADDRESS:PORT that answers HTTP;
/// `fork` makes it fork after listen() (two processes, one socket).
const REUSEPORT_SERVER: &str = r#"
import ctypes, os, signal, socket, sys
address, port, fork = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fork"
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind((address, port))
s.listen()
child = fork and os.fork() == 0
if child:
    # The test kills the parent; the child must not outlive it.
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    if os.getppid() == 1:
        sys.exit(0)
else:
    print("ok", flush=True)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
"#;

fn fix_lines(cause: &serde_json::Value) -> Vec<String> {
    cause["fix"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_reuseport_group_and_a_forked_server_are_not_split_listeners() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let group: Vec<(ChildGuard, _)> = (0..3)
        .map(|_| {
            let (child, mut ready) =
                python_in(&netns, REUSEPORT_SERVER, &["127.0.0.1", &port.to_string(), "single"]);
            assert_eq!(wait_for_line(&mut ready), "ok");
            (child, ready)
        })
        .collect();
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["causes"].as_array().unwrap().is_empty(), "a healthy group: {json:#}");
    assert_eq!(json["listeners"].as_array().unwrap().len(), 3, "{json:#}");
    let report = netns.porthole(&[&port.to_string(), "--json"]).json();
    assert_eq!(report["split_listeners"], false, "porthole PORT agrees: {report:#}");
    drop(group);

    let forked = unique_port();
    let (_server, mut ready) =
        python_in(&netns, REUSEPORT_SERVER, &["127.0.0.1", &forked.to_string(), "fork"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("localhost:{forked}")]);
    assert_eq!(code, 0, "{json:#}");
    assert!(!cause_ids(&json).contains(&"split-listeners".to_string()), "{json:#}");

    // Different services on different families still are.
    let split = unique_port();
    let _v4 = server_in(&netns, "127.0.0.1", split, "http");
    let _v6 = server_in(&netns, "::1", split, "http");
    let (_, json) = check(&netns, &[&format!("localhost:{split}")]);
    let warning = cause(&json, "split-listeners");
    assert_eq!(warning["severity"], "warning");
    assert!(!fix_lines(warning).iter().any(|f| f.starts_with("kill")), "{warning:#}");
}

/// Rules added with plain `iptables`, which is iptables-nft on Debian.
#[test]
fn iptables_nft_rules_are_explained_and_their_fix_removes_them() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("iptables-nft") {
        crate::util::skip("iptables-nft is not installed");
        return;
    }
    let ports: Vec<u16> = (0..5).map(|_| unique_port()).collect();
    let _servers: Vec<ChildGuard> =
        ports.iter().map(|port| server_in(&netns, "127.0.0.1", *port, "http")).collect();
    let [reset, multi, source, conntrack, other_interface] = ports[..] else { unreachable!() };
    let rules: [Vec<String>; 5] = [
        format!("-A INPUT -p tcp --dport {reset} -j REJECT --reject-with tcp-reset"),
        format!("-A INPUT -p tcp -m multiport --dports 1,{multi} -j DROP"),
        format!("-A INPUT -s 127.0.0.1 -p tcp --dport {source} -j DROP"),
        format!("-A INPUT -i lo -m conntrack --ctstate NEW -p tcp --dport {conntrack} -j REJECT"),
        format!("-A INPUT ! -i lo -p tcp --dport {other_interface} -j DROP"),
    ]
    .map(|rule| rule.split(' ').map(str::to_string).collect());
    for rule in &rules {
        let words: Vec<&str> = rule.iter().map(String::as_str).collect();
        netns.run_ok("iptables", &words);
    }

    let (code, json) = check(&netns, &[&format!("127.0.0.1:{reset}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
    let reject = cause(&json, "firewall-reject");
    assert_eq!(reject["severity"], "error");
    assert!(reject["summary"].as_str().unwrap().contains("tcp-reset"), "{reject:#}");
    assert_eq!(reject["fix_commands"][0], "iptables-nft -t filter -D INPUT 1");

    for (port, id) in [(multi, "firewall-drop"), (source, "firewall-drop")] {
        let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), [id], "{port}: {json:#}");
        assert!(cause(&json, id)["evidence"].to_string().contains("iptables-nft"), "{json:#}");
    }
    let (_, json) = check(&netns, &[&format!("127.0.0.1:{conntrack}")]);
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
    assert!(cause(&json, "firewall-reject")["evidence"].to_string().contains("--ctstate NEW"));
    // `! -i lo` spares loopback: healthy.
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{other_interface}")]);
    assert_eq!(code, 0, "{json:#}");

    // The printed fix, run as printed, repairs the port.
    let fix = cause(&json_for(&netns, reset), "firewall-reject")["fix_commands"][0]
        .as_str()
        .unwrap()
        .to_string();
    let words: Vec<&str> = fix.split_whitespace().collect();
    netns.run_ok(words[0], &words[1..]);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{reset}")]);
    assert_eq!(code, 0, "after `{fix}`: {json:#}");
}

fn json_for(netns: &Netns, port: u16) -> serde_json::Value {
    check(netns, &[&format!("127.0.0.1:{port}")]).1
}

/// An old server that did not set SO_REUSEADDR closed its connections
/// first and exited: only its TIME-WAIT sockets are left on the port.
#[test]
fn a_port_held_by_time_wait_of_a_server_without_reuseaddr() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_child, mut ready) = python_in(
        &netns,
        "import socket,sys,time\n\
         p=int(sys.argv[1]); l=socket.socket(); l.bind(('127.0.0.1',p)); l.listen()\n\
         c=socket.create_connection(('127.0.0.1',p)); a,_=l.accept(); a.close(); time.sleep(0.2); c.close(); l.close()\n\
         print('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &["--bind", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    // (An ephemeral-port warning may follow: the test port is in the range.)
    assert_eq!(cause_ids(&json)[0], "port-in-use", "{json:#}");
    let in_use = cause(&json, "port-in-use");
    assert_eq!(in_use["severity"], "error");
    let summary = in_use["summary"].as_str().unwrap();
    assert!(summary.contains("TIME-WAIT") && summary.contains("SO_REUSEADDR"), "{in_use:#}");
    let evidence = in_use["evidence"].to_string();
    assert!(evidence.contains("expires in"), "{evidence}");
    assert!(!evidence.contains("namespace porthole cannot read"), "{evidence}");
    assert!(in_use["fix_commands"][0].as_str().unwrap().starts_with("sleep "), "{in_use:#}");
    assert_eq!(json["attempts"][1]["outcome"], "in-use", "even with SO_REUSEADDR: {json:#}");

    // `porthole PORT` names the leftovers instead of "nothing holds".
    let text = netns.porthole(&[&port.to_string()]);
    assert!(!text.stdout.contains("nothing holds"), "{}", text.stdout);
    assert!(text.stdout.contains("TIME-WAIT"), "{}", text.stdout);
}

#[test]
fn python_http_server_answering_a_client_hello_is_a_tls_mismatch() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // What `python3 -m http.server` runs.
    let (_server, mut ready) = python_in(
        &netns,
        "import http.server,sys\n\
         s=http.server.ThreadingHTTPServer(('127.0.0.1',int(sys.argv[1])),http.server.SimpleHTTPRequestHandler)\n\
         print('ok'); s.serve_forever()",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("https://localhost:{port}/"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["tls-mismatch"], "{json:#}");
    let mismatch = cause(&json, "tls-mismatch");
    assert_eq!(mismatch["severity"], "error");
    assert_eq!(mismatch["fix"][0], format!("use http://localhost:{port}/"));
    assert!(!json.to_string().contains("deadlocked"), "{json:#}");
}

/// A drop rule for 127.0.0.1 and a service on ::1 only: both must go.
#[test]
fn a_firewall_drop_and_an_ipv6_only_listener_are_both_reported_in_fix_order() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    netns.run_ok("nft", &["add table inet guard"]);
    netns.run_ok(
        "nft",
        &["add chain inet guard input { type filter hook input priority 0 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule inet guard input ip daddr 127.0.0.1 tcp dport {port} drop")],
    );
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["firewall-drop", "family-mismatch"], "{json:#}");
    for id in ["firewall-drop", "family-mismatch"] {
        assert_eq!(cause(&json, id)["severity"], "error");
    }
    // After the printed fix for the rule, the second cause remains.
    let fix = cause(&json, "firewall-drop")["fix_commands"][0].as_str().unwrap().to_string();
    let words: Vec<&str> = fix.split_whitespace().collect();
    netns.run_ok(words[0], &words[1..]);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
}

#[test]
fn a_stopped_server_behind_a_drop_rule_does_not_claim_handshakes() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    assert!(Command::new("kill")
        .args(["-STOP", &server.pid().to_string()])
        .status()
        .unwrap()
        .success());
    netns.run_ok("nft", &["add table ip guard"]);
    netns.run_ok(
        "nft",
        &["add chain ip guard input { type filter hook input priority 0 ; policy accept ; }"],
    );
    netns.run_ok("nft", &[&format!("add rule ip guard input tcp dport {port} drop")]);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    assert_eq!(cause_ids(&json), ["firewall-drop", "process-stopped"], "{json:#}");
    let stopped = cause(&json, "process-stopped");
    assert!(!stopped["summary"].as_str().unwrap().contains("completes handshakes"), "{stopped:#}");
    assert_eq!(stopped["fix_commands"][0], format!("kill -CONT {}", server.pid()));
    // Both fixes, as printed, make it answer.
    for id in ["firewall-drop", "process-stopped"] {
        let fix = cause(&json, id)["fix_commands"][0].as_str().unwrap().to_string();
        let words: Vec<&str> = fix.split_whitespace().collect();
        netns.run_ok(words[0], &words[1..]);
    }
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn unprivileged_check_says_which_namespaces_it_could_not_read() {
    let (Some(netns), Some(other)) = (Netns::create(), Netns::create()) else { return };
    // A root process in another namespace: nobody cannot read its netns.
    let _elsewhere = ChildGuard::spawn(other.command("sleep").arg("60"));
    let port = unique_port();
    let mut command = netns.command("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(crate::util::binary())
        .args(["check", &format!("127.0.0.1:{port}"), "--json"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    let evidence = cause(&json, "nothing-listening")["evidence"].to_string();
    assert!(evidence.contains("could not be read"), "{evidence}");
    assert!(!evidence.contains("in any address, family or network namespace"), "{evidence}");
}

#[test]
fn localhost_mapped_to_127_0_1_1_blames_the_hosts_file() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let output = netns.porthole_with_hosts(
        "127.0.1.1 localhost myhost\n",
        &["check", &format!("localhost:{port}"), "--json"],
    );
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["localhost-resolution"], "{json:#}");
    let wrong = cause(&json, "localhost-resolution");
    assert_eq!(wrong["severity"], "error");
    assert!(wrong["summary"].as_str().unwrap().contains("127.0.1.1"), "{wrong:#}");
    assert!(fix_lines(wrong)[0].contains("/etc/hosts"), "{wrong:#}");
    assert!(!json.to_string().contains("bind the service to 127.0.1.1"), "{json:#}");
    assert_fix_commands_run(&netns, &json);
}

#[test]
fn an_unnamed_namespace_fix_names_the_real_pid() {
    let (Some(client), Some(server_side)) = (Netns::create(), Netns::create()) else { return };
    let port = unique_port();
    // A server in a namespace of its own with no `ip netns` name.
    let (server, mut ready) = crate::util::python_via(
        {
            let mut command = server_side.command("unshare");
            command.args(["-n", "sh", "-c", "ip link set lo up && exec python3 \"$@\"", "sh"]);
            command
        },
        crate::util::SERVER,
        &["127.0.0.1", &port.to_string(), "http"],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&client, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["other-namespace"], "{json:#}");
    let fix = fix_lines(cause(&json, "other-namespace")).join("\n");
    assert!(fix.contains(&format!("nsenter --net=/proc/{}/ns/net", server.pid())), "{fix}");
    assert!(!fix.contains("PID"), "{fix}");
    // Without a name, `check --netns` reaches it through the server's pid.
    let inside = format!("porthole check {port} --netns /proc/{}/ns/net", server.pid());
    assert!(fix.contains(&inside), "{fix}");
    let args: Vec<&str> = inside.split(' ').skip(1).collect();
    let output = client.porthole(&args);
    assert_eq!(output.code, 0, "{inside}: {output:?}");
}

#[test]
fn no_ipv4first_advice_for_an_ipv6_only_service() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    let output = netns.porthole_with_hosts(
        "127.0.0.1 localhost\n",
        &["check", &format!("localhost:{port}"), "--json"],
    );
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    let mismatch = cause(&json, "family-mismatch");
    assert!(!mismatch["fix"].to_string().contains("ipv4first"), "{mismatch:#}");

    // The reverse keeps it: IPv6 first, service on 127.0.0.1.
    let other = unique_port();
    let _v4 = server_in(&netns, "127.0.0.1", other, "http");
    let output = netns.porthole_with_hosts(
        "::1 localhost\n",
        &["check", &format!("localhost:{other}"), "--json"],
    );
    let json = output.json();
    assert!(cause(&json, "family-mismatch")["fix"].to_string().contains("ipv4first"), "{json:#}");
}

#[test]
fn a_full_queue_of_listen_1_names_the_application_backlog() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 1);
    let (_clients, mut ready) = python_in(
        &netns,
        "import socket,sys,time\nheld=[]\nfor _ in range(4):\n    s=socket.socket(); s.settimeout(0.5)\n    try: s.connect(('127.0.0.1',int(sys.argv[1])))\n    except OSError: pass\n    held.append(s)\nprint('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1);
    let full = cause(&json, "accept-queue-full");
    let fix = fix_lines(full).join("\n");
    assert!(fix.contains("listen() (now 1)"), "{fix}");
    assert!(fix.contains("Python socket.listen(N)"), "{fix}");
    assert!(!fix.contains("somaxconn"), "somaxconn is not the limit here: {fix}");
}

#[test]
fn a_process_stopped_by_a_debugger_names_the_tracer() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    let (tracer, mut ready) = python(
        "import ctypes,os,sys,time\n\
         libc=ctypes.CDLL(None,use_errno=True)\n\
         pid=int(sys.argv[1])\n\
         assert libc.ptrace(16,pid,0,0)==0, ctypes.get_errno()\n\
         os.waitpid(pid,0x40000000)\n\
         print('ok'); time.sleep(3600)",
        &[&server.pid().to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let stopped = cause(&json, "process-stopped");
    let fix = fix_lines(stopped).join("\n");
    assert!(fix.contains(&format!("pid {}", tracer.pid())), "{fix}");
    assert!(fix.contains("detach"), "{fix}");
    assert!(stopped["fix_commands"].as_array().unwrap().is_empty(), "no kill -CONT: {stopped:#}");
    assert!(stopped["evidence"].to_string().contains(&format!("TracerPid = {}", tracer.pid())));
}

#[test]
fn a_server_that_accepts_and_closes_is_not_called_deadlocked() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); s.listen()\n\
         print('ok',flush=True)\n\
         while True:\n    c,_=s.accept(); c.close()",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{port}/"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let closed = cause(&json, "not-responding");
    // Closing with the request unread makes the kernel send a reset.
    let summary = closed["summary"].as_str().unwrap();
    assert!(summary.contains("closed it") || summary.contains("reset it"), "{closed:#}");
    assert!(summary.contains("without answering"), "{closed:#}");
    // The process that hangs up is named; a Python server is not nginx,
    // so no host name is suspected.
    assert!(summary.contains("then the server, python"), "{closed:#}");
    let text = closed.to_string();
    assert!(!text.contains("deadlocked") && !text.contains("wchan"), "{closed:#}");
    assert!(!text.contains("Host:") && !text.contains("444"), "{closed:#}");
}

#[test]
fn no_curl_noproxy_advice_when_only_upper_case_http_proxy_is_set() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let output = netns.porthole_env(
        &[("HTTP_PROXY", "http://192.0.2.1:3128")],
        &["check", &format!("http://127.0.0.1:{port}/"), "--json"],
    );
    let json = output.json();
    let proxy = cause(&json, "proxy-env");
    assert!(!proxy["evidence"].to_string().contains("curl"), "curl ignores HTTP_PROXY: {proxy:#}");
    assert!(!proxy["fix"].to_string().contains("curl"), "{proxy:#}");
    assert_fix_commands_run(&netns, &json);
}

#[test]
fn only_commands_are_printed_after_a_dollar_sign() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let text = netns.porthole(&["check", &format!("127.0.0.1:{port}")]);
    assert_eq!(text.code, 1);
    let fix: Vec<&str> = text.stdout.lines().skip_while(|l| l.trim() != "fix:").skip(1).collect();
    assert!(fix.iter().any(|l| l.trim_start().starts_with("start the service")), "{}", text.stdout);
    assert!(!fix.iter().any(|l| l.contains("$ start")), "{}", text.stdout);
    let (_, json) = check(&netns, &[&format!("127.0.0.1:{port}")]);
    for line in fix.iter().filter_map(|l| l.trim_start().strip_prefix("$ ")) {
        assert!(json["causes"][0]["fix_commands"].to_string().contains(line), "{line}");
    }
}

/// Linux 6.9 added bound-but-inactive sockets to `sock_diag` dumps.
fn kernel_lists_bound_sockets() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 9)
}

#[test]
fn a_socket_bound_without_listen_holds_the_port() {
    if !kernel_lists_bound_sockets() {
        crate::util::skip("the kernel lists bound sockets from 6.9 on");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (holder, mut ready) = python_in(
        &netns,
        "import socket,sys,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); print('ok'); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let report = netns.porthole(&[&port.to_string(), "--json"]);
    assert_eq!(report.code, 0, "{}", report.stdout);
    let json = report.json();
    assert_eq!(json["held"], true, "{json:#}");
    assert_eq!(json["bound"][0]["local_port"], port, "{json:#}");
    assert_eq!(json["bound"][0]["processes"][0]["pid"], holder.pid(), "{json:#}");
    let text = netns.porthole(&[&port.to_string()]);
    assert!(text.stdout.contains("bound but not listening"), "{}", text.stdout);
    assert!(!text.stdout.contains("nothing holds"), "{}", text.stdout);

    let (code, json) = check(&netns, &["--bind", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{json:#}");
    let in_use = cause(&json, "port-in-use");
    assert_eq!(in_use["severity"], "error");
    assert!(in_use["evidence"].to_string().contains("UNCONN"), "{in_use:#}");
    assert_eq!(in_use["fix_commands"][0], format!("kill {}   # stop the holder", holder.pid()));
}

/// Runs every fix command of `cause` inside `netns`, as printed, with the
/// porthole under test first on `PATH` (a fix may be a `porthole check`).
/// `check TARGET --timeout 1s` in `netns` fails (exit 1) with exactly one
/// cause, `id`: its report.
fn only_failure(netns: &Netns, target: &str, id: &str) -> serde_json::Value {
    let (code, json) = check(netns, &[target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), [id], "{json:#}");
    json
}

/// Runs the printed fix of `cause` in `netns`, then `check TARGET` there
/// must find the port answering: the fix repairs what it was printed for.
/// Returns that check's report.
fn assert_fix_repairs(
    netns: &Netns,
    cause: &serde_json::Value,
    target: &str,
    context: &str,
) -> serde_json::Value {
    run_fix_commands(netns, cause);
    let (code, json) = check(netns, &[target, "--timeout", "1s"]);
    assert_eq!(
        (code, json["ok"].as_bool()),
        (0, Some(true)),
        "after the fix ({context}): {json:#}"
    );
    json
}

fn run_fix_commands(netns: &Netns, cause: &serde_json::Value) {
    let path = format!(
        "{}:{}",
        crate::util::binary().parent().expect("the binary's directory").display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
    );
    for command in cause["fix_commands"].as_array().expect("fix_commands array") {
        let command = command.as_str().expect("a string");
        let output =
            netns.command("sh").env("PATH", &path).args(["-c", command]).output().expect("sh runs");
        assert!(
            output.status.success(),
            "the printed fix `{command}` fails: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_down_loopback_and_a_missing_address_or_route_are_named_and_fixed_as_printed() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("127.0.0.1:{port}");
    // Each breakage, the fix expected for it, and the cause's wording.
    let breakages: [(&[&str], &str, &str); 3] = [
        (&["link", "set", "lo", "down"], "ip link set lo up", "lo is down"),
        (
            &["addr", "del", "127.0.0.1/8", "dev", "lo"],
            "ip addr add 127.0.0.1/8 dev lo",
            "not configured on lo",
        ),
        (
            &["route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local"],
            "ip route add local 127.0.0.1 dev lo table local",
            "no local route",
        ),
    ];
    for (breakage, expected_fix, wording) in breakages {
        if breakage[0] == "route" {
            // The /8 local route would still deliver 127.0.0.1.
            netns.run_ok(
                "ip",
                &["route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"],
            );
        }
        netns.run_ok("ip", breakage);
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{breakage:?}: {json:#}");
        assert_eq!(cause_ids(&json), ["loopback-down"], "{breakage:?}: {json:#}");
        let down = cause(&json, "loopback-down");
        assert!(down["summary"].as_str().unwrap().contains(wording), "{down:#}");
        assert_eq!(down["fix_commands"], serde_json::json!([expected_fix]), "{down:#}");
        assert_fix_repairs(&netns, down, &target, &format!("after `{expected_fix}`"));
    }
}

/// A client that holds two connections to port `argv[1]` of 127.0.0.1
/// open, printing `ok` once both are up.
const HOLD_TWO_CONNECTIONS: &str = "import socket,sys,time\n\
     held=[socket.create_connection(('127.0.0.1',int(sys.argv[1]))) for _ in range(2)]\n\
     print('ok',flush=True); time.sleep(600)";

#[test]
fn exhausted_source_ports_are_named_with_the_connections_that_hold_them() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_port_range=40000 40001"]);
    let (_client, mut ready) = python_in(&netns, HOLD_TWO_CONNECTIONS, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("127.0.0.1:{port}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().starts_with("EADDRNOTAVAIL"));
    assert_eq!(cause_ids(&json), ["source-ports-exhausted"], "{json:#}");
    let exhausted = cause(&json, "source-ports-exhausted");
    assert!(exhausted["summary"].as_str().unwrap().contains("40000-40001"), "{exhausted:#}");
    let evidence = exhausted["evidence"].to_string();
    assert!(evidence.contains(&format!("2 sockets connect to {target}")), "{exhausted:#}");
    assert!(evidence.contains("python3 (pid"), "{exhausted:#}");
    assert_fix_repairs(&netns, exhausted, &target, "after the printed sysctl");
}

/// `ip_local_reserved_ports` takes ports of the range away from source
/// ports: with 40000-40003 of 40000-40005 reserved, two connections exhaust
/// it. The summary does not claim the whole range connects to the target,
/// the reservation is named, and the printed sysctl gives the reserved
/// ports back, so the port answers again.
#[test]
fn reserved_ports_that_shrink_the_source_range_are_named_and_given_back() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_port_range=40000 40005"]);
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_reserved_ports=22,40000-40003"]);
    let (_client, mut ready) = python_in(&netns, HOLD_TWO_CONNECTIONS, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "source-ports-exhausted");
    let exhausted = cause(&json, "source-ports-exhausted");
    let summary = exhausted["summary"].as_str().unwrap();
    assert!(summary.contains("the 2 port(s) of 40000-40005"), "{exhausted:#}");
    assert!(!summary.contains("every port"), "{exhausted:#}");
    assert!(
        exhausted["evidence"].to_string().contains("4 of the 6 ports of the range are reserved"),
        "{exhausted:#}"
    );
    let commands = exhausted["fix_commands"].as_array().unwrap();
    assert!(
        commands.iter().any(|c| c
            .as_str()
            .unwrap()
            .starts_with("sysctl -w net.ipv4.ip_local_reserved_ports=\"22\"   #")),
        "{exhausted:#}"
    );
    // The reservation alone: with the range left as it is, giving the
    // reserved ports back is enough.
    for command in commands.iter().map(|c| c.as_str().unwrap()) {
        if command.contains("ip_local_reserved_ports") {
            netns.run_ok("sh", &["-c", command]);
        }
    }
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "after the printed sysctl: {json:#}");
    let kept = netns.command("sysctl").args(["-n", "net.ipv4.ip_local_reserved_ports"]).output();
    assert_eq!(String::from_utf8_lossy(&kept.unwrap().stdout).trim(), "22");
}

/// A Unix socket whose path is longer than `sockaddr_un` holds (the server
/// bound it with a relative name from its directory): `check` said
/// "nothing listens" next to evidence that python3 listens there, and
/// `wait` never saw it up. The probe now goes through the directory, the
/// cause is the path's length, `wait` is ready, and the printed `ln -s`
/// gives clients a path that works.
#[test]
fn a_unix_path_too_long_for_sockaddr_un_is_named_and_reached_through_its_directory() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let deep = directory.path().join("d".repeat(100));
    std::fs::create_dir(&deep).unwrap();
    let name = format!("porthole-long-{}-{}.sock", std::process::id(), unique_port());
    let path = deep.join(&name);
    assert!(path.as_os_str().len() > 107, "{}", path.display());
    let (_server, mut ready) = python_in(
        &netns,
        "import os,socket,sys\n\
         os.chdir(sys.argv[1]); s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[2]); s.listen()\n\
         print('ok',flush=True)\n\
         held=[]\n\
         while True: held.append(s.accept()[0])",
        &[deep.to_str().unwrap(), &name],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("unix:{}", path.display());
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    // The silent server is a warning (`not-responding`); the path is the
    // one error.
    assert_eq!(cause_ids(&json)[0], "socket-path-too-long", "{json:#}");
    let errors = json["causes"].as_array().unwrap().iter().filter(|c| c["severity"] == "error");
    assert_eq!(errors.count(), 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "connected", "{json:#}");
    let long = cause(&json, "socket-path-too-long");
    assert!(long["summary"].as_str().unwrap().contains("longer than the 107"), "{long:#}");

    let waited = netns.porthole(&["wait", &target, "--timeout", "5s"]);
    assert_eq!(waited.code, 0, "{waited:?}");

    let short = std::path::Path::new("/tmp").join(&name);
    struct Remove<'a>(&'a std::path::Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _link = Remove(&short);
    assert_eq!(
        long["fix_commands"],
        serde_json::json!([format!(
            "ln -s -- {} {}   # a short path to the same socket; clients connect to {}",
            path.display(),
            short.display(),
            short.display()
        )]),
        "{long:#}"
    );
    run_fix_commands(&netns, long);
    let short_target = format!("unix:{}", short.display());
    let (code, json) = check(&netns, &[&short_target, "--timeout", "1s"]);
    assert_eq!((code, json["ok"].as_bool()), (0, Some(true)), "{json:#}");
}

#[test]
fn a_unix_socket_closed_by_file_modes_is_not_blamed_on_a_sandbox() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let inner = directory.path().join("private");
    std::fs::create_dir(&inner).unwrap();
    let path = inner.join("service.sock");
    let (_server, mut ready) = python_in(
        &netns,
        "import os,socket,sys,time\n\
         s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1],0o600); s.listen()\n\
         print('ok',flush=True)\n\
         held=[]\n\
         while True: held.append(s.accept()[0])",
        &[path.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = format!("unix:{}", path.display());
    let as_nobody = |args: &[&str]| {
        let mut command = netns.command("setpriv");
        command.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        crate::util::scrub(&mut command);
        crate::util::run(command.arg(crate::util::binary()).args(args))
    };
    let check_as_nobody = || {
        let output = as_nobody(&["check", &target, "--json"]);
        let json = output.json();
        assert_fix_commands_run(&netns, &json);
        (output.code, json)
    };
    // Both the directory above it and the socket itself keep nobody out;
    // nobody cannot even read the socket's mode. One round of fixes opens
    // both.
    let both = format!("chmod o+x {} && chmod o+w {}", inner.display(), path.display());
    let (code, json) = check_as_nobody();
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "denied", "{json:#}");
    assert_eq!(cause_ids(&json), ["socket-permission"], "{json:#}");
    let denied = cause(&json, "socket-permission");
    let summary = denied["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("{} lacks search", inner.display())), "{denied:#}");
    assert!(summary.contains(&format!("{} may lack write", path.display())), "{denied:#}");
    assert!(denied["evidence"].to_string().contains("uid 65534"), "{denied:#}");
    // Neither owner nor root, nobody runs the chmods through su or sudo.
    let commands = denied["fix_commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1, "{denied:#}");
    let command = commands[0].as_str().unwrap();
    let through_su = format!("su -c '{both}'");
    let through_sudo = format!("sudo sh -c '{both}'");
    assert!(command.starts_with(&through_su) || command.starts_with(&through_sudo), "{denied:#}");
    run_fix_commands(&netns, denied);
    let (code, json) = check_as_nobody();
    assert_eq!(code, 0, "after the one printed fix, as root: {json:#}");

    // Closed again, `wait` gives the same single fix in its timeout
    // message, and after it nobody's wait is ready.
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = as_nobody(&["wait", &target, "--timeout", "300ms"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    let printed = crate::util::printed_after(&output.stderr, "fix: $ ");
    assert!(printed.contains(&both), "{}", output.stderr);
    let fixed = crate::util::run_as_printed(printed, "");
    assert_eq!(fixed.code, 0, "the printed fix runs: {}", fixed.stderr);
    let output = as_nobody(&["wait", &target, "--timeout", "10s"]);
    assert_eq!(output.code, 0, "after the printed fix: {}", output.stderr);
}

#[test]
fn a_listener_bound_to_another_device_is_not_unexplained() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "pv0", "type", "veth", "peer", "name", "pv1"]);
    netns.run_ok("ip", &["addr", "add", "10.77.0.1/24", "dev", "pv0"]);
    netns.run_ok("ip", &["link", "set", "pv0", "up"]);
    netns.run_ok("ip", &["link", "set", "pv1", "up"]);
    let port = unique_port();
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_BINDTODEVICE,b'pv0')\n\
         s.bind(('0.0.0.0',int(sys.argv[1]))); s.listen()\n\
         print('ok',flush=True)\n\
         held=[]\n\
         while True: held.append(s.accept()[0])",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["bound-elsewhere"], "{json:#}");
    let bound = cause(&json, "bound-elsewhere");
    assert!(bound["summary"].as_str().unwrap().contains("device pv0"), "{bound:#}");
    assert!(bound["evidence"].to_string().contains("SO_BINDTODEVICE"), "{bound:#}");
    let suggested = format!("connect to 10.77.0.1:{port}");
    assert!(fix_lines(bound)[0].starts_with(&suggested), "{bound:#}");
    // The address it names does work.
    let device_address = format!("10.77.0.1:{port}");
    let (code, json) = check(&netns, &[&device_address, "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");

    // With pv0 down the listener's answers are lost, even at pv0's own
    // address: named, and the printed `ip link` brings it back.
    netns.run_ok("ip", &["link", "set", "pv0", "down"]);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let bound = cause(&json, "bound-elsewhere");
    assert_eq!(bound["fix_commands"][0], "ip link set pv0 up   # the listener answers again");
    let (code, json) = check(&netns, &[&device_address, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "timeout", "{json:#}");
    assert_eq!(cause_ids(&json), ["bound-elsewhere"], "{json:#}");
    let bound = cause(&json, "bound-elsewhere");
    assert!(bound["summary"].as_str().unwrap().contains("pv0, which is down"), "{bound:#}");
    run_fix_commands(&netns, bound);
    let (code, json) = check(&netns, &[&device_address, "--timeout", "1s"]);
    assert_eq!(code, 0, "after the printed fix: {json:#}");
}

#[test]
fn port_zero_is_a_usage_error_for_check_and_wait() {
    for args in [
        vec!["check", "127.0.0.1:0"],
        vec!["check", "0"],
        vec!["check", "http://localhost:0/"],
        vec!["wait", "tcp://[::1]:0", "--timeout", "1s"],
    ] {
        let output = crate::util::porthole_run(&args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {}", output.stderr);
        assert!(output.stderr.contains("port 0 cannot be connected to"), "{}", output.stderr);
    }
}

#[test]
fn a_nat_rule_that_sends_the_connection_elsewhere_is_named_and_removed_as_printed() {
    let Some(netns) = Netns::create() else { return };
    let (port, elsewhere, dnat_port) = (unique_port(), unique_port(), unique_port());
    let _servers: Vec<ChildGuard> =
        [port, dnat_port].iter().map(|p| server_in(&netns, "127.0.0.1", *p, "http")).collect();
    netns.run_ok("nft", &["add", "table", "ip", "divert"]);
    netns.run_ok(
        "nft",
        &["add chain ip divert out { type nat hook output priority -100 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule ip divert out tcp dport {port} redirect to :{elsewhere}")],
    );
    netns.run_ok("nft", &["add", "table", "inet", "divert6"]);
    netns.run_ok(
        "nft",
        &["add chain inet divert6 out { type nat hook output priority -100 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!(
            "add rule inet divert6 out tcp dport {dnat_port} dnat ip to 127.0.0.9:{elsewhere}"
        )],
    );
    for (target, to, table) in [
        (port, format!("127.0.0.1:{elsewhere}"), "ip divert out"),
        (dnat_port, format!("127.0.0.9:{elsewhere}"), "inet divert6 out"),
    ] {
        let target = format!("127.0.0.1:{target}");
        let json = only_failure(&netns, &target, "firewall-redirect");
        let redirect = cause(&json, "firewall-redirect");
        let summary = redirect["summary"].as_str().unwrap();
        assert!(summary.contains(&format!("to {to}: {table}")), "{redirect:#}");
        assert!(redirect["evidence"].to_string().contains(&format!("nothing listens on {to}")));
        let removal = redirect["fix_commands"][0].as_str().unwrap();
        assert!(removal.starts_with(&format!("nft delete rule {table} handle ")), "{redirect:#}");
        assert_fix_repairs(&netns, redirect, &target, &format!("after `{removal}`"));
    }
}

#[test]
fn route_chains_and_ingress_chains_on_lo_are_firewalls_too() {
    let Some(netns) = Netns::create() else { return };
    let (routed, ingress, policy) = (unique_port(), unique_port(), unique_port());
    let _servers: Vec<ChildGuard> = [routed, ingress, policy]
        .iter()
        .map(|port| server_in(&netns, "127.0.0.1", *port, "http"))
        .collect();
    netns.run_ok("nft", &["add", "table", "ip", "mangler"]);
    netns.run_ok(
        "nft",
        &["add chain ip mangler out { type route hook output priority -150 ; policy accept ; }"],
    );
    netns.run_ok("nft", &[&format!("add rule ip mangler out tcp dport {routed} drop")]);
    netns.run_ok("nft", &["add", "table", "netdev", "edge"]);
    netns.run_ok(
        "nft",
        &["add chain netdev edge lo_in { type filter hook ingress device lo priority 0 ; policy accept ; }"],
    );
    netns.run_ok("nft", &[&format!("add rule netdev edge lo_in tcp dport {ingress} drop")]);
    // A chain on another device never sees loopback traffic.
    netns.run_ok("ip", &["link", "add", "pe0", "type", "veth", "peer", "name", "pe1"]);
    netns.run_ok(
        "nft",
        &["add chain netdev edge veth_in { type filter hook ingress device pe0 priority 0 ; policy drop ; }"],
    );
    for (port, chain) in [(routed, "ip mangler out"), (ingress, "netdev edge lo_in")] {
        let target = format!("127.0.0.1:{port}");
        let json = only_failure(&netns, &target, "firewall-drop");
        let drop = cause(&json, "firewall-drop");
        assert!(drop["summary"].as_str().unwrap().ends_with(chain), "{drop:#}");
        assert_eq!(drop["fix_commands"].as_array().unwrap().len(), 1, "{drop:#}");
        assert_fix_repairs(&netns, drop, &target, "after the printed fix");
    }
    // `policy drop` on lo's ingress: the printed accept rule repairs it.
    netns.run_ok("nft", &["delete", "chain", "netdev", "edge", "lo_in"]);
    netns.run_ok(
        "nft",
        &["add chain netdev edge lo_in { type filter hook ingress device lo priority 0 ; policy drop ; }"],
    );
    let target = format!("127.0.0.1:{policy}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let drop = cause(&json, "firewall-drop");
    assert!(drop["evidence"].to_string().contains("netdev edge lo_in policy"), "{drop:#}");
    assert_fix_repairs(&netns, drop, &target, "after the printed fix");
}

/// A loopback packet also passes the prerouting and postrouting hooks,
/// lo's netdev egress hook, and iptables' `raw` and `mangle` tables, and a rule may sit in a user chain
/// an `-A INPUT -j NAME` jumps to. Each of these drops was `unexplained`:
/// only the output and input hooks of nft and the filter table's built-in
/// chains were read. Each is named now, and its printed fix runs and the
/// port answers again.
#[test]
fn prerouting_postrouting_egress_raw_mangle_and_user_chain_drops_are_named() {
    let Some(netns) = Netns::create() else { return };
    let legacy = crate::util::installed("iptables-legacy");
    let iptables_nft = crate::util::installed("iptables-nft");
    if !legacy || !iptables_nft {
        crate::util::skip("iptables-legacy and iptables-nft are not both installed");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("127.0.0.1:{port}");
    let dport = format!("tcp dport {port} drop");
    let setups: [(&str, Vec<String>, &str); 8] = [
        (
            "nft",
            vec![
                "add table netdev edge".into(),
                "add chain netdev edge out { type filter hook egress device lo priority 0 ; }"
                    .into(),
                format!("add rule netdev edge out {dport}"),
            ],
            "netdev edge out",
        ),
        (
            "nft",
            vec![
                "add chain netdev edge shut { type filter hook egress device lo priority 1 ; policy drop ; }"
                    .into(),
            ],
            "netdev edge shut",
        ),
        (
            "nft",
            vec![
                "add table inet pre".into(),
                "add chain inet pre in { type filter hook prerouting priority 0 ; }".into(),
                format!("add rule inet pre in {dport}"),
            ],
            "inet pre in",
        ),
        (
            "nft",
            vec![
                "add table inet post".into(),
                "add chain inet post out { type filter hook postrouting priority 0 ; policy drop ; }"
                    .into(),
            ],
            "inet post out",
        ),
        (
            "iptables-nft",
            vec![format!("-t raw -A PREROUTING -p tcp --dport {port} -j DROP")],
            "ip raw PREROUTING",
        ),
        (
            "iptables-legacy",
            vec![format!("-t mangle -A POSTROUTING -p tcp --dport {port} -j DROP")],
            "ip mangle POSTROUTING",
        ),
        (
            "iptables-nft",
            vec![
                "-N BLOCK".into(),
                format!("-A BLOCK -p tcp --dport {port} -j DROP"),
                "-A INPUT -j BLOCK".into(),
            ],
            "ip filter BLOCK",
        ),
        (
            "iptables-legacy",
            vec!["-t raw -N SLOW".into(), "-t raw -A OUTPUT -j SLOW".into(), format!(
                "-t raw -A SLOW -p tcp --dport {port} -j DROP"
            )],
            "ip raw SLOW",
        ),
    ];
    for (tool, commands, chain) in setups {
        for command in &commands {
            let words: Vec<&str> = command.split(' ').collect();
            let words = if tool == "nft" { vec![command.as_str()] } else { words };
            netns.run_ok(tool, &words);
        }
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{chain}: {json:#}");
        assert_eq!(cause_ids(&json), ["firewall-drop"], "{chain}: {json:#}");
        let drop = cause(&json, "firewall-drop");
        assert!(drop["summary"].as_str().unwrap().ends_with(chain), "{drop:#}");
        assert_eq!(drop["fix_commands"].as_array().unwrap().len(), 1, "{drop:#}");
        assert_fix_repairs(&netns, drop, &target, &format!("{chain}: after the printed fix"));
    }
}

#[test]
fn localhost_with_only_an_ipv6_line_names_the_missing_hosts_line() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("localhost:{port}");
    let output = netns.porthole_with_hosts(
        "::1 localhost ip6-localhost\n",
        &["check", &target, "--timeout", "1s", "--json"],
    );
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    assert_fix_commands_run(&netns, &json);
    assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
    let mismatch = cause(&json, "family-mismatch");
    assert!(
        mismatch["evidence"].to_string().contains("localhost has no IPv4 address here"),
        "{mismatch:#}"
    );
    let fixes = fix_lines(mismatch);
    // Reordering addresses cannot help when there is no IPv4 one: the
    // advice says so instead of offering it as a fix.
    assert!(
        !fixes.iter().any(|f| f.contains("start node with --dns-result-order")),
        "{mismatch:#}"
    );
    assert!(fixes.iter().any(|f| f.contains("help only once the name has an IPv4")), "{fixes:?}");
    assert!(fixes.contains(&"or add '127.0.0.1 localhost' to /etc/hosts".to_string()), "{fixes:?}");
    // With both lines, the order advice stays.
    let output = netns.porthole_with_hosts(
        "::1 localhost\n127.0.0.1 localhost\n",
        &["check", &target, "--timeout", "1s", "--json"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let fixes = fix_lines(cause(&json, "family-mismatch"));
    assert!(fixes.iter().any(|f| f.contains("start node with --dns-result-order")), "{json:#}");
    assert!(!fixes.iter().any(|f| f.contains("/etc/hosts")), "{json:#}");
}

#[test]
fn a_unix_target_that_is_not_a_socket_is_not_called_a_stale_socket() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let regular = directory.path().join("app.sock");
    std::fs::write(&regular, "not a socket").unwrap();
    let stale = directory.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for (path, wording) in [
        (regular.clone(), "is a regular file, not a socket"),
        (directory.path().to_path_buf(), "is a directory, not a socket"),
        (stale.clone(), "(a stale socket file)"),
    ] {
        let target = format!("unix:{}", path.display());
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{json:#}");
        let nothing = cause(&json, "nothing-listening");
        let evidence = nothing["evidence"].to_string();
        assert!(evidence.contains(wording), "{target}: {nothing:#}");
        if !wording.contains("stale") {
            assert!(!evidence.contains("stale"), "{target}: {nothing:#}");
        }
    }
}

/// A server that accepts and resets at once: connect() itself sometimes
/// returns ECONNRESET (the reset beat it), sometimes succeeds and the read
/// sees the reset. Both are the same server and get the same verdict.
#[test]
fn a_reset_that_beats_connect_gets_the_verdict_of_a_reset_after_it() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,struct,sys\n\
         s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); s.listen(64)\n\
         print('ok',flush=True)\n\
         while True:\n\
         \x20   c,_=s.accept(); c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0)); c.close()",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let mut outcomes = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
        outcomes.insert(json["attempts"][0]["outcome"].as_str().unwrap().to_string());
        // A bare TCP target accepted the connection: reachable, nothing to
        // blame (as when the reset comes after connect()).
        assert_eq!(code, 0, "{json:#}");
        assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");
        assert!(json["attempts"][0]["detail"].as_str().unwrap().contains("reset"), "{json:#}");

        let (code, json) =
            check(&netns, &[&format!("http://127.0.0.1:{port}/"), "--timeout", "1s"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
        let summary = cause(&json, "not-responding")["summary"].as_str().unwrap().to_string();
        assert!(summary.contains("reset it without answering"), "{json:#}");
    }
    eprintln!("connect outcomes seen: {outcomes:?}");
}

#[test]
fn an_abstract_unix_socket_is_reached_by_its_at_name() {
    let (Some(netns), Some(other)) = (Netns::create(), Netns::create()) else { return };
    let name = format!("porthole-test-{}", unique_port());
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(socket.AF_UNIX); s.bind('\\0'+sys.argv[1]); s.listen()\n\
         print('ok',flush=True)\n\
         held=[]\n\
         while True: held.append(s.accept()[0])",
        &[&name],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("unix:@{name}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "connected", "{json:#}");
    // Abstract names belong to a network namespace: from another one it is
    // not there, and no file is blamed.
    let (code, json) = check(&other, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let nothing = cause(&json, "nothing-listening");
    let evidence = nothing["evidence"].to_string();
    assert!(evidence.contains("abstract name"), "{nothing:#}");
    assert!(!evidence.contains("does not exist"), "{nothing:#}");
}

/// An abstract name with NUL padding, typed as `porthole ls -x` shows it
/// (`@name\x00\x00`), is the socket listed there: it was probed as a name
/// with backslashes in it and found not listening.
#[test]
fn an_abstract_name_padded_with_nuls_is_reached_as_ls_shows_it() {
    let Some(netns) = Netns::create() else { return };
    let name = format!("porthole-pad-{}", unique_port());
    let (_server, mut ready) = python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(socket.AF_UNIX); s.bind(b'\\0'+sys.argv[1].encode()+b'\\0\\0'); s.listen()\n\
         print('ok',flush=True)\n\
         held=[]\n\
         while True: held.append(s.accept()[0])",
        &[&name],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let listing = netns.porthole(&["ls", "-x"]);
    let shown = format!("@{name}\\x00\\x00");
    assert!(listing.stdout.contains(&shown), "{listing:?}");
    let target = format!("unix:{shown}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "connected", "{json:#}");
    let waited = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(waited.code, 0, "{waited:?}");
}

/// Unix socket names no socket can have are bad input for every command
/// that takes a target: one line, exit 2, nothing probed.
#[test]
fn unix_socket_names_no_socket_can_have_are_usage_errors() {
    let long = format!("unix:@{}", "n".repeat(108));
    for target in [
        "unix:@",
        long.as_str(),
        "unix:/tmp/",
        "redis+socket:///run/a%00b.sock",
        "postgres:///app?host=/run/pg%00x",
    ] {
        for command in ["check", "wait"] {
            let output = crate::util::porthole_run(&[command, target, "--timeout", "1s"]);
            crate::util::assert_usage_error(&output, &format!("{command} {target}"));
            assert!(output.stdout.is_empty(), "{command} {target}: {output:?}");
        }
    }
}

/// A server on `[::]:PORT` that leaves `IPV6_V6ONLY` to the namespace's
/// `net.ipv6.bindv6only`, as most programs do, and greets each client;
/// prints `ok` when listening.
const WILDCARD_V6_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
print("ok", flush=True)
while True:
    c = s.accept()[0]
    c.sendall(b"hello\n")
    c.close()
"#;

#[test]
fn the_listener_s_loopback_address_is_put_back_before_it_is_suggested() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // IPv6 is on, but ::1 was taken off lo: the IPv6-only listener is out
    // of reach at the address a client of its family would use.
    let _server = server_in(&netns, "::", port, "http");
    netns.run_ok("ip", &["-6", "addr", "del", "::1/128", "dev", "lo"]);
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
    let mismatch = cause(&json, "family-mismatch");
    assert!(mismatch["evidence"].to_string().contains("::1 is not on lo"), "{mismatch:#}");
    assert_eq!(mismatch["fix_commands"][0], "ip addr add ::1/128 dev lo", "{mismatch:#}");
    // Every printed command runs, the last one a check of [::1] that only
    // passes once the first put ::1 back.
    run_fix_commands(&netns, mismatch);
}

#[test]
fn a_v6only_wildcard_is_not_taken_for_an_ipv4_listener_and_bindv6only_is_fixed_as_printed() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-qw", "net.ipv6.bindv6only=1"]);
    let port = unique_port();
    let (server, mut ready) = python_in(&netns, WILDCARD_V6_SERVER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "family-mismatch");
    let mismatch = cause(&json, "family-mismatch");
    let summary = mismatch["summary"].as_str().unwrap();
    assert!(summary.contains(":: (IPV6_V6ONLY) only"), "{mismatch:#}");
    let evidence = mismatch["evidence"].to_string();
    assert!(evidence.contains("no IPv4 client reaches it"), "{mismatch:#}");
    assert!(evidence.contains("net.ipv6.bindv6only = 1"), "{mismatch:#}");
    assert!(
        !fix_lines(mismatch).iter().any(|f| f.contains("IPV6_V6ONLY=0, or both")),
        "{mismatch:#}"
    );

    // The printed sysctl, then the restart it asks for, repair it.
    run_fix_commands(&netns, mismatch);
    drop(server);
    let (_server, mut ready) = python_in(&netns, WILDCARD_V6_SERVER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "after the fix: {json:#}");
    assert!(json["causes"].as_array().unwrap().is_empty(), "{json:#}");
}

/// `sleep` as uid/gid 65534 inside `netns`: a client process for `--from`.
fn nobody_in(netns: &Netns) -> ChildGuard {
    let mut command = netns.command("setpriv");
    command.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "sleep", "600"]);
    // `ip netns exec` and `setpriv` exec: the child's pid is sleep's.
    let child = ChildGuard::spawn(&mut command);
    let pid = child.pid();
    assert!(
        crate::util::eventually(std::time::Duration::from_secs(10), || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.contains("65534")))
        }),
        "the client runs as nobody"
    );
    child
}

#[test]
fn from_pid_probes_as_the_clients_user_so_owner_rules_and_socket_modes_count() {
    let Some(netns) = Netns::create() else { return };
    let (owned, legacy_owned) = (unique_port(), unique_port());
    let _servers = [
        server_in(&netns, "127.0.0.1", owned, "http"),
        server_in(&netns, "127.0.0.1", legacy_owned, "http"),
    ];
    let client = nobody_in(&netns);
    let from = client.pid().to_string();
    netns.run_ok(
        "nft",
        &[&format!("add table ip owner; add chain ip owner out {{ type filter hook output priority 0; }}; add rule ip owner out meta skuid 65534 tcp dport {owned} reject with tcp reset")],
    );
    let target = format!("127.0.0.1:{owned}");
    // porthole's own user (root) is not matched.
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");

    let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
    assert_eq!(code, 1, "the client is refused: {json:#}");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
    let reject = cause(&json, "firewall-reject");
    let evidence = reject["evidence"].to_string();
    assert!(evidence.contains("client's uid 65534"), "{reject:#}");
    assert!(evidence.contains("meta skuid 65534"), "{reject:#}");
    assert!(evidence.contains("socket's owner"), "{reject:#}");
    // The verdict names the user the rule stops.
    let summary = reject["summary"].as_str().unwrap();
    assert!(summary.contains("traffic of uid 65534 (nobody), gid 65534"), "{reject:#}");
    assert!(reject["fix_commands"][0]
        .as_str()
        .unwrap()
        .starts_with("nft delete rule ip owner out handle "));
    run_fix_commands(&netns, reject);
    let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
    assert_eq!(code, 0, "after the fix: {json:#}");

    // The same owner match written with iptables (-m owner).
    if crate::util::installed("iptables") {
        let rule = format!(
            "-A OUTPUT -o lo -p tcp --dport {legacy_owned} -m owner --uid-owner 65534 -j REJECT"
        );
        netns.run_ok("iptables", &rule.split(' ').collect::<Vec<_>>());
        let target = format!("127.0.0.1:{legacy_owned}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
        let reject = cause(&json, "firewall-reject");
        assert!(reject["evidence"].to_string().contains("--uid-owner 65534"), "{reject:#}");
        let summary = reject["summary"].as_str().unwrap();
        assert!(summary.contains("traffic of uid 65534 (nobody)"), "{reject:#}");
        run_fix_commands(&netns, reject);
        let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
        assert_eq!(code, 0, "after the fix: {json:#}");
    }

    // A Unix socket only its owner may open: root connects, the client not.
    let directory = tempfile::tempdir().unwrap();
    std::fs::set_permissions(directory.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let path = directory.path().join("private.sock");
    let (_unix, mut ready) = python_in(
        &netns,
        "import os,socket,sys\n\
         s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1],0o700); s.listen()\n\
         print('ok',flush=True)\n\
         while True: s.accept()[0].close()",
        &[path.to_str().unwrap()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("unix:{}", path.display());
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
    assert_eq!(code, 1, "the client may not connect: {json:#}");
    assert_eq!(cause_ids(&json), ["socket-permission"], "{json:#}");
    run_fix_commands(&netns, cause(&json, "socket-permission"));
    let (code, json) = check(&netns, &[&target, "--timeout", "1s", "--from", &from]);
    assert_eq!(code, 0, "after the fix: {json:#}");
}

#[test]
fn an_unprivileged_check_says_the_firewall_was_not_read() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    netns.run_ok(
        "nft",
        &[&format!("add table ip shut; add chain ip shut in {{ type filter hook input priority 0; }}; add rule ip shut in tcp dport {port} reject")],
    );
    let mut command = netns.command("setpriv");
    command
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(crate::util::binary())
        .args(["check", &format!("127.0.0.1:{port}"), "--json"]);
    crate::util::scrub(&mut command);
    let output = crate::util::run(&mut command);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    assert_eq!(cause_ids(&json), ["unexplained"], "{json:#}");
    let unexplained = cause(&json, "unexplained");
    assert!(
        unexplained["evidence"].to_string().contains("firewall ruleset could not be read"),
        "{unexplained:#}"
    );
    // The way to read it names this porthole's parent as the client.
    assert!(fix_lines(unexplained).iter().any(|f| f.contains("--from ")), "{unexplained:#}");
}

#[test]
fn an_icmpv6_admin_prohibited_reject_is_the_rule_not_a_security_policy() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    netns.run_ok(
        "nft",
        &[&format!("add table inet f; add chain inet f in {{ type filter hook input priority 0; }}; add rule inet f in tcp dport {port} ct state new reject with icmpx admin-prohibited")],
    );
    let target = format!("[::1]:{port}");
    // The kernel holds the first ICMP error back: connect() fails with
    // EACCES at the SYN retransmit, about a second in.
    let (code, json) = check(&netns, &[&target, "--timeout", "3s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "denied", "EACCES from the kernel: {json:#}");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "not sandbox-denied: {json:#}");
    let reject = cause(&json, "firewall-reject");
    assert!(reject["evidence"].to_string().contains("administratively prohibited"), "{reject:#}");
    // Before that, the probe times out: the reject rule is still the cause.
    let (code, json) = check(&netns, &[&target, "--timeout", "500ms"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["attempts"][0]["outcome"], "timeout", "{json:#}");
    assert_eq!(cause_ids(&json), ["firewall-reject"], "{json:#}");
    assert!(cause(&json, "firewall-reject")["evidence"].to_string().contains("retransmit"));
    // `wait` explains its timeout the same way.
    let waited = netns.porthole(&["wait", &target, "--timeout", "2s", "--json"]);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(waited.stdout.contains("firewall-reject"), "{waited:?}");
    assert!(!waited.stdout.contains("sandbox-denied"), "{waited:?}");
    assert_fix_repairs(&netns, reject, &target, "after the fix");
}

#[test]
fn the_hostname_line_of_the_hosts_file_is_named_when_it_leads_elsewhere() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    // Debian's installer writes the machine's own name on 127.0.1.1.
    let hosts = "127.0.0.1 localhost\n127.0.1.1 devbox.example devbox\n";
    let output = netns.porthole_with_hosts(hosts, &["check", &format!("devbox:{port}"), "--json"]);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["bound-elsewhere"], "{json:#}");
    let elsewhere = cause(&json, "bound-elsewhere");
    let evidence = elsewhere["evidence"].to_string();
    assert!(evidence.contains("devbox resolves to 127.0.1.1"), "{elsewhere:#}");
    assert!(evidence.contains("/etc/hosts maps devbox to 127.0.1.1"), "{elsewhere:#}");
    assert!(
        fix_lines(elsewhere).iter().any(|f| f.contains("map devbox to 127.0.0.1 in /etc/hosts")),
        "{elsewhere:#}"
    );
    // With the name mapped where the service listens, it is reachable.
    let fixed = "127.0.0.1 localhost devbox\n";
    let output = netns.porthole_with_hosts(fixed, &["check", &format!("devbox:{port}"), "--json"]);
    assert_eq!(output.code, 0, "{}", output.stdout);
}

#[test]
fn ipv6_disabled_everywhere_is_fixed_on_loopback_only() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    netns.run_ok("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    let target = format!("[::1]:{port}");
    let json = only_failure(&netns, &target, "ipv6-disabled");
    let disabled = cause(&json, "ipv6-disabled");
    let evidence = disabled["evidence"].to_string();
    assert!(evidence.contains("net.ipv6.conf.all.disable_ipv6 = 1"), "{disabled:#}");
    let commands = disabled["fix_commands"].to_string();
    assert!(!commands.contains("conf.all"), "IPv6 stays off elsewhere: {disabled:#}");
    let (code, json) = check(&netns, &["--bind", &target]);
    assert_eq!(code, 1, "{json:#}");
    assert!(!cause(&json, "ipv6-disabled")["fix_commands"].to_string().contains("conf.all"));

    // The printed sysctl brings ::1 back, and leaves `all` as it was.
    run_fix_commands(&netns, disabled);
    let _server = server_in(&netns, "::1", port, "http");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 0, "after the fix: {json:#}");
    let all = netns.command("sysctl").args(["-n", "net.ipv6.conf.all.disable_ipv6"]).output();
    assert_eq!(String::from_utf8_lossy(&all.unwrap().stdout).trim(), "1");
}

/// A namespace whose `ip netns` name has a space, a command substitution
/// and an escape sequence: `check --netns NAME` prints the loopback fix so
/// that it runs as printed from the caller's shell (the name quoted, its
/// escape written with printf) and repairs the namespace, and the table
/// carries no raw escape.
#[test]
fn netns_fix_lines_for_an_oddly_named_namespace_run_as_printed() {
    if !crate::util::is_root() {
        crate::util::skip("network namespaces need root");
        return;
    }
    let name = format!("porthole odd {};$(touch ran)\x1b[2J", std::process::id());
    let status = Command::new("ip").args(["netns", "add", &name]).status().unwrap();
    assert!(status.success(), "ip netns add {name:?}");
    let _netns = Netns { name: name.clone() }; // deleted when dropped
    let directory = tempfile::tempdir().unwrap();
    // lo stays down, as in a fresh namespace.
    let target = format!("127.0.0.1:{}", unique_port());
    let output = crate::util::porthole_run(&["check", &target, "--netns", &name, "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let down = crate::util::cause(&json, "loopback-down");
    let commands = down["fix_commands"].as_array().expect("fix_commands");
    assert!(!commands.is_empty(), "{down:#}");
    for command in commands {
        let command = command.as_str().unwrap();
        assert!(!command.contains('\x1b'), "{command:?}");
        let run = Command::new("sh")
            .args(["-c", command])
            .current_dir(directory.path())
            .output()
            .expect("sh runs");
        assert!(run.status.success(), "{command}: {}", String::from_utf8_lossy(&run.stderr));
    }
    assert!(!directory.path().join("ran").exists(), "the name ran as a command");
    let again = crate::util::porthole_run(&["check", &target, "--netns", &name, "--json"]).json();
    assert!(!crate::util::cause_ids(&again).contains(&"loopback-down".to_string()), "{again:#}");
    let table = crate::util::porthole_run(&["check", &target, "--netns", &name]);
    assert!(!table.stdout.contains('\x1b') && !table.stderr.contains('\x1b'), "{table:?}");
}

/// `check PORT` finds the listener in a namespace whose name holds an
/// escape sequence: the `check --netns` command it prints runs as printed
/// (the name written through printf) and answers from inside.
#[test]
fn other_namespace_fix_for_an_oddly_named_namespace_runs_as_printed() {
    if !crate::util::is_root() {
        crate::util::skip("network namespaces need root");
        return;
    }
    let name = format!("porthole-esc-{}\x1b[2J x", std::process::id());
    let status = Command::new("ip").args(["netns", "add", &name]).status().unwrap();
    assert!(status.success(), "ip netns add {name:?}");
    let netns = Netns { name: name.clone() };
    netns.run_ok("ip", &["link", "set", "lo", "up"]);
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let output = crate::util::porthole_run(&["check", &port.to_string(), "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let elsewhere = cause(&json, "other-namespace");
    let commands = elsewhere["fix_commands"].as_array().expect("fix_commands");
    assert_eq!(commands.len(), 1, "{elsewhere:#}");
    let command = commands[0].as_str().unwrap();
    assert!(!command.contains('\x1b'), "{command:?}");
    let binary = crate::util::binary();
    let command = command.replacen("porthole", binary.to_str().unwrap(), 1);
    let mut run = Command::new("sh");
    run.args(["-c", &command]);
    let inside = crate::util::run(&mut run);
    assert_eq!(inside.code, 0, "{command}: {inside:?}");
}

/// Moves the rule that looks up table `local` from priority 0 to `pref`
/// (in `family`, `-4` or `-6`), as a set-up that orders its rules does, so
/// that rules with a lower priority are consulted before it.
fn table_local_at(netns: &Netns, family: &str, pref: &str) {
    netns.run_ok("ip", &[family, "rule", "add", "pref", pref, "table", "local"]);
    netns.run_ok("ip", &[family, "rule", "del", "pref", "0"]);
}

/// A policy-routing rule consulted before table `local` sends loopback to a
/// table with an `unreachable`, `prohibit` or `blackhole` route (EHOSTUNREACH,
/// EACCES, EINVAL): the rule is named, not a missing local route (whose
/// `ip route add` fails: the route is there) nor a security policy; the
/// printed `ip rule del` runs and the port answers again.
#[test]
fn a_policy_rule_that_diverts_loopback_is_named_and_its_removal_runs() {
    for (table, kind) in [("100", "unreachable"), ("101", "prohibit"), ("102", "blackhole")] {
        let Some(netns) = Netns::create() else { return };
        let port = unique_port();
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        table_local_at(&netns, "-4", "100");
        netns.run_ok("ip", &["route", "add", kind, "127.0.0.0/8", "table", table]);
        netns.run_ok("ip", &["rule", "add", "to", "127.0.0.0/8", "table", table, "pref", "50"]);
        let target = format!("127.0.0.1:{port}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{kind}: {json:#}");
        assert_eq!(cause_ids(&json), ["loopback-down"], "{kind}: {json:#}");
        let down = cause(&json, "loopback-down");
        assert!(
            down["summary"].as_str().unwrap().contains("policy routing rule 50"),
            "{kind}: {down:#}"
        );
        assert!(down["evidence"]
            .to_string()
            .contains(&format!("{kind} 127.0.0.0/8 in table {table}")));
        assert_eq!(down["fix_commands"], serde_json::json!(["ip rule del pref 50"]), "{down:#}");
        netns.run_ok("bash", &["-c", "ip rule del pref 50"]);
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!((code, json["ok"].as_bool()), (0, Some(true)), "{kind}: {json:#}");
    }
}

/// A policy-routing rule that selects loopback by source (`from
/// 127.0.0.1`, `from 127.0.0.0/8`, `from ::1`), consulted before table
/// `local`, with a table that sends loopback to an `unreachable`,
/// `blackhole` or `prohibit` route, or out of another interface. `ip route
/// get ADDRESS` answers `local`: a connect's first route lookup has no
/// source yet and finds table local, and only the second, with the source
/// it took from there, meets the rule. `check` did not name the rule; it
/// is named with the source, its `ip rule del` runs, and the port answers
/// again.
#[test]
fn a_policy_rule_that_selects_loopback_by_source_is_named_and_its_removal_runs() {
    let cases = [
        ("127.0.0.1", "from 127.0.0.1", "unreachable", "127.0.0.0/8"),
        ("127.0.0.1", "from 127.0.0.0/8", "blackhole", "127.0.0.0/8"),
        ("::1", "from ::1", "prohibit", "::1"),
        // Out of another interface: a loopback source there is EINVAL.
        ("127.0.0.1", "from 127.0.0.1", "unicast", "127.0.0.0/8 dev v0"),
    ];
    for (address, selector, kind, destination) in cases {
        let Some(netns) = Netns::create() else { return };
        let port = unique_port();
        let _server = server_in(&netns, address, port, "http");
        let family = if address == "::1" { "-6" } else { "-4" };
        if destination.ends_with("dev v0") {
            netns.run_ok("ip", &["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
            netns.run_ok("ip", &["link", "set", "v0", "up"]);
        }
        table_local_at(&netns, family, "100");
        let setup = format!(
            "ip {family} route add {kind} {destination} table 100 && \
             ip {family} rule add {selector} pref 50 table 100"
        );
        netns.run_ok("sh", &["-c", &setup]);
        let target =
            if address == "::1" { format!("[::1]:{port}") } else { format!("{address}:{port}") };
        let json = only_failure(&netns, &target, "loopback-down");
        let down = cause(&json, "loopback-down");
        assert!(
            down["summary"].as_str().unwrap().contains("policy routing rule 50"),
            "{selector}: {down:#}"
        );
        let evidence = down["evidence"].to_string();
        assert!(evidence.contains(&format!("50: {selector} lookup 100")), "{down:#}");
        assert!(evidence.contains(&format!("the connection's source is {address}")), "{down:#}");
        let removal =
            if address == "::1" { "ip -6 rule del pref 50" } else { "ip rule del pref 50" };
        assert_eq!(down["fix_commands"], serde_json::json!([removal]), "{down:#}");
        assert_fix_repairs(&netns, down, &target, selector);
    }
}

/// A firewall rule in a `type route` output chain marks loopback traffic
/// (`meta mark set 0x1`, or iptables' `-j MARK --set-mark 1` in mangle
/// OUTPUT) and `ip rule add fwmark 0x1 lookup 100`, before table local,
/// sends marked packets to an unreachable route: connect()'s own lookups
/// are unmarked and find table local, the SYN rerouted with its mark is
/// lost. `check` did not name either rule. Both are named; the fix stops
/// the marking of loopback only (deletes a rule that marks nothing else,
/// exempts `lo` from one that marks everything) and leaves the policy rule
/// other marked traffic needs; it runs and the port answers again.
#[test]
fn a_mark_set_on_loopback_and_a_fwmark_policy_rule_are_named_and_repaired() {
    let port = unique_port();
    let marking = [
        (
            "nft",
            "nft add table inet m && nft 'add chain inet m out { type route hook output priority -150 ; }' && nft add rule inet m out ip daddr 127.0.0.1 meta mark set 0x1",
            "nft delete rule inet m out handle 2",
        ),
        (
            "nft, everything",
            "nft add table inet m && nft 'add chain inet m out { type route hook output priority -150 ; }' && nft add rule inet m out meta mark set 0x1",
            "nft insert rule inet m out position 2 oif lo return",
        ),
        (
            "iptables",
            "iptables -t mangle -A OUTPUT -d 127.0.0.1 -j MARK --set-mark 1",
            "iptables-nft -t mangle -D OUTPUT 1",
        ),
    ];
    // A table and chain made through nft's JSON input, with names its
    // command line cannot take (a blank, `;`, `$`, a quote, a bidi
    // override): the fix is the same edit as JSON input.
    let directory = tempfile::tempdir().unwrap();
    let odd = |all: bool| {
        let (table, chain) = ("m x", "o;u$t '\u{202e}");
        let mut expr = vec![serde_json::json!({ "mangle": {
            "key": { "meta": { "key": "mark" } }, "value": 1 } })];
        if !all {
            expr.insert(
                0,
                serde_json::json!({ "match": { "op": "==",
                "left": { "payload": { "protocol": "ip", "field": "daddr" } },
                "right": "127.0.0.1" } }),
            );
        }
        let input = serde_json::json!({ "nftables": [
            { "add": { "table": { "family": "inet", "name": table } } },
            { "add": { "chain": { "family": "inet", "table": table, "name": chain,
                "type": "route", "hook": "output", "prio": -150 } } },
            { "add": { "rule": { "family": "inet", "table": table, "chain": chain,
                "expr": expr } } },
        ] });
        let file = directory.path().join(format!("odd-{all}.json"));
        std::fs::write(&file, input.to_string()).unwrap();
        format!("nft -j -f {}", file.display())
    };
    let odd_marking = [
        (
            "nft, odd names",
            odd(false),
            r#"printf '%s\n' "$(printf '{"nftables":[{"delete":{"rule":{"chain":"o;u$t '\''\342\200\256","family":"inet","handle":2,"table":"m x"}}}]}')" | nft -j -f -"#,
        ),
        (
            "nft, odd names, everything",
            odd(true),
            r#"printf '%s\n' "$(printf '{"nftables":[{"insert":{"rule":{"chain":"o;u$t '\''\342\200\256","expr":[{"match":{"left":{"meta":{"key":"oif"}},"op":"==","right":"lo"}},{"return":null}],"family":"inet","handle":2,"table":"m x"}}}]}')" | nft -j -f -"#,
        ),
    ];
    let marking = marking
        .into_iter()
        .map(|(context, mark, fix)| (context, mark.to_string(), fix))
        .chain(odd_marking.iter().map(|(context, mark, fix)| (*context, mark.clone(), *fix)));
    for (context, mark, fix) in marking {
        let Some(netns) = Netns::create() else { return };
        if context == "iptables" && !crate::util::installed("iptables") {
            crate::util::skip("iptables is not installed");
            return;
        }
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        table_local_at(&netns, "-4", "100");
        let setup = format!(
            "ip route add unreachable 127.0.0.0/8 table 100 && \
             ip rule add fwmark 0x1 lookup 100 pref 50 && {mark}"
        );
        netns.run_ok("sh", &["-c", &setup]);
        let target = format!("127.0.0.1:{port}");
        let json = only_failure(&netns, &target, "loopback-down");
        let down = cause(&json, "loopback-down");
        let summary = down["summary"].as_str().unwrap();
        assert!(summary.contains("marks the SYN to 127.0.0.1 with 0x1"), "{context}: {down:#}");
        assert!(summary.contains("policy routing rule 50"), "{context}: {down:#}");
        let evidence = down["evidence"].to_string();
        assert!(evidence.contains("sets mark 0x1 on the SYN"), "{context}: {down:#}");
        assert!(evidence.contains("50: from all fwmark 0x1 lookup 100"), "{context}: {down:#}");
        assert_eq!(down["fix_commands"], serde_json::json!([fix]), "{context}: {down:#}");
        assert_fix_repairs(&netns, down, &target, context);
        // The lookup other marked traffic takes is still there.
        let rules = netns.command("ip").args(["rule", "show", "pref", "50"]).output().unwrap();
        assert!(String::from_utf8_lossy(&rules.stdout).contains("fwmark 0x1"), "{context}");
    }
}

/// A `tc` filter on lo that is not BPF (a `u32` match with a `mirred`
/// redirect to another device) takes the loopback SYN away before any
/// firewall table: `check` called it `unexplained`, having looked for BPF
/// filters only. It is named with its action, on the hook it sits on (the
/// legacy `ingress` qdisc, whose filters `tc filter show … egress` lists
/// again, is not named twice), and the printed `tc filter del` runs.
#[test]
fn a_tc_filter_that_redirects_loopback_elsewhere_is_named_and_deleted() {
    for (qdisc, direction) in [("ingress", "ingress"), ("clsact", "egress")] {
        let Some(netns) = Netns::create() else { return };
        if !crate::util::installed("tc") {
            crate::util::skip("tc is not installed (iproute2)");
            return;
        }
        let port = unique_port();
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        netns.run_ok("ip", &["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        netns.run_ok("ip", &["link", "set", "v0", "up"]);
        netns.run_ok("tc", &["qdisc", "add", "dev", "lo", qdisc]);
        let filter = format!(
            "tc filter add dev lo {direction} protocol ip u32 match ip dport {port} 0xffff \
             action mirred egress redirect dev v0"
        );
        netns.run_ok("sh", &["-c", &filter]);
        let target = format!("127.0.0.1:{port}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{qdisc}: {json:#}");
        assert_eq!(cause_ids(&json), ["firewall-drop"], "{qdisc}: {json:#}");
        let drop = cause(&json, "firewall-drop");
        assert!(
            drop["evidence"]
                .to_string()
                .contains(&format!("a tc u32 filter runs on lo {direction}")),
            "{drop:#}"
        );
        assert!(drop["evidence"].to_string().contains("action mirred"), "{drop:#}");
        assert_eq!(
            drop["fix_commands"],
            serde_json::json!([format!("tc filter del dev lo {direction} pref 49152")]),
            "{drop:#}"
        );
        assert_fix_repairs(&netns, drop, &target, qdisc);
    }
}

/// Policy-routing rules that select loopback traffic by user (`uidrange`),
/// by the lookup's input device (`iif lo`, which locally generated traffic
/// matches), by protocol or port, or with `not`, sending it to an
/// `unreachable` route. They were skipped as "not evaluated": `check` said
/// the address had no local route and printed an `ip route add local` that
/// fails with `File exists`, or nothing but `unexplained`. The rule is
/// named, its `ip rule del` runs, and the port answers again; a rule for
/// another user or port is left alone.
#[test]
fn policy_rules_that_select_by_user_device_protocol_or_port_are_evaluated() {
    let port = unique_port();
    let selectors = [
        "uidrange 0-0".to_string(),
        "iif lo".into(),
        "ipproto tcp".into(),
        format!("dport {port}"),
        "not to 10.0.0.0/8".into(),
    ];
    let elsewhere = ["uidrange 1000-2000".to_string(), format!("dport {}", port + 1)];
    for (selector, diverts) in
        selectors.iter().map(|s| (s, true)).chain(elsewhere.iter().map(|s| (s, false)))
    {
        let Some(netns) = Netns::create() else { return };
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        netns.run_ok("ip", &["route", "add", "unreachable", "127.0.0.0/8", "table", "100"]);
        let rule = format!("ip rule add {selector} pref 5 table 100");
        netns.run_ok("sh", &["-c", &rule]);
        table_local_at(&netns, "-4", "10");
        let target = format!("127.0.0.1:{port}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        if !diverts {
            assert_eq!((code, json["ok"].as_bool()), (0, Some(true)), "{selector}: {json:#}");
            continue;
        }
        assert_eq!(code, 1, "{selector}: {json:#}");
        assert_eq!(cause_ids(&json), ["loopback-down"], "{selector}: {json:#}");
        let down = cause(&json, "loopback-down");
        assert!(
            down["summary"].as_str().unwrap().contains("policy routing rule 5"),
            "{selector}: {down:#}"
        );
        assert!(down["evidence"].to_string().contains(selector.as_str()), "{down:#}");
        assert_eq!(down["fix_commands"], serde_json::json!(["ip rule del pref 5"]), "{down:#}");
        assert_fix_repairs(&netns, down, &target, selector);
    }
    // A rule porthole does not evaluate: the local route is there, so the
    // fix is not to add it again (`File exists`) but to read the rules.
    let Some(netns) = Netns::create() else { return };
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    netns.run_ok("ip", &["route", "add", "unreachable", "127.0.0.0/8", "table", "100"]);
    netns.run_ok("sh", &["-c", "ip rule add pref 5 table 100 suppress_prefixlen 0"]);
    table_local_at(&netns, "-4", "10");
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let down = cause(&json, "loopback-down");
    assert!(down["summary"].as_str().unwrap().contains("is not routed to lo"), "{down:#}");
    let commands = down["fix_commands"].as_array().unwrap();
    assert!(commands.iter().all(|c| c.as_str().unwrap().starts_with("ip rule show")), "{down:#}");
    run_fix_commands(&netns, down);
}

/// Table `local` lost its `local 127.0.0.0/8` route (127.0.0.1 keeps its
/// own) and table `main` sends 127.0.0.0/8 out of a veth, as a setup for
/// `route_localnet` does: 127.0.0.2 leaves through the veth and the SYN is
/// never answered. `check` blamed rule 32766 (`from all lookup main`) as
/// "consulted before table local" and printed `ip rule del pref 32766`,
/// which deletes the lookup of table main for everything. The missing
/// local route is named, with where the address goes instead, and the
/// printed `ip route add local` runs and the port answers again.
#[test]
fn a_loopback_address_routed_out_of_another_interface_names_its_missing_local_route() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "0.0.0.0", port, "http");
    netns.run_ok("ip", &["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    netns.run_ok("ip", &["link", "set", "v0", "up"]);
    netns.run_ok("ip", &["link", "set", "v1", "up"]);
    netns.run_ok("ip", &["addr", "add", "10.9.0.1/24", "dev", "v0"]);
    netns.run_ok("sysctl", &["-w", "net.ipv4.conf.v0.route_localnet=1"]);
    netns.run_ok("ip", &["route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"]);
    netns.run_ok("ip", &["route", "add", "127.0.0.0/8", "dev", "v0"]);
    let target = format!("127.0.0.2:{port}");
    let json = only_failure(&netns, &target, "loopback-down");
    let down = cause(&json, "loopback-down");
    assert!(down["summary"].as_str().unwrap().contains("127.0.0.2 has no local route"), "{down:#}");
    assert!(down["evidence"].to_string().contains("127.0.0.2 dev v0"), "{down:#}");
    assert_eq!(
        down["fix_commands"],
        serde_json::json!(["ip route add local 127.0.0.2 dev lo table local"]),
        "{down:#}"
    );
    assert_fix_repairs(&netns, down, &target, "");
    // 127.0.0.1 kept its own local route throughout.
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
}

/// A qdisc added to `lo` holds every loopback packet (here `tbf`, whose
/// bucket is the delay and the loss: `netem` is not built into every
/// kernel). With tokens for the handshake alone, the request waits in the
/// queue: `check` blamed the listener (`not-responding`, "look at the
/// service's logs"); with a bucket smaller than a packet the SYN is lost
/// and it was `unexplained`. The qdisc is named, `wait`'s timeout says the
/// same, and the printed `tc qdisc del` runs and the port answers again.
#[test]
fn a_qdisc_on_lo_is_named_not_the_listener_and_its_removal_runs() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("tc") {
        crate::util::skip("tc is not installed (iproute2)");
        return;
    }
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let url = format!("http://127.0.0.1:{port}/");
    let target = format!("127.0.0.1:{port}");
    let removal = serde_json::json!(["tc qdisc del dev lo root   # lo goes back to no qdisc"]);
    // Tokens for the SYN, SYN-ACK and ACK (214 bytes), and a refill of a
    // byte a second: the request stays in the queue.
    let shaped = ["qdisc", "add", "dev", "lo", "root", "tbf", "rate", "8bit", "burst", "250"];
    netns.run_ok("tc", &[&shaped[..], &["latency", "60s"]].concat());
    let json = only_failure(&netns, &url, "loopback-qdisc");
    let qdisc = cause(&json, "loopback-qdisc");
    let summary = qdisc["summary"].as_str().unwrap();
    assert!(summary.contains("connected, then got no answer: a tbf qdisc on lo"), "{qdisc:#}");
    assert!(qdisc["evidence"].to_string().contains("qdisc tbf"), "{qdisc:#}");
    assert_eq!(qdisc["fix_commands"], removal, "{qdisc:#}");
    assert_fix_repairs(&netns, qdisc, &url, "");
    // A bucket smaller than any packet drops them all: the SYN is lost.
    let dropping = ["qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1kbit", "burst", "10"];
    netns.run_ok("tc", &[&dropping[..], &["latency", "1ms"]].concat());
    let json = only_failure(&netns, &target, "loopback-qdisc");
    let qdisc = cause(&json, "loopback-qdisc");
    assert!(qdisc["summary"].as_str().unwrap().contains("timeout: a tbf qdisc"), "{qdisc:#}");
    assert_eq!(qdisc["fix_commands"], removal, "{qdisc:#}");
    let output = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("  loopback-qdisc: "), "{}", output.stderr);
    assert!(output.stderr.contains("$ tc qdisc del dev lo root"), "{}", output.stderr);
    assert_fix_repairs(&netns, qdisc, &target, "");
    // A qdisc that passes everything at once (nothing dropped, nothing
    // queued) does not explain a service that is silent by design.
    let quiet = unique_port();
    let _silent = server_in(&netns, "127.0.0.1", quiet, "silent");
    let roomy = ["qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "20000"];
    netns.run_ok("tc", &[&roomy[..], &["latency", "50ms"]].concat());
    let (code, json) = check(&netns, &[&format!("127.0.0.1:{quiet}"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(cause_ids(&json), ["not-responding"], "{json:#}");
}

/// A `blackhole`, `prohibit`, `unreachable` or `throw` route for 127.0.0.2
/// added to table `local` outranks its `local 127.0.0.0/8` route by length:
/// the cause names that route, not a missing local route (whose `ip route
/// add local` fails with `File exists`), and the printed `ip route del`
/// runs and the port answers again.
#[test]
fn a_route_in_table_local_that_hides_the_local_route_is_deleted_as_printed() {
    for kind in ["blackhole", "prohibit", "unreachable", "throw"] {
        let Some(netns) = Netns::create() else { return };
        let port = unique_port();
        let _server = server_in(&netns, "127.0.0.2", port, "http");
        netns.run_ok("ip", &["route", "add", kind, "127.0.0.2", "table", "local"]);
        let target = format!("127.0.0.2:{port}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{kind}: {json:#}");
        assert_eq!(cause_ids(&json), ["loopback-down"], "{kind}: {json:#}");
        let down = cause(&json, "loopback-down");
        let article = if kind == "unreachable" { "an" } else { "a" };
        assert!(
            down["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("{article} {kind} route for 127.0.0.2 in table local")),
            "{kind}: {down:#}"
        );
        let expected = format!("ip route del {kind} 127.0.0.2 table local");
        assert_eq!(down["fix_commands"], serde_json::json!([expected]), "{down:#}");
        assert_fix_repairs(&netns, down, &target, kind);
    }
}

/// `::1`'s own local route deleted and an `unreachable ::1` put in its
/// place: deleting the unreachable route alone leaves no route at all, so
/// the fix adds the local route back in the same run, and the port answers
/// after the printed commands.
#[test]
fn a_route_that_replaced_the_local_route_is_swapped_back_in_one_fix() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    netns.run_ok("ip", &["-6", "route", "del", "local", "::1", "table", "local"]);
    netns.run_ok("ip", &["-6", "route", "add", "unreachable", "::1", "table", "local"]);
    let target = format!("[::1]:{port}");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    let down = cause(&json, "loopback-down");
    assert_eq!(
        down["fix_commands"],
        serde_json::json!([
            "ip -6 route del unreachable ::1 table local",
            "ip route add local ::1 dev lo table local"
        ]),
        "{down:#}"
    );
    assert_fix_repairs(&netns, down, &target, "");
}

/// Loads `ruleset` into `netns` with `nft -f -`: nft's JSON input (`-j`)
/// when it starts with `{`, which takes names its command line cannot.
fn load_ruleset(netns: &Netns, ruleset: &str, situation: &str) {
    let mut load = netns.command("nft");
    if ruleset.starts_with('{') {
        load.arg("-j");
    }
    load.args(["-f", "-"]).stdin(std::process::Stdio::piped());
    let mut child = load.spawn().expect("nft runs");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(ruleset.as_bytes()).expect("ruleset written");
    assert!(child.wait().expect("nft ends").success(), "{situation}: nft -f");
}

/// A rule that blocks through a named set (reached by `jump`) or a verdict
/// map, inline or named, that holds other ports too: the rule is found (it
/// was "unexplained" for a map), and the fix touches only this port — the
/// set element, or an accept inserted before an inline map — so the map's
/// `22 : accept` survives. A set of addresses (`ip daddr @blocked`) loses
/// only the element that holds the loopback address, where the fix deleted
/// the rule and with it the block of every other address in the set. Each
/// printed fix runs and the port answers, also where the table, chain and
/// set have names nft's command line cannot take (given as JSON input).
#[test]
fn a_port_blocked_through_a_set_or_verdict_map_is_unblocked_alone() {
    let rulesets = [
        (
            "named set behind a jump",
            "table inet f { set blocked { type inet_service; elements = { PORT, 9000 }; }; \
             chain sub { tcp dport @blocked reject with tcp reset; }; \
             chain input { type filter hook input priority 0; iif lo jump sub; }; }",
            "nft delete element inet f blocked { PORT }",
        ),
        (
            "inline verdict map on input",
            "table inet f { chain input { type filter hook input priority 0; \
             tcp dport vmap { PORT : drop, 22 : accept }; }; }",
            // The handle of the map's rule goes after `position`.
            "nft insert rule inet f input position * iif lo tcp dport PORT accept",
        ),
        (
            "named verdict map on output",
            "table ip f { map ports { type inet_service : verdict; elements = { PORT : drop, 22 : accept }; }; \
             chain o { type filter hook output priority 0; tcp dport vmap @ports; }; }",
            "nft delete element ip f ports { PORT }",
        ),
        (
            "address set",
            "table inet f { set blocked { type ipv4_addr; elements = { 127.0.0.1, 10.1.1.1 }; }; \
             chain input { type filter hook input priority 0; ip daddr @blocked drop; }; }",
            "nft delete element inet f blocked { 127.0.0.1 }",
        ),
        (
            "address interval set",
            "table inet f { set nets { type ipv4_addr; flags interval; elements = { 127.0.0.0/8, 10.1.1.1 }; }; \
             chain input { type filter hook input priority 0; ip saddr @nets drop; }; }",
            "nft delete element inet f nets { 127.0.0.0/8 }",
        ),
        // Made through nft's JSON input with names its command line
        // cannot take: the fix is the same edit as JSON input.
        (
            "named set, odd names",
            r#"{"nftables":[{"add":{"table":{"family":"inet","name":"f x"}}},
             {"add":{"set":{"family":"inet","table":"f x","name":"b;l","type":"inet_service","elem":[PORT,9000]}}},
             {"add":{"chain":{"family":"inet","table":"f x","name":"in put","type":"filter","hook":"input","prio":0,"policy":"accept"}}},
             {"add":{"rule":{"family":"inet","table":"f x","chain":"in put","expr":[
               {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":"@b;l"}},{"drop":null}]}}}]}"#,
            r#"printf '%s\n' '{"nftables":[{"delete":{"element":{"elem":[PORT],"family":"inet","name":"b;l","table":"f x"}}}]}' | nft -j -f -"#,
        ),
        (
            "inline verdict map, odd names",
            r#"{"nftables":[{"add":{"table":{"family":"inet","name":"f x"}}},
             {"add":{"chain":{"family":"inet","table":"f x","name":"in put","type":"filter","hook":"input","prio":0,"policy":"accept"}}},
             {"add":{"rule":{"family":"inet","table":"f x","chain":"in put","expr":[
               {"vmap":{"key":{"payload":{"protocol":"tcp","field":"dport"}},"data":{"set":[[PORT,{"drop":null}],[22,{"accept":null}]]}}}]}}}]}"#,
            r#"printf '%s\n' '{"nftables":[{"insert":{"rule":{"chain":"in put","expr":[{"match":{"left":{"meta":{"key":"iif"}},"op":"==","right":"lo"}},{"match":{"left":{"payload":{"field":"dport","protocol":"tcp"}},"op":"==","right":PORT}},{"accept":null}],"family":"inet","handle":*,"table":"f x"}}}]}' | nft -j -f -"#,
        ),
    ];
    for (situation, ruleset, expected) in rulesets {
        let Some(netns) = Netns::create() else { return };
        let port = unique_port();
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        load_ruleset(&netns, &ruleset.replace("PORT", &port.to_string()), situation);
        let target = format!("127.0.0.1:{port}");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{situation}: {json:#}");
        let blocked = &json["causes"][0];
        assert!(
            ["firewall-drop", "firewall-reject"].contains(&blocked["id"].as_str().unwrap()),
            "{situation}: {json:#}"
        );
        let expected = expected.replace("PORT", &port.to_string());
        let commands = blocked["fix_commands"].as_array().expect("fix_commands");
        assert_eq!(commands.len(), 1, "{situation}: {json:#}");
        let printed = commands[0].as_str().unwrap();
        let (head, tail) = expected.split_once('*').unwrap_or((&expected, ""));
        let handle = printed.strip_prefix(head).and_then(|rest| rest.strip_suffix(tail));
        assert!(
            handle.is_some_and(
                |h| h.is_empty() == tail.is_empty() && h.chars().all(|c| c.is_ascii_digit())
            ),
            "{situation}: expected `{expected}`: {json:#}"
        );
        assert_fix_repairs(&netns, blocked, &target, &format!("{situation}, after `{expected}`"));
        let listing = netns.command("nft").args(["list", "ruleset"]).output().unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout).to_string();
        if situation.starts_with("address") {
            // The address set keeps its other entries.
            assert!(listing.contains("10.1.1.1"), "{situation}: {listing}");
        } else if situation.contains("map") {
            assert!(listing.contains("22 : accept"), "{situation}: {listing}");
        }
    }
}

/// Redis at `maxclients`: the kernel completes the handshake and Redis
/// writes `-ERR max number of clients reached` before closing. `check`
/// called the port reachable; it now names the limit, and the printed
/// `porthole PORT` lists the client that holds the one connection. Once
/// that client leaves, the same check passes.
#[test]
fn redis_at_maxclients_is_named_not_called_reachable() {
    if !crate::util::installed("redis-server") {
        crate::util::skip("redis-server is not installed (scripts/setup.sh installs it)");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = netns.command("redis-server");
    redis
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--maxclients", "1"])
        .args(["--save", "", "--appendonly", "no", "--dir", dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null());
    let _redis = ChildGuard::spawn(&mut redis);
    let (holder, mut ready) = python_in(
        &netns,
        "import socket, sys, time\n\
         for _ in range(100):\n    try:\n        s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); break\n    except OSError: time.sleep(0.05)\n\
         s.sendall(b'PING\\r\\n'); s.recv(16)\n\
         print('ok', flush=True)\n\
         time.sleep(60)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "service-refused");
    let refused = cause(&json, "service-refused");
    assert!(refused["summary"].as_str().unwrap().contains("maxclients"), "{refused:#}");
    let listing = refused["fix_commands"][0].as_str().unwrap().split("   #").next().unwrap().trim();
    let args: Vec<&str> = listing.split_whitespace().skip(1).collect();
    let clients = netns.porthole(&args);
    assert!(clients.stdout.contains(&format!("pid {}", holder.pid())), "{clients:?}");
    drop(holder);
    let passes = crate::util::eventually(std::time::Duration::from_secs(5), || {
        check(&netns, &[&target, "--timeout", "1s"]).0 == 0
    });
    assert!(passes, "{:#}", check(&netns, &[&target, "--timeout", "1s"]).1);
}

/// A `socat` forwarder whose upstream is down accepts each connection and
/// closes it: `check` called a bare TCP target reachable and an HTTP one
/// "closed without answering". It now names socat and the address it
/// forwards to; the printed `porthole check UPSTREAM` explains that one, and
/// once a server listens there the forwarder's port passes.
#[test]
fn a_forwarder_whose_upstream_is_down_is_named_with_its_upstream() {
    if !crate::util::installed("socat") {
        crate::util::skip("socat is not installed (scripts/setup.sh installs it)");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let (front, back) = (unique_port(), unique_port());
    let mut socat = netns.command("socat");
    socat
        .arg(format!("TCP-LISTEN:{front},bind=127.0.0.1,fork,reuseaddr"))
        .arg(format!("TCP:127.0.0.1:{back}"))
        .stderr(std::process::Stdio::null());
    let socat = ChildGuard::spawn(&mut socat);
    let target = format!("127.0.0.1:{front}");
    assert!(crate::util::eventually(std::time::Duration::from_secs(5), || {
        netns.porthole(&["check", &target, "--json"]).json()["listeners"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    }));
    for shown in [target.clone(), format!("http://{target}/")] {
        let (code, json) = check(&netns, &[&shown, "--timeout", "1s"]);
        assert_eq!(code, 1, "{shown}: {json:#}");
        assert_eq!(cause_ids(&json), ["not-responding"], "{shown}: {json:#}");
        let closed = cause(&json, "not-responding");
        let summary = closed["summary"].as_str().unwrap();
        assert!(summary.contains(&format!("socat (pid {})", socat.pid())), "{closed:#}");
        assert!(summary.contains(&format!("forwards it to 127.0.0.1:{back}")), "{closed:#}");
        let explain = closed["fix_commands"][0].as_str().unwrap();
        let args: Vec<&str> =
            explain.split("   #").next().unwrap().split_whitespace().skip(1).collect();
        let upstream = netns.porthole(&[&args[..], &["--json"]].concat());
        assert_eq!(cause_ids(&upstream.json()), ["nothing-listening"], "{upstream:?}");
    }
    let _server = server_in(&netns, "127.0.0.1", back, "http");
    let (code, json) = check(&netns, &[&format!("http://{target}/"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
}

/// The classic hand-written firewall: `policy drop` and the service's port
/// accepted, nothing for the answers. The SYN to the port passes, the
/// SYN-ACK back to the client's own port (loopback delivers it through the
/// same input hook) does not. Before, `unexplained`.
#[test]
fn a_firewall_that_accepts_the_port_but_not_the_answers_is_named_and_fixed_as_printed() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let ruleset = format!(
        "table inet hand {{\n chain input {{\n type filter hook input priority 0; policy drop;\n tcp dport {{ 22, {port} }} accept\n }}\n}}\n"
    );
    load_ruleset(&netns, &ruleset, "hand-written firewall");
    let target = format!("127.0.0.1:{port}");

    let json = only_failure(&netns, &target, "firewall-drop");
    let dropped = cause(&json, "firewall-drop");
    assert!(dropped["summary"].as_str().unwrap().contains("drops the answers"), "{dropped:#}");
    assert!(dropped["evidence"].to_string().contains("policy drop"), "{dropped:#}");
    assert_eq!(
        dropped["fix_commands"],
        serde_json::json!(["nft insert rule inet hand input ct state established,related accept"])
    );
    assert_fix_repairs(&netns, dropped, &target, "after the fix");

    // The same with iptables (its nftables backend): `-P INPUT DROP` and an
    // ACCEPT for the port.
    if !crate::util::installed("iptables-nft") {
        crate::util::skip("iptables-nft is not installed");
        return;
    }
    netns.run_ok("nft", &["delete", "table", "inet", "hand"]);
    let other = unique_port();
    let _second = server_in(&netns, "127.0.0.1", other, "http");
    netns.run_ok(
        "iptables-nft",
        &["-A", "INPUT", "-p", "tcp", "--dport", &other.to_string(), "-j", "ACCEPT"],
    );
    netns.run_ok("iptables-nft", &["-P", "INPUT", "DROP"]);
    let target = format!("127.0.0.1:{other}");
    let json = only_failure(&netns, &target, "firewall-drop");
    let dropped = cause(&json, "firewall-drop");
    assert_eq!(
        dropped["fix_commands"],
        serde_json::json!([
            "iptables-nft -t filter -I INPUT 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
        ])
    );
    assert_fix_repairs(&netns, dropped, &target, "after the fix");
}

/// A chain's `policy drop` in a table and chain whose names nft's command
/// line cannot take (`f x`, `in put`): both fixes for it, the loopback
/// accept at the chain's top when nothing lets the port in and the accept
/// of a connection's answers when only the port is let in, are printed as
/// nft JSON input. Each runs as printed and the connection then works.
#[test]
fn policy_fixes_for_oddly_named_nft_chains_run_as_printed() {
    let chain = r#"{"add":{"table":{"family":"inet","name":"f x"}}},
         {"add":{"chain":{"family":"inet","table":"f x","name":"in put","type":"filter","hook":"input","prio":0,"policy":"drop"}}}"#;
    let situations = [
        // The accept of loopback (`iif lo`) at the chain's top.
        ("policy drop, nothing accepted", format!(r#"{{"nftables":[{chain}]}}"#), "meta"),
        (
            "policy drop, the port accepted",
            format!(
                r#"{{"nftables":[{chain},
                 {{"add":{{"rule":{{"family":"inet","table":"f x","chain":"in put","expr":[
                   {{"match":{{"op":"==","left":{{"payload":{{"protocol":"tcp","field":"dport"}}}},"right":PORT}}}},{{"accept":null}}]}}}}}}]}}"#
            ),
            // `ct state established,related accept`.
            "ct",
        ),
    ];
    for (situation, ruleset, key) in situations {
        let Some(netns) = Netns::create() else { return };
        let port = unique_port();
        let _server = server_in(&netns, "127.0.0.1", port, "http");
        load_ruleset(&netns, &ruleset.replace("PORT", &port.to_string()), situation);
        let target = format!("127.0.0.1:{port}");
        let json = only_failure(&netns, &target, "firewall-drop");
        let dropped = cause(&json, "firewall-drop");
        let commands = dropped["fix_commands"].as_array().expect("fix_commands");
        assert_eq!(commands.len(), 1, "{situation}: {dropped:#}");
        let printed = commands[0].as_str().expect("a command");
        let input = printed
            .strip_prefix("printf '%s\\n' '")
            .and_then(|rest| rest.strip_suffix("' | nft -j -f -"))
            .unwrap_or_else(|| panic!("{situation}: not nft JSON input: {printed}"));
        let input: serde_json::Value = serde_json::from_str(input).expect("JSON");
        let rule = &input["nftables"][0]["insert"]["rule"];
        assert_eq!(rule["table"], "f x", "{situation}: {input:#}");
        assert_eq!(rule["chain"], "in put", "{situation}: {input:#}");
        assert!(rule["expr"][0]["match"]["left"].get(key).is_some(), "{situation}: {input:#}");
        assert_fix_repairs(&netns, dropped, &target, &format!("{situation}, after `{printed}`"));
    }
}

/// `0.0.0.0:P`, `[::]:P` and `[::ffff:127.0.0.1]:P` are connected by Linux
/// to 127.0.0.1, ::1 and 127.0.0.1: the listeners, rules and routes of
/// those addresses decide, not a "listens elsewhere" or a route to add for
/// the address as written.
#[test]
fn unspecified_and_v4_mapped_targets_are_judged_at_the_address_linux_connects_to() {
    let Some(netns) = Netns::create() else { return };
    let (dropped, v6_only) = (unique_port(), unique_port());
    let _servers = [
        server_in(&netns, "127.0.0.1", dropped, "http"),
        server_in(&netns, "::1", v6_only, "http"),
    ];
    netns.run_ok("nft", &["add", "table", "inet", "guard"]);
    netns.run_ok(
        "nft",
        &["add chain inet guard out { type filter hook output priority 0 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule inet guard out ip daddr 127.0.0.1 tcp dport {dropped} drop")],
    );
    for target in [format!("0.0.0.0:{dropped}"), format!("[::ffff:127.0.0.1]:{dropped}")] {
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["firewall-drop"], "{target}: {json:#}");
        let drop = cause(&json, "firewall-drop");
        assert!(drop["evidence"].to_string().contains("goes to 127.0.0.1"), "{drop:#}");
    }
    // The service on ::1 only: a mapped address is IPv4, the other family.
    let mapped = format!("[::ffff:127.0.0.1]:{v6_only}");
    let (code, json) = check(&netns, &[&mapped, "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["family-mismatch"], "{json:#}");
    // `::` reaches the service on ::1.
    let (code, json) = check(&netns, &[&format!("[::]:{v6_only}"), "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    let (code, json) = check(&netns, &[&format!("0.0.0.0:{dropped}"), "--timeout", "1s"]);
    run_fix_commands(&netns, cause(&json, "firewall-drop"));
    assert_eq!(code, 1);
    for target in [format!("0.0.0.0:{dropped}"), format!("[::ffff:127.0.0.1]:{dropped}")] {
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 0, "{target} after the printed fix: {json:#}");
    }
}

/// A rule that lets the SYN through and drops what follows (a rate limit
/// the SYN was still under, a rule for `established` packets): connect()
/// returns, the server never sees the ACK or the request, and its silence
/// was blamed on the service.
#[test]
fn a_rule_that_drops_the_packets_after_the_syn_is_named_not_the_silent_service() {
    let Some(netns) = Netns::create() else { return };
    let (limited, established) = (unique_port(), unique_port());
    let _servers = [
        server_in(&netns, "127.0.0.1", limited, "http"),
        server_in(&netns, "127.0.0.1", established, "http"),
    ];
    netns.run_ok("nft", &["add", "table", "inet", "guard"]);
    for (chain, hook) in [("out", "output"), ("in", "input")] {
        netns.run_ok(
            "nft",
            &[&format!(
                "add chain inet guard {chain} {{ type filter hook {hook} priority 0 ; policy accept ; }}"
            )],
        );
    }
    netns.run_ok(
        "nft",
        &[&format!(
            "add rule inet guard out tcp dport {limited} limit rate over 1/minute burst 1 packets drop"
        )],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule inet guard in tcp dport {established} ct state established drop")],
    );
    for (port, chain) in [(limited, "inet guard out"), (established, "inet guard in")] {
        let target = format!("http://127.0.0.1:{port}/");
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(cause_ids(&json), ["firewall-drop"], "{target}: {json:#}");
        let drop = cause(&json, "firewall-drop");
        assert!(drop["summary"].as_str().unwrap().ends_with(chain), "{drop:#}");
        assert_fix_repairs(&netns, drop, &target, &format!("{target} after the printed fix"));
    }
}

/// A rule that drops connections at random (`numgen random mod 2`): a
/// probe it stopped names it and says the failure is intermittent, and one
/// that got through is OK with a warning naming it (a client of that port
/// fails now and then); the printed fix removes it.
#[test]
fn a_rule_that_drops_part_of_the_traffic_is_named_whether_the_probe_passed_or_not() {
    let Some(netns) = Netns::create() else { return };
    let (_server, port) =
        crate::util::http_server_behind_input_rule(&netns, "numgen random mod 2 == 0 drop");
    let target = format!("127.0.0.1:{port}");
    // Each packet is stopped or not at random: probe until a probe whose
    // SYN was stopped and one whose every packet passed were both seen (a
    // count, not a clock, bounds it: either missing in 60 is below 2^-20).
    // A probe whose SYN passed and whose handshake ACK did not is a third
    // outcome, reported as later packets stopped, and is not counted.
    let (mut stopped, mut passed) = (None, None);
    let all_passed = |json: &serde_json::Value| {
        json["causes"].as_array().is_some_and(|causes| {
            causes
                .iter()
                .any(|c| c["summary"].as_str().is_some_and(|s| s.contains("answered this time")))
        })
    };
    for _ in 0..60 {
        let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
        match code {
            0 if all_passed(&json) => passed = Some(json),
            0 => {}
            _ => stopped = Some(json),
        }
        if stopped.is_some() && passed.is_some() {
            break;
        }
    }
    let (Some(stopped), Some(passed)) = (stopped, passed) else {
        panic!("60 probes were all stopped, or all passed");
    };
    assert_eq!(cause_ids(&stopped), ["firewall-drop"], "{stopped:#}");
    let drop = cause(&stopped, "firewall-drop");
    let summary = drop["summary"].as_str().unwrap();
    assert!(summary.contains("drops part of the loopback traffic"), "{drop:#}");
    assert!(summary.contains("(intermittently)"), "{drop:#}");
    assert!(drop["evidence"].to_string().contains("at random: `numgen random`"), "{drop:#}");

    assert_eq!(cause_ids(&passed), ["firewall-drop"], "{passed:#}");
    let warning = cause(&passed, "firewall-drop");
    assert_eq!(warning["severity"], "warning", "{warning:#}");
    let summary = warning["summary"].as_str().unwrap();
    assert!(summary.contains("answered this time"), "{warning:#}");
    assert!(summary.contains("clients fail now and then"), "{warning:#}");
    let repaired = assert_fix_repairs(&netns, warning, &target, "the random drop removed");
    assert_eq!(cause_ids(&repaired), Vec::<String>::new(), "{repaired:#}");
}

/// Port 81 with nothing on it, where a server run as nobody failed to
/// bind (EACCES below `ip_unprivileged_port_start`) and exited: the
/// evidence says why it may be missing, and the printed sysctl lets it
/// start.
#[test]
fn nothing_on_a_privileged_port_names_the_bind_limit_and_its_fix_lets_a_user_server_start() {
    let Some(netns) = Netns::create() else { return };
    let start_as_nobody = || {
        let mut command = netns.command("setpriv");
        command.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        // The system's python: one under /root is not nobody's to run.
        command.args(["/usr/bin/python3", "-c"]);
        command.args([crate::util::SERVER, "127.0.0.1", "81", "http"]);
        command
    };
    let failed = start_as_nobody().output().expect("setpriv runs");
    let error = String::from_utf8_lossy(&failed.stderr);
    assert!(error.contains("[Errno 13] Permission denied"), "nobody binds port 81: {error}");
    let (code, json) = check(&netns, &["127.0.0.1:81", "--timeout", "1s"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    let nothing = cause(&json, "nothing-listening");
    assert!(nothing["evidence"].to_string().contains("ip_unprivileged_port_start (1024)"));
    run_fix_commands(&netns, nothing);
    let mut server = start_as_nobody();
    server.stdout(std::process::Stdio::piped());
    let mut server = ChildGuard::spawn(&mut server);
    let mut ready = std::io::BufReader::new(server.0.stdout.take().expect("piped stdout"));
    assert_eq!(wait_for_line(&mut ready), "ok", "nobody binds port 81 after the printed fix");
    let (code, json) = check(&netns, &["http://127.0.0.1:81/", "--timeout", "1s"]);
    assert_eq!(code, 0, "{json:#}");
    // Above the limit, nothing is said about it.
    let port = unique_port().to_string();
    let (_, json) = check(&netns, &[&format!("127.0.0.1:{port}"), "--timeout", "1s"]);
    assert!(!json.to_string().contains("ip_unprivileged_port_start"), "{json:#}");
}

/// `localhost.` (the fully qualified spelling) was refused as "not a valid
/// host name"; glibc's hosts file source does not match it to `localhost`,
/// so clients fail to resolve it: the dot is named, and a hosts line that
/// lists `localhost.` makes it resolve.
#[test]
fn localhost_with_a_trailing_dot_is_a_name_whose_dot_is_named() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("localhost.:{port}");
    let plain = "127.0.0.1 localhost\n";
    let output = netns.porthole_with_hosts(plain, &["check", &target, "--timeout", "1s", "--json"]);
    let json = output.json();
    assert_eq!(output.code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["localhost-resolution"], "{json:#}");
    let resolution = cause(&json, "localhost-resolution");
    assert!(resolution["summary"].as_str().unwrap().contains("trailing dot"), "{resolution:#}");
    let dotted = "127.0.0.1 localhost localhost.\n";
    let output =
        netns.porthole_with_hosts(dotted, &["check", &target, "--timeout", "1s", "--json"]);
    assert_eq!(output.code, 0, "with `localhost.` in the hosts file: {}", output.stdout);
}

/// A nat rule sends connections for a port that has its own listener to
/// another service, which answers: `check` said "reachable" and showed the
/// port's listener, which never got the connection.
#[test]
fn a_nat_rule_that_passes_by_the_ports_own_listener_is_named_even_when_something_answers() {
    let Some(netns) = Netns::create() else { return };
    let (port, elsewhere) = (unique_port(), unique_port());
    let _servers = [
        server_in(&netns, "127.0.0.1", port, "http"),
        server_in(&netns, "127.0.0.1", elsewhere, "http"),
    ];
    netns.run_ok("nft", &["add", "table", "ip", "divert"]);
    netns.run_ok(
        "nft",
        &["add chain ip divert out { type nat hook output priority -100 ; policy accept ; }"],
    );
    netns.run_ok(
        "nft",
        &[&format!("add rule ip divert out tcp dport {port} redirect to :{elsewhere}")],
    );
    let target = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&target, "--timeout", "1s"]);
    // The port answers (through the other service): a warning, exit 0.
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(cause_ids(&json), ["firewall-redirect"], "{json:#}");
    let redirect = cause(&json, "firewall-redirect");
    assert_eq!(redirect["severity"], "warning", "{redirect:#}");
    let evidence = redirect["evidence"].to_string();
    assert!(
        evidence.contains(&format!("the listener on 127.0.0.1:{port} never gets")),
        "{redirect:#}"
    );
    let json = assert_fix_repairs(&netns, redirect, &target, "");
    assert!(cause_ids(&json).is_empty(), "after the printed fix: {json:#}");
}

/// A bare TCP port whose answers a rule resets after the handshake: the
/// reset was taken for the unknown protocol's own and the port called
/// reachable.
#[test]
fn a_bare_tcp_port_reset_by_a_rule_after_the_handshake_is_not_reachable() {
    let Some(netns) = Netns::create() else { return };
    let (_server, port) = crate::util::http_server_behind_input_rule(
        &netns,
        "ct state established reject with tcp reset",
    );
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "firewall-reject");
    let reject = cause(&json, "firewall-reject");
    assert_eq!(reject["severity"], "error", "{reject:#}");
    let json = assert_fix_repairs(&netns, reject, &target, "");
    assert!(cause_ids(&json).is_empty(), "after the printed fix: {json:#}");
}

/// The server runs, one port above the one the client asks: `check` said
/// only "nothing listens" and `wait` timed out without a word about it. The
/// summary (what `wait` prints) now names the listener next door, the
/// evidence lists it, and the port it names answers.
#[test]
fn a_server_one_port_away_is_named_when_nothing_listens_on_the_port() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port + 1, "http");
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "nothing-listening");
    let nothing = cause(&json, "nothing-listening");
    let summary = format!(
        "nothing listens on port {port}, but python3 (pid {}) listens on port {}",
        server.pid(),
        port + 1
    );
    assert_eq!(nothing["summary"], summary.as_str(), "{nothing:#}");
    let evidence = nothing["evidence"].to_string();
    assert!(
        evidence.contains(&format!("a listener 1 port(s) above {port}: 127.0.0.1:{}", port + 1)),
        "{nothing:#}"
    );
    assert!(nothing["fix"][0]
        .as_str()
        .unwrap()
        .contains(&format!("give the client port {}", port + 1)));
    let text = netns.porthole(&["check", &target, "--timeout", "1s"]);
    assert!(text.stdout.contains(&summary), "{text:?}");
    let waited = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(waited.stderr.contains(&format!("  nothing-listening: {summary}")), "{waited:?}");
    let (code, json) = check(&netns, &[&format!("http://127.0.0.1:{}/", port + 1)]);
    assert_eq!(code, 0, "the port it names answers: {json:#}");
}

/// The server next door listens on another loopback address (127.0.0.2)
/// than the one the client tries: "give the client port N" would still be
/// refused. The listener is named with its address, and that address
/// answers.
#[test]
fn a_server_one_port_away_on_another_address_is_named_with_its_address() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.2", port + 1, "http");
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "nothing-listening");
    let nothing = cause(&json, "nothing-listening");
    let at = format!("127.0.0.2:{}", port + 1);
    let summary = format!(
        "nothing listens on port {port}, but python3 (pid {}) listens on {at}, an address the client did not try (127.0.0.1)",
        server.pid()
    );
    assert_eq!(nothing["summary"], summary.as_str(), "{nothing:#}");
    let fix = nothing["fix"][0].as_str().unwrap();
    assert!(
        fix.contains(&format!("give the client {at}, or start the service on {target}")),
        "{fix}"
    );
    let waited = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert!(waited.stderr.contains(&format!("  nothing-listening: {summary}")), "{waited:?}");
    let (code, json) = check(&netns, &[&format!("http://{at}/")]);
    assert_eq!(code, 0, "the address it names answers: {json:#}");
}

/// nginx whose default server closes requests for unknown host names
/// (`return 444`): `check` blamed an allow-list of addresses or a protocol,
/// `wait` a crashing worker. Both now name the Host the request carried,
/// and asked by the name nginx serves, the same port answers.
#[test]
fn nginx_closing_a_host_it_does_not_serve_names_the_host() {
    if !crate::util::installed("nginx") {
        crate::util::skip("nginx is not installed (scripts/setup.sh installs it)");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let dir = tempfile::tempdir().unwrap();
    let _nginx = crate::check::nginx_in(
        &netns,
        dir.path(),
        &format!(
            "listen 127.0.0.1:{port} default_server;\n    return 444;\n  }}\n  server {{\n    listen 127.0.0.1:{port};\n    server_name app.test;\n    location / {{ return 200 \"app\\n\"; }}"
        ),
    );
    let bare = format!("127.0.0.1:{port}");
    assert!(
        crate::util::eventually(std::time::Duration::from_secs(20), || {
            check(&netns, &[&bare]).0 == 0
        }),
        "nginx did not start"
    );
    let target = format!("http://localhost:{port}/");
    let json = only_failure(&netns, &target, "not-responding");
    let closed = cause(&json, "not-responding");
    let evidence = closed["evidence"].to_string();
    assert!(
        evidence.contains(&format!("the request carried Host: localhost:{port}")),
        "{closed:#}"
    );
    assert!(evidence.contains("return 444"), "{closed:#}");
    assert!(closed["fix"][0].as_str().unwrap().contains("a name it serves"), "{closed:#}");
    let waited = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(
        waited.stderr.contains(&format!(
            "a host name it does not serve (Host: localhost:{port}; nginx closes those with return 444)"
        )),
        "{waited:?}"
    );
    // Asked by the name it serves, through a hosts file that maps it.
    let served = format!("http://app.test:{port}/");
    let hosts = "127.0.0.1 localhost app.test\n";
    let output = netns.porthole_with_hosts(hosts, &["check", &served, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// `tcp_abort_on_overflow = 1` with a full queue: the probe's SYN is still
/// dropped (a timeout, not a reset), and the evidence said clients see a
/// reset instead of a slow retry. It now says what this probe saw.
#[test]
fn abort_on_overflow_with_a_full_queue_does_not_promise_a_reset() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-w", "net.ipv4.tcp_abort_on_overflow=1"]);
    let port = unique_port();
    let _server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 1);
    let _clients = crate::check::fill_queue(&netns, port);
    let target = format!("127.0.0.1:{port}");
    let json = only_failure(&netns, &target, "accept-queue-full");
    assert_eq!(json["attempts"][0]["outcome"], "timeout", "{json:#}");
    let evidence = cause(&json, "accept-queue-full")["evidence"].to_string();
    assert!(evidence.contains("a SYN that finds it full is still dropped"), "{evidence}");
    assert!(!evidence.contains("instead of a slow retry"), "{evidence}");
}
