//! The dashboard of `porthole monitor --serve` and `porthole dashboard`:
//! a real recorder in a private network namespace (so only the test's own
//! traffic shows), reached over real HTTP, rendered by headless Chromium
//! driven through chromedriver, scraped and checked with `promtool`, and
//! audited by `porthole audit` itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{
    binary, eventually, installed, python_in, scrub, server_in, skip, wait_for_line, ChildGuard,
    Netns,
};

/// The dashboard's port inside the test's namespace (private, so fixed).
pub(crate) const PORT: u16 = 7878;

/// A running `porthole monitor --serve` (or `porthole dashboard`).
pub(crate) struct Served {
    _child: ChildGuard,
    pub(crate) token: String,
    stderr: Arc<Mutex<String>>,
}

/// Starts porthole with `args` inside `netns` and waits for the URL line.
pub(crate) fn serve(netns: &Netns, args: &[&str]) -> Served {
    let mut command = netns.command(binary().to_str().expect("utf-8 path"));
    scrub(&mut command);
    porthole::sys::signal::start_with_default_signals(&mut command);
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("porthole starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let error = child.stderr.take().expect("piped stderr");
    let text = Arc::clone(&stderr);
    std::thread::spawn(move || {
        for line in BufReader::new(error).lines() {
            let Ok(line) = line else { break };
            let mut text = text.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    let child = ChildGuard(child);
    // Loading eBPF parses the kernel's BTF, slow in a debug build on a busy
    // machine: the bound is generous, the usual wait a second or two.
    let started = eventually(Duration::from_secs(90), || {
        stderr.lock().unwrap().contains("porthole: dashboard on http://")
    });
    assert!(started, "no dashboard URL; stderr:\n{}", stderr.lock().unwrap());
    // stderr is a pipe here, as under systemd: the token is in its file,
    // never in the log.
    let file = args
        .iter()
        .position(|arg| *arg == "--token-file")
        .map(|index| args[index + 1])
        .expect("every test names its --token-file");
    let token = std::fs::read_to_string(file).expect("token file").trim().to_string();
    let said = stderr.lock().unwrap().clone();
    assert!(!said.contains(&token), "the token reached the log:\n{said}");
    assert!(said.contains(&format!("the token in {file};")), "{said}");
    Served { _child: child, token, stderr }
}

fn record_and_serve(netns: &Netns, directory: &std::path::Path) -> Served {
    let store = directory.join("history.sqlite");
    let token = directory.join("dashboard.token");
    serve(
        netns,
        &[
            "monitor",
            "--serve",
            &format!("127.0.0.1:{PORT}"),
            "--store",
            store.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ],
    )
}

/// `porthole dashboard` of the SQLite `store` on 127.0.0.1:`port`, its
/// token in `directory`.
fn serve_store(
    netns: &Netns,
    store: &std::path::Path,
    directory: &std::path::Path,
    port: u16,
) -> Served {
    serve(
        netns,
        &[
            "dashboard",
            "--serve",
            &format!("127.0.0.1:{port}"),
            "--store",
            store.to_str().unwrap(),
            "--token-file",
            directory.join("dashboard.token").to_str().unwrap(),
        ],
    )
}

/// An HTTP response as the test reads it.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Runs `work` on a thread that entered `netns`, where 127.0.0.1 is the
/// namespace's own loopback.
fn in_netns<T: Send + 'static>(netns: &Netns, work: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{}", netns.name);
    std::thread::spawn(move || {
        porthole::sys::netns::enter(&path).expect("entering the test namespace");
        work()
    })
    .join()
    .expect("namespace thread")
}

/// One HTTP/1.1 request (Connection: close) to 127.0.0.1:`port` in `netns`.
fn http(
    netns: &Netns,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    http_at(netns, "127.0.0.1", port, method, path, headers, body)
}

/// [`http`] to `ip`:`port`, named so in `Host` unless `headers` has one.
fn http_at(
    netns: &Netns,
    ip: &'static str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {ip}:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    exchange(netns, ip, port, request)
}

/// Sends `request` as written to `ip`:`port` in `netns` and reads the answer.
fn exchange(netns: &Netns, ip: &'static str, port: u16, request: String) -> Response {
    let raw = in_netns(netns, move || {
        let mut stream = TcpStream::connect((ip, port)).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        stream.write_all(request.as_bytes()).expect("request written");
        // Read up to the end of the body: chromedriver keeps the
        // connection open despite `Connection: close`.
        let mut raw = Vec::new();
        let mut buffer = [0u8; 65536];
        loop {
            let read = stream.read(&mut buffer).expect("response read");
            if read == 0 {
                break;
            }
            raw.extend_from_slice(&buffer[..read]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok());
                if length.is_some_and(|length| raw.len() >= end + 4 + length) {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&raw).into_owned()
    });
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Response { status, headers, body: body.to_string() }
}

pub(crate) fn get(netns: &Netns, path: &str, headers: &[(&str, &str)]) -> Response {
    http(netns, PORT, "GET", path, headers, None)
}

pub(crate) fn api(netns: &Netns, served: &Served, path: &str) -> Value {
    let bearer = format!("Bearer {}", served.token);
    let response = get(netns, path, &[("Authorization", &bearer)]);
    assert_eq!(response.status, 200, "{path}: {response:?}");
    serde_json::from_str(&response.body).unwrap_or_else(|_| panic!("{path}: {}", response.body))
}

/// Asserts that `promtool check metrics` accepts `text`.
fn promtool_check(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}\non\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[test]
fn http_requests_need_the_token_a_loopback_host_and_no_foreign_origin() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let bearer = format!("Bearer {}", served.token);

    // The token file is the owner's alone.
    let token_file = directory.path().join("dashboard.token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).expect("token file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), served.token);

    for path in ["/", "/api/listeners", "/api/health", "/metrics"] {
        let response = get(&netns, path, &[]);
        assert_eq!(response.status, 401, "{path} without token: {response:?}");
        assert!(!response.body.contains("porthole dashboard"), "{path}");
    }
    let wrong = get(&netns, "/api/health", &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 401);

    // The token in the URL becomes an HttpOnly, SameSite=Strict cookie and
    // leaves the address bar.
    let login = get(&netns, &format!("/?token={}", served.token), &[]);
    assert_eq!(login.status, 303, "{login:?}");
    assert_eq!(login.header("location"), Some("/"));
    let cookie = login.header("set-cookie").expect("cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = get(&netns, "/", &[("Cookie", &pair)]);
    assert_eq!(page.status, 200);
    // The cookie is a session value, not the token: it opens the page but
    // is no token for a script.
    assert!(!cookie.contains(&served.token), "the token is in the cookie: {cookie}");
    let session = pair.split_once('=').unwrap().1;
    let as_bearer = get(&netns, "/api/health", &[("Authorization", &format!("Bearer {session}"))]);
    assert_eq!(as_bearer.status, 401, "{as_bearer:?}");
    // HEAD announces the length GET sends, with no body.
    for (path, credentials) in [("/", &[("Cookie", pair.as_str())][..]), ("/app.js", &[])] {
        let get = get(&netns, path, credentials);
        let head = http(&netns, PORT, "HEAD", path, credentials, None);
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.header("content-length"), Some(get.body.len().to_string().as_str()));
        assert_eq!(head.body, "", "HEAD {path}");
    }
    assert!(page.body.contains("<script src=\"/app.js\""), "{}", page.body);
    assert!(!page.body.contains("<script>"), "no inline script");

    // DNS rebinding: a foreign name in Host is refused even with the token.
    for host in ["rebind.example:7878", "127.0.0.1.nip.io:7878", "localhost.evil:7878"] {
        let response = get(&netns, "/api/health", &[("Host", host), ("Authorization", &bearer)]);
        assert_eq!(response.status, 403, "Host {host}: {response:?}");
    }
    for host in ["localhost:7878", "[::1]:7878", "127.0.0.1:7878"] {
        let response = get(&netns, "/api/health", &[("Host", host), ("Authorization", &bearer)]);
        assert_eq!(response.status, 200, "Host {host}: {response:?}");
    }
    // Cross-origin requests and anything but GET/HEAD are refused.
    let foreign = get(
        &netns,
        "/api/health",
        &[("Origin", "http://evil.example"), ("Authorization", &bearer)],
    );
    assert_eq!(foreign.status, 403);
    let post = http(
        &netns,
        PORT,
        "POST",
        "/api/listeners",
        &[("Origin", "http://evil.example"), ("Authorization", &bearer)],
        Some("{}"),
    );
    assert_eq!(post.status, 403);
    let post = http(&netns, PORT, "POST", "/api/listeners", &[("Authorization", &bearer)], None);
    assert_eq!(post.status, 405);
    let preflight = http(
        &netns,
        PORT,
        "OPTIONS",
        "/api/listeners",
        &[("Origin", "http://evil.example"), ("Access-Control-Request-Method", "GET")],
        None,
    );
    assert_eq!(preflight.status, 403);
    assert!(preflight.header("access-control-allow-origin").is_none());

    // Every answer carries the same locked-down headers.
    for response in [&page, &foreign, &wrong, &get(&netns, "/app.js", &[])] {
        let csp = response.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert!(response.header("access-control-allow-origin").is_none());
    }
    // The JSON the page uses: the dashboard lists itself, loopback only.
    let listeners = api(&netns, &served, "/api/listeners?port=7878");
    assert_eq!(listeners["total"], json!(1), "{listeners:#}");
    let row = &listeners["items"][0];
    assert_eq!(row["scope"], json!("loopback"));
    assert_eq!(row["exposed"], json!(false));
    assert_eq!(row["processes"][0]["name"], json!("porthole"));
    let health = api(&netns, &served, "/api/health");
    assert_eq!(health["schema_version"], json!(2));
    let bad = get(&netns, "/api/listeners?limit=100000", &[("Authorization", &bearer)]);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(served.stderr.lock().unwrap().contains("dashboard on http://127.0.0.1:7878/"));
}

#[test]
fn serving_on_another_address_needs_expose_and_says_what_it_means() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let token = directory.path().join("t");
    let store = directory.path().join("h.sqlite");
    let refused = netns.porthole(&[
        "dashboard",
        "--serve",
        "0.0.0.0:7879",
        "--store",
        store.to_str().unwrap(),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.starts_with("porthole: ") && refused.stderr.contains("--expose"));
    let served = serve(
        &netns,
        &[
            "dashboard",
            "--serve",
            "0.0.0.0:7878",
            "--expose",
            "--store",
            store.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    let said = eventually(Duration::from_secs(5), || {
        served.stderr.lock().unwrap().contains("exposed on 0.0.0.0:7878")
    });
    assert!(said, "{}", served.stderr.lock().unwrap());
    // Still token-protected and still refusing foreign names.
    assert_eq!(get(&netns, "/api/health", &[]).status, 401);
    let bearer = format!("Bearer {}", served.token);
    let rebound =
        get(&netns, "/api/health", &[("Host", "evil.example"), ("Authorization", &bearer)]);
    assert_eq!(rebound.status, 403);
}

/// `monitor --serve` on a taken port, or with a token file it must refuse,
/// started the recorder first: it printed `capture ebpf (…); recording this
/// network namespace` and then the error, and had loaded eBPF for nothing.
/// Now the token and the port come first: one line, exit 2.
/// A store this porthole can never read (a newer porthole's, another
/// program's file) is refused at start, one line and exit 2, as `porthole
/// history` refuses it. The dashboard used to serve it, saying nothing on
/// stderr and showing no history.
#[test]
fn a_dashboard_of_a_store_it_cannot_read_is_refused_at_start() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let newer = directory.path().join("newer.sqlite");
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let garbage = directory.path().join("garbage.sqlite");
    std::fs::write(&garbage, "not a database\n").unwrap();
    let token = directory.path().join("dashboard.token");
    for (store, why) in [
        (&newer, "has schema version 99, newer than this porthole knows"),
        (&garbage, "is not a SQLite database"),
    ] {
        // Bounded: a dashboard that serves stops at the SIGINT and exits 0.
        let mut command = netns.command("timeout");
        scrub(&mut command);
        let output = crate::util::run(command.args([
            "-s",
            "INT",
            "30",
            binary().to_str().unwrap(),
            "dashboard",
            "--store",
            store.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ]));
        assert_eq!(output.code, 2, "{output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
        assert!(output.stderr.contains(why), "{output:?}");
    }
}

#[test]
fn monitor_serve_on_a_taken_port_or_a_bad_token_file_says_one_line_before_recording() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("h.sqlite");
    let token = directory.path().join("t");
    // The port is held inside the namespace by a socket of the test's.
    let taken = in_netns(&netns, || std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    let address = taken.local_addr().expect("address").to_string();
    let output = netns.porthole(&[
        "monitor",
        "--serve",
        &address,
        "--store",
        store.to_str().unwrap(),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(
        output.stderr.starts_with(&format!("porthole: --serve {address}: binding")),
        "{output:?}"
    );
    assert!(!store.exists(), "nothing was recorded");

    std::fs::write(&token, "x".repeat(43)).expect("token file");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let output = netns.porthole(&[
        "monitor",
        "--serve",
        "127.0.0.1:0",
        "--store",
        store.to_str().unwrap(),
        "--token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("is readable by other users"), "{output:?}");
    assert!(!store.exists(), "nothing was recorded");
}

/// Whoever wrote the token file knows the token. A file another user left
/// at the `--token-file` path (in `/tmp`, before the first start) was used
/// as long as its mode was 0600, opening the dashboard to them; a link
/// another user made was followed, and the `chmod 600 PATH` printed for a
/// readable target would change whatever file it pointed at.
#[test]
fn a_token_file_or_link_another_user_made_is_refused() {
    if !crate::util::is_root() {
        skip("giving a file to another user needs root");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("h.sqlite");
    // Bounded: a dashboard that takes the file serves until it is stopped.
    let dashboard = |token: &std::path::Path| {
        let mut child = ChildGuard::spawn(
            crate::util::porthole()
                .args(["dashboard", "--serve", "127.0.0.1:0", "--store"])
                .arg(&store)
                .arg("--token-file")
                .arg(token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let exited =
            eventually(Duration::from_secs(60), || child.0.try_wait().expect("wait").is_some());
        let mut stderr = String::new();
        if exited {
            child.0.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
        }
        assert!(exited, "the dashboard took {} and serves", token.display());
        let code = child.0.wait().expect("wait").code().unwrap_or(-1);
        crate::util::Output { code, stdout: String::new(), stderr }
    };
    let nobody = 65534;
    let planted = directory.path().join("planted");
    std::fs::write(&planted, "known-to-another-user-0123456789\n").expect("token file");
    std::fs::set_permissions(&planted, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    std::os::unix::fs::chown(&planted, Some(nobody), Some(nobody)).expect("chown");
    let output = dashboard(&planted);
    assert_eq!(output.code, 2, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{output:?}");
    assert!(output.stderr.contains("belongs to uid 65534"), "{output:?}");

    // A link by another user to a file of root's that others may read.
    let target = directory.path().join("roots");
    std::fs::write(&target, "x".repeat(43)).expect("file");
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let link = directory.path().join("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    std::os::unix::fs::lchown(&link, Some(nobody), Some(nobody)).expect("lchown");
    let output = dashboard(&link);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("symbolic link made by uid 65534"), "{output:?}");
    assert!(!output.stderr.contains("chmod"), "no fix line for the link's target: {output:?}");
}

/// `--serve 0.0.0.0:PORT --expose`, opened from another device as
/// `http://LAN-ADDRESS:PORT/`: the browser names the address in `Host`,
/// which the allow-list refused (`403 host not allowed`), so an exposed
/// dashboard answered no one but loopback. The address the connection
/// arrived on is accepted; other names and addresses still are not.
#[test]
fn an_exposed_dashboard_answers_on_the_address_it_was_reached_at() {
    let Some(netns) = Netns::create() else { return };
    netns.run_ok("ip", &["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    netns.run_ok("ip", &["addr", "add", "10.9.9.9/24", "dev", "v0"]);
    netns.run_ok("ip", &["link", "set", "v0", "up"]);
    let directory = tempfile::tempdir().expect("temp dir");
    let served = serve(
        &netns,
        &[
            "dashboard",
            "--serve",
            &format!("0.0.0.0:{PORT}"),
            "--expose",
            "--store",
            directory.path().join("h.sqlite").to_str().unwrap(),
            "--token-file",
            directory.path().join("t").to_str().unwrap(),
        ],
    );
    let bearer = format!("Bearer {}", served.token);
    let at = |headers: &[(&str, &str)]| {
        http_at(&netns, "10.9.9.9", PORT, "GET", "/api/health", headers, None).status
    };
    assert_eq!(at(&[("Authorization", &bearer)]), 200, "Host: 10.9.9.9:{PORT}");
    assert_eq!(at(&[]), 401, "still token-protected");
    let own_origin = format!("http://10.9.9.9:{PORT}");
    assert_eq!(at(&[("Authorization", &bearer), ("Origin", &own_origin)]), 200);
    for host in ["10.9.9.10", "evil.example", "10.9.9.9.evil.example"] {
        assert_eq!(at(&[("Host", host), ("Authorization", &bearer)]), 403, "Host: {host}");
    }
    // Over loopback, 10.9.9.9 is not the address reached.
    let loopback = http(
        &netns,
        PORT,
        "GET",
        "/api/health",
        &[("Host", "10.9.9.9"), ("Authorization", &bearer)],
        None,
    );
    assert_eq!(loopback.status, 403, "{loopback:?}");
}

/// `--serve 127.0.0.2:PORT` is as local as 127.0.0.1, and the URL porthole
/// prints names it: the Host check accepted only 127.0.0.1, localhost and
/// [::1], so that URL answered `403 host not allowed`.
#[test]
fn the_printed_url_works_on_another_loopback_address() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let served = serve(
        &netns,
        &[
            "dashboard",
            "--serve",
            &format!("127.0.0.2:{PORT}"),
            "--store",
            directory.path().join("h.sqlite").to_str().unwrap(),
            "--token-file",
            directory.path().join("t").to_str().unwrap(),
        ],
    );
    let printed = served.stderr.lock().unwrap().clone();
    assert!(printed.contains(&format!("http://127.0.0.2:{PORT}/ ")), "{printed}");
    let login =
        http_at(&netns, "127.0.0.2", PORT, "GET", &format!("/?token={}", served.token), &[], None);
    assert_eq!(login.status, 303, "{login:?}");
    let bearer = format!("Bearer {}", served.token);
    let health = http_at(
        &netns,
        "127.0.0.2",
        PORT,
        "GET",
        "/api/health",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(health.status, 200, "{health:?}");
    // Other names are still refused.
    let rebound = http_at(
        &netns,
        "127.0.0.2",
        PORT,
        "GET",
        "/api/health",
        &[("Host", "evil.example"), ("Authorization", &bearer)],
        None,
    );
    assert_eq!(rebound.status, 403, "{rebound:?}");
}

/// A PostgreSQL store that is down: `/metrics` says so with
/// `porthole_store_up 0` and leaves out the counts it could not read.
/// Written as zeros, every counter looked reset to Prometheus, and the
/// whole count came back as new connections when the server did.
#[test]
fn metrics_leave_out_what_a_store_that_is_down_did_not_say() {
    let Some(netns) = Netns::create() else { return };
    if !installed("promtool") {
        skip("promtool is not installed (scripts/setup.sh installs prometheus)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let _server = server_in(&netns, "127.0.0.1", 8000, "http");
    // Nothing listens on 5432 in the test's namespace: connection refused.
    let served = serve(
        &netns,
        &[
            "dashboard",
            "--store",
            "postgres://porthole@127.0.0.1:5432/porthole",
            "--serve",
            &format!("127.0.0.1:{PORT}"),
            "--token-file",
            directory.path().join("t").to_str().unwrap(),
        ],
    );
    let scrape = || get(&netns, &format!("/metrics?token={}", served.token), &[]).body;
    let mut text = String::new();
    let listed = eventually(Duration::from_secs(30), || {
        text = scrape();
        text.contains("porthole_listener_open_connections{local_port=\"8000\"")
    });
    assert!(listed, "the listener on 8000 expected in\n{text}");
    assert_eq!(sample(&text, "porthole_store_up"), Some(0.0), "{text}");
    for family in [
        "porthole_listener_connections_total",
        "porthole_listener_received_bytes_total",
        "porthole_listener_sent_bytes_total",
        "porthole_listener_client_processes",
        "porthole_recorder_losses_total",
    ] {
        assert!(!text.contains(family), "{family} with the store down:\n{text}");
    }
    promtool_check(&text);
    let health = api(&netns, &served, "/api/health");
    assert!(health["store_note"].as_str().is_some_and(|note| note.contains("refused")), "{health}");
}

/// The dashboard audits every listener once a minute, and its probes are
/// connections. Counted, they were the only clients of a service no one
/// used: `porthole` its busiest client and its counters rising by a few
/// connections a minute. They are left out, of the store too; a real
/// client counts as before.
#[test]
fn the_dashboards_own_probes_are_not_counted_as_clients() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let _server = server_in(&netns, "127.0.0.1", 8000, "http");
    let store = directory.path().join("history.sqlite");
    // The audit of the new listener probes it at once (its HTTP probes
    // find DNS rebinding): wait until its findings are shown. The recorder
    // keeps none of its own connections.
    let mut listeners = Value::Null;
    let audited = eventually(Duration::from_secs(90), || {
        listeners = api(&netns, &served, "/api/listeners?port=8000");
        listeners["items"].as_array().is_some_and(|items| {
            items.iter().any(|item| {
                item["local_port"] == 8000
                    && item["findings"].as_array().is_some_and(|f| !f.is_empty())
            })
        })
    });
    assert!(audited, "the audit of :8000 never showed:\n{listeners:#}");
    // One real client, after the probe: once the dashboard counts it, it
    // has read the probe too.
    const REQUEST: &str =
        "GET /probe HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: close\r\n\r\n";
    let response = in_netns(&netns, || {
        let mut stream = TcpStream::connect(("127.0.0.1", 8000)).expect("connects");
        stream.write_all(REQUEST.as_bytes()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    });
    assert!(response.ends_with("hello"), "{response}");
    let prefix = "porthole_listener_connections_total{local_port=\"8000\"";
    let mut text = String::new();
    let counted = eventually(Duration::from_secs(30), || {
        text = get(&netns, &format!("/metrics?token={}", served.token), &[]).body;
        sample(&text, prefix).is_some_and(|count| count >= 1.0)
    });
    assert!(counted, "the test's connection to :8000 expected in\n{text}");
    assert_eq!(sample(&text, prefix), Some(1.0), "only the test's connection:\n{text}");
    assert_eq!(
        sample(&text, "porthole_listener_client_processes{local_port=\"8000\""),
        Some(1.0),
        "{text}"
    );
    let connections = api(&netns, &served, "/api/connections?port=8000");
    let clients = &connections["items"][0]["clients"];
    assert_eq!(connections["items"][0]["connections"], 1, "{connections:#}");
    assert!(
        clients.as_array().is_some_and(|c| c.iter().all(|c| c["process"]["name"] != "porthole")),
        "{connections:#}"
    );
    let history = netns.porthole(&[
        "history",
        "--store",
        store.to_str().unwrap(),
        "--connections",
        "--jsonl",
        "8000",
    ]);
    assert!(
        !history.stdout.lines().any(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|record| {
                record["type"] == "client" && record["process"]["name"] == "porthole"
            })
        }),
        "the audit's probes recorded:\n{}",
        history.stdout
    );
}

/// A shell loop that starts a new client for every connection listed one
/// "busiest client" per pid, and the program that kept connecting drowned.
/// The dashboard now groups clients by program as `porthole history`
/// does, with the same process count and pids, recorded for real; the
/// distinct client processes of the port still count every process.
#[test]
fn a_loop_of_short_clients_is_one_program_on_the_dashboard() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = directory.path().join("history.sqlite");
    let store_text = store.to_str().unwrap();
    let Some((netns, port, steady)) = crate::history::record_a_loop_and_a_steady_client(store_text)
    else {
        return;
    };
    let served = serve_store(&netns, &store, directory.path(), PORT);
    let path = format!("/api/connections?port={port}");
    let mut body = Value::Null;
    let read = eventually(Duration::from_secs(60), || {
        body = api(&netns, &served, &path);
        body["items"][0]["connections"] == json!(23)
    });
    assert!(read, "23 connections to :{port} expected in\n{body:#}");
    let row = &body["items"][0];
    assert_eq!(row["distinct_clients"], 21, "every process counts: {body:#}");
    let clients = row["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 2, "the loop and the steady client: {body:#}");
    let history = crate::util::porthole_run(&[
        "history",
        &format!("127.0.0.1:{port}"),
        "--connections",
        "--store",
        store_text,
        "--json",
    ])
    .json();
    let grouped = history["clients"].as_array().expect("history's clients");
    for (shown, recorded) in clients.iter().zip(grouped) {
        assert_eq!(
            (&shown["process_count"], &shown["pids"], &shown["connections"]),
            (&recorded["process_count"], &recorded["pids"], &recorded["connections"]),
            "as `history` groups them: {body:#}\n{history:#}"
        );
    }
    assert_eq!(clients[0]["process"]["name"], "redis-cli", "{body:#}");
    assert_eq!(clients[0]["process_count"], 20, "{body:#}");
    assert_eq!(clients[0]["pids"].as_array().map(Vec::len), Some(20), "{body:#}");
    assert_eq!((&clients[1]["process_count"], &clients[1]["pids"]), (&json!(1), &json!([steady])));
}

#[test]
fn metrics_pass_promtool_and_count_the_connections_the_test_made() {
    let Some(netns) = Netns::create() else { return };
    if !installed("promtool") {
        skip("promtool is not installed (scripts/setup.sh installs prometheus)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let _server = server_in(&netns, "127.0.0.1", 8000, "http");
    const REQUEST: &str =
        "GET /probe HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: close\r\n\r\n";
    for _ in 0..3 {
        let response = in_netns(&netns, || {
            let mut stream = TcpStream::connect(("127.0.0.1", 8000)).expect("connects");
            stream.write_all(REQUEST.as_bytes()).unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).unwrap();
            reply
        });
        assert!(response.ends_with("hello"), "{response}");
    }
    let scrape = || get(&netns, &format!("/metrics?token={}", served.token), &[]);
    let prefix =
        "porthole_listener_connections_total{local_port=\"8000\",protocol=\"tcp\",process_name=\"python3\"}";
    let mut text = String::new();
    let counted = eventually(Duration::from_secs(30), || {
        text = scrape().body;
        sample(&text, prefix) == Some(3.0)
    });
    assert!(counted, "3 connections to :8000 expected in\n{text}");
    let received =
        sample(&text, "porthole_listener_received_bytes_total{local_port=\"8000\"").unwrap();
    // The recorder takes byte counts from the kernel's close notifications;
    // a count may miss the last byte of a request whose ACK crossed the
    // close, never more.
    let expected = 3.0 * REQUEST.len() as f64;
    assert!((expected - 3.0..=expected).contains(&received), "{received} of {expected}: {text}");
    let sent = sample(&text, "porthole_listener_sent_bytes_total{local_port=\"8000\"").unwrap();
    assert!(sent >= 3.0 * "hello".len() as f64, "{text}");
    assert_eq!(
        sample(&text, "porthole_listener_client_processes{local_port=\"8000\""),
        Some(1.0),
        "one client process (this test) in\n{text}"
    );
    assert_eq!(
        sample(&text, "porthole_listeners{scope=\"loopback\",exposed=\"false\"}"),
        Some(2.0)
    );
    assert!(sample(&text, "porthole_capture_mode{mode=").is_some(), "{text}");
    assert!(sample(&text, "porthole_recorder_events_total{kind=\"connection\"}").unwrap() >= 3.0);
    assert!(text.contains("porthole_recorder_losses_total{kind=\"ring_buffer_full\"}"), "{text}");
    assert!(sample(&text, "porthole_store_size_bytes").unwrap() > 0.0);
    assert_eq!(sample(&text, "porthole_store_up"), Some(1.0), "{text}");
    // No series is labelled with a client's ephemeral port or address.
    assert!(!text.contains("client_port") && !text.contains("127.0.0.1:"), "{text}");

    promtool_check(&text);
    // Prometheus itself asks for OpenMetrics and gets it.
    let open = get(
        &netns,
        &format!("/metrics?token={}", served.token),
        &[("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")],
    );
    assert!(open.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(open.body.trim_end().ends_with("# EOF"), "{}", open.body);

    // `porthole dashboard` serves the same store read-only while the
    // recorder keeps writing it.
    let store = directory.path().join("history.sqlite");
    let second = serve_store(&netns, &store, directory.path(), 7880);
    assert_eq!(second.token, served.token, "one token per state directory");
    let bearer = format!("Bearer {}", second.token);
    let mut body = Value::Null;
    let seen = eventually(Duration::from_secs(30), || {
        let response = http(
            &netns,
            7880,
            "GET",
            "/api/connections?port=8000",
            &[("Authorization", &bearer)],
            None,
        );
        body = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        body["items"][0]["connections"] == json!(3)
    });
    assert!(seen, "{body:#}");
    let bytes_in =
        body["items"][0]["bytes_client_to_server"].as_u64().expect("bytes_client_to_server");
    assert!(
        (3 * REQUEST.len() as u64 - 3..=3 * REQUEST.len() as u64).contains(&bytes_in),
        "{body:#}"
    );
}

#[test]
fn audit_reports_nothing_above_info_against_the_dashboard() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let _served = record_and_serve(&netns, directory.path());
    let output = netns.porthole(&["audit", "--port", &PORT.to_string(), "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report: Value = serde_json::from_str(&output.stdout).expect("audit JSON");
    let findings = report["findings"].as_array().expect("findings");
    let above_info: Vec<&Value> = findings.iter().filter(|f| f["severity"] != "info").collect();
    assert!(above_info.is_empty(), "findings above info on the dashboard: {above_info:#?}");
    let probed = report["services"].as_array().expect("services");
    assert!(
        probed.iter().any(|s| s["local_port"] == json!(PORT)),
        "the dashboard was probed: {report:#}"
    );
}

/// A WebDriver session on a chromedriver inside the namespace.
struct Browser<'a> {
    netns: &'a Netns,
    port: u16,
    session: String,
    _driver: ChildGuard,
    _profile: tempfile::TempDir,
}

impl<'a> Browser<'a> {
    fn start(netns: &'a Netns) -> Browser<'a> {
        let port = 9515;
        let mut command = netns.command("chromedriver");
        command.args([format!("--port={port}")]).stdout(Stdio::null()).stderr(Stdio::null());
        let driver = ChildGuard::spawn(&mut command);
        let ready = eventually(Duration::from_secs(30), || {
            in_netns(netns, move || TcpStream::connect(("127.0.0.1", port)).is_ok())
        });
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let response = http(netns, port, "POST", "/session", &[], Some(&capabilities.to_string()));
        let value: Value = serde_json::from_str(&response.body).expect("session JSON");
        let session = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {value:#}"))
            .to_string();
        Browser { netns, port, session, _driver: driver, _profile: profile }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let response = http(self.netns, self.port, method, &path, &[], body.as_deref());
        let value: Value = serde_json::from_str(&response.body).expect("WebDriver JSON");
        assert_eq!(response.status, 200, "{method} {path}: {value:#}");
        value["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    fn text(&self) -> String {
        self.script("return document.body.innerText").as_str().unwrap_or("").to_string()
    }

    /// Waits until the page's text contains every one of `needles`.
    fn wait_for(&self, needles: &[&str]) -> String {
        let mut text = String::new();
        let found = eventually(Duration::from_secs(30), || {
            text = self.text();
            needles.iter().all(|needle| text.contains(needle))
        });
        assert!(found, "{needles:?} not on the page:\n{text}");
        text
    }

    fn screenshot(&self, name: &str) {
        use base64::Engine;
        let data = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let directory = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join(name), png).unwrap();
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = http(self.netns, self.port, "DELETE", &path, &[], None);
    }
}

/// The browser's path (chromedriver wants a path, not a name).
fn chromium() -> String {
    let name = if installed("chromium") { "chromium" } else { "chromium-browser" };
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path).map(|dir| dir.join(name)).find(|path| path.is_file())
        })
        .map_or_else(|| name.to_string(), |path| path.display().to_string())
}

/// `chromium --headless --dump-dom URL` inside `netns`, with extra flags.
fn dump_dom(netns: &Netns, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = netns
        .command(&chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .args(["--dump-dom", url])
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A listener on 8200 whose process name and command line are markup.
const HOSTILE: &str = r#"
import ctypes, socket, time
ctypes.CDLL(None).prctl(15, b"<img src=x>", 0, 0, 0)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 8200))
server.listen()
print("ok", flush=True)
time.sleep(3600)
"#;

#[test]
fn browser_shows_listeners_connections_and_new_listeners_without_a_reload() {
    let Some(netns) = Netns::create() else { return };
    if !installed("chromedriver") || !(installed("chromium") || installed("chromium-browser")) {
        skip("chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let _web = server_in(&netns, "127.0.0.1", 8000, "http");
    let _database = server_in(&netns, "127.0.0.1", 5432, "silent");

    // Without the token, and through a rebinding-style name that resolves
    // to the dashboard, the browser gets nothing of the dashboard.
    let refused = dump_dom(&netns, &format!("http://127.0.0.1:{PORT}/"), &[]);
    assert!(refused.contains("Token required"), "{refused}");
    assert!(!refused.contains("Listeners now"), "{refused}");
    let rebound = dump_dom(
        &netns,
        &format!("http://rebind.test:{PORT}/?token={}", served.token),
        &["--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    );
    assert!(rebound.contains("host not allowed"), "{rebound}");
    assert!(!rebound.contains("Listeners now"), "{rebound}");

    let browser = Browser::start(&netns);
    browser.go(&format!("http://127.0.0.1:{PORT}/?token={}", served.token));
    let url = browser.call("GET", "/url", None);
    assert!(!url.as_str().unwrap().contains("token"), "token left the address bar: {url}");
    browser.wait_for(&["Listeners now", "8000", "5432", "python3", "7878", "porthole"]);
    browser.screenshot("listeners.png");

    // A client the test holds open shows in the live list, with its
    // address; the page changes view through the hash, never reloading.
    browser.script("window.loadedOnce = 'yes'; location.hash = 'view=connections&port=5432'");
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (report, client) = std::sync::mpsc::channel::<String>();
    let path = format!("/var/run/netns/{}", netns.name);
    let holder = std::thread::spawn(move || {
        porthole::sys::netns::enter(&path).expect("entering the namespace");
        let stream = TcpStream::connect(("127.0.0.1", 5432)).expect("connects");
        report.send(stream.local_addr().unwrap().to_string()).unwrap();
        let _ = held.recv();
        drop(stream);
    });
    let client = client.recv().unwrap();
    browser.wait_for(&["Open now (1)", &client, "127.0.0.1:5432"]);
    browser.screenshot("connections.png");

    // A listener that appears while the page is open shows up in the
    // change feed by itself.
    browser.script("location.hash = 'view=changes'");
    browser.wait_for(&["Changes (last day)", "8000"]);
    let _late = server_in(&netns, "127.0.0.1", 8123, "http");
    browser.wait_for(&["8123"]);
    assert_eq!(browser.script("return window.loadedOnce"), json!("yes"), "the page reloaded");
    browser.screenshot("changes.png");

    // The timeline of a port is an SVG drawn by the page, one bar per
    // holder.
    browser.script("location.hash = 'view=timeline&port=8000'");
    browser.wait_for(&["Who held 8000 over the last day", "python3"]);
    let bars = browser.script("return document.querySelectorAll('svg.timeline rect').length");
    assert_eq!(bars, json!(1));
    browser.screenshot("timeline.png");

    // At phone width rows become labelled cards.
    browser.call("POST", "/window/rect", Some(json!({ "width": 390, "height": 844 })));
    browser.script("location.hash = 'view=listeners'");
    browser.wait_for(&["Listeners now", "8123"]);
    let head = browser.script("return getComputedStyle(document.querySelector('thead')).display");
    assert_eq!(head, json!("none"));
    browser.screenshot("phone.png");

    // Text from other users' processes is shown as text: markup in a
    // process name and command line stays inert.
    let (_hostile, mut ready) = python_in(&netns, HOSTILE, &["<img src=x onerror=alert(1)>"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    browser.wait_for(&["8200", "<img src=x>"]);
    let full = browser.script(
        "return [...document.querySelectorAll('.cmd')]\
         .some(e => e.title.includes('<img src=x onerror=alert(1)>'))",
    );
    assert_eq!(full, json!(true), "the command line is kept as text");
    let injected =
        browser.script("return document.querySelectorAll('main img, main script').length");
    assert_eq!(injected, json!(0));
    release.send(()).unwrap();
    holder.join().unwrap();
}

/// A process that names itself with a colour escape and a bidi override
/// and listens on 127.0.0.1:8300; prints "ok" once listening.
const NAMED: &str = r#"
import ctypes, socket, time
ctypes.CDLL(None).prctl(15, b"\x1b[31mev\xe2\x80\xaeil", 0, 0, 0)
listener = socket.socket(); listener.bind(("127.0.0.1", 8300)); listener.listen()
print("ok", flush=True)
time.sleep(120)
"#;

/// The API and `/metrics` are read with `curl` on a terminal too: another
/// user's process name reaches them as JSON `\u` escapes (exact once
/// parsed) and as the terminal's escaped form in a label, never raw.
#[test]
fn api_and_metrics_never_carry_other_users_control_characters_raw() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let (_named, mut ready) = python_in(&netns, NAMED, &[]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let bearer = format!("Bearer {}", served.token);
    let mut body = String::new();
    let listed = eventually(Duration::from_secs(30), || {
        body = get(&netns, "/api/listeners?port=8300", &[("Authorization", &bearer)]).body;
        body.contains("\"local_port\":8300")
    });
    assert!(listed, "the listener on 8300 in {body}");
    assert!(!body.contains(['\u{1b}', '\u{202e}']), "raw control characters: {body:?}");
    assert!(body.contains("\\u001b[31mev\\u202eil"), "{body}");
    let parsed: Value = serde_json::from_str(&body).expect("valid JSON");
    assert_eq!(parsed["items"][0]["processes"][0]["name"], "\u{1b}[31mev\u{202e}il");
    // The filter finds the name as the page shows it (`\x1b[31mev\u202eil`),
    // which is what people type; it found only the raw characters.
    for shown in ["ev%5Cu202eil", "%5Cx1B%5B31m"] {
        let path = format!("/api/listeners?process={shown}");
        let found: Value =
            serde_json::from_str(&get(&netns, &path, &[("Authorization", &bearer)]).body)
                .expect("valid JSON");
        assert_eq!(found["total"], 1, "{path}: {found}");
        assert_eq!(found["items"][0]["local_port"], 8300, "{path}: {found}");
    }

    let mut text = String::new();
    let scraped = eventually(Duration::from_secs(30), || {
        text = get(&netns, &format!("/metrics?token={}", served.token), &[]).body;
        text.contains("local_port=\"8300\"")
    });
    assert!(scraped, "the listener on 8300 in\n{text}");
    assert!(!text.contains(['\u{1b}', '\u{202e}']), "raw control characters: {text:?}");
    assert!(text.contains("process_name=\"\\\\x1b[31mev\\\\u202eil\""), "{text}");
}

/// The page shows another user's process name with its control and bidi
/// characters escaped, as the terminal does: a right-to-left override
/// would otherwise reorder the rest of the row.
#[test]
fn browser_shows_control_and_bidi_characters_escaped() {
    let Some(netns) = Netns::create() else { return };
    if !(installed("chromium") || installed("chromium-browser")) {
        skip("chromium is not installed (scripts/setup.sh installs it)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let (_named, mut ready) = python_in(&netns, NAMED, &[]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let url = format!("http://127.0.0.1:{PORT}/?token={}", served.token);
    let mut dom = String::new();
    let shown = eventually(Duration::from_secs(60), || {
        dom = dump_dom(&netns, &url, &[]);
        dom.contains("8300")
    });
    assert!(shown, "the listener on 8300 in\n{dom}");
    assert!(dom.contains("\\x1b[31mev\\u202eil"), "{dom}");
    assert!(!dom.contains(['\u{1b}', '\u{202e}']), "raw control characters: {dom:?}");
}

/// Malformed and look-alike requests against the real server: HTTP/1.1
/// without `Host` or with two was `403 host not allowed`, as if the name
/// could be allowed; it is `400` now. Names that only start or end like a
/// loopback name, and absolute-form targets naming another host, stay
/// refused. Any local user can open connections: 500 that never finish
/// their headers, and one that sends a byte at a time, do not keep a
/// normal request from being answered.
#[test]
fn malformed_hosts_and_hundreds_of_idle_connections_leave_the_dashboard_answering() {
    let Some(netns) = Netns::create() else { return };
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let bearer = format!("Bearer {}", served.token);
    let raw = |headers: &str| {
        let request = format!(
            "GET /api/health HTTP/1.1\r\nAuthorization: {bearer}\r\n{headers}Connection: close\r\n\r\n"
        );
        exchange(&netns, "127.0.0.1", PORT, request)
    };
    for (headers, status) in [
        ("", 400),
        ("Host: 127.0.0.1:7878\r\nHost: evil.example\r\n", 400),
        ("Host: 127.0.0.1:7878\r\n", 200),
    ] {
        let response = raw(headers);
        assert_eq!(response.status, status, "{headers:?}: {response:?}");
    }
    for (host, status) in [
        ("[::1].evil.example", 403),
        ("[::1]@evil.example", 403),
        ("localhost.evil.example", 403),
        ("localhost.evil.example:7878", 403),
        ("LOCALHOST:7878", 200),
        ("localhost.:7878", 200),
    ] {
        let response = get(&netns, "/api/health", &[("Host", host), ("Authorization", &bearer)]);
        assert_eq!(response.status, status, "Host: {host}: {response:?}");
    }
    for (target, status) in [
        ("http://evil.example/api/health", 403),
        ("http://localhost.evil.example:7878/api/health", 403),
        ("http://127.0.0.1:7878/api/health", 200),
    ] {
        let response = get(&netns, target, &[("Authorization", &bearer)]);
        assert_eq!(response.status, status, "{target}: {response:?}");
    }

    // A client that sends its request line a byte at a time, forever.
    let (stop_slow, stopped) = std::sync::mpsc::channel::<()>();
    let path = format!("/var/run/netns/{}", netns.name);
    let slow = std::thread::spawn(move || {
        porthole::sys::netns::enter(&path).expect("entering the namespace");
        let mut stream = TcpStream::connect(("127.0.0.1", PORT)).expect("connects");
        for byte in b"GET /api/health HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'x')) {
            if stream.write_all(&[*byte]).is_err() {
                return true;
            }
            if stopped.recv_timeout(Duration::from_secs(2)).is_ok() {
                return false;
            }
        }
        unreachable!("the bytes never end")
    });
    // 500 connections: half send part of their headers, half nothing.
    let idle: Vec<TcpStream> = in_netns(&netns, || {
        (0..500)
            .map(|index| {
                let mut stream = TcpStream::connect(("127.0.0.1", PORT)).expect("connects");
                if index % 2 == 0 {
                    stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").expect("written");
                }
                stream
            })
            .collect()
    });
    let health = api(&netns, &served, "/api/health");
    assert!(health.is_object(), "{health}");
    drop(idle);
    // The slow client is closed by the server (its header timeout, or to
    // make room), not by the test.
    let closed = eventually(Duration::from_secs(120), || slow.is_finished());
    let _ = stop_slow.send(());
    assert!(closed && slow.join().expect("slow client"), "a slow client held its connection");
}

/// A listener on `argv[2]`:`argv[3]` whose process name is the bytes
/// `argv[1]` (hex) and whose command line carries the rest of argv; it
/// holds one connection to itself open, so it is a client too. Prints "ok".
pub(crate) const NAMED_AS: &str = r#"
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)
address, port = sys.argv[2], int(sys.argv[3])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((address, port)); listener.listen()
client = socket.create_connection(("127.0.0.1", port)); accepted = listener.accept()
print("ok", flush=True)
time.sleep(3600)
"#;

/// `bytes` in hex, as [`NAMED_AS`] takes a process name.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Markup that sets the page's title if it ever runs.
const PAYLOADS: [&str; 4] = [
    "<img src=x onerror=document.title='pwned'>",
    "</script><script>document.title='pwned'</script>",
    "\"'><svg onload=document.title='pwned'>",
    "javascript:document.title='pwned'",
];

/// Every view of the page (listeners, open connections, changes, a port's
/// timeline) and a filter typed into the address shows another user's
/// process name and command line as text: no element of theirs is
/// created, no script of theirs runs.
#[test]
fn markup_in_process_names_and_command_lines_stays_text_in_every_view() {
    let Some(netns) = Netns::create() else { return };
    if !(installed("chromium") || installed("chromium-browser")) {
        skip("chromium is not installed (scripts/setup.sh installs it)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let name = hex(b"\"'><svg onload=");
    let mut args = vec![name.as_str(), "127.0.0.1", "8210"];
    args.extend(PAYLOADS);
    let (_named, mut ready) = python_in(&netns, NAMED_AS, &args);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let base = format!("http://127.0.0.1:{PORT}/?token={}", served.token);
    let filter: String = PAYLOADS[0].bytes().map(|byte| format!("%{byte:02X}")).collect();
    for (hash, shown) in [
        ("view=listeners", "8210"),
        ("view=connections&port=8210", "Open now (1)"),
        ("view=changes&port=8210", "8210"),
        ("view=timeline&port=8210", "Who held 8210"),
        (&*format!("view=listeners&process={filter}"), "Listeners now"),
    ] {
        let url = format!("{base}#{hash}");
        let mut dom = String::new();
        let rendered = eventually(Duration::from_secs(60), || {
            dom = dump_dom(&netns, &url, &[]);
            dom.contains(shown) && (hash.contains("process=") || dom.contains("&lt;svg onload="))
        });
        assert!(rendered, "{hash}: {shown:?} and the process name expected in\n{dom}");
        assert!(dom.contains("<title>porthole dashboard</title>"), "{hash}: a script ran:\n{dom}");
        // The command line, where a view shows it, is there as text.
        let command = "&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;";
        let with_command = !(hash.contains("timeline") || hash.contains("process="));
        assert!(!with_command || dom.contains(command), "{hash}: no command line in\n{dom}");
        for element in ["<svg onload", "<img src=x", "<script>document"] {
            assert!(!dom.contains(element), "{hash}: {element} became an element:\n{dom}");
        }
        assert!(!dom.contains("href=\"javascript:"), "{hash}: a javascript: link\n{dom}");
    }
}

/// A process name holding a quote, a backslash, a newline and a byte that
/// is not UTF-8: the `/metrics` label follows the text format's escaping
/// (`\"`, `\\`; the newline and the stray byte are shown as the terminal
/// shows them, then escaped), promtool accepts the scrape, and the API
/// carries the name as JSON (the stray byte as U+FFFD).
#[test]
fn metrics_labels_of_hostile_process_names_pass_promtool() {
    let Some(netns) = Netns::create() else { return };
    if !installed("promtool") {
        skip("promtool is not installed (scripts/setup.sh installs prometheus)");
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let served = record_and_serve(&netns, directory.path());
    let name = hex(b"a\"b\\c\nd\xff");
    let (_named, mut ready) = python_in(&netns, NAMED_AS, &[&name, "127.0.0.1", "8220"]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    let mut text = String::new();
    let scraped = eventually(Duration::from_secs(30), || {
        text = get(&netns, &format!("/metrics?token={}", served.token), &[]).body;
        text.contains("local_port=\"8220\"")
    });
    assert!(scraped, "the listener on 8220 in\n{text}");
    let label = r#"process_name="a\"b\\c\\nd\\xff""#;
    assert!(text.contains(label), "{label} expected in\n{text}");
    promtool_check(&text);
    let listed = api(&netns, &served, "/api/listeners?port=8220");
    assert_eq!(listed["items"][0]["processes"][0]["name"], "a\"b\\c\nd\u{fffd}", "{listed}");
}
