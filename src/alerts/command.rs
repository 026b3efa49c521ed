//! `--on-alert CMD`: runs a command per alert with the alert's JSON on its
//! stdin.
//!
//! A fixed set of runner threads (`concurrency` of them) take alerts from a
//! bounded queue, so no more commands than that ever run at once. Each
//! command runs under `sh -c`, its stdout discarded (porthole's stdout
//! carries data) and its stderr shared with porthole's; one that outlives
//! the timeout is killed. A failure — the shell missing, a non-zero exit, a
//! timeout — is reported through the `report` callback and counted;
//! recording goes on. An alert arriving while the queue is full is dropped
//! and counted.
//!
//! # Lifecycle
//! [`CommandRunner::finish`] closes the queue and waits, up to a deadline,
//! for the runners to finish what is queued; commands still running after
//! it are left to their timeout and counted as unfinished.

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
    pub counters: Arc<CommandCounters>,
}

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
        let mut runners = Vec::with_capacity(concurrency);
        for index in 0..concurrency {
            let jobs = Arc::clone(&jobs);
            let counters = Arc::clone(&counters);
            let command = command.clone();
            let report = Arc::clone(&report);
            runners.push(std::thread::Builder::new().name(format!("on-alert-{index}")).spawn(
                move || {
                    while let Some(input) = next_job(&jobs) {
                        match run_once(&command, &input, timeout) {
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
        Ok(CommandRunner { queue: Mutex::new(Some(queue)), runners: Mutex::new(runners), counters })
    }

    /// Queues one alert's JSON; never blocks.
    pub fn submit(&self, input: Vec<u8>) {
        let queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(queue) = queue.as_ref() else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(input) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes the queue and waits until `deadline` for the runners; returns
    /// how many runners were still busy then.
    pub fn finish(&self, deadline: Instant) -> usize {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let mut runners = self.runners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while Instant::now() < deadline && runners.iter().any(|r| !r.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let busy = runners.iter().filter(|r| !r.is_finished()).count();
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
fn run_once(command: &str, input: &[u8], timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("alert command could not start: {error}"))?;
    // Writing happens on its own thread: a command that never reads its
    // stdin would otherwise block the write once the pipe is full, and the
    // timeout would never be checked.
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let outcome = wait_with_timeout(&mut child, timeout);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    outcome
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("alert command failed: {status}")),
            Ok(None) if Instant::now() >= deadline => {
                // The shell is our own child: killing it by its handle
                // cannot hit an unrelated process.
                let _ = child.kill();
                let _ = child.wait();
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
