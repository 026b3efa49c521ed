//! What `check` and `wait` connect to, as users type it: `5432`,
//! `localhost:8080`, `[::1]:5173`, `tcp://db:5432`, `http://localhost:3000/health`,
//! `https://127.0.0.1:8443/`, `unix:/run/postgresql/.s.PGSQL.5432`, `unix:@name` (an
//! abstract socket, written as `ss` and `porthole ls` show it), and the URLs
//! applications are configured with for the services whose own protocol says
//! whether they take clients yet: `postgres://app@localhost:5432/appdb`,
//! `redis://localhost:6379/0`, `mysql://localhost:3306/app` (a password in
//! them is accepted, never sent and never printed).
//!
//! Parsing is strict: each bad part gets its own error, so
//! `http://[::1:80/` says the bracket is unclosed instead of guessing. Host
//! and port parsing is shared with `porthole PORT` ([`Endpoint::parse`]).

use std::fmt;
use std::path::PathBuf;

use crate::target::{Endpoint, EndpointError, Host};

/// A bad target, naming the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target")]
    Empty,
    #[error(
        "unknown scheme '{scheme}://' (expected tcp://, http://, https://, postgres://, redis://, mysql:// or unix:)"
    )]
    UnknownScheme { scheme: String },
    #[error("missing host in '{text}'")]
    MissingHost { text: String },
    #[error("credentials in '{text}' are not supported (remove 'USER@')")]
    Credentials { text: String },
    #[error("missing socket path after 'unix:'")]
    EmptyUnixPath,
    #[error("unexpected path '{path}' in a tcp:// target")]
    TcpPath { path: String },
    #[error("'{text}' in '{whole}' is not valid percent-encoding (write %XX with two hex digits)")]
    PercentEncoding { text: String, whole: String },
    #[error(
        "'{whole}' names a Unix socket, which a postgres:// target does not take: wait for the socket itself with {socket}, or give a host"
    )]
    ServiceUnixSocket { whole: String, socket: String },
    /// Port 0 asks the kernel for any port on bind; nothing can listen on
    /// it, so a connect to it is refused whatever runs.
    #[error("port 0 cannot be connected to (expected 1-65535)")]
    ZeroPort,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// A port error worded for a port that is connected to, whose range is
/// 1-65535: [`Endpoint::parse`] matches sockets, where 0 is allowed.
fn for_connect(error: TargetError) -> TargetError {
    use crate::target::PortError;
    match error {
        TargetError::Endpoint(EndpointError::Port(PortError::NotANumber { text, .. })) => {
            EndpointError::Port(PortError::NotANumber { text, min: 1 }).into()
        }
        TargetError::Endpoint(EndpointError::Port(PortError::OutOfRange { value, .. })) => {
            EndpointError::Port(PortError::OutOfRange { value, min: 1 }).into()
        }
        other => other,
    }
}

/// A thing to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP endpoint; a bare `PORT` means `localhost:PORT`, as clients
    /// default to it.
    Tcp { host: Host, port: u16 },
    /// An HTTP(S) URL; the port defaults to 80 or 443.
    Http { tls: bool, host: Host, port: u16, path: String },
    /// A Unix-domain stream socket path.
    Unix { path: PathBuf },
    /// A database or cache asked in its own protocol whether it takes
    /// clients (`postgres://`, `redis://`, `mysql://`); the port defaults
    /// to the service's own.
    Service {
        service: Service,
        host: Host,
        port: u16,
        /// The user of the URL (PostgreSQL's startup names it); the
        /// password is dropped when parsing.
        user: Option<String>,
        /// The database of the URL's path (PostgreSQL's startup names it).
        database: Option<String>,
    },
}

/// The services whose readiness `check` and `wait` ask in their protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Redis,
    Mysql,
}

impl Service {
    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
            Service::Mysql => "MySQL/MariaDB",
        }
    }

    /// The scheme it is printed with.
    pub fn scheme(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::Mysql => "mysql",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Redis => 6379,
            Service::Mysql => 3306,
        }
    }

    /// The service a URL scheme names (lower case), with the spellings
    /// client libraries accept.
    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "postgres" | "postgresql" => Some(Service::Postgres),
            "redis" => Some(Service::Redis),
            "mysql" | "mariadb" => Some(Service::Mysql),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Http { tls, host, port, path } => {
                let scheme = if *tls { "https" } else { "http" };
                write!(f, "{scheme}://{host}:{port}{path}")
            }
            Target::Unix { path } => write!(f, "unix:{}", path.display()),
            Target::Service { service, host, port, user, database } => {
                write!(f, "{}://", service.scheme())?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{host}:{port}")?;
                match database {
                    Some(database) => write!(f, "/{database}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Target {
    /// Parses any of the accepted shapes; port 0 is refused.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        // Errors quote the target: never with its password.
        let target = Self::parse_shape(&redact_password(text)).map_err(for_connect)?;
        if target.port() == Some(0) {
            return Err(TargetError::ZeroPort);
        }
        Ok(target)
    }

    fn parse_shape(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TargetError::Empty);
        }
        if let Some(path) = text.strip_prefix("unix:") {
            // `unix:///run/x.sock` and `unix:/run/x.sock` both name /run/x.sock.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(TargetError::EmptyUnixPath);
            }
            return Ok(Target::Unix { path: PathBuf::from(path) });
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "tcp" => {
                    let (authority, path) = split_authority(rest);
                    if !path.is_empty() && path != "/" {
                        return Err(TargetError::TcpPath { path: path.to_string() });
                    }
                    let endpoint = parse_authority(authority, None, text)?;
                    Ok(Target::Tcp { host: endpoint.0, port: endpoint.1 })
                }
                "http" | "https" => {
                    let tls = scheme.eq_ignore_ascii_case("https");
                    let (authority, path) = split_authority(rest);
                    let default = if tls { 443 } else { 80 };
                    let (host, port) = parse_authority(authority, Some(default), text)?;
                    // The fragment is the client's own and never sent (RFC
                    // 3986 §3.5): a server reads `#` as part of the path (Go's
                    // net/http answers 404) or refuses the request. A query
                    // straight after the authority still needs the path `/`.
                    let path = path.split_once('#').map_or(path, |(before, _)| before);
                    let path =
                        if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
                    Ok(Target::Http { tls, host, port, path })
                }
                other => match Service::from_scheme(other) {
                    Some(service) => parse_service(service, rest, text),
                    None => Err(TargetError::UnknownScheme { scheme: other.to_string() }),
                },
            };
        }
        let endpoint = Endpoint::parse(text)?;
        Ok(Target::Tcp {
            host: endpoint.host.unwrap_or_else(|| Host::Name("localhost".to_string())),
            port: endpoint.port,
        })
    }

    /// The TCP port, `None` for Unix sockets.
    pub fn port(&self) -> Option<u16> {
        match self {
            Target::Tcp { port, .. } | Target::Http { port, .. } | Target::Service { port, .. } => {
                Some(*port)
            }
            Target::Unix { .. } => None,
        }
    }

    /// The host, `None` for Unix sockets.
    pub fn host(&self) -> Option<&Host> {
        match self {
            Target::Tcp { host, .. } | Target::Http { host, .. } | Target::Service { host, .. } => {
                Some(host)
            }
            Target::Unix { .. } => None,
        }
    }

    /// Whether the target is judged by an application's answer (HTTP or a
    /// service's own protocol) rather than by the connection alone.
    pub fn asks_the_application(&self) -> bool {
        matches!(self, Target::Http { .. } | Target::Service { .. })
    }
}

/// `text` with the password of a URL's userinfo written as `***`
/// (`postgres://app:***@db/app`), for every place a target is quoted: an
/// error line, a journal, a terminal someone else can see.
pub fn redact_password(text: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = text.split_once("://") else { return text.into() };
    let (authority, tail) = split_authority(rest);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return text.into() };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}").into(),
        None => text.into(),
    }
}

/// A service URL that names a Unix socket directory instead of a host
/// (`postgres:///app`, `?host=/run/postgresql`, a `%2F…` host), which
/// libpq takes: the `unix:` target that waits for the same socket.
fn unix_socket_url(authority: &str, query: &str, whole: &str) -> Option<TargetError> {
    let from_query = query
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("host="))
        .filter(|host| host.starts_with('/') || host.starts_with("%2F") || host.starts_with("%2f"));
    let host_part = authority.split(':').next().unwrap_or_default();
    let encoded_directory =
        (host_part.starts_with("%2F") || host_part.starts_with("%2f")).then_some(host_part);
    if !authority.is_empty() && from_query.is_none() && encoded_directory.is_none() {
        return None;
    }
    let directory = from_query
        .or(encoded_directory)
        .and_then(|text| percent_decode(text, whole).ok())
        .unwrap_or_else(|| "/var/run/postgresql".to_string());
    let port = match authority.rsplit_once(':') {
        Some((_, port)) if !port.is_empty() && encoded_directory.is_some() => port,
        _ => "5432",
    };
    Some(TargetError::ServiceUnixSocket {
        whole: whole.to_string(),
        socket: format!("unix:{}/.s.PGSQL.{port}", directory.trim_end_matches('/')),
    })
}

/// `[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?…]` of a service URL. The
/// password is dropped here (it is never sent: readiness needs none), the
/// query (`?sslmode=…`) is the client library's; `#` has no meaning.
fn parse_service(service: Service, rest: &str, whole: &str) -> Result<Target, TargetError> {
    let (authority, path) = split_authority(rest);
    // The userinfo ends at the last `@`: a password may hold one.
    let (user, authority) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
            let user = percent_decode(user, whole)?;
            (Some(user).filter(|u| !u.is_empty()), host)
        }
        None => (None, authority),
    };
    if service == Service::Postgres {
        let query = rest.find('?').map_or("", |index| &rest[index..]);
        if let Some(error) = unix_socket_url(authority, query, whole) {
            return Err(error);
        }
    }
    let (host, port) = parse_authority(authority, Some(service.default_port()), whole)?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let database = match path.strip_prefix('/') {
        Some(name) if !name.is_empty() => Some(percent_decode(name, whole)?),
        _ => None,
    };
    Ok(Target::Service { service, host, port, user, database })
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) of a URL part.
fn percent_decode(text: &str, whole: &str) -> Result<String, TargetError> {
    let bad = || TargetError::PercentEncoding { text: text.to_string(), whole: whole.to_string() };
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3).ok_or_else(bad)?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| bad())
}

/// Splits `host:port/path?query` into the authority and the rest (which
/// keeps its leading `/`, `?` or `#`).
fn split_authority(rest: &str) -> (&str, &str) {
    match rest.find(['/', '?', '#']) {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    }
}

/// Parses `HOST[:PORT]` of a URL; `default` applies when the port is absent.
fn parse_authority(
    authority: &str,
    default: Option<u16>,
    whole: &str,
) -> Result<(Host, u16), TargetError> {
    if authority.contains('@') {
        return Err(TargetError::Credentials { text: whole.to_string() });
    }
    if authority.is_empty() {
        return Err(TargetError::MissingHost { text: whole.to_string() });
    }
    let has_port = match authority.strip_prefix('[') {
        Some(inner) => inner.split_once(']').is_some_and(|(_, after)| after.starts_with(':')),
        None => authority.contains(':'),
    };
    let text = match (has_port, default) {
        (false, Some(port)) => format!("{authority}:{port}"),
        _ => authority.to_string(),
    };
    // An error quotes what the user wrote, not the default port added to it
    // (`http://[::1/` is an unclosed `[::1`, not `[::1:80`).
    let endpoint = Endpoint::parse(&text).map_err(|error| {
        if has_port {
            error
        } else {
            Endpoint::parse(authority).err().unwrap_or(error)
        }
    })?;
    match endpoint.host {
        Some(host) => Ok((host, endpoint.port)),
        // `tcp://5432`: a bare port, as elsewhere.
        None => Ok((Host::Name("localhost".to_string()), endpoint.port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Target {
        Target::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        Target::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_http_request_target_has_no_fragment_and_starts_with_a_slash() {
        let path = |text: &str| match ok(text) {
            Target::Http { path, .. } => path,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(path("http://127.0.0.1:8080/health#ready"), "/health");
        assert_eq!(path("http://127.0.0.1:8080/#/dashboard"), "/");
        assert_eq!(path("http://127.0.0.1:8080#top"), "/");
        assert_eq!(path("http://127.0.0.1:8080?probe=1"), "/?probe=1");
        assert_eq!(path("http://127.0.0.1:8080/a?b=c#d"), "/a?b=c");
        assert_eq!(
            ok("http://127.0.0.1:8080?probe=1").to_string(),
            "http://127.0.0.1:8080/?probe=1"
        );
    }

    #[test]
    fn parses_every_shape() {
        assert_eq!(ok("5432"), Target::Tcp { host: Host::Name("localhost".into()), port: 5432 });
        assert_eq!(ok("[::1]:80").to_string(), "[::1]:80");
        assert_eq!(ok("tcp://127.0.0.1:9").to_string(), "127.0.0.1:9");
        assert_eq!(ok("http://localhost").to_string(), "http://localhost:80/");
        assert_eq!(ok("https://[::1]/x?y=1").to_string(), "https://[::1]:443/x?y=1");
        assert_eq!(ok("HTTP://LocalHost:3000/health").port(), Some(3000));
        assert_eq!(ok("unix:/run/x.sock"), Target::Unix { path: "/run/x.sock".into() });
        assert_eq!(ok("unix:///run/x.sock"), Target::Unix { path: "/run/x.sock".into() });
    }

    #[test]
    fn service_urls_keep_user_and_database_and_drop_the_password() {
        assert_eq!(
            ok("postgres://app:s3cr%40t@localhost/app%20db?sslmode=disable"),
            Target::Service {
                service: Service::Postgres,
                host: Host::Name("localhost".into()),
                port: 5432,
                user: Some("app".into()),
                database: Some("app db".into()),
            }
        );
        let printed = ok("postgresql://app:p@ss@127.0.0.1:6543/db").to_string();
        assert_eq!(printed, "postgres://app@127.0.0.1:6543/db");
        assert_eq!(ok("redis://:hunter2@[::1]/0").to_string(), "redis://[::1]:6379/0");
        assert_eq!(ok("REDIS://localhost").port(), Some(6379));
        assert_eq!(
            ok("mariadb://root@db.example:3307").to_string(),
            "mysql://root@db.example:3307"
        );
        assert!(ok("mysql://localhost").asks_the_application());
        assert!(!ok("tcp://localhost:3306").asks_the_application());
        assert!(err("postgres://app@localhost/%zz").contains("not valid percent-encoding"));
        assert!(err("redis://").contains("missing host"));
        assert!(err("redis://localhost:0").contains("port 0"));
        assert!(err("rediss://localhost").contains("unknown scheme 'rediss://'"));
        // A password is never quoted back, in a refusal or anywhere else.
        let refused = err("http://user:hunter2@[::1:80/");
        assert!(!refused.contains("hunter2"), "{refused}");
        assert!(!err("postgres://app:hunter2@/db").contains("hunter2"));
        assert_eq!(redact_password("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact_password("postgres://app@h/db"), "postgres://app@h/db");
        assert_eq!(redact_password("localhost:5432"), "localhost:5432");
    }

    #[test]
    fn postgres_unix_socket_urls_point_at_the_socket() {
        assert!(err("postgres:///app").contains("unix:/var/run/postgresql/.s.PGSQL.5432"));
        assert!(err("postgresql://app@/app?host=/tmp/pg").contains("unix:/tmp/pg/.s.PGSQL.5432"));
        assert!(err("postgres://%2Frun%2Fpg:6543/app").contains("unix:/run/pg/.s.PGSQL.6543"));
        assert!(ok("postgres://localhost/app?host=db.example").port() == Some(5432));
    }

    #[test]
    fn rejects_bad_parts_precisely() {
        assert_eq!(err(""), "empty target");
        assert!(err("ftp://x:1").contains("unknown scheme 'ftp://'"));
        assert!(err("http://").contains("missing host"));
        assert!(err("http://u:p@host/").contains("credentials"));
        assert!(err("http://[::1:80/").contains("unclosed '['"));
        assert_eq!(err("http://[::1/"), "unclosed '[' in '[::1' (write IPv6 as [ADDRESS]:PORT)");
        assert!(err("http://host:99999/").contains("out of range"));
        assert!(err("http://host:x/").contains("'x' is not a port"));
        assert!(err("tcp://host:1/path").contains("unexpected path"));
        assert_eq!(err("unix:"), "missing socket path after 'unix:'");
        assert!(err("localhost").contains("missing port"));
        assert!(err("::1:80").contains("needs brackets"));
        for zero in ["127.0.0.1:0", "0", "tcp://localhost:0", "http://[::1]:0/", "localhost:00"] {
            assert_eq!(err(zero), "port 0 cannot be connected to (expected 1-65535)", "{zero}");
        }
    }
}
