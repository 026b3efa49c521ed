//! One vocabulary across porthole's JSON outputs: one real listener, seen
//! by every command that reports it, must carry the same field names with
//! the same values and formats (README, "JSON output"). A rename in one
//! output, or a time written as a number again, fails here.

use std::path::Path;

use serde_json::Value;

use crate::dashboard::{api, serve, PORT as DASHBOARD_PORT};
use crate::monitor::{dump, of_type, Monitor};
use crate::util::{server_in, unique_port, Netns};

/// The version every output carries (`render::json::SCHEMA_VERSION`).
const SCHEMA_VERSION: u64 = 2;

/// Names that an earlier layout used for a concept that now has one name:
/// none may appear as a key anywhere.
/// (`version` is still a service's version in `audit --json`; a top-level
/// `version` is checked on its own.)
const RETIRED: &[&str] =
    &["schema", "time", "started", "ended", "first", "last", "bytes_in", "bytes_out"];

/// Checks the vocabulary's rules on every object inside `value`; `place`
/// says which output it came from. Returns the failures.
fn vocabulary_failures(place: &str, value: &Value, failures: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for item in items {
                vocabulary_failures(place, item, failures);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                let mut fail = |why: &str| failures.push(format!("{place}: {key}: {why}: {field}"));
                if RETIRED.contains(&key.as_str()) {
                    fail("a retired name");
                }
                let is_time = key == "at"
                    || key.ends_with("_at")
                    || key == "since"
                    || key == "until"
                    || key == "start_time";
                if is_time && !(field.is_null() || field.as_str().is_some_and(is_rfc3339_utc)) {
                    fail("a time that is not RFC 3339 UTC text");
                }
                if key.ends_with("_us") && !(field.is_null() || field.is_i64()) {
                    fail("a microsecond count that is not an integer");
                }
                if key == "schema_version" && field != SCHEMA_VERSION {
                    fail("not the shared schema version");
                }
                // (`unknown_process: 6` in the dashboard's losses is a count
                // per loss kind, not a process.)
                if (key == "process" || key.ends_with("_process"))
                    && !(field.is_null() || field.is_object() || field.is_u64())
                {
                    fail("a process that is not a process object (a bare name is process_name)");
                }
                // (`uninspected_processes`, `namespace_processes` are counts.)
                if let Some(all) = field.as_array().filter(|_| key.ends_with("processes")) {
                    if !all.iter().all(Value::is_object) {
                        fail("processes that are not a list of process objects");
                    }
                }
                if key.ends_with("_port") && !(field.is_null() || field.is_u64()) {
                    fail("a port that is not a number");
                }
                if key.ends_with("_address")
                    && field.as_str().is_some_and(|a| a.parse::<std::net::IpAddr>().is_err())
                {
                    fail("an address that is not a bare IP address (the port is separate)");
                }
                vocabulary_failures(place, field, failures);
            }
        }
        _ => {}
    }
}

/// `2026-11-28T08:12:01.123456Z`: the one time format of every output.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    bytes.len() == 27
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..26)
        && bytes[26] == b'Z'
}

/// What every output must say about the one listener: address, port and
/// the owning process (pid, name and start, which with the pid names the
/// process even after the pid is reused).
#[derive(Debug, PartialEq)]
struct Seen {
    local_address: Value,
    local_port: Value,
    pid: Value,
    name: Value,
    start_time: Value,
}

impl Seen {
    /// From a record with `local_address`, `local_port` and a process
    /// object in `process` (one) or `processes` (the first).
    fn of(record: &Value) -> Seen {
        let process = if record["process"].is_object() {
            &record["process"]
        } else {
            &record["processes"][0]
        };
        Seen {
            local_address: record["local_address"].clone(),
            local_port: record["local_port"].clone(),
            pid: process["pid"].clone(),
            name: process["name"].clone(),
            start_time: process["start_time"].clone(),
        }
    }
}

fn json_of(output: &crate::util::Output, what: &str) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {output:?}"))
}

fn lines_of(output: &crate::util::Output) -> Vec<Value> {
    output.stdout.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

fn find<'a>(records: &'a Value, port: u16, what: &str) -> &'a Value {
    records
        .as_array()
        .and_then(|all| all.iter().find(|r| r["local_port"] == port))
        .unwrap_or_else(|| panic!("{what}: no record with local_port {port}: {records:#}"))
}

#[test]
fn one_listener_has_the_same_names_and_formats_in_every_output() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.sqlite");
    let store_arg = store.to_str().unwrap();
    let port = unique_port();
    let config = write_alerts(dir.path(), port);
    let monitor = Monitor::start(
        Some(&netns),
        &["--capture", "netlink", "--store", store_arg, "--alerts", &config],
    );
    let token = dir.path().join("dashboard.token");
    let served = serve(
        &netns,
        &[
            "dashboard",
            "--store",
            store_arg,
            "--serve",
            &format!("127.0.0.1:{DASHBOARD_PORT}"),
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    let server = server_in(&netns, "127.0.0.1", port, "http");
    let pid = server.pid();
    let alerted = monitor.wait_for(|lines| {
        of_type(lines, "alert").iter().any(|a| a["local_port"] == port)
            && of_type(lines, "listener").iter().any(|l| l["local_port"] == port)
    });
    assert!(alerted, "{}", dump(&monitor.lines.lock().unwrap()));
    let port_text = port.to_string();
    let mut documents: Vec<(String, Value)> = Vec::new();
    let mut seen: Vec<(String, Seen)> = Vec::new();

    let ls = json_of(&netns.porthole(&["ls", "--json"]), "ls --json");
    seen.push(("ls --json".into(), Seen::of(find(&ls, port, "ls --json"))));
    documents.push(("ls --json".into(), ls));
    for line in lines_of(&netns.porthole(&["ls", "--jsonl"])) {
        if line["local_port"] == port {
            seen.push(("ls --jsonl".into(), Seen::of(&line)));
        }
        documents.push(("ls --jsonl".into(), line));
    }

    let report = json_of(&netns.porthole(&[&port_text, "--json"]), "PORT --json");
    seen.push(("PORT --json".into(), Seen::of(find(&report["listeners"], port, "PORT"))));
    documents.push(("PORT --json".into(), report));

    let check = json_of(&netns.porthole(&["check", &port_text, "--json"]), "check --json");
    assert_eq!(check["ok"], true, "{check:#}");
    seen.push(("check --json".into(), Seen::of(find(&check["listeners"], port, "check"))));
    documents.push(("check --json".into(), check));

    let top = lines_of(&netns.porthole(&["top", "--jsonl", "--count", "1", "--interval", "200ms"]));
    seen.push(("top --jsonl".into(), Seen::of(find(&top[0]["listeners"], port, "top"))));
    documents.push(("top --jsonl".into(), Value::Array(top)));

    let audit = json_of(&netns.porthole(&["audit", "--port", &port_text, "--json"]), "audit");
    let service = find(&audit["services"], port, "audit services");
    assert_eq!(service["local_address"], "127.0.0.1", "{audit:#}");
    assert_eq!(service["pids"], serde_json::json!([pid]), "{audit:#}");
    documents.push(("audit --json".into(), audit));

    let listeners = api(&netns, &served, &format!("/api/listeners?port={port}"));
    seen.push(("/api/listeners".into(), Seen::of(find(&listeners["items"], port, "dashboard"))));
    documents.push(("/api/listeners".into(), listeners));
    for path in ["/api/changes", "/api/health", "/api/connections", "/api/open"] {
        documents.push((path.into(), api(&netns, &served, path)));
    }
    let timeline = api(&netns, &served, &format!("/api/timeline?port={port}"));
    // A span names its process by `pid` and `process_name` only.
    let span = &timeline["spans"][0];
    assert_eq!(
        (&timeline["local_port"], &span["local_address"], &span["pid"], &span["process_name"]),
        (&Value::from(port), &Value::from("127.0.0.1"), &Value::from(pid), &Value::from("python3")),
        "{timeline:#}"
    );
    documents.push(("/api/timeline".into(), timeline));

    let free = json_of(&netns.porthole(&["free", "--json"]), "free --json");
    assert!(free["port"].is_u64(), "{free:#}");
    documents.push(("free --json".into(), free));

    let kill = json_of(&netns.porthole(&["kill", &port_text, "--yes", "--json"]), "kill --json");
    seen.push(("kill --json".into(), Seen::of(find(&kill["listeners"], port, "kill"))));
    assert_eq!(kill["targets"][0]["pid"], pid, "{kill:#}");
    documents.push(("kill --json".into(), kill));
    drop(server);

    let gone = monitor.wait_for(|lines| {
        of_type(lines, "listener")
            .iter()
            .any(|l| l["local_port"] == port && l["change"] == "disappeared")
    });
    let (lines, stderr, code) = monitor.stop();
    assert!(gone, "{}\n{stderr}", dump(&lines));
    assert_eq!(code, 0, "{stderr}");
    let appeared = of_type(&lines, "listener")
        .into_iter()
        .find(|l| l["local_port"] == port && l["change"] == "appeared")
        .expect("the listener's line");
    seen.push(("monitor --jsonl".into(), Seen::of(appeared)));
    let alert = of_type(&lines, "alert")
        .into_iter()
        .find(|a| a["local_port"] == port)
        .expect("the watched-port alert");
    seen.push(("alert".into(), Seen::of(alert)));
    documents.push(("monitor --jsonl".into(), Value::Array(lines)));

    let history = crate::util::run(
        crate::util::porthole()
            .args(["history", &port_text, "--listeners", "--json", "--store"])
            .arg(&store),
    );
    let history = json_of(&history, "history --json");
    let recorded = history["listeners"]
        .as_array()
        .and_then(|all| all.iter().find(|l| l["change"] == "appeared"))
        .unwrap_or_else(|| panic!("history: the appearance: {history:#}"));
    seen.push(("history --json".into(), Seen::of(recorded)));
    documents.push(("history --json".into(), history));

    // The same listener, the same names and values everywhere.
    let expected = Seen {
        local_address: "127.0.0.1".into(),
        local_port: port.into(),
        pid: pid.into(),
        name: "python3".into(),
        start_time: seen[0].1.start_time.clone(),
    };
    assert!(expected.start_time.as_str().is_some_and(is_rfc3339_utc), "{seen:#?}");
    for (place, record) in &seen {
        assert_eq!(record, &expected, "{place} names the listener differently");
    }

    // And every output follows the common rules.
    let mut failures = Vec::new();
    for (place, document) in &documents {
        vocabulary_failures(place, document, &mut failures);
        let versioned = !place.starts_with("ls") && !place.ends_with("--jsonl");
        if versioned && document.get("schema_version").is_none() {
            failures.push(format!("{place}: no schema_version"));
        }
        if document.get("version").is_some() {
            failures.push(format!("{place}: version, not schema_version"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Alert rules that raise a `watched-port` alert for `port` only.
fn write_alerts(dir: &Path, port: u16) -> String {
    let path = dir.join("alerts.toml");
    std::fs::write(&path, format!("[rules]\naudit_severity = \"off\"\nwatched_ports = [{port}]\n"))
        .unwrap();
    path.to_str().unwrap().to_string()
}

/// The rules themselves, on outputs written by hand: a test that cannot
/// fail proves nothing.
#[test]
fn the_vocabulary_check_catches_old_names_and_numeric_times() {
    let mut failures = Vec::new();
    let old = serde_json::json!({
        "schema": 1,
        "items": [{"address": "127.0.0.1", "time": 1_795_850_000_u64}],
        "spans": [{"process": "node", "started_at": 1_795_850_000_u64, "local_port": "80"}],
        "server_address": "127.0.0.1:80",
    });
    vocabulary_failures("old", &old, &mut failures);
    let text = failures.join("\n");
    for expected in [
        "schema: a retired",
        "time: a retired",
        "process: a process",
        "started_at: a time",
        "local_port: a port",
        "server_address: an address",
    ] {
        assert!(text.contains(expected), "{expected} not caught:\n{text}");
    }
    let mut none = Vec::new();
    let new = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "at": "2026-11-28T08:12:01.123456Z",
        "at_us": 1_795_854_721_123_456_i64,
        "process": {"pid": 7, "name": "x", "start_time": null},
        "local_address": "::1",
        "local_port": 80,
    });
    vocabulary_failures("new", &new, &mut none);
    assert!(none.is_empty(), "{none:?}");
}
