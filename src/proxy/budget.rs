//! The file-descriptor budget shared by the API and every proxy.
//!
//! Each proxied connection holds two sockets (more while it splices or
//! waits on a timer), each API connection one. Without a budget, the
//! connections of one busy proxy, or a crowd of idle API clients, take the
//! last descriptors under `RLIMIT_NOFILE`, and then nothing can be
//! accepted: the API stops answering and clients wait in the kernel's
//! backlog until they give up.
//!
//! The budget counts the descriptors the proxy module holds, on top of
//! those open when it was created, and keeps [`API_RESERVE`] of them for
//! the API alone: proxies refuse a new client (by closing it at once)
//! before they would eat into the reserve, so the API can always be
//! reached to remove the toxic or the proxy that causes the load.
//!
//! # Platform specific behavior
//! Reads `RLIMIT_NOFILE` and counts `/proc/self/fd` once, at creation
//! (after starting the connection carriers, whose descriptors are part of
//! the baseline).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Descriptors kept for the API: its connections, a listener being bound
/// again by `/reset` or an update, and the resolver.
pub const API_RESERVE: usize = 24;

/// Counts descriptors against the process limit.
#[derive(Debug)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` (`usize::MAX` when unlimited).
    limit: usize,
    /// Descriptors open when the budget was made (stdio, the API listener,
    /// the runtime's own), plus a margin for files other code opens.
    baseline: usize,
    /// Descriptors held now by connections, pipes and timers.
    used: AtomicUsize,
}

/// Who asks for descriptors: proxies stop short of the API's reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimant {
    Proxy,
    Api,
}

impl FdBudget {
    /// A budget for this process, measured now.
    pub fn measure() -> Self {
        let limit = crate::sys::fds::open_limit().unwrap_or(usize::MAX);
        let open = crate::sys::fds::open_count().unwrap_or(16);
        FdBudget::with_limit(limit, open + 8)
    }

    /// A budget with a given limit and baseline (for tests).
    pub fn with_limit(limit: usize, baseline: usize) -> Self {
        FdBudget { limit, baseline, used: AtomicUsize::new(0) }
    }

    /// The process-wide budget every proxy and the API share.
    pub fn global() -> Arc<FdBudget> {
        static GLOBAL: OnceLock<Arc<FdBudget>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| {
            // The carrier threads' descriptors belong in the baseline.
            super::carriers::start_all();
            Arc::new(FdBudget::measure())
        }))
    }

    /// How many descriptors `claimant` may hold in all.
    fn ceiling(&self, claimant: Claimant) -> usize {
        let available = self.limit.saturating_sub(self.baseline);
        match claimant {
            Claimant::Api => available,
            Claimant::Proxy => available.saturating_sub(API_RESERVE),
        }
    }

    /// Takes `count` descriptors if the claimant's ceiling allows; the
    /// returned guard gives them back when dropped.
    pub fn take(self: &Arc<Self>, claimant: Claimant, count: usize) -> Option<FdClaim> {
        let ceiling = self.ceiling(claimant);
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used + count > ceiling {
                return None;
            }
            match self.used.compare_exchange_weak(
                used,
                used + count,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(FdClaim { budget: Arc::clone(self), count }),
                Err(actual) => used = actual,
            }
        }
    }

    /// Descriptors held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The soft limit this budget works under.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Descriptors taken from a budget, returned on drop.
#[derive(Debug)]
pub struct FdClaim {
    budget: Arc<FdBudget>,
    count: usize,
}

impl Drop for FdClaim {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.count, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_stop_short_of_the_api_reserve() {
        let budget = Arc::new(FdBudget::with_limit(100, 20));
        // 80 available, 56 of them for proxies.
        let claims: Vec<_> =
            std::iter::from_fn(|| budget.take(Claimant::Proxy, 2)).take(100).collect();
        assert_eq!(claims.len(), 28);
        assert!(budget.take(Claimant::Proxy, 2).is_none());
        let api: Vec<_> = std::iter::from_fn(|| budget.take(Claimant::Api, 1)).take(100).collect();
        assert_eq!(api.len(), API_RESERVE);
        drop(claims);
        assert_eq!(budget.used(), API_RESERVE);
        assert!(budget.take(Claimant::Proxy, 2).is_some());
    }
}
