//! MySQL/MariaDB login client for `weak-password`: read the protocol 10
//! greeting (its 20-byte scramble and auth plugin), switch to TLS when the
//! server offers it, answer with the plugin's scramble —
//! `mysql_native_password` (SHA-1) or `caching_sha2_password` (SHA-256,
//! fast path; the full path sends the password only inside TLS) — follow an
//! auth-switch request, and read OK, ERR 1045 (wrong password) or a lockout
//! error (1129 host blocked, 1040 too many connections, MariaDB 4150 user
//! blocked, 4151 locked account, MySQL 3118/3955 locked account).
//! See: <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>

use std::net::SocketAddr;

use ring::digest;

use super::conn::{Conn, Deadline, Endpoint};
use super::login::Attempt;

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;

/// COM_QUIT, sequence 0.
const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

/// What the login needs from the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub capabilities: u32,
    /// auth-plugin-data, both parts, without the trailing NUL.
    pub scramble: Vec<u8>,
    pub plugin: String,
}

/// Parses a protocol 10 greeting payload (without the 4-byte header).
/// An ERR payload gives the error instead.
pub fn parse_handshake(payload: &[u8]) -> Result<Handshake, Attempt> {
    match payload.first() {
        Some(10) => {}
        Some(0xff) => return Err(classify_error(payload)),
        _ => return Err(Attempt::Failed("not a MySQL greeting".into())),
    }
    let malformed = || Attempt::Failed("malformed MySQL greeting".into());
    let version_end = 1 + payload[1..].iter().position(|&b| b == 0).ok_or_else(malformed)?;
    let mut at = version_end + 1 + 4; // NUL, thread id
    let part1 = payload.get(at..at + 8).ok_or_else(malformed)?.to_vec();
    at += 8 + 1; // filler
    let lower = payload.get(at..at + 2).ok_or_else(malformed)?;
    let mut capabilities = u32::from(u16::from_le_bytes([lower[0], lower[1]]));
    at += 2;
    if let Some(rest) = payload.get(at..at + 16) {
        // charset, status (2), upper capabilities (2), data length, 10 reserved
        capabilities |= u32::from(u16::from_le_bytes([rest[3], rest[4]])) << 16;
        let data_length = usize::from(rest[5]);
        at += 16;
        let part2_length = data_length.saturating_sub(8).max(13);
        let part2 = payload.get(at..(at + part2_length).min(payload.len())).unwrap_or_default();
        at += part2_length;
        let mut scramble = part1;
        scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
        let plugin = payload
            .get(at..)
            .and_then(|p| p.split(|&b| b == 0).next())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "mysql_native_password".into());
        return Ok(Handshake { capabilities, scramble, plugin });
    }
    Ok(Handshake { capabilities, scramble: part1, plugin: "mysql_native_password".into() })
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    parts.iter().for_each(|p| context.update(p));
    context.finish().as_ref().to_vec()
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut context = digest::Context::new(&digest::SHA256);
    parts.iter().for_each(|p| context.update(p));
    context.finish().as_ref().to_vec()
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `mysql_native_password`: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
pub fn native_scramble(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = sha1(&[password.as_bytes()]);
    let stage2 = sha1(&[&stage1]);
    xor(&stage1, &sha1(&[&scramble[..scramble.len().min(20)], &stage2]))
}

/// `caching_sha2_password`: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) +
/// scramble).
pub fn sha2_scramble(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = sha256(&[password.as_bytes()]);
    let stage2 = sha256(&[&stage1]);
    xor(&stage1, &sha256(&[&stage2, &scramble[..scramble.len().min(20)]]))
}

/// The auth response of `plugin`, or `None` for plugins this client does
/// not speak (ed25519, PAM, GSSAPI, unix_socket).
pub fn auth_response(plugin: &str, password: &str, scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        "mysql_native_password" => Some(native_scramble(password, scramble)),
        "caching_sha2_password" => Some(sha2_scramble(password, scramble)),
        _ => None,
    }
}

/// An ERR packet payload (`0xff`, code, `#`, SQLSTATE, message).
pub fn classify_error(payload: &[u8]) -> Attempt {
    let code = payload.get(1..3).map(|c| u16::from_le_bytes([c[0], c[1]])).unwrap_or(0);
    let text = match payload.get(3) {
        Some(b'#') => payload.get(9..),
        _ => payload.get(3..),
    };
    let message = String::from_utf8_lossy(text.unwrap_or_default()).into_owned();
    match code {
        1045 | 1698 => Attempt::Rejected,
        1040 | 1129 | 1203 | 3118 | 3955 | 4150 | 4151 => {
            Attempt::Blocked(format!("ERR {code} {message}"))
        }
        _ => Attempt::Failed(format!("ERR {code} {message}")),
    }
}

fn packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut bytes = vec![length as u8, (length >> 8) as u8, (length >> 16) as u8, sequence];
    bytes.extend_from_slice(payload);
    bytes
}

/// HandshakeResponse41 (or, with an empty `auth` and no user, the
/// SSLRequest prefix of it).
fn handshake_response(capabilities: u32, user: &str, plugin: &str, auth: &[u8]) -> Vec<u8> {
    let mut payload = capabilities.to_le_bytes().to_vec();
    payload.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
    payload.push(33); // utf8_general_ci
    payload.extend_from_slice(&[0; 23]);
    if capabilities & CLIENT_SSL != 0 && user.is_empty() {
        return payload;
    }
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    payload.push(auth.len() as u8);
    payload.extend_from_slice(auth);
    payload.extend_from_slice(plugin.as_bytes());
    payload.push(0);
    payload
}

/// A connection that reads one MySQL packet at a time.
struct Session {
    /// `None` only while the plain connection turns into TLS.
    conn: Option<Conn>,
    buffer: Vec<u8>,
    /// The sequence id of the last packet read.
    sequence: u8,
}

impl Session {
    fn read(&mut self, deadline: &Deadline) -> Option<Vec<u8>> {
        loop {
            if self.buffer.len() >= 4 {
                let length = usize::from(self.buffer[0])
                    | usize::from(self.buffer[1]) << 8
                    | usize::from(self.buffer[2]) << 16;
                if self.buffer.len() >= 4 + length {
                    self.sequence = self.buffer[3];
                    let payload = self.buffer[4..4 + length].to_vec();
                    self.buffer.drain(..4 + length);
                    return Some(payload);
                }
            }
            let (bytes, _) = self.conn.as_mut()?.receive(deadline, None, |b| !b.is_empty());
            if bytes.is_empty() {
                return None;
            }
            self.buffer.extend_from_slice(&bytes);
        }
    }

    fn write(&mut self, payload: &[u8], deadline: &Deadline) -> Result<(), Attempt> {
        self.sequence = self.sequence.wrapping_add(1);
        let conn = self.conn.as_mut().ok_or_else(|| Attempt::Failed("no connection".into()))?;
        conn.send(&packet(self.sequence, payload), deadline)
            .map_err(|e| Attempt::Failed(format!("send: {e}")))
    }

    fn is_tls(&self) -> bool {
        self.conn.as_ref().is_some_and(Conn::is_tls)
    }
}

/// Tries one credential on a fresh connection.
pub fn attempt(address: SocketAddr, user: &str, password: &str, deadline: &Deadline) -> Attempt {
    attempt_at(Endpoint::Tcp(address), user, password, deadline)
}

/// [`attempt`] at `endpoint`: over a Unix socket file no TLS is asked for
/// (the server offers none there).
pub fn attempt_at(
    endpoint: Endpoint<'_>,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    let conn = match Conn::open(endpoint, deadline) {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    let mut session = Session { conn: Some(conn), buffer: Vec::new(), sequence: 0 };
    let result = login(&mut session, endpoint, user, password, deadline);
    if let Some(mut conn) = session.conn.take() {
        if result == Attempt::Accepted {
            let _ = conn.send(&QUIT, deadline);
        }
        conn.close();
    }
    result
}

fn login(
    session: &mut Session,
    endpoint: Endpoint<'_>,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Attempt {
    let Some(greeting) = session.read(deadline) else {
        return Attempt::Failed("no greeting".into());
    };
    let handshake = match parse_handshake(&greeting) {
        Ok(handshake) => handshake,
        Err(attempt) => return attempt,
    };
    let mut capabilities =
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    let tls = match endpoint {
        Endpoint::Tcp(address) if handshake.capabilities & CLIENT_SSL != 0 => Some(address),
        _ => None,
    };
    if let Some(address) = tls {
        capabilities |= CLIENT_SSL;
        if let Err(attempt) =
            session.write(&handshake_response(capabilities, "", "", &[]), deadline)
        {
            return attempt;
        }
        let Some(plain) = session.conn.take() else {
            return Attempt::Failed("no connection".into());
        };
        session.conn = match plain.into_tls(address, deadline) {
            Ok(conn) => Some(conn),
            Err(error) => return Attempt::Failed(format!("TLS: {error}")),
        };
    }
    let mut plugin = handshake.plugin.clone();
    let mut scramble = handshake.scramble.clone();
    let Some(auth) = auth_response(&plugin, password, &scramble) else {
        return Attempt::Unsupported(format!("authentication plugin {plugin}"));
    };
    if let Err(attempt) =
        session.write(&handshake_response(capabilities, user, &plugin, &auth), deadline)
    {
        return attempt;
    }
    // At most: an auth switch, a caching_sha2 status, the final OK.
    for _ in 0..4 {
        let Some(reply) = session.read(deadline) else {
            return Attempt::Failed("connection closed during login".into());
        };
        match reply.first() {
            Some(0x00) => return Attempt::Accepted,
            Some(0xff) => return classify_error(&reply),
            Some(0xfe) => {
                // Auth switch: plugin name, NUL, new scramble.
                let mut parts = reply[1..].splitn(2, |&b| b == 0);
                plugin = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                let data = parts.next().unwrap_or_default();
                scramble = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                let Some(auth) = auth_response(&plugin, password, &scramble) else {
                    return Attempt::Unsupported(format!("authentication plugin {plugin}"));
                };
                if let Err(attempt) = session.write(&auth, deadline) {
                    return attempt;
                }
            }
            // caching_sha2_password: 3 fast auth succeeded (OK follows),
            // 4 full authentication needed.
            Some(0x01) if reply.get(1) == Some(&3) => {}
            Some(0x01) if reply.get(1) == Some(&4) => {
                if !session.is_tls() {
                    return Attempt::Unsupported(
                        "caching_sha2_password full authentication without TLS".into(),
                    );
                }
                let mut cleartext = password.as_bytes().to_vec();
                cleartext.push(0);
                if let Err(attempt) = session.write(&cleartext, deadline) {
                    return attempt;
                }
            }
            _ => return Attempt::Failed("unexpected reply during login".into()),
        }
    }
    Attempt::Failed("login did not finish".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's check: SHA1(response XOR SHA1(scramble + stored)) must
    /// equal stored, where stored = SHA1(SHA1(password)).
    #[test]
    fn native_scramble_passes_the_server_check() {
        let scramble = b"0123456789abcdefghij";
        let response = native_scramble("root", scramble);
        let stored = sha1(&[&sha1(&[b"root"])]);
        let stage1 = xor(&response, &sha1(&[scramble, &stored]));
        assert_eq!(sha1(&[&stage1]), stored);
        assert!(native_scramble("", scramble).is_empty(), "empty password, empty response");
    }

    #[test]
    fn sha2_scramble_passes_the_server_check() {
        let scramble = b"0123456789abcdefghij";
        let response = sha2_scramble("secret", scramble);
        let stage2 = sha256(&[&sha256(&[b"secret"])]);
        let stage1 = xor(&response, &sha256(&[&stage2, scramble]));
        assert_eq!(sha256(&[&stage1]), stage2);
    }

    /// A MariaDB 10.11 greeting as captured on loopback (thread id and
    /// scramble replaced).
    #[rustfmt::skip]
    const GREETING: &[u8] = &[
        10,                                             // protocol 10
        b'5', b'.', b'5', b'.', b'5', b'-', b'1', b'0', b'.', b'1', b'1', b'.', b'1',
        b'-', b'M', b'a', b'r', b'i', b'a', b'D', b'B', 0, // version
        7, 0, 0, 0,                                     // thread id
        b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h', // scramble part 1
        0,                                              // filler
        0xfe, 0xf7,                                     // capabilities (low)
        45,                                             // charset
        2, 0,                                           // status
        0xff, 0x81,                                     // capabilities (high)
        21,                                             // auth data length
        0, 0, 0, 0, 0, 0,                               // reserved
        0x1d, 0, 0, 0,                                  // MariaDB capabilities
        b'i', b'j', b'k', b'l', b'm', b'n', b'o', b'p', b'q', b'r', b's', b't', 0, // part 2
        b'm', b'y', b's', b'q', b'l', b'_', b'n', b'a', b't', b'i', b'v', b'e', b'_',
        b'p', b'a', b's', b's', b'w', b'o', b'r', b'd', 0, // plugin
    ];

    #[test]
    fn parses_a_greeting() {
        let handshake = parse_handshake(GREETING).unwrap();
        assert_eq!(handshake.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(handshake.plugin, "mysql_native_password");
        assert_eq!(handshake.capabilities & CLIENT_SSL, 0);
        assert_ne!(handshake.capabilities & CLIENT_PLUGIN_AUTH, 0);
    }

    #[test]
    fn classifies_errors() {
        let denied = b"\xff\x15\x04#28000Access denied for user 'root'@'localhost'";
        assert_eq!(classify_error(denied), Attempt::Rejected);
        let blocked = b"\xff\x69\x04Host '127.0.0.1' is blocked because of many connection errors";
        assert!(matches!(classify_error(blocked), Attempt::Blocked(m) if m.contains("1129")));
        assert!(matches!(parse_handshake(blocked), Err(Attempt::Blocked(_))));
    }
}
