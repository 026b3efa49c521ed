//! `porthole monitor`: start the capture engine, say which mode it runs in
//! and why, and send its batches to a sink until SIGINT, SIGTERM or SIGHUP; alerts
//! ride along as one more sink (`commands::alerting`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;

use crate::cli::args::MonitorArgs;
use crate::cli::settings::MonitorSettings;
use crate::commands::alerting::{AlertSink, Delivery};
use crate::commands::ExitStatus;
use crate::inventory::NamespaceSelection;
use crate::model::monitor::{EventSink, MonitorEvent, SinkError};
use crate::monitor::Recorder;
use crate::render::monitor as render;

/// Runs the recorder in the foreground. Its lines reach stdout through a
/// `Printer` (a duplicate of descriptor 1), not through `_out`, which
/// holds the stdout lock.
pub fn run(args: MonitorArgs, _out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = MonitorSettings::resolve(args)?;
    // Handlers go in before the start line, so a signal sent as soon as the
    // line appears is never lost.
    let shutdown = shutdown_on_signal()?;
    // `--serve`: the token and the port first, so that a taken port is one
    // line and exit 2, said before anything starts recording.
    let bound = settings.serve.as_ref().map(crate::commands::dashboard::bind).transpose()?;
    let config = crate::monitor::MonitorConfig {
        notices: crate::store::Notices::new(crate::commands::warn),
        ..settings.config.clone()
    };
    let recorder = Recorder::start(config, Box::new(crate::inventory::system::Machine))
        .context("starting the recorder")?;
    let mut err = std::io::stderr().lock();
    render::start_line(
        &mut err,
        recorder.mode(),
        recorder.reason(),
        settings.config.namespaces == NamespaceSelection::All,
        recorder.process_events_error(),
    )?;
    drop(err);
    // The store is opened before recording starts, so a second recorder on
    // the same store, or a damaged file, stops here with its own message.
    let store = match &settings.store {
        Some(location) => Some(
            // Every store error names the store itself.
            crate::store::open_writer(
                location,
                &crate::store::WriterOptions {
                    notices: crate::store::Notices::new(crate::commands::warn),
                    ..settings.writer.clone()
                },
            )
            .context("opening the history store")?,
        ),
        None => None,
    };
    // `--serve`: the dashboard reads the store on threads of its own; the
    // recorder's writes are timed for its health metrics.
    let health =
        settings.serve.as_ref().map(|_| Arc::new(crate::dashboard::RecorderHealth::default()));
    let server = match (&settings.serve, bound) {
        (Some(serve), Some(bound)) => Some(crate::commands::dashboard::start(
            bound,
            serve,
            settings.store.clone(),
            health.clone(),
            Arc::clone(&shutdown),
        )?),
        _ => None,
    };
    let store = match (store, &health) {
        (Some(store), Some(health)) => {
            Some(Box::new(Timed { inner: store, health: Arc::clone(health) }) as Box<_>)
        }
        (store, _) => store,
    };
    let alerts = start_alerts(&settings, &recorder.own_connections())?;
    let delivery = alerts.as_ref().map(|(_, delivery)| Arc::clone(delivery));
    if let (Some(health), Some(delivery)) = (&health, &delivery) {
        let delivery = Arc::clone(delivery);
        let source =
            crate::dashboard::facts::AlertCountsSource(Arc::new(move || delivery.counts()));
        let _ = health.alerts.set(source);
    }
    // Events reach stdout through a thread of their own, so a reader that
    // stops reading holds neither the store nor a stop (see `Printer`).
    let mut printer = Printer::start(Arc::clone(&shutdown))?;
    let mut sink = choose_sink(&settings, store, alerts, &mut printer);
    let recorded = recorder.run(sink.as_mut(), &shutdown);
    // However recording ended, the dashboard stops with it.
    shutdown.store(true, Ordering::Relaxed);
    if let Some(server) = server {
        let _ = server.join();
    }
    // The printer borrows stdout: alerts the audit raised after the last
    // batch are written once it is gone.
    drop(sink);
    let summary = recorded?;
    render::stop_line(
        &mut std::io::stderr().lock(),
        summary.listener_events,
        summary.connections,
        summary.losses,
    )?;
    if let Some(delivery) = delivery {
        // Not under the stderr lock: command runners and the webhook thread
        // report their failures on stderr while they finish.
        let totals = delivery.finish();
        delivery.write_pending(&mut printer)?;
        printer.flush()?;
        let line = crate::render::alert::summary_line(&totals);
        writeln!(std::io::stderr().lock(), "{line}")?;
    }
    printer.finish();
    Ok(ExitStatus::Success)
}

/// The alert sink and its delivery, unless `--no-alerts`.
fn start_alerts(
    settings: &MonitorSettings,
    own: &crate::monitor::own::OwnConnections,
) -> anyhow::Result<Option<(AlertSink, Arc<Delivery>)>> {
    let alerts = &settings.alerts;
    let Some(config) = &alerts.config else { return Ok(None) };
    let delivery = Delivery::start(
        config,
        settings.jsonl,
        alerts.on_alert.clone(),
        alerts.webhook.clone(),
        own,
    )?;
    let mut sink = AlertSink::start(config.clone(), Arc::clone(&delivery), own)?;
    if let Some(location) = &settings.store {
        sink.remember_clients(location);
    }
    writeln!(
        std::io::stderr().lock(),
        "{}",
        crate::render::alert::rules_line(alerts.source.as_deref())
    )?;
    Ok(Some((sink, delivery)))
}

/// Where recorded events go: the one place sinks are chosen. The store
/// (SQLite by default, PostgreSQL with `--store postgres://…`) records;
/// `--jsonl` streams every event to stdout; a person at a terminal also
/// sees one line per event. Under systemd (stdout not a terminal) only the
/// store writes, so the journal is not flooded with connections.
fn choose_sink<'a>(
    settings: &MonitorSettings,
    store: Option<Box<dyn EventSink + Send>>,
    alerts: Option<(AlertSink, Arc<Delivery>)>,
    out: &'a mut dyn Write,
) -> Box<dyn EventSink + 'a> {
    use std::io::IsTerminal;
    let (alerts, delivery) = alerts.unzip();
    let printer: Option<Box<dyn EventSink + 'a>> = if settings.jsonl {
        Some(Box::new(JsonLines { out, alerts: delivery }))
    } else if std::io::stdout().is_terminal() || store.is_none() {
        Some(Box::new(Text { out }))
    } else {
        None
    };
    let mut sinks: Vec<Box<dyn EventSink + 'a>> = Vec::new();
    if let Some(store) = store {
        sinks.push(store);
    }
    // Before the printer, which writes the alerts' JSON after its batch.
    if let Some(alerts) = alerts {
        sinks.push(Box::new(alerts));
    }
    if let Some(printer) = printer {
        sinks.push(printer);
    }
    // The recorder leaves its own connections (audit probes, webhook posts,
    // a store on this machine) out before they reach any sink.
    Box::new(Fanout { sinks })
}

/// Every batch to every sink, the store first: an error in any stops
/// recording loudly.
struct Fanout<'a> {
    sinks: Vec<Box<dyn EventSink + 'a>>,
}

impl EventSink for Fanout<'_> {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        for sink in &mut self.sinks {
            sink.write_batch(batch)?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        for sink in &mut self.sinks {
            sink.tick()?;
        }
        Ok(())
    }
}

/// The store's writer, timed for the dashboard's health metrics.
struct Timed {
    inner: Box<dyn EventSink + Send>,
    health: Arc<crate::dashboard::RecorderHealth>,
}

impl EventSink for Timed {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        let started = std::time::Instant::now();
        let result = self.inner.write_batch(batch);
        self.health.record_batch(batch, started.elapsed());
        result
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        self.inner.tick()
    }
}

/// `--jsonl`: every event as one JSON object per line on stdout, then the
/// alerts raised since the last batch.
struct JsonLines<'a> {
    out: &'a mut dyn Write,
    alerts: Option<Arc<Delivery>>,
}

impl EventSink for JsonLines<'_> {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        render::write_jsonl(self.out, batch).map_err(SinkError::from)?;
        self.tick()
    }

    /// Alert lines raised since the last batch or tick (an audit finding
    /// arrives after the batch that named its listener).
    fn tick(&mut self) -> Result<(), SinkError> {
        if let Some(alerts) = &self.alerts {
            alerts.write_pending(self.out)?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// The default: one line per event for a person watching.
struct Text<'a> {
    out: &'a mut dyn Write,
}

impl EventSink for Text<'_> {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        render::write_text(self.out, batch).map_err(SinkError::from)?;
        self.out.flush().map_err(SinkError::from)
    }
}

/// Stdout for the event lines, written by a thread of its own through a
/// duplicate of descriptor 1 (the command's own `out` holds the stdout
/// lock).
///
/// A reader that stops reading (`porthole monitor --jsonl | slow`, a
/// terminal paused with Ctrl-S) used to block the recorder inside
/// `write(2)`: nothing more reached the store, and SIGTERM, SIGINT or
/// SIGHUP could not stop it, since the flag they set is only looked at
/// between writes. Now the recorder hands each batch's lines over and goes
/// on; while [`PRINTER_BACKLOG`] bytes wait it waits too (stdout is not
/// thinned out), but it looks at the stop flag meanwhile, and once stopping
/// it hands nothing more over: what the reader did not take is in the store.
/// A reader that left (`| head -1`) still ends recording, as a broken pipe
/// on stdout always did.
struct Printer {
    /// Lines written since the last flush.
    pending: Vec<u8>,
    /// To the writing thread; `None` once finished.
    batches: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    /// Bytes handed over and not written yet.
    queued: Arc<AtomicUsize>,
    /// The error that stopped the writing thread (a reader that left).
    failed: Arc<std::sync::Mutex<Option<std::io::Error>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    shutdown: Arc<AtomicBool>,
    /// Stopping while the reader did not read: later lines are dropped.
    abandoned: bool,
}

/// Bytes of lines that may wait for a slow reader before the recorder
/// waits for it too: some seconds of events at thousands of connections a
/// second, and a bounded cost in memory.
const PRINTER_BACKLOG: usize = 16 << 20;

/// How long the reader may take no line at stop before the rest is left:
/// a reader that keeps reading (slowly, on a busy machine) gets every line.
const PRINTER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

impl Printer {
    fn start(shutdown: Arc<AtomicBool>) -> anyhow::Result<Self> {
        // A closed stdout fails the first batch handed over, as writing to
        // it would: a recorder that prints nothing (a store, no terminal)
        // runs all the same.
        let file = rustix::io::dup(std::io::stdout())
            .map(std::fs::File::from)
            .map_err(std::io::Error::from);
        let (batches, received) = std::sync::mpsc::channel::<Vec<u8>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&queued);
        let failed = Arc::new(std::sync::Mutex::new(None));
        let failure = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                let mut file = match file {
                    Ok(file) => file,
                    Err(error) => {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                        return;
                    }
                };
                // A line at a time: a pipe takes a line of up to 4 KiB
                // whole or not at all, so a reader left behind at stop
                // never gets half a line, and each line counts as progress.
                for batch in received {
                    for line in batch.split_inclusive(|&byte| byte == b'\n') {
                        if let Err(error) = file.write_all(line) {
                            *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                            return;
                        }
                        written.fetch_sub(line.len(), Ordering::Relaxed);
                    }
                }
            })
            .context("starting the stdout thread")?;
        Ok(Printer {
            pending: Vec::new(),
            batches: Some(batches),
            queued,
            failed,
            thread: Some(thread),
            shutdown,
            abandoned: false,
        })
    }

    /// The writing thread's error, for a batch it can no longer take.
    fn failure(&self) -> std::io::Error {
        match self.failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(error) => error,
            None => std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        }
    }

    /// Lets the last lines reach the reader while it takes them, and
    /// leaves once it has taken none for [`PRINTER_DRAIN`]: a thread still
    /// blocked on a reader that does not read ends with the process.
    fn finish(&mut self) {
        let _ = self.flush();
        self.batches = None;
        let Some(thread) = self.thread.take() else { return };
        let mut deadline = std::time::Instant::now() + PRINTER_DRAIN;
        let mut left = self.queued.load(Ordering::Relaxed);
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let now_left = self.queued.load(Ordering::Relaxed);
            if now_left != left {
                left = now_left;
                deadline = std::time::Instant::now() + PRINTER_DRAIN;
            }
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// A printer dropped on an early return still lets its last lines out.
impl Drop for Printer {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Write for Printer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Hands the pending lines to the writing thread.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let Some(batches) = &self.batches else { return Ok(()) };
        // One batch is always taken, however large; more wait for room.
        while self.queued.load(Ordering::Relaxed) > 0
            && self.queued.load(Ordering::Relaxed) + batch.len() > PRINTER_BACKLOG
        {
            if self.abandoned || self.shutdown.load(Ordering::Relaxed) {
                self.abandoned = true;
                return Ok(());
            }
            if matches!(self.thread.as_ref(), Some(thread) if thread.is_finished()) {
                return Err(self.failure());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if self.abandoned {
            return Ok(());
        }
        self.queued.fetch_add(batch.len(), Ordering::Relaxed);
        batches.send(batch).map_err(|_| self.failure())
    }
}

/// A flag set by SIGINT, SIGTERM or SIGHUP. A helper thread waits for any
/// of them on a small runtime; the recorder polls the flag at least every
/// 100 ms. SIGHUP is a stop too: it is what a closed terminal or a dropped
/// SSH session sends, and its default action would end the process without
/// writing the batch in hand (up to a second of events).
pub(crate) fn shutdown_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the signal thread")?;
    let (mut interrupt, mut terminate, mut hangup) = {
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
            signal(SignalKind::hangup()).context("installing a SIGHUP handler")?,
        )
    };
    let setter = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                    _ = hangup.recv() => {}
                }
            });
            setter.store(true, Ordering::Relaxed);
        })
        .context("starting the signal thread")?;
    Ok(flag)
}
