//! Network sysctls that decide how ports behave, read from `/proc/sys` of
//! the calling thread's network namespace.

use crate::model::PortSet;

/// `net.ipv4.ip_local_port_range`: where the kernel picks source ports for
/// outbound connections and for `bind(0)`.
pub fn ephemeral_range() -> Option<(u16, u16)> {
    parse_range(&std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
}

/// Parses `ip_local_port_range` (`32768\t60999`).
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_ascii_whitespace().map(|p| p.parse::<u16>().ok());
    Some((parts.next()??, parts.next()??))
}

/// `net.ipv4.ip_local_reserved_ports`: ports excluded from automatic
/// assignment. Empty when none are reserved.
pub fn reserved_ports() -> Option<PortSet> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").ok()?;
    PortSet::parse(text.trim()).ok()
}

/// `net.ipv4.ip_local_reserved_ports` as the kernel prints it
/// (`8080,9000-9010`), for fixes that add to the list rather than replace it.
pub fn reserved_ports_text() -> Option<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").ok()
}

/// `net.ipv4.ip_unprivileged_port_start`: ports below it need
/// CAP_NET_BIND_SERVICE.
pub fn unprivileged_port_start() -> Option<u16> {
    read_number("/proc/sys/net/ipv4/ip_unprivileged_port_start")
}

/// `net.ipv6.conf.{all,lo}.disable_ipv6`: whether `::1` is unusable.
pub fn ipv6_disabled_on_loopback() -> bool {
    ["/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/lo/disable_ipv6"]
        .iter()
        .any(|path| read_number::<u8>(path) == Some(1))
        || !std::path::Path::new("/proc/sys/net/ipv6").exists()
}

/// `net.core.somaxconn`: the cap on every listen backlog.
pub fn somaxconn() -> Option<u32> {
    read_number("/proc/sys/net/core/somaxconn")
}

fn read_number<T: std::str::FromStr>(path: &str) -> Option<T> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
