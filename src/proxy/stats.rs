//! Per-proxy counters, updated lock-free by the data path and read by
//! `/metrics` and the one-shot summary.

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::model::proxy::StatsSnapshot;

/// Counters for one direction of one proxy.
#[derive(Debug, Default)]
pub struct DirectionStats {
    /// Bytes read from the source.
    pub received: AtomicU64,
    /// Bytes written to the destination (less than `received` when a toxic
    /// drops data or the connection closes with data in flight).
    pub sent: AtomicU64,
}

/// Counters for one proxy; they survive restarts and toxic changes.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client to server.
    pub upstream: DirectionStats,
    /// Server to client.
    pub downstream: DirectionStats,
    /// Connections accepted since the proxy was created.
    pub connections_total: AtomicU64,
    /// Connections open right now (client side accepted, not yet closed).
    pub connections_active: AtomicU64,
    /// Connections that ended because the upstream could not be reached.
    pub upstream_failures: AtomicU64,
    /// Connections whose server end closed or reset before the client's
    /// (not by a toxic): a server that hangs up, or one that died with the
    /// connection open. A reset that the client's direction meets first (a
    /// write to the server fails before the read from it does) ends that
    /// direction first, and is not counted.
    pub closed_by_upstream: AtomicU64,
    /// Clients closed on arrival because descriptors ran short.
    pub refused: AtomicU64,
}

impl ProxyStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            upstream_received: load(&self.upstream.received),
            upstream_sent: load(&self.upstream.sent),
            downstream_received: load(&self.downstream.received),
            downstream_sent: load(&self.downstream.sent),
            connections_total: load(&self.connections_total),
            connections_active: load(&self.connections_active),
            upstream_failures: load(&self.upstream_failures),
            closed_by_upstream: load(&self.closed_by_upstream),
            refused: load(&self.refused),
        }
    }
}

/// Decrements the active-connection gauge when a connection task ends,
/// however it ends (including cancellation when the proxy stops).
pub(crate) struct ActiveConnection<'a>(&'a ProxyStats);

impl<'a> ActiveConnection<'a> {
    pub(crate) fn open(stats: &'a ProxyStats) -> Self {
        stats.connections_total.fetch_add(1, Ordering::Relaxed);
        stats.connections_active.fetch_add(1, Ordering::Relaxed);
        ActiveConnection(stats)
    }
}

impl Drop for ActiveConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Ordering::Relaxed);
    }
}
