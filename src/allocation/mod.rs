//! Finding a port that is safe to claim for a new local service.
//!
//! "Free" here is stricter than "bind(0) returned it". A port is handed out
//! only when all of these hold:
//! - it is outside `net.ipv4.ip_local_port_range`, so no outbound
//!   connection's source port (or another program's `bind(0)`) can take it
//!   before the service starts, and a client polling it cannot
//!   self-connect (failure mode M15);
//! - it is not in `ip_local_reserved_ports` (someone reserved it);
//! - the caller may bind it: a port below `ip_unprivileged_port_start` is
//!   passed over, and named as such, for a caller without
//!   `CAP_NET_BIND_SERVICE`;
//! - it is not a port browsers refuse, nor a well-known service port (the
//!   built-in development table and `/etc/services`), so it will not
//!   collide with a service that merely is not running right now;
//! - no socket uses it, TCP or UDP, in any state: TIME-WAIT and the local
//!   end of a connection block a bind too, and a UDP socket on the port
//!   blocks every server that binds both protocols (DNS, QUIC/HTTP/3,
//!   game and media servers);
//! - a real `bind()` without `SO_REUSEADDR` succeeds on `0.0.0.0`, `::`,
//!   `127.0.0.1` and `::1` (IPv6 skipped when it is disabled), for a TCP
//!   and a UDP socket, so the port works for either family, either
//!   protocol, and for loopback-only or wildcard servers.
//!
//! The search order decides which free port is returned: the preferred
//! port and then its nearest neighbours, a stable hash of a project name
//! (FNV-1a 64) and then upwards, or a random start and then upwards.
//! [`hold`] keeps the result bound in a detached process until the caller
//! binds it.

pub mod hold;
pub mod recent;

pub use crate::model::allocation::{Found, Skip};
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::inventory::system::System;
use crate::inventory::{InventoryError, Query};
use crate::model::PortSet;
use crate::model::Protocol;

/// The range searched when none is given: above the crowded low user ports
/// (dev servers on 3000, 5000, 8000, 8080…) and below Linux's default
/// ephemeral range (32768-60999) and IANA's dynamic range (49152-65535).
/// It does not depend on the machine, so `--name` gives the same port
/// everywhere; ports the machine's own ephemeral range covers are skipped.
pub const DEFAULT_RANGE: (u16, u16) = (10000, 32767);

/// The range searched around `--prefer` when no range is given.
pub const PREFER_RANGE: (u16, u16) = (1024, 65535);

/// What to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Inclusive range; `None` means [`DEFAULT_RANGE`] (or [`PREFER_RANGE`]
    /// with `prefer`).
    pub range: Option<(u16, u16)>,
    /// How many distinct ports.
    pub count: usize,
    /// Return this port when it is free, else the nearest free one.
    pub prefer: Option<u16>,
    /// Start at the stable hash of this name.
    pub name: Option<String>,
    pub exclude: Option<PortSet>,
    /// Hold the UDP port too (`--hold`); the search itself always requires
    /// the port to be free for both protocols.
    pub hold_udp: bool,
}

impl Request {
    /// The range actually searched.
    pub fn effective_range(&self) -> (u16, u16) {
        match (self.range, self.prefer) {
            (Some(range), _) => range,
            (None, Some(_)) => PREFER_RANGE,
            (None, None) => DEFAULT_RANGE,
        }
    }
}

/// This machine's state that decides which ports qualify.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `net.ipv4.ip_local_port_range` (it also governs IPv6).
    pub ephemeral: Option<(u16, u16)>,
    pub reserved: Option<PortSet>,
    /// Ports `/etc/services` names.
    pub services: Option<PortSet>,
    /// IPv6 is usable on loopback, so `::` and `::1` are probed.
    pub ipv6: bool,
    /// `127.0.0.1` is not assigned here (an IPv6-only loopback, `ip addr
    /// del 127.0.0.1/8 dev lo`): no server can bind it, so it is not
    /// probed, rather than failing every port.
    pub ipv4_loopback_missing: bool,
    /// `::1` is not assigned here although IPv6 is on (`ip -6 addr del
    /// ::1/128 dev lo`): not probed either, for the same reason.
    pub ipv6_loopback_missing: bool,
    /// `net.ipv4.ip_unprivileged_port_start` when the caller may not bind
    /// the ports below it (no `CAP_NET_BIND_SERVICE` in the namespace's
    /// user namespace); `None` when it may, or nothing is privileged.
    pub privileged_below: Option<u16>,
    /// Local ports of every TCP socket but the closing ones below.
    pub tcp_in_use: BTreeSet<u16>,
    /// Local ports of TCP sockets in TIME-WAIT.
    pub tcp_time_wait: BTreeSet<u16>,
    /// Local ports of the other closing TCP connections no process holds
    /// (orphans in FIN-WAIT, CLOSING, LAST-ACK: a server that is gone).
    pub tcp_closing: BTreeSet<u16>,
    /// Local ports of every UDP socket.
    pub udp_in_use: BTreeSet<u16>,
    /// Ports other `porthole free` runs handed out moments ago
    /// ([`recent`]); filled by the caller that holds the record's lock.
    pub handed_out: std::collections::BTreeMap<u16, recent::HandOut>,
}

impl Conditions {
    /// Reads the sysctls, `/etc/services` and the socket inventory of the
    /// current network namespace of `system`. A reserved-ports list the
    /// kernel printed but that does not parse counts as none. UDP sockets
    /// are always read: a port a UDP socket holds is not free, whatever
    /// the new service binds.
    pub fn current(system: &dyn System) -> Result<Self, InventoryError> {
        let query = Query {
            tcp: true,
            udp: true,
            unix: false,
            listeners_only: false,
            owners: false,
            ..Query::default()
        };
        let snapshot = system.snapshot(&query)?;
        let mut conditions = Conditions {
            ephemeral: system.ephemeral_range(),
            reserved: system.reserved_ports_text().and_then(|text| PortSet::parse(&text).ok()),
            services: Some(crate::portinfo::etc_services_ports(system)),
            ipv6: !system.ipv6_disabled_on_loopback(),
            ipv4_loopback_missing: loopback_missing(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ipv6_loopback_missing: loopback_missing(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            privileged_below: system
                .unprivileged_port_start()
                .filter(|&start| start > 1 && binding_needs_privilege(start - 1)),
            ..Conditions::default()
        };
        for socket in &snapshot.sockets {
            let port = socket.local_port();
            match socket.protocol {
                Protocol::Tcp if socket.state == crate::model::SocketState::TimeWait => {
                    conditions.tcp_time_wait.insert(port)
                }
                Protocol::Tcp if socket.is_closing() => conditions.tcp_closing.insert(port),
                Protocol::Tcp => conditions.tcp_in_use.insert(port),
                Protocol::Udp => conditions.udp_in_use.insert(port),
                // Neither holds a port (a raw socket's protocol number is
                // no port).
                Protocol::Unix | Protocol::Raw => false,
            };
        }
        Ok(conditions)
    }
}

/// FNV-1a, 64-bit: a fixed, documented hash, so `--name` maps a project to
/// the same port on every machine and every run (Rust's `DefaultHasher` is
/// seeded randomly per process and would not).
/// See: <http://www.isthe.com/chongo/tech/comp/fnv/>
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The port a name hashes to: `low + fnv1a_64(name) % (high - low + 1)`.
pub fn name_start(name: &str, (low, high): (u16, u16)) -> u16 {
    let span = u64::from(high - low) + 1;
    // The remainder is below `span` ≤ 65536, so the sum fits in u16.
    low + u16::try_from(fnv1a_64(name.as_bytes()) % span).unwrap_or(0)
}

/// The order candidates are tried in.
pub fn candidates(request: &Request, start: u16) -> Vec<u16> {
    let (low, high) = request.effective_range();
    if request.prefer.is_some() {
        // The preferred port first, even below the searched range
        // (`--prefer 80`: the user's choice, free for root); then the
        // range's ports nearest to it, on a tie the higher port first.
        let in_range = |port: i64| i64::from(low) <= port && port <= i64::from(high);
        let mut order = vec![start];
        for distance in 1..=i64::from(u16::MAX) {
            let up = i64::from(start) + distance;
            let down = i64::from(start) - distance;
            for port in [up, down] {
                if in_range(port) {
                    order.push(port as u16);
                }
            }
            if up > i64::from(high) && down < i64::from(low) {
                break;
            }
        }
        order
    } else {
        let start = start.clamp(low, high);
        (start..=high).chain(low..start).collect()
    }
}

/// Where the search starts.
fn start_of(request: &Request) -> u16 {
    let (low, high) = request.effective_range();
    if let Some(port) = request.prefer {
        return port;
    }
    if let Some(name) = &request.name {
        return name_start(name, (low, high));
    }
    // A random start, so concurrent callers rarely race for the same port.
    // RandomState is seeded from the OS per process.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let span = u64::from(high - low) + 1;
    low + u16::try_from(random % span).unwrap_or(0)
}

/// Checks the numeric rules (everything but the sockets and the binds).
pub fn screen(port: u16, request: &Request, conditions: &Conditions) -> Option<Skip> {
    let preferred = request.prefer == Some(port);
    if port == 0 {
        return Some(Skip::Excluded);
    }
    if let Some(start) = conditions.privileged_below.filter(|&start| port < start) {
        return Some(Skip::Privileged { start });
    }
    if conditions.ephemeral.is_some_and(|(low, high)| low <= port && port <= high) {
        return Some(Skip::Ephemeral);
    }
    if conditions.reserved.as_ref().is_some_and(|set| set.contains(port)) {
        return Some(Skip::Reserved);
    }
    if request.exclude.as_ref().is_some_and(|set| set.contains(port)) {
        return Some(Skip::Excluded);
    }
    // An explicitly preferred port is the user's choice even when browsers
    // or a service table know it (`--prefer 3000` for a dev server).
    if !preferred {
        if crate::portinfo::is_browser_blocked(port) {
            return Some(Skip::BrowserBlocked);
        }
        let in_services = conditions.services.as_ref().is_some_and(|set| set.contains(port));
        if crate::portinfo::development_service(port).is_some() || in_services {
            return Some(Skip::Service);
        }
    }
    if conditions.tcp_in_use.contains(&port) {
        return Some(Skip::InUse);
    }
    if conditions.udp_in_use.contains(&port) {
        return Some(Skip::UdpInUse);
    }
    if conditions.tcp_closing.contains(&port) {
        return Some(Skip::Closing);
    }
    if conditions.tcp_time_wait.contains(&port) {
        return Some(Skip::TimeWait);
    }
    // Handed out for the same name, it is the same project's port again.
    if let Some(hand_out) = conditions.handed_out.get(&port) {
        if request.name.is_none() || hand_out.name != request.name {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let seconds_ago = now.saturating_sub(hand_out.at_ms) / 1000;
            return Some(Skip::HandedOut { pid: hand_out.pid, seconds_ago });
        }
    }
    None
}

/// Whether the loopback address `address` (`127.0.0.1` or `::1`) cannot be
/// bound in the current network namespace because no interface has it
/// (`EADDRNOTAVAIL`). With IPv6 disabled `::1` fails otherwise and is not
/// probed anyway.
fn loopback_missing(address: IpAddr) -> bool {
    let loopback = SocketAddr::new(address, 0);
    bind_once(loopback, rustix::net::SocketType::STREAM, false).is_err_and(|error| {
        error.raw_os_error() == Some(rustix::io::Errno::ADDRNOTAVAIL.raw_os_error())
    })
}

/// Whether this caller is refused a bind of `port` for want of privilege
/// (`EACCES`). The kernel checks the privilege before it looks at the
/// sockets on the port, so a port in use answers as well as a free one;
/// a bind that succeeds is closed at once, before `listen()`.
fn binding_needs_privilege(port: u16) -> bool {
    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    bind_once(address, rustix::net::SocketType::STREAM, false)
        .is_err_and(|error| error.raw_os_error() == Some(rustix::io::Errno::ACCESS.raw_os_error()))
}

/// The addresses a port is test-bound on under `conditions`.
pub fn probe_addresses(port: u16, conditions: &Conditions) -> Vec<SocketAddr> {
    let mut addresses = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)];
    if !conditions.ipv4_loopback_missing {
        addresses.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if conditions.ipv6 {
        addresses.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port));
        if !conditions.ipv6_loopback_missing {
            addresses.push(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port));
        }
    }
    addresses
}

/// Binds the port on every probe address, one after the other, for TCP and
/// for UDP, without `SO_REUSEADDR` (so TIME-WAIT and bound-but-idle
/// sockets, which sock_diag does not list, count as taken) and without
/// `listen()` (so nothing can connect meanwhile, and closing leaves no
/// TIME-WAIT behind).
pub fn probe(port: u16, conditions: &Conditions) -> Result<(), Skip> {
    for socket_type in [rustix::net::SocketType::STREAM, rustix::net::SocketType::DGRAM] {
        for address in probe_addresses(port, conditions) {
            bind_once(address, socket_type, false).map_err(|error| Skip::BindFailed {
                address,
                errno: error.raw_os_error().unwrap_or(0),
            })?;
        }
    }
    Ok(())
}

/// Creates a socket and binds it to `address`. IPv6 sockets are dual-stack
/// (`IPV6_V6ONLY` off), as most servers bind `::`, so an IPv4 socket on
/// the port makes the `::` probe fail too.
pub fn bind_once(
    address: SocketAddr,
    socket_type: rustix::net::SocketType,
    reuse_address: bool,
) -> std::io::Result<std::os::fd::OwnedFd> {
    let family = match address {
        SocketAddr::V4(_) => rustix::net::AddressFamily::INET,
        SocketAddr::V6(_) => rustix::net::AddressFamily::INET6,
    };
    let socket =
        rustix::net::socket_with(family, socket_type, rustix::net::SocketFlags::CLOEXEC, None)?;
    if reuse_address {
        rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    }
    if address.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&socket, false)?;
    }
    rustix::net::bind(&socket, &address)?;
    Ok(socket)
}

/// Searches for `request.count` ports that qualify.
pub fn find(request: &Request, conditions: &Conditions) -> Found {
    let range = request.effective_range();
    let start = start_of(request);
    let mut found = Found {
        ports: Vec::new(),
        range,
        start,
        ipv6_checked: conditions.ipv6,
        ipv4_loopback_checked: !conditions.ipv4_loopback_missing,
        ipv6_loopback_checked: conditions.ipv6 && !conditions.ipv6_loopback_missing,
        ephemeral: conditions.ephemeral,
        privileged_below: conditions.privileged_below,
        preferred_skip: None,
        skipped: 0,
        skipped_because: std::collections::BTreeMap::new(),
        range_all_ephemeral: conditions
            .ephemeral
            .is_some_and(|(low, high)| low <= range.0 && range.1 <= high),
        reserved: conditions.reserved.clone(),
        elsewhere: None,
        release_reserved: None,
    };
    for port in candidates(request, start) {
        if found.ports.len() >= request.count {
            break;
        }
        let verdict = match screen(port, request, conditions) {
            Some(skip) => Err(skip),
            None => probe(port, conditions),
        };
        match verdict {
            Ok(()) => found.ports.push(port),
            Err(skip) => {
                *found.skipped_because.entry(skip.category()).or_default() += 1;
                if request.prefer == Some(port) {
                    found.preferred_skip = Some(skip);
                }
                found.skipped += 1;
            }
        }
    }
    found
}

/// How many of the largest runs of ports outside the machine's rules are
/// searched for [`remedies`]: each search test-binds ports, and the largest
/// runs are the likeliest to hold enough.
const RUNS_TRIED: usize = 4;

/// Fills in the ways out of a search that found too few ports, each one
/// checked by searching again under it rather than guessed:
/// - [`Found::elsewhere`]: the largest run of ports this caller may use
///   that lies outside the ephemeral range, the reserved ports and
///   `--exclude`, and in which the same search finds enough ports;
/// - [`Found::release_reserved`]: the reserved-ports value without the
///   searched range, when the same search under it finds enough.
///
/// Runs in the namespace the search ran in (the test binds must be there).
pub fn remedies(request: &Request, conditions: &Conditions, found: &mut Found) {
    if found.ports.len() >= request.count {
        return;
    }
    let enough = |request: &Request, conditions: &Conditions| {
        find(request, conditions).ports.len() >= request.count
    };
    // Ports below 1024 are the well-known ones, never worth suggesting.
    let floor = conditions.privileged_below.map_or(1024, |start| start.max(1024));
    let mut blocked: Vec<(u16, u16)> = conditions.ephemeral.into_iter().collect();
    for set in [&conditions.reserved, &request.exclude].into_iter().flatten() {
        blocked.extend_from_slice(set.ranges());
    }
    let mut runs = runs_outside(floor, &blocked);
    runs.retain(|&run| run != found.range);
    // Largest first; on a tie the lower run, as the list is ascending.
    runs.sort_by_key(|&(low, high)| std::cmp::Reverse(high - low));
    found.elsewhere = runs
        .into_iter()
        .take(RUNS_TRIED)
        .find(|&run| enough(&Request { range: Some(run), ..request.clone() }, conditions));

    let (low, high) = found.range;
    if let Some(reserved) = &conditions.reserved {
        let released = reserved.without(low, high);
        if released != *reserved {
            let retry = Conditions { reserved: Some(released.clone()), ..conditions.clone() };
            if enough(request, &retry) {
                found.release_reserved = Some(released);
            }
        }
    }
}

/// The runs of ports from `floor` to 65535 that no range of `blocked`
/// covers, ascending.
fn runs_outside(floor: u16, blocked: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut blocked = blocked.to_vec();
    blocked.sort_unstable();
    let mut runs = Vec::new();
    // The next port not yet covered; u32 so that 65535 + 1 does not wrap.
    let mut next = u32::from(floor);
    for (start, end) in blocked {
        let (start, end) = (u32::from(start), u32::from(end));
        if start > next {
            runs.push((next, start - 1));
        }
        next = next.max(end + 1);
    }
    if next <= u32::from(u16::MAX) {
        runs.push((next, u32::from(u16::MAX)));
    }
    // Every bound lies in floor..=65535 (start - 1 ≥ next ≥ floor).
    runs.into_iter()
        .map(|(low, high)| {
            (u16::try_from(low).unwrap_or(u16::MAX), u16::try_from(high).unwrap_or(u16::MAX))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request { range: None, count: 1, prefer: None, name: None, exclude: None, hold_udp: false }
    }

    #[test]
    fn runs_outside_the_rules_are_the_gaps_above_the_floor() {
        assert_eq!(runs_outside(1024, &[]), vec![(1024, 65535)]);
        assert_eq!(
            runs_outside(1024, &[(32768, 60999), (10000, 32767), (500, 2000)]),
            vec![(2001, 9999), (61000, 65535)]
        );
        assert_eq!(runs_outside(1024, &[(1024, 65535)]), vec![]);
        assert_eq!(
            runs_outside(1024, &[(2000, 3000), (2500, 2600)]),
            vec![(1024, 1999), (3001, 65535)]
        );
        assert_eq!(runs_outside(1024, &[(65535, 65535)]), vec![(1024, 65534)]);
    }

    #[test]
    fn remedies_are_searched_not_guessed() {
        // The whole default range reserved, everything else open: another
        // range and the released reserved value both find a port.
        let conditions = Conditions {
            ephemeral: Some((32768, 60999)),
            reserved: PortSet::parse("5000,10000-32767").ok(),
            ..Conditions::default()
        };
        let mut found = find(&request(), &conditions);
        assert!(found.ports.is_empty());
        remedies(&request(), &conditions, &mut found);
        assert_eq!(found.elsewhere, Some((5001, 9999)), "the largest run");
        assert_eq!(found.release_reserved, PortSet::parse("5000").ok());
        // Nothing left anywhere: no advice at all.
        let full = Conditions { ephemeral: Some((1024, 65535)), ..conditions };
        let mut found = find(&request(), &full);
        remedies(&request(), &full, &mut found);
        assert_eq!((found.elsewhere, found.release_reserved), (None, None));
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // Test vectors from the FNV reference implementation.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn names_hash_into_the_range() {
        let port = name_start("myproject", DEFAULT_RANGE);
        assert!((DEFAULT_RANGE.0..=DEFAULT_RANGE.1).contains(&port));
        assert_eq!(port, name_start("myproject", DEFAULT_RANGE));
        assert_eq!(name_start("x", (5000, 5000)), 5000);
        // The documented value (README and --help).
        assert_eq!(name_start("myproject", DEFAULT_RANGE), 24176);
    }

    #[test]
    fn preferred_order_is_nearest_first() {
        let request = Request { prefer: Some(20000), range: Some((19998, 20003)), ..request() };
        assert_eq!(candidates(&request, 20000), vec![20000, 20001, 19999, 20002, 19998, 20003]);
        // A preferred port below the range is tried, then the range
        // upwards from its low end.
        let below = Request { prefer: Some(80), range: Some((1024, 1026)), ..request.clone() };
        assert_eq!(candidates(&below, 80), vec![80, 1024, 1025, 1026]);
        let wrap = Request { range: Some((10, 14)), ..request };
        let wrap = Request { prefer: None, ..wrap };
        assert_eq!(candidates(&wrap, 12), vec![12, 13, 14, 10, 11]);
    }

    #[test]
    fn screening_applies_every_rule() {
        let conditions = Conditions {
            ephemeral: Some((32768, 60999)),
            reserved: Some(PortSet::single(20001)),
            services: Some(PortSet::single(20002)),
            tcp_in_use: [20003].into_iter().collect(),
            udp_in_use: [20006].into_iter().collect(),
            ..Conditions::default()
        };
        let base = Request { exclude: Some(PortSet::single(20004)), ..request() };
        assert_eq!(screen(40000, &base, &conditions), Some(Skip::Ephemeral));
        assert_eq!(screen(20001, &base, &conditions), Some(Skip::Reserved));
        assert_eq!(screen(20002, &base, &conditions), Some(Skip::Service));
        assert_eq!(screen(20003, &base, &conditions), Some(Skip::InUse));
        assert_eq!(screen(20004, &base, &conditions), Some(Skip::Excluded));
        assert_eq!(screen(6000, &base, &conditions), Some(Skip::BrowserBlocked));
        assert_eq!(screen(3000, &base, &conditions), Some(Skip::Service));
        assert_eq!(screen(20005, &base, &conditions), None);
        // A UDP socket blocks the port without --udp too.
        assert_eq!(screen(20006, &base, &conditions), Some(Skip::UdpInUse));
        let prefer = Request { prefer: Some(3000), ..base.clone() };
        assert_eq!(screen(3000, &prefer, &conditions), None);
        // A caller without the privilege: ports below the start are passed
        // over, the preferred one too, and named for the reason.
        let unprivileged = Conditions { privileged_below: Some(20000), ..conditions };
        assert_eq!(screen(19999, &base, &unprivileged), Some(Skip::Privileged { start: 20000 }));
        let low = Request { prefer: Some(80), ..base.clone() };
        assert_eq!(screen(80, &low, &unprivileged), Some(Skip::Privileged { start: 20000 }));
        assert_eq!(screen(20005, &base, &unprivileged), None);
    }

    #[test]
    fn conditions_come_from_the_machine_handle() {
        use crate::inventory::system::fake::Scripted;
        use crate::model::{Socket, SocketState};
        let time_wait = Socket::ip(
            Protocol::Tcp,
            "127.0.0.1:20012".parse().unwrap(),
            "127.0.0.1:5432".parse().unwrap(),
            SocketState::TimeWait,
        );
        let udp = Socket::ip(
            Protocol::Udp,
            "127.0.0.2:20016".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            SocketState::Close,
        );
        let system = Scripted { sockets: vec![time_wait, udp], ..Scripted::default() }
            .sysctl("net.ipv4.ip_local_port_range", "20015\t60999\n")
            .sysctl("net.ipv4.ip_local_reserved_ports", "20000-20010\n")
            .sysctl("net.ipv6.conf.all.disable_ipv6", "0\n")
            .sysctl("net.ipv6.conf.lo.disable_ipv6", "1\n")
            .file("/etc/services", "myservice\t20011/tcp\t# local\n");
        let conditions = Conditions::current(&system).unwrap();
        assert_eq!(conditions.ephemeral, Some((20015, 60999)));
        assert_eq!(conditions.reserved, PortSet::parse("20000-20010").ok());
        assert!(conditions.services.as_ref().unwrap().contains(20011));
        assert!(conditions.tcp_time_wait.contains(&20012), "TIME-WAIT is told apart");
        assert!(!conditions.tcp_in_use.contains(&20012));
        assert!(conditions.udp_in_use.contains(&20016), "UDP sockets are always read");
        assert!(!conditions.ipv6, "disable_ipv6 on lo makes ::1 unusable");

        // Only 20013 and 20014 pass every rule (the rest of the range is
        // reserved, a service, in use or ephemeral); a real bind decides
        // between them.
        let request = Request { range: Some((20000, 20020)), count: 1, ..request() };
        let passing: Vec<u16> =
            (20000..=20020).filter(|&port| screen(port, &request, &conditions).is_none()).collect();
        assert_eq!(passing, vec![20013, 20014]);
        let found = find(&request, &conditions);
        assert!(found.ports.iter().all(|port| passing.contains(port)), "{:?}", found.ports);
    }
}
