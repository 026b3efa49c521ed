//! Why the owner of a socket could not be found: the evidence behind the
//! note that explains owners listed as `?`.
//!
//! Sockets come from netlink, which reports every socket of the network
//! namespace whatever the caller's rights; owners come from `/proc/*/fd`,
//! which shows less:
//! - without root, other users' fd tables are refused (`EACCES`);
//! - with `hidepid=1|2` (`noaccess`, `invisible`) other users' processes
//!   are refused or not listed at all, so nothing even fails;
//! - in a PID namespace of its own (a container, `unshare -p --mount-proc`)
//!   the processes outside it are missing from `/proc`, root or not, while
//!   the network namespace, and so the socket list, may be the host's;
//! - otherwise, the socket was closed between the dump and the scan, or
//!   only the kernel holds it.
//!
//! # Platform specific behavior
//! The initial PID namespace has the fixed inode `PROC_PID_INIT_INO`
//! (0xEFFFFFFC) since Linux 3.8, so `readlink /proc/self/ns/pid` tells
//! whether porthole runs in it.
//! See: <https://docs.kernel.org/filesystems/proc.html> (mount options)

use crate::inventory::mountinfo;
use crate::model::OwnerGap;

/// `pid:[PROC_PID_INIT_INO]`: the link of the initial PID namespace.
pub const INITIAL_PID_NAMESPACE: &str = "pid:[4026531836]";

/// The reasons that apply on this machine, most likely first.
/// `unreadable_processes` is the count of fd tables the scan was refused.
/// `unreadable_own` are those of them that run as porthole's own user.
pub fn owner_gaps(unreadable_processes: usize, unreadable_own: &[u32]) -> Vec<OwnerGap> {
    let root = rustix::process::geteuid().is_root();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let pid_namespace = std::fs::read_link("/proc/self/ns/pid").ok();
    let initial = pid_namespace.map(|link| link.to_string_lossy() == INITIAL_PID_NAMESPACE);
    let mut gaps = judge(
        root,
        unreadable_processes.saturating_sub(unreadable_own.len()),
        hidepid_option(&mountinfo),
        initial,
    );
    if !root && !unreadable_own.is_empty() {
        // Right after "not root": the same remedy, a different reason.
        gaps.insert(1, OwnerGap::OwnUserUnreadable { pids: unreadable_own.to_vec() });
    }
    gaps
}

/// The decision, on gathered facts. `initial_pid_namespace` is `None` when
/// the link could not be read (then nothing is claimed about it).
fn judge(
    root: bool,
    unreadable_processes: usize,
    hidepid: Option<String>,
    initial_pid_namespace: Option<bool>,
) -> Vec<OwnerGap> {
    let mut gaps = Vec::new();
    if !root {
        gaps.push(OwnerGap::NotRoot { unreadable_processes });
        // Root (with CAP_SYS_PTRACE) is exempt from hidepid.
        if let Some(option) = hidepid {
            gaps.push(OwnerGap::HiddenProcesses { option });
        }
    }
    if initial_pid_namespace == Some(false) {
        gaps.push(OwnerGap::OtherPidNamespace);
    }
    if gaps.is_empty() {
        gaps.push(OwnerGap::NoProcess);
    }
    gaps
}

/// The `hidepid=` option of the procfs mounted on `/proc` (the last mount
/// there wins), unless it hides nothing (`0`, `off`).
fn hidepid_option(mountinfo: &str) -> Option<String> {
    let mut found = None;
    for mount in mountinfo::mounts(mountinfo) {
        if mount.point != std::path::Path::new("/proc") || mount.filesystem != "proc" {
            continue;
        }
        found = mount
            .super_options
            .split(',')
            .find(|option| option.starts_with("hidepid="))
            .filter(|option| !matches!(*option, "hidepid=0" | "hidepid=off"))
            .map(str::to_string);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const MOUNTINFO: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
";

    #[test]
    fn finds_the_hidepid_of_the_last_proc_mount() {
        assert_eq!(hidepid_option(MOUNTINFO), None);
        let hidden = format!(
            "{MOUNTINFO}612 23 0:60 / /proc rw,relatime - proc proc rw,hidepid=invisible\n"
        );
        assert_eq!(hidepid_option(&hidden).as_deref(), Some("hidepid=invisible"));
        let shown = format!("{hidden}613 23 0:61 / /proc rw - proc proc rw,hidepid=0\n");
        assert_eq!(hidepid_option(&shown), None);
        // Another file system on /proc/sys is not the procfs itself.
        let other = "30 23 0:5 / /proc rw - tmpfs tmpfs rw,hidepid=2\n";
        assert_eq!(hidepid_option(other), None);
    }

    #[test]
    fn names_every_reason_that_applies() {
        assert_eq!(judge(true, 0, None, Some(true)), vec![OwnerGap::NoProcess]);
        assert_eq!(
            judge(true, 0, Some("hidepid=2".into()), Some(false)),
            vec![OwnerGap::OtherPidNamespace]
        );
        assert_eq!(
            judge(false, 3, Some("hidepid=2".into()), Some(true)),
            vec![
                OwnerGap::NotRoot { unreadable_processes: 3 },
                OwnerGap::HiddenProcesses { option: "hidepid=2".into() },
            ]
        );
        assert_eq!(
            judge(false, 0, None, None),
            vec![OwnerGap::NotRoot { unreadable_processes: 0 }]
        );
    }
}
