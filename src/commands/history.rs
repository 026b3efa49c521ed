//! `porthole history [ENDPOINT]`: answers from the record `porthole
//! monitor` keeps — who listened on a port and when, who connected, how
//! often, how much data.

use std::io::Write;

use anyhow::Context;

use crate::cli::args::HistoryArgs;
use crate::cli::history::HistorySettings;
use crate::commands::ExitStatus;
use crate::render::history::write_history;
use crate::render::Style;
use crate::store;
use crate::target::Host;

pub fn run(args: HistoryArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let mut settings = HistorySettings::resolve(args, store::now_micros())?;
    // A name is looked up as clients would, and every address it has counts.
    if let Some(endpoint) = &settings.endpoint {
        if let Some(Host::Name(name)) = &endpoint.host {
            let mut addresses = crate::inventory::port_report::resolve(name, endpoint.port)
                .with_context(|| format!("resolving '{name}'"))?;
            // As for addresses typed in: IPv4-mapped answers mean IPv4.
            for address in &mut addresses {
                *address = address.to_canonical();
            }
            addresses.sort();
            addresses.dedup();
            settings.query.addresses = addresses;
        }
    }
    if settings.query.host.is_some() && matches!(settings.location, store::StoreLocation::Sqlite(_))
    {
        anyhow::bail!(
            "--host: {} is a single machine's store; --host picks a machine in a shared PostgreSQL store",
            settings.location
        );
    }
    // Every store error names the store itself.
    let mut report = store::report_within(&settings.location, &settings.query, settings.sections)?;
    report.net_namespace = Some(crate::inventory::namespaces::own_inode()).filter(|&n| n != 0);
    write_history(out, &report, settings.format, Style::detect())?;
    Ok(if report.is_empty() { ExitStatus::Failure } else { ExitStatus::Success })
}
