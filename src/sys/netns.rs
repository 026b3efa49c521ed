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
