//! What `porthole free` found: the ports, the range searched, and why
//! candidates were passed over. Produced by `crate::allocation`, printed by
//! `crate::render`.

use std::net::SocketAddr;

/// The hidden subcommand `porthole free --hold` re-executes porthole with
/// to keep the ports: it also tells the holder apart from other processes
/// with a bound, non-listening socket ([`super::Process::is_free_holder`]).
pub const HOLDER_SUBCOMMAND: &str = "__hold";

/// Why a candidate was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Ephemeral,
    Reserved,
    BrowserBlocked,
    Service,
    Excluded,
    /// A TCP socket (any state but TIME-WAIT) uses it.
    InUse,
    /// A UDP socket uses it: a server that binds both protocols (DNS,
    /// QUIC/HTTP/3) cannot start there.
    UdpInUse,
    /// Only TIME-WAIT connections use it: no process, gone within 60 s, but
    /// a server without `SO_REUSEADDR` cannot bind it until then.
    TimeWait,
    /// Below `ip_unprivileged_port_start` (`start`) for a caller without
    /// `CAP_NET_BIND_SERVICE`: free, perhaps, but not for this user.
    Privileged {
        start: u16,
    },
    /// Only connections of a closed server that no process holds any more
    /// use it (FIN-WAIT, LAST-ACK): like TIME-WAIT, they block a bind
    /// without `SO_REUSEADDR` until the kernel ends them.
    Closing,
    /// A test bind failed.
    BindFailed {
        address: SocketAddr,
        errno: i32,
    },
    /// Another `porthole free` run (process `pid`) handed it out
    /// `seconds_ago` and its caller may be about to bind it.
    HandedOut {
        pid: u32,
        seconds_ago: u64,
    },
}

impl Skip {
    pub fn describe(&self) -> String {
        match self {
            Skip::Ephemeral => "inside ip_local_port_range".into(),
            Skip::Reserved => "in ip_local_reserved_ports".into(),
            Skip::BrowserBlocked => "browsers block it".into(),
            Skip::Service => "a well-known service port".into(),
            Skip::Excluded => "excluded".into(),
            Skip::InUse => "a TCP socket uses it".into(),
            Skip::UdpInUse => "a UDP socket uses it".into(),
            Skip::TimeWait => {
                "TIME-WAIT connections of a closed server use it for up to 60 s".into()
            }
            Skip::Closing => "connections of a closed server are still closing on it \
                               (FIN-WAIT, LAST-ACK; no process holds them)"
                .into(),
            Skip::Privileged { start } => format!(
                "below net.ipv4.ip_unprivileged_port_start {start}: only root or \
                 CAP_NET_BIND_SERVICE may bind it"
            ),
            Skip::BindFailed { address, errno } => {
                format!("bind {address}: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Skip::HandedOut { pid, seconds_ago } => format!(
                "another porthole free (pid {pid}) handed it out {seconds_ago} s ago; \
                 its caller may be about to bind it"
            ),
        }
    }

    /// What the reason makes of a port the user asked for (`--prefer`):
    /// only a socket makes it "not free"; the range rules make a free port
    /// unsafe to claim, and privilege makes it another user's.
    pub fn verdict(&self) -> &'static str {
        match self {
            Skip::InUse
            | Skip::UdpInUse
            | Skip::TimeWait
            | Skip::Closing
            | Skip::BindFailed { .. } => "is not free",
            Skip::Privileged { .. } => "is not for this user",
            Skip::Ephemeral | Skip::Reserved | Skip::BrowserBlocked | Skip::Service => {
                "is not safe to claim"
            }
            Skip::Excluded => "is excluded",
            Skip::HandedOut { .. } => "was just handed out",
        }
    }

    /// The kind of reason, for counting why candidates were passed over
    /// (a failed bind counts as one kind, whatever the address).
    pub fn category(&self) -> &'static str {
        match self {
            Skip::Ephemeral => "inside ip_local_port_range",
            Skip::Reserved => "in ip_local_reserved_ports",
            Skip::BrowserBlocked => "blocked by browsers",
            Skip::Service => "a well-known service port",
            Skip::Excluded => "excluded",
            Skip::InUse => "used by a TCP socket",
            Skip::UdpInUse => "used by a UDP socket",
            Skip::TimeWait => "held only by TIME-WAIT connections",
            Skip::Closing => "held only by closing connections",
            Skip::Privileged { .. } => "below ip_unprivileged_port_start",
            Skip::BindFailed { .. } => "a test bind failed",
            Skip::HandedOut { .. } => "handed out by another porthole free moments ago",
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct Found {
    pub ports: Vec<u16>,
    pub range: (u16, u16),
    /// Where the search started (the preferred port, the name's hash, or
    /// the random start).
    pub start: u16,
    /// Whether `::` and `::1` were probed (false when IPv6 is disabled).
    pub ipv6_checked: bool,
    /// Whether `127.0.0.1` was probed (false when no interface has it).
    pub ipv4_loopback_checked: bool,
    /// Whether `::1` was probed (false when IPv6 is disabled or no
    /// interface has it).
    pub ipv6_loopback_checked: bool,
    pub ephemeral: Option<(u16, u16)>,
    /// `ip_unprivileged_port_start` when the caller may not bind the
    /// ports below it.
    pub privileged_below: Option<u16>,
    /// Why the preferred port was not returned, when it was not.
    pub preferred_skip: Option<Skip>,
    /// How many candidates were passed over.
    pub skipped: usize,
    /// How many were passed over for each kind of reason
    /// ([`Skip::category`]).
    pub skipped_because: std::collections::BTreeMap<&'static str, usize>,
    /// The range lies entirely inside the ephemeral range.
    pub range_all_ephemeral: bool,
    /// `net.ipv4.ip_local_reserved_ports` as read, to name it in advice.
    pub reserved: Option<crate::model::PortSet>,
    /// When too few ports were found: another range where a search under
    /// the same rules found enough (`None`: none was found, or none was
    /// needed).
    pub elsewhere: Option<(u16, u16)>,
    /// When too few ports were found: the `ip_local_reserved_ports` value
    /// without the searched range's ports, set only when a search under it
    /// found enough.
    pub release_reserved: Option<crate::model::PortSet>,
}
