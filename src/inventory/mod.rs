//! The socket inventory: every socket of the machine (or of one network
//! namespace) with every process that owns it.
//!
//! This is the foundation the commands stand on. A run has three steps:
//! 1. **enumerate** sockets through `NETLINK_SOCK_DIAG` ([`netlink`]), or the
//!    `/proc/net/*` text tables ([`procfs`]) when netlink is refused;
//! 2. **attribute** them: scan `/proc/*/fd` once for `socket:[INODE]` links
//!    ([`owners`]), in parallel, only when owners are wanted;
//! 3. **describe** the owners lazily ([`process`]): name, exe, cmdline, user,
//!    start time, systemd unit, container.
//!
//! Namespaces other than our own ([`namespaces`]) are enumerated by entering
//! them from a helper thread, or through `/proc/PID/net/*` without root.
//!
//! The firewall is read here too: [`nftables`] types the ruleset that
//! `nft -j list ruleset` prints, for the diagnosis and the audit alike.
//!
//! All kernel access of the project lives here and in `crate::sys`.
//! Engines reach it through one handle, [`system::System`]: the real
//! [`system::Machine`] in the binary, a scripted fake in unit tests. The
//! diagnosis, readiness, termination, allocation and audit engines read
//! and act through nothing else (the exceptions are listed in
//! [`system`]'s documentation).
//!
//! [`user_database`] is the one reader of `/etc/passwd` and `/etc/group`.
//!
//! [`counters`] samples the byte counters of connections once per refresh
//! for `porthole top` and the dashboard.
//!
//! [`port_report`] is the reasoning behind `porthole PORT`: it classifies
//! the sockets of a snapshot taken for one port.

pub mod cgroup_policy;
pub mod counters;
pub mod destroy;
pub mod ebpf;
pub mod freezer;
pub mod in_flight;
pub mod iptables;
pub mod mountinfo;
pub mod namespaces;
pub mod netlink;
pub mod nftables;
pub mod owners;
pub mod port_report;
pub mod proc_events;
pub mod process;
pub mod procfs;
pub mod system;
pub mod user_database;
pub mod visibility;

use std::collections::BTreeMap;

use crate::model::PortSet;
use crate::model::{Family, OwnerGap, Protocol, Snapshot, Socket, SocketState, Source, Visibility};

/// Errors of the inventory engine.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("netlink sock_diag request failed")]
    Netlink(#[source] std::io::Error),
    #[error("netlink sock_diag reply is malformed: {reason}")]
    MalformedReply { reason: String },
    #[error("reading {path}")]
    ReadProc {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: unparsable line")]
    MalformedProcLine { path: String, line: usize },
    #[error("PORTHOLE_BACKEND='{value}' is not a backend: use netlink or procfs (or unset it)")]
    UnknownBackend { value: String },
    #[error("network namespace {inode}")]
    Namespace {
        inode: u64,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::sys::netlink::ReplyError> for InventoryError {
    fn from(error: crate::sys::netlink::ReplyError) -> Self {
        use crate::sys::netlink::ReplyError;
        match error {
            ReplyError::Io(error) => InventoryError::Netlink(error),
            ReplyError::Malformed { reason } => {
                InventoryError::MalformedReply { reason: reason.to_string() }
            }
        }
    }
}

/// Which kernel interface to enumerate sockets with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Netlink, falling back to `/proc/net` when netlink is refused.
    #[default]
    Auto,
    Netlink,
    Procfs,
}

impl Backend {
    /// The backend forced by `PORTHOLE_BACKEND=netlink|procfs`, if set; any
    /// other value is an error (a typo must not silently fall back).
    pub fn from_env() -> Result<Option<Self>, InventoryError> {
        let Some(value) = std::env::var_os("PORTHOLE_BACKEND") else { return Ok(None) };
        match value.to_str() {
            Some("netlink") => Ok(Some(Backend::Netlink)),
            Some("procfs") => Ok(Some(Backend::Procfs)),
            Some("") => Ok(None),
            _ => Err(InventoryError::UnknownBackend {
                // Shown through the terminal sanitiser, as every error.
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }
}

/// Which network namespaces to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamespaceSelection {
    /// The namespace porthole runs in.
    #[default]
    Current,
    /// Every network namespace any process (or `/run/netns`) holds.
    All,
}

/// A network namespace the user named: the file to enter it through and
/// its inode (which labels its sockets and finds who lives in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceHandle {
    /// `/run/netns/NAME`, `/proc/PID/ns/net` or any bind mount of one.
    pub path: String,
    pub inode: u64,
}

/// What to enumerate. The engine uses it to ask the kernel for less (a
/// LISTEN-only dump skips the established hash) and to skip the `/proc` scan.
#[derive(Debug, Clone)]
pub struct Query {
    pub tcp: bool,
    pub udp: bool,
    pub unix: bool,
    /// Raw IP sockets (`SOCK_RAW`: a packet sniffer, ping's ICMP socket, a
    /// routing daemon's OSPF or VRRP socket). They are never listeners and
    /// hold no port, so `listeners_only` does not drop them and a query
    /// for ports never gets them; off unless asked for (`ls -a`, `ls -w`).
    pub raw: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Only listeners (TCP LISTEN, bound UDP, listening Unix sockets).
    pub listeners_only: bool,
    /// Keep IP sockets whose local port (or, with `match_remote_port`, the
    /// remote port) is in the set. Unix sockets are dropped when set.
    pub ports: Option<PortSet>,
    /// Also keep sockets whose *remote* port matches `ports` (the clients of
    /// a port, for `porthole PORT`).
    pub match_remote_port: bool,
    /// Attribute sockets to processes (the `/proc/*/fd` scan).
    pub owners: bool,
    /// Find every owner, or stop once each socket has one (enough to name
    /// *a* holder and read its state, much faster on a busy machine).
    pub owner_limit: owners::ScanLimit,
    pub namespaces: NamespaceSelection,
    /// With [`NamespaceSelection::Current`], the one namespace to read
    /// instead of the caller's (`--netns NAME|PATH`); its sockets are
    /// labelled with its inode. Ignored with [`NamespaceSelection::All`].
    pub named_namespace: Option<NamespaceHandle>,
    pub backend: Backend,
    /// TCP: only sockets with a live peer (ESTABLISHED to CLOSING), not
    /// TIME-WAIT, SYN-SENT or CLOSE — a busy server has tens of thousands
    /// of TIME-WAIT sockets nobody owns (netlink backend only).
    pub connected_only: bool,
    /// TCP: also sockets bound without `listen()` or `connect()` (a port
    /// reservation, a server between the two calls), which the kernel
    /// dumps only when asked (Linux 6.9+). A query for given ports always
    /// gets them: a bound socket holds its port.
    pub bound: bool,
    /// Read each owner's initial environment (`/proc/PID/environ`) to
    /// name the service started by socket activation
    /// ([`crate::model::Process::listen_fds`]). One more read per owner,
    /// and one that copies from the owner's memory: asked for only where
    /// the answer is shown (`porthole PORT`, `ls --json`).
    pub launch_environment: bool,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            tcp: true,
            udp: true,
            unix: true,
            raw: false,
            ipv4: true,
            ipv6: true,
            listeners_only: true,
            ports: None,
            match_remote_port: false,
            owners: true,
            owner_limit: owners::ScanLimit::AllOwners,
            namespaces: NamespaceSelection::Current,
            named_namespace: None,
            backend: Backend::Auto,
            connected_only: false,
            bound: false,
            launch_environment: false,
        }
    }
}

impl Query {
    /// A query for everything about one port: TCP and UDP, both families,
    /// listeners and connections whose local or remote end uses it.
    pub fn for_port(port: u16) -> Self {
        Query {
            unix: false,
            listeners_only: false,
            ports: Some(PortSet::single(port)),
            match_remote_port: true,
            launch_environment: true,
            ..Query::default()
        }
    }

    /// Every Unix socket of the namespace, listening or not, without owners:
    /// what a look at one path or one inode starts from.
    pub fn unix_sockets() -> Self {
        Query { tcp: false, udp: false, listeners_only: false, owners: false, ..Query::default() }
    }

    /// Whether the kernel's AF_INET6 tables must be read: `-4` wants the
    /// IPv6 sockets that carry IPv4 too (see [`Query::keeps`]).
    pub fn reads_ipv6(&self) -> bool {
        self.ipv6 || self.ipv4
    }

    /// An AF_INET6 socket counts by the clients it serves, as `kill -4`
    /// and `free -4` count it: one bound to a v4-mapped address
    /// (`::ffff:127.0.0.1`) talks IPv4 only, and a dual-stack `::` socket
    /// (`IPV6_V6ONLY` off, or not known to be on) talks both.
    fn wants_ipv6_socket(&self, socket: &Socket) -> bool {
        match socket.local.map(|local| local.ip()) {
            Some(std::net::IpAddr::V6(ip)) if ip.to_ipv4_mapped().is_some() => self.ipv4,
            Some(std::net::IpAddr::V6(ip))
                if ip.is_unspecified() && socket.v6only != Some(true) =>
            {
                self.ipv6 || self.ipv4
            }
            _ => self.ipv6,
        }
    }

    /// Whether `socket` passes the filters the kernel could not apply.
    pub fn keeps(&self, socket: &Socket) -> bool {
        let protocol_wanted = match socket.protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
            Protocol::Unix => self.unix,
            Protocol::Raw => self.raw,
        };
        let family_wanted = match socket.family {
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.wants_ipv6_socket(socket),
            Family::Unix => true,
        };
        if !protocol_wanted || !family_wanted {
            return false;
        }
        if self.listeners_only && !socket.is_listener() && socket.protocol != Protocol::Raw {
            return false;
        }
        if let Some(ports) = &self.ports {
            if matches!(socket.protocol, Protocol::Unix | Protocol::Raw) {
                return false;
            }
            let local = ports.contains(socket.local_port());
            let remote = self.match_remote_port
                && socket.remote_port() != 0
                && ports.contains(socket.remote_port());
            if !local && !remote {
                return false;
            }
        }
        true
    }
}

/// A source of sockets: netlink or `/proc/net`. Engines do not call it
/// directly: [`system::System::snapshot`] wraps both (and its scripted fake
/// stands in for them in unit tests).
pub trait Inventory {
    /// Sockets of the namespace the calling thread is in, filtered by `query`
    /// (owners not yet attributed).
    fn sockets(&self, query: &Query) -> Result<Vec<Socket>, InventoryError>;
}

/// Takes a full snapshot: sockets, owners and owner details.
pub fn snapshot(query: &Query) -> Result<Snapshot, InventoryError> {
    let mut visibility = Visibility::default();
    let (mut sockets, source, found_namespaces) = enumerate(query, &mut visibility)?;
    sort_sockets(&mut sockets);

    let mut processes = BTreeMap::new();
    let mut user_names = BTreeMap::new();
    if query.owners {
        let wanted: Vec<u64> = sockets.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
        // Only a TCP socket can be held by a memory mapping alone.
        let mappable: Vec<u64> = sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp && s.inode != 0)
            .map(|s| s.inode)
            .collect();
        let scan = owners::scan_sockets(&wanted, &mappable, query.owner_limit);
        visibility.unreadable_processes = scan.unreadable_processes;
        visibility.vanished_processes += scan.vanished_processes;
        attach_owners(&mut sockets, &scan.owners);
        let mut cache = process::DetailCache::reading_environment(query.launch_environment);
        let mut vanished = std::collections::BTreeSet::new();
        for socket in &sockets {
            for &pid in &socket.owners {
                if let std::collections::btree_map::Entry::Vacant(slot) = processes.entry(pid) {
                    match process::read(pid, &mut cache) {
                        Some(details) => {
                            slot.insert(details);
                        }
                        None => {
                            vanished.insert(pid);
                        }
                    }
                }
            }
        }
        visibility.vanished_processes += vanished.len();
        // An owner that exited between the scan and its details holds
        // nothing any more: its sockets are looked up again below, as
        // sockets found without an owner are.
        forget_vanished_owners(&mut sockets, &vanished);
        drop_closed_without_owner(query, &mut sockets);
        // Every socket with a file but no owner is counted, whatever hid
        // it, and the reasons that apply here are named.
        visibility.sockets_without_visible_owner =
            sockets.iter().filter(|s| s.inode != 0 && s.owners.is_empty()).count();
        if visibility.sockets_without_visible_owner > 0 {
            visibility.owner_gaps =
                visibility::owner_gaps(&scan.unreadable_pids, &scan.unreadable_own_processes);
            // Nothing hides processes, so no process holds those sockets: a
            // descriptor in flight on a Unix socket of this namespace may be
            // one of them, and the process holding that Unix socket is the
            // one to name.
            if visibility.owner_gaps.contains(&OwnerGap::NoProcess)
                && query.namespaces == NamespaceSelection::Current
                && query.named_namespace.is_none()
            {
                visibility.in_flight = in_flight::find();
            }
        }
        for socket in &sockets {
            // Unix sockets carry no uid (u32::MAX).
            if socket.uid != u32::MAX && !user_names.contains_key(&socket.uid) {
                if let Some(name) = cache.user_name(socket.uid) {
                    user_names.insert(socket.uid, name);
                }
            }
        }
    }
    Ok(Snapshot {
        sockets,
        processes,
        namespaces: found_namespaces,
        visibility,
        user_names,
        source: Some(source),
    })
}

/// Lists the sockets of the namespaces `query` selects.
fn enumerate(
    query: &Query,
    visibility: &mut Visibility,
) -> Result<(Vec<Socket>, Source, Vec<crate::model::Namespace>), InventoryError> {
    Ok(match (query.namespaces, &query.named_namespace) {
        (NamespaceSelection::Current, Some(handle)) => {
            let listing = namespaces::enumerate_one(handle, query)?;
            (listing.sockets, listing.source, listing.namespaces)
        }
        (NamespaceSelection::Current, None) => {
            let (sockets, source) = enumerate_current(query)?;
            (sockets, source, Vec::new())
        }
        (NamespaceSelection::All, _) => {
            let listing = namespaces::enumerate_all(query, visibility)?;
            (listing.sockets, listing.source, listing.namespaces)
        }
    })
}

/// Drops the sockets that have no owner because they were closed while
/// `/proc` was being scanned: a second listing no longer has them. Without
/// this, a listener of a process that exited during the scan was shown as
/// `?` with a note about in-kernel servers, though it no longer existed.
/// A socket still listed stays, owner or not (another user's, hidden).
/// Removes the owners in `vanished` (processes that exited after the scan
/// found them) from every socket: a socket left without an owner is then
/// either closed, and dropped by [`drop_closed_without_owner`], or held by
/// something the note about `?` explains. Without this it would be listed
/// with an owner that has no details and counted nowhere.
fn forget_vanished_owners(sockets: &mut [Socket], vanished: &std::collections::BTreeSet<u32>) {
    if vanished.is_empty() {
        return;
    }
    for socket in sockets {
        socket.owners.retain(|pid| !vanished.contains(pid));
    }
}

fn drop_closed_without_owner(query: &Query, sockets: &mut Vec<Socket>) {
    let mut ownerless = sockets.iter().filter(|s| s.inode != 0 && s.owners.is_empty()).peekable();
    if ownerless.peek().is_none() {
        return;
    }
    // Ask again only for what has to be found again: when every socket in
    // question is a listener (the usual case, and always so for `ls`
    // without `-a`), a LISTEN-only dump answers for them without walking
    // the established hash a second time.
    let mut again_query = query.clone();
    again_query.listeners_only |= ownerless.all(Socket::is_listener);
    // A second listing that fails keeps the first one as it is.
    let Ok((again, _, _)) = enumerate(&again_query, &mut Visibility::default()) else { return };
    let present: std::collections::HashSet<u64> = again.iter().map(|s| s.inode).collect();
    sockets.retain(|s| s.inode == 0 || !s.owners.is_empty() || present.contains(&s.inode));
}

/// Enumerates the calling thread's namespace with the backend the query asks
/// for (netlink first under `Auto`).
pub(crate) fn enumerate_current(query: &Query) -> Result<(Vec<Socket>, Source), InventoryError> {
    let (mut sockets, source) = enumerate_current_unnamed(query)?;
    name_interfaces(&mut sockets);
    Ok((sockets, source))
}

/// Names the interface of every socket bound to one, as the calling
/// thread's namespace (the sockets') calls it: an index alone means nothing
/// to the reader, and another namespace numbers its interfaces its own way.
/// Few sockets are bound to an interface, and each name is asked once.
fn name_interfaces(sockets: &mut [Socket]) {
    let mut names: BTreeMap<u32, Option<String>> = BTreeMap::new();
    for socket in sockets.iter_mut().filter(|s| s.interface != 0) {
        socket.interface_name = names
            .entry(socket.interface)
            .or_insert_with(|| {
                crate::sys::interfaces::name_of(socket.interface)
                    .map(|name| crate::model::os_text::from_bytes(&name))
            })
            .clone();
    }
}

fn enumerate_current_unnamed(query: &Query) -> Result<(Vec<Socket>, Source), InventoryError> {
    let backend = Backend::from_env()?.unwrap_or(query.backend);
    match backend {
        Backend::Procfs => Ok((procfs::Procfs::current().sockets(query)?, Source::Procfs)),
        Backend::Netlink => netlink_with_raw_from_procfs(query),
        Backend::Auto => match netlink_with_raw_from_procfs(query) {
            Ok(listing) => Ok(listing),
            // Netlink sock_diag can be refused (seccomp, old kernels, some
            // sandboxes); /proc/net gives the same sockets, more slowly.
            Err(_) => Ok((procfs::Procfs::current().sockets(query)?, Source::Procfs)),
        },
    }
}

/// Netlink, except for raw sockets on a kernel built without `raw_diag`
/// (which answers their dump with `ENOENT`): those come from
/// `/proc/net/raw{,6}`, and the source says so. The rest stays on netlink,
/// which knows more (dual-stack flags, bound TCP sockets) than `/proc`.
fn netlink_with_raw_from_procfs(query: &Query) -> Result<(Vec<Socket>, Source), InventoryError> {
    match netlink::Netlink.sockets(query) {
        Ok(sockets) => Ok((sockets, Source::Netlink)),
        Err(InventoryError::Netlink(error))
            if query.raw && error.raw_os_error() == Some(libc::ENOENT) =>
        {
            let mut sockets = netlink::Netlink.sockets(&Query { raw: false, ..query.clone() })?;
            let raw_only = Query { tcp: false, udp: false, unix: false, ..query.clone() };
            sockets.extend(procfs::Procfs::current().sockets(&raw_only)?);
            Ok((sockets, Source::NetlinkRawFromProcfs))
        }
        Err(error) => Err(error),
    }
}

/// The Unix socket with `inode` in the calling thread's namespace, with
/// its peer, found by one `unix_diag` lookup instead of a dump of every
/// Unix socket (the netlink backend's `unix_socket`). Owners are not
/// attributed.
///
/// `/proc/net/unix` has no peer column, so this is netlink only: under
/// `PORTHOLE_BACKEND=procfs`, or where netlink is refused, the answer is
/// `None` (not known), never a socket whose peer merely looks absent.
pub fn unix_socket(inode: u64) -> Result<Option<Socket>, InventoryError> {
    match Backend::from_env()?.unwrap_or_default() {
        Backend::Procfs => Ok(None),
        Backend::Netlink => netlink::unix_socket(inode),
        Backend::Auto => Ok(netlink::unix_socket(inode).unwrap_or(None)),
    }
}

fn attach_owners(sockets: &mut [Socket], owners: &owners::OwnerIndex) {
    for socket in sockets {
        if socket.inode != 0 {
            socket.owners.extend(owners.pids(socket.inode));
        }
    }
}

/// Sorts by port, then protocol, then address, so listings read naturally.
///
/// Unix sockets last; IP sockets by port, protocol, family, local address;
/// a listener before the connections on its port. The first comparison is
/// one packed integer, so the full key is only built on ties.
pub fn sort_sockets(sockets: &mut [Socket]) {
    // Sorting (key, index) pairs moves 16 bytes per swap instead of a whole
    // `Socket`; the sockets are then permuted in place, once.
    let mut order: Vec<(u64, u32)> =
        sockets.iter().enumerate().map(|(index, s)| (packed_key(s), index as u32)).collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| tie_key(&sockets[a.1 as usize]).cmp(&tie_key(&sockets[b.1 as usize])))
    });
    let mut targets: Vec<u32> = order.into_iter().map(|(_, index)| index).collect();
    apply_permutation(sockets, &mut targets);
}

/// Reorders `items` so position `i` receives the element that was at
/// `order[i]`, following each cycle with swaps; `order` is consumed (reset
/// to the identity) to mark visited positions without extra memory.
fn apply_permutation<T>(items: &mut [T], order: &mut [u32]) {
    for start in 0..items.len() {
        let mut current = start;
        while order[current] as usize != start {
            let next = order[current] as usize;
            items.swap(current, next);
            order[current] = current as u32;
            current = next;
        }
        order[current] = current as u32;
    }
}

fn packed_key(socket: &Socket) -> u64 {
    let unix = u64::from(socket.protocol == Protocol::Unix);
    let protocol = socket.protocol as u64;
    let family = socket.family as u64;
    (unix << 48) | (u64::from(socket.local_port()) << 16) | (protocol << 8) | family
}

type TieKey<'a> =
    (Option<std::net::IpAddr>, Option<&'a str>, bool, Option<std::net::SocketAddr>, u64);

fn tie_key(s: &Socket) -> TieKey<'_> {
    (s.local.map(|l| l.ip()), s.path.as_deref(), s.state != SocketState::Listen, s.remote, s.inode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SocketState;

    fn socket(protocol: Protocol, local: &str, remote: &str, state: SocketState) -> Socket {
        let local: std::net::SocketAddr = local.parse().unwrap();
        Socket { inode: 7, ..Socket::ip(protocol, local, remote.parse().unwrap(), state) }
    }

    #[test]
    fn owners_that_exited_before_their_details_were_read_are_forgotten() {
        let listener = |owners: Vec<u32>| Socket {
            owners,
            ..socket(Protocol::Tcp, "127.0.0.1:80", "0.0.0.0:0", SocketState::Listen)
        };
        let mut sockets = vec![listener(vec![10, 20]), listener(vec![20]), listener(vec![30])];
        forget_vanished_owners(&mut sockets, &[20].into_iter().collect());
        let owners: Vec<Vec<u32>> = sockets.iter().map(|s| s.owners.clone()).collect();
        assert_eq!(owners, vec![vec![10], vec![], vec![30]]);
    }

    #[test]
    fn permutation_is_applied_in_place() {
        let mut items = vec!['a', 'b', 'c', 'd', 'e'];
        let mut order = vec![3, 0, 4, 1, 2];
        apply_permutation(&mut items, &mut order);
        assert_eq!(items, vec!['d', 'a', 'e', 'b', 'c']);
    }

    #[test]
    fn sorts_by_port_then_listener_first() {
        let mut sockets = vec![
            socket(Protocol::Tcp, "127.0.0.1:80", "127.0.0.1:5000", SocketState::Established),
            socket(Protocol::Udp, "127.0.0.1:53", "0.0.0.0:0", SocketState::Close),
            socket(Protocol::Tcp, "127.0.0.1:80", "0.0.0.0:0", SocketState::Listen),
            socket(Protocol::Tcp, "127.0.0.1:22", "0.0.0.0:0", SocketState::Listen),
        ];
        sort_sockets(&mut sockets);
        let order: Vec<(u16, SocketState)> =
            sockets.iter().map(|s| (s.local_port(), s.state)).collect();
        assert_eq!(
            order,
            vec![
                (22, SocketState::Listen),
                (53, SocketState::Close),
                (80, SocketState::Listen),
                (80, SocketState::Established)
            ]
        );
    }

    #[test]
    fn query_filters_port_and_remote_port() {
        let listener = socket(Protocol::Tcp, "127.0.0.1:80", "0.0.0.0:0", SocketState::Listen);
        let client =
            socket(Protocol::Tcp, "127.0.0.1:50000", "127.0.0.1:80", SocketState::Established);
        let mut query = Query::for_port(80);
        assert!(query.keeps(&listener));
        assert!(query.keeps(&client));
        query.match_remote_port = false;
        assert!(!query.keeps(&client));
        query.listeners_only = true;
        query.match_remote_port = true;
        assert!(!query.keeps(&client));
        query.ipv4 = false;
        assert!(!query.keeps(&listener));
    }

    #[test]
    fn ipv6_sockets_that_carry_ipv4_count_as_ipv4() {
        let mapped = socket(Protocol::Tcp, "[::ffff:127.0.0.1]:80", "[::]:0", SocketState::Listen);
        let mapped_connection = socket(
            Protocol::Tcp,
            "[::ffff:127.0.0.1]:80",
            "[::ffff:127.0.0.1]:50000",
            SocketState::Established,
        );
        let wildcard = |v6only| Socket {
            v6only,
            ..socket(Protocol::Tcp, "[::]:80", "[::]:0", SocketState::Listen)
        };
        let loopback6 = socket(Protocol::Tcp, "[::1]:80", "[::]:0", SocketState::Listen);
        let only_ipv4 = Query { ipv6: false, listeners_only: false, ..Query::default() };
        assert!(only_ipv4.reads_ipv6());
        assert!(only_ipv4.keeps(&mapped));
        assert!(only_ipv4.keeps(&mapped_connection));
        assert!(only_ipv4.keeps(&wildcard(Some(false))));
        assert!(only_ipv4.keeps(&wildcard(None)));
        assert!(!only_ipv4.keeps(&wildcard(Some(true))));
        assert!(!only_ipv4.keeps(&loopback6));
        let only_ipv6 = Query { ipv4: false, listeners_only: false, ..Query::default() };
        assert!(!only_ipv6.keeps(&mapped));
        assert!(!only_ipv6.keeps(&mapped_connection));
        assert!(only_ipv6.keeps(&wildcard(Some(false))));
        assert!(only_ipv6.keeps(&wildcard(Some(true))));
        assert!(only_ipv6.keeps(&loopback6));
    }
}
