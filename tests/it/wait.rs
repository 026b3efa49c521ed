//! `porthole wait`: readiness against real listeners in private
//! namespaces: a late listener, a dead port that self-connects, `localhost`
//! with an IPv6-only listener, HTTP statuses that change, `--down`, command
//! pass-through, the timeout explanation, bad input, and listeners the
//! kernel answers for while no process serves them (never accepting,
//! stopped, closing every connection, soon after accepting or at once, over
//! TCP, HTTP and Unix sockets) next to slow, deferred, banner-sending and
//! Redis ones that are ready; `--down` against listeners connect cannot
//! reach (DROP rule) and closed ones with TIME-WAIT left; several targets of
//! mixed kinds, `--timeout 0`, a name with several addresses, SIGINT while
//! waiting, and the command taking porthole's place; Unix targets without
//! `unix_diag` and with nothing, a stale socket or a regular file at the
//! path; IPv6 literal URLs with their Host header, and URLs with a fragment
//! or a bare query.

use std::time::{Duration, Instant};

use crate::util::{porthole_run, server_in, server_with_backlog, unique_port, Netns};

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn succeeds_when_a_listener_appears_later() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let netns = std::sync::Arc::new(netns);
    let late = {
        let netns = netns.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(800));
            server_in(&netns, "127.0.0.1", port, "http")
        })
    };
    let started = Instant::now();
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "20s"]);
    let _server = late.join().unwrap();
    assert_eq!(output.code, 0, "{output:?}");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(
        output.stderr.contains(&format!("waiting for 127.0.0.1:{port}: 127.0.0.1:{port} refused")),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains(&format!("ready: 127.0.0.1:{port}")), "{}", output.stderr);
    assert!(output.stdout.is_empty(), "progress goes to stderr");
}

#[test]
fn a_dead_port_in_a_narrow_ephemeral_range_is_never_ready() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("sysctl", &["-w", "net.ipv4.ip_local_port_range=40000 40001"]);
    let output = netns.porthole(&["wait", "127.0.0.1:40000", "--timeout", "1500ms", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let events = lines(&output.stdout);
    let attempts: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "attempt").collect();
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a["ready"] == false), "{events:#?}");
    assert!(
        attempts.iter().any(|a| a["outcome"] == "self-connect"),
        "the probe self-connected at least once: {events:#?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "outcome");
    assert_eq!(last["outcome"], "timeout");
    assert!(last["why"].to_string().contains("self-connect"), "{last:#}");
}

#[test]
fn localhost_with_an_ipv6_only_listener() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "::1", port, "http");
    let output = netns.porthole_with_hosts(
        "127.0.0.1 localhost\n::1 localhost\n",
        &["wait", &format!("localhost:{port}"), "--timeout", "5s", "--json"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let ready: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "attempt" && e["ready"] == true).collect();
    assert_eq!(ready[0]["address"], "::1", "{events:#?}");
    assert_eq!(events.last().unwrap()["outcome"], "ready");
}

#[test]
fn http_readiness_waits_for_the_status_to_change() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "flaky");
    let output = netns.porthole(&[
        "wait",
        &format!("http://127.0.0.1:{port}/health"),
        "--timeout",
        "10s",
        "--interval",
        "100ms",
        "--body",
        "^hel+o$",
        "--json",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let details: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "attempt")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(details[0].contains("HTTP 503"), "{details:#?}");
    assert!(details[0].contains("waiting for 200-399"), "{details:#?}");
    assert!(details.last().unwrap().contains("HTTP 200"), "{details:#?}");

    // A status outside --status is never ready, and the timeout says so.
    let output = netns.porthole(&[
        "wait",
        &format!("http://127.0.0.1:{port}/"),
        "--status",
        "204",
        "--timeout",
        "500ms",
    ]);
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains("HTTP 200 OK (waiting for 204)"), "{}", output.stderr);
}

#[test]
fn down_waits_until_it_stops_answering() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "http");
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(server);
    });
    let output =
        netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--down", "--timeout", "10s"]);
    stopper.join().unwrap();
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(&format!("down: 127.0.0.1:{port}")), "{}", output.stderr);
    // Still up: --down times out.
    let _again = server_in(&netns, "127.0.0.1", port, "http");
    let output =
        netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--down", "--timeout", "400ms"]);
    assert_eq!(output.code, 1);
    assert!(output.stderr.contains("is still up"), "{}", output.stderr);
}

// A bare TCP target is ready when it accepts; nothing is sent, so the
// messages must not speak of an answer that was never asked for.
#[test]
fn plain_tcp_messages_do_not_contradict_themselves() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.starts_with(&format!("ready: {target} after ")), "{}", output.stderr);
    assert!(output.stderr.contains(&format!("({target} connected)")), "{}", output.stderr);
    assert!(!output.stderr.contains("no answer"), "{}", output.stderr);
    let output = netns.porthole(&["wait", &target, "--down", "--timeout", "400ms"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output
        .stderr
        .contains(&format!("waiting for {target} to go down: {target} connected")));
    assert!(output.stderr.contains(&format!("{target} is still up")), "{}", output.stderr);
    assert!(
        output.stderr.contains(&format!("last round: {target} connected")),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("no answer"), "{}", output.stderr);
    assert!(!output.stderr.contains("answering"), "{}", output.stderr);
}

#[test]
fn a_command_that_cannot_start_exits_like_a_shell() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "-q", "--", "porthole-no-such-command"]);
    assert_eq!(output.code, 127, "not found, as sh says it: {output:?}");
    assert_eq!(output.stderr, "porthole: porthole-no-such-command: command not found\n");
    // A name with control characters is shown as every other user's text
    // is (`\x1b`, `\u202e`), not in a second notation (`\u{1b}`), and a
    // quote in it is not escaped as if it were one.
    let output = netns.porthole(&["wait", &target, "-q", "--", "it's-\x1b[31m\u{202e}"]);
    assert_eq!(output.code, 127, "{output:?}");
    assert_eq!(output.stderr, "porthole: it's-\\x1b[31m\\u202e: command not found\n");
    let directory = tempfile::tempdir().unwrap();
    let script = directory.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let output = netns.porthole(&["wait", &target, "-q", "--", script.to_str().unwrap()]);
    assert_eq!(output.code, 126, "found but not executable: {output:?}");
    assert!(output.stderr.ends_with(": permission denied\n"), "{}", output.stderr);

    // The script exists, its interpreter does not: not "command not found".
    let script = directory.path().join("bad-interpreter.sh");
    std::fs::write(&script, "#!/porthole-no-such-interpreter\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = netns.porthole(&["wait", &target, "-q", "--", script.to_str().unwrap()]);
    assert_eq!(output.code, 127, "{output:?}");
    assert!(
        output.stderr.ends_with(
            ": cannot execute: the interpreter on its #! line (or its loader) was not found\n"
        ),
        "{}",
        output.stderr
    );
}

#[test]
fn command_runs_when_ready_and_its_status_passes_through() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "-q", "--", "sh", "-c", "echo ran; exit 7"]);
    assert_eq!(output.code, 7, "{output:?}");
    assert_eq!(output.stdout, "ran\n");
    assert!(output.stderr.is_empty(), "--quiet: {}", output.stderr);

    // On timeout the command does not run.
    let directory = tempfile::tempdir().unwrap();
    let marker = directory.path().join("ran");
    let dead = unique_port();
    let output = netns.porthole(&[
        "wait",
        &format!("127.0.0.1:{dead}"),
        "-t",
        "300ms",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 1);
    assert!(!marker.exists(), "the command must not run after a timeout");
}

#[test]
fn all_or_any_of_several_targets() {
    let Some(netns) = Netns::create() else { return };
    let (up, dead) = (unique_port(), unique_port());
    let _server = server_in(&netns, "127.0.0.1", up, "http");
    let (a, b) = (format!("127.0.0.1:{up}"), format!("127.0.0.1:{dead}"));
    let output = netns.porthole(&["wait", &a, &b, "-t", "400ms"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    // At the timeout each target's state is said: the one that is ready,
    // and why the other is not.
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with(&format!("ready: {a} ("))), "{}", output.stderr);
    let late = lines.iter().position(|l| l.ends_with(&format!(": {b} is not ready")));
    let late = late.unwrap_or_else(|| panic!("{}", output.stderr));
    assert!(lines[late + 1].contains("nothing-listening"), "{}", output.stderr);
    assert_eq!(netns.porthole(&["wait", &a, &b, "-t", "400ms", "--any"]).code, 0);
}

#[test]
fn timeout_explains_why_in_one_or_two_lines() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "-t", "300ms"]);
    assert_eq!(output.code, 1);
    let after: Vec<&str> =
        output.stderr.lines().skip_while(|l| !l.starts_with("timed out")).collect();
    assert!(after[0].starts_with("timed out after"), "{}", output.stderr);
    assert!(after[1].contains("nothing-listening: nothing listens on port"), "{}", output.stderr);
    assert!(after.len() <= 3, "{}", output.stderr);

    // Only the other family listens.
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let output = netns.porthole(&["wait", &format!("[::1]:{port}"), "-t", "300ms"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("family-mismatch: the service listens on 127.0.0.1 only"),
        "{}",
        output.stderr
    );
}

#[test]
fn bad_input_for_every_flag_is_one_line_and_exit_2() {
    for args in [
        vec!["wait"],
        vec!["wait", "localhost"],
        vec!["wait", "1", "--timeout", "x"],
        vec!["wait", "1", "--timeout", "-1s"],
        vec!["wait", "1", "--interval", "0"],
        vec!["wait", "1", "--interval", "1y"],
        vec!["wait", "1", "--max-interval", "10ms"],
        vec!["wait", "1", "--connect-timeout", "0ms"],
        vec!["wait", "http://localhost:1/", "--status", "700"],
        vec!["wait", "http://localhost:1/", "--status", "300-200"],
        vec!["wait", "http://localhost:1/", "--body", "("],
        vec!["wait", "1", "--body", "ok"],
        vec!["wait", "unix:/run/app.sock", "--status", "200"],
        vec!["wait", "http://localhost:1/", "--down", "--status", "503"],
        vec!["wait", "1", "--json", "--quiet"],
        vec!["wait", "1", "--bogus"],
        vec!["wait", "unix:"],
    ] {
        let output = porthole_run(&args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
    }
}

/// `wait $(seq 1 3000) --timeout 1s` ran for minutes (each target pending
/// at the timeout is diagnosed in turn); more than 256 targets is refused at
/// once, naming the limit.
#[test]
fn too_many_targets_are_refused_at_once() {
    let ports: Vec<String> = (1..=257).map(|port| port.to_string()).collect();
    let mut args = vec!["wait", "--timeout", "1s"];
    args.extend(ports.iter().map(String::as_str));
    let output = porthole_run(&args);
    crate::util::assert_usage_error(&output, "257 targets");
    assert!(
        output.stderr.starts_with("porthole: 257 targets: porthole wait takes at most 256 at once"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty(), "{}", output.stdout);
}

#[test]
fn help_has_examples() {
    for command in ["wait", "check"] {
        let output = porthole_run(&[command, "--help"]);
        assert_eq!(output.code, 0);
        assert!(output.stdout.contains("Examples:"), "{}", output.stdout);
        assert!(output.stdout.contains("Exit status"), "{}", output.stdout);
    }
}

// The explanation of a timeout marks a command with `$ ` as `check` does,
// and running it as printed makes the target ready.
#[test]
fn a_timeout_explained_by_a_down_loopback_prints_the_command_that_fixes_it() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    netns.run_ok("ip", &["link", "set", "lo", "down"]);
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("loopback-down: the loopback interface lo is down"),
        "{output:?}"
    );
    let fix = output.stderr.lines().find_map(|l| l.trim().strip_prefix("fix: $ "));
    assert_eq!(fix, Some("ip link set lo up"), "{}", output.stderr);
    let status = netns.command("sh").args(["-c", fix.unwrap()]).status().unwrap();
    assert!(status.success());
    let output = netns.porthole(&["wait", &target, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");

    // A step in words carries no `$ `.
    let nothing = format!("127.0.0.1:{}", unique_port());
    let output = netns.porthole(&["wait", &nothing, "--timeout", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("  fix: start the service"), "{}", output.stderr);
}

#[test]
fn netns_waits_inside_a_named_namespace_and_runs_the_command_here() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let target = format!("127.0.0.1:{port}");

    // Nothing listens in the caller's namespace.
    let here = porthole_run(&["wait", &target, "--timeout", "1s", "-q"]);
    assert_eq!(here.code, 1, "{here:?}");

    // Inside the named one it is ready, and the command runs in the
    // caller's namespace, not the one polled.
    let ours = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
    let output = porthole_run(&[
        "wait",
        &target,
        "--netns",
        &netns.name,
        "--timeout",
        "10s",
        "--",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stdout.trim(), ours.to_string_lossy(), "{output:?}");
    assert!(output.stderr.contains(&format!("ready: {target}")), "{output:?}");

    // JSON Lines report the rounds made inside.
    let path = format!("/run/netns/{}", netns.name);
    let output = porthole_run(&["wait", &target, "--netns", &path, "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    assert_eq!(events.last().unwrap()["outcome"], "ready", "{events:#?}");
    assert!(events.iter().any(|e| e["ready"] == true), "{events:#?}");
}

#[test]
fn netns_values_that_are_not_one_namespace_are_usage_errors() {
    for bad in ["nosuch", "/etc/passwd", "/proc/self/ns/mnt", "all", ""] {
        let output = porthole_run(&["wait", "8080", "--netns", bad, "--timeout", "1s"]);
        crate::util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

// The kernel completes the handshake for a listener and queues the
// connection whether or not any process will take it: connect() alone
// said "ready" for each of these.

/// `wait` on `target` that must time out, returning its stderr.
fn times_out(netns: &Netns, target: &str) -> String {
    let output = netns.porthole(&["wait", target, "--timeout", "3s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains(&format!("{target} is not ready")), "{}", output.stderr);
    output.stderr
}

#[test]
fn a_listener_that_never_accepts_is_not_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 1);
    let target = format!("127.0.0.1:{port}");
    let stderr = times_out(&netns, &target);
    assert!(
        stderr.contains(&format!(
            "waiting for {target}: {target} connected (queued by the kernel; no process accepted it within 1000 ms)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("  not-accepted: "), "{stderr}");
    // Our own queued connections fill the backlog of 1: the diagnosis
    // names the full queue.
    assert!(stderr.contains("accept-queue-full: the accept queue of"), "{stderr}");
    assert!(stderr.contains("fix: "), "{stderr}");
}

/// A holder waiting in the kernel (state D) accepts nothing: the timeout
/// said to fix its accept loop. It names the wait, and the printed command
/// that shows where in the kernel it waits runs as printed.
#[test]
fn a_server_in_uninterruptible_sleep_is_named_not_its_accept_loop() {
    let Some((_waiter, port, child)) = crate::kill::vfork_waiter() else { return };
    let target = format!("127.0.0.1:{port}");
    let output = crate::util::porthole_run(&["wait", &target, "--timeout", "1s"]);
    let _ = porthole::sys::signal::send(child, porthole::sys::signal::Signal::KILL);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("is in uninterruptible sleep (state D)"), "{output:?}");
    assert!(!output.stderr.contains("fix the server's accept loop"), "{output:?}");
    let command = crate::util::printed_after(&output.stderr, "fix: $ ");
    let ran = crate::util::run_as_printed(command, "");
    assert_eq!(ran.code, 0, "`{command}`: {ran:?}");
}

#[test]
fn a_stopped_server_is_not_ready_and_the_fix_resumes_it() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_in(&netns, "127.0.0.1", port, "silent");
    let pid = server.pid().to_string();
    let target = format!("127.0.0.1:{port}");
    netns.run_ok("kill", &["-STOP", &pid]);
    let stderr = times_out(&netns, &target);
    assert!(stderr.contains("  not-accepted: "), "{stderr}");
    assert!(stderr.contains(&format!("process-stopped: python3 (pid {pid})")), "{stderr}");
    let fix = format!("  fix: $ kill -CONT {pid}");
    assert!(stderr.lines().any(|line| line == fix), "{stderr}");
    // The fix runs as printed, and then the server is ready.
    netns.run_ok("kill", &["-CONT", &pid]);
    let output = netns.porthole(&["wait", &target, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn a_server_that_closes_every_connection_is_not_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "close");
    let target = format!("127.0.0.1:{port}");
    let stderr = times_out(&netns, &target);
    assert!(
        stderr.contains(&format!(
            "waiting for {target}: {target} connected (closed the connection without answering)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("  fix: look at the server's logs"), "{stderr}");
    assert!(!stderr.contains("not-accepted"), "it did accept: {stderr}");
}

#[test]
fn a_server_that_resets_every_connection_is_counted_as_it_was_seen() {
    // connect() itself returns ECONNRESET when the reset comes before it
    // returns: such an attempt was still a connection the server took, so
    // the drops counted can never be more than the connections made.
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "reset");
    for target in [format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}/")] {
        let stderr = times_out(&netns, &target);
        let line = stderr
            .lines()
            .find(|line| line.starts_with("  accepted-closed: "))
            .unwrap_or_else(|| panic!("no accepted-closed line: {stderr}"));
        let counts = line
            .split_once("every connection (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .and_then(|(counts, _)| counts.split_once(" of "))
            .unwrap_or_else(|| panic!("every connection was reset: {line}"));
        assert_eq!(counts.0, counts.1, "{line}");
        assert!(line.contains("the server accepted and reset every"), "{line}");
        assert!(stderr.contains("  fix: look at the server's logs"), "{stderr}");
    }
}

#[test]
fn a_redirect_left_out_of_the_statuses_says_where_it_leads() {
    // Redirects are never followed: a 302 that --status leaves out names
    // its Location, and the URL it names is the one that becomes ready.
    let (_server, mut ready) = crate::util::python(crate::audit_fixes::REDIRECTING, &["login"]);
    let port = crate::util::wait_for_line(&mut ready);
    let root = format!("http://127.0.0.1:{port}/");
    let output = crate::util::porthole_run(&["wait", &root, "--status", "200", "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output
            .stderr
            .contains("HTTP 302 Found (waiting for 200; it redirects to /login, not followed)"),
        "{}",
        output.stderr
    );
    let login = format!("http://127.0.0.1:{port}/login");
    let output = crate::util::porthole_run(&["wait", &login, "--status", "200", "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
    // By default a redirect is ready, as before.
    let output = crate::util::porthole_run(&["wait", &root, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn a_server_that_accepts_late_is_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "slow");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--timeout", "10s", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let attempts: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "attempt").collect();
    assert_eq!(attempts.len(), 1, "ready on the first attempt: {events:#?}");
    assert_eq!(attempts[0]["ready"], true, "{events:#?}");
}

#[test]
fn a_listener_with_room_in_its_queue_that_never_accepts_is_named() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 64);
    let target = format!("127.0.0.1:{port}");
    let stderr = times_out(&netns, &target);
    assert!(stderr.contains("  not-accepted: "), "{stderr}");
    let named = format!(
        "connection(s) wait in the accept queue of {target} (backlog 64): the kernel completed them, python3 (pid {}) does not accept them",
        server.pid()
    );
    assert!(stderr.contains("  not-responding: "), "{stderr}");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("  fix: fix the server's accept loop"), "{stderr}");
}

/// A `TCP_DEFER_ACCEPT` listener on port `argv[1]` of 127.0.0.1 that
/// accepts and keeps every connection, printing `ok` once it listens.
const DEFERRING_LISTENER: &str = "import socket,sys\n\
     s=socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 30)\n\
     s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16); print('ok', flush=True)\n\
     held=[]\n\
     while True: held.append(s.accept()[0])";

// TCP_DEFER_ACCEPT (nginx `listen … deferred`) keeps the connection a
// request socket until data arrives, and `wait` sends none: it must not be
// taken for a queue nobody empties.
#[test]
fn a_deferred_accept_listener_is_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) =
        crate::util::python_in(&netns, DEFERRING_LISTENER, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

// The same deferring listener with its process stopped: the kernel still
// completes the handshake, so `wait` counted it ready; a deferred
// connection is now held against a listener whose every holder is stopped,
// and the timeout names the stopped process with the fix that resumes it.
#[test]
fn a_deferred_accept_listener_whose_process_is_stopped_is_not_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (server, mut ready) =
        crate::util::python_in(&netns, DEFERRING_LISTENER, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let pid = server.pid().to_string();
    let target = format!("127.0.0.1:{port}");
    netns.run_ok("kill", &["-STOP", &pid]);
    let stderr = times_out(&netns, &target);
    assert!(stderr.contains(&format!("process-stopped: python3 (pid {pid})")), "{stderr}");
    let fix = format!("  fix: $ kill -CONT {pid}");
    assert!(stderr.lines().any(|line| line == fix), "{stderr}");
    netns.run_ok("kill", &["-CONT", &pid]);
    let output = netns.porthole(&["wait", &target, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

/// A Unix stream server for tests: `python3 UNIX_SERVER PATH MODE`,
/// printing `ok` once listening. Modes: `hold` (listen, never accept),
/// `late` (accept each connection 300 ms late, then hold it), `close`
/// (accept 200 ms late and close 30 ms after: a worker that crashes on
/// each connection).
const UNIX_SERVER: &str = r#"
import socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(8)
print("ok", flush=True)
held = []
if mode == "hold":
    time.sleep(3600)
while True:
    time.sleep(0.3 if mode == "late" else 0.2)
    connection, _ = server.accept()
    if mode == "close":
        time.sleep(0.03)
        connection.close()
    else:
        held.append(connection)
"#;

/// Starts [`UNIX_SERVER`] in `netns` on a socket in `directory`; returns
/// the server and the `unix:PATH` target.
fn unix_server(
    netns: &Netns,
    directory: &std::path::Path,
    mode: &str,
) -> (crate::util::ChildGuard, String) {
    let path = directory.join(format!("{mode}.sock"));
    let path = path.to_str().unwrap();
    let (server, mut ready) = crate::util::python_in(netns, UNIX_SERVER, &[path, mode]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    (server, format!("unix:{path}"))
}

// A Unix listener's backlog takes a connection as TCP's does: connect()
// succeeds for a server that never accepts.
#[test]
fn a_unix_listener_that_never_accepts_is_not_ready_and_is_named() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let (server, target) = unix_server(&netns, directory.path(), "hold");
    let stderr = times_out(&netns, &target);
    let path = target.strip_prefix("unix:").unwrap();
    assert!(
        stderr.contains(&format!(
            "waiting for {target}: {path} connected (queued by the kernel; no process accepted it within 1000 ms)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(" connection(s) queued by the kernel stayed in the accept queue"),
        "{stderr}"
    );
    let named = format!(
        "connection(s) wait in the accept queue of {target} (backlog 8): the kernel queued them, python3 (pid {}) does not accept them",
        server.pid()
    );
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("  fix: fix the server's accept loop"), "{stderr}");
}

/// A stopped Unix server leaves connections in its queue as one that never
/// accepts does, but the diagnosis knows why: the timeout names the stopped
/// process and the `kill -CONT` that resumes it, not a generic accept loop.
#[test]
fn a_stopped_unix_server_is_named_with_the_kill_that_resumes_it() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let (server, target) = unix_server(&netns, directory.path(), "late");
    let pid = server.pid().to_string();
    netns.run_ok("kill", &["-STOP", &pid]);
    let stderr = times_out(&netns, &target);
    let stopped = format!("process-stopped: python3 (pid {pid}) holds the socket but is stopped");
    assert!(stderr.contains(&stopped), "{stderr}");
    let fix = format!("  fix: $ kill -CONT {pid}");
    assert!(stderr.lines().any(|line| line == fix), "{stderr}");
    assert!(!stderr.contains("fix the server's accept loop"), "{stderr}");
    netns.run_ok("kill", &["-CONT", &pid]);
    let output = netns.porthole(&["wait", &target, "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn a_unix_server_that_accepts_late_is_ready_and_one_that_closes_is_not() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let (_late, target) = unix_server(&netns, directory.path(), "late");
    let output = netns.porthole(&["wait", &target, "--timeout", "10s", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let attempts: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "attempt").collect();
    assert_eq!(attempts.len(), 1, "ready on the first attempt: {events:#?}");
    assert_eq!(attempts[0]["ready"], true, "{events:#?}");

    let (_closing, target) = unix_server(&netns, directory.path(), "close");
    let stderr = times_out(&netns, &target);
    assert!(stderr.contains("(closed the connection without answering)"), "{stderr}");
    assert!(
        stderr.contains("  accepted-closed: the server accepted and closed every connection ("),
        "{stderr}"
    );
    assert!(!stderr.contains("not-accepted"), "it did accept: {stderr}");
}

/// Accepts each connection at once and closes it 60 ms later: past the
/// 50 ms a probe reads right after connecting, so a look at the socket
/// table then saw a process holding the connection and called it ready.
const ACCEPT_THEN_CLOSE: &str = r#"
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    time.sleep(0.06)
    connection.close()
"#;

#[test]
fn a_server_that_accepts_and_closes_soon_after_is_not_ready_over_tcp_or_http() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) =
        crate::util::python_in(&netns, ACCEPT_THEN_CLOSE, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    for target in [format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}/")] {
        let stderr = times_out(&netns, &target);
        // An HTTP round near the deadline may end before the close, with
        // no answer: it is then not counted as closed. The request the
        // server leaves unread turns its close into a reset (RST), unless
        // the close came before the request did.
        let verbs: &[&str] = if target.starts_with("http:") {
            &["reset ", "closed or reset ", "closed "]
        } else {
            &["closed "]
        };
        assert!(
            verbs.iter().any(|verb| stderr
                .contains(&format!("  accepted-closed: the server accepted and {verb}"))),
            "{stderr}"
        );
        assert!(stderr.contains("  fix: look at the server's logs"), "{stderr}");
    }
}

// Servers that speak first and then wait (SSH, SMTP) or wait silently
// for a command (Redis) are ready: only an EOF or a reset before any byte
// is a dropped connection.
#[test]
fn servers_that_send_a_banner_or_wait_silently_are_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_banner, mut ready) = crate::util::python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)\n\
         print('ok', flush=True)\n\
         held=[]\n\
         while True:\n    c=s.accept()[0]; c.sendall(b'220 mail ESMTP ready\\r\\n'); held.append(c)",
        &[&port.to_string()],
    );
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");

    if !crate::util::installed("redis-server") {
        crate::util::skip("redis-server not installed");
        return;
    }
    let redis_port = unique_port();
    let mut redis = netns.command("redis-server");
    redis.args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
    redis.args(["--appendonly", "no", "--daemonize", "no", "--logfile", ""]);
    let _redis = crate::util::ChildGuard::spawn(redis.stdout(std::process::Stdio::null()));
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{redis_port}"), "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
}

// connect() is the wrong judge of "down": a listener whose accept queue is
// full, or behind a DROP rule, times out as a dead port does.
#[test]
fn down_sees_a_listener_that_connect_cannot_reach() {
    let Some(netns) = Netns::create() else { return };
    if !crate::util::installed("nft") {
        crate::util::skip("nft not installed");
        return;
    }
    let port = unique_port();
    let _server = server_with_backlog(&netns, "127.0.0.1", port, "hold", 8);
    netns.run_ok(
        "nft",
        &[&format!(
            "add table inet t; add chain inet t input {{ type filter hook input priority 0; }}; add rule inet t input tcp dport {port} drop"
        )],
    );
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--down", "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains(&format!(
            "waiting for {target} to go down: {target} timeout; the socket table has a listener on {target}"
        )),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(&format!(
            "  still-listening: the socket table has a listener on {target} (last round: {target} timeout)"
        )),
        "{}",
        output.stderr
    );
    let events = netns.porthole(&["wait", &target, "--down", "--timeout", "1s", "--json"]);
    let events = lines(&events.stdout);
    assert!(events.iter().filter(|e| e["type"] == "attempt").all(|e| e["ready"] == false));
}

#[test]
fn down_after_a_listener_closed_leaving_time_wait() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    // The server closes its connections first (TIME-WAIT on its port),
    // then its listener, and lives on.
    let (_server, mut ready) = crate::util::python_in(
        &netns,
        "import socket,sys,time\n\
         port=int(sys.argv[1])\n\
         s=socket.socket(); s.bind(('127.0.0.1', port)); s.listen(16)\n\
         clients=[socket.create_connection(('127.0.0.1', port)) for _ in range(3)]\n\
         for _ in clients:\n    s.accept()[0].close()\n\
         for c in clients:\n    c.recv(1); c.close()\n\
         s.close(); print('ok', flush=True); time.sleep(3600)",
        &[&port.to_string()],
    );
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let listing = netns.command("ss").args(["-tan", "state", "time-wait"]).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains(&format!("127.0.0.1:{port}")), "TIME-WAIT left: {listing}");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--down", "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains(&format!(
            "down: {target} after 0.0 s ({target} refused; no listener in the socket table)"
        )),
        "{}",
        output.stderr
    );
}

// An address that is not this namespace's has no listener in its table:
// connect alone judges, and the message says so.
#[test]
fn down_judges_an_address_elsewhere_by_connect_and_says_so() {
    let Some(netns) = Netns::create() else { return };
    // 192.0.2.0/24 (TEST-NET-1) is not routed here: unreachable at once.
    let output = netns.porthole(&["wait", "192.0.2.7:80", "--down", "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stderr.contains("judged by connect: the address is not on this machine"),
        "{}",
        output.stderr
    );
}

#[test]
fn several_targets_of_mixed_kinds_where_one_never_comes() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let (tcp, http, dead) = (unique_port(), unique_port(), unique_port());
    let _tcp = server_in(&netns, "127.0.0.1", tcp, "silent");
    let _http = server_in(&netns, "127.0.0.1", http, "http");
    let (_unix, unix) = unix_server(&netns, directory.path(), "late");
    let never = format!("http://127.0.0.1:{dead}/health");
    let targets =
        [format!("127.0.0.1:{tcp}"), format!("http://127.0.0.1:{http}/"), unix, never.clone()];
    let mut args = vec!["wait", "--timeout", "3s", "--json"];
    args.extend(targets.iter().map(String::as_str));
    let output = netns.porthole(&args);
    assert_eq!(output.code, 1, "{output:?}");
    let events = lines(&output.stdout);
    let outcome = events.last().unwrap();
    assert_eq!(outcome["outcome"], "timeout", "{outcome:#}");
    assert_eq!(outcome["pending"], serde_json::json!([never]), "only the dead one: {outcome:#}");
    let why = outcome["why"].as_array().unwrap();
    assert!(why.iter().all(|line| line.as_str().unwrap().starts_with(&never)), "{outcome:#}");
    assert!(why[0].as_str().unwrap().contains("nothing-listening"), "{outcome:#}");
    for target in &targets[..3] {
        assert!(
            events.iter().any(|e| e["target"] == *target && e["ready"] == true),
            "{target} was seen ready: {events:#?}"
        );
    }
    // With --any the first three are enough.
    let mut args = vec!["wait", "--timeout", "3s", "--any"];
    args.extend(targets.iter().map(String::as_str));
    assert_eq!(netns.porthole(&args).code, 0);
}

#[test]
fn timeout_zero_waits_as_long_as_it_takes() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let netns = std::sync::Arc::new(netns);
    let late = {
        let netns = netns.clone();
        std::thread::spawn(move || {
            // Past the 30 s default it would not reach, but past several
            // rounds at the longest interval.
            std::thread::sleep(Duration::from_millis(2500));
            server_in(&netns, "127.0.0.1", port, "silent")
        })
    };
    let output = netns.porthole(&[
        "wait",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "0",
        "--max-interval",
        "300ms",
    ]);
    let _server = late.join().unwrap();
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(&format!("ready: 127.0.0.1:{port}")), "{}", output.stderr);
}

#[test]
fn a_name_with_several_addresses_is_ready_when_one_of_them_is() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let output = netns.porthole_with_hosts(
        "::1 multi\n127.0.0.2 multi\n127.0.0.1 multi\n",
        &["wait", &format!("multi:{port}"), "--timeout", "5s", "--json"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let mut first_round: Vec<(&str, &str, bool)> = events
        .iter()
        .filter(|e| e["type"] == "attempt" && e["round"] == 1)
        .map(|e| {
            (
                e["address"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["ready"].as_bool().unwrap(),
            )
        })
        .collect();
    // In the resolver's order (RFC 6724 sorts them); every one is tried.
    first_round.sort();
    assert_eq!(
        first_round,
        [
            ("127.0.0.1", "connected", true),
            ("127.0.0.2", "refused", false),
            ("::1", "refused", false)
        ],
        "{events:#?}"
    );
}

/// Sends SIGINT to `pid`, as Ctrl-C at a terminal does.
fn interrupt(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a positive pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
}

/// Starts `porthole ARGS…` in `netns` with default signal dispositions,
/// stdout and stderr piped.
fn spawn_porthole(netns: &Netns, args: &[&str]) -> std::process::Child {
    let mut command = netns.command(crate::util::binary().to_str().unwrap());
    crate::util::scrub(&mut command);
    porthole::sys::signal::start_with_default_signals(&mut command);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

// Ctrl-C while polling ends porthole by SIGINT, as the shell expects of
// any command (it reports 130 and stops a script's loop); the command
// after `--` does not run.
#[test]
fn sigint_while_waiting_ends_by_the_signal_and_runs_nothing() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let marker = directory.path().join("ran");
    let target = format!("127.0.0.1:{}", unique_port());
    let mut child = spawn_porthole(
        &netns,
        &["wait", &target, "--timeout", "0", "--", "touch", marker.to_str().unwrap()],
    );
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert_eq!(first, format!("waiting for {target}: {target} refused\n"));
    interrupt(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(2), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(rest, "", "nothing after the signal");
    assert!(!marker.exists(), "the command must not run");
}

// The command replaces porthole: a signal sent to the pid the caller
// started reaches it (Ctrl-C at an interactive command, `docker stop` at
// an entrypoint), instead of killing porthole and orphaning it.
#[test]
fn the_command_takes_porthole_s_place_and_gets_its_signals() {
    use std::io::BufRead;
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let mut child = spawn_porthole(
        &netns,
        &[
            "wait",
            &format!("127.0.0.1:{port}"),
            "-q",
            "--",
            "sh",
            "-c",
            "trap 'echo got SIGINT; exit 5' INT; echo started $$; sleep 30 & wait",
        ],
    );
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, format!("started {}\n", child.id()), "the same process");
    interrupt(child.id());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "got SIGINT\n");
    assert_eq!(status.code(), Some(5));
}

// `/proc/net/unix` has no peer column, so with the procfs backend (forced,
// or where netlink is refused) our end of every Unix connection looked
// queued: a server that accepted at once was never ready, and the timeout
// blamed its accept loop. Not knowing is not held against a target.
#[test]
fn a_unix_server_is_ready_without_unix_diag() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let (_server, target) = unix_server(&netns, directory.path(), "late");
    let output = netns.porthole_env(
        &[("PORTHOLE_BACKEND", "procfs")],
        &["wait", &target, "--timeout", "10s", "--json"],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let attempts: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "attempt").collect();
    assert_eq!(attempts.len(), 1, "ready on the first attempt: {events:#?}");
    assert!(!output.stdout.contains("queued by the kernel"), "{events:#?}");
}

/// An HTTP server on `[::1]` that answers 200 only to a request naming it
/// as a client of `http://[::1]:PORT/` does (`Host: [::1]:PORT`, RFC 9112
/// §3.2) and 421 to any other Host, as a virtual-host server would.
const HOST_CHECKING_SERVER: &str = r#"
import socket, sys
port = int(sys.argv[1])
server = socket.socket(socket.AF_INET6)
server.bind(("::1", port))
server.listen(8)
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = connection.recv(4096)
        if not chunk:
            break
        request += chunk
    hosts = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")[1:]
             if line.lower().startswith(b"host:")]
    if hosts == [b"[::1]:%d" % port]:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    else:
        connection.sendall(b"HTTP/1.1 421 Misdirected Request\r\nContent-Length: 0\r\n\r\n")
    connection.close()
"#;

#[test]
fn an_ipv6_literal_url_is_probed_on_that_address_with_its_host_header() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) =
        crate::util::python_in(&netns, HOST_CHECKING_SERVER, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let url = format!("http://[::1]:{port}/health");
    let output = netns.porthole(&["wait", &url, "--timeout", "5s", "--body", "^ok$", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let events = lines(&output.stdout);
    let attempt = events.iter().find(|e| e["type"] == "attempt").unwrap();
    assert_eq!(attempt["address"], "::1", "{events:#?}");
    assert_eq!(attempt["port"], port, "{events:#?}");
    assert!(attempt["detail"].as_str().unwrap().contains("HTTP 200"), "{events:#?}");
    // The same server through 127.0.0.1 is another address: refused.
    let output = netns.porthole(&["wait", &format!("http://127.0.0.1:{port}/"), "--timeout", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
}

/// An HTTP server that answers 200 only to `GET /health?probe=1` and 400
/// to a request target that is not origin-form (RFC 9112 §3.2.1: a path
/// and a query, no fragment), as strict servers do.
const STRICT_TARGET_SERVER: &str = r##"
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(8)
print("ok", flush=True)
while True:
    connection, _ = server.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = connection.recv(4096)
        if not chunk:
            break
        request += chunk
    target = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
    if not target.startswith(b"/") or b"#" in target:
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    elif target == b"/health?probe=1":
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    else:
        connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    connection.close()
"##;

// A URL's fragment is the client's own and never sent; a query straight
// after the authority is asked for as `/?query`. `wait` sent both as they
// were typed (`GET /health?probe=1#ready`, `GET ?probe=1`), which strict
// servers refuse and Go's net/http answers 404 to: never ready.
#[test]
fn an_http_url_s_fragment_is_not_sent_and_a_bare_query_gets_its_slash() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_server, mut ready) =
        crate::util::python_in(&netns, STRICT_TARGET_SERVER, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let url = format!("http://127.0.0.1:{port}/health?probe=1#ready");
    let output = netns.porthole(&["wait", &url, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("(HTTP 200 OK)"), "{}", output.stderr);
    // The bare query is well-formed now: the server's 404, not its 400.
    let url = format!("http://127.0.0.1:{port}?probe=1");
    let output = netns.porthole(&["wait", &url, "--timeout", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("HTTP 404 Not Found"), "{}", output.stderr);
    // The timeout explains the status as `check` does, with its fix.
    let why = format!("  http-error: 127.0.0.1:{port} answered HTTP 404 Not Found: the connection works; nothing is served at /?probe=1\n  fix: check the path");
    assert!(output.stderr.contains(&why), "{why}\nin {}", output.stderr);
}

// "Nothing listens on the Unix socket PATH" was the whole explanation for
// a path that does not exist (a typo, a directory not made yet), a socket
// file a crashed server left behind, and a regular file; what is at the
// path tells them apart, and is now the line.
#[test]
fn a_unix_target_s_timeout_says_what_is_at_the_path() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("not-made-yet").join("app.sock");
    let stale = directory.path().join("stale.sock");
    // Closing a listener leaves its file behind.
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let regular = directory.path().join("regular.sock");
    std::fs::write(&regular, "").unwrap();
    let targets: Vec<String> = [&missing, &stale, &regular]
        .iter()
        .map(|path| format!("unix:{}", path.display()))
        .collect();
    let mut args = vec!["wait", "--timeout", "2s", "--json"];
    args.extend(targets.iter().map(String::as_str));
    let output = netns.porthole(&args);
    assert_eq!(output.code, 1, "{output:?}");
    let events = lines(&output.stdout);
    let why: Vec<&str> = events.last().unwrap()["why"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    // (start of the line, end of the line): the middle names the inode.
    let expected = [
        (format!("{}: nothing-listening: {} does not exist", targets[0], missing.display()), ""),
        (
            format!("{}: nothing-listening: {} (inode ", targets[1], stale.display()),
            "the server that created it is gone and left it behind (a stale socket file)",
        ),
        (
            format!("{}: nothing-listening: {} (inode ", targets[2], regular.display()),
            ") is a regular file, not a socket",
        ),
    ];
    for (start, end) in &expected {
        assert!(
            why.iter().any(|line| line.starts_with(start.as_str()) && line.ends_with(end)),
            "{start}…{end}\nin {why:#?}"
        );
    }
    // Each attempt's outcome: only the missing path is `no-socket-file`
    // (ENOENT); connecting to a stale socket file or a regular file is
    // refused (ECONNREFUSED).
    for (target, wanted) in targets.iter().zip(["no-socket-file", "refused", "refused"]) {
        let outcomes: std::collections::BTreeSet<&str> = events
            .iter()
            .filter(|event| event["type"] == "attempt" && event["target"] == target.as_str())
            .map(|event| event["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, [wanted].into(), "{target}: {}", output.stdout);
    }
    // The progress line says what is wrong with the missing path, not
    // "refused".
    let output = netns.porthole(&["wait", "--timeout", "300ms", &targets[0]]);
    assert_eq!(output.code, 1, "{output:?}");
    let progress = format!("waiting for {}: {} does not exist\n", targets[0], missing.display());
    assert!(output.stderr.starts_with(&progress), "{}", output.stderr);
}

// `porthole wait --json … | head -1`, or progress piped to a log reader
// that died: the closed pipe ended the run as a broken pipe, exit 0, as if
// the target were ready. Reporting is a side channel: the wait goes on and
// exits with what it found.
#[test]
fn a_reader_that_leaves_does_not_make_a_target_ready() {
    let Some(netns) = Netns::create() else { return };
    let target = format!("127.0.0.1:{}", unique_port());
    for args in [
        vec!["wait", target.as_str(), "-t", "1500ms", "--json"],
        vec!["wait", target.as_str(), "-t", "1500ms"],
    ] {
        let mut child = spawn_porthole(&netns, &args);
        // Both ends closed before the last event or line is written.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}: {status:?}");
    }

    // Ready: the command still runs.
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "silent");
    let directory = tempfile::tempdir().unwrap();
    let marker = directory.path().join("ran");
    let ready = format!("127.0.0.1:{port}");
    let mut child = spawn_porthole(
        &netns,
        &["wait", &ready, "--json", "--", "touch", marker.to_str().unwrap()],
    );
    drop(child.stdout.take());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(marker.exists(), "the command ran");
}

/// A status port that writes one line and hangs up (an agent check, a
/// `daytime`-like service) answered every probe, but its close was taken
/// for "accepted and closed without sending anything": never ready.
#[test]
fn a_server_that_writes_a_line_and_hangs_up_is_ready() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let (_status, mut ready) = crate::util::python_in(
        &netns,
        "import socket,sys\n\
         s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)\n\
         print('ok', flush=True)\n\
         while True:\n    c=s.accept()[0]; c.sendall(b'up 42\\n'); c.close()",
        &[&port.to_string()],
    );
    assert_eq!(crate::util::wait_for_line(&mut ready), "ok");
    let output = netns.porthole(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "5s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("answered \"up 42.\""), "{output:?}");
}

/// A rule that drops what the client sends after its SYN leaves the
/// server's end a request socket, as a `TCP_DEFER_ACCEPT` listener's is:
/// `wait` called it ready though no process could ever get it. Now it
/// waits, names the rule, and the printed fix makes it ready.
#[test]
fn a_rule_that_drops_the_clients_ack_is_not_ready_and_its_printed_fix_is() {
    let Some(netns) = Netns::create() else { return };
    let (_server, port) =
        crate::util::http_server_behind_input_rule(&netns, "ct state established drop");
    let target = format!("127.0.0.1:{port}");
    let output = netns.porthole(&["wait", &target, "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output
        .stderr
        .contains("firewall-drop: a firewall rule drops the packets after the SYN"));
    // The server's end never got the ACK: half-open, never in the queue.
    assert!(output.stderr.contains("stayed half-open (SYN-RECV"), "{output:?}");
    assert!(!output.stderr.contains("stayed in the accept queue"), "{output:?}");
    let fix = output
        .stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("fix: $ "))
        .unwrap_or_else(|| panic!("a printed fix: {output:?}"));
    let ran = netns.command("sh").args(["-c", fix]).output().expect("sh runs");
    assert!(ran.status.success(), "`{fix}`: {}", String::from_utf8_lossy(&ran.stderr));
    let output = netns.porthole(&["wait", &target, "--timeout", "5s"]);
    assert_eq!(output.code, 0, "after `{fix}`: {output:?}");
}

/// A socket file typed as a bare path (as `ls -x` lists it) was read as a
/// host name missing its port: `missing port after '/run/app.sock:'`,
/// quoting a colon never typed. It now names the form that works, and
/// that form runs as printed: a socket file nothing is bound to is not
/// ready, and says so.
#[test]
fn a_bare_socket_path_is_told_the_unix_form_that_works() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("app.sock");
    // Bound, then closed: the file stays and nothing listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let path = path.to_str().unwrap();
    for command in ["wait", "check"] {
        let output = porthole_run(&[command, path]);
        crate::util::assert_usage_error(&output, command);
        let suggested = format!("unix:{path}");
        assert!(output.stderr.contains(&format!("written {suggested}\n")), "{}", output.stderr);
        assert!(!output.stderr.contains(&format!("{path}:'")), "{}", output.stderr);
    }
    let output = porthole_run(&["wait", &format!("unix:{path}"), "--timeout", "300ms"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("nothing-listening"), "{}", output.stderr);
}

/// wait-on's command lines work as they are: `tcp:PORT`, `tcp:HOST:PORT`,
/// `http-get://` and `socket:/PATH`. `wait tcp:PORT` waited for a host
/// named "tcp" and, timed out, blamed name resolution.
#[test]
fn wait_on_targets_are_waited_for_as_wait_on_reads_them() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let _server = server_in(&netns, "127.0.0.1", port, "http");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let accepting = "import socket, sys\nu = socket.socket(socket.AF_UNIX)\nu.bind(sys.argv[1]); u.listen()\nprint('ready', flush=True)\nkept = []\nwhile True:\n    kept.append(u.accept()[0])\n";
    let (_unix, mut ready) = crate::util::python(accepting, &[socket.to_str().unwrap()]);
    crate::util::wait_for_line(&mut ready);
    let targets = [
        format!("tcp:{port}"),
        format!("tcp:localhost:{port}"),
        format!("http-get://127.0.0.1:{port}/"),
        format!(":{port}"),
        format!("{port}/tcp"),
    ];
    for target in &targets {
        let output = netns.porthole(&["wait", target, "--timeout", "10s", "--json"]);
        assert_eq!(output.code, 0, "{target}: {output:?}");
        let events = lines(&output.stdout);
        assert_eq!(events.last().unwrap()["outcome"], "ready", "{target}: {events:#?}");
    }
    let output =
        porthole_run(&["wait", &format!("socket:{}", socket.display()), "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    let file = porthole_run(&["wait", "file:/tmp/ready"]);
    assert_eq!(file.code, 2, "{file:?}");
    assert!(file.stderr.contains("a file, not a network target"), "{file:?}");
}
