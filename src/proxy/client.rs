//! A small blocking HTTP/1.1 client for the proxy API, used by the CLI and
//! the tests. The API lives on loopback, so plain `http://` over a std
//! `TcpStream` with `Connection: close` is all it needs.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::wire::{Field, ProxyRequestWire, ProxyWire, ToxicRequestWire, ToxicWire};
use crate::http1;

/// The API address when neither `--url` nor `TOXIPROXY_URL` is given.
pub const DEFAULT_URL: &str = "http://localhost:8474";

/// The address `porthole proxy serve` listens on without `--listen`.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8474";

/// How long a request may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid API URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    /// A host that is no host name (`x..y`), or a number the resolver
    /// would read as an IPv4 address in the old shorthand (`10`, `127.1`):
    /// as a name it would silently reach another address, or none.
    #[error("invalid API URL {url:?}: {source}")]
    BadHost { url: String, source: crate::target::EndpointError },
    /// Nothing answered at the address; `reason` is the OS's word for it
    /// and `hint` what to do about it: the command that starts the API
    /// there, when it runs as printed on this machine, or words.
    #[error("cannot reach the proxy API at {address}: {reason}{hint}")]
    Connect { address: String, reason: String, hint: String },
    /// The API's host name was not looked up within the timeout: the
    /// resolver in /etc/resolv.conf does not answer.
    #[error("cannot reach the proxy API at {address}: looking up {host} took longer than {timeout:?} (is the resolver in /etc/resolv.conf answering?)")]
    LookupTimeout { address: String, host: String, timeout: Duration },
    /// Connected (or still connecting) but no complete answer in time.
    #[error("the proxy API at {address} did not answer within {timeout:?}")]
    Timeout { address: String, timeout: Duration },
    /// The connection failed after it was made (reset, broken pipe).
    #[error("talking to the proxy API at {address}: {source}")]
    Io { address: String, source: std::io::Error },
    /// An HTTP answer whose framing is broken (truncated body, bad chunks,
    /// no end of headers).
    #[error("malformed response from the proxy API at {address}: {reason}")]
    BadResponse { address: String, reason: String },
    /// Connected, but what came back is no HTTP response: another kind of
    /// server (Redis, PostgreSQL, SSH) is on the port. `reason` says what
    /// came instead.
    #[error("the server at {address} does not speak HTTP ({reason}): is the proxy API there?")]
    NotHttp { address: String, reason: String },
    /// A success status whose body is not the JSON the API sends there: a
    /// web server or gateway that answers every path. `kind` names what came
    /// (`text/html`, `an empty body`, `JSON of another shape`), `body` quotes
    /// its start.
    #[error(
        "the server at {address} answered HTTP {status} with {kind}, not the proxy API's JSON{}",
        body.as_ref().map_or(String::new(), |body| format!(": {body}"))
    )]
    NotApiAnswer { address: String, status: u16, kind: String, body: Option<String> },
    /// A `DELETE` answered with a success other than the API's `204`.
    #[error(
        "the server at {address} answered DELETE with HTTP {status}, not the proxy API's 204 No Content: nothing was deleted{}",
        body.as_ref().map_or(String::new(), |body| format!(" ({body})"))
    )]
    NotDeleted { address: String, status: u16, body: Option<String> },
    /// A proxy or toxic name that is empty, so it cannot be put in a path.
    #[error("the {what} name is empty")]
    EmptyName { what: &'static str },
    /// A 404 from something other than the API's routes (a path prefix in
    /// the URL that the server does not have, or another server).
    #[error("no proxy API at {url}: the server answered 404 ({message})")]
    NoApi { url: String, message: String },
    /// The API's `Host` check refused the name in the URL (it answers only
    /// to loopback names and those given to `--allow-host`).
    #[error("the proxy API at {address} does not answer to the host name {name} (HTTP 403): use a loopback address, or add `--allow-host {name}` to the options of the `porthole proxy serve` that serves it")]
    HostNotAllowed { address: String, name: String },
    /// The API answered with an error status; `message` is its `error` field.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// An error status without the API's `{"error": ...}` body: a gateway's
    /// page, or Toxiproxy's empty 503 for a request that took over 25 s.
    /// `body` is the start of what came, `None` for nothing.
    #[error(
        "the server at {address} answered HTTP {status} {}",
        body.as_ref().map_or("with an empty body".to_string(), |body| format!("without an API error: {body}"))
    )]
    NotApiError { address: String, status: u16, body: Option<String> },
}

/// How much of a body that is not the API's a message quotes.
const QUOTED_BODY: usize = 200;

/// The first line of `text`, cut at [`QUOTED_BODY`] characters; `None` when
/// there is nothing to show.
fn quoted(text: &str) -> Option<String> {
    let line = text.trim().lines().next()?.trim();
    let mut quoted: String = line.chars().take(QUOTED_BODY).collect();
    if quoted.len() < line.len() || text.trim().lines().nth(1).is_some() {
        quoted.push('…');
    }
    Some(quoted)
}

/// A raw HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// `body` of [`ApiClient::call`] for requests that carry none.
const NO_BODY: Option<&()> = None;

/// Talks to one API server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// `host:port` to connect to.
    address: String,
    /// Sent as `Host`.
    host: String,
    /// The path the API is served under, without a trailing `/` (empty
    /// for the root); every request path is appended to it.
    base: String,
    /// For the whole exchange: connecting, sending and reading the answer.
    timeout: Duration,
    /// Sent as `Authorization: Bearer` when set.
    token: Option<String>,
}

impl ApiClient {
    /// Accepts `http://host:port`, `host:port` or `http://host` (port 80),
    /// with or without a trailing `/`, optionally followed by a path the API
    /// is served under (`http://gateway/toxiproxy`), which is put before
    /// every request path, as Toxiproxy's clients do.
    ///
    /// Refused, rather than sent somewhere else: another scheme, a user or
    /// password, a query or fragment, spaces or control characters (they
    /// would end up in the request head), and a host or port that is not
    /// one (`[::1`, `host:80x`).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::BadUrl { url: url.to_string(), reason };
        if url.chars().any(|character| character.is_whitespace() || character.is_control()) {
            return Err(bad("it contains a space or a control character"));
        }
        // Schemes are case-insensitive (RFC 3986 §3.1): `HTTP://` is http.
        let rest = if url.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://")) {
            &url[7..]
        } else if url.contains("://") {
            return Err(bad("only http:// is supported"));
        } else {
            url
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains('@') {
            return Err(bad("a user or password in the URL is not supported (use --token)"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment has no meaning for the API"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (inside, after) =
                    bracketed.split_once(']').ok_or_else(|| bad("no closing ]"))?;
                if inside.is_empty() {
                    return Err(bad("no host"));
                }
                match after {
                    "" => (authority, None),
                    _ => match after.strip_prefix(':') {
                        Some(port) => (&authority[..authority.len() - after.len()], Some(port)),
                        None => return Err(bad("text after ] that is not :PORT")),
                    },
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if !host.starts_with('[') {
            crate::target::parse_host(host)
                .map_err(|source| ClientError::BadHost { url: url.to_string(), source })?;
        }
        let port = match port {
            None => 80,
            // Digits only (`u16::from_str` takes `+80`), and not 0, which
            // nothing can be reached on.
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port != 0 && text.bytes().all(|byte| byte.is_ascii_digit()) => port,
                _ => return Err(bad("the port is not a number from 1 to 65535")),
            },
        };
        Ok(ApiClient {
            address: format!("{host}:{port}"),
            host: authority.to_string(),
            base: path.trim_end_matches('/').to_string(),
            timeout: DEFAULT_TIMEOUT,
            token: None,
        })
    }

    /// Sets the limit for each request, connecting included.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `token` with every request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|token| !token.is_empty());
        self
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<HttpResponse, ClientError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        self.send(method, path, &body, extra_headers)
    }

    /// Sends `body` (JSON text, or empty for none) and reads the response.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        extra_headers: &[(&str, &str)],
    ) -> Result<HttpResponse, ClientError> {
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: porthole/{}\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.base,
            self.host,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.exchange(head.as_bytes(), body.as_bytes())
    }

    /// Sends raw bytes as the request (tests use it for odd headers).
    ///
    /// The whole exchange is bounded by the client's timeout: an API that
    /// accepts and never answers, or answers a byte at a time, fails with
    /// [`ClientError::Timeout`] instead of hanging.
    pub fn exchange(&self, head: &[u8], body: &[u8]) -> Result<HttpResponse, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let timed_out =
            || ClientError::Timeout { address: self.address.clone(), timeout: self.timeout };
        let mut stream = self.connect(deadline)?;
        let remaining = |deadline: Instant| {
            deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())
        };
        let io = |error: std::io::Error| match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => timed_out(),
            _ => ClientError::Io { address: self.address.clone(), source: error },
        };
        stream.set_write_timeout(Some(remaining(deadline).ok_or_else(timed_out)?)).map_err(io)?;
        // A server that closed before taking the whole request (one that
        // answers and hangs up, another kind of server that reads once)
        // fails the write: what it sent back, if anything, is still read
        // and judged below.
        match stream.write_all(head).and_then(|()| stream.write_all(body)) {
            Err(error) if !closed_by_peer(&error) => return Err(io(error)),
            _ => {}
        }
        let mut raw = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            stream
                .set_read_timeout(Some(remaining(deadline).ok_or_else(timed_out)?))
                .map_err(io)?;
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    raw.extend_from_slice(&buffer[..count]);
                    if raw.len() > LIMITS.max_head + LIMITS.max_body {
                        return Err(ClientError::BadResponse {
                            address: self.address.clone(),
                            reason: http1::Http1Error::BodyTooLarge { limit: LIMITS.max_body }
                                .to_string(),
                        });
                    }
                    // A response framed by its length or chunks is done when
                    // it is all here: a server (or a gateway in front of it)
                    // that keeps the connection open despite `Connection:
                    // close` must not make every command wait for the
                    // timeout.
                    if http1::is_complete(final_response(&raw), LIMITS) {
                        break;
                    }
                    // Not HTTP at all (a banner, a binary greeting): no
                    // more bytes will make it one, so do not wait for the
                    // timeout.
                    if http1::parse_head(final_response(&raw), LIMITS).is_err() {
                        break;
                    }
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // A reset ends the answer as a close does: a server that
                // closes with part of the request unread sends a reset
                // instead of a FIN, which depends on how much of the request
                // had arrived. What came before it is judged the same way.
                Err(error) if closed_by_peer(&error) => break,
                Err(error) => return Err(io(error)),
            }
        }
        if let Some(reason) = not_http(final_response(&raw)) {
            return Err(ClientError::NotHttp { address: self.address.clone(), reason });
        }
        parse_response(&raw)
            .map_err(|reason| ClientError::BadResponse { address: self.address.clone(), reason })
    }

    /// Connects to the first address that answers before `deadline`.
    fn connect(&self, deadline: Instant) -> Result<TcpStream, ClientError> {
        let addresses = self.resolve(deadline)?;
        let mut last: Option<(std::net::SocketAddr, std::io::Error)> = None;
        let timed_out =
            || ClientError::Timeout { address: self.address.clone(), timeout: self.timeout };
        for address in addresses {
            // Out of time before an address was tried: that is the timeout,
            // not "no address" (nor `connect_timeout`'s refusal of a zero
            // duration).
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(timed_out)?;
            match TcpStream::connect_timeout(&address, left) {
                Ok(stream) => return Ok(stream),
                Err(error) if error.kind() == ErrorKind::TimedOut => return Err(timed_out()),
                Err(error) => last = Some((address, error)),
            }
        }
        let (reason, hint) = match last {
            None => ("no address".to_string(), String::new()),
            Some((address, error)) => {
                let hint = match error.kind() {
                    ErrorKind::ConnectionRefused => self.start_hint(address.ip()),
                    _ => String::new(),
                };
                (os_words(&error), hint)
            }
        };
        Err(ClientError::Connect { address: self.address.clone(), reason, hint })
    }

    /// What to do about a refused connection to `refused_at`: the command
    /// that starts the API where this client looks for it, when that runs
    /// as printed on this machine (the address is one of its own, and the
    /// URL has no path that `proxy serve` would not serve under); otherwise
    /// plain words. A server started with `porthole proxy serve` alone
    /// listens on 127.0.0.1:8474, which `--url http://127.0.0.1:9474` would
    /// still not reach, so any other address is named with `--listen`.
    fn start_hint(&self, refused_at: std::net::IpAddr) -> String {
        if !self.base.is_empty() || !crate::diagnose::readiness::is_local(refused_at) {
            return " (no proxy API server listens there)".to_string();
        }
        // Both the client's default URL and the server's default address.
        if [DEFAULT_URL.trim_start_matches("http://"), DEFAULT_API_LISTEN]
            .contains(&self.address.as_str())
        {
            return "; start it with `porthole proxy serve`".to_string();
        }
        format!(
            "; start it with `porthole proxy serve {}`",
            crate::shell::option_with_value("--listen", &self.address)
        )
    }

    /// The addresses of the API's host, looked up within `deadline`. The
    /// system resolver has its own timeouts (5 s a try, per server, in
    /// glibc), so a resolver that does not answer would hold the command far
    /// beyond `--timeout`: the lookup runs on a thread of its own, which is
    /// left behind if it does not finish in time (the command ends anyway).
    fn resolve(&self, deadline: Instant) -> Result<Vec<std::net::SocketAddr>, ClientError> {
        let failed = |reason: String| ClientError::Connect {
            address: self.address.clone(),
            reason,
            hint: String::new(),
        };
        if let Ok(address) = self.address.parse::<std::net::SocketAddr>() {
            return Ok(vec![address]);
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        let address = self.address.clone();
        let spawned = std::thread::Builder::new().name("api-lookup".into()).spawn(move || {
            let _ = sender.send(address.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        });
        if spawned.is_err() {
            // No thread to spare: look up here, unbounded, as before.
            return self
                .address
                .to_socket_addrs()
                .map(Iterator::collect)
                .map_err(|error| failed(os_words(&error)));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(Ok(addresses)) => Ok(addresses),
            Ok(Err(error)) => Err(failed(os_words(&error))),
            Err(_) => Err(ClientError::LookupTimeout {
                address: self.address.clone(),
                host: host_name(&self.address).to_string(),
                timeout: self.timeout,
            }),
        }
    }

    /// Sends a request and turns an error status into [`ClientError::Api`].
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<HttpResponse, ClientError> {
        // Plain data structs and JSON values: serialising cannot fail.
        let body = body.map(|body| serde_json::to_string(body).expect("request bodies serialise"));
        let response = self.send(method, path, body.as_deref().unwrap_or(""), &[])?;
        if response.status >= 400 {
            let error = response
                .json()
                .ok()
                .and_then(|value| value.get("error")?.as_str().map(str::to_string));
            // The API answers every route it knows with `{"error": ...}`; a
            // bare 404 is the router's "404 page not found": the URL does
            // not lead to the API, which is not the same as "no such proxy".
            if response.status == 404 && error.is_none() {
                return Err(ClientError::NoApi {
                    url: format!("http://{}{}{path}", self.host, self.base),
                    message: response.text().trim().to_string(),
                });
            }
            return Err(match error {
                Some(message) if response.status == 403 && message == "host not allowed" => {
                    ClientError::HostNotAllowed {
                        address: self.address.clone(),
                        name: host_name(&self.host).to_string(),
                    }
                }
                Some(message) => ClientError::Api { status: response.status, message },
                None => ClientError::NotApiError {
                    address: self.address.clone(),
                    status: response.status,
                    body: quoted(&response.text()),
                },
            });
        }
        Ok(response)
    }

    /// [`ApiClient::call`] for a `DELETE`, which the API answers with 204
    /// and nothing else: a 200 or 201 comes from something that is not the
    /// API (a server that answers every path), and did not delete anything.
    /// Toxiproxy's Go client refuses any other status too.
    fn call_delete(&self, path: &str) -> Result<(), ClientError> {
        let response = self.call("DELETE", path, NO_BODY)?;
        if response.status != 204 {
            return Err(ClientError::NotDeleted {
                address: self.address.clone(),
                status: response.status,
                body: quoted(&response.text()),
            });
        }
        Ok(())
    }

    /// The body of a success as the API's JSON for it; anything else (an
    /// HTML page, an empty body, JSON of another shape) is named for what it
    /// is, with the server's address, not as a parser's complaint.
    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        response: &HttpResponse,
    ) -> Result<T, ClientError> {
        let error = match serde_json::from_slice(&response.body) {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let text = response.text();
        let kind = if text.trim().is_empty() {
            "an empty body".to_string()
        } else if error.is_data() {
            "JSON of another shape".to_string()
        } else {
            match response.header("content-type").map(|value| value.split(';').next()) {
                Some(Some(media)) if !media.trim().is_empty() => media.trim().to_string(),
                _ => "a body that is not JSON".to_string(),
            }
        };
        Err(ClientError::NotApiAnswer {
            address: self.address.clone(),
            status: response.status,
            kind,
            body: quoted(&text),
        })
    }

    pub fn version(&self) -> Result<String, ClientError> {
        let response = self.call("GET", "/version", NO_BODY)?;
        Ok(response
            .json()
            .ok()
            .and_then(|value| value.get("version")?.as_str().map(str::to_string))
            .unwrap_or_else(|| response.text().trim().to_string()))
    }

    pub fn list(&self) -> Result<BTreeMap<String, ProxyWire>, ClientError> {
        self.typed(&self.call("GET", "/proxies", NO_BODY)?)
    }

    pub fn get(&self, name: &str) -> Result<ProxyWire, ClientError> {
        self.typed(&self.call("GET", &format!("/proxies/{}", segment(name, "proxy")?), NO_BODY)?)
    }

    pub fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxyWire, ClientError> {
        let body = ProxyRequestWire {
            enabled: true.into(),
            listen: listen.to_string().into(),
            name: name.to_string().into(),
            toxics: Field::Absent,
            upstream: upstream.to_string().into(),
        };
        self.typed(&self.call("POST", "/proxies", Some(&body))?)
    }

    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyWire, ClientError> {
        let body = ProxyRequestWire { enabled: enabled.into(), ..ProxyRequestWire::default() };
        self.typed(&self.call(
            "POST",
            &format!("/proxies/{}", segment(name, "proxy")?),
            Some(&body),
        )?)
    }

    pub fn delete(&self, name: &str) -> Result<(), ClientError> {
        self.call_delete(&format!("/proxies/{}", segment(name, "proxy")?))
    }

    pub fn add_toxic(
        &self,
        proxy: &str,
        toxic: &ToxicRequestWire,
    ) -> Result<ToxicWire, ClientError> {
        let path = format!("/proxies/{}/toxics", segment(proxy, "proxy")?);
        self.typed(&self.call("POST", &path, Some(toxic))?)
    }

    pub fn toxic(&self, proxy: &str, name: &str) -> Result<ToxicWire, ClientError> {
        let path =
            format!("/proxies/{}/toxics/{}", segment(proxy, "proxy")?, segment(name, "toxic")?);
        self.typed(&self.call("GET", &path, NO_BODY)?)
    }

    pub fn update_toxic(
        &self,
        proxy: &str,
        name: &str,
        update: &ToxicRequestWire,
    ) -> Result<ToxicWire, ClientError> {
        let path =
            format!("/proxies/{}/toxics/{}", segment(proxy, "proxy")?, segment(name, "toxic")?);
        self.typed(&self.call("POST", &path, Some(update))?)
    }

    pub fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ClientError> {
        let path =
            format!("/proxies/{}/toxics/{}", segment(proxy, "proxy")?, segment(name, "toxic")?);
        self.call_delete(&path)
    }
}

/// The name in a URL's `host[:port]`, as `--allow-host` takes it.
fn host_name(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    }
}

/// The peer closed the connection: a reset, or a write after its close.
fn closed_by_peer(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// `Connection refused (os error 111)` → `connection refused`: one short
/// reason, not the OS error twice.
fn os_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
}

/// `name` as a path segment. An empty one is refused: `/proxies/` is no
/// proxy's address, and the server's answer to it (an unknown route) would
/// read as if the URL led to no API.
fn segment(name: &str, what: &'static str) -> Result<String, ClientError> {
    if name.is_empty() {
        return Err(ClientError::EmptyName { what });
    }
    Ok(escape(name))
}

/// Escapes a name for a URL path segment. A name that is `.` or `..` has
/// its dots escaped too: as they are, the server would clean them out of
/// the path like a directory name.
fn escape(name: &str) -> String {
    if name == "." || name == ".." {
        return "%2E".repeat(name.len());
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The largest answer the client accepts: the API's biggest reply, the
/// proxy list, is a few hundred bytes per proxy.
const LIMITS: http1::Limits = http1::Limits { max_head: 64 << 10, max_body: 16 << 20 };

/// The bytes after any interim (1xx) responses a server sent first, such as
/// a `100 Continue` nobody asked for: the answer is the response after them.
fn final_response(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    while let Ok(Some(head)) = http1::parse_head(rest, LIMITS) {
        if !(100..200).contains(&head.status_line.status) {
            break;
        }
        rest = &rest[head.length..];
    }
    rest
}

/// What came instead of an HTTP response, when `answer` (everything the
/// server sent before closing, or before it could no longer be HTTP) does
/// not start like one; `None` when it does, so [`parse_response`] judges it.
fn not_http(answer: &[u8]) -> Option<String> {
    if answer.starts_with(b"HTTP/") || matches!(http1::parse_head(answer, LIMITS), Ok(Some(_))) {
        return None;
    }
    let text = String::from_utf8_lossy(answer);
    Some(match quoted(&text) {
        None if answer.is_empty() => "it closed the connection without an answer".to_string(),
        None => "it answered with blank lines".to_string(),
        Some(line) => format!("it answered \"{line}\""),
    })
}

/// Parses a whole response (the server has closed, or its framing says it
/// is all here): a body shorter than its framing announced is an error
/// here, not a partial answer.
/// The error is the reason, without the address the caller adds.
fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let response = http1::parse_response(final_response(raw), LIMITS)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| "no end of headers".to_string())?;
    if let Some(error) = response.body_error {
        return Err(error.to_string());
    }
    Ok(HttpResponse {
        status: response.head.status_line.status,
        headers: response.head.headers,
        body: response.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let client = ApiClient::new("http://localhost:8474").expect("valid");
        assert_eq!(client.address, "localhost:8474");
        let client = ApiClient::new("127.0.0.1:9/").expect("valid");
        assert_eq!(client.address, "127.0.0.1:9");
        let client = ApiClient::new("http://[::1]").expect("valid");
        assert_eq!(client.address, "[::1]:80");
        assert!(ApiClient::new("https://x:1").is_err());
        let client = ApiClient::new("HTTP://localhost:8474/Api").expect("valid");
        assert_eq!((client.address.as_str(), client.base.as_str()), ("localhost:8474", "/Api"));
        assert!(ApiClient::new("http://").is_err());
        let client = ApiClient::new("http://[::1]:9/").expect("valid");
        assert_eq!((client.address.as_str(), client.base.as_str()), ("[::1]:9", ""));
        let client = ApiClient::new("http://gateway:8080/chaos/toxiproxy/").expect("valid");
        assert_eq!(client.address, "gateway:8080");
        assert_eq!(client.host, "gateway:8080");
        assert_eq!(client.base, "/chaos/toxiproxy");
        assert_eq!(host_name("gateway:8080"), "gateway");
        assert_eq!(host_name("gateway"), "gateway");
        assert_eq!(host_name("[fd00::1]:8474"), "[fd00::1]");
        assert_eq!(host_name("[fd00::1]"), "[fd00::1]");
    }

    /// A deadline that passes before the first address is tried is the
    /// timeout, not "cannot reach …: no address".
    #[test]
    fn a_deadline_gone_before_connecting_is_a_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let client = ApiClient::new(&url).expect("valid").with_timeout(Duration::from_nanos(1));
        let error = client.request("GET", "/version", None, &[]).expect_err("no time");
        assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    }

    #[test]
    fn urls_that_cannot_be_sent_are_refused() {
        for (url, reason) in [
            ("http://[::1", "no closing ]"),
            ("http://[::1]x", "text after ] that is not :PORT"),
            ("http://[]:80", "no host"),
            (":80", "no host"),
            ("http://localhost:84x", "the port is not a number from 1 to 65535"),
            ("http://localhost:65536", "the port is not a number from 1 to 65535"),
            ("http://localhost:+80", "the port is not a number from 1 to 65535"),
            ("http://localhost:0", "the port is not a number from 1 to 65535"),
            ("HTTPS://localhost:8474", "only http:// is supported"),
            (
                "http://user:pw@localhost:8474",
                "a user or password in the URL is not supported (use --token)",
            ),
            ("http://localhost:8474/?x=1", "a query or fragment has no meaning for the API"),
            ("http://localhost:8474#top", "a query or fragment has no meaning for the API"),
            (
                "http://localhost:8474\r\nX-Injected: 1",
                "it contains a space or a control character",
            ),
            ("http://local host:8474", "it contains a space or a control character"),
        ] {
            match ApiClient::new(url) {
                Err(ClientError::BadUrl { reason: given, .. }) => {
                    assert_eq!(given, reason, "{url}")
                }
                other => panic!("{url}: expected a bad URL, got {other:?}"),
            }
        }
    }

    /// The API's host is read as every other host is: the resolver's IPv4
    /// shorthand (`10`, `127.1`) and malformed names are refused before
    /// anything is sent (`--url 10` reached a web server on this machine).
    #[test]
    fn a_host_that_is_no_host_name_is_refused() {
        for (url, message) in [
            ("10", "'10' is no host name: the resolver reads it as the IPv4 address 0.0.0.10"),
            ("http://127.1:8474", "the IPv4 address 127.0.0.1"),
            ("http://x..y/", "'x..y' is not a valid host name"),
        ] {
            match ApiClient::new(url) {
                Err(error @ ClientError::BadHost { .. }) => {
                    let text = error.to_string();
                    assert!(text.starts_with(&format!("invalid API URL {url:?}: ")), "{text}");
                    assert!(text.contains(message), "{url}: {text}");
                }
                other => panic!("{url}: expected a bad host, got {other:?}"),
            }
        }
        for url in ["http://toxiproxy.local:8474", "http://[::1]:8474", "127.0.0.1:8474", "h_1"] {
            assert!(ApiClient::new(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_refused_connection_is_one_message() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = closed.local_addr().expect("address");
        drop(closed);
        let error = ApiClient::new(&address.to_string()).expect("valid").version().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot reach the proxy API at {address}: connection refused; start it with `porthole proxy serve --listen {address}`")
        );
        assert!(std::error::Error::source(&error).is_none());
    }

    #[test]
    fn responses_plain_and_chunked() {
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        let response = parse_response(raw).expect("valid");
        assert_eq!(response.status, 201);
        assert_eq!(response.body, b"{}");
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).expect("valid").body, b"abcde");
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        let error = parse_response(truncated).unwrap_err().to_string();
        assert_eq!(error, "the body ended early (truncated)");
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        let response = parse_response(raw).expect("valid");
        assert_eq!((response.status, response.body.as_slice()), (200, b"{}".as_slice()));
        let error = parse_response(b"HTTP/1.1 200 OK\r\n").unwrap_err().to_string();
        assert_eq!(error, "no end of headers");
        assert_eq!(escape("a b/c"), "a%20b%2Fc");
        assert_eq!(
            (escape(".."), escape("."), escape("a..b")),
            ("%2E%2E".into(), "%2E".into(), "a..b".into())
        );
    }
}
