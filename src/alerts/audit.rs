//! The passive audit of new listeners, for `audit-finding` alerts.
//!
//! A probe waits on the network (up to its timeout per step), so it never
//! runs on the recording thread: [`AuditWorker`] owns one thread that takes
//! new listeners from a bounded queue, probes each once with the same
//! passive probes `porthole audit` uses (no login attempts), checks its
//! owners and the firewall, runs the audit rules and hands every finding at
//! or above the configured severity to the delivery callback. When the
//! queue is full the listener is not audited (the caller counts it), so a burst of listeners cannot grow memory.
//!
//! # Lifecycle
//! Dropping the worker drops the queue's sender; the thread finishes the
//! audit in progress, sees the queue closed and exits. Nobody waits for it:
//! an audit cut short by the end of the process is lost, never retried.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::firewall::{HostFirewall, Reach};
use crate::audit::probes::{self, Outcome, ProbeOptions};
use crate::audit::{restart, rules, Target};
use crate::inventory::system::{Machine, System};
use crate::model::alert::{Alert, AlertKind};
use crate::model::monitor::{ListenerEvent, ProcessIdentity};
use crate::model::{Finding, Process, Protocol, RuleId, Severity};

/// Listeners waiting for their audit at most.
pub const QUEUE: usize = 64;
/// Bound of each connect, read and write of a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Receives each alert the worker raises, on the worker's thread.
pub type Deliver = Arc<dyn Fn(Alert) + Send + Sync>;

/// The audit thread and its queue; see the module docs.
pub struct AuditWorker {
    queue: SyncSender<ListenerEvent>,
}

impl AuditWorker {
    /// Starts the thread; findings of at least `severity` go to `deliver`.
    /// Each probe is registered in `own` while it runs, for the recorder to
    /// leave its connections out.
    pub fn start(
        severity: Severity,
        deliver: Deliver,
        own: crate::monitor::own::OwnConnections,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel::<ListenerEvent>(QUEUE);
        std::thread::Builder::new().name("alert-audit".into()).spawn(move || {
            for listener in jobs {
                for finding in audit_listener(&Machine, &listener, &own) {
                    if finding.severity >= severity {
                        deliver(finding_alert(&listener, finding));
                    }
                }
            }
        })?;
        Ok(AuditWorker { queue })
    }

    /// Queues a listener; never blocks. False when the queue was full
    /// and the listener will not be audited.
    pub fn submit(&self, listener: ListenerEvent) -> bool {
        match self.queue.try_send(listener) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The alert for one finding about `listener`.
pub fn finding_alert(listener: &ListenerEvent, finding: Finding) -> Alert {
    Alert {
        at: listener.at,
        kind: AlertKind::AuditFinding,
        protocol: listener.protocol,
        local: listener.local,
        path: listener.path.clone(),
        net_namespace: listener.net_namespace,
        process: listener.owners.first().cloned(),
        uid: Some(listener.uid),
        server_process: None,
        reason: format!(
            "{} ({}): {}",
            finding.rule.as_str(),
            finding.severity.as_str(),
            finding.evidence
        ),
        finding: Some(finding),
    }
}

/// Probes one listener passively and runs the audit rules on it.
pub fn audit_listener(
    system: &dyn System,
    listener: &ListenerEvent,
    own: &crate::monitor::own::OwnConnections,
) -> Vec<Finding> {
    let Some(mut target) = target_of(listener) else { return Vec::new() };
    target.environment = crate::audit::owner_environment(system, &target.owners);
    // The recorder's namespace is the one it can probe; a listener of
    // another namespace is judged on its address, owners and firewall only.
    let outcome: Option<Outcome> = target.connect.map(|address| {
        let hint = crate::audit::hint_of(&target);
        let _probing = own.probing(address);
        probes::probe(address, &hint, ProbeOptions { timeout: PROBE_TIMEOUT, active: false })
    });
    let checks: Vec<(u32, restart::RestartCheck)> =
        target.owners.iter().map(|p| (p.pid, restart::check(system, p.pid))).collect();
    let host_firewall = HostFirewall::read(system);
    let judge = |protocol, port| {
        let (verdict, text) = host_firewall.judge_reach(target.reach, protocol, port);
        if target.net_namespace.is_some() {
            (crate::audit::firewall::Verdict::Unknown, text)
        } else {
            (verdict, text)
        }
    };
    let (verdict, firewall_text) = judge(target.protocol, target.port);
    let context = rules::Context {
        target: &target,
        outcome: outcome.as_ref(),
        restart: checks.iter().map(|(pid, check)| (*pid, check)).collect(),
        firewall: verdict,
        firewall_text: &firewall_text,
        memcached_udp: rules::UdpFirewall::of(&target, judge),
        packages: None,
        package_lists_age: None,
        dnf_cache_age: None,
        caller_uid: rustix::process::geteuid().as_raw(),
    };
    // The package rule needs apt's lists and a dpkg scan, and the password
    // rule logs in: neither is a passive check.
    let skip: BTreeSet<RuleId> = [RuleId::OutdatedPackage, RuleId::WeakPassword].into();
    rules::evaluate(&context, &skip)
}

/// The audit's view of one new TCP listener.
fn target_of(listener: &ListenerEvent) -> Option<Target> {
    let local = listener.local?;
    if listener.protocol != Protocol::Tcp {
        return None;
    }
    let connect = listener.net_namespace.is_none().then(|| {
        let ip = match local.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        SocketAddr::new(ip, local.port())
    });
    Some(Target {
        protocol: Protocol::Tcp,
        port: local.port(),
        address: local.ip().to_string(),
        scope: listener.scope,
        // Without the flag (a listener read back from an older record)
        // `[::]` counts as dual-stack, the more exposed reading.
        reach: Reach::of(&local.ip().to_string(), listener.v6only),
        net_namespace: listener.net_namespace,
        connect,
        // The passive audit logs in nowhere.
        other_loopback: None,
        owners: listener.owners.iter().map(process_of).collect(),
        socket_uid: listener.uid,
        backlog: None,
        unix: None,
        environment: std::collections::BTreeMap::new(),
    })
}

fn process_of(identity: &ProcessIdentity) -> Process {
    Process {
        pid: identity.pid,
        name: identity.name.clone(),
        exe: identity.exe.clone(),
        cmdline: identity.cmdline.clone(),
        uid: identity.uid,
        user: identity.user.clone(),
        start_time: identity.start_time,
        unit: identity.unit.clone(),
        container: identity.container.clone(),
        ..Process::default()
    }
}
