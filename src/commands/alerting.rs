//! The alert half of `porthole monitor`: an [`EventSink`] in the monitor's
//! fanout that runs the alert rules on every batch, and the delivery that
//! sends each alert to stderr, to `--jsonl`'s stdout, to `--on-alert` and
//! to `--webhook`.
//!
//! # Who blocks whom
//! The sink runs on the recording thread and does only cheap work there:
//! the rules, one stderr line, and handing the alert's JSON to queues that
//! never block (the passive audit's, the command runners', the webhook's).
//! Alerts raised by the audit thread take the same path from that thread.
//! JSON lines for stdout wait in [`Delivery`] until the printer, next in
//! the fanout, writes them after its batch: stdout has one writer.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alerts::audit::AuditWorker;
use crate::alerts::command::CommandRunner;
use crate::alerts::webhook::{Webhook, WebhookOptions, WebhookUrl};
use crate::alerts::{AlertConfig, AlertEngine};
use crate::model::alert::Alert;
use crate::model::history::HistoryQuery;
use crate::model::monitor::{EventSink, MonitorEvent, SinkError};
use crate::render::alert as render;

/// How long the monitor, once stopped, lets commands finish and the
/// webhook deliver what is queued.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Most earlier clients read per sensitive port from the store.
const REMEMBERED_PER_PORT: usize = 10_000;

/// Where alerts go, shared by the recording thread and the audit thread.
pub struct Delivery {
    /// JSON lines waiting for the `--jsonl` printer; `None` without it.
    lines: Option<Mutex<Vec<Vec<u8>>>>,
    commands: Option<CommandRunner>,
    webhook: Option<Webhook>,
    raised: AtomicU64,
    /// New listeners not audited because the audit queue was full.
    audits_skipped: AtomicU64,
    /// Alerts held back: a program back on its address within
    /// `repeat_after` (a crash loop).
    held_back: AtomicU64,
}

impl Delivery {
    /// Starts the command runners and the webhook thread that `--on-alert`
    /// and `--webhook` ask for.
    pub fn start(
        config: &AlertConfig,
        jsonl: bool,
        on_alert: Option<String>,
        webhook: Option<WebhookUrl>,
        own: &crate::monitor::own::OwnConnections,
    ) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context;
        let report: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|line| {
            crate::commands::warn(&line);
        });
        let commands = match on_alert {
            Some(command) => Some(
                CommandRunner::start(
                    command,
                    config.command_timeout,
                    config.command_concurrency,
                    Arc::clone(&report),
                )
                .context("starting the --on-alert runners")?,
            ),
            None => None,
        };
        let webhook = match webhook {
            Some(url) => Some(
                Webhook::start(
                    url,
                    WebhookOptions {
                        capacity: config.webhook_queue,
                        attempts: config.webhook_attempts,
                        timeout: config.webhook_timeout,
                        first_backoff: crate::alerts::webhook::FIRST_BACKOFF,
                        own: own.clone(),
                    },
                    report,
                )
                .context("starting the --webhook thread")?,
            ),
            None => None,
        };
        Ok(Arc::new(Delivery {
            lines: jsonl.then(|| Mutex::new(Vec::new())),
            commands,
            webhook,
            raised: AtomicU64::new(0),
            audits_skipped: AtomicU64::new(0),
            held_back: AtomicU64::new(0),
        }))
    }

    /// Sends one alert everywhere; never blocks on a command or a server.
    pub fn deliver(&self, alert: &Alert) {
        self.raised.fetch_add(1, Ordering::Relaxed);
        // One write of one line: journald and a terminal never see two
        // alerts' fields interleaved.
        let mut line = render::log_line(alert);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        let json = render::json(alert);
        if let Some(commands) = &self.commands {
            commands.submit(json.clone());
        }
        if let Some(webhook) = &self.webhook {
            webhook.submit(json.clone());
        }
        if let Some(lines) = &self.lines {
            lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(json);
        }
    }

    /// What delivery did so far, for `/metrics` (the closing line says it
    /// again at the stop).
    pub fn counts(&self) -> crate::dashboard::facts::AlertCounts {
        use crate::dashboard::facts::{AlertCounts, DeliveryCounts};
        AlertCounts {
            raised: self.raised.load(Ordering::Relaxed),
            commands: self.commands.as_ref().map(|runner| DeliveryCounts {
                delivered: runner.counters.succeeded.load(Ordering::Relaxed),
                failed: runner.counters.failed.load(Ordering::Relaxed),
                dropped: runner.counters.dropped.load(Ordering::Relaxed),
            }),
            webhook: self.webhook.as_ref().map(|webhook| {
                let counters = webhook.counters();
                DeliveryCounts {
                    delivered: counters.delivered,
                    failed: counters.failed,
                    dropped: counters.dropped,
                }
            }),
        }
    }

    /// Writes the JSON lines waiting for stdout.
    pub fn write_pending(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(lines) = &self.lines else { return Ok(()) };
        let pending =
            std::mem::take(&mut *lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for line in pending {
            out.write_all(&line)?;
        }
        Ok(())
    }

    /// Lets commands and the webhook finish (up to [`STOP_GRACE`]) and
    /// returns the totals for the closing line.
    pub fn finish(&self) -> render::AlertSummary {
        let deadline = Instant::now() + STOP_GRACE;
        let commands = self.commands.as_ref().map(|runner| {
            let unfinished = runner.finish(deadline) as u64;
            let counters = &runner.counters;
            render::CommandTotals {
                succeeded: counters.succeeded.load(Ordering::Relaxed),
                failed: counters.failed.load(Ordering::Relaxed),
                dropped: counters.dropped.load(Ordering::Relaxed),
                unfinished,
            }
        });
        let webhook = self.webhook.as_ref().map(|webhook| {
            let counters = webhook.finish(deadline);
            render::WebhookTotals {
                delivered: counters.delivered,
                failed: counters.failed,
                dropped: counters.dropped,
                undelivered: counters.undelivered,
            }
        });
        render::AlertSummary {
            raised: self.raised.load(Ordering::Relaxed),
            commands,
            webhook,
            audits_skipped: self.audits_skipped.load(Ordering::Relaxed),
            held_back: self.held_back.load(Ordering::Relaxed),
        }
    }
}

/// The sink in the monitor's fanout; see the module docs.
pub struct AlertSink {
    engine: AlertEngine,
    delivery: Arc<Delivery>,
    audit: Option<AuditWorker>,
}

impl AlertSink {
    /// The rules of `config`, delivering through `delivery`; starts the
    /// audit thread when the configuration has a severity for it.
    pub fn start(
        config: AlertConfig,
        delivery: Arc<Delivery>,
        own: &crate::monitor::own::OwnConnections,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let audit = match config.audit_severity {
            Some(severity) => {
                let target = Arc::clone(&delivery);
                let deliver: crate::alerts::audit::Deliver =
                    Arc::new(move |alert: Alert| target.deliver(&alert));
                Some(
                    AuditWorker::start(severity, deliver, own.clone())
                        .context("starting the alert audit thread")?,
                )
            }
            None => None,
        };
        Ok(AlertSink { engine: AlertEngine::new(config, std::process::id()), delivery, audit })
    }

    /// Seeds the clients seen before from the history store, so a restart
    /// does not alert about them again. A store that cannot be read is
    /// reported and recording goes on with an empty memory.
    pub fn remember_clients(&mut self, location: &crate::store::StoreLocation) {
        let ports: Vec<u16> = self.engine.config().sensitive_ports.iter().copied().collect();
        if ports.is_empty() {
            return;
        }
        let mut reader = match crate::store::open_reader(location) {
            Ok(reader) => reader,
            Err(error) => {
                crate::commands::warn(&format!(
                    "alerts: earlier clients not read from the store: {error}"
                ));
                return;
            }
        };
        for port in ports {
            let query = HistoryQuery { port: Some(port), ..HistoryQuery::default() };
            match reader.clients(&query, REMEMBERED_PER_PORT, false) {
                Ok(clients) => {
                    for client in clients {
                        if let Some(process) = &client.client {
                            let executable = crate::alerts::executable_of(process);
                            self.engine.remember_client(client.server.port(), executable);
                        }
                    }
                }
                Err(error) => {
                    crate::commands::warn(&format!(
                        "alerts: earlier clients not read from the store: {error}"
                    ));
                    return;
                }
            }
        }
    }
}

impl EventSink for AlertSink {
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        let judgement = self.engine.observe(batch);
        self.delivery.held_back.fetch_add(judgement.held_back, Ordering::Relaxed);
        for alert in &judgement.alerts {
            self.delivery.deliver(alert);
        }
        if let Some(audit) = &self.audit {
            for listener in judgement.to_audit {
                if !audit.submit(listener) {
                    self.delivery.audits_skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }
}
