//! Network probes: what answers on a TCP listener, and does it want
//! credentials?
//!
//! Each target gets, in order and within one deadline:
//! 1. a **passive read** (send nothing; SSH, SMTP, MySQL greet first);
//! 2. **one safe probe**, chosen from the owner's process name, the port and
//!    the banner ([`choose`]): RESP `PING` for Redis, `version` for memcached,
//!    an `OP_MSG hello` for MongoDB, an `SSLRequest` for PostgreSQL, the JDWP
//!    handshake, or — for anything else — `GET / HTTP/1.0` *without* a `Host`
//!    line, which Redis does not treat as an attack;
//! 3. for HTTP services, read-only follow-ups: the service's own status path
//!    (`/json/version`, `/version`, `/api/kernels`, `/pods`, `/metrics`,
//!    `/_all_dbs`), for a file server the secret paths of [`files`], and
//!    the browser checks in [`http`];
//! 4. a **TLS retry** only when the port proved it speaks TLS: it answered
//!    the plain request with a TLS record (an alert), or with an HTTP 400
//!    saying a plain request reached an HTTPS port, or it is a Redis by its
//!    process name that hung up on `PING` (only its `tls-port` does). Any
//!    other reset or close without a reply is reported as such, never
//!    answered with a ClientHello.
//!
//! Printer ports (515, 631, 9100–9107) are never touched: they print what
//! they receive. Login attempts (PostgreSQL, MySQL) only run with `--active`
//! because servers log them.

pub mod banner;
pub mod conn;
pub mod files;
pub mod http;
pub mod http_auth;
pub mod http_services;
pub mod jdwp;
pub mod login;
pub mod memcached;
pub mod memcached_auth;
pub mod mongodb;
pub mod mongodb_auth;
pub mod mysql;
pub mod mysql_auth;
pub mod pg_hba;
pub mod postgres;
pub mod postgres_auth;
pub mod redis;
pub mod redis_auth;
pub mod scram;

use std::net::SocketAddr;
use std::time::Duration;

use conn::{Conn, Deadline, End};

/// How much an unauthenticated service gives away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// Read and write data, or run code (Redis, Jupyter, etcd…).
    Control,
    /// Read information only (metrics).
    Information,
}

/// One fact a probe established, with the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    NoAuth {
        evidence: String,
        fix: String,
        impact: Impact,
    },
    AuthRequired {
        evidence: String,
    },
    Debugger {
        kind: String,
        evidence: String,
        fix: String,
    },
    DockerApi {
        evidence: String,
    },
    TrustAuth {
        evidence: String,
        /// Set when a login from a non-loopback address of this machine
        /// was asked for a password: pg_hba.conf trusts loopback clients
        /// only, and other devices meet the method it names.
        loopback_only: Option<String>,
        /// pg_hba.conf as the server read it on that session, when it let
        /// porthole see it: who each `trust` line admits, and where.
        hba: Option<pg_hba::HbaRules>,
        /// Where the login was trusted: a fix's `psql` goes there, since
        /// the other loopback family may ask for a password.
        address: SocketAddr,
    },
    /// PostgreSQL let `postgres` in without a password over its Unix
    /// socket file (`--active`): a `local … trust` line of pg_hba.conf.
    LocalTrust {
        evidence: String,
    },
    EmptyPassword {
        evidence: String,
        /// The user name of the login: `root`, or one no server has
        /// ([`mysql::UNKNOWN_USER`]), which only an anonymous account or
        /// `skip-grant-tables` lets in.
        user: String,
        /// `CURRENT_USER()` on that session: the account the server
        /// matched (`root@localhost`, `@localhost`; `@` under
        /// `skip-grant-tables`).
        account: Option<String>,
    },
    Rebindable {
        evidence: String,
        /// `/` answered a page (2xx) the same way to both Hosts; `false`
        /// when both got the same 404, which shows the missing Host check
        /// but no page.
        page: bool,
    },
    Cors {
        evidence: String,
        credentials: bool,
    },
    WebsocketOrigin {
        evidence: String,
    },
    /// Redis `protected-mode` as `CONFIG GET` reported it: while it is on
    /// and no password is set, clients from other addresses get `-DENIED`.
    ProtectedMode {
        on: bool,
        evidence: String,
    },
    /// A file server: a directory listing at `/`, or secret paths
    /// (`/.ssh/id_ed25519`, `/.git/config`…) answered with files of their
    /// kind.
    FileServer(files::FileServer),
    /// `weak-password`: `user` got in with a password from the lists after
    /// `attempts` tries; the password itself only with `--show`.
    WeakPassword {
        user: String,
        password: Option<String>,
        attempts: usize,
        site: bool,
        /// Redis: whether `CONFIG` answered once logged in (`None`: not
        /// asked), so a fix does not print a `CONFIG SET` that a
        /// `rename-command CONFIG ""` turned off.
        config_command: Option<bool>,
        /// Redis: `ACL GETUSER` showed the user has `nopass`, so any
        /// password gets in, not only the one from the list.
        no_password: bool,
    },
}

/// Everything probing one listener found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub service: Option<String>,
    pub version: Option<String>,
    pub tls: bool,
    /// The HTTP `Server` header or similar product string.
    pub http: bool,
    pub probes: Vec<String>,
    pub note: Option<String>,
    pub observations: Vec<Observation>,
    /// Where the service says its settings come from, when it says so
    /// (Redis's `INFO server`), so that a fix names the file the user has.
    pub settings: Option<Settings>,
    /// MySQL/MariaDB: where its `bind-address` is set; PostgreSQL: where
    /// its `listen_addresses` is; read from its command line and
    /// configuration files, so a fix edits that line.
    pub bind_option: Option<crate::audit::mysql_options::BindSource>,
    /// nginx that answered a foreign `Host`: the `listen … default_server`
    /// lines of its servers on the port, (file, line), read from `nginx
    /// -T` as root (`None`: not read); a catch-all added as a second
    /// default server would make nginx refuse its configuration.
    pub nginx_default_listens: Option<Vec<(String, usize)>>,
    /// MySQL/MariaDB that let every login in with `skip-grant-tables`:
    /// the lines of its option files that set it (as reached from here),
    /// so the fix deletes them; `None` when its command line sets it or
    /// the files it reads are not porthole's to read.
    pub skip_grant_tables: Option<Vec<crate::audit::mysql_options::OptionLine>>,
    /// Redis without a password: the `user default … nopass` line of its
    /// files, which overrides a `requirepass`.
    pub redis_default_user: Option<crate::audit::redis_options::DefaultUserLine>,
    /// Redis (`--active`): where the ACL user that got in with a weak
    /// password is kept, so its new password outlives a restart.
    pub redis_user_source: Option<crate::audit::redis_options::UserSource>,
    /// memcached: the configuration file its command line was made from
    /// (`None`: the options were typed on the command line).
    pub memcached_config: Option<crate::audit::memcached_options::ConfigFile>,
    /// memcached with SASL (`-S`): the mechanisms it offers, so logins go
    /// over the binary protocol's SASL instead of ASCII authentication.
    pub memcached_sasl: Option<String>,
    /// memcached with ASCII authentication: its `-Y` file, as reached from
    /// here (through `/proc/PID/root` for a mount namespace of its own).
    pub memcached_auth_file: Option<String>,
    /// memcached with SASL (`-S`): the sasldb its accounts are in.
    pub memcached_sasldb: Option<crate::audit::memcached_options::SaslDatabase>,
    /// PostgreSQL (`--active`): its pg_hba.conf read from disk, for the
    /// `trust` lines no login from this machine meets.
    pub hba_on_disk: Option<crate::audit::postgres_hba::HbaOnDisk>,
    /// PostgreSQL: whether its `ssl` setting is on (`None`: its files were
    /// not read), for `cleartext-password`: with TLS on, a client may still
    /// connect without it.
    pub postgres_ssl: Option<bool>,
    /// PostgreSQL: the configuration file it read first (as reached from
    /// here), where a fix adds a setting.
    pub postgres_config: Option<String>,
    /// Jupyter: its owner's working directory (`/proc/PID/cwd`), where a
    /// fix starts it again.
    pub owner_directory: Option<String>,
    /// A file server: the directory it serves, named from its owner
    /// (`/proc/PID/cwd` and its options, nginx's `root`).
    pub served_directory: Option<crate::audit::file_server_options::ServedDirectory>,
    /// nginx: the `autoindex on;` lines of its configuration, as `nginx -T`
    /// printed them (file, line from 1), for the server that listens on
    /// the port.
    pub autoindex_lines: Vec<(String, usize)>,
    /// Jupyter: the line of its configuration file that empties its token.
    pub jupyter_token_line: Option<crate::audit::jupyter_options::TokenLine>,
    /// MySQL/MariaDB: the error it greeted this client with (code,
    /// message), so neither its version nor a login was seen.
    pub mysql_refusal: Option<(u16, String)>,
}

/// Where a running service read its settings from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settings {
    /// This configuration file (another user's text: shown sanitised).
    File(String),
    /// No file: only its command line (Redis started with `--port …`).
    CommandLineOnly,
}

/// What the probe may know about the process behind the port.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    /// Process names (`comm`) of the owners, lower case.
    pub names: Vec<String>,
    /// Full command lines of the owners.
    pub cmdlines: Vec<String>,
    /// JDWP agent options a JVM owner took from its environment
    /// (`JAVA_TOOL_OPTIONS`…), which its command line does not show.
    pub environment_options: Vec<String>,
    /// The listener's backlog, when the kernel's socket dump gave it.
    pub backlog: Option<u32>,
}

impl Hint {
    fn name_is(&self, candidates: &[&str]) -> bool {
        self.names.iter().any(|name| candidates.iter().any(|c| name == c))
    }

    fn name_contains(&self, fragment: &str) -> bool {
        self.names.iter().any(|name| name.contains(fragment))
    }

    fn cmdline_contains(&self, fragment: &str) -> bool {
        self.cmdlines.iter().any(|line| line.contains(fragment))
    }
}

/// Probe settings.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions {
    /// Bound of each connect/read/write.
    pub timeout: Duration,
    /// Allow login attempts (PostgreSQL trust, MySQL empty password).
    pub active: bool,
}

/// The protocol the probe will speak, chosen before sending anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Never connect (printers print what they receive).
    Skip,
    Redis,
    Memcached,
    MongoDb,
    Postgres,
    Jdwp,
    /// A JDWP agent on a port the JVM picked (`address=…:0`): never
    /// connected to, since the agent closes its listener on every accept and
    /// opens a new one on another port, which the port it printed for the
    /// developer no longer reaches.
    JdwpPicked,
    /// A listener of a hidden owner with the JDWP transport's backlog of
    /// one: the JDWP handshake first; when no agent answers it, the plan
    /// of its port.
    JdwpFirst,
    /// HTTP (or unknown: the Host-less identification request decides).
    Http,
}

/// Ports that print whatever arrives: LPD, IPP, raw JetDirect.
pub fn is_printer_port(port: u16) -> bool {
    matches!(port, 515 | 631 | 9100..=9107)
}

/// Picks the protocol from the owner process, then the port.
pub fn choose(port: u16, hint: &Hint) -> Plan {
    if is_printer_port(port) {
        // node_exporter's default is 9100; its name says it is no printer.
        let exporter = hint.name_contains("exporter");
        if !exporter || port == 631 || port == 515 {
            return Plan::Skip;
        }
    }
    if hint.name_is(&["cupsd", "lpd", "cups-browsed"]) {
        return Plan::Skip;
    }
    if hint.name_is(&[
        "redis-server",
        "valkey-server",
        "keydb-server",
        "redis-stack-ser",
        "kvrocks",
    ]) || hint.names.iter().any(|n| n.starts_with("redis") || n.starts_with("valkey"))
    {
        return Plan::Redis;
    }
    if hint.name_is(&["memcached"]) {
        return Plan::Memcached;
    }
    if hint.name_is(&["mongod", "mongos"]) {
        return Plan::MongoDb;
    }
    if hint.name_is(&["postgres", "postmaster"]) {
        return Plan::Postgres;
    }
    if hint.name_is(&["java"])
        && (hint.cmdline_contains("jdwp") || !hint.environment_options.is_empty())
    {
        match jdwp_port(hint) {
            Some(jdwp) if jdwp == port => return Plan::Jdwp,
            // `address=127.0.0.1:0`, or no address: the JVM picked the
            // port. Its socket transport listens with a backlog of one,
            // which no Java web server uses: that listener is the debugger,
            // and an HTTP request would reach it as a failed handshake.
            Some(0) | None if hint.backlog == Some(JDWP_BACKLOG) => return Plan::JdwpPicked,
            _ => {}
        }
    }
    if !hint.names.is_empty() {
        return Plan::Http;
    }
    // Owner unknown (another user's process, not root). The JDWP socket
    // transport's backlog of one is the only sign of a debugger there, and
    // an HTTP request would reach it as a failed attach, which the JVM
    // logs: shake hands first, then go by the port.
    if hint.backlog == Some(JDWP_BACKLOG) {
        return Plan::JdwpFirst;
    }
    by_port(port)
}

/// The protocol a port's usual service speaks, for a listener whose owner
/// is unknown.
fn by_port(port: u16) -> Plan {
    match port {
        6379 | 6380 | 16379 => Plan::Redis,
        11211 => Plan::Memcached,
        27017..=27019 => Plan::MongoDb,
        5432 | 5433 => Plan::Postgres,
        _ => Plan::Http,
    }
}

/// What a memcached's owner says of its protocol: `-S` (`--enable-sasl`)
/// turns ASCII off; a memcached by name without it answers ASCII.
fn memcached_expect(hint: &Hint) -> memcached::Expect {
    let sasl = hint
        .cmdlines
        .iter()
        .any(|line| line.split_whitespace().any(|word| word == "-S" || word == "--enable-sasl"));
    if sasl {
        memcached::Expect::Sasl
    } else if hint.name_is(&["memcached"]) {
        memcached::Expect::Ascii
    } else {
        memcached::Expect::Unknown
    }
}

/// The backlog the JDWP socket transport listens with (`listen(fd, 1)` in
/// the JDK's `socketTransport.c`).
pub const JDWP_BACKLOG: u32 = 1;

/// The port in `-agentlib:jdwp=…,address=[HOST:]PORT`.
fn jdwp_port(hint: &Hint) -> Option<u16> {
    let lines = hint.cmdlines.iter().chain(&hint.environment_options);
    let option = lines
        .flat_map(|line| line.split_whitespace())
        .find(|word| crate::audit::launch_options::is_jdwp_option(word))?;
    // `-agentlib:jdwp=OPTIONS`, `-Xrunjdwp:OPTIONS`,
    // `-agentpath:…/libjdwp.so=OPTIONS`: the options follow the first `=`
    // or `:` after the agent's name.
    let rest = &option[option.find("jdwp")? + "jdwp".len()..];
    let options = &rest[rest.find(['=', ':'])? + 1..];
    let address = options.split(',').find_map(|o| o.strip_prefix("address="))?;
    address.rsplit(':').next()?.parse().ok()
}

/// Longest service version kept, in characters. A greeting or `Server`
/// header is the service's own text: a hostile one could fill 64 KiB (the
/// read bound) and with it every finding's SERVICE column and JSON field.
pub const VERSION_LIMIT: usize = 80;

/// Probes one TCP listener at `address` (a connectable address: loopback for
/// wildcard binds).
pub fn probe(address: SocketAddr, hint: &Hint, options: ProbeOptions) -> Outcome {
    let mut outcome = probe_unbounded(address, hint, options);
    outcome.version = outcome.version.map(|version| bounded(&version, VERSION_LIMIT));
    outcome
}

/// The first line of `text`, cut to `limit` characters with `…` when longer;
/// otherwise exact (escape sequences included: renderers sanitise, JSON
/// keeps them).
fn bounded(text: &str, limit: usize) -> String {
    let line = text.split(['\r', '\n']).next().unwrap_or_default();
    if line.chars().count() <= limit && line.len() == text.len() {
        return text.to_string();
    }
    let mut cut: String = line.chars().take(limit).collect();
    cut.push('…');
    cut
}

fn probe_unbounded(address: SocketAddr, hint: &Hint, options: ProbeOptions) -> Outcome {
    let mut outcome = Outcome::default();
    let plan = choose(address.port(), hint);
    if plan == Plan::Skip {
        outcome.service = Some("printer".into());
        outcome.note = Some("printer port: not probed (it would print what it receives)".into());
        return outcome;
    }
    if plan == Plan::JdwpPicked {
        jdwp::picked_port(&mut outcome);
        return outcome;
    }
    // Enough for a dozen bounded steps; a black hole costs at most this.
    let deadline = Deadline::new(options.timeout, options.timeout * 4);
    // JDWP never speaks first, and a connection closed before the handshake
    // is logged by the JVM ("Debugger failed to attach"): shake hands only.
    if plan == Plan::Jdwp {
        jdwp::probe(address, &deadline, &mut outcome);
        return outcome;
    }
    let plan = if plan == Plan::JdwpFirst {
        jdwp::probe(address, &deadline, &mut outcome);
        if outcome.service.is_some() {
            return outcome;
        }
        by_port(address.port())
    } else {
        plan
    };

    // 1. Passive read: servers that speak first identify themselves.
    outcome.probes.push("passive read".into());
    let mut conn = match Conn::plain(address, &deadline) {
        Ok(conn) => conn,
        Err(error) => {
            outcome.note = Some(format!("connect failed: {error}"));
            return outcome;
        }
    };
    let wait = (options.timeout / 4).min(Duration::from_millis(400));
    let (greeting, _) = conn.receive(&deadline, Some(wait), |b| {
        b.ends_with(b"\n") || banner::mysql_greeting(b).is_some()
    });
    drop(conn);
    // A Redis in protected mode greets a client of another address with
    // `-DENIED` before it is sent anything.
    if greeting.starts_with(b"-DENIED") {
        redis::denied(&conn::abbreviate(&greeting, 60), &mut outcome);
        return outcome;
    }
    if let Some(found) = banner::identify(&greeting) {
        outcome.service = Some(found.service.clone());
        outcome.version = found.version;
        if let Some((code, message)) = found.refused {
            outcome.note =
                Some(format!("refused this client before its greeting: ERR {code} {message}"));
            outcome.mysql_refusal = Some((code, message));
            return outcome;
        }
        if (found.service == "mysql" || found.service == "mariadb") && options.active {
            mysql::probe(address, &deadline, &mut outcome);
        }
        return outcome;
    }

    // 2. One safe probe, chosen from the process and the port.
    match plan {
        // Chosen by the owner's name, not only the port: a Redis for sure.
        Plan::Redis => redis::probe(address, &deadline, !hint.names.is_empty(), &mut outcome),
        Plan::Memcached => {
            memcached::probe(address.into(), &deadline, memcached_expect(hint), &mut outcome)
        }
        Plan::MongoDb => mongodb::probe(address, &deadline, &mut outcome),
        Plan::Postgres => postgres::probe(address, &deadline, options.active, &mut outcome),
        Plan::Http | Plan::Skip | Plan::Jdwp | Plan::JdwpPicked | Plan::JdwpFirst => {
            identify_by_request(address, hint, &deadline, &mut outcome)
        }
    }
    outcome
}

/// Whether the owners of a Unix socket are a service [`probe_unix`]
/// knows how to ask: Redis and its kin, memcached (`-s`), PostgreSQL
/// (`.s.PGSQL.PORT` in `unix_socket_directories`), MySQL/MariaDB
/// (`socket=`).
pub fn probes_unix(hint: &Hint) -> bool {
    matches!(choose(0, hint), Plan::Redis | Plan::Memcached | Plan::Postgres) || mysql_server(hint)
}

/// A MySQL or MariaDB server by its process name: on TCP its greeting
/// names it, on a socket file the owner decides whether to connect.
fn mysql_server(hint: &Hint) -> bool {
    hint.name_is(&["mysqld", "mariadbd"])
}

/// Probes one listening Unix socket file at `path` (as reached from here)
/// with the safe probe of its owner's service; other services are not
/// connected to (see [`probes_unix`]).
pub fn probe_unix(path: &str, hint: &Hint, options: ProbeOptions) -> Outcome {
    let mut outcome = Outcome::default();
    let deadline = Deadline::new(options.timeout, options.timeout * 4);
    match choose(0, hint) {
        Plan::Redis => redis::probe_unix(path, &deadline, &mut outcome),
        Plan::Memcached => memcached::probe(
            conn::Endpoint::Unix(path),
            &deadline,
            memcached_expect(hint),
            &mut outcome,
        ),
        Plan::Postgres => postgres::probe_unix(path, &deadline, options.active, &mut outcome),
        _ if mysql_server(hint) => mysql::probe_unix(path, &deadline, options.active, &mut outcome),
        _ => return outcome,
    }
    outcome.version = outcome.version.map(|version| bounded(&version, VERSION_LIMIT));
    outcome
}

/// Sends the Host-less `GET / HTTP/1.0` and follows the answer: HTTP → the
/// HTTP checks; a RESP error → Redis; `ERROR` → memcached; a TLS record →
/// retry inside TLS.
fn identify_by_request(
    address: SocketAddr,
    hint: &Hint,
    deadline: &Deadline,
    outcome: &mut Outcome,
) {
    outcome.probes.push("http GET / (no Host)".into());
    let (reply, end) = request_once(address, false, deadline);
    if let Some(response) = http::parse(&reply) {
        if looks_like_tls_port(&response) {
            return retry_in_tls(address, hint, deadline, outcome);
        }
        return http_services::follow(address, false, &response, hint, deadline, outcome);
    }
    if reply.starts_with(b"-ERR") || reply.starts_with(b"-NOAUTH") || reply.starts_with(b"-DENIED")
    {
        return redis::probe(address, deadline, false, outcome);
    }
    if reply.starts_with(b"ERROR") {
        return memcached::probe(address.into(), deadline, memcached::Expect::Ascii, outcome);
    }
    // Only a TLS record proves the port speaks TLS; a bare reset or close
    // does not (plenty of plain services hang up on an unknown request), and
    // a ClientHello is one more request the service never asked for.
    if starts_with_tls_record(&reply) {
        return retry_in_tls(address, hint, deadline, outcome);
    }
    if !reply.is_empty() {
        outcome.version = Some(format!("reply: {}", conn::abbreviate(&reply, 40)));
    } else if end == End::Timeout {
        outcome.note = Some("no answer to GET / (silent service)".into());
    } else {
        outcome.note = Some(
            "closed the connection on GET / without a reply (no TLS record, so no TLS retry)"
                .into(),
        );
    }
}

/// A TLS record header: content type 20–23 (change_cipher_spec, alert,
/// handshake, application_data), then major version 3. A TLS server that
/// rejects a plain request usually sends an alert record.
fn starts_with_tls_record(reply: &[u8]) -> bool {
    matches!(reply, [0x14..=0x17, 0x03, ..])
}

/// nginx and others answer plain HTTP on a TLS port with a 400 that says so.
fn looks_like_tls_port(response: &http::Response) -> bool {
    response.status == 400 && {
        let body = response.body_text().to_ascii_lowercase();
        body.contains("plain http request was sent to https")
            || body.contains("client sent an http request to an https server")
    }
}

fn retry_in_tls(address: SocketAddr, hint: &Hint, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("tls GET / (no Host)".into());
    let (reply, _) = request_once(address, true, deadline);
    match http::parse(&reply) {
        Some(response) => {
            outcome.tls = true;
            http_services::follow(address, true, &response, hint, deadline, outcome);
        }
        None => {
            if Conn::tls(address, deadline).is_ok() {
                outcome.tls = true;
                outcome.service = Some("tls".into());
            }
        }
    }
}

fn request_once(address: SocketAddr, tls: bool, deadline: &Deadline) -> (Vec<u8>, End) {
    let conn = if tls { Conn::tls(address, deadline) } else { Conn::plain(address, deadline) };
    let Ok(mut conn) = conn else { return (Vec::new(), End::Reset) };
    if conn.send(http::IDENTIFY_REQUEST, deadline).is_err() {
        return (Vec::new(), End::Reset);
    }
    // Non-HTTP replies (a RESP error, memcached's `ERROR`) end at a line
    // break; the server then waits for more and would hold us to the timeout.
    conn.receive(deadline, None, |b| {
        http::is_complete(b) || (b.len() >= 5 && !b.starts_with(b"HTTP/") && b.ends_with(b"\n"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_one_bounded_line() {
        assert_eq!(bounded("SSH-2.0-OpenSSH_9.2p1", 120), "SSH-2.0-OpenSSH_9.2p1");
        // Escapes stay (the renderers sanitise); only length and lines go.
        assert_eq!(bounded("a\u{1b}[2Jb", 120), "a\u{1b}[2Jb");
        assert_eq!(bounded(&"A".repeat(65_000), 120), format!("{}…", "A".repeat(120)));
        assert_eq!(bounded("nginx\r\nSet-Cookie: x", 120), "nginx…");
    }

    fn hint(names: &[&str], cmdline: &str) -> Hint {
        Hint {
            names: names.iter().map(|n| n.to_string()).collect(),
            cmdlines: vec![cmdline.to_string()],
            ..Hint::default()
        }
    }

    #[test]
    fn printers_are_never_probed() {
        assert_eq!(choose(9100, &Hint::default()), Plan::Skip);
        assert_eq!(choose(631, &hint(&["cupsd"], "")), Plan::Skip);
        assert_eq!(choose(515, &Hint::default()), Plan::Skip);
        assert_eq!(choose(9100, &hint(&["node_exporter"], "")), Plan::Http);
    }

    #[test]
    fn the_process_wins_over_the_port() {
        assert_eq!(choose(8080, &hint(&["redis-server"], "")), Plan::Redis);
        assert_eq!(choose(6379, &hint(&["python3"], "")), Plan::Http);
        assert_eq!(choose(6379, &Hint::default()), Plan::Redis);
        assert_eq!(choose(5432, &Hint::default()), Plan::Postgres);
        assert_eq!(choose(40000, &hint(&["postgres"], "")), Plan::Postgres);
        let java = hint(&["java"], "java -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005 -jar app.jar");
        assert_eq!(choose(5005, &java), Plan::Jdwp);
        assert_eq!(choose(8080, &java), Plan::Http);
    }

    #[test]
    fn a_jdwp_agent_from_the_environment_is_probed_as_one() {
        let environment = |option: &str| Hint {
            environment_options: vec![option.to_string()],
            ..hint(&["java"], "java Sleep.java")
        };
        let agent = "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:15005";
        assert_eq!(choose(15005, &environment(agent)), Plan::Jdwp);
        let old = "-Xrunjdwp:transport=dt_socket,server=y,address=5006";
        assert_eq!(choose(5006, &environment(old)), Plan::Jdwp);
        // Another listener of the same JVM is not the debugger.
        assert_eq!(choose(8080, &environment(agent)), Plan::Http);
        assert_eq!(choose(15005, &hint(&["java"], "java Sleep.java")), Plan::Http);
        // The agent loaded by its path is the same agent.
        let path = "java -agentpath:/usr/lib/jvm/java-17/lib/libjdwp.so=transport=dt_socket,server=y,address=127.0.0.1:15007 -jar a.jar";
        assert_eq!(choose(15007, &Hint { backlog: Some(1), ..hint(&["java"], path) }), Plan::Jdwp);
    }

    #[test]
    fn a_jdwp_port_the_jvm_picked_is_told_by_its_backlog() {
        for agent in ["address=127.0.0.1:0", "address=0", "server=y"] {
            let line = format!("java -agentlib:jdwp=transport=dt_socket,{agent} -jar app.jar");
            let debugger = Hint { backlog: Some(1), ..hint(&["java"], &line) };
            assert_eq!(choose(40123, &debugger), Plan::JdwpPicked, "{line}");
            // The application's own server listens with a real backlog.
            let web = Hint { backlog: Some(50), ..hint(&["java"], &line) };
            assert_eq!(choose(8080, &web), Plan::Http, "{line}");
            let unknown = hint(&["java"], &line);
            assert_eq!(choose(8080, &unknown), Plan::Http, "{line}");
        }
        // Owner hidden: the backlog alone says to shake hands first.
        assert_eq!(choose(15005, &Hint { backlog: Some(1), ..Hint::default() }), Plan::JdwpFirst);
        assert_eq!(choose(5432, &Hint { backlog: Some(1), ..Hint::default() }), Plan::JdwpFirst);
        assert_eq!(by_port(5432), Plan::Postgres);
        assert_eq!(choose(15005, &Hint { backlog: Some(50), ..Hint::default() }), Plan::Http);
        // A fixed port is that port alone, whatever the backlog.
        let fixed = hint(&["java"], "java -agentlib:jdwp=transport=dt_socket,address=5005 A");
        assert_eq!(choose(8080, &Hint { backlog: Some(1), ..fixed }), Plan::Http);
    }
}
