//! The threads that carry proxied connections: one single-threaded tokio
//! runtime per CPU, each connection living on one of them from its first
//! byte to its close.
//!
//! # Why not the API's runtime
//! On tokio's multi-threaded runtime a connection's task may be woken by
//! the I/O driver on one worker and run on another, and every wake-up goes
//! through the work-stealing queues, their atomics and, when a worker is
//! parked, a futex wake. A proxied round trip is two wake-ups (one per
//! direction) of a few microseconds of work each, so that machinery was a
//! large part of the proxy's user-space time. A single-threaded runtime
//! polls the socket, runs the task and goes back to `epoll_wait` on the
//! same thread. Connections are spread round-robin over the carriers, so
//! the proxy still uses every CPU; the API stays on the main runtime and
//! answers while the carriers are busy.
//!
//! # No time driver on the carriers
//! With tokio's time driver enabled, every park of a carrier (one per
//! message forwarded) locks the timer wheel twice, scans it for the next
//! expiration and reads the clock twice, although a toxic-free link never
//! sets a timer and toxic schedules use a `timerfd` (see
//! [`crate::sys::timerfd`]). So the carriers run with the I/O driver only.
//! The one user of tokio's timer on a connection is a link's coarse
//! fallback for when no `timerfd` can be had (out of descriptors): its
//! sleeps live on a separate timer thread, started the first time one is
//! needed ([`sleep_until`]).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Handle;

/// The carriers' runtimes, started on first use and kept for the life of
/// the process (an idle one costs a thread parked in `epoll_wait`).
fn carriers() -> &'static [Handle] {
    static CARRIERS: OnceLock<Vec<Handle>> = OnceLock::new();
    CARRIERS.get_or_init(|| {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        (0..count).filter_map(|index| start(index).ok()).collect()
    })
}

fn start(index: usize) -> std::io::Result<Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("proxy-carrier-{index}"))
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

/// A sleep until `deadline` on the timer thread, which is started on first
/// use; `None` when that thread could not be started. The sleep can be
/// awaited (and reset) from any runtime: the timer thread's driver wakes the
/// awaiting task through its waker.
pub(crate) fn sleep_until(deadline: tokio::time::Instant) -> Option<tokio::time::Sleep> {
    static TIMER: OnceLock<Option<Handle>> = OnceLock::new();
    let timer = TIMER.get_or_init(|| {
        // Time only: no I/O driver, so no descriptor is taken and the
        // thread parks on a condition variable between expirations.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().ok()?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("proxy-timer".to_string())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .ok()?;
        Some(handle)
    });
    let _entered = timer.as_ref()?.enter();
    Some(tokio::time::sleep_until(deadline))
}

/// Starts the carriers now if they are not running yet, so their
/// descriptors (an epoll instance and a waker each) are open before anyone
/// counts the process's descriptors: the budget's baseline, or a proxy's
/// idle count.
pub(crate) fn start_all() {
    carriers();
}

/// Runs `future` on the next carrier, or on the caller's runtime when no
/// carrier thread could be started.
pub(crate) fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let carriers = carriers();
    if carriers.is_empty() {
        drop(tokio::spawn(future));
        return;
    }
    let index = NEXT.fetch_add(1, Ordering::Relaxed) % carriers.len();
    drop(carriers[index].spawn(future));
}
