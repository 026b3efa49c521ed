//! Alerts of `porthole monitor`: a change the alert rules (`crate::alerts`)
//! judged worth telling someone about, produced from the recorder's events
//! and printed by `crate::render::alert`.

use std::net::SocketAddr;

use super::monitor::{ProcessIdentity, UnixMicros};
use super::{Finding, Protocol};

/// Which rule raised an alert. The ids are part of the interface (log
/// lines, JSON, the config file): never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// A listener bound beyond loopback appeared.
    NewExposedListener,
    /// A listener appeared on a port the configuration watches.
    WatchedPort,
    /// A listener appeared whose owner is not one of the expected users.
    UnexpectedUser,
    /// The passive audit of a new listener found something at or above the
    /// configured severity.
    AuditFinding,
    /// A client executable never seen before connected to a sensitive port.
    NewClient,
}

impl AlertKind {
    /// The id in log lines and JSON (`new-exposed-listener`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NewExposedListener => "new-exposed-listener",
            AlertKind::WatchedPort => "watched-port",
            AlertKind::UnexpectedUser => "unexpected-user",
            AlertKind::AuditFinding => "audit-finding",
            AlertKind::NewClient => "new-client",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// When the change behind it was observed.
    pub at: UnixMicros,
    pub kind: AlertKind,
    pub protocol: Protocol,
    /// The listener's address, or the server end a new client reached;
    /// `None` for Unix sockets.
    pub local: Option<SocketAddr>,
    /// Unix socket path, for listeners without an address.
    pub path: Option<String>,
    /// Network namespace inode; `None` for the recorder's own namespace.
    pub net_namespace: Option<u64>,
    /// The listener's owner, or the new client.
    pub process: Option<ProcessIdentity>,
    /// Socket uid as the kernel reported it (the listener's, or the
    /// client end's).
    pub uid: Option<u32>,
    /// For [`AlertKind::NewClient`]: the server holding the port.
    pub server_process: Option<ProcessIdentity>,
    /// For [`AlertKind::AuditFinding`]: what the audit rule found.
    pub finding: Option<Finding>,
    /// Why it was raised, one short sentence (may quote other users' text:
    /// user and executable names).
    pub reason: String,
}
