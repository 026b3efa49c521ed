//! The monitor's eBPF programs: load the committed object, attach it to
//! tracepoints, and read its events.
//!
//! The programs (`ebpf/monitor.bpf.c`) run on one stable tracepoint only —
//! `sock:inet_sock_set_state`, as a BTF tracepoint — never kprobes, fentry
//! or syscall tracepoints (attaching any syscall tracepoint flags every task
//! on the machine for the syscall tracing path: with `sys_exit_accept4`
//! attached a loaded workload's median latency was 7–11 points higher than
//! without it, see BENCHMARKS.md). They report, at the
//! only moments the process is known:
//! - **connected**: a client's connect() completed (pid stashed inside
//!   connect(), 4-tuple once the handshake assigned the source port);
//! - **server established**: a server end's handshake completed (its
//!   cookie and start; softirq, so no pid). Not sent when its peer has a
//!   loopback address: that client is in the same namespace and its
//!   **connected** record gives the start;
//! - **closing**: a socket's holder called close() or shutdown() — the
//!   transitions into FIN_WAIT1 and LAST_ACK run only there — with that
//!   process's identity: for an accepted socket, the server process. Not
//!   sent for a socket whose **connected** record went out;
//! - **listen** / **listen closed**: a TCP listener came or went, with the
//!   pid that called listen();
//! - **closed**: a connection end reached CLOSE, with its 4-tuple, owner
//!   uid and the byte counters `tcp_info` would report. This replaces the
//!   sock_diag destroy broadcast in eBPF mode: that broadcast makes the
//!   kernel queue a work item for every TCP socket destroyed on the
//!   machine, a cost every connection pays while anyone subscribes.
//!
//! The object is compiled ahead of time (`scripts/build-bpf.sh`) and
//! embedded, so building porthole needs no clang; a test checks the object
//! was built from the source beside it. CO-RE relocations adapt it to the
//! running kernel's BTF at load time.
//!
//! # Platform specific behavior
//! Needs CAP_BPF and CAP_PERFMON (or root) and kernel BTF
//! (`/sys/kernel/btf/vmlinux`), Linux 5.11 or later (BTF tracepoints,
//! `bpf_get_current_task_btf`, `bpf_skc_to_tcp_sock`). Every failure is an
//! [`EbpfError`] the monitor reports as the reason it fell back to netlink
//! capture.
//! See: <https://docs.kernel.org/bpf/libbpf/libbpf_naming_convention.html>

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf};

use super::netlink::ClosedSocket;

/// The compiled programs, built from `ebpf/monitor.bpf.c` and
/// `ebpf/kernel_types.h` by `scripts/build-bpf.sh`.
/// The ELF parser reads 8-byte fields in place, so the embedded bytes must
/// be 8-byte aligned; `include_bytes!` alone only guarantees 1.
static OBJECT: &[u8] = &Aligned(*include_bytes!("ebpf/monitor.bpf.o")).0;

#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// Size of the ring buffer, overriding the object's 16 MiB. The kernel
/// maps its data pages twice into the reader (so a record that wraps reads
/// as one piece): the ring costs up to twice its size in RSS. Events are
/// 136 bytes with their header and a local connection makes at most six
/// (four over loopback: connected, the server end's closing, two closed),
/// so at 5,000 connections/s 4 MiB holds a second of them while the
/// recorder reads every 15 ms and
/// writes a batch at most every second; overruns are counted in
/// `ring_drops` and reported, never silent.
pub const RING_BYTES: u32 = 4 << 20;

/// Entries of the connect() stash (`connecting`, an LRU hash keyed by
/// socket cookie): a client's stash lives from its connect() to its
/// close(), so this many open client connections fit before the oldest
/// stash is evicted (whose close() then names its process, as it did
/// before the stash outlived the handshake). A small map keeps every
/// close()'s lookup in cache: 8,192 entries saved about 0.1 µs per
/// connection against 65,536 (BENCHMARKS.md). The kernel's LRU keeps a
/// free list of up to 128 entries per CPU, which it evicts from first:
/// 256 per possible CPU keeps that under half of the map on machines with
/// many CPUs.
fn stash_entries() -> u32 {
    let cpus = aya::util::nr_cpus().unwrap_or(1);
    stash_entries_for(cpus)
}

fn stash_entries_for(cpus: usize) -> u32 {
    let per_cpu = u32::try_from(cpus).unwrap_or(u32::MAX / 256).saturating_mul(256);
    per_cpu.max(8192)
}

/// Why the eBPF capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("kernel BTF is unavailable (/sys/kernel/btf/vmlinux)")]
    Btf(#[source] aya::BtfError),
    #[error("loading the eBPF object")]
    Load(#[source] aya::EbpfError),
    #[error("the eBPF object has no {what} named {name}")]
    Missing { what: &'static str, name: &'static str },
    #[error("loading or attaching {program}")]
    Program {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("opening eBPF map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BpfEventKind {
    /// A client's connection was established; pid/uid/comm are the client's.
    Connected,
    /// A server end's handshake completed; no pid (softirq). Not sent
    /// when the peer has a loopback address (its `Connected` tells).
    ServerEstablished,
    /// The socket's holder called close() or shutdown(); pid/uid/comm are
    /// that process's. Not sent for a socket a `Connected` named.
    Closing,
    /// A TCP socket started listening; pid is the caller of listen().
    Listen,
    /// A TCP listener was closed.
    ListenClosed,
    /// A connection end reached CLOSE; [`BpfEvent::closed`] has its
    /// counters. pid and comm are not set (the close may run in softirq).
    Closed,
}

/// One event from the ring buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfEvent {
    pub kind: BpfEventKind,
    /// When it happened, CLOCK_MONOTONIC nanoseconds.
    pub at_monotonic_ns: u64,
    /// Socket cookie (same value as sock_diag's `idiag_cookie`).
    pub cookie: u64,
    pub pid: u32,
    pub uid: u32,
    /// Process start, nanoseconds since boot (`/proc/PID/stat` field 22).
    pub start_boottime_ns: u64,
    /// Network namespace inode of the socket.
    pub net_namespace: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `comm` of the process (raw bytes up to the first NUL).
    pub comm: String,
    /// For an IPv6 [`BpfEventKind::Listen`]: the socket's `IPV6_V6ONLY`.
    pub v6only: Option<bool>,
    /// For a [`BpfEventKind::Listen`]: the interface index it is bound to
    /// (`SO_BINDTODEVICE`), 0 for none, as `Socket::interface`. A listener
    /// has no peer, so the event carries it where the remote address is.
    pub interface: u32,
    /// For [`BpfEventKind::Closed`]: the end as a destroy notification
    /// would have reported it (cookie, 4-tuple, uid, `tcp_info` bytes).
    pub closed: Option<ClosedSocket>,
}

/// Counters of what the kernel side could not deliver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BpfLosses {
    /// Events dropped because the ring buffer was full.
    pub ring_buffer_full: u64,
    /// Program runs the kernel skipped because another BPF program was
    /// running on the same CPU (`recursion_misses`).
    pub recursion_misses: u64,
}

/// The loaded and attached programs with their ring buffer.
pub struct EbpfCapture {
    /// Owns the programs and their links: dropping it detaches everything.
    _object: Ebpf,
    ring: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    /// Program fds whose `/proc/self/fdinfo` carries `recursion_misses`.
    program_fds: Vec<RawFd>,
}

impl EbpfCapture {
    /// Loads the object, attaches every program and opens the ring buffer.
    /// With `only_namespace` (a network namespace inode) the programs
    /// ignore sockets of every other namespace in the kernel.
    pub fn start(only_namespace: Option<u64>) -> Result<Self, EbpfError> {
        let capture = Self::load_and_attach(only_namespace);
        // The kernel's BTF, parsed for the CO-RE relocations, is some 15 MiB
        // of heap that is dropped once the programs are loaded, but glibc
        // keeps freed memory mapped: give it back.
        crate::sys::allocator::release_free_memory();
        capture
    }

    fn load_and_attach(only_namespace: Option<u64>) -> Result<Self, EbpfError> {
        let btf = Btf::from_sys_fs().map_err(EbpfError::Btf)?;
        // Namespace inodes are 32-bit in the kernel (`ns_common.inum`); 0
        // means every namespace.
        let recorded_netns: u32 =
            only_namespace.and_then(|inode| u32::try_from(inode).ok()).unwrap_or(0);
        let mut object = aya::EbpfLoader::new()
            .btf(Some(&btf))
            .set_global("recorded_netns", &recorded_netns, true)
            .set_max_entries("events", RING_BYTES)
            .set_max_entries("connecting", stash_entries())
            .load(OBJECT)
            .map_err(EbpfError::Load)?;
        let program = |program| move |source| EbpfError::Program { program, source };
        {
            let state: &mut BtfTracePoint = object
                .program_mut("on_state")
                .ok_or(EbpfError::Missing { what: "program", name: "on_state" })?
                .try_into()
                .map_err(program("on_state"))?;
            state.load("inet_sock_set_state", &btf).map_err(program("on_state"))?;
            state.attach().map_err(program("on_state"))?;
        }
        let mut program_fds = Vec::new();
        for (_, program) in object.programs() {
            if let Ok(fd) = program.fd() {
                program_fds.push(fd.as_fd().as_raw_fd());
            }
        }
        let ring_map =
            object.take_map("events").ok_or(EbpfError::Missing { what: "map", name: "events" })?;
        let ring = RingBuf::try_from(ring_map)
            .map_err(|source| EbpfError::Map { map: "events", source })?;
        let drops_map = object
            .take_map("ring_drops")
            .ok_or(EbpfError::Missing { what: "map", name: "ring_drops" })?;
        let drops = PerCpuArray::try_from(drops_map)
            .map_err(|source| EbpfError::Map { map: "ring_drops", source })?;
        Ok(EbpfCapture { _object: object, ring, drops, program_fds })
    }

    /// Takes every event waiting in the ring buffer.
    pub fn drain(&mut self, out: &mut Vec<BpfEvent>) {
        while let Some(item) = self.ring.next() {
            if let Some(event) = decode_event(&item) {
                out.push(event);
            }
        }
    }

    /// Events dropped since start because the ring buffer was full: one
    /// map lookup, cheap enough to ask at every listener tick.
    pub fn ring_buffer_full(&self) -> u64 {
        self.drops.get(&0, 0).map(|per_cpu| per_cpu.iter().sum()).unwrap_or(0)
    }

    /// Totals since start of what the kernel side lost.
    pub fn losses(&self) -> BpfLosses {
        let ring_buffer_full = self.ring_buffer_full();
        let recursion_misses = self
            .program_fds
            .iter()
            .filter_map(|fd| {
                let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
                fdinfo_field(&text, "recursion_misses")
            })
            .sum();
        BpfLosses { ring_buffer_full, recursion_misses }
    }
}

impl AsRawFd for EbpfCapture {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

/// `recursion_misses:\t12` in a BPF program's fdinfo.
fn fdinfo_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}

const EVENT_LEN: usize = 128;

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_ne_bytes(word)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_ne_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]])
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_ne_bytes([bytes[offset], bytes[offset + 1]])
}

fn address(family: u16, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        2 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        10 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[..16]);
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// Decodes `struct event` of monitor.bpf.c (layout written out there).
pub(crate) fn decode_event(bytes: &[u8]) -> Option<BpfEvent> {
    if bytes.len() < EVENT_LEN {
        return None;
    }
    let kind = match bytes[42] {
        1 => BpfEventKind::Connected,
        3 => BpfEventKind::Listen,
        4 => BpfEventKind::ListenClosed,
        5 => BpfEventKind::Closed,
        6 => BpfEventKind::ServerEstablished,
        7 => BpfEventKind::Closing,
        _ => return None,
    };
    let family = u16_at(bytes, 36);
    let local = SocketAddr::new(address(family, &bytes[44..60])?, u16_at(bytes, 38));
    let listen = kind == BpfEventKind::Listen;
    let remote = if listen {
        SocketAddr::new(address(family, &[0; 16])?, 0)
    } else {
        SocketAddr::new(address(family, &bytes[60..76])?, u16_at(bytes, 40))
    };
    let comm = &bytes[76..92];
    let comm_len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    let cookie = u64_at(bytes, 8);
    let closed = (kind == BpfEventKind::Closed).then(|| ClosedSocket {
        cookie,
        protocol: crate::model::Protocol::Tcp,
        local,
        remote,
        uid: u32_at(bytes, 28),
        bytes_acked: u64_at(bytes, 96),
        bytes_received: u64_at(bytes, 104),
        bytes_sent: (bytes[94] != 0).then(|| u64_at(bytes, 112)),
        bytes_retransmitted: u64_at(bytes, 120),
        retransmits: bytes[92],
        probes: bytes[93],
    });
    Some(BpfEvent {
        kind,
        at_monotonic_ns: u64_at(bytes, 0),
        cookie,
        start_boottime_ns: u64_at(bytes, 16),
        pid: u32_at(bytes, 24),
        uid: u32_at(bytes, 28),
        net_namespace: u64::from(u32_at(bytes, 32)),
        local,
        remote,
        // Every byte kept (a name need not be UTF-8), so that it is the
        // name `/proc` gives for the same process.
        comm: crate::model::os_text::from_bytes(&comm[..comm_len]),
        v6only: (listen && family == 10).then_some(bytes[95] != 0),
        interface: if listen { u32_at(bytes, 60) } else { 0 },
        closed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// 8,192 entries up to 32 possible CPUs, then 256 per CPU, so the
    /// kernel's per-CPU free lists never hold most of the map.
    #[test]
    fn the_stash_grows_with_the_cpus_beyond_32() {
        assert_eq!(stash_entries_for(1), 8192);
        assert_eq!(stash_entries_for(32), 8192);
        assert_eq!(stash_entries_for(64), 16384);
        assert_eq!(stash_entries_for(usize::MAX), u32::MAX / 256 * 256);
        assert!(stash_entries() >= 8192);
    }

    fn ebpf_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/inventory/ebpf"))
    }

    /// The committed object must come from the committed source: the hash
    /// `scripts/build-bpf.sh` recorded matches the source, and where clang
    /// and libbpf's headers are installed, rebuilding gives the same bytes.
    #[test]
    fn object_matches_source() {
        let hashed = Command::new("sh")
            .arg("-c")
            .arg("cat kernel_types.h monitor.bpf.c | sha256sum | cut -d' ' -f1")
            .current_dir(ebpf_dir())
            .output()
            .expect("sha256sum runs");
        let recorded = std::fs::read_to_string(ebpf_dir().join("monitor.bpf.sha256")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&hashed.stdout).trim(),
            recorded.trim(),
            "monitor.bpf.c or kernel_types.h changed: run scripts/build-bpf.sh"
        );
        let clang =
            Command::new("clang").arg("--version").output().is_ok_and(|o| o.status.success());
        if !clang || !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
            // Without the compiler the hash above is the whole check. The
            // setup script installs clang and libbpf-dev, so under CI (as in
            // tests/it/util.rs `skip`) their absence fails the test rather
            // than passing it on half the check.
            let strict = |name: &str| {
                std::env::var(name).is_ok_and(|value| !value.is_empty() && value != "false")
            };
            assert!(
                !strict("CI") && !strict("PORTHOLE_NO_SKIP"),
                "clang and libbpf-dev are needed to rebuild monitor.bpf.o (scripts/setup.sh)"
            );
            return;
        }
        let rebuilt = tempfile::NamedTempFile::new().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-bpf.sh");
        let status = Command::new(script).arg(rebuilt.path()).status().expect("build-bpf.sh runs");
        assert!(status.success(), "scripts/build-bpf.sh failed");
        let rebuilt = std::fs::read(rebuilt.path()).unwrap();
        assert!(
            rebuilt == OBJECT,
            "the committed monitor.bpf.o differs from a rebuild of its source"
        );
    }

    #[rustfmt::skip]
    #[test]
    fn decodes_an_event() {
        let mut bytes = vec![0u8; 128];
        bytes[0..8].copy_from_slice(&5_000u64.to_ne_bytes());     // at_ns
        bytes[8..16].copy_from_slice(&77u64.to_ne_bytes());       // cookie
        bytes[16..24].copy_from_slice(&9_000u64.to_ne_bytes());   // start_boottime
        bytes[24..28].copy_from_slice(&4242u32.to_ne_bytes());    // tgid
        bytes[28..32].copy_from_slice(&1000u32.to_ne_bytes());    // uid
        bytes[32..36].copy_from_slice(&4026531840u32.to_ne_bytes()); // netns
        bytes[36..38].copy_from_slice(&10u16.to_ne_bytes());      // AF_INET6
        bytes[38..40].copy_from_slice(&8080u16.to_ne_bytes());    // local port
        bytes[40..42].copy_from_slice(&40000u16.to_ne_bytes());   // remote port
        bytes[42] = 7;                                            // closing
        bytes[59] = 1;                                            // ::1
        bytes[60 + 10] = 0xff;                                    // ::ffff:127.0.0.1
        bytes[60 + 11] = 0xff;
        bytes[60 + 12..60 + 16].copy_from_slice(&[127, 0, 0, 1]);
        bytes[76..80].copy_from_slice(b"node");
        let event = decode_event(&bytes).unwrap();
        assert_eq!(event.kind, BpfEventKind::Closing);
        assert_eq!((event.cookie, event.pid, event.uid), (77, 4242, 1000));
        assert_eq!(event.local, "[::1]:8080".parse().unwrap());
        assert_eq!(event.remote, "[::ffff:127.0.0.1]:40000".parse().unwrap());
        assert_eq!(event.comm, "node");
        assert_eq!(event.net_namespace, 4026531840);
        assert_eq!(event.closed, None);
        assert_eq!(event.v6only, None, "only a listen carries the flag");
        assert_eq!(event.interface, 0, "only a listen carries its device");
        bytes[42] = 3;                                            // listen
        bytes[95] = 1;                                            // IPV6_V6ONLY
        assert_eq!(decode_event(&bytes).unwrap().v6only, Some(true));
        bytes[60..64].copy_from_slice(&1u32.to_ne_bytes());       // bound to lo
        let listen = decode_event(&bytes).unwrap();
        assert_eq!(listen.interface, 1);
        assert_eq!(listen.remote, "[::]:0".parse().unwrap(), "a listener has no peer");
        bytes[76..80].copy_from_slice(b"e\xffv\x1b");                // comm, not UTF-8
        let comm = decode_event(&bytes).unwrap().comm;
        assert_eq!(comm, crate::model::os_text::from_bytes(b"e\xffv\x1b"));
        assert_eq!(&*crate::model::os_text::to_bytes(&comm), b"e\xffv\x1b");
        bytes[95] = 0;
        assert_eq!(decode_event(&bytes).unwrap().v6only, Some(false));
        bytes[36..38].copy_from_slice(&2u16.to_ne_bytes());       // AF_INET
        assert_eq!(decode_event(&bytes).unwrap().v6only, None);
        assert!(decode_event(&bytes[..50]).is_none());
    }

    #[rustfmt::skip]
    #[test]
    fn decodes_a_closed_end_with_its_counters() {
        let mut bytes = vec![0u8; 128];
        bytes[8..16].copy_from_slice(&99u64.to_ne_bytes());       // cookie
        bytes[28..32].copy_from_slice(&1000u32.to_ne_bytes());    // uid
        bytes[36..38].copy_from_slice(&2u16.to_ne_bytes());       // AF_INET
        bytes[38..40].copy_from_slice(&40000u16.to_ne_bytes());   // local port
        bytes[40..42].copy_from_slice(&8080u16.to_ne_bytes());    // remote port
        bytes[42] = 5;                                            // closed
        bytes[43] = 4;                                            // from FIN_WAIT1
        bytes[44..48].copy_from_slice(&[127, 0, 0, 1]);
        bytes[60..64].copy_from_slice(&[127, 0, 0, 2]);
        bytes[92] = 1;                                            // retransmits
        bytes[93] = 2;                                            // probes
        bytes[94] = 1;                                            // has bytes_sent
        bytes[96..104].copy_from_slice(&5u64.to_ne_bytes());      // acked
        bytes[104..112].copy_from_slice(&7u64.to_ne_bytes());     // received
        bytes[112..120].copy_from_slice(&6u64.to_ne_bytes());     // sent
        bytes[120..128].copy_from_slice(&2u64.to_ne_bytes());     // retransmitted
        let event = decode_event(&bytes).unwrap();
        assert_eq!(event.kind, BpfEventKind::Closed);
        let closed = event.closed.unwrap();
        assert_eq!((closed.cookie, closed.uid), (99, 1000));
        assert_eq!(closed.local, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(closed.remote, "127.0.0.2:8080".parse().unwrap());
        assert_eq!((closed.bytes_acked, closed.bytes_received), (5, 7));
        assert_eq!((closed.bytes_sent, closed.bytes_retransmitted), (Some(6), 2));
        assert_eq!((closed.retransmits, closed.probes), (1, 2));
        bytes[94] = 0;
        assert_eq!(decode_event(&bytes).unwrap().closed.unwrap().bytes_sent, None);
        assert!(decode_event(&bytes[..96]).is_none(), "an event from an older object");
    }
}
