//! The alert rules over hand-made events.

use std::net::SocketAddr;

use super::*;
use crate::model::monitor::{CaptureMode, ConnectionEnd};
use crate::model::{Family, Scope};

const OWN_PID: u32 = 999;

fn engine(config: AlertConfig) -> AlertEngine {
    AlertEngine::new(config, OWN_PID)
}

fn started(at: UnixMicros) -> MonitorEvent {
    MonitorEvent::Started { at, mode: CaptureMode::Ebpf, reason: "test".into() }
}

fn process(pid: u32, name: &str, user: &str, uid: u32) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        name: name.into(),
        exe: Some(format!("/usr/bin/{name}")),
        user: Some(user.into()),
        uid,
        ..ProcessIdentity::default()
    }
}

fn listener(at: UnixMicros, change: ListenerChange, address: &str, inode: u64) -> MonitorEvent {
    let local: SocketAddr = address.parse().unwrap();
    let scope = Scope::of_address(local.ip());
    MonitorEvent::Listener(ListenerEvent {
        at,
        change,
        protocol: Protocol::Tcp,
        family: if local.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 },
        local: Some(local),
        path: None,
        inode,
        uid: 1000,
        net_namespace: None,
        scope,
        exposed: scope.is_exposed(),
        v6only: None,
        owners: vec![process(100, "server", "alice", 1000)],
    })
}

fn appeared(at: UnixMicros, address: &str, inode: u64) -> MonitorEvent {
    listener(at, ListenerChange::Appeared, address, inode)
}

fn gone(at: UnixMicros, address: &str, inode: u64) -> MonitorEvent {
    listener(at, ListenerChange::Disappeared, address, inode)
}

fn connection(port: u16, client: Option<ProcessIdentity>) -> MonitorEvent {
    MonitorEvent::Connection(Box::new(ConnectionRecord {
        cookie: 1,
        net_namespace: None,
        client: "127.0.0.1:40000".parse().unwrap(),
        server: SocketAddr::new("127.0.0.1".parse().unwrap(), port),
        started_at: Some(50),
        ended_at: Some(60),
        bytes_client_to_server: 0,
        bytes_server_to_client: 0,
        client_process: client,
        server_process: Some(process(200, "postgres", "postgres", 105)),
        client_uid: Some(1000),
        server_uid: Some(105),
        end: ConnectionEnd::Closed,
    }))
}

fn kinds(judgement: &Judgement) -> Vec<AlertKind> {
    judgement.alerts.iter().map(|alert| alert.kind).collect()
}

#[test]
fn an_exposed_listener_alerts_once_until_it_goes() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let first = engine.observe(&[appeared(10, "0.0.0.0:8080", 1)]);
    assert_eq!(kinds(&first), [AlertKind::NewExposedListener]);
    assert_eq!(first.alerts[0].local, Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(first.alerts[0].process.as_ref().unwrap().pid, 100);
    assert!(first.alerts[0].reason.contains("0.0.0.0:8080"), "{:?}", first.alerts[0]);
    // Still there: nothing new, however many polls.
    assert!(engine.observe(&[]).alerts.is_empty());
    // A second worker socket on the same address is the same listener.
    assert!(engine.observe(&[appeared(20, "0.0.0.0:8080", 2)]).alerts.is_empty());
    engine.observe(&[gone(30, "0.0.0.0:8080", 1)]);
    assert!(engine.observe(&[appeared(40, "0.0.0.0:8080", 3)]).alerts.is_empty());
    // Every socket gone, then back: a new change, a new alert.
    engine.observe(&[gone(50, "0.0.0.0:8080", 2), gone(50, "0.0.0.0:8080", 3)]);
    let again = engine.observe(&[appeared(60, "0.0.0.0:8080", 4)]);
    assert_eq!(kinds(&again), [AlertKind::NewExposedListener]);
}

#[test]
fn loopback_listeners_are_not_exposed() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let judgement = engine.observe(&[appeared(10, "127.0.0.1:8080", 1)]);
    assert!(judgement.alerts.is_empty());
    assert!(judgement.to_audit.is_empty(), "only exposed listeners are audited by default");
}

#[test]
fn the_startup_dump_is_the_baseline() {
    let mut engine = engine(AlertConfig::default());
    let judgement = engine.observe(&[
        started(1),
        appeared(5, "0.0.0.0:22", 1),
        appeared(5, "[::]:22", 2),
        appeared(9, "0.0.0.0:8080", 3),
    ]);
    assert_eq!(kinds(&judgement), [AlertKind::NewExposedListener], "only the later one");
    assert_eq!(judgement.alerts[0].local.unwrap().port(), 8080);
    // A baseline listener that goes and comes back is a change.
    engine.observe(&[gone(20, "0.0.0.0:22", 1)]);
    assert_eq!(
        kinds(&engine.observe(&[appeared(30, "0.0.0.0:22", 4)])),
        [AlertKind::NewExposedListener]
    );

    let mut engine = engine_with(|config| config.existing = true);
    let judgement = engine.observe(&[started(1), appeared(5, "0.0.0.0:22", 1)]);
    assert_eq!(kinds(&judgement), [AlertKind::NewExposedListener]);
}

fn engine_with(change: impl FnOnce(&mut AlertConfig)) -> AlertEngine {
    let mut config = AlertConfig::default();
    change(&mut config);
    engine(config)
}

#[test]
fn watched_ports_and_unexpected_users() {
    let mut engine = engine_with(|config| {
        config.new_exposed_listener = false;
        config.watched_ports = [5432].into();
        config.expected_users = ["postgres".to_string(), "0".to_string()].into();
    });
    engine.observe(&[started(1)]);
    let judgement = engine.observe(&[appeared(10, "127.0.0.1:5432", 1)]);
    assert_eq!(kinds(&judgement), [AlertKind::WatchedPort, AlertKind::UnexpectedUser]);
    assert_eq!(judgement.alerts[1].reason, "owned by alice (uid 1000), not an expected user");

    let MonitorEvent::Listener(mut by_root) = appeared(20, "127.0.0.1:6000", 2) else {
        unreachable!()
    };
    by_root.owners = vec![process(300, "sshd", "root", 0)];
    let judgement = engine.observe(&[MonitorEvent::Listener(by_root)]);
    assert!(judgement.alerts.is_empty(), "uid 0 is expected: {judgement:?}");
}

#[test]
fn new_exposed_ports_go_to_the_audit_once() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let judgement =
        engine.observe(&[appeared(10, "0.0.0.0:6379", 1), appeared(10, "[::]:6379", 2)]);
    assert_eq!(judgement.to_audit.len(), 1, "one audit per port: {judgement:?}");
    assert_eq!(judgement.alerts.len(), 2, "two addresses, two listeners");

    let mut engine = engine_with(|config| config.audit_severity = None);
    engine.observe(&[started(1)]);
    assert!(engine.observe(&[appeared(10, "0.0.0.0:6379", 1)]).to_audit.is_empty());

    let mut engine = engine_with(|config| config.audit_scope = AuditScope::All);
    engine.observe(&[started(1)]);
    assert_eq!(engine.observe(&[appeared(10, "127.0.0.1:6379", 1)]).to_audit.len(), 1);
}

#[test]
fn a_new_client_of_a_sensitive_port_alerts_once() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let psql = process(400, "psql", "alice", 1000);
    let first = engine.observe(&[connection(5432, Some(psql.clone()))]);
    assert_eq!(kinds(&first), [AlertKind::NewClient]);
    assert_eq!(first.alerts[0].server_process.as_ref().unwrap().name, "postgres");
    assert_eq!(first.alerts[0].reason, "/usr/bin/psql connected to port 5432 for the first time");
    // The same executable again, even from another process: nothing.
    let again = process(401, "psql", "alice", 1000);
    assert!(engine.observe(&[connection(5432, Some(again))]).alerts.is_empty());
    // Another sensitive port is another first time.
    assert_eq!(kinds(&engine.observe(&[connection(6379, Some(psql))])), [AlertKind::NewClient]);
    // Not sensitive, unnamed, or the recorder itself: nothing.
    let curl = process(402, "curl", "alice", 1000);
    assert!(engine.observe(&[connection(8080, Some(curl))]).alerts.is_empty());
    assert!(engine.observe(&[connection(5432, None)]).alerts.is_empty());
    let own = process(OWN_PID, "porthole", "root", 0);
    assert!(engine.observe(&[connection(5432, Some(own))]).alerts.is_empty());
}

#[test]
fn clients_remembered_from_the_store_do_not_alert() {
    let mut engine = engine(AlertConfig::default());
    engine.remember_client(5432, "/usr/bin/psql".into());
    engine.observe(&[started(1)]);
    let psql = process(400, "psql", "alice", 1000);
    assert!(engine.observe(&[connection(5432, Some(psql))]).alerts.is_empty());
}

#[test]
fn rules_can_be_turned_off() {
    let mut engine = engine_with(|config| {
        config.new_exposed_listener = false;
        config.sensitive_ports.clear();
    });
    engine.observe(&[started(1)]);
    let psql = process(400, "psql", "alice", 1000);
    let judgement =
        engine.observe(&[appeared(10, "0.0.0.0:8080", 1), connection(5432, Some(psql))]);
    assert!(judgement.alerts.is_empty(), "{judgement:?}");
}

/// A client already connected when the recorder started is reported open,
/// with no start and no end: its first-time alert is dated when it was
/// seen, not at the Unix epoch.
#[test]
fn a_client_reported_open_without_a_start_is_alerted_as_seen_now() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let MonitorEvent::Connection(mut record) =
        connection(5432, Some(process(400, "psql", "alice", 1000)))
    else {
        unreachable!("connection() makes a connection")
    };
    (record.started_at, record.ended_at) = (None, None);
    let before = crate::monitor::unix_micros();
    let judgement = engine.observe(&[MonitorEvent::Connection(record)]);
    assert_eq!(kinds(&judgement), [AlertKind::NewClient]);
    assert!(judgement.alerts[0].at >= before, "{:?}", judgement.alerts[0]);
}
