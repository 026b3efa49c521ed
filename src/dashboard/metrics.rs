//! `/metrics`: the dashboard's facts in the Prometheus/OpenMetrics text
//! format, through the official `prometheus-client` crate.
//!
//! A fresh registry is filled from the latest [`Facts`] on every scrape:
//! the facts are already aggregated (the refresher did the store queries),
//! so a scrape only formats numbers — ≤ 50 ms with 1,000 listeners (see
//! `bench/dashboard` and BENCHMARKS.md).
//!
//! Label sets are bounded by the listener set: per-listener series carry
//! the listening port, protocol and owning process name, never a client's
//! ephemeral port or address, so a port scan or a busy client cannot blow
//! up the series count.
//!
//! The per-listener counters count connections recorded since the latest
//! recorder start (the store's session), so they restart from zero when
//! the recorder restarts, which Prometheus reads as a counter reset.
//!
//! What comes from the store is written only when the latest refresh could
//! read it (`porthole_store_up` says whether it did). A store that is down
//! or missing has no counts, which is not the same as zero counts: written
//! as zeros, a PostgreSQL restart read as a reset of every counter, and the
//! counts coming back as that many new connections.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::facts::{Facts, RecorderHealth};
use crate::model::Protocol;

/// The `Content-Type` of an OpenMetrics scrape (what Prometheus asks for).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the classic text format, for everything else
/// (`curl`, `promtool check metrics`, older scrapers).
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a scraper's `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("application/openmetrics-text"))
}

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Renders every metric for `facts`; `health` is the in-process recorder's
/// (present under `monitor --serve`). `openmetrics` picks the format.
pub fn render(facts: &Facts, health: Option<&RecorderHealth>, openmetrics: bool) -> String {
    let registry = registry(facts, health);
    let mut text = String::with_capacity(512 * (facts.snapshot.sockets.len() + 16));
    // Writing into a String cannot fail.
    let _ = if openmetrics {
        prometheus_client::encoding::text::encode(&mut text, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
    };
    text
}

fn registry(facts: &Facts, health: Option<&RecorderHealth>) -> Registry {
    let mut registry = Registry::with_prefix("porthole");

    // Per listener, keyed by (protocol, port): a dual-stack service is one
    // listener to the people reading the graphs.
    let mut listeners: BTreeMap<(Protocol, u16), String> = BTreeMap::new();
    let mut by_scope: BTreeMap<(&'static str, bool), i64> = BTreeMap::new();
    for socket in facts.snapshot.sockets.iter().filter(|s| s.is_listener() && s.local.is_some()) {
        let process =
            facts.snapshot.owners_of(socket).next().map(|p| p.name.clone()).unwrap_or_default();
        let entry = listeners.entry((socket.protocol, socket.local_port())).or_default();
        if entry.is_empty() {
            *entry = process;
        }
        *by_scope.entry((socket.scope().as_str(), socket.scope().is_exposed())).or_default() += 1;
    }
    let from_store = facts.store.readable;
    let recent = super::facts::totals_by_port(&facts.store.recent_clients);
    let mut open_by_port: BTreeMap<u16, i64> = BTreeMap::new();
    for connection in &facts.open {
        *open_by_port.entry(connection.server.port()).or_default() += 1;
    }
    let rows = listeners
        .into_iter()
        .filter(|((protocol, _), _)| *protocol == Protocol::Tcp)
        .map(|((protocol, port), process)| {
            let totals = facts.store.session_totals.get(&port).cloned().unwrap_or_default();
            ListenerRow {
                labels: vec![
                    // The names of the JSON outputs (`local_port`,
                    // `process_name`), so a query and a jq filter agree.
                    ("local_port", port.to_string()),
                    ("protocol", protocol.as_str().to_string()),
                    // Another user's process name: escaped as on a terminal,
                    // since a scrape is often read with `curl`.
                    ("process_name", crate::render::sanitize::sanitize(&process).into_owned()),
                ],
                connections: totals.connections,
                bytes_in: totals.bytes_in,
                bytes_out: totals.bytes_out,
                open: open_by_port.get(&port).copied().unwrap_or(0),
                clients: recent.get(&port).map_or(0, |t| t.distinct_clients as i64),
            }
        })
        .collect();
    registry.register_collector(Box::new(PerListener { rows, from_store }));

    let count = Family::<Labels, Gauge>::default();
    for ((scope, exposed), n) in by_scope {
        count
            .get_or_create(&vec![("scope", scope.to_string()), ("exposed", exposed.to_string())])
            .set(n);
    }
    registry.register("listeners", "Listening sockets by scope and exposure", count);

    let findings = Family::<Labels, Gauge>::default();
    for finding in &facts.audit.findings {
        findings
            .get_or_create(&vec![
                ("rule", finding.rule.as_str().to_string()),
                ("severity", finding.severity.as_str().to_string()),
            ])
            .inc();
    }
    registry.register("audit_findings", "Findings of the latest passive audit", findings);

    let mode = Family::<Labels, Gauge>::default();
    let in_process_mode = health.and_then(|h| *h.mode.lock().unwrap_or_else(|e| e.into_inner()));
    let stored_mode =
        facts.store.session.as_ref().map(|s| crate::model::history::capture_mode_name(s.mode));
    if let Some(name) = in_process_mode.or(stored_mode) {
        mode.get_or_create(&vec![("mode", name.to_string())]).set(1);
    }
    registry.register("capture_mode", "The recorder's capture mode (1 for the active one)", mode);

    let losses = Family::<Labels, Counter>::default();
    let loss_totals: Option<BTreeMap<&'static str, u64>> = match health {
        Some(health) => Some(health.losses.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        None => from_store.then(|| facts.store.session_losses.clone()),
    };
    if let Some(totals) = &loss_totals {
        for kind in super::facts::LOSS_KINDS {
            let name = crate::model::history::loss_kind_name(*kind);
            losses
                .get_or_create(&vec![("kind", name.to_string())])
                .inc_by(totals.get(name).copied().unwrap_or(0));
        }
    }
    registry.register("recorder_losses", "Events the recorder knows it missed, by kind", losses);

    let up = Gauge::<i64>::default();
    up.set(i64::from(from_store));
    registry.register(
        "store_up",
        "Whether the dashboard's last refresh read the history store (1) or not (0)",
        up,
    );

    if let Some(health) = health {
        let events = Family::<Labels, Counter>::default();
        for (kind, n) in health.events.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            events.get_or_create(&vec![("kind", kind.to_string())]).inc_by(*n);
        }
        registry.register("recorder_events", "Events the recorder wrote, by kind", events);
        let queue = Gauge::<i64>::default();
        queue.set(health.queue_depth.load(Ordering::Relaxed) as i64);
        registry.register(
            "recorder_queue_depth",
            "Events in the last batch handed to the store",
            queue,
        );
        let last = FloatGauge::default();
        last.set(health.last_write_micros.load(Ordering::Relaxed) as f64 / 1e6);
        registry.register("store_write_seconds", "Duration of the last batch write", last);
        let writes = Counter::<u64>::default();
        writes.inc_by(health.writes.load(Ordering::Relaxed));
        registry.register("store_writes", "Batches written to the store", writes);
        if let Some(source) = health.alerts.get() {
            let counts = (source.0)();
            let raised = Counter::<u64>::default();
            raised.inc_by(counts.raised);
            registry.register("alerts", "Alerts raised", raised);
            let deliveries = Family::<Labels, Counter>::default();
            for (channel, channel_counts) in
                [("command", counts.commands), ("webhook", counts.webhook)]
            {
                let Some(channel_counts) = channel_counts else { continue };
                for (outcome, n) in [
                    ("delivered", channel_counts.delivered),
                    ("failed", channel_counts.failed),
                    ("dropped", channel_counts.dropped),
                ] {
                    deliveries
                        .get_or_create(&vec![
                            ("channel", channel.to_string()),
                            ("outcome", outcome.to_string()),
                        ])
                        .inc_by(n);
                }
            }
            registry.register(
                "alert_deliveries",
                "Alerts handed to --on-alert commands and the --webhook, by outcome",
                deliveries,
            );
        }
    }
    let query = FloatGauge::default();
    query.set(facts.store.query_seconds);
    registry.register("store_query_seconds", "Duration of the dashboard's last store reads", query);
    if let Some(size) = facts.store.size_bytes {
        let bytes = Gauge::<i64>::default();
        bytes.set(size as i64);
        registry.register("store_size_bytes", "Size of the SQLite store on disk", bytes);
    }
    let refresh = FloatGauge::default();
    refresh.set(facts.refresh_seconds);
    registry.register(
        "dashboard_refresh_seconds",
        "Duration of the dashboard's last refresh",
        refresh,
    );

    registry
}

/// One TCP listener's series.
#[derive(Debug)]
struct ListenerRow {
    labels: Labels,
    connections: u64,
    bytes_in: u64,
    bytes_out: u64,
    open: i64,
    clients: i64,
}

/// The per-listener families, written straight from precomputed rows: a
/// `Family` would hash and lock once per series, which dominated a scrape
/// with 1,000 listeners.
#[derive(Debug)]
struct PerListener {
    rows: Vec<ListenerRow>,
    /// Whether the store was read: the families read from it are left out
    /// when it was not (see the module docs).
    from_store: bool,
}

/// A per-listener family: name, help, type, whether its value comes from
/// the store, and the row's value.
type PerListenerFamily = (&'static str, &'static str, MetricType, bool, fn(&ListenerRow) -> i64);

const PER_LISTENER: [PerListenerFamily; 5] = [
    (
        "listener_connections",
        "Connections to the listener recorded since the recorder started",
        MetricType::Counter,
        true,
        |row| row.connections as i64,
    ),
    ("listener_open_connections", "Connections open now", MetricType::Gauge, false, |row| row.open),
    (
        "listener_received_bytes",
        "Bytes clients sent on closed connections since the recorder started",
        MetricType::Counter,
        true,
        |row| row.bytes_in as i64,
    ),
    (
        "listener_sent_bytes",
        "Bytes the listener sent on closed connections since the recorder started",
        MetricType::Counter,
        true,
        |row| row.bytes_out as i64,
    ),
    (
        "listener_client_processes",
        "Distinct client processes in the last hour",
        MetricType::Gauge,
        true,
        |row| row.clients,
    ),
];

impl Collector for PerListener {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, kind, stored, value) in PER_LISTENER {
            if stored && !self.from_store {
                continue;
            }
            let counter = matches!(kind, MetricType::Counter);
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for row in &self.rows {
                let sample = family.encode_family(&row.labels)?;
                if counter {
                    ConstCounter::new(value(row).max(0) as u64).encode(sample)?;
                } else {
                    ConstGauge::new(value(row)).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counters_are_named_for_each_format() {
        let store = crate::dashboard::facts::StoreView { readable: true, ..Default::default() };
        let facts = Facts { store, ..Facts::default() };
        let text = render(&facts, None, false);
        assert!(text.contains("# TYPE porthole_recorder_losses_total counter"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        let open = render(&facts, None, true);
        assert!(open.contains("# TYPE porthole_recorder_losses counter"), "{open}");
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(wants_openmetrics(Some("application/openmetrics-text;version=1.0.0,*/*;q=0.1")));
        assert!(!wants_openmetrics(Some("text/plain")) && !wants_openmetrics(None));
    }

    /// What alert delivery did is counted per channel and outcome, and a
    /// channel that is not configured has no series.
    #[test]
    fn alert_deliveries_are_counted_by_channel_and_outcome() {
        use crate::dashboard::facts::{AlertCounts, AlertCountsSource, DeliveryCounts};
        let health = RecorderHealth::default();
        let counts = AlertCounts {
            raised: 5,
            commands: None,
            webhook: Some(DeliveryCounts { delivered: 1, failed: 2, dropped: 3 }),
        };
        health.alerts.set(AlertCountsSource(Arc::new(move || counts))).unwrap();
        let text = render(&Facts::default(), Some(&health), false);
        for line in [
            "# TYPE porthole_alerts_total counter",
            "porthole_alerts_total 5",
            "porthole_alert_deliveries_total{channel=\"webhook\",outcome=\"delivered\"} 1",
            "porthole_alert_deliveries_total{channel=\"webhook\",outcome=\"failed\"} 2",
            "porthole_alert_deliveries_total{channel=\"webhook\",outcome=\"dropped\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("channel=\"command\""), "{text}");
        // Alerts off (`--no-alerts`): no alert families at all.
        let text = render(&Facts::default(), Some(&RecorderHealth::default()), true);
        assert!(!text.contains("porthole_alert"), "{text}");
    }

    /// A store that could not be read (PostgreSQL down) has no counts: the
    /// families read from it are left out rather than written as zeros,
    /// which Prometheus took for a reset of every counter.
    #[test]
    fn an_unreadable_store_leaves_its_counts_out_instead_of_zeros() {
        use crate::dashboard::facts::{PortTotals, StoreView};
        use crate::model::{Protocol, Snapshot, Socket};
        let snapshot = Snapshot {
            sockets: vec![Socket::listening(Protocol::Tcp, "127.0.0.1:5432".parse().unwrap())],
            ..Snapshot::default()
        };
        let mut read = StoreView { readable: true, ..StoreView::default() };
        read.session_totals.insert(5432, PortTotals { connections: 7, ..PortTotals::default() });
        let facts =
            |store: StoreView| Facts { snapshot: snapshot.clone(), store, ..Facts::default() };
        for openmetrics in [false, true] {
            let up = render(&facts(read.clone()), None, openmetrics);
            assert!(up.contains("porthole_store_up 1\n"), "{up}");
            assert!(up.contains("porthole_listener_connections_total{local_port=\"5432\""), "{up}");
            assert!(up.contains("porthole_recorder_losses_total{kind="), "{up}");
            let down = StoreView {
                note: Some("postgres://127.0.0.1:5999/x: connection refused".into()),
                ..StoreView::default()
            };
            let down = render(&facts(down), None, openmetrics);
            assert!(down.contains("porthole_store_up 0\n"), "{down}");
            for family in [
                "porthole_listener_connections",
                "porthole_listener_received_bytes",
                "porthole_listener_sent_bytes",
                "porthole_listener_client_processes",
                "porthole_recorder_losses",
            ] {
                assert!(!down.contains(family), "{family} without a store:\n{down}");
            }
            // What is read live stays.
            assert!(down.contains("porthole_listener_open_connections{local_port=\"5432\""));
        }
    }
}
