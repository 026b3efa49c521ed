//! Holding a found port until its new owner binds it (`free --hold`).
//!
//! Between `porthole free` printing a port and the service binding it,
//! anything else may take the port. The holder closes that window: the
//! `free` process binds the port itself and hands the sockets to a
//! detached copy of porthole (re-executed with a hidden subcommand, in its
//! own session, with stdio closed), which keeps them until the time is up
//! or until it sees another socket take the port.
//!
//! # Platform specific behavior
//!
//! The rule, verified on Linux 6.x (TCP and UDP, IPv4 and IPv6): the holder
//! binds `0.0.0.0:PORT` and `[::]:PORT` (`IPV6_V6ONLY` on), sets
//! `SO_REUSEADDR` once bound and never calls `listen()`. Then
//! - a caller that sets `SO_REUSEADDR` (Rust's `TcpListener`, Go, Node,
//!   Python's `socketserver`, nginx all do) can `bind()` and `listen()` on
//!   `0.0.0.0`, `127.0.0.1`, `::` (dual-stack or not) or `::1`: two
//!   `SO_REUSEADDR` sockets may share a port as long as neither listens;
//! - a bind without `SO_REUSEADDR` fails with `EADDRINUSE`, and once the
//!   caller listens, every later bind fails, with or without the option;
//! - a holder that *listened* would make every caller's bind fail, which
//!   is why it does not;
//! - the holder's own bind is made *without* `SO_REUSEADDR` (the kernel
//!   reads the option of a bound socket when a later bind is checked, so
//!   setting it afterwards is enough for the server). Two `porthole free
//!   --hold` that found the same port free at once would otherwise both
//!   bind it, with the option, and both print it; now the second bind fails
//!   with `EADDRINUSE` and [`claim`] searches again.
//!
//! So the port is protected from programs that bind without
//! `SO_REUSEADDR`, while the intended owner (almost any server) binds it
//! normally. The holder then notices the new LISTEN socket (TCP) or the new
//! bound socket (UDP) in the inventory within 100 ms and exits. While both
//! share a UDP port the kernel may deliver a datagram to either; that lasts
//! at most one poll interval.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use super::{Conditions, Found, Request};
use crate::inventory::system::System;
use crate::inventory::Query;
use crate::model::PortSet;
use crate::model::{Protocol, SocketState};

/// How often the holder looks for the new owner.
const POLL: Duration = Duration::from_millis(100);

/// How many times [`claim`] searches again after a concurrent caller took a
/// port it found: each retry means another process won a race for a port,
/// so a handful covers any realistic number of simultaneous callers.
const CLAIM_ATTEMPTS: usize = 32;

/// The hidden subcommand the holder runs as.
pub const SUBCOMMAND: &str = crate::model::allocation::HOLDER_SUBCOMMAND;

/// The holder's process name, which [`crate::model::Process::is_free_holder`]
/// looks for.
const HOLDER_NAME: &str = "porthole";

/// One socket held on a port.
#[derive(Debug)]
pub struct HeldSocket {
    pub port: u16,
    pub protocol: Protocol,
    pub socket: OwnedFd,
}

/// A port could not be bound to hold it.
#[derive(Debug, thiserror::Error)]
#[error("binding port {port} to hold it")]
pub struct HoldError {
    pub port: u16,
    #[source]
    pub source: std::io::Error,
}

/// Finds the ports of `request` and binds them for holding, as one claim:
/// a port that another caller bound between the search and the bind
/// (`EADDRINUSE`) counts as in use and the search runs again. The result
/// has no sockets when the search found fewer ports than requested.
pub fn claim(
    request: &Request,
    conditions: &Conditions,
) -> Result<(Found, Vec<HeldSocket>), HoldError> {
    let mut conditions = conditions.clone();
    let mut attempts = 0;
    loop {
        let found = super::find(request, &conditions);
        if found.ports.len() < request.count {
            return Ok((found, Vec::new()));
        }
        match bind(&found.ports, request.hold_udp, conditions.ipv6) {
            Ok(held) => return Ok((found, held)),
            Err(error)
                if error.source.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < CLAIM_ATTEMPTS =>
            {
                attempts += 1;
                conditions.tcp_in_use.insert(error.port);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Binds the holding sockets for `ports` (see the module docs for why
/// `SO_REUSEADDR` is set only after the bind, and why no `listen()`).
pub fn bind(ports: &[u16], udp: bool, ipv6: bool) -> Result<Vec<HeldSocket>, HoldError> {
    let mut held = Vec::new();
    let mut protocols = vec![(Protocol::Tcp, rustix::net::SocketType::STREAM)];
    if udp {
        protocols.push((Protocol::Udp, rustix::net::SocketType::DGRAM));
    }
    // One descriptor per port, protocol and family, on top of those open
    // now (and a few for the search's own test binds): `--count 1000`
    // needs more than the usual soft limit of 1024. Best effort: a limit
    // that cannot be raised shows as the bind's EMFILE below.
    let needed = ports.len() * protocols.len() * if ipv6 { 2 } else { 1 };
    let open = crate::sys::fds::open_count().unwrap_or(0);
    let _ = crate::sys::fds::raise_open_limit(needed + open + 16);
    for &port in ports {
        for &(protocol, socket_type) in &protocols {
            let mut addresses = vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))];
            if ipv6 {
                addresses.push(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)));
            }
            for address in addresses {
                let family = if address.is_ipv4() {
                    rustix::net::AddressFamily::INET
                } else {
                    rustix::net::AddressFamily::INET6
                };
                let socket = bind_exclusively(family, socket_type, &address)
                    .map_err(|source| HoldError { port, source })?;
                held.push(HeldSocket { port, protocol, socket });
            }
        }
    }
    Ok(held)
}

/// Binds one holding socket: without `SO_REUSEADDR`, so that it fails when
/// any socket has the port, then with it, so that the server's bind with
/// the option succeeds.
fn bind_exclusively(
    family: rustix::net::AddressFamily,
    socket_type: rustix::net::SocketType,
    address: &SocketAddr,
) -> std::io::Result<OwnedFd> {
    let socket =
        rustix::net::socket_with(family, socket_type, rustix::net::SocketFlags::CLOEXEC, None)?;
    if address.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, address)?;
    rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    Ok(socket)
}

/// Starts the detached holder with the sockets; returns its pid. The
/// caller's copies of the sockets are closed when `held` is dropped.
///
/// The holder is this very build, started again even when its file was
/// deleted or replaced since porthole started (see
/// [`crate::sys::executable`]): another build need not know the hidden
/// subcommand, and a deleted file runs nothing.
pub fn spawn(held: Vec<HeldSocket>, duration: Duration) -> std::io::Result<u32> {
    let executable = crate::sys::executable::current().for_exec();
    let mut command = std::process::Command::new(executable);
    // The name the holder is recognised by, whatever the file is called.
    command.arg0(HOLDER_NAME);
    command.arg(SUBCOMMAND).arg("--millis").arg(duration.as_millis().to_string());
    for socket in &held {
        crate::sys::fds::keep_across_exec(&socket.socket)?;
        command.arg("--fd").arg(socket.socket.as_raw_fd().to_string());
    }
    // Closed stdio: a caller capturing `free`'s output (`$(porthole free)`)
    // must not wait for the holder to exit.
    // The root directory, so the holder never keeps a mount busy.
    command
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = command.spawn()?;
    Ok(child.id())
}

/// The holder's main loop: keep the inherited sockets until `duration`
/// passes or every port has a new owner.
pub fn run(system: &dyn System, descriptors: &[RawFd], duration: Duration) -> std::io::Result<()> {
    // Its own session: no terminal, no SIGHUP when the shell exits.
    let _ = rustix::process::setsid();
    // Started through /proc/self/exe (or a copy with another name), the
    // kernel names the process after that file: `ls` and `kill` know the
    // holder by this name.
    let _ = crate::sys::executable::name_this_process(HOLDER_NAME);
    let deadline = Instant::now() + duration;
    let mut held = Vec::new();
    for &raw in descriptors {
        let socket = crate::sys::fds::adopt(raw)?;
        let address = rustix::net::getsockname(&socket)?;
        let address = SocketAddr::try_from(address)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let protocol = match rustix::net::sockopt::socket_type(&socket)? {
            rustix::net::SocketType::DGRAM => Protocol::Udp,
            _ => Protocol::Tcp,
        };
        let inode = rustix::fs::fstat(&socket)?.st_ino;
        held.push((HeldSocket { port: address.port(), protocol, socket }, inode));
    }
    while !held.is_empty() && Instant::now() < deadline {
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        let claimed = claimed_ports(system, &held);
        held.retain(|(socket, _)| !claimed.contains(&(socket.port, socket.protocol)));
    }
    Ok(())
}

/// Ports (per protocol) that another socket now uses.
fn claimed_ports(system: &dyn System, held: &[(HeldSocket, u64)]) -> Vec<(u16, Protocol)> {
    let ports: Vec<String> = held.iter().map(|(s, _)| s.port.to_string()).collect();
    let query = Query {
        tcp: held.iter().any(|(s, _)| s.protocol == Protocol::Tcp),
        udp: held.iter().any(|(s, _)| s.protocol == Protocol::Udp),
        unix: false,
        listeners_only: false,
        ports: PortSet::parse(&ports.join(",")).ok(),
        owners: false,
        ..Query::default()
    };
    let Ok(snapshot) = system.snapshot(&query) else { return Vec::new() };
    let ours: Vec<u64> = held.iter().map(|(_, inode)| *inode).collect();
    snapshot
        .sockets
        .iter()
        .filter(|s| !ours.contains(&s.inode) && s.inode != 0)
        .filter(|s| s.state != SocketState::TimeWait)
        .map(|s| (s.local_port(), s.protocol))
        .collect()
}
