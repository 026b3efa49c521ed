//! `porthole kill PORT…`: stop the processes that listen on ports, never
//! their clients; show them first, ask, stop gracefully, and check that
//! the ports are really free afterwards.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};

use crate::cli::args::KillArgs;
use crate::cli::settings::KillSettings;
use crate::commands::ExitStatus;
use crate::inventory::system::Machine;
use crate::render::kill::{write_plan, write_question, write_report, KillReport};
use crate::render::{Format, Style};
use crate::termination;

pub fn run(args: KillArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = KillSettings::resolve(args)?;
    let style = Style::detect();
    let system = Machine;
    let plan = termination::plan(&system, &settings.request).context("listing listeners")?;
    let now = now_seconds();
    // What else keeps the ports from being free, as things stand before
    // any signal (checked again after the run).
    let others = if plan.is_empty() || settings.dry_run {
        termination::other_sockets(&system, &settings.request).context("listing sockets")?
    } else {
        Vec::new()
    };
    // A listener in another namespace (a container) is out of reach as
    // asked; the report names the `--netns` that reaches it.
    let elsewhere = if plan.is_empty() {
        termination::listeners_elsewhere(&system, &settings.request)
            .context("listing other network namespaces")?
    } else {
        Vec::new()
    };
    let flags = settings.request.flags();
    let report = KillReport {
        plan: &plan,
        dry_run: settings.dry_run,
        outcomes: None,
        verification: None,
        others: &others,
        elsewhere: &elsewhere,
        flags: &flags,
        now,
    };
    if plan.is_empty() {
        write_report(out, &report, settings.format, style)?;
        return Ok(if settings.no_fail { ExitStatus::Success } else { ExitStatus::Failure });
    }
    if settings.format == Format::Table {
        write_plan(out, &plan, now, style)?;
        out.flush()?;
    }
    let stoppable = plan.stoppable().count();
    if stoppable == 0 {
        if settings.format != Format::Table {
            write_report(out, &report, settings.format, style)?;
        }
        // The table above already says why, process by process.
        if plan.targets.is_empty() && plan.ownerless() {
            bail!("nothing was stopped: no process holds the listening socket, so none can be signalled");
        }
        bail!("nothing was stopped");
    }
    if settings.dry_run {
        write_report(out, &report, settings.format, style)?;
        return Ok(ExitStatus::Success);
    }
    if !settings.yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to stop {stoppable} process(es) without confirmation: stdin is not a terminal (pass --yes)");
        }
        if !confirm(stoppable).context("reading the answer")? {
            bail!("nothing was stopped (not confirmed)");
        }
    }
    let signalled = std::time::Instant::now();
    let mut outcomes = termination::execute(&system, &plan, settings.method);
    let verification = termination::verify(&system, &settings.request, &plan, settings.settle)
        .context("checking the ports again")?;
    termination::recheck_survivors(&system, &mut outcomes, &plan, signalled);
    let others =
        termination::other_sockets(&system, &settings.request).context("listing sockets")?;
    let report = KillReport {
        plan: &plan,
        dry_run: false,
        outcomes: Some(&outcomes),
        verification: Some(&verification),
        others: &others,
        elsewhere: &[],
        flags: &flags,
        now,
    };
    write_report(out, &report, settings.format, style)?;
    Ok(if verification.all_free() { ExitStatus::Success } else { ExitStatus::Error })
}

/// Asks the question on stderr and reads the answer from stdin; true for
/// `y` or `yes`.
fn confirm(count: usize) -> std::io::Result<bool> {
    write_question(&mut std::io::stderr().lock(), count)?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
