//! Link-local IPv6 targets (`fe80::/10`): an address that means something
//! only on one link, so the kernel connects to it only through a named
//! interface, the zone (`[fe80::1%eth0]:80`, `sin6_scope_id`).
//!
//! Three ways such a connect fails before any listener or rule is involved,
//! each told apart with the namespace's interfaces (`ip -j addr show`,
//! read by [`super::interfaces::read`]):
//! - no zone: `connect()` fails with `EINVAL`;
//! - a zone whose interface has no link-local address (`lo`, an interface
//!   that is down or has no IPv6), or that does not hold an address of this
//!   machine that another interface holds: `ENETUNREACH`, because the
//!   `fe80::/64` route of that interface is missing or the address is
//!   delivered locally only on its own interface;
//! - a zone whose link has no host with the address: neighbour discovery
//!   gets no answer and the SYN is never sent (a timeout, or
//!   `EHOSTUNREACH`).
//!
//! Interface names are chosen by whoever created the interface: other
//! users' text, escaped by the renderers (and shell-quoted in commands).

use std::net::Ipv6Addr;

use super::interfaces::Interface;
use super::{Attempt, Cause, CauseId, Fix, Outcome, Severity};

/// Whether `address` is a unicast link-local address (`fe80::/10`).
pub fn is_link_local(address: Ipv6Addr) -> bool {
    address.segments()[0] & 0xffc0 == 0xfe80
}

/// `[ADDRESS%ZONE]:PORT`.
fn scoped(address: Ipv6Addr, zone: &str, port: u16) -> String {
    format!("[{address}%{zone}]:{port}")
}

/// `porthole check '[ADDRESS%ZONE]:PORT'`, quoted for the shell, porthole
/// called `program`.
fn check_command(program: &str, address: Ipv6Addr, zone: &str, port: u16) -> Fix {
    Fix::command(format!("{program} check {}", crate::shell::word(&scoped(address, zone, port))))
}

/// The interfaces that have a link-local address, each with its first
/// one: `eth0 (fe80::fc:ff:fe00:1)`.
fn with_link_local(interfaces: &[Interface]) -> Vec<(&Interface, Ipv6Addr)> {
    interfaces
        .iter()
        .filter(|interface| interface.up)
        .filter_map(|interface| {
            interface.addresses.iter().find_map(|(ip, _)| match ip {
                std::net::IpAddr::V6(v6) if is_link_local(*v6) => Some((interface, *v6)),
                _ => None,
            })
        })
        .collect()
}

/// The evidence line that lists the interfaces with link-local addresses.
fn links_line(links: &[(&Interface, Ipv6Addr)]) -> String {
    if links.is_empty() {
        return "no interface here that is up has a link-local address: no link-local \
                address can be reached from this network namespace"
            .to_string();
    }
    let listed: Vec<String> =
        links.iter().map(|(interface, own)| format!("{} ({own})", interface.name)).collect();
    format!("interfaces with link-local addresses here: {}", listed.join(", "))
}

/// Why a connect to link-local `address` failed as the kernel answered it
/// (`attempt`), or `None` when the interfaces do not explain it (a refused
/// connect, or a link that holds the address: the listener table and the
/// firewall decide then). `zone` is the zone's interface index and name,
/// `None` when the target has none. `program` calls porthole in a fix line.
pub fn unreachable(
    attempt: &Attempt,
    address: Ipv6Addr,
    port: u16,
    zone: Option<(u32, &str)>,
    interfaces: &[Interface],
    program: &str,
) -> Option<Cause> {
    let outcome = attempt.outcome()?;
    if !matches!(outcome, Outcome::Unreachable | Outcome::Timeout) {
        return None;
    }
    let holder = interfaces.iter().find(|interface| {
        interface.addresses.iter().any(|(ip, _)| *ip == std::net::IpAddr::V6(address))
    });
    let links = with_link_local(interfaces);
    let mut evidence = vec![super::causes::attempt_line(attempt)];
    // The fixes for an address this machine does not hold: the user must
    // know which link its host is on.
    let per_link = |links: &[(&Interface, Ipv6Addr)]| -> Vec<Fix> {
        links
            .iter()
            .map(|(interface, _)| {
                Fix::step(format!(
                    "if its host is on {}'s link, write {}",
                    interface.name,
                    scoped(address, &interface.name, port)
                ))
            })
            .collect()
    };
    let Some((index, zone)) = zone else {
        evidence.push(format!(
            "{address} is link-local: the same address can exist on every link, so the kernel refuses a connect that does not name the interface (EINVAL)"
        ));
        let fix = match holder {
            Some(holder) => {
                evidence.push(format!("{address} is this machine's own, on {}", holder.name));
                vec![check_command(program, address, &holder.name, port)]
            }
            None => {
                evidence.push(links_line(&links));
                per_link(&links)
            }
        };
        return Some(Cause {
            id: CauseId::LinkLocal,
            severity: Severity::Error,
            summary: format!(
                "{address} is a link-local address and the target names no interface: write it as {}",
                scoped(address, "IFACE", port)
            ),
            evidence,
            fix,
        });
    };
    let zone_interface = interfaces.iter().find(|interface| interface.index == index);
    if let Some(holder) = holder.filter(|holder| holder.index != index) {
        evidence.push(format!(
            "{address} is this machine's own, on {}: the kernel delivers it only through that interface",
            holder.name
        ));
        return Some(Cause {
            id: CauseId::LinkLocal,
            severity: Severity::Error,
            summary: format!("{address} is on {}, not on {zone}", holder.name),
            evidence,
            fix: vec![check_command(program, address, &holder.name, port)],
        });
    }
    if holder.is_some() {
        return None;
    }
    let zone_has_link = links.iter().any(|(interface, _)| interface.index == index);
    if !zone_has_link {
        let state = match zone_interface {
            Some(interface) if !interface.up => format!("{zone} is down"),
            _ => format!("{zone} has no link-local address (and so no fe80::/64 route)"),
        };
        evidence.push(format!("{state}: nothing link-local is reached through it"));
        evidence.push(links_line(&links));
        return Some(Cause {
            id: CauseId::LinkLocal,
            severity: Severity::Error,
            summary: format!("{address} cannot be reached through {zone}: {state}"),
            evidence,
            fix: per_link(&links),
        });
    }
    // The zone's link is up and has addresses: no host on it answered
    // neighbour discovery for the address.
    evidence.push(format!(
        "{address} is not this machine's, and no host on {zone}'s link answers for it: the kernel found no neighbour to send the SYN to"
    ));
    let others: Vec<(&Interface, Ipv6Addr)> =
        links.iter().copied().filter(|(interface, _)| interface.index != index).collect();
    let mut fix = vec![Fix::command(format!(
        "ip -6 neigh show {address} dev {}   # FAILED or INCOMPLETE: no host answered",
        crate::shell::word(zone)
    ))];
    fix.push(Fix::step(format!("check the address, and that its host is up and on {zone}'s link")));
    fix.extend(per_link(&others));
    Some(Cause {
        id: CauseId::LinkLocal,
        severity: Severity::Error,
        summary: format!("no host answers for {address} on {zone}'s link"),
        evidence,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diagnosis::{AttemptKind, ProbeAddress};
    use std::net::{IpAddr, SocketAddrV6};
    use std::time::Duration;

    fn interfaces() -> Vec<Interface> {
        vec![
            Interface {
                index: 1,
                name: "lo".into(),
                up: true,
                addresses: vec![("127.0.0.1".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)],
            },
            Interface {
                index: 4,
                name: "eth0".into(),
                up: true,
                addresses: vec![
                    ("192.0.2.2".parse().unwrap(), 24),
                    ("fe80::fc:ff:fe00:1".parse().unwrap(), 64),
                ],
            },
        ]
    }

    fn attempt(
        address: &str,
        scope: Option<(u32, &str)>,
        outcome: Outcome,
        detail: &str,
    ) -> Attempt {
        let ip: Ipv6Addr = address.parse().unwrap();
        let address = match scope {
            Some((index, zone)) => ProbeAddress::Scoped {
                address: SocketAddrV6::new(ip, 8080, 0, index),
                zone: zone.into(),
            },
            None => ProbeAddress::Ip((IpAddr::V6(ip), 8080).into()),
        };
        Attempt {
            address,
            kind: AttemptKind::Connect(outcome),
            elapsed: Duration::ZERO,
            detail: detail.into(),
            reply: None,
            healthy: false,
        }
    }

    fn judge(address: &str, scope: Option<(u32, &str)>, outcome: Outcome) -> Option<Cause> {
        let attempt = attempt(address, scope, outcome, "ENETUNREACH: network is unreachable");
        unreachable(&attempt, address.parse().unwrap(), 8080, scope, &interfaces(), "porthole")
    }

    #[test]
    fn recognises_link_local_addresses() {
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
        assert!(!is_link_local("::1".parse().unwrap()));
        assert!(!is_link_local("fd00::1".parse().unwrap()));
    }

    #[test]
    fn without_a_zone_names_the_interface_to_write() {
        let own = judge("fe80::fc:ff:fe00:1", None, Outcome::Unreachable).expect("a cause");
        assert_eq!(own.id, CauseId::LinkLocal);
        assert!(own.summary.contains("[fe80::fc:ff:fe00:1%IFACE]:8080"), "{}", own.summary);
        assert_eq!(own.fix, [Fix::command("porthole check '[fe80::fc:ff:fe00:1%eth0]:8080'")]);
        let other = judge("fe80::2", None, Outcome::Unreachable).expect("a cause");
        assert!(
            other.evidence.iter().any(|line| line
                == "interfaces with link-local addresses here: eth0 (fe80::fc:ff:fe00:1)"),
            "{:?}",
            other.evidence
        );
        assert_eq!(
            other.fix,
            [Fix::step("if its host is on eth0's link, write [fe80::2%eth0]:8080")]
        );
    }

    #[test]
    fn a_zone_without_the_address_names_where_it_is() {
        let wrong = judge("fe80::fc:ff:fe00:1", Some((1, "lo")), Outcome::Unreachable).unwrap();
        assert_eq!(wrong.summary, "fe80::fc:ff:fe00:1 is on eth0, not on lo");
        assert_eq!(wrong.fix, [Fix::command("porthole check '[fe80::fc:ff:fe00:1%eth0]:8080'")]);
        // A porthole the user's PATH does not find is called by its path.
        let attempt = attempt("fe80::fc:ff:fe00:1", Some((1, "lo")), Outcome::Unreachable, "");
        let address = "fe80::fc:ff:fe00:1".parse().unwrap();
        let program = "'/tmp/a b/porthole'";
        let by_path = unreachable(&attempt, address, 8080, Some((1, "lo")), &interfaces(), program);
        assert_eq!(
            by_path.expect("a cause").fix,
            [Fix::command("'/tmp/a b/porthole' check '[fe80::fc:ff:fe00:1%eth0]:8080'")]
        );
        let no_link = judge("fe80::1", Some((1, "lo")), Outcome::Unreachable).unwrap();
        assert!(no_link.summary.contains("lo has no link-local address"), "{}", no_link.summary);
        let silent = judge("fe80::2", Some((4, "eth0")), Outcome::Timeout).unwrap();
        assert_eq!(silent.summary, "no host answers for fe80::2 on eth0's link");
        assert_eq!(
            silent.fix[0],
            Fix::command(
                "ip -6 neigh show fe80::2 dev eth0   # FAILED or INCOMPLETE: no host answered"
            )
        );
        // On its own interface the listener table and rules decide.
        assert!(judge("fe80::fc:ff:fe00:1", Some((4, "eth0")), Outcome::Timeout).is_none());
        assert!(judge("fe80::2", Some((4, "eth0")), Outcome::Refused).is_none());
    }
}
