//! Socket enumeration through `NETLINK_SOCK_DIAG`, the interface `ss` uses.
//!
//! Three dumps, each asking the kernel for as little as the query allows:
//! - **TCP, both families in one walk**: the legacy `TCPDIAG_GETSOCK`
//!   request (type 18) makes the kernel dump with `AF_UNSPEC`, so the
//!   established hash is walked once instead of once per family (115 ms vs
//!   198 ms at 60k sockets). When only one family is wanted, the modern
//!   per-family `SOCK_DIAG_BY_FAMILY` request is used instead.
//! - **UDP**, per family with `SOCK_DIAG_BY_FAMILY`.
//! - **Raw IP sockets**, per family, from the `raw_diag` module: the
//!   request names `IPPROTO_RAW` as its protocol (and again in the
//!   `INET_DIAG_REQ_PROTOCOL` attribute). Where the module is absent
//!   (`CONFIG_INET_RAW_DIAG` unset) the kernel answers `ENOENT`; the
//!   caller then reads the raw sockets from `/proc/net/raw{,6}` and the
//!   rest here, and the snapshot's source says so.
//! - **Unix**, with `unix_diag` asking for name, peer, queue and VFS data.
//!
//! A LISTEN-only state mask skips the established hash entirely, and a
//! single-port query attaches an in-kernel bytecode filter (`sport == P ||
//! dport == P`) so only matching sockets are copied out.
//!
//! Requests are built from `#[repr(C)]` layouts written out here because the
//! legacy request and the bytecode filter are not modelled by
//! `netlink-packet-sock-diag`; replies are decoded with that crate's
//! `InetResponseHeader` and `UnixResponse` parsers. `netlink_packet_*` types
//! never leave this module. The per-refresh counter dump of `top` and the
//! dashboard lives in [`super::counters`], on this module's channel; the
//! request and answer loop is [`crate::sys::netlink::Channel`], which the
//! nftables rule dump shares.
//!
//! # Platform specific behavior
//! Dumps are resumable, not atomic: a socket that moves between kernel
//! tables during the dump can be missed or seen twice; duplicates are
//! removed by cookie. See: <https://man7.org/linux/man-pages/man7/sock_diag.7.html>

use std::net::SocketAddr;

use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_sock_diag::inet::InetResponseHeader;
use netlink_packet_sock_diag::unix::{
    nlas::{Nla as UnixNla, UnixDiagName},
    ShowFlags, StateFlags as UnixStateFlags, UnixRequest, UnixResponse,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use super::{Inventory, InventoryError, Query};
use crate::model::{Family, Protocol, Socket, SocketState, UnixKind};
pub(super) use crate::sys::netlink::Channel;
use crate::sys::netlink::{align4, NLM_F_ACK, NLM_F_REQUEST};

/// Reads sockets of the calling thread's network namespace over netlink.
pub struct Netlink;

// Message types (linux/inet_diag.h).
pub(super) const TCPDIAG_GETSOCK: u16 = 18;
const SOCK_DIAG_BY_FAMILY: u16 = 20;

pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// `sdiag_protocol` of a request for raw sockets (the `raw_diag` handler).
const IPPROTO_RAW: u8 = 255;

/// `inet_diag_msg` is 72 bytes; attributes follow, 4-byte aligned.
pub(super) const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// The request's protocol as a u32 attribute (Linux 5.9+; older kernels
/// ignore it and read `sdiag_protocol`).
const INET_DIAG_REQ_PROTOCOL: u16 = 3;
const INET_DIAG_SKV6ONLY: u16 = 11;
/// `unix_diag_msg` is 16 bytes; attributes follow, 4-byte aligned.
const UNIX_DIAG_MSG_LEN: usize = 16;
/// `struct unix_diag_vfs { u32 udiag_vfs_ino; u32 udiag_vfs_dev; }`: the
/// file a socket was bound to. The crate parses it into a type whose fields
/// are private, so it is read from the raw attributes.
const UNIX_DIAG_VFS: u16 = 1;
pub(super) const INET_DIAG_BC_JMP: u8 = 1;
pub(super) const INET_DIAG_BC_S_GE: u8 = 2;
pub(super) const INET_DIAG_BC_S_LE: u8 = 3;
pub(super) const INET_DIAG_BC_S_EQ: u8 = 11;
pub(super) const INET_DIAG_BC_D_EQ: u8 = 12;

/// Every TCP state from ESTABLISHED (1) to CLOSING (11); the kernel adds
/// NEW_SYN_RECV itself when SYN_RECV is asked for.
const ALL_TCP_STATES: u32 = 0x0FFE;
const LISTEN_STATE: u32 = 1 << 10;
/// TCP_BOUND_INACTIVE (Linux 6.9+): sockets bound with bind() but neither
/// listening nor connected, such as a port reservation. The kernel dumps
/// them only when asked; older kernels ignore the bit.
const BOUND_INACTIVE_STATE: u32 = 1 << 13;
/// UDP sockets are ESTABLISHED (connected) or CLOSE (bound, "UNCONN").
const ALL_UDP_STATES: u32 = (1 << 1) | (1 << 7);

/// States of a TCP socket with a peer that still carries data: every state
/// but LISTEN, CLOSE, TIME-WAIT (no `tcp_info`) and SYN-SENT.
pub(super) const CONNECTED_TCP_STATES: u32 =
    (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 11);
const UNCONNECTED_STATE: u32 = 1 << 7;

impl Inventory for Netlink {
    fn sockets(&self, query: &Query) -> Result<Vec<Socket>, InventoryError> {
        let mut channel = open_channel()?;
        // Sizing the vector from the kernel's counters up front avoids the
        // doubling copies that would otherwise double peak memory at 60k.
        let mut sockets = Vec::with_capacity(estimated_count(query));
        crate::sys::allocator::prefer_huge_pages(&sockets);
        // Raw sockets first: a kernel without `raw_diag` refuses them
        // (ENOENT) before the costly TCP walk, and the caller asks again
        // without them (see `super::enumerate_current`).
        if query.raw && query.ports.is_none() {
            for (wanted, family) in [(query.ipv4, AF_INET), (query.ipv6, AF_INET6)] {
                if wanted {
                    let request = raw_request(family);
                    channel.dump(SOCK_DIAG_BY_FAMILY, &request, |payload| {
                        decode_inet(payload, Protocol::Raw, query, &mut sockets)
                    })?;
                }
            }
        }
        let port_filter = query.ports.as_ref().and_then(|p| p.as_single());
        let filter = port_filter.map(|port| port_bytecode(port, query.match_remote_port));
        if query.tcp && query.reads_ipv6() {
            // A query for given ports asks who holds them: a bound socket
            // does, whether one port was asked for or several.
            let bound = query.ports.is_some() || query.bound;
            let states = match (query.listeners_only, bound) {
                (true, _) => LISTEN_STATE,
                (false, _) if query.connected_only => CONNECTED_TCP_STATES,
                (false, true) => ALL_TCP_STATES | BOUND_INACTIVE_STATE,
                (false, false) => ALL_TCP_STATES,
            };
            // `-4` reads both families: AF_INET6 sockets on `::` and
            // `::ffff:a.b.c.d` carry IPv4 (`Query::keeps` sorts them).
            if query.ipv4 {
                let request = legacy_tcp_request(states, filter.as_deref());
                channel.dump(TCPDIAG_GETSOCK, &request, |payload| {
                    decode_inet(payload, Protocol::Tcp, query, &mut sockets)
                })?;
            } else {
                let request = inet_request(AF_INET6, IPPROTO_TCP, states, filter.as_deref());
                channel.dump(SOCK_DIAG_BY_FAMILY, &request, |payload| {
                    decode_inet(payload, Protocol::Tcp, query, &mut sockets)
                })?;
            }
        }
        if query.udp {
            let states = if query.listeners_only { UNCONNECTED_STATE } else { ALL_UDP_STATES };
            for (wanted, family) in [(query.ipv4, AF_INET), (query.reads_ipv6(), AF_INET6)] {
                if !wanted {
                    continue;
                }
                let request = inet_request(family, IPPROTO_UDP, states, filter.as_deref());
                channel.dump(SOCK_DIAG_BY_FAMILY, &request, |payload| {
                    decode_inet(payload, Protocol::Udp, query, &mut sockets)
                })?;
            }
        }
        if query.unix && query.ports.is_none() {
            let request = unix_request(query.listeners_only);
            channel.dump(SOCK_DIAG_BY_FAMILY, &request, |payload| {
                decode_unix(payload, query, &mut sockets)
            })?;
        }
        dedup_by_cookie(&mut sockets);
        Ok(sockets)
    }
}

/// Sockets the dump will likely return, from `/proc/net/sockstat{,6}`
/// (`TCP: inuse N orphan O tw T …`), capped so a bogus value cannot
/// allocate much.
fn estimated_count(query: &Query) -> usize {
    if query.listeners_only || query.ports.is_some() {
        return 64;
    }
    let mut total = 0usize;
    for file in ["/proc/net/sockstat", "/proc/net/sockstat6"] {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for line in text.lines() {
            let wanted = (query.tcp && line.starts_with("TCP"))
                || (query.udp && line.starts_with("UDP:"))
                || (query.udp && line.starts_with("UDP6:"));
            if !wanted {
                continue;
            }
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            for pair in fields.windows(2) {
                if pair[0] == "inuse" || pair[0] == "tw" {
                    total += pair[1].parse::<usize>().unwrap_or(0);
                }
            }
        }
    }
    total.min(1 << 20) + 64
}

/// Removes sockets a resumable dump reported twice.
fn dedup_by_cookie(sockets: &mut Vec<Socket>) {
    let mut seen = std::collections::HashSet::with_capacity(sockets.len());
    sockets.retain(|s| s.cookie == 0 || seen.insert((s.protocol, s.cookie)));
}

/// A `NETLINK_SOCK_DIAG` channel to the kernel.
pub(super) fn open_channel() -> Result<Channel, InventoryError> {
    let channel = Channel::open(NETLINK_SOCK_DIAG).map_err(InventoryError::Netlink)?;
    // A larger socket buffer lets the kernel fill several pages per
    // round trip; failure to grow it only costs speed.
    let _ = channel.socket().set_rx_buf_sz(1 << 20);
    Ok(channel)
}

pub(super) fn malformed(reason: &str) -> InventoryError {
    InventoryError::MalformedReply { reason: reason.to_string() }
}

/// An all-zero `inet_diag_sockid` (48 bytes) with the cookie set to "any".
fn empty_socket_id() -> [u8; 48] {
    let mut id = [0u8; 48];
    // idiag_cookie = INET_DIAG_NOCOOKIE (~0) so the kernel does not match it.
    id[40..48].copy_from_slice(&[0xff; 8]);
    id
}

/// Appends the `INET_DIAG_REQ_BYTECODE` attribute carrying `bytecode`.
fn append_bytecode(request: &mut Vec<u8>, bytecode: Option<&[u8]>) {
    if let Some(code) = bytecode {
        let length = 4 + code.len();
        request.extend_from_slice(&(length as u16).to_ne_bytes());
        request.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        request.extend_from_slice(code);
        request.resize(align4(request.len()), 0);
    }
}

/// `struct inet_diag_req` (legacy, 60 bytes) for `TCPDIAG_GETSOCK`: the
/// kernel dumps it with `AF_UNSPEC`, i.e. both families in one walk.
fn legacy_tcp_request(states: u32, bytecode: Option<&[u8]>) -> Vec<u8> {
    legacy_tcp_request_with(states, 0, bytecode)
}

/// [`legacy_tcp_request`] asking for `extensions` (a bit per
/// `INET_DIAG_*` attribute, `1 << (attribute - 1)`); they triple the reply
/// size, so listings ask for none.
pub(super) fn legacy_tcp_request_with(
    states: u32,
    extensions: u8,
    bytecode: Option<&[u8]>,
) -> Vec<u8> {
    let mut request = Vec::with_capacity(64);
    request.push(AF_INET); // idiag_family (ignored for dumps: AF_UNSPEC is used)
    request.push(0); // idiag_src_len
    request.push(0); // idiag_dst_len
    request.push(extensions); // idiag_ext
    request.extend_from_slice(&empty_socket_id());
    request.extend_from_slice(&states.to_ne_bytes()); // idiag_states
    request.extend_from_slice(&0u32.to_ne_bytes()); // idiag_dbs
    append_bytecode(&mut request, bytecode);
    request
}

/// `struct inet_diag_req_v2` (56 bytes) for `SOCK_DIAG_BY_FAMILY`.
fn inet_request(family: u8, protocol: u8, states: u32, bytecode: Option<&[u8]>) -> Vec<u8> {
    let mut request = Vec::with_capacity(64);
    request.push(family); // sdiag_family
    request.push(protocol); // sdiag_protocol
    request.push(0); // idiag_ext
    request.push(0); // pad
    request.extend_from_slice(&states.to_ne_bytes()); // idiag_states
    request.extend_from_slice(&empty_socket_id());
    append_bytecode(&mut request, bytecode);
    request
}

/// `struct inet_diag_req_v2` for the raw sockets of `family` in any state
/// (unconnected CLOSE or connected ESTABLISHED), with the
/// `INET_DIAG_REQ_PROTOCOL` attribute.
fn raw_request(family: u8) -> Vec<u8> {
    let mut request = inet_request(family, IPPROTO_RAW, ALL_UDP_STATES, None);
    request.extend_from_slice(&8u16.to_ne_bytes());
    request.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
    request.extend_from_slice(&u32::from(IPPROTO_RAW).to_ne_bytes());
    request
}

/// Bytecode accepting sockets whose source port is `port` (or, with
/// `or_remote`, whose destination port is). Each `inet_diag_bc_op` is
/// `{code: u8, yes: u8, no: u16}`; a port comparison carries the port in the
/// `no` field of a second op. Landing exactly on the end accepts, landing
/// four bytes past it rejects. The kernel's audit only accepts `no` targets
/// that lie on the chain of `yes` jumps, so "A or B" is laid out as `ss`
/// does it: `A (yes→JMP, no→B) · JMP (→end) · B (yes→end, no→reject)`.
fn port_bytecode(port: u16, or_remote: bool) -> Vec<u8> {
    if or_remote {
        any_port_bytecode(&[(INET_DIAG_BC_S_EQ, port), (INET_DIAG_BC_D_EQ, port)])
    } else {
        any_port_bytecode(&[(INET_DIAG_BC_S_EQ, port)])
    }
}

/// Bytecode accepting a socket when any of `conditions` holds, each a port
/// comparison (`INET_DIAG_BC_S_EQ` or `INET_DIAG_BC_D_EQ`) and its port,
/// laid out as [`port_bytecode`] explains: test i sits at 12·i, a JMP to
/// the end after each test but the last. A test that holds falls through
/// to its JMP (the last one onto the end: accept); one that fails skips to
/// the next test (the last one four bytes past the end: reject). Callers
/// pass one or two conditions; `counters` builds the many-port filter.
fn any_port_bytecode(conditions: &[(u8, u16)]) -> Vec<u8> {
    let op = |code: u8, yes: u8, no: u16| {
        let mut bytes = vec![code, yes];
        bytes.extend_from_slice(&no.to_ne_bytes());
        bytes
    };
    let length = (12 * conditions.len()).saturating_sub(4);
    let mut code = Vec::with_capacity(length);
    for (index, (comparison, port)) in conditions.iter().enumerate() {
        code.extend(op(*comparison, 8, 12));
        code.extend(op(0, 0, *port));
        if index + 1 < conditions.len() {
            let to_end =
                u16::try_from(length - code.len()).expect("a few conditions fit 16-bit jumps");
            code.extend(op(INET_DIAG_BC_JMP, 4, to_end));
        }
    }
    code
}

/// The Unix socket with `inode` in the calling thread's namespace, asked of
/// the kernel by inode: a request without `NLM_F_DUMP` makes `unix_diag`
/// look the one socket up and describe it, where a dump copies out every
/// Unix socket of the namespace (thousands on a desktop, each with its
/// name). `None` when no socket has that inode.
///
/// # Platform specific behavior
/// The kernel finds the socket by walking its Unix hash table in place
/// (`unix_lookup_by_ino`), which costs a pointer per socket rather than a
/// message; the lookup answers `ENOENT` for an unknown inode. Inodes of
/// sockets are 32-bit (`get_next_ino`); a wider one cannot be asked for.
/// See: <https://elixir.bootlin.com/linux/v6.6/source/net/unix/diag.c>
pub(super) fn unix_socket(inode: u64) -> Result<Option<Socket>, InventoryError> {
    let Ok(short_inode) = u32::try_from(inode) else { return Ok(None) };
    let request = UnixRequest {
        // Ignored by the lookup, which matches the inode in any state.
        state_flags: UnixStateFlags::all(),
        inode: short_inode,
        show_flags: ShowFlags::NAME | ShowFlags::PEER | ShowFlags::RQLEN,
        // INET_DIAG_NOCOOKIE in both halves: any socket with the inode.
        cookie: [0xff; 8],
    };
    let mut bytes = vec![0u8; request.buffer_len()];
    request.emit(&mut bytes);
    let query =
        Query { tcp: false, udp: false, unix: true, listeners_only: false, ..Query::default() };
    let mut sockets = Vec::with_capacity(1);
    let mut channel = open_channel()?;
    match channel.exchange(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_ACK, &bytes, |payload| {
        decode_unix(payload, &query, &mut sockets)
    }) {
        Ok(()) => Ok(sockets.into_iter().find(|socket| socket.inode == inode)),
        Err(InventoryError::Netlink(error)) if error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// `struct unix_diag_req` through the crate's encoder.
fn unix_request(listeners_only: bool) -> Vec<u8> {
    let state_flags = if listeners_only {
        // Datagram "listeners" are unconnected (state 7) bound sockets.
        UnixStateFlags::LISTEN | UnixStateFlags::from_bits_retain(1 << 7)
    } else {
        UnixStateFlags::all() | UnixStateFlags::from_bits_retain(0x0FFE)
    };
    let request = UnixRequest {
        state_flags,
        inode: 0,
        show_flags: ShowFlags::NAME | ShowFlags::PEER | ShowFlags::RQLEN | ShowFlags::VFS,
        cookie: [0xff; 8],
    };
    let mut bytes = vec![0u8; request.buffer_len()];
    request.emit(&mut bytes);
    bytes
}

/// Decodes one `inet_diag_msg` and keeps it when the query wants it.
pub(crate) fn decode_inet(
    payload: &[u8],
    protocol: Protocol,
    query: &Query,
    out: &mut Vec<Socket>,
) -> Result<(), InventoryError> {
    let header = InetResponseHeader::parse(payload)
        .map_err(|error| malformed(&format!("inet_diag_msg: {error}")))?;
    let family = match header.family {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return Ok(()),
    };
    let id = &header.socket_id;
    let local = SocketAddr::new(id.source_address, id.source_port);
    let remote = SocketAddr::new(id.destination_address, id.destination_port);
    let state = SocketState::from_kernel(header.state);
    let socket = Socket {
        inode: u64::from(header.inode),
        uid: header.uid,
        cookie: u64::from_ne_bytes(id.cookie),
        rx_queue: header.recv_queue,
        tx_queue: header.send_queue,
        interface: id.interface_id,
        v6only: if family == Family::Ipv6 { v6only_attribute(payload) } else { None },
        ..match protocol {
            Protocol::Raw => Socket::raw(local, remote, state),
            _ => Socket::ip(protocol, local, remote, state),
        }
    };
    if query.keeps(&socket) {
        out.push(socket);
    }
    Ok(())
}

/// `INET_DIAG_INFO`: the attribute carrying `struct tcp_info`.
pub(super) const INET_DIAG_INFO: u16 = 2;
/// `INET_DIAG_PROTOCOL`: the attribute carrying the IP protocol (a u8).
const INET_DIAG_PROTOCOL: u16 = 10;
/// Offsets of `tcpi_bytes_acked` and `tcpi_bytes_received` in `struct
/// tcp_info` (linux/tcp.h; both u64, present since Linux 4.1).
pub(super) const TCPI_BYTES_ACKED: usize = 120;
pub(super) const TCPI_BYTES_RECEIVED: usize = 128;
/// `tcpi_retransmits` and `tcpi_probes` (u8, present since the start).
const TCPI_RETRANSMITS: usize = 2;
const TCPI_PROBES: usize = 3;
/// `tcpi_bytes_sent` and `tcpi_bytes_retrans` (u64, Linux 4.19).
const TCPI_BYTES_SENT: usize = 200;
const TCPI_BYTES_RETRANS: usize = 208;

/// Decodes one sock_diag destroy notification (an `inet_diag_msg` sent to
/// the `SKNLGRP_INET*_TCP_DESTROY` or `SKNLGRP_INET*_UDP_DESTROY` groups)
/// into the closed socket it describes; `None` for families other than
/// IPv4/IPv6.
pub(crate) fn decode_destroyed(payload: &[u8]) -> Result<Option<ClosedSocket>, InventoryError> {
    let header = InetResponseHeader::parse(payload)
        .map_err(|error| malformed(&format!("inet_diag_msg: {error}")))?;
    if header.family != AF_INET && header.family != AF_INET6 {
        return Ok(None);
    }
    let id = &header.socket_id;
    let mut closed = ClosedSocket {
        cookie: u64::from_ne_bytes(id.cookie),
        local: SocketAddr::new(id.source_address, id.source_port),
        remote: SocketAddr::new(id.destination_address, id.destination_port),
        uid: header.uid,
        // `INET_DIAG_PROTOCOL` names the protocol; without it the message
        // came from a TCP group (the only ones before UDP's).
        protocol: match attribute(payload, INET_DIAG_PROTOCOL).and_then(|p| p.first()) {
            Some(&IPPROTO_UDP) => Protocol::Udp,
            _ => Protocol::Tcp,
        },
        ..ClosedSocket::default()
    };
    if let Some(info) = attribute(payload, INET_DIAG_INFO) {
        if info.len() >= TCPI_BYTES_RECEIVED + 8 {
            closed.bytes_acked = u64_at(info, TCPI_BYTES_ACKED);
            closed.bytes_received = u64_at(info, TCPI_BYTES_RECEIVED);
            closed.retransmits = info[TCPI_RETRANSMITS];
            closed.probes = info[TCPI_PROBES];
        }
        if info.len() >= TCPI_BYTES_RETRANS + 8 {
            closed.bytes_sent = Some(u64_at(info, TCPI_BYTES_SENT));
            closed.bytes_retransmitted = u64_at(info, TCPI_BYTES_RETRANS);
        }
    }
    Ok(Some(closed))
}

/// A TCP socket the kernel destroyed, as the destroy multicast reports it:
/// the last `tcp_info` of the socket, which also tells how it ended (see
/// `monitor::connections::end_of`). A UDP socket (from the UDP groups) has
/// its addresses, uid and cookie only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedSocket {
    /// Socket cookie (never zero: the kernel generates it for the message).
    pub cookie: u64,
    /// `Tcp` or `Udp`.
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Owner uid of the socket.
    pub uid: u32,
    /// Bytes this end sent that the peer acknowledged; the FIN, which
    /// takes a sequence number, counts as one.
    pub bytes_acked: u64,
    /// Bytes this end received, the peer's FIN counted as one.
    pub bytes_received: u64,
    /// Payload bytes this end transmitted, retransmissions included (never
    /// the FIN); `None` before Linux 4.19.
    pub bytes_sent: Option<u64>,
    /// Of those, bytes sent again.
    pub bytes_retransmitted: u64,
    /// Retransmission timeouts in a row without an acknowledgement when the
    /// socket died (`tcpi_retransmits`).
    pub retransmits: u8,
    /// Unanswered zero-window or keepalive probes (`tcpi_probes`).
    pub probes: u8,
}

impl Default for ClosedSocket {
    fn default() -> Self {
        let unspecified = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0);
        ClosedSocket {
            cookie: 0,
            protocol: Protocol::Tcp,
            local: unspecified,
            remote: unspecified,
            uid: 0,
            bytes_acked: 0,
            bytes_received: 0,
            bytes_sent: None,
            bytes_retransmitted: 0,
            retransmits: 0,
            probes: 0,
        }
    }
}

pub(super) fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_ne_bytes(word)
}

/// The payload of attribute `wanted` after the fixed `inet_diag_msg`.
pub(super) fn attribute(payload: &[u8], wanted: u16) -> Option<&[u8]> {
    attribute_after(payload, INET_DIAG_MSG_LEN, wanted)
}

/// The payload of attribute `wanted` after a fixed header of `header` bytes.
fn attribute_after(payload: &[u8], header: usize, wanted: u16) -> Option<&[u8]> {
    let mut offset = header;
    while offset + 4 <= payload.len() {
        let length = usize::from(u16::from_ne_bytes([payload[offset], payload[offset + 1]]));
        let kind = u16::from_ne_bytes([payload[offset + 2], payload[offset + 3]]) & 0x3fff;
        if length < 4 || offset + length > payload.len() {
            return None;
        }
        if kind == wanted {
            return Some(&payload[offset + 4..offset + length]);
        }
        offset += align4(length);
    }
    None
}

/// `INET_DIAG_SKV6ONLY` among the attributes after the fixed header: one
/// byte, non-zero for a socket that accepts IPv6 only.
fn v6only_attribute(payload: &[u8]) -> Option<bool> {
    attribute(payload, INET_DIAG_SKV6ONLY)?.first().map(|flag| *flag != 0)
}

/// `UNIX_DIAG_VFS`: (device, inode) of the file a Unix socket was bound
/// to, the device re-encoded as `stat()` reports `st_dev`.
///
/// # Platform specific behavior
///
/// The kernel sends its internal `dev_t` (major in the top 12 bits, minor
/// in the low 20), not the encoding `stat()` uses (glibc `makedev`), so
/// 254:0 arrives as `0x0fe00000` while `st_dev` is `0xfe00`; `ss -x -e`
/// splits it the same way.
fn vfs_attribute(payload: &[u8]) -> Option<(u64, u64)> {
    let vfs = attribute_after(payload, UNIX_DIAG_MSG_LEN, UNIX_DIAG_VFS)?;
    let word = |at: usize| -> Option<u64> {
        let bytes: [u8; 4] = vfs.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(u32::from_ne_bytes(bytes)))
    };
    let (inode, kernel_device) = (word(0)?, word(4)?);
    let (major, minor) = (kernel_device >> 20, kernel_device & 0xf_ffff);
    let device = ((major & 0xfff) << 8)
        | (minor & 0xff)
        | ((minor & !0xff) << 12)
        | ((major & !0xfff) << 32);
    Some((device, inode))
}

/// Decodes one `unix_diag_msg` with its attributes.
fn decode_unix(payload: &[u8], query: &Query, out: &mut Vec<Socket>) -> Result<(), InventoryError> {
    let response = UnixResponse::parse(payload)
        .map_err(|error| malformed(&format!("unix_diag_msg: {error}")))?;
    let header = &response.header;
    let mut path = None;
    let mut peer_inode = None;
    let mut queues = (0u32, 0u32);
    for attribute in &response.nlas {
        match attribute {
            UnixNla::Name(UnixDiagName::Pathname(name)) => {
                path = Some(crate::model::os_text::from_os_str(name.as_os_str()));
            }
            UnixNla::Name(UnixDiagName::Abstract(name)) => {
                path = Some(format!("@{}", crate::model::os_text::from_bytes(name)));
            }
            UnixNla::Peer(inode) if *inode != 0 => peer_inode = Some(u64::from(*inode)),
            UnixNla::ReceiveQueueLength(received, limit) => queues = (*received, *limit),
            _ => {}
        }
    }
    let socket = Socket {
        peer_inode,
        bound_file: vfs_attribute(payload),
        inode: u64::from(header.inode),
        cookie: u64::from_ne_bytes(header.cookie),
        rx_queue: queues.0,
        tx_queue: queues.1,
        ..Socket::unix(
            UnixKind::from_kernel(header.kind),
            path,
            SocketState::from_kernel(header.state),
        )
    };
    if query.keeps(&socket) {
        out.push(socket);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` for a v6 listener on [::1]:8080 with
    /// INET_DIAG_SKV6ONLY = 1, laid out field by field.
    #[rustfmt::skip]
    fn v6_listener_reply() -> Vec<u8> {
        let mut bytes = vec![
            AF_INET6,       // idiag_family
            10,             // idiag_state: LISTEN
            0,              // idiag_timer
            0,              // idiag_retrans
            0x1f, 0x90,     // idiag_sport: 8080, big endian
            0x00, 0x00,     // idiag_dport
        ];
        let mut source = [0u8; 16];
        source[15] = 1; // ::1
        bytes.extend_from_slice(&source);          // idiag_src
        bytes.extend_from_slice(&[0u8; 16]);       // idiag_dst
        bytes.extend_from_slice(&0u32.to_ne_bytes());  // idiag_if
        bytes.extend_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes()); // idiag_cookie
        bytes.extend_from_slice(&0u32.to_ne_bytes());  // idiag_expires
        bytes.extend_from_slice(&3u32.to_ne_bytes());  // idiag_rqueue: 3 waiting
        bytes.extend_from_slice(&128u32.to_ne_bytes()); // idiag_wqueue: backlog 128
        bytes.extend_from_slice(&1000u32.to_ne_bytes()); // idiag_uid
        bytes.extend_from_slice(&424242u32.to_ne_bytes()); // idiag_inode
        assert_eq!(bytes.len(), INET_DIAG_MSG_LEN);
        // Attribute: {len 5, type SKV6ONLY, value 1} padded to 8.
        bytes.extend_from_slice(&5u16.to_ne_bytes());
        bytes.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0]);
        bytes
    }

    #[test]
    fn decodes_inet_diag_msg_fields() {
        let mut out = Vec::new();
        decode_inet(&v6_listener_reply(), Protocol::Tcp, &Query::default(), &mut out).unwrap();
        let socket = &out[0];
        assert_eq!(socket.local, Some("[::1]:8080".parse().unwrap()));
        assert_eq!(socket.state, SocketState::Listen);
        assert_eq!((socket.rx_queue, socket.tx_queue), (3, 128));
        assert_eq!(socket.uid, 1000);
        assert_eq!(socket.inode, 424242);
        assert_eq!(socket.cookie, 0x1122_3344_5566_7788);
        assert_eq!(socket.v6only, Some(true));
        assert_eq!(socket.family, Family::Ipv6);
    }

    /// A `unix_diag_msg` for a stream listener bound to `/run/a.sock`, with
    /// UNIX_DIAG_NAME and UNIX_DIAG_VFS, laid out field by field.
    #[rustfmt::skip]
    fn unix_listener_reply() -> Vec<u8> {
        let mut bytes = vec![
            1,              // udiag_family: AF_UNIX
            1,              // udiag_type: SOCK_STREAM
            10,             // udiag_state: LISTEN
            0,              // pad
        ];
        bytes.extend_from_slice(&777u32.to_ne_bytes());   // udiag_ino
        bytes.extend_from_slice(&[0xff; 8]);              // udiag_cookie
        assert_eq!(bytes.len(), UNIX_DIAG_MSG_LEN);
        // UNIX_DIAG_NAME (0): "/run/a.sock" and its NUL, 12 bytes: no padding.
        bytes.extend_from_slice(&16u16.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(b"/run/a.sock\0");
        // UNIX_DIAG_VFS (1): {udiag_vfs_ino 4242, udiag_vfs_dev 254:3 as
        // the kernel's dev_t, major << 20 | minor}.
        bytes.extend_from_slice(&12u16.to_ne_bytes());
        bytes.extend_from_slice(&UNIX_DIAG_VFS.to_ne_bytes());
        bytes.extend_from_slice(&4242u32.to_ne_bytes());
        bytes.extend_from_slice(&((254u32 << 20) | 3).to_ne_bytes());
        bytes
    }

    #[test]
    fn decodes_the_file_a_unix_socket_was_bound_to() {
        let mut out = Vec::new();
        decode_unix(&unix_listener_reply(), &Query::default(), &mut out).unwrap();
        let socket = &out[0];
        assert_eq!(socket.path.as_deref(), Some("/run/a.sock"));
        assert_eq!(socket.inode, 777);
        // st_dev of a file on 254:3, as stat(1) %D prints it: fe03.
        assert_eq!(socket.bound_file, Some((0xfe03, 4242)));
        // Without the attribute (an unbound socket) nothing is claimed.
        assert_eq!(vfs_attribute(&unix_listener_reply()[..UNIX_DIAG_MSG_LEN + 16]), None);
    }

    #[test]
    fn a_raw_socket_carries_its_ip_protocol_where_the_port_was() {
        let mut reply = v6_listener_reply();
        reply[1] = 7; // idiag_state: CLOSE
        reply[4..6].copy_from_slice(&58u16.to_be_bytes()); // inet_num: ICMPv6
        let mut out = Vec::new();
        let query = Query { raw: true, ..Query::default() };
        decode_inet(&reply, Protocol::Raw, &query, &mut out).unwrap();
        let socket = &out[0];
        assert_eq!((socket.protocol, socket.ip_protocol), (Protocol::Raw, Some(58)));
        assert_eq!((socket.local_port(), socket.inode), (0, 424242));
        // Unless asked for, they are not kept.
        let mut none = Vec::new();
        decode_inet(&reply, Protocol::Raw, &Query::default(), &mut none).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn truncated_reply_is_an_error_not_a_panic() {
        let reply = v6_listener_reply();
        let mut out = Vec::new();
        assert!(decode_inet(&reply[..40], Protocol::Tcp, &Query::default(), &mut out).is_err());
        // A truncated attribute is ignored rather than read out of bounds.
        assert_eq!(v6only_attribute(&reply[..INET_DIAG_MSG_LEN + 3]), None);
    }

    #[test]
    fn bytecode_for_many_ports_jumps_to_the_end_or_the_next_test() {
        let conditions =
            [(INET_DIAG_BC_S_EQ, 80), (INET_DIAG_BC_S_EQ, 443), (INET_DIAG_BC_D_EQ, 8080)];
        let code = any_port_bytecode(&conditions);
        assert_eq!(code.len(), 32);
        for (index, (comparison, port)) in conditions.iter().enumerate() {
            let at = 12 * index;
            assert_eq!(&code[at..at + 4], &[*comparison, 8, 12, 0][..], "test {index}");
            assert_eq!(u16::from_ne_bytes([code[at + 6], code[at + 7]]), *port);
            if index + 1 < conditions.len() {
                assert_eq!(code[at + 8], INET_DIAG_BC_JMP);
                let to_end = u16::from_ne_bytes([code[at + 10], code[at + 11]]) as usize;
                assert_eq!(at + 8 + to_end, code.len(), "JMP {index} lands on the end");
            }
        }
        assert_eq!(any_port_bytecode(&conditions[..1]), port_bytecode(80, false));
    }

    #[test]
    fn bytecode_jumps_are_well_formed() {
        let code = port_bytecode(5432, true);
        assert_eq!(code.len(), 20);
        assert_eq!(&code[0..2], &[INET_DIAG_BC_S_EQ, 8]);
        assert_eq!(u16::from_ne_bytes([code[6], code[7]]), 5432);
        assert_eq!(&code[8..10], &[INET_DIAG_BC_JMP, 4]);
        assert_eq!(u16::from_ne_bytes([code[18], code[19]]), 5432);
        let local_only = port_bytecode(80, false);
        assert_eq!(local_only.len(), 8);
    }

    #[test]
    fn requests_have_kernel_sizes() {
        assert_eq!(legacy_tcp_request(LISTEN_STATE, None).len(), 60);
        assert_eq!(inet_request(AF_INET, IPPROTO_UDP, ALL_UDP_STATES, None).len(), 56);
        // 56 + the INET_DIAG_REQ_PROTOCOL attribute (4 + u32).
        let raw = raw_request(AF_INET6);
        assert_eq!((raw.len(), raw[0], raw[1]), (64, AF_INET6, IPPROTO_RAW));
        assert_eq!(u32::from_ne_bytes(raw[60..64].try_into().unwrap()), 255);
        // 56 + attribute header 4 + 20 bytes of bytecode.
        assert_eq!(inet_request(AF_INET, IPPROTO_TCP, 1, Some(&port_bytecode(1, true))).len(), 80);
        assert_eq!(crate::sys::netlink::frame(20, NLM_F_REQUEST, 1, &[0u8; 56]).len(), 72);
    }

    /// The inode of the socket behind `fd`, as `fstat` reports it.
    fn inode_of(fd: &impl std::os::fd::AsRawFd) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap().ino()
    }

    // The lookup by inode on real sockets: our end of a queued connection
    // names no peer, an accepted one names the server's end, and the inode
    // of a closed socket is not found (rather than an error).
    #[test]
    fn one_unix_socket_is_found_by_its_inode() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("lookup.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let found = unix_socket(inode_of(&client)).unwrap().expect("our own end");
        assert_eq!(found.state, SocketState::Established);
        assert_eq!(found.peer_inode, None, "queued: the server's end has no inode yet");
        let (server, _) = listener.accept().unwrap();
        let found = unix_socket(inode_of(&client)).unwrap().expect("our own end");
        assert_eq!(found.peer_inode, Some(inode_of(&server)));
        let found = unix_socket(inode_of(&listener)).unwrap().expect("the listener");
        assert_eq!(found.state, SocketState::Listen);
        assert_eq!(found.path.as_deref(), path.to_str());
        // A closed socket's inode is not found (sockets take their inode
        // from a counter: it is not handed out again soon).
        let (gone, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        let gone_inode = inode_of(&gone);
        drop(gone);
        assert_eq!(unix_socket(gone_inode).unwrap(), None);
        assert_eq!(unix_socket(u64::from(u32::MAX) + 1).unwrap(), None);
    }
}
