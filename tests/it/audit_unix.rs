//! `porthole audit` of services that listen on a Unix socket file only: a
//! Redis with `--port 0 --unixsocket`, a memcached with `-s`. Each runs in
//! a network namespace of its own, whose socket list holds only the
//! test's sockets (Unix sockets are audited only without `--port`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::audit::{chown, require, shared_tempdir, START};
use crate::audit_fixes::quoted;
use crate::util::{eventually, ChildGuard, Netns};

/// The `no-auth` finding of the socket at `path`, from `porthole audit
/// --json` inside `netns`.
fn no_auth_at(netns: &Netns, path: &Path) -> Value {
    let output = netns.porthole(&["audit", "--json", "--skip", "outdated-package"]);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    let json = output.json();
    json["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .find(|f| f["rule"] == "no-auth" && f["path"] == path.to_str().unwrap())
        .cloned()
        .unwrap_or_else(|| panic!("no no-auth finding for {} in {json:#}", path.display()))
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
    if !require("redis-server") {
        return;
    }
    let Some(netns) = Netns::create() else { return };
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
    if !require("memcached") {
        return;
    }
    let Some(netns) = Netns::create() else { return };
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
