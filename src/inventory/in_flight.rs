//! Descriptors in flight: files sent over a Unix socket with `SCM_RIGHTS`
//! that nobody has received yet. Such a file belongs to no process (the
//! sender may have closed its copy), so a listener passed that way shows
//! no owner; the Unix socket whose queue carries it does have one, and
//! naming it is the honest answer to "who holds this port".
//!
//! Unix sockets with something queued come from `unix_diag` (the receive
//! queue length); their holders from the `/proc/*/fd` scan; the count of
//! descriptors queued on each from its `/proc/PID/fdinfo/FD`.
//!
//! # Platform specific behavior
//! `scm_fds:` is in the fdinfo of a Unix socket since Linux 5.10; older
//! kernels show nothing and nothing is claimed. The kernel does not say
//! which files are queued, only how many: a queue is named as the place a
//! descriptor may be, not as proof that it is the one asked about. Only the
//! Unix sockets of porthole's own network namespace are listed.
//! See: <https://github.com/torvalds/linux/blob/master/net/unix/af_unix.c>
//! (`unix_show_fdinfo`)

use super::{owners, Query};
use crate::model::InFlight;

/// The Unix sockets of this namespace that hold descriptors in flight,
/// with the processes that hold those sockets; empty when none do or they
/// cannot be read.
pub fn find() -> Vec<InFlight> {
    let Ok((sockets, _)) = super::enumerate_current(&Query::unix_sockets()) else {
        return Vec::new();
    };
    // A message carrying descriptors also carries at least one byte, so
    // only sockets with a non-empty queue are looked at.
    let queued: Vec<u64> =
        sockets.iter().filter(|s| s.rx_queue > 0 && s.inode != 0).map(|s| s.inode).collect();
    if queued.is_empty() {
        return Vec::new();
    }
    let scan = owners::scan(&queued);
    let mut found = Vec::new();
    for &inode in &queued {
        for pid in scan.owners.pids(inode) {
            let Some(descriptors) = queued_descriptors(pid, inode) else { continue };
            let name = super::process::name_of(pid).unwrap_or_default();
            found.push(InFlight { pid, name, unix_inode: inode, descriptors });
        }
    }
    found
}

/// The `scm_fds` of the first descriptor of `pid` that is the Unix socket
/// `inode`, when it is not zero.
fn queued_descriptors(pid: u32, inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        // A descriptor closed since the directory was read is skipped, not
        // taken as the end of the search.
        let Ok(target) = std::fs::read_link(entry.path()) else { continue };
        if target.as_os_str() != wanted.as_str() {
            continue;
        }
        let fd = entry.file_name();
        let fdinfo =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy())).ok()?;
        return scm_fds(&fdinfo).filter(|&count| count > 0);
    }
    None
}

/// `scm_fds:\t2` in a Unix socket's fdinfo.
fn scm_fds(fdinfo: &str) -> Option<u32> {
    fdinfo.lines().find_map(|line| line.strip_prefix("scm_fds:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_queued_descriptor_count() {
        let fdinfo = "pos:\t0\nflags:\t02\nmnt_id:\t8\nino:\t12395814\nscm_fds: 1\n";
        assert_eq!(scm_fds(fdinfo), Some(1));
        assert_eq!(scm_fds("pos:\t0\nflags:\t02\n"), None);
    }
}
