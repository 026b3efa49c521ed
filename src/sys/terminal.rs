//! The terminal that the live view of `porthole top` takes over: whether
//! this process may take it at all.

use std::os::fd::AsFd;

/// Whether this process's group is the foreground process group of
/// `terminal`, the only group the kernel lets change the terminal's modes
/// and read its keys. `None` when it cannot be told (`terminal` is not this
/// process's controlling terminal).
///
/// # Platform specific behavior
/// A process of a background group that changes the terminal's modes
/// (`tcsetattr`, as raw mode does) is stopped with SIGTTOU, and the call is
/// restarted when it is continued, which stops it again: no signal handler
/// of its own ever runs. `timeout` without `--foreground` starts its command
/// in such a group, so its SIGTERM (with a SIGCONT) never ends it.
/// See: <https://man7.org/linux/man-pages/man3/tcgetpgrp.3.html>
pub fn in_foreground(terminal: impl AsFd) -> Option<bool> {
    let foreground = rustix::termios::tcgetpgrp(terminal).ok()?;
    Some(foreground == rustix::process::getpgrp())
}
