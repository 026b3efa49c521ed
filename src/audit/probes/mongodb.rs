//! MongoDB: an `OP_MSG` `hello` (always allowed before authentication), then
//! `listDatabases` with `nameOnly`. `ok: 1` on the second means the server
//! runs without `security.authorization`; `ok: 0, code: 13` means it is on.
//! Only the few BSON types these replies use are decoded. The login client
//! of `weak-password` ([`super::mongodb_auth`]) speaks through the same
//! encoder, decoder and [`command`].
//! See: <https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/>

use std::net::SocketAddr;

use super::conn::{Conn, Deadline};
use super::{Impact, Observation, Outcome};

const OP_MSG: i32 = 2013;

/// A BSON value as far as these probes need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Double(f64),
    Int(i64),
    Bool(bool),
    Text(String),
    /// Binary data (subtype 0, generic): SASL payloads.
    Binary(Vec<u8>),
    /// An array's elements in order (`saslSupportedMechs`).
    Array(Vec<Value>),
    Other,
}

/// Encodes a flat document of int32/bool/string/binary fields.
pub fn document(fields: &[(&str, Value)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        match value {
            Value::Int(number) => {
                body.push(0x10);
                body.extend_from_slice(name.as_bytes());
                body.push(0);
                body.extend_from_slice(&(*number as i32).to_le_bytes());
            }
            Value::Bool(flag) => {
                body.push(0x08);
                body.extend_from_slice(name.as_bytes());
                body.push(0);
                body.push(u8::from(*flag));
            }
            Value::Text(text) => {
                body.push(0x02);
                body.extend_from_slice(name.as_bytes());
                body.push(0);
                body.extend_from_slice(&((text.len() + 1) as i32).to_le_bytes());
                body.extend_from_slice(text.as_bytes());
                body.push(0);
            }
            Value::Binary(bytes) => {
                body.push(0x05);
                body.extend_from_slice(name.as_bytes());
                body.push(0);
                body.extend_from_slice(&(bytes.len() as i32).to_le_bytes());
                body.push(0x00);
                body.extend_from_slice(bytes);
            }
            Value::Double(_) | Value::Array(_) | Value::Other => {}
        }
    }
    let mut document = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    document.extend_from_slice(&body);
    document.push(0);
    document
}

/// Wraps a command document in an `OP_MSG` with one body section.
pub fn op_msg(request_id: i32, command: &[u8]) -> Vec<u8> {
    let length = 16 + 4 + 1 + command.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as i32).to_le_bytes());
    message.extend_from_slice(&request_id.to_le_bytes());
    message.extend_from_slice(&0i32.to_le_bytes());
    message.extend_from_slice(&OP_MSG.to_le_bytes());
    message.extend_from_slice(&0u32.to_le_bytes());
    message.push(0);
    message.extend_from_slice(command);
    message
}

/// Top-level fields of the body document of an `OP_MSG` reply.
pub fn reply_fields(message: &[u8]) -> Option<Vec<(String, Value)>> {
    let opcode = i32::from_le_bytes(message.get(12..16)?.try_into().ok()?);
    if opcode != OP_MSG || *message.get(20)? != 0 {
        return None;
    }
    top_level(message.get(21..)?)
}

fn top_level(document: &[u8]) -> Option<Vec<(String, Value)>> {
    decode(document, false)
}

/// The fields of one document. Arrays are decoded one level deep only
/// (`nested` is set inside one): a hostile reply nesting thousands of them
/// must not recurse that deep. Lengths are checked, never trusted: a
/// negative or oversized one ends the decoding with `None`.
fn decode(document: &[u8], nested: bool) -> Option<Vec<(String, Value)>> {
    let length = usize::try_from(i32::from_le_bytes(document.get(..4)?.try_into().ok()?)).ok()?;
    let document = document.get(..length)?;
    let mut position = 4;
    let mut fields = Vec::new();
    while position < document.len() {
        let kind = document[position];
        if kind == 0 {
            break;
        }
        let name_end = position + 1 + document[position + 1..].iter().position(|&b| b == 0)?;
        let name = String::from_utf8_lossy(&document[position + 1..name_end]).into_owned();
        let start = name_end + 1;
        let read_i32 = |at: usize| -> Option<i32> {
            Some(i32::from_le_bytes(document.get(at..at.checked_add(4)?)?.try_into().ok()?))
        };
        let read_length = |at: usize| -> Option<usize> { usize::try_from(read_i32(at)?).ok() };
        let (value, size) = match kind {
            0x01 => (
                Value::Double(f64::from_le_bytes(document.get(start..start + 8)?.try_into().ok()?)),
                8,
            ),
            0x02 => {
                let length = read_length(start)?;
                let text = document.get(start + 4..start + 4 + length.saturating_sub(1))?;
                (Value::Text(String::from_utf8_lossy(text).into_owned()), 4 + length)
            }
            0x03 => (Value::Other, read_length(start)?),
            // An array is a document keyed "0", "1"…: its values in order.
            0x04 if !nested => {
                let length = read_length(start)?;
                let elements = decode(document.get(start..start + length)?, true)?;
                (Value::Array(elements.into_iter().map(|(_, value)| value).collect()), length)
            }
            0x04 => (Value::Other, read_length(start)?),
            0x05 => {
                let length = read_length(start)?;
                let bytes = document.get(start + 5..start + 5 + length)?;
                (Value::Binary(bytes.to_vec()), 4 + 1 + length)
            }
            0x07 => (Value::Other, 12),
            0x08 => (Value::Bool(*document.get(start)? != 0), 1),
            0x09 | 0x11 | 0x12 => (
                Value::Int(i64::from_le_bytes(document.get(start..start + 8)?.try_into().ok()?)),
                8,
            ),
            0x0A => (Value::Other, 0),
            0x10 => (Value::Int(i64::from(read_i32(start)?)), 4),
            0x13 => (Value::Other, 16),
            _ => return Some(fields),
        };
        fields.push((name, value));
        position = start + size;
    }
    Some(fields)
}

/// The value of the top-level field `name`.
pub fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// Whether a reply says `ok: 1` (a double, an integer or a boolean).
pub fn is_ok(fields: &[(String, Value)]) -> bool {
    match field(fields, "ok") {
        Some(Value::Double(number)) => *number == 1.0,
        Some(Value::Int(number)) => *number == 1,
        Some(Value::Bool(flag)) => *flag,
        _ => false,
    }
}

/// Sends one command (request id `id`) and decodes the reply's body
/// document; `None` when nothing whole came back in time.
pub fn command(
    conn: &mut Conn,
    deadline: &Deadline,
    id: i32,
    fields: &[(&str, Value)],
) -> Option<Vec<(String, Value)>> {
    conn.send(&op_msg(id, &document(fields)), deadline).ok()?;
    let (reply, _) = conn.receive(deadline, None, |b| {
        b.len() >= 4 && b.len() >= i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    });
    reply_fields(&reply)
}

pub fn probe(address: SocketAddr, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("mongodb hello".into());
    let Ok(mut conn) = Conn::plain(address, deadline) else { return };
    let hello = [("hello", Value::Int(1)), ("$db", Value::Text("admin".into()))];
    let Some(reply) = command(&mut conn, deadline, 1, &hello) else { return };
    if !is_ok(&reply) {
        return;
    }
    outcome.service = Some("mongodb".into());
    outcome.probes.push("mongodb listDatabases".into());
    let list = [
        ("listDatabases", Value::Int(1)),
        ("nameOnly", Value::Bool(true)),
        ("$db", Value::Text("admin".into())),
    ];
    let Some(reply) = command(&mut conn, deadline, 2, &list) else { return };
    if is_ok(&reply) {
        outcome.observations.push(Observation::NoAuth {
            evidence: "OP_MSG listDatabases (nameOnly) → ok: 1 without credentials".into(),
            fix: "set `security.authorization: enabled` in mongod.conf (create an admin user first) and keep `net.bindIp: 127.0.0.1`".into(),
            impact: Impact::Control,
        });
    } else {
        let code = match field(&reply, "code") {
            Some(Value::Int(code)) => *code,
            _ => 0,
        };
        outcome.observations.push(Observation::AuthRequired {
            evidence: format!("OP_MSG listDatabases → ok: 0, code {code}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_reply() {
        // A reply as mongod would send it: {ok: 1.0, code: 13, codeName: "Unauthorized"}.
        let mut body = Vec::new();
        body.push(0x01);
        body.extend_from_slice(b"ok\0");
        body.extend_from_slice(&1.0f64.to_le_bytes());
        let mut doc =
            document(&[("code", Value::Int(13)), ("codeName", Value::Text("Unauthorized".into()))]);
        // Splice the double in front of the encoded fields.
        let mut spliced = doc[..4].to_vec();
        spliced.extend_from_slice(&body);
        spliced.extend_from_slice(&doc[4..]);
        let length = spliced.len() as i32;
        spliced[..4].copy_from_slice(&length.to_le_bytes());
        doc = spliced;
        let message = op_msg(7, &doc);
        let fields = reply_fields(&message).unwrap();
        assert!(is_ok(&fields));
        assert_eq!(field(&fields, "code"), Some(&Value::Int(13)));
        assert_eq!(field(&fields, "codeName"), Some(&Value::Text("Unauthorized".into())));
    }

    #[test]
    fn decodes_arrays_and_binary_and_refuses_bad_lengths() {
        // {m: ["SCRAM-SHA-1", "SCRAM-SHA-256"], p: BinData(0, "r=x")}
        let array = document(&[
            ("0", Value::Text("SCRAM-SHA-1".into())),
            ("1", Value::Text("SCRAM-SHA-256".into())),
        ]);
        let mut body = vec![0x04, b'm', 0];
        body.extend_from_slice(&array);
        let payload = document(&[("p", Value::Binary(b"r=x".to_vec()))]);
        body.extend_from_slice(&payload[4..payload.len() - 1]);
        let mut whole = ((body.len() + 5) as i32).to_le_bytes().to_vec();
        whole.extend_from_slice(&body);
        whole.push(0);
        let fields = top_level(&whole).unwrap();
        assert_eq!(
            field(&fields, "m"),
            Some(&Value::Array(vec![
                Value::Text("SCRAM-SHA-1".into()),
                Value::Text("SCRAM-SHA-256".into())
            ]))
        );
        assert_eq!(field(&fields, "p"), Some(&Value::Binary(b"r=x".to_vec())));

        // A string whose length is negative ends the decoding, no panic.
        let mut hostile = document(&[("t", Value::Text("abc".into()))]);
        hostile[7..11].copy_from_slice(&(-8i32).to_le_bytes());
        assert_eq!(top_level(&hostile), None);
    }

    #[test]
    fn hello_bytes() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0x1f, 0, 0, 0,                      // document length 31
            0x10, b'h', b'e', b'l', b'l', b'o', 0, 1, 0, 0, 0, // hello: int32 1
            0x02, b'$', b'd', b'b', 0, 6, 0, 0, 0, b'a', b'd', b'm', b'i', b'n', 0, // $db
            0,                                  // end of document
        ];
        assert_eq!(
            document(&[("hello", Value::Int(1)), ("$db", Value::Text("admin".into()))]),
            expected
        );
    }
}
