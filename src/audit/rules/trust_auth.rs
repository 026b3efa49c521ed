//! `trust-auth`: PostgreSQL logged in `postgres`, its superuser, without a
//! password (`--active`), or its pg_hba.conf, read from disk (passive too),
//! has a `trust` line for an address that reaches the listener. A
//! superuser can run programs as the server's user (`COPY … FROM PROGRAM`).

use std::net::SocketAddr;

use super::Context;
use crate::audit::postgres_hba::{admitted, deciding, Admitted, HbaOnDisk};
use crate::audit::probes::pg_hba::{HbaRule, HbaRules, RecordSource, Trusted};
use crate::audit::probes::Observation;
use crate::audit::UnixSocketFile;
use crate::model::{Finding, RuleId, Scope, Severity};

/// The method the fixes of TCP lines put in place of `trust`.
const SCRAM: &str = "scram-sha-256";

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    if let Some(file) = &context.target.unix {
        return over_unix_socket(context, file).into_iter().collect();
    }
    // pg_hba.conf as read from disk: the server's lines when the session
    // could not show them, and the only evidence when no login got in.
    let disk = context.outcome.and_then(|o| o.hba_on_disk.as_ref());
    let on_disk = disk.and_then(HbaOnDisk::rules);
    let logged_in: Vec<Finding> = context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::TrustAuth { evidence, loopback_only, hba: view, address } => {
                // The server's own lines decide who else is trusted, as
                // the file has them where it can be read (the view drops
                // quotes); a second login from another address of the
                // machine is the fallback when no lines could be read.
                let deciding = deciding(view.as_ref(), on_disk);
                let judged = deciding.and_then(|(rules, quotes_seen)| {
                    let (network, lines) = judge(rules)?;
                    Some((network, if quotes_seen { lines } else { format!("{lines} {UNQUOTED}") }))
                });
                let hba = deciding.map(|(rules, _)| rules).or(on_disk).or(view.as_ref());
                let (network, evidence) = match (&judged, loopback_only) {
                    (Some((network, lines)), _) => (*network, format!("{evidence}; {lines}")),
                    (None, Some(local)) => (false, format!("{evidence}; {local}")),
                    (None, None) => (true, evidence.clone()),
                };
                // Other devices reaching the port meet a password when only
                // this machine is trusted: local users are who get in.
                let severity = if context.reachable_from_network() && network {
                    Severity::Critical
                } else {
                    Severity::High
                };
                Some(context.finding(
                    RuleId::TrustAuth,
                    severity,
                    evidence,
                    fix(context, hba, on_disk, *address),
                ))
            }
            _ => None,
        })
        .collect();
    if !logged_in.is_empty() {
        return logged_in;
    }
    match (disk, on_disk) {
        (Some(disk), Some(rules)) => from_the_file(context, rules, &disk.local_addresses),
        _ => Vec::new(),
    }
}

/// The `trust` lines of the file that admit an address the listener is
/// reachable from: its bind scope says whether loopback clients and the
/// machine's own addresses reach it, the firewall whether other devices
/// do. No login from this machine meets a line for a network that holds
/// none of its addresses (`host all all 192.0.2.0/24 trust`); every device
/// there gets in as any user, the superuser included.
fn from_the_file(
    context: &Context<'_>,
    rules: &HbaRules,
    local: &[(std::net::IpAddr, u8)],
) -> Vec<Finding> {
    let network = context.reachable_from_network();
    let reach = context.target.reach;
    let reached: Vec<(&HbaRule, Admitted)> = rules
        .tcp_trust()
        .into_iter()
        .filter(|rule| crate::audit::postgres_hba::names_someone(rule))
        .filter(|rule| match rule.network() {
            Some((std::net::IpAddr::V4(_), _)) => reach.v4,
            Some((std::net::IpAddr::V6(_), _)) => reach.v6,
            None => true,
        })
        .map(|rule| (rule, admitted(rule, local)))
        .filter(|(_, admits)| match context.target.scope {
            Scope::Loopback => admits.loopback,
            Scope::Wildcard => admits.loopback || admits.this_machine || (admits.others && network),
            Scope::Specific => admits.this_machine || (admits.others && network),
            Scope::Local => false,
        })
        .collect();
    // A line an earlier catch-all line answers first lets no one in (the
    // fix still edits it: it comes alive once the earlier line changes).
    let live = rules.unshadowed_trust();
    let alive: Vec<&(&HbaRule, Admitted)> =
        reached.iter().filter(|(rule, _)| live.iter().any(|l| std::ptr::eq(*l, *rule))).collect();
    if alive.is_empty() {
        return Vec::new();
    }
    let others = network && alive.iter().any(|(_, admits)| admits.others);
    let described: Vec<String> = alive
        .iter()
        .map(|(rule, admits)| {
            let host_name = rule.network().is_none()
                && !matches!(rule.address.as_deref(), Some("all" | "samehost" | "samenet"));
            // Who reaches this listener: a loopback one takes no client
            // from the machine's other addresses, a LAN one none from
            // loopback.
            let scope = context.target.scope;
            let this_machine = admits.this_machine && scope != Scope::Loopback;
            let loopback = admits.loopback && scope != Scope::Specific;
            let who = match (admits.others && network, this_machine, loopback) {
                (true, false, false) if host_name => {
                    "other devices: whoever the host name resolves to"
                }
                (true, false, false) => {
                    "other devices, from a network that holds none of this machine's addresses"
                }
                (true, _, _) => "other devices and this machine",
                (false, true, _) => "this machine's own addresses",
                (false, false, _) => "loopback clients",
            };
            // `hostssl` and `hostgssenc` lines match those connections only.
            let only = match rule.kind.as_deref() {
                Some("hostssl") => ", over TLS only",
                Some("hostgssenc") => ", over GSSAPI encryption only",
                _ => "",
            };
            let (file, line, text) = (rule.file(rules), rule.line_number, rule.text());
            format!("{file} line {line} `{text}` ({who}{only})")
        })
        .collect();
    // Without `--active` the file is all there is: no login was made.
    let logged_in = context
        .outcome
        .is_some_and(|o| o.probes.iter().any(|probe| probe.contains("StartupMessage")));
    let evidence = format!(
        "pg_hba.conf lets clients in without a password (`trust`), as any user its lines name: {}; {}",
        described.join(", "),
        if logged_in {
            // A line for another database, another user or another
            // network: the probe's login is simply not one it matches.
            "read from the file: the login made from this machine (user=postgres database=postgres) matches none of them"
        } else {
            "read from the file (no login was made: `--active` logs in to test it)"
        }
    );
    let lines: Vec<&HbaRule> = reached.iter().map(|(rule, _)| *rule).collect();
    let (edits, reload) = edit_and_reload(context, rules, &lines, None, None, SCRAM);
    Vec::from([context.finding(
        RuleId::TrustAuth,
        if others { Severity::Critical } else { Severity::High },
        evidence,
        format!(
            "change `trust` to `scram-sha-256` (clients then need a password): {}, then {reload}",
            edits.join(" and ")
        ),
    )])
}

/// A PostgreSQL on its Unix socket file: the `local … trust` lines of its
/// pg_hba.conf (and, with `--active`, the login they let in), graded by
/// who may connect to the file (the socket's mode, `unix_socket_permissions`,
/// and the directories above it). Every local user: high; a group: medium.
/// Only root and the socket's owner, the server's user, who reads the data
/// files anyway: no finding. `peer` lines are no finding either: the
/// server asks the kernel who connects.
fn over_unix_socket(context: &Context<'_>, file: &UnixSocketFile) -> Option<Finding> {
    let outcome = context.outcome?;
    if outcome.service.as_deref() != Some("postgresql") {
        return None;
    }
    let severity = file.database_severity()?;
    let rules = outcome.hba_on_disk.as_ref().and_then(HbaOnDisk::rules);
    let lines: Vec<&HbaRule> = rules
        .map(HbaRules::local_trust)
        .unwrap_or_default()
        .into_iter()
        .filter(|rule| crate::audit::postgres_hba::names_someone(rule))
        .collect();
    let login = context.observations().iter().find_map(|o| match o {
        Observation::LocalTrust { evidence } => Some(evidence.as_str()),
        _ => None,
    });
    if lines.is_empty() && login.is_none() {
        return None;
    }
    let described: Vec<String> = match rules {
        Some(rules) => lines
            .iter()
            .map(|r| format!("{} line {} `{}`", r.file(rules), r.line_number, r.text()))
            .collect(),
        None => Vec::new(),
    };
    let mut evidence = match login {
        Some(login) => login.to_string(),
        None => "read from the file (no login was made: `--active` logs in to test it)".into(),
    };
    if !described.is_empty() {
        evidence.push_str(&format!(
            "; pg_hba.conf lets local clients in without a password (`trust`), as any role its lines name: {}",
            described.join(", ")
        ));
    }
    evidence.push_str(&format!("; {}", file.described()));
    let path = crate::shell::word(&file.reached_at);
    let keep = match &outcome.postgres_config {
        Some(config) => format!(
            ", and `echo 'unix_socket_permissions = 0700' >> {}` to keep it so from the next restart",
            crate::shell::word(config)
        ),
        None => ", and `unix_socket_permissions = 0700` in postgresql.conf to keep it so from the next restart".into(),
    };
    let mut fix = format!("`chmod 700 {path}` now (until the server restarts){keep}");
    if let (Some(rules), false) = (rules, lines.is_empty()) {
        let (edits, reload) = edit_and_reload(context, rules, &lines, None, None, "peer");
        fix.push_str(&format!(
            "; or change `trust` to `peer` (each local user then logs in as the role of its own name only): {}, then {reload}",
            edits.join(" and ")
        ));
    }
    Some(context.finding(RuleId::TrustAuth, severity, evidence, fix))
}

/// Said of lines read from the server's `pg_hba_file_rules` view.
const UNQUOTED: &str = "(as the server's pg_hba_file_rules view shows them, without quotes: a quoted \"all\", a name, cannot be told there from the keyword all)";

/// Whether pg_hba.conf trusts other devices, and the lines that say so.
/// `None` when no reachable `trust` line explains the login (the file
/// changed on disk since the server read it).
fn judge(hba: &HbaRules) -> Option<(bool, String)> {
    let lines = hba.superuser_trust();
    let network: Vec<_> = lines.iter().filter(|r| r.trusted() == Trusted::Network).collect();
    let describe = |rules: &mut dyn Iterator<Item = &&crate::audit::probes::pg_hba::HbaRule>| {
        rules
            .map(|r| format!("{} line {} `{}`", r.file(hba), r.line_number, r.text()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !network.is_empty() {
        return Some((
            true,
            format!("other devices are trusted too: {}", describe(&mut network.iter().copied())),
        ));
    }
    if lines.is_empty() {
        return None;
    }
    let same_host = lines.iter().any(|r| r.trusted() == Trusted::ThisMachine);
    Some((
        false,
        format!(
            "pg_hba.conf trusts {} only ({}); other devices meet the lines after it",
            if same_host {
                "this machine's own addresses (`samehost`)"
            } else {
                "loopback clients"
            },
            describe(&mut lines.iter())
        ),
    ))
}

/// A password for `postgres` first (the change would lock it out over
/// TCP otherwise), then `trust` → `scram-sha-256` on the very lines of the
/// file the server reads, then a reload of that server.
fn fix(
    context: &Context<'_>,
    hba: Option<&HbaRules>,
    disk: Option<&HbaRules>,
    trusted_at: SocketAddr,
) -> String {
    let lines = hba.map(HbaRules::tcp_trust).unwrap_or_default();
    let (Some(hba), false) = (hba, lines.is_empty()) else {
        return "replace `trust` with `scram-sha-256` on the `host` lines of pg_hba.conf (`SHOW hba_file;`), set a password, then `SELECT pg_reload_conf();`".into();
    };
    let psql = format!("psql -h {} -p {} -U postgres", trusted_at.ip(), trusted_at.port());
    let (edits, reload) = edit_and_reload(context, hba, &lines, Some(&psql), disk, SCRAM);
    format!(
        "give `postgres` a password first (`{psql} -c '\\password postgres'`), then change `trust` to `scram-sha-256`: {}, then {reload}",
        edits.join(" and ")
    )
}

/// The `sed` commands that turn `trust` into `to` in the TCP record
/// that starts on `line` (the line number both the server's view and the
/// file reader give). The method is the word after the type, database,
/// user and address (4 words) or address and mask (5), so a `trust` in a
/// comment after it, or a user named `trust`, is left alone. A record that
/// PostgreSQL (14 and later) continues over lines ending in `\` is gathered first (`N`
/// while the text ends in a backslash), so the method is found on whichever
/// of its lines holds it; a backslash and a line break count as the space
/// between words, and both stay in the file.
fn trust_edit(line: u32, to: &str) -> String {
    let gap = r"[[:space:]\\]";
    let word = r"[^[:space:]\\]";
    format!(
        "{line}{{:a;/\\\\$/{{N;ba;}};s/^({gap}*({word}+{gap}+){{4,5}})trust({gap}|$)/\\1{to}\\3/;}}"
    )
}

/// For a file porthole reaches through `/proc/PID/root` (the server's
/// mount namespace or root shows another file at the path it names), where
/// the file is: the path the server names, and why the fix goes through
/// the process.
fn seen_through_the_server(file: &str) -> Option<String> {
    let (pid, path) = file.strip_prefix("/proc/")?.split_once("/root/")?;
    pid.parse::<u32>().ok()?;
    Some(format!(
        " (the server's /{path}, which its mount namespace shows in place of the file at that path here)"
    ))
}

/// The `sed` script that turns the method of the record `source` holds,
/// starting on `line`, into `to`: the record's lines are
/// gathered (`N`), and the whole record, matched as the file holds it, is
/// replaced by itself with the new method where the old one was. It runs
/// for every form the server reads: a quoted `"trust"`, fields of any
/// width, a method split over continued lines (`tru\` and `st`, which the
/// edit joins), and a record that changed since it was read is left as it
/// is.
fn record_edit(line: u32, source: &RecordSource, to: &str) -> String {
    let RecordSource { last_line, raw, method } = source;
    let edited = format!("{}{to}{}", &raw[..method.start], &raw[method.end..]);
    let gather = "N;".repeat(last_line.saturating_sub(line) as usize);
    format!("{line}{{{gather}s/^{}$/{}/;}}", sed_pattern(raw), sed_replacement(&edited))
}

/// `text` as a GNU sed extended regular expression that matches it alone.
fn sed_pattern(text: &str) -> String {
    sed_escaped(text, &['.', '[', '\\', '(', ')', '*', '+', '?', '{', '|', '^', '$', '/'])
}

/// `text` as the replacement of a GNU sed `s` command.
fn sed_replacement(text: &str) -> String {
    sed_escaped(text, &['\\', '&', '/'])
}

/// `text` with newlines, tabs and carriage returns written as sed's `\n`,
/// `\t`, `\r`, and each of `special` behind a backslash.
fn sed_escaped(text: &str, special: &[char]) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            c if special.contains(&c) => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// The `sed` of each file that changes the method on `lines` to `to`
/// (`trust` to `scram-sha-256`, or to `peer` on a `local` line), and the
/// reload
/// of the server that reads them (`psql`: a client that gets in, for a
/// server whose postmaster is not visible). `disk` is the file as porthole
/// read it: a line the server's view names is edited through it (the
/// record as it stands, the path that reaches it from here).
pub(super) fn edit_and_reload(
    context: &Context<'_>,
    hba: &HbaRules,
    lines: &[&HbaRule],
    psql: Option<&str>,
    disk: Option<&HbaRules>,
    to: &str,
) -> (Vec<String>, String) {
    // The server's view names files as the server sees them; porthole may
    // reach them through `/proc/PID/root`.
    let root = disk.and_then(|disk| disk.hba_file.strip_suffix(hba.hba_file.as_str()));
    let on_disk = |rule: &HbaRule| -> Option<(String, RecordSource)> {
        if let Some(source) = &rule.source {
            return Some((rule.file(hba).to_string(), source.clone()));
        }
        let disk = disk?;
        let file = rule.file(hba);
        disk.rules.iter().find_map(|candidate| {
            let reached = candidate.file(disk);
            let same =
                reached == file || root.is_some_and(|root| reached == format!("{root}{file}"));
            if !same || candidate.line_number != rule.line_number {
                return None;
            }
            Some((reached.to_string(), candidate.source.clone()?))
        })
    };
    // One `sed` per file (PostgreSQL 16 may include others), each naming
    // its lines.
    let mut files: Vec<(String, Vec<String>)> = Vec::new();
    for rule in lines {
        let (file, script) = match on_disk(rule) {
            Some((file, source)) => (file, record_edit(rule.line_number, &source, to)),
            None => (rule.file(hba).to_string(), trust_edit(rule.line_number, to)),
        };
        match files.iter_mut().find(|(name, _)| *name == file) {
            Some((_, scripts)) => scripts.push(script),
            None => files.push((file, vec![script])),
        }
    }
    let edits: Vec<String> = files
        .iter()
        .map(|(file, scripts)| {
            format!(
                "`sed -i -E {} {}`{}",
                crate::shell::printable_word(&scripts.join(";")),
                crate::shell::printable_word(file),
                seen_through_the_server(file).unwrap_or_default()
            )
        })
        .collect();
    let postmaster = context.target.owners.iter().find(|p| p.name.starts_with("postgres"));
    let reload = match (postmaster, psql) {
        (Some(process), _) => match process.service_command("reload", context.caller_uid) {
            Some(command) => format!("`{command}`"),
            None => format!("`kill -HUP {}` (the postmaster: it reloads)", process.pid),
        },
        (None, Some(psql)) => format!("`{psql} -c 'SELECT pg_reload_conf()'`"),
        (None, None) => "a reload of the server".into(),
    };
    (edits, reload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    /// `local all all trust` on a socket file: graded by who may connect,
    /// no finding for its owner and root alone, none for `peer`.
    #[test]
    fn local_trust_over_a_unix_socket_is_graded_by_who_may_connect() {
        use crate::audit::Connectors;
        let judged = |text: &str, connectors: Connectors| {
            let mut seen = outcome("postgresql", Vec::new());
            seen.hba_on_disk = Some(hba_on_disk(text, "/d/hba", false));
            seen.postgres_config = Some("/d/postgresql.conf".into());
            let path = "/run/pg/.s.PGSQL.5432";
            let mut socket = target(path, 0);
            socket.unix = Some(socket_file(path, 0o140777, 110, connectors));
            check(&context(&socket, Some(&seen)))
        };
        let trust = "local all all trust\nlocal all all peer\n";
        let everyone = judged(trust, Connectors::Everyone);
        assert_eq!(everyone[0].severity, Severity::High);
        assert!(everyone[0].evidence.contains("/d/hba line 1 `local all all trust`"));
        assert!(everyone[0].fix.starts_with("`chmod 700 /run/pg/.s.PGSQL.5432` now"));
        assert!(everyone[0]
            .fix
            .contains("`echo 'unix_socket_permissions = 0700' >> /d/postgresql.conf`"));
        assert!(everyone[0].fix.contains("peer/;}' /d/hba`"), "{}", everyone[0].fix);
        assert_eq!(judged(trust, Connectors::Group(110))[0].severity, Severity::Medium);
        assert!(judged(trust, Connectors::Owner).is_empty());
        // An earlier `local all all` line answers first.
        assert!(
            judged("local all all peer\nlocal all all trust\n", Connectors::Everyone).is_empty()
        );
    }

    #[test]
    fn trust_on_loopback_is_high() {
        let target = target("127.0.0.1", 5432);
        let seen = outcome(
            "postgresql",
            vec![Observation::TrustAuth {
                evidence: "AuthenticationOk".into(),
                loopback_only: None,
                hba: None,
                address: "127.0.0.1:5432".parse().unwrap(),
            }],
        );
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::High);
    }

    #[test]
    fn trust_for_loopback_clients_only_is_high_on_an_exposed_port() {
        let target = target("0.0.0.0", 5432);
        let trusted = |loopback_only: Option<&str>| {
            outcome(
                "postgresql",
                vec![Observation::TrustAuth {
                    evidence: "AuthenticationOk".into(),
                    loopback_only: loopback_only.map(str::to_string),
                    hba: None,
                    address: "127.0.0.1:5432".parse().unwrap(),
                }],
            )
        };
        let mut exposed = context(&target, None);
        exposed.firewall = crate::audit::firewall::Verdict::Admitted;
        let everyone = trusted(None);
        exposed.outcome = Some(&everyone);
        assert_eq!(check(&exposed)[0].severity, Severity::Critical);
        let loopback = trusted(Some("from 10.0.0.5 a password is asked"));
        exposed.outcome = Some(&loopback);
        let finding = &check(&exposed)[0];
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.evidence.ends_with("; from 10.0.0.5 a password is asked"));
    }

    fn hba(address: &str, netmask: Option<&str>) -> crate::audit::probes::pg_hba::HbaRules {
        let netmask = netmask.map_or("null".to_string(), |m| format!("\"{m}\""));
        let line = format!(
            r#"{{"type": "host", "address": "{address}", "netmask": {netmask}, "database": ["all"], "user_name": ["all"], "auth_method": "trust", "line_number": 7}}"#
        );
        crate::audit::probes::pg_hba::parse(&[vec![Some("/srv/pg/pg_hba.conf".into()), Some(line)]])
            .expect("rows parse")
    }

    #[test]
    fn the_server_s_lines_decide_who_else_is_trusted_and_are_what_the_fix_edits() {
        let mut target = target("0.0.0.0", 5433);
        target.owners[0].name = "postgres".into();
        let judged = |rules| {
            let seen = outcome(
                "postgresql",
                vec![Observation::TrustAuth {
                    evidence: "AuthenticationOk".into(),
                    loopback_only: None,
                    hba: Some(rules),
                    address: "127.0.0.1:5433".parse().unwrap(),
                }],
            );
            let mut exposed = context(&target, None);
            exposed.firewall = crate::audit::firewall::Verdict::Admitted;
            exposed.outcome = Some(&seen);
            check(&exposed).remove(0)
        };
        // `samehost`: a login from this machine's own address is trusted,
        // another device's is not.
        let same = judged(hba("samehost", None));
        assert_eq!(same.severity, Severity::High, "{}", same.evidence);
        assert!(same.evidence.contains("/srv/pg/pg_hba.conf line 7 `host all all samehost trust`"));
        let network = judged(hba("samenet", None));
        assert_eq!(network.severity, Severity::Critical, "{}", network.evidence);
        let everyone = judged(hba("0.0.0.0", Some("0.0.0.0")));
        assert_eq!(everyone.severity, Severity::Critical);
        assert!(
            everyone.evidence.contains("`host all all 0.0.0.0/0 trust`"),
            "{}",
            everyone.evidence
        );
        let loopback = judged(hba("127.0.0.1", Some("255.255.255.255")));
        assert_eq!(loopback.severity, Severity::High);
        assert!(
            same.fix.contains(&format!(
                "`sed -i -E '{}' /srv/pg/pg_hba.conf`",
                trust_edit(7, "scram-sha-256")
            )),
            "{}",
            same.fix
        );
        assert!(
            same.fix.contains("`psql -h 127.0.0.1 -p 5433 -U postgres -c '\\password postgres'`"),
            "{}",
            same.fix
        );
        assert!(
            same.fix.ends_with("then `kill -HUP 42` (the postmaster: it reloads)"),
            "{}",
            same.fix
        );
    }

    /// The server's `pg_hba_file_rules` view drops quotes: a line for the
    /// role named all (`"all"`) read there as a line for every role, and
    /// the superuser's login was judged by it. The file's own tokens now
    /// decide; the view only when the file cannot be read, and then the
    /// evidence says that quotes could not be seen.
    #[test]
    fn the_file_s_quotes_decide_over_the_server_s_view() {
        let text = "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all \"all\" 0.0.0.0/0 trust\n";
        let row = |line: u32, user: &str, address: &str, netmask: &str| {
            let json = format!(
                r#"{{"type": "host", "address": "{address}", "netmask": "{netmask}", "database": ["all"], "user_name": ["{user}"], "auth_method": "trust", "line_number": {line}}}"#
            );
            vec![Some("/d/hba".to_string()), Some(json)]
        };
        let view = crate::audit::probes::pg_hba::parse(&[
            row(2, "postgres", "127.0.0.1", "255.255.255.255"),
            row(3, "all", "0.0.0.0", "0.0.0.0"),
        ])
        .expect("rows parse");
        let mut target = target("0.0.0.0", 5432);
        target.owners[0].name = "postgres".into();
        let judged = |readable: bool| {
            let mut seen = outcome(
                "postgresql",
                vec![Observation::TrustAuth {
                    evidence: "AuthenticationOk".into(),
                    loopback_only: None,
                    hba: Some(view.clone()),
                    address: "127.0.0.1:5432".parse().unwrap(),
                }],
            );
            let path = if readable { "/d/hba" } else { "/d/unreadable" };
            seen.hba_on_disk = Some(hba_on_disk(text, path, true));
            let mut exposed = context(&target, None);
            exposed.firewall = crate::audit::firewall::Verdict::Admitted;
            exposed.outcome = Some(&seen);
            check(&exposed).remove(0)
        };
        let file = judged(true);
        assert_eq!(file.severity, Severity::High, "{}", file.evidence);
        assert!(
            file.evidence.ends_with(
                "pg_hba.conf trusts loopback clients only (/d/hba line 2 `host all postgres 127.0.0.1/32 trust`); other devices meet the lines after it"
            ),
            "{}",
            file.evidence
        );
        // Both `trust` lines are still ways in: the fix edits both.
        assert!(file.fix.contains("'2{"), "{}", file.fix);
        assert!(file.fix.contains(";3{"), "{}", file.fix);
        let view = judged(false);
        assert_eq!(view.severity, Severity::Critical, "{}", view.evidence);
        assert!(view.evidence.contains("/d/hba line 3 `host all all 0.0.0.0/0 trust`"));
        assert!(view.evidence.ends_with(UNQUOTED), "{}", view.evidence);
    }

    /// The file's `trust` lines that no one can reach (an earlier catch-all
    /// line answers first) are no finding: they were graded critical though
    /// every client met `reject` or a password. A `hostssl` or
    /// `hostgssenc` line says which connections it takes.
    #[test]
    fn file_lines_an_earlier_catch_all_answers_are_no_finding() {
        let judged_on = |address: &str, text: &str| {
            let mut seen = outcome("postgresql", Vec::new());
            seen.hba_on_disk = Some(hba_on_disk(text, "/d/hba", true));
            let target = target(address, 5432);
            check(&context(&target, Some(&seen)))
        };
        let judged = |text: &str| judged_on("0.0.0.0", text);
        // `samenet` on a loopback listener: loopback clients are who reach it.
        let loopback = judged_on("127.0.0.1", "host all all samenet trust\n");
        assert!(
            loopback[0].evidence.contains("`host all all samenet trust` (loopback clients)"),
            "{}",
            loopback[0].evidence
        );
        let dead = judged("host all all 0.0.0.0/0 reject\nhost all all 192.0.2.0/24 trust\n");
        assert!(dead.is_empty(), "{dead:?}");
        let quoted = judged("host \"all\" all 0.0.0.0/0 reject\nhost all all 192.0.2.0/24 trust\n");
        assert_eq!(quoted.len(), 1, "a database named `all` is no catch-all: {quoted:?}");
        let found = judged(concat!(
            "hostssl all all 0.0.0.0/0 trust\n",
            "hostgssenc all all 192.0.2.0/24 trust\n",
        ));
        assert_eq!(found[0].severity, Severity::Critical);
        assert!(
            found[0].evidence.contains(
                "`hostssl all all 0.0.0.0/0 trust` (other devices and this machine, over TLS only)"
            ),
            "{}",
            found[0].evidence
        );
        assert!(
            found[0].evidence.contains(", over GSSAPI encryption only)"),
            "{}",
            found[0].evidence
        );
    }

    /// PostgreSQL (14 and later) continues a record over lines ending in `\`: the
    /// `sed` printed for a record edited only its first line, which held
    /// no `trust`, and the file stayed as it was; a method split over the
    /// lines (`tru\` and `st`), a quoted `"trust"` or a quoted name with
    /// blanks was not matched either. Run as printed, the edit of each
    /// record read from the file now changes its method, and nothing else.
    #[test]
    fn the_printed_sed_changes_the_method_of_every_record_form() {
        use crate::audit::postgres_hba::{read, HbaFile};
        use crate::audit::postgres_options::HbaLocation;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("it's pg_hba.conf");
        let path = file.to_str().expect("utf-8 path");
        let text = concat!(
            "local all all trust\n",
            "host all all 10.0.0.0/8 \\\n",
            "    trust\n",
            "host all trust 127.0.0.1/32 trust # trust\n",
            "hostssl all all \\\n",
            "  10.0.0.0 255.0.0.0 \\\n",
            "  trust\n",
            "host all all 192.0.2.1/32 md5 # trust\n",
            "host all all 192.0.2.2/32 tru\\\n",
            "st # split\n",
            "host \"my [db] & co\" o'brien,\"a/b\" 192.0.2.3/32 \"trust\"\r\n",
            "host\tall\tall\t192.0.2.4/32\ttrust\t# tabs\n",
            "host all all 192.0.2.5/32 trust\\\n",
        );
        std::fs::write(&file, text).expect("write");
        let system = crate::inventory::system::fake::Scripted::default().file(path, text);
        let location = HbaLocation {
            path: path.to_string(),
            root: String::new(),
            pid: None,
            major_version: Some(15),
        };
        let HbaFile::Read(rules) = read(&system, &location) else { panic!("read") };
        let trust: Vec<&HbaRule> = rules.tcp_trust();
        let lines: Vec<u32> = trust.iter().map(|r| r.line_number).collect();
        assert_eq!(lines, [2, 4, 5, 9, 11, 12, 13]);
        let scripts: Vec<String> = trust
            .iter()
            .map(|r| {
                record_edit(
                    r.line_number,
                    r.source.as_ref().expect("read from the file"),
                    "scram-sha-256",
                )
            })
            .collect();
        let command = format!(
            "sed -i -E {} {}",
            crate::shell::printable_word(&scripts.join(";")),
            crate::shell::printable_word(path)
        );
        assert!(!command.chars().any(crate::shell::is_terminal_control), "{command}");
        let status = std::process::Command::new("sh").args(["-c", &command]).status();
        assert!(status.expect("sh runs").success(), "{command}");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            concat!(
                "local all all trust\n",
                "host all all 10.0.0.0/8 \\\n",
                "    scram-sha-256\n",
                "host all trust 127.0.0.1/32 scram-sha-256 # trust\n",
                "hostssl all all \\\n",
                "  10.0.0.0 255.0.0.0 \\\n",
                "  scram-sha-256\n",
                "host all all 192.0.2.1/32 md5 # trust\n",
                "host all all 192.0.2.2/32 scram-sha-256 # split\n",
                "host \"my [db] & co\" o'brien,\"a/b\" 192.0.2.3/32 scram-sha-256\r\n",
                "host\tall\tall\t192.0.2.4/32\tscram-sha-256\t# tabs\n",
                "host all all 192.0.2.5/32 scram-sha-256\\\n",
            )
        );
        // Run again, it finds no record as it was and changes nothing.
        let status = std::process::Command::new("sh").args(["-c", &command]).status();
        assert!(status.expect("sh runs").success(), "{command}");
        let after = std::fs::read_to_string(&file).expect("read");
        assert!(after.contains("192.0.2.2/32 scram-sha-256 # split\n"), "{after}");
    }
}
