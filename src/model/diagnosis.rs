//! What a diagnosis found: the outcome of every probe, the causes with
//! their evidence and fixes, and the listeners involved. Produced by
//! `crate::diagnose` (for `check` and `wait`), printed by `crate::render`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::Duration;

use super::{Process, Socket};

/// What a connect attempt ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `ECONNREFUSED`: nothing listens there (for a Unix path: the file is
    /// a socket nobody listens on any more).
    Refused,
    /// `ENOENT` connecting to a Unix path: there is no file at the path.
    NoSocketFile,
    /// No answer to the SYN within the timeout (dropped).
    Timeout,
    /// The handshake completed with a real peer.
    Connected,
    /// `ECONNRESET` during the handshake.
    Reset,
    /// `EHOSTUNREACH`, `ENETUNREACH`, `EADDRNOTAVAIL`: no path to the address.
    Unreachable,
    /// `EACCES`/`EPERM`: a security policy refused the connect.
    Denied,
    /// The socket connected to itself: nothing listens.
    SelfConnect,
}

impl Outcome {
    /// The name used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Refused => "refused",
            Outcome::NoSocketFile => "no-socket-file",
            Outcome::Timeout => "timeout",
            Outcome::Connected => "connected",
            Outcome::Reset => "reset",
            Outcome::Unreachable => "unreachable",
            Outcome::Denied => "denied",
            Outcome::SelfConnect => "self-connect",
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAddress {
    Ip(SocketAddr),
    /// A scoped IPv6 address (link-local `fe80::/10`) with the zone the
    /// user named: printed `[fe80::1%eth0]:80`, as typed, where the socket
    /// address alone would print the interface index (`%2`), which means
    /// nothing to a reader and changes when the interface is re-created.
    Scoped {
        /// The address with its scope id (the zone's interface index).
        address: SocketAddrV6,
        /// The interface name (the zone as the target names it).
        zone: String,
    },
    Unix(PathBuf),
}

impl ProbeAddress {
    /// The socket address connected to (with its scope id), `None` for a
    /// Unix path.
    pub fn socket_address(&self) -> Option<SocketAddr> {
        match self {
            ProbeAddress::Ip(address) => Some(*address),
            ProbeAddress::Scoped { address, .. } => Some(SocketAddr::V6(*address)),
            ProbeAddress::Unix(_) => None,
        }
    }

    /// The zone's interface name of a scoped address.
    pub fn zone(&self) -> Option<&str> {
        match self {
            ProbeAddress::Scoped { zone, .. } => Some(zone),
            _ => None,
        }
    }

    /// `address` as this probe's zone names it: an address with the
    /// probe's scope id is printed with the zone's name (the local end of
    /// a link-local connection is on the same interface).
    pub fn name_zone(&self, address: SocketAddr) -> String {
        match (self, address) {
            (ProbeAddress::Scoped { address: probed, zone }, SocketAddr::V6(v6))
                if v6.scope_id() != 0 && v6.scope_id() == probed.scope_id() =>
            {
                format!("[{}%{zone}]:{}", v6.ip(), v6.port())
            }
            _ => address.to_string(),
        }
    }
}

impl std::fmt::Display for ProbeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeAddress::Ip(address) => write!(f, "{address}"),
            ProbeAddress::Scoped { address, zone } => {
                write!(f, "[{}%{zone}]:{}", address.ip(), address.port())
            }
            ProbeAddress::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What the application said after the connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP response (over TLS when the probe used TLS).
    Http(HttpResponse),
    /// A TLS record (handshake or alert): the port speaks TLS.
    Tls,
    /// An `HTTP/1.x` answer to a TLS ClientHello: the port speaks plain HTTP.
    PlainHttp,
    /// An HTTP/2 SETTINGS frame in reply to an HTTP/1.1 request: the port
    /// speaks HTTP/2 with prior knowledge only (h2c, gRPC without TLS).
    Http2,
    /// Bytes that are neither HTTP nor TLS (a banner, an error line).
    Other(String),
    /// The peer closed without sending anything.
    Closed,
    /// The peer reset the connection.
    Reset,
    /// Nothing arrived before the deadline.
    Silent,
    /// The kernel completed the handshake and queued the connection, but
    /// no process took it off the accept queue within `waited_ms` (a
    /// listener that never accepts, or whose process is stopped).
    /// `half_open`: the server's end never got past SYN-RECV (the
    /// client's ACK did not reach it, or a `TCP_DEFER_ACCEPT` listener
    /// holds it for data), so it was never in the accept queue.
    Unaccepted { waited_ms: u64, half_open: bool },
    /// The probe itself failed (a local error).
    Failed(String),
    /// What a database or cache said to the first words of its own
    /// protocol (a `postgres://`, `redis://` or `mysql://` target).
    Service(ServiceAnswer),
}

/// A service's answer to its own protocol's first exchange, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAnswer {
    /// The protocol as its users name it: `PostgreSQL`, `Redis`, `MySQL/MariaDB`.
    pub protocol: &'static str,
    /// The service takes clients now (it may still ask them for a password).
    pub ready: bool,
    /// The service spoke its protocol; `false` for bytes of another one
    /// (the port belongs to something else).
    pub speaks: bool,
    /// What it said, in words, for evidence lines (other users' text:
    /// escaped by the renderers).
    pub summary: String,
    /// The service's own error code (SQLSTATE, MySQL errno, Redis error
    /// prefix) when it refused.
    pub code: Option<String>,
    /// The service's own message when it refused, for [`crate::diagnose`]'s
    /// known refusals (connection limits).
    pub message: Option<String>,
}

impl Reply {
    /// A short description for evidence lines.
    pub fn describe(&self) -> String {
        match self {
            Reply::Http(response) => {
                let tls = if response.tls { " (over TLS)" } else { "" };
                format!("HTTP {} {}{tls}", response.status, response.reason).trim_end().to_string()
            }
            Reply::Tls => "answered with a TLS record: the port speaks TLS".to_string(),
            Reply::PlainHttp => "answered a TLS ClientHello with plain HTTP".to_string(),
            Reply::Http2 => {
                "answered with an HTTP/2 SETTINGS frame: the port speaks HTTP/2 only".to_string()
            }
            Reply::Other(text) => format!("answered {text:?}"),
            Reply::Closed => "closed the connection without answering".to_string(),
            Reply::Reset => "reset the connection".to_string(),
            Reply::Silent => "no answer before the timeout".to_string(),
            Reply::Unaccepted { waited_ms, half_open: false } => {
                format!("queued by the kernel; no process accepted it within {waited_ms} ms")
            }
            Reply::Unaccepted { waited_ms, half_open: true } => format!(
                "half-open: the server's end stayed in SYN-RECV for {waited_ms} ms, never reaching the accept queue"
            ),
            Reply::Failed(error) => format!("probe failed: {error}"),
            Reply::Service(answer) => answer.summary.clone(),
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    /// The body (dechunked, lossy UTF-8, at most `crate::diagnose::probe::MAX_RESPONSE` bytes).
    pub body: String,
    pub tls: bool,
    /// The `Location` header of a redirect, as the server sent it (its
    /// text, to be sanitised on output): `wait` does not follow redirects,
    /// and says where one led.
    pub location: Option<String>,
    /// Over TLS: why a client that verifies certificates against this
    /// machine's trusted authorities would refuse the server's; `None` when
    /// it would accept it, or when it was not checked. Boxed: rare, and
    /// large next to the rest of a reply.
    pub certificate: Option<Box<CertificateProblem>>,
}

/// Why a verifying client (curl, a browser, a language's HTTP library with
/// its defaults) refuses a server certificate that the probe accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Issued by an authority this machine does not trust: self-signed, or
    /// a private CA not installed here.
    UnknownIssuer,
    /// Past its end of validity (`not_after`, seconds since the epoch, when
    /// known).
    Expired { not_after: Option<u64> },
    /// Not valid yet (`not_before`, when known).
    NotYetValid { not_before: Option<u64> },
    /// Made for other names than the one the client asked for.
    WrongName { expected: String, presented: Vec<String> },
    /// Anything else the verifier refused, in its words.
    Other(String),
}

/// What a trial bind ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    Bound,
    /// `EADDRINUSE`.
    InUse,
    /// `EACCES`/`EPERM`.
    Denied,
    /// `EADDRNOTAVAIL`: the address is not on any interface here.
    Unavailable,
    Failed,
}

impl BindOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            BindOutcome::Bound => "bound",
            BindOutcome::InUse => "in-use",
            BindOutcome::Denied => "denied",
            BindOutcome::Unavailable => "unavailable",
            BindOutcome::Failed => "failed",
        }
    }
}

/// How bad a cause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The target is not usable as asked.
    Error,
    /// It works, but some clients or restarts will fail.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Every cause `check` can name. The ids are part of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CauseId {
    NothingListening,
    FamilyMismatch,
    BoundElsewhere,
    OtherNamespace,
    FirewallDrop,
    FirewallReject,
    /// A nat `redirect`/`dnat` rule sends the connection to another
    /// address or port.
    FirewallRedirect,
    AcceptQueueFull,
    ProcessStopped,
    NotResponding,
    TlsMismatch,
    ProxyEnv,
    LocalhostResolution,
    /// A host name other than `localhost` that no source nsswitch.conf
    /// asks knows (a typo, a container's name used outside its network,
    /// a reserved `.invalid` name).
    NameResolution,
    Ipv6Disabled,
    SelfConnect,
    SplitListeners,
    UnixSocketOnly,
    PortInUse,
    PrivilegedPort,
    EphemeralPort,
    SandboxDenied,
    /// `--from PID`: the client has no file descriptor left for a socket.
    ClientFdLimit,
    /// `lo` is down, or the loopback address or its `local` route is gone.
    LoopbackDown,
    /// A queueing discipline added to `lo` (netem, tbf, htb…) delays or
    /// drops loopback packets: the listener is not to blame.
    LoopbackQdisc,
    /// Every source port of `ip_local_port_range` already connects to the
    /// target (`EADDRNOTAVAIL` on connect).
    SourcePortsExhausted,
    /// A Unix socket's file mode (or a directory above it) keeps the client
    /// out (`EACCES`).
    SocketPermission,
    /// A Unix listener's socket file was deleted or re-used after it bound:
    /// it still carries the path, but clients of the path do not reach it.
    SocketFileReplaced,
    /// The service accepted the connection and answered with a refusal: a
    /// connection limit reached, or a client host it does not let in.
    ServiceRefused,
    /// A `postgres://`, `redis://` or `mysql://` target accepts connections
    /// but its protocol says it takes no clients yet (starting up, loading
    /// its data, a standby without hot standby), or the port speaks another
    /// protocol.
    ServiceNotReady,
    /// An HTTP target answered with a status outside the accepted ones
    /// (`--status`, 200-399 by default): the connection works, the request
    /// does not.
    HttpError,
    /// An HTTPS target answers, but its certificate would be refused by a
    /// client that verifies it (self-signed, expired, made for other names).
    TlsCertificate,
    /// A Unix target's path is longer than `sockaddr_un` holds: clients
    /// that connect by it fail before reaching any socket.
    SocketPathTooLong,
    /// A link-local IPv6 target (`fe80::/10`) the kernel cannot reach as
    /// written: no zone, a zone whose interface does not hold it or has no
    /// link-local address, or no host on the zone's link answers for it.
    LinkLocal,
    /// An HTTP target's redirects lead back to a URL already asked, or
    /// on for more hops than a client follows.
    RedirectLoop,
    /// The evidence explains nothing; the attempts are shown as they are.
    Unexplained,
}

impl CauseId {
    pub const ALL: [CauseId; 36] = [
        CauseId::NothingListening,
        CauseId::FamilyMismatch,
        CauseId::BoundElsewhere,
        CauseId::OtherNamespace,
        CauseId::FirewallDrop,
        CauseId::FirewallReject,
        CauseId::FirewallRedirect,
        CauseId::AcceptQueueFull,
        CauseId::ProcessStopped,
        CauseId::NotResponding,
        CauseId::TlsMismatch,
        CauseId::ProxyEnv,
        CauseId::LocalhostResolution,
        CauseId::NameResolution,
        CauseId::Ipv6Disabled,
        CauseId::SelfConnect,
        CauseId::SplitListeners,
        CauseId::UnixSocketOnly,
        CauseId::PortInUse,
        CauseId::PrivilegedPort,
        CauseId::EphemeralPort,
        CauseId::SandboxDenied,
        CauseId::ClientFdLimit,
        CauseId::LoopbackDown,
        CauseId::LoopbackQdisc,
        CauseId::SourcePortsExhausted,
        CauseId::SocketPermission,
        CauseId::SocketFileReplaced,
        CauseId::ServiceRefused,
        CauseId::ServiceNotReady,
        CauseId::HttpError,
        CauseId::TlsCertificate,
        CauseId::SocketPathTooLong,
        CauseId::LinkLocal,
        CauseId::RedirectLoop,
        CauseId::Unexplained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CauseId::NothingListening => "nothing-listening",
            CauseId::FamilyMismatch => "family-mismatch",
            CauseId::BoundElsewhere => "bound-elsewhere",
            CauseId::OtherNamespace => "other-namespace",
            CauseId::FirewallDrop => "firewall-drop",
            CauseId::FirewallReject => "firewall-reject",
            CauseId::FirewallRedirect => "firewall-redirect",
            CauseId::AcceptQueueFull => "accept-queue-full",
            CauseId::ProcessStopped => "process-stopped",
            CauseId::NotResponding => "not-responding",
            CauseId::TlsMismatch => "tls-mismatch",
            CauseId::ProxyEnv => "proxy-env",
            CauseId::LocalhostResolution => "localhost-resolution",
            CauseId::NameResolution => "name-resolution",
            CauseId::Ipv6Disabled => "ipv6-disabled",
            CauseId::SelfConnect => "self-connect",
            CauseId::SplitListeners => "split-listeners",
            CauseId::UnixSocketOnly => "unix-socket-only",
            CauseId::PortInUse => "port-in-use",
            CauseId::PrivilegedPort => "privileged-port",
            CauseId::EphemeralPort => "ephemeral-port",
            CauseId::SandboxDenied => "sandbox-denied",
            CauseId::ClientFdLimit => "client-fd-limit",
            CauseId::LoopbackDown => "loopback-down",
            CauseId::LoopbackQdisc => "loopback-qdisc",
            CauseId::SourcePortsExhausted => "source-ports-exhausted",
            CauseId::SocketPermission => "socket-permission",
            CauseId::SocketFileReplaced => "socket-file-replaced",
            CauseId::ServiceRefused => "service-refused",
            CauseId::ServiceNotReady => "service-not-ready",
            CauseId::HttpError => "http-error",
            CauseId::TlsCertificate => "tls-certificate",
            CauseId::SocketPathTooLong => "socket-path-too-long",
            CauseId::LinkLocal => "link-local",
            CauseId::RedirectLoop => "redirect-loop",
            CauseId::Unexplained => "unexplained",
        }
    }
}

/// One explanation, with what proves it and what to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub id: CauseId,
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// Facts that show it (listeners, rules, settings, attempts).
    pub evidence: Vec<String>,
    /// Commands or changes that fix it, best first.
    pub fix: Vec<Fix>,
}

/// One step of a fix. A command is printed after `$ ` and must run as
/// printed on the machine that printed it (real pids, existing tables and
/// chains, the user's actual settings); anything that needs the user's own
/// judgement or a file edit is a step in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// A shell command line, optionally ending in a `# comment`.
    Command(String),
    /// An instruction in words (edit a file, restart a service…).
    Step(String),
}

impl Fix {
    pub fn command(text: impl Into<String>) -> Self {
        Fix::Command(text.into())
    }

    pub fn step(text: impl Into<String>) -> Self {
        Fix::Step(text.into())
    }

    /// The line as printed (without the `$ ` of a command).
    pub fn text(&self) -> &str {
        match self {
            Fix::Command(text) | Fix::Step(text) => text,
        }
    }

    pub fn is_command(&self) -> bool {
        matches!(self, Fix::Command(_))
    }
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// What one attempt was: a connect to the target or a trial bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    Connect(Outcome),
    Bind(BindOutcome),
}

impl AttemptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Connect(outcome) => outcome.as_str(),
            AttemptKind::Bind(outcome) => outcome.as_str(),
        }
    }
}

/// One probe of one address.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub address: ProbeAddress,
    pub kind: AttemptKind,
    pub elapsed: Duration,
    /// What the kernel and the application said, in words.
    pub detail: String,
    /// The application's answer, when connected.
    pub reply: Option<Reply>,
    /// Whether this address works for the target (connected and answered
    /// as the target's protocol expects).
    pub healthy: bool,
}

impl Attempt {
    pub fn outcome(&self) -> Option<Outcome> {
        match self.kind {
            AttemptKind::Connect(outcome) => Some(outcome),
            AttemptKind::Bind(_) => None,
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.address.socket_address().map(|address| address.ip())
    }

    /// The address the connection went to: [`crate::model::connect_destination`]
    /// of [`Attempt::ip`] (`0.0.0.0` reaches 127.0.0.1, `::ffff:127.0.0.1`
    /// leaves as IPv4). Listeners, rules and routes are matched against it.
    pub fn destination(&self) -> Option<IpAddr> {
        self.ip().map(crate::model::connect_destination)
    }
}

/// The result of a diagnosis.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The target as given (or the bind address).
    pub target: String,
    pub ok: bool,
    pub attempts: Vec<Attempt>,
    /// Listeners on the port (every address, family and, when swept, every
    /// namespace), or the Unix listeners that matter.
    pub listeners: Vec<Socket>,
    pub processes: BTreeMap<u32, Process>,
    /// Names of the listeners' uids, so a listener whose owner is hidden
    /// still shows its user by name, as `ls` does.
    pub user_names: BTreeMap<u32, String>,
    /// Most important first: errors, then warnings.
    pub causes: Vec<Cause>,
    /// The redirects of an HTTP target, in the order they were answered:
    /// the ones followed, then the one that ended the chain, if any.
    pub redirects: Vec<Redirect>,
}

/// One redirect an HTTP target (or a URL it redirected to) answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The URL asked.
    pub from: String,
    /// The redirect's status (301, 302, 303, 307, 308…).
    pub status: u16,
    /// The `Location` header as the server sent it (server text: escaped
    /// by the renderers).
    pub location: String,
    /// `location` resolved against `from`; `None` when it is not an
    /// `http://` or `https://` URL.
    pub to: Option<String>,
    /// Why the redirect was not followed; `None` when it was.
    pub not_followed: Option<String>,
}

impl Redirect {
    /// One line of evidence: `http://… answered 302, Location: /next →
    /// http://…/next`, and why it was not followed.
    pub fn line(&self) -> String {
        if self.location.is_empty() {
            return format!(
                "{} answered {} without a readable Location header",
                self.from, self.status
            );
        }
        // The URL it resolves to, when that is not what the server wrote.
        let to = match self.to.as_deref() {
            Some(to) if to != self.location => format!(" -> {to}"),
            _ => String::new(),
        };
        let line =
            format!("{} answered {}, Location: {}{to}", self.from, self.status, self.location);
        match &self.not_followed {
            Some(why) => format!("{line} (not followed: {why})"),
            None => line,
        }
    }
}

impl Diagnosis {
    /// The cause that decides the verdict.
    pub fn top_cause(&self) -> Option<&Cause> {
        self.causes.first()
    }

    /// Adds the listeners of another look at the port (a bind, another host
    /// of the same target), each once.
    pub fn add_listeners(&mut self, sockets: impl IntoIterator<Item = Socket>) {
        for socket in sockets {
            if !self.listeners.contains(&socket) {
                self.listeners.push(socket);
            }
        }
    }
}
/// `[::1]:8080 refused, 127.0.0.1:8080 connected; HTTP 503`.
pub fn attempts_summary(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| {
            // A bare TCP target is ready once it accepts: nothing is sent,
            // so its silence is expected and not worth a word ("connected
            // (no answer)" read as a contradiction). Silence is news only
            // where an answer was due (HTTP).
            let reply = a
                .reply
                .as_ref()
                .filter(|r| !(a.healthy && matches!(r, Reply::Silent)))
                .map(|r| format!(" ({})", r.describe()))
                .filter(|_| a.outcome() == Some(Outcome::Connected))
                .unwrap_or_default();
            if a.outcome() == Some(Outcome::NoSocketFile) {
                return format!("{} does not exist", a.address);
            }
            format!("{} {}{reply}", a.address, a.kind.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
