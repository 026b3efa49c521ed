//! The command line itself: usage errors fold clap's whole message into one line, a
//! mistyped word gets the nearest subcommand, aliases come from clap, the
//! verb-less `porthole PORT` form is in the usage and the man page, and
//! environment and flags shared by several commands are validated.

use std::process::Command;

use crate::util::{self, porthole, porthole_run, run};

#[test]
fn a_missing_argument_lists_what_is_missing() {
    let output = porthole_run(&["kill"]);
    util::assert_usage_error(&output, "kill");
    assert!(output.stderr.starts_with("porthole: missing <PORT>..."), "{}", output.stderr);
    assert!(output.stderr.contains("usage: porthole kill <PORT>..."), "{}", output.stderr);
    assert!(output.stderr.contains("see 'porthole kill --help'"), "{}", output.stderr);
}

#[test]
fn an_invalid_value_lists_the_allowed_ones() {
    let output = porthole_run(&["ls", "--scope", "foo"]);
    util::assert_usage_error(&output, "ls --scope foo");
    assert!(
        output.stderr.contains("(possible values: loopback, exposed, wildcard, specific)"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_mistyped_subcommand_gets_the_nearest_one() {
    for (typed, near) in
        [("chek", "'check'"), ("kil", "'kill'"), ("lst", "'ls'"), ("wiat", "'wait'")]
    {
        let output = porthole_run(&[typed, "8080"]);
        util::assert_usage_error(&output, typed);
        assert!(
            output.stderr.starts_with(&format!("porthole: unrecognized subcommand '{typed}'")),
            "{}",
            output.stderr
        );
        assert!(output.stderr.contains(near), "{typed} → {near}: {}", output.stderr);
        assert!(!output.stderr.contains("missing port"), "{}", output.stderr);
    }
}

#[test]
fn a_host_without_a_port_is_told_to_add_one() {
    let output = porthole_run(&["localhost"]);
    util::assert_usage_error(&output, "localhost");
    assert!(
        !output.stderr.contains("localhost:'"),
        "never quotes text not typed: {}",
        output.stderr
    );
    assert!(output.stderr.contains("porthole localhost:PORT"), "{}", output.stderr);
}

#[test]
fn list_is_ls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let listed = porthole_run(&["list", "--tcp", "--port", &port, "--no-owners", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let records = listed.json();
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records:#}");
    assert_eq!(records[0]["local_port"].to_string(), port);
}

#[test]
fn usage_and_man_page_show_the_port_form() {
    let help = porthole_run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("porthole <PORT|HOST:PORT>"), "{}", help.stdout);
    let man = porthole_run(&["man"]);
    assert_eq!(man.code, 0);
    let synopsis: String = man
        .stdout
        .lines()
        .skip_while(|l| *l != ".SH SYNOPSIS")
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(synopsis.contains("\\fIPORT\\fR|\\fIHOST:PORT\\fR"), "{synopsis}");
    // And the form works as documented.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let who = porthole_run(&[&port, "--json"]);
    assert_eq!(who.code, 0, "{who:?}");
}

#[test]
fn audit_help_names_every_rule_the_audit_runs() {
    // The SARIF log lists every rule the audit has; `audit --help` must name
    // each of them, since `--skip RULE` takes exactly these ids.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port().to_string();
    drop(unused);
    let sarif = porthole_run(&["audit", "--port", &port, "--sarif"]);
    assert_eq!(sarif.code, 0, "{sarif:?}");
    let rules = sarif.json()["runs"][0]["tool"]["driver"]["rules"].clone();
    let ids: Vec<String> = rules
        .as_array()
        .expect("SARIF rules")
        .iter()
        .map(|rule| rule["id"].as_str().expect("rule id").to_owned())
        .collect();
    assert_eq!(ids.len(), 17, "{ids:?}");
    let help = porthole_run(&["audit", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    let listed: Vec<&str> = help
        .stdout
        .split("Rules:")
        .nth(1)
        .expect("a Rules: section")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "audit --help leaves out {id}: {listed:?}");
    }
    assert_eq!(listed.len(), ids.len(), "{listed:?} vs {ids:?}");
}

/// `monitor --keep 7` (a week, the user meant) kept 7 seconds of records
/// and deleted the rest at the first prune. A bare number is refused before
/// anything is recorded or created; with a unit it is taken.
#[test]
fn monitor_keep_without_a_unit_is_refused() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().expect("utf-8 path");
    for keep in ["7", " 30 ", "1.5"] {
        // The size cap, read after --keep and refused, ends a run that took
        // the number (before this was refused) before it records anything.
        let output =
            porthole_run(&["monitor", "--store", store_text, "--keep", keep, "--max-size", "1"]);
        assert_eq!(output.code, 2, "{keep:?}: {output:?}");
        let number = keep.trim();
        assert_eq!(
            output.stderr,
            format!(
                "porthole: --keep '{keep}': a number without a unit would keep {number} seconds \
                 of records and delete the rest: write the unit ({number}d, {number}h or \
                 {number}s)\n"
            ),
            "{keep:?}"
        );
        assert!(!store.exists(), "{keep:?}: the store was created");
    }
    // A unit is read as before (the run then stops on the size cap).
    let output =
        porthole_run(&["monitor", "--store", store_text, "--keep", "7d", "--max-size", "1"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.starts_with("porthole: --max-size '1'"), "{output:?}");
}

#[test]
fn an_unknown_backend_is_an_error_naming_the_valid_ones() {
    for args in [&["ls"][..], &["free"], &["kill", "1", "--dry-run"]] {
        let output = run(porthole().env("PORTHOLE_BACKEND", "bogus").args(args));
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(
            output.stderr,
            "porthole: PORTHOLE_BACKEND='bogus' is not a backend: use netlink or procfs (or unset it)\n"
        );
        assert!(output.stdout.is_empty(), "{}", output.stdout);
    }
    let output = run(porthole().env("PORTHOLE_BACKEND", "procfs").args(["ls", "--tcp", "--json"]));
    assert_eq!(output.code, 0, "{output:?}");
}

#[test]
fn check_json_carries_the_schema_version() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let check = porthole_run(&["check", &format!("127.0.0.1:{port}"), "--json"]).json();
    let who = porthole_run(&[&port, "--json"]).json();
    assert_eq!(check["schema_version"], who["schema_version"], "{check:#}");
    assert!(check["schema_version"].is_u64(), "{check:#}");
}

#[test]
fn audit_skip_port_leaves_ports_out() {
    let kept = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let skipped = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let skipped_too = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let [kept, skipped, skipped_too] =
        [&kept, &skipped, &skipped_too].map(|l| l.local_addr().unwrap().port());
    let output = porthole_run(&[
        "audit",
        "--port",
        &format!("{kept},{skipped},{skipped_too}"),
        "--skip-port",
        &skipped.to_string(),
        "--skip-port",
        &format!("{skipped_too},1-2"),
        "--timeout",
        "300ms",
        "--json",
    ]);
    assert_eq!(output.code, 0, "{output:?}");
    let report = output.json();
    let ports: Vec<u64> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [u64::from(kept)], "{report:#}");
    util::assert_usage_error(&porthole_run(&["audit", "--skip-port", "x"]), "--skip-port x");
}

#[test]
fn check_bind_says_can_be_bound_and_names_the_holder() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let output = porthole_run(&["check", "--bind", &format!("127.0.0.1:{port}")]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(
        output.stdout.starts_with(&format!("OK: 127.0.0.1:{port} can be bound")),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("reachable"), "{}", output.stdout);

    let (server, mut ready) = util::python(
        "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n\
         print(s.getsockname()[1], flush=True); time.sleep(60)",
        &[],
    );
    let port = util::wait_for_line(&mut ready);
    let output = porthole_run(&["check", "--bind", &format!("127.0.0.1:{port}"), "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let summary = util::cause(&json, "port-in-use")["summary"].as_str().unwrap().to_string();
    assert_eq!(
        summary,
        format!("127.0.0.1:{port} is in use: python3 (pid {}) listens on it", server.pid())
    );
    let output = porthole_run(&["check", "--bind", &format!("0.0.0.0:{port}"), "--json"]);
    let json = output.json();
    let summary = util::cause(&json, "port-in-use")["summary"].as_str().unwrap().to_string();
    assert!(
        summary.starts_with(&format!(
            "0.0.0.0:{port} is in use: python3 (pid {}) listens on 127.0.0.1:{port}, one address",
            server.pid()
        )),
        "{summary}"
    );
}

/// Runs `porthole ARGS…` on a real terminal (a pty from `script`) that is
/// `columns` wide; returns what the terminal showed, without carriage
/// returns and without the progress line audit draws on stderr.
fn on_terminal(columns: usize, args: &[&str]) -> Option<String> {
    if !util::installed("script") {
        util::skip("script (bsdutils) is needed for a pty");
        return None;
    }
    let quoted: Vec<String> = std::iter::once(util::binary().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!("stty cols {columns}; {} 2>/dev/null", quoted.join(" "));
    let mut command = std::process::Command::new("script");
    command.args(["-qec", &script, "/dev/null"]);
    util::scrub(&mut command);
    let output = run(&mut command);
    Some(output.stdout.replace('\r', ""))
}

/// Every whitespace-separated word of `text`.
fn words(text: &str) -> std::collections::BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}

#[test]
fn audit_wraps_evidence_and_fixes_between_words_to_the_terminal() {
    // A root HTTP server on every interface: findings with long evidence
    // and fixes (dns-rebinding, exposed-service, root-service).
    let (server, mut ready) = util::python(
        "import http.server, socketserver\n\
         class Quiet(http.server.SimpleHTTPRequestHandler):\n    def log_message(self, *a): pass\n\
         s = socketserver.TCPServer(('0.0.0.0', 0), Quiet)\n\
         print(s.server_address[1], flush=True); s.serve_forever()",
        &[],
    );
    let port = util::wait_for_line(&mut ready);
    let args = ["audit", "--port", &port, "--timeout", "1s", "--fail-on", "never"];
    let json = porthole_run(&[&args[..], &["--json"]].concat()).json();
    let findings = json["findings"].as_array().expect("findings").clone();
    assert!(!findings.is_empty(), "{json:#}");
    for columns in [80, 150] {
        let Some(shown) = on_terminal(columns, &args) else { return };
        let shown_words = words(&shown);
        for finding in &findings {
            for key in ["evidence", "fix"] {
                let text = finding[key].as_str().unwrap();
                for word in words(text) {
                    // Numbers may differ between the two runs (the age of
                    // the package lists in minutes, for one); the words
                    // around them are what must survive the wrapping.
                    if word.chars().any(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    assert!(
                        shown_words.contains(&word),
                        "{columns} columns: '{word}' of the {key} was split or cut:\n{shown}"
                    );
                }
            }
        }
        let rules: Vec<String> =
            findings.iter().map(|f| format!("  {}  ", f["rule"].as_str().unwrap())).collect();
        for line in shown.lines() {
            // Row lines hold the other columns, which do not wrap; every
            // line of evidence and fixes fits.
            let is_row = line.starts_with("  RULE") || rules.iter().any(|r| line.starts_with(r));
            if !is_row {
                assert!(
                    line.chars().count() <= columns,
                    "{columns} columns: line too long ({}):\n{line}\n{shown}",
                    line.chars().count()
                );
            }
        }
    }
    drop(server);
}

#[test]
fn ls_long_never_cuts_a_command_line_on_a_terminal() {
    let marker = "porthole-width-test-marker";
    let (server, mut ready) = util::python(
        "import socket, sys, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True); time.sleep(60)",
        &[marker, "--a-long-argument=value", "another-argument", "and-one-more-argument", marker],
    );
    let port = util::wait_for_line(&mut ready);
    let Some(shown) = on_terminal(70, &["ls", "-l", "--tcp", "--port", &port]) else { return };
    assert!(!shown.contains('…'), "nothing is cut with -l:\n{shown}");
    for word in ["--a-long-argument=value", "another-argument", "and-one-more-argument"] {
        assert!(words(&shown).contains(word), "'{word}' missing:\n{shown}");
    }
    assert_eq!(shown.matches(marker).count(), 2, "{shown}");
    // Wrapped by porthole between words (under the column, or below the
    // row when the column has no room), not left for the terminal to break.
    let continuation: Vec<&str> = shown.lines().skip(2).filter(|l| !l.trim().is_empty()).collect();
    assert!(!continuation.is_empty(), "{shown}");
    for line in continuation {
        assert!(line.starts_with("      "), "{line:?} is indented:\n{shown}");
        assert!(line.chars().count() <= 70, "{line:?}:\n{shown}");
    }
    drop(server);
}

#[test]
fn a_duration_may_be_a_sum_of_units_largest_first() {
    // `0m0.2s` is a sum: `wait` reads it, gives up on a closed port and
    // exits 1 (not ready), not 2 (usage).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port().to_string();
    drop(closed);
    let waited = porthole_run(&["wait", &port, "--timeout", "0m0.2s"]);
    assert_eq!(waited.code, 1, "{waited:?}");

    let missing_unit = porthole_run(&["wait", &port, "--timeout", "1m30"]);
    util::assert_usage_error(&missing_unit, "--timeout 1m30");
    assert!(missing_unit.stderr.contains("write 1m30s"), "{}", missing_unit.stderr);
    let out_of_order = porthole_run(&["wait", &port, "--timeout", "30s1m"]);
    util::assert_usage_error(&out_of_order, "--timeout 30s1m");
    assert!(
        out_of_order.stderr.contains("largest unit to the smallest"),
        "{}",
        out_of_order.stderr
    );
}

/// clap's own usage errors quote what was typed; that text reaches the
/// terminal escaped like any other text porthole did not write. clap strips
/// escape sequences by itself (`\e[2Jfoo` read as `foo`) but passes a
/// carriage return and bidi controls through.
#[test]
fn usage_errors_escape_the_words_they_quote() {
    for (args, quoted) in [
        (vec!["evil\rX\u{202e}ab"], "'evil\\rX\\u202eab'"),
        (vec!["\u{1b}[2Jfoo"], "'\\x1b[2Jfoo'"),
        (vec!["ls", "--scope", "\u{1b}]0;x\u{7}red"], "'\\x1b]0;x\\x07red'"),
        (vec!["ls", "--bogus\r"], "'--bogus\\r'"),
        // The unit of a duration is quoted with the same escapes, not Rust's.
        (vec!["wait", "1", "--timeout", "5\u{202e}"], "unknown unit \"\\u202e\""),
        (
            vec![
                "proxy",
                "run",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:1",
                "--latency",
                "1ms",
                "--toxicity",
                "\u{202e}1",
            ],
            "'\\u202e1'",
        ),
    ] {
        let output = porthole_run(&args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(quoted), "{args:?} shows {quoted}: {}", output.stderr);
        assert!(
            !output.stderr.contains(['\r', '\u{1b}', '\u{7}', '\u{202e}']),
            "{args:?}: {:?}",
            output.stderr
        );
    }
}

/// clap says only that "one or more arguments" are not UTF-8; the message
/// names which, with the bad bytes as `\xNN`. A first word or an extra
/// argument that is not UTF-8 was quoted as U+FFFD ("unrecognized
/// subcommand '\u{FFFD}'"), and a variable read for a flag was called an
/// argument.
#[test]
fn an_argument_that_is_not_utf8_is_named() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    for args in [
        vec![OsStr::from_bytes(b"ls"), OsStr::from_bytes(b"--port"), OsStr::from_bytes(b"\xff80")],
        vec![OsStr::from_bytes(b"check"), OsStr::from_bytes(b"\xfe\x1b")],
        vec![OsStr::from_bytes(b"kill"), OsStr::from_bytes(b"80\xff")],
        vec![OsStr::from_bytes(b"\xffab"), OsStr::from_bytes(b"80")],
        vec![OsStr::from_bytes(b"ls"), OsStr::from_bytes(b"\xff")],
        vec![OsStr::from_bytes(b"proxy"), OsStr::from_bytes(b"\xfe")],
    ] {
        let output = run(porthole().args(&args));
        util::assert_usage_error(&output, &format!("{args:?}"));
        let first = output.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("is not valid UTF-8"), "{args:?}: {}", output.stderr);
        let bad = args.iter().find(|arg| arg.to_str().is_none()).expect("one bad argument");
        let shown: String = bad
            .as_bytes()
            .utf8_chunks()
            .map(|chunk| {
                let mut text = chunk.valid().replace('\u{1b}', "\\x1b");
                for byte in chunk.invalid() {
                    text.push_str(&format!("\\x{byte:02x}"));
                }
                text
            })
            .collect();
        assert!(first.contains(&format!("argument '{shown}'")), "{args:?}: {first}");
        assert!(!first.contains('\u{FFFD}'), "{args:?}: {first}");
    }
    for (variable, args) in
        [("PORTHOLE_STORE", &["history"][..]), ("TOXIPROXY_URL", &["proxy", "list"])]
    {
        let output = run(porthole().env(variable, OsStr::from_bytes(b"a\xff\x1b")).args(args));
        util::assert_usage_error(&output, variable);
        assert!(
            output.stderr.starts_with(&format!(
                "porthole: {variable}='a\\xff\\x1b' is not valid UTF-8: the value is read as text"
            )),
            "{}",
            output.stderr
        );
    }
}

/// A value that starts with `-` is read as the flag's value, so the error
/// names the flag and the value rather than "unexpected argument '-1'" with
/// a `-- -1` tip that would not work either.
#[test]
fn a_value_starting_with_a_hyphen_is_read_as_the_value() {
    for (args, message) in [
        (&["check", "5432", "--timeout", "-1s"][..], "porthole: --timeout '-1s': "),
        (&["wait", "5432", "--timeout", "--json"][..], "porthole: --timeout '--json': "),
        (&["free", "--count", "-1"][..], "porthole: --count '-1': "),
        (&["ls", "--port", "-80"][..], "porthole: --port '-80': "),
        (&["kill", "80", "--grace", "-5s"][..], "porthole: --grace '-5s': "),
        (&["top", "--jsonl", "--count", "-2"][..], "porthole: --count '-2': "),
        (&["history", "--since", "-2h"][..], "porthole: --since '-2h': "),
        // A flag that takes no value starting with `-`: clap named the first
        // letter of the word as a flag of its own ('-5').
        (&["ls", "--state", "-5s"][..], "porthole: unexpected argument '-5s' found;"),
        (&["-5s"][..], "porthole: unexpected argument '-5s' found;"),
        (
            &["who", "-5s"][..],
            "porthole: unexpected argument '-5s' found; to pass '-5s' as a value, use '-- -5s';",
        ),
    ] {
        let output = porthole_run(args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.starts_with(message), "{args:?}: {}", output.stderr);
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {}", output.stderr);
    }
}

/// The same mistake reads the same way in every command: the flag first,
/// then what is wrong; ports that are connected to are 1-65535.
#[test]
fn flag_errors_name_the_flag_and_the_range_that_applies() {
    for (args, message) in [
        (&["ls", "--process", ""][..], "porthole: --process: empty name\n"),
        (&["ls", "--pid", "x"][..], "porthole: --pid: 'x' is not a process id\n"),
        (&["check", "--from", "x", "80"][..], "porthole: --from: 'x' is not a process id\n"),
        (
            &["top", "--jsonl", "--count", "0"][..],
            "porthole: --count '0': expected a number of frames, 1 or more\n",
        ),
        (
            &["top", "--jsonl", "--count", "99999999999999999999999"][..],
            "porthole: --count '99999999999999999999999': at most 18446744073709551615 frames\n",
        ),
        (
            &["check", "70000"][..],
            "porthole: target '70000': port 70000 is out of range (1-65535)\n",
        ),
        (
            &["wait", "localhost:x"][..],
            "porthole: target 'localhost:x': 'x' is not a port number (expected 1-65535)\n",
        ),
        (&["70000"][..], "porthole: '70000': port 70000 is out of range (0-65535)\n"),
        (
            &["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:1", "--limit-data", "0.4"][..],
            "porthole: --limit-data: invalid size \"0.4\": less than a byte, yet not 0\n",
        ),
        // Not 0, which is "forever" here, though it came out as 0.
        (
            &["wait", "1", "--timeout", "0.0000000001s"][..],
            "porthole: --timeout '0.0000000001s': shorter than a microsecond (the smallest unit), \
             yet not 0\n",
        ),
        (
            &[
                "proxy",
                "run",
                "127.0.0.1:0",
                "--to",
                "127.0.0.1:1",
                "--bandwidth",
                "11111111111111111111",
            ][..],
            "porthole: --bandwidth: invalid rate \"11111111111111111111\": larger than 8 EB/s\n",
        ),
    ] {
        let output = porthole_run(args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert_eq!(output.stderr, message, "{args:?}");
    }
}

/// `kill --signal` takes a signal as kill(1) writes it too: `-9`, `-KILL`.
#[test]
fn kill_signal_takes_the_kill_1_spelling() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port().to_string();
    drop(closed);
    for signal in ["-9", "-KILL", "9", "KILL", "SIGKILL"] {
        let output = porthole_run(&["kill", &port, "--signal", signal, "--dry-run"]);
        // Nothing listens: a no (1), not a usage error (2).
        assert_eq!(output.code, 1, "--signal {signal}: {output:?}");
        assert!(output.stdout.contains(&format!("Nothing listens on port {port}")), "{output:?}");
    }
    let output = porthole_run(&["kill", &port, "-s", "-FOO"]);
    util::assert_usage_error(&output, "-s -FOO");
    assert!(output.stderr.starts_with("porthole: --signal '-FOO': unknown signal"), "{output:?}");
}

/// A very long argument is quoted cut in the middle, with the count of what
/// was left out: one readable line, not 200 KB.
#[test]
fn a_very_long_argument_is_quoted_cut() {
    let long = "9".repeat(100_000);
    let endpoint = format!("localhost:{long}");
    for args in [
        vec!["ls", "--port", long.as_str()],
        vec![long.as_str()],
        vec!["check", endpoint.as_str()],
        vec!["kill", long.as_str()],
        vec!["ls", "--bogus", long.as_str()],
    ] {
        let output = porthole_run(&args);
        util::assert_usage_error(&output, &args[0][..args[0].len().min(20)]);
        let first = output.stderr.lines().next().unwrap_or_default();
        assert!(first.chars().count() < 600, "{} characters: {first}", first.chars().count());
        assert!(output.stderr.len() < 4000, "{} bytes", output.stderr.len());
        if !args.contains(&"--bogus") {
            assert!(first.contains(" characters]…"), "{first}");
        }
    }
}

/// A reader that leaves (`porthole check … | head -c1`, `porthole PORT |
/// true`) does not turn a "no" into a "yes": the commands whose exit
/// status is their answer run to their end and exit with it. Before, the
/// broken pipe ended the run with exit 0 whatever the answer.
#[test]
fn a_reader_that_leaves_does_not_change_the_answer() {
    let Some(netns) = util::Netns::create() else { return };
    let closed = util::unique_port().to_string();
    let refused = format!("127.0.0.1:{closed}");
    let open = util::unique_port();
    let _server = util::server_in(&netns, "127.0.0.1", open, "http");
    let reachable = format!("127.0.0.1:{open}");
    let cases: [(&[&str], i32); 7] = [
        (&["check", &refused], 1),
        (&["check", &refused, "--json"], 1),
        (&[&closed], 1),
        (&["ls", "--port", &closed], 1),
        (&["kill", &closed], 1),
        (&["check", &reachable], 0),
        (&["ls", "-a"], 0),
    ];
    for (args, expected) in cases {
        let mut command = netns.command(util::binary().to_str().expect("utf-8 path"));
        util::scrub(&mut command);
        let mut child = command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("porthole starts");
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let status = child.wait().expect("porthole ends");
        assert_eq!(status.code(), Some(expected), "{args:?}: {status:?}");
    }
}

/// The hosts of the proxy API's `--url` and of `monitor --webhook` are read
/// as every other host: a number the resolver would take for a shorthand
/// IPv4 address (`10` is 0.0.0.10, which reached a web server on this
/// machine) or a malformed name is refused in one line before anything is
/// sent.
#[test]
fn http_url_flags_refuse_a_host_that_is_no_host_name() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["proxy", "list", "--url", "10"],
            "porthole: invalid API URL \"10\": '10' is no host name: the resolver reads it as the IPv4 address 0.0.0.10",
        ),
        (&["proxy", "--url", "http://127.1:8474", "list"], "the IPv4 address 127.0.0.1"),
        (&["proxy", "list", "--url", "http://x..y/"], "'x..y' is not a valid host name"),
        (
            &["monitor", "--webhook", "http://10/"],
            "porthole: --webhook 'http://10/': '10' is no host name",
        ),
        (&["monitor", "--webhook", "http://x..y:9000/"], "'x..y' is not a valid host name"),
    ];
    for (args, expected) in cases {
        let output = porthole_run(args);
        crate::util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(expected), "{args:?}: {}", output.stderr);
        assert!(output.stdout.is_empty(), "{args:?}: {}", output.stdout);
    }
}

/// An empty `TOXIPROXY_URL` or `PORTHOLE_STORE` (as compose and unit files
/// leave a variable) is unset, as `porthole PORT` already read
/// `PORTHOLE_STORE`: it was taken for an empty flag the user never typed
/// (`invalid API URL "": no host`, `--store '': empty`).
#[test]
fn an_empty_environment_variable_is_unset_not_an_empty_flag() {
    let Some(netns) = util::Netns::create() else { return };
    let output = netns.porthole_env(&[("TOXIPROXY_URL", "")], &["proxy", "list"]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.starts_with("porthole: cannot reach the proxy API at localhost:8474"),
        "{}",
        output.stderr
    );
    let state = tempfile::tempdir().expect("temp dir");
    let store = state.path().join("history.sqlite");
    let output = run(porthole()
        .env("PORTHOLE_STORE", "")
        .env("XDG_STATE_HOME", state.path())
        .args(["history"]));
    assert!(!output.stderr.contains("--store ''"), "{output:?}");
    // A store given on the command line still wins over the variable.
    let output = run(porthole().env("PORTHOLE_STORE", "").args([
        "history",
        "--store",
        store.to_str().expect("utf-8"),
    ]));
    assert!(output.stderr.contains(&store.display().to_string()), "{output:?}");
}

/// Every numeric option takes what a port number takes (decimal digits,
/// blanks around ignored) and nothing else: `+3`, `-1`, `0x10`, `1e3` and
/// `3.0` are one line and exit 2 whichever option they are given to.
#[test]
fn numeric_options_take_the_port_number_forms() {
    let options: [&[&str]; 6] = [
        &["ls", "--pid"],
        &["check", "localhost:1", "--from"],
        &["free", "--count"],
        &["top", "--jsonl", "--count"],
        &["history", "--each", "--limit"],
        &["proxy", "serve", "--listen", "127.0.0.1:0", "--max-api-connections"],
    ];
    for option in options {
        for word in ["+3", "-1", "0x10", "1e3", "3.0", "3 4", ""] {
            let mut command = Command::new("timeout");
            // A value wrongly taken makes `proxy serve` serve: bounded.
            command.arg("10").arg(util::binary()).args(option).arg(word);
            util::scrub(&mut command);
            let output = util::run(&mut command);
            util::assert_usage_error(&output, &format!("{option:?} {word:?}"));
        }
    }
    // A signal number too: `+9` is no signal.
    let output = util::porthole_run(&["kill", "1", "--signal", "+9", "--dry-run"]);
    util::assert_usage_error(&output, "kill --signal +9");
    assert!(output.stderr.contains("unknown signal"), "{}", output.stderr);
    // The same forms are accepted everywhere: blanks around the number too.
    let output = util::porthole_run(&["free", "--count", " 2 ", "--range", "20000-20100"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stdout.lines().count(), 2, "{output:?}");
}

/// `--toxicity` read Rust's float syntax, so `+0.5`, `1e-1`, `inf` and
/// `nan` were taken (`nan` then worded by the range check); a probability
/// takes the digits-and-one-dot form a duration's number takes, and the
/// rest is one line and exit 2, before any API is asked.
#[test]
fn toxicity_takes_the_decimal_forms_only() {
    let options: [&[&str]; 3] = [
        &["proxy", "toxic", "add", "p", "-t", "latency", "--toxicity"],
        &["proxy", "toxic", "update", "p", "-n", "latency_downstream", "--toxicity"],
        &["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:1", "--latency", "1ms", "--toxicity"],
    ];
    for option in options {
        for word in ["+0.5", "-0", "1e-1", "nan", "inf", "-inf", "0x1", "0.5.", ".", ""] {
            let mut command = Command::new("timeout");
            // A value wrongly taken makes `proxy run` serve: bounded.
            command.arg("10").arg(util::binary()).args(option).arg(word);
            command.env("TOXIPROXY_URL", "http://127.0.0.1:1");
            util::scrub(&mut command);
            let output = util::run(&mut command);
            util::assert_usage_error(&output, &format!("{option:?} {word:?}"));
            assert!(
                output.stderr.contains("not a probability"),
                "{option:?} {word:?}: {}",
                output.stderr
            );
        }
    }
}

/// `proxy serve` refuses a flag value it could never use instead of
/// starting with it: an `--allow-host` no `Host` header can match, a token
/// no client can send, a connection limit that is no number.
#[test]
fn proxy_serve_refuses_values_it_could_never_use() {
    for (flag, value) in [
        ("--allow-host", "a b"),
        ("--allow-host", "box.lan/"),
        ("--allow-host", "[fd00::zz]"),
        ("--allow-host", ""),
        ("--allow-host", "\x1b[31mred"),
        ("--token", " secret"),
        ("--token", "sec\tret"),
        ("--token", "sécret"),
        ("--max-api-connections", "+8"),
        ("--max-api-connections", "0"),
    ] {
        let mut command = Command::new("timeout");
        command.arg("10").arg(util::binary());
        command.args(["proxy", "serve", "--listen", "127.0.0.1:0", flag, value]);
        util::scrub(&mut command);
        let output = util::run(&mut command);
        util::assert_usage_error(&output, &format!("{flag} {value:?}"));
        assert!(output.stderr.contains(flag), "{}", output.stderr);
        assert!(!output.stderr.contains('\x1b'), "raw escape: {:?}", output.stderr);
        assert!(!output.stderr.contains("secret"), "the token is not echoed: {}", output.stderr);
    }
    // Names no resolving client sends in `Host` (an empty label, a label
    // over 63 characters) and ports no URL has were taken by both servers.
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store = store.to_str().expect("utf-8");
    let long_label = format!("{}.lan", "x".repeat(300));
    for name in ["a..b", "box:70000", "[]", long_label.as_str()] {
        for server in [
            &["proxy", "serve", "--listen", "127.0.0.1:0"][..],
            &["dashboard", "--store", store, "--serve", "127.0.0.1:0"],
        ] {
            let mut command = Command::new("timeout");
            command.arg("10").arg(util::binary()).args(server).args(["--allow-host", name]);
            util::scrub(&mut command);
            let output = util::run(&mut command);
            util::assert_usage_error(&output, &format!("{server:?} --allow-host {name:?}"));
            assert!(output.stderr.contains("--allow-host '"), "{}", output.stderr);
        }
    }
}

/// Every command taking HOST:PORT quotes a bad word as typed, escaped: it
/// was "missing port after '\x1b[31m80:'", a colon nobody typed.
#[test]
fn a_bad_endpoint_is_quoted_as_typed() {
    let word = "\u{1b}[31m80";
    for args in [
        &["history", word][..],
        &["check", word],
        &["wait", word, "-t", "1s"],
        &["check", "http://bad host/"],
    ] {
        let output = porthole_run(args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(!output.stderr.contains('\u{1b}'), "{args:?}: {}", output.stderr);
        assert!(!output.stderr.contains("80:'"), "{args:?}: {}", output.stderr);
        assert!(!output.stderr.contains("missing port"), "{args:?}: {}", output.stderr);
    }
    let output = porthole_run(&["history", word]);
    assert!(
        output.stderr.contains("'\\x1b[31m80' is neither a port number nor HOST:PORT"),
        "{}",
        output.stderr
    );
    // `ls --port :80` reads the list after lsof's colon and quotes the flag's
    // value as typed, colon included (it was `--port '80x'`).
    let output = porthole_run(&["ls", "--port", ":80x"]);
    util::assert_usage_error(&output, "--port :80x");
    assert!(output.stderr.starts_with("porthole: --port ':80x': "), "{}", output.stderr);
}

/// A file flag given a path that is no file porthole can read — a
/// directory, a named pipe no program writes into, a device that never ends
/// — is one line and exit 2. The pipe was waited on forever, `/dev/zero`
/// read to the end of memory, and a directory, pipe or device given as
/// `--store` was served as an empty history by `dashboard`, or named by
/// `monitor` only after it had started capturing.
#[test]
fn a_file_flag_given_no_file_is_one_line() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fifo = directory.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let store = directory.path().join("history.sqlite");
    let (fifo, store) = (fifo.to_str().expect("utf-8"), store.to_str().expect("utf-8"));
    let folder = directory.path().to_str().expect("utf-8");
    let mut cases: Vec<(Vec<&str>, String)> = Vec::new();
    for (path, read, as_store) in [
        (
            folder,
            "a directory, not a file".to_string(),
            "is a directory: give the store file's path",
        ),
        (
            fifo,
            format!(
                "a named pipe no program wrote into within {}s",
                porthole::sys::input_file::FIFO_WRITER_WAIT.as_secs()
            ),
            "is a named pipe, not a history store file",
        ),
        ("/dev/zero", "larger than 1024 KiB".to_string(), "is a device, not a history store file"),
    ] {
        for args in [
            vec!["audit", "--port", "1", "--active", "--passwords", path],
            vec!["monitor", "--jsonl", "--store", store, "--alerts", path],
            vec!["proxy", "serve", "--listen", "127.0.0.1:0", "--config", path],
        ] {
            cases.push((args, read.clone()));
        }
        for args in [
            vec!["history", "--store", path],
            vec!["dashboard", "--store", path, "--serve", "127.0.0.1:0"],
            vec!["monitor", "--jsonl", "--no-alerts", "--store", path],
        ] {
            cases.push((args, format!("--store '{path}': {as_store}")));
        }
    }
    // All at once: each pipe case waits out its writer. `timeout` turns a
    // hang (what the pipe was) into a failure rather than a test that never
    // ends.
    let outputs: Vec<util::Output> = std::thread::scope(|scope| {
        let running: Vec<_> = cases
            .iter()
            .map(|(args, _)| {
                scope.spawn(move || {
                    let mut command = Command::new("timeout");
                    util::scrub(&mut command);
                    run(command.args(["-k", "5", "120"]).arg(util::binary()).args(args))
                })
            })
            .collect();
        running.into_iter().map(|thread| thread.join().expect("no panic")).collect()
    });
    for ((args, expected), output) in cases.iter().zip(&outputs) {
        util::assert_usage_error(output, &format!("{args:?}"));
        assert!(output.stderr.contains(expected.as_str()), "{args:?}: {}", output.stderr);
    }
    assert!(!std::path::Path::new(store).exists(), "monitor created its store");
}
