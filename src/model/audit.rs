//! What `porthole audit` found: findings with their rule, severity,
//! evidence and fix, what each probed service turned out to be, and the
//! firewall's input policy. Produced by `crate::audit`, printed by
//! `crate::render`.

use std::fmt;

use super::Protocol;

/// How bad an audit finding is, lowest first so `Ord` compares naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Highest first, the order reports list them in.
    pub const DESCENDING: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses `critical|high|medium|low|info`, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Severity::DESCENDING.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// One level up (critical stays critical).
    pub fn raised(self) -> Self {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }

    /// One level down (info stays info).
    pub fn lowered(self) -> Self {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium => Severity::Low,
            Severity::Low | Severity::Info => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stable identifiers of the audit rules. The ids are part of the interface
/// (`--skip`, JSON, SARIF `ruleId`): never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    ExposedService,
    NoAuth,
    DnsRebinding,
    WebsocketOrigin,
    CorsAnyOrigin,
    DebuggerExposed,
    DockerApi,
    WorldWritableSocket,
    TrustAuth,
    EmptyPassword,
    OutdatedBinary,
    OutdatedLibrary,
    RootService,
    WeakPassword,
    OutdatedPackage,
    CleartextPassword,
    FileServer,
}

impl RuleId {
    pub const ALL: [RuleId; 17] = [
        RuleId::ExposedService,
        RuleId::NoAuth,
        RuleId::DnsRebinding,
        RuleId::WebsocketOrigin,
        RuleId::CorsAnyOrigin,
        RuleId::DebuggerExposed,
        RuleId::DockerApi,
        RuleId::WorldWritableSocket,
        RuleId::TrustAuth,
        RuleId::EmptyPassword,
        RuleId::OutdatedBinary,
        RuleId::OutdatedLibrary,
        RuleId::RootService,
        RuleId::WeakPassword,
        RuleId::OutdatedPackage,
        RuleId::CleartextPassword,
        RuleId::FileServer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ExposedService => "exposed-service",
            RuleId::NoAuth => "no-auth",
            RuleId::DnsRebinding => "dns-rebinding",
            RuleId::WebsocketOrigin => "websocket-origin",
            RuleId::CorsAnyOrigin => "cors-any-origin",
            RuleId::DebuggerExposed => "debugger-exposed",
            RuleId::DockerApi => "docker-api",
            RuleId::WorldWritableSocket => "world-writable-socket",
            RuleId::TrustAuth => "trust-auth",
            RuleId::EmptyPassword => "empty-password",
            RuleId::OutdatedBinary => "outdated-binary",
            RuleId::OutdatedLibrary => "outdated-library",
            RuleId::RootService => "root-service",
            RuleId::WeakPassword => "weak-password",
            RuleId::OutdatedPackage => "outdated-package",
            RuleId::CleartextPassword => "cleartext-password",
            RuleId::FileServer => "file-server",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == text.trim())
    }

    /// One sentence: what the rule detects (SARIF `shortDescription`).
    pub fn summary(self) -> &'static str {
        match self {
            RuleId::ExposedService => "A service is reachable from other devices (wildcard or non-loopback bind).",
            RuleId::NoAuth => "A service answers data requests without any credentials.",
            RuleId::DnsRebinding => "An HTTP service on loopback answers any Host header, so a web page can read it through DNS rebinding.",
            RuleId::WebsocketOrigin => "A WebSocket endpoint accepts a handshake from a foreign Origin (cross-site WebSocket hijacking).",
            RuleId::CorsAnyOrigin => "An HTTP service allows every origin to read its responses (CORS `*` or a reflected Origin).",
            RuleId::DebuggerExposed => "A debugger port (Node inspector, Chrome DevTools, JDWP) is open: connecting means running code in the process.",
            RuleId::DockerApi => "The Docker Engine API is reachable without TLS client certificates: access equals root on the host.",
            RuleId::WorldWritableSocket => "A root-equivalent API socket (docker.sock, containerd, podman) is writable by every local user.",
            RuleId::TrustAuth => "PostgreSQL accepted a login as `postgres` without a password (trust authentication).",
            RuleId::EmptyPassword => "MySQL/MariaDB accepted `root` with an empty password.",
            RuleId::OutdatedBinary => "The process serving the port runs an executable that was deleted or replaced on disk.",
            RuleId::OutdatedLibrary => "The process serving the port has a deleted or replaced shared library mapped.",
            RuleId::RootService => "An exposed service runs as root, which raises the impact of any other finding.",
            RuleId::WeakPassword => "A service accepted a default or common password from porthole's list (or the site's --passwords list).",
            RuleId::OutdatedPackage => "The package of the process serving the port (or of a library it maps) has an update in the local package lists (apt) or metadata cache (dnf) that is not installed.",
            RuleId::CleartextPassword => "PostgreSQL's pg_hba.conf asks clients for their password in clear text (`password`) over TCP connections that need not be encrypted.",
            RuleId::FileServer => "An HTTP file server lists a directory at `/` or hands out secret files (`~/.ssh/id_*`, `.git/config`, `.env`) to whoever reaches its port.",
        }
    }

    /// The general remedy (each finding carries a concrete one).
    pub fn help(self) -> &'static str {
        match self {
            RuleId::ExposedService => "Bind to 127.0.0.1 (or ::1) unless other devices need the service, or restrict it with a firewall input rule.",
            RuleId::NoAuth => "Enable authentication (a password, token or ACL) and bind to loopback.",
            RuleId::DnsRebinding => "Allow-list the Host header (localhost, 127.0.0.1, [::1], configured names), require a token, or serve HTTPS.",
            RuleId::WebsocketOrigin => "Check the Origin header of WebSocket handshakes against an allow-list.",
            RuleId::CorsAnyOrigin => "Send Access-Control-Allow-Origin only for the origins that need it; never reflect arbitrary origins.",
            RuleId::DebuggerExposed => "Run debuggers only while debugging, bound to 127.0.0.1; never --inspect=0.0.0.0.",
            RuleId::DockerApi => "Remove -H tcp://… from dockerd, or use --tlsverify with client certificates on 2376.",
            RuleId::WorldWritableSocket => "chmod 660 the socket and keep its group to trusted users.",
            RuleId::TrustAuth => "Replace `trust` with `scram-sha-256` in pg_hba.conf and reload.",
            RuleId::EmptyPassword => "Set a password for root (ALTER USER) or use unix_socket authentication.",
            RuleId::OutdatedBinary => "Restart the service so it runs the updated executable.",
            RuleId::OutdatedLibrary => "Restart the service so it loads the updated libraries.",
            RuleId::RootService => "Run the service as an unprivileged user, or drop privileges after binding.",
            RuleId::WeakPassword => "Set a long random password for the account (the finding names the command) and update the clients that use it.",
            RuleId::OutdatedPackage => "Install the update with the package manager (apt-get install --only-upgrade PACKAGE, or dnf upgrade PACKAGE), then restart the service.",
            RuleId::CleartextPassword => "Replace `password` with `scram-sha-256` in pg_hba.conf and reload; roles whose password is stored as md5 must set it again.",
            RuleId::FileServer => "Stop the server when done, bind it to 127.0.0.1, turn its directory listing off, and serve only a directory that holds nothing secret.",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem `porthole audit` found on a listener (or a Unix socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// 0 for Unix sockets.
    pub port: u16,
    /// Bound address (`0.0.0.0`, `::1`…) or the Unix socket path.
    pub address: String,
    pub protocol: Protocol,
    /// Service as identified (`redis 7.0.15`, `http (nginx/1.22.1)`).
    pub service: Option<String>,
    pub pid: Option<u32>,
    pub process: Option<String>,
    /// systemd unit of the process, for restart hints.
    pub unit: Option<String>,
    pub net_namespace: Option<u64>,
    /// What was sent and what came back (abbreviated), or what was read.
    pub evidence: String,
    /// A concrete remedy: a config line, a flag, a command.
    pub fix: String,
}

/// What probing one listener found out about the service behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdentity {
    pub port: u16,
    pub address: String,
    pub protocol: Protocol,
    pub net_namespace: Option<u64>,
    /// Service name (`redis`, `postgresql`, `http`…), `None` when unknown.
    pub service: Option<String>,
    pub version: Option<String>,
    /// The service answered inside TLS.
    pub tls: bool,
    /// The probes run, in order (`passive`, `redis PING`, `http GET /`…).
    pub probes: Vec<String>,
    /// Why probing stopped early (timeout, refused, skipped printer port).
    pub note: Option<String>,
    pub pids: Vec<u32>,
}

/// The input-chain view of the host firewall, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallSummary {
    /// `nftables` or `iptables`; `None` when neither could be read.
    pub source: Option<String>,
    /// Policy of the input hook (`accept`, `drop`), when one exists.
    pub input_policy: Option<String>,
    /// Why the ruleset could not be read (not root, tool missing).
    pub note: Option<String>,
    /// The IPv6 input chain in words (`ip6tables input policy accept`),
    /// when IPv6 clients reach some listeners and it differs from the one
    /// above (which is then the IPv4 chain).
    pub ipv6: Option<String>,
}

/// The login attempts `weak-password` made against one service: every
/// attempt is counted, the password that worked is kept only with `--show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginReport {
    pub port: u16,
    pub address: String,
    pub net_namespace: Option<u64>,
    /// `redis`, `postgresql`, `mariadb`…
    pub service: String,
    /// Attempts per account, in the order tried: (user, attempts).
    pub accounts: Vec<(String, usize)>,
    /// Every attempt made.
    pub attempts: usize,
    /// The account that got in, if one did.
    pub accepted: Option<String>,
    /// The password that worked: only with `--show`.
    pub password: Option<String>,
    /// The password that worked came from `--passwords FILE`.
    pub from_site_list: bool,
    /// Why the attempts stopped before success or the end of the list
    /// (a lockout or rate-limit sign, an unsupported method).
    pub stopped: Option<String>,
    /// Candidates the per-service cap left out.
    pub left_out: usize,
    /// The accounts whose candidates were not tried because the attempts
    /// stopped early: (user, candidates left).
    pub not_tried: Vec<(String, usize)>,
    /// The command that unblocks this machine's address, when the server
    /// blocked it mid-way (MySQL/MariaDB ERR 1129).
    pub unblock: Option<String>,
}

/// How `outdated-package` saw the package manager's data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageListsSummary {
    /// The check ran (dpkg and apt answered).
    pub checked: bool,
    /// Where apt keeps its lists.
    pub directory: Option<String>,
    /// Age of the newest list; `None` when there are no lists.
    pub age_seconds: Option<u64>,
    /// Where dnf keeps its metadata cache, when rpm owns a checked file.
    pub dnf_cache_directory: Option<String>,
    /// When dnf last refreshed its metadata; `None` without a cache.
    pub dnf_cache_age_seconds: Option<u64>,
    /// Why the check did not run, or that the lists are stale or absent.
    pub note: Option<String>,
}

/// Everything one `porthole audit` run found.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Sorted: severity (highest first), then port, then rule.
    pub findings: Vec<Finding>,
    pub services: Vec<ServiceIdentity>,
    /// Listeners looked at (every protocol and family).
    pub listeners: usize,
    /// TCP listeners that were probed over the network.
    pub probed: usize,
    pub firewall: FirewallSummary,
    /// Owner processes whose exe or maps could not be read (not root).
    pub uninspected_processes: usize,
    /// Listeners whose owning process could not be seen (not root).
    pub hidden_owners: usize,
    pub elapsed_ms: u64,
    /// Login attempts of `weak-password` (`--active` only), per service.
    pub logins: Vec<LoginReport>,
    /// The package lists `outdated-package` compared against.
    pub packages: PackageListsSummary,
    /// Settings files the rules needed and could not read, one phrase each
    /// (`the pg_hba.conf of the PostgreSQL on port 5432 (… could not be
    /// read)`): what the audit did not see.
    pub unread: Vec<String>,
}

impl AuditReport {
    /// The highest severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Number of findings of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }
}
