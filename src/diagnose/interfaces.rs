//! The network interfaces a loopback connection depends on: whether `lo` is
//! up and holds the address, whether the address has a `local` route, and
//! which device a socket bound with `SO_BINDTODEVICE` is tied to.
//!
//! Read with `ip -j addr show` and `ip -j route get ADDRESS` through the
//! [`System`] handle, so the answer is the calling thread's network
//! namespace (the client's with `--from PID`: a child process inherits the
//! namespace of the thread that starts it), where `/sys/class/net` would
//! show the namespace of whoever mounted `/sys`. A missing `ip` answers
//! "unknown", and no cause is built on it.

use std::net::IpAddr;

use super::firewall::in_prefix;
use crate::inventory::system::{System, COMMAND_TIMEOUT};

/// The loopback device's index in every network namespace (the kernel's
/// `LOOPBACK_IFINDEX`).
pub const LOOPBACK_INDEX: u32 = 1;

/// One interface as `ip -j addr show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// The `UP` flag (administratively up).
    pub up: bool,
    /// Addresses with their prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// Every interface of the namespace, `None` when `ip` is missing or fails.
pub fn read(system: &dyn System) -> Option<Vec<Interface>> {
    let output = system.run("ip", &["-j", "addr", "show"], COMMAND_TIMEOUT)?;
    if !output.success {
        return None;
    }
    parse(&output.text())
}

/// Parses the JSON of `ip -j addr show`.
pub fn parse(json: &str) -> Option<Vec<Interface>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let interfaces = value
        .as_array()?
        .iter()
        .filter_map(|entry| {
            let index = u32::try_from(entry["ifindex"].as_u64()?).ok()?;
            let name = entry["ifname"].as_str()?.to_string();
            let up = entry["flags"]
                .as_array()
                .is_some_and(|flags| flags.iter().any(|flag| flag.as_str() == Some("UP")));
            let addresses = entry["addr_info"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|address| {
                            let ip = address["local"].as_str()?.parse().ok()?;
                            let prefix = u8::try_from(address["prefixlen"].as_u64()?).ok()?;
                            Some((ip, prefix))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Interface { index, name, up, addresses })
        })
        .collect();
    Some(interfaces)
}

/// What is wrong with the loopback path to an address on `lo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopbackProblem {
    /// `lo` is administratively down: IPv4 SYNs vanish, IPv6 connects
    /// fail with `ENETUNREACH`.
    LinkDown,
    /// The address (127.0.0.1, ::1) is not on `lo`.
    AddressMissing { address: IpAddr },
    /// The routing table has no `local` route for the address; `route` is
    /// what `ip route get` said instead.
    NoLocalRoute { address: IpAddr, route: String },
}

/// Why a loopback `address` cannot be reached through `lo`, `None` when the
/// link is up, holds the address and routes it locally (or `ip` cannot
/// tell).
pub fn loopback_problem(system: &dyn System, address: IpAddr) -> Option<LoopbackProblem> {
    let interfaces = read(system)?;
    let lo = interfaces.iter().find(|i| i.index == LOOPBACK_INDEX)?;
    if !lo.up {
        return Some(LoopbackProblem::LinkDown);
    }
    // 127.0.0.2 is served by the 127.0.0.1/8 address; ::1 has no prefix
    // but itself.
    let on_lo = lo.addresses.iter().any(|(ip, prefix)| in_prefix(address, *ip, *prefix));
    let canonical = address == IpAddr::from([127, 0, 0, 1])
        || address == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if !on_lo && canonical {
        return Some(LoopbackProblem::AddressMissing { address });
    }
    let text = address.to_string();
    let output = system.run("ip", &["-j", "route", "get", &text], COMMAND_TIMEOUT)?;
    let route = if output.success {
        let value: serde_json::Value = serde_json::from_str(&output.text()).ok()?;
        let first = value.as_array()?.first()?.clone();
        if first["type"].as_str() == Some("local") {
            return None;
        }
        let kind = first["type"].as_str().unwrap_or("unicast");
        let device = first["dev"].as_str().map(|d| format!(" dev {d}")).unwrap_or_default();
        format!("{kind} {text}{device}")
    } else {
        // `RTNETLINK answers: Network is unreachable` on stderr: no route.
        "no route (network is unreachable)".to_string()
    };
    Some(LoopbackProblem::NoLocalRoute { address, route })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;

    const UP: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],
        "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},
                     {"family":"inet6","local":"::1","prefixlen":128}]},
        {"ifindex":3,"ifname":"v0","flags":["BROADCAST","UP"],
        "addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24}]}]"#;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_names_flags_and_addresses() {
        let interfaces = parse(UP).unwrap();
        assert_eq!(interfaces.len(), 2);
        assert_eq!(interfaces[1].name, "v0");
        assert!(interfaces[0].up);
        assert_eq!(interfaces[0].addresses, vec![(ip("127.0.0.1"), 8), (ip("::1"), 128)]);
    }

    #[test]
    fn down_link_missing_address_and_missing_route() {
        let down = UP.replacen(r#""LOOPBACK","UP","LOWER_UP""#, r#""LOOPBACK""#, 1);
        let system = Scripted::default().command("ip -j addr show", &down);
        assert_eq!(loopback_problem(&system, ip("127.0.0.1")), Some(LoopbackProblem::LinkDown));

        let no_v6 = UP.replacen(r#""local":"::1""#, r#""local":"fe80::1""#, 1);
        let system = Scripted::default().command("ip -j addr show", &no_v6);
        assert_eq!(
            loopback_problem(&system, ip("::1")),
            Some(LoopbackProblem::AddressMissing { address: ip("::1") })
        );

        // The address is there, the route is not: `ip route get` fails.
        let mut system = Scripted::default().command("ip -j addr show", UP);
        let failed = crate::inventory::system::CommandOutput { success: false, stdout: Vec::new() };
        system.commands.insert("ip -j route get 127.0.0.1".to_string(), failed);
        assert!(matches!(
            loopback_problem(&system, ip("127.0.0.1")),
            Some(LoopbackProblem::NoLocalRoute { .. })
        ));

        let routed = Scripted::default().command("ip -j addr show", UP).command(
            "ip -j route get 127.0.0.2",
            r#"[{"type":"local","dst":"127.0.0.2","dev":"lo"}]"#,
        );
        assert_eq!(loopback_problem(&routed, ip("127.0.0.2")), None);
        // Without `ip`, nothing is claimed.
        assert_eq!(loopback_problem(&Scripted::default(), ip("127.0.0.1")), None);
    }
}
