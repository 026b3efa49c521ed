//! `porthole wait` and `check` with `postgres://`, `redis://` and
//! `mysql://` targets, against real servers in the states where the port
//! accepts connections but the service takes no clients: a PostgreSQL
//! standby without hot standby (SQLSTATE 57P03) until it is promoted, a
//! Redis still loading its dataset (`-LOADING`), a MariaDB that greets; and
//! a service URL pointed at another service's port, where the holder is
//! named. The same services on Unix sockets (`?host=`, `%2F…`,
//! `redis+socket://`, `?socket=`), without TCP, over TLS (`rediss://`) and
//! at their connection limit; memcached.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::audit::{as_user, chown, postgres_bin, shared_tempdir, start_redis};
use crate::util::{self, porthole_run};

/// A PostgreSQL cluster under `dir` started as a standby with
/// `hot_standby = off`: it accepts TCP and refuses every login with 57P03
/// until promoted. Returns the port, or `None` (skip counted) without
/// PostgreSQL.
fn start_standby(dir: &Path) -> Option<(std::path::PathBuf, u16)> {
    let Some(bin) = postgres_bin() else {
        util::skip("postgresql not installed");
        return None;
    };
    assert!(util::is_root(), "starting PostgreSQL as user postgres needs root");
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, "postgres");
    let init = util::run(
        as_user("postgres", &bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nhot_standby = off\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    std::fs::write(data.join("standby.signal"), "").unwrap();
    chown(&data, "postgres");
    let port = util::unique_port();
    // The socket and the log go where user postgres may write.
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", data.display());
    let start = util::run(as_user("postgres", &bin.join("pg_ctl")).args([
        "-D",
        data.to_str().unwrap(),
        "-o",
        &options,
        "-l",
        data.join("startup.log").to_str().unwrap(),
        "start",
        "-w",
        "-t",
        "60",
    ]));
    assert_eq!(start.code, 0, "pg_ctl start failed: {start:?}");
    Some((data, port))
}

fn pg_ctl(data: &Path, args: &[&str]) -> util::Output {
    let bin = postgres_bin().expect("postgresql");
    util::run(as_user("postgres", &bin.join("pg_ctl")).arg("-D").arg(data).args(args))
}

#[test]
fn a_postgres_standby_is_not_ready_until_it_is_promoted() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_standby(dir.path()) else { return };
    let stop = stop_on_drop(&data);
    let url = format!("postgres://app:secret@127.0.0.1:{port}/appdb");

    // The port accepts connections: a bare TCP wait is satisfied.
    let tcp = porthole_run(&["wait", &format!("127.0.0.1:{port}"), "--timeout", "10s"]);
    assert_eq!(tcp.code, 0, "{tcp:?}");

    let output = porthole_run(&["wait", &url, "--timeout", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("service-not-ready: PostgreSQL at 127.0.0.1"), "{output:?}");
    assert!(output.stderr.contains("(Hot standby mode is disabled.) (57P03)"), "{output:?}");
    assert!(!output.stderr.contains("secret"), "the password is never printed: {output:?}");
    assert!(
        output.stderr.contains(&format!("postgres://app@127.0.0.1:{port}/appdb")),
        "{output:?}"
    );

    let check = porthole_run(&["check", &url, "--json"]);
    assert_eq!(check.code, 1, "{check:?}");
    assert_eq!(util::cause_ids(&check.json())[0], "service-not-ready", "{check:?}");

    // The same cluster through its Unix socket, in both of libpq's
    // spellings of a socket directory: asked in the protocol, not judged
    // by the accept.
    let directory = data.to_str().unwrap();
    let by_query = format!("postgres://app:secret@/appdb?host={directory}&port={port}");
    let encoded = directory.replace('/', "%2F");
    let by_host = format!("postgresql://app@{encoded}:{port}/appdb");
    let socket = format!("{directory}/.s.PGSQL.{port}");
    for socket_url in [&by_query, &by_host] {
        let output = porthole_run(&["wait", socket_url, "--timeout", "2s"]);
        assert_eq!(output.code, 1, "{socket_url}: {output:?}");
        assert!(
            output.stderr.contains(&format!("service-not-ready: PostgreSQL at {socket}")),
            "{output:?}"
        );
        assert!(output.stderr.contains("(57P03)"), "{output:?}");
        assert!(!output.stderr.contains("secret"), "{output:?}");
    }

    let promote = pg_ctl(&data, &["promote", "-w", "-t", "60"]);
    assert_eq!(promote.code, 0, "pg_ctl promote failed: {promote:?}");
    let output = porthole_run(&["wait", &url, "--timeout", "60s", "--", "true"]);
    assert_eq!(output.code, 0, "{output:?}");
    // Trust authentication: the login goes through (no password is ever
    // sent) and the session is ended cleanly.
    assert!(output.stderr.contains("PostgreSQL takes logins (without a password)"), "{output:?}");
    let output = porthole_run(&["wait", &by_query, "--timeout", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(&format!("{socket} connected (PostgreSQL takes logins")));
    // A socket directory with no server in it is named as such.
    let empty = format!("postgres:///appdb?host={}&port={port}", dir.path().display());
    let output = porthole_run(&["wait", &empty, "--timeout", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("nothing-listening"), "{output:?}");
    assert!(output.stderr.contains(&format!(".s.PGSQL.{port} does not exist")), "{output:?}");
    drop(stop);
}

/// Stops the cluster at `data` when dropped (a failed assertion included).
fn stop_on_drop(data: &Path) -> impl Drop + '_ {
    struct Stop<'a>(&'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = pg_ctl(self.0, &["stop", "-m", "immediate", "-w"]);
        }
    }
    Stop(data)
}

#[test]
fn redis_loading_its_dataset_is_waited_for() {
    if !crate::audit::require("redis-server") {
        return;
    }
    let dir = shared_tempdir();
    // A dataset that takes seconds to load: 4,000 keys, 1 ms each
    // (`key-load-delay`), with client events served every KiB read.
    let (writer, port, _) = start_redis(&[], dir.path(), Path::new("redis-server"));
    let mut cli = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli runs");
    {
        use std::io::Write;
        let mut stdin = cli.stdin.take().expect("stdin");
        for key in 0..4000 {
            writeln!(stdin, "SET key{key} value{key}").expect("write");
        }
        writeln!(stdin, "SAVE").expect("write");
    }
    assert!(cli.wait().expect("redis-cli ends").success());
    drop(writer);
    assert!(dir.path().join("dump.rdb").exists(), "SAVE wrote the dataset");
    let (_loading, port, _) = start_redis(
        &["--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"],
        dir.path(),
        Path::new("redis-server"),
    );

    let output = porthole_run(&["wait", &format!("redis://127.0.0.1:{port}/0"), "-t", "60s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("LOADING Redis is loading the dataset"), "{output:?}");
    assert!(output.stderr.contains("Redis answered PONG"), "{output:?}");
}

#[test]
fn mariadb_greets_and_is_ready() {
    let dir = shared_tempdir();
    let Some((_server, port)) = crate::audit::start_mariadb(&dir) else { return };
    let output = porthole_run(&["wait", &format!("mariadb://root@127.0.0.1:{port}"), "-t", "30s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("-MariaDB"), "{output:?}");
    assert!(output.stderr.contains("greeted the client"), "{output:?}");
    // MariaDB's greeting starts with "5.5.5-" for old clients; the version
    // shown is its own.
    assert!(!output.stderr.contains("5.5.5-"), "{output:?}");
}

#[test]
fn a_service_url_on_another_services_port_names_the_holder() {
    if !crate::audit::require("redis-server") {
        return;
    }
    let dir = shared_tempdir();
    let (_redis, port, _) = start_redis(&[], dir.path(), Path::new("redis-server"));
    // MySQL/MariaDB speaks first; Redis waits for a command.
    let output = porthole_run(&["wait", &format!("mysql://127.0.0.1:{port}"), "-t", "2s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(
        output.stderr.contains("does not answer as MySQL/MariaDB: it sent nothing"),
        "{output:?}"
    );
    assert!(output.stderr.contains("held by redis-server"), "{output:?}");
    assert!(output.stderr.contains(&format!("fix: $ porthole {port}")), "{output:?}");
    // A PostgreSQL StartupMessage is not a Redis command.
    let check = porthole_run(&["check", "--json", &format!("postgres://127.0.0.1:{port}")]);
    assert_eq!(check.code, 1, "{check:?}");
    let cause = util::cause(&check.json(), "service-not-ready").clone();
    assert!(
        cause["summary"].as_str().unwrap().contains("does not answer as PostgreSQL"),
        "{cause}"
    );
    // What Redis itself would say is ready.
    let redis = porthole_run(&["wait", &format!("redis://127.0.0.1:{port}"), "-t", "10s"]);
    assert_eq!(redis.code, 0, "{redis:?}");
}

#[test]
fn redis_on_a_unix_socket_with_a_password_is_up_and_wants_a_login() {
    if !crate::audit::require("redis-server") {
        return;
    }
    let dir = shared_tempdir();
    let socket = dir.path().join("redis.sock");
    let (_redis, _, _) = start_redis(
        &["--unixsocket", socket.to_str().unwrap(), "--requirepass", "hunter2"],
        dir.path(),
        Path::new("redis-server"),
    );
    let url = format!("redis+socket://:hunter2@{}?db=3", socket.display());
    let output = porthole_run(&["wait", &url, "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("Redis is up and wants a login (NOAUTH"), "{output:?}");
    assert!(output.stderr.contains(&format!("redis+socket://{}?db=3", socket.display())));
    assert!(!output.stderr.contains("hunter2"), "{output:?}");
    // redis-py's spelling of the same socket.
    let redis_py = format!("unix://:hunter2@{}?db=3", socket.display());
    let output = porthole_run(&["wait", &redis_py, "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("Redis is up and wants a login (NOAUTH"), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{output:?}");
    // A socket that another service holds is named with its holder.
    let check =
        porthole_run(&["check", &format!("mysql://localhost/?socket={}", socket.display())]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stdout.contains("does not answer as MySQL/MariaDB"), "{check:?}");
    assert!(check.stdout.contains("the socket is held by redis-server"), "{check:?}");
}

#[test]
fn mariadb_greets_on_its_unix_socket() {
    let dir = shared_tempdir();
    let Some((_server, port)) = crate::audit::start_mariadb(&dir) else { return };
    let socket = dir.path().join("data/mysqld.sock");
    let url = format!("mysql://root:hunter2@localhost/app?socket={}", socket.display());
    let output = porthole_run(&["wait", &url, "-t", "30s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("MariaDB") && output.stderr.contains("greeted the client"));
    assert!(output.stderr.contains(&format!("{} connected", socket.display())), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{output:?}");

    // The mariadb client's variables: MYSQL_UNIX_PORT is the socket of
    // `localhost`, MYSQL_HOST and MYSQL_TCP_PORT an absent host and port.
    // An option file's socket= wins over the variable (Debian's
    // /etc/mysql/mariadb.cnf has one): the client runs with none here, in a
    // mount namespace where /etc/mysql is empty and HOME has no .my.cnf.
    let socket_text = socket.display().to_string();
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["-m", "sh", "-c", "mount -t tmpfs none /etc/mysql && exec \"$@\"", "sh"])
        .arg(util::binary());
    util::scrub(&mut command);
    let output = util::run(
        command
            .env("HOME", home.path())
            .env("MYSQL_UNIX_PORT", &socket_text)
            .env("MYSQL_PWD", "hunter2")
            .args(["wait", "mysql://root@localhost/app", "-t", "30s"]),
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("socket from MYSQL_UNIX_PORT"), "{output:?}");
    assert!(output.stderr.contains(&format!("{socket_text} connected")), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{output:?}");
    let output = util::run(
        util::porthole()
            .env("MYSQL_HOST", "127.0.0.1")
            .env("MYSQL_TCP_PORT", port.to_string())
            .args(["wait", "mysql:///app", "-t", "30s"]),
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("host from MYSQL_HOST, port from MYSQL_TCP_PORT"), "{output:?}");
    assert!(output.stderr.contains(&format!("127.0.0.1:{port} connected")), "{output:?}");
}

#[test]
fn a_bad_service_url_is_one_line_without_its_password() {
    for (args, names) in [
        (&["wait", "postgres://app:hunter2@/appdb?host=a,b,c&port=1,2"][..], "2 ports"),
        (&["check", "postgres:///db?password=hunter2&dbname=%zz"][..], "percent-encoding"),
        (&["wait", "postgres://app:hunter2@/db?service=prod"][..], "pg_service.conf"),
        (&["wait", "redis+socket://:hunter2@"][..], "missing socket path"),
        (&["check", "postgres:///appdb?port=99999&password=hunter2"][..], "out of range"),
        (&["wait", "http://user:hunter2@127.0.0.1:1/"][..], "credentials"),
        (&["check", "mysql://root:hunter2@[::1:3306"][..], "unclosed '['"),
        (&["check", "postgres://app:hunter2@/db?hostaddr=db.example"][..], "invalid hostaddr"),
        (&["wait", "host=db password='hunter2 x' sslmode=on"][..], "invalid sslmode 'on'"),
        (&["check", "host='db password=hunter2"][..], "unterminated quoted value"),
        (&["check", "postgres:///db?target_session_attrs=rw&password=hunter2"][..], "read-write"),
        // A Redis path is a database number, as the clients read it.
        (
            &["wait", "redis://:hunter2@127.0.0.1:1/0/extra", "-t", "1s"][..],
            "'0/extra' in 'redis://:***@127.0.0.1:1/0/extra' is not a Redis database number",
        ),
        (&["check", "rediss://127.0.0.1:1/cache"][..], "'cache' in"),
        (&["check", "redis://127.0.0.1:1/-1"][..], "'-1' in"),
        (&["check", "redis+socket:///run/r.sock?db=one"][..], "'one' in"),
        // libpq refuses an sslmode it does not know; `disabled` was judged
        // as a client that asks for TLS.
        (
            &["check", "postgres://app:hunter2@127.0.0.1:1/db?sslmode=disabled"][..],
            "invalid sslmode 'disabled' in postgres://app:***@127.0.0.1:1/db?sslmode=disabled",
        ),
    ] {
        let output = porthole_run(args);
        util::assert_usage_error(&output, &format!("{args:?}"));
        assert!(output.stderr.contains(names), "{args:?}: {output:?}");
        assert!(!output.stderr.contains("hunter2"), "{args:?}: {output:?}");
    }
    // libpq reads what the URL leaves out from the PGSERVICE section of
    // pg_service.conf first: not guessed from PGHOST or the defaults.
    let output =
        util::run(util::porthole().env("PGSERVICE", "prod").args(["wait", "postgres:///db"]));
    util::assert_usage_error(&output, "PGSERVICE");
    assert!(output.stderr.contains("PGSERVICE=prod in the environment"), "{output:?}");
}

#[test]
fn memcached_answers_version_and_a_full_one_is_refused() {
    if !crate::audit::require("memcached") {
        return;
    }
    let port = util::unique_port();
    // One worker thread and a low connection limit that a test can reach.
    let _memcached = util::ChildGuard::spawn(
        Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-t", "1", "-c", "40"])
            .args(["-u", "nobody"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(util::wait_for_port(port, std::time::Duration::from_secs(10)), "memcached on {port}");
    let url = format!("memcached://127.0.0.1:{port}");
    let output = porthole_run(&["wait", &url, "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("answered version"), "{output:?}");

    // At its limit memcached answers "ERROR Too many open connections" and
    // closes: the port accepts, the service takes no client.
    let mut held: Vec<std::net::TcpStream> =
        (0..60).map_while(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    assert_eq!(held.len(), 60);
    // memcached counts a connection once its worker took it over: on a busy
    // machine the accept thread may still hand out slots the held
    // connections already fill. Wait until memcached itself refuses one.
    assert!(
        util::eventually(std::time::Duration::from_secs(20), || {
            use std::io::Read;
            let Ok(mut probe) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = probe.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let mut answer = [0u8; 64];
            let refused = probe
                .read(&mut answer)
                .is_ok_and(|n| answer[..n].starts_with(b"ERROR Too many open connections"));
            // A probe memcached took is one more held connection.
            held.push(probe);
            refused
        }),
        "memcached never refused a connection at its limit"
    );
    let output = porthole_run(&["wait", &url, "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("ERROR Too many open connections"), "{output:?}");
    assert!(output.stderr.contains("service-refused"), "{output:?}");
    drop(held);
}

/// A redis-server on a plain port and a TLS port (a self-signed
/// certificate, clients not asked for theirs) with `extra` arguments; returns
/// it with its plain and TLS ports once both take connections.
fn start_redis_with_tls(extra: &[&str]) -> (RedisWithTls, u16, u16) {
    let dir = shared_tempdir();
    let (cert, key) = crate::audit::certificate(dir.path());
    let tls_port = util::unique_port();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let tls_port_text = tls_port.to_string();
    let mut args = vec![
        "--tls-port",
        &tls_port_text,
        "--tls-cert-file",
        cert,
        "--tls-key-file",
        key,
        "--tls-ca-cert-file",
        cert,
        "--tls-auth-clients",
        "no",
    ];
    args.extend_from_slice(extra);
    let (redis, plain_port, _) = start_redis(&args, dir.path(), Path::new("redis-server"));
    // start_redis waited for the plain port; the TLS one opens with it.
    assert!(util::wait_for_port(tls_port, std::time::Duration::from_secs(10)));
    (RedisWithTls { _redis: redis, _dir: dir }, plain_port, tls_port)
}

/// The server and the directory holding its certificate, both kept until
/// dropped.
struct RedisWithTls {
    _redis: util::ChildGuard,
    _dir: tempfile::TempDir,
}

#[test]
fn rediss_asks_inside_tls_and_a_client_on_the_wrong_port_is_told() {
    if !crate::audit::require("redis-server") || !crate::audit::require("openssl") {
        return;
    }
    let (_redis, plain_port, tls_port) = start_redis_with_tls(&["--requirepass", "hunter2"]);

    let tls = format!("rediss://:hunter2@127.0.0.1:{tls_port}/0");
    let output = porthole_run(&["wait", &tls, "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    // A password is never sent: the server is up and wants a login.
    assert!(output.stderr.contains("wants a login (NOAUTH"), "{output:?}");
    assert!(output.stderr.contains("(over TLS)"), "{output:?}");
    assert!(output.stderr.contains(&format!("rediss://127.0.0.1:{tls_port}/0")), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{output:?}");

    // A plain client on the TLS port, and a TLS client on the plain port.
    let output = porthole_run(&["wait", &format!("redis://127.0.0.1:{tls_port}"), "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("speaks TLS only"), "{output:?}");
    assert!(output.stderr.contains("rediss://"), "{output:?}");
    let output = porthole_run(&["wait", &format!("rediss://127.0.0.1:{plain_port}"), "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("speaks plain Redis only"), "{output:?}");
}

/// `rediss://` to a plain Redis (and `redis://` to a TLS-only one) is
/// `tls-mismatch`, whose fix is the `check` of the same URL with TLS turned
/// around, and that line, run as printed, finds the server ready. It was
/// `service-not-ready` with "point the client at the port Redis listens on,
/// or move the other service" about the very Redis that answered.
#[test]
fn a_redis_url_with_the_wrong_tls_gets_the_check_that_runs() {
    if !crate::audit::require("redis-server") || !crate::audit::require("openssl") {
        return;
    }
    let (_redis, plain_port, tls_port) = start_redis_with_tls(&[]);
    for (target, fixed) in [
        (format!("rediss://127.0.0.1:{plain_port}/1"), format!("redis://127.0.0.1:{plain_port}/1")),
        (format!("redis://127.0.0.1:{tls_port}"), format!("rediss://127.0.0.1:{tls_port}")),
    ] {
        let output = porthole_run(&["check", &target, "--timeout", "2s", "--json"]);
        assert_eq!(output.code, 1, "{output:?}");
        let json = output.json();
        assert_eq!(util::cause_ids(&json), ["tls-mismatch"], "{json:#}");
        let cause = util::cause(&json, "tls-mismatch");
        let command = format!("porthole check {fixed}");
        assert_eq!(cause["fix_commands"], serde_json::json!([command]), "{cause:#}");
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let ran = porthole_run(&words);
        assert_eq!(ran.code, 0, "{command}: {ran:?}");
        assert!(ran.stdout.starts_with(&format!("OK: {fixed} is reachable")), "{ran:?}");
    }
}

/// A MariaDB without TCP (`skip-networking`): a TCP URL finds nothing, and
/// the fix is the same URL through the server's socket, which runs as
/// printed; at `max_connections` the socket greets with error 1040.
#[test]
fn mariadb_without_networking_is_found_on_its_socket_and_a_full_one_refuses() {
    let dir = shared_tempdir();
    let extra = ["--skip-networking", "--max-connections=10", "--connect-timeout=3600"];
    let Some((_server, _)) = crate::audit::start_mariadb_with(&dir, &extra) else { return };
    let socket = dir.path().join("data/mysqld.sock");
    let port = util::unique_port();
    let output = porthole_run(&["check", &format!("mysql://root:hunter2@127.0.0.1:{port}/app")]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(!output.stdout.contains("hunter2"), "{output:?}");
    let fix = output
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("$ porthole check "))
        .unwrap_or_else(|| panic!("no porthole check fix: {output:?}"));
    let url = fix.split("   #").next().unwrap().trim().trim_matches('\'');
    assert!(url.starts_with("mysql://root@localhost/app?socket="), "{url}");
    let through = porthole_run(&["check", url]);
    assert_eq!(through.code, 0, "{url}: {through:?}");

    // Twelve clients that never log in fill max_connections (10, and one
    // more for an administrator); the next greeting is error 1040.
    let held: Vec<std::os::unix::net::UnixStream> = (0..12)
        .map(|_| std::os::unix::net::UnixStream::connect(&socket).expect("connect"))
        .collect();
    let url = format!("mysql://localhost/app?socket={}", socket.display());
    let output = porthole_run(&["wait", &url, "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains("Too many connections (error 1040)"), "{output:?}");
    assert!(output.stderr.contains("service-refused"), "{output:?}");
    drop(held);
}

/// A PostgreSQL with `listen_addresses = ''` takes local clients through
/// its socket only: a TCP URL finds nothing on the port, and the fix is the
/// same URL through the socket directory, which runs as printed.
#[test]
fn postgres_without_tcp_is_found_on_its_socket() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "") else { return };
    let stop = stop_on_drop(&data);

    let output =
        porthole_run(&["check", &format!("postgres://app:hunter2@localhost:{port}/appdb")]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(!output.stdout.contains("hunter2"), "{output:?}");
    assert!(output.stdout.contains(&format!(".s.PGSQL.{port}")), "{output:?}");
    let fix = output
        .stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("$ porthole check "))
        .unwrap_or_else(|| panic!("no porthole check fix: {output:?}"));
    let url = fix.split("   #").next().unwrap().trim().trim_matches('\'');
    assert_eq!(url, format!("postgres://app@/appdb?host={}&port={port}", data.display()));
    let through = porthole_run(&["wait", url, "-t", "10s"]);
    assert_eq!(through.code, 0, "{url}: {through:?}");
    assert!(through.stderr.contains("PostgreSQL takes logins"), "{through:?}");
    drop(stop);
}

/// `PGHOST=DIR PGPORT=P psql app` connects where the variables say: a
/// URL that leaves the host or port out is asked there too, and says so;
/// a part the URL gives wins. `check --from PID` reads the process's
/// variables.
#[test]
fn a_postgres_url_takes_what_it_leaves_out_from_the_clients_variables() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let directory = data.display().to_string();
    let port_text = port.to_string();
    let variables = [
        ("PGHOST", directory.as_str()),
        ("PGPORT", port_text.as_str()),
        ("PGUSER", "postgres"),
        ("PGPASSWORD", "hunter2"),
    ];
    let with = |args: &[&str]| util::run(util::porthole().envs(variables).args(args));

    let output = with(&["wait", "postgres:///app", "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    let asking = format!(
        "asking postgres://postgres@/app?host={directory}&port={port}: user from PGUSER, host from PGHOST, port from PGPORT (the client's environment)"
    );
    assert!(output.stderr.contains(&asking), "{output:?}");
    assert!(output.stderr.contains("PostgreSQL takes logins"), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{output:?}");

    // An explicit host wins over PGHOST; the port still comes from PGPORT.
    let output = with(&["wait", "postgres://127.0.0.1/app", "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(&format!("127.0.0.1:{port} connected")), "{output:?}");
    assert!(output.stderr.contains(": user from PGUSER, port from PGPORT"), "{output:?}");
    // An explicit port wins over PGPORT: nothing listens on that socket.
    let output = with(&["wait", "postgres:///app?port=1", "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stderr.contains(&format!("{directory}/.s.PGSQL.1 does not exist")));

    // check: the verdict's evidence names the variables.
    let output = with(&["check", "postgres:///app"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("host from PGHOST, port from PGPORT"), "{output:?}");

    // --from PID: the variables of that process, not porthole's own.
    let mut client = Command::new("sleep")
        .arg("60")
        .env_clear()
        .envs(variables)
        .stdout(Stdio::null())
        .spawn()
        .expect("sleep starts");
    let pid = client.id().to_string();
    let output = porthole_run(&["check", "--from", &pid, "postgres:///app"]);
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("host from PGHOST, port from PGPORT"), "{output:?}");
    drop(stop);
}

/// A PostgreSQL cluster under `dir` with its socket in `dir/data`,
/// listening on `listen_addresses` (empty: the socket only). Returns the
/// data directory and port, or `None` (skip counted) without PostgreSQL.
fn start_postgres(dir: &Path, listen_addresses: &str) -> Option<(std::path::PathBuf, u16)> {
    let Some(bin) = postgres_bin() else {
        util::skip("postgresql not installed");
        return None;
    };
    assert!(util::is_root(), "starting PostgreSQL as user postgres needs root");
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    chown(&data, "postgres");
    let init = util::run(
        as_user("postgres", &bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    let port = util::non_ephemeral_port();
    let options = format!("-p {port} -k {} -c listen_addresses={listen_addresses}", data.display());
    let start = util::run(as_user("postgres", &bin.join("pg_ctl")).args([
        "-D",
        data.to_str().unwrap(),
        "-o",
        &options,
        "-l",
        data.join("startup.log").to_str().unwrap(),
        "start",
        "-w",
        "-t",
        "60",
    ]));
    assert_eq!(start.code, 0, "pg_ctl start failed: {start:?}");
    Some((data, port))
}

/// `mysql://…@localhost` without a socket: the MariaDB/MySQL client goes
/// through the Unix socket its option files name (`[client] socket=` in
/// `~/.my.cnf` here), not TCP, so porthole asks that socket and says why. A
/// MariaDB without TCP (`skip-networking`) is then ready, as it is for the
/// client, instead of "nothing listens on port 3306".
#[test]
fn mysql_localhost_is_asked_through_the_clients_socket() {
    let dir = shared_tempdir();
    let extra = ["--skip-networking"];
    let Some((_server, _)) = crate::audit::start_mariadb_with(&dir, &extra) else { return };
    let socket = dir.path().join("data/mysqld.sock");
    let home = tempfile::tempdir().expect("home");
    let options = home.path().join(".my.cnf");
    std::fs::write(&options, format!("[client]\nuser = app\nsocket = {}\n", socket.display()))
        .expect(".my.cnf written");
    let run = |args: &[&str]| {
        util::run(util::porthole().env("HOME", home.path()).env_remove("MYSQL_HOME").args(args))
    };
    let why = format!("socket from socket= in [client] of {} line 3", options.display());

    let check = run(&["check", "--json", "mysql://root@localhost/app"]);
    assert_eq!(check.code, 0, "{check:?}");
    let json = check.json();
    assert_eq!(json["attempts"][0]["address"], socket.display().to_string(), "{json:#}");
    let detail = json["attempts"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{why} (the client's option files)")), "{detail}");
    let wait = run(&["wait", "mysql://root@localhost:3306/app", "-t", "30s"]);
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(wait.stderr.contains(&why), "{wait:?}");
    assert!(wait.stderr.contains(&format!("{} connected", socket.display())), "{wait:?}");

    // 127.0.0.1 stays TCP, as it is for the client: nothing listens there.
    let port = util::unique_port();
    let tcp = run(&["check", &format!("mysql://root@127.0.0.1:{port}/app")]);
    assert_eq!(tcp.code, 1, "{tcp:?}");
    // Without an option file the client's compiled-in default is asked.
    std::fs::remove_file(&options).expect(".my.cnf removed");
    let default = run(&["check", "--json", "mysql://root@localhost/app"]);
    let json = default.json();
    let detail = json["attempts"][0]["detail"].as_str().unwrap().to_string();
    if !detail.contains("socket= in [client") {
        // No system-wide client socket line: the default is named as such.
        assert_eq!(json["attempts"][0]["address"], "/run/mysqld/mysqld.sock", "{json:#}");
        assert!(detail.contains("the MariaDB/MySQL client's default for localhost"), "{detail}");
    }
}

/// libpq tries the hosts of `postgres://h1:P1,h2:P2/db` (and of
/// `PGHOST=a,b PGPORT=…`) in turn: `check` judges each in that order, says
/// which one the client ends up on (a failing first host is a warning), or
/// why every one fails; `wait` is ready once one of them is.
#[test]
fn several_postgres_hosts_are_tried_in_turn() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let dead = util::unique_port();

    let url = format!("postgres://app:hunter2@127.0.0.1:{dead},127.0.0.1:{port}/appdb");
    let output = porthole_run(&["check", "--json", &url]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains("hunter2"), "{output:?}");
    let json = output.json();
    let outcomes: Vec<&str> = json["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "connected"], "{json:#}");
    let first = util::cause(&json, "nothing-listening");
    assert_eq!(first["severity"], "warning", "{json:#}");
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("host 1 of 2, postgres://app@127.0.0.1:{dead}/appdb: ")),
        "{first:#}"
    );
    let ends_up = format!(
        "the client tries 2 hosts in turn and ends up on host 2 of 2, postgres://app@127.0.0.1:{port}/appdb"
    );
    assert!(first["evidence"].to_string().contains(&ends_up), "{first:#}");

    // The same hosts from the client's variables, and wait.
    let output = util::run(
        util::porthole()
            .env("PGHOST", "127.0.0.1,127.0.0.1")
            .env("PGPORT", format!("{dead},{port}"))
            .args(["wait", "postgres:///appdb", "-t", "10s"]),
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains("PostgreSQL takes logins"), "{output:?}");

    // Every host fails: each is named with its cause, and the check fails.
    drop(stop);
    let url = format!("postgres://127.0.0.1:{dead},127.0.0.1:{port}/appdb");
    let output = porthole_run(&["check", "--json", &url]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let summaries: Vec<String> = json["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["severity"] == "error")
        .map(|c| c["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(summaries.len(), 2, "{json:#}");
    assert!(summaries[0].starts_with("host 1 of 2"), "{summaries:?}");
    assert!(summaries[1].starts_with("host 2 of 2"), "{summaries:?}");
    assert!(json.to_string().contains("every one fails"), "{json:#}");
}

/// A PostgreSQL whose pg_hba.conf takes TCP clients over TLS only
/// (`hostssl`): a client with libpq's default `sslmode=prefer` gets in, one
/// with `sslmode=disable` (in the URL or `PGSSLMODE`) is refused. `check`
/// says so for the latter, and its fix command runs as printed.
#[test]
fn postgres_that_takes_tls_only_refuses_sslmode_disable() {
    if !util::installed("openssl") {
        util::skip("openssl is not installed");
        return;
    }
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let made = util::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(data.join("server.key"))
            .arg("-out")
            .arg(data.join("server.crt")),
    );
    assert_eq!(made.code, 0, "{made:?}");
    crate::audit::chown(&data, "postgres");
    use std::os::unix::fs::PermissionsExt;
    let key = data.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nssl = on\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
    )
    .unwrap();
    // With a log file: a server started without one keeps the output pipe
    // open, and the run that waits for it never ends.
    let log = data.join("restart.log");
    let restarted = pg_ctl(&data, &["restart", "-w", "-t", "60", "-l", log.to_str().unwrap()]);
    assert_eq!(restarted.code, 0, "{restarted:?}");

    let url = format!("postgres://app@127.0.0.1:{port}/appdb");
    let prefer = porthole_run(&["check", &url]);
    assert_eq!(prefer.code, 0, "{prefer:?}");

    let disabled = porthole_run(&["check", "--json", &format!("{url}?sslmode=disable")]);
    assert_eq!(disabled.code, 1, "{disabled:?}");
    let json = disabled.json();
    let cause = util::cause(&json, "service-refused");
    assert!(cause["summary"].as_str().unwrap().contains("over TLS only"), "{cause:#}");
    let fix = format!("PGSSLMODE=prefer porthole check {url}   # as such a client connects");
    assert_eq!(cause["fix_commands"][0], fix.as_str(), "{cause:#}");
    let mut shell = Command::new("bash");
    util::scrub(&mut shell);
    let path = format!(
        "{}:{}",
        util::binary().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ran = util::run(shell.env("PATH", path).args(["-c", &fix]));
    assert_eq!(ran.code, 0, "{fix}: {ran:?}");

    // The same from the client's variables.
    let from_variable =
        util::run(util::porthole().env("PGSSLMODE", "disable").args(["check", "--json", &url]));
    assert_eq!(from_variable.code, 1, "{from_variable:?}");
    assert!(from_variable.stdout.contains("sslmode from PGSSLMODE"), "{from_variable:?}");
    drop(stop);
}

/// A PostgreSQL with `ssl = on` and a server certificate for `db.test` and
/// `localhost` issued by a CA the test makes: libpq with
/// `sslmode=verify-ca`/`verify-full` fails without a root file, with a
/// root file of another CA, and (verify-full) for a host name the
/// certificate does not carry; `check` says so in libpq's words (checked
/// against `psql` where it is installed), with the certificate's names,
/// and its fix line connects by a name the certificate carries. A client
/// that trusts the CA and names `localhost` gets in.
#[test]
fn postgres_certificates_are_judged_as_libpq_judges_them() {
    if !util::installed("openssl") {
        util::skip("openssl is not installed");
        return;
    }
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let files = tempfile::tempdir().expect("certificate directory");
    let made = |args: &[&str]| {
        let output = util::run(Command::new("openssl").args(args).current_dir(files.path()));
        assert_eq!(output.code, 0, "openssl {args:?}: {output:?}");
    };
    let key = ["-newkey", "rsa:2048", "-nodes"];
    for (name, subject) in [("ca", "/CN=Porthole Test CA"), ("other", "/CN=Other CA")] {
        let (key_file, cert_file) = (format!("{name}.key"), format!("{name}.crt"));
        let files = ["-days", "2", "-subj", subject, "-keyout", &key_file, "-out", &cert_file];
        made(&[&["req", "-x509"][..], &key, &files].concat());
    }
    std::fs::write(files.path().join("san.ext"), "subjectAltName=DNS:db.test,DNS:localhost\n")
        .unwrap();
    made(
        &[
            &["req"][..],
            &key,
            &["-subj", "/CN=db.test", "-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    made(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    for file in ["server.crt", "server.key"] {
        std::fs::copy(files.path().join(file), data.join(file)).unwrap();
    }
    crate::audit::chown(&data, "postgres");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nssl = on\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    let log = data.join("restart.log");
    let restarted = pg_ctl(&data, &["restart", "-w", "-t", "60", "-l", log.to_str().unwrap()]);
    assert_eq!(restarted.code, 0, "{restarted:?}");

    // A HOME without ~/.postgresql/root.crt, for porthole and psql alike.
    let home = tempfile::tempdir().expect("home");
    let ca = files.path().join("ca.crt").display().to_string();
    let other = files.path().join("other.crt").display().to_string();
    let base = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let cases = [
        (
            format!("{base}?sslmode=verify-ca"),
            format!(
                "root certificate file \"{}/.postgresql/root.crt\" does not exist",
                home.path().display()
            ),
        ),
        (
            format!("{base}?sslmode=verify-ca&sslrootcert={other}"),
            "SSL error: certificate verify failed".to_string(),
        ),
        (
            format!("{base}?sslmode=verify-full&sslrootcert={ca}"),
            "server certificate for \"db.test\" (and 2 other names) does not match host name \"127.0.0.1\"".to_string(),
        ),
        // hostaddr without a host: libpq checks the certificate against its
        // default host, the socket directory (porthole checked the address
        // and said OK).
        (
            format!("postgres://postgres@:{port}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"),
            "server certificate for \"db.test\" (and 1 other name) does not match host name \"/var/run/postgresql\"".to_string(),
        ),
    ];
    let psql = util::installed("psql");
    if !psql {
        util::skip("psql is not installed: porthole's words are checked against libpq's as known");
    }
    for (url, words) in &cases {
        let output = util::run(util::porthole().env("HOME", home.path()).args([
            "check",
            "--json",
            url.as_str(),
        ]));
        assert_eq!(output.code, 1, "{url}: {output:?}");
        let json = output.json();
        let cause = util::cause(&json, "service-refused");
        let summary = cause["summary"].as_str().unwrap();
        assert!(summary.contains(&format!("\"{words}\"")), "{url}: {cause:#}");
        // The certificate met is part of the evidence.
        assert!(
            json.to_string().contains(
                "subject CN=db.test, issuer CN=Porthole Test CA, names db.test, localhost"
            ),
            "{json:#}"
        );
        if psql {
            let client = util::run(
                Command::new("psql").env("HOME", home.path()).env_remove("PGSSLROOTCERT").args([
                    url.as_str(),
                    "-tAc",
                    "SELECT 1",
                ]),
            );
            assert_ne!(client.code, 0, "{url}: {client:?}");
            assert!(client.stderr.contains(words.as_str()), "psql {url}: {client:?}");
        }
    }
    // The other CA's file is named with what it holds.
    let other_ca =
        util::run(util::porthole().env("HOME", home.path()).args(["check", "--json", &cases[1].0]));
    assert!(other_ca.stdout.contains("which holds CN=Other CA"), "{other_ca:?}");

    // The name fix connects by the name the certificate carries, at the
    // same address.
    let wrong_name =
        util::run(util::porthole().env("HOME", home.path()).args(["check", "--json", &cases[2].0]));
    let commands = fix_commands(&wrong_name.json(), "service-refused");
    let by_name = format!(
        "porthole check 'postgres://postgres@db.test:{port}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}'   # the name the certificate carries, at the same address (hostaddr)"
    );
    assert!(commands.contains(&by_name), "{commands:?}");
    let ran = run_fix(&by_name);
    assert_eq!(ran.code, 0, "{by_name}: {ran:?}");
    // The same fix for hostaddr without a host: the name goes in as host.
    let no_host =
        util::run(util::porthole().env("HOME", home.path()).args(["check", "--json", &cases[3].0]));
    let commands = fix_commands(&no_host.json(), "service-refused");
    assert!(commands.contains(&by_name), "{commands:?}");
    // Without a root file, the fix that encrypts without checking runs.
    let no_root =
        util::run(util::porthole().env("HOME", home.path()).args(["check", "--json", &cases[0].0]));
    for line in fix_commands(&no_root.json(), "service-refused") {
        let ran = util::run(
            Command::new("bash")
                .env("HOME", home.path())
                .env(
                    "PATH",
                    format!("{}:/usr/bin:/bin", util::binary().parent().unwrap().display()),
                )
                .args(["-c", &line]),
        );
        assert_eq!(ran.code, 0, "{line}: {ran:?}");
    }

    // Trusting the CA, by PGSSLROOTCERT or ~/.postgresql/root.crt, and
    // naming a host the certificate carries: in, as psql is.
    let full = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full");
    let trusted = util::run(
        util::porthole().env("HOME", home.path()).env("PGSSLROOTCERT", &ca).args(["check", &full]),
    );
    assert_eq!(trusted.code, 0, "{trusted:?}");
    assert!(trusted.stdout.contains("over TLS"), "{trusted:?}");
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(&ca, home.path().join(".postgresql/root.crt")).unwrap();
    let from_home =
        util::run(util::porthole().env("HOME", home.path()).args(["wait", &full, "-t", "10s"]));
    assert_eq!(from_home.code, 0, "{from_home:?}");
    if psql {
        let client = util::run(Command::new("psql").env("HOME", home.path()).args([
            full.as_str(),
            "-tAc",
            "SELECT 1",
        ]));
        assert_eq!(client.code, 0, "{client:?}");
    }

    // An X.509 v1 certificate (`openssl x509 -req` without extensions),
    // which webpki does not take and libpq does: the probe reached the
    // server and called it not responding ("probe failed"). Now it logs in
    // over TLS, and the CA's signature and the common name are judged.
    made(
        &[&["req"][..], &key, &["-subj", "/CN=localhost", "-keyout", "v1.key", "-out", "v1.csr"]]
            .concat(),
    );
    made(&[
        "x509",
        "-req",
        "-in",
        "v1.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "v1.crt",
    ]);
    std::fs::copy(files.path().join("v1.crt"), data.join("server.crt")).unwrap();
    std::fs::copy(files.path().join("v1.key"), data.join("server.key")).unwrap();
    crate::audit::chown(&data, "postgres");
    std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let reloaded = pg_ctl(&data, &["reload"]);
    assert_eq!(reloaded.code, 0, "{reloaded:?}");
    let v1_seen = util::eventually(std::time::Duration::from_secs(30), || {
        let output = util::run(util::porthole().env("HOME", home.path()).args([
            "check",
            "--json",
            &cases[1].0,
        ]));
        output.stdout.contains("subject CN=localhost, issuer CN=Porthole Test CA")
    });
    assert!(v1_seen, "the reloaded server sends the v1 certificate");
    for mode in ["sslmode=require", "sslmode=verify-ca", "sslmode=verify-full"] {
        let url = format!("postgres://postgres@localhost:{port}/postgres?{mode}");
        let output = util::run(util::porthole().env("HOME", home.path()).args(["check", &url]));
        assert_eq!(output.code, 0, "{url}: {output:?}");
        assert!(output.stdout.contains("(over TLS)"), "{url}: {output:?}");
        if psql {
            let client = util::run(Command::new("psql").env("HOME", home.path()).args([
                url.as_str(),
                "-tAc",
                "SELECT 1",
            ]));
            assert_eq!(client.code, 0, "psql {url}: {client:?}");
        }
    }
    // sslrootcert=system takes the system's authorities (SSL_CERT_FILE
    // names them here), as libpq 16 does.
    let system = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=system"
    );
    let trusted = util::run(util::porthole().env("SSL_CERT_FILE", &ca).args(["check", &system]));
    assert_eq!(trusted.code, 0, "{trusted:?}");
    let other_system =
        util::run(util::porthole().env("SSL_CERT_FILE", &other).args(["check", &system]));
    assert_eq!(other_system.code, 1, "{other_system:?}");
    let against =
        format!("the system's trusted authorities (sslrootcert=system: {other}, 1 certificate)");
    assert!(other_system.stdout.contains(&against), "{other_system:?}");
    // Signed by another CA, it still fails the chain.
    let other_root =
        util::run(util::porthole().env("HOME", home.path()).args(["check", &cases[1].0]));
    assert_eq!(other_root.code, 1, "{other_root:?}");
    assert!(other_root.stdout.contains("SSL error: certificate verify failed"), "{other_root:?}");
    drop(stop);
}

/// Runs a printed fix line in a shell whose `PATH` finds this porthole.
fn run_fix(line: &str) -> util::Output {
    let mut shell = Command::new("bash");
    util::scrub(&mut shell);
    let path = format!(
        "{}:{}",
        util::binary().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    util::run(shell.env("PATH", path).args(["-c", line]))
}

/// The fix commands of the first `id` cause of a `--json` check.
fn fix_commands(json: &serde_json::Value, id: &str) -> Vec<String> {
    util::cause(json, id)["fix_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap().to_string())
        .collect()
}

/// A PostgreSQL with `ssl = off` answers `N` to the SSLRequest of a
/// client whose `sslmode` requires TLS (`require`, `verify-ca`,
/// `verify-full`; in the URL, `PGSSLMODE` or a keyword string), and libpq
/// gives up: "server does not support SSL, but SSL was required". `check`
/// says so, names the server's postgresql.conf and prints fix commands that
/// run; over its Unix socket, where libpq never asks for TLS, it connects.
#[test]
fn postgres_without_tls_fails_a_client_that_requires_it() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");

    let prefer = porthole_run(&["check", &url]);
    assert_eq!(prefer.code, 0, "{prefer:?}");
    let required = porthole_run(&["check", "--json", &format!("{url}?sslmode=require")]);
    assert_eq!(required.code, 1, "{required:?}");
    let json = required.json();
    let cause = util::cause(&json, "service-refused");
    let summary = cause["summary"].as_str().unwrap();
    assert!(summary.contains("server does not support SSL, but SSL was required"), "{cause:#}");
    assert!(summary.contains("answered N to an SSLRequest"), "{cause:#}");
    let conf = data.join("postgresql.conf");
    assert!(cause.to_string().contains(&format!("turn TLS on in {}", conf.display())), "{cause:#}");
    let commands = fix_commands(&json, "service-refused");
    assert!(commands.iter().any(|c| c.starts_with("kill -HUP ")), "{commands:?}");
    let client = format!("PGSSLMODE=prefer porthole check {url}   # as such a client connects");
    assert!(commands.contains(&client), "{commands:?}");
    for line in &commands {
        let ran = run_fix(line);
        assert_eq!(ran.code, 0, "{line}: {ran:?}");
    }

    // The same mode from the client's variable and in a keyword string.
    let variable =
        util::run(util::porthole().env("PGSSLMODE", "verify-full").args(["check", "--json", &url]));
    assert_eq!(variable.code, 1, "{variable:?}");
    assert!(variable.stdout.contains("sslmode from PGSSLMODE"), "{variable:?}");
    assert!(variable.stdout.contains("sslmode=verify-full"), "{variable:?}");
    let keywords = format!("host=127.0.0.1 port={port} user=postgres sslmode='verify-ca'");
    let output = porthole_run(&["check", &keywords]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("SSL was required"), "{output:?}");
    let wait = porthole_run(&["wait", &format!("{url}?sslmode=require"), "-t", "1s"]);
    assert_eq!(wait.code, 1, "{wait:?}");
    assert!(wait.stderr.contains("SSL was required"), "{wait:?}");

    // A silent port is named by what was asked: the SSLRequest.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().unwrap().port();
    // Accepts and holds the probes' connections without a word (left
    // behind when the test ends).
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(2).collect();
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(held);
    });
    let output = porthole_run(&[
        "check",
        "--timeout",
        "300ms",
        &format!("postgres://127.0.0.1:{silent_port}/x?sslmode=require"),
    ]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("sent nothing in answer to an SSLRequest"), "{output:?}");
    // libpq never asks for TLS on a Unix socket.
    let socket = format!(
        "postgres://postgres@/postgres?host={}&port={port}&sslmode=require",
        data.display()
    );
    let output = porthole_run(&["check", &socket]);
    assert_eq!(output.code, 0, "{output:?}");
    // A mode libpq does not know is one line and exit 2.
    let bad = porthole_run(&["check", &format!("{url}?sslmode=required")]);
    util::assert_usage_error(&bad, "sslmode=required");
    assert!(bad.stderr.contains("invalid sslmode 'required'"), "{bad:?}");
    drop(stop);
}

/// `target_session_attrs`: libpq keeps a session only when the server
/// qualifies (`read-write`: neither `default_transaction_read_only` nor a
/// hot standby; `standby`: in recovery; …) and tries the next host
/// otherwise. `check` judges it the same way on a read-only primary and a
/// hot standby, says where the client ends up, and names the line of
/// postgresql.conf that makes sessions read-only.
#[test]
fn target_session_attrs_are_judged_as_libpq_judges_them() {
    let read_only_dir = shared_tempdir();
    let standby_dir = shared_tempdir();
    let Some((read_only, ro_port)) = start_postgres(read_only_dir.path(), "127.0.0.1") else {
        return;
    };
    let stop_read_only = stop_on_drop(&read_only);
    let Some((standby, sb_port)) = start_postgres(standby_dir.path(), "127.0.0.1") else { return };
    let stop_standby = stop_on_drop(&standby);
    let mut conf = std::fs::read_to_string(read_only.join("postgresql.conf")).unwrap();
    conf.push_str("\ndefault_transaction_read_only = on\n");
    let line = conf.lines().count();
    std::fs::write(read_only.join("postgresql.conf"), conf).unwrap();
    std::fs::write(standby.join("standby.signal"), "").unwrap();
    chown(&standby, "postgres");
    for data in [&read_only, &standby] {
        let log = data.join("restart.log");
        let restarted = pg_ctl(data, &["restart", "-w", "-t", "60", "-l", log.to_str().unwrap()]);
        assert_eq!(restarted.code, 0, "{restarted:?}");
    }
    let ro = |attrs: &str| {
        format!("postgres://postgres@127.0.0.1:{ro_port}/postgres?target_session_attrs={attrs}")
    };
    let sb = format!("postgres://postgres@127.0.0.1:{sb_port}/postgres");

    let output = porthole_run(&["check", "--json", &ro("read-write")]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    let cause = util::cause(&json, "service-refused");
    assert!(cause["summary"].as_str().unwrap().contains("\"session is read-only\""), "{cause:#}");
    let set_at = format!(
        "default_transaction_read_only = on at {} line {line}",
        read_only.join("postgresql.conf").display()
    );
    assert!(cause["evidence"].to_string().contains(&set_at), "{cause:#}");
    for command in fix_commands(&json, "service-refused") {
        assert!(command.starts_with("kill -HUP "), "{command}");
        let ran = run_fix(&command);
        assert_eq!(ran.code, 0, "{command}: {ran:?}");
    }
    // A login refused after the authentication has no session to judge:
    // the server is up, and the answer says the setting was not judged.
    let nobody =
        format!("postgres://nobody@127.0.0.1:{ro_port}/postgres?target_session_attrs=read-write");
    let output = porthole_run(&["check", &nobody]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("target_session_attrs=read-write is judged in a session, and this login got none: not judged"), "{output:?}");
    for attrs in ["read-only", "primary", "any", "prefer-standby"] {
        let output = porthole_run(&["check", &ro(attrs)]);
        assert_eq!(output.code, 0, "{attrs}: {output:?}");
    }
    let output = porthole_run(&["check", "--json", &ro("standby")]);
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("server is not in hot standby mode"), "{output:?}");
    let json = output.json();
    let fix = &fix_commands(&json, "service-refused")[0];
    assert!(fix.contains("target_session_attrs=prefer-standby"), "{fix}");
    assert_eq!(run_fix(fix).code, 0, "{fix}");

    // Two hosts: a standby is found second; read-write is found nowhere.
    let both = |attrs: &str| {
        format!(
            "postgres://postgres@127.0.0.1:{ro_port},127.0.0.1:{sb_port}/postgres?target_session_attrs={attrs}"
        )
    };
    let output = porthole_run(&["check", "--json", &both("standby")]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stdout.contains("ends up on host 2 of 2"), "{output:?}");
    let output = porthole_run(&["check", "--json", &both("read-write")]);
    assert_eq!(output.code, 1, "{output:?}");
    let json = output.json();
    assert!(json.to_string().contains("every one fails"), "{json:#}");
    assert!(json.to_string().contains("in_hot_standby = on"), "{json:#}");
    // The client's variable, in a keyword string too.
    let keywords = format!("host=127.0.0.1 port={sb_port} user=postgres");
    let output = util::run(
        util::porthole().env("PGTARGETSESSIONATTRS", "read-write").args(["check", &keywords]),
    );
    assert_eq!(output.code, 1, "{output:?}");
    assert!(output.stdout.contains("session is read-only"), "{output:?}");
    let output = porthole_run(&["check", &format!("{sb}?target_session_attrs=standby")]);
    assert_eq!(output.code, 0, "{output:?}");

    // wait: prefer-standby connects wherever one host takes the client.
    let output = porthole_run(&["wait", &ro("read-write"), "-t", "1s"]);
    assert_eq!(output.code, 1, "{output:?}");
    let output = porthole_run(&["wait", &ro("prefer-standby"), "-t", "10s"]);
    assert_eq!(output.code, 0, "{output:?}");
    let bad = porthole_run(&["check", &ro("master")]);
    util::assert_usage_error(&bad, "target_session_attrs=master");
    assert!(bad.stderr.contains("invalid target_session_attrs 'master'"), "{bad:?}");
    drop(stop_standby);
    drop(stop_read_only);
}

/// `check --from PID mysql://…` reads the option files that process's
/// MariaDB/MySQL client reads: `~/.my.cnf` of its `HOME` (not porthole's),
/// `/etc/mysql/my.cnf` as it sees it (through its root: here a mount
/// namespace of its own), and says which file and line set the port or
/// the socket.
#[test]
fn check_from_a_process_reads_its_own_mysql_option_files() {
    if !util::installed("unshare") {
        util::skip("unshare is not installed");
        return;
    }
    let dir = shared_tempdir();
    let Some((_server, port)) = crate::audit::start_mariadb(&dir) else { return };
    let socket = dir.path().join("data/mysqld.sock");
    // porthole's own HOME says another port: it must not be read.
    let ours = tempfile::tempdir().expect("home");
    std::fs::write(ours.path().join(".my.cnf"), "[client]\nport = 1\n").expect(".my.cnf");
    let theirs = tempfile::tempdir().expect("home");
    let options = theirs.path().join(".my.cnf");
    std::fs::write(&options, format!("[client]\nuser = app\nport = {port}\n")).expect(".my.cnf");
    let client = util::ChildGuard::spawn(
        Command::new("sleep").arg("60").env_clear().env("HOME", theirs.path()),
    );
    let pid = client.pid().to_string();
    let check = |args: &[&str]| {
        util::run(util::porthole().env("HOME", ours.path()).env_remove("MYSQL_HOME").args(args))
    };

    let output = check(&["check", "--json", "--from", &pid, "mysql://root@127.0.0.1/app"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    assert_eq!(json["attempts"][0]["port"], port, "{json:#}");
    let why = format!("port from port= in [client] of {} line 3", options.display());
    assert!(json["attempts"][0]["detail"].as_str().unwrap().contains(&why), "{json:#}");
    // A port in the URL wins.
    let given = format!("mysql://root@127.0.0.1:{port}/app");
    let output = check(&["check", "--json", "--from", &pid, &given]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains("port from port="), "{output:?}");
    drop(client);

    // A client whose /etc/mysql is its own (a mount namespace of its
    // own): its my.cnf names the socket, and is named as it sees it.
    let etc = tempfile::tempdir().expect("etc");
    std::fs::write(etc.path().join("my.cnf"), format!("[client]\nsocket = {}\n", socket.display()))
        .expect("my.cnf");
    let script = format!("mount --bind '{}' /etc/mysql && exec sleep 60", etc.path().display());
    let inside = util::ChildGuard::spawn(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env_clear()
            .env("HOME", "/nonexistent"),
    );
    let pid = inside.pid().to_string();
    let mounted = util::eventually(std::time::Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/root/etc/mysql/my.cnf")).is_ok_and(|text| {
            text.contains("mysqld.sock") && text.contains(&*dir.path().to_string_lossy())
        }) && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "sleep")
    });
    assert!(mounted, "the mount namespace was not set up");
    let output = check(&["check", "--json", "--from", &pid, "mysql://root@localhost/app"]);
    assert_eq!(output.code, 0, "{output:?}");
    let json = output.json();
    // The socket as that process reaches it: through its root.
    let through_root = format!("/proc/{pid}/root{}", socket.display());
    assert_eq!(json["attempts"][0]["address"], through_root, "{json:#}");
    let detail = json["attempts"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("socket from socket= in [client] of /etc/mysql/my.cnf line 2"),
        "{detail}"
    );
    drop(inside);
}

/// The `mariadb` client takes the `port=` and `socket=` of its option files
/// over `MYSQL_TCP_PORT` and `MYSQL_UNIX_PORT` (the variables fill only
/// what the files leave unset); porthole took the variables, so it waited
/// on a port or socket the client never uses. The client itself is run
/// with the same environment to show which one it reaches on this machine.
#[test]
fn mariadb_option_files_win_over_its_variables() {
    let dir = shared_tempdir();
    let Some((_server, port)) = crate::audit::start_mariadb(&dir) else { return };
    let socket = dir.path().join("data/mysqld.sock");
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".my.cnf"),
        format!("[client]\nport={port}\nsocket={}\n", socket.display()),
    )
    .unwrap();
    let nowhere = util::unique_port().to_string();
    let missing = dir.path().join("no-such.sock").display().to_string();
    for (variable, value, url, reached, over) in [
        (
            "MYSQL_TCP_PORT",
            nowhere.as_str(),
            "mysql://root@127.0.0.1/app",
            format!("127.0.0.1:{port} connected"),
            "which the client takes over MYSQL_TCP_PORT",
        ),
        (
            "MYSQL_UNIX_PORT",
            missing.as_str(),
            "mysql://root@localhost/app",
            format!("{} connected", socket.display()),
            "which the client takes over MYSQL_UNIX_PORT",
        ),
    ] {
        let host = if variable == "MYSQL_TCP_PORT" { "127.0.0.1" } else { "localhost" };
        let client = util::run(
            Command::new("mariadb")
                .env("HOME", home.path())
                .env(variable, value)
                .args(["-h", host, "-u", "root", "-e", "select 1"]),
        );
        assert!(!client.stderr.contains("Can't connect"), "{variable}: {client:?}");
        let output = util::run(
            util::porthole()
                .env("HOME", home.path())
                .env(variable, value)
                .args(["wait", url, "-t", "30s"]),
        );
        assert_eq!(output.code, 0, "{variable}: {output:?}");
        assert!(output.stderr.contains(&reached), "{variable}: {output:?}");
        assert!(output.stderr.contains(over), "{variable}: {output:?}");
    }
}

/// Starts a `psql` that takes the one connection a `max_connections = 1`
/// server allows and keeps it for ten minutes. Returns once the holder's
/// query is running (it printed `held`), so the slot is known to be taken.
/// A holder that lost the slot to another connection made at the same
/// moment exits at once ("too many clients already") and is started again.
fn hold_the_only_connection(port: u16) -> util::ChildGuard {
    use std::io::BufRead;
    let bin = postgres_bin().expect("postgresql");
    for _attempt in 0..20 {
        let mut psql = as_user("postgres", &bin.join("psql"));
        psql.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-At"])
            .args(["-c", "select 'held'", "-c", "select pg_sleep(600)"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut holder = util::ChildGuard::spawn(&mut psql);
        let mut first_line = String::new();
        let stdout = holder.0.stdout.take().expect("piped stdout");
        let _ = std::io::BufReader::new(stdout).read_line(&mut first_line);
        if first_line.trim() == "held" {
            return holder;
        }
        drop(holder);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("psql could not take the one connection of the server on port {port}");
}

/// PostgreSQL at `max_connections`: the kernel completes the handshake and
/// the server answers the startup packet with `sorry, too many clients
/// already` (53300). `check` of the `postgres://` URL names the limit, the
/// printed `porthole PORT` lists the client that holds the one connection,
/// `wait` says the same on timeout, and once that client leaves the URL
/// passes.
#[test]
fn postgres_at_max_connections_names_the_limit_and_the_client_holding_it() {
    let dir = shared_tempdir();
    let Some((data, port)) = start_postgres(dir.path(), "127.0.0.1") else { return };
    let stop = stop_on_drop(&data);
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    // The check interval ends the backend of a client that leaves in the
    // middle of its query (pg_sleep), freeing the one connection.
    conf.push_str("\nmax_connections = 1\nsuperuser_reserved_connections = 0\n");
    conf.push_str("client_connection_check_interval = 100ms\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    let log = data.join("restart.log");
    let restarted = pg_ctl(&data, &["restart", "-w", "-t", "60", "-l", log.to_str().unwrap()]);
    assert_eq!(restarted.code, 0, "{restarted:?}");
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let holder = hold_the_only_connection(port);
    let refused = || porthole_run(&["check", "--json", &url]).json();
    assert!(
        util::eventually(std::time::Duration::from_secs(20), || util::cause_ids(&refused())
            == ["service-refused"]),
        "{:#}",
        refused()
    );
    let json = refused();
    let cause = util::cause(&json, "service-refused");
    assert!(cause["summary"].as_str().unwrap().contains("max_connections is reached"), "{cause:#}");
    assert!(cause["evidence"].to_string().contains("too many clients already"), "{cause:#}");
    let listing = cause["fix_commands"][0].as_str().unwrap().split("   #").next().unwrap().trim();
    let args: Vec<&str> = listing.split_whitespace().skip(1).collect();
    let clients = porthole_run(&args);
    assert!(clients.stdout.contains(&format!("pid {}", holder.pid())), "{clients:?}");
    let waited = porthole_run(&["wait", &url, "--timeout", "2s"]);
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(waited.stderr.contains("service-refused: PostgreSQL accepts"), "{waited:?}");
    assert!(waited.stderr.contains("max_connections"), "{waited:?}");
    drop(holder);
    assert!(
        util::eventually(std::time::Duration::from_secs(20), || porthole_run(&["check", &url])
            .code
            == 0),
        "{:#}",
        refused()
    );
    drop(stop);
}
