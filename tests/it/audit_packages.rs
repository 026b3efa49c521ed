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
//!
//! The rpm path gets the same test: rpms built with `rpmbuild`, 1.0-1
//! installed into a private rpm database (Debian's rpm keeps it in
//! `~/.rpmdb`, so `HOME` moves it), 1.1-1 in a `file:` repository made
//! with `createrepo_c` with a security advisory for one of them, fetched
//! with `dnf makecache` into a private cache. porthole runs in a private
//! mount namespace whose `/etc/dnf` is the test's configuration.

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
        .find(|f| f["rule"] == "outdated-package" && f["local_port"] == port)
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
        .map(|f| f["local_port"].as_u64().unwrap())
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
            .any(|f| f["rule"] == "outdated-binary" && f["local_port"] == normal_port),
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

// ------------------------------------------------------------------ rpm

/// Builds `NAME-VERSION-1.ARCH.rpm` holding `/opt/NAME/server` (the
/// listener) with `rpmbuild`, in a private top directory. No debug package
/// and no build-id links: installing those would put files under
/// `/usr/lib/.build-id` on this machine.
fn build_rpm(root: &Path, home: &Path, name: &str, version: &str, program: &Path) -> PathBuf {
    let top = root.join(format!("rpmbuild-{name}-{version}"));
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    let spec = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: listening test service\nLicense: MIT\n\
             %define debug_package %{{nil}}\n%define __os_install_post %{{nil}}\n\
             %define _build_id_links none\n\
             %description\nlistening test service\n\
             %install\nmkdir -p %{{buildroot}}/opt/{name}\ncp {} %{{buildroot}}/opt/{name}/server\n\
             %files\n/opt/{name}/server\n",
            program.display()
        ),
    )
    .unwrap();
    run_ok(
        Command::new("rpmbuild")
            .env("HOME", home)
            .args(["--quiet", "-bb", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg(&spec),
    );
    let built = top.join("RPMS");
    let arch_dir = std::fs::read_dir(&built).unwrap().flatten().next().expect("an RPMS/ARCH dir");
    let rpm = std::fs::read_dir(arch_dir.path()).unwrap().flatten().next().expect("a built rpm");
    let target = root.join(rpm.file_name());
    std::fs::copy(rpm.path(), &target).unwrap();
    target
}

/// `rpm` on the private database: Debian's rpm keeps it in `~/.rpmdb`.
fn rpm(home: &Path, args: &[&str], package: &Path) {
    run_ok(Command::new("rpm").env("HOME", home).args(args).arg(package));
}

/// An advisory of type `security` for `name` 1.1-1, as Fedora's
/// updateinfo.xml carries them.
fn updateinfo(name: &str, arch: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="tests@porthole.invalid" status="stable" type="security" version="1.0">
    <id>PORTHOLE-2026-0001</id>
    <title>{name} security update</title>
    <issued date="2026-11-01 00:00:00"/>
    <severity>Important</severity>
    <description>listening test service security update</description>
    <pkglist>
      <collection short="porthole-test">
        <name>porthole test</name>
        <package name="{name}" version="1.1" release="1" epoch="0" arch="{arch}">
          <filename>{name}-1.1-1.{arch}.rpm</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
"#
    )
}

/// `porthole audit` as root sees a machine whose `/etc/dnf` is the test's
/// (a bind mount in a private mount namespace, so the machine's own dnf
/// configuration is never read or changed), whose rpm database is the
/// test's (`HOME`) and whose apt has no lists (`APT_CONFIG`): only the
/// rpm path can report anything.
fn audit_rpm(dnf: &Path, home: &Path, apt: &Path, ports: &str) -> Value {
    let mut command = Command::new("unshare");
    util::scrub(&mut command);
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/dnf && exec \"$@\"")
        .arg(dnf)
        .arg(util::binary())
        .args(["audit", "--port", ports, "--json"])
        .env("HOME", home)
        .env("APT_CONFIG", apt);
    let output = util::run(&mut command);
    assert!(output.code == 0 || output.code == 1, "audit failed: {output:?}");
    output.json()
}

#[test]
fn pending_updates_from_a_private_rpm_repository() {
    if !require("rpmbuild")
        || !require("rpm")
        || !require("dnf")
        || !require("createrepo_c")
        || !require("modifyrepo_c")
        || !require("unshare")
        || !require("gcc")
    {
        return;
    }
    assert!(util::is_root(), "installing into /opt and mounting need root");
    assert!(Path::new("/etc/dnf").is_dir(), "dnf's configuration directory");
    let root = shared_tempdir();
    let root = root.path();
    let program = compile(root, "listener", LISTENER_C, &[]);
    let normal = format!("porthole-test-{}-rpm-normal", std::process::id());
    let security = format!("porthole-test-{}-rpm-security", std::process::id());
    let _files = InstalledFiles(vec![
        PathBuf::from("/opt").join(&normal),
        PathBuf::from("/opt").join(&security),
    ]);

    // v1 of each installed into a private rpm database.
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    run_ok(Command::new("rpm").env("HOME", &home).arg("--initdb"));
    let normal_v1 = build_rpm(root, &home, &normal, "1.0", &program);
    let normal_v2 = build_rpm(root, &home, &normal, "1.1", &program);
    let security_v1 = build_rpm(root, &home, &security, "1.0", &program);
    let security_v2 = build_rpm(root, &home, &security, "1.1", &program);
    rpm(&home, &["-i", "--nodeps"], &normal_v1);
    rpm(&home, &["-i", "--nodeps"], &security_v1);
    let arch = run_ok(Command::new("rpm").env("HOME", &home).args(["--eval", "%{_arch}"]))
        .stdout
        .trim()
        .to_string();

    // v2 in a file: repository; a security advisory for one of them.
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for package in [&normal_v2, &security_v2] {
        std::fs::copy(package, repo.join(package.file_name().unwrap())).unwrap();
    }
    run_ok(Command::new("createrepo_c").arg("-q").arg(&repo));
    let advisory = root.join("updateinfo.xml");
    std::fs::write(&advisory, updateinfo(&security, &arch)).unwrap();
    run_ok(
        Command::new("modifyrepo_c")
            .args(["--mdtype=updateinfo"])
            .arg(&advisory)
            .arg(repo.join("repodata")),
    );

    // A private dnf configuration: this repository only, caches here.
    let dnf = root.join("dnf");
    for dir in ["repos.d", "cache", "persist", "log"] {
        std::fs::create_dir_all(dnf.join(dir)).unwrap();
    }
    std::fs::write(
        dnf.join("dnf.conf"),
        format!(
            "[main]\ngpgcheck=False\nreposdir={0}/repos.d\ncachedir={0}/cache\npersistdir={0}/persist\nlogdir={0}/log\n",
            dnf.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dnf.join("repos.d/porthole-test.repo"),
        format!(
            "[porthole-test]\nname=porthole test\nbaseurl=file://{}\ngpgcheck=0\n",
            repo.display()
        ),
    )
    .unwrap();
    let makecache = || {
        run_ok(
            Command::new("dnf")
                .env("HOME", &home)
                .arg("-c")
                .arg(dnf.join("dnf.conf"))
                .args(["-q", "makecache"]),
        )
    };
    makecache();
    // apt without lists: the machine's Debian packages report nothing.
    let apt = apt_config(root, "apt", "", &root.join("apt-lists"), Path::new("/var/lib/dpkg"));

    let (normal_server, normal_port) =
        start_listener(&PathBuf::from("/opt").join(&normal).join("server"), None);
    let (security_server, security_port) =
        start_listener(&PathBuf::from("/opt").join(&security).join("server"), None);
    let ports = format!("{normal_port},{security_port}");

    let json = audit_rpm(&dnf, &home, &apt, &ports);
    assert_eq!(json["packages"]["checked"], true, "{json:#}");
    assert_eq!(
        json["packages"]["dnf_cache_directory"],
        dnf.join("cache").display().to_string(),
        "{json:#}"
    );
    assert!(json["packages"]["dnf_cache_age_seconds"].as_u64().unwrap() < 3600, "{json:#}");
    assert_eq!(
        json["packages"]["note"], "no package lists: run `apt-get update` to compare versions",
        "a fresh dnf cache needs no note: {json:#}"
    );

    let low = package_finding(&json, normal_port).unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(low["severity"], "low", "{low}");
    assert!(
        low["evidence"].as_str().unwrap().starts_with(&format!(
            "{normal} 1.0-1 is installed, 1.1-1 is available from porthole-test; dnf metadata cache"
        )),
        "{low}"
    );
    assert_eq!(
        low["fix"].as_str().unwrap(),
        format!(
            "`dnf upgrade {normal}`, then restart pid {} (/opt/{normal}/server)",
            normal_server.pid()
        )
    );
    let medium = package_finding(&json, security_port).unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(medium["severity"], "medium", "the advisory is of type security: {medium}");
    assert!(
        medium["evidence"].as_str().unwrap().starts_with(&format!(
            "{security} 1.0-1 is installed, 1.1-1 is available from porthole-test (security update)"
        )),
        "{medium}"
    );
    assert_eq!(medium["pid"], security_server.pid());

    // Upgrading fixes the package (the process now runs a replaced binary).
    rpm(&home, &["-U", "--nodeps"], &normal_v2);
    let json = audit_rpm(&dnf, &home, &apt, &ports);
    assert!(package_finding(&json, normal_port).is_none(), "{json:#}");
    assert!(package_finding(&json, security_port).is_some(), "{json:#}");

    // A stale cache is called stale…
    for entry in std::fs::read_dir(dnf.join("cache")).unwrap().flatten() {
        let repomd = entry.path().join("repodata/repomd.xml");
        if repomd.is_file() {
            run_ok(Command::new("touch").args(["-d", "30 days ago"]).arg(&repomd));
        }
    }
    let json = audit_rpm(&dnf, &home, &apt, &ports);
    let note = json["packages"]["note"].as_str().unwrap_or_else(|| panic!("{json:#}"));
    assert!(
        note.ends_with(
            "dnf metadata cache is 30 days old: run `dnf makecache` for current versions"
        ),
        "{note}"
    );
    assert!(package_finding(&json, security_port).unwrap()["evidence"]
        .as_str()
        .unwrap()
        .ends_with("dnf metadata cache 30 days old"));

    // …and a missing one is said to be missing, with nothing compared.
    std::fs::remove_dir_all(dnf.join("cache")).unwrap();
    std::fs::create_dir_all(dnf.join("cache")).unwrap();
    let json = audit_rpm(&dnf, &home, &apt, &ports);
    assert!(
        json["packages"]["note"]
            .as_str()
            .unwrap()
            .ends_with("no dnf metadata cache: run `dnf makecache` to compare rpm versions"),
        "{json:#}"
    );
    assert!(package_finding(&json, security_port).is_none(), "{json:#}");

    // With the cache back and the security update installed, nothing is
    // outdated any more.
    makecache();
    rpm(&home, &["-U", "--nodeps"], &security_v2);
    let json = audit_rpm(&dnf, &home, &apt, &ports);
    assert!(package_finding(&json, normal_port).is_none(), "{json:#}");
    assert!(package_finding(&json, security_port).is_none(), "{json:#}");
    drop((normal_server, security_server));
}
