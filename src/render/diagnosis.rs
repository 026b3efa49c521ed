//! `porthole check` and `porthole wait` output: the verdict, the evidence
//! (attempts per address, the listener table, causes with their proof) and
//! the fix; the JSON contract of `check --json`; the JSON Lines of `wait
//! --json`.

pub use crate::model::diagnosis::attempts_summary;
use std::io::Write;

use serde::Serialize;

use super::json::SocketRecord;
use super::listing::{write_sockets, ListingOptions};
use super::sanitize::{sanitize, shell_line, Foreign};
use super::table::Table;
use super::{Format, Style};
use crate::model::diagnosis::{Attempt, Cause, Diagnosis, Fix, ProbeAddress, Severity};
use crate::model::Snapshot;

/// `check --json`: exactly these keys (documented in the README).
#[derive(Debug, Serialize)]
pub struct DiagnosisRecord {
    /// The same version number as every other JSON output.
    pub schema_version: u32,
    pub target: String,
    pub ok: bool,
    pub attempts: Vec<AttemptRecord>,
    pub listeners: Vec<SocketRecord>,
    pub causes: Vec<CauseRecord>,
    /// The redirects of an HTTP target, in order (empty for none).
    pub redirects: Vec<RedirectRecord>,
}

/// One redirect: the URL that answered with it, and where it leads.
#[derive(Debug, Serialize)]
pub struct RedirectRecord {
    pub from: String,
    pub status: u16,
    /// The `Location` header as sent.
    pub location: String,
    /// `location` resolved against `from`; `null` when it is not an
    /// `http://` or `https://` URL.
    pub to: Option<String>,
    pub followed: bool,
    /// Why it was not followed (`null` when it was).
    pub not_followed: Option<String>,
}

/// One probe of one address.
#[derive(Debug, Serialize)]
pub struct AttemptRecord {
    /// IP address, or the socket path for `unix:` targets.
    pub address: String,
    /// `null` for Unix sockets.
    pub port: Option<u16>,
    /// `refused|no-socket-file|timeout|connected|reset|unreachable|denied|`
    /// `self-connect`, or for `--bind` trials `bound|in-use|denied|unavailable|failed`.
    pub outcome: &'static str,
    pub elapsed_ms: u64,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct CauseRecord {
    pub id: &'static str,
    /// `error` or `warning`.
    pub severity: &'static str,
    pub summary: String,
    pub evidence: Vec<String>,
    /// Every fix line, best first (commands and steps in words).
    pub fix: Vec<String>,
    /// The lines of `fix` that are shell commands, runnable as printed.
    pub fix_commands: Vec<String>,
}

impl AttemptRecord {
    pub fn from_attempt(attempt: &Attempt) -> Self {
        let (address, port) = match &attempt.address {
            ProbeAddress::Ip(address) => (address.ip().to_string(), Some(address.port())),
            // `fe80::1%eth0`: the address with the zone's name, as typed.
            ProbeAddress::Scoped { address, zone } => {
                (format!("{}%{zone}", address.ip()), Some(address.port()))
            }
            ProbeAddress::Unix(path) => (path.display().to_string(), None),
        };
        AttemptRecord {
            address,
            port,
            outcome: attempt.kind.as_str(),
            elapsed_ms: u64::try_from(attempt.elapsed.as_millis()).unwrap_or(u64::MAX),
            detail: attempt.detail.clone(),
        }
    }
}

impl DiagnosisRecord {
    pub fn from_diagnosis(diagnosis: &Diagnosis) -> Self {
        DiagnosisRecord {
            schema_version: super::json::SCHEMA_VERSION,
            target: diagnosis.target.clone(),
            ok: diagnosis.ok,
            attempts: diagnosis.attempts.iter().map(AttemptRecord::from_attempt).collect(),
            listeners: diagnosis
                .listeners
                .iter()
                .map(|s| SocketRecord::from_socket(s, &diagnosis.processes))
                .collect(),
            causes: diagnosis
                .causes
                .iter()
                .map(|c| CauseRecord {
                    id: c.id.as_str(),
                    severity: c.severity.as_str(),
                    summary: c.summary.clone(),
                    evidence: c.evidence.clone(),
                    fix: c.fix.iter().map(|f| f.text().to_string()).collect(),
                    fix_commands: c
                        .fix
                        .iter()
                        .filter(|f| f.is_command())
                        .map(|f| f.text().to_string())
                        .collect(),
                })
                .collect(),
            redirects: diagnosis
                .redirects
                .iter()
                .map(|redirect| RedirectRecord {
                    from: redirect.from.clone(),
                    status: redirect.status,
                    location: redirect.location.clone(),
                    to: redirect.to.clone(),
                    followed: redirect.not_followed.is_none(),
                    not_followed: redirect.not_followed.clone(),
                })
                .collect(),
        }
    }
}

/// Writes a diagnosis as text or JSON.
pub fn write_diagnosis(
    out: &mut dyn Write,
    diagnosis: &Diagnosis,
    format: Format,
    style: Style,
) -> std::io::Result<()> {
    if format != Format::Table {
        crate::render::sanitize::write_json_pretty(
            &mut *out,
            &DiagnosisRecord::from_diagnosis(diagnosis),
        )?;
        return writeln!(out);
    }
    write_verdict(out, diagnosis, style)?;
    if !diagnosis.attempts.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Attempts"))?;
        let mut table = Table::new(&["ADDRESS", "RESULT", "TIME", "DETAIL"]);
        for attempt in &diagnosis.attempts {
            let outcome = attempt.kind.as_str();
            let painted = if attempt.healthy { style.green(outcome) } else { style.red(outcome) };
            // The address may be a socket path, the detail a server's reply.
            table.push(vec![
                sanitize(&attempt.address.to_string()).into_owned(),
                painted,
                format!("{} ms", attempt.elapsed.as_millis()),
                sanitize(&attempt.detail).into_owned(),
            ]);
        }
        table.write(out, style.width, "  ")?;
    }
    if !diagnosis.redirects.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Redirects"))?;
        // `Location` is the server's text.
        for redirect in &diagnosis.redirects {
            writeln!(out, "  {}", Foreign(&redirect.line()))?;
        }
    }
    writeln!(out)?;
    if diagnosis.listeners.is_empty() {
        writeln!(out, "{}: none", style.bold("Listeners"))?;
    } else {
        writeln!(out, "{}", style.bold("Listeners"))?;
        let snapshot = Snapshot {
            sockets: diagnosis.listeners.clone(),
            processes: diagnosis.processes.clone(),
            user_names: diagnosis.user_names.clone(),
            ..Snapshot::default()
        };
        let sockets: Vec<&crate::model::Socket> = snapshot.sockets.iter().collect();
        let options = ListingOptions {
            remote: false,
            namespace: snapshot.sockets.iter().any(|s| s.net_namespace.is_some()),
            owners: true,
            long: false,
        };
        // Indented like the attempts table.
        let mut table = Vec::new();
        write_sockets(&mut table, &snapshot, &sockets, Format::Table, options, style)?;
        for line in String::from_utf8_lossy(&table).lines() {
            writeln!(out, "  {line}")?;
        }
    }
    for cause in &diagnosis.causes {
        writeln!(out)?;
        write_cause(out, cause, style)?;
    }
    Ok(())
}

fn write_verdict(out: &mut dyn Write, diagnosis: &Diagnosis, style: Style) -> std::io::Result<()> {
    match diagnosis.causes.first() {
        Some(cause) if !diagnosis.ok || cause.severity == Severity::Error => {
            writeln!(
                out,
                "{} {}",
                style.red(&format!("{}:", cause.id.as_str())),
                Foreign(&cause.summary)
            )
        }
        _ => {
            // After redirects, the last URL's answer is the one that counts.
            let answered = if diagnosis.redirects.is_empty() {
                diagnosis.attempts.iter().find(|a| a.healthy)
            } else {
                diagnosis.attempts.iter().rev().find(|a| a.healthy)
            }
            .map(|a| format!(" ({}: {})", Foreign(&a.address.to_string()), Foreign(&a.detail)))
            .unwrap_or_default();
            let redirected = match diagnosis.redirects.last() {
                Some(last) if last.location.is_empty() => {
                    format!(", but its {} has no readable Location header", last.status)
                }
                Some(last) => {
                    let to = last.to.as_deref().unwrap_or(&last.location);
                    match &last.not_followed {
                        None => format!(", redirected to {}", Foreign(to)),
                        Some(why) => format!(
                            ", and redirects to {}, not followed: {}",
                            Foreign(to),
                            Foreign(why)
                        ),
                    }
                }
                None => String::new(),
            };
            let warnings = diagnosis.causes.len();
            let note = if warnings > 0 {
                format!(", with {warnings} warning{}", if warnings == 1 { "" } else { "s" })
            } else {
                String::new()
            };
            // A `--bind` check tried binds, not connections: its success
            // means a server could bind the address, not that anything
            // answers there.
            let trial_binds = !diagnosis.attempts.is_empty()
                && diagnosis
                    .attempts
                    .iter()
                    .all(|a| matches!(a.kind, crate::model::diagnosis::AttemptKind::Bind(_)));
            let verdict = if trial_binds { "can be bound" } else { "is reachable" };
            writeln!(
                out,
                "{} {} {verdict}{redirected}{note}{answered}",
                style.green("OK:"),
                Foreign(&diagnosis.target)
            )
        }
    }
}

fn write_cause(out: &mut dyn Write, cause: &Cause, style: Style) -> std::io::Result<()> {
    let label = match cause.severity {
        Severity::Error => style.red("error"),
        Severity::Warning => style.yellow("warning"),
    };
    // Summaries, evidence and fixes quote process names, paths and server
    // replies: each line is sanitised whole.
    writeln!(out, "{label} {}: {}", style.bold(cause.id.as_str()), Foreign(&cause.summary))?;
    for line in &cause.evidence {
        writeln!(out, "  - {}", Foreign(line))?;
    }
    if !cause.fix.is_empty() {
        writeln!(out, "  fix:")?;
        // `$ ` marks what can be pasted; steps in words are not dressed as
        // commands. Fixes quote paths and names from other users: escaped.
        for fix in &cause.fix {
            match fix {
                Fix::Command(line) => writeln!(out, "    $ {}", shell_line(line))?,
                Fix::Step(line) => writeln!(out, "    {}", Foreign(line))?,
            }
        }
    }
    Ok(())
}

/// One `wait --json` line.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WaitEvent {
    /// One probe of one address.
    Attempt {
        target: String,
        #[serde(flatten)]
        attempt: AttemptRecord,
        /// This address counts as ready (as up, with `--down`: answering).
        ready: bool,
        /// Round number, from 1.
        round: u64,
    },
    /// A name did not resolve in this round.
    Unresolved { target: String, detail: String, round: u64 },
    /// The end: `ready` (or `down`) or `timeout`.
    Outcome {
        outcome: &'static str,
        elapsed_ms: u64,
        /// Targets that were not ready at the end.
        pending: Vec<String>,
        /// Why, one or two lines per pending target.
        why: Vec<String>,
    },
}

/// Writes one JSON line.
pub fn write_event(out: &mut dyn Write, event: &WaitEvent) -> std::io::Result<()> {
    crate::render::sanitize::write_json(&mut *out, event)?;
    writeln!(out)?;
    out.flush()
}

/// Writes a human progress or result line (wait writes these to stderr);
/// the line may quote replies and paths, so it is sanitised whole.
pub fn write_line(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
    writeln!(out, "{}", Foreign(line))?;
    out.flush()
}

/// Writes one line of why a wait timed out, indented: a `fix: $ COMMAND`
/// line keeps its command runnable as printed ([`shell_line`]), every other
/// line is sanitised whole.
pub fn write_why_line(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
    match line.strip_prefix("fix: $ ") {
        Some(command) => writeln!(out, "  fix: $ {}", shell_line(command))?,
        None => writeln!(out, "  {}", Foreign(line))?,
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diagnosis::CauseId;

    #[test]
    fn only_commands_are_printed_after_a_dollar_sign() {
        let diagnosis = Diagnosis {
            target: "127.0.0.1:1".into(),
            ok: false,
            attempts: Vec::new(),
            listeners: Vec::new(),
            processes: Default::default(),
            user_names: Default::default(),
            causes: vec![Cause {
                id: CauseId::ProcessStopped,
                severity: Severity::Error,
                summary: "stopped".into(),
                evidence: Vec::new(),
                fix: vec![Fix::command("kill -CONT 42"), Fix::step("or fg in its shell")],
            }],
            redirects: Vec::new(),
        };
        let mut text = Vec::new();
        write_diagnosis(&mut text, &diagnosis, Format::Table, Style::plain()).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("\n    $ kill -CONT 42\n"), "{text}");
        assert!(text.contains("\n    or fg in its shell\n"), "{text}");
        assert!(!text.contains("$ or fg"), "{text}");
        let record = DiagnosisRecord::from_diagnosis(&diagnosis);
        assert_eq!(record.causes[0].fix, ["kill -CONT 42", "or fg in its shell"]);
        assert_eq!(record.causes[0].fix_commands, ["kill -CONT 42"]);
    }

    /// A `Location` is the server's text wherever it is quoted: the
    /// verdict and the redirects.
    #[test]
    fn a_redirect_location_is_escaped_in_the_verdict_and_the_redirects() {
        let diagnosis = Diagnosis {
            target: "http://127.0.0.1:3000/".into(),
            ok: true,
            attempts: Vec::new(),
            listeners: Vec::new(),
            processes: Default::default(),
            user_names: Default::default(),
            causes: Vec::new(),
            redirects: vec![crate::model::diagnosis::Redirect {
                from: "http://127.0.0.1:3000/".into(),
                status: 302,
                location: "ftp://\u{1b}[2J\r\u{202e}x".into(),
                to: None,
                not_followed: Some("not an http:// or https:// URL".into()),
            }],
        };
        let mut text = Vec::new();
        write_diagnosis(&mut text, &diagnosis, Format::Table, Style::plain()).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(!text.contains(['\u{1b}', '\r', '\u{202e}']), "{text:?}");
        let shown = "ftp://\\x1b[2J\\r\\u202ex";
        assert!(
            text.starts_with(&format!(
                "OK: http://127.0.0.1:3000/ is reachable, and redirects to {shown}, not followed: not an http:// or https:// URL"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\nRedirects\n  http://127.0.0.1:3000/ answered 302, Location: {shown} (not followed: not an http:// or https:// URL)\n"
            )),
            "{text}"
        );
        let record = DiagnosisRecord::from_diagnosis(&diagnosis);
        assert_eq!(record.redirects[0].location, diagnosis.redirects[0].location);
        assert!(!record.redirects[0].followed);
    }

    #[test]
    fn why_lines_keep_fix_commands_runnable_and_escape_the_rest() {
        let mut out = Vec::new();
        write_why_line(&mut out, "fix: $ ip netns exec 'a\u{1b}[2J' sh -c 'cat /proc/7/wchan'")
            .unwrap();
        write_why_line(&mut out, "not-responding: python3\u{202e} sent nothing").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "  fix: $ ip netns exec \"$(printf 'a\\033[2J')\" sh -c 'cat /proc/7/wchan'\n\
             \x20 not-responding: python3\\u202e sent nothing\n"
        );
    }
}
