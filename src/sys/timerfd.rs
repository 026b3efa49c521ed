//! A timer with microsecond resolution, for the proxy's toxic schedules.
//!
//! tokio's timer wheel has millisecond ticks and rounds every deadline up,
//! which makes a 10 ms `latency` toxic add 11 ms on average. A `timerfd`
//! registered with the reactor fires within microseconds of its deadline.
//! Links create one lazily, only once a toxic makes them wait, so plain
//! connections cost no extra descriptor.
//!
//! # Platform specific behavior
//! Linux only (`timerfd_create(2)`); `Instant` and `CLOCK_MONOTONIC` are the
//! same clock there. See: <https://man7.org/linux/man-pages/man2/timerfd_create.2.html>

use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A `timerfd` registered with the tokio reactor.
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    /// Must be called inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: `fd` is an `OwnedFd` we just created; the `AsyncFd` takes
        // ownership of it and nothing else can close or replace it while the
        // registration lives.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(PreciseTimer { fd })
    }

    /// (Re)arms the timer for `deadline`; an earlier arming is replaced and
    /// its unread expiry discarded by the kernel.
    pub fn arm(&self, deadline: Instant) -> io::Result<()> {
        // A zero value would disarm the timer: use the smallest delay.
        let delay = deadline
            .saturating_duration_since(Instant::now())
            .max(std::time::Duration::from_nanos(1));
        let value = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: Timespec {
                tv_sec: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(delay.subsec_nanos()),
            },
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &value)?;
        Ok(())
    }

    /// Completes when the armed deadline has passed. Cancel-safe.
    pub async fn fired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
            }) {
                Ok(result) => return result.map(drop),
                // Readiness from an older arming: wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_kernel_holds_the_deadline_to_the_microsecond_and_fires_after_it() {
        // Precision is checked on the deadline the kernel holds, not on
        // when a loaded machine gets round to running us.
        let timer = PreciseTimer::new().expect("timerfd");
        for _ in 0..5 {
            let deadline = Instant::now() + Duration::from_micros(2500);
            // arm() turns the deadline into a delay before its syscall, so
            // the kernel's deadline may be later by at most the call's time.
            let arming_started = Instant::now();
            timer.arm(deadline).expect("arm");
            let arming_took = arming_started.elapsed();
            let before_reading = Instant::now();
            let held = rustix::time::timerfd_gettime(timer.fd.get_ref()).expect("gettime");
            let after_reading = Instant::now();
            let remaining =
                Duration::new(held.it_value.tv_sec as u64, held.it_value.tv_nsec as u32);
            let slack = Duration::from_micros(1);
            assert!(
                remaining
                    <= deadline.saturating_duration_since(before_reading) + arming_took + slack,
                "the kernel's deadline is later than asked: {remaining:?}"
            );
            assert!(
                remaining + slack >= deadline.saturating_duration_since(after_reading),
                "the kernel's deadline is earlier than asked: {remaining:?}"
            );
            timer.fired().await.expect("fire");
            assert!(Instant::now() >= deadline, "fired early");
        }
    }
}
