//! `cleartext-password`: a pg_hba.conf line of method `password` for TCP
//! clients that need not use TLS (`host`, `hostnossl`). PostgreSQL then
//! asks the client for its password as plain text (`AuthenticationCleartext
//! Password`), and it crosses the network as written: whoever sees the
//! traffic can log in as that role. `scram-sha-256` proves the password
//! without sending it. `hostssl` lines are left alone (TLS carries the
//! password) and so are `hostgssenc` ones (GSSAPI encrypts it).
//!
//! Graded by who can send a password that way: other devices reaching the
//! listener (medium), or only clients on this machine, whose traffic goes
//! over loopback and no network (low: root could read it, and root needs
//! no password). The file is the one read from disk for `trust-auth`
//! ([`crate::audit::postgres_hba`]): reading it sends the server nothing.
//! See: <https://www.postgresql.org/docs/current/auth-password.html>

use super::trust_auth::edit_and_reload;
use super::Context;
use crate::audit::postgres_hba::{admitted, names_someone, Admitted};
use crate::audit::probes::pg_hba::{HbaRule, HbaRules};
use crate::model::{Finding, RuleId, Scope, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let Some(outcome) = context.outcome else { return Vec::new() };
    if outcome.service.as_deref() != Some("postgresql") || context.target.unix.is_some() {
        return Vec::new();
    }
    let Some(disk) = outcome.hba_on_disk.as_ref() else { return Vec::new() };
    let Some(rules) = disk.rules() else { return Vec::new() };
    let reach = context.target.reach;
    rules
        .unshadowed("password")
        .into_iter()
        // `hostssl` and `hostgssenc` lines take encrypted connections only.
        .filter(|rule| matches!(rule.kind.as_deref(), Some("host" | "hostnossl" | "hostnogssenc")))
        .filter(|rule| names_someone(rule))
        .filter(|rule| match rule.network() {
            Some((std::net::IpAddr::V4(_), _)) => reach.v4,
            Some((std::net::IpAddr::V6(_), _)) => reach.v6,
            None => true,
        })
        .filter_map(|rule| {
            let admits = admitted(rule, &disk.local_addresses);
            let reached = match context.target.scope {
                Scope::Loopback => admits.loopback,
                Scope::Wildcard => admits.loopback || admits.this_machine || admits.others,
                Scope::Specific => admits.this_machine || admits.others,
                Scope::Local => false,
            };
            reached.then(|| finding(context, rules, rule, admits, outcome.postgres_ssl))
        })
        .collect()
}

/// The finding of one `password` line that clients reach.
fn finding(
    context: &Context<'_>,
    rules: &HbaRules,
    rule: &HbaRule,
    admits: Admitted,
    ssl: Option<bool>,
) -> Finding {
    let network = admits.others && context.reachable_from_network();
    let (severity, who) = if network {
        (Severity::Medium, "other devices send it across the network".to_string())
    } else {
        // Why it is low: say what keeps other devices out.
        let kept_out = if !admits.others {
            "the line's addresses are this machine's own"
        } else if !context.exposed() {
            "listen_addresses keeps the server on loopback"
        } else {
            "the firewall keeps other devices out"
        };
        let why = format!(
            "only clients on this machine can send it ({kept_out}): it crosses loopback, not a network, and root, who could read it there, needs no password"
        );
        (Severity::Low, why)
    };
    let tls = match (rule.kind.as_deref(), ssl) {
        (Some("hostnossl"), _) => {
            "`hostnossl` matches connections without TLS alone: the password is always in clear"
        }
        (_, Some(false)) => "ssl is off: no connection is encrypted",
        (_, Some(true)) => {
            "ssl is on, yet a client that does not insist on TLS (sslmode=prefer, the default, or disable) sends it in clear to whoever answers"
        }
        (_, None) => "whether ssl is on was not read",
    };
    let (file, line, text) = (rule.file(rules), rule.line_number, rule.text());
    // The file's path and text are another user's: the renderer shows
    // their control characters visibly, JSON escapes them.
    let evidence = format!(
        "pg_hba.conf asks for passwords in clear text (`password`): {file} line {line} `{text}`; {who}; {tls}"
    );
    let (edits, reload) = edit_and_reload(context, rules, &[rule], None, None, "scram-sha-256");
    let fix = format!(
        "change `password` to `scram-sha-256` (the client then proves the password without sending it): {}, then {reload}; a role whose password is stored as an md5 hash must set it again (psql's \\password, with password_encryption = scram-sha-256, the default from PostgreSQL 14) before it can log in",
        edits.join(" and ")
    );
    context.finding(RuleId::CleartextPassword, severity, evidence, fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    /// The findings for a PostgreSQL on `address` whose pg_hba.conf is
    /// `text`, with `ssl` as read.
    fn judged(address: &str, text: &str, ssl: Option<bool>) -> Vec<Finding> {
        let mut seen = outcome("postgresql", Vec::new());
        seen.hba_on_disk = Some(hba_on_disk(text, "/d/hba", true));
        seen.postgres_ssl = ssl;
        let mut target = target(address, 5432);
        target.owners[0].name = "postgres".into();
        check(&context(&target, Some(&seen)))
    }

    #[test]
    fn a_network_line_is_medium_and_a_loopback_one_low() {
        let text = "local all all trust\nhost all all 127.0.0.1/32 password\nhost all all 0.0.0.0/0 password\n";
        let found = judged("0.0.0.0", text, Some(false));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].severity, Severity::Low);
        assert!(found[0].evidence.contains("/d/hba line 2 `host all all 127.0.0.1/32 password`"));
        assert!(found[0].evidence.contains("the line's addresses are this machine's own"));
        assert_eq!(found[1].severity, Severity::Medium);
        assert!(found[1].evidence.contains("line 3 `host all all 0.0.0.0/0 password`"));
        assert!(found[1].evidence.ends_with("ssl is off: no connection is encrypted"));
        assert!(
            found[1].fix.starts_with("change `password` to `scram-sha-256`"),
            "{}",
            found[1].fix
        );
        assert!(found[1].fix.contains("`sed -i -E '3{"), "{}", found[1].fix);
        assert!(found[1].fix.contains("`kill -HUP 42`"), "{}", found[1].fix);
        assert!(found[1].fix.contains("md5"), "{}", found[1].fix);
    }

    #[test]
    fn a_loopback_listener_keeps_a_network_line_low() {
        let found = judged("127.0.0.1", "host all all 0.0.0.0/0 password\n", Some(true));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Low);
        assert!(found[0].evidence.contains("listen_addresses keeps the server on loopback"));
        assert!(found[0].evidence.contains("ssl is on, yet"));
    }

    #[test]
    fn encrypted_only_other_methods_and_shadowed_lines_are_no_finding() {
        let text = "hostssl all all 0.0.0.0/0 password\nhostgssenc all all 0.0.0.0/0 password\nhost all all 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 reject\nhost all all 192.0.2.0/24 password\n";
        assert!(judged("0.0.0.0", text, Some(true)).is_empty());
        let nossl = judged("0.0.0.0", "hostnossl all all 0.0.0.0/0 password\n", Some(true));
        assert_eq!(nossl[0].severity, Severity::Medium);
        assert!(nossl[0].evidence.ends_with("the password is always in clear"));
    }
}
