//! Where a history store lives: `--store PATH`, `--store postgres://…`, or
//! by default a SQLite file in the state directory —
//! `/var/lib/porthole/history.sqlite` for root (a system service),
//! `$XDG_STATE_HOME/porthole/history.sqlite` (or
//! `~/.local/state/porthole/history.sqlite`) for everyone else.
//! See: <https://specifications.freedesktop.org/basedir-spec/latest/>

use std::fmt;
use std::path::{Path, PathBuf};

use super::StoreError;

/// A SQLite file or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL (libpq syntax).
    Postgres(String),
}

/// The file name of the default store inside the state directory.
pub const DEFAULT_FILE_NAME: &str = "history.sqlite";

impl StoreLocation {
    /// Parses `--store`: a URL starting with `postgres://` or
    /// `postgresql://`, else a file path.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::BadLocation {
            text: redact(text),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(bad("empty (expected a file path or postgres://…)"));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(&format!(
                "unknown scheme '{scheme}' (expected a file path or postgres://…)"
            )));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(text)))
    }

    /// The default store of the user running porthole.
    pub fn default_for_user() -> Result<Self, StoreError> {
        let root = rustix::process::geteuid().is_root();
        default_path(
            root,
            std::env::var_os("XDG_STATE_HOME").as_deref().map(Path::new),
            std::env::var_os("HOME").as_deref().map(Path::new),
        )
        .map(StoreLocation::Sqlite)
    }

    /// The state directory of the user running porthole: where the default
    /// store lives, and the dashboard's token beside it.
    pub fn state_directory() -> Result<PathBuf, StoreError> {
        let StoreLocation::Sqlite(path) = Self::default_for_user()? else {
            unreachable!("the default store is a file");
        };
        Ok(path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf))
    }

    /// `--store TEXT` when given, else the default.
    pub fn resolve(text: Option<&str>) -> Result<Self, StoreError> {
        match text {
            Some(text) => Self::parse(text),
            None => Self::default_for_user(),
        }
    }
}

/// The default path for root or another user, given the environment.
pub fn default_path(
    root: bool,
    state_home: Option<&Path>,
    home: Option<&Path>,
) -> Result<PathBuf, StoreError> {
    if root {
        return Ok(PathBuf::from("/var/lib/porthole").join(DEFAULT_FILE_NAME));
    }
    // The spec says a relative XDG_STATE_HOME is invalid and must be ignored.
    let state = match (state_home.filter(|p| p.is_absolute()), home) {
        (Some(state), _) => state.to_path_buf(),
        (None, Some(home)) => home.join(".local/state"),
        (None, None) => return Err(StoreError::NoStateDirectory),
    };
    Ok(state.join("porthole").join(DEFAULT_FILE_NAME))
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// A URL with its password replaced by `***`, fit for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let redacted_authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    // `password=` in the query string, libpq's other spelling.
    let tail = match tail.find("password=") {
        Some(start) => {
            let value_start = start + "password=".len();
            let value_end =
                tail[value_start..].find('&').map_or(tail.len(), |end| value_start + end);
            format!("{}***{}", &tail[..value_start], &tail[value_end..])
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{redacted_authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_urls() {
        assert_eq!(
            StoreLocation::parse("/tmp/h.sqlite").unwrap(),
            StoreLocation::Sqlite("/tmp/h.sqlite".into())
        );
        assert_eq!(
            StoreLocation::parse("postgres://u@h/db").unwrap(),
            StoreLocation::Postgres("postgres://u@h/db".into())
        );
        assert!(StoreLocation::parse("postgresql://h/db").is_ok());
        let error = StoreLocation::parse("mysql://u:secret@h/db").unwrap_err().to_string();
        assert!(error.contains("unknown scheme 'mysql'"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(StoreLocation::parse("").is_err());
    }

    #[test]
    fn default_paths() {
        assert_eq!(
            default_path(true, None, None).unwrap(),
            PathBuf::from("/var/lib/porthole/history.sqlite")
        );
        assert_eq!(
            default_path(false, Some(Path::new("/s")), Some(Path::new("/h"))).unwrap(),
            PathBuf::from("/s/porthole/history.sqlite")
        );
        assert_eq!(
            default_path(false, Some(Path::new("rel")), Some(Path::new("/h"))).unwrap(),
            PathBuf::from("/h/.local/state/porthole/history.sqlite")
        );
        assert!(matches!(default_path(false, None, None), Err(StoreError::NoStateDirectory)));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://me:pw@db:5432/x"), "postgres://me:***@db:5432/x");
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(
            redact("postgresql://db/x?user=a&password=pw&sslmode=disable"),
            "postgresql://db/x?user=a&password=***&sslmode=disable"
        );
    }
}
