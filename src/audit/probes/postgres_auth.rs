//! PostgreSQL login client for `weak-password`: `SSLRequest` (TLS when the
//! server offers it, so a cleartext password never crosses an interface in
//! plain text when it need not), `StartupMessage`, then the method the
//! server asks for — cleartext (3), MD5 (5) or SASL SCRAM-SHA-256 (10) —
//! and its verdict: `AuthenticationOk` or an `ErrorResponse` whose SQLSTATE
//! says why (28P01 wrong password, 53300 too many connections).
//! See: <https://www.postgresql.org/docs/current/protocol-flow.html>

use std::net::SocketAddr;

use md5::{Digest, Md5};

use super::conn::{Conn, Deadline};
use super::login::Attempt;
use super::postgres::{startup_message, SSL_REQUEST, TERMINATE};
use super::scram::{Hash, Scram};

/// A message from the server: its type byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub body: Vec<u8>,
}

/// Splits the first whole message off `buffer`.
pub fn take_message(buffer: &mut Vec<u8>) -> Option<Message> {
    if buffer.len() < 5 {
        return None;
    }
    let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if length < 4 || buffer.len() < 1 + length {
        return None;
    }
    let body = buffer[5..1 + length].to_vec();
    let kind = buffer[0];
    buffer.drain(..1 + length);
    Some(Message { kind, body })
}

/// Fields of an `ErrorResponse`: (SQLSTATE, message).
pub fn error_fields(body: &[u8]) -> (String, String) {
    let mut code = String::new();
    let mut message = String::new();
    for field in body.split(|&b| b == 0) {
        match field.split_first() {
            Some((b'C', value)) => code = String::from_utf8_lossy(value).into_owned(),
            Some((b'M', value)) => message = String::from_utf8_lossy(value).into_owned(),
            _ => {}
        }
    }
    (code, message)
}

/// What an `ErrorResponse` during login means for the attempt.
pub fn classify_error(code: &str, message: &str) -> Attempt {
    match code {
        // invalid_password, invalid_authorization_specification (no such
        // role, pg_hba rejection of the user).
        "28P01" | "28000" => Attempt::Rejected,
        // The password was right; the database is missing or the role may
        // not log in to it.
        "3D000" => Attempt::Accepted,
        // too_many_connections, cannot_connect_now, configuration_limit.
        "53300" | "57P03" | "53400" => Attempt::Blocked(format!("{code} {message}")),
        _ => Attempt::Failed(format!("{code} {message}")),
    }
}

/// `md5` + hex(md5(hex(md5(password + user)) + salt)), PostgreSQL's MD5
/// password message.
pub fn md5_response(user: &str, password: &str, salt: &[u8]) -> String {
    let inner = hex(&Md5::digest([password.as_bytes(), user.as_bytes()].concat()));
    let outer = hex(&Md5::digest([inner.as_bytes(), salt].concat()));
    format!("md5{outer}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A frontend message: type byte, length, body.
fn frontend(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn password_message(text: &str) -> Vec<u8> {
    let mut body = text.as_bytes().to_vec();
    body.push(0);
    frontend(b'p', &body)
}

/// A connection with a read buffer, one server message at a time.
struct Session {
    conn: Conn,
    buffer: Vec<u8>,
}

impl Session {
    fn next(&mut self, deadline: &Deadline) -> Option<Message> {
        loop {
            if let Some(message) = take_message(&mut self.buffer) {
                return Some(message);
            }
            let (bytes, _) = self.conn.receive(deadline, None, |b| !b.is_empty());
            if bytes.is_empty() {
                return None;
            }
            self.buffer.extend_from_slice(&bytes);
        }
    }

    /// An authentication request's code and data.
    fn auth_request(&mut self, deadline: &Deadline) -> Result<(u32, Vec<u8>), Attempt> {
        match self.next(deadline) {
            Some(Message { kind: b'R', body }) if body.len() >= 4 => {
                let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                Ok((code, body[4..].to_vec()))
            }
            Some(Message { kind: b'E', body }) => {
                let (code, message) = error_fields(&body);
                Err(classify_error(&code, &message))
            }
            Some(other) => Err(Attempt::Failed(format!("unexpected message {:?}", other.kind))),
            None => Err(Attempt::Failed("connection closed during login".into())),
        }
    }
}

/// Tries one credential on a fresh connection.
pub fn attempt(address: SocketAddr, user: &str, password: &str, deadline: &Deadline) -> Attempt {
    let mut conn = match Conn::plain(address, deadline) {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    if conn.send(&SSL_REQUEST, deadline).is_err() {
        return Attempt::Failed("send failed".into());
    }
    let (answer, _) = conn.receive(deadline, None, |b| !b.is_empty());
    if answer.first() == Some(&b'S') {
        conn = match conn.into_tls(address, deadline) {
            Ok(tls) => tls,
            Err(error) => return Attempt::Failed(format!("TLS: {error}")),
        };
    } else if answer.first() != Some(&b'N') {
        return Attempt::Failed("no answer to SSLRequest".into());
    }
    let mut session = Session { conn, buffer: Vec::new() };
    let result = login(&mut session, user, password, deadline);
    if result == Attempt::Accepted {
        let _ = session.conn.send(&TERMINATE, deadline);
    }
    session.conn.close();
    result
}

fn login(session: &mut Session, user: &str, password: &str, deadline: &Deadline) -> Attempt {
    if session.conn.send(&startup_message(user, "postgres", "porthole-audit"), deadline).is_err() {
        return Attempt::Failed("send failed".into());
    }
    let (code, data) = match session.auth_request(deadline) {
        Ok(request) => request,
        Err(attempt) => return attempt,
    };
    match code {
        0 => return Attempt::Unsupported("no password needed (trust)".into()),
        3 => {
            if session.conn.send(&password_message(password), deadline).is_err() {
                return Attempt::Failed("send failed".into());
            }
        }
        5 if data.len() >= 4 => {
            let response = md5_response(user, password, &data[..4]);
            if session.conn.send(&password_message(&response), deadline).is_err() {
                return Attempt::Failed("send failed".into());
            }
        }
        10 => {
            let mechanisms: Vec<&[u8]> = data.split(|&b| b == 0).collect();
            if !mechanisms.contains(&b"SCRAM-SHA-256".as_slice()) {
                return Attempt::Unsupported("no SCRAM-SHA-256 among the SASL mechanisms".into());
            }
            if let Err(attempt) = scram(session, password, deadline) {
                return attempt;
            }
        }
        other => return Attempt::Unsupported(format!("authentication method {other}")),
    }
    match session.auth_request(deadline) {
        Ok((0, _)) => Attempt::Accepted,
        Ok((other, _)) => Attempt::Failed(format!("unexpected authentication request {other}")),
        Err(attempt) => attempt,
    }
}

/// SASLInitialResponse, SASLContinue, SASLResponse, SASLFinal.
fn scram(session: &mut Session, password: &str, deadline: &Deadline) -> Result<(), Attempt> {
    let mut exchange = Scram::new(Hash::Sha256, "", password, &Scram::random_nonce());
    let first = exchange.client_first();
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&(first.len() as u32).to_be_bytes());
    body.extend_from_slice(first.as_bytes());
    session
        .conn
        .send(&frontend(b'p', &body), deadline)
        .map_err(|_| Attempt::Failed("send failed".into()))?;
    let (code, server_first) = session.auth_request(deadline)?;
    if code != 11 {
        return Err(Attempt::Failed(format!("expected SASLContinue, got {code}")));
    }
    let server_first = String::from_utf8_lossy(&server_first).into_owned();
    let client_final =
        exchange.client_final(&server_first).map_err(|e| Attempt::Failed(e.to_string()))?;
    session
        .conn
        .send(&frontend(b'p', client_final.as_bytes()), deadline)
        .map_err(|_| Attempt::Failed("send failed".into()))?;
    let (code, server_final) = session.auth_request(deadline)?;
    if code != 12 {
        return Err(Attempt::Failed(format!("expected SASLFinal, got {code}")));
    }
    exchange
        .verify_server_final(&String::from_utf8_lossy(&server_final))
        .map_err(|e| Attempt::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_matches_postgres() {
        // SELECT 'md5' || md5(md5('postgres' || 'postgres') || 'abcd')
        // in psql: md5 of "3175bce1d3201d16594cebf9d7eb3f9d" + "abcd".
        let inner = hex(&Md5::digest(b"postgrespostgres"));
        assert_eq!(inner, "3175bce1d3201d16594cebf9d7eb3f9d");
        let response = md5_response("postgres", "postgres", b"abcd");
        assert_eq!(response.len(), 35);
        assert_eq!(response, format!("md5{}", hex(&Md5::digest(format!("{inner}abcd")))));
    }

    #[test]
    fn splits_messages_and_reads_errors() {
        let mut buffer = vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'S', 0, 0];
        let message = take_message(&mut buffer).unwrap();
        assert_eq!(message, Message { kind: b'R', body: vec![0, 0, 0, 0] });
        assert_eq!(buffer, [b'S', 0, 0], "the rest waits for more bytes");
        assert_eq!(take_message(&mut buffer), None);

        let body = b"SFATAL\0C28P01\0Mpassword authentication failed for user \"postgres\"\0\0";
        let (code, message) = error_fields(body);
        assert_eq!(code, "28P01");
        assert_eq!(classify_error(&code, &message), Attempt::Rejected);
        assert!(matches!(classify_error("53300", "sorry, too many clients"), Attempt::Blocked(_)));
        assert_eq!(classify_error("3D000", "database does not exist"), Attempt::Accepted);
    }
}
