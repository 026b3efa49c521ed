//! `porthole check` against BPF filters that no firewall listing shows: a
//! program on a cgroup's `connect4` or `bind4` hook that refuses the client
//! (EPERM), one on the `ingress` hook of the server's cgroup that drops the
//! SYN (the client times out), and an XDP program or a tc BPF filter on
//! `lo`. Real programs,
//! compiled with clang, loaded and attached with bpftool or `ip link` (or
//! through a BPF link, as libbpf-based agents attach them) to a cgroup the
//! test makes or to `lo` of a private network namespace; each test runs the
//! fix porthole prints and checks that it repairs the connection.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::{
    binary, cause, cause_ids, installed, is_root, python_via, scrub, skip, unique_port,
    wait_for_line, ChildGuard, Netns,
};

static CGROUP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Root, clang and bpftool are here; otherwise the skip is recorded.
fn bpf_tools_ready() -> bool {
    if !is_root() {
        skip("BPF programs need root");
        return false;
    }
    for program in ["clang", "bpftool"] {
        if !installed(program) {
            skip(&format!("{program} is not installed (scripts/setup.sh installs it)"));
            return false;
        }
    }
    true
}

/// Compiles a program named `refuse_all` in ELF section `section` that
/// refuses or drops everything: 0 means refuse (socket hooks), drop
/// (`cgroup_skb`) or abort, which drops too (XDP); for tc, 0 is
/// `TC_ACT_OK` and `TC_ACT_SHOT` (2) drops. Returns the build directory and
/// the object.
fn compile_refusing(section: &str) -> (tempfile::TempDir, PathBuf) {
    let verdict = if section == "tc" { 2 } else { 0 };
    let build = tempfile::tempdir().expect("temp dir");
    let source = build.path().join("refuse.bpf.c");
    // No headers: the program reads nothing from its context.
    std::fs::write(
        &source,
        format!(
            "__attribute__((section(\"{section}\"), used)) int refuse_all(void *ctx) {{ return {verdict}; }}\n\
             char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n"
        ),
    )
    .expect("source written");
    let object = build.path().join("refuse.bpf.o");
    let built = Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .output()
        .expect("clang runs");
    assert!(built.status.success(), "clang: {}", String::from_utf8_lossy(&built.stderr));
    (build, object)
}

/// A cgroup with one BPF program attached to one hook; detached, unpinned
/// and removed on drop (after the processes in it are gone).
struct PolicyCgroup {
    directory: PathBuf,
    pin: PathBuf,
    hook: &'static str,
    _build: tempfile::TempDir,
}

/// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup` or, on a hybrid
/// machine, `/sys/fs/cgroup/unified`).
fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        if filesystem.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        mount.split_whitespace().nth(4).map(PathBuf::from)
    })
}

fn run_ok(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().expect("program runs");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PolicyCgroup {
    /// A program that answers 0 (refuse/drop) for everything, attached to
    /// `hook` (`connect4`, `bind4`, `ingress`) of a new cgroup; `None` (the
    /// skip recorded) when this machine cannot.
    fn refusing(hook: &'static str) -> Option<Self> {
        let cgroup = Self::loaded(hook)?;
        run_ok(
            "bpftool",
            &[
                "cgroup",
                "attach",
                cgroup.path(),
                hook,
                "pinned",
                cgroup.pin.to_str().expect("utf-8"),
                "multi",
            ],
        );
        Some(cgroup)
    }

    /// The same program loaded and pinned, and the cgroup made, but nothing
    /// attached yet.
    fn loaded(hook: &'static str) -> Option<Self> {
        if !bpf_tools_ready() {
            return None;
        }
        let Some(root) = cgroup2_root() else {
            skip("no cgroup2 hierarchy is mounted");
            return None;
        };
        let (section, load_type) = match hook {
            "connect4" => ("cgroup/connect4", "cgroup/connect4"),
            "bind4" => ("cgroup/bind4", "cgroup/bind4"),
            "ingress" => ("cgroup_skb/ingress", "cgroup/skb"),
            other => panic!("no program for hook {other}"),
        };
        let (build, object) = compile_refusing(section);
        let name = format!(
            "porthole-test-{}-{}",
            std::process::id(),
            CGROUP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let pin = PathBuf::from("/sys/fs/bpf").join(&name);
        let directory = root.join(&name);
        std::fs::create_dir(&directory).expect("cgroup made");
        let cgroup = PolicyCgroup { directory, pin, hook, _build: build };
        run_ok(
            "bpftool",
            &[
                "prog",
                "load",
                object.to_str().expect("utf-8"),
                cgroup.pin.to_str().expect("utf-8"),
                "type",
                load_type,
            ],
        );
        Some(cgroup)
    }

    /// Attaches the pinned program through a BPF link (`BPF_LINK_CREATE`),
    /// as libbpf-based agents do, from a Python process that holds the link
    /// until it is killed or `bpftool link detach` takes it off.
    fn attach_through_link(&self, attach_type: u32) -> ChildGuard {
        let (holder, mut ready) = python_via(
            Command::new("python3"),
            LINK_HOLDER,
            &[self.pin.to_str().expect("utf-8"), self.path(), &attach_type.to_string()],
        );
        assert_eq!(wait_for_line(&mut ready), "ok", "the link is made");
        holder
    }

    fn path(&self) -> &str {
        self.directory.to_str().expect("utf-8 cgroup path")
    }

    /// The pinned program's id, as `bpftool prog show pinned` says.
    fn program_id_loaded(&self) -> String {
        let output = Command::new("bpftool")
            .args(["-j", "prog", "show", "pinned"])
            .arg(&self.pin)
            .output()
            .expect("bpftool runs");
        let shown: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("bpftool -j prints JSON");
        shown["id"].to_string()
    }

    /// The attached program's id, as `bpftool cgroup show` lists it.
    fn program_id(&self) -> String {
        let output = Command::new("bpftool")
            .args(["-j", "cgroup", "show", self.path()])
            .output()
            .expect("bpftool runs");
        let listed: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("bpftool -j prints JSON");
        listed[0]["id"].to_string()
    }

    /// `PROGRAM ARGS…` inside `netns` and this cgroup: a shell moves itself
    /// into the cgroup, then enters the namespace (`nsenter`, which leaves
    /// the mounts alone, where `ip netns exec` would give it a fresh `/sys`
    /// without the cgroup hierarchy) and executes the program.
    fn command_in(&self, netns: &Netns, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("echo $$ > \"$0\"/cgroup.procs && exec \"$@\"")
            .arg(self.path())
            .arg("nsenter")
            .arg(format!("--net=/run/netns/{}", netns.name))
            .arg(program)
            .args(args);
        command
    }
}

impl PolicyCgroup {
    /// `porthole ARGS…` (a JSON output) run in `netns` from inside this cgroup.
    fn check_from(&self, netns: &Netns, args: &[&str]) -> serde_json::Value {
        let porthole = binary();
        porthole_json(self.command_in(netns, porthole.to_str().expect("utf-8"), args))
    }
}

/// A listener on a port of 127.0.0.1 in `netns` that accepts and holds
/// connections, and its `HOST:PORT`.
fn listener_in(netns: &Netns) -> (ChildGuard, String) {
    let port = unique_port();
    let (server, mut ready) = python_via(netns.command("python3"), LISTENER, &[&port.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok");
    (server, format!("127.0.0.1:{port}"))
}

impl Drop for PolicyCgroup {
    fn drop(&mut self) {
        let _ = Command::new("bpftool")
            .args(["cgroup", "detach", self.path(), self.hook, "pinned"])
            .arg(&self.pin)
            .output();
        let _ = std::fs::remove_file(&self.pin);
        // The processes the test started in it are gone by now (their
        // guards drop first); a removal waits for the kernel to reap them.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.directory).is_ok() || !self.directory.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn porthole_json(mut command: Command) -> serde_json::Value {
    scrub(&mut command);
    let output = command.output().expect("porthole runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "JSON expected, got: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs the single-command fix `line` (as printed, without `$ `) in a shell.
fn run_fix(line: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(line).output().expect("fix runs")
}

fn fix_commands(cause: &serde_json::Value) -> Vec<String> {
    cause["fix_commands"]
        .as_array()
        .expect("fix_commands list")
        .iter()
        .map(|fix| fix.as_str().expect("a command").to_string())
        .collect()
}

/// `bpf(BPF_OBJ_GET)` of the pinned program and `bpf(BPF_LINK_CREATE)` on
/// a target (argv: pin, target, attach type), then holds the link's
/// descriptor. The target is a cgroup directory, or the index of a device
/// of the process's network namespace (`lo` is 1).
const LINK_HOLDER: &str = r#"
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
def bpf(command, attr):
    buffer = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    fd = libc.syscall(SYS_bpf, command, buffer, 128)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "bpf(%d)" % command)
    return fd
path = ctypes.create_string_buffer(sys.argv[1].encode())
program = bpf(7, struct.pack("=QII", ctypes.addressof(path), 0, 0))
target = sys.argv[2]
target = os.open(target, os.O_RDONLY | os.O_DIRECTORY) if target.startswith("/") else int(target)
link = bpf(28, struct.pack("=IIII", program, target, int(sys.argv[3]), 0))
print("ok", flush=True)
time.sleep(600)
"#;

const LISTENER: &str = r#"
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
print("ok", flush=True)
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
"#;

#[test]
fn a_connect_hook_program_that_refuses_the_client_is_named_and_its_detach_repairs_it() {
    let Some(netns) = Netns::create() else { return };
    let Some(cgroup) = PolicyCgroup::refusing("connect4") else { return };
    let (_server, target) = listener_in(&netns);
    let check = || cgroup.check_from(&netns, &["check", &target, "--json"]);

    let refused = check();
    assert_eq!(cause_ids(&refused), vec!["sandbox-denied"], "{refused:#}");
    let denied = cause(&refused, "sandbox-denied");
    let evidence = denied["evidence"].to_string();
    let id = cgroup.program_id();
    assert!(evidence.contains("connect4 hook"), "{evidence}");
    assert!(evidence.contains(&format!("id {id} 'refuse_all'")), "{evidence}");
    assert!(evidence.contains(cgroup.path()), "{evidence}");
    let fixes = fix_commands(denied);
    let detach = format!("bpftool cgroup detach {} connect4 id {id}", cgroup.path());
    assert_eq!(fixes, vec![detach.clone()], "{denied:#}");

    let fixed = run_fix(&detach);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    let repaired = check();
    assert_eq!(repaired["ok"], true, "{repaired:#}");
}

#[test]
fn check_from_a_client_whose_cgroup_refuses_connects_warns_that_the_probe_did_not_see_it() {
    let Some(netns) = Netns::create() else { return };
    let Some(cgroup) = PolicyCgroup::refusing("connect4") else { return };
    let (_server, target) = listener_in(&netns);
    let client = ChildGuard::spawn(&mut cgroup.command_in(&netns, "sleep", &["60"]));
    let pid = client.pid().to_string();
    let member = || {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| {
            text.contains(&*cgroup.directory.file_name().unwrap().to_string_lossy())
        })
    };
    assert!(crate::util::eventually(std::time::Duration::from_secs(5), member));
    let check =
        || netns_json(&netns, &["check", &target, "--from", &pid, "--timeout", "500ms", "--json"]);

    // porthole's own probe connects: its sockets are not in the cgroup.
    let probed = check();
    assert_eq!(probed["ok"], true, "{probed:#}");
    // (The listener answers nothing: `not-responding` is a warning too.)
    assert!(cause_ids(&probed).contains(&"sandbox-denied".to_string()), "{probed:#}");
    let warning = cause(&probed, "sandbox-denied");
    assert_eq!(warning["severity"], "warning");
    let evidence = warning["evidence"].to_string();
    assert!(evidence.contains(&format!("the client's (pid {pid}) sockets")), "{evidence}");
    assert!(evidence.contains("connect4 hook"), "{evidence}");
    let id = cgroup.program_id();
    let detach = format!("bpftool cgroup detach {} connect4 id {id}", cgroup.path());
    assert_eq!(fix_commands(warning), vec![detach.clone()]);

    assert!(run_fix(&detach).status.success());
    let clean = check();
    assert!(!cause_ids(&clean).contains(&"sandbox-denied".to_string()), "{clean:#}");
    drop(client);
}

#[test]
fn a_program_attached_through_a_bpf_link_is_detached_through_its_link() {
    let Some(netns) = Netns::create() else { return };
    let Some(cgroup) = PolicyCgroup::loaded("connect4") else { return };
    // BPF_CGROUP_INET4_CONNECT
    let link_holder = cgroup.attach_through_link(10);
    let (_server, target) = listener_in(&netns);
    let check = || cgroup.check_from(&netns, &["check", &target, "--json"]);
    let refused = check();
    assert_eq!(cause_ids(&refused), vec!["sandbox-denied"], "{refused:#}");
    let denied = cause(&refused, "sandbox-denied");
    let evidence = denied["evidence"].to_string();
    let program_id = cgroup.program_id_loaded();
    let listed = Command::new("bpftool").args(["-j", "link", "show"]).output().expect("bpftool");
    let links: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let link_id = links
        .as_array()
        .expect("a list")
        .iter()
        .find(|link| link["prog_id"].as_u64().map(|id| id.to_string()) == Some(program_id.clone()))
        .map(|link| link["id"].to_string())
        .expect("the test's link is listed");
    assert!(evidence.contains(&format!("through BPF link {link_id}")), "{evidence}");
    let fixes = fix_commands(denied);
    assert_eq!(fixes.len(), 1, "{denied:#}");
    assert!(fixes[0].starts_with(&format!("bpftool link detach id {link_id} ")), "{fixes:?}");

    let fixed = run_fix(&fixes[0]);
    assert!(fixed.status.success(), "{}", String::from_utf8_lossy(&fixed.stderr));
    let repaired = check();
    assert_eq!(repaired["ok"], true, "{repaired:#}");
    drop(link_holder);
}

#[test]
fn a_bind_hook_program_that_refuses_a_server_is_named_by_check_bind() {
    let Some(netns) = Netns::create() else { return };
    let Some(cgroup) = PolicyCgroup::refusing("bind4") else { return };
    // Below the ephemeral range (no warning about it); the namespace is
    // the test's own, so the port is free.
    let target = "127.0.0.1:8123".to_string();
    let check = || cgroup.check_from(&netns, &["check", "--bind", &target, "--json"]);
    let refused = check();
    assert_eq!(cause_ids(&refused), vec!["sandbox-denied"], "{refused:#}");
    let denied = cause(&refused, "sandbox-denied");
    assert!(denied["evidence"].to_string().contains("bind4 hook"), "{denied:#}");
    let fixes = fix_commands(denied);
    assert_eq!(fixes.len(), 1, "{denied:#}");
    assert!(run_fix(&fixes[0]).status.success(), "{}", fixes[0]);
    let repaired = check();
    assert_eq!(repaired["ok"], true, "{repaired:#}");
}

#[test]
fn a_server_whose_cgroup_drops_what_it_receives_is_blamed_instead_of_unexplained() {
    let Some(netns) = Netns::create() else { return };
    let Some(cgroup) = PolicyCgroup::refusing("ingress") else { return };
    let port = unique_port();
    let (server, mut ready) = {
        let mut command = cgroup.command_in(&netns, "python3", &["-u", "-c", LISTENER]);
        command.arg(port.to_string()).stdout(std::process::Stdio::piped());
        let mut child = ChildGuard::spawn(&mut command);
        let stdout = child.0.stdout.take().expect("stdout piped");
        (child, std::io::BufReader::new(stdout))
    };
    assert_eq!(wait_for_line(&mut ready), "ok");
    let target = format!("127.0.0.1:{port}");
    let check = || netns_json(&netns, &["check", &target, "--timeout", "500ms", "--json"]);

    let dropped = check();
    assert_eq!(cause_ids(&dropped), vec!["firewall-drop"], "{dropped:#}");
    let drop = cause(&dropped, "firewall-drop");
    let evidence = drop["evidence"].to_string();
    let id = cgroup.program_id();
    assert!(evidence.contains("ingress hook"), "{evidence}");
    assert!(evidence.contains(&format!("pid {}", server.pid())), "{evidence}");
    assert!(evidence.contains(&format!("id {id} 'refuse_all'")), "{evidence}");
    let fixes = fix_commands(drop);
    assert_eq!(fixes, vec![format!("bpftool cgroup detach {} ingress id {id}", cgroup.path())]);

    assert!(run_fix(&fixes[0]).status.success());
    let repaired = check();
    assert_eq!(repaired["ok"], true, "{repaired:#}");
    drop_in_order(server, cgroup);
}

/// The server leaves the cgroup before the cgroup is removed.
fn drop_in_order(server: ChildGuard, cgroup: PolicyCgroup) {
    drop(server);
    drop(cgroup);
}

fn netns_json(netns: &Netns, args: &[&str]) -> serde_json::Value {
    netns.porthole(args).json()
}

/// `check TARGET` in `netns`: the one cause is `firewall-drop`, returned.
fn dropped_in(netns: &Netns, target: &str) -> serde_json::Value {
    let json = netns.porthole(&["check", target, "--timeout", "500ms", "--json"]).json();
    assert_eq!(cause_ids(&json), vec!["firewall-drop"], "{json:#}");
    cause(&json, "firewall-drop").clone()
}

/// Runs the printed `fix` in `netns` as printed, then `check TARGET` is ok.
fn repaired_in(netns: &Netns, fix: &str, target: &str) {
    let fixed = netns.command("sh").arg("-c").arg(fix).output().expect("runs");
    assert!(fixed.status.success(), "`{fix}`: {}", String::from_utf8_lossy(&fixed.stderr));
    let repaired = netns.porthole(&["check", target, "--timeout", "500ms", "--json"]).json();
    assert_eq!(repaired["ok"], true, "after `{fix}`: {repaired:#}");
}

/// An XDP program that aborts (drops) every packet, attached to `lo` of
/// `netns` in generic mode with `ip link`.
fn xdp_on_loopback(netns: &Netns) -> Option<tempfile::TempDir> {
    if !bpf_tools_ready() {
        return None;
    }
    let (build, object) = compile_refusing("xdp");
    netns.run_ok(
        "ip",
        &[
            "link",
            "set",
            "dev",
            "lo",
            "xdpgeneric",
            "obj",
            object.to_str().expect("utf-8"),
            "sec",
            "xdp",
        ],
    );
    Some(build)
}

#[test]
fn an_xdp_program_on_lo_is_blamed_for_the_dropped_syn_and_ip_link_removes_it() {
    let Some(netns) = Netns::create() else { return };
    let (_server, target) = listener_in(&netns);
    let Some(_build) = xdp_on_loopback(&netns) else { return };

    let drop = dropped_in(&netns, &target);
    let evidence = drop["evidence"].to_string();
    assert!(evidence.contains("an XDP program runs on lo (generic mode)"), "{evidence}");
    assert!(evidence.contains("'refuse_all'"), "{evidence}");
    assert_eq!(fix_commands(&drop), vec!["ip link set dev lo xdp off"]);

    // From outside, the same fix runs inside the namespace.
    let outside =
        porthole_run_json(&["check", &target, "--timeout", "500ms", "--netns", &netns.name]);
    assert_eq!(
        fix_commands(cause(&outside, "firewall-drop")),
        vec![format!("ip netns exec {} ip link set dev lo xdp off", netns.name)]
    );

    repaired_in(&netns, "ip link set dev lo xdp off", &target);
}

#[test]
fn a_tc_bpf_filter_on_lo_is_blamed_and_deleted_by_its_pref_and_handle() {
    let Some(netns) = Netns::create() else { return };
    if !bpf_tools_ready() {
        return;
    }
    let (_server, target) = listener_in(&netns);
    let (_build, object) = compile_refusing("tc");
    netns.run_ok("tc", &["qdisc", "add", "dev", "lo", "clsact"]);
    netns.run_ok(
        "tc",
        &[
            "filter",
            "add",
            "dev",
            "lo",
            "ingress",
            "bpf",
            "da",
            "obj",
            object.to_str().expect("utf-8"),
            "sec",
            "tc",
        ],
    );

    let dropping = dropped_in(&netns, &target);
    let evidence = dropping["evidence"].to_string();
    assert!(evidence.contains("a tc BPF filter runs on lo ingress"), "{evidence}");
    assert!(evidence.contains("'refuse_all'"), "{evidence}");
    let fixes = fix_commands(&dropping);
    assert_eq!(fixes.len(), 1, "{dropping:#}");
    assert!(fixes[0].starts_with("tc filter del dev lo ingress pref "), "{fixes:?}");
    repaired_in(&netns, &fixes[0], &target);
}

#[test]
fn an_xdp_program_held_by_a_bpf_link_is_detached_through_its_link() {
    let Some(netns) = Netns::create() else { return };
    if !bpf_tools_ready() {
        return;
    }
    let (_server, target) = listener_in(&netns);
    let (_build, object) = compile_refusing("xdp");
    let pin = PathBuf::from("/sys/fs/bpf").join(format!("{}-xdp", netns.name));
    run_ok(
        "bpftool",
        &[
            "prog",
            "load",
            object.to_str().expect("utf-8"),
            pin.to_str().expect("utf-8"),
            "type",
            "xdp",
        ],
    );
    // `nsenter` rather than `ip netns exec`, whose fresh `/sys` has no
    // bpffs and so no pinned program.
    let mut enter = Command::new("nsenter");
    enter.arg(format!("--net=/run/netns/{}", netns.name)).arg("python3");
    // `lo` (index 1), BPF_XDP
    let (holder, mut ready) =
        python_via(enter, LINK_HOLDER, &[pin.to_str().expect("utf-8"), "1", "37"]);
    assert_eq!(wait_for_line(&mut ready), "ok", "the XDP link is made");
    let _ = std::fs::remove_file(&pin);

    let dropping = dropped_in(&netns, &target);
    assert!(dropping["evidence"].to_string().contains("held by BPF link"), "{dropping:#}");
    let fixes = fix_commands(&dropping);
    assert_eq!(fixes.len(), 1, "{dropping:#}");
    // A BPF link is not per namespace: the detach runs anywhere.
    assert!(fixes[0].starts_with("bpftool link detach id "), "{fixes:?}");
    repaired_in(&netns, &fixes[0], &target);
    drop(holder);
}

fn porthole_run_json(args: &[&str]) -> serde_json::Value {
    let mut arguments = args.to_vec();
    arguments.push("--json");
    crate::util::porthole_run(&arguments).json()
}
