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
    // The package version and, when known, the source revision (build.rs).
    version = env!("PORTHOLE_VERSION"),
    about,
    override_usage = USAGE,
    after_help = "Examples:\n  porthole ls                 every listener with its processes\n  porthole ls -a --json       every socket, as JSON\n  porthole 5432               who holds port 5432, its clients, what the number means\n  porthole 127.0.0.1:62893    the same for one address\n  porthole check 5432         why a connection to localhost:5432 fails, and the fix\n  porthole wait 5432 -- CMD   run CMD once localhost:5432 is ready\n  porthole kill 3000          stop what listens on 3000 (not its clients)\n  porthole free               a port that is safe to claim now\n\nExit status: 0 yes/found, 1 no/not found, 2 error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The usage line: subcommands, and the verb-less `porthole PORT` form
/// that `cli::normalize_args` turns into `porthole who PORT`.
pub const USAGE: &str = "porthole <COMMAND> [ARGS]...\n       porthole <PORT|HOST:PORT> [-t] [-u] [--netns <NETNS>] [--json]";

/// One variant per verb; `porthole PORT` is rewritten to `porthole who PORT`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List listening sockets (or every socket with -a) with their processes.
    #[command(
        visible_alias = "list",
        after_help = "Examples:\n  porthole ls                       listeners (TCP, UDP, Unix) with owners\n  porthole ls -a --tcp              every TCP socket\n  porthole ls -w                    raw IP sockets (ICMP, OSPF, sniffers) and who holds them\n  porthole ls --port 3000-3999 -4   IPv4 listeners on ports 3000-3999\n  porthole ls --scope exposed       what another device could reach\n  porthole ls --netns all           every network namespace on the machine\n  porthole ls -a --jsonl | jq .     one JSON object per socket\n\nPORTHOLE_BACKEND=procfs forces the /proc/net reader instead of netlink.\n\nExit status: 0 when a socket is listed, 1 when none matches, 2 on error."
    )]
    Ls(LsArgs),
    /// Everything about one port or endpoint: who holds it, its clients,
    /// what the number means.
    #[command(
        after_help = "Examples:\n  porthole 5432\n  porthole who 127.0.0.1:62893\n  porthole '[::1]:8080' --json\n  porthole :5353/udp          as lsof (:PORT) and fuser (PORT/udp) write it\n  porthole udp:5353           as lsof -i UDP:5353 writes it\n\nExit status: 0 when something holds the port, 1 when nothing does, 2 on error."
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
    /// Stop the processes that listen on a port (never its clients).
    #[command(after_help = KILL_HELP)]
    Kill(KillArgs),
    /// Print a port that is free now and safe to claim for a new service.
    #[command(after_help = FREE_HELP)]
    Free(FreeArgs),
    /// Why a connection to a local port fails (or why a server cannot bind
    /// one): a verdict, the evidence, and the fix.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Wait until targets are ready (or down), then optionally run a command.
    #[command(after_help = WAIT_HELP)]
    Wait(WaitArgs),
    /// Fault-injection TCP proxy with the Toxiproxy 2.12 API.
    #[command(
        after_help = "Examples:\n  porthole proxy serve                                   Toxiproxy-compatible API on 127.0.0.1:8474\n  porthole proxy create pg --upstream 127.0.0.1:5432\n  porthole proxy toxic add pg -t latency -a latency=100\n  porthole proxy run 127.0.0.1:15432 --to 127.0.0.1:5432 --latency 100ms\n  porthole proxy --url http://10.0.0.5:8474 list   the API flags may come before a client verb"
    )]
    Proxy(ProxyArgs),
    /// Find risky local services: exposed listeners, services without
    /// authentication, DNS-rebindable HTTP, open debuggers, outdated code.
    #[command(
        after_help = "Examples:\n  porthole audit                     every listener, findings by severity\n  porthole audit --port 6379,8000    only these ports\n  porthole audit --skip-port 5432    everything but PostgreSQL\n  porthole audit --active            also try logins servers log (trust, empty and weak passwords)\n  porthole audit --sarif > a.sarif   SARIF 2.1.0 for code-scanning tools\n  porthole audit --fail-on high      exit 1 on any finding of high or worse\n\nProbes are read-only and bounded: a passive read, then one safe request chosen from the\nprocess and port. Redis never gets HTTP; printer ports (515, 631, 9100) are never touched.\n\nRules: exposed-service no-auth dns-rebinding websocket-origin cors-any-origin\n  debugger-exposed docker-api world-writable-socket trust-auth empty-password\n  outdated-binary outdated-library root-service weak-password outdated-package\n  cleartext-password file-server\n\nExit status: 0 when no finding reaches --fail-on (default: critical), 1 when one does, 2 on error."
    )]
    Audit(AuditArgs),
    /// Record listeners and connections to local services as they come and
    /// go (runs until Ctrl-C, SIGTERM or SIGHUP; needs root).
    #[command(after_help = MONITOR_HELP)]
    Monitor(MonitorArgs),
    /// What the recorder saw: who listened on a port and when, who
    /// connected, how often, how much data.
    #[command(after_help = HISTORY_HELP)]
    History(HistoryArgs),
    /// Serve the dashboard and Prometheus metrics from the recorder's store
    /// (read-only; works while `porthole monitor` records).
    #[command(after_help = DASHBOARD_HELP)]
    Dashboard(DashboardArgs),
    /// A live view of the local services and who is talking to them.
    #[command(after_help = TOP_HELP)]
    Top(TopArgs),
    /// Internal: keeps sockets bound for `free --hold`.
    #[command(name = "__hold", hide = true)]
    Hold(HoldArgs),
}

/// Which bind addresses `ls --scope` keeps: loopback, exposed, wildcard or
/// one specific address.
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
    /// Every socket (established, TIME-WAIT, raw, …), not only listeners.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// TCP sockets (combinable with --udp, --unix and --raw; none means TCP,
    /// UDP and Unix, and raw sockets too with -a).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP sockets.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Unix-domain sockets.
    #[arg(short = 'x', long)]
    pub unix: bool,
    /// Raw IP sockets (a packet sniffer, ping, an OSPF or VRRP daemon), as
    /// `ss -w` lists them: listed with or without -a, their IP protocol
    /// shown where a port would be.
    #[arg(short = 'w', long)]
    pub raw: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Ports or ranges, e.g. 80,443,8000-8100.
    #[arg(allow_hyphen_values = true, short = 'p', long, value_name = "LIST")]
    pub port: Option<String>,
    /// Sockets of this process id.
    #[arg(allow_hyphen_values = true, long, value_name = "PID")]
    pub pid: Option<String>,
    /// Sockets of processes whose name contains NAME (a NAME longer than
    /// the 15 bytes the kernel keeps also matches the name cut there, and
    /// the program's file name).
    // Not necessarily UTF-8: a process name may hold any bytes.
    #[arg(long, value_name = "NAME")]
    pub process: Option<std::ffi::OsString>,
    /// Bind scope to keep.
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Socket state, as ss spells it (LISTEN, ESTAB, TIME-WAIT, UNCONN…).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Network namespaces to list: current, all, a name from `ip netns
    /// list`, or a namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH|all", default_value = "current")]
    pub netns: String,
    /// Skip the process scan (faster; no USER and PID/PROCESS columns).
    #[arg(long)]
    pub no_owners: bool,
    /// Show full command lines instead of the process name.
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Output as one JSON array.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Output as JSON Lines: one object per socket.
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
    /// Network namespaces to look in: current, all, a name from `ip netns
    /// list`, or a namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH|all", default_value = "current")]
    pub netns: String,
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

const KILL_HELP: &str = "\
Only listeners are stopped (TCP LISTEN, bound UDP): clients connected to the
port live on, unlike `lsof -ti :PORT | xargs kill`. The processes are shown
first and stopped after a [y/N] question on a terminal, or with --yes.
SIGTERM first, SIGKILL after --grace for whatever is still alive; then the
port is watched for --settle to catch a supervisor starting a new process.
The default 2s catches supervisors that restart within 2 seconds: systemd
(RestartSec=100ms unless set), runit, daemontools and s6 (1 s), Docker
restart policies (100 ms at first), shell loops with a short sleep. A slower
one (systemd RestartSec=5s, Kubernetes back-off) needs a longer --settle.
PID 1, porthole itself and kernel threads are never signalled; its parent
and ancestors (the shell it runs in) need --allow-ancestors; other users'
processes need --force (and root).

Examples:
  porthole kill 3000                 stop what listens on 3000 (asks first)
  porthole kill 3000 8080 --yes      two ports, no question
  porthole kill 5173 --grace 1s      SIGKILL after one second
  porthole kill 8000 --signal INT    send SIGINT only (like Ctrl-C)
  porthole kill 53 --udp --dry-run   show the UDP listener, stop nothing
  porthole kill 3000 --yes --no-fail in scripts: nothing listening is fine
  porthole kill 8080 --netns demo    the listener in `ip netns` namespace demo

Exit status: 0 the ports are free, 1 nothing was listening (0 with
--no-fail), 2 error, refused, declined, or a port is still held.";

const FREE_HELP: &str = "\
The port is outside this machine's ip_local_port_range (so no outbound
connection can take it) and ip_local_reserved_ports, is not a port browsers
block nor a well-known service port (built-in table and /etc/services), no
socket uses it, TCP or UDP (TIME-WAIT and closing connections included),
and a test bind of a TCP and a UDP socket succeeds on 0.0.0.0, ::,
127.0.0.1 and ::1: the port suits a server that binds both protocols (DNS,
QUIC/HTTP/3) on any address. Without CAP_NET_BIND_SERVICE, ports below
net.ipv4.ip_unprivileged_port_start are passed over. The default range is
10000-32767.

--name hashes the name with FNV-1a 64 into the range and probes upwards
from there, so a project gets the same port on every machine and every run
(unless that port is taken there): `porthole free --name myproject` is
24176 wherever 24176 is free.

A port can be taken between `porthole free` and your own bind. --hold
DURATION closes that window: a detached porthole process keeps the port
bound (SO_REUSEADDR, not listening) and exits after DURATION, or as soon as
your server binds and listens on it. Your server must set SO_REUSEADDR, as
Rust, Go, Node, Python socketserver and nginx do; a bind without it fails
while the port is held. Only the TCP port is held unless --udp is given.

Examples:
  porthole free                      one free TCP port
  PORT=$(porthole free) npm run dev  use it
  porthole free --count 3            three distinct ports
  porthole free --prefer 3000        3000 if free, else the nearest free port
  porthole free --name myproject     the same port for this project everywhere
  porthole free --range 20000-29999 --exclude 20000-20100
  porthole free --json               the port and what was checked, as JSON
  porthole free --hold 30 --udp      hold the UDP port too, for a UDP server
  porthole free --hold 30            keep it bound for 30 s (pid on stderr)

When too few are found, stderr counts why the others were passed over (the
sysctls with their values) and gives what a second search found to work: a
--range with free ports, or the sysctl that releases the range's reserved
ports.

Exit status: 0 found, 1 no free port in the range, 2 bad input.";

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Ports whose listeners to stop, ranges such as 3000-3010, or lists
    /// such as 3000,3005.
    #[arg(value_name = "PORT", required = true)]
    pub ports: Vec<String>,
    /// Only TCP listeners (default: TCP and UDP).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// Only UDP listeners.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Only IPv4 listeners.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6 listeners.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// How long to wait after SIGTERM before SIGKILL (e.g. 5s, 500ms).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "5s")]
    pub grace: String,
    /// Send only this signal (TERM, INT, HUP, KILL, QUIT, USR1, RTMIN+1… or a
    /// number; -9 and -KILL as kill(1) writes them work too).
    #[arg(allow_hyphen_values = true, short = 's', long, value_name = "NAME")]
    pub signal: Option<String>,
    /// How long to watch the port afterwards for a restarted process (see
    /// below for what the default catches).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "2s")]
    pub settle: String,
    /// Also stop processes of other users.
    #[arg(long)]
    pub force: bool,
    /// Also stop porthole's parent and ancestors (the shell it runs in),
    /// which ends the caller's own session.
    #[arg(long)]
    pub allow_ancestors: bool,
    /// Show what would be stopped; send nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Exit 0 when nothing listens on the ports.
    #[arg(long)]
    pub no_fail: bool,
    /// Network namespace whose listeners to stop: current, all, a name
    /// from `ip netns list`, or a namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH|all", default_value = "current")]
    pub netns: String,
    /// Output as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FreeArgs {
    /// How many distinct ports to print.
    #[arg(allow_hyphen_values = true, short = 'c', long, value_name = "N", default_value = "1")]
    pub count: String,
    /// Inclusive range to search, e.g. 20000-29999 (default 10000-32767).
    #[arg(allow_hyphen_values = true, short = 'r', long, value_name = "LOW-HIGH")]
    pub range: Option<String>,
    /// Return this port if it is free, else the nearest free one.
    #[arg(
        allow_hyphen_values = true,
        short = 'p',
        long,
        value_name = "PORT",
        conflicts_with = "name"
    )]
    pub prefer: Option<String>,
    /// A stable port for a project name (same name, same port).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Ports never to return, e.g. 20000,25000-25100.
    #[arg(allow_hyphen_values = true, short = 'x', long, value_name = "LIST")]
    pub exclude: Option<String>,
    /// With --hold, hold the UDP port too (every port is checked free for
    /// both TCP and UDP either way).
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Keep the port bound this long (e.g. 30s, 5m; a bare number is
    /// seconds) in a detached process, until your server binds it (see
    /// below).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION")]
    pub hold: Option<String>,
    /// Network namespace whose ports to search (and hold): a name from
    /// `ip netns list`, or a namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// Output as one JSON object.
    #[arg(long)]
    pub json: bool,
}

const TOP_HELP: &str = "Keys: q or Ctrl-C quit, Ctrl-Z suspend, / filter (port, address, process, scope;\n  Enter keeps it, Esc clears it), arrows (or j k), PgUp/PgDn, Home and End select,\n  Enter show or hide the selected listener's connections, Tab move the cursor keys\n  into that list and back, Esc close it, p n c r i o a t sort by port, process,\n  connections, new/s, in/s, out/s, accept queue, since (again: reverse).\n\nExamples:\n  porthole top                      live view of TCP and UDP listeners\n  porthole top -x                   Unix listeners too\n  porthole top --once               one frame (after one interval) as a table\n  porthole top --netns demo         the listeners of `ip netns` namespace demo\n  porthole top --jsonl --interval 2s | jq '.listeners[0]'\n\nConnections shorter than one refresh are counted from the kernel's socket-destroy\nnotifications; where the kernel refuses them (some kernels do to ordinary users),\na line says so and what is missed.";

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Print one frame as a table after one interval (so rates are real)
    /// and exit.
    #[arg(long, conflicts_with_all = ["json", "jsonl"])]
    pub once: bool,
    /// Print one frame as a JSON document after one interval and exit.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print one JSON frame per line every interval until interrupted.
    #[arg(long)]
    pub jsonl: bool,
    /// Time between refreshes, e.g. 1s or 500ms.
    #[arg(
        allow_hyphen_values = true,
        short = 'n',
        long,
        value_name = "DURATION",
        default_value = "1s"
    )]
    pub interval: String,
    /// With --jsonl: stop after N frames.
    #[arg(allow_hyphen_values = true, long, value_name = "N")]
    pub count: Option<String>,
    /// TCP listeners (the default is TCP and UDP).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP sockets bound without a peer.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Unix listening sockets too.
    #[arg(short = 'x', long)]
    pub unix: bool,
    /// Network namespace to watch: a name from `ip netns list`, or a
    /// namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Option<String>,
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Inherited socket descriptors to keep.
    #[arg(long = "fd", required = true)]
    pub descriptors: Vec<i32>,
    /// How long to keep them, in milliseconds.
    #[arg(long)]
    pub millis: u64,
}

const CHECK_HELP: &str = "Targets:\n  PORT (= localhost:PORT), HOST:PORT, [IPv6]:PORT, tcp://HOST:PORT,\n  http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, unix:/PATH,\n  postgres://[USER@]HOST[:PORT][/DB], postgres:///DB?host=/SOCKET/DIR, redis://HOST[:PORT],\n  redis+socket:///PATH, mysql://HOST[:PORT], mysql://localhost/DB?socket=/PATH,\n  memcached://HOST[:PORT]\n  (asked in their own protocol whether they take clients; a password is never sent)\n\nExamples:\n  porthole check 5432                     why can't I connect to localhost:5432?\n  porthole check http://localhost:3000/   probe HTTP (and TLS vs plain), follow local redirects\n  porthole check '[::1]:5173' --json      the verdict as JSON\n  porthole check --bind 0.0.0.0:80        could a server bind this?\n  porthole check http://localhost:8080/health --status 200,204   which answers count as healthy\n  porthole check localhost:8080 --from \"$(pgrep -n node)\"   as the newest node process sees it\n                                          (its netns, proxy variables and /etc/hosts)\n  porthole check 5432 --netns demo        from inside `ip netns` namespace demo\n\nExit status: 0 reachable and healthy, 1 a cause was found, 2 bad usage.";

const WAIT_HELP: &str = "Examples:\n  porthole wait postgres://localhost/app -- psql -h localhost app\n                                                          run psql once PostgreSQL takes logins\n  porthole wait localhost:5432 -- psql -h localhost       run psql once the port accepts connections\n  porthole wait http://localhost:3000/health --status 200 --timeout 2m\n  porthole wait db:5432 cache:6379 --any                  one of them is enough\n  porthole wait localhost:8080 --down                     until it stops answering\n  porthole wait unix:/run/app.sock --json                 JSON Lines of every attempt\n  porthole wait 5432 --netns demo                         in `ip netns` namespace demo\n\nDurations: 500ms, 30s, 2m (a bare number is seconds); --timeout 0 waits forever.\nEvery resolved address is tried; a socket that connected to itself is not ready;\nproxy variables are never used. Progress goes to stderr, JSON Lines to stdout.\n\nExit status: 0 ready (or the command's own status), 1 timed out, 2 bad usage.";

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
    #[arg(allow_hyphen_values = true, long, value_name = "PID")]
    pub from: Option<String>,
    /// Network namespace to check in: a name from `ip netns list`, or a
    /// namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// Connect and read timeout per address.
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "2s")]
    pub timeout: String,
    /// HTTP statuses that count as healthy (http:// and https:// targets),
    /// as `wait --status` takes them; judged at the end of the redirects
    /// followed on this machine (a list that names a redirect's own status
    /// takes the redirect as the answer).
    #[arg(allow_hyphen_values = true, long, value_name = "LIST", default_value = "200-399")]
    pub status: String,
    /// Output the diagnosis as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What to wait for: PORT, HOST:PORT, tcp://…, http(s)://…, postgres://…, redis://…,
    /// mysql://…, memcached://…, unix:/PATH, or an IPv6 address in brackets with a port;
    /// wait-on's tcp:PORT, tcp:HOST:PORT, http-get://… and socket:/PATH work as written.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,
    /// Command to run once ready; its exit status becomes porthole's.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Ready when any one target is (default: all of them).
    #[arg(long)]
    pub any: bool,
    /// HTTP statuses that count as ready (http:// and https:// targets)
    /// [default: 200-399].
    #[arg(allow_hyphen_values = true, long, value_name = "LIST")]
    pub status: Option<String>,
    /// Regular expression the HTTP body must match (http:// and https://
    /// targets; Rust regex syntax without Unicode classes: \w, \d and \b
    /// are ASCII).
    #[arg(long, value_name = "REGEX")]
    pub body: Option<String>,
    /// Give up after this long (0 = never).
    #[arg(
        allow_hyphen_values = true,
        short = 't',
        long,
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub timeout: String,
    /// Pause between rounds; grows by half each round up to --max-interval.
    #[arg(
        allow_hyphen_values = true,
        short = 'i',
        long,
        value_name = "DURATION",
        default_value = "250ms"
    )]
    pub interval: String,
    /// Longest pause between rounds.
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "2s")]
    pub max_interval: String,
    /// Bound on each connect and each application probe.
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "1s")]
    pub connect_timeout: String,
    /// Wait until the targets stop answering instead.
    #[arg(long)]
    pub down: bool,
    /// Network namespace to wait in: a name from `ip netns list`, or a
    /// namespace file such as /proc/PID/ns/net. COMMAND still runs here.
    #[arg(long, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// Print nothing (the exit status says it).
    #[arg(short = 'q', long, conflicts_with = "json")]
    pub quiet: bool,
    /// JSON Lines on stdout: every attempt, then the outcome.
    #[arg(long)]
    pub json: bool,
}

/// `porthole proxy …`: the Toxiproxy-compatible fault-injection proxy.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Boxed: the proxy flags would otherwise make every `Command` large.
    #[command(subcommand)]
    pub command: Box<ProxyCommand>,
}

/// The client verbs also answer to toxiproxy-cli's names (`l`, `i`, `c`,
/// `tog`, `d`, `t`, and `--toxicName`), hidden from `--help`, so commands
/// typed or scripted for toxiproxy-cli work unchanged.
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy server with the Toxiproxy 2.12 HTTP API.
    #[command(
        after_help = "Examples:\n  porthole proxy serve                           API on 127.0.0.1:8474\n  porthole proxy serve --config proxies.json     create proxies (and toxics) at start\n  porthole proxy serve --listen 127.0.0.1:9474   another API port\n\nThe config file is a JSON array of proxies, as POST /populate takes, and each\nproxy may carry a \"toxics\" array:\n  [{\"name\": \"pg\", \"listen\": \"127.0.0.1:15432\", \"upstream\": \"127.0.0.1:5432\",\n    \"toxics\": [{\"type\": \"latency\", \"attributes\": {\"latency\": 100}}]}]"
    )]
    Serve(ProxyServeArgs),
    /// Proxy one address to another with toxics given as flags, no server.
    #[command(
        after_help = "Examples:\n  porthole proxy run 127.0.0.1:15432 --to 127.0.0.1:5432 --latency 100ms --jitter 10ms\n  porthole proxy run 127.0.0.1:18080 --to 127.0.0.1:8080 --bandwidth 100KB/s\n  porthole proxy run 127.0.0.1:16379 --to 127.0.0.1:6379 --reset-peer 2s --toxicity 0.3\n  porthole proxy run 127.0.0.1:0 --to 127.0.0.1:5432 --limit-data 1MB --upstream\n\nToxics act on the downstream direction (server to client) unless --upstream is\ngiven. Ctrl-C stops the proxy and prints the connections and bytes that passed."
    )]
    Run(ProxyRunArgs),
    /// Create a proxy on a running server.
    #[command(
        visible_alias = "new",
        alias = "c",
        after_help = "Examples:\n  porthole proxy create pg --listen 127.0.0.1:15432 --upstream 127.0.0.1:5432\n  porthole proxy create redis --upstream localhost:6379     listens on 127.0.0.1:<free port>"
    )]
    Create(ProxyCreateArgs),
    /// List the proxies of a running server.
    #[command(
        visible_alias = "ls",
        aliases = ["l", "li"],
        after_help = "Examples:\n  porthole proxy list\n  porthole proxy list --json\n  TOXIPROXY_URL=http://127.0.0.1:9474 porthole proxy list"
    )]
    List(ProxyListArgs),
    /// Show one proxy and its toxics.
    #[command(
        aliases = ["i", "ins"],
        after_help = "Examples:\n  porthole proxy inspect pg\n  porthole proxy inspect pg --json"
    )]
    Inspect(ProxyNameArgs),
    /// Enable a disabled proxy, or disable (take down) an enabled one.
    #[command(
        alias = "tog",
        after_help = "Example:\n  porthole proxy toggle pg     clients now get \"connection refused\"; run again to restore"
    )]
    Toggle(ProxyNameArgs),
    /// Delete a proxy (closes its listener and connections).
    #[command(alias = "d", after_help = "Example:\n  porthole proxy delete pg")]
    Delete(ProxyDeleteArgs),
    /// Add, update or remove toxics.
    #[command(
        alias = "t",
        after_help = "Examples:\n  porthole proxy toxic add pg -t latency -a latency=100 -a jitter=10\n  porthole proxy toxic update pg -n latency_downstream -a latency=500\n  porthole proxy toxic remove pg -n latency_downstream"
    )]
    Toxic(ProxyToxicArgs),
}

/// The proxy API the client commands talk to without `--url` or
/// `TOXIPROXY_URL` (Toxiproxy's default).
pub const DEFAULT_PROXY_API_URL: &str = "http://localhost:8474";

/// Where the proxy API is, for the client commands.
#[derive(Debug, Args)]
pub struct ProxyApiArgs {
    /// API base URL.
    #[arg(
        long,
        visible_alias = "host",
        value_name = "URL",
        env = "TOXIPROXY_URL",
        default_value = DEFAULT_PROXY_API_URL
    )]
    pub url: String,
    /// API token, for a server started with one (sent as `Authorization:
    /// Bearer`).
    #[arg(long, value_name = "TOKEN", env = "PORTHOLE_PROXY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Give up when the API has not answered within this long (connecting
    /// included; with a unit: 10s, 500ms).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct ProxyServeArgs {
    /// Address for the HTTP API.
    #[arg(long, value_name = "ADDR", default_value = crate::proxy::client::DEFAULT_API_LISTEN)]
    pub listen: String,
    /// JSON file of proxies (and toxics) to create at start.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Also accept this Host name on the API (repeatable); loopback names
    /// are always accepted.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Require this token on every API request (`Authorization: Bearer
    /// TOKEN`); clients take it from --token or PORTHOLE_PROXY_TOKEN.
    #[arg(long, value_name = "TOKEN", env = "PORTHOLE_PROXY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// API connections served at once; beyond it the idlest is closed, or
    /// the newcomer gets 503 when all are busy.
    #[arg(allow_hyphen_values = true, long, value_name = "N", default_value = "64")]
    pub max_api_connections: String,
    /// Close API connections idle this long (with a unit: 60s, 2m).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "60s")]
    pub api_idle_timeout: String,
    /// Close API connections that take longer than this to send a
    /// request's headers, or then its body (with a unit: 15s).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "15s")]
    pub api_header_timeout: String,
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("toxic")
        .multiple(true)
        .args(["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "limit_data", "slicer"])
))]
pub struct ProxyRunArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(value_name = "LISTEN")]
    pub listen: String,
    /// Upstream address to forward to.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Delay every chunk (with a unit: 100ms, 1s).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION")]
    pub latency: Option<String>,
    /// Random ± variation of --latency (with a unit: 10ms).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", requires = "latency")]
    pub jitter: Option<String>,
    /// Limit throughput (e.g. 100KB/s, 1MB/s; a bare number is KB/s, as the toxic takes it; 1 KB
    /// = 1000 bytes).
    #[arg(allow_hyphen_values = true, long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// Hold a close back this long (with a unit: 500ms, 2s).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION")]
    pub slow_close: Option<String>,
    /// Drop all data and close after this long (with a unit: 5s; 0 = hang
    /// forever).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Reset (RST) the connection this long after the first data (with a
    /// unit: 100ms).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION")]
    pub reset_peer: Option<String>,
    /// Close each connection after this many bytes (e.g. 512, 10KB, 1MB).
    #[arg(allow_hyphen_values = true, long, value_name = "BYTES")]
    pub limit_data: Option<String>,
    /// Cut data into slices of about this many bytes.
    #[arg(allow_hyphen_values = true, long, value_name = "BYTES")]
    pub slicer: Option<String>,
    /// Pause between slices (with a unit: 250us, 10ms).
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "DURATION",
        requires = "slicer",
        default_value = "0ms"
    )]
    pub slice_delay: String,
    /// Probability (0 to 1) that a connection gets the toxics.
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "P",
        default_value = "1",
        requires = "toxic"
    )]
    pub toxicity: String,
    /// Apply the toxics to client → server data instead of server → client.
    #[arg(long, requires = "toxic")]
    pub upstream: bool,
}

#[derive(Debug, Args)]
pub struct ProxyCreateArgs {
    /// Proxy name.
    pub name: String,
    /// Address to listen on [default: 127.0.0.1:0, a free loopback port].
    #[arg(short = 'l', long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Address to forward to.
    #[arg(short = 'u', long, value_name = "HOST:PORT")]
    pub upstream: String,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyListArgs {
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

/// `proxy delete` has no `--json`: the API answers 204 with no body, and a
/// script asking for JSON must not be handed the text line instead.
#[derive(Debug, Args)]
pub struct ProxyDeleteArgs {
    /// Proxy name.
    pub name: String,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyNameArgs {
    /// Proxy name.
    pub name: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyToxicArgs {
    #[command(subcommand)]
    pub command: ProxyToxicCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProxyToxicCommand {
    /// Add a toxic to a proxy; live connections get it too.
    #[command(
        visible_alias = "a",
        after_help = "Examples:\n  porthole proxy toxic add pg -t latency -a latency=100 -a jitter=10\n  porthole proxy toxic add pg -t bandwidth -a rate=100 --upstream\n  porthole proxy toxic add pg -t reset_peer -a timeout=500 --toxicity 0.5 -n flaky\n\nTypes and attributes: latency (latency, jitter: ms), bandwidth (rate: KB/s),\nslow_close (delay: ms), timeout (timeout: ms, 0 = hang), reset_peer (timeout: ms),\nslicer (average_size, size_variation: bytes; delay: µs), limit_data (bytes), noop."
    )]
    Add(ProxyToxicAddArgs),
    /// Change a toxic's attributes or toxicity.
    #[command(
        visible_alias = "u",
        after_help = "Example:\n  porthole proxy toxic update pg -n latency_downstream -a latency=500"
    )]
    Update(ProxyToxicUpdateArgs),
    /// Remove a toxic.
    #[command(
        visible_aliases = ["r", "delete"],
        alias = "d",
        after_help = "Example:\n  porthole proxy toxic remove pg -n latency_downstream"
    )]
    Remove(ProxyToxicRemoveArgs),
}

#[derive(Debug, Args)]
pub struct ProxyToxicAddArgs {
    /// Proxy name.
    pub proxy: String,
    /// Toxic type.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub toxic_type: String,
    /// Toxic name [default: TYPE_STREAM].
    #[arg(short = 'n', long, alias = "toxicName", value_name = "NAME")]
    pub name: Option<String>,
    /// Attribute as KEY=INTEGER (repeatable).
    #[arg(short = 'a', long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// Act on client → server data.
    #[arg(short = 'u', long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// Act on server → client data (the default).
    #[arg(short = 'd', long)]
    pub downstream: bool,
    /// Probability (0 to 1) that a connection gets the toxic.
    #[arg(allow_hyphen_values = true, long, visible_alias = "tox", value_name = "P")]
    pub toxicity: Option<String>,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyToxicUpdateArgs {
    /// Proxy name.
    pub proxy: String,
    /// Toxic name.
    #[arg(short = 'n', long, alias = "toxicName", value_name = "NAME")]
    pub name: String,
    /// Attribute as KEY=INTEGER (repeatable).
    #[arg(short = 'a', long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// New toxicity (0 to 1).
    #[arg(allow_hyphen_values = true, long, visible_alias = "tox", value_name = "P")]
    pub toxicity: Option<String>,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyToxicRemoveArgs {
    /// Proxy name.
    pub proxy: String,
    /// Toxic name.
    #[arg(short = 'n', long, alias = "toxicName", value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Ports or ranges to audit, e.g. 80,443,8000-8100 (skips Unix sockets).
    #[arg(allow_hyphen_values = true, short = 'p', long, value_name = "LIST")]
    pub port: Option<String>,
    /// Also run checks that servers log: PostgreSQL login as postgres
    /// (trust-auth), MySQL/MariaDB root with an empty password, and a few
    /// spaced default-password logins per password-protected service
    /// (weak-password).
    #[arg(long)]
    pub active: bool,
    /// Show the password weak-password found (hidden by default).
    #[arg(long, requires = "active")]
    pub show: bool,
    /// Also try these credentials with --active: one user:password per line
    /// (an empty user means the service's default account).
    #[arg(long, value_name = "FILE", requires = "active")]
    pub passwords: Option<std::path::PathBuf>,
    /// Do not run these rules, e.g. outdated-package,weak-password
    /// (repeatable).
    #[arg(long, value_name = "RULE")]
    pub skip: Vec<String>,
    /// Leave these ports out, e.g. 5432,8000-8100 (repeatable): services
    /// you know about and accept.
    #[arg(allow_hyphen_values = true, long, value_name = "LIST")]
    pub skip_port: Vec<String>,
    /// Exit 1 when a finding at or above this severity exists:
    /// critical, high, medium, low, info, or never [default: critical].
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Bound of each connect, read and write of a probe (2s, 500ms, 1.5).
    #[arg(allow_hyphen_values = true, long, value_name = "DURATION", default_value = "2s")]
    pub timeout: String,
    /// Network namespaces to audit: current, all, a name from `ip netns
    /// list`, or a namespace file such as /proc/PID/ns/net.
    #[arg(long, value_name = "NAME|PATH|all", default_value = "current")]
    pub netns: String,
    /// Output as one JSON document.
    #[arg(long, conflicts_with = "sarif")]
    pub json: bool,
    /// Output as a SARIF 2.1.0 log.
    #[arg(long)]
    pub sarif: bool,
}

const MONITOR_HELP: &str = "Examples:\n  porthole monitor --jsonl                   every event as a JSON line on stdout\n  porthole monitor --jsonl --netns all       also containers and other namespaces\n  porthole monitor --capture netlink         no eBPF: closes from sock_diag, pids from scans\n\nCapture modes: ebpf names the client and server process of every connection,\nhowever short (the tracepoint sock:inet_sock_set_state);\nnetlink records every close with its 4-tuple, uid and bytes, and names processes\nonly for connections alive at a scan. auto (the default) uses eBPF when it loads\nand says why when it does not. The mode and the reason are printed on stderr.\n\nConnections still open are written as open (bytes so far) at start, every minute\nand at stop; their close updates the same record. At start, records an earlier run\nleft open for connections gone since end as unknown.";

/// How `porthole monitor` captures connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureArg {
    /// eBPF when it works here, else netlink.
    Auto,
    /// eBPF tracepoints; fail when they cannot be attached.
    Ebpf,
    /// sock_diag destroy notifications and dumps only.
    Netlink,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Write every event as JSON Lines on stdout.
    #[arg(long)]
    pub jsonl: bool,
    /// Network namespaces to record.
    #[arg(long, value_enum, default_value = "current")]
    pub netns: NetnsArg,
    /// How often listeners are re-read and (netlink mode) open connections
    /// are matched to processes, e.g. 500ms or 2s.
    #[arg(allow_hyphen_values = true, long, default_value = "1s", value_name = "DURATION")]
    pub interval: String,
    /// Capture mechanism.
    #[arg(long, value_enum, default_value = "auto")]
    pub capture: CaptureArg,
    /// Where to record: a SQLite file or postgres://… [default: the state
    /// directory's history.sqlite; with --jsonl, nothing unless given].
    #[arg(long, value_name = "PATH|URL", env = "PORTHOLE_STORE")]
    pub store: Option<String>,
    /// Delete raw records older than this, with a unit (e.g. 7d, 36h); hourly
    /// totals are kept longer, and so is the start of a listener still
    /// listening [default: 7d].
    #[arg(allow_hyphen_values = true, long, value_name = "SPAN")]
    pub keep: Option<String>,
    /// Prune the oldest connections once the store is larger than this
    /// (e.g. 500M, 2G) [default: no cap].
    #[arg(allow_hyphen_values = true, long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// The machine's name in a PostgreSQL store shared by many machines
    /// [default: the host name, `uname -n`]; give each machine its own
    /// when several share a host name (containers, cloned VMs).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Also serve the dashboard and /metrics on ADDR [default:
    /// 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_SERVE)]
    pub serve: Option<String>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// `porthole monitor`'s alerts: which rules, and where alerts go.
#[derive(Debug, Args)]
#[command(next_help_heading = "Alerts")]
pub struct AlertArgs {
    /// Alert rules (TOML) [default: $XDG_CONFIG_HOME/porthole/alerts.toml,
    /// else /etc/porthole/alerts.toml, else built-in rules].
    #[arg(long, value_name = "FILE", conflicts_with = "no_alerts")]
    pub alerts: Option<std::path::PathBuf>,
    /// Raise no alerts.
    #[arg(long, conflicts_with_all = ["on_alert", "webhook"])]
    pub no_alerts: bool,
    /// Run this shell command for each alert, the alert's JSON on its
    /// stdin (killed after the configured timeout, 10s by default).
    #[arg(long, value_name = "CMD")]
    pub on_alert: Option<String>,
    /// POST each alert's JSON to this http:// URL, from a queue that never
    /// holds up recording.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
}

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_SERVE: &str = "127.0.0.1:7878";

const DASHBOARD_HELP: &str = "\
Shows the listeners now (exposure, firewall, owners, audit findings), the
connections of the last hour and the open ones, who held a port over the last
day, and what changed; /metrics has the same for Prometheus.

Access needs the token porthole prints as a URL (http://127.0.0.1:7878/?token=…)
when stderr is a terminal, and keeps in dashboard.token in the state directory
(mode 0600).

Examples:
  porthole monitor --serve                       record and serve on 127.0.0.1:7878
  porthole dashboard                             serve the default store's history
  porthole dashboard --serve 127.0.0.1:9000 --metrics-public
  porthole dashboard --serve 0.0.0.0:7878 --expose --allow-host box.lan";

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The store to read: a SQLite file or postgres://… [default: the state
    /// directory's history.sqlite].
    #[arg(long, value_name = "PATH|URL", env = "PORTHOLE_STORE")]
    pub store: Option<String>,
    /// Address to serve on.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_SERVE)]
    pub serve: String,
    #[command(flatten)]
    pub web: WebArgs,
}

/// How the dashboard is served (shared by `monitor --serve` and
/// `dashboard`).
#[derive(Debug, Args, Clone, Default)]
pub struct WebArgs {
    /// Allow serving on a non-loopback address: other devices can then
    /// reach the dashboard (the token is still required).
    #[arg(long)]
    pub expose: bool,
    /// Serve /metrics without the token.
    #[arg(long)]
    pub metrics_public: bool,
    /// Also accept this name in the Host header (e.g. the machine's name when
    /// exposed); may be repeated.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Where the access token is kept [default: dashboard.token in the state
    /// directory].
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
}

const HISTORY_HELP: &str = "\
Answers from the record `porthole monitor` keeps (by default
/var/lib/porthole/history.sqlite for root, else
$XDG_STATE_HOME/porthole/history.sqlite or ~/.local/state/porthole/history.sqlite).
Connections are grouped per client program (same executable, arguments and
user; --by process for one line per process) and server address, and per
server program when several programs served it (each group then names its
server, and --each adds a SERVER PROCESS column); --each lists them one by
one. A connection belongs to the window when it started in it
(or ended in it, when its start was not seen). Times are UTC.

Times: --since 2h (also 30m, 90s, 7d) or --since 2026-11-28T09:00 (UTC;
seconds, their fraction and a trailing Z are optional; a bare date is
midnight; an offset such as 2026-11-28T10:00+01:00 gives a local time), a
time of day today (--since 09:00, UTC unless an offset follows) or on a
named day (--since 'yesterday 22:00'), today or yesterday (midnight UTC),
now, or Unix seconds as @1795860000. A --since later than now is refused
rather than answered with nothing.

Examples:
  porthole history 5432                     who listened on 5432, who connected
  porthole history 127.0.0.1:6379 --since 1h
  porthole history --process python3       everything python3 did
  porthole history 3000 --listeners         only who held port 3000 and when
  porthole history 5432 --each --jsonl      every single connection, as JSON Lines
  porthole history 5432 --store postgres://porthole@db/history --host web-1

Exit status: 0 when records match, 1 when none do, 2 on error.";

/// `porthole history --by`: what one client line stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientGroupingArg {
    /// Every process of one program: same executable, command line and user.
    Program,
    /// Every process on its own line.
    Process,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// PORT, HOST:PORT, or [IPv6]:PORT, with /udp or /tcp after it (or
    /// udp: or tcp: before it) for one transport's listeners, or unix:PATH
    /// (every port when omitted).
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    /// Start of the window: a duration ago (2h, 30m, 7d), a UTC time
    /// (2026-11-28T09:00), a time of day today (09:00) or on a named day
    /// ('yesterday 22:00'), yesterday, now, or Unix seconds (@1795860000).
    #[arg(allow_hyphen_values = true, long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the window (same forms as --since).
    #[arg(allow_hyphen_values = true, long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only records involving a process whose name or executable's file
    /// name contains NAME, or with an argument that is NAME or ends in
    /// /NAME (a script: --process app.py).
    // Not necessarily UTF-8: a recorded name may hold any bytes.
    #[arg(long, value_name = "NAME")]
    pub process: Option<std::ffi::OsString>,
    /// Only listener changes.
    #[arg(long, conflicts_with = "connections")]
    pub listeners: bool,
    /// Only connections.
    #[arg(long)]
    pub connections: bool,
    /// Every single connection instead of one line per client.
    #[arg(long)]
    pub each: bool,
    /// Most single connections --each prints.
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "N",
        default_value = "1000",
        requires = "each"
    )]
    pub limit: String,
    /// One client line per program (processes of the same executable,
    /// command line and user added up, as a cron job's or a shell loop's)
    /// or per process (pid and start time). Not with --each, which lists
    /// single connections.
    #[arg(
        long,
        value_enum,
        value_name = "GROUPING",
        default_value = "program",
        conflicts_with = "each"
    )]
    pub by: ClientGroupingArg,
    /// Only records of this machine (in a store shared by several).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// The store to read: a SQLite file or postgres://… [default: the state
    /// directory's history.sqlite].
    #[arg(long, value_name = "PATH|URL", env = "PORTHOLE_STORE")]
    pub store: Option<String>,
    /// Output as one JSON document.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Output as JSON Lines: one object per record.
    #[arg(long)]
    pub jsonl: bool,
}
