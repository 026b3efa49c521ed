//! Noticing that the wall clock was stepped (`date -s`, an NTP step, a
//! resumed virtual machine), so that times converted from `CLOCK_MONOTONIC`
//! — the eBPF programs stamp their events with it — can take a new offset.
//!
//! A `timerfd` on `CLOCK_REALTIME`, armed for a far-off absolute time with
//! `TFD_TIMER_CANCEL_ON_SET`, becomes readable when the clock is set
//! discontinuously, and its `read` then fails with `ECANCELED`. Slewing
//! (`adjtime`, NTP's gradual correction) does not wake it.
//!
//! # Platform specific behavior
//! Linux 3.0 or later. `CLOCK_REALTIME` cannot be namespaced: a step made
//! anywhere on the machine is seen here.
//! See: <https://man7.org/linux/man-pages/man2/timerfd_create.2.html>

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};

/// A descriptor that becomes readable when the wall clock is stepped.
pub struct WallClockSteps {
    fd: OwnedFd,
}

impl WallClockSteps {
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Realtime,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let steps = WallClockSteps { fd };
        steps.arm()?;
        Ok(steps)
    }

    /// Arms the timer for the far future: it never expires, it is only
    /// cancelled by a step. Re-arming after a step is what resets it.
    fn arm(&self) -> io::Result<()> {
        let never = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            // Year 2^40 seconds: far beyond any real clock, well inside
            // the kernel's time64 range.
            it_value: Timespec { tv_sec: 1 << 40, tv_nsec: 0 },
        };
        let flags = TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET;
        timerfd_settime(&self.fd, flags, &never)?;
        Ok(())
    }

    /// Whether the clock was stepped since the last call (or since
    /// [`WallClockSteps::new`]); never blocks.
    pub fn stepped(&self) -> io::Result<bool> {
        let mut expirations = [0u8; 8];
        match rustix::io::read(&self.fd, &mut expirations) {
            Err(rustix::io::Errno::CANCELED) => {
                // The cancellation stays pending until the timer is set
                // again.
                self.arm()?;
                Ok(true)
            }
            Err(rustix::io::Errno::AGAIN) => Ok(false),
            // An expiry of a never-expiring timer: nothing stepped.
            Ok(_) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

impl AsRawFd for WallClockSteps {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unstepped_clock_reports_nothing() {
        let steps = WallClockSteps::new().expect("timerfd on CLOCK_REALTIME");
        assert!(!steps.stepped().unwrap());
        assert!(!steps.stepped().unwrap());
    }
}
