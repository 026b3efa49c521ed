//! Hostile text from other users: process names, command lines, Unix
//! socket paths and proxy names full of terminal escape sequences must never
//! reach a terminal raw, and JSON must stay valid and exact.
//! See: issue 9, "Safe to run as root on a shared machine".

use std::process::Command;

use crate::util::{
    is_root, porthole, porthole_run, python_via, run, skip, wait_for_line, ChildGuard, Output,
};

/// A process name with a screen clear, a bidi override and an ESC-backslash
/// string terminator (prctl keeps 15 bytes).
const NAME: &[u8] = b"\x1b[2J\xe2\x80\xaeev\x1b\\x";

/// Run as `nobody`: names itself, binds a Unix socket whose path carries
/// OSC 52 (clipboard write) ended by ESC-backslash, a bidi override, a
/// screen clear, a newline and a byte that is not UTF-8, and a TCP
/// listener; prints the TCP port.
const HOSTILE: &str = r#"
import ctypes, os, socket, sys, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0)
directory = sys.argv[2]
path = directory.encode() + b"/\x1b]52;c;SGVsbG8=\x1b\\\xe2\x80\xaeevil\x1b[2J\n\xff.sock"
unix = socket.socket(socket.AF_UNIX); unix.bind(path); unix.listen()
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
print(tcp.getsockname()[1], flush=True)
time.sleep(120)
"#;

/// The first character that must not reach a terminal: C0 controls other
/// than newline, DEL, C1 controls and bidi controls.
fn raw_control(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, ch)| {
        (ch.is_control() && ch != '\n')
            || matches!(ch, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// Fails with the whole output when stdout or stderr carries a raw control
/// character.
pub(crate) fn assert_terminal_safe(what: &str, output: &Output) {
    for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        if let Some((at, ch)) = raw_control(text) {
            panic!(
                "`{what}` wrote raw {ch:?} at byte {at} of {stream}:\n{text:?}\nfull output: {output:?}"
            );
        }
    }
}

/// The bytes of a `*_bytes` JSON field (base64).
fn decode(field: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = field.as_str().unwrap_or_else(|| panic!("not a base64 string: {field}"));
    base64::engine::general_purpose::STANDARD.decode(text).expect("valid base64")
}

/// Hex of the process name, passed on the command line (no raw ESC in
/// the test's own argv handling).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the hostile process as `nobody`, or `None` (with a recorded skip)
/// when that is impossible here.
fn start_hostile(directory: &std::path::Path) -> Option<(ChildGuard, String)> {
    if !is_root() {
        skip("starting a process as another user needs root");
        return None;
    }
    // The system interpreter: one under /root would not be readable.
    if !std::path::Path::new("/usr/bin/python3").exists() {
        skip("/usr/bin/python3 is missing");
        return None;
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"]);
    // Hostile argv: a window-title OSC ended by BEL, a bidi isolate, a CR
    // and a newline inside one argument.
    let (child, mut out) = python_via(
        command,
        &format!("{HOSTILE}\n# \x1b]0;pwned\x07"),
        &[
            &hex(NAME),
            directory.to_str().expect("UTF-8 temp dir"),
            "\x1b[1;1H\u{2066}spoof\r\nline",
        ],
    );
    let port = wait_for_line(&mut out);
    assert!(port.parse::<u16>().is_ok(), "hostile process did not start: {port:?}");
    Some((child, port))
}

/// A directory `nobody` may create its socket in.
fn shared_directory() -> tempfile::TempDir {
    let directory =
        tempfile::Builder::new().prefix("porthole-hostile-").tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    directory
}

#[test]
fn other_users_text_never_reaches_the_terminal_raw() {
    let directory = shared_directory();
    let Some((child, port)) = start_hostile(directory.path()) else { return };
    let pid = child.pid().to_string();
    let target = format!("127.0.0.1:{port}");
    let runs: Vec<Vec<&str>> = vec![
        vec!["ls"],
        vec!["ls", "-l"],
        vec!["ls", "-x"],
        vec!["ls", "-x", "-l"],
        vec!["ls", "-a", "-l"],
        vec![&port],
        vec!["who", &port],
        vec!["check", &target, "--timeout", "300ms"],
        vec!["wait", &target, "--timeout", "2s"],
        vec!["kill", &port, "--dry-run"],
        // Refused (another user's process): the table and the refusal.
        vec!["kill", &port, "--yes"],
        vec!["audit", "--port", &port, "--timeout", "300ms", "--fail-on", "never"],
    ];
    for args in &runs {
        let output = porthole_run(args);
        let what = args.join(" ");
        assert_terminal_safe(&what, &output);
    }
    // The hostile rows are there, shown escaped: the checks above cannot
    // pass by leaving them out.
    let listing = porthole_run(&["ls", "-x"]);
    let row = listing
        .stdout
        .lines()
        .find(|line| line.contains(&format!("{pid}/")))
        .unwrap_or_else(|| panic!("no row for pid {pid}:\n{}", listing.stdout));
    assert!(row.contains("\\x1b]52;c;SGVsbG8=\\x1b\\"), "{row}");
    // The byte that is not UTF-8 is shown as the byte it is.
    assert!(row.contains("\\u202eevil\\x1b[2J\\n\\xff.sock"), "{row}");
    assert!(row.contains(&format!("{pid}/\\x1b[2J\\u202eev\\x1b\\x")), "{row}");
    let long = porthole_run(&["ls", "-l"]);
    assert!(long.stdout.contains("\\x1b]0;pwned\\x07"), "{}", long.stdout);
    assert!(long.stdout.contains("\\x1b[1;1H\\u2066spoof"), "{}", long.stdout);
    let kill = porthole_run(&["kill", &port, "--dry-run"]);
    assert!(kill.stdout.contains("\\x1b[2J\\u202eev\\x1b\\x"), "{}", kill.stdout);
    // The command line as `ls -l` shows it: a CR or newline inside an
    // argument is shown, not turned into a space that reads as two
    // arguments.
    for shown in [&long.stdout, &kill.stdout] {
        assert!(shown.contains("\\u2066spoof\\r\\nline"), "{shown}");
    }
}

#[test]
fn json_keeps_other_users_text_exact_and_valid() {
    let directory = shared_directory();
    let Some((child, _port)) = start_hostile(directory.path()) else { return };
    let pid = u64::from(child.pid());
    for format in ["--json", "--jsonl"] {
        let output = porthole_run(&["ls", "-x", format]);
        assert_eq!(output.code, 0, "{output:?}");
        // Read on a terminal too: C1 and bidi controls are \u escapes.
        assert_terminal_safe(&format!("ls -x {format}"), &output);
        let records: Vec<serde_json::Value> = if format == "--json" {
            output.json().as_array().expect("array").clone()
        } else {
            output.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON line")).collect()
        };
        let record = records
            .iter()
            .find(|r| r["processes"].as_array().is_some_and(|p| p.iter().any(|p| p["pid"] == pid)))
            .unwrap_or_else(|| panic!("no record for pid {pid}: {}", output.stdout));
        // Exact: the real ESC, BEL and U+202E, escaped only by JSON itself;
        // the byte that is not UTF-8 becomes U+FFFD in the text and the
        // exact bytes are in `path_bytes` (documented).
        let expected = format!(
            "{}/\x1b]52;c;SGVsbG8=\x1b\\\u{202e}evil\x1b[2J\n\u{fffd}.sock",
            directory.path().display()
        );
        assert_eq!(record["path"], expected.as_str(), "{record:#}");
        let mut exact = directory.path().as_os_str().as_encoded_bytes().to_vec();
        exact.extend_from_slice(b"/\x1b]52;c;SGVsbG8=\x1b\\\xe2\x80\xaeevil\x1b[2J\n\xff.sock");
        assert_eq!(decode(&record["path_bytes"]), exact, "{record:#}");
        assert!(record["processes"][0].get("name_bytes").is_none(), "{record:#}");
        assert_eq!(record["processes"][0]["name"], "\x1b[2J\u{202e}ev\x1b\\x");
    }
}

#[test]
fn proxy_names_from_the_api_are_shown_escaped() {
    let directory = tempfile::tempdir().expect("tempdir");
    let config = directory.path().join("proxies.json");
    let name = "pg\x1b]52;c;SGVsbG8=\x1b\\\u{202e}";
    let proxies = serde_json::json!([
        { "name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1", "enabled": true }
    ]);
    std::fs::write(&config, proxies.to_string()).expect("write config");
    let api = crate::util::unique_port();
    let listen = format!("127.0.0.1:{api}");
    let mut server = porthole();
    server.args(["proxy", "serve", "--listen", &listen, "--config"]).arg(&config);
    server.stderr(std::process::Stdio::null());
    let _server = ChildGuard::spawn(&mut server);
    assert!(
        crate::util::wait_for_port(api, std::time::Duration::from_secs(10)),
        "proxy API did not start"
    );
    let url = format!("http://{listen}");
    let list = run(porthole().args(["proxy", "list", "--url", &url]));
    assert_eq!(list.code, 0, "{list:?}");
    assert_terminal_safe("proxy list", &list);
    assert!(list.stdout.contains("pg\\x1b]52;c;SGVsbG8=\\x1b\\\\u202e"), "{}", list.stdout);
    let inspect = run(porthole().args(["proxy", "inspect", name, "--url", &url]));
    assert_eq!(inspect.code, 0, "{inspect:?}");
    assert_terminal_safe("proxy inspect", &inspect);
    assert!(inspect.stdout.contains("name      pg\\x1b]52;"), "{}", inspect.stdout);

    // Upstream host names and toxic names come from API clients too: every
    // verb that prints them escapes them, and JSON keeps them exact.
    let upstream = "ho\u{202e}st:9";
    let toxic = "t\x1b]0;owned\x07";
    let client = porthole::proxy::client::ApiClient::new(&url).expect("url");
    let api = |method: &str, path: &str, body: serde_json::Value| {
        let response = client.request(method, path, Some(&body), &[]).expect("API call");
        assert!(response.status < 300, "{method} {path}: {}", response.text());
    };
    api("POST", "/proxies", serde_json::json!({"name": "up", "upstream": upstream}));
    api("POST", "/proxies/up/toxics", serde_json::json!({"name": toxic, "type": "noop"}));
    let json = run(porthole().args(["proxy", "list", "--json", "--url", &url]));
    let listed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(listed["up"]["upstream"], upstream);
    assert_eq!(listed["up"]["toxics"][0]["name"], toxic);
    assert_eq!(listed[name]["name"], name);
    let verbs: [&[&str]; 7] = [
        &["proxy", "list"],
        &["proxy", "inspect", "up"],
        &["proxy", "toggle", "up"],
        &["proxy", "toxic", "update", "up", "-n", toxic, "--tox", "0.5"],
        &["proxy", "toxic", "remove", "up", "-n", toxic],
        &["proxy", "toxic", "remove", "up", "-n", toxic],
        // Names neither, but must not fail on them.
        &["proxy", "delete", "up"],
    ];
    for args in verbs {
        let output = run(porthole().args(args).args(["--url", &url]));
        let what = args.join(" ");
        // The second removal finds no toxic: 1, with the name in the message.
        assert!(output.code == 0 || output.code == 1, "{what}: {output:?}");
        assert_terminal_safe(&what, &output);
        let shown = format!("{}{}", output.stdout, output.stderr);
        assert!(
            shown.contains("ho\\u202est:9")
                || shown.contains("t\\x1b]0;owned\\x07")
                || what == "proxy delete up",
            "{what} shows neither name: {shown}"
        );
    }
}

/// `porthole ARGS…` run through `PREFIX…` (unshare, sh -c), with the test
/// environment.
fn porthole_under(prefix: &[&str], args: &[&str]) -> Output {
    let mut command = Command::new(prefix[0]);
    command.args(&prefix[1..]).arg(crate::util::binary()).args(args);
    crate::util::scrub(&mut command);
    run(&mut command)
}

#[test]
fn a_pid_namespace_of_its_own_explains_every_question_mark() {
    if !is_root() {
        skip("unshare -p --mount-proc needs root");
        return;
    }
    // Held by this test, which is outside the new PID namespace.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let unshare = ["unshare", "-m", "-p", "--fork", "--mount-proc"];
    let listing = porthole_under(&unshare, &["ls", "-t", "--port", &port]);
    assert_eq!(listing.code, 0, "{listing:?}");
    let row = listing.stdout.lines().find(|l| l.contains(&format!(":{port} "))).expect("row");
    assert!(row.ends_with('?'), "{row}");
    // One line; the count is 1 unless a concurrent test's socket happens to
    // share the port number.
    assert_eq!(listing.stderr.lines().count(), 1, "{}", listing.stderr);
    assert!(
        listing.stderr.starts_with("porthole: ")
            && listing.stderr.contains(
                " socket(s) have no visible owner (shown as ?): porthole runs in its own PID \
                 namespace, so processes outside it (which may hold these sockets) are not in its \
                 /proc; run it in the host's PID namespace to see them"
            ),
        "{}",
        listing.stderr
    );
    // `porthole PORT`: the `?` in the table, the reason once, on stderr only.
    let report = porthole_under(&unshare, &[&port]);
    assert_eq!(report.code, 0, "{report:?}");
    assert!(report.stdout.contains("? (owner not visible)"), "{}", report.stdout);
    assert!(!report.stdout.contains("PID namespace"), "{}", report.stdout);
    assert_eq!(report.stderr.matches("own PID namespace").count(), 1, "{}", report.stderr);
    let json = porthole_under(&unshare, &[&port, "--json"]).json();
    assert!(json["hidden_owners"].as_u64().is_some_and(|n| n >= 1), "{json:#}");
    assert_eq!(json["hidden_owner_reasons"], serde_json::json!(["other_pid_namespace"]));
    // `check` names the user of a listener whose owner is hidden, as `ls`.
    let target = format!("127.0.0.1:{port}");
    let check = porthole_under(&unshare, &["check", &target, "--timeout", "300ms"]);
    let row = check.stdout.lines().find(|l| l.contains("LISTEN")).expect("listener row");
    assert!(row.contains(" LISTEN  root "), "{check:?}");
    // `kill` says why it cannot see the owner, without "run as root".
    let kill = porthole_under(&unshare, &["kill", &port, "--yes"]);
    assert_eq!(kill.code, 2, "{kill:?}");
    assert!(
        kill.stdout.contains(&format!(
            "hidden: the owner of 127.0.0.1:{port}/tcp cannot be seen: porthole runs in its own PID namespace"
        )),
        "{kill:?}"
    );
    // From the host's PID namespace the owner is this test.
    let host = porthole_run(&["ls", "-t", "--port", &port]);
    assert!(host.stdout.contains(&format!("{}/", std::process::id())), "{host:?}");
    assert!(!host.stderr.contains("no visible owner"), "{host:?}");
}

#[test]
fn hidepid_is_named_when_it_hides_the_owners() {
    if !is_root() {
        skip("mounting a procfs with hidepid needs root");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    // A fresh procfs with hidepid=2 in a private mount namespace, read by
    // `nobody`: root's processes are not even listed there.
    let script = "mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 \
                  --regid=65534 --clear-groups \"$0\" \"$@\"";
    let output =
        porthole_under(&["unshare", "-m", "sh", "-c", script], &["ls", "-t", "--port", &port]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(" socket(s) have no visible owner"), "{output:?}");
    assert!(output.stderr.contains("not running as root"), "{}", output.stderr);
    assert!(output.stderr.contains("/proc is mounted with hidepid="), "{}", output.stderr);
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(!output.stdout.contains("visible"), "{}", output.stdout);
}

#[test]
fn term_dumb_gets_no_colour_on_a_terminal() {
    if !crate::util::installed("script") {
        skip("script(1) is needed for a pseudo-terminal");
        return;
    }
    // A wildcard listener is painted yellow on a colour terminal.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let on_terminal = |term: &str| {
        let line = format!("{} ls -t --port {port}", crate::util::binary().display());
        let mut command = Command::new("script");
        command.args(["-qc", &line, "/dev/null"]);
        crate::util::scrub(&mut command);
        command.env_remove("NO_COLOR").env("TERM", term);
        run(&mut command)
    };
    let colour = on_terminal("xterm-256color");
    assert!(colour.stdout.contains("\x1b[33mwildcard"), "{colour:?}");
    let dumb = on_terminal("dumb");
    assert!(dumb.stdout.contains("wildcard"), "{dumb:?}");
    assert!(!dumb.stdout.contains('\x1b'), "{dumb:?}");
}

#[test]
fn a_closed_stdout_is_not_a_failure() {
    // The read end is closed before porthole starts: its first write fails
    // with EPIPE, every time (`porthole completions bash | head -1`).
    for args in [
        &["completions", "bash"][..],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["man"],
        &["ls", "-a"],
    ] {
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        drop(reader);
        let mut command = porthole();
        command.args(args).stdout(std::process::Stdio::from(writer));
        let output = run(&mut command);
        assert_eq!(output.code, 0, "porthole {}: {output:?}", args.join(" "));
        assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
    }
}

#[test]
fn wait_leaves_its_explanation_time_inside_the_timeout() {
    // Accepted, never read: a silent HTTP server. (One that never accepts
    // is explained by its accept queue instead, without a read timeout.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in silent.incoming() {
            held.push(connection);
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    let output = porthole_run(&["wait", &url, "--timeout", "2s", "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let last: serde_json::Value =
        serde_json::from_str(output.stdout.lines().last().expect("outcome line")).expect("JSON");
    assert_eq!(last["outcome"], "timeout", "{last:#}");
    // The explaining diagnosis probed with a fifth of the timeout, shared
    // between its connect and its read (not the 1 s connect timeout).
    let why = last["why"].to_string();
    assert!(why.contains("within 200 ms"), "{why}");
    let text = porthole_run(&["wait", &url, "--timeout", "2s"]);
    assert!(text.stderr.contains("timed out after 2.0 s"), "{}", text.stderr);
}

/// PID 1 of a fresh PID namespace with two other processes in it; the
/// listener is bound after the fork, so only init holds it. Prints the port.
const NAMESPACE_INIT: &str = r#"
import os, socket, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(120); os._exit(0)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
"#;

/// Host pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    == Some(&parent.to_string())
            })
        })
        .collect()
}

#[test]
fn killing_a_namespace_init_needs_force_and_is_told_truthfully() {
    if !is_root() {
        skip("unshare -p needs root");
        return;
    }
    let mut command = Command::new("unshare");
    // --kill-child: the namespace dies with the guard even if the test fails.
    command.args(["-p", "-f", "--kill-child", "--mount-proc", "/usr/bin/python3"]);
    let (_guard, mut out) = python_via(command, NAMESPACE_INIT, &[]);
    let port = wait_for_line(&mut out);
    let refused = porthole_run(&["kill", &port, "--yes", "--json"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let report = refused.json();
    let target = &report["targets"][0];
    assert_eq!(target["refusal"], "namespace_init", "{report:#}");
    assert_eq!(target["namespace_processes"], 3, "{report:#}");
    let init: u32 = target["pid"].as_u64().expect("pid") as u32;
    assert!(crate::util::process_alive(init));
    let others = children_of(init);
    assert_eq!(others.len(), 2, "{others:?}");
    let plan = porthole_run(&["kill", &port, "--dry-run"]);
    assert!(
        plan.stdout.contains(&format!(
            "{init} (python3) is PID 1 of a PID namespace: stopping it ends every process in that namespace (3 now)"
        )),
        "{}",
        plan.stdout
    );
    // Forced: python's init has no SIGTERM handler, so the kernel drops
    // SIGTERM and SIGKILL ends it, and with it the whole namespace.
    let forced = porthole_run(&["kill", &port, "--yes", "--force", "--grace", "300ms"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(!forced.stdout.contains("ignored SIGTERM"), "{}", forced.stdout);
    assert!(forced.stdout.contains("does not deliver SIGTERM"), "{}", forced.stdout);
    assert!(crate::util::eventually(std::time::Duration::from_secs(5), || {
        others.iter().all(|pid| !crate::util::process_alive(*pid))
    }));
}

/// `porthole audit --port PORT --json` against a server that reads one
/// request, then answers with `reply` (may be empty) and closes; returns
/// the probes it ran.
fn audit_probes(reply: &[u8]) -> String {
    let listener = crate::util::Answering::replying("127.0.0.1", 0, reply);
    let (_server, ports) = crate::util::answering(Command::new("python3"), &[listener]);
    let port = ports[0].to_string();
    let output = porthole_run(&[
        "audit",
        "--port",
        &port,
        "--json",
        "--timeout",
        "500ms",
        "--fail-on",
        "never",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    output.json()["services"][0]["probes"].to_string()
}

#[test]
fn audit_retries_in_tls_only_after_a_tls_record() {
    // Hangs up without a word: no reason to send it a ClientHello.
    let closed = audit_probes(b"");
    assert!(closed.contains("http GET /"), "{closed}");
    assert!(!closed.contains("tls"), "{closed}");
    // A TLS alert record (handshake_failure): the port speaks TLS.
    // 0x15 alert, TLS 1.2, length 2, fatal (2) handshake_failure (40).
    let alert = audit_probes(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    assert!(alert.contains("tls GET /"), "{alert}");
}

#[test]
fn zone_ids_reach_a_link_local_listener() {
    let Some(netns) = crate::util::Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    netns.run_ok("ip", &["link", "set", "v0", "up"]);
    netns.run_ok("ip", &["link", "set", "v1", "up"]);
    netns.run_ok("ip", &["-6", "addr", "add", "fe80::1234/64", "dev", "v0", "nodad"]);
    // An HTTP server on the link-local address of `v0`, port 8080.
    let hello = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let listener = crate::util::Answering::replying("fe80::1234%v0", 8080, hello);
    let (_server, _) = crate::util::answering(netns.command("python3"), &[listener]);
    for target in
        ["[fe80::1234%v0]:8080", "[fe80::1234%25v0]:8080", "http://[fe80::1234%25v0]:8080/"]
    {
        let check = netns.porthole(&["check", target, "--timeout", "2s"]);
        assert_eq!(check.code, 0, "{target}: {check:?}");
        assert!(check.stdout.starts_with("OK: "), "{target}: {check:?}");
        assert!(check.stdout.contains("[fe80::1234%v0]:8080"), "{target}: {check:?}");
    }
    let wait = netns.porthole(&["wait", "http://[fe80::1234%25v0]:8080/", "-t", "5s"]);
    assert_eq!(wait.code, 0, "{wait:?}");
    // The proxy listens on and forwards to scoped addresses.
    let mut proxy = netns.command(crate::util::binary().to_str().expect("UTF-8 path"));
    crate::util::scrub(&mut proxy);
    proxy.args(["proxy", "run", "[fe80::1234%v0]:9090", "--to", "[fe80::1234%25v0]:8080"]);
    proxy.stderr(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    let _proxy = ChildGuard::spawn(&mut proxy);
    let through = netns.porthole(&["wait", "http://[fe80::1234%25v0]:9090/", "-t", "10s"]);
    assert_eq!(through.code, 0, "{through:?}");
    assert!(through.stderr.contains("HTTP 200"), "{through:?}");
    // `porthole [ADDR%ZONE]:PORT` matches listeners on that interface.
    let who = netns.porthole(&["[fe80::1234%v0]:8080"]);
    assert_eq!(who.code, 0, "{who:?}");
    // Where a zone is misspelt, one clear line and exit 2.
    for (args, message) in [
        (&["check", "fe80::1234%v0"][..], "IPv6 address 'fe80::1234%v0' needs brackets"),
        (&["check", "[fe80::1234%nosuch0]:8080"], "no network interface 'nosuch0' here"),
    ] {
        let output = netns.porthole(args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert!(output.stderr.contains(message), "{args:?}: {}", output.stderr);
        assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    }
}

/// Names itself through its executable's file name (a colour sequence,
/// which porthole's own tables also use, a newline and a bidi override),
/// carries an OSC title write in its argv, listens on a Unix socket whose
/// path writes the clipboard (OSC 52) and on TCP, connects to itself once,
/// prints the port and waits.
const HOSTILE_RECORDED: &str = r#"
import socket, sys, time
unix = socket.socket(socket.AF_UNIX); unix.bind(sys.argv[2]); unix.listen()
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
port = server.getsockname()[1]
client = socket.create_connection(("127.0.0.1", port))
accepted, _ = server.accept()
accepted.sendall(b"x" * 1000); client.recv(4096); client.close(); accepted.close()
print(port, flush=True)
time.sleep(120)
"#;

/// The executable's file name: `comm` is its first 15 bytes, all of it.
const RECORDED_NAME: &str = "\x1b[31mEV\nIL\u{202e}x";
/// One argument: an OSC window-title write ended by BEL, then a new line.
const RECORDED_ARGUMENT: &str = "arg\x1b]0;pwned\x07\nsecond line";

/// The history keeps other users' text exactly as the recorder saw it, and
/// every output of it is terminal-safe: `history` (summary and `--each`),
/// the History section of `porthole PORT` and `top`. A name that starts
/// with one of porthole's own colour sequences once passed the tables'
/// second line of defence raw.
#[test]
fn recorded_text_never_reaches_the_terminal_raw() {
    if !is_root() {
        skip("recording needs root");
        return;
    }
    if !std::path::Path::new("/usr/bin/python3").exists() {
        skip("/usr/bin/python3 is missing");
        return;
    }
    let Some(netns) = crate::util::Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("UTF-8 temp dir").to_string();
    let executable = directory.path().join(RECORDED_NAME);
    std::fs::copy(
        std::fs::canonicalize("/usr/bin/python3").expect("python3 resolves"),
        &executable,
    )
    .expect("copying python3");
    let monitor = crate::monitor::Monitor::start(Some(&netns), &["--store", &store_text]);
    let unix_path = directory.path().join("\x1b]52;c;SGVsbG8=\x1b\\\u{202e}evil\n.sock");
    let unix_text = unix_path.to_str().expect("UTF-8 path").to_string();
    let (child, mut out) = crate::util::python_via(
        netns.command(executable.to_str().expect("UTF-8 name")),
        HOSTILE_RECORDED,
        &[RECORDED_ARGUMENT, &unix_text],
    );
    let port = wait_for_line(&mut out);
    let port_number: u16 = port.parse().unwrap_or_else(|_| panic!("hostile process: {port:?}"));
    let recorded = monitor.wait_for(|lines| {
        crate::monitor::connections_to(lines, port_number).iter().any(|c| c["ended_at"].is_string())
            && lines.iter().any(|line| line["path"] == unix_text.as_str())
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded, "the connection was not recorded:\n{}", crate::monitor::dump(&lines));
    assert_eq!(code, 0, "{stderr}");

    let escaped_name = "\\x1b[31mEV\\nIL\\u202ex";
    let history =
        |args: &[&str]| run(porthole().arg("history").args(args).arg("--store").arg(&store));
    for args in [vec![port.as_str()], vec![port.as_str(), "--each"], vec![]] {
        let output = history(&args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        assert_terminal_safe(&format!("history {args:?}"), &output);
        assert!(output.stdout.contains(escaped_name), "{args:?}: {}", output.stdout);
    }
    let listeners = history(&["--listeners"]);
    assert_terminal_safe("history --listeners", &listeners);
    assert!(
        listeners.stdout.contains("\\x1b]52;c;SGVsbG8=\\x1b\\\\u202eevil\\n.sock"),
        "{}",
        listeners.stdout
    );
    let section = run(porthole().arg(&port).env("PORTHOLE_STORE", &store));
    assert_terminal_safe("porthole PORT", &section);
    let history_part = section.stdout.split("\nHistory (UTC").nth(1).unwrap_or_default();
    assert!(history_part.contains(escaped_name), "{}", section.stdout);

    // JSON keeps the exact text, and writes the bidi override escaped too.
    for format in ["--json", "--jsonl"] {
        let output = history(&[&port, "--each", format]);
        assert_eq!(output.code, 0, "{output:?}");
        assert_terminal_safe(&format!("history {format}"), &output);
        let values: Vec<serde_json::Value> = if format == "--json" {
            vec![output.json()]
        } else {
            output.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
        };
        let text = serde_json::Value::Array(values).to_string();
        let name = serde_json::Value::String(RECORDED_NAME.into()).to_string();
        let argument = serde_json::Value::String(RECORDED_ARGUMENT.into()).to_string();
        assert!(text.contains(&format!("\"name\":{name}")), "{format}: {text}");
        assert!(text.contains(&argument), "{format}: {text}");
    }

    // top, live, on the same process.
    for args in [vec!["top", "--once", "-n", "200ms"], vec!["top", "--jsonl", "--count", "1"]] {
        let output = netns.porthole(&args);
        assert_eq!(output.code, 0, "{args:?}: {output:?}");
        assert_terminal_safe(&args.join(" "), &output);
        if args[1] == "--once" {
            assert!(output.stdout.contains("\\x1b[31mEV\\nIL\\u202ex"), "{}", output.stdout);
        } else {
            let name = serde_json::Value::String(RECORDED_NAME.into()).to_string();
            let frame: serde_json::Value = serde_json::from_str(output.stdout.trim()).unwrap();
            assert!(frame.to_string().contains(&name), "{}", output.stdout);
        }
    }
    drop(child);
}

/// A `TERM=dumb` terminal moves no cursor: `audit` prints no progress line
/// (it is redrawn with an erase-line sequence) and `top` says its live view
/// cannot run there instead of drawing escape sequences.
#[test]
fn term_dumb_gets_no_cursor_movement_either() {
    if !crate::util::installed("script") {
        skip("script(1) is needed for a pseudo-terminal");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let on_terminal = |term: &str, args: &str| {
        let line = format!("{} {args}", crate::util::binary().display());
        let mut command = Command::new("script");
        command.args(["-qec", &line, "/dev/null"]);
        crate::util::scrub(&mut command);
        command.env_remove("NO_COLOR").env("TERM", term);
        run(&mut command)
    };
    let audit = format!("audit --port {port} --timeout 300ms --skip outdated-package");
    let dumb = on_terminal("dumb", &audit);
    assert_eq!(dumb.code, 0, "{dumb:?}");
    assert!(dumb.stdout.contains("audit: "), "the summary is there: {dumb:?}");
    assert!(!dumb.stdout.contains('\x1b'), "{dumb:?}");

    let top = on_terminal("dumb", "top");
    assert_eq!(top.code, 2, "{top:?}");
    assert!(
        top.stdout.contains(
            "porthole: the live view needs a terminal that understands cursor movement \
             (TERM=dumb); use --once, --json or --jsonl"
        ),
        "{top:?}"
    );
    assert!(!top.stdout.contains('\x1b'), "{top:?}");
    drop(listener);
}

/// A network namespace file in /run/netns (what `ip netns list` reads)
/// whose name carries a colour escape and a bidi override; unmounted and
/// removed when dropped.
struct HostileNetns {
    path: std::path::PathBuf,
}

impl Drop for HostileNetns {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A command porthole prints for a namespace another user named is shown
/// escaped and still runs as printed: the name is written through
/// `printf` (`"$(printf 'ph-\033…')"`), since `'…\x1b…'` would name
/// another namespace.
#[test]
fn commands_naming_other_users_text_run_as_printed() {
    if !is_root() {
        skip("naming a network namespace needs root");
        return;
    }
    for program in ["unshare", "nsenter", "bash"] {
        if !crate::util::installed(program) {
            skip(&format!("{program} is missing"));
            return;
        }
    }
    let name = format!("ph-\x1b[31m{}\u{202e}", std::process::id());
    std::fs::create_dir_all("/run/netns").expect("/run/netns");
    let path = std::path::Path::new("/run/netns").join(&name);
    std::fs::File::create(&path).expect("namespace file");
    let _netns = HostileNetns { path: path.clone() };
    let net = format!("--net={}", path.display());
    let made = Command::new("unshare").args([net.as_str(), "true"]).status().expect("unshare");
    assert!(made.success(), "unshare {net}");
    let up = Command::new("nsenter").args([net.as_str(), "ip", "link", "set", "lo", "up"]).status();
    assert!(up.expect("nsenter").success(), "lo up in {net}");
    let mut inside = Command::new("nsenter");
    inside.args([net.as_str(), "python3"]);
    let (_listener, mut ready) = python_via(
        inside,
        "import http.server\n\
         s = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
         print(s.server_address[1], flush=True); s.serve_forever()",
        &[],
    );
    let port = wait_for_line(&mut ready);
    let quoted = format!("\"$(printf 'ph-\\033[31m{}\\342\\200\\256')\"", std::process::id());
    let in_bash = |line: &str| {
        let directory = crate::util::binary().parent().expect("bin dir").to_path_buf();
        let path = format!("{}:{}", directory.display(), std::env::var("PATH").unwrap_or_default());
        run(Command::new("bash").arg("-c").arg(line).env("PATH", path).env("LC_ALL", "C.UTF-8"))
    };

    let check = porthole_run(&["check", &port]);
    assert_eq!(check.code, 1, "{check:?}");
    assert_terminal_safe("check", &check);
    let command = check
        .stdout
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("$ "))
        .unwrap_or_else(|| panic!("a fix command in {}", check.stdout));
    assert_eq!(command, format!("porthole check {port} --netns {quoted}"));
    let inside = in_bash(command);
    assert_eq!(inside.code, 0, "`{command}` asks inside the namespace: {inside:?}");

    let kill = porthole_run(&["kill", &port]);
    assert_terminal_safe("kill", &kill);
    let command = kill
        .stdout
        .lines()
        .find_map(|line| line.split_once("): ").map(|(_, command)| command))
        .unwrap_or_else(|| panic!("a kill command in {}", kill.stdout));
    assert_eq!(command, format!("porthole kill {port} --netns {quoted}"));
    let dry = in_bash(&format!("{command} --dry-run"));
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("Dry run: no signal was sent."), "{dry:?}");
}

/// Names itself `ev\xffil`, binds a Unix socket `s\xfe.sock` in the
/// directory given and a TCP listener; prints the TCP port. Started from an
/// interpreter copied to a path with a byte that is not UTF-8, with such an
/// argument.
const NOT_UTF8: &str = r#"
import ctypes, os, socket, sys, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b"ev\xffil"), 0, 0, 0)
unix = socket.socket(socket.AF_UNIX); unix.bind(os.fsencode(sys.argv[1]) + b"/s\xfe.sock"); unix.listen()
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
print(tcp.getsockname()[1], flush=True)
time.sleep(120)
"#;

#[test]
fn bytes_that_are_not_utf8_are_shown_as_bytes_and_kept_exact_in_json() {
    use std::os::unix::ffi::OsStrExt;
    if !std::path::Path::new("/usr/bin/python3").exists() {
        skip("/usr/bin/python3 is missing");
        return;
    }
    let directory = tempfile::tempdir().expect("tempdir");
    let program = directory.path().join(std::ffi::OsStr::from_bytes(b"py\xff"));
    // Copied by `cp`: a file this process wrote could still be open in a
    // child another test is forking, and exec would fail (ETXTBSY).
    let copied = Command::new("cp")
        .arg(std::fs::canonicalize("/usr/bin/python3").unwrap())
        .arg(&program)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "copying python3");
    let mut command = Command::new(&program);
    command.arg("-u").arg("-c").arg(NOT_UTF8).arg(directory.path());
    command.arg(std::ffi::OsStr::from_bytes(b"arg\xfe"));
    porthole::sys::signal::start_with_default_signals(&mut command);
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let child = ChildGuard(child);
    let port = wait_for_line(&mut out);
    let pid = child.pid().to_string();
    let exe = program.as_os_str().as_bytes();
    let shown_exe = format!("{}/py\\xff", directory.path().display());

    // Terminals: each byte as \xNN, not U+FFFD.
    let listing = porthole_run(&["ls", "--pid", &pid, "-x", "-t", "-l"]);
    assert_terminal_safe("ls -l", &listing);
    assert!(!listing.stdout.contains('\u{fffd}'), "{}", listing.stdout);
    assert!(listing.stdout.contains("/s\\xfe.sock"), "{}", listing.stdout);
    assert!(listing.stdout.contains(&format!("{pid}/{shown_exe} -u -c")), "{}", listing.stdout);
    assert!(listing.stdout.contains(" arg\\xfe"), "{}", listing.stdout);
    let short = porthole_run(&["ls", "--pid", &pid, "-t"]);
    assert!(short.stdout.contains(&format!("{pid}/ev\\xffil")), "{}", short.stdout);
    let who = porthole_run(&[&port]);
    assert!(who.stdout.contains(&format!("ev\\xffil (pid {pid}")), "{}", who.stdout);
    let kill = porthole_run(&["kill", &port, "--dry-run"]);
    assert!(kill.stdout.contains("ev\\xffil"), "{}", kill.stdout);
    assert!(kill.stdout.contains(" arg\\xfe"), "{}", kill.stdout);

    // JSON: valid UTF-8 text with U+FFFD, and the exact bytes beside it.
    let records = porthole_run(&["ls", "--pid", &pid, "-x", "--json"]).json();
    let record = &records[0];
    let path = [directory.path().as_os_str().as_bytes(), b"/s\xfe.sock"].concat();
    assert_eq!(decode(&record["path_bytes"]), path, "{record:#}");
    let process = &record["processes"][0];
    assert_eq!(process["name"], "ev\u{fffd}il", "{process:#}");
    assert_eq!(decode(&process["name_bytes"]), b"ev\xffil", "{process:#}");
    assert_eq!(decode(&process["exe_bytes"]), exe, "{process:#}");
    let argv = process["argv_bytes"].as_array().expect("argv_bytes").clone();
    assert_eq!(decode(&argv[0]), exe, "{process:#}");
    assert_eq!(decode(argv.last().unwrap()), b"arg\xfe", "{process:#}");
    assert_eq!(argv.len(), process["argv"].as_array().unwrap().len(), "{process:#}");
    let plan = porthole_run(&["kill", &port, "--dry-run", "--json"]).json();
    assert_eq!(decode(&plan["targets"][0]["name_bytes"]), b"ev\xffil", "{plan:#}");
    let who = porthole_run(&[&port, "--json"]).json();
    let listener = who["listeners"][0].to_string();
    assert!(listener.contains("\"name_bytes\":\"ZXb/aWw=\""), "{who:#}");
}

/// Run as a program named `py\xff` + a screen clear (a copy of python3, so
/// that the name is the one it was started with): listens on a Unix socket
/// whose path holds a byte that is not UTF-8 and an escape sequence, and on
/// an exposed TCP port (argv[2]); prints `ok`.
const NOT_UTF8_RECORDED: &str = r#"
import os, socket, sys, time
unix = socket.socket(socket.AF_UNIX); unix.bind(os.fsencode(sys.argv[1]) + b"/s\xfe\x1b[2J.sock"); unix.listen()
tcp = socket.socket(); tcp.bind(("0.0.0.0", int(sys.argv[2]))); tcp.listen()
print("ok", flush=True)
time.sleep(120)
"#;

/// A Unix path and a process name that are not UTF-8, recorded by a real
/// `porthole monitor`: its JSON Lines, its alert command, the store read
/// back by `history`, the dashboard's API and `top` all carry the exact
/// bytes beside the text, and terminals show each byte as `\xNN`.
#[test]
fn bytes_that_are_not_utf8_are_kept_exact_from_capture_to_every_record() {
    use crate::monitor::{dump, of_type, Monitor};
    use std::os::unix::ffi::OsStrExt;
    if !std::path::Path::new("/usr/bin/python3").exists() {
        skip("/usr/bin/python3 is missing");
        return;
    }
    let Some(netns) = crate::util::Netns::create() else { return };
    let directory = tempfile::tempdir().expect("tempdir");
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().unwrap();
    let commands = directory.path().join("commands");
    std::fs::create_dir(&commands).unwrap();
    let config = directory.path().join("alerts.toml");
    std::fs::write(&config, "[rules]\naudit_severity = \"off\"\n").unwrap();
    let on_alert = format!("cat > '{}'/alert-$$.json", commands.display());
    let monitor = Monitor::start(
        Some(&netns),
        &[
            "--capture",
            "netlink",
            "--store",
            store,
            "--alerts",
            config.to_str().unwrap(),
            "--on-alert",
            &on_alert,
        ],
    );
    let port = crate::util::unique_port();
    let name: &[u8] = b"py\xff\x1b[2J";
    let program = directory.path().join(std::ffi::OsStr::from_bytes(name));
    // Copied by `cp`: a file this process wrote could still be open in a
    // child another test is forking, and exec would fail (ETXTBSY).
    let copied = Command::new("cp")
        .arg(std::fs::canonicalize("/usr/bin/python3").unwrap())
        .arg(&program)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "copying python3");
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &netns.name]).arg(&program);
    let (server, mut ready) = python_via(
        command,
        NOT_UTF8_RECORDED,
        &[directory.path().to_str().unwrap(), &port.to_string()],
    );
    assert_eq!(wait_for_line(&mut ready), "ok");
    let path = [directory.path().as_os_str().as_bytes(), b"/s\xfe\x1b[2J.sock"].concat();
    let unix_of = |lines: &[serde_json::Value]| {
        of_type(lines, "listener")
            .into_iter()
            .find(|line| line["protocol"] == "unix" && line["processes"][0]["pid"] == server.pid())
            .cloned()
    };
    let recorded = monitor.wait_for(|lines| {
        unix_of(lines).is_some() && of_type(lines, "alert").iter().any(|a| a["local_port"] == port)
    });
    let ran = crate::util::eventually(std::time::Duration::from_secs(60), || {
        std::fs::read_dir(&commands).map(|mut entries| entries.next().is_some()).unwrap_or(false)
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(recorded && ran, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(stderr.contains("process=py\\xff\\x1b[2J "), "{stderr}");

    // monitor --jsonl: the listener's path and owner, exactly.
    let unix = unix_of(&lines).expect("the Unix listener");
    assert_eq!(decode(&unix["path_bytes"]), path, "{unix:#}");
    assert!(unix["path"].as_str().unwrap().ends_with("/s\u{fffd}\u{1b}[2J.sock"), "{unix:#}");
    assert_eq!(decode(&unix["processes"][0]["name_bytes"]), name, "{unix:#}");
    assert_eq!(unix["processes"][0]["name"], "py\u{fffd}\u{1b}[2J", "{unix:#}");

    // The alert command's payload.
    let entry = std::fs::read_dir(&commands).unwrap().next().unwrap().unwrap();
    let alert: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).expect("alert JSON");
    assert_eq!(alert["local_port"], port, "{alert:#}");
    assert_eq!(decode(&alert["process"]["name_bytes"]), name, "{alert:#}");

    // The store gives the bytes back: history --json and its text.
    let history = |args: &[&str]| {
        run(porthole().args(["history", "--listeners", "--store", store]).args(args))
    };
    let json = history(&["--json"]).json();
    let listeners = json["listeners"].as_array().expect("listeners").clone();
    let kept = listeners.iter().find(|l| l["protocol"] == "unix").expect("the Unix listener");
    assert_eq!(decode(&kept["path_bytes"]), path, "{json:#}");
    assert_eq!(decode(&kept["processes"][0]["name_bytes"]), name, "{json:#}");
    let jsonl = history(&["--jsonl"]);
    assert!(jsonl.stdout.contains(&format!("\"path_bytes\":\"{}\"", base64(&path))), "{jsonl:?}");
    let text = history(&[]);
    assert_terminal_safe("history", &text);
    assert!(text.stdout.contains("/s\\xfe\\x1b[2J.sock"), "{text:?}");
    assert!(text.stdout.contains("py\\xff\\x1b[2J"), "{text:?}");

    // The dashboard's API, from the live snapshot and from the store.
    let token = directory.path().join("dashboard.token");
    let served = crate::dashboard::serve(
        &netns,
        &["dashboard", "--store", store, "--token-file", token.to_str().unwrap()],
    );
    let page = crate::dashboard::api(&netns, &served, "/api/listeners");
    let row = page["items"].as_array().unwrap().iter().find(|row| row["local_port"] == port);
    let row = row.unwrap_or_else(|| panic!("{page:#}"));
    assert_eq!(decode(&row["processes"][0]["name_bytes"]), name, "{page:#}");
    let changes = crate::dashboard::api(&netns, &served, "/api/changes");
    let change = changes["items"].as_array().unwrap().iter().find(|c| c["local_port"] == port);
    let change = change.unwrap_or_else(|| panic!("{changes:#}"));
    assert_eq!(decode(&change["processes"][0]["name_bytes"]), name, "{changes:#}");
    let timeline = crate::dashboard::api(&netns, &served, &format!("/api/timeline?port={port}"));
    assert_eq!(decode(&timeline["spans"][0]["process_name_bytes"]), name, "{timeline:#}");

    // top, live.
    let top = netns.porthole(&["top", "--json", "-x", "--interval", "200ms"]).json();
    let rows = top["listeners"].as_array().unwrap_or_else(|| panic!("{top:#}"));
    let row = rows.iter().find(|row| row["protocol"] == "unix" && row["path_bytes"].is_string());
    let row = row.unwrap_or_else(|| panic!("{top:#}"));
    assert_eq!(decode(&row["path_bytes"]), path, "{top:#}");
    assert_eq!(decode(&row["processes"][0]["name_bytes"]), name, "{top:#}");
    let once = netns.porthole(&["top", "--once", "-x", "--interval", "200ms"]);
    assert_terminal_safe("top --once", &once);
    assert!(once.stdout.contains("\\xfe\\x1b[2J.sock"), "{once:?}");
    drop(server);
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An interface name is chosen by whoever created the interface (root of
/// any user namespace can name one in its own network namespace), with any
/// byte but `/`, `:` and blanks: a listener bound to it shows the name
/// escaped, and JSON keeps its exact bytes.
#[test]
fn an_interface_name_is_shown_escaped_and_kept_exact_in_json() {
    use std::os::unix::ffi::OsStrExt as _;
    let Some(netns) = crate::util::Netns::create() else { return };
    let name: &[u8] = b"h\x1b[2J\xe2\x80\xae\xff";
    let status = netns
        .command("ip")
        .args(["link", "add"])
        .arg(std::ffi::OsStr::from_bytes(name))
        .args(["type", "veth", "peer", "name", "ph1"])
        .status()
        .expect("ip runs");
    assert!(status.success(), "ip link add with a hostile name");
    let code = "import socket,sys,time\n\
                s=socket.socket()\n\
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bytes.fromhex(sys.argv[1]))\n\
                s.bind(('0.0.0.0', 0)); s.listen()\n\
                print(s.getsockname()[1], flush=True); time.sleep(120)";
    let (_server, mut out) = crate::util::python_in(&netns, code, &[&hex(name)]);
    let port = wait_for_line(&mut out);
    let shown = format!("0.0.0.0%h\\x1b[2J\\u202e\\xff:{port}");
    for args in [vec!["ls", "--port", &port], vec![&port]] {
        let output = netns.porthole(&args);
        assert_terminal_safe(&args.join(" "), &output);
        assert!(output.stdout.contains(&shown), "{args:?}: {}", output.stdout);
    }
    for args in [vec!["ls", "--port", &port, "--json"], vec![&port, "--json"]] {
        let json = netns.porthole(&args).json();
        let socket = if args[0] == "ls" { &json[0] } else { &json["listeners"][0] };
        assert_eq!(socket["interface"], "h\u{1b}[2J\u{202e}\u{fffd}", "{json:#}");
        assert_eq!(decode(&socket["interface_bytes"]), name, "{json:#}");
    }
}

/// A stand-in memcached (named so, which makes porthole probe it as one)
/// whose replies carry an ESC sequence, CR, BEL, a bidi override, a byte
/// that is not UTF-8 and a long tail. `version`: it answers `version` with
/// that as its version; `ascii`: it asks for ASCII authentication, then
/// answers the login with that as its error; `-S` (on its command line, as
/// memcached's SASL flag): the binary protocol, with that in its version,
/// its SASL mechanism list and its SASL auth error. Prints its port.
const HOSTILE_MEMCACHED: &str = r#"
import ctypes, socket, struct, sys, threading
ctypes.CDLL(None).prctl(15, b"memcached", 0, 0, 0)
mode = sys.argv[1]
hostile = b"\x1b[31m\r\x07\xe2\x80\xae\xff" + b"A" * int(sys.argv[2])
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
def binary(opcode, status, value):
    return struct.pack(">BBHBBHIIQ", 0x81, opcode, 0, 0, 0, status, len(value), 0, 0) + value
def serve(c):
    c.settimeout(10)
    try:
        data = c.recv(65536)
        if len(data) < 2:
            pass
        elif mode == "version":
            c.sendall(b"VERSION 1.6 " + hostile + b"\r\n")
        elif mode == "ascii" and data.startswith(b"version"):
            c.sendall(b"CLIENT_ERROR unauthenticated\r\n")
        elif mode == "ascii":
            c.sendall(b"CLIENT_ERROR " + hostile + b"\r\n")
        elif data[1] == 0x0b:
            c.sendall(binary(0x0b, 0, b"1.6 " + hostile) + binary(0x20, 0, b"PLAIN " + hostile))
        else:
            c.sendall(binary(0x21, 0x81, hostile))
        c.recv(1)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// A memcached's version, SASL mechanism list and error replies are its
/// own text: shown escaped and short on a terminal, exact in JSON.
#[test]
fn memcached_replies_never_reach_the_terminal_raw() {
    // 100 KB for ASCII lines; binary replies must fit the probe's read
    // bound whole to be read at all.
    for (mode, length, active, expected) in [
        ("version", "100000", false, "1.6 \\x1b[31m"),
        ("ascii", "100000", true, "unexpected reply: CLIENT_ERROR \\x1b[31m\\r\\x07"),
        ("-S", "2000", true, "SASL auth answered status 0x0081: \\x1b[31m\\r\\x07"),
    ] {
        let (_server, mut out) = crate::util::python(HOSTILE_MEMCACHED, &[mode, length]);
        let port = wait_for_line(&mut out);
        let mut args = vec!["audit", "--port", &port, "--fail-on", "never"];
        if active {
            args.push("--active");
        }
        let text = porthole_run(&args);
        assert_eq!(text.code, 0, "{mode}: {text:?}");
        assert_terminal_safe(&format!("audit ({mode})"), &text);
        assert!(text.stdout.contains(expected), "{mode}: {}", text.stdout);
        assert!(text.stdout.len() < 10_000, "{mode}: {} bytes: {}", text.stdout.len(), text.stdout);
        args.push("--json");
        let json = porthole_run(&args).json();
        let service = &json["services"][0];
        assert_eq!(service["service"], "memcached", "{mode}: {json:#}");
        if mode != "ascii" {
            let version = service["version"].as_str().unwrap();
            assert!(version.starts_with("1.6 \u{1b}[31m"), "{mode}: kept exact: {json:#}");
        }
    }
}
