//! Test support: running the `porthole` binary with a scrubbed environment,
//! child processes that are always reaped, and private network namespaces.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The finished run of a command.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Parses stdout as JSON, printing everything on failure.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_porthole"))
}

/// A `porthole` command with a predictable environment: no colour, no proxy
/// variables, no forced backend.
pub fn porthole() -> Command {
    let mut command = Command::new(binary());
    scrub(&mut command);
    command
}

/// Removes the variables that change porthole's behaviour.
pub fn scrub(command: &mut Command) {
    for variable in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "PORTHOLE_BACKEND",
        "PORTHOLE_STORE",
        "PORTHOLE_OPEN_REPORT_EVERY",
        "TOXIPROXY_URL",
        "COLUMNS",
        // The database clients' variables fill what a service URL leaves out.
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "MYSQL_HOME",
        "MYSQL_HOST",
        "MYSQL_TCP_PORT",
        "MYSQL_UNIX_PORT",
    ] {
        command.env_remove(variable);
    }
    command.env("NO_COLOR", "1");
    // The build's directory leads PATH, as an installed porthole's does:
    // fix lines call it `porthole` and run as printed in a shell with this
    // environment. A test of a porthole the PATH does not find sets its own.
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let directories = std::iter::once(binary().parent().expect("a directory").to_path_buf())
        .chain(std::env::split_paths(&inherited));
    command.env("PATH", std::env::join_paths(directories).expect("PATH entries hold no ':'"));
}

/// Runs a command to completion and captures its output.
pub fn run(command: &mut Command) -> Output {
    let output = command.stdin(Stdio::null()).output().expect("command starts");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command line porthole printed, as a user pastes it into `sh`
/// with this environment (`extra` appended, such as ` --json`).
pub fn run_as_printed(line: &str, extra: &str) -> Output {
    let mut shell = Command::new("sh");
    scrub(&mut shell);
    run(shell.args(["-c", &format!("{line}{extra}")]))
}

/// The command line porthole printed after `marker` in `text`, up to the
/// end of its clause (`;`, `)` or the end of the line).
pub fn printed_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker:?} in: {text}"));
    let rest = &text[start + marker.len()..];
    rest[..rest.find([';', ')', '\n']).unwrap_or(rest.len())].trim()
}

/// Runs `porthole ARGS…`.
pub fn porthole_run(args: &[&str]) -> Output {
    run(porthole().args(args))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The `hidden_owner_reasons` porthole gives, running as root on this
/// machine, for a socket no process holds: `["no_process"]`, preceded by
/// `"refused_to_root"` where some process refuses root its descriptors
/// (a sandbox's init under a security module, say), since that process
/// might hold it.
pub fn kernel_only_reasons() -> serde_json::Value {
    if root_is_refused_some_descriptors() {
        serde_json::json!(["refused_to_root", "no_process"])
    } else {
        serde_json::json!(["no_process"])
    }
}

/// Whether reading some process's `/proc/PID/fd` links fails for this
/// (root) test process: the ptrace access check refuses it.
pub fn root_is_refused_some_descriptors() -> bool {
    let Ok(processes) = std::fs::read_dir("/proc") else { return false };
    processes.flatten().any(|entry| {
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { return false };
        fds.flatten().next().is_some_and(|fd| {
            std::fs::read_link(fd.path())
                .is_err_and(|error| error.kind() == std::io::ErrorKind::PermissionDenied)
        })
    })
}

/// A child process killed and reaped when dropped, so a failing test never
/// leaves servers behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn spawn(command: &mut Command) -> Self {
        // A test run started in the background (`./scripts/test.sh &`, nohup)
        // hands SIGINT/SIGQUIT down as ignored; the servers a test starts
        // must still react to the signals the test sends them.
        porthole::sys::signal::start_with_default_signals(command);
        ChildGuard(command.stdin(Stdio::null()).spawn().expect("child starts"))
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child started in a process group of its own, the whole group killed
/// and the child reaped when dropped: for a command line run as printed
/// through `sh -c` (`cd DIR && server …`), whose server is the shell's
/// child, not the shell.
pub struct GroupGuard(pub ChildGuard);

impl GroupGuard {
    pub fn spawn(command: &mut Command) -> Self {
        use std::os::unix::process::CommandExt;
        GroupGuard(ChildGuard::spawn(command.process_group(0)))
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.pid());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

/// Starts `python3 -c CODE ARGS…`; the script must print a line when ready
/// (read with [`wait_for_line`]).
pub fn python(
    code: &str,
    args: &[&str],
) -> (ChildGuard, std::io::BufReader<std::process::ChildStdout>) {
    python_via(Command::new("python3"), code, args)
}

/// Reads one line from a child's stdout (its readiness signal).
pub fn wait_for_line(reader: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("child writes a line");
    line.trim().to_string()
}

/// Polls `condition` for up to `limit`; true when it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

/// Records that the calling test cannot run on this machine, and why; the
/// caller returns right after. A skip must never pass for a success: under CI
/// (`CI` set, running as root with everything `scripts/setup.sh` installs)
/// or with `PORTHOLE_NO_SKIP` set it fails the test. Elsewhere it is printed
/// and appended to `$PORTHOLE_SKIP_LOG`, which `scripts/test.sh` counts and
/// shows at the end of the run.
pub fn skip(reason: &str) {
    let strict =
        |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false");
    if strict("CI") || strict("PORTHOLE_NO_SKIP") {
        panic!("this test cannot run here: {reason} (a skip is a failure under CI)");
    }
    let test = std::thread::current().name().unwrap_or("unnamed test").to_string();
    eprintln!("skipped: {test}: {reason}");
    if let Some(log) = std::env::var_os("PORTHOLE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// A private network namespace made with `ip netns add`, deleted on drop.
/// Processes started through [`Netns::command`] run inside it with `lo` up.
pub struct Netns {
    pub name: String,
}

static NETNS_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    /// Creates a namespace, or `None` when this user may not (not root):
    /// the skip is recorded through [`skip`] and the caller returns.
    pub fn create() -> Option<Self> {
        if !is_root() {
            skip("network namespaces need root");
            return None;
        }
        let name = format!(
            "porthole-test-{}-{}",
            std::process::id(),
            NETNS_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let Ok(status) = Command::new("ip").args(["netns", "add", &name]).status() else {
            skip("ip (iproute2) is not installed");
            return None;
        };
        if !status.success() {
            skip("ip netns add failed");
            return None;
        }
        let netns = Netns { name };
        let up = netns.command("ip").args(["link", "set", "lo", "up"]).status().expect("ip runs");
        assert!(up.success(), "bringing lo up in {}", netns.name);
        Some(netns)
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// `porthole ARGS…` inside the namespace.
    pub fn porthole(&self, args: &[&str]) -> Output {
        let mut command = self.command(binary().to_str().expect("utf-8 path"));
        scrub(&mut command);
        run(command.args(args))
    }
}

/// The inode of `netns` (what porthole labels its sockets with).
pub fn netns_inode(netns: &Netns) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{}", netns.name)).expect("namespace file").ino()
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Starts `CMD… python3 -u -c CODE ARGS…` with stdout piped, where `command`
/// is a prefix such as `ip netns exec NAME` or `setpriv …` (see
/// [`python`] for the readiness line).
pub fn python_via(
    mut command: Command,
    code: &str,
    args: &[&str],
) -> (ChildGuard, std::io::BufReader<std::process::ChildStdout>) {
    // See `ChildGuard::spawn`: servers get default signal dispositions.
    porthole::sys::signal::start_with_default_signals(&mut command);
    let mut child = command
        .arg("-u")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let stdout = child.stdout.take().expect("piped stdout");
    (ChildGuard(child), std::io::BufReader::new(stdout))
}

/// One listening socket of [`answering`].
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    /// IPv4 or IPv6 address; `fe80::1%v0` binds on that interface.
    pub address: &'a str,
    /// 0: one the kernel picks.
    pub port: u16,
    /// `IPV6_V6ONLY` set or cleared; `None` leaves the system default.
    pub v6only: Option<bool>,
    /// Read the request (up to 4 KiB) before answering, else greet at once.
    pub read_first: bool,
    /// Sent to every connection, which is then closed.
    pub reply: &'a [u8],
}

impl<'a> Answering<'a> {
    /// A listener on `address:port` that greets with `reply` and hangs up.
    pub fn greeting(address: &'a str, port: u16, reply: &'a [u8]) -> Self {
        Answering { address, port, v6only: None, read_first: false, reply }
    }

    /// A listener on `address:port` that reads a request, answers `reply`
    /// and hangs up.
    pub fn replying(address: &'a str, port: u16, reply: &'a [u8]) -> Self {
        Answering { read_first: true, ..Self::greeting(address, port, reply) }
    }
}

/// The Python behind [`answering`]: one accept loop per `ADDRESS PORT
/// V6ONLY READ REPLY_FILE` group of its arguments, one thread per
/// connection; prints the bound ports on one line once all listen (after
/// reading the reply files).
const ANSWERING: &str = r#"
import socket, sys, threading
def answer(c, read_first, reply):
    try:
        c.settimeout(2)
        if read_first:
            c.recv(4096)
        c.sendall(reply)
    except OSError:
        pass
    c.close()
def serve(s, read_first, reply):
    while True:
        c, _ = s.accept()
        threading.Thread(target=answer, args=(c, read_first, reply), daemon=True).start()
ports = []
groups = sys.argv[1:]
for address, port, v6only, read_first, reply_file in zip(*[iter(groups)] * 5):
    with open(reply_file, "rb") as f:
        reply = f.read()
    host, _, device = address.partition("%")
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only != "-":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    s.bind((host, int(port), 0, socket.if_nametoindex(device)) if device else (host, int(port)))
    s.listen(16)
    ports.append(str(s.getsockname()[1]))
    threading.Thread(target=serve, args=(s, read_first == "1", reply), daemon=True).start()
print(" ".join(ports), flush=True)
threading.Event().wait()
"#;

/// A Python stand-in server with `listeners`, run by `python3` (a
/// [`Netns::command`] to start it in a namespace); returns once all
/// listen, with their ports in order.
pub fn answering(python3: Command, listeners: &[Answering<'_>]) -> (ChildGuard, Vec<u16>) {
    // Replies go through files: an argument holds at most 128 KiB.
    let replies = tempfile::tempdir().expect("a temporary directory");
    let mut args = Vec::new();
    for (index, listener) in listeners.iter().enumerate() {
        let file = replies.path().join(index.to_string());
        std::fs::write(&file, listener.reply).expect("reply written");
        let v6only = match listener.v6only {
            Some(on) => u8::from(on).to_string(),
            None => "-".to_string(),
        };
        let read = u8::from(listener.read_first).to_string();
        let file = file.to_str().expect("a UTF-8 temporary path").to_string();
        args.extend([listener.address.to_string(), listener.port.to_string(), v6only, read, file]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, mut out) = python_via(python3, ANSWERING, &args);
    let line = wait_for_line(&mut out);
    let ports: Vec<u16> = line.split_whitespace().filter_map(|port| port.parse().ok()).collect();
    assert_eq!(ports.len(), listeners.len(), "the stand-in server did not start: {line:?}");
    (server, ports)
}

/// A port number nothing on this host uses right now (the kernel picked it
/// for a socket that is closed again). Tests inside private namespaces use
/// it so the all-namespace sweep of one test never sees another test's
/// listener on the same number.
pub fn unique_port() -> u16 {
    // The kernel hands a number back out once its socket is closed, so
    // remember every number given to a test of this run and never give it
    // twice: two tests in two namespaces on one number would see each
    // other's listener in their all-namespace sweeps.
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = probe.local_addr().expect("local address").port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A port for a server a test starts in the host's network namespace, where
/// tests run side by side: below `net.ipv4.ip_local_port_range`, so the
/// kernel never hands it to a socket bound to port 0 (a concurrent test's
/// server, or a supervisor restarting one), and never given twice in this
/// run. A server that is restarted binds this same number again, as a real
/// supervisor's does.
pub fn non_ephemeral_port() -> u16 {
    use std::sync::OnceLock;
    // How many numbers below the ephemeral range are taken turns with.
    const WINDOW: u16 = 4096;
    static FIRST: OnceLock<(u16, usize)> = OnceLock::new();
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    let (base, offset) = *FIRST.get_or_init(|| {
        let range =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        let low: u16 =
            range.split_whitespace().next().and_then(|l| l.parse().ok()).unwrap_or(32768);
        assert!(low > 1024 + WINDOW, "ip_local_port_range starts at {low}: no room below it");
        // Another test process (a second `cargo test`) starts elsewhere in
        // the window; the bind check below covers what overlaps.
        (low - WINDOW, std::process::id() as usize % usize::from(WINDOW))
    });
    for _ in 0..WINDOW {
        let turn = TAKEN.fetch_add(1, Ordering::Relaxed);
        let port = base + ((offset + turn) % usize::from(WINDOW)) as u16;
        if bindable_everywhere(port) {
            return port;
        }
    }
    panic!("no port below the ephemeral range is free for a test server");
}

/// Whether TCP and UDP sockets can bind `port` on 127.0.0.1 and on ::1
/// without `SO_REUSEADDR`: nothing holds it, not even a closing connection.
/// A host without IPv6 has no ::1 to hold anything.
fn bindable_everywhere(port: u16) -> bool {
    use socket2::{Domain, Socket, Type};
    let addresses: [std::net::SocketAddr; 2] = [
        (std::net::Ipv4Addr::LOCALHOST, port).into(),
        (std::net::Ipv6Addr::LOCALHOST, port).into(),
    ];
    addresses.iter().all(|address| {
        [Type::STREAM, Type::DGRAM].into_iter().all(|kind| {
            let Ok(socket) = Socket::new(Domain::for_address(*address), kind, None) else {
                return address.is_ipv6();
            };
            match socket.bind(&(*address).into()) {
                Ok(()) => true,
                Err(error) => {
                    address.is_ipv6() && error.raw_os_error() == Some(libc::EADDRNOTAVAIL)
                }
            }
        })
    })
}

/// Starts `python3 -u -c CODE ARGS…` inside `netns`; read its readiness
/// line with [`wait_for_line`].
pub fn python_in(
    netns: &Netns,
    code: &str,
    args: &[&str],
) -> (ChildGuard, std::io::BufReader<std::process::ChildStdout>) {
    python_via(netns.command("python3"), code, args)
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// A TCP server for tests, started inside a namespace:
/// `python3 SERVER ADDRESS PORT MODE [BACKLOG [PROTOCOL]]`, printing `ok`
/// once listening (PROTOCOL 262 makes it an MPTCP listener).
/// Modes: `hold` (listen, never accept), `silent` (accept, never answer),
/// `http` (answer every request with 200 and body `hello`), `flaky` (503
/// for the first second, then 200), `close` (accept and close at once, as
/// a crash-looping worker does), `reset` (accept and reset at once: a close
/// with SO_LINGER 0 sends RST), `slow` (accept each connection 200 ms late,
/// then hold it), `exhausted` (an HTTP server that took every descriptor
/// its soft `RLIMIT_NOFILE` of 32 allows before saying `ok`: its accept()
/// fails with EMFILE and is retried every 50 ms, as servers' accept loops
/// retry it, until the limit is raised).
pub const SERVER: &str = r#"
import socket, struct, sys, time, threading
address, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
backlog = int(sys.argv[4]) if len(sys.argv) > 4 else 16
protocol = int(sys.argv[5]) if len(sys.argv) > 5 else 0
family = socket.AF_INET6 if ':' in address else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM, protocol)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind((address, port))
server.listen(backlog)
started = time.time()
held = []
if mode == "exhausted":
    import os, resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    try:
        while True:
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
print("ok", flush=True)
def answer(connection):
    try:
        connection.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(4096)
            if not chunk:
                return
            data += chunk
        status = "200 OK"
        if mode == "flaky" and time.time() - started < 1.0:
            status = "503 Service Unavailable"
        body = b"hello"
        connection.sendall(("HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (status, len(body))).encode() + body)
    except OSError:
        pass
    finally:
        connection.close()
if mode == "hold":
    time.sleep(3600)
while True:
    if mode == "slow":
        time.sleep(0.2)
    try:
        connection, _ = server.accept()
    except OSError:
        if mode != "exhausted":
            raise
        time.sleep(0.05)
        continue
    if mode == "close":
        connection.close()
    elif mode == "reset":
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    elif mode in ("silent", "slow"):
        held.append(connection)
    else:
        threading.Thread(target=answer, args=(connection,), daemon=True).start()
"#;

/// An HTTP [`SERVER`] on 127.0.0.1 in `netns` behind one rule of an input
/// chain (table `inet guard`, chain `in`, policy accept): `tcp dport PORT
/// RULE`. Returns the server and its port.
pub fn http_server_behind_input_rule(netns: &Netns, rule: &str) -> (ChildGuard, u16) {
    let port = unique_port();
    let server = server_in(netns, "127.0.0.1", port, "http");
    netns.run_ok("nft", &["add", "table", "inet", "guard"]);
    netns.run_ok(
        "nft",
        &["add chain inet guard in { type filter hook input priority 0 ; policy accept ; }"],
    );
    netns.run_ok("nft", &[&format!("add rule inet guard in tcp dport {port} {rule}")]);
    (server, port)
}

/// Starts [`SERVER`] in `netns` and waits until it listens.
pub fn server_in(netns: &Netns, address: &str, port: u16, mode: &str) -> ChildGuard {
    server_with_backlog(netns, address, port, mode, 16)
}

pub fn server_with_backlog(
    netns: &Netns,
    address: &str,
    port: u16,
    mode: &str,
    backlog: u32,
) -> ChildGuard {
    let (child, mut ready) =
        python_in(netns, SERVER, &[address, &port.to_string(), mode, &backlog.to_string()]);
    assert_eq!(wait_for_line(&mut ready), "ok", "server on {address}:{port} starts");
    child
}

impl Netns {
    /// Runs a command inside the namespace and asserts it succeeded.
    pub fn run_ok(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().expect("command runs");
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A veth pair in the namespace with `address` on its first end
    /// (`fe80::1/64`, `10.9.9.1/24`), added without duplicate address
    /// detection so it is usable at once.
    pub fn add_veth(&self, address: &str) {
        self.run_ok("ip", &["link", "add", "pv0", "type", "veth", "peer", "name", "pv1"]);
        self.run_ok("ip", &["link", "set", "pv0", "up"]);
        self.run_ok("ip", &["link", "set", "pv1", "up"]);
        self.run_ok("ip", &["addr", "add", address, "dev", "pv0", "nodad"]);
    }

    /// `porthole ARGS…` inside the namespace with extra environment.
    pub fn porthole_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = self.command(binary().to_str().expect("utf-8 path"));
        scrub(&mut command);
        for (key, value) in env {
            command.env(key, value);
        }
        run(command.args(args))
    }

    /// `porthole ARGS…` inside the namespace and a private mount namespace
    /// whose /etc/hosts is `hosts` (bind-mounted over the real one).
    pub fn porthole_with_hosts(&self, hosts: &str, args: &[&str]) -> Output {
        let directory = tempfile::tempdir().expect("temp dir");
        let file = directory.path().join("hosts");
        std::fs::write(&file, hosts).expect("hosts file written");
        let mut command = self.command("unshare");
        command
            .args(["-m", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\""])
            .arg(&file)
            .arg(binary());
        scrub(&mut command);
        run(command.args(args))
    }
}

/// The ids of the causes in a `check --json` answer, in order.
pub fn cause_ids(json: &serde_json::Value) -> Vec<String> {
    json["causes"]
        .as_array()
        .expect("causes array")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// The cause with `id` in a `check --json` answer.
pub fn cause<'a>(json: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    json["causes"]
        .as_array()
        .expect("causes array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no cause {id} in {json:#}"))
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    eventually(limit, || {
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(200),
        )
        .is_ok()
    })
}

/// Whether `program` is on PATH (or is an existing path).
pub fn installed(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether `pids` are this test process plus, at most, children it is
/// forking right now: a child holds every fd of the test process from fork
/// until exec (when close-on-exec drops them), so a concurrent test's spawn
/// can briefly show up as a second owner of a socket this process opened.
pub fn only_this_process_and_its_children(pids: &[u64]) -> bool {
    let me = u64::from(std::process::id());
    pids.contains(&me)
        && pids.iter().filter(|&&pid| pid != me).all(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u64>().ok())
                    == Some(me)
            })
        })
}

/// Asserts a usage error: exit 2 and stderr that starts with one
/// `porthole: ` line saying what is wrong. Errors clap finds keep its
/// details on the following lines (the missing arguments, the allowed
/// values, a similar subcommand, the usage), so only the first line is
/// fixed; `porthole: ` must not appear twice (no message said twice).
pub fn assert_usage_error(output: &Output, context: &str) {
    assert_eq!(output.code, 2, "{context}: {output:?}");
    assert!(output.stderr.starts_with("porthole: "), "{context}: {}", output.stderr);
    assert_eq!(output.stderr.matches("porthole: ").count(), 1, "{context}: {}", output.stderr);
    assert_eq!(output.stderr.lines().count(), 1, "{context}: one line: {}", output.stderr);
    assert!(!output.stderr.contains("panicked"), "{context}: {}", output.stderr);
}

/// `/etc/netns/NAME`, removed when dropped.
pub struct NetnsEtc(std::path::PathBuf);

impl NetnsEtc {
    /// Creates it with `hosts` as its hosts file.
    pub fn with_hosts(netns: &Netns, hosts: &str) -> Self {
        let directory = std::path::Path::new("/etc/netns").join(&netns.name);
        std::fs::create_dir_all(&directory).expect("/etc/netns/NAME created");
        std::fs::write(directory.join("hosts"), hosts).expect("hosts written");
        NetnsEtc(directory)
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The porthole binary under a name of its own (`DIR/porthole-build`) that
/// every user can reach and run: a hard link beside the build when every
/// directory above it lets others through, otherwise a copy in the
/// temporary directory. The directory goes when the `TempDir` drops.
pub fn binary_others_can_run() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let target_tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let others_pass = |directory: &std::path::Path| {
        std::fs::metadata(directory).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0)
    };
    let beside_the_build = target_tmp.ancestors().all(others_pass);
    let dir = if beside_the_build { tempfile::tempdir_in(target_tmp) } else { tempfile::tempdir() }
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("others may enter");
    let file = dir.path().join("porthole-build");
    if beside_the_build {
        std::fs::hard_link(binary(), &file).expect("link the binary");
    } else {
        std::fs::copy(binary(), &file).expect("copy the binary");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .expect("others may run it");
    }
    (dir, file)
}

/// Runs `WRAPPER… LINK ARGS…` (LINK: a link to the binary) in a mount
/// namespace where `file` is a FIFO: porthole waits in its read of `file`
/// until the binary was changed as `change` does, then gets the real text.
pub fn run_after_changing_the_binary(
    link: &std::path::Path,
    file: &str,
    wrapper: &[&str],
    change: impl FnOnce(),
    args: &[&str],
) -> Output {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = link.parent().expect("a directory");
    let fifo = dir.join("fifo");
    let made = run(std::process::Command::new("mkfifo").arg(&fifo));
    assert_eq!(made.code, 0, "{made:?}");
    let script = format!("mount --bind {} {file} && exec \"$@\"", fifo.display());
    let mut command = std::process::Command::new("unshare");
    command.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"]);
    command.args(wrapper).arg(link).args(args);
    scrub(&mut command);
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("unshare starts");
    // The shell execs porthole: wait until the child is the linked file.
    let exe = format!("/proc/{}/exe", child.id());
    // Generous: a launcher and a wrapper on a loaded two-core machine.
    let started = eventually(std::time::Duration::from_secs(30), || {
        std::fs::read_link(&exe).is_ok_and(|target| target == link)
    });
    if !started {
        // Say why: the wrapper or the exec failed, or it never ended (and
        // then what it was running and where it waited).
        let proc_file = |name: &str| {
            let text = std::fs::read(format!("/proc/{}/{name}", child.id())).unwrap_or_default();
            String::from_utf8_lossy(&text).replace('\0', " ")
        };
        let running = format!(
            "exe {:?}, cmdline {}, wchan {}",
            std::fs::read_link(&exe).ok(),
            proc_file("cmdline").trim_end(),
            proc_file("wchan")
        );
        let _ = child.kill();
        let output = child.wait_with_output().expect("waitable");
        panic!(
            "porthole never ran from {}: exit {:?}, stderr {}, after 30 s: {running}",
            link.display(),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    change();
    let text = std::fs::read(file).unwrap_or_default();
    // Every open of the FIFO (there may be several) gets the real text.
    while child.try_wait().expect("waitable").is_none() {
        let writer =
            std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
        if let Ok(mut writer) = writer {
            let _ = writer.write_all(&text);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("porthole ends");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The real file behind `python3` (not a launcher script such as pyenv's),
/// for a test that runs a copy of it under another name.
pub fn python_binary() -> PathBuf {
    let output = Command::new("python3")
        .args(["-c", "import os,sys; print(os.path.realpath(sys.executable))"])
        .output()
        .expect("python3 runs");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// The ports [`non_ephemeral_port`] hands out are what it promises: below
/// the ephemeral range, never the same twice, and free when handed out.
#[test]
fn non_ephemeral_ports_are_distinct_and_below_the_ephemeral_range() {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let ports: Vec<u16> = (0..64).map(|_| non_ephemeral_port()).collect();
    let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    assert!(ports.iter().all(|&port| port >= 1024 && port < low), "{low}: {ports:?}");
    // A port something listens on is passed over.
    let held = std::net::TcpListener::bind(("127.0.0.1", ports[0])).expect("it was free");
    assert!(!bindable_everywhere(ports[0]), "a held port reads as taken");
    drop(held);
}

/// The mount point of the first cgroup hierarchy whose file system type
/// and mount options `wanted` accepts.
fn cgroup_mount(wanted: &dyn Fn(&str, &str) -> bool) -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let point = before.split(' ').nth(4)?;
        let mut after = after.split(' ');
        let (kind, options) = (after.next()?, after.nth(1)?);
        wanted(kind, options).then(|| point.to_string())
    })
}

/// A cgroup made for one test; emptied (its processes moved back to the
/// root) and removed on drop.
pub struct Cgroup {
    /// The cgroup's directory.
    pub directory: String,
    root: String,
}

impl Cgroup {
    fn create(root: String, name: &str) -> Option<Self> {
        let directory = format!("{root}/{name}");
        std::fs::create_dir(&directory).ok()?;
        Some(Cgroup { directory, root })
    }

    /// A cgroup named `name` on the cgroup v2 hierarchy (the `0::` line
    /// of `/proc/PID/cgroup`, where systemd's units are named).
    pub fn unified(name: &str) -> Option<Self> {
        Self::create(cgroup_mount(&|kind, _| kind == "cgroup2")?, name)
    }

    /// Moves `pid` into the cgroup.
    pub fn add(&self, pid: u32) -> bool {
        std::fs::write(format!("{}/cgroup.procs", self.directory), pid.to_string()).is_ok()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(format!("{}/cgroup.procs", self.directory));
        for pid in procs.unwrap_or_default().lines() {
            let _ = std::fs::write(format!("{}/cgroup.procs", self.root), pid);
        }
        let _ = std::fs::remove_dir(&self.directory);
    }
}

/// A cgroup made for one test on the first hierarchy that can freeze (the
/// v1 freezer, else cgroup v2); thawed, emptied and removed on drop.
pub struct FreezerCgroup {
    /// The cgroup's directory.
    pub directory: String,
    /// The control file that freezes and thaws it.
    pub control: &'static str,
    /// What a write to `control` thaws it with.
    pub thaw: &'static str,
    /// Emptied and removed after the thaw (fields drop after `drop`).
    cgroup: Cgroup,
}

impl FreezerCgroup {
    pub fn create() -> Option<Self> {
        let v1 = cgroup_mount(&|kind, options| {
            kind == "cgroup" && options.split(',').any(|o| o == "freezer")
        });
        let (root, control, thaw) = match v1 {
            Some(point) => (point, "freezer.state", "THAWED"),
            None => (cgroup_mount(&|kind, _| kind == "cgroup2")?, "cgroup.freeze", "0"),
        };
        let cgroup = Cgroup::create(root, &format!("porthole-test-{}", std::process::id()))?;
        Some(FreezerCgroup { directory: cgroup.directory.clone(), control, thaw, cgroup })
    }

    /// Moves `pid` into the cgroup and freezes it.
    pub fn freeze(&self, pid: u32) -> bool {
        let frozen = if self.thaw == "0" { "1" } else { "FROZEN" };
        self.cgroup.add(pid)
            && std::fs::write(format!("{}/{}", self.directory, self.control), frozen).is_ok()
    }
}

impl Drop for FreezerCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("{}/{}", self.directory, self.control), self.thaw);
    }
}
