//! Benchmark of the dashboard (not a test): how long a `/metrics` scrape
//! takes with 1,000 listeners, and how long the JSON views take to page
//! through 10,000 rows, over real HTTP on loopback.
//!
//! Run with `cargo bench --bench dashboard` (no privileges needed). The
//! facts are synthetic but shaped like a busy machine's: 1,000 TCP
//! listeners each owned by its own process, 5,000 client groups of the last
//! hour, 1,000 open connections, 200 audit findings, 10,000 listener
//! changes; they are published once, as the refresher would, so the figures
//! are what a scrape or a page costs on the request path.

#![expect(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use porthole::dashboard::facts::{Facts, OpenConnection, PortTotals, StoreView};
use porthole::dashboard::{self, DashboardState, FactSource};
use porthole::model::history::{ClientSummary, ListenerHistory};
use porthole::model::monitor::{ListenerChange, ListenerEvent, ProcessIdentity};
use porthole::model::{
    Family, Finding, Process, Protocol, RuleId, Scope, Severity, Snapshot, Socket, SocketState,
};
use porthole::proxy::host::HostPolicy;

const LISTENERS: u16 = 1_000;
const ROUNDS: usize = 200;
const TOKEN: &str = "benchmark-token-0123456789abcdef";

fn socket(port: u16, state: SocketState, remote: Option<SocketAddr>, inode: u64) -> Socket {
    let wildcard = port % 10 == 0;
    let ip = if wildcard { Ipv4Addr::UNSPECIFIED } else { Ipv4Addr::LOCALHOST };
    Socket {
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        local: Some(SocketAddr::new(IpAddr::V4(ip), port)),
        remote,
        path: None,
        unix_kind: None,
        peer_inode: None,
        bound_file: None,
        state,
        inode,
        uid: 1000,
        cookie: inode,
        rx_queue: 0,
        tx_queue: 128,
        interface: 0,
        interface_name: None,
        v6only: None,
        net_namespace: None,
        ip_protocol: None,
        owners: vec![u32::from(port)],
    }
}

fn facts() -> Facts {
    let mut snapshot = Snapshot::default();
    for i in 0..LISTENERS {
        let port = 10_000 + i;
        snapshot.sockets.push(socket(port, SocketState::Listen, None, u64::from(port)));
        snapshot.processes.insert(
            u32::from(port),
            Process {
                pid: u32::from(port),
                name: format!("service-{i}"),
                cmdline: vec![format!("/usr/bin/service-{i}"), "--port".into(), port.to_string()],
                uid: 1000,
                start_time: Some(1_795_000_000),
                ..Process::default()
            },
        );
    }
    let identity = |n: u32| ProcessIdentity {
        pid: 50_000 + n,
        start_time: Some(1_795_000_000),
        name: format!("client-{n}"),
        exe: Some(format!("/usr/bin/client-{n}")),
        ..ProcessIdentity::default()
    };
    let now = porthole::store::now_micros();
    let recent_clients: Vec<ClientSummary> = (0..5_000u32)
        .map(|n| ClientSummary {
            host: None,
            net_namespace: None,
            server: SocketAddr::from(([127, 0, 0, 1], 10_000 + (n % u32::from(LISTENERS)) as u16)),
            client: Some(identity(n % 300)),
            client_uid: Some(1000),
            processes: 1,
            pids: vec![n % 300],
            connections: u64::from(n % 17 + 1),
            open: 0,
            first_at: now - 3_000_000_000,
            last_at: now - 1_000_000,
            bytes_client_to_server: 1_000,
            bytes_server_to_client: 20_000,
            server_process: None,
        })
        .collect();
    let session_totals = (0..LISTENERS)
        .map(|i| {
            (
                10_000 + i,
                PortTotals {
                    connections: 1_000 + u64::from(i),
                    bytes_in: 1 << 20,
                    bytes_out: 1 << 24,
                    distinct_clients: 3,
                },
            )
        })
        .collect();
    let changes: Vec<ListenerHistory> = (0..10_000u32)
        .map(|n| ListenerHistory {
            host: None,
            event: ListenerEvent {
                at: now - i64::from(n) * 1_000_000,
                change: if n % 2 == 0 {
                    ListenerChange::Appeared
                } else {
                    ListenerChange::Disappeared
                },
                protocol: Protocol::Tcp,
                family: Family::Ipv4,
                local: Some(SocketAddr::from(([127, 0, 0, 1], 20_000 + (n % 5_000) as u16))),
                path: None,
                inode: u64::from(n),
                uid: 1000,
                net_namespace: None,
                scope: Scope::Loopback,
                exposed: false,
                v6only: None,
                owners: vec![identity(n % 300)],
            },
        })
        .collect();
    let open = (0..1_000u32)
        .map(|n| OpenConnection {
            server: SocketAddr::from(([127, 0, 0, 1], 10_000 + (n % 1_000) as u16)),
            client: SocketAddr::from(([127, 0, 0, 1], 40_000 + n as u16)),
            client_pids: vec![],
            server_pids: vec![10_000 + n % 1_000],
            bytes_in: 100,
            bytes_out: 1_000,
        })
        .collect();
    let findings = (0..200u16)
        .map(|i| Finding {
            rule: if i % 2 == 0 { RuleId::DnsRebinding } else { RuleId::ExposedService },
            severity: if i % 2 == 0 { Severity::Medium } else { Severity::High },
            port: 10_000 + i * 5,
            address: "127.0.0.1".into(),
            protocol: Protocol::Tcp,
            service: Some("http".into()),
            pid: Some(u32::from(10_000 + i * 5)),
            process: Some(format!("service-{}", i * 5)),
            unit: None,
            net_namespace: None,
            evidence: "GET / with a foreign Host → 200".into(),
            fix: "reject foreign Host headers".into(),
        })
        .collect();
    Facts {
        at: now,
        snapshot,
        inventory_note: None,
        open,
        audit: Arc::new(dashboard::facts::AuditView {
            at: Some(now),
            findings,
            ..Default::default()
        }),
        store: StoreView {
            changes,
            recent_programs: porthole::store::by_program(recent_clients.clone()),
            recent_clients,
            session_totals,
            size_bytes: Some(100 << 20),
            ..StoreView::default()
        },
        refresh_seconds: 0.1,
    }
}

fn get(address: SocketAddr, path: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    assert!(body.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&body[..200]));
    (started.elapsed(), body.len())
}

fn report(name: &str, mut times: Vec<Duration>, bytes: usize) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!("| {name} | {:.2} | {:.2} | {:.2} | {} |", at(0.5), at(0.99), at(1.0), bytes);
}

fn main() {
    let source = Arc::new(FactSource::new(None, false));
    source.publish(facts());
    let state = Arc::new(DashboardState {
        token: TOKEN.into(),
        session: porthole::dashboard::token::Session::new(TOKEN).expect("random key"),
        hosts: HostPolicy::default(),
        port: 0,
        metrics_public: false,
        facts: Arc::clone(&source),
        health: Some(Arc::new(dashboard::RecorderHealth::default())),
    });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(dashboard::run(listener, state, std::future::pending::<()>()));

    println!("| request | p50 ms | p99 ms | max ms | bytes |");
    println!("|---|---|---|---|---|");
    for (name, path) in [
        ("/metrics, 1,000 listeners", "/metrics"),
        ("/api/listeners, last page of 1,000", "/api/listeners?offset=950&limit=50"),
        ("/api/changes, last page of 10,000", "/api/changes?offset=9950&limit=50"),
        ("/api/connections, 5,000 client groups", "/api/connections?limit=50"),
        ("/api/open, 1,000 open", "/api/open?offset=950&limit=50"),
    ] {
        // Warm up once (first-touch allocations), then measure.
        let (_, bytes) = get(address, path);
        let times: Vec<Duration> = (0..ROUNDS).map(|_| get(address, path).0).collect();
        report(name, times, bytes);
    }
    let facts = source.current();
    let times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(dashboard::metrics::render(&facts, None, false));
            started.elapsed()
        })
        .collect();
    report("metrics::render alone", times, dashboard::metrics::render(&facts, None, false).len());
}
