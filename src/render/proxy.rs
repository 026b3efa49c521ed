//! Output of `porthole proxy`: proxy tables, details, toxics, and the
//! one-shot summary. Uses the API's wire types directly, since they are
//! what the client commands receive.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::sanitize::{display_width, sanitize, Foreign};
use crate::model::proxy::ProxyMetrics;
use crate::proxy::wire::{ProxyWire, ToxicWire};

/// Pretty JSON with a trailing newline.
pub fn json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    crate::render::sanitize::write_json_pretty(&mut *out, value)?;
    writeln!(out)
}

/// `porthole proxy list`.
pub fn proxy_table(out: &mut impl Write, proxies: &BTreeMap<String, ProxyWire>) -> io::Result<()> {
    let mut rows = vec![[
        "NAME".to_string(),
        "LISTEN".to_string(),
        "UPSTREAM".to_string(),
        "ENABLED".to_string(),
        "TOXICS".to_string(),
    ]];
    for proxy in proxies.values() {
        let toxics = if proxy.toxics.is_empty() {
            "-".to_string()
        } else {
            proxy.toxics.iter().map(|toxic| toxic.name.as_str()).collect::<Vec<_>>().join(",")
        };
        rows.push([
            proxy.name.clone(),
            proxy.listen.clone(),
            proxy.upstream.clone(),
            if proxy.enabled { "yes" } else { "no" }.to_string(),
            toxics,
        ]);
    }
    table(out, &rows)
}

/// `porthole proxy inspect`.
pub fn proxy_detail(out: &mut impl Write, proxy: &ProxyWire) -> io::Result<()> {
    // Names and addresses come from whoever created the proxy over the API.
    writeln!(out, "name      {}", Foreign(&proxy.name))?;
    writeln!(out, "listen    {}", Foreign(&proxy.listen))?;
    writeln!(out, "upstream  {}", Foreign(&proxy.upstream))?;
    writeln!(out, "enabled   {}", if proxy.enabled { "yes" } else { "no" })?;
    if proxy.toxics.is_empty() {
        return writeln!(out, "toxics    none");
    }
    writeln!(out, "toxics")?;
    let mut rows = vec![[
        "  NAME".to_string(),
        "TYPE".to_string(),
        "STREAM".to_string(),
        "TOXICITY".to_string(),
        "ATTRIBUTES".to_string(),
    ]];
    for toxic in &proxy.toxics {
        rows.push([
            format!("  {}", toxic.name),
            toxic.r#type.clone(),
            toxic.stream.clone(),
            toxic.toxicity.to_string(),
            attributes(toxic),
        ]);
    }
    table(out, &rows)
}

/// One line after a proxy was created, enabled or disabled.
pub fn proxy_line(out: &mut impl Write, action: &str, proxy: &ProxyWire) -> io::Result<()> {
    writeln!(
        out,
        "{action} proxy {} listening on {} → {}{}",
        named(&proxy.name),
        Foreign(&proxy.listen),
        Foreign(&proxy.upstream),
        if proxy.enabled { "" } else { " (disabled)" }
    )
}

/// One line after a toxic was added or updated.
pub fn toxic_line(
    out: &mut impl Write,
    action: &str,
    proxy: &str,
    toxic: &ToxicWire,
) -> io::Result<()> {
    writeln!(
        out,
        "{action} {} toxic {} on {} ({}, toxicity {}): {}",
        Foreign(&toxic.r#type),
        named(&toxic.name),
        named(proxy),
        Foreign(&toxic.stream),
        toxic.toxicity,
        Foreign(&attributes(toxic))
    )
}

/// A proxy or toxic name inside a sentence: a shell word, as the error
/// messages write it, so `a b` reads as one name (`'a b'`) and the line can
/// be told from one about a proxy `a`; control characters shown escaped.
fn named(name: &str) -> String {
    Foreign(&crate::shell::word(name)).to_string()
}

/// A plain confirmation line (deleted proxy, removed toxic).
pub fn done(out: &mut impl Write, message: &str) -> io::Result<()> {
    writeln!(out, "{}", Foreign(message))
}

/// The API server's start-up line (on stderr).
pub fn serving(err: &mut impl Write, address: &str, proxies: usize) -> io::Result<()> {
    writeln!(
        err,
        "porthole: proxy API listening on http://{address} ({proxies} proxies from config)"
    )
}

/// The one-shot mode's start-up line (on stderr).
pub fn one_shot_started(err: &mut impl Write, proxy: &ProxyWire) -> io::Result<()> {
    let toxics: Vec<String> = proxy
        .toxics
        .iter()
        .map(|toxic| format!("{} {}", toxic.r#type, attributes(toxic)))
        .collect();
    writeln!(
        err,
        "porthole: proxying {} → {}{}; Ctrl-C to stop",
        Foreign(&proxy.listen),
        Foreign(&proxy.upstream),
        if toxics.is_empty() {
            String::new()
        } else {
            format!(" with {}", Foreign(&toxics.join(", ")))
        }
    )
}

/// What passed through the one-shot proxy.
pub fn one_shot_summary(
    out: &mut impl Write,
    metrics: &ProxyMetrics,
    elapsed: Duration,
) -> io::Result<()> {
    let stats = &metrics.stats;
    // Which end hung up first is what a client that was cut off asks: a
    // server that closed (or died) mid-stream reads here as such, not as
    // one more connection.
    writeln!(
        out,
        "{} in {:.1}s ({} could not reach {}, {} closed by it first)",
        counted(stats.connections_total, "connection"),
        elapsed.as_secs_f64(),
        stats.upstream_failures,
        Foreign(&metrics.upstream),
        stats.closed_by_upstream,
    )?;
    writeln!(
        out,
        "client → server: {} received, {} sent",
        counted(stats.upstream_received, "byte"),
        counted(stats.upstream_sent, "byte")
    )?;
    writeln!(
        out,
        "server → client: {} received, {} sent",
        counted(stats.downstream_received, "byte"),
        counted(stats.downstream_sent, "byte")
    )
}

/// `1 byte`, `2 bytes`.
fn counted(count: u64, noun: &str) -> String {
    format!("{count} {noun}{}", if count == 1 { "" } else { "s" })
}

fn attributes(toxic: &ToxicWire) -> String {
    if toxic.attributes.is_empty() {
        return "-".to_string();
    }
    toxic
        .attributes
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Aligned columns. Every cell may hold names another client of the API
/// chose, so each is sanitised and measured in terminal columns.
fn table<const N: usize>(out: &mut impl Write, rows: &[[String; N]]) -> io::Result<()> {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> =
        rows.iter().map(|row| row.iter().map(|cell| sanitize(cell)).collect()).collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(display_width(cell));
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[index] - display_width(cell) + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
