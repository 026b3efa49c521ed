//! What `check` and `wait` connect to, as users type it: `5432`,
//! `localhost:8080`, `[::1]:5173`, `tcp://db:5432`, `http://localhost:3000/health`,
//! `https://127.0.0.1:8443/`, `unix:/run/postgresql/.s.PGSQL.5432`, `unix:@name` (an
//! abstract socket, written as `ss` and `porthole ls` show it), and the URLs
//! applications are configured with for the services whose own protocol says
//! whether they take clients yet: `postgres://app@localhost:5432/appdb`,
//! `redis://localhost:6379/0`, `rediss://…`, `mysql://localhost:3306/app`,
//! `memcached://localhost`, and their Unix-socket forms as the client
//! libraries write them (`postgres:///app?host=/run/pg`,
//! `redis+socket:///run/redis.sock`, `mysql://localhost/app?socket=/path`).
//! A password in them is accepted, never sent and never printed.
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
        "unknown scheme '{scheme}://' (expected tcp://, http://, https://, postgres://, redis://, rediss://, redis+socket://, mysql://, memcached:// or unix:)"
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
    /// libpq tries the hosts of `postgres://h1,h2/db` in turn; a target
    /// here is one place to ask.
    #[error(
        "'{whole}' names several hosts: give one per target (porthole wait --any TARGET… is ready when one of them is)"
    )]
    SeveralHosts { whole: String },
    /// libpq takes one port for every host, or one per host.
    #[error(
        "'{whole}' gives {given} ports or addresses for {hosts} hosts (libpq takes one for every host, or one per host)"
    )]
    HostsAndPorts { whole: String, given: usize, hosts: usize },
    /// libpq reads the host, port and more of `?service=NAME` from
    /// pg_service.conf, which porthole does not.
    #[error(
        "'{whole}' takes its connection from pg_service.conf (?service=): give the host and port in the URL"
    )]
    PostgresService { whole: String },
    /// `PGSERVICE` in the client's environment: libpq reads the host and
    /// port the URL leaves out from pg_service.conf, which porthole does
    /// not.
    #[error(
        "PGSERVICE={name} in the environment: libpq takes the host and port the URL leaves out from pg_service.conf, which porthole does not read (give both in the URL)"
    )]
    PostgresServiceVariable { name: String },
    #[error("missing socket path in '{whole}' (expected {expected})")]
    MissingSocketPath {
        whole: String,
        /// The form that names a socket, as the scheme's clients read it.
        expected: &'static str,
    },
    /// Redis clients read the path of `redis://HOST/N` as the number of the
    /// database to `SELECT`: redis-rs, go-redis and node-redis refuse
    /// anything else (`/0/extra`, `/cache`), the server a negative number
    /// (`/-1`), and redis-py quietly uses database 0 instead: the application
    /// would fail, or use another database, on a URL porthole said was ready.
    #[error(
        "'{database}' in '{whole}' is not a Redis database number (expected a number from 0, as in redis://HOST:PORT/0)"
    )]
    RedisDatabase { database: String, whole: String },
    /// A control character in an HTTP URL (a line break, an escape) would
    /// end the request line or add a header of its own: curl and Go's
    /// net/url refuse it.
    #[error("a control character in the path of '{whole}' (percent-encode it, as %0D or %1B)")]
    HttpControl { whole: String },
    /// Port 0 asks the kernel for any port on bind; nothing can listen on
    /// it, so a connect to it is refused whatever runs.
    #[error("port 0 cannot be connected to (expected 1-65535)")]
    ZeroPort,
    /// A URL scheme and a colon without the `//` (`http:/host:80`,
    /// `https:host`): read as `HOST:PORT`, the scheme was named as a host
    /// and the rest as a bad port.
    #[error("'{text}' lacks the '//' of a URL: write {url}")]
    SchemeWithoutSlashes { text: String, url: String },
    /// `PORT/udp`: check and wait connect over TCP (and Unix sockets).
    #[error("UDP, where porthole check and wait connect over TCP: `{command}` shows who holds the UDP port")]
    Udp {
        /// `porthole PORT/udp` (or `HOST:PORT/udp`), as this shell runs it.
        command: String,
    },
    /// wait-on's `file:` targets wait for a file, not a service.
    #[error("a file, not a network target: porthole waits for ports, URLs and Unix sockets (unix:/PATH)")]
    FileTarget,
    #[error(transparent)]
    Transport(#[from] crate::target::TransportError),
    /// `unix:@` with no name: no socket is bound to an empty abstract
    /// name (a bind without one gets a name the kernel makes up, `@`
    /// and five hex digits), so a probe of it could only be refused.
    #[error("empty abstract socket name after '@' (write unix:@NAME, as porthole ls -x shows it)")]
    EmptyAbstractName,
    /// An abstract name longer than `sun_path` holds after its leading NUL:
    /// no socket can be bound to it.
    #[error(
        "abstract socket name '@{name}' is {length} bytes, longer than the {max} a Unix socket address holds: no socket can have it"
    )]
    AbstractNameTooLong { name: String, length: usize, max: usize },
    /// A NUL byte (`%00` in a URL) in a socket file's path: the kernel
    /// reads the path up to it, so the probe would reach another file.
    #[error("socket path '{path}' holds a NUL byte, where a file's path ends: no socket file has this name")]
    NulInSocketPath { path: String },
    /// A path ending in `/` names a directory, never a socket file.
    #[error("socket path '{path}' names a directory, not a socket file")]
    DirectorySocketPath { path: String },
    /// A libpq setting libpq itself refuses ("invalid sslmode value").
    #[error("invalid {name} '{value}' in {place} (expected {expected})")]
    Setting {
        name: &'static str,
        value: String,
        /// The target, or the variable it came from.
        place: String,
        expected: String,
    },
    /// A keyword/value connection string libpq cannot read.
    #[error("'{text}' is not a libpq connection string: {problem}")]
    Conninfo { text: String, problem: &'static str },
    /// A line of the client's option files that fills a part is bad.
    #[error("{line}: {source}")]
    OptionFile { line: String, source: EndpointError },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A client variable that fills a part the URL leaves out is bad.
    #[error("{variable} in the environment: {source}")]
    Variable { variable: &'static str, source: EndpointError },
}

/// A part of a service URL taken from the client's environment, as the
/// client library takes it when the URL leaves the part out: libpq reads
/// `PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER` and `PGDATABASE`; the
/// MariaDB/MySQL client `MYSQL_HOST`, `MYSQL_TCP_PORT` and
/// `MYSQL_UNIX_PORT`. The password variables (`PGPASSWORD`, `MYSQL_PWD`)
/// are never read.
/// See: <https://www.postgresql.org/docs/current/libpq-envars.html>
/// See: <https://mariadb.com/kb/en/mariadb-environment-variables/>
///
/// The MariaDB/MySQL client reaches `localhost` through its Unix socket
/// also when no variable names one: the `socket=` of its option files, or
/// its compiled-in default ([`mysql_localhost_socket`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromEnvironment {
    /// The part filled: `host`, `address`, `port`, `user`, `database`,
    /// `socket`.
    pub part: &'static str,
    /// Where it came from: the variable's name, or the option file's line.
    pub variable: String,
    pub source: ClientSource,
}

/// What of the client's filled a part of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientSource {
    /// An environment variable.
    Environment,
    /// A line of an option file (`~/.my.cnf`).
    OptionFile,
    /// The client library's compiled-in default.
    Default,
}

impl ClientSource {
    /// How the note names it: `the client's environment`.
    pub fn describe(self) -> &'static str {
        match self {
            ClientSource::Environment => "the client's environment",
            ClientSource::OptionFile => "the client's option files",
            ClientSource::Default => "the client's default",
        }
    }
}

impl fmt::Display for FromEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", self.part, self.variable)
    }
}

/// Debian's MariaDB/MySQL client library reaches `localhost` through this
/// socket when nothing names another (`mariadb --help --verbose` shows it
/// as `socket`).
pub const MYSQL_DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// A `mysql://localhost…` target with no socket named (no `?socket=`, no
/// `MYSQL_UNIX_PORT`) goes through the Unix socket, as the MariaDB/MySQL
/// client library takes `localhost` (`127.0.0.1` is TCP): the `socket=` of
/// the client's option files (`socket`, found by the caller with
/// `crate::audit::mysql_options::client_socket`) or the compiled-in
/// default. Any other target is left as it is.
pub fn mysql_localhost_socket(
    target: &mut Target,
    socket: Option<&crate::audit::mysql_options::OptionLine>,
) -> Option<FromEnvironment> {
    let Target::Service { service: Service::Mysql, host, socket: path @ None, tls: false, .. } =
        target
    else {
        return None;
    };
    if *host != Host::Name("localhost".to_string()) {
        return None;
    }
    let (found, used) = match socket {
        Some(line) => (
            PathBuf::from(&line.value),
            FromEnvironment {
                part: "socket",
                variable: format!("socket= in [{}] of {} line {}", line.group, line.file, line.line),
                source: ClientSource::OptionFile,
            },
        ),
        None => (
            PathBuf::from(MYSQL_DEFAULT_SOCKET),
            FromEnvironment {
                part: "socket",
                variable: "the MariaDB/MySQL client's default for localhost (no socket= in its option files)".to_string(),
                source: ClientSource::Default,
            },
        ),
    };
    *path = Some(found);
    Some(used)
}

/// The client's variables a parse may read, and the ones it used.
struct ClientVariables<'a> {
    variables: &'a [(String, String)],
    used: Vec<FromEnvironment>,
}

impl ClientVariables<'_> {
    /// The variable's value when set and not empty, noted as used for
    /// `part`.
    fn take(&mut self, variable: &'static str, part: &'static str) -> Option<String> {
        let value = self
            .variables
            .iter()
            .rev()
            .find(|(name, value)| name == variable && !value.is_empty())
            .map(|(_, value)| value.clone())?;
        self.used.push(FromEnvironment {
            part,
            variable: variable.to_string(),
            source: ClientSource::Environment,
        });
        Some(value)
    }
}

/// libpq's host when none is given: Debian's socket directory. A client
/// connects there, and `verify-full` beside `hostaddr` checks the
/// certificate against this path.
const LIBPQ_DEFAULT_HOST: &str = "/var/run/postgresql";

/// A host as a URL's authority holds it: a bare IPv6 address (from
/// `PGHOST`, `hostaddr=`, `MYSQL_HOST`) in brackets, anything else as is.
fn bracketed(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// Where libpq finds its root certificates for `sslmode` (see
/// [`RootCertificates`]): `sslrootcert=`, else `PGSSLROOTCERT`, else
/// `~/.postgresql/root.crt` of the client's `HOME`. Modes that never check
/// a chain have none.
fn root_certificates(
    parameters: &[(&str, String)],
    sslmode: SslMode,
    variables: &mut ClientVariables<'_>,
) -> Option<RootCertificates> {
    if !sslmode.needs_tls() {
        return None;
    }
    if let Some(file) = parameter(parameters, "sslrootcert").filter(|f| !f.is_empty()) {
        return Some(RootCertificates::Setting(file.to_string()));
    }
    if let Some(file) = variables.take("PGSSLROOTCERT", "sslrootcert") {
        return Some(RootCertificates::Variable(file));
    }
    let home =
        variables.variables.iter().rev().find(|(name, value)| name == "HOME" && !value.is_empty());
    Some(match home {
        Some((_, home)) => {
            RootCertificates::Home(format!("{}/.postgresql/root.crt", home.trim_end_matches('/')))
        }
        None => RootCertificates::NoHome,
    })
}

/// The URL meant by a target that starts with a scheme this parser knows and
/// a colon but not `//` (`http:/localhost:80` → `http://localhost:80`);
/// `None` for anything else. Asked only once `HOST:PORT` failed: a
/// Compose service named `redis` is `redis:6379`.
fn without_slashes(text: &str) -> Option<String> {
    const SCHEMES: [&str; 15] = [
        "tcp",
        "http",
        "https",
        "postgres",
        "postgresql",
        "redis",
        "rediss",
        "valkey",
        "valkeys",
        "redis+socket",
        "redis+unix",
        "mysql",
        "mariadb",
        "memcached",
        "memcache",
    ];
    let (scheme, rest) = text.split_once(':')?;
    let known = SCHEMES.contains(&scheme.to_ascii_lowercase().as_str());
    (known && !rest.starts_with("//") && !rest.is_empty())
        .then(|| format!("{scheme}://{}", rest.trim_start_matches('/')))
}

/// The path of an abstract socket typed as `porthole ls -x` shows it: `@`,
/// then the name with each byte that is not text written `\xNN` (the NUL
/// padding some programs bind with: `@name\x00\x00`). Taken literally,
/// the name shown for a listening socket would be probed as another one
/// and found not listening.
fn abstract_path(name: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let mut bytes = vec![b'@'];
    let mut rest = name.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let escaped = tail
            .strip_prefix(b"x")
            .and_then(|hex| hex.get(..2))
            .filter(|_| first == b'\\')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                bytes.push(byte);
                rest = &tail[3..];
            }
            None => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// Refuses a Unix socket name no socket can have, whichever form of target
/// named it (`unix:`, `redis+socket://`, `?host=`, `?socket=`): an empty or
/// too long abstract name, a path with a NUL byte, a directory's path.
fn check_socket_path(path: &std::path::Path) -> Result<(), TargetError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let shown = || path.to_string_lossy().into_owned();
    if let Some(name) = bytes.strip_prefix(b"@") {
        let max = crate::diagnose::probe::UNIX_PATH_MAX;
        return match name.len() {
            0 => Err(TargetError::EmptyAbstractName),
            length if length > max => Err(TargetError::AbstractNameTooLong {
                name: String::from_utf8_lossy(name).into_owned(),
                length,
                max,
            }),
            _ => Ok(()),
        };
    }
    if bytes.contains(&0) {
        return Err(TargetError::NulInSocketPath { path: shown() });
    }
    // `/run/`, `.` and `dir/..` name directories, whatever is there.
    let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if bytes.ends_with(b"/") || last == b"." || last == b".." {
        return Err(TargetError::DirectorySocketPath { path: shown() });
    }
    Ok(())
}

/// A port error worded for a port that is connected to, whose range is
/// 1-65535: [`Endpoint::parse`] matches sockets, where 0 is allowed.
fn for_connect(error: TargetError) -> TargetError {
    use crate::target::PortError;
    let port = |error: PortError| match error {
        PortError::NotANumber { text, .. } => PortError::NotANumber { text, min: 1 },
        PortError::OutOfRange { value, .. } => PortError::OutOfRange { value, min: 1 },
        other => other,
    };
    match error {
        TargetError::Endpoint(EndpointError::Port(error)) => {
            EndpointError::Port(port(error)).into()
        }
        TargetError::Variable { variable, source: EndpointError::Port(error) } => {
            TargetError::Variable { variable, source: EndpointError::Port(port(error)) }
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
        /// The Unix socket the client library connects to instead of
        /// `host:port`: PostgreSQL's socket directory (an empty host, a
        /// `%2F…` host, `?host=/dir`) joined with `.s.PGSQL.PORT`, the path
        /// of `redis+socket:///PATH`, MySQL/MariaDB's `?socket=PATH`.
        socket: Option<PathBuf>,
        /// Asked inside TLS (`rediss://`), any certificate accepted: the
        /// question is whether the service answers, not whom to trust.
        tls: bool,
        /// libpq's `sslmode` and `target_session_attrs` (PostgreSQL; the
        /// defaults for every other service).
        libpq: Libpq,
    },
}

/// The libpq settings that decide, beyond the server's own answer,
/// whether a PostgreSQL client ends up connected: `sslmode` and
/// `target_session_attrs`, from the URL (or keyword string) or the
/// client's `PGSSLMODE` and `PGTARGETSESSIONATTRS`.
/// See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS>
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Libpq {
    pub sslmode: SslMode,
    pub session: SessionAttrs,
    /// Where libpq looks for the root certificates it checks the server's
    /// chain against (`require`, `verify-ca` and `verify-full`; `None`
    /// for the modes that never check).
    pub root: Option<RootCertificates>,
    /// libpq's `host` when `hostaddr` gives the address connected to: the
    /// name `verify-full` checks the certificate against.
    pub host_name: Option<String>,
}

/// The root certificate file of a libpq client, and where its name came
/// from. `verify-ca` and `verify-full` fail without it ("root certificate
/// file … does not exist"); `require` checks the chain when it exists.
/// See: <https://www.postgresql.org/docs/current/libpq-ssl.html#LIBQ-SSL-CERTIFICATES>
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCertificates {
    /// `sslrootcert=` in the URL or keyword string.
    Setting(String),
    /// The client's `PGSSLROOTCERT`.
    Variable(String),
    /// `~/.postgresql/root.crt` of the client's `HOME`.
    Home(String),
    /// Neither a setting nor a `HOME` to find the default file in.
    NoHome,
}

impl RootCertificates {
    /// The file named, if any.
    pub fn file(&self) -> Option<&str> {
        match self {
            RootCertificates::Setting(file)
            | RootCertificates::Variable(file)
            | RootCertificates::Home(file) => Some(file),
            RootCertificates::NoHome => None,
        }
    }

    /// `sslrootcert=system`: the system's trusted authorities (libpq 16
    /// and later).
    pub fn system(&self) -> bool {
        matches!(self, RootCertificates::Setting(file) | RootCertificates::Variable(file) if file == "system")
    }

    /// Where the file's name came from, for evidence.
    pub fn origin(&self) -> &'static str {
        match self {
            RootCertificates::Setting(_) => "sslrootcert= in the target",
            RootCertificates::Variable(_) => "the client's PGSSLROOTCERT",
            RootCertificates::Home(_) => {
                "libpq's default, ~/.postgresql/root.crt of the client's HOME"
            }
            RootCertificates::NoHome => "no sslrootcert and no HOME",
        }
    }
}

/// libpq's `sslmode`. TLS is asked for over TCP only: libpq never uses
/// it on a Unix socket, whatever the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never asks for TLS: a server whose pg_hba.conf takes TLS
    /// connections only refuses it, where a client with libpq's default
    /// (`prefer`) gets in over TLS.
    Disable,
    Allow,
    #[default]
    Prefer,
    /// `require`, `verify-ca` and `verify-full` fail on a server without
    /// TLS (it answers `N` to the SSLRequest): "server does not support
    /// SSL, but SSL was required".
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The value as libpq spells it.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the client refuses to go on without TLS.
    pub fn needs_tls(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// libpq's `target_session_attrs`: which of the servers it reaches it
/// keeps. After the login libpq reads `default_transaction_read_only` and
/// `in_hot_standby` (reported by PostgreSQL 14 and later; older servers
/// are asked `SHOW transaction_read_only` or `pg_is_in_recovery()`), and
/// moves on to the next host when the session does not qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAttrs {
    #[default]
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    /// A standby if one of the hosts is one, else any host: libpq tries
    /// every host for a standby first, then all of them again for any.
    PreferStandby,
}

impl SessionAttrs {
    const ALL: [SessionAttrs; 6] = [
        SessionAttrs::Any,
        SessionAttrs::ReadWrite,
        SessionAttrs::ReadOnly,
        SessionAttrs::Primary,
        SessionAttrs::Standby,
        SessionAttrs::PreferStandby,
    ];

    /// The value as libpq spells it.
    pub fn name(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

/// The services whose readiness `check` and `wait` ask in their protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Redis,
    Mysql,
    Memcached,
}

impl Service {
    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
            Service::Mysql => "MySQL/MariaDB",
            Service::Memcached => "memcached",
        }
    }

    /// The scheme it is printed with.
    pub fn scheme(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::Mysql => "mysql",
            Service::Memcached => "memcached",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Redis => 6379,
            Service::Mysql => 3306,
            Service::Memcached => 11211,
        }
    }

    /// The service a URL scheme names (lower case), with the spellings
    /// client libraries accept.
    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "postgres" | "postgresql" => Some(Service::Postgres),
            "redis" | "valkey" => Some(Service::Redis),
            "mysql" | "mariadb" => Some(Service::Mysql),
            "memcached" | "memcache" => Some(Service::Memcached),
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
            Target::Service { service, user, database, socket: Some(socket), port, .. } => {
                // A URL the client library (and `Target::parse`) reads back
                // as the same socket: fix lines quote it.
                let path = encode_query_value(&socket.to_string_lossy());
                match service {
                    Service::Postgres => {
                        let directory = socket.parent().map(|d| d.to_string_lossy());
                        let directory = encode_query_value(&directory.unwrap_or_default());
                        write!(f, "postgres://")?;
                        if let Some(user) = user {
                            write!(f, "{}@", encode_path(user))?;
                        }
                        write!(f, "/")?;
                        if let Some(database) = database {
                            write!(f, "{}", encode_path(database))?;
                        }
                        write!(f, "?host={directory}&port={port}")?;
                        match self.libpq().session {
                            SessionAttrs::Any => Ok(()),
                            session => write!(f, "&target_session_attrs={}", session.name()),
                        }
                    }
                    Service::Redis => {
                        write!(f, "redis+socket://{path}")?;
                        match database {
                            Some(database) => write!(f, "?db={}", encode_query_value(database)),
                            None => Ok(()),
                        }
                    }
                    // Not parsed: a memcached URL names a host.
                    Service::Memcached => write!(f, "unix:{}", socket.display()),
                    Service::Mysql => {
                        write!(f, "mysql://")?;
                        if let Some(user) = user {
                            write!(f, "{}@", encode_path(user))?;
                        }
                        write!(f, "localhost/")?;
                        if let Some(database) = database {
                            write!(f, "{}", encode_path(database))?;
                        }
                        write!(f, "?socket={path}")
                    }
                }
            }
            Target::Service { service, host, port, user, database, socket: None, tls, libpq } => {
                let tls = if *tls { "s" } else { "" };
                write!(f, "{}{tls}://", service.scheme())?;
                // Escaped as they were read: the printed URL reads back as
                // the same user and database (a `:` in a user is not a
                // password, a `/` in a database is not a path).
                if let Some(user) = user {
                    write!(f, "{}@", encode_path(user))?;
                }
                let mut settings = Vec::new();
                match &libpq.host_name {
                    // The name TLS checks, with the address connected to
                    // beside it, as libpq reads `host` and `hostaddr`.
                    Some(name) => {
                        let bare = host.to_string();
                        let bare = bare.trim_start_matches('[').trim_end_matches(']');
                        // A path (libpq's default host, a socket
                        // directory) or any other text that is no host
                        // name (`a/b`, `a?b`) is no URL authority: it goes
                        // in `host=`, escaped, as a directory does.
                        let authority = name.parse::<std::net::Ipv6Addr>().is_ok()
                            || crate::target::parse_host(name).is_ok();
                        match authority {
                            true => write!(f, "{}:{port}", bracketed(name))?,
                            false => {
                                settings.push(format!("host={}", encode_query_value(name)));
                                write!(f, ":{port}")?;
                            }
                        }
                        settings.push(format!("hostaddr={}", encode_query_value(bare)));
                    }
                    None => write!(f, "{host}:{port}")?,
                }
                if let Some(database) = database {
                    write!(f, "/{}", encode_path(database))?;
                }
                if libpq.sslmode != SslMode::Prefer {
                    settings.push(format!("sslmode={}", libpq.sslmode.name()));
                }
                if libpq.session != SessionAttrs::Any {
                    settings.push(format!("target_session_attrs={}", libpq.session.name()));
                }
                if let Some(RootCertificates::Setting(file) | RootCertificates::Variable(file)) =
                    &libpq.root
                {
                    settings.push(format!("sslrootcert={}", encode_query_value(file)));
                }
                match settings.is_empty() {
                    true => Ok(()),
                    false if database.is_some() => write!(f, "?{}", settings.join("&")),
                    false => write!(f, "/?{}", settings.join("&")),
                }
            }
        }
    }
}

impl Target {
    /// Parses any of the accepted shapes; port 0 is refused.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        Self::parse_in(text, &[]).map(|(target, _)| target)
    }

    /// Parses as [`Target::parse`] does, filling the parts a service URL
    /// leaves out from the client's `environment` as its client library
    /// would (see [`FromEnvironment`]); returns which parts came from there.
    /// An explicit part of the URL always wins.
    pub fn parse_in(
        text: &str,
        environment: &[(String, String)],
    ) -> Result<(Self, Vec<FromEnvironment>), TargetError> {
        let conninfo = conninfo_url(text)?;
        let text = conninfo.as_deref().unwrap_or(text);
        let mut variables = ClientVariables { variables: environment, used: Vec::new() };
        // Errors quote the target: never with its password.
        let target =
            Self::parse_shape(&redact_password(text), &mut variables).map_err(for_connect)?;
        let port = match &target {
            Target::Service { port, .. } => Some(*port),
            other => other.port(),
        };
        if port == Some(0) {
            return Err(TargetError::ZeroPort);
        }
        if let Some(path) = target.unix_path() {
            check_socket_path(path)?;
        }
        Ok((target, variables.used))
    }

    fn parse_shape(text: &str, variables: &mut ClientVariables) -> Result<Self, TargetError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TargetError::Empty);
        }
        if let Some(rest) = text.strip_prefix("unix://") {
            // redis-py's socket URL, `unix://[[USER]:PASSWORD@]/PATH?db=N`:
            // a userinfo or a query is Redis's (a bare socket is
            // `unix:/PATH`, whose path may hold any byte).
            let userinfo = rest.split('/').next().is_some_and(|first| first.contains('@'));
            if userinfo || rest.contains('?') {
                return parse_redis_socket(rest, text);
            }
        }
        // wait-on's forms, so its command lines work as they are:
        // `socket:/PATH` for a Unix socket, `tcp:PORT` and `tcp:HOST:PORT`
        // without the slashes, `http-get://` and `https-get://` (porthole
        // sends GET to every HTTP target), and `file:` named as not ours.
        let wait_on_socket = text.strip_prefix("socket:").filter(|path| !path.starts_with("//"));
        if let Some(path) = text.strip_prefix("unix:").or(wait_on_socket) {
            // `unix:///run/x.sock` and `unix:/run/x.sock` both name /run/x.sock.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(TargetError::EmptyUnixPath);
            }
            if let Some(name) = path.strip_prefix('@') {
                return Ok(Target::Unix { path: abstract_path(name) });
            }
            return Ok(Target::Unix { path: PathBuf::from(path) });
        }
        if text.get(..5).is_some_and(|start| start.eq_ignore_ascii_case("file:")) {
            return Err(TargetError::FileTarget);
        }
        if let Some(rest) = text
            .get(..4)
            .filter(|start| start.eq_ignore_ascii_case("tcp:"))
            .and_then(|_| text.get(4..))
            .filter(|rest| !rest.starts_with('/'))
        {
            let endpoint = Endpoint::parse(rest)?;
            return Ok(Target::Tcp {
                host: endpoint.host.unwrap_or_else(|| Host::Name("localhost".to_string())),
                port: endpoint.port,
            });
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "http-get" => "http",
                "https-get" => "https",
                _ => scheme,
            };
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
                    if path.chars().any(char::is_control) {
                        return Err(TargetError::HttpControl { whole: text.to_string() });
                    }
                    let path =
                        if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
                    // Sent as written, a space splits the request line (the
                    // server answers 400) and other bytes than ASCII are
                    // read differently by each server: browsers, Go's
                    // net/http and Python's requests send them encoded.
                    let path = encode_request_target(&path);
                    Ok(Target::Http { tls, host, port, path })
                }
                "redis+socket" | "redis+unix" => parse_redis_socket(rest, text),
                "rediss" | "valkeys" => match parse_service(Service::Redis, rest, text, variables)?
                {
                    Target::Service { service, host, port, user, database, socket, .. } => {
                        Ok(Target::Service {
                            service,
                            host,
                            port,
                            user,
                            database,
                            socket,
                            tls: true,
                            libpq: Libpq::default(),
                        })
                    }
                    other => Ok(other),
                },
                other => match Service::from_scheme(other) {
                    Some(service) => parse_service(service, rest, text, variables),
                    None => Err(TargetError::UnknownScheme { scheme: other.to_string() }),
                },
            };
        }
        // `5432/tcp` as fuser and porthole's audit write it.
        let (text, transport) = crate::target::split_transport(text)?;
        let endpoint = Endpoint::parse(text).map_err(|error| match without_slashes(text) {
            Some(url) => TargetError::SchemeWithoutSlashes { text: text.to_string(), url },
            None => error.into(),
        })?;
        if transport == Some(crate::target::Transport::Udp) {
            // Named as parsed, so the command shown runs.
            let udp = format!("{endpoint}/udp");
            let program = crate::sys::executable::program_for(crate::sys::executable::Runner::User);
            let command = format!("{program} {}", crate::shell::word(&udp));
            return Err(TargetError::Udp { command });
        }
        Ok(Target::Tcp {
            host: endpoint.host.unwrap_or_else(|| Host::Name("localhost".to_string())),
            port: endpoint.port,
        })
    }

    /// The TCP port, `None` for Unix sockets.
    pub fn port(&self) -> Option<u16> {
        match self {
            Target::Service { socket: Some(_), .. } | Target::Unix { .. } => None,
            Target::Tcp { port, .. } | Target::Http { port, .. } | Target::Service { port, .. } => {
                Some(*port)
            }
        }
    }

    /// The same target at `address` instead of its host (`None` for Unix
    /// sockets), for a fix that checks a listener's own address. A
    /// `verify-full` PostgreSQL target keeps its name for the certificate
    /// check, as `hostaddr=` does.
    pub fn at(&self, address: std::net::IpAddr) -> Option<Target> {
        let mut moved = self.clone();
        match &mut moved {
            Target::Service { socket: Some(_), .. } | Target::Unix { .. } => return None,
            Target::Service { host, libpq, .. } => {
                if let (Host::Name(name), SslMode::VerifyFull, None) =
                    (&*host, libpq.sslmode, &libpq.host_name)
                {
                    libpq.host_name = Some(name.clone());
                }
                *host = Host::Ip(address);
            }
            Target::Tcp { host, .. } | Target::Http { host, .. } => *host = Host::Ip(address),
        }
        Some(moved)
    }

    /// The host, `None` for Unix sockets.
    pub fn host(&self) -> Option<&Host> {
        match self {
            Target::Service { socket: Some(_), .. } | Target::Unix { .. } => None,
            Target::Tcp { host, .. } | Target::Http { host, .. } | Target::Service { host, .. } => {
                Some(host)
            }
        }
    }

    /// The Unix socket connected to: a `unix:` target's path, or the
    /// socket of a service URL that names one.
    pub fn unix_path(&self) -> Option<&PathBuf> {
        match self {
            Target::Unix { path } | Target::Service { socket: Some(path), .. } => Some(path),
            _ => None,
        }
    }

    /// Whether the target is judged by an application's answer (HTTP or a
    /// service's own protocol) rather than by the connection alone.
    pub fn asks_the_application(&self) -> bool {
        matches!(self, Target::Http { .. } | Target::Service { .. })
    }

    /// The libpq settings of a PostgreSQL target (the defaults for any
    /// other).
    pub fn libpq(&self) -> Libpq {
        match self {
            Target::Service { libpq, .. } => libpq.clone(),
            _ => Libpq::default(),
        }
    }
}

/// A target with the parts of it the client's variables (or option files)
/// filled.
pub type ClientTarget = (Target, Vec<FromEnvironment>);

/// The hosts of a PostgreSQL URL that names several, each as the target
/// libpq connects to when it gets there, in the order it tries them:
/// `postgres://h1:5432,h2:5433/db`, `?host=a,b&port=1,2`, or `PGHOST=a,b`
/// and `PGPORT=1,2` for what the URL leaves out. One port applies to every
/// host; otherwise there is one per host, as libpq requires. `None` for a
/// URL with one host (parse it with [`Target::parse_in`]).
/// See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-MULTIPLE-HOSTS>
pub fn postgres_hosts(
    text: &str,
    environment: &[(String, String)],
) -> Result<Option<Vec<ClientTarget>>, TargetError> {
    let conninfo = conninfo_url(text)?;
    let trimmed = conninfo.as_deref().unwrap_or(text).trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else { return Ok(None) };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "postgres" | "postgresql") {
        return Ok(None);
    }
    let whole = redact_password(trimmed).into_owned();
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, path_and_query) = split_authority(rest);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let (userinfo, hosts_part) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let parameters = query_parameters(query, &whole)?;
    let variable = |name: &str| {
        environment
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    };
    // `HOST[:PORT]` entries of the authority.
    let entries: Vec<(String, Option<String>)> = hosts_part
        .split(',')
        .map(|entry| match entry.find(']') {
            Some(close) if entry.starts_with('[') => {
                let (host, after) = entry.split_at(close + 1);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                (host.to_string(), after.strip_prefix(':').map(str::to_string))
            }
            _ => match entry.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port.to_string())),
                None => (entry.to_string(), None),
            },
        })
        .collect();
    let list = |value: &str| value.split(',').map(str::to_string).collect::<Vec<_>>();
    let mut used = Vec::new();
    let from_variable = |used: &mut Vec<FromEnvironment>, part, name: &'static str| {
        used.push(FromEnvironment {
            part,
            variable: name.to_string(),
            source: ClientSource::Environment,
        });
    };
    let addresses: Option<Vec<String>> = match parameter(&parameters, "hostaddr") {
        Some(value) => Some(list(value)),
        None => variable("PGHOSTADDR").filter(|v| v.contains(',')).map(|v| {
            from_variable(&mut used, "address", "PGHOSTADDR");
            list(&v)
        }),
    };
    let authority_hosts = entries.len() > 1 || !entries[0].0.is_empty();
    let hosts: Vec<String> = match parameter(&parameters, "host") {
        Some(value) => list(value),
        None if authority_hosts => entries
            .iter()
            .map(|(host, _)| percent_decode(host, &whole))
            .collect::<Result<_, _>>()?,
        None => match variable("PGHOST").filter(|v| v.contains(',')) {
            Some(value) => {
                from_variable(&mut used, "host", "PGHOST");
                list(&value)
            }
            None => vec![String::new()],
        },
    };
    let authority_ports: Vec<String> =
        entries.iter().filter_map(|(_, port)| port.clone()).filter(|p| !p.is_empty()).collect();
    let ports: Option<Vec<String>> = match parameter(&parameters, "port") {
        Some(value) => Some(list(value)),
        None if !authority_ports.is_empty() => {
            Some(entries.iter().map(|(_, port)| port.clone().unwrap_or_default()).collect())
        }
        None => variable("PGPORT").filter(|v| v.contains(',')).map(|value| {
            from_variable(&mut used, "port", "PGPORT");
            list(&value)
        }),
    };
    let count = addresses.as_ref().map_or(hosts.len(), |a| a.len().max(hosts.len()));
    if count < 2 && ports.as_ref().is_none_or(|p| p.len() < 2) {
        return Ok(None);
    }
    let several = TargetError::SeveralHosts { whole: whole.clone() };
    let pick = |values: &[String], index: usize| match values.len() {
        1 => Ok(values[0].clone()),
        n if n == count => Ok(values[index].clone()),
        given => Err(TargetError::HostsAndPorts { whole: whole.clone(), given, hosts: count }),
    };
    // The parameters each host's URL keeps: all but the ones split here.
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !matches!(name, "host" | "hostaddr" | "port")
        })
        .collect();
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    // Without these, libpq would read them again from the environment.
    let scrubbed: Vec<(String, String)> = environment
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "PGHOST" | "PGHOSTADDR") || used.is_empty())
        .filter(|(key, _)| key != "PGPORT" || ports.is_none())
        .cloned()
        .collect();
    let mut targets = Vec::with_capacity(count);
    for index in 0..count {
        let mut query: Vec<String> = kept.iter().map(|pair| pair.to_string()).collect();
        query.push(format!("host={}", encode_query_value(&pick(&hosts, index)?)));
        if let Some(addresses) = &addresses {
            let address = pick(addresses, index)?;
            if !address.is_empty() {
                query.push(format!("hostaddr={}", encode_query_value(&address)));
            }
        }
        if let Some(ports) = &ports {
            let port = pick(ports, index)?;
            if !port.is_empty() {
                query.push(format!("port={}", encode_query_value(&port)));
            }
        }
        let url = format!("postgres://{userinfo}{path}?{}", query.join("&"));
        let url = if path.is_empty() { url.replacen("?", "/?", 1) } else { url };
        let (target, mut filled) =
            Target::parse_in(&url, &scrubbed).map_err(|error| match error {
                // Quote the URL as the user wrote it, not this host's part.
                TargetError::SeveralHosts { .. } => several.clone(),
                other => other,
            })?;
        let mut all = used.clone();
        all.append(&mut filled);
        targets.push((target, all));
    }
    Ok(Some(targets))
}

/// `text` with the password of a URL's userinfo written as `***`
/// (`postgres://app:***@db/app`), for every place a target is quoted: an
/// error line, a journal, a terminal someone else can see.
///
/// A `password=` query parameter (libpq and redis-py take one) is written
/// as `password=***` too.
pub fn redact_password(text: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return match conninfo_url(text) {
            Ok(None) => text.into(),
            _ => redact_conninfo(text).into(),
        };
    };
    let (authority, tail) = split_authority(rest);
    let tail = redact_query_password(tail);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let redacted = format!("{scheme}://{authority}{tail}");
    if redacted == text {
        text.into()
    } else {
        redacted.into()
    }
}

/// The path and query of a URL with each `password=` value as `***`.
fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_string() };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    let mut redacted = format!("{path}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        redacted.push('#');
        redacted.push_str(fragment);
    }
    redacted
}

/// The `?NAME=VALUE` parameters of a URL's query, values decoded.
fn query_parameters<'a>(
    query: &'a str,
    whole: &str,
) -> Result<Vec<(&'a str, String)>, TargetError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((name, percent_decode(value, whole)?))
        })
        .collect()
}

/// The last value of parameter `name` (a later one overrides, as libpq
/// reads them).
fn parameter<'a>(parameters: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    parameters.iter().rev().find(|(n, _)| *n == name).map(|(_, value)| value.as_str())
}

/// `[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?…]` of a service URL. The
/// password is dropped here (it is never sent: readiness needs none); `#`
/// has no meaning.
///
/// PostgreSQL follows libpq's URI rules: `?host=`, `?port=`, `?user=` and
/// `?dbname=` override the parts before them; a host that is empty or
/// starts with `/` (written `%2F…` in the authority) is a Unix socket
/// directory, `/var/run/postgresql` when empty (Debian's libpq default),
/// whose socket is `.s.PGSQL.PORT`. MySQL/MariaDB takes `?socket=PATH`.
/// See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS>
///
/// Parts the URL leaves out come from the client's variables (see
/// [`FromEnvironment`]).
fn parse_service(
    service: Service,
    rest: &str,
    whole: &str,
    variables: &mut ClientVariables,
) -> Result<Target, TargetError> {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, path_and_query) = split_authority(rest);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let parameters = query_parameters(query, whole)?;
    // The userinfo ends at the last `@`: a password may hold one.
    let (mut user, authority) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
            let user = percent_decode(user, whole)?;
            (Some(user).filter(|u| !u.is_empty()), host)
        }
        None => (None, authority),
    };
    let mut database = match path.strip_prefix('/') {
        Some(name) if !name.is_empty() => Some(percent_decode(name, whole)?),
        _ => None,
    };
    if service == Service::Redis {
        // redis-rs and go-redis read `/0/` and `//0` as database 0 too.
        let number = percent_decode(path.trim_matches('/'), whole)?;
        database = match number.is_empty() {
            true => None,
            false => Some(redis_database(number, whole)?),
        };
    }
    if service == Service::Postgres {
        if let Some(name) = parameter(&parameters, "user").filter(|u| !u.is_empty()) {
            user = Some(name.to_string());
        }
        if let Some(name) = parameter(&parameters, "dbname").filter(|d| !d.is_empty()) {
            database = Some(name.to_string());
        }
        if parameter(&parameters, "service").is_some() {
            return Err(TargetError::PostgresService { whole: whole.to_string() });
        }
        if user.is_none() {
            user = variables.take("PGUSER", "user");
        }
        if database.is_none() {
            database = variables.take("PGDATABASE", "database");
        }
        let several = |text: &str| text.contains(',');
        let hosts = ["host", "hostaddr"].map(|name| parameter(&parameters, name));
        if several(authority) || hosts.into_iter().flatten().any(several) {
            return Err(TargetError::SeveralHosts { whole: whole.to_string() });
        }
        // The host part of the authority, percent-decoded: `%2Frun%2Fpg`.
        let (host_part, port_part) = match authority.find(']') {
            Some(close) if authority.starts_with('[') => {
                let (host, after) = authority.split_at(close + 1);
                (host, after.strip_prefix(':'))
            }
            _ => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        // libpq's variables fill what the URL leaves out, each on its
        // own: PGHOSTADDR the address even beside a host, PGHOST an empty
        // host only.
        let several_in = |variable: &'static str, value: String| {
            if several(&value) {
                Err(TargetError::SeveralHosts { whole: format!("{variable}={value}") })
            } else {
                Ok(value)
            }
        };
        // PGSERVICE names a pg_service.conf section, which libpq reads for
        // what the URL leaves out before PGHOST and PGPORT.
        let url_host = !percent_decode(host_part, whole)?.is_empty()
            || ["host", "hostaddr"].iter().any(|name| parameter(&parameters, name).is_some());
        let url_port = parameter(&parameters, "port").or(port_part).is_some_and(|p| !p.is_empty());
        let service_variable = variables
            .variables
            .iter()
            .rev()
            .find(|(name, value)| name == "PGSERVICE" && !value.is_empty());
        if let Some((_, name)) = service_variable.filter(|_| !(url_host && url_port)) {
            return Err(TargetError::PostgresServiceVariable { name: name.clone() });
        }
        let (hostaddr, place) = match parameter(&parameters, "hostaddr").filter(|a| !a.is_empty()) {
            Some(address) => (Some(address.to_string()), whole.to_string()),
            None => (
                variables
                    .take("PGHOSTADDR", "address")
                    .map(|value| several_in("PGHOSTADDR", value))
                    .transpose()?,
                "PGHOSTADDR".to_string(),
            ),
        };
        // libpq takes a numeric address there, never a name to look up
        // ("could not parse network address").
        if let Some(address) = hostaddr.as_deref() {
            // A link-local address may carry its zone (`fe80::1%eth0`).
            let numeric = address.split('%').next().unwrap_or_default();
            if numeric.parse::<std::net::IpAddr>().is_err() {
                return Err(TargetError::Setting {
                    name: "hostaddr",
                    value: address.to_string(),
                    place,
                    expected: "a numeric IPv4 or IPv6 address; a name goes in host=".to_string(),
                });
            }
        }
        let decoded_host = percent_decode(host_part, whole)?;
        // PGHOST fills an absent host beside `hostaddr` too: libpq then
        // checks the certificate against it.
        let host_variable = match parameter(&parameters, "host") {
            None if decoded_host.is_empty() => variables
                .take("PGHOST", "host")
                .map(|value| several_in("PGHOST", value))
                .transpose()?,
            _ => None,
        };
        let host_parameter = parameter(&parameters, "host").or(host_variable.as_deref());
        // With `hostaddr`, the host name serves TLS (and authentication)
        // only: `verify-full` checks the certificate against it. Without
        // one, libpq's host is its default, the socket directory, and
        // `verify-full` checks that path (which no certificate carries), as
        // it checks a directory given as the host.
        let host_name = match host_parameter.filter(|host| !host.is_empty()) {
            _ if hostaddr.is_none() => None,
            Some(host) => Some(host.to_string()),
            None if decoded_host.is_empty() => Some(LIBPQ_DEFAULT_HOST.to_string()),
            None => Some(decoded_host.trim_start_matches('[').trim_end_matches(']').to_string()),
        };
        let directory = match host_parameter {
            _ if hostaddr.is_some() => None,
            Some(host) => Some(host.to_string()).filter(|h| h.is_empty() || h.starts_with('/')),
            None => Some(decoded_host).filter(|h| h.is_empty() || h.starts_with('/')),
        };
        let port_text = parameter(&parameters, "port").or(port_part).filter(|p| !p.is_empty());
        let port = match port_text {
            Some(text) => crate::target::parse_port(text, crate::target::PortZero::Allowed)
                .map_err(EndpointError::Port)?,
            None => match variables.take("PGPORT", "port") {
                Some(text) => crate::target::parse_port(&text, crate::target::PortZero::Allowed)
                    .map_err(|error| TargetError::Variable {
                        variable: "PGPORT",
                        source: EndpointError::Port(error),
                    })?,
                None => service.default_port(),
            },
        };
        let sslmode = match parameter(&parameters, "sslmode").filter(|m| !m.is_empty()) {
            Some(mode) => Some((mode.to_string(), whole.to_string())),
            // A socket never uses TLS: the variable is not the client's
            // concern there.
            None if directory.is_some() => None,
            None => variables.take("PGSSLMODE", "sslmode").map(|m| (m, "PGSSLMODE".to_string())),
        };
        // node-postgres's `no-verify` never checks a chain, root file or not.
        let no_verify = sslmode.as_ref().is_some_and(|(value, _)| value == "no-verify");
        let session = match parameter(&parameters, "target_session_attrs").filter(|m| !m.is_empty())
        {
            Some(value) => Some((value.to_string(), whole.to_string())),
            None => variables
                .take("PGTARGETSESSIONATTRS", "target_session_attrs")
                .map(|value| (value, "PGTARGETSESSIONATTRS".to_string())),
        };
        let libpq = Libpq {
            sslmode: match sslmode {
                // node-postgres's `no-verify` asks for TLS without checking
                // the certificate: a server without TLS fails it as it
                // fails `require`.
                Some((value, _)) if value == "no-verify" => SslMode::Require,
                Some((value, place)) => {
                    setting("sslmode", &value, place, &SslMode::ALL, SslMode::name)?
                }
                None => SslMode::Prefer,
            },
            session: match session {
                Some((value, place)) => setting(
                    "target_session_attrs",
                    &value,
                    place,
                    &SessionAttrs::ALL,
                    SessionAttrs::name,
                )?,
                None => SessionAttrs::Any,
            },
            root: None,
            host_name,
        };
        let libpq = Libpq {
            root: root_certificates(&parameters, libpq.sslmode, variables).filter(|_| !no_verify),
            // Only verify-full checks the name: other modes print (and
            // read back) the address alone.
            host_name: libpq.host_name.filter(|_| libpq.sslmode == SslMode::VerifyFull),
            ..libpq
        };
        // Beside `hostaddr`, PGHOST names only the name verify-full checks:
        // other modes do not use it, and no line says they did.
        if hostaddr.is_some() && host_variable.is_some() && libpq.host_name.is_none() {
            variables.used.retain(|used| used.variable != "PGHOST");
        }
        if let Some(directory) = directory {
            let directory = match directory.is_empty() {
                true => LIBPQ_DEFAULT_HOST,
                false => &directory,
            };
            let socket =
                PathBuf::from(format!("{}/.s.PGSQL.{port}", directory.trim_end_matches('/')));
            return Ok(ServiceParts { service, user, database }.through_socket(socket, port, libpq));
        }
        // `hostaddr` is the address libpq connects to (the host name then
        // serves TLS and authentication only).
        let host = hostaddr.as_deref().or(host_parameter);
        let authority = match host {
            Some(host) => bracketed(host).into_owned(),
            None => host_part.to_string(),
        };
        let (host, _) = parse_authority(&authority, Some(port), whole)?;
        return Ok(ServiceParts { service, user, database }.over_tcp(host, port, libpq));
    }
    let mut authority = authority.to_string();
    let mut default_port = service.default_port();
    if service == Service::Mysql {
        // The MariaDB/MySQL client's variables fill an absent host, port
        // and, for `localhost` (which the client reaches by its socket),
        // the socket.
        if authority.is_empty() {
            if let Some(host) = variables.take("MYSQL_HOST", "host") {
                authority = bracketed(&host).into_owned();
            }
        }
        let socket_variable = match parameter(&parameters, "socket") {
            None if host_of(&authority).eq_ignore_ascii_case("localhost") => {
                variables.take("MYSQL_UNIX_PORT", "socket")
            }
            _ => None,
        };
        if !authority_has_port(&authority) {
            if let Some(text) = variables.take("MYSQL_TCP_PORT", "port") {
                default_port = crate::target::parse_port(&text, crate::target::PortZero::Allowed)
                    .map_err(|error| TargetError::Variable {
                    variable: "MYSQL_TCP_PORT",
                    source: EndpointError::Port(error),
                })?;
            }
        }
        if let Some(path) = parameter(&parameters, "socket").or(socket_variable.as_deref()) {
            if path.is_empty() {
                return Err(TargetError::MissingSocketPath {
                    whole: whole.to_string(),
                    expected: "mysql://[USER@]localhost/[DATABASE]?socket=PATH",
                });
            }
            let parts = ServiceParts { service, user, database };
            return Ok(parts.through_socket(PathBuf::from(path), default_port, Libpq::default()));
        }
    }
    let (host, port) = parse_authority(&authority, Some(default_port), whole)?;
    Ok(ServiceParts { service, user, database }.over_tcp(host, port, Libpq::default()))
}

/// What every service URL names before where it connects: the service,
/// and the user and database of its login.
struct ServiceParts {
    service: Service,
    user: Option<String>,
    database: Option<String>,
}

impl ServiceParts {
    /// The target over TCP to `host:port`.
    fn over_tcp(self, host: Host, port: u16, libpq: Libpq) -> Target {
        let ServiceParts { service, user, database } = self;
        Target::Service { service, host, port, user, database, socket: None, tls: false, libpq }
    }

    /// The target through the Unix socket at `path` (`port` is the one its
    /// name carries, for messages), whose host is `localhost`.
    fn through_socket(self, path: PathBuf, port: u16, libpq: Libpq) -> Target {
        let ServiceParts { service, user, database } = self;
        Target::Service {
            service,
            host: Host::Name("localhost".to_string()),
            port,
            user,
            database,
            socket: Some(path),
            tls: false,
            // TLS is asked for over TCP only: a socket never uses it.
            libpq: Libpq { sslmode: SslMode::Prefer, root: None, host_name: None, ..libpq },
        }
    }
}

/// The value of a libpq setting among `all`, or the error libpq gives.
fn setting<T: Copy>(
    name: &'static str,
    value: &str,
    place: String,
    all: &[T],
    spelled: fn(T) -> &'static str,
) -> Result<T, TargetError> {
    all.iter().copied().find(|candidate| spelled(*candidate) == value).ok_or_else(|| {
        TargetError::Setting {
            name,
            value: value.to_string(),
            place,
            expected: all
                .iter()
                .map(|candidate| spelled(*candidate))
                .collect::<Vec<_>>()
                .join(", "),
        }
    })
}

/// A libpq keyword/value connection string (`host=db port=5432
/// dbname=app sslmode=require`, values quoted with `'…'` and `\`
/// escapes) written as the URL with the same parameters, which libpq reads
/// the same way (every keyword is also a URI parameter); `None` for any
/// other target.
/// See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-KEYWORD-VALUE>
fn conninfo_url(text: &str) -> Result<Option<String>, TargetError> {
    let text = text.trim();
    let first = text.split(char::is_whitespace).next().unwrap_or_default();
    let keyword = first.split('=').next().unwrap_or_default();
    let looks_like = first.contains('=')
        && !text.contains("://")
        && !text.starts_with("unix:")
        && !keyword.is_empty()
        && keyword.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !looks_like {
        return Ok(None);
    }
    let bad = |problem| TargetError::Conninfo { text: redact_conninfo(text), problem };
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            keyword.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(bad("a keyword without '=' and a value"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => {
                        value.push(chars.next().ok_or_else(|| bad("unterminated quoted value"))?)
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(bad("unterminated quoted value")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.push(chars.next().ok_or_else(|| bad("a value ends in '\\'"))?),
                    c => value.push(c),
                }
            }
        }
        pairs.push(format!("{keyword}={}", encode_query_value(&value)));
    }
    Ok(Some(format!("postgres:///?{}", pairs.join("&"))))
}

/// A keyword/value string with its `password` value written as `***`
/// (quoted or not, spaces around `=` or not).
fn redact_conninfo(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("password") {
        let starts_word = rest[..at].chars().next_back().is_none_or(char::is_whitespace);
        redacted.push_str(&rest[..at + "password".len()]);
        rest = &rest[at + "password".len()..];
        let after = rest.trim_start();
        let Some(value) = after.strip_prefix('=').filter(|_| starts_word) else { continue };
        let value = value.trim_start();
        redacted.push_str(&rest[..rest.len() - value.len()]);
        redacted.push_str("***");
        // The value ends at an unescaped quote, or at whitespace.
        let mut chars = value.char_indices();
        let end = if value.starts_with('\'') {
            chars.next();
            let mut end = value.len();
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = index + 1;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    redacted.push_str(rest);
    redacted
}

/// `redis+socket://[[USER]:PASSWORD@]/PATH[?db=N]`, the form redis-rs and
/// Celery read (`redis+unix://` too).
fn parse_redis_socket(rest: &str, whole: &str) -> Result<Target, TargetError> {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    // The userinfo, if any, ends at the `@` before the path's first `/`.
    let location = match location.find('/') {
        Some(slash) => match location[..slash].rsplit_once('@') {
            Some((_userinfo, "")) => &location[slash..],
            Some(_) => {
                return Err(TargetError::MissingSocketPath {
                    whole: whole.to_string(),
                    expected: "redis+socket:///PATH",
                })
            }
            None => location,
        },
        None => location,
    };
    let path = percent_decode(location, whole)?;
    if !path.starts_with('/') || path.len() == 1 {
        return Err(TargetError::MissingSocketPath {
            whole: whole.to_string(),
            expected: "redis+socket:///PATH",
        });
    }
    let parameters = query_parameters(query, whole)?;
    let database = parameter(&parameters, "db").filter(|d| !d.is_empty()).map(str::to_string);
    let database = database.map(|number| redis_database(number, whole)).transpose()?;
    Ok(Target::Service {
        service: Service::Redis,
        host: Host::Name("localhost".to_string()),
        port: Service::Redis.default_port(),
        user: None,
        database,
        socket: Some(PathBuf::from(path)),
        tls: false,
        libpq: Libpq::default(),
    })
}

/// Checks a Redis database number as the clients read it: decimal digits
/// of a non-negative `int` (Redis's `SELECT` takes no more).
fn redis_database(number: String, whole: &str) -> Result<String, TargetError> {
    let digits = !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit());
    if digits && number.parse::<i32>().is_ok() {
        return Ok(number);
    }
    Err(TargetError::RedisDatabase { database: number, whole: whole.to_string() })
}

/// An HTTP request target with spaces and other characters than ASCII
/// written as `%XX` (UTF-8), as clients send them; the rest as typed.
fn encode_request_target(path: &str) -> String {
    encode_where(path, |c| c == ' ' || !c.is_ascii())
}

/// A query value with the characters that would end or change it (`%`,
/// `&`, `#`, space, and the ones a shell word quotes) written as `%XX`.
fn encode_query_value(text: &str) -> String {
    encode(text, "%&#?+ '\"\\")
}

/// A user or database name for a URL's userinfo or path.
fn encode_path(text: &str) -> String {
    encode(text, "%&#?/@: '\"\\")
}

fn encode(text: &str, reserved: &str) -> String {
    encode_where(text, |c| reserved.contains(c) || c.is_control())
}

/// `text` with each character `escaped` picks written as its UTF-8 bytes
/// in `%XX` form.
fn encode_where(text: &str, escaped: impl Fn(char) -> bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        if escaped(c) {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        } else {
            encoded.push(c);
        }
    }
    encoded
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

/// Whether a `mysql://` URL names its port (`mysql://root@db:3307/app`).
pub fn mysql_url_has_port(text: &str) -> bool {
    let Some((_, rest)) = text.trim().split_once("://") else { return false };
    let (authority, _) = split_authority(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    authority_has_port(host)
}

/// Whether `HOST[:PORT]` names a port.
fn authority_has_port(authority: &str) -> bool {
    match authority.strip_prefix('[') {
        Some(inner) => inner.split_once(']').is_some_and(|(_, after)| after.starts_with(':')),
        None => authority.contains(':'),
    }
}

/// The host of `HOST[:PORT]` as written (brackets kept).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(host, _)| host);
    }
    authority.split_once(':').map_or(authority, |(host, _)| host)
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
    // `http://:8080/`: a port with no host before it.
    if authority.is_empty() || authority.starts_with(':') {
        return Err(TargetError::MissingHost { text: whole.to_string() });
    }
    let has_port = authority_has_port(authority);
    let text = match (has_port, default) {
        (false, Some(port)) => format!("{authority}:{port}"),
        _ => authority.to_string(),
    };
    // An error quotes what the user wrote, not the default port added to it
    // (`http://[::1/` is an unclosed `[::1`, not `[::1:80`); the port the
    // scheme gives is never missing (`http://bad host/` has a bad host).
    let endpoint = Endpoint::parse(&text).map_err(|error| {
        if has_port {
            error
        } else {
            Endpoint::parse(authority)
                .err()
                .filter(|error| {
                    !matches!(
                        error,
                        EndpointError::MissingPort { .. } | EndpointError::NotAnEndpoint { .. }
                    )
                })
                .unwrap_or(error)
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
    fn a_scheme_without_its_slashes_is_named_with_the_url_meant() {
        assert_eq!(
            err("http:/localhost:8080"),
            "'http:/localhost:8080' lacks the '//' of a URL: write http://localhost:8080"
        );
        assert_eq!(
            err("https:localhost"),
            "'https:localhost' lacks the '//' of a URL: write https://localhost"
        );
        assert_eq!(
            err("redis:/db:6379/0"),
            "'redis:/db:6379/0' lacks the '//' of a URL: write redis://db:6379/0"
        );
        // A host that has a scheme's name is a host.
        assert!(matches!(ok("redis:6379"), Target::Tcp { port: 6379, .. }));
        assert_eq!(err("redis:"), "missing port after 'redis:'");
    }

    #[test]
    fn wait_on_and_fuser_forms_are_taken_as_they_are_written() {
        let localhost = |port| Target::Tcp { host: Host::Name("localhost".into()), port };
        // wait-on: `tcp:PORT`, `tcp:HOST:PORT`, `socket:/PATH`, `http-get://`.
        assert_eq!(ok("tcp:3000"), localhost(3000));
        assert_eq!(ok("TCP:localhost:3000"), localhost(3000));
        assert_eq!(
            ok("tcp:[::1]:3000"),
            Target::Tcp { host: Host::Ip("::1".parse().unwrap()), port: 3000 }
        );
        assert_eq!(ok("socket:/run/app.sock"), Target::Unix { path: "/run/app.sock".into() });
        assert_eq!(ok("http-get://localhost:8080/health"), ok("http://localhost:8080/health"));
        assert_eq!(ok("https-get://localhost/x"), ok("https://localhost/x"));
        assert_eq!(
            err("file:/tmp/ready"),
            "a file, not a network target: porthole waits for ports, URLs and Unix sockets (unix:/PATH)"
        );
        assert_eq!(err("tcp:"), "empty endpoint");
        // lsof's and ss's `:PORT`, fuser's `PORT/tcp`.
        assert_eq!(ok(":3000"), localhost(3000));
        assert_eq!(ok("*:3000"), localhost(3000));
        assert_eq!(ok("3000/tcp"), localhost(3000));
        assert_eq!(ok("localhost:3000/TCP"), localhost(3000));
        // The command names porthole as this shell runs it (a path here).
        let udp = err("[::1]:53/udp");
        assert!(udp.starts_with("UDP, where porthole check and wait connect over TCP: `"), "{udp}");
        assert!(udp.ends_with(" '[::1]:53/udp'` shows who holds the UDP port"), "{udp}");
        assert_eq!(err("53/sctp"), "'/sctp' after the port: porthole knows /tcp and /udp");
        // A URL's path is the path, not a transport.
        assert!(matches!(ok("http://localhost:80/tcp"), Target::Http { .. }));
    }

    #[test]
    fn unix_socket_names_no_socket_can_have_are_refused() {
        // Probed, each was only ever "nothing listens": no socket has an
        // empty abstract name, one longer than sun_path, a path cut at a
        // NUL or a directory's path.
        assert_eq!(
            err("unix:@"),
            "empty abstract socket name after '@' (write unix:@NAME, as porthole ls -x shows it)"
        );
        let long = "n".repeat(108);
        assert_eq!(
            err(&format!("unix:@{long}")),
            format!("abstract socket name '@{long}' is 108 bytes, longer than the 107 a Unix socket address holds: no socket can have it")
        );
        assert!(matches!(ok(&format!("unix:@{}", &long[1..])), Target::Unix { .. }));
        for (text, path) in [
            ("redis+socket:///run/a%00b.sock", "/run/a\0b.sock"),
            ("postgres:///db?host=/run/pg%00x", "/run/pg\0x/.s.PGSQL.5432"),
            ("mysql://localhost/app?socket=/tmp/a%00b", "/tmp/a\0b"),
        ] {
            let path = path.replace("\\0", "\0");
            assert_eq!(
                err(text),
                format!("socket path '{path}' holds a NUL byte, where a file's path ends: no socket file has this name"),
                "{text}"
            );
        }
        for text in ["unix:/", "unix:/tmp/", "redis+socket:///run/redis/", "unix:.", "unix:/run/.."]
        {
            let path = text.split_once(':').unwrap().1.trim_start_matches("//");
            assert_eq!(
                err(text),
                format!("socket path '{path}' names a directory, not a socket file"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_abstract_name_reads_as_porthole_ls_shows_it() {
        use std::os::unix::ffi::OsStrExt;
        let bytes = |text: &str| match ok(text) {
            Target::Unix { path } => path.as_os_str().as_bytes().to_vec(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(bytes("unix:@name\\x00\\x00"), b"@name\0\0");
        assert_eq!(bytes("unix:@a\\xffb"), b"@a\xffb");
        // Not an escape: kept as typed.
        assert_eq!(bytes("unix:@a\\x0"), b"@a\\x0");
        assert_eq!(bytes("unix:@a\\qb"), b"@a\\qb");
        assert_eq!(bytes("unix:@\\x00"), b"@\0");
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
        // Encoded as clients send them: a space would split the request
        // line; a control character would end it, and is refused.
        assert_eq!(path("http://h/a b?q=x y"), "/a%20b?q=x%20y");
        assert_eq!(path("http://h/caf\u{e9}"), "/caf%C3%A9");
        assert_eq!(path("http://h/a%20b"), "/a%20b");
        for bad in [
            "http://h/a\r\nX-Evil: 1",
            "http://h/\u{1b}[31m",
            "https://h/?q=\t1",
            "http://h/\u{85}x",
        ] {
            assert_eq!(
                err(bad),
                format!(
                    "a control character in the path of '{bad}' (percent-encode it, as %0D or %1B)"
                ),
                "{bad:?}"
            );
        }
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
                socket: None,
                tls: false,
                libpq: Libpq { sslmode: SslMode::Disable, ..Libpq::default() },
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
        // A password is never quoted back, in a refusal or anywhere else.
        let refused = err("http://user:hunter2@[::1:80/");
        assert!(!refused.contains("hunter2"), "{refused}");
        assert!(!err("postgres://app:hunter2@/db?port=x").contains("hunter2"));
        assert_eq!(redact_password("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact_password("postgres://app@h/db"), "postgres://app@h/db");
        assert_eq!(redact_password("localhost:5432"), "localhost:5432");
        assert_eq!(
            redact_password("postgres:///db?user=a&password=pw&x=%zz"),
            "postgres:///db?user=a&password=***&x=%zz"
        );
        let refused = err("postgres:///db?password=hunter2&dbname=%zz");
        assert!(refused.contains("password=***") && !refused.contains("hunter2"), "{refused}");
    }

    fn socket(text: &str) -> PathBuf {
        ok(text).unix_path().unwrap_or_else(|| panic!("{text}: no socket")).clone()
    }

    #[test]
    fn postgres_urls_follow_libpq_for_sockets_and_parameters() {
        assert_eq!(socket("postgres:///app"), PathBuf::from("/var/run/postgresql/.s.PGSQL.5432"));
        assert_eq!(
            socket("postgresql://app@/app?host=/tmp/pg"),
            PathBuf::from("/tmp/pg/.s.PGSQL.5432")
        );
        assert_eq!(
            socket("postgres://%2Frun%2Fpg:6543/app"),
            PathBuf::from("/run/pg/.s.PGSQL.6543")
        );
        assert_eq!(
            socket("postgres:///app?host=%2Fsrv%2Fa%20b%2F&port=7000"),
            PathBuf::from("/srv/a b/.s.PGSQL.7000")
        );
        // The query overrides the parts before it, as libpq reads it.
        let target = ok(
            "postgres://nobody@db.example:1/none?host=127.0.0.1&port=6000&user=app&dbname=my%20db",
        );
        assert_eq!(target.to_string(), "postgres://app@127.0.0.1:6000/my%20db");
        // Escaped user and database names print escaped, and read back.
        let escaped = ok("postgres://a%3Ab%40c:pw@[::1]/d%2Fb%20%25");
        assert_eq!(escaped.to_string(), "postgres://a%3Ab%40c@[::1]:5432/d%2Fb%20%25");
        assert_eq!(ok(&escaped.to_string()), escaped);
        assert_eq!(ok("postgres://[::1]:6543/db").to_string(), "postgres://[::1]:6543/db");
        assert_eq!(ok("postgres://[::1]/db").port(), Some(5432));
        assert_eq!(ok("postgres://localhost/app?host=db.example").port(), Some(5432));
        assert_eq!(ok("postgres:///app?host=::1").to_string(), "postgres://[::1]:5432/app");
        // A socket target prints as a URL that reads back the same.
        for text in [
            "postgres://app:pw@/my%20db?host=/tmp/a%26b&port=6001",
            "postgres:///?host=/run/pg",
            "redis+socket:///tmp/r%20s.sock?db=2",
            "mysql://root:pw@localhost/app?socket=/run/mysqld/mysqld.sock",
        ] {
            let target = ok(text);
            let printed = target.to_string();
            assert!(!printed.contains("pw"), "{printed}");
            assert_eq!(ok(&printed), target, "{text} printed as {printed}");
            assert_eq!(target.port(), None);
            assert_eq!(target.host(), None);
        }
        assert!(err("postgres://h1:5432,h2:5433/db").contains("several hosts"));
        assert!(err("postgres:///db?host=/a,/b").contains("several hosts"));
        assert!(err("postgres:///db?port=0").contains("port 0"));
        assert!(err("postgres:///db?port=x").contains("'x' is not a port"));
        assert_eq!(
            ok("postgres://db.example/app?hostaddr=127.0.0.2&port=6000").to_string(),
            "postgres://127.0.0.2:6000/app"
        );
        assert!(err("postgres:///db?hostaddr=::1,127.0.0.1").contains("several hosts"));
        assert_eq!(ok("postgres:///db?host=/tmp&hostaddr=::1").port(), Some(5432));
        assert!(err("postgres://localhost/db?service=prod").contains("pg_service.conf"));
    }

    fn with(text: &str, variables: &[(&str, &str)]) -> (String, Vec<String>) {
        let environment: Vec<(String, String)> =
            variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (target, used) =
            Target::parse_in(text, &environment).unwrap_or_else(|e| panic!("{text}: {e}"));
        (target.to_string(), used.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn service_urls_take_the_parts_they_leave_out_from_the_clients_variables() {
        let pg = [("PGHOST", "/run/pg-dev"), ("PGPORT", "5433"), ("PGUSER", "ci")];
        let (target, used) = with("postgres:///app", &pg);
        assert_eq!(target, "postgres://ci@/app?host=/run/pg-dev&port=5433");
        assert_eq!(used, ["user from PGUSER", "host from PGHOST", "port from PGPORT"]);
        // An explicit part wins; only the missing ones are filled.
        let (target, used) = with("postgres://app@127.0.0.1/db", &pg);
        assert_eq!(target, "postgres://app@127.0.0.1:5433/db");
        assert_eq!(used, ["port from PGPORT"]);
        let (target, used) = with("postgres:///db?host=/tmp&port=7000", &pg);
        assert_eq!(target, "postgres://ci@/db?host=/tmp&port=7000");
        assert_eq!(used, ["user from PGUSER"]);
        let (target, _) = with("postgres://", &[("PGHOST", "db.example"), ("PGDATABASE", "d")]);
        assert_eq!(target, "postgres://db.example:5432/d");
        let (target, used) = with("postgres://db.example/d", &[("PGHOSTADDR", "::1")]);
        assert_eq!(
            (target.as_str(), used.as_slice()),
            ("postgres://[::1]:5432/d", &["address from PGHOSTADDR".to_string()][..])
        );
        // Passwords are never read; empty variables are unset.
        let (target, used) =
            with("postgres:///app", &[("PGPASSWORD", "hunter2"), ("PGHOST", ""), ("PGPORT", "")]);
        assert_eq!(target, "postgres:///app?host=/var/run/postgresql&port=5432");
        assert!(used.is_empty(), "{used:?}");
        let environment = vec![("PGPORT".to_string(), "54x".to_string())];
        let error = Target::parse_in("postgres:///app", &environment).unwrap_err().to_string();
        assert_eq!(
            error,
            "PGPORT in the environment: '54x' is not a port number (expected 1-65535)"
        );
        let environment = vec![("PGHOST".to_string(), "a,b".to_string())];
        let error = Target::parse_in("postgres:///app", &environment).unwrap_err().to_string();
        assert!(error.starts_with("'PGHOST=a,b' names several hosts"), "{error}");

        let my = [("MYSQL_HOST", "127.0.0.1"), ("MYSQL_TCP_PORT", "3307"), ("MYSQL_PWD", "pw")];
        let (target, used) = with("mysql:///app", &my);
        assert_eq!(target, "mysql://127.0.0.1:3307/app");
        assert_eq!(used, ["host from MYSQL_HOST", "port from MYSQL_TCP_PORT"]);
        assert_eq!(with("mysql://db:3306/app", &my).0, "mysql://db:3306/app");
        let (target, used) = with("mysql://localhost/app", &[("MYSQL_UNIX_PORT", "/run/m.sock")]);
        assert_eq!(target, "mysql://localhost/app?socket=/run/m.sock");
        assert_eq!(used, ["socket from MYSQL_UNIX_PORT"]);
        assert!(with("mysql://127.0.0.1/app", &[("MYSQL_UNIX_PORT", "/run/m.sock")]).1.is_empty());
        // redis-cli reads only REDISCLI_AUTH, a password: nothing is taken.
        assert!(with("redis://localhost", &[("REDISCLI_AUTH", "pw")]).1.is_empty());
    }

    #[test]
    fn several_postgres_hosts_are_each_a_target_in_libpqs_order() {
        let hosts = |text: &str, variables: &[(&str, &str)]| -> Vec<String> {
            let environment: Vec<(String, String)> =
                variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            postgres_hosts(text, &environment)
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .unwrap_or_else(|| panic!("{text}: one host"))
                .iter()
                .map(|(target, _)| target.to_string())
                .collect()
        };
        assert_eq!(
            hosts("postgresql://app:pw@h1:5432,h2:5433/db?sslmode=disable", &[]),
            [
                "postgres://app@h1:5432/db?sslmode=disable",
                "postgres://app@h2:5433/db?sslmode=disable"
            ]
        );
        // One port for every host, or none (the default, or PGPORT).
        assert_eq!(
            hosts("postgres:///db?host=a,b&port=6000", &[]),
            ["postgres://a:6000/db", "postgres://b:6000/db"]
        );
        assert_eq!(
            hosts("postgres://[::1],127.0.0.1/db", &[("PGPORT", "7000")]),
            ["postgres://[::1]:7000/db", "postgres://127.0.0.1:7000/db"]
        );
        // A socket directory is a host too.
        assert_eq!(
            hosts("postgres:///db", &[("PGHOST", "/run/pg,db.example"), ("PGPORT", "5433,5434")]),
            ["postgres:///db?host=/run/pg&port=5433", "postgres://db.example:5434/db"]
        );
        assert_eq!(postgres_hosts("postgres://h1:5432/db", &[]), Ok(None));
        assert_eq!(postgres_hosts("redis://h1,h2", &[]), Ok(None));
        // libpq refuses ports it cannot match to the hosts.
        let error = postgres_hosts("postgres://app:pw@/db?host=a,b,c&port=1,2", &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "'postgres://app:***@/db?host=a,b,c&port=1,2' gives 2 ports or addresses for 3 hosts (libpq takes one for every host, or one per host)"
        );
    }

    #[test]
    fn redis_and_mysql_sockets() {
        assert_eq!(
            socket("redis+socket:///run/redis/redis.sock"),
            PathBuf::from("/run/redis/redis.sock")
        );
        assert_eq!(socket("redis+unix://:secret@/run/r.sock?db=1"), PathBuf::from("/run/r.sock"));
        assert_eq!(
            socket("mysql://localhost/app?socket=%2Frun%2Fm.sock"),
            PathBuf::from("/run/m.sock")
        );
        assert!(err("redis+socket://").contains("missing socket path"));
        assert!(err("redis+socket://relative.sock").contains("missing socket path"));
        assert!(err("mysql://localhost/app?socket=").contains("missing socket path"));
        // The form named is one that reads back as a socket.
        let expected = err("mysql://localhost:3306?socket=");
        assert!(expected.ends_with("(expected mysql://[USER@]localhost/[DATABASE]?socket=PATH)"));
        assert_eq!(err("http://:8080/"), "missing host in 'http://:8080/'");
        assert_eq!(err("redis://:6379"), "missing host in 'redis://:6379'");
        assert_eq!(
            ok("rediss://:hunter2@localhost:6380/1").to_string(),
            "rediss://localhost:6380/1"
        );
        assert_eq!(ok("REDISS://[::1]").port(), Some(6379));
        // redis-py's `unix://` socket URL: a query or a password makes it
        // Redis's; without them `unix://` stays the bare socket.
        let redis_py = ok("unix://:hunter2@/run/r.sock?db=2");
        assert_eq!(redis_py.to_string(), "redis+socket:///run/r.sock?db=2");
        assert_eq!(socket("unix:///run/r.sock?db=0"), PathBuf::from("/run/r.sock"));
        assert_eq!(ok("unix:///run/r.sock"), Target::Unix { path: "/run/r.sock".into() });
        assert_eq!(ok("unix:/run/a?b.sock"), Target::Unix { path: "/run/a?b.sock".into() });
        assert_eq!(ok("valkey://localhost").to_string(), "redis://localhost:6379");
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
        // A host whose scheme gives the port is never missing one: the
        // host is what is wrong, quoted as typed (no colon added).
        assert_eq!(err("http://bad host/"), "'bad host' is not a valid host name");
        assert_eq!(err("postgres://a b/db"), "'a b' is not a valid host name");
        assert_eq!(err("redis://a\x1bb"), "'a\x1bb' is not a valid host name");
        assert_eq!(err("tcp://localhost"), "missing port after 'localhost'");
        assert_eq!(err("\x1b[31m80"), "'\x1b[31m80' is neither a port number nor HOST:PORT");
        // An sslmode libpq does not know, in the URL or in PGSSLMODE.
        assert_eq!(
            err("postgres://h/db?sslmode=disabled"),
            "invalid sslmode 'disabled' in postgres://h/db?sslmode=disabled (expected disable, \
             allow, prefer, require, verify-ca, verify-full)"
        );
        assert!(err("postgres:///db?sslmode=Disable").starts_with("invalid sslmode 'Disable'"));
        let environment = [("PGSSLMODE".to_string(), "off".to_string())];
        let error = Target::parse_in("postgres://h/db", &environment).unwrap_err().to_string();
        assert!(error.starts_with("invalid sslmode 'off' in PGSSLMODE"), "{error}");
        assert_eq!(ok("postgres://h/db?sslmode=no-verify").libpq().sslmode, SslMode::Require);
        for mode in
            ["disable", "allow", "prefer", "require", "verify-ca", "verify-full", "no-verify"]
        {
            assert!(Target::parse(&format!("postgres://h/db?sslmode={mode}")).is_ok(), "{mode}");
        }
        // A Redis path is a database number, as the clients read it.
        for bad in ["/0/extra", "/cache", "/-1", "/+1", "/1.0", "/%31x", "/2147483648", "/٣"] {
            let url = format!("redis://localhost:6379{bad}");
            assert!(
                err(&url).ends_with("is not a Redis database number (expected a number from 0, as in redis://HOST:PORT/0)"),
                "{url}: {}",
                err(&url)
            );
        }
        assert!(err("rediss://localhost/0/x").starts_with("'0/x' in 'rediss://localhost/0/x'"));
        assert_eq!(ok("redis://localhost//3/").to_string(), "redis://localhost:6379/3");
        assert!(err("redis+socket:///run/r.sock?db=x").contains("'x' in"));
        for good in
            ["redis://localhost/0", "redis://localhost/15/", "redis://localhost/", "redis://h"]
        {
            assert!(Target::parse(good).is_ok(), "{good}");
        }
        for zero in ["127.0.0.1:0", "0", "tcp://localhost:0", "http://[::1]:0/", "localhost:00"] {
            assert_eq!(err(zero), "port 0 cannot be connected to (expected 1-65535)", "{zero}");
        }
    }

    #[test]
    fn libpq_root_file_and_tls_host_name_read_back() {
        let environment = [
            ("HOME".to_string(), "/home/app/".to_string()),
            ("PGSSLROOTCERT".to_string(), "/etc/ca.pem".to_string()),
        ];
        let parse = |text: &str| Target::parse_in(text, &environment).unwrap().0;
        // sslrootcert= wins over PGSSLROOTCERT, which wins over HOME.
        let set = parse("postgres://db/app?sslmode=verify-ca&sslrootcert=/tmp/my%20ca.pem");
        assert_eq!(set.libpq().root, Some(RootCertificates::Setting("/tmp/my ca.pem".into())));
        assert_eq!(parse(&set.to_string()), set);
        let variable = parse("postgres://db/app?sslmode=verify-full");
        assert_eq!(variable.libpq().root, Some(RootCertificates::Variable("/etc/ca.pem".into())));
        let home =
            Target::parse_in("postgres://db/app?sslmode=require", &environment[..1]).unwrap().0;
        assert_eq!(
            home.libpq().root,
            Some(RootCertificates::Home("/home/app/.postgresql/root.crt".into()))
        );
        // Modes that never check a chain look for no file.
        assert_eq!(parse("postgres://db/app").libpq().root, None);
        assert_eq!(parse("postgres://db/app?sslmode=no-verify").libpq().root, None);
        // With hostaddr, the host name is kept for verify-full, which
        // checks it.
        let both = ok("postgres://app@db.test:5433/app?hostaddr=::1&sslmode=verify-full");
        assert_eq!(both.libpq().host_name.as_deref(), Some("db.test"));
        assert_eq!(
            both.to_string(),
            "postgres://app@db.test:5433/app?hostaddr=::1&sslmode=verify-full"
        );
        assert_eq!(ok(&both.to_string()), both);
        let keywords = ok("host=db.test hostaddr=127.0.0.1 sslmode=verify-full");
        assert_eq!(keywords.libpq().host_name.as_deref(), Some("db.test"));
        // Without a host, libpq's host is its socket directory, and
        // verify-full checks the certificate against that path; a directory
        // given as the host is checked as well. The path goes in host=, so
        // the printed URL reads back as the same target.
        for (text, name, printed) in [
            (
                "postgres://app@:5433/app?hostaddr=127.0.0.1&sslmode=verify-full",
                "/var/run/postgresql",
                "postgres://app@:5433/app?host=/var/run/postgresql&hostaddr=127.0.0.1&sslmode=verify-full",
            ),
            (
                "postgres://app@:5433/app?host=/tmp/pg&hostaddr=::1&sslmode=verify-full",
                "/tmp/pg",
                "postgres://app@:5433/app?host=/tmp/pg&hostaddr=::1&sslmode=verify-full",
            ),
            // A name that is no host name is escaped there too.
            (
                "postgres://app@:5433/app?host=a%2Fb%3F%23c%20d&hostaddr=::1&sslmode=verify-full",
                "a/b?#c d",
                "postgres://app@:5433/app?host=a/b%3F%23c%20d&hostaddr=::1&sslmode=verify-full",
            ),
            (
                "hostaddr=127.0.0.1 host='' port=5433 sslmode=verify-full",
                "/var/run/postgresql",
                "postgres://:5433/?host=/var/run/postgresql&hostaddr=127.0.0.1&sslmode=verify-full",
            ),
        ] {
            let target = ok(text);
            assert_eq!(target.libpq().host_name.as_deref(), Some(name), "{text}");
            assert_eq!(target.port(), Some(5433), "{text}");
            assert_eq!(target.to_string(), printed, "{text}");
            assert_eq!(ok(printed), target, "{text}");
        }
        // PGHOST fills an absent host beside hostaddr, as libpq's variables
        // fill every setting left out.
        let pghost = [("PGHOST".to_string(), "db.test".to_string())];
        let (target, _) =
            Target::parse_in("postgres://:5433/?hostaddr=127.0.0.1&sslmode=verify-full", &pghost)
                .unwrap();
        assert_eq!(target.libpq().host_name.as_deref(), Some("db.test"));
        assert_eq!(target.host(), Some(&Host::Ip("127.0.0.1".parse().unwrap())));
        // Other modes never use it: it is not named as used.
        let (target, used) =
            Target::parse_in("postgres://:5433/?hostaddr=127.0.0.1&sslmode=require", &pghost)
                .unwrap();
        assert_eq!(target.libpq().host_name, None);
        assert!(used.iter().all(|used| used.variable != "PGHOST"), "{used:?}");
    }

    #[test]
    fn libpq_settings_read_back_from_the_printed_url() {
        let target =
            ok("postgres://app@db:5433/app?sslmode=verify-full&target_session_attrs=read-write");
        assert_eq!(
            target.libpq(),
            Libpq {
                sslmode: SslMode::VerifyFull,
                session: SessionAttrs::ReadWrite,
                // No HOME in the (empty) environment parsed with.
                root: Some(RootCertificates::NoHome),
                host_name: None,
            }
        );
        let printed = target.to_string();
        assert_eq!(
            printed,
            "postgres://app@db:5433/app?sslmode=verify-full&target_session_attrs=read-write"
        );
        assert_eq!(ok(&printed), target);
        // On a socket TLS is never asked for; the session still is judged.
        let socket =
            ok("postgres:///app?host=/run/pg&sslmode=require&target_session_attrs=standby");
        assert_eq!(
            socket.libpq(),
            Libpq { sslmode: SslMode::Prefer, session: SessionAttrs::Standby, ..Libpq::default() }
        );
        assert_eq!(ok(&socket.to_string()), socket);
        let service = [("PGSERVICE".to_string(), "prod".to_string())];
        let error = Target::parse_in("postgres://db/app", &service).unwrap_err();
        assert!(error.to_string().starts_with("PGSERVICE=prod in the environment"), "{error}");
        assert!(Target::parse_in("postgres://db:5432/app", &service).is_ok());
        let environment = [("PGSSLMODE".to_string(), "require".to_string())];
        let (_, used) = Target::parse_in("postgres:///app?host=/run/pg", &environment).unwrap();
        assert!(used.is_empty(), "PGSSLMODE does not apply to a socket: {used:?}");
        let environment = [("PGTARGETSESSIONATTRS".to_string(), "primary".to_string())];
        let (from_variable, used) = Target::parse_in("postgres://db/app", &environment).unwrap();
        assert_eq!(from_variable.libpq().session, SessionAttrs::Primary);
        assert_eq!(used[0].variable, "PGTARGETSESSIONATTRS");
        assert_eq!(
            err("postgres:///app?hostaddr=db.example"),
            "invalid hostaddr 'db.example' in postgres:///app?hostaddr=db.example (expected a numeric IPv4 or IPv6 address; a name goes in host=)"
        );
        assert_eq!(ok("postgres:///app?hostaddr=::1").port(), Some(5432));
        assert_eq!(
            err("postgres://db/app?sslmode=on"),
            "invalid sslmode 'on' in postgres://db/app?sslmode=on (expected disable, allow, prefer, require, verify-ca, verify-full)"
        );
    }

    #[test]
    fn a_keyword_string_reads_as_the_url_with_the_same_parameters() {
        let target = ok("host=127.0.0.1 port = 6543 dbname='app db' user=o\\'neil sslmode=require");
        assert_eq!(
            target.to_string(),
            "postgres://o%27neil@127.0.0.1:6543/app%20db?sslmode=require"
        );
        let socket = ok("host=/run/pg port=5433");
        assert_eq!(socket.unix_path(), Some(&PathBuf::from("/run/pg/.s.PGSQL.5433")));
        let hosts = postgres_hosts("host=a,b port=1,2 dbname=x", &[]).unwrap().expect("two");
        assert_eq!(hosts.len(), 2);
        assert!(err("host='127.0.0.1 port=5432").contains("unterminated quoted value"));
        assert!(err("host=127.0.0.1 port").contains("a keyword without '='"));
        // A password never reaches an error line.
        let quoted = "host=x password='s3 cr\\'et' port=none";
        assert_eq!(redact_password(quoted), "host=x password=*** port=none");
        assert!(!Target::parse(quoted).unwrap_err().to_string().contains("s3"));
        assert_eq!(redact_password("host=x password = hunter2"), "host=x password = ***");
    }
}
