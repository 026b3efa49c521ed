//! The file this porthole runs from: the one place that reads
//! `/proc/self/exe`, for the commands porthole prints (`sudo porthole kill
//! …`) and for the helper processes it starts (`free --hold`'s holder).
//!
//! # Platform specific behavior
//! `/proc/self/exe` is a link to the file the kernel executed, which stays
//! open for the life of the process. When that file is deleted after the
//! start (an upgrade, `cargo build` replacing `target/debug/porthole`, a
//! temporary copy removed), the link reads as `PATH (deleted)`, a name that
//! no command can run; when another file was renamed over the path, the
//! link still reads as `PATH` but the path now runs that other build. Both
//! are told apart here by comparing the path's device and inode with the
//! running image's.
//! See: <https://man7.org/linux/man-pages/man5/proc_pid_exe.5.html>

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The link to the running image, which `execve` accepts even after the
/// file was deleted or replaced: the kernel opens the image itself.
const SELF_EXE: &str = "/proc/self/exe";

/// What became of the file porthole was started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executable {
    /// The path still holds the running file.
    Present(PathBuf),
    /// Another file was put at the path after the start (an upgrade): the
    /// path runs that file, not this build.
    Replaced(PathBuf),
    /// The file was deleted after the start: nothing runs at the path.
    Deleted(PathBuf),
    /// `/proc/self/exe` cannot be read (no `/proc` mounted, or a process
    /// that may not read its own link): the path is unknown.
    Unreadable,
}

impl Executable {
    /// A path that runs a porthole now (this build or the one that
    /// replaced it), for a command printed to the user; `None` when the
    /// file is gone or unknown.
    pub fn runnable(&self) -> Option<&Path> {
        match self {
            Executable::Present(path) | Executable::Replaced(path) => Some(path),
            Executable::Deleted(_) | Executable::Unreadable => None,
        }
    }

    /// The path porthole was started from, whatever became of it since.
    pub fn started_from(&self) -> Option<&Path> {
        match self {
            Executable::Present(path) | Executable::Replaced(path) | Executable::Deleted(path) => {
                Some(path)
            }
            Executable::Unreadable => None,
        }
    }

    /// What to execute to start this very build again, for a helper that
    /// speaks this build's hidden subcommands: its path while it holds the
    /// running file (so the helper's process name is the file's name),
    /// else `/proc/self/exe`, which reaches the running image even after
    /// the file was deleted or replaced. Where `/proc/self/exe` cannot be
    /// read, executing it fails too, and the caller reports that error.
    pub fn for_exec(&self) -> PathBuf {
        match self {
            Executable::Present(path) => path.clone(),
            _ => PathBuf::from(SELF_EXE),
        }
    }
}

/// The file this process runs from, and whether it is still there.
pub fn current() -> Executable {
    at(Path::new(SELF_EXE))
}

/// [`current`] for the `/proc/PID/exe` link at `link` (split out so tests
/// can look at a child whose file they deleted).
fn at(link: &Path) -> Executable {
    let Ok(target) = std::fs::read_link(link) else { return Executable::Unreadable };
    // The link's own metadata is the running image's (stat follows the
    // link to the open file, deleted or not).
    let Ok(running) = std::fs::metadata(link) else { return Executable::Unreadable };
    let same = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.dev() == running.dev() && m.ino() == running.ino())
    };
    if same(&target) {
        return Executable::Present(target);
    }
    // The kernel appends " (deleted)" to the name of an unlinked file; a
    // file really named so would have matched above.
    use std::os::unix::ffi::OsStrExt;
    let bytes = target.as_os_str().as_bytes();
    if let Some(original) = bytes.strip_suffix(b" (deleted)") {
        let original = PathBuf::from(std::ffi::OsStr::from_bytes(original));
        return if original.exists() {
            Executable::Replaced(original)
        } else {
            Executable::Deleted(original)
        };
    }
    // Not the same file, and not called deleted: the path was replaced by
    // a rename while the old file lives on under another link.
    if target.exists() {
        Executable::Replaced(target)
    } else {
        Executable::Deleted(target)
    }
}

/// Names this process `name` in `/proc/PID/comm` (what `ps` and porthole's
/// own listings show): a helper started through `/proc/self/exe` would
/// otherwise be called `exe`.
pub fn name_this_process(name: &str) -> std::io::Result<()> {
    let name = std::ffi::CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    rustix::thread::set_name(&name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of `sleep` in a directory of its own, started.
    fn running_copy(dir: &Path) -> (std::process::Child, PathBuf) {
        let copy = dir.join("sleeper");
        std::fs::copy("/bin/sleep", &copy).expect("copy sleep");
        // Another test's fork may hold the copy open for writing for a
        // moment (ETXTBSY): try again.
        for _ in 0..100 {
            match std::process::Command::new(&copy).arg("30").spawn() {
                Ok(child) => return (child, copy),
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(error) => panic!("start the copy: {error}"),
            }
        }
        panic!("the copy stayed busy");
    }

    fn link_of(child: &std::process::Child) -> PathBuf {
        PathBuf::from(format!("/proc/{}/exe", child.id()))
    }

    #[test]
    fn a_deleted_or_replaced_file_is_told_from_a_present_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, copy) = running_copy(dir.path());
        assert_eq!(at(&link_of(&child)), Executable::Present(copy.clone()));
        assert_eq!(at(&link_of(&child)).for_exec(), copy);

        std::fs::remove_file(&copy).expect("delete the copy");
        let deleted = at(&link_of(&child));
        assert_eq!(deleted, Executable::Deleted(copy.clone()));
        assert_eq!(deleted.runnable(), None);
        assert_eq!(deleted.started_from(), Some(copy.as_path()));
        assert_eq!(deleted.for_exec(), PathBuf::from(SELF_EXE));

        // An upgrade: a new file at the same path.
        std::fs::write(&copy, "#!/bin/sh\n").expect("write the new file");
        let replaced = at(&link_of(&child));
        assert_eq!(replaced, Executable::Replaced(copy.clone()));
        assert_eq!(replaced.runnable(), Some(copy.as_path()));
        assert_eq!(replaced.for_exec(), PathBuf::from(SELF_EXE));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(at(Path::new("/proc/0/exe")), Executable::Unreadable);
    }

    #[test]
    fn a_file_renamed_over_the_path_is_a_replacement() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, copy) = running_copy(dir.path());
        // The old file stays linked elsewhere, so the kernel does not call
        // it deleted.
        std::fs::hard_link(&copy, dir.path().join("old")).expect("link");
        let new = dir.path().join("new");
        std::fs::write(&new, "#!/bin/sh\n").expect("write");
        std::fs::rename(&new, &copy).expect("rename over");
        assert_eq!(at(&link_of(&child)), Executable::Replaced(copy));
        let _ = child.kill();
        let _ = child.wait();
    }
}
