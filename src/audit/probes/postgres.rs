//! PostgreSQL. The passive step is an `SSLRequest` (8 bytes), answered with
//! one byte, `S` or `N`: enough to identify the server, and not logged. With
//! `--active` a `StartupMessage` for user `postgres` follows: an
//! `AuthenticationOk` (`R`, length 8, code 0) means `trust` authentication.
//! That attempt shows in the server log, hence opt-in. Over a Unix socket
//! file the same steps run (the server answers the `SSLRequest` with `N`
//! there), and a login without a password is the socket's `local` lines.
//! See: <https://www.postgresql.org/docs/current/protocol-flow.html>

use std::net::SocketAddr;

use super::conn::{Conn, Deadline, Endpoint};
use super::{Observation, Outcome};

#[rustfmt::skip]
pub const SSL_REQUEST: [u8; 8] = [
    0x00, 0x00, 0x00, 0x08, // length
    0x04, 0xd2, 0x16, 0x2f, // 80877103, the SSLRequest code
];

/// Terminate (`X`): ends a session cleanly after a successful login.
pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// A protocol 3.0 StartupMessage for `user`/`database`, naming
/// `application` (what the server's log and `pg_stat_activity` show).
pub fn startup_message(user: &str, database: &str, application: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (key, value) in [("user", user), ("database", database), ("application_name", application)]
    {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// What the first reply to a StartupMessage says about authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    /// `R` code 0: logged in without a password.
    Ok,
    /// `R` with a method code (3 cleartext, 5 MD5, 10 SASL…).
    Method(u32),
    /// `E`: the server refused (no pg_hba.conf entry, no such role…).
    Error(String),
    Unknown,
}

pub fn parse_auth_reply(bytes: &[u8]) -> AuthReply {
    match bytes.first() {
        Some(b'R') if bytes.len() >= 9 => {
            let code = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
            if code == 0 {
                AuthReply::Ok
            } else {
                AuthReply::Method(code)
            }
        }
        Some(b'E') => {
            // Fields: a type byte, then a NUL-terminated string; `M` is the message.
            let message = bytes
                .get(5..)
                .unwrap_or_default()
                .split(|&b| b == 0)
                .find_map(|field| field.strip_prefix(b"M"))
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .unwrap_or_default();
            AuthReply::Error(message)
        }
        _ => AuthReply::Unknown,
    }
}

fn method_name(code: u32) -> &'static str {
    match code {
        2 => "Kerberos",
        3 => "cleartext password",
        5 => "MD5 password",
        7 => "GSSAPI",
        9 => "SSPI",
        10 => "SASL (SCRAM)",
        _ => "an authentication method",
    }
}

fn message_complete(bytes: &[u8]) -> bool {
    bytes.len() >= 5
        && bytes.len() > u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize
}

pub fn probe(address: SocketAddr, deadline: &Deadline, active: bool, outcome: &mut Outcome) {
    probe_at(Endpoint::Tcp(address), deadline, active, outcome);
}

/// [`probe`] over the Unix socket file `path` (`.s.PGSQL.PORT`).
pub fn probe_unix(path: &str, deadline: &Deadline, active: bool, outcome: &mut Outcome) {
    probe_at(Endpoint::Unix(path), deadline, active, outcome);
}

fn probe_at(endpoint: Endpoint<'_>, deadline: &Deadline, active: bool, outcome: &mut Outcome) {
    outcome.probes.push(match endpoint {
        Endpoint::Tcp(_) => "postgresql SSLRequest".into(),
        Endpoint::Unix(_) => "postgresql SSLRequest (unix socket)".into(),
    });
    let Ok(mut conn) = Conn::open(endpoint, deadline) else { return };
    if conn.send(&SSL_REQUEST, deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, |b| !b.is_empty());
    match reply.first() {
        Some(b'S') | Some(b'N') => outcome.service = Some("postgresql".into()),
        _ => return,
    }
    if let (Some(b'S'), Endpoint::Tcp(address)) = (reply.first(), endpoint) {
        // Finish the handshake so the server sees a clean session: an
        // abandoned handshake is logged as an SSL error.
        conn = match conn.into_tls(address, deadline) {
            Ok(tls) => tls,
            Err(_) => return,
        };
        outcome.tls = true;
    }
    if !active {
        conn.close();
        return;
    }
    outcome.probes.push("postgresql StartupMessage user=postgres (active)".into());
    if conn.send(&startup_message("postgres", "postgres", "porthole-audit"), deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, message_complete);
    match parse_auth_reply(&reply) {
        AuthReply::Ok if matches!(endpoint, Endpoint::Unix(_)) => {
            let _ = conn.send(&TERMINATE, deadline);
            outcome.observations.push(Observation::LocalTrust {
                evidence: "StartupMessage user=postgres database=postgres over the Unix socket → AuthenticationOk without a password".into(),
            });
        }
        AuthReply::Ok => {
            let Endpoint::Tcp(address) = endpoint else { return };
            // Logged in as the superuser: the server's own view of
            // pg_hba.conf says whom else it trusts (one SELECT).
            let mut rest = reply;
            let _authentication_ok = super::postgres_auth::take_message(&mut rest);
            let hba = super::pg_hba::read(&mut conn, deadline, rest);
            if hba.is_some() {
                outcome.probes.push("postgresql SELECT pg_hba_file_rules (active)".into());
            }
            let _ = conn.send(&TERMINATE, deadline);
            outcome.observations.push(Observation::TrustAuth {
                evidence: "StartupMessage user=postgres database=postgres → AuthenticationOk without a password".into(),
                loopback_only: None,
                hba,
                address,
            });
        }
        AuthReply::Method(code) => outcome.observations.push(Observation::AuthRequired {
            evidence: format!(
                "StartupMessage user=postgres → {} requested (code {code})",
                method_name(code)
            ),
        }),
        AuthReply::Error(message) => {
            outcome.note = Some(format!("login refused: {message}"));
        }
        AuthReply::Unknown => {}
    }
    conn.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authentication_replies() {
        assert_eq!(parse_auth_reply(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]), AuthReply::Ok);
        assert_eq!(parse_auth_reply(&[b'R', 0, 0, 0, 8, 0, 0, 0, 10]), AuthReply::Method(10));
        let error = b"E\x00\x00\x00\x20SFATAL\x00C28000\x00Mno pg_hba.conf entry\x00\x00";
        assert_eq!(parse_auth_reply(error), AuthReply::Error("no pg_hba.conf entry".into()));
    }

    #[test]
    fn startup_message_layout() {
        let message = startup_message("postgres", "postgres", "porthole-audit");
        let length = u32::from_be_bytes([message[0], message[1], message[2], message[3]]) as usize;
        assert_eq!(length, message.len());
        assert_eq!(&message[4..8], &[0, 3, 0, 0]);
        assert!(message.ends_with(b"porthole-audit\0\0"));
    }
}
