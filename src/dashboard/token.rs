//! The dashboard's access token: 32 random bytes, base64url, created on the
//! first start and kept in a file only its owner can read (mode 0600), so
//! the same bookmark keeps working across restarts while other local users
//! (who can reach 127.0.0.1 too) cannot read it.
//!
//! The browser's cookie does not hold the token: it holds a [`Session`]
//! value, an HMAC of the token under a key drawn when the server starts. A
//! cookie read off a disk or out of a browser profile is not the token (it
//! opens neither `Authorization: Bearer` nor `?token=`, nor a scrape), and it
//! stops working when the server that issued it stops.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;

/// Name of the token file inside the state directory.
pub const FILE_NAME: &str = "dashboard.token";

/// Why the token could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Readable { path: PathBuf, mode: u32 },
    #[error("{path} does not hold a token; delete it to create a new one")]
    Malformed { path: PathBuf },
}

/// Reads the token at `path`, creating the file (and its directory) with a
/// new random token when it does not exist.
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            // A token others can read protects nothing: refuse rather than
            // serve with it.
            if mode & 0o077 != 0 {
                return Err(TokenError::Readable { path: path.to_path_buf(), mode });
            }
            let token = text.trim().to_string();
            if token.len() < 16 || !token.bytes().all(is_token_byte) {
                return Err(TokenError::Malformed { path: path.to_path_buf() });
            }
            Ok(token)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let token = generate().map_err(io)?;
            // create_new: two dashboards starting at once never overwrite
            // each other's token; the loser reads the winner's.
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    return load_or_create(path);
                }
                Err(error) => return Err(io(error)),
            };
            file.write_all(format!("{token}\n").as_bytes()).map_err(io)?;
            Ok(token)
        }
        Err(error) => Err(io(error)),
    }
}

/// A new token from the operating system's random source.
pub fn generate() -> Result<String, std::io::Error> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("no random bytes from the system"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The session cookie's value: `base64url(HMAC-SHA256(key, token))` with a
/// key of 32 random bytes held only in memory, so each server process issues
/// its own value and accepts no other.
pub struct Session {
    value: String,
}

impl Session {
    /// A session for `token` under a new random key.
    pub fn new(token: &str) -> Result<Session, std::io::Error> {
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
            .map_err(|_| std::io::Error::other("no random bytes from the system"))?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let tag = ring::hmac::sign(&key, token.as_bytes());
        Ok(Session { value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref()) })
    }

    /// What the cookie is set to.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a cookie presented this value (in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        matches(presented, &self.value)
    }
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// Compares a presented token with the real one in time independent of
/// where they differ, so response timing does not leak a prefix.
pub fn matches(presented: &str, token: &str) -> bool {
    let (a, b) = (presented.as_bytes(), token.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/dashboard.token");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 43, "{first}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        assert_ne!(generate().unwrap(), first);
    }

    #[test]
    fn readable_or_malformed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "x".repeat(40)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_or_create(&path), Err(TokenError::Readable { .. })));
        std::fs::write(&path, "short<>").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load_or_create(&path), Err(TokenError::Malformed { .. })));
    }

    #[test]
    fn a_session_is_not_the_token_and_each_server_has_its_own() {
        let token = generate().unwrap();
        let (first, second) = (Session::new(&token).unwrap(), Session::new(&token).unwrap());
        assert!(first.matches(first.value()));
        assert!(!first.matches(&token), "the token is not a session");
        assert!(!token.contains(first.value()) && !first.value().contains(&token));
        assert_ne!(first.value(), second.value(), "a restarted server issues a new value");
        assert!(!second.matches(first.value()), "and accepts no earlier one");
        assert_eq!(first.value().len(), 43, "{}", first.value());
        assert!(first.value().bytes().all(is_token_byte), "a cookie value as it stands");
    }

    #[test]
    fn comparison() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abd", "abc"));
        assert!(!matches("ab", "abc"));
    }
}
