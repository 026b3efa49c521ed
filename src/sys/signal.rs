//! Sending signals: the only place in porthole that can stop a process.
//! `porthole kill` resolves which pids to stop; this module just delivers.

pub use crate::model::termination::Signal;

/// Why a signal could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// The process exited (or never existed).
    #[error("no such process")]
    NoSuchProcess,
    /// The caller may not signal it: another user's process without root.
    #[error("operation not permitted")]
    NotPermitted,
    #[error("kill failed with errno {errno}")]
    Other { errno: i32 },
}

/// Sends `signal` to `pid` (a process, never a group: pids here are always
/// positive, so `kill(2)`'s group and broadcast forms cannot be reached).
pub fn send(pid: u32, signal: Signal) -> Result<(), SignalError> {
    raw_kill(pid, signal.number)
}

/// Sends `signal` to `pid` only while `pid` is still the process
/// `is_same` recognises (by its start time): a target that exited between
/// the listing and the signal may have had its pid reused, and the new
/// process must never receive the signal.
///
/// The process is pinned first with a pidfd, then `is_same` looks at
/// `/proc/PID`, then the signal goes through the pidfd: whatever happens to
/// the pid after the pin, the signal reaches the process that was checked
/// or none. `is_same` answering false is [`SignalError::NoSuchProcess`]
/// (the target is gone).
///
/// # Platform specific behavior
/// Before Linux 5.3 (no `pidfd_open`), the check and a plain `kill(2)`
/// follow each other, which leaves a window of microseconds.
/// See: <https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html>
pub fn send_if(
    pid: u32,
    signal: Signal,
    is_same: impl FnOnce() -> bool,
) -> Result<(), SignalError> {
    let Ok(raw) = libc::pid_t::try_from(pid) else { return Err(SignalError::NoSuchProcess) };
    let Some(process) = rustix::process::Pid::from_raw(raw).filter(|_| raw > 0) else {
        return Err(SignalError::NoSuchProcess);
    };
    match rustix::process::pidfd_open(process, rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => {
            if !is_same() {
                return Err(SignalError::NoSuchProcess);
            }
            let fd = std::os::fd::AsRawFd::as_raw_fd(&pidfd);
            // SAFETY: pidfd_send_signal(2) takes a descriptor we own (open
            // for the whole call), a signal number, a null siginfo (the
            // kernel fills in one as kill(2) would) and no flags.
            let result = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd,
                    signal.number,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            kill_outcome(if result == 0 { 0 } else { -1 })
        }
        Err(rustix::io::Errno::SRCH) => Err(SignalError::NoSuchProcess),
        Err(rustix::io::Errno::NOSYS) => {
            if !is_same() {
                return Err(SignalError::NoSuchProcess);
            }
            send(pid, signal)
        }
        Err(errno) => Err(SignalError::Other { errno: errno.raw_os_error() }),
    }
}

/// Sends SIGKILL to the process group led by `leader`, a child this process
/// started in a group of its own (`CommandExt::process_group(0)`) and has
/// not yet waited for: until it is reaped its pid, and so the group id,
/// cannot be reused, so the signal reaches only that child and whatever it
/// started. A shell's children outlive a kill of the shell alone.
pub fn kill_group(leader: u32) -> Result<(), SignalError> {
    let Ok(pid) = libc::pid_t::try_from(leader) else { return Err(SignalError::NoSuchProcess) };
    // 1 is init's group, never one of ours; 0 and below are other forms.
    if pid <= 1 {
        return Err(SignalError::NoSuchProcess);
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // negative pid addresses the process group -pid, checked above to be a
    // real group id.
    let result = unsafe { libc::kill(-pid, libc::SIGKILL) };
    kill_outcome(result)
}

/// Whether `pid` exists (it may be a zombie). Signal 0 checks permission
/// and existence without delivering anything; `EPERM` means it exists.
pub fn exists(pid: u32) -> bool {
    !matches!(raw_kill(pid, 0), Err(SignalError::NoSuchProcess))
}

fn raw_kill(pid: u32, number: i32) -> Result<(), SignalError> {
    // A pid above i32::MAX would turn negative and address a process group.
    let Ok(pid) = libc::pid_t::try_from(pid) else { return Err(SignalError::NoSuchProcess) };
    if pid <= 0 {
        return Err(SignalError::NoSuchProcess);
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; a
    // positive pid addresses exactly one process.
    let result = unsafe { libc::kill(pid, number) };
    kill_outcome(result)
}

/// What kill(2)'s return value and `errno` (read at once, before any other
/// call can change it) mean.
fn kill_outcome(result: libc::c_int) -> Result<(), SignalError> {
    if result == 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => Err(SignalError::NoSuchProcess),
        Some(libc::EPERM) => Err(SignalError::NotPermitted),
        errno => Err(SignalError::Other { errno: errno.unwrap_or(0) }),
    }
}

/// Makes `command`'s child start with every signal at its default action
/// and none blocked, whatever this process inherited.
///
/// Test support first: a test suite started as a background job (`cmd &`
/// in a non-interactive shell, `nohup`, some CI runners) inherits SIGINT
/// and SIGQUIT (SIGHUP under nohup) as *ignored*, and `exec` keeps ignored
/// signals ignored, so a server the tests start would never see the Ctrl-C
/// or hang-up they send it.
///
/// # Platform specific behavior
/// Only dispositions set to "ignore" survive `exec`; handlers are reset by
/// the kernel anyway. Signals 1–31 except SIGKILL and SIGSTOP (which cannot
/// be changed) are reset; real-time signals are left alone.
pub fn start_with_default_signals(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe functions may be called: signal(2) and
    // sigprocmask(2) are; it allocates nothing and touches no lock. The
    // sigset is a local value initialised by sigemptyset before use.
    unsafe {
        command.pre_exec(|| {
            for number in 1..32 {
                if number != libc::SIGKILL && number != libc::SIGSTOP {
                    libc::signal(number, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Set by the handler [`catch_termination`] installs.
static TERMINATION_REQUESTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_termination(_signal: libc::c_int) {
    // Only an atomic store: the one kind of work that is safe in a handler.
    TERMINATION_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGTERM, SIGHUP, SIGINT and SIGQUIT — and SIGUSR1, SIGUSR2 and
/// SIGALRM, whose default also ends the process — set a flag instead of
/// ending it, so a full-screen view can restore the terminal before it
/// exits (`porthole top`). Poll [`termination_requested`]. SIGQUIT's
/// default (a core dump) would leave the terminal raw on the alternate
/// screen; in raw mode no key sends it, so it comes from `kill -QUIT`, a
/// request to quit like the others (htop treats it so too). The view has
/// no use of its own for the user signals, so a stray `kill -USR1` ends it
/// as cleanly.
pub fn catch_termination() -> std::io::Result<()> {
    for signal in [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
    ] {
        // The handler only stores to an atomic (async-signal-safe).
        install(signal, note_termination)?;
    }
    Ok(())
}

/// Makes `signal` run `handler` (with `SA_RESTART`). Every caller's handler
/// must be async-signal-safe.
fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) -> std::io::Result<()> {
    // SAFETY: sigaction is given a zeroed, fully initialised struct whose
    // handler is async-signal-safe (this function's contract); no memory of
    // ours is retained by the kernel beyond the call.
    let result = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut())
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The write end of the pipe [`terminal_signals`] returns, or -1.
static TERMINAL_SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The byte [`terminal_signals`]' pipe carries for a change of the window's
/// size (SIGWINCH).
pub const WINDOW_CHANGED: u8 = b'w';
/// The byte [`terminal_signals`]' pipe carries for a request to stop
/// (SIGTSTP: `kill -TSTP`, or job control).
pub const STOP_REQUESTED: u8 = b'z';

extern "C" fn note_terminal_signal(signal: libc::c_int) {
    let fd = TERMINAL_SIGNAL_PIPE.load(std::sync::atomic::Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let byte: &'static [u8; 1] = if signal == libc::SIGTSTP { b"z" } else { b"w" };
    // SAFETY: write(2) and the errno location are async-signal-safe; the
    // byte is a static, and errno is put back for the code interrupted. A
    // full pipe (EAGAIN: the descriptor is non-blocking) already holds
    // bytes to read, so the result does not matter.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, byte.as_ptr().cast(), 1);
        *errno = saved;
    }
}

/// Makes `signal` run [`note_terminal_signal`].
fn note_on(signal: libc::c_int) -> std::io::Result<()> {
    // The handler only reads an atomic and writes a byte to a pipe, both
    // async-signal-safe.
    install(signal, note_terminal_signal)
}

/// A descriptor that becomes readable when the terminal's window changes
/// size (SIGWINCH, a [`WINDOW_CHANGED`] byte) or when porthole is asked to
/// stop (SIGTSTP, a [`STOP_REQUESTED`] byte, so a full-screen view can put
/// the terminal back first and then stop with [`stop_now`]): each signal
/// writes its byte to a non-blocking pipe whose read end this returns.
/// Poll it beside the terminal: a readiness that is level-triggered, unlike
/// a flag, wakes the waiter, and unlike an edge-triggered one is never lost
/// when input arrives at the same moment. Read it empty after each
/// wake-up. Call it once per process.
pub fn terminal_signals() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut ends = [0 as libc::c_int; 2];
    // SAFETY: `ends` is a writable array of two ints, which pipe2 fills
    // with two new descriptors on success.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and are owned by
    // nothing else. The write end is kept open for the life of the process:
    // the handler may write to it at any time.
    let read_end = unsafe { std::os::fd::OwnedFd::from_raw_fd(ends[0]) };
    TERMINAL_SIGNAL_PIPE.store(ends[1], std::sync::atomic::Ordering::SeqCst);
    note_on(libc::SIGWINCH)?;
    note_on(libc::SIGTSTP)?;
    Ok(read_end)
}

/// Stops this process as SIGTSTP would have without the handler
/// [`terminal_signals`] installs (the shell sees a stopped job), and
/// returns once it is continued (SIGCONT, `fg`), with the handler back.
///
/// # Platform specific behavior
/// The kernel discards a stop signal sent to an orphaned process group
/// (one whose parent is in no other group of the session, such as a
/// program `exec`ed by the shell of a terminal window): there this
/// returns at once.
/// See: <https://man7.org/linux/man-pages/man7/signal.7.html>
pub fn stop_now() -> std::io::Result<()> {
    // SAFETY: signal(2) resets the disposition to the default; raise(3)
    // sends a signal to this thread, whose default action stops the whole
    // process until SIGCONT.
    unsafe {
        libc::signal(libc::SIGTSTP, libc::SIG_DFL);
        libc::raise(libc::SIGTSTP);
    }
    note_on(libc::SIGTSTP)
}

/// Stops this process as the kernel stops a background process that
/// touches the terminal's modes (SIGTTOU, default action), until it is
/// continued; the same orphaned-group exception as [`stop_now`] applies.
pub fn stop_for_terminal() {
    // SAFETY: raise(3) with a signal whose disposition porthole never
    // changes: its default action stops the process until SIGCONT.
    unsafe {
        libc::raise(libc::SIGTTOU);
    }
}

/// Whether SIGTERM, SIGHUP or SIGINT arrived since [`catch_termination`].
pub fn termination_requested() -> bool {
    TERMINATION_REQUESTED.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        assert_eq!(Signal::parse("TERM"), Some(Signal::TERM));
        assert_eq!(Signal::parse("sigkill"), Some(Signal::KILL));
        assert_eq!(Signal::parse("usr1").map(Signal::name).as_deref(), Some("USR1"));
        assert_eq!(Signal::parse("9"), Some(Signal::KILL));
        assert_eq!(Signal::parse("34").map(Signal::name).as_deref(), Some("RTMIN"));
        assert_eq!(Signal::parse("0"), None);
        assert_eq!(Signal::parse("65"), None);
        assert_eq!(Signal::parse("-1"), None);
        // Digits only, as every number porthole takes.
        assert_eq!(Signal::parse("+9"), None);
        assert_eq!(Signal::parse("0x9"), None);
        assert_eq!(Signal::parse(" 9 "), Some(Signal::KILL));
        assert_eq!(Signal::parse("NOPE"), None);
    }

    #[test]
    fn parses_what_kill_s_takes_for_real_time_signals_and_aliases() {
        // As bash's and procps' `kill -s` take them (glibc: 34..=64).
        let number = |text: &str| Signal::parse(text).map(|s| s.number);
        assert_eq!(number("RTMIN"), Some(34));
        assert_eq!(number("RTMIN+1"), Some(35));
        assert_eq!(number("SIGRTMIN+1"), Some(35));
        assert_eq!(number("rtmin+1"), Some(35));
        assert_eq!(number("sigRtMax-2"), Some(62));
        assert_eq!(number("RTMAX"), Some(64));
        assert_eq!(number("RTMIN+30"), Some(64));
        assert_eq!(number("RTMAX-30"), Some(34));
        assert_eq!(number("32"), Some(32), "kill takes glibc's reserved numbers too");
        assert_eq!(number("64"), Some(64));
        assert_eq!(number("STKFLT"), Some(libc::SIGSTKFLT));
        assert_eq!(number("IOT"), Some(libc::SIGABRT));
        assert_eq!(number("CLD"), Some(libc::SIGCHLD));
        assert_eq!(number("POLL"), Some(libc::SIGIO));
        for refused in
            ["RTMIN+31", "RTMAX-31", "RTMAX+1", "RTMIN-1", "RTMIN+", "RTMIN+x", "RTMIN+ 1", "RT"]
        {
            assert_eq!(number(refused), None, "{refused}");
        }
        // Shown as `kill -l` shows them, and read back the same.
        for (n, name) in [(34, "RTMIN"), (35, "RTMIN+1"), (49, "RTMIN+15"), (50, "RTMAX-14")] {
            assert_eq!(Signal { number: n }.name(), name);
            assert_eq!(number(name), Some(n));
        }
        assert_eq!(Signal { number: 62 }.to_string(), "SIGRTMAX-2");
        assert_eq!(Signal { number: 64 }.name(), "RTMAX");
        assert_eq!(Signal { number: 32 }.name(), "32");
        assert_eq!(Signal { number: libc::SIGABRT }.name(), "ABRT");
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
    }

    #[test]
    fn a_window_change_makes_the_pipe_readable_until_read() {
        use std::io::Read;
        let mut changes = std::fs::File::from(terminal_signals().expect("pipe and handler"));
        let fd = std::os::fd::AsRawFd::as_raw_fd(&changes);
        assert_eq!(crate::sys::poll::readable(&[fd], Duration::ZERO).unwrap(), [false]);
        for _ in 0..2 {
            // SAFETY: raise(3) sends a signal whose handler was just set.
            assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        }
        // Still readable at the second look: nothing is lost to a wake-up.
        for _ in 0..2 {
            assert_eq!(crate::sys::poll::readable(&[fd], Duration::ZERO).unwrap(), [true]);
        }
        let mut bytes = [0u8; 16];
        assert_eq!(changes.read(&mut bytes).unwrap(), 2);
        assert_eq!(&bytes[..2], [WINDOW_CHANGED; 2]);
        assert_eq!(crate::sys::poll::readable(&[fd], Duration::ZERO).unwrap(), [false]);
        // A stop request is told apart and does not stop the process.
        // SAFETY: as above.
        assert_eq!(unsafe { libc::raise(libc::SIGTSTP) }, 0);
        assert_eq!(changes.read(&mut bytes).unwrap(), 1);
        assert_eq!(bytes[0], STOP_REQUESTED);
    }

    #[test]
    fn a_process_that_is_no_longer_the_target_gets_no_signal() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let pid = child.id();
        // The check says the pid now belongs to someone else: nothing sent.
        assert_eq!(send_if(pid, Signal::KILL, || false), Err(SignalError::NoSuchProcess));
        assert_eq!(child.try_wait().expect("waitable"), None, "still running");
        assert_eq!(send_if(pid, Signal::KILL, || true), Ok(()));
        let status = child.wait().expect("waitable");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
        assert_eq!(send_if(0, Signal::KILL, || true), Err(SignalError::NoSuchProcess));
    }

    #[test]
    fn probes_existence() {
        assert!(exists(std::process::id()));
        assert!(!exists(0));
        assert!(!exists(u32::MAX));
    }
}
