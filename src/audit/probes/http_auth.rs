//! HTTP login clients for `weak-password`, each one read-only request per
//! attempt (two for Jupyter's login form):
//! - Elasticsearch/OpenSearch: `GET /` with HTTP Basic — 200 (or 403:
//!   known user without the privilege) means the password is right, 401
//!   wrong;
//! - RabbitMQ management: `GET /api/whoami` with HTTP Basic;
//! - Jupyter: a token in `Authorization: token …` on `GET /api/status`, or
//!   a password through the login form (`GET /login` for the `_xsrf`
//!   cookie, then `POST /login`), answered with a redirect away from
//!   `/login` on success.
//!
//! A 429, or a 503 with `Retry-After`, is a rate-limit sign.
//! See: <https://www.elastic.co/guide/en/elasticsearch/reference/current/http-clients.html>,
//! <https://www.rabbitmq.com/docs/management#http-api>,
//! <https://jupyter-server.readthedocs.io/en/latest/operators/security.html>

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::conn::{Conn, Deadline};
use super::http::{self, Request, Response};
use super::login::Attempt;

/// `Authorization: Basic …` value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// The verdict of a request carrying credentials.
pub fn classify(response: &Response, forbidden_means_known: bool) -> Attempt {
    match response.status {
        200..=299 => Attempt::Accepted,
        403 if forbidden_means_known => Attempt::Accepted,
        401 | 403 => Attempt::Rejected,
        429 => Attempt::Blocked("HTTP 429 Too Many Requests".into()),
        503 if response.header("retry-after").is_some() => {
            Attempt::Blocked("HTTP 503 with Retry-After".into())
        }
        other => Attempt::Failed(format!("HTTP {other}")),
    }
}

/// One HTTP Basic attempt: `GET path`.
pub fn attempt_basic(
    address: SocketAddr,
    tls: bool,
    path: &str,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    let request = Request::get(path, http::local_host(address))
        .header("Authorization", basic(user, password));
    match http::send(address, tls, &request, deadline) {
        // Elasticsearch answers 403 to a known user without cluster:monitor.
        Some(response) => classify(&response, path == "/"),
        None => Attempt::Failed("no HTTP answer".into()),
    }
}

/// A Jupyter token: `GET /api/status` with `Authorization: token …`.
pub fn attempt_jupyter_token(
    address: SocketAddr,
    tls: bool,
    token: &str,
    deadline: &Deadline,
) -> Attempt {
    let request = Request::get("/api/status", http::local_host(address))
        .header("Authorization", format!("token {token}"));
    match http::send(address, tls, &request, deadline) {
        Some(response) => classify(&response, false),
        None => Attempt::Failed("no HTTP answer".into()),
    }
}

/// The `_xsrf` cookie of a `Set-Cookie` header.
pub fn xsrf_cookie(response: &Response) -> Option<String> {
    response.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie")).find_map(
        |(_, value)| {
            let pair = value.split(';').next()?.trim();
            pair.strip_prefix("_xsrf=").map(str::to_string)
        },
    )
}

/// `application/x-www-form-urlencoded` escaping.
pub fn form_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The login form's verdict: a redirect away from `/login` is a session.
pub fn classify_login(response: &Response) -> Attempt {
    match response.status {
        301..=303 | 307 | 308 => {
            let location = response.header("location").unwrap_or("");
            if location.contains("/login") {
                Attempt::Rejected
            } else {
                Attempt::Accepted
            }
        }
        200 | 401 | 403 => Attempt::Rejected,
        _ => classify(response, false),
    }
}

/// A Jupyter password through the login form.
pub fn attempt_jupyter_password(
    address: SocketAddr,
    tls: bool,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    let host = http::local_host(address);
    let Some(form) = http::send(address, tls, &Request::get("/login", host.clone()), deadline)
    else {
        return Attempt::Failed("no answer to GET /login".into());
    };
    if form.status != 200 {
        return Attempt::Unsupported(format!("GET /login → {}", form.status));
    }
    let Some(xsrf) = xsrf_cookie(&form) else {
        return Attempt::Unsupported("login form without an _xsrf cookie".into());
    };
    let body = format!("_xsrf={}&password={}", form_escape(&xsrf), form_escape(password));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {host}\r\nUser-Agent: porthole-audit\r\nConnection: close\r\nCookie: _xsrf={xsrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let conn = if tls { Conn::tls(address, deadline) } else { Conn::plain(address, deadline) };
    let Ok(mut conn) = conn else { return Attempt::Failed("connect failed".into()) };
    if conn.send(request.as_bytes(), deadline).is_err() {
        return Attempt::Failed("send failed".into());
    }
    let (bytes, _) = conn.receive(deadline, None, http::is_complete);
    match http::parse(&bytes) {
        Some(response) => classify_login(&response),
        None => Attempt::Failed("no HTTP answer to POST /login".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            reason: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn basic_header_and_verdicts() {
        assert_eq!(basic("elastic", "changeme"), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert_eq!(classify(&response(200, &[]), false), Attempt::Accepted);
        assert_eq!(classify(&response(403, &[]), true), Attempt::Accepted);
        assert_eq!(classify(&response(401, &[]), true), Attempt::Rejected);
        assert!(matches!(classify(&response(429, &[]), false), Attempt::Blocked(_)));
        assert!(matches!(
            classify(&response(503, &[("retry-after", "60")]), false),
            Attempt::Blocked(_)
        ));
    }

    #[test]
    fn jupyter_login_form() {
        let form = response(
            200,
            &[("set-cookie", "_xsrf=2|ab|cd|1700000000; expires=Mon; Path=/"), ("server", "x")],
        );
        assert_eq!(xsrf_cookie(&form).as_deref(), Some("2|ab|cd|1700000000"));
        assert_eq!(form_escape("2|a b"), "2%7Ca%20b");
        assert_eq!(classify_login(&response(302, &[("location", "/tree")])), Attempt::Accepted);
        assert_eq!(
            classify_login(&response(302, &[("location", "/login?next=%2F")])),
            Attempt::Rejected
        );
        assert_eq!(classify_login(&response(200, &[])), Attempt::Rejected);
    }
}
