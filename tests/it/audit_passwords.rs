//! `porthole audit --active` and `weak-password` against real servers
//! started here: Redis with `requirepass foobared`, with a long random
//! password, with an ACL user; PostgreSQL with MD5 and SCRAM passwords and
//! with `auth_delay` (a rate-limit sign); MariaDB with `root`/`root`;
//! RabbitMQ's management API with `guest`/`guest`; a MongoDB stand-in (SCRAM,
//! validated with pymongo) with `admin`/`admin`; memcached with ASCII
//! authentication (`-Y`) and with SASL (`-S`). Each audit is limited
//! with `--port` to the test's own server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::audit::{
    as_user, audit, audit_active_text, finding, postgres_bin, require, rules, shared_tempdir,
    start_memcached, start_memcached_with, start_redis, write_hba, START,
};
use crate::util::{self, wait_for_port, ChildGuard};

fn logins(json: &Value) -> &Vec<Value> {
    json["logins"].as_array().expect("logins array")
}

/// The one login record of the audited port.
fn login(json: &Value) -> &Value {
    let all = logins(json);
    assert_eq!(all.len(), 1, "{json:#}");
    &all[0]
}

/// A password nobody guesses: long and different on every run.
fn strong_password() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("Zq{now:x}x{:x}-strong", std::process::id())
}

/// Audits `port` passively (no finding, no login tried: a server that
/// asks for a password is no finding), then with `--active`: its one
/// finding is weak-password. Returns the active run, its report and the
/// finding.
fn quiet_passive_then_weak(port: u16) -> (util::Output, Value, Value) {
    let (_, json) = audit(port, &[]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert!(logins(&json).is_empty(), "{json:#}");
    let (output, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let weak = finding(&json, "weak-password").clone();
    (output, json, weak)
}

// ---------------------------------------------------------------- Redis

#[test]
fn redis_foobared_is_a_weak_password_shown_only_with_show() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, port, _log) =
        start_redis(&["--requirepass", "foobared"], dir.path(), Path::new("/usr/bin/redis-server"));
    let (output, json, weak) = quiet_passive_then_weak(port);
    assert_eq!(weak["severity"], "high", "{weak}");
    let evidence = weak["evidence"].as_str().unwrap();
    assert!(evidence.contains("`default`"), "{evidence}");
    assert!(evidence.contains("a default password from porthole's list (1 attempt)"), "{evidence}");
    assert!(evidence.contains("DNS rebinding"), "{evidence}");
    assert!(weak["fix"]
        .as_str()
        .unwrap()
        .contains(&format!("-p {port} --askpass CONFIG SET requirepass")));
    let record = login(&json);
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["accepted_user"], "default");
    assert!(record.get("password").is_none(), "{record}");
    assert!(!output.stdout.contains("foobared"), "{}", output.stdout);
    assert_eq!(output.code, 0, "high is below the default --fail-on critical");

    let table = audit_active_text(port, &[]);
    assert!(!table.stdout.contains("foobared"), "{}", table.stdout);
    assert!(table.stdout.contains(&format!(
        "weak-password: redis on 127.0.0.1:{port}: 1 attempt (default ×1), accepted as default (--show reveals the password)"
    )), "{}", table.stdout);

    let gated = audit_active_text(port, &["--fail-on", "high"]);
    assert_eq!(gated.code, 1, "--fail-on high fails on it: {gated:?}");

    let shown = audit_active_text(port, &["--show"]);
    assert!(shown.stdout.contains("password: foobared"), "{}", shown.stdout);
}

/// The `weak-password` fix for Redis was one text for every server: `CONFIG
/// SET requirepass`, then `CONFIG REWRITE` "or the same line in
/// redis.conf". A server started with `--requirepass` and no config file
/// fails `CONFIG REWRITE` (and reads no redis.conf), and one with
/// `rename-command CONFIG ""` fails `CONFIG SET` itself. Once logged in,
/// porthole reads `INFO server` and whether `CONFIG` answers, and the fix
/// changes the password where that server keeps it; its command runs as
/// printed.
#[test]
fn a_redis_weak_password_fix_goes_where_that_server_keeps_its_password() {
    if !require("redis-server") || !require("redis-cli") {
        return;
    }
    let dir = crate::audit::shared_tempdir();
    let (_redis, port, _log) =
        start_redis(&["--requirepass", "foobared"], dir.path(), Path::new("/usr/bin/redis-server"));
    let (_, json) = audit(port, &["--active"]);
    let fix = finding(&json, "weak-password")["fix"].as_str().unwrap().to_string();
    let argument = "`--requirepass '<new long random secret>'` (in place of its `--requirepass`";
    assert!(fix.contains(&format!("give the command that starts it {argument}")), "{fix}");
    assert!(!fix.contains("`CONFIG REWRITE`") && !fix.contains("redis.conf"), "{fix}");
    // The quoted command runs as printed (`--askpass` reads the current
    // password from stdin) and sets the new one.
    let command = fix.split('`').nth(1).expect("a quoted command");
    let mut shell = Command::new("sh");
    shell.args(["-c", command]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = shell.spawn().expect("sh runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"foobared\n").unwrap();
    let done = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "OK", "{command}: {done:?}");
    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "the default password is gone: {json:#}");

    // A config file and `rename-command CONFIG ""`: no CONFIG command is
    // printed, and the file INFO names is.
    let port = util::unique_port();
    let config = dir.path().join("renamed.conf");
    std::fs::write(
        &config,
        format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\nrequirepass foobared\nrename-command CONFIG \"\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let _renamed =
        ChildGuard::spawn(Command::new("/usr/bin/redis-server").arg(&config).stdout(Stdio::null()));
    assert!(wait_for_port(port, START), "redis-server did not start on {port}");
    let (_, json) = audit(port, &["--active"]);
    let fix = finding(&json, "weak-password")["fix"].as_str().unwrap().to_string();
    assert!(!fix.contains("redis-cli") && !fix.contains("CONFIG SET"), "{fix}");
    assert!(
        fix.contains(&format!(
            "set `requirepass <new long random secret>` in {}, then restart",
            config.display()
        )),
        "{fix}"
    );
}

#[test]
fn redis_with_a_strong_password_counts_every_attempt() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = strong_password();
    let (_redis, port, log) =
        start_redis(&["--requirepass", &secret], dir.path(), Path::new("/usr/bin/redis-server"));
    let (output, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert_eq!(output.code, 0);
    let record = login(&json);
    assert_eq!(record["attempts"], 5, "{record}");
    assert_eq!(record["accounts"][0], serde_json::json!({"user": "default", "attempts": 3}));
    assert_eq!(record["accounts"][1], serde_json::json!({"user": "admin", "attempts": 2}));
    assert_eq!(record["accepted_user"], Value::Null);
    assert_eq!(record["stopped"], Value::Null, "{record}");
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.contains("SECURITY ATTACK"), "{text}");

    // The site's own list finds what porthole's does not.
    let list = dir.path().join("passwords.txt");
    std::fs::write(&list, format!("# ours\n:{secret}\n")).unwrap();
    let (_, json) = audit(port, &["--active", "--passwords", list.to_str().unwrap()]);
    let weak = finding(&json, "weak-password");
    assert!(weak["evidence"]
        .as_str()
        .unwrap()
        .contains("the site's --passwords list (6 attempts)"));
    assert_eq!(login(&json)["from_site_list"], true);

    // --skip turns the attempts off.
    let (_, json) = audit(port, &["--active", "--skip", "weak-password"]);
    assert!(logins(&json).is_empty(), "{json:#}");
}

#[test]
fn redis_acl_user_with_its_name_as_password_is_found() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = strong_password();
    let (_redis, port, _log) = start_redis(
        &["--requirepass", &secret, "--user", "admin", "on", ">admin", "~*", "+@all"],
        dir.path(),
        Path::new("/usr/bin/redis-server"),
    );
    let (_, json) = audit(port, &["--active"]);
    let weak = finding(&json, "weak-password");
    assert!(weak["evidence"].as_str().unwrap().contains("`admin`"), "{weak}");
    assert!(weak["fix"].as_str().unwrap().contains("ACL SETUSER admin resetpass"), "{weak}");
    assert_eq!(login(&json)["attempts"], 4, "three default passwords, then admin:admin");
}

/// An ACL user with `nopass` while `default` is off takes any password:
/// `admin` was reported as guessed with a default password. Redis's errors
/// never name a user (`-NOAUTH Authentication required.`, `-WRONGPASS
/// invalid username-password pair or user is disabled.`), so such a user
/// is found only under a name on the lists; `ACL GETUSER` on the session it
/// opened then says what it is, and the printed fix gives it a password.
#[test]
fn redis_acl_user_with_nopass_is_named_as_such_and_its_fix_runs() {
    if !require("redis-server") || !require("redis-cli") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, port, _log) = start_redis(
        &["--user", "default", "off", "--user", "admin", "on", "nopass", "~*", "+@all"],
        dir.path(),
        Path::new("/usr/bin/redis-server"),
    );
    let (_, json) = audit(port, &["--active"]);
    let weak = finding(&json, "weak-password");
    let evidence = weak["evidence"].as_str().unwrap();
    assert!(evidence.contains("`ACL GETUSER admin` shows `nopass`"), "{evidence}");
    assert!(!evidence.contains("a default password"), "{evidence}");
    let fix = weak["fix"].as_str().unwrap();
    let command = fix.split('`').nth(1).expect("a quoted command");
    assert!(command.starts_with("redis-cli "), "{fix}");
    // `--askpass` reads the (any) password from standard input.
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"anything\n").unwrap();
    let ran = child.wait_with_output().unwrap();
    assert!(ran.status.success() && ran.stdout.starts_with(b"OK"), "{command}: {ran:?}");
    let (_, json) = audit(port, &["--active"]);
    assert!(!rules(&json).contains(&"weak-password".to_string()), "{json:#}");
}

/// `redis-cli -p PORT ARGS…` (as `user`, any password, when one is named);
/// it must answer OK.
fn redis_cli_ok(port: u16, user: Option<&str>, args: &[&str]) {
    let mut command = Command::new("redis-cli");
    command.args(["-p", &port.to_string(), "--no-auth-warning"]);
    if let Some(user) = user {
        command.args(["--user", user, "--pass", "anything"]);
    }
    let ran = util::run(command.args(args));
    assert_eq!((ran.code, ran.stdout.trim()), (0, "OK"), "{args:?}: {ran:?}");
}

/// `ACL SETUSER default off` at run time keeps the user's `nopass`, so
/// `AUTH password` is answered "called without any password configured
/// for the default user": that refused `default` alone, but ended every
/// attempt with "the server has no password set", and an `admin` made
/// with `nopass` at run time next to it went unseen. Its fix then sent
/// the user to a `--user admin` the command line never had (the process
/// title hides the arguments: the fix now fits both).
#[test]
fn redis_with_default_turned_off_at_run_time_still_has_its_acl_users_tried() {
    if !require("redis-server") || !require("redis-cli") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (redis, port, _log) = start_redis(&[], dir.path(), Path::new("/usr/bin/redis-server"));
    redis_cli_ok(port, None, &["ACL", "SETUSER", "admin", "on", "nopass", "~*", "&*", "+@all"]);
    redis_cli_ok(port, None, &["ACL", "SETUSER", "default", "off"]);
    let (_, json, weak) = quiet_passive_then_weak(port);
    assert_eq!(login(&json)["stopped"], Value::Null, "{json:#}");
    let evidence = weak["evidence"].as_str().unwrap();
    assert!(evidence.contains("`ACL GETUSER admin` shows `nopass`"), "{evidence}");
    assert_eq!(weak["severity"], "high", "{weak:#}");
    assert_eq!(weak["pid"], redis.pid(), "{weak:#}");
    let fix = weak["fix"].as_str().unwrap();
    assert!(fix.contains("if the command that starts it has `--user admin …`"), "{fix}");
    let commands = printed(fix, "redis-cli");
    assert_eq!(commands.len(), 1, "{fix}");
    let secret = strong_password();
    run_printed(&commands[0].replace("<new long random secret>", &secret), "anything\n");
    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
}

/// A `requirepass` set with `CONFIG SET` on a server started without a
/// config file is on no command line: the fix said to change the
/// `--requirepass` of the command that starts it, which has none. It now
/// gives the argument to put there, and that argument, added, starts a
/// server the audit finds no password of.
#[test]
fn a_redis_password_set_at_run_time_is_added_to_the_command_line() {
    if !require("redis-server") || !require("redis-cli") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = Path::new("/usr/bin/redis-server");
    let (_redis, port, _log) = start_redis(&[], dir.path(), program);
    redis_cli_ok(port, None, &["CONFIG", "SET", "requirepass", "foobared"]);
    let (_, _, weak) = quiet_passive_then_weak(port);
    let fix = weak["fix"].as_str().unwrap();
    let argument = "`--requirepass '<new long random secret>'` (in place of its `--requirepass`";
    assert!(fix.contains(&format!("give the command that starts it {argument}")), "{fix}");
    let commands = printed(fix, "redis-cli");
    assert_eq!(commands.len(), 1, "{fix}");
    let secret = strong_password();
    run_printed(&commands[0].replace("<new long random secret>", &secret), "foobared\n");
    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    // The printed argument, added to the command line, keeps it.
    let (_restarted, port, _log) = start_redis(&["--requirepass", &secret], dir.path(), program);
    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert!(!logins(&json).is_empty(), "the password is asked for: {json:#}");
}

/// The config file `INFO server` names is text another user chose: a
/// directory named with an escape sequence reaches the terminal escaped in
/// the fix (`CONFIG REWRITE` rewrites that file), and stays exact in JSON.
#[test]
fn a_redis_config_file_named_with_an_escape_sequence_is_escaped_in_text_and_exact_in_json() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("e\x1b[31mred");
    std::fs::create_dir(&odd).unwrap();
    let port = util::unique_port();
    let config = odd.join("redis.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\nsave \"\"\nrequirepass foobared\ndir {}\n",
        dir.path().display()
    );
    std::fs::write(&config, text).unwrap();
    let _redis =
        ChildGuard::spawn(Command::new("/usr/bin/redis-server").arg(&config).stdout(Stdio::null()));
    assert!(wait_for_port(port, START), "redis-server did not start on {port}");
    let (_, _, weak) = quiet_passive_then_weak(port);
    let fix = weak["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("(it rewrites {})", config.display())), "{fix}");
    let shown = audit_active_text(port, &[]);
    assert!(!shown.stdout.contains('\x1b'), "{:?}", shown.stdout);
    let escaped = format!("{}/e\\x1b[31mred/redis.conf", dir.path().display());
    assert!(shown.stdout.contains(&escaped), "{}", shown.stdout);
}

/// The new password of an ACL user outlives a restart: the fix keeps it
/// where the server keeps the user. With an `aclfile`, `ACL SAVE`; with
/// `user` lines in redis.conf, `CONFIG REWRITE`; with `CONFIG` renamed
/// away, no CONFIG command but the line of the file to edit. Each printed
/// command runs as printed (the placeholder replaced by a secret), the
/// server restarts, and the finding is gone.
#[test]
fn a_redis_acl_user_s_new_password_is_kept_where_the_server_keeps_the_user() {
    if !require("redis-server") || !require("redis-cli") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = strong_password();
    let users = "user default off\nuser admin on nopass ~* &* +@all\n";
    let acl = dir.path().join("users.acl");
    for (name, extra, kept) in [
        ("aclfile", format!("aclfile {}\n", acl.display()), "ACL SAVE"),
        ("rewrite", users.to_string(), "CONFIG REWRITE"),
        ("renamed", format!("rename-command CONFIG \"\"\n{users}"), "line 8 of"),
    ] {
        std::fs::write(&acl, users).unwrap();
        let port = util::unique_port();
        let config = dir.path().join(format!("{name}.conf"));
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\n{extra}",
                dir.path().display()
            ),
        )
        .unwrap();
        let start = || {
            let redis = ChildGuard::spawn(
                Command::new("/usr/bin/redis-server").arg(&config).stdout(Stdio::null()),
            );
            assert!(wait_for_port(port, START), "{name}: redis-server did not start on {port}");
            redis
        };
        let redis = start();
        let (_, json) = audit(port, &["--active"]);
        let fix = finding(&json, "weak-password")["fix"].as_str().unwrap().to_string();
        assert!(fix.contains(kept), "{name}: {fix}");
        let commands = printed(&fix, "redis-cli");
        assert_eq!(commands.len(), if name == "renamed" { 1 } else { 2 }, "{name}: {fix}");
        assert!(name != "renamed" || commands.iter().all(|c| !c.contains("CONFIG")), "{fix}");
        // The user takes any password until the first command; the new
        // one after it.
        for (command, password) in commands.iter().zip(["anything", &secret]) {
            run_printed(
                &command.replace("<new long random secret>", &secret),
                &format!("{password}\n"),
            );
        }
        if name == "renamed" {
            let text = std::fs::read_to_string(&config).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            assert!(lines[7].starts_with("user admin "), "line 8 is the user: {text}");
            lines[7] = lines[7].replace("nopass", &format!(">{secret}"));
            std::fs::write(&config, lines.join("\n") + "\n").unwrap();
        }
        drop(redis);
        let _redis = start();
        let (_, json) = audit(port, &["--active"]);
        assert!(rules(&json).is_empty(), "{name}: the password was lost at restart: {json:#}");
    }
}

/// A Redis that turns clients away ("max number of clients reached") shows
/// a sign of trouble before any login: nothing is tried.
#[test]
fn redis_refusing_clients_is_not_tried() {
    if !require("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, port, log) = start_redis(
        &["--requirepass", "foobared", "--maxclients", "1"],
        dir.path(),
        Path::new("/usr/bin/redis-server"),
    );
    // Take the only client slot (once the readiness check's connection
    // has been let go).
    let mut holder = None;
    let taken = util::eventually(Duration::from_secs(10), || {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let mut reply = [0u8; 64];
        let answered = std::io::Write::write_all(&mut stream, b"*1\r\n$4\r\nPING\r\n")
            .and_then(|()| std::io::Read::read(&mut stream, &mut reply));
        let ours = matches!(answered, Ok(read) if reply[..read].starts_with(b"-NOAUTH"));
        if ours {
            holder = Some(stream);
        }
        ours
    });
    assert!(taken, "could not take the only client slot");

    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert!(logins(&json).is_empty(), "no login attempt: {json:#}");
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.contains("AUTH failed"), "{text}");
    drop(holder);
}

/// `--netns all --active`: the login attempts run inside the namespace of
/// the service, like its probe.
#[test]
fn redis_in_another_namespace_is_tried_inside_it() {
    if !require("redis-server") {
        return;
    }
    let Some(netns) = crate::util::Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = util::unique_port();
    let mut command = netns.command("/usr/bin/redis-server");
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
        .args(["--requirepass", "redis", "--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::null());
    let _redis = ChildGuard::spawn(&mut command);
    let ready = util::eventually(START, || {
        netns
            .command("redis-cli")
            .args(["-p", &port.to_string(), "--no-auth-warning", "-a", "redis", "PING"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
    });
    assert!(ready, "redis-server did not start in {}", netns.name);
    let (_, json) = audit(port, &["--netns", "all", "--active"]);
    let weak = finding(&json, "weak-password");
    assert!(weak["net_namespace"].is_u64(), "{weak}");
    assert!(weak["evidence"].as_str().unwrap().contains("(2 attempts)"), "{weak}");
    assert_eq!(login(&json)["net_namespace"], weak["net_namespace"]);
}

#[test]
fn passwords_file_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bad.txt");
    std::fs::write(&list, "root:root\nnocolon\n").unwrap();
    let bad = util::porthole_run(&["audit", "--active", "--passwords", list.to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.starts_with("porthole: --passwords"), "{}", bad.stderr);
    assert!(bad.stderr.contains("line 2: expected user:password"), "{}", bad.stderr);
    let missing = util::porthole_run(&["audit", "--active", "--passwords", "/nonexistent/list"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    let passive = util::porthole_run(&["audit", "--show"]);
    assert_eq!(passive.code, 2, "--show needs --active: {passive:?}");
}

/// `--passwords` was read whole into memory: `--passwords /dev/zero` ate
/// every byte of the machine's memory until the kernel killed porthole.
/// The file is read up to 1 MiB; more, a directory or binary data is one
/// line and exit 2, before any listener is probed. (The test uses a 2 MiB
/// file of valid lines, which used to be accepted, not an endless device.)
#[test]
fn a_passwords_file_that_is_no_site_list_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("large.txt");
    let lines: String = (0..150_000).map(|i| format!("user{i}:password{i}\n")).collect();
    assert!(lines.len() > 2 << 20, "{}", lines.len());
    std::fs::write(&large, lines).unwrap();
    let binary = dir.path().join("binary");
    std::fs::write(&binary, b"root:\xff\xfe\x00\n").unwrap();
    let nul = dir.path().join("nul");
    std::fs::write(&nul, b"ops:hunter2\nroot\x00user=x:pw\n").unwrap();
    for (path, why) in [
        (nul.to_str().unwrap(), "line 2: a NUL byte, which no login can carry"),
        (large.to_str().unwrap(), "larger than 1024 KiB"),
        (binary.to_str().unwrap(), "not UTF-8 text"),
        (dir.path().to_str().unwrap(), "a directory, not a file"),
    ] {
        let output = util::porthole_run(&["audit", "--active", "--passwords", path, "--port", "1"]);
        assert_eq!(output.code, 2, "{path}: {output:?}");
        assert_eq!(output.stderr.lines().count(), 1, "{path}: {}", output.stderr);
        assert!(output.stderr.starts_with("porthole: --passwords"), "{}", output.stderr);
        assert!(output.stderr.contains(why), "{path}: {}", output.stderr);
        assert_eq!(output.stdout, "", "nothing audited: {output:?}");
    }
}

// ----------------------------------------------------------- PostgreSQL

/// `psql` over the data directory's Unix socket (trusted) as `postgres`.
fn psql(data: &Path, port: u16, sql: &str) {
    let bin = postgres_bin().unwrap();
    let ran = util::run(
        as_user("postgres", &bin.join("psql"))
            .args(["-h", data.to_str().unwrap(), "-p", &port.to_string(), "-U", "postgres"])
            .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql]),
    );
    assert_eq!(ran.code, 0, "psql {sql}: {ran:?}");
}

#[test]
fn postgres_default_passwords_md5_and_scram_and_auth_delay() {
    let Some(bin) = postgres_bin() else {
        util::skip("postgresql not installed");
        return;
    };
    assert!(util::is_root(), "starting PostgreSQL as user postgres needs root");
    let dir = shared_tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    crate::audit::chown(&data, "postgres");
    let init = util::run(
        as_user("postgres", &bin.join("initdb"))
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"])
            .env("LC_ALL", "C"),
    );
    assert_eq!(init.code, 0, "initdb failed: {init:?}");
    write_hba(&data, "md5");
    let port = util::unique_port();
    let mut command = as_user("postgres", &bin.join("postgres"));
    command
        .args(["-D", data.to_str().unwrap(), "-p", &port.to_string(), "-k", data.to_str().unwrap()])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        // auth_delay.milliseconds defaults to 0; a command-line value would
        // override ALTER SYSTEM below.
        .args(["-c", "shared_preload_libraries=auth_delay"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _postmaster = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "postgres did not start on {port}");
    assert!(crate::audit::postgres_ready(&bin, port, None), "postgres on {port} accepts no logins");

    // MD5: postgres/postgres, the first candidate.
    psql(&data, port, "SET password_encryption = 'md5'; ALTER USER postgres PASSWORD 'postgres'");
    let (output, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let weak = finding(&json, "weak-password");
    assert_eq!(weak["severity"], "high");
    assert!(weak["evidence"].as_str().unwrap().contains("`postgres`"), "{weak}");
    assert_eq!(weak["fix"], format!("`psql -h 127.0.0.1 -p {port} -U postgres -c '\\password'`"));
    assert_eq!(login(&json)["attempts"], 1);
    assert!(!output.stdout.contains("\"postgres\"\n"), "{}", output.stdout);

    // SCRAM: postgres/password, the second candidate.
    write_hba(&data, "scram-sha-256");
    psql(
        &data,
        port,
        "SET password_encryption = 'scram-sha-256'; ALTER USER postgres PASSWORD 'password'",
    );
    psql(&data, port, "SELECT pg_reload_conf()");
    let mut last = Value::Null;
    let found = util::eventually(Duration::from_secs(20), || {
        last = audit(port, &["--active", "--show"]).1;
        rules(&last) == ["weak-password"] && login(&last)["attempts"] == 2
    });
    assert!(found, "{last:#}");
    assert!(finding(&last, "weak-password")["evidence"]
        .as_str()
        .unwrap()
        .ends_with("password: password"));

    // SCRAM with a strong password: all three candidates fail.
    let secret = strong_password();
    psql(&data, port, &format!("ALTER USER postgres PASSWORD '{secret}'"));
    let (output, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert_eq!(output.code, 0);
    let record = login(&json);
    assert_eq!(record["attempts"], 3, "{record}");
    assert_eq!(record["accounts"][0], serde_json::json!({"user": "postgres", "attempts": 3}));

    // TLS only (`hostssl`): a plain login has no pg_hba.conf line, so a
    // find proves the SSLRequest led to TLS. `admin` is the third candidate.
    let (cert, key) = (data.join("server.crt"), data.join("server.key"));
    let made = util::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    assert_eq!(made.code, 0, "{made:?}");
    crate::audit::chown(&cert, "postgres");
    crate::audit::chown(&key, "postgres");
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    crate::audit::chown(&data.join("pg_hba.conf"), "postgres");
    psql(&data, port, "ALTER SYSTEM SET ssl = on");
    psql(&data, port, "ALTER USER postgres PASSWORD 'admin'");
    psql(&data, port, "SELECT pg_reload_conf()");
    let mut last = Value::Null;
    let found = util::eventually(Duration::from_secs(20), || {
        last = audit(port, &["--active"]).1;
        rules(&last) == ["weak-password"]
    });
    assert!(found, "{last:#}");
    assert_eq!(login(&last)["attempts"], 3, "{last:#}");
    psql(&data, port, &format!("ALTER USER postgres PASSWORD '{secret}'"));

    // auth_delay holds every failure back: the first slow failure is a
    // rate-limit sign and nothing more is tried.
    psql(&data, port, "ALTER SYSTEM SET auth_delay.milliseconds = 2500");
    psql(&data, port, "SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(500));
    let (_, json) = audit(port, &["--active"]);
    let record = login(&json);
    assert_eq!(record["attempts"], 1, "{record}");
    assert!(record["stopped"].as_str().unwrap().contains("delays failures"), "{record}");
}

// -------------------------------------------------------------- MariaDB

/// A fresh MariaDB on its own port (root without a password, `normal`
/// authentication) with `extra` options; its Unix socket path.
fn start_mariadb(dir: &Path, extra: &[String]) -> (ChildGuard, u16, std::path::PathBuf) {
    let (data, scratch) = crate::audit::install_mariadb(dir, "normal");
    let port = util::unique_port();
    let socket = data.join("mysqld.sock");
    let server = ChildGuard::spawn(
        Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--tmpdir={}", scratch.display()))
            .arg(format!("--pid-file={}", data.join("mysqld.pid").display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=mysql", "--skip-log-bin"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_for_port(port, START), "mariadbd did not start on {port}");
    (server, port, socket)
}

/// The commands quoted in a fix that start with `program`.
fn printed(fix: &str, program: &str) -> Vec<String> {
    fix.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with(&format!("{program} ")))
        .map(str::to_string)
        .collect()
}

/// Runs a printed command in `sh`, `stdin` on its standard input (what a
/// `-p` prompt reads when there is no terminal).
fn run_printed(command: &str, stdin: &str) {
    use std::io::Write as _;
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin written");
    let output = child.wait_with_output().expect("sh ends");
    assert!(
        output.status.success(),
        "the printed command failed: {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn empty_passwords(json: &Value) -> Vec<&Value> {
    json["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "empty-password").collect()
}

/// `--active` tried `root` alone: an anonymous account (`''@'localhost'`,
/// any user name, no password) passed clean, and a server started with
/// `--skip-grant-tables` (every name, every password, every privilege) was
/// told `ALTER USER 'root'@'%' …`, which fails there and names an account
/// most servers lack. The account `CURRENT_USER()` names now tells the
/// three apart, and each fix runs as printed.
#[test]
fn mariadb_anonymous_accounts_and_skip_grant_tables_get_fixes_that_run() {
    if !require("mariadbd") || !require("mariadb-install-db") || !require("mariadb") {
        return;
    }
    let dir = shared_tempdir();
    let (_server, port, socket) = start_mariadb(dir.path(), &[]);
    mariadb_sql(&socket, None, "CREATE USER ''@'localhost'");
    let args = ["--active", "--skip", "weak-password"];
    let (_, json) = audit(port, &args);
    let found = empty_passwords(&json);
    assert_eq!(found.len(), 2, "root and the anonymous account: {json:#}");
    let anonymous = found.iter().find(|f| f["evidence"].as_str().unwrap().contains("anonymous"));
    let anonymous = anonymous.unwrap_or_else(|| panic!("no anonymous account in {json:#}"));
    assert_eq!(anonymous["severity"], "medium", "{anonymous:#}");
    let root = found.iter().find(|f| f["evidence"].as_str().unwrap().contains("as root"));
    let root = root.unwrap_or_else(|| panic!("no root login in {json:#}"));
    assert_eq!(root["severity"], "high", "{root:#}");
    let drop_user = printed(anonymous["fix"].as_str().unwrap(), "mariadb");
    let alter_user = printed(root["fix"].as_str().unwrap(), "mariadb");
    assert_eq!((drop_user.len(), alter_user.len()), (1, 1), "{json:#}");
    // Root has no password yet: an empty line answers the prompt.
    run_printed(&drop_user[0], "\n");
    run_printed(&alter_user[0], "");
    let (_, json) = audit(port, &args);
    assert!(empty_passwords(&json).is_empty(), "{json:#}");

    let other = shared_tempdir();
    let (server, port, _) = start_mariadb(other.path(), &["--skip-grant-tables".into()]);
    let (_, json) = audit(port, &args);
    let found = empty_passwords(&json);
    assert_eq!(found.len(), 1, "one finding says it all: {json:#}");
    let evidence = found[0]["evidence"].as_str().unwrap();
    assert!(evidence.contains("`skip-grant-tables`"), "{evidence}");
    assert_eq!(found[0]["severity"], "high", "{evidence}");
    let fix = found[0]["fix"].as_str().unwrap();
    let expected =
        format!("remove `--skip-grant-tables` from the command that starts pid {}", server.pid());
    assert!(fix.starts_with(&expected), "{fix}");
}

/// Runs `statement` as root over the Unix socket (`password` if set).
fn mariadb_sql(socket: &Path, password: Option<&str>, statement: &str) -> String {
    let mut command = Command::new("mariadb");
    command.arg("--no-defaults").arg(format!("--socket={}", socket.display())).args(["-u", "root"]);
    if let Some(password) = password {
        command.arg(format!("-p{password}"));
    }
    let ran = util::run(command.args(["-N", "-e", statement]));
    assert_eq!(ran.code, 0, "{statement}: {ran:?}");
    ran.stdout
}

#[test]
fn mariadb_root_root_is_found_and_a_strong_password_is_not() {
    if !require("mariadbd") || !require("mariadb-install-db") || !require("mariadb") {
        return;
    }
    assert!(util::is_root(), "mariadbd --user=mysql needs root");
    let dir = shared_tempdir();
    let (_server, port, socket) = start_mariadb(dir.path(), &[]);
    let sql = |statement: &str| {
        mariadb_sql(&socket, None, statement);
    };
    sql("ALTER USER root@localhost IDENTIFIED BY 'root'");

    let (_, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let weak = finding(&json, "weak-password");
    assert!(weak["fix"]
        .as_str()
        .unwrap()
        .starts_with(&format!("`mariadb -h 127.0.0.1 -P {port} -u root -p")));
    assert_eq!(login(&json)["attempts"], 1);

    // The socket client still gets in: it asks for the password now.
    let secret = strong_password();
    let ran = util::run(
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "-proot", "-e"])
            .arg(format!("ALTER USER root@localhost IDENTIFIED BY '{secret}'")),
    );
    assert_eq!(ran.code, 0, "{ran:?}");
    let (output, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert_eq!(output.code, 0);
    assert_eq!(login(&json)["attempts"], 3);
}

// -------------------------------------------------------------- Jupyter

/// Where scripts/setup.sh installs Jupyter Server.
const JUPYTER_VENV: &str = "/opt/porthole-jupyter/bin";

/// Starts Jupyter Server on a fresh port with `options`; returns it once
/// it listens.
fn start_jupyter(dir: &Path, options: &[String]) -> (ChildGuard, u16) {
    let port = util::unique_port();
    let mut command = Command::new(Path::new(JUPYTER_VENV).join("jupyter-server"));
    command
        .args(["--no-browser", "--allow-root", "--ip", "127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--ServerApp.root_dir={}", dir.display()))
        .args(options)
        .env("HOME", dir)
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("JUPYTER_DATA_DIR", dir.join("data"))
        .env("JUPYTER_CONFIG_DIR", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "jupyter-server did not start on {port}");
    (server, port)
}

#[test]
fn jupyter_default_token_and_password_are_found() {
    if !require(&format!("{JUPYTER_VENV}/jupyter-server")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // A token from porthole's list: the first attempt.
    let (_token_server, port) =
        start_jupyter(dir.path(), &["--IdentityProvider.token=jupyter".to_string()]);
    let (output, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let weak = finding(&json, "weak-password");
    assert!(
        weak["evidence"]
            .as_str()
            .unwrap()
            .starts_with("accepted a default secret from porthole's list as its token (1 attempt)"),
        "{weak}"
    );
    assert!(weak["fix"].as_str().unwrap().contains("jupyter server password"), "{weak}");
    assert!(!output.stdout.contains("\"jupyter\"\n"), "{}", output.stdout);

    // A strong token but the password `password`: the login form finds it
    // on the third attempt (token ×1, password ×2).
    let hash = util::run(
        Command::new(Path::new(JUPYTER_VENV).join("python"))
            .args(["-c", "from jupyter_server.auth import passwd; print(passwd('password'))"]),
    );
    assert_eq!(hash.code, 0, "{hash:?}");
    let (_password_server, port) = start_jupyter(
        dir.path(),
        &[
            format!("--IdentityProvider.token={}", strong_password()),
            format!("--PasswordIdentityProvider.hashed_password={}", hash.stdout.trim()),
        ],
    );
    let (_, json) = audit(port, &["--active"]);
    let weak = finding(&json, "weak-password");
    assert!(
        weak["evidence"].as_str().unwrap().starts_with(
            "logged in through the login form with a default password from porthole's list (3 attempts)"
        ),
        "{weak}"
    );
    let record = login(&json);
    assert_eq!(record["accounts"][0], serde_json::json!({"user": "token", "attempts": 1}));
    assert_eq!(record["accounts"][1], serde_json::json!({"user": "password", "attempts": 2}));
}

/// A Jupyter started with its token emptied (`--IdentityProvider.token=`)
/// let anyone in, and the fix was prose ("start Jupyter with a token").
/// It is now that command line without the option, started again in the
/// same directory: run as printed, the server asks for its token.
#[test]
fn a_jupyter_with_its_token_emptied_gets_a_restart_command_that_runs() {
    if !require(&format!("{JUPYTER_VENV}/jupyter-server")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = util::non_ephemeral_port();
    let environment = |command: &mut Command| {
        command
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
            .env("JUPYTER_DATA_DIR", dir.path().join("data"))
            .env("JUPYTER_CONFIG_DIR", dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut command = Command::new(Path::new(JUPYTER_VENV).join("jupyter-server"));
    command
        .args(["--no-browser", "--allow-root", "--ip", "127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg("--IdentityProvider.token=");
    environment(&mut command);
    let server = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "jupyter-server did not start on {port}");
    let (_, json) = audit(port, &[]);
    let open = finding(&json, "no-auth");
    let fix = open["fix"].as_str().unwrap();
    let commands: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    let kill = format!("kill {}", server.pid());
    assert!(commands.contains(&kill.as_str()), "{fix}");
    let start = commands.iter().find(|c| c.starts_with("cd ")).expect("a start command");
    assert!(!start.contains("token"), "{fix}");
    let killed = util::run(Command::new("sh").args(["-c", &kill]));
    assert_eq!(killed.code, 0, "{killed:?}");
    drop(server);
    assert!(
        util::eventually(START, || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()),
        "jupyter-server still listens on {port}"
    );
    // The printed line, in the user's shell (its environment); `exec` so
    // that the guard's kill reaches the server itself.
    let mut command = Command::new("sh");
    command.args(["-c", &start.replacen(" && ", " && exec ", 1)]);
    environment(&mut command);
    let _restarted = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "the printed command did not start it: {start}");
    let (_, json) = audit(port, &[]);
    assert!(!rules(&json).contains(&"no-auth".to_string()), "{json:#}");
}

/// The same emptied token in the user's configuration file
/// (`JUPYTER_CONFIG_DIR`, read from the server's environment): the fix
/// comments that line out and starts the same command line again.
#[test]
fn a_jupyter_whose_config_file_empties_its_token_gets_an_edit_and_a_restart_that_run() {
    if !require(&format!("{JUPYTER_VENV}/jupyter-server")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    let config_file = config.join("jupyter_server_config.py");
    std::fs::write(&config_file, "c = get_config()\nc.IdentityProvider.token = ''\n").unwrap();
    let port = util::non_ephemeral_port();
    let environment = |command: &mut Command| {
        command
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
            .env("JUPYTER_DATA_DIR", dir.path().join("data"))
            .env("JUPYTER_CONFIG_DIR", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let mut command = Command::new(Path::new(JUPYTER_VENV).join("jupyter-server"));
    command
        .args(["--no-browser", "--allow-root", "--ip", "127.0.0.1"])
        .arg(format!("--port={port}"));
    environment(&mut command);
    let server = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "jupyter-server did not start on {port}");
    let (_, json) = audit(port, &[]);
    let open = finding(&json, "no-auth");
    let fix = open["fix"].as_str().unwrap();
    let commands: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    let edit = commands.iter().find(|c| c.starts_with("sed ")).expect("an edit");
    let kill = format!("kill {}", server.pid());
    assert!(commands.contains(&kill.as_str()), "{fix}");
    let start = commands.iter().find(|c| c.starts_with("cd ")).expect("a start command");
    let edited = util::run(Command::new("sh").args(["-c", edit]));
    assert_eq!(edited.code, 0, "{edited:?}");
    assert!(std::fs::read_to_string(&config_file)
        .unwrap()
        .contains("# c.IdentityProvider.token = ''"));
    let killed = util::run(Command::new("sh").args(["-c", &kill]));
    assert_eq!(killed.code, 0, "{killed:?}");
    drop(server);
    assert!(
        util::eventually(START, || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()),
        "jupyter-server still listens on {port}"
    );
    let mut command = Command::new("sh");
    command.args(["-c", &start.replacen(" && ", " && exec ", 1)]);
    environment(&mut command);
    let _restarted = ChildGuard::spawn(&mut command);
    assert!(wait_for_port(port, START), "the printed command did not start it: {start}");
    let (_, json) = audit(port, &[]);
    assert!(!rules(&json).contains(&"no-auth".to_string()), "{json:#}");
}

/// A MariaDB that offers TLS: the login switches to TLS before the
/// password's scramble is sent, and `root`/`password` is found.
#[test]
fn mariadb_with_tls_is_logged_in_over_tls() {
    if !require("mariadbd") || !require("mariadb-install-db") || !require("openssl") {
        return;
    }
    assert!(util::is_root(), "mariadbd --user=mysql needs root");
    let dir = shared_tempdir();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = util::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    assert_eq!(made.code, 0, "{made:?}");
    crate::audit::chown(&key, "mysql");
    let (_server, port, socket) = start_mariadb(
        dir.path(),
        &[format!("--ssl-cert={}", cert.display()), format!("--ssl-key={}", key.display())],
    );
    mariadb_sql(&socket, None, "ALTER USER root@localhost IDENTIFIED BY 'password'");
    let (_, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    assert_eq!(login(&json)["attempts"], 2, "{json:#}");
    let accepts = mariadb_sql(&socket, Some("password"), "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'");
    let count: u64 = accepts.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count >= 2, "the logins used TLS: {accepts}");
}

// ------------------------------------------------------------- RabbitMQ

/// Debian's start script (the one in /usr/sbin switches users first).
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A private RabbitMQ node with the management plugin: its own epmd, node
/// name, ports, data and Erlang cookie under `dir`, everything on
/// 127.0.0.1, running as `rabbitmq`. Returns the management port once
/// `guest` can log in there. `guest`/`guest` is RabbitMQ's default, and it
/// works from loopback only: exactly what porthole audits.
fn start_rabbitmq(dir: &Path) -> (ChildGuard, ChildGuard, u16) {
    let [amqp, management, distribution, epmd_port] = std::array::from_fn(|_| util::unique_port());
    std::fs::write(
        dir.join("rabbitmq.conf"),
        format!(
            "listeners.tcp.1 = 127.0.0.1:{amqp}\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management}\n"
        ),
    )
    .unwrap();
    // What `rabbitmq-plugins enable --offline rabbitmq_management` writes.
    std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_management].\n").unwrap();
    crate::audit::chown(dir, "rabbitmq");
    let environment = |command: &mut Command| {
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", dir)
            .env("LANG", "C.UTF-8")
            .env("ERL_EPMD_PORT", epmd_port.to_string());
    };
    // Our own epmd in the foreground, so dropping the guard stops it (the
    // one the broker would start is a daemon that outlives the test).
    let mut epmd = as_user("rabbitmq", Path::new("/usr/bin/epmd"));
    epmd.args(["-address", "127.0.0.1"]).stdout(Stdio::null()).stderr(Stdio::null());
    environment(&mut epmd);
    let epmd = ChildGuard::spawn(&mut epmd);
    assert!(wait_for_port(epmd_port, START), "epmd did not start on {epmd_port}");

    let mut broker = as_user("rabbitmq", Path::new(RABBITMQ_SERVER));
    environment(&mut broker);
    broker
        // The script then execs the VM instead of staying as its parent,
        // so the guard's kill reaches the broker.
        .env("RUNNING_UNDER_SYSTEMD", "true")
        .env("RABBITMQ_NODENAME", format!("porthole-test-{amqp}@localhost"))
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
        .env("RABBITMQ_DIST_PORT", distribution.to_string())
        .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let broker = ChildGuard::spawn(&mut broker);
    // The management listener opens before the broker has created `guest`.
    let ready = util::eventually(Duration::from_secs(120), || {
        rabbitmq_api(management, "guest", "GET", "/api/whoami", "").0 == 200
    });
    assert!(ready, "RabbitMQ did not start (log in {})", dir.join("log").display());
    (broker, epmd, management)
}

/// One management API request with HTTP Basic; the status (0 when nothing
/// answered) and the body.
fn rabbitmq_api(port: u16, password: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("guest:{password}"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {credentials}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut reply = String::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut reply).is_err() {
        return (0, String::new());
    }
    let status = reply.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, reply)
}

#[test]
fn rabbitmq_guest_guest_is_found_until_the_password_changes() {
    if !require(RABBITMQ_SERVER) || !require("/usr/bin/epmd") {
        return;
    }
    assert!(util::is_root(), "running RabbitMQ as user rabbitmq needs root");
    let dir = shared_tempdir();
    let (broker, _epmd, port) = start_rabbitmq(dir.path());

    // Passive: a generic HTTP server, no login attempt.
    let (_, json) = audit(port, &[]);
    assert!(!rules(&json).contains(&"weak-password".to_string()), "{json:#}");
    assert!(logins(&json).is_empty(), "{json:#}");

    // Recognised by its owner (beam.smp running `rabbit`): guest/guest is
    // the first candidate.
    let (output, json) = audit(port, &["--active"]);
    let weak = finding(&json, "weak-password");
    assert_eq!(weak["severity"], "high", "{weak}");
    assert_eq!(weak["pid"], broker.pid(), "{weak}");
    assert!(
        weak["evidence"].as_str().unwrap().starts_with(
            "logged in as `guest` with a default password from porthole's list (1 attempt)"
        ),
        "{weak}"
    );
    assert!(
        weak["fix"].as_str().unwrap().starts_with("`rabbitmqctl change_password guest '"),
        "{weak}"
    );
    let record = login(&json);
    assert_eq!(record["service"], "http", "{record}");
    assert_eq!(record["accepted_user"], "guest", "{record}");
    assert_eq!(record["attempts"], 1, "{record}");
    assert!(!output.stdout.contains("\"guest\"\n"), "{}", output.stdout);

    // A strong password for guest: both candidates (guest/guest,
    // admin/admin) are refused.
    let secret = strong_password();
    let (status, reply) = rabbitmq_api(
        port,
        "guest",
        "PUT",
        "/api/users/guest",
        &format!(r#"{{"password":"{secret}","tags":"administrator"}}"#),
    );
    assert_eq!(status, 204, "changing guest's password: {reply}");
    assert_eq!(rabbitmq_api(port, &secret, "GET", "/api/whoami", "").0, 200);
    let (output, json) = audit(port, &["--active"]);
    assert!(!rules(&json).contains(&"weak-password".to_string()), "{json:#}");
    assert_eq!(output.code, 0);
    let record = login(&json);
    assert_eq!(record["attempts"], 2, "{record}");
    assert_eq!(record["accepted_user"], Value::Null, "{record}");
    assert_eq!(record["accounts"][0], serde_json::json!({"user": "guest", "attempts": 1}));
    assert_eq!(record["accounts"][1], serde_json::json!({"user": "admin", "attempts": 1}));
}

// ---------------------------------------------------------------- MongoDB

/// pymongo (and its `bson`) in a virtual environment of their own, made
/// by scripts/setup.sh.
const PYMONGO_VENV: &str = "/opt/porthole-pymongo/bin";

/// No MongoDB server is packaged for Debian, so the tests log in to a
/// stand-in that speaks mongod's authentication (real SCRAM-SHA-256 and
/// SCRAM-SHA-1 verification); each test first proves it faithful with the
/// real pymongo client ([`assert_pymongo_agrees`]).
const SCRAM_MONGOD: &str = include_str!("fixtures/scram_mongod.py");

/// A running stand-in: the process, its port and the file where it logs
/// every login step it saw (`start MECH USER`, `failed USER`, `accepted
/// USER`).
struct StandIn {
    server: ChildGuard,
    port: u16,
    events: std::path::PathBuf,
}

impl StandIn {
    fn start(dir: &Path, user: &str, password: &str, mechanisms: &str) -> StandIn {
        StandIn::start_with(dir, user, password, mechanisms, &[])
    }

    fn start_with(
        dir: &Path,
        user: &str,
        password: &str,
        mechanisms: &str,
        extra: &[&str],
    ) -> StandIn {
        let events = dir.join(format!("events-{mechanisms}{}.log", extra.join("-")));
        let mut args = vec![user, password, mechanisms, events.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (server, mut stdout) = util::python_via(
            Command::new(Path::new(PYMONGO_VENV).join("python")),
            SCRAM_MONGOD,
            &args,
        );
        let port: u16 = util::wait_for_line(&mut stdout).parse().expect("the stand-in's port");
        assert!(wait_for_port(port, START), "the stand-in did not listen on {port}");
        StandIn { server, port, events }
    }

    /// The login steps seen since the last call.
    fn take_events(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.events).unwrap_or_default();
        let _ = std::fs::write(&self.events, "");
        text.lines().map(str::to_string).collect()
    }
}

/// Logs in with pymongo; `Ok` or the server's error code.
fn pymongo_login(port: u16, user: &str, password: &str, mechanism: &str) -> Result<(), String> {
    let code = r#"
import sys, pymongo
from pymongo.errors import OperationFailure
port, user, password, mechanism = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
client = pymongo.MongoClient("127.0.0.1", port, username=user, password=password,
    authSource="admin", authMechanism=mechanism, directConnection=True,
    serverSelectionTimeoutMS=10000)
try:
    client.admin.command("ping")
    print("ok")
except OperationFailure as error:
    print(f"code {error.code}")
finally:
    client.close()
"#;
    let output = util::run(Command::new(Path::new(PYMONGO_VENV).join("python")).args([
        "-c",
        code,
        &port.to_string(),
        user,
        password,
        mechanism,
    ]));
    assert_eq!(output.code, 0, "pymongo failed: {output:?}");
    match output.stdout.trim() {
        "ok" => Ok(()),
        other => Err(other.to_string()),
    }
}

/// The stand-in behaves as mongod does for the real client: the right
/// password logs in with each mechanism it offers, a wrong one and an
/// unknown user get AuthenticationFailed (18).
fn assert_pymongo_agrees(stand_in: &StandIn, user: &str, password: &str, mechanisms: &[&str]) {
    for mechanism in mechanisms {
        assert_eq!(pymongo_login(stand_in.port, user, password, mechanism), Ok(()), "{mechanism}");
        assert_eq!(
            pymongo_login(stand_in.port, user, "not-the-password", mechanism),
            Err("code 18".to_string()),
            "{mechanism}"
        );
    }
    assert_eq!(
        pymongo_login(stand_in.port, "nobody", password, mechanisms[0]),
        Err("code 18".to_string())
    );
    stand_in.take_events();
}

#[test]
fn mongodb_admin_admin_is_found_with_scram_sha_256_and_sha_1() {
    if !require(&format!("{PYMONGO_VENV}/python")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    // An account with both mechanisms, as mongod 4.0+ creates it:
    // SCRAM-SHA-256 is used.
    let both = StandIn::start(dir.path(), "admin", "admin", "SCRAM-SHA-256,SCRAM-SHA-1");
    assert_pymongo_agrees(&both, "admin", "admin", &["SCRAM-SHA-256", "SCRAM-SHA-1"]);

    // Passive: the probe sees `Unauthorized` and tries no login.
    let (_, json) = audit(both.port, &[]);
    assert_eq!(json["services"][0]["service"], "mongodb", "{json:#}");
    assert!(rules(&json).is_empty(), "{json:#}");
    assert!(logins(&json).is_empty(), "{json:#}");
    assert!(both.take_events().is_empty(), "no login step without --active");

    let (output, json) = audit(both.port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let weak = finding(&json, "weak-password");
    assert_eq!(weak["severity"], "high", "{weak}");
    assert_eq!(weak["pid"], both.server.pid(), "{weak}");
    assert!(
        weak["evidence"].as_str().unwrap().starts_with(
            "logged in as `admin` with a default password from porthole's list (1 attempt)"
        ),
        "{weak}"
    );
    assert_eq!(
        weak["fix"].as_str().unwrap(),
        format!(
            "`mongosh 'mongodb://127.0.0.1:{}/admin' -u admin --eval 'db.changeUserPassword(\"admin\", passwordPrompt())'` (asks for the current password, then the new one); then update the applications' connection strings",
            both.port
        )
    );
    let record = login(&json);
    assert_eq!(record["service"], "mongodb", "{record}");
    assert_eq!(record["attempts"], 1, "{record}");
    assert_eq!(record["accepted_user"], "admin", "{record}");
    assert!(record.get("password").is_none(), "{record}");
    assert!(!output.stdout.contains("password: admin"), "{}", output.stdout);
    assert_eq!(both.take_events(), ["start SCRAM-SHA-256 admin", "accepted admin"]);

    let port = both.port;
    let shown = audit_active_text(port, &["--show"]);
    assert!(shown.stdout.contains("password: admin"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains(&format!(
            "weak-password: mongodb on 127.0.0.1:{port}: 1 attempt (admin ×1), accepted as admin with password admin"
        )),
        "{}",
        shown.stdout
    );

    // An account created with SCRAM-SHA-1 only (upgraded from MongoDB
    // 3.x): hello says so, and the MD5-prepared password logs in.
    let sha1 = StandIn::start(dir.path(), "admin", "admin", "SCRAM-SHA-1");
    assert_pymongo_agrees(&sha1, "admin", "admin", &["SCRAM-SHA-1"]);
    let (_, json) = audit(sha1.port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    assert_eq!(login(&json)["attempts"], 1, "{json:#}");
    assert_eq!(sha1.take_events(), ["start SCRAM-SHA-1 admin", "accepted admin"]);
}

#[test]
fn mongodb_with_a_strong_password_counts_every_attempt() {
    if !require(&format!("{PYMONGO_VENV}/python")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = strong_password();
    let stand_in = StandIn::start(dir.path(), "admin", &secret, "SCRAM-SHA-256,SCRAM-SHA-1");
    assert_pymongo_agrees(&stand_in, "admin", &secret, &["SCRAM-SHA-256", "SCRAM-SHA-1"]);

    let (output, json) = audit(stand_in.port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert_eq!(output.code, 0);
    let record = login(&json);
    assert_eq!(record["attempts"], 3, "{record}");
    assert_eq!(record["accounts"][0], serde_json::json!({"user": "admin", "attempts": 2}));
    assert_eq!(record["accounts"][1], serde_json::json!({"user": "root", "attempts": 1}));
    assert_eq!(record["accepted_user"], Value::Null, "{record}");
    assert_eq!(record["stopped"], Value::Null, "{record}");
    // The server saw exactly the attempts porthole counted; `root` does
    // not exist, so hello named no mechanism and SCRAM-SHA-1 was tried,
    // as drivers do.
    assert_eq!(
        stand_in.take_events(),
        [
            "start SCRAM-SHA-256 admin",
            "failed admin",
            "start SCRAM-SHA-1 root",
            "failed root",
            "start SCRAM-SHA-256 admin",
            "failed admin",
        ]
    );

    // The site's own list finds it, on the fourth attempt.
    let list = dir.path().join("passwords.txt");
    std::fs::write(&list, format!(":{secret}\n")).unwrap();
    let (_, json) = audit(stand_in.port, &["--active", "--passwords", list.to_str().unwrap()]);
    let weak = finding(&json, "weak-password");
    assert!(
        weak["evidence"].as_str().unwrap().contains("the site's --passwords list (4 attempts)"),
        "{weak}"
    );
    assert_eq!(login(&json)["from_site_list"], true);
}

/// A server that accepts any proof but cannot sign with the password's
/// server key (an impostor, or a proxy in the middle) is not believed: the
/// login is not counted as accepted, and no more attempts follow.
#[test]
fn mongodb_server_signature_is_verified() {
    if !require(&format!("{PYMONGO_VENV}/python")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let forged =
        StandIn::start_with(dir.path(), "admin", "admin", "SCRAM-SHA-256,SCRAM-SHA-1", &["forge"]);
    // pymongo refuses it too: the forgery is what a client must catch.
    let refused = pymongo_login(forged.port, "admin", "admin", "SCRAM-SHA-256");
    assert!(refused.is_err(), "pymongo believed a forged server signature");
    forged.take_events();

    let (_, json) = audit(forged.port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    let record = login(&json);
    assert_eq!(record["attempts"], 1, "{record}");
    assert_eq!(record["accepted_user"], Value::Null, "{record}");
    assert_eq!(record["stopped"], "stopped: server signature does not match", "{record}");
}

// ------------------------------------------------------------ memcached

/// Makes `path` readable by every user (memcached reads as `nobody`).
fn make_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Writes `text` to `path`, readable by every user.
fn write_readable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    make_readable(path);
}

/// One ASCII authentication (`-Y`) with `user` and `password`: memcached's
/// reply line.
fn memcached_ascii_login(port: u16, user: &str, password: &str) -> String {
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data = format!("{user} {password}");
    write!(stream, "set key 0 0 {}\r\n{data}\r\n", data.len()).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).expect("a reply");
    line.trim_end().to_string()
}

#[test]
fn memcached_ascii_auth_admin_admin_is_found_and_its_fix_runs() {
    if !require("memcached") {
        return;
    }
    let dir = shared_tempdir();
    let auth = dir.path().join("memcached.auth");
    write_readable(&auth, "app:Zq-long-application-secret\nadmin:admin\n");
    let (memcached, port) = start_memcached(&["-Y", auth.to_str().unwrap()], &[]);
    assert_eq!(memcached_ascii_login(port, "admin", "admin"), "STORED");

    // Passive: it asks for a password, which is no finding.
    let (output, json, weak) = quiet_passive_then_weak(port);
    assert_eq!(weak["service"], "memcached", "{weak}");
    let evidence = weak["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(
            "logged in as `admin` with a default password from porthole's list (1 attempt)"
        ),
        "{evidence}"
    );
    let record = login(&json);
    assert_eq!(
        (record["attempts"].as_u64(), record["accepted_user"].as_str()),
        (Some(1), Some("admin"))
    );
    assert!(!output.stdout.contains("admin:admin"), "{}", output.stdout);

    // The fix sets a random password in the file and makes memcached
    // read it again.
    let fix = weak["fix"].as_str().unwrap();
    let commands = printed(fix, "sed");
    assert_eq!(commands.len(), 1, "{fix}");
    assert!(commands[0].ends_with(&format!("&& kill -HUP {}", memcached.pid())), "{fix}");
    run_printed(&commands[0], "");
    let text = std::fs::read_to_string(&auth).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "app:Zq-long-application-secret", "{text}");
    let new = lines[1].strip_prefix("admin:").expect("admin's line stays");
    assert!(new.len() == 48 && new.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    // memcached reloads the file from its clock event, after the signal.
    assert!(
        util::eventually(START, || memcached_ascii_login(port, "admin", "admin")
            == "CLIENT_ERROR authentication failure"),
        "the old password still works"
    );
    assert_eq!(memcached_ascii_login(port, "admin", new), "STORED");

    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    let record = login(&json);
    assert_eq!(record["attempts"], 4, "{record}");
    assert!(record["accepted_user"].is_null(), "{record}");
}

/// A `-Y` file in a directory named with a quote, `$(…)`, a newline, an
/// ESC sequence and a bidi override: the fix as the terminal shows it holds
/// none of them raw, and run by `sh` it changes that file and memcached
/// takes the new password.
#[test]
fn a_memcached_auth_file_with_a_hostile_name_is_fixed_as_printed() {
    if !require("memcached") {
        return;
    }
    let dir = shared_tempdir();
    let hostile = dir.path().join("it's $(touch pwned)\n\u{1b}[31m \u{202e}x");
    std::fs::create_dir(&hostile).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hostile, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let auth = hostile.join("memcached.auth");
    write_readable(&auth, "admin:admin\n");
    let (memcached, port) = start_memcached(&["-Y", auth.to_str().unwrap()], &[]);
    let output = audit_active_text(port, &["--fail-on", "never"]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(!output.stdout.contains(['\u{1b}', '\u{202e}']), "{}", output.stdout);
    let commands = printed(&output.stdout, "sed");
    assert_eq!(commands.len(), 1, "{}", output.stdout);
    assert!(commands[0].ends_with(&format!("&& kill -HUP {}", memcached.pid())), "{commands:?}");
    let status = Command::new("sh").args(["-c", &commands[0]]).current_dir(dir.path()).status();
    assert!(status.unwrap().success(), "the printed command failed: {}", commands[0]);
    let text = std::fs::read_to_string(&auth).unwrap();
    let new = text.trim_end().strip_prefix("admin:").expect("admin's line stays");
    assert!(new.len() == 48 && new.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    assert!(
        util::eventually(START, || memcached_ascii_login(port, "admin", new) == "STORED"),
        "memcached did not take the new password"
    );
}

/// A memcached with SASL (`-S`) whose one account is `user` with
/// `password`, in a sasldb in `dir` that the `memcached.conf` of
/// `SASL_CONF_PATH` names.
fn start_sasl_memcached(dir: &Path, user: &str, password: &str) -> (ChildGuard, u16) {
    let sasldb = dir.join("memcached.sasldb");
    let mut saslpasswd = Command::new("saslpasswd2")
        .args(["-f", sasldb.to_str().unwrap(), "-a", "memcached", "-c", "-p", user])
        .stdin(Stdio::piped())
        .spawn()
        .expect("saslpasswd2 runs");
    {
        use std::io::Write as _;
        saslpasswd.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    }
    assert!(saslpasswd.wait().unwrap().success(), "saslpasswd2 failed");
    make_readable(&sasldb);
    write_readable(
        &dir.join("memcached.conf"),
        &format!("mech_list: plain\nsasldb_path: {}\n", sasldb.display()),
    );
    start_memcached(&["-S"], &[("SASL_CONF_PATH", dir)])
}

#[test]
fn memcached_with_sasl_is_recognised_and_a_site_list_login_is_found() {
    if !require("memcached") || !require("saslpasswd2") {
        return;
    }
    let dir = shared_tempdir();
    let (_memcached, port) = start_sasl_memcached(dir.path(), "cache", "site-listed-secret");

    // Passive: memcached with SASL, not an open one, nor an unknown service.
    let (_, json) = audit(port, &[]);
    assert!(rules(&json).is_empty(), "{json:#}");
    let listener = json.to_string();
    assert!(listener.contains("SASL authentication, `-S`"), "{json:#}");
    assert!(listener.contains("\"memcached\""), "{json:#}");

    // porthole's list fails, the site's pair gets in over SASL PLAIN.
    let list = dir.path().join("passwords");
    std::fs::write(&list, "cache:site-listed-secret\n").unwrap();
    let (_, json) = audit(port, &["--active", "--passwords", list.to_str().unwrap()]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let evidence = finding(&json, "weak-password")["evidence"].as_str().unwrap().to_string();
    assert!(
        evidence.contains("logged in as `cache` with a listed password from the site's --passwords list (5 attempts)"),
        "{evidence}"
    );
    let record = login(&json);
    assert_eq!(record["accepted_user"], "cache", "{record}");
    assert_eq!(record["service"], "memcached", "{record}");

    // Without the pair: every default is tried and refused.
    let (_, json) = audit(port, &["--active"]);
    assert!(rules(&json).is_empty(), "{json:#}");
    assert_eq!(login(&json)["attempts"], 4, "{json:#}");
}

/// The weak-password fix of a memcached with SASL names the sasldb its
/// `SASL_CONF_PATH` leads to (in a directory named with a blank, a quote
/// and `$(id)`, which a shell would expand unquoted): run as printed, with the new password on stdin, it changes
/// the account, and the old password no longer gets in.
#[test]
fn a_memcached_sasl_password_is_changed_by_the_printed_fix() {
    if !require("memcached") || !require("saslpasswd2") {
        return;
    }
    let dir = shared_tempdir();
    let odd = dir.path().join("it's $(id) sasl");
    std::fs::create_dir(&odd).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&odd, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (_memcached, port) = start_sasl_memcached(&odd, "cache", "old-listed-secret");
    let list = |password: &str| {
        let file = dir.path().join(format!("{password}.list"));
        std::fs::write(&file, format!("cache:{password}\n")).unwrap();
        file.to_str().unwrap().to_string()
    };
    let old = list("old-listed-secret");
    let (output, json) = audit(port, &["--active", "--passwords", &old]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let fix = finding(&json, "weak-password")["fix"].as_str().unwrap().to_string();
    let commands = printed(&fix, "saslpasswd2");
    assert_eq!(commands.len(), 1, "{fix}");
    let sasldb = odd.join("memcached.sasldb");
    assert!(
        commands[0].starts_with(&format!(
            "saslpasswd2 -f '{}' -a memcached -u ",
            sasldb.display().to_string().replace('\'', "'\\''")
        )),
        "{fix}"
    );
    assert!(commands[0].ends_with(" cache"), "{fix}");
    assert!(!output.stdout.contains("old-listed-secret"), "{}", output.stdout);

    run_printed(&commands[0], "new-listed-secret");
    // The old pair is refused, the new one gets in.
    let (_, json) = audit(port, &["--active", "--passwords", &old]);
    assert!(rules(&json).is_empty(), "{json:#}");
    let (_, json) = audit(port, &["--active", "--passwords", &list("new-listed-secret")]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    assert_eq!(login(&json)["accepted_user"], "cache", "{json:#}");
}

/// A memcached in a mount namespace of its own reads its `-Y` file through
/// its own mounts: the fix edits that file through `/proc/PID/root`, not
/// the file the same path names here.
#[test]
fn a_memcached_in_its_own_mount_namespace_gets_its_own_auth_file_changed() {
    if !require("memcached") || !require("unshare") || !util::is_root() {
        return;
    }
    let dir = shared_tempdir();
    let (theirs, here) = (dir.path().join("theirs"), dir.path().join("etc"));
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::create_dir_all(&here).unwrap();
    write_readable(&theirs.join("memcached.auth"), "admin:admin\n");
    let decoy = "admin:another-server's-password\n";
    write_readable(&here.join("memcached.auth"), decoy);
    let mut command = Command::new("unshare");
    let script = format!("mount --bind {} {} && exec \"$@\"", theirs.display(), here.display());
    command.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh", "memcached"]);
    let file = here.join("memcached.auth");
    let (memcached, port) = start_memcached_with(command, &["-Y", file.to_str().unwrap()], &[]);

    let (_, json) = audit(port, &["--active"]);
    assert_eq!(rules(&json), ["weak-password"], "{json:#}");
    let fix = finding(&json, "weak-password")["fix"].as_str().unwrap().to_string();
    let through = format!("/proc/{}/root{}", memcached.pid(), file.display());
    assert!(fix.contains(&format!(" {through} && kill -HUP {}`", memcached.pid())), "{fix}");
    let commands = printed(&fix, "sed");
    assert_eq!(commands.len(), 1, "{fix}");
    run_printed(&commands[0], "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), decoy, "this namespace's file changed");
    assert!(std::fs::read_to_string(theirs.join("memcached.auth")).unwrap().starts_with("admin:"));
    assert!(
        util::eventually(START, || memcached_ascii_login(port, "admin", "admin")
            == "CLIENT_ERROR authentication failure"),
        "the old password still works"
    );
}
