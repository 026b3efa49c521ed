//! The Debian package end to end: `scripts/deb.sh` builds it, `dpkg -i`
//! installs it into this machine, and the installed binary, man page,
//! completions and systemd unit are checked where the system looks for them
//! (`man`, each shell's own completion loader, `systemd-analyze`). Then
//! `dpkg -r` must leave nothing behind: no file, no package state.
//!
//! Ignored by default: it builds the dist profile (whole-program LTO, minutes
//! on two cores) and changes the machine's package database. `scripts/test.sh`
//! runs it as its own step, as root:
//! `cargo test --all-features --test it package:: -- --ignored`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{is_root, run, scrub, skip, Output};

/// The Debian package name.
const PACKAGE: &str = "porthole";
/// The monitor's unit, shipped disabled.
const UNIT: &str = "porthole-monitor.service";
/// Where the package puts the binary.
const BINARY: &str = "/usr/bin/porthole";

#[test]
#[ignore = "builds the dist profile and installs the .deb into this machine; \
            scripts/test.sh runs it as root with --ignored"]
fn deb_installs_a_working_porthole_and_dpkg_r_leaves_nothing() {
    if !is_root() {
        skip("dpkg -i needs root");
        return;
    }
    let status = package_status();
    assert!(
        status.is_empty() || status == "not-installed",
        "the {PACKAGE} package is already on this machine ({status}); this test installs and \
         removes it, so remove it first: dpkg -P {PACKAGE}"
    );
    let state_existed = Path::new("/var/lib/porthole").exists();

    let deb = build_deb();
    check_control(&deb);
    check_maintainer_scripts(&deb);

    let installed = Installed::install(&deb);
    let files = installed.files();
    for expected in [
        BINARY,
        "/usr/share/man/man1/porthole.1.gz",
        "/usr/share/bash-completion/completions/porthole",
        "/usr/share/zsh/vendor-completions/_porthole",
        "/usr/share/fish/vendor_completions.d/porthole.fish",
        "/usr/lib/systemd/system/porthole-monitor.service",
        "/usr/share/doc/porthole/copyright",
    ] {
        assert!(
            files.iter().any(|file| file == Path::new(expected)),
            "not in the package: {expected}"
        );
        assert!(Path::new(expected).exists(), "not installed: {expected}");
    }
    check_version();
    check_the_binary_works();
    check_man_page();
    check_bash_completion();
    check_zsh_completion();
    check_fish_completion();
    check_unit();

    installed.remove();
    check_nothing_left(&files);
    if !state_existed {
        assert!(!Path::new("/var/lib/porthole").exists(), "/var/lib/porthole was created");
    }
}

/// Runs `scripts/deb.sh` and returns the path of the package it built.
fn build_deb() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(root.join("scripts/deb.sh"));
    // The build inside this test must not inherit what cargo set for the
    // test binary: build scripts of dependencies watch some of these, and a
    // different environment than `scripts/deb.sh` run from a shell would
    // rebuild them and the LTO binary.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let set_by_cargo = name == "CARGO"
            || name == "OUT_DIR"
            || name == "LD_LIBRARY_PATH"
            || (name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR");
        if set_by_cargo {
            command.env_remove(name);
        }
    }
    // deb.sh takes the maintainer from the environment or git's identity;
    // a fresh machine (or HOME unset) has neither, and the package is what
    // is tested here, not whose name it carries.
    if std::env::var_os("PORTHOLE_DEB_MAINTAINER").is_none() {
        command.env("PORTHOLE_DEB_MAINTAINER", TEST_MAINTAINER);
    }
    let output = run(command.current_dir(root));
    assert_eq!(output.code, 0, "scripts/deb.sh failed:\n{}", output.stderr);
    let path = output.stdout.lines().last().expect("deb.sh prints the package path");
    let path = root.join(path.trim());
    assert!(path.is_file(), "no package at {}", path.display());
    path
}

/// The maintainer of the package the test builds, unless
/// PORTHOLE_DEB_MAINTAINER names one.
const TEST_MAINTAINER: &str = "porthole test build <root@localhost>";

/// The control file: Depends names every package `dpkg-shlibdeps` finds for
/// the binary's shared libraries.
fn check_control(deb: &Path) {
    let field = |name: &str| {
        ok(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name)).stdout.trim().to_string()
    };
    assert_eq!(field("Package"), PACKAGE);
    let maintainer = std::env::var("PORTHOLE_DEB_MAINTAINER");
    assert_eq!(field("Maintainer"), maintainer.as_deref().unwrap_or(TEST_MAINTAINER));
    let depends = field("Depends");
    let needed = shared_library_packages(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/porthole"),
    );
    assert!(!needed.is_empty(), "dpkg-shlibdeps found no libraries");
    for package in needed {
        assert!(
            depends.split(',').any(|entry| entry.split_whitespace().next() == Some(&package)),
            "Depends lacks {package} (needed by the binary): {depends:?}"
        );
    }
    // A versioned glibc floor, from the symbols the binary uses.
    assert!(depends.contains("libc6 (>= 2."), "Depends: {depends:?}");
}

/// The packages providing `binary`'s shared libraries, as `dpkg-shlibdeps`
/// (which needs a `debian/control` to run in) names them.
fn shared_library_packages(binary: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("debian")).expect("debian/");
    std::fs::write(
        dir.path().join("debian/control"),
        "Source: x\n\nPackage: x\nArchitecture: any\n",
    )
    .expect("debian/control");
    let output = ok(Command::new("dpkg-shlibdeps").arg("-O").arg(binary).current_dir(dir.path()));
    let line = output.stdout.trim().strip_prefix("shlibs:Depends=").expect("shlibs:Depends=…");
    line.split(',').filter_map(|entry| entry.split_whitespace().next()).map(String::from).collect()
}

/// The package itself never enables or starts the monitor's unit, and has
/// no postrm (which would keep the package in `config-files` state after
/// `dpkg -r`).
fn check_maintainer_scripts(deb: &Path) {
    let dir = tempfile::tempdir().expect("temporary directory");
    ok(Command::new("dpkg-deb").arg("--control").arg(deb).arg(dir.path()));
    assert!(!dir.path().join("postrm").exists(), "the package has a postrm");
    for script in ["preinst", "postinst", "prerm"] {
        let Ok(text) = std::fs::read_to_string(dir.path().join(script)) else { continue };
        for line in text.lines().filter(|line| !line.trim_start().starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            for action in ["start", "restart", "enable", "reenable"] {
                assert!(!words.contains(&action), "{script} may {action} the unit: {line}");
            }
        }
    }
}

/// `porthole --version` names the commit the package was built from.
fn check_version() {
    let output = ok(Command::new(BINARY).arg("--version"));
    let version = output.stdout.trim();
    let expected = format!("porthole {}", env!("CARGO_PKG_VERSION"));
    match expected_revision() {
        Some(revision) => {
            let with_revision = format!("{expected} (rev {revision}");
            assert!(version.starts_with(&with_revision), "{version:?}, expected {with_revision}…");
        }
        None => assert_eq!(version, expected),
    }
}

/// The revision build.rs records for this checkout, as it computes it:
/// the first 12 digits of HEAD when the package directory is the top of a
/// git checkout git can read, else nothing (or what the packager set).
fn expected_revision() -> Option<String> {
    if let Ok(revision) = std::env::var("PORTHOLE_BUILD_REVISION") {
        return Some(revision).filter(|revision| !revision.is_empty());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let output = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "HEAD"])?;
    Some(commit[..12].to_string())
}

/// The installed binary finds a listener this test holds, with this
/// process as its owner.
fn check_the_binary_works() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let mut command = Command::new(BINARY);
    scrub(&mut command);
    let output = ok(command.args(["ls", "--tcp", "--port", &port, "--json"]));
    let sockets: serde_json::Value = serde_json::from_str(&output.stdout).expect("JSON");
    let pids: Vec<u64> = sockets
        .as_array()
        .expect("an array of sockets")
        .iter()
        .flat_map(|socket| socket["processes"].as_array().cloned().unwrap_or_default())
        .filter_map(|process| process["pid"].as_u64())
        .collect();
    assert!(
        pids.contains(&u64::from(std::process::id())),
        "installed porthole does not see this test's listener on {port}:\n{}",
        output.stdout
    );
}

/// `man porthole` finds the page and renders it (one page, every command).
fn check_man_page() {
    let location = ok(Command::new("man").args(["-w", "porthole"])).stdout;
    assert_eq!(location.trim(), "/usr/share/man/man1/porthole.1.gz");
    let page =
        ok(Command::new("man").args(["-P", "cat", "porthole"]).env("MANWIDTH", "100")).stdout;
    for heading in ["NAME", "SYNOPSIS", "PORTHOLE LS", "PORTHOLE KILL", "PORTHOLE CHECK"] {
        assert!(page.contains(heading), "man porthole has no {heading}:\n{page}");
    }
}

/// bash-completion's loader finds the script by command name, and it
/// completes a subcommand.
fn check_bash_completion() {
    let script = r#"
        source /usr/share/bash-completion/bash_completion
        __load_completion porthole || { echo "no completion for porthole" >&2; exit 3; }
        function=$(complete -p porthole | sed -E 's/.* -F ([^ ]+) .*/\1/')
        COMP_WORDS=(porthole ki)
        COMP_CWORD=1
        COMP_LINE="porthole ki"
        COMP_POINT=${#COMP_LINE}
        "$function" porthole ki porthole
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = ok(Command::new("bash").args(["--norc", "--noprofile", "-c", script]));
    assert!(
        output.stdout.lines().any(|line| line.trim() == "kill"),
        "bash completes `porthole ki` to {:?}",
        output.stdout
    );
}

/// zsh's compinit maps `porthole` to the installed `_porthole` function.
fn check_zsh_completion() {
    let dump = tempfile::NamedTempFile::new().expect("temporary file");
    let script = format!(
        "autoload -U compinit && compinit -u -d {} && print -r -- ${{_comps[porthole]}}",
        dump.path().display()
    );
    let home = tempfile::tempdir().expect("temporary directory");
    let output = ok(Command::new("zsh").args(["-c", &script]).env("ZDOTDIR", home.path()));
    assert_eq!(output.stdout.trim(), "_porthole", "zsh: {}", output.stderr);
}

/// fish loads the vendor completion on its own and completes a subcommand.
fn check_fish_completion() {
    let home = tempfile::tempdir().expect("temporary directory");
    // Not --no-config: fish then leaves its completion path empty. The empty
    // HOME and XDG directories keep any user configuration out.
    let output = ok(Command::new("fish")
        .args(["-c", "complete -C 'porthole ki'"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("XDG_DATA_HOME", home.path()));
    assert!(
        output.stdout.lines().any(|line| line.split('\t').next() == Some("kill")),
        "fish completes `porthole ki` to {:?}",
        output.stdout
    );
}

/// The monitor's unit: where systemd looks, valid, running the installed
/// binary, disabled. Whether `porthole monitor` exists in this build does
/// not matter: only the unit file is checked.
fn check_unit() {
    let path = Path::new("/usr/lib/systemd/system").join(UNIT);
    let text = std::fs::read_to_string(&path).expect("unit file");
    for line in [
        "ExecStart=/usr/bin/porthole monitor",
        "StateDirectory=porthole",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.lines().any(|l| l == line), "{UNIT} lacks {line}");
    }
    // systemd ignores misspelt directives with a warning: fail on any.
    let verify = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    assert_eq!(verify.code, 0, "systemd-analyze verify {UNIT}:\n{}", verify.stderr);
    assert!(verify.stderr.trim().is_empty(), "systemd-analyze verify {UNIT}:\n{}", verify.stderr);
    // Works without a running systemd: it reads the unit and its links.
    let enabled = run(Command::new("systemctl").args(["is-enabled", UNIT]));
    assert_eq!(enabled.stdout.trim(), "disabled", "{UNIT}: {}", enabled.stderr);
}

/// After `dpkg -r`: no package state, no file of the package, and its
/// directories gone unless another package owns them.
fn check_nothing_left(files: &[PathBuf]) {
    let status = package_status();
    assert!(
        status.is_empty() || status == "not-installed",
        "after dpkg -r the package is still known to dpkg: {status}"
    );
    for path in files {
        let Ok(metadata) = path.symlink_metadata() else { continue };
        assert!(metadata.is_dir(), "left behind: {}", path.display());
        let owner = run(Command::new("dpkg-query").arg("--search").arg(path));
        assert_eq!(owner.code, 0, "directory left behind, owned by no package: {}", path.display());
    }
    let which = run(Command::new("sh").args(["-c", "command -v porthole"]));
    assert_ne!(which.code, 0, "porthole still on PATH: {}", which.stdout);
}

/// The package's status in dpkg's database (`installed`, `config-files`,
/// `not-installed`…); empty when dpkg has never heard of it.
fn package_status() -> String {
    let output = run(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", PACKAGE]));
    output.stdout.trim().to_string()
}

/// The installed package; purged on drop if a failed check left it there.
struct Installed {
    removed: bool,
}

impl Installed {
    fn install(deb: &Path) -> Self {
        dpkg(&["-i", deb.to_str().expect("UTF-8 path")]);
        Installed { removed: false }
    }

    /// Every path the package installed (`dpkg -L`), without `/.`.
    fn files(&self) -> Vec<PathBuf> {
        ok(Command::new("dpkg").args(["-L", PACKAGE]))
            .stdout
            .lines()
            .filter(|line| !line.is_empty() && *line != "/.")
            .map(PathBuf::from)
            .collect()
    }

    fn remove(mut self) {
        self.removed = true;
        dpkg(&["-r", PACKAGE]);
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.removed {
            let _ = Command::new("dpkg").args(["-P", PACKAGE]).status();
        }
    }
}

/// Runs dpkg, waiting (bounded) while another apt or dpkg holds its lock:
/// other work on this machine may be installing packages.
fn dpkg(args: &[&str]) {
    let start = Instant::now();
    loop {
        let output = run(Command::new("dpkg").args(args));
        if output.code == 0 {
            return;
        }
        let locked = output.stderr.contains("lock");
        if !locked || start.elapsed() > Duration::from_secs(300) {
            panic!(
                "dpkg {} failed ({}):\n{}{}",
                args.join(" "),
                output.code,
                output.stdout,
                output.stderr
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Runs a command that must succeed; its output.
fn ok(command: &mut Command) -> Output {
    let output = run(command);
    assert_eq!(
        output.code, 0,
        "{command:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.code, output.stdout, output.stderr
    );
    output
}
