//! MongoDB login client for `weak-password`: one `OP_MSG` `hello` naming
//! the user (`saslSupportedMechs: "admin.USER"`) to learn which SCRAM
//! mechanisms the account has, then `saslStart` / `saslContinue` on the
//! `admin` database with SCRAM-SHA-256 (preferred) or SCRAM-SHA-1, and the
//! server's signature checked before the login counts as accepted.
//!
//! The password is prepared the way MongoDB stores it: SASLprep for
//! SCRAM-SHA-256, `hex(MD5("USER:mongo:PASSWORD"))` for SCRAM-SHA-1 (the
//! old MONGODB-CR digest, which SCRAM-SHA-1 kept as its password).
//! The wire format (`OP_MSG`, BSON) is [`super::mongodb`]'s.
//! See: <https://github.com/mongodb/specifications/blob/master/source/auth/auth.md>

use std::net::SocketAddr;

use md5::{Digest, Md5};

use super::conn::{Conn, Deadline};
use super::login::Attempt;
use super::mongodb::{command, field, is_ok, Value};
use super::scram::{Hash, Scram};

/// The database the users of the default list live in.
const AUTH_DATABASE: &str = "admin";

/// MongoDB's error codes for a wrong password or an unknown user.
const AUTHENTICATION_FAILED: i64 = 18;
const USER_NOT_FOUND: i64 = 11;
/// `MechanismUnavailable`: the account has no credentials for it.
const MECHANISM_UNAVAILABLE: i64 = 334;

/// The mechanism to use, from `hello`'s `saslSupportedMechs`. A server
/// that leaves the field out (the user does not exist, or a server older
/// than 4.0) gets SCRAM-SHA-1, as drivers do: the attempt then fails like
/// any other wrong password.
pub fn choose_mechanism(supported: Option<&Value>) -> Result<Hash, Attempt> {
    let Some(Value::Array(names)) = supported else { return Ok(Hash::Sha1) };
    let offered = |wanted: &str| names.iter().any(|n| matches!(n, Value::Text(t) if t == wanted));
    if offered("SCRAM-SHA-256") {
        Ok(Hash::Sha256)
    } else if offered("SCRAM-SHA-1") {
        Ok(Hash::Sha1)
    } else {
        let names: Vec<&str> = names
            .iter()
            .filter_map(|n| match n {
                Value::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        Err(Attempt::Unsupported(format!("no SCRAM mechanism for the user ({})", names.join(", "))))
    }
}

/// The password SCRAM is computed from for `hash`; `None` when SASLprep
/// refuses it (a control character, say), so it cannot be tried.
pub fn prepared_password(hash: Hash, user: &str, password: &str) -> Option<String> {
    match hash {
        Hash::Sha1 => {
            let digest = Md5::digest(format!("{user}:mongo:{password}").as_bytes());
            Some(digest.iter().map(|b| format!("{b:02x}")).collect())
        }
        Hash::Sha256 => stringprep::saslprep(password).ok().map(|p| p.into_owned()),
    }
}

/// What an `ok: 0` reply during login means for the attempt.
pub fn classify_error(code: i64, code_name: &str, message: &str) -> Attempt {
    let text = format!("{code_name} {message}").to_ascii_lowercase();
    match code {
        AUTHENTICATION_FAILED | USER_NOT_FOUND => Attempt::Rejected,
        MECHANISM_UNAVAILABLE => Attempt::Unsupported(format!("{code_name}: {message}")),
        // No lockout is built in, but proxies, Atlas and rate limiters in
        // front of mongod say so in words.
        _ if ["too many", "rate limit", "ratelimit", "locked", "blocked"]
            .iter()
            .any(|sign| text.contains(sign)) =>
        {
            Attempt::Blocked(format!("code {code} {code_name}: {message}"))
        }
        _ => Attempt::Failed(format!("code {code} {code_name}: {message}")),
    }
}

fn text<'a>(fields: &'a [(String, Value)], name: &str) -> &'a str {
    match field(fields, name) {
        Some(Value::Text(text)) => text,
        _ => "",
    }
}

fn error_of(reply: &[(String, Value)]) -> Attempt {
    let code = match field(reply, "code") {
        Some(Value::Int(code)) => *code,
        Some(Value::Double(code)) => *code as i64,
        _ => 0,
    };
    classify_error(code, text(reply, "codeName"), text(reply, "errmsg"))
}

fn payload(reply: &[(String, Value)]) -> Result<String, Attempt> {
    match field(reply, "payload") {
        Some(Value::Binary(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        _ => Err(Attempt::Failed("SASL reply without a payload".into())),
    }
}

fn done(reply: &[(String, Value)]) -> bool {
    matches!(field(reply, "done"), Some(Value::Bool(true)))
}

/// Tries one credential on a fresh connection.
pub fn attempt(address: SocketAddr, user: &str, password: &str, deadline: &Deadline) -> Attempt {
    let mut conn = match Conn::plain(address, deadline) {
        Ok(conn) => conn,
        Err(error) => return Attempt::Failed(format!("connect: {error}")),
    };
    let result = login(&mut conn, user, password, deadline).unwrap_or_else(|attempt| attempt);
    conn.close();
    result
}

fn login(
    conn: &mut Conn,
    user: &str,
    password: &str,
    deadline: &Deadline,
) -> Result<Attempt, Attempt> {
    let closed = || Attempt::Failed("no whole reply (connection closed or timed out)".into());
    let hello = [
        ("hello", Value::Int(1)),
        ("saslSupportedMechs", Value::Text(format!("{AUTH_DATABASE}.{user}"))),
        ("$db", Value::Text(AUTH_DATABASE.into())),
    ];
    let reply = command(conn, deadline, 1, &hello).ok_or_else(closed)?;
    if !is_ok(&reply) {
        return Err(error_of(&reply));
    }
    let hash = choose_mechanism(field(&reply, "saslSupportedMechs"))?;
    let Some(prepared) = prepared_password(hash, user, password) else {
        return Err(Attempt::Unsupported("the password is not valid under SASLprep".into()));
    };

    let mut exchange = Scram::new(hash, user, &prepared, &Scram::random_nonce());
    let start = [
        ("saslStart", Value::Int(1)),
        ("mechanism", Value::Text(hash.mechanism().into())),
        ("payload", Value::Binary(exchange.client_first().into_bytes())),
        ("autoAuthorize", Value::Int(1)),
        ("$db", Value::Text(AUTH_DATABASE.into())),
    ];
    let reply = command(conn, deadline, 2, &start).ok_or_else(closed)?;
    if !is_ok(&reply) {
        return Err(error_of(&reply));
    }
    let conversation = match field(&reply, "conversationId") {
        Some(Value::Int(id)) => *id,
        _ => return Err(Attempt::Failed("saslStart reply without a conversationId".into())),
    };
    let client_final =
        exchange.client_final(&payload(&reply)?).map_err(|e| Attempt::Failed(e.to_string()))?;

    let proceed = |bytes: Vec<u8>| {
        [
            ("saslContinue", Value::Int(1)),
            ("conversationId", Value::Int(conversation)),
            ("payload", Value::Binary(bytes)),
            ("$db", Value::Text(AUTH_DATABASE.into())),
        ]
    };
    let reply =
        command(conn, deadline, 3, &proceed(client_final.into_bytes())).ok_or_else(closed)?;
    if !is_ok(&reply) {
        // A wrong password ends here: AuthenticationFailed (18).
        return Err(error_of(&reply));
    }
    // The server proves it knew the password too: an acceptance by a peer
    // that cannot sign is no acceptance.
    exchange.verify_server_final(&payload(&reply)?).map_err(|e| Attempt::Failed(e.to_string()))?;
    if !done(&reply) {
        // Without `skipEmptyExchange` the server waits for one empty step
        // before it marks the conversation done.
        let reply = command(conn, deadline, 4, &proceed(Vec::new())).ok_or_else(closed)?;
        if !is_ok(&reply) {
            return Err(error_of(&reply));
        }
        if !done(&reply) {
            return Err(Attempt::Failed("SASL conversation not done after the final step".into()));
        }
    }
    Ok(Attempt::Accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_sha256_and_falls_back_to_sha1() {
        let both = Value::Array(vec![
            Value::Text("SCRAM-SHA-1".into()),
            Value::Text("SCRAM-SHA-256".into()),
        ]);
        assert_eq!(choose_mechanism(Some(&both)), Ok(Hash::Sha256));
        let old = Value::Array(vec![Value::Text("SCRAM-SHA-1".into())]);
        assert_eq!(choose_mechanism(Some(&old)), Ok(Hash::Sha1));
        assert_eq!(choose_mechanism(None), Ok(Hash::Sha1), "unknown user: as drivers do");
        let external = Value::Array(vec![Value::Text("PLAIN".into())]);
        assert!(matches!(choose_mechanism(Some(&external)), Err(Attempt::Unsupported(_))));
    }

    #[test]
    fn passwords_are_prepared_as_mongodb_stores_them() {
        // The MONGODB-CR digest of user `user`, password `pencil`: the
        // password of the drivers' SCRAM-SHA-1 test vector.
        assert_eq!(
            prepared_password(Hash::Sha1, "user", "pencil").unwrap(),
            "1c33006ec1ffd90f9cadcbcc0e118200"
        );
        // SASLprep maps a non-ASCII space to a plain one and refuses
        // control characters.
        assert_eq!(prepared_password(Hash::Sha256, "u", "a\u{00A0}b").unwrap(), "a b");
        assert_eq!(prepared_password(Hash::Sha256, "u", "a\u{7}b"), None);
    }

    #[test]
    fn error_codes_map_to_attempts() {
        assert_eq!(
            classify_error(18, "AuthenticationFailed", "Authentication failed."),
            Attempt::Rejected
        );
        assert!(matches!(
            classify_error(334, "MechanismUnavailable", "Unable to use SCRAM-SHA-256"),
            Attempt::Unsupported(_)
        ));
        assert!(matches!(
            classify_error(8000, "AtlasError", "Too many authentication attempts"),
            Attempt::Blocked(_)
        ));
        assert!(matches!(classify_error(2, "BadValue", "Invalid payload"), Attempt::Failed(_)));
    }
}
