//! Socket → process attribution: which pids hold a file descriptor for each
//! socket inode.
//!
//! The kernel has no socket → pid index, so every tool reads the
//! `socket:[INODE]` links under `/proc/PID/fd`. The cost is one `readlink`
//! per file descriptor on the machine (≈ 5.7 µs each), so this scanner does
//! nothing else per fd: `getdents64` over the fd directory into a reused
//! buffer and `readlinkat(dirfd, name)` into a stack buffer — no per-fd
//! `open`, `stat` or allocation (the `openat(O_PATH)` + `readlinkat` +
//! `statat` pattern of the `procfs` crate is 1.7–1.9× slower).
//!
//! Pids are split across up to four scoped threads. Several owners per
//! socket are normal (fork, `SO_REUSEPORT` groups, fds passed over Unix
//! sockets), so by default every process is scanned; [`ScanLimit::FirstOwner`]
//! stops as soon as each wanted inode has one owner, for callers that only
//! need to know *a* holder.
//!
//! # Platform specific behavior
//! Processes exit while being read; `ENOENT`/`ESRCH` are counted as
//! vanished, `EACCES` (another user's process without root) as unreadable.
//! `/proc/PID/fd` is the table of the thread-group leader. Two kinds of
//! process hold sockets elsewhere: one whose main thread exited before its
//! other threads (a zombie leader shows an empty `/proc/PID/fd` while those
//! threads still hold its sockets), and one with a thread that called
//! `unshare(CLONE_FILES)` (its own table, seen only in
//! `/proc/PID/task/TID/fd`). The tables of threads that do not share their
//! leader's (`kcmp(KCMP_FILES)`) are read too, each distinct table once,
//! for every wanted socket when all owners are wanted (such a thread may
//! have forked a child that holds the socket as well), else for those left
//! without an owner; the socket is the process's. A single-threaded process
//! costs one `statx` of `/proc/PID/task` (its link count is 2 + threads),
//! a threaded one a `kcmp` per thread; no thread's table is read unless it
//! differs from the leader's.
//!
//! A process can also keep a socket open with no descriptor at all: a
//! memory mapping of it (`mmap` of a TCP socket, then `close`) shows in
//! `/proc/PID/maps` as `socket:[INODE]`, and a file registered with an
//! io_uring ring (`IORING_REGISTER_FILES`, then `close`) is listed under
//! `UserFiles:` in the ring's `/proc/PID/fdinfo/FD`. Ring descriptors are
//! noted during the scan and their files read like threads' tables. The
//! mappings of processes are read only for sockets still without an owner
//! that a mapping can hold (TCP: the kernel refuses to map UDP and Unix
//! sockets; a TIME-WAIT socket has no file at all), through `PROCMAP_QUERY`
//! (file-backed mappings only) where the kernel has it, and only until each
//! such socket has an owner: a second process mapping the same socket, or
//! mapping a socket a descriptor also holds, is missed. The process holding
//! the mapping or the ring is an owner: stopping it releases them. A
//! descriptor in flight (sent with `SCM_RIGHTS`, not yet received) belongs
//! to no process and stays ownerless.

use std::collections::HashSet;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustix::fd::OwnedFd;
use rustix::fs::{openat, Mode, OFlags, RawDir, CWD};
use rustix::io::Errno;

/// How far the scan must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanLimit {
    /// Every process: all owners of every socket.
    AllOwners,
    /// Stop once each wanted inode has at least one owner.
    FirstOwner,
}

/// The result of one scan.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// Socket inode → pids holding it.
    pub owners: OwnerIndex,
    /// Processes whose fd directory could not be read (permission).
    pub unreadable_processes: usize,
    /// Those processes, ascending. As root this is normally empty; a
    /// process in it refused root its descriptors (see
    /// [`visibility::owner_gaps`](super::visibility::owner_gaps)).
    pub unreadable_pids: Vec<u32>,
    /// Those of them whose real uid is porthole's own (not dumpable),
    /// ascending.
    pub unreadable_own_processes: Vec<u32>,
    /// Processes that disappeared during the scan.
    pub vanished_processes: usize,
}

/// Scans every process for the given socket inodes (all owners).
pub fn scan(wanted: &[u64]) -> OwnerScan {
    scan_with(wanted, ScanLimit::AllOwners)
}

/// Scans processes for the given socket inodes (any of which a memory
/// mapping may hold).
pub fn scan_with(wanted: &[u64], limit: ScanLimit) -> OwnerScan {
    scan_sockets(wanted, wanted, limit)
}

/// Scans processes for the `wanted` socket inodes, of which only those in
/// `mappable` can be held by a memory mapping: the kernel maps TCP sockets
/// (`tcp_mmap`, for zero-copy receive) but refuses UDP and Unix sockets
/// (`ENODEV`), so a caller that knows the protocols passes its TCP sockets
/// and an ownerless UDP or Unix socket never makes the scan read every
/// process's mappings.
pub fn scan_sockets(wanted: &[u64], mappable: &[u64], limit: ScanLimit) -> OwnerScan {
    if wanted.is_empty() {
        return OwnerScan::default();
    }
    scan_processes(wanted, mappable, limit, list_pids())
}

/// Scans only the processes in `pids` (a caller that knows who probably
/// holds the sockets: reading a few fd tables instead of every one on a
/// machine where some processes hold tens of thousands of fds).
pub fn scan_among(wanted: &[u64], limit: ScanLimit, pids: Vec<u32>) -> OwnerScan {
    scan_processes(wanted, wanted, limit, pids)
}

fn scan_processes(wanted: &[u64], mappable: &[u64], limit: ScanLimit, pids: Vec<u32>) -> OwnerScan {
    if wanted.is_empty() {
        return OwnerScan::default();
    }
    let mappable: HashSet<u64> = mappable.iter().copied().collect();
    let wanted: HashSet<u64> = wanted.iter().copied().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    // Small machines or few processes: threads cost more than they save.
    let threads = if pids.len() < 64 { 1 } else { threads };
    let shared = Shared {
        wanted: &wanted,
        limit,
        found: Mutex::new(HashSet::new()),
        remaining: AtomicUsize::new(wanted.len()),
        pids: &pids,
        next: AtomicUsize::new(0),
    };
    // Threads take pids one at a time from a shared cursor: a few processes
    // often hold most fds (a database, a proxy), so fixed chunks would leave
    // one thread with all the work.
    let partials: Vec<Partial> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let shared = &shared;
                scope.spawn(move || scan_pids(shared))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut result = OwnerScan::default();
    let mut pairs = Vec::new();
    let mut read = Vec::new();
    let mut rings = Vec::new();
    for partial in partials {
        result.unreadable_processes += partial.unreadable.len();
        result.unreadable_pids.extend(partial.unreadable);
        result.unreadable_own_processes.extend(partial.unreadable_own);
        result.vanished_processes += partial.vanished;
        pairs.extend(partial.hits);
        read.extend(partial.read);
        rings.extend(partial.rings);
    }
    // In pid order, as listed: the later passes stop early, and which
    // processes they read should not depend on how the threads raced.
    read.sort_unstable();
    let orphans = |pairs: &[(u64, u32)]| -> HashSet<u64> {
        let attributed: HashSet<u64> = pairs.iter().map(|&(inode, _)| inode).collect();
        wanted.difference(&attributed).copied().collect()
    };
    // When every owner matters, the workers read the tables of threads that
    // do not share their leader's (a thread with a table of its own can
    // hold a socket that a child it forked holds too). When one owner is
    // enough, they are read afterwards, only for sockets still without one.
    if limit == ScanLimit::FirstOwner {
        let left = orphans(&pairs);
        if !left.is_empty() {
            let partial = thread_tables_of(&read, &left);
            pairs.extend(partial.hits);
            rings.extend(partial.rings);
        }
    }
    // Rings are rare: their registered files are read for every wanted
    // socket when every owner matters, else for those left without one.
    let still_without_owner;
    let left = match limit {
        ScanLimit::AllOwners => &wanted,
        ScanLimit::FirstOwner => {
            still_without_owner = orphans(&pairs);
            &still_without_owner
        }
    };
    if !left.is_empty() {
        pairs.extend(ring_owners(&rings, left));
    }
    // Mappings mean reading every process's `/proc/PID/maps`: only for
    // sockets nobody else holds and that a mapping can hold at all.
    let left: HashSet<u64> =
        orphans(&pairs).into_iter().filter(|inode| mappable.contains(inode)).collect();
    if !left.is_empty() {
        pairs.extend(mapping_owners(&read, left, limit));
    }
    result.owners = OwnerIndex::new(pairs);
    result.unreadable_own_processes.sort_unstable();
    result.unreadable_pids.sort_unstable();
    result
}

/// Socket inode → owning pids, as one sorted vector of pairs: at 60k
/// sockets this is one allocation instead of a map entry and a vector per
/// socket.
#[derive(Debug, Default)]
pub struct OwnerIndex {
    pairs: Vec<(u64, u32)>,
}

impl OwnerIndex {
    /// The index of (inode, pid) pairs, in any order, duplicates allowed.
    pub(crate) fn new(mut pairs: Vec<(u64, u32)>) -> Self {
        pairs.sort_unstable();
        // One process can hold a socket through several fds.
        pairs.dedup();
        OwnerIndex { pairs }
    }

    /// Pids holding `inode`, ascending.
    pub fn pids(&self, inode: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.pairs.partition_point(|&(i, _)| i < inode);
        self.pairs[start..].iter().take_while(move |&&(i, _)| i == inode).map(|&(_, pid)| pid)
    }
}

/// State shared by the scanning threads.
struct Shared<'a> {
    wanted: &'a HashSet<u64>,
    limit: ScanLimit,
    /// Inodes already attributed (only consulted for `FirstOwner`).
    found: Mutex<HashSet<u64>>,
    /// Inodes still without an owner; 0 ends a `FirstOwner` scan.
    remaining: AtomicUsize,
    /// Every pid to scan, and the index of the next one to take.
    pids: &'a [u32],
    next: AtomicUsize,
}

#[derive(Default)]
struct Partial {
    hits: Vec<(u64, u32)>,
    /// Processes whose `/proc/PID/fd` could be read: the ones whose
    /// threads' own tables may be read too (see the module docs).
    read: Vec<u32>,
    /// io_uring ring descriptors seen, as (pid, thread whose table holds
    /// it, fd): their registered files are read after the scan.
    rings: Vec<(u32, u32, u32)>,
    /// Processes whose fd table was refused.
    unreadable: Vec<u32>,
    /// Refused processes of porthole's own real uid.
    unreadable_own: Vec<u32>,
    vanished: usize,
}

/// Numeric entries of `/proc`: one per thread-group leader (threads share
/// the leader's fd table and live under `/proc/PID/task`).
pub fn list_pids() -> Vec<u32> {
    let Ok(proc_dir) =
        openat(CWD, "/proc", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return Vec::new();
    };
    let mut buffer = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut entries = RawDir::new(&proc_dir, &mut buffer);
    let mut pids = Vec::with_capacity(512);
    while let Some(Ok(entry)) = entries.next() {
        if let Some(pid) = parse_decimal(entry.file_name().to_bytes()) {
            pids.push(pid as u32);
        }
    }
    pids
}

fn scan_pids(shared: &Shared<'_>) -> Partial {
    let mut partial = Partial::default();
    let Ok(proc_dir) =
        openat(CWD, "/proc", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return partial;
    };
    let mut buffers = Buffers::default();
    while let Some(&pid) = shared.pids.get(shared.next.fetch_add(1, Ordering::Relaxed)) {
        if shared.limit == ScanLimit::FirstOwner && shared.remaining.load(Ordering::Relaxed) == 0 {
            break;
        }
        let fd_dir = match open_directory(&proc_dir, &mut buffers.path, pid, "/fd") {
            Ok(fd) => fd,
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                refused(pid, &mut partial);
                continue;
            }
            Err(_) => {
                partial.vanished += 1;
                continue;
            }
        };
        // Root opens every fd directory (CAP_DAC_OVERRIDE), but reading
        // the links inside is a ptrace access check of its own, which a
        // process may still fail: porthole without CAP_SYS_PTRACE and the
        // process holding capabilities it lacks, or porthole confined by
        // a security module. Such a table is as unreadable as a closed one.
        if scan_fd_directory(pid, pid, &fd_dir, &mut buffers.fds, shared, &mut partial)
            == TableRead::Refused
        {
            refused(pid, &mut partial);
            continue;
        }
        partial.read.push(pid);
        if shared.limit == ScanLimit::AllOwners {
            scan_thread_tables(&proc_dir, pid, &mut buffers, shared, &mut partial);
        }
    }
    partial
}

/// Counts a process whose fd table was refused.
fn refused(pid: u32, partial: &mut Partial) {
    partial.unreadable.push(pid);
    if own_user(pid) {
        partial.unreadable_own.push(pid);
    }
}

/// Whether `pid` runs as porthole's own real uid (`/proc/PID/status` is
/// readable by everyone, even for a process that hides its fd table).
/// Only read for processes that refused their fd table, without root.
fn own_user(pid: u32) -> bool {
    let own = rustix::process::getuid().as_raw();
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| super::process::parse_status_uid(&status))
        .is_some_and(|uid| uid == own)
}

/// Buffers one scanning thread reuses for every process.
struct Buffers {
    /// `getdents64` buffer for fd directories.
    fds: Vec<MaybeUninit<u8>>,
    /// `getdents64` buffer for `/proc/PID/task`, read while `fds` is in use.
    tasks: Vec<MaybeUninit<u8>>,
    /// A path under `/proc` with its NUL.
    path: Vec<u8>,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            fds: vec![MaybeUninit::uninit(); 32 * 1024],
            tasks: vec![MaybeUninit::uninit(); 16 * 1024],
            path: Vec::with_capacity(32),
        }
    }
}

/// Opens the directory `ID` + `suffix` under `parent`, spelling the path in
/// `path` (no allocation per process).
fn open_directory(
    parent: &OwnedFd,
    path: &mut Vec<u8>,
    id: u32,
    suffix: &str,
) -> rustix::io::Result<OwnedFd> {
    let path = spell(path, id, suffix);
    openat(parent, path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
}

/// `ID` + `suffix` as a C string in `path`.
fn spell<'a>(path: &'a mut Vec<u8>, id: u32, suffix: &str) -> &'a CStr {
    use std::io::Write;
    path.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(path, "{id}{suffix}\0");
    CStr::from_bytes_with_nul(path).expect("a number and a suffix without NUL, then one NUL")
}

/// How many distinct thread tables of one process each thread is compared
/// with (besides the leader's), so that a process whose every thread has a
/// table of its own costs a bounded number of `kcmp` calls per thread; past
/// that a table may be read twice, which finds nothing new.
const DISTINCT_TABLES_COMPARED: usize = 8;

/// Reads the descriptor tables of `pid`'s threads that do not share the
/// leader's (an `unshare(CLONE_FILES)`, a thread cloned without
/// `CLONE_FILES`, or a zombie leader whose table is gone), each distinct
/// table once, through `/proc/PID/task/TID/fd`; their sockets are `pid`'s.
///
/// Most processes have one thread: `/proc/PID/task` counts its threads in
/// its link count (2 + threads), so one `statx` rules them out. Otherwise
/// each thread costs one `kcmp(KCMP_FILES)` against the leader (and, for
/// one that does not share it, against the distinct tables already read),
/// never a read of its table.
fn scan_thread_tables(
    proc_dir: &OwnedFd,
    pid: u32,
    buffers: &mut Buffers,
    shared: &Shared<'_>,
    partial: &mut Partial,
) {
    let task_path = spell(&mut buffers.path, pid, "/task");
    match rustix::fs::statat(proc_dir, task_path, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if stat.st_nlink > 3 => {}
        // One thread (its table was just read), or the process is gone.
        _ => return,
    }
    let Ok(task_dir) = open_directory(proc_dir, &mut buffers.path, pid, "/task") else { return };
    let mut distinct: Vec<u32> = Vec::new();
    let mut entries = RawDir::new(&task_dir, &mut buffers.tasks);
    while let Some(Ok(entry)) = entries.next() {
        let Some(tid) = parse_decimal(entry.file_name().to_bytes()) else { continue };
        let tid = tid as u32;
        // When the kernel cannot say, the table is read.
        let shares =
            |other: u32| crate::sys::fds::shares_descriptor_table(other, tid) == Some(true);
        if tid == pid
            || shares(pid)
            || distinct.iter().rev().take(DISTINCT_TABLES_COMPARED).any(|&other| shares(other))
        {
            continue;
        }
        let Ok(fd_dir) = open_directory(&task_dir, &mut buffers.path, tid, "/fd") else { continue };
        // A thread's table refused after its leader's was read: a kcmp
        // or a permission race; the leader already counts as read.
        let _ = scan_fd_directory(pid, tid, &fd_dir, &mut buffers.fds, shared, partial);
        distinct.push(tid);
    }
}

/// The thread tables of `candidates` (see [`scan_thread_tables`]), read for
/// the `orphans` only: when one owner per socket is enough, they are looked
/// at only for sockets no leader's table holds.
fn thread_tables_of(candidates: &[u32], orphans: &HashSet<u64>) -> Partial {
    let mut partial = Partial::default();
    let Ok(proc_dir) =
        openat(CWD, "/proc", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return partial;
    };
    let shared = Shared {
        wanted: orphans,
        limit: ScanLimit::AllOwners,
        found: Mutex::new(HashSet::new()),
        remaining: AtomicUsize::new(orphans.len()),
        pids: candidates,
        next: AtomicUsize::new(0),
    };
    let mut buffers = Buffers::default();
    for &pid in candidates {
        scan_thread_tables(&proc_dir, pid, &mut buffers, &shared, &mut partial);
    }
    partial
}

/// The `/proc/PID/fd` link of an io_uring ring.
const IO_URING_LINK: &[u8] = b"anon_inode:[io_uring]";

/// The owners of `wanted` that hold them as a file registered with one of
/// the io_uring `rings` (`/proc/PID/fdinfo/FD`). Rings are rare, so plain
/// `std::fs` is fine.
fn ring_owners(rings: &[(u32, u32, u32)], wanted: &HashSet<u64>) -> Vec<(u64, u32)> {
    let mut hits = Vec::new();
    for &(pid, task, fd) in rings {
        let path = format!("/proc/{pid}/task/{task}/fdinfo/{fd}");
        let Ok(fdinfo) = std::fs::read_to_string(path) else {
            continue;
        };
        hits.extend(
            registered_socket_inodes(&fdinfo)
                .filter(|inode| wanted.contains(inode))
                .map(|inode| (inode, pid)),
        );
    }
    hits
}

/// The owners of `orphans` that hold them through a memory mapping
/// (`/proc/PID/maps` of the processes in `candidates`). Only for sockets no
/// descriptor table holds. With [`ScanLimit::FirstOwner`] it stops as soon
/// as each of them has an owner; with [`ScanLimit::AllOwners`] every
/// process is read, since two processes can map one socket (a server that
/// forked after mapping it) and `kill` must stop both. A socket nobody maps,
/// such as one in flight, costs every process's mappings either way.
///
/// The kernel is asked for file-backed mappings only (`PROCMAP_QUERY`), so
/// a JVM-like process with tens of thousands of anonymous mappings costs
/// a walk of its mapping tree, not tens of thousands of formatted lines; a
/// socket's mapping is the one on the socket file system's device with the
/// socket's inode. Kernels before 6.11 have their text read instead, into
/// one buffer for every process.
fn mapping_owners(
    candidates: &[u32],
    mut orphans: HashSet<u64>,
    limit: ScanLimit,
) -> Vec<(u64, u32)> {
    use crate::sys::mappings::{file_mappings, MappingsError};
    use std::io::Read;
    let sockets_device = socket_file_system_device();
    let mut hits = Vec::new();
    let mut text = Vec::new();
    let mut query = sockets_device.is_some();
    for &pid in candidates {
        if orphans.is_empty() {
            break;
        }
        let Ok(mut maps) = std::fs::File::open(format!("/proc/{pid}/maps")) else { continue };
        let mut found = Vec::new();
        if let (true, Some((major, minor))) = (query, sockets_device) {
            let listed = file_mappings(&maps, |file_major, file_minor, inode| {
                if (file_major, file_minor) == (major, minor)
                    && orphans.contains(&inode)
                    && !found.contains(&inode)
                {
                    found.push(inode);
                }
                found.len() < orphans.len()
            });
            match listed {
                Ok(()) | Err(MappingsError::Io(_)) => {}
                Err(MappingsError::Unsupported) => query = false,
            }
        }
        if !query {
            text.clear();
            if maps.read_to_end(&mut text).is_err() {
                continue;
            }
            found.extend(mapped_socket_inodes(&text).filter(|inode| orphans.contains(inode)));
        }
        for inode in found {
            match limit {
                ScanLimit::AllOwners => hits.push((inode, pid)),
                // One owner is enough: the socket needs no further search.
                ScanLimit::FirstOwner => {
                    if orphans.remove(&inode) {
                        hits.push((inode, pid));
                    }
                }
            }
        }
    }
    hits
}

/// The (major, minor) device of the socket file system, as seen on a
/// socket of our own: every socket's file lives there.
fn socket_file_system_device() -> Option<(u32, u32)> {
    use rustix::net::{socket, AddressFamily, SocketType};
    let probe = socket(AddressFamily::UNIX, SocketType::DGRAM, None).ok()?;
    let device = rustix::fs::fstat(&probe).ok()?.st_dev;
    Some((rustix::fs::major(device), rustix::fs::minor(device)))
}

/// The sockets of the `UserFiles:` section of an io_uring ring's fdinfo:
/// `UserFiles:\t2` followed by one `%5u: PATH` line per registered file
/// (`socket:[INODE]` for a socket).
fn registered_socket_inodes(fdinfo: &str) -> impl Iterator<Item = u64> + '_ {
    fdinfo
        .lines()
        .skip_while(|line| !line.starts_with("UserFiles:"))
        .skip(1)
        // The entries are indented; the next section starts at column 0.
        .take_while(|line| line.starts_with(' '))
        .filter_map(|line| line.trim_start().split_once(": "))
        .filter_map(|(_, path)| socket_inode(path.as_bytes()))
}

/// The sockets mapped in `/proc/PID/maps`: the path column (after address,
/// permissions, offset, device and inode, padded with spaces) is exactly
/// `socket:[INODE]`. A file whose name merely contains that text has a path
/// starting with `/`, so it never matches.
fn mapped_socket_inodes(maps: &[u8]) -> impl Iterator<Item = u64> + '_ {
    maps.split(|&byte| byte == b'\n').filter_map(|line| {
        let mut rest = line;
        for _ in 0..5 {
            let start = rest.iter().position(|&b| b != b' ')?;
            rest = &rest[start..];
            let end = rest.iter().position(|&b| b == b' ')?;
            rest = &rest[end..];
        }
        let start = rest.iter().position(|&b| b != b' ')?;
        socket_inode(&rest[start..])
    })
}

/// Reads every link of one descriptor table: `/proc/PID/fd`, or
/// `/proc/PID/task/TID/fd` (`task`) of a thread with a table of its own.
/// Sockets found are `pid`'s.
/// Whether the links of an fd table could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableRead {
    /// Read to the end (or the process exited meanwhile).
    Read,
    /// The kernel refused to show the links (`EACCES`/`EPERM`).
    Refused,
}

fn scan_fd_directory(
    pid: u32,
    task: u32,
    fd_dir: &OwnedFd,
    dir_buffer: &mut [MaybeUninit<u8>],
    shared: &Shared<'_>,
    partial: &mut Partial,
) -> TableRead {
    let mut entries = RawDir::new(fd_dir, dir_buffer);
    // "socket:[" + up to 20 digits + "]" fits easily; longer targets are
    // regular files and are truncated harmlessly.
    let mut link = [0u8; 64];
    while let Some(entry) = entries.next() {
        let Ok(entry) = entry else {
            // The process exited while its directory was being read.
            partial.vanished += 1;
            return TableRead::Read;
        };
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        let length = match rustix::fs::readlinkat_raw(fd_dir, name, &mut link[..]) {
            Ok(length) => length,
            // One permission check covers every link of a table (a thread
            // `kcmp` could not compare, another user's process): the rest
            // would fail the same way, one at a time.
            Err(Errno::ACCESS) | Err(Errno::PERM) => return TableRead::Refused,
            Err(_) => continue,
        };
        let target = &link[..length.min(link.len())];
        let Some(inode) = socket_inode(target) else {
            if target == IO_URING_LINK {
                if let Some(fd) = parse_decimal(name.to_bytes()) {
                    partial.rings.push((pid, task, fd as u32));
                }
            }
            continue;
        };
        if !shared.wanted.contains(&inode) {
            continue;
        }
        partial.hits.push((inode, pid));
        if shared.limit == ScanLimit::FirstOwner {
            let mut found = shared.found.lock().unwrap_or_else(|poison| poison.into_inner());
            if found.insert(inode) {
                shared.remaining.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    TableRead::Read
}

/// Parses `socket:[12345]` into 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_decimal(digits)
}

/// Parses ASCII decimal digits without allocating; `None` for anything else.
fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_links_only() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
    }

    #[rustfmt::skip]
    const RING_FDINFO: &str = "\
pos:\t0
flags:\t02000002
SqThread:\t-1
UserFiles:\t3
    0: socket:[12949702]
    1: /tmp/data socket:[77]
    2: socket:[4242]
UserBufs:\t1
    0: 0x7f0000000000/4096
PollList:
";

    #[test]
    fn reads_the_sockets_registered_with_a_ring() {
        let inodes: Vec<u64> = registered_socket_inodes(RING_FDINFO).collect();
        assert_eq!(inodes, vec![12949702, 4242]);
        assert_eq!(registered_socket_inodes("pos:\t0\nUserFiles:\t0\nUserBufs:\t0\n").count(), 0);
    }

    #[rustfmt::skip]
    const MAPS: &[u8] = b"\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 21532                      /usr/bin/python3
7f1f365bc000-7f1f365bd000 r--s 00000000 00:09 12947385                   socket:[12947385]
7f1f365be000-7f1f365bf000 rw-s 00000000 fe:00 99                         /tmp/socket:[31337]
7f1f365c0000-7f1f365c1000 rw-s 00000000 fe:00 98                         /tmp/x socket:[31338]
7f1f365c2000-7f1f365c3000 rw-p 00000000 00:00 0 
7ffd0a000000-7ffd0a021000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn reads_mapped_sockets_and_not_files_named_like_them() {
        let inodes: Vec<u64> = mapped_socket_inodes(MAPS).collect();
        assert_eq!(inodes, vec![12947385]);
    }

    #[test]
    fn finds_own_socket_and_lists_self() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = {
            use std::os::fd::AsRawFd;
            let link =
                std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
            socket_inode(link.to_string_lossy().as_bytes()).unwrap()
        };
        let me = std::process::id();
        assert!(list_pids().contains(&me));
        // Other tests of this process spawn programs: a child between its
        // fork and its exec holds a copy of every descriptor, this
        // listener's too. Such a child is an owner; no other process is.
        let only_me_and_forks = |pids: Vec<u32>| {
            pids.contains(&me)
                && pids.iter().all(|&pid| {
                    pid == me
                        || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(
                            true,
                            |stat| {
                                let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                                after_name.split_whitespace().nth(1) == Some(&me.to_string())
                            },
                        )
                })
        };
        let result = scan(&[inode]);
        let owners = result.owners.pids(inode).collect::<Vec<_>>();
        assert!(only_me_and_forks(owners.clone()), "{owners:?}");
        let first = scan_with(&[inode], ScanLimit::FirstOwner);
        let owners = first.owners.pids(inode).collect::<Vec<_>>();
        assert!(only_me_and_forks(owners.clone()), "{owners:?}");
        assert_eq!(result.owners.pids(inode + 1).count(), 0);
    }
}
