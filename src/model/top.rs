//! What `porthole top` shows: one frame of the live view — every listener
//! with its owners, connection counts, rates and accept-queue fill, the
//! connections of each, and the recent changes.
//!
//! The `top` engine builds a [`TopFrame`] per refresh from two samples; the
//! terminal view, `--once`, `--json` and `--jsonl` all render the same frame,
//! as bandwhich renders one UI state both as a TUI and as raw output.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{Process, Socket, SocketState, Visibility};

/// Byte counters of one TCP socket, as `tcp_info` reports them in a
/// sock_diag dump (or in the destroy notification when it closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpCounters {
    /// Socket cookie: the key that ties samples of one socket together.
    pub cookie: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: SocketState,
    /// Socket inode (0 once the socket has no file, e.g. TIME-WAIT).
    pub inode: u64,
    pub uid: u32,
    /// Bytes this end sent that the peer acknowledged (`tcpi_bytes_acked`).
    pub bytes_acked: u64,
    /// Bytes this end received (`tcpi_bytes_received`).
    pub bytes_received: u64,
}

/// Whether connections shorter than one refresh can be counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShortLivedCapture {
    /// The sock_diag destroy multicast is subscribed: every close is seen.
    Available,
    /// It could not be subscribed; `reason` says why (e.g. no
    /// CAP_NET_ADMIN) and connections opened and closed between two
    /// refreshes are not counted.
    Unavailable { reason: String },
}

/// How a listener changed recently, for highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerChange {
    /// First seen at this refresh or within the highlight period.
    Appeared,
    /// Gone; kept in the frame for the highlight period.
    Disappeared,
}

/// One connection to a listener, from the server's side.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRow {
    /// The client's address (the server socket's remote end).
    pub client: SocketAddr,
    /// The server's address (the accepted socket's local end).
    pub server: SocketAddr,
    pub state: SocketState,
    /// Process holding the client end, when the client is on this machine
    /// and visible.
    pub client_pids: Vec<u32>,
    /// Bytes per second received by the server over the last interval.
    pub bytes_in_per_second: f64,
    /// Bytes per second sent by the server over the last interval.
    pub bytes_out_per_second: f64,
    /// Total bytes received and sent by the server end so far.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// One listener row.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerRow {
    /// The listening socket (owners' pids in `socket.owners`).
    pub socket: Socket,
    /// Open connections accepted from it (ESTABLISHED and closing states).
    pub open_connections: usize,
    /// New connections per second over the last interval, including ones
    /// that opened and closed in between when short-lived capture works.
    pub new_per_second: f64,
    /// Bytes per second received by its connections.
    pub bytes_in_per_second: f64,
    /// Bytes per second sent by its connections.
    pub bytes_out_per_second: f64,
    /// Connections waiting in the accept queue, and the queue's size (the
    /// backlog `listen()` asked for, capped by `net.core.somaxconn`).
    pub accept_queue: Option<(u32, u32)>,
    /// Since when it listens, seconds since the Unix epoch: exact when
    /// `top` saw it appear; otherwise the start of its oldest owner (the
    /// kernel does not record when a socket started listening); `None`
    /// when it was there before `top` started and no owner is visible.
    pub since: Option<u64>,
    /// `since` is when `top` saw it appear, not an estimate.
    pub since_exact: bool,
    /// Recent change, for highlighting.
    pub change: Option<ListenerChange>,
    /// Its open connections (filled for every row; a view shows them for
    /// the selected one).
    pub connections: Vec<ConnectionRow>,
}

/// A change worth a line in the event strip.
#[derive(Debug, Clone, PartialEq)]
pub struct TopEvent {
    /// When it was seen, seconds since the Unix epoch.
    pub at: u64,
    pub change: ListenerChange,
    /// The listener (its last known socket, owners included).
    pub socket: Socket,
    /// Its owners as they were when last seen: a process that went away
    /// is still named.
    pub processes: Vec<Process>,
}

/// One refresh of the live view.
#[derive(Debug, Clone, PartialEq)]
pub struct TopFrame {
    /// When the frame was taken, seconds since the Unix epoch.
    pub at: u64,
    /// Seconds between this sample and the previous one (rates use it).
    pub interval_seconds: f64,
    pub listeners: Vec<ListenerRow>,
    /// Details of every process named in `listeners` and their
    /// connections.
    pub processes: BTreeMap<u32, Process>,
    /// Recent listener changes, newest last.
    pub events: Vec<TopEvent>,
    pub short_lived: ShortLivedCapture,
    /// What could not be seen (owners of other users without root).
    pub visibility: Visibility,
    /// TCP listeners that came and went between two refreshes, so never
    /// had a row; known only through the closes of connections they
    /// served (see [`FleetingListener`]).
    pub fleeting: Vec<FleetingListener>,
}

/// A TCP listener that lived less than one refresh. The destroy feed
/// reports its close exactly as that of a socket that was only bound (a
/// port probe), so it is named only when the server ends of connections
/// on its address closed too.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetingListener {
    pub local: std::net::SocketAddr,
    /// Connections it served that closed between the two refreshes.
    pub connections: u64,
    /// Their payload bytes in and out.
    pub bytes_in: u64,
    pub bytes_out: u64,
}
