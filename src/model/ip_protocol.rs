//! Names of IP protocol numbers, for raw sockets: a raw socket is bound to
//! one IP protocol, which listings name as `ss` and `/etc/protocols` do
//! where the number is well known, and print as a number otherwise.

/// The short name of IP protocol `number`, or `None` for one without a
/// well-known name (shown as its number).
pub fn name(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        6 => "tcp",
        8 => "egp",
        17 => "udp",
        41 => "ipv6",
        46 => "rsvp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        115 => "l2tp",
        132 => "sctp",
        136 => "udplite",
        255 => "raw",
        _ => return None,
    })
}

/// The name of `number`, or the number itself when it has none.
pub fn label(number: u8) -> std::borrow::Cow<'static, str> {
    match name(number) {
        Some(name) => name.into(),
        None => number.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_protocols_are_named_and_others_numbered() {
        assert_eq!(label(1), "icmp");
        assert_eq!(label(58), "icmpv6");
        assert_eq!(label(17), "udp");
        assert_eq!(label(89), "ospf");
        assert_eq!(label(112), "vrrp");
        assert_eq!(label(255), "raw");
        assert_eq!(label(253), "253");
        assert_eq!(name(0), None);
        // Every name is a short lower-case word a column can hold.
        for number in 0..=u8::MAX {
            if let Some(name) = name(number) {
                assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
                assert!(name.len() <= 8, "{name}");
            }
        }
    }
}
