//! `/metrics` in the Prometheus text format. The byte counters keep
//! Toxiproxy's names and labels so existing dashboards work; connection
//! counters are added (Toxiproxy has none since 2.4.0).

use std::fmt::Write;

use super::registry::ProxyMetrics;

/// A metric family: name, type, help, and how to read it from a proxy.
type Family = (&'static str, &'static str, &'static str, fn(&ProxyMetrics) -> u64);

/// Renders every proxy's counters.
pub fn render(proxies: &[ProxyMetrics]) -> String {
    let mut text = String::new();
    let labels = |proxy: &ProxyMetrics| {
        format!(
            "proxy=\"{}\",listener=\"{}\",upstream=\"{}\"",
            escape(&proxy.name),
            escape(&proxy.listen),
            escape(&proxy.upstream)
        )
    };
    let byte_families = [
        (
            "toxiproxy_proxy_received_bytes_total",
            "The total bytes received from the source of a direction.",
        ),
        (
            "toxiproxy_proxy_sent_bytes_total",
            "The total bytes written to the destination of a direction.",
        ),
    ];
    for (index, (family, help)) in byte_families.iter().enumerate() {
        let _ = writeln!(text, "# HELP {family} {help}\n# TYPE {family} counter");
        for proxy in proxies {
            let stats = &proxy.stats;
            let (upstream, downstream) = if index == 0 {
                (stats.upstream_received, stats.downstream_received)
            } else {
                (stats.upstream_sent, stats.downstream_sent)
            };
            let labels = labels(proxy);
            let _ = writeln!(text, "{family}{{direction=\"upstream\",{labels}}} {upstream}");
            let _ = writeln!(text, "{family}{{direction=\"downstream\",{labels}}} {downstream}");
        }
    }
    let families: [Family; 6] = [
        ("toxiproxy_proxy_connections_total", "counter", "Client connections accepted.", |proxy| {
            proxy.stats.connections_total
        }),
        ("toxiproxy_proxy_active_connections", "gauge", "Client connections open now.", |proxy| {
            proxy.stats.connections_active
        }),
        (
            "toxiproxy_proxy_upstream_failures_total",
            "counter",
            "Connections closed because the upstream could not be reached.",
            |proxy| proxy.stats.upstream_failures,
        ),
        (
            "toxiproxy_proxy_upstream_closed_total",
            "counter",
            "Connections the upstream closed or reset before the client did.",
            |proxy| proxy.stats.closed_by_upstream,
        ),
        (
            "toxiproxy_proxy_refused_total",
            "counter",
            "Clients closed on arrival because file descriptors ran short.",
            |proxy| proxy.stats.refused,
        ),
        ("toxiproxy_proxy_enabled", "gauge", "1 when the proxy is listening.", |proxy| {
            u64::from(proxy.enabled)
        }),
    ];
    for (family, kind, help, value) in families {
        let _ = writeln!(text, "# HELP {family} {help}\n# TYPE {family} {kind}");
        for proxy in proxies {
            let _ = writeln!(text, "{family}{{{}}} {}", labels(proxy), value(proxy));
        }
    }
    // The allocator's view: a leak grows `in_use`, retention `free`.
    if let Some(heap) = crate::sys::allocator::heap_stats() {
        for (family, help, value) in [
            ("porthole_heap_in_use_bytes", "Heap bytes allocated and not freed.", heap.in_use),
            (
                "porthole_heap_free_retained_bytes",
                "Heap bytes freed but kept by the allocator.",
                heap.free_retained,
            ),
        ] {
            let _ =
                writeln!(text, "# HELP {family} {help}\n# TYPE {family} gauge\n{family} {value}");
        }
    }
    text
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
