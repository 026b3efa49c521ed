//! The file this porthole runs from: the one place that reads
//! `/proc/self/exe`, for the commands porthole prints (`sudo porthole kill
//! …`, `porthole check …` in a fix) and for the helper processes it starts
//! (`free --hold`'s holder). A printed command names porthole by the word
//! [`program_word`] decides: `porthole` where the runner's `PATH` finds
//! this file, its path where it does not (a build run as
//! `./target/release/porthole`, a copy in `~/Downloads`).
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

/// Directories in root's `PATH` under `sudo` (Debian's `secure_path`) and
/// `su`: where a command printed to run as root finds `porthole` by name.
pub const ROOT_PATH: &[&str] =
    &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The name a command printed to the user calls porthole by when the
/// `PATH` of whoever runs it finds this build under that name.
pub const NAME: &str = "porthole";

/// Whose `PATH` a printed command that runs porthole is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The user, in the shell that started this porthole: this process's
    /// own `PATH`.
    User,
    /// Root, through `sudo` or `su -c`: [`ROOT_PATH`].
    Root,
}

/// What the first `porthole` a `PATH` search finds is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPath {
    /// The file the printed path would run: the running file itself, or
    /// the file an upgrade put at its path.
    Same,
    /// Another file (another build, an older install).
    Other,
    /// No executable `porthole` in any of the directories.
    Nothing,
}

/// How a command printed to run porthole again names it, so that it runs
/// this build (or the one that replaced it at its path): `porthole` when
/// the runner's `PATH` finds that file by name, else its path as one shell
/// word. When the file was deleted since the start, its path runs nothing:
/// a `porthole` on the `PATH` runs the command instead, and without one the
/// path it started from says at least which file to put back.
pub fn program_word(executable: &Executable, on_path: OnPath) -> String {
    use std::os::unix::ffi::OsStrExt;
    let path_word = |path: &Path| crate::shell::printable_word_bytes(path.as_os_str().as_bytes());
    match (executable.runnable(), executable.started_from(), on_path) {
        (Some(_), _, OnPath::Same) => NAME.to_string(),
        (Some(path), _, OnPath::Other | OnPath::Nothing) => path_word(path),
        (None, _, OnPath::Same | OnPath::Other) => NAME.to_string(),
        (None, Some(path), OnPath::Nothing) => path_word(path),
        // Nothing says where porthole is: the name is the best guess.
        (None, None, OnPath::Nothing) => NAME.to_string(),
    }
}

/// [`program_word`] for this process and `runner`.
pub fn program_for(runner: Runner) -> String {
    let executable = current();
    let directories = match runner {
        Runner::User => std::env::var_os("PATH").map(|path| search_path(&path)).unwrap_or_default(),
        Runner::Root => ROOT_PATH.iter().map(PathBuf::from).collect(),
    };
    let on_path = find_on(&directories, NAME, executable.runnable());
    program_word(&executable, on_path)
}

/// The directories of a `PATH` value, in order, as a shell searches them:
/// an empty entry (a leading, trailing or doubled `:`) is the current
/// directory.
pub fn search_path(path: &std::ffi::OsStr) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    path.as_bytes()
        .split(|&byte| byte == b':')
        .map(|entry| match entry {
            b"" => PathBuf::from("."),
            entry => PathBuf::from(std::ffi::OsStr::from_bytes(entry)),
        })
        .collect()
}

/// Searches `directories` in order for an executable `name`, as a shell
/// does, and tells whether the first one found is the file at `runs` (the
/// same device and inode: another path to the same file, a hard or
/// symbolic link, counts as the same).
///
/// # Platform specific behavior
/// A file counts as executable when any execute bit is set, which is what
/// the search of root (who may execute any file with one) sees; a shell of
/// another user skips a file only it may not execute, a rare setup.
pub fn find_on(directories: &[PathBuf], name: &str, runs: Option<&Path>) -> OnPath {
    let identity = |metadata: &std::fs::Metadata| (metadata.dev(), metadata.ino());
    let wanted = runs.and_then(|path| std::fs::metadata(path).ok()).map(|m| identity(&m));
    let found = directories.iter().find_map(|directory| {
        let metadata = std::fs::metadata(directory.join(name)).ok()?;
        (metadata.is_file() && metadata.mode() & 0o111 != 0).then(|| identity(&metadata))
    });
    match found {
        None => OnPath::Nothing,
        Some(found) if Some(found) == wanted => OnPath::Same,
        Some(_) => OnPath::Other,
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
    fn a_printed_command_names_porthole_only_where_the_path_finds_this_file() {
        let at = |path: &str| PathBuf::from(path);
        let present = Executable::Present(at("/home/u/target/release/porthole"));
        // Run by its path from a directory not on PATH: the path, so the
        // line runs this build and not another one the PATH finds.
        assert_eq!(program_word(&present, OnPath::Same), "porthole");
        assert_eq!(program_word(&present, OnPath::Other), "/home/u/target/release/porthole");
        assert_eq!(program_word(&present, OnPath::Nothing), "/home/u/target/release/porthole");
        let spaced = Executable::Present(at("/home/u/My Downloads/porthole"));
        assert_eq!(program_word(&spaced, OnPath::Nothing), "'/home/u/My Downloads/porthole'");
        let escape = Executable::Present(at("/tmp/\x1b[31m/porthole"));
        assert_eq!(
            program_word(&escape, OnPath::Nothing),
            r#""$(printf '/tmp/\033[31m/porthole')""#
        );
        // An upgrade at the path: the path and the PATH run the same file.
        let replaced = Executable::Replaced(at("/usr/local/bin/porthole"));
        assert_eq!(program_word(&replaced, OnPath::Same), "porthole");
        assert_eq!(program_word(&replaced, OnPath::Other), "/usr/local/bin/porthole");
        // A deleted file runs nothing: any porthole the PATH has, else the
        // path to put a build back at.
        let deleted = Executable::Deleted(at("/tmp/copy/porthole"));
        assert_eq!(program_word(&deleted, OnPath::Other), "porthole");
        assert_eq!(program_word(&deleted, OnPath::Nothing), "/tmp/copy/porthole");
        assert_eq!(program_word(&Executable::Unreadable, OnPath::Nothing), "porthole");
    }

    #[test]
    fn the_path_search_takes_the_first_executable_file_as_a_shell_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let directory = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir(&path).expect("directory");
            path
        };
        let (build, old, plain, empty) =
            (directory("build"), directory("old"), directory("plain"), directory("empty"));
        let executable = |path: &Path, mode: u32| {
            std::fs::write(path, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        let this = build.join("porthole");
        executable(&this, 0o755);
        executable(&old.join("porthole"), 0o755);
        // Not executable: a shell passes it by.
        executable(&plain.join("porthole"), 0o644);
        let path = |dirs: &[&Path]| {
            let joined: Vec<&str> = dirs.iter().map(|d| d.to_str().expect("utf-8")).collect();
            search_path(std::ffi::OsStr::new(&joined.join(":")))
        };
        let runs = Some(this.as_path());
        assert_eq!(find_on(&path(&[&empty, &plain, &build, &old]), NAME, runs), OnPath::Same);
        assert_eq!(find_on(&path(&[&old, &build]), NAME, runs), OnPath::Other);
        assert_eq!(find_on(&path(&[&empty, &plain]), NAME, runs), OnPath::Nothing);
        assert_eq!(find_on(&path(&[&old]), NAME, None), OnPath::Other);
        // A symbolic link on the PATH to the running file is that file.
        let linked = directory("linked");
        std::os::unix::fs::symlink(&this, linked.join("porthole")).expect("symlink");
        assert_eq!(find_on(&path(&[&linked, &old]), NAME, runs), OnPath::Same);
        // Empty entries are the current directory.
        let entries = search_path(std::ffi::OsStr::new(":/usr/bin::/bin:"));
        let expected: Vec<PathBuf> = [".", "/usr/bin", ".", "/bin", "."].map(PathBuf::from).into();
        assert_eq!(entries, expected);
        assert_eq!(search_path(std::ffi::OsStr::new("")), [PathBuf::from(".")]);
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
