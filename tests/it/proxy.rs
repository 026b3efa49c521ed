//! `porthole proxy`: the Toxiproxy-compatible API contract, every toxic's
//! effect on real loopback sockets, half-close, toxic edits under load,
//! 10,000 concurrent connections, and the CLI.
//!
//! Timing assertions only check that a toxic adds at least what it should
//! (with a small tolerance). Whether a toxic is gone, or kept to its unit,
//! is told by construction: the wrong outcome holds data for [`HOLD_MS`] or
//! longer, past a [`PATIENCE`] no correct run comes near, so a slow machine
//! cannot fail them.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use porthole::proxy::client::{ApiClient, HttpResponse};
use porthole::proxy::{ApiState, Registry};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BINARY: &str = env!("CARGO_BIN_EXE_porthole");

/// An API server running in this test's runtime on a free loopback port.
pub(super) struct Api {
    address: SocketAddr,
    client: ApiClient,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(super) async fn start_api() -> Api {
    start_api_with(ApiState::new(Arc::new(Registry::new()))).await
}

async fn start_api_with(state: ApiState) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind API");
    let address = listener.local_addr().expect("address");
    let state = Arc::new(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(porthole::proxy::run(listener, state, async move {
        let _ = stopped.await;
    }));
    Api {
        address,
        client: ApiClient::new(&format!("http://{address}")).expect("url"),
        stop: Some(stop),
    }
}

impl Api {
    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(super) fn call(&self, method: &str, path: &str, body: Option<Value>) -> HttpResponse {
        self.client
            .request(method, path, body.as_ref(), &[])
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// Sends a raw body (not necessarily JSON) with extra headers.
    fn raw(&self, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.address));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.client.exchange(head.as_bytes(), body.as_bytes()).expect("raw request")
    }

    /// Creates a proxy on a free loopback port and returns where it listens.
    pub(super) fn proxy(&self, name: &str, upstream: SocketAddr) -> SocketAddr {
        let response = self.call(
            "POST",
            "/proxies",
            Some(json!({"name": name, "upstream": upstream.to_string()})),
        );
        assert_eq!(response.status, 201, "{}", response.text());
        let body = response.json().expect("json");
        body["listen"].as_str().expect("listen").parse().expect("socket address")
    }

    pub(super) fn toxic(&self, proxy: &str, toxic: Value) -> Value {
        let response = self.call("POST", &format!("/proxies/{proxy}/toxics"), Some(toxic));
        assert_eq!(response.status, 200, "{}", response.text());
        response.json().expect("json")
    }
}

fn assert_error(response: &HttpResponse, status: u16, message: &str) {
    assert_eq!(response.status, status, "body: {}", response.text());
    let body = response.json().expect("error body is JSON");
    assert_eq!(body, json!({"error": message, "status": status}));
    assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
}

/// An echo server; it half-closes after the client does.
pub(super) async fn echo_server() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(4096).expect("listen");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    address
}

/// A server that runs `serve` on each accepted connection.
pub(super) async fn custom_server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(stream));
        }
    });
    address
}

pub(super) fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect through proxy");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
}

/// A toxic delay (in milliseconds) that data must never wait out: a chunk
/// still held by it arrives two minutes later, well past [`PATIENCE`].
pub(super) const HOLD_MS: u64 = 120_000;

/// How long a [`patient`] read waits. No correct outcome comes near it on any
/// machine, and every wrong one it tells apart (a toxic left in place, a
/// delay in seconds instead of milliseconds) takes longer.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

/// A connection through the proxy whose reads wait up to [`PATIENCE`].
pub(super) fn patient(address: SocketAddr) -> TcpStream {
    let stream = connect(address);
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// Waits until the proxy `name` has read `bytes` bytes in `direction`:
/// past that point they are in its toxics.
pub(super) fn wait_for_received(api: &Api, name: &str, direction: &str, bytes: u64) {
    let series = format!("toxiproxy_proxy_received_bytes_total{{direction=\"{direction}\"");
    let label = format!("proxy=\"{name}\"");
    let mut received = 0;
    let arrived = crate::util::eventually(PATIENCE, || {
        let metrics = api.call("GET", "/metrics", None).text();
        received = metrics
            .lines()
            .filter(|line| line.starts_with(&series) && line.contains(&label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
        received >= bytes
    });
    assert!(arrived, "{name} read {received} of {bytes} {direction} bytes");
}

fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let start = Instant::now();
    stream.write_all(message).expect("write");
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).expect("echo");
    assert_eq!(back, message);
    start.elapsed()
}

fn refused(address: SocketAddr) -> bool {
    // A closed listener can stay open for a moment in a child process that
    // another test forked and that has not reached exec yet (every fd is
    // duplicated until then), and a loaded machine can be slow to answer:
    // poll for a refusal rather than trusting the first answer.
    crate::util::eventually(PATIENCE, || {
        matches!(
            TcpStream::connect_timeout(&address, Duration::from_secs(2)),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused
        )
    })
}

/// Reads until EOF or error; returns bytes and how it ended.
pub(super) fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (data, Ok(())),
            Ok(count) => data.extend_from_slice(&buffer[..count]),
            Err(error) => return (data, Err(error.kind())),
        }
    }
}

// ---------------------------------------------------------------- API contract

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_lists_and_unknown_routes() {
    let api = start_api().await;
    let version = api.call("GET", "/version", None);
    assert_eq!(version.status, 200);
    assert_eq!(version.json().unwrap()["version"], "2.12.0");
    assert!(version.header("content-type").unwrap().starts_with("application/json"));

    let proxies = api.call("GET", "/proxies", None);
    assert_eq!((proxies.status, proxies.text()), (200, "{}".to_string()));

    let missing = api.call("GET", "/nothing/here", None);
    assert_eq!((missing.status, missing.text()), (404, "404 page not found\n".to_string()));
    let wrong_method = api.call("PUT", "/proxies", None);
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_create_get_update_delete() {
    let api = start_api().await;
    let echo = echo_server().await;
    let created =
        api.call("POST", "/proxies", Some(json!({"name": "db", "upstream": echo.to_string()})));
    assert_eq!(created.status, 201);
    let body = created.json().unwrap();
    let listen: SocketAddr = body["listen"].as_str().unwrap().parse().unwrap();
    // No `listen` means loopback, and port 0 is reported resolved.
    assert!(listen.ip().is_loopback());
    assert_ne!(listen.port(), 0);
    assert_eq!(
        body,
        json!({"name": "db", "listen": listen.to_string(), "upstream": echo.to_string(),
               "enabled": true, "Logger": {}, "toxics": []})
    );
    let mut stream = connect(listen);
    round_trip(&mut stream, b"hello");

    let fetched = api.call("GET", "/proxies/db", None);
    assert_eq!(fetched.json().unwrap(), body);
    let listed = api.call("GET", "/proxies", None).json().unwrap();
    assert_eq!(listed, json!({"db": body}));

    // A partial update takes the proxy down: listener and live connection.
    let disabled = api.call("POST", "/proxies/db", Some(json!({"enabled": false})));
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.json().unwrap()["enabled"], false);
    assert_eq!(disabled.json().unwrap()["listen"], listen.to_string());
    assert!(refused(listen), "listener still open after enabled:false");
    let (_, end) = read_to_end(&mut stream);
    assert!(end.is_ok() || end == Err(ErrorKind::ConnectionReset));

    // PATCH brings it back on the same port.
    let enabled = api.call("PATCH", "/proxies/db", Some(json!({"enabled": true})));
    assert_eq!(enabled.status, 200);
    round_trip(&mut connect(listen), b"again");

    // A new upstream restarts the proxy on the same listen address.
    let other = echo_server().await;
    let moved = api.call("PATCH", "/proxies/db", Some(json!({"upstream": other.to_string()})));
    assert_eq!(moved.json().unwrap()["upstream"], other.to_string());
    round_trip(&mut connect(listen), b"moved");

    let deleted = api.call("DELETE", "/proxies/db", None);
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    assert!(refused(listen));
    assert_error(&api.call("GET", "/proxies/db", None), 404, "proxy not found");
    assert_error(&api.call("DELETE", "/proxies/db", None), 404, "proxy not found");
    assert_error(
        &api.call("PATCH", "/proxies/db", Some(json!({"enabled": true}))),
        404,
        "proxy not found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_create_errors() {
    let api = start_api().await;
    let echo = echo_server().await;
    // In the words of Go's JSON scanner.
    let bad_json = api.raw("POST", "/proxies", "{nope", &[]);
    let expected =
        "bad request body: invalid character 'n' looking for beginning of object key string";
    assert_error(&bad_json, 400, expected);
    assert_error(&api.raw("POST", "/proxies", "", &[]), 400, "bad request body: EOF");
    assert_error(
        &api.call("POST", "/proxies", Some(json!({"upstream": echo.to_string()}))),
        400,
        "missing required field: name",
    );
    assert_error(
        &api.call("POST", "/proxies", Some(json!({"name": "x"}))),
        400,
        "missing required field: upstream",
    );
    assert_error(
        &api.call("POST", "/proxies", Some(json!({"name": "x", "upstream": "no-port"}))),
        400,
        "invalid upstream address \"no-port\": expected HOST:PORT",
    );
    let wrong_type = api.call("POST", "/proxies", Some(json!({"name": 5, "upstream": "a:1"})));
    assert_eq!(wrong_type.status, 400);

    // Content-Type is ignored, as Toxiproxy ignores it.
    let body = json!({"name": "first", "upstream": echo.to_string()}).to_string();
    let created = api.raw("POST", "/proxies", &body, &[("Content-Type", "text/plain")]);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_error(
        &api.call("POST", "/proxies", Some(json!({"name": "first", "upstream": echo.to_string()}))),
        409,
        "proxy already exists",
    );
    let taken = created.json().unwrap()["listen"].as_str().unwrap().to_string();
    let clash = api.call(
        "POST",
        "/proxies",
        Some(json!({"name": "second", "listen": taken, "upstream": echo.to_string()})),
    );
    assert_error(&clash, 500, &format!("listen tcp {taken}: bind: address already in use"));
    let nonsense = api.call(
        "POST",
        "/proxies",
        Some(json!({"name": "third", "listen": "nonsense", "upstream": echo.to_string()})),
    );
    assert_eq!(nonsense.status, 500);
    // A failed create leaves nothing behind.
    assert_eq!(api.call("GET", "/proxies", None).json().unwrap().as_object().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxic_endpoints() {
    let api = start_api().await;
    let echo = echo_server().await;
    api.proxy("p", echo);
    let created = api.call(
        "POST",
        "/proxies/p/toxics",
        Some(json!({"type": "slicer", "attributes": {"average_size": 64}})),
    );
    assert_eq!(created.status, 200);
    assert_eq!(
        created.json().unwrap(),
        json!({"attributes": {"average_size": 64, "size_variation": 0, "delay": 0},
               "name": "slicer_downstream", "type": "slicer", "stream": "downstream",
               "toxicity": 1})
    );
    let noop =
        api.toxic("p", json!({"type": "noop", "name": "n", "stream": "UPSTREAM", "toxicity": 0.5}));
    assert_eq!(
        noop,
        json!({"attributes": {}, "name": "n", "type": "noop", "stream": "upstream", "toxicity": 0.5})
    );
    let listed = api.call("GET", "/proxies/p/toxics", None).json().unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(api.call("GET", "/proxies/p", None).json().unwrap()["toxics"], listed);
    let one = api.call("GET", "/proxies/p/toxics/n", None);
    assert_eq!(one.json().unwrap(), noop);

    // Update merges: untouched attributes and toxicity stay.
    let updated = api.call(
        "PATCH",
        "/proxies/p/toxics/slicer_downstream",
        Some(json!({"attributes": {"delay": 10}})),
    );
    assert_eq!(updated.status, 200);
    assert_eq!(
        updated.json().unwrap()["attributes"],
        json!({"average_size": 64, "size_variation": 0, "delay": 10})
    );
    let retoxic = api.call("POST", "/proxies/p/toxics/n", Some(json!({"toxicity": 0.25})));
    assert_eq!(retoxic.json().unwrap()["toxicity"], 0.25);

    assert_error(
        &api.call("POST", "/proxies/p/toxics", Some(json!({"type": "noop", "name": "n"}))),
        409,
        "toxic already exists",
    );
    assert_error(
        &api.call("POST", "/proxies/p/toxics", Some(json!({"type": "gremlin"}))),
        400,
        "invalid toxic type",
    );
    assert_error(
        &api.call("POST", "/proxies/p/toxics", Some(json!({"type": "noop", "stream": "sideways"}))),
        400,
        "stream was invalid, can be either upstream or downstream",
    );
    let bad_attribute = api.call(
        "POST",
        "/proxies/p/toxics",
        Some(json!({"type": "latency", "attributes": {"latency": "slow"}})),
    );
    assert_eq!(bad_attribute.status, 400);
    assert_eq!(api.raw("POST", "/proxies/p/toxics", "[", &[]).status, 400);
    assert_error(
        &api.call("POST", "/proxies/none/toxics", Some(json!({"type": "noop"}))),
        404,
        "proxy not found",
    );
    assert_error(&api.call("GET", "/proxies/none/toxics", None), 404, "proxy not found");
    assert_error(&api.call("GET", "/proxies/p/toxics/zzz", None), 404, "toxic not found");
    assert_error(
        &api.call("PATCH", "/proxies/p/toxics/zzz", Some(json!({"toxicity": 1}))),
        404,
        "toxic not found",
    );
    let removed = api.call("DELETE", "/proxies/p/toxics/n", None);
    assert_eq!((removed.status, removed.body.len()), (204, 0));
    assert_error(&api.call("DELETE", "/proxies/p/toxics/n", None), 404, "toxic not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_and_reset() {
    let api = start_api().await;
    let echo = echo_server().await;
    let other = echo_server().await;
    // A bare array, as Toxiproxy takes it; the answer is an object.
    let first = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": "a", "upstream": echo.to_string()},
                    {"name": "b", "upstream": echo.to_string(), "enabled": false}])),
    );
    assert_eq!(first.status, 201, "{}", first.text());
    let proxies = first.json().unwrap()["proxies"].as_array().unwrap().clone();
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[1]["enabled"], false);
    let a_listen: SocketAddr = proxies[0]["listen"].as_str().unwrap().parse().unwrap();

    // An unchanged proxy is left alone: its live connection survives.
    let mut live = connect(a_listen);
    round_trip(&mut live, b"before");
    let again = api.call(
        "POST",
        "/populate",
        Some(json!({"proxies": [{"name": "a", "listen": a_listen.to_string(), "upstream": echo.to_string()},
                                {"name": "c", "upstream": other.to_string()}]})),
    );
    assert_eq!(again.status, 201);
    round_trip(&mut live, b"after");
    assert_eq!(
        api.call("GET", "/proxies", None).json().unwrap().as_object().unwrap().len(),
        3,
        "proxies not listed must stay"
    );

    // Validation happens before anything is created.
    let invalid = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": "d", "upstream": echo.to_string()}, {"upstream": echo.to_string()}])),
    );
    assert_eq!(invalid.status, 400);
    assert_eq!(
        invalid.json().unwrap(),
        json!({"error": "missing required field: name at proxy 2", "status": 400, "proxies": null})
    );
    assert!(invalid.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(api.call("GET", "/proxies/d", None).status, 404);
    assert_eq!(api.raw("POST", "/populate", "{oops", &[]).status, 400);

    // Reset removes toxics and re-enables proxies.
    api.toxic("a", json!({"type": "latency", "attributes": {"latency": HOLD_MS}}));
    assert_eq!(api.call("POST", "/proxies/a", Some(json!({"enabled": false}))).status, 200);
    let reset = api.call("POST", "/reset", None);
    assert_eq!((reset.status, reset.body.len()), (204, 0));
    let a = api.call("GET", "/proxies/a", None).json().unwrap();
    assert_eq!((a["enabled"].clone(), a["toxics"].clone()), (json!(true), json!([])));
    assert_eq!(api.call("GET", "/proxies/b", None).json().unwrap()["enabled"], true);
    // Had the latency stayed, the echo would wait two minutes.
    round_trip(&mut patient(a_listen), b"fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_check_and_browser_block() {
    let api = start_api().await;
    let port = api.address.port();
    for host in [
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let response = api.raw("GET", "/proxies", "", &[("Host", &host)]);
        assert_eq!(response.status, 200, "Host {host}");
    }
    for host in ["attacker.example", "attacker.example:8474", "127.0.0.1.nip.io"] {
        assert_error(&api.raw("GET", "/proxies", "", &[("Host", host)]), 403, "host not allowed");
    }
    let browser = api.raw(
        "GET",
        "/proxies",
        "",
        &[("Host", "localhost"), ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")],
    );
    assert_eq!((browser.status, browser.text()), (403, "User agent not allowed\n".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_and_bytes() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("m", echo);
    for _ in 0..3 {
        round_trip(&mut connect(listen), b"12345");
    }
    let held = connect(listen);
    // The proxy counts a connection once it has accepted it.
    let mut text = String::new();
    let settled = crate::util::eventually(PATIENCE, || {
        text = api.call("GET", "/metrics", None).text();
        metric(&text, "toxiproxy_proxy_connections_total") == 4
            && metric(&text, "toxiproxy_proxy_active_connections") == 1
    });
    assert!(settled, "metrics never settled:\n{text}");
    let sent = metric_with(&text, "toxiproxy_proxy_sent_bytes_total", "direction=\"upstream\"");
    assert_eq!(sent, 15);
    let received =
        metric_with(&text, "toxiproxy_proxy_received_bytes_total", "direction=\"downstream\"");
    assert_eq!(received, 15);
    drop(held);
}

fn metric(text: &str, name: &str) -> u64 {
    metric_with(text, name, "")
}

fn metric_with(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

// ------------------------------------------------------------------ toxics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_jitter_delay_each_direction() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("lat", echo);
    let mut stream = connect(listen);
    round_trip(&mut stream, b"x");

    api.toxic("lat", json!({"type": "latency", "attributes": {"latency": 100}}));
    // Milliseconds, not seconds: 100 s would outlast the patient read.
    let mut fresh = patient(listen);
    let delayed = round_trip(&mut fresh, b"ping");
    assert!(delayed >= Duration::from_millis(90), "latency 100 gave {delayed:?}");

    // Upstream latency adds to downstream latency.
    api.toxic(
        "lat",
        json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 100, "jitter": 20}}),
    );
    for _ in 0..5 {
        let both = round_trip(&mut fresh, b"pong");
        assert!(both >= Duration::from_millis(170), "two latencies gave {both:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_reach_live_connections_and_leave_them() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("live", echo);
    let mut stream = patient(listen);
    round_trip(&mut stream, b"warm");
    // A latency no round trip could be mistaken for: whatever the machine's
    // speed, a chunk it holds arrives only if the toxic is gone.
    api.toxic("live", json!({"type": "latency", "attributes": {"latency": HOLD_MS}}));
    stream.write_all(b"held").unwrap();
    // The proxy has read the echo ("warm" and "held"): the toxic holds it,
    // so the live connection got the toxic.
    wait_for_received(&api, "live", "downstream", 8);
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut back = [0u8; 4];
    let early = stream.read(&mut back).map(|count| back[..count].to_vec());
    assert!(
        matches!(&early, Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "live connection missed the toxic: {early:?}"
    );
    stream.set_read_timeout(Some(PATIENCE)).unwrap();

    // Removing the toxic releases the held chunk, and later chunks pass
    // without it: both arrive at all.
    assert_eq!(api.call("DELETE", "/proxies/live/toxics/latency_downstream", None).status, 204);
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"held");
    round_trip(&mut stream, b"fast");
}

/// Links without toxics run a read/write loop without the select loop's
/// bookkeeping; a toxic added while both directions sit idle in that loop
/// must wake them (no byte arrives to do it) and apply to the next chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_added_to_an_idle_fast_path_link_applies() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("fast", echo);

    // A timeout toxic closes an idle link by itself: only the toxic change
    // can wake it, since no data flows after it is added.
    let mut idle = connect(listen);
    for _ in 0..20 {
        round_trip(&mut idle, b"warm-up");
    }
    api.toxic(
        "fast",
        json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 200}}),
    );
    let (data, end) = read_to_end(&mut idle);
    assert!(data.is_empty(), "unexpected data {data:?}");
    assert_eq!(end, Ok(()), "the idle link never saw the toxic");
    assert_eq!(api.call("DELETE", "/proxies/fast/toxics/timeout_upstream", None).status, 204);

    // A limit on the reply applies from the next chunk on.
    let mut live = connect(listen);
    for _ in 0..20 {
        round_trip(&mut live, b"warm-up");
    }
    api.toxic(
        "fast",
        json!({"type": "limit_data", "stream": "downstream", "attributes": {"bytes": 4}}),
    );
    live.write_all(b"abcdefgh").unwrap();
    let (data, _) = read_to_end(&mut live);
    assert_eq!(data, b"abcd", "the live link forwarded past the new limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_throughput() {
    let api = start_api().await;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let sink = custom_server(move |mut stream| {
        let counter = Arc::clone(&counter);
        async move {
            let mut buffer = vec![0u8; 65536];
            while let Ok(count) = stream.read(&mut buffer).await {
                if count == 0 {
                    break;
                }
                counter.fetch_add(count as u64, Ordering::SeqCst);
            }
            let _ = stream.write_all(b"done").await;
        }
    })
    .await;
    let listen = api.proxy("bw", sink);
    // 100 KB/s upstream: 50,000 bytes need about half a second.
    api.toxic(
        "bw",
        json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 100}}),
    );
    // A rate read as bytes per second would need 500 s: past the patient
    // read.
    let mut stream = patient(listen);
    let start = Instant::now();
    stream.write_all(&vec![7u8; 50_000]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let (reply, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    assert_eq!((reply.as_slice(), end), (&b"done"[..], Ok(())));
    assert_eq!(received.load(Ordering::SeqCst), 50_000);
    assert!(elapsed >= Duration::from_millis(450), "50 KB at 100 KB/s took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close() {
    let api = start_api().await;
    // The server answers and closes at once.
    let server = custom_server(|mut stream| async move {
        let _ = stream.write_all(b"bye").await;
    })
    .await;
    let listen = api.proxy("sc", server);
    api.toxic("sc", json!({"type": "slow_close", "attributes": {"delay": 300}}));
    // The close comes at all (an end, not the read timing out), and 300 s
    // would outlast the patient read.
    let mut stream = patient(listen);
    let start = Instant::now();
    let (data, end) = read_to_end(&mut stream);
    assert_eq!((data.as_slice(), end), (&b"bye"[..], Ok(())));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(280), "closed after {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_drops_data_then_closes_or_hangs() {
    let api = start_api().await;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let sink = custom_server(move |mut stream| {
        let counter = Arc::clone(&counter);
        async move {
            let mut buffer = [0u8; 1024];
            while let Ok(count) = stream.read(&mut buffer).await {
                if count == 0 {
                    break;
                }
                counter.fetch_add(count as u64, Ordering::SeqCst);
            }
        }
    })
    .await;
    let listen = api.proxy("to", sink);
    api.toxic(
        "to",
        json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 300}}),
    );
    // The toxic closes the link (an end, not the read timing out), and 300 s
    // would outlast the patient read.
    let mut stream = patient(listen);
    let start = Instant::now();
    stream.write_all(b"lost").unwrap();
    let (data, end) = read_to_end(&mut stream);
    let elapsed = start.elapsed();
    assert!(data.is_empty());
    assert!(!timed_out(end), "the timeout toxic never closed: {end:?}");
    assert!(elapsed >= Duration::from_millis(280), "closed after {elapsed:?}");
    assert_eq!(received.load(Ordering::SeqCst), 0, "timeout let data through");

    // timeout 0: no data and no close.
    api.call(
        "PATCH",
        "/proxies/to/toxics/timeout_upstream",
        Some(json!({"attributes": {"timeout": 0}})),
    );
    let mut hung = connect(listen);
    hung.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    hung.write_all(b"void").unwrap();
    let mut buffer = [0u8; 8];
    let error = hung.read(&mut buffer).expect_err("a hung link must stay silent");
    assert!(matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
    // Removing it closes the link, since bytes were dropped: once the proxy
    // has read them ("lost" before, "void" now), the toxic has dropped them.
    wait_for_received(&api, "to", "upstream", 8);
    assert_eq!(received.load(Ordering::SeqCst), 0);
    hung.set_read_timeout(Some(PATIENCE)).unwrap();
    api.call("DELETE", "/proxies/to/toxics/timeout_upstream", None);
    let (data, end) = read_to_end(&mut hung);
    assert!(data.is_empty());
    assert!(!timed_out(end), "removing the timeout toxic left the link open: {end:?}");
}

/// Whether a read ended because its timeout passed (not with an end of
/// stream or a reset).
pub(super) fn timed_out(end: Result<(), ErrorKind>) -> bool {
    matches!(end, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_only_when_drawn() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("rp", echo);
    api.toxic(
        "rp",
        json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 100}}),
    );
    let mut stream = connect(listen);
    let start = Instant::now();
    stream.write_all(b"hello").unwrap();
    let (data, end) = read_to_end(&mut stream);
    assert!(data.is_empty());
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    assert!(start.elapsed() >= Duration::from_millis(90));

    // toxicity 0: the toxic is never drawn and closes stay clean FINs.
    // See: https://github.com/Shopify/toxiproxy/issues/603
    api.call("PATCH", "/proxies/rp/toxics/reset_peer_upstream", Some(json!({"toxicity": 0})));
    for _ in 0..5 {
        let mut stream = connect(listen);
        round_trip(&mut stream, b"fine");
        stream.shutdown(Shutdown::Write).unwrap();
        let (data, end) = read_to_end(&mut stream);
        assert_eq!((data.len(), end), (0, Ok(())));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_cuts_data_into_delayed_pieces() {
    let api = start_api().await;
    // The size of each connection's first read.
    let firsts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&firsts);
    let server = custom_server(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            let mut all = Vec::new();
            let mut buffer = [0u8; 4096];
            while let Ok(count) = stream.read(&mut buffer).await {
                if count == 0 {
                    break;
                }
                if all.is_empty() {
                    seen.lock().unwrap().push(count);
                }
                all.extend_from_slice(&buffer[..count]);
            }
            let _ = stream.write_all(&all).await;
        }
    })
    .await;
    let listen = api.proxy("sl", server);
    api.toxic(
        "sl",
        json!({"type": "slicer", "stream": "upstream",
               "attributes": {"average_size": 10, "size_variation": 2, "delay": 20000}}),
    );
    let message: Vec<u8> = (0..100u8).collect();
    let mut stream = patient(listen);
    let start = Instant::now();
    stream.write_all(&message).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let (back, end) = read_to_end(&mut stream);
    assert_eq!((back, end), (message.clone(), Ok(())));
    // At least eight slices 20 ms apart.
    assert!(start.elapsed() >= Duration::from_millis(140), "{:?}", start.elapsed());

    // Pieces, told apart by construction rather than by how fast the
    // server reads: with two minutes between slices, its first read can
    // hold the first slice only (at most 12 bytes), however late it comes.
    let delay = HOLD_MS * 1000;
    let patched = api.call(
        "PATCH",
        "/proxies/sl/toxics/slicer_upstream",
        Some(json!({"attributes": {"delay": delay}})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    let mut stream = patient(listen);
    stream.write_all(&message).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert!(crate::util::eventually(PATIENCE, || firsts.lock().unwrap().len() == 2));
    let first = firsts.lock().unwrap()[1];
    assert!((1..=12).contains(&first), "the first read held {first} of 100 bytes");
    // Removing the toxic releases the rest, in order.
    assert_eq!(api.call("DELETE", "/proxies/sl/toxics/slicer_upstream", None).status, 204);
    let (back, end) = read_to_end(&mut stream);
    assert_eq!((back, end), (message, Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_the_limit() {
    let api = start_api().await;
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let server = custom_server(move |mut stream| {
        let sink = Arc::clone(&sink);
        async move {
            let mut data = Vec::new();
            let _ = stream.read_to_end(&mut data).await;
            sink.lock().unwrap().push(data);
        }
    })
    .await;
    let listen = api.proxy("ld", server);
    api.toxic(
        "ld",
        json!({"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 10}}),
    );
    let mut stream = connect(listen);
    stream.write_all(&[1u8; 100]).unwrap();
    let (_, _) = read_to_end(&mut stream);
    let closed = crate::util::eventually(PATIENCE, || !got.lock().unwrap().is_empty());
    assert!(closed, "server never saw the close");
    assert_eq!(got.lock().unwrap()[0], vec![1u8; 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_and_unselected_toxics_pass_data() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("nt", echo);
    api.toxic("nt", json!({"type": "noop"}));
    api.toxic("nt", json!({"type": "latency", "toxicity": 0, "attributes": {"latency": HOLD_MS}}));
    let mut stream = patient(listen);
    let message = vec![42u8; 100_000];
    stream.write_all(&message).unwrap();
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
    // Drawn, the latency would hold the echo two minutes.
    round_trip(&mut stream, b"quick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_reaches_the_server_and_the_reply_comes_back() {
    let api = start_api().await;
    // Reads the whole request, then answers: needs the client's half-close.
    let server = custom_server(|mut stream| async move {
        let mut request = Vec::new();
        if stream.read_to_end(&mut request).await.is_ok() {
            let reply = format!("got {} bytes", request.len());
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    })
    .await;
    let listen = api.proxy("hc", server);
    for toxics in [false, true] {
        if toxics {
            api.toxic(
                "hc",
                json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 20}}),
            );
        }
        let mut stream = connect(listen);
        stream.write_all(&[0u8; 1234]).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let (reply, end) = read_to_end(&mut stream);
        assert_eq!(String::from_utf8_lossy(&reply), "got 1234 bytes", "toxics: {toxics}");
        assert_eq!(end, Ok(()));
    }
}

/// Large transfers take the zero-copy path; toxics added and removed in the
/// middle move the link between paths without losing or reordering a byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transfer_keeps_every_byte_across_path_switches() {
    const TOTAL: usize = 48 << 20;
    let api = start_api().await;
    // Checks the pattern byte by byte and answers with what it verified.
    let checker = custom_server(|mut stream| async move {
        let mut buffer = vec![0u8; 1 << 16];
        let mut position = 0usize;
        let mut good = true;
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => {
                    for byte in &buffer[..count] {
                        good &= *byte == (position % 251) as u8;
                        position += 1;
                    }
                }
            }
        }
        let verdict = if good { "ok" } else { "corrupt" };
        let _ = stream.write_all(format!("{verdict} {position}").as_bytes()).await;
    })
    .await;
    let listen = api.proxy("bulk", checker);
    let mut stream = connect(listen);
    let pattern: Vec<u8> = (0..TOTAL).map(|index| (index % 251) as u8).collect();
    for (index, piece) in pattern.chunks(1 << 20).enumerate() {
        match index {
            16 => {
                api.toxic(
                    "bulk",
                    json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 1}}),
                );
            }
            28 => {
                api.call("DELETE", "/proxies/bulk/toxics/latency_upstream", None);
            }
            _ => {}
        }
        stream.write_all(piece).unwrap();
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let (reply, _) = read_to_end(&mut stream);
    assert_eq!(String::from_utf8_lossy(&reply), format!("ok {TOTAL}"));
}

/// The server → client direction on the zero-copy path: after the
/// client's half-close the whole reply arrives intact and ends with a clean
/// end of stream; on a second connection a toxic added while the reply is
/// being spliced stops it short (toxics reach spliced links too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reply_after_half_close_and_a_live_toxic_on_the_splice_path() {
    const REPLY: usize = 64 << 20;
    let api = start_api().await;
    let pattern: Arc<Vec<u8>> = Arc::new((0..REPLY).map(|index| (index % 251) as u8).collect());
    let reply = Arc::clone(&pattern);
    let server = custom_server(move |mut stream| {
        let reply = Arc::clone(&reply);
        async move {
            let mut request = Vec::new();
            if stream.read_to_end(&mut request).await.is_ok() {
                let _ = stream.write_all(&reply).await;
            }
        }
    })
    .await;
    let listen = api.proxy("bulkdown", server);

    let mut stream = connect(listen);
    // Large enough for the upstream link to switch to splicing too.
    stream.write_all(&vec![7u8; 4 << 20]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let (data, end) = read_to_end(&mut stream);
    assert_eq!(end, Ok(()));
    assert_eq!(data.len(), REPLY);
    assert!(data == *pattern, "the reply was corrupted or reordered");

    let mut stream = connect(listen);
    stream.write_all(b"go").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut first = vec![0u8; 8 << 20];
    stream.read_exact(&mut first).unwrap();
    assert!(first[..] == pattern[..first.len()]);
    api.toxic(
        "bulkdown",
        json!({"type": "limit_data", "stream": "downstream", "attributes": {"bytes": 1}}),
    );
    let (rest, _) = read_to_end(&mut stream);
    // What was already in the pipe and the socket buffers still arrives;
    // the rest of the 64 MiB does not.
    assert!(
        first.len() + rest.len() < REPLY / 2,
        "{} bytes arrived after the limit_data toxic",
        rest.len()
    );
    assert!(rest[..] == pattern[first.len()..first.len() + rest.len()]);
}

// ------------------------------------------------------------ load and limits

/// Toxic edits never wait for live traffic while many connections stream
/// through toxics, and leave that traffic flowing.
/// See: https://github.com/Shopify/toxiproxy/issues/558
///
/// Told by construction, not by the clock: one connection through toxics
/// is wedged for good (its client never reads), and every round edits that
/// proxy's toxic too. An API that waited for live links to take a change
/// would never answer; one that broke the links would stop the echoes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_stays_responsive_while_toxics_change_under_load() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("load", echo);
    api.toxic("load", json!({"type": "latency", "attributes": {"latency": 5, "jitter": 2}}));
    api.toxic("load", json!({"type": "slicer", "stream": "upstream", "attributes": {"average_size": 512, "delay": 10}}));

    // The wedged connection: it sends until every buffer on the way is full
    // and never reads the echo.
    let wedged_listen = api.proxy("wedged", echo);
    api.toxic("wedged", json!({"name": "lag", "type": "latency", "attributes": {"latency": 1}}));
    let wedged = connect(wedged_listen);
    let mut sender = wedged.try_clone().expect("clone");
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'w'; 64 << 10];
        while sender.write_all(&chunk).is_ok() {}
    });
    wait_for_received(&api, "wedged", "downstream", 1);

    let stop = Arc::new(AtomicBool::new(false));
    // Stops the clients on every way out, a failed assertion included.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stop_guard = StopOnDrop(Arc::clone(&stop));
    let echoed = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for index in 0..24u8 {
        let stop = Arc::clone(&stop);
        let echoed = Arc::clone(&echoed);
        clients.push(std::thread::spawn(move || {
            let mut stream = patient(listen);
            let message = vec![index; 16 * 1024];
            let mut back = vec![0u8; message.len()];
            while !stop.load(Ordering::Relaxed) {
                stream.write_all(&message).unwrap();
                stream.read_exact(&mut back).unwrap();
                assert_eq!(back, message, "data corrupted under toxic changes");
                echoed.fetch_add(message.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    let flowing =
        |after: u64| crate::util::eventually(PATIENCE, || echoed.load(Ordering::Relaxed) > after);
    assert!(flowing(0), "no traffic flowed");
    // Waits as long as it takes, so only an API that never answers fails.
    let client = ApiClient::new(&api.url()).expect("url").with_timeout(PATIENCE);
    for round in 0..40 {
        let name = format!("extra{round}");
        let calls = [
            (
                "POST",
                "/proxies/load/toxics".to_string(),
                Some(
                    json!({"name": name, "type": "latency", "attributes": {"latency": round % 7}}),
                ),
            ),
            (
                "PATCH",
                format!("/proxies/load/toxics/{name}"),
                Some(json!({"attributes": {"latency": 1}})),
            ),
            (
                "PATCH",
                "/proxies/load/toxics/latency_downstream".to_string(),
                Some(json!({"attributes": {"latency": round % 5}})),
            ),
            ("DELETE", format!("/proxies/load/toxics/{name}"), None),
            (
                "PATCH",
                "/proxies/wedged/toxics/lag".to_string(),
                Some(json!({"attributes": {"latency": 1 + round % 3}})),
            ),
            ("GET", "/proxies/load".to_string(), None),
        ];
        for (method, path, body) in calls {
            let response = client
                .request(method, &path, body.as_ref(), &[])
                .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
            assert!(response.status < 300, "{method} {path}: {}", response.text());
        }
    }
    // After every edit, the connections still echo.
    assert!(flowing(echoed.load(Ordering::Relaxed)), "traffic stopped after the toxic edits");
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    // A shutdown wakes the sender blocked in its write.
    wedged.shutdown(Shutdown::Both).expect("shutdown");
    flood.join().expect("flood thread");
}

/// Raises this process's soft open-file limit to the hard limit (children
/// inherit it) and returns it.
fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    let _ =
        setrlimit(Resource::Nofile, Rlimit { current: current.maximum, maximum: current.maximum });
    getrlimit(Resource::Nofile).current.unwrap_or(1024)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count())
}

/// Starts `porthole proxy serve` on a free port; returns the child and the
/// API URL it printed.
fn spawn_server(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(BINARY)
        .args(["proxy", "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn porthole proxy serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).expect("startup line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test by itself: the echo server process of
/// `ten_thousand_concurrent_connections_leak_no_fds`, so that the echo ends
/// of the connections do not count against this process's fd limit. It
/// prints its address and runs until its stdin closes.
#[test]
#[ignore = "echo server process, started by ten_thousand_concurrent_connections_leak_no_fds"]
fn echo_server_process() {
    if std::env::var_os("PORTHOLE_TEST_ECHO_PROCESS").is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let address = echo_server().await;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "ECHO {address}");
        let _ = stdout.flush();
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read(&mut [0u8; 1])).await;
    });
}

fn spawn_echo_process() -> (KillOnDrop, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["proxy::echo_server_process", "--exact", "--ignored", "--nocapture"])
        .env("PORTHOLE_TEST_ECHO_PROCESS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn echo process");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("echo process ended early").expect("read echo process");
        if let Some(address) = line.strip_prefix("ECHO ") {
            break address.parse().expect("echo address");
        }
    };
    (KillOnDrop(child), address)
}

/// The proxy holds two descriptors per connection, so 10,000 connections
/// need an fd limit above 20,000 in its process. Where the hard limit is
/// lower (20,000 on the CI machines, without CAP_SYS_RESOURCE) the test uses
/// as many connections as the limit allows, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_connections_leak_no_fds() {
    const WANTED: usize = 10_000;
    let limit = raise_fd_limit();
    let connections = WANTED.min((limit as usize).saturating_sub(100) / 2);
    assert!(connections >= 1000, "fd limit {limit} too low for this test");
    if connections < WANTED {
        let _ = writeln!(
            std::io::stderr(),
            "fd hard limit {limit}: testing {connections} concurrent connections, not {WANTED}"
        );
    }
    let (_echo_process, echo) = spawn_echo_process();
    let (child, url) = spawn_server(&[]);
    let child = KillOnDrop(child);
    let pid = child.0.id();
    let client = ApiClient::new(&url).expect("url");
    let created = client.create("many", "127.0.0.1:0", &echo.to_string()).expect("create");
    let listen: SocketAddr = created.listen.parse().unwrap();
    let baseline = fd_count(pid);

    let test = async {
        // Open every connection (at most 256 handshakes in flight), keep them
        // all open, then echo one byte on each.
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::with_capacity(connections);
        for _ in 0..connections {
            let gate = Arc::clone(&gate);
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("semaphore");
                let stream = tokio::net::TcpStream::connect(listen).await.expect("connect");
                drop(permit);
                stream
            }));
        }
        let mut streams = Vec::with_capacity(connections);
        for task in tasks {
            streams.push(task.await.expect("connect task"));
        }
        let mut active = 0;
        for _ in 0..200 {
            let text = client.request("GET", "/metrics", None, &[]).expect("metrics").text();
            active = metric(&text, "toxiproxy_proxy_active_connections");
            if active as usize == connections {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(active as usize, connections, "proxy does not see every connection");
        let mut echoes = Vec::with_capacity(connections);
        for mut stream in streams {
            echoes.push(tokio::spawn(async move {
                stream.write_all(b"!").await.expect("write");
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("echo");
                assert_eq!(&byte, b"!");
            }));
        }
        for echo in echoes {
            echo.await.expect("echo task");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("10k connections took over two minutes");

    // Every client end is closed now; the proxy must release both fds of
    // every connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = client.request("GET", "/metrics", None, &[]).expect("metrics").text();
        let active = metric(&text, "toxiproxy_proxy_active_connections");
        let total = metric(&text, "toxiproxy_proxy_connections_total");
        let fds = fd_count(pid);
        if active == 0 && fds <= baseline {
            // At least every connection of this test: the proxy's port is
            // an ephemeral one on shared loopback, and a test running
            // alongside that probes free ports may connect to it too.
            assert!(
                total as usize >= connections,
                "{total} connections counted, {connections} made"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leak: {active} active connections, {fds} fds vs {baseline} before"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------- CLI

fn porthole(args: &[&str], url: &str) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .args(args)
        .env("TOXIPROXY_URL", url)
        .env_remove("RUST_LOG")
        .env_remove("PORTHOLE_PROXY_TOKEN")
        .output()
        .expect("run porthole");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drives_the_api() {
    let api = start_api().await;
    let echo = echo_server().await;
    let url = api.url();
    let upstream = echo.to_string();

    let (code, out, err) = porthole(&["proxy", "create", "web", "--upstream", &upstream], &url);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Created proxy web listening on 127.0.0.1:"), "{out}");

    let (code, out, _) = porthole(
        &[
            "proxy",
            "toxic",
            "add",
            "web",
            "-t",
            "latency",
            "-a",
            "latency=120",
            "-a",
            "jitter=0",
            "--toxicity",
            "1",
        ],
        &url,
    );
    assert_eq!(code, 0);
    assert!(out.contains("latency toxic latency_downstream on web"), "{out}");
    let listen: SocketAddr = api.call("GET", "/proxies/web", None).json().unwrap()["listen"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(round_trip(&mut connect(listen), b"cli") >= Duration::from_millis(110));

    let (code, out, _) = porthole(
        &["proxy", "toxic", "update", "web", "-n", "latency_downstream", "-a", "latency=5"],
        &url,
    );
    assert_eq!(code, 0);
    assert!(out.contains("latency=5"), "{out}");

    let (code, out, _) = porthole(&["proxy", "list"], &url);
    assert_eq!(code, 0);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.contains(&format!("web   {listen}  {upstream}  yes      latency_downstream")),
        "{out}"
    );

    let (code, out, _) = porthole(&["proxy", "inspect", "web", "--json"], &url);
    assert_eq!(code, 0);
    let parsed: Value = serde_json::from_str(&out).expect("inspect --json");
    assert_eq!(parsed["toxics"][0]["attributes"]["latency"], 5);

    let (code, out, _) = porthole(&["proxy", "toggle", "web"], &url);
    assert_eq!(code, 0);
    assert!(out.starts_with("Disabled proxy web"), "{out}");
    assert!(refused(listen));
    let (code, out, _) = porthole(&["proxy", "toggle", "web"], &url);
    assert_eq!(code, 0);
    assert!(out.starts_with("Enabled proxy web"), "{out}");

    let (code, _, _) =
        porthole(&["proxy", "toxic", "remove", "web", "-n", "latency_downstream"], &url);
    assert_eq!(code, 0);
    let (code, _, err) =
        porthole(&["proxy", "toxic", "remove", "web", "-n", "latency_downstream"], &url);
    assert_eq!(
        (code, err.as_str()),
        (1, "porthole: proxy web, toxic latency_downstream: toxic not found\n")
    );
    let (code, _, err) = porthole(&["proxy", "inspect", "nope"], &url);
    assert_eq!((code, err.as_str()), (1, "porthole: proxy nope: proxy not found\n"));
    let (code, _, err) = porthole(&["proxy", "toxic", "add", "web", "-t", "gremlin"], &url);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "porthole: unknown toxic type \"gremlin\" (valid types: latency, bandwidth, slow_close, \
         timeout, reset_peer, slicer, limit_data, noop)\n"
    );
    // A misspelt attribute would silently be 0 on the server: refused here.
    let (code, _, err) =
        porthole(&["proxy", "toxic", "add", "web", "-t", "latency", "-a", "latncy=100"], &url);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "porthole: toxic type latency has no attribute \"latncy\" (valid attributes: latency, \
         jitter)\n"
    );
    let (code, _, _) = porthole(&["proxy", "toxic", "add", "web", "-t", "latency"], &url);
    assert_eq!(code, 0);
    let (code, _, err) = porthole(
        &["proxy", "toxic", "update", "web", "-n", "latency_downstream", "-a", "jiter=1"],
        &url,
    );
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "porthole: toxic type latency has no attribute \"jiter\" (valid attributes: latency, \
         jitter)\n"
    );
    let (code, _, err) =
        porthole(&["proxy", "toxic", "add", "web", "-t", "latency", "-a", "latency=-5"], &url);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "porthole: invalid attribute latency: -5 (allowed: 0 to 2147483647 ms) (HTTP 400)\n"
    );
    let (code, _, err) =
        porthole(&["proxy", "toxic", "add", "web", "-t", "latency", "-a", "latency=soon"], &url);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, _) = porthole(&["proxy", "delete", "web"], &url);
    assert_eq!(code, 0);
    assert!(refused(listen));

    // No server there: exit 2 with one line that says what to do.
    let (code, _, err) = porthole(&["proxy", "list", "--url", "http://127.0.0.1:1"], &url);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "porthole: cannot reach the proxy API at 127.0.0.1:1: connection refused; start it with \
         `porthole proxy serve --listen 127.0.0.1:1`\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loads_proxies_and_toxics_from_config() {
    let echo = echo_server().await;
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("proxies.json");
    std::fs::write(
        &path,
        json!([{"name": "cfg", "upstream": echo.to_string(),
                "toxics": [{"type": "latency", "attributes": {"latency": 100}}]}])
        .to_string(),
    )
    .unwrap();
    let (child, url) = spawn_server(&["--config", path.to_str().unwrap()]);
    let _child = KillOnDrop(child);
    let client = ApiClient::new(&url).unwrap();
    let proxy = client.get("cfg").expect("proxy from config");
    assert_eq!(proxy.toxics.len(), 1);
    let listen: SocketAddr = proxy.listen.parse().unwrap();
    assert!(round_trip(&mut connect(listen), b"config") >= Duration::from_millis(90));

    // A broken config is an error: exit 2, one line.
    std::fs::write(&path, r#"[{"name": "x"}]"#).unwrap();
    let output = Command::new(BINARY)
        .args(["proxy", "serve", "--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("missing required field: upstream at proxy 1"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// A `porthole proxy run` process, its stderr read line by line.
struct OneShot {
    child: Child,
    stderr: BufReader<std::process::ChildStderr>,
}

impl OneShot {
    /// Starts `porthole proxy run ARGS…`.
    fn start(args: &[&str]) -> Self {
        let mut command = Command::new(BINARY);
        command.args(["proxy", "run"]).args(args);
        OneShot::spawn(command)
    }

    /// Starts `command`, a `porthole proxy run …` built by the caller (in a
    /// network namespace, say).
    fn spawn(mut command: Command) -> Self {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn proxy run");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        OneShot { child, stderr }
    }

    /// The next line on stderr, with its newline.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).expect("read stderr");
        line
    }

    /// Where `porthole: proxying 127.0.0.1:PORT → …` says it listens.
    fn listen(line: &str) -> SocketAddr {
        line.split_whitespace()
            .nth(2)
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {line:?}"))
    }

    /// Ctrl-C: its exit code, stdout (the summary) and the rest of stderr.
    fn interrupt(mut self) -> (Option<i32>, String, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
        let output = self.child.wait_with_output().expect("proxy run ends");
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read stderr");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned(), rest)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_run_applies_flags_and_reports_on_interrupt() {
    let echo = echo_server().await;
    let echo = echo.to_string();
    let mut one_shot =
        OneShot::start(&["127.0.0.1:0", "--to", &echo, "--latency", "60ms", "--jitter", "5ms"]);
    let line = one_shot.line();
    let listen = OneShot::listen(&line);
    assert!(line.contains("latency"), "{line}");
    let mut stream = connect(listen);
    let rtt = round_trip(&mut stream, b"0123456789");
    assert!(rtt >= Duration::from_millis(50), "{rtt:?}");
    drop(stream);
    std::thread::sleep(Duration::from_millis(100));
    let (code, out, _) = one_shot.interrupt();
    assert_eq!(code, Some(0));
    assert!(out.starts_with("1 connection in "), "{out}");
    assert!(out.contains(", 0 closed by it first)"), "the client closed first: {out}");
    assert!(out.contains("client → server: 10 bytes received, 10 bytes sent"), "{out}");
    assert!(out.contains("server → client: 10 bytes received, 10 bytes sent"), "{out}");

    let bad = Command::new(BINARY)
        .args(["proxy", "run", "127.0.0.1:0", "--to", &echo.to_string(), "--latency", "soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(bad.stderr.iter().filter(|&&b| b == b'\n').count(), 1);
}

// ------------------------------------------------ wire format, byte for byte
// See: https://github.com/Shopify/toxiproxy/blob/main/api.go (the bytes below
// are what its handlers, Go's `http.Error` and gorilla/mux write).

/// A response split for exact comparison: the status line, the header
/// lines sorted (with `Date` and the request id masked, after checking the
/// id's form), and the body bytes.
#[derive(Debug, PartialEq)]
struct Wire {
    status: String,
    headers: Vec<String>,
    body: String,
}

const XID_ALPHABET: &str = "0123456789abcdefghijklmnopqrstuv";

/// Sends `request` byte for byte and reads the whole answer. `Connection`
/// is left out of the comparison (both servers answer `close` to a
/// request that asks for it), and so is `X-Porthole-Version`, checked here.
fn wire(address: SocketAddr, request: &str) -> (Wire, Option<String>) {
    let mut stream = TcpStream::connect(address).expect("connect API");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("end of headers");
    let mut lines = head.split("\r\n");
    let status = lines.next().expect("status line").to_string();
    let mut request_id = None;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(": ").expect("header line");
        match name {
            "Connection" => {}
            "X-Porthole-Version" => assert_eq!(value, env!("CARGO_PKG_VERSION")),
            "Date" => headers.push("Date: [DATE]".to_string()),
            "X-Toxiproxy-Request-Id" => {
                assert_eq!(value.len(), 20, "{value}");
                assert!(value.chars().all(|c| XID_ALPHABET.contains(c)), "{value}");
                request_id = Some(value.to_string());
                headers.push("X-Toxiproxy-Request-Id: [XID]".to_string());
            }
            _ => headers.push(line.to_string()),
        }
    }
    headers.sort();
    (Wire { status, headers, body: body.to_string() }, request_id)
}

/// `METHOD PATH` with `Host: localhost`, `Connection: close` and `body`.
fn request(method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// What Toxiproxy sends: `status`, its headers (plus `Content-Length`,
/// `Date` and, for routed requests, the request id), and `body`.
fn expected(status: &str, headers: &[&str], body: &str, routed: bool) -> Wire {
    let mut all: Vec<String> = headers.iter().map(ToString::to_string).collect();
    all.push(format!("Content-Length: {}", body.len()));
    all.push("Date: [DATE]".to_string());
    if routed {
        all.push("X-Toxiproxy-Request-Id: [XID]".to_string());
    }
    all.sort();
    Wire { status: format!("HTTP/1.1 {status}"), headers: all, body: body.to_string() }
}

const JSON_TYPE: &str = "Content-Type: application/json";
const ERROR_TYPE: &str = "Content-Type: text/plain; charset=utf-8";
const NOSNIFF: &str = "X-Content-Type-Options: nosniff";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_byte_identical_to_toxiproxy() {
    let api = start_api().await;
    let echo = echo_server().await;
    let at = api.address;
    let check = |request: String, want: Wire| -> Option<String> {
        let (got, id) = tokio::task::block_in_place(|| wire(at, &request));
        assert_eq!(got, want, "request: {request}");
        id
    };

    // GET /version: Toxiproxy's literal, porthole's version in a header.
    let first = check(
        request("GET", "/version", ""),
        expected(
            "200 OK",
            &["Content-Type: application/json;charset=utf-8"],
            "{\"version\": \"2.12.0\"}\n",
            true,
        ),
    );
    let second =
        check(request("GET", "/proxies", ""), expected("200 OK", &[JSON_TYPE], "{}", true));
    assert_ne!(first, second, "request ids repeat");

    // json.Marshal: Go's field order, `Logger`, HTML-safe escapes, no newline.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("address").port()
    };
    let body = format!(r#"{{"name":"a<b","listen":"127.0.0.1:{port}","upstream":"{echo}"}}"#);
    check(
        request("POST", "/proxies", &body),
        expected(
            "201 Created",
            &[JSON_TYPE],
            &format!(
                r#"{{"name":"a\u003cb","listen":"127.0.0.1:{port}","upstream":"{echo}","enabled":true,"Logger":{{}},"toxics":[]}}"#
            ),
            true,
        ),
    );
    check(
        request(
            "POST",
            "/proxies/a%3Cb/toxics",
            r#"{"type":"slicer","attributes":{"average_size":64}}"#,
        ),
        expected(
            "200 OK",
            &[JSON_TYPE],
            r#"{"attributes":{"average_size":64,"size_variation":0,"delay":0},"name":"slicer_downstream","type":"slicer","stream":"downstream","toxicity":1}"#,
            true,
        ),
    );
    check(
        request("DELETE", "/proxies/a%3Cb/toxics/slicer_downstream", ""),
        Wire {
            status: "HTTP/1.1 204 No Content".to_string(),
            headers: vec!["Date: [DATE]".to_string(), "X-Toxiproxy-Request-Id: [XID]".to_string()],
            body: String::new(),
        },
    );

    // apiError → http.Error: text/plain, nosniff, newline.
    check(
        request("GET", "/proxies/nope", ""),
        expected(
            "404 Not Found",
            &[ERROR_TYPE, NOSNIFF],
            "{\"error\":\"proxy not found\",\"status\":404}\n",
            true,
        ),
    );
    // A taken port is named by its resolved address, as Go's net.Listen does.
    let taken_port = taken.local_addr().expect("address").port();
    check(
        request(
            "POST",
            "/proxies",
            &format!(r#"{{"name":"clash","listen":"localhost:{taken_port}","upstream":"{echo}"}}"#),
        ),
        expected(
            "500 Internal Server Error",
            &[ERROR_TYPE, NOSNIFF],
            &format!(
                "{{\"error\":\"listen tcp 127.0.0.1:{taken_port}: bind: address already in use\",\"status\":500}}\n"
            ),
            true,
        ),
    );
    // /populate writes its own JSON: application/json, no nosniff, no newline;
    // an empty slice of proxies is Go's `null`.
    check(
        request("POST", "/populate", r#"[{"name":"x"}]"#),
        expected(
            "400 Bad Request",
            &[JSON_TYPE],
            r#"{"error":"missing required field: upstream at proxy 1","status":400,"proxies":null}"#,
            true,
        ),
    );
    check(
        request("POST", "/populate", "[]"),
        expected("201 Created", &[JSON_TYPE], r#"{"proxies":null}"#, true),
    );
    // The browser block runs after the request-id middleware.
    check(
        "GET /proxies HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n"
            .to_string(),
        expected("403 Forbidden", &[ERROR_TYPE, NOSNIFF], "User agent not allowed\n", true),
    );
    // gorilla/mux's own 404 and 405 run no middleware: no request id.
    check(
        request("GET", "/nothing/here", ""),
        expected("404 Not Found", &[ERROR_TYPE, NOSNIFF], "404 page not found\n", false),
    );
    check(request("PUT", "/proxies", ""), expected("405 Method Not Allowed", &[], "", false));
    drop(taken);
}

/// A body is read as Go's `json.Decoder` reads it for Toxiproxy: the first
/// JSON value and nothing after it, so a stray byte or a second object
/// after the body is served, not refused with 400. `toxicity` `1` and
/// `1.0` are the same float32, written `1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_up_to_their_first_value_as_toxiproxy_reads_them() {
    let api = start_api().await;
    let echo = echo_server().await;
    let at = api.address;
    let send = |request: String| tokio::task::block_in_place(|| wire(at, &request)).0;
    let current = |path: &str| api.call("GET", path, None).text();

    let body = format!(
        "{{\"name\":\"tail\",\"upstream\":\"{echo}\",\"listen\":\"127.0.0.1:0\"}} and more"
    );
    let created = send(request("POST", "/proxies", &body));
    assert_eq!(created, expected("201 Created", &[JSON_TYPE], &current("/proxies/tail"), true));

    let toxic = r#"{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#;
    let added = send(request(
        "POST",
        "/proxies/tail/toxics",
        "{\"type\":\"latency\",\"toxicity\":1.0,\"attributes\":{\"latency\":5}}\n{\"type\":\"x\"}",
    ));
    assert_eq!(added, expected("200 OK", &[JSON_TYPE], toxic, true));
    for method in ["PATCH", "POST"] {
        let updated =
            send(request(method, "/proxies/tail/toxics/latency_downstream", "{\"toxicity\":1}]"));
        assert_eq!(updated, expected("200 OK", &[JSON_TYPE], toxic, true), "{method}");
    }

    let disabled = send(request("PATCH", "/proxies/tail", "{\"enabled\":false}}"));
    let proxy = current("/proxies/tail");
    assert!(proxy.contains("\"enabled\":false"), "{proxy}");
    assert_eq!(disabled, expected("200 OK", &[JSON_TYPE], &proxy, true));

    let listen = api.call("GET", "/proxies/tail", None).json().unwrap()["listen"].clone();
    let list = format!("[{{\"name\":\"tail\",\"upstream\":\"{echo}\",\"listen\":{listen}}}],[]");
    let populated = send(request("POST", "/populate", &list));
    let proxy = current("/proxies/tail");
    assert!(proxy.contains("\"enabled\":true"), "{proxy}");
    let proxies = format!("{{\"proxies\":[{proxy}]}}");
    assert_eq!(populated, expected("201 Created", &[JSON_TYPE], &proxies, true));

    // What comes before the end of the first value is still read, and
    // refused in the words of Go's scanner, byte for byte.
    let refused = |body: &str, message: &str| {
        let error = format!("{{\"error\":\"bad request body: {message}\",\"status\":400}}\n");
        let got = send(request("POST", "/proxies/tail/toxics", body));
        assert_eq!(
            got,
            expected("400 Bad Request", &[ERROR_TYPE, NOSNIFF], &error, true),
            "{body}"
        );
    };
    refused("nope", "invalid character 'o' in literal null (expecting 'u')");
    refused("x{\"type\":\"noop\"}", "invalid character 'x' looking for beginning of value");
    refused(
        "{\"type\":\"noop\",}",
        "invalid character '}' looking for beginning of object key string",
    );
    refused("{\"toxicity\":1.}", "invalid character '}' after decimal point in numeric literal");
    refused("{\"type\":\"noop\"", "unexpected EOF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_edge_cases_are_refused() {
    let api = start_api().await;
    let at = api.address;
    let send = |request: String| tokio::task::block_in_place(|| wire(at, &request).0);
    // Go's server-level answers, before any handler.
    let missing = send("GET /proxies HTTP/1.1\r\nConnection: close\r\n\r\n".to_string());
    assert_eq!(
        (missing.status.as_str(), missing.body.as_str()),
        ("HTTP/1.1 400 Bad Request", "400 Bad Request: missing required Host header")
    );
    let twice = send(
        "GET /proxies HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
            .to_string(),
    );
    assert_eq!(
        (twice.status.as_str(), twice.body.as_str()),
        ("HTTP/1.1 400 Bad Request", "400 Bad Request: too many Host headers")
    );
    // HTTP/1.0 may leave Host out.
    let old = send("GET /proxies HTTP/1.0\r\n\r\n".to_string());
    assert_eq!(old.status, "HTTP/1.0 200 OK", "{old:?}");
    let refused = "{\"error\":\"host not allowed\",\"status\":403}\n";
    for host in
        ["[::1].evil.example", "[::1]@evil.example", "localhost@evil.example", "[::1]:1.evil"]
    {
        let answer =
            send(format!("GET /proxies HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
        assert_eq!(
            (answer.status.as_str(), answer.body.as_str()),
            ("HTTP/1.1 403 Forbidden", refused),
            "{host}"
        );
    }
    // An absolute-form target names the host the client meant.
    let absolute = send(
        "GET http://evil.example/proxies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            .to_string(),
    );
    assert_eq!(
        (absolute.status.as_str(), absolute.body.as_str()),
        ("HTTP/1.1 403 Forbidden", refused)
    );
    let fine = send(format!(
        "GET http://localhost:{}/proxies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        at.port()
    ));
    assert_eq!(fine.status, "HTTP/1.1 200 OK");
}

// ------------------------------------------- resource limits, exhausted
// Each test below runs a limit out and then shows the server recovering.

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    probe.local_addr().expect("address").port()
}

/// A proxy whose upstream is its own listener would turn one client into
/// an endless chain of connections (one became 12,000 descriptors in 2 s):
/// refused with 400 in the API, by the CLI, by `proxy run` and in
/// `--config`, and the server goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_would_dial_itself_is_refused_everywhere() {
    let api = start_api().await;
    let echo = echo_server().await;
    let port = free_port();
    let itself = format!("127.0.0.1:{port}");
    let message = |listen: &str, upstream: &str| {
        format!(
            "listen address {listen} is the upstream {upstream}: the proxy would connect to itself"
        )
    };
    assert_error(
        &api.call(
            "POST",
            "/proxies",
            Some(json!({"name": "a", "listen": itself, "upstream": itself})),
        ),
        400,
        &message(&itself, &itself),
    );
    // A name that resolves to the listen address loops just the same.
    let by_name = format!("localhost:{port}");
    assert_error(
        &api.call(
            "POST",
            "/proxies",
            Some(json!({"name": "b", "listen": itself, "upstream": by_name})),
        ),
        400,
        &message(&itself, &by_name),
    );
    let everywhere = format!("0.0.0.0:{port}");
    assert_error(
        &api.call(
            "POST",
            "/proxies",
            Some(json!({"name": "c", "listen": everywhere, "upstream": itself})),
        ),
        400,
        &message(&everywhere, &itself),
    );
    // An update is refused before the running proxy is touched.
    let listen = api.proxy("ok", echo);
    assert_error(
        &api.call("PATCH", "/proxies/ok", Some(json!({"upstream": listen.to_string()}))),
        400,
        &message(&listen.to_string(), &listen.to_string()),
    );
    let kept = api.call("GET", "/proxies/ok", None).json().unwrap();
    assert_eq!(
        (kept["upstream"].as_str(), kept["enabled"].as_bool()),
        (Some(echo.to_string().as_str()), Some(true))
    );
    tokio::task::block_in_place(|| round_trip(&mut connect(listen), b"still here"));
    // /populate validates every entry before it changes anything.
    let populate = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": "fine", "upstream": echo.to_string()},
                    {"name": "loop", "listen": itself, "upstream": itself}])),
    );
    assert_eq!(populate.status, 400, "{}", populate.text());
    assert_eq!(populate.json().unwrap()["error"], message(&itself, &itself));
    assert_eq!(api.call("GET", "/proxies", None).json().unwrap().as_object().unwrap().len(), 1);

    // The CLI shows the API's refusal.
    let (code, _, err) =
        porthole(&["proxy", "create", "cli", "-l", &itself, "-u", &itself], &api.url());
    assert_eq!((code, err), (2, format!("porthole: {} (HTTP 400)\n", message(&itself, &itself))));
    // `proxy run` and `--config` refuse it before serving.
    let output =
        Command::new(BINARY).args(["proxy", "run", &itself, "--to", &itself]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("porthole: {}\n", message(&itself, &itself))
    );
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("loop.json");
    std::fs::write(&path, json!([{"name": "l", "listen": itself, "upstream": itself}]).to_string())
        .unwrap();
    let output = Command::new(BINARY)
        .args(["proxy", "serve", "--listen", "127.0.0.1:0", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains(&message(&itself, &itself)), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Reads one HTTP response (headers and a `Content-Length` body) from a
/// kept-alive connection.
fn read_response(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("response headers"), 1, "closed mid-response");
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .map_or(0, |value| value.trim().parse().expect("length"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("body");
    head + &String::from_utf8_lossy(&body)
}

/// Whether the server closed `stream` (EOF or reset) within `limit`.
fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("timeout");
    match stream.read(&mut [0u8; 64]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() == ErrorKind::ConnectionReset,
    }
}

/// Idle and slow API clients are closed; when every allowed connection is
/// busy a newcomer gets a clean 503; once they finish the API serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_connections_time_out_and_are_capped() {
    use porthole::proxy::ApiLimits;
    let quick = Duration::from_millis(300);
    let mut state = ApiState::new(Arc::new(Registry::new()));
    state.limits = ApiLimits { idle_timeout: quick, header_timeout: quick, max_connections: 64 };
    let timeouts = start_api_with(state).await;
    let mut state = ApiState::new(Arc::new(Registry::new()));
    state.limits = ApiLimits {
        idle_timeout: Duration::from_secs(60),
        header_timeout: Duration::from_secs(60),
        max_connections: 4,
    };
    let capped = start_api_with(state).await;
    tokio::task::block_in_place(|| {
        // Connected, never sends a request: closed by the header timeout.
        let mut silent = TcpStream::connect(timeouts.address).expect("connect");
        assert!(closed_by_server(&mut silent, Duration::from_secs(10)), "silent client kept");
        // Half a request line, then nothing.
        let mut slow = TcpStream::connect(timeouts.address).expect("connect");
        slow.write_all(b"GET /version HT").expect("send");
        assert!(closed_by_server(&mut slow, Duration::from_secs(10)), "slow client kept");
        // One request on a kept-alive connection, then idle: closed.
        let mut idle = TcpStream::connect(timeouts.address).expect("connect");
        idle.write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
        assert!(read_response(&mut idle).starts_with("HTTP/1.1 200 OK"));
        assert!(closed_by_server(&mut idle, Duration::from_secs(10)), "idle client kept");

        // Four idle connections fill the cap; a fifth client is served and
        // the idlest of them is closed to make room.
        let mut idlers: Vec<TcpStream> =
            (0..4).map(|_| TcpStream::connect(capped.address).expect("connect")).collect();
        std::thread::sleep(Duration::from_millis(200));
        let version = capped.client.version().expect("served despite four idle connections");
        assert_eq!(version, "2.12.0");
        let evicted = idlers
            .iter_mut()
            .filter_map(|stream| closed_by_server(stream, Duration::from_millis(500)).then_some(()))
            .count();
        assert!(evicted >= 1, "no idle connection made room");
        drop(idlers);

        // Four requests in flight (their bodies still coming) fill the cap:
        // a fifth client is refused with a complete 503, not left hanging.
        let mut busy: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut stream = TcpStream::connect(capped.address).expect("connect");
                stream
                    .write_all(
                        b"POST /proxies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{",
                    )
                    .expect("send");
                stream
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let (refused, _) = wire(capped.address, &request("GET", "/version", ""));
        assert_eq!(refused.status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(refused.body, "{\"error\":\"too many API connections\",\"status\":503}\n");
        // They finish; the API serves again.
        for stream in &mut busy {
            stream.write_all(b"}").expect("rest of the body");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let answer = read_response(stream);
            assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
        }
        drop(busy);
        assert_eq!(capped.client.version().expect("served again"), "2.12.0");
    });
}

/// A request whose body never completes (a `Content-Length` longer than
/// what is sent, a chunked body with no last chunk, `Expect: 100-continue`
/// never followed by the body) is answered 400 and closed once the header
/// timeout passes, as Go's `ReadTimeout` covers the body: before, such a
/// request counted as busy for ever, so a few of them filled the connection
/// cap and every other client got 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requests_with_bodies_that_never_end_are_closed() {
    use porthole::proxy::ApiLimits;
    let mut state = ApiState::new(Arc::new(Registry::new()));
    state.limits = ApiLimits {
        idle_timeout: Duration::from_secs(60),
        header_timeout: Duration::from_millis(300),
        max_connections: 3,
    };
    let api = start_api_with(state).await;
    tokio::task::block_in_place(|| {
        let unfinished = [
            "POST /proxies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"name\"",
            "POST /proxies HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n",
            "POST /populate HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        ];
        let mut streams: Vec<TcpStream> = unfinished
            .iter()
            .map(|request| {
                let mut stream = TcpStream::connect(api.address).expect("connect");
                stream.write_all(request.as_bytes()).expect("send");
                stream
            })
            .collect();
        for (stream, request) in streams.iter_mut().zip(unfinished) {
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut answer = read_response(stream);
            if answer.starts_with("HTTP/1.1 100 Continue") {
                answer = read_response(stream);
            }
            assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{request:?}: {answer}");
            assert!(
                answer.ends_with(
                    "{\"error\":\"bad request body: i/o timeout: the body did not arrive within 300ms\",\"status\":400}\n"
                ),
                "{request:?}: {answer}"
            );
            assert!(closed_by_server(stream, Duration::from_secs(10)), "{request:?}: kept open");
        }
        // The cap is free again: others are served.
        assert_eq!(api.client.version().expect("served"), "2.12.0");
    });
}

/// A body whose `Content-Length` is over the 1 MiB limit is refused with
/// 400 at once and the connection closed; it used to wait for the bytes it
/// would refuse, holding the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bodies_over_the_limit_are_refused() {
    let api = start_api().await;
    tokio::task::block_in_place(|| {
        let expected = "{\"error\":\"bad request body: length limit exceeded\",\"status\":400}\n";
        let mut declared = TcpStream::connect(api.address).expect("connect");
        declared
            .write_all(
                b"POST /proxies HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000000\r\n\r\n{",
            )
            .expect("send");
        declared.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let answer = read_response(&mut declared);
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
        assert!(answer.ends_with(expected), "{answer}");
        assert!(closed_by_server(&mut declared, Duration::from_secs(10)), "kept open");

        assert_eq!(api.client.version().expect("served"), "2.12.0");
    });
}

/// Under a low `RLIMIT_NOFILE`, clients beyond what the proxy can serve
/// are closed at once instead of waiting in the backlog, the API keeps a
/// reserve of descriptors and answers even with a crowd of idle API
/// connections, and everything works again when the load goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_descriptor_limit_keeps_api_and_proxies_answering() {
    let echo = echo_server().await;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 64 && exec {BINARY} proxy serve --listen 127.0.0.1:0 --max-api-connections 8"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server under ulimit");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).expect("startup line");
    let pid = child.id();
    let _child = KillOnDrop(child);
    let url =
        line.split_whitespace().find(|word| word.starts_with("http://")).expect("URL").to_string();
    let client = ApiClient::new(&url).unwrap();
    let listen: SocketAddr =
        client.create("crowded", "127.0.0.1:0", &echo.to_string()).unwrap().listen.parse().unwrap();

    tokio::task::block_in_place(|| {
        let idle_fds = fd_count(pid);
        // 60 clients: more than 64 descriptors can serve at two each.
        let mut served = Vec::new();
        let mut closed = 0;
        for _ in 0..60 {
            let mut stream = connect(listen);
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            stream.write_all(b"x").expect("send");
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(1) => served.push(stream),
                Ok(_) => closed += 1,
                Err(error) if error.kind() == ErrorKind::ConnectionReset => closed += 1,
                Err(error) => panic!("client left hanging: {error}"),
            }
        }
        assert!(!served.is_empty() && closed > 0, "served {} closed {closed}", served.len());
        // The API still answers, also past a crowd of idle API connections.
        let crowd: Vec<TcpStream> = (0..40)
            .map(|_| TcpStream::connect(url.trim_start_matches("http://")).expect("connect"))
            .collect();
        let proxies = client.list().expect("API answers at the limit");
        assert!(proxies.contains_key("crowded"));
        let metrics = client.request("GET", "/metrics", None, &[]).expect("metrics").text();
        assert!(metric(&metrics, "toxiproxy_proxy_refused_total") >= closed, "{metrics}");
        drop(crowd);
        // The load goes: new clients are served again and descriptors return.
        drop(served);
        assert!(
            crate::util::eventually(PATIENCE, || {
                let mut stream = connect(listen);
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                stream.write_all(b"y").is_ok() && matches!(stream.read(&mut [0u8; 1]), Ok(1))
            }),
            "proxy did not recover"
        );
        assert!(
            crate::util::eventually(PATIENCE, || fd_count(pid) <= idle_fds),
            "descriptors not back to idle: {} > {idle_fds}",
            fd_count(pid)
        );
    });
}

/// The CLI gives up on an API that accepts and never answers, or answers
/// too slowly, with one clear line.
#[test]
fn cli_gives_up_on_an_api_that_never_answers() {
    // The kernel completes the handshake; nobody ever reads or writes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address");
    let (code, out, err) =
        porthole(&["proxy", "list", "--timeout", "300ms"], &format!("http://{address}"));
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err, format!("porthole: the proxy API at {address} did not answer within 300ms\n"));
    // An answer trickling in a byte at a time never completes in time.
    let trickle = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = trickle.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = trickle.accept().expect("accept");
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (code, _, err) =
        porthole(&["proxy", "list", "--timeout", "500ms"], &format!("http://{address}"));
    assert_eq!(code, 2);
    assert_eq!(err, format!("porthole: the proxy API at {address} did not answer within 500ms\n"));
    server.join().expect("server thread");
    let (code, _, err) = porthole(&["proxy", "list", "--timeout", "soon"], "http://127.0.0.1:1");
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `--listen 0.0.0.0:…` hands every proxy to anyone on the network: the
/// server warns at start, and with a token only clients that send it get
/// in. Runs in a private network namespace, so "the network" is its own
/// loopback only.
#[test]
fn an_api_open_to_the_network_warns_and_takes_a_token() {
    use crate::util::{scrub, Netns};
    let Some(netns) = Netns::create() else { return };
    let port = free_port().to_string();
    let listen = format!("0.0.0.0:{port}");
    let url = format!("http://127.0.0.1:{port}");
    let serve = |token: Option<&str>| {
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        command.env_remove("PORTHOLE_PROXY_TOKEN");
        if let Some(token) = token {
            command.env("PORTHOLE_PROXY_TOKEN", token);
        }
        let mut child = command
            .args(["proxy", "serve", "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server in namespace");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let first = lines.next().expect("a line").expect("read");
        let second = if first.contains("warning") {
            lines.next().expect("a line").expect("read")
        } else {
            String::new()
        };
        (KillOnDrop(child), first, second)
    };
    let client = |args: &[&str], token: Option<&str>| {
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        command.env_remove("PORTHOLE_PROXY_TOKEN").args(args).args(["--url", &url]);
        if let Some(token) = token {
            command.env("PORTHOLE_PROXY_TOKEN", token);
        }
        let output = command.output().expect("run client");
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
    };

    let (server, first, _) = serve(None);
    assert_eq!(
        first,
        format!(
            "porthole: warning: the API on {listen} can be reached from other hosts, and whoever \
             reaches it controls every proxy; require a token with --token or PORTHOLE_PROXY_TOKEN"
        )
    );
    drop(server);

    let (_server, first, _) = serve(Some("s3cret"));
    assert!(!first.contains("warning"), "{first}");
    assert_eq!(client(&["proxy", "list"], Some("s3cret")).0, 0);
    assert_eq!(
        client(&["proxy", "list"], None),
        (2, "porthole: missing or wrong API token (HTTP 401)\n".to_string())
    );
    assert_eq!(client(&["proxy", "list", "--token", "guess"], None).0, 2);
}

/// The URL the server prints at start works with porthole's own client and
/// curl, also for an API on every interface (`http://0.0.0.0:PORT`,
/// `http://[::]:PORT`): the `Host` check used to refuse it (`host not
/// allowed (HTTP 403)`). Runs in a private network namespace.
#[test]
fn the_printed_url_of_an_api_on_every_interface_works() {
    use crate::util::{scrub, Netns};
    let Some(netns) = Netns::create() else { return };
    for (listen, extra_url) in [("0.0.0.0", None), ("[::]", Some("0.0.0.0"))] {
        let port = free_port();
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        let mut child = command
            .args(["proxy", "serve", "--listen", &format!("{listen}:{port}"), "--token", "t"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server in namespace");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let line = lines.next().expect("a line").expect("read");
        let _server = KillOnDrop(child);
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        assert_eq!(url, format!("http://{listen}:{port}"));
        let urls = [Some(url), extra_url.map(|host| format!("http://{host}:{port}"))];
        for url in urls.into_iter().flatten() {
            let mut client = netns.command(BINARY);
            scrub(&mut client);
            let output = client
                .args(["proxy", "list", "--token", "t", "--url", &url])
                .output()
                .expect("run client");
            assert_eq!(
                output.status.code(),
                Some(0),
                "{url}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// The client's API flags work before the verb too, as toxiproxy-cli writes
/// them (`toxiproxy-cli --host URL list`); they were refused there. Before
/// `serve`, which talks to no API, `--url` stays an error.
#[test]
fn api_flags_before_the_client_verb_are_the_verbs() {
    let (child, url) = spawn_server(&[]);
    let _server = KillOnDrop(child);
    // TOXIPROXY_URL points nowhere: only the flag can reach the server.
    let nowhere = "http://127.0.0.1:1";
    let upstream = format!("127.0.0.1:{}", free_port());
    let host = format!("--host={url}");
    let steps: &[&[&str]] = &[
        &["proxy", "--url", &url, "create", "early", "--upstream", &upstream],
        &["proxy", &host, "--timeout", "5s", "toxic", "add", "early", "-t", "latency"],
        &["proxy", "--url", &url, "list", "--json"],
        &["proxy", "--url", &url, "--timeout=5s", "inspect", "early"],
    ];
    for args in steps {
        let (code, out, err) = porthole(args, nowhere);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let (_, out, _) = porthole(&["proxy", "--url", &url, "inspect", "early", "--json"], nowhere);
    let proxy: Value = serde_json::from_str(&out).expect("inspect --json");
    assert_eq!(proxy["toxics"][0]["type"], "latency", "{out}");
    let (code, out, err) = porthole(&["proxy", "--url", &url, "serve"], nowhere);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.starts_with("porthole: unexpected argument '--url' found"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A URL naming the API by an address its `Host` check does not take gets
/// one line naming the name and the flag that allows it, not the bare `host
/// not allowed (HTTP 403)`; with `--allow-host` it works. Runs in a private
/// network namespace with a second address on its loopback.
#[test]
fn cli_names_the_host_name_the_api_refuses() {
    use crate::util::{scrub, Netns};
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["addr", "add", "10.9.9.9/32", "dev", "lo"]);
    let port = free_port();
    let url = format!("http://10.9.9.9:{port}");
    let list = |url: &str| {
        let mut client = netns.command(BINARY);
        scrub(&mut client);
        let output = client
            .args(["proxy", "list", "--token", "t", "--url", url])
            .output()
            .expect("run client");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    for (allow, expected) in [
        (None, (Some(2), format!("porthole: the proxy API at 10.9.9.9:{port} does not answer to the host name 10.9.9.9 (HTTP 403): use a loopback address, or add `--allow-host 10.9.9.9` to the options of the `porthole proxy serve` that serves it\n"))),
        (Some("10.9.9.9"), (Some(0), String::new())),
    ] {
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        command.args(["proxy", "serve", "--listen", &format!("0.0.0.0:{port}"), "--token", "t"]);
        if let Some(allow) = allow {
            command.args(["--allow-host", allow]);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server in namespace");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let line = lines.next().expect("a line").expect("read");
        assert!(line.contains("listening"), "{line}");
        let _server = KillOnDrop(child);
        assert_eq!(list(&url), expected, "--allow-host {allow:?}");
    }
}

/// A link-local address is printed with its zone by the interface's name,
/// however it was typed (an index, `%25pv0` as a URL writes it) and as it
/// was bound: `proxy run` used to print `[fe80::1234%3]:15432 →
/// [fe80::1234%25pv0]:9`, and the API's `listen` the index, where Toxiproxy
/// (Go's `net`) names the interface. Runs in a private network namespace
/// with a link-local address on a veth.
#[test]
fn link_local_zones_are_printed_by_interface_name() {
    use crate::util::{scrub, Netns};
    let Some(netns) = Netns::create() else { return };
    netns.add_veth("fe80::1234/64");
    let index = netns.command("cat").arg("/sys/class/net/pv0/ifindex").output().expect("cat");
    let index = String::from_utf8_lossy(&index.stdout).trim().to_string();
    let in_netns = |args: &[&str]| {
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        command.args(args);
        command
    };

    let listen = format!("[fe80::1234%{index}]:15432");
    let mut one_shot =
        OneShot::spawn(in_netns(&["proxy", "run", &listen, "--to", "[fe80::1234%25pv0]:9"]));
    assert_eq!(
        one_shot.line(),
        "porthole: proxying [fe80::1234%pv0]:15432 → [fe80::1234%pv0]:9; Ctrl-C to stop\n"
    );
    let (code, out, _) = one_shot.interrupt();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("0 connections in "), "{out}");
    assert!(out.contains("(0 could not reach [fe80::1234%pv0]:9, "), "{out}");

    let mut server = in_netns(&["proxy", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server in namespace");
    let mut lines = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let line = lines.next().expect("a line").expect("read");
    assert!(line.contains("listening"), "{line}");
    let _server = KillOnDrop(server);
    let listen = format!("[fe80::1234%{index}]:15433");
    let created =
        in_netns(&["proxy", "create", "ll", "--listen", &listen, "--upstream", "[::1]:9"])
            .output()
            .expect("proxy create");
    assert_eq!(
        String::from_utf8_lossy(&created.stdout),
        "Created proxy ll listening on [fe80::1234%pv0]:15433 → [::1]:9\n",
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let listed = in_netns(&["proxy", "list", "--json"]).output().expect("proxy list");
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("list --json");
    assert_eq!(listed["ll"]["listen"], "[fe80::1234%pv0]:15433", "{listed:#}");
}

// ------------------------------------------------- held-out situations

/// A `/populate` list that cannot be applied whole changes nothing: two
/// entries with one name (the second used to replace the first, and both
/// were reported), two enabled entries on one fixed port, and an enabled
/// entry whose `listen` is no address used to leave the entries before them
/// created. A port taken by another program is only found by binding; the
/// entries created before it are then reported in Go's field order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_refuses_a_list_it_cannot_apply_whole() {
    let api = start_api().await;
    let echo = echo_server().await.to_string();
    let (first_port, second_port) = (free_port(), free_port());
    let at = |port: u16| format!("127.0.0.1:{port}");
    let refusals = [
        (
            json!([{"name": "p", "upstream": echo, "listen": at(first_port)},
                   {"name": "q", "upstream": echo},
                   {"name": "p", "upstream": echo, "listen": at(second_port)}]),
            400,
            r#"duplicate proxy name "p" at proxy 3 (also proxy 1)"#.to_string(),
        ),
        (
            json!([{"name": "p", "upstream": echo, "listen": at(first_port)},
                   {"name": "q", "upstream": echo, "listen": at(first_port)}]),
            400,
            format!(
                "listen address 127.0.0.1:{first_port} at proxy 2 is also the listen address of \
                 proxy 1"
            ),
        ),
        (
            json!([{"name": "p", "upstream": echo, "listen": format!("0.0.0.0:{first_port}")},
                   {"name": "q", "upstream": echo, "listen": format!("localhost:{first_port}")}]),
            400,
            format!(
                "listen address localhost:{first_port} at proxy 2 is also the listen address of \
                 proxy 1"
            ),
        ),
        (
            json!([{"name": "p", "upstream": echo, "listen": at(first_port)},
                   {"name": "q", "upstream": echo, "listen": "nonsense"}]),
            500,
            "listen tcp: address nonsense: missing port in address".to_string(),
        ),
        (
            json!([{"name": "p", "upstream": echo, "listen": at(first_port)},
                   {"name": "q", "upstream": echo, "listen": "127.0.0.1:70000"}]),
            500,
            "listen tcp: address 70000: invalid port".to_string(),
        ),
    ];
    for (body, status, message) in refusals {
        let response = api.call("POST", "/populate", Some(body.clone()));
        assert_eq!(
            response.json().expect("JSON"),
            json!({"error": message, "status": status, "proxies": null}),
            "{body}"
        );
        assert_eq!(response.status, status);
        assert_eq!(api.call("GET", "/proxies", None).text(), "{}", "nothing created for {body}");
        let first = SocketAddr::from(([127, 0, 0, 1], first_port));
        assert!(refused(first), "nothing listens after {body}");
    }

    // Port 0 never conflicts, and a disabled entry binds nothing.
    let accepted = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": "a", "upstream": echo, "listen": "127.0.0.1:0"},
                    {"name": "b", "upstream": echo, "listen": "127.0.0.1:0"},
                    {"name": "c", "upstream": echo, "listen": at(first_port)},
                    {"name": "d", "upstream": echo, "listen": at(first_port), "enabled": false}])),
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text());

    // Another program holds the port: found when binding, after "e" ran.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("address").port();
    let partial = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": "e", "upstream": echo, "listen": at(second_port)},
                    {"name": "f", "upstream": echo, "listen": at(taken_port)}])),
    );
    assert_eq!(partial.status, 500);
    assert_eq!(
        partial.text(),
        format!(
            r#"{{"error":"listen tcp 127.0.0.1:{taken_port}: bind: address already in use","status":500,"proxies":[{{"name":"e","listen":"127.0.0.1:{second_port}","upstream":"{echo}","enabled":true,"Logger":{{}},"toxics":[]}}]}}"#
        )
    );
}

/// The same checks guard `--config`: the server refuses to start, with one
/// line naming the entries, instead of starting with fewer proxies than the
/// file lists (a duplicate name) or failing half-way (a shared port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_config_it_cannot_apply_whole() {
    let echo = echo_server().await.to_string();
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("proxies.json");
    let port = free_port();
    let cases = [
        (
            json!([{"name": "db", "upstream": echo, "listen": "127.0.0.1:0"},
                   {"name": "db", "upstream": echo, "listen": "127.0.0.1:0"}]),
            r#"duplicate proxy name "db" at proxy 2 (also proxy 1)"#.to_string(),
        ),
        (
            json!([{"name": "db", "upstream": echo, "listen": format!("127.0.0.1:{port}")},
                   {"name": "cache", "upstream": echo, "listen": format!("127.0.0.1:{port}")}]),
            format!(
                "listen address 127.0.0.1:{port} at proxy 2 is also the listen address of proxy 1"
            ),
        ),
    ];
    let serve = |config: &Value| {
        std::fs::write(&path, config.to_string()).expect("write config");
        let output = Command::new(BINARY)
            .args(["proxy", "serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .output()
            .expect("run porthole");
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{err}");
        err
    };
    for (config, message) in cases {
        assert_eq!(serve(&config), format!("porthole: loading {}: {message}\n", path.display()));
    }

    // An entry that cannot be a proxy is named by its place and name.
    let config = json!([{"name": "db", "upstream": echo},
                        {"name": "cache", "upstream": echo,
                         "toxics": [{"type": "latency", "attributes": {"latency": -1}}]}]);
    assert_eq!(
        serve(&config),
        format!(
            "porthole: in {}, proxy 2 (\"cache\"): invalid attribute latency: -1 (allowed: 0 to \
             2147483647 ms)\n",
            path.display()
        )
    );
}

/// Names and addresses from a request are quoted exactly in the API's error
/// messages (JSON escapes them by serialisation) and shown escaped by the
/// sanitiser on a terminal: they used to carry Rust's `Debug` escapes, so
/// the JSON said `a\u{1b}b` (seven characters) for a name with an escape
/// character, and a `"` came back as `\"` inside the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_exact_in_api_errors() {
    let api = start_api().await;
    let echo = echo_server().await.to_string();
    let name = "a\u{1b}[31m\"é\u{202e}b";
    let populate = api.call(
        "POST",
        "/populate",
        Some(json!([{"name": name, "upstream": echo}, {"name": name, "upstream": echo}])),
    );
    assert_eq!(populate.status, 400, "{}", populate.text());
    assert_eq!(
        populate.json().expect("JSON")["error"],
        json!(format!("duplicate proxy name \"{name}\" at proxy 2 (also proxy 1)"))
    );
    let upstream = "db\u{1b}[2J\"";
    let created = api.call("POST", "/proxies", Some(json!({"name": "x", "upstream": upstream})));
    assert_error(
        &created,
        400,
        &format!("invalid upstream address \"{upstream}\": expected HOST:PORT"),
    );

    // On a terminal: escaped by the sanitiser, once.
    let (code, out, err) = tokio::task::block_in_place(|| {
        porthole(&["proxy", "create", "x", "--upstream", upstream], &api.url())
    });
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            2,
            "",
            "porthole: invalid upstream address \"db\\x1b[2J\"\": expected HOST:PORT (HTTP 400)\n"
        )
    );
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("proxies.json");
    let config = json!([{"name": name, "upstream": echo, "toxics": [{"type": "bogus"}]}]);
    std::fs::write(&path, config.to_string()).expect("write config");
    let output = Command::new(BINARY)
        .args(["proxy", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .expect("run porthole");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "porthole: in {}, proxy 1 (\"a\\x1b[31m\"é\\u202eb\"): invalid toxic type\n",
            path.display()
        )
    );
}

/// A fake API server behind a path prefix, as behind a gateway: it answers
/// `GET /gw/proxies` and gives the router's bare 404 for anything else, and
/// records every request head it gets.
async fn prefixed_api(heads: Arc<std::sync::Mutex<Vec<String>>>) -> SocketAddr {
    custom_server(move |mut stream| {
        let heads = Arc::clone(&heads);
        async move {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let reply: &[u8] = if head.starts_with("GET /gw/proxies HTTP/1.1\r\n") {
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n404 page not found\n"
            };
            heads.lock().expect("lock").push(head);
            let _ = stream.write_all(reply).await;
        }
    })
    .await
}

/// `--url` is used as given or refused: a path the API is served under is
/// kept (it used to be dropped, so requests went to the gateway's root), a
/// URL that reaches no API is an error (exit 2), not "not found" (exit 1),
/// and what cannot be sent (a user, a query, a line break that would end
/// the request head, a broken host or port) is refused before connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keeps_the_url_path_and_refuses_urls_it_cannot_send() {
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let address = prefixed_api(Arc::clone(&heads)).await;
    let run = |args: &[&str]| porthole(args, "http://127.0.0.1:1");

    let url = format!("http://{address}/gw/");
    let (code, out, err) = run(&["proxy", "list", "--url", &url]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_eq!(out.lines().next(), Some("NAME  LISTEN  UPSTREAM  ENABLED  TOXICS"));
    let head = heads.lock().expect("lock").last().cloned().expect("a request");
    assert!(head.starts_with("GET /gw/proxies HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nHost: {address}\r\n")), "{head}");

    let url = format!("http://{address}/elsewhere");
    let (code, out, err) = run(&["proxy", "inspect", "db", "--url", &url]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            2,
            "",
            format!(
                "porthole: no proxy API at http://{address}/elsewhere/proxies/db: the server \
                 answered 404 (404 page not found)\n"
            )
            .as_str()
        )
    );

    let requests = heads.lock().expect("lock").len();
    for (url, reason) in [
        (
            format!("http://user:pw@{address}"),
            "a user or password in the URL is not supported (use --token)",
        ),
        (format!("http://{address}/?debug=1"), "a query or fragment has no meaning for the API"),
        (
            format!("http://{address}\r\nX-Injected: 1"),
            "it contains a space or a control character",
        ),
        ("http://[::1".to_string(), "no closing ]"),
        ("http://127.0.0.1:84x".to_string(), "the port is not a number from 1 to 65535"),
        ("http://127.0.0.1:+80".to_string(), "the port is not a number from 1 to 65535"),
        ("http://127.0.0.1:0".to_string(), "the port is not a number from 1 to 65535"),
    ] {
        let (code, out, err) = run(&["proxy", "list", "--url", &url]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (2, "", format!("porthole: invalid API URL {url:?}: {reason}\n").as_str())
        );
    }
    let url = format!("http://{address}/gw");
    let (code, _, err) = run(&["proxy", "list", "--url", &url, "--token", "a\r\nX-Injected: 1"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "porthole: --token must not contain control characters\n")
    );
    assert_eq!(heads.lock().expect("lock").len(), requests, "nothing was sent");
}

/// Paths gorilla/mux would not route as sent: a path that is not in
/// canonical form is redirected to the cleaned one (so `/proxies//toxics`
/// no longer reaches a proxy named "" and `/proxies/./db` no longer fails
/// as "proxy not found"), and an empty name after a trailing `/` is an
/// unknown route, not a proxy lookup. Names `.`, `..` and names with `/`
/// stay reachable escaped, which is how the CLI sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_paths_and_empty_names_route_like_toxiproxy() {
    let api = start_api().await;
    let echo = echo_server().await;
    let at = api.address;
    let check = |request: String, want: Wire| {
        let (got, _) = tokio::task::block_in_place(|| wire(at, &request));
        assert_eq!(got, want, "request: {request}");
    };
    let moved = |location: &str| {
        let location = format!("Location: {location}");
        expected("301 Moved Permanently", &[location.as_str()], "", false)
    };
    let not_found =
        || expected("404 Not Found", &[ERROR_TYPE, NOSNIFF], "404 page not found\n", false);
    check(request("GET", "//proxies", ""), moved("/proxies"));
    check(request("GET", "/proxies//toxics?x=1", ""), moved("/proxies/toxics?x=1"));
    check(request("DELETE", "/proxies/./db", ""), moved("/proxies/db"));
    check(request("POST", "/proxies/a/../db/toxics/", "{}"), moved("/proxies/db/toxics/"));
    check(request("OPTIONS", "*", ""), expected("200 OK", &[], "", false));
    check(request("GET", "*", ""), moved("/*"));
    check(request("GET", "/proxies/", ""), not_found());
    check(request("DELETE", "/proxies/", ""), not_found());
    check(request("GET", "/proxies/db/toxics/", ""), not_found());

    let url = api.url();
    for name in [".", "..", "a/b", "toxics"] {
        let (code, _, err) =
            porthole(&["proxy", "create", name, "--upstream", &echo.to_string()], &url);
        assert_eq!(code, 0, "{name}: {err}");
        let (code, out, err) = porthole(&["proxy", "toxic", "add", name, "-t", "noop"], &url);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let (code, out, err) = porthole(&["proxy", "inspect", name, "--json"], &url);
        assert_eq!(code, 0, "{name}: {err}");
        let proxy: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            (proxy["name"].as_str(), proxy["toxics"][0]["type"].as_str()),
            (Some(name), Some("noop"))
        );
        assert_eq!(porthole(&["proxy", "delete", name], &url).0, 0, "{name}");
    }
    assert_eq!(api.call("GET", "/proxies", None).text(), "{}");

    // An empty name is refused by the client: `/proxies/` is no address.
    for (args, what) in [
        (&["proxy", "inspect", ""][..], "proxy"),
        (&["proxy", "delete", ""][..], "proxy"),
        (&["proxy", "toxic", "add", "", "-t", "noop"][..], "proxy"),
        (&["proxy", "toxic", "remove", "db", "-n", ""][..], "toxic"),
    ] {
        let (code, out, err) = porthole(args, &url);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (2, "", format!("porthole: the {what} name is empty\n").as_str()),
            "{args:?}"
        );
    }
}

/// What a toxic does when its direction ends or carries nothing, as in
/// Toxiproxy: `timeout` closes the connection when the client stops sending
/// (it used to swallow the end of stream, so with `timeout` 0 every client
/// that left kept its upstream connection open for good); `reset_peer` is
/// set off by the end of stream when no data came first; `limit_data` with
/// 0 bytes closes when data comes, not at once, so the other direction (a
/// server's greeting) still flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_act_on_the_end_of_stream_and_wait_for_data_like_toxiproxy() {
    let api = start_api().await;
    // Greets, then reads to the end and records what it got.
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let server = custom_server(move |mut stream| {
        let sink = Arc::clone(&sink);
        async move {
            let _ = stream.write_all(b"hello").await;
            let mut data = Vec::new();
            let _ = stream.read_to_end(&mut data).await;
            sink.lock().expect("lock").push(data);
        }
    })
    .await;
    let ended = |count: usize| {
        crate::util::eventually(PATIENCE, || got.lock().expect("lock").len() >= count)
    };
    let active = || {
        let text = api.call("GET", "/metrics", None).text();
        metric_with(&text, "toxiproxy_proxy_active_connections", "proxy=\"te\"")
    };
    let listen = api.proxy("te", server);

    api.toxic(
        "te",
        json!({"type": "timeout", "name": "t", "stream": "upstream",
                           "attributes": {"timeout": 0}}),
    );
    let mut client = connect(listen);
    client.write_all(b"dropped").expect("write");
    drop(client);
    assert!(ended(1), "the server never saw the client leave through timeout 0");
    assert_eq!(got.lock().expect("lock")[0], b"", "timeout let data through");
    assert!(crate::util::eventually(PATIENCE, || active() == 0), "connection kept");
    api.call("DELETE", "/proxies/te/toxics/t", None);

    api.toxic(
        "te",
        json!({"type": "reset_peer", "name": "r", "stream": "upstream",
                           "attributes": {"timeout": 100}}),
    );
    let mut client = connect(listen);
    let start = Instant::now();
    client.shutdown(Shutdown::Write).expect("half-close");
    let (_, end) = read_to_end(&mut client);
    assert_eq!(end, Err(ErrorKind::ConnectionReset), "a clean close instead of a reset");
    assert!(start.elapsed() >= Duration::from_millis(90), "reset after {:?}", start.elapsed());
    assert!(ended(2));
    api.call("DELETE", "/proxies/te/toxics/r", None);

    api.toxic(
        "te",
        json!({"type": "limit_data", "name": "l", "stream": "upstream",
                           "attributes": {"bytes": 0}}),
    );
    let mut client = connect(listen);
    let mut greeting = [0u8; 5];
    client.read_exact(&mut greeting).expect("the greeting flows before any data is sent");
    assert_eq!(&greeting, b"hello");
    client.write_all(b"over the limit").expect("write");
    let (rest, _) = read_to_end(&mut client);
    assert!(rest.is_empty());
    assert!(ended(3));
    assert_eq!(got.lock().expect("lock")[2], b"", "limit_data 0 let data through");
}

/// `reset_peer` and `slow_close` at 0 act at once, as Toxiproxy's do: the
/// first chunk is answered with a reset, an end of stream passes straight
/// through (0 is not "never", as it is for `timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_and_slow_close_at_zero_act_at_once() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("zero", echo);
    api.toxic(
        "zero",
        json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}),
    );
    let mut stream = patient(listen);
    stream.write_all(b"first").expect("write");
    let (data, end) = read_to_end(&mut stream);
    assert_eq!((data.as_slice(), end), (&b""[..], Err(ErrorKind::ConnectionReset)));
    assert_eq!(api.call("DELETE", "/proxies/zero/toxics/reset_peer_upstream", None).status, 204);

    let server = custom_server(|mut stream| async move {
        let _ = stream.write_all(b"bye").await;
    })
    .await;
    let listen = api.proxy("closing", server);
    api.toxic("closing", json!({"type": "slow_close", "attributes": {"delay": 0}}));
    let (data, end) = read_to_end(&mut patient(listen));
    assert_eq!((data.as_slice(), end), (&b"bye"[..], Ok(())));
}

/// A toxic added to a disabled proxy is kept, and acts on the connections
/// of the proxy once it is enabled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_added_while_disabled_acts_once_enabled() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("off", echo);
    assert_eq!(api.call("PATCH", "/proxies/off", Some(json!({"enabled": false}))).status, 200);
    let toxic = api.toxic("off", json!({"type": "limit_data", "attributes": {"bytes": 2}}));
    let enabled = api.call("PATCH", "/proxies/off", Some(json!({"enabled": true})));
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    assert_eq!(enabled.json().unwrap()["toxics"], json!([toxic]));
    let mut stream = patient(listen);
    stream.write_all(b"hello").expect("write");
    let (data, end) = read_to_end(&mut stream);
    assert_eq!((data.as_slice(), end), (&b"he"[..], Ok(())));
}

/// `POST /reset` with live connections: the toxics go (a chunk a two-minute
/// latency holds is released at once) and the connections stay. `/populate`
/// applies `enabled` to a proxy it leaves in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_keeps_live_connections_and_populate_applies_enabled() {
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("kept", echo);
    let mut stream = patient(listen);
    round_trip(&mut stream, b"warm");
    api.toxic("kept", json!({"type": "latency", "attributes": {"latency": HOLD_MS}}));
    stream.write_all(b"held").expect("write");
    wait_for_received(&api, "kept", "downstream", 8);
    let reset = api.call("POST", "/reset", None);
    assert_eq!((reset.status, reset.body.len()), (204, 0));
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).expect("the held chunk");
    assert_eq!(&back, b"held");
    round_trip(&mut stream, b"after");

    let entry = |enabled: Option<bool>| {
        let mut proxy = json!({"name": "kept", "listen": listen.to_string(),
                               "upstream": echo.to_string()});
        if let Some(enabled) = enabled {
            proxy["enabled"] = json!(enabled);
        }
        json!([proxy])
    };
    let down = api.call("POST", "/populate", Some(entry(Some(false))));
    assert_eq!(down.status, 201, "{}", down.text());
    let shown = api.call("GET", "/proxies/kept", None).text();
    assert!(shown.contains("\"enabled\":false"), "{shown}");
    assert_eq!(down.text(), format!("{{\"proxies\":[{shown}]}}"));
    let (_, end) = read_to_end(&mut stream);
    assert!(!timed_out(end), "the connection outlived enabled:false: {end:?}");
    assert!(refused(listen), "listener still open after enabled:false");

    let up = api.call("POST", "/populate", Some(entry(None)));
    assert_eq!(up.status, 201, "{}", up.text());
    assert_eq!(up.json().unwrap()["proxies"][0]["enabled"], true);
    round_trip(&mut patient(listen), b"back");
}

/// Commands written for toxiproxy-cli work unchanged: its short command
/// names (`c`, `l`, `li`, `i`, `ins`, `tog`, `d`, `t`, `toxic d`) and
/// `--toxicName` used to be usage errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_takes_toxiproxy_cli_command_names() {
    let api = start_api().await;
    let echo = echo_server().await.to_string();
    let url = api.url();
    let run = |args: &[&str]| {
        let (code, out, err) = porthole(args, &url);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    run(&["proxy", "c", "db", "-u", &echo]);
    run(&["proxy", "t", "a", "db", "-t", "latency", "--toxicName", "slow", "-a", "latency=5"]);
    for list in ["l", "li", "ls"] {
        assert!(run(&["proxy", list]).contains("db "), "{list}");
    }
    for inspect in ["i", "ins"] {
        assert!(run(&["proxy", inspect, "db"]).contains("slow"), "{inspect}");
    }
    run(&["proxy", "t", "u", "db", "--toxicName", "slow", "-a", "latency=6"]);
    assert_eq!(
        api.call("GET", "/proxies/db/toxics/slow", None).json().unwrap()["attributes"]["latency"],
        6
    );
    run(&["proxy", "toxic", "d", "db", "--toxicName", "slow"]);
    assert_eq!(api.call("GET", "/proxies/db/toxics", None).text(), "[]");
    run(&["proxy", "tog", "db"]);
    assert_eq!(api.call("GET", "/proxies/db", None).json().unwrap()["enabled"], false);
    run(&["proxy", "d", "db"]);
    assert_eq!(api.call("GET", "/proxies", None).text(), "{}");
}

/// `proxy run --to` is held to the API's rule for an upstream: one without
/// a port used to be accepted, and every client then failed to connect.
#[test]
fn one_shot_refuses_an_upstream_the_api_refuses() {
    for upstream in ["nohost", "::1:80", "db:99999", "db:\u{1b}[2J"] {
        let mut child = KillOnDrop(
            Command::new(BINARY)
                .args(["proxy", "run", "127.0.0.1:0", "--to", upstream])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run porthole"),
        );
        // An accepted upstream would run until interrupted: give up on it
        // (the drop kills it) rather than hang the suite.
        assert!(
            crate::util::eventually(PATIENCE, || child.0.try_wait().ok().flatten().is_some()),
            "{upstream} was accepted"
        );
        let status = child.0.wait().expect("exit status");
        let mut err = String::new();
        child.0.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert_eq!(status.code(), Some(2), "{upstream}: {err}");
        assert_eq!(
            err,
            // The terminal sanitiser's escapes, not Rust's `Debug` ones.
            format!(
                "porthole: --to: invalid upstream address \"{}\": expected HOST:PORT\n",
                upstream.replace('\u{1b}', "\\x1b")
            )
        );
    }
}

/// An upstream whose host is no host name (a space, an empty label, a
/// control character) or a shorthand IPv4 address (`10` is 0.0.0.10) is
/// never what was meant: `proxy run` ran and refused every
/// client, `proxy create` made such a proxy. Both refuse it in one line;
/// the API itself still takes it, as Toxiproxy's does.
#[test]
fn cli_refuses_an_upstream_host_that_is_no_host_name() {
    let (child, url) = spawn_server(&[]);
    let _server = KillOnDrop(child);
    for upstream in ["a b:80", "db..local:5432", "db\u{7}x:80"] {
        let shown = upstream.replace('\u{7}', "\\x07");
        let host = shown.rsplit_once(':').expect("a port").0.to_string();
        let (code, out, err) =
            porthole(&["proxy", "run", "127.0.0.1:0", "--to", upstream, "--latency", "1ms"], &url);
        assert_eq!((code, out.as_str()), (2, ""), "{upstream}: {err}");
        assert_eq!(err, format!("porthole: --to '{shown}': '{host}' is not a valid host name\n"));
        let (code, _, err) = porthole(&["proxy", "create", "bad", "--upstream", upstream], &url);
        assert_eq!(code, 2, "{upstream}: {err}");
        assert!(
            err.starts_with(&format!("porthole: --upstream '{shown}': '{host}' is not a valid")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A number the resolver reads as a shorthand IPv4 address (0.0.0.10).
    let (code, _, err) = porthole(&["proxy", "create", "bad", "--upstream", "10:80"], &url);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("'10' is no host name: the resolver reads it as the IPv4 address 0.0.0.10")
    );
    let (code, out, err) = porthole(&["proxy", "list", "--json"], &url);
    assert_eq!((code, out.trim()), (0, "{}"), "no proxy was created: {err}");
    // A host name with a dash and dots stays accepted.
    let (code, _, err) =
        porthole(&["proxy", "create", "ok", "--upstream", "db-1.local:5432"], &url);
    assert_eq!(code, 0, "{err}");
}

/// `proxy delete --json` printed the text line (`Deleted proxy db`) to a
/// script that asked for JSON; the API answers 204 with no body, so the
/// flag is refused, and nothing is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_delete_refuses_json() {
    let api = start_api().await;
    let echo = echo_server().await.to_string();
    let url = api.url();
    let run = |args: &[&str]| tokio::task::block_in_place(|| porthole(args, &url));
    assert_eq!(run(&["proxy", "create", "db", "--upstream", &echo]).0, 0);
    let (code, out, err) = run(&["proxy", "delete", "db", "--json"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.starts_with("porthole: unexpected argument '--json' found"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(api.call("GET", "/proxies", None).json().expect("json").get("db").is_some());
}

/// What the client quotes back from its own arguments (a toxic type, an
/// attribute, a rate) is escaped by the terminal sanitiser (`\x1b`,
/// `\u202e`), as all other text is, not by Rust's `Debug` (`\u{1b}`).
#[test]
fn cli_quotes_bad_arguments_with_the_terminal_escapes() {
    let url = "http://127.0.0.1:9";
    for (args, want) in [
        (
            vec!["proxy", "toxic", "add", "db", "-t", "x\u{1b}[2J\u{202e}"],
            "porthole: unknown toxic type \"x\\x1b[2J\\u202e\" (valid types: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop)\n",
        ),
        (
            vec!["proxy", "toxic", "add", "db", "-t", "latency", "-a", "l\u{1b}=1"],
            "porthole: toxic type latency has no attribute \"l\\x1b\" (valid attributes: latency, jitter)\n",
        ),
        (
            vec!["proxy", "toxic", "add", "db", "-t", "latency", "-a", "latency=\u{202e}1"],
            "porthole: attribute latency: \"\\u202e1\" is not an integer\n",
        ),
        (
            vec!["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:9", "--bandwidth", "1\u{1b}/s"],
            "porthole: --bandwidth: invalid rate \"1\\x1b/s\": invalid size \"1\\x1b\": unknown unit \"\\x1b\" (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)\n",
        ),
    ] {
        let output = Command::new(BINARY)
            .args(&args)
            .env("TOXIPROXY_URL", url)
            .stdin(Stdio::null())
            .output()
            .expect("run porthole");
        assert_eq!(
            (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned()),
            (Some(2), want.to_string()),
            "{args:?}"
        );
    }
}

/// An upstream on port 0 can take no connection: `proxy run --to` ran and
/// refused every client, `proxy create --upstream` made a proxy that did.
/// Both refuse it with one line, and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_refuses_an_upstream_on_port_0() {
    for upstream in ["127.0.0.1:0", ":0", "[::1]:00"] {
        let mut child = KillOnDrop(
            Command::new(BINARY)
                .args(["proxy", "run", "127.0.0.1:0", "--to", upstream])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run porthole"),
        );
        // An accepted upstream would run until interrupted: the drop kills it.
        let exited = tokio::task::block_in_place(|| {
            crate::util::eventually(PATIENCE, || child.0.try_wait().ok().flatten().is_some())
        });
        assert!(exited, "{upstream} was accepted");
        let status = child.0.wait().expect("exit status");
        let mut err = String::new();
        child.0.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert_eq!(
            (status.code(), err),
            (
                Some(2),
                format!(
                    "porthole: --to {upstream}: port 0 cannot be connected to (every client would be refused)\n"
                )
            )
        );
    }
    let api = start_api().await;
    let url = api.url();
    let run = |args: &[&str]| tokio::task::block_in_place(|| porthole(args, &url));
    assert_eq!(
        run(&["proxy", "create", "db", "--upstream", "127.0.0.1:0"]),
        (
            2,
            String::new(),
            "porthole: --upstream 127.0.0.1:0: port 0 cannot be connected to (every client would be refused)\n"
                .to_string()
        )
    );
    assert_eq!(api.call("GET", "/proxies", None).text(), "{}");
}

/// A `proxy run` flag whose value the toxic cannot take is named as the
/// flag, not as the API attribute it sets (`--reset-peer` used to be
/// reported as "invalid attribute timeout", `--slow-close` as "delay").
#[test]
fn one_shot_names_the_flag_that_is_out_of_range() {
    let ms = "is out of range (allowed: 0 to 2147483647 ms)";
    for (flags, want) in [
        (&["--latency", "3000000s"][..], format!("--latency: 3000000000 ms {ms}")),
        (&["--latency", "1ms", "--jitter", "3000000s"], format!("--jitter: 3000000000 ms {ms}")),
        (&["--slow-close", "3000000s"], format!("--slow-close: 3000000000 ms {ms}")),
        (&["--timeout", "3000000s"], format!("--timeout: 3000000000 ms {ms}")),
        (&["--reset-peer", "3000000s"], format!("--reset-peer: 3000000000 ms {ms}")),
        (
            &["--bandwidth", "3000GB/s"],
            "--bandwidth: 3000000000 KB/s is out of range (allowed: 0 to 2147483647 KB/s)"
                .to_string(),
        ),
        (
            &["--slicer", "3GB"],
            "--slicer: 3000000000 bytes is out of range (allowed: 1 to 2147483647 bytes)"
                .to_string(),
        ),
        (
            &["--slicer", "10", "--slice-delay", "3000s"],
            "--slice-delay: 3000000000 µs is out of range (allowed: 0 to 2147483647 µs)"
                .to_string(),
        ),
    ] {
        let mut child = KillOnDrop(
            Command::new(BINARY)
                .args(["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:9"])
                .args(flags)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run porthole"),
        );
        // Accepted, it would run until interrupted: the drop kills it.
        assert!(
            crate::util::eventually(PATIENCE, || child.0.try_wait().ok().flatten().is_some()),
            "{flags:?} was accepted"
        );
        let status = child.0.wait().expect("exit status");
        let mut err = String::new();
        child.0.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert_eq!((status.code(), err), (Some(2), format!("porthole: {want}\n")), "{flags:?}");
    }
}

/// `--toxicity` or `--upstream` without a toxic flag used to be dropped
/// without a word (the proxy ran with no toxic at all); it is refused.
#[test]
fn one_shot_refuses_toxic_options_without_a_toxic() {
    for flags in [&["--toxicity", "0.5"][..], &["--upstream"]] {
        let mut child = KillOnDrop(
            Command::new(BINARY)
                .args(["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:9"])
                .args(flags)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run porthole"),
        );
        // Accepted, it would run until interrupted: the drop kills it.
        assert!(
            crate::util::eventually(PATIENCE, || child.0.try_wait().ok().flatten().is_some()),
            "{flags:?} was accepted"
        );
        let status = child.0.wait().expect("exit status");
        let mut err = String::new();
        child.0.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
        assert_eq!(status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.starts_with("porthole: missing <--latency <DURATION>|"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// A server (or a gateway in front of it) that answers in full but keeps
/// the connection open despite `Connection: close`: the client stops at the
/// end of the response its framing announces, skipping an interim `100
/// Continue` first, instead of waiting for a close until `--timeout` runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_stops_at_the_end_of_a_framed_response() {
    let body = r#"{"db":{"name":"db","listen":"127.0.0.1:1","upstream":"127.0.0.1:2","enabled":true,"toxics":[]}}"#;
    let replies = [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        ),
    ];
    for reply in replies {
        let address = custom_server(move |mut stream| {
            let reply = reply.clone();
            async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let _ = stream.write_all(reply.as_bytes()).await;
                // Held open until the client goes away.
                let _ = stream.read(&mut byte).await;
            }
        })
        .await;
        let url = format!("http://{address}");
        let (code, out, err) =
            tokio::task::block_in_place(|| porthole(&["proxy", "list", "--timeout", "20s"], &url));
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        assert!(out.lines().nth(1).is_some_and(|line| line.starts_with("db ")), "{out}");
    }
}

/// `listen` and `upstream` mean what they mean to Go, and so to Toxiproxy:
/// `:PORT` listens on every interface (it was refused as "lookup : no such
/// host") and dials this machine as an upstream (refused as malformed), an
/// empty port is any port, and an unbracketed or half-bracketed IPv6
/// address is refused in Go's words instead of being read as something else
/// (`::1:80` used to listen on `[::1]:80`, `[::1` was accepted as an
/// upstream that no connection could reach).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_are_read_as_go_reads_them() {
    let api = start_api().await;
    let echo = echo_server().await;
    let create = |name: &str, listen: &str, upstream: &str| {
        api.call(
            "POST",
            "/proxies",
            Some(json!({"name": name, "listen": listen, "upstream": upstream})),
        )
    };

    let everywhere = create("everywhere", ":0", &format!(":{}", echo.port()));
    assert_eq!(everywhere.status, 201, "{}", everywhere.text());
    let listen = everywhere.json().unwrap()["listen"].as_str().unwrap().to_string();
    let bound: SocketAddr = listen.parse().expect("a socket address");
    assert!(bound.ip().is_unspecified(), "{listen}");
    let mut stream = connect(SocketAddr::from(([127, 0, 0, 1], bound.port())));
    round_trip(&mut stream, b"through :PORT both ways");
    drop(stream);
    api.call("DELETE", "/proxies/everywhere", None);

    let any_port = create("any-port", "127.0.0.1:", &echo.to_string());
    assert_eq!(any_port.status, 201, "{}", any_port.text());
    let listen = any_port.json().unwrap()["listen"].as_str().unwrap().to_string();
    round_trip(&mut connect(listen.parse().unwrap()), b"port 0");

    for (listen, message) in [
        ("::1:0", "listen tcp: address ::1:0: too many colons in address"),
        ("[::1", "listen tcp: address [::1: missing ']' in address"),
        ("[::1]", "listen tcp: address [::1]: missing port in address"),
    ] {
        assert_error(&create("bad", listen, &echo.to_string()), 500, message);
    }
    for upstream in ["[::1", "::1:80", "[[::1]]:80", "db:"] {
        assert_error(
            &create("bad", "127.0.0.1:0", upstream),
            400,
            &format!("invalid upstream address {upstream:?}: expected HOST:PORT"),
        );
    }
    assert_eq!(api.call("GET", "/proxies/bad", None).status, 404);
}

// ------------------------------------------- held-out situations, third round

/// Starts `porthole proxy serve` on a free port in a private mount
/// namespace where `file` (under /etc) holds `contents`, bind-mounted over
/// the real one. Returns the server, its API URL and the directory holding
/// the file (keep it until the server is gone).
fn serve_with_etc_file(file: &str, contents: &str) -> (KillOnDrop, String, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("temp dir");
    let copy = directory.path().join("etc-file");
    std::fs::write(&copy, contents).expect("file written");
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind \"$0\" \"$1\" && shift && exec \"$@\""])
        .arg(&copy)
        .arg(file)
        .arg(BINARY)
        .args(["proxy", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn porthole proxy serve");
    let mut startup = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut startup)
        .expect("startup line");
    let server = KillOnDrop(child);
    let url = startup
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {startup:?}"))
        .to_string();
    (server, url, directory)
}

/// A DNS "server" that takes queries and never answers: a UDP socket on
/// port 53 of a loopback address of this run's own (`127.NET.x.y`, from
/// the pid, so port 53 is free on it), with the address for resolv.conf.
/// `None` (the skip recorded) when not root.
fn silent_resolver(net: u8) -> Option<(String, std::net::UdpSocket)> {
    if !crate::util::is_root() {
        crate::util::skip("a private mount namespace (for resolv.conf) and port 53 need root");
        return None;
    }
    let pid = std::process::id();
    let resolver = format!("127.{net}.{}.{}", (pid >> 8) & 0xff, (pid & 0xff).max(1));
    let socket = std::net::UdpSocket::bind((resolver.as_str(), 53)).expect("bind the resolver");
    Some((resolver, socket))
}

/// A host name whose resolver never answers holds up only the request that
/// named it: the lookup runs outside the registry lock, within 5 s, and a
/// `listen` name then fails in Go's words, while an `upstream` name (looked
/// up only for the loop check) is accepted. The server runs in a private
/// mount namespace whose resolv.conf names a UDP socket of this test that
/// takes the queries and never answers.
#[test]
fn a_silent_resolver_holds_up_only_the_request_that_named_it() {
    let Some((resolver, silent)) = silent_resolver(53) else { return };
    let (mut server, url, _directory) = serve_with_etc_file(
        "/etc/resolv.conf",
        &format!("nameserver {resolver}\noptions timeout:30 attempts:1\n"),
    );
    let client = ApiClient::new(&url).expect("url");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let echo = runtime.block_on(echo_server());

    for (name, listen, upstream) in [
        ("slow-listen", "slow.test:0", echo.to_string()),
        ("slow-upstream", "127.0.0.1:0", "slow.test:80".to_string()),
    ] {
        let finished = Arc::new(AtomicBool::new(false));
        let slow = {
            let client = ApiClient::new(&url).expect("url");
            let finished = Arc::clone(&finished);
            let body = json!({"name": name, "listen": listen, "upstream": upstream});
            std::thread::spawn(move || {
                let answer = client.request("POST", "/proxies", Some(&body), &[]);
                finished.store(true, Ordering::SeqCst);
                answer.expect("the slow create is answered")
            })
        };
        // The query reaching the resolver means the lookup is under way.
        silent.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let (_, asker) = silent.peek_from(&mut [0u8; 512]).expect("a DNS query arrives");
        assert!(asker.ip().is_loopback(), "{asker}");
        while silent.recv_from(&mut [0u8; 512]).is_ok() {
            silent.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        }

        let list = client.request("GET", "/proxies", None, &[]).expect("GET /proxies");
        assert_eq!(list.status, 200, "{}", list.text());
        let fast = format!("fast-{name}");
        let other = client
            .request(
                "POST",
                "/proxies",
                Some(&json!({"name": fast, "listen": "127.0.0.1:0", "upstream": echo.to_string()})),
                &[],
            )
            .expect("another create");
        assert_eq!(other.status, 201, "{}", other.text());
        assert!(
            !finished.load(Ordering::SeqCst),
            "{name}: the other calls were answered only once the slow lookup was over"
        );

        let answer = slow.join().expect("slow create thread");
        if name == "slow-listen" {
            assert_error(&answer, 500, "listen tcp: lookup slow.test: i/o timeout");
            let gone = client.request("GET", "/proxies/slow-listen", None, &[]).expect("GET");
            assert_eq!(gone.status, 404, "{}", gone.text());
        } else {
            assert_eq!(answer.status, 201, "{}", answer.text());
            assert_eq!(answer.json().expect("json")["upstream"], "slow.test:80");
        }
    }

    // Both lookups are still waiting for the resolver (30 s): they do not
    // hold up the server's exit.
    let pid = rustix::process::Pid::from_raw(server.0.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    assert!(
        crate::util::eventually(PATIENCE, || server.0.try_wait().ok().flatten().is_some()),
        "the server waited for the abandoned lookups"
    );
    assert_eq!(server.0.wait().expect("exit status").code(), Some(0));
}

/// The client's `--timeout` bounds the lookup of the API's host name too: a
/// resolver that never answers used to hold every command for the system
/// resolver's own timeouts (here 30 s) and then report a failed lookup. The
/// client runs in a private mount namespace whose resolv.conf names a UDP
/// socket of this test that takes the queries and never answers.
#[test]
fn cli_timeout_bounds_the_api_host_lookup() {
    // Not the server test's address: both may run at once.
    let Some((resolver, _silent)) = silent_resolver(54) else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let conf = directory.path().join("resolv.conf");
    std::fs::write(&conf, format!("nameserver {resolver}\noptions timeout:30 attempts:1\n"))
        .expect("resolv.conf written");
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\""])
        .arg(&conf)
        .arg(BINARY)
        .args(["proxy", "list", "--url", "http://api.slow.test:8474", "--timeout", "1s"])
        .env_remove("TOXIPROXY_URL")
        .output()
        .expect("run porthole");
    assert_eq!(
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned()),
        (
            Some(2),
            "porthole: cannot reach the proxy API at api.slow.test:8474: looking up api.slow.test \
             took longer than 1s (is the resolver in /etc/resolv.conf answering?)\n"
                .to_string()
        )
    );
}

/// `"stream": ""` is no stream, `PATCH {"listen": ""}` listens anew, and
/// toxic attributes decode as Go decodes integers: Toxiproxy 2.12's answers,
/// byte for byte (apart from the fresh port, and `127.0.0.1` for its `[::]`).
// See: https://github.com/Shopify/toxiproxy/blob/main/toxic_collection.go
// (`ParseDirection` on the decoded `stream`) and proxy.go (`Update`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_stream_and_listen_and_odd_numbers_answer_as_toxiproxy_does() {
    let api = start_api().await;
    let echo = echo_server().await;
    let at = api.address;
    let send = |request: String| tokio::task::block_in_place(|| wire(at, &request).0);
    let first = api.proxy("db", echo);

    let invalid_stream =
        "{\"error\":\"stream was invalid, can be either upstream or downstream\",\"status\":400}\n";
    assert_eq!(
        send(request("POST", "/proxies/db/toxics", r#"{"type":"latency","stream":""}"#)),
        expected("400 Bad Request", &[ERROR_TYPE, NOSNIFF], invalid_stream, true)
    );
    assert_eq!(
        send(request("POST", "/proxies/db/toxics", r#"{"type":"latency","stream":null}"#)),
        expected(
            "200 OK",
            &[JSON_TYPE],
            r#"{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#,
            true
        )
    );
    assert_eq!(
        send(request(
            "POST",
            "/proxies/db/toxics",
            r#"{"type":"slow_close","attributes":{"delay":-0}}"#
        )),
        expected(
            "200 OK",
            &[JSON_TYPE],
            r#"{"attributes":{"delay":0},"name":"slow_close_downstream","type":"slow_close","stream":"downstream","toxicity":1}"#,
            true
        )
    );
    for (attributes, what) in [
        (r#"{"latency":1.5}"#, "number 1.5"),
        (r#"{"latency":1e30}"#, "number 1e30"),
        (r#"{"latency":"100"}"#, "string"),
    ] {
        let body = format!(
            "{{\"error\":\"bad request body: json: cannot unmarshal {what} into Go struct field LatencyToxic.attributes.latency of type int64\",\"status\":400}}\n"
        );
        assert_eq!(
            send(request(
                "PATCH",
                "/proxies/db/toxics/latency_downstream",
                &format!(r#"{{"attributes":{attributes}}}"#)
            )),
            expected("400 Bad Request", &[ERROR_TYPE, NOSNIFF], &body, true),
            "{attributes}"
        );
    }

    // Other fields in Go's words too; an update reads only `attributes`
    // and `toxicity`, as Toxiproxy's does.
    let go = |field: &str, go_type: &str| {
        format!(
            "{{\"error\":\"bad request body: json: cannot unmarshal string into Go struct field {field} of type {go_type}\",\"status\":400}}\n"
        )
    };
    assert_eq!(
        send(request("POST", "/proxies/db/toxics", r#"{"type":"noop","toxicity":"0.5"}"#)),
        expected(
            "400 Bad Request",
            &[ERROR_TYPE, NOSNIFF],
            &go("ToxicWrapper.toxicity", "float32"),
            true
        )
    );
    assert_eq!(
        send(request("PATCH", "/proxies/db/toxics/latency_downstream", r#"{"toxicity":"0.5"}"#)),
        expected("400 Bad Request", &[ERROR_TYPE, NOSNIFF], &go(".toxicity", "float32"), true)
    );
    assert_eq!(
        send(request("PATCH", "/proxies/db/toxics/latency_downstream", r#"{"attributes":"slow"}"#)),
        expected(
            "400 Bad Request",
            &[ERROR_TYPE, NOSNIFF],
            &go(".attributes", "toxics.LatencyToxic"),
            true
        )
    );
    assert_eq!(
        send(request(
            "PATCH",
            "/proxies/db/toxics/latency_downstream",
            r#"{"name":5,"stream":"","type":[],"attributes":{"jitter":0}}"#
        )),
        expected(
            "200 OK",
            &[JSON_TYPE],
            r#"{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#,
            true
        )
    );

    // `null` keeps the address; the live connection survives.
    let mut live = connect(first);
    round_trip(&mut live, b"before");
    let kept = api.call("PATCH", "/proxies/db", Some(json!({"listen": null})));
    assert_eq!(kept.json().expect("json")["listen"], first.to_string());
    round_trip(&mut live, b"after a null listen");

    // `""` listens anew on a fresh port; the old one is closed.
    let moved = send(request("PATCH", "/proxies/db", r#"{"listen":""}"#));
    let listen: Value = serde_json::from_str::<Value>(&moved.body).expect("json")["listen"].clone();
    let listen: SocketAddr = listen.as_str().expect("listen").parse().expect("address");
    assert_ne!(listen, first);
    assert!(listen.ip().is_loopback(), "{listen}");
    let toxics = r#"[{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1},{"attributes":{"delay":0},"name":"slow_close_downstream","type":"slow_close","stream":"downstream","toxicity":1}]"#;
    let body = format!(
        r#"{{"name":"db","listen":"{listen}","upstream":"{echo}","enabled":true,"Logger":{{}},"toxics":{toxics}}}"#
    );
    assert_eq!(moved, expected("200 OK", &[JSON_TYPE], &body, true));
    assert!(refused(first), "the old address still listens");
    round_trip(&mut connect(listen), b"at the new address");

    // Disabled, `""` is kept for the next start, which takes a fresh port.
    api.call("PATCH", "/proxies/db", Some(json!({"enabled": false})));
    let parked = api.call("PATCH", "/proxies/db", Some(json!({"listen": ""})));
    assert_eq!(parked.json().expect("json")["listen"], "127.0.0.1:0");
    let started = api.call("PATCH", "/proxies/db", Some(json!({"enabled": true})));
    let restarted: SocketAddr =
        started.json().expect("json")["listen"].as_str().expect("listen").parse().expect("address");
    round_trip(&mut connect(restarted), b"started anew");

    // `"upstream": ""` could never be dialled: refused, nothing changes.
    assert_eq!(
        send(request("PATCH", "/proxies/db", r#"{"upstream":""}"#)),
        expected(
            "400 Bad Request",
            &[ERROR_TYPE, NOSNIFF],
            "{\"error\":\"invalid upstream address \\\"\\\": expected HOST:PORT\",\"status\":400}\n",
            true
        )
    );
    let same = api.call("GET", "/proxies/db", None).json().expect("json");
    assert_eq!(same["upstream"], echo.to_string());
    assert_eq!(same["listen"], restarted.to_string());
}

/// A raw HTTP server that answers every request with `status` and `body`
/// (with `Content-Type: content_type`), as a gateway or an unrelated web
/// server in front of the URL would.
async fn canned_server(
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
) -> SocketAddr {
    custom_server(move |mut stream| async move {
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !request.windows(4).any(|window| window == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => request.extend_from_slice(&buffer[..count]),
            }
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await
}

/// A name that is taken (409) is named in the message, as a name that is
/// not found is: `proxy already exists` alone did not say which, nor did
/// `toxic already exists` for a toxic named by default (`TYPE_STREAM`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_names_the_name_that_is_taken() {
    let api = start_api().await;
    let echo = echo_server().await.to_string();
    let url = api.url();
    let run = |args: &[&str]| tokio::task::block_in_place(|| porthole(args, &url));
    assert_eq!(run(&["proxy", "create", "db", "--upstream", &echo]).0, 0);
    assert_eq!(
        run(&["proxy", "create", "db", "--upstream", &echo]),
        (2, String::new(), "porthole: proxy db: proxy already exists (HTTP 409)\n".to_string())
    );
    assert_eq!(run(&["proxy", "toxic", "add", "db", "-t", "latency", "--upstream"]).0, 0);
    assert_eq!(
        run(&["proxy", "toxic", "add", "db", "-t", "latency", "--upstream"]),
        (
            2,
            String::new(),
            "porthole: proxy db, toxic latency_upstream: toxic already exists (HTTP 409)\n"
                .to_string()
        )
    );
    assert_eq!(run(&["proxy", "toxic", "add", "db", "-t", "noop", "-n", "odd name"]).0, 0);
    assert_eq!(
        run(&["proxy", "toxic", "add", "db", "-t", "noop", "-n", "odd name"]),
        (
            2,
            String::new(),
            "porthole: proxy db, toxic 'odd name': toxic already exists (HTTP 409)\n".to_string()
        )
    );
    // An empty `-n` is no name: the API names the toxic by default, as
    // Toxiproxy does, and that is the name that is taken.
    assert_eq!(
        run(&["proxy", "toxic", "add", "db", "-t", "latency", "--upstream", "-n", ""]),
        (
            2,
            String::new(),
            "porthole: proxy db, toxic latency_upstream: toxic already exists (HTTP 409)\n"
                .to_string()
        )
    );
}

/// The client verbs against a URL that answers, but not as the API does:
/// an error status without the API's `{"error": ...}` (an HTML 500 page,
/// Toxiproxy's own empty 503 after 25 s) is named as such instead of
/// printed as if it were the API's message (or as an empty one), and a
/// `DELETE` answered 200 is not reported as deleted. Each exits 2 with one
/// line, escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_names_answers_that_are_not_the_api() {
    let html = canned_server(
        "500 Internal Server Error",
        "text/html",
        "<html>\u{1b}[31m\n<body>Internal Server Error</body></html>",
    )
    .await;
    let empty = canned_server("503 Service Unavailable", "text/plain", "").await;
    let anything = canned_server("200 OK", "text/plain", "hello, not JSON").await;
    let url = |address: SocketAddr| format!("http://{address}");

    let run = |args: &[&str], address: SocketAddr| {
        tokio::task::block_in_place(|| porthole(args, &url(address)))
    };
    for args in [
        &["proxy", "list"][..],
        &["proxy", "delete", "db"],
        &["proxy", "toxic", "remove", "db", "-n", "slow"],
    ] {
        assert_eq!(
            run(args, html),
            (
                2,
                String::new(),
                format!(
                    "porthole: the server at {html} answered HTTP 500 without an API error: <html>\\x1b[31m…\n"
                )
            ),
            "{args:?}"
        );
        assert_eq!(
            run(args, empty),
            (
                2,
                String::new(),
                format!("porthole: the server at {empty} answered HTTP 503 with an empty body\n")
            ),
            "{args:?}"
        );
    }
    for args in [&["proxy", "delete", "db"][..], &["proxy", "toxic", "remove", "db", "-n", "slow"]]
    {
        assert_eq!(
            run(args, anything),
            (
                2,
                String::new(),
                format!("porthole: the server at {anything} answered DELETE with HTTP 200, not the proxy API's 204 No Content: nothing was deleted (hello, not JSON)\n")
            ),
            "{args:?}"
        );
    }
}

/// The client verbs against a URL where something other than the API
/// answers with success or does not speak HTTP at all: a web server's page,
/// an empty 200, JSON of another shape, a server that greets first (SSH,
/// MariaDB) or hangs up (Redis on an HTTP request). Each exits 2 with one
/// line naming the address and what came, escaped; they used to print a
/// JSON parser's complaint (`expected value at line 1 column 1`,
/// `invalid length 0, expected struct ProxyWire with 6 elements`) without
/// the address, and a greeting server held every command for `--timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_names_servers_that_are_not_the_api() {
    let page =
        canned_server("200 OK", "text/html; charset=utf-8", "<html>\u{1b}[31mhello</html>").await;
    let empty = canned_server("200 OK", "application/json", "").await;
    let shape = canned_server("200 OK", "application/json", "[1,2]").await;
    let greeting = custom_server(|mut stream| async move {
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n").await;
        // Waits for the client's key exchange, as an SSH server does.
        tokio::time::sleep(Duration::from_secs(120)).await;
    })
    .await;
    let hangs_up = custom_server(|mut stream| async move {
        let _ = stream.read(&mut [0u8; 4096]).await;
    })
    .await;
    // Hangs up with a reset, as a server that closes with part of the
    // request unread does: the same answer as a close.
    let resets = custom_server(|mut stream| async move {
        let _ = stream.read(&mut [0u8; 16]).await;
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    })
    .await;
    let run = |args: &[&str], address: SocketAddr| {
        let mut args = args.to_vec();
        args.extend(["--timeout", "60s"]);
        tokio::task::block_in_place(|| porthole(&args, &format!("http://{address}")))
    };
    let cases: [(SocketAddr, String); 6] = [
        (page, format!("the server at {page} answered HTTP 200 with text/html, not the proxy API's JSON: <html>\\x1b[31mhello</html>")),
        (empty, format!("the server at {empty} answered HTTP 200 with an empty body, not the proxy API's JSON")),
        (shape, format!("the server at {shape} answered HTTP 200 with JSON of another shape, not the proxy API's JSON: [1,2]")),
        (greeting, format!("the server at {greeting} does not speak HTTP (it answered \"SSH-2.0-OpenSSH_9.2p1\"): is the proxy API there?")),
        (hangs_up, format!("the server at {hangs_up} does not speak HTTP (it closed the connection without an answer): is the proxy API there?")),
        (resets, format!("the server at {resets} does not speak HTTP (it closed the connection without an answer): is the proxy API there?")),
    ];
    for (address, message) in &cases {
        for args in [
            &["proxy", "list"][..],
            &["proxy", "inspect", "db"],
            &["proxy", "create", "db", "--upstream", "127.0.0.1:5432"],
            &["proxy", "toxic", "add", "db", "-t", "latency", "-a", "latency=10"],
        ] {
            assert_eq!(
                run(args, *address),
                (2, String::new(), format!("porthole: {message}\n")),
                "{args:?}"
            );
        }
    }
}

/// An answer cut short (fewer body bytes than `Content-Length` says) and a
/// connection reset after the request are one line that names the address
/// the client talked to, as every other client failure does; both used to
/// say only "malformed response from the proxy API" or "talking to the
/// proxy API: Connection reset by peer". A reset with no answer reads as a
/// close with no answer: which of the two a server that hangs up sends
/// depends on whether the whole request had arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_names_the_address_of_a_cut_short_or_reset_answer() {
    let cut_short = custom_server(|mut stream| async move {
        let _ = stream.read(&mut [0u8; 4096]).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"")
            .await;
    })
    .await;
    let resets = custom_server(|mut stream| async move {
        let _ = stream.read(&mut [0u8; 4096]).await;
        // Linger 0: the close sends a reset instead of a FIN.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    })
    .await;
    for (address, start) in [
        (cut_short, format!("porthole: malformed response from the proxy API at {cut_short}: ")),
        (
            resets,
            format!("porthole: the server at {resets} does not speak HTTP (it closed the connection without an answer)"),
        ),
    ] {
        let (code, stdout, stderr) = tokio::task::block_in_place(|| {
            porthole(&["proxy", "list", "--timeout", "60s"], &format!("http://{address}"))
        });
        assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
        assert!(stderr.starts_with(&start), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A name that is not UTF-8 is read as Go reads it, each stray byte a
/// U+FFFD, and the proxy is created (Toxiproxy takes it; porthole used to
/// refuse the body as JSON it could not parse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_are_not_utf8_are_read_as_go_reads_them() {
    let api = start_api().await;
    let echo = echo_server().await;
    // `café` in Latin-1: the 0xe9 byte is no UTF-8.
    let mut raw = br#"{"name":"caf"#.to_vec();
    raw.push(0xe9);
    raw.extend_from_slice(
        format!(r#"-db","listen":"127.0.0.1:0","upstream":"{echo}"}}"#).as_bytes(),
    );
    let head = format!(
        "POST /proxies HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        raw.len()
    );
    let created =
        tokio::task::block_in_place(|| api.client.exchange(head.as_bytes(), &raw)).expect("create");
    assert_eq!(created.status, 201, "{}", created.text());
    let proxy = created.json().expect("json");
    assert_eq!(proxy["name"], "caf\u{fffd}-db");
    let listen: SocketAddr = proxy["listen"].as_str().expect("listen").parse().expect("address");
    round_trip(&mut connect(listen), b"through a Latin-1 name");
    let listed = api.call("GET", "/proxies", None).json().expect("json");
    assert!(listed.get("caf\u{fffd}-db").is_some(), "{listed}");
}

/// `proxy run` durations are whole milliseconds (`--slice-delay` whole
/// microseconds), as the toxics take them: a fraction is refused instead
/// of cut off (`--latency 100us` used to run with no latency at all), and
/// an out-of-range value is named as given.
#[test]
fn one_shot_refuses_durations_the_toxic_cannot_hold() {
    for (flags, message) in [
        (&["--latency", "100us"][..], "--latency '100us': the toxic counts whole milliseconds"),
        (
            &["--latency", "5ms", "--jitter", "1.5ms"],
            "--jitter '1.5ms': the toxic counts whole milliseconds",
        ),
        (
            &["--slicer", "10B", "--slice-delay", "1.5us"],
            "--slice-delay '1.5us': the toxic counts whole microseconds",
        ),
        (
            &["--timeout", "99999999999ms"],
            "--timeout: 99999999999 ms is out of range (allowed: 0 to 2147483647 ms)",
        ),
    ] {
        let output = Command::new(BINARY)
            .args(["proxy", "run", "127.0.0.1:0", "--to", "127.0.0.1:9"])
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .expect("run porthole");
        assert_eq!(
            (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned()),
            (Some(2), format!("porthole: {message}\n")),
            "{flags:?}"
        );
    }
}

/// A toxic added to and removed from a proxy with 1,000 live connections
/// reaches every one of them (each message written after the add comes back
/// at least the latency later; after the removal every connection still
/// carries its bytes intact), and the API answers throughout. A proxy
/// deleted under them closes them all, and one re-created on the same port
/// takes new clients at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_reach_a_thousand_live_connections_and_a_recreated_proxy_takes_the_port() {
    const CONNECTIONS: usize = 1000;
    const LATENCY: Duration = Duration::from_millis(200);
    // Client, echo and two proxy ends per connection live in this process.
    let limit = raise_fd_limit();
    if limit < (CONNECTIONS as u64) * 4 + 200 {
        crate::util::skip(&format!(
            "needs {} descriptors, the limit is {limit}",
            CONNECTIONS * 4 + 200
        ));
        return;
    }
    let api = start_api().await;
    let echo = echo_server().await;
    let listen = api.proxy("crowd", echo);
    let active = |api: &Api| {
        metric(&api.call("GET", "/metrics", None).text(), "toxiproxy_proxy_active_connections")
    };

    tokio::task::block_in_place(|| {
        let mut streams: Vec<TcpStream> = (0..CONNECTIONS).map(|_| connect(listen)).collect();
        for (index, stream) in streams.iter_mut().enumerate() {
            round_trip(stream, format!("hello {index}").as_bytes());
        }
        assert_eq!(active(&api), CONNECTIONS as u64);

        let latency = LATENCY.as_millis() as u64;
        api.toxic("crowd", json!({"type": "latency", "attributes": {"latency": latency}}));
        let written: Vec<Instant> = streams
            .iter_mut()
            .enumerate()
            .map(|(index, stream)| {
                stream.write_all(format!("{index:>6}").as_bytes()).expect("write");
                Instant::now()
            })
            .collect();
        for (index, (stream, written)) in streams.iter_mut().zip(written).enumerate() {
            let mut back = [0u8; 6];
            stream.read_exact(&mut back).expect("echo under the toxic");
            assert_eq!(back, format!("{index:>6}").as_bytes());
            let took = written.elapsed();
            assert!(took >= LATENCY - Duration::from_millis(2), "connection {index}: {took:?}");
        }

        let removed = api.call("DELETE", "/proxies/crowd/toxics/latency_downstream", None);
        assert_eq!(removed.status, 204, "{}", removed.text());
        for (index, stream) in streams.iter_mut().enumerate() {
            round_trip(stream, format!("after {index}").as_bytes());
        }

        let deleted = api.call("DELETE", "/proxies/crowd", None);
        assert_eq!(deleted.status, 204, "{}", deleted.text());
        for (index, stream) in streams.iter_mut().enumerate() {
            let (rest, end) = read_to_end(stream);
            assert!(rest.is_empty(), "connection {index} got {rest:?}");
            assert!(end.is_ok() || end == Err(ErrorKind::ConnectionReset), "{index}: {end:?}");
        }
        let again = api.call(
            "POST",
            "/proxies",
            Some(json!({"name": "crowd", "listen": listen.to_string(), "upstream": echo.to_string()})),
        );
        assert_eq!(again.status, 201, "{}", again.text());
        round_trip(&mut connect(listen), b"on the same port");
    });
}

/// An upstream name with several addresses is dialled as Go dials it: one
/// after the other until one answers. Here `multi.test` is `::1` (nothing
/// listens there, and it sorts first) and `127.0.0.1` (the echo server).
#[test]
fn an_upstream_name_with_several_addresses_is_tried_address_by_address() {
    if !crate::util::is_root() {
        crate::util::skip("a private mount namespace (for /etc/hosts) needs root");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let echo = runtime.block_on(echo_server());
    let (_server, url, _directory) =
        serve_with_etc_file("/etc/hosts", "::1 multi.test\n127.0.0.1 multi.test\n");
    let client = ApiClient::new(&url).expect("url");
    let upstream = format!("multi.test:{}", echo.port());
    let created = client
        .request(
            "POST",
            "/proxies",
            Some(&json!({"name": "multi", "listen": "127.0.0.1:0", "upstream": upstream})),
            &[],
        )
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.text());
    let listen: SocketAddr =
        created.json().expect("json")["listen"].as_str().expect("listen").parse().expect("address");
    for attempt in 0..3 {
        round_trip(&mut connect(listen), format!("via the second address {attempt}").as_bytes());
    }
}

/// `SIGTERM` or `SIGINT` to `proxy serve` with a client connected through
/// one of its proxies: the server exits 0 (as Toxiproxy does), the client
/// sees its connection end, and nothing listens on the API or proxy ports
/// any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ends_cleanly_on_a_signal_with_live_connections() {
    let echo = echo_server().await;
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let (child, url) = spawn_server(&[]);
        let mut server = KillOnDrop(child);
        let client = ApiClient::new(&url).expect("url");
        let body = json!({"name": "live", "listen": "127.0.0.1:0", "upstream": echo.to_string()});
        let created =
            tokio::task::block_in_place(|| client.request("POST", "/proxies", Some(&body), &[]))
                .expect("create");
        assert_eq!(created.status, 201, "{}", created.text());
        let listen: SocketAddr = created.json().expect("json")["listen"]
            .as_str()
            .expect("listen")
            .parse()
            .expect("address");
        let mut stream = connect(listen);
        round_trip(&mut stream, b"before the signal");

        let pid = rustix::process::Pid::from_raw(server.0.id() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("signal");
        let status = tokio::task::block_in_place(|| server.0.wait()).expect("exit status");
        assert_eq!(status.code(), Some(0), "{signal:?}");
        let (rest, end) = tokio::task::block_in_place(|| read_to_end(&mut stream));
        assert!(rest.is_empty(), "{signal:?}: {rest:?}");
        assert!(end.is_ok() || end == Err(ErrorKind::ConnectionReset), "{signal:?}: {end:?}");
        let api: SocketAddr = url.trim_start_matches("http://").parse().expect("API address");
        assert!(refused(api) && refused(listen), "{signal:?}: a port still listens");
    }
}

/// A `listen` name or IPv6 literal with port 0 is reported as the address
/// bound, as Toxiproxy reports it: `localhost:0` as `127.0.0.1:PORT` (Go
/// binds a name's first IPv4 address), `[::1]:0` as `[::1]:PORT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_names_are_reported_as_the_address_bound() {
    let api = start_api().await;
    let echo = echo_server().await;
    for (name, listen, ip) in [("by-name", "localhost:0", "127.0.0.1"), ("v6", "[::1]:0", "::1")] {
        let created = api.call(
            "POST",
            "/proxies",
            Some(json!({"name": name, "listen": listen, "upstream": echo.to_string()})),
        );
        assert_eq!(created.status, 201, "{}", created.text());
        let reported =
            created.json().expect("json")["listen"].as_str().expect("listen").to_string();
        let bound: SocketAddr = reported.parse().expect("a socket address");
        assert_eq!(
            (bound.ip().to_string(), bound.port() != 0),
            (ip.to_string(), true),
            "{reported}"
        );
        round_trip(&mut connect(bound), b"at the reported address");
        let listed = api.call("GET", &format!("/proxies/{name}"), None).json().expect("json");
        assert_eq!(listed["listen"], reported);
    }
}

/// `proxy list` with no server names the command that starts one where it
/// looks, and that command, run as printed, starts a server the same `list`
/// then reaches: plain `porthole proxy serve` for the default URL, with
/// `--listen` for another port, an IPv6 address or a name (`proxy serve`
/// alone listens on 127.0.0.1:8474, which those would still miss). A URL
/// with a path, which `proxy serve` does not serve under, gets words rather
/// than a command, and so does a failure other than a refusal. In a private
/// network namespace, so that 8474 is free.
#[test]
fn no_server_names_the_command_that_starts_one_there() {
    use crate::util::{printed_after, run, scrub, Netns};
    let Some(netns) = Netns::create() else { return };
    let directory = std::path::Path::new(BINARY).parent().expect("the binary's directory");
    let path = format!("{}:{}", directory.display(), std::env::var("PATH").unwrap_or_default());
    let list = |url: Option<&str>| {
        let mut command = netns.command(BINARY);
        scrub(&mut command);
        command.args(["proxy", "list"]);
        if let Some(url) = url {
            command.args(["--url", url]);
        }
        run(&mut command)
    };
    for url in
        [None, Some("http://127.0.0.1:9474"), Some("http://[::1]:9475"), Some("localhost:9476")]
    {
        let refused = list(url);
        assert_eq!(refused.code, 2, "{url:?}: {refused:?}");
        assert_eq!(refused.stderr.lines().count(), 1, "{url:?}: {refused:?}");
        let printed = printed_after(&refused.stderr, "start it with `").trim_end_matches('`');
        assert_eq!(printed.contains("--listen"), url.is_some(), "{url:?}: {printed}");
        let mut shell = netns.command("sh");
        scrub(&mut shell);
        let mut child = shell
            .args(["-c", &format!("exec {printed}")])
            .env("PATH", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line).expect("read");
        let _server = KillOnDrop(child);
        assert!(line.contains("listening"), "{printed}: {line}");
        let reached = list(url);
        assert_eq!(reached.code, 0, "{url:?} after {printed}: {reached:?}");
    }
    let prefixed = list(Some("http://127.0.0.1:9477/toxiproxy"));
    assert_eq!(
        (prefixed.code, prefixed.stderr.as_str()),
        (
            2,
            "porthole: cannot reach the proxy API at 127.0.0.1:9477: connection refused (no \
             proxy API server listens there)\n"
        )
    );
    // Not on this machine and no route there: the OS's words alone.
    let unreachable = list(Some("http://192.0.2.1:8474"));
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    assert!(!unreachable.stderr.contains('`'), "{unreachable:?}");
}

/// A stand-in server process on `port` (0: one the kernel picks) that
/// greets every client with a chunk and closes only after the client has;
/// prints its port.
const STREAMING: &str = r#"
import socket, sys, threading
def serve(c):
    c.sendall(b"tick\n" * 100)
    while c.recv(4096):
        pass
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"#;

/// The upstream process dies with a client streaming through the proxy:
/// the client sees the close, a client arriving while it is down is closed
/// and counted as one that could not reach it, and once it is back on its
/// port a new client is served. `/metrics` says what happened (a connection
/// closed by the upstream first, one that could not reach it); a client
/// that closes first is not counted as closed by the upstream. The one-shot
/// proxy's summary names the same count. Other programs on this machine
/// may connect to the proxy meanwhile (port scans), so counts that they
/// could raise are compared with at least, and the one they cannot (this
/// server never closes first while it lives) exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_dies_mid_stream_and_comes_back() {
    let api = start_api().await;
    let (server, mut ready) = crate::util::python(STREAMING, &["0"]);
    let port: u16 = crate::util::wait_for_line(&mut ready).parse().expect("a port");
    let upstream = SocketAddr::from(([127, 0, 0, 1], port));
    let listen = api.proxy("dies", upstream);
    let count = |name: &str| metric(&api.call("GET", "/metrics", None).text(), name);

    let mut streaming = patient(listen);
    let mut greeting = [0u8; 500];
    streaming.read_exact(&mut greeting).expect("the stream starts");
    drop(server); // SIGKILL, reaped
    let (_, end) = read_to_end(&mut streaming);
    assert!(end.is_ok() || end == Err(ErrorKind::ConnectionReset), "{end:?}");
    drop(streaming);
    let settled = crate::util::eventually(PATIENCE, || {
        count("toxiproxy_proxy_upstream_closed_total") >= 1
            && count("toxiproxy_proxy_active_connections") == 0
    });
    assert!(settled, "{}", api.call("GET", "/metrics", None).text());
    let closed = count("toxiproxy_proxy_upstream_closed_total");

    // While it is down: closed at once, counted as not reached.
    let (data, _) = read_to_end(&mut patient(listen));
    assert!(data.is_empty(), "{data:?}");
    let failed =
        crate::util::eventually(PATIENCE, || count("toxiproxy_proxy_upstream_failures_total") >= 1);
    assert!(failed, "{}", api.call("GET", "/metrics", None).text());

    // Back on its port: a new client is served; it closes first.
    let (_server, mut ready) = crate::util::python(STREAMING, &[&port.to_string()]);
    assert_eq!(crate::util::wait_for_line(&mut ready), port.to_string());
    let mut again = patient(listen);
    again.read_exact(&mut greeting).expect("a new client is served");
    drop(again);
    let settled =
        crate::util::eventually(PATIENCE, || count("toxiproxy_proxy_active_connections") == 0);
    assert!(settled, "{}", api.call("GET", "/metrics", None).text());
    assert_eq!(count("toxiproxy_proxy_upstream_closed_total"), closed);

    // The one-shot proxy says it in its summary: a server that greets and
    // hangs up closes first.
    let (_greeter, ports) = crate::util::answering(
        Command::new("python3"),
        &[crate::util::Answering::greeting("127.0.0.1", 0, b"bye\n")],
    );
    let greeter = format!("127.0.0.1:{}", ports[0]);
    let mut one_shot = OneShot::start(&["127.0.0.1:0", "--to", &greeter]);
    let listen = OneShot::listen(&one_shot.line());
    let (data, _) = read_to_end(&mut patient(listen));
    assert_eq!(data, b"bye\n");
    let (code, out, rest) = one_shot.interrupt();
    assert_eq!(code, Some(0), "{out}{rest}");
    // N connection(s) in 0.1s (0 could not reach 127.0.0.1:PORT, M closed by it first);
    // other programs' port scans may add connections.
    let first = out.lines().next().unwrap_or_default();
    let number = |word: Option<&str>| -> u64 {
        word.and_then(|word| word.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no count in {first:?}"))
    };
    let (total, closed) = (number(Some(first)), number(first.rsplit(", ").next()));
    assert!(closed >= 1 && closed <= total, "{out}{rest}");
    let noun = if total == 1 { "connection" } else { "connections" };
    assert!(first.starts_with(&format!("{total} {noun} in ")), "{out}");
}

/// `proxy serve` and `proxy run` on a port another program listens on say
/// who holds it, in one line with exit 2, instead of the bare "Address
/// already in use (os error 98)".
#[test]
fn a_listen_port_in_use_names_its_holder() {
    let (holder, ports) = crate::util::answering(
        Command::new("python3"),
        &[crate::util::Answering::greeting("0.0.0.0", 0, b"")],
    );
    let listen = format!("127.0.0.1:{}", ports[0]);
    let held = format!("; 0.0.0.0:{} held by ", ports[0]);
    let upstream = format!("127.0.0.1:{}", free_port());
    for (args, start) in [
        (vec!["proxy", "serve", "--listen", &listen], format!("cannot listen on {listen}")),
        (vec!["proxy", "run", &listen, "--to", &upstream], format!("listen tcp {listen}: bind")),
    ] {
        let output = crate::util::porthole_run(&args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {output:?}");
        assert!(output.stderr.starts_with(&format!("porthole: {start}")), "{output:?}");
        assert!(output.stderr.contains("address already in use"), "{output:?}");
        assert!(output.stderr.contains(&held), "{args:?}: {output:?}");
        assert!(output.stderr.contains(&format!("(pid {}", holder.pid())), "{output:?}");
    }
}

/// `proxy run --to` a name that does not resolve starts (the name is looked
/// up again for every client, and may resolve later) but says so first, in
/// one line; its clients are closed and counted as not reaching it.
#[test]
fn one_shot_warns_of_an_upstream_name_that_does_not_resolve() {
    let upstream = format!("nonexist.invalid:{}", free_port());
    let mut one_shot = OneShot::start(&["127.0.0.1:0", "--to", &upstream]);
    let (warning, started) = (one_shot.line(), one_shot.line());
    assert!(
        warning
            .starts_with(&format!("porthole: warning: --to {upstream}: lookup nonexist.invalid: ")),
        "{warning}"
    );
    assert!(warning.ends_with("; every client is closed at once until it resolves\n"), "{warning}");
    let (data, _) = read_to_end(&mut patient(OneShot::listen(&started)));
    assert!(data.is_empty(), "{data:?}");
    let (code, out, _) = one_shot.interrupt();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("could not reach {upstream}")), "{out}");
    assert!(!out.contains("(0 could not reach"), "{out}");
}

/// A proxy or toxic name with a space reads as one name in the lines the
/// CLI prints after a change (`Created proxy 'a b' …`), as in its errors
/// (`proxy 'a b': proxy not found`); a plain name stays bare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_spaces_read_as_one_name_in_confirmations() {
    let api = start_api().await;
    let url = api.url();
    let upstream = format!("127.0.0.1:{}", free_port());
    let steps: [(&[&str], &str); 5] = [
        (&["proxy", "create", "a b", "--upstream", &upstream], "Created proxy 'a b' listening on "),
        (&["proxy", "toggle", "a b"], "Disabled proxy 'a b' listening on "),
        (
            &["proxy", "toxic", "add", "a b", "-t", "latency", "-n", "slow one"],
            "Added latency toxic 'slow one' on 'a b' (downstream",
        ),
        (
            &["proxy", "toxic", "remove", "a b", "-n", "slow one"],
            "Removed toxic 'slow one' from 'a b'\n",
        ),
        (&["proxy", "delete", "a b"], "Deleted proxy 'a b'\n"),
    ];
    for (args, start) in steps {
        let (code, out, err) = porthole(args, &url);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with(start), "{args:?}: {out}");
    }
    let (code, out, err) = porthole(&["proxy", "create", "plain", "--upstream", &upstream], &url);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Created proxy plain listening on "), "{out}");
}
