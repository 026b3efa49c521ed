//! The sock_diag destroy multicast: one notification for every TCP socket
//! the kernel destroys, with its 4-tuple, uid, cookie and `tcp_info` bytes;
//! optionally ([`DestroyGroups::TcpAndUdp`]) for every UDP socket too, with
//! its addresses, uid and cookie (`SKNLGRP_INET_UDP_DESTROY` 2,
//! `SKNLGRP_INET6_UDP_DESTROY` 4), which is how a UDP listener that lived
//! between two dumps is still noticed.
//!
//! This is what lets `porthole monitor` see connections that live for a
//! millisecond without eBPF: polling dumps miss anything shorter than the
//! poll interval, while a subscriber to `SKNLGRP_INET_TCP_DESTROY` (1) and
//! `SKNLGRP_INET6_TCP_DESTROY` (3) gets every close. The message has no pid
//! and inode 0, so it is joined to processes by socket cookie.
//!
//! # Platform specific behavior
//! - The groups are per network namespace: a subscriber sees only the
//!   namespace its socket was created in, so `--netns all` opens one
//!   subscription per namespace from a thread that entered it.
//! - Needs CAP_NET_ADMIN. Under load the default receive buffer overflows
//!   (`ENOBUFS`, 15% lost at ~1,700 closes/s); an 8 MiB+ buffer set with
//!   `SO_RCVBUFFORCE` was lossless at 5,000/s. Overflows are counted.
//!
//! See: <https://man7.org/linux/man-pages/man7/sock_diag.7.html>

use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket as NetlinkSocket};

use super::netlink::{decode_destroyed, ClosedSocket};
use super::InventoryError;

/// `SKNLGRP_INET_TCP_DESTROY` and `SKNLGRP_INET6_TCP_DESTROY`
/// (linux/sock_diag.h).
const TCP_DESTROY_GROUPS: [u32; 2] = [1, 3];
/// `SKNLGRP_INET_UDP_DESTROY` and `SKNLGRP_INET6_UDP_DESTROY`.
const UDP_DESTROY_GROUPS: [u32; 2] = [2, 4];

/// Which sockets' destruction a [`DestroySubscription`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyGroups {
    /// TCP sockets only (`porthole top`, which counts connections).
    Tcp,
    /// TCP and UDP sockets (`porthole monitor`, which also records UDP
    /// listeners).
    TcpAndUdp,
    /// UDP sockets only (`porthole monitor` in eBPF mode, whose programs
    /// see TCP only).
    Udp,
}
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_HEADER_LEN: usize = 16;
/// Receive buffer asked for: room for ~60k notifications between reads.
const RECEIVE_BUFFER: usize = 32 << 20;

/// A subscription to TCP destroy notifications of one network namespace.
pub struct DestroySubscription {
    socket: NetlinkSocket,
    buffer: Vec<u8>,
}

/// What one [`DestroySubscription::drain`] call read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Notifications decoded.
    pub messages: usize,
    /// `ENOBUFS` errors: each means the kernel dropped one or more
    /// notifications because the receive buffer was full.
    pub overflows: u64,
}

impl DestroySubscription {
    /// Subscribes to TCP destroys in the calling thread's network
    /// namespace.
    pub fn open() -> Result<Self, InventoryError> {
        Self::open_groups(DestroyGroups::Tcp)
    }

    /// Subscribes to `groups` in the calling thread's network namespace.
    pub fn open_groups(groups: DestroyGroups) -> Result<Self, InventoryError> {
        let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG).map_err(InventoryError::Netlink)?;
        socket.bind_auto().map_err(InventoryError::Netlink)?;
        crate::sys::netlink::set_receive_buffer(&socket, RECEIVE_BUFFER)
            .map_err(InventoryError::Netlink)?;
        let (tcp, udp): (&[u32], &[u32]) = match groups {
            DestroyGroups::Tcp => (&TCP_DESTROY_GROUPS, &[]),
            DestroyGroups::TcpAndUdp => (&TCP_DESTROY_GROUPS, &UDP_DESTROY_GROUPS),
            DestroyGroups::Udp => (&[], &UDP_DESTROY_GROUPS),
        };
        for &group in tcp.iter().chain(udp) {
            socket.add_membership(group).map_err(InventoryError::Netlink)?;
        }
        socket.set_non_blocking(true).map_err(InventoryError::Netlink)?;
        Ok(DestroySubscription { socket, buffer: Vec::with_capacity(256 * 1024) })
    }

    /// Subscribes in the namespace behind `handle` (`/proc/PID/ns/net` or
    /// `/run/netns/NAME`): a helper thread enters it, opens the socket and
    /// hands it back; the socket stays bound to that namespace.
    pub fn open_in(handle: &str, groups: DestroyGroups) -> Result<Self, InventoryError> {
        let handle = handle.to_string();
        std::thread::spawn(move || {
            crate::sys::netns::enter(&handle)
                .map_err(|source| InventoryError::Namespace { inode: 0, source })?;
            Self::open_groups(groups)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(InventoryError::Netlink(std::io::Error::other("namespace thread panicked")))
        })
    }

    /// Reads every notification queued now, without blocking, appending the
    /// closed sockets to `out`.
    pub fn drain(&mut self, out: &mut Vec<ClosedSocket>) -> Result<Drained, InventoryError> {
        let mut drained = Drained::default();
        loop {
            self.buffer.clear();
            match self.socket.recv(&mut self.buffer, 0) {
                Ok(0) => return Ok(drained),
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Ok(drained),
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                    drained.overflows += 1;
                    continue;
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(InventoryError::Netlink(error)),
            }
            drained.messages += decode_datagram(&self.buffer, out)?;
        }
    }
}

impl AsRawFd for DestroySubscription {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Decodes the netlink messages of one datagram.
fn decode_datagram(datagram: &[u8], out: &mut Vec<ClosedSocket>) -> Result<usize, InventoryError> {
    let mut offset = 0;
    let mut count = 0;
    while offset + NLMSG_HEADER_LEN <= datagram.len() {
        let header = &datagram[offset..offset + NLMSG_HEADER_LEN];
        let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        if length < NLMSG_HEADER_LEN || offset + length > datagram.len() {
            return Err(InventoryError::MalformedReply {
                reason: "destroy notification length exceeds the datagram".to_string(),
            });
        }
        if kind == SOCK_DIAG_BY_FAMILY {
            if let Some(closed) =
                decode_destroyed(&datagram[offset + NLMSG_HEADER_LEN..offset + length])?
            {
                out.push(closed);
                count += 1;
            }
        }
        offset += (length + 3) & !3;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One destroy notification as the kernel sends it, for a loopback
    /// client socket 127.0.0.1:40000 → 127.0.0.1:8080 that sent 5 bytes and
    /// received 7.
    #[rustfmt::skip]
    fn notification() -> Vec<u8> {
        let mut message = Vec::new();
        // nlmsghdr: length (filled below), type 20, flags 0, seq 0, pid 0
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(&20u16.to_ne_bytes());
        message.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // inet_diag_msg: family AF_INET, state CLOSE, timer, retrans
        message.extend_from_slice(&[2, 7, 0, 0]);
        // sport 40000, dport 8080 (network order)
        message.extend_from_slice(&40000u16.to_be_bytes());
        message.extend_from_slice(&8080u16.to_be_bytes());
        // src, dst (16 bytes each; IPv4 in the first 4)
        message.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        message.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        // interface 1, cookie 0x1234 (two u32 words, low first)
        message.extend_from_slice(&1u32.to_ne_bytes());
        message.extend_from_slice(&0x1234u64.to_ne_bytes());
        // expires, rqueue, wqueue, uid 1000, inode 0
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(&1000u32.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        // INET_DIAG_PROTOCOL (10): u8 IPPROTO_TCP, padded to 8 bytes
        message.extend_from_slice(&5u16.to_ne_bytes());
        message.extend_from_slice(&10u16.to_ne_bytes());
        message.extend_from_slice(&[6, 0, 0, 0]);
        // INET_DIAG_INFO (2): a 232-byte tcp_info: retransmits at 2 = 0,
        // probes at 3 = 1, bytes_acked at 120 = 5 (4 bytes and the FIN),
        // bytes_received at 128 = 7, bytes_sent at 200 = 6 (4 bytes, 2 of
        // them again), bytes_retrans at 208 = 2
        let mut info = vec![0u8; 232];
        info[3] = 1;
        info[120..128].copy_from_slice(&5u64.to_ne_bytes());
        info[128..136].copy_from_slice(&7u64.to_ne_bytes());
        info[200..208].copy_from_slice(&6u64.to_ne_bytes());
        info[208..216].copy_from_slice(&2u64.to_ne_bytes());
        message.extend_from_slice(&(4 + info.len() as u16).to_ne_bytes());
        message.extend_from_slice(&2u16.to_ne_bytes());
        message.extend_from_slice(&info);
        let length = message.len() as u32;
        message[0..4].copy_from_slice(&length.to_ne_bytes());
        message
    }

    #[test]
    fn decodes_a_destroy_notification() {
        let mut datagram = notification();
        // Two messages in one datagram, as the kernel batches them.
        datagram.extend(notification());
        let mut out = Vec::new();
        assert_eq!(decode_datagram(&datagram, &mut out).unwrap(), 2);
        let closed = &out[0];
        assert_eq!(closed.cookie, 0x1234);
        assert_eq!(closed.local, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(closed.remote, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(closed.uid, 1000);
        assert_eq!((closed.bytes_acked, closed.bytes_received), (5, 7));
        assert_eq!((closed.bytes_sent, closed.bytes_retransmitted), (Some(6), 2));
        assert_eq!((closed.retransmits, closed.probes), (0, 1));
        assert_eq!(closed.protocol, crate::model::Protocol::Tcp);
    }

    #[test]
    fn a_udp_destroy_notification_says_udp() {
        let mut datagram = notification();
        // INET_DIAG_PROTOCOL's value, after nlmsghdr (16) and inet_diag_msg
        // (72) and the attribute's own header (4): IPPROTO_UDP.
        assert_eq!(datagram[16 + 72 + 2], 10, "the protocol attribute");
        datagram[16 + 72 + 4] = 17;
        let mut out = Vec::new();
        assert_eq!(decode_datagram(&datagram, &mut out).unwrap(), 1);
        assert_eq!(out[0].protocol, crate::model::Protocol::Udp);
    }

    #[test]
    fn a_tcp_info_from_before_linux_4_19_has_no_bytes_sent() {
        let mut datagram = notification();
        // Cut tcp_info to the 192 bytes of Linux 4.18.
        let info_start = datagram.len() - 232;
        datagram.truncate(info_start + 192);
        datagram[info_start - 4..info_start - 2].copy_from_slice(&(4u16 + 192).to_ne_bytes());
        let length = datagram.len() as u32;
        datagram[0..4].copy_from_slice(&length.to_ne_bytes());
        let mut out = Vec::new();
        assert_eq!(decode_datagram(&datagram, &mut out).unwrap(), 1);
        assert_eq!((out[0].bytes_acked, out[0].bytes_sent), (5, None));
    }

    #[test]
    fn rejects_a_truncated_datagram() {
        let datagram = notification();
        let mut out = Vec::new();
        assert!(decode_datagram(&datagram[..datagram.len() - 10], &mut out).is_err());
    }
}
