//! memcached: `version` in the ASCII protocol, and the binary protocol's
//! SASL handshake for a memcached that refuses ASCII.
//!
//! ASCII has no authentication unless memcached runs with `-Y FILE`
//! (then every command but the authenticating `set` gets `CLIENT_ERROR
//! unauthenticated`), so a `VERSION` answer means anyone can read and
//! overwrite the cache. With `-S` memcached speaks only the binary
//! protocol and wants a SASL login: an ASCII request is read as the start
//! of a 24-byte binary header and never answered. The binary `VERSION`
//! and `SASL list mechanisms` commands need no login, and the latter is
//! "unknown command" on a memcached without `-S`, which tells the two
//! apart. See: <https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped>

use std::time::Duration;

use super::conn::{abbreviate, Conn, Deadline, Endpoint};
use super::{Impact, Observation, Outcome};

pub const VERSION: &[u8] = b"version\r\n";

/// The binary protocol's request magic and the opcodes used here.
const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;
const OPCODE_VERSION: u8 = 0x0b;
const OPCODE_LIST_MECHANISMS: u8 = 0x20;
pub const OPCODE_SASL_AUTH: u8 = 0x21;

/// Binary status codes: success, "authentication error", "unknown command".
pub const STATUS_OK: u16 = 0x0000;
pub const STATUS_AUTH_ERROR: u16 = 0x0020;
const STATUS_UNKNOWN_COMMAND: u16 = 0x0081;

/// What is known of the memcached behind a port before it is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Its owner runs with `-S`: only the binary protocol answers.
    Sasl,
    /// Its owner is a memcached without `-S`, or it answered ASCII already.
    Ascii,
    /// Chosen by port only: ASCII first, for a while, then binary.
    Unknown,
}

/// How long a memcached chosen by port alone gets to answer ASCII before
/// the binary protocol is tried (one with `-S` never answers it).
const ASCII_WAIT: Duration = Duration::from_millis(1000);

pub fn probe(address: Endpoint<'_>, deadline: &Deadline, expect: Expect, outcome: &mut Outcome) {
    if expect != Expect::Sasl && probe_ascii(address, deadline, expect, outcome) {
        return;
    }
    probe_binary(address, deadline, outcome);
}

/// `version` in ASCII; false when nothing came back.
fn probe_ascii(
    address: Endpoint<'_>,
    deadline: &Deadline,
    expect: Expect,
    outcome: &mut Outcome,
) -> bool {
    outcome.probes.push("memcached version".into());
    let Ok(mut conn) = Conn::open(address, deadline) else { return true };
    if conn.send(VERSION, deadline).is_err() {
        return true;
    }
    let wait = (expect == Expect::Unknown).then_some(ASCII_WAIT);
    let (reply, _) = conn.receive(deadline, wait, |b| b.ends_with(b"\r\n"));
    let shown = abbreviate(&reply, 60);
    if let Some(rest) = reply.strip_prefix(b"VERSION ") {
        outcome.service = Some("memcached".into());
        outcome.version = Some(String::from_utf8_lossy(rest).trim().to_string());
        outcome.observations.push(Observation::NoAuth {
            evidence: format!("sent version → {shown} (ASCII protocol, no authentication)"),
            // Binding and UDP advice depend on how it runs: the rules add
            // them from the listener and the command line.
            fix: "enable SASL (`-S`) or ASCII authentication (`-Y FILE`) in memcached's options"
                .into(),
            impact: Impact::Control,
        });
    } else if reply.starts_with(b"CLIENT_ERROR unauthenticated") {
        outcome.service = Some("memcached".into());
        outcome.observations.push(Observation::AuthRequired {
            evidence: format!("sent version → {shown} (ASCII authentication, `-Y`)"),
        });
        // The listing shows notes, not observations a rule did not take up.
        outcome.note = Some("asks for a login: ASCII authentication (`-Y`)".into());
    } else if reply.starts_with(b"CLIENT_ERROR") || reply.starts_with(b"ERROR") {
        outcome.service = Some("memcached".into());
        outcome
            .observations
            .push(Observation::AuthRequired { evidence: format!("sent version → {shown}") });
    }
    !reply.is_empty()
}

/// Binary `VERSION` and `SASL list mechanisms`, sent together.
fn probe_binary(address: Endpoint<'_>, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("memcached binary version, SASL mechanisms".into());
    let Ok(mut conn) = Conn::open(address, deadline) else { return };
    let mut requests = request(OPCODE_VERSION, b"", b"");
    requests.extend(request(OPCODE_LIST_MECHANISMS, b"", b""));
    if conn.send(&requests, deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, |b| {
        response(b).and_then(|(_, _, used)| response(&b[used..])).is_some()
    });
    let Some((OPCODE_VERSION, (STATUS_OK, version), used)) = response(&reply) else { return };
    let Some((OPCODE_LIST_MECHANISMS, (status, mechanisms), _)) = response(&reply[used..]) else {
        return;
    };
    outcome.service = Some("memcached".into());
    outcome.version = Some(String::from_utf8_lossy(&version).trim().to_string());
    let mechanisms = String::from_utf8_lossy(&mechanisms).trim().to_string();
    match status {
        STATUS_OK => {
            let evidence = format!(
                "the ASCII protocol is refused; binary SASL list mechanisms → {} (SASL authentication, `-S`)",
                abbreviate(mechanisms.as_bytes(), 60)
            );
            outcome.note = Some(format!("asks for a login: {evidence}"));
            outcome.observations.push(Observation::AuthRequired { evidence });
            outcome.memcached_sasl = Some(mechanisms);
        }
        STATUS_UNKNOWN_COMMAND => outcome.observations.push(Observation::NoAuth {
            evidence: format!(
                "sent binary version → {} and SASL list mechanisms → unknown command (binary protocol, no authentication)",
                abbreviate(&version, 40)
            ),
            fix: "enable SASL (`-S`) or ASCII authentication (`-Y FILE`) in memcached's options"
                .into(),
            impact: Impact::Control,
        }),
        other => {
            outcome.note = Some(format!("SASL list mechanisms answered status {other:#06x}"));
        }
    }
}

/// One binary request: the 24-byte header, then `key` and `value` (no
/// extras).
pub fn request(opcode: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = (key.len() + value.len()) as u32;
    let mut bytes = vec![REQUEST, opcode];
    bytes.extend_from_slice(&(key.len() as u16).to_be_bytes());
    // Extras length, data type, vbucket.
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(&body.to_be_bytes());
    // Opaque and CAS.
    bytes.extend_from_slice(&[0; 12]);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    bytes
}

/// The first whole binary response in `bytes`: its opcode, status and
/// value, and how many bytes it took.
pub fn response(bytes: &[u8]) -> Option<(u8, (u16, Vec<u8>), usize)> {
    if bytes.len() < 24 || bytes[0] != RESPONSE {
        return None;
    }
    let key = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
    let extras = bytes[4] as usize;
    let status = u16::from_be_bytes([bytes[6], bytes[7]]);
    let body = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let end = 24usize.checked_add(body)?;
    if bytes.len() < end || key + extras > body {
        return None;
    }
    Some((bytes[1], (status, bytes[24 + key + extras..end].to_vec()), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_responses_are_framed_by_their_header() {
        // memcached 1.6.18 -S: VERSION, then SASL list mechanisms.
        #[rustfmt::skip]
        let reply: Vec<u8> = [
            &[0x81, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6][..], &[0; 12], b"1.6.18",
            &[0x81, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5][..], &[0; 12], b"PLAIN",
        ]
        .concat();
        let (opcode, (status, value), used) = response(&reply).unwrap();
        assert_eq!((opcode, status, value.as_slice(), used), (0x0b, 0, &b"1.6.18"[..], 30));
        let (opcode, (status, value), _) = response(&reply[used..]).unwrap();
        assert_eq!((opcode, status, value.as_slice()), (0x20, 0, &b"PLAIN"[..]));
        // Not whole yet, or not a response.
        assert_eq!(response(&reply[..29]), None);
        assert_eq!(response(&request(0x0b, b"", b"")), None);
        // A body shorter than its key is no response either.
        let mut lying = reply[..30].to_vec();
        lying[3] = 9;
        assert_eq!(response(&lying), None);
    }

    /// A memcached with `-S` found by port alone: ASCII goes unanswered
    /// (memcached waits for the rest of a 24-byte binary header), then the
    /// binary protocol says SASL. The stand-in answers as memcached 1.6.18
    /// does (bytes captured from `memcached -S`).
    #[test]
    fn a_memcached_that_ignores_ascii_is_asked_in_binary() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            // ASCII: read it, answer nothing until the client gives up.
            let (mut ascii, _) = listener.accept().unwrap();
            let mut sink = Vec::new();
            let _ = ascii.read_to_end(&mut sink);
            let (mut binary, _) = listener.accept().unwrap();
            let mut requests = [0u8; 48];
            binary.read_exact(&mut requests).unwrap();
            #[rustfmt::skip]
            let reply: Vec<u8> = [
                &[0x81, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6][..], &[0; 12], b"1.6.18",
                &[0x81, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5][..], &[0; 12], b"PLAIN",
            ]
            .concat();
            binary.write_all(&reply).unwrap();
            (sink, requests)
        });
        let deadline = Deadline::new(Duration::from_secs(30), Duration::from_secs(60));
        let mut outcome = Outcome::default();
        probe(address.into(), &deadline, Expect::Unknown, &mut outcome);
        let (ascii, binary) = server.join().unwrap();
        assert_eq!(ascii, VERSION);
        assert_eq!((binary[0], binary[1], binary[24], binary[25]), (0x80, 0x0b, 0x80, 0x20));
        assert_eq!(outcome.service.as_deref(), Some("memcached"));
        assert_eq!(outcome.version.as_deref(), Some("1.6.18"));
        assert_eq!(outcome.memcached_sasl.as_deref(), Some("PLAIN"));
        assert!(
            matches!(&outcome.observations[..], [Observation::AuthRequired { evidence }]
                if evidence.contains("SASL authentication, `-S`")),
            "{outcome:?}"
        );
    }

    #[test]
    fn requests_carry_key_and_value_lengths() {
        let bytes = request(OPCODE_SASL_AUTH, b"PLAIN", b"\0u\0p");
        assert_eq!(&bytes[..4], &[0x80, 0x21, 0, 5]);
        assert_eq!(&bytes[8..12], &9u32.to_be_bytes());
        assert_eq!(&bytes[24..], b"PLAIN\0u\0p");
    }
}
