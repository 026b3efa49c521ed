//! MySQL/MariaDB active check (`--active` only): log in as `root` with an
//! empty password. The server logs failed logins, hence opt-in. The reply is
//! an OK packet (`0x00`), an ERR packet (`0xff`, usually 1045 access
//! denied), or an auth-switch request (`0xfe`) answered with an empty
//! response, as a client without a password would.
//! See: <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>

use std::net::SocketAddr;

use super::banner::mysql_greeting;
use super::conn::{Conn, Deadline, Endpoint};
use super::{Observation, Outcome};

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;

/// COM_QUIT, sequence 0.
pub const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

fn packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut bytes = vec![length as u8, (length >> 8) as u8, (length >> 16) as u8, sequence];
    bytes.extend_from_slice(payload);
    bytes
}

/// HandshakeResponse41 for `user` with an empty auth response.
pub fn login_packet(user: &str, plugin: &str) -> Vec<u8> {
    let capabilities =
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    let mut payload = capabilities.to_le_bytes().to_vec();
    payload.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
    payload.push(33); // utf8_general_ci
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    payload.push(0); // auth response length: empty password
    payload.extend_from_slice(plugin.as_bytes());
    payload.push(0);
    packet(1, &payload)
}

fn packet_complete(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && {
        let length =
            usize::from(bytes[0]) | usize::from(bytes[1]) << 8 | usize::from(bytes[2]) << 16;
        bytes.len() >= 4 + length
    }
}

/// The outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Accepted,
    Denied(String),
    /// The server wants more (full caching_sha2 auth over TLS, ed25519…).
    Unsupported,
}

fn classify(reply: &[u8]) -> (Login, Option<u8>) {
    match reply.get(4) {
        Some(0x00) => (Login::Accepted, None),
        Some(0xff) => {
            let message = reply.get(13..).map(|m| String::from_utf8_lossy(m).into_owned());
            (Login::Denied(message.unwrap_or_default()), None)
        }
        Some(0xfe) => (Login::Unsupported, reply.get(3).copied()),
        // caching_sha2_password fast-auth result: 3 success (an OK follows).
        Some(0x01) if reply.get(5) == Some(&3) => (Login::Accepted, None),
        _ => (Login::Unsupported, None),
    }
}

/// The user name of the second login: one no server has, so only an
/// anonymous account (`''@'localhost'`) or `skip-grant-tables` lets it in.
pub const UNKNOWN_USER: &str = "porthole-audit";

pub fn probe(address: SocketAddr, deadline: &Deadline, outcome: &mut Outcome) {
    probe_at(Endpoint::Tcp(address), deadline, outcome);
}

/// A password no account has: `unix_socket` authentication lets the
/// operating system's root in whatever password it sends.
const WRONG_PASSWORD: &str = "porthole-audit-not-the-password";

/// The passive read of the greeting over the Unix socket file `path`
/// (`socket=`, with `skip-networking` the only way in), then, with
/// `active`, the logins of [`probe`] there.
pub fn probe_unix(path: &str, deadline: &Deadline, active: bool, outcome: &mut Outcome) {
    outcome.probes.push("passive read (unix socket)".into());
    let Ok(mut conn) = Conn::unix(path, deadline) else { return };
    let (greeting, _) = conn.receive(deadline, None, packet_complete);
    conn.close();
    let Some(found) = mysql_greeting(&greeting) else { return };
    outcome.service = Some(found.service);
    outcome.version = found.version;
    if active && found.refused.is_none() {
        probe_at(Endpoint::Unix(path), deadline, outcome);
    }
}

fn probe_at(endpoint: Endpoint<'_>, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("mysql login root with empty password (active)".into());
    let Some((login, plugin, account)) = empty_login(endpoint, "root", deadline) else { return };
    let skipping = account.as_deref().is_some_and(skip_grant_tables);
    // Over the socket, root may be let in by who it is: `unix_socket`
    // (Debian's default for root) takes the client's uid from the kernel
    // and ignores the password, so a wrong one gets in as well. That lets
    // the system's root alone in, who owns the server anyway: no finding.
    if let (Login::Accepted, Endpoint::Unix(_), false) = (&login, endpoint, skipping) {
        outcome.probes.push("mysql login root with a wrong password (active)".into());
        let wrong = super::mysql_auth::attempt_at(endpoint, "root", WRONG_PASSWORD, deadline);
        if wrong == super::login::Attempt::Accepted {
            outcome.note = Some(
                "root logs in over the Unix socket with any password: `unix_socket` authentication, which lets only the system's root in".into(),
            );
            return;
        }
    }
    match login {
        Login::Accepted => outcome.observations.push(Observation::EmptyPassword {
            evidence: format!(
                "login as root with an empty password ({plugin}) → OK packet{}",
                as_account(account.as_deref())
            ),
            user: "root".into(),
            account,
        }),
        Login::Denied(message) => outcome.observations.push(Observation::AuthRequired {
            evidence: format!("login as root with an empty password → ERR {message}"),
        }),
        Login::Unsupported => {}
    }
    if skipping {
        // Every name gets in: a second login would say nothing new.
        return;
    }
    outcome.probes.push(format!("mysql login {UNKNOWN_USER} with empty password (active)"));
    if let Some((Login::Accepted, plugin, account)) = empty_login(endpoint, UNKNOWN_USER, deadline)
    {
        outcome.observations.push(Observation::EmptyPassword {
            evidence: format!(
                "login as `{UNKNOWN_USER}`, a user that does not exist, with an empty password ({plugin}) → OK packet{}",
                as_account(account.as_deref())
            ),
            user: UNKNOWN_USER.into(),
            account,
        });
    }
}

fn as_account(account: Option<&str>) -> String {
    match account {
        Some(account) => format!(", as `{account}` (CURRENT_USER())"),
        None => String::new(),
    }
}

/// Whether `CURRENT_USER()` is what a server started with
/// `--skip-grant-tables` answers: `@` (MariaDB) or `skip-grants
/// user@skip-grants host` (MySQL).
pub fn skip_grant_tables(account: &str) -> bool {
    account == "@" || account.starts_with("skip-grants user@")
}

/// Logs in as `user` with an empty password on a fresh connection and, when
/// that is let in, asks `SELECT CURRENT_USER()`: the account the server
/// matched (`root@localhost`, `@localhost` for an anonymous one). `None`
/// when no MySQL greeting came.
fn empty_login(
    endpoint: Endpoint<'_>,
    user: &str,
    deadline: &Deadline,
) -> Option<(Login, String, Option<String>)> {
    let mut conn = Conn::open(endpoint, deadline).ok()?;
    let (greeting, _) = conn.receive(deadline, None, packet_complete);
    let parsed = mysql_greeting(&greeting)?;
    let plugin = parsed.auth_plugin.unwrap_or_else(|| "mysql_native_password".into());
    conn.send(&login_packet(user, &plugin), deadline).ok()?;
    let (reply, _) = conn.receive(deadline, None, packet_complete);
    let (mut login, switch_sequence) = classify(&reply);
    let mut last = reply;
    if let Some(sequence) = switch_sequence {
        // Auth switch: answer with an empty response, as `mysql -uroot` would.
        if conn.send(&packet(sequence.wrapping_add(1), &[]), deadline).is_ok() {
            let (reply, _) = conn.receive(deadline, None, packet_complete);
            login = classify(&reply).0;
            last = reply;
        }
    }
    let account = if login == Login::Accepted {
        let account = current_user(&mut conn, deadline, last);
        let _ = conn.send(&QUIT, deadline);
        account
    } else {
        None
    };
    conn.close();
    Some((login, plugin, account))
}

/// Splits the first whole packet's payload off `buffer`.
fn take_packet(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    if !packet_complete(buffer) {
        return None;
    }
    let length =
        usize::from(buffer[0]) | usize::from(buffer[1]) << 8 | usize::from(buffer[2]) << 16;
    let payload = buffer[4..4 + length].to_vec();
    buffer.drain(..4 + length);
    Some(payload)
}

/// `SELECT CURRENT_USER()` after a login: `received` holds the login's
/// last reply (an OK, or caching_sha2's fast-auth result with its OK still
/// to come).
fn current_user(conn: &mut Conn, deadline: &Deadline, received: Vec<u8>) -> Option<String> {
    let mut buffer = received;
    // One short row is expected: a server that keeps sending is cut off.
    let mut budget: usize = 64 * 1024;
    let mut next = |conn: &mut Conn| loop {
        if let Some(payload) = take_packet(&mut buffer) {
            return Some(payload);
        }
        let (bytes, _) = conn.receive(deadline, None, |b| !b.is_empty());
        if bytes.is_empty() || bytes.len() > budget {
            return None;
        }
        budget -= bytes.len();
        buffer.extend_from_slice(&bytes);
    };
    // Up to the login's OK.
    while next(conn)?.first() != Some(&0x00) {}
    let query = b"\x03SELECT CURRENT_USER()";
    conn.send(&packet(0, query), deadline).ok()?;
    // Column count, one column definition, EOF, the row.
    let count = next(conn)?;
    if count.first() != Some(&1) {
        return None;
    }
    let _definition = next(conn)?;
    if next(conn)?.first() != Some(&0xfe) {
        return None;
    }
    let row = next(conn)?;
    let length = usize::from(*row.first().filter(|&&l| l < 251)?);
    row.get(1..1 + length).map(|text| String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_packet_layout() {
        let bytes = login_packet("root", "mysql_native_password");
        assert_eq!(usize::from(bytes[0]), bytes.len() - 4);
        assert_eq!(bytes[3], 1, "sequence 1 follows the greeting");
        assert_eq!(&bytes[36..41], b"root\0");
        assert_eq!(bytes[41], 0, "empty auth response");
    }

    #[test]
    fn classifies_replies() {
        assert_eq!(classify(&[7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]).0, Login::Accepted);
        let denied = b"\x1f\x00\x00\x02\xff\x15\x04#28000Access denied";
        assert!(matches!(classify(denied).0, Login::Denied(m) if m.contains("Access denied")));
    }

    #[test]
    fn skip_grant_tables_is_known_by_its_account() {
        assert!(skip_grant_tables("@"));
        assert!(skip_grant_tables("skip-grants user@skip-grants host"));
        assert!(!skip_grant_tables("@localhost"), "an anonymous account");
        assert!(!skip_grant_tables("root@localhost"));
    }
}
