//! `--on-alert CMD`: runs a command per alert with the alert's JSON on its
//! stdin.
//!
//! A fixed set of runner threads (`concurrency` of them) take alerts from a
//! bounded queue, so no more commands than that ever run at once. Each
//! command runs under `sh -c`, its stdout discarded (porthole's stdout
//! carries data) and its stderr shared with porthole's; one that outlives
//! the timeout is killed, with everything it started: each command runs in
//! a process group of its own, and the whole group gets SIGKILL (killing
//! only the shell left `sh -c 'curl …; sleep 600'`'s children running). A failure — the shell missing, a non-zero exit, a
//! timeout — is reported through the `report` callback and counted;
//! recording goes on. An alert arriving while the queue is full is dropped
//! and counted.
//!
//! # Lifecycle
//! [`CommandRunner::finish`] closes the queue and waits, up to a deadline,
//! for the runners to finish what is queued; commands still running after
//! it are killed with their process groups and counted as unfinished (left
//! to run, they would outlive porthole with no timeout at all).

use std::collections::HashSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Alerts waiting for a runner at most, per runner.
pub const QUEUE_PER_RUNNER: usize = 16;

/// Reports a failure, one line of text (porthole's own words plus the
/// command's exit status).
pub type Report = Arc<dyn Fn(String) + Send + Sync>;

/// What the runners did.
#[derive(Debug, Default)]
pub struct CommandCounters {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// The runner threads and their queue; see the module docs.
pub struct CommandRunner {
    /// `None` once [`CommandRunner::finish`] closed it.
    queue: Mutex<Option<SyncSender<Vec<u8>>>>,
    runners: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The commands running now: the pids (and process group ids) of
    /// their shells, which no one has waited for yet.
    running: Running,
    pub counters: Arc<CommandCounters>,
}

/// Pids of running, unreaped commands. A runner reaps its command and
/// removes its pid under this lock, and [`CommandRunner::finish`] signals
/// under it, so a signal never reaches a reused pid.
type Running = Arc<Mutex<HashSet<u32>>>;

impl CommandRunner {
    /// Starts `concurrency` runners of `command`.
    pub fn start(
        command: String,
        timeout: Duration,
        concurrency: usize,
        report: Report,
    ) -> std::io::Result<Self> {
        let concurrency = concurrency.max(1);
        let (queue, jobs) = sync_channel::<Vec<u8>>(concurrency * QUEUE_PER_RUNNER);
        let jobs = Arc::new(Mutex::new(jobs));
        let counters = Arc::new(CommandCounters::default());
        let running = Running::default();
        let mut runners = Vec::with_capacity(concurrency);
        for index in 0..concurrency {
            let jobs = Arc::clone(&jobs);
            let counters = Arc::clone(&counters);
            let command = command.clone();
            let report = Arc::clone(&report);
            let running = Arc::clone(&running);
            runners.push(std::thread::Builder::new().name(format!("on-alert-{index}")).spawn(
                move || {
                    while let Some(input) = next_job(&jobs) {
                        match run_once(&command, &input, timeout, &running) {
                            Ok(()) => counters.succeeded.fetch_add(1, Ordering::Relaxed),
                            Err(failure) => {
                                report(failure);
                                counters.failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                },
            )?);
        }
        Ok(CommandRunner {
            queue: Mutex::new(Some(queue)),
            runners: Mutex::new(runners),
            running,
            counters,
        })
    }

    /// Queues one alert's JSON; never blocks.
    pub fn submit(&self, input: Vec<u8>) {
        let queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(queue) = queue.as_ref() else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(input) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes the queue and waits until `deadline` for the runners, then
    /// kills the commands still running; returns how many runners were
    /// still busy.
    pub fn finish(&self, deadline: Instant) -> usize {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let mut runners = self.runners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while Instant::now() < deadline && runners.iter().any(|r| !r.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let busy = runners.iter().filter(|r| !r.is_finished()).count();
        for leader in self.running.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = crate::sys::signal::kill_group(*leader);
        }
        for runner in std::mem::take(&mut *runners) {
            if runner.is_finished() {
                let _ = runner.join();
            }
        }
        busy
    }
}

/// The next queued alert; `None` once the queue is closed and empty.
fn next_job(jobs: &Mutex<Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    // The lock is held while waiting: one idle runner waits on the queue,
    // the others wait on the lock, and each alert goes to exactly one.
    let receiver = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    receiver.recv().ok()
}

/// Runs the command once with `input` on its stdin.
fn run_once(
    command: &str,
    input: &[u8],
    timeout: Duration,
    running: &Mutex<HashSet<u32>>,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        // A group of its own, so a timeout can stop what it started; it
        // also keeps a terminal's Ctrl-C, meant for the monitor, away from
        // it (the monitor stops it as its own shutdown says).
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("alert command could not start: {error}"))?;
    running.lock().unwrap_or_else(|e| e.into_inner()).insert(child.id());
    // Writing happens on its own thread: a command that never reads its
    // stdin would otherwise block the write once the pipe is full, and the
    // timeout would never be checked.
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let outcome = wait_with_timeout(&mut child, timeout, running);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    outcome
}

fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
    running: &Mutex<HashSet<u32>>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        // Reaping and forgetting the pid happen under the lock (see
        // `Running`).
        let mut pids = running.lock().unwrap_or_else(|e| e.into_inner());
        let state = child.try_wait();
        if !matches!(state, Ok(None)) {
            pids.remove(&child.id());
        }
        drop(pids);
        match state {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("alert command failed: {status}")),
            Ok(None) if Instant::now() >= deadline => {
                // The shell is our own child, not yet waited for: its
                // group id cannot have been reused (see `kill_group`).
                if crate::sys::signal::kill_group(child.id()).is_err() {
                    let _ = child.kill();
                }
                let mut pids = running.lock().unwrap_or_else(|e| e.into_inner());
                let _ = child.wait();
                pids.remove(&child.id());
                drop(pids);
                return Err(format!(
                    "alert command killed after {} ms (timeout)",
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => return Err(format!("waiting for the alert command: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect() -> (Report, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        (Arc::new(move |line| sink.lock().unwrap().push(line)), lines)
    }

    #[test]
    fn the_command_reads_the_alert_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alert.json");
        let command = format!("cat > '{}'", file.display());
        let (report, failures) = collect();
        let runner = CommandRunner::start(command, Duration::from_secs(10), 2, report).unwrap();
        runner.submit(b"{\"type\":\"alert\"}\n".to_vec());
        assert_eq!(runner.finish(Instant::now() + Duration::from_secs(30)), 0);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"type\":\"alert\"}\n");
        assert_eq!(runner.counters.succeeded.load(Ordering::Relaxed), 1);
        assert!(failures.lock().unwrap().is_empty());
    }

    #[test]
    fn failures_and_timeouts_are_reported_and_counted() {
        let (report, failures) = collect();
        let runner =
            CommandRunner::start("exit 3".into(), Duration::from_secs(10), 1, report).unwrap();
        runner.submit(Vec::new());
        runner.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(runner.counters.failed.load(Ordering::Relaxed), 1);
        assert!(failures.lock().unwrap()[0].contains("exit status: 3"), "{failures:?}");

        let (report, failures) = collect();
        let runner =
            CommandRunner::start("sleep 30".into(), Duration::from_millis(200), 1, report).unwrap();
        runner.submit(Vec::new());
        assert_eq!(runner.finish(Instant::now() + Duration::from_secs(30)), 0);
        assert!(failures.lock().unwrap()[0].contains("timeout"), "{failures:?}");
    }

    /// Whether `pid` is gone or a zombie (killed, not yet reaped by its
    /// new parent).
    fn dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
            Err(_) => true,
        }
    }

    /// A timeout or the end of the monitor stops what the command started,
    /// not only its shell: `sleep` here is a child of `sh` that killing
    /// `sh` alone left running.
    #[test]
    fn a_killed_command_takes_its_children_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let spawn = |name: &str| {
            format!("sleep 600 & echo $! > '{}'; wait", dir.path().join(name).display())
        };
        let read_pid = |name: &str| -> u32 {
            let path = dir.path().join(name);
            let mut text = String::new();
            for _ in 0..500 {
                text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.ends_with('\n') {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            text.trim().parse().expect("the command wrote its child's pid")
        };
        let settle = |pid: u32| {
            for _ in 0..500 {
                if dead(pid) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        };

        // The timeout.
        let (report, failures) = collect();
        let runner =
            CommandRunner::start(spawn("timeout"), Duration::from_millis(300), 1, report).unwrap();
        runner.submit(Vec::new());
        let child = read_pid("timeout");
        assert_eq!(runner.finish(Instant::now() + Duration::from_secs(30)), 0);
        assert!(failures.lock().unwrap()[0].contains("timeout"), "{failures:?}");
        assert!(settle(child), "sleep {child} outlived its command's timeout");

        // The end of the monitor, long before the timeout.
        let (report, _) = collect();
        let runner =
            CommandRunner::start(spawn("finish"), Duration::from_secs(600), 1, report).unwrap();
        runner.submit(Vec::new());
        let child = read_pid("finish");
        assert_eq!(runner.finish(Instant::now() + Duration::from_millis(100)), 1);
        assert!(settle(child), "sleep {child} outlived porthole's stop");
    }

    #[test]
    fn never_more_commands_than_runners() {
        // Each command records that it runs, waits, and removes its mark;
        // a command that finds more marks than runners fails.
        let dir = tempfile::tempdir().unwrap();
        let command = format!(
            "d='{}'; touch \"$d/$$\"; n=$(ls \"$d\" | wc -l); sleep 0.2; rm \"$d/$$\"; [ \"$n\" -le 2 ]",
            dir.path().display()
        );
        let (report, failures) = collect();
        let runner = CommandRunner::start(command, Duration::from_secs(10), 2, report).unwrap();
        for _ in 0..6 {
            runner.submit(Vec::new());
        }
        runner.finish(Instant::now() + Duration::from_secs(60));
        assert_eq!(runner.counters.succeeded.load(Ordering::Relaxed), 6, "{failures:?}");
    }
}
