//! Redis login client for `weak-password`: one `AUTH` per connection, in
//! RESP, as `AUTH password` for the `default` user (every version) or
//! `AUTH user password` for an ACL user (Redis 6+). Like the `PING` probe it
//! never sends anything Redis would read as a cross-protocol attack.
//! See: <https://redis.io/docs/latest/commands/auth/>

use std::net::SocketAddr;

use super::conn::{abbreviate, Conn, Deadline};
use super::login::Attempt;
use super::redis::{
    array_complete, parse_config_file, parse_protected_mode, resp_complete, CONFIG_PROTECTED_MODE,
    INFO_SERVER,
};
use super::Settings;

/// What a Redis says about itself once a password let porthole in, so the
/// `weak-password` fix changes the password where this server keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggedIn {
    /// `config_file:` of `INFO server` (`None`: `INFO` renamed away).
    pub settings: Option<Settings>,
    /// `CONFIG GET protected-mode` answered: `CONFIG SET` and `CONFIG
    /// REWRITE` can be used (`rename-command CONFIG ""` turns them off).
    pub config_command: bool,
    /// `ACL GETUSER` of the ACL user that got in lists the `nopass` flag:
    /// it takes any password, so the one on the list was no guess.
    pub no_password: bool,
}

/// Reads-only requests on a connection `AUTH` opened: `INFO server` and
/// `CONFIG GET protected-mode`, the same two the probe sends to a Redis
/// without a password.
fn logged_in(conn: &mut Conn, deadline: &Deadline, user: &str) -> LoggedIn {
    let mut found = LoggedIn::default();
    if user != "default" && conn.send(&command(&["ACL", "GETUSER", user]), deadline).is_ok() {
        // The flags come first, then `passwords`: enough to read.
        let (reply, _) = conn.receive(deadline, None, |b| {
            (b.first() == Some(&b'-') && b.ends_with(b"\r\n")) || contains(b, b"passwords\r\n")
        });
        found.no_password = has_nopass_flag(&reply);
    }
    if conn.send(INFO_SERVER, deadline).is_ok() {
        let (info, _) = conn.receive(deadline, None, resp_complete);
        found.settings = parse_config_file(&String::from_utf8_lossy(&info));
    }
    if conn.send(CONFIG_PROTECTED_MODE, deadline).is_ok() {
        let (reply, _) = conn.receive(deadline, None, array_complete);
        found.config_command = parse_protected_mode(&String::from_utf8_lossy(&reply)).is_some();
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Whether an `ACL GETUSER` reply's `flags` list holds `nopass` (an error,
/// `-NOPERM` for a user without the right, says nothing).
pub fn has_nopass_flag(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    let Some(flags) = text.split_once("\r\nflags\r\n").map(|(_, rest)| rest) else {
        return false;
    };
    let flags = flags.split("\r\npasswords\r\n").next().unwrap_or_default();
    flags.split("\r\n").any(|line| line == "nopass")
}

/// RESP array of bulk strings.
pub fn command(parts: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        bytes.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        bytes.extend_from_slice(part.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// The `AUTH` command for `user` (the `default` user gets the one-argument
/// form, which Redis before 6 also understands).
pub fn auth_command(user: &str, password: &str) -> Vec<u8> {
    if user == "default" {
        command(&["AUTH", password])
    } else {
        command(&["AUTH", user, password])
    }
}

/// Reads the reply line to `AUTH`.
pub fn classify(reply: &[u8]) -> Attempt {
    let text = String::from_utf8_lossy(reply);
    let line = text.lines().next().unwrap_or("").trim();
    if line == "+OK" {
        return Attempt::Accepted;
    }
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("-wrongpass") || lower.contains("invalid password") {
        return Attempt::Rejected;
    }
    // `default` is `nopass` but `off` (`ACL SETUSER default off` keeps
    // its `nopass`): a client that needs no password would have been let
    // in before `AUTH`, so this refuses the `default` user alone and the
    // ACL users on the list are still worth a try.
    if lower.contains("without any password configured") {
        return Attempt::Rejected;
    }
    if lower.contains("wrong number of arguments") {
        return Attempt::Unsupported("no ACL users on this server (Redis before 6)".into());
    }
    if lower.contains("max number of clients") || lower.contains("too many") {
        return Attempt::Blocked(format!("server answered {}", abbreviate(reply, 60)));
    }
    if line.is_empty() {
        return Attempt::Failed("no answer to AUTH".into());
    }
    Attempt::Failed(format!("unexpected answer {}", abbreviate(reply, 60)))
}

/// Tries one credential on a fresh connection, inside TLS for a server
/// that only listens on its `tls-port`. When it is accepted, `found` gets
/// what the server then says about its settings.
pub fn attempt(
    address: SocketAddr,
    tls: bool,
    user: &str,
    password: &str,
    deadline: &Deadline,
    found: &mut Option<LoggedIn>,
) -> Attempt {
    let conn = if tls { Conn::tls(address, deadline) } else { Conn::plain(address, deadline) };
    let mut conn = match conn {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    if let Err(error) = conn.send(&auth_command(user, password), deadline) {
        return Attempt::Failed(format!("send: {error}"));
    }
    let (reply, _) = conn.receive(deadline, None, |b| b.ends_with(b"\r\n"));
    let result = classify(&reply);
    if result == Attempt::Accepted {
        *found = Some(logged_in(&mut conn, deadline, user));
        let _ = conn.send(&command(&["QUIT"]), deadline);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_commands_in_resp() {
        assert_eq!(auth_command("default", "foobared"), b"*2\r\n$4\r\nAUTH\r\n$8\r\nfoobared\r\n");
        assert_eq!(auth_command("admin", ""), b"*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$0\r\n\r\n");
    }

    #[test]
    fn nopass_is_read_from_the_flags_only() {
        let reply =
            b"*20\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$6\r\nnopass\r\n$9\r\npasswords\r\n*0\r\n";
        assert!(has_nopass_flag(reply));
        let with_password =
            b"*20\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$6\r\nnopass\r\n";
        assert!(!has_nopass_flag(with_password), "a password hash is no flag");
        assert!(!has_nopass_flag(
            b"-NOPERM User admin has no permissions to run the 'acl|getuser' command\r\n"
        ));
    }

    #[test]
    fn classifies_replies_of_redis_7() {
        assert_eq!(classify(b"+OK\r\n"), Attempt::Accepted);
        assert_eq!(
            classify(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
            Attempt::Rejected
        );
        assert_eq!(classify(b"-ERR invalid password\r\n"), Attempt::Rejected);
        assert!(matches!(classify(b"-ERR max number of clients reached\r\n"), Attempt::Blocked(_)));
        assert_eq!(
            classify(b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
            Attempt::Rejected,
            "the default user is off, other users are not"
        );
        assert!(matches!(classify(b""), Attempt::Failed(_)));
    }
}
