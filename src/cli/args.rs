//! clap definitions of every command and flag. Doc comments here are the
//! `--help` text; validation and defaults happen in `settings`.

// Doc comments here are `--help` text, not rustdoc: brackets such as
// `[IPv6]:PORT` are literal, not links.
#![allow(rustdoc::broken_intra_doc_links)]

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
    /// Why a connection to a local port fails (or why a server cannot bind
    /// one): a verdict, the evidence, and the fix.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Wait until targets are ready (or down), then optionally run a command.
    #[command(after_help = WAIT_HELP)]
    Wait(WaitArgs),
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

const CHECK_HELP: &str = "Targets:\n  PORT (= localhost:PORT), HOST:PORT, [IPv6]:PORT, tcp://HOST:PORT,\n  http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, unix:/PATH\n\nExamples:\n  porthole check 5432                     why can't I connect to localhost:5432?\n  porthole check http://localhost:3000/   probe HTTP (and TLS vs plain)\n  porthole check '[::1]:5173' --json      the verdict as JSON\n  porthole check --bind 0.0.0.0:80        could a server bind this?\n  porthole check localhost:8080 --from 4242   as process 4242 sees it (its netns, proxy variables, /etc/hosts)\n\nExit status: 0 reachable and healthy, 1 a cause was found, 2 bad usage.";

const WAIT_HELP: &str = "Examples:\n  porthole wait localhost:5432 -- psql -h localhost       run psql once PostgreSQL accepts connections\n  porthole wait http://localhost:3000/health --status 200 --timeout 2m\n  porthole wait db:5432 cache:6379 --any                  one of them is enough\n  porthole wait localhost:8080 --down                     until it stops answering\n  porthole wait unix:/run/app.sock --json                 JSON Lines of every attempt\n\nDurations: 500ms, 30s, 2m (a bare number is seconds); --timeout 0 waits forever.\nEvery resolved address is tried; a socket that connected to itself is not ready;\nproxy variables are never used. Progress goes to stderr, JSON Lines to stdout.\n\nExit status: 0 ready (or the command's own status), 1 timed out, 2 bad usage.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// What to connect to (see Targets below). Optional with --bind.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Also check whether a server could bind ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// Evaluate as this process: its network namespace, environment and
    /// /etc/hosts.
    #[arg(long, value_name = "PID")]
    pub from: Option<String>,
    /// Connect and read timeout per address.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub timeout: String,
    /// Output the diagnosis as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What to wait for: PORT, HOST:PORT, tcp://…, http(s)://…, unix:/PATH, or an
    /// IPv6 address in brackets with a port.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,
    /// Command to run once ready; its exit status becomes porthole's.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Ready when any one target is (default: all of them).
    #[arg(long)]
    pub any: bool,
    /// HTTP statuses that count as ready.
    #[arg(long, value_name = "LIST", default_value = "200-399")]
    pub status: String,
    /// Regular expression the HTTP body must match.
    #[arg(long, value_name = "REGEX")]
    pub body: Option<String>,
    /// Give up after this long (0 = never).
    #[arg(short = 't', long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,
    /// Pause between rounds; grows by half each round up to --max-interval.
    #[arg(short = 'i', long, value_name = "DURATION", default_value = "250ms")]
    pub interval: String,
    /// Longest pause between rounds.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub max_interval: String,
    /// Bound on each connect and each application probe.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub connect_timeout: String,
    /// Wait until the targets stop answering instead.
    #[arg(long)]
    pub down: bool,
    /// Print nothing (the exit status says it).
    #[arg(short = 'q', long, conflicts_with = "json")]
    pub quiet: bool,
    /// JSON Lines on stdout: every attempt, then the outcome.
    #[arg(long)]
    pub json: bool,
}
