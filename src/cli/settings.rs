//! Resolution of parsed arguments into validated settings: ports, states and
//! endpoints are parsed here, defaults applied, and every flag destructured
//! so a new one cannot be forgotten.

use anyhow::{bail, Context};

use crate::cli::args::{
    AuditArgs, CheckArgs, FreeArgs, HoldArgs, KillArgs, LsArgs, NetnsArg, ScopeArg, WaitArgs,
    WhoArgs,
};
use crate::cli::duration::BareNumber;
use crate::cli::proxy as proxy_flags;
use crate::inventory::{NamespaceSelection, Query};
use crate::model::PortSet;
use crate::model::SocketState;
use crate::render::Format;
use crate::target::Endpoint;

/// Which bind scopes `ls` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeFilter {
    Loopback,
    Exposed,
    Wildcard,
    Specific,
}

/// Everything `porthole ls` needs, validated.
#[derive(Debug, Clone)]
pub struct LsSettings {
    pub query: Query,
    pub pid: Option<u32>,
    pub process_name: Option<String>,
    pub scope: Option<ScopeFilter>,
    pub state: Option<SocketState>,
    pub format: Format,
    /// Show full command lines.
    pub long: bool,
}

impl LsSettings {
    pub fn resolve(args: LsArgs) -> anyhow::Result<Self> {
        let LsArgs {
            all,
            tcp,
            udp,
            unix,
            raw,
            ipv4,
            ipv6,
            port,
            pid,
            process,
            scope,
            state,
            netns,
            no_owners,
            long,
            json,
            jsonl,
        } = args;
        // `--port 22/tcp` as fuser writes it selects as -t does; `:22` as
        // lsof writes it is port 22.
        let (port, tcp, udp) = match port {
            Some(text) => {
                let (list, transport) = crate::target::split_transport(&text)
                    .with_context(|| format!("--port '{}'", sanitize(&text)))?;
                let (tcp, udp) = with_transport(tcp, udp, transport)
                    .with_context(|| format!("--port '{}'", sanitize(&text)))?;
                let list = list.trim();
                let list =
                    list.strip_prefix("*:").or_else(|| list.strip_prefix(':')).unwrap_or(list);
                // The list is read without the prefix and quoted as typed.
                (Some((list.to_string(), text)), tcp, udp)
            }
            None => (None, tcp, udp),
        };
        let any_protocol = tcp || udp || unix || raw;
        // Unix sockets have no port, IP family or address scope: asked for
        // alone with one of those filters, `-x` could only print an empty
        // table, which reads as "no such socket".
        let ip_filter =
            [(port.is_some(), "--port"), (ipv4, "-4"), (ipv6, "-6"), (scope.is_some(), "--scope")]
                .into_iter()
                .find_map(|(given, flag)| given.then_some(flag));
        if let (true, false, false, false, Some(flag)) = (unix, tcp, udp, raw, ip_filter) {
            bail!(
                "{flag} cannot be combined with -x alone: Unix sockets have no port, IP family \
                 or address scope (add -t or -u for TCP or UDP sockets)"
            );
        }
        // A raw socket has an IP protocol, not a port.
        if let (true, false, false, Some(_)) = (raw, tcp, udp, &port) {
            bail!(
                "--port cannot be combined with -w alone: raw sockets have no port (their IP \
                 protocol is shown in its place)"
            );
        }
        let ports = port
            .as_ref()
            .map(|(list, typed)| {
                // No socket the kernel lists has local port 0 (a bind picks
                // one), so 0 could only print an empty table.
                PortSet::parse_for(list, crate::target::PortZero::Refused)
                    .with_context(|| format!("--port '{}'", sanitize(typed)))
            })
            .transpose()?;
        let state = state
            .as_deref()
            .map(|text| {
                SocketState::parse_user(text).with_context(|| {
                    format!("--state: unknown state '{text}' (expected LISTEN, ESTAB, TIME-WAIT, UNCONN, SYN-SENT, SYN-RECV, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING)")
                })
            })
            .transpose()?;
        let pid = pid.as_deref().map(|text| parse_pid(text).context("--pid")).transpose()?;
        // The name's exact bytes, in the model's encoding of process text,
        // so that a name that is not UTF-8 matches the same bytes.
        let process = process.map(|name| crate::model::os_text::from_os_str(&name));
        // An empty name would match every process; `history --process`
        // refuses it the same way.
        if process.as_deref().is_some_and(str::is_empty) {
            bail!("--process: empty name");
        }
        let (namespaces, named_namespace) = resolve_netns(&netns)?;
        if no_owners && (pid.is_some() || process.is_some()) {
            bail!("--no-owners cannot be combined with --pid or --process");
        }
        // An explicit non-listening state implies --all.
        let listeners_only = !all && state.is_none_or(|s| s == SocketState::Listen);
        let query = Query {
            tcp: !any_protocol || tcp,
            udp: !any_protocol || udp,
            // Unix sockets have no ports, addresses or IP families.
            unix: (!any_protocol || unix) && ports.is_none() && !ipv4 && !ipv6 && scope.is_none(),
            // Never listeners: asked for by name, or with every socket.
            raw: (raw || (!any_protocol && !listeners_only)) && ports.is_none(),
            ipv4: !ipv6 || ipv4,
            ipv6: !ipv4 || ipv6,
            listeners_only,
            ports,
            match_remote_port: false,
            owners: !no_owners,
            owner_limit: crate::inventory::owners::ScanLimit::AllOwners,
            namespaces,
            named_namespace,
            backend: Default::default(),
            connected_only: false,
            // `-a` is every socket: a bound, idle one (`UNCONN`) too.
            bound: !listeners_only,
            // Socket activation is shown in the JSON forms only.
            launch_environment: json || jsonl,
        };
        let scope = scope.map(|s| match s {
            ScopeArg::Loopback => ScopeFilter::Loopback,
            ScopeArg::Exposed => ScopeFilter::Exposed,
            ScopeArg::Wildcard => ScopeFilter::Wildcard,
            ScopeArg::Specific => ScopeFilter::Specific,
        });
        let format = if json {
            Format::Json
        } else if jsonl {
            Format::Jsonl
        } else {
            Format::Table
        };
        Ok(LsSettings { query, pid, process_name: process, scope, state, format, long })
    }
}

/// Everything `porthole PORT` needs, validated.
#[derive(Debug, Clone)]
pub struct WhoSettings {
    pub endpoint: Endpoint,
    pub tcp: bool,
    pub udp: bool,
    pub namespaces: NamespaceSelection,
    /// `--netns NAME|PATH`: the one namespace to look in.
    pub named_namespace: Option<crate::inventory::NamespaceHandle>,
    pub format: Format,
}

impl WhoSettings {
    pub fn resolve(args: WhoArgs) -> anyhow::Result<Self> {
        let WhoArgs { endpoint, tcp, udp, netns, json } = args;
        // Quoted without a password a pasted URL may hold.
        let quoted = || format!("'{}'", crate::diagnose::target::redact_password(&endpoint));
        // `5432/tcp` as fuser and porthole's audit write it: -t.
        let (text, transport) = crate::target::split_transport(&endpoint).with_context(quoted)?;
        // `-t` or `-u` as typed, for the listing suggested below.
        let flag = match (tcp, udp) {
            (true, false) => " -t",
            (false, true) => " -u",
            _ => "",
        };
        let (tcp, udp) = with_transport(tcp, udp, transport).with_context(quoted)?;
        // `porthole 3000-3010` or `80,443`: several ports, which `ls
        // --port` takes as typed (with its `/tcp` or `tcp:`), where "not a
        // port number" would leave the user guessing.
        let list = text.trim();
        let list = list.strip_prefix("*:").or_else(|| list.strip_prefix(':')).unwrap_or(list);
        if list.contains([',', '-'])
            && crate::model::PortSet::parse_for(list, crate::target::PortZero::Refused).is_ok()
        {
            let program = crate::sys::executable::program_for(crate::sys::executable::Runner::User);
            bail!(
                "{}: porthole PORT asks about one port; the listeners on several are listed by: \
                 {program} ls --port {}{flag}",
                quoted(),
                crate::shell::word(endpoint.trim())
            );
        }
        let parsed = Endpoint::parse(text).with_context(quoted)?;
        let (namespaces, named_namespace) = resolve_netns(&netns)?;
        Ok(WhoSettings {
            endpoint: parsed,
            tcp: tcp || !udp,
            udp: udp || !tcp,
            namespaces,
            named_namespace,
            format: if json { Format::Json } else { Format::Table },
        })
    }
}

/// `porthole kill PORT --dry-run`, with the family of `host` (`-4`, `-6`),
/// the transport flag and the namespace typed: the run that shows what `kill`
/// would stop on the port of an address.
fn kill_dry_run(
    port: u16,
    host: &crate::target::Host,
    (tcp, udp): (bool, bool),
    netns: &str,
) -> String {
    use crate::target::Host;
    let program = crate::sys::executable::program_for(crate::sys::executable::Runner::User);
    let mut command = format!("{program} kill {port}");
    match host {
        Host::Ip(std::net::IpAddr::V4(_)) => command.push_str(" -4"),
        Host::Ip(std::net::IpAddr::V6(_)) | Host::Scoped { .. } => command.push_str(" -6"),
        Host::Name(_) => {}
    }
    match (tcp, udp) {
        (true, false) => command.push_str(" -t"),
        (false, true) => command.push_str(" -u"),
        _ => {}
    }
    if netns != "current" {
        command.push_str(&format!(" --netns {}", crate::shell::word(netns)));
    }
    command.push_str(" --dry-run");
    command
}

/// The `-t`/`-u` flags with a transport typed after a port (`3000/tcp`)
/// folded in; the other flag beside it contradicts it.
fn with_transport(
    tcp: bool,
    udp: bool,
    transport: Option<crate::target::Transport>,
) -> anyhow::Result<(bool, bool)> {
    use crate::target::Transport;
    match transport {
        None => Ok((tcp, udp)),
        Some(Transport::Tcp) if udp => {
            bail!("/tcp after the port and --udp ask for both; give one")
        }
        Some(Transport::Udp) if tcp => {
            bail!("/udp after the port and --tcp ask for both; give one")
        }
        Some(Transport::Tcp) => Ok((true, false)),
        Some(Transport::Udp) => Ok((false, true)),
    }
}

/// `--netns` of `ls`, `porthole PORT`, `kill` and `audit`: `current` (the default),
/// `all`, a name from `ip netns list`, or a path to a namespace file.
pub fn resolve_netns(
    text: &str,
) -> anyhow::Result<(NamespaceSelection, Option<crate::inventory::NamespaceHandle>)> {
    match text {
        "current" => Ok((NamespaceSelection::Current, None)),
        "all" => Ok((NamespaceSelection::All, None)),
        "" => bail!("--netns '': expected current, all, a name from `ip netns list` or a path such as /proc/PID/ns/net"),
        _ => {
            let handle = crate::inventory::namespaces::lookup(text)
                .with_context(|| format!("--netns '{text}'"))?;
            Ok((NamespaceSelection::Current, Some(handle)))
        }
    }
}

/// `--netns NAME|PATH` of the commands that work in one namespace
/// (`check`, `wait`, `free`, `top`): absent or `current` stays in the
/// caller's namespace; `all` is refused, since the command answers for one.
pub fn resolve_one_netns(
    text: Option<&str>,
) -> anyhow::Result<Option<crate::inventory::NamespaceHandle>> {
    match text {
        None | Some("current") => Ok(None),
        Some("all") => bail!("--netns all: this command works in one network namespace; give a name from `ip netns list` or a path such as /proc/PID/ns/net"),
        Some(text) => match resolve_netns(text)? {
            (_, Some(handle)) => Ok(Some(handle)),
            (_, None) => Ok(None),
        },
    }
}

pub fn netns_selection(netns: NetnsArg) -> NamespaceSelection {
    match netns {
        NetnsArg::Current => NamespaceSelection::Current,
        NetnsArg::All => NamespaceSelection::All,
    }
}

/// The value of a flag clap may have filled from the environment variable
/// `variable`: an empty variable (`PORTHOLE_STORE=`, as compose and unit
/// files leave one) is unset, as `porthole PORT` reads it, rather than an
/// empty flag the user never typed.
pub fn unless_empty_variable(value: Option<String>, variable: &str) -> Option<String> {
    let empty_variable = std::env::var_os(variable).is_some_and(|text| text.is_empty());
    value.filter(|text| !(text.is_empty() && empty_variable))
}

/// Parses a pid (a positive decimal number).
pub fn parse_pid(text: &str) -> anyhow::Result<u32> {
    match parse_count(text).map(u32::try_from) {
        Some(Ok(pid)) if pid > 0 => Ok(pid),
        _ => bail!("'{text}' is not a process id"),
    }
}

/// Parses the number given to a numeric option (a count, a limit, a pid):
/// the forms a port number takes ([`crate::target::parse_decimal`]), with
/// surrounding blanks ignored as `kill` and `free` ignore them around a
/// port. `None` for anything else; the caller names the option and range.
pub fn parse_count(text: &str) -> Option<u128> {
    crate::target::parse_decimal(text.trim())
}

/// For a target typed as a bare file path (`/run/app.sock`, `./app.sock`),
/// the form that names a Unix socket, which the parser would otherwise
/// read as a host name missing its port.
fn socket_path_hint(text: &str) -> Option<String> {
    let path_like = ["/", "./", "../", "~/"].iter().any(|start| text.starts_with(start));
    (path_like && !text.contains("://"))
        .then(|| format!("a Unix socket is written unix:{}", sanitize(text)))
}

fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    crate::render::sanitize::sanitize(text)
}

/// Everything `porthole kill` needs, validated.
#[derive(Debug, Clone)]
pub struct KillSettings {
    pub request: crate::termination::Request,
    pub method: crate::termination::Method,
    pub settle: std::time::Duration,
    pub yes: bool,
    pub dry_run: bool,
    pub no_fail: bool,
    pub format: Format,
}

impl KillSettings {
    pub fn resolve(args: KillArgs) -> anyhow::Result<Self> {
        let KillArgs {
            ports,
            tcp,
            udp,
            ipv4,
            ipv6,
            yes,
            grace,
            signal,
            settle,
            force,
            allow_ancestors,
            dry_run,
            no_fail,
            netns,
            json,
        } = args;
        let (namespaces, named_namespace) = resolve_netns(&netns)?;
        // `3000/tcp` as `fuser -k 3000/tcp` takes it: -t for the run, so
        // every port that names a transport names the same one.
        let (mut tcp, mut udp) = (tcp, udp);
        let mut transport_typed = None;
        let mut ports_typed = Vec::with_capacity(ports.len());
        for text in &ports {
            let (port, transport) = crate::target::split_transport(text)
                .with_context(|| format!("'{}'", sanitize(text)))?;
            if let Some(transport) = transport {
                match transport_typed.replace(transport) {
                    Some(other) if other != transport => bail!(
                        "'{}': /{other} and /{transport} in one run; porthole kill stops one transport or both (give no /tcp, /udp, tcp: or udp:)",
                        sanitize(text)
                    ),
                    _ => {}
                }
                (tcp, udp) = with_transport(tcp, udp, Some(transport))?;
            }
            // `:3000` as `lsof -i :3000` takes it, `*:3000` as ss prints it.
            let port = port.trim();
            let port = port.strip_prefix("*:").or_else(|| port.strip_prefix(':')).unwrap_or(port);
            // `kill 127.0.0.1:8080`, copied from `porthole 127.0.0.1:8080`:
            // kill stops a port's listeners on every address, so the run
            // that shows which is named rather than "not a port number".
            if let Ok(Endpoint { host: Some(host), port: number }) = Endpoint::parse(port) {
                bail!(
                    "'{}': porthole kill takes ports, not addresses, and stops the listeners of a \
                     port on every address; to see which: {}",
                    sanitize(text),
                    kill_dry_run(number, &host, (tcp, udp), &netns)
                );
            }
            ports_typed.push(port.to_string());
        }
        let mut parsed = Vec::new();
        for text in &ports_typed {
            // `3000-3010` and `3000,3005`, as `ls --port` takes them.
            let items = crate::model::ports::list_items(text)
                .with_context(|| format!("port list '{text}'"))?;
            let items = if items.is_empty() { vec![text.as_str()] } else { items };
            for item in items {
                let (low, high) = match item.trim().split_once('-') {
                    Some((low, _)) if !low.is_empty() => {
                        parse_range(item.trim()).with_context(|| format!("port range '{item}'"))?
                    }
                    _ => {
                        let port = parse_port(item)?;
                        (port, port)
                    }
                };
                for port in low..=high {
                    if !parsed.contains(&port) {
                        parsed.push(port);
                    }
                    if parsed.len() > MAX_KILL_PORTS {
                        bail!(
                            "'{text}': more than {MAX_KILL_PORTS} ports; porthole kill takes at most {MAX_KILL_PORTS} at once"
                        );
                    }
                }
            }
        }
        let grace = parse_duration(&grace).with_context(|| format!("--grace '{grace}'"))?;
        let settle = parse_duration(&settle).with_context(|| format!("--settle '{settle}'"))?;
        let method = match signal {
            None => crate::termination::Method::Graceful { grace },
            Some(name) => {
                // `-9` and `-KILL` as kill(1) writes them.
                let bare = name.strip_prefix('-').unwrap_or(&name);
                if parse_count(bare) == Some(0) {
                    bail!("--signal '{name}': signal 0 sends nothing (kill -0 only checks that a process exists); see who listens with --dry-run");
                }
                let Some(signal) = crate::sys::signal::Signal::parse(bare) else {
                    bail!("--signal '{name}': unknown signal (expected a name such as TERM, INT, HUP, KILL, QUIT, USR1, RTMIN+1, RTMAX-2, or a number 1-64)");
                };
                crate::termination::Method::Single { signal, grace }
            }
        };
        Ok(KillSettings {
            request: crate::termination::Request {
                ports: parsed,
                tcp: tcp || !udp,
                udp: udp || !tcp,
                ipv4: ipv4 || !ipv6,
                ipv6: ipv6 || !ipv4,
                force,
                allow_ancestors,
                namespaces,
                named_namespace,
            },
            method,
            settle,
            yes,
            dry_run,
            no_fail,
            format: if json { Format::Json } else { Format::Table },
        })
    }
}

/// The most ports one `kill` run takes: a range wider than this is more
/// likely a typo than a plan.
const MAX_KILL_PORTS: usize = 1024;

/// The most targets one `wait` run takes. Each target still pending at the
/// timeout is diagnosed in turn (tens of milliseconds each), so 3,000
/// targets (`wait $(seq 1 3000)`) ran for minutes past `--timeout 1s`.
const MAX_WAIT_TARGETS: usize = 256;

/// Everything `porthole free` needs, validated.
#[derive(Debug, Clone)]
pub struct FreeSettings {
    pub request: crate::allocation::Request,
    pub hold: Option<std::time::Duration>,
    /// `--netns NAME|PATH`: the namespace whose ports to search.
    pub namespace: Option<crate::inventory::NamespaceHandle>,
    pub format: Format,
}

/// The most ports one `free` run hands out.
const MAX_FREE_COUNT: usize = 1000;

impl FreeSettings {
    pub fn resolve(args: FreeArgs) -> anyhow::Result<Self> {
        let FreeArgs { count, range, prefer, name, exclude, udp, hold, netns, json } = args;
        let count = match parse_count(&count).and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=MAX_FREE_COUNT).contains(&n) => n,
            _ => bail!("--count '{count}': expected a number from 1 to {MAX_FREE_COUNT}"),
        };
        let range = range
            .as_deref()
            .map(|text| parse_range(text).with_context(|| format!("--range '{text}'")))
            .transpose()?;
        let prefer = prefer
            .as_deref()
            .map(|text| parse_port(text).with_context(|| "--prefer".to_string()))
            .transpose()?;
        if let (Some(port), Some((low, high))) = (prefer, range) {
            if port < low || port > high {
                bail!("--prefer {port} is outside --range {low}-{high}");
            }
        }
        if let Some((low, high)) = range {
            let size = usize::from(high - low) + 1;
            if count > size {
                bail!("--count {count}: --range {low}-{high} has only {size} port(s)");
            }
        }
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            bail!("--name: the name is empty");
        }
        let exclude = exclude
            .as_deref()
            .map(|text| {
                PortSet::parse_for(text, crate::target::PortZero::Refused)
                    .with_context(|| format!("--exclude '{text}'"))
            })
            .transpose()?;
        if let (Some(port), Some(set)) = (prefer, &exclude) {
            if set.contains(port) {
                bail!("--prefer {port} is in --exclude");
            }
        }
        let hold = hold
            .as_deref()
            .map(|text| {
                let duration = parse_duration(text).with_context(|| format!("--hold '{text}'"))?;
                if duration.is_zero() {
                    bail!("--hold '{text}': must be longer than zero");
                }
                Ok(duration)
            })
            .transpose()?;
        Ok(FreeSettings {
            request: crate::allocation::Request {
                range,
                count,
                prefer,
                name,
                exclude,
                hold_udp: udp,
            },
            hold,
            namespace: resolve_one_netns(netns.as_deref())?,
            format: if json { Format::Json } else { Format::Table },
        })
    }
}

/// What the hidden holder process needs.
#[derive(Debug, Clone)]
pub struct HoldSettings {
    pub descriptors: Vec<i32>,
    pub duration: std::time::Duration,
}

impl HoldSettings {
    pub fn resolve(args: HoldArgs) -> Self {
        let HoldArgs { descriptors, millis } = args;
        HoldSettings { descriptors, duration: std::time::Duration::from_millis(millis) }
    }
}

/// Parses a port to stop or claim: 1-65535 (port 0 means "any" to the
/// kernel and can be neither killed nor claimed).
pub fn parse_port(text: &str) -> anyhow::Result<u16> {
    Ok(crate::target::parse_port(text.trim(), crate::target::PortZero::Refused)?)
}

/// Parses `LOW-HIGH` (inclusive, LOW ≤ HIGH, both 1-65535).
pub fn parse_range(text: &str) -> anyhow::Result<(u16, u16)> {
    let Some((low, high)) = text.split_once('-') else {
        bail!("expected LOW-HIGH, e.g. 20000-29999");
    };
    let (low, high) = (parse_port(low)?, parse_port(high)?);
    if low > high {
        bail!("the range is reversed ({low} is greater than {high})");
    }
    Ok((low, high))
}

/// Parses a duration typed for one of the flags that always read a bare
/// number as seconds (see [`crate::cli::duration`] for the rule).
pub fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    Ok(crate::cli::duration::parse_duration(text, BareNumber::Seconds)?)
}

/// Everything `porthole check` needs, validated.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub request: crate::diagnose::Request,
    /// `--netns NAME|PATH`: the namespace to diagnose from.
    pub namespace: Option<crate::inventory::NamespaceHandle>,
    pub format: Format,
}

impl CheckSettings {
    pub fn resolve(args: CheckArgs) -> anyhow::Result<Self> {
        let CheckArgs { target, bind, from, netns, timeout, status, json } = args;
        let client = match from.as_deref() {
            None => crate::diagnose::Client::Current,
            Some(text) => {
                let pid = parse_pid(text).context("--from")?;
                let system = crate::inventory::system::Machine;
                if !crate::inventory::system::System::exists(&system, &format!("/proc/{pid}")) {
                    bail!("--from {pid}: no such process");
                }
                crate::diagnose::Client::Process(pid)
            }
        };
        // A service URL's missing parts come from the client's variables:
        // porthole's own, or those of the --from process.
        let environment = client.environment(&crate::inventory::system::Machine);
        // libpq's several hosts: the first is the target, the others are
        // tried in turn after it.
        let (target, from_environment, then) = match target.as_deref() {
            Some(text) => {
                let mut hosts = crate::diagnose::parse_hosts_as_client(
                    &crate::inventory::system::Machine,
                    client,
                    text,
                    &environment,
                )
                .map_err(|error| match socket_path_hint(text) {
                    // The parser's "missing port after 'PATH:'" would quote
                    // a colon never typed.
                    Some(hint) => anyhow::anyhow!("target '{}': {hint}", sanitize(text)),
                    None => anyhow::Error::new(error).context(format!(
                        "target '{}'",
                        crate::diagnose::target::redact_password(text)
                    )),
                })?;
                let then = hosts.split_off(1);
                let (target, used) = hosts.pop().expect("at least one host");
                (Some(target), used, then)
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let bind = bind.as_deref().map(parse_bind).transpose()?;
        if target.is_none() && bind.is_none() {
            bail!("nothing to check: give a TARGET, --bind ADDR:PORT, or both");
        }
        let mut namespace = resolve_one_netns(netns.as_deref())?;
        if let (crate::diagnose::Client::Process(pid), Some(handle)) = (client, &namespace) {
            // --from already diagnoses from the process's namespace: the two
            // agree, or the question has no answer.
            let system = crate::inventory::system::Machine;
            let theirs = crate::inventory::system::System::net_namespace_of(&system, pid);
            if theirs != Some(handle.inode) {
                bail!(
                    "--from {pid} and --netns '{}' name different network namespaces (--from already checks from the process's own)",
                    netns.as_deref().unwrap_or_default()
                );
            }
            namespace = None;
        }
        let timeout =
            parse_positive_duration(&timeout).with_context(|| format!("--timeout '{timeout}'"))?;
        let statuses = crate::diagnose::readiness::StatusSet::parse(&status)
            .with_context(|| format!("--status '{status}'"))?;
        Ok(CheckSettings {
            request: crate::diagnose::Request {
                target,
                from_environment,
                bind,
                client,
                timeout,
                statuses,
                then,
            },
            namespace,
            format: if json { Format::Json } else { Format::Table },
        })
    }
}

/// `--bind ADDR:PORT` (an IP literal: a bind address is never a name).
fn parse_bind(text: &str) -> anyhow::Result<std::net::SocketAddr> {
    let endpoint = Endpoint::parse(text).with_context(|| format!("--bind '{text}'"))?;
    match endpoint.host {
        Some(crate::target::Host::Ip(ip)) => Ok(std::net::SocketAddr::new(ip, endpoint.port)),
        // A link-local bind needs its interface: keep the zone's scope id.
        Some(host @ crate::target::Host::Scoped { address, .. }) => {
            Ok(host.socket_address(std::net::IpAddr::V6(address), endpoint.port))
        }
        _ => bail!(
            "--bind '{text}': expected an IP address and a port, e.g. 127.0.0.1:8080 or [::]:80"
        ),
    }
}

/// Everything `porthole wait` needs, validated.
#[derive(Debug, Clone)]
pub struct WaitSettings {
    pub targets: Vec<crate::diagnose::Target>,
    /// Per target, the parts its client's variables filled in.
    pub from_environment: Vec<Vec<crate::diagnose::target::FromEnvironment>>,
    pub any: bool,
    pub readiness: crate::diagnose::readiness::Readiness,
    /// `None` waits forever (`--timeout 0`).
    pub timeout: Option<std::time::Duration>,
    pub interval: std::time::Duration,
    pub max_interval: std::time::Duration,
    pub down: bool,
    pub quiet: bool,
    pub format: Format,
    pub command: Vec<String>,
    /// `--netns NAME|PATH`: the namespace to poll in (the command runs in
    /// the caller's).
    pub namespace: Option<crate::inventory::NamespaceHandle>,
}

impl WaitSettings {
    pub fn resolve(args: WaitArgs) -> anyhow::Result<Self> {
        let WaitArgs {
            targets,
            command,
            any,
            status,
            body,
            timeout,
            interval,
            max_interval,
            connect_timeout,
            down,
            netns,
            quiet,
            json,
        } = args;
        let namespace = resolve_one_netns(netns.as_deref())?;
        // The command after `--` runs with porthole's environment (in the
        // caller's namespace, even with --netns): its client variables fill
        // what a service URL leaves out.
        let environment =
            crate::inventory::system::System::own_environment(&crate::inventory::system::Machine);
        let given = targets.len();
        if given > MAX_WAIT_TARGETS {
            bail!(
                "{given} targets: porthole wait takes at most {MAX_WAIT_TARGETS} at once (a \
                 command to run once ready goes after --: porthole wait TARGET… -- COMMAND…)"
            );
        }
        let hosts: Vec<Vec<_>> = targets
            .iter()
            .enumerate()
            .map(|(position, text)| {
                crate::diagnose::parse_hosts_as_client(
                    &crate::inventory::system::Machine,
                    crate::diagnose::Client::Current,
                    text,
                    &environment,
                )
                .map_err(|error| {
                    // `wait 5432 ./server --port 80`: a word after a target
                    // with no port in it is most likely a command whose
                    // `--` was forgotten.
                    if position > 0 && !text.contains(':') && text.parse::<u32>().is_err() {
                        anyhow::Error::new(error).context(format!(
                            "target '{}' (a command to run once ready goes after --: porthole wait TARGET… -- COMMAND…)",
                            sanitize(text)
                        ))
                    } else if let Some(hint) = socket_path_hint(text) {
                        // The parser's "missing port after 'PATH:'" would
                        // quote a colon never typed.
                        anyhow::anyhow!("target '{}': {hint}", sanitize(text))
                    } else {
                        anyhow::Error::new(error).context(format!(
                            "target '{}'",
                            crate::diagnose::target::redact_password(text)
                        ))
                    }
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // libpq's several hosts (`postgres://h1,h2/db`): the client is
        // connected once one of them takes it, and cannot be once none does.
        let mut any = any;
        if let Some(several) = hosts.iter().position(|hosts| hosts.len() > 1) {
            if given > 1 && !any && !down {
                bail!(
                    "target '{}' names several hosts, ready when one of them is: give it as the only target, or use --any",
                    crate::diagnose::target::redact_password(&targets[several])
                );
            }
            any = any || !down;
        }
        let (mut targets, from_environment): (Vec<_>, Vec<_>) = hosts.into_iter().flatten().unzip();
        // prefer-standby decides which host the client takes, not whether
        // it connects: once any host takes it, it is connected.
        for target in &mut targets {
            if let crate::diagnose::Target::Service { libpq, .. } = target {
                if libpq.session == crate::diagnose::target::SessionAttrs::PreferStandby {
                    libpq.session = crate::diagnose::target::SessionAttrs::Any;
                }
            }
        }
        // An HTTP answer is judged by them; a bare TCP or Unix target, or
        // `--down` (nothing accepts connections), never asks: left unused,
        // they would make a wait "ready" that was meant to check more.
        let http = targets.iter().any(|t| matches!(t, crate::diagnose::Target::Http { .. }));
        let flag = [(status.is_some(), "--status"), (body.is_some(), "--body")]
            .into_iter()
            .find_map(|(given, flag)| given.then_some(flag));
        match flag {
            Some(flag) if down => {
                bail!("{flag} does not apply to --down, which waits until nothing accepts connections")
            }
            Some(flag) if !http => bail!(
                "{flag} applies to http:// and https:// targets, and none is given (e.g. http://localhost:8080/health)"
            ),
            _ => {}
        }
        let status = status.unwrap_or_else(|| "200-399".to_string());
        let statuses = crate::diagnose::readiness::StatusSet::parse(&status)
            .with_context(|| format!("--status '{status}'"))?;
        let body = body
            .as_deref()
            .map(|text| {
                regex_lite::Regex::new(text).map_err(|error| {
                    let first = error.to_string();
                    let line = first.lines().last().unwrap_or("invalid regular expression");
                    anyhow::anyhow!("--body '{text}': {}", line.trim())
                })
            })
            .transpose()?;
        let timeout = parse_duration(&timeout).with_context(|| format!("--timeout '{timeout}'"))?;
        let interval = parse_positive_duration(&interval)
            .with_context(|| format!("--interval '{interval}'"))?;
        let max_interval = parse_positive_duration(&max_interval)
            .with_context(|| format!("--max-interval '{max_interval}'"))?;
        if max_interval < interval {
            bail!("--max-interval must not be shorter than --interval");
        }
        let connect_timeout = parse_positive_duration(&connect_timeout)
            .with_context(|| format!("--connect-timeout '{connect_timeout}'"))?;
        Ok(WaitSettings {
            targets,
            from_environment,
            any,
            readiness: crate::diagnose::readiness::Readiness { statuses, body, connect_timeout },
            timeout: (!timeout.is_zero()).then_some(timeout),
            interval,
            max_interval,
            down,
            quiet,
            format: if json { Format::Jsonl } else { Format::Table },
            command,
            namespace,
        })
    }
}

/// A duration that must be above zero.
fn parse_positive_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        bail!("'{text}' must be longer than zero");
    }
    Ok(duration)
}

/// Everything `porthole audit` needs, validated.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub query: Query,
    pub timeout: std::time::Duration,
    pub active: bool,
    /// Keep the password weak-password found in the output.
    pub show: bool,
    /// Entries of `--passwords FILE`.
    pub site_passwords: Vec<crate::audit::probes::login::Credential>,
    pub skip: std::collections::BTreeSet<crate::model::RuleId>,
    /// Ports left out (`--skip-port`); Unix sockets are never left out.
    pub skip_ports: Vec<PortSet>,
    /// `None`: never fail because of findings.
    pub fail_on: Option<crate::model::Severity>,
    pub format: crate::render::audit::AuditFormat,
}

impl AuditSettings {
    pub fn resolve(args: AuditArgs) -> anyhow::Result<Self> {
        use crate::model::{RuleId, Severity};
        use crate::render::audit::AuditFormat;
        let AuditArgs {
            port,
            active,
            show,
            passwords,
            skip,
            skip_port,
            fail_on,
            timeout,
            netns,
            json,
            sarif,
        } = args;
        let (namespaces, named_namespace) = resolve_netns(&netns)?;
        let skip_ports = skip_port
            .iter()
            .map(|text| {
                PortSet::parse_for(text, crate::target::PortZero::Refused)
                    .with_context(|| format!("--skip-port '{text}'"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let site_passwords = match passwords {
            None => Vec::new(),
            Some(path) => {
                let file = crate::sys::input_file::open(&path)
                    .with_context(|| format!("--passwords: reading {}", path.display()))?;
                crate::audit::probes::login::read_password_file(file)
                    .with_context(|| format!("--passwords {}", path.display()))?
            }
        };
        let ports = port
            .as_deref()
            .map(|text| {
                PortSet::parse_for(text, crate::target::PortZero::Refused)
                    .with_context(|| format!("--port '{text}'"))
            })
            .transpose()?;
        // Repeatable, and a comma list too, as `--port` and `--skip-port`.
        let skip = skip
            .iter()
            .flat_map(|names| names.split(','))
            .map(str::trim)
            .map(|name| {
                RuleId::parse(name).with_context(|| {
                    let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                    format!("--skip: unknown rule '{name}' (known: {})", known.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?;
        // Critical: something other devices can use now. A stock loopback
        // Redis or memcached without a password is high (every local user
        // gets in) and would fail every developer machine by default.
        let fail_on = match fail_on.as_deref().map(str::trim) {
            None => Some(Severity::Critical),
            Some("never" | "none") => None,
            Some(text) => Some(Severity::parse(text).with_context(|| {
                format!("--fail-on: unknown severity '{text}' (expected critical, high, medium, low, info or never)")
            })?),
        };
        let timeout =
            parse_probe_timeout(&timeout).with_context(|| format!("--timeout '{timeout}'"))?;
        let query = Query {
            tcp: true,
            udp: true,
            // Unix sockets have no ports: only audited without --port.
            unix: ports.is_none(),
            // The audit is about services; a raw socket serves nobody.
            raw: false,
            ipv4: true,
            ipv6: true,
            listeners_only: true,
            ports,
            match_remote_port: false,
            owners: true,
            owner_limit: crate::inventory::owners::ScanLimit::AllOwners,
            namespaces,
            named_namespace,
            backend: Default::default(),
            connected_only: false,
            bound: false,
            launch_environment: false,
        };
        let format = if json {
            AuditFormat::Json
        } else if sarif {
            AuditFormat::Sarif
        } else {
            AuditFormat::Table
        };
        Ok(AuditSettings {
            query,
            timeout,
            active,
            show,
            site_passwords,
            skip,
            skip_ports,
            fail_on,
            format,
        })
    }
}

/// A probe timeout: a duration between 10 ms and 10 minutes.
pub fn parse_probe_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    let duration = parse_duration(text)?;
    if !(std::time::Duration::from_millis(10)..=std::time::Duration::from_secs(600))
        .contains(&duration)
    {
        bail!("must be between 10ms and 10m");
    }
    Ok(duration)
}

/// The smallest `--max-size` a store is useful under.
const MIN_STORE_SIZE: u64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn ls(args: &[&str]) -> anyhow::Result<LsSettings> {
        let mut full = vec!["porthole", "ls"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Ls(args) => LsSettings::resolve(args),
            _ => unreachable!("parsed an ls command"),
        }
    }

    #[test]
    fn defaults_list_listeners_of_every_protocol() {
        let settings = ls(&[]).unwrap();
        assert!(settings.query.tcp && settings.query.udp && settings.query.unix);
        assert!(settings.query.listeners_only);
        assert!(settings.query.owners);
    }

    #[test]
    fn filters_narrow_the_query() {
        let settings = ls(&["--tcp", "-4", "--port", "80,443"]).unwrap();
        assert!(settings.query.tcp && !settings.query.udp && !settings.query.unix);
        assert!(settings.query.ipv4 && !settings.query.ipv6);
        assert!(settings.query.ports.unwrap().contains(443));
        let settings = ls(&["--state", "time-wait"]).unwrap();
        assert!(!settings.query.listeners_only);
        assert_eq!(settings.state, Some(SocketState::TimeWait));
    }

    #[test]
    fn unix_alone_refuses_filters_unix_sockets_cannot_match() {
        for (args, flag) in [
            (&["-x", "--port", "80"][..], "--port"),
            (&["-x", "-4"][..], "-4"),
            (&["--unix", "-6", "-a"][..], "-6"),
            (&["-x", "--scope", "loopback"][..], "--scope"),
        ] {
            let message = ls(args).expect_err("refused").to_string();
            assert!(
                message.starts_with(&format!("{flag} cannot be combined with -x")),
                "{message}"
            );
        }
        // With TCP or UDP asked for too, the filter applies to those.
        let settings = ls(&["-x", "-t", "--port", "80"]).unwrap();
        assert!(settings.query.tcp && !settings.query.unix);
    }

    #[test]
    fn raw_sockets_come_with_all_or_when_asked_for_and_never_with_ports() {
        assert!(!ls(&[]).unwrap().query.raw, "raw sockets are no listeners");
        assert!(ls(&["-a"]).unwrap().query.raw);
        assert!(!ls(&["-a", "-t"]).unwrap().query.raw);
        let raw = ls(&["-w"]).unwrap().query;
        assert!(raw.raw && !raw.tcp && !raw.udp && !raw.unix);
        assert!(!ls(&["-a", "--port", "80"]).unwrap().query.raw);
        let message = ls(&["-w", "--port", "1"]).expect_err("refused").to_string();
        assert!(message.starts_with("--port cannot be combined with -w"), "{message}");
        // With TCP asked for too, the port selects the TCP sockets.
        assert!(ls(&["-w", "-t", "--port", "80"]).unwrap().query.tcp);
    }

    #[test]
    fn a_process_name_that_is_not_utf8_keeps_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"ev\xff");
        let mut full = vec![std::ffi::OsStr::new("porthole"), "ls".as_ref(), "--process".as_ref()];
        full.push(raw);
        let crate::cli::Command::Ls(args) = Cli::try_parse_from(full).unwrap().command else {
            unreachable!("parsed an ls command")
        };
        let settings = LsSettings::resolve(args).unwrap();
        let name = settings.process_name.unwrap();
        assert_eq!(&*crate::model::os_text::to_bytes(&name), b"ev\xff");
    }

    #[test]
    fn bad_values_name_the_flag() {
        let message = format!("{:#}", ls(&["--port", "abc"]).unwrap_err());
        assert!(message.contains("--port 'abc'"), "{message}");
        assert!(format!("{:#}", ls(&["--port", "9-1"]).unwrap_err()).contains("reversed"));
        assert!(format!("{:#}", ls(&["--state", "nope"]).unwrap_err()).contains("unknown state"));
        assert!(format!("{:#}", ls(&["--pid", "x"]).unwrap_err()).contains("not a process id"));
        assert!(ls(&["-4", "-6"]).is_err());
    }

    #[test]
    fn durations_ports_and_ranges() {
        use std::time::Duration;
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_port(" 8080").unwrap(), 8080);
        assert_eq!(parse_port("0").unwrap_err().to_string(), "port 0 is out of range (1-65535)");
        assert!(parse_port("70000").is_err());
        let message = parse_port("abc").unwrap_err().to_string();
        assert_eq!(message, "'abc' is not a port number (expected 1-65535)");
        assert_eq!(parse_range("20000-29999").unwrap(), (20000, 29999));
        assert!(format!("{:#}", parse_range("9-1").unwrap_err()).contains("reversed"));
        assert!(parse_range("9").is_err());
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("0").unwrap().is_zero());
        for bad in ["", "s", "5x", "-1s", "1..2s", "ms"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_positive_duration("0s").is_err());
    }

    fn wait(args: &[&str]) -> anyhow::Result<WaitSettings> {
        let mut full = vec!["porthole", "wait", "http://127.0.0.1:1/"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Wait(args) => WaitSettings::resolve(args),
            _ => unreachable!("parsed a wait command"),
        }
    }

    // `wait 127.0.0.1:8080 --body ok` was ready as soon as the port
    // accepted: the pattern was never asked for.
    #[test]
    fn wait_refuses_http_flags_that_no_target_would_use() {
        let resolve = |args: &[&str]| {
            let mut full = vec!["porthole", "wait"];
            full.extend_from_slice(args);
            match Cli::try_parse_from(full).unwrap().command {
                crate::cli::Command::Wait(args) => WaitSettings::resolve(args),
                _ => unreachable!("parsed a wait command"),
            }
        };
        for args in [
            &["127.0.0.1:8080", "--body", "ok"][..],
            &["unix:/run/app.sock", "--status", "200"],
            &["8080", "tcp://127.0.0.1:8081", "--status", "200-399"],
        ] {
            let message = format!("{:#}", resolve(args).unwrap_err());
            assert!(message.contains("applies to http:// and https:// targets"), "{message}");
        }
        let message = format!(
            "{:#}",
            resolve(&["http://127.0.0.1:8080/", "--down", "--body", "ok"]).unwrap_err()
        );
        assert!(message.starts_with("--body does not apply to --down"), "{message}");
        // One HTTP target among others is enough; the default needs none.
        let settings = resolve(&["8080", "http://127.0.0.1:8081/", "--status", "204"]).unwrap();
        assert!(settings.readiness.statuses.contains(204));
        assert!(!settings.readiness.statuses.contains(200));
        let settings = resolve(&["8080"]).unwrap();
        assert_eq!(settings.readiness.statuses.to_string(), "200-399");
        // A command without its `--` is named as one; a first word is not.
        let message = format!("{:#}", resolve(&["8080", "./server", "start"]).unwrap_err());
        assert!(message.contains("a command to run once ready goes after --"), "{message}");
        let message = format!("{:#}", resolve(&["localhost"]).unwrap_err());
        assert!(!message.contains("goes after --"), "{message}");
        assert!(resolve(&["8080", "--down"]).is_ok());
    }

    #[test]
    fn wait_body_patterns() {
        let settings = wait(&["--body", r#""status":\s*"(ok|up)""#]).unwrap();
        let body = settings.readiness.body.expect("a pattern");
        assert!(body.is_match(r#"{"status": "up"}"#));
        assert!(!body.is_match(r#"{"status": "down"}"#));
        let message = format!("{:#}", wait(&["--body", "("]).unwrap_err());
        assert!(message.starts_with("--body '(': "), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        // Unicode classes are outside the engine's syntax: refused, not
        // silently matched as something else.
        assert!(wait(&["--body", r"\p{L}"]).is_err());
        assert_eq!(
            wait(&["--timeout", "30"]).unwrap().timeout,
            Some(std::time::Duration::from_secs(30))
        );
    }

    fn audit(args: &[&str]) -> anyhow::Result<AuditSettings> {
        let mut full = vec!["porthole", "audit"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Audit(args) => AuditSettings::resolve(args),
            _ => unreachable!("parsed an audit command"),
        }
    }

    #[test]
    fn audit_flags_resolve() {
        let settings = audit(&[]).unwrap();
        assert_eq!(settings.fail_on, Some(crate::model::Severity::Critical));
        assert_eq!(settings.timeout, std::time::Duration::from_secs(2));
        assert!(settings.query.unix && settings.query.listeners_only);
        let settings = audit(&[
            "--port",
            "6379",
            "--skip",
            "no-auth",
            "--fail-on",
            "never",
            "--timeout",
            "500ms",
        ])
        .unwrap();
        assert!(!settings.query.unix);
        assert!(settings.skip.contains(&crate::model::RuleId::NoAuth));
        assert_eq!(settings.fail_on, None);
        assert_eq!(settings.timeout, std::time::Duration::from_millis(500));
        let message = format!("{:#}", audit(&["--skip", "nope"]).unwrap_err());
        assert!(message.contains("unknown rule 'nope'"), "{message}");
        let both = audit(&["--skip", "outdated-package, weak-password"]).unwrap();
        assert!(both.skip.contains(&crate::model::RuleId::OutdatedPackage));
        assert!(both.skip.contains(&crate::model::RuleId::WeakPassword));
        let message = format!("{:#}", audit(&["--skip", "no-auth,nope"]).unwrap_err());
        assert!(message.contains("unknown rule 'nope'"), "{message}");
        assert!(audit(&["--fail-on", "severe"]).is_err());
        assert!(audit(&["--timeout", "0s"]).is_err());
        assert!(audit(&["--json", "--sarif"]).is_err());
    }

    fn proxy(args: &[&str]) -> crate::cli::args::ProxyCommand {
        let mut full = vec!["porthole", "proxy"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("parses").command {
            crate::cli::Command::Proxy(args) => *args.command,
            _ => unreachable!("parsed a proxy command"),
        }
    }

    fn serve(args: &[&str]) -> anyhow::Result<ProxySettings> {
        let mut full = vec!["serve"];
        full.extend_from_slice(args);
        match proxy(&full) {
            crate::cli::args::ProxyCommand::Serve(args) => {
                ProxyServeSettings::resolve(args).map(ProxySettings::Serve)
            }
            _ => unreachable!("parsed proxy serve"),
        }
    }

    fn run(args: &[&str]) -> anyhow::Result<ProxySettings> {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        match proxy(&full) {
            crate::cli::args::ProxyCommand::Run(args) => {
                ProxyRunSettings::resolve(args).map(ProxySettings::Run)
            }
            _ => unreachable!("parsed proxy run"),
        }
    }

    /// Either settings, so one helper signature fits both verbs.
    #[derive(Debug)]
    enum ProxySettings {
        Serve(ProxyServeSettings),
        Run(ProxyRunSettings),
    }

    #[test]
    fn proxy_serve_limits_are_validated() {
        let Ok(ProxySettings::Serve(settings)) =
            serve(&["--api-idle-timeout", "2s", "--token", ""])
        else {
            panic!("valid flags resolve");
        };
        assert_eq!(settings.limits.idle_timeout, std::time::Duration::from_secs(2));
        assert_eq!(settings.token, None, "an empty token is no token");
        let message = format!("{:#}", serve(&["--max-api-connections", "0"]).unwrap_err());
        assert!(message.contains("1 or more"), "{message}");
        let message = format!("{:#}", serve(&["--api-header-timeout", "0"]).unwrap_err());
        assert!(message.contains("more than 0"), "{message}");
        let message = format!("{:#}", serve(&["--api-idle-timeout", "soon"]).unwrap_err());
        assert!(message.contains("--api-idle-timeout"), "{message}");
    }

    #[test]
    fn proxy_run_flags_become_toxics() {
        let Ok(ProxySettings::Run(settings)) = run(&[
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:5432",
            "--latency",
            "100ms",
            "--bandwidth",
            "1MB/s",
            "--upstream",
        ]) else {
            panic!("valid flags resolve");
        };
        assert_eq!(settings.request.name, "run");
        assert_eq!(settings.request.upstream, "127.0.0.1:5432");
        let toxics = settings.request.toxics.expect("toxics");
        assert_eq!(toxics.len(), 2);
        assert!(toxics.iter().all(|toxic| toxic.toxicity == 1.0));
        let message = format!(
            "{:#}",
            run(&["127.0.0.1:0", "--to", "127.0.0.1:1", "--latency", "1ms", "--toxicity", "2"])
                .unwrap_err()
        );
        assert!(message.contains("--toxicity must be between 0 and 1"), "{message}");
        assert!(run(&["127.0.0.1:0", "--to", "127.0.0.1:1", "--slicer", "0"]).is_err());
    }

    fn alerts(args: &[&str]) -> anyhow::Result<AlertSettings> {
        let mut full = vec!["porthole", "monitor"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Monitor(args) => AlertSettings::resolve(args.alerts),
            _ => unreachable!("parsed a monitor command"),
        }
    }

    #[test]
    fn alert_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alerts.toml");
        std::fs::write(&file, "[rules]\nwatched_ports = [22]\n").unwrap();
        let path = file.to_str().unwrap();
        let settings =
            alerts(&["--alerts", path, "--webhook", "http://127.0.0.1:9/x", "--on-alert", "true"])
                .unwrap();
        assert_eq!(settings.config.unwrap().watched_ports, [22].into());
        assert_eq!(settings.source.as_deref(), Some(file.as_path()));
        assert_eq!(settings.webhook.unwrap().port, 9);
        assert_eq!(settings.on_alert.as_deref(), Some("true"));

        assert!(alerts(&["--no-alerts"]).unwrap().config.is_none());
        assert!(alerts(&["--no-alerts", "--webhook", "http://h/"]).is_err(), "conflicting flags");
        let error = alerts(&["--alerts", path, "--webhook", "https://h/"]).unwrap_err();
        assert_eq!(error.to_string(), "--webhook 'https://h/': only http:// URLs are supported");
        // The message named the URL, password and all, on stderr (the
        // journal, under systemd), and said "no host".
        let error = alerts(&["--alerts", path, "--webhook", "http://hook:s3cret@h/"]).unwrap_err();
        assert!(error.to_string().starts_with("--webhook: a user name or password"), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let error = alerts(&["--alerts", path, "--on-alert", " "]).unwrap_err();
        assert_eq!(error.to_string(), "--on-alert needs a command");
    }
}

/// Everything `porthole monitor` needs, validated.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    pub config: crate::monitor::MonitorConfig,
    pub jsonl: bool,
    /// Where to record; `None` with `--jsonl` and no `--store`.
    pub store: Option<crate::store::StoreLocation>,
    pub writer: crate::store::WriterOptions,
    pub alerts: AlertSettings,
    /// `--serve`: the dashboard to run beside the recorder.
    pub serve: Option<crate::cli::dashboard::ServeSettings>,
}

/// `porthole monitor`'s alerts, resolved.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The rules; `None` with `--no-alerts`.
    pub config: Option<crate::alerts::AlertConfig>,
    /// The file they came from, `None` for the built-in rules.
    pub source: Option<std::path::PathBuf>,
    pub on_alert: Option<String>,
    pub webhook: Option<crate::alerts::webhook::WebhookUrl>,
}

impl AlertSettings {
    /// Parses the webhook URL and reads the rules file (`--alerts`, else
    /// the first that exists of the user's and the system's).
    pub fn resolve(args: crate::cli::args::AlertArgs) -> anyhow::Result<Self> {
        let crate::cli::args::AlertArgs { alerts, no_alerts, on_alert, webhook } = args;
        let webhook = match webhook {
            Some(text) => Some(crate::alerts::webhook::WebhookUrl::parse(&text).map_err(
                |error| match error {
                    // The password is not repeated into a log.
                    crate::alerts::webhook::WebhookUrlError::Credentials => {
                        anyhow::anyhow!("--webhook: {error}")
                    }
                    _ => anyhow::anyhow!("--webhook '{text}': {error}"),
                },
            )?),
            None => None,
        };
        if on_alert.as_deref().is_some_and(|command| command.trim().is_empty()) {
            bail!("--on-alert needs a command");
        }
        if no_alerts {
            return Ok(AlertSettings { config: None, source: None, on_alert, webhook });
        }
        let source = match alerts {
            Some(path) => Some(path),
            None => crate::alerts::config::default_path(
                std::env::var("XDG_CONFIG_HOME").ok().as_deref(),
                std::env::var("HOME").ok().as_deref(),
            ),
        };
        // The error names the file, the line and the key itself.
        let config = match &source {
            Some(path) => crate::alerts::AlertConfig::read(path)?,
            None => crate::alerts::AlertConfig::default(),
        };
        Ok(AlertSettings { config: Some(config), source, on_alert, webhook })
    }
}

/// A `--host` name: shown in `history` and the dashboard and compared as
/// stored, so it must be printable text of reasonable length.
fn valid_host_label(name: &str) -> anyhow::Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.len() > 253 || trimmed.chars().any(char::is_control) {
        // Errors reach the terminal through the one sanitiser.
        bail!("--host '{name}': expected a name of 1 to 253 printable characters");
    }
    Ok(trimmed.to_string())
}

impl MonitorSettings {
    pub fn resolve(args: crate::cli::args::MonitorArgs) -> anyhow::Result<Self> {
        let crate::cli::args::MonitorArgs {
            jsonl,
            netns,
            interval,
            capture,
            store,
            keep,
            max_size,
            host,
            alerts,
            serve,
            web,
        } = args;
        let alerts = AlertSettings::resolve(alerts)?;
        let store = match (unless_empty_variable(store, "PORTHOLE_STORE"), jsonl) {
            // The error names --store itself.
            (Some(text), _) => Some(crate::store::StoreLocation::parse(&text)?),
            (None, true) => None,
            (None, false) => Some(
                crate::store::StoreLocation::default_for_user()
                    .context("finding the state directory for the history store")?,
            ),
        };
        let mut writer = crate::store::WriterOptions::default();
        if let Some(text) = keep {
            // A bare number is seconds for every other span, but here that
            // would delete all but the last few seconds of the history at
            // the first prune (`--keep 7` meant as a week): the unit is asked
            // for, as --max-size refuses a cap that keeps nothing.
            let number = text.trim();
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                bail!(
                    "--keep '{text}': a number without a unit would keep {number} seconds of \
                     records and delete the rest: write the unit ({number}d, {number}h or \
                     {number}s)"
                );
            }
            writer.keep = crate::cli::history::parse_span(&text)
                .with_context(|| format!("--keep '{text}'"))?;
            writer.keep_hourly = writer.keep_hourly.max(writer.keep);
        }
        if let Some(text) = max_size {
            let cap = crate::cli::history::parse_size(&text)
                .with_context(|| format!("--max-size '{text}'"))?;
            // An empty store takes about 70 kB of schema and indexes; a cap
            // near that would delete every connection as soon as it is
            // written, recording nothing while looking healthy.
            if cap < MIN_STORE_SIZE {
                bail!(
                    "--max-size '{text}': at least 1MB (an empty store already takes about 70 kB)"
                );
            }
            writer.max_size = Some(cap);
        }
        if let Some(name) = host {
            if !matches!(store, Some(crate::store::StoreLocation::Postgres(_))) {
                bail!(
                    "--host '{name}': names this machine in a PostgreSQL store (--store postgres://…); a SQLite store holds one machine"
                );
            }
            writer.host = valid_host_label(&name)?;
        }
        let interval = parse_duration(&interval)
            .map_err(|error| anyhow::anyhow!("--interval '{interval}': {error}"))?;
        if interval < std::time::Duration::from_millis(100) {
            bail!("--interval must be at least 100ms");
        }
        let capture = match capture {
            crate::cli::args::CaptureArg::Auto => crate::monitor::CaptureChoice::Auto,
            crate::cli::args::CaptureArg::Ebpf => crate::monitor::CaptureChoice::Ebpf,
            crate::cli::args::CaptureArg::Netlink => crate::monitor::CaptureChoice::Netlink,
        };
        Ok(MonitorSettings {
            config: crate::monitor::MonitorConfig {
                interval,
                namespaces: netns_selection(netns),
                capture,
                open_report_every: open_report_every()?,
                notices: crate::store::Notices::default(),
            },
            jsonl,
            store,
            writer,
            alerts,
            serve: serve
                .map(|address| crate::cli::dashboard::ServeSettings::resolve(&address, web))
                .transpose()?,
        })
    }
}

/// How often `monitor` reports connections still open:
/// [`crate::monitor::OPEN_REPORT_EVERY`], or `PORTHOLE_OPEN_REPORT_EVERY` (a
/// duration such as `500ms`), a knob for tests that cannot wait a minute.
fn open_report_every() -> anyhow::Result<std::time::Duration> {
    let Some(text) = std::env::var("PORTHOLE_OPEN_REPORT_EVERY").ok().filter(|t| !t.is_empty())
    else {
        return Ok(crate::monitor::OPEN_REPORT_EVERY);
    };
    let every = parse_duration(&text)
        .map_err(|error| anyhow::anyhow!("PORTHOLE_OPEN_REPORT_EVERY '{text}': {error}"))?;
    if every < std::time::Duration::from_millis(100) {
        bail!("PORTHOLE_OPEN_REPORT_EVERY must be at least 100ms");
    }
    Ok(every)
}

/// `porthole top`, resolved.
#[derive(Debug, Clone)]
pub struct TopSettings {
    pub query: crate::top::TopQuery,
    pub interval: std::time::Duration,
    /// What to print instead of the live view.
    pub output: TopOutput,
    /// `--netns NAME|PATH`: the namespace to watch.
    pub namespace: Option<crate::inventory::NamespaceHandle>,
}

/// How `porthole top` shows its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopOutput {
    /// The interactive terminal view.
    Live,
    /// One table after one interval.
    Once,
    /// One JSON document after one interval.
    Json,
    /// JSON Lines, one frame per interval; `None` runs until interrupted.
    Jsonl { count: Option<u64> },
}

impl TopSettings {
    pub fn resolve(args: crate::cli::args::TopArgs) -> anyhow::Result<Self> {
        let crate::cli::args::TopArgs { once, json, jsonl, interval, count, tcp, udp, unix, netns } =
            args;
        let interval = parse_duration(&interval)
            .with_context(|| format!("invalid --interval {interval:?}"))?;
        if interval < std::time::Duration::from_millis(100) {
            bail!("--interval must be at least 100ms (got {}ms)", interval.as_millis());
        }
        let count = match count {
            None => None,
            Some(text) => match parse_count(&text).map(u64::try_from) {
                Some(Ok(value)) if value > 0 => Some(value),
                // A number past u64 is a count too: name the bound it broke.
                Some(Err(_)) => {
                    bail!("--count '{}': at most {} frames", sanitize(&text), u64::MAX)
                }
                _ => bail!("--count '{}': expected a number of frames, 1 or more", sanitize(&text)),
            },
        };
        if count.is_some() && !jsonl {
            bail!("--count only applies to --jsonl");
        }
        let output = match (once, json, jsonl) {
            (true, _, _) => TopOutput::Once,
            (_, true, _) => TopOutput::Json,
            (_, _, true) => TopOutput::Jsonl { count },
            _ => TopOutput::Live,
        };
        // No protocol flag means TCP and UDP; -x alone adds Unix to them.
        let none_chosen = !tcp && !udp;
        let query = crate::top::TopQuery { tcp: tcp || none_chosen, udp: udp || none_chosen, unix };
        let namespace = resolve_one_netns(netns.as_deref())?;
        Ok(TopSettings { query, interval, output, namespace })
    }
}

/// Everything `porthole proxy serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ProxyServeSettings {
    pub listen: String,
    /// A config file of proxies to create at start.
    pub config: Option<std::path::PathBuf>,
    pub allow_host: Vec<String>,
    /// Never empty: an empty `--token` means no token.
    pub token: Option<String>,
    pub limits: crate::proxy::ApiLimits,
}

impl ProxyServeSettings {
    pub fn resolve(args: crate::cli::args::ProxyServeArgs) -> anyhow::Result<Self> {
        let crate::cli::args::ProxyServeArgs {
            listen,
            config,
            allow_host,
            token,
            max_api_connections,
            api_idle_timeout,
            api_header_timeout,
        } = args;
        let max_api_connections =
            match parse_count(&max_api_connections).and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n > 0 => n,
                _ => bail!(
                    "--max-api-connections '{max_api_connections}': expected a number, 1 or more"
                ),
            };
        let limits = crate::proxy::ApiLimits {
            idle_timeout: proxy_flags::parse_flag_duration(
                "--api-idle-timeout",
                &api_idle_timeout,
            )?,
            header_timeout: proxy_flags::parse_flag_duration(
                "--api-header-timeout",
                &api_header_timeout,
            )?,
            max_connections: max_api_connections,
        };
        if limits.idle_timeout.is_zero() || limits.header_timeout.is_zero() {
            bail!("--api-idle-timeout and --api-header-timeout must be more than 0");
        }
        for name in &allow_host {
            if !crate::proxy::host::is_host_name(name) {
                bail!(
                    "--allow-host '{}': expected a host name or address (box.lan, 10.0.0.5, [fd00::5])",
                    crate::render::sanitize::sanitize(name)
                );
            }
        }
        let token = token.filter(|token| !token.is_empty());
        // A client sends the token in a header line, which carries visible
        // ASCII and inner spaces only, and the server trims what it gets: any
        // other token could never be matched and would lock every client out.
        if let Some(token) = &token {
            if token.trim() != token || !token.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                bail!(
                    "--token (or PORTHOLE_PROXY_TOKEN): expected visible ASCII characters, \
                     with no blanks at either end and no control characters"
                );
            }
        }
        Ok(ProxyServeSettings { listen, config, allow_host, token, limits })
    }
}

/// Everything `porthole proxy run` needs: the one proxy to create, with
/// the toxics its flags ask for.
#[derive(Debug, Clone)]
pub struct ProxyRunSettings {
    pub request: crate::proxy::ProxyRequest,
}

impl ProxyRunSettings {
    pub fn resolve(args: crate::cli::args::ProxyRunArgs) -> anyhow::Result<Self> {
        let toxics = one_shot_toxics(&args)?;
        let crate::cli::args::ProxyRunArgs { listen, to, .. } = args;
        if crate::proxy::registry::upstream_port_is_zero(&to) {
            bail!("--to {to}: port 0 cannot be connected to (every client would be refused)");
        }
        if let Some(error) = crate::proxy::registry::upstream_host_error(&to) {
            bail!("--to '{to}': {error}");
        }
        // `[fe80::1%25eth0]:80` (a URL's spelling) and `%3` are printed by
        // the interface's name, as every other zone is.
        let upstream = crate::target::zone_named(&to).unwrap_or(to);
        let request = crate::proxy::ProxyRequest {
            name: "run".to_string(),
            listen,
            upstream,
            enabled: true,
            toxics: Some(toxics),
        };
        Ok(ProxyRunSettings { request })
    }
}

/// The toxics `porthole proxy run` flags ask for.
fn one_shot_toxics(
    args: &crate::cli::args::ProxyRunArgs,
) -> anyhow::Result<Vec<crate::proxy::toxics::ToxicSpec>> {
    use crate::proxy::toxics::{Stream, ToxicKind, ToxicSpec};
    // Exhaustive, so a new toxic flag cannot be forgotten here.
    let crate::cli::args::ProxyRunArgs {
        listen: _,
        to: _,
        latency,
        jitter,
        bandwidth,
        slow_close,
        timeout,
        reset_peer,
        limit_data,
        slicer,
        slice_delay,
        toxicity,
        upstream,
    } = args;
    let stream = if *upstream { Stream::Upstream } else { Stream::Downstream };
    let toxicity = f64::from(proxy_flags::check_toxicity(toxicity)?);
    let millis = proxy_flags::parse_flag_millis;
    let mut kinds = Vec::new();
    if let Some(latency) = latency {
        let jitter = jitter.as_deref().map(|text| millis("--jitter", text)).transpose()?;
        let latency = millis("--latency", latency)?;
        kinds.push(ToxicKind::Latency { latency, jitter: jitter.unwrap_or(0) });
    }
    if let Some(rate) = bandwidth {
        kinds.push(ToxicKind::Bandwidth {
            rate: proxy_flags::parse_rate(rate).context("--bandwidth")?,
        });
    }
    if let Some(delay) = slow_close {
        kinds.push(ToxicKind::SlowClose { delay: millis("--slow-close", delay)? });
    }
    if let Some(timeout) = timeout {
        kinds.push(ToxicKind::Timeout { timeout: millis("--timeout", timeout)? });
    }
    if let Some(timeout) = reset_peer {
        kinds.push(ToxicKind::ResetPeer { timeout: millis("--reset-peer", timeout)? });
    }
    if let Some(bytes) = limit_data {
        let bytes = proxy_flags::parse_bytes(bytes).context("--limit-data")?;
        kinds.push(ToxicKind::LimitData { bytes });
    }
    if let Some(size) = slicer {
        let average = proxy_flags::parse_bytes(size).context("--slicer")?;
        if average == 0 {
            bail!("--slicer must be at least 1 byte");
        }
        let delay = proxy_flags::parse_flag_micros("--slice-delay", slice_delay)?;
        kinds.push(ToxicKind::Slicer { average_size: average, size_variation: average / 4, delay });
    }
    kinds
        .into_iter()
        .map(|kind| {
            let type_name = kind.type_name();
            ToxicSpec::new(None, kind, stream, toxicity).map_err(|error| match error {
                // The API's words name the attribute (`--reset-peer` is a
                // `timeout`, `--slow-close` a `delay`): name the flag.
                crate::proxy::ProxyError::AttributeRange {
                    attribute,
                    value,
                    minimum,
                    maximum,
                    unit,
                } => anyhow::anyhow!(
                    "{}: {value} {unit} is out of range (allowed: {minimum} to {maximum} {unit})",
                    one_shot_flag(type_name, attribute)
                ),
                other => anyhow::Error::from(other),
            })
        })
        .collect()
}

/// The `porthole proxy run` flag that sets `attribute` of a toxic type.
fn one_shot_flag(type_name: &str, attribute: &str) -> &'static str {
    match (type_name, attribute) {
        ("latency", "jitter") => "--jitter",
        ("latency", _) => "--latency",
        ("bandwidth", _) => "--bandwidth",
        ("slow_close", _) => "--slow-close",
        ("timeout", _) => "--timeout",
        ("reset_peer", _) => "--reset-peer",
        ("limit_data", _) => "--limit-data",
        ("slicer", "delay") => "--slice-delay",
        _ => "--slicer",
    }
}
