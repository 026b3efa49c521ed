//! Socket options of the monitor's netlink subscriptions that the safe
//! crates do not offer.
//!
//! # Platform specific behavior
//! `SO_RCVBUFFORCE` (CAP_NET_ADMIN) may exceed `net.core.rmem_max`, which is
//! what makes the sock_diag destroy multicast and the process connector
//! lossless at thousands of events per second: with the default 208 KiB
//! buffer 15% of destroy notifications were dropped under load.
//! See: <https://man7.org/linux/man-pages/man7/socket.7.html>

use std::os::fd::{AsFd, AsRawFd};

/// Sets the receive buffer to `bytes`, above `rmem_max` when privileged;
/// falls back to `SO_RCVBUF` (capped by `rmem_max`) without privilege.
/// Returns the size the kernel granted (it reports double the request).
pub fn set_receive_buffer(socket: &impl AsFd, bytes: usize) -> std::io::Result<usize> {
    let fd = socket.as_fd().as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: `value` is a live c_int and the length passed is its size;
        // setsockopt only reads it. `fd` is a socket borrowed for the call.
        let result = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                std::ptr::from_ref(&value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            break;
        }
        if option == libc::SO_RCVBUF {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(rustix::net::sockopt::socket_recv_buffer_size(socket.as_fd())?)
}
