//! The recorder's link to a PostgreSQL store: batches wait in a bounded
//! queue, a thread of their own writes them over a `Session`, and the
//! recorder never waits on the server for longer than a deadline.
//!
//! # Why a thread and a deadline
//! The client blocks until the server answers. A server that is stopped
//! (SIGSTOP, a frozen virtual machine) or cut off behind a link that still
//! acknowledges never answers, and the kernel's `TCP_USER_TIMEOUT` and
//! keepalives never fire because every segment is acknowledged. So each
//! batch is written on the writer thread while the recorder waits for it
//! at most [`PostgresWriter::deadline`] (the URL's `connect_timeout`, else
//! [`super::postgres::CONNECT_TIMEOUT`]): the server must answer within
//! that bound, whether it is asked to connect or to store a batch.
//!
//! # Lifecycle
//! - [`PostgresWriter::open`] starts the writer thread and waits (bounded)
//!   for its first session: a store that cannot be opened stops the
//!   recorder before it starts, as it always has.
//! - `write_batch` queues the batch and, while the link is healthy, waits
//!   until it is committed (and pruning after it is done), so a healthy
//!   store behaves as a synchronous one.
//! - A statement that has not been answered within the deadline is given
//!   up on: one notice, the thread is left behind with its connection (its
//!   transaction is rolled back instead of committed should the server
//!   ever answer), and a new thread connects again. Its first statement
//!   ends the old server process, so the old connection's lock and
//!   transaction go away. A connection that breaks (server restart,
//!   `pg_terminate_backend`) is made again the same way.
//! - While there is no connection, batches wait in memory, at most
//!   [`QUEUE_LIMIT`] events; what does not fit is counted and stored as a
//!   `store_backlog` loss with the next batch that fits.
//! - A batch whose `COMMIT` was sent but never answered is looked up by
//!   its transaction id once connected again (`txid_status`): written once,
//!   never twice.
//! - Anything else the server refuses (rights, a changed table, a missing
//!   database, a full disk) stops recording loudly with its message, as
//!   before.
//! - Dropping the writer lets the queue drain until nothing was written
//!   (and no connection made again) for one deadline, then says how many
//!   events were never written. A writer that is closing tries to connect
//!   again without its usual pause, so an outage that ended just before a
//!   shutdown does not cost the batches that waited it out.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::location::redact;
use super::postgres::{client_deadline, is_connection_failure, Session, WriteFailure};
use super::{Notices, StoreError, WriterOptions};
use crate::model::monitor::{EventSink, LossKind, LossRecord, MonitorEvent, SinkError};

/// Most events kept in memory while the store cannot take them.
pub const QUEUE_LIMIT: usize = 50_000;
/// Pruning and the size cap may take this long before they count as a
/// stall (a `VACUUM` of a large table is slow, not stuck); at least the
/// deadline.
const MAINTENANCE_DEADLINE: Duration = Duration::from_secs(120);
/// Longest pause between two attempts to connect again.
const RECONNECT_PAUSE_LIMIT: Duration = Duration::from_secs(2);
/// Pause between two attempts to connect again once the writer is closing.
const CLOSING_PAUSE: Duration = Duration::from_millis(50);
/// Threads left waiting on a stalled connection; past this many, a stall
/// waits for one of them to finish instead of leaving another behind.
const ABANDONED_LIMIT: usize = 8;

/// A batch waiting to be written, in recording order.
struct Queued {
    sequence: u64,
    events: Arc<Vec<MonitorEvent>>,
}

/// What the writer thread is doing, for the stall check.
#[derive(Clone, Copy)]
struct Busy {
    since: Instant,
    bound: Duration,
}

/// Everything the recorder's thread and the writer thread share.
struct State {
    queue: VecDeque<Queued>,
    /// Events in `queue`.
    queued_events: usize,
    next_sequence: u64,
    /// Every batch up to this one was committed and its maintenance done.
    settled: u64,
    /// Events dropped because the queue was full, not yet stored as a loss.
    dropped: u64,
    /// Events dropped during the current outage, for the notice.
    dropped_in_outage: u64,
    /// The writer thread whose work counts; a thread that finds its
    /// number outdated was given up on and only cleans up.
    generation: u64,
    /// Whether the current thread has a session.
    connected: bool,
    /// Sessions opened so far: a reconnection is progress for a closing
    /// writer's drain, as a committed batch is.
    sessions_opened: u64,
    busy: Option<Busy>,
    /// The server process of the current session.
    backend: Option<i32>,
    /// Server processes of given-up or broken sessions, to end.
    previous_backends: Vec<i32>,
    /// The batch and transaction whose `COMMIT` was in flight.
    committing: Option<(u64, i64)>,
    /// Same, for a session that was given up on or broke: resolved by the
    /// next session before it writes anything.
    unresolved: Option<(u64, i64)>,
    /// Why recording must stop; handed to the recorder once.
    fatal: Option<StoreError>,
    /// Whether an outage was announced (so its end is announced too).
    outage: bool,
    closing: bool,
    /// The current thread ended (its session is closed).
    current_ended: bool,
    abandoned_threads: usize,
}

impl State {
    /// Queues a batch; returns its sequence number.
    fn push(&mut self, events: Vec<MonitorEvent>) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.queued_events += events.len();
        self.queue.push_back(Queued { sequence, events: Arc::new(events) });
        sequence
    }

    /// The loss record of the events dropped so far, which are then no
    /// longer pending.
    fn dropped_loss(&mut self) -> MonitorEvent {
        MonitorEvent::Loss(LossRecord {
            at: super::now_micros(),
            kind: LossKind::StoreBacklog,
            count: std::mem::take(&mut self.dropped),
            net_namespace: None,
        })
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer of one machine into a shared PostgreSQL store (see the
/// module documentation).
pub struct PostgresWriter {
    shared: Arc<Shared>,
    url: String,
    store: String,
    options: WriterOptions,
    deadline: Duration,
    clock: super::PruneClock,
}

impl PostgresWriter {
    /// Connects, takes this host's writer lock, migrates and prunes, all
    /// within a bound; starts the writer thread.
    pub fn open(url: &str, options: &WriterOptions) -> Result<Self, StoreError> {
        let store = redact(url);
        let deadline = client_deadline(url, &store)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_events: 0,
                next_sequence: 1,
                settled: 0,
                sessions_opened: 0,
                dropped: 0,
                dropped_in_outage: 0,
                generation: 0,
                connected: false,
                busy: None,
                backend: None,
                previous_backends: Vec::new(),
                committing: None,
                unresolved: None,
                fatal: None,
                outage: false,
                closing: false,
                current_ended: false,
                abandoned_threads: 0,
            }),
            changed: Condvar::new(),
        });
        let writer = PostgresWriter {
            shared,
            url: url.to_string(),
            store,
            options: options.clone(),
            deadline,
            clock: super::PruneClock::start(),
        };
        let (opened, result) = mpsc::channel();
        writer.start_thread(0, Some(opened))?;
        // Connecting is bounded by the deadline; migrating and the first
        // pruning get the maintenance bound.
        let bound = deadline + deadline.max(MAINTENANCE_DEADLINE);
        match result.recv_timeout(bound) {
            Ok(Ok(())) => Ok(writer),
            Ok(Err(error)) => Err(error),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(StoreError::WriterFailed { store: writer.store.clone() })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                writer.shared.lock().generation += 1;
                Err(StoreError::NoAnswer { store: writer.store.clone(), seconds: bound.as_secs() })
            }
        }
    }

    /// How long the server may take to answer one batch.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    fn start_thread(
        &self,
        generation: u64,
        opened: Option<mpsc::Sender<Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        let worker = Worker {
            shared: Arc::clone(&self.shared),
            url: self.url.clone(),
            store: self.store.clone(),
            options: self.options.clone(),
            deadline: self.deadline,
            generation,
            clock: self.clock,
        };
        std::thread::Builder::new()
            .name("postgres-writer".into())
            .spawn(move || worker.run(opened))
            .map(drop)
            .map_err(|error| StoreError::Io { path: self.store.clone().into(), error })
    }

    /// Gives up on a writer thread whose statement has not been answered
    /// within its bound, and starts another.
    fn give_up_if_stalled(&self, state: &mut State) {
        let Some(busy) = state.busy else { return };
        if busy.since.elapsed() < busy.bound {
            return;
        }
        if state.abandoned_threads >= ABANDONED_LIMIT {
            // Too many threads wait on stalled connections already: this
            // one stays current and carries on should its server answer;
            // meanwhile the recorder does not wait for it.
            state.connected = false;
            return;
        }
        state.generation += 1;
        state.abandoned_threads += 1;
        state.busy = None;
        state.connected = false;
        let backend = state.backend.take();
        state.previous_backends.extend(backend);
        if let Some(committing) = state.committing.take() {
            state.unresolved = Some(committing);
        }
        state.outage = true;
        self.options.notices.say(&format!(
            "{}: the server has not answered for {}s; the connection was dropped and is being \
             made again; {} events wait in memory (at most {QUEUE_LIMIT})",
            self.store,
            busy.bound.as_secs(),
            state.queued_events
        ));
        state.current_ended = false;
        if let Err(error) = self.start_thread(state.generation, None) {
            state.fatal.get_or_insert(error);
        }
    }

    /// Queues a batch, or counts it as dropped when the queue is full; a
    /// count not yet stored goes with the batch as a loss.
    fn enqueue(&self, state: &mut State, batch: &[MonitorEvent]) -> Option<u64> {
        let loss = usize::from(state.dropped > 0);
        if state.queued_events + batch.len() + loss > QUEUE_LIMIT && !state.queue.is_empty() {
            state.dropped += batch.len() as u64;
            if state.dropped_in_outage == 0 {
                self.options.notices.say(&format!(
                    "{}: {QUEUE_LIMIT} events wait for the store; newer ones are dropped and \
                     counted as a store_backlog loss until it answers again",
                    self.store
                ));
            }
            state.dropped_in_outage += batch.len() as u64;
            return None;
        }
        let mut events = batch.to_vec();
        if state.dropped > 0 {
            events.push(state.dropped_loss());
        }
        Some(state.push(events))
    }
}

impl EventSink for PostgresWriter {
    /// Queues the batch; while the link is healthy, waits until it is
    /// written, never longer than the deadline. Errors: what the store
    /// refused (recording stops).
    fn write_batch(&mut self, batch: &[MonitorEvent]) -> Result<(), SinkError> {
        let shared = Arc::clone(&self.shared);
        let mut state = shared.lock();
        if let Some(error) = state.fatal.take() {
            return Err(error.into());
        }
        self.give_up_if_stalled(&mut state);
        let Some(sequence) = self.enqueue(&mut state, batch) else {
            return Ok(());
        };
        shared.changed.notify_all();
        let started = Instant::now();
        while state.connected && state.settled < sequence && state.fatal.is_none() {
            let waited = started.elapsed();
            let stall_at = state.busy.map(|busy| busy.bound.saturating_sub(busy.since.elapsed()));
            // Wake up when the batch is due, or when the statement in hand
            // passes its bound.
            let Some(wait) = self.deadline.checked_sub(waited).filter(|w| !w.is_zero()) else {
                break;
            };
            let wait = stall_at.map_or(wait, |stall| wait.min(stall + Duration::from_millis(1)));
            state = shared.changed.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
            self.give_up_if_stalled(&mut state);
        }
        match state.fatal.take() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}

impl Drop for PostgresWriter {
    /// Lets the queue drain until nothing was written (and no connection
    /// made again) for one deadline,
    /// then stops the writer thread; events that were never written are
    /// named.
    fn drop(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut state = shared.lock();
        state.closing = true;
        if state.dropped > 0 {
            // The count of what did not fit is written even into a full
            // queue: it is one event.
            let loss = state.dropped_loss();
            state.push(vec![loss]);
        }
        shared.changed.notify_all();
        // The deadline runs from the last batch written: a long backlog
        // that is being written is waited for, a silent server is not.
        let mut progress = (Instant::now(), (state.settled, state.sessions_opened));
        while !state.queue.is_empty() && state.fatal.is_none() {
            if (state.settled, state.sessions_opened) != progress.1 {
                progress = (Instant::now(), (state.settled, state.sessions_opened));
            }
            let Some(wait) = self.deadline.checked_sub(progress.0.elapsed()) else { break };
            state = shared.changed.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
            self.give_up_if_stalled(&mut state);
        }
        if state.queued_events > 0 || state.dropped > 0 {
            self.options.notices.say(&format!(
                "{}: {} recorded events were not written",
                self.store,
                state.queued_events as u64 + state.dropped
            ));
        }
        // The thread ends once the queue is empty; its connection (and
        // the writer lock) goes with it, so a writer opened next finds the
        // store free.
        let ended_by = Instant::now() + self.deadline;
        while state.queue.is_empty() && !state.current_ended && state.fatal.is_none() {
            let Some(wait) = ended_by.checked_duration_since(Instant::now()) else { break };
            state = shared.changed.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
        // Any thread still running sees it is outdated and ends.
        state.generation += 1;
        shared.changed.notify_all();
    }
}

/// The writer thread of one generation.
struct Worker {
    shared: Arc<Shared>,
    url: String,
    store: String,
    options: WriterOptions,
    deadline: Duration,
    generation: u64,
    /// One for the writer's whole life, across connections.
    clock: super::PruneClock,
}

impl Worker {
    fn notices(&self) -> &Notices {
        &self.options.notices
    }

    /// Whether this thread's work still counts.
    fn current(&self, state: &State) -> bool {
        state.generation == self.generation
    }

    /// Runs [`Worker::work`]; its session, and with it the connection and
    /// the writer lock, is gone when the thread says it ended.
    fn run(self, opened: Option<mpsc::Sender<Result<(), StoreError>>>) {
        // Should the thread panic, recording stops instead of queueing
        // for ever behind a writer that is gone.
        struct Unwinding<'a>(&'a Worker);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut state = self.0.shared.lock();
                    if self.0.current(&state) {
                        state.connected = false;
                        state.current_ended = true;
                        state.fatal.get_or_insert(StoreError::WriterFailed {
                            store: self.0.store.clone(),
                        });
                    }
                    self.0.shared.changed.notify_all();
                }
            }
        }
        let unwinding = Unwinding(&self);
        self.work(opened);
        drop(unwinding);
        let mut state = self.shared.lock();
        if self.current(&state) {
            state.connected = false;
            state.current_ended = true;
        }
        self.shared.changed.notify_all();
    }

    /// Connects (again) and writes queued batches in order until closed,
    /// given up on, or refused.
    fn work(&self, mut opened: Option<mpsc::Sender<Result<(), StoreError>>>) {
        let mut session: Option<Session> = None;
        let mut pause = Duration::from_millis(100);
        loop {
            if session.is_none() {
                let (previous, unresolved) = {
                    let state = self.shared.lock();
                    if !self.current(&state) {
                        break;
                    }
                    (state.previous_backends.clone(), state.unresolved)
                };
                // Connecting is bounded on its own; what follows it (the
                // lock, pruning) is held to the maintenance bound.
                self.set_busy(self.deadline + self.deadline.max(MAINTENANCE_DEADLINE));
                let lock_wait = if opened.is_some() { Duration::ZERO } else { self.deadline };
                let connected = self.connect(&previous, unresolved, lock_wait);
                {
                    let mut state = self.shared.lock();
                    if self.current(&state) {
                        state.busy = None;
                    }
                }
                match connected {
                    Ok(new) => {
                        let mut state = self.shared.lock();
                        if !self.current(&state) {
                            break;
                        }
                        state.connected = true;
                        state.sessions_opened += 1;
                        state.backend = Some(new.backend_pid);
                        state.previous_backends.clear();
                        if state.outage {
                            state.outage = false;
                            let dropped = match std::mem::take(&mut state.dropped_in_outage) {
                                0 => String::new(),
                                dropped => {
                                    format!("; {dropped} did not fit and were counted as lost")
                                }
                            };
                            self.notices().say(&format!(
                                "{}: connected again; {} events that waited are being written{}",
                                self.store, state.queued_events, dropped
                            ));
                        }
                        self.shared.changed.notify_all();
                        session = Some(new);
                        pause = Duration::from_millis(100);
                        if let Some(opened) = opened.take() {
                            let _ = opened.send(Ok(()));
                        }
                    }
                    Err(error) => {
                        if let Some(opened) = opened.take() {
                            let _ = opened.send(Err(error));
                            break;
                        }
                        let mut state = self.shared.lock();
                        if !self.current(&state) {
                            break;
                        }
                        if !is_connection_failure(&error) {
                            state.fatal = Some(error);
                            self.shared.changed.notify_all();
                            break;
                        }
                        // A closing writer drains what waits: it tries
                        // again at once rather than sleep through the time
                        // the drain gives it (it was told before this wait).
                        let pause_now =
                            if state.closing { CLOSING_PAUSE.min(pause) } else { pause };
                        let _ = self.shared.changed.wait_timeout(state, pause_now);
                        pause = (pause * 2).min(RECONNECT_PAUSE_LIMIT);
                        continue;
                    }
                }
            }
            let Some(active) = session.as_mut() else { continue };
            // The next batch, left in the queue until it is committed.
            let (sequence, events) = {
                let mut state = self.shared.lock();
                loop {
                    if !self.current(&state) {
                        return self.finish_abandoned();
                    }
                    if let Some(front) = state.queue.front() {
                        break (front.sequence, Arc::clone(&front.events));
                    }
                    if state.closing {
                        return;
                    }
                    state = self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            self.set_busy(self.deadline);
            // Decided under the lock the stall check takes: either this
            // thread still counts and its COMMIT is on record as in flight,
            // or it was given up on and rolls back.
            let mut before_commit = |txid: i64| {
                let mut state = self.shared.lock();
                let wanted = self.current(&state);
                if wanted {
                    state.committing = Some((sequence, txid));
                }
                wanted
            };
            let written = active.write(&events, &mut before_commit);
            let failure = match written {
                Ok(_) => {
                    let mut state = self.shared.lock();
                    if !self.current(&state) {
                        // Committed after all; the next session finds
                        // that out from the transaction id and skips it.
                        return self.finish_abandoned();
                    }
                    state.committing = None;
                    // A thread left current past ABANDONED_LIMIT that got
                    // its answer after all: the link works again.
                    state.connected = true;
                    self.pop_through(&mut state, sequence);
                    drop(state);
                    self.set_busy(self.deadline.max(MAINTENANCE_DEADLINE));
                    active.maintain().err().map(|error| {
                        if is_connection_failure(&error) {
                            WriteFailure::Connection(error)
                        } else {
                            WriteFailure::Refused(error)
                        }
                    })
                }
                Err(failure) => Some(failure),
            };
            let mut state = self.shared.lock();
            if !self.current(&state) {
                return self.finish_abandoned_locked(state);
            }
            state.busy = None;
            match failure {
                None => {
                    state.settled = state.settled.max(sequence);
                }
                Some(WriteFailure::Connection(error)) => {
                    self.notices().say(&format!(
                        "{error}; connecting again, {} events wait in memory (at most {QUEUE_LIMIT})",
                        state.queued_events
                    ));
                    state.connected = false;
                    state.outage = true;
                    let backend = state.backend.take();
                    state.previous_backends.extend(backend);
                    if let Some(committing) = state.committing.take() {
                        state.unresolved = Some(committing);
                    }
                    session = None;
                }
                Some(WriteFailure::Refused(error)) => {
                    state.fatal = Some(error);
                    state.connected = false;
                    self.shared.changed.notify_all();
                    return;
                }
                Some(WriteFailure::Abandoned) => return self.finish_abandoned_locked(state),
            }
            self.shared.changed.notify_all();
        }
    }

    /// A new session, after ending the previous ones and finding out
    /// whether the batch whose `COMMIT` went unanswered was written.
    fn connect(
        &self,
        previous: &[i32],
        unresolved: Option<(u64, i64)>,
        lock_wait: Duration,
    ) -> Result<Session, StoreError> {
        let mut session = Session::open(&self.url, &self.options, previous, lock_wait, self.clock)?;
        if let Some((sequence, txid)) = unresolved {
            // The old server process is gone (its lock is ours now), so
            // its transaction is decided.
            let committed = session.committed(txid)?;
            let mut state = self.shared.lock();
            if !self.current(&state) {
                return Ok(session);
            }
            state.unresolved = None;
            if committed == Some(true) {
                self.pop_through(&mut state, sequence);
                state.settled = state.settled.max(sequence);
            }
        }
        Ok(session)
    }

    fn set_busy(&self, bound: Duration) {
        let mut state = self.shared.lock();
        if self.current(&state) {
            state.busy = Some(Busy { since: Instant::now(), bound });
        }
    }

    /// Removes the batches up to `sequence` from the queue: written.
    fn pop_through(&self, state: &mut State, sequence: u64) {
        while state.queue.front().is_some_and(|front| front.sequence <= sequence) {
            if let Some(front) = state.queue.pop_front() {
                state.queued_events -= front.events.len();
            }
        }
        // What did not fit is stored as soon as there is room, not only
        // with the next batch the recorder happens to hand over.
        if state.dropped > 0 && state.queued_events < QUEUE_LIMIT {
            let loss = state.dropped_loss();
            state.push(vec![loss]);
        }
        self.shared.changed.notify_all();
    }

    fn finish_abandoned(&self) {
        let state = self.shared.lock();
        self.finish_abandoned_locked(state);
    }

    /// A thread that was given up on ends; its session (and connection)
    /// is dropped by the caller.
    fn finish_abandoned_locked(&self, mut state: MutexGuard<'_, State>) {
        if state.generation != self.generation {
            state.abandoned_threads = state.abandoned_threads.saturating_sub(1);
        }
        self.shared.changed.notify_all();
    }
}
