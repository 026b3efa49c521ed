//! Benchmark of `porthole monitor` (not a test): how many short-lived
//! loopback connections it records, how often it names the right client
//! and server process, what it loses, and what it costs — recorder CPU at
//! rest, at 1,000 and at 5,000 connections/s, its memory, and the latency
//! the workload sees with and without it.
//!
//! Run with `bench/monitor/run.sh` (root: eBPF and sock_diag subscriptions
//! need it), which runs this inside a fresh network namespace so only the
//! benchmark's own connections are recorded. `--latency [ROUNDS [SECONDS]]` runs only
//! the workload-latency comparison, interleaved (see [`latency_rounds`]);
//! `--churn [SECONDS]` only the recorder's CPU while processes start (see
//! [`churn`]).
//! `PORTHOLE_BENCH_BINARY` points every mode at another build of porthole.
//! `PORTHOLE_BENCH_BEFORE` names an earlier build: the latency comparison
//! then runs `none`, `ebpf` and `ebpf-before` (that build's eBPF recorder)
//! in turn, so two builds are compared within one run.
//! Two knobs for the latency comparison: `PORTHOLE_BENCH_RECORDER_WRAPPER` runs
//! the recorder under a command (`nice -n 19`, `chrt -i 0`) to measure
//! scheduling policies, and `PORTHOLE_BENCH_ONLY=none|ebpf|netlink` runs
//! only that variant (to attach a profiler), without the comparison.
//!
//! The workload: one server process (this one, several accept threads) on
//! port 7000 of every 127.0.0.0/8 address, and eight client processes (this
//! binary re-run with `--worker`), each connecting to its own address
//! 127.0.0.(2+i) at an even pace: connect, send 32 bytes, read the 32-byte
//! answer, close. The address tells which worker — which pid — made a
//! connection, so every record's client and server pid can be checked.

#![expect(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_porthole");
const PORT: u16 = 7000;
const WORKERS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--worker") {
        worker(&args[position + 1..]);
        return;
    }
    let quick = args.iter().any(|arg| arg == "--quick");
    let scale = if quick { 4 } else { 1 };
    assert!(rustix::process::geteuid().is_root(), "run as root (bench/monitor/run.sh)");
    for (path, value) in [
        ("/proc/sys/net/ipv4/ip_local_port_range", "1024 65000"),
        ("/proc/sys/net/ipv4/tcp_tw_reuse", "1"),
    ] {
        std::fs::write(path, value).expect("namespace sysctl");
    }
    serve();
    if let Some(position) = args.iter().position(|arg| arg == "--churn") {
        let seconds = args.get(position + 1).and_then(|n| n.parse().ok()).unwrap_or(10);
        churn(Duration::from_secs(seconds));
        return;
    }
    if let Some(position) = args.iter().position(|arg| arg == "--latency") {
        // Program statistics time every run of every program (two clock
        // reads each): they stay off while latency is what is measured.
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0");
        let rounds = args.get(position + 1).and_then(|n| n.parse().ok()).unwrap_or(5);
        let seconds = args.get(position + 2).and_then(|n| n.parse().ok()).unwrap_or(10);
        latency_rounds(rounds, Duration::from_secs(seconds));
        return;
    }
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");

    println!("## Workload latency without the recorder");
    let baseline = run_load(5000, Duration::from_secs(20 / scale));
    print_load("5,000/s, no recorder", &baseline);

    for (mode, rate, seconds) in [
        ("ebpf", 0, 20),
        ("ebpf", 1000, 20),
        ("ebpf", 5000, 60),
        ("netlink", 0, 20),
        ("netlink", 1000, 20),
        ("netlink", 5000, 20),
    ] {
        let seconds = seconds / scale;
        let recorder = Recorder::start(mode);
        let before = recorder.cpu_ticks();
        let started = Instant::now();
        let load = if rate == 0 {
            std::thread::sleep(Duration::from_secs(seconds));
            None
        } else {
            Some(run_load(rate, Duration::from_secs(seconds)))
        };
        let elapsed = started.elapsed();
        let cpu = (recorder.cpu_ticks() - before) as f64
            / rustix::param::clock_ticks_per_second() as f64
            / elapsed.as_secs_f64()
            * 100.0;
        let bpf = recorder.bpf_runtime();
        let rss = recorder.peak_rss_kib();
        let summary = recorder.stop();
        let label = if rate == 0 {
            format!("{mode}, idle {seconds} s")
        } else {
            format!("{mode}, {rate}/s for {seconds} s")
        };
        println!("## {label}");
        println!("recorder CPU: {cpu:.1}% of one core; peak RSS: {:.1} MiB", rss as f64 / 1024.0);
        if let Some((runs, nanoseconds)) = bpf {
            if runs > 0 {
                println!(
                    "eBPF programs: {runs} runs, {:.2} µs per run, {:.1} µs kernel time per connection",
                    nanoseconds as f64 / runs as f64 / 1000.0,
                    load.as_ref().map_or(0.0, |l| nanoseconds as f64 / l.connections as f64 / 1000.0)
                );
            }
        }
        if let Some(load) = load {
            print_load(&label, &load);
            summary.report(&load, mode);
        }
        println!();
    }
    let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0");
}

/// The workload's latency with and without the recorder, interleaved: each
/// round runs 5,000 connections/s for `seconds` with no recorder, with the
/// eBPF recorder and with the netlink recorder, in an order that rotates
/// from round to round, so a slow minute of the shared machine falls on
/// every variant alike. Prints each run and, per variant, the median over
/// the rounds and its ratio to the unrecorded median.
///
/// Latency on two shared cores swings from run to run, so each run also
/// reports CPU per connection, exact from `schedstat`: of the workload's
/// own tasks (where the eBPF programs and the kernel's close path run), of
/// the recorder, and of the machine's kworkers (where the destroy
/// broadcast's queued work runs; other work's kworker time counts too).
fn latency_rounds(rounds: usize, seconds: Duration) {
    let variants: &[&str] = if std::env::var_os("PORTHOLE_BENCH_BEFORE").is_some() {
        &["none", "ebpf", "ebpf-before"]
    } else {
        &["none", "ebpf", "netlink"]
    };
    let mut p50: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut p99: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut cpu: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut kworker: HashMap<&str, Vec<f64>> = HashMap::new();
    let store_directory =
        std::env::temp_dir().join(format!("porthole-bench-{}", std::process::id()));
    std::fs::create_dir_all(&store_directory).expect("store directory");
    println!("## Interleaved latency, 5,000/s, {} s per run, {rounds} rounds", seconds.as_secs());
    println!("# recorders write to SQLite stores in {}", store_directory.display());
    println!(
        "| round | recorder | connections | p50 (µs) | p99 (µs) | workload CPU µs/conn | recorder CPU µs/conn | kworker CPU µs/conn |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for round in 0..rounds {
        for turn in 0..variants.len() {
            let variant = variants[(round + turn) % variants.len()];
            if std::env::var("PORTHOLE_BENCH_ONLY").is_ok_and(|only| only != variant) {
                continue;
            }
            let recorder =
                (variant != "none").then(|| Recorder::start_storing(variant, &store_directory));
            let recorder_before = recorder.as_ref().map_or(0, Recorder::cpu_ns);
            let kworker_before = kworker_cpu_ns();
            let load = run_load(5000, seconds);
            let kworker_ns = kworker_cpu_ns().saturating_sub(kworker_before);
            let recorder_ns =
                recorder.as_ref().map_or(0, |r| r.cpu_ns().saturating_sub(recorder_before));
            if let Some(recorder) = recorder {
                recorder.stop();
            }
            let per_connection = |ns: u64| ns as f64 / 1000.0 / load.connections.max(1) as f64;
            let (median, tail) = (
                micros(percentile(&load.latencies, 0.5)),
                micros(percentile(&load.latencies, 0.99)),
            );
            println!(
                "| {} | {variant} | {} | {median:.1} | {tail:.1} | {:.1} | {:.1} | {:.1} |",
                round + 1,
                load.connections,
                per_connection(load.workload_cpu_ns),
                per_connection(recorder_ns),
                per_connection(kworker_ns),
            );
            p50.entry(variant).or_default().push(median);
            p99.entry(variant).or_default().push(tail);
            cpu.entry(variant).or_default().push(per_connection(load.workload_cpu_ns));
            kworker.entry(variant).or_default().push(per_connection(kworker_ns));
        }
    }
    let _ = std::fs::remove_dir_all(&store_directory);
    // Medians of copies: the lists stay in round order, which the pairing
    // of each round with its own unrecorded run depends on.
    let median_of = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    if variants.iter().any(|variant| !p50.contains_key(variant)) {
        // PORTHOLE_BENCH_ONLY: single runs (for a profiler), no comparison.
        return;
    }
    let base50 = median_of(&p50["none"]);
    let base99 = median_of(&p99["none"]);
    // Each round's own ratio to its own unrecorded run (the lists are in
    // round order): what a slow stretch of the machine shifts, it shifts
    // for the three runs of a round alike.
    let paired = |values: &HashMap<&str, Vec<f64>>, variant: &str| {
        let ratios: Vec<f64> =
            values[variant].iter().zip(&values["none"]).map(|(run, base)| run / base).collect();
        median_with_interval(&ratios)
    };
    let paired50: Vec<(&str, (f64, f64, f64))> =
        variants.iter().map(|v| (*v, paired(&p50, v))).collect();
    let paired_cpu: Vec<(&str, (f64, f64, f64))> =
        variants.iter().map(|v| (*v, paired(&cpu, v))).collect();
    let base_cpu = median_of(&cpu["none"]);
    println!();
    println!(
        "| recorder | median p50 (µs) | ÷ unrecorded | median of rounds' p50 ÷ unrecorded | its 95% interval | median p99 (µs) | ÷ unrecorded | median workload CPU µs/conn | ÷ unrecorded | median of rounds' CPU ÷ unrecorded | median kworker CPU µs/conn |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &variant in variants {
        let m50 = median_of(&p50[variant]);
        let m99 = median_of(&p99[variant]);
        let mcpu = median_of(&cpu[variant]);
        let mkworker = median_of(&kworker[variant]);
        let find = |pairs: &[(&str, (f64, f64, f64))]| {
            pairs.iter().find(|(v, _)| *v == variant).map_or((1.0, 1.0, 1.0), |(_, r)| *r)
        };
        let (round50, low50, high50) = find(&paired50);
        let (round_cpu, _, _) = find(&paired_cpu);
        println!(
            "| {variant} | {m50:.1} | {:.2} | {round50:.2} | {low50:.2}–{high50:.2} | {m99:.1} | {:.2} | {mcpu:.1} | {:.2} | {round_cpu:.2} | {mkworker:.1} |",
            m50 / base50,
            m99 / base99,
            mcpu / base_cpu
        );
    }
}

/// The median of `values` and a 95% bootstrap interval for it (2,000
/// resamples, fixed seed): how far the median of a few rounds can be
/// trusted on a machine whose latency swings between runs.
fn median_with_interval(values: &[f64]) -> (f64, f64, f64) {
    let median = |sample: &mut Vec<f64>| {
        sample.sort_unstable_by(f64::total_cmp);
        sample[sample.len() / 2]
    };
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64: enough to draw indices.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut medians: Vec<f64> = (0..2000)
        .map(|_| {
            let mut sample: Vec<f64> = (0..values.len())
                .map(|_| values[(next() % values.len() as u64) as usize])
                .collect();
            median(&mut sample)
        })
        .collect();
    medians.sort_unstable_by(f64::total_cmp);
    (median(&mut values.to_vec()), medians[50], medians[1949])
}

/// The recorder's CPU while processes start and exit with no network
/// activity at all, as during a build: this process starts `/bin/true`
/// one after another for `seconds`, in the recorded namespace (so every
/// one is read), under each capture mode and twice in turn.
fn churn(seconds: Duration) {
    let store_directory =
        std::env::temp_dir().join(format!("porthole-bench-{}", std::process::id()));
    std::fs::create_dir_all(&store_directory).expect("store directory");
    println!("## Recorder CPU while processes start, {} s per run", seconds.as_secs());
    println!("| run | recorder | processes started | per second | recorder CPU µs/process | recorder % of a core |");
    println!("|---|---|---|---|---|---|");
    for run in 1..=2 {
        for mode in ["ebpf", "netlink"] {
            let recorder = Recorder::start_storing(mode, &store_directory);
            let before = recorder.cpu_ns();
            let started = Instant::now();
            let mut processes = 0u64;
            while started.elapsed() < seconds {
                let status = Command::new("/bin/true").status().expect("/bin/true runs");
                assert!(status.success());
                processes += 1;
            }
            let elapsed = started.elapsed().as_secs_f64();
            let cpu_ns = recorder.cpu_ns().saturating_sub(before);
            recorder.stop();
            println!(
                "| {run} | {mode} | {processes} | {:.0} | {:.1} | {:.1} |",
                processes as f64 / elapsed,
                cpu_ns as f64 / 1000.0 / processes.max(1) as f64,
                cpu_ns as f64 / 1e9 / elapsed * 100.0,
            );
        }
    }
    let _ = std::fs::remove_dir_all(&store_directory);
}

/// Accepts on 0.0.0.0:PORT with four threads: read 32 bytes, answer 32,
/// close (the server closes first, so TIME-WAIT stays on its side).
fn serve() {
    let listener = TcpListener::bind(("0.0.0.0", PORT)).expect("bind the server port");
    for _ in 0..4 {
        let listener = listener.try_clone().expect("clone listener");
        std::thread::spawn(move || {
            SERVER_THREADS.lock().unwrap().push(rustix::thread::gettid().as_raw_nonzero().get());
            loop {
                let Ok((mut stream, _)) = listener.accept() else { continue };
                let mut request = [0u8; 32];
                if stream.read_exact(&mut request).is_ok() {
                    let _ = stream.write_all(&request);
                }
            }
        });
    }
    std::mem::forget(listener);
}

/// What the workers did.
struct Load {
    connections: u64,
    errors: u64,
    seconds: f64,
    /// Per-connection latency in tenths of a microsecond, all workers.
    latencies: Vec<u32>,
    /// Worker address → pid.
    pids: HashMap<Ipv4Addr, u32>,
    /// CPU time of the workload's own tasks (client processes and server
    /// threads), nanoseconds: where the eBPF programs and the kernel's
    /// close path run.
    workload_cpu_ns: u64,
}

fn run_load(rate: u32, duration: Duration) -> Load {
    let per_worker = rate as f64 / WORKERS as f64;
    let server_cpu_before = server_cpu_ns();
    let started = Instant::now();
    let children: Vec<(Ipv4Addr, Child)> = (0..WORKERS)
        .map(|index| {
            let address = Ipv4Addr::new(127, 0, 0, 2 + index as u8);
            let child = Command::new(std::env::current_exe().expect("own path"))
                .args([
                    "--worker",
                    &address.to_string(),
                    &per_worker.to_string(),
                    &duration.as_secs_f64().to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("worker starts");
            (address, child)
        })
        .collect();
    let mut load = Load {
        connections: 0,
        errors: 0,
        seconds: 0.0,
        latencies: Vec::new(),
        pids: HashMap::new(),
        workload_cpu_ns: 0,
    };
    for (address, child) in children {
        load.pids.insert(address, child.id());
        let output = child.wait_with_output().expect("worker finishes");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let mut counts = lines.next().unwrap_or("0 0").split(' ');
        load.connections += counts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        load.errors += counts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        load.workload_cpu_ns += counts.next().and_then(|c| c.parse::<u64>().ok()).unwrap_or(0);
        load.latencies.extend(
            lines.next().unwrap_or("").split(' ').filter_map(|value| value.parse::<u32>().ok()),
        );
    }
    load.seconds = started.elapsed().as_secs_f64();
    load.latencies.sort_unstable();
    load.workload_cpu_ns += server_cpu_ns() - server_cpu_before;
    load
}

/// Thread ids of the server's accept threads.
static SERVER_THREADS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Time a task spent on a CPU, nanoseconds: the first field of
/// `/proc/…/schedstat` (exact, where `stat`'s ticks are 10 ms).
fn schedstat_ns(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn server_cpu_ns() -> u64 {
    let threads = SERVER_THREADS.lock().unwrap().clone();
    threads.iter().map(|tid| schedstat_ns(&format!("/proc/self/task/{tid}/schedstat"))).sum()
}

/// CPU time of every kworker thread on the machine, nanoseconds: where the
/// destroy broadcast's queued work runs.
fn kworker_cpu_ns() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with("kworker"))
        })
        .map(|entry| schedstat_ns(&entry.path().join("schedstat").to_string_lossy()))
        .sum()
}

/// Microseconds from the workload's tenths of a microsecond.
fn micros(tenths: u32) -> f64 {
    f64::from(tenths) / 10.0
}

fn percentile(sorted: &[u32], fraction: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction) as usize]
}

fn print_load(label: &str, load: &Load) {
    println!(
        "workload ({label}): {} connections in {:.1} s ({:.0}/s), {} errors; connect+request+close p50 {:.1} µs, p99 {:.1} µs",
        load.connections,
        load.seconds,
        load.connections as f64 / load.seconds,
        load.errors,
        micros(percentile(&load.latencies, 0.5)),
        micros(percentile(&load.latencies, 0.99)),
    );
}

/// A client process: connections to ADDRESS:PORT at RATE per second for
/// SECONDS; prints "connections errors" and the latencies.
fn worker(args: &[String]) {
    let address: Ipv4Addr = args[0].parse().expect("address");
    let rate: f64 = args[1].parse().expect("rate");
    let seconds: f64 = args[2].parse().expect("seconds");
    let target = SocketAddr::from((address, PORT));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(seconds);
    let mut next = started;
    let (mut count, mut errors) = (0u64, 0u64);
    let mut latencies = Vec::new();
    while Instant::now() < end {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += interval;
        let begun = Instant::now();
        let result = (|| -> std::io::Result<()> {
            let mut stream = TcpStream::connect(target)?;
            stream.write_all(&[7u8; 32])?;
            let mut answer = [0u8; 32];
            stream.read_exact(&mut answer)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                count += 1;
                // Tenths of a microsecond: a p50 of 27 µs in whole microseconds
                // moves in steps of 4%, as coarse as the +5% it is held to.
                latencies.push((begun.elapsed().as_nanos() / 100).min(u128::from(u32::MAX)) as u32);
            }
            Err(_) => errors += 1,
        }
    }
    let cpu_ns = schedstat_ns("/proc/thread-self/schedstat");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{count} {errors} {cpu_ns}");
    let text: Vec<String> = latencies.iter().map(u32::to_string).collect();
    let _ = writeln!(out, "{}", text.join(" "));
}

/// A running recorder with its JSON lines tallied by a reader thread.
struct Recorder {
    child: Child,
    tally: Arc<Mutex<Tally>>,
    reader: std::thread::JoinHandle<()>,
}

/// What the recorder reported for the workload's port.
#[derive(Default)]
struct Tally {
    /// Records for PORT: (server address, client pid, server pid, complete).
    records: Vec<(Ipv4Addr, Option<u32>, Option<u32>, bool)>,
    losses: HashMap<String, u64>,
    /// A few records without a client pid, as the recorder wrote them,
    /// for `PORTHOLE_BENCH_SHOW_MISSING=1`.
    missing: Vec<String>,
    /// The first records without both 4-tuples, start and end.
    incomplete: Vec<String>,
}

impl Recorder {
    /// Starts a recorder writing JSON Lines, which a reader thread of this
    /// process tallies (the recording figures).
    fn start(mode: &str) -> Recorder {
        Recorder::spawn(mode, None)
    }

    /// Starts a recorder as it runs in use: writing to a SQLite store in
    /// DIRECTORY, nothing on stdout. The latency runs use this one: parsing
    /// the JSON lines would be this process's work, on the same two cores
    /// as the workload it measures, and no part of what recording costs.
    fn start_storing(mode: &str, directory: &std::path::Path) -> Recorder {
        Recorder::spawn(mode, Some(directory))
    }

    fn spawn(mode: &str, store: Option<&std::path::Path>) -> Recorder {
        let wrapper = std::env::var("PORTHOLE_BENCH_RECORDER_WRAPPER").unwrap_or_default();
        let mut words: Vec<&str> = wrapper.split_whitespace().collect();
        // PORTHOLE_BENCH_BINARY: the same benchmark against another build;
        // PORTHOLE_BENCH_BEFORE: the earlier build an `ebpf-before` runs.
        let (mode, binary) = match mode.strip_suffix("-before") {
            Some(mode) => {
                (mode, std::env::var("PORTHOLE_BENCH_BEFORE").expect("a build to compare"))
            }
            None => {
                (mode, std::env::var("PORTHOLE_BENCH_BINARY").unwrap_or_else(|_| BINARY.into()))
            }
        };
        words.push(&binary);
        let mut command = Command::new(words[0]);
        command.args(&words[1..]);
        command.args(["monitor", "--capture", mode]);
        match store {
            Some(directory) => {
                let path = directory.join(format!("history-{mode}.sqlite"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                command.arg("--store").arg(path).stdout(Stdio::null());
            }
            None => {
                command.arg("--jsonl").stdout(Stdio::piped());
            }
        }
        let mut child = command.stderr(Stdio::piped()).spawn().expect("porthole monitor starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("start line");
        print!("# {line}");
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let shared = Arc::clone(&tally);
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let mut tally = shared.lock().unwrap();
                match value["type"].as_str() {
                    Some("connection") if value["server_port"] == PORT => {
                        let server: Ipv4Addr = value["server_address"]
                            .as_str()
                            .unwrap_or("0.0.0.0")
                            .parse()
                            .unwrap_or(Ipv4Addr::UNSPECIFIED);
                        let pid = |side: &str| value[side]["pid"].as_u64().map(|p| p as u32);
                        let complete = value["client_port"].as_u64().is_some()
                            && value["client_address"].is_string()
                            && value["started_at_us"].is_i64()
                            && value["ended_at_us"].is_i64();
                        if value["client_process"]["pid"].is_null() && tally.missing.len() < 5 {
                            tally.missing.push(line.clone());
                        }
                        if !complete && tally.incomplete.len() < 5 {
                            tally.incomplete.push(line.clone());
                        }
                        tally.records.push((
                            server,
                            pid("client_process"),
                            pid("server_process"),
                            complete,
                        ));
                    }
                    Some("loss") => {
                        let kind = value["kind"].as_str().unwrap_or("?").to_string();
                        *tally.losses.entry(kind).or_default() +=
                            value["count"].as_u64().unwrap_or(0);
                    }
                    _ => {}
                }
            }
        });
        // Let the start-up dumps finish before the load begins.
        std::thread::sleep(Duration::from_secs(1));
        Recorder { child, tally, reader }
    }

    fn stat_field(&self, index: usize) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after.split_whitespace().nth(index).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// utime + stime (fields 14 and 15; index 11 and 12 after the name).
    fn cpu_ticks(&self) -> u64 {
        self.stat_field(11) + self.stat_field(12)
    }

    /// CPU time of all the recorder's threads, nanoseconds.
    fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return 0;
        };
        tasks
            .filter_map(Result::ok)
            .map(|task| schedstat_ns(&task.path().join("schedstat").to_string_lossy()))
            .sum()
    }

    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Runs and run time (ns) of the recorder's eBPF programs, from their
    /// fdinfo (`kernel.bpf_stats_enabled` is on during the benchmark).
    fn bpf_runtime(&self) -> Option<(u64, u64)> {
        let directory = format!("/proc/{}/fdinfo", self.child.id());
        let mut totals = (0u64, 0u64);
        let mut any = false;
        for entry in std::fs::read_dir(directory).ok()?.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
            if !text.contains("prog_type:") {
                continue;
            }
            let field = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.0 += field("run_cnt:");
            totals.1 += field("run_time_ns:");
            any = true;
        }
        any.then_some(totals)
    }

    fn stop(mut self) -> Tally {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        let _ = self.child.wait();
        let _ = self.reader.join();
        std::mem::take(&mut *self.tally.lock().unwrap())
    }
}

impl Tally {
    fn report(&self, load: &Load, mode: &str) {
        let total = load.connections.max(1) as f64;
        let recorded = self.records.len() as f64;
        let complete = self.records.iter().filter(|r| r.3).count() as f64;
        let server_pid = std::process::id();
        let right_client = self
            .records
            .iter()
            .filter(|(address, client, _, _)| {
                client.is_some() && load.pids.get(address) == client.as_ref()
            })
            .count() as f64;
        let right_server =
            self.records.iter().filter(|(_, _, server, _)| *server == Some(server_pid)).count()
                as f64;
        println!(
            "recorded: {} of {} connections ({:.3}%), with both 4-tuples, start and end: {:.3}%",
            self.records.len(),
            load.connections,
            recorded / total * 100.0,
            complete / total * 100.0,
        );
        let no_client = self.records.iter().filter(|r| r.1.is_none()).count();
        println!(
            "right client pid: {:.3}% ({} without one, {} with another), right server pid: {:.3}% ({mode} mode)",
            right_client / total * 100.0,
            no_client,
            self.records.len() - no_client - right_client as usize,
            right_server / total * 100.0
        );
        if std::env::var_os("PORTHOLE_BENCH_SHOW_MISSING").is_some() {
            for line in &self.missing {
                println!("without client pid: {line}");
            }
            for line in &self.incomplete {
                println!("incomplete: {line}");
            }
        }
        let mut losses: Vec<_> = self.losses.iter().collect();
        losses.sort();
        let losses: Vec<String> =
            losses.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
        println!(
            "losses reported: {}",
            if losses.is_empty() { "none".to_string() } else { losses.join(", ") }
        );
    }
}
