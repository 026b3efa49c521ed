//! A tiny HTTP/1.1 client for probes, and the browser-side checks every
//! plain-HTTP service on loopback gets: DNS rebinding (does the service
//! answer a foreign `Host`?), CORS (does it let any origin read replies?)
//! and WebSocket `Origin` checking.
//!
//! Only `GET` (and one `POST` to an identified etcd) is ever sent, each on
//! its own `Connection: close` connection, each bounded by the deadline.
//! See: <https://green.sapphi.red/blog/local-server-security-best-practices>

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use super::conn::{abbreviate, Conn, Deadline, End};
use crate::http1;

/// The foreign name used for rebinding, CORS and WebSocket checks. It is a
/// reserved example domain, so it can never belong to anyone.
pub const FOREIGN_HOST: &str = "rebind.example";
pub const FOREIGN_ORIGIN: &str = "http://rebind.example";

/// The first request sent to a port of unknown protocol. It has no `Host:`
/// line on purpose: Redis treats `Host:` and `POST` lines as a cross-protocol
/// attack and logs it, while `GET / HTTP/1.0` alone only earns an `-ERR`.
pub const IDENTIFY_REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// A parsed HTTP response (head and, possibly truncated, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names in lower case, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    /// Body with chunked encoding removed.
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `200 OK {"Browser":…` — status and the start of the body.
    pub fn summary(&self) -> String {
        // Pretty-printed JSON: one space instead of each run of whitespace.
        let mut compact = Vec::with_capacity(self.body.len().min(256));
        for &byte in self.body.trim_ascii().iter().take(256) {
            let space = byte.is_ascii_whitespace();
            if !(space && compact.last().is_some_and(|b: &u8| b.is_ascii_whitespace())) {
                compact.push(if space { b' ' } else { byte });
            }
        }
        let body = abbreviate(&compact, 60);
        if body.is_empty() {
            format!("{} {}", self.status, self.reason)
        } else {
            format!("{} {} {body}", self.status, self.reason)
        }
    }

    /// Hash of the body, for comparing two answers.
    fn body_hash(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.body.hash(&mut hasher);
        hasher.finish()
    }
}

/// The bounds replies are parsed within (a reply is read up to
/// [`MAX_REPLY`](super::conn::MAX_REPLY) bytes anyway).
fn limits() -> http1::Limits {
    http1::Limits { max_head: super::conn::MAX_REPLY, max_body: super::conn::MAX_REPLY }
}

/// Whether `bytes` hold a complete response: the head and the whole body
/// its framing announces (none for 101, 204 and 304). Bodies without
/// framing end at EOF (`Connection: close`).
pub fn is_complete(bytes: &[u8]) -> bool {
    http1::is_complete(bytes, limits())
}

/// Parses a response; `None` when the bytes are not HTTP. The body is what
/// arrived of it, framing removed; a head cut short still gives its status
/// line.
pub fn parse(bytes: &[u8]) -> Option<Response> {
    if !bytes.starts_with(b"HTTP/") {
        return None;
    }
    match http1::parse_response(bytes, limits()) {
        Ok(Some(response)) => {
            let http1::StatusLine { status, reason, .. } = response.head.status_line;
            Some(Response { status, reason, headers: response.head.headers, body: response.body })
        }
        Ok(None) | Err(_) => http1::parse_status_line(bytes).map(|line| Response {
            status: line.status,
            reason: line.reason,
            headers: Vec::new(),
            body: Vec::new(),
        }),
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Value of the `Host` header.
    pub host: String,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str, host: String) -> Self {
        Request { method: "GET", path, host, headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut text = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: porthole-audit\r\nAccept: */*\r\nConnection: close\r\n",
            self.method, self.path, self.host
        );
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = self.body {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        if let Some(body) = self.body {
            text.push_str(body);
        }
        text.into_bytes()
    }

    /// `GET /json/version` — for evidence strings.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Sends `request` on a fresh connection and parses the answer. `None` when
/// the connection failed or the answer is not HTTP.
pub fn send(
    address: SocketAddr,
    tls: bool,
    request: &Request<'_>,
    deadline: &Deadline,
) -> Option<Response> {
    let mut conn = if tls {
        Conn::tls(address, deadline).ok()?
    } else {
        Conn::plain(address, deadline).ok()?
    };
    conn.send(&request.bytes(), deadline).ok()?;
    let (bytes, end) = conn.receive(deadline, None, is_complete);
    if end == End::Timeout && bytes.is_empty() {
        return None;
    }
    parse(&bytes)
}

/// The local `Host` value for `address`: `127.0.0.1:8080`, `[::1]:8080`.
pub fn local_host(address: SocketAddr) -> String {
    address.to_string()
}

/// Browser-side weaknesses of one HTTP service, each with its evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserChecks {
    pub rebindable: Option<String>,
    pub cors: Option<CorsFinding>,
    pub websocket: Option<String>,
}

/// What the CORS check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsFinding {
    pub evidence: String,
    /// `Access-Control-Allow-Credentials: true` came with it: cookies too.
    pub credentials: bool,
}

/// Rebinding: the baseline (local `Host`) and the foreign-`Host` answer are
/// the same success → the service has no Host allow-list.
///
/// `local` is the `Host` the baseline carried: the address actually
/// probed (`192.0.2.2:8000`, `[::1]:8000`), so the evidence says what was
/// sent.
pub fn rebinding_verdict(baseline: &Response, foreign: &Response, local: &str) -> Option<String> {
    if baseline.status >= 400 || foreign.status != baseline.status {
        return None;
    }
    let port = local.rsplit_once(':').map_or("", |(_, port)| port);
    let same = foreign.body_hash() == baseline.body_hash() || similar_length(baseline, foreign);
    same.then(|| {
        format!(
            "GET / with Host: {local} → {}; with Host: {FOREIGN_HOST}:{port} → {} (same answer)",
            baseline.status, foreign.status
        )
    })
}

/// Pages with a timestamp or nonce differ slightly between two requests.
fn similar_length(a: &Response, b: &Response) -> bool {
    let (x, y) = (a.body.len(), b.body.len());
    x.max(y) > 0 && x.abs_diff(y) * 10 <= x.max(y)
}

/// CORS: `*`, or the foreign origin reflected back.
pub fn cors_verdict(response: &Response) -> Option<CorsFinding> {
    let allowed = response.header("access-control-allow-origin")?;
    let credentials = response
        .header("access-control-allow-credentials")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if allowed == "*" || allowed.eq_ignore_ascii_case(FOREIGN_ORIGIN) || allowed == "null" {
        let mut evidence =
            format!("GET / with Origin: {FOREIGN_ORIGIN} → Access-Control-Allow-Origin: {allowed}");
        if credentials {
            evidence.push_str(", Access-Control-Allow-Credentials: true");
        }
        if response
            .header("access-control-allow-private-network")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            evidence.push_str(", Access-Control-Allow-Private-Network: true");
        }
        return Some(CorsFinding { evidence, credentials });
    }
    None
}

/// Runs the three browser checks against a plain-HTTP service. `skip_ws`
/// avoids attaching to debuggers (a WebSocket there *is* a debug session).
pub fn browser_checks(
    address: SocketAddr,
    deadline: &Deadline,
    skip_websocket: bool,
    probes: &mut Vec<String>,
) -> BrowserChecks {
    let port = address.port();
    let local = local_host(address);
    let mut checks = BrowserChecks::default();
    probes.push("http rebinding".into());
    let baseline = send(address, false, &Request::get("/", local.clone()), deadline);
    let foreign =
        send(address, false, &Request::get("/", format!("{FOREIGN_HOST}:{port}")), deadline);
    if let (Some(baseline), Some(foreign)) = (&baseline, &foreign) {
        checks.rebindable = rebinding_verdict(baseline, foreign, &local);
    }
    probes.push("http cors".into());
    let cors = send(
        address,
        false,
        &Request::get("/", local.clone()).header("Origin", FOREIGN_ORIGIN),
        deadline,
    );
    checks.cors = cors.as_ref().and_then(cors_verdict);
    if !skip_websocket {
        probes.push("websocket origin".into());
        // A fixed key is fine: the check only reads the status line.
        let upgrade = Request::get("/", local)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "cG9ydGhvbGUtYXVkaXQtMQ==")
            .header("Sec-WebSocket-Version", "13")
            .header("Origin", FOREIGN_ORIGIN);
        // `Connection: close` from the builder would contradict the upgrade.
        let mut upgrade = upgrade;
        upgrade.headers.retain(|(name, _)| *name != "Connection");
        upgrade.headers.push(("Connection", "Upgrade".into()));
        if let Some(response) = send_upgrade(address, &upgrade, deadline) {
            if response.status == 101 {
                checks.websocket = Some(format!(
                    "WebSocket handshake on / with Origin: {FOREIGN_ORIGIN} → 101 Switching Protocols"
                ));
            }
        }
    }
    checks
}

/// Sends a WebSocket upgrade without `Connection: close`, reads only the head
/// and closes right away (no frames are exchanged).
fn send_upgrade(
    address: SocketAddr,
    request: &Request<'_>,
    deadline: &Deadline,
) -> Option<Response> {
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: porthole-audit\r\n",
        request.method, request.path, request.host
    );
    for (name, value) in &request.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let mut conn = Conn::plain(address, deadline).ok()?;
    conn.send(text.as_bytes(), deadline).ok()?;
    let (bytes, _) =
        conn.receive(deadline, None, |b| !matches!(http1::parse_head(b, limits()), Ok(None)));
    parse(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Response {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn parses_head_body_and_chunks() {
        let r = response("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert_eq!(r.body, b"hello world");
        assert!(parse(b"-ERR wrong number of arguments\r\n").is_none());
    }

    #[test]
    fn completeness_follows_framing() {
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc"));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde"));
        assert!(is_complete(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"));
        assert!(!is_complete(b"HTTP/1.0 200 OK\r\n\r\nbody until eof"));
        assert!(is_complete(b"HTTP/1.1 204 No Content\r\n\r\n"));
    }

    #[test]
    fn rebinding_needs_the_same_success() {
        let ok = response("HTTP/1.0 200 OK\r\n\r\n<html>listing</html>");
        let denied = response("HTTP/1.0 403 Forbidden\r\n\r\nInvalid Host header");
        let evidence = rebinding_verdict(&ok, &ok, "192.0.2.2:80").unwrap();
        assert!(evidence.starts_with("GET / with Host: 192.0.2.2:80 → 200"), "{evidence}");
        assert!(rebinding_verdict(&ok, &ok, "[::1]:80").unwrap().contains("Host: [::1]:80"));
        assert!(rebinding_verdict(&ok, &denied, "127.0.0.1:80").is_none());
        // The Node inspector answers a foreign Host with 400.
        let bad = response("HTTP/1.0 400 Bad Request\r\n\r\n");
        assert!(rebinding_verdict(&ok, &bad, "127.0.0.1:80").is_none());
        assert!(rebinding_verdict(&denied, &denied, "127.0.0.1:80").is_none());
    }

    #[test]
    fn cors_flags_star_and_reflection() {
        let star = response("HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n\r\n");
        assert!(cors_verdict(&star).is_some());
        let reflected = response("HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: http://rebind.example\r\nAccess-Control-Allow-Credentials: true\r\n\r\n");
        assert!(cors_verdict(&reflected).unwrap().credentials);
        let fixed = response(
            "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: http://localhost:3000\r\n\r\n",
        );
        assert!(cors_verdict(&fixed).is_none());
    }
}
