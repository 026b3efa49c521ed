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
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  porthole completions bash > /etc/bash_completion.d/porthole\n  porthole completions zsh > \"${fpath[1]}/_porthole\"\n  porthole completions fish > ~/.config/fish/completions/porthole.fish"
    )]
    Completions(CompletionsArgs),
    /// Fault-injection TCP proxy with the Toxiproxy 2.12 API.
    #[command(
        after_help = "Examples:\n  porthole proxy serve                                   Toxiproxy-compatible API on 127.0.0.1:8474\n  porthole proxy create pg --upstream 127.0.0.1:5432\n  porthole proxy toxic add pg -t latency -a latency=100\n  porthole proxy run 127.0.0.1:15432 --to 127.0.0.1:5432 --latency 100ms"
    )]
    Proxy(ProxyArgs),
    /// Print the man page (roff) to stdout.
    #[command(after_help = "Example:\n  porthole man | man -l -")]
    Man,
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

/// `porthole proxy …`: the Toxiproxy-compatible fault-injection proxy.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Boxed: the proxy flags would otherwise make every `Command` large.
    #[command(subcommand)]
    pub command: Box<ProxyCommand>,
}

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
        after_help = "Examples:\n  porthole proxy create pg --listen 127.0.0.1:15432 --upstream 127.0.0.1:5432\n  porthole proxy create redis --upstream localhost:6379     listens on 127.0.0.1:<free port>"
    )]
    Create(ProxyCreateArgs),
    /// List the proxies of a running server.
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  porthole proxy list\n  porthole proxy list --json\n  TOXIPROXY_URL=http://127.0.0.1:9474 porthole proxy list"
    )]
    List(ProxyListArgs),
    /// Show one proxy and its toxics.
    #[command(
        after_help = "Examples:\n  porthole proxy inspect pg\n  porthole proxy inspect pg --json"
    )]
    Inspect(ProxyNameArgs),
    /// Enable a disabled proxy, or disable (take down) an enabled one.
    #[command(
        after_help = "Example:\n  porthole proxy toggle pg     clients now get \"connection refused\"; run again to restore"
    )]
    Toggle(ProxyNameArgs),
    /// Delete a proxy (closes its listener and connections).
    #[command(after_help = "Example:\n  porthole proxy delete pg")]
    Delete(ProxyNameArgs),
    /// Add, update or remove toxics.
    #[command(
        after_help = "Examples:\n  porthole proxy toxic add pg -t latency -a latency=100 -a jitter=10\n  porthole proxy toxic update pg -n latency_downstream -a latency=500\n  porthole proxy toxic remove pg -n latency_downstream"
    )]
    Toxic(ProxyToxicArgs),
}

/// Where the proxy API is, for the client commands.
#[derive(Debug, Args)]
pub struct ProxyApiArgs {
    /// API base URL.
    #[arg(
        long,
        visible_alias = "host",
        value_name = "URL",
        env = "TOXIPROXY_URL",
        default_value = "http://localhost:8474"
    )]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct ProxyServeArgs {
    /// Address for the HTTP API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8474")]
    pub listen: String,
    /// JSON file of proxies (and toxics) to create at start.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Also accept this Host name on the API (repeatable); loopback names
    /// are always accepted.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProxyRunArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(value_name = "LISTEN")]
    pub listen: String,
    /// Upstream address to forward to.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Delay every chunk (e.g. 100ms, 1s).
    #[arg(long, value_name = "DURATION")]
    pub latency: Option<String>,
    /// Random ± variation of --latency.
    #[arg(long, value_name = "DURATION", requires = "latency")]
    pub jitter: Option<String>,
    /// Limit throughput (e.g. 100KB/s, 1MB/s; 1 KB = 1000 bytes).
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// Hold a close back this long.
    #[arg(long, value_name = "DURATION")]
    pub slow_close: Option<String>,
    /// Drop all data and close after this long (0 = hang forever).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Reset (RST) the connection this long after the first data.
    #[arg(long, value_name = "DURATION")]
    pub reset_peer: Option<String>,
    /// Close each connection after this many bytes (e.g. 512, 10KB, 1MB).
    #[arg(long, value_name = "BYTES")]
    pub limit_data: Option<String>,
    /// Cut data into slices of about this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub slicer: Option<String>,
    /// Pause between slices.
    #[arg(
        long,
        value_name = "DURATION",
        requires = "slicer",
        default_value = "0ms"
    )]
    pub slice_delay: String,
    /// Probability (0 to 1) that a connection gets the toxics.
    #[arg(long, value_name = "P", default_value = "1")]
    pub toxicity: f32,
    /// Apply the toxics to client → server data instead of server → client.
    #[arg(long)]
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
    #[arg(short = 'n', long, value_name = "NAME")]
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
    #[arg(long, visible_alias = "tox", value_name = "P")]
    pub toxicity: Option<f32>,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyToxicUpdateArgs {
    /// Proxy name.
    pub proxy: String,
    /// Toxic name.
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: String,
    /// Attribute as KEY=INTEGER (repeatable).
    #[arg(short = 'a', long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// New toxicity (0 to 1).
    #[arg(long, visible_alias = "tox", value_name = "P")]
    pub toxicity: Option<f32>,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}

#[derive(Debug, Args)]
pub struct ProxyToxicRemoveArgs {
    /// Proxy name.
    pub proxy: String,
    /// Toxic name.
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub api: ProxyApiArgs,
}
