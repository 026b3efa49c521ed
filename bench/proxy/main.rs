//! Loopback benchmark of `porthole proxy` (not a test): round-trip latency,
//! single-stream throughput both ways, connection set-up, 1,000 concurrent
//! connections, and toxic accuracy, each measured directly and through the
//! proxy in one run.
//!
//! The proxy runs as its own process (`porthole proxy serve`, from the same
//! build), the upstream servers and clients as threads of this process.
//! Run with `bench/proxy/run.sh`, which builds in release mode; `--only
//! latency,throughput,connect,concurrent,memory,toxics` picks sections and
//! `PORTHOLE_BENCH_BINARY=path` benchmarks another build of the proxy;
//! `--connections N` runs the concurrent section's 100,000 round trips over
//! N connections (1,000 by default).

#![expect(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use porthole::proxy::client::ApiClient;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_porthole");

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    // `--only memory,latency` runs some sections (all by default).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|index| args.get(index + 1))
        .map(|list| list.split(',').map(str::to_string).collect());
    let wanted = |section: &str| only.as_ref().is_none_or(|only| only.iter().any(|s| s == section));
    let scale = if quick { 10 } else { 1 };
    if args.iter().any(|arg| arg == "--echo-server") {
        echo_process();
    }
    let echo_server = spawn_echo_process();
    let (echo, echo_pid) = (echo_server.1, echo_server.0 .0.id());
    let sink = spawn_server(sink);
    let source = spawn_server(source);

    let (proxy, url) = start_proxy();
    let pid = proxy.0.id();
    let api = ApiClient::new(&url).expect("API URL");
    let plain = create(&api, "echo", echo);
    let sink_proxy = create(&api, "sink", sink);
    let source_proxy = create(&api, "source", source);
    let latency_proxy = create(&api, "latency10", echo);
    add_toxic(&api, "latency10", json!({"type": "latency", "attributes": {"latency": 10}}));
    let bandwidth_proxy = create(&api, "bandwidth1000", sink);
    add_toxic(
        &api,
        "bandwidth1000",
        json!({"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1000}}),
    );
    println!("proxy binary: {}\n", proxy_binary());

    if wanted("latency") {
        let samples = 20_000 / scale;
        println!("## 64-byte request/response round trip (µs), one connection, TCP_NODELAY");
        println!("Interleaved runs: direct, then through the proxy, {samples} samples each.");
        println!("CPU per round trip (µs, user + sys, from /proc/PID/stat) is the echo server");
        println!("process's over the direct run and the proxy process's over the proxied run.\n");
        println!("| run | direct p50 | direct p99 | proxy p50 | proxy p99 | added p50 ÷ direct p50 | added p99 ÷ direct p99 | echo CPU/RT | proxy CPU/RT | proxy user share | proxy sys ÷ echo sys | proxy wake-ups/RT |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for run in 1..=5 {
            let before_echo = cpu_ticks(echo_pid);
            let direct = ping_pong(echo, 64, samples);
            let (echo_user, echo_system) = cpu_ticks(echo_pid).since(before_echo);
            let (before, sleeps) = (cpu_ticks(pid), wake_ups(pid));
            let proxied = ping_pong(plain, 64, samples);
            let (user, system) = cpu_ticks(pid).since(before);
            // The warm-up round trips count too.
            let sleeps = (wake_ups(pid) - sleeps) as f64 / (samples + 200) as f64;
            let count = samples as f64;
            let (d50, d99) = (percentile(&direct, 50.0), percentile(&direct, 99.0));
            let (p50, p99) = (percentile(&proxied, 50.0), percentile(&proxied, 99.0));
            let row = [
                (p50 - d50) / d50,
                (p99 - d99) / d99,
                100.0 * user / (user + system).max(1e-9),
                system / echo_system.max(1e-9),
                (user + system) / count,
            ];
            println!(
                "| {run} | {d50:.1} | {d99:.1} | {p50:.1} | {p99:.1} | {:.2} | {:.2} | {:.1} + {:.1} | {:.1} + {:.1} | {:.0}% | {:.2} | {sleeps:.2} |",
                row[0],
                row[1],
                echo_user / count,
                echo_system / count,
                user / count,
                system / count,
                row[2],
                row[3],
            );
            rows.push(row);
        }
        let median = |column: usize| {
            let values: Vec<f64> = rows.iter().map(|row| row[column]).collect();
            percentile(&values, 50.0)
        };
        println!(
            "\nMedians of the runs: added p50 ÷ direct p50 {:.2} (target ≤ 0.5), added p99 ÷ direct p99 {:.2} (target ≤ 1.5), proxy user share {:.0}% (target ≤ 10%), proxy sys ÷ echo sys {:.2} (target ≤ 1.5), proxy CPU {:.1} µs/RT.\n",
            median(0),
            median(1),
            median(2),
            median(3),
            median(4),
        );
    }

    if wanted("throughput") {
        let seconds = if quick { 0.5 } else { 2.0 };
        let bench_pid = std::process::id();
        println!(
            "## Single-stream throughput (MB/s, 1 MB = 10^6 bytes), {seconds} s each, interleaved"
        );
        println!("Proxy CPU is its process's user + sys time per MiB forwarded. \"Ends\" are the");
        println!("client and the sink or source, threads of this benchmark process: their CPU per");
        println!("MiB direct and proxied. \"Cores busy\" is the CPU time of the ends (plus the");
        println!(
            "proxy's when proxied) over the wall time: 2 means both CPUs of a 2-core machine.\n"
        );
        println!(
            "| run | direction | direct | porthole proxy | ratio | proxy CPU µs/MiB (user + sys) | proxy wake-ups/MiB | ends CPU µs/MiB direct / proxied | cores busy direct / proxied |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut ratios = [Vec::new(), Vec::new()];
        for run in 1..=5 {
            for (index, (name, direct_target, proxy_target, measure)) in [
                ("client → server", sink, sink_proxy, upload as fn(SocketAddr, f64) -> (f64, u64)),
                ("server → client", source, source_proxy, download),
            ]
            .into_iter()
            .enumerate()
            {
                let (ends_before, start) = (cpu_ticks(bench_pid), Instant::now());
                let (direct, direct_bytes) = measure(direct_target, seconds);
                let direct_wall = start.elapsed().as_secs_f64() * 1e6;
                let direct_ends = cpu_ticks(bench_pid).since(ends_before);
                let (before, sleeps) = (cpu_ticks(pid), wake_ups(pid));
                let (ends_before, start) = (cpu_ticks(bench_pid), Instant::now());
                let (proxied, bytes) = measure(proxy_target, seconds);
                let proxied_wall = start.elapsed().as_secs_f64() * 1e6;
                let proxied_ends = cpu_ticks(bench_pid).since(ends_before);
                let (user, system) = cpu_ticks(pid).since(before);
                let mebibytes = bytes as f64 / 1048576.0;
                let direct_mebibytes = direct_bytes as f64 / 1048576.0;
                let sleeps = (wake_ups(pid) - sleeps) as f64 / mebibytes;
                let direct_ends = direct_ends.0 + direct_ends.1;
                let proxied_ends = proxied_ends.0 + proxied_ends.1;
                ratios[index].push(proxied / direct);
                println!(
                    "| {run} | {name} | {direct:.0} | {proxied:.0} | {:.0}% | {:.0} + {:.0} | {sleeps:.1} | {:.0} / {:.0} | {:.2} / {:.2} |",
                    100.0 * proxied / direct,
                    user / mebibytes,
                    system / mebibytes,
                    direct_ends / direct_mebibytes,
                    proxied_ends / mebibytes,
                    direct_ends / direct_wall,
                    (proxied_ends + user + system) / proxied_wall,
                );
            }
        }
        println!(
            "\nMedian ratio: client → server {:.0}%, server → client {:.0}% (target ≥ 80%).\n",
            100.0 * percentile(&ratios[0], 50.0),
            100.0 * percentile(&ratios[1], 50.0),
        );
    }

    if wanted("connect") {
        println!("## New connection + 32-byte request/reply + close (µs)");
        println!("| path | p50 | p90 | p99 | mean |");
        println!("|---|---|---|---|---|");
        let connections = 2_000 / scale;
        print_row("direct", &connect_request_close(echo, connections));
        print_row("porthole proxy", &connect_request_close(plain, connections));
        println!();
    }

    if wanted("concurrent") {
        // `--connections N` spreads the same 100,000 round trips (8 client
        // threads, so 8 in flight) over N connections instead of 1,000.
        let connections: usize = args
            .iter()
            .position(|arg| arg == "--connections")
            .and_then(|index| args.get(index + 1))
            .map_or(1000, |count| count.parse().expect("--connections takes a number"));
        let rounds = (100_000 / connections / scale).max(1);
        println!(
            "## {connections} concurrent connections, each doing {rounds} × 64-byte round trips"
        );
        println!(
            "Any failed round trip aborts the benchmark; a printed table means none failed.\n"
        );
        println!("| path | open all (ms) | round trip p50 (µs) | p99 (µs) | total (ms) | proxy CPU µs/RT (user + sys) | proxy wake-ups/RT |");
        println!("|---|---|---|---|---|---|---|");
        for (name, target) in [("direct", echo), ("porthole proxy", plain)] {
            let (before, sleeps) = (cpu_ticks(pid), wake_ups(pid));
            let (open, rtts, total) = concurrent(target, connections, rounds);
            let (user, system) = cpu_ticks(pid).since(before);
            let sleeps = (wake_ups(pid) - sleeps) as f64 / rtts.len() as f64;
            let (cpu, sleeps) = if target == plain {
                let cpu = format!(
                    "{:.1} + {:.1} ({:.0}% user)",
                    user / rtts.len() as f64,
                    system / rtts.len() as f64,
                    100.0 * user / (user + system).max(1e-9)
                );
                (cpu, format!("{sleeps:.2}"))
            } else {
                ("-".to_string(), "-".to_string())
            };
            println!(
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {cpu} | {sleeps} |",
                open.as_secs_f64() * 1e3,
                percentile(&rtts, 50.0),
                percentile(&rtts, 99.0),
                total.as_secs_f64() * 1e3
            );
        }
        println!();
    }

    if wanted("memory") {
        memory_rounds(pid, &api, plain, if quick { 200 } else { 1000 });
    }

    if wanted("toxics") {
        println!("## Toxic accuracy");
        let direct_small = ping_pong(echo, 64, 2_000 / scale);
        let delayed = ping_pong(latency_proxy, 64, 500 / scale);
        let added = (percentile(&delayed, 50.0) - percentile(&direct_small, 50.0)) / 1e3;
        println!(
            "- latency 10 ms (downstream): round trip p50 {:.2} ms, p99 {:.2} ms; added at p50 {added:.2} ms (target 10 ± 1)",
            percentile(&delayed, 50.0) / 1e3,
            percentile(&delayed, 99.0) / 1e3,
        );
        let bytes = if quick { 1_000_000 } else { 5_000_000 };
        let rate = bounded_upload(bandwidth_proxy, bytes);
        println!(
            "- bandwidth rate=1000 KB/s (upstream): {rate:.3} MB/s over {} MB (target 1.0 ± 5%)",
            bytes / 1_000_000
        );
    }
}

/// Four rounds of `count` concurrent connections (each 10 round trips of
/// 64 bytes and one 64 KiB echo, so buffers grow as they do in real use)
/// through one proxy, recording its RSS, heap and descriptors when idle
/// after each round.
fn memory_rounds(pid: u32, api: &ApiClient, target: SocketAddr, count: usize) {
    println!("## Memory and descriptors: four rounds of {count} concurrent connections");
    println!("After each round every client has closed; figures are read once the proxy's");
    println!("descriptors are back to idle and one more second has passed.\n");
    println!("| after | RSS (MiB) | heap in use (MiB) | heap free, retained (MiB) | descriptors |");
    println!("|---|---|---|---|---|");
    let idle_fds = fds(pid);
    let row = |label: &str| {
        let metrics = api.request("GET", "/metrics", None, &[]).expect("metrics").text();
        let heap = |name: &str| metric(&metrics, name) as f64 / 1048576.0;
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} | {} |",
            rss_kib(pid) as f64 / 1024.0,
            heap("porthole_heap_in_use_bytes"),
            heap("porthole_heap_free_retained_bytes"),
            fds(pid)
        );
    };
    row("idle");
    for round in 1..=4 {
        let streams: Vec<TcpStream> = (0..count).map(|_| connect(target)).collect();
        let threads = 8;
        let per_thread = count.div_ceil(threads);
        let mut streams = streams.into_iter();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut mine: Vec<TcpStream> = streams.by_ref().take(per_thread).collect();
                std::thread::spawn(move || {
                    let message = [3u8; 64];
                    let mut back = [0u8; 64];
                    let big = vec![9u8; 64 << 10];
                    let mut big_back = vec![0u8; 64 << 10];
                    for _ in 0..10 {
                        for stream in &mut mine {
                            stream.write_all(&message).expect("write");
                            stream.read_exact(&mut back).expect("read");
                        }
                    }
                    for stream in &mut mine {
                        stream.write_all(&big).expect("write");
                        stream.read_exact(&mut big_back).expect("read");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("client thread");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while fds(pid) > idle_fds && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1));
        row(&format!("round {round}"));
    }
    println!();
}

/// The proxy under test: `PORTHOLE_BENCH_BINARY` (to compare another build)
/// or this build's `porthole`.
fn proxy_binary() -> String {
    std::env::var("PORTHOLE_BENCH_BINARY").unwrap_or_else(|_| BINARY.to_string())
}

/// A process's CPU time so far, in µs (user, system), from `/proc/PID/stat`
/// (clock ticks of 10 ms: runs are long enough for that resolution).
#[derive(Clone, Copy)]
struct CpuTicks(f64, f64);

impl CpuTicks {
    fn since(self, before: CpuTicks) -> (f64, f64) {
        (self.0 - before.0, self.1 - before.1)
    }
}

fn cpu_ticks(pid: u32) -> CpuTicks {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    let tick = 1e6 / rustix::param::clock_ticks_per_second() as f64;
    CpuTicks(
        fields[11].parse::<f64>().expect("utime") * tick,
        fields[12].parse::<f64>().expect("stime") * tick,
    )
}

/// Times the process's threads went to sleep waiting (voluntary context
/// switches, summed over `/proc/PID/task/*/status`): its wake-ups.
fn wake_ups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|value| value.trim().parse::<u64>().ok())
        })
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

fn print_row(name: &str, samples: &[f64]) {
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {mean:.1} |",
        percentile(samples, 50.0),
        percentile(samples, 90.0),
        percentile(samples, 99.0)
    );
}

/// Percentile of microsecond samples (nearest rank).
fn percentile(samples: &[f64], pct: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn start_proxy() -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = Command::new(proxy_binary())
        .args(["proxy", "serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start porthole proxy serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("start-up line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("API URL")
        .to_string();
    (KillOnDrop(child), url)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn create(api: &ApiClient, name: &str, upstream: SocketAddr) -> SocketAddr {
    let proxy = api.create(name, "127.0.0.1:0", &upstream.to_string()).expect("create proxy");
    proxy.listen.parse().expect("listen address")
}

fn add_toxic(api: &ApiClient, proxy: &str, toxic: serde_json::Value) {
    let toxic = porthole::proxy::wire::ToxicRequestWire::from_value(&toxic).expect("toxic request");
    api.add_toxic(proxy, &toxic).expect("add toxic");
}

/// A thread-per-connection server running `handle` for each client.
fn spawn_server(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    // std listens with a backlog of 128; 1,000 simultaneous connects would
    // overflow it and wait for SYN retransmits.
    rustix::net::listen(&listener, 4096).expect("listen backlog");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            std::thread::spawn(move || handle(stream));
        }
    });
    address
}

/// The minimal echo server, as its own process so its CPU time can be read
/// apart from the clients': this benchmark run again with `--echo-server`.
/// Prints its port and serves until killed.
fn echo_process() -> ! {
    let address = spawn_server(echo);
    println!("{}", address.port());
    std::io::stdout().flush().expect("stdout");
    loop {
        std::thread::park();
    }
}

fn spawn_echo_process() -> (KillOnDrop, SocketAddr) {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().expect("benchmark path"))
        .arg("--echo-server")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the echo server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("echo server port");
    let port: u16 = line.trim().parse().expect("port");
    (KillOnDrop(child), SocketAddr::from(([127, 0, 0, 1], port)))
}

fn echo(mut stream: TcpStream) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(count) = stream.read(&mut buffer) {
        if count == 0 || stream.write_all(&buffer[..count]).is_err() {
            return;
        }
    }
}

/// Reads everything, then answers with the byte count (8 bytes, LE).
fn sink(mut stream: TcpStream) {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    while let Ok(count) = stream.read(&mut buffer) {
        if count == 0 {
            break;
        }
        total += count as u64;
    }
    let _ = stream.write_all(&total.to_le_bytes());
}

/// Writes until the client goes away.
fn source(mut stream: TcpStream) {
    let buffer = vec![0x5au8; 256 * 1024];
    while stream.write_all(&buffer).is_ok() {}
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

fn ping_pong(address: SocketAddr, size: usize, samples: usize) -> Vec<f64> {
    let mut stream = connect(address);
    let message = vec![1u8; size];
    let mut back = vec![0u8; size];
    for _ in 0..200 {
        stream.write_all(&message).unwrap();
        stream.read_exact(&mut back).unwrap();
    }
    (0..samples)
        .map(|_| {
            let start = Instant::now();
            stream.write_all(&message).unwrap();
            stream.read_exact(&mut back).unwrap();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// MB/s sending for `seconds`, counted by the sink, and the bytes sent.
fn upload(address: SocketAddr, seconds: f64) -> (f64, u64) {
    let mut stream = connect(address);
    let buffer = vec![0xa5u8; 256 * 1024];
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        stream.write_all(&buffer).unwrap();
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).unwrap();
    let count = u64::from_le_bytes(count);
    (count as f64 / start.elapsed().as_secs_f64() / 1e6, count)
}

/// MB/s receiving for `seconds`, and the bytes received.
fn download(address: SocketAddr, seconds: f64) -> (f64, u64) {
    let mut stream = connect(address);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        total += stream.read(&mut buffer).unwrap() as u64;
    }
    (total as f64 / start.elapsed().as_secs_f64() / 1e6, total)
}

/// MB/s for sending exactly `bytes` and getting the sink's confirmation.
fn bounded_upload(address: SocketAddr, bytes: usize) -> f64 {
    let mut stream = connect(address);
    let buffer = vec![0xa5u8; 64 * 1024];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let now = left.min(buffer.len());
        stream.write_all(&buffer[..now]).unwrap();
        left -= now;
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).unwrap();
    assert_eq!(u64::from_le_bytes(count), bytes as u64);
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn connect_request_close(address: SocketAddr, samples: usize) -> Vec<f64> {
    let request = [7u8; 32];
    let mut reply = [0u8; 32];
    (0..samples + 50)
        .map(|_| {
            let start = Instant::now();
            let mut stream = connect(address);
            stream.write_all(&request).unwrap();
            stream.read_exact(&mut reply).unwrap();
            drop(stream);
            start.elapsed().as_secs_f64() * 1e6
        })
        .skip(50)
        .collect()
}

/// Opens `count` connections, then has 8 threads run `rounds` round trips
/// on each; returns the time to open them all, every round trip, and the
/// total time.
fn concurrent(address: SocketAddr, count: usize, rounds: usize) -> (Duration, Vec<f64>, Duration) {
    let start = Instant::now();
    let streams: Vec<TcpStream> = (0..count).map(|_| connect(address)).collect();
    let open = start.elapsed();
    let threads = 8;
    let per_thread = count / threads;
    let mut streams = streams.into_iter();
    let failures = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let mut mine: Vec<TcpStream> = streams.by_ref().take(per_thread).collect();
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || {
                let message = [3u8; 64];
                let mut back = [0u8; 64];
                let mut samples = Vec::with_capacity(mine.len() * rounds);
                for _ in 0..rounds {
                    for stream in &mut mine {
                        let started = Instant::now();
                        if stream.write_all(&message).is_err()
                            || stream.read_exact(&mut back).is_err()
                        {
                            failures.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        samples.push(started.elapsed().as_secs_f64() * 1e6);
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for handle in handles {
        samples.extend(handle.join().expect("client thread"));
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "round trips failed");
    (open, samples, start.elapsed())
}
