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

use crate::inventory::{mountinfo, process};
use crate::model::OwnerGap;

/// `pid:[PROC_PID_INIT_INO]`: the link of the initial PID namespace.
pub const INITIAL_PID_NAMESPACE: &str = "pid:[4026531836]";

/// The reasons that apply on this machine, most likely first.
/// `unreadable` are the processes whose fd tables the scan was refused;
/// `unreadable_own` are those of them that run as porthole's own user.
pub fn owner_gaps(unreadable: &[u32], unreadable_own: &[u32]) -> Vec<OwnerGap> {
    let root = rustix::process::geteuid().is_root();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let pid_namespace = std::fs::read_link("/proc/self/ns/pid").ok();
    let initial = pid_namespace.map(|link| link.to_string_lossy() == INITIAL_PID_NAMESPACE);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // Only root's refusals are named one by one; a user is refused every
    // other user's process.
    let unreadable_names = if root {
        unreadable.iter().map(|&pid| process::name_of(pid).unwrap_or_default()).collect()
    } else {
        Vec::new()
    };
    let facts = Facts {
        root,
        unreadable,
        unreadable_names,
        hidepid: hidepid_option(&mountinfo),
        initial_pid_namespace: initial,
        has_ptrace_capability: has_ptrace_capability(&status),
    };
    let mut gaps = judge(&facts, unreadable.len().saturating_sub(unreadable_own.len()));
    if !root && !unreadable_own.is_empty() {
        // Right after "not root": the same remedy, a different reason.
        gaps.insert(1, OwnerGap::OwnUserUnreadable { pids: unreadable_own.to_vec() });
    }
    gaps
}

/// What the decision rests on, gathered from this machine.
struct Facts<'a> {
    root: bool,
    /// Processes whose fd table was refused, ascending.
    unreadable: &'a [u32],
    /// Their names, as root (see [`OwnerGap::RefusedToRoot`]).
    unreadable_names: Vec<String>,
    hidepid: Option<String>,
    /// `None` when the link could not be read (then nothing is claimed
    /// about it).
    initial_pid_namespace: Option<bool>,
    /// `None` when `/proc/self/status` could not be read.
    has_ptrace_capability: Option<bool>,
}

/// The decision, on gathered facts. `unreadable_of_others` counts the
/// refused processes that do not run as porthole's own user.
fn judge(facts: &Facts<'_>, unreadable_of_others: usize) -> Vec<OwnerGap> {
    let mut gaps = Vec::new();
    if !facts.root {
        gaps.push(OwnerGap::NotRoot { unreadable_processes: unreadable_of_others });
        // Root (with CAP_SYS_PTRACE) is exempt from hidepid.
        if let Some(option) = &facts.hidepid {
            gaps.push(OwnerGap::HiddenProcesses { option: option.clone() });
        }
    } else if !facts.unreadable.is_empty() {
        // Root is refused only by the ptrace access check on the links:
        // without CAP_SYS_PTRACE (a container or sandbox that drops it)
        // a process holding capabilities porthole lacks refuses; with it,
        // only a security module can.
        gaps.push(OwnerGap::RefusedToRoot {
            pids: facts.unreadable.to_vec(),
            names: facts.unreadable_names.clone(),
            without_ptrace_capability: facts.has_ptrace_capability == Some(false),
        });
    }
    if facts.initial_pid_namespace == Some(false) {
        gaps.push(OwnerGap::OtherPidNamespace);
    }
    // Root that was refused only some processes saw every other one: a
    // socket none of those holds is held by no process at all, and which
    // of the two it is cannot be told (a refused process's namespaces are
    // refused too).
    let refused_to_root_only = matches!(gaps.as_slice(), [OwnerGap::RefusedToRoot { .. }]);
    if gaps.is_empty() || refused_to_root_only {
        gaps.push(OwnerGap::NoProcess);
    }
    gaps
}

/// `CAP_SYS_PTRACE`, bit 19 of the capability sets.
const CAP_SYS_PTRACE: u32 = 19;

/// Whether the `CapEff:` line of a `/proc/PID/status` holds
/// `CAP_SYS_PTRACE`; `None` without that line.
fn has_ptrace_capability(status: &str) -> Option<bool> {
    let effective = status
        .lines()
        .find_map(|line| u64::from_str_radix(line.strip_prefix("CapEff:")?.trim(), 16).ok())?;
    Some(effective & (1 << CAP_SYS_PTRACE) != 0)
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

    fn facts<'a>(
        root: bool,
        unreadable: &'a [u32],
        hidepid: Option<&str>,
        initial: Option<bool>,
    ) -> Facts<'a> {
        Facts {
            root,
            unreadable,
            unreadable_names: unreadable.iter().map(|pid| format!("p{pid}")).collect(),
            hidepid: hidepid.map(str::to_string),
            initial_pid_namespace: initial,
            has_ptrace_capability: Some(true),
        }
    }

    #[test]
    fn names_every_reason_that_applies() {
        assert_eq!(judge(&facts(true, &[], None, Some(true)), 0), vec![OwnerGap::NoProcess]);
        assert_eq!(
            judge(&facts(true, &[], Some("hidepid=2"), Some(false)), 0),
            vec![OwnerGap::OtherPidNamespace]
        );
        assert_eq!(
            judge(&facts(false, &[5, 6, 7], Some("hidepid=2"), Some(true)), 3),
            vec![
                OwnerGap::NotRoot { unreadable_processes: 3 },
                OwnerGap::HiddenProcesses { option: "hidepid=2".into() },
            ]
        );
        assert_eq!(
            judge(&facts(false, &[], None, None), 0),
            vec![OwnerGap::NotRoot { unreadable_processes: 0 }]
        );
    }

    #[test]
    fn root_refused_by_the_kernel_is_not_put_down_to_the_kernel_holding_the_socket() {
        let mut refused = facts(true, &[1, 40], None, Some(true));
        for has_ptrace_capability in [true, false] {
            refused.has_ptrace_capability = Some(has_ptrace_capability);
            let expected = OwnerGap::RefusedToRoot {
                pids: vec![1, 40],
                names: vec!["p1".into(), "p40".into()],
                without_ptrace_capability: !has_ptrace_capability,
            };
            assert_eq!(judge(&refused, 2), vec![expected, OwnerGap::NoProcess]);
        }
        // In a PID namespace of its own, the processes outside explain it.
        refused.initial_pid_namespace = Some(false);
        assert_eq!(judge(&refused, 2).last(), Some(&OwnerGap::OtherPidNamespace));
    }

    #[test]
    fn reads_the_ptrace_capability_from_the_effective_set() {
        assert_eq!(has_ptrace_capability("CapEff:\t000001fffeffffff\n"), Some(true));
        assert_eq!(has_ptrace_capability("CapEff:\t000001fffef7ffff\n"), Some(false));
        assert_eq!(has_ptrace_capability("Name:\tx\n"), None);
    }
}
