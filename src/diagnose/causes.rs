//! From evidence to causes: the connect side of `check`.
//!
//! Every failed attempt is explained by what else is known about the port,
//! in this order (the README's "Cause ids" section lists them all):
//! - self-connect, denied, unreachable: the kernel's answer is specific
//!   enough, confirmed by the ephemeral range, confinement and sysctls;
//! - refused: the listener table decides between family mismatch, another
//!   address, a reject rule, another namespace, a Unix socket, or nothing;
//! - timeout: a full accept queue, a stopped owner, or a drop rule;
//! - connected but silent or speaking the wrong protocol: stopped owner,
//!   full queue, not responding, TLS mismatch.
//!
//! An attempt may have more than one cause, and each is reported in the
//! order the user must fix them: a firewall rule that stops the SYN first,
//! then what the listener table says about the address behind it (another
//! family, another address, nothing at all), then the state of the process
//! that holds it.
//!
//! Then target-wide causes: split listeners, `localhost` resolution, proxy
//! variables. When one address works, per-address causes become warnings:
//! clients that try every address connect, those that try only the first
//! may not.
//!
//! Fixes are [`Fix::Command`] only when they run as printed here: real
//! pids, rule handles read from the ruleset, the sysctl list they extend;
//! everything else is a [`Fix::Step`] in words.
//!
//! # Evidence, then judgement
//! [`diagnose_target`] gathers what every diagnosis needs (resolution,
//! probes, the port's listeners) into [`Probed`]; [`judge`] reasons over it.
//! Facts that only some causes need (the firewall ruleset, sysctls, other
//! namespaces, the client's environment) are asked of the [`System`]
//! handle at the point the reasoning needs them: a port that answers costs
//! one listener snapshot and one lookup of the server's end of porthole's
//! own connection (found on the port itself, no nat rule can have sent it
//! past the port's listener; otherwise the ruleset is read), a refused one
//! reads the ruleset
//! and sweeps other namespaces only while nothing nearer explains it. Each
//! cause is built by a function of facts alone (its arguments), tested on
//! scripted evidence below.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::environment::{self, Client};
use super::firewall::{self, Action, Blocker, Packet};
use super::gateway;
use super::interfaces::{self, LoopbackProblem};
use super::probe::{Outcome, ProbeAddress, Reply};
use super::readiness::StatusSet;
use super::refusal;
use super::target::Service;
use super::unix_path;
use super::{
    listener_snapshot, probe, probe_address_open, resolve_noting, Attempt, Cause, CauseId,
    DiagnoseError, Diagnosis, Fix, Request, Severity, Target,
};
use crate::inventory::freezer;
use crate::inventory::process::{self, FullDescriptorTable};
use crate::inventory::system::{FileStatus, Runner, System};
use crate::inventory::user_database::group_name;
use crate::inventory::{NamespaceSelection, Query};
use crate::model::diagnosis::{CertificateProblem, HttpResponse, Redirect, ServiceAnswer};
use crate::model::termination::{AsRoot, Frozen};
use crate::model::PortSet;
use crate::model::{Family, Process, Protocol, Snapshot, Socket, SocketState};
use crate::portinfo::PortMeaning;
use crate::target::Host;

/// Names of processes that forward a published container port.
const CONTAINER_PROXIES: &[&str] =
    &["docker-proxy", "rootlessport", "slirp4netns", "pasta", "pasta.avx2"];

/// Everything known while explaining a target: the facts every diagnosis
/// gathers, and the handle (with caches) for those read on demand.
struct Evidence<'a> {
    system: &'a dyn System,
    target: &'a Target,
    client: Client,
    /// Connect and read timeout of the probes.
    timeout: std::time::Duration,
    port: u16,
    attempts: &'a [Attempt],
    snapshot: &'a Snapshot,
    overflows: Option<(u64, u64)>,
    firewall: Option<Option<(firewall::NftRuleset, String)>>,
    legacy: Option<Vec<(&'static str, String)>>,
    /// `iptables-nft-save` dumps, read when the nft ruleset has tables
    /// iptables-nft may have written.
    iptables_nft: Option<Vec<(&'static str, String)>>,
    /// File-system uid and gid the probe sockets were opened with.
    owner: Option<(u32, u32)>,
    /// HTTP statuses the user accepts (`--status`).
    statuses: &'a StatusSet,
    /// Addresses whose healthy probe's server end sat on the address and
    /// port connected to: the kernel delivered them as addressed.
    delivered: &'a [ProbeAddress],
    /// A Unix target: (device, inode) of the file at its path, as the
    /// client sees it (`Some(None)`: there is no file). A listener bound to
    /// another file does not serve it. `None` when porthole cannot tell (a
    /// directory above the path it may not search).
    unix_file: Option<Option<(u64, u64)>>,
    /// How the fix lines the user runs call porthole (`porthole`, or its
    /// path where the user's `PATH` does not find this build).
    program: String,
}

/// What a connect diagnosis gathers before judging: the probes of every
/// resolved address, the port's listeners, and causes found while
/// resolving.
pub struct Probed {
    pub target: Target,
    pub client: Client,
    pub timeout: std::time::Duration,
    pub attempts: Vec<Attempt>,
    /// The port's TCP listeners with owners (the Unix listeners of the
    /// path, for a Unix target).
    pub snapshot: Snapshot,
    /// `ListenOverflows` before and after the probes.
    pub overflows: Option<(u64, u64)>,
    /// Causes found before probing (a `localhost` that does not resolve).
    pub early: Vec<Cause>,
    /// File-system uid and gid the probe sockets were opened with: the
    /// client's when porthole could take them on (owner-match rules see
    /// these), else porthole's own; `None` when unknown.
    pub owner: Option<(u32, u32)>,
    /// HTTP statuses that count as healthy (`--status`).
    pub statuses: StatusSet,
    /// Members of a `SO_REUSEPORT` group that a healthy probe did not
    /// reach and that left connections spread over the group in their
    /// queue: (listener inode, connections queued).
    pub stalled: Vec<(u64, u32)>,
    /// Addresses whose healthy probe was found, while still open, as a
    /// server end on the very address and port connected to: no nat rule
    /// sent it elsewhere, so the ruleset need not be read to know that.
    pub delivered: Vec<ProbeAddress>,
}

/// Diagnoses a connect target: gathers the evidence, then [`judge`]s it.
pub fn diagnose_target(
    system: &dyn System,
    target: &Target,
    request: &Request,
) -> Result<Diagnosis, DiagnoseError> {
    let mut early: Vec<Cause> = Vec::new();
    // Why a name other than `localhost` did not resolve.
    let mut unresolved: Option<DiagnoseError> = None;
    // How the name was resolved, when porthole's own resolver did not.
    let mut resolved_by = None;
    let (addresses, port) = match target {
        Target::Unix { path } | Target::Service { socket: Some(path), .. } => {
            (vec![ProbeAddress::Unix(unix_probe_path(system, request.client, path))], 0)
        }
        Target::Tcp { host, port }
        | Target::Http { host, port, .. }
        | Target::Service { host, port, .. } => {
            let resolved = match resolve_noting(system, host, *port, request.client) {
                Ok((resolved, note)) => {
                    resolved_by = note;
                    resolved
                }
                Err(error) if is_localhost(host) => {
                    let view = environment::hosts_view(system, request.client, "localhost");
                    early.push(localhost_unresolvable(&view, &error));
                    Vec::new()
                }
                // `localhost.`: the hosts file lists names without the
                // root's dot, and glibc's `files` source compares them as
                // written; say so when the name without it resolves.
                Err(error) if dotted_localhost(host).is_some() => {
                    let bare = dotted_localhost(host).unwrap_or_default();
                    let without =
                        resolve_noting(system, &Host::Name(bare.clone()), *port, request.client);
                    match without {
                        Ok((found, _)) if !found.is_empty() => {
                            let view = environment::hosts_view(system, request.client, &bare);
                            early.push(dotted_name(&bare, &found, &view.hosts_path, &error));
                            Vec::new()
                        }
                        _ => {
                            unresolved = Some(error);
                            Vec::new()
                        }
                    }
                }
                // Any other name: the failure the user wants explained,
                // judged once the port's listeners are known.
                Err(error @ DiagnoseError::Resolve { .. }) => {
                    unresolved = Some(error);
                    Vec::new()
                }
                Err(error) => return Err(error),
            };
            (resolved.into_iter().map(|ip| host.probe_address(ip, *port)).collect(), *port)
        }
    };

    // Probe as the client: a firewall owner match and a Unix socket's file
    // mode decide by the user that opens the socket, and root passes both.
    let own = Client::Current.identity(system);
    let theirs = request.client.identity(system).filter(|_| request.client != Client::Current);
    // Each healthy connection is looked up while still open: its server
    // end on the address connected to proves no nat rule diverted it.
    let mut delivered = Vec::new();
    let mut probe_all = || -> Vec<Attempt> {
        addresses
            .iter()
            .map(|address| {
                let depth = super::Depth::Nudge;
                let (attempt, stream) = probe_address_open(target, address, request.timeout, depth);
                let ends = stream.as_ref().and_then(probe::Stream::tcp_ends);
                if let (true, Some((client, server))) = (attempt.healthy, ends) {
                    if super::acceptance::server_end(system, client, server).is_some() {
                        delivered.push(address.clone());
                    }
                }
                attempt
            })
            .collect()
    };
    let before = system.listen_overflows();
    let (mut attempts, owner, note) = match theirs.filter(|theirs| Some(theirs) != own.as_ref()) {
        Some(theirs) => match crate::sys::identity::act_as(&theirs, &mut probe_all) {
            Ok(attempts) => {
                let note =
                    format!("socket opened as the client's uid {} gid {}", theirs.uid, theirs.gid);
                (attempts, Some((theirs.uid, theirs.gid)), Some(note))
            }
            Err(error) => {
                let note = format!("socket opened as porthole's own user: {error}");
                (probe_all(), own.as_ref().map(|i| (i.uid, i.gid)), Some(note))
            }
        },
        None => (probe_all(), own.as_ref().map(|i| (i.uid, i.gid)), None),
    };
    let after = system.listen_overflows();
    // An HTTP answer in the right protocol is healthy only with a status the
    // user accepts (as `wait --status` decides readiness). A bare port's
    // answer to the nudge (`GET /`) is judged only when `--status` asks: a
    // 404 or a 502 there is a service that is up, not a hung one.
    let judged = matches!(target, Target::Http { .. }) || request.statuses != StatusSet::default();
    for attempt in attempts.iter_mut().filter(|_| judged) {
        if let Some(Reply::Http(response)) = &attempt.reply {
            if attempt.healthy && !request.statuses.contains(response.status) {
                attempt.healthy = false;
            }
        }
    }
    for note in note.iter().chain(&resolved_by) {
        for attempt in &mut attempts {
            attempt.detail = format!("{}; {note}", attempt.detail);
        }
    }

    let snapshot = match target.unix_path() {
        Some(path) => {
            let file = unix_file(system, request.client, path);
            unix_snapshot(system, Some(&path.to_string_lossy()), file)?
        }
        _ => listener_snapshot(system, port)?,
    };
    if let (Some(error), Some(Host::Name(name))) = (&unresolved, target.host()) {
        let view = environment::hosts_view(system, request.client, name);
        let local: Vec<SocketAddr> = snapshot
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp && s.state == SocketState::Listen)
            .filter_map(|s| s.local)
            .collect();
        early.push(name_unresolvable(name, port, &view, error, &local));
    }
    // A healthy probe reached one member of a SO_REUSEPORT group; the
    // others are tried with a few more connections.
    let mut stalled = Vec::new();
    for attempt in attempts.iter().filter(|a| a.healthy) {
        let Some(ip) = attempt.destination() else { continue };
        let address = SocketAddr::new(ip, port);
        let group = super::acceptance::listener_group(&snapshot.sockets, address);
        // A stopped member is named as such without more connections,
        // which would only pile up in its queue.
        let stopped = group.iter().any(|listener| {
            !listener.owners.is_empty()
                && listener.owners.iter().all(|pid| {
                    snapshot.processes.get(pid).is_some_and(|process| process.is_stopped())
                })
        });
        if group.len() >= 2 && !stopped {
            let members = group.len();
            stalled = super::acceptance::stalled_members(system, address, members, request.timeout);
            break;
        }
    }
    judge(
        system,
        Probed {
            target: target.clone(),
            client: request.client,
            timeout: request.timeout,
            attempts,
            snapshot,
            overflows: before.zip(after),
            early,
            owner,
            statuses: request.statuses.clone(),
            stalled,
            delivered,
        },
    )
}

/// Explains the gathered evidence, asking `system` for what else a cause
/// needs only when the reasoning reaches it.
pub fn judge(system: &dyn System, probed: Probed) -> Result<Diagnosis, DiagnoseError> {
    let Probed {
        target,
        client,
        timeout,
        attempts,
        snapshot,
        overflows,
        early,
        owner,
        statuses,
        stalled,
        delivered,
    } = probed;
    let target = &target;
    let port = target.port().unwrap_or(0);
    let mut causes = early;
    let mut evidence = Evidence {
        system,
        target,
        client,
        timeout,
        port,
        attempts: &attempts,
        snapshot: &snapshot,
        overflows,
        firewall: None,
        legacy: None,
        iptables_nft: None,
        owner,
        statuses: &statuses,
        delivered: &delivered,
        unix_file: match target.unix_path() {
            Some(path) => {
                let file = unix_file(system, client, path);
                // No stat: the file is known to be missing only when the
                // connect said so.
                let missing = attempts.iter().any(|a| a.detail.starts_with("ENOENT"));
                file.map(Some).or(missing.then_some(None))
            }
            _ => None,
        },
        program: system.porthole_program(Runner::User),
    };
    let mut extra_listeners: Vec<Socket> = Vec::new();
    let mut extra_processes: BTreeMap<u32, Process> = BTreeMap::new();
    let any_healthy = attempts.iter().any(|a| a.healthy);

    let mut nothing_here = false;
    // Causes that break an attempt counted as healthy: no other address
    // makes up for them.
    let mut broken_by_firewall: Vec<Cause> = Vec::new();
    let silent = |a: &&Attempt| matches!(a.reply, Some(Reply::Silent));
    for attempt in attempts.iter().filter(|a| !a.healthy || silent(a)) {
        let mut explained = explain_attempt(&mut evidence, attempt);
        if let Some(note) = rewritten_destination(attempt) {
            for cause in &mut explained.causes {
                let at = usize::from(!cause.evidence.is_empty());
                cause.evidence.insert(at, note.clone());
            }
        }
        causes.extend(explained.causes);
        nothing_here |= explained.nothing_here;
    }
    // Listeners that still carry a Unix target's path but bound a file that
    // is no longer there: shown in the table, never taken as serving it.
    let detached: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| s.is_listener() && is_detached(s, evidence.unix_file))
        .collect();
    // Of those, the ones whose file is still at the path in their owner's
    // mount namespace (a private /tmp, a container): not stranded, only
    // out of the client's sight.
    let (elsewhere, stranded): (Vec<&Socket>, Vec<&Socket>) = match target.unix_path() {
        Some(path) => detached
            .into_iter()
            .partition(|s| unix_path::owner_with_file(system, s, path).is_some()),
        _ => (Vec::new(), detached),
    };
    if nothing_here {
        match target.unix_path() {
            Some(path) if !elsewhere.is_empty() && stranded.is_empty() => {
                let processes = &snapshot.processes;
                causes.push(unix_path::other_mount_namespace(
                    system, path, &attempts, &elsewhere, processes,
                ));
            }
            Some(path) => {
                let facts = unix_path::gather(system, client, path)?;
                let processes = &snapshot.processes;
                causes.push(unix_path::refused(path, &attempts, &facts, &stranded, processes));
            }
            _ => {
                let (mut cause, listeners, processes) = sweep(system, target, port, &attempts)?;
                if let (CauseId::OtherNamespace, Client::Process(pid)) = (cause.id, client) {
                    // `--from PID`: "this one" is the client's namespace.
                    let name = system.process(pid).map_or_else(
                        || format!("pid {pid}"),
                        |p| format!("{}, pid {pid}", p.shown_name()),
                    );
                    let namespace = system.net_namespace();
                    cause.summary = cause.summary.replace(
                        "not in this one",
                        &format!("not in the client's ({name}, network namespace {namespace})"),
                    );
                }
                let socket_only = cause.id == CauseId::UnixSocketOnly;
                if cause.id == CauseId::NothingListening || socket_only {
                    if let Some((line, fix)) = service_on_a_socket(system, target) {
                        if !socket_only {
                            cause.evidence.push(line);
                        }
                        cause.fix.insert(0, fix);
                    }
                }
                causes.push(cause);
                extra_listeners.extend(listeners);
                extra_processes.extend(processes);
            }
        }
    }

    if let Some(path) = target.unix_path() {
        if super::probe::unix_path_too_long(path) {
            let short = short_socket_path(system, client, path);
            causes.insert(0, unix_path::too_long(path, &attempts, short.as_deref()));
        }
    }
    if let (Some(path), false) = (target.unix_path(), nothing_here || stranded.is_empty()) {
        // Another socket answers on the path; the old listener only holds
        // resources.
        let facts = unix_path::gather(system, client, path)?;
        let processes = &snapshot.processes;
        let severity = Severity::Warning;
        causes.push(unix_path::replaced(path, &facts, &stranded, processes, severity));
    }
    // A bare TCP target that closed without answering counts as reachable
    // (the protocol is unknown), unless a forwarder closed it because its
    // upstream is down.
    for attempt in attempts.iter().filter(|a| a.healthy) {
        // Something answered, but a nat rule may have sent the connection
        // past the listener the user asked about.
        if let Some(ip) = attempt.destination() {
            causes.extend(diverted_from_listener(&mut evidence, attempt, ip));
            // A bare TCP port that was silent or reset counts as reachable
            // (its protocol is unknown), unless a rule certainly stops what
            // the client sends after the SYN: then it is not the service's
            // way, and the address does not work.
            if matches!(attempt.reply, Some(Reply::Silent | Reply::Reset)) {
                let mut later = later_blockers(&mut evidence, ip);
                later.retain(|blocker| blocker.certain);
                let prober = prober(&evidence);
                broken_by_firewall.extend(later_dropped(attempt, &later, prober.as_deref()));
            }
        }
        if let Some(ip) = attempt.destination() {
            let address = SocketAddr::new(ip, port);
            let serving: Vec<&Socket> = snapshot
                .sockets
                .iter()
                .filter(|s| s.protocol == Protocol::Tcp && s.serves(address))
                .collect();
            causes.extend(dead_upstream(&evidence, attempt, &serving));
            causes.extend(passed_partial_rule(&mut evidence, attempt, ip));
        }
        if let Some(Reply::Http(HttpResponse { certificate: Some(problem), .. })) = &attempt.reply {
            causes.push(tls_certificate(target, attempt, problem));
        }
        if !causes.iter().any(|c| c.id == CauseId::ProcessStopped) {
            causes.extend(stopped_group_member(&evidence, attempt));
        }
        if !causes.iter().any(|c| matches!(c.id, CauseId::ProcessStopped | CauseId::NotResponding))
        {
            causes.extend(stalled_group_member(&evidence, attempt, &stalled));
        }
    }
    if let Some(cause) = split_listeners(&evidence) {
        causes.push(cause);
    }
    if let (Client::Process(pid), true, false) = (client, any_healthy, target.unix_path().is_some())
    {
        causes.extend(client_cgroup_unprobed(system, pid, target));
    }
    if let Client::Process(pid) = client {
        causes.extend(client_fd_limit(&evidence, pid));
    }
    if let Some(host) = target.host() {
        if is_localhost(host) && !strange_localhost(&attempts).is_empty() {
            let view = environment::hosts_view(system, client, "localhost");
            causes.extend(localhost_resolution(&view, &attempts));
        }
        let environment = client.environment(system);
        let refused = |address: SocketAddr| {
            let probe = super::probe::connect(&ProbeAddress::Ip(address), timeout);
            probe.outcome == Outcome::Refused
        };
        // Database and cache clients never use proxy variables.
        let proxied = (!matches!(target, Target::Service { .. }))
            .then(|| proxy_env(target, host, &environment, refused))
            .flatten();
        if let Some(mut cause) = proxied {
            if let Client::Process(pid) = client {
                for_running_process(system, pid, &mut cause);
            }
            causes.push(cause);
        }
    }
    if attempts.iter().all(|a| !a.healthy)
        && !attempts.is_empty()
        && !causes.iter().any(|c| c.severity == Severity::Error)
    {
        causes.push(Cause {
            id: CauseId::Unexplained,
            severity: Severity::Error,
            summary: format!("{target} does not answer, and nothing porthole checks explains why"),
            evidence: attempts.iter().map(attempt_line).collect(),
            fix: vec![
                Fix::step("look at the service's own logs"),
                Fix::command(format!(
                    "{} ls --port {port} -a   # every socket on the port",
                    evidence.program
                )),
            ],
        });
    }
    if any_healthy {
        // Some address works: what broke the others only hurts clients that
        // stop at the first address.
        for cause in &mut causes {
            if is_per_address(cause.id) {
                cause.severity = Severity::Warning;
            }
        }
    }
    causes.extend(broken_by_firewall);
    let mut causes = merge(causes);
    // Unprivileged, the ruleset is out of sight: say so rather than let
    // "nothing explains it" read as "no rule is involved".
    let firewall_unread = matches!(evidence.firewall, Some(None));
    if firewall_unread && Client::Current.identity(system).is_some_and(|own| own.uid != 0) {
        for cause in causes.iter_mut().filter(|c| c.id == CauseId::Unexplained) {
            firewall_unreadable(system, target, client, cause);
        }
    }
    if causes.iter().any(wants_platform_hint) {
        let unix = target.unix_path().is_some();
        add_platform_hints(&mut causes, &environment::platform(system, client), unix);
    }

    let mut listeners: Vec<Socket> =
        snapshot.sockets.iter().filter(|s| s.is_listener()).cloned().collect();
    listeners.extend(extra_listeners);
    let mut processes = snapshot.processes.clone();
    processes.extend(extra_processes);
    Ok(Diagnosis {
        target: target.to_string(),
        ok: true,
        attempts,
        listeners,
        processes,
        user_names: BTreeMap::new(),
        causes,
        redirects: Vec::new(),
    })
}

fn is_per_address(id: CauseId) -> bool {
    matches!(
        id,
        CauseId::FamilyMismatch
            | CauseId::BoundElsewhere
            | CauseId::Ipv6Disabled
            | CauseId::FirewallDrop
            | CauseId::FirewallReject
            | CauseId::FirewallRedirect
            | CauseId::LoopbackDown
            | CauseId::LoopbackQdisc
            | CauseId::SourcePortsExhausted
            | CauseId::SelfConnect
            | CauseId::HttpError
            | CauseId::Unexplained
    )
}

/// Merges causes with the same id (one per address) and sorts errors first.
fn merge(causes: Vec<Cause>) -> Vec<Cause> {
    let mut merged: Vec<Cause> = Vec::new();
    for cause in causes {
        match merged.iter_mut().find(|c| c.id == cause.id) {
            Some(existing) => {
                for line in cause.evidence {
                    if !existing.evidence.contains(&line) {
                        existing.evidence.push(line);
                    }
                }
                for line in cause.fix {
                    if !existing.fix.contains(&line) {
                        existing.fix.push(line);
                    }
                }
                existing.severity = existing.severity.min(cause.severity);
            }
            None => merged.push(cause),
        }
    }
    merged.sort_by_key(|cause| cause.severity);
    merged
}

/// What one failed attempt is explained by.
#[derive(Default)]
struct Explained {
    /// In the order the user must fix them: what stops the packet first.
    causes: Vec<Cause>,
    /// No listener of any address or family holds the port here: look
    /// elsewhere (other namespaces, Unix sockets).
    nothing_here: bool,
}

fn explain_attempt(evidence: &mut Evidence, attempt: &Attempt) -> Explained {
    let port = evidence.port;
    let Some(outcome) = attempt.outcome() else { return Explained::default() };
    // The listeners, rules and routes of the address the kernel connects
    // to: `0.0.0.0` is 127.0.0.1, `::ffff:127.0.0.1` is IPv4.
    let ip = attempt.destination();
    // An ICMPv6 "administratively prohibited" (nft `reject with icmpx
    // admin-prohibited` on IPv6) reaches connect() as EACCES, the errno of
    // a security policy: a reject rule for the packet makes it the
    // unreachable answer it is.
    let outcome = match ip {
        Some(ip) if outcome == Outcome::Denied && rejected_by_rule(evidence, ip) => {
            Outcome::Unreachable
        }
        _ => outcome,
    };
    let serving: Vec<&Socket> = match ip {
        Some(ip) => evidence
            .snapshot
            .sockets
            .iter()
            .filter(|s| s.protocol == Protocol::Tcp && s.serves(SocketAddr::new(ip, port)))
            .filter(|s| reaches_device(s, ip))
            .collect(),
        None => evidence
            .snapshot
            .sockets
            .iter()
            .filter(|s| s.is_listener() && !is_detached(s, evidence.unix_file))
            .collect(),
    };
    let mut causes = Vec::new();
    // A link-local address is reached through one interface only: without
    // it, or through another, the kernel refuses before any rule or
    // listener is involved (a timeout: when no rule drops the SYN).
    if let Some(IpAddr::V6(v6)) = ip.filter(|ip| match ip {
        IpAddr::V6(v6) => super::link_local::is_link_local(*v6),
        IpAddr::V4(_) => false,
    }) {
        let blocked =
            outcome == Outcome::Timeout && !firewall_blockers(evidence, IpAddr::V6(v6)).is_empty();
        let zone = match &attempt.address {
            ProbeAddress::Scoped { address, zone } => Some((address.scope_id(), zone.as_str())),
            _ => None,
        };
        let interfaces = (!blocked).then(|| interfaces::read(evidence.system)).flatten();
        if let Some(cause) = interfaces.and_then(|interfaces| {
            super::link_local::unreachable(attempt, v6, port, zone, &interfaces, &evidence.program)
        }) {
            causes.push(cause);
            return Explained { causes, nothing_here: false };
        }
    }
    // The loopback path itself comes before anything on it: with `lo` down
    // or its route gone no rule or listener is ever reached.
    if let Some(ip) = ip.filter(|ip| crate::model::is_loopback(*ip)) {
        let unreachable = outcome == Outcome::Unreachable;
        let v6_off = ip.is_ipv6() && evidence.system.ipv6_disabled_on_loopback();
        // A `prohibit` route answers EACCES, the errno of a security policy.
        let denied = outcome == Outcome::Denied;
        if (unreachable || denied || outcome == Outcome::Timeout) && !v6_off {
            let flow = interfaces::Flow {
                port: Some(port),
                uid: evidence.owner.map(|(uid, _)| uid),
                mark: None,
            };
            if let Some(problem) = interfaces::loopback_problem(evidence.system, ip, flow) {
                causes.push(loopback_down(attempt, &problem));
                return Explained { causes, nothing_here: false };
            }
            if let Some(cause) = marked_away(evidence, attempt, ip, flow) {
                causes.push(cause);
                return Explained { causes, nothing_here: false };
            }
            if unreachable && attempt.detail.starts_with("EADDRNOTAVAIL") {
                causes.push(source_ports_exhausted(evidence, attempt, ip));
                return Explained { causes, nothing_here: false };
            }
        }
    }
    // A nat rule decides where the SYN goes before any filter or listener
    // sees it.
    if let Some(ip) =
        ip.filter(|_| matches!(outcome, Outcome::Refused | Outcome::Timeout | Outcome::Unreachable))
    {
        if let Some(rewrite) = firewall_rewrite(evidence, ip) {
            if rewrite.to != Some(SocketAddr::new(ip, port)) {
                causes.push(redirected(evidence, attempt, &rewrite));
                return Explained { causes, nothing_here: false };
            }
        }
    }
    match outcome {
        Outcome::SelfConnect => {
            let system = evidence.system;
            let range = system.ephemeral_range();
            causes.push(self_connect(attempt, port, range, system.reserved_ports_text().as_deref()))
        }
        Outcome::Denied if matches!(attempt.address, ProbeAddress::Unix(_)) => {
            let ProbeAddress::Unix(path) = &attempt.address else { return Explained::default() };
            match socket_permission(evidence.system, evidence.client, attempt, path) {
                Some(cause) => causes.push(cause),
                None => {
                    let confinement = environment::confinement(
                        evidence.system,
                        evidence.client,
                        environment::CONNECT_HOOKS,
                    );
                    causes.push(sandbox_denied_connect(attempt, &confinement))
                }
            }
        }
        Outcome::Denied => {
            let confinement = environment::confinement(
                evidence.system,
                evidence.client,
                environment::CONNECT_HOOKS,
            );
            causes.push(sandbox_denied_connect(attempt, &confinement))
        }
        Outcome::Unreachable | Outcome::Refused
            if ip.is_some_and(|ip| ip.is_ipv6())
                && outcome == Outcome::Unreachable
                && evidence.system.ipv6_disabled_on_loopback() =>
        {
            let system = evidence.system;
            let lo = system.sysctl("net.ipv6.conf.lo.disable_ipv6");
            let all = system.sysctl("net.ipv6.conf.all.disable_ipv6");
            let hosts = environment::hosts_view(system, evidence.client, "localhost").hosts_path;
            causes.push(ipv6_disabled(attempt, lo.as_deref(), all.as_deref(), &hosts))
        }
        Outcome::Unreachable | Outcome::Refused | Outcome::NoSocketFile => {
            let Some(ip) = ip else {
                return Explained { causes, nothing_here: true };
            };
            let blockers = firewall_blockers(evidence, ip);
            let prober = prober(evidence);
            let rule = firewall_cause(attempt, &blockers, true, prober.as_deref());
            let found_rule = rule.is_some();
            causes.extend(rule);
            if !serving.is_empty() {
                if !found_rule {
                    causes.push(unexplained(evidence, attempt));
                }
            } else if outcome == Outcome::Unreachable
                && !crate::model::is_loopback(ip)
                && !ip.is_unspecified()
            {
                // A name resolved to a non-loopback address: the localhost
                // check reports it; other names are remote.
                if !found_rule && !evidence.target.host().is_some_and(is_localhost) {
                    causes.push(unexplained(evidence, attempt));
                }
            } else {
                // Whatever the rule does, the listener table says what
                // happens once it is gone.
                match listener_causes(evidence, attempt, ip) {
                    Some(found) => causes.extend(found),
                    None => return Explained { causes, nothing_here: true },
                }
            }
        }
        Outcome::Timeout => {
            // The rule that drops the SYN comes first: nothing behind it
            // can be seen (or fixed) until it is gone.
            if let Some(ip) = ip {
                let blockers = firewall_blockers(evidence, ip);
                let prober = prober(evidence);
                let prober = prober.as_deref();
                // A reject answers with an ICMP error, but on loopback the
                // error to the first SYN arrives while connect() still holds
                // the socket and is kept as a soft error: connect() fails
                // only after the retransmit (about 1 s), so a shorter
                // timeout sees nothing.
                let late_reject = || {
                    firewall_cause(attempt, &blockers, true, prober).map(|mut cause| {
                        cause.evidence.push(
                            "on loopback the kernel reports the reject's ICMP error only after the first SYN retransmit (about 1 s): a shorter connect timeout sees a timeout"
                                .into(),
                        );
                        cause
                    })
                };
                causes
                    .extend(firewall_cause(attempt, &blockers, false, prober).or_else(late_reject));
                if causes.is_empty() {
                    let answer = answer_blockers(evidence, ip);
                    causes.extend(answer_dropped(attempt, evidence.port, &answer));
                }
            }
            if causes.is_empty() && ip.is_some_and(crate::model::is_loopback) {
                if let Some(program) = interfaces::loopback_xdp(evidence.system) {
                    causes.push(xdp_on_loopback(evidence, attempt, &program));
                }
                let filters = interfaces::loopback_tc_filters(evidence.system);
                if !filters.is_empty() {
                    causes.push(tc_on_loopback(attempt, &filters));
                }
                let qdisc = interfaces::loopback_qdisc(evidence.system);
                if let Some(qdisc) = qdisc.filter(interfaces::Qdisc::interferes) {
                    causes.push(qdisc_on_loopback(attempt, &qdisc, Severity::Error));
                }
            }
            if let Some(ip) = ip {
                let down = serving_on_a_down_device(evidence, &serving);
                if !down.is_empty() {
                    causes.push(bound_to_device(evidence, attempt, ip, &down));
                }
            }
            for listener in &serving {
                if queue_full(listener) {
                    let somaxconn = evidence.system.somaxconn();
                    causes.push(accept_queue_full(evidence, attempt, listener, somaxconn));
                }
                if let Some(cause) = stopped_owner_of(evidence, attempt, listener) {
                    causes.push(cause);
                }
            }
            if serving.is_empty() {
                if let Some(ip) = ip {
                    match listener_causes(evidence, attempt, ip) {
                        Some(found) => causes.extend(found),
                        None => return Explained { causes, nothing_here: true },
                    }
                }
            }
            if causes.is_empty() {
                if let Some(cause) = cgroup_ingress_drop(evidence, attempt, &serving) {
                    causes.push(cause);
                }
            }
            if causes.is_empty() {
                causes.push(unexplained(evidence, attempt));
            }
        }
        Outcome::Reset | Outcome::Connected => {
            // Whatever answered (or did not) is where a nat rule sent the
            // connection, not the listener on the port.
            if let Some(cause) = ip.and_then(|ip| diverted_from_listener(evidence, attempt, ip)) {
                causes.push(cause);
                return Explained { causes, nothing_here: false };
            }
            let reply = attempt.reply.clone().unwrap_or(Reply::Silent);
            let forwarder = serving.iter().find_map(|l| forwarder_of(evidence.snapshot, l));
            let dead_upstream = dead_upstream(evidence, attempt, &serving);
            let mut explained = false;
            if matches!(reply, Reply::Silent) || outcome == Outcome::Reset {
                for listener in &serving {
                    if let Some(cause) = stopped_owner_of(evidence, attempt, listener) {
                        causes.push(cause);
                        explained = true;
                    }
                    if queue_full(listener) {
                        let somaxconn = evidence.system.somaxconn();
                        causes.push(accept_queue_full(evidence, attempt, listener, somaxconn));
                        explained = true;
                    }
                }
                // Not full, but not empty after a silent probe: our own
                // connection is among those no process took.
                if !explained && outcome == Outcome::Connected {
                    if let Some(listener) = serving.iter().find(|l| not_accepting(l)) {
                        causes.push(accept_stalled(evidence, attempt, listener));
                        explained = true;
                    }
                }
            }
            if explained {
                return Explained { causes, nothing_here: false };
            }
            // The SYN passed, the packets after it may not: a rule for
            // `established` traffic, or a rate or quota the SYN was still
            // under. The server then never sees the client's ACK or request,
            // and its silence is not its own.
            if let Some(ip) = ip.filter(|_| matches!(reply, Reply::Silent | Reply::Reset)) {
                let later = later_blockers(evidence, ip);
                let prober = prober(evidence);
                if let Some(cause) = later_dropped(attempt, &later, prober.as_deref()) {
                    causes.push(cause);
                    return Explained { causes, nothing_here: false };
                }
            }
            // Silence through a qdisc on `lo` is the queue's: the request
            // or the answer may still wait in it, or be lost there.
            if matches!(reply, Reply::Silent) && ip.is_some_and(crate::model::is_loopback) {
                let qdisc = interfaces::loopback_qdisc(evidence.system);
                if let Some(qdisc) = qdisc.filter(interfaces::Qdisc::interferes) {
                    // Some binary protocols wait silently for their own
                    // greeting: only a target that asks is unanswered.
                    let severity = match evidence.target {
                        Target::Http { .. } | Target::Service { .. } => Severity::Error,
                        _ => Severity::Warning,
                    };
                    causes.push(qdisc_on_loopback(attempt, &qdisc, severity));
                    return Explained { causes, nothing_here: false };
                }
            }
            match (&reply, evidence.target) {
                (Reply::Tls, Target::Http { tls: false, .. }) => {
                    causes.push(tls_mismatch(evidence, attempt, true))
                }
                (Reply::PlainHttp, Target::Http { tls: true, .. }) => {
                    causes.push(tls_mismatch(evidence, attempt, false))
                }
                (Reply::Http(response), Target::Http { tls: true, .. }) if !response.tls => {
                    causes.push(tls_mismatch(evidence, attempt, false))
                }
                (Reply::Other(_), Target::Http { tls: true, .. }) => {
                    causes.push(tls_mismatch(evidence, attempt, false))
                }
                (Reply::Other(banner), _) if refusal::recognise(banner).is_some() => {
                    causes.push(service_refused(evidence, attempt, banner, &serving))
                }
                (Reply::Service(answer), _)
                    if answer.message.as_deref().and_then(refusal::recognise).is_some() =>
                {
                    let message = answer.message.as_deref().unwrap_or_default();
                    causes.push(service_refused(evidence, attempt, message, &serving))
                }
                (Reply::Service(answer), Target::Service { .. })
                    if super::service_probe::refused_by_libpq(answer).is_some() =>
                {
                    causes.push(libpq_refused(evidence, attempt, answer, &serving))
                }
                (Reply::Service(answer), Target::Service { libpq, .. })
                    if libpq.sslmode == super::target::SslMode::Disable
                        && super::service_probe::refused_without_tls(answer) =>
                {
                    causes.push(tls_required(evidence, attempt, answer, &serving))
                }
                (Reply::Service(answer), Target::Service { service, tls, .. })
                    if (*tls && *answer == super::service_probe::plain_only(*service))
                        || (!*tls
                            && *service == Service::Redis
                            && *answer == super::service_probe::tls_only(*service)) =>
                {
                    causes.push(service_tls_mismatch(evidence, attempt, *tls, &serving))
                }
                (Reply::Service(answer), _) if !answer.ready => {
                    causes.push(service_not_ready(evidence, attempt, answer, &serving))
                }
                (Reply::Closed | Reply::Reset, _) if dead_upstream.is_some() => {
                    causes.extend(dead_upstream)
                }
                (Reply::Closed | Reply::Reset, _) if forwarder.is_some() => {
                    causes.push(container_forwarder(attempt, forwarder.unwrap_or_default()))
                }
                (Reply::Http(response), Target::Http { .. } | Target::Tcp { .. }) => {
                    causes.push(http_error(evidence, attempt, response, &serving))
                }
                // A database or cache answers its protocol's first message
                // (MySQL/MariaDB greets before it): silence or a hang-up
                // is another service's, or a server that is not one.
                (
                    Reply::Closed | Reply::Reset | Reply::Silent,
                    Target::Service { service, tls, .. },
                ) => {
                    let answer = ServiceAnswer {
                        protocol: service.name(),
                        ready: false,
                        speaks: false,
                        summary: format!(
                            "{}{}",
                            match reply {
                                Reply::Closed => "closed the connection",
                                Reply::Reset => "reset the connection",
                                _ => "sent nothing",
                            },
                            match service {
                                _ if *tls => " in answer to a TLS ClientHello",
                                // libpq asks for TLS first over TCP when
                                // sslmode requires it.
                                Service::Postgres
                                    if evidence.target.libpq().sslmode.needs_tls()
                                        && matches!(attempt.address, ProbeAddress::Ip(_)) =>
                                {
                                    " in answer to an SSLRequest"
                                }
                                Service::Postgres => " in answer to a StartupMessage",
                                Service::Redis => " in answer to PING",
                                Service::Memcached => " in answer to version",
                                Service::Mysql => {
                                    " (a MySQL/MariaDB server greets every client at once)"
                                }
                            }
                        ),
                        code: None,
                        message: None,
                    };
                    causes.push(service_not_ready(evidence, attempt, &answer, &serving))
                }
                _ => causes.push(not_responding(evidence, attempt, &serving)),
            }
        }
    }
    Explained { causes, nothing_here: false }
}

/// The evidence line for an attempt whose written address is not the one
/// the kernel connects to (`0.0.0.0`, `::`, a v4-mapped address).
fn rewritten_destination(attempt: &Attempt) -> Option<String> {
    let (written, reached) = (attempt.ip()?, attempt.destination()?);
    if written == reached {
        return None;
    }
    let why = if written.is_unspecified() || written.to_canonical().is_unspecified() {
        "an unspecified address names no host, and Linux connects it to loopback"
    } else {
        "a v4-mapped address is an IPv4 connection: IPv4 listeners, `ip` rules and routes decide"
    };
    Some(format!("a connection to {written} goes to {reached} ({why})"))
}

/// Causes from the listener table for an address nothing serves: another
/// family, another address, or (`None`) no listener on the port at all.
fn listener_causes(evidence: &Evidence, attempt: &Attempt, ip: IpAddr) -> Option<Vec<Cause>> {
    let listeners: Vec<&Socket> = evidence
        .snapshot
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.is_listener())
        .collect();
    if listeners.is_empty() {
        return None;
    }
    let family = if ip.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 };
    let address = SocketAddr::new(ip, evidence.port);
    let (on_device, listeners): (Vec<&Socket>, Vec<&Socket>) =
        listeners.into_iter().partition(|s| s.serves(address) && !reaches_device(s, ip));
    let other_family: Vec<&Socket> =
        listeners.iter().copied().filter(|s| s.family != family || is_mapped(s)).collect();
    let same_family: Vec<&Socket> =
        listeners.iter().copied().filter(|s| s.family == family && !is_mapped(s)).collect();
    let mut causes = Vec::new();
    if !on_device.is_empty() {
        causes.push(bound_to_device(evidence, attempt, ip, &on_device));
    }
    if !other_family.is_empty() {
        causes.push(family_mismatch(evidence, attempt, ip, &other_family));
    }
    // `localhost` mapped to another loopback address (127.0.1.1) is the
    // hosts file's fault, reported by the localhost check: binding the
    // service there would be the wrong fix.
    let odd_localhost =
        evidence.target.host().is_some_and(is_localhost) && !is_canonical_loopback(ip);
    if !same_family.is_empty() && !odd_localhost {
        causes.push(bound_elsewhere(evidence, attempt, ip, &same_family));
    }
    Some(causes)
}

/// 127.0.0.1 or ::1: what `localhost` should resolve to.
fn is_canonical_loopback(ip: IpAddr) -> bool {
    ip == IpAddr::from([127, 0, 0, 1]) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// A `[::]` listener with `IPV6_V6ONLY` set: it looks like it takes every
/// client, but the kernel hands it none of IPv4.
fn is_v6only_wildcard(socket: &Socket) -> bool {
    socket.v6only == Some(true)
        && matches!(socket.local.map(|a| a.ip()), Some(IpAddr::V6(v6)) if v6.is_unspecified())
}

fn is_mapped(socket: &Socket) -> bool {
    matches!(socket.local.map(|a| a.ip()), Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some())
}

/// `localhost` for `localhost.` (and `app.localhost.`): a fully qualified
/// spelling of a local name.
fn dotted_localhost(host: &Host) -> Option<String> {
    let Host::Name(name) = host else { return None };
    let bare = name.strip_suffix('.')?;
    is_localhost(&Host::Name(bare.to_string())).then(|| bare.to_string())
}

/// `localhost.` does not resolve, `localhost` does: the trailing dot is
/// the only difference.
fn dotted_name(bare: &str, found: &[IpAddr], hosts_path: &str, error: &DiagnoseError) -> Cause {
    let source = std::error::Error::source(error).map(|e| e.to_string()).unwrap_or_default();
    let found: Vec<String> = found.iter().map(IpAddr::to_string).collect();
    Cause {
        id: CauseId::LocalhostResolution,
        severity: Severity::Error,
        summary: format!("'{bare}.' does not resolve; '{bare}' (without the trailing dot) does"),
        evidence: vec![
            format!("getaddrinfo(\"{bare}.\") failed: {source}"),
            format!("getaddrinfo(\"{bare}\") gives {}", found.join(", ")),
            format!(
                "{hosts_path} lists '{bare}' without the root's dot, and the files source of nsswitch compares names as written, so the dotted name goes on to DNS"
            ),
        ],
        fix: vec![
            Fix::step(format!("connect to '{bare}' without the trailing dot")),
            Fix::step(format!(
                "or add '{bare}.' to the {bare} lines of {hosts_path} for clients that keep it"
            )),
        ],
    }
}

fn is_localhost(host: &Host) -> bool {
    matches!(host, Host::Name(name) if name == "localhost" || name.ends_with(".localhost"))
}

/// A local PostgreSQL or MySQL/MariaDB that listens on its Unix socket
/// only (`listen_addresses = ''`, `skip-networking`) while a TCP URL finds
/// nothing on its port: the socket's listener, and the same URL asked
/// through it (a line that runs as printed: it reads back as that socket).
fn service_on_a_socket(system: &dyn System, target: &Target) -> Option<(String, Fix)> {
    let Target::Service { service, host, port, user, database, socket: None, tls: false, .. } =
        target
    else {
        return None;
    };
    let local = match host {
        Host::Ip(ip) => ip.is_loopback(),
        other => is_localhost(other),
    };
    if !local {
        return None;
    }
    let postgres_file = format!(".s.PGSQL.{port}");
    let wanted = |name: &str| match service {
        Service::Postgres => name == postgres_file,
        Service::Mysql => matches!(name, "mysqld.sock" | "mysql.sock" | "mariadb.sock"),
        Service::Redis | Service::Memcached => false,
    };
    let snapshot = unix_snapshot(system, None, None).ok()?;
    let path = snapshot.sockets.iter().filter_map(|s| s.path.as_deref()).find(|path| {
        std::path::Path::new(path).file_name().is_some_and(|name| wanted(&name.to_string_lossy()))
    })?;
    let through_socket = Target::Service {
        service: *service,
        host: host.clone(),
        port: *port,
        user: user.clone(),
        database: database.clone(),
        socket: Some(path.into()),
        tls: false,
        libpq: super::target::Libpq::default(),
    };
    let quoted = crate::shell::word(&through_socket.to_string()).into_owned();
    Some((
        format!(
            "a {} Unix socket listens at {path}: the server takes no TCP clients (listen_addresses = '' or skip-networking) but local clients through the socket",
            service.name()
        ),
        Fix::command(format!(
            "{} check {quoted}   # the same service through its socket",
            system.porthole_program(Runner::User)
        )),
    ))
}

/// Connections wait in a TCP or Unix stream listener's accept queue, and
/// there is room for more: no process takes them.
fn not_accepting(listener: &Socket) -> bool {
    // A Unix stream listener queues connections as a TCP one does: its
    // `Recv-Q` counts those no process has accepted yet.
    matches!(listener.protocol, Protocol::Tcp | Protocol::Unix)
        && listener.is_listener()
        && listener.rx_queue > 0
        && !queue_full(listener)
}

/// What a listener listens on, for a message: its address, or a Unix
/// listener's path.
fn listening_on(listener: &Socket) -> String {
    match (listener.local_text(), listener.path.as_deref()) {
        (Some(address), _) => address,
        (None, Some(path)) => format!("unix:{path}"),
        (None, None) => "the listener".to_string(),
    }
}

fn queue_full(listener: &Socket) -> bool {
    listener.accept_queue_full()
}

pub fn attempt_line(attempt: &Attempt) -> String {
    format!(
        "{}: {} after {} ms ({})",
        attempt.address,
        attempt.kind.as_str(),
        attempt.elapsed.as_millis(),
        attempt.detail
    )
}

/// `127.0.0.1:5173 (python3 pid 42, user alice)`.
pub fn listener_line(snapshot_processes: &BTreeMap<u32, Process>, socket: &Socket) -> String {
    let place = match (socket.local_text(), &socket.path) {
        (Some(address), _) => address,
        (None, Some(path)) => path.clone(),
        (None, None) => format!("inode {}", socket.inode),
    };
    let dual = if socket.is_dual_stack() {
        " (dual-stack, also IPv4)"
    } else if is_v6only_wildcard(socket) {
        " (IPV6_V6ONLY: no IPv4 client reaches it)"
    } else {
        ""
    };
    format!("{place}{dual} held by {}", owners_text(snapshot_processes, socket))
}

fn owners_text(processes: &BTreeMap<u32, Process>, socket: &Socket) -> String {
    if socket.owners.is_empty() {
        return "a process porthole cannot see (run as root)".to_string();
    }
    socket
        .owners
        .iter()
        .map(|pid| match processes.get(pid) {
            Some(process) => {
                let mut text = format!("{} (pid {pid}", process.shown_name());
                if let Some(user) = &process.user {
                    text.push_str(&format!(", user {user}"));
                }
                if let Some(container) = &process.container {
                    text.push_str(&format!(", container {container}"));
                }
                if process.is_stopped() {
                    text.push_str(&format!(", state {} stopped", process.state));
                }
                text.push(')');
                text
            }
            None => format!("pid {pid}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The port of an attempt (0 for a Unix socket).
fn attempt_port(attempt: &Attempt) -> u16 {
    attempt.address.socket_address().map_or(0, |address| address.port())
}

/// `sysctl -w net.ipv4.ip_local_reserved_ports=…` that adds `port` to the
/// ports already reserved (writing the sysctl replaces the whole list).
pub fn reserve_port_fix(port: u16, reserved: Option<&str>) -> Fix {
    let current = reserved.unwrap_or_default();
    let list = if current.trim().is_empty() {
        port.to_string()
    } else {
        format!("{},{port}", current.trim())
    };
    Fix::command(format!(
        "sysctl -w net.ipv4.ip_local_reserved_ports={list}   # keep the port out of the ephemeral range"
    ))
}

fn first_owner(socket: &Socket) -> Option<u32> {
    socket.owners.first().copied()
}

fn self_connect(
    attempt: &Attempt,
    port: u16,
    range: Option<(u16, u16)>,
    reserved: Option<&str>,
) -> Cause {
    let range_text =
        range.map_or_else(|| "the ephemeral range".to_string(), |(l, h)| format!("{l}-{h}"));
    Cause {
        id: CauseId::SelfConnect,
        severity: Severity::Error,
        summary: format!(
            "nothing listens on {}; the probe connected to itself because port {port} is inside the ephemeral range {range_text}",
            attempt.address
        ),
        evidence: vec![
            attempt_line(attempt),
            format!("net.ipv4.ip_local_port_range = {range_text}: the kernel may pick {port} as a client's source port"),
            "a readiness check that only tests connect() would wrongly report this port as up".to_string(),
        ],
        fix: vec![
            Fix::step("start the service"),
            reserve_port_fix(port, reserved),
            Fix::step("or move the service to a port below the ephemeral range (porthole free)"),
        ],
    }
}

fn sandbox_denied_connect(attempt: &Attempt, confinement: &environment::Confinement) -> Cause {
    let mut evidence = vec![attempt_line(attempt)];
    if confinement.is_empty() {
        evidence.push(match &confinement.cgroup_unreadable {
            None => "no SELinux enforcement, LSM label, seccomp filter, systemd IP policy or cgroup BPF program found; another LSM (Landlock) may be refusing it".to_string(),
            Some(why) => format!("no SELinux enforcement, LSM label, seccomp filter or systemd IP policy found; {why}, and one may be refusing it; another LSM (Landlock) may be refusing it too"),
        });
    } else {
        evidence.extend(confinement.evidence());
    }
    Cause {
        id: CauseId::SandboxDenied,
        severity: Severity::Error,
        summary: format!(
            "a security policy refused the connection to {} ({})",
            attempt.address,
            attempt.detail.split(';').next().unwrap_or("")
        ),
        evidence,
        fix: sandbox_fixes(confinement),
    }
}

pub fn sandbox_fixes(confinement: &environment::Confinement) -> Vec<Fix> {
    let mut fix = Vec::new();
    if confinement.selinux_enforcing {
        fix.push(Fix::command("ausearch -m avc -ts recent   # find the denial"));
        fix.push(Fix::step(
            "then allow it: semanage port -a -t TYPE -p tcp PORT with the type the denial names, or the setsebool it suggests",
        ));
    }
    if let Some(label) = &confinement.label {
        fix.push(Fix::step(format!(
            "allow network access in the profile '{label}' (aa-complain or edit /etc/apparmor.d)"
        )));
    }
    if confinement.seccomp_filter {
        fix.push(Fix::step(
            "run the client without the seccomp filter, or allow connect/bind in it",
        ));
    }
    if let Some(unit) = &confinement.unit {
        if !confinement.systemd.is_empty() {
            fix.push(Fix::command(format!(
                "systemctl edit {}   # add IPAddressAllow=localhost or relax RestrictAddressFamilies=",
                crate::shell::word(unit)
            )));
        }
    }
    let systemd_firewall = confinement.unit.is_some() && !confinement.systemd.is_empty();
    let detachable =
        confinement.cgroup_programs.iter().any(|p| !(p.is_systemd_firewall() && systemd_firewall));
    if detachable && !confinement.bpftool_installed {
        fix.push(Fix::step("install bpftool (Debian and Ubuntu: the bpftool package; Fedora: bpftool) for the commands below"));
    }
    for program in &confinement.cgroup_programs {
        // systemd's own programs follow the unit's setting (fixed above):
        // a detach would be undone at the unit's next start.
        if program.is_systemd_firewall() && systemd_firewall {
            continue;
        }
        fix.push(cgroup_detach_fix(program));
    }
    if fix.is_empty() {
        fix.push(Fix::step(if confinement.cgroup_unreadable.is_some() {
            "run porthole check as root to read the cgroup's BPF programs, or find the policy that confines the client (Landlock, a cgroup BPF program) and allow loopback"
        } else {
            "find the policy that confines the client (seccomp, Landlock) and allow loopback"
        }));
    }
    fix
}

/// The command that takes a cgroup BPF program off its hook: `bpftool
/// link detach` for a program held by a BPF link (a `cgroup detach` of it
/// fails), `bpftool cgroup detach` otherwise.
pub fn cgroup_detach_fix(program: &crate::inventory::cgroup_policy::CgroupProgram) -> Fix {
    let cgroup = program.cgroup.to_string_lossy();
    match program.link {
        Some(link) => Fix::command(format!(
            "bpftool link detach id {link}   # takes program {} off the {} hook of {}; whoever attached it may attach it again",
            program.id,
            program.hook.bpftool_name(),
            crate::shell::word(&cgroup)
        )),
        None => Fix::command(format!(
            "bpftool cgroup detach {} {} id {}",
            crate::shell::word(&cgroup),
            program.hook.bpftool_name(),
            program.id
        )),
    }
}

/// Whether `socket` can receive a connection to `ip`: a socket bound to a
/// device (`SO_BINDTODEVICE`) only sees packets arriving on it, and
/// loopback traffic arrives on `lo`.
fn reaches_device(socket: &Socket, ip: IpAddr) -> bool {
    !crate::model::is_loopback(ip)
        || socket.interface == 0
        || socket.interface == interfaces::LOOPBACK_INDEX
}

/// Listeners of the address bound to another device than `lo`, or bound
/// to a device that is down.
///
/// # Platform specific behavior
///
/// A socket bound with `SO_BINDTODEVICE` sends its answers out through its
/// device: while that device is down the handshake's SYN-ACK goes nowhere,
/// so even a client of the device's own address (delivered locally) times
/// out. Setting the device up is enough; a veth without its peer (no
/// carrier) still delivers locally.
fn bound_to_device(evidence: &Evidence, attempt: &Attempt, ip: IpAddr, bound: &[&Socket]) -> Cause {
    let known = interfaces::read(evidence.system).unwrap_or_default();
    let mut lines = vec![attempt_line(attempt)];
    let mut fix = Vec::new();
    let mut devices = Vec::new();
    let mut down = Vec::new();
    for socket in bound {
        let device = known.iter().find(|i| i.index == socket.interface);
        let name =
            device.map_or_else(|| format!("ifindex {}", socket.interface), |d| d.name.clone());
        lines.push(format!(
            "listener: {} bound to device {name} (SO_BINDTODEVICE)",
            listener_line(&evidence.snapshot.processes, socket)
        ));
        if device.is_some_and(|d| !d.up) && !down.contains(&name) {
            lines.push(format!(
                "device {name} is down: the listener's answers leave through it, so no client gets one, not even at {name}'s own addresses"
            ));
            fix.push(Fix::command(format!(
                "ip link set {} up   # the listener answers again",
                crate::shell::word(&name)
            )));
            down.push(name.clone());
        }
        let family = socket.local.map(|a| a.is_ipv4());
        let address = device.and_then(|d| {
            d.addresses.iter().map(|(a, _)| *a).find(|a| Some(a.is_ipv4()) == family)
        });
        match address {
            // The address probed is the device's own: it is the device
            // being down that keeps the answer away.
            Some(address) if address == ip => {}
            Some(address) => {
                let step = format!(
                    "connect to {} (an address of {name})",
                    SocketAddr::new(address, evidence.port)
                );
                if !fix.iter().any(|f: &Fix| f.text() == step) {
                    fix.push(Fix::step(step));
                }
            }
            None if device.is_some() => {
                let family = if family == Some(true) { "IPv4" } else { "IPv6" };
                lines.push(format!(
                    "device {name} has no {family} address: no client on this machine reaches the listener"
                ));
            }
            None => {}
        }
        if !devices.contains(&name) {
            devices.push(name);
        }
    }
    let arrives_on_lo = bound.iter().any(|socket| !reaches_device(socket, ip));
    if arrives_on_lo {
        lines.push(format!(
            "connections to {ip} arrive on lo, which a socket bound to another device never sees"
        ));
    }
    let unbind = "stop binding the service to a device (SO_BINDTODEVICE, an interface option in its listen setting)";
    fix.push(Fix::step(if fix.is_empty() { unbind.to_string() } else { format!("or {unbind}") }));
    let summary = if arrives_on_lo {
        format!(
            "port {} listens only on device {}, not on lo, so {ip} is refused",
            evidence.port,
            devices.join(", ")
        )
    } else {
        format!(
            "port {} listens only on device {}, which is down, so {ip} gets no answer",
            evidence.port,
            down.join(", ")
        )
    };
    Cause { id: CauseId::BoundElsewhere, severity: Severity::Error, summary, evidence: lines, fix }
}

/// The listeners of `serving` bound to a device that is down: they get the
/// connection but their answer is lost (see [`bound_to_device`]).
fn serving_on_a_down_device<'a>(evidence: &Evidence, serving: &[&'a Socket]) -> Vec<&'a Socket> {
    let bound: Vec<&Socket> = serving
        .iter()
        .copied()
        .filter(|s| s.interface != 0 && s.interface != interfaces::LOOPBACK_INDEX)
        .collect();
    if bound.is_empty() {
        return bound;
    }
    let known = interfaces::read(evidence.system).unwrap_or_default();
    bound.into_iter().filter(|s| known.iter().any(|i| i.index == s.interface && !i.up)).collect()
}

fn loopback_down(attempt: &Attempt, problem: &LoopbackProblem) -> Cause {
    let mut evidence = vec![attempt_line(attempt)];
    let (summary, fixes) = match problem {
        LoopbackProblem::LinkDown => {
            evidence.push("ip addr show: lo lacks the UP flag".to_string());
            (
                format!(
                    "the loopback interface lo is down, so {} cannot be reached",
                    attempt.address
                ),
                vec![Fix::command("ip link set lo up")],
            )
        }
        LoopbackProblem::AddressMissing { address } => {
            evidence.push(format!("ip addr show: {address} is not on lo"));
            let prefix = if address.is_ipv4() { 8 } else { 128 };
            (
                format!(
                    "{address} is not configured on lo, so {} cannot be reached",
                    attempt.address
                ),
                vec![Fix::command(format!("ip addr add {address}/{prefix} dev lo"))],
            )
        }
        LoopbackProblem::PolicyRule { address, priority, rule, route, source } => {
            evidence.push(format!("ip rule: {rule}, consulted before table local"));
            if let Some(source) = source {
                evidence.push(format!(
                    "the connection's source is {source}, taken from the local route by the first route lookup (which has no source and finds table local); the second lookup, with the source set, meets this rule"
                ));
            }
            evidence.push(format!("where it leads {address}: {route}"));
            let family = if address.is_ipv6() { " -6" } else { "" };
            (
                format!(
                    "policy routing rule {priority} sends {address} away from table local ({route}), so {} cannot be reached",
                    attempt.address
                ),
                vec![Fix::command(format!("ip{family} rule del pref {priority}"))],
            )
        }
        LoopbackProblem::RouteInLocalTable { address, kind, destination, local_route_kept } => {
            evidence.push(format!(
                "ip route show table local: {kind} {destination}, the longest route holding {address}, so its local route is never used"
            ));
            let family = if address.is_ipv6() { " -6" } else { "" };
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            (
                format!(
                    "{article} {kind} route for {destination} in table local hides the local route of {address}, so {} cannot be reached",
                    attempt.address
                ),
                {
                    let mut fixes = vec![Fix::command(format!(
                        "ip{family} route del {kind} {destination} table local"
                    ))];
                    if !local_route_kept {
                        // Nothing local is left under it: without the
                        // local route the next lookup finds no route at all.
                        fixes.push(Fix::command(format!(
                            "ip route add local {address} dev lo table local"
                        )));
                    }
                    fixes
                },
            )
        }
        LoopbackProblem::RuleNotEvaluated { address, route } => {
            evidence.push(format!("ip route get {address}: {route}"));
            evidence.push(format!(
                "table local holds the local route of {address}, so a policy-routing rule consulted before it, by a selector porthole does not evaluate (a mark, suppress_prefixlen…), sends the connection elsewhere"
            ));
            let family = if address.is_ipv6() { " -6" } else { "" };
            (
                format!(
                    "{address} is not routed to lo ({route}), so {} cannot be reached",
                    attempt.address
                ),
                vec![
                    Fix::command(format!(
                        "ip{family} rule show   # the rules before `lookup local`; ip{family} rule del pref N removes one"
                    )),
                ],
            )
        }
        LoopbackProblem::NoLocalRoute { address, route } => {
            evidence.push(format!("ip route get {address}: {route}"));
            (
                format!("{address} has no local route, so {} cannot be reached", attempt.address),
                vec![Fix::command(format!("ip route add local {address} dev lo table local"))],
            )
        }
    };
    Cause { id: CauseId::LoopbackDown, severity: Severity::Error, summary, evidence, fix: fixes }
}

/// A firewall rule in a `type route` output chain marks the loopback SYN,
/// and a policy-routing rule that selects that mark, consulted before table
/// local, sends the rerouted packet away: connect() itself found table
/// local (its lookups are unmarked), the SYN is lost after the mark.
fn marked_away(
    evidence: &mut Evidence,
    attempt: &Attempt,
    ip: IpAddr,
    flow: interfaces::Flow,
) -> Option<Cause> {
    let packet = loopback_packet(evidence, ip);
    let system = evidence.system;
    let (nft, iptables_nft, legacy) = firewall_sources(evidence);
    let managed = firewall::managed_tables(iptables_nft);
    let from_nft =
        nft.and_then(|(ruleset, text)| firewall::nft_mark_setter(ruleset, text, &packet, &managed));
    let setter = from_nft.or_else(|| {
        let dumps = iptables_nft.iter().chain(legacy.iter());
        dumps
            .filter_map(|(tool, dump)| firewall::legacy_mark_setter(tool, dump, &packet))
            .next_back()
    })?;
    let marked = interfaces::Flow { mark: Some(setter.mark), ..flow };
    let LoopbackProblem::PolicyRule { address, priority, rule, route, .. } =
        interfaces::marked_rule(system, ip, marked)?
    else {
        return None;
    };
    let mark = setter.mark;
    let evidence_lines = vec![
        attempt_line(attempt),
        format!(
            "firewall: {} sets mark {mark:#x} on the SYN in a route chain, so the kernel routes it again",
            setter.describe()
        ),
        format!("ip rule: {rule}, consulted before table local, selects that mark"),
        format!("where it leads {address}: {route}"),
    ];
    // A rule that marks only loopback is deleted; one that marks other
    // traffic too gets a `return` for lo in front of it. Deleting the
    // policy rule instead would take the lookup from whatever else carries
    // the mark.
    let fix = vec![Fix::command(setter.removal())];
    Some(Cause {
        id: CauseId::LoopbackDown,
        severity: Severity::Error,
        summary: format!(
            "a firewall rule marks the SYN to {address} with {mark:#x} and policy routing rule {priority} sends marked packets away from table local ({route}), so {} cannot be reached",
            attempt.address
        ),
        evidence: evidence_lines,
        fix,
    })
}

/// The kernel's default `ip_local_port_range`.
const DEFAULT_EPHEMERAL: (u16, u16) = (32768, 60999);

/// `EADDRNOTAVAIL` on a connect to a loopback address that exists and is
/// routed: no source port of the ephemeral range is free for this
/// destination.
fn source_ports_exhausted(evidence: &Evidence, attempt: &Attempt, ip: IpAddr) -> Cause {
    let system = evidence.system;
    let destination = SocketAddr::new(ip, evidence.port);
    let range = system.ephemeral_range();
    let range_text =
        range.map_or_else(|| "the ephemeral range".to_string(), |(l, h)| format!("{l}-{h}"));
    // The kernel never picks a reserved port as a source port, so the
    // reservations inside the range shrink it.
    let reserved_text = system.reserved_ports_text().unwrap_or_default();
    let reserved = PortSet::parse(&reserved_text).ok();
    let taken = range
        .zip(reserved.as_ref())
        .map_or((0, None), |((low, high), reserved)| reserved_in_range(reserved, low, high));
    let mut lines = vec![attempt_line(attempt)];
    let mut waiting = 0;
    // The client ends: sockets whose remote port is the target's.
    let query = Query { udp: false, ..Query::for_port(evidence.port) };
    if let Ok(snapshot) = system.snapshot(&query) {
        let open: Vec<&Socket> = snapshot
            .sockets
            .iter()
            .filter(|s| !s.is_listener() && s.remote == Some(destination))
            .collect();
        waiting = open.iter().filter(|s| s.state == crate::model::SocketState::TimeWait).count();
        lines.push(format!(
            "{} sockets connect to {destination} ({waiting} in TIME-WAIT); net.ipv4.ip_local_port_range = {range_text}",
            open.len()
        ));
        let mut per_owner: BTreeMap<u32, usize> = BTreeMap::new();
        for socket in &open {
            for pid in &socket.owners {
                *per_owner.entry(*pid).or_default() += 1;
            }
        }
        if let Some((pid, count)) = per_owner.iter().max_by_key(|(_, count)| **count) {
            let name = snapshot.processes.get(pid).map_or("?", |p| p.name.as_str());
            lines.push(format!("{name} (pid {pid}) holds {count} of them"));
        }
    }
    let mut fix = Vec::new();
    let mut summary = format!(
        "no source port is free for {destination}: every port of {range_text} already connects to it"
    );
    if let Some((low, high)) = range {
        let size = u32::from(high.saturating_sub(low)) + 1;
        let default_size = u32::from(DEFAULT_EPHEMERAL.1 - DEFAULT_EPHEMERAL.0) + 1;
        if size < default_size {
            fix.push(Fix::command(format!(
                "sysctl -w net.ipv4.ip_local_port_range=\"{} {}\"   # the default range",
                DEFAULT_EPHEMERAL.0, DEFAULT_EPHEMERAL.1
            )));
        }
        if let (count @ 1.., Some(kept)) = taken {
            let left = size - count;
            summary = format!(
                "no source port is free for {destination}: the {left} port(s) of {range_text} that ip_local_reserved_ports leaves to source ports all connect to it"
            );
            lines.push(format!(
                "net.ipv4.ip_local_reserved_ports = {}: {count} of the {size} ports of the range are reserved, and the kernel never picks a reserved port as a source port",
                reserved_text.trim()
            ));
            fix.push(Fix::command(format!(
                "sysctl -w net.ipv4.ip_local_reserved_ports=\"{kept}\"   # gives the {count} reserved port(s) inside {range_text} back; reserve only the ports services listen on"
            )));
        }
    }
    // A TIME-WAIT socket is a connection already closed: there is nothing
    // left to close, only fewer short connections to open.
    fix.push(Fix::step(if waiting > 0 {
        format!(
            "{waiting} of them are closed connections in TIME-WAIT, which keep their port for 60 s after the close: open fewer short-lived connections to {destination} (a connection pool, HTTP keep-alive)"
        )
    } else {
        format!(
            "close idle connections to {destination}, or reuse them (a connection pool, HTTP keep-alive)"
        )
    }));
    Cause {
        id: CauseId::SourcePortsExhausted,
        severity: Severity::Error,
        summary,
        evidence: lines,
        fix,
    }
}

/// How many ports of `low..=high` `reserved` holds, and the reservations
/// outside that range as `ip_local_reserved_ports` takes them (`None` when
/// none is inside).
fn reserved_in_range(reserved: &PortSet, low: u16, high: u16) -> (u32, Option<String>) {
    let mut count = 0;
    let mut kept = Vec::new();
    for &(start, end) in reserved.ranges() {
        let (inner_start, inner_end) = (start.max(low), end.min(high));
        if inner_start <= inner_end {
            count += u32::from(inner_end - inner_start) + 1;
        }
        // What lies below and above the range survives.
        if start < low {
            kept.push((start, end.min(low - 1)));
        }
        if end > high {
            kept.push((start.max(high + 1), end));
        }
    }
    let text = kept
        .iter()
        .map(
            |&(start, end)| {
                if start == end {
                    start.to_string()
                } else {
                    format!("{start}-{end}")
                }
            },
        )
        .collect::<Vec<_>>()
        .join(",");
    (count, (count > 0).then_some(text))
}

/// The client's filesystem uid, its gids and whether it may ignore file
/// modes (`CAP_DAC_OVERRIDE`), from its `/proc/PID/status`.
fn file_credentials(status: &str) -> Option<(u32, Vec<u32>, bool)> {
    let field = |name: &str, index: usize| -> Option<u32> {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        line.split_whitespace().nth(index)?.parse().ok()
    };
    // Uid:/Gid: are real, effective, saved and filesystem ids.
    let uid = field("Uid:", 3)?;
    let mut gids = vec![field("Gid:", 3)?];
    if let Some(line) = status.lines().find_map(|line| line.strip_prefix("Groups:")) {
        gids.extend(line.split_whitespace().filter_map(|g| g.parse::<u32>().ok()));
    }
    let capabilities = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0);
    // CAP_DAC_OVERRIDE is bit 1.
    Some((uid, gids, capabilities & (1 << 1) != 0))
}

/// Which class of a file's mode applies to the client: 6 (owner), 3
/// (group) or 0 (other), as the shift of its three bits.
fn mode_shift(status: &FileStatus, uid: u32, gids: &[u32]) -> u32 {
    if status.uid == uid {
        6
    } else if gids.contains(&status.gid) {
        3
    } else {
        0
    }
}

/// A place on the way to a Unix socket that keeps the client out: a
/// directory without search permission for it, or the socket without
/// write permission.
struct Blocked<'a> {
    place: &'a std::path::Path,
    /// Its status, `None` when the client cannot read it because a
    /// directory above it is closed to it.
    status: Option<FileStatus>,
    /// The mode bit the client needs: `x` for a directory, `w` for the
    /// socket.
    bit: &'static str,
}

/// `EACCES` connecting to a Unix socket because of file modes: the socket
/// lacks write permission for the client, or directories above it lack
/// search permission. Every place that keeps the client out is named with
/// its fix at once, so one round of fixes lets it connect; a place whose
/// mode the client cannot read (it is behind a closed directory) gets the
/// grant too, which changes nothing where it is already allowed. `None`
/// when the modes allow it (a security policy then refused it).
fn socket_permission(
    system: &dyn System,
    client: Client,
    attempt: &Attempt,
    path: &std::path::Path,
) -> Option<Cause> {
    let (uid, gids, override_modes) = file_credentials(&client.status(system))?;
    if override_modes {
        return None;
    }
    let mut places: Vec<(&std::path::Path, &'static str)> = path
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|directory| (directory, "x"))
        .collect();
    places.reverse();
    places.push((path, "w"));
    let mut blocked: Vec<Blocked<'_>> = Vec::new();
    for (place, bit) in places {
        let needed = if bit == "w" { 0o2 } else { 0o1 };
        match system.file_status(&client.file(&place.to_string_lossy())) {
            Some(status) => {
                if (status.mode >> mode_shift(&status, uid, &gids)) & needed == 0 {
                    blocked.push(Blocked { place, status: Some(status), bit });
                }
            }
            // Hidden behind a directory already found closed: its mode is
            // unknown, so it is granted what the client needs as well.
            None if !blocked.is_empty() => blocked.push(Blocked { place, status: None, bit }),
            None => return None,
        }
    }
    let first = blocked.first()?;
    let user = system.user_name(uid).unwrap_or_else(|| uid.to_string());
    // Run by the user at the terminal: `usermod` is root's to run, `chmod`
    // its owner's or root's.
    let caller = rustix::process::getuid().as_raw();
    let to_root = as_root(system, rustix::process::geteuid().is_root());
    let mut evidence = vec![attempt_line(attempt)];
    let mut fix = Vec::new();
    // One `chmod` per closed place, run together: a fix given a place at a
    // time would leave the client out until the last round.
    let mut chmods = Vec::new();
    let mut effects = Vec::new();
    // Whether every place belongs to the caller, who then needs no root.
    let mut all_own = true;
    let mut owners = Vec::new();
    for place in &blocked {
        let place_text = place.place.display().to_string();
        effects.push(if place.bit == "w" { "connect" } else { "pass through" });
        let Some(status) = &place.status else {
            evidence.push(format!(
                "{place_text}: its mode cannot be read by {user} behind {}",
                first.place.display()
            ));
            chmods.push(format!("chmod o+{} {}", place.bit, crate::shell::word(&place_text)));
            all_own = false;
            continue;
        };
        let shift = mode_shift(status, uid, &gids);
        let owner = system.user_name(status.uid).unwrap_or_else(|| status.uid.to_string());
        let group = group_name(system, status.gid).unwrap_or_else(|| status.gid.to_string());
        evidence.push(format!(
            "{place_text}: mode {:04o}, owner {owner}, group {group}",
            status.mode & 0o7777
        ));
        let needed = if place.bit == "w" { 0o2 } else { 0o1 };
        // The group would let it in: joining it is the narrow fix (never
        // for group root), offered where it is the only place closed.
        if blocked.len() == 1 && shift == 0 && (status.mode >> 3) & needed != 0 && status.gid != 0 {
            let usermod =
                format!("usermod -aG {} {}", crate::shell::word(&group), crate::shell::word(&user));
            fix.push(root_fix(to_root, &usermod, "then start the client again", || {
                format!(
                    "as root, add {user} to group {group}: `{usermod}`, then start the client again"
                )
            }));
        }
        let who = match shift {
            6 => "u",
            3 => "g",
            _ => "o",
        };
        chmods.push(format!("chmod {who}+{} {}", place.bit, crate::shell::word(&place_text)));
        all_own &= caller == status.uid;
        if !owners.contains(&owner) {
            owners.push(owner);
        }
    }
    let comment = match (&blocked[..], effects.as_slice()) {
        ([Blocked { status: Some(status), .. }], [effect]) => {
            let whom = match mode_shift(status, uid, &gids) {
                6 => "the owner",
                3 => "every member of the group",
                _ => "every local user",
            };
            format!("lets {whom} {effect}")
        }
        _ if blocked.iter().any(|place| place.status.is_none()) => format!(
            "lets user {user} pass through and connect (no change where a mode already allows it)"
        ),
        _ => format!("lets user {user} pass through and connect"),
    };
    let chmod = chmods.join(" && ");
    fix.push(if all_own {
        Fix::command(format!("{chmod}   # {comment}"))
    } else {
        // `&&` does not pass through sudo: the line goes through a shell.
        let line = match to_root {
            AsRoot::Sudo if chmods.len() > 1 => format!("sh -c {}", crate::shell::word(&chmod)),
            _ => chmod.clone(),
        };
        root_fix(to_root, &line, &comment, || {
            let owners =
                if owners.is_empty() { "its owner".to_string() } else { owners.join(", ") };
            format!("as root or {owners}, run `{chmod}`: it {comment}")
        })
    });
    if blocked.iter().any(|place| place.bit == "w") {
        fix.push(Fix::step(
            "to keep it after the service recreates the socket, set the socket's mode or group in the service's configuration (SocketMode=/SocketGroup= for a systemd socket unit)",
        ));
    }
    let permission = |place: &Blocked<'_>| if place.bit == "w" { "write" } else { "search" };
    let mut closed =
        format!("{} lacks {} permission for it", first.place.display(), permission(first));
    for place in &blocked[1..] {
        let lacks = if place.status.is_some() { "lacks" } else { "may lack" };
        closed.push_str(&format!(
            ", {} {lacks} {} permission",
            place.place.display(),
            permission(place)
        ));
    }
    evidence.extend([
        format!(
            "the client runs as uid {uid} ({user}), gids {}",
            gids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        ),
        "connecting to a Unix socket needs write permission on it and search permission on every directory above it".to_string(),
    ]);
    Some(Cause {
        id: CauseId::SocketPermission,
        severity: Severity::Error,
        summary: format!("user {user} may not connect to {}: {closed}", path.display()),
        evidence,
        fix,
    })
}

/// IPv6 is off where `::1` lives. `lo` and `all` are the sysctls' values
/// (`None`: not there, a kernel without IPv6). Writing `all` would turn
/// IPv6 on for every interface, which a host that disabled it on purpose
/// does not want; `lo`'s own setting is enough for `::1`, even when `all`
/// was what turned it off (writing `all` sets every device's value).
fn ipv6_disabled(attempt: &Attempt, lo: Option<&str>, all: Option<&str>, hosts: &str) -> Cause {
    let mut evidence = vec![attempt_line(attempt)];
    let mut fix = Vec::new();
    match (lo, all) {
        (None, _) => {
            evidence.push(
                "the kernel has no IPv6 (/proc/sys/net/ipv6 is missing: booted with ipv6.disable=1)"
                    .to_string(),
            );
            fix.push(Fix::step(format!(
                "use 127.0.0.1, and drop '::1 localhost' from {hosts} (IPv6 needs a reboot without ipv6.disable=1)"
            )));
        }
        (Some(lo), all) => {
            evidence.push(format!("net.ipv6.conf.lo.disable_ipv6 = {lo}"));
            if let Some(all) = all {
                evidence.push(format!("net.ipv6.conf.all.disable_ipv6 = {all}"));
            }
            fix.push(Fix::command(
                "sysctl -w net.ipv6.conf.lo.disable_ipv6=0   # IPv6 on loopback only; other interfaces stay as they are",
            ));
            fix.push(Fix::step(format!(
                "or use 127.0.0.1, and drop '::1 localhost' from {hosts} while IPv6 is off"
            )));
        }
    }
    Cause {
        id: CauseId::Ipv6Disabled,
        severity: Severity::Error,
        summary: format!("IPv6 is disabled on loopback, so {} cannot be reached", attempt.address),
        evidence,
        fix,
    }
}

/// How the user at the terminal, porthole's own, runs a command as root;
/// `privileged`: porthole runs as root.
fn as_root(system: &dyn System, privileged: bool) -> AsRoot {
    crate::inventory::system::as_root(system, rustix::process::getuid().as_raw(), privileged)
}

/// A fix that needs root: `command` as `wrapper` runs it, with `comment`
/// after it, or, where no way to root is known, the step `in_words` says.
fn root_fix(
    wrapper: AsRoot,
    command: &str,
    comment: &str,
    in_words: impl FnOnce() -> String,
) -> Fix {
    match wrapper {
        AsRoot::Unknown => Fix::step(in_words()),
        _ => Fix::command(format!("{}   # {comment}", wrapper.wrap(command))),
    }
}

/// Adds to an unexplained cause that the firewall could not be read, and
/// how to read it: as root, evaluating as the user's shell (the parent of
/// this porthole) so owner-match rules still see that user.
fn firewall_unreadable(system: &dyn System, target: &Target, client: Client, cause: &mut Cause) {
    cause.evidence.push(
        "the firewall ruleset could not be read (nft needs root): a rule that rejects or drops these connections would not show here"
            .into(),
    );
    let parent = match client {
        Client::Process(pid) => Some(pid),
        Client::Current => Client::Current.status(system).lines().find_map(|line| {
            line.strip_prefix("PPid:")?.trim().parse::<u32>().ok().filter(|&pid| pid > 1)
        }),
    };
    let quoted = crate::shell::word(&target.to_string()).into_owned();
    // Run by root, whose `PATH` may find another porthole or none.
    let program = system.porthole_program(Runner::Root);
    let check = match parent {
        Some(pid) => format!("{program} check {quoted} --from {pid}"),
        None => format!("{program} check {quoted}"),
    };
    // Through sudo or su, as `kill` writes its runs as root.
    // Not root, or the firewall would have been read.
    let wrapper = as_root(system, false);
    cause.fix.push(match wrapper {
        AsRoot::Sudo | AsRoot::Su => Fix::command(format!(
            "{}   # as root, so the firewall can be read",
            wrapper.wrap(&check)
        )),
        AsRoot::Already | AsRoot::Unknown => {
            Fix::step(format!("run `{check}` as root, so the firewall can be read"))
        }
    });
}

/// A loopback SYN that got no answer, with an XDP program on `lo`: it runs
/// before the network stack, so its drops show nowhere else. What it
/// decides cannot be read; with no firewall rule to blame it is the filter
/// on the way.
fn xdp_on_loopback(
    evidence: &Evidence,
    attempt: &Attempt,
    program: &interfaces::XdpProgram,
) -> Cause {
    let name = if program.name.is_empty() { String::new() } else { format!(" '{}'", program.name) };
    let link = evidence.system.xdp_link_of(program.id);
    let mut lines = vec![
        attempt_line(attempt),
        format!(
            "an XDP program runs on lo ({} mode): id {}{name}{} (ip -j link show dev lo)",
            program.mode,
            program.id,
            link.map(|link| format!(", held by BPF link {link}")).unwrap_or_default()
        ),
        "XDP sees every loopback packet before the network stack; no nftables or iptables rule matches the SYN, so it is the filter found on its way".to_string(),
    ];
    let fix = match link {
        // `ip link set … xdp off` cannot replace an active BPF link.
        Some(link) => {
            if !environment::bpftool_installed(evidence.system) {
                lines.push("bpftool, which detaches it, is not installed (Debian and Ubuntu: the bpftool package)".to_string());
            }
            vec![Fix::command(format!(
                "bpftool link detach id {link}   # takes program {} off lo; whoever attached it may attach it again",
                program.id
            ))]
        }
        None => vec![Fix::command("ip link set dev lo xdp off")],
    };
    Cause {
        id: CauseId::FirewallDrop,
        severity: Severity::Error,
        summary: format!(
            "{} {}: the XDP program{name} on lo may drop the packets (the one filter on the way)",
            attempt.address,
            attempt.kind.as_str()
        ),
        evidence: lines,
        fix,
    }
}

/// `--from PID` probes with porthole's own sockets, which belong to
/// porthole's cgroup: BPF programs on the connect hooks of the client's
/// cgroup never see them, so a probe can succeed where the client gets
/// `EPERM`. The programs that run for the client and not for porthole are
/// named as a warning, with the detach that would lift them.
fn client_cgroup_unprobed(system: &dyn System, pid: u32, target: &Target) -> Option<Cause> {
    let own = system.cgroup_programs(None, environment::CONNECT_HOOKS);
    let theirs = system.cgroup_programs(Some(pid), environment::CONNECT_HOOKS);
    let unseen: Vec<_> = theirs
        .programs()
        .iter()
        .filter(|program| {
            !own.programs().iter().any(|p| p.id == program.id && p.hook == program.hook)
        })
        .collect();
    if unseen.is_empty() {
        return None;
    }
    let whose = format!("the client's (pid {pid})");
    let mut evidence: Vec<String> =
        unseen.iter().map(|program| environment::cgroup_program_line(program, &whose)).collect();
    evidence.push("porthole's probe sockets belong to porthole's own cgroup, where these programs do not run: the probe's success does not show that the client may connect".to_string());
    let mut fix = vec![Fix::step(
        "if the client's connects fail with EPERM (operation not permitted), one of these programs refuses them; detach it:",
    )];
    if !environment::bpftool_installed(system) {
        fix.push(Fix::step("install bpftool (Debian and Ubuntu: the bpftool package; Fedora: bpftool) for the commands below"));
    }
    fix.extend(unseen.iter().map(|program| cgroup_detach_fix(program)));
    Some(Cause {
        id: CauseId::SandboxDenied,
        severity: Severity::Warning,
        summary: format!(
            "BPF programs on the connect hooks of the client's cgroup (pid {pid}) did not see porthole's probe of {target}: the client may still be refused"
        ),
        evidence,
        fix,
    })
}

/// A loopback SYN that got no answer, with filters of `tc` on `lo`: they
/// run outside any firewall table, a direct-action BPF filter drops with
/// `TC_ACT_SHOT`, and another classifier's actions drop or redirect (a
/// `mirred` redirect sends the packet out of another device). A BPF filter
/// is deleted by its preference and handle (the filters beside it stay);
/// another kind by its preference, which is how `tc` deletes a u32 or
/// flower filter without naming its hash table.
fn tc_on_loopback(attempt: &Attempt, filters: &[interfaces::TcFilter]) -> Cause {
    let mut lines = vec![attempt_line(attempt)];
    let mut fix = Vec::new();
    let all_bpf = filters.iter().all(|filter| filter.kind == "bpf");
    for filter in filters.iter().filter(|filter| filter.kind != "bpf") {
        lines.push(format!(
            "a tc {} filter runs on lo {}: pref {} handle {}, action {} (tc -j filter show dev lo {})",
            filter.kind,
            filter.direction,
            filter.pref,
            filter.handle,
            filter.actions.join(", "),
            filter.direction
        ));
        let command = format!("tc filter del dev lo {} pref {}", filter.direction, filter.pref);
        if !fix.iter().any(|f: &Fix| f.text() == command) {
            fix.push(Fix::command(command));
        }
    }
    for filter in filters.iter().filter(|filter| filter.kind == "bpf") {
        let program = match (filter.program_id, filter.program_name.as_str()) {
            (Some(id), "") => format!(", program id {id}"),
            (Some(id), name) => format!(", program id {id} '{name}'"),
            (None, _) => String::new(),
        };
        lines.push(format!(
            "a tc BPF filter runs on lo {}: pref {} handle {}{program} (tc -j filter show dev lo {})",
            filter.direction, filter.pref, filter.handle, filter.direction
        ));
        fix.push(Fix::command(format!(
            "tc filter del dev lo {} pref {} handle {} bpf",
            filter.direction,
            filter.pref,
            crate::shell::word(&filter.handle)
        )));
    }
    lines.push("tc filters see loopback packets outside any firewall table; no nftables or iptables rule matches the SYN, so they are the filters found on its way".to_string());
    Cause {
        id: CauseId::FirewallDrop,
        severity: Severity::Error,
        summary: format!(
            "{} {}: {} on lo may drop the packets (the one filter on the way)",
            attempt.address,
            attempt.kind.as_str(),
            match (filters.len(), all_bpf) {
                (1, true) => "a tc BPF filter",
                (_, true) => "tc BPF filters",
                (1, false) => "a tc filter",
                (_, false) => "tc filters",
            }
        ),
        evidence: lines,
        fix,
    }
}

/// A loopback attempt that got no answer (no SYN-ACK, or nothing after the
/// request) while a qdisc at the root of `lo` has dropped packets or holds
/// some: every loopback packet waits in it, so its delay, rate or loss
/// explains the silence, and the listener cannot be judged until it is
/// gone. Deleting the root qdisc
/// gives `lo` back its default (`noqueue`).
fn qdisc_on_loopback(attempt: &Attempt, qdisc: &interfaces::Qdisc, severity: Severity) -> Cause {
    let mut lines = vec![
        attempt_line(attempt),
        format!("tc -s qdisc show dev lo: {}", qdisc.line),
        format!(
            "since it was added: {} packet(s) sent, {} dropped, {} waiting in its queue",
            qdisc.sent, qdisc.dropped, qdisc.queued
        ),
        "lo has no qdisc unless one is added (noqueue): every loopback packet of every local connection passes through this one".to_string(),
    ];
    if attempt.outcome() == Some(Outcome::Connected) {
        lines.push("the handshake got through; the request or the answer is held or lost in the queue, so the silence is not the listener's".to_string());
    }
    let what = match qdisc.kind.as_str() {
        "netem" => "delays or loses",
        "tbf" | "htb" | "cbq" | "hfsc" => "rate-limits, delays or drops",
        _ => "queues, delays or drops",
    };
    Cause {
        id: CauseId::LoopbackQdisc,
        severity,
        summary: format!(
            "{} {}: a {} qdisc on lo {what} loopback packets",
            attempt.address,
            match attempt.outcome() {
                Some(Outcome::Connected) => "connected, then got no answer",
                _ => attempt.kind.as_str(),
            },
            qdisc.kind
        ),
        evidence: lines,
        fix: vec![Fix::command("tc qdisc del dev lo root   # lo goes back to no qdisc")],
    }
}

/// Whether a fix line acts on the whole machine rather than on one network
/// namespace: BPF links and cgroups are not per namespace, and under `ip
/// netns exec` (whose fresh `/sys` has no cgroup mounts) the cgroup path of
/// a `bpftool cgroup detach` would not even exist, nor the freezer file a
/// thaw writes. `--netns` leaves these lines as they are.
pub fn acts_machine_wide(line: &str) -> bool {
    let code = line.split("   #").next().unwrap_or(line);
    line.starts_with("bpftool cgroup detach ")
        || line.starts_with("bpftool link detach ")
        || code.contains("/freezer.state")
        || code.contains("/cgroup.freeze")
}

/// A SYN that got no answer although a listener serves the address and no
/// firewall rule matches: a BPF program on the `ingress` hook of the
/// server's cgroup (systemd's `IPAddressDeny=` is one) sees every packet
/// its sockets receive, and one on porthole's own cgroup every answer the
/// probe receives. What a program decides cannot be read, so the cause
/// names it as the one filter found on the way.
fn cgroup_ingress_drop(
    evidence: &Evidence,
    attempt: &Attempt,
    serving: &[&Socket],
) -> Option<Cause> {
    use crate::inventory::cgroup_policy::CgroupHook;
    let system = evidence.system;
    let mut found: Vec<(String, crate::inventory::cgroup_policy::CgroupProgram)> = Vec::new();
    let mut listener = None;
    for socket in serving {
        for &pid in &socket.owners {
            let name = evidence.snapshot.processes.get(&pid).map_or("?", |p| p.name.as_str());
            for program in system.cgroup_programs(Some(pid), &[CgroupHook::Ingress]).programs() {
                if !found.iter().any(|(_, p)| p.id == program.id) {
                    found.push((format!("the server's ({name}, pid {pid})"), program.clone()));
                    listener.get_or_insert(*socket);
                }
            }
        }
    }
    for program in system.cgroup_programs(None, &[CgroupHook::Ingress]).programs() {
        if !found.iter().any(|(_, p)| p.id == program.id) {
            found.push(("porthole's own (the probe's)".to_string(), program.clone()));
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut lines = vec![attempt_line(attempt)];
    if let Some(listener) = listener {
        lines.push(format!("listener: {}", listener_line(&evidence.snapshot.processes, listener)));
    }
    lines.extend(
        found.iter().map(|(whose, program)| environment::cgroup_program_line(program, whose)),
    );
    lines.push("no nftables or iptables rule matches the SYN; what a BPF program decides cannot be read, so this is the one filter found on its way".to_string());
    let mut fix = Vec::new();
    let bpftool = environment::bpftool_installed(system);
    for (_, program) in &found {
        // systemd's firewall (`IPAddressDeny=`) follows its unit: the
        // cgroup it is attached to is the unit (a service or a slice).
        let unit =
            program.cgroup.file_name().map(|name| name.to_string_lossy().into_owned()).filter(
                |name| {
                    [".service", ".slice", ".scope", ".socket"].iter().any(|s| name.ends_with(s))
                },
            );
        match unit {
            Some(unit) if program.is_systemd_firewall() => {
                if let Some(output) = system.run(
                    "systemctl",
                    &["show", "-p", "IPAddressDeny,IPAddressAllow", &unit],
                    crate::inventory::system::COMMAND_TIMEOUT,
                ) {
                    lines.extend(
                        output
                            .text()
                            .lines()
                            .filter(|line| {
                                line.split_once('=').is_some_and(|(_, v)| !v.trim().is_empty())
                            })
                            .map(|line| format!("{unit}: {line}")),
                    );
                }
                fix.push(Fix::command(format!(
                    "systemctl set-property {} IPAddressAllow=localhost",
                    crate::shell::word(&unit)
                )));
            }
            _ => {
                if !bpftool && fix.is_empty() {
                    fix.push(Fix::step("install bpftool (Debian and Ubuntu: the bpftool package; Fedora: bpftool) for the commands below"));
                }
                fix.push(cgroup_detach_fix(program));
            }
        }
    }
    Some(Cause {
        id: CauseId::FirewallDrop,
        severity: Severity::Error,
        summary: format!(
            "{} {}: a BPF program on the ingress hook of {} cgroup may drop the packets (the one filter on the way)",
            attempt.address,
            attempt.kind.as_str(),
            found[0].0
        ),
        evidence: lines,
        fix,
    })
}

fn unexplained(evidence: &Evidence, attempt: &Attempt) -> Cause {
    Cause {
        id: CauseId::Unexplained,
        severity: Severity::Error,
        summary: format!(
            "{} {}, and nothing porthole checks explains why",
            attempt.address,
            attempt.kind.as_str()
        ),
        evidence: vec![attempt_line(attempt)],
        fix: match attempt_port(attempt) {
            // A Unix socket has no port to list.
            0 => vec![Fix::step("look at the service's logs")],
            port => vec![
                Fix::step("look at the service's logs"),
                Fix::command(format!(
                    "{} ls -a --port {port}   # every socket on the port",
                    evidence.program
                )),
            ],
        },
    }
}

fn family_mismatch(
    evidence: &Evidence,
    attempt: &Attempt,
    ip: IpAddr,
    others: &[&Socket],
) -> Cause {
    let wanted = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let theirs: Vec<String> =
        others.iter().map(|s| listener_line(&evidence.snapshot.processes, s)).collect();
    let resolved: Vec<String> =
        evidence.attempts.iter().filter_map(Attempt::ip).map(|ip| ip.to_string()).collect();
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(theirs.iter().map(|t| format!("listener: {t}")));
    // A name with no address of the listener's family: no client can fall
    // back to it, whatever order it tries addresses in.
    let fallback =
        evidence.attempts.iter().filter_map(Attempt::ip).any(|r| r.is_ipv4() != ip.is_ipv4());
    let mut name_fix = None;
    if let Some(Host::Name(name)) = evidence.target.host() {
        lines.push(format!("{name} resolves to {} (in this order)", resolved.join(", ")));
        if !fallback {
            let family = if ip.is_ipv4() { "IPv6" } else { "IPv4" };
            lines.push(format!(
                "{name} has no {family} address here, so no client can fall back to the listener"
            ));
            if is_localhost(&Host::Name(name.clone())) {
                let line = if ip.is_ipv4() { "::1 localhost" } else { "127.0.0.1 localhost" };
                // The file the client reads: /etc/netns/NAME/hosts under
                // `--netns`, the process's own with `--from`.
                let view = environment::hosts_view(evidence.system, evidence.client, name);
                name_fix = Some(Fix::step(format!("or add '{line}' to {}", view.hosts_path)));
            }
        }
    }
    let port = evidence.port;
    let other_ip = if ip.is_ipv4() { "[::1]" } else { "127.0.0.1" };
    // `[::]` reads as "every address"; with IPV6_V6ONLY it is every IPv6
    // address, and the machine-wide default for the flag may be why.
    let v6only = ip.is_ipv4() && others.iter().any(|s| is_v6only_wildcard(s));
    let bindv6only =
        v6only && evidence.system.sysctl("net.ipv6.bindv6only").as_deref() == Some("1");
    if bindv6only {
        lines.push(
            "net.ipv6.bindv6only = 1: every '::' bind is IPv6-only unless the program clears IPV6_V6ONLY"
                .into(),
        );
    }
    let listening: Vec<(String, String)> = others
        .iter()
        .filter_map(|s| {
            let local = s.local?.ip();
            let address = local.to_string();
            let family = if local.is_ipv4() || is_mapped(s) { "IPv4" } else { "IPv6" };
            let scope = if local.is_loopback() {
                "loopback"
            } else if local.is_unspecified() {
                "every address"
            } else {
                "one address"
            };
            Some(if is_v6only_wildcard(s) {
                (format!("{address} (IPV6_V6ONLY)"), format!("{family}, {scope}"))
            } else {
                (address, format!("{family}, {scope}"))
            })
        })
        .collect();
    let mut scopes: Vec<&str> = listening.iter().map(|(_, scope)| scope.as_str()).collect();
    scopes.dedup();
    let scopes = scopes.join("; ");
    let listening: Vec<&str> = listening.iter().map(|(address, _)| address.as_str()).collect();
    // The address a client of the listener's family reaches it at: its
    // own, or that family's loopback for a wildcard.
    let reach = others.iter().filter_map(|s| s.local.map(|a| a.ip())).find_map(|local| {
        let local = match local {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(local, IpAddr::V4),
            v4 => v4,
        };
        match local {
            IpAddr::V4(v4) if v4.is_unspecified() => Some(IpAddr::from([127, 0, 0, 1])),
            IpAddr::V6(v6) if v6.is_unspecified() => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            // A link-local address needs its zone, which a target lacks.
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => None,
            other => Some(other),
        }
    });
    // The listener's own loopback address may be out of reach as well (::1
    // taken off lo): connecting there works only once lo is repaired.
    let reach_repair =
        reach.filter(|address| crate::model::is_loopback(*address)).and_then(|address| {
            let flow = interfaces::Flow {
                port: Some(port),
                uid: evidence.owner.map(|(uid, _)| uid),
                mark: None,
            };
            interfaces::loopback_problem(evidence.system, address, flow)
                .map(|problem| loopback_down(attempt, &problem))
        });
    if let Some(repair) = &reach_repair {
        // Its evidence after the attempt line says what is wrong with lo.
        lines.extend(repair.evidence.iter().skip(1).cloned());
    }
    let reach_text = match reach {
        Some(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        Some(v4) => format!("{v4}:{port}"),
        None => format!("{other_ip}:{port}"),
    };
    let name_has = match evidence.target.host() {
        Some(Host::Name(name)) if !fallback => {
            format!(", and {name} has {wanted} addresses only ({})", resolved.join(", "))
        }
        _ => String::new(),
    };
    let reach_command = reach.and_then(|address| evidence.target.at(address)).map(|target| {
        let word = crate::shell::word(&target.to_string()).into_owned();
        Fix::command(format!(
            "{} check {word}   # the same target at the listener's address",
            evidence.program
        ))
    });
    Cause {
        id: CauseId::FamilyMismatch,
        severity: Severity::Error,
        summary: format!(
            "the service listens on {} only ({scopes}); {} is {wanted}{name_has}",
            listening.join(" and "),
            attempt.address
        ),
        evidence: lines,
        fix: {
            let mut fix = Vec::new();
            if bindv6only {
                fix.push(Fix::command(
                    "sysctl -w net.ipv6.bindv6only=0   # then restart the service: its '::' socket takes IPv4 too",
                ));
            }
            fix.push(Fix::step(if v6only {
                "clear IPV6_V6ONLY on the service's '::' socket (dual-stack), or bind 127.0.0.1 as well"
            } else {
                "bind the service to both families: '::' with IPV6_V6ONLY=0, or both 127.0.0.1 and ::1"
            }));
            match reach_repair {
                Some(repair) => {
                    fix.push(Fix::step(format!(
                        "or connect to {reach_text}, which needs lo repaired first:"
                    )));
                    fix.extend(repair.fix);
                }
                None => fix.push(Fix::step(format!("or connect to {reach_text}"))),
            }
            fix.extend(reach_command);
            // ipv4first only helps when the IPv6 address is the one that
            // fails; for an IPv6-only service it makes Node prefer the
            // failing address.
            fix.extend(name_fix);
            let listener_v4 = others.iter().any(|s| s.family == Family::Ipv4 || is_mapped(s));
            if matches!(evidence.target.host(), Some(Host::Name(_))) && ip.is_ipv6() && listener_v4
            {
                // Reordering cannot conjure an IPv4 address the name lacks.
                fix.push(Fix::step(if fallback {
                    "Node 17-19 clients: start node with --dns-result-order=ipv4first (Node 20+ tries every address)"
                } else {
                    "Node clients: --dns-result-order=ipv4first and Node 20+ (which tries every address) help only once the name has an IPv4 address"
                }));
            }
            fix
        },
    }
}

fn bound_elsewhere(evidence: &Evidence, attempt: &Attempt, ip: IpAddr, same: &[&Socket]) -> Cause {
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(
        same.iter()
            .map(|s| format!("listener: {}", listener_line(&evidence.snapshot.processes, s))),
    );
    // A name that leads to the wrong address: say how (Debian gives the
    // machine's own name 127.0.1.1 in /etc/hosts).
    let mut name_fix = None;
    if let Some(Host::Name(name)) = evidence.target.host() {
        let resolved: Vec<String> =
            evidence.attempts.iter().filter_map(Attempt::ip).map(|ip| ip.to_string()).collect();
        lines.push(format!("{name} resolves to {} (in this order)", resolved.join(", ")));
        let view = environment::hosts_view(evidence.system, evidence.client, name);
        if view.entries.contains(&ip) {
            lines.push(format!("{} maps {name} to {ip}", view.hosts_path));
            if let Some(bound) = same.iter().filter_map(|s| s.local).next() {
                name_fix = Some(Fix::step(format!(
                    "or map {name} to {} in {} (the service listens there)",
                    bound.ip(),
                    view.hosts_path
                )));
            }
        }
    }
    let addresses: Vec<String> = same.iter().filter_map(|s| s.local_text()).collect();
    Cause {
        id: CauseId::BoundElsewhere,
        severity: Severity::Error,
        summary: format!(
            "port {} listens on {} only, not on {ip}",
            evidence.port,
            addresses.join(", ")
        ),
        evidence: lines,
        fix: [
            Fix::step(format!("connect to {}", addresses.first().cloned().unwrap_or_default())),
            Fix::step(format!("or bind the service to {ip} (or a wildcard address) instead")),
        ]
        .into_iter()
        .chain(name_fix)
        .collect(),
    }
}

fn accept_queue_full(
    evidence: &Evidence,
    attempt: &Attempt,
    listener: &Socket,
    somaxconn: Option<u32>,
) -> Cause {
    let address = listening_on(listener);
    // For a listener, Send-Q is the backlog in force: what the application
    // passed to listen(), capped at net.core.somaxconn.
    let backlog = listener.tx_queue;
    let mut lines = vec![
        attempt_line(attempt),
        format!(
            "listener {address}: Recv-Q {} (connections waiting for accept) ≥ Send-Q {backlog} (backlog)",
            listener.rx_queue
        ),
        format!("owner: {}", owners_text(&evidence.snapshot.processes, listener)),
    ];
    // The counter is TCP's; a Unix listener's refusals are not in it.
    if let Some((before, after)) = evidence.overflows.filter(|_| listener.protocol == Protocol::Tcp)
    {
        lines.push(format!(
            "TcpExt ListenOverflows {before} → {after} during the probe (+{})",
            after.saturating_sub(before)
        ));
    }
    // With this sysctl a handshake that finds the queue full is answered
    // with a reset, not dropped for a retry: clients see ECONNRESET on an
    // established connection, which reads like a crashing server.
    let aborts = listener.protocol == Protocol::Tcp
        && evidence.system.sysctl("net.ipv4.tcp_abort_on_overflow").as_deref().map(str::trim)
            == Some("1");
    // The reset answers only the handshake's last ACK: a SYN that finds
    // the queue full is still dropped, so a probe that timed out must not
    // be told it would have been reset.
    if aborts && attempt.outcome() == Some(Outcome::Timeout) {
        lines.push(
            "net.ipv4.tcp_abort_on_overflow = 1: a handshake that completes while the queue is full is reset (ECONNRESET), but a SYN that finds it full is still dropped, as this probe's was: clients see resets and timeouts"
                .to_string(),
        );
    } else if aborts {
        lines.push(
            "net.ipv4.tcp_abort_on_overflow = 1: a connection that finds the queue full is reset, so clients see ECONNRESET right after connecting instead of a slow retry"
                .to_string(),
        );
    }
    let name = listener
        .owners
        .iter()
        .find_map(|pid| evidence.snapshot.processes.get(pid))
        .map(|p| p.name.clone());
    // Out of descriptors, the server fails every accept(): a larger
    // backlog would only hold more connections that nobody takes.
    if let Some(stall) = owner_stall(evidence, listener) {
        lines.push(stall.line);
        return Cause {
            id: CauseId::AcceptQueueFull,
            severity: Severity::Error,
            summary: format!(
                "the accept queue of {address} is full: {} {}",
                owners_text(&evidence.snapshot.processes, listener),
                stall.reason
            ),
            evidence: lines,
            fix: stall.fix,
        };
    }
    let mut fix =
        vec![Fix::step("fix the server's accept loop (blocked, deadlocked or overloaded)")];
    match somaxconn {
        // The application asked for less than the kernel allows: raising
        // somaxconn changes nothing, the listen() argument must grow.
        Some(limit) if u64::from(limit) > u64::from(backlog) => {
            lines.push(format!(
                "the application called listen() with a backlog of {backlog}; net.core.somaxconn = {limit} would allow more"
            ));
            fix.push(Fix::step(format!(
                "raise the backlog the server passes to listen() (now {backlog}){}",
                backlog_setting(name.as_deref())
            )));
        }
        Some(limit) => {
            lines.push(format!("the backlog is capped by net.core.somaxconn = {limit}"));
            let raised = (limit.saturating_mul(4)).max(4096);
            fix.push(Fix::command(format!("sysctl -w net.core.somaxconn={raised}")));
            fix.push(Fix::step(format!(
                "then restart the server so it calls listen() again with a larger backlog{}",
                backlog_setting(name.as_deref())
            )));
        }
        None => fix.push(Fix::step(format!(
            "raise the backlog the server passes to listen() (now {backlog}){}",
            backlog_setting(name.as_deref())
        ))),
    }
    Cause {
        id: CauseId::AcceptQueueFull,
        severity: Severity::Error,
        summary: format!(
            "the accept queue of {address} is full: the server does not call accept() fast enough"
        ),
        evidence: lines,
        fix,
    }
}

/// Where common servers take their listen() backlog from.
fn backlog_setting(process: Option<&str>) -> &'static str {
    match process {
        Some("nginx") => ": nginx `listen PORT backlog=N;`",
        Some("redis-server") => ": redis.conf `tcp-backlog N`",
        Some("gunicorn") => ": gunicorn --backlog N",
        Some("uvicorn") => ": uvicorn --backlog N",
        Some("node") => ": Node server.listen({ port, backlog: N })",
        Some(name) if name.starts_with("python") => ": Python socket.listen(N)",
        Some("php-fpm" | "php-fpm8.2") => ": php-fpm `listen.backlog = N`",
        _ => " (its listen backlog setting)",
    }
}

/// A stopped owner of `listener`, with its tracer (pid and name) read
/// only once one is found.
fn stopped_owner_of(evidence: &Evidence, attempt: &Attempt, listener: &Socket) -> Option<Cause> {
    let process = listener
        .owners
        .iter()
        .filter_map(|pid| evidence.snapshot.processes.get(pid))
        .find(|p| p.is_stopped())?;
    let tracer = evidence.system.tracer_pid(process.pid);
    let tracer_name = tracer.and_then(|t| evidence.system.process(t)).map(|p| p.name);
    Some(stopped_owner(evidence, attempt, listener, process, tracer, tracer_name))
}

fn stopped_owner(
    evidence: &Evidence,
    attempt: &Attempt,
    listener: &Socket,
    process: &Process,
    tracer: Option<u32>,
    tracer_name: Option<String>,
) -> Cause {
    let traced = process.state == 't' || tracer.is_some();
    // Only a handshake that got through proves the kernel still answers
    // for the stopped process.
    // A Unix socket has neither port nor handshake: the kernel queues
    // its connections.
    let unix = listener.protocol == Protocol::Unix;
    let handshake = if attempt.outcome() == Some(Outcome::Timeout) {
        "nothing would answer even once a connection gets through"
    } else if unix {
        "the kernel queues connections, nobody accepts them"
    } else {
        "the kernel completes handshakes, nobody answers"
    };
    let held = if unix { "the socket" } else { "the port" };
    let mut lines = vec![
        attempt_line(attempt),
        format!("listener: {}", listener_line(&evidence.snapshot.processes, listener)),
        format!("/proc/{}/stat state = {}", process.pid, process.state),
    ];
    if let Some(tracer) = tracer {
        lines.push(format!(
            "/proc/{}/status TracerPid = {tracer}{}",
            process.pid,
            tracer_name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
        ));
    }
    let fix = match (traced, tracer) {
        (true, Some(tracer)) => vec![
            Fix::step(format!(
                "detach the debugger {}(pid {tracer}): `detach` or `continue` in gdb, or quit it; kill -CONT does not resume a traced process",
                tracer_name.as_ref().map(|n| format!("{n} ")).unwrap_or_default()
            )),
        ],
        (true, None) => vec![Fix::step(
            "continue or detach the debugger that stopped it; kill -CONT does not resume a traced process",
        )],
        (false, _) => vec![
            Fix::command(format!("kill -CONT {}", process.pid)),
            Fix::step("or fg in the shell that suspended it (Ctrl-Z)"),
        ],
    };
    Cause {
        id: CauseId::ProcessStopped,
        severity: Severity::Error,
        summary: format!(
            "{} (pid {}) holds {held} but is {}: {handshake}",
            process.name,
            process.pid,
            match tracer {
                Some(tracer) if traced => format!("stopped by a debugger (pid {tracer})"),
                _ if traced => "stopped by a debugger (state t)".to_string(),
                _ => "stopped (state T)".to_string(),
            }
        ),
        evidence: lines,
        fix,
    }
}

/// A probe that got an answer can still have been lucky: listeners that
/// share an address with `SO_REUSEPORT` each get a share of the new
/// connections, so one whose every holder is stopped makes about one
/// connection in N hang while the others work. The group is the listeners
/// bound to the probed address itself, else the wildcards that serve it
/// (the kernel prefers the exact address).
fn stopped_group_member(evidence: &Evidence, attempt: &Attempt) -> Option<Cause> {
    let ip = attempt.destination()?;
    let address = SocketAddr::new(ip, evidence.port);
    let group = super::acceptance::listener_group(&evidence.snapshot.sockets, address);
    if group.len() < 2 {
        return None;
    }
    let processes = &evidence.snapshot.processes;
    let stopped = group.iter().find(|listener| {
        !listener.owners.is_empty()
            && listener.owners.iter().all(|pid| processes.get(pid).is_some_and(|p| p.is_stopped()))
    })?;
    let process = stopped.owners.iter().find_map(|pid| processes.get(pid))?;
    let tracer = evidence.system.tracer_pid(process.pid);
    let tracer_name = tracer.and_then(|t| evidence.system.process(t)).map(|p| p.name);
    let mut cause = stopped_owner(evidence, attempt, stopped, process, tracer, tracer_name);
    let local = stopped.local_text().unwrap_or_else(|| address.to_string());
    let share = group.len();
    cause.summary = format!(
        "{} (pid {}) holds one of {share} listeners that share {local} (SO_REUSEPORT) and is stopped: the kernel gives it about 1 in {share} new connections, which hang; this probe reached another",
        process.name, process.pid
    );
    cause.evidence.extend(
        group
            .iter()
            .filter(|l| !std::ptr::eq(**l, *stopped))
            .map(|l| format!("also listening on {local}: {}", listener_line(processes, l))),
    );
    Some(cause)
}

/// A member of the `SO_REUSEPORT` group the healthy probe did not reach
/// that kept connections spread over the group in its queue (see
/// [`super::acceptance::stalled_members`]): about 1 in N new connections
/// hang there. Stopped members are [`stopped_group_member`]'s.
fn stalled_group_member(
    evidence: &Evidence,
    attempt: &Attempt,
    stalled: &[(u64, u32)],
) -> Option<Cause> {
    let ip = attempt.destination()?;
    let address = SocketAddr::new(ip, evidence.port);
    let group = super::acceptance::listener_group(&evidence.snapshot.sockets, address);
    let processes = &evidence.snapshot.processes;
    let (listener, queued) = group.iter().find_map(|listener| {
        let (_, queued) = stalled.iter().find(|(inode, _)| *inode == listener.inode)?;
        let stopped = !listener.owners.is_empty()
            && listener.owners.iter().all(|pid| processes.get(pid).is_some_and(|p| p.is_stopped()));
        (!stopped).then_some((*listener, *queued))
    })?;
    let share = group.len();
    let local = listener.local_text().unwrap_or_else(|| address.to_string());
    let holder = first_owner(listener)
        .map(|pid| match processes.get(&pid) {
            Some(process) => format!("{} (pid {pid})", process.shown_name()),
            None => format!("pid {pid}"),
        })
        .unwrap_or_else(|| "a process".to_string());
    let mut evidence_lines = vec![
        attempt_line(attempt),
        format!("listener: {}", listener_line(processes, listener)),
        format!(
            "{queued} of the connections porthole spread over the group still wait in its accept queue (backlog {}); the other members took theirs",
            listener.tx_queue
        ),
    ];
    evidence_lines.extend(
        group
            .iter()
            .filter(|l| !std::ptr::eq(**l, listener))
            .map(|l| format!("also listening on {local}: {}", listener_line(processes, l))),
    );
    let mut why = "does not accept".to_string();
    let fix = if let Some(stall) = owner_stall(evidence, listener) {
        why = stall.reason;
        evidence_lines.push(stall.line);
        stall.fix
    } else {
        let mut fix = vec![Fix::step(format!(
            "fix or restart {holder}: its accept loop is blocked, or it never calls accept()"
        ))];
        if let Some(pid) = first_owner(listener) {
            fix.push(Fix::command(format!(
                "cat /proc/{pid}/wchan; ls /proc/{pid}/task   # where it is blocked"
            )));
        }
        fix
    };
    Some(Cause {
        id: CauseId::NotResponding,
        severity: Severity::Error,
        summary: format!(
            "{holder} holds one of {share} listeners that share {local} (SO_REUSEPORT) and {why}: the kernel gives it about 1 in {share} new connections, which hang; this probe reached another"
        ),
        evidence: evidence_lines,
        fix,
    })
}

/// Why the owners of a listener leave its connections queued, when the
/// kernel can tell: what the summary says of them, the evidence line, and
/// the fix. A stall looks like an accept loop that is blocked, but waiting
/// on the loop fixes nothing when
/// - every owner is frozen by the cgroup freezer (`docker pause`,
///   `systemctl freeze`): it runs no code until thawed;
/// - every owner is in uninterruptible sleep (state `D`): it waits in the
///   kernel (I/O on a hung NFS or FUSE mount, a `vfork` child that has not
///   exec'd) and runs no code, nor acts on a signal, until the wait ends;
/// - an owner is out of file descriptors: every number below its
///   `RLIMIT_NOFILE` soft limit is taken, so the `accept()` it keeps
///   calling fails with `EMFILE`; the limit (or a leak under it) is the fix.
struct Stall {
    reason: String,
    line: String,
    fix: Vec<Fix>,
}

fn owner_stall(evidence: &Evidence, listener: &Socket) -> Option<Stall> {
    let frozen: Option<Vec<(u32, Frozen)>> = listener
        .owners
        .iter()
        .map(|&pid| Some((pid, freezer::frozen(evidence.system, pid)?)))
        .collect();
    if let Some((pid, frozen)) = frozen.and_then(|all| all.into_iter().next()) {
        return Some(frozen_owner(evidence, pid, &frozen));
    }
    let processes = &evidence.snapshot.processes;
    let waiting = !listener.owners.is_empty()
        && listener.owners.iter().all(|pid| processes.get(pid).is_some_and(|p| p.state == 'D'));
    if let (true, Some(&pid)) = (waiting, listener.owners.first()) {
        return Some(Stall {
            reason: "is in uninterruptible sleep (state D): it waits in the kernel and runs no code, accept() included, until that wait ends".to_string(),
            line: format!("/proc/{pid}/stat state = D"),
            fix: vec![
                Fix::command(format!("cat /proc/{pid}/wchan   # the kernel function it waits in")),
                Fix::step(
                    "end what it waits on: a hung NFS or FUSE mount (bring its server back, or umount -l it), a vfork child that never exec'd (stop that child)",
                ),
            ],
        });
    }
    let (pid, table) = listener
        .owners
        .iter()
        .find_map(|&pid| Some((pid, evidence.system.full_descriptor_table(pid)?)))?;
    let (line, fix) = descriptor_limit(evidence, pid, table, Role::Server);
    Some(Stall {
        reason: format!(
            "is out of file descriptors ({} of RLIMIT_NOFILE {} open), so its accept() fails with EMFILE",
            table.open, table.soft
        ),
        line,
        fix,
    })
}

/// A frozen owner (see [`Stall`]): the thaw is a write to the control
/// files where the freeze was set, as root unless porthole is; through a
/// shell, since a redirection does not pass through sudo.
fn frozen_owner(evidence: &Evidence, pid: u32, frozen: &Frozen) -> Stall {
    let thaw = frozen.thaw_command();
    let wrapper = as_root(evidence.system, rustix::process::geteuid().is_root());
    let mut fix = vec![match wrapper {
        AsRoot::Already => Fix::command(format!("{thaw}   # thaws it")),
        AsRoot::Sudo | AsRoot::Su => Fix::command(format!(
            "{}   # thaws it",
            wrapper.wrap(&format!("sh -c {}", crate::shell::word(&thaw)))
        )),
        AsRoot::Unknown => Fix::step(format!("as root, thaw it: `{thaw}`")),
    }];
    fix.push(Fix::step(
        "or resume it the way it was frozen: `docker unpause` or `podman unpause` for a paused container, `systemctl thaw` for a frozen unit",
    ));
    Stall {
        reason: "is frozen by the cgroup freezer: it runs no code, accept() included, until thawed"
            .to_string(),
        line: format!(
            "pid {pid} is frozen: {} (write {} to thaw it)",
            frozen.controls.join(", "),
            frozen.thaw_value
        ),
        fix,
    }
}

/// The evidence line and the fix for an owner out of file descriptors
/// (see [`Stall`]). `prlimit --pid` raises the limit of the
/// running process, and the next `accept()` it tries succeeds: no restart.
/// The kernel lets the process's own user raise the soft limit up to the
/// hard one; raising the hard one, or touching another user's process,
/// takes `CAP_SYS_RESOURCE` (root).
///
/// See: <https://man7.org/linux/man-pages/man2/prlimit.2.html>
fn descriptor_limit(
    evidence: &Evidence,
    pid: u32,
    table: FullDescriptorTable,
    role: Role,
) -> (String, Vec<Fix>) {
    let (call, who) = match role {
        Role::Server => ("accept()", "server"),
        Role::Client => ("socket()", "client"),
    };
    let FullDescriptorTable { open, soft, hard } = table;
    let hard_text = if hard == u64::MAX { "unlimited".to_string() } else { hard.to_string() };
    let line = format!(
        "pid {pid} has {open} open files: every descriptor below its limit (RLIMIT_NOFILE soft {soft}, hard {hard_text}) is taken, so {call} fails with EMFILE"
    );
    let wanted = soft.saturating_mul(4).max(4096);
    // The kernel refuses a hard limit above fs.nr_open.
    let ceiling = evidence.system.sysctl("fs.nr_open").and_then(|v| v.parse::<u64>().ok());
    let (limits, raises_hard) = if soft < hard {
        (Some(format!("{}:{hard_text}", wanted.min(hard))), false)
    } else {
        let raised = ceiling.map_or(wanted, |ceiling| wanted.min(ceiling));
        ((raised > soft).then(|| format!("{raised}:{raised}")), true)
    };
    // Who may run it: the server's own user for the soft limit; anyone
    // else, and the hard limit, need CAP_SYS_RESOURCE, which sudo grants
    // only when the bounding set (a container's) still holds it.
    let status = evidence.system.read_text("/proc/self/status").unwrap_or_default();
    let capable = |set| {
        environment::capability_in(&status, set, environment::CAP_SYS_RESOURCE).unwrap_or(false)
    };
    let server_uid = evidence.snapshot.processes.get(&pid).map(|p| p.uid);
    let same_user = server_uid == Some(rustix::process::getuid().as_raw());
    let mut fix = Vec::new();
    match limits {
        Some(limits) if capable("CapEff:") || (same_user && !raises_hard) => {
            fix.push(Fix::command(format!(
                "prlimit --pid {pid} --nofile={limits}   # its next {call} succeeds"
            )));
        }
        Some(limits) if capable("CapBnd:") => {
            let command = format!("prlimit --pid {pid} --nofile={limits}");
            let wrapper = as_root(evidence.system, rustix::process::geteuid().is_root());
            fix.push(root_fix(wrapper, &command, &format!("its next {call} succeeds"), || {
                format!("as root, raise its limit: `{command}` (its next {call} then succeeds)")
            }));
        }
        // Root without CAP_SYS_RESOURCE (a container's) may still become
        // the server's user, whose own soft limit is its to raise.
        Some(limits) if !raises_hard => {
            let command = format!("prlimit --pid {pid} --nofile={limits}");
            let ids = evidence
                .system
                .read_text(&format!("/proc/{pid}/status"))
                .and_then(|status| process::parse_settled_ids(&status));
            let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
                .iter()
                .any(|path| evidence.system.exists(path));
            fix.push(match ids {
                Some((uid, gid)) if setpriv && rustix::process::geteuid().is_root() => {
                    Fix::command(format!(
                        "setpriv --reuid {uid} --regid {gid} --clear-groups {command}   # as its user; its next {call} succeeds"
                    ))
                }
                _ => Fix::step(format!(
                    "as the {who}'s user, raise its soft limit: `{command}` (its next {call} then succeeds)"
                )),
            });
        }
        Some(_) => fix.push(Fix::step(format!(
            "its hard limit is {hard_text} too, and raising that takes CAP_SYS_RESOURCE, which no user has here (not in the capability bounding set: a container's): restart the {who} with a higher limit from where it is granted (the container runtime's --ulimit nofile=, LimitNOFILE= in a systemd unit)"
        ))),
        None => fix.push(Fix::step(format!(
            "its limit is already fs.nr_open ({soft}), the most the kernel allows: the {who} holds too many descriptors, look for a leak"
        ))),
    }
    // Only a limit raised in place goes back at a restart.
    if fix.iter().any(|line| line.text().contains("prlimit")) {
        fix.push(Fix::step(format!(
            "a restart brings the old limit back: raise it where the {who} is started (LimitNOFILE= in its systemd unit, ulimit -n in its start script), and look for a leak if its open files keep growing"
        )));
    }
    (line, fix)
}

/// Whose descriptors ran out: a server's `accept()` or a client's
/// `socket()` is what then fails.
#[derive(Debug, Clone, Copy)]
enum Role {
    Server,
    Client,
}

/// `--from PID` of a client with every descriptor its `RLIMIT_NOFILE`
/// allows open: its `socket()` fails with `EMFILE` ("Too many open
/// files") before any packet leaves, whatever the server does. porthole's
/// own probe has descriptors, so the attempts alone do not show it.
fn client_fd_limit(evidence: &Evidence, pid: u32) -> Option<Cause> {
    let table = evidence.system.full_descriptor_table(pid)?;
    let (line, fix) = descriptor_limit(evidence, pid, table, Role::Client);
    let name = evidence
        .system
        .process(pid)
        .map_or_else(|| format!("pid {pid}"), |p| format!("{} (pid {pid})", p.shown_name()));
    Some(Cause {
        id: CauseId::ClientFdLimit,
        severity: Severity::Error,
        summary: format!(
            "the client, {name}, is out of file descriptors ({} of RLIMIT_NOFILE {} open): its socket() fails with EMFILE (Too many open files) before it can connect, whatever the server does",
            table.open, table.soft
        ),
        evidence: vec![
            line,
            "porthole's own probe, which has descriptors to spare, is not limited by it".to_string(),
        ],
        fix,
    })
}

/// A listener whose queued connections (ours among them, since the probe
/// got no answer) no process takes: `accept()` is never called, or the
/// thread that calls it is blocked.
fn accept_stalled(evidence: &Evidence, attempt: &Attempt, listener: &Socket) -> Cause {
    let address = listening_on(listener);
    let holder = first_owner(listener)
        .map(|pid| match evidence.snapshot.processes.get(&pid) {
            Some(process) => format!("{} (pid {pid})", process.shown_name()),
            None => format!("pid {pid}"),
        })
        .unwrap_or_else(|| "the server".to_string());
    let mut lines = vec![
        attempt_line(attempt),
        format!("listener: {}", listener_line(&evidence.snapshot.processes, listener)),
        format!("accept queue {} of {}", listener.rx_queue, listener.tx_queue),
    ];
    let mut summary = format!(
        "{} connection(s) wait in the accept queue of {address} (backlog {}): the kernel completed them, {holder} does not accept them",
        listener.rx_queue, listener.tx_queue
    );
    let fix = if let Some(stall) = owner_stall(evidence, listener) {
        summary.push_str(&format!(": it {}", stall.reason));
        lines.push(stall.line);
        stall.fix
    } else {
        let mut fix = vec![Fix::step(
            "fix the server's accept loop: it never calls accept(), or the thread that does is blocked",
        )];
        if let Some(pid) = first_owner(listener) {
            fix.push(Fix::command(format!(
                "cat /proc/{pid}/wchan; ls /proc/{pid}/task   # where it is blocked"
            )));
        }
        fix
    };
    Cause { id: CauseId::NotResponding, severity: Severity::Error, summary, evidence: lines, fix }
}

fn not_responding(evidence: &Evidence, attempt: &Attempt, serving: &[&Socket]) -> Cause {
    let reply = attempt.reply.clone().unwrap_or(Reply::Silent);
    let http = matches!(evidence.target, Target::Http { .. });
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(
        serving
            .iter()
            .map(|s| format!("listener: {}", listener_line(&evidence.snapshot.processes, s))),
    );
    let (summary, severity) = match &reply {
        Reply::Silent => (
            format!(
                "{} accepts connections but sent nothing within {} ms{}",
                attempt.address,
                evidence.timeout.as_millis(),
                if http {
                    " of an HTTP request"
                } else {
                    " (after a banner wait and an HTTP nudge)"
                }
            ),
            // Some binary protocols wait silently for their own greeting;
            // only an HTTP target is certainly unanswered.
            if http { Severity::Error } else { Severity::Warning },
        ),
        Reply::Other(text) if http => {
            (format!("{} answers, but not with HTTP: {text:?}", attempt.address), Severity::Error)
        }
        Reply::Http2 if http => (
            format!(
                "{} speaks HTTP/2 only (prior knowledge, h2c): it answered an HTTP/1.1 request with an HTTP/2 frame",
                attempt.address
            ),
            Severity::Error,
        ),
        Reply::Closed | Reply::Reset => (
            format!(
                "{} accepted the connection, then {} {} it without answering",
                attempt.address,
                // The process that hung up, named: a worker that crashes on
                // each connection hangs up the same way.
                serving
                    .iter()
                    .find_map(|s| first_owner(s))
                    .and_then(|pid| evidence.snapshot.processes.get(&pid))
                    .map_or_else(
                        || "the server".to_string(),
                        |p| format!("the server, {} (pid {}),", p.shown_name(), p.pid)
                    ),
                if reply == Reply::Reset { "reset" } else { "closed" }
            ),
            Severity::Error,
        ),
        other => (format!("{}: {}", attempt.address, other.describe()), Severity::Error),
    };
    let pid = serving.iter().find_map(|s| first_owner(s));
    // A server that closes (FIN, not a reset) on an HTTP request may have
    // judged it by its Host: nginx's `return 444` is the usual default
    // server for host names no `server_name` lists.
    // Only nginx closes that way: another server (or a crashing worker)
    // that hangs up is not asked for a host name. A listener whose owner
    // porthole cannot see may be nginx.
    let owners = owner_processes(evidence, serving);
    let may_be_nginx = owners.is_empty() || owners.iter().any(|p| p.name == "nginx");
    let unserved_host = match (&evidence.target, &reply) {
        (Target::Http { host, port, .. }, Reply::Closed) if may_be_nginx => {
            Some(super::host_header(host, *port))
        }
        _ => None,
    };
    if let Some(host_header) = &unserved_host {
        lines.push(format!("the request carried Host: {host_header}"));
        lines.push(
            "the server hung up on the HTTP request without a status line; nginx does so with return 444, often in the default server for host names it does not serve"
                .to_string(),
        );
    }
    let fix = match &reply {
        // A live server that hangs up chose to: a client allow-list, a
        // connection limit, or a protocol it expected and did not get.
        Reply::Closed | Reply::Reset => {
            let mut fix = vec![Fix::step(
                "look at the service's logs for why it drops this client: an allow-list of client addresses, a connection limit, or a protocol it expected (TLS, its own greeting) and did not get",
            )];
            if let Some(host_header) = unserved_host {
                fix.insert(0, Fix::step(format!(
                    "if the service serves only some host names (an nginx server_name, a virtual host): ask it by a name it serves, or add the one in Host: {host_header} to its configuration"
                )));
            }
            fix
        }
        Reply::Other(_) => vec![Fix::step(
            "the port speaks another protocol: check the port number, or talk to it with its own client",
        )],
        // The server is up: the client must speak HTTP/2 from the first
        // byte, or readiness be asked of the port instead.
        Reply::Http2 => {
            let mut fix = Vec::new();
            if evidence.system.exists("/usr/bin/curl") {
                let url = crate::shell::word(&evidence.target.to_string()).into_owned();
                fix.push(Fix::command(format!(
                    "curl --http2-prior-knowledge {url}   # talks HTTP/2 from the first byte"
                )));
            }
            fix.push(Fix::step(
                "use an HTTP/2 client with prior knowledge (grpcurl -plaintext for gRPC), or enable HTTP/1.1 on the server; to wait for the port, wait for tcp://HOST:PORT",
            ));
            fix
        }
        _ => {
            let mut fix = vec![Fix::step(
                "look at the service's logs: it may be deadlocked, busy, or waiting on a dependency",
            )];
            if let Some(pid) = pid {
                fix.push(Fix::command(format!(
                    "cat /proc/{pid}/wchan; ls /proc/{pid}/task   # where it is blocked"
                )));
            }
            fix
        }
    };
    Cause { id: CauseId::NotResponding, severity, summary, evidence: lines, fix }
}

/// The service answered the HTTP request with a status the user does not
/// accept: the network path works, so the cause is what the service says.
/// The status decides the words: a server error is the service's own (502
/// and 504: the upstream of a proxy; 503: not serving now), 401/407 want
/// credentials, 404/410 a path, 405 a method, 426 a protocol upgrade, 429 a
/// rate limit, and 400/403/421 may be a host allow-list refusing the `Host`
/// header the probe sent (web frameworks and dev servers accept only
/// configured names).
fn http_error(
    evidence: &Evidence,
    attempt: &Attempt,
    response: &HttpResponse,
    serving: &[&Socket],
) -> Cause {
    // A bare TCP port is judged by its answer to the nudge, `GET /`, only
    // when `--status` asks.
    let (host, port, path) = match evidence.target {
        Target::Http { host, port, path, .. } => (host, port, path.as_str()),
        Target::Tcp { host, port } => (host, port, "/"),
        _ => return not_responding(evidence, attempt, serving),
    };
    let status = response.status;
    let answered = format!("HTTP {status} {}", response.reason).trim_end().to_string();
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(
        serving
            .iter()
            .map(|s| format!("listener: {}", listener_line(&evidence.snapshot.processes, s))),
    );
    if let Some(excerpt) = body_excerpt(&response.body) {
        lines.push(format!("the body begins: {excerpt:?}"));
    }
    let host_header = super::host_header(host, *port);
    let gateway = match status {
        502..=504 => behind_gateway(evidence, attempt, serving, &answered, path, &host_header),
        _ => None,
    };
    let (mut summary, mut fix) = match status {
        502 | 504 => (
            format!("{} answered {answered}: the connection works; a proxy or gateway there could not get an answer from the service behind it", attempt.address),
            vec![Fix::step("start or repair the service the proxy forwards to (its upstream), then look at the proxy's error log for the address it tried")],
        ),
        503 => (
            format!("{} answered {answered}: the connection works; the service says it cannot serve now (starting, overloaded, in maintenance, or a proxy with no healthy upstream)", attempt.address),
            vec![Fix::step("look at the service's logs (or, for a proxy, at the health of its upstreams); wait for it with porthole wait and the same URL if it is starting")],
        ),
        500..=599 => (
            format!("{} answered {answered}: the connection works; the service reports an error of its own", attempt.address),
            vec![Fix::step("look at the service's logs for this request: a failed dependency (database, disk, configuration) or a crash in its handler")],
        ),
        401 | 407 => (
            format!("{} answered {answered}: the connection works; the service wants credentials", attempt.address),
            vec![Fix::step("send the credentials the service expects (an Authorization header, a token), or accept the status with --status")],
        ),
        404 | 410 => (
            format!("{} answered {answered}: the connection works; nothing is served at {path}", attempt.address),
            vec![Fix::step(format!("check the path {path} in the client's configuration (the service answers, so the host and port are right)"))],
        ),
        405 => (
            format!("{} answered {answered}: the connection works; {path} does not take GET (an endpoint for POST or another method)", attempt.address),
            vec![Fix::step(format!("probe a path that answers GET (a health endpoint), or accept the status with --status 405 if {path} is right"))],
        ),
        426 => (
            format!("{} answered {answered}: the connection works; the service wants another protocol on {path} (WebSocket, HTTP/2)", attempt.address),
            vec![Fix::step("use a client of the protocol it asks for (its Upgrade header names it), or probe its plain HTTP health path")],
        ),
        429 => (
            format!("{} answered {answered}: the connection works; the service is rate-limiting this client", attempt.address),
            vec![Fix::step("wait for the limit to pass (a Retry-After header says how long), or raise the service's limit for local clients")],
        ),
        400 | 403 | 421 => {
            lines.push(format!("the request carried Host: {host_header}"));
            (
                format!("{} answered {answered}: the connection works; the service refused the request, possibly the Host header {host_header}", attempt.address),
                vec![Fix::step("if the service allows only some host names (Django ALLOWED_HOSTS, Rails config.hosts, Vite server.allowedHosts, a virtual host), add this one or use a name it allows; otherwise look at its logs for why it refused")],
            )
        }
        100..=399 => (
            format!("{} answered {answered}, which is not among the accepted statuses {}", attempt.address, evidence.statuses),
            vec![Fix::step(format!("if {status} means ready for this service, accept it with --status; otherwise the service is not in the state the list expects"))],
        ),
        _ => (
            format!("{} answered {answered}: the connection works; the service did not accept the request", attempt.address),
            vec![Fix::step("look at the service's logs for this request")],
        ),
    };
    if let Some(found) = gateway {
        summary = found.summary;
        lines.extend(found.evidence);
        fix = found.fix;
    }
    if *evidence.statuses != StatusSet::default() {
        lines.push(format!("accepted statuses: {}", evidence.statuses));
    } else if (300..=599).contains(&status) {
        fix.push(Fix::step(format!(
            "if {status} is the answer you expect, say so: porthole check --status {status} …"
        )));
    }
    Cause { id: CauseId::HttpError, severity: Severity::Error, summary, evidence: lines, fix }
}

/// The processes (of the snapshot) that hold the listeners serving an
/// attempt.
fn owner_processes<'a>(evidence: &Evidence<'a>, serving: &[&Socket]) -> Vec<&'a Process> {
    serving
        .iter()
        .flat_map(|listener| listener.owners.iter())
        .filter_map(|pid| evidence.snapshot.processes.get(pid))
        .collect()
}

/// An nginx that answered 502, 503 or 504: its configuration names what
/// took the request (the upstream of a `proxy_pass`, `fastcgi_pass`… or a
/// `return`), and each upstream on this machine is diagnosed as `check`
/// would, so the verdict blames the upstream that fails, and how. `None`
/// when no nginx holds the port or its configuration does not route the
/// request (the generic words stand).
fn behind_gateway(
    evidence: &Evidence,
    attempt: &Attempt,
    serving: &[&Socket],
    answered: &str,
    path: &str,
    host_header: &str,
) -> Option<Cause> {
    let owners = owner_processes(evidence, serving);
    let nginx = gateway::nginx_of(evidence.system, &owners)?;
    let config = gateway::read_config(evidence.system, &nginx)?;
    let local = SocketAddr::new(attempt.destination()?, evidence.port);
    // `server_name` is matched against the Host without its port.
    let name = host_header.rsplit_once(':').map_or(host_header, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let handler = gateway::route(&config, local, name, path)?;
    let who = format!("nginx (pid {})", nginx.pid);
    let mut lines = vec![format!("{who} reads its configuration from {}", nginx.config)];
    let reload =
        Fix::command(format!("kill -HUP {}   # nginx reads its configuration again", nginx.pid));
    let log = gateway::error_log(&config, &nginx).and_then(|log| {
        let line = gateway::last_upstream_error(evidence.system, &nginx, &log, host_header)?;
        Some(format!("its error log {log} says: {line}"))
    });
    let pass = match handler {
        gateway::Handler::Return(directive) => {
            let status = answered.split_whitespace().nth(1).unwrap_or_default();
            if directive.args.first().map(String::as_str) != Some(status) {
                return None;
            }
            lines.push(format!("{}: {}", directive.place(), directive.text()));
            return Some(Cause {
                id: CauseId::HttpError,
                severity: Severity::Error,
                summary: format!(
                    "{} answered {answered}: {who} answers {path} itself with `{}` ({}); no upstream is asked",
                    attempt.address,
                    directive.text(),
                    directive.place()
                ),
                evidence: lines,
                fix: vec![
                    Fix::step(format!(
                        "if {path} should be served, remove or change `{}` at {}, then reload nginx:",
                        directive.text(),
                        directive.place()
                    )),
                    reload,
                ],
            });
        }
        gateway::Handler::Pass(pass) => pass,
    };
    let directive = &pass.directive;
    let named: Vec<String> = pass
        .upstreams
        .iter()
        .map(|upstream| match upstream {
            gateway::Upstream::Local(target) | gateway::Upstream::Other(target) => target.clone(),
        })
        .collect();
    lines.push(format!(
        "{who} forwards {path} to {} ({}: {})",
        named.join(", "),
        directive.place(),
        directive.text()
    ));
    if let Some(group) = &pass.group {
        lines.push(format!("upstream {} is defined at {}", group.args.join(" "), group.place()));
    }
    if answered.contains(" 504") {
        let waits = match &pass.read_timeout {
            Some(timeout) => format!("{} ({})", timeout.text(), timeout.place()),
            None => format!("{}_read_timeout, 60s by default", pass.kind()),
        };
        lines.push(format!("nginx waits for the upstream's answer {waits}"));
    }
    // Each upstream on this machine, as `check` sees it (at most three: a
    // group of many is named, and the first failures tell).
    let mut checked = Vec::new();
    for target in pass.upstreams.iter().take(3).filter_map(|upstream| match upstream {
        gateway::Upstream::Local(target) => Some(target),
        gateway::Upstream::Other(_) => None,
    }) {
        let Ok(parsed) = super::target::Target::parse(target) else { continue };
        let request = super::Request {
            target: Some(parsed),
            from_environment: Vec::new(),
            bind: None,
            client: Client::Current,
            timeout: evidence.timeout,
            statuses: StatusSet::default(),
            then: Vec::new(),
        };
        // An upstream that is itself an nginx is not followed further: a
        // proxy_pass to itself would never end.
        if let Some(Ok(diagnosis)) =
            gateway::outermost(|| super::diagnose(evidence.system, &request))
        {
            checked.push((target.clone(), diagnosis));
        }
    }
    let check_fix = |target: &str| {
        let target = crate::shell::word(target);
        Fix::command(format!("{} check {target}   # the upstream alone", evidence.program))
    };
    let repoint = Fix::step(format!(
        "or, if the service listens elsewhere, point `{}` at {} to it and reload nginx:",
        directive.name,
        directive.place()
    ));
    let failing = checked.iter().find_map(|(target, diagnosis)| {
        let cause = diagnosis.causes.iter().find(|c| c.severity == Severity::Error);
        cause.filter(|_| !diagnosis.ok).map(|cause| (target, cause))
    });
    let (summary, mut fix) = if let Some((target, cause)) = failing {
        // A listener near the upstream's port may be nginx itself (8080 in
        // front of 8081): "give the client port 8080" would point nginx
        // at itself, so that suggestion goes.
        let mut cause = cause.clone();
        let own: Vec<String> = owners
            .iter()
            .map(|p| p.pid)
            .chain([nginx.pid])
            .map(|pid| format!("nginx (pid {pid})"))
            .collect();
        if let Some(name) =
            own.iter().find(|name| cause.summary.contains(&format!(", but {name} ")))
        {
            let (head, _) = cause.summary.split_once(", but ").unwrap_or((&cause.summary, ""));
            cause.summary = head.to_string();
            cause.fix.retain(|fix| !fix.text().contains(name.as_str()));
        }
        let cause = &cause;
        lines.push(format!("upstream {target}: {}: {}", cause.id.as_str(), cause.summary));
        lines
            .extend(cause.evidence.iter().take(4).map(|line| format!("upstream {target}: {line}")));
        let mut fix = cause.fix.clone();
        fix.push(check_fix(target));
        fix.push(repoint);
        fix.push(reload);
        (
            format!(
                "{} answered {answered} because its upstream {target} fails ({who}, {}): {}",
                attempt.address,
                directive.place(),
                cause.summary
            ),
            fix,
        )
    } else if let Some((target, diagnosis)) = checked.first() {
        // Every upstream porthole asked answers now.
        let now = diagnosis
            .attempts
            .iter()
            .find(|a| a.healthy)
            .map_or_else(|| "answers".to_string(), |a| a.detail.clone());
        lines.push(format!("upstream {target} answers porthole now: {now}"));
        let why = match (answered.contains(" 504"), &pass.read_timeout, pass.limits.first()) {
            (true, Some(timeout), _) => format!(
                "nginx stopped waiting for its answer after {} ({}): the upstream is slower than that for this request",
                timeout.text(),
                timeout.place()
            ),
            (true, None, _) => format!(
                "nginx stopped waiting for its answer after {}_read_timeout, 60s by default: the upstream is slower than that for this request",
                pass.kind()
            ),
            (false, _, Some(limit)) if answered.contains(" 503") => format!(
                "`{}` ({}) answers 503 to requests over its limit",
                limit.text(),
                limit.place()
            ),
            _ => "the failure was the request's or passing: nginx's error log says which".to_string(),
        };
        (
            format!(
                "{} answered {answered}, although its upstream {target} answers ({who}): {why}",
                attempt.address
            ),
            vec![
                Fix::step(
                    "look at nginx's error log for this request and at the upstream's own logs",
                ),
                check_fix(target),
            ],
        )
    } else {
        (
            format!(
                "{} answered {answered}: {who} forwards {path} to {}, which did not answer it ({})",
                attempt.address,
                named.join(", "),
                directive.place()
            ),
            vec![Fix::step(format!(
                "start or repair the service at {}; nginx's error log says how the connection failed",
                named.join(", ")
            ))],
        )
    };
    lines.extend(log);
    if fix.is_empty() {
        fix.push(Fix::step("start or repair the upstream"));
    }
    Some(Cause { id: CauseId::HttpError, severity: Severity::Error, summary, evidence: lines, fix })
}

/// An HTTPS service the probe reached (it accepts any certificate, as
/// `curl -k` does) whose certificate a verifying client refuses: a warning,
/// since the port works and a self-signed certificate is normal for local
/// development, but it is why `curl` and browsers fail.
fn tls_certificate(target: &Target, attempt: &Attempt, problem: &CertificateProblem) -> Cause {
    let trusted = match std::env::var_os("SSL_CERT_FILE") {
        Some(path) => format!("the authorities in SSL_CERT_FILE={}", path.to_string_lossy()),
        None => "this machine's trusted authorities".to_string(),
    };
    let date = |seconds: u64| {
        crate::render::monitor::rfc3339(
            i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000) * 1_000_000,
        )
    };
    let (why, fix) = match problem {
        CertificateProblem::UnknownIssuer => (
            format!("it is not issued by any of {trusted}: self-signed, or signed by a private CA not installed here"),
            vec![
                Fix::step("give the client the issuing CA (curl --cacert CA.pem, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE), or install it: copy it to /usr/local/share/ca-certificates/NAME.crt and run update-ca-certificates"),
                Fix::step("for local development, a CA such as mkcert's (mkcert -install, then mkcert localhost 127.0.0.1 ::1) makes certificates every client here trusts"),
            ],
        ),
        CertificateProblem::Expired { not_after } => (
            match not_after {
                Some(at) => format!("it expired at {}", date(*at)),
                None => "it has expired".to_string(),
            },
            vec![Fix::step("renew the certificate and reload the service (certbot renew, or reissue it from its CA)")],
        ),
        CertificateProblem::NotYetValid { not_before } => (
            match not_before {
                Some(at) => format!("it is valid only from {} (or this machine's clock is behind)", date(*at)),
                None => "it is not valid yet (or this machine's clock is behind)".to_string(),
            },
            vec![Fix::step("check the clock (timedatectl) and the certificate's start date")],
        ),
        CertificateProblem::WrongName { expected, presented } => {
            let names = if presented.is_empty() {
                "other names".to_string()
            } else {
                presented.join(", ")
            };
            let asked = if expected.is_empty() { "the target's host".to_string() } else { expected.clone() };
            (
                format!("it is made for {names}, not for {asked}"),
                vec![Fix::step(format!(
                    "connect by a name the certificate holds ({names}), or reissue it with {asked} in its subjectAltName"
                ))],
            )
        }
        CertificateProblem::Other(words) => {
            (words.clone(), vec![Fix::step("look at the chain the service sends (openssl s_client with -showcerts) and reissue what the verifier refuses")])
        }
    };
    Cause {
        id: CauseId::TlsCertificate,
        severity: Severity::Warning,
        summary: format!(
            "{target} answers, but a client that verifies certificates (curl, browsers) refuses its certificate: {why}"
        ),
        evidence: vec![
            attempt_line(attempt),
            format!("{}: the certificate was checked against {trusted}", attempt.address),
        ],
        fix,
    }
}

/// The first words of an HTTP body for an evidence line: markup dropped,
/// white space collapsed, cut at 120 characters; `None` when nothing is
/// left.
fn body_excerpt(body: &str) -> Option<String> {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() => text.push(' '),
            c => text.push(c),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.is_empty() {
        return None;
    }
    let mut cut: String = joined.chars().take(120).collect();
    if cut.len() < joined.len() {
        cut.push('…');
    }
    Some(cut)
}

/// The evidence lines every service cause starts with: the attempt, then
/// each listener that serves its address.
fn attempt_and_listeners(
    evidence: &Evidence,
    attempt: &Attempt,
    serving: &[&Socket],
) -> Vec<String> {
    let processes = &evidence.snapshot.processes;
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(serving.iter().map(|l| format!("listener: {}", listener_line(processes, l))));
    lines
}

/// The service answered with a refusal it writes before closing (see
/// [`refusal`]).
fn service_refused(
    evidence: &Evidence,
    attempt: &Attempt,
    banner: &str,
    serving: &[&Socket],
) -> Cause {
    let refusal = refusal::recognise(banner).expect("the caller recognised it");
    let mut lines = attempt_and_listeners(evidence, attempt, serving);
    lines.push(format!("{} answered \"{banner}\" and closed the connection", attempt.address));
    let mut fix = Vec::new();
    if banner.contains(refusal::MYSQL_HOST_BLOCKED) {
        // Over the server's own socket: TCP from the blocked address is
        // refused, the socket never is (root gets in by unix_socket).
        let owner = serving
            .iter()
            .flat_map(|socket| socket.owners.iter())
            .find_map(|pid| evidence.snapshot.processes.get(pid))
            .map(|process| (process.pid, process.name.as_str(), &process.cmdline[..]));
        let command = crate::audit::mysql_options::flush_hosts_command(evidence.system, owner);
        fix.push(Fix::command(format!("{command}   # as root: unblocks the client hosts")));
    }
    fix.push(Fix::step(refusal.fix));
    if refusal.limit {
        fix.push(Fix::command(format!(
            "{} {}   # the clients that hold its connections",
            evidence.program, evidence.port
        )));
    }
    Cause {
        id: CauseId::ServiceRefused,
        severity: Severity::Error,
        summary: format!(
            "{} accepts the connection to {} but refuses the client: {}",
            refusal.service, attempt.address, refusal.reason
        ),
        evidence: lines,
        fix,
    }
}

/// A PostgreSQL target with `sslmode=disable` whose server takes the
/// client over TLS only (pg_hba.conf): the client is refused, a client
/// with libpq's default `sslmode=prefer` gets in over TLS.
fn tls_required(
    evidence: &Evidence,
    attempt: &Attempt,
    answer: &ServiceAnswer,
    serving: &[&Socket],
) -> Cause {
    let mut lines = attempt_and_listeners(evidence, attempt, serving);
    let message = answer.message.as_deref().unwrap_or_default();
    lines.push(format!("PostgreSQL said to a login without TLS: {message} (28000)"));
    let mut fix = vec![Fix::step(
        "drop sslmode=disable from the client's connection settings (URL, PGSSLMODE): libpq's default, prefer, uses TLS when the server offers it",
    )];
    if let Target::Service { .. } = evidence.target {
        let mut prefer = evidence.target.clone();
        if let Target::Service { libpq, .. } = &mut prefer {
            libpq.sslmode = super::target::SslMode::Prefer;
        }
        let url = crate::shell::word(&prefer.to_string()).into_owned();
        fix.push(Fix::command(format!(
            "PGSSLMODE=prefer {} check {url}   # as such a client connects",
            evidence.program
        )));
    }
    fix.push(Fix::step(
        "or let it in without TLS: a `host` line for it in pg_hba.conf before the `hostssl` (and `hostnossl … reject`) lines, then SELECT pg_reload_conf()",
    ));
    Cause {
        id: CauseId::ServiceRefused,
        severity: Severity::Error,
        summary: format!(
            "PostgreSQL at {} takes this client over TLS only (pg_hba.conf), and the target turns TLS off (sslmode=disable)",
            attempt.address
        ),
        evidence: lines,
        fix,
    }
}

/// The configuration of the PostgreSQL server that holds a listener: its
/// pid, its `postgresql.conf` (`-c config_file=`, else the data
/// directory's, from `-D` or its `PGDATA`) and its data directory.
struct PostgresConfig {
    pid: u32,
    file: String,
    data: Option<String>,
}

fn postgres_config(evidence: &Evidence, serving: &[&Socket]) -> Option<PostgresConfig> {
    let pid = serving.iter().flat_map(|listener| listener.owners.iter()).next().copied()?;
    let process = evidence.snapshot.processes.get(&pid)?;
    let mut data = None;
    let mut file = None;
    let mut arguments = process.cmdline.iter().skip(1);
    while let Some(argument) = arguments.next() {
        let setting = match argument.as_str() {
            "-D" => {
                data = arguments.next().cloned();
                continue;
            }
            "-c" => arguments.next().map(String::as_str),
            other => other.strip_prefix("--"),
        };
        if let Some(path) = argument.strip_prefix("-D").filter(|p| !p.is_empty()) {
            data = Some(path.to_string());
        }
        let Some((name, value)) = setting.and_then(|s| s.split_once('=')) else { continue };
        match name.replace('-', "_").as_str() {
            "config_file" => file = Some(value.to_string()),
            "pgdata" => data = Some(value.to_string()),
            _ => {}
        }
    }
    if data.is_none() {
        let environment = Client::Process(pid).environment(evidence.system);
        data = environment.into_iter().rev().find(|(name, _)| name == "PGDATA").map(|(_, v)| v);
    }
    // A relative path is the server's own working directory's: not
    // named here.
    let data = data.filter(|d| d.starts_with('/'));
    let file = file.filter(|f| f.starts_with('/')).or_else(|| {
        data.as_ref().map(|d| format!("{}/postgresql.conf", d.trim_end_matches('/')))
    })?;
    Some(PostgresConfig { pid, file, data })
}

/// The last line of the server's configuration files that sets `name`
/// (`postgresql.conf`, then `postgresql.auto.conf`, which ALTER SYSTEM
/// writes and the server reads last): the file, line number and value.
fn postgres_setting(
    evidence: &Evidence,
    config: &PostgresConfig,
    name: &str,
) -> Option<(String, usize, String)> {
    let auto =
        config.data.as_ref().map(|d| format!("{}/postgresql.auto.conf", d.trim_end_matches('/')));
    let mut found = None;
    let status = |path: &str| evidence.system.file_status(path);
    for file in std::iter::once(config.file.clone()).chain(auto) {
        // The paths come from another user's command line: regular files
        // only (a FIFO would block), not larger than a configuration gets,
        // and only when the server sees the same file (not a container's
        // own).
        let theirs = status(&format!("/proc/{}/root{file}", config.pid));
        let ours = status(&file);
        let same = |a: &Option<crate::inventory::system::FileStatus>,
                    b: &Option<crate::inventory::system::FileStatus>| {
            a.as_ref().map(|s| (s.device, s.inode)) == b.as_ref().map(|s| (s.device, s.inode))
        };
        if theirs.is_some() && !same(&theirs, &ours) {
            return None;
        }
        if !ours.as_ref().is_some_and(|s| s.is_file) {
            continue;
        }
        let Some(bytes) = evidence.system.read_regular(&file, 1 << 20) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            // Parameter names are case-insensitive.
            let Some(rest) = line
                .get(..name.len())
                .filter(|start| start.eq_ignore_ascii_case(name))
                .map(|_| &line[name.len()..])
            else {
                continue;
            };
            let rest = rest.trim_start();
            if !(rest.starts_with('=')
                || rest.starts_with(|c: char| !c.is_alphanumeric() && c != '_'))
            {
                continue;
            }
            let value = rest.trim_start_matches('=').trim().trim_matches('\'').to_string();
            found = Some((file.clone(), index + 1, value));
        }
    }
    found
}

/// A PostgreSQL that answered, refused by libpq itself: no TLS for an
/// `sslmode` that requires it, or a session that does not qualify for
/// `target_session_attrs`. The fix is on the server's side (its
/// configuration file, named when it is local) or the client's (the
/// setting, checked again as such a client connects).
fn libpq_refused(
    evidence: &Evidence,
    attempt: &Attempt,
    answer: &ServiceAnswer,
    serving: &[&Socket],
) -> Cause {
    let words = super::service_probe::refused_by_libpq(answer).unwrap_or_default();
    let message = answer.message.as_deref().unwrap_or_default();
    let mut lines = attempt_and_listeners(evidence, attempt, serving);
    let config = postgres_config(evidence, serving);
    let libpq = evidence.target.libpq();
    let check_as = |changed: super::target::Libpq, variable: &str, comment: &str| {
        let mut target = evidence.target.clone();
        if let Target::Service { libpq, .. } = &mut target {
            *libpq = changed;
        }
        let url = crate::shell::word(&target.to_string()).into_owned();
        Fix::command(format!("{variable}{} check {url}   # {comment}", evidence.program))
    };
    // The signal is sent as root or as the server's user: as is when this
    // is either, through sudo where it is installed, else in words.
    let reload = |config: &PostgresConfig, file: &str| {
        let server_uid = evidence.snapshot.processes.get(&config.pid).map(|p| p.uid);
        let own = evidence.owner.is_some_and(|(uid, _)| uid == 0 || Some(uid) == server_uid);
        let kill = format!("kill -HUP {}", config.pid);
        // Through sudo or su, as `kill` writes its runs as root.
        let wrapper = if own {
            AsRoot::Already
        } else {
            as_root(evidence.system, rustix::process::geteuid().is_root())
        };
        root_fix(wrapper, &kill, &format!("PostgreSQL rereads {file} (no restart needed)"), || {
            format!(
                "as root or the server's user, send it SIGHUP (kill -HUP {}): PostgreSQL rereads {file}",
                config.pid
            )
        })
    };
    let mut fix = Vec::new();
    let summary = if words == super::service_probe::NO_TLS {
        if let Some(config) = &config {
            lines.push(format!("the server's configuration: {}", config.file));
            fix.push(Fix::step(format!(
                "turn TLS on in {}: ssl = on, with ssl_cert_file and ssl_key_file naming a certificate and key the server's user can read",
                config.file
            )));
            fix.push(reload(config, &config.file));
        } else {
            fix.push(Fix::step("turn TLS on in the server's postgresql.conf: ssl = on, with ssl_cert_file and ssl_key_file naming a certificate and key, then reload it (SELECT pg_reload_conf())"));
        }
        fix.push(Fix::step(format!(
            "or let the client go on without TLS: drop sslmode={} from its connection settings (URL, PGSSLMODE), as libpq's default, prefer, does",
            libpq.sslmode.name()
        )));
        fix.push(check_as(
            super::target::Libpq { sslmode: super::target::SslMode::Prefer, ..libpq },
            "PGSSLMODE=prefer ",
            "as such a client connects",
        ));
        format!(
            "PostgreSQL at {} does not speak TLS (it answered N to an SSLRequest), and the target requires it (sslmode={}): libpq fails with \"{NO}\"",
            attempt.address,
            libpq.sslmode.name(),
            NO = super::service_probe::NO_TLS,
        )
    } else if let Some(summary) = certificate_refused(evidence, attempt, answer, &mut fix) {
        summary
    } else {
        let session = libpq.session;
        let read_only_setting = message.contains("default_transaction_read_only = on")
            || message.contains("transaction_read_only = on");
        let standby = message.contains("in_hot_standby = on");
        match words {
            "session is read-only" if read_only_setting && !standby => {
                let set = config.as_ref().and_then(|config| {
                    postgres_setting(evidence, config, "default_transaction_read_only")
                        .map(|found| (config, found))
                });
                match set {
                    Some((config, (file, line, value))) => {
                        lines.push(format!(
                            "default_transaction_read_only = {value} at {file} line {line}"
                        ));
                        fix.push(Fix::step(format!(
                            "set default_transaction_read_only = off at {file} line {line} (it makes every session read-only)"
                        )));
                        fix.push(reload(config, &file));
                    }
                    None => fix.push(Fix::step(
                        "default_transaction_read_only is on for this session: find where (SELECT source, sourcefile, sourceline FROM pg_settings WHERE name = 'default_transaction_read_only'; ALTER DATABASE … SET, ALTER ROLE … SET, or the client's PGOPTIONS) and turn it off there",
                    )),
                }
            }
            "session is read-only" | "server is in hot standby mode" => fix.push(Fix::step(
                "the server is a standby (in recovery): point the client at the primary (add its host to the URL; libpq tries them in turn), or promote this one",
            )),
            "server is not in hot standby mode" => {
                fix.push(Fix::step(
                    "the server is a primary: add a standby's host to the URL (libpq tries them in turn), or take the primary when no standby is up with prefer-standby",
                ));
                fix.push(check_as(
                    super::target::Libpq { session: super::target::SessionAttrs::PreferStandby, ..libpq },
                    "",
                    "as a client with target_session_attrs=prefer-standby connects",
                ));
            }
            _ => fix.push(Fix::step(
                "the server is read-write: point the client at a standby or a read-only server (add its host to the URL; libpq tries them in turn)",
            )),
        }
        format!(
            "PostgreSQL at {} takes the login, but libpq drops the session for target_session_attrs={}: \"{words}\"",
            attempt.address,
            session.name()
        )
    };
    Cause { id: CauseId::ServiceRefused, severity: Severity::Error, summary, evidence: lines, fix }
}

/// libpq's refusal of the server's certificate (see
/// [`super::libpq_tls`]): the evidence and fixes, and the summary; `None`
/// for an answer that is not one.
fn certificate_refused(
    evidence: &Evidence,
    attempt: &Attempt,
    answer: &ServiceAnswer,
    fix: &mut Vec<Fix>,
) -> Option<String> {
    use super::libpq_tls as judged;
    use super::target::{Libpq, SslMode};
    let message = answer.message.as_deref()?;
    let first = message.lines().next().unwrap_or_default();
    let libpq = evidence.target.libpq();
    let root = libpq.root.clone()?;
    let check_as = |changed: Libpq, target_host: Option<crate::target::Host>, comment: &str| {
        let mut target = evidence.target.clone();
        if let Target::Service { libpq, host, .. } = &mut target {
            *libpq = changed;
            if let Some(address) = target_host {
                *host = address;
            }
        }
        let url = crate::shell::word(&target.to_string()).into_owned();
        Fix::command(format!("{} check {url}   # {comment}", evidence.program))
    };
    let file = judged::root_file(&root).map(str::to_string);
    let unverified = Libpq { sslmode: SslMode::Require, root: None, ..libpq.clone() };
    if message.starts_with(judged::NAME_MISMATCH) {
        // The first name the certificate carries, quoted by libpq.
        let carried = first.split('"').nth(1).unwrap_or_default().to_string();
        let address = match &attempt.address {
            ProbeAddress::Ip(socket) => Some(socket.ip()),
            _ => None,
        };
        fix.push(Fix::step(format!(
            "connect by a name the certificate carries ({carried}), or reissue the certificate with the host name in its subjectAltName"
        )));
        if let Some(address) = address.filter(|_| !carried.is_empty() && !carried.contains('*')) {
            fix.push(check_as(
                Libpq { host_name: Some(carried.clone()), ..libpq.clone() },
                Some(crate::target::Host::Ip(address)),
                "the name the certificate carries, at the same address (hostaddr)",
            ));
        }
    } else if message.starts_with(judged::NO_NAME) {
        fix.push(Fix::step(
            "reissue the server's certificate with its host name in the subjectAltName, or check the chain only with sslmode=verify-ca",
        ));
        fix.push(check_as(
            Libpq { sslmode: SslMode::VerifyCa, ..libpq.clone() },
            None,
            "as a client that checks the chain but not the name",
        ));
    } else if message.starts_with(judged::VERIFY_FAILED) {
        let place = file.as_deref().unwrap_or("the system's trusted authorities");
        fix.push(Fix::step(format!(
            "add the certificate of the authority that issued the server's (its issuer, above) to {place}, or point sslrootcert= at a file that holds it"
        )));
    } else if [judged::NO_ROOT_FILE, judged::UNREADABLE_ROOT_FILE, judged::NO_HOME]
        .iter()
        .any(|words| message.starts_with(words))
    {
        match &file {
            Some(file) => fix.push(Fix::step(format!(
                "save the certificate of the authority that issued the server's (its issuer, above) as {file} (PEM), or point sslrootcert= (PGSSLROOTCERT) at a file that holds it"
            ))),
            None => fix.push(Fix::step(
                "name the authority's certificate with sslrootcert= (PGSSLROOTCERT), or set HOME so libpq finds ~/.postgresql/root.crt",
            )),
        }
        fix.push(check_as(
            unverified,
            None,
            "as a client that encrypts without checking the certificate",
        ));
    } else {
        return None;
    }
    Some(format!(
        "PostgreSQL at {} speaks TLS, but libpq refuses its certificate (sslmode={}): \"{first}\"",
        attempt.address,
        libpq.sslmode.name()
    ))
}

/// A service that accepted the connection and said, in its own protocol,
/// that it takes no clients now; or bytes of another protocol.
fn service_not_ready(
    evidence: &Evidence,
    attempt: &Attempt,
    answer: &ServiceAnswer,
    serving: &[&Socket],
) -> Cause {
    let lines = attempt_and_listeners(evidence, attempt, serving);
    let port = evidence.port;
    let (summary, fix) = if !answer.speaks {
        // Who holds the port is the answer most of the time (a PostgreSQL
        // on the port the client expects Redis on).
        let unix = matches!(attempt.address, ProbeAddress::Unix(_));
        let what = if unix { "socket" } else { "port" };
        let holder = serving
            .first()
            .map(|l| {
                let owners = owners_text(&evidence.snapshot.processes, l);
                format!(" (the {what} is held by {owners})")
            })
            .unwrap_or_default();
        let mut fix = Vec::new();
        if !unix {
            fix.push(Fix::command(format!(
                "{} {port}   # the process that holds the port",
                evidence.program
            )));
        }
        fix.push(Fix::step(format!(
            "point the client at the {what} {} listens on, or move the other service",
            answer.protocol
        )));
        (
            format!(
                "{} does not answer as {}: it {}{holder}",
                attempt.address, answer.protocol, answer.summary
            ),
            fix,
        )
    } else {
        let why = match (answer.protocol, answer.code.as_deref()) {
            ("PostgreSQL", Some("57P03")) => {
                "it is starting up, shutting down, or in recovery (a standby takes clients only with hot_standby = on, or once promoted); its log says which"
            }
            ("PostgreSQL", _) => "it is shutting down; its log says why",
            ("Redis", Some("LOADING")) => {
                "Redis is reading its dataset into memory and answers once it is loaded (INFO persistence shows loading_eta_seconds)"
            }
            ("Redis", Some("BUSY")) => {
                "a script or function runs past busy-reply-threshold: SCRIPT KILL or FUNCTION KILL from redis-cli stops it (SHUTDOWN NOSAVE if it wrote)"
            }
            ("Redis", Some("MASTERDOWN")) => {
                "this replica lost its master and replica-serve-stale-data is no: bring the master back, or serve stale data"
            }
            ("Redis", Some("DENIED")) => {
                "protected mode refuses clients from other addresses: connect over loopback, or set a password (requirepass) or bind explicitly in redis.conf"
            }
            ("Redis", Some("MISCONF")) => {
                "Redis cannot write its RDB snapshot and refuses writes: its log says why (disk full, permissions)"
            }
            _ => "look at the service's log for why it refuses clients",
        };
        // The service's own words and code; the answer's summary repeats
        // the protocol's name, which the summary already starts with.
        let said = match (answer.message.as_deref(), answer.code.as_deref()) {
            (Some(message), Some(code)) => {
                let message = message.trim_start_matches('-');
                if message.starts_with(code) {
                    message.to_string()
                } else {
                    format!("{message} ({code})")
                }
            }
            _ => answer.summary.clone(),
        };
        (
            format!("{} at {} takes no clients yet: {said}", answer.protocol, attempt.address),
            vec![Fix::step(why)],
        )
    };
    Cause { id: CauseId::ServiceNotReady, severity: Severity::Error, summary, evidence: lines, fix }
}

/// A service URL whose TLS does not match the port: `rediss://` to a Redis
/// that answered a ClientHello in plain Redis, or `redis://` to a port that
/// speaks TLS only. The service is there and ready to be asked the other
/// way: the fix is the target with its TLS turned around, as a `check` that
/// runs, not advice to look for another service.
fn service_tls_mismatch(
    evidence: &Evidence,
    attempt: &Attempt,
    target_tls: bool,
    serving: &[&Socket],
) -> Cause {
    let mut other = evidence.target.clone();
    let protocol = match &mut other {
        Target::Service { tls, service, .. } => {
            *tls = !target_tls;
            service.name()
        }
        _ => "the service",
    };
    let url = other.to_string();
    let (summary, how) = if target_tls {
        (
            format!(
                "{} speaks plain {protocol}, without TLS, but the target is {}:// (TLS)",
                attempt.address,
                evidence.target.to_string().split("://").next().unwrap_or_default()
            ),
            format!(
                "connect without TLS ({url}), or serve TLS on this port (tls-port, tls-cert-file and tls-key-file in redis.conf)"
            ),
        )
    } else {
        (
            format!(
                "{} speaks TLS only, but the target is {}:// (no TLS)",
                attempt.address,
                evidence.target.to_string().split("://").next().unwrap_or_default()
            ),
            format!("connect with TLS ({url})"),
        )
    };
    Cause {
        id: CauseId::TlsMismatch,
        severity: Severity::Error,
        summary,
        evidence: attempt_and_listeners(evidence, attempt, serving),
        fix: vec![
            Fix::command(format!("{} check {}", evidence.program, crate::shell::word(&url))),
            Fix::step(how),
        ],
    }
}

fn tls_mismatch(evidence: &Evidence, attempt: &Attempt, speaks_tls: bool) -> Cause {
    let target = evidence.target.to_string();
    let (summary, fix) = if speaks_tls {
        (
            format!("{} speaks TLS, but the target is plain http://", attempt.address),
            target.replacen("http://", "https://", 1),
        )
    } else {
        let what = match &attempt.reply {
            // Any bytes that are not a TLS record answer a ClientHello
            // from a plain server (Python's http.server sends a bare HTML
            // error page without a status line).
            Some(Reply::Other(text)) => format!("does not speak TLS (it answered {text:?})"),
            _ => "speaks plain HTTP".to_string(),
        };
        (
            format!("{} {what}, but the target is https://", attempt.address),
            target.replacen("https://", "http://", 1),
        )
    };
    Cause {
        id: CauseId::TlsMismatch,
        severity: Severity::Error,
        summary,
        evidence: vec![attempt_line(attempt)],
        fix: vec![Fix::step(format!("use {fix}"))],
    }
}

fn forwarder_of(snapshot: &Snapshot, listener: &Socket) -> Option<String> {
    listener
        .owners
        .iter()
        .filter_map(|pid| snapshot.processes.get(pid))
        .find(|p| CONTAINER_PROXIES.contains(&p.name.as_str()))
        .map(|p| format!("{} (pid {})", p.name, p.pid))
}

/// A `socat` listener that closed the connection, and whose upstream (on
/// loopback: porthole probes nothing else) does not answer: the forwarder
/// is up, what it forwards to is not.
fn dead_upstream(evidence: &Evidence, attempt: &Attempt, serving: &[&Socket]) -> Option<Cause> {
    if !matches!(attempt.reply, Some(Reply::Closed | Reply::Reset)) {
        return None;
    }
    let (listener, process, upstream) = serving.iter().find_map(|listener| {
        listener.owners.iter().filter_map(|pid| evidence.snapshot.processes.get(pid)).find_map(
            |process| {
                let upstream = super::forwarder::socat_upstream(&process.cmdline)?;
                Some((*listener, process, upstream))
            },
        )
    })?;
    if !crate::model::is_loopback(upstream.ip()) {
        return None;
    }
    let probe = super::probe::connect(&ProbeAddress::Ip(upstream), evidence.timeout);
    if probe.outcome == Outcome::Connected {
        return None;
    }
    let outcome = probe.outcome.as_str();
    Some(Cause {
        id: CauseId::NotResponding,
        severity: Severity::Error,
        summary: format!(
            "{} (pid {}) accepts {} and forwards it to {upstream}, which does not answer ({outcome}): it closes every connection",
            process.name, process.pid, attempt.address
        ),
        evidence: vec![
            attempt_line(attempt),
            format!("listener: {}", listener_line(&evidence.snapshot.processes, listener)),
            format!("{}'s command line forwards to {upstream}", process.name),
            format!("{upstream}: {outcome} ({})", probe.detail),
        ],
        fix: vec![
            Fix::step(format!(
                "start the service on {upstream}, or point {} at the address it really listens on",
                process.name
            )),
            Fix::command(format!(
                "{} check {upstream}   # why the upstream does not answer",
                evidence.program
            )),
        ],
    })
}

fn container_forwarder(attempt: &Attempt, forwarder: String) -> Cause {
    Cause {
        id: CauseId::OtherNamespace,
        severity: Severity::Error,
        summary: format!(
            "{forwarder} accepted the connection for a container, then the container refused it"
        ),
        evidence: vec![
            attempt_line(attempt),
            "the app inside the container most likely listens on 127.0.0.1, which the published port cannot reach".to_string(),
        ],
        fix: vec![
            Fix::step("make the app in the container listen on 0.0.0.0 (or ::)"),
            Fix::step("find the container with docker ps and read its log with docker logs"),
        ],
    }
}

/// Rules that stop a loopback SYN to `ip:port` (read once per diagnosis).
fn firewall_blockers(evidence: &mut Evidence, ip: IpAddr) -> Vec<Blocker> {
    let packet = loopback_packet(evidence, ip);
    blockers_of(evidence, &packet)
}

/// Rules that stop the packets a loopback client sends to `ip:port` after
/// its SYN got through (the handshake ACK, the request).
fn later_blockers(evidence: &mut Evidence, ip: IpAddr) -> Vec<Blocker> {
    let packet = loopback_packet(evidence, ip).later();
    blockers_of(evidence, &packet)
}

/// The rules that stop the server's answer (SYN-ACK, or the RST of a port
/// nothing listens on) on its way back to a loopback client's port: a
/// chain that accepts new connections by their port and drops the rest,
/// with nothing that lets answers in.
fn answer_blockers(evidence: &mut Evidence, ip: IpAddr) -> Vec<Blocker> {
    // The kernel's default range when the sysctl cannot be read.
    let client_ports = evidence.system.ephemeral_range().unwrap_or((32768, 60999));
    let packet = loopback_packet(evidence, ip).answer(client_ports);
    blockers_of(evidence, &packet)
}

fn blockers_of(evidence: &mut Evidence, packet: &Packet) -> Vec<Blocker> {
    let packet = *packet;
    let (nft, iptables_nft, legacy) = firewall_sources(evidence);
    let managed = firewall::managed_tables(iptables_nft);
    let mut blockers = match nft {
        Some((ruleset, text)) => firewall::nft_blockers(ruleset, text, &packet, &managed),
        None => Vec::new(),
    };
    for (source, dump) in iptables_nft.iter().chain(legacy.iter()) {
        blockers.extend(firewall::legacy_blockers(source, dump, &packet));
    }
    blockers
}

/// An `iptables-save` dump: the tool that edits its rules, and its text.
type Dump = (&'static str, String);

/// The firewall's rules, each source read once per diagnosis: the nft
/// ruleset with its listing, the iptables-nft dumps (read when the ruleset
/// has tables it may have written) and the legacy backend's dumps.
fn firewall_sources<'a>(
    evidence: &'a mut Evidence,
) -> (Option<&'a (firewall::NftRuleset, String)>, &'a [Dump], &'a [Dump]) {
    let system = evidence.system;
    let nft = evidence.firewall.get_or_insert_with(|| firewall::read_nft(system)).as_ref();
    let with_iptables = nft.is_some_and(|(ruleset, _)| firewall::has_iptables_tables(ruleset));
    let iptables_nft = evidence.iptables_nft.get_or_insert_with(|| {
        if with_iptables {
            firewall::read_iptables_nft(system)
        } else {
            Vec::new()
        }
    });
    let legacy = evidence.legacy.get_or_insert_with(|| firewall::read_legacy(system));
    (nft, iptables_nft, legacy)
}

/// Whether a reject rule of the firewall stops the loopback SYN to `ip`.
fn rejected_by_rule(evidence: &mut Evidence, ip: IpAddr) -> bool {
    firewall_blockers(evidence, ip).iter().any(|b| matches!(b.action, Action::Reject(_)))
}

/// The nat rule that rewrites the loopback connection to `ip`, if any.
fn firewall_rewrite(evidence: &mut Evidence, ip: IpAddr) -> Option<firewall::Rewrite> {
    let packet = loopback_packet(evidence, ip);
    let system = evidence.system;
    let nft = evidence.firewall.get_or_insert_with(|| firewall::read_nft(system));
    let (ruleset, text) = nft.as_ref()?;
    firewall::nft_rewrite(ruleset, text, &packet)
}

/// The SYN a loopback client sends to `ip` on the diagnosed port.
fn loopback_packet(evidence: &Evidence, ip: IpAddr) -> Packet {
    Packet {
        source: loopback_source(ip),
        destination: ip,
        port: evidence.port,
        owner: evidence.owner,
        reply: None,
        established: false,
    }
}

/// A nat rule sends connections for `ip:port` elsewhere while a listener
/// here serves `ip:port`: whatever answered was not that listener, which
/// never gets a connection. A warning when the attempt was healthy (the
/// port answers, through another service).
fn diverted_from_listener(evidence: &mut Evidence, attempt: &Attempt, ip: IpAddr) -> Option<Cause> {
    let address = SocketAddr::new(ip, evidence.port);
    let bypassed: Vec<&Socket> = evidence
        .snapshot
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.serves(address))
        .collect();
    if bypassed.is_empty() || evidence.delivered.contains(&attempt.address) {
        return None;
    }
    let rewrite = firewall_rewrite(evidence, ip)?;
    if rewrite.to == Some(address) {
        return None;
    }
    let mut cause = redirected(evidence, attempt, &rewrite);
    let processes = &evidence.snapshot.processes;
    cause.evidence.extend(bypassed.iter().map(|listener| {
        format!(
            "the listener on {address} never gets these connections: {}",
            listener_line(processes, listener)
        )
    }));
    // Something may already listen where the rule sends clients: the
    // choice is between the rule and the listener it passes by.
    cause.fix.truncate(1);
    cause.fix.push(Fix::step(format!(
        "or, if the rule is wanted, stop the listener on {address}: no client reaches it"
    )));
    if attempt.healthy {
        cause.severity = Severity::Warning;
    }
    Some(cause)
}

/// The connection is sent elsewhere by a nat rule: say where, and what
/// listens there.
fn redirected(evidence: &Evidence, attempt: &Attempt, rewrite: &firewall::Rewrite) -> Cause {
    let mut lines = vec![attempt_line(attempt), format!("rule: {}", rewrite.describe())];
    let to = match (rewrite.to, rewrite.last_port) {
        (Some(to), Some(last)) => format!("{to}-{last}"),
        (Some(to), None) => to.to_string(),
        (None, _) => "an address the rule computes".to_string(),
    };
    if let (Some(destination), None) = (rewrite.to, rewrite.last_port) {
        let there = listener_snapshot(evidence.system, destination.port()).ok();
        let serving: Vec<&Socket> = there
            .as_ref()
            .map(|snapshot| snapshot.sockets.iter().filter(|s| s.serves(destination)).collect())
            .unwrap_or_default();
        match (&there, serving.as_slice()) {
            (Some(_), []) => lines.push(format!("nothing listens on {destination}")),
            (Some(snapshot), found) => lines.extend(
                found.iter().map(|s| format!("there: {}", listener_line(&snapshot.processes, s))),
            ),
            (None, _) => {}
        }
    }
    Cause {
        id: CauseId::FirewallRedirect,
        severity: Severity::Error,
        summary: format!(
            "a nat rule sends connections for {} to {to}: {} {} {}",
            attempt.address, rewrite.family, rewrite.table, rewrite.chain
        ),
        evidence: lines,
        fix: vec![
            Fix::command(rewrite.removal()),
            Fix::step(format!("or start the service on {to}, where the rule sends clients")),
        ],
    }
}

/// The source address a local client uses for `destination`.
fn loopback_source(destination: IpAddr) -> IpAddr {
    // Loopback and local IPv4 addresses are reached from themselves; a
    // local IPv6 address may be too, but ::1 is the usual source.
    if destination.is_ipv6() && !crate::model::is_loopback(destination) {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        destination
    }
}

/// A firewall cause from the blocking rules; `refused` says whether the
/// attempt was refused/unreachable (reject) or timed out (drop).
fn firewall_cause(
    attempt: &Attempt,
    blockers: &[Blocker],
    refused: bool,
    prober: Option<&str>,
) -> Option<Cause> {
    let relevant: Vec<&Blocker> =
        blockers.iter().filter(|b| matches!(b.action, Action::Reject(_)) == refused).collect();
    let first = relevant.first()?;
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(relevant.iter().map(|b| format!("rule: {}", b.describe())));
    if attempt.outcome() == Some(Outcome::Denied) {
        lines.push(
            "EACCES is how connect() reports an ICMPv6 \"administratively prohibited\" reply, which the rule sends: no security policy is involved"
                .into(),
        );
    }
    let of_user = owner_matched(&mut lines, &relevant, prober);
    let (id, what) = match &first.action {
        Action::Drop => (CauseId::FirewallDrop, "drops".to_string()),
        Action::Reject(Some(with)) => (CauseId::FirewallReject, format!("rejects ({with})")),
        Action::Reject(None) => (CauseId::FirewallReject, "rejects".to_string()),
    };
    // A rule that matches by chance or by count failed this probe; the
    // next connection may pass, which is why the client fails now and then.
    let (part, intermittent) = match first.partial() {
        Some(how) => {
            lines.push(format!(
                "the rule stops only part of the traffic ({how}): connections fail now and then, and a retry may get through"
            ));
            ("part of the ", " (intermittently)")
        }
        None => ("", ""),
    };
    Some(Cause {
        id,
        severity: Severity::Error,
        summary: format!(
            "a firewall rule {what} {part}loopback traffic{of_user} to {}{intermittent}: {} {} {}",
            attempt.address, first.family, first.table, first.chain
        ),
        evidence: lines,
        fix: relevant.iter().map(|b| Fix::command(b.removal())).collect(),
    })
}

/// The SYN passes, the answer does not: a chain that accepts connections
/// by their port (`tcp dport 7001 accept`, `policy drop`) but has nothing
/// for the answers coming back to the client's port, the classic
/// hand-written firewall without `ct state established,related accept`.
fn answer_dropped(attempt: &Attempt, port: u16, blockers: &[Blocker]) -> Option<Cause> {
    let first = blockers.first()?;
    let mut lines = vec![
        attempt_line(attempt),
        format!(
            "the firewall lets the SYN to port {port} through, but not the server's answer from port {port} back to the client's own port (one of ip_local_port_range), which loopback delivers through the same input hook"
        ),
    ];
    lines.extend(blockers.iter().map(|b| format!("stops the answer: {}", b.describe())));
    lines.push(
        "nothing in the chain accepts answers: no `ct state established,related accept` (iptables: `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`) before it"
            .to_string(),
    );
    let fix = distinct_commands(blockers.iter().map(Blocker::answers_accepted));
    Some(Cause {
        id: CauseId::FirewallDrop,
        severity: Severity::Error,
        summary: format!(
            "a firewall rule drops the answers to loopback connections to port {port}: {} {} {}",
            first.family, first.table, first.chain
        ),
        evidence: lines,
        fix,
    })
}

/// One command fix per distinct line, in order: rules of one chain often
/// share a fix (the same accept, the same table).
fn distinct_commands(lines: impl IntoIterator<Item = String>) -> Vec<Fix> {
    let mut fix: Vec<Fix> = Vec::new();
    for line in lines {
        if !fix.iter().any(|f| f.text() == line) {
            fix.push(Fix::command(line));
        }
    }
    fix
}

/// A probe that got through a rule which stops only part of the traffic
/// (at random, by rate, by quota): the next connection may not, which is
/// why a client fails now and then while `check` passes. A warning that
/// names the rule.
///
/// Only the nftables ruleset is read for it (one `nft` run, which a
/// working port may read anyway for its nat rules): a healthy check does
/// not run the iptables dumps.
fn passed_partial_rule(evidence: &mut Evidence, attempt: &Attempt, ip: IpAddr) -> Option<Cause> {
    let packets = [loopback_packet(evidence, ip), loopback_packet(evidence, ip).later()];
    let system = evidence.system;
    // A working port is the common case: when the ruleset was not read
    // already, a netlink rule dump says first whether any rule could stop
    // part of the traffic, so `nft` runs only then.
    if evidence.firewall.is_none()
        && !system.nft_may_use_expressions(&firewall::PARTIAL_EXPRESSIONS)
    {
        return None;
    }
    let (ruleset, text) =
        evidence.firewall.get_or_insert_with(|| firewall::read_nft(system)).as_ref()?;
    let mut blockers: Vec<Blocker> = packets
        .iter()
        .flat_map(|packet| firewall::nft_blockers(ruleset, text, packet, &[]))
        .collect();
    // A rule on the SYN's path is on the later packets' too: named once.
    let mut seen = std::collections::BTreeSet::new();
    blockers.retain(|blocker| blocker.partial().is_some() && seen.insert(blocker.describe()));
    let first = blockers.first()?;
    let how = first.partial()?;
    let mut lines = vec![attempt_line(attempt)];
    lines.extend(blockers.iter().map(|b| format!("rule: {}", b.describe())));
    lines.push(format!(
        "the rule stops only part of the traffic ({how}): this probe got through, other connections may not"
    ));
    let (id, what) = match &first.action {
        Action::Drop => (CauseId::FirewallDrop, "drops"),
        Action::Reject(_) => (CauseId::FirewallReject, "rejects"),
    };
    Some(Cause {
        id,
        severity: Severity::Warning,
        summary: format!(
            "{} answered this time, but a firewall rule {what} part of the loopback traffic to it ({how}): clients fail now and then: {} {} {}",
            attempt.address, first.family, first.table, first.chain
        ),
        evidence: lines,
        fix: distinct_commands(blockers.iter().map(Blocker::removal)),
    })
}

/// The connection was made, and then a rule stopped what the client sent
/// next: the server never got the ACK (its side stays in SYN-RECV) or the
/// request, so it had nothing to answer. (A bare TCP port that connected
/// counts as reachable, so there the cause ends up a warning.)
fn later_dropped(attempt: &Attempt, blockers: &[Blocker], prober: Option<&str>) -> Option<Cause> {
    let first = blockers.first()?;
    let mut lines = vec![
        attempt_line(attempt),
        "the SYN passed and connect() returned, but a firewall rule stops the packets the client sends next (its handshake ACK, its request): the server never gets them, so it cannot answer".to_string(),
    ];
    lines.extend(blockers.iter().map(|b| format!("rule: {}", b.describe())));
    if let Some(how) = blockers.iter().find_map(Blocker::partial) {
        lines.push(format!(
            "the rule stops only part of the traffic ({how}): it let the SYN through and stops later packets, so connections fail some of the time or after the first packets"
        ));
    }
    let relevant: Vec<&Blocker> = blockers.iter().collect();
    let of_user = owner_matched(&mut lines, &relevant, prober);
    let (id, what) = match &first.action {
        Action::Drop => (CauseId::FirewallDrop, "drops"),
        Action::Reject(_) => (CauseId::FirewallReject, "rejects"),
    };
    let fix = distinct_commands(blockers.iter().map(Blocker::removal));
    Some(Cause {
        id,
        severity: Severity::Error,
        summary: format!(
            "a firewall rule {what} the packets{of_user} after the SYN to {}: {} {} {}",
            attempt.address, first.family, first.table, first.chain
        ),
        evidence: lines,
        fix,
    })
}

/// The user the probe sockets were opened as, for rules that match the
/// socket's owner: `uid 1000 (alice), gid 1000 (alice)`.
fn prober(evidence: &Evidence) -> Option<String> {
    let (uid, gid) = evidence.owner?;
    let system = evidence.system;
    let name = |name: Option<String>| name.map(|n| format!(" ({n})")).unwrap_or_default();
    Some(format!(
        "uid {uid}{}, gid {gid}{}",
        name(system.user_name(uid)),
        name(group_name(system, gid))
    ))
}

/// For blockers that match the connecting socket's owner (`meta skuid`,
/// `--uid-owner`): the evidence line naming the user they stop, and the
/// words for the summary (` of uid 1000 (alice), gid 1000 (alice)`).
fn owner_matched(lines: &mut Vec<String>, blockers: &[&Blocker], prober: Option<&str>) -> String {
    if !blockers.iter().any(|b| matches_owner(&b.text)) {
        return String::new();
    }
    let user = prober.unwrap_or("the user porthole ran as");
    lines.push(format!(
        "the rule matches the connecting socket's owner: it stops the connections of {user}, the user the probe connected as; another user's may get through (check --from PID evaluates as that process's user)"
    ));
    match prober {
        Some(user) => format!(" of {user}"),
        None => String::new(),
    }
}

/// Whether a rule matches on the local socket's owner (nft `meta skuid`,
/// `skgid`, iptables `-m owner`).
fn matches_owner(rule: &str) -> bool {
    ["skuid", "skgid", "--uid-owner", "--gid-owner"].iter().any(|word| rule.contains(word))
}

/// (device, inode) of the file at a Unix target's path as the client sees
/// it; `None` for an abstract name or a path that does not exist.
/// The path to connect to for a Unix target: the client's own file. A
/// client in another mount namespace (a private /tmp, a container) sees
/// another file at the same path; `/proc/PID/root` reaches its file from
/// here. Abstract names and clients that share porthole's mounts keep the
/// path as given.
fn unix_probe_path(
    system: &dyn System,
    client: Client,
    path: &std::path::Path,
) -> std::path::PathBuf {
    let Client::Process(pid) = client else { return path.to_path_buf() };
    let text = path.to_string_lossy();
    let theirs = system.read_link(&format!("/proc/{pid}/ns/mnt"));
    if text.starts_with('@') || !text.starts_with('/') || theirs.is_none() {
        return path.to_path_buf();
    }
    if theirs == system.read_link("/proc/self/ns/mnt") {
        return path.to_path_buf();
    }
    std::path::PathBuf::from(client.file(&text))
}

/// A free path in `/tmp` with the socket's file name, for a symlink that
/// lets clients reach a socket whose own path is too long; `None` with
/// `--from` (the client may see another `/tmp`), when nothing is at the
/// path, or when the name is taken or is itself too long.
fn short_socket_path(
    system: &dyn System,
    client: Client,
    path: &std::path::Path,
) -> Option<std::path::PathBuf> {
    if client != Client::Current {
        return None;
    }
    // A link to a path with no file would only move the failure.
    system.file_status(&path.to_string_lossy())?;
    let short = std::path::Path::new("/tmp").join(path.file_name()?);
    let text = short.to_string_lossy();
    // Neither a file nor a symlink (dangling ones too) may be there.
    let free = system.file_status(&text).is_none() && system.read_link(&text).is_none();
    (free && !super::probe::unix_path_too_long(&short)).then_some(short)
}

/// A listener bound to another file than the one at the path, when what is
/// at the path is known.
fn is_detached(listener: &Socket, file: Option<Option<(u64, u64)>>) -> bool {
    file.is_some_and(|file| unix_path::detached(listener, file))
}

fn unix_file(system: &dyn System, client: Client, path: &std::path::Path) -> Option<(u64, u64)> {
    let text = path.to_string_lossy();
    if text.starts_with('@') {
        return None;
    }
    system.file_status(&client.file(&text)).map(|status| (status.device, status.inode))
}

/// A cause with the listeners and processes found for it.
type SweepResult = (Cause, Vec<Socket>, BTreeMap<u32, Process>);

/// Refused with no listener here: another namespace, a Unix socket, or
/// really nothing. Each look is made only when the one before found
/// nothing.
fn sweep(
    system: &dyn System,
    target: &Target,
    port: u16,
    attempts: &[Attempt],
) -> Result<SweepResult, DiagnoseError> {
    let current = system.net_namespace();
    let query = Query {
        udp: false,
        unix: false,
        listeners_only: true,
        ports: Some(PortSet::single(port)),
        match_remote_port: false,
        namespaces: NamespaceSelection::All,
        owner_limit: crate::inventory::owners::ScanLimit::FirstOwner,
        ..Query::default()
    };
    let everywhere = system.snapshot(&query)?;
    let elsewhere: Vec<Socket> = everywhere
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.net_namespace.is_some_and(|n| n != current))
        .cloned()
        .collect();
    if !elsewhere.is_empty() {
        let program = system.porthole_program(Runner::User);
        let cause = other_namespace(port, attempts, &everywhere, &elsewhere, &program);
        return Ok((cause, elsewhere, everywhere.processes));
    }
    let mut unix = unix_snapshot(system, None, None)?;
    unix.sockets.retain(|s| unix_names_service(s, port));
    let inodes: Vec<u64> = unix.sockets.iter().map(|s| s.inode).collect();
    system.attach_owners(&mut unix, &inodes);
    if !unix.sockets.is_empty() {
        let cause = unix_socket_only(port, attempts, &unix);
        return Ok((cause, unix.sockets, unix.processes));
    }
    let meaning = crate::portinfo::describe_on(system, port);
    let unread = everywhere.visibility.unreadable_namespaces;
    let client_ends = client_ends_on(system, port)?;
    let unprivileged_start = system.unprivileged_port_start();
    let mut cause = nothing_listening(
        target,
        port,
        attempts,
        unread,
        &meaning,
        &client_ends,
        unprivileged_start,
    );
    name_nearby_listeners(&mut cause, port, attempts, &nearby_listeners(system, port)?);
    Ok((cause, Vec::new(), BTreeMap::new()))
}

/// How far from the asked port a listener of this namespace is named when
/// nothing listens on the port itself: 8080 against 8081, 5432 against
/// 5433, a second instance that moved up one port.
const NEARBY_PORTS: u16 = 10;

/// Nearby listeners named in the evidence, nearest first.
const NEARBY_NAMED: usize = 3;

/// TCP listeners of this namespace on ports within [`NEARBY_PORTS`] of
/// `port` (not on it), nearest first, at most [`NEARBY_NAMED`], with their
/// first owner.
fn nearby_listeners(system: &dyn System, port: u16) -> Result<Snapshot, DiagnoseError> {
    let query = Query {
        udp: false,
        unix: false,
        listeners_only: true,
        ports: Some(PortSet::range(
            port.saturating_sub(NEARBY_PORTS).max(1),
            port.saturating_add(NEARBY_PORTS),
        )),
        match_remote_port: false,
        owners: false,
        ..Query::default()
    };
    let mut snapshot = system.snapshot(&query)?;
    snapshot.sockets.retain(|s| {
        s.protocol == Protocol::Tcp
            && s.state == SocketState::Listen
            && s.local.is_some_and(|local| local.port() != port)
    });
    snapshot.sockets.sort_by_key(|s| {
        let other = s.local.map_or(0, |local| local.port());
        (other.abs_diff(port), other, s.local_text())
    });
    snapshot.sockets.truncate(NEARBY_NAMED);
    let inodes: Vec<u64> = snapshot.sockets.iter().map(|s| s.inode).collect();
    system.attach_owners(&mut snapshot, &inodes);
    Ok(snapshot)
}

/// Adds the listeners of `nearby` to a nothing-listening cause: the client
/// (or the service) most likely has the port number wrong, and the
/// nearest one goes into the summary, which is what `wait` prints. One
/// bound to an address the client did not try (127.0.0.2 for a client of
/// 127.0.0.1) is named with its address: the port alone would not reach it.
fn name_nearby_listeners(cause: &mut Cause, port: u16, attempts: &[Attempt], nearby: &Snapshot) {
    let Some(nearest) = nearby.sockets.first() else { return };
    for socket in &nearby.sockets {
        let other = socket.local.map_or(0, |local| local.port());
        let (distance, direction) =
            (other.abs_diff(port), if other > port { "above" } else { "below" });
        cause.evidence.push(format!(
            "a listener {distance} port(s) {direction} {port}: {}",
            listener_line(&nearby.processes, socket)
        ));
    }
    let other = nearest.local.map_or(0, |local| local.port());
    let name = nearest
        .owners
        .first()
        .and_then(|pid| nearby.processes.get(pid))
        .map_or_else(|| "a process".to_string(), |p| format!("{} (pid {})", p.shown_name(), p.pid));
    let asked: Vec<IpAddr> = attempts.iter().filter_map(Attempt::ip).collect();
    let reached = asked.is_empty() || asked.iter().any(|&ip| super::readiness::serves(nearest, ip));
    if reached {
        cause.summary =
            format!("nothing listens on port {port}, but {name} listens on port {other}");
        cause.fix.insert(
            0,
            Fix::step(format!(
                "if {name} on port {other} is the service, {WRONG_PORT}: give the client port {other}, or start the service on port {port}"
            )),
        );
        return;
    }
    let at = nearest.local_text().unwrap_or_else(|| format!("port {other}"));
    let tried: Vec<String> = asked.iter().map(ToString::to_string).collect();
    cause.summary = format!(
        "nothing listens on port {port}, but {name} listens on {at}, an address the client did not try ({})",
        tried.join(", ")
    );
    cause.fix.insert(
        0,
        Fix::step(format!(
            "if {name} on {at} is the service, {WRONG_ADDRESS}: give the client {at}, or start the service on {}",
            asked.first().map(|&ip| SocketAddr::new(ip, port).to_string()).unwrap_or_default()
        )),
    );
}

/// What the fix of a nearby listener says (on an address the client
/// tried, and on another one); [`blame_redirect`] finds those steps by it.
const WRONG_PORT: &str = "the client or the service has the port number wrong";
const WRONG_ADDRESS: &str = "the client has the port and the address wrong";

/// The last fix of a port nothing listens on; [`blame_redirect`] drops it
/// (the client did not choose the port).
const CHECK_CLIENT_PORT: &str = "check the port number in the client's configuration";

/// Rewrites a nothing-listening `cause` of a URL that a redirect led to
/// (`redirect`: the URL asked, its status and where it sent the client).
/// The client did not choose the port: the application at `redirect.from`
/// did. Telling the user to give the client a nearby port would name the
/// very URL they asked, so that step goes, and the redirect's target is
/// the first suspect. A `https://` redirect to a port that speaks plain
/// HTTP gets the application's setting as its first fix. Returns whether
/// the summary now says how the URL was reached.
pub(super) fn blame_redirect(cause: &mut Cause, port: u16, redirect: &Redirect) -> bool {
    let to = redirect.to.as_deref().unwrap_or(&redirect.location);
    if cause.id == CauseId::TlsMismatch && to.starts_with("https://") {
        // An application that believes it sits behind a TLS proxy (a
        // force-HTTPS setting) sends plain-HTTP clients to https:// on its
        // own port.
        cause.fix.insert(
            0,
            Fix::step(format!(
                "{} sends clients to {to}, but port {port} speaks plain HTTP: turn off the application's redirect to HTTPS (its force-HTTPS or SSL-redirect setting), or serve TLS on port {port}",
                redirect.from
            )),
        );
        return false;
    }
    if cause.id != CauseId::NothingListening {
        return false;
    }
    cause.fix.retain(|fix| {
        !matches!(fix, Fix::Step(text)
            if text.contains(WRONG_PORT) || text.contains(WRONG_ADDRESS) || text == CHECK_CLIENT_PORT)
    });
    cause.summary = format!(
        "nothing listens on port {port}, where {} sends clients ({} to {to})",
        redirect.from, redirect.status
    );
    cause.fix.insert(
        0,
        Fix::step(format!(
            "if {to} is not where the application should send clients, correct the URL that {} redirects to (the application's base URL, public port or trusted-proxy setting); otherwise start the service on port {port}",
            redirect.from
        )),
    );
    true
}

/// At most [`CLIENT_ENDS_NAMED`] TCP sockets of this namespace that use
/// `port` as their local end without listening (a client's source port:
/// a port copied from an `ss` or `lsof` line of a connection), with their
/// first owner. Asked only once nothing listens anywhere.
fn client_ends_on(system: &dyn System, port: u16) -> Result<Snapshot, DiagnoseError> {
    let query = Query {
        udp: false,
        unix: false,
        listeners_only: false,
        ports: Some(PortSet::single(port)),
        match_remote_port: false,
        owners: false,
        ..Query::default()
    };
    let mut snapshot = system.snapshot(&query)?;
    snapshot.sockets.retain(|s| {
        s.protocol == Protocol::Tcp
            && s.local.is_some_and(|local| local.port() == port)
            && !matches!(s.state, SocketState::Listen | SocketState::TimeWait | SocketState::Close)
    });
    snapshot.sockets.truncate(CLIENT_ENDS_NAMED);
    let inodes: Vec<u64> = snapshot.sockets.iter().map(|s| s.inode).collect();
    system.attach_owners(&mut snapshot, &inodes);
    Ok(snapshot)
}

/// Client ends named in the evidence of a port nothing listens on.
const CLIENT_ENDS_NAMED: usize = 3;

/// The port listens in other namespaces (`elsewhere`, from the sweep
/// `everywhere`).
fn other_namespace(
    port: u16,
    attempts: &[Attempt],
    everywhere: &Snapshot,
    elsewhere: &[Socket],
    program: &str,
) -> Cause {
    let mut lines: Vec<String> = attempts.iter().map(attempt_line).collect();
    for socket in elsewhere {
        let namespace = socket.net_namespace.unwrap_or(0);
        let label = everywhere
            .namespaces
            .iter()
            .find(|n| n.inode == namespace)
            .map(|n| match (&n.name, &n.container) {
                (Some(name), _) => format!("network namespace {namespace} ('{name}')"),
                (None, Some(container)) => {
                    format!("network namespace {namespace} (container {container})")
                }
                (None, None) => format!("network namespace {namespace}"),
            })
            .unwrap_or_else(|| format!("network namespace {namespace}"));
        lines.push(format!("in {label}: {}", listener_line(&everywhere.processes, socket)));
    }
    let in_container = elsewhere
        .iter()
        .flat_map(|s| s.owners.iter())
        .filter_map(|pid| everywhere.processes.get(pid))
        .find_map(|p| p.container.clone());
    let names: Vec<String> = everywhere
        .namespaces
        .iter()
        .filter(|n| elsewhere.iter().any(|s| s.net_namespace == Some(n.inode)))
        .filter_map(|n| n.name.clone())
        .collect();
    let holder = elsewhere.iter().find_map(first_owner);
    // The prefix every fix printed for another namespace carries (a name
    // quoted as in every command porthole prints: it may hold spaces or
    // shell characters).
    let prefix = |path: String| {
        // The prefix reads the path alone.
        let handle = crate::inventory::NamespaceHandle { path, inode: 0 };
        crate::inventory::namespaces::exec_prefix(&handle).trim_end().to_string()
    };
    let mut fix = match (names.first(), holder) {
        (Some(name), _) => vec![Fix::step(format!(
            "run the client in that namespace: put `{}` before its command",
            prefix(format!("/run/netns/{name}"))
        ))],
        (None, Some(pid)) => vec![Fix::step(format!(
            "run the client in the namespace of pid {pid}: put `{}` before its command (or use docker exec, --network host)",
            prefix(format!("/proc/{pid}/ns/net"))
        ))],
        (None, None) => vec![Fix::step(
            "run the client in the server's namespace (docker exec, --network host, or nsenter --net= with the /proc/PID/ns/net of the server's pid)",
        )],
    };
    // What a connection from inside that namespace would meet, asked the
    // same way (`check --netns` takes a name or a namespace file).
    let inside = match (names.first(), holder) {
        // A name with control characters, or one that begins with `-`,
        // still runs as printed.
        (Some(name), _) => Some(crate::shell::option_with_value("--netns", name)),
        (None, Some(pid)) => Some(format!("--netns /proc/{pid}/ns/net")),
        (None, None) => None,
    };
    if let Some(netns) = inside {
        fix.push(Fix::command(format!("{program} check {port} {netns}")));
    }
    if let Some(container) = in_container {
        fix.insert(0, Fix::step(format!("publish the port: docker run -p 127.0.0.1:{port}:{port} … (container {container}), with the app listening on 0.0.0.0 inside")));
    }
    Cause {
        id: CauseId::OtherNamespace,
        severity: Severity::Error,
        summary: format!("port {port} listens in another network namespace, not in this one"),
        evidence: lines,
        fix,
    }
}

/// No TCP listener anywhere, but a Unix socket named for the port's
/// service (in `unix`).
fn unix_socket_only(port: u16, attempts: &[Attempt], unix: &Snapshot) -> Cause {
    let named = &unix.sockets;
    let mut lines: Vec<String> = attempts.iter().map(attempt_line).collect();
    lines.extend(
        named.iter().map(|s| format!("Unix listener: {}", listener_line(&unix.processes, s))),
    );
    let path = named[0].path.clone().unwrap_or_default();
    Cause {
        id: CauseId::UnixSocketOnly,
        severity: Severity::Error,
        summary: format!("nothing listens on TCP port {port}, but the service listens on the Unix socket {path}"),
        evidence: lines,
        fix: vec![
            Fix::step(format!("connect through the socket: e.g. psql -h {} / mysql --socket={path} / curl --unix-socket {path}",
                std::path::Path::new(&path).parent().map(|p| p.display().to_string()).unwrap_or_default())),
            Fix::step("or enable TCP in the service (listen_addresses, skip-networking=0, -H tcp://…)"),
        ],
    }
}

/// Nothing on the port in any address, family or namespace porthole could
/// read (`unread` namespaces it could not).
fn nothing_listening(
    target: &Target,
    port: u16,
    attempts: &[Attempt],
    unread: usize,
    meaning: &PortMeaning,
    client_ends: &Snapshot,
    unprivileged_start: Option<u16>,
) -> Cause {
    let mut lines: Vec<String> = attempts.iter().map(attempt_line).collect();
    if unread > 0 {
        // The sweep saw only the namespaces it could enter: say so, as
        // `ls --netns all` does, instead of claiming "none anywhere".
        lines.push(format!(
            "no listener on port {port} in any address or family here, nor in the network namespaces porthole could read"
        ));
        lines.push(format!(
            "{unread} network namespace(s) could not be read; run as root to look inside them"
        ));
    } else {
        lines.push(format!(
            "no listener on port {port} in any address, family or network namespace"
        ));
    }
    if let Some(service) = meaning.services.first() {
        lines.push(format!("port {port} usually belongs to {service}"));
    }
    for socket in &client_ends.sockets {
        let (Some(local), Some(remote)) = (socket.local, socket.remote) else { continue };
        lines.push(format!(
            "port {port} is the local end of a connection {local} -> {remote} [{}] held by {}: a client's source port, not a server",
            socket.state.ss_name(),
            owners_text(&client_ends.processes, socket)
        ));
    }
    if let (true, Some((low, high))) = (meaning.in_ephemeral_range, meaning.ephemeral_range) {
        lines.push(format!(
            "port {port} is inside the ephemeral range {low}-{high}: a client polling it may connect to itself"
        ));
    }
    let mut fix = vec![
        Fix::step("start the service (or check its logs: it may have crashed or still be starting)"),
        Fix::step(CHECK_CLIENT_PORT),
        // The target as given (its printed form reads back as the same
        // target): `localhost:PORT` named another host than a client of
        // `[::1]:PORT` or `postgres://db.internal/app` asks.
        Fix::step(format!(
            "to start a client once the service is up: porthole wait {} -- followed by the client's command",
            crate::shell::word(&target.to_string())
        )),
    ];
    // A server that does not run as root fails to bind a port below the
    // sysctl (EACCES) and exits or logs it: nothing is left to see here.
    if let Some(start) = unprivileged_start.filter(|start| port != 0 && port < *start) {
        lines.push(format!(
            "port {port} is below net.ipv4.ip_unprivileged_port_start ({start}): a server that does not run as root needs CAP_NET_BIND_SERVICE, or its bind() fails with EACCES (Permission denied) and it never listens"
        ));
        fix.push(Fix::step(format!(
            "if the service's log says Permission denied for port {port}: give it CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit, or setcap cap_net_bind_service=+ep on its binary), or let every user bind the port:"
        )));
        fix.push(Fix::command(format!("sysctl -w net.ipv4.ip_unprivileged_port_start={port}")));
    }
    Cause {
        id: CauseId::NothingListening,
        severity: Severity::Error,
        summary: format!("nothing listens on port {port}"),
        evidence: lines,
        fix,
    }
}

/// Unix stream listeners (optionally one path), owners only for the
/// interesting ones.
fn unix_snapshot(
    system: &dyn System,
    path: Option<&str>,
    file: Option<(u64, u64)>,
) -> Result<Snapshot, DiagnoseError> {
    let query = Query {
        tcp: false,
        udp: false,
        unix: true,
        listeners_only: true,
        owners: false,
        ..Query::default()
    };
    let mut snapshot = system.snapshot(&query)?;
    // A server that bound a relative path shows that string, not the
    // client's absolute one: the bound file matches it all the same.
    let at_path = |s: &Socket| {
        path.is_none_or(|p| s.path.as_deref() == Some(p))
            || (file.is_some() && s.bound_file == file)
    };
    snapshot.sockets.retain(|s| at_path(s) && s.path.is_some());
    if path.is_some() {
        let wanted: Vec<u64> = snapshot.sockets.iter().map(|s| s.inode).collect();
        system.attach_owners(&mut snapshot, &wanted);
    }
    Ok(snapshot)
}

/// Whether a Unix socket path names the service usually on `port`:
/// PostgreSQL's `.s.PGSQL.<port>`, MySQL's `mysqld.sock`, Docker's
/// `docker.sock`, Redis's `redis.sock`, PHP-FPM's `php*-fpm.sock`.
pub fn unix_names_service(socket: &Socket, port: u16) -> bool {
    let Some(path) = &socket.path else { return false };
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if name == format!(".s.pgsql.{port}") {
        return true;
    }
    match port {
        3306 | 33060 => name.starts_with("mysql") || name.starts_with("mariadb"),
        2375 | 2376 => name == "docker.sock" || name == "podman.sock",
        6379 => name.starts_with("redis") || name.starts_with("valkey"),
        9000 => name.contains("php") && name.contains("fpm"),
        11211 => name.starts_with("memcached"),
        _ => false,
    }
}

/// Different services on different addresses or families of one port.
///
/// Listeners that share one local address are a `SO_REUSEPORT` group (the
/// kernel spreads connections over healthy workers), and a forked server
/// shares one socket: neither is split. Only listeners on *different*
/// addresses whose owners are entirely different processes are.
fn split_listeners(evidence: &Evidence) -> Option<Cause> {
    let listeners: Vec<&Socket> = evidence
        .snapshot
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.is_listener() && !s.owners.is_empty())
        .collect();
    // Owners per local address: a reuseport group becomes one entry.
    let mut groups: Vec<(SocketAddr, Vec<u32>)> = Vec::new();
    for socket in &listeners {
        let Some(local) = socket.local else { continue };
        match groups.iter_mut().find(|(address, _)| *address == local) {
            Some((_, owners)) => owners.extend(socket.owners.iter().copied()),
            None => groups.push((local, socket.owners.clone())),
        }
    }
    let disjoint = groups.len() > 1
        && groups.iter().enumerate().all(|(i, (_, a))| {
            groups.iter().skip(i + 1).all(|(_, b)| a.iter().all(|pid| !b.contains(pid)))
        });
    if !disjoint || same_service(evidence, &groups) {
        return None;
    }
    let mut lines: Vec<String> = listeners
        .iter()
        .map(|s| format!("listener: {}", listener_line(&evidence.snapshot.processes, s)))
        .collect();
    lines.extend(evidence.attempts.iter().map(attempt_line));
    let described: Vec<String> = groups
        .iter()
        .map(|(address, owners)| {
            let pids: Vec<String> = owners.iter().map(u32::to_string).collect();
            format!("{address} (pid {})", pids.join(", "))
        })
        .collect();
    Some(Cause {
        id: CauseId::SplitListeners,
        severity: Severity::Warning,
        summary: format!(
            "different processes hold port {} on different addresses: which one a client reaches depends on the address it picks",
            evidence.port
        ),
        evidence: lines,
        fix: vec![
            Fix::step(format!(
                "keep one service on the port and stop the other if it is a leftover: {}",
                described.join(" or ")
            )),
            Fix::step("or pin clients to one literal address (127.0.0.1 or [::1])"),
        ],
    })
}

/// Whether every other group's owners are parent or child of a first-group
/// owner: one service that opened its sockets in a master and a worker.
fn same_service(evidence: &Evidence, groups: &[(SocketAddr, Vec<u32>)]) -> bool {
    let processes = &evidence.snapshot.processes;
    let parent = |pid: &u32| processes.get(pid).map(|p| p.parent_pid);
    let related = |a: &u32, b: &u32| parent(a) == Some(*b) || parent(b) == Some(*a);
    let first = &groups[0].1;
    groups
        .iter()
        .skip(1)
        .all(|(_, owners)| owners.iter().all(|pid| first.iter().any(|other| related(pid, other))))
}

fn localhost_unresolvable(view: &environment::HostsView, error: &DiagnoseError) -> Cause {
    let source = std::error::Error::source(error).map(|e| e.to_string()).unwrap_or_default();
    let mut lines = vec![format!("getaddrinfo(\"localhost\") failed: {source}")];
    // The hosts file has the name, but nsswitch never reads it: adding
    // the line again would change nothing.
    let unread = view.nsswitch.as_deref().filter(|line| {
        !view.entries.is_empty() && !line.split_whitespace().any(|s| s.starts_with("files"))
    });
    if let Some(nsswitch) = unread {
        let listed: Vec<String> = view.entries.iter().map(IpAddr::to_string).collect();
        lines.push(format!(
            "{} gives localhost {}, but nsswitch.conf hosts: {nsswitch} has no 'files' source, so the file is never read",
            view.hosts_path,
            listed.join(", ")
        ));
        return Cause {
            id: CauseId::LocalhostResolution,
            severity: Severity::Error,
            summary: "'localhost' does not resolve: nsswitch.conf does not consult /etc/hosts"
                .to_string(),
            evidence: lines,
            fix: vec![
                Fix::step(format!(
                    "put 'files' first on the hosts line of /etc/nsswitch.conf: hosts: files {nsswitch}"
                )),
                Fix::step("or use the literal 127.0.0.1 / [::1]"),
            ],
        };
    }
    lines.push(format!("{} has no 'localhost' line", view.hosts_path));
    if let Some(nsswitch) = &view.nsswitch {
        lines.push(format!("nsswitch.conf hosts: {nsswitch} (no myhostname/resolve source that synthesizes localhost)"));
    }
    Cause {
        id: CauseId::LocalhostResolution,
        severity: Severity::Error,
        summary: "'localhost' does not resolve".to_string(),
        evidence: lines,
        fix: hosts_fix(&view.hosts_path),
    }
}

/// A name other than `localhost` that does not resolve: which sources the
/// client's nsswitch.conf asked, what its hosts file says, and (where
/// there is one) the name or address the user may have meant. `local` are
/// the port's TCP listeners on this machine.
fn name_unresolvable(
    name: &str,
    port: u16,
    view: &environment::HostsView,
    error: &DiagnoseError,
    local: &[SocketAddr],
) -> Cause {
    let source = std::error::Error::source(error).map(|e| e.to_string()).unwrap_or_default();
    let mut evidence = vec![format!("getaddrinfo(\"{name}\") failed: {source}")];
    let mut fix = Vec::new();
    let sources = match &view.nsswitch {
        Some(line) => line.clone(),
        // glibc's built-in default when nsswitch.conf has no hosts line.
        None => "dns files".to_string(),
    };
    let asked: Vec<String> = sources
        .split_whitespace()
        .filter(|word| !word.starts_with('['))
        .map(|word| match word {
            "files" => format!("files ({})", view.hosts_path),
            "dns" if view.nameservers.is_empty() => {
                format!("dns ({} names no nameserver, so glibc asks 127.0.0.1)", view.resolv_path)
            }
            "dns" => format!(
                "dns (nameserver {} from {})",
                view.nameservers.join(", "),
                view.resolv_path
            ),
            "myhostname" => "myhostname (this machine's own name)".to_string(),
            "resolve" => "resolve (systemd-resolved)".to_string(),
            "mymachines" => "mymachines (systemd-machined containers)".to_string(),
            other => other.to_string(),
        })
        .collect();
    match &view.nsswitch {
        Some(line) => {
            evidence.push(format!("nsswitch.conf hosts: {line}: asked {}", asked.join(", ")))
        }
        None => evidence
            .push(format!("nsswitch.conf has no hosts line: glibc asks {}", asked.join(", "))),
    }
    let reads_files = sources.split_whitespace().any(|word| word == "files");
    if view.entries.is_empty() {
        evidence.push(format!("{} has no line for '{name}'", view.hosts_path));
    } else if !reads_files {
        let listed: Vec<String> = view.entries.iter().map(IpAddr::to_string).collect();
        evidence.push(format!(
            "{} gives {name} {}, but the hosts line has no 'files' source, so the file is never read",
            view.hosts_path,
            listed.join(", ")
        ));
        fix.push(Fix::step(format!(
            "put 'files' first on the hosts line of /etc/nsswitch.conf: hosts: files {sources}"
        )));
    }
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let reserved = ["invalid", "test", "example"]
        .into_iter()
        .find(|tld| lower == *tld || lower.ends_with(&format!(".{tld}")));
    if let Some(tld) = reserved {
        evidence.push(format!(
            "'.{tld}' is a reserved top-level domain (RFC 2606, RFC 6761): no DNS server answers for it, only a hosts file line would"
        ));
    }
    // A name one or two letters from one the hosts file lists: a typo,
    // on either side.
    let mut near: Vec<&(String, IpAddr)> = Vec::new();
    for entry in &view.names {
        let distance = edit_distance(&entry.0.to_ascii_lowercase(), &lower);
        let close = distance > 0 && distance <= if lower.len() >= 6 { 2 } else { 1 };
        if close && lower.len() >= 3 && !near.iter().any(|seen| seen.0 == entry.0) {
            near.push(entry);
        }
    }
    for (other, address) in &near {
        evidence.push(format!("{} has '{other}' ({address}), close to '{name}'", view.hosts_path));
        fix.push(Fix::step(format!("connect to '{other}' (the name {} lists)", view.hosts_path)));
    }
    // A listener on this machine takes the port: a service name (a compose
    // file's `db`) used outside the network that resolves it.
    let reachable: Vec<IpAddr> = local
        .iter()
        .filter_map(|address| match address.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() || v4.is_loopback() => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            IpAddr::V6(v6) if v6.is_unspecified() || v6.is_loopback() => {
                Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
            }
            _ => None,
        })
        .fold(Vec::new(), |mut all, ip| {
            if !all.contains(&ip) {
                all.push(ip);
            }
            all
        });
    if !local.is_empty() {
        let listed: Vec<String> = local.iter().map(ToString::to_string).collect();
        evidence.push(format!("port {port} has a listener on this machine: {}", listed.join(", ")));
    }
    let summary = match reachable.first() {
        _ if !near.is_empty() => {
            if let Some(ip) = reachable.first() {
                let address = SocketAddr::new(*ip, port);
                fix.push(Fix::step(format!(
                    "or connect to {address} (the listener on this machine)"
                )));
            }
            format!(
                "'{name}' does not resolve: {} lists '{}', close to it (a typo on one side)",
                view.hosts_path, near[0].0
            )
        }
        Some(ip) => {
            let address = SocketAddr::new(*ip, port);
            fix.push(Fix::step(format!(
                "connect to {address} (the listener on this machine) instead of '{name}'"
            )));
            fix.push(Fix::step(format!("or add to {}: {ip} {name}", view.hosts_path)));
            format!(
                "'{name}' does not resolve here, but port {port} listens on this machine: a name only another network knows (a compose service's) used outside it"
            )
        }
        None => {
            if near.is_empty() && view.entries.is_empty() {
                fix.push(Fix::step(format!(
                    "use the server's name as DNS knows it, or add a line 'ADDRESS {name}' to {}",
                    view.hosts_path
                )));
            }
            format!("'{name}' does not resolve: no source nsswitch.conf asks knows it")
        }
    };
    Cause { id: CauseId::NameResolution, severity: Severity::Error, summary, evidence, fix }
}

/// Levenshtein distance between two short names (bytes).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The lines a hosts file without `localhost` needs, in `hosts_path` (the
/// file the client reads).
fn hosts_fix(hosts_path: &str) -> Vec<Fix> {
    vec![
        Fix::step(format!("add to {hosts_path}: 127.0.0.1 localhost")),
        Fix::step("and, when IPv6 is enabled: ::1 localhost ip6-localhost ip6-loopback"),
        Fix::step("or use the literal 127.0.0.1 / [::1]"),
    ]
}

/// `localhost` resolving anywhere but 127.0.0.1 and ::1: a non-loopback
/// address always, another loopback address (`127.0.1.1 localhost`, a
/// common installer mistake) when connecting to it failed.
fn strange_localhost(attempts: &[Attempt]) -> Vec<IpAddr> {
    attempts
        .iter()
        .filter_map(|a| Some((a.ip()?, a.healthy)))
        .filter(|(ip, healthy)| {
            !crate::model::is_loopback(*ip) || (!is_canonical_loopback(*ip) && !healthy)
        })
        .map(|(ip, _)| ip)
        .collect()
}

/// The cause for the [`strange_localhost`] addresses, explained by the
/// client's hosts file and nsswitch line (`view`).
fn localhost_resolution(view: &environment::HostsView, attempts: &[Attempt]) -> Option<Cause> {
    let resolved: Vec<IpAddr> = attempts.iter().filter_map(Attempt::ip).collect();
    let strange = strange_localhost(attempts);
    if strange.is_empty() {
        return None;
    }
    let mut lines = vec![format!(
        "localhost resolves to {}",
        resolved.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )];
    let from_hosts: Vec<&IpAddr> = strange.iter().filter(|ip| view.entries.contains(ip)).collect();
    if !view.entries.is_empty() {
        lines.push(format!(
            "{}: localhost → {}",
            view.hosts_path,
            view.entries.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(nsswitch) = &view.nsswitch {
        lines.push(format!("nsswitch.conf hosts: {nsswitch}"));
    }
    let listed = strange.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let all_loopback = strange.iter().all(|ip| crate::model::is_loopback(*ip));
    let mut fix = Vec::new();
    if !from_hosts.is_empty() {
        let addresses = from_hosts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        fix.push(Fix::step(format!(
            "edit {}: take 'localhost' off the line of {addresses} and keep '127.0.0.1 localhost' (and '::1 localhost' when IPv6 is on); 127.0.1.1 is meant for the machine's own hostname",
            view.hosts_path
        )));
        fix.push(Fix::command(format!(
            "grep -n localhost {}   # the lines to fix",
            crate::shell::word(&view.hosts_path)
        )));
        fix.push(Fix::step("or use the literal 127.0.0.1 / [::1]"));
    } else {
        fix = hosts_fix(&view.hosts_path);
    }
    // Another loopback address that fails while a later one answers only
    // hurts clients that stop at the first address.
    let severity = if all_loopback && attempts.iter().any(|a| a.healthy) {
        Severity::Warning
    } else {
        Severity::Error
    };
    Some(Cause {
        id: CauseId::LocalhostResolution,
        severity,
        summary: if all_loopback {
            format!(
                "'localhost' resolves to {listed}, not 127.0.0.1 or ::1, and nothing answers there"
            )
        } else {
            format!("'localhost' resolves to a non-loopback address ({listed})")
        },
        evidence: lines,
        fix,
    })
}

fn proxy_env(
    target: &Target,
    host: &Host,
    environment: &[(String, String)],
    refused: impl Fn(SocketAddr) -> bool,
) -> Option<Cause> {
    let host_text = match host {
        Host::Ip(IpAddr::V6(v6)) => v6.to_string(),
        other => other.to_string(),
    };
    let https = matches!(target, Target::Http { tls: true, .. });
    let users = environment::proxy_users(environment, &host_text, target.port(), https);
    if users.is_empty() {
        return None;
    }
    let lines: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                "{} would send the request to {} (from {}; no_proxy={})",
                u.client.as_str(),
                u.proxy,
                u.variable,
                if u.no_proxy.is_empty() {
                    "<unset>".to_string()
                } else {
                    format!("'{}'", u.no_proxy)
                }
            )
        })
        .collect();
    let mut lines = lines;
    // urllib reads an empty lower-case no_proxy as "no list", whatever
    // NO_PROXY says (curl skips it and reads NO_PROXY).
    let set = |name: &str| environment.iter().rev().find(|(key, _)| key == name);
    if let (Some((_, lower)), Some((_, upper))) = (set("no_proxy"), set("NO_PROXY")) {
        if lower.is_empty()
            && !upper.is_empty()
            && users.iter().any(|u| u.client == environment::ProxyClient::Python)
        {
            lines.push(format!(
                "no_proxy is set and empty: python reads it instead of NO_PROXY='{upper}'"
            ));
        }
    }
    // A proxy on this machine that refuses: every request through it fails
    // (curl "Failed to connect", Python ProxyError), whatever it serves.
    let mut seen: Vec<SocketAddr> = Vec::new();
    for address in users.iter().filter_map(|u| loopback_proxy(&u.proxy)) {
        if !seen.contains(&address) && refused(address) {
            lines.push(format!(
                "nothing accepts connections at the proxy {address} (refused): every request sent through it fails"
            ));
        }
        seen.push(address);
    }
    let clients: Vec<&str> = users.iter().map(|u| u.client.as_str()).collect();
    let http = matches!(target, Target::Http { .. });
    let mut fix = vec![no_proxy_fix(environment, &host_text)];
    // Only a tool that would use the proxy needs to be told to skip it
    // (curl ignores upper-case HTTP_PROXY, for one).
    if users.iter().any(|u| u.client == environment::ProxyClient::Curl) {
        fix.push(Fix::step("or for one curl command: curl --noproxy '*' followed by the URL"));
    }
    Some(Cause {
        id: CauseId::ProxyEnv,
        severity: if http { Severity::Error } else { Severity::Warning },
        summary: format!(
            "proxy variables send HTTP requests for {host_text} to a proxy ({}); porthole's own probe does not use it",
            clients.join(", ")
        ),
        evidence: lines,
        fix,
    })
}

/// The address of a proxy URL (`http://user:pass@127.0.0.1:3128/`,
/// `localhost:8080`) when it is on this machine's loopback; curl's default
/// proxy port 1080 when none is given. Proxies elsewhere are not contacted.
fn loopback_proxy(proxy: &str) -> Option<SocketAddr> {
    let rest = proxy.split_once("://").map_or(proxy, |(_, rest)| rest);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse::<u16>().ok()?,
        None => 1080,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().ok()?
    };
    crate::model::is_loopback(ip).then_some(SocketAddr::new(ip, port))
}

/// The proxy variables of a running process (`--from PID`) were fixed when
/// it started: an `export` in the user's shell does not reach it. The list
/// becomes what to start it with.
fn for_running_process(system: &dyn System, pid: u32, cause: &mut Cause) {
    // Other users' text: the renderers escape it.
    let name = system.process(pid).map(|p| p.name).unwrap_or_else(|| "the process".into());
    for fix in &mut cause.fix {
        if let Fix::Command(line) = fix {
            if let Some(list) = line.strip_prefix("export ") {
                *fix = Fix::step(format!(
                    "restart {name} (pid {pid}) with {list} in its environment: a running process keeps the variables it started with"
                ));
            }
        }
    }
}

/// `export no_proxy=… NO_PROXY=…` that keeps what the user already lists
/// there (replacing the list would send those hosts to the proxy) and adds
/// the loopback names and the target's own host (a `127.0.0.2` or a
/// `*.localhost` name is not covered by `127.0.0.1`: IP literals are
/// compared as strings), an IPv6 host with and without brackets. Both
/// variables get the same list, since tools differ in which one they read.
fn no_proxy_fix(environment: &[(String, String)], host: &str) -> Fix {
    let mut entries: Vec<String> = Vec::new();
    for variable in ["no_proxy", "NO_PROXY"] {
        let values = environment.iter().rev().find(|(key, _)| key == variable);
        for entry in values.iter().flat_map(|(_, value)| value.split(',')) {
            let entry = entry.trim();
            if !entry.is_empty() && !entries.iter().any(|e| e == entry) {
                entries.push(entry.to_string());
            }
        }
    }
    // An IPv6 host goes in both spellings: curl matches `::1`, Python's
    // urllib `[::1]` (see `environment::python_bypasses`).
    let bracketed = host.parse::<std::net::Ipv6Addr>().ok().map(|_| format!("[{host}]"));
    for wanted in ["localhost", "127.0.0.1", "::1", host].into_iter().chain(bracketed.as_deref()) {
        if !entries.iter().any(|e| e.eq_ignore_ascii_case(wanted)) {
            entries.push(wanted.to_string());
        }
    }
    let list = crate::shell::word(&entries.join(",")).into_owned();
    Fix::command(format!("export no_proxy={list} NO_PROXY={list}"))
}

/// Whether a cause is one where the client's own localhost is the
/// question, so where it runs (WSL2, a container) matters.
fn wants_platform_hint(cause: &Cause) -> bool {
    cause.severity == Severity::Error
        && matches!(
            cause.id,
            CauseId::NothingListening | CauseId::OtherNamespace | CauseId::Unexplained
        )
}

/// `unix`: the target is a socket path, which a container sees in its own
/// files (not its own network), and which WSL2's localhost sharing does not
/// concern.
fn add_platform_hints(causes: &mut [Cause], platform: &environment::Platform, unix: bool) {
    let Some(first) = causes.iter_mut().find(|c| wants_platform_hint(c)) else {
        return;
    };
    if unix {
        if let Some(container) = &platform.container {
            first.evidence.push(format!("the client runs inside a container ({container}): it sees the container's files, where a socket made outside appears only if its path is mounted in"));
        }
        return;
    }
    if platform.wsl2 {
        first.evidence.push("running under WSL2 (kernel osrelease): Windows and WSL share localhost only with localhostForwarding or networkingMode=mirrored".to_string());
        first.fix.push(Fix::step("on Windows: wsl --shutdown, and set networkingMode=mirrored (hostAddressLoopback=true) in .wslconfig"));
    }
    if let Some(container) = &platform.container {
        first.evidence.push(format!("the client runs inside a container ({container}): its localhost is the container's own"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SocketState, UnixKind};

    #[test]
    fn a_fix_that_needs_root_runs_through_the_callers_way_to_root_or_is_said_in_words() {
        let fix = |wrapper| {
            root_fix(wrapper, "chmod o+x '/srv/a b'", "lets every local user pass through", || {
                "as root, run it".to_string()
            })
        };
        assert_eq!(
            fix(AsRoot::Already),
            Fix::command("chmod o+x '/srv/a b'   # lets every local user pass through")
        );
        assert_eq!(
            fix(AsRoot::Sudo),
            Fix::command("sudo chmod o+x '/srv/a b'   # lets every local user pass through")
        );
        assert_eq!(
            fix(AsRoot::Su),
            Fix::command(
                "su -c 'chmod o+x '\\''/srv/a b'\\'''   # lets every local user pass through"
            )
        );
        assert_eq!(fix(AsRoot::Unknown), Fix::step("as root, run it"));
    }

    #[test]
    fn the_check_as_root_of_an_unread_firewall_goes_through_sudo_or_su() {
        // Only sudo was looked for: with su alone the run was words, and
        // sudo was offered to users it refuses.
        use crate::inventory::system::fake::Scripted;
        let target = Target::parse("127.0.0.1:8080").unwrap();
        let fix = |system: &Scripted| {
            let mut cause = Cause {
                id: CauseId::Unexplained,
                severity: Severity::Error,
                summary: String::new(),
                evidence: Vec::new(),
                fix: Vec::new(),
            };
            firewall_unreadable(system, &target, Client::Current, &mut cause);
            cause.fix
        };
        let su = Scripted::default().file("/bin/su", "");
        assert_eq!(
            fix(&su),
            [Fix::command(
                "su -c 'porthole check 127.0.0.1:8080'   # as root, so the firewall can be read"
            )]
        );
        let neither = Scripted::default();
        assert_eq!(
            fix(&neither),
            [Fix::step("run `porthole check 127.0.0.1:8080` as root, so the firewall can be read")]
        );
        // Root's PATH, not the user's, decides how the run as root calls
        // porthole.
        let elsewhere = Scripted {
            program: Some("porthole".into()),
            root_program: Some("'/home/u/my bin/porthole'".into()),
            ..Scripted::default()
        }
        .file("/usr/bin/sudo", "");
        assert_eq!(
            fix(&elsewhere),
            [Fix::command(
                "sudo '/home/u/my bin/porthole' check 127.0.0.1:8080   # as root, so the firewall \
                 can be read"
            )]
        );
    }

    /// Scripted evidence for [`judge`]: every cause id from facts alone,
    /// each beside a healthy twin that differs in the one fact that
    /// decides it.
    #[test]
    fn reserved_ports_inside_the_range_are_counted_and_the_rest_kept() {
        let set = |text: &str| PortSet::parse(text).unwrap();
        assert_eq!(reserved_in_range(&set("40000-40003"), 40000, 40005), (4, Some(String::new())));
        assert_eq!(
            reserved_in_range(&set("22,39990-40001,40005-40010,50000"), 40000, 40005),
            (3, Some("22,39990-39999,40006-40010,50000".to_string()))
        );
        assert_eq!(reserved_in_range(&set("8080"), 40000, 40005), (0, None));
    }

    #[test]
    fn only_loopback_proxies_are_located() {
        let at = |text: &str| loopback_proxy(text).map(|a| a.to_string());
        assert_eq!(at("http://127.0.0.1:9").as_deref(), Some("127.0.0.1:9"));
        assert_eq!(at("http://user:p@ss@localhost:3128/").as_deref(), Some("127.0.0.1:3128"));
        assert_eq!(at("socks5h://[::1]:1081").as_deref(), Some("[::1]:1081"));
        assert_eq!(at("127.0.0.2").as_deref(), Some("127.0.0.2:1080"));
        assert_eq!(at("http://proxy.corp.example:3128"), None);
        assert_eq!(at("http://192.0.2.1:3128"), None);
        assert_eq!(at("http://127.0.0.1:notaport"), None);
    }

    /// Inside a container a Unix path is a question of files, not of the
    /// container's own localhost; WSL2's localhost sharing does not
    /// concern it at all.
    #[test]
    fn platform_hints_fit_the_kind_of_target() {
        let cause = || Cause {
            id: CauseId::NothingListening,
            severity: Severity::Error,
            summary: String::new(),
            evidence: Vec::new(),
            fix: Vec::new(),
        };
        let platform =
            environment::Platform { wsl2: true, container: Some("/.dockerenv exists".to_string()) };
        let mut ip = [cause()];
        add_platform_hints(&mut ip, &platform, false);
        assert_eq!(ip[0].evidence.len(), 2, "{:#?}", ip[0].evidence);
        assert!(ip[0].evidence[1].ends_with("its localhost is the container's own"));
        assert_eq!(ip[0].fix.len(), 1);
        let mut unix = [cause()];
        add_platform_hints(&mut unix, &platform, true);
        assert_eq!(unix[0].evidence.len(), 1, "{:#?}", unix[0].evidence);
        assert!(unix[0].evidence[0].contains("it sees the container's files"));
        assert!(!unix[0].evidence[0].contains("localhost"));
        assert!(unix[0].fix.is_empty());
    }

    #[test]
    fn a_refusing_loopback_proxy_is_named_once() {
        let target = Target::Http {
            tls: false,
            host: Host::Ip(IpAddr::from([127, 0, 0, 1])),
            port: 8080,
            path: "/".into(),
        };
        let environment = vec![
            ("http_proxy".to_string(), "http://127.0.0.1:9".to_string()),
            ("HTTP_PROXY".to_string(), "http://127.0.0.1:9".to_string()),
        ];
        let host = Host::Ip(IpAddr::from([127, 0, 0, 1]));
        let cause = proxy_env(&target, &host, &environment, |_| true).expect("proxied");
        let dead: Vec<&String> =
            cause.evidence.iter().filter(|l| l.contains("nothing accepts")).collect();
        assert_eq!(dead.len(), 1, "{:#?}", cause.evidence);
        assert!(dead[0].contains("127.0.0.1:9"));
        let cause = proxy_env(&target, &host, &environment, |_| false).expect("proxied");
        assert!(!cause.evidence.iter().any(|l| l.contains("nothing accepts")));
    }

    mod judged {
        use std::time::Duration;

        use super::super::*;
        use crate::inventory::system::fake::Scripted;
        use crate::model::{Namespace, SocketState, UnixKind};

        const RULES_JSON: &str = include_str!("fixtures/rules.json");
        const RULES_TEXT: &str = include_str!("fixtures/rules.txt");

        fn attempt(
            address: &str,
            outcome: Outcome,
            reply: Option<Reply>,
            healthy: bool,
        ) -> Attempt {
            Attempt {
                address: ProbeAddress::Ip(address.parse().expect("test address")),
                kind: super::super::super::AttemptKind::Connect(outcome),
                elapsed: Duration::from_millis(1),
                detail: outcome.as_str().to_string(),
                reply,
                healthy,
            }
        }

        /// Connected, and the server greeted the probe (a silent peer is
        /// itself a warning).
        fn connected(address: &str) -> Attempt {
            attempt(address, Outcome::Connected, Some(Reply::Other("hello".to_string())), true)
        }

        fn refused(address: &str) -> Attempt {
            attempt(address, Outcome::Refused, None, false)
        }

        fn listener(address: &str, pid: u32) -> Socket {
            let local: SocketAddr = address.parse().expect("test address");
            Socket {
                inode: u64::from(pid) + 1000,
                tx_queue: 128,
                owners: vec![pid],
                ..Socket::listening(Protocol::Tcp, local)
            }
        }

        fn process(pid: u32, name: &str, state: char) -> (u32, Process) {
            (
                pid,
                Process { pid, name: name.to_string(), state, parent_pid: 1, ..Process::default() },
            )
        }

        /// A machine with one TCP listener at `address`, held by `name`
        /// (pid `pid`, in `state`).
        fn one_server(address: &str, pid: u32, name: &str, state: char) -> Scripted {
            Scripted {
                sockets: vec![listener(address, pid)],
                processes: [process(pid, name, state)].into(),
                ..Scripted::default()
            }
        }

        fn ip(port: u16) -> Target {
            Target::Tcp { host: Host::Ip(IpAddr::from([127, 0, 0, 1])), port }
        }

        fn localhost(port: u16) -> Target {
            Target::Tcp { host: Host::Name("localhost".to_string()), port }
        }

        fn http(port: u16, tls: bool) -> Target {
            let host = Host::Ip(IpAddr::from([127, 0, 0, 1]));
            Target::Http { tls, host, port, path: "/".to_string() }
        }

        /// Gathers the listener snapshot from `system` as
        /// [`diagnose_target`] does, then judges the scripted attempts.
        fn judged(system: &Scripted, target: Target, attempts: Vec<Attempt>) -> Diagnosis {
            let snapshot = match target.port() {
                Some(port) => super::super::super::listener_snapshot(system, port),
                None => Ok(Snapshot::default()),
            }
            .expect("scripted snapshot");
            let probed = Probed {
                target,
                client: Client::Current,
                timeout: Duration::from_millis(500),
                attempts,
                snapshot,
                overflows: None,
                early: Vec::new(),
                owner: Some((0, 0)),
                statuses: StatusSet::default(),
                stalled: Vec::new(),
                delivered: Vec::new(),
            };
            judge(system, probed).expect("judged")
        }

        fn ids(diagnosis: &Diagnosis) -> Vec<CauseId> {
            diagnosis.causes.iter().map(|c| c.id).collect()
        }

        fn cause(diagnosis: &Diagnosis, id: CauseId) -> &Cause {
            diagnosis
                .causes
                .iter()
                .find(|c| c.id == id)
                .unwrap_or_else(|| panic!("no {id:?} in {:#?}", diagnosis.causes))
        }

        fn fixes(cause: &Cause) -> Vec<&str> {
            cause.fix.iter().map(Fix::text).collect()
        }

        fn with_ruleset(system: Scripted) -> Scripted {
            system
                .command("nft -j list ruleset", RULES_JSON)
                .command("nft -a list ruleset", RULES_TEXT)
        }

        #[test]
        fn healthy_port_asks_for_nothing_more() {
            let system = one_server("127.0.0.1:7000", 10, "server", 'S');
            let diagnosis = judged(&system, ip(7000), vec![connected("127.0.0.1:7000")]);
            assert!(diagnosis.causes.is_empty(), "{:#?}", diagnosis.causes);
            // No systemctl, no sweep: a working port whose connection was
            // not found on the port costs one snapshot and the ruleset's
            // nat rules (which may have sent it past its listener).
            assert_eq!(*system.ran.lock().unwrap(), ["nft -j list ruleset"]);
        }

        #[test]
        fn healthy_port_delivered_as_addressed_reads_only_the_nft_ruleset() {
            let system = one_server("127.0.0.1:7000", 10, "server", 'S');
            let attempt = connected("127.0.0.1:7000");
            let snapshot = super::super::super::listener_snapshot(&system, 7000).expect("snapshot");
            let probed = Probed {
                target: ip(7000),
                client: Client::Current,
                timeout: Duration::from_millis(500),
                delivered: vec![attempt.address.clone()],
                attempts: vec![attempt],
                snapshot,
                overflows: None,
                early: Vec::new(),
                owner: Some((0, 0)),
                statuses: StatusSet::default(),
                stalled: Vec::new(),
            };
            let diagnosis = judge(&system, probed).expect("judged");
            assert!(diagnosis.causes.is_empty(), "{:#?}", diagnosis.causes);
            // The server's end sat on 127.0.0.1:7000: no nat rule moved it.
            // The nft ruleset is read once, for rules that would stop
            // other connections (at random, by rate); no iptables dump.
            assert_eq!(*system.ran.lock().unwrap(), ["nft -j list ruleset"]);
        }

        #[test]
        fn nothing_listening_anywhere() {
            let system = Scripted::default()
                .sysctl("net.ipv4.ip_local_port_range", "32768\t60999")
                .file("/etc/services", "postgresql\t5432/tcp\n");
            let diagnosis = judged(&system, ip(5432), vec![refused("127.0.0.1:5432")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::NothingListening]);
            let found = cause(&diagnosis, CauseId::NothingListening);
            assert!(found.evidence.iter().any(|l| l.contains("usually belongs to postgresql")));
        }

        #[test]
        fn nothing_listening_names_the_nearest_listeners_on_other_ports() {
            let system = Scripted {
                sockets: vec![
                    listener("127.0.0.1:5433", 10),
                    listener("127.0.0.1:5425", 11),
                    listener("127.0.0.1:5450", 12),
                ],
                processes: [process(10, "postgres", 'S'), process(11, "node", 'S')].into(),
                ..Scripted::default()
            };
            let diagnosis = judged(&system, ip(5432), vec![refused("127.0.0.1:5432")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::NothingListening]);
            let found = cause(&diagnosis, CauseId::NothingListening);
            assert_eq!(
                found.summary,
                "nothing listens on port 5432, but postgres (pid 10) listens on port 5433"
            );
            let nearby: Vec<&String> =
                found.evidence.iter().filter(|l| l.starts_with("a listener ")).collect();
            assert_eq!(nearby.len(), 2, "{nearby:?}");
            assert!(
                nearby[0].starts_with(
                    "a listener 1 port(s) above 5432: 127.0.0.1:5433 held by postgres (pid 10"
                ),
                "{nearby:?}"
            );
            assert!(
                nearby[1].starts_with("a listener 7 port(s) below 5432: 127.0.0.1:5425"),
                "{nearby:?}"
            );
            // 5450 is too far to be a slip of the port number.
            assert!(!found.evidence.iter().any(|l| l.contains("5450")), "{:?}", found.evidence);
            assert!(fixes(found)[0].contains("give the client port 5433"), "{:?}", found.fix);
            // Alone on the port range: the plain summary.
            let empty = judged(&Scripted::default(), ip(5432), vec![refused("127.0.0.1:5432")]);
            assert_eq!(empty.causes[0].summary, "nothing listens on port 5432");
        }

        #[test]
        fn source_ports_held_by_time_wait_are_not_told_to_close() {
            let ended = |local: &str| Socket {
                state: SocketState::TimeWait,
                remote: Some("127.0.0.1:7009".parse().unwrap()),
                owners: Vec::new(),
                ..listener(local, 10)
            };
            let system = Scripted {
                sockets: vec![
                    listener("127.0.0.1:7009", 10),
                    ended("127.0.0.1:40000"),
                    ended("127.0.0.1:40001"),
                ],
                processes: [process(10, "server", 'S')].into(),
                ..Scripted::default()
            }
            .sysctl("net.ipv4.ip_local_port_range", "40000\t40001");
            let mut unavailable = attempt("127.0.0.1:7009", Outcome::Unreachable, None, false);
            unavailable.detail = "EADDRNOTAVAIL: cannot assign requested address".to_string();
            let diagnosis = judged(&system, ip(7009), vec![unavailable]);
            assert_eq!(ids(&diagnosis), vec![CauseId::SourcePortsExhausted], "{diagnosis:#?}");
            let last = fixes(&diagnosis.causes[0]).last().copied().unwrap();
            assert!(last.starts_with("2 of them are closed connections in TIME-WAIT"), "{last}");
        }

        #[test]
        fn family_mismatch_and_its_healthy_twin() {
            let system = one_server("127.0.0.1:7001", 10, "node", 'S');
            let only_v6 = judged(&system, localhost(7001), vec![refused("[::1]:7001")]);
            assert_eq!(ids(&only_v6), vec![CauseId::FamilyMismatch]);
            assert_eq!(only_v6.causes[0].severity, Severity::Error);
            // The IPv4 address answers too: only clients that stop at ::1
            // fail, so it is a warning.
            let both = judged(
                &system,
                localhost(7001),
                vec![refused("[::1]:7001"), connected("127.0.0.1:7001")],
            );
            assert_eq!(cause(&both, CauseId::FamilyMismatch).severity, Severity::Warning);
            let twin = judged(&system, localhost(7001), vec![connected("127.0.0.1:7001")]);
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }

        #[test]
        fn bound_elsewhere() {
            let system =
                Scripted { sockets: vec![listener("127.0.0.2:7002", 10)], ..Scripted::default() };
            let diagnosis = judged(&system, ip(7002), vec![refused("127.0.0.1:7002")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::BoundElsewhere]);
            assert!(fixes(&diagnosis.causes[0]).contains(&"connect to 127.0.0.2:7002"));
        }

        /// A listener on 127.0.0.1:7003 in namespace 99, named `name`, held
        /// by pid 10; the caller is in namespace 1.
        fn listening_in_namespace(name: &str) -> Scripted {
            let mut elsewhere = listener("127.0.0.1:7003", 10);
            elsewhere.net_namespace = Some(99);
            Scripted {
                sockets: vec![elsewhere],
                namespace: 1,
                namespaces: vec![Namespace {
                    inode: 99,
                    is_current: false,
                    name: Some(name.to_string()),
                    example_pid: Some(10),
                    container: None,
                }],
                ..Scripted::default()
            }
        }

        #[test]
        fn other_namespace_is_named() {
            let system = listening_in_namespace("blue");
            let diagnosis = judged(&system, ip(7003), vec![refused("127.0.0.1:7003")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::OtherNamespace]);
            assert!(fixes(&diagnosis.causes[0])[0].contains("ip netns exec blue"));
            assert_eq!(diagnosis.listeners.len(), 1);
        }

        #[test]
        fn other_namespace_names_are_quoted_for_the_shell() {
            let system = listening_in_namespace("blue team");
            let diagnosis = judged(&system, ip(7003), vec![refused("127.0.0.1:7003")]);
            assert!(
                fixes(&diagnosis.causes[0])[0].contains("`ip netns exec 'blue team'`"),
                "{:?}",
                fixes(&diagnosis.causes[0])
            );
        }

        #[test]
        fn unix_socket_only() {
            let mut socket = Socket::unix(
                Some(UnixKind::Stream),
                Some("/run/postgresql/.s.PGSQL.5432".to_string()),
                SocketState::Listen,
            );
            socket.inode = 5;
            let system = Scripted { sockets: vec![socket], ..Scripted::default() };
            let diagnosis = judged(&system, ip(5432), vec![refused("127.0.0.1:5432")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::UnixSocketOnly]);
            assert!(diagnosis.causes[0].summary.contains(".s.PGSQL.5432"));
        }

        #[test]
        fn firewall_drop_comes_before_the_listener() {
            let system = with_ruleset(Scripted {
                sockets: vec![listener("127.0.0.1:5555", 10)],
                ..Scripted::default()
            });
            let timed_out = attempt("127.0.0.1:5555", Outcome::Timeout, None, false);
            let diagnosis = judged(&system, ip(5555), vec![timed_out]);
            assert_eq!(ids(&diagnosis), vec![CauseId::FirewallDrop]);
            assert!(fixes(&diagnosis.causes[0])[0].starts_with("nft delete rule"));
        }

        #[test]
        fn a_service_whose_unit_denies_ip_traffic_is_fixed_through_its_unit() {
            use crate::inventory::cgroup_policy::{CgroupHook, CgroupProgram};
            let unit = "/sys/fs/cgroup/system.slice/redis-server.service";
            let firewall = CgroupProgram {
                hook: CgroupHook::Ingress,
                id: 41,
                name: "sd_fw_ingress".into(),
                created_by_uid: 0,
                cgroup: unit.into(),
                link: Some(7),
            };
            let system = Scripted {
                sockets: vec![listener("127.0.0.1:6379", 10)],
                cgroup_programs: [(Some(10), vec![firewall])].into_iter().collect(),
                ..Scripted::default()
            }
            .command(
                "systemctl show -p IPAddressDeny,IPAddressAllow redis-server.service",
                "IPAddressDeny=0.0.0.0/0 ::/0\nIPAddressAllow=\n",
            );
            let timed_out = attempt("127.0.0.1:6379", Outcome::Timeout, None, false);
            let diagnosis = judged(&system, ip(6379), vec![timed_out]);
            assert_eq!(ids(&diagnosis), vec![CauseId::FirewallDrop]);
            let cause = &diagnosis.causes[0];
            assert_eq!(
                fixes(cause),
                vec!["systemctl set-property redis-server.service IPAddressAllow=localhost"]
            );
            assert!(
                cause
                    .evidence
                    .iter()
                    .any(|line| line == "redis-server.service: IPAddressDeny=0.0.0.0/0 ::/0"),
                "{:?}",
                cause.evidence
            );
            // Without the program the same timeout stays unexplained.
            let bare =
                Scripted { sockets: vec![listener("127.0.0.1:6379", 10)], ..Scripted::default() };
            let timed_out = attempt("127.0.0.1:6379", Outcome::Timeout, None, false);
            assert_eq!(ids(&judged(&bare, ip(6379), vec![timed_out])), vec![CauseId::Unexplained]);
        }

        #[test]
        fn bpf_detach_fixes_are_left_as_they_are_under_netns() {
            assert!(acts_machine_wide("bpftool cgroup detach /sys/fs/cgroup/x connect4 id 4"));
            assert!(acts_machine_wide("bpftool link detach id 9   # takes program 4 off lo"));
            assert!(!acts_machine_wide("ip link set dev lo xdp off"));
            assert!(acts_machine_wide("echo THAWED > /sys/fs/cgroup/freezer/x/freezer.state"));
            assert!(acts_machine_wide("sudo sh -c 'echo 0 > /sys/fs/cgroup/x/cgroup.freeze'"));
            assert!(!acts_machine_wide("nft delete rule inet filter input handle 2"));
        }

        #[test]
        fn firewall_reject_and_unexplained_twin() {
            let sockets = vec![listener("127.0.0.1:6005", 10)];
            let system = with_ruleset(Scripted { sockets: sockets.clone(), ..Scripted::default() });
            let diagnosis = judged(&system, ip(6005), vec![refused("127.0.0.1:6005")]);
            assert_eq!(ids(&diagnosis), vec![CauseId::FirewallReject]);
            // The same refusal with no rule to blame: porthole says it
            // cannot explain it rather than guess.
            let system = Scripted { sockets, ..Scripted::default() };
            let twin = judged(&system, ip(6005), vec![refused("127.0.0.1:6005")]);
            assert_eq!(ids(&twin), vec![CauseId::Unexplained]);
        }

        #[test]
        fn connections_waiting_in_a_queue_with_room_are_not_accepted() {
            let waiting = Socket { rx_queue: 2, ..listener("127.0.0.1:7005", 10) };
            let system = Scripted {
                sockets: vec![waiting],
                processes: [process(10, "app", 'S')].into(),
                ..Scripted::default()
            };
            let silent = attempt("127.0.0.1:7005", Outcome::Connected, Some(Reply::Silent), true);
            let diagnosis = judged(&system, ip(7005), vec![silent.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::NotResponding]);
            let cause = &diagnosis.causes[0];
            assert_eq!(cause.severity, Severity::Error);
            assert!(
                cause.summary.contains("2 connection(s) wait in the accept queue"),
                "{cause:?}"
            );
            assert!(cause.summary.contains("app (pid 10) does not accept them"), "{cause:?}");
            assert!(fixes(cause).iter().any(|f| f.contains("cat /proc/10/wchan")));
            // An empty queue: a server that accepted and says nothing.
            let system = Scripted { sockets: vec![listener("127.0.0.1:7005", 10)], ..system };
            let twin = judged(&system, ip(7005), vec![silent]);
            assert_eq!(ids(&twin), vec![CauseId::NotResponding]);
            assert!(twin.causes[0].summary.contains("sent nothing"), "{:?}", twin.causes[0]);
        }

        #[test]
        fn an_owner_in_uninterruptible_sleep_is_named_not_its_accept_loop() {
            let waiting = Socket { rx_queue: 2, ..listener("127.0.0.1:7005", 10) };
            let system = Scripted {
                sockets: vec![waiting],
                processes: [process(10, "app", 'D')].into(),
                ..Scripted::default()
            };
            let silent = attempt("127.0.0.1:7005", Outcome::Connected, Some(Reply::Silent), true);
            let diagnosis = judged(&system, ip(7005), vec![silent]);
            assert_eq!(ids(&diagnosis), vec![CauseId::NotResponding]);
            let cause = &diagnosis.causes[0];
            assert!(cause.summary.contains("is in uninterruptible sleep (state D)"), "{cause:?}");
            assert!(cause.evidence.iter().any(|l| l == "/proc/10/stat state = D"), "{cause:?}");
            assert!(!fixes(cause).iter().any(|f| f.contains("accept loop")), "{cause:?}");
        }

        #[test]
        fn an_owner_out_of_descriptors_is_named_with_the_limit_that_can_be_raised() {
            let waiting = Socket { rx_queue: 2, ..listener("127.0.0.1:7005", 10) };
            let descriptors = |fds: &[u32]| {
                let names = fds.iter().map(|fd| (fd.to_string(), std::time::UNIX_EPOCH));
                [("/proc/10/fd".to_string(), names.collect())].into()
            };
            let starved = |capabilities: &str, fds: &[u32]| {
                Scripted {
                    sockets: vec![waiting.clone()],
                    processes: [process(10, "app", 'S')].into(),
                    directories: descriptors(fds),
                    ..Scripted::default()
                }
                .file("/proc/10/limits", "Max open files            4    4    files\n")
                .file("/proc/10/status", "Name:\tapp\nFDSize:\t64\n")
                .file("/proc/self/status", capabilities)
            };
            let silent = attempt("127.0.0.1:7005", Outcome::Connected, Some(Reply::Silent), true);
            let capable = "CapEff:\t0000000001000000\nCapBnd:\t0000000001000000\n";
            let diagnosis =
                judged(&starved(capable, &[0, 1, 2, 3]), ip(7005), vec![silent.clone()]);
            let cause = &diagnosis.causes[0];
            assert!(cause.summary.contains("(4 of RLIMIT_NOFILE 4 open)"), "{cause:?}");
            assert_eq!(
                fixes(cause)[0],
                "prlimit --pid 10 --nofile=4096:4096   # its next accept() succeeds"
            );
            // A hard limit nobody here may raise (not in the bounding set,
            // as in a container): said in words, no command that fails.
            let bounded = "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n";
            let diagnosis =
                judged(&starved(bounded, &[0, 1, 2, 3]), ip(7005), vec![silent.clone()]);
            let cause = &diagnosis.causes[0];
            assert!(cause.fix.iter().all(|fix| !fix.is_command()), "{cause:?}");
            assert!(fixes(cause)[0].contains("CAP_SYS_RESOURCE"), "{cause:?}");
            // One number below the limit is free: accept() would get it.
            let diagnosis = judged(&starved(capable, &[0, 1, 3, 7]), ip(7005), vec![silent]);
            assert!(fixes(&diagnosis.causes[0]).iter().any(|f| f.contains("/proc/10/wchan")));
        }

        #[test]
        fn a_full_queue_that_resets_says_so() {
            let full = Socket { rx_queue: 129, ..listener("127.0.0.1:7004", 10) };
            let resetting = |abort: &str| {
                Scripted {
                    sockets: vec![full.clone()],
                    processes: [process(10, "nginx", 'S')].into(),
                    ..Scripted::default()
                }
                .sysctl("net.core.somaxconn", "4096")
                .sysctl("net.ipv4.tcp_abort_on_overflow", abort)
            };
            let timed_out = attempt("127.0.0.1:7004", Outcome::Timeout, None, false);
            let said = |abort: &str| {
                let diagnosis = judged(&resetting(abort), ip(7004), vec![timed_out.clone()]);
                diagnosis.causes[0].evidence.iter().any(|l| l.contains("tcp_abort_on_overflow = 1"))
            };
            assert!(said("1\n"));
            assert!(!said("0\n"));
            // The probe timed out: the line does not promise it a reset.
            let diagnosis = judged(&resetting("1"), ip(7004), vec![timed_out.clone()]);
            let line = diagnosis.causes[0].evidence.iter().find(|l| l.contains("abort_on"));
            assert!(line.unwrap().contains("SYN that finds it full is still dropped"), "{line:?}");
        }

        #[test]
        fn accept_queue_full_and_empty_queue_twin() {
            let full = Socket { rx_queue: 129, ..listener("127.0.0.1:7004", 10) };
            let system = Scripted {
                sockets: vec![full],
                processes: [process(10, "nginx", 'S')].into(),
                ..Scripted::default()
            }
            .sysctl("net.core.somaxconn", "4096");
            let timed_out = attempt("127.0.0.1:7004", Outcome::Timeout, None, false);
            let diagnosis = judged(&system, ip(7004), vec![timed_out.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::AcceptQueueFull]);
            // The app asked for 128 of the 4096 allowed: the fix is its own
            // setting, not the sysctl.
            assert!(fixes(&diagnosis.causes[0]).iter().any(|f| f.contains("backlog=N")));
            let system = Scripted { sockets: vec![listener("127.0.0.1:7004", 10)], ..system };
            let twin = judged(&system, ip(7004), vec![timed_out]);
            assert_eq!(ids(&twin), vec![CauseId::Unexplained]);
        }

        #[test]
        fn stopped_owner_by_signal_and_by_debugger() {
            let system = one_server("127.0.0.1:7005", 10, "server", 'T');
            let silent = attempt("127.0.0.1:7005", Outcome::Connected, Some(Reply::Silent), true);
            let diagnosis = judged(&system, ip(7005), vec![silent.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::ProcessStopped]);
            assert_eq!(fixes(&diagnosis.causes[0])[0], "kill -CONT 10");
            let traced = Scripted {
                processes: [process(10, "server", 't'), process(77, "gdb", 'S')].into(),
                ..system
            }
            .file("/proc/10/status", "Name:\tserver\nTracerPid:\t77\n");
            let diagnosis = judged(&traced, ip(7005), vec![silent]);
            assert!(fixes(&diagnosis.causes[0])[0].contains("detach the debugger gdb (pid 77)"));
        }

        /// An error status where another address answers well only hurts
        /// clients that stop at the first address: a warning there, an
        /// error when it is the only answer.
        #[test]
        fn an_http_error_status_is_an_error_alone_and_a_warning_beside_a_good_answer() {
            let system = Scripted {
                sockets: vec![listener("127.0.0.1:7007", 10), listener("[::1]:7007", 10)],
                processes: [process(10, "app", 'S')].into(),
                ..Scripted::default()
            };
            let answer = |status: u16, reason: &str| {
                Some(Reply::Http(crate::model::diagnosis::HttpResponse {
                    status,
                    reason: reason.to_string(),
                    body: "<html><body>\n  <h1>Bad\tGateway</h1></body></html>".to_string(),
                    tls: false,
                    location: None,
                    certificate: None,
                }))
            };
            let failing =
                attempt("127.0.0.1:7007", Outcome::Connected, answer(502, "Bad Gateway"), false);
            let diagnosis = judged(&system, http(7007, false), vec![failing.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::HttpError]);
            let cause = &diagnosis.causes[0];
            assert_eq!(cause.severity, Severity::Error);
            assert!(cause.summary.contains("HTTP 502 Bad Gateway"), "{cause:?}");
            assert!(
                cause.evidence.contains(&"the body begins: \"Bad Gateway\"".to_string()),
                "{cause:?}"
            );
            let good = attempt("[::1]:7007", Outcome::Connected, answer(200, "OK"), true);
            let diagnosis = judged(&system, http(7007, false), vec![failing, good]);
            assert_eq!(ids(&diagnosis), vec![CauseId::HttpError]);
            assert_eq!(diagnosis.causes[0].severity, Severity::Warning);
            assert!(diagnosis.ok);
        }

        #[test]
        fn not_responding_http() {
            let system = one_server("127.0.0.1:7006", 10, "server", 'S');
            let silent = attempt("127.0.0.1:7006", Outcome::Connected, Some(Reply::Silent), false);
            let diagnosis = judged(&system, http(7006, false), vec![silent]);
            assert_eq!(ids(&diagnosis), vec![CauseId::NotResponding]);
            assert!(fixes(&diagnosis.causes[0]).iter().any(|f| f.contains("/proc/10/wchan")));
        }

        #[test]
        fn an_http_request_closed_without_a_status_names_its_host() {
            let system = one_server("127.0.0.1:7006", 10, "nginx", 'S');
            let closed = attempt("127.0.0.1:7006", Outcome::Connected, Some(Reply::Closed), false);
            let diagnosis = judged(&system, http(7006, false), vec![closed.clone()]);
            let cause = &diagnosis.causes[0];
            assert!(cause.evidence.contains(&"the request carried Host: 127.0.0.1:7006".into()));
            assert!(fixes(cause)[0].contains("a name it serves"), "{:?}", cause.fix);
            // A bare port sent no Host: nothing about host names.
            let bare = judged(&system, ip(7006), vec![closed]);
            assert!(!format!("{:?}", bare.causes).contains("Host"), "{:?}", bare.causes);
        }

        #[test]
        fn tls_mismatch_both_ways() {
            let system =
                Scripted { sockets: vec![listener("127.0.0.1:7007", 10)], ..Scripted::default() };
            let tls = attempt("127.0.0.1:7007", Outcome::Connected, Some(Reply::Tls), false);
            let diagnosis = judged(&system, http(7007, false), vec![tls]);
            assert_eq!(ids(&diagnosis), vec![CauseId::TlsMismatch]);
            assert_eq!(fixes(&diagnosis.causes[0]), vec!["use https://127.0.0.1:7007/"]);
            let plain =
                attempt("127.0.0.1:7007", Outcome::Connected, Some(Reply::PlainHttp), false);
            let diagnosis = judged(&system, http(7007, true), vec![plain]);
            assert_eq!(fixes(&diagnosis.causes[0]), vec!["use http://127.0.0.1:7007/"]);
        }

        #[test]
        fn proxy_env_and_no_proxy_twin() {
            let response = crate::model::diagnosis::HttpResponse {
                status: 200,
                reason: "OK".to_string(),
                body: String::new(),
                tls: false,
                location: None,
                certificate: None,
            };
            let answered =
                attempt("127.0.0.1:7008", Outcome::Connected, Some(Reply::Http(response)), true);
            let proxied = Scripted {
                sockets: vec![listener("127.0.0.1:7008", 10)],
                environment: vec![("http_proxy".to_string(), "http://proxy:3128".to_string())],
                ..Scripted::default()
            };
            let diagnosis = judged(&proxied, http(7008, false), vec![answered.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::ProxyEnv]);
            assert_eq!(diagnosis.causes[0].severity, Severity::Error);
            let mut environment = proxied.environment.clone();
            environment.push(("no_proxy".to_string(), "127.0.0.1".to_string()));
            let bypassed = Scripted { environment, ..proxied };
            let twin = judged(&bypassed, http(7008, false), vec![answered]);
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }

        #[test]
        fn localhost_on_another_loopback_address() {
            let system =
                Scripted { sockets: vec![listener("127.0.0.1:7009", 10)], ..Scripted::default() }
                    .file("/etc/hosts", "127.0.1.1 localhost\n");
            let diagnosis = judged(&system, localhost(7009), vec![refused("127.0.1.1:7009")]);
            let found = cause(&diagnosis, CauseId::LocalhostResolution);
            assert!(fixes(found)[0].starts_with("edit /etc/hosts"));
            // The hosts file is the fault, not the listener's address.
            assert!(!ids(&diagnosis).contains(&CauseId::BoundElsewhere));
            let twin = judged(&system, localhost(7009), vec![connected("127.0.0.1:7009")]);
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }

        #[test]
        fn ipv6_disabled_only_when_the_sysctl_says_so() {
            let unreachable = attempt("[::1]:7010", Outcome::Unreachable, None, false);
            let off = Scripted::default().sysctl("net.ipv6.conf.lo.disable_ipv6", "1");
            let diagnosis = judged(&off, ip(7010), vec![unreachable.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::Ipv6Disabled]);
            let on = Scripted::default()
                .sysctl("net.ipv6.conf.lo.disable_ipv6", "0")
                .sysctl("net.ipv6.conf.all.disable_ipv6", "0");
            let twin = judged(&on, ip(7010), vec![unreachable]);
            assert!(!ids(&twin).contains(&CauseId::Ipv6Disabled), "{:#?}", twin.causes);
        }

        #[test]
        fn self_connect_extends_the_reserved_list() {
            let system = Scripted::default()
                .sysctl("net.ipv4.ip_local_port_range", "32768\t60999")
                .sysctl("net.ipv4.ip_local_reserved_ports", "8080");
            let looped = attempt("127.0.0.1:40000", Outcome::SelfConnect, None, false);
            let diagnosis = judged(&system, ip(40000), vec![looped]);
            assert_eq!(ids(&diagnosis)[0], CauseId::SelfConnect);
            assert!(diagnosis.causes[0].summary.contains("32768-60999"));
            assert!(fixes(&diagnosis.causes[0])[1]
                .starts_with("sysctl -w net.ipv4.ip_local_reserved_ports=8080,40000"));
        }

        #[test]
        fn split_listeners_and_one_process_twin() {
            let split = Scripted {
                sockets: vec![listener("127.0.0.1:7011", 10), listener("[::1]:7011", 20)],
                processes: [process(10, "old", 'S'), process(20, "new", 'S')].into(),
                ..Scripted::default()
            };
            let both = vec![connected("[::1]:7011"), connected("127.0.0.1:7011")];
            let diagnosis = judged(&split, localhost(7011), both.clone());
            assert_eq!(ids(&diagnosis), vec![CauseId::SplitListeners]);
            let one = Scripted {
                sockets: vec![listener("127.0.0.1:7011", 10), listener("[::1]:7011", 10)],
                ..split
            };
            let twin = judged(&one, localhost(7011), both);
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }

        #[test]
        fn container_forwarder_that_closes_and_a_plain_server_twin() {
            let forwarded = one_server("127.0.0.1:7013", 10, "docker-proxy", 'S');
            let closed = attempt("127.0.0.1:7013", Outcome::Connected, Some(Reply::Closed), false);
            let diagnosis = judged(&forwarded, http(7013, false), vec![closed.clone()]);
            assert_eq!(ids(&diagnosis), vec![CauseId::OtherNamespace]);
            assert!(diagnosis.causes[0].summary.starts_with("docker-proxy (pid 10)"));
            let plain = Scripted { processes: [process(10, "nginx", 'S')].into(), ..forwarded };
            let twin = judged(&plain, http(7013, false), vec![closed]);
            assert_eq!(ids(&twin), vec![CauseId::NotResponding]);
        }

        #[test]
        fn localhost_in_a_hosts_file_nsswitch_never_reads() {
            let system = Scripted::default()
                .file("/etc/hosts", "127.0.0.1 localhost\n")
                .file("/etc/nsswitch.conf", "hosts: dns\n");
            let view = environment::hosts_view(&system, Client::Current, "localhost");
            let error = DiagnoseError::Resolve {
                name: "localhost".to_string(),
                source: std::io::Error::other("Temporary failure in name resolution"),
            };
            let found = localhost_unresolvable(&view, &error);
            assert!(found.summary.contains("does not consult /etc/hosts"), "{found:?}");
            assert!(found.evidence[1].contains("gives localhost 127.0.0.1"), "{found:?}");
            assert_eq!(
                found.fix[0].text(),
                "put 'files' first on the hosts line of /etc/nsswitch.conf: hosts: files dns"
            );
            assert!(!fixes(&found).iter().any(|line| line.contains("add to /etc/hosts")));
        }

        #[test]
        fn a_name_that_does_not_resolve_names_sources_and_near_names() {
            let system = Scripted::default()
                .file("/etc/hosts", "127.0.0.1 localhost\n10.0.0.5 dbhost db-main\n")
                .file("/etc/nsswitch.conf", "hosts: files dns\n")
                .file("/etc/resolv.conf", "search x\nnameserver 10.0.0.53\n");
            let view = environment::hosts_view(&system, Client::Current, "dbhots");
            let error = DiagnoseError::Resolve {
                name: "dbhots".to_string(),
                source: std::io::Error::other("Name or service not known"),
            };
            let found = name_unresolvable("dbhots", 5432, &view, &error, &[]);
            assert_eq!(found.id, CauseId::NameResolution);
            assert_eq!(
                found.evidence,
                vec![
                    "getaddrinfo(\"dbhots\") failed: Name or service not known",
                    "nsswitch.conf hosts: files dns: asked files (/etc/hosts), dns (nameserver 10.0.0.53 from /etc/resolv.conf)",
                    "/etc/hosts has no line for 'dbhots'",
                    "/etc/hosts has 'dbhost' (10.0.0.5), close to 'dbhots'",
                ]
            );
            assert_eq!(found.fix[0].text(), "connect to 'dbhost' (the name /etc/hosts lists)");
            // A service name with the port listening here: the address.
            let view = environment::hosts_view(&system, Client::Current, "db");
            let local = ["0.0.0.0:5432".parse().unwrap()];
            let found = name_unresolvable("db", 5432, &view, &error, &local);
            let steps: Vec<&str> = found.fix.iter().map(Fix::text).collect();
            assert_eq!(
                steps,
                [
                    "connect to 127.0.0.1:5432 (the listener on this machine) instead of 'db'",
                    "or add to /etc/hosts: 127.0.0.1 db"
                ]
            );
            assert_eq!(edit_distance("dbhots", "dbhost"), 2);
            assert_eq!(edit_distance("db", "db"), 0);
        }

        #[test]
        fn localhost_that_does_not_resolve() {
            let system = Scripted::default()
                .file("/etc/hosts", "10.0.0.5 box\n")
                .file("/etc/nsswitch.conf", "hosts: files dns\n");
            let view = environment::hosts_view(&system, Client::Current, "localhost");
            let error = DiagnoseError::Resolve {
                name: "localhost".to_string(),
                source: std::io::Error::other("Name or service not known"),
            };
            let found = localhost_unresolvable(&view, &error);
            assert_eq!(found.id, CauseId::LocalhostResolution);
            assert_eq!(
                found.evidence,
                vec![
                    "getaddrinfo(\"localhost\") failed: Name or service not known",
                    "/etc/hosts has no 'localhost' line",
                    "nsswitch.conf hosts: files dns (no myhostname/resolve source that synthesizes localhost)",
                ]
            );
        }

        #[test]
        fn sandbox_denied_names_selinux() {
            let system = Scripted::default().file("/sys/fs/selinux/enforce", "1\n");
            let denied = attempt("127.0.0.1:7012", Outcome::Denied, None, false);
            let diagnosis = judged(&system, ip(7012), vec![denied]);
            assert_eq!(ids(&diagnosis), vec![CauseId::SandboxDenied]);
            assert!(fixes(&diagnosis.causes[0])[0].starts_with("ausearch -m avc"));
        }
    }

    fn unix(path: &str) -> Socket {
        Socket {
            inode: 1,
            ..Socket::unix(Some(UnixKind::Stream), Some(path.to_string()), SocketState::Listen)
        }
    }

    #[test]
    fn unix_paths_name_services() {
        assert!(unix_names_service(&unix("/run/postgresql/.s.PGSQL.5432"), 5432));
        assert!(!unix_names_service(&unix("/run/postgresql/.s.PGSQL.5432"), 5433));
        assert!(unix_names_service(&unix("/run/mysqld/mysqld.sock"), 3306));
        assert!(unix_names_service(&unix("/var/run/docker.sock"), 2375));
        assert!(!unix_names_service(&unix("/tmp/x.sock"), 8080));
    }

    #[test]
    fn merge_keeps_one_cause_per_id_errors_first() {
        let cause = |id, severity, line: &str| Cause {
            id,
            severity,
            summary: String::new(),
            evidence: vec![line.to_string()],
            fix: vec![],
        };
        let merged = merge(vec![
            cause(CauseId::SplitListeners, Severity::Warning, "a"),
            cause(CauseId::FamilyMismatch, Severity::Error, "b"),
            cause(CauseId::FamilyMismatch, Severity::Error, "c"),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].id, CauseId::FamilyMismatch);
        assert_eq!(merged[0].evidence, vec!["b", "c"]);
    }
}
