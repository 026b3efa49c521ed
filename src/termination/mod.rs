//! Stopping the processes that listen on a port, and only those.
//!
//! `lsof -ti :PORT | xargs kill` also kills the *clients* of the port,
//! because lsof matches the remote port too. This engine asks the inventory
//! for listeners only (TCP LISTEN, bound UDP), so a browser or a database
//! client connected to the port is never touched.
//!
//! A run has three steps, each a function the command calls in turn:
//! 1. [`plan`]: find the listeners and their owners, and decide for each
//!    owner whether it may be stopped ([`Refusal`]);
//! 2. [`execute`]: SIGTERM, wait for the grace period, SIGKILL whatever is
//!    still alive (or send one chosen signal);
//! 3. [`verify`]: look at the port again for a while, to catch a process
//!    that survived or a supervisor that started a new one.
//!
//! Every look at the machine and every signal goes through one
//! [`System`] handle: [`Machine`](crate::inventory::system::Machine) in the
//! binary (whose signals come from `crate::sys::signal`, the only code that
//! kills), a scripted fake in the unit tests below.

pub use crate::model::termination::{
    supervisor_stop_command, AsRoot, ContainerHint, Elsewhere, Fate, Holder, HolderKind, OtherKind,
    OtherSocket, Outcome, Plan, Refusal, Supervisor, Target, Unanswered, Verification,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::inventory::process::SignalState;
use crate::inventory::system::System;
use crate::inventory::{process, InventoryError, NamespaceHandle, NamespaceSelection, Query};
use crate::model::PortSet;
use crate::model::{Process, Snapshot, Socket};
use crate::sys::signal::{Signal, SignalError};

/// Process names that forward a published container port on the host.
/// Killing them does not stop the container (and Docker may restart them).
pub const CONTAINER_FORWARDERS: &[&str] = &["docker-proxy", "rootlessport", "rootlessport-child"];

/// What to stop.
#[derive(Debug, Clone)]
pub struct Request {
    pub ports: Vec<u16>,
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Allow stopping processes of other users.
    pub force: bool,
    /// Allow stopping porthole's parent and ancestors (the shell it runs
    /// in): refused otherwise, since it ends the caller's own session.
    pub allow_ancestors: bool,
    /// Whose listeners: the caller's namespace, every one, or (with
    /// `named_namespace`) one named by the user.
    pub namespaces: NamespaceSelection,
    pub named_namespace: Option<NamespaceHandle>,
}

impl Request {
    /// The protocol and family flags that narrow this request, as typed
    /// (` -t -4`), for a printed command that must select the same
    /// listeners.
    pub fn flags(&self) -> String {
        let mut flags = String::new();
        for (flag, given) in [
            (" -t", self.tcp && !self.udp),
            (" -u", self.udp && !self.tcp),
            (" -4", self.ipv4 && !self.ipv6),
            (" -6", self.ipv6 && !self.ipv4),
        ] {
            if given {
                flags.push_str(flag);
            }
        }
        flags
    }
}

/// Finds the listeners on the requested ports and decides, per owner,
/// whether it may be stopped. Forwarders of published container ports
/// (which do not know their container) get the container Docker names for
/// the port, best effort.
pub fn plan(system: &dyn System, request: &Request) -> Result<Plan, InventoryError> {
    let snapshot = system.snapshot(&listeners_query(request))?;
    let mut plan = plan_from(system, request, snapshot, &Identity::current());
    for target in &mut plan.targets {
        if let Some(hint) = target.container_hint.as_mut() {
            if hint.forwarder && hint.container.is_none() {
                hint.container =
                    target.ports.first().and_then(|&p| docker_container_publishing(system, p));
            }
        }
    }
    Ok(plan)
}

/// The inventory query: listeners only, on the requested ports, with owners.
pub fn listeners_query(request: &Request) -> Query {
    let list: Vec<String> = request.ports.iter().map(u16::to_string).collect();
    Query {
        tcp: request.tcp,
        udp: request.udp,
        unix: false,
        ipv4: request.ipv4,
        // `-4` also selects a dual-stack `::` listener, which takes IPv4
        // clients: it comes from the IPv6 dump, and [`selects`] keeps it.
        ipv6: request.ipv6 || request.ipv4,
        listeners_only: true,
        // The ports were validated by the caller, so the list always parses.
        ports: PortSet::parse(&list.join(",")).ok(),
        match_remote_port: false,
        owners: true,
        namespaces: request.namespaces,
        named_namespace: request.named_namespace.clone(),
        ..Query::default()
    }
}

/// Sockets on the requested ports that the request does not stop but that
/// keep a port from being free: listeners of a protocol or family that
/// `-t`/`-u`/`-4`/`-6` left out, TCP sockets bound without `listen()`,
/// connections whose local end is the port, and the closing connections a
/// stopped server leaves behind (which block a bind without
/// `SO_REUSEADDR`, as `porthole free` counts them).
/// Without them "nothing listens" and "port is free" would be said of a
/// port a new server still cannot bind.
pub fn other_sockets(
    system: &dyn System,
    request: &Request,
) -> Result<Vec<OtherSocket>, InventoryError> {
    let query = Query {
        tcp: true,
        udp: true,
        ipv4: true,
        ipv6: true,
        // Bound TCP sockets are in state CLOSE, outside a listeners dump.
        listeners_only: false,
        ..listeners_query(request)
    };
    let snapshot = system.snapshot(&query)?;
    // Ports some listener still uses: their connections are its accepted
    // ones, which go with it.
    let listened: BTreeSet<u16> =
        snapshot.sockets.iter().filter(|s| s.is_listener()).map(Socket::local_port).collect();
    let others = snapshot
        .sockets
        .iter()
        .filter(|socket| request.ports.contains(&socket.local_port()))
        .filter_map(|socket| {
            let kind = if socket.is_listener() {
                if selects(request, socket) {
                    return None;
                }
                OtherKind::NotSelected
            } else if socket.protocol == crate::model::Protocol::Tcp
                && socket.state == crate::model::SocketState::Close
                // TIME-WAIT and request sockets have no inode; a bound
                // socket is a file some process holds.
                && socket.inode != 0
            {
                let holders = socket
                    .owners
                    .iter()
                    .filter_map(|pid| snapshot.processes.get(pid))
                    .filter(|process| process.is_free_holder())
                    .count();
                if holders > 0 && holders == socket.owners.len() {
                    OtherKind::Hold
                } else {
                    OtherKind::BoundOnly
                }
            } else if socket.is_closing() && !listened.contains(&socket.local_port()) {
                OtherKind::Closing
            } else if socket.remote_port() != 0
                && socket.inode != 0
                && socket.state != crate::model::SocketState::TimeWait
                && !listened.contains(&socket.local_port())
            {
                // A client's end (a connected UDP socket, an outbound TCP
                // connection from this port) or a connection its server
                // kept after closing the listener.
                OtherKind::Connected
            } else {
                return None;
            };
            let processes = socket
                .owners
                .iter()
                .filter_map(|pid| snapshot.processes.get(pid).cloned())
                .collect();
            Some(OtherSocket { socket: socket.clone(), processes, kind })
        })
        .collect();
    Ok(others)
}

/// Listeners on the requested ports in other network namespaces, when the
/// request looked in one namespace and found nothing there: `porthole
/// PORT --netns all` shows a container's listener that `kill PORT` alone
/// cannot reach, and the report names the `--netns` that does.
pub fn listeners_elsewhere(
    system: &dyn System,
    request: &Request,
) -> Result<Vec<Elsewhere>, InventoryError> {
    if request.namespaces == NamespaceSelection::All {
        return Ok(Vec::new());
    }
    let query = Query {
        namespaces: NamespaceSelection::All,
        named_namespace: None,
        ..listeners_query(request)
    };
    let snapshot = system.snapshot(&query)?;
    let looked_in = match &request.named_namespace {
        Some(handle) => Some(handle.inode),
        None => snapshot.namespaces.iter().find(|n| n.is_current).map(|n| n.inode),
    };
    let elsewhere = snapshot
        .sockets
        .iter()
        .filter(|socket| socket.is_listener() && request.ports.contains(&socket.local_port()))
        .filter(|socket| selects(request, socket))
        .filter(|socket| socket.net_namespace.is_some() && socket.net_namespace != looked_in)
        .map(|socket| {
            let namespace =
                snapshot.namespaces.iter().find(|n| Some(n.inode) == socket.net_namespace).cloned();
            let netns_argument = namespace.as_ref().and_then(|namespace| {
                crate::inventory::namespaces::argument_for(
                    namespace,
                    socket.owners.first().copied(),
                )
            });
            let processes = socket
                .owners
                .iter()
                .filter_map(|pid| snapshot.processes.get(pid).cloned())
                .collect();
            Elsewhere { socket: socket.clone(), namespace, processes, netns_argument }
        })
        .collect();
    Ok(elsewhere)
}

/// Whether the protocol and family flags of `request` cover `socket`: a
/// dual-stack `::` listener counts as IPv4 too, since IPv4 clients reach
/// it.
fn selects(request: &Request, socket: &Socket) -> bool {
    let protocol = match socket.protocol {
        crate::model::Protocol::Tcp => request.tcp,
        crate::model::Protocol::Udp => request.udp,
        // Neither has a port a kill request could name.
        crate::model::Protocol::Unix | crate::model::Protocol::Raw => false,
    };
    // By the clients a listener serves: an IPv6 socket bound to a
    // v4-mapped address (`::ffff:127.0.0.1`) takes IPv4 clients only.
    let family = match socket.local {
        Some(address) if address.ip().to_canonical().is_ipv4() => request.ipv4,
        Some(_) => request.ipv6 || (request.ipv4 && socket.is_dual_stack()),
        None => true,
    };
    protocol && family
}

/// Who is asking: the pids and uid a refusal is decided against.
#[derive(Debug, Clone)]
pub struct Identity {
    pub pid: u32,
    pub parent_pid: u32,
    /// The parent's ancestors up to (not including) PID 1: the shell
    /// behind `sudo`, a terminal multiplexer, the login session.
    pub ancestors: Vec<u32>,
    pub uid: u32,
    /// Effective uid 0: every process of this PID namespace is readable.
    pub privileged: bool,
}

impl Identity {
    pub fn current() -> Self {
        let parent_pid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
        let mut ancestors = Vec::new();
        let mut pid = parent_pid;
        while let Some(stat) = process::read_stat(pid).filter(|_| pid > 1) {
            pid = stat.parent_pid;
            if pid <= 1 || ancestors.contains(&pid) {
                break;
            }
            ancestors.push(pid);
        }
        Identity {
            pid: std::process::id(),
            parent_pid,
            ancestors,
            uid: rustix::process::getuid().as_raw(),
            privileged: rustix::process::geteuid().is_root(),
        }
    }
}

/// Builds the plan from a snapshot (split out so tests can feed one).
pub fn plan_from(
    system: &dyn System,
    request: &Request,
    snapshot: Snapshot,
    identity: &Identity,
) -> Plan {
    let Snapshot { sockets, processes, visibility, namespaces, user_names, .. } = snapshot;
    let listeners: Vec<Socket> = sockets
        .into_iter()
        .filter(|s| {
            s.is_listener() && request.ports.contains(&s.local_port()) && selects(request, s)
        })
        .collect();
    let mut ports_of: BTreeMap<u32, BTreeSet<u16>> = BTreeMap::new();
    let mut hidden = Vec::new();
    for socket in &listeners {
        if socket.owners.is_empty() {
            hidden.push(socket.clone());
        }
        for &pid in &socket.owners {
            ports_of.entry(pid).or_default().insert(socket.local_port());
        }
    }
    let as_root = as_root(system, identity.uid, identity.privileged);
    // Without root, another user's process is out of reach with any flag:
    // the refusal names the run that reaches it.
    let kill_command = porthole_kill_command(system, request);
    let root_command =
        (!identity.privileged).then(|| as_root.wrap(&format!("{kill_command} --force")));
    let mut targets: Vec<Target> = ports_of
        .into_iter()
        .map(|(pid, ports)| {
            let process = processes.get(&pid).cloned();
            let stat = system.stat(pid);
            let namespace_init = system.namespace_init(pid);
            let refusal = refusal_for(pid, process.as_ref(), stat.as_ref(), request, identity)
                .map(|refusal| match refusal {
                    Refusal::OtherUser { uid, user, .. } => {
                        Refusal::OtherUser { uid, user, as_root: root_command.clone() }
                    }
                    other => other,
                })
                .or_else(|| {
                    // Ending a namespace's init ends everything in it.
                    namespace_init
                        .as_ref()
                        .filter(|_| !request.force)
                        .map(|init| Refusal::NamespaceInit { processes: init.processes })
                });
            let container_hint = process.as_ref().and_then(container_hint);
            Target {
                pid,
                process,
                start_ticks: stat.as_ref().map(|s| s.start_ticks),
                ports: ports.into_iter().collect(),
                refusal,
                container_hint,
                namespace_init,
                frozen: crate::inventory::freezer::frozen(system, pid),
                stopped_with: None,
            }
        })
        .collect();
    // A prefork master that runs as root and its workers as another user
    // (nginx `user nobody`): the workers share the master's listening
    // socket and end with it. Refusing them would tell root to pass
    // --force for processes the master's own shutdown stops.
    if identity.privileged {
        let stopped: BTreeSet<u32> =
            targets.iter().filter(|t| t.will_stop()).map(|t| t.pid).collect();
        for target in &mut targets {
            let Some(Refusal::OtherUser { .. }) = target.refusal else { continue };
            let Some(parent) = target.process.as_ref().map(|p| p.parent_pid) else { continue };
            let shares_socket = listeners
                .iter()
                .any(|s| s.owners.contains(&target.pid) && s.owners.contains(&parent));
            if stopped.contains(&parent) && shares_socket {
                target.refusal = None;
                target.stopped_with = Some(parent);
            }
        }
    }
    // Not root, a worker of ours on a socket another user made: the
    // socket came from the parent that user runs (a prefork master), which
    // porthole can neither see holding it nor signal. Stopping the worker
    // only makes the master start another.
    if !identity.privileged && !request.force {
        for target in targets.iter_mut().filter(|t| t.refusal.is_none()) {
            let Some(process) = target.process.as_ref() else { continue };
            let pid = target.pid;
            let socket_uids: BTreeSet<u32> =
                listeners.iter().filter(|s| s.owners.contains(&pid)).map(|s| s.uid).collect();
            let Some(master) = system.process(process.parent_pid).filter(|p| p.pid > 1) else {
                continue;
            };
            let handed_down = master.uid != identity.uid
                && master.uid != process.uid
                && socket_uids.len() == 1
                && socket_uids.contains(&master.uid);
            if !handed_down {
                continue;
            }
            let stop =
                supervisor_stop_command(master.pid, system.namespace_init(master.pid).as_ref());
            target.refusal = Some(Refusal::WorkerOfMaster {
                master: master.pid,
                master_name: master.name.clone(),
                master_user: master.user.clone().unwrap_or_else(|| master.uid.to_string()),
                stop_command: as_root.wrap(&stop),
            });
        }
    }
    let owner_gaps = if hidden.is_empty() { Vec::new() } else { visibility.owner_gaps };
    Plan {
        ports: request.ports.clone(),
        listeners,
        targets,
        hidden,
        owner_gaps,
        processes,
        privileged: identity.privileged,
        caller_uid: identity.uid,
        namespaces,
        user_names,
        as_root,
        kill_command,
        program: system.porthole_program(crate::inventory::system::Runner::User),
    }
}

/// The run of `porthole kill` that stops another user's listeners: this
/// one with `--force`, as root.
pub fn porthole_kill_command_with(plan: &Plan) -> String {
    plan.as_root.wrap(&format!("{} --force", plan.kill_command))
}

pub use crate::inventory::system::as_root;

/// `porthole kill PORT… [FLAGS] [--netns ARG]`, selecting what this run
/// selects, as root runs it: by name when root's `PATH` finds this
/// porthole, else by its path (the one decision every printed porthole
/// command takes, [`crate::sys::executable::program_word`]).
pub fn porthole_kill_command(system: &dyn System, request: &Request) -> String {
    let program = system.porthole_program(crate::inventory::system::Runner::Root);
    let ports: Vec<String> = request.ports.iter().map(u16::to_string).collect();
    let netns = match (&request.named_namespace, request.namespaces) {
        (Some(handle), _) => {
            format!(" {}", crate::shell::option_with_value("--netns", &handle.path))
        }
        (None, NamespaceSelection::All) => " --netns all".to_string(),
        (None, _) => String::new(),
    };
    format!("{program} kill {}{}{netns}", ports.join(" "), request.flags())
}

fn refusal_for(
    pid: u32,
    process: Option<&Process>,
    stat: Option<&process::Stat>,
    request: &Request,
    identity: &Identity,
) -> Option<Refusal> {
    let force = request.force;
    if pid == 1 {
        // Named by its own process: `systemctl` is advice only where PID 1
        // is systemd.
        let name = process.map(|p| p.name.as_str()).or(stat.map(|s| s.name.as_str()));
        return Some(Refusal::Init { systemd: name == Some("systemd") });
    }
    if pid == identity.pid {
        return Some(Refusal::Itself);
    }
    if pid == identity.parent_pid && !request.allow_ancestors {
        return Some(Refusal::Parent);
    }
    if identity.ancestors.contains(&pid) && !request.allow_ancestors {
        return Some(Refusal::Ancestor);
    }
    if stat.is_some_and(process::Stat::is_kernel_thread) {
        return Some(Refusal::KernelThread);
    }
    match process {
        Some(process) if process.uid != identity.uid && !force => {
            Some(Refusal::OtherUser { uid: process.uid, user: process.user.clone(), as_root: None })
        }
        _ => None,
    }
}

fn container_hint(process: &Process) -> Option<ContainerHint> {
    let forwarder = CONTAINER_FORWARDERS.contains(&process.name.as_str());
    if forwarder {
        return Some(ContainerHint { forwarder: true, container: None });
    }
    process
        .container
        .as_ref()
        .map(|id| ContainerHint { forwarder: false, container: Some(id.clone()) })
}

/// The id of the Docker container that publishes `port`, asked of the
/// Docker CLI (best effort: `None` without Docker, without access to its
/// socket, or when it does not answer within two seconds).
pub fn docker_container_publishing(system: &dyn System, port: u16) -> Option<String> {
    let filter = format!("publish={port}");
    let output = system.run("docker", &["ps", "--quiet", "--filter", &filter], DOCKER_TIMEOUT)?;
    if !output.success {
        return None;
    }
    output.text().lines().next().map(|id| id.trim().to_string()).filter(|id| !id.is_empty())
}

/// How long `docker ps` may take: a daemon that does not answer must not
/// hold up `kill`.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the target is gone: exited, a zombie whose threads have all
/// exited too (its sockets are closed), or its pid now belongs to a
/// different process.
///
/// A zombie main thread is not enough: a multi-threaded server (Node, a
/// JVM, Python with threads) whose main thread finished first still holds
/// its sockets through the other threads until the last one exits.
pub fn is_gone(system: &dyn System, pid: u32, start_ticks: Option<u64>) -> bool {
    if !system.process_exists(pid) {
        return true;
    }
    match system.stat(pid) {
        None => true,
        Some(fields) if start_ticks.is_some_and(|t| t != fields.start_ticks) => true,
        Some(fields) if matches!(fields.state, 'Z' | 'X') => system.live_threads(pid) == 0,
        Some(_) => false,
    }
}

/// How to stop the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// SIGTERM, wait `grace`, then SIGKILL for survivors.
    Graceful { grace: Duration },
    /// One signal only; wait up to `grace` for the process to exit.
    Single { signal: Signal, grace: Duration },
}

/// How often exits are polled: fast enough that `kill` returns promptly,
/// slow enough to cost nothing.
const POLL: Duration = Duration::from_millis(20);

/// How long to wait for SIGKILL to take effect (a process in
/// uninterruptible sleep dies only when its I/O finishes).
const KILL_WAIT: Duration = Duration::from_secs(3);

/// Signals every stoppable target and waits for it to go.
pub fn execute(system: &dyn System, plan: &Plan, method: Method) -> Vec<Outcome> {
    let first = match method {
        Method::Graceful { .. } => Signal::TERM,
        Method::Single { signal, .. } => signal,
    };
    let grace = match method {
        Method::Graceful { grace } | Method::Single { grace, .. } => grace,
    };
    let mut outcomes: Vec<(Outcome, Option<u64>)> = Vec::new();
    for target in plan.stoppable() {
        let mut outcome = Outcome {
            pid: target.pid,
            signals: Vec::new(),
            fate: Fate::Survived,
            via_parent: target.stopped_with,
            unanswered: None,
        };
        if target.stopped_with.is_some() {
            // Its parent's signal stops it: a master stops its workers
            // itself (a worker signalled first may be replaced by a new
            // one). Waited for below (it may be gone already, by its
            // parent's doing), and SIGKILLed if it outlives the grace.
        } else if is_gone(system, target.pid, target.start_ticks) {
            outcome.fate = Fate::AlreadyGone;
        } else {
            match system.signal(target.pid, target.start_ticks, first) {
                Ok(()) => {
                    outcome.signals.push(first);
                    // A stopped process (SIGSTOP, Ctrl-Z) keeps the signal
                    // pending until it runs again: without SIGCONT it would
                    // sit out the grace and be killed as if it had ignored
                    // SIGTERM. systemd does the same for its units.
                    if needs_continue(system, target.pid, first)
                        && system.signal(target.pid, target.start_ticks, Signal::CONT).is_ok()
                    {
                        outcome.signals.push(Signal::CONT);
                    }
                }
                Err(SignalError::NoSuchProcess) => outcome.fate = Fate::AlreadyGone,
                Err(SignalError::NotPermitted) => outcome.fate = Fate::NotPermitted,
                Err(SignalError::Other { errno }) => outcome.fate = Fate::Failed { errno },
            }
        }
        outcomes.push((outcome, target.start_ticks));
    }
    let started = Instant::now();
    wait_for_exits(system, &mut outcomes, started, grace, false);
    if matches!(method, Method::Graceful { .. }) {
        let mut escalated = false;
        for (outcome, start_ticks) in outcomes.iter_mut().filter(|(o, _)| {
            o.fate == Fate::Survived && (!o.signals.is_empty() || o.via_parent.is_some())
        }) {
            // Read before SIGKILL changes it: what kept SIGTERM from
            // ending the process.
            if outcome.signals.contains(&Signal::TERM) {
                outcome.unanswered = unanswered(system, outcome.pid);
            }
            // The target may have exited since the last poll and its pid
            // been reused: the start time decides, not the pid.
            match system.signal(outcome.pid, *start_ticks, Signal::KILL) {
                Ok(()) => {
                    outcome.signals.push(Signal::KILL);
                    escalated = true;
                }
                Err(SignalError::NoSuchProcess) => {
                    outcome.fate = Fate::Exited { after: started.elapsed() };
                }
                Err(SignalError::NotPermitted) => outcome.fate = Fate::NotPermitted,
                Err(SignalError::Other { errno }) => outcome.fate = Fate::Failed { errno },
            }
        }
        if escalated {
            wait_for_exits(system, &mut outcomes, started, grace + KILL_WAIT, true);
        }
    }
    outcomes.into_iter().map(|(outcome, _)| outcome).collect()
}

/// Why `pid` is still running after SIGTERM's grace, from what the kernel
/// shows of it (see [`Unanswered`]); `None` when that explains nothing.
fn unanswered(system: &dyn System, pid: u32) -> Option<Unanswered> {
    let state = system.stat(pid)?.state;
    let signals = system.signal_state(pid)?;
    judge_unanswered(state, &signals)
}

/// [`unanswered`] on what was read. A tracing stop comes first (the signal
/// is pending there too); a pending SIGTERM is blocked, or waits for the
/// end of an uninterruptible sleep.
fn judge_unanswered(state: char, signals: &SignalState) -> Option<Unanswered> {
    let term = libc::SIGTERM;
    let pending = SignalState::has(signals.pending, term);
    if state == 't' && signals.tracer != 0 {
        Some(Unanswered::Traced { tracer: signals.tracer })
    } else if pending && SignalState::has(signals.blocked, term) {
        Some(Unanswered::Blocked)
    } else if pending && state == 'D' {
        Some(Unanswered::Uninterruptible)
    } else if SignalState::has(signals.ignored, term) {
        Some(Unanswered::Ignored)
    } else if SignalState::has(signals.caught, term) {
        Some(Unanswered::Handled)
    } else {
        None
    }
}

/// Whether `signal`, just sent to `pid`, waits for a SIGCONT: the process
/// is stopped by job control (state `T`) and the signal neither acts on a
/// stopped process by itself (SIGKILL) nor is a stop or continue signal
/// (which the caller asked for as such).
///
/// # Platform specific behavior
/// A process stopped by a tracer (state `t`) is not resumed by SIGCONT;
/// only SIGKILL ends it, so it is left to the escalation.
/// See: <https://man7.org/linux/man-pages/man7/signal.7.html>
fn needs_continue(system: &dyn System, pid: u32, signal: Signal) -> bool {
    let acts_while_stopped = [Signal::KILL, Signal::CONT, Signal::STOP, Signal::TSTP]
        .into_iter()
        .chain([Signal { number: libc::SIGTTIN }, Signal { number: libc::SIGTTOU }])
        .any(|s| s == signal);
    !acts_while_stopped && system.stat(pid).is_some_and(|stat| stat.state == 'T')
}

/// Polls survivors until they are gone or `limit` (measured from
/// `started`) passes.
fn wait_for_exits(
    system: &dyn System,
    outcomes: &mut [(Outcome, Option<u64>)],
    started: Instant,
    limit: Duration,
    after_kill: bool,
) {
    loop {
        let mut waiting = false;
        for (outcome, start_ticks) in outcomes.iter_mut() {
            if outcome.fate != Fate::Survived
                || (outcome.signals.is_empty() && outcome.via_parent.is_none())
            {
                continue;
            }
            if is_gone(system, outcome.pid, *start_ticks) {
                let after = started.elapsed();
                outcome.fate =
                    if after_kill { Fate::Killed { after } } else { Fate::Exited { after } };
            } else {
                waiting = true;
            }
        }
        if !waiting || started.elapsed() >= limit {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Marks targets that were still running when [`execute`] stopped waiting
/// (`--grace` passed, or a single signal) but are gone after [`verify`]'s
/// watch, so the report does not say "still running" above "port free".
/// `signalled` is when the signals went out.
pub fn recheck_survivors(
    system: &dyn System,
    outcomes: &mut [Outcome],
    plan: &Plan,
    signalled: Instant,
) {
    for outcome in outcomes.iter_mut() {
        if outcome.fate != Fate::Survived
            || (outcome.signals.is_empty() && outcome.via_parent.is_none())
        {
            continue;
        }
        let start_ticks =
            plan.targets.iter().find(|t| t.pid == outcome.pid).and_then(|t| t.start_ticks);
        if is_gone(system, outcome.pid, start_ticks) {
            outcome.fate = Fate::Exited { after: signalled.elapsed() };
        }
    }
}

/// Looks at the ports for `settle`, to catch a supervisor starting a
/// replacement (systemd `Restart=` after `RestartSec`, 100 ms by default;
/// runit, daemontools and s6 after 1 s; a shell loop after its `sleep`).
///
/// A new process on the port ends the watch at once. A socket that is
/// still held by a stopped target, or by no visible process while it is
/// the very socket a target held, is usually a process still exiting (its
/// other threads close their fds after the main thread is gone): the
/// watch goes on through `settle` before calling it a survivor.
pub fn verify(
    system: &dyn System,
    request: &Request,
    plan: &Plan,
    settle: Duration,
) -> Result<Verification, InventoryError> {
    let started = Instant::now();
    let query = listeners_query(request);
    loop {
        let snapshot = system.snapshot(&query)?;
        let verification = classify(system, request, plan, &snapshot);
        let settled = started.elapsed() >= settle;
        let restarted = verification.holders.iter().any(|h| h.kind == HolderKind::NewProcess);
        let final_answer = verification.holders.iter().any(|h| !may_still_go(plan, h));
        if settled || restarted || final_answer {
            let mut verification = verification;
            verification.watched = started.elapsed();
            if !restarted {
                verification.lingering_parents = lingering_parents(system, plan);
                verification.init_parent = init_parent(system, plan);
            }
            return Ok(verification);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parents of stopped targets still running after the watch, except PID 1
/// and porthole's own ancestors: the shell porthole runs in often started
/// the server too (`server & porthole kill PORT`) and restarts nothing.
fn lingering_parents(system: &dyn System, plan: &Plan) -> Vec<Supervisor> {
    let mut ancestors = BTreeSet::new();
    let mut pid = std::process::id();
    while pid > 1 && ancestors.insert(pid) {
        match system.stat(pid) {
            Some(stat) => pid = stat.parent_pid,
            None => break,
        }
    }
    let parents: BTreeSet<u32> = plan
        .stoppable()
        .filter_map(|t| t.process.as_ref())
        // A unit's restarts are systemd's business: the plan already says
        // `systemctl stop UNIT`, and "stop systemd --user" is no advice.
        .filter(|p| {
            p.unit
                .as_deref()
                .is_none_or(|unit| !unit.ends_with(".service") || unit.starts_with("user@"))
        })
        .map(|p| p.parent_pid)
        .filter(|&parent| parent > 1 && !ancestors.contains(&parent))
        .filter(|&parent| !plan.targets.iter().any(|t| t.pid == parent))
        .collect();
    parents
        .into_iter()
        .filter(|&parent| !is_gone(system, parent, None))
        .filter_map(|parent| system.process(parent))
        .filter(|parent| parent.name != "systemd")
        .map(|process| Supervisor { namespace_init: system.namespace_init(process.pid), process })
        .collect()
}

/// porthole runs in a PID namespace below the initial one (a container,
/// `unshare -p`), where PID 1 is whatever the container runs: a restart
/// loop as often as not. `false` when the link cannot be read.
fn in_container_pid_namespace(system: &dyn System) -> bool {
    system
        .read_link("/proc/self/ns/pid")
        .is_some_and(|link| link != crate::inventory::visibility::INITIAL_PID_NAMESPACE)
}

/// PID 1 when it started a stopped target and is no host's init: the
/// restart loop of a container, named after a quiet watch since porthole
/// never signals it and [`lingering_parents`] leaves it out.
fn init_parent(system: &dyn System, plan: &Plan) -> Option<Process> {
    if !in_container_pid_namespace(system) {
        return None;
    }
    let started_one = plan
        .stoppable()
        .filter_map(|t| t.process.as_ref())
        .any(|p| p.parent_pid == 1 && p.unit.is_none());
    let init = system.process(1).filter(|_| started_one)?;
    (!["systemd", "init"].contains(&init.name.as_str())).then_some(init)
}

/// Whether a holder found after the signals may still let go of the port
/// by itself: a signalled target that is exiting, or an ownerless socket
/// that a target held before (its process is exiting, out of sight).
fn may_still_go(plan: &Plan, holder: &Holder) -> bool {
    match holder.kind {
        // A child a target forked as it exited may be on its way out too.
        HolderKind::Survivor | HolderKind::Inherited => true,
        HolderKind::Hidden => plan
            .listeners
            .iter()
            .any(|l| l.inode != 0 && l.inode == holder.socket.inode && !l.owners.is_empty()),
        HolderKind::Refused | HolderKind::NewProcess | HolderKind::AlreadyRunning => false,
    }
}

fn classify(
    system: &dyn System,
    request: &Request,
    plan: &Plan,
    snapshot: &Snapshot,
) -> Verification {
    let mut holders = Vec::new();
    let mut held_ports = BTreeSet::new();
    // A process that started before porthole did cannot be a restart that
    // porthole's signals caused: it was running, just not listening when
    // the plan was made (a slow start-up, a socket bound and listened on
    // later).
    let own_start = system.stat(std::process::id()).map(|s| s.start_ticks);
    // The listening sockets the targets held, by inode (0 is no socket).
    let planned_inodes: BTreeSet<u64> = plan
        .listeners
        .iter()
        .filter(|l| l.inode != 0 && !l.owners.is_empty())
        .map(|l| l.inode)
        .collect();
    for socket in snapshot.sockets.iter().filter(|s| {
        s.is_listener() && request.ports.contains(&s.local_port()) && selects(request, s)
    }) {
        held_ports.insert(socket.local_port());
        if socket.owners.is_empty() {
            holders.push(Holder {
                socket: socket.clone(),
                pid: None,
                process: None,
                kind: HolderKind::Hidden,
                parent: None,
                parent_init: None,
                parent_is_target: false,
                parent_unseen: false,
                parent_is_init: false,
                parent_stop_command: None,
            });
        }
        for &pid in &socket.owners {
            let process = snapshot.processes.get(&pid).cloned();
            let before = plan.targets.iter().find(|t| t.pid == pid);
            let same_process = before.is_some_and(|t| {
                t.start_ticks.is_none() || t.start_ticks == system.stat(pid).map(|s| s.start_ticks)
            });
            // Start times are clock ticks (10 ms): a process forked in the
            // same tick as porthole, as a restart loop's next child after
            // a quick kill is, is told by its pid, which the kernel hands
            // out in increasing order (a wrap within one tick aside).
            let started_before_porthole = || {
                own_start.is_some_and(|own| {
                    system.stat(pid).is_some_and(|stat| {
                        stat.start_ticks < own
                            || (stat.start_ticks == own && pid < std::process::id())
                    })
                })
            };
            let kind = match before {
                Some(target) if same_process && target.refusal.is_some() => HolderKind::Refused,
                Some(_) if same_process => HolderKind::Survivor,
                // The same socket (not a new bind of the port) in a process
                // that was no target: handed on by a target, so neither a
                // supervisor's restart nor a late start-up.
                _ if planned_inodes.contains(&socket.inode) => HolderKind::Inherited,
                None if started_before_porthole() => HolderKind::AlreadyRunning,
                _ => HolderKind::NewProcess,
            };
            // A new listener whose parent is PID 1, on a port a stopped
            // target PID 1 had started held too: init restarted it (an
            // orphan a target spawned as it exited has a target, not init,
            // as its first parent).
            // Only where PID 1 can be a restart loop (a container) or for a
            // unit: on a host, a daemon's parent is init without init having
            // started it, and so is the orphan a stopped daemon leaves.
            let parent_is_init = kind == HolderKind::NewProcess
                && process.as_ref().is_some_and(|p| {
                    p.parent_pid == 1 && (p.unit.is_some() || in_container_pid_namespace(system))
                })
                && plan.stoppable().any(|t| {
                    t.ports.contains(&socket.local_port())
                        && t.process.as_ref().is_some_and(|p| p.parent_pid == 1)
                });
            let parent = match (kind, &process) {
                (HolderKind::NewProcess | HolderKind::Inherited, Some(p)) if p.parent_pid > 1 => {
                    system.process(p.parent_pid)
                }
                _ if parent_is_init => system.process(1),
                _ => None,
            };
            // The very socket in a process whose parent was no target: it
            // came over a Unix socket (SCM_RIGHTS) or from a target that
            // exited after forking it, and the parent (a shell, a subreaper
            // that adopted it) neither started it on the port nor holds
            // the socket. Naming it would blame it. Another user's parent
            // that porthole cannot see is kept: it may be the master that
            // holds the socket.
            let parent = parent.filter(|p| {
                kind != HolderKind::Inherited
                    || plan.targets.iter().any(|t| t.pid == p.pid)
                    || (!plan.privileged && p.uid != plan.caller_uid)
            });
            let parent_init = parent.as_ref().and_then(|p| system.namespace_init(p.pid));
            let parent_is_target = parent.as_ref().is_some_and(|p| {
                plan.targets.iter().any(|t| {
                    t.pid == p.pid
                        && t.start_ticks.is_none_or(|ticks| ticks == p.start_ticks)
                        && !is_gone(system, t.pid, t.start_ticks)
                })
            });
            // Another user's parent, porthole not root: its sockets cannot
            // be read, and only root may signal it.
            let parent_out_of_reach =
                parent.as_ref().is_some_and(|p| !plan.privileged && p.uid != plan.caller_uid);
            let parent_unseen =
                kind == HolderKind::Inherited && !parent_is_target && parent_out_of_reach;
            let parent_stop_command = parent.as_ref().filter(|_| !parent_is_init).map(|p| {
                let command = supervisor_stop_command(p.pid, parent_init.as_ref());
                if parent_out_of_reach {
                    plan.as_root.wrap(&command)
                } else {
                    command
                }
            });
            holders.push(Holder {
                socket: socket.clone(),
                pid: Some(pid),
                process,
                kind,
                parent,
                parent_init,
                parent_is_target,
                parent_unseen,
                parent_is_init,
                parent_stop_command,
            });
        }
    }
    let free = request.ports.iter().copied().filter(|p| !held_ports.contains(p)).collect();
    Verification { free, holders, ..Verification::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;
    use crate::model::termination::NamespaceInit;

    fn request() -> Request {
        Request {
            ports: vec![8080],
            tcp: true,
            udp: false,
            ipv4: true,
            ipv6: true,
            force: false,
            allow_ancestors: false,
            namespaces: NamespaceSelection::Current,
            named_namespace: None,
        }
    }

    /// A listener on 127.0.0.1:8080 held by `pid`.
    fn listener(pid: u32) -> Socket {
        Socket {
            inode: u64::from(pid) + 10_000,
            owners: vec![pid],
            ..Socket::listening(crate::model::Protocol::Tcp, "127.0.0.1:8080".parse().unwrap())
        }
    }

    fn process(pid: u32, uid: u32, name: &str) -> Process {
        Process { pid, uid, name: name.into(), parent_pid: 1, ..Process::default() }
    }

    fn refusal(plan: &Plan, pid: u32) -> Option<&Refusal> {
        plan.targets.iter().find(|t| t.pid == pid).expect("a target per owner").refusal.as_ref()
    }

    #[test]
    fn the_plan_refuses_what_must_not_be_stopped() {
        let identity = Identity {
            pid: 100,
            parent_pid: 99,
            ancestors: vec![98],
            uid: 1000,
            privileged: false,
        };
        let mut system = Scripted {
            sockets: [1, 2, 99, 500, 501, 600].into_iter().map(listener).collect(),
            ..Scripted::default()
        }
        .process(process(1, 0, "systemd"), 0)
        .process(process(2, 0, "kthreadd"), process::PF_KTHREAD)
        .process(process(99, 1000, "bash"), 0)
        .process(process(500, 1000, "node"), 0)
        .process(process(501, 0, "nginx"), 0)
        .process(process(600, 1000, "tini"), 0);
        system.namespace_inits.insert(600, NamespaceInit { processes: 3, catches_term: false });
        let snapshot = system.snapshot(&listeners_query(&request())).unwrap();
        let plan = plan_from(&system, &request(), snapshot, &identity);
        assert_eq!(plan.targets.len(), 6);
        assert_eq!(refusal(&plan, 1), Some(&Refusal::Init { systemd: true }));
        assert_eq!(refusal(&plan, 2), Some(&Refusal::KernelThread));
        assert_eq!(refusal(&plan, 99), Some(&Refusal::Parent));
        assert!(matches!(refusal(&plan, 501), Some(Refusal::OtherUser { uid: 0, .. })));
        assert_eq!(refusal(&plan, 600), Some(&Refusal::NamespaceInit { processes: 3 }));
        assert_eq!(refusal(&plan, 500), None);
        assert_eq!(plan.stoppable().map(|t| t.pid).collect::<Vec<_>>(), vec![500]);
        let node = plan.targets.iter().find(|t| t.pid == 500).unwrap();
        assert_eq!(node.start_ticks, Some(1500), "read from the process's stat");

        // --force lifts the other-user and namespace refusals, never init's.
        let forced = Request { force: true, ..request() };
        let snapshot = system.snapshot(&listeners_query(&forced)).unwrap();
        let plan = plan_from(&system, &forced, snapshot, &identity);
        assert_eq!(refusal(&plan, 501), None);
        assert_eq!(refusal(&plan, 600), None);
        assert_eq!(refusal(&plan, 1), Some(&Refusal::Init { systemd: true }));
        assert!(system.signalled.lock().unwrap().is_empty(), "planning signals nothing");
    }

    #[test]
    fn a_forwarder_is_named_after_the_container_docker_reports() {
        let uid = Identity::current().uid;
        let system = Scripted { sockets: vec![listener(700)], ..Scripted::default() }
            .process(process(700, uid, "docker-proxy"), 0)
            .command("docker ps --quiet --filter publish=8080", "3f2a1b\n");
        let plan = plan(&system, &request()).unwrap();
        let hint = plan.targets[0].container_hint.as_ref().expect("a forwarder");
        assert_eq!(hint.container.as_deref(), Some("3f2a1b"));
        // Without Docker the hint stays, without a container.
        let system = Scripted { sockets: vec![listener(700)], ..Scripted::default() }
            .process(process(700, uid, "docker-proxy"), 0);
        let plan = self::plan(&system, &request()).unwrap();
        assert_eq!(
            plan.targets[0].container_hint,
            Some(ContainerHint { forwarder: true, container: None })
        );
    }

    #[test]
    fn graceful_stops_escalate_only_for_survivors() {
        let identity = Identity {
            pid: 100,
            parent_pid: 99,
            ancestors: vec![98],
            uid: 1000,
            privileged: false,
        };
        let system = Scripted {
            sockets: vec![listener(500), listener(501)],
            stubborn: vec![501],
            ..Scripted::default()
        }
        .process(process(500, 1000, "node"), 0)
        .process(process(501, 1000, "java"), 0);
        let snapshot = system.snapshot(&listeners_query(&request())).unwrap();
        let plan = plan_from(&system, &request(), snapshot, &identity);
        let grace = Duration::from_millis(60);
        let outcomes = execute(&system, &plan, Method::Graceful { grace });
        assert_eq!(
            *system.signalled.lock().unwrap(),
            vec![(500, Signal::TERM), (501, Signal::TERM), (501, Signal::KILL)]
        );
        assert!(matches!(outcomes[0].fate, Fate::Exited { .. }), "{:?}", outcomes[0]);
        assert_eq!(outcomes[0].signals, vec![Signal::TERM]);
        assert!(matches!(outcomes[1].fate, Fate::Killed { .. }), "{:?}", outcomes[1]);
        assert_eq!(outcomes[1].signals, vec![Signal::TERM, Signal::KILL]);
    }

    #[test]
    fn refuses_init_self_parent_kthreads_and_other_users() {
        let identity = Identity {
            pid: 100,
            parent_pid: 99,
            ancestors: vec![98],
            uid: 1000,
            privileged: false,
        };
        let (forced, plain) = (Request { force: true, ..request() }, request());
        let mine = Process { pid: 500, uid: 1000, ..Process::default() };
        let theirs = Process { pid: 501, uid: 0, user: Some("root".into()), ..Process::default() };
        assert_eq!(
            refusal_for(1, None, None, &forced, &identity),
            Some(Refusal::Init { systemd: false })
        );
        assert_eq!(refusal_for(100, None, None, &forced, &identity), Some(Refusal::Itself));
        assert_eq!(refusal_for(99, None, None, &forced, &identity), Some(Refusal::Parent));
        let kthread = process::Stat {
            name: "kthreadd".into(),
            state: 'S',
            parent_pid: 0,
            flags: process::PF_KTHREAD,
            start_ticks: 1,
        };
        assert_eq!(
            refusal_for(2, None, Some(&kthread), &forced, &identity),
            Some(Refusal::KernelThread)
        );
        assert_eq!(refusal_for(500, Some(&mine), None, &plain, &identity), None);
        assert!(matches!(
            refusal_for(501, Some(&theirs), None, &plain, &identity),
            Some(Refusal::OtherUser { uid: 0, .. })
        ));
        assert_eq!(refusal_for(501, Some(&theirs), None, &forced, &identity), None);
    }

    #[test]
    fn ancestors_are_refused_unless_allowed() {
        let identity = Identity {
            pid: 100,
            parent_pid: 99,
            ancestors: vec![98, 50],
            uid: 0,
            privileged: true,
        };
        let forced = Request { force: true, ..request() };
        for pid in [99, 98, 50] {
            let refusal = refusal_for(pid, None, None, &forced, &identity);
            assert!(matches!(refusal, Some(Refusal::Parent | Refusal::Ancestor)), "{pid}");
            assert!(refusal.unwrap().describe().contains("--allow-ancestors"));
        }
        let allowed = Request { allow_ancestors: true, ..request() };
        for pid in [99, 98, 50] {
            assert_eq!(refusal_for(pid, None, None, &allowed, &identity), None, "{pid}");
        }
        // Never PID 1 nor porthole itself.
        assert_eq!(
            refusal_for(1, None, None, &allowed, &identity),
            Some(Refusal::Init { systemd: false })
        );
        assert_eq!(refusal_for(100, None, None, &allowed, &identity), Some(Refusal::Itself));
    }

    /// What uid 1000 (not privileged) is told when `kill 8080` meets root's
    /// nginx (pid 501).
    fn refusal_of_roots_nginx_to_uid_1000() -> String {
        let identity =
            Identity { pid: 100, parent_pid: 99, ancestors: vec![], uid: 1000, privileged: false };
        let system = Scripted { sockets: vec![listener(501)], ..Scripted::default() }
            .process(process(501, 0, "nginx"), 0);
        let snapshot = system.snapshot(&listeners_query(&request())).unwrap();
        let plan = plan_from(&system, &request(), snapshot, &identity);
        refusal(&plan, 501).unwrap().describe()
    }

    #[test]
    fn the_run_as_root_selects_what_this_run_selects_and_runs_through_sudo_or_su() {
        let two_ports = Request {
            ports: vec![8080, 9090],
            udp: false,
            named_namespace: Some(NamespaceHandle { path: "/run/netns/demo".into(), inode: 7 }),
            ..request()
        };
        let command = porthole_kill_command(&Scripted::default(), &two_ports);
        assert_eq!(command, "porthole kill 8080 9090 -t --netns /run/netns/demo");
        // Root's PATH does not find this build: its path.
        let elsewhere = Scripted {
            program: Some("porthole".into()),
            root_program: Some("/home/u/bin/porthole".into()),
            ..Scripted::default()
        };
        let command = porthole_kill_command(&elsewhere, &two_ports);
        assert_eq!(command, "/home/u/bin/porthole kill 8080 9090 -t --netns /run/netns/demo");
        assert_eq!(AsRoot::Sudo.wrap("kill 42"), "sudo kill 42");
        assert_eq!(AsRoot::Su.wrap("kill 42"), "su -c 'kill 42'");
        assert_eq!(AsRoot::Already.wrap("kill 42"), "kill 42");
        // Without root, a refusal of another user's process names that run,
        // not --force, which the kernel would answer with EPERM.
        let described = refusal_of_roots_nginx_to_uid_1000();
        assert!(!described.contains("pass --force"), "{described}");
        assert!(described.contains(" kill 8080 -t --force"), "{described}");
    }

    #[test]
    fn the_run_as_root_goes_through_sudo_only_for_a_user_sudo_lets_in() {
        // `sudo kill 42` was printed to any user on a machine with sudo,
        // and `kill 42 (as root)`, prose dressed as a command, on one with
        // neither sudo nor su.
        const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                              bob:x:1001:1001::/home/bob:/bin/sh\nwheely:x:1002:10::/:/bin/sh\n";
        const GROUP: &str = "root:x:0:\nwheel:x:10:\nsudo:x:27:alice,carol\nalice:x:1000:\n";
        let machine = |files: &[&str]| {
            files.iter().fold(Scripted::default(), |system, path| system.file(path, ""))
        };
        let both = machine(&["/usr/bin/sudo", "/usr/bin/su"])
            .file("/etc/passwd", PASSWD)
            .file("/etc/group", GROUP);
        assert_eq!(as_root(&both, 1000, false), AsRoot::Sudo, "a member of sudo");
        assert_eq!(as_root(&both, 1002, false), AsRoot::Sudo, "wheel as the primary group");
        assert_eq!(as_root(&both, 1001, false), AsRoot::Su, "sudo would refuse bob");
        assert_eq!(as_root(&both, 0, true), AsRoot::Already);
        let sudo_only = machine(&["/usr/bin/sudo"]).file("/etc/group", GROUP);
        assert_eq!(as_root(&sudo_only, 1001, false), AsRoot::Sudo, "the only way there is");
        let unreadable = machine(&["/usr/bin/sudo", "/bin/su"]);
        assert_eq!(as_root(&unreadable, 1001, false), AsRoot::Sudo, "nothing says no");
        let neither = machine(&[]);
        assert_eq!(as_root(&neither, 1001, false), AsRoot::Unknown);
        assert_eq!(AsRoot::Unknown.wrap("kill 42"), "kill 42");

        // Without either, the refusal says "as root" in words and gives
        // the command as it runs there.
        let described = refusal_of_roots_nginx_to_uid_1000();
        assert!(described.ends_with(" kill 8080 -t --force"), "{described}");
        assert!(described.contains("as root: "), "{described}");
    }

    #[test]
    fn forwarders_get_a_container_hint() {
        let proxy = Process { name: "docker-proxy".into(), ..Process::default() };
        assert_eq!(
            container_hint(&proxy),
            Some(ContainerHint { forwarder: true, container: None })
        );
        let inside = Process { container: Some("abc".into()), ..Process::default() };
        assert_eq!(container_hint(&inside).unwrap().container.as_deref(), Some("abc"));
        assert_eq!(container_hint(&Process::default()), None);
    }

    #[test]
    fn what_kept_sigterm_from_ending_a_process_is_read_from_its_status() {
        let term = 1 << (libc::SIGTERM - 1);
        let judge = |state, signals: SignalState| judge_unanswered(state, &signals);
        let none = SignalState::default();
        // A tracing stop holds the pending signal, whatever the masks say.
        let traced = SignalState { pending: term, tracer: 77, ..none };
        assert_eq!(judge('t', traced), Some(Unanswered::Traced { tracer: 77 }));
        // Blocked and pending; blocked and pending but ignored too (a
        // blocked signal is queued even when ignored).
        let blocked = SignalState { pending: term, blocked: term, ..none };
        assert_eq!(judge('S', blocked), Some(Unanswered::Blocked));
        assert_eq!(judge('S', SignalState { ignored: term, ..blocked }), Some(Unanswered::Blocked));
        // Pending in a kernel wait, not blocked.
        assert_eq!(
            judge('D', SignalState { pending: term, ..none }),
            Some(Unanswered::Uninterruptible)
        );
        assert_eq!(judge('S', SignalState { ignored: term, ..none }), Some(Unanswered::Ignored));
        assert_eq!(judge('S', SignalState { caught: term, ..none }), Some(Unanswered::Handled));
        // Blocked but not pending: it was delivered (and handled) once.
        let handled = SignalState { blocked: term, caught: term, ..none };
        assert_eq!(judge('S', handled), Some(Unanswered::Handled));
        // Other signals' bits say nothing about SIGTERM.
        let other = SignalState { pending: 1, blocked: 1, ignored: 2, caught: 4, tracer: 0 };
        assert_eq!(judge('S', other), None);
        assert_eq!(judge('t', none), None, "a `t` without a tracer is no tracing stop");
    }
}
