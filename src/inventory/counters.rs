//! Byte counters of connected TCP sockets, sampled once per refresh by
//! `porthole top` and the dashboard: one sock_diag walk asking for
//! `tcp_info`, filtered in the kernel to the sockets the caller counts.
//!
//! At 60k sockets a refresh is dominated by the kernel walking the
//! established hash and filling `tcp_info`, so what this module adds on
//! top is kept small:
//! - one netlink socket and receive buffer for the life of a
//!   [`CounterSampler`], and the request rebuilt only when the port set
//!   changes;
//! - the port filter is a binary search over port ranges, so a socket on
//!   none of the ports (a local client's end, on an ephemeral port) costs
//!   the kernel about log2(ranges) comparisons instead of one per port;
//! - replies are decoded in place from the fixed `inet_diag_msg` layout and
//!   the `INET_DIAG_INFO` attribute and handed over one at a time: nothing
//!   is allocated per socket.
//!
//! # Platform specific behavior
//! The dump is resumable, not atomic: a socket that moves between hash
//! chains while it runs can be reported twice or missed; callers key what
//! they keep by cookie. `tcpi_bytes_acked` and `tcpi_bytes_received` exist
//! since Linux 4.1; on older kernels they read as 0.
//! See: <https://man7.org/linux/man-pages/man7/sock_diag.7.html>

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::netlink::{
    attribute, legacy_tcp_request_with, malformed, open_channel, u64_at, Channel, AF_INET,
    AF_INET6, CONNECTED_TCP_STATES, INET_DIAG_BC_D_EQ, INET_DIAG_BC_JMP, INET_DIAG_BC_S_EQ,
    INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, INET_DIAG_INFO, INET_DIAG_MSG_LEN, TCPDIAG_GETSOCK,
    TCPI_BYTES_ACKED, TCPI_BYTES_RECEIVED,
};
use super::InventoryError;
use crate::model::top::TcpCounters;
use crate::model::SocketState;

/// Above this many port ranges the filter is left out and every connected
/// socket is dumped: the filter's jumps and the netlink attribute that
/// carries it are 16-bit (a range costs at most 28 bytes of filter).
const MAX_FILTER_RANGES: usize = 2048;

/// Which connected sockets a sample asks the kernel for: those whose local
/// port is in `local_ports` (the server ends of connections to local
/// listeners) or whose remote port is in `remote_ports` (the client ends of
/// connections to one of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterPorts {
    pub local_ports: Vec<u16>,
    pub remote_ports: Vec<u16>,
}

/// Samples the counters of the connected TCP sockets of the calling
/// thread's network namespace (both families in one walk), keeping its
/// netlink channel and request between samples.
#[derive(Default)]
pub struct CounterSampler {
    /// Opened on first use, and again after a failed dump (whose unread
    /// tail must not be mistaken for the next reply).
    channel: Option<Channel>,
    /// The request of the last sample and the ports it filters on.
    request: Option<(CounterPorts, Vec<u8>)>,
}

impl CounterSampler {
    pub fn new() -> Self {
        CounterSampler::default()
    }

    /// Dumps the sockets `ports` selects, calling `each` for every one (a
    /// socket may come twice: see the module documentation). Nothing is
    /// dumped when `ports` names no port.
    pub fn sample(
        &mut self,
        ports: &CounterPorts,
        mut each: impl FnMut(TcpCounters),
    ) -> Result<(), InventoryError> {
        if ports.local_ports.is_empty() && ports.remote_ports.is_empty() {
            return Ok(());
        }
        let request = match &mut self.request {
            Some((cached, request)) if cached == ports => request,
            slot => {
                let extensions = 1u8 << (INET_DIAG_INFO - 1);
                let filter = port_filter(ports);
                let request =
                    legacy_tcp_request_with(CONNECTED_TCP_STATES, extensions, filter.as_deref());
                &mut slot.insert((ports.clone(), request)).1
            }
        };
        let channel = match &mut self.channel {
            Some(channel) => channel,
            empty => empty.insert(open_channel()?),
        };
        let result = channel.dump(TCPDIAG_GETSOCK, request, |payload| {
            if let Some(counters) = decode(payload)? {
                each(counters);
            }
            Ok(())
        });
        if result.is_err() {
            self.channel = None;
        }
        result
    }
}

/// Decodes one `inet_diag_msg` carrying `INET_DIAG_INFO` straight from its
/// fixed layout (linux/inet_diag.h); `None` for families other than IPv4
/// and IPv6.
fn decode(payload: &[u8]) -> Result<Option<TcpCounters>, InventoryError> {
    if payload.len() < INET_DIAG_MSG_LEN {
        return Err(malformed("inet_diag_msg shorter than its fixed part"));
    }
    let (local_ip, remote_ip) = match payload[0] {
        AF_INET => (ipv4_at(payload, 8), ipv4_at(payload, 24)),
        AF_INET6 => (ipv6_at(payload, 8), ipv6_at(payload, 24)),
        _ => return Ok(None),
    };
    let port_at = |at: usize| u16::from_be_bytes([payload[at], payload[at + 1]]);
    let u32_at = |at: usize| {
        u32::from_ne_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]])
    };
    let (bytes_acked, bytes_received) = match attribute(payload, INET_DIAG_INFO) {
        Some(info) if info.len() >= TCPI_BYTES_RECEIVED + 8 => {
            (u64_at(info, TCPI_BYTES_ACKED), u64_at(info, TCPI_BYTES_RECEIVED))
        }
        _ => (0, 0),
    };
    let state = SocketState::from_kernel(payload[1]);
    let (bytes_acked, bytes_received) = payload_only(state, bytes_acked, bytes_received);
    Ok(Some(TcpCounters {
        // The cookie is two host-order u32s; read as one native u64 as
        // everywhere else (the destroy feed's cookies must compare equal).
        cookie: u64_at(payload, 44),
        local: SocketAddr::new(local_ip, port_at(4)),
        remote: SocketAddr::new(remote_ip, port_at(6)),
        state,
        inode: u64::from(u32_at(68)),
        uid: u32_at(64),
        bytes_acked,
        bytes_received,
    }))
}

/// The payload part of a live socket's counters. A FIN takes one sequence
/// number and `tcp_info` counts it as a byte: `tcpi_bytes_received` once
/// the peer's FIN arrived (CLOSE-WAIT, LAST-ACK, CLOSING), and
/// `tcpi_bytes_acked` once our FIN was acknowledged (FIN-WAIT-2). Without
/// this every orderly close would show one byte in (and out) that nobody
/// sent; the close feed takes the FIN off by the same rule.
/// See: <https://elixir.bootlin.com/linux/v6.6/source/net/ipv4/tcp_input.c>
/// (`tcp_rcv_nxt_update`, `tcp_snd_una_update`).
pub fn payload_only(state: SocketState, acked: u64, received: u64) -> (u64, u64) {
    let peer_fin =
        matches!(state, SocketState::CloseWait | SocketState::LastAck | SocketState::Closing);
    let own_fin_acked = state == SocketState::FinWait2;
    (acked.saturating_sub(u64::from(own_fin_acked)), received.saturating_sub(u64::from(peer_fin)))
}

fn ipv4_at(payload: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(payload[at], payload[at + 1], payload[at + 2], payload[at + 3]))
}

fn ipv6_at(payload: &[u8], at: usize) -> IpAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&payload[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(octets))
}

/// Where a filter instruction goes when its test fails (or, for a jump,
/// always).
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The end of the program: the socket is dumped.
    Accept,
    /// Four bytes past the end: the socket is skipped.
    Reject,
    /// An instruction further on, by label number.
    Label(usize),
}

/// One instruction of the filter before its jumps are resolved to offsets.
#[derive(Debug)]
enum Instruction {
    /// A port comparison (`INET_DIAG_BC_S_GE` etc.): when it holds, the
    /// next instruction runs; otherwise `otherwise`.
    Test { comparison: u8, port: u16, otherwise: Target },
    /// Goes to `to` whatever the socket.
    Jump { to: Target },
    /// Where `Target::Label` with this number lands (takes no space).
    Label(usize),
}

/// The `INET_DIAG_REQ_BYTECODE` program that accepts a socket when its
/// remote port is one of `remote_ports` or its local port one of
/// `local_ports`; `None` (no filter) when the ports make too many ranges.
///
/// The local ports are merged into ranges and searched by halves: a test
/// `sport >= first port of the upper half` falls through to the upper
/// half's code and otherwise jumps to the lower half's, which is laid out
/// after it. Every test that holds falls through to the next instruction,
/// so every instruction is on the kernel audit's chain of `yes` jumps and
/// every `no` jump is forward: the two rules `inet_diag_bc_audit` checks.
/// See: <https://elixir.bootlin.com/linux/v6.18/source/net/ipv4/inet_diag.c>
fn port_filter(ports: &CounterPorts) -> Option<Vec<u8>> {
    let ranges = port_ranges(&ports.local_ports);
    let mut remote = ports.remote_ports.clone();
    remote.sort_unstable();
    remote.dedup();
    if ranges.len() + remote.len() > MAX_FILTER_RANGES {
        return None;
    }
    let mut program = Vec::new();
    let mut labels = 0;
    for port in remote {
        let next = labels;
        labels += 1;
        program.push(Instruction::Test {
            comparison: INET_DIAG_BC_D_EQ,
            port,
            otherwise: Target::Label(next),
        });
        program.push(Instruction::Jump { to: Target::Accept });
        program.push(Instruction::Label(next));
    }
    if ranges.is_empty() {
        program.push(Instruction::Jump { to: Target::Reject });
    } else {
        search(&ranges, &mut program, &mut labels);
    }
    Some(assemble(&program, labels))
}

/// Sorted, disjoint, non-adjacent ranges covering `ports`.
fn port_ranges(ports: &[u16]) -> Vec<(u16, u16)> {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for port in sorted {
        match ranges.last_mut() {
            Some((_, high)) if high.checked_add(1) == Some(port) => *high = port,
            _ => ranges.push((port, port)),
        }
    }
    ranges
}

/// Emits the search over `ranges` (non-empty); every path ends in a jump
/// to accept or reject.
fn search(ranges: &[(u16, u16)], program: &mut Vec<Instruction>, labels: &mut usize) {
    if let [(low, high)] = ranges {
        if low == high {
            program.push(Instruction::Test {
                comparison: INET_DIAG_BC_S_EQ,
                port: *low,
                otherwise: Target::Reject,
            });
        } else {
            program.push(Instruction::Test {
                comparison: INET_DIAG_BC_S_GE,
                port: *low,
                otherwise: Target::Reject,
            });
            program.push(Instruction::Test {
                comparison: INET_DIAG_BC_S_LE,
                port: *high,
                otherwise: Target::Reject,
            });
        }
        program.push(Instruction::Jump { to: Target::Accept });
        return;
    }
    let middle = ranges.len() / 2;
    let lower = *labels;
    *labels += 1;
    program.push(Instruction::Test {
        comparison: INET_DIAG_BC_S_GE,
        port: ranges[middle].0,
        otherwise: Target::Label(lower),
    });
    search(&ranges[middle..], program, labels);
    program.push(Instruction::Label(lower));
    search(&ranges[..middle], program, labels);
}

/// Lays `program` out as `inet_diag_bc_op`s (`{code: u8, yes: u8, no:
/// u16}`; a port test carries its port in the `no` of a second op).
fn assemble(program: &[Instruction], labels: usize) -> Vec<u8> {
    let mut label_offsets = vec![0usize; labels];
    let mut length = 0;
    for instruction in program {
        match instruction {
            Instruction::Test { .. } => length += 8,
            Instruction::Jump { .. } => length += 4,
            Instruction::Label(label) => label_offsets[*label] = length,
        }
    }
    let offset_of = |target: Target| match target {
        Target::Accept => length,
        Target::Reject => length + 4,
        Target::Label(label) => label_offsets[label],
    };
    let jump = |from: usize, target: Target| {
        u16::try_from(offset_of(target) - from).expect("MAX_FILTER_RANGES keeps jumps in 16 bits")
    };
    let mut code = Vec::with_capacity(length);
    for instruction in program {
        let at = code.len();
        match instruction {
            Instruction::Test { comparison, port, otherwise } => {
                code.extend_from_slice(&[*comparison, 8]);
                code.extend_from_slice(&jump(at, *otherwise).to_ne_bytes());
                code.extend_from_slice(&[0, 0]);
                code.extend_from_slice(&port.to_ne_bytes());
            }
            Instruction::Jump { to } => {
                code.extend_from_slice(&[INET_DIAG_BC_JMP, 4]);
                code.extend_from_slice(&jump(at, *to).to_ne_bytes());
            }
            Instruction::Label(_) => {}
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `inet_diag_bc_audit` of linux/net/ipv4/inet_diag.c for the ops used
    /// here: each op's `yes` and `no` within bounds and 4-aligned, every
    /// `no` that stays inside landing on the chain of `yes` jumps.
    fn kernel_accepts(code: &[u8]) -> bool {
        let op = |at: usize| (code[at], code[at + 1] as usize, no_at(code, at) as usize);
        let on_yes_chain = |target: usize| {
            let mut at = 0;
            while at < target {
                at += code[at + 1] as usize;
            }
            at == target
        };
        let mut at = 0;
        while at < code.len() {
            let remaining = code.len() - at;
            let (comparison, yes, no) = op(at);
            let min_length = match comparison {
                INET_DIAG_BC_JMP => 4,
                INET_DIAG_BC_S_GE | INET_DIAG_BC_S_LE | INET_DIAG_BC_S_EQ | INET_DIAG_BC_D_EQ => 8,
                _ => return false,
            };
            if remaining < min_length {
                return false;
            }
            if no < min_length || no > remaining + 4 || no % 4 != 0 {
                return false;
            }
            if no < remaining && !on_yes_chain(at + no) {
                return false;
            }
            if yes < min_length || yes > remaining + 4 || yes % 4 != 0 {
                return false;
            }
            at += yes;
        }
        at == code.len()
    }

    fn no_at(code: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([code[at + 2], code[at + 3]])
    }

    /// `inet_diag_bc_run`: whether the kernel dumps a socket with these
    /// ports, and how many ops it ran to decide.
    fn kernel_runs(code: &[u8], local_port: u16, remote_port: u16) -> (bool, usize) {
        let mut at = 0usize;
        let mut steps = 0;
        while at < code.len() {
            steps += 1;
            let argument = || no_at(code, at + 4);
            let holds = match code[at] {
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_S_GE => local_port >= argument(),
                INET_DIAG_BC_S_LE => local_port <= argument(),
                INET_DIAG_BC_S_EQ => local_port == argument(),
                INET_DIAG_BC_D_EQ => remote_port == argument(),
                other => panic!("unexpected op {other}"),
            };
            at += if holds { code[at + 1] as usize } else { no_at(code, at) as usize };
        }
        (at == code.len(), steps)
    }

    #[test]
    fn filter_accepts_exactly_the_ports_and_passes_the_kernel_audit() {
        let local: Vec<u16> = vec![22, 80, 443, 5432, 5433, 5434, 8000, 8080, 9000, 65535, 1, 80];
        for remote in [vec![], vec![8080], vec![3000, 50000]] {
            for count in 1..=local.len() {
                let ports = CounterPorts {
                    local_ports: local[..count].to_vec(),
                    remote_ports: remote.clone(),
                };
                let code = port_filter(&ports).expect("few ports are filtered");
                assert!(kernel_accepts(&code), "audit rejects {ports:?}: {code:?}");
                for local_port in (0..=u16::MAX).step_by(7).chain(local.iter().copied()) {
                    for remote_port in [0, 3000, 8080, 50000, 50001] {
                        let wanted = ports.local_ports.contains(&local_port)
                            || ports.remote_ports.contains(&remote_port);
                        assert_eq!(
                            kernel_runs(&code, local_port, remote_port).0,
                            wanted,
                            "{local_port} → {remote_port} with {ports:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_socket_on_no_listed_port_costs_a_logarithmic_number_of_tests() {
        // 500 scattered listening ports, each its own range.
        let local_ports: Vec<u16> = (0..500).map(|index| 1000 + 3 * index).collect();
        let code = port_filter(&CounterPorts { local_ports, remote_ports: Vec::new() }).unwrap();
        assert!(kernel_accepts(&code));
        let (dumped, steps) = kernel_runs(&code, 40_000, 1003);
        assert!(!dumped);
        assert!(steps <= 12, "{steps} ops for an ephemeral port");
        assert!(kernel_runs(&code, 1000 + 3 * 321, 0).0);
        assert!(!kernel_runs(&code, 1000 + 3 * 321 + 1, 0).0);
    }

    #[test]
    fn adjacent_ports_merge_into_ranges() {
        assert_eq!(
            port_ranges(&[10_005, 10_000, 10_001, 10_003, 10_002, 10_007, 65_535, 65_534]),
            vec![(10_000, 10_003), (10_005, 10_005), (10_007, 10_007), (65_534, 65_535)]
        );
    }

    #[test]
    fn too_many_ranges_means_no_filter() {
        let local_ports: Vec<u16> = (0..=MAX_FILTER_RANGES as u16).map(|index| 2 * index).collect();
        assert_eq!(port_filter(&CounterPorts { local_ports, remote_ports: Vec::new() }), None);
        let most: Vec<u16> = (0..MAX_FILTER_RANGES as u16).map(|index| 2 * index).collect();
        let code = port_filter(&CounterPorts { local_ports: most, remote_ports: Vec::new() });
        assert!(kernel_accepts(&code.expect("the largest filter still fits")));
    }

    /// An IPv4 server end 127.0.0.1:5432 ← 127.0.0.1:50000 with
    /// `tcp_info` attached, laid out field by field.
    #[rustfmt::skip]
    fn counters_reply() -> Vec<u8> {
        let mut bytes = vec![
            AF_INET,        // idiag_family
            1,              // idiag_state: ESTABLISHED
            0,              // idiag_timer
            0,              // idiag_retrans
            0x15, 0x38,     // idiag_sport: 5432, big endian
            0xc3, 0x50,     // idiag_dport: 50000
        ];
        let mut source = [0u8; 16];
        source[..4].copy_from_slice(&[127, 0, 0, 1]);
        bytes.extend_from_slice(&source);                       // idiag_src
        bytes.extend_from_slice(&source);                       // idiag_dst
        bytes.extend_from_slice(&0u32.to_ne_bytes());           // idiag_if
        bytes.extend_from_slice(&0x0102_0304_0506_0708u64.to_ne_bytes()); // idiag_cookie
        bytes.extend_from_slice(&0u32.to_ne_bytes());           // idiag_expires
        bytes.extend_from_slice(&0u32.to_ne_bytes());           // idiag_rqueue
        bytes.extend_from_slice(&0u32.to_ne_bytes());           // idiag_wqueue
        bytes.extend_from_slice(&1000u32.to_ne_bytes());        // idiag_uid
        bytes.extend_from_slice(&777u32.to_ne_bytes());         // idiag_inode
        assert_eq!(bytes.len(), INET_DIAG_MSG_LEN);
        // INET_DIAG_SHUTDOWN {len 5, value 0}, padded to 8: skipped.
        bytes.extend_from_slice(&5u16.to_ne_bytes());
        bytes.extend_from_slice(&8u16.to_ne_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        // INET_DIAG_INFO: tcp_info up to tcpi_bytes_received.
        let mut info = vec![0u8; TCPI_BYTES_RECEIVED + 8];
        info[TCPI_BYTES_ACKED..TCPI_BYTES_ACKED + 8].copy_from_slice(&4096u64.to_ne_bytes());
        info[TCPI_BYTES_RECEIVED..].copy_from_slice(&17u64.to_ne_bytes());
        bytes.extend_from_slice(&(4 + info.len() as u16).to_ne_bytes());
        bytes.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        bytes.extend_from_slice(&info);
        bytes
    }

    #[test]
    fn decodes_the_fixed_header_and_tcp_info() {
        let counters = decode(&counters_reply()).unwrap().unwrap();
        assert_eq!(
            counters,
            TcpCounters {
                cookie: 0x0102_0304_0506_0708,
                local: "127.0.0.1:5432".parse().unwrap(),
                remote: "127.0.0.1:50000".parse().unwrap(),
                state: SocketState::Established,
                inode: 777,
                uid: 1000,
                bytes_acked: 4096,
                bytes_received: 17,
            }
        );
    }

    #[test]
    fn a_fin_is_not_a_byte_of_payload() {
        let in_state = |state: u8| {
            let mut reply = counters_reply();
            reply[1] = state;
            let counters = decode(&reply).unwrap().unwrap();
            (counters.bytes_acked, counters.bytes_received)
        };
        // The peer's FIN arrived: 16 bytes and the FIN received.
        assert_eq!(in_state(8), (4096, 16), "CLOSE-WAIT");
        assert_eq!(in_state(9), (4096, 16), "LAST-ACK");
        assert_eq!(in_state(11), (4096, 16), "CLOSING");
        // Our FIN was acknowledged: 4095 bytes and the FIN.
        assert_eq!(in_state(5), (4095, 17), "FIN-WAIT-2");
        // No FIN either way yet (ours is unacknowledged in FIN-WAIT-1).
        assert_eq!(in_state(1), (4096, 17), "ESTABLISHED");
        assert_eq!(in_state(4), (4096, 17), "FIN-WAIT-1");
        assert_eq!(payload_only(SocketState::CloseWait, 0, 0), (0, 0));
    }

    #[test]
    fn truncated_replies_are_errors_or_zero_counters_never_panics() {
        let reply = counters_reply();
        assert!(decode(&reply[..INET_DIAG_MSG_LEN - 1]).is_err());
        let without_info = decode(&reply[..INET_DIAG_MSG_LEN + 8]).unwrap().unwrap();
        assert_eq!((without_info.bytes_acked, without_info.bytes_received), (0, 0));
        // An attribute claiming more than is there is ignored.
        let cut = decode(&reply[..reply.len() - 3]).unwrap().unwrap();
        assert_eq!((cut.bytes_acked, cut.bytes_received), (0, 0));
    }

    #[test]
    fn samples_server_ends_of_real_loopback_connections() {
        use std::net::{TcpListener, TcpStream};
        let listeners: Vec<TcpListener> =
            (0..5).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for listener in &listeners {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            servers.push(listener.accept().unwrap().0);
            clients.push(client);
        }
        let local_ports: Vec<u16> =
            listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        let ours = |address: SocketAddr| clients.iter().any(|c| c.local_addr().unwrap() == address);
        let mut sampler = CounterSampler::new();
        // Twice: the second sample reuses the channel and the request.
        for _ in 0..2 {
            let mut server_ends = Vec::new();
            let ports = CounterPorts { local_ports: local_ports.clone(), remote_ports: Vec::new() };
            sampler
                .sample(&ports, |counters| {
                    assert!(!ours(counters.local), "a client end passed the filter: {counters:?}");
                    if ours(counters.remote) {
                        server_ends.push(counters.local);
                    }
                })
                .unwrap();
            server_ends.sort();
            server_ends.dedup();
            let mut expected: Vec<SocketAddr> =
                servers.iter().map(|s| s.local_addr().unwrap()).collect();
            expected.sort();
            assert_eq!(server_ends, expected);
        }
        // Asking for one listener's clients too brings their ends.
        let ports = CounterPorts { local_ports, remote_ports: vec![local_port_of(&listeners[2])] };
        let mut client_ends = 0;
        sampler
            .sample(&ports, |counters| client_ends += usize::from(ours(counters.local)))
            .unwrap();
        assert!(client_ends >= 1);
    }

    fn local_port_of(listener: &std::net::TcpListener) -> u16 {
        listener.local_addr().unwrap().port()
    }
}
