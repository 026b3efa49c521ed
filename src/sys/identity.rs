//! Opening sockets as another user: `check --from PID` probes with the
//! client's file-system uid, gid and groups, so that what the kernel decides
//! by the opening user is decided for the client and not for porthole.
//!
//! Two decisions depend on it. A firewall owner match (`meta skuid`,
//! `meta skgid`, iptables `-m owner --uid-owner`) reads the credentials the
//! socket's file was opened with. Connecting to a Unix socket needs write
//! permission on its file, checked with the caller's file-system ids and
//! groups. Root passes both where the client may not.
//!
//! # Platform specific behavior
//! Linux keeps credentials per thread: the raw `setfsuid`, `setfsgid` and
//! `setgroups` system calls change the calling thread only (glibc's
//! `setgroups` wrapper would change every thread, so rustix's per-thread
//! call is used). File-system ids change no other id, and going back to 0
//! gives the file capabilities back, so the switch is undone completely.
//! Only a process with `CAP_SETUID` and `CAP_SETGID` may switch.
//! See: <https://man7.org/linux/man-pages/man2/setfsuid.2.html>

use rustix::process::Gid;

/// The credentials a socket is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// File-system uid (`/proc/PID/status` `Uid:` fourth field).
    pub uid: u32,
    /// File-system gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Why the calling thread could not take on an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("switching to uid {uid} gid {gid} was refused (needs CAP_SETUID and CAP_SETGID)")]
    Refused { uid: u32, gid: u32 },
    #[error("setting supplementary groups: {0}")]
    Groups(#[source] std::io::Error),
}

/// The thread's previous credentials, put back when dropped (also when the
/// work panics).
struct Restore {
    uid: u32,
    gid: u32,
    groups: Vec<Gid>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: setfsuid/setfsgid take an integer and change only the
        // calling thread's file-system ids; they cannot fail in a way that
        // harms memory (a refused change leaves the ids as they were).
        unsafe {
            libc::setfsuid(self.uid);
            libc::setfsgid(self.gid);
        }
        let _ = rustix::thread::set_thread_groups(&self.groups);
    }
}

/// Runs `work` on the calling thread with `identity`'s file-system ids and
/// groups, then restores the thread's own.
pub fn act_as<T>(identity: &Identity, work: impl FnOnce() -> T) -> Result<T, IdentityError> {
    let groups = rustix::process::getgroups().map_err(|e| IdentityError::Groups(e.into()))?;
    // SAFETY: as in `Restore::drop`; the value -1 only reads the current id
    // (an invalid id is refused and the current one returned).
    let (uid, gid) = unsafe { (libc::setfsuid(u32::MAX), libc::setfsgid(u32::MAX)) };
    let restore = Restore { uid: uid as u32, gid: gid as u32, groups };
    let wanted: Vec<Gid> = identity.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    rustix::thread::set_thread_groups(&wanted).map_err(|error| match error {
        rustix::io::Errno::PERM => IdentityError::Refused { uid: identity.uid, gid: identity.gid },
        other => IdentityError::Groups(other.into()),
    })?;
    // SAFETY: as above. setfsuid reports the previous id whether or not the
    // change was allowed, so a second call (with the invalid id -1) reads
    // back what is in force.
    let (uid_now, gid_now) = unsafe {
        libc::setfsgid(identity.gid);
        libc::setfsuid(identity.uid);
        (libc::setfsuid(u32::MAX), libc::setfsgid(u32::MAX))
    };
    if uid_now as u32 != identity.uid || gid_now as u32 != identity.gid {
        return Err(IdentityError::Refused { uid: identity.uid, gid: identity.gid });
    }
    let result = work();
    drop(restore);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_opened_as_another_user_belongs_to_it_and_the_thread_gets_its_ids_back() {
        if !rustix::process::geteuid().is_root() {
            // Switching ids needs root; CI runs as root, so there it must run.
            assert!(std::env::var_os("CI").is_none(), "switching ids needs root, and CI is root");
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped: switching ids needs root");
            return;
        }
        let ids = || {
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            status
                .lines()
                .filter(|l| {
                    l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let before = ids();
        let nobody = Identity { uid: 65534, gid: 65534, groups: vec![] };
        let socket = act_as(&nobody, || std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .expect("root may switch");
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            socket.as_raw_fd()
        }))
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        })
        .unwrap();
        assert_eq!(inode, 65534, "the socket's owner is the identity's uid");
        assert_eq!(ids(), before);
    }
}
