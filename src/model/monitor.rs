//! Records of `porthole monitor`: what the capture engine observes and the
//! history store keeps.
//!
//! These types are the contract between the two halves of the recorder. The
//! capture engine (`monitor`) turns kernel events — sock_diag dumps and
//! destroy notifications, the process connector, eBPF tracepoints — into
//! [`MonitorEvent`]s; the store (`store`) writes them in batches and answers
//! `porthole history` from them. Neither half needs the other to be tested:
//! the capture can be checked against its JSON Lines output, the store
//! against hand-made events.
//!
//! Times are microseconds since the Unix epoch (UTC) in an `i64`, the unit
//! both SQLite and PostgreSQL index cheaply and that keeps ordering exact for
//! connections that live less than a millisecond.

use std::net::SocketAddr;

use super::{Family, Protocol, Scope};

/// Microseconds since the Unix epoch, UTC.
pub type UnixMicros = i64;

/// How connections are captured; printed at start and stored with the data
/// so that a reader knows which fields to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureMode {
    /// The eBPF tracepoint `sock:inet_sock_set_state` (BTF) attributes
    /// both ends of every connection, however short.
    Ebpf,
    /// sock_diag destroy multicast plus periodic dumps: every close with its
    /// 4-tuple, uid, bytes and cookie; pids only for connections that were
    /// alive during a dump (or whose process the connector saw).
    Netlink,
}

/// A process as the recorder saw it. `pid` plus `start_time` identifies it
/// even after the pid is reused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessIdentity {
    pub pid: u32,
    /// Start time, seconds since the Unix epoch (as [`super::Process`]);
    /// `None` when the process exited before it could be read.
    pub start_time: Option<u64>,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22,
    /// [`USER_HZ`] a second), as both capture modes read it (eBPF's
    /// nanoseconds cut to ticks, as the kernel does for `/proc`): with
    /// `start_time` it tells apart two processes given one pid within one
    /// second. `None` when not read, as in records of history schema 4 and
    /// earlier.
    pub start_ticks: Option<u64>,
    /// Short name (`comm`).
    pub name: String,
    /// Executable path, when it could be read.
    pub exe: Option<String>,
    /// The executable was deleted or replaced on disk after the process
    /// started (an old build still serving after an upgrade), when the
    /// recorder read it. False when not known: a process that exited
    /// before it was read, records of history schema 3 and earlier.
    pub exe_deleted: bool,
    /// Command line arguments; empty when unknown.
    pub cmdline: Vec<String>,
    pub uid: u32,
    /// User name for `uid`, when the user database knows it.
    pub user: Option<String>,
    /// systemd unit (service or scope).
    pub unit: Option<String>,
    /// Container id when the cgroup names one.
    pub container: Option<String>,
}

/// Clock ticks a second in `/proc` (the kernel's `USER_HZ`, 100 on every
/// architecture porthole runs on): what a start time's fraction of a
/// second is counted in.
pub const USER_HZ: u64 = 100;

impl ProcessIdentity {
    /// Hundredths of a second after `start_time` the process started, when
    /// its start was read to the tick.
    pub fn start_hundredths(&self) -> Option<u64> {
        self.start_ticks.map(|ticks| ticks % USER_HZ * 100 / USER_HZ)
    }

    /// The name as the listings show it: `name (deleted)` when the
    /// executable was deleted since the start, as `ls` says it. Other
    /// users' text: escape it before a terminal sees it.
    pub fn shown_name(&self) -> String {
        super::shown_name(&self.name, self.exe_deleted)
    }
}

/// Whether a listener came or went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerChange {
    Appeared,
    Disappeared,
}

/// A TCP/UDP listener or a Unix listening socket that appeared or went away.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerEvent {
    /// When the change was observed.
    pub at: UnixMicros,
    pub change: ListenerChange,
    pub protocol: Protocol,
    pub family: Family,
    /// Local address for TCP/UDP.
    pub local: Option<SocketAddr>,
    /// Path (or `@abstract` name) for Unix sockets.
    pub path: Option<String>,
    /// Socket inode; together with `net_namespace` it identifies the socket.
    pub inode: u64,
    /// Owner uid as the kernel reports it for the socket.
    pub uid: u32,
    /// Network namespace inode; `None` for the recorder's own namespace.
    pub net_namespace: Option<u64>,
    pub scope: Scope,
    /// Reachable from another device (non-loopback bind, not firewalled
    /// as far as the recorder knows).
    pub exposed: bool,
    /// `IPV6_V6ONLY` of an IPv6 TCP/UDP socket: an `[::]` listener with it
    /// set takes no IPv4 client. `None` for IPv4 and Unix sockets, and when
    /// the source could not read it (and in history stores of schema 1).
    pub v6only: Option<bool>,
    /// Every process holding the socket when it was seen.
    pub owners: Vec<ProcessIdentity>,
}

impl ListenerEvent {
    /// Whether an `[::]` listener also takes IPv4 clients (`IPV6_V6ONLY`
    /// off); `None` for other addresses and when the flag is unknown.
    pub fn dual_stack(&self) -> Option<bool> {
        match (self.family, self.scope) {
            (Family::Ipv6, Scope::Wildcard) => self.v6only.map(|v6only| !v6only),
            _ => None,
        }
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionEnd {
    /// Orderly close (FIN handshake, TIME-WAIT or CLOSE).
    Closed,
    /// Reset by either side.
    Reset,
    /// An end gave up: its data or FIN went unacknowledged through every
    /// retransmission (or keepalive probe) until the kernel dropped it.
    TimedOut,
    /// The recorder stopped (or lost track) while the connection was open.
    Unknown,
}

/// One TCP connection whose server end is on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// The kernel's socket cookie of the server-side (accepted) socket when
    /// known, else of the client-side socket; unique per boot.
    pub cookie: u64,
    /// Network namespace inode; `None` for the recorder's own namespace.
    pub net_namespace: Option<u64>,
    /// Client end (the side that called `connect`).
    pub client: SocketAddr,
    /// Server end (the listener's address as the client reached it).
    pub server: SocketAddr,
    /// When the connection was established, when known.
    pub started_at: Option<UnixMicros>,
    /// When it ended; `None` while it is still open.
    pub ended_at: Option<UnixMicros>,
    /// Bytes the client sent (acknowledged by the server side).
    pub bytes_client_to_server: u64,
    /// Bytes the server sent.
    pub bytes_server_to_client: u64,
    pub client_process: Option<ProcessIdentity>,
    pub server_process: Option<ProcessIdentity>,
    /// Socket uids as the kernel reported them (present even without pids).
    pub client_uid: Option<u32>,
    pub server_uid: Option<u32>,
    pub end: ConnectionEnd,
}

/// Why the recorder missed something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// The netlink receive buffer overflowed (`ENOBUFS`): events were dropped.
    NetlinkOverflow,
    /// The eBPF ring buffer was full: events were dropped in the kernel.
    RingBufferFull,
    /// A server end closed whose start was never seen although it began
    /// while recording (eBPF mode): its start event was lost. Server ends
    /// open before the recorder started, and server ends no process closed
    /// (reset, never accepted, closed by a kernel worker), are not counted.
    UnmatchedCookie,
    /// A pid was reported but the process had exited before it was read.
    UnknownProcess,
    /// The store could not keep up and a batch was dropped.
    StoreBacklog,
    /// The kernel skipped an eBPF program run because another BPF program
    /// was running on the same CPU (`recursion_misses`); the connection is
    /// still recorded from its close, possibly without a pid.
    ProgramSkipped,
    /// A bound UDP socket with no peer (a UDP listener) was destroyed that
    /// no dump had seen (netlink mode): it came and went between two
    /// dumps, and its owner and start are unknown.
    UnseenListener,
}

/// A count of losses of one kind, stored with the data so gaps are visible.
#[derive(Debug, Clone, PartialEq)]
pub struct LossRecord {
    pub at: UnixMicros,
    pub kind: LossKind,
    pub count: u64,
    pub net_namespace: Option<u64>,
}

/// Everything the capture engine emits.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// The recorder started (or changed) capture mode; `reason` says why this
    /// mode was chosen, e.g. "eBPF unavailable: CAP_BPF missing".
    Started {
        at: UnixMicros,
        mode: CaptureMode,
        reason: String,
    },
    Listener(ListenerEvent),
    /// Boxed: a connection record is several times larger than the
    /// other variants, and batches hold thousands of events.
    Connection(Box<ConnectionRecord>),
    Loss(LossRecord),
    /// The connections open when the recorder started (see
    /// [`OpenSnapshot`]): rows an earlier run left open for any other
    /// connection are ended.
    OpenSnapshot(OpenSnapshot),
}

/// Which connections were open in the recorded namespaces when the
/// recorder took its startup snapshot.
///
/// A row a store holds open (`ended_at` unset) whose connection is in
/// [`OpenSnapshot::scope`] but not in [`OpenSnapshot::open`] closed while no
/// recorder ran, or the machine rebooted: the store ends it with
/// [`ConnectionEnd::Unknown`] and `ended_at` set to [`OpenSnapshot::at`],
/// which reads "ended by then" (the last report before it is the latest
/// time it was known open). It is emitted before the open reports of the
/// connections it lists.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSnapshot {
    /// When the snapshot was taken.
    pub at: UnixMicros,
    /// When this machine booted: a row that began before it belongs to an
    /// earlier boot, whose socket cookies the kernel hands out again, and
    /// is ended even when its key is open now. `None` when unknown.
    pub booted_at: Option<UnixMicros>,
    pub scope: SnapshotScope,
    /// Server-end socket cookie and namespace of every connection open at
    /// `at` (the key of its row, as in [`ConnectionRecord`]).
    pub open: Vec<(u64, Option<u64>)>,
    /// Inode of the recorder's own network namespace, the one its rows
    /// label `None`: a row an earlier recorder in another namespace
    /// labelled with this inode is a row of this recorder's namespace.
    pub own_namespace: u64,
    /// Whether socket cookies are unique on the whole machine (Linux 5.12
    /// and later hand them out from one counter; earlier kernels count per
    /// namespace): then a listed cookie is the connection of an open row
    /// with that cookie whatever namespace label an earlier recorder gave
    /// the row.
    pub unique_cookies: bool,
}

/// The namespaces an [`OpenSnapshot`] speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotScope {
    /// The recorder's own namespace (`--netns current`): rows labelled with
    /// no namespace.
    Own,
    /// Every namespace (`--netns all`) except those that could not be read,
    /// by inode, whose rows are left as they are.
    All { unread: Vec<u64> },
}

impl SnapshotScope {
    /// Whether a recorder whose own namespace is `own` speaks for rows of
    /// `net_namespace`: its own namespace's rows, `None` or labelled with
    /// its inode by a recorder elsewhere, and with `--netns all` every
    /// other namespace it read.
    pub fn covers(&self, own: u64, net_namespace: Option<u64>) -> bool {
        match (self, net_namespace) {
            (_, None) => true,
            (_, Some(inode)) if inode == own => true,
            (SnapshotScope::Own, Some(_)) => false,
            (SnapshotScope::All { unread }, Some(inode)) => !unread.contains(&inode),
        }
    }
}

/// Whether socket cookies are unique machine-wide on the kernel whose
/// release (`/proc/sys/kernel/osrelease`, `6.1.0-13-amd64`) is `release`:
/// from Linux 5.12 on one counter serves every namespace.
///
/// See: <https://git.kernel.org/torvalds/c/92acdc58ab11>
pub fn cookies_unique_in(release: &str) -> bool {
    let mut numbers =
        release.trim().split(|c: char| !c.is_ascii_digit()).map(|part| part.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 12),
        _ => false,
    }
}

/// An error from an [`EventSink`]; sinks wrap their own typed errors (a
/// store's `StoreError`, an I/O error of the JSON Lines printer).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where the capture engine sends what it records: the JSON Lines printer of
/// `porthole monitor --jsonl`, the SQLite store, the PostgreSQL store.
pub trait EventSink {
    /// Writes one batch, events in the order they were observed. The capture
    /// engine calls this about once a second (sooner when a batch grows
    /// large); an error stops recording loudly, it is never ignored.
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError>;

    /// Called about every 100 ms between batches: a sink that also relays
    /// what arrives from elsewhere (`--jsonl`'s alert lines, raised by the
    /// audit thread after the batch that named the listener) writes it
    /// here, so it does not wait for the next event, which may never come.
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_unique_from_linux_5_12() {
        for (release, unique) in [
            ("6.18.0-1-amd64\n", true),
            ("5.12.0", true),
            ("5.11.22-generic", false),
            ("4.19.0-27-amd64", false),
            ("10.0", true),
            ("", false),
            ("garbage", false),
        ] {
            assert_eq!(cookies_unique_in(release), unique, "{release:?}");
        }
    }

    /// A `--netns current` recorder speaks for the rows of its namespace
    /// that a `--netns all` recorder elsewhere labelled with its inode, and
    /// for no other namespace's.
    #[test]
    fn a_scope_covers_its_own_namespace_under_either_label() {
        let own = 4026531840;
        assert!(SnapshotScope::Own.covers(own, None));
        assert!(SnapshotScope::Own.covers(own, Some(own)));
        assert!(!SnapshotScope::Own.covers(own, Some(7)));
        let all = SnapshotScope::All { unread: vec![7] };
        assert!(all.covers(own, Some(own)) && all.covers(own, Some(8)));
        assert!(!all.covers(own, Some(7)));
    }
}
