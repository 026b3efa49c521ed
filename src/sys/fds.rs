//! Handing sockets to a child process across `exec`, the way systemd passes
//! `LISTEN_FDS`: `free --hold` binds in the parent and lets a detached
//! child keep the sockets open, so there is no moment where the port is
//! unbound between the check and the hold. Also counts this process's
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
