//! The Toxiproxy 2.12 HTTP API on hyper: routing, request decoding, and
//! Toxiproxy's status codes, bodies and content types.
//!
//! Request `Content-Type` is ignored and bodies are always read as JSON, as
//! Toxiproxy does. Responses are written byte for byte as Toxiproxy's Go
//! code writes them:
//! - successes: `json.Marshal` output (no trailing newline) with
//!   `Content-Type: application/json`; `GET /version` is its own literal;
//! - errors: `{"error":"...","status":N}` through Go's `http.Error`, so
//!   `text/plain; charset=utf-8`, `X-Content-Type-Options: nosniff` and a
//!   trailing newline; `/populate` errors also carry the proxies created
//!   before the failure, as plain `application/json` without the newline;
//! - `<`, `>` and `&` in strings escaped as `\u003c`, `\u003e` and
//!   `\u0026` (Go's HTML-safe JSON);
//! - every routed response carries `X-Toxiproxy-Request-Id` (an xid); the
//!   router's own 404 and 405 do not, as gorilla/mux runs no middleware
//!   for them.
//!
//! porthole's own version is in the `X-Porthole-Version` header, never in a
//! body a client compares.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode, Version};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ProxyError;
use super::host::HostPolicy;
use super::metrics;
use super::registry::{ProxyPatch, ProxyRequest, Registry};
use super::wire::{go_json_text, PopulateRequestWire, PopulateWire, ProxyWire};
use super::xid;

/// The Toxiproxy version whose API this server implements; clients print
/// or compare it.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Request bodies larger than this are refused; real ones are a few
/// hundred bytes.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Toxiproxy's `Content-Type` for the JSON it marshals itself.
const JSON: &str = "application/json";
/// What Go's `http.Error` sets.
const TEXT: &str = "text/plain; charset=utf-8";
/// `GET /version`'s own spelling (no space before `charset`).
const VERSION_TYPE: &str = "application/json;charset=utf-8";
/// The header Toxiproxy's request-id middleware sets.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-toxiproxy-request-id");
/// Where porthole's own version goes, out of every body clients compare.
pub const PORTHOLE_VERSION: HeaderName = HeaderName::from_static("x-porthole-version");
/// Set by Go's `http.Error` on every error it writes.
const NOSNIFF: HeaderName = HeaderName::from_static("x-content-type-options");

/// What the API handlers share.
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub hosts: HostPolicy,
    /// When set, every request must carry `Authorization: Bearer <token>`:
    /// the `Host` check stops web pages, not other hosts on the network.
    pub token: Option<String>,
    /// Timeouts and the connection cap.
    pub limits: super::ApiLimits,
}

impl ApiState {
    /// Loopback-only, no token, default limits.
    pub fn new(registry: Arc<Registry>) -> Self {
        ApiState {
            registry,
            hosts: HostPolicy::default(),
            token: None,
            limits: super::ApiLimits::default(),
        }
    }
}

type Reply = Response<Full<Bytes>>;

/// Marks the router's own 404 and 405, which get no request id.
#[derive(Clone, Copy)]
struct Unrouted;

/// Answers one request; never fails (errors become error responses).
pub async fn handle(state: &ApiState, request: Request<Incoming>) -> Result<Reply, Infallible> {
    let mut response = answer(state, request).await;
    let routed = response.extensions_mut().remove::<Unrouted>().is_none();
    let headers = response.headers_mut();
    if routed {
        if let Ok(id) = HeaderValue::from_str(&xid::new_id()) {
            headers.insert(REQUEST_ID, id);
        }
    }
    headers.insert(PORTHOLE_VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
    Ok(response)
}

async fn answer(state: &ApiState, request: Request<Incoming>) -> Reply {
    // Go's server refuses HTTP/1.1 without Host, and any request with two,
    // before a handler runs, in these words.
    let hosts: Vec<&HeaderValue> = request.headers().get_all(HOST).iter().collect();
    if request.version() == Version::HTTP_11 && hosts.is_empty() {
        return bad_request("missing required Host header");
    }
    if hosts.len() > 1 {
        return bad_request("too many Host headers");
    }
    let host = hosts.first().map(|value| value.to_str().unwrap_or("\u{fffd}"));
    // An absolute-form target (`GET http://name/...`) names the host the
    // client meant; it must pass the same check as `Host`.
    let target = request.uri().authority().map(|authority| authority.as_str());
    if !state.hosts.allows(host) || target.is_some_and(|target| !state.hosts.allows(Some(target))) {
        return error_reply(403, "host not allowed");
    }
    let user_agent =
        request.headers().get(USER_AGENT).and_then(|value| value.to_str().ok()).unwrap_or("");
    // Toxiproxy's CSRF protection: browsers are refused outright.
    if user_agent.starts_with("Mozilla/") {
        return plain_error(StatusCode::FORBIDDEN, "User agent not allowed");
    }
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if !given.is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes())) {
            let mut response = error_reply(401, "missing or wrong API token");
            response.headers_mut().insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    // gorilla/mux answers a path that is not in canonical form (`//x`,
    // `/a/./b`, `/a/../b`) with a redirect to the cleaned one before any
    // middleware runs, so a proxy named `toxics` is never reached through
    // `/proxies//toxics`. Cleaning works on the path as sent: `%2F` inside a
    // name stays part of the name.
    let path = request.uri().path().to_string();
    // Go's server answers `OPTIONS *` itself, before any handler.
    if path == "*" && request.method() == Method::OPTIONS {
        return unrouted(reply(StatusCode::OK, None, Bytes::new()));
    }
    let cleaned = clean_path(&path);
    if cleaned != path {
        let location = match request.uri().query() {
            Some(query) => format!("{cleaned}?{query}"),
            None => cleaned,
        };
        let mut response = reply(StatusCode::MOVED_PERMANENTLY, None, Bytes::new());
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(hyper::header::LOCATION, location);
        }
        return unrouted(response);
    }
    let method = request.method().clone();
    // The body must arrive within the same limit as the headers, as Go's
    // `ReadTimeout` covers the whole request: a client that announces more
    // than it sends (a lying `Content-Length`, a chunked body with no last
    // chunk, an `Expect: 100-continue` never followed up) would otherwise
    // hold its connection for good, counted as busy, never idle, never
    // evicted, until the connection cap refuses everyone.
    let limit = state.limits.header_timeout;
    // A `Content-Length` beyond the limit is refused before any of the body
    // is read, rather than after waiting for bytes that will be refused.
    if hyper::body::Body::size_hint(request.body()).lower() > MAX_BODY as u64 {
        return closing(error_reply(400, "bad request body: length limit exceeded"));
    }
    let collecting = Limited::new(request.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(limit, collecting).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) => {
            return error_reply(400, &format!("bad request body: {error}"));
        }
        Err(_) => {
            return closing(error_reply(
                400,
                &format!("bad request body: i/o timeout: the body did not arrive within {limit:?}"),
            ));
        }
    };
    let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    route(state, &method, &segments, &body).await
}

/// `response`, after which the connection is closed: what is left of a
/// body that was not read would otherwise be taken for the next request.
fn closing(mut response: Reply) -> Reply {
    response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Compares a token in time independent of where the first difference is.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn route(state: &ApiState, method: &Method, segments: &[&str], body: &[u8]) -> Reply {
    // A route variable matches one or more characters: `/proxies/` names
    // no proxy, it is an unknown route (the only empty segment a cleaned
    // path can have is after a trailing `/`).
    if segments.iter().any(|segment| segment.is_empty()) {
        return unrouted(plain_error(StatusCode::NOT_FOUND, "404 page not found"));
    }
    let registry = &state.registry;
    let is_update = *method == Method::POST || *method == Method::PATCH;
    match segments {
        ["version"] if *method == Method::GET => reply(
            StatusCode::OK,
            Some(VERSION_TYPE),
            format!("{{\"version\": \"{TOXIPROXY_VERSION}\"}}\n").into(),
        ),
        ["proxies"] if *method == Method::GET => json_reply(200, &registry.list().await),
        ["proxies"] if *method == Method::POST => {
            let request = match decode(body).and_then(|value| ProxyRequest::from_json(&value, None))
            {
                Ok(request) => request,
                Err(error) => return proxy_error(&error),
            };
            respond(201, registry.create(request).await)
        }
        ["populate"] if *method == Method::POST => populate(registry, body).await,
        ["reset"] if *method == Method::POST => match registry.reset().await {
            Ok(()) => reply(StatusCode::NO_CONTENT, None, Bytes::new()),
            Err(error) => proxy_error(&error),
        },
        ["metrics"] if *method == Method::GET => reply(
            StatusCode::OK,
            Some("text/plain; version=0.0.4; charset=utf-8"),
            metrics::render(&registry.metrics().await).into(),
        ),
        ["proxies", name] if *method == Method::GET => respond(200, registry.get(name).await),
        ["proxies", name] if is_update => {
            match decode(body).and_then(|value| ProxyPatch::from_json(&value)) {
                Ok(patch) => respond(200, registry.update(name, patch).await),
                Err(error) => proxy_error(&error),
            }
        }
        ["proxies", name] if *method == Method::DELETE => empty(registry.delete(name).await),
        ["proxies", name, "toxics"] if *method == Method::GET => {
            respond(200, registry.toxics(name).await)
        }
        ["proxies", name, "toxics"] if *method == Method::POST => match decode(body) {
            // Toxiproxy answers 200 here, not 201.
            Ok(value) => respond(200, registry.add_toxic(name, &value).await),
            Err(error) => proxy_error(&error),
        },
        ["proxies", name, "toxics", toxic] if *method == Method::GET => {
            respond(200, registry.toxic(name, toxic).await)
        }
        ["proxies", name, "toxics", toxic] if is_update => match decode(body) {
            Ok(value) => respond(200, registry.update_toxic(name, toxic, &value).await),
            Err(error) => proxy_error(&error),
        },
        ["proxies", name, "toxics", toxic] if *method == Method::DELETE => {
            empty(registry.remove_toxic(name, toxic).await)
        }
        // gorilla/mux: a known path with another method is a bare 405.
        ["version"]
        | ["proxies"]
        | ["populate"]
        | ["reset"]
        | ["metrics"]
        | ["proxies", _]
        | ["proxies", _, "toxics"]
        | ["proxies", _, "toxics", _] => {
            unrouted(reply(StatusCode::METHOD_NOT_ALLOWED, None, Bytes::new()))
        }
        _ => unrouted(plain_error(StatusCode::NOT_FOUND, "404 page not found")),
    }
}

/// Go's server-level `400 Bad Request: <why>`, sent before routing and
/// closing the connection.
fn bad_request(why: &str) -> Reply {
    let mut response =
        reply(StatusCode::BAD_REQUEST, Some(TEXT), format!("400 Bad Request: {why}").into());
    response.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    unrouted(response)
}

fn unrouted(mut response: Reply) -> Reply {
    response.extensions_mut().insert(Unrouted);
    response
}

/// `POST /populate`: a bare array of proxies (Toxiproxy's input) or
/// `{"proxies": [...]}` (its output shape, which some tools send back).
async fn populate(registry: &Registry, body: &[u8]) -> Reply {
    let parsed = decode(body).and_then(|value| {
        let items =
            PopulateRequestWire::proxies(value).map_err(|reason| ProxyError::BadBody { reason })?;
        ProxyRequest::all_from_json(&items)
    });
    let requests = match parsed {
        Ok(requests) => requests,
        Err(error) => return populate_error(&error, &[]),
    };
    match registry.populate(requests).await {
        // Go marshals an empty result slice as `null`.
        Ok(proxies) if proxies.is_empty() => json_reply(201, &json!({"proxies": null})),
        Ok(proxies) => json_reply(201, &PopulateWire { proxies }),
        Err(failure) => populate_error(&failure.error, &failure.proxies),
    }
}

/// Written by Toxiproxy with `Write`, not `http.Error`: JSON, no newline.
/// The proxies created before the failure are written as wire structs, in
/// Go's field order like every other proxy the API writes (a detour through
/// `serde_json::Value` would sort their keys).
fn populate_error(error: &ProxyError, proxies: &[ProxyWire]) -> Reply {
    let status = error.status();
    /// Go's field order: the embedded error's fields, then `proxies`
    /// (`null` for none, as Go marshals an empty slice).
    #[derive(Serialize)]
    struct PopulateFailure<'a> {
        error: String,
        status: u16,
        proxies: Option<&'a [ProxyWire]>,
    }
    let proxies = (!proxies.is_empty()).then_some(proxies);
    let body = PopulateFailure { error: error.to_string(), status, proxies };
    match serde_json::to_string(&body) {
        Ok(text) => reply(code(status), Some(JSON), go_escape(text).into()),
        Err(error) => error_reply(500, &error.to_string()),
    }
}

/// Parses a request body as JSON; an empty body reads as Go's `EOF`, and
/// bytes that are not UTF-8 as Go reads them ([`go_json_text`]).
///
/// Only the first value counts and whatever follows it is never read, as
/// with Go's `json.NewDecoder(body).Decode`, which Toxiproxy uses: a client
/// whose body ends in a stray byte or a second object is served, not
/// refused. An object or array ends at its closing bracket; a bare number
/// or literal (never a valid body) still needs a separator after it.
fn decode(body: &[u8]) -> Result<Value, ProxyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ProxyError::BadBody { reason: "EOF".to_string() });
    }
    let text = go_json_text(body);
    match serde_json::Deserializer::from_str(&text).into_iter::<Value>().next() {
        Some(Ok(value)) => Ok(value),
        // In Go's words where its scanner finds the error too.
        Some(Err(error)) => Err(ProxyError::BadBody {
            reason: super::syntax::go_syntax_error(body).unwrap_or_else(|| error.to_string()),
        }),
        // Only whitespace, which is answered above.
        None => Err(ProxyError::BadBody { reason: "EOF".to_string() }),
    }
}

fn respond<T: Serialize>(status: u16, result: Result<T, ProxyError>) -> Reply {
    match result {
        Ok(value) => json_reply(status, &value),
        Err(error) => proxy_error(&error),
    }
}

fn empty(result: Result<(), ProxyError>) -> Reply {
    match result {
        Ok(()) => reply(StatusCode::NO_CONTENT, None, Bytes::new()),
        Err(error) => proxy_error(&error),
    }
}

fn proxy_error(error: &ProxyError) -> Reply {
    error_reply(error.status(), &error.to_string())
}

/// `{"error":...,"status":N}` as Toxiproxy's `apiError` writes it.
fn error_reply(status: u16, message: &str) -> Reply {
    let text = json!({"error": message, "status": status}).to_string();
    plain_error(code(status), &go_escape(text))
}

/// Go's `http.Error`: plain text, `nosniff`, the message and a newline.
fn plain_error(status: StatusCode, message: &str) -> Reply {
    let mut response = reply(status, Some(TEXT), format!("{message}\n").into());
    response.headers_mut().insert(NOSNIFF, HeaderValue::from_static("nosniff"));
    response
}

fn json_reply<T: Serialize>(status: u16, value: &T) -> Reply {
    match serde_json::to_string(value) {
        Ok(text) => reply(code(status), Some(JSON), go_escape(text).into()),
        Err(error) => error_reply(500, &error.to_string()),
    }
}

/// Escapes JSON text the way Go's `json.Marshal` does by default: `<`, `>`,
/// `&`, U+2028 and U+2029 become `\u` escapes. These characters can only
/// occur inside strings in serde_json's output, so replacing them anywhere
/// is exact.
pub fn go_escape(text: String) -> String {
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        match character {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A response; `None` leaves `Content-Type` out, as Go does for 204 and
/// for gorilla/mux's 405.
fn reply(status: StatusCode, content_type: Option<&'static str>, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// The canonical form of a request path, as gorilla/mux's `cleanPath`
/// computes it with Go's `path.Clean`: one `/` between segments, no `.`
/// segments, a `..` segment removes the one before it (and is dropped at
/// the root), and a trailing `/` is kept.
fn clean_path(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut cleaned = format!("/{}", kept.join("/"));
    if path.ends_with('/') && cleaned != "/" {
        cleaned.push('/');
    }
    cleaned
}

/// Decodes `%XX` escapes in a path segment (proxy names may contain any
/// character a client chooses to escape).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
            if let Some(value) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%2"), "end%2");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[test]
    fn paths_clean_like_gorilla_mux() {
        for (path, cleaned) in [
            ("/proxies", "/proxies"),
            ("/proxies/", "/proxies/"),
            ("//proxies", "/proxies"),
            ("/proxies//toxics", "/proxies/toxics"),
            ("/proxies/./a", "/proxies/a"),
            ("/proxies/a/../b/toxics/", "/proxies/b/toxics/"),
            ("/../../version", "/version"),
            ("/proxies/a%2F..%2Fb", "/proxies/a%2F..%2Fb"),
            ("/", "/"),
            ("", "/"),
        ] {
            assert_eq!(clean_path(path), cleaned, "{path}");
        }
    }

    #[test]
    fn bodies_are_read_up_to_their_first_value() {
        let value = |body: &str| decode(body.as_bytes()).expect("a first value");
        assert_eq!(value("{\"a\":1} trailing"), json!({"a": 1}));
        assert_eq!(value("{\"a\":1}{\"b\":2}"), json!({"a": 1}));
        assert_eq!(value(" [1]]\n"), json!([1]));
        let reason = |body: &str| match decode(body.as_bytes()) {
            Err(ProxyError::BadBody { reason }) => reason,
            other => panic!("{body:?} decoded as {other:?}"),
        };
        assert_eq!(reason(" \n"), "EOF");
        assert!(reason("{\"a\":").contains("EOF"), "{}", reason("{\"a\":"));
        assert!(!reason("x{}").is_empty());
        assert!(!reason("1x").is_empty());
    }

    #[test]
    fn json_is_escaped_like_go() {
        assert_eq!(
            go_escape(r#"{"error":"a<b>&c"}"#.to_string()),
            r#"{"error":"a\u003cb\u003e\u0026c"}"#
        );
        assert_eq!(go_escape("plain".to_string()), "plain");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
    }
}
