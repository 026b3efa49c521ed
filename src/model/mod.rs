//! Plain data shared by every engine and renderer: sockets, the processes
//! that own them, and the snapshot that ties both together.
//!
//! Nothing here touches the kernel; `inventory` fills these structs and
//! `render` prints them. Keeping the types free of I/O lets the audit rules,
//! the `check` doctor and the renderers be tested with hand-made snapshots.
//!
//! The results of the other engines live in submodules, so renderers need
//! nothing but `model`: [`diagnosis`] (`check`, `wait`), [`termination`]
//! (`kill`), [`allocation`] (`free`), [`audit`], and for the recorder
//! [`monitor`] (what it records) and [`history`] (what `porthole history`
//! asks and gets back).

pub mod alert;
pub mod allocation;
pub mod audit;
pub mod diagnosis;
pub mod history;
pub mod ip_protocol;
pub mod monitor;
pub mod os_text;
pub mod port;
pub mod ports;
pub mod proxy;
pub mod termination;
pub mod top;

pub use audit::{
    AuditReport, Finding, FirewallSummary, LoginReport, PackageListsSummary, RuleId,
    ServiceIdentity, Severity,
};
pub use port::{
    Connection, IanaRange, NamespaceMeaning, PortMeaning, PortReport, TimeWaitEnd, UnexpectedOwners,
};
pub use ports::{PortListError, PortSet};

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Transport protocol of a socket; `Raw` is a raw IP socket (`SOCK_RAW`),
/// which carries one IP protocol ([`Socket::ip_protocol`]) and has no port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Unix,
    Raw,
}

impl Protocol {
    /// Lower-case name, as osquery and `ls --json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Unix => "unix",
            Protocol::Raw => "raw",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
    Unix,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
            Family::Unix => "unix",
        }
    }
}

/// Socket state, with the kernel's numbering (`include/net/tcp_states.h`).
///
/// UDP and Unix sockets reuse the same numbers: an unconnected datagram
/// socket is `Close` (which `ss` prints as `UNCONN`), a connected one is
/// `Established`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    /// A state number this build does not know (future kernels).
    Other(u8),
}

impl SocketState {
    /// Decodes the kernel's state number.
    pub fn from_kernel(value: u8) -> Self {
        match value {
            1 => SocketState::Established,
            2 => SocketState::SynSent,
            3 => SocketState::SynRecv,
            4 => SocketState::FinWait1,
            5 => SocketState::FinWait2,
            6 => SocketState::TimeWait,
            7 => SocketState::Close,
            8 => SocketState::CloseWait,
            9 => SocketState::LastAck,
            10 => SocketState::Listen,
            11 => SocketState::Closing,
            // TCP_NEW_SYN_RECV: a request socket; `ss` shows it as SYN-RECV.
            12 => SocketState::SynRecv,
            // TCP_BOUND_INACTIVE: bound, neither listening nor connected;
            // `ss` calls a bound socket without a peer UNCONN.
            13 => SocketState::Close,
            other => SocketState::Other(other),
        }
    }

    /// The kernel's state number (inverse of [`SocketState::from_kernel`]).
    pub fn kernel_number(self) -> u8 {
        match self {
            SocketState::Established => 1,
            SocketState::SynSent => 2,
            SocketState::SynRecv => 3,
            SocketState::FinWait1 => 4,
            SocketState::FinWait2 => 5,
            SocketState::TimeWait => 6,
            SocketState::Close => 7,
            SocketState::CloseWait => 8,
            SocketState::LastAck => 9,
            SocketState::Listen => 10,
            SocketState::Closing => 11,
            SocketState::Other(value) => value,
        }
    }

    /// The name `ss` prints for this state, so output can be compared with it.
    pub fn ss_name(self) -> &'static str {
        match self {
            SocketState::Established => "ESTAB",
            SocketState::SynSent => "SYN-SENT",
            SocketState::SynRecv => "SYN-RECV",
            SocketState::FinWait1 => "FIN-WAIT-1",
            SocketState::FinWait2 => "FIN-WAIT-2",
            SocketState::TimeWait => "TIME-WAIT",
            SocketState::Close => "UNCONN",
            SocketState::CloseWait => "CLOSE-WAIT",
            SocketState::LastAck => "LAST-ACK",
            SocketState::Listen => "LISTEN",
            SocketState::Closing => "CLOSING",
            SocketState::Other(_) => "UNKNOWN",
        }
    }

    /// Parses a state as a user types it (`listen`, `ESTAB`, `time-wait`,
    /// `established`, `unconn`…), case-insensitively.
    pub fn parse_user(text: &str) -> Option<Self> {
        let normalized = text.trim().to_ascii_uppercase().replace('_', "-");
        let state = match normalized.as_str() {
            "ESTAB" | "ESTABLISHED" => SocketState::Established,
            "SYN-SENT" => SocketState::SynSent,
            "SYN-RECV" | "SYN-RECEIVED" => SocketState::SynRecv,
            "FIN-WAIT-1" | "FIN-WAIT1" => SocketState::FinWait1,
            "FIN-WAIT-2" | "FIN-WAIT2" => SocketState::FinWait2,
            "TIME-WAIT" | "TIMEWAIT" => SocketState::TimeWait,
            "UNCONN" | "CLOSE" | "CLOSED" => SocketState::Close,
            "CLOSE-WAIT" => SocketState::CloseWait,
            "LAST-ACK" => SocketState::LastAck,
            "LISTEN" | "LISTENING" => SocketState::Listen,
            "CLOSING" => SocketState::Closing,
            _ => return None,
        };
        Some(state)
    }
}

impl fmt::Display for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ss_name())
    }
}

/// Kind of a Unix-domain socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnixKind {
    Stream,
    Datagram,
    SeqPacket,
}

impl UnixKind {
    /// Decodes `SOCK_STREAM` (1), `SOCK_DGRAM` (2), `SOCK_SEQPACKET` (5).
    pub fn from_kernel(value: u8) -> Option<Self> {
        match value {
            1 => Some(UnixKind::Stream),
            2 => Some(UnixKind::Datagram),
            5 => Some(UnixKind::SeqPacket),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnixKind::Stream => "stream",
            UnixKind::Datagram => "dgram",
            UnixKind::SeqPacket => "seqpacket",
        }
    }
}

/// A listener's protocol, address, network namespace and interface:
/// listeners with the same key are one service (a `SO_REUSEPORT` group,
/// forked workers). Two sockets on one address bound to two interfaces
/// are two services, each reached through its own interface.
pub type ListenerKey = (Protocol, SocketAddr, Option<u64>, u32);

/// The loopback device's index in every network namespace (the kernel's
/// `LOOPBACK_IFINDEX`).
pub const LOOPBACK_INTERFACE: u32 = 1;

/// Where a bound address can be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// 127.0.0.0/8, `::1` or a v4-mapped loopback address: this host only.
    Loopback,
    /// `0.0.0.0` or `::`: every address of the host.
    Wildcard,
    /// One particular non-loopback address (a LAN IP, a bridge).
    Specific,
    /// A Unix-domain socket: reachable through the file system only.
    Local,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::Wildcard => "wildcard",
            Scope::Specific => "specific",
            Scope::Local => "local",
        }
    }

    /// The scope of a socket bound to `address` and to the device
    /// `interface` (`SO_BINDTODEVICE`, 0 for none): one bound to the
    /// loopback device only sees packets that arrive on `lo`, which only
    /// this host sends, whatever its address (`0.0.0.0` included).
    pub fn of_bound(address: IpAddr, interface: u32) -> Self {
        if interface == LOOPBACK_INTERFACE {
            Scope::Loopback
        } else {
            Scope::of_address(address)
        }
    }

    /// The scope of an IP address a socket is bound to.
    pub fn of_address(address: IpAddr) -> Self {
        if is_loopback(address) {
            Scope::Loopback
        } else if address.is_unspecified() || is_v4_mapped_unspecified(address) {
            Scope::Wildcard
        } else {
            Scope::Specific
        }
    }

    /// Whether another device could reach a socket with this scope.
    pub fn is_exposed(self) -> bool {
        matches!(self, Scope::Wildcard | Scope::Specific)
    }
}

/// Loopback test that also accepts v4-mapped loopback (`::ffff:127.0.0.1`).
pub fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The address a TCP connect to `address` reaches on Linux: a v4-mapped
/// IPv6 address (`::ffff:127.0.0.1`) leaves as IPv4, and the unspecified
/// address, which names no host, is taken as loopback (`0.0.0.0` and
/// `::ffff:0.0.0.0` as 127.0.0.1, `::` as ::1). Listeners, firewall rules
/// and routes see this address, not the one the client wrote.
///
/// # Platform specific behavior
/// `tcp_v4_connect` routes a zero destination to `INADDR_LOOPBACK`, and
/// `tcp_v6_connect` replaces `::` with `::1`. See:
/// <https://elixir.bootlin.com/linux/v6.6/source/net/ipv6/tcp_ipv6.c#L186>
pub fn connect_destination(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn is_v4_mapped_unspecified(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => v6.to_ipv4_mapped() == Some(Ipv4Addr::UNSPECIFIED),
    }
}

/// One socket as the kernel reported it, plus the pids that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    pub family: Family,
    /// Local address and port (IP sockets only).
    pub local: Option<SocketAddr>,
    /// Peer address and port (IP sockets only; the unspecified address and
    /// port 0 when not connected).
    pub remote: Option<SocketAddr>,
    /// Unix sockets: the bound path, `@name` for an abstract name, or `None`
    /// for an unnamed socket.
    pub path: Option<String>,
    /// Unix sockets: stream, datagram or seqpacket.
    pub unix_kind: Option<UnixKind>,
    /// Unix sockets: inode of the other end of a connection, which pairs both
    /// ends without touching `/proc`.
    pub peer_inode: Option<u64>,
    /// Unix sockets bound to a path: device and inode of the file bind()
    /// created. The path string stays in the socket after the file is
    /// removed or re-used by another server; this pair tells whether the
    /// file now at the path is still this socket's. `None` when the source
    /// cannot tell (`/proc/net/unix`).
    pub bound_file: Option<(u64, u64)>,
    pub state: SocketState,
    /// Socket inode (`socket:[N]` in `/proc/PID/fd`); 0 for TIME-WAIT and
    /// request sockets, which have no file.
    pub inode: u64,
    /// Owning uid as the kernel records it (free with the dump, no `/proc`).
    pub uid: u32,
    /// Kernel socket cookie: stable identity for the life of the socket.
    pub cookie: u64,
    /// For a listener, the accept-queue length; otherwise unread bytes.
    pub rx_queue: u32,
    /// For a listener, the backlog; otherwise unsent bytes.
    pub tx_queue: u32,
    /// Interface index a socket is bound to (`SO_BINDTODEVICE`, or the
    /// zone of a link-local address), 0 if none. Such a socket only sees
    /// packets that arrive on that interface.
    pub interface: u32,
    /// The name of `interface` in the socket's network namespace when it
    /// was listed (`None` when unbound or when the name could not be read).
    /// Chosen by whoever created the interface: other users' text.
    pub interface_name: Option<String>,
    /// For `::` listeners: `Some(false)` means dual-stack (also accepts
    /// IPv4), `Some(true)` IPv6 only; `None` when the source cannot tell.
    pub v6only: Option<bool>,
    /// Inode of the network namespace the socket lives in, when known.
    pub net_namespace: Option<u64>,
    /// Raw sockets: the IP protocol they send and receive (1 for ICMP, 58
    /// for ICMPv6…), which the kernel reports where a port would be; their
    /// `local` and `remote` then carry port 0. `None` for other sockets.
    pub ip_protocol: Option<u8>,
    /// Pids of every process holding a file descriptor for this socket,
    /// ascending. Empty when none could be seen (or for TIME-WAIT).
    pub owners: Vec<u32>,
}

impl Socket {
    /// A socket with nothing known but its protocol, family and state.
    fn bare(protocol: Protocol, family: Family, state: SocketState) -> Self {
        Socket {
            protocol,
            family,
            local: None,
            remote: None,
            path: None,
            unix_kind: None,
            peer_inode: None,
            bound_file: None,
            state,
            inode: 0,
            uid: 0,
            cookie: 0,
            rx_queue: 0,
            tx_queue: 0,
            interface: 0,
            interface_name: None,
            v6only: None,
            net_namespace: None,
            ip_protocol: None,
            owners: Vec::new(),
        }
    }

    /// A raw IP socket as the kernel reports one: the IP protocol in the
    /// local port's place (`inet_num`, which `ss` prints as the port), which
    /// is moved to [`Socket::ip_protocol`] so that nothing takes it for a
    /// port.
    pub fn raw(local: SocketAddr, remote: SocketAddr, state: SocketState) -> Self {
        let protocol = u8::try_from(local.port()).unwrap_or(u8::MAX);
        Socket {
            ip_protocol: Some(protocol),
            ..Socket::ip(
                Protocol::Raw,
                SocketAddr::new(local.ip(), 0),
                SocketAddr::new(remote.ip(), 0),
                state,
            )
        }
    }

    /// An IP socket with the given ends and state; queues, identity and
    /// owners empty (callers fill what their source knows).
    pub fn ip(
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
        state: SocketState,
    ) -> Self {
        let family = if local.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 };
        Socket { local: Some(local), remote: Some(remote), ..Socket::bare(protocol, family, state) }
    }

    /// A listener on `local`: TCP in LISTEN, or a bound, unconnected UDP
    /// socket; the peer is the unspecified address of the same family.
    pub fn listening(protocol: Protocol, local: SocketAddr) -> Self {
        let peer = match local {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let state =
            if protocol == Protocol::Udp { SocketState::Close } else { SocketState::Listen };
        Socket::ip(protocol, local, peer, state)
    }

    /// A Unix-domain socket; the uid is unknown (`u32::MAX`): unix_diag and
    /// `/proc/net/unix` do not report one.
    pub fn unix(kind: Option<UnixKind>, path: Option<String>, state: SocketState) -> Self {
        Socket {
            path,
            unix_kind: kind,
            uid: u32::MAX,
            ..Socket::bare(Protocol::Unix, Family::Unix, state)
        }
    }

    /// Local port, 0 for Unix sockets.
    pub fn local_port(&self) -> u16 {
        self.local.map_or(0, |address| address.port())
    }

    /// Remote port, 0 when not connected or for Unix sockets.
    pub fn remote_port(&self) -> u16 {
        self.remote.map_or(0, |address| address.port())
    }

    /// A TCP socket connected to itself: local and remote are the same
    /// address and port (a simultaneous open on loopback, which a client
    /// connecting to a free port in the ephemeral range can hit). No server
    /// is involved, and the one socket is both ends.
    pub fn connected_to_itself(&self) -> bool {
        match (self.local, self.remote) {
            (Some(local), Some(remote)) => {
                local.port() == remote.port()
                    && local.port() != 0
                    && local.ip().to_canonical() == remote.ip().to_canonical()
            }
            _ => false,
        }
    }

    /// Scope of the local address. A socket bound to the loopback device
    /// (`SO_BINDTODEVICE` `lo`) only sees packets that arrive on `lo`, which
    /// only this host sends: it is loopback whatever address it is bound to
    /// (`0.0.0.0` included).
    pub fn scope(&self) -> Scope {
        match self.local {
            Some(address) => Scope::of_bound(address.ip(), self.interface),
            None => Scope::Local,
        }
    }

    /// Whether another device could reach this socket.
    pub fn exposed(&self) -> bool {
        self.is_listener() && self.scope().is_exposed()
    }

    /// The local address as a client writes it: a link-local IPv6
    /// address with its interface as the zone (`[fe80::1%eth0]:80`), which
    /// a connect needs; any other address as it prints. `None` for Unix
    /// sockets.
    pub fn local_text(&self) -> Option<String> {
        let local = self.local?;
        Some(match (local, &self.interface_name) {
            (SocketAddr::V6(v6), Some(zone)) if v6.ip().segments()[0] & 0xffc0 == 0xfe80 => {
                format!("[{}%{zone}]:{}", v6.ip(), v6.port())
            }
            _ => local.to_string(),
        })
    }

    /// A socket that waits for others: TCP/Unix-stream LISTEN, or a bound,
    /// unconnected UDP or Unix datagram socket.
    pub fn is_listener(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == SocketState::Listen,
            Protocol::Udp => self.state == SocketState::Close && self.local_port() != 0,
            Protocol::Unix => match self.unix_kind {
                Some(UnixKind::Datagram) => self.state == SocketState::Close && self.path.is_some(),
                _ => self.state == SocketState::Listen,
            },
            // A raw socket receives every packet of its IP protocol: it
            // waits for nobody in particular and holds no port.
            Protocol::Raw => false,
        }
    }

    /// A stream listener whose accept queue is full: `Recv-Q` (connections
    /// waiting for `accept()`) reached `Send-Q` (the backlog). New clients
    /// then wait in SYN-SENT while the kernel drops their SYNs.
    pub fn accept_queue_full(&self) -> bool {
        self.is_listener()
            && self.protocol != Protocol::Udp
            && self.rx_queue > 0
            && self.rx_queue >= self.tx_queue
    }

    /// A TCP connection only the kernel still holds while it closes:
    /// TIME-WAIT, or an orphan (no inode: its process closed it or exited)
    /// in FIN-WAIT-1/2, CLOSING or LAST-ACK. It keeps its port from a bind
    /// without `SO_REUSEADDR` until it ends.
    pub fn is_closing(&self) -> bool {
        self.protocol == Protocol::Tcp
            && (self.state == SocketState::TimeWait
                || (self.inode == 0
                    && matches!(
                        self.state,
                        SocketState::FinWait1
                            | SocketState::FinWait2
                            | SocketState::Closing
                            | SocketState::LastAck
                    )))
    }

    /// The key of a listener (see [`ListenerKey`]); `None` for Unix.
    pub fn listener_key(&self) -> Option<ListenerKey> {
        Some((self.protocol, self.local?, self.net_namespace, self.interface))
    }

    /// Whether the listener accepts IPv4 clients on a dual-stack `::` bind
    /// (from this host only when it is bound to `lo`).
    pub fn is_dual_stack(&self) -> bool {
        self.family == Family::Ipv6
            && self.local.is_some_and(|address| address.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED))
            && self.v6only == Some(false)
    }

    /// Whether this listener is where a connection of `protocol` in
    /// `namespace` to `remote` arrived: a loopback address it serves, or the
    /// very address it is bound to (a wildcard listener does not make every
    /// destination local).
    pub fn listens_for(
        &self,
        protocol: Protocol,
        namespace: Option<u64>,
        remote: SocketAddr,
    ) -> bool {
        self.protocol == protocol
            && self.net_namespace == namespace
            && self.serves(remote)
            && (remote.ip().to_canonical().is_loopback()
                || self.local.map(|l| l.ip().to_canonical()) == Some(remote.ip().to_canonical()))
    }

    /// Whether a client connecting to `target` would reach this listener
    /// (same port; same address, or a wildcard of a family that serves it).
    pub fn serves(&self, target: SocketAddr) -> bool {
        let Some(local) = self.local else {
            return false;
        };
        if local.port() != target.port() || !self.is_listener() {
            return false;
        }
        let bound = local.ip();
        // A connection to a v4-mapped address (`::ffff:127.0.0.1`) leaves
        // as IPv4: IPv4 listeners and dual-stack `::` ones take it, a
        // v6-only `::` does not.
        let wanted = target.ip().to_canonical();
        if bound == wanted {
            return true;
        }
        match (bound, wanted) {
            (IpAddr::V4(b), IpAddr::V4(_)) => b.is_unspecified(),
            (IpAddr::V6(b), IpAddr::V6(_)) => b.is_unspecified(),
            // A dual-stack `::` socket takes IPv4 clients too; so does an
            // explicit v4-mapped bind of that address.
            (IpAddr::V6(b), IpAddr::V4(w)) => {
                (b.is_unspecified() && self.v6only != Some(true)) || b.to_ipv4_mapped() == Some(w)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// The most bytes of a process name (`comm`) the kernel keeps
/// (`TASK_COMM_LEN` less its NUL).
/// See: <https://man7.org/linux/man-pages/man5/proc_pid_comm.5.html>
pub const COMM_BYTES: usize = 15;

/// `name`, or `name (deleted)` when the process's executable was deleted
/// or replaced since it started: the one spelling of a live process
/// ([`Process::shown_name`]) and a recorded one
/// ([`monitor::ProcessIdentity::shown_name`]).
pub fn shown_name(name: &str, exe_deleted: bool) -> String {
    if exe_deleted {
        format!("{name} (deleted)")
    } else {
        name.to_string()
    }
}

/// Details of a process that owns at least one listed socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Process {
    pub pid: u32,
    /// Short name (`comm`, at most 15 bytes).
    pub name: String,
    /// Executable path, without the ` (deleted)` suffix.
    pub exe: Option<String>,
    /// The executable was deleted or replaced on disk after the start.
    pub exe_deleted: bool,
    /// The process lives in another mount namespace than porthole (a
    /// container, `unshare -m`) and `exe`, the path it sees there, does
    /// not lead to its program here; here it is under `/proc/PID/root`.
    pub exe_other_mount_namespace: bool,
    /// Command line arguments.
    pub cmdline: Vec<String>,
    pub uid: u32,
    /// User name for `uid`, when the user database knows it.
    pub user: Option<String>,
    /// Start time, seconds since the Unix epoch.
    pub start_time: Option<u64>,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22):
    /// with the pid, it tells a process from a later one that reused the pid.
    pub start_ticks: u64,
    /// One-letter process state from `/proc/PID/stat` (`R`, `S`, `T`, `t`…).
    pub state: char,
    pub parent_pid: u32,
    /// systemd unit (service or scope) the process belongs to.
    pub unit: Option<String>,
    /// For a unit of a per-user service manager (`user@UID.service`), that
    /// UID: the unit is stopped with `systemctl --user`.
    pub unit_manager_uid: Option<u32>,
    /// Container id (Docker, Podman, containerd) when the cgroup names one.
    pub container: Option<String>,
    /// Started by socket activation (systemd, `systemd-socket-activate`,
    /// inetd-like launchers): its environment names it in `LISTEN_PID`,
    /// and this is `LISTEN_FDS`, the sockets it was handed from descriptor
    /// 3 on. Of the processes holding such a socket, this one is the
    /// service; `None` when not, when its environment cannot be read, or
    /// when the listing did not ask for it (`Query::launch_environment`).
    pub listen_fds: Option<u32>,
    /// Its pid inside its own PID namespace (a container, `unshare -p`)
    /// when that namespace is below porthole's: `pid` stays the pid here,
    /// which signals and `/proc` take; this is the one its logs show.
    pub namespace_pid: Option<u32>,
}

impl Process {
    /// Whether this is the holder `porthole free --hold` starts (porthole
    /// re-executed with its hidden subcommand): its bound, non-listening
    /// sockets carry `SO_REUSEADDR`, so the server it holds for can bind.
    pub fn is_free_holder(&self) -> bool {
        self.name == "porthole"
            && self.cmdline.get(1).map(String::as_str) == Some(allocation::HOLDER_SUBCOMMAND)
    }

    /// Whether `ls --process NEEDLE` selects this process: its name
    /// contains NEEDLE. The kernel keeps only the first 15 bytes of a name
    /// (`systemd-resolved` is `systemd-resolve`), so a longer NEEDLE, which
    /// no such name can contain, matches a name cut there that it starts
    /// with, and the file name of the program (`exe`, else `argv[0]`)
    /// when that contains it.
    pub fn name_matches(&self, needle: &str) -> bool {
        if self.name.contains(needle) {
            return true;
        }
        let cut = os_text::to_bytes(&self.name).len() == COMM_BYTES;
        if os_text::to_bytes(needle).len() <= COMM_BYTES {
            return false;
        }
        let program = |path: &str| path.rsplit('/').next().unwrap_or(path).contains(needle);
        (cut && needle.starts_with(self.name.as_str()))
            || self.exe.as_deref().is_some_and(program)
            || self.cmdline.first().is_some_and(|argv0| program(argv0))
    }

    /// The name as every listing shows it: `name`, or `name (deleted)`
    /// when the executable was deleted or replaced since the start, so
    /// `ls`, `porthole PORT`, `top`, `kill` and `check` tell an old build
    /// still serving from the one on disk the same way. Other users' text:
    /// escape it before a terminal sees it.
    pub fn shown_name(&self) -> String {
        shown_name(&self.name, self.exe_deleted)
    }

    /// The command line joined with spaces, or the name when it is empty
    /// (kernel threads, zombies).
    pub fn command_line(&self) -> String {
        if self.cmdline.is_empty() {
            format!("[{}]", self.name)
        } else {
            self.cmdline.join(" ")
        }
    }

    /// Where the executable is from porthole's point of view: `exe` in
    /// porthole's mount namespace, else through the process's root
    /// (`/proc/PID/root/PATH`); for a deleted one, `/proc/PID/exe`, which
    /// still reads the running program. `None` when the exe cannot be read.
    pub fn exe_path_here(&self) -> Option<String> {
        let exe = self.exe.as_deref()?;
        Some(if self.exe_deleted {
            format!("/proc/{}/exe", self.pid)
        } else if self.exe_other_mount_namespace {
            format!("/proc/{}/root{exe}", self.pid)
        } else {
            exe.to_string()
        })
    }

    /// What is odd about the executable, for a note: deleted or replaced
    /// since the start, or a path of another mount namespace; `None` when
    /// nothing is.
    pub fn exe_remark(&self) -> Option<String> {
        let exe = self.exe.as_deref()?;
        match (self.exe_deleted, self.exe_other_mount_namespace) {
            (false, false) => None,
            (true, false) => Some(format!(
                "its executable {exe} was deleted or replaced after it started (an upgrade?); the \
                 running program is the old one, still readable at /proc/{}/exe",
                self.pid
            )),
            (false, true) => Some(format!(
                "its executable {exe} is a path in its own mount namespace (a container); from \
                 here it is {}",
                self.exe_path_here().unwrap_or_default()
            )),
            (true, true) => Some(format!(
                "its executable {exe} (a path in its own mount namespace) was deleted or \
                 replaced after it started; the running program is readable at /proc/{}/exe",
                self.pid
            )),
        }
    }

    /// The command that stops the process's systemd service, as it runs
    /// for the user porthole runs as (`caller_uid`): `systemctl stop UNIT`
    /// for a system unit, `systemctl --user stop UNIT` for the caller's
    /// own user unit, `systemctl --user -M USER@ stop UNIT` for another
    /// user's. `None` when it is not in a service.
    pub fn stop_service_command(&self, caller_uid: u32) -> Option<String> {
        self.service_command("stop", caller_uid)
    }

    /// `systemctl VERB UNIT` for the process's systemd service (`stop`,
    /// `restart`, `reload`), reaching a user unit through its own manager
    /// as [`Process::stop_service_command`] does.
    pub fn service_command(&self, verb: &str, caller_uid: u32) -> Option<String> {
        let unit = self.unit.as_deref().filter(|u| u.ends_with(".service"))?;
        let unit = crate::shell::word(unit);
        Some(match self.unit_manager_uid {
            None => format!("systemctl {verb} {unit}"),
            Some(uid) if uid == caller_uid => format!("systemctl --user {verb} {unit}"),
            Some(uid) => {
                let user = self.user.clone().filter(|_| self.uid == uid).unwrap_or(uid.to_string());
                format!("systemctl --user -M {}@ {verb} {unit}", crate::shell::word(&user))
            }
        })
    }

    /// `command` (shell words, already quoted) as this process would run
    /// it again: as its own user when porthole runs as another
    /// (`runuser -u USER --`, a uid when it has no name), and from
    /// `directory` (`cd DIR && …`), where its relative paths lead.
    pub fn start_command(&self, command: &str, directory: Option<&str>, caller_uid: u32) -> String {
        let command = if self.uid == caller_uid {
            command.to_string()
        } else {
            let user = self
                .user
                .clone()
                .filter(|user| !user.starts_with('#'))
                .unwrap_or_else(|| self.uid.to_string());
            format!("runuser -u {} -- {command}", crate::shell::printable_word(&user))
        };
        match directory {
            Some(directory) => {
                format!("cd {} && {command}", crate::shell::printable_word(directory))
            }
            None => command,
        }
    }

    /// Stopped by a signal (`T`) or by a debugger (`t`).
    pub fn is_stopped(&self) -> bool {
        matches!(self.state, 'T' | 't')
    }
}

/// A network namespace seen while listing with `--netns all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Namespace inode (`readlink /proc/PID/ns/net` → `net:[N]`).
    pub inode: u64,
    /// Whether it is the namespace porthole runs in.
    pub is_current: bool,
    /// Name under `/run/netns` when `ip netns` created it.
    pub name: Option<String>,
    /// A pid living in it, to tell the user who is there.
    pub example_pid: Option<u32>,
    /// Container id of that pid, when it is in a container.
    pub container: Option<String>,
}

impl Namespace {
    /// A short hint of who lives in the namespace: its `ip netns` name, a
    /// container id, or a pid and its name.
    pub fn hint(&self, processes: &BTreeMap<u32, Process>) -> String {
        if self.is_current {
            return "current".to_string();
        }
        if let Some(name) = &self.name {
            return format!("netns {name}");
        }
        if let Some(container) = &self.container {
            return format!("container {container}");
        }
        match self.example_pid {
            Some(pid) => match processes.get(&pid) {
                Some(process) => format!("pid {pid} ({})", process.name),
                None => format!("pid {pid}"),
            },
            None => "no process".to_string(),
        }
    }
}

/// Why some information is missing from a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    /// Sockets (with an inode) for which no owner could be found, for any
    /// reason; listings show their owner as `?`. Zero when owners were not
    /// scanned.
    pub sockets_without_visible_owner: usize,
    /// Why those owners could not be found, most likely first; empty when
    /// every socket with an inode has an owner.
    pub owner_gaps: Vec<OwnerGap>,
    /// Processes whose `/proc/PID/fd` could not be read (permission).
    pub unreadable_processes: usize,
    /// Processes that exited while they were being read (normal races).
    pub vanished_processes: usize,
    /// Namespaces that could not be entered or read.
    pub unreadable_namespaces: usize,
    /// Unix sockets holding descriptors sent with `SCM_RIGHTS` and not yet
    /// received, looked for only when no process holds some socket and
    /// nothing hides processes: such a socket may be one of them.
    pub in_flight: Vec<InFlight>,
}

/// Descriptors in flight on one Unix socket: sent with `SCM_RIGHTS`, not
/// yet received. The kernel says how many, not which files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// A process holding the Unix socket whose queue carries them.
    pub pid: u32,
    /// Its `comm` (another user's text).
    pub name: String,
    pub unix_inode: u64,
    pub descriptors: u32,
}

impl InFlight {
    /// `2 descriptor(s) in flight on a Unix socket (inode 7) held by
    /// python3 (pid 12)`.
    pub fn describe(&self) -> String {
        format!(
            "{} descriptor(s) in flight on a Unix socket (inode {}) held by {} (pid {})",
            self.descriptors, self.unix_inode, self.name, self.pid
        )
    }
}

impl Visibility {
    /// The one note that explains owners shown as `?`, or `None` when every
    /// owner was found.
    pub fn owner_note(&self) -> Option<String> {
        self.owner_note_for(self.sockets_without_visible_owner)
    }

    /// [`Self::owner_note`] for a listing that shows `shown` of those
    /// sockets (the rest were filtered out).
    pub fn owner_note_for(&self, shown: usize) -> Option<String> {
        if shown == 0 {
            return None;
        }
        let mut reasons = OwnerGap::describe_all(&self.owner_gaps);
        if !self.in_flight.is_empty() {
            let places: Vec<String> = self.in_flight.iter().map(InFlight::describe).collect();
            reasons.push(format!("right now {}, which may be them", places.join(", ")));
        }
        Some(format!(
            "{shown} socket(s) have no visible owner (shown as ?): {}",
            reasons.join("; ")
        ))
    }

    /// For a listing filtered by owner (`--pid`, `--process`): the sockets
    /// left out because their owner could not be seen, which may be the
    /// ones asked for; `None` when every owner was seen or only the kernel
    /// holds the unseen ones. Running as root, only a refused process can
    /// hide one: the note is left out when none of them is the one asked
    /// for, since every other process's descriptors were read.
    pub fn hidden_from_owner_filter_note(
        &self,
        filter: &str,
        asked: &OwnerFilter<'_>,
    ) -> Option<String> {
        if self.sockets_without_visible_owner == 0 {
            return None;
        }
        let may_hide = |gap: &&OwnerGap| match gap {
            OwnerGap::NoProcess => false,
            OwnerGap::RefusedToRoot { pids, names, .. } => match asked {
                OwnerFilter::Pid(pid) => pids.contains(pid),
                OwnerFilter::Name(needle) => {
                    // A name that could not be read may be the one asked.
                    names.len() < pids.len()
                        || names.iter().any(|name| name.is_empty() || name.contains(needle))
                }
            },
            _ => true,
        };
        let reasons: Vec<String> =
            self.owner_gaps.iter().filter(may_hide).map(OwnerGap::describe).collect();
        if reasons.is_empty() {
            return None;
        }
        Some(format!(
            "{} socket(s) whose owner could not be seen are not listed, and {filter} may own some \
             of them: {}",
            self.sockets_without_visible_owner,
            reasons.join("; ")
        ))
    }
}

/// The owner a listing was filtered by (`ls --pid`, `ls --process`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter<'a> {
    Pid(u32),
    /// A part of the process name.
    Name(&'a str),
}

/// A reason why the process holding a socket could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerGap {
    /// Not running as root: other users' `/proc/PID/fd` cannot be read.
    NotRoot {
        /// Processes whose fd table was refused (0 when `/proc` does not
        /// even list them).
        unreadable_processes: usize,
    },
    /// Not running as root, and processes of porthole's own user refused
    /// their fd tables too: a program that is not dumpable (setuid or
    /// setgid, or one that called `prctl(PR_SET_DUMPABLE, 0)`) hides its
    /// descriptors, `exe` and environment from its own user.
    OwnUserUnreadable {
        /// Those processes, ascending.
        pids: Vec<u32>,
    },
    /// `/proc` is mounted with `hidepid`: other users' processes are not
    /// listed at all (root is exempt).
    HiddenProcesses {
        /// The mount option as written, e.g. `hidepid=invisible`.
        option: String,
    },
    /// Running as root, the kernel still refused porthole these processes'
    /// descriptors: reading `/proc/PID/fd` links is a ptrace access check,
    /// which root fails without `CAP_SYS_PTRACE` against a process holding
    /// capabilities porthole lacks, or when a security module (Landlock,
    /// AppArmor, SELinux, a BPF LSM) confines porthole.
    RefusedToRoot {
        /// Those processes, ascending.
        pids: Vec<u32>,
        /// Their names (`/proc/PID/comm`, which stays readable), in the
        /// order of `pids`; empty where it could not be read.
        names: Vec<String>,
        /// porthole's effective set lacks `CAP_SYS_PTRACE`.
        without_ptrace_capability: bool,
    },
    /// porthole runs in a PID namespace of its own (a container, `unshare
    /// -p`) but shares the network namespace: the sockets' owners live
    /// outside its `/proc`.
    OtherPidNamespace,
    /// Nothing hides processes: only the kernel holds the socket (an
    /// in-kernel server such as nfsd, or a descriptor passed with
    /// `SCM_RIGHTS` that is still queued, unreceived, in a Unix socket), or
    /// it was closed while porthole was listing.
    NoProcess,
}

impl OwnerGap {
    /// One clause per reason, in order, for a note that joins them with
    /// "; ": "no process holds them" after a reason that may explain them
    /// reads as the alternative.
    pub fn describe_all(gaps: &[OwnerGap]) -> Vec<String> {
        gaps.iter()
            .enumerate()
            .map(|(index, gap)| match gap {
                OwnerGap::NoProcess if index > 0 => format!("if none does, {}", gap.describe()),
                _ => gap.describe(),
            })
            .collect()
    }

    /// One clause for the note on stderr.
    pub fn describe(&self) -> String {
        match self {
            OwnerGap::NotRoot { unreadable_processes: 0 } => {
                "not running as root, so other users' processes cannot be read; run as root to see them".to_string()
            }
            OwnerGap::NotRoot { unreadable_processes } => format!(
                "not running as root, so {unreadable_processes} process(es) of other users could not be read; run as root to see them"
            ),
            OwnerGap::OwnUserUnreadable { pids } => format!(
                "{} process(es) of porthole's own user could not be read either (pid {}): a program that is not dumpable (setuid, or prctl PR_SET_DUMPABLE 0) hides its descriptors and executable from its own user; run as root to see them",
                pids.len(),
                pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            OwnerGap::HiddenProcesses { option } => format!(
                "/proc is mounted with {option}, which hides other users' processes"
            ),
            OwnerGap::RefusedToRoot { pids, without_ptrace_capability, .. } => {
                const SHOWN: usize = 10;
                let mut listed: Vec<String> = pids.iter().take(SHOWN).map(u32::to_string).collect();
                if pids.len() > SHOWN {
                    listed.push("…".to_string());
                }
                let why = if *without_ptrace_capability {
                    "porthole runs without CAP_SYS_PTRACE, and without it the kernel shows root only the descriptors of processes whose capabilities porthole holds too; run porthole with CAP_SYS_PTRACE (outside the container or sandbox that drops it) to see them"
                } else {
                    "porthole has CAP_SYS_PTRACE, so a security module that confines porthole (Landlock, AppArmor, SELinux or a BPF LSM) refused it; run porthole outside that confinement to see them"
                };
                format!(
                    "even as root, porthole was refused the descriptors of {} process(es) (pid {}), any of which may hold these sockets: {why}",
                    pids.len(),
                    listed.join(", ")
                )
            }
            OwnerGap::OtherPidNamespace => "porthole runs in its own PID namespace, so processes outside it (which may hold these sockets) are not in its /proc; run it in the host's PID namespace to see them".to_string(),
            OwnerGap::NoProcess => {
                "no process holds them: only the kernel does (an in-kernel server, or a descriptor in flight in a Unix-socket message nobody has received yet), or they were closed while porthole was listing".to_string()
            }
        }
    }

    /// A stable identifier for JSON.
    pub fn code(&self) -> &'static str {
        match self {
            OwnerGap::NotRoot { .. } => "not_root",
            OwnerGap::OwnUserUnreadable { .. } => "own_user_unreadable",
            OwnerGap::HiddenProcesses { .. } => "hidepid",
            OwnerGap::RefusedToRoot { .. } => "refused_to_root",
            OwnerGap::OtherPidNamespace => "other_pid_namespace",
            OwnerGap::NoProcess => "no_process",
        }
    }
}

/// Which kernel interface produced the sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Netlink,
    Procfs,
    /// Netlink for every socket but the raw ones, read from
    /// `/proc/net/raw{,6}` because the kernel has no `raw_diag`.
    NetlinkRawFromProcfs,
}

/// Everything one inventory run saw.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sockets: Vec<Socket>,
    /// Details of the processes named in `Socket::owners`.
    pub processes: BTreeMap<u32, Process>,
    /// Namespaces listed (only with `--netns all`).
    pub namespaces: Vec<Namespace>,
    pub visibility: Visibility,
    /// User names of the sockets' uids (the kernel reports a uid even when
    /// the owning process cannot be seen), filled when owners are scanned.
    pub user_names: BTreeMap<u32, String>,
    /// `None` when the snapshot was assembled by hand (tests, fakes).
    pub source: Option<Source>,
}

impl Snapshot {
    /// Processes owning `socket`, in pid order, skipping ones without details.
    pub fn owners_of<'a>(&'a self, socket: &'a Socket) -> impl Iterator<Item = &'a Process> + 'a {
        socket.owners.iter().filter_map(|pid| self.processes.get(pid))
    }

    /// Listeners on `port` for IP protocols.
    pub fn listeners_on(&self, port: u16) -> impl Iterator<Item = &Socket> {
        self.sockets
            .iter()
            .filter(move |socket| socket.is_listener() && socket.local_port() == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_longer_than_the_kernel_keeps_matches_the_cut_name_and_the_program() {
        let process = |name: &str, exe: Option<&str>, argv0: &str| Process {
            name: name.into(),
            exe: exe.map(Into::into),
            cmdline: vec![argv0.into()],
            ..Process::default()
        };
        let resolved = process(
            "systemd-resolve",
            Some("/usr/lib/systemd/systemd-resolved"),
            "/usr/lib/systemd/systemd-resolved",
        );
        assert!(resolved.name_matches("resolve"));
        assert!(resolved.name_matches("systemd-resolved"));
        assert!(!resolved.name_matches("systemd-timesyncd"));
        // Named with prctl: only the cut name says who it is.
        let worker = process("worker-with-a-l", Some("/usr/bin/python3.11"), "python3");
        assert!(worker.name_matches("worker-with-a-long-name"));
        assert!(!worker.name_matches("worker-with-a-short-name-not"));
        // A name of fewer than 15 bytes is whole: nothing longer matches it.
        assert!(!process("nginx", None, "nginx").name_matches("nginx-but-longer"));
        // Up to 15 bytes, only the name counts, as before.
        assert!(!process("python3", Some("/usr/bin/python3.11"), "python3").name_matches("3.11"));
    }

    fn tcp_listener(address: &str, v6only: Option<bool>) -> Socket {
        let local: SocketAddr = address.parse().unwrap();
        Socket { inode: 1, tx_queue: 128, v6only, ..Socket::listening(Protocol::Tcp, local) }
    }

    #[test]
    fn scope_classifies_addresses() {
        assert_eq!(Scope::of_address("127.0.0.5".parse().unwrap()), Scope::Loopback);
        assert_eq!(Scope::of_address("::1".parse().unwrap()), Scope::Loopback);
        assert_eq!(Scope::of_address("::ffff:127.0.0.1".parse().unwrap()), Scope::Loopback);
        assert_eq!(Scope::of_address("0.0.0.0".parse().unwrap()), Scope::Wildcard);
        assert_eq!(Scope::of_address("::".parse().unwrap()), Scope::Wildcard);
        assert_eq!(Scope::of_address("::ffff:0.0.0.0".parse().unwrap()), Scope::Wildcard);
        assert_eq!(Scope::of_address("10.1.2.3".parse().unwrap()), Scope::Specific);
        assert!(Scope::Specific.is_exposed());
        assert!(!Scope::Loopback.is_exposed());
    }

    #[test]
    fn connects_go_where_linux_sends_them() {
        let to = |text: &str| connect_destination(text.parse().unwrap()).to_string();
        assert_eq!(to("0.0.0.0"), "127.0.0.1");
        assert_eq!(to("::"), "::1");
        assert_eq!(to("::ffff:0.0.0.0"), "127.0.0.1");
        assert_eq!(to("::ffff:127.0.0.1"), "127.0.0.1");
        assert_eq!(to("127.0.0.2"), "127.0.0.2");
        assert_eq!(to("fe80::1"), "fe80::1");
    }

    #[test]
    fn serves_respects_family_and_dual_stack() {
        let v4_loopback = tcp_listener("127.0.0.1:80", None);
        assert!(v4_loopback.serves("127.0.0.1:80".parse().unwrap()));
        assert!(!v4_loopback.serves("[::1]:80".parse().unwrap()));
        assert!(!v4_loopback.serves("127.0.0.1:81".parse().unwrap()));

        let mapped = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert!(v4_loopback.serves(mapped), "a v4-mapped address is reached over IPv4");

        let dual = tcp_listener("[::]:80", Some(false));
        assert!(dual.serves("127.0.0.1:80".parse().unwrap()));
        assert!(dual.serves("[::1]:80".parse().unwrap()));
        assert!(dual.serves(mapped));
        assert!(dual.is_dual_stack());

        let v6_only = tcp_listener("[::]:80", Some(true));
        assert!(!v6_only.serves("127.0.0.1:80".parse().unwrap()));
        assert!(!v6_only.serves(mapped), "IPv4 never reaches a v6-only socket");

        let v4_any = tcp_listener("0.0.0.0:80", None);
        assert!(v4_any.serves("127.0.0.2:80".parse().unwrap()));
        assert!(!v4_any.serves("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn states_round_trip_and_parse() {
        for number in 1..=11u8 {
            assert_eq!(SocketState::from_kernel(number).kernel_number(), number);
        }
        assert_eq!(SocketState::parse_user("listen"), Some(SocketState::Listen));
        assert_eq!(SocketState::parse_user("time_wait"), Some(SocketState::TimeWait));
        assert_eq!(SocketState::parse_user("ESTAB"), Some(SocketState::Established));
        assert_eq!(SocketState::parse_user("bogus"), None);
    }

    #[test]
    fn a_service_is_stopped_with_the_systemctl_that_reaches_it() {
        let system = Process { uid: 33, unit: Some("nginx.service".into()), ..Process::default() };
        assert_eq!(system.stop_service_command(0).as_deref(), Some("systemctl stop nginx.service"));
        let user = Process {
            uid: 1000,
            user: Some("dev".into()),
            unit: Some("vite.service".into()),
            unit_manager_uid: Some(1000),
            ..Process::default()
        };
        assert_eq!(
            user.stop_service_command(1000).as_deref(),
            Some("systemctl --user stop vite.service")
        );
        assert_eq!(
            user.stop_service_command(0).as_deref(),
            Some("systemctl --user -M dev@ stop vite.service")
        );
        let scope = Process { unit: Some("session-3.scope".into()), ..Process::default() };
        assert_eq!(scope.stop_service_command(0), None);
    }
}
