//! Socket enumeration from the `/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}` text
//! tables: the fallback when netlink `sock_diag` is refused (seccomp
//! filters, some sandboxes), and the way into another network namespace
//! without privileges (`/proc/PID/net/…` shows that process's namespace).
//!
//! It yields the same sockets as the netlink reader. The text tables carry
//! less, so a few fields differ and are documented on [`Procfs`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::{Inventory, InventoryError, Query};
use crate::model::{Family, Protocol, Socket, SocketState, UnixKind};

/// Reader of one namespace's `/proc/…/net` directory.
///
/// Differences from netlink: a TCP listener's `tx_queue` (its backlog) is
/// not printed by the kernel and reads 0; `v6only`, the socket cookie, the
/// bound interface and the Unix peer inode are unknown; Unix sockets carry
/// no uid.
pub struct Procfs {
    directory: PathBuf,
}

impl Procfs {
    /// The caller's own namespace (`/proc/net` follows the calling thread).
    pub fn current() -> Self {
        Procfs { directory: PathBuf::from("/proc/thread-self/net") }
    }

    /// The namespace of process `pid`.
    pub fn of_process(pid: u32) -> Self {
        Procfs { directory: PathBuf::from(format!("/proc/{pid}/net")) }
    }

    fn read(&self, name: &str) -> Result<Option<String>, InventoryError> {
        let path = self.directory.join(name);
        // Unix socket paths are any bytes their owners chose: each byte
        // that is not UTF-8 is kept (see `crate::model::os_text`) rather
        // than failing the whole table.
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(crate::model::os_text::from_bytes(&bytes))),
            // A kernel without IPv6 has no tcp6/udp6 tables.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(InventoryError::ReadProc { path: display(&path), source }),
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Inventory for Procfs {
    fn sockets(&self, query: &Query) -> Result<Vec<Socket>, InventoryError> {
        let mut sockets = Vec::new();
        let tables = [
            ("tcp", Protocol::Tcp, Family::Ipv4, query.tcp && query.ipv4),
            ("tcp6", Protocol::Tcp, Family::Ipv6, query.tcp && query.reads_ipv6()),
            ("udp", Protocol::Udp, Family::Ipv4, query.udp && query.ipv4),
            ("udp6", Protocol::Udp, Family::Ipv6, query.udp && query.reads_ipv6()),
            ("raw", Protocol::Raw, Family::Ipv4, query.raw && query.ipv4 && query.ports.is_none()),
            ("raw6", Protocol::Raw, Family::Ipv6, query.raw && query.ipv6 && query.ports.is_none()),
        ];
        for (name, protocol, family, wanted) in tables {
            if !wanted {
                continue;
            }
            let Some(text) = self.read(name)? else { continue };
            let path = display(&self.directory.join(name));
            for (number, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let socket = parse_inet_line(line, protocol, family).ok_or_else(|| {
                    InventoryError::MalformedProcLine { path: path.clone(), line: number + 1 }
                })?;
                if query.keeps(&socket) {
                    sockets.push(socket);
                }
            }
        }
        if query.unix && query.ports.is_none() {
            if let Some(text) = self.read("unix")? {
                let path = display(&self.directory.join("unix"));
                let mut unix: Vec<Socket> = Vec::new();
                let text = text.strip_suffix('\n').unwrap_or(&text);
                for (number, line) in text.split('\n').enumerate().skip(1) {
                    match parse_unix_line(line) {
                        Some(socket) => unix.push(socket),
                        // The kernel writes a path as it is, newlines
                        // included: a line that is not a socket continues
                        // the path of the one before.
                        None => match unix.last_mut().and_then(|s| s.path.as_mut()) {
                            Some(previous) => {
                                previous.push('\n');
                                previous.push_str(line.trim_end());
                            }
                            None if line.trim().is_empty() => {}
                            None => {
                                return Err(InventoryError::MalformedProcLine {
                                    path: path.clone(),
                                    line: number + 1,
                                })
                            }
                        },
                    }
                }
                sockets.extend(unix.into_iter().filter(|socket| query.keeps(socket)));
            }
        }
        Ok(sockets)
    }
}

/// How long until the last TIME-WAIT socket whose local port is `port`
/// expires, in the calling thread's namespace; `None` when there is none.
///
/// # Platform specific behavior
/// Only the text tables carry the timer: the `tr:tm->when` column is `03`
/// (TIME-WAIT timer) and the time left in USER_HZ (100 per second) ticks.
/// TIME-WAIT always lasts 60 s on Linux (`TCP_TIMEWAIT_LEN`).
pub fn time_wait_expiry(port: u16) -> Option<std::time::Duration> {
    let mut longest: Option<u64> = None;
    for (name, family) in [("tcp", Family::Ipv4), ("tcp6", Family::Ipv6)] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/thread-self/net/{name}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let (Some(local), Some(state), Some(timer)) =
                (fields.get(1), fields.get(3), fields.get(5))
            else {
                continue;
            };
            if *state != "06" || parse_hex_endpoint(local, family).map(|a| a.port()) != Some(port) {
                continue;
            }
            if let Some(("03", ticks)) = timer.split_once(':') {
                if let Ok(ticks) = u64::from_str_radix(ticks, 16) {
                    longest = Some(longest.map_or(ticks, |l| l.max(ticks)));
                }
            }
        }
    }
    longest.map(|ticks| std::time::Duration::from_millis(ticks * 10))
}

/// Parses one row of `/proc/net/tcp*`, `/proc/net/udp*` or
/// `/proc/net/raw*`: `sl local rem st tx:rx tr:when retrnsmt uid timeout
/// inode …` (a raw socket's IP protocol in the local port's place).
pub fn parse_inet_line(line: &str, protocol: Protocol, family: Family) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?;
    let local = parse_hex_endpoint(fields.next()?, family)?;
    let remote = parse_hex_endpoint(fields.next()?, family)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (tx_queue, rx_queue) = fields.next()?.split_once(':')?;
    let tx_queue = u32::from_str_radix(tx_queue, 16).ok()?;
    let rx_queue = u32::from_str_radix(rx_queue, 16).ok()?;
    let _timer = fields.next()?;
    let _retransmits = fields.next()?;
    let uid: u32 = fields.next()?.parse().ok()?;
    let _timeout = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    Some(Socket {
        inode,
        uid,
        rx_queue,
        tx_queue,
        ..match protocol {
            Protocol::Raw => Socket::raw(local, remote, SocketState::from_kernel(state)),
            _ => Socket::ip(protocol, local, remote, SocketState::from_kernel(state)),
        }
    })
}

/// Parses `0100007F:1F90` (IPv4) or 32 hex digits + port (IPv6). The kernel
/// prints each 32-bit word of the address with `%08X` in host byte order.
fn parse_hex_endpoint(text: &str, family: Family) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match family {
        Family::Ipv4 => {
            if address.len() != 8 {
                return None;
            }
            let word = u32::from_str_radix(address, 16).ok()?;
            IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes()))
        }
        Family::Ipv6 => {
            if address.len() != 32 {
                return None;
            }
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(&address[index * 8..index * 8 + 8], 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        Family::Unix => return None,
    };
    Some(SocketAddr::new(address, port))
}

/// `__SO_ACCEPTCON`: set in the flags column of a listening Unix socket.
const SO_ACCEPTCON: u32 = 1 << 16;
/// `SS_CONNECTED` in the `St` column.
const SS_CONNECTED: u8 = 3;

/// Parses one row of `/proc/net/unix`:
/// `Num RefCount Protocol Flags Type St Inode [Path]`.
pub fn parse_unix_line(line: &str) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _address = fields.next()?;
    let _references = fields.next()?;
    let _protocol = fields.next()?;
    let flags = u32::from_str_radix(fields.next()?, 16).ok()?;
    let kind = u8::from_str_radix(fields.next()?, 16).ok()?;
    let socket_state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    // The path is the rest of the line (it may contain spaces); abstract
    // names are printed with a leading '@' in place of the NUL byte.
    let path = line
        .split_ascii_whitespace()
        .nth(7)
        .map(|_| {
            let mut rest = line;
            for _ in 0..7 {
                rest = rest.trim_start();
                rest = &rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..];
            }
            rest.trim().to_string()
        })
        .filter(|p| !p.is_empty());
    let state = if flags & SO_ACCEPTCON != 0 {
        SocketState::Listen
    } else if socket_state == SS_CONNECTED {
        SocketState::Established
    } else {
        SocketState::Close
    };
    Some(Socket { inode, ..Socket::unix(UnixKind::from_kernel(kind), path, state) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_rows_with_the_ip_protocol_in_the_port_column() {
        let line = "   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0";
        let socket = parse_inet_line(line, Protocol::Raw, Family::Ipv4).unwrap();
        assert_eq!(socket.ip_protocol, Some(1));
        assert_eq!(socket.local, Some("0.0.0.0:0".parse().unwrap()));
        assert_eq!((socket.local_port(), socket.inode), (0, 4242));
        assert!(!socket.is_listener());
        let line = "  11: 00000000000000000000000000000000:003A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4343 2 0000000000000000 0";
        let socket = parse_inet_line(line, Protocol::Raw, Family::Ipv6).unwrap();
        assert_eq!((socket.ip_protocol, socket.family), (Some(58), Family::Ipv6));
    }

    #[test]
    fn parses_tcp_v4_listener_row() {
        let line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
        let socket = parse_inet_line(line, Protocol::Tcp, Family::Ipv4).unwrap();
        assert_eq!(socket.local, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(socket.remote, Some("0.0.0.0:0".parse().unwrap()));
        assert_eq!(socket.state, SocketState::Listen);
        assert_eq!(socket.rx_queue, 2);
        assert_eq!(socket.uid, 1000);
        assert_eq!(socket.inode, 123456);
    }

    #[test]
    fn parses_tcp6_established_row() {
        let line = "   1: 00000000000000000000000001000000:1538 00000000000000000000000001000000:D431 01 00000000:00000000 02:000AFC6E 00000000   108        0 99 2 0000000000000000 20 4 29 10 -1";
        let socket = parse_inet_line(line, Protocol::Tcp, Family::Ipv6).unwrap();
        assert_eq!(socket.local, Some("[::1]:5432".parse().unwrap()));
        assert_eq!(socket.remote, Some("[::1]:54321".parse().unwrap()));
        assert_eq!(socket.state, SocketState::Established);
        assert_eq!(socket.uid, 108);
    }

    #[test]
    fn parses_v4_mapped_and_udp_rows() {
        let line = "  12: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0";
        let socket = parse_inet_line(line, Protocol::Udp, Family::Ipv6).unwrap();
        assert_eq!(socket.local, Some("[::ffff:127.0.0.1]:53".parse().unwrap()));
        assert!(socket.is_listener());
    }

    #[test]
    fn rejects_garbage_rows() {
        assert!(parse_inet_line("   0: zz:1F90 00000000:0000 0A", Protocol::Tcp, Family::Ipv4)
            .is_none());
        assert!(parse_inet_line("", Protocol::Tcp, Family::Ipv4).is_none());
        assert!(parse_unix_line("0000: 2 0").is_none());
    }

    /// `/proc/net/unix` as the kernel writes it: paths raw, a newline and
    /// a byte that is not UTF-8 included.
    #[test]
    fn unix_paths_with_newlines_and_raw_bytes_are_read_whole() {
        let directory = tempfile::tempdir().unwrap();
        let mut table = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
        table.extend_from_slice(
            b"0000000000000000: 00000002 00000000 00010000 0001 01 41 /tmp/a\xff\nb.sock\n",
        );
        table.extend_from_slice(
            b"0000000000000000: 00000002 00000000 00010000 0001 01 42 /run/x.sock\n",
        );
        std::fs::write(directory.path().join("unix"), table).unwrap();
        let procfs = Procfs { directory: directory.path().to_path_buf() };
        let sockets = procfs.sockets(&Query::unix_sockets()).unwrap();
        let paths: Vec<_> = sockets.iter().map(|s| (s.inode, s.path.clone().unwrap())).collect();
        let first = crate::model::os_text::from_bytes(b"/tmp/a\xff\nb.sock");
        assert_eq!(paths, vec![(41, first), (42, "/run/x.sock".to_string())]);
    }

    #[test]
    fn parses_unix_rows() {
        let listening =
            "0000000000000000: 00000002 00000000 00010000 0001 01 20512 /run/my app.sock";
        let socket = parse_unix_line(listening).unwrap();
        assert_eq!(socket.state, SocketState::Listen);
        assert_eq!(socket.path.as_deref(), Some("/run/my app.sock"));
        assert_eq!(socket.unix_kind, Some(UnixKind::Stream));
        assert!(socket.is_listener());

        let abstract_dgram =
            "0000000000000000: 00000002 00000000 00000000 0002 01 31 @/org/kernel/udev";
        let socket = parse_unix_line(abstract_dgram).unwrap();
        assert_eq!(socket.path.as_deref(), Some("@/org/kernel/udev"));
        assert_eq!(socket.state, SocketState::Close);
        assert!(socket.is_listener());

        let connected = "0000000000000000: 00000003 00000000 00000000 0001 03 40";
        let socket = parse_unix_line(connected).unwrap();
        assert_eq!(socket.state, SocketState::Established);
        assert_eq!(socket.path, None);
    }
}
