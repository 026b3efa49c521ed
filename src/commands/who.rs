//! `porthole PORT` / `porthole HOST:PORT`: who holds a port, its clients,
//! and what the number means.

use std::io::Write;

use anyhow::Context;

use crate::cli::args::WhoArgs;
use crate::cli::settings::WhoSettings;
use crate::commands::{ls::report_visibility, ExitStatus};
use crate::inventory::{self, port_report, Query};
use crate::render::port::write_report;
use crate::render::Style;
use crate::target::Host;

pub fn run(args: WhoArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = WhoSettings::resolve(args)?;
    let addresses = match &settings.endpoint.host {
        None => Vec::new(),
        Some(Host::Ip(ip)) => vec![*ip],
        // Listeners are matched by address and port; the kernel reports no
        // zone for them, so one would change nothing.
        Some(Host::Scoped { address, .. }) => anyhow::bail!(
            "'{}': a zone id does not apply here (listeners are matched by address and port): write [{address}]:{}",
            settings.endpoint,
            settings.endpoint.port
        ),
        Some(Host::Name(name)) => {
            port_report::resolve(name, settings.endpoint.port).with_context(|| format!("resolving '{name}'"))?
        }
    };
    let query = Query {
        tcp: settings.tcp,
        udp: settings.udp,
        namespaces: settings.namespaces,
        named_namespace: settings.named_namespace.clone(),
        ..Query::for_port(settings.endpoint.port)
    };
    let snapshot = inventory::snapshot(&query).context("listing sockets")?;
    report_visibility(&snapshot);
    let report = port_report::build(
        settings.endpoint.to_string(),
        settings.endpoint.port,
        addresses,
        snapshot,
        crate::portinfo::describe(settings.endpoint.port),
    );
    write_report(out, &report, settings.format, Style::detect())?;
    if settings.format == crate::render::Format::Table {
        // The store the recorder writes to (`PORTHOLE_STORE`, or the
        // default file).
        let configured = std::env::var("PORTHOLE_STORE").ok().filter(|s| !s.is_empty());
        let history =
            crate::store::local_port_history(configured.as_deref(), settings.endpoint.port);
        if let Some(history) = history {
            crate::render::history::write_port_history(
                out,
                &history,
                &report.listeners,
                Style::detect(),
            )?;
        }
    }
    Ok(if report.is_held() { ExitStatus::Success } else { ExitStatus::Failure })
}
