//! Netlink plumbing the safe crates do not offer: the request and answer
//! loop every netlink dump of porthole goes through (the sock_diag dumps
//! of [`crate::inventory::netlink`], the nftables rule dump of
//! [`super::nftables`]), and socket options of the monitor's netlink
//! subscriptions.
//!
//! # Platform specific behavior
//! A dump (`NLM_F_DUMP`) answers with as many datagrams as it takes, each
//! holding whole messages, and ends with `NLMSG_DONE`, whose payload is
//! the errno of a dump that failed half-way (0 otherwise); a refused
//! request answers `NLMSG_ERROR` with a negative errno, and an
//! acknowledged one (`NLM_F_ACK`) `NLMSG_ERROR` with 0.
//! See: <https://www.kernel.org/doc/html/latest/userspace-api/netlink/intro.html>
//!
//! `SO_RCVBUFFORCE` (CAP_NET_ADMIN) may exceed `net.core.rmem_max`, which is
//! what makes the sock_diag destroy multicast and the process connector
//! lossless at thousands of events per second: with the default 208 KiB
//! buffer 15% of destroy notifications were dropped under load.
//! See: <https://man7.org/linux/man-pages/man7/socket.7.html>

use std::os::fd::{AsFd, AsRawFd};

use netlink_sys::{Socket as NetlinkSocket, SocketAddr as NetlinkAddress};

// Message types and flags (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_ACK: u16 = 0x04;
const NLM_F_ROOT: u16 = 0x100;
const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// `struct nlmsghdr`: length, type, flags, sequence, port id.
pub const NLMSG_HEADER_LEN: usize = 16;

/// What can go wrong in a request and its answer.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The socket failed, or the kernel refused the request or failed
    /// the dump (its errno).
    #[error("netlink request failed")]
    Io(#[source] std::io::Error),
    /// The answer does not parse as netlink messages.
    #[error("malformed netlink reply: {reason}")]
    Malformed { reason: &'static str },
}

/// A netlink socket connected to the kernel, with a receive buffer kept
/// between requests.
pub struct Channel {
    socket: NetlinkSocket,
    buffer: Vec<u8>,
    /// The sequence number of the last request: replies carry it.
    sequence: u32,
}

impl Channel {
    /// A socket of netlink `protocol` (`NETLINK_SOCK_DIAG`…), in the
    /// calling thread's network namespace.
    pub fn open(protocol: isize) -> std::io::Result<Self> {
        let mut socket = NetlinkSocket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&NetlinkAddress::new(0, 0))?;
        Ok(Channel { socket, buffer: Vec::with_capacity(64 * 1024), sequence: 0 })
    }

    /// The socket, for its options.
    pub fn socket(&self) -> &NetlinkSocket {
        &self.socket
    }

    /// Sends one dump request and feeds every reply payload to `on_payload`
    /// until `NLMSG_DONE`.
    pub fn dump<E: From<ReplyError>>(
        &mut self,
        message_type: u16,
        payload: &[u8],
        on_payload: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.exchange(message_type, NLM_F_REQUEST | NLM_F_DUMP, payload, on_payload)
    }

    /// Sends one request with `flags` and feeds every reply payload to
    /// `on_payload` until the dump's `NLMSG_DONE` or the acknowledgement
    /// (`NLMSG_ERROR` with code 0) of a request with `NLM_F_ACK`.
    pub fn exchange<E: From<ReplyError>>(
        &mut self,
        message_type: u16,
        flags: u16,
        payload: &[u8],
        mut on_payload: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.sequence = self.sequence.wrapping_add(1);
        let request = frame(message_type, flags, self.sequence, payload);
        self.socket.send(&request, 0).map_err(ReplyError::Io)?;
        loop {
            self.buffer.clear();
            let received = self.socket.recv(&mut self.buffer, 0).map_err(ReplyError::Io)?;
            if received == 0 {
                return Err(malformed("netlink socket closed during a dump"));
            }
            let mut offset = 0;
            while offset + NLMSG_HEADER_LEN <= self.buffer.len() {
                let header = &self.buffer[offset..offset + NLMSG_HEADER_LEN];
                let length = u32_at(header, 0) as usize;
                let kind = u16::from_ne_bytes([header[4], header[5]]);
                if length < NLMSG_HEADER_LEN || offset + length > self.buffer.len() {
                    return Err(malformed("message length exceeds the datagram"));
                }
                let body = &self.buffer[offset + NLMSG_HEADER_LEN..offset + length];
                // A channel kept across refreshes may still hold the tail
                // of a dump that failed half-way: only this request's
                // replies count.
                if u32_at(header, 8) != self.sequence {
                    offset += align4(length);
                    continue;
                }
                match kind {
                    NLMSG_DONE => {
                        // A dump that failed half-way reports the errno here.
                        if body.len() >= 4 {
                            let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                            if code < 0 {
                                return Err(kernel_error(code));
                            }
                        }
                        return Ok(());
                    }
                    NLMSG_ERROR => {
                        let code = if body.len() >= 4 {
                            i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                        } else {
                            -libc::EBADMSG
                        };
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(kernel_error(code));
                    }
                    _ => on_payload(body)?,
                }
                offset += align4(length);
            }
        }
    }
}

fn malformed<E: From<ReplyError>>(reason: &'static str) -> E {
    ReplyError::Malformed { reason }.into()
}

/// The kernel's negative errno `code` as an error.
fn kernel_error<E: From<ReplyError>>(code: i32) -> E {
    ReplyError::Io(std::io::Error::from_raw_os_error(-code)).into()
}

/// `length` rounded up to netlink's 4-byte alignment.
pub fn align4(length: usize) -> usize {
    (length + 3) & !3
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_ne_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]])
}

/// Wraps a payload in a netlink header.
pub fn frame(message_type: u16, flags: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
    let length = NLMSG_HEADER_LEN + payload.len();
    let mut message = Vec::with_capacity(align4(length));
    message.extend_from_slice(&(length as u32).to_ne_bytes());
    message.extend_from_slice(&message_type.to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&sequence.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills ours in
    message.extend_from_slice(payload);
    message.resize(align4(length), 0);
    message
}

/// Sets the receive buffer to `bytes`, above `rmem_max` when privileged;
/// falls back to `SO_RCVBUF` (capped by `rmem_max`) without privilege.
/// Returns the size the kernel granted (it reports double the request).
pub fn set_receive_buffer(socket: &impl AsFd, bytes: usize) -> std::io::Result<usize> {
    let fd = socket.as_fd().as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: `value` is a live c_int and the length passed is its size;
        // setsockopt only reads it. `fd` is a socket borrowed for the call.
        let result = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            break;
        }
        if option == libc::SO_RCVBUF {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(rustix::net::sockopt::socket_recv_buffer_size(socket.as_fd())?)
}
