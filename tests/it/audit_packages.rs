//! `outdated-package` against real dpkg and apt data built here: two tiny
//! listening services packaged twice with `dpkg-deb`, version 1.0-1 of each
//! installed with `dpkg` into a private database (`--admindir`), and a
//! `file:` repository offering 1.1-1 — one in a normal suite, one in a
//! `-security` suite and, as its twin, in the normal suite as well —
//! fetched with `apt-get update` into private lists. Upgrading each with
//! `dpkg` makes its finding go away.
//! porthole finds all of it through `APT_CONFIG`; the machine's own dpkg
//! database, sources and lists are never touched. The packaged files live
//! under `/opt/porthole-test-PID-*`, removed when the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::audit::{compile, require, shared_tempdir, start_listener, LISTENER_C};
use crate::util::{self, Output};

/// Removes the installed package files when the test ends.
struct InstalledFiles(Vec<PathBuf>);

impl Drop for InstalledFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// The first `program` on PATH.
fn on_path(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} on PATH"))
}

fn run_ok(command: &mut Command) -> Output {
    let output = util::run(command);
    assert_eq!(output.code, 0, "{command:?} failed: {output:?}");
    output
}

fn architecture() -> String {
    run_ok(Command::new("dpkg").arg("--print-architecture")).stdout.trim().to_string()
}

/// Builds `NAME_VERSION.deb` holding `/opt/NAME/server` (the listener).
fn build_deb(root: &Path, name: &str, version: &str, program: &Path, arch: &str) -> PathBuf {
    let tree = root.join(format!("build-{name}-{version}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join("opt").join(name)).unwrap();
    std::fs::copy(program, tree.join("opt").join(name).join("server")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: porthole tests <tests@porthole.invalid>\nDescription: listening test service\n"),
    )
    .unwrap();
    let deb = root.join(format!("{name}_{version}_{arch}.deb"));
    run_ok(Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&tree).arg(&deb));
    deb
}

/// Adds `deb` to suite `suite` of the repository at `repo`, with a Release
/// file apt accepts (`[trusted=yes]` sources skip the signature).
fn publish(repo: &Path, suite: &str, debs: &[&Path], arch: &str) {
    let pool = repo.join("pool").join(suite);
    std::fs::create_dir_all(&pool).unwrap();
    for deb in debs {
        std::fs::copy(deb, pool.join(deb.file_name().unwrap())).unwrap();
    }
    let index = run_ok(
        Command::new("dpkg-scanpackages")
            .args(["-m", &format!("pool/{suite}"), "/dev/null"])
            .current_dir(repo),
    )
    .stdout;
    let relative = format!("main/binary-{arch}/Packages");
    let dist = repo.join("dists").join(suite);
    std::fs::create_dir_all(dist.join(format!("main/binary-{arch}"))).unwrap();
    std::fs::write(dist.join(&relative), &index).unwrap();
    let sum = run_ok(Command::new("sha256sum").arg(dist.join(&relative))).stdout;
    let sum = sum.split_whitespace().next().unwrap().to_string();
    let date = run_ok(Command::new("date").args(["-Ru"])).stdout.trim().to_string();
    std::fs::write(
        dist.join("Release"),
        format!(
            "Origin: porthole-test\nLabel: porthole-test\nSuite: {suite}\nCodename: {suite}\nDate: {date}\nArchitectures: {arch}\nComponents: main\nSHA256:\n {sum} {} {relative}\n",
            index.len()
        ),
    )
    .unwrap();
}

/// A private apt configuration: these sources, these lists, this dpkg
/// database.
fn apt_config(root: &Path, name: &str, sources: &str, lists: &Path, admindir: &Path) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("sources.list.d")).unwrap();
    std::fs::create_dir_all(lists.join("partial")).unwrap();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::write(dir.join("sources.list"), sources).unwrap();
    let config = dir.join("apt.conf");
    std::fs::write(
        &config,
        format!(
            "Dir::Etc::sourcelist \"{}\";\nDir::Etc::sourceparts \"{}\";\nDir::State::lists \"{}\";\nDir::State::status \"{}\";\nDir::Cache \"{}\";\n",
            dir.join("sources.list").display(),
            dir.join("sources.list.d").display(),
            lists.display(),
            admindir.join("status").display(),
            dir.join("cache").display(),
        ),
    )
    .unwrap();
    config
}

fn dpkg_install(admindir: &Path, deb: &Path) {
    run_ok(
        Command::new("dpkg").arg(format!("--admindir={}", admindir.display())).arg("-i").arg(deb),
    );
}

fn audit_with(config: &Path, ports: &str) -> Value {
    let mut command = util::porthole();
    command.env("APT_CONFIG", config).args(["audit", "--port", ports, "--json"]);
    let output = util::run(&mut command);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output.json()
}

fn package_finding(json: &Value, port: u16) -> Option<&Value> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "outdated-package" && f["port"] == port)
}

#[test]
fn pending_updates_from_a_private_repository() {
    if !require("dpkg-deb")
        || !require("dpkg-scanpackages")
        || !require("apt-get")
        || !require("gcc")
    {
        return;
    }
    assert!(util::is_root(), "installing into /opt with dpkg needs root");
    let root = shared_tempdir();
    let root = root.path();
    let arch = architecture();
    let program = compile(root, "listener", LISTENER_C, &[]);
    let normal = format!("porthole-test-{}-normal", std::process::id());
    let security = format!("porthole-test-{}-security", std::process::id());
    let _files = InstalledFiles(vec![
        PathBuf::from("/opt").join(&normal),
        PathBuf::from("/opt").join(&security),
    ]);

    let admindir = root.join("dpkg");
    for dir in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admindir.join(dir)).unwrap();
    }
    std::fs::write(admindir.join("status"), "").unwrap();
    let normal_v1 = build_deb(root, &normal, "1.0-1", &program, &arch);
    let normal_v2 = build_deb(root, &normal, "1.1-1", &program, &arch);
    let security_v1 = build_deb(root, &security, "1.0-1", &program, &arch);
    let security_v2 = build_deb(root, &security, "1.1-1", &program, &arch);
    dpkg_install(&admindir, &normal_v1);
    dpkg_install(&admindir, &security_v1);

    let repo = root.join("repo");
    // The security update has a twin: the same 1.1-1 in the normal suite
    // too, as Debian's point releases carry security fixes. It is still a
    // security update and ranks above the normal one.
    publish(&repo, "stable", &[&normal_v2, &security_v2], &arch);
    publish(&repo, "stable-security", &[&security_v2], &arch);
    let sources = format!(
        "deb [trusted=yes] file:{0} stable main\ndeb [trusted=yes] file:{0} stable-security main\n",
        repo.display()
    );
    let lists = root.join("lists");
    let config = apt_config(root, "apt", &sources, &lists, &admindir);
    run_ok(Command::new("apt-get").env("APT_CONFIG", &config).args(["-q", "update"]));

    let (normal_server, normal_port) =
        start_listener(&PathBuf::from("/opt").join(&normal).join("server"), None);
    let (security_server, security_port) =
        start_listener(&PathBuf::from("/opt").join(&security).join("server"), None);
    let ports = format!("{normal_port},{security_port}");

    let json = audit_with(&config, &ports);
    assert_eq!(json["packages"]["checked"], true, "{json:#}");
    assert_eq!(json["packages"]["note"], Value::Null, "fresh lists: {json:#}");
    assert!(json["packages"]["lists_age_seconds"].as_u64().unwrap() < 3600);

    let low = package_finding(&json, normal_port).unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(low["severity"], "low", "{low}");
    assert!(
        low["evidence"].as_str().unwrap().starts_with(&format!(
            "{normal} 1.0-1 is installed, 1.1-1 is available from stable; package lists"
        )),
        "{low}"
    );
    assert_eq!(
        low["fix"].as_str().unwrap(),
        format!(
            "`apt-get install --only-upgrade {normal}`, then restart pid {} (/opt/{normal}/server)",
            normal_server.pid()
        )
    );
    let medium = package_finding(&json, security_port).unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(medium["severity"], "medium", "a security update ranks higher: {medium}");
    assert!(
        medium["evidence"].as_str().unwrap().starts_with(&format!(
            "{security} 1.0-1 is installed, 1.1-1 is available from stable-security (security update)"
        )),
        "{medium}"
    );
    assert_eq!(medium["pid"], security_server.pid());
    let order: Vec<u64> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "outdated-package")
        .map(|f| f["port"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [u64::from(security_port), u64::from(normal_port)], "security first");

    // --skip turns the check off entirely.
    let mut command = util::porthole();
    command.env("APT_CONFIG", &config).args([
        "audit",
        "--port",
        &ports,
        "--json",
        "--skip",
        "outdated-package",
    ]);
    let skipped = util::run(&mut command).json();
    assert!(package_finding(&skipped, normal_port).is_none());
    assert_eq!(skipped["packages"]["checked"], false);

    // Upgrading fixes the package; the running process now needs the
    // restart that outdated-binary asks for.
    dpkg_install(&admindir, &normal_v2);
    let json = audit_with(&config, &ports);
    assert!(package_finding(&json, normal_port).is_none(), "{json:#}");
    assert!(package_finding(&json, security_port).is_some(), "{json:#}");
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "outdated-binary" && f["port"] == normal_port),
        "{json:#}"
    );

    // Stale lists are called stale…
    let month_ago = "30 days ago";
    for entry in std::fs::read_dir(&lists).unwrap().flatten() {
        if entry.path().is_file() {
            run_ok(Command::new("touch").args(["-d", month_ago]).arg(entry.path()));
        }
    }
    let json = audit_with(&config, &ports);
    let note = json["packages"]["note"].as_str().unwrap_or_else(|| panic!("{json:#}"));
    assert!(note.starts_with("package lists are 30 days old"), "{note}");
    assert!(package_finding(&json, security_port).unwrap()["evidence"]
        .as_str()
        .unwrap()
        .ends_with("package lists 30 days old"));

    // …and absent lists are said to be absent, with nothing to compare.
    let empty = apt_config(root, "apt-empty", "", &root.join("no-lists"), &admindir);
    let json = audit_with(&empty, &ports);
    assert_eq!(
        json["packages"]["note"], "no package lists: run `apt-get update` to compare versions",
        "{json:#}"
    );
    assert!(package_finding(&json, security_port).is_none(), "{json:#}");

    // Upgrading the security twin fixes it too: with the lists back, no
    // package is outdated any more.
    dpkg_install(&admindir, &security_v2);
    let json = audit_with(&config, &ports);
    assert_eq!(json["packages"]["checked"], true, "{json:#}");
    assert!(package_finding(&json, normal_port).is_none(), "{json:#}");
    assert!(package_finding(&json, security_port).is_none(), "{json:#}");
    drop((normal_server, security_server));
}

/// A Node.js that no package owns, as unpacked from a tarball: its stated
/// version is judged against the end-of-life table. The copy belongs to
/// `nobody`, so porthole (root) asks it for `--version` as `nobody`.
#[test]
fn unpackaged_node_is_judged_by_its_end_of_life() {
    if !require("node") {
        return;
    }
    assert!(util::is_root(), "chown to nobody needs root");
    let dir = shared_tempdir();
    let node = dir.path().join("node");
    std::fs::copy(on_path("node"), &node).unwrap();
    crate::audit::chown(&node, "nobody");
    let version = run_ok(Command::new(&node).arg("--version")).stdout.trim().to_string();
    let major: u32 = version.trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
    let (mut server, mut stdout) = {
        let mut command = Command::new(&node);
        command.args([
            "-e",
            "const s=require('net').createServer(c=>c.end()).listen(0,'127.0.0.1',()=>console.log(s.address().port))",
        ]);
        command.stdout(std::process::Stdio::piped());
        let mut child = util::ChildGuard::spawn(&mut command);
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        (child, stdout)
    };
    let port: u16 = util::wait_for_line(&mut stdout).parse().unwrap();
    let output = util::porthole_run(&["audit", "--port", &port.to_string(), "--json"]);
    let json = output.json();
    let runtime = json["findings"].as_array().unwrap().iter().find(|f| {
        f["rule"] == "outdated-package"
            && f["evidence"].as_str().unwrap().starts_with(&format!(
                "node {} at {} belongs to no package",
                version.trim_start_matches('v'),
                node.display()
            ))
    });
    // Node.js 20 reached its end of life on 2026-04-30; every older major
    // before it.
    if major <= 20 {
        let runtime = runtime.unwrap_or_else(|| panic!("{json:#}"));
        assert_eq!(runtime["severity"], "medium");
        assert_eq!(runtime["pid"], server.pid());
        assert!(runtime["evidence"]
            .as_str()
            .unwrap()
            .contains("https://github.com/nodejs/Release"));
        assert!(runtime["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("replace {} with a supported node release", node.display())));
    } else {
        assert!(runtime.is_none(), "{json:#}");
    }
    let _ = server.0.kill();
}
