//! `porthole audit` of services that listen on a Unix socket file only: a
//! Redis with `--port 0 --unixsocket`, a memcached with `-s`, a PostgreSQL
//! with `listen_addresses=''` and `local … trust`. Each runs in
//! a network namespace of its own, whose socket list holds only the
//! test's sockets (Unix sockets are audited only without `--port`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::audit::{chown, shared_tempdir, START};
use crate::audit_fixes::{postgres_started, quoted};
use crate::util::{eventually, ChildGuard, Netns};

/// The `no-auth` finding of the socket at `path`, from `porthole audit
/// --json` inside `netns`.
fn no_auth_at(netns: &Netns, path: &Path) -> Value {
    let found = findings_at(netns, "no-auth", path, &[]);
    found.into_iter().next().unwrap_or_else(|| panic!("no no-auth finding for {}", path.display()))
}

fn text<'a>(finding: &'a Value, field: &str) -> &'a str {
    finding[field].as_str().unwrap_or_default()
}

/// Waits for the socket file a server creates once it listens.
fn wait_for_socket(path: &Path) {
    assert!(eventually(START, || path.exists()), "the server did not create {}", path.display());
}

#[test]
fn a_redis_on_a_unix_socket_only_is_graded_by_who_can_connect_and_its_fix_runs() {
    let Some(netns) = crate::audit_fixes::netns_with(&["redis-server"]) else { return };
    let dir = shared_tempdir();
    let socket = dir.path().join("r.sock");
    let log = dir.path().join("redis.log");
    let mut command = netns.command("redis-server");
    command
        .args(["--port", "0", "--unixsocket", socket.to_str().unwrap()])
        .args(["--unixsocketperm", "777", "--save", "", "--appendonly", "no"])
        .args(["--dir", dir.path().to_str().unwrap(), "--logfile", log.to_str().unwrap()]);
    let _redis = ChildGuard::spawn(&mut command);
    wait_for_socket(&socket);

    let open = no_auth_at(&netns, &socket);
    assert_eq!(open["severity"], "high", "{open:#}");
    let evidence = text(&open, "evidence");
    assert!(evidence.contains("PING → +PONG"), "{evidence}");
    assert!(evidence.contains("mode 0777") && evidence.contains("every local user"), "{evidence}");
    let fix = text(&open, "fix");
    assert!(fix.contains("--unixsocketperm 700"), "started without a file: {fix}");
    // The first command of the fix, run as printed, closes the file.
    let chmod = &quoted(fix)[0];
    assert_eq!(chmod, &format!("chmod 700 {}", socket.display()));
    let status = Command::new("sh").args(["-c", chmod]).status().expect("sh runs");
    assert!(status.success(), "{chmod}");

    let closed = no_auth_at(&netns, &socket);
    assert_eq!(closed["severity"], "low", "{closed:#}");
    let evidence = text(&closed, "evidence");
    assert!(evidence.contains("mode 0700") && evidence.contains("only root"), "{evidence}");
    assert!(!text(&closed, "fix").contains("chmod"), "{closed:#}");
}

#[test]
fn a_memcached_socket_open_to_all_in_its_owners_private_directory_is_low() {
    let Some(netns) = crate::audit_fixes::netns_with(&["memcached"]) else { return };
    let parent = shared_tempdir();
    // Its own 0700 directory: the socket's 0777 lets in no one else.
    let dir = parent.path().join("private");
    std::fs::create_dir(&dir).expect("mkdir");
    chown(&dir, "nobody");
    let status = Command::new("chmod").arg("700").arg(&dir).status().expect("chmod runs");
    assert!(status.success());
    let socket = dir.join("m.sock");
    let mut command = netns.command("memcached");
    command.args(["-u", "nobody", "-s", socket.to_str().unwrap(), "-a", "0777"]);
    let _memcached = ChildGuard::spawn(&mut command);
    wait_for_socket(&socket);

    let found = no_auth_at(&netns, &socket);
    assert_eq!(found["severity"], "low", "{found:#}");
    let evidence = text(&found, "evidence");
    assert!(evidence.contains("sent version → VERSION"), "{evidence}");
    assert!(evidence.contains("mode 0777") && evidence.contains("only root"), "{evidence}");

    // The same directory opened to every user: the socket is everyone's.
    let status = Command::new("chmod").arg("711").arg(&dir).status().expect("chmod runs");
    assert!(status.success());
    let open = no_auth_at(&netns, &socket);
    assert_eq!(open["severity"], "high", "{open:#}");
    let fix = text(&open, "fix");
    assert!(fix.contains("`-a 0700`"), "{fix}");
    let chmod = &quoted(fix)[0];
    let status = Command::new("sh").args(["-c", chmod]).status().expect("sh runs");
    assert!(status.success(), "{chmod}");
    assert_eq!(no_auth_at(&netns, &socket)["severity"], "low");
}

/// The `trust-auth` findings of the Unix socket at `path`, from `porthole
/// audit --json` (and `extra`) inside `netns`.
fn trust_at(netns: &Netns, path: &Path, extra: &[&str]) -> Vec<Value> {
    findings_at(netns, "trust-auth", path, extra)
}

/// The findings of `rule` for the Unix socket at `path`, from `porthole
/// audit --json` (and `extra`) inside `netns`.
fn findings_at(netns: &Netns, rule: &str, path: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--json", "--skip", "outdated-package"];
    args.extend_from_slice(extra);
    let output = netns.porthole(&args);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["rule"] == rule && f["path"] == path.to_str().unwrap())
        .cloned()
        .collect()
}

/// A PostgreSQL server on a Unix socket only.
struct SocketPostgres {
    // Declared first: the server stops before its directories go.
    postmaster: ChildGuard,
    /// Its `.s.PGSQL.5432`.
    socket: PathBuf,
    /// Holds `data`, its data directory.
    data: TempDir,
    /// Holds the socket.
    sockets: TempDir,
}

/// A PostgreSQL with `listen_addresses=''` and its socket in a directory
/// of `mode` (owned by user postgres), whose pg_hba.conf is `hba`.
fn postgres_on_a_socket(netns: &Netns, hba: &str, mode: &str) -> Option<SocketPostgres> {
    let sockets = shared_tempdir();
    chown(sockets.path(), "postgres");
    let status = Command::new("chmod").arg(mode).arg(sockets.path()).status().expect("chmod");
    assert!(status.success());
    let port = 5432;
    let (data, postmaster, _) = postgres_started(netns, hba, &[], port, Some(sockets.path()))?;
    let socket = sockets.path().join(format!(".s.PGSQL.{port}"));
    wait_for_socket(&socket);
    Some(SocketPostgres { postmaster, socket, data, sockets })
}

/// `local all all trust` on a socket every user may connect to: any local
/// user logs in as any role, the superuser included. Passive, the file
/// says so; `--active` logs in over the socket. The printed `chmod` closes
/// it; the printed pg_hba.conf edit and reload, run as printed, make the
/// line `peer`, and a socket left open then is no finding either.
#[test]
fn a_postgres_on_a_unix_socket_only_with_local_trust_is_graded_by_who_can_connect() {
    let Some(netns) = Netns::create() else { return };
    let hba = "local all all trust\n";
    let Some(server) = postgres_on_a_socket(&netns, hba, "1777") else { return };
    let hba_file = server.data.path().join("data").join("pg_hba.conf");

    let passive = trust_at(&netns, &server.socket, &[]);
    assert_eq!(passive.len(), 1, "{passive:#?}");
    assert_eq!(passive[0]["severity"], "high", "{:#}", passive[0]);
    let evidence = text(&passive[0], "evidence");
    let line = format!("{} line 1 `local all all trust`", hba_file.display());
    assert!(evidence.contains(&line), "{evidence}");
    assert!(evidence.contains("mode 0777") && evidence.contains("every local user"), "{evidence}");
    assert!(evidence.starts_with("read from the file (no login was made"), "{evidence}");

    let active = trust_at(&netns, &server.socket, &["--active"]);
    let evidence = text(&active[0], "evidence");
    assert!(evidence.contains("over the Unix socket → AuthenticationOk"), "{evidence}");
    let fix = text(&active[0], "fix").to_string();
    let commands = quoted(&fix);
    assert_eq!(commands[0], format!("chmod 700 {}", server.socket.display()), "{fix}");
    let conf = server.data.path().join("data").join("postgresql.conf");
    assert_eq!(
        commands[1],
        format!("echo 'unix_socket_permissions = 0700' >> {}", conf.display()),
        "{fix}"
    );
    let status = Command::new("sh").args(["-c", &commands[0]]).status().expect("sh runs");
    assert!(status.success(), "{}", commands[0]);
    assert_eq!(trust_at(&netns, &server.socket, &["--active"]), Vec::<Value>::new());

    // Open again: the other way out is `peer` on the line.
    let status = Command::new("chmod").arg("777").arg(&server.socket).status().expect("chmod");
    assert!(status.success());
    assert_eq!(trust_at(&netns, &server.socket, &[]).len(), 1);
    crate::audit_fixes::run_edit_and_reload(
        &fix,
        server.data.path(),
        Some(server.postmaster.pid()),
    );
    let edited = std::fs::read_to_string(&hba_file).unwrap();
    assert_eq!(edited, "local all all peer\n");
    // The server reads it: root, not a role, is now refused over the socket.
    let mut last = Vec::new();
    let refused = eventually(START, || {
        last = trust_at(&netns, &server.socket, &["--active"]);
        last.is_empty()
    });
    assert!(refused, "{last:#?}");
}

/// The same `local all all trust` behind a 0700 directory of the server's
/// user: only root and that user, who reads the data files anyway, reach
/// the socket. No finding, passive or `--active`.
#[test]
fn a_postgres_socket_in_its_users_private_directory_is_no_finding() {
    let Some(netns) = Netns::create() else { return };
    let Some(server) = postgres_on_a_socket(&netns, "local all all trust\n", "700") else {
        return;
    };
    assert_eq!(trust_at(&netns, &server.socket, &[]), Vec::<Value>::new());
    assert_eq!(trust_at(&netns, &server.socket, &["--active"]), Vec::<Value>::new());
    // Opened to all, the same server is found: the directory decided.
    let status = Command::new("chmod").arg("755").arg(server.sockets.path()).status();
    assert!(status.expect("chmod runs").success());
    assert_eq!(trust_at(&netns, &server.socket, &[]).len(), 1);
}

/// A MariaDB with `skip-networking`, root installed with
/// `root_authentication`, its socket in a 0755 directory of user mysql (as
/// /run/mysqld).
fn mariadb_on_a_socket(
    netns: &Netns,
    root_authentication: &str,
) -> Option<(ChildGuard, PathBuf, TempDir)> {
    let dir = shared_tempdir();
    // Where mariadbd, run as user mysql, may create its socket.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("mkdir");
    chown(&run, "mysql");
    let socket = run.join("mysqld.sock");
    let (server, _, socket) = crate::audit::start_mariadb_in(
        Some(netns),
        &dir,
        &["--skip-networking"],
        root_authentication,
        Some(&socket),
    )?;
    Some((server, socket, dir))
}

/// MariaDB with `skip-networking` and root without a password: over the
/// socket, which every local user may connect to, `--active` logs in as
/// root (passive, only the greeting is read). The printed fix, run as
/// printed over that socket, sets a password, and the next audit is clean.
#[test]
fn a_mariadb_on_a_unix_socket_only_with_an_empty_root_password_is_found_and_fixed() {
    let Some(netns) = Netns::create() else { return };
    let Some((_server, socket, _dir)) = mariadb_on_a_socket(&netns, "normal") else { return };
    assert_eq!(findings_at(&netns, "empty-password", &socket, &[]), Vec::<Value>::new());
    let found = findings_at(&netns, "empty-password", &socket, &["--active"]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "high", "{:#}", found[0]);
    let evidence = text(&found[0], "evidence");
    assert!(evidence.starts_with("login as root with an empty password"), "{evidence}");
    assert!(evidence.contains("mode 0777") && evidence.contains("every local user"), "{evidence}");
    let fix = text(&found[0], "fix");
    let command = &quoted(fix)[0];
    let expected = format!("mariadb --socket={} -u root -e ", socket.display());
    assert!(command.starts_with(&expected), "{fix}");
    let status = Command::new("sh").args(["-c", command]).status().expect("sh runs");
    assert!(status.success(), "{command}");
    assert_eq!(findings_at(&netns, "empty-password", &socket, &["--active"]), Vec::<Value>::new());
}

/// Root by `unix_socket` (Debian's default): porthole, run as root, is let
/// in over the socket, with a wrong password as well. That is the system's
/// root alone, not an empty password: no finding.
#[test]
fn a_mariadb_root_by_unix_socket_is_no_empty_password() {
    let Some(netns) = Netns::create() else { return };
    let Some((_server, socket, _dir)) = mariadb_on_a_socket(&netns, "socket") else { return };
    let output = netns.porthole(&["audit", "--json", "--skip", "outdated-package", "--active"]);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    let path = socket.to_str().unwrap();
    let ours = |f: &&Value| f["path"] == path;
    let found: Vec<&Value> = json["findings"].as_array().unwrap().iter().filter(ours).collect();
    assert!(found.is_empty(), "{found:#?}");
    let services = json["services"].to_string();
    assert!(services.contains("unix_socket"), "the note says why: {services}");
}
