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
