//! `porthole free`: ports that really bind on both families, outside the
//! ephemeral range, stable names, preferences, and the holder process.

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use crate::util::{eventually, porthole_run, process_alive, python_via, wait_for_line, Netns};

fn ports_of(report: &serde_json::Value) -> Vec<u16> {
    report["ports"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u16).collect()
}

/// Listens on `127.0.0.1:PORT` inside the namespace until dropped.
fn occupy(netns: &Netns, port: u16) -> crate::util::ChildGuard {
    let code = "import socket,sys,time\n\
                s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); s.listen()\n\
                print('ready'); time.sleep(120)";
    let (child, mut out) = python_via(netns.command("python3"), code, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ready");
    child
}

#[test]
fn the_port_binds_on_both_families() {
    let output = porthole_run(&["free", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let port = report["port"].as_u64().unwrap() as u16;
    assert!((10000..=32767).contains(&port), "{report:#}");
    let ephemeral = &report["ephemeral_range"];
    let (low, high) = (ephemeral[0].as_u64().unwrap(), ephemeral[1].as_u64().unwrap());
    assert!(!(low..=high).contains(&u64::from(port)));
    let v4 = TcpListener::bind(("0.0.0.0", port)).expect("IPv4 wildcard bind");
    drop(v4);
    if report["ipv6_checked"] == true {
        let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
            .expect("IPv6 wildcard bind");
        drop(v6);
        TcpListener::bind(("::1", port)).expect("IPv6 loopback bind");
    }
    TcpListener::bind(("127.0.0.1", port)).expect("IPv4 loopback bind");
    // Text mode prints just the number.
    let text = porthole_run(&["free"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.trim().parse::<u16>().is_ok(), "{}", text.stdout);
}

#[test]
fn never_inside_the_ephemeral_range() {
    let Some(netns) = Netns::create() else { return };
    let set = netns
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_local_port_range=20000 40000"])
        .status()
        .unwrap();
    assert!(set.success());
    let report = netns.porthole(&["free", "--count", "200", "--json"]).json();
    assert_eq!(report["ephemeral_range"], serde_json::json!([20000, 40000]));
    for port in ports_of(&report) {
        assert!((10000..20000).contains(&port), "{port} must be below the custom range");
    }
    let report = netns.porthole(&["free", "--range", "15000-45000", "--count", "300", "--json"]);
    for port in ports_of(&report.json()) {
        assert!(!(20000..=40000).contains(&port), "{port} is inside ip_local_port_range");
    }
    // A range entirely inside the ephemeral range has nothing to offer.
    let output = netns.porthole(&["free", "--range", "25000-26000"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("inside ip_local_port_range"), "{}", output.stderr);
    // The ports really bind inside the namespace, on both families.
    let report = netns.porthole(&["free", "--count", "3", "--json"]).json();
    let code = "import socket,sys\n\
                for p in map(int, sys.argv[1:]):\n\
                \x20   for fam, addr in ((socket.AF_INET,'0.0.0.0'),(socket.AF_INET6,'::'),(socket.AF_INET,'127.0.0.1'),(socket.AF_INET6,'::1')):\n\
                \x20       s=socket.socket(fam); s.bind((addr,p)); s.close()\n\
                print('bound')";
    let ports: Vec<String> = ports_of(&report).iter().map(u16::to_string).collect();
    let args: Vec<&str> = ports.iter().map(String::as_str).collect();
    let (_child, mut out) = python_via(netns.command("python3"), code, &args);
    assert_eq!(wait_for_line(&mut out), "bound");
}

#[test]
fn names_are_stable_and_documented() {
    let first = porthole_run(&["free", "--name", "myproject"]);
    let second = porthole_run(&["free", "--name", "myproject"]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.stdout, second.stdout);
    let Some(netns) = Netns::create() else { return };
    // FNV-1a 64 of "myproject" is 0x…, mod 22768 → 14176 → 10000 + 14176.
    let output = netns.porthole(&["free", "--name", "myproject"]);
    assert_eq!(output.stdout.trim(), "24176", "the documented value: {output:?}");
    // Taken → the next port upwards.
    let _busy = occupy(&netns, 24176);
    let output = netns.porthole(&["free", "--name", "myproject"]);
    assert_eq!(output.stdout.trim(), "24177", "{output:?}");
}

#[test]
fn prefer_count_and_exclude() {
    let Some(netns) = Netns::create() else { return };
    let output = netns.porthole(&["free", "--prefer", "21000"]);
    assert_eq!(output.stdout.trim(), "21000", "{output:?}");
    let _busy = occupy(&netns, 21000);
    let output = netns.porthole(&["free", "--prefer", "21000", "--json"]);
    let report = output.json();
    assert_eq!(report["port"], 21001, "nearest, higher first on a tie: {report:#}");
    assert_eq!(report["preferred_free"], false);
    let text = netns.porthole(&["free", "--prefer", "21000"]);
    assert!(text.stderr.contains("21000 is not free"), "{}", text.stderr);

    let report = netns.porthole(&["free", "--count", "5", "--json"]).json();
    let mut ports = ports_of(&report);
    assert_eq!(ports.len(), 5);
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 5, "distinct");

    let output = netns.porthole(&["free", "--range", "21001-21010", "--exclude", "21001-21009"]);
    assert_eq!(output.stdout.trim(), "21010", "{output:?}");
    // 21000 is taken, 21001 was handed out above moments ago.
    let output = netns.porthole(&["free", "--range", "21000-21002", "--count", "3"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("found 1 of 3"), "{}", output.stderr);
    assert!(
        output.stderr.contains("handed out by another porthole free moments ago (1)"),
        "{}",
        output.stderr
    );
}

#[test]
fn ipv6_disabled_is_skipped_and_reported() {
    let Some(netns) = Netns::create() else { return };
    let set = netns
        .command("sysctl")
        .args(["-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.lo.disable_ipv6=1"])
        .status()
        .unwrap();
    assert!(set.success());
    let output = netns.porthole(&["free", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["ipv6_checked"], false);
    assert_eq!(report["checked_addresses"], serde_json::json!(["0.0.0.0", "127.0.0.1"]));
}

#[test]
fn hold_keeps_the_port_until_the_server_binds_it() {
    let output = porthole_run(&["free", "--hold", "60", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let port = report["port"].as_u64().unwrap() as u16;
    let holder = report["holder_pid"].as_u64().unwrap() as u32;
    assert!(process_alive(holder));
    // A bind without SO_REUSEADDR fails while the port is held…
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(bind_without_reuseaddr(address), Err(rustix::io::Errno::ADDRINUSE));
    // …while a server's usual bind (std sets SO_REUSEADDR) succeeds, and the
    // holder then steps aside.
    let server = TcpListener::bind(address).expect("the documented bind path works");
    assert!(
        eventually(Duration::from_secs(10), || !process_alive(holder)),
        "the holder exits once the port is listened on"
    );
    drop(server);
}

#[test]
fn hold_ends_after_its_time() {
    let output = porthole_run(&["free", "--hold", "500ms", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let holder = output.json()["holder_pid"].as_u64().unwrap() as u32;
    assert!(eventually(Duration::from_secs(10), || !process_alive(holder)));
    let text = porthole_run(&["free", "--hold", "200ms"]);
    assert!(text.stderr.contains("holding"), "{}", text.stderr);
    assert!(text.stdout.trim().parse::<u16>().is_ok(), "{}", text.stdout);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["free", "--range", "9-1"][..],
        &["free", "--range", "abc"],
        &["free", "--range", "1000-70000"],
        &["free", "--count", "0"],
        &["free", "--count", "x"],
        // More ports than the range holds can never be found.
        &["free", "--count", "3", "--range", "21000-21001"],
        &["free", "--count", "1000", "--range", "65535-65535"],
        &["free", "--prefer", "70000"],
        &["free", "--prefer", "20", "--range", "30-40"],
        &["free", "--exclude", "1-x"],
        &["free", "--hold", "abc"],
        &["free", "--hold", "0"],
        &["free", "--name", ""],
        &["free", "--name", "a", "--prefer", "3000"],
        // A preferred port the same call excludes can never be returned.
        &["free", "--prefer", "21000", "--exclude", "20000-22000"],
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
    }
}

#[test]
fn a_port_held_only_by_time_wait_is_passed_over_and_said_why() {
    // A server closed with a connection open leaves TIME-WAIT behind: no
    // process, yet a server without SO_REUSEADDR cannot bind the port for
    // up to 60 s. `free` must skip it and say so, not "a TCP socket uses it";
    // when nothing is found the reasons are given.
    let Some(netns) = Netns::create() else { return };
    let code = "import socket\n\
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                s.bind(('127.0.0.1', 12000)); s.listen()\n\
                c = socket.create_connection(('127.0.0.1', 12000)); a, _ = s.accept()\n\
                a.close(); c.close(); s.close(); print('closed', flush=True)";
    let (_child, mut out) = python_via(netns.command("python3"), code, &[]);
    assert_eq!(wait_for_line(&mut out), "closed");
    let output = netns.porthole(&["free", "--prefer", "12000"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stdout.trim(), "12001", "{output:?}");
    assert!(output.stderr.contains("TIME-WAIT connections"), "{}", output.stderr);
    let none = netns.porthole(&["free", "--range", "12000-12000"]);
    assert_eq!(none.code, 1, "{none:?}");
    assert!(
        none.stderr.contains("passed over: held only by TIME-WAIT connections (1)"),
        "{}",
        none.stderr
    );
    let report = netns.porthole(&["free", "--prefer", "12000", "--json"]).json();
    assert_eq!(report["skipped_because"]["held only by TIME-WAIT connections"], 1, "{report:#}");
    assert!(report["preferred_skip"].as_str().unwrap().contains("TIME-WAIT"), "{report:#}");
}

/// Sets `ip_local_port_range` inside `netns` (each namespace has its own).
fn ephemeral_range(netns: &Netns, range: &str) {
    let setting = format!("net.ipv4.ip_local_port_range={range}");
    let status = netns.command("sysctl").args(["-qw", &setting]).status().expect("sysctl runs");
    assert!(status.success(), "{setting}");
}

#[test]
fn advice_for_a_range_covered_by_ip_local_port_range_runs_as_printed() {
    let Some(netns) = Netns::create() else { return };
    // Room above the ephemeral range only: the advice names it.
    ephemeral_range(&netns, "10000 30000");
    let output = netns.porthole(&["free", "--range", "10000-30000"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(output.stderr.contains("ports outside it: --range 30001-65535"), "{output:?}");
    let retry = netns.porthole(&["free", "--range", "30001-65535", "--count", "2"]);
    assert_eq!(retry.code, 0, "{retry:?}");
    for line in retry.stdout.lines() {
        assert!(line.parse::<u16>().unwrap() > 30000, "{retry:?}");
    }
    // Too few found in a range partly covered: where the others are.
    let short = netns.porthole(&["free", "--range", "29990-30010", "--count", "20"]);
    assert_eq!(short.code, 1, "{short:?}");
    assert!(short.stderr.contains("--range 30001-65535"), "{short:?}");

    // No unprivileged port outside the range: no other --range can help,
    // and the sysctl printed restores room.
    ephemeral_range(&netns, "1024 65535");
    let output = netns.porthole(&["free"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("covers every unprivileged port"), "{output:?}");
    assert!(!output.stderr.contains("choose another --range"), "{output:?}");
    let fix = "sysctl -w net.ipv4.ip_local_port_range='32768 60999'";
    assert!(output.stderr.contains(fix), "{output:?}");
    let status = netns.command("sh").args(["-c", fix]).status().expect("sh runs");
    assert!(status.success());
    assert_eq!(netns.porthole(&["free"]).code, 0, "free again after the printed fix");
}

#[test]
fn free_judges_the_namespace_it_runs_in() {
    let Some(netns) = Netns::create() else { return };
    // A private namespace: only this test's listener is there, so a fixed
    // port outside the ephemeral range is safe.
    let port = 23457;
    let _inside = occupy(&netns, port);
    let text = port.to_string();
    let inside = netns.porthole(&["free", "--prefer", &text, "--json"]);
    assert_eq!(inside.code, 0, "{inside:?}");
    assert_ne!(inside.json()["port"], port, "taken in the namespace: {inside:?}");
    assert_eq!(inside.json()["preferred_free"], false, "{inside:?}");
    // One port of the range is taken, one was handed out just above.
    let count =
        netns.porthole(&["free", "--count", "3", "--range", &format!("{port}-{}", port + 4)]);
    assert_eq!(count.code, 0, "{count:?}");
    assert!(!count.stdout.lines().any(|line| line == text), "{count:?}");
}

#[test]
fn netns_searches_and_holds_in_a_named_namespace() {
    let Some(netns) = Netns::create() else { return };
    // A private namespace: only this test's listeners are there, so fixed
    // ports outside the ephemeral range are safe inside it.
    let taken = 23467;
    let _inside = occupy(&netns, taken);
    let text = taken.to_string();
    let output = porthole_run(&["free", "--prefer", &text, "--netns", &netns.name, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_ne!(report["port"], taken, "taken in the named namespace: {report:#}");
    assert_eq!(report["preferred_free"], false, "{report:#}");

    // The holder lives in the named namespace and steps aside when a
    // server there binds the port.
    let path = format!("/run/netns/{}", netns.name);
    // (23468 was handed out just above, nearest to 23467.)
    let held = 23470;
    let output = porthole_run(&[
        "free",
        "--prefer",
        &held.to_string(),
        "--netns",
        &path,
        "--hold",
        "60",
        "--json",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["port"], held, "free in the private namespace: {report:#}");
    let holder = report["holder_pid"].as_u64().unwrap() as u32;
    assert!(process_alive(holder));
    let theirs = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let holders = std::fs::metadata(format!("/proc/{holder}/ns/net"))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    assert_eq!(holders.unwrap(), theirs.unwrap(), "the holder runs in the named namespace");
    let server = crate::util::server_in(&netns, "127.0.0.1", held, "hold");
    assert!(
        eventually(Duration::from_secs(10), || !process_alive(holder)),
        "the holder exits once the port is listened on in its namespace"
    );
    drop(server);

    // Advice about the named namespace's sysctl says how to run it there.
    ephemeral_range(&netns, "1024 65535");
    let output = porthole_run(&["free", "--netns", &netns.name]);
    assert_eq!(output.code, 1, "{output:?}");
    let fix = format!(
        "ip netns exec {} sysctl -w net.ipv4.ip_local_port_range='32768 60999'",
        netns.name
    );
    assert!(output.stderr.contains(&fix), "{output:?}");
    let status = std::process::Command::new("sh").args(["-c", &fix]).status().expect("sh runs");
    assert!(status.success());
    assert_eq!(porthole_run(&["free", "--netns", &netns.name]).code, 0, "free after the fix");
}

#[test]
fn netns_values_that_are_not_one_namespace_are_usage_errors() {
    for bad in ["nosuch", "/etc/passwd", "/proc/self/ns/mnt", "all", ""] {
        let output = porthole_run(&["free", "--netns", bad]);
        crate::util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

#[test]
fn concurrent_holds_never_hand_out_the_same_port() {
    let Some(netns) = Netns::create() else { return };
    // Many callers start at the same preferred port at once, as parallel test
    // runners asking `porthole free --prefer` do. A port found free by two of
    // them may be held by one only: otherwise both services get it.
    let callers = 12;
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(|| {
                    netns.porthole(&[
                        "free", "--prefer", "24000", "--count", "2", "--hold", "60", "--json",
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("caller thread")).collect()
    });
    let mut ports = Vec::new();
    let mut holders = Vec::new();
    for output in &outputs {
        assert_eq!(output.code, 0, "{output:?}");
        let report = output.json();
        ports.extend(ports_of(&report));
        holders.push(report["holder_pid"].as_u64().expect("a holder") as u32);
    }
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let alive = holders.iter().all(|&pid| process_alive(pid));
    for pid in &holders {
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    }
    assert_eq!(distinct.len(), ports.len(), "a port was handed out twice: {ports:?}");
    assert!(alive, "every caller's holder keeps its ports");
}

#[test]
fn a_preferred_port_below_1024_is_tried_and_its_refusal_said() {
    // `--prefer 80` searches 1024-65535 around it; 80 itself must still be
    // tried (root may bind it) and, when it cannot be had, say why.
    let Some(netns) = Netns::create() else { return };
    let output = netns.porthole(&["free", "--prefer", "80", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(ports_of(&report), vec![80], "free for root in an empty namespace: {report:#}");
    assert_eq!(report["preferred_free"], true);

    let _server = occupy(&netns, 80);
    let output = netns.porthole(&["free", "--prefer", "80"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("80 is not free"), "said why: {output:?}");
    assert_eq!(output.stdout.trim(), "1024", "{output:?}");
}

#[test]
fn a_loopback_without_127_0_0_1_does_not_fail_every_port() {
    // An IPv6-only loopback: no server can bind 127.0.0.1 there, so that
    // address is not probed (and not listed as checked) instead of making
    // every test bind fail.
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["addr", "del", "127.0.0.1/8", "dev", "lo"]);
    let output = netns.porthole(&["free", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let checked = report["checked_addresses"].as_array().unwrap();
    assert!(!checked.iter().any(|a| a == "127.0.0.1"), "{report:#}");
    assert!(checked.iter().any(|a| a == "0.0.0.0"), "{report:#}");
    let port = ports_of(&report)[0];
    // The port really binds where a server there would.
    let code = "import socket,sys\n\
                s=socket.socket(socket.AF_INET6); s.bind(('::1',int(sys.argv[1]))); s.listen()\n\
                t=socket.socket(); t.bind(('0.0.0.0',int(sys.argv[1]))); print('ok')";
    let (_child, mut out) = python_via(netns.command("python3"), code, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ok");
}

/// Binds a UDP socket on `address:port` inside the namespace until dropped.
fn occupy_udp(netns: &Netns, address: &str, port: u16) -> crate::util::ChildGuard {
    let code = "import socket,sys,time\n\
                fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n\
                s=socket.socket(fam, socket.SOCK_DGRAM); s.bind((sys.argv[1],int(sys.argv[2])))\n\
                print('ready'); time.sleep(120)";
    let (child, mut out) =
        python_via(netns.command("python3"), code, &[address, &port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ready");
    child
}

#[test]
fn a_port_a_udp_socket_holds_is_not_free_without_asking() {
    // A DNS or QUIC/HTTP/3 dev server binds the port for TCP and UDP; a UDP
    // socket on it (even on one address only) makes that server fail, so
    // the port is not handed out, with or without --udp, and the reason
    // names UDP.
    let Some(netns) = Netns::create() else { return };
    let _wildcard = occupy_udp(&netns, "0.0.0.0", 21500);
    let _one_address = occupy_udp(&netns, "127.0.0.2", 21502);
    for udp in [false, true] {
        let mut args = vec!["free", "--prefer", "21500", "--json"];
        if udp {
            args.push("--udp");
        }
        let output = netns.porthole(&args);
        assert_eq!(output.code, 0, "{output:?}");
        let report = output.json();
        // The first run handed out 21501; the second passes it over.
        let nearest = if udp { 21499 } else { 21501 };
        assert_eq!(report["port"], nearest, "{report:#}");
        assert_eq!(report["preferred_skip"], "a UDP socket uses it", "{report:#}");
        assert_eq!(report["protocols"], serde_json::json!(["tcp", "udp"]), "{report:#}");
    }
    let text = netns.porthole(&["free", "--prefer", "21500"]);
    // 21501 and 21499 were handed out by the two runs above.
    assert_eq!(text.stdout, "21498\n", "{text:?}");
    assert!(text.stderr.contains("21500 is not free (a UDP socket uses it)"), "{text:?}");
    let none = netns.porthole(&["free", "--range", "21502-21502"]);
    assert_eq!(none.code, 1, "{none:?}");
    assert!(none.stdout.is_empty(), "{none:?}");
    assert!(none.stderr.contains("passed over: used by a UDP socket (1)"), "{none:?}");
    // A port handed out really binds for both protocols on every address.
    let report = netns.porthole(&["free", "--range", "21500-21510", "--count", "3", "--json"]);
    let ports: Vec<String> = ports_of(&report.json()).iter().map(u16::to_string).collect();
    assert_eq!(ports.len(), 3, "{report:?}");
    let code = "import socket,sys\n\
                for p in map(int, sys.argv[1:]):\n\
                \x20   for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):\n\
                \x20       for fam, addr in ((socket.AF_INET,'0.0.0.0'),(socket.AF_INET6,'::'),(socket.AF_INET,'127.0.0.2')):\n\
                \x20           s=socket.socket(fam, kind); s.bind((addr,p)); s.close()\n\
                print('bound')";
    let args: Vec<&str> = ports.iter().map(String::as_str).collect();
    let (_child, mut out) = python_via(netns.command("python3"), code, &args);
    assert_eq!(wait_for_line(&mut out), "bound");
}

#[test]
fn hold_keeps_the_udp_port_only_with_udp() {
    let Some(netns) = Netns::create() else { return };
    let udp_bind = "import socket,sys\n\
                    s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                    try:\n\
                    \x20   s.bind(('127.0.0.1',int(sys.argv[1]))); print('bound')\n\
                    except OSError as e:\n\
                    \x20   print('refused')";
    for (udp, held, expected) in
        [(false, vec!["tcp"], "bound"), (true, vec!["tcp", "udp"], "refused")]
    {
        let mut args = vec!["free", "--hold", "60", "--json"];
        if udp {
            args.push("--udp");
        }
        let output = netns.porthole(&args);
        assert_eq!(output.code, 0, "{output:?}");
        let report = output.json();
        let holder = report["holder_pid"].as_u64().unwrap() as u32;
        assert_eq!(report["held_protocols"], serde_json::json!(held), "{report:#}");
        let port = report["port"].as_u64().unwrap().to_string();
        let (_child, mut out) = python_via(netns.command("python3"), udp_bind, &[&port]);
        let line = wait_for_line(&mut out);
        let _ = std::process::Command::new("kill").arg(holder.to_string()).status();
        assert_eq!(line, expected, "UDP bind while held (--udp {udp}): {report:#}");
    }
    let plain = netns.porthole(&["free", "--json"]).json();
    assert_eq!(plain["held_protocols"], serde_json::Value::Null, "{plain:#}");
}

/// `porthole ARGS…` as user nobody inside `netns`.
fn free_as_nobody(netns: &Netns, args: &[&str]) -> crate::util::Output {
    let mut command = netns.command("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(crate::util::binary())
        .args(args);
    crate::util::scrub(&mut command);
    crate::util::run(&mut command)
}

#[test]
fn ports_this_user_may_not_bind_are_named_with_a_range_that_works() {
    // A user without CAP_NET_BIND_SERVICE cannot bind below
    // net.ipv4.ip_unprivileged_port_start: those ports are passed over for
    // that reason (not "a test bind failed"), and the advice is a --range
    // this user can use, as printed.
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_unprivileged_port_start=20000"]);
    let output = free_as_nobody(&netns, &["free", "--range", "10000-12000"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(
        output.stderr.contains("passed over: below ip_unprivileged_port_start (2001)"),
        "{output:?}"
    );
    assert!(!output.stderr.contains("a test bind failed"), "{output:?}");
    let advice = "this user may bind ports from 20000 up (net.ipv4.ip_unprivileged_port_start): \
                  --range 20000-32767";
    assert!(output.stderr.contains(advice), "{output:?}");
    let retry = free_as_nobody(&netns, &["free", "--range", "20000-32767", "--json"]);
    assert_eq!(retry.code, 0, "the advice runs as printed: {retry:?}");
    let report = retry.json();
    assert_eq!(report["unprivileged_port_start"], 20000, "{report:#}");
    assert!(ports_of(&report)[0] >= 20000, "{report:#}");

    // A preferred port below the start: said to be out of this user's
    // reach, not "not free"; the nearest one it may bind follows.
    let output = free_as_nobody(&netns, &["free", "--prefer", "19999"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stdout, "20000\n", "{output:?}");
    assert!(output.stderr.contains("19999 is not for this user (below"), "{output:?}");

    // With the ephemeral range above the start, the advice for ephemeral
    // ports is one this user may bind too (not 1024-…), said once.
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_port_range=20000 60999"]);
    let output = free_as_nobody(&netns, &["free"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert_eq!(output.stderr.matches("--range 61000-65535").count(), 1, "{output:?}");
    assert_eq!(free_as_nobody(&netns, &["free", "--range", "61000-65535"]).code, 0);

    // Root may bind them all: nothing is said about privilege.
    let root = netns.porthole(&["free", "--range", "10000-12000", "--json"]).json();
    assert_eq!(root["unprivileged_port_start"], serde_json::Value::Null, "{root:#}");
    assert!(ports_of(&root)[0] < 20000, "{root:#}");
}

#[test]
fn a_loopback_without_ipv6_1_does_not_fail_every_port() {
    // IPv6 on, but ::1 removed from lo (an IPv4-only loopback): no server
    // can bind ::1 there, so it is not probed (nor listed as checked),
    // instead of every test bind failing and nothing being found.
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["-6", "addr", "del", "::1/128", "dev", "lo"]);
    let output = netns.porthole(&["free", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(
        report["checked_addresses"],
        serde_json::json!(["0.0.0.0", "127.0.0.1", "::"]),
        "{report:#}"
    );
    assert_eq!(report["ipv6_checked"], true, "{report:#}");
    let port = ports_of(&report)[0];
    let code = "import socket,sys\n\
                p=int(sys.argv[1])\n\
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):\n\
                \x20   s=socket.socket(socket.AF_INET6, kind); s.bind(('::',p)); s.close()\n\
                \x20   t=socket.socket(socket.AF_INET, kind); t.bind(('127.0.0.1',p)); t.close()\n\
                print('ok')";
    let (_child, mut out) = python_via(netns.command("python3"), code, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut out), "ok");
    let held = netns.porthole(&["free", "--hold", "1s"]);
    assert_eq!(held.code, 0, "a port is held there too: {held:?}");
}

#[test]
fn a_preferred_port_passed_over_by_a_rule_is_not_called_taken() {
    // Nothing uses these ports: "is not free" would send the user looking
    // for a process that does not exist. The rule that passed them over is
    // named with what it means.
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=21000"]);
    for (port, said) in [
        ("40000", "40000 is not safe to claim (inside ip_local_port_range)"),
        ("21000", "21000 is not safe to claim (in ip_local_reserved_ports)"),
    ] {
        let output = netns.porthole(&["free", "--prefer", port]);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stderr.contains(said), "{output:?}");
        assert!(!output.stderr.contains("is not free"), "{output:?}");
    }
    let _busy = occupy(&netns, 21001);
    let taken = netns.porthole(&["free", "--prefer", "21001"]);
    assert!(taken.stderr.contains("21001 is not free (a TCP socket uses it)"), "{taken:?}");
}

#[test]
fn hold_of_many_ports_is_not_stopped_by_the_soft_descriptor_limit() {
    // `--count 100 --hold` keeps 200 sockets (0.0.0.0 and ::): more than a
    // soft RLIMIT_NOFILE of 128, less than the hard limit, which porthole
    // raises the soft one to. Under a hard limit too low, one line says so.
    let Some(netns) = Netns::create() else { return };
    let binary = crate::util::binary();
    let binary = binary.to_str().expect("utf-8 path");
    let script = format!("ulimit -Sn 128 && exec {binary} free --count 100 --hold 60 --json");
    let mut command = netns.command("sh");
    crate::util::scrub(&mut command);
    let output = crate::util::run(command.args(["-c", &script]));
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(ports_of(&report).len(), 100, "{report:#}");
    let holder = report["holder_pid"].as_u64().unwrap() as u32;
    let alive = process_alive(holder);
    let _ = std::process::Command::new("kill").arg(holder.to_string()).status();
    assert!(alive, "the holder keeps them");

    let script =
        format!("ulimit -Sn 64 && ulimit -Hn 64 && exec {binary} free --count 100 --hold 60");
    let mut command = netns.command("sh");
    crate::util::scrub(&mut command);
    let output = crate::util::run(command.args(["-c", &script]));
    crate::util::assert_usage_error(&output, "hard limit");
    assert!(output.stderr.contains("ulimit -n: 64"), "{output:?}");
    assert!(output.stderr.contains("ask for fewer ports"), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn runs_at_the_same_moment_never_hand_out_the_same_port() {
    let Some(netns) = Netns::create() else { return };
    let netns = std::sync::Arc::new(netns);
    // Eight workers of a test runner, all preferring the same port.
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let netns = netns.clone();
            std::thread::spawn(move || {
                netns.porthole(&["free", "--prefer", "22000", "--count", "5", "--json"])
            })
        })
        .collect();
    let mut ports = Vec::new();
    for worker in workers {
        let output = worker.join().expect("worker");
        assert_eq!(output.code, 0, "{output:?}");
        ports.extend(ports_of(&output.json()));
    }
    assert_eq!(ports.len(), 40);
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 40, "every port handed out once: {ports:?}");
}

#[test]
fn a_port_handed_out_moments_ago_is_passed_over_and_said_why() {
    let Some(netns) = Netns::create() else { return };
    let first = netns.porthole(&["free", "--prefer", "22100"]);
    assert_eq!(first.stdout.trim(), "22100", "{first:?}");
    let second = netns.porthole(&["free", "--prefer", "22100", "--json"]);
    assert_eq!(second.code, 0, "{second:?}");
    let report = second.json();
    assert_eq!(report["port"], 22101, "{report:#}");
    assert_eq!(report["preferred_free"], false, "{report:#}");
    let why = report["preferred_skip"].as_str().expect("a reason");
    assert!(why.contains("another porthole free (pid") && why.contains("handed it out"), "{why}");
    let text = netns.porthole(&["free", "--prefer", "22100"]);
    assert!(text.stderr.contains("22100 was just handed out"), "{text:?}");
    // A name gives its project the same port, run after run.
    let named = netns.porthole(&["free", "--name", "shared-project"]);
    let again = netns.porthole(&["free", "--name", "shared-project"]);
    assert_eq!(named.code, 0, "{named:?}");
    assert_eq!(named.stdout, again.stdout, "{named:?} {again:?}");
    // Another namespace has its own ports.
    let Some(other) = Netns::create() else { return };
    let theirs = other.porthole(&["free", "--prefer", "22100"]);
    assert_eq!(theirs.stdout.trim(), "22100", "{theirs:?}");
}

#[test]
fn hold_works_when_the_binary_was_deleted_or_replaced_after_the_start() {
    // An upgrade or a rebuild while `free --hold` runs: the holder was
    // started from "PATH (deleted)" (no such file, so no holder), or from
    // whatever file had replaced porthole (a holder that held nothing).
    // The holder is the running build, named porthole whatever its file is
    // called.
    if !crate::util::is_root() {
        crate::util::skip("a private /etc/services needs a mount namespace (root)");
        return;
    }
    for mode in ["deleted", "replaced"] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        let link = dir.path().join("porthole-build");
        std::fs::hard_link(crate::util::binary(), &link).expect("link the binary");
        let change = || {
            std::fs::remove_file(&link).expect("delete the link");
            if mode == "replaced" {
                std::fs::write(&link, "#!/bin/sh\nexit 0\n").expect("write the replacement");
                let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
                std::fs::set_permissions(&link, mode).expect("make it executable");
            }
        };
        let output = crate::util::run_after_changing_the_binary(
            &link,
            "/etc/services",
            &[],
            change,
            &["free", "--hold", "60s", "--json"],
        );
        assert_eq!(output.code, 0, "{mode}: {output:?}");
        let report = output.json();
        let port = report["port"].as_u64().unwrap() as u16;
        let holder = report["holder_pid"].as_u64().unwrap() as u32;
        assert!(
            eventually(Duration::from_secs(5), || std::fs::read_to_string(format!(
                "/proc/{holder}/comm"
            ))
            .is_ok_and(|comm| comm == "porthole\n")),
            "{mode}: the holder runs and is named porthole"
        );
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            bind_without_reuseaddr(address),
            Err(rustix::io::Errno::ADDRINUSE),
            "{mode}: the port is held"
        );
        // `kill` knows it as free's reservation.
        let listing = porthole_run(&["kill", &port.to_string(), "--dry-run"]);
        assert!(listing.stdout.contains("porthole free --hold"), "{mode}: {listing:?}");
        let _ = porthole::sys::signal::send(holder, porthole::sys::signal::Signal::KILL);
        assert!(eventually(Duration::from_secs(5), || !process_alive(holder)));
    }
}

/// Binds a fresh IPv4 TCP socket to `address` without `SO_REUSEADDR` (std's
/// `TcpListener::bind` sets it), which a held port refuses.
fn bind_without_reuseaddr(address: SocketAddr) -> Result<(), rustix::io::Errno> {
    let plain = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .expect("a TCP socket");
    rustix::net::bind(&plain, &address)
}

#[test]
fn no_candidate_left_says_what_removed_them_and_both_ways_out_run_as_printed() {
    let Some(netns) = Netns::create() else { return };
    // The whole default range reserved (the sysctl is per namespace).
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=10000-32767"]);
    let output = netns.porthole(&["free"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(
        output.stderr.contains("passed over: in ip_local_reserved_ports 10000-32767 (22768)"),
        "the sysctl and its value: {output:?}"
    );
    // Another range, as printed, finds a port inside it.
    let range = crate::util::printed_after(&output.stderr, "--range ");
    let (low, high) = range.split_once('-').expect("LOW-HIGH");
    let (low, high): (u16, u16) = (low.parse().unwrap(), high.parse().unwrap());
    let report = netns.porthole(&["free", "--json"]).json();
    assert_eq!(report["other_range"], serde_json::json!([low, high]), "{report:#}");
    assert_eq!(report["release_reserved_ports"], "", "{report:#}");
    let retry = netns.porthole(&["free", "--range", range]);
    assert_eq!(retry.code, 0, "{retry:?}");
    let port: u16 = retry.stdout.trim().parse().unwrap();
    assert!((low..=high).contains(&port), "{port} in {range}");
    // The sysctl, as printed, makes the same call succeed.
    let fix = crate::util::printed_after(&output.stderr, "release its reserved ports: ");
    assert!(fix.starts_with("sysctl -w net.ipv4.ip_local_reserved_ports="), "{fix}");
    netns.run_ok("sh", &["-c", fix]);
    let after = netns.porthole(&["free"]);
    assert_eq!(after.code, 0, "free after the printed sysctl: {after:?}");

    // Every reason at once, each counted, the sysctls with their values;
    // the release keeps the reserved ports outside the searched range.
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=20000-20005,25000"]);
    ephemeral_range(&netns, "20010 60999");
    let _busy = occupy(&netns, 20009);
    let args = ["free", "--range", "20000-20010", "--exclude", "20006-20008"];
    let output = netns.porthole(&args);
    assert_eq!(output.code, 1, "{output:?}");
    for reason in [
        "in ip_local_reserved_ports 20000-20005,25000 (6)",
        "excluded (3)",
        "inside ip_local_port_range 20010-60999 (1)",
        "used by a TCP socket (1)",
    ] {
        assert!(output.stderr.contains(reason), "{reason}: {output:?}");
    }
    let range = crate::util::printed_after(&output.stderr, "--range ");
    let retry = netns.porthole(&["free", "--range", range, "--exclude", "20006-20008"]);
    assert_eq!(retry.code, 0, "{range}: {retry:?}");
    let fix = crate::util::printed_after(&output.stderr, "release its reserved ports: ");
    assert_eq!(fix, "sysctl -w net.ipv4.ip_local_reserved_ports=25000", "{output:?}");
    netns.run_ok("sh", &["-c", fix]);
    let after = netns.porthole(&args);
    assert_eq!(after.code, 0, "{after:?}");
    let port: u16 = after.stdout.trim().parse().unwrap();
    assert!((20000..=20005).contains(&port), "{after:?}");

    // Nothing releases a range no reserved port blocks: no sysctl offered.
    let output = netns.porthole(&["free", "--range", "20006-20010", "--exclude", "20006-20008"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(!output.stderr.contains("ip_local_reserved_ports="), "{output:?}");

    // A user who is not root is given the sysctl as that user runs it as
    // root (sudo or su), quoted so that it runs as printed.
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=10000-32767"]);
    let output = free_as_nobody(&netns, &["free"]);
    assert_eq!(output.code, 1, "{output:?}");
    let fix = crate::util::printed_after(&output.stderr, "release its reserved ports: ");
    assert!(fix.starts_with("sudo sysctl -w ") || fix.starts_with("su -c 'sysctl -w "), "{fix}");
    // Root runs su without a password, so the line can be run here.
    netns.run_ok("sh", &["-c", fix]);
    assert_eq!(free_as_nobody(&netns, &["free"]).code, 0, "free after {fix}");
}

#[test]
fn each_port_option_names_the_range_it_accepts() {
    // `free` never hands out port 0, and no listed socket has local port 0
    // (a bind picks one), so the port options refuse it and say 1-65535.
    for (args, message) in [
        (&["free", "--exclude", "0"][..], "--exclude '0': port 0 is out of range (1-65535)"),
        (
            &["free", "--exclude", "70000"],
            "--exclude '70000': port 70000 is out of range (1-65535)",
        ),
        (&["free", "--exclude", "-5"], "write both ends (1-5)"),
        (&["ls", "--port", "0"], "--port '0': port 0 is out of range (1-65535)"),
        (&["ls", "--port", "70000"], "port 70000 is out of range (1-65535)"),
        (&["ls", "--port", "x"], "'x' is not a port number (expected 1-65535)"),
        (&["free", "--range", "0-10"], "port 0 is out of range (1-65535)"),
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(message), "{args:?}: {output:?}");
    }
}

/// Holds ports 21000-21007 inside the namespace in every way that blocks a
/// new server, one way per port, until dropped.
const HOLDERS: &str = r#"
import socket, time
held = []
def tcp6(address, port, v6only):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((address, port)); s.listen(); held.append(s)
# Bound, never listening: invisible to a LISTEN-only listing.
s = socket.socket(); s.bind(("127.0.0.1", 21000)); held.append(s)
tcp6("::", 21001, 1)
tcp6("::", 21002, 0)
tcp6("::1", 21003, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 21004)); held.append(s)
for _ in range(2):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("0.0.0.0", 21005)); s.listen(); held.append(s)
# A client whose local port was chosen by hand, outside the ephemeral range.
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
client = socket.socket(); client.bind(("127.0.0.1", 21006)); client.connect(server.getsockname())
held += [server, client, server.accept()[0]]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 21007)); held.append(s)
print("ready", flush=True)
time.sleep(120)
"#;

#[test]
fn a_port_held_in_any_way_is_never_handed_out() {
    let Some(netns) = Netns::create() else { return };
    let (_holders, mut ready) = python_via(netns.command("python3"), HOLDERS, &[]);
    assert_eq!(wait_for_line(&mut ready), "ready");
    // 21008 is the one port of the range nothing holds; asking for two
    // makes the search try every port.
    let output = netns.porthole(&["free", "--range", "21000-21008", "--count", "2", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let report = output.json();
    assert_eq!(ports_of(&report), vec![21008], "{report:#}");
    assert_eq!(report["skipped"], 8, "{report:#}");
    for port in 21000..=21007 {
        let text = port.to_string();
        let args = ["free", "--prefer", &text, "--range", "21000-21008", "--json"];
        let report = netns.porthole(&args).json();
        assert_eq!(report["preferred_free"], false, "{port} is held: {report:#}");
        assert!(!ports_of(&report).contains(&port), "{report:#}");
    }
}

#[test]
fn a_range_below_1024_asked_by_a_user_who_is_not_root_gets_a_range_it_may_use() {
    let Some(netns) = Netns::create() else { return };
    // The kernel's default ip_unprivileged_port_start, 1024.
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_unprivileged_port_start=1024"]);
    let output = free_as_nobody(&netns, &["free", "--range", "500-1000"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("below ip_unprivileged_port_start (501)"), "{output:?}");
    let range = crate::util::printed_after(&output.stderr, "--range ");
    let retry = free_as_nobody(&netns, &["free", "--range", range]);
    assert_eq!(retry.code, 0, "{range}: {retry:?}");
    assert!(retry.stdout.trim().parse::<u16>().unwrap() >= 1024, "{retry:?}");
}
