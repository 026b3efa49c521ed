//! `porthole audit`'s `file-server` rule against real file servers:
//! `python3 -m http.server` in a directory holding a (fake) SSH key and a
//! git configuration, on every interface of a private namespace; nginx with
//! `autoindex on`; a single-page-app server that answers every path with
//! its page, which is no finding; and a file server of an empty directory
//! on loopback, a listing without secrets. Fixes are run as printed.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::audit::shared_tempdir;
use crate::audit_fixes::{
    audit_in, finding, findings_of, netns_all_audit, nginx_config_with, quoted, restart_as_printed,
    start_nginx_in, wait_in,
};
use crate::util::{self, wait_for_port, ChildGuard, GroupGuard, Netns};

/// A line of the fake key: never to be found in any output.
const KEY_MATERIAL: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

/// A directory as a home directory or project root holds it: an SSH key,
/// a git configuration with a token in its remote URL, and a note.
fn home_directory() -> tempfile::TempDir {
    let dir = shared_tempdir();
    let path = dir.path();
    std::fs::create_dir_all(path.join(".ssh")).unwrap();
    std::fs::create_dir_all(path.join(".git")).unwrap();
    std::fs::write(
        path.join(".ssh/id_ed25519"),
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END OPENSSH PRIVATE KEY-----\n"),
    )
    .unwrap();
    std::fs::write(
        path.join(".git/config"),
        "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://dev:ghp_token@example.com/r.git\n",
    )
    .unwrap();
    std::fs::write(path.join("notes.txt"), "shopping list\n").unwrap();
    dir
}

/// The `file-server` finding of `port`, when there is one.
fn file_server(json: &Value, port: u16) -> Option<&Value> {
    findings_of(json, port).into_iter().find(|f| f["rule"] == "file-server")
}

/// `python3 -m http.server PORT` in `netns`, serving `dir` on every
/// interface, once it accepts.
pub(crate) fn http_server_in(netns: &Netns, dir: &std::path::Path, port: u16) -> ChildGuard {
    let server = ChildGuard::spawn(
        netns
            .command("python3")
            .args(["-m", "http.server", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_in(netns, port), "http.server did not start");
    server
}

/// A [`home_directory`] served by [`http_server_in`] on a port of a
/// namespace of its own.
fn home_directory_served() -> Option<(Netns, u16, tempfile::TempDir, ChildGuard)> {
    let netns = Netns::create()?;
    let port = util::unique_port();
    let dir = home_directory();
    let server = http_server_in(&netns, dir.path(), port);
    Some((netns, port, dir, server))
}

#[test]
fn python_http_server_on_every_interface_hands_out_the_ssh_key_and_is_restarted_on_loopback() {
    let Some((netns, port, dir, server)) = home_directory_served() else { return };
    let output = audit_in(&netns, &port.to_string());
    assert!(!output.stdout.contains(KEY_MATERIAL), "the key's contents: {}", output.stdout);
    assert!(!output.stdout.contains("ghp_token"), "the git token: {}", output.stdout);
    let json = output.json();
    let found = finding(&json, port, "file-server");
    assert_eq!(found["severity"], "critical", "{found:#}");
    let evidence = found["evidence"].as_str().unwrap();
    let key_size = std::fs::metadata(dir.path().join(".ssh/id_ed25519")).unwrap().len();
    for part in [
        "a directory listing (Python http.server) with 3 entries: .git/, .ssh/, notes.txt"
            .to_string(),
        format!("GET /.ssh/id_ed25519 → 200, {key_size} bytes (an SSH private key)"),
        "GET /.git/config → 200".to_string(),
        format!("it serves {} (its working directory)", dir.path().display()),
        "other devices reach it".to_string(),
    ] {
        assert!(evidence.contains(&part), "{part:?} in {evidence}");
    }
    // Only what is there: no id_rsa, no .env.
    assert!(!evidence.contains("id_rsa") && !evidence.contains(".env"), "{evidence}");
    // Run as printed: the server ends and starts again on loopback, from
    // where it ran.
    let fix = found["fix"].as_str().unwrap();
    let commands = quoted(fix);
    assert_eq!(commands[0], format!("kill {}", server.pid()), "{fix}");
    let start = &commands[1];
    assert!(start.starts_with(&format!("cd {} && ", dir.path().display())), "{fix}");
    assert!(start.ends_with(&format!("-m http.server {port} --bind 127.0.0.1")), "{fix}");
    assert!(fix.contains(".ssh/, .git/config out of"), "{fix}");
    assert!(fix.contains("`--directory` of a narrower directory"), "prose, not a command: {fix}");
    assert!(Command::new("sh").args(["-c", &commands[0]]).status().unwrap().success());
    let mut server = server;
    let _ = server.0.wait();
    let _restarted = GroupGuard::spawn(
        netns.command("sh").args(["-c", start]).stdout(Stdio::null()).stderr(Stdio::null()),
    );
    assert!(wait_in(&netns, port), "the printed command did not start the server");
    let json = audit_in(&netns, &port.to_string()).json();
    let again = finding(&json, port, "file-server");
    assert_eq!(again["local_address"], "127.0.0.1", "{again:#}");
    // On loopback a web page still reads it through DNS rebinding.
    assert_eq!(again["severity"], "high", "{again:#}");
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
}

/// With `--netns all`, the restart line of a file server in a named
/// namespace (`cd DIR && python3 -m http.server …`) started it again in
/// the caller's namespace; it now runs there through `ip netns exec NAME
/// sh -c`, and run as printed from here it serves on that namespace's
/// loopback.
#[test]
fn netns_all_restarts_a_file_server_on_the_loopback_of_its_own_namespace() {
    let Some((netns, port, _dir, server)) = home_directory_served() else { return };
    let json = netns_all_audit(port, &[]);
    let found = finding(&json, port, "file-server");
    assert_eq!(found["net_namespace"], util::netns_inode(&netns), "{found:#}");
    let fix = found["fix"].as_str().unwrap();
    let (start, _restarted) = restart_as_printed(fix, server);
    assert!(start.starts_with(&format!("ip netns exec {} sh -c 'cd ", netns.name)), "{fix}");
    assert!(wait_in(&netns, port), "the printed command did not start the server there");
    let json = audit_in(&netns, &port.to_string()).json();
    let again = finding(&json, port, "file-server");
    assert_eq!(again["local_address"], "127.0.0.1", "{again:#}");
    assert!(findings_of(&json, port).iter().all(|f| f["rule"] != "exposed-service"), "{json:#}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "it started here");
}

#[test]
fn nginx_autoindex_is_a_listing_with_names_sanitised_and_its_fix_turns_it_off() {
    let Some((netns, port, dir)) = crate::audit_fixes::nginx_fixture() else { return };
    let root = dir.path().display().to_string();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("readme.txt"), "hello\n").unwrap();
    std::fs::write(site.join("a\u{1b}[2Jb.txt"), "x\n").unwrap();
    let config = dir.path().join("nginx.conf");
    let location = format!("root {};\n      autoindex on;", site.display());
    std::fs::write(&config, nginx_config_with(&root, port, "", "", &location)).unwrap();
    let nginx = start_nginx_in(&netns, &config, &root, port);
    let output = audit_in(&netns, &port.to_string());
    let json = output.json();
    let found = finding(&json, port, "file-server");
    // A listing of harmless files, exposed: no secret raises it.
    assert_eq!(found["severity"], "medium", "{found:#}");
    let evidence = found["evidence"].as_str().unwrap();
    assert!(evidence.contains("a\u{1b}[2Jb.txt"), "exact in JSON: {evidence}");
    assert!(evidence.contains("readme.txt"), "{evidence}");
    assert!(evidence.contains(&format!("it serves {} (`root` in", site.display())), "{evidence}");
    // On a terminal the name's escape is shown, not acted on.
    let text =
        netns.porthole(&["audit", "--port", &port.to_string(), "--skip", "outdated-package"]);
    assert!(!text.stdout.contains('\u{1b}'), "{}", text.stdout);
    assert!(text.stdout.contains("a\\x1b[2Jb.txt"), "{}", text.stdout);
    // The line that turns the listing on, turned off as printed, and the
    // reload of this nginx.
    let fix = found["fix"].as_str().unwrap();
    let commands = quoted(fix);
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.trim() == "autoindex on;")
        .unwrap()
        + 1;
    assert_eq!(
        commands[0],
        format!("sed -i -e '{line}s/autoindex[[:space:]]*on/autoindex off/' {}", config.display()),
        "{fix}"
    );
    assert_eq!(commands[1], format!("kill -HUP {}", nginx.pid()), "{fix}");
    for command in &commands {
        let ran = util::run_as_printed(command, "");
        assert_eq!(ran.code, 0, "{command}: {ran:?}");
    }
    assert!(
        util::eventually(crate::audit::START, || {
            let json = audit_in(&netns, &port.to_string()).json();
            file_server(&json, port).is_none()
        }),
        "the listing is still on after the fix"
    );
}

/// A single-page app's dev server answers every path with its page, 200:
/// `/.ssh/id_rsa` and `/.env` included. That is no file.
const SINGLE_PAGE_APP: &str = r#"
import http.server, sys
PAGE = b"<!doctype html><html><head><title>App</title></head><body><div id=root></div></body></html>"
class App(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), App)
print("ok", flush=True)
server.serve_forever()
"#;

#[test]
fn a_single_page_app_that_answers_every_path_is_no_file_server() {
    let port = util::non_ephemeral_port();
    let (_server, mut ready) = util::python(SINGLE_PAGE_APP, &[&port.to_string()]);
    assert_eq!(util::wait_for_line(&mut ready), "ok");
    let (_, json) = crate::audit::audit(port, &[]);
    assert!(file_server(&json, port).is_none(), "{json:#}");
    // The secret paths were asked for (a Python server serves files).
    let probes = json["services"][0]["probes"].to_string();
    assert!(probes.contains("secret paths"), "{probes}");
}

#[test]
fn a_file_server_of_an_empty_directory_on_loopback_is_a_low_listing() {
    let port = util::non_ephemeral_port();
    let dir = shared_tempdir();
    let _server = ChildGuard::spawn(
        Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_for_port(port, crate::audit::START), "http.server did not start");
    let (_, json) = crate::audit::audit(port, &[]);
    let found = file_server(&json, port).unwrap_or_else(|| panic!("no file-server: {json:#}"));
    assert_eq!(found["severity"], "low", "{found:#}");
    let evidence = found["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("a directory listing (Python http.server) with no entries"),
        "{evidence}"
    );
    assert!(!evidence.contains("GET /."), "no secret answered: {evidence}");
    assert!(evidence.contains("on loopback"), "{evidence}");
    let fix = found["fix"].as_str().unwrap();
    assert!(fix.starts_with("stop it once done (`kill "), "{fix}");
}

/// The port alone said Jupyter (8888), which has no listing: the listing
/// at `/` decides, and the service is not named Jupyter, since neither the
/// page, the process nor Jupyter's API said so.
#[test]
fn a_listing_on_jupyters_port_is_a_file_server() {
    let Some(netns) = Netns::create() else { return };
    let dir = shared_tempdir();
    std::fs::write(dir.path().join("report.csv"), "a,b\n").unwrap();
    let _server = http_server_in(&netns, dir.path(), 8888);
    let json = audit_in(&netns, "8888").json();
    let found = finding(&json, 8888, "file-server");
    assert!(found["evidence"].as_str().unwrap().contains("with 1 entry: report.csv"), "{found:#}");
    assert!(found["service"].as_str().unwrap().starts_with("http ("), "{found:#}");
    for other in json["findings"].as_array().unwrap() {
        assert!(!other["service"].to_string().contains("jupyter"), "{other:#}");
    }
}
