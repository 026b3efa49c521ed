//! The BPF programs attached to a cgroup's socket hooks, read with the
//! `bpf(2)` system call.
//!
//! A program on a cgroup's `connect4`/`connect6`, `sock_create` or `egress`
//! hook makes a process's loopback connect fail with `EPERM`; one on the
//! listener's `ingress` hook drops the SYN, so its clients time out. Neither
//! shows up in nftables, SELinux or seccomp, so `porthole check` asks the
//! kernel which programs run for the process's cgroup and where each is
//! attached (the cgroup directory a `bpftool cgroup detach` takes), and
//! whether it was attached through a BPF link (`bpftool link detach`).
//! The same link listing tells whether an XDP program on `lo` is held by a
//! link (which `ip link set dev lo xdp off` cannot remove).
//!
//! Needs `CAP_SYS_ADMIN` (or `CAP_BPF` with `CAP_NET_ADMIN`): without it the
//! query fails with `EPERM` and the caller says what could not be seen.
//!
//! # Platform specific behavior
//! Linux ≥ 4.15 (`BPF_PROG_QUERY`); links ≥ 5.8. See:
//! <https://man7.org/linux/man-pages/man2/bpf.2.html> and
//! `include/uapi/linux/bpf.h`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;
const BPF_F_QUERY_EFFECTIVE: u32 = 1;
const BPF_LINK_TYPE_CGROUP: u32 = 3;
const BPF_LINK_TYPE_XDP: u32 = 6;
/// `union bpf_attr` is larger on newer kernels; the kernel checks that the
/// bytes past what it knows are zero, so a zeroed buffer of this size works
/// on every version.
const ATTR_BYTES: usize = 128;
/// More programs than any cgroup hook holds in practice (the kernel caps a
/// hook at 64 with `BPF_F_ALLOW_MULTI`).
const MAX_PROGRAMS: usize = 64;

/// The cgroup hooks that can refuse or drop a loopback connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupHook {
    /// `BPF_CGROUP_INET_INGRESS`: packets arriving at the cgroup's sockets.
    Ingress,
    /// `BPF_CGROUP_INET_EGRESS`: packets the cgroup's sockets send.
    Egress,
    /// `BPF_CGROUP_INET_SOCK_CREATE`: `socket()`.
    SockCreate,
    /// `BPF_CGROUP_INET4_BIND` / `BPF_CGROUP_INET6_BIND`.
    Bind4,
    Bind6,
    /// `BPF_CGROUP_INET4_CONNECT` / `BPF_CGROUP_INET6_CONNECT`.
    Connect4,
    Connect6,
}

impl CgroupHook {
    fn attach_type(self) -> u32 {
        match self {
            CgroupHook::Ingress => 0,
            CgroupHook::Egress => 1,
            CgroupHook::SockCreate => 2,
            CgroupHook::Bind4 => 8,
            CgroupHook::Bind6 => 9,
            CgroupHook::Connect4 => 10,
            CgroupHook::Connect6 => 11,
        }
    }

    /// The name `bpftool cgroup attach/detach` takes for the hook.
    pub fn bpftool_name(self) -> &'static str {
        match self {
            CgroupHook::Ingress => "ingress",
            CgroupHook::Egress => "egress",
            CgroupHook::SockCreate => "sock_create",
            CgroupHook::Bind4 => "bind4",
            CgroupHook::Bind6 => "bind6",
            CgroupHook::Connect4 => "connect4",
            CgroupHook::Connect6 => "connect6",
        }
    }
}

/// What the kernel says of one loaded program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    pub id: u32,
    /// The name its loader gave it (at most 15 bytes, lossy UTF-8); other
    /// users' text.
    pub name: String,
    pub created_by_uid: u32,
}

/// A BPF link that attaches a program to a cgroup hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLink {
    pub id: u32,
    pub program_id: u32,
    /// The cgroup's id: the inode number of its directory on cgroup2.
    pub cgroup_id: u64,
    pub attach_type: u32,
}

impl CgroupLink {
    pub fn is_for(&self, hook: CgroupHook) -> bool {
        self.attach_type == hook.attach_type()
    }
}

fn bpf(command: libc::c_long, attr: &mut [u8; ATTR_BYTES]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, writable buffer of ATTR_BYTES bytes laid out
    // as the `union bpf_attr` member that `command` reads (the callers below
    // fill it by the offsets of `include/uapi/linux/bpf.h`); any pointers
    // stored in it point to buffers that outlive this call.
    let result = unsafe {
        libc::syscall(libc::SYS_bpf, command, attr.as_mut_ptr(), ATTR_BYTES as libc::c_uint)
    };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn put_u32(attr: &mut [u8; ATTR_BYTES], offset: usize, value: u32) {
    attr[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; ATTR_BYTES], offset: usize, value: u64) {
    attr[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
}

fn get_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_ne_bytes(word)
}

fn get_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_ne_bytes(word)
}

fn open_directory(path: &Path) -> io::Result<OwnedFd> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a cgroup path"))?;
    // SAFETY: `name` is a NUL-terminated string that lives across the call;
    // the descriptor returned is new and owned by nobody else.
    let fd =
        unsafe { libc::open(name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened above and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ids of the programs on `hook` of the cgroup at `directory`: those
/// that run for its processes (`effective`, inherited from its ancestors
/// included), or those attached to this cgroup itself.
pub fn query(directory: &Path, hook: CgroupHook, effective: bool) -> io::Result<Vec<u32>> {
    let cgroup = open_directory(directory)?;
    let mut ids = vec![0u32; MAX_PROGRAMS];
    let mut attr = [0u8; ATTR_BYTES];
    // struct { u32 target_fd; u32 attach_type; u32 query_flags;
    //          u32 attach_flags; u64 prog_ids; u32 prog_cnt; … } query;
    put_u32(&mut attr, 0, cgroup.as_raw_fd() as u32);
    put_u32(&mut attr, 4, hook.attach_type());
    put_u32(&mut attr, 8, if effective { BPF_F_QUERY_EFFECTIVE } else { 0 });
    put_u64(&mut attr, 16, ids.as_mut_ptr() as u64);
    put_u32(&mut attr, 24, MAX_PROGRAMS as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    let count = (get_u32(&attr, 24) as usize).min(MAX_PROGRAMS);
    ids.truncate(count);
    Ok(ids)
}

/// Name and loader of the program with `id`.
pub fn program(id: u32) -> io::Result<ProgramInfo> {
    let mut attr = [0u8; ATTR_BYTES];
    put_u32(&mut attr, 0, id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that only we own.
    let program = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // struct bpf_prog_info up to and including `name` (offsets 0..80):
    // type, id, tag[8], jited/xlated lengths, two pointers, load_time,
    // created_by_uid (48), nr_map_ids, map_ids, name[16] (64).
    let mut info = [0u8; 80];
    let mut attr = [0u8; ATTR_BYTES];
    // struct { u32 bpf_fd; u32 info_len; u64 info; } info;
    put_u32(&mut attr, 0, program.as_raw_fd() as u32);
    put_u32(&mut attr, 4, info.len() as u32);
    put_u64(&mut attr, 8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let name = &info[64..80];
    let end = name.iter().position(|&byte| byte == 0).unwrap_or(name.len());
    Ok(ProgramInfo {
        id: get_u32(&info, 4),
        name: String::from_utf8_lossy(&name[..end]).into_owned(),
        created_by_uid: get_u32(&info, 48),
    })
}

/// One BPF link as `BPF_OBJ_GET_INFO_BY_FD` describes it: its type
/// (`BPF_LINK_TYPE_*`), id, program and the first bytes of its type's
/// details.
struct LinkInfo {
    kind: u32,
    id: u32,
    program_id: u32,
    /// `union { … }` of `struct bpf_link_info`, at offset 16.
    detail: [u8; 16],
}

/// Every BPF link on the machine.
fn links() -> io::Result<Vec<LinkInfo>> {
    let mut links = Vec::new();
    let mut start = 0u32;
    loop {
        let mut attr = [0u8; ATTR_BYTES];
        // struct { u32 start_id; u32 next_id; u32 open_flags; };
        put_u32(&mut attr, 0, start);
        match bpf(BPF_LINK_GET_NEXT_ID, &mut attr) {
            Ok(_) => {}
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => return Ok(links),
            Err(error) => return Err(error),
        }
        let id = get_u32(&attr, 4);
        start = id;
        let mut attr = [0u8; ATTR_BYTES];
        put_u32(&mut attr, 0, id);
        let fd = match bpf(BPF_LINK_GET_FD_BY_ID, &mut attr) {
            Ok(fd) => fd,
            // Released between the two calls.
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(error) => return Err(error),
        };
        // SAFETY: the kernel returned a new descriptor that only we own.
        let link = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // struct bpf_link_info { u32 type; u32 id; u32 prog_id;
        //   union { … } } with the union 8-byte aligned at offset 16.
        let mut info = [0u8; 32];
        let mut attr = [0u8; ATTR_BYTES];
        put_u32(&mut attr, 0, link.as_raw_fd() as u32);
        put_u32(&mut attr, 4, info.len() as u32);
        put_u64(&mut attr, 8, info.as_mut_ptr() as u64);
        if bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).is_err() {
            continue;
        }
        let mut detail = [0u8; 16];
        detail.copy_from_slice(&info[16..32]);
        links.push(LinkInfo {
            kind: get_u32(&info, 0),
            id: get_u32(&info, 4),
            program_id: get_u32(&info, 8),
            detail,
        });
    }
}

/// Every BPF link that attaches a program to a cgroup hook.
pub fn cgroup_links() -> io::Result<Vec<CgroupLink>> {
    Ok(links()?
        .into_iter()
        .filter(|link| link.kind == BPF_LINK_TYPE_CGROUP)
        .map(|link| CgroupLink {
            id: link.id,
            program_id: link.program_id,
            // union member `cgroup`: { u64 cgroup_id; u32 attach_type; }
            cgroup_id: get_u64(&link.detail, 0),
            attach_type: get_u32(&link.detail, 8),
        })
        .collect())
}

/// The id of the BPF link that attaches program `program_id` to a network
/// device's XDP hook (`BPF_LINK_TYPE_XDP`), `None` when it was attached
/// without one (`ip link set dev DEV xdp …`).
pub fn xdp_link_of(program_id: u32) -> io::Result<Option<u32>> {
    Ok(links()?
        .into_iter()
        .find(|link| link.kind == BPF_LINK_TYPE_XDP && link.program_id == program_id)
        .map(|link| link.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_carry_the_kernel_attach_types_and_bpftool_names() {
        // include/uapi/linux/bpf.h, enum bpf_attach_type.
        assert_eq!(CgroupHook::Ingress.attach_type(), 0);
        assert_eq!(CgroupHook::Connect6.attach_type(), 11);
        assert_eq!(CgroupHook::Bind4.bpftool_name(), "bind4");
        assert_eq!(CgroupHook::SockCreate.bpftool_name(), "sock_create");
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup_is_an_error_not_an_empty_answer() {
        // /proc is not a cgroup: the kernel refuses the query (EBADF or,
        // unprivileged, EPERM) rather than answering "no programs".
        assert!(query(Path::new("/proc"), CgroupHook::Connect4, true).is_err());
    }
}
