//! `porthole check` of an HTTP target that redirects: the `Location` is
//! named, followed while it stays on this machine, and the last URL
//! reached decides the verdict. Each test runs in a private network
//! namespace with only `lo` up, so nothing a test asks for can leave it.

use crate::check::check;
use crate::util::{answering, cause, cause_ids, unique_port, Answering, ChildGuard, Netns};

/// An HTTP/1.1 redirect to `location`.
fn redirect(status: &str, location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

/// Servers in `netns` that answer every request on `127.0.0.1:PORT` with
/// the reply given for it.
fn servers(netns: &Netns, replies: &[(u16, &[u8])]) -> ChildGuard {
    let listeners: Vec<Answering<'_>> = replies
        .iter()
        .map(|(port, reply)| Answering::replying("127.0.0.1", *port, reply))
        .collect();
    answering(netns.command("python3"), &listeners).0
}

/// The `redirects` of a `check --json`, each as `(status, location, to,
/// followed)`.
fn redirects(json: &serde_json::Value) -> Vec<(u64, String, Option<String>, bool)> {
    json["redirects"]
        .as_array()
        .expect("a redirects array")
        .iter()
        .map(|hop| {
            (
                hop["status"].as_u64().expect("a status"),
                hop["location"].as_str().expect("a location").to_string(),
                hop["to"].as_str().map(str::to_string),
                hop["followed"].as_bool().expect("followed"),
            )
        })
        .collect()
}

#[test]
fn a_redirect_to_another_local_port_is_followed_and_its_answer_decides() {
    let Some(netns) = Netns::create() else { return };
    let (port, app) = (unique_port(), unique_port());
    let to = format!("http://127.0.0.1:{app}/app");
    let moved = redirect("302 Found", &to);
    let _servers = servers(&netns, &[(port, &moved), (app, HELLO)]);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!((code, json["ok"].clone()), (0, true.into()), "{json:#}");
    assert!(cause_ids(&json).is_empty(), "{json:#}");
    assert_eq!(redirects(&json), [(302, to.clone(), Some(to.clone()), true)], "{json:#}");
    let attempts = json["attempts"].as_array().expect("attempts");
    let ports: Vec<u64> = attempts.iter().filter_map(|a| a["port"].as_u64()).collect();
    assert_eq!(ports, [u64::from(port), u64::from(app)], "{json:#}");
    assert!(attempts[1]["detail"].as_str().unwrap().contains("HTTP 200 OK"), "{json:#}");

    // `--status` judges the last answer; a list that names the redirect's
    // own status takes the redirect as the answer.
    let (code, json) = check(&netns, &[&url, "--status", "200"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(cause_ids(&json).is_empty(), "{json:#}");
    let (code, json) = check(&netns, &[&url, "--status", "204"]);
    assert_eq!(code, 1, "{json:#}");
    let refused = cause(&json, "http-error")["summary"].as_str().unwrap().to_string();
    assert!(
        refused.contains("HTTP 200 OK") && refused.contains("reached by a redirect"),
        "{json:#}"
    );
    let (code, json) = check(&netns, &[&url, "--status", "301,302"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["attempts"].as_array().map(Vec::len), Some(1), "{json:#}");
    assert_eq!(
        json["redirects"][0]["not_followed"], "302 is among the accepted statuses (301,302)",
        "{json:#}"
    );

    let text = netns.porthole(&["check", &url]);
    assert_eq!(text.code, 0, "{text:?}");
    let verdict = text.stdout.lines().next().unwrap_or_default();
    assert!(
        verdict.starts_with(&format!("OK: {url} is reachable, redirected to {to}")),
        "{text:?}"
    );
    assert!(verdict.contains(&format!("127.0.0.1:{app}")), "{text:?}");
    assert!(
        text.stdout.contains(&format!("\nRedirects\n  {url} answered 302, Location: {to}\n")),
        "{text:?}"
    );
}

/// The application redirects to a port one up, where nothing listens: that
/// is the verdict, and the redirect's target is the suspect. The listener
/// next door is named in the evidence, but the fix never tells the user to
/// give the client that port: it is the URL they asked.
#[test]
fn a_redirect_to_a_dead_port_is_the_verdict_and_names_the_port() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let dead = port + 1;
    let to = format!("http://127.0.0.1:{dead}/");
    let moved = redirect("301 Moved Permanently", &to);
    let server = servers(&netns, &[(port, &moved)]);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!((code, json["ok"].clone()), (1, false.into()), "{json:#}");
    assert_eq!(cause_ids(&json), ["nothing-listening"], "{json:#}");
    let nothing = cause(&json, "nothing-listening");
    let summary =
        format!("nothing listens on port {dead}, where {url} sends clients (301 to {to})");
    assert_eq!(nothing["summary"], summary.as_str(), "{nothing:#}");
    let fixes = nothing["fix"].as_array().cloned().unwrap_or_default();
    let first = fixes.first().map(ToString::to_string).unwrap_or_default();
    assert!(
        first.contains(&format!(
            "if {to} is not where the application should send clients, correct the URL that {url} redirects to"
        )),
        "{nothing:#}"
    );
    let all = nothing["fix"].to_string();
    assert!(!all.contains("give the client port"), "the client did not choose the port: {all}");
    assert!(!all.contains("port number in the client"), "{all}");
    assert!(server.pid() > 0);
    let evidence = nothing["evidence"].to_string();
    assert!(evidence.contains(&format!("{url} answered 301, Location: {to}")), "{evidence}");
    assert!(
        evidence.contains(&format!("a listener 1 port(s) below {dead}: 127.0.0.1:{port}")),
        "{evidence}"
    );
    let text = netns.porthole(&["check", &url]);
    assert_eq!(text.code, 1, "{text:?}");
    assert!(text.stdout.starts_with(&format!("nothing-listening: {summary}")), "{text:?}");
}

#[test]
fn redirects_in_a_loop_or_without_end_are_a_redirect_loop() {
    let Some(netns) = Netns::create() else { return };
    let (itself, deeper) = (unique_port(), unique_port());
    let to_itself = redirect("302 Found", "/");
    // `x/` relative to `/x/…/` is one directory deeper each time.
    let to_deeper = redirect("307 Temporary Redirect", "x/");
    let _servers = servers(&netns, &[(itself, &to_itself), (deeper, &to_deeper)]);

    let url = format!("http://127.0.0.1:{itself}/");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["redirect-loop"], "{json:#}");
    let looped = cause(&json, "redirect-loop");
    assert_eq!(
        looped["summary"],
        format!("{url} redirects to itself: clients loop until they give up")
    );
    assert_eq!(redirects(&json), [(302, "/".to_string(), Some(url.clone()), false)], "{json:#}");

    let url = format!("http://127.0.0.1:{deeper}/");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["redirect-loop"], "{json:#}");
    let endless = cause(&json, "redirect-loop");
    assert_eq!(endless["summary"], format!("{url} redirects more than 5 times: clients give up"));
    let hops = redirects(&json);
    assert_eq!(hops.len(), 6, "{json:#}");
    assert!(hops[..5].iter().all(|hop| hop.3) && !hops[5].3, "{json:#}");
    assert_eq!(
        hops[5].2.as_deref(),
        Some(format!("http://127.0.0.1:{deeper}/x/x/x/x/x/x/").as_str()),
        "{json:#}"
    );
}

/// A redirect to `https://` on the port that speaks plain HTTP (an
/// application told it is behind a TLS proxy it is not behind).
#[test]
fn a_redirect_to_https_on_a_plain_port_is_a_tls_mismatch() {
    let Some(netns) = Netns::create() else { return };
    let port = unique_port();
    let to = format!("https://127.0.0.1:{port}/");
    let secure = redirect("308 Permanent Redirect", &to);
    let _servers = servers(&netns, &[(port, &secure)]);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(cause_ids(&json), ["tls-mismatch"], "{json:#}");
    let mismatch = cause(&json, "tls-mismatch");
    let summary = mismatch["summary"].as_str().unwrap();
    assert!(summary.ends_with(&format!("(reached by a redirect from {url})")), "{summary}");
    // The user asked for http://: the application's redirect is what to change.
    assert_eq!(
        mismatch["fix"][0].as_str().unwrap_or_default(),
        format!("{url} sends clients to {to}, but port {port} speaks plain HTTP: turn off the application's redirect to HTTPS (its force-HTTPS or SSL-redirect setting), or serve TLS on port {port}"),
        "{mismatch:#}"
    );
    assert_eq!(redirects(&json), [(308, to.clone(), Some(to), true)], "{json:#}");
}

/// Another machine is named and never asked: the namespace has only `lo`,
/// so a connection to 192.0.2.10 would fail (ENETUNREACH) and a name would
/// not resolve; either would make the verdict a failure.
#[test]
fn a_redirect_off_the_machine_is_named_and_not_followed() {
    let Some(netns) = Netns::create() else { return };
    let (by_name, by_address) = (unique_port(), unique_port());
    let to_name = redirect("302 Found", "https://login.example.invalid/sso?next=%2F");
    let to_address = redirect("302 Found", "http://192.0.2.10:8080/");
    let _servers = servers(&netns, &[(by_name, &to_name), (by_address, &to_address)]);
    for (port, host, to) in [
        (by_name, "login.example.invalid", "https://login.example.invalid:443/sso?next=%2F"),
        (by_address, "192.0.2.10", "http://192.0.2.10:8080/"),
    ] {
        let url = format!("http://127.0.0.1:{port}/");
        let (code, json) = check(&netns, &[&url]);
        assert_eq!((code, json["ok"].clone()), (0, true.into()), "{json:#}");
        assert!(cause_ids(&json).is_empty(), "{json:#}");
        let attempts = json["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "only the URL asked: {json:#}");
        assert_eq!(attempts[0]["address"], "127.0.0.1", "{json:#}");
        let hop = &json["redirects"][0];
        assert_eq!(hop["to"], to, "{json:#}");
        assert_eq!(hop["followed"], false, "{json:#}");
        let why = format!("{host} is not this machine, and porthole sends no traffic off it");
        assert_eq!(hop["not_followed"], why.as_str(), "{json:#}");
        let text = netns.porthole(&["check", &url]);
        assert_eq!(text.code, 0, "{text:?}");
        assert!(
            text.stdout.starts_with(&format!(
                "OK: {url} is reachable, and redirects to {to}, not followed: {why}"
            )),
            "{text:?}"
        );
    }
}

/// `Location` is the server's text: bidi controls are shown escaped in
/// every line that quotes it, and a header with an escape or a carriage
/// return is not read at all (the redirect is named without it).
#[test]
fn hostile_location_bytes_never_reach_the_terminal_raw() {
    let Some(netns) = Netns::create() else { return };
    let (control, bidi) = (unique_port(), unique_port());
    let with_control = redirect("302 Found", "/\u{1b}]0;owned\u{7}\u{1b}[2Jnext\rX");
    // No control character: a path porthole follows (percent-encoded),
    // back to the same answer, then names the loop.
    let with_bidi = redirect("302 Found", "/admin\u{202e}txt.exe");
    let _servers = servers(&netns, &[(control, &with_control), (bidi, &with_bidi)]);
    for port in [control, bidi] {
        let url = format!("http://127.0.0.1:{port}/");
        let text = netns.porthole(&["check", &url]);
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(!text.stdout.contains(raw), "{raw:?} raw in {text:?}");
        }
        let (_, json) = check(&netns, &[&url]);
        if port == control {
            assert_eq!(text.code, 0, "{text:?}");
            let verdict =
                format!("OK: {url} is reachable, but its 302 has no readable Location header");
            assert!(text.stdout.starts_with(&verdict), "{text:?}");
            let hop = &json["redirects"][0];
            assert_eq!(
                (hop["location"].as_str(), hop["followed"].as_bool()),
                (Some(""), Some(false))
            );
            assert_eq!(hop["to"], serde_json::Value::Null, "{json:#}");
        } else {
            assert_eq!(text.code, 1, "{text:?}");
            assert!(text.stdout.contains("Location: /admin\\u202etxt.exe"), "{text:?}");
            assert!(text.stdout.contains("\\u202e"), "{text:?}");
            assert_eq!(cause_ids(&json), ["redirect-loop"], "{json:#}");
            let to = format!("http://127.0.0.1:{port}/admin%E2%80%AEtxt.exe");
            assert_eq!(json["redirects"][0]["to"], to.as_str(), "{json:#}");
        }
    }
}
