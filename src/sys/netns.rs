//! Entering network namespaces. `setns(CLONE_NEWNET)` applies to the calling
//! thread only, so callers run it on a short-lived thread whose netlink
//! socket then belongs to the entered namespace.

use std::os::fd::AsFd;

/// Moves the calling thread into the network namespace behind `path`
/// (`/proc/PID/ns/net` or `/run/netns/NAME`). Needs CAP_SYS_ADMIN.
pub fn enter(path: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

/// The inode of the network namespace behind `path`.
pub fn inode_of(path: &str) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.ino())
}

/// Whether `path` is a network namespace file (`/proc/PID/ns/net`,
/// `/run/netns/NAME` or another bind mount of one), asked of the kernel
/// with the `NS_GET_NSTYPE` ioctl: a mount or PID namespace file, or a
/// plain file, is not one.
///
/// See: <https://man7.org/linux/man-pages/man2/ioctl_ns.2.html>
pub fn is_network_namespace(path: &str) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    /// `_IO(0xb7, 0x3)` from `<linux/nsfs.h>`.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    let file = std::fs::File::open(path)?;
    // SAFETY: the descriptor is open for the whole call (`file` lives until
    // the end of the function) and NS_GET_NSTYPE takes no argument.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    // Not an nsfs file: ENOTTY (or EINVAL on some file systems).
    Ok(kind >= 0 && kind == libc::CLONE_NEWNET)
}

/// The cookie of the calling thread's network namespace
/// (`SO_NETNS_COOKIE`, Linux 5.14+): unique for the life of the machine's
/// boot, unlike the namespace's inode, which a namespace made after another
/// one ended can get again. `None` on older kernels.
pub fn own_cookie() -> Option<u64> {
    use std::os::fd::AsRawFd;
    let socket =
        rustix::net::socket(rustix::net::AddressFamily::UNIX, rustix::net::SocketType::DGRAM, None)
            .ok()?;
    let mut cookie: u64 = 0;
    let mut length = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `length` bytes into `cookie`, a
    // live u64 whose size `length` states; the descriptor is open for the
    // whole call.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            std::ptr::addr_of_mut!(cookie).cast(),
            &mut length,
        )
    };
    (result == 0 && length as usize == std::mem::size_of::<u64>()).then_some(cookie)
}
