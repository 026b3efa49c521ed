//! `porthole audit` against real servers started here: Redis (with and
//! without a password), memcached, PostgreSQL (trust and SCRAM), MariaDB,
//! nginx on 0.0.0.0, Python HTTP servers with and without a Host check, the
//! Node.js inspector, and processes running deleted code. Every audit is
//! limited with `--port` to the test's own server, so tests run in parallel
//! without seeing each other.
//!
//! A server that is installed but does not start fails the test; a missing
//! program is a recorded skip (a failure under CI; scripts/setup.sh installs
//! each of them for CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{self, installed, wait_for_port, ChildGuard, Netns, Output};

/// Generous bound for servers to start on a busy machine.
pub(crate) const START: Duration = Duration::from_secs(60);

/// `porthole audit --port PORT --json --skip outdated-package ARGS…`: the
/// machine's own pending updates are not these tests' business (see
/// `audit_packages.rs` for that rule, against a package repository of its
/// own).
pub(crate) fn audit(port: u16, args: &[&str]) -> (Output, Value) {
    audit_where(None, port, args)
}

/// `porthole audit --port PORT --active --skip outdated-package ARGS` as
/// text, what a terminal shows; its exit code is the caller's to judge.
pub(crate) fn audit_active_text(port: u16, args: &[&str]) -> Output {
    let port = port.to_string();
    let mut full = vec!["audit", "--port", port.as_str(), "--active", "--skip", "outdated-package"];
    full.extend_from_slice(args);
    util::porthole_run(&full)
}

/// [`audit`] run inside `netns` (`None`: this namespace).
fn audit_where(netns: Option<&Netns>, port: u16, args: &[&str]) -> (Output, Value) {
    let port = port.to_string();
    let mut full = vec!["audit", "--port", port.as_str(), "--json", "--skip", "outdated-package"];
    full.extend_from_slice(args);
    let output = match netns {
        Some(netns) => netns.porthole(&full),
        None => util::porthole_run(&full),
    };
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    (output, json)
}

/// Rule ids of the findings.
pub(crate) fn rules(json: &Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule id").to_string())
        .collect()
}

pub(crate) fn finding<'a>(json: &'a Value, rule: &str) -> &'a Value {
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {json:#}"))
}

fn service(json: &Value) -> String {
    json["services"][0]["service"].as_str().unwrap_or("").to_string()
}

pub(crate) fn require(program: &str) -> bool {
    if installed(program) {
        true
    } else {
        crate::util::skip(&format!("{program} not installed"));
        false
    }
}

/// A directory other users (postgres, mysql, nobody) can enter.
pub(crate) fn shared_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub(crate) fn chown(path: &Path, user: &str) {
    let status = Command::new("chown").args(["-R", user]).arg(path).status().expect("chown runs");
    assert!(status.success(), "chown {user} {}", path.display());
}

// ---------------------------------------------------------------- Redis

pub(crate) fn start_redis(
    extra: &[&str],
    dir: &Path,
    program: &Path,
) -> (ChildGuard, u16, PathBuf) {
    let port = util::unique_port();
    let log = dir.join(format!("redis-{port}.log"));
    let mut command = Command::new(program);
    command
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--dir", dir.to_str().expect("utf-8"), "--logfile", log.to_str().expect("utf-8")])
        .args(extra)
        .stdout(Stdio::null());
    let child = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "redis-server did not start on {port}");
    (child, port, log)
}

fn assert_no_security_attack(log: &Path) {
    let text = std::fs::read_to_string(log).expect("redis log");
    assert!(text.contains("Ready to accept connections"), "log is live: {text}");
    assert!(!text.contains("SECURITY ATTACK"), "Redis saw HTTP:\n{text}");
}

#[test]
fn redis_without_password_is_no_auth_and_sees_no_http() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, port, log) = start_redis(&[], dir.path(), Path::new("/usr/bin/redis-server"));
    let (output, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["no-auth"], "{json:#}");
    let open = finding(&json, "no-auth");
    assert_eq!(open["severity"], "high", "unauthenticated on loopback");
    assert!(open["evidence"].as_str().unwrap().contains("PONG"), "{open}");
    assert!(open["fix"].as_str().unwrap().contains("requirepass"), "{open}");
    assert!(
        open["service"].as_str().unwrap().starts_with("redis 7")
            || open["service"].as_str().unwrap().starts_with("redis")
    );
    // A stock loopback Redis is high, but only critical fails by default:
    // a normal developer machine passes.
    assert_eq!(output.code, 0, "loopback high passes the default --fail-on critical");
    assert!(!open["fix"].as_str().unwrap().contains("bind"), "already on loopback: {open}");
    assert_no_security_attack(&log);

    // The gate moves with --fail-on.
    let port_text = port.to_string();
    let strict = util::porthole_run(&[
        "audit",
        "--port",
        &port_text,
        "--fail-on",
        "high",
        "--skip",
        "outdated-package",
    ]);
    assert_eq!(strict.code, 1, "{strict:?}");
    let relaxed =
        util::porthole_run(&["audit", "--port", &port_text, "--skip", "outdated-package"]);
    assert_eq!(relaxed.code, 0, "{relaxed:?}");
    assert!(relaxed.stdout.starts_with("HIGH (1)\n"), "{}", relaxed.stdout);
    let summary = relaxed.stdout.lines().last().unwrap();
    assert!(summary.starts_with("audit: 1 finding (1 high) on 1 listener, 1 probed"), "{summary}");
    let skipped = util::porthole_run(&[
        "audit",
        "--port",
        &port_text,
        "--skip",
        "no-auth",
        "--skip",
        "outdated-package",
    ]);
    assert_eq!(skipped.code, 0, "{skipped:?}");
    assert!(skipped.stdout.starts_with("audit: no findings"), "{}", skipped.stdout);
    assert_no_security_attack(&log);
}

/// A Redis whose configuration file defines `user default on nopass`: that
/// line is applied after the file is read and resets the user, so the
/// `requirepass` line the fix used to ask for left it open. The fix names
/// the line; changed as it says, the server asks for a password.
#[test]
fn a_redis_default_user_with_nopass_is_fixed_on_its_own_line() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = util::unique_port();
    let config = dir.path().join("redis.conf");
    let text = |default_user: &str| {
        format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {dir}\nrequirepass Zq8-unguessable-4m\n{default_user}\n",
            dir = dir.path().display()
        )
    };
    std::fs::write(&config, text("user default on nopass ~* &* +@all")).unwrap();
    let start = || {
        let mut command = Command::new("redis-server");
        command.arg(&config).stdout(Stdio::null());
        let child = ChildGuard::spawn(&mut command);
        assert!(wait_for_port(port, START), "redis-server did not start on {port}");
        child
    };
    let redis = start();
    let (_, json) = audit(port, &[]);
    let open = finding(&json, "no-auth");
    assert_eq!(
        open["fix"],
        format!("its default user is defined without a password on line 7 of {} (`user default … nopass`), which overrides any `requirepass`: replace `nopass` on that line with `>` and a long random secret, then restart", config.display()),
        "{json:#}"
    );
    drop(redis);
    // As the fix says: `>` and a secret instead of `nopass`, then a restart.
    std::fs::write(&config, text("user default on >Zq8-unguessable-4m ~* &* +@all")).unwrap();
    let _redis = start();
    let (_, json) = audit(port, &[]);
    assert!(!rules(&json).contains(&"no-auth".to_string()), "{json:#}");
}

#[test]
fn redis_with_password_is_clean() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, port, log) = start_redis(
        &["--requirepass", "s3cret-test"],
        dir.path(),
        Path::new("/usr/bin/redis-server"),
    );
    let (output, json) = audit(port, &[]);
    assert_eq!(rules(&json), Vec::<String>::new(), "{json:#}");
    assert_eq!(service(&json), "redis", "{json:#}");
    assert_eq!(output.code, 0);
    assert_no_security_attack(&log);
}

/// Under another name the process does not say "redis": the probe must find
/// out without ever sending a `Host:` or `POST` line.
#[test]
fn renamed_redis_is_identified_without_http_headers() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let alias = dir.path().join("cache-daemon");
    std::os::unix::fs::symlink("/usr/bin/redis-server", &alias).unwrap();
    let (_redis, port, log) = start_redis(&[], dir.path(), &alias);
    let (_, json) = audit(port, &[]);
    assert_eq!(json["findings"][0]["process_name"], "cache-daemon", "{json:#}");
    assert_eq!(rules(&json), ["no-auth"], "{json:#}");
    assert_eq!(service(&json), "redis", "{json:#}");
    assert_no_security_attack(&log);
}

// ------------------------------------------------------------ memcached

/// A memcached on a unique loopback port with `options`, started as
/// `nobody`: the files it is to read must be readable by every user.
pub(crate) fn start_memcached(
    options: &[&str],
    environment: &[(&str, &Path)],
) -> (ChildGuard, u16) {
    start_memcached_with(Command::new("memcached"), options, environment)
}

/// [`start_memcached`] through `command`, which runs memcached with the
/// arguments added here (a wrapper such as `unshare … sh -c '… exec "$@"'
/// sh memcached`).
pub(crate) fn start_memcached_with(
    mut command: Command,
    options: &[&str],
    environment: &[(&str, &Path)],
) -> (ChildGuard, u16) {
    let port = util::unique_port();
    let port_text = port.to_string();
    command.args(["-u", "nobody", "-l", "127.0.0.1", "-U", "0", "-p", &port_text]).args(options);
    for (name, value) in environment {
        command.env(name, value);
    }
    let server = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "memcached did not start on {port}");
    (server, port)
}

#[test]
fn memcached_is_no_auth() {
    if !require("memcached") {
        return;
    }
    let (_memcached, port) = start_memcached(&[], &[]);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["no-auth"], "{json:#}");
    assert!(finding(&json, "no-auth")["evidence"].as_str().unwrap().contains("VERSION"));
    assert_eq!(service(&json), "memcached");
}

// ----------------------------------------------------------- PostgreSQL

/// Debian's server binaries (not on PATH): the newest installed version.
/// Waits until the PostgreSQL on 127.0.0.1:`port` (in `netns` if given)
/// accepts logins: its port answers a moment before, and a login then gets
/// "the database system is starting up".
pub(crate) fn postgres_ready(bin: &Path, port: u16, netns: Option<&util::Netns>) -> bool {
    postgres_ready_at(bin, "127.0.0.1", port, netns)
}

/// As [`postgres_ready`], for the server at `host`: an address, or the
/// directory of its Unix socket.
pub(crate) fn postgres_ready_at(
    bin: &Path,
    host: &str,
    port: u16,
    netns: Option<&util::Netns>,
) -> bool {
    let pg_isready = bin.join("pg_isready");
    let pg_isready = pg_isready.to_str().expect("utf-8 path");
    util::eventually(START, || {
        let mut command = match netns {
            Some(netns) => netns.command(pg_isready),
            None => Command::new(pg_isready),
        };
        command.args(["-q", "-h", host, "-p", &port.to_string(), "-t", "2"]);
        util::run(&mut command).code == 0
    })
}

pub(crate) fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

pub(crate) fn as_user(user: &str, program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={user}"))
        .arg(format!("--regid={user}"))
        .args(["--init-groups", "--"])
        .arg(program);
    command
}

pub(crate) fn write_hba(data: &Path, method: &str) {
    std::fs::write(
        data.join("pg_hba.conf"),
        format!("local all all trust\nhost all all 127.0.0.1/32 {method}\nhost all all ::1/128 {method}\n"),
    )
    .unwrap();
    chown(&data.join("pg_hba.conf"), "postgres");
}

#[test]
fn postgres_trust_needs_active_and_scram_is_clean() {
    let Some(bin) = postgres_bin() else {
        crate::util::skip("postgresql not installed");
        return;
    };
    assert!(util::is_root(), "starting PostgreSQL as user postgres needs root");
    let dir = shared_tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, "postgres");
    let init = util::run(
        as_user("postgres", &bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    write_hba(&data, "trust");
    let port = util::unique_port();
    let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
    let mut command = as_user("postgres", &bin.join("postgres"));
    command
        .args(["-D", data.to_str().unwrap(), "-p", &port.to_string(), "-k", data.to_str().unwrap()])
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "log_min_messages=info",
        ])
        .stdout(Stdio::null())
        .stderr(log);
    let postmaster = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "postgres did not start on {port}");
    assert!(postgres_ready(&bin, port, None), "postgres on {port} accepts no logins");

    // Passive: no login attempt without --active, yet the `trust` lines
    // of pg_hba.conf, read from disk, are found (reading a file sends the
    // server nothing).
    let (_, json) = audit(port, &[]);
    assert_eq!(service(&json), "postgresql", "{json:#}");
    let from_file = finding(&json, "trust-auth");
    let evidence = from_file["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!(
            "{} line 2 `host all all 127.0.0.1/32 trust` (loopback clients)",
            data.join("pg_hba.conf").display()
        )),
        "{evidence}"
    );
    assert!(evidence.ends_with("(no login was made: `--active` logs in to test it)"), "{evidence}");
    let probes = json["services"][0]["probes"].to_string();
    assert!(!probes.contains("StartupMessage"), "{probes}");

    let (output, json) = audit(port, &["--active"]);
    let trust = finding(&json, "trust-auth");
    assert_eq!(trust["severity"], "high");
    assert!(trust["fix"].as_str().unwrap().contains("scram-sha-256"));
    // High on loopback: reported, but only critical fails by default.
    assert_eq!(output.code, 0);

    // The passive SSLRequest left nothing in the server log.
    let log_text = std::fs::read_to_string(dir.path().join("postgres.log")).unwrap();
    assert!(!log_text.contains("incomplete startup packet"), "{log_text}");

    // SCRAM: the same active check finds a password prompt.
    write_hba(&data, "scram-sha-256");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(postmaster.pid() as i32).unwrap(),
        rustix::process::Signal::HUP,
    )
    .unwrap();
    let mut last = Value::Null;
    let clean = util::eventually(Duration::from_secs(20), || {
        last = audit(port, &["--active"]).1;
        rules(&last).is_empty()
    });
    assert!(clean, "scram still reported: {last:#}");
    assert_eq!(service(&last), "postgresql");
}

// -------------------------------------------------------------- MariaDB

/// A MariaDB server of its own on 127.0.0.1 (root without a password,
/// "normal" authentication), data under `dir`; `None` (skip counted) when
/// MariaDB is not installed.
pub(crate) fn start_mariadb(dir: &tempfile::TempDir) -> Option<(ChildGuard, u16)> {
    start_mariadb_with(dir, &[])
}

/// [`start_mariadb`] with more server options (`--max-connections=10`).
pub(crate) fn start_mariadb_with(
    dir: &tempfile::TempDir,
    extra: &[&str],
) -> Option<(ChildGuard, u16)> {
    let started = start_mariadb_in(None, dir, extra, "normal", None)?;
    Some((started.0, started.1))
}

/// `mariadb-install-db` of a fresh data directory `root/data` for user
/// mysql, root logging in by `root_authentication` (`normal`…), with
/// temporary tables in `root/tmp`, a directory of this server's own: two
/// installs at once in /tmp remove each other's temporary tables
/// ("Unknown table 'mysql.tmp_user_sys'"). Returns the data directory and
/// the temporary one.
pub(crate) fn install_mariadb(root: &Path, root_authentication: &str) -> (PathBuf, PathBuf) {
    let data = root.join("data");
    let scratch = root.join("tmp");
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    std::fs::set_permissions(&scratch, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .expect("scratch directory mode");
    let install = util::run(
        Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", scratch.display()))
            .arg("--user=mysql")
            .arg(format!("--auth-root-authentication-method={root_authentication}"))
            .arg("--skip-test-db"),
    );
    assert_eq!(install.code, 0, "mariadb-install-db failed: {install:?}");
    (data, scratch)
}

/// [`start_mariadb_with`] inside `netns` (`None`: this namespace), root
/// installed with `root_authentication` (`normal`: an empty password;
/// `socket`: `unix_socket`, Debian's default), its socket file at `socket`
/// (`None`: in the data directory). Returns the server, its port and its
/// socket file.
pub(crate) fn start_mariadb_in(
    netns: Option<&util::Netns>,
    dir: &tempfile::TempDir,
    extra: &[&str],
    root_authentication: &str,
    socket: Option<&Path>,
) -> Option<(ChildGuard, u16, PathBuf)> {
    if !require("mariadbd") || !require("mariadb-install-db") {
        return None;
    }
    assert!(util::is_root(), "mariadbd --user=mysql needs root");
    let (data, tmp) = install_mariadb(dir.path(), root_authentication);
    let port = util::unique_port();
    let socket = socket.map_or_else(|| data.join("mysqld.sock"), Path::to_path_buf);
    let mut command = match netns {
        Some(netns) => netns.command("mariadbd"),
        None => Command::new("mariadbd"),
    };
    let server = ChildGuard::spawn(
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", data.join("mysqld.pid").display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--log-error={}", data.join("error.log").display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=mysql", "--skip-log-bin"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    if extra.contains(&"--skip-networking") {
        let up =
            util::eventually(START, || std::os::unix::net::UnixStream::connect(&socket).is_ok());
        assert!(up, "mariadbd did not start on {}", socket.display());
    } else {
        assert!(wait_for_port(port, START), "mariadbd did not start on {port}");
    }
    Some((server, port, socket))
}

#[test]
fn mariadb_greeting_and_active_empty_password() {
    let dir = shared_tempdir();
    let Some((_server, port)) = start_mariadb(&dir) else { return };

    let (_, json) = audit(port, &[]);
    assert_eq!(service(&json), "mariadb", "{json:#}");
    assert!(json["services"][0]["version"].as_str().unwrap().contains("MariaDB"), "{json:#}");
    assert!(rules(&json).is_empty(), "passive run tries no login: {json:#}");

    // Root was installed without a password ("normal" authentication).
    let (_, json) = audit(port, &["--active"]);
    let empty = finding(&json, "empty-password");
    assert_eq!(empty["severity"], "high", "{empty}");
}

// ---------------------------------------------------------------- nginx

#[test]
fn nginx_on_all_interfaces_is_exposed() {
    if !require("nginx") {
        return;
    }
    let dir = shared_tempdir();
    let port = util::unique_port();
    let root = dir.path().display();
    let config = dir.path().join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "# One process: killing it on drop leaves no orphaned workers.\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n  fastcgi_temp_path {root}/fastcgi;\n  server {{\n    listen 0.0.0.0:{port};\n    location / {{ return 200 \"hello\\n\"; }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let _nginx = ChildGuard::spawn(
        Command::new("nginx")
            .args(["-c", config.to_str().unwrap(), "-p", &root.to_string(), "-g", "daemon off;"])
            .stderr(Stdio::null()),
    );
    assert!(wait_for_port(port, START), "nginx did not start on {port}");
    let (_, json) = audit(port, &[]);
    let found = rules(&json);
    assert!(found.contains(&"exposed-service".to_string()), "{json:#}");
    let exposed = finding(&json, "exposed-service");
    assert_eq!(exposed["local_address"], "0.0.0.0");
    assert!(exposed["fix"].as_str().unwrap().contains(&format!("127.0.0.1:{port}")), "{exposed}");
    assert!(json["services"][0]["version"].as_str().unwrap().starts_with("nginx"), "{json:#}");
    if util::is_root() {
        assert!(found.contains(&"root-service".to_string()), "nginx runs as root: {json:#}");
    }
}

// ------------------------------------------------------ HTTP and browsers

/// A plain `http.server` on loopback: answers any Host.
const REBINDABLE: &str = r#"
import http.server, os, sys
os.chdir(sys.argv[1])
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
print(server.server_address[1])
server.serve_forever()
"#;

/// Answers only when Host names this machine, like webpack's allowedHosts.
/// With `leaky`, it also reflects any Origin in CORS headers and accepts
/// WebSocket upgrades from any Origin. With `echo`, it checks no Host and
/// answers with an API index whose URLs are built from the Host it got.
const HOST_CHECKING: &str = r#"
import http.server, sys
leaky = sys.argv[1] == "leaky"
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        port = self.server.server_address[1]
        host = self.headers.get("Host", "")
        if sys.argv[1] == "echo":
            return self.reply(200, ('{"self":"http://%s/api","docs":"http://%s/docs"}' % (host, host)).encode())
        if host not in ("127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port):
            return self.reply(403, b"Invalid Host header")
        if leaky and self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", "x")
            self.end_headers()
            self.close_connection = True
            return
        self.reply(200, b"hello")
    def reply(self, status, body):
        self.send_response(status)
        origin = self.headers.get("Origin")
        if leaky and origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1])
server.serve_forever()
"#;

fn start_python(code: &str, args: &[&str]) -> (ChildGuard, u16) {
    let (child, mut stdout) = util::python(code, args);
    let port = util::wait_for_line(&mut stdout).parse().expect("python prints its port");
    (child, port)
}

#[test]
fn python_http_server_is_dns_rebindable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html>secret notes</html>").unwrap();
    let (_server, port) = start_python(REBINDABLE, &[dir.path().to_str().unwrap()]);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["dns-rebinding"], "{json:#}");
    let rebinding = finding(&json, "dns-rebinding");
    assert_eq!(rebinding["severity"], "medium");
    assert!(rebinding["evidence"].as_str().unwrap().contains("rebind.example"), "{rebinding}");
    assert!(json["services"][0]["version"].as_str().unwrap().contains("SimpleHTTP"));
}

#[test]
fn host_checking_server_is_clean() {
    let (_server, port) = start_python(HOST_CHECKING, &["strict"]);
    let (output, json) = audit(port, &[]);
    assert_eq!(rules(&json), Vec::<String>::new(), "{json:#}");
    assert_eq!(service(&json), "http");
    assert_eq!(output.code, 0);
}

/// An API whose index names itself by the Host it was asked with answers
/// two Hosts with different bytes, yet a rebinding page reads it all.
#[test]
fn a_server_that_echoes_the_host_in_its_answer_is_dns_rebindable() {
    let (_server, port) = start_python(HOST_CHECKING, &["echo"]);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["dns-rebinding"], "{json:#}");
    let evidence = finding(&json, "dns-rebinding")["evidence"].as_str().unwrap();
    assert!(evidence.contains(&format!("Host: rebind.example:{port} → 200")), "{evidence}");
}

#[test]
fn reflected_origin_and_open_websocket_are_reported() {
    let (_server, port) = start_python(HOST_CHECKING, &["leaky"]);
    let (_, json) = audit(port, &[]);
    let found = rules(&json);
    assert!(!found.contains(&"dns-rebinding".to_string()), "Host is checked: {json:#}");
    assert_eq!(finding(&json, "cors-any-origin")["severity"], "high", "credentials too");
    assert!(found.contains(&"websocket-origin".to_string()), "{json:#}");
}

/// A stand-in for dockerd's TCP API (only `/version`), as `dockerd -H tcp://`
/// answers it.
const DOCKER_API: &str = r#"
import http.server, json
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"Version": "24.0.7", "ApiVersion": "1.43", "Os": "linux"}).encode() if self.path == "/version" else b'{"message":"page not found"}'
        self.send_response(200 if self.path == "/version" else 404)
        self.send_header("Api-Version", "1.43")
        self.send_header("Server", "Docker/24.0.7 (linux)")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1])
server.serve_forever()
"#;

#[test]
fn docker_engine_api_over_tcp_is_reported() {
    let (_server, port) = start_python(DOCKER_API, &[]);
    let (_, json) = audit(port, &[]);
    let docker = finding(&json, "docker-api");
    assert_eq!(docker["severity"], "high");
    assert_eq!(docker["service"], "docker 24.0.7");
    assert!(docker["fix"].as_str().unwrap().contains("tlsverify"));
}

#[test]
fn world_writable_docker_socket_in_a_private_namespace() {
    // unix_diag lists sockets per network namespace: a private one holds
    // only this test's socket.
    let Some(netns) = Netns::create() else { return };
    let dir = shared_tempdir();
    let path = dir.path().join("docker.sock");
    let mut command = netns.command("python3");
    command
        .args(["-u", "-c", "import socket,os,sys,time\ns=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(); print('ready'); time.sleep(120)"])
        .arg(&path)
        .stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(util::wait_for_line(&mut stdout), "ready");
    let output = netns.porthole(&["audit", "--json"]);
    let json = output.json();
    let socket = finding(&json, "world-writable-socket");
    assert_eq!(socket["path"], path.to_str().unwrap());
    assert_eq!(socket["severity"], "critical", "its owner runs as root: {socket}");
    assert!(socket["fix"].as_str().unwrap().starts_with("chmod 660"));
    assert_eq!(output.code, 1);
}

// ------------------------------------------------------------ debuggers

#[test]
fn node_inspector_is_an_exposed_debugger() {
    if !require("node") {
        return;
    }
    let mut command = Command::new("node");
    command
        .args(["--inspect=127.0.0.1:0", "-e", "setInterval(() => {}, 1000)"])
        .stderr(Stdio::piped());
    let mut node = ChildGuard::spawn(&mut command);
    let mut stderr = std::io::BufReader::new(node.0.stderr.take().unwrap());
    let line = util::wait_for_line(&mut stderr);
    let port = inspector_port(&line);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["debugger-exposed"], "the inspector checks Host: {json:#}");
    let debugger = finding(&json, "debugger-exposed");
    assert_eq!(debugger["severity"], "high");
    assert_eq!(
        debugger["service"],
        "node-inspector node.js/v".to_string() + node_version().as_str()
    );
    // The fix names the process and the flag it was started with.
    assert_eq!(
        debugger["fix"],
        format!(
            "pid {} (node) was started with `--inspect=127.0.0.1:0`: restart it without it (keep the debugger only while debugging)",
            node.0.id()
        )
    );
    // No debugging session was opened (that would print "Debugger attached").
    drop(stderr);
}

/// `java ARGS… Idle.java` run by `command` (`java`, or `java` inside a
/// namespace); returns it, the port its agent printed, and its log.
fn start_jvm_as(
    mut command: Command,
    dir: &Path,
    args: &[&str],
    environment: &[(&str, &str)],
) -> (ChildGuard, u16, PathBuf) {
    let source = dir.join("Idle.java");
    std::fs::write(
        &source,
        "public class Idle { public static void main(String[] a) throws Exception { Thread.sleep(600_000L); } }",
    )
    .unwrap();
    let log = dir.join("jvm.log");
    command.args(args).arg(&source).envs(environment.iter().copied());
    command.stdout(std::fs::File::create(&log).unwrap());
    let java = ChildGuard::spawn(&mut command);
    let mut port = None;
    // "Listening for transport dt_socket at address: 40123"
    util::eventually(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        port = text.lines().next().and_then(|l| l.rsplit(':').next()?.trim().parse().ok());
        port.is_some()
    });
    let port = port.unwrap_or_else(|| panic!("the JVM printed no port: {log:?}"));
    (java, port, log)
}

/// A JVM whose agent picked its port: found from the command line and the
/// transport's backlog of one, without a connection, which would make the
/// agent close that port and listen on another.
#[test]
fn a_jdwp_agent_on_a_picked_port_is_found_without_moving_it() {
    if !require("java") {
        return;
    }
    // In a namespace of its own: the agent stops listening while anything
    // is connected and then listens on a newly picked port, so a connection
    // from another test to a port it was handed (the same ephemeral range)
    // would move it.
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let agent = "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:0";
    let (java, port, log) = start_jvm_as(netns.command("java"), dir.path(), &[agent], &[]);
    let audit = |port: u16, args: &[&str]| audit_where(Some(&netns), port, args);
    let (_, json) = audit(port, &[]);
    let debugger = finding(&json, "debugger-exposed");
    assert_eq!(debugger["service"], "jdwp", "{json:#}");
    assert_eq!(debugger["severity"], "high");
    let fix = debugger["fix"].as_str().unwrap();
    let pid = java.0.id();
    assert!(
        fix.starts_with(&format!("pid {pid} (java) was started with `{agent}`: restart it")),
        "{fix}"
    );
    // Still on the port it printed: a second audit finds it there.
    let (_, again) = audit(port, &[]);
    assert_eq!(finding(&again, "debugger-exposed")["service"], "jdwp", "{again:#}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "the agent was connected to: {text}");
}

/// A JVM that loads the agent through `JAVA_TOOL_OPTIONS`: its command
/// line has no `-agentlib:jdwp`, so the debugger is found through its
/// environment, and the fix names the variable and the option found there.
#[test]
fn a_jdwp_agent_from_java_tool_options_is_found_and_its_fix_names_the_variable() {
    if !require("java") {
        return;
    }
    // In a namespace of its own: an audit of every listener by another
    // test would connect to the agent, which stops listening meanwhile.
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = util::unique_port();
    let agent =
        format!("-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:{port}");
    let options = format!("-Xmx64m {agent}");
    let (java, printed, _log) = start_jvm_as(
        netns.command("java"),
        dir.path(),
        &[],
        &[("JAVA_TOOL_OPTIONS", options.as_str())],
    );
    assert_eq!(printed, port);
    let (_, json) = audit_where(Some(&netns), port, &[]);
    let debugger = finding(&json, "debugger-exposed");
    assert_eq!(debugger["service"], "jdwp", "{json:#}");
    assert_eq!(
        debugger["fix"],
        format!(
            "pid {} (java) gets `{agent}` from JAVA_TOOL_OPTIONS in its environment (its command line does not show it): restart it without that variable (keep the debugger only while debugging)",
            java.0.id()
        ),
        "{json:#}"
    );
}

/// A node whose inspector comes from `NODE_OPTIONS`: its command line has
/// no `--inspect`, and the fix names the variable and the option read from
/// its environment, as for a JVM's `JAVA_TOOL_OPTIONS`, rather than a
/// command for the reader to look it up.
#[test]
fn a_node_inspector_from_node_options_is_found_and_its_fix_names_the_variable() {
    if !require("node") {
        return;
    }
    let mut command = Command::new("node");
    command
        .args(["-e", "setInterval(() => {}, 1000)"])
        .env("NODE_OPTIONS", "--max-old-space-size=128 --inspect=127.0.0.1:0")
        .stderr(Stdio::piped());
    let mut node = ChildGuard::spawn(&mut command);
    let mut stderr = std::io::BufReader::new(node.0.stderr.take().unwrap());
    let port = inspector_port(&util::wait_for_line(&mut stderr));
    let (_, json) = audit(port, &[]);
    let debugger = finding(&json, "debugger-exposed");
    assert_eq!(
        debugger["fix"],
        format!(
            "pid {} (node) gets `--inspect=127.0.0.1:0` from NODE_OPTIONS in its environment (its command line does not show it): restart it without that variable (keep the debugger only while debugging)",
            node.0.id()
        ),
        "{json:#}"
    );
    drop(stderr);
}

/// Debuggers in root's processes audited as nobody: the owners are
/// hidden, so neither their command lines nor their environments can be
/// read. The JVM's agent (found by the transport's backlog of one) is sent
/// the handshake, not an HTTP request it would log as a failed attach, and
/// both fixes say what could not be read and that root can read it.
#[test]
fn debuggers_of_root_processes_audited_without_root_say_what_root_would_read() {
    if !util::is_root() {
        crate::util::skip("needs root to drop to nobody");
        return;
    }
    if !require("node") || !require("java") {
        return;
    }
    // In a namespace of its own (see the JAVA_TOOL_OPTIONS test).
    let Some(netns) = Netns::create() else { return };
    let mut command = netns.command("node");
    command
        .args(["-e", "setInterval(() => {}, 1000)"])
        .env("NODE_OPTIONS", "--inspect=127.0.0.1:0")
        .stderr(Stdio::piped());
    let mut node = ChildGuard::spawn(&mut command);
    let mut stderr = std::io::BufReader::new(node.0.stderr.take().unwrap());
    let inspector = inspector_port(&util::wait_for_line(&mut stderr));
    let dir = tempfile::tempdir().unwrap();
    let jdwp = util::unique_port();
    let agent =
        format!("-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:{jdwp}");
    let (_java, printed, log) = start_jvm_as(
        netns.command("java"),
        dir.path(),
        &[],
        &[("JAVA_TOOL_OPTIONS", agent.as_str())],
    );
    assert_eq!(printed, jdwp);

    let ports = format!("{inspector},{jdwp}");
    let mut command = netns.command("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(util::binary()).args([
        "audit",
        "--port",
        &ports,
        "--json",
        "--skip",
        "outdated-package",
    ]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    let debugger = |port: u16| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "debugger-exposed" && f["local_port"] == port)
            .unwrap_or_else(|| panic!("no debugger-exposed on {port}: {json:#}"))
    };
    let hidden = |flag: &str, variables: &str| {
        format!("; the process is hidden: its socket belongs to uid 0 and porthole is not root, so its command line and environment could not be read (run porthole audit as root to name it and where its {flag} comes from: the command line or {variables})")
    };
    assert_eq!(debugger(inspector)["service"].as_str().unwrap_or(""), {
        let version = node_version();
        format!("node-inspector node.js/v{version}")
    });
    assert_eq!(
        debugger(inspector)["fix"],
        format!(
            "start node without --inspect (keep the debugger only while debugging){}",
            hidden("--inspect", "NODE_OPTIONS")
        )
    );
    assert_eq!(debugger(jdwp)["service"], "jdwp");
    assert_eq!(
        debugger(jdwp)["fix"],
        format!(
            "remove -agentlib:jdwp from the JVM options (keep the debugger only while debugging){}",
            hidden("-agentlib:jdwp", "JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, _JAVA_OPTIONS")
        )
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("failed to attach"), "{text}");
    drop(stderr);
}

/// A JVM with the agent on a port of the command line: the handshake is all
/// that reaches it (no passive read, which the JVM logs as a failed attach).
#[test]
fn a_jdwp_agent_is_only_sent_the_handshake() {
    if !require("java") {
        return;
    }
    // In a namespace of its own: a connection from another test's audit
    // would be a second one here, and the agent does not listen while a
    // debugger is connected.
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = util::unique_port();
    let agent =
        format!("-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:{port}");
    let (_java, printed, log) = start_jvm_as(netns.command("java"), dir.path(), &[&agent], &[]);
    assert_eq!(printed, port);
    let (_, json) = audit_where(Some(&netns), port, &[]);
    let debugger = finding(&json, "debugger-exposed");
    assert!(debugger["evidence"].as_str().unwrap().contains("JDWP-Handshake"), "{json:#}");
    // The agent listens again once the debugger that shook hands is gone.
    let listening = |text: &str| text.matches("Listening for transport").count();
    util::eventually(Duration::from_secs(30), || {
        listening(&std::fs::read_to_string(&log).unwrap_or_default()) >= 2
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("failed to attach"), "{text}");
    assert_eq!(listening(&text), 2, "one connection only: {text}");
}

/// A Python server on Chrome's DevTools port answering every path with JSON
/// that has a `Browser` field (hostile text in it) but not the protocol's
/// shape: HTTP, not a Chrome DevTools endpoint.
#[test]
fn json_on_the_devtools_port_is_not_named_chrome() {
    let Some(netns) = Netns::create() else { return };
    let script = r#"
import http.server, json
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"Browser": "Evil\u001b[31m/1.0", "webSocketDebuggerUrl": "ws://x"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 9222), Handler)
print("ready", flush=True)
server.serve_forever()
"#;
    let mut command = netns.command("python3");
    command.args(["-c", script]).stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(util::wait_for_line(&mut stdout), "ready");
    let output =
        netns.porthole(&["audit", "--port", "9222", "--json", "--skip", "outdated-package"]);
    let json = output.json();
    assert!(!rules(&json).contains(&"debugger-exposed".to_string()), "{json:#}");
    let service = json["services"][0]["service"].as_str().unwrap();
    assert!(service.starts_with("http"), "{json:#}");
    // The table shows no escape byte raw.
    let table = netns.porthole(&["audit", "--port", "9222", "--skip", "outdated-package"]);
    assert!(!table.stdout.contains('\u{1b}'), "{table:?}");
}

/// A real Prometheus with `--web.enable-admin-api`: named from its build
/// info, and the admin API found from its flags without being called.
#[test]
fn prometheus_admin_api_is_found_from_its_flags() {
    if !require("prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\nscrape_configs: []\n").unwrap();
    let port = util::unique_port();
    let mut command = Command::new("prometheus");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-admin-api")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _prometheus = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, Duration::from_secs(30)), "prometheus did not listen");
    let (_, json) = audit(port, &[]);
    let service = &json["services"][0];
    assert_eq!(service["service"], "prometheus", "{json:#}");
    let probes: Vec<&str> =
        service["probes"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(probes.contains(&"http GET /api/v1/status/flags"), "{probes:?}");
    assert!(!probes.iter().any(|p| p.contains("/admin")), "never called: {probes:?}");
    let admin = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "no-auth" && f["evidence"].as_str().unwrap().contains("admin"))
        .unwrap_or_else(|| panic!("no admin API finding: {json:#}"));
    assert_eq!(admin["severity"], "high");
    assert!(admin["fix"].as_str().unwrap().contains("without `--web.enable-admin-api`"));
    // A page that rebinds to it could call that API: rebinding is high too.
    let rebinding = finding(&json, "dns-rebinding");
    assert_eq!(rebinding["severity"], "high", "{json:#}");
    assert!(rebinding["fix"].as_str().unwrap().starts_with("Prometheus cannot check Host"));
}

/// Vite 5.4.11 (installed by scripts/setup.sh), whose dev server checked
/// neither Host nor the Origin of its HMR WebSocket: that socket answers
/// only with its `vite-hmr` subprotocol, so the Origin check asks for it.
#[test]
fn a_vite_dev_server_is_rebindable_and_its_hmr_socket_hijackable() {
    let vite = "/opt/porthole-vite/node_modules/vite/bin/vite.js";
    if !require("node") {
        return;
    }
    if !installed(vite) {
        return util::skip("vite 5.4.11 not installed in /opt/porthole-vite (scripts/setup.sh)");
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "<html><body>hi</body></html>").unwrap();
    let port = util::unique_port();
    let mut command = Command::new("node");
    command
        .arg(vite)
        .arg(root.path())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--strictPort"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _vite = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, Duration::from_secs(60)), "vite did not listen");
    let (_, json) = audit(port, &[]);
    let websocket = finding(&json, "websocket-origin");
    assert!(
        websocket["evidence"].as_str().unwrap().contains("Sec-WebSocket-Protocol: vite-hmr"),
        "{json:#}"
    );
    assert_eq!(finding(&json, "dns-rebinding")["severity"], "medium", "{json:#}");
}

fn node_version() -> String {
    let output = util::run(Command::new("node").arg("--version"));
    output.stdout.trim().trim_start_matches('v').to_string()
}

// ------------------------------------------------------- outdated code

/// A TCP listener in C: prints its port, accepts and closes forever.
pub(crate) const LISTENER_C: &str = r#"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 16);
    socklen_t length = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &length);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, 0, 0);
        if (c >= 0) close(c);
    }
}
"#;

pub(crate) fn compile(dir: &Path, name: &str, source: &str, args: &[&str]) -> PathBuf {
    let source_path = dir.join(format!("{name}.c"));
    std::fs::write(&source_path, source).unwrap();
    let output_path = dir.join(name);
    let built =
        util::run(Command::new("gcc").args(args).arg("-o").arg(&output_path).arg(&source_path));
    assert_eq!(built.code, 0, "gcc failed: {built:?}");
    output_path
}

pub(crate) fn start_listener(program: &Path, preload: Option<&Path>) -> (ChildGuard, u16) {
    let mut command = Command::new(program);
    command.stdout(Stdio::piped());
    if let Some(library) = preload {
        command.env("LD_PRELOAD", library);
    }
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let port = util::wait_for_line(&mut stdout).parse().expect("listener prints its port");
    (child, port)
}

#[test]
fn deleted_executable_is_an_outdated_binary() {
    if !require("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), "old-server", LISTENER_C, &[]);
    let (server, port) = start_listener(&program, None);
    std::fs::remove_file(&program).unwrap();
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["outdated-binary"], "{json:#}");
    let outdated = finding(&json, "outdated-binary");
    assert_eq!(outdated["pid"], server.pid());
    assert!(
        outdated["evidence"].as_str().unwrap().contains("old-server, which was deleted"),
        "{outdated}"
    );
    assert!(outdated["fix"].as_str().unwrap().contains(&format!("restart pid {}", server.pid())));
    assert!(
        outdated["evidence"].as_str().unwrap().ends_with("nothing is at that path now"),
        "{outdated}"
    );
    assert!(outdated["fix"].as_str().unwrap().contains("reinstall it first"), "{outdated}");
}

/// An upgrade renames a new file over the old one (dpkg, rpm, `install`):
/// the kernel marks the running inode ` (deleted)` all the same, and the
/// evidence used to say the binary and library were deleted, when a newer
/// copy is right there and a restart picks it up.
#[test]
fn an_executable_and_library_upgraded_by_rename_are_replaced_not_deleted() {
    if !require("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), "upgraded-server", LISTENER_C, &[]);
    let library = compile(
        dir.path(),
        "libporthole-upgraded.so",
        "int porthole_hook(void) { return 42; }\n",
        &["-shared", "-fPIC"],
    );
    let (server, port) = start_listener(&program, Some(&library));
    for path in [&program, &library] {
        let new = path.with_extension("new");
        std::fs::copy(path, &new).unwrap();
        std::fs::rename(&new, path).unwrap();
    }
    let (_, json) = audit(port, &[]);
    let binary = finding(&json, "outdated-binary");
    assert_eq!(binary["pid"], server.pid());
    let evidence = binary["evidence"].as_str().unwrap();
    assert!(evidence.contains("upgraded-server, which was replaced on disk"), "{evidence}");
    assert!(!evidence.contains("nothing is at that path"), "{evidence}");
    assert!(!binary["fix"].as_str().unwrap().contains("reinstall"), "{binary}");
    let library = finding(&json, "outdated-library");
    let evidence = library["evidence"].as_str().unwrap();
    assert!(evidence.contains("libporthole-upgraded.so (replaced)"), "{evidence}");
}

/// A server in a cgroup named like a systemd unit on a machine systemd does
/// not run (another init's, a container runtime's, one made by hand): the
/// fix said `systemctl restart NAME.service`, which fails there ("System
/// has not been booted with systemd"). It names the pid to restart, and the
/// server started again from the upgraded file is no finding.
#[test]
fn an_upgraded_server_in_a_unit_named_cgroup_without_systemd_is_restarted_by_its_pid() {
    if !require("gcc") {
        return;
    }
    if Path::new("/run/systemd/system").is_dir() {
        util::skip("systemd runs this machine: the test needs one without it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), "unit-server", LISTENER_C, &[]);
    let (server, port) = start_listener(&program, None);
    let name = format!("porthole-test-{}.service", std::process::id());
    let Some(cgroup) = util::Cgroup::unified(&name) else {
        util::skip("no cgroup v2 hierarchy can be written here");
        return;
    };
    assert!(cgroup.add(server.pid()), "pid {} into {}", server.pid(), cgroup.directory);
    let new = program.with_extension("new");
    std::fs::copy(&program, &new).unwrap();
    std::fs::rename(&new, &program).unwrap();
    let (_, json) = audit(port, &[]);
    let binary = finding(&json, "outdated-binary");
    assert_eq!(binary["pid"], server.pid(), "{binary:#}");
    let fix = binary["fix"].as_str().unwrap();
    assert!(fix.starts_with(&format!("restart pid {} (", server.pid())), "{fix}");
    assert!(!fix.contains("systemctl"), "{fix}");
    drop(server);
    let (_server, port) = start_listener(&program, None);
    let (_, json) = audit(port, &[]);
    assert!(rules(&json).is_empty(), "{json:#}");
}

#[test]
fn deleted_preloaded_library_is_an_outdated_library() {
    if !require("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), "server", LISTENER_C, &[]);
    let library = compile(
        dir.path(),
        "libporthole-hook.so",
        "int porthole_hook(void) { return 42; }\n",
        &["-shared", "-fPIC"],
    );
    let (_server, port) = start_listener(&program, Some(&library));
    std::fs::remove_file(&library).unwrap();
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["outdated-library"], "{json:#}");
    let outdated = finding(&json, "outdated-library");
    assert!(
        outdated["evidence"].as_str().unwrap().contains("libporthole-hook.so (deleted)"),
        "{outdated}"
    );
}

// ------------------------------------------------------- command line

#[test]
fn sarif_output_has_rules_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_python(REBINDABLE, &[dir.path().to_str().unwrap()]);
    let output = util::porthole_run(&["audit", "--port", &port.to_string(), "--sarif"]);
    assert_eq!(output.code, 0, "medium is below the default gate: {output:?}");
    let log = output.json();
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif"));
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "porthole");
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rule_ids.contains(&"dns-rebinding") && rule_ids.contains(&"outdated-library"));
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "dns-rebinding");
    assert_eq!(result["level"], "warning");
    assert!(result["message"]["text"].as_str().unwrap().contains(&port.to_string()));
    assert!(result["locations"][0]["logicalLocations"][0]["name"]
        .as_str()
        .unwrap()
        .contains(&port.to_string()));
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    for args in [
        &["audit", "--skip", "no-such-rule"][..],
        &["audit", "--fail-on", "severe"],
        &["audit", "--timeout", "soon"],
        &["audit", "--port", "70000"],
    ] {
        let output = util::porthole_run(args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{args:?}: {}", output.stderr);
        assert!(output.stderr.starts_with("porthole: "), "{}", output.stderr);
    }
    let unknown = util::porthole_run(&["audit", "--skip", "no-such-rule"]);
    assert!(unknown.stderr.contains("unknown rule 'no-such-rule'"), "{}", unknown.stderr);
    // A comma list, as `--port` takes: each name is judged on its own.
    let listed = util::porthole_run(&["audit", "--skip", "no-auth,no-such-rule"]);
    assert_eq!(listed.code, 2, "{listed:?}");
    assert!(listed.stderr.contains("unknown rule 'no-such-rule'"), "{}", listed.stderr);
    let port = util::unique_port();
    let both = util::porthole_run(&[
        "audit",
        "--port",
        &port.to_string(),
        "--skip",
        "outdated-package,weak-password",
    ]);
    assert_eq!(both.code, 0, "{both:?}");
}

#[test]
fn unprivileged_run_says_what_root_would_add() {
    if !util::is_root() {
        crate::util::skip("needs root to drop to nobody");
        return;
    }
    // A root-owned listener: nobody cannot see its process.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut command = Command::new("setpriv");
    command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
    command.arg(util::binary()).args([
        "audit",
        "--port",
        &port.to_string(),
        "--json",
        "--timeout",
        "300ms",
    ]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("not root") && output.stderr.contains("owners of 1 listener"),
        "{}",
        output.stderr
    );
    assert_eq!(output.json()["summary"]["hidden_owners"], 1);
}

#[test]
fn netns_all_probes_inside_other_namespaces() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut command = netns.command("python3");
    command.args(["-u", "-c", REBINDABLE, dir.path().to_str().unwrap()]).stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let port: u16 = util::wait_for_line(&mut stdout).parse().unwrap();
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", netns.name)).unwrap().ino()
    };
    let (_, json) = audit(port, &["--netns", "all"]);
    let ours: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["net_namespace"] == inode)
        .collect();
    assert!(
        ours.iter().any(|f| f["rule"] == "dns-rebinding"),
        "the probe ran inside namespace {inode}: {json:#}"
    );
}

/// The port of node's "Debugger listening on ws://127.0.0.1:PORT/UUID" line.
pub(crate) fn inspector_port(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected node output: {line}"))
}

#[test]
fn netns_name_audits_only_that_namespace() {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut command = netns.command("python3");
    command.args(["-u", "-c", REBINDABLE, dir.path().to_str().unwrap()]).stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let port: u16 = util::wait_for_line(&mut stdout).parse().unwrap();
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", netns.name)).unwrap().ino()
    };

    // The caller's namespace has nothing on the port.
    let (_, here) = audit(port, &[]);
    assert!(
        !here["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "dns-rebinding"),
        "{here:#}"
    );
    for netns_argument in [netns.name.clone(), format!("/run/netns/{}", netns.name)] {
        let (_, json) = audit(port, &["--netns", &netns_argument]);
        let findings = json["findings"].as_array().unwrap();
        assert!(
            findings.iter().any(|f| f["rule"] == "dns-rebinding"),
            "the probe ran inside {netns_argument}: {json:#}"
        );
        assert!(
            findings.iter().all(|f| f["net_namespace"] == inode),
            "only the named namespace is audited: {json:#}"
        );
    }
}

#[test]
fn netns_values_that_are_not_namespaces_are_usage_errors() {
    for bad in ["nosuch", "/etc/passwd", "/proc/self/ns/mnt", ""] {
        let output = util::porthole_run(&["audit", "--netns", bad]);
        util::assert_usage_error(&output, bad);
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

/// A container-like child with its own network and mount namespaces
/// (`unshare -n -m`) serves a world-writable docker.sock on a tmpfs only
/// it sees: the same path names nothing in porthole's mount namespace, so
/// the socket used to be skipped. It is read through `/proc/PID/root`, and
/// the printed `chmod` reaches it from here.
#[test]
fn api_socket_in_a_private_mount_namespace_is_audited_through_its_owner() {
    if !util::is_root() {
        util::skip("unshare -m needs root");
        return;
    }
    let dir = shared_tempdir();
    let path = dir.path().join("docker.sock");
    let script = "import socket,os,sys,time\ns=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(); print('ready', flush=True); time.sleep(120)";
    let mut command = Command::new("unshare");
    command
        .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs none \"$1\" && exec python3 -u -c \"$2\" \"$1/docker.sock\"")
        .args(["sh", dir.path().to_str().unwrap(), script])
        .stdout(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut command);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(util::wait_for_line(&mut stdout), "ready");
    assert!(!path.exists(), "the socket is visible only in the child's mount namespace");
    let pid = child.pid();
    let netns = format!("/proc/{pid}/ns/net");

    let output = util::porthole_run(&["audit", "--json", "--netns", &netns]);
    let json = output.json();
    let socket = finding(&json, "world-writable-socket");
    assert_eq!(socket["path"], path.to_str().unwrap(), "{socket}");
    let reached = format!("/proc/{pid}/root{}", path.display());
    assert!(socket["evidence"].as_str().unwrap().contains(&reached), "{socket}");
    let fix = socket["fix"].as_str().unwrap();
    let chmod = fix.split(" and keep").next().unwrap();
    assert_eq!(chmod, format!("chmod 660 {reached}"), "{fix}");
    let status = Command::new("sh").args(["-c", chmod]).status().unwrap();
    assert!(status.success(), "{chmod}");
    let again = util::porthole_run(&["audit", "--json", "--netns", &netns]).json();
    assert!(!rules(&again).contains(&"world-writable-socket".to_string()), "{again:#}");
}

/// A file in /run/netns with no namespace mounted on it (left by a failed
/// `ip netns add`, or an unmount) was counted as a namespace porthole
/// "could not read; run as root", even as root. In a private mount and PID
/// namespace, so that /run/netns and /proc hold only this test's.
#[test]
fn a_leftover_file_in_run_netns_is_no_namespace() {
    if !util::is_root() {
        util::skip("unshare -m -p needs root");
        return;
    }
    let output = util::run(
        Command::new("unshare")
            .args(["-m", "-p", "-f", "--mount-proc", "--propagation", "private", "sh", "-c"])
            .arg("mkdir -p /run/netns && mount -t tmpfs none /run/netns && touch /run/netns/leftover && exec \"$@\"")
            .arg("sh")
            .arg(util::binary())
            .args(["audit", "--netns", "all", "--json", "--skip", "outdated-package"]),
    );
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    assert!(!output.stderr.contains("could not be read"), "{}", output.stderr);
    let named = util::run(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mkdir -p /run/netns && mount -t tmpfs none /run/netns && touch /run/netns/leftover && exec \"$@\"")
            .arg("sh")
            .arg(util::binary())
            .args(["audit", "--netns", "leftover"]),
    );
    util::assert_usage_error(&named, "leftover");
    assert!(named.stderr.contains("ip netns delete leftover"), "{}", named.stderr);
}

/// Without root, `audit --netns all` cannot enter (or, for another user's
/// processes, even identify) other namespaces: it used to report "no
/// findings" with nothing said about them. It now counts them on stderr.
#[test]
fn unprivileged_audit_of_all_namespaces_says_which_it_could_not_read() {
    let Some(other) = Netns::create() else { return };
    // A root process in another namespace: nobody cannot read its netns.
    let _elsewhere = ChildGuard::spawn(other.command("sleep").arg("60"));
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(util::binary())
        .args(["audit", "--netns", "all", "--json", "--skip", "outdated-package"]);
    util::scrub(&mut command);
    let output = util::run(&mut command);
    assert!(output.code == 0 || output.code == 1, "{output:?}");
    assert!(output.stderr.contains("not root"), "{}", output.stderr);
    assert!(output.stderr.contains("other network namespace(s)"), "{}", output.stderr);
}

#[test]
fn netns_given_twice_is_a_usage_error() {
    for command in [&["audit"][..], &["check", "8080"], &["wait", "8080"], &["ls"]] {
        let mut args = command.to_vec();
        args.extend(["--netns", "current", "--netns", "all"]);
        let output = util::porthole_run(&args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains("--netns"), "{output:?}");
    }
}

/// A self-signed certificate and key in `dir`, readable by the test's
/// servers.
pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = util::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    assert_eq!(made.code, 0, "{made:?}");
    (cert, key)
}

/// A Redis that listens on its `tls-port` only hangs up on a plain `PING`:
/// it used to get no verdict at all, not even a service name, whether it
/// let anyone in or not. Its `PING` is repeated inside TLS: without client
/// certificates (`tls-auth-clients no`) and without a password it is
/// `no-auth`, and the fix's other way out (`tls-auth-clients yes`), applied
/// to the same server, makes the finding go; with a default password,
/// `--active` logs in over TLS. Redis logs no cross-protocol attack.
#[test]
fn redis_on_its_tls_port_only_is_probed_inside_tls() {
    if !require("redis-server") || !require("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    // start_redis's own plain port would be the one waited for.
    let tls = |extra: &[&str]| {
        let port = util::unique_port();
        let log = dir.path().join(format!("redis-{port}.log"));
        let mut command = Command::new("/usr/bin/redis-server");
        command
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&cert)
            .args(extra)
            .stdout(Stdio::null());
        let child = ChildGuard::spawn(&mut command);
        assert!(wait_for_port(port, START), "redis-server did not start on TLS port {port}");
        (child, port, log)
    };

    let (open_redis, port, log) = tls(&["--tls-auth-clients", "no"]);
    let (output, json) = audit(port, &[]);
    assert_eq!(rules(&json), ["no-auth"], "{json:#}");
    let open = finding(&json, "no-auth");
    assert!(open["evidence"].as_str().unwrap().starts_with("sent PING over TLS → +PONG"), "{open}");
    let fix = open["fix"].as_str().unwrap();
    assert!(fix.contains("`--requirepass <long random secret>`"), "{fix}");
    assert!(fix.contains("`tls-auth-clients yes`"), "{fix}");
    assert_eq!(json["services"][0]["tls"], true, "{json:#}");
    assert!(service(&json).starts_with("redis"), "{json:#}");
    assert_eq!(output.code, 0, "loopback high passes the default gate");
    assert_no_security_attack(&log);
    drop(open_redis);

    // The same server with the fix's `tls-auth-clients yes` (Redis's
    // default): a client without a certificate gets nothing.
    let (_closed, port, log) = tls(&["--tls-auth-clients", "yes"]);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), Vec::<String>::new(), "{json:#}");
    assert_eq!(service(&json), "redis", "{json:#}");
    let note = json["services"][0]["note"].as_str().unwrap_or_default();
    assert!(note.contains("client certificate"), "{json:#}");
    assert_no_security_attack(&log);

    let (_weak, port, log) = tls(&["--tls-auth-clients", "no", "--requirepass", "foobared"]);
    let (_, json) = audit(port, &[]);
    assert_eq!(rules(&json), Vec::<String>::new(), "a password is asked: {json:#}");
    let (_, json) = audit(port, &["--active"]);
    let weak = finding(&json, "weak-password");
    assert!(weak["evidence"].as_str().unwrap().contains("`default`"), "{weak}");
    assert_no_security_attack(&log);
}

/// pg_hba.conf has a line per loopback family, and a PostgreSQL on
/// 127.0.0.1 and ::1 that asked the IPv4 login for a password while
/// trusting `::1` passed `--active` clean: every local process could log in
/// as its superuser over IPv6. The login is repeated over the other
/// loopback; the printed fix (`scram-sha-256` on the trusting line of the
/// server's own pg_hba.conf, then a reload) makes the finding go.
#[test]
fn postgres_trusting_one_loopback_family_is_found_over_it() {
    let Some(bin) = postgres_bin() else {
        crate::util::skip("postgresql not installed");
        return;
    };
    assert!(util::is_root(), "starting PostgreSQL as user postgres needs root");
    let dir = shared_tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, "postgres");
    let init = util::run(
        as_user("postgres", &bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 trust\n",
    )
    .unwrap();
    chown(&hba, "postgres");
    let port = util::unique_port();
    let mut command = as_user("postgres", &bin.join("postgres"));
    command
        .args(["-D", data.to_str().unwrap(), "-p", &port.to_string(), "-k", data.to_str().unwrap()])
        .args(["-c", "listen_addresses=127.0.0.1,::1", "-c", "fsync=off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let postmaster = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "postgres did not start on {port}");
    assert!(postgres_ready(&bin, port, None), "postgres on {port} accepts no logins");

    let (_, json) = audit(port, &["--active"]);
    let trust = finding(&json, "trust-auth");
    assert_eq!(trust["severity"], "high", "{trust:#}");
    let evidence = trust["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("over ::1: StartupMessage"), "{evidence}");
    assert!(evidence.contains("while over 127.0.0.1:") && evidence.contains("SCRAM"), "{evidence}");
    // The fix as printed: its `psql` goes where the login was trusted (over
    // 127.0.0.1 postgres, with no password yet, would be refused); the
    // password is set through the socket here, as `\password` prompts.
    let fix = trust["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("`psql -h ::1 -p {port} -U postgres -c")), "{fix}");
    let set = util::run(
        as_user("postgres", &bin.join("psql"))
            .args(["-h", data.to_str().unwrap(), "-p", &port.to_string(), "-U", "postgres"])
            .args(["-d", "postgres", "-c", "ALTER USER postgres PASSWORD 'Zq8-unguessable-4m'"]),
    );
    assert_eq!(set.code, 0, "{set:?}");
    crate::audit_fixes::run_edit_and_reload(fix, &data, Some(postmaster.pid()));
    let edited = std::fs::read_to_string(&hba).unwrap();
    assert!(edited.ends_with("host all all ::1/128 scram-sha-256\n"), "{edited}");
    let mut last = Value::Null;
    let clean = util::eventually(Duration::from_secs(20), || {
        last = audit(port, &["--active"]).1;
        !rules(&last).contains(&"trust-auth".to_string())
    });
    assert!(clean, "trust still reported: {last:#}");
}
