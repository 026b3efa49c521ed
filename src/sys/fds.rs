//! Handing sockets to a child process across `exec`, the way systemd passes
//! `LISTEN_FDS`: `free --hold` binds in the parent and lets a detached
//! child keep the sockets open, so there is no moment where the port is
//! unbound between the check and the hold. Opens directory handles that
//! shorten a long Unix socket path. Also counts this process's
//! open descriptors and reads its limit, for the proxy's descriptor budget.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};

/// How many descriptors this process has open (`/proc/self/fd`), `None`
/// when that cannot be read.
pub fn open_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(Iterator::count)
}

/// The soft `RLIMIT_NOFILE` of this process, `None` when unlimited.
pub fn open_limit() -> Option<usize> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .and_then(|limit| usize::try_from(limit).ok())
}

/// Raises the soft `RLIMIT_NOFILE` to at least `wanted` descriptors, up to
/// the hard limit (as Go's runtime does at start): the default soft limit
/// (often 1024) is lower than what `free --count N --hold` keeps open,
/// while the hard limit rarely is. A child started afterwards inherits it.
pub fn raise_open_limit(wanted: usize) -> std::io::Result<()> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let Some(current) = limit.current else { return Ok(()) };
    let wanted = u64::try_from(wanted).unwrap_or(u64::MAX);
    if current >= wanted {
        return Ok(());
    }
    let raised = limit.maximum.map_or(wanted, |maximum| wanted.min(maximum));
    if raised <= current {
        return Ok(());
    }
    let new = rustix::process::Rlimit { current: Some(raised), maximum: limit.maximum };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, new)?;
    Ok(())
}

/// Opens a directory as a path handle (`O_PATH`): no read permission on it
/// is needed, only search permission on the way there, so
/// `/proc/self/fd/N/NAME` then resolves `NAME` as a path through the
/// directory would, for whoever opened it.
pub fn open_directory_handle(directory: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(directory)
}

/// Clears `FD_CLOEXEC` so the descriptor survives the next `exec`.
pub fn keep_across_exec(fd: &impl AsFd) -> std::io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    Ok(())
}

/// Takes ownership of a descriptor number inherited from the parent.
///
/// Fails when `raw` is not an open descriptor, so a wrong number on the
/// command line cannot lead to closing someone else's descriptor later.
pub fn adopt(raw: RawFd) -> std::io::Result<OwnedFd> {
    if raw < 3 {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: F_GETFD only reads the flags of a descriptor number; it
    // touches no memory and fails with EBADF when the number is not open.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above), was inherited for this
    // process to own (the parent passes it for exactly this purpose), and no
    // other object in this process wraps it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Whether threads `tid` and `leader` of one process share their
/// descriptor table, asked of the kernel with `kcmp(KCMP_FILES)`. `None`
/// when the kernel does not say (no permission to inspect them, a thread
/// that exited, or a kernel without `kcmp`).
///
/// A thread shares its process's table unless it called
/// `unshare(CLONE_FILES)` (or was cloned without `CLONE_FILES`): then
/// sockets it opens are in `/proc/PID/task/TID/fd` only.
///
/// See: <https://man7.org/linux/man-pages/man2/kcmp.2.html>
pub fn shares_descriptor_table(leader: u32, tid: u32) -> Option<bool> {
    /// `KCMP_FILES` from `<linux/kcmp.h>`.
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes five integer arguments and touches no memory of
    // ours for KCMP_FILES (idx1 and idx2 are ignored).
    let result = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::c_long::from(leader as i32),
            libc::c_long::from(tid as i32),
            KCMP_FILES,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    match result {
        0 => Some(true),
        1..=3 => Some(false),
        _ => None,
    }
}
