//! clap definitions of every command and flag. Doc comments here are the
//! `--help` text; validation and defaults happen in `settings`.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Who holds a local port, why a local connection fails, and which local
/// services put the machine at risk.
#[derive(Debug, Parser)]
#[command(
    name = "porthole",
    version,
    about,
    after_help = "Examples:\n  porthole ls                 every listener with its processes\n  porthole ls -a --json       every socket, as JSON\n  porthole 5432               who holds port 5432, its clients, what the number means\n  porthole 127.0.0.1:62893    the same for one address\n\nExit status: 0 yes/found, 1 no/not found, 2 error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// One variant per verb; `porthole PORT` is rewritten to `porthole who PORT`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List listening sockets (or every socket with -a) with their processes.
    #[command(
        visible_alias = "list",
        after_help = "Examples:\n  porthole ls                       listeners (TCP, UDP, Unix) with owners\n  porthole ls -a --tcp              every TCP socket\n  porthole ls --port 3000-3999 -4   IPv4 listeners on ports 3000-3999\n  porthole ls --scope exposed       what another device could reach\n  porthole ls --netns all           every network namespace on the machine\n  porthole ls -a --jsonl | jq .     one JSON object per socket\n\nPORTHOLE_BACKEND=procfs forces the /proc/net reader instead of netlink."
    )]
    Ls(LsArgs),
    /// Everything about one port or endpoint: who holds it, its clients,
    /// what the number means.
    #[command(
        after_help = "Examples:\n  porthole 5432\n  porthole who 127.0.0.1:62893\n  porthole '[::1]:8080' --json\n\nExit status: 0 when something holds the port, 1 when nothing does, 2 on error."
    )]
    Who(WhoArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  porthole completions bash > /etc/bash_completion.d/porthole\n  porthole completions zsh > \"${fpath[1]}/_porthole\"\n  porthole completions fish > ~/.config/fish/completions/porthole.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout.
    #[command(after_help = "Example:\n  porthole man | man -l -")]
    Man,
    /// Find risky local services: exposed listeners, services without
    /// authentication, DNS-rebindable HTTP, open debuggers, outdated code.
    #[command(
        after_help = "Examples:\n  porthole audit                     every listener, findings by severity\n  porthole audit --port 6379,8000    only these ports\n  porthole audit --active            also try logins servers log (PostgreSQL trust, MySQL empty root password)\n  porthole audit --sarif > a.sarif   SARIF 2.1.0 for code-scanning tools\n  porthole audit --fail-on medium    exit 1 on any finding of medium or worse\n\nProbes are read-only and bounded: a passive read, then one safe request chosen from the\nprocess and port. Redis never gets HTTP; printer ports (515, 631, 9100) are never touched.\n\nRules: exposed-service no-auth dns-rebinding websocket-origin cors-any-origin\n  debugger-exposed docker-api world-writable-socket trust-auth empty-password\n  outdated-binary outdated-library root-service\n\nExit status: 0 when no finding reaches --fail-on (default: high), 1 when one does, 2 on error."
    )]
    Audit(AuditArgs),
}

/// Output format shared by listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// 127.0.0.0/8 and ::1 only.
    Loopback,
    /// Reachable from another device (wildcard or a non-loopback address).
    Exposed,
    /// Bound to 0.0.0.0 or ::.
    Wildcard,
    /// Bound to one non-loopback address.
    Specific,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetnsArg {
    /// Only the namespace porthole runs in.
    Current,
    /// Every network namespace on the machine.
    All,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Every socket (established, TIME-WAIT, …), not only listeners.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// TCP sockets (combinable with --udp and --unix; none means all three).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Unix-domain sockets.
    #[arg(short = 'x', long)]
    pub unix: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Ports or ranges, e.g. 80,443,8000-8100.
    #[arg(short = 'p', long, value_name = "LIST")]
    pub port: Option<String>,
    /// Sockets of this process id.
    #[arg(long, value_name = "PID")]
    pub pid: Option<String>,
    /// Sockets of processes whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,
    /// Bind scope to keep.
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Socket state, as ss spells it (LISTEN, ESTAB, TIME-WAIT, UNCONN…).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Network namespaces to list.
    #[arg(long, value_enum, default_value = "current")]
    pub netns: NetnsArg,
    /// Skip the process scan (faster; no PID/PROCESS column).
    #[arg(long)]
    pub no_owners: bool,
    /// Show full command lines instead of the process name.
    #[arg(short = 'l', long)]
    pub long: bool,
    /// One JSON array.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// JSON Lines: one object per socket.
    #[arg(long)]
    pub jsonl: bool,
}

#[derive(Debug, Args)]
pub struct WhoArgs {
    /// PORT, HOST:PORT, or [IPv6]:PORT.
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: String,
    /// Only TCP.
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// Only UDP.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Network namespaces to look in.
    #[arg(long, value_enum, default_value = "current")]
    pub netns: NetnsArg,
    /// Output as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Ports or ranges to audit, e.g. 80,443,8000-8100 (skips Unix sockets).
    #[arg(short = 'p', long, value_name = "LIST")]
    pub port: Option<String>,
    /// Also run checks that servers log: PostgreSQL login as postgres
    /// (trust-auth), MySQL/MariaDB root with an empty password.
    #[arg(long)]
    pub active: bool,
    /// Do not run this rule (repeatable).
    #[arg(long, value_name = "RULE")]
    pub skip: Vec<String>,
    /// Exit 1 when a finding at or above this severity exists:
    /// critical, high, medium, low, info, or never [default: high].
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Bound of each connect, read and write of a probe (2s, 500ms, 1.5).
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub timeout: String,
    /// Network namespaces to audit.
    #[arg(long, value_enum, default_value = "current")]
    pub netns: NetnsArg,
    /// Output as one JSON document.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// Output as a SARIF 2.1.0 log.
    #[arg(long)]
    pub sarif: bool,
}
