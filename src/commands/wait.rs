//! `porthole wait TARGET… [-- COMMAND…]`: poll until every target (or any,
//! or none with `--down`) is ready, then run the command.
//!
//! Each round probes every resolved address of every pending target with
//! the readiness engine (self-connects and proxy variables cannot fool
//! it). Pauses grow by half per round up to `--max-interval`. On timeout the
//! diagnosis engine says why in one or two lines per target. Progress goes
//! to stderr so the command's own output stays clean; `--json` writes JSON
//! Lines to stdout.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::args::WaitArgs;
use crate::cli::settings::WaitSettings;
use crate::commands::ExitStatus;
use crate::diagnose::readiness::{self, Round};
use crate::diagnose::{Reply, Target};
use crate::render::diagnosis::{
    attempts_summary, write_event, write_line, AttemptRecord, WaitEvent,
};
use crate::render::Format;

/// The shortest connect timeout used when little time is left.
const MIN_PROBE: Duration = Duration::from_millis(50);

/// How `--timeout` is shared between polling and the diagnosis that
/// explains a timeout, so the whole run ends by the deadline: polling
/// stops early by a reserve (a fifth of the timeout at most), and each
/// pending target's diagnosis probes with half its share of the reserve
/// (a probe is a connect plus a read, each bounded by its timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// When polling stops.
    polling_deadline: Instant,
    /// Connect and read timeout of each explaining diagnosis.
    diagnosis_timeout: Duration,
}

impl Budget {
    fn new(started: Instant, timeout: Duration, connect_timeout: Duration, targets: usize) -> Self {
        let targets = u32::try_from(targets.max(1)).unwrap_or(u32::MAX);
        let reserve = (timeout / 5).min(connect_timeout * 2 * targets);
        Budget {
            polling_deadline: started + timeout.saturating_sub(reserve),
            diagnosis_timeout: (reserve / (2 * targets)).max(MIN_PROBE),
        }
    }
}

pub fn run(args: WaitArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = WaitSettings::resolve(args)?;
    let started = Instant::now();
    let budget = settings.timeout.map(|timeout| {
        Budget::new(started, timeout, settings.readiness.connect_timeout, settings.targets.len())
    });
    let deadline = budget.map(|b| b.polling_deadline);
    let json = settings.format == Format::Jsonl;
    let stderr = std::io::stderr();
    let mut progress = stderr.lock();
    let mut done = vec![false; settings.targets.len()];
    let mut last_rounds: Vec<Option<Round>> = vec![None; settings.targets.len()];
    let mut last_summary: Vec<String> = vec![String::new(); settings.targets.len()];
    // Self-connects seen per target: the kernel picks a random start in the
    // ephemeral range, so a later diagnosis may only see "refused".
    let mut self_connects = vec![0usize; settings.targets.len()];
    let mut interval = settings.interval;
    let mut round_number = 0u64;
    // Polling ends at the deadline; each probe's connect and read timeouts
    // are cut to what remains of it.
    let finished = loop {
        round_number += 1;
        for (index, target) in settings.targets.iter().enumerate() {
            if done[index] {
                continue;
            }
            let mut readiness = settings.readiness.clone();
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                readiness.connect_timeout = readiness.connect_timeout.min(left.max(MIN_PROBE));
            }
            let round = readiness::round(target, &readiness);
            // With --down, a name that no longer resolves is down too.
            let satisfied = if settings.down { !round.answering } else { round.ready };
            if json {
                report_json(out, target, &round, round_number, settings.down)?;
            } else if !settings.quiet {
                let summary = match &round.resolve_error {
                    Some(error) => error.clone(),
                    None => attempts_summary(&round.attempts),
                };
                if summary != last_summary[index] && !satisfied {
                    let waiting = if settings.down { " to go down" } else { "" };
                    write_line(
                        &mut progress,
                        &format!("waiting for {target}{waiting}: {summary}"),
                    )?;
                    last_summary[index] = summary;
                }
            }
            self_connects[index] += round
                .attempts
                .iter()
                .filter(|a| a.outcome() == Some(crate::diagnose::Outcome::SelfConnect))
                .count();
            done[index] = satisfied;
            last_rounds[index] = Some(round);
        }
        let satisfied =
            if settings.any { done.iter().any(|d| *d) } else { done.iter().all(|d| *d) };
        if satisfied {
            break true;
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break false;
        }
        let pause = match deadline {
            Some(deadline) => interval.min(deadline.saturating_duration_since(now)),
            None => interval,
        };
        std::thread::sleep(pause);
        interval = settings.max_interval.min(interval + interval / 2);
    };
    let elapsed = started.elapsed();
    if finished {
        let word = if settings.down { "down" } else { "ready" };
        if json {
            write_event(
                out,
                &WaitEvent::Outcome {
                    outcome: word,
                    elapsed_ms: millis(elapsed),
                    pending: Vec::new(),
                    why: Vec::new(),
                },
            )?;
        } else if !settings.quiet {
            for (index, target) in settings.targets.iter().enumerate().filter(|(i, _)| done[*i]) {
                let how = last_rounds[index]
                    .as_ref()
                    .map(|r| attempts_summary(&r.attempts))
                    .unwrap_or_default();
                write_line(
                    &mut progress,
                    &format!("{word}: {target} after {} ({how})", seconds(elapsed)),
                )?;
            }
        }
        if settings.command.is_empty() {
            return Ok(ExitStatus::Success);
        }
        out.flush()?;
        return run_command(&settings.command);
    }
    // Timed out: say why, per pending target.
    let mut pending = Vec::new();
    let mut why = Vec::new();
    for (index, target) in settings.targets.iter().enumerate().filter(|(i, _)| !done[*i]) {
        pending.push(target.to_string());
        let diagnosis_timeout = budget.map_or(settings.readiness.connect_timeout, |b| {
            b.diagnosis_timeout.min(settings.readiness.connect_timeout)
        });
        let mut lines = explain(target, last_rounds[index].as_ref(), &settings, diagnosis_timeout);
        if self_connects[index] > 0 && !settings.down {
            lines.insert(
                0,
                format!(
                    "self-connect: {} attempt(s) connected to themselves (the port is inside the ephemeral range); not counted as ready",
                    self_connects[index]
                ),
            );
        }
        why.extend(lines.iter().map(|line| format!("{target}: {line}")));
        if !json && !settings.quiet {
            write_line(
                &mut progress,
                &format!(
                    "timed out after {}: {target} is {}",
                    // Polling stopped early to leave the explanation time:
                    // the run as a whole took the timeout.
                    seconds(settings.timeout.unwrap_or(elapsed)),
                    if settings.down { "still up" } else { "not ready" }
                ),
            )?;
            for line in &lines {
                write_line(&mut progress, &format!("  {line}"))?;
            }
        }
    }
    if json {
        write_event(
            out,
            &WaitEvent::Outcome {
                outcome: "timeout",
                elapsed_ms: millis(started.elapsed()),
                pending,
                why,
            },
        )?;
    }
    Ok(ExitStatus::Failure)
}

/// The one or two lines for a target that never became ready; a diagnosis
/// probes with `diagnosis_timeout`.
fn explain(
    target: &Target,
    last: Option<&Round>,
    settings: &WaitSettings,
    diagnosis_timeout: Duration,
) -> Vec<String> {
    if let Some(round) = last {
        if settings.down {
            let up: Vec<_> = round
                .attempts
                .iter()
                .filter(|a| a.outcome() == Some(crate::diagnose::Outcome::Connected))
                .cloned()
                .collect();
            return vec![format!("last round: {}", attempts_summary(&up))];
        }
        if let Some(error) = &round.resolve_error {
            return vec![error.clone()];
        }
        // The service answers, only not as asked: say that, no diagnosis
        // needed.
        if let Some(attempt) =
            round.attempts.iter().find(|a| matches!(a.reply, Some(Reply::Http(_))))
        {
            return vec![format!("{}: {}", attempt.address, attempt.detail)];
        }
    }
    readiness::why_not_ready(target, diagnosis_timeout)
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

/// Runs the command with inherited stdio; its status becomes ours. A
/// command that cannot start exits as a shell would make it: 127 when it
/// is not found, 126 when it is not executable, so a script can tell that
/// from porthole's own usage errors (2).
fn run_command(command: &[String]) -> anyhow::Result<ExitStatus> {
    let (program, args) = command.split_first().context("empty command")?;
    let status = match std::process::Command::new(program).args(args).status() {
        Ok(status) => status,
        Err(error) => {
            let (code, why) = match error.kind() {
                std::io::ErrorKind::NotFound => (127, "command not found".to_string()),
                std::io::ErrorKind::PermissionDenied => (126, "permission denied".to_string()),
                _ => (126, error.to_string()),
            };
            crate::commands::warn(&format!("{}: {why}", program.escape_debug()));
            return Ok(ExitStatus::Code(code));
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        // Killed by a signal: the shell convention 128 + signal.
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    };
    Ok(ExitStatus::Code(u8::try_from(code).unwrap_or(1)))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_and_the_explanation_fit_in_the_timeout() {
        let started = Instant::now();
        let second = Duration::from_secs(1);
        let budget = Budget::new(started, 2 * second, second, 1);
        assert_eq!(budget.polling_deadline, started + Duration::from_millis(1600));
        assert_eq!(budget.diagnosis_timeout, Duration::from_millis(200));
        // A long timeout keeps at most two connect timeouts per target.
        let budget = Budget::new(started, 30 * second, second, 1);
        assert_eq!(budget.polling_deadline, started + 28 * second);
        assert_eq!(budget.diagnosis_timeout, second);
        for (timeout_ms, targets) in [(300, 1), (2000, 3), (10_000, 2), (60_000, 5)] {
            let timeout = Duration::from_millis(timeout_ms);
            let budget = Budget::new(started, timeout, second, targets);
            let explaining = budget.diagnosis_timeout * 2 * targets as u32;
            assert!(
                budget.polling_deadline + explaining <= started + timeout
                    || budget.diagnosis_timeout == MIN_PROBE,
                "{timeout_ms} ms, {targets} targets: {budget:?}"
            );
        }
    }
}
