//! `porthole ls`: real sockets opened by the test, checked in JSON and table
//! output, through both backends, as root and as an unprivileged user, and
//! against `ss` from iproute2.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixListener;

use serde_json::Value;

use crate::util::{self, porthole_run, python, wait_for_line, Netns};

/// Sockets of `ls --json` output whose local port is `port`.
fn with_port(list: &Value, port: u16) -> Vec<Value> {
    list.as_array()
        .expect("ls --json prints an array")
        .iter()
        .filter(|s| s["local_port"] == port)
        .cloned()
        .collect()
}

fn pids_of(socket: &Value) -> Vec<u64> {
    socket["processes"].as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect()
}

fn current_user() -> String {
    let output = util::run(std::process::Command::new("id").arg("-un"));
    output.stdout.trim().to_string()
}

#[test]
fn lists_tcp_listeners_of_both_families_with_scope_and_owner() {
    let v4_loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    let v4_any = TcpListener::bind("0.0.0.0:0").unwrap();
    let v6_loopback = TcpListener::bind("[::1]:0").unwrap();
    let me = u64::from(std::process::id());
    for backend in ["netlink", "procfs"] {
        let output = util::run(
            util::porthole().args(["ls", "--tcp", "--json"]).env("PORTHOLE_BACKEND", backend),
        );
        assert_eq!(output.code, 0, "{output:?}");
        let list = output.json();
        let cases = [
            (&v4_loopback, "127.0.0.1", "ipv4", "loopback", false),
            (&v4_any, "0.0.0.0", "ipv4", "wildcard", true),
            (&v6_loopback, "::1", "ipv6", "loopback", false),
        ];
        for (listener, address, family, scope, exposed) in cases {
            let port = listener.local_addr().unwrap().port();
            let found = with_port(&list, port);
            assert_eq!(found.len(), 1, "{backend}: port {port} in {list:#}");
            let socket = &found[0];
            assert_eq!(socket["protocol"], "tcp");
            assert_eq!(socket["family"], family);
            assert_eq!(socket["local_address"], address);
            assert_eq!(socket["state"], "LISTEN");
            assert_eq!(socket["scope"], scope);
            assert_eq!(socket["exposed"], exposed);
            assert!(
                util::only_this_process_and_its_children(&pids_of(socket)),
                "{backend}: owner of {port}: {:?}, expected {me}",
                pids_of(socket)
            );
            assert_eq!(socket["processes"][0]["user"], current_user().as_str());
            assert!(socket["inode"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn dual_stack_wildcard_is_reported_only_by_netlink() {
    let (_child, mut ready) = python(
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n\
         s.bind(('::',0)); s.listen(); print(s.getsockname()[1]); time.sleep(60)",
        &[],
    );
    let port: u16 = wait_for_line(&mut ready).parse().unwrap();
    let output = util::run(
        util::porthole().args(["ls", "--tcp", "--json"]).env("PORTHOLE_BACKEND", "netlink"),
    );
    let socket = &with_port(&output.json(), port)[0];
    assert_eq!(socket["scope"], "wildcard");
    assert_eq!(socket["dual_stack"], true);
    let table = porthole_run(&["ls", "--port", &port.to_string()]);
    assert!(table.stdout.contains("wildcard+v4"), "{}", table.stdout);
}

#[test]
fn lists_udp_and_unix_listeners_and_established_pairs_with_all() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("app.sock");
    let _unix = UnixListener::bind(&path).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = server.local_addr().unwrap().port();
    let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (_accepted, _) = server.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();

    let listeners = porthole_run(&["ls", "--json"]).json();
    let udp_found: Vec<Value> =
        with_port(&listeners, udp_port).into_iter().filter(|s| s["protocol"] == "udp").collect();
    assert_eq!(udp_found.len(), 1);
    assert_eq!(udp_found[0]["state"], "UNCONN");
    let unix_found: Vec<&Value> = listeners
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["path"] == path.to_str().unwrap())
        .collect();
    assert_eq!(unix_found.len(), 1, "unix listener in {listeners:#}");
    assert_eq!(unix_found[0]["protocol"], "unix");
    assert_eq!(unix_found[0]["state"], "LISTEN");
    assert_eq!(unix_found[0]["unix_type"], "stream");
    // Listeners only by default: the client end is not listed.
    assert!(with_port(&listeners, client_port).iter().all(|s| s["state"] != "ESTAB"));

    for backend in ["netlink", "procfs"] {
        let all = util::run(
            util::porthole().args(["ls", "-a", "--tcp", "--json"]).env("PORTHOLE_BACKEND", backend),
        )
        .json();
        // Other connections may reuse the client's source port towards other
        // destinations, so match the whole pair.
        let client_end: Vec<Value> = with_port(&all, client_port)
            .into_iter()
            .filter(|s| s["remote_port"] == server_port)
            .collect();
        assert_eq!(client_end.len(), 1, "{backend}");
        assert_eq!(client_end[0]["state"], "ESTAB");
        let server_side = with_port(&all, server_port);
        assert_eq!(server_side.len(), 2, "{backend}: listener + accepted: {server_side:#?}");
    }
}

#[test]
fn a_socket_shared_after_fork_has_both_owners() {
    let (child, mut ready) = python(
        "import os,socket,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
         pid=os.fork()\n\
         if pid==0:\n    time.sleep(60); os._exit(0)\n\
         print(s.getsockname()[1], pid); time.sleep(60)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let mut parts = line.split_whitespace();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let forked: u64 = parts.next().unwrap().parse().unwrap();
    let list = porthole_run(&["ls", "--tcp", "--json", "--port", &port.to_string()]).json();
    let socket = &with_port(&list, port)[0];
    let mut expected = vec![u64::from(child.pid()), forked];
    expected.sort_unstable();
    assert_eq!(pids_of(socket), expected);
    // Reap the forked grandchild too.
    let _ = std::process::Command::new("kill").arg(forked.to_string()).status();
}

#[test]
fn filters_by_port_pid_process_scope_and_state() {
    let loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    let any = TcpListener::bind("0.0.0.0:0").unwrap();
    let (lp, ap) = (loopback.local_addr().unwrap().port(), any.local_addr().unwrap().port());
    let ports = format!("{lp},{ap}");
    let exposed = porthole_run(&["ls", "--port", &ports, "--scope", "exposed", "--json"]).json();
    assert_eq!(exposed.as_array().unwrap().len(), 1);
    assert_eq!(exposed[0]["local_port"], ap);
    let local = porthole_run(&["ls", "--port", &ports, "--scope", "loopback", "--json"]).json();
    assert_eq!(local[0]["local_port"], lp);
    let mine = porthole_run(&["ls", "--pid", &std::process::id().to_string(), "--json"]).json();
    assert!(!with_port(&mine, lp).is_empty());
    let nobody = porthole_run(&["ls", "--port", &ports, "--process", "no-such-process-name"]);
    assert_eq!(nobody.code, 1, "nothing matched: exit 1");
    let v6 = porthole_run(&["ls", "-6", "--port", &ports, "--json"]).json();
    assert!(v6.as_array().unwrap().is_empty());
    let listen = porthole_run(&["ls", "--state", "listen", "--port", &ports, "--json"]).json();
    assert_eq!(listen.as_array().unwrap().len(), 2);
}

#[test]
fn table_output_is_aligned_and_jsonl_has_one_object_per_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let table = porthole_run(&["ls", "--port", &port]);
    assert_eq!(table.code, 0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("PROTO") && lines[0].contains("PID/PROCESS"));
    assert!(lines[1].contains(&format!("127.0.0.1:{port}")) && lines[1].contains("LISTEN"));
    assert_eq!(lines[0].find("STATE"), lines[1].find("LISTEN"), "columns align");
    assert!(!table.stdout.contains('\x1b'), "no colour when piped");
    let jsonl = porthole_run(&["ls", "--port", &port, "--jsonl"]);
    for line in jsonl.stdout.lines() {
        let object: Value = serde_json::from_str(line).unwrap();
        assert_eq!(object["local_port"].to_string(), port);
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["ls", "--port", "abc"][..],
        &["ls", "--port", "9-1"],
        &["ls", "--port", "70000"],
        &["ls", "--state", "sleepy"],
        &["ls", "--pid", "-3"],
        &["ls", "--bogus-flag"],
        &["ls", "--scope", "galaxy"],
        // Unix sockets have no port, family or scope: not an empty table.
        &["ls", "-x", "--port", "22"],
        &["ls", "-x", "-4"],
        &["ls", "-x", "-a", "--scope", "loopback"],
        &["70000"],
        &["localhost:"],
        &["[::1:80"],
        &["::1:80"],
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stdout.is_empty());
        assert!(!output.stderr.contains("panicked"));
    }
}

/// An open range, a reversed one and a number past 65535 each name what is
/// wrong and the forms a port list takes, for every flag that takes one.
#[test]
fn a_bad_port_list_names_the_mistake_and_the_accepted_forms() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["ls", "--port", "5-"],
            "--port '5-': range '5-' lacks its end: write both ends (5-65535)",
        ),
        (&["ls", "--port=-5"], "--port '-5': range '-5' lacks its start: write both ends (1-5)"),
        (
            &["ls", "--port", "5-3"],
            "port range 5-3 is reversed (start is greater than end): write 3-5",
        ),
        (&["ls", "--port", "70000"], "port 70000 is out of range (1-65535)"),
        (&["ls", "--port", "80,9000-"], "range '9000-' lacks its end"),
        (&["audit", "--port", "5-"], "--port '5-': range '5-' lacks its end"),
        (&["audit", "--skip-port", "-5"], "--skip-port '-5': range '-5' lacks its start"),
    ];
    for (args, expected) in cases {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(expected), "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.trim_end().ends_with(
                "accepted: a port (80), a range with both ends (8000-8100), or a comma-separated \
                 list of them (80,443,8000-8100)"
            ),
            "{args:?}: {}",
            output.stderr
        );
        assert!(output.stdout.is_empty());
    }
}

/// An empty item of a comma-separated list (a doubled, leading or trailing
/// comma) is a mistake named by its neighbours, for every flag that takes a
/// list: skipping it answered for fewer ports or statuses than were meant.
#[test]
fn an_empty_item_in_a_list_is_named_not_skipped() {
    let cases: &[(&[&str], &str)] = &[
        (&["ls", "--port", "1,,2"], "--port '1,,2': empty item between '1' and '2' in '1,,2'"),
        (&["ls", "--port", "1,"], "--port '1,': empty item after '1' in '1,'"),
        (&["ls", "--port", ",1"], "--port ',1': empty item before '1' in ',1'"),
        (&["ls", "--port", ","], "--port ',': empty port list"),
        (&["audit", "--port", "80, ,443"], "empty item between '80' and '443'"),
        (&["audit", "--skip-port", "5432,"], "--skip-port '5432,': empty item after '5432'"),
        (&["free", "--exclude", "20000,,20001"], "--exclude '20000,,20001': empty item between"),
        (&["check", "http://127.0.0.1:1/", "--status", "200,"], "empty item after '200'"),
        (
            &["wait", "http://127.0.0.1:1/", "--status", "200,,204", "--timeout", "1s"],
            "empty item between '200' and '204'",
        ),
    ];
    for (args, expected) in cases {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(expected), "{args:?}: {}", output.stderr);
        assert!(output.stdout.is_empty(), "{args:?}: {}", output.stdout);
    }
}

#[test]
fn unprivileged_run_lists_everything_and_says_what_is_hidden() {
    if !util::is_root() {
        crate::util::skip("needs root to drop to nobody");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut command = std::process::Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(util::binary()).args(["ls", "--tcp", "--json"]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 0, "{output:?}");
    let socket = &with_port(&output.json(), port)[0];
    assert_eq!(socket["uid"], 0, "the uid comes from the kernel, not /proc");
    assert!(socket["processes"].as_array().unwrap().is_empty(), "root's process is hidden");
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("no visible owner") && output.stderr.contains("not running as root"),
        "{}",
        output.stderr
    );
}

/// The note about owners shown as `?` counts the rows shown: sockets a
/// filter left out are not counted, and a filter by owner says that the
/// sockets whose owner could not be seen are left out (they may be the
/// ones asked for) rather than answering "none" in silence.
#[test]
fn the_owner_note_speaks_of_the_listed_sockets() {
    if !util::is_root() {
        util::skip("needs root to tell no process from a hidden one, and to drop to nobody");
        return;
    }
    let (_sender, mut out) = python(IN_FLIGHT, &[]);
    let ownerless = wait_for_line(&mut out);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let owned = listener.local_addr().unwrap().port().to_string();
    let ports = format!("{ownerless},{owned}");
    let me = std::process::id().to_string();
    let all = porthole_run(&["ls", "--port", &ports]);
    assert!(all.stderr.contains("1 socket(s) have no visible owner"), "{all:?}");
    for filter in [["--pid", me.as_str()], ["--process", "it-"], ["--scope", "exposed"]] {
        let mut args = vec!["ls", "--port", &ports];
        args.extend(filter);
        let output = porthole_run(&args);
        assert!(output.stderr.is_empty(), "{args:?}: no ? row is shown: {output:?}");
    }
    // Not root: root's listener is hidden, and asking for its process by
    // name must not read as "it has none".
    let mut command = std::process::Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(util::binary()).args(["ls", "--port", &owned, "--pid", &me]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("whose owner could not be seen are not listed"), "{output:?}");
    assert!(output.stderr.contains(&format!("pid {me} may own some")), "{output:?}");
    assert!(output.stderr.contains("not running as root"), "{output:?}");
}

#[test]
#[cfg_attr(
    not(feature = "test-netns"),
    ignore = "creates network namespaces: --features test-netns"
)]
fn netns_all_finds_a_listener_in_a_namespace_the_test_made() {
    let Some(netns) = Netns::create() else { return };
    let mut command = netns.command("python3");
    command.args([
        "-u",
        "-c",
        "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',4321)); s.listen(); print('ready'); time.sleep(60)",
    ]);
    command.stdout(std::process::Stdio::piped());
    let mut child = util::ChildGuard::spawn(&mut command);
    let mut reader = std::io::BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(wait_for_line(&mut reader), "ready");
    let namespace_inode = std::fs::metadata(format!("/run/netns/{}", netns.name))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();

    // Not in our namespace…
    let here = porthole_run(&["ls", "--tcp", "--port", "4321", "--json"]).json();
    assert!(here.as_array().unwrap().iter().all(|s| s["net_namespace"].is_null()));
    let ours: Vec<&Value> =
        here.as_array().unwrap().iter().filter(|s| s["local_address"] == "127.0.0.1").collect();
    assert!(ours.is_empty(), "the namespace's socket leaked into ours: {here:#}");
    // …but found with --netns all, labelled and attributed.
    let everywhere =
        porthole_run(&["ls", "--tcp", "--port", "4321", "--netns", "all", "--json"]).json();
    let found: Vec<&Value> = everywhere
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["net_namespace"] == namespace_inode)
        .collect();
    assert_eq!(found.len(), 1, "{everywhere:#}");
    assert_eq!(pids_of(found[0]), vec![u64::from(child.pid())]);
    // And inside the namespace the default view sees it.
    let inside = netns.porthole(&["ls", "--tcp", "--json"]).json();
    assert_eq!(with_port(&inside, 4321).len(), 1);
}

#[test]
fn a_namespace_whose_last_process_exits_after_it_was_found_is_gone_not_an_error() {
    if !util::is_root() {
        util::skip("unshare -n needs root");
        return;
    }
    // Found through its only process, which exits before the namespace is
    // entered: `kill --netns /proc/PID/ns/net` looking at the port again
    // after PID stopped, or `--netns all` while a container stops.
    let mut command = std::process::Command::new("unshare");
    command.args(["-n", "sleep", "60"]);
    let mut inside = util::ChildGuard::spawn(&mut command);
    let pid = inside.pid();
    let path = format!("/proc/{pid}/ns/net");
    let inode = (0..200)
        .find_map(|_| {
            let inode = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
            let ours = std::fs::metadata("/proc/self/ns/net")
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
            match (inode, ours) {
                (Ok(inode), Ok(ours)) if inode != ours => Some(inode),
                _ => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    None
                }
            }
        })
        .expect("unshare entered a namespace of its own");
    let query = porthole::inventory::Query::default();
    let listed = porthole::inventory::namespaces::list_found_through_process(pid, inode, &query)
        .expect("a live namespace is read");
    assert!(listed.is_some(), "a live namespace is not gone");
    // Dead but not yet reaped, as a server the caller started is while
    // porthole looks again, and then reaped: both leave nothing to read.
    inside.0.kill().unwrap();
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z ") {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let listed = porthole::inventory::namespaces::list_found_through_process(pid, inode, &query);
    assert!(matches!(listed, Ok(None)), "gone (a zombie), not an error: {listed:?}");
    inside.0.wait().unwrap();
    let listed = porthole::inventory::namespaces::list_found_through_process(pid, inode, &query);
    assert!(matches!(listed, Ok(None)), "gone (reaped), not empty /proc tables: {listed:?}");
}

#[test]
fn agrees_with_ss_on_the_sockets_the_test_created() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind("[::1]:0").unwrap();
    let clients: Vec<TcpStream> = (0..3)
        .map(|i| {
            TcpStream::connect(
                if i % 2 == 0 { listener.local_addr() } else { v6.local_addr() }.unwrap(),
            )
            .unwrap()
        })
        .collect();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_ports: Vec<u16> =
        vec![listener.local_addr().unwrap().port(), v6.local_addr().unwrap().port()];
    let bound_ports: Vec<u16> =
        vec![server_ports[0], server_ports[1], udp.local_addr().unwrap().port()];
    let client_ports: Vec<u16> = clients.iter().map(|c| c.local_addr().unwrap().port()).collect();
    // Only the test's own sockets: other tests run concurrently, and their
    // connections may reuse a client port towards another destination.
    let ours = |protocol: &str, local: &str, remote: &str| {
        let port_of = |text: &str| text.rsplit(':').next().unwrap().parse::<u16>().unwrap_or(0);
        let (local, remote) = (port_of(local), port_of(remote));
        let tcp = protocol.starts_with("tcp");
        (!tcp && bound_ports[2] == local)
            || (tcp && server_ports.contains(&local))
            || (tcp && client_ports.contains(&local) && server_ports.contains(&remote))
    };

    // ss: "Netid State Recv-Q Send-Q Local Peer Process"
    let ss = util::run(std::process::Command::new("ss").args(["-tuanpH"]));
    assert_eq!(ss.code, 0, "{ss:?}");
    let mut from_ss: Vec<(String, String, String, String, Vec<u64>)> = Vec::new();
    for line in ss.stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // ss prints process names raw: a name with a newline (another
        // test's hostile process) continues on a line of its own.
        if fields.len() < 6 || !matches!(fields[0], "tcp" | "udp") {
            continue;
        }
        let local = normalize_ss_address(fields[4]);
        if !ours(fields[0], &local, &normalize_ss_address(fields[5])) {
            continue;
        }
        let pids = ss_pids(line);
        from_ss.push((
            fields[0].to_string(),
            local,
            normalize_ss_address(fields[5]),
            fields[1].to_string(),
            pids,
        ));
    }
    let list = porthole_run(&["ls", "-a", "--tcp", "--udp", "--json"]).json();
    let mut from_porthole = Vec::new();
    for socket in list.as_array().unwrap() {
        let address = |ip: &Value, port: &Value| {
            let ip = ip.as_str().unwrap();
            let ip = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
            let port = port.as_u64().unwrap();
            if port == 0 {
                format!("{ip}:*")
            } else {
                format!("{ip}:{port}")
            }
        };
        let local = address(&socket["local_address"], &socket["local_port"]);
        let remote = address(&socket["remote_address"], &socket["remote_port"]);
        if !ours(socket["protocol"].as_str().unwrap(), &local, &remote) {
            continue;
        }
        from_porthole.push((
            socket["protocol"].as_str().unwrap().to_string(),
            local,
            remote,
            socket["state"].as_str().unwrap().to_string(),
            pids_of(socket),
        ));
    }
    from_ss.sort();
    from_porthole.sort();
    assert_eq!(from_porthole, from_ss);
    assert!(from_ss.len() >= 9, "listeners, both ends of 3 connections, udp: {from_ss:#?}");
}

/// The pids of an `ss -p` line (`users:(("name",pid=N,fd=F),…)`).
fn ss_pids(line: &str) -> Vec<u64> {
    line.split("pid=")
        .skip(1)
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// `ss` prints `*` for wildcard addresses and unconnected peers and drops
/// brackets' zone info; bring both sides to `[v6]:port` / `v4:port`.
fn normalize_ss_address(text: &str) -> String {
    let (address, port) = text.rsplit_once(':').unwrap();
    let address = match address {
        "*" | "0.0.0.0" => "0.0.0.0".to_string(),
        "[::]" => "[::]".to_string(),
        other => other.split('%').next().unwrap().to_string(),
    };
    format!("{address}:{port}")
}

#[test]
fn a_bound_socket_is_listed_for_a_port_list_as_for_one_port() {
    // bind() without listen(): the kernel dumps such sockets only when
    // asked; `ls -a --port` must ask for a list or range as for one port.
    let code = "import socket\n\
                s = socket.socket(); s.bind(('127.0.0.1', 0))\n\
                print(s.getsockname()[1], flush=True)\n\
                import time; time.sleep(120)";
    let (bound, mut out) = python(code, &[]);
    let port: u16 = wait_for_line(&mut out).parse().unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let (low, high) = (port.min(other_port), port.max(other_port));
    for ports in [port.to_string(), format!("{port},{other_port}"), format!("{low}-{high}")] {
        let list = porthole_run(&["ls", "-a", "-t", "--port", &ports, "--json"]).json();
        let found = with_port(&list, port);
        assert_eq!(found.len(), 1, "--port {ports}: {list:#}");
        assert_eq!(found[0]["state"], "UNCONN", "--port {ports}: {list:#}");
        assert_eq!(pids_of(&found[0]), vec![u64::from(bound.pid())], "--port {ports}");
    }
}

#[test]
fn json_keeps_every_argument_exactly_while_text_escapes_them() {
    // Arguments with spaces, an empty one and control characters: the
    // joined `cmdline` cannot tell `"a b"` from `a b`, `argv` can. Text
    // output shows the escapes, never the raw bytes.
    let code = "import socket\n\
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                print(s.getsockname()[1], flush=True)\n\
                import time; time.sleep(120)";
    let hostile = "\x1b[2J\u{202e}evil\nline";
    let (child, mut out) = python(code, &["two words", "", hostile]);
    let port: u16 = wait_for_line(&mut out).parse().unwrap();
    let list = porthole_run(&["ls", "--port", &port.to_string(), "--json"]).json();
    let found = with_port(&list, port);
    assert_eq!(found.len(), 1, "{list:#}");
    let process = &found[0]["processes"][0];
    assert_eq!(process["pid"], child.pid());
    let argv: Vec<&str> =
        process["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&argv[argv.len() - 3..], ["two words", "", hostile], "{process:#}");
    let plan = porthole_run(&["kill", &port.to_string(), "--dry-run", "--json"]).json();
    let target_argv = plan["targets"][0]["argv"].as_array().unwrap();
    assert_eq!(target_argv.last().unwrap(), hostile, "{plan:#}");
    for args in [vec!["ls", "-l", "--port"], vec!["kill", "--dry-run"]] {
        let mut args = args.clone();
        let port_text = port.to_string();
        args.push(&port_text);
        let text = porthole_run(&args);
        assert!(!text.stdout.contains('\x1b'), "{args:?}: {:?}", text.stdout);
        assert!(!text.stdout.contains('\u{202e}'), "{args:?}: {:?}", text.stdout);
        assert!(text.stdout.contains("\\x1b[2J\\u202eevil"), "{args:?}: {}", text.stdout);
    }
}

/// A listener opened by a thread that unshared its descriptor table
/// (`unshare(CLONE_FILES)`): the socket is in `/proc/PID/task/TID/fd` only.
const THREAD_OWN_TABLE: &str = r#"
import ctypes, os, socket, threading, time
libc = ctypes.CDLL(None, use_errno=True)
def worker():
    assert libc.unshare(0x400) == 0, ctypes.get_errno()  # CLONE_FILES
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    print(s.getsockname()[1], os.getpid(), threading.get_native_id(), flush=True)
    time.sleep(120)
threading.Thread(target=worker, daemon=True).start()
time.sleep(120)
"#;

#[test]
fn a_listener_in_a_thread_with_its_own_descriptor_table_belongs_to_its_process() {
    let (server, mut out) = crate::util::python(THREAD_OWN_TABLE, &[]);
    let line = crate::util::wait_for_line(&mut out);
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (port, tid) = (fields[0], fields[2]);
    assert_ne!(tid, server.pid().to_string(), "the socket belongs to a non-leader thread");
    let output = porthole_run(&["ls", "--port", port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    assert_eq!(listing[0]["processes"][0]["pid"], server.pid(), "{listing:#}");
    assert!(!output.stderr.contains("no visible owner"), "{output:?}");
    let plan = porthole_run(&["kill", port, "--dry-run", "--json"]).json();
    assert_eq!(plan["targets"][0]["pid"], server.pid(), "{plan:#}");
    assert_eq!(plan["hidden_owners"], 0, "{plan:#}");
}

/// As [`THREAD_OWN_TABLE`], but the thread then forks: the child holds the
/// listener in its own `/proc/PID/fd` too, so the socket is not ownerless
/// and the thread's process is still one of its owners. Prints `PORT CHILD`.
const THREAD_OWN_TABLE_FORKED: &str = r#"
import ctypes, os, socket, threading, time
libc = ctypes.CDLL(None, use_errno=True)
def worker():
    assert libc.unshare(0x400) == 0, ctypes.get_errno()  # CLONE_FILES
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    print(s.getsockname()[1], child, flush=True)
    os.waitpid(child, 0)
threading.Thread(target=worker, daemon=True).start()
time.sleep(120)
"#;

#[test]
fn a_listener_in_a_thread_table_and_in_a_child_has_both_owners() {
    if !util::is_root() {
        util::skip("reading another process's thread tables needs root");
        return;
    }
    let (server, mut out) = python(THREAD_OWN_TABLE_FORKED, &[]);
    let line = wait_for_line(&mut out);
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (port, child) = (fields[0], fields[1].parse::<u32>().unwrap());
    let output = porthole_run(&["ls", "--port", port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    let expected = vec![u64::from(server.pid()), u64::from(child)];
    assert_eq!(pids_of(&listing[0]), expected, "{listing:#}");
    let plan = porthole_run(&["kill", port, "--dry-run", "--json"]).json();
    let targets: Vec<u64> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| target["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(targets, expected, "{plan:#}");
    let kill = porthole_run(&["kill", port, "--yes"]);
    assert_eq!(kill.code, 0, "{kill:?}");
    assert!(kill.stdout.contains(&format!("Port {port} is free")), "{kill:?}");
}

/// A listener whose only descriptor is in flight: sent with `SCM_RIGHTS`
/// over a Unix socket pair, closed by the sender, never received. No
/// process holds it; the kernel does.
pub(crate) const IN_FLIGHT: &str = r#"
import array, socket, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
port = l.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [l.fileno()]))])
l.close()
print(port, flush=True)
time.sleep(120)
"#;

#[test]
fn a_listener_no_process_holds_is_named_so_and_kill_signals_nothing() {
    if !util::is_root() {
        util::skip("only root can tell that no process holds a socket");
        return;
    }
    let (sender, mut out) = python(IN_FLIGHT, &[]);
    let port = wait_for_line(&mut out);
    let output = porthole_run(&["ls", "--port", &port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let listing = output.json();
    assert_eq!(listing[0]["processes"], serde_json::json!([]), "{listing:#}");
    let reasons = util::kernel_only_reasons();
    assert_eq!(listing[0]["hidden_owner_reasons"], reasons);
    let lines = porthole_run(&["ls", "--port", &port, "--jsonl"]);
    let line: Value = serde_json::from_str(lines.stdout.trim()).expect("one JSON line");
    assert_eq!(line["hidden_owner_reasons"], reasons, "{lines:?}");
    let who = porthole_run(&[&port]);
    assert!(who.stdout.contains("no process holds it"), "{who:?}");

    let kill = porthole_run(&["kill", &port, "--yes"]);
    assert_eq!(kill.code, 2, "{kill:?}");
    if reasons == serde_json::json!(["no_process"]) {
        assert!(kill.stdout.contains("no owner:"), "{kill:?}");
        assert!(kill.stdout.contains("no process to signal"), "{kill:?}");
        assert!(kill.stderr.contains("none can be signalled"), "{kill:?}");
    } else {
        // A process root was refused may hold it: not "no owner".
        assert!(kill.stdout.contains("even as root, porthole was refused"), "{kill:?}");
        assert!(kill.stderr.contains("nothing was stopped"), "{kill:?}");
    }
    let record = porthole_run(&["kill", &port, "--dry-run", "--json"]).json();
    assert_eq!(record["hidden_owner_reasons"], reasons, "{record:#}");
    assert!(util::process_alive(sender.pid()), "the sender was not signalled");
}

/// Listeners a process keeps open with no descriptor: one only mapped into
/// its memory (`mmap` of the socket, then `close`), one only registered
/// with an io_uring ring (`IORING_REGISTER_FILES`, then `close`). Prints
/// `PORT PORT` (mapped, registered), or `PORT -` when io_uring is off.
const HELD_WITHOUT_DESCRIPTOR: &str = r#"
import ctypes, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
def listener():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    return s
mapped = listener()
address = libc.mmap(None, 4096, 1, 1, mapped.fileno(), 0)  # PROT_READ, MAP_SHARED
assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
ports = [str(mapped.getsockname()[1])]
mapped.close()
params = ctypes.create_string_buffer(120)
ring = libc.syscall(425, 4, params)  # io_uring_setup
if ring < 0:
    ports.append("-")
else:
    registered = listener()
    files = (ctypes.c_int * 1)(registered.fileno())
    assert libc.syscall(427, ring, 2, files, 1) == 0, ctypes.get_errno()  # IORING_REGISTER_FILES
    ports.append(str(registered.getsockname()[1]))
    registered.close()
print(*ports, flush=True)
time.sleep(120)
"#;

#[test]
fn a_listener_held_only_by_a_mapping_or_an_io_uring_ring_belongs_to_its_process() {
    if !util::is_root() {
        util::skip("only root reads other processes' mappings and rings");
        return;
    }
    let (holder, mut out) = python(HELD_WITHOUT_DESCRIPTOR, &[]);
    let line = wait_for_line(&mut out);
    let ports: Vec<&str> = line.split_whitespace().collect();
    let mut held = vec![ports[0]];
    match ports[1] {
        "-" => util::skip("io_uring is disabled here (kernel.io_uring_disabled)"),
        port => held.push(port),
    }
    for port in &held {
        let fd_links = std::fs::read_dir(format!("/proc/{}/fd", holder.pid()))
            .unwrap()
            .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
            .filter(|link| link.to_string_lossy().starts_with("socket:"))
            .count();
        assert_eq!(fd_links, 0, "the holder has no socket descriptor at all");
        let output = porthole_run(&["ls", "--port", port, "--json"]);
        assert_eq!(output.code, 0, "{output:?}");
        let listing = output.json();
        assert_eq!(pids_of(&listing[0]), vec![u64::from(holder.pid())], "{port}: {listing:#}");
        assert!(!output.stderr.contains("no visible owner"), "{port}: {output:?}");
        let who = porthole_run(&[port]);
        assert!(who.stdout.contains(&format!("(pid {}, user", holder.pid())), "{who:?}");
        let plan = porthole_run(&["kill", port, "--dry-run", "--json"]).json();
        assert_eq!(plan["targets"][0]["pid"], holder.pid(), "{port}: {plan:#}");
        assert_eq!(plan["hidden_owners"], 0, "{port}: {plan:#}");
    }
    let mut args = vec!["kill", "--yes"];
    args.extend(&held);
    let kill = porthole_run(&args);
    assert_eq!(kill.code, 0, "{kill:?}");
    assert!(!util::process_alive(holder.pid()), "{kill:?}");
    for port in &held {
        assert_eq!(porthole_run(&["ls", "--port", port]).code, 1, "{port} is free");
    }
}

/// Users (no account has them) that only the two tests below run
/// processes as, so that no other test's process is counted among theirs.
const LONE_UID_HIDEPID: u32 = 64970;
const LONE_UID_NOT_DUMPABLE: u32 = 64971;

#[test]
fn hidden_owners_say_why_in_json_too() {
    if !util::is_root() {
        util::skip("mounting a procfs with hidepid needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    // A fresh procfs with hidepid=2 in a private mount namespace, read by
    // a user no other test runs processes as (other tests' `nobody`
    // processes, not dumpable after setpriv, would add a reason of their
    // own): root's processes are not even listed there.
    let run_unprivileged = |args: &[&str]| {
        let mut command = std::process::Command::new("unshare");
        command.args([
            "-m",
            "sh",
            "-c",
            &format!(
                "mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid={LONE_UID_HIDEPID} \
                 --regid={LONE_UID_HIDEPID} --clear-groups \"$0\" \"$@\""
            ),
        ]);
        command.arg(util::binary()).args(args);
        util::scrub(&mut command);
        util::run(&mut command)
    };
    let output = run_unprivileged(&["ls", "-t", "--port", &port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let reasons = &output.json()[0]["hidden_owner_reasons"];
    assert_eq!(*reasons, serde_json::json!(["not_root", "hidepid"]), "{output:?}");
    assert!(output.stderr.contains("hidepid="), "{output:?}");
    let plan = run_unprivileged(&["kill", &port, "--dry-run", "--json"]);
    assert_eq!(plan.json()["hidden_owner_reasons"], serde_json::json!(["not_root", "hidepid"]));
    // Owners that are seen carry no reason.
    let seen = porthole_run(&["ls", "-t", "--port", &port, "--json"]).json();
    assert_eq!(seen[0]["hidden_owner_reasons"], Value::Null, "{seen:#}");
}

#[test]
fn jsonl_records_name_their_namespace_as_json_does() {
    let Some(netns) = Netns::create() else { return };
    let port = util::unique_port();
    let _server = util::server_in(&netns, "127.0.0.1", port, "hold");
    let output = porthole_run(&["ls", "--netns", "all", "--port", &port.to_string(), "--jsonl"]);
    assert_eq!(output.code, 0, "{output:?}");
    let record: Value = serde_json::from_str(output.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        record["net_namespace_hint"],
        format!("netns {}", netns.name).as_str(),
        "{output:?}"
    );
}

/// Forks short-lived listeners in batches for argv[1] seconds; prints
/// `ready` once the first batch ran.
const CHURN: &str = r#"
import os, socket, sys, time
end = time.time() + float(sys.argv[1])
first = True
while time.time() < end:
    children = []
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
            time.sleep(0.01)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    if first:
        print("ready", flush=True)
        first = False
"#;

#[test]
fn listeners_closed_during_the_scan_are_not_shown_as_ownerless() {
    let Some(netns) = Netns::create() else { return };
    // Processes exit while porthole reads /proc: their listeners were in the
    // socket dump but are gone by the time their owners are looked for.
    // Every listener in the namespace belongs to a live process when it is
    // listed, so none may be shown without an owner.
    let (_churn, mut out) = crate::util::python_via(netns.command("python3"), CHURN, &["20"]);
    assert_eq!(wait_for_line(&mut out), "ready");
    for _ in 0..40 {
        let output = netns.porthole(&["ls", "--json"]);
        assert!(output.code <= 1, "{output:?}");
        assert!(!output.stderr.contains("no visible owner"), "ghost listeners: {output:?}");
        if output.code == 0 {
            for socket in output.json().as_array().expect("an array") {
                let processes = socket["processes"].as_array().expect("processes");
                assert!(!processes.is_empty(), "a listener without an owner: {socket:#}");
            }
        }
    }
}

#[test]
fn all_lists_a_tcp_socket_bound_without_listen() {
    // A port reservation (`free --hold`, a server between bind() and
    // listen()) holds its port; `-a` is every socket, so it is listed with
    // or without a port filter (the kernel dumps it from Linux 6.9 on).
    let Some(netns) = Netns::create() else { return };
    let (_child, mut ready) = util::python_via(
        netns.command("python3"),
        "import socket,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1]); time.sleep(60)",
        &[],
    );
    let port: u16 = wait_for_line(&mut ready).parse().unwrap();
    let with_filter = netns.porthole(&["ls", "-a", "-t", "--port", &port.to_string(), "--json"]);
    let listed = with_port(&with_filter.json(), port);
    if listed.is_empty() {
        util::skip("this kernel does not report bound TCP sockets (Linux 6.9+)");
        return;
    }
    assert_eq!(listed[0]["state"], "UNCONN", "{listed:?}");
    for args in [&["ls", "-a", "--json"][..], &["ls", "-t", "--state", "UNCONN", "--json"]] {
        let output = netns.porthole(args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        assert_eq!(with_port(&output.json(), port), listed, "{args:?}");
    }
}

/// A listener whose process renamed itself to bytes that are not UTF-8
/// (`prctl(PR_SET_NAME)`). Prints its port.
const RAW_NAME: &str = r#"
import ctypes, socket, time
ctypes.CDLL(None).prctl(15, b"ev\xffname", 0, 0, 0)  # PR_SET_NAME
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
"#;

#[test]
fn process_names_that_are_not_utf8_are_matched_by_their_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let (server, mut out) = python(RAW_NAME, &[]);
    let port = wait_for_line(&mut out);
    let raw = |bytes: &[u8]| std::ffi::OsStr::from_bytes(bytes).to_os_string();
    let list = |name: &[u8]| {
        let mut command = util::porthole();
        command.args(["ls", "-t", "--port", &port, "--json", "--process"]).arg(raw(name));
        util::run(&mut command)
    };
    for name in [&b"ev\xff"[..], b"\xffna"] {
        let output = list(name);
        assert_eq!(output.code, 0, "{name:?}: {output:?}");
        assert_eq!(pids_of(&output.json()[0]), vec![u64::from(server.pid())], "{output:?}");
    }
    // Other bytes in that place are another name.
    let other = list(b"ev\xfe");
    assert_eq!(other.code, 1, "{other:?}");
    assert_eq!(other.stdout.trim(), "[]", "{other:?}");
}

/// On a terminal narrower than the row, the process column is cut with `…`,
/// but never inside an escape of the process's name (`\x1…` would show a
/// different byte) and never before its pid (`2…` would hide which process
/// it is). Run under `script` so stdout is a terminal of COLUMNS columns.
#[test]
fn a_narrow_terminal_cuts_the_process_column_after_its_pid_and_between_escapes() {
    if !util::installed("script") {
        return util::skip("script (util-linux) is not installed");
    }
    let code = "import ctypes, socket, time\n\
                ctypes.CDLL(None).prctl(15, b'\\x1b[2J\\xe2\\x80\\xaeev\\x1b\\x07il', 0, 0, 0)\n\
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                print(s.getsockname()[1], flush=True)\n\
                time.sleep(120)";
    let (child, mut out) = python(code, &[]);
    let port = wait_for_line(&mut out);
    let pid = format!("{}/", child.pid());
    // The name as shown, piece by piece: a cut may fall between pieces only.
    let pieces = ["\\x1b", "[", "2", "J", "\\u202e", "e", "v", "\\x1b", "\\x07", "i", "l"];
    let allowed: Vec<String> =
        (0..=pieces.len()).map(|n| pid.clone() + &pieces[..n].concat()).collect();
    let full = allowed.last().unwrap().clone();
    let mut cuts = Vec::new();
    // From narrower than the columns before it to wider than the whole row.
    for columns in 30..110 {
        let line = format!("{} ls -t --port {port}", util::binary().display());
        let mut command = std::process::Command::new("script");
        command.args(["-qec", &line, "/dev/null"]);
        util::scrub(&mut command);
        command.env("COLUMNS", columns.to_string());
        let output = util::run(&mut command);
        assert_eq!(output.code, 0, "{output:?}");
        let row = output.stdout.lines().nth(1).expect("a row").trim_end().to_string();
        assert!(!row.contains('\x1b'), "raw escape at {columns} columns: {row:?}");
        let owner = row.rsplit("  ").next().unwrap().to_string();
        if owner == full {
            continue;
        }
        let kept = owner.strip_suffix('…').unwrap_or_else(|| panic!("cut or whole: {owner:?}"));
        assert!(
            allowed.iter().any(|a| a == kept),
            "{columns} columns: {owner:?} cuts the pid or an escape"
        );
        cuts.push(owner);
    }
    assert!(cuts.contains(&format!("{pid}…")), "{cuts:?}");
    assert!(cuts.contains(&format!("{pid}\\x1b[2J\\u202e…")), "{cuts:?}");
}

/// `--no-owners` looks for no owner and shows none as `?`: stderr has no
/// note about sockets without a visible owner (it used to count every
/// listed socket, with no reason after the colon).
#[test]
fn no_owners_says_nothing_about_owners_it_did_not_look_for() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for format in [None, Some("--json")] {
        let mut args = vec!["ls", "--no-owners", "--port", &port];
        args.extend(format);
        let output = porthole_run(&args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        assert!(output.stdout.contains(&port), "{args:?}: {output:?}");
        assert_eq!(output.stderr, "", "{args:?}");
    }
}

/// The kernel keeps 15 bytes of a process name: `--process` with the whole
/// name (as `systemd-resolved`, shown as `systemd-resolve`) finds the
/// process; it used to match nothing and exit 1.
#[test]
fn process_names_longer_than_the_kernel_keeps_are_found_by_the_whole_name() {
    let code = "import ctypes, socket, time\n\
                ctypes.CDLL(None).prctl(15, b'porthole-test-long-worker', 0, 0, 0)\n\
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                print(s.getsockname()[1], flush=True)\n\
                time.sleep(120)";
    let (child, mut out) = python(code, &[]);
    let port = wait_for_line(&mut out);
    for name in ["porthole-test-lo", "porthole-test-long-worker", "porthole-test-l"] {
        let list = porthole_run(&["ls", "-t", "--port", &port, "--process", name, "--json"]).json();
        let found = with_port(&list, port.parse().unwrap());
        assert_eq!(found.len(), 1, "--process {name}: {list:#}");
        assert_eq!(pids_of(&found[0]), [u64::from(child.pid())], "--process {name}");
    }
    // The name's 15 bytes are known: a name that differs within them is not it.
    let other =
        porthole_run(&["ls", "-t", "--port", &port, "--process", "porthole-test-short-worker"]);
    assert_eq!(other.code, 1, "{other:?}");
}

#[test]
fn family_flags_count_ipv6_sockets_by_the_clients_they_serve() {
    // `-4` lists the AF_INET6 listeners IPv4 clients reach (one on
    // ::ffff:127.0.0.1, a dual-stack ::) and `-6` leaves out the v4-mapped
    // one, as `kill -4`/`-6` select them; before, `-4` listed neither.
    let (_server, mut ready) = crate::util::python(
        "import socket,time\n\
         m=socket.socket(socket.AF_INET6); m.bind(('::ffff:127.0.0.1',0)); m.listen()\n\
         d=socket.socket(socket.AF_INET6); d.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n\
         d.bind(('::',0)); d.listen()\n\
         o=socket.socket(socket.AF_INET6); o.bind(('::1',0)); o.listen()\n\
         print(m.getsockname()[1], d.getsockname()[1], o.getsockname()[1]); time.sleep(60)",
        &[],
    );
    let line = crate::util::wait_for_line(&mut ready);
    let ports: Vec<u64> = line.split(' ').map(|p| p.parse().unwrap()).collect();
    let list = ports.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let listed = |flag: &str| -> Vec<u64> {
        let output = crate::util::porthole_run(&["ls", flag, "--port", &list, "--json"]);
        assert_eq!(output.code, 0, "{output:?}");
        let mut ports: Vec<u64> = output
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|socket| socket["local_port"].as_u64().unwrap())
            .collect();
        ports.sort_unstable();
        let text = crate::util::porthole_run(&["ls", flag, "--port", &list]);
        let rows = text.stdout.lines().skip(1).count();
        assert_eq!(rows, ports.len(), "text and --json agree: {}", text.stdout);
        ports
    };
    let (mapped, dual, only6) = (ports[0], ports[1], ports[2]);
    let sorted = |mut v: Vec<u64>| {
        v.sort_unstable();
        v
    };
    assert_eq!(listed("-4"), sorted(vec![mapped, dual]));
    assert_eq!(listed("-6"), sorted(vec![dual, only6]));
}

#[test]
fn pid_of_a_thread_lists_its_process_and_a_missing_pid_is_said() {
    // Thread ids (`top -H`, `ps -L`) name no socket owner of their own:
    // `--pid TID` listed nothing, silently, as did a pid that does not exist.
    let (server, mut ready) = python(
        "import socket,threading,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
         t=threading.Thread(target=lambda: time.sleep(60), daemon=True); t.start()\n\
         print(s.getsockname()[1], t.native_id); time.sleep(60)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let (port, thread) = line.split_once(' ').expect("port and thread id");
    let output = porthole_run(&["ls", "--pid", thread, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let ports: Vec<u64> = output
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, vec![port.parse::<u64>().unwrap()], "{output:?}");
    assert!(
        output.stderr.contains(&format!("pid {thread} is a thread of process {}", server.pid())),
        "{}",
        output.stderr
    );

    let mut gone = std::process::Command::new("true").spawn().expect("true runs");
    let pid = gone.id().to_string();
    gone.wait().expect("reaped");
    let output = porthole_run(&["ls", "--pid", &pid]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains(&format!("no process has pid {pid}")), "{}", output.stderr);
}

/// `ls --port :PORT` (lsof's form) and `--port PORT/udp` (fuser's) read as
/// `porthole PORT` and `kill` read them: the transport selects as -t/-u do.
#[test]
fn a_port_list_written_as_lsof_or_fuser_write_it_is_taken() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let _udp = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let protocols = |list: &str| {
        let output = crate::util::porthole_run(&["ls", "--port", list, "--json"]);
        assert_eq!(output.code, 0, "{list}: {output:?}");
        let mut seen: Vec<String> = output
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|socket| socket["protocol"].as_str().unwrap().to_string())
            .collect();
        seen.sort();
        seen
    };
    assert_eq!(protocols(&format!(":{port}")), ["tcp", "udp"]);
    assert_eq!(protocols(&format!("*:{port}/udp")), ["udp"]);
    assert_eq!(protocols(&format!("{port}/tcp")), ["tcp"]);
    let both = crate::util::porthole_run(&["ls", "-u", "--port", &format!("{port}/tcp")]);
    assert_eq!(both.code, 2, "{both:?}");
    assert_eq!(
        both.stderr,
        format!(
            "porthole: --port '{port}/tcp': /tcp after the port and --udp ask for both; give one\n"
        )
    );
}

/// Not root, and the listener's owner is a process of porthole's own user
/// that is not dumpable (`prctl(PR_SET_DUMPABLE, 0)`, as setuid programs
/// are): its fd table is refused too. The note says so, with its pid,
/// instead of putting every refusal down to other users.
#[test]
fn an_owner_of_the_same_user_that_is_not_dumpable_is_named_as_unreadable() {
    if !util::is_root() {
        util::skip("needs root to drop to another user");
        return;
    }
    // A user of this test alone: other tests' processes run as `nobody`,
    // and those are not dumpable either, so the count below would be theirs.
    let user = [
        format!("--reuid={LONE_UID_NOT_DUMPABLE}"),
        format!("--regid={LONE_UID_NOT_DUMPABLE}"),
        "--clear-groups".to_string(),
        "--".to_string(),
    ];
    let mut setpriv = std::process::Command::new("setpriv");
    setpriv.args(&user);
    setpriv.arg(util::python_binary());
    let (owner, mut out) = util::python_via(
        setpriv,
        "import ctypes, socket, time\n\
         ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n\
         l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
         print(l.getsockname()[1], flush=True); time.sleep(120)",
        &[],
    );
    let port = wait_for_line(&mut out);
    let mut command = std::process::Command::new("setpriv");
    command.args(&user);
    command.arg(util::binary()).args(["ls", "--tcp", "--port", &port, "--json"]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 0, "{output:?}");
    let socket = &with_port(&output.json(), port.parse().unwrap())[0];
    assert!(socket["processes"].as_array().unwrap().is_empty(), "{output:?}");
    let reasons = socket["hidden_owner_reasons"].as_array().expect("reasons");
    assert!(reasons.contains(&serde_json::json!("own_user_unreadable")), "{output:?}");
    assert!(
        output.stderr.contains(&format!(
            "1 process(es) of porthole's own user could not be read either (pid {})",
            owner.pid()
        )),
        "{}",
        output.stderr
    );
}

/// Root without CAP_SYS_PTRACE (a container or sandbox that drops it) opens
/// every fd directory but is refused the links inside for a process that
/// holds capabilities it lacks. The listener's owner is then unseen
/// because of that refusal, and the note says so, instead of "no process
/// holds them: only the kernel does".
#[test]
fn root_refused_the_owner_by_the_kernel_says_why_instead_of_blaming_the_kernel() {
    if !util::is_root() {
        util::skip("needs root: the refusal is one root meets");
        return;
    }
    let (owner, mut out) = util::python(
        "import socket, time\n\
         l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
         print(l.getsockname()[1], flush=True); time.sleep(120)",
        &[],
    );
    let port = wait_for_line(&mut out);
    let without_ptrace = |args: &[&str]| {
        let mut command = std::process::Command::new("setpriv");
        command.arg("--bounding-set=-sys_ptrace").arg(util::binary()).args(args);
        util::scrub(&mut command);
        util::run(&mut command)
    };
    let listing = without_ptrace(&["ls", "--tcp", "--port", &port, "--json"]);
    assert_eq!(listing.code, 0, "{listing:?}");
    let socket = &with_port(&listing.json(), port.parse().unwrap())[0];
    assert!(socket["processes"].as_array().unwrap().is_empty(), "{listing:?}");
    assert_eq!(
        socket["hidden_owner_reasons"],
        serde_json::json!(["refused_to_root", "no_process"]),
        "{listing:?}"
    );
    let text = without_ptrace(&["ls", "--tcp", "--port", &port]);
    assert!(
        text.stderr.contains("even as root, porthole was refused the descriptors of"),
        "{text:?}"
    );
    assert!(text.stderr.contains("porthole runs without CAP_SYS_PTRACE"), "{text:?}");
    // The refusal comes first; the kernel only as the alternative.
    assert!(text.stderr.contains("; if none does, no process holds them"), "{text:?}");
    // Filtered by the owner, the note says it may be among the refused.
    let owner_pid = owner.pid().to_string();
    let by_pid = without_ptrace(&["ls", "--tcp", "--port", &port, "--pid", &owner_pid]);
    assert!(by_pid.stderr.contains(&format!("pid {owner_pid} may own some of them")), "{by_pid:?}");
    // With the capability the same listing names the owner.
    let mut full = util::porthole();
    let seen = util::run(full.args(["ls", "--tcp", "--port", &port, "--json"]));
    let socket = &with_port(&seen.json(), port.parse().unwrap())[0];
    assert_eq!(socket["processes"].as_array().unwrap().len(), 1, "{seen:?}");
}

/// A raw ICMP socket and a raw IPv6 socket for IPPROTO_UDP, held by one
/// python3 in a private namespace (raw sockets need root, as namespaces do).
const RAW_SOCKETS: &str = "import socket,time
a=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
b=socket.socket(socket.AF_INET6,socket.SOCK_RAW,socket.IPPROTO_UDP)
print('ready'); time.sleep(120)";

/// (protocol, local address with the IP protocol number, pids) of every
/// raw socket of `ls --json`, the unspecified IPv6 address written `*`
/// as `ss` writes it.
fn raw_sockets_of(list: &Value) -> Vec<(String, String, Vec<u64>)> {
    let mut found: Vec<(String, String, Vec<u64>)> = list
        .as_array()
        .expect("ls --json prints an array")
        .iter()
        .filter(|s| s["protocol"] == "raw")
        .map(|s| {
            let address = match s["local_address"].as_str().unwrap() {
                "::" => "*".to_string(),
                other => other.to_string(),
            };
            assert_eq!(s["local_port"], 0, "a raw socket has no port: {s:#}");
            let protocol = s["ip_protocol"].as_u64().expect("raw sockets carry ip_protocol");
            (s["family"].as_str().unwrap().to_string(), format!("{address}:{protocol}"), pids_of(s))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn all_and_raw_list_raw_sockets_with_their_ip_protocol_and_owner_as_ss_does() {
    let Some(netns) = Netns::create() else { return };
    let (child, mut ready) = util::python_in(&netns, RAW_SOCKETS, &[]);
    assert_eq!(wait_for_line(&mut ready), "ready");
    let pid = u64::from(child.pid());
    let expected = vec![
        ("ipv4".to_string(), "0.0.0.0:1".to_string(), vec![pid]),
        ("ipv6".to_string(), "*:17".to_string(), vec![pid]),
    ];

    // `ss -wanpH`: State Recv-Q Send-Q Local Peer Process.
    let ss = util::run(netns.command("ss").args(["-wanpH"]));
    assert_eq!(ss.code, 0, "{ss:?}");
    let mut from_ss: Vec<(String, Vec<u64>)> = ss
        .stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[3].to_string(), ss_pids(line))
        })
        .collect();
    from_ss.sort();
    let without_family = |found: Vec<(String, String, Vec<u64>)>| -> Vec<(String, Vec<u64>)> {
        let mut found: Vec<_> = found.into_iter().map(|(_, local, pids)| (local, pids)).collect();
        found.sort();
        found
    };
    assert_eq!(without_family(expected.clone()), from_ss, "ss sees the test's sockets");

    // Both readers: sock_diag's raw_diag and /proc/net/raw{,6}.
    for backend in ["netlink", "procfs"] {
        let env = [("PORTHOLE_BACKEND", backend)];
        for args in [&["ls", "-a", "--json"][..], &["ls", "-w", "--json"][..]] {
            let output = netns.porthole_env(&env, args);
            assert_eq!(output.code, 0, "{backend} {args:?}: {output:?}");
            assert_eq!(raw_sockets_of(&output.json()), expected, "{backend} {args:?}");
        }
        let jsonl = netns.porthole_env(&env, &["ls", "-w", "--jsonl"]);
        let records: Vec<Value> =
            jsonl.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(raw_sockets_of(&Value::Array(records)), expected, "{backend} --jsonl");
        let names = netns.porthole_env(&env, &["ls", "-w", "--json"]).json();
        let mut names: Vec<&str> = names
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["ip_protocol_name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["icmp", "udp"], "{backend}");

        // The table names the protocol where a port would be.
        let table = netns.porthole_env(&env, &["ls", "-a"]);
        let rows: Vec<Vec<&str>> = table
            .stdout
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| fields.first().is_some_and(|p| p.starts_with("raw")))
            .collect();
        let shown = format!("{pid}/python");
        assert_eq!(rows.len(), 2, "{backend}: {}", table.stdout);
        assert!(rows
            .iter()
            .any(|r| r[..2] == ["raw", "0.0.0.0:icmp"] && r.last().unwrap().contains(&shown)));
        assert!(rows
            .iter()
            .any(|r| r[..2] == ["raw6", "[::]:udp"] && r.last().unwrap().contains(&shown)));
    }

    // Not listeners: plain `ls` does not list them, nor does a port query
    // for the number a raw socket carries in a port's place.
    let listeners = netns.porthole(&["ls", "--json"]);
    assert!(raw_sockets_of(&listeners.json()).is_empty(), "{}", listeners.stdout);
    assert!(!netns.porthole(&["ls"]).stdout.contains("raw"));
    let by_port = netns.porthole(&["ls", "-a", "--port", "1,17", "--json"]);
    assert!(raw_sockets_of(&by_port.json()).is_empty(), "{}", by_port.stdout);
    let port = netns.porthole(&["1", "--json"]);
    assert!(!port.stdout.contains("\"raw\""), "porthole PORT: {}", port.stdout);
    drop(child);
}
