//! `porthole audit`: list listeners, probe them safely, run the rules, and
//! render findings as a table, JSON or SARIF. The exit status follows
//! `--fail-on` so CI jobs can gate on it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::Context;

use crate::audit::{self, AuditOptions};
use crate::cli::args::AuditArgs;
use crate::cli::settings::AuditSettings;
use crate::commands::{warn, ExitStatus};
use crate::inventory::system::{Machine, System};
use crate::model::AuditReport;
use crate::render::{self, Style};

pub fn run(args: AuditArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = AuditSettings::resolve(args)?;
    let mut snapshot = Machine.snapshot(&settings.query).context("listing sockets")?;
    if !settings.skip_ports.is_empty() {
        snapshot.sockets.retain(|socket| {
            socket.protocol == crate::model::Protocol::Unix
                || !settings.skip_ports.iter().any(|set| set.contains(socket.local_port()))
        });
    }
    // The progress line is redrawn with an erase-line sequence, which a
    // `TERM=dumb` terminal shows as text.
    let terminal = std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb");
    let options = AuditOptions {
        timeout: settings.timeout,
        active: settings.active,
        skip: settings.skip.clone(),
        site_passwords: settings.site_passwords.clone(),
        show_passwords: settings.show,
        // Progress redraws one line; only worth it for a person watching.
        progress: terminal
            .then(|| Arc::new(render::audit::progress) as Arc<dyn Fn(usize, usize) + Send + Sync>),
        ..AuditOptions::default()
    };
    let report = match &settings.query.named_namespace {
        Some(namespace) => audit::audit_in(&Machine, &snapshot, &options, namespace)
            .with_context(|| format!("auditing network namespace {}", namespace.path))?,
        None => audit::audit(&Machine, &snapshot, &options),
    };
    if terminal {
        render::audit::progress_done();
    }
    report_privileges(&report, snapshot.visibility.unreadable_namespaces);
    render::audit::write(out, &report, settings.format, settings.fail_on, Style::detect())?;
    let failed = match (settings.fail_on, report.worst()) {
        (Some(threshold), Some(worst)) => worst >= threshold,
        _ => false,
    };
    Ok(if failed { ExitStatus::Failure } else { ExitStatus::Success })
}

/// One stderr line saying what running as root would add; with `--netns
/// all`, that includes the namespaces whose listeners could not be read
/// (entering one needs root, and without it a namespace whose processes
/// are another user's cannot even be matched to them).
fn report_privileges(report: &AuditReport, unreadable_namespaces: usize) {
    let root = rustix::process::geteuid().is_root();
    for unread in &report.unread {
        warn(&format!("not seen: {unread}"));
    }
    if root {
        if unreadable_namespaces > 0 {
            // Usually gone between listing and reading (its last process
            // exited); the audit must not look complete all the same.
            warn(&format!(
                "{unreadable_namespaces} network namespace(s) could not be read (gone while porthole listed them, or not enterable): their listeners are not audited"
            ));
        }
        return;
    }
    let mut missing = Vec::new();
    if unreadable_namespaces > 0 {
        missing.push(format!(
            "the listeners of {unreadable_namespaces} other network namespace(s), and their firewalls"
        ));
    }
    if report.hidden_owners > 0 {
        missing.push(format!("the owners of {} listener(s)", report.hidden_owners));
    }
    if report.uninspected_processes > 0 {
        missing
            .push(format!("binary/library checks of {} process(es)", report.uninspected_processes));
    }
    if report.firewall.input_policy.is_none() {
        missing.push("the firewall input policy".into());
    }
    if !missing.is_empty() {
        warn(&format!("not root: run as root to add {}", missing.join(", ")));
    }
}
