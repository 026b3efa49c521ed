//! Benchmark of the alert rules of `porthole monitor` (not a test): the
//! work they add to the recording thread per event, and per alert.
//!
//! The engine sees what the recorder writes: batches of connection records
//! (a quarter to sensitive ports, from 50 client executables, so after
//! the first few hundred events almost every client has been seen) with a
//! listener appearing or going every 100 events, a fifth of them beyond
//! loopback. The time per event is the engine's `observe` over all
//! batches; the time per alert is what the recording thread does for each
//! one before handing it to the queues: the log line and the JSON.
//!
//! Run with `bench/alerts/run.sh` (release build).

#![expect(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::net::SocketAddr;
use std::time::Instant;

use porthole::alerts::{AlertConfig, AlertEngine};
use porthole::model::monitor::{
    CaptureMode, ConnectionEnd, ConnectionRecord, ListenerChange, ListenerEvent, MonitorEvent,
    ProcessIdentity,
};
use porthole::model::{Family, Protocol, Scope};

const EVENTS: usize = 2_000_000;
/// The recorder's largest batch (`monitor::BATCH_SIZE`).
const BATCH: usize = 4096;
const PORTS: [u16; 8] = [5432, 8080, 3000, 6379, 8000, 5173, 4000, 9229];

fn process(pid: u32, exe: usize) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        start_time: Some(1_795_800_000),
        start_ticks: None,
        name: format!("client{exe}"),
        exe: Some(format!("/usr/bin/client{exe}")),
        cmdline: vec![format!("client{exe}"), "--flag".into()],
        uid: 1000,
        user: Some("alice".into()),
        ..ProcessIdentity::default()
    }
}

fn listener(index: usize, change: ListenerChange) -> MonitorEvent {
    let exposed = index % 5 == 0;
    let address = if exposed { "0.0.0.0" } else { "127.0.0.1" };
    let local: SocketAddr = format!("{address}:{}", 20_000 + index % 500).parse().unwrap();
    MonitorEvent::Listener(ListenerEvent {
        at: index as i64,
        change,
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: Some(local),
        path: None,
        inode: index as u64,
        uid: 1000,
        net_namespace: None,
        scope: if exposed { Scope::Wildcard } else { Scope::Loopback },
        v6only: None,
        exposed,
        owners: vec![process(7, 999)],
    })
}

fn events() -> Vec<MonitorEvent> {
    let mut events =
        vec![MonitorEvent::Started { at: 0, mode: CaptureMode::Ebpf, reason: "bench".into() }];
    for index in 0..EVENTS {
        if index % 100 == 0 {
            let change = if (index / 100) % 2 == 0 {
                ListenerChange::Appeared
            } else {
                ListenerChange::Disappeared
            };
            events.push(listener(index / 200, change));
            continue;
        }
        let port = PORTS[index % PORTS.len()];
        events.push(MonitorEvent::Connection(Box::new(ConnectionRecord {
            cookie: index as u64,
            net_namespace: None,
            client: SocketAddr::from(([127, 0, 0, 1], 40_000 + (index % 20_000) as u16)),
            server: SocketAddr::from(([127, 0, 0, 1], port)),
            started_at: Some(index as i64),
            ended_at: Some(index as i64 + 500),
            bytes_client_to_server: 78,
            bytes_server_to_client: 875,
            client_process: Some(process(10_000 + (index % 300) as u32, index % 50)),
            server_process: Some(process(9, 1000)),
            client_uid: Some(1000),
            server_uid: Some(1000),
            end: ConnectionEnd::Closed,
        })));
    }
    events
}

fn main() {
    let events = events();
    let mut engine = AlertEngine::new(AlertConfig::default(), std::process::id());
    let started = Instant::now();
    let mut alerts = Vec::new();
    for batch in events.chunks(BATCH) {
        alerts.extend(engine.observe(batch).alerts);
    }
    let observed = started.elapsed();
    let per_event = observed.as_nanos() as f64 / events.len() as f64;
    println!(
        "rules: {} events in {:.1} ms: {per_event:.0} ns per event; {} alerts",
        events.len(),
        observed.as_secs_f64() * 1000.0,
        alerts.len()
    );

    let rounds = 200;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        for alert in &alerts {
            bytes += porthole::render::alert::log_line(alert).len();
            bytes += porthole::render::alert::json(alert).len();
        }
    }
    let rendered = started.elapsed();
    let per_alert = rendered.as_nanos() as f64 / (rounds * alerts.len()) as f64;
    println!(
        "per alert on the recording thread (log line + JSON): {:.1} µs ({bytes} bytes rendered)",
        per_alert / 1000.0
    );
}
