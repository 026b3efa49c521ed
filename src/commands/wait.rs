//! `porthole wait TARGET… [-- COMMAND…]`: poll until every target (or any,
//! or none with `--down`) is ready, then run the command.
//!
//! The polling, the backoff and the explanation of a timeout are the
//! readiness engine's ([`readiness::wait`]); this command renders each
//! round it reports. Progress goes to stderr so the command's own output
//! stays clean; `--json` writes JSON Lines to stdout.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use crate::cli::args::WaitArgs;
use crate::cli::settings::WaitSettings;
use crate::commands::ExitStatus;
use crate::diagnose::readiness::{self, Round, WaitPolicy};
use crate::diagnose::Target;
use crate::inventory::system::Machine;
use crate::render::diagnosis::{
    attempts_summary, write_event, write_line, write_why_line, AttemptRecord, WaitEvent,
};
use crate::render::Format;

pub fn run(args: WaitArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = WaitSettings::resolve(args)?;
    let policy = WaitPolicy {
        readiness: settings.readiness.clone(),
        timeout: settings.timeout,
        interval: settings.interval,
        max_interval: settings.max_interval,
        any: settings.any,
        down: settings.down,
    };
    let json = settings.format == Format::Jsonl;
    let out = &mut super::Reported::new(out);
    let stderr = std::io::stderr();
    let mut progress = super::Reported::new(stderr.lock());
    if !json && !settings.quiet {
        // Why porthole looks where it does: the client's variables filled
        // parts of the URL (as psql or mariadb would).
        for (target, used) in settings.targets.iter().zip(&settings.from_environment) {
            if !used.is_empty() {
                let note = crate::diagnose::environment_note(used);
                write_line(&mut progress, &format!("asking {target}: {note}"))?;
            }
        }
    }
    let mut last_summary: Vec<String> = vec![String::new(); settings.targets.len()];
    let mut report = |index: usize, round: &Round, number: u64, satisfied: bool| {
        let target = &settings.targets[index];
        if json {
            report_json(out, target, round, number, settings.down)?;
        } else if !settings.quiet {
            let summary = match &round.resolve_error {
                _ if settings.down => readiness::down_summary(round),
                Some(error) => error.clone(),
                None => attempts_summary(&round.attempts),
            };
            if satisfied {
                // Up once is not up for good: should it go away before the
                // other targets are up, say so again.
                last_summary[index].clear();
            } else if summary != last_summary[index] {
                let waiting = if settings.down { " to go down" } else { "" };
                write_line(&mut progress, &format!("waiting for {target}{waiting}: {summary}"))?;
                last_summary[index] = summary;
            }
        }
        anyhow::Ok(())
    };
    let outcome = match &settings.namespace {
        None => readiness::wait(&Machine, &settings.targets, &policy, |event| {
            let readiness::WaitEvent::Round { index, round, number, satisfied, .. } = *event;
            report(index, round, number, satisfied)
        })?,
        Some(namespace) => {
            let mut outcome = wait_inside(namespace, &settings.targets, &policy, report)?;
            // The explanation's fix lines are read here, in the caller's
            // namespace: their commands must enter the one polled.
            // As `check --netns` rewrites them: a step's quoted commands
            // too, a machine-wide line (cgroups, BPF links) not.
            let prefix = crate::inventory::namespaces::exec_prefix(namespace);
            for target in &mut outcome.targets {
                for line in &mut target.why {
                    if let Some(command) = line.strip_prefix("fix: $ ") {
                        if !crate::diagnose::causes::acts_machine_wide(command) {
                            let inside = crate::inventory::namespaces::run_inside(&prefix, command);
                            *line = format!("fix: $ {inside}");
                        }
                    } else if let Some(step) = line.strip_prefix("fix: ") {
                        let inside = crate::audit::namespaces::fix_inside(&prefix, step, None);
                        *line = format!("fix: {inside}");
                    }
                }
            }
            outcome
        }
    };
    let done = |index: &usize| outcome.targets[*index].satisfied;
    let word = if settings.down { "down" } else { "ready" };
    // What the last round of a satisfied target saw.
    let how = |index: usize| match &outcome.targets[index].last_round {
        Some(round) if settings.down => readiness::down_summary(round),
        Some(round) => attempts_summary(&round.attempts),
        None => String::new(),
    };
    if outcome.satisfied {
        if json {
            write_event(
                out,
                &WaitEvent::Outcome {
                    outcome: word,
                    elapsed_ms: millis(outcome.polled),
                    pending: Vec::new(),
                    why: Vec::new(),
                },
            )?;
        } else if !settings.quiet {
            for (index, target) in settings.targets.iter().enumerate().filter(|(i, _)| done(i)) {
                let how = how(index);
                write_line(
                    &mut progress,
                    &format!("{word}: {target} after {} ({how})", seconds(outcome.polled)),
                )?;
            }
        }
        if settings.command.is_empty() {
            return Ok(ExitStatus::Success);
        }
        out.flush()?;
        return run_command(&settings.command);
    }
    // Timed out: the targets that are ready say so (with several, which
    // one holds the rest up is the question), then why, per pending one.
    if !json && !settings.quiet {
        for (index, target) in settings.targets.iter().enumerate().filter(|(i, _)| done(i)) {
            write_line(&mut progress, &format!("{word}: {target} ({})", how(index)))?;
        }
    }
    let mut pending = Vec::new();
    let mut why = Vec::new();
    for (index, target) in settings.targets.iter().enumerate().filter(|(i, _)| !done(i)) {
        pending.push(target.to_string());
        let lines = &outcome.targets[index].why;
        why.extend(lines.iter().map(|line| format!("{target}: {line}")));
        if !json && !settings.quiet {
            write_line(
                &mut progress,
                &format!(
                    "timed out after {}: {target} is {}",
                    // Polling stopped early to leave the explanation time:
                    // the run as a whole took the timeout.
                    seconds(settings.timeout.unwrap_or(outcome.polled)),
                    if settings.down { "still up" } else { "not ready" }
                ),
            )?;
            for line in lines {
                write_why_line(&mut progress, line)?;
            }
        }
    }
    if json {
        write_event(
            out,
            &WaitEvent::Outcome {
                outcome: "timeout",
                elapsed_ms: millis(outcome.elapsed),
                pending,
                why,
            },
        )?;
    }
    Ok(ExitStatus::Failure)
}

/// Polls from inside `namespace` (`--netns NAME|PATH`). The probes run on
/// a thread that entered it, while this thread, which owns stdout and later
/// runs the command, stays in the caller's namespace: each round crosses
/// over a channel to be reported here. When reporting fails (a closed
/// pipe), the channel closes and the polling thread stops at its next round.
fn wait_inside(
    namespace: &crate::inventory::NamespaceHandle,
    targets: &[Target],
    policy: &WaitPolicy,
    mut report: impl FnMut(usize, &Round, u64, bool) -> anyhow::Result<()>,
) -> anyhow::Result<readiness::WaitOutcome> {
    /// The reporting side is gone; stop polling.
    struct Closed;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel::<(usize, Round, u64, bool)>();
        let poller = scope.spawn(move || {
            crate::inventory::namespaces::within(namespace, || {
                readiness::wait(&Machine, targets, policy, |event| {
                    let readiness::WaitEvent::Round { index, round, number, satisfied, .. } =
                        *event;
                    sender.send((index, round.clone(), number, satisfied)).map_err(|_| Closed)
                })
            })
        });
        for (index, round, number, satisfied) in receiver {
            // Polling goes on inside a namespace the poller keeps alive;
            // once nothing else leads there, no server will ever come.
            if !crate::inventory::namespaces::still_there(namespace) {
                let path = namespace.path.clone();
                return Err(crate::inventory::namespaces::EnterError::Gone { path })
                    .context("wait");
            }
            report(index, &round, number, satisfied)?;
        }
        match poller.join() {
            Ok(Ok(Ok(outcome))) => Ok(outcome),
            Ok(Ok(Err(Closed))) => anyhow::bail!("wait: the report of a round was lost"),
            Ok(Err(error)) => Err(error).context("wait"),
            Err(_) => anyhow::bail!("wait: the polling thread panicked"),
        }
    })
}

fn report_json(
    out: &mut impl Write,
    target: &Target,
    round: &Round,
    number: u64,
    down: bool,
) -> anyhow::Result<()> {
    if let Some(error) = &round.resolve_error {
        write_event(
            out,
            &WaitEvent::Unresolved {
                target: target.to_string(),
                detail: error.clone(),
                round: number,
            },
        )?;
    }
    for attempt in &round.attempts {
        let ready = if down {
            attempt.outcome() != Some(crate::diagnose::Outcome::Connected)
                && round.listeners.as_ref().is_none_or(|listeners| listeners.is_empty())
        } else {
            attempt.healthy
        };
        write_event(
            out,
            &WaitEvent::Attempt {
                target: target.to_string(),
                attempt: AttemptRecord::from_attempt(attempt),
                ready,
                round: number,
            },
        )?;
    }
    Ok(())
}

/// Runs the command in place of porthole (`exec`, as `env`, `nice` and
/// wait-for-it's `exec "$@"` do): its status is the exit status, and
/// signals reach it, not a parent that would die of them and leave it
/// behind (Ctrl-C at a command that handles SIGINT, `docker stop` sending
/// SIGTERM to a container whose entrypoint is `porthole wait … -- server`).
/// A command that cannot start exits as a shell would make it: 127 when
/// it is not found, 126 when it is not executable, so a script can tell
/// that from porthole's own usage errors (2).
fn run_command(command: &[String]) -> anyhow::Result<ExitStatus> {
    use std::os::unix::process::CommandExt;
    let (program, args) = command.split_first().context("empty command")?;
    // Returns only when the command could not be started.
    let error = std::process::Command::new(program).args(args).exec();
    let (code, why) = match error.kind() {
        // ENOENT also comes from a file that exists whose interpreter (its
        // `#!` line) or ELF loader does not: "not found" would send the
        // user looking for the wrong file.
        std::io::ErrorKind::NotFound if found(program) => (
            127,
            "cannot execute: the interpreter on its #! line (or its loader) was not found"
                .to_string(),
        ),
        std::io::ErrorKind::NotFound => (127, "command not found".to_string()),
        std::io::ErrorKind::PermissionDenied => (126, "permission denied".to_string()),
        _ => (126, error.to_string()),
    };
    // `warn` shows the name through the one terminal sanitiser.
    crate::commands::warn(&format!("{program}: {why}"));
    Ok(ExitStatus::Code(code))
}

/// Whether `program` names a file: its path when it has a slash, else a
/// file of that name in a `PATH` directory, as `execvp` looks it up.
fn found(program: &str) -> bool {
    use crate::inventory::system::System;
    let system = Machine;
    if program.contains('/') {
        return system.exists(program);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    !program.is_empty()
        && path
            .split(':')
            .map(|directory| if directory.is_empty() { "." } else { directory })
            .any(|directory| system.exists(&format!("{directory}/{program}")))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
