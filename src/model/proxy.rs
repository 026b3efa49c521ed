//! What the proxy engine reports about a proxy's traffic, for renderers:
//! `porthole proxy`'s one-shot summary reads it without depending on the
//! engine (`crate::proxy` fills it from its lock-free counters).

/// A copy of one proxy's counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Bytes read from the client.
    pub upstream_received: u64,
    /// Bytes written to the server.
    pub upstream_sent: u64,
    /// Bytes read from the server.
    pub downstream_received: u64,
    /// Bytes written to the client.
    pub downstream_sent: u64,
    pub connections_total: u64,
    pub connections_active: u64,
    /// Connections that ended because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Connections whose upstream end closed or reset before the client's:
    /// the server hung up (or died) first.
    pub closed_by_upstream: u64,
    /// Clients closed on arrival because descriptors ran short.
    pub refused: u64,
}

/// The counters of one proxy with the labels `/metrics` needs.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub stats: StatsSnapshot,
}
