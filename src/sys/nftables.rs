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

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NETLINK_NETFILTER` (linux/netlink.h).
const NETLINK_NETFILTER: libc::c_int = 12;
/// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETRULE` (linux/netfilter/nf_tables.h).
const GET_RULES: u16 = (10 << 8) | 7;
const NLMSG_HEADER: usize = 16;
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
        Err(error) if error.raw_os_error() == Some(libc::EPERM) => ExpressionSearch::Refused,
        Err(_) => ExpressionSearch::Unknown,
    }
}

/// The payloads of every message of a rule dump, concatenated.
fn dump_rules() -> std::io::Result<Vec<u8>> {
    // SAFETY: socket(2) with constant arguments; the result is checked
    // before it is owned.
    let raw = unsafe {
        libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER)
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut request = Vec::with_capacity(NLMSG_HEADER + 4);
    let length = (NLMSG_HEADER + 4) as u32;
    request.extend_from_slice(&length.to_ne_bytes());
    request.extend_from_slice(&GET_RULES.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    request.extend_from_slice(&flags.to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns
                                                    // nfgenmsg: family AF_UNSPEC (every family), version 0, resource id 0.
    request.extend_from_slice(&[0, 0, 0, 0]);
    // An unconnected netlink socket sends to the kernel.
    // SAFETY: the buffer is live for the call and its length is passed.
    let sent = unsafe { libc::send(socket.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut dump = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buffer` is live and writable for its whole length.
        let received =
            unsafe { libc::recv(socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if received < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut rest = &buffer[..received as usize];
        if rest.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        while rest.len() >= NLMSG_HEADER {
            let length = u32::from_ne_bytes(rest[0..4].try_into().unwrap_or_default()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap_or_default());
            if length < NLMSG_HEADER || length > rest.len() {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            match kind as libc::c_int {
                libc::NLMSG_DONE => return Ok(dump),
                libc::NLMSG_ERROR => {
                    let code = rest.get(NLMSG_HEADER..NLMSG_HEADER + 4).map_or(0, |bytes| {
                        i32::from_ne_bytes(bytes.try_into().unwrap_or_default())
                    });
                    if code == 0 {
                        return Ok(dump);
                    }
                    return Err(std::io::Error::from_raw_os_error(-code));
                }
                _ => dump.extend_from_slice(&rest[NLMSG_HEADER..length]),
            }
            // Messages are 4-byte aligned.
            let step = (length + 3) & !3;
            rest = rest.get(step..).unwrap_or_default();
        }
    }
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
