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
    /// A `postgres://` or `postgresql://` URL or a keyword string
    /// (`host=… dbname=…`), read as libpq reads them.
    Postgres(String),
}

/// The keywords a PostgreSQL keyword string may start with: a `--store`
/// value that starts with one of them and `=` is a connection string, not
/// a file (`./host=x` is a file).
pub(crate) const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// Whether `text` is a PostgreSQL URL.
pub fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// Whether `text` is a PostgreSQL keyword string (`host=… dbname=…`): it
/// starts with a connection keyword and `=`.
pub fn is_keyword_string(text: &str) -> bool {
    let text = text.trim_start();
    let key_end = text.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(text.len());
    KEYWORDS.contains(&&text[..key_end]) && text[key_end..].trim_start().starts_with('=')
}

/// What libpq would refuse in a connection string, refused before anything
/// is opened.
#[cfg(feature = "postgres")]
fn check_connection_string(text: &str) -> Result<(), String> {
    super::conninfo::config(text, |name| std::env::var(name).ok()).map(drop)
}

/// Without PostgreSQL support the store is refused when it is opened.
#[cfg(not(feature = "postgres"))]
fn check_connection_string(_text: &str) -> Result<(), String> {
    Ok(())
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
        if is_url(text) || is_keyword_string(text) {
            check_connection_string(text).map_err(|reason| bad(&reason))?;
            return Ok(StoreLocation::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(&format!(
                "unknown scheme '{scheme}' (expected a file path or postgres://…)"
            )));
        }
        // SQLite reads a name starting with `file:` as a URI (readers would
        // open the file it names, the writer a path of that name): neither
        // is guessed.
        if let Some(rest) = text.strip_prefix("file:") {
            return Err(bad(&format!(
                "a SQLite URI is not taken: give the file's path ({}), or ./{text} for a file \
                 whose name starts with 'file:'",
                rest.split(['?', '#']).next().unwrap_or(rest)
            )));
        }
        // `dir/` was made into a file named `dir`, which readers given the
        // same `dir/` could not open ("Not a directory").
        let path = Path::new(text);
        if matches!(text.rsplit('/').next(), Some("" | "." | "..")) {
            return Err(bad(&format!(
                "names a directory: give the store file's path, such as {}",
                path.join(DEFAULT_FILE_NAME).display()
            )));
        }
        // A directory, a named pipe or a device is never a store: said
        // here, before a recorder starts capturing or a dashboard serves an
        // empty history from it.
        if let Some(kind) = std::fs::metadata(path)
            .ok()
            .and_then(|m| crate::file_kind::not_a_regular_file(m.file_type()))
        {
            return Err(bad(&if kind == "a directory" {
                format!(
                    "is a directory: give the store file's path, such as {}",
                    path.join(DEFAULT_FILE_NAME).display()
                )
            } else {
                format!("is {kind}, not a history store file")
            }));
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

/// The state directory of root, where the recorder's system service (the
/// shipped unit runs it as root) keeps its store.
pub const SYSTEM_STATE_DIRECTORY: &str = "/var/lib/porthole";

/// The recorder's store as another user's porthole finds it, beside that
/// user's own default store: `porthole history` run without root reads
/// `$XDG_STATE_HOME/porthole/`, while the service writes
/// `/var/lib/porthole/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemStore {
    /// This user may read it: `--store PATH` reads it.
    Readable(PathBuf),
    /// It, or its directory, is there and this user may not read it (the
    /// writer makes the directory 0700 and the file 0600): root reads it.
    Unreadable(PathBuf),
}

impl SystemStore {
    /// The system store, when `location` is not it (a user who is not
    /// root, on their default store) and it is there.
    pub fn beside(location: &StoreLocation) -> Option<SystemStore> {
        Self::find(location, &Path::new(SYSTEM_STATE_DIRECTORY).join(DEFAULT_FILE_NAME))
    }

    /// [`SystemStore::beside`] with the system store at `system`.
    pub fn find(location: &StoreLocation, system: &Path) -> Option<SystemStore> {
        let StoreLocation::Sqlite(own) = location else {
            return None;
        };
        if own == system {
            return None;
        }
        match std::fs::File::open(system) {
            Ok(file) => file
                .metadata()
                .is_ok_and(|metadata| metadata.is_file())
                .then(|| SystemStore::Readable(system.to_path_buf())),
            // A directory this user may not enter hides whether the file is
            // there; a directory of that name is the recorder's all the same.
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                Some(SystemStore::Unreadable(system.to_path_buf()))
            }
            Err(_) => None,
        }
    }

    /// The system store's path.
    pub fn path(&self) -> &Path {
        match self {
            SystemStore::Readable(path) | SystemStore::Unreadable(path) => path,
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
///
/// The client takes `user:password` up to an `@`, and people type
/// passwords with `/`, `?`, `#` or `@` in them unencoded; so everything
/// between the first `:` and the last `@` is hidden. In the query, the
/// value of every parameter whose name holds `password` in any case is
/// hidden, each time it appears (`Password=` is refused by the client with
/// a message that quotes the URL). Where the two overlap (an `@` in the
/// query) both are hidden as one: too much hidden, never too little.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_keywords(url);
    };
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    if let (Some(colon), Some(at)) = (rest.find(':'), rest.rfind('@')) {
        if colon < at {
            hidden.push((colon + 1, at));
        }
    }
    if let Some(question) = rest.find('?') {
        let mut start = question + 1;
        for pair in rest[question + 1..].split('&') {
            if let Some((key, _)) = pair.split_once('=') {
                if key.to_ascii_lowercase().contains("password") {
                    hidden.push((start + key.len() + 1, start + pair.len()));
                }
            }
            start += pair.len() + 1;
        }
    }
    hidden.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in hidden {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut text = format!("{scheme}://");
    let mut shown_from = 0;
    for (start, end) in merged {
        text.push_str(&rest[shown_from..start]);
        text.push_str("***");
        shown_from = end;
    }
    text.push_str(&rest[shown_from..]);
    text
}

/// A keyword string with everything from the first `=` after a key
/// holding `password` (in any case) on hidden: the rest of the string may
/// go with it, never part of the password shown.
fn redact_keywords(text: &str) -> String {
    if !is_keyword_string(text) {
        return text.to_string();
    }
    let Some(key) = text.to_ascii_lowercase().find("password") else {
        return text.to_string();
    };
    match text[key..].find('=') {
        Some(equals) => format!("{}***", &text[..key + equals + 1]),
        None => text.to_string(),
    }
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

    /// Texts the writer and readers would take for different files, or a
    /// directory for a file, are refused.
    #[test]
    fn refuses_directories_and_sqlite_uris() {
        let error = |text: &str| StoreLocation::parse(text).unwrap_err().to_string();
        assert_eq!(
            error("/var/lib/porthole/"),
            "--store '/var/lib/porthole/': names a directory: give the store file's path, such \
             as /var/lib/porthole/history.sqlite"
        );
        assert!(error("state/.").contains("such as state/./history.sqlite"));
        assert!(error("..").contains("names a directory"));
        assert_eq!(
            error("/proc"),
            "--store '/proc': is a directory: give the store file's path, such as \
             /proc/history.sqlite"
        );
        assert_eq!(
            error("/dev/zero"),
            "--store '/dev/zero': is a device, not a history store file"
        );
        assert_eq!(
            error("file:/tmp/h.sqlite?mode=ro"),
            "--store 'file:/tmp/h.sqlite?mode=ro': a SQLite URI is not taken: give the file's \
             path (/tmp/h.sqlite), or ./file:/tmp/h.sqlite?mode=ro for a file whose name starts \
             with 'file:'"
        );
        assert!(StoreLocation::parse("./file:x").is_ok());
        assert!(StoreLocation::parse("state/history.sqlite").is_ok());
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
    fn the_system_store_is_found_beside_a_users_own() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system/history.sqlite");
        let own = StoreLocation::Sqlite(dir.path().join("own/history.sqlite"));
        assert_eq!(SystemStore::find(&own, &system), None, "not there");
        std::fs::create_dir(dir.path().join("system")).unwrap();
        std::fs::write(&system, b"").unwrap();
        assert_eq!(SystemStore::find(&own, &system), Some(SystemStore::Readable(system.clone())));
        // Root's own default is the system store itself.
        assert_eq!(SystemStore::find(&StoreLocation::Sqlite(system.clone()), &system), None);
        assert_eq!(
            SystemStore::find(&StoreLocation::Postgres("postgres://db/x".into()), &system),
            None
        );
        // A directory of that name is no store.
        let directory = dir.path().join("system/dir.sqlite");
        std::fs::create_dir(&directory).unwrap();
        assert_eq!(SystemStore::find(&own, &directory), None);
    }

    #[test]
    fn keyword_strings_are_told_from_file_names() {
        assert!(is_keyword_string("host=db dbname=x"));
        assert!(is_keyword_string("  dbname = x"));
        assert!(!is_keyword_string("history.sqlite"));
        assert!(!is_keyword_string("./host=x"));
        assert!(!is_keyword_string("hosts=x"));
        assert_eq!(
            StoreLocation::parse("host=db dbname=x").unwrap(),
            StoreLocation::Postgres("host=db dbname=x".into())
        );
        assert_eq!(redact("host=db password=se cret dbname=x"), "host=db password=***");
        assert_eq!(redact("host=db PASSWORD = 'x y'"), "host=db PASSWORD =***");
        assert_eq!(redact("host=db dbname=x"), "host=db dbname=x");
    }

    /// What libpq refuses is one clear error naming the store.
    #[cfg(feature = "postgres")]
    #[test]
    fn connection_strings_libpq_refuses_are_refused() {
        let error = |text: &str| StoreLocation::parse(text).unwrap_err().to_string();
        assert_eq!(
            error("postgres://u:secret@h:0/x"),
            "--store 'postgres://u:***@h:0/x': invalid port number: \"0\""
        );
        assert_eq!(
            error("host=h port=0 password=secret"),
            "--store 'host=h port=0 password=***': invalid port number: \"0\""
        );
        assert!(StoreLocation::parse("postgres://localhost/x?port=5433").is_ok());
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

    #[test]
    fn passwords_with_separators_or_repeated_never_reach_messages() {
        for (url, redacted) in [
            ("postgres://u:se/cret@db:5432/x", "postgres://u:***@db:5432/x"),
            ("postgres://u:se?cret@db/x", "postgres://u:***@db/x"),
            ("postgres://u:se#cr@et@db/x", "postgres://u:***@db/x"),
            ("postgres://u:p:w@db/x?sslmode=disable", "postgres://u:***@db/x?sslmode=disable"),
            ("postgres://db/x?user=a&Password=secret", "postgres://db/x?user=a&Password=***"),
            (
                "postgres://db/x?password=secret&password=secret2",
                "postgres://db/x?password=***&password=***",
            ),
            // An '@' in the query: the port is hidden with it, never any
            // of the password shown.
            ("postgres://db:5432/x?password=p@ss", "postgres://db:***"),
            ("postgres://u:se?password=x@db/x", "postgres://u:***"),
            ("postgres://db/x?password=", "postgres://db/x?password=***"),
            ("postgres://me@db:5432/x", "postgres://me@db:5432/x"),
            ("postgres://db:5432/x", "postgres://db:5432/x"),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
            assert!(!redact(url).contains("secret") && !redact(url).contains("cret"), "{url}");
        }
    }
}
