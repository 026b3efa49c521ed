//! A quick look at the nftables ruleset over netlink, without running
//! `nft`: whether any rule uses an expression of a given kind.
//!
//! `check` of a port that works still warns of a rule that stops only part
//! of the traffic (a `numgen`, `limit` or `quota` rule drops some
//! connections and lets this one through). Running `nft -j list ruleset`
//! for that doubled the time of a healthy verdict; one rule dump over
//! netlink costs a fraction of a millisecond, and `nft` runs only when the
//! dump names such an expression.
//!
//! # Platform specific behavior
//! A rule dump is `NFT_MSG_GETRULE` with `NLM_F_DUMP` on a
//! `NETLINK_NETFILTER` socket; nfnetlink answers only callers with
//! `CAP_NET_ADMIN` (as `nft list` needs it too), in the calling thread's
//! network namespace. Each rule carries its expressions as nested
//! attributes whose `NFTA_EXPR_NAME` (type 1) is the expression's name
//! (`numgen`, `limit`, `match` for an iptables-nft extension, whose own
//! name is `NFTA_MATCH_NAME`, type 1 too).
//! See: <https://www.kernel.org/doc/html/latest/userspace-api/netlink/intro.html>

use netlink_sys::protocols::NETLINK_NETFILTER;

use super::netlink::{Channel, ReplyError};

/// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETRULE` (linux/netfilter/nf_tables.h).
const GET_RULES: u16 = (10 << 8) | 7;
/// The netlink attribute type both `NFTA_EXPR_NAME` and `NFTA_MATCH_NAME`
/// have.
const NAME_ATTRIBUTE: u16 = 1;

/// What a rule dump says about the expressions asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionSearch {
    /// Some rule uses one of them.
    Found,
    /// No rule of this namespace uses any.
    Absent,
    /// The kernel refused the dump (no `CAP_NET_ADMIN`): `nft` would be
    /// refused as well.
    Refused,
    /// The dump could not be read (no nf_tables, an unexpected answer).
    Unknown,
}

/// Whether any nftables rule of the calling thread's network namespace
/// uses an expression (or an iptables-nft match) named one of `names`.
pub fn rules_use_expressions(names: &[&str]) -> ExpressionSearch {
    match dump_rules() {
        Ok(dump) if names.iter().any(|name| contains_name(&dump, name)) => ExpressionSearch::Found,
        Ok(_) => ExpressionSearch::Absent,
        Err(ReplyError::Io(error)) if error.raw_os_error() == Some(libc::EPERM) => {
            ExpressionSearch::Refused
        }
        Err(_) => ExpressionSearch::Unknown,
    }
}

/// The payloads of every message of a rule dump, concatenated.
fn dump_rules() -> Result<Vec<u8>, ReplyError> {
    let mut channel = Channel::open(NETLINK_NETFILTER).map_err(ReplyError::Io)?;
    // nfgenmsg: family AF_UNSPEC (every family), version 0, resource id 0.
    let request = [0u8; 4];
    let mut dump = Vec::new();
    channel.dump(GET_RULES, &request, |payload| {
        dump.extend_from_slice(payload);
        Ok::<(), ReplyError>(())
    })?;
    Ok(dump)
}

/// Whether `dump` holds a name attribute (type 1) whose value is `name`:
/// its header (length, type) followed by the NUL-terminated name. A false
/// match costs only an `nft` run; a real one is never missed.
fn contains_name(dump: &[u8], name: &str) -> bool {
    let length = (4 + name.len() + 1) as u16;
    let mut pattern = Vec::with_capacity(length as usize);
    pattern.extend_from_slice(&length.to_ne_bytes());
    pattern.extend_from_slice(&NAME_ATTRIBUTE.to_ne_bytes());
    pattern.extend_from_slice(name.as_bytes());
    pattern.push(0);
    dump.windows(pattern.len()).any(|window| window == pattern.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut bytes = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(value);
        bytes
    }

    #[test]
    fn finds_an_expression_name_attribute_and_nothing_else() {
        let mut dump = attribute(2, b"limit\0"); // another attribute's value
        dump.extend(attribute(NAME_ATTRIBUTE, b"numgen\0"));
        assert!(contains_name(&dump, "numgen"));
        assert!(!contains_name(&dump, "limit"));
        // A longer name that starts with the one asked for is not it.
        assert!(!contains_name(&attribute(NAME_ATTRIBUTE, b"limitx\0"), "limit"));
    }
}
