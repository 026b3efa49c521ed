//! `porthole PORT` / `porthole HOST:PORT`: listeners, clients, the client
//! side of outbound connections, and what the number means.

use std::net::{TcpListener, TcpStream};

use crate::util::{porthole_run, python, wait_for_line};

#[test]
fn reports_listener_clients_and_meaning() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _accepted = listener.accept().unwrap();
    let output = porthole_run(&[&port.to_string(), "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["held"], true);
    assert_eq!(report["exposed"], false);
    assert_eq!(report["listeners"].as_array().unwrap().len(), 1);
    let clients = report["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{report:#}");
    assert_eq!(clients[0]["far"]["local_port"], client.local_addr().unwrap().port());
    let client_pids: Vec<u64> = clients[0]["far"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(crate::util::only_this_process_and_its_children(&client_pids), "{client_pids:?}");
    assert!(report["meaning"]["iana_range"].is_string());

    let text = porthole_run(&["who", &format!("127.0.0.1:{port}")]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("is listening"), "{}", text.stdout);
    assert!(text.stdout.contains("Clients (1)"), "{}", text.stdout);
    assert!(text.stdout.contains("loopback only"), "{}", text.stdout);
}

#[test]
fn an_ephemeral_source_port_is_explained_as_the_client_side() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let (_child, mut ready) = python(
        "import socket,sys,time\n\
         c=socket.create_connection(('127.0.0.1',int(sys.argv[1]))); print(c.getsockname()[1]); time.sleep(60)",
        &[&server_port.to_string()],
    );
    let client_port = wait_for_line(&mut ready);
    let output = porthole_run(&[&format!("127.0.0.1:{client_port}")]);
    assert_eq!(output.code, 0, "the local end of a connection counts as held: {output:?}");
    assert!(
        output.stdout.contains("the client side of a tcp connection from python3"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains(&format!("to 127.0.0.1:{server_port}")), "{}", output.stdout);
    let report = porthole_run(&[&client_port, "--json"]).json();
    assert_eq!(report["listeners"].as_array().unwrap().len(), 0);
    // Connections of concurrent tests may reuse the source port towards
    // other destinations; exactly one end of ours must be there.
    let ours: Vec<&serde_json::Value> = report["local_ends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|end| end["near"]["remote_port"] == server_port)
        .collect();
    assert_eq!(ours.len(), 1, "{report:#}");
}

#[test]
fn split_listeners_on_different_families_are_flagged() {
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    let (_child, mut ready) = python(
        "import socket,sys,time\n\
         s=socket.socket(socket.AF_INET6); s.bind(('::1',int(sys.argv[1]))); s.listen(); print('ok'); time.sleep(60)",
        &[&port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let report = porthole_run(&[&port.to_string(), "--json"]).json();
    assert_eq!(report["split_listeners"], true, "{report:#}");
    let text = porthole_run(&[&format!("localhost:{port}")]);
    assert!(text.stdout.contains("different processes hold this port"), "{}", text.stdout);
}

#[test]
fn nothing_holds_a_free_port_and_exit_is_1() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let output = porthole_run(&[&port.to_string()]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains(&format!("nothing holds port {port}")));
    assert!(output.stdout.contains("ephemeral range"), "{}", output.stdout);
}

#[test]
fn explains_well_known_numbers() {
    let report = porthole_run(&["5173", "--json"]).json();
    let services = report["meaning"]["services"].as_array().unwrap();
    assert!(services.iter().any(|s| s.as_str().unwrap().contains("Vite")), "{report:#}");
    let blocked = porthole_run(&["6000", "--json"]).json();
    assert_eq!(blocked["meaning"]["browser_blocked"], true);
    assert_eq!(blocked["meaning"]["iana_range"], "user");
    let system = porthole_run(&["80", "--json"]).json();
    assert_eq!(system["meaning"]["iana_range"], "system");
    assert_eq!(system["meaning"]["privileged"], true);
}

#[test]
fn a_reserved_port_is_not_said_to_be_handed_out() {
    // ip_local_reserved_ports keeps a port of the ephemeral range from
    // being picked as a source port; outside the range the listing still
    // says someone kept the port for a service.
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_port_range=40000 50000"]);
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=20001,45001"]);
    let inside = netns.porthole(&["45001"]);
    assert_eq!(inside.code, 1, "{inside:?}");
    assert!(
        inside.stdout.contains(
            "inside this machine's ephemeral range 40000-50000 but reserved \
             (ip_local_reserved_ports): the kernel does not hand it out"
        ),
        "{}",
        inside.stdout
    );
    assert!(!inside.stdout.contains("hands it out"), "{}", inside.stdout);
    let outside = netns.porthole(&["20001"]);
    assert!(outside.stdout.contains("listed in ip_local_reserved_ports"), "{}", outside.stdout);
    let plain = netns.porthole(&["45002"]);
    assert!(plain.stdout.contains("the kernel hands it out"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("reserved"), "{}", plain.stdout);
    assert_eq!(netns.porthole(&["45001", "--json"]).json()["meaning"]["reserved"], true);
}

/// The ephemeral range, the reserved ports and the first unprivileged port
/// are sysctls of each network namespace: asked from outside with `--netns`,
/// the meaning is the one the named namespace's servers and clients live by.
#[test]
fn netns_name_explains_the_number_with_that_namespace_sysctls() {
    let Some(netns) = crate::util::Netns::create() else { return };
    // The kernel wants the first unprivileged port below the range.
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_port_range=21000 22000"]);
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_local_reserved_ports=20500,21500"]);
    netns.run_ok("sysctl", &["-qw", "net.ipv4.ip_unprivileged_port_start=20600"]);
    let report = porthole_run(&["20500", "--netns", &netns.name, "--json"]).json();
    let meaning = &report["meaning"];
    assert_eq!(meaning["reserved"], true, "{report:#}");
    assert_eq!(meaning["privileged"], true, "{report:#}");
    let text = porthole_run(&["21500", "--netns", &netns.name]);
    assert!(text.stdout.contains("ephemeral range 21000-22000 but reserved"), "{}", text.stdout);
    // Here, outside the namespace, the same number means what this
    // namespace's sysctls say.
    let here = porthole_run(&["20500", "--json"]).json();
    assert_eq!(here["meaning"]["reserved"], false, "{here:#}");
}

#[test]
fn number_like_mistakes_get_advice_that_runs() {
    for word in ["1e3", "0x50", "-1", "+80", ""] {
        let output = porthole_run(&[word]);
        assert_eq!(output.code, 2, "{word:?}: {output:?}");
        assert!(output.stderr.starts_with("porthole: "), "{word:?}: {}", output.stderr);
        assert!(output.stdout.is_empty(), "{word:?}: {}", output.stdout);
        // No "WORD:PORT" suggestion for something that is no host name,
        // and no colon quoted that was never typed.
        assert!(!output.stderr.contains(&format!("'{word}:")), "{word:?}: {}", output.stderr);
        assert!(!output.stderr.contains(&format!("porthole {word}:PORT")), "{}", output.stderr);
    }
    let output = porthole_run(&["1e3"]);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(output.stderr.contains("'1e3' is not a port number"), "{}", output.stderr);
}

/// `porthole 0.0.0.0:PORT`, as a server's log prints its address: a
/// connection to 0.0.0.0 (or `::`) goes to the loopback address of its
/// family, so a listener on 127.0.0.1 serves it; it was said to be refused.
#[test]
fn the_unspecified_address_is_served_by_the_loopback_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // What the kernel does with it, so the answer below is the truth.
    TcpStream::connect(("0.0.0.0", port)).expect("0.0.0.0 reaches 127.0.0.1");
    let asked = format!("0.0.0.0:{port}");
    let report = porthole_run(&[&asked, "--json"]);
    assert_eq!(report.code, 0, "{report:?}");
    let report = report.json();
    assert_eq!(report["serving"].as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(report["serving"][0]["local_address"], "127.0.0.1", "{report:#}");
    let text = porthole_run(&[&asked]);
    assert!(!text.stdout.contains("refused"), "{}", text.stdout);
    assert!(!text.stdout.contains("not for this address"), "{}", text.stdout);
    assert!(text.stdout.contains("a connection to it goes to 127.0.0.1"), "{}", text.stdout);
    // `::` goes to ::1, where nothing listens: that is still said.
    let v6 = porthole_run(&[&format!("[::]:{port}")]);
    assert!(v6.stdout.contains("no listener serves [::]"), "{}", v6.stdout);
}

/// Dotted numbers no IPv4 address has (`256.0.0.1`) went to the resolver,
/// whose "Name or service not known" hid the typo; `check` and `wait` parse
/// hosts the same way.
#[test]
fn an_ipv4_address_out_of_range_is_named_not_resolved() {
    for args in [
        &["256.0.0.1:80"][..],
        &["127.0.0.256"],
        &["check", "10.0.0.300:5432"],
        &["wait", "1.2.3.4.5:80", "--timeout", "1s"],
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &args.join(" "));
        assert!(output.stderr.contains("is not an IPv4 address"), "{args:?}: {output:?}");
        assert!(!output.stderr.contains("resolving"), "{args:?}: {output:?}");
    }
    // Brackets around IPv4, as IPv6 is written: the form without them.
    let output = porthole_run(&["[127.0.0.1]:80"]);
    crate::util::assert_usage_error(&output, "[127.0.0.1]:80");
    assert!(output.stderr.ends_with("takes no brackets: write 127.0.0.1:80\n"), "{output:?}");
}

/// `porthole 80,443` or `porthole 3000-3010`, as `ls --port` and `kill`
/// take them, was "not a port number"; the listing of those ports is named
/// with the command that shows it, and that command runs as printed.
#[test]
fn several_ports_are_sent_to_the_listing_that_shows_them() {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = [first.local_addr().unwrap().port(), second.local_addr().unwrap().port()];
    let (low, high) = (ports[0].min(ports[1]), ports[0].max(ports[1]));
    for typed in [format!("{low},{high}"), format!("{low}-{high}/tcp")] {
        for flags in [&[][..], &["-t"]] {
            let output = porthole_run(&[&[typed.as_str()][..], flags].concat());
            crate::util::assert_usage_error(&output, &typed);
            let command = crate::util::printed_after(&output.stderr, "listed by: ");
            assert_eq!(command.ends_with(" -t"), !flags.is_empty(), "{command}");
            let listing = crate::util::run_as_printed(command, " --json");
            assert_eq!(listing.code, 0, "{command}: {listing:?}");
            let listed: Vec<u64> = listing
                .json()
                .as_array()
                .expect("an array")
                .iter()
                .filter_map(|row| row["local_port"].as_u64())
                .collect();
            for port in ports {
                assert!(listed.contains(&u64::from(port)), "{port} in {command}: {listing:?}");
            }
        }
    }
    // Two words, as `lsof -i :80 -i :443` users type them, and a port
    // given to `ls` without `--port`: the same listing is named.
    let list = format!("'porthole ls --port {},{}'", ports[0], ports[1]);
    let two = porthole_run(&[&ports[0].to_string(), &ports[1].to_string()]);
    crate::util::assert_usage_error(&two, "two ports");
    assert!(two.stderr.contains(&list), "{two:?}");
    let ls = porthole_run(&["ls", &ports[0].to_string(), &ports[1].to_string()]);
    crate::util::assert_usage_error(&ls, "ls with two ports");
    assert!(ls.stderr.contains(&list), "{ls:?}");
    // One port stays the question it always was.
    let one = porthole_run(&[&ports[0].to_string(), "--json"]);
    assert_eq!(one.code, 0, "{one:?}");
}

/// A service name is not a port: the error names the port it stands for,
/// instead of a subcommand it resembles (`http` is no typo of `top`) or a
/// `NAME:PORT` it is no host of.
#[test]
fn a_service_name_is_answered_with_its_port() {
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    if !services.lines().any(|line| line.starts_with("http\t") || line.starts_with("http ")) {
        crate::util::skip("/etc/services has no http line (netbase is not installed)");
        return;
    }
    for (word, port) in [("http", "80"), ("www", "80"), ("postgresql", "5432")] {
        let output = porthole_run(&[word]);
        crate::util::assert_usage_error(&output, word);
        assert!(
            output.stderr.contains(&format!("'{word}' is a service name, not a port")),
            "{word}: {}",
            output.stderr
        );
        assert!(output.stderr.contains(&format!("'porthole {port}'")), "{}", output.stderr);
        assert!(!output.stderr.contains("similar subcommand"), "{}", output.stderr);
        assert!(!output.stderr.contains(&format!("{word}:PORT")), "{}", output.stderr);
    }
}

/// A service name where a port goes (`localhost:http`, `kill http`,
/// `check 127.0.0.1:postgresql`) is named as one, with its number, by every
/// command that parses ports.
#[test]
fn a_service_name_in_place_of_a_port_names_its_number_everywhere() {
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    if !services.lines().any(|line| line.starts_with("http\t") || line.starts_with("http ")) {
        crate::util::skip("/etc/services has no http line (netbase is not installed)");
        return;
    }
    for args in [
        &["localhost:http"][..],
        &["kill", "http"],
        &["check", "127.0.0.1:www"],
        &["wait", "localhost:http", "--timeout", "1s"],
        &["ls", "--port", "http"],
    ] {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &args.join(" "));
        assert!(
            output.stderr.contains("is a service name, not a port number"),
            "{args:?}: {output:?}"
        );
        assert!(output.stderr.contains("port 80;"), "{args:?}: {output:?}");
    }
    let output = porthole_run(&["127.0.0.1:postgresql"]);
    assert!(output.stderr.contains("port 5432; write the number (5432)"), "{output:?}");
    // A word that no service has stays "not a port number".
    let output = porthole_run(&["localhost:nosuchservicexyz"]);
    assert!(output.stderr.contains("is not a port number"), "{output:?}");
}

/// Blanks around a port are ignored before it as after it, as every other
/// port argument does.
#[test]
fn blanks_around_a_port_are_ignored_on_both_sides() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for typed in [format!(" {port}"), format!("{port} "), format!("\t{port}\n")] {
        let output = porthole_run(&[&typed, "--json"]);
        assert_eq!(output.code, 0, "{typed:?}: {output:?}");
        assert_eq!(output.json()["port"], port, "{typed:?}");
    }
}

#[test]
fn netns_all_says_which_namespace_each_listener_is_in() {
    // The same loopback address and port in two namespaces are two
    // different services: the table must tell them apart.
    let Some(netns) = crate::util::Netns::create() else { return };
    let code = "import socket,sys,time\n\
                s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n\
                print(s.getsockname()[1], flush=True); time.sleep(120)";
    let (_here, mut out) = python(code, &["0"]);
    let port = wait_for_line(&mut out);
    let (_there, mut out) =
        crate::util::python_via(netns.command("python3"), code, &[port.as_str()]);
    assert_eq!(wait_for_line(&mut out), port);
    let text = porthole_run(&[&port, "--netns", "all"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("NETNS"), "{}", text.stdout);
    assert!(text.stdout.contains("(current)"), "{}", text.stdout);
    assert!(text.stdout.contains(&format!("(netns {})", netns.name)), "{}", text.stdout);
    assert!(!text.stdout.contains("different processes hold"), "{}", text.stdout);
    let report = porthole_run(&[&port, "--netns", "all", "--json"]).json();
    let hints: Vec<&str> = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["net_namespace_hint"].as_str().unwrap_or(""))
        .collect();
    assert!(hints.contains(&"current"), "{report:#}");
    assert!(hints.contains(&format!("netns {}", netns.name).as_str()), "{report:#}");
    // Without --netns all there is one namespace and no column.
    let plain = porthole_run(&[&port]);
    assert!(!plain.stdout.contains("NETNS"), "{}", plain.stdout);
}

/// Each network namespace has its own `ip_local_port_range`: with `--netns
/// all` the rows of a namespace whose range differs are explained by its
/// range, not by the one porthole runs in.
#[test]
fn netns_all_explains_the_number_with_each_namespace_s_own_settings() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let port = crate::util::unique_port();
    let (low, high) = if port <= 64535 { (port + 1, port + 1000) } else { (port - 1000, port - 1) };
    let range = format!("{low} {high}");
    netns.run_ok("sysctl", &["-qw", &format!("net.ipv4.ip_local_port_range={range}")]);
    let _server = crate::util::server_in(&netns, "127.0.0.1", port, "hold");
    let text = port.to_string();
    let output = porthole_run(&[&text, "--netns", "all"]);
    assert_eq!(output.code, 0, "{output:?}");
    let expected = format!(
        "  in netns {inode} (netns {name}), under its own settings:\n    outside its ephemeral range {low}-{high}: outbound connections will not take it\n",
        inode = crate::util::netns_inode(&netns),
        name = netns.name
    );
    assert!(output.stdout.contains(&expected), "{}", output.stdout);
    let report = porthole_run(&[&text, "--netns", "all", "--json"]).json();
    let here = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let here: Vec<u16> = here.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(report["meaning"]["ephemeral_range"], serde_json::json!(here), "{report:#}");
    let there = &report["namespace_meanings"][0];
    assert_eq!(there["net_namespace"], crate::util::netns_inode(&netns), "{report:#}");
    assert_eq!(there["meaning"]["ephemeral_range"], serde_json::json!([low, high]), "{report:#}");
    assert_eq!(there["meaning"]["in_ephemeral_range"], false, "{report:#}");
    // Looking into that one namespace explains it by its range alone.
    let named = porthole_run(&[&text, "--netns", &netns.name]);
    assert!(
        named.stdout.contains(&format!("outside the ephemeral range {low}-{high}")),
        "{}",
        named.stdout
    );
}

/// A service port held by another program (`python3` on 5432) is said to
/// be so, in text and JSON; the service's own server on its port is not.
#[test]
fn a_service_port_held_by_another_program_is_remarked_on() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let _impostor = crate::util::server_in(&netns, "127.0.0.1", 5432, "hold");
    let output = netns.porthole(&["5432"]);
    assert_eq!(output.code, 0, "{output:?}");
    let remark = output
        .stdout
        .lines()
        .find(|line| line.starts_with("  but held by python3 (pid "))
        .unwrap_or_else(|| panic!("no remark on the owner:\n{}", output.stdout));
    assert!(
        remark.ends_with(
            "not by a PostgreSQL program (postgres, postmaster, pgbouncer, pgpool, odyssey, \
             pgcat): a client that expects PostgreSQL here talks to something else"
        ),
        "{remark}"
    );
    let report = netns.porthole(&["5432", "--json"]).json();
    let unexpected = &report["unexpected_owners"];
    assert_eq!(unexpected["expected_service"], "PostgreSQL", "{report:#}");
    let owner = &report["listeners"][0]["processes"][0]["pid"];
    assert_eq!(unexpected["pids"], serde_json::json!([owner]), "{report:#}");
    // Redis on its own port: nothing to remark on.
    if !crate::util::installed("redis-server") {
        crate::util::skip("redis-server is not installed");
        return;
    }
    let _redis = crate::util::ChildGuard::spawn(netns.command("redis-server").args([
        "--port",
        "6379",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]));
    assert!(
        crate::util::eventually(std::time::Duration::from_secs(10), || {
            netns.porthole(&["6379", "--json"]).code == 0
        }),
        "redis-server listens"
    );
    let redis = netns.porthole(&["6379", "--json"]).json();
    assert_eq!(redis["unexpected_owners"], serde_json::Value::Null, "{redis:#}");
    let text = netns.porthole(&["6379"]);
    assert!(!text.stdout.contains("but held by"), "{}", text.stdout);
}

#[test]
fn netns_name_looks_in_that_namespace_only() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let port = crate::util::unique_port();
    let _server = crate::util::server_in(&netns, "127.0.0.1", port, "hold");
    let text = port.to_string();
    // Nothing listens here, and the answer says where something does, with
    // the command that shows it, which runs as printed; `-u` asks about UDP,
    // which nothing holds anywhere.
    let here = porthole_run(&[&text]);
    assert_eq!(here.code, 1, "nothing listens here: {here:?}");
    assert!(here.stdout.contains("another one listens on it"), "{here:?}");
    let place = format!("127.0.0.1:{port}/tcp in netns {}, held by ", netns.name);
    assert!(here.stdout.contains(&place), "{here:?}");
    let json = porthole_run(&[&text, "--json"]).json();
    let command = json["elsewhere"][0]["command"].as_str().expect("a command").to_string();
    assert!(here.stdout.contains(&format!(": {command}\n")), "{here:?}");
    let shown = crate::util::run_as_printed(&command, " --json");
    assert_eq!(shown.code, 0, "`{command}`: {shown:?}");
    assert_eq!(shown.json()["listeners"].as_array().unwrap().len(), 1, "{shown:?}");
    let udp = porthole_run(&[&text, "-u", "--json"]).json();
    assert_eq!(udp["elsewhere"], serde_json::json!([]), "{udp:#}");
    // The other way round: asked about the namespace, a listener here.
    let here = TcpListener::bind("127.0.0.1:0").unwrap();
    let here_port = here.local_addr().unwrap().port().to_string();
    let there = porthole_run(&[&here_port, "--netns", &netns.name]);
    assert_eq!(there.code, 1, "{there:?}");
    let line = there.stdout.lines().find(|l| l.contains("in the current namespace, held by "));
    let line = line.unwrap_or_else(|| panic!("{there:?}"));
    let command = crate::util::printed_after(line, "): ");
    let shown = crate::util::run_as_printed(command, " --json");
    assert_eq!(shown.json()["listeners"][0]["local_port"].to_string(), here_port, "{shown:?}");
    let named = porthole_run(&[&text, "--netns", &netns.name, "--json"]);
    assert_eq!(named.code, 0, "{named:?}");
    assert_eq!(named.json()["listeners"].as_array().unwrap().len(), 1, "{named:?}");
    let path = format!("/run/netns/{}", netns.name);
    let by_path = porthole_run(&["ls", "--port", &text, "--netns", &path, "--json"]);
    assert_eq!(by_path.code, 0, "{by_path:?}");
    assert_eq!(by_path.json().as_array().unwrap().len(), 1, "{by_path:?}");
    let missing = porthole_run(&[&text, "--netns", "porthole-no-such-namespace"]);
    crate::util::assert_usage_error(&missing, "unknown namespace name");
}

/// A listener that prints its pid once listening.
const LISTENER: &str = "import os,socket,time\n\
                        s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                        print(s.getsockname()[1], os.getpid(), flush=True); time.sleep(120)";

/// The process record of the one listener in `porthole PORT --json`.
fn listener_process(port: &str) -> serde_json::Value {
    let output = porthole_run(&[port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    output.json()["listeners"][0]["processes"][0].clone()
}

#[test]
fn a_deleted_executable_is_named_as_such_with_where_it_still_is() {
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join("server-deleted");
    std::fs::copy(crate::util::python_binary(), &copy).unwrap();
    let (server, mut out) =
        crate::util::python_via(std::process::Command::new(&copy), LISTENER, &[]);
    let line = wait_for_line(&mut out);
    let port = line.split_whitespace().next().unwrap().to_string();
    std::fs::remove_file(&copy).unwrap();

    let process = listener_process(&port);
    assert_eq!(process["exe_deleted"], true, "{process:#}");
    let here = format!("/proc/{}/exe", server.pid());
    assert_eq!(process["exe_here"], here.as_str(), "{process:#}");
    assert!(std::fs::metadata(&here).is_ok(), "the running program is readable there");

    let long = porthole_run(&["ls", "--port", &port, "-l"]);
    assert!(long.stdout.contains("(exe deleted)"), "{long:?}");
    let plan = porthole_run(&["kill", &port, "--dry-run"]);
    assert!(plan.stdout.contains("was deleted or replaced after it started"), "{plan:?}");
    let record = porthole_run(&["kill", &port, "--dry-run", "--json"]).json();
    assert_eq!(record["targets"][0]["exe_deleted"], true, "{record:#}");
    assert_eq!(record["targets"][0]["exe_here"], here.as_str(), "{record:#}");
}

#[test]
fn an_executable_of_another_mount_namespace_is_shown_where_it_is_from_here() {
    if !crate::util::is_root() {
        crate::util::skip("a private mount namespace needs root");
        return;
    }
    // A container-like process: its program lives on a file system
    // mounted only in its own mount namespace.
    let directory = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("unshare");
    command.args([
        "-m",
        "sh",
        "-c",
        "mount -t tmpfs none \"$0\" && cp \"$1\" \"$0/container-python\" && shift && exec \"$0/container-python\" \"$@\"",
    ]);
    command.arg(directory.path()).arg(crate::util::python_binary());
    let (server, mut out) = crate::util::python_via(command, LISTENER, &[]);
    let line = wait_for_line(&mut out);
    let port = line.split_whitespace().next().unwrap().to_string();

    let process = listener_process(&port);
    let exe = process["exe"].as_str().unwrap().to_string();
    assert!(exe.ends_with("/container-python"), "{process:#}");
    assert!(std::fs::metadata(&exe).is_err(), "{exe} exists only in its mount namespace");
    assert_eq!(process["exe_other_mount_namespace"], true, "{process:#}");
    let here = format!("/proc/{}/root{exe}", server.pid());
    assert_eq!(process["exe_here"], here.as_str(), "{process:#}");
    assert!(std::fs::metadata(&here).is_ok(), "{here} reaches the program");
    let text = porthole_run(&[&port]);
    assert!(text.stdout.contains("own mount namespace"), "{text:?}");
    let plan = porthole_run(&["kill", &port, "--dry-run"]);
    assert!(plan.stdout.contains(&format!("from here it is {here}")), "{plan:?}");
}

#[test]
fn a_scoped_link_local_address_is_matched_on_its_interface() {
    let Some(netns) = crate::util::Netns::create() else { return };
    // fe80::1 on two interfaces: the zone tells the two addresses apart.
    for step in [
        "ip -6 addr add fe80::1/64 dev lo nodad",
        "ip link add ph0 type veth peer name ph1",
        "ip link set ph0 up",
        "ip link set ph1 up",
        "ip -6 addr add fe80::1/64 dev ph0 nodad",
    ] {
        let words: Vec<&str> = step.split(' ').collect();
        netns.run_ok(words[0], &words[1..]);
    }
    let code = "import socket,sys,time\n\
                s=socket.socket(socket.AF_INET6)\n\
                s.bind(('fe80::1', 0, 0, socket.if_nametoindex('ph0'))); s.listen()\n\
                print(s.getsockname()[1], flush=True); time.sleep(120)";
    let (_server, mut out) = crate::util::python_in(&netns, code, &[]);
    let port = wait_for_line(&mut out);
    let on_ph0 = netns.porthole(&[&format!("[fe80::1%ph0]:{port}"), "--json"]);
    assert_eq!(on_ph0.code, 0, "{on_ph0:?}");
    assert_eq!(on_ph0.json()["serving"].as_array().unwrap().len(), 1, "{on_ph0:?}");
    let on_lo = netns.porthole(&[&format!("[fe80::1%lo]:{port}"), "--json"]);
    assert_eq!(on_lo.code, 0, "{on_lo:?}");
    assert_eq!(on_lo.json()["serving"].as_array().unwrap().len(), 0, "{on_lo:?}");
    let text = netns.porthole(&[&format!("[fe80::1%lo]:{port}")]);
    assert!(text.stdout.contains("not for this address"), "{text:?}");
    // `ip netns exec` gives the server a mount namespace of its own that
    // sees the same files: nothing to say about its executable.
    assert!(!text.stdout.contains("own mount namespace"), "{text:?}");
}

#[test]
fn localhost_without_its_hosts_line_still_answers_and_says_why_clients_fail() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let port = 23458;
    let _server = crate::util::server_in(&netns, "127.0.0.1", port, "hold");
    let endpoint = format!("localhost:{port}");
    let output = netns.porthole_with_hosts("# no localhost line\n", &[&endpoint, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.json()["serving"].as_array().unwrap().len(), 1, "{output:?}");
    assert!(output.stderr.contains("'localhost' does not resolve here"), "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert_eq!(output.json()["name_unresolved"], true, "{output:?}");
    // The text must not claim the name resolved (it said "resolves to
    // 127.0.0.1, ::1" above the stderr line saying it does not), with or
    // without the root's trailing dot.
    for name in ["localhost", "localhost."] {
        let text = netns.porthole_with_hosts("# no localhost line\n", &[&format!("{name}:{port}")]);
        assert_eq!(text.code, 0, "{text:?}");
        assert!(!text.stdout.contains("resolves to"), "{text:?}");
        assert!(
            text.stdout.contains("does not resolve here; taken as 127.0.0.1, ::1, which it means"),
            "{text:?}"
        );
    }
    let resolved = netns.porthole_with_hosts("127.0.0.1 localhost\n", &[&endpoint, "--json"]);
    assert_eq!(resolved.json()["name_unresolved"], false, "{resolved:?}");
    // Any other name that does not resolve is still an error.
    let other = netns.porthole_with_hosts("# empty\n", &[&format!("nowhere.invalid:{port}")]);
    crate::util::assert_usage_error(&other, "unresolvable name");
}

#[test]
fn a_name_with_several_addresses_is_matched_on_each() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let port = 23459;
    let _v6 = crate::util::server_in(&netns, "::1", port, "hold");
    let hosts = "127.0.0.1 multi\n::1 multi\n";
    let output = netns.porthole_with_hosts(hosts, &[&format!("multi:{port}"), "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let addresses: Vec<&str> =
        report["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(addresses.contains(&"127.0.0.1") && addresses.contains(&"::1"), "{report:#}");
    assert_eq!(report["serving"].as_array().unwrap().len(), 1, "{report:#}");
}

#[test]
fn connected_udp_clients_of_a_local_listener_are_its_clients() {
    // The server's UDP socket stays unconnected, so no peer end pairs with
    // a client's: it is still a client of this machine's listener, not an
    // outbound flow to somewhere else.
    let code = "import socket,time\n\
                s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
                c=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(s.getsockname())\n\
                print(s.getsockname()[1], flush=True); time.sleep(120)";
    let (_udp, mut out) = python(code, &[]);
    let port = wait_for_line(&mut out);
    let output = porthole_run(&[&port, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["clients"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["outbound"].as_array().unwrap().len(), 0, "{report:#}");
    assert_eq!(report["clients"][0]["far"]["protocol"], "udp", "{report:#}");
    let text = porthole_run(&[&port]);
    assert!(text.stdout.contains("Clients (1)"), "{text:?}");
    assert!(!text.stdout.contains("Outbound"), "{text:?}");
}

/// Port 0 is no port: the number's notes say what binding it does instead
/// of calling it privileged or outside the ephemeral range.
#[test]
fn port_zero_is_explained_not_called_privileged() {
    let run = porthole_run(&["0"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("binding port 0 asks the kernel for any free port"), "{run:?}");
    assert!(!run.stdout.contains("privileged"), "{run:?}");
    assert!(!run.stdout.contains("ephemeral range"), "{run:?}");
}

#[test]
fn a_v4_mapped_address_and_client_are_the_ipv4_they_stand_for() {
    // An IPv6 socket connected to `::ffff:127.0.0.1` (a Java or Node
    // client on a dual-stack socket) reaches the IPv4 listener.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mapped = format!("[::ffff:127.0.0.1]:{port}");
    let client = TcpStream::connect(&mapped).unwrap();
    let _accepted = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();

    let output = porthole_run(&[&mapped, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    assert_eq!(report["serving"].as_array().unwrap().len(), 1, "{report:#}");
    let ours = |list: &serde_json::Value, end: &str| {
        list.as_array().unwrap().iter().any(|c| c[end]["local_port"] == client_port)
    };
    assert!(ours(&report["clients"], "far"), "the local client is paired: {report:#}");
    assert!(
        !report["outbound"].as_array().unwrap().iter().any(|s| s["local_port"] == client_port),
        "a local client is not outbound: {report:#}"
    );

    let text = porthole_run(&[&mapped]);
    assert!(!text.stdout.contains("no listener serves"), "{}", text.stdout);
    assert!(!text.stdout.contains("remote host"), "{}", text.stdout);
}

/// `porthole NAME:PORT --netns NAME` resolves the name as a client started
/// with `ip netns exec NAME` does: with `/etc/netns/NAME/hosts`, which maps
/// localhost (and a name of its own) to 127.0.0.3, where the server is.
#[test]
fn netns_resolves_names_with_the_namespace_etc_hosts() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let own_name = format!("porthole-who-hosts-{}", std::process::id());
    let _etc =
        crate::util::NetnsEtc::with_hosts(&netns, &format!("127.0.0.3 localhost {own_name}\n"));
    let port = crate::util::unique_port();
    let _server = crate::util::server_in(&netns, "127.0.0.3", port, "hold");
    for host in ["localhost", own_name.as_str()] {
        let output = porthole_run(&[&format!("{host}:{port}"), "--netns", &netns.name, "--json"]);
        assert_eq!(output.code, 0, "{host}: {output:?}");
        let report = output.json();
        assert_eq!(report["addresses"], serde_json::json!(["127.0.0.3"]), "{report:#}");
        assert_eq!(report["serving"].as_array().unwrap().len(), 1, "{report:#}");
    }
    // A name only the caller's files know is not looked up there.
    let unknown = porthole_run(&[&format!("nowhere-{own_name}:{port}"), "--netns", &netns.name]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains(&format!("/etc/netns/{}", netns.name)), "{unknown:?}");
}

#[test]
fn a_bare_ipv6_address_ending_in_a_port_offers_both_readings() {
    // `::1:8080` is an address, but almost always meant port 8080 of ::1:
    // the error must show the bracketed form that means that.
    let output = porthole_run(&["::1:8080"]);
    crate::util::assert_usage_error(&output, "::1:8080");
    assert!(output.stderr.contains("[::1]:8080"), "{output:?}");
    assert!(output.stderr.contains("[::1:8080]:PORT"), "{output:?}");
}

/// `porthole -- PORT`, as a script writes it before an argument it did not
/// choose, asks about the port; it used to be taken for a mistyped
/// subcommand with the advice to write `porthole 8080:PORT`.
#[test]
fn a_port_after_a_double_dash_is_asked_about() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let output = porthole_run(&["--", &port]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("is listening"), "{output:?}");
    let endpoint = format!("127.0.0.1:{port}");
    assert!(porthole_run(&["--", &endpoint]).stdout.contains("is listening"));
    let bad = porthole_run(&["--", "-1"]);
    crate::util::assert_usage_error(&bad, "a negative port after --");
    assert!(!bad.stderr.contains(":PORT'"), "{bad:?}");
}

/// The flags of `porthole PORT` may come before the port, as they may
/// after it: `porthole --json 8080` was an "unexpected argument" error.
#[test]
fn flags_before_the_port_are_the_port_question_flags() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let json = porthole_run(&["--json", &port]);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(json.json()["held"], true);
    // Only UDP: the TCP listener does not count.
    let udp = porthole_run(&["-u", "--netns", "current", &port]);
    assert_eq!(udp.code, 1, "{udp:?}");
    assert!(udp.stdout.contains("nothing holds"), "{udp:?}");
    let bad = porthole_run(&["--json", "localhost"]);
    crate::util::assert_usage_error(&bad, "a flag before a word that is no endpoint");
}

/// A busy server has thousands of clients: the table shows a bounded number
/// of them, the rarest states first, and counts the rest by state; `--json`
/// keeps every one.
#[test]
fn many_clients_are_bounded_and_the_rest_counted_by_state() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut clients = Vec::new();
    let mut accepted = Vec::new();
    for _ in 0..60 {
        clients.push(TcpStream::connect(address).unwrap());
        accepted.push(listener.accept().unwrap().0);
    }
    // Two clients hang up and the server never closes its ends: CLOSE-WAIT.
    clients.truncate(58);
    let port = address.port().to_string();
    let closed = crate::util::eventually(std::time::Duration::from_secs(10), || {
        porthole_run(&[&port]).stdout.matches("CLOSE-WAIT").count() == 2
    });
    let text = porthole_run(&[&port]);
    assert!(closed, "{text:?}");
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("Clients (60)"), "{}", text.stdout);
    let rows = text.stdout.lines().filter(|line| line.matches("127.0.0.1:").count() == 2).count();
    assert_eq!(rows, 20, "{}", text.stdout);
    assert!(text.stdout.contains("… and 40 more (40 ESTAB)"), "{}", text.stdout);
    let report = porthole_run(&[&port, "--json"]).json();
    assert_eq!(report["clients"].as_array().unwrap().len(), 60, "{report:#}");
}

/// A listener bound to a device (`SO_BINDTODEVICE`) only takes packets
/// arriving on it: bound to `lo`, even `0.0.0.0` is loopback only; bound to
/// another device, the device is named wherever the address is.
#[test]
fn a_listener_bound_to_a_device_is_reachable_only_through_it() {
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "ph0", "type", "veth", "peer", "name", "ph1"]);
    netns.run_ok("ip", &["addr", "add", "10.79.0.1/24", "dev", "ph0"]);
    netns.run_ok("ip", &["link", "set", "ph0", "up"]);
    let code = "import socket,sys,time\n\
                held=[]\n\
                for device in sys.argv[1:]:\n\
                \x20   s=socket.socket()\n\
                \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())\n\
                \x20   s.bind(('0.0.0.0', 0)); s.listen(); held.append(s)\n\
                print(' '.join(str(s.getsockname()[1]) for s in held), flush=True)\n\
                time.sleep(120)";
    let (_server, mut out) = crate::util::python_in(&netns, code, &["lo", "ph0"]);
    let line = wait_for_line(&mut out);
    let ports: Vec<&str> = line.split(' ').collect();
    let (on_lo, on_ph0) = (ports[0], ports[1]);

    let report = netns.porthole(&[on_lo, "--json"]).json();
    assert_eq!(report["exposed"], false, "{report:#}");
    assert_eq!(report["listeners"][0]["scope"], "loopback", "{report:#}");
    assert_eq!(report["listeners"][0]["interface"], "lo", "{report:#}");
    let text = netns.porthole(&[on_lo]);
    assert!(text.stdout.contains(&format!("0.0.0.0%lo:{on_lo}  loopback")), "{}", text.stdout);
    assert!(text.stdout.contains("loopback only"), "{}", text.stdout);
    let listing = netns.porthole(&["ls", "--port", on_lo]);
    assert!(listing.stdout.contains(&format!("0.0.0.0%lo:{on_lo}")), "{}", listing.stdout);
    assert!(!listing.stdout.contains("wildcard"), "{}", listing.stdout);
    let exposed = netns.porthole(&["ls", "--port", on_lo, "--scope", "exposed"]);
    assert_eq!(exposed.code, 1, "{exposed:?}");

    let report = netns.porthole(&[on_ph0, "--json"]).json();
    assert_eq!(report["exposed"], true, "{report:#}");
    assert_eq!(report["listeners"][0]["interface"], "ph0", "{report:#}");
    let text = netns.porthole(&[on_ph0]);
    assert!(
        text.stdout.contains(&format!("reachable from other devices via 0.0.0.0%ph0:{on_ph0}")),
        "{}",
        text.stdout
    );
    // A connection to 127.0.0.1 arrives on lo: the listener bound to ph0
    // never sees it, the one bound to lo does.
    let loopback = netns.porthole(&[&format!("127.0.0.1:{on_ph0}"), "--json"]).json();
    assert_eq!(loopback["serving"], serde_json::json!([]), "{loopback:#}");
    let text = netns.porthole(&[&format!("127.0.0.1:{on_ph0}")]);
    assert!(text.stdout.contains("no listener serves 127.0.0.1:"), "{}", text.stdout);
    let loopback = netns.porthole(&[&format!("127.0.0.1:{on_lo}"), "--json"]).json();
    assert_eq!(loopback["serving"].as_array().unwrap().len(), 1, "{loopback:#}");
}

/// A server can listen on an address no interface has (`IP_FREEBIND`, or
/// `ip_nonlocal_bind`, as keepalived's standbys do): nothing reaches it
/// until the address arrives, so it is not called exposed until then.
#[test]
fn a_listener_on_an_address_no_interface_has_is_not_reachable_yet() {
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "ph0", "type", "veth", "peer", "name", "ph1"]);
    netns.run_ok("ip", &["link", "set", "ph0", "up"]);
    let code = "import socket,time\n\
                s=socket.socket(); s.setsockopt(socket.SOL_IP, 15, 1)\n\
                s.bind(('10.9.9.9', 0)); s.listen()\n\
                print(s.getsockname()[1], flush=True); time.sleep(120)";
    let (_server, mut out) = crate::util::python_in(&netns, code, &[]);
    let port = wait_for_line(&mut out);

    let report = netns.porthole(&[&port, "--json"]).json();
    assert_eq!(report["held"], true, "{report:#}");
    assert_eq!(report["exposed"], false, "{report:#}");
    assert_eq!(report["unassigned_addresses"], serde_json::json!(["10.9.9.9"]), "{report:#}");
    let text = netns.porthole(&[&port]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains(&format!(
            "not reachable yet: 10.9.9.9:{port} is bound to an address no interface has"
        )),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("reachable from other devices"), "{}", text.stdout);
    assert!(!text.stdout.contains("loopback only"), "{}", text.stdout);

    // Once an interface has the address, the listener is exposed.
    netns.run_ok("ip", &["addr", "add", "10.9.9.9/24", "dev", "ph0"]);
    let report = netns.porthole(&[&port, "--json"]).json();
    assert_eq!(report["exposed"], true, "{report:#}");
    assert_eq!(report["unassigned_addresses"], serde_json::json!([]), "{report:#}");
}

/// A server that stops calling accept(): once its queue is full the kernel
/// drops new SYNs, and their clients wait in SYN-SENT. They are clients of
/// this listener, not "outbound to this port elsewhere", and the full queue
/// is said.
#[test]
fn clients_waiting_on_a_full_accept_queue_are_its_clients() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let code = "import socket,time\n\
                l=socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n\
                port=l.getsockname()[1]; held=[]\n\
                for _ in range(5):\n\
                \x20   c=socket.socket(); c.setblocking(False)\n\
                \x20   try: c.connect(('127.0.0.1', port))\n\
                \x20   except BlockingIOError: pass\n\
                \x20   held.append(c)\n\
                print(port, flush=True); time.sleep(120)";
    let (_server, mut out) = crate::util::python_in(&netns, code, &[]);
    let port = wait_for_line(&mut out);
    // The queue holds backlog + 1 connections; the others are in SYN-SENT
    // once their SYN is dropped.
    let mut report = serde_json::Value::Null;
    let settled = crate::util::eventually(std::time::Duration::from_secs(10), || {
        report = netns.porthole(&[&port, "--json"]).json();
        report["clients"].as_array().is_some_and(|c| c.len() == 5)
    });
    assert!(settled, "{report:#}");
    assert_eq!(report["outbound"], serde_json::json!([]), "{report:#}");
    let waiting = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["near"].is_null() && c["far"]["state"] == "SYN-SENT")
        .count();
    assert_eq!(waiting, 3, "{report:#}");
    let text = netns.porthole(&[&port]);
    assert!(text.stdout.contains("Clients (5)"), "{}", text.stdout);
    assert!(!text.stdout.contains("Outbound"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!(
            "warning: the accept queue of 127.0.0.1:{port} is full (2 waiting, backlog 1)"
        )),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("3 client(s) wait in SYN-SENT"), "{}", text.stdout);
}

/// With `--netns all`, a client in one namespace of this machine connected
/// through a veth to a server in another has both ends here: it is the
/// server's client with its process and namespace, not a "remote host" and
/// a connection "to this port elsewhere".
#[test]
fn netns_all_pairs_a_client_in_another_namespace_through_a_veth() {
    let Some(server_ns) = crate::util::Netns::create() else { return };
    let Some(client_ns) = crate::util::Netns::create() else { return };
    // Interface names are per namespace: both ends can have one name.
    let status = std::process::Command::new("ip")
        .args(["link", "add", "pv0", "netns", &server_ns.name, "type", "veth"])
        .args(["peer", "name", "pv0", "netns", &client_ns.name])
        .status()
        .expect("ip runs");
    assert!(status.success(), "veth between the namespaces");
    server_ns.run_ok("ip", &["addr", "add", "10.78.0.1/24", "dev", "pv0"]);
    server_ns.run_ok("ip", &["link", "set", "pv0", "up"]);
    client_ns.run_ok("ip", &["addr", "add", "10.78.0.2/24", "dev", "pv0"]);
    client_ns.run_ok("ip", &["link", "set", "pv0", "up"]);
    let port = crate::util::unique_port();
    let _server = crate::util::server_in(&server_ns, "10.78.0.1", port, "hold");
    let code = "import socket,sys,time\n\
                c=socket.create_connection(('10.78.0.1', int(sys.argv[1])), timeout=10)\n\
                print(c.getsockname()[1], flush=True); time.sleep(120)";
    let (client, mut out) = crate::util::python_in(&client_ns, code, &[&port.to_string()]);
    let client_port = wait_for_line(&mut out);

    let port = port.to_string();
    let report = porthole_run(&[&port, "--netns", "all", "--json"]).json();
    let clients = report["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{report:#}");
    let far = &clients[0]["far"];
    assert_eq!(far["local_port"].as_u64().unwrap().to_string(), client_port, "{report:#}");
    let pids: Vec<u64> =
        far["processes"].as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    // `ip netns exec` runs python3 in its place (exec).
    assert_eq!(pids, [u64::from(client.pid())], "{report:#}");
    assert_eq!(report["outbound"], serde_json::json!([]), "{report:#}");
    let text = porthole_run(&[&port, "--netns", "all"]);
    assert!(text.stdout.contains(&format!("(netns {})", client_ns.name)), "{}", text.stdout);
    assert!(!text.stdout.contains("remote host"), "{}", text.stdout);
    assert!(!text.stdout.contains("Outbound"), "{}", text.stdout);
}

/// Sockets on one address: an `SO_REUSEPORT` group of two processes is one
/// service and is said to be one; two processes on one address bound to
/// two interfaces are two services, and clients reach one or the other.
#[test]
fn a_reuseport_group_is_named_and_two_interfaces_are_a_split() {
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "ph0", "type", "veth", "peer", "name", "ph1"]);
    netns.run_ok("ip", &["link", "set", "ph0", "up"]);
    let port = crate::util::unique_port().to_string();
    let code = "import socket,sys,time\n\
                s=socket.socket()\n\
                if sys.argv[2] == 'reuseport':\n\
                \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n\
                \x20   s.bind(('127.0.0.1', int(sys.argv[1])))\n\
                else:\n\
                \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[2].encode())\n\
                \x20   s.bind(('0.0.0.0', int(sys.argv[1]) + 1))\n\
                s.listen(); print('ok', flush=True); time.sleep(120)";
    let mut servers = Vec::new();
    for mode in ["reuseport", "reuseport", "lo", "ph0"] {
        let (server, mut out) = crate::util::python_in(&netns, code, &[&port, mode]);
        assert_eq!(wait_for_line(&mut out), "ok", "{mode}");
        servers.push(server);
    }
    let group = netns.porthole(&[&port]);
    assert!(
        group.stdout.contains(&format!("127.0.0.1:{port}: 2 sockets share it (SO_REUSEPORT)")),
        "{}",
        group.stdout
    );
    assert!(!group.stdout.contains("different processes"), "{}", group.stdout);
    let next = (port.parse::<u16>().unwrap() + 1).to_string();
    let report = netns.porthole(&[&next, "--json"]).json();
    assert_eq!(report["split_listeners"], true, "{report:#}");
    let split = netns.porthole(&[&next]);
    assert!(split.stdout.contains("different processes hold this port"), "{}", split.stdout);
    assert!(!split.stdout.contains("SO_REUSEPORT"), "{}", split.stdout);
}

/// A namespace whose interfaces have no address but loopback (a fresh `ip
/// netns add`, a container without a network) takes no connection from
/// another device, even on `0.0.0.0`: not "exposed" until it has one.
#[test]
fn a_wildcard_listener_in_a_namespace_with_only_loopback_is_not_exposed() {
    let Some(netns) = crate::util::Netns::create() else { return };
    let port = crate::util::unique_port();
    let _server = crate::util::server_in(&netns, "0.0.0.0", port, "hold");
    let port = port.to_string();
    let report = netns.porthole(&[&port, "--json"]).json();
    assert_eq!(report["exposed"], false, "{report:#}");
    assert_eq!(report["only_loopback_addresses"], true, "{report:#}");
    let text = netns.porthole(&[&port]);
    assert!(
        text.stdout
            .contains("loopback only: no interface of this network namespace has an address"),
        "{}",
        text.stdout
    );
    // The same from outside, with --netns NAME.
    let named = porthole_run(&[&port, "--netns", &netns.name, "--json"]).json();
    assert_eq!(named["exposed"], false, "{named:#}");

    netns.run_ok("ip", &["link", "add", "ph0", "type", "veth", "peer", "name", "ph1"]);
    netns.run_ok("ip", &["addr", "add", "10.79.1.1/24", "dev", "ph0"]);
    let report = netns.porthole(&[&port, "--json"]).json();
    assert_eq!(report["exposed"], true, "{report:#}");
    assert_eq!(report["only_loopback_addresses"], false, "{report:#}");
}

#[test]
fn an_ipv4_client_of_a_v4_mapped_listener_is_shown_as_tcp() {
    // The listener is an AF_INET6 socket on ::ffff:127.0.0.1; the client
    // connects with an AF_INET socket. Each row names its own socket's family.
    let (_server, mut ready) = python(
        "import socket,time\n\
         s=socket.socket(socket.AF_INET6); s.bind(('::ffff:127.0.0.1',0)); s.listen()\n\
         c=socket.socket(socket.AF_INET); c.connect(('127.0.0.1',s.getsockname()[1]))\n\
         a,_=s.accept(); print(s.getsockname()[1], c.getsockname()[1]); time.sleep(60)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let (port, client_port) = line.split_once(' ').expect("two ports");
    let text = porthole_run(&[port]);
    assert_eq!(text.code, 0, "{text:?}");
    let row = text
        .stdout
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{client_port} ")))
        .unwrap_or_else(|| panic!("no client row:\n{}", text.stdout));
    assert!(row.trim_start().starts_with("tcp "), "the client socket is AF_INET: {row}");
    let listening = text.stdout.lines().find(|l| l.contains("[::ffff:127.0.0.1]:")).unwrap();
    assert!(listening.trim_start().starts_with("tcp6 "), "the listener is AF_INET6: {listening}");

    let report = porthole_run(&[port, "--json"]).json();
    let client = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["far"]["local_port"].as_u64() == client_port.parse().ok())
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(client["far"]["family"], "ipv4", "{client:#}");
    assert_eq!(client["near"]["family"], "ipv6", "{client:#}");
}

#[test]
fn a_loopback_client_that_closed_is_not_called_a_remote_host() {
    // The server never accepts; the client connects and closes. Once its
    // FIN-WAIT-2 end expires (after tcp_fin_timeout, set to 1 s in a private
    // namespace), the server's end waits in CLOSE-WAIT in the accept queue
    // with no client socket left on this machine.
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("sysctl", &["-q", "-w", "net.ipv4.tcp_fin_timeout=1"]);
    let (_server, mut ready) = crate::util::python_in(
        &netns,
        "import socket,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
         c=socket.create_connection(('127.0.0.1',s.getsockname()[1]))\n\
         p=c.getsockname()[1]; c.close()\n\
         print(s.getsockname()[1], p); time.sleep(60)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let (port, client_port) = line.split_once(' ').expect("two ports");
    let client = format!("127.0.0.1:{client_port} ");
    let mut last = String::new();
    let gone = crate::util::eventually(std::time::Duration::from_secs(30), || {
        let text = netns.porthole(&[port]);
        last = text.stdout.lines().find(|l| l.contains(&client)).unwrap_or_default().to_string();
        !last.contains("no process")
    });
    assert!(gone, "the client's end never expired: {last}");
    assert!(!last.contains("remote host"), "the client was on this machine: {last}");
    assert!(last.contains("this machine (the client closed its end)"), "{last}");
}

/// A URL pasted where `porthole PORT` takes HOST:PORT is named as one, with
/// the HOST:PORT in it, and its password is never echoed: it read as host
/// `redis` and a port `//:secret@…` that is not a number, quoted whole.
#[test]
fn a_url_given_as_the_port_is_named_with_its_host_and_port() {
    let output = porthole_run(&["redis://:secret@127.0.0.1:6379/0"]);
    crate::util::assert_usage_error(&output, "a URL");
    assert!(output.stderr.contains("write 127.0.0.1:6379"), "{output:?}");
    assert!(!output.stderr.contains("secret"), "{output:?}");
}

/// A port typed as other tools write it: `:3000` (lsof, ss), `*:3000`
/// (ss and netstat print wildcard listeners so), `3000/udp` (fuser,
/// /etc/services, porthole's own audit). Each was refused as a bad host or
/// port; the transport suffix now selects as `-t`/`-u` do.
#[test]
fn a_port_written_as_lsof_ss_or_fuser_write_it_is_taken() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let _udp = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let transports = |typed: &str| {
        let output = porthole_run(&[typed, "--json"]);
        assert_eq!(output.code, 0, "{typed}: {output:?}");
        let report = output.json();
        let mut seen: Vec<String> = report["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|listener| listener["protocol"].as_str().unwrap().to_string())
            .collect();
        seen.sort();
        seen
    };
    for typed in [format!(":{port}"), format!("*:{port}"), format!("127.0.0.1:{port}")] {
        assert_eq!(transports(&typed), ["tcp", "udp"], "{typed}");
    }
    assert_eq!(transports(&format!("{port}/udp")), ["udp"]);
    assert_eq!(transports(&format!("*:{port}/TCP")), ["tcp"]);
    assert_eq!(transports(&format!("127.0.0.1:{port}/tcp")), ["tcp"]);
    let both = porthole_run(&[&format!("{port}/tcp"), "-u"]);
    assert_eq!(both.code, 2, "{both:?}");
    assert_eq!(
        both.stderr,
        format!("porthole: '{port}/tcp': /tcp after the port and --udp ask for both; give one\n")
    );
}

/// A TCP socket that connected to itself (bound, then connected to its own
/// address: a simultaneous open) is the one end of its connection: it is
/// not said to be served by itself, and the JSON marks it.
#[test]
fn a_socket_connected_to_itself_is_said_to_be_so_not_served_by_itself() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    let own = socket.local_addr().unwrap();
    socket.connect(&own).expect("a simultaneous open with itself");
    let port = own.as_socket().unwrap().port();
    let output = porthole_run(&[&format!("127.0.0.1:{port}")]);
    assert_eq!(output.code, 0, "it holds the port: {output:?}");
    assert!(
        output.stdout.contains(&format!("to itself (127.0.0.1:{port} on both ends")),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("served by"), "{}", output.stdout);
    let report = porthole_run(&[&port.to_string(), "--json"]).json();
    let ends = report["local_ends"].as_array().unwrap();
    assert_eq!(ends.len(), 1, "{report:#}");
    assert_eq!(ends[0]["connected_to_itself"], true, "{report:#}");
    assert!(ends[0]["far"].is_null(), "{report:#}");
}

/// The source port of a client connection that closed (TIME-WAIT, no
/// process left) names the connection and the server it talked to, in
/// text and JSON; the port is not held.
#[test]
fn a_closed_client_port_in_time_wait_names_its_connection_and_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let (accepted, _) = listener.accept().unwrap();
    // The client closes first, so its end is the one left in TIME-WAIT.
    drop(client);
    let mut buffer = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut &accepted, &mut buffer).unwrap(), 0, "the client's FIN");
    drop(accepted);
    let endpoint = format!("127.0.0.1:{client_port}");
    let mut report = serde_json::Value::Null;
    let ours = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        report["time_wait_connections"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|c| c["connection"]["remote_port"] == server_port)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let settled = crate::util::eventually(std::time::Duration::from_secs(30), || {
        report = porthole_run(&[&endpoint, "--json"]).json();
        !ours(&report).is_empty()
    });
    assert!(settled, "the client's end never showed in TIME-WAIT: {report:#}");
    let ours = ours(&report);
    assert_eq!(ours.len(), 1, "{report:#}");
    let pids: Vec<u64> = ours[0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|server| server["processes"].as_array().unwrap())
        .map(|process| process["pid"].as_u64().unwrap())
        .collect();
    assert!(crate::util::only_this_process_and_its_children(&pids), "{report:#}");
    let text = porthole_run(&[&endpoint]);
    assert!(
        text.stdout.contains(&format!(
            "a closed tcp connection from 127.0.0.1:{client_port} to 127.0.0.1:{server_port} (server: "
        )),
        "{}",
        text.stdout
    );
    // The check it points to runs as printed and answers about the address
    // the closed connection used (SO_REUSEADDR or not, it is an answer).
    let command = crate::util::printed_after(&text.stdout, "whether a server can bind it now:");
    assert_eq!(command, format!("porthole check --bind {endpoint}"), "{}", text.stdout);
    let check = crate::util::run_as_printed(command, " --json");
    assert_ne!(check.code, 2, "`{command}` is not a usage error: {check:?}");
    assert!(check.stdout.contains(&endpoint), "{check:?}");
}

/// A server that closed its listener and half-closed the connection it had
/// accepted (a draining server) holds the port through that connection; its
/// client is on this machine. Nothing listens at either end, so neither is
/// called the server: the port's end was called "the client side" of a
/// connection "served by" the client. The client's CLOSE-WAIT is said.
/// Once the server closes that end too, only the kernel holds it (an
/// orphaned FIN-WAIT-2): exit 1, as for TIME-WAIT; it was 0, "held".
#[test]
fn an_accepted_connection_outliving_its_listener_is_not_called_a_client() {
    let (server, mut ready) = python(
        "import signal,socket,time\n\
         s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
         c=socket.create_connection(s.getsockname()); a,_=s.accept()\n\
         port=s.getsockname()[1]; s.close(); a.shutdown(socket.SHUT_WR)\n\
         signal.signal(signal.SIGUSR1, lambda *_: a.close())\n\
         print(port, c.getsockname()[1], flush=True)\n\
         while True: time.sleep(1)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let (port, client_port) = line.split_once(' ').expect("two ports");
    let client = format!("127.0.0.1:{client_port}");
    let mut row = String::new();
    let said = crate::util::eventually(std::time::Duration::from_secs(30), || {
        let text = porthole_run(&[port]);
        row = text.stdout.lines().find(|l| l.contains(&client)).unwrap_or_default().to_string();
        row.contains("CLOSE-WAIT")
    });
    assert!(said, "the client's CLOSE-WAIT is not said: {row}");
    assert!(!row.contains("client side") && !row.contains("served by"), "{row}");
    assert!(row.contains("nothing listens on either end"), "{row}");
    assert!(row.contains("[FIN-WAIT-2]"), "{row}");
    let report = porthole_run(&[port, "--json"]).json();
    assert_eq!(report["local_end_servers"], serde_json::json!([]), "{report:#}");
    let ours = report["local_ends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|end| end["near"]["remote_port"].as_u64() == client_port.parse().ok())
        .cloned()
        .unwrap_or_else(|| panic!("no local end to {client}: {report:#}"));
    assert_eq!(ours["far"]["state"], "CLOSE-WAIT", "{report:#}");
    assert_eq!(report["held"], true, "the server still holds its end: {report:#}");

    let signalled = std::process::Command::new("kill")
        .args(["-USR1", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let mut text = porthole_run(&[port]);
    let orphaned = crate::util::eventually(std::time::Duration::from_secs(30), || {
        text = porthole_run(&[port]);
        text.stdout.lines().any(|l| l.contains(&client) && l.contains("of no process with"))
    });
    assert!(orphaned, "the server's end never became an orphan: {text:?}");
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.contains("only closing connections hold port"), "{text:?}");
}

/// A UDP server's connected socket on the port (one per peer, as QUIC and
/// DNS servers keep them) whose loopback peer has no socket: `connect()`
/// only named it, so nothing says a client closed anything.
#[test]
fn a_connected_udp_socket_whose_loopback_peer_has_no_socket_is_not_said_closed() {
    let (_server, mut ready) = python(
        "import socket,time\n\
         D=socket.SOCK_DGRAM; R=(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         u=socket.socket(socket.AF_INET,D); u.setsockopt(*R); u.bind(('127.0.0.1',0))\n\
         gone=socket.socket(socket.AF_INET,D); gone.bind(('127.0.0.1',0))\n\
         c=socket.socket(socket.AF_INET,D); c.setsockopt(*R); c.bind(u.getsockname())\n\
         c.connect(gone.getsockname()); peer=gone.getsockname()[1]; gone.close()\n\
         print(u.getsockname()[1], peer, flush=True); time.sleep(120)",
        &[],
    );
    let line = wait_for_line(&mut ready);
    let (port, peer) = line.split_once(' ').expect("two ports");
    let text = porthole_run(&[port]);
    assert_eq!(text.code, 0, "{text:?}");
    let peer = format!("127.0.0.1:{peer} ");
    let row = text.stdout.lines().find(|l| l.contains(&peer)).unwrap_or_default();
    assert!(row.contains("this machine (no socket has that address now)"), "{}", text.stdout);
    assert!(!row.contains("closed"), "{}", text.stdout);
}

/// A listener sent over a Unix socket with `SCM_RIGHTS`, its sender's copy
/// closed, not yet received: no process holds it. The row shows `?`, as the
/// one stderr line that explains it says ("shown as ?"; it said "none"),
/// and names the process holding the Unix socket it may be queued on (its
/// name, another user's text, escaped); `ls` says the same on stderr, and
/// the JSON lists that socket under `in_flight`.
#[test]
fn a_listener_in_flight_on_a_unix_socket_names_the_socket_s_holder() {
    let Some(netns) = crate::util::Netns::create() else { return };
    // The sender names itself with control characters first.
    let code = format!(
        "import ctypes\nctypes.CDLL(None).prctl(15, b'\\x1b[31mev\\xe2\\x80\\xaeil', 0, 0, 0)\n{}",
        crate::ls::IN_FLIGHT
    );
    let (_sender, mut ready) = crate::util::python_in(&netns, &code, &[]);
    let port = wait_for_line(&mut ready);
    let output = netns.porthole(&[&port]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.contains(
            "? (no process holds it: it may be in flight on a Unix socket held by \\x1b[31mev\\u202eil (pid "
        ),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains('\x1b') && !output.stderr.contains('\x1b'), "{output:?}");
    let kernel_only = if crate::util::root_is_refused_some_descriptors() {
        "; if none does, no process holds them"
    } else {
        "(shown as ?): no process holds them"
    };
    assert!(output.stderr.contains(kernel_only), "{output:?}");
    let report = netns.porthole(&[&port, "--json"]).json();
    let in_flight = report["in_flight"].as_array().expect("in_flight");
    assert_eq!(in_flight.len(), 1, "{report:#}");
    assert_eq!(in_flight[0]["descriptors"], 1, "{report:#}");
    assert_eq!(in_flight[0]["name"], "\u{1b}[31mev\u{202e}il", "{report:#}");
    assert!(report["listeners"][0]["processes"].as_array().unwrap().is_empty(), "{report:#}");
    let listing = netns.porthole(&["ls"]);
    assert!(
        listing.stderr.contains("1 descriptor(s) in flight on a Unix socket (inode "),
        "{listing:?}"
    );
}

/// Socket activation with a launcher that stays (as systemd does): the
/// launcher binds, starts the service with the socket as descriptor 3 and
/// `LISTEN_PID`/`LISTEN_FDS` set, and keeps its own copy. Both hold the
/// listener; the service is the one `LISTEN_PID` names, and the launcher is
/// said to have started it.
#[test]
fn a_socket_activated_service_is_told_from_the_launcher_that_started_it() {
    let code = "import ctypes, os, signal, socket, sys, time\n\
                l=socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
                child=os.fork()\n\
                if child == 0:\n\
                \x20   ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n\
                \x20   os.dup2(l.fileno(), 3); os.set_inheritable(3, True)\n\
                \x20   env=dict(os.environ, LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n\
                \x20   os.execve(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)'], env)\n\
                print(l.getsockname()[1], child, flush=True); time.sleep(120)";
    let (launcher, mut out) = python(code, &[]);
    let line = wait_for_line(&mut out);
    let (port, service) = line.split_once(' ').expect("port and pid");
    let listener_pids = |report: &serde_json::Value| -> Vec<(u64, serde_json::Value)> {
        report["listeners"][0]["processes"]
            .as_array()
            .map(|all| {
                all.iter().map(|p| (p["pid"].as_u64().unwrap(), p["listen_fds"].clone())).collect()
            })
            .unwrap_or_default()
    };
    let mut report = serde_json::Value::Null;
    // The service holds the socket once it has exec'd with its environment.
    let started = crate::util::eventually(std::time::Duration::from_secs(30), || {
        report = porthole_run(&[port, "--json"]).json();
        listener_pids(&report).iter().any(|(_, fds)| *fds == 1)
    });
    assert!(started, "{report:#}");
    let mut pids = listener_pids(&report);
    pids.sort_by_key(|(pid, _)| *pid);
    let mut expected = vec![
        (u64::from(launcher.pid()), serde_json::Value::Null),
        (service.parse::<u64>().unwrap(), serde_json::json!(1)),
    ];
    expected.sort_by_key(|(pid, _)| *pid);
    assert_eq!(pids, expected, "{report:#}");
    // `ls` reads the environment for its JSON forms, where it is shown.
    let listing = porthole_run(&["ls", "--port", port, "--json"]).json();
    let listed: Vec<serde_json::Value> = listing
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|socket| socket["processes"].as_array().cloned().unwrap_or_default())
        .filter(|process| process["pid"].as_u64() == service.parse().ok())
        .map(|process| process["listen_fds"].clone())
        .collect();
    assert_eq!(listed, [serde_json::json!(1)], "{listing:#}");
    let text = porthole_run(&[port]).stdout;
    // Each owner's label, up to the next owner.
    let label_of = |pid: &str| -> String {
        let start = text.find(&format!("(pid {pid},")).unwrap_or_else(|| panic!("{text}"));
        text[start..].split(", python3 (").next().unwrap_or_default().to_string()
    };
    assert!(
        label_of(service).contains("): the service, started with this socket (LISTEN_PID)"),
        "{text}"
    );
    assert!(
        label_of(&launcher.pid().to_string())
            .contains(&format!("): started pid {service} with it")),
        "{text}"
    );
}

/// An owner in a PID namespace of its own (`unshare -p -f --mount-proc`):
/// the pid shown is the pid here, which `kill` and `/proc` take, and the
/// pid inside its namespace, the one its logs show, is labelled as such.
#[test]
fn an_owner_in_its_own_pid_namespace_shows_both_pids_labelled() {
    if !crate::util::is_root() {
        crate::util::skip("a PID namespace needs root");
        return;
    }
    let mut unshare = std::process::Command::new("unshare");
    unshare.args(["-p", "-f", "--mount-proc", "--kill-child"]).arg(crate::util::python_binary());
    let (_owner, mut out) = crate::util::python_via(
        unshare,
        "import os, socket, time\n\
         l=socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
         print(l.getsockname()[1], os.getpid(), flush=True); time.sleep(120)",
        &[],
    );
    let line = wait_for_line(&mut out);
    let (port, inner) = line.split_once(' ').expect("port and pid");
    assert_eq!(inner, "1", "the first process of a new PID namespace");
    let report = porthole_run(&[port, "--json"]).json();
    let owner = &report["listeners"][0]["processes"][0];
    let host_pid = owner["pid"].as_u64().expect("a pid here");
    assert_ne!(host_pid, 1, "{report:#}");
    assert!(std::path::Path::new(&format!("/proc/{host_pid}")).exists(), "{report:#}");
    assert_eq!(owner["namespace_pid"], 1, "{report:#}");
    let text = porthole_run(&[port]).stdout;
    assert!(text.contains(&format!("(pid {host_pid}, pid 1 in its PID namespace")), "{text}");
}
