//! `check --bind ADDR:PORT`: could a server bind here, and if not, why.
//!
//! Two trial binds (without and with `SO_REUSEADDR`, never `listen()`ed,
//! closed at once) give the kernel's answer; the port's sockets, sysctls
//! and the client's capabilities and confinement explain it: a listener on
//! the same or an overlapping address (wildcard vs specific, dual-stack
//! `::`), TIME-WAIT leftovers, a privileged port, a port inside the
//! ephemeral range, or a security policy.

pub use crate::model::diagnosis::BindOutcome;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket as RawSocket, Type};

use super::environment::{self, Client};
use super::probe::{errno_name, ProbeAddress};
use super::{port_snapshot, Attempt, AttemptKind, Cause, CauseId, DiagnoseError, Fix, Severity};
use crate::model::{Process, Protocol, Socket, SocketState};

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

/// Diagnoses `--bind ADDR:PORT`.
pub fn diagnose_bind(address: SocketAddr, client: Client) -> Result<BindDiagnosis, DiagnoseError> {
    let port = address.port();
    let snapshot = port_snapshot(port)?;
    let (plain, plain_errno, plain_attempt) = trial(address, false);
    let (reused, _, reused_attempt) = trial(address, true);
    let mut result =
        BindDiagnosis { attempts: vec![plain_attempt, reused_attempt], ..Default::default() };

    let holders: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| s.protocol == Protocol::Tcp && s.is_listener() && overlaps(s, address))
        .collect();
    let time_wait: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| {
            s.protocol == Protocol::Tcp && s.state == SocketState::TimeWait && overlaps(s, address)
        })
        .collect();
    let other_states: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| {
            s.protocol == Protocol::Tcp
                && !s.is_listener()
                && s.state != SocketState::TimeWait
                && overlaps(s, address)
        })
        .collect();
    result.listeners = holders.iter().map(|s| (*s).clone()).collect();
    result.processes = snapshot.processes.clone();
    let attempt_lines: Vec<String> =
        result.attempts.iter().map(super::causes::attempt_line).collect();

    if !holders.is_empty() {
        let mut lines: Vec<String> = holders
            .iter()
            .map(|s| format!("listener: {}", super::causes::listener_line(&snapshot.processes, s)))
            .collect();
        lines.extend(attempt_lines.clone());
        let first = holders[0];
        let held = first.local.map(|a| a.to_string()).unwrap_or_default();
        // The verdict names the process: "X is in use: 127.0.0.1:X holds
        // it" said nothing the address had not.
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
        result.causes.push(Cause {
            id: CauseId::PortInUse,
            severity: Severity::Error,
            summary: format!("{address} is in use: {relation}"),
            evidence: lines,
            fix,
        });
    } else if !time_wait.is_empty() && other_states.is_empty() && plain == BindOutcome::InUse {
        // Only TIME-WAIT leftovers of closed connections hold the port. A
        // new socket with SO_REUSEADDR may take it only if the old server's
        // sockets had it too (Linux checks both sides): the second trial
        // bind tells which case this is.
        let mut lines = attempt_lines.clone();
        let expiry = crate::inventory::procfs::time_wait_expiry(port);
        let lasts = match expiry {
            Some(left) => format!("the last one expires in {} s", left.as_secs().max(1)),
            None => "TIME-WAIT lasts 60 s on Linux".to_string(),
        };
        lines.push(format!(
            "{} TIME-WAIT connection(s) on {address}, no listener: the previous server closed them first; {lasts}",
            time_wait.len()
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
        result.causes.push(Cause {
            id: CauseId::PortInUse,
            severity,
            summary,
            evidence: lines,
            fix,
        });
    } else if plain == BindOutcome::InUse || reused == BindOutcome::InUse {
        let mut lines = attempt_lines.clone();
        lines.extend(other_states.iter().map(|s| {
            format!(
                "socket: {} [{}]",
                super::causes::listener_line(&snapshot.processes, s),
                s.state.ss_name()
            )
        }));
        if !time_wait.is_empty() {
            lines.push(format!("{} TIME-WAIT connection(s) on {address}", time_wait.len()));
        }
        let mut fix = Vec::new();
        let pids: Vec<String> =
            other_states.iter().flat_map(|s| s.owners.iter()).map(u32::to_string).collect();
        if other_states.is_empty() && time_wait.is_empty() {
            lines.push("no socket on the port is visible: the holder may be another user's process, or a socket bound without listen() that this kernel does not list".to_string());
            fix.push(Fix::command(format!("porthole ls -a --port {port} --netns all")));
        } else if !pids.is_empty() {
            fix.push(Fix::command(format!("kill {}   # stop the holder", pids.join(" "))));
        }
        fix.push(Fix::step("or pick another port (porthole free)"));
        result.causes.push(Cause {
            id: CauseId::PortInUse,
            severity: Severity::Error,
            summary: format!("{address} is in use"),
            evidence: lines,
            fix,
        });
    }

    let status = client.status();
    let unprivileged_start = crate::sys::sysctl::unprivileged_port_start().unwrap_or(1024);
    let capable = environment::can_bind_privileged(&status);
    let privileged = port != 0 && port < unprivileged_start && capable == Some(false);
    if privileged || (plain == BindOutcome::Denied && port < unprivileged_start) {
        let mut lines = attempt_lines.clone();
        lines.push(format!("net.ipv4.ip_unprivileged_port_start = {unprivileged_start}: ports below it need CAP_NET_BIND_SERVICE"));
        if let Some(line) = status.lines().find(|l| l.starts_with("CapEff:")) {
            lines.push(format!("{} (no CAP_NET_BIND_SERVICE)", line.replace('\t', " ")));
        }
        result.causes.push(Cause {
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
        });
    } else if plain == BindOutcome::Denied || reused == BindOutcome::Denied {
        let confinement = environment::confinement(client);
        let mut lines = attempt_lines.clone();
        if confinement.is_empty() {
            lines.push(
                "no SELinux enforcement, LSM label, seccomp filter or systemd IP policy found"
                    .to_string(),
            );
        } else {
            lines.extend(confinement.evidence());
        }
        result.causes.push(Cause {
            id: CauseId::SandboxDenied,
            severity: Severity::Error,
            summary: format!(
                "a security policy refused the bind of {address} ({})",
                plain_errno.map(errno_name).unwrap_or_default()
            ),
            evidence: lines,
            fix: super::causes::sandbox_fixes(&confinement),
        });
    }
    if plain == BindOutcome::Unavailable {
        let v6_off = address.is_ipv6() && crate::sys::sysctl::ipv6_disabled_on_loopback();
        result.causes.push(Cause {
            id: if v6_off { CauseId::Ipv6Disabled } else { CauseId::Unexplained },
            severity: Severity::Error,
            summary: if v6_off {
                format!("IPv6 is disabled, so {address} cannot be bound")
            } else {
                format!("{} is not an address of this host (EADDRNOTAVAIL)", address.ip())
            },
            evidence: attempt_lines.clone(),
            fix: if v6_off {
                vec![Fix::command(
                    "sysctl -w net.ipv6.conf.lo.disable_ipv6=0 net.ipv6.conf.all.disable_ipv6=0",
                )]
            } else {
                vec![Fix::step("bind 127.0.0.1, 0.0.0.0 or an address shown by `ip addr`")]
            },
        });
    }
    let meaning = crate::portinfo::describe(port);
    if meaning.in_ephemeral_range && !meaning.reserved {
        let (low, high) = meaning.ephemeral_range.unwrap_or((0, 0));
        result.causes.push(Cause {
            id: CauseId::EphemeralPort,
            severity: Severity::Warning,
            summary: format!(
                "port {port} is inside the ephemeral range {low}-{high}: an outgoing connection may take it before the server starts"
            ),
            evidence: vec![format!("net.ipv4.ip_local_port_range = {low} {high}; {port} is not in ip_local_reserved_ports")],
            fix: vec![
                super::causes::reserve_port_fix(port),
                Fix::step(format!("or use a port below {low} (porthole free)")),
            ],
        });
    }
    Ok(result)
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
}
