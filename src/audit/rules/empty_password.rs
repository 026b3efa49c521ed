//! `empty-password` (`--active`): MySQL/MariaDB let a login in with an
//! empty password over TCP: `root`, an anonymous account (`''@'localhost'`,
//! which takes any user name), or every name at once when the server runs
//! with `skip-grant-tables`. Over a Unix socket file (`skip-networking`)
//! the same logins are graded by who may connect to the file; root let in
//! by `unix_socket` authentication, which a wrong password passes too, is
//! the system's root alone and no finding (see [`crate::audit::probes::mysql`]). The account `CURRENT_USER()` named on that
//! session tells them apart, and each has its own fix.

use super::Context;
use crate::audit::probes::mysql::skip_grant_tables;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::EmptyPassword { evidence, user, account } => {
                let reachable = context.reachable_from_network();
                let finding = if account.as_deref().is_some_and(skip_grant_tables) {
                    (
                        if reachable { Severity::Critical } else { Severity::High },
                        format!("{evidence}: the server runs with `skip-grant-tables`, so every user name and password gets in with every privilege"),
                        skip_grant_tables_fix(context),
                    )
                } else if user == "root" {
                    (
                        if reachable { Severity::Critical } else { Severity::High },
                        evidence.clone(),
                        root_fix(context),
                    )
                } else {
                    // An anonymous account: usually few privileges, but any
                    // name is let in, and a grant to `''` reaches everyone.
                    (
                        if reachable { Severity::High } else { Severity::Medium },
                        format!("{evidence}: an anonymous account lets any user name in without a password"),
                        anonymous_fix(context, account.as_deref()),
                    )
                };
                let (severity, evidence, fix) = finding;
                if let Some(file) = &context.target.unix {
                    return over_unix_socket(context, file, &evidence, fix);
                }
                Some(context.finding(RuleId::EmptyPassword, severity, evidence, fix))
            }
            _ => None,
        })
        .collect()
}

/// A login with an empty password over a Unix socket file (a server with
/// `skip-networking`): graded by who may connect to the file, as a
/// PostgreSQL's `local … trust` is. Only root and the socket's owner, the
/// server's user, who reads the data files anyway: no finding.
fn over_unix_socket(
    context: &Context<'_>,
    file: &crate::audit::UnixSocketFile,
    evidence: &str,
    fix: String,
) -> Option<Finding> {
    let severity = file.database_severity()?;
    let evidence = format!("{evidence} {}", file.described());
    Some(context.finding(RuleId::EmptyPassword, severity, evidence, fix))
}

/// `mariadb -h 127.0.0.1 -P 3306`: the server's own client, to the address
/// that was probed (`--socket=PATH` for a socket file).
fn client(context: &Context<'_>) -> String {
    let program = if context.service_name() == Some("mariadb") { "mariadb" } else { "mysql" };
    if let Some(file) = &context.target.unix {
        return format!("{program} --socket={}", crate::shell::word(&file.reached_at));
    }
    match context.target.connect {
        Some(address) => format!("{program} -h {} -P {}", address.ip(), address.port()),
        None => program.to_string(),
    }
}

/// A password for the account root logged in as. MariaDB 10.11 answers
/// `ALTER USER CURRENT_USER() IDENTIFIED BY …` with OK for a root installed
/// without a password and leaves it empty; `SET PASSWORD` sets it.
fn root_fix(context: &Context<'_>) -> String {
    let statement = if context.service_name() == Some("mariadb") {
        "SET PASSWORD = PASSWORD('<long random secret>')"
    } else {
        "ALTER USER CURRENT_USER() IDENTIFIED BY '<long random secret>'"
    };
    format!(
        "`{} -u root -e \"{statement}\"` (or unix_socket authentication when root logs in locally only)",
        client(context)
    )
}

/// `DROP USER` of the anonymous account that matched; the host comes from
/// the server, so a command is printed only for a plain one.
fn anonymous_fix(context: &Context<'_>, account: Option<&str>) -> String {
    let host = account.and_then(|a| a.strip_prefix('@')).filter(|host| {
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_%:".contains(c))
    });
    let others = "(`SELECT user, host FROM mysql.user WHERE user = ''` lists any other)";
    match host {
        Some(host) => {
            format!("`{} -u root -p -e \"DROP USER ''@'{host}'\"` {others}", client(context))
        }
        None => format!("drop the anonymous accounts {others}"),
    }
}

/// Where `skip-grant-tables` was set: the owner's command line, else the
/// lines of its option files (each deleted with one `sed` per file, line
/// numbers as read, since sed numbers its input), else its option files
/// in words; a restart is what turns it off.
fn skip_grant_tables_fix(context: &Context<'_>) -> String {
    let on_command_line = context.target.owners.iter().find_map(|process| {
        process
            .cmdline
            .iter()
            .find(|arg| {
                let option = arg.split('=').next().unwrap_or_default().replace('_', "-");
                option == "--skip-grant-tables"
            })
            .map(|arg| (process, arg))
    });
    let restart = match context.target.owners.first() {
        Some(process) => match process.service_command("restart", context.caller_uid) {
            Some(command) => format!("`{command}`"),
            None => context.restart_fix(process.pid),
        },
        None => "restart the server".into(),
    };
    let lines = context.outcome.and_then(|outcome| outcome.skip_grant_tables.as_deref());
    match (on_command_line, lines) {
        (Some((process, arg)), _) => format!(
            "remove `{}` from the command that starts pid {}, then {restart}",
            crate::shell::printable_word(arg),
            process.pid
        ),
        (None, Some(lines)) if !lines.is_empty() => {
            let mut files: Vec<(&str, Vec<usize>)> = Vec::new();
            for line in lines {
                match files.iter_mut().find(|(file, _)| *file == line.file) {
                    Some((_, numbers)) => numbers.push(line.line),
                    None => files.push((&line.file, vec![line.line])),
                }
            }
            let commands: Vec<String> = files
                .iter()
                .map(|(file, numbers)| {
                    let deletions: Vec<String> =
                        numbers.iter().map(|number| format!("-e '{number}d'")).collect();
                    let which = match numbers.as_slice() {
                        [number] => format!("line {number} sets it"),
                        numbers => format!(
                            "lines {} set it",
                            numbers.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    format!(
                        "`sed -i {} {}` ({which})",
                        deletions.join(" "),
                        crate::shell::printable_word(file)
                    )
                })
                .collect();
            format!("{}, then {restart}", commands.join(" and "))
        }
        (None, _) => format!(
            "remove `skip-grant-tables` from the server's option files (`my_print_defaults --mysqld` lists what they set), then {restart}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    /// Over a socket file: who may connect grades it, and the fix's client
    /// goes to that file.
    #[test]
    fn over_a_unix_socket_who_may_connect_sets_the_severity() {
        use crate::audit::Connectors;
        let path = "/run/my sql/mysqld.sock";
        let mut socket = target(path, 0);
        let seen = outcome("mariadb", vec![empty("root", Some("root@localhost"))]);
        let graded = [
            (Connectors::Everyone, Some(Severity::High)),
            (Connectors::Group(27), Some(Severity::Medium)),
            (Connectors::Owner, None),
        ];
        for (connectors, severity) in graded {
            socket.unix = Some(socket_file(path, 0o140777, 105, connectors));
            let found = check(&context(&socket, Some(&seen)));
            assert_eq!(found.first().map(|f| f.severity), severity, "{connectors:?}");
            if let Some(found) = found.first() {
                assert!(found.evidence.contains("mode 0777, owner uid 105"), "{}", found.evidence);
                let client = "`mariadb --socket='/run/my sql/mysqld.sock' -u root -e";
                assert!(found.fix.starts_with(client), "{}", found.fix);
            }
        }
    }

    #[test]
    fn empty_password_exposed_is_critical() {
        let target = target("0.0.0.0", 3306);
        let seen = outcome("mariadb", vec![empty("root", Some("root@localhost"))]);
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::Critical);
    }

    fn empty(user: &str, account: Option<&str>) -> Observation {
        Observation::EmptyPassword {
            evidence: "OK".into(),
            user: user.into(),
            account: account.map(str::to_string),
        }
    }

    #[test]
    fn each_way_in_gets_its_own_fix() {
        let mut target = target("127.0.0.1", 3306);
        target.connect = Some("127.0.0.1:3306".parse().unwrap());
        let fix_of_on = |target: &crate::audit::Target, observation: Observation| {
            let seen = outcome("mariadb", vec![observation]);
            check(&context(target, Some(&seen))).remove(0)
        };
        let fix_of = |observation: Observation| fix_of_on(&target, observation);
        let root = fix_of(empty("root", Some("root@localhost")));
        assert!(
            root.fix.starts_with("`mariadb -h 127.0.0.1 -P 3306 -u root -e \"SET PASSWORD = PASSWORD('<long random secret>')\"`"),
            "{}",
            root.fix
        );
        let anonymous = fix_of(empty("porthole-audit", Some("@localhost")));
        assert_eq!(anonymous.severity, Severity::Medium);
        assert!(
            anonymous.fix.starts_with(
                "`mariadb -h 127.0.0.1 -P 3306 -u root -p -e \"DROP USER ''@'localhost'\"`"
            ),
            "{}",
            anonymous.fix
        );
        let odd = fix_of(empty("porthole-audit", Some("@x'; DROP")));
        assert!(odd.fix.starts_with("drop the anonymous accounts"), "{}", odd.fix);
        let skipping = fix_of(empty("root", Some("@")));
        assert_eq!(skipping.severity, Severity::High);
        assert!(skipping.evidence.contains("skip-grant-tables"), "{}", skipping.evidence);
        assert!(
            skipping.fix.starts_with("remove `skip-grant-tables` from the server's option files"),
            "{}",
            skipping.fix
        );
        let mut started = target.clone();
        started.owners[0].cmdline = vec!["mariadbd".into(), "--skip_grant_tables".into()];
        let skipping = fix_of_on(&started, empty("root", Some("@")));
        assert!(
            skipping.fix.starts_with(
                "remove `--skip_grant_tables` from the command that starts pid 42, then"
            ),
            "{}",
            skipping.fix
        );
    }

    /// `skip-grant-tables` from option files: every line that sets it is
    /// deleted, one `sed` per file, a name with a space quoted.
    #[test]
    fn skip_grant_tables_from_option_files_is_deleted_where_it_is() {
        use crate::audit::mysql_options::OptionLine;
        let target = target("127.0.0.1", 3306);
        let line = |file: &str, line| OptionLine {
            file: file.into(),
            line,
            group: "mysqld".into(),
            value: String::new(),
        };
        let mut seen = outcome("mariadb", vec![empty("root", Some("@"))]);
        seen.skip_grant_tables = Some(vec![
            line("/etc/mysql/my.cnf", 3),
            line("/etc/mysql/conf.d/a b.cnf", 2),
            line("/etc/mysql/my.cnf", 9),
        ]);
        let fix = check(&context(&target, Some(&seen))).remove(0).fix;
        assert!(
            fix.starts_with(
                "`sed -i -e '3d' -e '9d' /etc/mysql/my.cnf` (lines 3, 9 set it) and `sed -i -e '2d' '/etc/mysql/conf.d/a b.cnf'` (line 2 sets it), then"
            ),
            "{fix}"
        );
    }
}
