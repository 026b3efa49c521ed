//! `weak-password` (`--active`): a service that asks for a password
//! accepted one from porthole's short list of defaults (`foobared` for
//! Redis, `postgres`/`postgres`, `root`/`root`…) or from the site's
//! `--passwords FILE`. A password anyone can guess is no better than none:
//! loopback is reachable by every local process and, through DNS
//! rebinding or SSRF, by web pages. The finding never carries the
//! password unless `--show` asked for it (the engine drops it before).

use super::Context;
use crate::audit::memcached_options::SaslDatabase;
use crate::audit::probes::{Observation, Settings};
use crate::model::{Finding, RuleId, Severity};
use crate::shell;

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::WeakPassword {
                user,
                password,
                attempts,
                site,
                config_command,
                no_password,
            } => {
                let list = if *site { "the site's --passwords list" } else { "porthole's list" };
                let kind = if *site { "a listed password" } else { "a default password" };
                let plural = if *attempts == 1 { "" } else { "s" };
                // Jupyter has no accounts: the secret is a token or a password.
                let mut evidence = match (context.service_name(), user.as_str()) {
                    (Some("jupyter"), "token") => format!(
                        "accepted {} from {list} as its token ({attempts} attempt{plural}); ",
                        if *site { "a listed secret" } else { "a default secret" }
                    ),
                    (Some("jupyter"), _) => format!(
                        "logged in through the login form with {kind} from {list} ({attempts} attempt{plural}); "
                    ),
                    // Any password would have done: say so, not that it
                    // was guessed.
                    _ if *no_password => format!(
                        "logged in as `{user}` with a password from {list} ({attempts} attempt{plural}), and `ACL GETUSER {user}` shows `nopass`: the user takes any password; "
                    ),
                    _ => format!(
                        "logged in as `{user}` with {kind} from {list} ({attempts} attempt{plural}); "
                    ),
                };
                evidence.push_str(if context.reachable_from_network() {
                    "other devices can guess it too"
                } else {
                    "every local process, and web pages through DNS rebinding or SSRF, can guess it"
                });
                if let Some(password) = password {
                    evidence.push_str(&format!("; password: {password}"));
                }
                let severity = if context.reachable_from_network() {
                    Severity::Critical
                } else {
                    Severity::High
                };
                let fix = fix(context, user, *config_command);
                Some(context.finding(RuleId::WeakPassword, severity, evidence, fix))
            }
            _ => None,
        })
        .collect()
}

/// The command that sets a new password for `user` on this service. The
/// account name may come from the site's `--passwords` file, so it is made
/// one shell word wherever it is an argument, and never spliced into a
/// quoted SQL or JavaScript string unescaped.
fn fix(context: &Context<'_>, user: &str, config_command: Option<bool>) -> String {
    let port = context.target.port;
    let host = match context.target.connect {
        Some(address) if address.is_ipv6() => "::1".to_string(),
        Some(address) => address.ip().to_string(),
        None => "127.0.0.1".to_string(),
    };
    // Shown through the terminal sanitiser: a control character must
    // already be written as the shell reads it back.
    let account = shell::printable_word(user);
    match context.service_name().unwrap_or("") {
        "redis" | "valkey" | "keydb" if user == "default" => redis_default_fix(
            context.outcome.and_then(|outcome| outcome.settings.as_ref()),
            &host,
            port,
            config_command,
        ),
        "redis" | "valkey" | "keydb" => redis_user_fix(
            context.outcome,
            &format!("redis-cli -h {host} -p {port} --user {account} --askpass"),
            &account,
            config_command,
        ),
        // `\password` without a name changes the password of the user
        // psql logged in as: no name to quote inside the SQL side.
        "postgresql" => format!("`psql -h {host} -p {port} -U {account} -c '\\password'`"),
        "mariadb" => format!(
            "`mariadb -h {host} -P {port} -u {account} -p -e \"ALTER USER CURRENT_USER() IDENTIFIED BY '<new long random secret>'\"`"
        ),
        "mysql" => format!(
            "`mysql -h {host} -P {port} -u {account} -p -e \"ALTER USER CURRENT_USER() IDENTIFIED BY '<new long random secret>'\"`"
        ),
        // mongosh asks for the current password (`-u` without `-p`), then
        // `passwordPrompt()` for the new one: neither lands in the history.
        "mongodb" => {
            let host = if host.contains(':') { format!("[{host}]") } else { host };
            let name = serde_json::Value::String(user.to_string()).to_string();
            let script = shell::word_always(&format!("db.changeUserPassword({name}, passwordPrompt())"));
            format!(
                "`mongosh 'mongodb://{host}:{port}/admin' -u {account} --eval {script}` (asks for the current password, then the new one); then update the applications' connection strings"
            )
        }
        "elasticsearch" | "opensearch" => {
            let path_user = percent_encode(user);
            format!(
                "`curl -u {account} -X POST 'http://{host}:{port}/_security/user/{path_user}/_password' -H 'Content-Type: application/json' -d '{{\"password\":\"<new long random secret>\"}}'` (OpenSearch: `PUT _plugins/_security/api/internalusers/{path_user}`)"
            )
        }
        "jupyter" => "run `jupyter server password` (or set a long random `--IdentityProvider.token`), then restart Jupyter".to_string(),
        "memcached" => memcached_fix(context, user),
        "http" | "https" => format!(
            "`rabbitmqctl change_password {account} '<new long random secret>'` (for `guest`: `rabbitmqctl delete_user guest` after creating your own administrator)"
        ),
        other => format!("set a long random password for the account {account} on {other}"),
    }
}

/// A new password for a memcached account. With ASCII authentication the
/// account is a `user:password` line of its `-Y` file, which memcached
/// reads again on SIGHUP (memcached 1.6's `sighup_handler` sets the flag
/// its clock event reloads the file on): the line gets a random password
/// generated on this machine, so the secret never appears in a report.
/// The sed pattern holds the account name, so names with other characters
/// than letters, digits, `.`, `_` and `-` get the advice without the
/// command. The file is a [`shell::printable_word`]: the fix is shown
/// through the terminal sanitiser, which would turn a control character
/// inside plain quotes into `\x1b`, another file's name.
fn memcached_fix(context: &Context<'_>, user: &str) -> String {
    let outcome = context.outcome;
    if outcome.is_some_and(|outcome| outcome.memcached_sasl.is_some()) {
        return memcached_sasl_fix(outcome.and_then(|o| o.memcached_sasldb.as_ref()), user);
    }
    let file = outcome
        .and_then(|outcome| outcome.memcached_auth_file.as_deref())
        .map(shell::printable_word);
    let process = context.target.owners.iter().find(|p| p.name == "memcached");
    let plain = !user.is_empty()
        && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    match (file, process) {
        // A backtick would end the quoted command early.
        (Some(file), Some(process)) if plain && !file.contains('`') => {
            let pattern = user.replace('.', "\\.");
            format!(
                "`sed -i \"s/^{pattern}:.*/{user}:$(od -An -N24 -tx1 /dev/urandom | tr -d ' \\n')/\" {file} && kill -HUP {}` (memcached rereads its -Y file on SIGHUP; the clients then need the new password from that file)",
                process.pid
            )
        }
        (Some(file), _) => format!(
            "set a long random password on the line of {} in {file}, then send memcached SIGHUP (it rereads the file)",
            shell::printable_word(user)
        ),
        _ => format!(
            "set a long random password on the line of {} in memcached's -Y file, then send memcached SIGHUP (it rereads the file)",
            shell::printable_word(user)
        ),
    }
}

/// A new password for an account of a memcached with SASL: `saslpasswd2`
/// on the sasldb that server reads, in the realm it looks the account up
/// in (its host name), asking for the new password (or reading it from
/// stdin when that is no terminal). libsasl opens the database at every
/// login, so memcached needs no restart. A name beginning with `-` follows
/// `--`, where getopt stops reading options.
fn memcached_sasl_fix(database: Option<&SaslDatabase>, user: &str) -> String {
    let account = shell::printable_word(user);
    let Some(SaslDatabase { file, realm: Some(realm) }) = database else {
        let file = database.map_or_else(
            || "the sasldb_path of memcached's SASL configuration".to_string(),
            |database| shell::printable_word(&database.file).into_owned(),
        );
        return format!(
            "change the password of {account} in {file} (saslpasswd2 -f with that file and -u with memcached's host name), then update the clients"
        );
    };
    let (file, realm) = (shell::printable_word(file), shell::printable_word(realm));
    let separator = if user.starts_with('-') { "-- " } else { "" };
    // A backtick would end the quoted command early.
    if [&file, &realm, &account].iter().any(|word| word.contains('`')) {
        return format!(
            "change the password of {account} in {file} with saslpasswd2 (-a memcached -u {realm}), then update the clients"
        );
    }
    format!(
        "`saslpasswd2 -f {file} -a memcached -u {realm} {separator}{account}` (asks for the new password; memcached reads the database at every login), then give the clients the new password"
    )
}

/// A new password for Redis's `default` user, changed where this server
/// keeps it: at run time with `CONFIG SET` when `CONFIG` answered, and made
/// permanent in the file `INFO server` named, or in the command line of a
/// server started without one (where `CONFIG REWRITE` fails: "The server
/// is running without a config file"). Redis rewrites its process title
/// over its arguments, so whether that command line has a `--requirepass`,
/// or the password was set at run time, cannot be read: the fix fits both.
fn redis_default_fix(
    settings: Option<&Settings>,
    host: &str,
    port: u16,
    config_command: Option<bool>,
) -> String {
    let secret = "<new long random secret>";
    let set =
        format!("`redis-cli -h {host} -p {port} --askpass CONFIG SET requirepass '{secret}'`");
    match (config_command, settings) {
        (Some(false), Some(Settings::CommandLineOnly)) => format!(
            "`CONFIG` is renamed away on this server and it runs without a config file: give the command that starts it `--requirepass '{secret}'` (in place of its `--requirepass`, if it has one), then restart"
        ),
        (Some(false), settings) => format!(
            "`CONFIG` is renamed away on this server, so the password cannot change at run time: {}",
            crate::audit::probes::redis::persist(settings, &[&format!("requirepass {secret}")])
        ),
        (_, Some(Settings::CommandLineOnly)) => format!(
            "{set}, and give the command that starts it `--requirepass '{secret}'` (in place of its `--requirepass`, if it has one; it runs without a config file, so CONFIG REWRITE cannot keep the new one)"
        ),
        (_, Some(Settings::File(path))) => {
            format!("{set}, then `CONFIG REWRITE` so it survives a restart (it rewrites {path})")
        }
        (_, None) => format!(
            "{set}, then `CONFIG REWRITE` (or the same `requirepass` line in redis.conf) so it survives a restart"
        ),
    }
}

/// A new password for a Redis ACL user: `ACL SETUSER` at run time, then
/// kept where this server keeps the user, since a restart reads it from
/// there again: `ACL SAVE` for an `aclfile`, `CONFIG REWRITE` for `user`
/// lines of the configuration file `INFO` named (it rewrites them all),
/// and by hand for a line elsewhere (an included file, which `CONFIG
/// REWRITE` does not touch), for a server whose `CONFIG` is renamed away,
/// and for a `--user` of its command line (which the process title hides:
/// a user made with `ACL SETUSER` has none). `cli` is the `redis-cli`
/// command that logs in as the user; it asks for the password, which after
/// the first command is the new one.
fn redis_user_fix(
    outcome: Option<&crate::audit::probes::Outcome>,
    cli: &str,
    account: &str,
    config_command: Option<bool>,
) -> String {
    use crate::audit::redis_options::UserSource;
    let set = format!("`{cli} ACL SETUSER {account} resetpass '><new long random secret>'`");
    let settings = outcome.and_then(|outcome| outcome.settings.as_ref());
    let source = outcome.and_then(|outcome| outcome.redis_user_source.as_ref());
    let rewrite = format!(
        "{set}, then `{cli} CONFIG REWRITE` (with the new secret) so that {} keeps it",
        match settings {
            Some(Settings::File(config)) => shell::printable_word(config).into_owned(),
            _ => "its configuration file".to_string(),
        }
    );
    match (source, settings) {
        (Some(UserSource::AclFile(file)), _) => format!(
            "{set}, then `{cli} ACL SAVE` (with the new secret) so that its aclfile {} keeps it",
            shell::printable_word(file)
        ),
        (Some(UserSource::Line(line)), Some(Settings::File(config)))
            if config_command == Some(true) && line.file == *config =>
        {
            rewrite
        }
        (Some(UserSource::Line(line)), _) => format!(
            "{set}; a restart reads line {} of {} (`user {account} …`) again{}: there, put `>` and the same secret in place of its password or `nopass`",
            line.line,
            shell::printable_word(&line.file),
            if config_command == Some(false) { " (`CONFIG` is renamed away, so CONFIG REWRITE cannot write it)" } else { "" }
        ),
        (None, Some(Settings::CommandLineOnly)) => format!(
            "{set}; it runs without a config file: if the command that starts it has `--user {account} …`, put `>` and the same secret there in place of its password or `nopass` (a user made with `ACL SETUSER` is gone at the next restart)"
        ),
        // Made at run time and in no file: gone at the next restart.
        (None, Some(Settings::File(_))) => set,
        (None, None) if config_command == Some(true) => format!(
            "{rewrite} (or `{cli} ACL SAVE` when it has an aclfile)"
        ),
        (None, None) => format!(
            "{set}, then the same password in the file or command line that defines `{account}`"
        ),
    }
}

/// `value` for a URL path segment: unreserved characters kept, every other
/// byte as `%XX`. The result is also a plain shell word inside the quotes
/// the Elasticsearch line puts around the URL.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::probes::Outcome;
    use crate::audit::rules::testing::*;

    fn weak(user: &str, password: Option<&str>) -> Observation {
        Observation::WeakPassword {
            user: user.into(),
            password: password.map(str::to_string),
            attempts: 1,
            site: false,
            config_command: None,
            no_password: false,
        }
    }

    #[test]
    fn a_redis_fix_changes_the_password_where_that_server_keeps_it() {
        let target = target("127.0.0.1", 6379);
        let fix_for = |config_command, settings: Option<Settings>| {
            let mut seen = outcome("redis", vec![]);
            seen.observations.push(Observation::WeakPassword {
                user: "default".into(),
                password: None,
                attempts: 1,
                site: false,
                config_command,
                no_password: false,
            });
            seen.settings = settings;
            check(&context(&target, Some(&seen)))[0].fix.clone()
        };
        let file = || Some(Settings::File("/etc/redis/redis.conf".into()));
        // CONFIG works: set it now, rewrite the file INFO named.
        let fix = fix_for(Some(true), file());
        assert!(fix.starts_with("`redis-cli -h 127.0.0.1 -p 6379 --askpass CONFIG SET"), "{fix}");
        assert!(fix.contains("`CONFIG REWRITE`") && fix.contains("/etc/redis/redis.conf"), "{fix}");
        // No config file: CONFIG REWRITE would fail; the command line keeps it.
        let fix = fix_for(Some(true), Some(Settings::CommandLineOnly));
        assert!(fix.contains("CONFIG SET") && !fix.contains("`CONFIG REWRITE`"), "{fix}");
        let argument =
            "`--requirepass '<new long random secret>'` (in place of its `--requirepass`";
        assert!(fix.contains(&format!("give the command that starts it {argument}")), "{fix}");
        // CONFIG renamed away: no CONFIG command is printed at all.
        let fix = fix_for(Some(false), file());
        assert!(!fix.contains("redis-cli"), "{fix}");
        assert!(
            fix.contains(
                "set `requirepass <new long random secret>` in /etc/redis/redis.conf, then restart"
            ),
            "{fix}"
        );
        let fix = fix_for(Some(false), Some(Settings::CommandLineOnly));
        assert!(!fix.contains("redis-cli") && fix.contains("--requirepass"), "{fix}");
    }

    #[test]
    fn default_redis_password_names_the_account_and_the_fix() {
        let target = target("127.0.0.1", 6379);
        let seen = outcome("redis", vec![weak("default", None)]);
        let findings = check(&context(&target, Some(&seen)));
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.evidence.contains("`default`"), "{}", finding.evidence);
        assert!(finding.evidence.contains("(1 attempt);"), "{}", finding.evidence);
        assert!(finding.evidence.contains("DNS rebinding"), "{}", finding.evidence);
        assert!(!finding.evidence.contains("password:"), "no password without --show");
        assert!(finding.fix.contains("CONFIG SET requirepass"), "{}", finding.fix);
        assert!(finding.fix.contains("-p 6379"), "{}", finding.fix);
    }

    #[test]
    fn show_reveals_the_password_and_exposure_is_critical() {
        let target = target("0.0.0.0", 5432);
        let seen = outcome("postgresql", vec![weak("postgres", Some("postgres"))]);
        let finding = &check(&context(&target, Some(&seen)))[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert!(finding.evidence.ends_with("password: postgres"), "{}", finding.evidence);
        assert_eq!(finding.fix, "`psql -h 127.0.0.1 -p 5432 -U postgres -c '\\password'`");
    }

    #[test]
    fn jupyter_secrets_are_tokens_or_passwords() {
        let jupyter = target("127.0.0.1", 8888);
        let seen = outcome("jupyter", vec![weak("token", None)]);
        let finding = &check(&context(&jupyter, Some(&seen)))[0];
        assert!(finding.evidence.starts_with(
            "accepted a default secret from porthole's list as its token (1 attempt);"
        ));
        assert!(finding.fix.contains("jupyter server password"));
        let seen = outcome("jupyter", vec![weak("password", None)]);
        let finding = &check(&context(&jupyter, Some(&seen)))[0];
        assert!(finding.evidence.starts_with("logged in through the login form"));
    }

    #[test]
    fn acl_users_and_mariadb_get_their_own_commands() {
        let redis = target("127.0.0.1", 6380);
        let seen = outcome("redis", vec![weak("admin", None)]);
        assert!(check(&context(&redis, Some(&seen)))[0].fix.contains("ACL SETUSER admin"));
        let mongodb = target("127.0.0.1", 27017);
        let seen = outcome("mongodb", vec![weak("admin", None)]);
        assert!(check(&context(&mongodb, Some(&seen)))[0].fix.starts_with(
            "`mongosh 'mongodb://127.0.0.1:27017/admin' -u admin --eval 'db.changeUserPassword(\"admin\", passwordPrompt())'`"
        ));
        let mariadb = target("127.0.0.1", 3306);
        let seen = outcome("mariadb", vec![weak("root", None)]);
        assert!(check(&context(&mariadb, Some(&seen)))[0]
            .fix
            .starts_with("`mariadb -h 127.0.0.1 -P 3306 -u root -p"));
    }

    #[test]
    fn a_memcached_fix_edits_its_auth_file_and_signals_it() {
        let mut memcached = target("127.0.0.1", 11211);
        memcached.owners[0].name = "memcached".into();
        let pid = memcached.owners[0].pid;
        let mut seen = outcome("memcached", vec![weak("ops.team", None)]);
        seen.memcached_auth_file = Some("/proc/7/root/etc/memcached auth".into());
        let fix = check(&context(&memcached, Some(&seen)))[0].fix.clone();
        assert!(
            fix.starts_with(&format!(
                "`sed -i \"s/^ops\\.team:.*/ops.team:$(od -An -N24 -tx1 /dev/urandom | tr -d ' \\n')/\" '/proc/7/root/etc/memcached auth' && kill -HUP {pid}`"
            )),
            "{fix}"
        );
        // A name sed would read as more than itself: advice, no command.
        let seen_odd = Outcome { observations: vec![weak("a/b", None)], ..seen.clone() };
        let fix = check(&context(&memcached, Some(&seen_odd)))[0].fix.clone();
        assert!(!fix.contains('`') && fix.contains("/proc/7/root/etc/memcached auth"), "{fix}");
        // SASL, its database not found: advice without a command.
        let sasl = Outcome { memcached_sasl: Some("PLAIN".into()), ..seen };
        let fix = check(&context(&memcached, Some(&sasl)))[0].fix.clone();
        assert!(fix.contains("saslpasswd2") && !fix.contains('`'), "{fix}");
        // Found: saslpasswd2 on that file in memcached's realm.
        let database = SaslDatabase { file: "/srv/my db".into(), realm: Some("cachehost".into()) };
        let found = Outcome { memcached_sasldb: Some(database.clone()), ..sasl.clone() };
        let fix = check(&context(&memcached, Some(&found)))[0].fix.clone();
        assert!(
            fix.starts_with("`saslpasswd2 -f '/srv/my db' -a memcached -u cachehost ops.team`"),
            "{fix}"
        );
        // A name getopt would read as an option comes after `--`.
        let dashed = Outcome { observations: vec![weak("-d", None)], ..found };
        let fix = check(&context(&memcached, Some(&dashed)))[0].fix.clone();
        assert!(fix.contains(" -u cachehost -- -d`"), "{fix}");
        // Another host name: the realm is unknown, no command.
        let database = SaslDatabase { realm: None, ..database };
        let unknown = Outcome { memcached_sasldb: Some(database), ..sasl };
        let fix = check(&context(&memcached, Some(&unknown)))[0].fix.clone();
        assert!(!fix.contains('`') && fix.contains("'/srv/my db'"), "{fix}");
    }

    /// A `-Y` file named with quotes, `$(…)`, a newline and an ESC: the
    /// fix, shown as a terminal shows it (through the sanitiser), holds no
    /// control character and still edits that file when run by `sh`.
    /// Plain quotes around the name used to be shown as `'…\x1b…'`,
    /// another file's name.
    #[test]
    fn a_memcached_fix_for_a_hostile_file_name_runs_as_shown() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("it's $(touch pwned)\n\u{1b}[31m \u{202e}auth");
        std::fs::write(&named, "admin:admin\n").unwrap();
        let mut memcached = target("127.0.0.1", 11211);
        memcached.owners[0].name = "memcached".into();
        let mut seen = outcome("memcached", vec![weak("admin", None)]);
        seen.memcached_auth_file = Some(named.to_str().unwrap().into());
        let fix = check(&context(&memcached, Some(&seen)))[0].fix.clone();
        let shown = crate::render::sanitize::sanitize(&fix).into_owned();
        assert!(!shown.contains(['\u{1b}', '\n', '\u{202e}']), "{shown}");
        let command = shown.split('`').nth(1).expect("a command in backticks");
        let sed = command.split(" && kill").next().unwrap();
        let status =
            std::process::Command::new("sh").arg("-c").arg(sed).current_dir(dir.path()).status();
        assert!(status.unwrap().success(), "{sed}");
        let text = std::fs::read_to_string(&named).unwrap();
        assert!(text.starts_with("admin:") && text.len() == "admin:".len() + 49, "{text}");
        assert!(!dir.path().join("pwned").exists(), "{sed}");
        // A backtick would end the command early: the advice names the file.
        seen.memcached_auth_file = Some("/etc/a`b".into());
        let fix = check(&context(&memcached, Some(&seen)))[0].fix.clone();
        assert!(!fix.contains("sed") && fix.contains("'/etc/a`b'"), "{fix}");
    }

    #[test]
    fn an_account_name_from_a_site_list_stays_one_argument() {
        // A site's `--passwords` file may name any account; the fix line
        // must still run as printed: `echo` the command's arguments through
        // a real shell and read back the account name intact.
        let hostile = "o'brien $(id)";
        for (service, port) in [("redis", 6379), ("mongodb", 27017), ("postgresql", 5432)] {
            let seen = outcome(service, vec![weak(hostile, None)]);
            let fix = check(&context(&target("127.0.0.1", port), Some(&seen)))[0].fix.clone();
            let command = fix.split('`').nth(1).expect("a command in backticks");
            let echoed = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "for word in {}; do printf '%s\\n' \"$word\"; done",
                    &command[command.find(' ').unwrap_or(0)..]
                ))
                .output()
                .expect("sh runs");
            let words = String::from_utf8_lossy(&echoed.stdout).into_owned();
            assert!(words.lines().any(|line| line == hostile), "{service}: {fix}\n{words}");
            assert!(!words.contains("uid="), "{service}: {fix}");
        }
        let seen = outcome("mongodb", vec![weak(hostile, None)]);
        let fix = check(&context(&target("127.0.0.1", 27017), Some(&seen)))[0].fix.clone();
        assert!(
            fix.contains(r#"db.changeUserPassword("o'\''brien $(id)", passwordPrompt())"#),
            "{fix}"
        );
    }
}
