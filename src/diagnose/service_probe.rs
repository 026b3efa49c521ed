//! Readiness in a service's own protocol, for `postgres://`, `redis://`,
//! `rediss://`, `mysql://` and `memcached://` targets, over TCP or a Unix
//! socket: a port that accepts connections is not yet a database
//! that takes clients. PostgreSQL accepts TCP while it starts, recovers or
//! runs as a standby without hot standby, and answers every login with
//! SQLSTATE `57P03` ("the database system is starting up"); Redis answers
//! `-LOADING` while it reads its dataset; a MySQL/MariaDB server at its limit
//! greets with an error packet. Each probe is the smallest exchange that
//! tells, and never sends a password:
//!
//! - PostgreSQL: a protocol 3.0 `StartupMessage` for the URL's user
//!   (`postgres` without one) and database; an authentication request or
//!   `AuthenticationOk` means it takes logins, as `pg_isready` judges it (an
//!   error such as "role does not exist" too: the server is up and said no
//!   to this login only). `57P03` and `53300` (too many clients) are not
//!   ready. After `AuthenticationOk` a `Terminate` ends the session cleanly.
//!   See: <https://www.postgresql.org/docs/current/protocol-flow.html>
//! - Redis: an inline `PING`; `+PONG`, `-NOAUTH`/`-NOPERM` (up, wants a
//!   login) and other errors of a running server are ready; `-LOADING`,
//!   `-BUSY`, `-MASTERDOWN`, `-DENIED` and `maxclients` are not.
//! - memcached: the text protocol's `version`; `VERSION …` is ready, and
//!   so is an error of a running server (SASL makes it refuse the text
//!   protocol); `SERVER_ERROR` and the "Too many open connections" a full
//!   server sends before closing are not.
//! - MySQL/MariaDB: the server speaks first; a protocol-10 greeting is
//!   ready, an error packet (`1040` too many connections, `1129` host
//!   blocked, …) is not. Nothing is sent, as `wait` does for a bare port;
//!   the server counts the connection as an aborted connect (it does for any
//!   TCP check) and does not count loopback clients towards blocking a host.

use std::io::{Read, Write};
use std::time::Instant;

use super::probe::{io_reply, printable, Stream};
use super::target::{Libpq, Service, SessionAttrs};
use crate::audit::probes::postgres::{startup_message, SSL_REQUEST, TERMINATE};
use crate::model::diagnosis::{Reply, ServiceAnswer};

/// The most a first reply is read to: every answer judged here is small.
const MAX_REPLY: usize = 8192;

/// What libpq says when the server answers `N` to its SSLRequest and
/// `sslmode` requires TLS.
pub const NO_TLS: &str = "server does not support SSL, but SSL was required";

/// A stream whose reads can be bounded by a deadline: the connection
/// itself, or TLS over it.
trait Timed: Read + Write {
    fn until(&mut self, deadline: Instant) -> std::io::Result<()>;
}

impl Timed for Stream {
    fn until(&mut self, deadline: Instant) -> std::io::Result<()> {
        self.set_read_timeout(deadline)
    }
}

impl Timed for rustls::Stream<'_, rustls::ClientConnection, Stream> {
    fn until(&mut self, deadline: Instant) -> std::io::Result<()> {
        self.sock.set_read_timeout(deadline)
    }
}

/// What a PostgreSQL question needs beyond the stream.
pub struct PostgresQuestion<'a> {
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub libpq: Libpq,
    /// Over TCP (libpq asks for TLS there only).
    pub tcp: bool,
    /// The name a TLS handshake gives the server.
    pub host: &'a str,
}

/// Asks `service` over `stream` whether it takes clients, within `deadline`.
pub fn ask(
    stream: &mut Stream,
    service: Service,
    postgres_question: &PostgresQuestion<'_>,
    deadline: Instant,
) -> Reply {
    match service {
        Service::Postgres => postgres(stream, postgres_question, deadline),
        Service::Redis => ask_line(stream, deadline, b"PING\r\n", judge_redis),
        Service::Mysql => mysql(stream, deadline),
        Service::Memcached => ask_line(stream, deadline, b"version\r\n", judge_memcached),
    }
}

/// Asks PostgreSQL as libpq would with the question's settings: an
/// SSLRequest first when `sslmode` requires TLS (over TCP), then the
/// startup (inside TLS when the server took the request), then, when
/// `target_session_attrs` asks for a kind of session, what the session is.
fn postgres(stream: &mut Stream, question: &PostgresQuestion<'_>, deadline: Instant) -> Reply {
    let user = question.user.unwrap_or("postgres");
    let startup = startup_message(user, question.database.unwrap_or(user), "porthole");
    let session = question.libpq.session;
    if !(question.tcp && question.libpq.sslmode.needs_tls()) {
        return login(stream, &startup, session, deadline);
    }
    if let Err(error) = stream.write_all(&SSL_REQUEST) {
        return io_reply(&error);
    }
    // One byte, `S` or `N`; an old server answers with an ErrorResponse.
    let complete = |bytes: &[u8]| match bytes.first() {
        Some(b'E') => postgres_complete(bytes),
        Some(_) => true,
        None => false,
    };
    let answer = match read_message(stream, deadline, complete) {
        Ok(bytes) => bytes,
        Err(reply) => return reply,
    };
    match answer.first() {
        Some(b'N') if answer.len() == 1 => Reply::Service(ServiceAnswer {
            protocol: Service::Postgres.name(),
            ready: false,
            speaks: true,
            summary: format!(
                "PostgreSQL answered N to an SSLRequest (ssl = off), and sslmode={} requires TLS: libpq stops with \"{NO_TLS}\"",
                question.libpq.sslmode.name()
            ),
            code: None,
            message: Some(NO_TLS.to_string()),
        }),
        Some(b'S') if answer.len() == 1 => {
            let (mut connection, chain) =
                match super::tls::capturing_probe_connection(question.host) {
                    Ok(made) => made,
                    Err(error) => return Reply::Failed(error.to_string()),
                };
            if super::libpq_tls::checks(&question.libpq) {
                // libpq judges the certificate before it sends the startup.
                if let Err(error) = stream.set_read_timeout(deadline) {
                    return io_reply(&error);
                }
                while connection.is_handshaking() {
                    if let Err(error) = connection.complete_io(stream) {
                        return io_reply(&error);
                    }
                }
                // verify-full checks libpq's `host`, also when `hostaddr`
                // gives the address.
                let name = question.libpq.host_name.as_deref().unwrap_or(question.host);
                if let Some(refusal) = super::libpq_tls::judge(&question.libpq, name, &chain.take())
                {
                    let first = refusal.message.lines().next().unwrap_or_default().to_string();
                    return Reply::Service(ServiceAnswer {
                        protocol: Service::Postgres.name(),
                        ready: false,
                        speaks: true,
                        summary: format!(
                            "PostgreSQL answered over TLS, and libpq with sslmode={} stops with \"{first}\" ({})",
                            question.libpq.sslmode.name(),
                            refusal.evidence
                        ),
                        code: None,
                        message: Some(refusal.message),
                    });
                }
            }
            let mut tls = rustls::Stream::new(&mut connection, stream);
            match login(&mut tls, &startup, session, deadline) {
                Reply::Service(mut answer) => {
                    answer.summary = format!("{} (over TLS)", answer.summary);
                    Reply::Service(answer)
                }
                other => other,
            }
        }
        Some(b'E') => Reply::Service(judge_postgres(&answer)),
        _ => Reply::Service(not_the_protocol(Service::Postgres, &answer)),
    }
}

/// The startup, its first answer judged; then, for `target_session_attrs`
/// other than `any`, the session judged as libpq judges it.
fn login<S: Timed>(
    stream: &mut S,
    startup: &[u8],
    session: SessionAttrs,
    deadline: Instant,
) -> Reply {
    if let Err(error) = stream.write_all(startup) {
        return io_reply(&error);
    }
    let bytes = match read_message(stream, deadline, postgres_complete) {
        Ok(bytes) => bytes,
        Err(reply) => return reply,
    };
    let mut answer = judge_postgres(&bytes);
    let logged_in = bytes.first() == Some(&b'R') && bytes.get(5..9) == Some(&[0, 0, 0, 0][..]);
    if answer.ready && session != SessionAttrs::Any {
        if logged_in {
            answer = judge_session(stream, bytes.clone(), session, deadline, answer);
        } else {
            answer.summary = format!(
                "{}; target_session_attrs={} is judged after a login, and porthole logs in without a password only: not judged",
                answer.summary,
                session.name()
            );
        }
    }
    if bytes.first() == Some(&b'R') && answer.speaks {
        // A login without a password went through: leave as a client does.
        let _ = stream.write_all(&TERMINATE);
    }
    Reply::Service(answer)
}

/// The backend messages in `bytes`, each as its type and body, and the
/// bytes of an incomplete last one.
fn messages(bytes: &[u8]) -> (Vec<(u8, &[u8])>, usize) {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(length) = bytes.get(at + 1..at + 5) {
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let Some(body) = bytes.get(at + 5..at + 1 + length).filter(|_| length >= 4) else { break };
        found.push((bytes[at], body));
        at += 1 + length;
    }
    (found, at)
}

/// Reads backend messages until ReadyForQuery (`Z`) or an error (`E`),
/// within `deadline` and [`MAX_REPLY`] bytes; `bytes` holds what came
/// already.
fn until_ready<S: Timed>(stream: &mut S, mut bytes: Vec<u8>, deadline: Instant) -> Vec<u8> {
    let done = |bytes: &[u8]| messages(bytes).0.iter().any(|(kind, _)| matches!(kind, b'Z' | b'E'));
    let mut buffer = [0u8; 2048];
    while !done(&bytes) && bytes.len() < MAX_REPLY * 4 && Instant::now() < deadline {
        if stream.until(deadline).is_err() {
            break;
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    }
    bytes
}

/// The first column of the first row a one-statement query returns.
fn query_value<S: Timed>(stream: &mut S, sql: &str, deadline: Instant) -> Option<String> {
    let mut message = vec![b'Q'];
    message.extend_from_slice(&u32::try_from(sql.len() + 5).ok()?.to_be_bytes());
    message.extend_from_slice(sql.as_bytes());
    message.push(0);
    stream.write_all(&message).ok()?;
    let bytes = until_ready(stream, Vec::new(), deadline);
    let (found, _) = messages(&bytes);
    let row = found.iter().find(|(kind, _)| *kind == b'D')?.1;
    let length = row.get(2..6)?;
    let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    let value = row.get(6..6 + usize::try_from(length).ok()?)?;
    Some(String::from_utf8_lossy(value).into_owned())
}

/// Judges the session a login got as libpq does for
/// `target_session_attrs`: from the `default_transaction_read_only` and
/// `in_hot_standby` the server reports (PostgreSQL 14 and later), else by
/// the query libpq sends (`SHOW transaction_read_only`,
/// `SELECT pg_is_in_recovery()`). A session that does not qualify is not
/// ready, with libpq's own words as the message.
/// See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-TARGET-SESSION-ATTRS>
fn judge_session<S: Timed>(
    stream: &mut S,
    first: Vec<u8>,
    session: SessionAttrs,
    deadline: Instant,
    logged_in: ServiceAnswer,
) -> ServiceAnswer {
    let bytes = until_ready(stream, first, deadline);
    let (found, _) = messages(&bytes);
    if let Some((_, body)) = found.iter().find(|(kind, _)| *kind == b'E') {
        let mut error = vec![b'E'];
        error.extend_from_slice(&u32::try_from(body.len() + 4).unwrap_or(u32::MAX).to_be_bytes());
        error.extend_from_slice(body);
        // Refused after the authentication (trust for a role that does not
        // exist): the server is up, and the session was never there to
        // judge.
        let mut refused = judge_postgres(&error);
        if refused.ready {
            refused.summary = format!(
                "{}; target_session_attrs={} is judged in a session, and this login got none: not judged",
                refused.summary,
                session.name()
            );
        }
        return refused;
    }
    let parameter = |name: &str| {
        found.iter().filter(|(kind, _)| *kind == b'S').find_map(|(_, body)| {
            let mut fields = body.split(|&b| b == 0);
            (fields.next()? == name.as_bytes())
                .then(|| String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned())
        })
    };
    let on = |value: Option<String>| value.map(|v| v == "on" || v == "t");
    let not_judged = |what: &str| ServiceAnswer {
        summary: format!(
            "{}; the server did not say whether {what}: target_session_attrs={} not judged",
            logged_in.summary,
            session.name()
        ),
        ..logged_in.clone()
    };
    let standby_reported = on(parameter("in_hot_standby"));
    let read_only_reported = on(parameter("default_transaction_read_only"));
    let (fails, message, facts) = match session {
        SessionAttrs::ReadWrite | SessionAttrs::ReadOnly => {
            let (read_only, facts) = match (read_only_reported, standby_reported) {
                (Some(read_only), Some(standby)) => (
                    read_only || standby,
                    format!(
                        "default_transaction_read_only = {}, in_hot_standby = {}",
                        if read_only { "on" } else { "off" },
                        if standby { "on" } else { "off" }
                    ),
                ),
                _ => match on(query_value(stream, "SHOW transaction_read_only", deadline)) {
                    Some(read_only) => (
                        read_only,
                        format!("transaction_read_only = {}", if read_only { "on" } else { "off" }),
                    ),
                    None => return not_judged("the session is read-only"),
                },
            };
            match session {
                SessionAttrs::ReadWrite => (read_only, "session is read-only", facts),
                _ => (!read_only, "session is not read-only", facts),
            }
        }
        _ => {
            let standby = match standby_reported {
                Some(standby) => Some(standby),
                None => on(query_value(stream, "SELECT pg_catalog.pg_is_in_recovery()", deadline)),
            };
            let Some(standby) = standby else { return not_judged("it is a standby") };
            let facts = format!("in_hot_standby = {}", if standby { "on" } else { "off" });
            match session {
                SessionAttrs::Primary => (standby, "server is in hot standby mode", facts),
                _ => (!standby, "server is not in hot standby mode", facts),
            }
        }
    };
    let wanted = session.name();
    if fails {
        ServiceAnswer {
            ready: false,
            summary: format!(
                "PostgreSQL took the login, but its session does not qualify for target_session_attrs={wanted} ({facts}): libpq drops it with \"{message}\""
            ),
            code: None,
            message: Some(format!("{message} ({facts})")),
            ..logged_in
        }
    } else {
        ServiceAnswer {
            summary: format!(
                "{}, and the session qualifies for target_session_attrs={wanted} ({facts})",
                logged_in.summary
            ),
            ..logged_in
        }
    }
}

/// Whether an answer is libpq's own refusal of a server that answered:
/// no TLS for a `sslmode` that requires it, or a session that does not
/// qualify for `target_session_attrs`. The message starts with libpq's
/// words.
pub fn refused_by_libpq(answer: &ServiceAnswer) -> Option<&str> {
    if answer.protocol != Service::Postgres.name() || answer.code.is_some() || answer.ready {
        return None;
    }
    let message = answer.message.as_deref()?;
    [
        NO_TLS,
        super::libpq_tls::NO_ROOT_FILE,
        super::libpq_tls::UNREADABLE_ROOT_FILE,
        super::libpq_tls::NO_HOME,
        super::libpq_tls::VERIFY_FAILED,
        super::libpq_tls::NAME_MISMATCH,
        super::libpq_tls::NO_NAME,
        "session is read-only",
        "session is not read-only",
        "server is in hot standby mode",
        "server is not in hot standby mode",
    ]
    .into_iter()
    .find(|words| message.starts_with(words))
}

/// A backend message is complete once its type byte and announced length
/// have arrived.
fn postgres_complete(bytes: &[u8]) -> bool {
    match bytes.get(1..5) {
        Some(length) => {
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            bytes.len() > length as usize
        }
        None => false,
    }
}

/// Judges the first backend message after a StartupMessage.
pub fn judge_postgres(bytes: &[u8]) -> ServiceAnswer {
    let protocol = Service::Postgres.name();
    let plausible_length = bytes
        .get(1..5)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]))
        .is_some_and(|length| (4..=MAX_REPLY as u32 * 4).contains(&length));
    match bytes.first() {
        Some(b'R') if plausible_length && bytes.len() >= 9 => {
            let code = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
            let how = match code {
                0 => "without a password".to_string(),
                3 => "with a cleartext password".to_string(),
                5 => "with an MD5 password".to_string(),
                10 => "with SCRAM (SASL)".to_string(),
                2 | 7 | 9 => "with Kerberos/GSSAPI or SSPI".to_string(),
                other => format!("with authentication method {other}"),
            };
            ServiceAnswer {
                protocol,
                ready: true,
                speaks: true,
                summary: format!("PostgreSQL takes logins ({how})"),
                code: None,
                message: None,
            }
        }
        Some(b'E') if plausible_length => {
            let field = |tag: u8| {
                bytes.get(5..).unwrap_or_default().split(|&b| b == 0).find_map(|f| {
                    (f.first() == Some(&tag)).then(|| String::from_utf8_lossy(&f[1..]).into_owned())
                })
            };
            let code = field(b'C').unwrap_or_default();
            let message = field(b'M').unwrap_or_default();
            // The detail says which of the reasons it is ("Hot standby
            // mode is disabled.", "Consistent recovery state has not been
            // yet reached.").
            let message = match field(b'D') {
                Some(detail) => format!("{message} ({detail})"),
                None => message,
            };
            // 57P03 cannot_connect_now: starting up, shutting down, in
            // recovery without hot standby; 53300 too_many_connections.
            let ready = !matches!(code.as_str(), "57P03" | "53300" | "57P01" | "57P02");
            let summary = if ready {
                format!("PostgreSQL is up; it refused this login only: {message} ({code})")
            } else {
                format!("PostgreSQL refuses every client now: {message} ({code})")
            };
            ServiceAnswer {
                protocol,
                ready,
                speaks: true,
                summary,
                code: Some(code),
                message: Some(message),
            }
        }
        _ => not_the_protocol(Service::Postgres, bytes),
    }
}

/// Whether a PostgreSQL answer refuses the login for coming without TLS:
/// pg_hba.conf has only `hostssl` lines for it, or a `hostnossl … reject`
/// ("no pg_hba.conf entry for host …, no encryption", "pg_hba.conf
/// rejects connection for host …, no encryption", SQLSTATE 28000).
pub fn refused_without_tls(answer: &ServiceAnswer) -> bool {
    answer.protocol == Service::Postgres.name()
        && answer.code.as_deref() == Some("28000")
        && answer.message.as_deref().is_some_and(|m| m.contains("no encryption"))
}

/// The answer as a client that never asks for TLS (`sslmode=disable`)
/// gets it: a login refused for coming without TLS refuses every such
/// login, where the probe's plain startup counts as a running server.
pub fn without_tls(answer: ServiceAnswer) -> ServiceAnswer {
    if !refused_without_tls(&answer) {
        return answer;
    }
    ServiceAnswer {
        ready: false,
        summary:
            "PostgreSQL takes this client over TLS only, and sslmode=disable never asks for it"
                .to_string(),
        ..answer
    }
}

/// `PING` inside TLS (`rediss://`), any certificate accepted. A port that
/// answers the handshake in plain RESP (Redis's own plain port) is named
/// as not speaking TLS.
pub fn redis_tls(stream: &mut Stream, host: &str, deadline: Instant) -> Reply {
    let mut connection = match super::tls::probe_connection(host) {
        Ok(connection) => connection,
        Err(error) => return Reply::Failed(error.to_string()),
    };
    if let Err(error) = stream.set_read_timeout(deadline) {
        return Reply::Failed(error.to_string());
    }
    let mut tls = rustls::Stream::new(&mut connection, stream);
    if let Err(error) = tls.write_all(b"PING\r\n") {
        return handshake_failed(&error);
    }
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 2048];
    while !bytes.contains(&b'\n') && bytes.len() < MAX_REPLY && Instant::now() < deadline {
        // Each read waits at most until the deadline.
        if let Err(error) = tls.sock.set_read_timeout(deadline) {
            return Reply::Failed(error.to_string());
        }
        match tls.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(error) if bytes.is_empty() => return handshake_failed(&error),
            Err(_) => break,
        }
    }
    if bytes.is_empty() {
        return if Instant::now() >= deadline { Reply::Silent } else { Reply::Closed };
    }
    let mut answer = judge_redis(&bytes);
    answer.summary = format!("{} (over TLS)", answer.summary);
    Reply::Service(answer)
}

/// A TLS handshake that failed: a peer that answered in plain text (a
/// plain Redis port: `-ERR`), or the I/O error.
fn handshake_failed(error: &std::io::Error) -> Reply {
    if error.kind() == std::io::ErrorKind::InvalidData {
        return Reply::Service(ServiceAnswer {
            protocol: Service::Redis.name(),
            ready: false,
            speaks: false,
            summary: format!("did not complete a TLS handshake ({error}): the port does not speak TLS (a plain port is redis://)"),
            code: None,
            message: None,
        });
    }
    io_reply(error)
}

/// Sends a one-line command (Redis's inline `PING`, memcached's `version`)
/// and judges the first line of the answer.
fn ask_line(
    stream: &mut Stream,
    deadline: Instant,
    command: &[u8],
    judge: fn(&[u8]) -> ServiceAnswer,
) -> Reply {
    if let Err(error) = stream.write_all(command) {
        return io_reply(&error);
    }
    match read_message(stream, deadline, |bytes| bytes.contains(&b'\n')) {
        Ok(bytes) => Reply::Service(judge(&bytes)),
        Err(reply) => reply,
    }
}

/// The first line of an answer, without its line ending.
fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned()
}

/// An answer of a line protocol: the line itself is the message when it
/// carries an error `code`.
fn line_answer(
    service: Service,
    line: &str,
    ready: bool,
    summary: String,
    code: Option<&str>,
) -> ServiceAnswer {
    ServiceAnswer {
        protocol: service.name(),
        ready,
        speaks: true,
        summary,
        code: code.map(str::to_string),
        message: code.map(|_| line.to_string()),
    }
}

/// Judges Redis's answer to an inline `PING`.
pub fn judge_redis(bytes: &[u8]) -> ServiceAnswer {
    let line = first_line(bytes);
    let answer = |ready: bool, summary: String, code: Option<&str>| {
        line_answer(Service::Redis, &line, ready, summary, code)
    };
    if line.starts_with("+PONG") {
        return answer(true, "Redis answered PONG".to_string(), None);
    }
    let Some(error) = line.strip_prefix('-') else {
        // `+`, `:`, `$`, `*` are RESP too, but no Redis answers PING so.
        return not_the_protocol(Service::Redis, bytes);
    };
    let prefix = error.split(' ').next().unwrap_or_default();
    match prefix {
        // A running server that wants a login, or whose ACL forbids PING.
        "NOAUTH" | "NOPERM" | "WRONGPASS" => {
            answer(true, format!("Redis is up and wants a login ({error})"), Some(prefix))
        }
        "LOADING" | "BUSY" | "MASTERDOWN" | "DENIED" | "MISCONF" => {
            answer(false, format!("Redis refuses every client now: {error}"), Some(prefix))
        }
        // `-ERR max number of clients reached`; any other error comes from
        // a running server (a renamed PING: `-ERR unknown command`).
        _ if error.contains("max number of clients") => {
            answer(false, format!("Redis refuses every client now: {error}"), Some(prefix))
        }
        _ => answer(true, format!("Redis is up ({error})"), Some(prefix)),
    }
}

/// Judges memcached's answer to `version`.
pub fn judge_memcached(bytes: &[u8]) -> ServiceAnswer {
    let line = first_line(bytes);
    let answer = |ready: bool, summary: String, code: Option<&str>| {
        line_answer(Service::Memcached, &line, ready, summary, code)
    };
    if let Some(version) = line.strip_prefix("VERSION ") {
        return answer(true, format!("memcached {version} answered version"), None);
    }
    let code = line.split(' ').next().unwrap_or_default();
    match code {
        // A full server says so and closes: memcached.c `conn_new`.
        "ERROR" if line.contains("Too many open connections") => {
            answer(false, format!("memcached refuses every client now: {line}"), Some(code))
        }
        "SERVER_ERROR" => {
            answer(false, format!("memcached refuses every client now: {line}"), Some(code))
        }
        "ERROR" | "CLIENT_ERROR" => answer(true, format!("memcached is up ({line})"), Some(code)),
        _ => not_the_protocol(Service::Memcached, bytes),
    }
}

fn mysql(stream: &mut Stream, deadline: Instant) -> Reply {
    match read_message(stream, deadline, |bytes| {
        bytes.len() >= 4 && bytes.len() >= 4 + usize::from(bytes[0]) + (usize::from(bytes[1]) << 8)
    }) {
        Ok(bytes) => Reply::Service(judge_mysql(&bytes)),
        Err(reply) => reply,
    }
}

/// Judges a MySQL/MariaDB server's first packet.
pub fn judge_mysql(bytes: &[u8]) -> ServiceAnswer {
    let protocol = Service::Mysql.name();
    let length = match bytes.get(..3) {
        Some(l) => usize::from(l[0]) | usize::from(l[1]) << 8 | usize::from(l[2]) << 16,
        None => return not_the_protocol(Service::Mysql, bytes),
    };
    let payload = bytes.get(4..).unwrap_or_default();
    let payload = &payload[..payload.len().min(length)];
    // The greeting's sequence number is 0.
    if bytes.get(3) != Some(&0) || length == 0 || length > 1 << 16 {
        return not_the_protocol(Service::Mysql, bytes);
    }
    match payload.first() {
        Some(10) => {
            let version = payload[1..].split(|&b| b == 0).next().unwrap_or_default();
            let version = String::from_utf8_lossy(version).into_owned();
            // MariaDB prefixes its version with "5.5.5-" for clients that
            // parse the major version (replication of old).
            let version = match version.strip_prefix("5.5.5-") {
                Some(own) if own.contains("MariaDB") => own.to_string(),
                _ => version,
            };
            ServiceAnswer {
                protocol,
                ready: true,
                speaks: true,
                summary: format!("MySQL/MariaDB {version} greeted the client"),
                code: None,
                message: None,
            }
        }
        Some(0xff) if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            let message = String::from_utf8_lossy(&payload[3..]).into_owned();
            ServiceAnswer {
                protocol,
                ready: false,
                speaks: true,
                summary: format!("MySQL/MariaDB refuses the client: {message} (error {code})"),
                code: Some(code.to_string()),
                message: Some(message),
            }
        }
        _ => not_the_protocol(Service::Mysql, bytes),
    }
}

/// A port that completed a TLS handshake where the plain protocol got no
/// answer: the client must speak TLS (and porthole does not, for these).
pub fn tls_only(service: Service) -> ServiceAnswer {
    let how = match service {
        Service::Postgres => {
            "PostgreSQL itself negotiates TLS after an SSLRequest on its plain port"
        }
        Service::Redis => "a client connects with rediss://",
        Service::Mysql => "MySQL/MariaDB itself negotiates TLS after its plain greeting",
        Service::Memcached => "a client connects with TLS enabled",
    };
    ServiceAnswer {
        protocol: service.name(),
        ready: false,
        speaks: false,
        summary: format!(
            "speaks TLS only: it answered a TLS ClientHello, not {} ({how})",
            service.name()
        ),
        code: None,
        message: None,
    }
}

/// A port asked for a TLS handshake that answers the plain protocol
/// instead: the client must not use TLS there.
pub fn plain_only(service: Service) -> ServiceAnswer {
    ServiceAnswer {
        protocol: service.name(),
        ready: false,
        speaks: false,
        summary: format!(
            "speaks plain {} only: it ignored a TLS ClientHello and answered without TLS (a client connects with {}://)",
            service.name(),
            service.scheme()
        ),
        code: None,
        message: None,
    }
}

/// Bytes of another protocol: something else holds the port.
fn not_the_protocol(service: Service, bytes: &[u8]) -> ServiceAnswer {
    ServiceAnswer {
        protocol: service.name(),
        ready: false,
        speaks: false,
        summary: format!("answered {:?}, which is not {}", printable(bytes), service.name()),
        code: None,
        message: None,
    }
}

/// Reads until `complete` says the first message is whole (or at most
/// [`MAX_REPLY`] bytes, or the peer closes after sending some). `Err` is the
/// reply for a peer that sent nothing: closed, reset, silent.
fn read_message<S: Timed>(
    stream: &mut S,
    deadline: Instant,
    complete: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, Reply> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 2048];
    while !complete(&bytes) && bytes.len() < MAX_REPLY {
        if Instant::now() >= deadline {
            break;
        }
        if let Err(error) = stream.until(deadline) {
            return Err(Reply::Failed(error.to_string()));
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(error) if bytes.is_empty() => return Err(io_reply(&error)),
            Err(_) => break,
        }
    }
    if bytes.is_empty() {
        // Closed before a byte, or the deadline passed in silence.
        return Err(if Instant::now() >= deadline { Reply::Silent } else { Reply::Closed });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend ErrorResponse with the fields PostgreSQL sends.
    fn error_response(code: &str, message: &str, detail: Option<&str>) -> Vec<u8> {
        let mut fields = b"SFATAL\0VFATAL\0".to_vec();
        for (tag, value) in [(b'C', Some(code)), (b'M', Some(message)), (b'D', detail)] {
            if let Some(value) = value {
                fields.push(tag);
                fields.extend_from_slice(value.as_bytes());
                fields.push(0);
            }
        }
        fields.push(0);
        let mut message = vec![b'E'];
        message.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap().to_be_bytes());
        message.extend_from_slice(&fields);
        message
    }

    #[test]
    fn postgres_is_ready_when_it_asks_for_a_login_or_refuses_only_this_one() {
        let scram = [b'R', 0, 0, 0, 23, 0, 0, 0, 10, b'S', b'C', b'R', b'A', b'M'];
        let answer = judge_postgres(&scram);
        assert!(answer.ready && answer.speaks, "{answer:?}");
        assert!(answer.summary.contains("SCRAM"), "{}", answer.summary);
        assert!(judge_postgres(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]).ready);
        let role = judge_postgres(&error_response("28000", "role \"app\" does not exist", None));
        assert!(role.ready, "{role:?}");
        assert_eq!(role.code.as_deref(), Some("28000"));
    }

    #[test]
    fn postgres_starting_up_or_full_is_not_ready() {
        let standby = error_response(
            "57P03",
            "the database system is not accepting connections",
            Some("Hot standby mode is disabled."),
        );
        let answer = judge_postgres(&standby);
        assert!(!answer.ready && answer.speaks, "{answer:?}");
        assert!(answer.summary.contains("(Hot standby mode is disabled.) (57P03)"), "{answer:?}");
        let full =
            judge_postgres(&error_response("53300", "sorry, too many clients already", None));
        assert!(!full.ready);
        assert_eq!(full.message.as_deref(), Some("sorry, too many clients already"));
    }

    #[test]
    fn another_protocol_is_named_as_such() {
        let http = judge_postgres(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(!http.ready && !http.speaks, "{http:?}");
        assert!(http.summary.contains("not PostgreSQL"), "{}", http.summary);
        assert!(!judge_redis(b"SSH-2.0-OpenSSH_9.2\r\n").speaks);
        assert!(!judge_mysql(b"+PONG\r\n").speaks);
        assert!(!judge_mysql(b"").speaks);
    }

    #[test]
    fn redis_answers() {
        assert!(judge_redis(b"+PONG\r\n").ready);
        let auth = judge_redis(b"-NOAUTH Authentication required.\r\n");
        assert!(auth.ready && auth.speaks);
        let loading = judge_redis(b"-LOADING Redis is loading the dataset in memory\r\n");
        assert!(!loading.ready && loading.speaks);
        assert_eq!(loading.code.as_deref(), Some("LOADING"));
        assert!(!judge_redis(b"-ERR max number of clients reached\r\n").ready);
        assert!(judge_redis(b"-ERR unknown command 'PING', with args beginning with: \r\n").ready);
    }

    #[test]
    fn memcached_answers() {
        let up = judge_memcached(b"VERSION 1.6.18\r\n");
        assert!(up.ready && up.speaks && up.summary.contains("1.6.18"), "{up:?}");
        let full = judge_memcached(b"ERROR Too many open connections\r\n");
        assert!(!full.ready && full.speaks, "{full:?}");
        assert!(!judge_memcached(b"SERVER_ERROR out of memory\r\n").ready);
        assert!(judge_memcached(b"CLIENT_ERROR unauthenticated\r\n").ready);
        assert!(!judge_memcached(b"+PONG\r\n").speaks);
    }

    #[test]
    fn mysql_greeting_and_error_packet() {
        let mut greeting = vec![0, 0, 0, 0, 10];
        greeting.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0rest");
        let length = greeting.len() - 4;
        greeting[0] = u8::try_from(length).unwrap();
        let answer = judge_mysql(&greeting);
        assert!(answer.ready, "{answer:?}");
        assert!(answer.summary.contains("MySQL/MariaDB 10.11.6-MariaDB"), "{}", answer.summary);
        let mut error = vec![0, 0, 0, 0, 0xff, 0x10, 0x04];
        error.extend_from_slice(b"Too many connections");
        error[0] = u8::try_from(error.len() - 4).unwrap();
        let answer = judge_mysql(&error);
        assert!(!answer.ready && answer.speaks);
        assert_eq!(answer.code.as_deref(), Some("1040"));
        assert_eq!(answer.message.as_deref(), Some("Too many connections"));
    }
}
