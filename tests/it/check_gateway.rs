//! `porthole check` of an nginx that answers `502`, `503` or `504`: the
//! upstream its configuration forwards the request to is named, with where
//! it is written, and diagnosed as `check` would diagnose it; a `return`
//! that answers by itself is named instead. Each test runs in a private
//! network namespace with only `lo` up.

use std::time::Duration;

use crate::check::{check, nginx_in};
use crate::util::{cause, cause_ids, eventually, server_in, unique_port, Netns};

/// The `http-error` cause's summary and evidence lines.
fn http_error(json: &serde_json::Value) -> (String, Vec<String>) {
    let found = cause(json, "http-error");
    let summary = found["summary"].as_str().expect("a summary").to_string();
    let evidence = found["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|line| line.as_str().expect("a line").to_string())
        .collect();
    (summary, evidence)
}

#[test]
fn an_nginx_gateway_error_names_its_upstream_and_why_that_fails() {
    if !crate::util::installed("nginx") {
        crate::util::skip("nginx is not installed");
        return;
    }
    let Some(netns) = Netns::create() else { return };
    let (front, front2, gateway, hung) =
        (unique_port(), unique_port(), unique_port(), unique_port());
    // The upstream one port above nginx's own, as 8080 in front of 8081.
    let dead = front + 1;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nginx.conf").display().to_string();
    // A server that accepts into its backlog and never answers.
    let _hung = server_in(&netns, "127.0.0.1", hung, "silent");
    // The second server is in a file the main one includes by a glob, as
    // Debian's sites-enabled/*.
    let sites = dir.path().join("sites");
    std::fs::create_dir(&sites).unwrap();
    let site = sites.join("gateway.conf").display().to_string();
    std::fs::write(
        &site,
        format!(
            "upstream app {{ server 127.0.0.1:{hung}; }}\nserver {{\n  listen 127.0.0.1:{gateway};\n  proxy_read_timeout 1s;\n  location /api/ {{ proxy_pass http://app/v1/; }}\n  location = /down {{ return 503; }}\n}}\n"
        ),
    )
    .unwrap();
    let _nginx = nginx_in(
        &netns,
        dir.path(),
        &format!(
            "listen 127.0.0.1:{front};\n    location / {{ proxy_pass http://127.0.0.1:{dead}; }}\n  }}\n  include sites/*.conf;\n  server {{\n    listen 127.0.0.1:{front2};"
        ),
    );
    let bare = format!("127.0.0.1:{front}");
    assert!(
        eventually(Duration::from_secs(20), || check(&netns, &[&bare]).0 == 0),
        "nginx did not start"
    );
    // A bare port is up whatever its service says to the nudge: the 502
    // is named, and the port is reachable (not a hung server).
    let (code, json) = check(&netns, &[&bare]);
    assert_eq!((code, cause_ids(&json)), (0, vec![]), "{json:#}");
    assert!(json["attempts"][0]["detail"].as_str().unwrap().contains("HTTP 502"), "{json:#}");
    // With `--status`, the nudge's answer is judged: an HTTP error, not a
    // server that does not respond.
    let (code, json) = check(&netns, &[&bare, "--status", "200"]);
    assert_eq!((code, cause_ids(&json)), (1, vec!["http-error".to_string()]), "{json:#}");

    // 502: nothing listens on the upstream.
    let url = format!("http://127.0.0.1:{front}/page?q=1&r=2");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!((code, cause_ids(&json)), (1, vec!["http-error".to_string()]), "{json:#}");
    let (summary, evidence) = http_error(&json);
    let upstream = format!("http://127.0.0.1:{dead}/page?q=1&r=2");
    assert!(summary.contains("502 Bad Gateway"), "{summary}");
    assert!(summary.contains(&format!("its upstream {upstream} fails")), "{summary}");
    // nginx itself, one port below, is not offered as the upstream.
    assert!(summary.ends_with(&format!("nothing listens on port {dead}")), "{summary}");
    assert!(summary.contains(&format!("{config} line 12")), "{summary}");
    let forwards = format!("proxy_pass http://127.0.0.1:{dead})");
    assert!(evidence.iter().any(|line| line.ends_with(&forwards)), "{evidence:#?}");
    // The error log the configuration names says how nginx failed.
    assert!(
        evidence.iter().any(|line| line.contains("error.log says") && line.contains("refused")),
        "{evidence:#?}"
    );
    let fixes = cause(&json, "http-error")["fix_commands"].to_string();
    // The query's `&` is quoted: the line runs as printed.
    assert!(fixes.contains(&format!("check '{upstream}'")), "{fixes}");
    let steps = cause(&json, "http-error")["fix"].to_string();
    assert!(!steps.contains(&format!("port {front}")), "{steps}");
    // Once the upstream the verdict names listens, nginx answers.
    let _app = server_in(&netns, "127.0.0.1", dead, "http");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!((code, cause_ids(&json)), (0, vec![]), "{json:#}");

    // 504: the upstream of an `upstream` group accepts and never answers,
    // and nginx's read timeout is named. The probe outwaits it.
    let url = format!("http://127.0.0.1:{gateway}/api/users");
    let (code, json) = check(&netns, &[&url, "--timeout", "5s"]);
    assert_eq!((code, cause_ids(&json)), (1, vec!["http-error".to_string()]), "{json:#}");
    let (summary, evidence) = http_error(&json);
    assert!(summary.contains("504 Gateway Time-out"), "{summary}");
    let upstream = format!("http://127.0.0.1:{hung}/v1/users");
    assert!(summary.contains(&format!("its upstream {upstream} fails")), "{summary}");
    assert!(summary.contains("accepts connections but sent nothing"), "{summary}");
    assert!(
        evidence.iter().any(|line| line.starts_with("upstream app is defined at")),
        "{evidence:#?}"
    );
    assert!(
        evidence.iter().any(|line| line.contains("proxy_read_timeout 1s")
            && line.contains(&format!("{site} line 4"))),
        "{evidence:#?}"
    );

    // 503 from the configuration itself: no upstream is blamed.
    let url = format!("http://127.0.0.1:{gateway}/down");
    let (code, json) = check(&netns, &[&url]);
    assert_eq!(code, 1, "{json:#}");
    let (summary, _) = http_error(&json);
    assert!(summary.contains("answers /down itself with `return 503`"), "{summary}");
    assert!(summary.contains(&format!("{site} line 6")), "{summary}");
}
