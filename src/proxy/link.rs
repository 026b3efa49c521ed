//! One direction of one connection: read from the source, pass the data
//! through the toxics chosen for this link, write to the destination.
//!
//! # Design
//! Toxics reach a link through a `watch` channel holding an immutable,
//! `Arc`-shared list. The API swaps the list in one step and never waits for
//! a link; the link notices the change between two reads (or while it waits
//! for data) and rebuilds its chain, keeping the state of toxics that did not
//! change. This is what keeps the control API responsive under load, unlike
//! Toxiproxy's interrupt-and-splice under a lock
//! (See: <https://github.com/Shopify/toxiproxy/issues/558>).
//!
//! With no toxic selected the link is a plain read/write loop with no
//! timestamps, no allocation and no select per chunk (`relay_plain`); it
//! leaves that loop, between two reads, as soon as the toxic set changes.
//! Otherwise chunks are stamped on arrival and queued; the chain computes
//! each piece's due time lazily, for the chunk at the head of the queue
//! only, so a change applies to every chunk not yet on its way.
//!
//! End of stream is forwarded as a half-close (`shutdown(SHUT_WR)`), so a
//! client that stops sending still gets the server's reply. A source that
//! fails (reset by its peer) ends the connection at once when nothing is
//! held; with toxics, the data they hold goes out first, then the
//! connection closes, as in Toxiproxy.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::sync::watch;

use super::budget::{Claimant, FdBudget, FdClaim};
use super::faults::{self, Fault, Item, Rng};
use super::splice::{Relayed, SplicePipe};
use super::stats::DirectionStats;
use super::toxics::{Stream, ToxicSpec};
use crate::sys::timerfd::PreciseTimer;

/// The toxics of one proxy, both directions, in the order they were added.
pub(crate) type ToxicSet = Arc<Vec<ToxicSpec>>;

/// Raw chunks read ahead while toxics hold earlier ones (as Toxiproxy's
/// 1024-chunk latency buffer).
const MAX_QUEUED_CHUNKS: usize = 1024;
/// Raw chunks read ahead when the first toxic that holds data back takes
/// one chunk at a time (see [`faults::Fault::reads_ahead`]): with the chunk
/// being written out, about what Toxiproxy's unbuffered stages hold.
const UNBUFFERED_QUEUED_CHUNKS: usize = 1;
/// Bytes read ahead at most, so a slow toxic cannot make the proxy buffer a
/// whole stream in memory.
const MAX_QUEUED_BYTES: usize = 8 << 20;
/// First read buffer of the plain path; small so idle connections cost
/// little memory.
const INITIAL_BUFFER: usize = 16 << 10;
/// A read that fills a buffer of this size switches a toxic-free link to
/// `splice(2)`.
const SPLICE_AFTER: usize = 64 << 10;
/// Without a pipe, the plain path's buffer grows up to this size while
/// reads fill it.
const MAX_BUFFER: usize = 256 << 10;
/// Read size of the toxic path.
const TOXIC_READ: usize = 32 << 10;

/// How a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEnd {
    /// The source closed and the half-close reached the destination.
    Finished,
    /// A toxic ended the connection; `reset` asks for an RST.
    Closed { reset: bool },
    /// Reading or writing failed (reset by a peer, broken pipe).
    Failed,
}

/// What one link needs besides its two socket halves.
pub(crate) struct Link<'a> {
    pub(crate) stream: Stream,
    pub(crate) stats: &'a DirectionStats,
    pub(crate) toxics: watch::Receiver<ToxicSet>,
    pub(crate) rng: Rng,
    /// Pipes and timers take descriptors from it; without one they fall
    /// back to copying and to tokio's coarser timer (on the carriers' timer
    /// thread, see [`super::carriers::sleep_until`]).
    pub(crate) budget: &'a Arc<FdBudget>,
    /// Set when the other direction ended the connection (a toxic closed
    /// it, or a socket failed): this link stops reading, lets out what its
    /// toxics hold, then ends too. In Toxiproxy the other direction's
    /// source is closed under it, which ends its chain's input the same way.
    pub(crate) peer_ended: &'a AtomicBool,
}

/// A toxic as it acts on this link: `fault` is `None` when the toxicity draw
/// said the toxic skips this link.
struct Stage {
    /// [`ToxicSpec::origin`]: which toxic this is, across its versions.
    origin: u64,
    revision: u64,
    fault: Option<Box<dyn Fault>>,
}

/// The toxics of one direction of one link, with scratch buffers reused
/// for every chunk.
#[derive(Default)]
struct Chain {
    stages: Vec<Stage>,
    scratch: Vec<Item>,
    next: Vec<Item>,
}

/// What a chain rebuild means for the data already scheduled.
#[derive(Default)]
struct Rebuild {
    /// A removed toxic had corrupted the stream: close the connection.
    must_close: bool,
    /// A toxic that delays data on this link is gone or changed: data it
    /// was holding back is released at once. A change to any other toxic
    /// (a `noop`, a `limit_data`) leaves the schedule alone.
    released: bool,
}

impl Chain {
    fn is_passthrough(&self) -> bool {
        self.stages.iter().all(|stage| stage.fault.is_none())
    }

    fn rebuild(&mut self, set: &[ToxicSpec], stream: Stream, rng: &mut Rng) -> Rebuild {
        let now = Instant::now();
        let mut old = std::mem::take(&mut self.stages);
        for spec in set.iter().filter(|spec| spec.stream == stream) {
            if let Some(position) = old.iter().position(|stage| stage.revision == spec.revision) {
                self.stages.push(old.remove(position));
                continue;
            }
            // The toxicity draw happens once per link and toxic version,
            // not per chunk.
            let selected = rng.unit() < f64::from(spec.toxicity);
            let mut fault = selected.then(|| faults::instantiate(&spec.kind, now));
            // An updated toxic carries on from its previous version's count;
            // a new toxic that took a removed one's name starts afresh.
            let previous = old
                .iter()
                .find(|stage| stage.origin == spec.origin)
                .and_then(|stage| stage.fault.as_ref());
            if let (Some(fault), Some(previous)) = (fault.as_mut(), previous) {
                fault.resume(previous.progress(), now);
            }
            self.stages.push(Stage { origin: spec.origin, revision: spec.revision, fault });
        }
        let mut result = Rebuild::default();
        for stage in old {
            let Some(fault) = stage.fault else { continue };
            result.released |= fault.delays();
            // A new version of the toxic that does not act on this link (its
            // toxicity draw failed) takes it off the link as a removal does.
            let gone =
                !self.stages.iter().any(|kept| kept.origin == stage.origin && kept.fault.is_some());
            if gone && fault.closes_on_removal() {
                result.must_close = true;
            }
        }
        result
    }

    fn process(&mut self, item: Item, rng: &mut Rng, out: &mut VecDeque<Item>) {
        self.process_from(0, item, rng, out);
    }

    /// Passes `item` through the stages from `first` on.
    fn process_from(&mut self, first: usize, item: Item, rng: &mut Rng, out: &mut VecDeque<Item>) {
        self.scratch.clear();
        self.scratch.push(item);
        for stage in &mut self.stages[first..] {
            let Some(fault) = stage.fault.as_mut() else {
                continue;
            };
            self.next.clear();
            for item in self.scratch.drain(..) {
                fault.apply(item, rng, &mut self.next);
            }
            std::mem::swap(&mut self.scratch, &mut self.next);
        }
        out.extend(self.scratch.drain(..));
    }

    fn deadline(&self) -> Option<Instant> {
        self.stages.iter().filter_map(|stage| stage.fault.as_ref()?.deadline()).min()
    }

    /// The least delay the toxics still acting give any chunk.
    fn min_delay(&self) -> Duration {
        self.stages.iter().filter_map(|stage| stage.fault.as_deref()).map(|f| f.min_delay()).sum()
    }

    /// How many raw chunks the link may read ahead: the first toxic that
    /// holds data back decides, as its buffer (or its lack of one) is what
    /// pushes back on the sender in Toxiproxy.
    fn read_ahead(&self) -> usize {
        let first = self
            .stages
            .iter()
            .filter_map(|stage| stage.fault.as_deref())
            .find(|fault| fault.delays());
        match first {
            Some(fault) if !fault.reads_ahead() => UNBUFFERED_QUEUED_CHUNKS,
            _ => MAX_QUEUED_CHUNKS,
        }
    }

    /// Lets the first toxic whose deadline has passed act: what it emits
    /// (the `timeout` toxic's close) goes through the toxics after it.
    /// Returns whether a toxic acted.
    fn expire(&mut self, now: Instant, rng: &mut Rng, out: &mut VecDeque<Item>) -> bool {
        let expired = self.stages.iter().position(|stage| {
            stage.fault.as_ref().and_then(|fault| fault.deadline()).is_some_and(|due| due <= now)
        });
        let Some(index) = expired else { return false };
        let Some(item) = self.stages[index].fault.as_mut().and_then(|fault| fault.expire()) else {
            return false;
        };
        self.process_from(index + 1, item, rng, out);
        true
    }
}

/// Waits for the next change of the toxic set, handing the receiver back
/// so the next wait can reuse it.
async fn next_change(
    mut watcher: watch::Receiver<ToxicSet>,
) -> (watch::Receiver<ToxicSet>, Result<(), watch::error::RecvError>) {
    let result = watcher.changed().await;
    (watcher, result)
}

/// How one read of the select loop went.
enum Read {
    /// Bytes copied into the plain or the staging buffer.
    Copied(usize),
    /// Bytes moved through the pipe (in, out, or both).
    Relayed(Relayed),
}

/// Why [`relay_plain`] handed control back to the select loop.
enum Plain {
    /// The toxic set changed, or the other direction ended; the select
    /// loop picks the change up.
    ToxicsChanged,
    /// A read filled the buffer: a bulk transfer, which grows the buffer
    /// or engages `splice(2)`.
    Full,
    /// The link is over (end of stream forwarded, or an I/O error).
    Ended(LinkEnd),
}

/// The toxic-free fast path: read, write, repeat, with no timestamps, no
/// queues and no select. A toxic change is noticed through the watch
/// channel's version (an atomic load) before every read; the waiter that
/// wakes this task for it is the select loop's `changed` future, which the
/// caller has polled before coming here. A chunk already read is written
/// out before the change is looked at, as on the select loop, so a new
/// toxic applies from the next chunk on.
async fn relay_plain(
    source: &mut ReadHalf<'_>,
    destination: &mut WriteHalf<'_>,
    plain: &mut [u8],
    link: &Link<'_>,
) -> Plain {
    loop {
        let read = poll_fn(|context| {
            // A closed channel means the proxy is going away; its stop
            // signal ends the connection, so carry on until then.
            // The other direction's end is taken in by the select loop too.
            if link.toxics.has_changed().unwrap_or(false) || link.peer_ended.load(Ordering::Acquire)
            {
                return Poll::Ready(None);
            }
            let mut buffer = ReadBuf::new(plain);
            match Pin::new(&mut *source).poll_read(context, &mut buffer) {
                Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(buffer.filled().len()))),
                Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        let count = match read {
            None => return Plain::ToxicsChanged,
            Some(Ok(count)) => count,
            Some(Err(_)) => return Plain::Ended(LinkEnd::Failed),
        };
        link.stats.received.fetch_add(count as u64, Ordering::Relaxed);
        if count == 0 {
            let _ = destination.shutdown().await;
            return Plain::Ended(LinkEnd::Finished);
        }
        if destination.write_all(&plain[..count]).await.is_err() {
            return Plain::Ended(LinkEnd::Failed);
        }
        link.stats.sent.fetch_add(count as u64, Ordering::Relaxed);
        if count == plain.len() {
            return Plain::Full;
        }
    }
}

/// A read filled the whole buffer, so this is a bulk transfer: from
/// `SPLICE_AFTER` on, a splice pipe saves the copies (when the descriptor
/// budget gives one); without a pipe, a larger buffer cuts the system calls
/// per byte.
fn grow_after_full_read(
    plain: &mut Vec<u8>,
    pipe: &mut Option<(SplicePipe, FdClaim)>,
    pipe_failed: &mut bool,
    link: &Link<'_>,
) {
    if pipe.is_none() && plain.len() >= SPLICE_AFTER && !*pipe_failed {
        *pipe = link
            .budget
            .take(Claimant::Proxy, 2)
            .and_then(|claim| Some((SplicePipe::new().ok()?, claim)));
        *pipe_failed = pipe.is_none();
    } else if plain.len() < MAX_BUFFER {
        plain.resize(plain.len() * 2, 0);
    }
}

/// Moves data from `source` to `destination` until the source ends, a toxic
/// closes the connection, or an I/O error occurs. Cancel-safe in the sense
/// the connection needs: dropping the future loses only data in flight.
pub(crate) async fn pump(
    mut source: ReadHalf<'_>,
    mut destination: WriteHalf<'_>,
    mut link: Link<'_>,
) -> LinkEnd {
    let mut chain = Chain::default();
    let set = link.toxics.borrow_and_update().clone();
    chain.rebuild(&set, link.stream, &mut link.rng);
    let mut watching = true;
    // Waiting for a toxic change lives across loop turns: a fresh
    // `changed()` future per turn would register and unregister a waiter on
    // the watch channel (a mutex each way) for every chunk forwarded.
    let mut changed = Box::pin(next_change(link.toxics.clone()));
    let peer_ended = link.peer_ended;
    // Whether `changed` has been polled (and so holds this task's waker)
    // since it was last created: the fast path relies on that wake-up.
    let mut registered = false;

    // Chunks read but not yet through the chain, stamped with read time.
    let mut queue: VecDeque<Item> = VecDeque::new();
    let mut queued_bytes = 0usize;
    // The head chunk's pieces with their due times.
    let mut pending: VecDeque<Item> = VecDeque::new();
    // When the chunk `pending` came from was read.
    let mut head_arrival = Instant::now();
    let mut source_done = false;
    // The source ended with an error rather than an end of stream: the
    // connection closes once the toxics let the end through.
    let mut source_failed = false;
    let mut plain = vec![0u8; INITIAL_BUFFER];
    // Set up once a toxic-free link keeps filling its largest buffer.
    let mut pipe: Option<(SplicePipe, FdClaim)> = None;
    // No pipe could be had (descriptor budget or limit): keep copying.
    let mut pipe_failed = false;
    let mut staging = BytesMut::new();
    // Coarse fallback for when no timerfd can be had (out of descriptors),
    // made on first use: the carriers have no time driver of their own.
    let mut coarse: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut precise: Option<(PreciseTimer, FdClaim)> = None;
    let mut precise_failed = false;

    loop {
        // Write out everything that is due.
        loop {
            if pending.is_empty() {
                let Some(raw) = queue.pop_front() else { break };
                if let Item::Data { bytes, .. } = &raw {
                    queued_bytes -= bytes.len();
                }
                head_arrival = raw.at();
                chain.process(raw, &mut link.rng, &mut pending);
                continue;
            }
            let Some(front) = pending.front() else { break };
            if front.at() > Instant::now() {
                break;
            }
            match pending.pop_front() {
                Some(Item::Data { bytes, .. }) => {
                    if destination.write_all(&bytes).await.is_err() {
                        return LinkEnd::Failed;
                    }
                    link.stats.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Some(Item::Eof { .. }) => {
                    let _ = destination.shutdown().await;
                    return LinkEnd::Finished;
                }
                Some(Item::Close { reset, .. }) => {
                    // The destination hears of the close now, as in
                    // Toxiproxy, even if the other direction still has data
                    // to let out before the sockets are closed. A reset
                    // must not be preceded by a FIN.
                    if !reset {
                        let _ = destination.shutdown().await;
                    }
                    return LinkEnd::Closed { reset };
                }
                None => break,
            }
        }

        let deadline = chain.deadline();
        if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
            // Behind whatever is already scheduled, as the close of a
            // Toxiproxy stage follows the chunks it passed on.
            if !chain.expire(Instant::now(), &mut link.rng, &mut pending) {
                return LinkEnd::Closed { reset: false };
            }
            continue;
        }
        let wake = match (pending.front().map(Item::at), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(wake) = wake {
            if precise.is_none() && !precise_failed {
                precise = link
                    .budget
                    .take(Claimant::Proxy, 1)
                    .and_then(|claim| Some((PreciseTimer::new().ok()?, claim)));
                precise_failed = precise.is_none();
            }
            let armed = precise.as_ref().is_some_and(|(timer, _)| timer.arm(wake).is_ok());
            if !armed {
                precise = None;
                precise_failed = true;
                match coarse.as_mut() {
                    Some(sleep) => sleep.as_mut().reset(wake.into()),
                    None => match super::carriers::sleep_until(wake.into()) {
                        Some(sleep) => coarse = Some(Box::pin(sleep)),
                        // Neither timer can be had: the toxic's schedule
                        // cannot be kept, so end the connection rather
                        // than hold its data forever.
                        None => return LinkEnd::Failed,
                    },
                }
            }
        }
        let plain_path = chain.is_passthrough() && pending.is_empty() && queue.is_empty();
        if !source_done && link.peer_ended.load(Ordering::Acquire) {
            // Nothing held: the connection ends now.
            if plain_path {
                return LinkEnd::Closed { reset: false };
            }
            source_done = true;
            source_failed = true;
            queue.push_back(Item::Close { at: Instant::now(), reset: false });
            continue;
        }
        // The fast path: no toxic acts on this link and the select loop
        // below has registered this task for toxic changes, so only a
        // version check (one atomic load) per wake-up stands between
        // reads; see `relay_plain`.
        if plain_path && pipe.is_none() && !source_done && registered {
            match relay_plain(&mut source, &mut destination, &mut plain, &link).await {
                // Leave the fast path until the select loop below has
                // taken the change in (and polled `changed` again).
                Plain::ToxicsChanged => registered = false,
                Plain::Full => grow_after_full_read(&mut plain, &mut pipe, &mut pipe_failed, &link),
                Plain::Ended(end) => return end,
            }
            continue;
        }
        // Bytes spliced before a toxic arrived go out before anything the
        // toxics see.
        let draining = pipe.as_ref().is_some_and(|(pipe, _)| pipe.held() > 0);
        let can_read =
            !source_done && queue.len() < chain.read_ahead() && queued_bytes < MAX_QUEUED_BYTES;
        if !plain_path && staging.capacity() < TOXIC_READ / 4 {
            staging.reserve(TOXIC_READ);
        }

        // `biased` polls `changed` first: whichever branch completes, a
        // still-pending `changed` has registered this task's waker.
        registered = watching;
        tokio::select! {
            biased;
            (mut watcher, result) = &mut changed, if watching => {
                registered = false;
                if result.is_err() {
                    // The proxy is going away; its stop signal ends us.
                    watching = false;
                    continue;
                }
                let set = watcher.borrow_and_update().clone();
                // The fast path compares against what this link has seen.
                link.toxics.mark_unchanged();
                changed.set(next_change(watcher));
                let rebuild = chain.rebuild(&set, link.stream, &mut link.rng);
                if rebuild.must_close {
                    return LinkEnd::Closed { reset: false };
                }
                if rebuild.released {
                    // Released, but not ahead of the latency toxics still
                    // there, which the data would still go through.
                    let release = (head_arrival + chain.min_delay()).max(Instant::now());
                    for item in pending.iter_mut() {
                        if !matches!(item, Item::Close { .. }) && item.at() > release {
                            *item = item.clone().with_at(release);
                        }
                    }
                }
                // An end of stream swallowed by a removed toxic goes through
                // now.
                if source_done && queue.is_empty() && pending.is_empty() {
                    let at = Instant::now();
                    queue.push_back(if source_failed {
                        Item::Close { at, reset: false }
                    } else {
                        Item::Eof { at }
                    });
                }
            }
            () = async {
                match &precise {
                    Some((precise, _)) => {
                        if precise.fired().await.is_err() {
                            // Fall back to the coarse timer on the next turn.
                            std::future::pending::<()>().await;
                        }
                    }
                    None => match coarse.as_mut() {
                        Some(sleep) => sleep.as_mut().await,
                        None => std::future::pending::<()>().await,
                    },
                }
            }, if wake.is_some() => {}
            // The other direction ended: the check at the top of the loop
            // takes it in. A load, no waiter: the connection's task polls
            // this direction again when it sets the flag.
            () = poll_fn(|_| {
                if peer_ended.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
            }), if !source_done => {}
            read = async {
                match &pipe {
                    Some((pipe, _)) if plain_path || draining => pipe
                        .relay(source.as_ref(), destination.as_ref(), plain_path)
                        .await
                        .map(Read::Relayed),
                    _ if plain_path => source.read(&mut plain).await.map(Read::Copied),
                    _ => source.read_buf(&mut staging).await.map(Read::Copied),
                }
            }, if can_read || draining => {
                let count = match read {
                    Ok(Read::Copied(count)) => count,
                    Ok(Read::Relayed(relayed)) => {
                        link.stats.received.fetch_add(relayed.received as u64, Ordering::Relaxed);
                        link.stats.sent.fetch_add(relayed.sent as u64, Ordering::Relaxed);
                        if relayed.finished {
                            let _ = destination.shutdown().await;
                            return LinkEnd::Finished;
                        }
                        continue;
                    }
                    // The source failed (reset by its peer): without toxics
                    // nothing is held, so the connection ends now.
                    Err(_) if plain_path => return LinkEnd::Failed,
                    // Toxics still hold data that was read before the
                    // failure: it goes out on their schedule, then the
                    // connection closes, as in Toxiproxy, where a read
                    // error ends the chain's input like an end of stream
                    // (a `slow_close` holds it back, a `reset_peer` not yet
                    // set off turns it into a reset).
                    Err(_) => {
                        source_done = true;
                        source_failed = true;
                        queue.push_back(Item::Close { at: Instant::now(), reset: false });
                        continue;
                    }
                };
                link.stats.received.fetch_add(count as u64, Ordering::Relaxed);
                if plain_path {
                    if count == 0 {
                        let _ = destination.shutdown().await;
                        return LinkEnd::Finished;
                    }
                    if destination.write_all(&plain[..count]).await.is_err() {
                        return LinkEnd::Failed;
                    }
                    link.stats.sent.fetch_add(count as u64, Ordering::Relaxed);
                    if count == plain.len() {
                        grow_after_full_read(&mut plain, &mut pipe, &mut pipe_failed, &link);
                    }
                } else if count == 0 {
                    source_done = true;
                    queue.push_back(Item::Eof { at: Instant::now() });
                } else {
                    queued_bytes += count;
                    let bytes = staging.split().freeze();
                    queue.push_back(Item::Data { bytes, at: Instant::now() });
                }
            }
            else => {
                // Nothing can happen any more (a hung `timeout` link whose
                // source is done): wait for the connection to be stopped.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::proxy::toxics::ToxicKind;

    /// A connected pair of loopback sockets.
    async fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        (connected.expect("connect"), accepted.expect("accept").0)
    }

    /// What a chain lets through of `count` bytes, and whether it closes.
    fn feed(chain: &mut Chain, count: usize) -> (usize, bool) {
        let mut out = VecDeque::new();
        let bytes = bytes::Bytes::from(vec![b'x'; count]);
        chain.process(Item::Data { bytes, at: Instant::now() }, &mut Rng::new(1), &mut out);
        let passed = out
            .iter()
            .map(|item| match item {
                Item::Data { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .sum();
        (passed, out.iter().any(|item| matches!(item, Item::Close { .. })))
    }

    fn spec(name: &str, kind: ToxicKind) -> ToxicSpec {
        ToxicSpec::new(Some(name.to_string()), kind, Stream::Upstream, 1.0).expect("valid toxic")
    }

    /// A link may take in a removal and an addition at once (both published
    /// before it looked, or `POST /reset` followed by a new toxic): a new
    /// toxic that took a removed one's name is not an update of it, so it
    /// starts its own count, and a `timeout` that dropped data is still
    /// taken off (closing the corrupted stream).
    #[test]
    fn a_new_toxic_with_a_removed_ones_name_is_not_its_update() {
        let mut rng = Rng::new(1);
        let cap = spec("cap", ToxicKind::LimitData { bytes: 10 });
        let mut chain = Chain::default();
        chain.rebuild(std::slice::from_ref(&cap), Stream::Upstream, &mut rng);
        assert_eq!(feed(&mut chain, 6), (6, false));
        // An update counts on from the 6 bytes.
        let update = cap.updated(&serde_json::json!({"toxicity": 1.0})).expect("update");
        let mut updated = Chain::default();
        updated.rebuild(std::slice::from_ref(&cap), Stream::Upstream, &mut rng);
        feed(&mut updated, 6);
        updated.rebuild(&[update], Stream::Upstream, &mut rng);
        assert_eq!(feed(&mut updated, 6), (4, true));
        // A new toxic of the same name counts from 0.
        let rebuild = chain.rebuild(
            &[spec("cap", ToxicKind::LimitData { bytes: 10 })],
            Stream::Upstream,
            &mut rng,
        );
        assert!(!rebuild.must_close);
        assert_eq!(feed(&mut chain, 6), (6, false));

        let mut chain = Chain::default();
        chain.rebuild(
            &[spec("mute", ToxicKind::Timeout { timeout: 0 })],
            Stream::Upstream,
            &mut rng,
        );
        assert_eq!(feed(&mut chain, 4), (0, false));
        let rebuild = chain.rebuild(&[spec("mute", ToxicKind::Noop)], Stream::Upstream, &mut rng);
        assert!(rebuild.must_close, "the dropped bytes were forgotten");
    }

    /// Out of descriptors, a link cannot have a `timerfd` and falls back to
    /// tokio's timer, which the carriers' runtimes (like this one) do not
    /// drive: the sleep lives on the timer thread and still wakes the link.
    #[test]
    fn latency_without_a_timerfd_on_a_runtime_without_timers() {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
        runtime.block_on(async {
            let (mut client, mut proxy_client_side) = socket_pair().await;
            let (mut proxy_server_side, mut server) = socket_pair().await;
            let latency = ToxicSpec {
                name: "slow".to_string(),
                kind: ToxicKind::Latency { latency: 50, jitter: 0 },
                stream: Stream::Upstream,
                toxicity: 1.0,
                revision: 1,
                origin: 1,
            };
            let (_toxics_sender, toxics) = watch::channel(Arc::new(vec![latency]));
            // Nothing to spare: no pipe and no timerfd for this link.
            let budget = Arc::new(FdBudget::with_limit(0, 0));
            let stats = DirectionStats::default();
            let (source, _) = proxy_client_side.split();
            let (_, destination) = proxy_server_side.split();
            let link = Link {
                stream: Stream::Upstream,
                stats: &stats,
                toxics,
                rng: Rng::new(1),
                budget: &budget,
                peer_ended: &AtomicBool::new(false),
            };
            let exchange = async {
                let sent = Instant::now();
                client.write_all(b"ping").await.expect("write");
                let mut buffer = [0u8; 4];
                server.read_exact(&mut buffer).await.expect("read");
                let delay = sent.elapsed();
                client.shutdown().await.expect("shutdown");
                // The end of stream is held back by the toxic as well.
                let rest = server.read(&mut buffer).await.expect("read end");
                (buffer, delay, rest)
            };
            let (end, (received, delay, rest)) =
                tokio::join!(pump(source, destination, link), exchange);
            assert_eq!(end, LinkEnd::Finished);
            assert_eq!(&received, b"ping");
            assert_eq!(rest, 0, "expected the half-close after the data");
            assert!(
                delay >= Duration::from_millis(50),
                "the toxic's 50 ms were not kept: {delay:?}"
            );
            assert_eq!(stats.sent.load(Ordering::Relaxed), 4);
        });
    }
}
