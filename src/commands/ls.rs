//! `porthole ls`: every listener (or with `-a` every socket) with all the
//! processes that own it.

use std::io::Write;

use anyhow::Context;

use crate::cli::args::LsArgs;
use crate::cli::settings::{LsSettings, ScopeFilter};
use crate::commands::{warn, ExitStatus};
use crate::inventory::{self, NamespaceSelection};
use crate::model::{OwnerFilter, Scope, Snapshot, Socket};
use crate::render::listing::{write_sockets, ListingOptions};
use crate::render::sanitize::sanitize;
use crate::render::Style;

pub fn run(args: LsArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let mut settings = LsSettings::resolve(args)?;
    // Sockets belong to processes: a thread id stands for its process, and
    // a pid that names nothing is said, not answered with an empty list.
    if let Some(pid) = settings.pid {
        match inventory::process::thread_group(pid) {
            None => warn(&format!("no process has pid {pid} (it may have exited)")),
            Some(process) if process != pid => {
                warn(&format!(
                    "pid {pid} is a thread of process {process}: listing that process's sockets"
                ));
                settings.pid = Some(process);
            }
            Some(_) => {}
        }
    }
    let snapshot = inventory::snapshot(&settings.query).context("listing sockets")?;
    let selected: Vec<&Socket> = select(&snapshot, &settings);
    report_listed_visibility(&snapshot, &selected, &settings);
    let options = ListingOptions {
        remote: !settings.query.listeners_only,
        namespace: settings.query.namespaces == NamespaceSelection::All,
        owners: settings.query.owners,
        long: settings.long,
    };
    write_sockets(out, &snapshot, &selected, settings.format, options, Style::detect())?;
    Ok(if selected.is_empty() { ExitStatus::Failure } else { ExitStatus::Success })
}

/// Applies the filters the inventory query cannot express.
pub fn select<'a>(snapshot: &'a Snapshot, settings: &LsSettings) -> Vec<&'a Socket> {
    snapshot
        .sockets
        .iter()
        .filter(|socket| settings.state.is_none_or(|state| socket.state == state))
        .filter(|socket| settings.pid.is_none_or(|pid| socket.owners.contains(&pid)))
        .filter(|socket| match &settings.process_name {
            None => true,
            Some(name) => snapshot.owners_of(socket).any(|p| p.name_matches(name)),
        })
        .filter(|socket| match settings.scope {
            None => true,
            Some(ScopeFilter::Loopback) => socket.scope() == Scope::Loopback,
            Some(ScopeFilter::Exposed) => socket.exposed(),
            Some(ScopeFilter::Wildcard) => socket.scope() == Scope::Wildcard,
            Some(ScopeFilter::Specific) => socket.scope() == Scope::Specific,
        })
        .collect()
}

/// [`report_visibility`] for the sockets `ls` lists: the note counts the
/// `?` rows it shows, not sockets its filters left out; with an owner
/// filter, sockets whose owner could not be seen are said to be left out
/// (they may be the ones asked for).
fn report_listed_visibility(snapshot: &Snapshot, selected: &[&Socket], settings: &LsSettings) {
    let visibility = &snapshot.visibility;
    if !settings.query.owners {
        // `--no-owners`: no owner was looked for, none is shown as `?`, so
        // there is nothing to explain about owners.
        report_namespaces(visibility);
        return;
    }
    let shown = selected.iter().filter(|s| s.inode != 0 && s.owners.is_empty()).count();
    let owner_filter = match (settings.pid, &settings.process_name) {
        (Some(pid), _) => Some((format!("pid {pid}"), OwnerFilter::Pid(pid))),
        (None, Some(name)) => {
            Some((format!("a process named like '{}'", sanitize(name)), OwnerFilter::Name(name)))
        }
        (None, None) => None,
    };
    let note = match owner_filter {
        Some((filter, asked)) => visibility.hidden_from_owner_filter_note(&filter, &asked),
        None => visibility.owner_note_for(shown),
    };
    if let Some(note) = note {
        warn(&note);
    }
    report_namespaces(visibility);
}

/// What could not be seen, on stderr only, once: why owners show as `?`,
/// and namespaces that could not be entered.
pub fn report_visibility(snapshot: &Snapshot) {
    let visibility = &snapshot.visibility;
    if let Some(note) = visibility.owner_note() {
        warn(&note);
    }
    report_namespaces(visibility);
}

fn report_namespaces(visibility: &crate::model::Visibility) {
    if visibility.unreadable_namespaces > 0 {
        warn(&format!(
            "{} network namespace(s) could not be read; run as root to enter them",
            visibility.unreadable_namespaces
        ));
    }
}
