//! Redis, Valkey, KeyDB: `PING` in RESP, then `INFO server` for the version
//! when no password is needed. RESP never contains a `Host:` or `POST` line,
//! the two things Redis logs as a cross-protocol attack.
//! See: <https://github.com/redis/redis/pull/12024>

use std::net::SocketAddr;

use super::conn::{abbreviate, Conn, Deadline, End};
use super::{Impact, Observation, Outcome, Settings};

pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
pub const INFO_SERVER: &[u8] = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";

pub const CONFIG_PROTECTED_MODE: &[u8] =
    b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$14\r\nprotected-mode\r\n";

/// The reply to `CONFIG GET protected-mode` is complete: an error line, an
/// empty array (the command is renamed away), or the name/value pair.
pub(crate) fn array_complete(bytes: &[u8]) -> bool {
    let lines = bytes.windows(2).filter(|w| *w == b"\r\n").count();
    match bytes.first() {
        Some(b'-') => lines >= 1,
        Some(b'*') => bytes.starts_with(b"*0\r\n") || lines >= 5,
        Some(_) => lines >= 1,
        None => false,
    }
}

/// `yes`/`no` from `*2 $14 protected-mode $3 yes`; `None` when absent.
pub fn parse_protected_mode(reply: &str) -> Option<bool> {
    let mut lines = reply.split("\r\n").filter(|l| !l.starts_with(['*', '$']));
    if lines.next()? != "protected-mode" {
        return None;
    }
    match lines.next()? {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// A RESP reply is complete: a simple line, or a bulk string with its body.
pub(crate) fn resp_complete(bytes: &[u8]) -> bool {
    let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") else { return false };
    if bytes.first() != Some(&b'$') {
        return true;
    }
    let length: i64 = String::from_utf8_lossy(&bytes[1..line_end]).parse().unwrap_or(-1);
    length < 0 || bytes.len() >= line_end + 2 + length as usize + 2
}

/// `config_file:` of `INFO server`: the file the server read, or none
/// (an empty value: started with command-line options only). `None` when
/// the field is missing.
pub fn parse_config_file(text: &str) -> Option<Settings> {
    let value = text.lines().find_map(|line| line.strip_prefix("config_file:"))?.trim();
    Some(if value.is_empty() {
        Settings::CommandLineOnly
    } else {
        Settings::File(value.to_string())
    })
}

/// How a fix makes Redis settings permanent: the lines in the server's own
/// configuration file, or command-line options when it has none (a line in
/// some redis.conf would not be read).
pub fn persist(settings: Option<&Settings>, lines: &[&str]) -> String {
    let quoted = |format_one: &dyn Fn(&str) -> String| {
        lines.iter().map(|line| format_one(line)).collect::<Vec<_>>()
    };
    match settings {
        Some(Settings::CommandLineOnly) => format!(
            "it runs without a config file: add `{}` to the command that starts it",
            quoted(&|line| format!("--{line}")).join(" ")
        ),
        Some(Settings::File(path)) => {
            format!(
                "set {} in {path}, then restart",
                quoted(&|line| format!("`{line}`")).join(" and ")
            )
        }
        // Not known (the server refused `INFO`, or turned this client
        // away): both places, since a line in a redis.conf the server was
        // not started with is never read.
        None => format!(
            "set {} in its redis.conf, then restart (started without one: add `{}` to the command that starts it)",
            quoted(&|line| format!("`{line}`")).join(" and "),
            quoted(&|line| format!("--{line}")).join(" ")
        ),
    }
}

/// Fields of `INFO server` worth reporting: name and version.
pub fn parse_info(text: &str) -> (Option<String>, Option<String>) {
    let field = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let version = field("valkey_version:").or_else(|| field("redis_version:"));
    let name = field("server_name:").or_else(|| {
        if text.contains("valkey_version:") {
            Some("valkey".into())
        } else {
            Some("redis".into())
        }
    });
    (name, version)
}

/// A Redis in protected mode turned this client's address away: `-DENIED`,
/// sent as soon as the connection is accepted (before any command), and
/// only while protected mode is on and the default user has no password.
pub fn denied(shown: &str, outcome: &mut Outcome) {
    outcome.service = Some("redis".into());
    outcome.note = Some("protected mode refused this client address".into());
    outcome
        .observations
        .push(Observation::ProtectedMode { on: true, evidence: format!("it answered {shown}") });
}

/// `PING`, then what the reply calls for. `tls_retry`: the owner is known
/// to be a Redis server, so a connection closed on `PING` without a word is
/// a TLS port (Redis answers `PING` on a plain port even to refuse it, with
/// `-NOAUTH` or `-DENIED`), and the `PING` is repeated inside TLS, which is
/// what such a port expects.
pub fn probe(address: SocketAddr, deadline: &Deadline, tls_retry: bool, outcome: &mut Outcome) {
    outcome.probes.push("redis PING".into());
    let Ok(mut conn) = Conn::plain(address, deadline) else { return };
    if conn.send(PING, deadline).is_err() {
        return;
    }
    let (reply, end) = conn.receive(deadline, None, resp_complete);
    if tls_retry && reply.is_empty() && matches!(end, End::Eof | End::Reset) {
        drop(conn);
        return probe_in_tls(address, deadline, outcome);
    }
    answered(conn, &reply, deadline, outcome);
}

/// `PING` over the Unix socket file `path` (`unixsocket`), then what the
/// reply calls for, as on a TCP port (no TLS there).
pub fn probe_unix(path: &str, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("redis PING (unix socket)".into());
    let Ok(mut conn) = Conn::unix(path, deadline) else { return };
    if conn.send(PING, deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, resp_complete);
    answered(conn, &reply, deadline, outcome);
}

/// `PING` inside TLS (`tls-port`).
fn probe_in_tls(address: SocketAddr, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("redis PING (tls)".into());
    let Ok(mut conn) = Conn::tls(address, deadline) else {
        outcome.note = Some("closed the connection on PING without a reply and refused TLS".into());
        return;
    };
    outcome.tls = true;
    outcome.service = Some("redis".into());
    let (reply, _) = match conn.send(PING, deadline) {
        Ok(()) => conn.receive(deadline, None, resp_complete),
        Err(_) => (Vec::new(), End::Reset),
    };
    if reply.is_empty() {
        // Redis asks for a client certificate by default (`tls-auth-clients
        // yes`) and hangs up on a client without one once the handshake
        // is over.
        outcome.note = Some(
            "TLS port: PING inside TLS got no answer (a client certificate is required, `tls-auth-clients yes`)"
                .into(),
        );
        return;
    }
    answered(conn, &reply, deadline, outcome);
}

/// Reads the reply to `PING` on `conn` (plain or TLS) and, when no
/// password was asked, what else the server says about itself.
fn answered(mut conn: Conn, reply: &[u8], deadline: &Deadline, outcome: &mut Outcome) {
    let shown = abbreviate(reply, 60);
    let tls = conn.is_tls();
    if reply.starts_with(b"+PONG") {
        outcome.service = Some("redis".into());
        outcome.probes.push("redis INFO server".into());
        if conn.send(INFO_SERVER, deadline).is_ok() {
            let (info, _) = conn.receive(deadline, None, resp_complete);
            let info = String::from_utf8_lossy(&info);
            let (name, version) = parse_info(&info);
            outcome.service = name;
            outcome.version = version;
            outcome.settings = parse_config_file(&info);
        }
        let (over, or_certificates) = if tls {
            (
                " over TLS",
                ", or `tls-auth-clients yes` so that only clients with a certificate get in",
            )
        } else {
            ("", "")
        };
        outcome.observations.push(Observation::NoAuth {
            evidence: format!("sent PING{over} → {shown} (no password asked)"),
            // The bind part depends on where it listens: the rules add it
            // only for an exposed listener.
            fix: format!(
                "{} (or ACL users{or_certificates})",
                persist(outcome.settings.as_ref(), &["requirepass <long random secret>"])
            ),
            impact: Impact::Control,
        });
        // Without a password, protected mode is what keeps clients of
        // other addresses out: worth knowing before grading exposure.
        outcome.probes.push("redis CONFIG GET protected-mode".into());
        if conn.send(CONFIG_PROTECTED_MODE, deadline).is_ok() {
            let (reply, _) = conn.receive(deadline, None, array_complete);
            if let Some(on) = parse_protected_mode(&String::from_utf8_lossy(&reply)) {
                outcome.observations.push(Observation::ProtectedMode {
                    on,
                    evidence: format!(
                        "CONFIG GET protected-mode → {}",
                        if on { "yes" } else { "no" }
                    ),
                });
            }
        }
    } else if reply.starts_with(b"-NOAUTH") || reply.starts_with(b"-WRONGPASS") {
        outcome.service = Some("redis".into());
        outcome
            .observations
            .push(Observation::AuthRequired { evidence: format!("sent PING → {shown}") });
    } else if reply.starts_with(b"-DENIED") {
        denied(&shown, outcome);
    } else if reply.starts_with(b"-") {
        outcome.service = Some("redis".into());
        outcome.note = Some(format!("PING → {shown}"));
    }
    // A TLS session ended without close_notify is an error in Redis's log.
    conn.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_framing() {
        assert!(resp_complete(b"+PONG\r\n"));
        assert!(!resp_complete(b"+PON"));
        assert!(!resp_complete(b"$10\r\nabc"));
        assert!(resp_complete(b"$3\r\nabc\r\n"));
    }

    #[test]
    fn protected_mode_replies() {
        let yes = "*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n";
        assert!(array_complete(yes.as_bytes()));
        assert!(!array_complete(&yes.as_bytes()[..20]));
        assert_eq!(parse_protected_mode(yes), Some(true));
        assert_eq!(
            parse_protected_mode("*2\r\n$14\r\nprotected-mode\r\n$2\r\nno\r\n"),
            Some(false)
        );
        assert!(array_complete(b"*0\r\n"));
        assert_eq!(parse_protected_mode("*0\r\n"), None);
        assert_eq!(parse_protected_mode("-ERR unknown command 'CONFIG'\r\n"), None);
    }

    #[test]
    fn info_names_redis_and_valkey() {
        let redis = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(parse_info(redis), (Some("redis".into()), Some("7.0.15".into())));
        let valkey =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n";
        assert_eq!(parse_info(valkey), (Some("valkey".into()), Some("8.0.1".into())));
    }

    #[test]
    fn the_config_file_of_info_server_names_where_a_fix_goes() {
        let with_file = "# Server\r\nredis_version:7.0.15\r\nconfig_file:/etc/redis/redis.conf\r\n";
        let settings = parse_config_file(with_file);
        assert_eq!(settings, Some(Settings::File("/etc/redis/redis.conf".into())));
        assert_eq!(
            persist(settings.as_ref(), &["bind 127.0.0.1 -::1", "protected-mode yes"]),
            "set `bind 127.0.0.1 -::1` and `protected-mode yes` in /etc/redis/redis.conf, then restart"
        );
        let flags_only = parse_config_file("redis_version:7.0.15\r\nconfig_file:\r\n");
        assert_eq!(flags_only, Some(Settings::CommandLineOnly));
        assert_eq!(
            persist(flags_only.as_ref(), &["bind 127.0.0.1 -::1", "protected-mode yes"]),
            "it runs without a config file: add `--bind 127.0.0.1 -::1 --protected-mode yes` to the command that starts it"
        );
        assert_eq!(parse_config_file("redis_version:7.0.15\r\n"), None);
        assert_eq!(
            persist(None, &["requirepass <long random secret>"]),
            "set `requirepass <long random secret>` in its redis.conf, then restart (started without one: add `--requirepass <long random secret>` to the command that starts it)"
        );
    }
}
