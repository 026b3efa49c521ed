//! `no-auth`: the probe read data (or could have written it) without any
//! credentials. Unauthenticated and reachable from other devices is
//! critical; on loopback every local user and process (and, through DNS
//! rebinding or SSRF, web pages) still gets in, which is high. Over a
//! Unix socket file, who gets in is who may connect to the file: every
//! local user (high), a group (medium), or only root and its owner (low:
//! they could read the service's data anyway).

use super::Context;
use crate::audit::probes::{Impact, Observation};
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::NoAuth { evidence, fix, impact } => {
                if let Some(file) = &context.target.unix {
                    return Some(over_unix_socket(context, file, evidence, fix, *impact));
                }
                let severity = match (impact, context.reachable_from_network()) {
                    (Impact::Control, true) => Severity::Critical,
                    (Impact::Control, false) => Severity::High,
                    (Impact::Information, true) => Severity::Medium,
                    (Impact::Information, false) => Severity::Low,
                };
                let mut evidence = evidence.clone();
                if context.exposed() && context.protected_mode() == Some(true) {
                    evidence.push_str("; protected mode is on: clients from other addresses get -DENIED, and it is all that keeps this passwordless Redis off the network");
                }
                let fix = full_fix(context, fix, *impact);
                Some(context.finding(RuleId::NoAuth, severity, evidence, fix))
            }
            _ => None,
        })
        .collect()
}

/// A service without a password on a Unix socket file: graded by who may
/// connect to the file, and fixed first by closing the file.
fn over_unix_socket(
    context: &Context<'_>,
    file: &crate::audit::UnixSocketFile,
    evidence: &str,
    fix: &str,
    impact: Impact,
) -> Finding {
    use crate::audit::Connectors;
    let severity = match file.connectors {
        Connectors::Everyone => Severity::High,
        Connectors::Group(_) => Severity::Medium,
        Connectors::Owner => Severity::Low,
    };
    let severity =
        if impact == Impact::Information { Severity::Low.min(severity) } else { severity };
    let evidence = format!("{evidence} {}", file.described());
    let path = crate::shell::word(&file.reached_at);
    let settings = context.outcome.and_then(|outcome| outcome.settings.as_ref());
    let fix = match (file.connectors, context.service_name()) {
        (Connectors::Owner, _) => fix.to_string(),
        (_, Some("redis" | "valkey")) => format!(
            "`chmod 700 {path}` now (until it restarts), and {} to keep it so; or {fix}",
            crate::audit::probes::redis::persist(settings, &["unixsocketperm 700"])
        ),
        (_, Some("memcached")) => format!(
            "`chmod 700 {path}` now (until it restarts), and add `-a 0700` to memcached's options to keep it so; or {fix}"
        ),
        _ => format!("`chmod 700 {path}`; or {fix}"),
    };
    context.finding(RuleId::NoAuth, severity, evidence, fix)
}

/// The probe's credential fix, plus what the listener and command line
/// say is still missing; never what is already configured.
fn full_fix(context: &Context<'_>, fix: &str, impact: Impact) -> String {
    let outcome = context.outcome;
    let default_user = outcome.and_then(|outcome| outcome.redis_default_user.as_ref());
    // A `requirepass` loses to this line: the line is the fix.
    if let (Some("redis" | "valkey"), Some(found)) = (context.service_name(), default_user) {
        let bind = match outcome.and_then(|outcome| outcome.settings.as_ref()) {
            Some(crate::audit::probes::Settings::File(config)) if context.exposed() => {
                format!(", and set `bind 127.0.0.1 -::1` in {config}")
            }
            _ => String::new(),
        };
        return format!(
                "its default user is defined without a password on line {line} of {file} (`user default … nopass`), which overrides any `requirepass`: replace `nopass` on that line with `>` and a long random secret{bind}, then restart",
                line = found.line,
                file = found.file,
            );
    }
    match context.service_name() {
        // One change for both lines, where the server reads its settings.
        Some("redis" | "valkey") if context.exposed() => format!(
            "{} (or ACL users instead of requirepass)",
            crate::audit::probes::redis::persist(
                context.outcome.and_then(|outcome| outcome.settings.as_ref()),
                &["requirepass <long random secret>", "bind 127.0.0.1 -::1"]
            )
        ),
        Some("memcached") => {
            let options = context.memcached().unwrap_or_default();
            let (loopback, udp_off) = (context.exposed(), options.udp().is_some());
            if !loopback && !udp_off {
                format!("memcached already listens on loopback only with UDP off, so only local users and processes reach it; to keep them out too, {fix}")
            } else {
                format!(
                    "{}; {fix} if other hosts need it",
                    context.memcached_fix(loopback, udp_off)
                )
            }
        }
        // A token emptied on its command line: that line without it.
        Some("jupyter") => {
            let directory = outcome.and_then(|o| o.owner_directory.as_deref());
            let found = context.target.owners.iter().find_map(|process| {
                let (_, _, given) = crate::audit::jupyter_options::empty_token(&process.cmdline)?;
                let command = crate::audit::jupyter_options::restart_without_token(
                    process,
                    directory,
                    context.caller_uid,
                    context.exposed(),
                )?;
                Some((process.pid, given, command))
            });
            let in_file = outcome.and_then(|o| o.jupyter_token_line.as_ref());
            let owner = context.target.owners.first();
            match (found, in_file, owner) {
                (None, Some(token), Some(process)) => {
                    let command = crate::audit::jupyter_options::restart_as_it_was(
                        process,
                        directory,
                        context.caller_uid,
                        context.exposed(),
                    );
                    format!(
                        "line {line} of {file} empties its token: `sed -i '{line}s/^/# /' {quoted}`, then `kill {pid}` and start it again{loopback}: `{command}` (it makes a random token, printed in its log; or set a password with `jupyter server password`)",
                        line = token.line,
                        file = token.file,
                        quoted = crate::shell::printable_word(&token.file),
                        pid = process.pid,
                        loopback = if context.exposed() { " on loopback" } else { "" },
                    )
                }
                (Some((pid, given, command)), _, _) => format!(
                    "its command line turns the token off (`{}`): `kill {pid}`, then start it without that option{}: `{command}` (it makes a random token, printed in its log; or set a password with `jupyter server password`)",
                    given,
                    if context.exposed() { " and on loopback" } else { "" },
                ),
                _ => fix.to_string(),
            }
        }
        // On loopback already: binding it there again is no fix.
        // (Prometheus's admin API is a door of its own: its flag is the fix.)
        Some("metrics" | "prometheus") if !context.exposed() && impact == Impact::Information => {
            let credentials = if fix.contains("--web.config.file") {
                "require basic auth in a `--web.config.file`"
            } else {
                "put it behind a proxy that asks for credentials"
            };
            format!("it listens on loopback only; to keep local users and processes out too, {credentials}")
        }
        _ => fix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn exposed_and_open_is_critical() {
        let open = outcome(
            "redis",
            vec![Observation::NoAuth {
                evidence: "PING → +PONG".into(),
                fix: "requirepass".into(),
                impact: Impact::Control,
            }],
        );
        let local = target("127.0.0.1", 6379);
        assert_eq!(check(&context(&local, Some(&open)))[0].severity, Severity::High);
        let wide = target("0.0.0.0", 6379);
        assert_eq!(check(&context(&wide, Some(&open)))[0].severity, Severity::Critical);
        // Protected mode turns other devices away: graded as on loopback.
        let guarded = outcome(
            "redis",
            vec![
                Observation::NoAuth {
                    evidence: "PING → +PONG".into(),
                    fix: "requirepass".into(),
                    impact: Impact::Control,
                },
                Observation::ProtectedMode { on: true, evidence: "yes".into() },
            ],
        );
        let finding = &check(&context(&wide, Some(&guarded)))[0];
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.evidence.contains("protected mode is on"), "{}", finding.evidence);
        assert!(finding.fix.contains("bind 127.0.0.1 -::1"), "{}", finding.fix);
        // Loopback Redis is not told to bind loopback.
        assert!(!check(&context(&local, Some(&open)))[0].fix.contains("bind"));
        let closed =
            outcome("redis", vec![Observation::AuthRequired { evidence: "NOAUTH".into() }]);
        assert!(check(&context(&wide, Some(&closed))).is_empty());
    }

    #[test]
    fn over_a_unix_socket_who_may_connect_sets_the_severity() {
        use crate::audit::Connectors;
        let open = outcome(
            "redis",
            vec![Observation::NoAuth {
                evidence: "sent PING → +PONG".into(),
                fix: "requirepass".into(),
                impact: Impact::Control,
            }],
        );
        let path = "/tmp/a dir/$(id)/r.sock";
        let mut socket = target(path, 0);
        let graded = [
            (Connectors::Everyone, Severity::High),
            (Connectors::Group(27), Severity::Medium),
            (Connectors::Owner, Severity::Low),
        ];
        for (connectors, severity) in graded {
            socket.unix = Some(socket_file(path, 0o140777, 999, connectors));
            let found = &check(&context(&socket, Some(&open)))[0];
            assert_eq!(found.severity, severity, "{connectors:?}");
            assert!(found.evidence.contains("mode 0777, owner uid 999"), "{}", found.evidence);
            // Closed already: no chmod to offer.
            let chmod = found.fix.starts_with("`chmod 700 '/tmp/a dir/$(id)/r.sock'` now");
            assert_eq!(chmod, connectors != Connectors::Owner, "{}", found.fix);
        }
    }

    #[test]
    fn memcached_fixes_name_only_what_is_missing() {
        let open = outcome(
            "memcached",
            vec![Observation::NoAuth {
                evidence: "version → VERSION 1.6.18".into(),
                fix: "enable SASL (`-S`)".into(),
                impact: Impact::Control,
            }],
        );
        let mut stock = target("127.0.0.1", 11211);
        stock.owners[0].name = "memcached".into();
        stock.owners[0].cmdline =
            "memcached -l 127.0.0.1 -U 0".split(' ').map(str::to_string).collect();
        let fix = &check(&context(&stock, Some(&open)))[0].fix;
        assert!(!fix.contains("-l 127.0.0.1") && !fix.contains("-U 0"), "{fix}");
        assert!(fix.contains("already listens on loopback only"), "{fix}");
        let mut wide = stock.clone();
        wide.address = "0.0.0.0".into();
        wide.scope = crate::model::Scope::Wildcard;
        wide.owners[0].cmdline = "memcached -U 11211".split(' ').map(str::to_string).collect();
        let pid = wide.owners[0].pid;
        let fix = &check(&context(&wide, Some(&open)))[0].fix;
        // Typed options: its own command line, with both replaced.
        assert!(
            fix.contains(&format!("`kill {pid}`, then start it as `memcached -l 127.0.0.1 -U 0`")),
            "{fix}"
        );
        assert!(fix.contains("(`-U 11211`)") && !fix.contains("Debian"), "{fix}");
        // On loopback with UDP on: its `-l` stays, only `-U` changes.
        let mut udp_only = stock.clone();
        udp_only.owners[0].cmdline =
            "memcached -l 127.0.0.1 -U 11211".split(' ').map(str::to_string).collect();
        let fix = &check(&context(&udp_only, Some(&open)))[0].fix;
        assert!(fix.contains("start it as `memcached -l 127.0.0.1 -U 0`"), "{fix}");
        assert!(fix.contains("(`-U 11211`)"), "{fix}");
        // Started by a unit: its ExecStart.
        let mut unit = wide.clone();
        unit.owners[0].unit = Some("cache.service".into());
        let fix = &check(&context(&unit, Some(&open)))[0].fix;
        assert!(fix.contains("ExecStart `memcached -l 127.0.0.1 -U 0`"), "{fix}");
        assert!(fix.contains("`systemctl restart cache.service`"), "{fix}");
        // Made from Debian's file: its lines.
        let mut from_file = open.clone();
        from_file.memcached_config = Some(crate::audit::memcached_options::ConfigFile {
            file: "/etc/memcached.conf".into(),
            listen_line: None,
            udp_line: Some(12),
        });
        let fix = &check(&context(&unit, Some(&from_file)))[0].fix;
        assert!(
            fix.contains("`sed -i -e '12s/.*/-U 0/' /etc/memcached.conf && printf '%s\\n' '-l 127.0.0.1' >> /etc/memcached.conf`, then `systemctl restart cache.service`"),
            "{fix}"
        );
    }
}
