//! What the login clients of the `weak-password` check share: the documented
//! default credentials per service, the site's own list (`--passwords
//! FILE`), and the result of one login attempt.
//!
//! The built-in lists are deliberately short — a handful of passwords that
//! installers, images and tutorials set — because every attempt is logged
//! by the server and may count towards a lockout. Sources: Redis's
//! `redis.conf` (`# requirepass foobared`), the PostgreSQL and MySQL
//! images' documentation examples, the MongoDB image's `root`/`example`
//! compose example, nmap's `passwords.lst` head.

use std::time::Duration;

/// One user name and password to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub password: String,
    /// From `--passwords FILE` rather than porthole's own list.
    pub site: bool,
}

/// How one login attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server let us in with this password.
    Accepted,
    /// Wrong password (or no such user): the normal failure.
    Rejected,
    /// The server shows a lockout or rate-limit sign (account or host
    /// blocked, too many connections): stop trying this service.
    Blocked(String),
    /// The server wants a method this client does not speak, or needs no
    /// password at all: stop trying this service.
    Unsupported(String),
    /// The connection failed or the reply made no sense: stop as well,
    /// since an unhealthy service is no place for more attempts.
    Failed(String),
}

/// The services with a login client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Redis,
    Postgres,
    Mysql,
    /// MongoDB (SCRAM-SHA-256 or SCRAM-SHA-1 on the `admin` database).
    MongoDb,
    /// Elasticsearch or OpenSearch (HTTP Basic).
    Elasticsearch,
    /// RabbitMQ's management API (HTTP Basic).
    RabbitMq,
    /// Jupyter Server/Notebook: the user name says how to try the secret,
    /// `token` (an `Authorization: token` header) or `password` (the
    /// login form).
    Jupyter,
    /// memcached's ASCII authentication (`-Y FILE`).
    Memcached,
    /// memcached's SASL over the binary protocol (`-S`), with `PLAIN`.
    MemcachedSasl,
}

impl Service {
    /// The service of a probe outcome (`redis`, `postgresql`, `mariadb`…).
    pub fn of(name: &str) -> Option<Service> {
        match name {
            "redis" | "valkey" | "keydb" => Some(Service::Redis),
            "postgresql" => Some(Service::Postgres),
            "mysql" | "mariadb" => Some(Service::Mysql),
            "mongodb" => Some(Service::MongoDb),
            "elasticsearch" | "opensearch" => Some(Service::Elasticsearch),
            "rabbitmq" => Some(Service::RabbitMq),
            "jupyter" => Some(Service::Jupyter),
            // Which of its two methods is the probe's to say.
            "memcached" => Some(Service::Memcached),
            _ => None,
        }
    }

    /// The account a bare password (no user name) belongs to.
    pub fn default_user(self) -> &'static str {
        match self {
            Service::Redis => "default",
            Service::Postgres => "postgres",
            Service::Mysql => "root",
            Service::MongoDb => "admin",
            Service::Elasticsearch => "elastic",
            Service::RabbitMq => "guest",
            Service::Jupyter => "password",
            // Debian's memcached runs as `memcache`; the file names no
            // account of its own.
            Service::Memcached | Service::MemcachedSasl => "memcache",
        }
    }

    /// porthole's built-in candidates, most common first. The empty
    /// password of MySQL's `root` is `empty-password`'s, and PostgreSQL
    /// refuses empty passwords itself, so only Redis ACL users get one.
    pub fn defaults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Service::Redis => &[
                ("default", "foobared"),
                ("default", "redis"),
                ("default", "password"),
                ("admin", "admin"),
                ("admin", ""),
            ],
            Service::Postgres => {
                &[("postgres", "postgres"), ("postgres", "password"), ("postgres", "admin")]
            }
            Service::Mysql => &[("root", "root"), ("root", "password"), ("root", "mysql")],
            // MongoDB has no built-in account: these are the ones tutorials
            // and the Docker image's compose example create.
            Service::MongoDb => &[("admin", "admin"), ("root", "example"), ("admin", "password")],
            // `changeme` was Elasticsearch's built-in default before 6.0;
            // `admin`/`admin` is OpenSearch's demo configuration.
            Service::Elasticsearch => {
                &[("elastic", "changeme"), ("elastic", "elastic"), ("admin", "admin")]
            }
            // `guest`/`guest` exists on every fresh RabbitMQ and works from
            // loopback.
            Service::RabbitMq => &[("guest", "guest"), ("admin", "admin")],
            Service::Jupyter => &[
                ("token", "jupyter"),
                ("password", "jupyter"),
                ("password", "password"),
                ("password", "admin"),
            ],
            // memcached has no built-in account: `foo:bar` is the example
            // of its protocol.txt and release notes, the others what
            // tutorials write.
            Service::Memcached | Service::MemcachedSasl => &[
                ("admin", "admin"),
                ("memcache", "memcache"),
                ("memcached", "memcached"),
                ("foo", "bar"),
            ],
        }
    }
}

/// Most attempts against one service in one run, site entries included.
pub const MAX_ATTEMPTS: usize = 8;

/// Pause between two attempts against the same service, so a run never
/// looks like a burst to rate limiters and log watchers.
pub const SPACING: Duration = Duration::from_millis(300);

/// A failed attempt answered more slowly than this is a rate-limit sign
/// (PostgreSQL `auth_delay`, MySQL `connection_control`): stop there.
pub const SLOW_FAILURE: Duration = Duration::from_millis(1500);

/// The candidates for `service`: the built-in list, then the site's
/// entries, capped at [`MAX_ATTEMPTS`]. Returns the list and how many
/// candidates the cap left out.
pub fn candidates(service: Service, site: &[Credential]) -> (Vec<Credential>, usize) {
    let mut all: Vec<Credential> = service
        .defaults()
        .iter()
        .map(|(user, password)| Credential {
            user: (*user).into(),
            password: (*password).into(),
            site: false,
        })
        .collect();
    for entry in site {
        let user = if entry.user.is_empty() { service.default_user() } else { &entry.user };
        let candidate =
            Credential { user: user.to_string(), password: entry.password.clone(), site: true };
        if !all.iter().any(|c| c.user == candidate.user && c.password == candidate.password) {
            all.push(candidate);
        }
    }
    let left_out = all.len().saturating_sub(MAX_ATTEMPTS);
    all.truncate(MAX_ATTEMPTS);
    (all, left_out)
}

/// Why a `--passwords` file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordFileError {
    #[error("line {line}: expected user:password")]
    MissingColon { line: usize },
    #[error("larger than {} KiB (expected a few user:password lines)", MAX_PASSWORD_FILE / 1024)]
    TooLarge,
    #[error("not UTF-8 text")]
    NotText,
    /// A NUL ends a user or password in the login messages of PostgreSQL
    /// and MySQL: what follows it would be sent as other fields.
    #[error("line {line}: a NUL byte, which no login can carry")]
    Nul { line: usize },
}

/// The most of `--passwords FILE` read: a site list is a few lines, and the
/// file may be anything the user names (`/dev/zero`, a log, a pipe that
/// never ends), so reading stops here rather than at the end of memory.
pub const MAX_PASSWORD_FILE: u64 = 1024 * 1024;

/// Reads and parses a site list from `reader` (a file, a pipe such as
/// `<(pass show redis)`), at most [`MAX_PASSWORD_FILE`] bytes of it.
pub fn read_password_file(
    reader: impl std::io::Read,
) -> Result<Vec<Credential>, ReadPasswordsError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader.take(MAX_PASSWORD_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE {
        return Err(PasswordFileError::TooLarge.into());
    }
    let text = String::from_utf8(bytes).map_err(|_| PasswordFileError::NotText)?;
    Ok(parse_password_file(&text)?)
}

/// Why `--passwords FILE` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadPasswordsError {
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Content(#[from] PasswordFileError),
}

/// Parses a site list: one `user:password` per line; blank lines and lines
/// starting with `#` are ignored; an empty user means the service's default
/// account (`:secret`). The password is everything after the first colon.
pub fn parse_password_file(text: &str) -> Result<Vec<Credential>, PasswordFileError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.contains('\0') {
            return Err(PasswordFileError::Nul { line: index + 1 });
        }
        let (user, password) =
            line.split_once(':').ok_or(PasswordFileError::MissingColon { line: index + 1 })?;
        entries.push(Credential {
            user: user.trim().to_string(),
            password: password.to_string(),
            site: true,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_entries_follow_the_defaults_and_the_cap_holds() {
        let site = parse_password_file("# ours\n\nops:hunter2\n:letmein\nroot:root\n").unwrap();
        let (list, left_out) = candidates(Service::Mysql, &site);
        let pairs: Vec<(&str, &str)> =
            list.iter().map(|c| (c.user.as_str(), c.password.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("root", "root"),
                ("root", "password"),
                ("root", "mysql"),
                ("ops", "hunter2"),
                ("root", "letmein")
            ]
        );
        assert_eq!(left_out, 0);
        assert!(list[3].site && !list[0].site);

        let many: String = (0..20).map(|i| format!("u{i}:p{i}\n")).collect();
        let (list, left_out) = candidates(Service::Redis, &parse_password_file(&many).unwrap());
        assert_eq!(list.len(), MAX_ATTEMPTS);
        assert_eq!(left_out, 5 + 20 - MAX_ATTEMPTS);
    }

    #[test]
    fn password_file_reading_is_bounded() {
        let endless = std::io::repeat(b'a');
        let error = read_password_file(endless).unwrap_err();
        assert!(matches!(error, ReadPasswordsError::Content(PasswordFileError::TooLarge)));
        assert!(error.to_string().starts_with("larger than 1024 KiB"), "{error}");
        let binary = read_password_file(&b"root:\xff\xfe\n"[..]).unwrap_err();
        assert_eq!(binary.to_string(), "not UTF-8 text");
        let nul = read_password_file(&b"ops:hunter2\nroot\0user=x:pw\n"[..]).unwrap_err();
        assert!(matches!(nul, ReadPasswordsError::Content(PasswordFileError::Nul { line: 2 })));
        let list = read_password_file(&b"ops:hunter2\n"[..]).unwrap();
        assert_eq!((list[0].user.as_str(), list[0].password.as_str()), ("ops", "hunter2"));
    }

    #[test]
    fn password_file_keeps_colons_in_passwords_and_rejects_bare_lines() {
        let parsed = parse_password_file("app:a:b:c\r\n").unwrap();
        assert_eq!(parsed[0].user, "app");
        assert_eq!(parsed[0].password, "a:b:c");
        assert_eq!(
            parse_password_file("ok:1\njustaword\n"),
            Err(PasswordFileError::MissingColon { line: 2 })
        );
    }

    #[test]
    fn services_by_probe_name() {
        assert_eq!(Service::of("valkey"), Some(Service::Redis));
        assert_eq!(Service::of("mariadb"), Some(Service::Mysql));
        assert_eq!(Service::of("mongodb"), Some(Service::MongoDb));
        assert_eq!(Service::of("memcached"), Some(Service::Memcached));
        assert_eq!(Service::of("memcachedb"), None);
    }
}
