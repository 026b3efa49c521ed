//! Alerts of `porthole monitor`, as people, journald and programs see them:
//! one `key=value` log line on stderr, and one JSON object — the
//! `{"type":"alert",…}` line of `--jsonl`, the stdin of `--on-alert` and
//! the body of `--webhook` are the same object.

use std::fmt::Write as _;

use serde::Serialize;

use super::json::SCHEMA_VERSION;
use super::monitor::{rfc3339, ProcessLine};
use crate::model::alert::Alert;
use crate::model::monitor::UnixMicros;

/// One alert as JSON.
#[derive(Debug, Serialize)]
pub struct AlertLine {
    /// Always `alert`, so the object can share a stream with the events.
    #[serde(rename = "type")]
    pub kind_of_line: &'static str,
    pub schema_version: u32,
    /// The rule: `new-exposed-listener`, `watched-port`,
    /// `unexpected-user`, `audit-finding` or `new-client`.
    pub alert: &'static str,
    pub at: String,
    pub at_us: UnixMicros,
    pub protocol: &'static str,
    /// The listener's address and port (for `new-client`, the server's).
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    pub path: Option<String>,
    /// The exact bytes of `path`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    pub net_namespace: Option<u64>,
    pub uid: Option<u32>,
    /// The listener's owner, or the new client.
    pub process: Option<ProcessLine>,
    /// `new-client`: the server process.
    pub server_process: Option<ProcessLine>,
    pub finding: Option<FindingLine>,
    pub reason: String,
}

/// The audit finding behind an `audit-finding` alert.
#[derive(Debug, Serialize)]
pub struct FindingLine {
    pub rule: &'static str,
    pub severity: &'static str,
    pub service: Option<String>,
    pub evidence: String,
    pub fix: String,
}

/// The wire form of an alert.
pub fn alert_line(alert: &Alert) -> AlertLine {
    AlertLine {
        kind_of_line: "alert",
        schema_version: SCHEMA_VERSION,
        alert: alert.kind.as_str(),
        at: rfc3339(alert.at),
        at_us: alert.at,
        protocol: alert.protocol.as_str(),
        local_address: alert.local.map(|local| local.ip().to_string()),
        local_port: alert.local.map(|local| local.port()),
        path: alert.path.clone(),
        path_bytes: super::json::path_bytes(alert.path.as_deref()),
        net_namespace: alert.net_namespace,
        uid: alert.uid,
        process: alert.process.as_ref().map(ProcessLine::of),
        server_process: alert.server_process.as_ref().map(ProcessLine::of),
        finding: alert.finding.as_ref().map(|finding| FindingLine {
            rule: finding.rule.as_str(),
            severity: finding.severity.as_str(),
            service: finding.service.clone(),
            evidence: finding.evidence.clone(),
            fix: finding.fix.clone(),
        }),
        reason: alert.reason.clone(),
    }
}

/// The alert as one JSON line (with the newline).
pub fn json(alert: &Alert) -> Vec<u8> {
    let mut bytes = Vec::new();
    super::sanitize::write_json(&mut bytes, &alert_line(alert))
        .expect("an alert line always serialises");
    bytes.push(b'\n');
    bytes
}

/// The stderr line: `porthole monitor: alert KIND key=value …`, every
/// value that came from elsewhere sanitised and quoted when it has to be,
/// so journald and `grep` see one line per alert.
pub fn log_line(alert: &Alert) -> String {
    let mut line = format!("porthole monitor: alert {}", alert.kind.as_str());
    let mut field = |key: &str, value: &str| {
        let _ = write!(line, " {key}={}", quoted(value));
    };
    field("protocol", alert.protocol.as_str());
    if let Some(local) = alert.local {
        field("address", &local.ip().to_string());
        field("port", &local.port().to_string());
    }
    if let Some(path) = &alert.path {
        field("path", path);
    }
    if let Some(net_namespace) = alert.net_namespace {
        field("netns", &net_namespace.to_string());
    }
    if let Some(process) = &alert.process {
        field("process", &process.name);
        field("pid", &process.pid.to_string());
        if let Some(exe) = &process.exe {
            field("exe", exe);
        }
        if let Some(user) = &process.user {
            field("user", user);
        }
    }
    if let Some(uid) = alert.uid {
        field("uid", &uid.to_string());
    }
    if let Some(server) = &alert.server_process {
        field("server", &server.name);
        field("server_pid", &server.pid.to_string());
    }
    if let Some(finding) = &alert.finding {
        field("rule", finding.rule.as_str());
        field("severity", finding.severity.as_str());
    }
    field("reason", &alert.reason);
    line
}

/// Which rules are in force, on stderr at start.
pub fn rules_line(source: Option<&std::path::Path>) -> String {
    match source {
        Some(path) => format!(
            "porthole monitor: alert rules from {}",
            crate::render::sanitize::sanitize(&path.display().to_string())
        ),
        None => "porthole monitor: built-in alert rules (no alerts.toml found)".to_string(),
    }
}

/// The closing line about alerts, on stderr.
pub fn summary_line(summary: &AlertSummary) -> String {
    let plural = if summary.raised == 1 { "" } else { "s" };
    let mut line = format!("porthole monitor: {} alert{plural}", summary.raised);
    if let Some(commands) = &summary.commands {
        let _ = write!(
            line,
            "; --on-alert: {} ran, {} failed, {} dropped (all runners busy), {} unfinished",
            commands.succeeded, commands.failed, commands.dropped, commands.unfinished
        );
    }
    if let Some(webhook) = &summary.webhook {
        let _ = write!(
            line,
            "; --webhook: {} delivered, {} failed, {} dropped (queue full), {} undelivered at stop",
            webhook.delivered, webhook.failed, webhook.dropped, webhook.undelivered
        );
    }
    if summary.held_back > 0 {
        let _ = write!(
            line,
            "; {} held back (the same program back on the same address within repeat_after)",
            summary.held_back
        );
    }
    if summary.audits_skipped > 0 {
        let _ = write!(line, "; {} new listeners not audited (queue full)", summary.audits_skipped);
    }
    line
}

/// Totals for [`summary_line`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AlertSummary {
    pub raised: u64,
    pub commands: Option<CommandTotals>,
    pub webhook: Option<WebhookTotals>,
    pub audits_skipped: u64,
    /// Alerts not delivered: a listener's program came back within
    /// `repeat_after` of its last alert.
    pub held_back: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommandTotals {
    pub succeeded: u64,
    pub failed: u64,
    pub dropped: u64,
    pub unfinished: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookTotals {
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
    pub undelivered: u64,
}

/// A value as `key=value` (logfmt) needs it: sanitised, and in double
/// quotes (with `\"` and `\\` inside) when it is empty or holds spaces,
/// quotes or `=`.
fn quoted(value: &str) -> String {
    let visible = crate::render::sanitize::sanitize(value);
    let plain = !visible.is_empty()
        && !visible.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '='));
    if plain {
        return visible.into_owned();
    }
    let mut text = String::with_capacity(visible.len() + 2);
    text.push('"');
    for c in visible.chars() {
        if matches!(c, '"' | '\\') {
            text.push('\\');
        }
        text.push(c);
    }
    text.push('"');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::AlertKind;
    use crate::model::monitor::ProcessIdentity;
    use crate::model::Protocol;

    fn alert() -> Alert {
        Alert {
            at: 1_795_856_476_566_154,
            kind: AlertKind::NewExposedListener,
            protocol: Protocol::Tcp,
            local: Some("0.0.0.0:8080".parse().unwrap()),
            path: None,
            net_namespace: None,
            process: Some(ProcessIdentity {
                pid: 42,
                name: "evil\x1b[2Jname".into(),
                exe: Some("/opt/my app/bin".into()),
                user: Some("alice".into()),
                uid: 1000,
                ..ProcessIdentity::default()
            }),
            uid: Some(1000),
            server_process: None,
            finding: None,
            reason: "tcp 0.0.0.0:8080 is bound beyond loopback".into(),
        }
    }

    #[test]
    fn log_lines_escape_and_quote_other_users_text() {
        assert_eq!(
            log_line(&alert()),
            "porthole monitor: alert new-exposed-listener protocol=tcp address=0.0.0.0 \
             port=8080 process=evil\\x1b[2Jname pid=42 exe=\"/opt/my app/bin\" user=alice \
             uid=1000 reason=\"tcp 0.0.0.0:8080 is bound beyond loopback\""
        );
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(quoted(""), "\"\"");
    }

    #[test]
    fn json_shape() {
        let value: serde_json::Value = serde_json::from_slice(&json(&alert())).unwrap();
        assert_eq!(value["type"], "alert");
        assert_eq!(value["alert"], "new-exposed-listener");
        assert_eq!(value["schema_version"], SCHEMA_VERSION);
        assert_eq!(value["local_address"], "0.0.0.0");
        assert_eq!(value["local_port"], 8080);
        assert_eq!(value["at"], "2026-11-28T09:01:16.566154Z");
        assert_eq!(value["process"]["name"], "evil\x1b[2Jname", "JSON escapes by serialising");
        assert_eq!(value["finding"], serde_json::Value::Null);
    }
}
