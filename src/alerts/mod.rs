//! Alerts of `porthole monitor`: rules over the recorder's events that pick
//! out the changes worth telling someone about, and the ways to tell them.
//!
//! # Rules
//! [`AlertEngine`] is plain data in, alerts out, like the audit rules: it
//! sees every batch the recorder writes and raises
//! - `new-exposed-listener`: a listener bound beyond loopback appeared;
//! - `watched-port` / `unexpected-user`: a listener appeared on a port the
//!   configuration watches, or owned by a user it does not expect;
//! - `audit-finding`: the passive audit of a new listener ([`audit`], on a
//!   thread of its own, never on the recording path) found something at or
//!   above the configured severity;
//! - `new-client`: an executable never seen before connected to a
//!   sensitive port (databases, debuggers, the Docker API).
//!
//! # Once per change
//! The recorder reports a listener when it appears and when it goes. The
//! engine counts the sockets per address (a server with several workers on
//! one port has several), alerts when the count leaves zero and forgets the
//! alert when it returns to zero: a listener that stays alerts once, one
//! that goes and comes back alerts again. Listeners found when the
//! recorder starts are the baseline and raise nothing, unless the
//! configuration says `existing = true`.
//!
//! A service in a crash loop (systemd's `Restart=always`) goes and comes
//! back every second, and each return used to be a new alert, a new
//! webhook post and a new passive audit. So the same program back on the
//! same address within `repeat_after` (10 minutes by default) of its last
//! alert is held back: counted, not delivered and not audited again. A
//! listener that keeps flapping alerts at most once per `repeat_after`; a
//! different program on that address alerts at once. A client is judged by its
//! executable and the port it reached; the executables seen before are read
//! from the history store when there is one ([`AlertEngine::remember_client`]),
//! so a restart does not forget them.
//!
//! # Delivery
//! [`command`] runs `--on-alert` commands (bounded in time and number) and
//! [`webhook`] POSTs to `--webhook` from a thread with a bounded queue:
//! neither can hold up recording.

pub mod audit;
pub mod command;
pub mod config;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::model::alert::{Alert, AlertKind};
use crate::model::monitor::{
    ConnectionRecord, ListenerChange, ListenerEvent, MonitorEvent, ProcessIdentity, UnixMicros,
};
use crate::model::Protocol;
pub use config::{AlertConfig, AuditScope};

/// One listening address: the unit an alert is raised once for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AddressKey {
    net_namespace: Option<u64>,
    protocol: Protocol,
    local: Option<SocketAddr>,
    path: Option<String>,
}

/// One port of one namespace: the unit the passive audit probes once for
/// (a dual-stack service listens on `0.0.0.0` and `::`).
type PortKey = (Option<u64>, Protocol, u16);

/// Where the recorder's startup listeners end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Baseline {
    /// No `started` event yet.
    Waiting,
    /// Right after `started`: listener events at this time (the startup
    /// dump stamps all of its events with one time) are the baseline;
    /// `None` until the first one is seen.
    Open(Option<UnixMicros>),
    Closed,
}

/// What one batch led to.
#[derive(Debug, Default, PartialEq)]
pub struct Judgement {
    pub alerts: Vec<Alert>,
    /// New listeners for the passive audit.
    pub to_audit: Vec<ListenerEvent>,
    /// Alerts held back: the same program came back on the same address
    /// within `repeat_after` of its last alert (see the module docs).
    pub held_back: u64,
}

/// One program on one address: the unit a return is held back for.
type Return = (AddressKey, String);

/// Most returns remembered before the old ones are forgotten.
const RETURNS_KEPT: usize = 10_000;

/// The alert rules; see the module docs.
#[derive(Debug)]
pub struct AlertEngine {
    config: AlertConfig,
    /// The recorder's own pid: its audit probes and webhook posts are
    /// connections too, and never alert.
    own_pid: u32,
    listening: HashMap<AddressKey, u32>,
    ports: HashMap<PortKey, u32>,
    /// (server port, client executable) pairs seen.
    clients: HashSet<(u16, String)>,
    /// When each program last appeared (and alerted or was audited) on an
    /// address, for holding back its returns.
    returns: HashMap<Return, UnixMicros>,
    baseline: Baseline,
}

impl AlertEngine {
    /// The rules of `config`; connections of `own_pid` (the recorder) are
    /// never judged.
    pub fn new(config: AlertConfig, own_pid: u32) -> Self {
        let baseline = if config.existing { Baseline::Closed } else { Baseline::Waiting };
        AlertEngine {
            config,
            own_pid,
            listening: HashMap::new(),
            ports: HashMap::new(),
            clients: HashSet::new(),
            returns: HashMap::new(),
            baseline,
        }
    }

    /// The rules in force.
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Records that `executable` connected to `port` before (read from the
    /// history store at start).
    pub fn remember_client(&mut self, port: u16, executable: String) {
        self.clients.insert((port, executable));
    }

    /// Judges one batch, events in the order they were observed.
    pub fn observe(&mut self, events: &[MonitorEvent]) -> Judgement {
        let mut judgement = Judgement::default();
        for event in events {
            match event {
                MonitorEvent::Started { .. } => {
                    if self.baseline == Baseline::Waiting {
                        self.baseline = Baseline::Open(None);
                    }
                }
                MonitorEvent::Listener(listener) => {
                    let baseline = self.in_baseline(listener);
                    self.listener(listener, baseline, &mut judgement);
                }
                MonitorEvent::Connection(record) => {
                    self.close_baseline();
                    if let Some(alert) = self.connection(record) {
                        judgement.alerts.push(alert);
                    }
                }
                MonitorEvent::Loss(_) | MonitorEvent::OpenSnapshot(_) => {}
            }
        }
        // The startup dump is written in the batch that starts with
        // `started`: whatever comes later is a change.
        self.close_baseline();
        judgement
    }

    /// Whether `listener` belongs to the startup dump; closes the baseline
    /// at the first event that does not.
    fn in_baseline(&mut self, listener: &ListenerEvent) -> bool {
        match self.baseline {
            Baseline::Open(None) if listener.change == ListenerChange::Appeared => {
                self.baseline = Baseline::Open(Some(listener.at));
                true
            }
            Baseline::Open(Some(at))
                if at == listener.at && listener.change == ListenerChange::Appeared =>
            {
                true
            }
            Baseline::Waiting => true,
            _ => {
                self.close_baseline();
                false
            }
        }
    }

    fn close_baseline(&mut self) {
        if matches!(self.baseline, Baseline::Open(_)) {
            self.baseline = Baseline::Closed;
        }
    }

    fn listener(&mut self, listener: &ListenerEvent, baseline: bool, out: &mut Judgement) {
        let key = AddressKey {
            net_namespace: listener.net_namespace,
            protocol: listener.protocol,
            local: listener.local,
            path: listener.path.clone(),
        };
        let port =
            listener.local.map(|local| (listener.net_namespace, listener.protocol, local.port()));
        match listener.change {
            ListenerChange::Appeared => {
                let count = self.listening.entry(key.clone()).or_default();
                *count += 1;
                let new_address = *count == 1;
                let new_port = port.is_some_and(|port| {
                    let count = self.ports.entry(port).or_default();
                    *count += 1;
                    *count == 1
                });
                if baseline || !new_address {
                    return;
                }
                let alerts = self.listener_alerts(listener);
                let audit = new_port && self.wants_audit(listener);
                if (!alerts.is_empty() || audit) && self.is_return(key, listener) {
                    out.held_back += alerts.len() as u64;
                    return;
                }
                out.alerts.extend(alerts);
                if audit {
                    out.to_audit.push(listener.clone());
                }
            }
            ListenerChange::Disappeared => {
                decrement(&mut self.listening, key);
                if let Some(port) = port {
                    decrement(&mut self.ports, port);
                }
            }
        }
    }

    /// Whether the program of `listener` came back to `key` within
    /// `repeat_after` of its last alert; if not, this is its alert now.
    fn is_return(&mut self, key: AddressKey, listener: &ListenerEvent) -> bool {
        let program = match listener.owners.first() {
            Some(owner) => executable_of(owner),
            None => format!("uid:{}", listener.uid),
        };
        let window = i64::try_from(self.config.repeat_after.as_micros()).unwrap_or(i64::MAX);
        let identity = (key, program);
        if let Some(last) = self.returns.get(&identity) {
            if listener.at.saturating_sub(*last) < window {
                return true;
            }
        }
        if self.returns.len() >= RETURNS_KEPT {
            let now = listener.at;
            self.returns.retain(|_, last| now.saturating_sub(*last) < window);
        }
        self.returns.insert(identity, listener.at);
        false
    }

    /// Rules (a) and (b) for a listener address that just appeared.
    fn listener_alerts(&self, listener: &ListenerEvent) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let owner = listener.owners.first();
        let alert = |kind: AlertKind, reason: String| Alert {
            at: listener.at,
            kind,
            protocol: listener.protocol,
            local: listener.local,
            path: listener.path.clone(),
            net_namespace: listener.net_namespace,
            process: owner.cloned(),
            uid: Some(listener.uid),
            server_process: None,
            finding: None,
            reason,
        };
        if self.config.new_exposed_listener && listener.exposed {
            let address = listener.local.map_or_else(String::new, |local| local.to_string());
            alerts.push(alert(
                AlertKind::NewExposedListener,
                format!("{} {address} is bound beyond loopback", listener.protocol.as_str()),
            ));
        }
        let Some(local) = listener.local else { return alerts };
        if self.config.watched_ports.contains(&local.port()) {
            alerts.push(alert(AlertKind::WatchedPort, format!("port {} is watched", local.port())));
        }
        if !self.config.expected_users.is_empty() && !self.expected(listener) {
            let who = match owner {
                Some(owner) => user_text(owner.user.as_deref(), owner.uid),
                None => user_text(None, listener.uid),
            };
            alerts.push(alert(
                AlertKind::UnexpectedUser,
                format!("owned by {who}, not an expected user"),
            ));
        }
        alerts
    }

    /// Whether an owner (or, without owners, the socket's uid) is one of
    /// the expected users.
    fn expected(&self, listener: &ListenerEvent) -> bool {
        let expected = &self.config.expected_users;
        if listener.owners.is_empty() {
            return expected.contains(&listener.uid.to_string());
        }
        listener.owners.iter().any(|owner| {
            owner.user.as_ref().is_some_and(|user| expected.contains(user))
                || expected.contains(&owner.uid.to_string())
        })
    }

    fn wants_audit(&self, listener: &ListenerEvent) -> bool {
        self.config.audit_severity.is_some()
            && listener.protocol == Protocol::Tcp
            && (listener.exposed || self.config.audit_scope == AuditScope::All)
    }

    /// Rule (d) for one recorded connection.
    fn connection(&mut self, record: &ConnectionRecord) -> Option<Alert> {
        let port = record.server.port();
        if !self.config.sensitive_ports.contains(&port) {
            return None;
        }
        // Without a name there is nothing to remember: netlink capture
        // cannot name a client that lived less than one interval.
        let client = record.client_process.as_ref()?;
        if client.pid == self.own_pid {
            return None;
        }
        let executable = executable_of(client);
        if !self.clients.insert((port, executable.clone())) {
            return None;
        }
        Some(Alert {
            // A connection reported while open, whose start was not seen
            // (it predates the recorder): seen now.
            at: record.started_at.or(record.ended_at).unwrap_or_else(crate::monitor::unix_micros),
            kind: AlertKind::NewClient,
            protocol: Protocol::Tcp,
            local: Some(record.server),
            path: None,
            net_namespace: record.net_namespace,
            process: Some(client.clone()),
            uid: record.client_uid,
            server_process: record.server_process.clone(),
            finding: None,
            reason: format!("{executable} connected to port {port} for the first time"),
        })
    }
}

/// How a client is remembered: its executable path, else its name.
pub fn executable_of(process: &ProcessIdentity) -> String {
    process.exe.clone().unwrap_or_else(|| process.name.clone())
}

fn user_text(name: Option<&str>, uid: u32) -> String {
    match name {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: K) {
    if let Some(count) = counts.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;
