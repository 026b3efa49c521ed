//! Rendering of `porthole audit`: a table grouped by severity followed by a
//! one-line summary, a versioned JSON document, or a SARIF 2.1.0 log for
//! code-scanning tools.
//! See: <https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html>

use std::io::Write;

use serde::Serialize;

use crate::model::{
    AuditReport, Finding, LoginReport, Protocol, RuleId, ServiceIdentity, Severity,
};
use crate::render::json::SCHEMA_VERSION;
use crate::render::sanitize::{sanitize, Foreign};
use crate::render::table::{wrap_paragraph, Table};
use crate::render::Style;

/// How `audit` writes its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
    Sarif,
}

pub fn write(
    out: &mut impl Write,
    report: &AuditReport,
    format: AuditFormat,
    fail_on: Option<Severity>,
    style: Style,
) -> std::io::Result<()> {
    match format {
        AuditFormat::Table => write_table(out, report, fail_on, style),
        AuditFormat::Json => {
            crate::render::sanitize::write_json_pretty(
                &mut *out,
                &AuditRecord::from_report(report),
            )?;
            writeln!(out)
        }
        AuditFormat::Sarif => {
            crate::render::sanitize::write_json_pretty(&mut *out, &sarif(report))?;
            writeln!(out)
        }
    }
}

/// `127.0.0.1:6379/tcp`, `[::]:80/tcp`, or a Unix path.
pub fn endpoint(finding: &Finding) -> String {
    if finding.port == 0 {
        return finding.address.clone();
    }
    if finding.address.contains(':') {
        format!("[{}]:{}/{}", finding.address, finding.port, finding.protocol)
    } else {
        format!("{}:{}/{}", finding.address, finding.port, finding.protocol)
    }
}

fn write_table(
    out: &mut impl Write,
    report: &AuditReport,
    fail_on: Option<Severity>,
    style: Style,
) -> std::io::Result<()> {
    for severity in Severity::DESCENDING {
        let group: Vec<&Finding> =
            report.findings.iter().filter(|f| f.severity == severity).collect();
        if group.is_empty() {
            continue;
        }
        let title = format!("{} ({})", severity.as_str().to_ascii_uppercase(), group.len());
        let title = match severity {
            Severity::Critical | Severity::High => style.red(&style.bold(&title)),
            Severity::Medium => style.yellow(&style.bold(&title)),
            Severity::Low | Severity::Info => style.bold(&title),
        };
        writeln!(out, "{title}")?;
        let mut table = Table::new(&["RULE", "ENDPOINT", "SERVICE", "PROCESS", "EVIDENCE / FIX"]);
        for finding in group {
            // Paths, banners, process names and the evidence quoting them
            // come from other users.
            let process = match (finding.pid, &finding.process) {
                (Some(pid), Some(name)) => format!("{pid}/{}", Foreign(name)),
                (Some(pid), None) => pid.to_string(),
                _ => "-".into(),
            };
            table.push(vec![
                finding.rule.as_str().into(),
                sanitize(&endpoint(finding)).into_owned(),
                finding.service.as_deref().map_or_else(|| "-".into(), |s| sanitize(s).into_owned()),
                process,
                sanitize(&finding.evidence).into_owned(),
            ]);
            table.push(vec![
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                style.dim(&format!("fix: {}", Foreign(&finding.fix))),
            ]);
        }
        // Evidence and fixes are sentences: on a terminal they wrap between
        // words under their column (never mid-word, never cut).
        table.write_wrapped(out, style.width, "  ")?;
        writeln!(out)?;
    }
    // Stop reasons quote server error messages; accounts may come from the
    // site's file.
    for login in &report.logins {
        writeln!(out, "{}", Foreign(&login_line(login)))?;
    }
    if let Some(note) = &report.packages.note {
        writeln!(out, "outdated-package: {}", Foreign(note))?;
    }
    writeln!(out, "{}", wrap_paragraph(&summary(report, fail_on), style.width, 2))
}

/// `weak-password: redis on 127.0.0.1:6379: 3 attempts (default ×3), none
/// accepted` — what the login attempts did, with or without a finding.
pub fn login_line(login: &LoginReport) -> String {
    let place = if login.address.contains(':') {
        format!("[{}]:{}", login.address, login.port)
    } else {
        format!("{}:{}", login.address, login.port)
    };
    let accounts: Vec<String> =
        login.accounts.iter().map(|(user, count)| format!("{user} ×{count}")).collect();
    let mut line = format!(
        "weak-password: {} on {place}: {} attempt{} ({})",
        login.service,
        login.attempts,
        if login.attempts == 1 { "" } else { "s" },
        accounts.join(", ")
    );
    match (&login.accepted, &login.password) {
        (Some(user), Some(password)) => {
            line.push_str(&format!(", accepted as {user} with password {password}"))
        }
        (Some(user), None) => {
            line.push_str(&format!(", accepted as {user} (--show reveals the password)"))
        }
        (None, _) => line.push_str(", none accepted"),
    }
    if let Some(stopped) = &login.stopped {
        line.push_str(&format!("; {stopped}"));
    }
    if !login.not_tried.is_empty() {
        let accounts: Vec<String> =
            login.not_tried.iter().map(|(user, count)| format!("{user} ×{count}")).collect();
        line.push_str(&format!("; not tried: {}", accounts.join(", ")));
    }
    if let Some(command) = &login.unblock {
        line.push_str(&format!(
            "; unblock it with `{command}` (as root, whom the socket lets in; add -p if root has a password), then audit again"
        ));
    }
    if login.left_out > 0 {
        line.push_str(&format!("; {} more candidates left for another run", login.left_out));
    }
    line
}

/// `3 findings (1 critical, 2 high) on 12 listeners, 9 probed in 2.4s; …`
pub fn summary(report: &AuditReport, fail_on: Option<Severity>) -> String {
    let counts: Vec<String> = Severity::DESCENDING
        .iter()
        .filter_map(|&s| {
            let count = report.count(s);
            (count > 0).then(|| format!("{count} {s}"))
        })
        .collect();
    let found = if report.findings.is_empty() {
        "no findings".to_string()
    } else {
        format!(
            "{} finding{} ({})",
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" },
            counts.join(", ")
        )
    };
    let firewall = match (&report.firewall.source, &report.firewall.input_policy) {
        (Some(source), Some(policy)) => format!("{source} input policy {policy}"),
        _ => "firewall unknown".into(),
    };
    let firewall = match &report.firewall.ipv6 {
        Some(ipv6) => format!("{firewall} (IPv4), {ipv6} (IPv6)"),
        None => firewall,
    };
    let gate = match fail_on {
        Some(threshold) if report.worst().is_some_and(|w| w >= threshold) => {
            format!("; failing: findings at or above {threshold}")
        }
        _ => String::new(),
    };
    format!(
        "audit: {found} on {} listener{}, {} probed in {:.1}s; {firewall}{gate}",
        report.listeners,
        if report.listeners == 1 { "" } else { "s" },
        report.probed,
        report.elapsed_ms as f64 / 1000.0
    )
}

/// Redraws the progress line on stderr (only called on a terminal).
#[expect(clippy::print_stderr, reason = "progress belongs on stderr")]
pub fn progress(done: usize, total: usize) {
    eprint!("\rporthole: probing {done}/{total}…\x1b[K");
}

/// Clears the progress line.
#[expect(clippy::print_stderr, reason = "progress belongs on stderr")]
pub fn progress_done() {
    eprint!("\r\x1b[K");
}

/// `porthole audit --json`.
#[derive(Debug, Serialize)]
pub struct AuditRecord {
    pub schema_version: u32,
    pub summary: SummaryRecord,
    pub firewall: FirewallRecord,
    pub findings: Vec<FindingRecord>,
    pub services: Vec<ServiceRecord>,
    /// `weak-password` login attempts (`--active`), one per service.
    pub logins: Vec<LoginRecord>,
    /// The package lists `outdated-package` compared against.
    pub packages: PackagesRecord,
    /// What the audit could not see, one sentence each (a pg_hba.conf it
    /// could not read, a MySQL/MariaDB that refused this machine): the
    /// lines stderr shows after `porthole: not seen:`.
    pub not_seen: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PackagesRecord {
    pub checked: bool,
    pub lists_directory: Option<String>,
    /// Age of the newest package list; null when there are none.
    pub lists_age_seconds: Option<u64>,
    /// dnf's metadata cache, present when rpm owns a checked file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnf_cache_directory: Option<String>,
    /// Age of dnf's metadata cache; absent without a cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnf_cache_age_seconds: Option<u64>,
    pub note: Option<String>,
}

/// The login attempts against one service. `password` is present only
/// with `--show`.
#[derive(Debug, Serialize)]
pub struct LoginRecord {
    pub local_address: String,
    pub local_port: u16,
    pub net_namespace: Option<u64>,
    pub service: String,
    pub attempts: usize,
    pub accounts: Vec<LoginAccountRecord>,
    pub accepted_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from_site_list: bool,
    pub stopped: Option<String>,
    pub left_out: usize,
    /// Accounts not tried because the attempts stopped early.
    pub not_tried: Vec<LoginAccountRecord>,
    /// The command that unblocks this machine's address (ERR 1129).
    pub unblock: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LoginAccountRecord {
    pub user: String,
    pub attempts: usize,
}

impl LoginRecord {
    fn from_login(login: &LoginReport) -> Self {
        LoginRecord {
            local_address: login.address.clone(),
            local_port: login.port,
            net_namespace: login.net_namespace,
            service: login.service.clone(),
            attempts: login.attempts,
            accounts: login
                .accounts
                .iter()
                .map(|(user, attempts)| LoginAccountRecord {
                    user: user.clone(),
                    attempts: *attempts,
                })
                .collect(),
            accepted_user: login.accepted.clone(),
            password: login.password.clone(),
            from_site_list: login.from_site_list,
            stopped: login.stopped.clone(),
            left_out: login.left_out,
            not_tried: login
                .not_tried
                .iter()
                .map(|(user, attempts)| LoginAccountRecord {
                    user: user.clone(),
                    attempts: *attempts,
                })
                .collect(),
            unblock: login.unblock.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SummaryRecord {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub listeners: usize,
    pub probed: usize,
    pub elapsed_ms: u64,
    /// Owner processes whose binaries and libraries could not be checked.
    pub uninspected_processes: usize,
    pub hidden_owners: usize,
}

#[derive(Debug, Serialize)]
pub struct FirewallRecord {
    pub source: Option<String>,
    pub input_policy: Option<String>,
    pub note: Option<String>,
    /// The IPv6 input chain in words, when it differs from the one above.
    pub ipv6: Option<String>,
}

/// One finding. Field names are those of `ls --json` where they overlap.
#[derive(Debug, Serialize)]
pub struct FindingRecord {
    pub rule: &'static str,
    pub severity: &'static str,
    pub protocol: &'static str,
    /// `null` for a Unix socket (see `path`).
    pub local_address: Option<String>,
    /// 0 for a Unix socket.
    pub local_port: u16,
    /// The Unix socket's path; `null` for TCP and UDP.
    pub path: Option<String>,
    pub service: Option<String>,
    pub pid: Option<u32>,
    /// The owning process's name (`name` in a process object).
    pub process_name: Option<String>,
    pub unit: Option<String>,
    pub net_namespace: Option<u64>,
    pub evidence: String,
    pub fix: String,
}

impl FindingRecord {
    pub fn from_finding(finding: &Finding) -> Self {
        FindingRecord {
            rule: finding.rule.as_str(),
            severity: finding.severity.as_str(),
            protocol: finding.protocol.as_str(),
            local_address: (finding.protocol != Protocol::Unix).then(|| finding.address.clone()),
            local_port: finding.port,
            path: (finding.protocol == Protocol::Unix).then(|| finding.address.clone()),
            service: finding.service.clone(),
            pid: finding.pid,
            process_name: finding.process.clone(),
            unit: finding.unit.clone(),
            net_namespace: finding.net_namespace,
            evidence: finding.evidence.clone(),
            fix: finding.fix.clone(),
        }
    }
}

/// What a probe identified on one listener.
#[derive(Debug, Serialize)]
pub struct ServiceRecord {
    pub protocol: &'static str,
    pub local_address: String,
    pub local_port: u16,
    pub net_namespace: Option<u64>,
    pub service: Option<String>,
    pub version: Option<String>,
    pub tls: bool,
    pub probes: Vec<String>,
    pub note: Option<String>,
    pub pids: Vec<u32>,
}

impl ServiceRecord {
    fn from_identity(identity: &ServiceIdentity) -> Self {
        ServiceRecord {
            protocol: identity.protocol.as_str(),
            local_address: identity.address.clone(),
            local_port: identity.port,
            net_namespace: identity.net_namespace,
            service: identity.service.clone(),
            version: identity.version.clone(),
            tls: identity.tls,
            probes: identity.probes.clone(),
            note: identity.note.clone(),
            pids: identity.pids.clone(),
        }
    }
}

impl AuditRecord {
    pub fn from_report(report: &AuditReport) -> Self {
        AuditRecord {
            schema_version: SCHEMA_VERSION,
            summary: SummaryRecord {
                critical: report.count(Severity::Critical),
                high: report.count(Severity::High),
                medium: report.count(Severity::Medium),
                low: report.count(Severity::Low),
                info: report.count(Severity::Info),
                listeners: report.listeners,
                probed: report.probed,
                elapsed_ms: report.elapsed_ms,
                uninspected_processes: report.uninspected_processes,
                hidden_owners: report.hidden_owners,
            },
            firewall: FirewallRecord {
                source: report.firewall.source.clone(),
                input_policy: report.firewall.input_policy.clone(),
                note: report.firewall.note.clone(),
                ipv6: report.firewall.ipv6.clone(),
            },
            findings: report.findings.iter().map(FindingRecord::from_finding).collect(),
            services: report.services.iter().map(ServiceRecord::from_identity).collect(),
            logins: report.logins.iter().map(LoginRecord::from_login).collect(),
            packages: PackagesRecord {
                checked: report.packages.checked,
                lists_directory: report.packages.directory.clone(),
                lists_age_seconds: report.packages.age_seconds,
                dnf_cache_directory: report.packages.dnf_cache_directory.clone(),
                dnf_cache_age_seconds: report.packages.dnf_cache_age_seconds,
                note: report.packages.note.clone(),
            },
            not_seen: report.unread.clone(),
        }
    }
}

/// SARIF levels: error for critical/high, warning for medium, note below.
fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's numeric `security-severity` (0–10).
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// The SARIF 2.1.0 log: one run, every rule in the driver, one result per
/// finding located by a logical location (the endpoint).
pub fn sarif(report: &AuditReport) -> serde_json::Value {
    use serde_json::json;
    let rules: Vec<serde_json::Value> = RuleId::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.as_str(),
                "name": rule.as_str(),
                "shortDescription": { "text": rule.summary() },
                "help": { "text": rule.help() },
                "properties": { "tags": ["security"] },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|finding| {
            let index = RuleId::ALL.iter().position(|r| *r == finding.rule).unwrap_or(0);
            let place = endpoint(finding);
            let mut text = format!("{}: {}", place, finding.evidence);
            if let Some(service) = &finding.service {
                text = format!("{place} ({service}): {}", finding.evidence);
            }
            json!({
                "ruleId": finding.rule.as_str(),
                "ruleIndex": index,
                "level": sarif_level(finding.severity),
                "message": { "text": format!("{text}. Fix: {}", finding.fix) },
                "locations": [{
                    "logicalLocations": [{
                        "name": place,
                        "fullyQualifiedName": format!("{}://{}", finding.protocol, place.trim_end_matches(&format!("/{}", finding.protocol))),
                        "kind": "resource",
                    }],
                }],
                "partialFingerprints": {
                    "portholeFinding/v1": format!("{}|{}|{}|{}", finding.rule, finding.protocol, finding.address, finding.port),
                },
                "properties": {
                    "severity": finding.severity.as_str(),
                    "security-severity": security_severity(finding.severity),
                    "protocol": finding.protocol.as_str(),
                    "local_address": (finding.protocol != Protocol::Unix).then_some(&finding.address),
                    "local_port": finding.port,
                    "path": (finding.protocol == Protocol::Unix).then_some(&finding.address),
                    "service": finding.service,
                    "pid": finding.pid,
                    "process_name": finding.process,
                    "unit": finding.unit,
                    "evidence": finding.evidence,
                    "fix": finding.fix,
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "porthole",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/porthole/porthole",
                    "rules": rules,
                },
            },
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn report() -> AuditReport {
        AuditReport {
            findings: vec![Finding {
                rule: RuleId::NoAuth,
                severity: Severity::Critical,
                port: 6379,
                address: "0.0.0.0".into(),
                protocol: Protocol::Tcp,
                service: Some("redis 7.0.15".into()),
                pid: Some(812),
                process: Some("redis-server".into()),
                unit: None,
                net_namespace: None,
                evidence: "sent PING → +PONG".into(),
                fix: "set requirepass".into(),
            }],
            listeners: 3,
            probed: 2,
            elapsed_ms: 1234,
            ..AuditReport::default()
        }
    }

    #[test]
    fn table_groups_by_severity_and_ends_with_a_summary() {
        let mut out = Vec::new();
        write(&mut out, &report(), AuditFormat::Table, Some(Severity::High), Style::plain())
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("CRITICAL (1)\n  RULE"), "{text}");
        assert!(
            text.contains("no-auth  0.0.0.0:6379/tcp  redis 7.0.15  812/redis-server  sent PING")
        );
        assert!(text.contains("fix: set requirepass"));
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            "audit: 1 finding (1 critical) on 3 listeners, 2 probed in 1.2s; firewall unknown; failing: findings at or above high"
        );
    }

    #[test]
    fn sarif_has_the_required_shape() {
        let log = sarif(&report());
        assert_eq!(log["version"], "2.1.0");
        assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "porthole");
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), RuleId::ALL.len());
        let result = &run["results"][0];
        assert_eq!(result["ruleId"], "no-auth");
        assert_eq!(result["level"], "error");
        assert_eq!(result["ruleIndex"], 1);
        assert!(result["message"]["text"].as_str().unwrap().contains("PONG"));
        assert_eq!(result["locations"][0]["logicalLocations"][0]["name"], "0.0.0.0:6379/tcp");
    }

    fn login(password: Option<&str>) -> LoginReport {
        LoginReport {
            port: 6379,
            address: "127.0.0.1".into(),
            service: "redis".into(),
            accounts: vec![("default".into(), 3), ("admin".into(), 1)],
            attempts: 4,
            accepted: Some("admin".into()),
            password: password.map(str::to_string),
            ..LoginReport::default()
        }
    }

    #[test]
    fn login_attempts_are_counted_and_the_password_stays_hidden() {
        let hidden = login(None);
        assert_eq!(
            login_line(&hidden),
            "weak-password: redis on 127.0.0.1:6379: 4 attempts (default ×3, admin ×1), accepted as admin (--show reveals the password)"
        );
        let record = serde_json::to_value(LoginRecord::from_login(&hidden)).unwrap();
        assert!(record.get("password").is_none(), "{record}");
        assert_eq!(record["accounts"][0]["attempts"], 3);

        let shown = login(Some("admin"));
        assert!(login_line(&shown).ends_with("accepted as admin with password admin"));
        let record = serde_json::to_value(LoginRecord::from_login(&shown)).unwrap();
        assert_eq!(record["password"], "admin");

        let stopped = LoginReport {
            accepted: None,
            attempts: 1,
            accounts: vec![("postgres".into(), 1)],
            stopped: Some("a failed login took 2.0s".into()),
            ..login(None)
        };
        assert_eq!(
            login_line(&stopped),
            "weak-password: redis on 127.0.0.1:6379: 1 attempt (postgres ×1), none accepted; a failed login took 2.0s"
        );
        let blocked = LoginReport {
            service: "mysql".into(),
            port: 3306,
            accepted: None,
            attempts: 1,
            accounts: vec![("root".into(), 1)],
            stopped: Some(
                "lockout or rate-limit sign (ERR 1129 Host blocked), no more attempts".into(),
            ),
            not_tried: vec![("root".into(), 2)],
            unblock: Some("mariadb-admin --socket=/run/mysqld/mysqld.sock flush-hosts".into()),
            ..login(None)
        };
        assert_eq!(
            login_line(&blocked),
            "weak-password: mysql on 127.0.0.1:3306: 1 attempt (root ×1), none accepted; lockout or rate-limit sign (ERR 1129 Host blocked), no more attempts; not tried: root ×2; unblock it with `mariadb-admin --socket=/run/mysqld/mysqld.sock flush-hosts` (as root, whom the socket lets in; add -p if root has a password), then audit again"
        );
        let record = serde_json::to_value(LoginRecord::from_login(&blocked)).unwrap();
        assert_eq!(record["not_tried"][0]["attempts"], 2);
        assert_eq!(record["unblock"], "mariadb-admin --socket=/run/mysqld/mysqld.sock flush-hosts");
    }

    #[test]
    fn server_text_in_stop_reasons_is_made_visible() {
        let mut report = report();
        report.logins = vec![LoginReport {
            stopped: Some("stopped: ERR 1045 \x1b[31mred\nline".into()),
            ..login(None)
        }];
        let mut out = Vec::new();
        write_table(&mut out, &report, None, Style::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("ERR 1045 \\x1b[31mred\\nline"), "{text}");
    }

    #[test]
    fn package_list_notes_precede_the_summary() {
        let mut report = report();
        report.packages.note =
            Some("no package lists: run `apt-get update` to compare versions".into());
        let mut out = Vec::new();
        write_table(&mut out, &report, None, Style::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[lines.len() - 2],
            "outdated-package: no package lists: run `apt-get update` to compare versions"
        );
        let json = serde_json::to_value(AuditRecord::from_report(&report)).unwrap();
        assert_eq!(json["packages"]["lists_age_seconds"], serde_json::Value::Null);
    }
}
