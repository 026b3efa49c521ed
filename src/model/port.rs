//! What `porthole PORT` reports about one port: the meaning of the number
//! on this machine ([`PortMeaning`], [`IanaRange`]) and the sockets that
//! touch it ([`PortReport`]). Built by `crate::portinfo` and the port
//! report engine (`crate::inventory::port_report`), drawn by
//! `crate::render::port`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Namespace, Process, Socket, Visibility};

/// IANA port ranges (RFC 6335).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IanaRange {
    /// 0–1023: system ports; binding needs privilege.
    System,
    /// 1024–49151: user (registered) ports.
    User,
    /// 49152–65535: dynamic / private ports.
    Dynamic,
}

impl IanaRange {
    pub fn of(port: u16) -> Self {
        match port {
            0..=1023 => IanaRange::System,
            1024..=49151 => IanaRange::User,
            _ => IanaRange::Dynamic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IanaRange::System => "system",
            IanaRange::User => "user",
            IanaRange::Dynamic => "dynamic",
        }
    }

    pub fn bounds(self) -> (u16, u16) {
        match self {
            IanaRange::System => (0, 1023),
            IanaRange::User => (1024, 49151),
            IanaRange::Dynamic => (49152, 65535),
        }
    }
}

/// Everything known about a port number on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMeaning {
    pub port: u16,
    pub iana_range: IanaRange,
    /// `net.ipv4.ip_local_port_range`, when readable.
    pub ephemeral_range: Option<(u16, u16)>,
    /// Inside the ephemeral range: outbound connections may take it.
    pub in_ephemeral_range: bool,
    /// Listed in `net.ipv4.ip_local_reserved_ports`.
    pub reserved: bool,
    /// Below `ip_unprivileged_port_start`: binding needs privilege.
    pub privileged: bool,
    /// Services usually found on it (`/etc/services` and the built-in
    /// table of development ports), e.g. `postgresql (PostgreSQL)`.
    pub services: Vec<String>,
    /// On the fetch standard's bad-port list: browsers refuse it.
    pub browser_blocked: bool,
}

impl PortMeaning {
    /// Whether `other` says something else about the settings of a network
    /// namespace (its ephemeral range, reserved ports, first unprivileged
    /// port) for this number. Port 0 is no port under any settings.
    pub fn namespace_settings_differ(&self, other: &PortMeaning) -> bool {
        self.port != 0
            && (self.ephemeral_range != other.ephemeral_range
                || self.in_ephemeral_range != other.in_ephemeral_range
                || self.reserved != other.reserved
                || self.privileged != other.privileged)
    }
}

/// The meaning of the number under another network namespace's own
/// sysctls (`--netns all`): each namespace has its own
/// `ip_local_port_range`, `ip_local_reserved_ports` and
/// `ip_unprivileged_port_start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceMeaning {
    /// The namespace's inode, as its sockets carry it.
    pub inode: u64,
    /// The meaning there, or why its settings could not be read (entering
    /// it needs CAP_SYS_ADMIN; its last process may have exited).
    pub meaning: Result<PortMeaning, String>,
}

/// Listeners of a service port held by programs that are not that service
/// (nor an alternative to it, nor a forwarder): `python3 -m http.server` on
/// 5432. A client that expects the service there talks to something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedOwners {
    /// The service clients expect on the port (`PostgreSQL`).
    pub service: String,
    /// The programs that serve it (`postgres`, `pgbouncer`, …).
    pub expected: Vec<String>,
    /// The owners that are none of them, ascending.
    pub pids: Vec<u32>,
}

/// A connection that touches the port asked about, seen from both ends
/// when both are on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The end whose local port is the asked port (the server side when a
    /// listener exists).
    pub near: Option<Socket>,
    /// The other end, when it is on this machine (loopback connections).
    pub far: Option<Socket>,
}

/// A TIME-WAIT socket on the port asked about: a connection that closed,
/// held by no process, and the server it talked to when that server
/// listens on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWaitEnd {
    pub socket: Socket,
    /// Listeners of the same namespace where the connection arrived (empty
    /// when the server is elsewhere, gone, or was not looked up).
    pub servers: Vec<Socket>,
}

/// A listener on the port asked about in another network namespace.
#[derive(Debug, Clone)]
pub struct PortElsewhere {
    pub listener: super::termination::Elsewhere,
    /// `porthole PORT --netns ARG` that shows it, as it runs from here;
    /// `None` when no way into its namespace is known.
    pub command: Option<String>,
}

/// Everything `porthole PORT` found about one port.
#[derive(Debug, Clone)]
pub struct PortReport {
    /// The endpoint as the user wrote it.
    pub endpoint: String,
    pub port: u16,
    /// Addresses the host part resolved to (empty for a bare port).
    pub addresses: Vec<IpAddr>,
    /// The host name did not resolve here and `addresses` are what it
    /// means instead (`localhost`: the loopback addresses, RFC 6761):
    /// clients that look the name up fail.
    pub name_unresolved: bool,
    /// The host was the unspecified address (`0.0.0.0`, `::`): Linux
    /// connects it to the loopback address of its family, which
    /// `addresses` holds instead.
    pub unspecified: bool,
    /// Listeners on the port, every address and family.
    pub listeners: Vec<Socket>,
    /// Listeners that serve one of `addresses` (all of them for a bare port).
    pub serving: Vec<Socket>,
    /// Different processes hold the port on different addresses/families.
    pub split_listeners: bool,
    /// Accepted connections to the listeners, paired with their clients.
    pub clients: Vec<Connection>,
    /// Non-listening sockets whose *local* port is the port while nothing
    /// listens there: the client side of an outbound connection (an
    /// ephemeral source port, as seen in logs), or a server's accepted
    /// connection that outlived its listener (see `local_end_servers`).
    pub local_ends: Vec<Connection>,
    /// Connections from this machine to the port on another host.
    pub outbound: Vec<Socket>,
    /// TIME-WAIT sockets on the port: no process, but they can block a bind.
    pub time_wait: usize,
    /// Those TIME-WAIT sockets themselves: the connections that closed,
    /// which a log's port number may point at.
    pub time_wait_ends: Vec<TimeWaitEnd>,
    /// TCP sockets bound to the port without listening or connecting (a
    /// port reservation such as `free --hold`, or a server between bind()
    /// and listen()): they block a bind as a listener does.
    pub bound: Vec<Socket>,
    /// Listeners of this machine that local ends are connected to: such an
    /// end is a client's. A local end whose peer is on this machine but
    /// served by no listener may as well be a server's end whose listener
    /// closed (a draining server, an orphaned FIN-WAIT-2), so it is not
    /// called the client side.
    pub local_end_servers: Vec<Socket>,
    /// The `porthole check --bind ADDR:PORT` that tells whether a server
    /// can bind the port over its TIME-WAIT connections now, as it runs
    /// from here (with the `--netns` asked); `None` without TIME-WAIT
    /// connections, and with `--netns all`.
    pub bind_check: Option<String>,
    /// Listeners on the port in other network namespaces, looked for only
    /// when nothing holds it in the one asked about: "nothing holds" alone
    /// hid a container's server that `check`, `wait` and `kill` name.
    pub elsewhere: Vec<PortElsewhere>,
    /// What the number means in the current namespace (or the one
    /// `--netns NAME|PATH` named).
    pub meaning: PortMeaning,
    /// With `--netns all`: the meaning in every other namespace that holds
    /// a row of this report, under that namespace's own sysctls.
    pub namespace_meanings: Vec<NamespaceMeaning>,
    /// Listeners' owners that are not the service the port is known for.
    pub unexpected_owners: Option<UnexpectedOwners>,
    pub processes: BTreeMap<u32, Process>,
    pub visibility: Visibility,
    /// The network namespaces the sockets were found in (`--netns all`;
    /// empty for the current namespace only).
    pub namespaces: Vec<Namespace>,
    /// Addresses listeners are bound to that no interface of their
    /// namespace has (bound with `IP_FREEBIND` or `ip_nonlocal_bind`):
    /// nothing reaches them until the address is added. Empty when the
    /// interfaces could not be read, and with `--netns all`.
    pub unassigned: Vec<IpAddr>,
    /// No interface of the namespace has an address but loopback ones (a
    /// fresh `ip netns add`, a container run without a network): even a
    /// wildcard listener there takes connections from that namespace only.
    /// False when the interfaces could not be read.
    pub only_loopback_addresses: bool,
}

impl PortReport {
    /// Something holds the port: a listener, a bound socket or a live
    /// local end. An orphaned closing end (FIN-WAIT-2 after its process
    /// closed it) is what TIME-WAIT is: a leftover only the kernel holds
    /// until it ends, so the answer is no, as it is for TIME-WAIT.
    pub fn is_held(&self) -> bool {
        !self.listeners.is_empty() || self.live_local_end() || !self.bound.is_empty()
    }

    /// Whether a local end of a connection is held by more than the kernel
    /// finishing its close.
    pub fn live_local_end(&self) -> bool {
        self.local_ends.iter().any(|end| end.near.as_ref().is_some_and(|near| !near.is_closing()))
    }

    /// The listeners of this machine `end` (a local end) is connected to.
    pub fn servers_of_local_end(&self, end: &Socket) -> Vec<&Socket> {
        let Some(remote) = end.remote else { return Vec::new() };
        self.local_end_servers
            .iter()
            .filter(|listener| listener.listens_for(end.protocol, end.net_namespace, remote))
            .collect()
    }

    /// Whether another device could reach a listener on the port: an
    /// exposed one on an address an interface has.
    pub fn exposed(&self) -> bool {
        self.listeners.iter().any(|listener| self.reachable_exposed(listener))
    }

    /// Whether `listener` is exposed, its address is assigned, and its
    /// namespace has an address other devices can send to.
    pub fn reachable_exposed(&self, listener: &Socket) -> bool {
        listener.exposed() && !self.is_unassigned(listener) && !self.only_loopback_addresses
    }

    /// Whether `listener` is bound to an address no interface has.
    pub fn is_unassigned(&self, listener: &Socket) -> bool {
        listener.local.is_some_and(|local| self.unassigned.contains(&local.ip().to_canonical()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(port: u16, ephemeral_range: (u16, u16)) -> PortMeaning {
        PortMeaning {
            port,
            iana_range: IanaRange::of(port),
            ephemeral_range: Some(ephemeral_range),
            in_ephemeral_range: ephemeral_range.0 <= port && port <= ephemeral_range.1,
            reserved: false,
            privileged: false,
            services: Vec::new(),
            browser_blocked: false,
        }
    }

    #[test]
    fn namespaces_differ_by_their_settings_for_a_real_port_only() {
        let here = meaning(20050, (32768, 60999));
        assert!(here.namespace_settings_differ(&meaning(20050, (20000, 20100))));
        assert!(!here.namespace_settings_differ(&meaning(20050, (32768, 60999))));
        assert!(!meaning(0, (32768, 60999)).namespace_settings_differ(&meaning(0, (1, 2))));
    }
}
