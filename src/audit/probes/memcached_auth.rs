//! memcached login client for `weak-password`, one attempt per connection:
//! - ASCII authentication (`-Y FILE`, lines `user:password`): the first
//!   command must be `set <key> 0 0 <length>` whose data is `user
//!   password`; memcached answers `STORED` for a pair of its file and
//!   `CLIENT_ERROR authentication failure` otherwise, and stores nothing;
//! - SASL (`-S`): the binary protocol's `SASL auth` with mechanism `PLAIN`
//!   and the data `\0user\0password`; status 0 is a login, "authentication
//!   error" a wrong password.
//!
//! See: <https://github.com/memcached/memcached/blob/master/doc/protocol.txt>
//! ("Authentication") and
//! <https://github.com/memcached/memcached/wiki/SASLHowto>.

use std::net::SocketAddr;

use super::conn::{abbreviate, Conn, Deadline};
use super::login::Attempt;
use super::memcached::{request, response, OPCODE_SASL_AUTH, STATUS_AUTH_ERROR, STATUS_OK};

/// The ASCII authentication request for `user` and `password`.
fn ascii_request(user: &str, password: &str) -> Vec<u8> {
    let data = format!("{user} {password}");
    let mut bytes = format!("set porthole 0 0 {}\r\n", data.len()).into_bytes();
    bytes.extend_from_slice(data.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// What an ASCII authentication reply means.
fn classify_ascii(reply: &[u8]) -> Attempt {
    if reply.starts_with(b"STORED\r\n") {
        Attempt::Accepted
    } else if reply.starts_with(b"CLIENT_ERROR authentication failure") {
        Attempt::Rejected
    } else if reply.is_empty() {
        Attempt::Failed("no reply to the authentication request".into())
    } else {
        Attempt::Failed(format!("unexpected reply: {}", abbreviate(reply, 60)))
    }
}

/// One ASCII authentication attempt (`-Y`).
pub fn attempt_ascii(
    address: SocketAddr,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    // memcached reads the user up to the first space and compares lines:
    // such a pair cannot be in its file.
    if user.contains(char::is_whitespace) || password.contains(['\r', '\n']) {
        return Attempt::Rejected;
    }
    let mut conn = match Conn::plain(address, deadline) {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    if let Err(error) = conn.send(&ascii_request(user, password), deadline) {
        return Attempt::Failed(format!("send: {error}"));
    }
    let (reply, _) = conn.receive(deadline, None, |b| b.ends_with(b"\r\n"));
    classify_ascii(&reply)
}

/// One SASL `PLAIN` attempt over the binary protocol (`-S`), when the
/// server offered `mechanisms` with `PLAIN` among them.
pub fn attempt_sasl(
    address: SocketAddr,
    mechanisms: &str,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    if !mechanisms.split_whitespace().any(|mechanism| mechanism == "PLAIN") {
        return Attempt::Unsupported(format!(
            "SASL mechanisms {} without PLAIN",
            abbreviate(mechanisms.as_bytes(), 60)
        ));
    }
    let mut conn = match Conn::plain(address, deadline) {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    let credentials = format!("\0{user}\0{password}");
    let bytes = request(OPCODE_SASL_AUTH, b"PLAIN", credentials.as_bytes());
    if let Err(error) = conn.send(&bytes, deadline) {
        return Attempt::Failed(format!("send: {error}"));
    }
    let (reply, _) = conn.receive(deadline, None, |b| response(b).is_some());
    classify_sasl(&reply)
}

/// What a `SASL auth` response means.
fn classify_sasl(reply: &[u8]) -> Attempt {
    match response(reply) {
        Some((OPCODE_SASL_AUTH, (STATUS_OK, _), _)) => Attempt::Accepted,
        Some((OPCODE_SASL_AUTH, (STATUS_AUTH_ERROR, _), _)) => Attempt::Rejected,
        Some((_, (status, value), _)) => Attempt::Failed(format!(
            "SASL auth answered status {status:#06x}: {}",
            abbreviate(&value, 60)
        )),
        None => Attempt::Failed("no SASL auth response".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_authentication_is_a_set_of_user_and_password() {
        assert_eq!(ascii_request("admin", "a b"), b"set porthole 0 0 9\r\nadmin a b\r\n");
        assert_eq!(classify_ascii(b"STORED\r\n"), Attempt::Accepted);
        assert_eq!(classify_ascii(b"CLIENT_ERROR authentication failure\r\n"), Attempt::Rejected);
        assert!(matches!(classify_ascii(b"ERROR\r\n"), Attempt::Failed(_)));
    }

    #[test]
    fn sasl_statuses() {
        #[rustfmt::skip]
        let reply = |status: u8, value: &[u8]| -> Vec<u8> {
            [&[0x81, 0x21, 0, 0, 0, 0, 0, status, 0, 0, 0, value.len() as u8][..], &[0; 12], value]
                .concat()
        };
        assert_eq!(classify_sasl(&reply(0, b"Authenticated")), Attempt::Accepted);
        assert_eq!(classify_sasl(&reply(0x20, b"Auth failure")), Attempt::Rejected);
        assert!(matches!(classify_sasl(&reply(0x81, b"Unknown command")), Attempt::Failed(_)));
        assert!(matches!(classify_sasl(b""), Attempt::Failed(_)));
    }
}
