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
        // A complete head the strict parser refuses (a control byte in a
        // value): browsers still obey its other headers, so read it the way
        // they do rather than lose `Access-Control-Allow-Origin` with it.
        Err(http1::Http1Error::Head(_)) => lenient(bytes),
        Ok(None) | Err(_) => None,
    }
    .or_else(|| {
        http1::parse_status_line(bytes).map(|line| Response {
            status: line.status,
            reason: line.reason,
            headers: Vec::new(),
            body: Vec::new(),
        })
    })
}

/// A head split the way browsers split it: lines end at LF (CR before it
/// dropped), a field is `name: value` with a token name, and a value may
/// hold any byte but NUL, CR and LF. The body is what follows the blank
/// line, cut to `Content-Length` when there is one (no chunked decoding:
/// the checks read headers and status).
fn lenient(bytes: &[u8]) -> Option<Response> {
    let line = http1::parse_status_line(bytes)?;
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, at + 4))
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n").map(|at| (at, at + 2)))?;
    let (head, rest) = (&bytes[..end.0], &bytes[end.1..]);
    let mut headers = Vec::new();
    for field in head.split(|&b| b == b'\n').skip(1) {
        let field = field.strip_suffix(b"\r").unwrap_or(field);
        let Some(colon) = field.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) || value.contains(&0) {
            continue;
        }
        let value = String::from_utf8_lossy(value).trim().to_string();
        headers.push((String::from_utf8_lossy(name).to_ascii_lowercase(), value));
    }
    let mut response =
        Response { status: line.status, reason: line.reason, headers, body: Vec::new() };
    let length = response.header("content-length").and_then(|l| l.parse::<usize>().ok());
    response.body = rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec();
    Some(response)
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
    let mut conn = connect_and_send(address, tls, request, deadline)?;
    let (bytes, end) = conn.receive(deadline, None, is_complete);
    if end == End::Timeout && bytes.is_empty() {
        return None;
    }
    parse(&bytes)
}

/// A connection (TLS or plain) with `request` sent on it.
fn connect_and_send(
    address: SocketAddr,
    tls: bool,
    request: &Request<'_>,
    deadline: &Deadline,
) -> Option<Conn> {
    let mut conn = if tls {
        Conn::tls(address, deadline).ok()?
    } else {
        Conn::plain(address, deadline).ok()?
    };
    conn.send(&request.bytes(), deadline).ok()?;
    Some(conn)
}

/// Like [`send`], but reads no more than the head and the first
/// `body_start` bytes of the body before it hangs up: enough to tell what
/// a file is without taking its contents (the body is what arrived, cut
/// to `body_start`).
pub fn send_for_start(
    address: SocketAddr,
    tls: bool,
    request: &Request<'_>,
    deadline: &Deadline,
    body_start: usize,
) -> Option<Response> {
    let mut conn = connect_and_send(address, tls, request, deadline)?;
    let enough = |bytes: &[u8]| {
        is_complete(bytes)
            || bytes
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_some_and(|end| bytes.len() >= end + 4 + body_start)
    };
    let (bytes, end) = conn.receive(deadline, None, enough);
    if end == End::Timeout && bytes.is_empty() {
        return None;
    }
    let mut response = parse(&bytes)?;
    response.body.truncate(body_start);
    Some(response)
}

/// The local `Host` value for `address`: `127.0.0.1:8080`, `[::1]:8080`;
/// a link-local address without its zone (`[fe80::1]:8080`), which a
/// `Host` header cannot carry (RFC 6874 keeps it out of URIs sent on).
pub fn local_host(address: SocketAddr) -> String {
    SocketAddr::new(address.ip(), address.port()).to_string()
}

/// Browser-side weaknesses of one HTTP service, each with its evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserChecks {
    pub rebindable: Option<String>,
    /// The same `404` at `/` for both Hosts ([`unseen_rebinding_verdict`]).
    pub rebindable_unseen: Option<String>,
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

/// What a browser ends up reading for `GET /`: the first answer, or, when
/// that is a redirect that stays on the origin the request named (a
/// relative `Location`, or one naming the `Host` that was sent), the answer
/// at its path. One hop: a redirect loop or a redirect elsewhere ends there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    /// The redirect followed: its status and `Location` path.
    pub redirect: Option<(u16, String)>,
    pub response: Response,
}

impl Landing {
    /// An answer that was not followed.
    pub fn direct(response: Response) -> Self {
        Landing { redirect: None, response }
    }

    /// `302 /login → 200`, or `200`.
    fn words(&self) -> String {
        match &self.redirect {
            Some((status, path)) => format!("{status} {path} → {}", self.response.status),
            None => self.response.status.to_string(),
        }
    }
}

/// The path of a same-origin `Location` for a request that carried `Host:
/// host`; `None` for a redirect to another origin (the browser leaves, and
/// the page that asked can read nothing more).
pub fn same_origin_path(location: &str, host: &str) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(location.to_string());
    }
    let rest = location.strip_prefix("http://").or_else(|| location.strip_prefix("//"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    authority.eq_ignore_ascii_case(host).then(|| path.to_string())
}

/// `GET /` with `Host: host`, following one same-origin redirect.
fn land(address: SocketAddr, host: &str, deadline: &Deadline) -> Option<Landing> {
    let first = send(address, false, &Request::get("/", host.to_string()), deadline)?;
    let path = (300..400)
        .contains(&first.status)
        .then(|| first.header("location").and_then(|l| same_origin_path(l, host)))
        .flatten()
        // Only a path that fits a request line as it is.
        .filter(|path| {
            path != "/" && path.len() <= 1024 && path.bytes().all(|b| b.is_ascii_graphic())
        });
    let Some(path) = path else { return Some(Landing::direct(first)) };
    let Some(second) = send(address, false, &Request::get(&path, host.to_string()), deadline)
    else {
        return Some(Landing::direct(first));
    };
    Some(Landing { redirect: Some((first.status, path)), response: second })
}

/// Rebinding: the baseline (local `Host`) and the foreign-`Host` answer land
/// on the same success → the service has no Host allow-list and a page can
/// read it. Redirects count only through where they lead: a service that
/// sends every Host to its canonical name (or a login elsewhere) shows a
/// page nothing.
///
/// `local` is the `Host` the baseline carried: the address actually
/// probed (`192.0.2.2:8000`, `[::1]:8000`), so the evidence says what was
/// sent.
pub fn rebinding_verdict(baseline: &Landing, foreign: &Landing, local: &str) -> Option<String> {
    let (first, second) = (&baseline.response, &foreign.response);
    if !(200..300).contains(&first.status)
        || second.status != first.status
        || foreign.redirect.as_ref().map(|r| &r.1) != baseline.redirect.as_ref().map(|r| &r.1)
    {
        return None;
    }
    let port = local.rsplit_once(':').map_or("", |(_, port)| port);
    let foreign_host = format!("{FOREIGN_HOST}:{port}");
    let (first, second) = (host_blind(first, local), host_blind(second, &foreign_host));
    let same = second.body_hash() == first.body_hash() || similar_length(&first, &second);
    same.then(|| {
        format!(
            "GET / with Host: {local} → {}; with Host: {FOREIGN_HOST}:{port} → {} (same answer)",
            baseline.words(),
            foreign.words()
        )
    })
}

/// Rebinding where `/` is no page: both Hosts got the same `404`, byte for
/// byte (an API with no route at `/`, a dev server without an index). A
/// server that checks `Host` answers a foreign one differently (`400`,
/// `403`, `421`); this one cannot tell the two apart, so a page can read
/// whatever it serves at other paths. Those paths are not fetched: the
/// probe reads `/` only.
pub fn unseen_rebinding_verdict(
    baseline: &Landing,
    foreign: &Landing,
    local: &str,
) -> Option<String> {
    let port = local.rsplit_once(':').map_or("", |(_, port)| port);
    let (first, second) = (&baseline.response, &foreign.response);
    let same = first.status == 404
        && second.status == 404
        && baseline.redirect.is_none()
        && foreign.redirect.is_none()
        && host_blind(first, local).body
            == host_blind(second, &format!("{FOREIGN_HOST}:{port}")).body;
    same.then(|| {
        format!(
            "GET / with Host: {local} → 404; with Host: {FOREIGN_HOST}:{port} → 404 (the same answer: the server does not check Host, so a page can read whatever it serves at other paths; only / was read)"
        )
    })
}

/// `response` with every mention of the `Host` it was asked with (`host`,
/// then its name without the port) replaced by one marker: a server that
/// builds its links or its API's URLs from `Host` answers two Hosts with
/// bodies that differ only there, and a small page or JSON document differs
/// by more than [`similar_length`] allows, yet a rebinding page reads it all.
fn host_blind(response: &Response, host: &str) -> Response {
    const MARKER: &[u8] = b"\0host\0";
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let mut body = response.body.clone();
    for needle in [host, name] {
        let needle = needle.as_bytes();
        if needle.is_empty() {
            continue;
        }
        let mut replaced = Vec::with_capacity(body.len());
        let mut rest = &body[..];
        while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
            replaced.extend_from_slice(&rest[..at]);
            replaced.extend_from_slice(MARKER);
            rest = &rest[at + needle.len()..];
        }
        replaced.extend_from_slice(rest);
        body = replaced;
    }
    Response { body, ..response.clone() }
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
    let baseline = land(address, &local, deadline);
    let foreign = land(address, &format!("{FOREIGN_HOST}:{port}"), deadline);
    if let (Some(baseline), Some(foreign)) = (&baseline, &foreign) {
        checks.rebindable = rebinding_verdict(baseline, foreign, &local);
        checks.rebindable_unseen = unseen_rebinding_verdict(baseline, foreign, &local);
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
        if send_upgrade(address, &upgrade, deadline).is_some_and(|r| r.status == 101) {
            checks.websocket = Some(format!(
                "WebSocket handshake on / with Origin: {FOREIGN_ORIGIN} → 101 Switching Protocols"
            ));
        } else {
            // Vite's HMR socket answers only its subprotocol (an upgrade
            // without it is left hanging): the one a page on another site
            // asks for in CVE-2025-24010.
            let upgrade = upgrade.header("Sec-WebSocket-Protocol", VITE_HMR);
            if send_upgrade(address, &upgrade, deadline).is_some_and(|r| r.status == 101) {
                checks.websocket = Some(format!(
                    "WebSocket handshake on / with Origin: {FOREIGN_ORIGIN} and Sec-WebSocket-Protocol: {VITE_HMR} → 101 Switching Protocols"
                ));
            }
        }
    }
    checks
}

/// The subprotocol of Vite's hot-module-replacement WebSocket.
/// See: <https://github.com/vitejs/vite/security/advisories/GHSA-vg6x-rcgg-rjx6>
const VITE_HMR: &str = "vite-hmr";

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
        let ok = Landing::direct(response("HTTP/1.0 200 OK\r\n\r\n<html>listing</html>"));
        let denied = Landing::direct(response("HTTP/1.0 403 Forbidden\r\n\r\nInvalid Host header"));
        let evidence = rebinding_verdict(&ok, &ok, "192.0.2.2:80").unwrap();
        assert!(evidence.starts_with("GET / with Host: 192.0.2.2:80 → 200"), "{evidence}");
        assert!(rebinding_verdict(&ok, &ok, "[::1]:80").unwrap().contains("Host: [::1]:80"));
        assert!(rebinding_verdict(&ok, &denied, "127.0.0.1:80").is_none());
        // The Node inspector answers a foreign Host with 400.
        let bad = Landing::direct(response("HTTP/1.0 400 Bad Request\r\n\r\n"));
        assert!(rebinding_verdict(&ok, &bad, "127.0.0.1:80").is_none());
        assert!(rebinding_verdict(&denied, &denied, "127.0.0.1:80").is_none());
    }

    #[test]
    fn answers_that_differ_only_by_the_host_they_echo_are_the_same() {
        let echo = |host: &str| {
            let body =
                format!("{{\"self\":\"http://{host}/api\",\"docs\":\"http://{host}/docs\"}}");
            Landing::direct(response(&format!("HTTP/1.1 200 OK\r\n\r\n{body}")))
        };
        let (local, foreign) = (echo("127.0.0.1:8000"), echo("rebind.example:8000"));
        assert!(rebinding_verdict(&local, &foreign, "127.0.0.1:8000").is_some());
        // The name alone (`location.hostname`), too.
        let (local, foreign) = (echo("127.0.0.1"), echo("rebind.example"));
        assert!(rebinding_verdict(&local, &foreign, "127.0.0.1:8000").is_some());
        // Another page is still another page.
        let other =
            Landing::direct(response("HTTP/1.1 200 OK\r\n\r\n{\"error\":\"unknown host\"}"));
        assert!(rebinding_verdict(&echo("127.0.0.1:8000"), &other, "127.0.0.1:8000").is_none());
        let missing = |host: &str| {
            Landing::direct(response(&format!(
                "HTTP/1.1 404 Not Found\r\n\r\nno page at http://{host}/"
            )))
        };
        let (local, foreign) = (missing("127.0.0.1:8000"), missing("rebind.example:8000"));
        assert!(unseen_rebinding_verdict(&local, &foreign, "127.0.0.1:8000").is_some());
    }

    #[test]
    fn the_same_not_found_for_both_hosts_is_rebinding_unseen() {
        let api = Landing::direct(response(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\n\r\n{\"detail\":\"Not Found\"}",
        ));
        let evidence = unseen_rebinding_verdict(&api, &api, "127.0.0.1:8000").unwrap();
        assert!(evidence.contains("with Host: rebind.example:8000 → 404 (the same answer"));
        assert!(rebinding_verdict(&api, &api, "127.0.0.1:8000").is_none());
        // A Host check answers the foreign name otherwise.
        let misdirected = Landing::direct(response(
            "HTTP/1.1 421 Misdirected Request\r\nContent-Length: 0\r\n\r\n",
        ));
        assert!(unseen_rebinding_verdict(&api, &misdirected, "127.0.0.1:8000").is_none());
        let other = Landing::direct(response(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno site x",
        ));
        assert!(unseen_rebinding_verdict(&api, &other, "127.0.0.1:8000").is_none());
        let ok = Landing::direct(response("HTTP/1.0 200 OK\r\n\r\nhi"));
        assert!(unseen_rebinding_verdict(&ok, &ok, "127.0.0.1:8000").is_none());
    }

    #[test]
    fn rebinding_judges_redirects_by_where_they_land() {
        // Both Hosts sent to the canonical name: nothing readable.
        let canonical = Landing::direct(response(
            "HTTP/1.1 301 Moved\r\nLocation: http://localhost:80/\r\nContent-Length: 0\r\n\r\n",
        ));
        assert!(rebinding_verdict(&canonical, &canonical, "127.0.0.1:80").is_none());
        // Both followed to the same page: readable.
        let login = Landing {
            redirect: Some((302, "/login".into())),
            response: response("HTTP/1.0 200 OK\r\n\r\n<form>"),
        };
        let evidence = rebinding_verdict(&login, &login, "127.0.0.1:80").unwrap();
        assert!(evidence.contains("→ 302 /login → 200"), "{evidence}");
        // The foreign Host is sent somewhere else than the local one.
        let elsewhere = Landing { redirect: Some((302, "/denied".into())), ..login.clone() };
        assert!(rebinding_verdict(&login, &elsewhere, "127.0.0.1:80").is_none());
    }

    #[test]
    fn a_control_byte_in_one_header_does_not_hide_the_others() {
        let bytes = b"HTTP/1.1 200 OK\r\nServer: a\x1b[2Jb\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 2\r\n\r\nhiEXTRA";
        let response = parse(bytes).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("server"), Some("a\u{1b}[2Jb"), "kept exact");
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        assert_eq!(response.body, b"hi");
        assert!(cors_verdict(&response).is_some());
        // A NUL makes browsers drop the field; a cut-off head has no fields.
        let nul = parse(b"HTTP/1.1 200 OK\r\nX: a\x00\r\nY: \x01\r\n\r\n").unwrap();
        assert_eq!((nul.header("x"), nul.header("y")), (None, Some("\u{1}")));
        assert!(parse(b"HTTP/1.1 200 OK\r\nX: \x1b").unwrap().headers.is_empty());
    }

    #[test]
    fn same_origin_locations() {
        assert_eq!(same_origin_path("/login?next=/", "a:1").as_deref(), Some("/login?next=/"));
        assert_eq!(same_origin_path("http://A:1/x", "a:1").as_deref(), Some("/x"));
        assert_eq!(same_origin_path("http://a:1", "a:1").as_deref(), Some("/"));
        assert_eq!(same_origin_path("http://localhost:1/", "rebind.example:1"), None);
        assert_eq!(same_origin_path("//evil/x", "a:1"), None);
        assert_eq!(same_origin_path("https://a:1/", "a:1"), None);
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
