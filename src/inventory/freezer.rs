//! Whether a process is frozen by the cgroup freezer (`docker pause`,
//! `systemctl freeze`, `echo FROZEN > freezer.state`), and which control
//! file thaws it. `porthole kill` uses it to say why a signal had no
//! effect, and how to undo the freeze, instead of blaming the process.
//!
//! # Platform specific behavior
//! - cgroup v1: a task of a cgroup whose `freezer.state` is `FROZEN` (or
//!   `FREEZING`) acts on no signal, SIGKILL included, until the cgroup is
//!   written `THAWED`. The state is inherited: a child cgroup of a frozen
//!   one reports `FROZEN` itself, so the process's own cgroup is enough,
//!   though thawing must happen where the freeze was set.
//! - cgroup v2: a frozen task keeps caught and default signals pending
//!   until it is thawed, but SIGKILL ends it. The freeze may be set on any
//!   ancestor (`cgroup.freeze` = 1); each of those must be written `0`.
//!
//! See: <https://docs.kernel.org/admin-guide/cgroup-v1/freezer-subsystem.html>
//! and <https://docs.kernel.org/admin-guide/cgroup-v2.html> (`cgroup.freeze`).

use crate::inventory::mountinfo::{self, Mount};
use crate::inventory::system::System;
use crate::model::termination::Frozen;

/// A cgroup directory of the process on one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hierarchy {
    /// The v1 freezer hierarchy: the process's cgroup directory and its
    /// ancestors up to the mount point, deepest first.
    V1(Vec<String>),
    /// The v2 hierarchy, same order.
    V2(Vec<String>),
}

/// Reads `/proc/PID/cgroup`, the mount table and the freezer files; `None`
/// when the process is not frozen or its cgroups cannot be read.
pub fn frozen(system: &dyn System, pid: u32) -> Option<Frozen> {
    let cgroup = system.read_text(&format!("/proc/{pid}/cgroup"))?;
    let mountinfo = system.read_text("/proc/self/mountinfo")?;
    let state = |path: &str| system.read_text(path).map(|text| text.trim().to_string());
    for hierarchy in hierarchies(&cgroup, &mountinfo) {
        match hierarchy {
            Hierarchy::V1(directories) => {
                let Some(own_directory) = directories.first() else { continue };
                let own = state(&format!("{own_directory}/freezer.state"));
                if !matches!(own.as_deref(), Some("FROZEN" | "FREEZING")) {
                    continue;
                }
                // The freeze was set where `freezer.self_freezing` is 1.
                let controls = directories
                    .iter()
                    .filter(|d| {
                        state(&format!("{d}/freezer.self_freezing")).as_deref() == Some("1")
                    })
                    .map(|d| format!("{d}/freezer.state"))
                    .collect::<Vec<_>>();
                let controls = if controls.is_empty() {
                    vec![format!("{own_directory}/freezer.state")]
                } else {
                    controls
                };
                return Some(Frozen { controls, thaw_value: "THAWED", kill_ends_it: false });
            }
            Hierarchy::V2(directories) => {
                let controls = directories
                    .iter()
                    .map(|d| format!("{d}/cgroup.freeze"))
                    .filter(|file| state(file).as_deref() == Some("1"))
                    .collect::<Vec<_>>();
                if !controls.is_empty() {
                    return Some(Frozen { controls, thaw_value: "0", kill_ends_it: true });
                }
            }
        }
    }
    None
}

/// The process's freezer-capable cgroup directories on this machine, from
/// `/proc/PID/cgroup` and `/proc/self/mountinfo`.
fn hierarchies(cgroup: &str, mountinfo: &str) -> Vec<Hierarchy> {
    let v1 = mountinfo::mounts(mountinfo)
        .find(|mount| mount.filesystem == "cgroup" && mount.has_option("freezer"));
    let v2 = mountinfo::cgroup2(mountinfo);
    let mut found = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            if let Some(mount) = &v2 {
                found.push(Hierarchy::V2(directories(mount, path)));
            }
        } else if controllers.split(',').any(|c| c == "freezer") {
            if let Some(mount) = &v1 {
                found.push(Hierarchy::V1(directories(mount, path)));
            }
        }
    }
    found
}

/// The directory of cgroup `path` through `mount`, then its parents up to
/// (not including) the mount point, deepest first.
fn directories(mount: &Mount, path: &str) -> Vec<String> {
    let leaf = mount.reach(path);
    leaf.ancestors()
        .take_while(|directory| *directory != mount.point && directory.starts_with(&mount.point))
        .map(|directory| directory.to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A hybrid layout (v1 controllers plus v2 at /sys/fs/cgroup/unified),
    // as Debian 10 and many container hosts mount it.
    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_freezer_and_v2_directories_deepest_first() {
        let cgroup = "6:freezer:/pause/app\n4:memory:/x\n0::/system.slice/app.service\n";
        assert_eq!(
            hierarchies(cgroup, MOUNTINFO),
            vec![
                Hierarchy::V1(vec![
                    "/sys/fs/cgroup/freezer/pause/app".into(),
                    "/sys/fs/cgroup/freezer/pause".into(),
                ]),
                Hierarchy::V2(vec![
                    "/sys/fs/cgroup/unified/system.slice/app.service".into(),
                    "/sys/fs/cgroup/unified/system.slice".into(),
                ]),
            ]
        );
    }

    #[test]
    fn a_mount_of_a_subtree_is_joined_below_its_root() {
        // A container's cgroup2 mount whose root is its own cgroup.
        let mountinfo = "50 40 0:30 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup rw\n";
        assert_eq!(
            hierarchies("0::/docker/abc/worker\n", mountinfo),
            vec![Hierarchy::V2(vec!["/sys/fs/cgroup/worker".into()])]
        );
    }

    #[test]
    fn the_root_cgroup_has_no_freezer_directory() {
        assert_eq!(
            hierarchies("6:freezer:/\n0::/\n", MOUNTINFO),
            vec![Hierarchy::V1(Vec::new()), Hierarchy::V2(Vec::new()),]
        );
    }
}
