//! Waiting for any of several descriptors to become readable, for the
//! monitor's single-threaded event loop (netlink subscriptions, the eBPF
//! ring buffer). `poll(2)` on raw descriptors: the owners are in different
//! crates (netlink-sys, aya) and only expose `AsRawFd`.

use std::os::fd::RawFd;
use std::time::Duration;

/// Waits up to `timeout` for any of `fds` to be readable. Returns for each
/// descriptor whether it is readable (or in error, which a read will
/// report). An interrupting signal returns early with nothing ready.
pub fn readable(fds: &[RawFd], timeout: Duration) -> std::io::Result<Vec<bool>> {
    let mut entries: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `entries` is a live, writable array of `entries.len()` pollfd
    // structs; poll writes only their `revents` fields. The descriptors are
    // borrowed from objects the caller keeps alive for the call.
    let result = unsafe { libc::poll(entries.as_mut_ptr(), entries.len() as libc::nfds_t, millis) };
    if result < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(error);
    }
    Ok(entries.iter().map(|entry| entry.revents != 0).collect())
}

/// Waits up to `timeout` for input on the terminal `fd` (or for a signal,
/// which ends the wait early); returns whether the terminal hung up: its
/// window closed, its SSH connection dropped, its tmux session was killed.
///
/// # Platform specific behavior
/// A hung-up tty reports `POLLHUP` (with `POLLIN`: reads return 0 from then
/// on) to every descriptor open on it; `POLLERR`/`POLLNVAL` mean it cannot
/// be used either. See: <https://man7.org/linux/man-pages/man2/poll.2.html>
pub fn terminal_hung_up(fd: RawFd, timeout: Duration) -> std::io::Result<bool> {
    let mut entry = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `entry` is one live, writable pollfd; poll writes only its
    // `revents`. The descriptor is the caller's terminal, open for the call.
    let result = unsafe { libc::poll(&mut entry, 1, millis) };
    if result < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(error);
    }
    Ok(entry.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0)
}
