//! `porthole history [ENDPOINT]`: answers from the record `porthole
//! monitor` keeps — who listened on a port and when, who connected, how
//! often, how much data.

use std::io::Write;

use anyhow::Context;

use crate::cli::args::HistoryArgs;
use crate::cli::history::HistorySettings;
use crate::commands::{system_store_advice, warn, ExitStatus};
use crate::render::history::write_history_streamed;
use crate::render::Style;
use crate::store::{self, StoreError, SystemStore};
use crate::target::Host;

pub fn run(args: HistoryArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    // Without `--store` (or PORTHOLE_STORE) a user who is not root reads
    // their own store, while the recorder's service writes root's: an
    // empty answer says where the record is.
    let default_store = args.store.is_none();
    let mut settings = HistorySettings::resolve(args, store::now_micros())?;
    // A name is looked up as clients would, and every address it has counts.
    if let Some(endpoint) = &settings.endpoint {
        if let Some(Host::Name(name)) = &endpoint.host {
            use crate::inventory::port_report::{is_localhost, loopback_addresses, resolve};
            let mut addresses = if is_localhost(name) {
                // Both loopback addresses (RFC 6761), whatever /etc/hosts
                // says now: the record is of clients that connected to
                // either, perhaps by address, perhaps under other hosts
                // files (one without `::1 localhost` is common).
                let mut addresses = loopback_addresses();
                addresses.extend(resolve(name, endpoint.port).unwrap_or_default());
                addresses
            } else {
                resolve(name, endpoint.port).with_context(|| format!("resolving '{name}'"))?
            };
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
    let system = if default_store { SystemStore::beside(&settings.location) } else { None };
    // Every store error names the store itself.
    // Single connections (`--each`) follow the report as the store reads
    // them, written as they come.
    let (mut report, mut feed) =
        match store::report_streamed(&settings.location, &settings.query, settings.sections) {
            Err(StoreError::Missing { path }) if system.is_some() => {
                let system = system.as_ref().expect("checked by the guard");
                anyhow::bail!("{}", system_store_advice(&path, true, system, true));
            }
            Err(StoreError::NotReadable { path }) => {
                // Root's command line names the store: root's default
                // store is another file, and `sudo` drops PORTHOLE_STORE.
                let typed = std::env::args_os().any(|word| {
                    word == "--store" || word.as_encoded_bytes().starts_with(b"--store=")
                });
                let extra = [std::ffi::OsStr::new("--store"), path.as_os_str()];
                let extra: &[&std::ffi::OsStr] = if typed { &[] } else { &extra };
                anyhow::bail!(
                    "{}: {}",
                    StoreError::NotReadable { path: path.clone() },
                    crate::commands::again_as_root_with(extra, "reads it")
                );
            }
            answer => answer?,
        };
    report.net_namespace = Some(crate::inventory::namespaces::own_inode()).filter(|&n| n != 0);
    let written =
        write_history_streamed(out, &report, &mut feed, settings.format, Style::detect())?;
    feed.finish()?;
    let empty = report.is_empty() && written == 0;
    if empty {
        if let (Some(system), store::StoreLocation::Sqlite(own)) = (&system, &settings.location) {
            warn(&system_store_advice(own, false, system, true));
        }
    }
    if let Some(process) = settings.query.process.as_deref().filter(|_| empty) {
        // A name that matched nothing: a typo, or another process than
        // thought, must not read as "nothing happened there".
        let names = recorded_without_process(&settings);
        if !names.is_empty() {
            const SHOWN: usize = 8;
            let mut list = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            if names.len() > SHOWN {
                list.push_str(&format!(" and {} more", names.len() - SHOWN));
            }
            warn(&format!(
                "nothing recorded involves a process matching '{process}'; the same \
                 question without --process finds {list}"
            ));
        }
    }
    Ok(if empty { ExitStatus::Failure } else { ExitStatus::Success })
}

/// The names of the processes the same question finds without
/// `--process` (listeners' holders and named clients), sorted.
fn recorded_without_process(settings: &HistorySettings) -> Vec<String> {
    let mut query = settings.query.clone();
    query.process = None;
    let sections = store::Sections { each: false, ..settings.sections };
    let Ok((report, _feed)) = store::report_streamed(&settings.location, &query, sections) else {
        return Vec::new();
    };
    let holders = report.listeners.iter().flat_map(|listener| &listener.event.owners);
    let clients = report.clients.iter().filter_map(|client| client.client.as_ref());
    let mut names: Vec<String> = holders.chain(clients).map(|p| p.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}
