//! The mount table as `/proc/PID/mountinfo` lists it: one parser for every
//! reader (where the cgroup hierarchies are mounted, which `hidepid=` the
//! procfs on `/proc` has), so the field layout and the octal escapes of
//! paths are handled once.
//!
//! A line is `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS…] - FSTYPE
//! SOURCE SUPER_OPTIONS`; ROOT and MOUNTPOINT escape space, tab, newline and
//! backslash as `\ooo`. See `proc_pid_mountinfo(5)`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem that is mounted (`/` for all of it;
    /// a container's cgroup2 mount has its own cgroup here).
    pub root: PathBuf,
    /// Where it is mounted.
    pub point: PathBuf,
    /// `cgroup2`, `cgroup`, `proc`, …
    pub filesystem: String,
    /// The filesystem's own options (`rw,freezer`, `rw,hidepid=2`).
    pub super_options: String,
}

impl Mount {
    /// Whether the super options hold `option` exactly (`freezer`).
    pub fn has_option(&self, option: &str) -> bool {
        self.super_options.split(',').any(|held| held == option)
    }

    /// Where `path`, a path inside the mounted filesystem as `/proc/PID/cgroup`
    /// names it (`/docker/abc/worker`), is reached through this mount: the
    /// mount's root is taken off (`/sys/fs/cgroup/worker` for a mount of
    /// `/docker/abc`). A path outside the root is joined whole.
    pub fn reach(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        let below = path.strip_prefix(&self.root).unwrap_or(path);
        let below = below.strip_prefix("/").unwrap_or(below);
        if below.as_os_str().is_empty() {
            self.point.clone()
        } else {
            self.point.join(below)
        }
    }
}

/// The mounts of a mountinfo text, in its order; malformed lines are
/// skipped.
pub fn mounts(mountinfo: &str) -> impl Iterator<Item = Mount> + '_ {
    mountinfo.lines().filter_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mut fields = before.split(' ');
        let root = fields.nth(3)?;
        let point = fields.next()?;
        let mut after = after.split(' ');
        let filesystem = after.next()?.to_string();
        let super_options = after.nth(1).unwrap_or_default().to_string();
        Some(Mount { root: unescape(root), point: unescape(point), filesystem, super_options })
    })
}

/// The first cgroup2 mount: `/sys/fs/cgroup` on a unified machine,
/// `/sys/fs/cgroup/unified` on a hybrid one.
pub fn cgroup2(mountinfo: &str) -> Option<Mount> {
    mounts(mountinfo).find(|mount| mount.filesystem == "cgroup2")
}

/// Undoes mountinfo's octal escapes (`\040` for a space), keeping bytes
/// that are not UTF-8 as they are.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes.get(index + 1..index + 4).and_then(|digits| {
            std::str::from_utf8(digits).ok().and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[index], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                index += 4;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_past_optional_tags_and_unescaped() {
        let line = "31 30 0:27 / /mnt/my\\040cgroups rw,relatime shared:9 master:2 - cgroup2 none rw,nsdelegate\n";
        let mount = mounts(line).next().unwrap();
        assert_eq!(mount.point, Path::new("/mnt/my cgroups"));
        assert_eq!(mount.root, Path::new("/"));
        assert_eq!(mount.filesystem, "cgroup2");
        assert!(mount.has_option("nsdelegate"));
        assert!(!mount.has_option("nsdeleg"));
        assert_eq!(mounts("garbage\n\n").count(), 0);
    }

    #[test]
    fn a_subtree_mount_reaches_paths_below_its_root() {
        let mount =
            cgroup2("50 40 0:30 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup rw\n").unwrap();
        assert_eq!(mount.reach("/docker/abc/worker"), Path::new("/sys/fs/cgroup/worker"));
        assert_eq!(mount.reach("/docker/abc"), Path::new("/sys/fs/cgroup"));
        let whole = cgroup2("35 24 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").unwrap();
        assert_eq!(
            whole.reach("/system.slice/a.service"),
            Path::new("/sys/fs/cgroup/system.slice/a.service")
        );
        assert_eq!(whole.reach("/"), Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn the_cgroup2_mount_is_found_on_unified_and_hybrid_machines() {
        let hybrid = "30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n\
                      31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                      32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(cgroup2(hybrid).unwrap().point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(cgroup2("31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw\n"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        use std::os::unix::ffi::OsStrExt;
        let mount = mounts("1 2 0:1 / /mnt/\\377x rw - tmpfs t rw\n").next().unwrap();
        assert_eq!(mount.point.as_os_str().as_bytes(), b"/mnt/\xffx");
    }
}
