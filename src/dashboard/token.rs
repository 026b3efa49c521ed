//! The dashboard's access token: 32 random bytes, base64url, created on the
//! first start and kept in a file only its owner can read (mode 0600), so
//! the same bookmark keeps working across restarts while other local users
//! (who can reach 127.0.0.1 too) cannot read it.
//!
//! An existing file is used only when it is a regular file of this user (or
//! root) that no one else may read, reached through no link another user
//! made: whoever wrote the file knows its token, so a file another user
//! left at the path (in `/tmp`, say, before the first start) would open
//! the dashboard to them.
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
    /// Whoever wrote the file knows the token in it: a file another user
    /// made (planted before the first start in a directory they may write
    /// to, such as `/tmp`) would open the dashboard to them.
    #[error(
        "{path} belongs to uid {uid}, not to this user or root: whoever wrote it knows the \
         token; delete it to create a new one"
    )]
    Foreign { path: PathBuf, uid: u32 },
    /// A link another user made could point anywhere: at their own file,
    /// or at one of this user's, which `chmod` would then change.
    #[error(
        "{path} is a symbolic link made by uid {uid}, not by this user or root; delete it \
         to create a new token file"
    )]
    ForeignLink { path: PathBuf, uid: u32 },
    #[error(
        "{path} is a symbolic link to a file that does not exist; delete the link, or give \
         --token-file the file itself"
    )]
    Dangling { path: PathBuf },
    #[error("{path} is {kind}, not a token file")]
    NotAFile { path: PathBuf, kind: &'static str },
}

/// Reads the token at `path`, creating the file (and its directory) with a
/// new random token when it does not exist.
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    match read(path)? {
        Some(token) => Ok(token),
        None => match create(path)? {
            Some(token) => Ok(token),
            // Another dashboard starting at the same moment made it first:
            // its token is the one to use.
            None => read(path)?.ok_or_else(|| TokenError::Io {
                path: path.to_path_buf(),
                source: std::io::ErrorKind::NotFound.into(),
            }),
        },
    }
}

/// The longest token file read: a token is 43 bytes, and a file that is
/// not one (a log, a disk image) is not read whole to find that out.
const MAX_FILE: u64 = 4096;

/// The token in the file at `path`; `None` when there is no file.
fn read(path: &Path) -> Result<Option<String>, TokenError> {
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    // Non-blocking, so that a named pipe put there is refused rather than
    // waited on forever; a regular file reads the same either way.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // A link to nothing: creating the file would go through it
            // (`create_new` refuses that), and reading it again finds
            // nothing again, for ever.
            return match std::fs::symlink_metadata(path) {
                Ok(link) => Err(dangling(path, &link)),
                Err(_) => Ok(None),
            };
        }
        Err(error) => return Err(io(error)),
    };
    // Judged on the file that was opened, not on the path again, so it
    // cannot be swapped between the checks and the read.
    check_trusted(path, &file)?;
    let mut text = String::new();
    // A file that is not text, or longer than a token file, holds no token.
    let mut limited = std::io::Read::take(file, MAX_FILE + 1);
    if std::io::Read::read_to_string(&mut limited, &mut text).is_err()
        || text.len() as u64 > MAX_FILE
    {
        return Err(TokenError::Malformed { path: path.to_path_buf() });
    }
    let token = text.trim().to_string();
    if token.len() < 16 || !token.bytes().all(is_token_byte) {
        return Err(TokenError::Malformed { path: path.to_path_buf() });
    }
    Ok(Some(token))
}

/// The error for a symbolic link at `path` whose target does not exist.
fn dangling(path: &Path, link: &std::fs::Metadata) -> TokenError {
    use std::os::unix::fs::MetadataExt;
    let euid = rustix::process::geteuid().as_raw();
    if link.uid() != 0 && link.uid() != euid {
        TokenError::ForeignLink { path: path.to_path_buf(), uid: link.uid() }
    } else {
        TokenError::Dangling { path: path.to_path_buf() }
    }
}

/// Creates the file at `path` (and its directory) with a new random token;
/// `None` when a file appeared there first.
fn create(path: &Path) -> Result<Option<String>, TokenError> {
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let token = generate().map_err(io)?;
    // create_new (O_EXCL): two dashboards starting at once never overwrite
    // each other's token, and a link put there is not followed.
    let mut file =
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(error) => return Err(io(error)),
        };
    file.write_all(format!("{token}\n").as_bytes()).map_err(io)?;
    Ok(Some(token))
}

/// Whether `file`, opened at `path`, may hold this user's token: a regular
/// file that this user (or root) owns and only its owner may read, reached
/// through no link another user made.
fn check_trusted(path: &Path, file: &std::fs::File) -> Result<(), TokenError> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    let euid = rustix::process::geteuid().as_raw();
    let trusted = |uid: u32| uid == 0 || uid == euid;
    let link = std::fs::symlink_metadata(path).map_err(io)?;
    if link.file_type().is_symlink() && !trusted(link.uid()) {
        return Err(TokenError::ForeignLink { path: path.to_path_buf(), uid: link.uid() });
    }
    let metadata = file.metadata().map_err(io)?;
    if let Some(kind) = crate::file_kind::not_a_regular_file(metadata.file_type()) {
        return Err(TokenError::NotAFile { path: path.to_path_buf(), kind });
    }
    if !trusted(metadata.uid()) {
        return Err(TokenError::Foreign { path: path.to_path_buf(), uid: metadata.uid() });
    }
    // A token others can read protects nothing: refuse rather than serve
    // with it.
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenError::Readable { path: path.to_path_buf(), mode });
    }
    Ok(())
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

    // A link to a file that does not exist made `load_or_create` find no
    // file, fail to create one through the link (`create_new`), and start
    // over, until the stack overflowed and porthole aborted.
    #[test]
    fn a_link_to_nothing_is_refused_not_followed_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::os::unix::fs::symlink(dir.path().join("missing"), &path).unwrap();
        let error = load_or_create(&path).unwrap_err();
        assert!(matches!(error, TokenError::Dangling { .. }), "{error}");
        assert!(!dir.path().join("missing").exists(), "nothing created through the link");
    }

    // A named pipe was opened for reading and waited on for a writer, for
    // ever; other files were read whole, however large.
    #[test]
    fn only_a_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        rustix::fs::mkfifoat(rustix::fs::CWD, &pipe, rustix::fs::Mode::from_raw_mode(0o600))
            .unwrap();
        let error = load_or_create(&pipe).unwrap_err();
        assert!(matches!(error, TokenError::NotAFile { kind: "a named pipe", .. }), "{error}");
        let error = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(error, TokenError::NotAFile { kind: "a directory", .. }), "{error}");
        let big = dir.path().join("big");
        std::fs::write(&big, "a".repeat(1 << 20)).unwrap();
        std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load_or_create(&big), Err(TokenError::Malformed { .. })));
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
