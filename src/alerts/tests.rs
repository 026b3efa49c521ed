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
    // Every socket gone, then back after `repeat_after`: a new change, a
    // new alert.
    engine.observe(&[gone(50, "0.0.0.0:8080", 2), gone(50, "0.0.0.0:8080", 3)]);
    let later = 10 + REPEAT_AFTER_US;
    let again = engine.observe(&[appeared(later, "0.0.0.0:8080", 4)]);
    assert_eq!(kinds(&again), [AlertKind::NewExposedListener]);
}

/// The default `repeat_after`, in microseconds.
const REPEAT_AFTER_US: i64 = 600_000_000;

/// A crash-looping service (systemd `Restart=always`) binds 0.0.0.0 again
/// every second: its first appearance alerts and is audited, its returns
/// within `repeat_after` are held back (counted), a different program on
/// the address alerts at once, and a loop still going after `repeat_after`
/// alerts once more. Before, every return was an alert, a webhook post
/// and a passive audit.
#[test]
fn a_crash_looping_listener_alerts_once_per_repeat_after() {
    let mut engine = engine(AlertConfig::default());
    engine.observe(&[started(1)]);
    let first = engine.observe(&[appeared(10, "0.0.0.0:8080", 1)]);
    assert_eq!(kinds(&first), [AlertKind::NewExposedListener]);
    assert_eq!(first.to_audit.len(), 1);
    let mut held = 0;
    for restart in 1..=20u64 {
        let at = 10 + restart as i64 * 1_000_000;
        engine.observe(&[gone(at - 500_000, "0.0.0.0:8080", restart)]);
        let back = engine.observe(&[appeared(at, "0.0.0.0:8080", restart + 1)]);
        assert!(back.alerts.is_empty(), "restart {restart}: {back:?}");
        assert!(back.to_audit.is_empty(), "restart {restart} audited again");
        held += back.held_back;
    }
    assert_eq!(held, 20);
    engine.observe(&[gone(30_000_000, "0.0.0.0:8080", 21)]);
    // Another program on the same address is news.
    let mut other = appeared(31_000_000, "0.0.0.0:8080", 30);
    if let MonitorEvent::Listener(listener) = &mut other {
        listener.owners = vec![process(200, "nc", "mallory", 1001)];
    }
    let other = engine.observe(&[other]);
    assert_eq!(kinds(&other), [AlertKind::NewExposedListener]);
    assert_eq!(other.held_back, 0);
    engine.observe(&[gone(32_000_000, "0.0.0.0:8080", 30)]);
    // Still looping after repeat_after: one alert more.
    let later = engine.observe(&[appeared(10 + REPEAT_AFTER_US, "0.0.0.0:8080", 40)]);
    assert_eq!(kinds(&later), [AlertKind::NewExposedListener]);
    assert_eq!(later.to_audit.len(), 1);

    // The rules file sets the period.
    let mut engine = engine_with(|config| config.repeat_after = std::time::Duration::from_secs(1));
    engine.observe(&[started(1)]);
    assert_eq!(engine.observe(&[appeared(10, "0.0.0.0:9090", 1)]).alerts.len(), 1);
    engine.observe(&[gone(20, "0.0.0.0:9090", 1)]);
    assert_eq!(engine.observe(&[appeared(1_000_010, "0.0.0.0:9090", 2)]).alerts.len(), 1);
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
