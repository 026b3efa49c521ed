//! What an HTTP service is, and whether it wants credentials. Starting from
//! the answer to the Host-less `GET /`, the owner process and the port, at
//! most one service-specific read-only request is made (`/json/version`,
//! `/version`, `/api/kernels`, `/pods`, `/metrics`, `/_all_dbs`, etcd's
//! range read; for a file server the secret paths of [`super::files`]),
//! then the browser checks for plain-HTTP services.

use std::net::SocketAddr;

use super::conn::Deadline;
use super::http::{self, Request, Response};
use super::{Hint, Impact, Observation, Outcome};

/// The kinds of HTTP service that have a specific check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Node.js inspector or Chrome DevTools protocol.
    Devtools,
    Docker,
    Jupyter,
    Elasticsearch,
    CouchDb,
    Etcd,
    Kubelet,
    Metrics,
    Generic,
}

/// Decides the kind from the first answer, then the process, then the port.
pub fn kind_of(first: &Response, hint: &Hint, port: u16) -> Kind {
    let body = first.body_text();
    let server = first.header("server").unwrap_or("").to_ascii_lowercase();
    if body.contains("WebSockets request was expected") {
        return Kind::Devtools;
    }
    if server.starts_with("docker") || first.header("api-version").is_some() {
        return Kind::Docker;
    }
    if body.contains("You Know, for Search") || body.contains("\"cluster_name\"") {
        return Kind::Elasticsearch;
    }
    if body.contains("\"couchdb\"") {
        return Kind::CouchDb;
    }
    // Prometheus's text format at `/` (prometheus_client's
    // `start_http_server` answers every path with it), or a landing page
    // that links to it, as Go exporters serve: whatever the process is
    // called.
    let text = body.trim_start();
    if text.starts_with("# HELP ")
        || text.starts_with("# TYPE ")
        || body.contains("href=\"/metrics\"")
        || body.contains("href='/metrics'")
    {
        return Kind::Metrics;
    }
    if jupyter_first_page(first) {
        return Kind::Jupyter;
    }
    let named = |fragment: &str| hint.names.iter().any(|n| n.contains(fragment));
    let in_cmdline = |fragment: &str| hint.cmdlines.iter().any(|c| c.contains(fragment));
    if hint.names.iter().any(|n| {
        matches!(n.as_str(), "chrome" | "chromium" | "headless_shell" | "msedge" | "electron")
    }) || (named("node") && in_cmdline("--inspect"))
        || port == 9229
        || port == 9222
    {
        return Kind::Devtools;
    }
    if named("dockerd") || named("podman") || port == 2375 || port == 2376 {
        return Kind::Docker;
    }
    if jupyter_process(hint) || port == 8888 {
        return Kind::Jupyter;
    }
    if in_cmdline("elasticsearch") || in_cmdline("opensearch") || port == 9200 {
        return Kind::Elasticsearch;
    }
    if named("beam.smp") && in_cmdline("couchdb") || port == 5984 {
        return Kind::CouchDb;
    }
    if named("etcd") || port == 2379 {
        return Kind::Etcd;
    }
    if named("kubelet") || port == 10250 || port == 10255 {
        return Kind::Kubelet;
    }
    if named("prometheus")
        || named("exporter")
        || named("alertmanager")
        || named("pushgateway")
        || matches!(port, 9090 | 9091 | 9093 | 9100)
    {
        return Kind::Metrics;
    }
    Kind::Generic
}

/// The first answer is Jupyter's: a redirect to its `/tree` or `/lab`
/// page, or a page that names it.
fn jupyter_first_page(first: &Response) -> bool {
    let location = first.header("location").unwrap_or("");
    location.contains("/tree") || location.contains("/lab") || first.body_text().contains("jupyter")
}

/// An owner is Jupyter by its name or command line.
fn jupyter_process(hint: &Hint) -> bool {
    hint.names.iter().any(|name| name.contains("jupyter"))
        || hint.cmdlines.iter().any(|cmdline| cmdline.contains("jupyter"))
}

/// `GET /api/kernels` answered as Jupyter's REST API does: the kernel
/// list (a JSON array), or a refusal in its JSON error shape
/// (`{"message": …, "reason": …}`).
fn jupyter_kernels_answer(reply: &Response) -> bool {
    let body = reply.body.trim_ascii_start();
    match reply.status {
        200 => body.starts_with(b"["),
        401 | 403 => reply.json().is_some_and(|json| json.get("message").is_some()),
        _ => false,
    }
}

/// Runs the checks for an HTTP service whose first answer is `first`.
pub fn follow(
    address: SocketAddr,
    tls: bool,
    first: &Response,
    hint: &Hint,
    deadline: &Deadline,
    outcome: &mut Outcome,
) {
    outcome.http = true;
    outcome.service = Some(if tls { "https".into() } else { "http".into() });
    outcome.version = first.header("server").map(str::to_string);
    let kind = kind_of(first, hint, address.port());
    let host = http::local_host(address);
    let get = |path: &'static str, outcome: &mut Outcome| {
        let request = Request::get(path, host.clone());
        outcome.probes.push(format!("http {}", request.line()));
        http::send(address, tls, &request, deadline)
    };
    match kind {
        Kind::Devtools => {
            if let Some(reply) = get("/json/version", outcome) {
                devtools(&reply, outcome);
            }
        }
        Kind::Docker => {
            if let Some(reply) = get("/version", outcome) {
                if let Some(json) = reply.json().filter(|j| j.get("ApiVersion").is_some()) {
                    outcome.service = Some("docker".into());
                    outcome.version =
                        json.get("Version").and_then(|v| v.as_str()).map(str::to_string);
                    outcome.observations.push(Observation::DockerApi {
                        evidence: format!("GET /version → {}", reply.summary()),
                    });
                }
            }
        }
        Kind::Jupyter => {
            if let Some(reply) = get("/api/kernels", outcome).filter(|reply| {
                // Port 8888 alone only makes it worth asking: a file
                // server or any other app there is not named Jupyter
                // unless the page, the process or this answer says so.
                jupyter_first_page(first) || jupyter_process(hint) || jupyter_kernels_answer(reply)
            }) {
                outcome.service = Some("jupyter".into());
                authenticated_read(
                    &reply,
                    reply.status == 200 && reply.body.trim_ascii_start().starts_with(b"["),
                    "GET /api/kernels",
                    "start Jupyter with a token or password (never `--ServerApp.token=''`; `jupyter server password`) and `--ip=127.0.0.1`",
                    Impact::Control,
                    outcome,
                );
            }
        }
        Kind::Elasticsearch => {
            outcome.service = Some("elasticsearch".into());
            let reply = get("/", outcome);
            if let Some(reply) = reply {
                if let Some(number) = reply.json().and_then(|j| {
                    j.pointer("/version/number").and_then(|v| v.as_str()).map(str::to_string)
                }) {
                    outcome.version = Some(number);
                }
                authenticated_read(
                    &reply,
                    reply.status == 200 && reply.body_text().contains("cluster_name"),
                    "GET /",
                    "set `xpack.security.enabled: true` (OpenSearch: the security plugin) and `network.host: 127.0.0.1`",
                    Impact::Control,
                    outcome,
                );
            }
        }
        Kind::CouchDb => {
            outcome.service = Some("couchdb".into());
            if let Some(reply) = get("/_all_dbs", outcome) {
                authenticated_read(
                    &reply,
                    reply.status == 200,
                    "GET /_all_dbs",
                    "create an admin (`[admins]` in local.ini) to leave admin party, and `bind_address = 127.0.0.1`",
                    Impact::Control,
                    outcome,
                );
            }
        }
        Kind::Etcd => etcd(address, tls, &host, deadline, outcome),
        Kind::Kubelet => {
            if let Some(reply) = get("/pods", outcome) {
                outcome.service = Some("kubelet".into());
                authenticated_read(
                    &reply,
                    reply.status == 200 && reply.body_text().contains("PodList"),
                    "GET /pods",
                    "run the kubelet with `--anonymous-auth=false --authorization-mode=Webhook --read-only-port=0`",
                    Impact::Control,
                    outcome,
                );
            }
        }
        Kind::Metrics => {
            if let Some(reply) = get("/metrics", outcome) {
                let text = reply.body_text();
                let is_metrics =
                    reply.status == 200 && (text.contains("# HELP") || text.contains("# TYPE"));
                if is_metrics || reply.status == 401 {
                    outcome.service = Some("metrics".into());
                    authenticated_read(
                        &reply,
                        is_metrics,
                        "GET /metrics",
                        &metrics_fix(hint, address.port()),
                        Impact::Information,
                        outcome,
                    );
                }
                // Prometheus itself (its own metrics name it): what it is,
                // and whether its admin API is on, read from its flags.
                if is_metrics
                    && (hint.names.iter().any(|n| n == "prometheus")
                        || text.contains("prometheus_build_info{"))
                {
                    prometheus(address, tls, &host, deadline, outcome);
                }
            }
        }
        Kind::Generic => {}
    }
    // A listing at `/` is a file server whatever its port suggested (a
    // `python3 -m http.server 8888` is no Jupyter).
    if super::files::listing(first).is_some()
        || (kind == Kind::Generic && super::files::applies(first, hint))
    {
        let found = super::files::check(address, tls, first, deadline, &mut outcome.probes);
        if found.listing.is_some() || !found.secrets.is_empty() {
            outcome.observations.push(Observation::FileServer(found));
        }
    }
    if !tls {
        // A WebSocket to a confirmed debugger *is* a debugging session.
        let debugger =
            outcome.observations.iter().any(|o| matches!(o, Observation::Debugger { .. }));
        let checks = http::browser_checks(address, deadline, debugger, &mut outcome.probes);
        if let Some(evidence) = checks.rebindable {
            outcome.observations.push(Observation::Rebindable { evidence, page: true });
        } else if let Some(evidence) = checks.rebindable_unseen {
            outcome.observations.push(Observation::Rebindable { evidence, page: false });
        }
        if let Some(cors) = checks.cors {
            outcome
                .observations
                .push(Observation::Cors { evidence: cors.evidence, credentials: cors.credentials });
        }
        if let Some(evidence) = checks.websocket {
            outcome.observations.push(Observation::WebsocketOrigin { evidence });
        }
    }
}

/// How to close an open `/metrics`: the Prometheus exporter toolkit's
/// flags for Prometheus and its exporters, which have them; for anything
/// else serving the format (an application's own metrics), what any server
/// can do.
fn metrics_fix(hint: &Hint, port: u16) -> String {
    let toolkit = ["prometheus", "exporter", "alertmanager", "pushgateway"];
    if hint.names.iter().any(|name| toolkit.iter().any(|t| name.contains(t))) {
        format!(
            "bind with `--web.listen-address=127.0.0.1:{port}` and require basic auth in a `--web.config.file`"
        )
    } else {
        format!(
            "serve the metrics on 127.0.0.1:{port} only (prometheus_client: `start_http_server({port}, addr=\"127.0.0.1\")`) or behind a proxy that asks for credentials"
        )
    }
}

/// Records an open or closed door from a read that needs credentials when
/// the service is protected.
fn authenticated_read(
    reply: &Response,
    open: bool,
    request: &str,
    fix: &str,
    impact: Impact,
    outcome: &mut Outcome,
) {
    if open {
        outcome.observations.push(Observation::NoAuth {
            evidence: format!("{request} without credentials → {}", reply.summary()),
            fix: fix.to_string(),
            impact,
        });
    } else if matches!(reply.status, 401 | 403) {
        outcome.observations.push(Observation::AuthRequired {
            evidence: format!("{request} → {} {}", reply.status, reply.reason),
        });
    }
}

/// `/json/version` of the Node inspector or Chrome: who is debuggable.
/// The reply must have the protocol's shape, not just a `Browser` field: the
/// inspector's `Browser: node.js/…` with a `Protocol-Version`, or a
/// browser's `Protocol-Version` with a `webSocketDebuggerUrl` (which Chrome,
/// Edge and headless shells all give). Any JSON answer on port 9222 or 9229
/// (a Python test server, an unrelated API) is otherwise only HTTP.
fn devtools(reply: &Response, outcome: &mut Outcome) {
    if reply.status != 200 {
        return;
    }
    let Some(json) = reply.json() else { return };
    let text = |key: &str| json.get(key).and_then(|v| v.as_str());
    let Some(browser) = text("Browser") else { return };
    if text("Protocol-Version").is_none() {
        return;
    }
    let node = browser.starts_with("node.js/");
    let socket = text("webSocketDebuggerUrl").is_some_and(|url| url.starts_with("ws://"));
    if !node && !socket {
        return;
    }
    outcome.service = Some(if node { "node-inspector".into() } else { "chrome-devtools".into() });
    outcome.version = Some(browser.to_string());
    let (kind, fix) = if node {
        ("Node.js inspector", "start node without --inspect")
    } else {
        (
            "Chrome DevTools protocol",
            "run the browser without --remote-debugging-port, or with --remote-debugging-pipe",
        )
    };
    outcome.observations.push(Observation::Debugger {
        kind: kind.into(),
        evidence: format!("GET /json/version → {}", reply.summary()),
        fix: fix.into(),
    });
}

/// The fix for an admin API anyone can call.
const ADMIN_API_FIX: &str = "start Prometheus without `--web.enable-admin-api` (enable it only while an administrator needs it), or require basic auth in a `--web.config.file`";

/// Prometheus: its build (`/api/v1/status/buildinfo`) and its flags
/// (`/api/v1/status/flags`), both read-only. `--web.enable-admin-api`
/// opens `/api/v1/admin/tsdb/*`, which deletes series and writes
/// snapshots: it is read from the flags, never called.
fn prometheus(
    address: SocketAddr,
    tls: bool,
    host: &str,
    deadline: &Deadline,
    outcome: &mut Outcome,
) {
    let get = |path: &'static str, outcome: &mut Outcome| {
        let request = Request::get(path, host.to_string());
        outcome.probes.push(format!("http {}", request.line()));
        http::send(address, tls, &request, deadline).filter(|r| r.status == 200)
    };
    let data = |reply: &Response| reply.json().and_then(|json| json.get("data").cloned());
    if let Some(build) = get("/api/v1/status/buildinfo", outcome).as_ref().and_then(data) {
        if let Some(version) = build.get("version").and_then(|v| v.as_str()) {
            outcome.service = Some("prometheus".into());
            outcome.version = Some(version.to_string());
        }
    }
    let Some(flags) = get("/api/v1/status/flags", outcome).as_ref().and_then(data) else {
        return;
    };
    if flags.get("web.enable-admin-api").and_then(|v| v.as_str()) == Some("true") {
        outcome.observations.push(Observation::NoAuth {
            evidence: "GET /api/v1/status/flags without credentials → web.enable-admin-api: true (the TSDB admin API, which deletes series and data, answers anyone; not called)".into(),
            fix: ADMIN_API_FIX.into(),
            impact: Impact::Control,
        });
    }
}

/// etcd: `/version` identifies it; a v3 range read of one key decides auth.
fn etcd(address: SocketAddr, tls: bool, host: &str, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("http GET /version".into());
    let Some(version) =
        http::send(address, tls, &Request::get("/version", host.to_string()), deadline)
    else {
        return;
    };
    let Some(json) = version.json().filter(|j| j.get("etcdserver").is_some()) else { return };
    outcome.service = Some("etcd".into());
    outcome.version = json.get("etcdserver").and_then(|v| v.as_str()).map(str::to_string);
    // A range read of the key "\0" with keys_only: read-only and tiny.
    let body = r#"{"key":"AA==","keys_only":true,"limit":1}"#;
    let request = Request {
        method: "POST",
        path: "/v3/kv/range",
        host: host.to_string(),
        headers: Vec::new(),
        body: Some(body),
    };
    outcome.probes.push("http POST /v3/kv/range (read)".into());
    if let Some(reply) = http::send(address, tls, &request, deadline) {
        authenticated_read(
            &reply,
            reply.status == 200,
            "POST /v3/kv/range {key: \"\\0\", keys_only}",
            "enable auth (`etcdctl user add root && etcdctl auth enable`) or `--client-cert-auth` with TLS",
            Impact::Control,
            outcome,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Response {
        http::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn recognises_services_from_replies() {
        let none = Hint::default();
        let inspector =
            response("HTTP/1.0 400 Bad Request\r\n\r\nWebSockets request was expected\r\n");
        assert_eq!(kind_of(&inspector, &none, 40000), Kind::Devtools);
        let docker = response(
            "HTTP/1.1 404 Not Found\r\nApi-Version: 1.43\r\nServer: Docker/24.0.7 (linux)\r\n\r\n",
        );
        assert_eq!(kind_of(&docker, &none, 40000), Kind::Docker);
        let elastic = response(
            "HTTP/1.1 200 OK\r\n\r\n{\"cluster_name\":\"x\",\"tagline\":\"You Know, for Search\"}",
        );
        assert_eq!(kind_of(&elastic, &none, 40000), Kind::Elasticsearch);
        let plain = response("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n<html>");
        assert_eq!(kind_of(&plain, &none, 40000), Kind::Generic);
        let exporter = Hint { names: vec!["node_exporter".into()], ..Hint::default() };
        assert_eq!(kind_of(&plain, &exporter, 9100), Kind::Metrics);
        // The format itself, or a landing page linking to it, whoever serves it.
        let python = Hint { names: vec!["python3".into()], ..Hint::default() };
        let exposition =
            response("HTTP/1.0 200 OK\r\n\r\n# HELP up Whether up.\n# TYPE up gauge\nup 1\n");
        assert_eq!(kind_of(&exposition, &python, 8000), Kind::Metrics);
        let landing = response(
            "HTTP/1.1 200 OK\r\n\r\n<html><h1>Exporter</h1><a href=\"/metrics\">Metrics</a></html>",
        );
        assert_eq!(kind_of(&landing, &python, 8000), Kind::Metrics);
        assert!(metrics_fix(&python, 8000).contains("addr=\"127.0.0.1\""));
        assert!(metrics_fix(&exporter, 9100).contains("127.0.0.1:9100"));
    }

    #[test]
    fn devtools_reply_is_a_debugger() {
        let reply = response("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Browser\": \"node.js/v20.20.2\", \"Protocol-Version\": \"1.1\"}");
        let mut outcome = Outcome::default();
        devtools(&reply, &mut outcome);
        assert_eq!(outcome.service.as_deref(), Some("node-inspector"));
        assert!(matches!(outcome.observations[0], Observation::Debugger { .. }));
        let chrome = response("HTTP/1.1 200 OK\r\n\r\n{\"Browser\": \"HeadlessChrome/120.0\", \"Protocol-Version\": \"1.3\", \"webSocketDebuggerUrl\": \"ws://127.0.0.1:9222/devtools/browser/x\"}");
        let mut outcome = Outcome::default();
        devtools(&chrome, &mut outcome);
        assert_eq!(outcome.service.as_deref(), Some("chrome-devtools"));
    }

    #[test]
    fn json_with_a_browser_field_is_not_a_debugger() {
        for body in [
            r#"{"Browser": "Evil/1.0", "webSocketDebuggerUrl": "ws://x"}"#,
            r#"{"Browser": "node.js/v20"}"#,
            r#"{"Browser": "Chrome/120", "Protocol-Version": "1.3"}"#,
            r#"["Browser"]"#,
        ] {
            let reply = response(&format!("HTTP/1.0 200 OK\r\n\r\n{body}"));
            let mut outcome = Outcome::default();
            devtools(&reply, &mut outcome);
            assert_eq!((outcome.service, outcome.observations.len()), (None, 0), "{body}");
        }
    }

    #[test]
    fn auth_replies_are_told_apart() {
        let mut outcome = Outcome::default();
        let open = response("HTTP/1.1 200 OK\r\n\r\n[]");
        authenticated_read(&open, true, "GET /api/kernels", "fix", Impact::Control, &mut outcome);
        let closed = response("HTTP/1.1 403 Forbidden\r\n\r\n");
        authenticated_read(
            &closed,
            false,
            "GET /api/kernels",
            "fix",
            Impact::Control,
            &mut outcome,
        );
        assert!(matches!(outcome.observations[0], Observation::NoAuth { .. }));
        assert!(matches!(outcome.observations[1], Observation::AuthRequired { .. }));
    }
}
