//! The BPF programs that run on a process's cgroup socket hooks: a policy
//! that neither nftables, SELinux nor seccomp shows.
//!
//! A container runtime, a network agent (Cilium, Calico's eBPF mode), a
//! sandbox or an administrator with `bpftool cgroup attach` can put a
//! program on the `connect4`/`connect6`, `sock_create`, `bind4`/`bind6` or
//! `egress` hook of a client's cgroup (its loopback connect fails with
//! `EPERM`), or on the `ingress` hook of a server's cgroup (the SYN is
//! dropped and its clients time out). systemd's `IPAddressDeny=` is such a
//! program too (`sd_fw_ingress`, `sd_fw_egress`).
//!
//! The programs are read from the cgroup2 hierarchy (a process on a
//! cgroup v1-only machine has none of these hooks), each with the cgroup it
//! is attached to (an ancestor's program runs for its descendants) and the
//! BPF link that holds it, if any: what a fix needs to name.

use std::path::{Path, PathBuf};

use crate::inventory::mountinfo::{self, Mount};
use crate::sys::bpf_cgroup;
pub use crate::sys::bpf_cgroup::CgroupHook;

/// One program that runs for a process's sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupProgram {
    pub hook: CgroupHook,
    pub id: u32,
    /// The name its loader gave it (other users' text: sanitise it).
    pub name: String,
    pub created_by_uid: u32,
    /// The cgroup directory the program is attached to (the process's own
    /// or an ancestor's), as the machine's shells see it.
    pub cgroup: PathBuf,
    /// The BPF link that attaches it (`bpftool link detach id N`), `None`
    /// when it was attached with `BPF_PROG_ATTACH`
    /// (`bpftool cgroup detach CGROUP HOOK id N`).
    pub link: Option<u32>,
}

impl CgroupProgram {
    /// systemd's own firewall for `IPAddressDeny=`/`IPAddressAllow=`: its
    /// fix is the unit's setting, not a detach that systemd would undo.
    pub fn is_systemd_firewall(&self) -> bool {
        self.name.starts_with("sd_fw_")
    }
}

/// What could be learnt about a process's cgroup programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupScan {
    /// The programs on the hooks asked for (possibly none).
    Programs { cgroup: PathBuf, programs: Vec<CgroupProgram> },
    /// The process is not in a cgroup2 hierarchy (cgroup v1 only): no hooks.
    NoHierarchy,
    /// The programs could not be read; the reason, for the evidence.
    Unreadable(String),
}

impl CgroupScan {
    pub fn programs(&self) -> &[CgroupProgram] {
        match self {
            CgroupScan::Programs { programs, .. } => programs,
            _ => &[],
        }
    }
}

/// The programs on `hooks` that run for the sockets of `pid` (porthole's own
/// when `None`).
pub fn scan(pid: Option<u32>, hooks: &[CgroupHook]) -> CgroupScan {
    let cgroup_file = match pid {
        Some(pid) => format!("/proc/{pid}/cgroup"),
        None => "/proc/self/cgroup".to_string(),
    };
    let Ok(membership) = std::fs::read_to_string(&cgroup_file) else {
        return CgroupScan::Unreadable(format!("{cgroup_file} cannot be read"));
    };
    let Some(relative) = unified_path(&membership) else {
        return CgroupScan::NoHierarchy;
    };
    let Some(hierarchy) = hierarchy() else {
        return CgroupScan::NoHierarchy;
    };
    let root = hierarchy.reached_at.clone();
    let leaf = hierarchy.reach(relative);
    // What a shell of the machine names the same directory: the printed
    // paths go into commands pasted there.
    let shown = |directory: &Path| match directory.strip_prefix(&root) {
        Ok(below) => hierarchy.mount.point.join(below),
        Err(_) => directory.to_path_buf(),
    };
    let mut programs = Vec::new();
    // The inode of each program's cgroup directory (a BPF link names its
    // cgroup by it), in the order of `programs`.
    let mut inodes = Vec::new();
    for &hook in hooks {
        let ids = match bpf_cgroup::query(&leaf, hook, true) {
            Ok(ids) => ids,
            Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
                return CgroupScan::Unreadable(
                    "the cgroup's BPF programs cannot be read without root (CAP_SYS_ADMIN)"
                        .to_string(),
                )
            }
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                return CgroupScan::Unreadable(format!(
                    "the cgroup {} is not visible here (another cgroup namespace?)",
                    shown(&leaf).display()
                ))
            }
            // A hook this kernel does not know (EINVAL): nothing runs there.
            Err(_) => continue,
        };
        for id in ids {
            let attached = attached_at(&leaf, &root, hook, id).unwrap_or_else(|| leaf.clone());
            let info = bpf_cgroup::program(id).ok();
            programs.push(CgroupProgram {
                hook,
                id,
                name: info.as_ref().map(|info| info.name.clone()).unwrap_or_default(),
                created_by_uid: info.map_or(u32::MAX, |info| info.created_by_uid),
                cgroup: shown(&attached),
                link: None,
            });
            inodes.push(directory_inode(&attached));
        }
    }
    if !programs.is_empty() {
        if let Ok(links) = bpf_cgroup::cgroup_links() {
            for (program, inode) in programs.iter_mut().zip(&inodes) {
                let inode = *inode;
                program.link = links
                    .iter()
                    .find(|link| {
                        link.program_id == program.id
                            && link.is_for(program.hook)
                            && Some(link.cgroup_id) == inode
                    })
                    .map(|link| link.id);
            }
        }
    }
    CgroupScan::Programs { cgroup: shown(&leaf), programs }
}

/// The cgroup2 hierarchy: where this process reaches its mount point, and
/// the mount as the machine's shells see it.
struct Hierarchy {
    reached_at: PathBuf,
    mount: Mount,
}

impl Hierarchy {
    /// The directory of cgroup `path` (as `/proc/PID/cgroup` names it),
    /// reached from here: below the mount's root, through `reached_at`.
    fn reach(&self, path: &str) -> PathBuf {
        let through_mount = self.mount.reach(path);
        match through_mount.strip_prefix(&self.mount.point) {
            Ok(below) if !below.as_os_str().is_empty() => self.reached_at.join(below),
            _ => self.reached_at.clone(),
        }
    }
}

/// Where the cgroup2 hierarchy can be reached from here. `ip netns exec`
/// gives its command a mount namespace with a fresh `/sys` and no cgroup
/// mounts: then the hierarchy is reached through `/proc/PID/root` of the
/// nearest ancestor that has it mounted (the shell that ran `ip netns
/// exec`; pid 1 last, which a container may not let us enter).
fn hierarchy() -> Option<Hierarchy> {
    let own = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(mount) = mountinfo::cgroup2(&own) {
        return Some(Hierarchy { reached_at: mount.point.clone(), mount });
    }
    let mut pid = parent_of("self")?;
    for _ in 0..64 {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
            if let Some(mount) = mountinfo::cgroup2(&text) {
                let relative = mount.point.strip_prefix("/").ok()?;
                let through = Path::new("/proc").join(pid.to_string()).join("root").join(relative);
                if through.is_dir() {
                    return Some(Hierarchy { reached_at: through, mount });
                }
            }
        }
        if pid <= 1 {
            return None;
        }
        pid = parent_of(&pid.to_string())?;
    }
    None
}

/// The parent pid of `/proc/WHICH` (`self` or a pid).
fn parent_of(which: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).ok()?;
    // After the `(comm)`, which may hold spaces: state, then ppid.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The nearest cgroup from `leaf` up to `root` that has program `id`
/// attached to `hook` itself.
fn attached_at(leaf: &Path, root: &Path, hook: CgroupHook, id: u32) -> Option<PathBuf> {
    let mut directory = leaf;
    loop {
        if bpf_cgroup::query(directory, hook, false).is_ok_and(|ids| ids.contains(&id)) {
            return Some(directory.to_path_buf());
        }
        if directory == root {
            return None;
        }
        directory = directory.parent()?;
    }
}

fn directory_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|metadata| metadata.ino())
}

/// The path of the cgroup2 entry (`0::/PATH`) of `/proc/PID/cgroup`.
fn unified_path(membership: &str) -> Option<&str> {
    membership.lines().find_map(|line| line.strip_prefix("0::")).map(str::trim_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_entry_is_read_from_a_hybrid_membership() {
        let membership = "12:pids:/\n1:name=systemd:/user.slice\n0::/system.slice/redis.service\n";
        assert_eq!(unified_path(membership), Some("/system.slice/redis.service"));
        assert_eq!(unified_path("4:memory:/\n"), None);
    }

    #[test]
    fn a_cgroup_is_reached_below_a_subtree_mount_and_through_an_ancestors_root() {
        // A container's cgroup2 mount whose root is its own cgroup, reached
        // through the shell's /proc/PID/root as under `ip netns exec`.
        let mount = mountinfo::cgroup2("50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 c rw\n")
            .unwrap();
        let hierarchy =
            Hierarchy { reached_at: PathBuf::from("/proc/77/root/sys/fs/cgroup"), mount };
        assert_eq!(
            hierarchy.reach("/docker/abc/worker"),
            PathBuf::from("/proc/77/root/sys/fs/cgroup/worker")
        );
        assert_eq!(hierarchy.reach("/docker/abc"), PathBuf::from("/proc/77/root/sys/fs/cgroup"));
    }

    #[test]
    fn systemds_firewall_is_told_apart_by_its_program_names() {
        let program = CgroupProgram {
            hook: CgroupHook::Ingress,
            id: 7,
            name: "sd_fw_ingress".into(),
            created_by_uid: 0,
            cgroup: PathBuf::from("/sys/fs/cgroup/system.slice/redis.service"),
            link: Some(3),
        };
        assert!(program.is_systemd_firewall());
        assert!(!CgroupProgram { name: "deny_5555".into(), ..program }.is_systemd_firewall());
    }
}
