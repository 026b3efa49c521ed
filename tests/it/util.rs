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
        "TOXIPROXY_URL",
        "COLUMNS",
    ] {
        command.env_remove(variable);
    }
    command.env("NO_COLOR", "1");
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

/// Runs `porthole ARGS…`.
pub fn porthole_run(args: &[&str]) -> Output {
    run(porthole().args(args))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A child process killed and reaped when dropped, so a failing test never
/// leaves servers behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn spawn(command: &mut Command) -> Self {
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

/// Starts `python3 -c CODE ARGS…`; the script must print a line when ready
/// (read with [`wait_for_line`]).
pub fn python(
    code: &str,
    args: &[&str],
) -> (ChildGuard, std::io::BufReader<std::process::ChildStdout>) {
    let mut child = Command::new("python3")
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

/// A private network namespace made with `ip netns add`, deleted on drop.
/// Processes started through [`Netns::command`] run inside it with `lo` up.
pub struct Netns {
    pub name: String,
}

static NETNS_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    /// Creates a namespace, or `None` when this user may not (not root):
    /// the caller then skips with a message.
    pub fn create() -> Option<Self> {
        if !is_root() {
            eprintln!("skipping: network namespaces need root");
            return None;
        }
        let name = format!(
            "porthole-test-{}-{}",
            std::process::id(),
            NETNS_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("ip").args(["netns", "add", &name]).status().ok()?;
        if !status.success() {
            eprintln!("skipping: ip netns add failed");
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

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A port that was free a moment ago on 127.0.0.1 (for servers that cannot
/// bind port 0 themselves). Another process could take it in between; the
/// kernel hands out ephemeral ports round-robin, so that is rare.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local address").port()
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
