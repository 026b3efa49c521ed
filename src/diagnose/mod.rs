//! The diagnosis engine behind `porthole check` and `porthole wait`: why a
//! client cannot connect to a local port (or a server cannot bind one).
//!
//! A diagnosis has four steps:
//! 1. **resolve** the target as clients do (getaddrinfo, every address in
//!    order; with `--from PID` that process's `/etc/hosts` first);
//! 2. **probe** every address ([`probe`]): connect, classify by errno,
//!    elapsed time and self-connect, then ask the application (HTTP, TLS,
//!    or a nudge);
//! 3. **inventory** the port with a single-port netlink query (fast even
//!    with 60k sockets); sweep other namespaces, Unix sockets or the
//!    firewall only when the local evidence does not explain the failure;
//! 4. **explain** with [`causes`]: each cause id comes from evidence (the
//!    listener table, rules, sysctls, process state), never from the errno
//!    alone.
//!
//! An HTTP target that redirects is then diagnosed again at the URL it
//! leads to, while that stays on this machine ([`redirect`]).
//!
//! Everything read from the machine (sockets, `/proc`, sysctls, the
//! firewall, `systemctl`, namespaces) goes through the [`System`] handle
//! passed to [`diagnose`]. The only other contact is the question itself:
//! getaddrinfo, the connect probes and the trial binds, which must be made
//! as a client or server would make them. Unit tests run the reasoning on
//! a scripted `System`.
//!
//! Nothing here prints or knows about clap; `commands::check` and
//! `commands::wait` render the [`Diagnosis`].

pub mod acceptance;
pub mod bind;
pub mod causes;
pub mod certificate;
pub mod environment;
pub mod firewall;
pub mod forwarder;
pub mod gateway;
pub mod interfaces;
pub mod libpq_tls;
pub mod link_local;
pub mod probe;
pub mod readiness;
pub mod redirect;
pub mod refusal;
pub mod service_probe;
pub mod target;
pub mod tls;
pub mod unix_path;

pub use crate::model::diagnosis::{Attempt, AttemptKind, Cause, CauseId, Diagnosis, Fix, Severity};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::inventory::system::System;
use crate::inventory::{InventoryError, Query};
use crate::model::Snapshot;
use crate::target::{EndpointError, Host};
pub use environment::Client;
pub use probe::{Outcome, ProbeAddress, Reply};
pub use target::{Target, TargetError};

/// Errors that stop a diagnosis (as opposed to causes, which are its result).
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("listing sockets")]
    Inventory(#[from] InventoryError),
    #[error("resolving '{name}'")]
    Resolve {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("process {pid} is not visible (exited, or another user's without root)")]
    NoSuchProcess { pid: u32 },
    /// The process exited and its parent has not reaped it: `/proc/PID`
    /// is still there, but with no namespace, files or environment.
    #[error("process {pid} has exited: it is a zombie its parent (pid {parent}) has not reaped, with no network namespace, files or environment left to evaluate as")]
    Zombie { pid: u32, parent: u32 },
    #[error("entering the network namespace of process {pid}")]
    EnterNamespace {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("the diagnosis thread panicked")]
    Thread,
    #[error(transparent)]
    Namespace(#[from] crate::inventory::namespaces::EnterError),
}

/// What to diagnose.
#[derive(Debug, Clone)]
pub struct Request {
    /// The target to connect to (optional with `bind`).
    pub target: Option<Target>,
    /// The parts of the target the client's variables filled in
    /// (`PGHOST`…), named in the evidence.
    pub from_environment: Vec<target::FromEnvironment>,
    /// `--bind ADDR:PORT`: could a server bind here?
    pub bind: Option<SocketAddr>,
    /// Whose point of view (`--from PID`).
    pub client: Client,
    /// Connect and read timeout per address.
    pub timeout: Duration,
    /// HTTP statuses that count as healthy (`--status`, default 200-399).
    pub statuses: readiness::StatusSet,
    /// The hosts the client tries after `target` when it fails (libpq's
    /// `postgres://h1,h2/db`), in order, each with the parts the client's
    /// variables filled.
    pub then: Vec<target::ClientTarget>,
}

/// Runs a diagnosis, entering the client's network namespace when
/// `--from PID` names a process in another one.
pub fn diagnose(system: &dyn System, request: &Request) -> Result<Diagnosis, DiagnoseError> {
    match request.client {
        Client::Current => diagnose_here(system, request),
        Client::Process(pid) => {
            let Some(theirs) = system.net_namespace_of(pid) else {
                return Err(match system.process(pid) {
                    Some(process) if process.state == 'Z' => {
                        DiagnoseError::Zombie { pid, parent: process.parent_pid }
                    }
                    _ => DiagnoseError::NoSuchProcess { pid },
                });
            };
            if theirs == system.net_namespace() {
                return diagnose_here(system, request);
            }
            // setns applies to one thread: probes, netlink dumps and
            // /proc/thread-self/net reads made there see the client's
            // namespace.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        system
                            .enter_net_namespace_of(pid)
                            .map_err(|source| DiagnoseError::EnterNamespace { pid, source })?;
                        diagnose_here(system, request)
                    })
                    .join()
                    .map_err(|_| DiagnoseError::Thread)?
            })
        }
    }
}

/// Runs a diagnosis inside the namespace `--netns NAME|PATH` named. The
/// fix lines are rewritten to run there (`ip netns exec NAME …`), since
/// the user reads them in their own namespace.
pub fn diagnose_in(
    system: &dyn System,
    request: &Request,
    namespace: &crate::inventory::NamespaceHandle,
) -> Result<Diagnosis, DiagnoseError> {
    let mut diagnosis =
        crate::inventory::namespaces::within(namespace, || diagnose(system, request))??;
    if !crate::inventory::namespaces::still_there(namespace) {
        let path = namespace.path.clone();
        return Err(crate::inventory::namespaces::EnterError::Gone { path }.into());
    }
    let prefix = crate::inventory::namespaces::exec_prefix(namespace);
    for cause in &mut diagnosis.causes {
        for fix in &mut cause.fix {
            match fix {
                Fix::Command(line) if !causes::acts_machine_wide(line) => {
                    *line = crate::inventory::namespaces::run_inside(&prefix, line);
                }
                // A step in words may quote a command (`ip addr`, `porthole
                // check …` to run as root): the ones that act on the
                // network run there too.
                Fix::Step(text) => {
                    *text = crate::audit::namespaces::fix_inside(&prefix, text, None)
                }
                Fix::Command(_) => {}
            }
        }
    }
    Ok(diagnosis)
}

fn diagnose_here(system: &dyn System, request: &Request) -> Result<Diagnosis, DiagnoseError> {
    let prefer_standby = request
        .target
        .as_ref()
        .is_some_and(|target| target.libpq().session == target::SessionAttrs::PreferStandby);
    if !request.then.is_empty() || prefer_standby {
        return diagnose_in_turn(system, request);
    }
    let mut diagnosis = Diagnosis {
        target: String::new(),
        ok: true,
        attempts: Vec::new(),
        listeners: Vec::new(),
        processes: BTreeMap::new(),
        user_names: BTreeMap::new(),
        causes: Vec::new(),
        redirects: Vec::new(),
    };
    // Whether the last URL a redirect led to answered (`None`: no redirect
    // was followed).
    let mut redirected_answer = None;
    if let Some(target) = &request.target {
        let followed = redirect::follow(
            system,
            request,
            target,
            causes::diagnose_target(system, target, request)?,
        )?;
        diagnosis = followed.diagnosis;
        redirected_answer = followed.answered;
        if !request.from_environment.is_empty() {
            // Why porthole looked where it did: the client's variables.
            let note = environment_note(&request.from_environment);
            for attempt in &mut diagnosis.attempts {
                attempt.detail = format!("{}; {note}", attempt.detail);
            }
            for cause in &mut diagnosis.causes {
                cause.evidence.push(note.clone());
            }
        }
    }
    if let Some(address) = request.bind {
        let bound = bind::diagnose_bind(system, address, request.client)?;
        if request.target.is_none() {
            diagnosis.target = address.to_string();
        }
        diagnosis.attempts.extend(bound.attempts);
        diagnosis.add_listeners(bound.listeners);
        diagnosis.processes.extend(bound.processes);
        diagnosis.causes.extend(bound.causes);
    }
    // Unix sockets carry no uid (u32::MAX).
    for socket in &diagnosis.listeners {
        if socket.uid != u32::MAX && !diagnosis.user_names.contains_key(&socket.uid) {
            if let Some(name) = system.user_name(socket.uid) {
                diagnosis.user_names.insert(socket.uid, name);
            }
        }
    }
    diagnosis.causes.sort_by_key(|cause| cause.severity);
    let any_error = diagnosis.causes.iter().any(|c| c.severity == Severity::Error);
    let target_ok = request.target.is_none()
        || redirected_answer.unwrap_or_else(|| diagnosis.attempts.iter().any(|a| a.healthy));
    diagnosis.ok = target_ok && !any_error;
    Ok(diagnosis)
}

/// Diagnoses the hosts of a target the client tries in turn (`target`,
/// then each of `then`), as it does: one after the other, stopping at the
/// first that works, which is where the client ends up.
fn diagnose_in_turn(system: &dyn System, request: &Request) -> Result<Diagnosis, DiagnoseError> {
    let hosts: Vec<(Option<Target>, Vec<target::FromEnvironment>)> =
        std::iter::once((request.target.clone(), request.from_environment.clone()))
            .chain(request.then.iter().map(|(target, used)| (Some(target.clone()), used.clone())))
            .collect();
    let total = hosts.len();
    let prefer_standby = hosts
        .first()
        .and_then(|(target, _)| target.as_ref())
        .is_some_and(|target| target.libpq().session == target::SessionAttrs::PreferStandby);
    // prefer-standby: libpq tries every host for a standby, then every
    // host again for any session.
    let pass = |session: Option<target::SessionAttrs>| {
        let mut results = Vec::new();
        for (index, (target, from_environment)) in hosts.iter().cloned().enumerate() {
            let label = target.as_ref().map(ToString::to_string).unwrap_or_default();
            let target = target.map(|mut target| {
                if let (Target::Service { libpq, .. }, Some(session)) = (&mut target, session) {
                    libpq.session = session;
                }
                target
            });
            let one = Request {
                target,
                from_environment,
                // A bind is asked once, with the first host.
                bind: request.bind.filter(|_| index == 0),
                then: Vec::new(),
                ..request.clone()
            };
            let diagnosis = diagnose_here(system, &one)?;
            let ok = diagnosis.ok;
            results.push((label, diagnosis));
            if ok {
                break;
            }
        }
        Ok::<_, DiagnoseError>(results)
    };
    if !prefer_standby {
        return Ok(in_turn(pass(None)?, total));
    }
    let mut results = pass(Some(target::SessionAttrs::Standby))?;
    let mut note = None;
    if !results.iter().any(|(_, diagnosis)| diagnosis.ok) {
        results = pass(Some(target::SessionAttrs::Any))?;
        note = Some(format!(
            "no host is a standby: with target_session_attrs=prefer-standby the client then takes any {}",
            if total == 1 { "session the host gives" } else { "host, in the same order" }
        ));
    }
    let mut diagnosis = match results.len() {
        1 if total == 1 => results.pop().expect("one host").1,
        _ => in_turn(results, total),
    };
    if let Some(note) = note {
        for attempt in &mut diagnosis.attempts {
            attempt.detail = format!("{}; {note}", attempt.detail);
        }
        for cause in &mut diagnosis.causes {
            cause.evidence.push(note.clone());
        }
    }
    Ok(diagnosis)
}

/// One diagnosis of hosts tried in turn (see `diagnose_in_turn`):
/// `results` are the hosts tried, in order, up to the first that works (the
/// last of them, when one does). Every attempt and listener is kept; the
/// causes of a host the client moves on from are warnings when a later one
/// works, and each cause names its host.
pub fn in_turn(results: Vec<(String, Diagnosis)>, total: usize) -> Diagnosis {
    let reached = results.iter().position(|(_, diagnosis)| diagnosis.ok);
    let labels: Vec<String> = results.iter().map(|(label, _)| label.clone()).collect();
    let mut combined = Diagnosis {
        target: labels.join(", then "),
        ok: reached.is_some(),
        attempts: Vec::new(),
        listeners: Vec::new(),
        processes: BTreeMap::new(),
        user_names: BTreeMap::new(),
        causes: Vec::new(),
        redirects: Vec::new(),
    };
    let outcome = match reached {
        Some(index) => format!(
            "the client tries {total} hosts in turn and ends up on host {} of {total}, {}",
            index + 1,
            labels[index]
        ),
        None => {
            format!("the client tries {total} hosts in turn and every one fails: it cannot connect")
        }
    };
    for (index, (label, diagnosis)) in results.into_iter().enumerate() {
        combined.attempts.extend(diagnosis.attempts);
        combined.add_listeners(diagnosis.listeners);
        combined.processes.extend(diagnosis.processes);
        combined.user_names.extend(diagnosis.user_names);
        for mut cause in diagnosis.causes {
            if reached.is_some_and(|reached| index < reached) {
                cause.severity = Severity::Warning;
            }
            cause.summary = format!("host {} of {total}, {label}: {}", index + 1, cause.summary);
            cause.evidence.push(outcome.clone());
            combined.causes.push(cause);
        }
    }
    combined.causes.sort_by_key(|cause| cause.severity);
    combined
}

/// `host from PGHOST, port from PGPORT (the client's environment)`.
pub fn environment_note(used: &[target::FromEnvironment]) -> String {
    let parts: Vec<String> = used.iter().map(ToString::to_string).collect();
    let mut sources: Vec<target::ClientSource> = used.iter().map(|used| used.source).collect();
    sources.sort();
    sources.dedup();
    let sources: Vec<&str> = sources.iter().map(|source| source.describe()).collect();
    format!("{} ({})", parts.join(", "), sources.join(" and "))
}

/// [`parse_as_client`] for each host of a target the client tries in
/// turn ([`target::postgres_hosts`]), in its order; one for any other.
pub fn parse_hosts_as_client(
    system: &dyn System,
    client: Client,
    text: &str,
    environment: &[(String, String)],
) -> Result<Vec<target::ClientTarget>, TargetError> {
    match target::postgres_hosts(text, environment)? {
        Some(hosts) => Ok(hosts),
        None => parse_as_client(system, client, text, environment).map(|one| vec![one]),
    }
}

/// [`Target::parse_in`], then a `mysql://` target is completed from the
/// option files of the MariaDB/MySQL client whose `environment` this is
/// (its `HOME` and `MYSQL_HOME`, its `/etc/mysql/…`: with `--from PID`
/// read through that process's root): `localhost` without a socket gets
/// the socket that client would use (see
/// [`target::mysql_localhost_socket`]), and a TCP target whose URL and
/// variables give no port gets the option files' `port=`.
pub fn parse_as_client(
    system: &dyn System,
    client: Client,
    text: &str,
    environment: &[(String, String)],
) -> Result<target::ClientTarget, TargetError> {
    let (mut target, mut used) = Target::parse_in(text, environment)?;
    if !matches!(target, Target::Service { service: target::Service::Mysql, tls: false, .. }) {
        return Ok((target, used));
    }
    let variable = |name: &str| {
        environment
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    };
    let root = match client {
        Client::Current => String::new(),
        Client::Process(pid) => format!("/proc/{pid}/root"),
    };
    let (home, mysql_home) = (variable("HOME"), variable("MYSQL_HOME"));
    let socket = crate::audit::mysql_options::client_socket(system, &root, home, mysql_home);
    // The option files win over the client's variables: `mariadb` hands
    // their socket= and port= to the library, which falls back on
    // MYSQL_UNIX_PORT and MYSQL_TCP_PORT only for what they leave unset
    // (`MYSQL_TCP_PORT=B mariadb -h 127.0.0.1` with `port=A` in ~/.my.cnf
    // connects to A).
    let from_variable = |used: &[target::FromEnvironment], part: &str, name: &str| {
        used.iter().position(|u| u.part == part && u.variable == name)
    };
    if let (Some(line), Some(index)) = (&socket, from_variable(&used, "socket", "MYSQL_UNIX_PORT"))
    {
        if let Target::Service { socket: Some(path), .. } = &mut target {
            *path = std::path::PathBuf::from(&line.value);
            used[index] = target::FromEnvironment {
                part: "socket",
                variable: format!(
                    "socket= in [{}] of {} line {}, which the client takes over MYSQL_UNIX_PORT",
                    line.group, line.file, line.line
                ),
                source: target::ClientSource::OptionFile,
            };
        }
    }
    if !matches!(target, Target::Service { socket: None, .. }) {
        return Ok((target, used));
    }
    used.extend(target::mysql_localhost_socket(&mut target, socket.as_ref()));
    let overridden = from_variable(&used, "port", "MYSQL_TCP_PORT");
    let port_given = target::mysql_url_has_port(text)
        || used.iter().enumerate().any(|(index, u)| u.part == "port" && Some(index) != overridden);
    if let Target::Service { socket: None, port, .. } = &mut target {
        let line = crate::audit::mysql_options::client_port(system, &root, home, mysql_home)
            .filter(|_| !port_given);
        if let Some(line) = line {
            *port = crate::target::parse_port(&line.value, crate::target::PortZero::Refused)
                .map_err(|error| TargetError::OptionFile {
                    line: format!("port= in [{}] of {} line {}", line.group, line.file, line.line),
                    source: EndpointError::Port(error),
                })?;
            let over = match overridden {
                Some(_) => ", which the client takes over MYSQL_TCP_PORT",
                None => "",
            };
            let found = target::FromEnvironment {
                part: "port",
                variable: format!(
                    "port= in [{}] of {} line {}{over}",
                    line.group, line.file, line.line
                ),
                source: target::ClientSource::OptionFile,
            };
            match overridden {
                Some(index) => used[index] = found,
                None => used.push(found),
            }
        }
    }
    Ok((target, used))
}

/// Resolves the target's host as the client would: `/etc/hosts` of the
/// client first when it is another process, then getaddrinfo (every result,
/// in order, duplicates removed).
pub fn resolve(
    system: &dyn System,
    host: &Host,
    port: u16,
    client: Client,
) -> Result<Vec<IpAddr>, DiagnoseError> {
    resolve_noting(system, host, port, client).map(|(addresses, _)| addresses)
}

/// [`resolve`], and a note for the evidence when the name was resolved
/// some other way than by porthole's own getaddrinfo.
///
/// Inside a namespace `ip netns` names (`--netns NAME`) whose
/// `/etc/netns/NAME` exists, a client started with `ip netns exec NAME`
/// reads that directory's `hosts`, `nsswitch.conf` and `resolv.conf`
/// instead of `/etc`'s; porthole's own resolver would read `/etc`'s. The
/// name is resolved as such a client resolves it: by `getent ahosts` run
/// through `ip netns exec NAME` (getaddrinfo, as the client calls it).
pub fn resolve_noting(
    system: &dyn System,
    host: &Host,
    port: u16,
    client: Client,
) -> Result<(Vec<IpAddr>, Option<String>), DiagnoseError> {
    match host {
        Host::Ip(ip) => Ok((vec![*ip], None)),
        // The zone's scope id is added by `Host::socket_address`.
        Host::Scoped { address, .. } => Ok((vec![IpAddr::V6(*address)], None)),
        Host::Name(name) => {
            if client == Client::Current {
                if let Some(etc) = environment::netns_etc(system) {
                    if let Some(resolved) = resolve_as_ip_netns_exec(system, &etc, name) {
                        return resolved.map(|addresses| {
                            // The files such a client reads: the
                            // namespace's own where they exist.
                            let read: Vec<String> = ["/etc/hosts", "/etc/resolv.conf"]
                                .iter()
                                .map(|path| match etc.file(path) {
                                    theirs if system.exists(&theirs) => theirs,
                                    _ => path.to_string(),
                                })
                                .collect();
                            let note = format!(
                                "{name} resolved as `ip netns exec {}` resolves it ({})",
                                crate::shell::word(&etc.name),
                                read.join(", ")
                            );
                            (addresses, Some(note))
                        });
                    }
                }
            }
            if let Client::Process(_) = client {
                let view = environment::hosts_view(system, client, name);
                if !view.entries.is_empty() {
                    let mut addresses = Vec::new();
                    for address in view.entries {
                        if !addresses.contains(&address) {
                            addresses.push(address);
                        }
                    }
                    return Ok((addresses, None));
                }
            }
            let mut addresses: Vec<IpAddr> = Vec::new();
            let results = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|source| DiagnoseError::Resolve { name: name.clone(), source })?;
            for address in results {
                if !addresses.contains(&address.ip()) {
                    addresses.push(address.ip());
                }
            }
            Ok((addresses, None))
        }
    }
}

/// `ip netns exec NAME getent ahosts HOST`: the addresses in order, an
/// error when the name is unknown there (getent's exit status 2), `None`
/// when the command could not run (porthole's own resolver answers then).
fn resolve_as_ip_netns_exec(
    system: &dyn System,
    etc: &environment::NetnsEtc,
    name: &str,
) -> Option<Result<Vec<IpAddr>, DiagnoseError>> {
    let output = system
        .query(
            "ip",
            &["netns", "exec", &etc.name, "getent", "ahosts", name],
            &[0, 2],
            crate::inventory::system::COMMAND_TIMEOUT,
        )
        .ok()?;
    let addresses = parse_getent_ahosts(&output);
    if addresses.is_empty() {
        let source = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "not found by `ip netns exec {} getent ahosts` (it reads {})",
                crate::shell::word(&etc.name),
                etc.directory()
            ),
        );
        return Some(Err(DiagnoseError::Resolve { name: name.to_string(), source }));
    }
    Some(Ok(addresses))
}

/// The addresses of `getent ahosts` output (`ADDRESS STREAM|DGRAM|RAW
/// [NAME]` lines), in order, each once.
fn parse_getent_ahosts(text: &str) -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    for line in text.lines() {
        let Some(address) = line.split_whitespace().next().and_then(|a| a.parse().ok()) else {
            continue;
        };
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    addresses
}

/// How hard to ask a TCP or Unix target's application after connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Wait for a banner, then send a one-line HTTP request and see whether
    /// anything reacts (`check`: tells a hung server from a live one).
    Nudge,
    /// Send nothing; only notice an immediate close or reset (`wait`, which
    /// polls and must not fill a service's log with junk requests).
    Peek,
}

/// Whether a connected address with `reply` works for `target`.
fn healthy(target: &Target, depth: Depth, reply: &Reply) -> bool {
    match (target, reply) {
        (Target::Http { tls, .. }, Reply::Http(response)) => response.tls == *tls,
        (Target::Http { .. }, _) => false,
        (Target::Service { .. }, Reply::Service(answer)) => answer.ready,
        (Target::Service { .. }, _) => false,
        (_, Reply::Closed | Reply::Reset) if depth == Depth::Peek => false,
        // The protocol of a bare TCP or Unix target is unknown: silence
        // may be normal (the causes still flag a stopped owner or a full
        // queue, and warn about it).
        (_, Reply::Silent) => true,
        (_, Reply::Failed(_)) => false,
        // A connection limit or host check that answers, then closes.
        (_, Reply::Other(banner)) if depth == Depth::Nudge => refusal::recognise(banner).is_none(),
        _ => true,
    }
}

/// Probes one address of a target: connect, then ask the application.
/// `timeout` bounds the connect and, separately, the application probe.
pub fn probe_address(
    target: &Target,
    address: &ProbeAddress,
    timeout: Duration,
    depth: Depth,
) -> Attempt {
    probe_address_open(target, address, timeout, depth).0
}

/// [`probe_address`], keeping the connection open: `wait` then checks
/// that a process took it off the listener's accept queue.
pub fn probe_address_open(
    target: &Target,
    address: &ProbeAddress,
    timeout: Duration,
    depth: Depth,
) -> (Attempt, Option<probe::Stream>) {
    let connect = probe::connect(address, timeout);
    let mut attempt = Attempt {
        address: address.clone(),
        kind: AttemptKind::Connect(connect.outcome),
        elapsed: connect.elapsed,
        detail: connect.detail,
        reply: None,
        healthy: false,
    };
    let Some(mut stream) = connect.stream else {
        // ECONNRESET from connect() itself: the handshake completed and the
        // server reset the connection before connect() returned (a reset
        // in SYN-SENT is ECONNREFUSED). It is the server that resets right
        // after accepting, seen a little earlier, and is judged the same.
        if connect.outcome == Outcome::Reset {
            attempt.healthy = healthy(target, depth, &Reply::Reset);
            attempt.detail = format!("{}; {}", attempt.detail, Reply::Reset.describe());
            attempt.reply = Some(Reply::Reset);
        }
        return (attempt, None);
    };
    let deadline = Instant::now() + timeout;
    let reply = match target {
        Target::Http { tls, host, port, path } => {
            let host_header = host_header(host, *port);
            let first = if *tls {
                probe::https_get(&mut stream, &host.to_string(), path, deadline)
            } else {
                probe::http_get(&mut stream, &host_header, path, deadline)
            };
            // A reset or close is ambiguous: ask again in the other
            // protocol to learn what the port speaks. So is a client error
            // to a plain request: it may be a TLS port's complaint.
            match (&first, tls) {
                (Reply::Closed | Reply::Reset | Reply::Other(_), false) => {
                    if speaks_tls(address, &host.to_string(), timeout) {
                        Reply::Tls
                    } else {
                        first
                    }
                }
                (Reply::Http(response), false) if plain_request_refused(response) => {
                    if speaks_tls(address, &host.to_string(), timeout) {
                        Reply::Tls
                    } else {
                        first
                    }
                }
                // A plain server may wait silently for a line that a
                // ClientHello never completes: ask it in plain HTTP.
                (Reply::Closed | Reply::Reset | Reply::Silent, true) => {
                    let second = probe::connect(address, timeout);
                    match second.stream {
                        Some(mut again) => {
                            let deadline = Instant::now() + timeout;
                            match probe::http_get(&mut again, &host_header, path, deadline) {
                                Reply::Http(_) => Reply::PlainHttp,
                                _ => first,
                            }
                        }
                        None => first,
                    }
                }
                _ => first,
            }
        }
        Target::Service { service, user, database, tls, libpq, .. } => {
            let question = ServiceQuestion {
                service: *service,
                user: user.as_deref(),
                database: database.as_deref(),
                tls: *tls,
                host: target.host().map_or_else(|| "localhost".to_string(), Host::to_string),
                libpq: libpq.clone(),
                tcp: matches!(address, ProbeAddress::Ip(_)),
            };
            let reply = ask_service(&question, &mut stream, address, timeout, deadline);
            match reply {
                // Refused for asking without TLS: so is a client that
                // never asks with it.
                Reply::Service(answer) if libpq.sslmode == target::SslMode::Disable => {
                    Reply::Service(service_probe::without_tls(answer))
                }
                other => other,
            }
        }
        Target::Tcp { .. } | Target::Unix { .. } => match depth {
            Depth::Nudge => match probe::nudge(&mut stream, deadline) {
                // The nudge is plain HTTP: a TLS port answers it with a
                // client error, and is up.
                Reply::Http(response)
                    if plain_request_refused(&response)
                        && speaks_tls(
                            address,
                            &target.host().map_or_else(|| "localhost".to_string(), Host::to_string),
                            timeout,
                        ) =>
                {
                    Reply::Tls
                }
                other => other,
            },
            Depth::Peek => probe::peek(&mut stream, timeout.min(PEEK)),
        },
    };
    attempt.healthy = healthy(target, depth, &reply);
    // A quiet peer is the normal case of a peek: nothing to add.
    if !(depth == Depth::Peek && reply == Reply::Silent) {
        attempt.detail = format!("{}; {}", attempt.detail, reply.describe());
    }
    attempt.reply = Some(reply);
    (attempt, Some(stream))
}

/// Whether `response` to a plain HTTP request is the kind a TLS port gives
/// one: a client error (nginx and Apache answer `400` with "The plain HTTP
/// request was sent to HTTPS port", Go's `net/http` `400` "Client sent an
/// HTTP request to an HTTPS server").
/// See: <https://nginx.org/en/docs/http/ngx_http_ssl_module.html#errors>
fn plain_request_refused(response: &crate::model::diagnosis::HttpResponse) -> bool {
    !response.tls && (400..500).contains(&response.status)
}

/// Whether a new connection to `address` answers a TLS ClientHello (for
/// `host`) with a TLS record: the port speaks TLS, whatever it said to a
/// plain request.
fn speaks_tls(address: &ProbeAddress, host: &str, timeout: Duration) -> bool {
    let Some(mut again) = probe::connect(address, timeout).stream else { return false };
    probe::tls_hello(&mut again, host, Instant::now() + timeout) == Reply::Tls
}

/// What a service target asks, and of whom.
struct ServiceQuestion<'a> {
    service: target::Service,
    user: Option<&'a str>,
    database: Option<&'a str>,
    /// Asked inside TLS (`rediss://`).
    tls: bool,
    /// The name a TLS handshake gives the server.
    host: String,
    /// libpq's `sslmode` and `target_session_attrs` (PostgreSQL).
    libpq: target::Libpq,
    /// Over TCP, where libpq asks for TLS (never on a Unix socket).
    tcp: bool,
}

impl ServiceQuestion<'_> {
    /// The PostgreSQL part of the question, with `libpq`'s settings.
    fn postgres(&self, libpq: target::Libpq) -> service_probe::PostgresQuestion<'_> {
        service_probe::PostgresQuestion {
            user: self.user,
            database: self.database,
            libpq,
            tcp: self.tcp,
            host: &self.host,
        }
    }
}

/// Asks a service target in its protocol. A port that gives no answer (or,
/// asked in plain, another protocol's) is asked again the other way, TLS
/// for a plain target and plain for a TLS one, to tell a client that speaks
/// the wrong one: a Redis `tls-port` hangs up on a plain `PING`, and a plain
/// port waits for the end of a line a ClientHello never sends. Both
/// questions share `deadline`.
fn ask_service(
    question: &ServiceQuestion<'_>,
    stream: &mut probe::Stream,
    address: &ProbeAddress,
    timeout: Duration,
    deadline: Instant,
) -> Reply {
    let service = question.service;
    let first = if question.tls {
        // A TLS server answers a ClientHello at once; a plain Redis waits
        // for the end of a line in silence: half the time is left to ask
        // it in plain.
        let half = deadline.saturating_duration_since(Instant::now()) / 2;
        service_probe::redis_tls(stream, &question.host, Instant::now() + half)
    } else {
        service_probe::ask(stream, service, &question.postgres(question.libpq.clone()), deadline)
    };
    let silent = matches!(first, Reply::Closed | Reply::Reset | Reply::Silent);
    let other_protocol = matches!(&first, Reply::Service(answer) if !answer.speaks);
    if !(silent || (other_protocol && !question.tls)) {
        return first;
    }
    // The second question fits in what is left of the first one's time: a
    // silent port has used it all, and `wait` and `check` keep their
    // deadlines.
    let remaining = deadline.saturating_duration_since(Instant::now()).min(timeout);
    if remaining.is_zero() {
        return first;
    }
    let Some(mut again) = probe::connect(address, remaining).stream else { return first };
    if question.tls {
        let plain = service_probe::PostgresQuestion {
            user: None,
            database: None,
            libpq: target::Libpq::default(),
            tcp: question.tcp,
            host: &question.host,
        };
        match service_probe::ask(&mut again, service, &plain, deadline) {
            Reply::Service(answer) if answer.speaks => {
                Reply::Service(service_probe::plain_only(service))
            }
            _ => first,
        }
    } else {
        match probe::tls_hello(&mut again, &question.host, deadline) {
            Reply::Tls => Reply::Service(service_probe::tls_only(service)),
            _ => first,
        }
    }
}

/// How long a peek waits for an immediate close.
const PEEK: Duration = Duration::from_millis(50);

/// A single-port TCP snapshot with owners: every listener and connection
/// whose local port is `port` (bytecode-filtered in the kernel). Used for
/// `--bind`, where TIME-WAIT and established sockets matter.
pub fn port_snapshot(system: &dyn System, port: u16) -> Result<Snapshot, InventoryError> {
    system.snapshot(&Query { udp: false, match_remote_port: false, ..Query::for_port(port) })
}

/// The TCP listeners of one port with an owner each. A connect diagnosis
/// needs nothing else: skipping the port's connections keeps the owner scan
/// to the listeners' inodes, and it stops as soon as each has an owner.
pub fn listener_snapshot(system: &dyn System, port: u16) -> Result<Snapshot, InventoryError> {
    system.snapshot(&Query {
        udp: false,
        listeners_only: true,
        match_remote_port: false,
        owner_limit: crate::inventory::owners::ScanLimit::FirstOwner,
        ..Query::for_port(port)
    })
}

/// The `Host` header of an HTTP request to `host` on `port` (an IPv6
/// literal in brackets): what the probe sends, and what a cause names when
/// the service may have judged the request by it.
pub(crate) fn host_header(host: &Host, port: u16) -> String {
    match host {
        Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        other => format!("{other}:{port}"),
    }
}
#[cfg(test)]
mod tests {
    #[test]
    fn fix_lines_run_inside_the_namespace() {
        let prefix = "ip netns exec demo ";
        let run_inside = crate::inventory::namespaces::run_inside;
        assert_eq!(
            run_inside(prefix, "porthole ls --port 80 -a   # every socket"),
            "ip netns exec demo porthole ls --port 80 -a   # every socket"
        );
        assert_eq!(
            run_inside(prefix, "sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0"),
            "sudo ip netns exec demo sysctl -w net.ipv6.conf.lo.disable_ipv6=0"
        );
        assert_eq!(
            run_inside(prefix, "sudo ss -ltn | grep 80"),
            "sudo ip netns exec demo sh -c 'ss -ltn | grep 80'"
        );
    }

    use super::*;
    use crate::inventory::system::fake::Scripted;

    /// A thread inside `ip netns` namespace `demo` (device 4, inode 77),
    /// whose `/etc/netns/demo/hosts` maps localhost elsewhere.
    fn inside_demo() -> Scripted {
        use crate::inventory::system::FileStatus;
        let namespace =
            |inode| FileStatus { device: 4, inode, mode: 0o100444, uid: 0, gid: 0, is_file: true };
        let mut system = Scripted::default()
            .file("/etc/hosts", "127.0.0.1 localhost\n")
            .file("/etc/netns/demo/hosts", "127.0.0.3 localhost\n")
            .command(
                "ip netns exec demo getent ahosts localhost",
                "127.0.0.3       STREAM localhost\n127.0.0.3       DGRAM  \n",
            );
        system.statuses.insert("/proc/thread-self/ns/net".into(), namespace(77));
        system.statuses.insert("/run/netns/demo".into(), namespace(77));
        system.statuses.insert("/run/netns/other".into(), namespace(78));
        let now = std::time::SystemTime::now();
        system
            .directories
            .insert("/run/netns".into(), vec![("other".into(), now), ("demo".into(), now)]);
        system
    }

    #[test]
    fn inside_a_named_namespace_names_resolve_as_ip_netns_exec_resolves_them() {
        let system = inside_demo();
        let host = Host::Name("localhost".into());
        let (addresses, note) =
            resolve_noting(&system, &host, 80, Client::Current).expect("resolves");
        assert_eq!(addresses, ["127.0.0.3".parse::<IpAddr>().unwrap()]);
        let note = note.expect("a note");
        assert!(note.contains("/etc/netns/demo/hosts, /etc/resolv.conf"), "{note}");
        let view = environment::hosts_view(&system, Client::Current, "localhost");
        assert_eq!(view.hosts_path, "/etc/netns/demo/hosts");
        assert_eq!(view.entries, ["127.0.0.3".parse::<IpAddr>().unwrap()]);
        // Another process's own files stay its own.
        let theirs = environment::hosts_view(&system, Client::Process(9), "localhost");
        assert_eq!(theirs.hosts_path, "/proc/9/root/etc/hosts");
    }

    #[test]
    fn getent_ahosts_addresses_in_order_once_each() {
        let text = "127.0.0.3       STREAM localhost\n127.0.0.3       DGRAM  \n127.0.0.3       RAW    \n::1             STREAM \n";
        assert_eq!(
            parse_getent_ahosts(text),
            ["127.0.0.3".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert!(parse_getent_ahosts("").is_empty());
    }

    /// A silent port used up the first question's time: the second one
    /// (a TLS handshake for a plain target) is not asked past the deadline
    /// on a fresh connection. (`rediss://` leaves itself half the time for
    /// its plain question: two connections, one deadline.)
    #[test]
    fn a_service_question_keeps_its_deadline_on_a_silent_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = ProbeAddress::Ip(listener.local_addr().expect("address"));
        let question = ServiceQuestion {
            service: target::Service::Redis,
            user: None,
            database: None,
            tls: false,
            host: "localhost".to_string(),
            libpq: target::Libpq::default(),
            tcp: true,
        };
        let mut stream = probe::connect(&address, Duration::from_secs(1)).stream.expect("up");
        let timeout = Duration::from_secs(30);
        let deadline = Instant::now() + Duration::from_millis(100);
        let reply = ask_service(&question, &mut stream, &address, timeout, deadline);
        assert_eq!(reply, Reply::Silent);
        // Only the connection the question came with was made (the backlog
        // holds each one, accepted or not).
        listener.set_nonblocking(true).expect("nonblocking");
        let connections = std::iter::from_fn(|| listener.accept().ok()).count();
        assert_eq!(connections, 1, "a second connection past the deadline");
    }

    #[test]
    fn from_a_process_that_is_gone() {
        let request = Request {
            target: Some(Target::parse("127.0.0.1:7014").expect("target")),
            from_environment: Vec::new(),
            bind: None,
            client: Client::Process(4242),
            timeout: Duration::from_millis(100),
            statuses: readiness::StatusSet::default(),
            then: Vec::new(),
        };
        let error = diagnose(&Scripted::default(), &request).expect_err("no such process");
        assert!(matches!(error, DiagnoseError::NoSuchProcess { pid: 4242 }), "{error:?}");
    }
}
