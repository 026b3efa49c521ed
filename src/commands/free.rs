//! `porthole free`: print ports that are free now and safe to claim for a
//! new local service, optionally held until the service binds them.

use std::io::Write;

use anyhow::Context;

use crate::allocation::recent::Recent;
use crate::allocation::{self, hold, Conditions};
use crate::cli::args::{FreeArgs, HoldArgs};
use crate::cli::settings::{FreeSettings, HoldSettings};
use crate::commands::{warn, ExitStatus};
use crate::inventory::system::Machine;
use crate::render::free::{write_found, FreeReport};

pub fn run(args: FreeArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = FreeSettings::resolve(args)?;
    // With --netns the sockets are read, the ports bound and the holder
    // started from inside that namespace: a port is free in one namespace
    // at a time, and the holder watches for the server there.
    let (found, holder_pid) = match &settings.namespace {
        None => allocate(&settings)?,
        Some(namespace) => crate::inventory::namespaces::within(namespace, || allocate(&settings))
            .context("free")??,
    };
    let complete = found.ports.len() == settings.request.count;
    if let (Some(pid), Some(duration)) = (holder_pid, settings.hold) {
        if settings.format == crate::render::Format::Table {
            warn(&format!(
                "holding {} for {}s in process {pid}; it exits once your server binds with SO_REUSEADDR",
                found.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
                duration.as_secs_f64()
            ));
        }
    }
    let command_prefix = settings.namespace.as_ref().map(crate::inventory::namespaces::exec_prefix);
    let command_prefix = command_prefix.unwrap_or_default();
    let report = FreeReport {
        found: &found,
        requested: settings.request.count,
        name: settings.request.name.as_deref(),
        prefer: settings.request.prefer,
        hold_udp: settings.request.hold_udp,
        holder_pid,
        hold: settings.hold,
        command_prefix: &command_prefix,
        // The sysctl lines need root (CAP_NET_ADMIN over the namespace).
        as_root: crate::inventory::system::as_root(
            &Machine,
            rustix::process::getuid().as_raw(),
            rustix::process::geteuid().is_root(),
        ),
    };
    if !complete {
        warn(&crate::render::free::shortage_message(&report));
    } else if let (Some(prefer), Some(skip)) = (settings.request.prefer, &found.preferred_skip) {
        if settings.format == crate::render::Format::Table {
            let verdict = skip.verdict();
            warn(&format!("{prefer} {verdict} ({}); nearest free port follows", skip.describe()));
        }
    }
    write_found(out, &report, settings.format)?;
    Ok(if complete { ExitStatus::Success } else { ExitStatus::Failure })
}

/// Finds the ports and, with `--hold`, binds them and starts the holder, in
/// the namespace of the calling thread (the holder process inherits it).
fn allocate(settings: &FreeSettings) -> anyhow::Result<(allocation::Found, Option<u32>)> {
    let mut conditions = Conditions::current(&Machine).context("listing sockets")?;
    // Ports other runs handed out moments ago are passed over (their
    // callers may be about to bind them); the record stays locked for the
    // length of the search, so runs at the same moment take turns.
    let recent = match Recent::open(crate::inventory::namespaces::own_identity()) {
        Ok(recent) => Some(recent),
        Err(error) => {
            warn(&format!("not kept apart from other porthole free runs: {error}"));
            None
        }
    };
    if let Some(recent) = &recent {
        conditions.handed_out = recent.of_this_namespace();
    }
    let Some(duration) = settings.hold else {
        // Nothing is bound until the caller binds: the record keeps the
        // ports from other runs instead.
        let mut found = allocation::find(&settings.request, &conditions);
        allocation::remedies(&settings.request, &conditions, &mut found);
        if let Some(recent) = recent {
            if let Err(error) = recent.record(&found.ports, settings.request.name.as_deref()) {
                warn(&format!("other porthole free runs may hand out the same port: {error}"));
            }
        }
        return Ok((found, None));
    };
    let (mut found, held) = match hold::claim(&settings.request, &conditions) {
        Err(error)
            if error.source.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) =>
        {
            let limit = crate::sys::fds::open_limit()
                .map_or_else(|| "unlimited".to_string(), |limit| limit.to_string());
            anyhow::bail!(
                "--count {} --hold keeps a socket per port, protocol and family open, more than \
                 this process may open (ulimit -n: {limit}, already raised to the hard limit); \
                 ask for fewer ports",
                settings.request.count
            );
        }
        result => result?,
    };
    if held.is_empty() {
        allocation::remedies(&settings.request, &conditions, &mut found);
        return Ok((found, None));
    }
    let holder_pid = hold::spawn(held, duration).context("starting the holder process")?;
    Ok((found, Some(holder_pid)))
}

/// The hidden `__hold` subcommand: the detached holder of `free --hold`.
pub fn run_holder(args: HoldArgs) -> anyhow::Result<ExitStatus> {
    let settings = HoldSettings::resolve(args);
    hold::run(&Machine, &settings.descriptors, settings.duration).context("holding the port")?;
    Ok(ExitStatus::Success)
}
