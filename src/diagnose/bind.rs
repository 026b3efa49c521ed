//! `check --bind ADDR:PORT`: could a server bind here, and if not, why.
//!
//! Two trial binds (without and with `SO_REUSEADDR`, never `listen()`ed,
//! closed at once) give the kernel's answer; the port's sockets, sysctls
//! and the client's capabilities and confinement explain it: a listener on
//! the same or an overlapping address (wildcard vs specific, dual-stack
//! `::`), TIME-WAIT leftovers, a privileged port, a port inside the
//! ephemeral range, or a security policy.
//!
//! [`diagnose_bind`] gathers the trial binds and the port's sockets into a
//! [`BindProbe`]; [`judge_bind`] explains it with one function per cause,
//! asking the [`System`] handle for sysctls, TIME-WAIT timers and the
//! client's capabilities or confinement only when that cause is in play.

pub use crate::model::diagnosis::BindOutcome;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket as RawSocket, Type};

use super::environment::{self, Client};
use super::probe::{errno_name, ProbeAddress};
use super::{port_snapshot, Attempt, AttemptKind, Cause, CauseId, DiagnoseError, Fix, Severity};
use crate::inventory::system::System;
use crate::model::{PortMeaning, Process, Protocol, Snapshot, Socket, SocketState};

/// The bind half of a diagnosis.
#[derive(Debug, Default)]
pub struct BindDiagnosis {
    pub attempts: Vec<Attempt>,
    pub listeners: Vec<Socket>,
    pub processes: BTreeMap<u32, Process>,
    pub causes: Vec<Cause>,
}

/// One trial bind.
fn trial(address: SocketAddr, reuse: bool) -> (BindOutcome, Option<i32>, Attempt) {
    let started = Instant::now();
    let result = RawSocket::new(Domain::for_address(address), Type::STREAM.cloexec(), None)
        .and_then(|socket| {
            if reuse {
                socket.set_reuse_address(true)?;
            }
            socket.bind(&SockAddr::from(address))
        });
    let (outcome, errno, detail) = match result {
        Ok(()) => (BindOutcome::Bound, None, "bind succeeded".to_string()),
        Err(error) => {
            let errno = error.raw_os_error();
            let outcome = match errno {
                Some(libc::EADDRINUSE) => BindOutcome::InUse,
                Some(libc::EACCES) | Some(libc::EPERM) => BindOutcome::Denied,
                Some(libc::EADDRNOTAVAIL) => BindOutcome::Unavailable,
                _ => BindOutcome::Failed,
            };
            let name = errno.map(errno_name).unwrap_or_default();
            (outcome, errno, format!("{name}: {error}"))
        }
    };
    let option = if reuse { "with SO_REUSEADDR" } else { "without SO_REUSEADDR" };
    let attempt = Attempt {
        address: ProbeAddress::Ip(address),
        kind: AttemptKind::Bind(outcome),
        elapsed: started.elapsed(),
        detail: format!("trial bind {option}: {detail}"),
        reply: None,
        healthy: outcome == BindOutcome::Bound,
    };
    (outcome, errno, attempt)
}

/// Whether a socket bound to `held` stops a bind of `wanted` (same port):
/// equal addresses, a wildcard on either side of the same family, or a
/// dual-stack `::` against IPv4.
pub fn overlaps(held: &Socket, wanted: SocketAddr) -> bool {
    let Some(local) = held.local else { return false };
    if local.port() != wanted.port() {
        return false;
    }
    let (a, b) = (local.ip(), wanted.ip());
    if a == b {
        return true;
    }
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.is_unspecified() || b.is_unspecified(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.is_unspecified() || b.is_unspecified(),
        // A dual-stack `::` holder covers IPv4; binding `::` (dual-stack by
        // default, net.ipv6.bindv6only = 0) collides with any IPv4 holder.
        (IpAddr::V6(a), IpAddr::V4(_)) => a.is_unspecified() && held.v6only != Some(true),
        (IpAddr::V4(_), IpAddr::V6(b)) => b.is_unspecified(),
    }
}

/// What a bind diagnosis gathers before judging: the two trial binds and
/// the port's TCP sockets (every state) with owners.
pub struct BindProbe {
    pub address: SocketAddr,
    /// The trial bind without `SO_REUSEADDR`, and its errno.
    pub plain: (BindOutcome, Option<i32>),
    /// The trial bind with `SO_REUSEADDR`.
    pub reused: BindOutcome,
    pub attempts: Vec<Attempt>,
    pub snapshot: Snapshot,
}

/// Diagnoses `--bind ADDR:PORT`: two trial binds and the port's sockets,
/// then [`judge_bind`].
pub fn diagnose_bind(
    system: &dyn System,
    address: SocketAddr,
    client: Client,
) -> Result<BindDiagnosis, DiagnoseError> {
    let snapshot = port_snapshot(system, address.port())?;
    let (plain, plain_errno, plain_attempt) = trial(address, false);
    let (reused, _, reused_attempt) = trial(address, true);
    let probe = BindProbe {
        address,
        plain: (plain, plain_errno),
        reused,
        attempts: vec![plain_attempt, reused_attempt],
        snapshot,
    };
    Ok(judge_bind(system, client, probe))
}

/// The port's sockets that overlap the wanted address, by what they are.
struct Holders<'a> {
    listeners: Vec<&'a Socket>,
    time_wait: Vec<&'a Socket>,
    /// Bound, connected or closing sockets (not listening, not TIME-WAIT).
    other_states: Vec<&'a Socket>,
}

impl<'a> Holders<'a> {
    fn of(snapshot: &'a Snapshot, address: SocketAddr) -> Self {
        let overlapping = || {
            snapshot
                .sockets
                .iter()
                .filter(move |s| s.protocol == Protocol::Tcp && overlaps(s, address))
        };
        Holders {
            listeners: overlapping().filter(|s| s.is_listener()).collect(),
            time_wait: overlapping().filter(|s| s.state == SocketState::TimeWait).collect(),
            other_states: overlapping()
                .filter(|s| !s.is_listener() && s.state != SocketState::TimeWait)
                .collect(),
        }
    }
}

/// Explains the trial binds, asking `system` for sysctls, the client's
/// capabilities and confinement, and TIME-WAIT timers only when a cause
/// needs them.
pub fn judge_bind(system: &dyn System, client: Client, probe: BindProbe) -> BindDiagnosis {
    let BindProbe { address, plain: (plain, plain_errno), reused, attempts, snapshot } = probe;
    let port = address.port();
    let holders = Holders::of(&snapshot, address);
    let lines: Vec<String> = attempts.iter().map(super::causes::attempt_line).collect();
    let mut causes = Vec::new();

    if !holders.listeners.is_empty() {
        causes.push(held_by_listener(address, &snapshot, &holders.listeners, &lines));
    } else if !holders.time_wait.is_empty()
        && holders.other_states.is_empty()
        && plain == BindOutcome::InUse
    {
        let expiry = system.time_wait_expiry(port);
        causes.push(held_by_time_wait(address, &holders, reused, expiry, &lines));
    } else if plain == BindOutcome::InUse || reused == BindOutcome::InUse {
        let program = system.porthole_program(crate::inventory::system::Runner::User);
        causes.push(held_otherwise(address, &snapshot, &holders, &lines, &program));
    }

    let unprivileged_start = system.unprivileged_port_start().unwrap_or(1024);
    let status =
        if port != 0 && port < unprivileged_start { client.status(system) } else { String::new() };
    let capable = environment::can_bind_privileged(&status);
    let privileged = port != 0 && port < unprivileged_start && capable == Some(false);
    if privileged || (plain == BindOutcome::Denied && port < unprivileged_start) {
        causes.push(privileged_port(port, unprivileged_start, &status, &lines));
    } else if plain == BindOutcome::Denied || reused == BindOutcome::Denied {
        let confinement = environment::confinement(system, client, environment::BIND_HOOKS);
        causes.push(sandbox_denied_bind(address, plain_errno, &confinement, &lines));
    }
    if plain == BindOutcome::Unavailable {
        let v6_off = address.is_ipv6() && system.ipv6_disabled_on_loopback();
        causes.push(address_unavailable(address, v6_off, &lines));
    }
    let meaning = crate::portinfo::describe_on(system, port);
    if meaning.in_ephemeral_range && !meaning.reserved {
        let reserved = system.reserved_ports_text();
        causes.push(ephemeral_port(port, &meaning, reserved.as_deref()));
    }
    BindDiagnosis {
        attempts,
        listeners: holders.listeners.iter().map(|s| (*s).clone()).collect(),
        processes: snapshot.processes.clone(),
        causes,
    }
}

/// A listener holds the address, or one that overlaps it.
/// The owner of a listener as the verdict names it: `python3 (pid 4242)`,
/// `nginx (pids 10, 11)`, or `a process porthole cannot see`.
fn holder_name(socket: &Socket, processes: &BTreeMap<u32, Process>) -> String {
    let Some(&first) = socket.owners.first() else {
        return "a process porthole cannot see".to_string();
    };
    let name = processes.get(&first).map_or("?", |p| p.name.as_str());
    let pids: Vec<String> = socket.owners.iter().map(u32::to_string).collect();
    match pids.len() {
        1 => format!("{name} (pid {})", pids[0]),
        _ => format!("{name} (pids {})", pids.join(", ")),
    }
}

fn held_by_listener(
    address: SocketAddr,
    snapshot: &Snapshot,
    holders: &[&Socket],
    attempt_lines: &[String],
) -> Cause {
    let mut lines: Vec<String> = holders
        .iter()
        .map(|s| format!("listener: {}", super::causes::listener_line(&snapshot.processes, s)))
        .collect();
    lines.extend(attempt_lines.iter().cloned());
    let first = holders[0];
    let held = first.local.map(|a| a.to_string()).unwrap_or_default();
    // The verdict names the process: "X is in use: 127.0.0.1:X holds it"
    // said nothing the address had not.
    let who = holder_name(first, &snapshot.processes);
    let relation = match first.local.map(|a| a.ip()) {
        Some(ip) if ip == address.ip() => format!("{who} listens on it"),
        Some(ip) if ip.is_unspecified() => {
            format!("{who} listens on {held}, a wildcard bind that covers {}", address.ip())
        }
        _ if address.ip().is_unspecified() => format!(
            "{who} listens on {held}, one address, so the wildcard {} cannot be bound",
            address.ip()
        ),
        _ => format!("{who} listens on {held}, which overlaps it"),
    };
    let pids: Vec<String> =
        holders.iter().flat_map(|s| s.owners.iter()).map(u32::to_string).collect();
    let mut fix = Vec::new();
    if !pids.is_empty() {
        fix.push(Fix::command(format!("kill {}   # stop the holder", pids.join(" "))));
    }
    fix.push(Fix::step("or pick another port (porthole free)"));
    Cause {
        id: CauseId::PortInUse,
        severity: Severity::Error,
        summary: format!("{address} is in use: {relation}"),
        evidence: lines,
        fix,
    }
}

/// Only TIME-WAIT leftovers of closed connections hold the port. A new
/// socket with SO_REUSEADDR may take it only if the old server's sockets
/// had it too (Linux checks both sides): the second trial bind (`reused`)
/// tells which case this is.
fn held_by_time_wait(
    address: SocketAddr,
    holders: &Holders,
    reused: BindOutcome,
    expiry: Option<std::time::Duration>,
    attempt_lines: &[String],
) -> Cause {
    let mut lines = attempt_lines.to_vec();
    let lasts = match expiry {
        Some(left) => format!("the last one expires in {} s", left.as_secs().max(1)),
        None => "TIME-WAIT lasts 60 s on Linux".to_string(),
    };
    lines.push(format!(
        "{} TIME-WAIT connection(s) on {address}, no listener: the previous server closed them first; {lasts}",
        holders.time_wait.len()
    ));
    let wait = expiry.map_or(60, |left| left.as_secs().max(1));
    let (severity, summary, fix) = if reused == BindOutcome::Bound {
        (
            Severity::Warning,
            format!("only TIME-WAIT connections hold {address}: a server that sets SO_REUSEADDR binds it now, one without it must wait {wait} s"),
            vec![
                Fix::step("set SO_REUSEADDR on the listening socket before bind() (most servers do)"),
                Fix::command(format!("sleep {wait}   # or wait for TIME-WAIT to expire")),
            ],
        )
    } else {
        lines.push("the trial bind with SO_REUSEADDR failed too: the old server did not set SO_REUSEADDR, so its TIME-WAIT sockets block every new bind until they expire".to_string());
        (
            Severity::Error,
            format!("{address} is held by TIME-WAIT connections of an old server that did not set SO_REUSEADDR: no new server can bind it for {wait} s"),
            vec![
                Fix::command(format!("sleep {wait}   # TIME-WAIT expires, then the port is free")),
                Fix::step("set SO_REUSEADDR in the server before bind(), so its next restart does not wait"),
                Fix::step("or pick another port (porthole free)"),
            ],
        )
    };
    Cause { id: CauseId::PortInUse, severity, summary, evidence: lines, fix }
}

/// The kernel says in use, but no listener holds it: a bound or connected
/// socket, or one porthole cannot see. `program` calls porthole in a fix
/// line.
fn held_otherwise(
    address: SocketAddr,
    snapshot: &Snapshot,
    holders: &Holders,
    attempt_lines: &[String],
    program: &str,
) -> Cause {
    let port = address.port();
    let mut lines = attempt_lines.to_vec();
    lines.extend(holders.other_states.iter().map(|s| {
        format!(
            "socket: {} [{}]",
            super::causes::listener_line(&snapshot.processes, s),
            s.state.ss_name()
        )
    }));
    if !holders.time_wait.is_empty() {
        lines.push(format!("{} TIME-WAIT connection(s) on {address}", holders.time_wait.len()));
    }
    let mut fix = Vec::new();
    let pids: Vec<String> =
        holders.other_states.iter().flat_map(|s| s.owners.iter()).map(u32::to_string).collect();
    if holders.other_states.is_empty() && holders.time_wait.is_empty() {
        lines.push("no socket on the port is visible: the holder may be another user's process, or a socket bound without listen() that this kernel does not list".to_string());
        fix.push(Fix::command(format!("{program} ls -a --port {port} --netns all")));
    } else if !pids.is_empty() {
        fix.push(Fix::command(format!("kill {}   # stop the holder", pids.join(" "))));
    }
    fix.push(Fix::step("or pick another port (porthole free)"));
    Cause {
        id: CauseId::PortInUse,
        severity: Severity::Error,
        summary: format!("{address} is in use"),
        evidence: lines,
        fix,
    }
}

/// A port below `ip_unprivileged_port_start` and a client (`status`, its
/// `/proc/PID/status`) without CAP_NET_BIND_SERVICE.
fn privileged_port(
    port: u16,
    unprivileged_start: u16,
    status: &str,
    attempt_lines: &[String],
) -> Cause {
    let mut lines = attempt_lines.to_vec();
    lines.push(format!("net.ipv4.ip_unprivileged_port_start = {unprivileged_start}: ports below it need CAP_NET_BIND_SERVICE"));
    if let Some(line) = status.lines().find(|l| l.starts_with("CapEff:")) {
        lines.push(format!("{} (no CAP_NET_BIND_SERVICE)", line.replace('\t', " ")));
    }
    Cause {
        id: CauseId::PrivilegedPort,
        severity: Severity::Error,
        summary: format!("port {port} is privileged and the server lacks CAP_NET_BIND_SERVICE"),
        evidence: lines,
        fix: vec![
            Fix::step("give the server's executable the capability: setcap cap_net_bind_service=+ep on its path"),
            Fix::step("or in a systemd unit: AmbientCapabilities=CAP_NET_BIND_SERVICE"),
            Fix::command(format!("sysctl -w net.ipv4.ip_unprivileged_port_start={port}   # or let every user bind it")),
            Fix::step("or listen on a port ≥ 1024 and redirect"),
        ],
    }
}

/// EACCES/EPERM on an unprivileged port: a security policy.
fn sandbox_denied_bind(
    address: SocketAddr,
    errno: Option<i32>,
    confinement: &environment::Confinement,
    attempt_lines: &[String],
) -> Cause {
    let mut lines = attempt_lines.to_vec();
    if confinement.is_empty() {
        lines.push(match &confinement.cgroup_unreadable {
            None => "no SELinux enforcement, LSM label, seccomp filter, systemd IP policy or cgroup BPF program found".to_string(),
            Some(why) => format!("no SELinux enforcement, LSM label, seccomp filter or systemd IP policy found; {why}"),
        });
    } else {
        lines.extend(confinement.evidence());
    }
    Cause {
        id: CauseId::SandboxDenied,
        severity: Severity::Error,
        summary: format!(
            "a security policy refused the bind of {address} ({})",
            errno.map(errno_name).unwrap_or_default()
        ),
        evidence: lines,
        fix: super::causes::sandbox_fixes(confinement),
    }
}

/// EADDRNOTAVAIL: IPv6 switched off (`v6_off`), or not an address here.
fn address_unavailable(address: SocketAddr, v6_off: bool, attempt_lines: &[String]) -> Cause {
    Cause {
        id: if v6_off { CauseId::Ipv6Disabled } else { CauseId::Unexplained },
        severity: Severity::Error,
        summary: if v6_off {
            format!("IPv6 is disabled, so {address} cannot be bound")
        } else {
            format!("{} is not an address of this host (EADDRNOTAVAIL)", address.ip())
        },
        evidence: attempt_lines.to_vec(),
        fix: if v6_off && address.ip().is_loopback() {
            // `::1` needs loopback only: turning `all` back on would give
            // every interface IPv6 on a host that disabled it on purpose.
            vec![Fix::command(
                "sysctl -w net.ipv6.conf.lo.disable_ipv6=0   # IPv6 on loopback only; other interfaces stay as they are",
            )]
        } else if v6_off {
            vec![Fix::command(
                "sysctl -w net.ipv6.conf.lo.disable_ipv6=0 net.ipv6.conf.all.disable_ipv6=0",
            )]
        } else {
            vec![Fix::step("bind 127.0.0.1, 0.0.0.0 or an address shown by `ip addr`")]
        },
    }
}

/// A server port inside the ephemeral range and not reserved (`reserved`
/// is the current `ip_local_reserved_ports` list, which the fix extends).
fn ephemeral_port(port: u16, meaning: &PortMeaning, reserved: Option<&str>) -> Cause {
    let (low, high) = meaning.ephemeral_range.unwrap_or((0, 0));
    Cause {
        id: CauseId::EphemeralPort,
        severity: Severity::Warning,
        summary: format!(
            "port {port} is inside the ephemeral range {low}-{high}: an outgoing connection may take it before the server starts"
        ),
        evidence: vec![format!("net.ipv4.ip_local_port_range = {low} {high}; {port} is not in ip_local_reserved_ports")],
        fix: vec![
            super::causes::reserve_port_fix(port, reserved),
            Fix::step(format!("or use a port below {low} (porthole free)")),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(address: &str, v6only: Option<bool>) -> Socket {
        let local: SocketAddr = address.parse().unwrap();
        Socket { inode: 1, tx_queue: 128, v6only, ..Socket::listening(Protocol::Tcp, local) }
    }

    #[test]
    fn wildcard_and_specific_overlap() {
        let want = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(&listener("0.0.0.0:80", None), want("127.0.0.1:80")));
        assert!(overlaps(&listener("127.0.0.1:80", None), want("0.0.0.0:80")));
        assert!(!overlaps(&listener("127.0.0.2:80", None), want("127.0.0.1:80")));
        assert!(overlaps(&listener("[::]:80", Some(false)), want("127.0.0.1:80")));
        assert!(!overlaps(&listener("[::]:80", Some(true)), want("127.0.0.1:80")));
        assert!(overlaps(&listener("127.0.0.1:80", None), want("[::]:80")));
        assert!(!overlaps(&listener("127.0.0.1:80", None), want("[::1]:80")));
        assert!(!overlaps(&listener("127.0.0.1:81", None), want("127.0.0.1:80")));
    }

    /// Scripted trial binds and sockets: each bind cause from facts alone,
    /// beside a healthy twin.
    mod judged {
        use std::time::Duration;

        use super::super::*;
        use super::listener;
        use crate::inventory::system::fake::Scripted;

        fn probe(address: &str, plain: BindOutcome, reused: BindOutcome) -> BindProbe {
            let address: SocketAddr = address.parse().expect("test address");
            let errno = match plain {
                BindOutcome::InUse => Some(libc::EADDRINUSE),
                BindOutcome::Denied => Some(libc::EACCES),
                BindOutcome::Unavailable => Some(libc::EADDRNOTAVAIL),
                _ => None,
            };
            let attempt = |outcome: BindOutcome| Attempt {
                address: ProbeAddress::Ip(address),
                kind: AttemptKind::Bind(outcome),
                elapsed: Duration::from_micros(10),
                detail: outcome.as_str().to_string(),
                reply: None,
                healthy: outcome == BindOutcome::Bound,
            };
            BindProbe {
                address,
                plain: (plain, errno),
                reused,
                attempts: vec![attempt(plain), attempt(reused)],
                snapshot: Snapshot::default(),
            }
        }

        /// A machine with the usual sysctls.
        fn machine() -> Scripted {
            Scripted::default()
                .sysctl("net.ipv4.ip_local_port_range", "32768\t60999")
                .sysctl("net.ipv4.ip_local_reserved_ports", "")
                .sysctl("net.ipv4.ip_unprivileged_port_start", "1024")
                .sysctl("net.ipv6.conf.all.disable_ipv6", "0")
                .file("/proc/self/status", "Name:\tporthole\nCapEff:\t0000000000000000\n")
        }

        fn ids(diagnosis: &BindDiagnosis) -> Vec<CauseId> {
            diagnosis.causes.iter().map(|c| c.id).collect()
        }

        fn fixes(cause: &Cause) -> Vec<&str> {
            cause.fix.iter().map(Fix::text).collect()
        }

        #[test]
        fn free_port_has_no_cause() {
            let probe = probe("127.0.0.1:8080", BindOutcome::Bound, BindOutcome::Bound);
            let diagnosis = judge_bind(&machine(), Client::Current, probe);
            assert!(diagnosis.causes.is_empty(), "{:#?}", diagnosis.causes);
        }

        #[test]
        fn port_in_use_by_a_wildcard_listener() {
            let mut probe = probe("127.0.0.1:8080", BindOutcome::InUse, BindOutcome::InUse);
            probe
                .snapshot
                .sockets
                .push(Socket { owners: vec![42], ..listener("0.0.0.0:8080", None) });
            let diagnosis = judge_bind(&machine(), Client::Current, probe);
            assert_eq!(ids(&diagnosis), vec![CauseId::PortInUse]);
            let summary = &diagnosis.causes[0].summary;
            assert!(summary.contains("a wildcard bind that covers 127.0.0.1"), "{summary}");
            assert!(summary.contains("(pid 42) listens on 0.0.0.0:8080"), "{summary}");
            assert_eq!(fixes(&diagnosis.causes[0])[0], "kill 42   # stop the holder");
            assert_eq!(diagnosis.listeners.len(), 1);
        }

        #[test]
        fn time_wait_with_and_without_reuseaddr() {
            let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
            let leftover = Socket::ip(
                Protocol::Tcp,
                local,
                "127.0.0.1:50000".parse().unwrap(),
                SocketState::TimeWait,
            );
            let system = Scripted { time_wait_expiry: Some(Duration::from_secs(12)), ..machine() };
            let mut reusable = probe("127.0.0.1:8080", BindOutcome::InUse, BindOutcome::Bound);
            reusable.snapshot.sockets.push(leftover.clone());
            let diagnosis = judge_bind(&system, Client::Current, reusable);
            assert_eq!(ids(&diagnosis), vec![CauseId::PortInUse]);
            assert_eq!(diagnosis.causes[0].severity, Severity::Warning);
            let mut blocked = probe("127.0.0.1:8080", BindOutcome::InUse, BindOutcome::InUse);
            blocked.snapshot.sockets.push(leftover);
            let diagnosis = judge_bind(&system, Client::Current, blocked);
            assert_eq!(diagnosis.causes[0].severity, Severity::Error);
            assert!(fixes(&diagnosis.causes[0])[0].starts_with("sleep 12"));
        }

        #[test]
        fn in_use_with_no_visible_holder() {
            let unseen = probe("127.0.0.1:8080", BindOutcome::InUse, BindOutcome::InUse);
            let diagnosis = judge_bind(&machine(), Client::Current, unseen);
            assert_eq!(ids(&diagnosis), vec![CauseId::PortInUse]);
            assert_eq!(fixes(&diagnosis.causes[0])[0], "porthole ls -a --port 8080 --netns all");
            // A porthole the user's PATH does not find is called by its path.
            let by_path = Scripted { program: Some("/tmp/build/porthole".into()), ..machine() };
            let again = probe("127.0.0.1:8080", BindOutcome::InUse, BindOutcome::InUse);
            let diagnosis = judge_bind(&by_path, Client::Current, again);
            assert_eq!(
                fixes(&diagnosis.causes[0])[0],
                "/tmp/build/porthole ls -a --port 8080 --netns all"
            );
        }

        #[test]
        fn privileged_port_and_capable_twin() {
            let denied = probe("127.0.0.1:80", BindOutcome::Denied, BindOutcome::Denied);
            let diagnosis = judge_bind(&machine(), Client::Current, denied);
            assert_eq!(ids(&diagnosis), vec![CauseId::PrivilegedPort]);
            assert!(diagnosis.causes[0].evidence.iter().any(|l| l.starts_with("CapEff:")));
            let capable = machine().file("/proc/self/status", "CapEff:\t0000000000000400\n");
            let bound = probe("127.0.0.1:80", BindOutcome::Bound, BindOutcome::Bound);
            let twin = judge_bind(&capable, Client::Current, bound);
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }

        #[test]
        fn sandbox_denied_on_an_unprivileged_port() {
            let denied = probe("127.0.0.1:8080", BindOutcome::Denied, BindOutcome::Denied);
            let diagnosis = judge_bind(&machine(), Client::Current, denied);
            assert_eq!(ids(&diagnosis), vec![CauseId::SandboxDenied]);
            assert!(diagnosis.causes[0].summary.ends_with("(EACCES)"));
        }

        #[test]
        fn unavailable_address_with_and_without_ipv6() {
            let off = machine().sysctl("net.ipv6.conf.lo.disable_ipv6", "1");
            let v6 = probe("[::1]:8080", BindOutcome::Unavailable, BindOutcome::Unavailable);
            let diagnosis = judge_bind(&off, Client::Current, v6);
            assert_eq!(ids(&diagnosis), vec![CauseId::Ipv6Disabled]);
            let elsewhere =
                probe("10.9.9.9:8080", BindOutcome::Unavailable, BindOutcome::Unavailable);
            let diagnosis = judge_bind(&off, Client::Current, elsewhere);
            assert_eq!(ids(&diagnosis), vec![CauseId::Unexplained]);
        }

        #[test]
        fn ephemeral_port_unless_reserved() {
            let bound = || probe("127.0.0.1:40000", BindOutcome::Bound, BindOutcome::Bound);
            let diagnosis = judge_bind(&machine(), Client::Current, bound());
            assert_eq!(ids(&diagnosis), vec![CauseId::EphemeralPort]);
            assert!(fixes(&diagnosis.causes[0])[0]
                .starts_with("sysctl -w net.ipv4.ip_local_reserved_ports=40000 "));
            let reserved = machine().sysctl("net.ipv4.ip_local_reserved_ports", "40000");
            let twin = judge_bind(&reserved, Client::Current, bound());
            assert!(twin.causes.is_empty(), "{:#?}", twin.causes);
        }
    }
}
