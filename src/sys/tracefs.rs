//! Mounting tracefs, which classic tracepoint programs need to look up a
//! tracepoint's id (`events/syscalls/sys_exit_accept4/id`).
//!
//! # Platform specific behavior
//! Many hosts leave tracefs unmounted; the monitor mounts it at its
//! standard place when it is root, as `perf` and `bpftrace` do.
//! See: <https://docs.kernel.org/trace/ftrace.html>

use std::ffi::CString;
use std::path::Path;

/// The standard mount point.
pub const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Whether tracefs is mounted at [`MOUNT_POINT`] (or reachable through the
/// debugfs path): the directory has entries.
pub fn is_mounted() -> bool {
    [MOUNT_POINT, "/sys/kernel/debug/tracing"].iter().any(|path| {
        std::fs::read_dir(Path::new(path)).is_ok_and(|mut entries| entries.next().is_some())
    })
}

/// Mounts tracefs at [`MOUNT_POINT`] unless it is already there.
pub fn ensure_mounted() -> std::io::Result<()> {
    if is_mounted() {
        return Ok(());
    }
    let source = CString::new("tracefs").expect("no NUL in a literal");
    let target = CString::new(MOUNT_POINT).expect("no NUL in a literal");
    // SAFETY: all three strings are NUL-terminated and outlive the call; a
    // null `data` pointer means "no options", which mount(2) accepts.
    let result = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            source.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
