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
    async fn fires_close_to_the_deadline() {
        let timer = PreciseTimer::new().expect("timerfd");
        for _ in 0..5 {
            let deadline = Instant::now() + Duration::from_micros(2500);
            timer.arm(deadline).expect("arm");
            timer.fired().await.expect("fire");
            let now = Instant::now();
            assert!(now >= deadline, "fired early");
            assert!(now - deadline < Duration::from_millis(50), "fired {:?} late", now - deadline);
        }
    }
}
