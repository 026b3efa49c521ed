//! The dashboard's HTTP layer: the security checks every request passes,
//! routing, and the headers every response carries.
//!
//! # Security model
//! 1. **Host allow-list** first: a request whose `Host` is not a loopback
//!    name (or a name the user allowed) gets `403` before anything else,
//!    so a DNS-rebinding page cannot read the dashboard. The address the
//!    connection arrived on, written as an IP literal, is accepted too: a
//!    rebinding page sends its own DNS name, never an IP, and without it a
//!    dashboard exposed on `0.0.0.0` refused every browser that opened
//!    `http://LAN-ADDRESS:7878/`. An absolute-form target must pass the same
//!    check; a request without `Host` (HTTP/1.1) or with two is `400`.
//! 2. **Origin**: a request carrying an `Origin` that is not the dashboard's
//!    own gets `403`; only `GET` and `HEAD` exist, every other method is
//!    refused (`405`), so nothing changes state.
//! 3. **Token**: everything but the page's static files needs the token,
//!    from `Authorization: Bearer` or `?token=` (which `/` turns into the
//!    cookie and redirects away from, so the token leaves the address bar
//!    and history), or the `porthole_dashboard_PORT` session cookie
//!    (HttpOnly, SameSite=Strict). The cookie holds a [`token::Session`]
//!    value, never the token: a leaked cookie is not the token and dies
//!    with the server. It is not `Secure`: the dashboard speaks plain HTTP,
//!    and a browser keeps a `Secure` cookie off `http://` addresses.
//!    `/metrics` may be made public.
//! 4. **Headers**: a strict Content-Security-Policy (scripts and styles
//!    from the dashboard only, no inline script), `nosniff`,
//!    `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
//!    `Cache-Control: no-store`; never `Access-Control-Allow-Origin`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::facts::{FactSource, RecorderHealth};
use super::{metrics, token, views};
use crate::proxy::host::HostPolicy;
use crate::store;

/// The page, its script and its style sheet, compiled into the binary.
const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The policy the page is served under: nothing inline, nothing foreign.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// What the handlers share.
pub struct DashboardState {
    /// The access token (see [`token`]).
    pub token: String,
    /// What the session cookie holds instead of the token.
    pub session: token::Session,
    pub hosts: HostPolicy,
    /// The port served on: part of the cookie name, as cookies are not
    /// kept apart by port.
    pub port: u16,
    /// Serve `/metrics` without the token (`--metrics-public`).
    pub metrics_public: bool,
    pub facts: Arc<FactSource>,
    /// The in-process recorder's health (`monitor --serve`).
    pub health: Option<Arc<RecorderHealth>>,
}

impl DashboardState {
    fn cookie_name(&self) -> String {
        format!("porthole_dashboard_{}", self.port)
    }
}

pub type Reply = Response<Full<Bytes>>;

/// A handler failure, answered as `500` with the error chain in JSON.
pub struct AppError(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for AppError {
    fn from(error: E) -> Self {
        AppError(error.into())
    }
}

impl AppError {
    fn into_response(self) -> Reply {
        json_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{:#}", self.0))
    }
}

/// Answers one request that arrived on a connection to `local` (the
/// dashboard's own address, for the Host check); never fails (errors
/// become error responses).
pub async fn handle<B>(
    state: Arc<DashboardState>,
    request: Request<B>,
    local: Option<IpAddr>,
) -> Result<Reply, Infallible> {
    let mut response = match answer(&state, &request, local).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    secure(response.headers_mut());
    if request.method() == Method::HEAD {
        // What GET would send is announced; hyper writes no body for a HEAD
        // and keeps a Content-Length set here.
        let length = hyper::body::Body::size_hint(response.body()).exact().unwrap_or(0);
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        *response.body_mut() = Full::new(Bytes::new());
    }
    Ok(response)
}

/// The headers every response carries.
fn secure(headers: &mut hyper::HeaderMap) {
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
}

async fn answer<B>(
    state: &Arc<DashboardState>,
    request: &Request<B>,
    local: Option<IpAddr>,
) -> Result<Reply, AppError> {
    let hosts: Vec<&HeaderValue> = request.headers().get_all(header::HOST).iter().collect();
    // HTTP/1.1 without Host, or any request with two, is malformed (RFC
    // 9112 §3.2): `400`, as the proxy API and Go's server answer, rather
    // than a `403` that reads as a name the user could allow.
    if hosts.len() > 1 {
        return Ok(text(StatusCode::BAD_REQUEST, "too many Host headers\n"));
    }
    if hosts.is_empty() && request.version() == hyper::Version::HTTP_11 {
        return Ok(text(StatusCode::BAD_REQUEST, "missing required Host header\n"));
    }
    let host = hosts.first().and_then(|one| one.to_str().ok());
    let allowed = |value: &str| {
        state.hosts.allows(Some(value)) || local.is_some_and(|ip| names_address(value, ip))
    };
    // HTTP/1.0 without Host is refused too: a browser always sends one,
    // and the allow-list must see it.
    if host.is_none_or(|host| !allowed(host)) {
        return Ok(text(StatusCode::FORBIDDEN, "host not allowed\n"));
    }
    let target = request.uri().authority().map(|authority| authority.as_str());
    if target.is_some_and(|target| !allowed(target)) {
        return Ok(text(StatusCode::FORBIDDEN, "host not allowed\n"));
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        if !origin_allowed(origin.to_str().unwrap_or(""), host.unwrap_or(""), allowed) {
            return Ok(text(StatusCode::FORBIDDEN, "cross-origin requests are not allowed\n"));
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(reply);
    }
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or("");
    match path {
        "/app.js" => return Ok(asset("text/javascript; charset=utf-8", APP_JS)),
        "/style.css" => return Ok(asset("text/css; charset=utf-8", STYLE_CSS)),
        _ => {}
    }
    let credentials = Credentials::of(state, request);
    let authorized = credentials.authorize(state);
    if path == "/" {
        return Ok(match credentials.query {
            Some(query) if token::matches(&query, &state.token) => {
                // Into the cookie, out of the address bar.
                let mut reply = text(StatusCode::SEE_OTHER, "");
                let cookie = format!(
                    "{}={}; HttpOnly; SameSite=Strict; Path=/",
                    state.cookie_name(),
                    state.session.value()
                );
                let headers = reply.headers_mut();
                headers.insert(header::LOCATION, HeaderValue::from_static("/"));
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    headers.insert(header::SET_COOKIE, value);
                }
                reply
            }
            _ if authorized => asset("text/html; charset=utf-8", INDEX_HTML),
            _ => html_unauthorized(),
        });
    }
    if path == "/metrics" {
        if !(authorized || state.metrics_public) {
            return Ok(unauthorized());
        }
        let facts = state.facts.current();
        let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let openmetrics = metrics::wants_openmetrics(accept);
        let body = metrics::render(&facts, state.health.as_deref(), openmetrics);
        let content_type = if openmetrics { metrics::OPENMETRICS } else { metrics::TEXT_FORMAT };
        return Ok(reply(StatusCode::OK, content_type, body));
    }
    if !path.starts_with("/api/") {
        return Ok(json_error(StatusCode::NOT_FOUND, "no such page"));
    }
    if !authorized {
        return Ok(unauthorized());
    }
    let facts = state.facts.current();
    // Each endpoint reads the parameters it takes, and refuses others.
    let filter = || views::Filter::parse(query);
    let bad =
        |error: &dyn std::fmt::Display| json_error(StatusCode::BAD_REQUEST, &error.to_string());
    Ok(match path {
        "/api/listeners" | "/api/connections" | "/api/open" | "/api/changes" => {
            let filter = match filter() {
                Ok(filter) => filter,
                Err(error) => return Ok(bad(&error)),
            };
            match path {
                "/api/listeners" => json(&views::listeners(&facts, &filter)),
                "/api/connections" => json(&views::connections(&facts, &filter)),
                "/api/open" => json(&views::open(&facts, &filter)),
                _ => json(&views::changes(&facts, &filter)),
            }
        }
        "/api/health" => match views::no_parameters(query) {
            Ok(()) => json(&views::health(&facts, state.facts.location.as_ref())),
            Err(error) => bad(&error),
        },
        "/api/timeline" => {
            let Some(location) = state.facts.location.clone() else {
                return Ok(json_error(StatusCode::NOT_FOUND, "no history store"));
            };
            let query = query.to_string();
            let result = tokio::task::spawn_blocking(move || {
                views::timeline(&location, &query, store::now_micros())
            })
            .await?;
            match result {
                Ok(timeline) => json(&timeline),
                // The store could not be read (not recorded yet, locked,
                // a PostgreSQL server down): no fault of the dashboard's,
                // and the message says which.
                Err(views::TimelineError::Store(error)) => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("{:#}", anyhow::Error::from(error)),
                ),
                Err(error) => bad(&error),
            }
        }
        _ => json_error(StatusCode::NOT_FOUND, "no such endpoint"),
    })
}

/// What a request presented to prove it may read: each is checked, so a
/// stale value in one place does not hide a good one in another.
struct Credentials {
    /// `?token=`.
    query: Option<String>,
    /// `Authorization: Bearer`.
    bearer: Option<String>,
    /// Every value of the dashboard's cookie (a browser sends one per
    /// matching path and domain).
    cookies: Vec<String>,
}

impl Credentials {
    fn of<B>(state: &DashboardState, request: &Request<B>) -> Credentials {
        let query = request.uri().query().and_then(|query| {
            views::pairs(query).into_iter().find(|(key, _)| key == "token").map(|(_, v)| v)
        });
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .map(str::to_string);
        let name = state.cookie_name();
        let cookies = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
            .collect();
        Credentials { query, bearer, cookies }
    }

    /// Whether any of them opens the dashboard: the token itself, or in the
    /// cookie the session value (the token is not accepted there).
    fn authorize(&self, state: &DashboardState) -> bool {
        [&self.query, &self.bearer]
            .into_iter()
            .flatten()
            .any(|presented| token::matches(presented, &state.token))
            || self.cookies.iter().any(|presented| state.session.matches(presented))
    }
}

/// The token of an `Authorization: Bearer TOKEN` value. The scheme's name
/// is case-insensitive (RFC 9110 §11.1): clients that send `bearer` are
/// as right as those that send `Bearer`.
fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `Origin` is the dashboard itself: `http://` plus the request's
/// own (allowed) `Host`.
fn origin_allowed(origin: &str, host: &str, allowed: impl Fn(&str) -> bool) -> bool {
    match origin.strip_prefix("http://") {
        Some(authority) => authority.eq_ignore_ascii_case(host) && allowed(authority),
        None => false,
    }
}

/// Whether a `Host` value is exactly the IP literal `ip` (with or without
/// a port): `10.0.0.5:7878`, `[fe80::1]`. An IPv4 client of a dual-stack
/// socket arrives on `::ffff:10.0.0.5` and names `10.0.0.5`.
fn names_address(host: &str, ip: IpAddr) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || is_port(port) => inside,
            _ => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.parse::<IpAddr>().is_ok_and(|named| named.to_canonical() == ip.to_canonical())
}

/// `:PORT`, digits only.
fn is_port(text: &str) -> bool {
    text.strip_prefix(':').is_some_and(|port| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    })
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Reply {
    reply(StatusCode::OK, content_type, body)
}

fn text(status: StatusCode, body: &'static str) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

/// A JSON reply, written as every JSON output of porthole is: process
/// names and command lines come from other users, and a control or bidi
/// character stays a `\u` escape even when the reply is read with `curl` on
/// a terminal.
fn json<T: Serialize>(value: &T) -> Reply {
    let mut body = Vec::new();
    match crate::render::sanitize::write_json(&mut body, value) {
        Ok(()) => reply(StatusCode::OK, "application/json", body),
        Err(error) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn json_error(status: StatusCode, message: &str) -> Reply {
    let value = serde_json::json!({ "error": message, "status": status.as_u16() });
    let mut body = Vec::new();
    // Writing to memory fails only if serialising does, which a `Value`
    // of two strings and a number cannot.
    let _ = crate::render::sanitize::write_json(&mut body, &value);
    reply(status, "application/json", body)
}

fn unauthorized() -> Reply {
    let mut reply = json_error(
        StatusCode::UNAUTHORIZED,
        "token required: open the URL porthole printed, or send Authorization: Bearer TOKEN",
    );
    reply.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    reply
}

fn html_unauthorized() -> Reply {
    let mut reply = reply(
        StatusCode::UNAUTHORIZED,
        "text/html; charset=utf-8",
        "<!doctype html><title>porthole</title><h1>Token required</h1>\
         <p>Open the address <code>porthole</code> printed when it started \
         (<code>http://127.0.0.1:PORT/?token=…</code>); the token is also in the \
         <code>dashboard.token</code> file of the state directory.</p>\n",
    );
    reply.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::facts::Facts;

    fn state() -> Arc<DashboardState> {
        let facts = Arc::new(FactSource::new(None, false));
        facts.publish(Facts::default());
        Arc::new(DashboardState {
            token: "secret-token-0123456789".into(),
            session: token::Session::new("secret-token-0123456789").expect("random key"),
            hosts: HostPolicy::default(),
            port: 7878,
            metrics_public: false,
            facts,
            health: None,
        })
    }

    async fn get(path: &str, headers: &[(&str, &str)]) -> Reply {
        request(&state(), "GET", path, headers).await
    }

    async fn request(
        state: &Arc<DashboardState>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder =
            Request::builder().method(method).uri(path).header("host", "127.0.0.1:7878");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        handle(Arc::clone(state), builder.body(()).unwrap(), None).await.unwrap()
    }

    /// The session cookie `/?token=` sets, as `NAME=VALUE`.
    async fn log_in(state: &Arc<DashboardState>) -> String {
        let redirect = request(state, "GET", "/?token=secret-token-0123456789", &[]).await;
        assert_eq!(redirect.status(), 303);
        let cookie = redirect.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    }

    // The cookie held the token itself: whoever read it from a browser
    // profile or a proxy's log had the token, for scripts and `/metrics`
    // too, for as long as the token file lived.
    #[tokio::test]
    async fn the_cookie_holds_a_session_value_that_dies_with_the_server() {
        let server = state();
        let cookie = log_in(&server).await;
        let value = cookie.strip_prefix("porthole_dashboard_7878=").expect(&cookie);
        assert!(!value.contains("secret-token-0123456789"), "{cookie}");
        assert_eq!(value, server.session.value());
        let page = request(&server, "GET", "/", &[("cookie", &cookie)]).await;
        assert_eq!(page.status(), 200);
        for path in ["/api/health", "/metrics"] {
            let ok = request(&server, "GET", path, &[("cookie", &cookie)]).await;
            assert_eq!(ok.status(), 200, "{path}");
            // The cookie's value is no token anywhere a token is taken.
            let bearer = format!("Bearer {value}");
            let as_token = request(&server, "GET", path, &[("authorization", &bearer)]).await;
            assert_eq!(as_token.status(), 401, "{path}");
            let query = format!("{path}?token={value}");
            assert_eq!(request(&server, "GET", &query, &[]).await.status(), 401, "{query}");
        }
        // The token itself in the cookie is refused.
        let raw = "porthole_dashboard_7878=secret-token-0123456789";
        assert_eq!(request(&server, "GET", "/api/health", &[("cookie", raw)]).await.status(), 401);
        // Another server process (a restart) does not take the old cookie.
        let restarted = state();
        let stale = request(&restarted, "GET", "/api/health", &[("cookie", &cookie)]).await;
        assert_eq!(stale.status(), 401);
        // A stale cookie beside a good one, or a wrong ?token= beside a
        // good bearer, does not hide the good one.
        let both = format!("porthole_dashboard_7878=stale; {cookie}");
        assert_eq!(
            request(&server, "GET", "/api/health", &[("cookie", &both)]).await.status(),
            200
        );
        let bearer = ("authorization", "Bearer secret-token-0123456789");
        let wrong_query = request(&server, "GET", "/api/health?token=old", &[bearer]).await;
        assert_eq!(wrong_query.status(), 200);
    }

    // A HEAD answer carried no Content-Length: the body was dropped and
    // with it the length GET would send.
    #[tokio::test]
    async fn head_announces_the_length_get_sends_on_every_route() {
        let server = state();
        let cookie = log_in(&server).await;
        for path in [
            "/",
            "/app.js",
            "/style.css",
            "/api/health",
            "/api/listeners",
            "/api/connections",
            "/api/open",
            "/api/changes",
            "/api/timeline?port=80",
            "/api/nothing",
            "/api/listeners?limit=x",
            "/metrics",
            "/nothing",
            "/?token=secret-token-0123456789",
        ] {
            for credentials in [&[("cookie", cookie.as_str())][..], &[]] {
                let get = request(&server, "GET", path, credentials).await;
                let head = request(&server, "HEAD", path, credentials).await;
                assert_eq!(head.status(), get.status(), "{path}");
                let body = http_body_util::BodyExt::collect(get.into_body()).await.unwrap();
                let length = body.to_bytes().len().to_string();
                assert_eq!(head.headers().get("content-length").unwrap(), &length, "{path}");
                let empty = http_body_util::BodyExt::collect(head.into_body()).await.unwrap();
                assert!(empty.to_bytes().is_empty(), "{path}");
            }
        }
    }

    #[tokio::test]
    async fn token_host_and_origin_are_checked() {
        assert_eq!(get("/api/listeners", &[]).await.status(), 401);
        let ok = get("/api/listeners", &[("authorization", "Bearer secret-token-0123456789")]);
        assert_eq!(ok.await.status(), 200);
        // The scheme's name in any case (RFC 9110 §11.1).
        for scheme in ["bearer", "BEARER"] {
            let value = format!("{scheme} secret-token-0123456789");
            let ok = get("/api/health", &[("authorization", &value)]).await;
            assert_eq!(ok.status(), 200, "{value}");
        }
        let basic = get("/api/health", &[("authorization", "Basic secret-token-0123456789")]);
        assert_eq!(basic.await.status(), 401);
        let wrong =
            get("/api/health", &[("cookie", "porthole_dashboard_7878=secret-token-012345678X")]);
        assert_eq!(wrong.await.status(), 401);
        let redirect = get("/?token=secret-token-0123456789", &[]).await;
        assert_eq!(redirect.status(), 303);
        let cookie = redirect.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let foreign = get(
            "/api/health",
            &[
                ("authorization", "Bearer secret-token-0123456789"),
                ("origin", "http://evil.example"),
            ],
        );
        assert_eq!(foreign.await.status(), 403);
        let own = get(
            "/api/health",
            &[
                ("authorization", "Bearer secret-token-0123456789"),
                ("origin", "http://127.0.0.1:7878"),
            ],
        );
        assert_eq!(own.await.status(), 200);
        let request =
            Request::builder().uri("/").header("host", "rebind.example:7878").body(()).unwrap();
        assert_eq!(handle(state(), request, None).await.unwrap().status(), 403);
        // Look-alike names, and an absolute-form target naming another
        // host behind a loopback Host, are refused; the loopback name in
        // capitals is the same name.
        let bearer = ("authorization", "Bearer secret-token-0123456789");
        for (host, target, expected) in [
            ("[::1].evil.example", "/api/health", 403),
            ("[::1]@evil.example", "/api/health", 403),
            ("localhost.evil.example", "/api/health", 403),
            ("localhost@evil.example:7878", "/api/health", 403),
            ("127.0.0.1:7878", "http://evil.example/api/health", 403),
            ("127.0.0.1:7878", "http://localhost.evil.example:7878/api/health", 403),
            ("LOCALHOST:7878", "/api/health", 200),
            ("localhost.:7878", "/api/health", 200),
            ("localhost..:7878", "/api/health", 403),
            ("127.0.0.1:7878", "http://localhost:7878/api/health", 200),
        ] {
            let request = Request::builder()
                .uri(target)
                .header("host", host)
                .header(bearer.0, bearer.1)
                .body(())
                .unwrap();
            let status = handle(state(), request, None).await.unwrap().status();
            assert_eq!(status, expected, "{host} {target}");
        }
        // A request without Host (HTTP/1.1), or with two, is malformed;
        // HTTP/1.0 may omit it, and is refused as a name not allowed.
        let bare = |version, hosts: &[&str]| {
            let mut builder = Request::builder().uri("/api/health").version(version);
            for host in hosts {
                builder = builder.header("host", *host);
            }
            builder.header(bearer.0, bearer.1).body(()).unwrap()
        };
        for (request, expected) in [
            (bare(hyper::Version::HTTP_11, &[]), 400),
            (bare(hyper::Version::HTTP_11, &["127.0.0.1:7878", "evil.example"]), 400),
            (bare(hyper::Version::HTTP_11, &["127.0.0.1:7878", "127.0.0.1:7878"]), 400),
            (bare(hyper::Version::HTTP_10, &[]), 403),
            (bare(hyper::Version::HTTP_10, &["127.0.0.1:7878"]), 200),
        ] {
            let version = request.version();
            let status = handle(state(), request, None).await.unwrap().status();
            assert_eq!(status, expected, "{version:?}");
        }
        let request = Request::builder()
            .method("POST")
            .uri("/api/health")
            .header("host", "localhost:7878")
            .body(())
            .unwrap();
        assert_eq!(handle(state(), request, None).await.unwrap().status(), 405);
    }

    // The timeline of a store that could not be read (not recorded yet:
    // `porthole dashboard` started before the monitor) was a 500, as if
    // the dashboard had failed; and `/api/health?x=1`, `/api/listeners?prot=
    // 80` were answered as if the parameter were not there.
    #[tokio::test]
    async fn an_unreadable_store_is_503_and_unknown_parameters_are_400() {
        let directory = tempfile::tempdir().expect("temp dir");
        let missing = crate::store::StoreLocation::Sqlite(directory.path().join("h.sqlite"));
        let facts = Arc::new(FactSource::new(Some(missing), false));
        facts.publish(Facts::default());
        let server = Arc::new(DashboardState { facts, ..Arc::into_inner(state()).unwrap() });
        let bearer = [("authorization", "Bearer secret-token-0123456789")];
        let read = |path: &'static str| {
            let server = Arc::clone(&server);
            async move {
                let reply = request(&server, "GET", path, &bearer).await;
                let status = reply.status().as_u16();
                let body = http_body_util::BodyExt::collect(reply.into_body()).await.unwrap();
                let body: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap();
                (status, body["error"].as_str().unwrap_or("").to_string())
            }
        };
        let (status, error) = read("/api/timeline?port=80").await;
        assert_eq!(status, 503, "{error}");
        assert!(error.starts_with("no history at "), "{error}");
        for path in ["/api/health?since=1h", "/api/listeners?prot=80", "/api/timeline?port=80&x=1"]
        {
            let (status, error) = read(path).await;
            assert_eq!(status, 400, "{path}: {error}");
            assert!(error.starts_with("unknown parameter '"), "{path}: {error}");
        }
        assert_eq!(read("/api/health?token=secret-token-0123456789").await.0, 200);
    }

    #[test]
    fn the_address_a_connection_arrived_on_is_a_host() {
        let lan: IpAddr = "10.0.0.5".parse().unwrap();
        for host in ["10.0.0.5", "10.0.0.5:7878"] {
            assert!(names_address(host, lan), "{host}");
        }
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        assert!(names_address("10.0.0.5:7878", mapped));
        let v6: IpAddr = "fd00::5".parse().unwrap();
        assert!(names_address("[fd00::5]:7878", v6) && names_address("[fd00::5]", v6));
        for host in ["10.0.0.6", "10.0.0.5.evil", "10.0.0.5:x", "[fd00::5].evil", "fd00::5", ""] {
            assert!(!names_address(host, lan) && !names_address(host, v6), "{host}");
        }
    }

    #[tokio::test]
    async fn every_response_is_locked_down() {
        for path in ["/", "/app.js", "/api/health", "/nothing"] {
            let response = get(path, &[]).await;
            let headers = response.headers();
            assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY, "{path}");
            assert_eq!(headers["x-frame-options"], "DENY");
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert!(headers.get("access-control-allow-origin").is_none());
        }
        assert_eq!(get("/metrics", &[]).await.status(), 401);
        assert!(!INDEX_HTML.contains("<script>"), "no inline script");
    }
}
