//! Outdated code still running, the needrestart method: a process whose
//! executable, or one of whose executable mappings, was deleted or replaced
//! on disk since it started keeps running the old code (and its old bugs)
//! until restarted.
//!
//! - exe: `readlink /proc/PID/exe` ends in ` (deleted)`, or the inode behind
//!   `/proc/PID/exe` differs from the inode now at that path;
//! - libraries: `/proc/PID/maps` entries with the `x` permission, an inode
//!   and a path, that end in ` (deleted)` or whose device:inode differ from
//!   the file now at `/proc/PID/root/PATH` (which also works in containers).
//!
//! Reading another user's `exe` and `maps` needs root (ptrace access).
//! See: <https://github.com/liske/needrestart> (`needrestart`, lines 525–640)

use std::collections::BTreeSet;

use crate::inventory::system::System;

/// How the running executable relates to the file at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExeState {
    Current,
    Deleted { path: String },
    Replaced { path: String },
}

/// What was found for one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartCheck {
    /// `None` when `/proc/PID/exe` could not be read (permission).
    pub exe: Option<ExeState>,
    /// Deleted or replaced executable mappings, with the reason.
    pub libraries: Vec<StaleMapping>,
    /// `/proc/PID/maps` could be read.
    pub maps_readable: bool,
}

/// A mapping whose file changed on disk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleMapping {
    pub path: String,
    /// `deleted` or `replaced`.
    pub reason: &'static str,
}

/// One parsed line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub executable: bool,
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
    pub path: String,
    pub deleted: bool,
}

/// Parses one maps line: `start-end perms offset major:minor inode path`.
pub fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let _range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let device = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    let path = fields.next().unwrap_or("").trim_start();
    let (major, minor) = device.split_once(':')?;
    let (path, deleted) = match path.strip_suffix(" (deleted)") {
        Some(stripped) => (stripped, true),
        None => (path, false),
    };
    Some(Mapping {
        executable: perms.contains('x'),
        major: u32::from_str_radix(major, 16).ok()?,
        minor: u32::from_str_radix(minor, 16).ok()?,
        inode,
        path: path.to_string(),
        deleted,
    })
}

/// Mappings that are not files on a disk: SysV shm, DRM, devices, memfd,
/// AIO rings, JIT code (needrestart's ignore list).
fn ignored(path: &str) -> bool {
    path.starts_with("/SYSV")
        || path.starts_with("/drm")
        || path.starts_with("/dev/")
        || path.starts_with("/memfd:")
        || path.starts_with("/[aio]")
        || path.contains("orcexec.")
}

/// Stale executable mappings in a maps file's text. `stat` gives
/// (major, minor, inode) of the file now at a path, `None` when it is gone.
pub fn stale_mappings(
    maps: &str,
    stat: impl Fn(&str) -> Option<(u32, u32, u64)>,
) -> Vec<StaleMapping> {
    let mut found = BTreeSet::new();
    for mut mapping in maps.lines().filter_map(parse_maps_line) {
        if !mapping.executable || mapping.inode == 0 || !mapping.path.starts_with('/') {
            continue;
        }
        if ignored(&mapping.path) {
            continue;
        }
        // The kernel writes a newline in a mapped file's name as `\012`
        // (and a backslash as itself): the file is at the name with the
        // newline, unless a name with those four characters is there.
        // Looked up as written, a program run from such a name was blamed
        // for running deleted code, and told to restart.
        if mapping.path.contains("\\012") && stat(&mapping.path).is_none() {
            mapping.path = mapping.path.replace("\\012", "\n");
        }
        if mapping.deleted {
            // Marked deleted also when an upgrade renamed a new file over
            // it: a file at the path now means replaced.
            let reason = if stat(&mapping.path).is_some() { "replaced" } else { "deleted" };
            found.insert(StaleMapping { path: mapping.path, reason });
            continue;
        }
        match stat(&mapping.path) {
            None => {
                found.insert(StaleMapping { path: mapping.path, reason: "deleted" });
            }
            Some((major, minor, inode)) => {
                // Device numbers with major 0 (btrfs, overlayfs) differ
                // between maps and stat; compare inodes only there.
                let same_device =
                    mapping.major == 0 || (major == mapping.major && minor == mapping.minor);
                if inode != mapping.inode || !same_device {
                    found.insert(StaleMapping { path: mapping.path, reason: "replaced" });
                }
            }
        }
    }
    found.into_iter().collect()
}

/// Checks one process, reading its `/proc/PID` through `system`.
pub fn check(system: &dyn System, pid: u32) -> RestartCheck {
    let base = format!("/proc/{pid}");
    let exe = system.read_link(&format!("{base}/exe")).map(|text| {
        match text.strip_suffix(" (deleted)") {
            // The kernel marks the old inode deleted whether the file was
            // removed or an upgrade renamed a new one over it (dpkg, rpm):
            // a file at the path now says which.
            Some(path) => match system.file_status(&format!("{base}/root{path}")) {
                Some(_) => ExeState::Replaced { path: path.to_string() },
                None => ExeState::Deleted { path: path.to_string() },
            },
            None => {
                let running = system.file_status(&format!("{base}/exe"));
                let on_disk = system.file_status(&format!("{base}/root{text}"));
                match (running, on_disk) {
                    (Some(running), Some(on_disk))
                        if running.inode != on_disk.inode || running.device != on_disk.device =>
                    {
                        ExeState::Replaced { path: text }
                    }
                    (Some(_), None) => ExeState::Deleted { path: text },
                    _ => ExeState::Current,
                }
            }
        }
    });
    let (libraries, maps_readable) = match system.read_text(&format!("{base}/maps")) {
        Some(maps) => {
            let root = format!("{base}/root");
            let stale = stale_mappings(&maps, |path| {
                let status = system.file_status(&format!("{root}{path}"))?;
                let device = status.device;
                Some((rustix::fs::major(device), rustix::fs::minor(device), status.inode))
            });
            // The executable itself is mapped too; it is reported as the
            // binary, not as a library.
            let exe_path = match &exe {
                Some(ExeState::Deleted { path } | ExeState::Replaced { path }) => {
                    Some(path.clone())
                }
                _ => None,
            };
            (stale.into_iter().filter(|m| Some(&m.path) != exe_path.as_ref()).collect(), true)
        }
        None => (Vec::new(), false),
    };
    RestartCheck { exe, libraries, maps_readable }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const MAPS: &str = "\
55d0c8a00000-55d0c8a21000 r--p 00000000 fd:01 1311 /usr/sbin/postgres
55d0c8a21000-55d0c8e00000 r-xp 00021000 fd:01 1311 /usr/sbin/postgres
7f1c2a000000-7f1c2a200000 r-xp 00000000 fd:01 2048 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2b000000-7f1c2b010000 r-xp 00000000 fd:01 4096 /tmp/x/libhook.so (deleted)
7f1c2c000000-7f1c2c010000 r-xp 00000000 00:05 77 /memfd:jit (deleted)
7f1c2d000000-7f1c2d010000 rw-s 00000000 00:01 12 /SYSV00000000 (deleted)
7ffc1a000000-7ffc1a021000 rw-p 00000000 00:00 0 [stack]
";

    // A program run from a file whose name has a newline: maps shows it as
    // `\012`, which named no file, so the program was reported as running
    // deleted code (`outdated-library`, high) and "restart pid N" offered.
    #[test]
    fn a_newline_in_a_mapped_name_is_looked_up_as_a_newline() {
        let maps = "55d0c8a21000-55d0c8e00000 r-xp 00001000 fe:00 1311 /tmp/py\"\\012 $(id)\n";
        let stat = |path: &str| (path == "/tmp/py\"\n $(id)").then_some((0xfe, 0, 1311));
        assert_eq!(stale_mappings(maps, stat), Vec::new());
        // A name with the four characters `\012` is what it says.
        let stat = |path: &str| (path == "/tmp/py\"\\012 $(id)").then_some((0xfe, 0, 1311));
        assert_eq!(stale_mappings(maps, stat), Vec::new());
        // And a file gone under either name is still deleted.
        let gone = stale_mappings(maps, |_| None);
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert_eq!((gone[0].path.as_str(), gone[0].reason), ("/tmp/py\"\n $(id)", "deleted"));
    }

    #[test]
    fn parses_maps_lines() {
        let mapping = parse_maps_line(
            "7f1c2b000000-7f1c2b010000 r-xp 00000000 fd:01 4096 /tmp/x/libhook.so (deleted)",
        )
        .unwrap();
        assert!(mapping.executable && mapping.deleted);
        assert_eq!((mapping.major, mapping.minor, mapping.inode), (0xfd, 1, 4096));
        assert_eq!(mapping.path, "/tmp/x/libhook.so");
    }

    #[test]
    fn finds_deleted_and_replaced_libraries() {
        // libssl now has another inode on disk: it was replaced by an update.
        let stale = stale_mappings(MAPS, |path| match path {
            "/usr/sbin/postgres" => Some((0xfd, 1, 1311)),
            "/usr/lib/x86_64-linux-gnu/libssl.so.3" => Some((0xfd, 1, 9999)),
            _ => None,
        });
        assert_eq!(
            stale,
            vec![
                StaleMapping { path: "/tmp/x/libhook.so".into(), reason: "deleted" },
                StaleMapping {
                    path: "/usr/lib/x86_64-linux-gnu/libssl.so.3".into(),
                    reason: "replaced"
                },
            ]
        );
    }

    #[test]
    fn own_process_is_current() {
        let check = check(&crate::inventory::system::Machine, std::process::id());
        assert_eq!(check.exe, Some(ExeState::Current));
        assert!(check.maps_readable);
    }

    #[test]
    fn an_upgraded_binary_and_library_are_seen_through_the_handle() {
        use crate::inventory::system::fake::Scripted;
        use crate::inventory::system::FileStatus;
        let device = rustix::fs::makedev(0xfd, 1);
        let file = |inode| FileStatus { device, inode, is_file: true, ..FileStatus::default() };
        let mut system = Scripted::default().file("/proc/42/maps", MAPS);
        system.links.insert("/proc/42/exe".into(), "/usr/sbin/postgres".into());
        // The running binary is inode 1311; the file on disk now is 9999.
        system.statuses.insert("/proc/42/exe".into(), file(1311));
        system.statuses.insert("/proc/42/root/usr/sbin/postgres".into(), file(9999));
        system
            .statuses
            .insert("/proc/42/root/usr/lib/x86_64-linux-gnu/libssl.so.3".into(), file(2048));
        let check = check(&system, 42);
        assert_eq!(check.exe, Some(ExeState::Replaced { path: "/usr/sbin/postgres".into() }));
        assert!(check.maps_readable);
        // libssl is unchanged; the deleted hook library is stale; the binary
        // is reported as the binary, not as a library.
        let stale: Vec<&str> = check.libraries.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(stale, vec!["/tmp/x/libhook.so"]);

        // Upgraded by rename (dpkg): the kernel says ` (deleted)`, but a new
        // file is at the path: replaced. Removed outright: deleted.
        let mut upgraded = Scripted::default().file("/proc/44/maps", MAPS);
        upgraded.links.insert("/proc/44/exe".into(), "/usr/sbin/postgres (deleted)".into());
        upgraded.statuses.insert("/proc/44/root/usr/sbin/postgres".into(), file(9999));
        upgraded.statuses.insert("/proc/44/root/tmp/x/libhook.so".into(), file(5000));
        let check = super::check(&upgraded, 44);
        assert_eq!(check.exe, Some(ExeState::Replaced { path: "/usr/sbin/postgres".into() }));
        assert!(check
            .libraries
            .contains(&StaleMapping { path: "/tmp/x/libhook.so".into(), reason: "replaced" }));
        let mut removed = Scripted::default();
        removed.links.insert("/proc/45/exe".into(), "/usr/sbin/postgres (deleted)".into());
        assert_eq!(
            super::check(&removed, 45).exe,
            Some(ExeState::Deleted { path: "/usr/sbin/postgres".into() })
        );

        // Another user's process without root: nothing readable.
        let hidden = super::check(&Scripted::default(), 43);
        assert_eq!(hidden.exe, None);
        assert!(!hidden.maps_readable);
    }
}
