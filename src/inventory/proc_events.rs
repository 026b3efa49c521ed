//! The process connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): a
//! notification for every fork, exec and exit on the machine.
//!
//! `porthole monitor` keeps a table of processes from these events so that a
//! connection or listener stays named after its process exited — the
//! `<UNKNOWN>` that tools reading `/proc` late report — and polls listeners
//! more often while processes are starting, so a listener that lives 50 ms
//! is still caught.
//!
//! # Platform specific behavior
//! Needs CAP_NET_ADMIN and the initial pid namespace; the kernel end of the
//! connector lives in the initial network namespace only (see
//! [`ProcConnector::open_in_initial_namespace`]). Like every netlink multicast it can overflow (`ENOBUFS`),
//! which is counted. See: <https://www.kernel.org/doc/html/latest/driver-api/connector.html>

use std::os::fd::{AsRawFd, RawFd};

use netlink_sys::{Socket as NetlinkSocket, SocketAddr as NlAddr};

use super::InventoryError;

const NETLINK_CONNECTOR: isize = 11;
/// `CN_IDX_PROC` / `CN_VAL_PROC` (linux/connector.h).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
const NLMSG_HEADER_LEN: usize = 16;
/// `struct cn_msg`: id (idx, val), seq, ack, len (u16), flags (u16).
const CN_MSG_LEN: usize = 20;
/// `struct proc_event` header: what (u32), cpu (u32), timestamp_ns (u64).
const PROC_EVENT_HEADER_LEN: usize = 16;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
const RECEIVE_BUFFER: usize = 8 << 20;

/// One process lifecycle event. Thread events (pid ≠ tgid) are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new process `child` was forked by `parent`.
    Fork { parent: u32, child: u32 },
    /// `pid` executed a new program.
    Exec { pid: u32 },
    /// `pid` exited.
    Exit { pid: u32 },
}

/// A subscription to process events.
pub struct ProcConnector {
    socket: NetlinkSocket,
    buffer: Vec<u8>,
}

impl ProcConnector {
    /// Joins the proc connector group and asks the kernel to start sending.
    pub fn open() -> Result<Self, InventoryError> {
        let mut socket = NetlinkSocket::new(NETLINK_CONNECTOR).map_err(InventoryError::Netlink)?;
        let _ = crate::sys::netlink::set_receive_buffer(&socket, RECEIVE_BUFFER);
        // Port 0: the kernel picks a free port id (the process id may
        // already name another netlink socket of ours).
        socket.bind(&NlAddr::new(0, CN_IDX_PROC)).map_err(InventoryError::Netlink)?;
        let mut bound = NlAddr::new(0, 0);
        socket.get_address(&mut bound).map_err(InventoryError::Netlink)?;
        socket.send(&listen_request(bound.port_number()), 0).map_err(InventoryError::Netlink)?;
        socket.set_non_blocking(true).map_err(InventoryError::Netlink)?;
        Ok(ProcConnector { socket, buffer: Vec::with_capacity(64 * 1024) })
    }

    /// Opens the subscription in the initial network namespace: the kernel
    /// side of the connector exists only there, so a socket opened in another
    /// namespace (a recorder inside a container or a test namespace) would
    /// never receive an event. Kernel threads (kthreadd, pid 2) live in the
    /// initial namespace; pid 1 is tried too, though sandboxes often hide it.
    pub fn open_in_initial_namespace() -> Result<Self, InventoryError> {
        let own = crate::sys::netns::inode_of("/proc/thread-self/ns/net").ok();
        let handle = ["/proc/2/ns/net", "/proc/1/ns/net"]
            .into_iter()
            .find(|path| crate::sys::netns::inode_of(path).is_ok());
        let Some(handle) = handle else { return Self::open() };
        if own == crate::sys::netns::inode_of(handle).ok() {
            return Self::open();
        }
        std::thread::spawn(move || {
            crate::sys::netns::enter(handle)
                .map_err(|source| InventoryError::Namespace { inode: 0, source })?;
            Self::open()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(InventoryError::Netlink(std::io::Error::other("namespace thread panicked")))
        })
    }

    /// Reads every queued event without blocking; returns the number of
    /// `ENOBUFS` overflows met.
    pub fn drain(&mut self, out: &mut Vec<ProcEvent>) -> Result<u64, InventoryError> {
        let mut overflows = 0;
        loop {
            self.buffer.clear();
            match self.socket.recv(&mut self.buffer, 0) {
                Ok(0) => return Ok(overflows),
                Ok(_) => decode_datagram(&self.buffer, out),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(overflows)
                }
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => overflows += 1,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(InventoryError::Netlink(error)),
            }
        }
    }
}

impl AsRawFd for ProcConnector {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// `nlmsghdr` + `cn_msg` + `PROC_CN_MCAST_LISTEN`.
fn listen_request(port: u32) -> Vec<u8> {
    let length = NLMSG_HEADER_LEN + CN_MSG_LEN + 4;
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as u32).to_ne_bytes());
    message.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&0u32.to_ne_bytes()); // sequence
    message.extend_from_slice(&port.to_ne_bytes());
    message.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    message.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // seq
    message.extend_from_slice(&0u32.to_ne_bytes()); // ack
    message.extend_from_slice(&4u16.to_ne_bytes()); // len
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    message
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset + 4)?;
    Some(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]))
}

/// Decodes the process events of one datagram; anything malformed or of
/// another kind is skipped (the connector also carries acknowledgements).
fn decode_datagram(datagram: &[u8], out: &mut Vec<ProcEvent>) {
    let mut offset = 0;
    while offset + NLMSG_HEADER_LEN <= datagram.len() {
        let Some(length) = u32_at(datagram, offset).map(|l| l as usize) else { return };
        if length < NLMSG_HEADER_LEN || offset + length > datagram.len() {
            return;
        }
        let body = &datagram[offset + NLMSG_HEADER_LEN..offset + length];
        if let Some(event) = decode_proc_event(body) {
            out.push(event);
        }
        offset += (length + 3) & !3;
    }
}

fn decode_proc_event(body: &[u8]) -> Option<ProcEvent> {
    if u32_at(body, 0)? != CN_IDX_PROC || u32_at(body, 4)? != CN_VAL_PROC {
        return None;
    }
    let event = body.get(CN_MSG_LEN..)?;
    let what = u32_at(event, 0)?;
    let data = event.get(PROC_EVENT_HEADER_LEN..)?;
    match what {
        PROC_EVENT_FORK => {
            // parent_pid, parent_tgid, child_pid, child_tgid
            let (parent, child_pid, child) =
                (u32_at(data, 4)?, u32_at(data, 8)?, u32_at(data, 12)?);
            (child_pid == child).then_some(ProcEvent::Fork { parent, child })
        }
        PROC_EVENT_EXEC => {
            let (pid, tgid) = (u32_at(data, 0)?, u32_at(data, 4)?);
            (pid == tgid).then_some(ProcEvent::Exec { pid: tgid })
        }
        PROC_EVENT_EXIT => {
            let (pid, tgid) = (u32_at(data, 0)?, u32_at(data, 4)?);
            (pid == tgid).then_some(ProcEvent::Exit { pid: tgid })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let mut body = Vec::new();
        // cn_msg: idx 1, val 1, seq, ack, len, flags
        for word in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            body.extend_from_slice(&word.to_ne_bytes());
        }
        body.extend_from_slice(&((16 + data.len() * 4) as u16).to_ne_bytes());
        body.extend_from_slice(&0u16.to_ne_bytes());
        // proc_event: what, cpu, timestamp_ns
        body.extend_from_slice(&what.to_ne_bytes());
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend_from_slice(&0u64.to_ne_bytes());
        for word in data {
            body.extend_from_slice(&word.to_ne_bytes());
        }
        let mut datagram = Vec::new();
        datagram.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        datagram.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        datagram.extend_from_slice(&[0; 10]);
        datagram.extend_from_slice(&body);
        datagram
    }

    #[test]
    fn decodes_fork_exec_exit_and_skips_threads() {
        let mut datagram = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        datagram.extend(message(PROC_EVENT_FORK, &[10, 10, 12, 10])); // a thread
        datagram.extend(message(PROC_EVENT_EXEC, &[11, 11]));
        datagram.extend(message(PROC_EVENT_EXIT, &[11, 11, 0, 17, 10, 10]));
        let mut out = Vec::new();
        decode_datagram(&datagram, &mut out);
        assert_eq!(
            out,
            vec![
                ProcEvent::Fork { parent: 10, child: 11 },
                ProcEvent::Exec { pid: 11 },
                ProcEvent::Exit { pid: 11 },
            ]
        );
    }
}
