//! Serving one proxy: the accept loop and the life of each connection.
//!
//! # Lifecycle
//! `start` spawns the accept loop and returns a `Running` handle. The
//! handle owns the only `stop` sender: dropping it wakes the accept loop
//! (which drops the listener, so new clients get "connection refused") and
//! every connection task (which drop both sockets). Each task also holds a
//! clone of a `finished` sender; when the last one is gone,
//! `Running::stop` knows the listener and every connection are closed,
//! the same "shutdown complete" idiom as mini-redis.
//!
//! Connections run on the carrier threads (see [`super::carriers`]), one
//! task per connection driving both directions, so a message that arrives
//! is read, passed on and written by the thread that saw it arrive. While
//! the proxy has no toxic, the task lends both sockets to a relay thread
//! (see [`super::relay`]) and only waits for them back.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::budget::{Claimant, FdBudget};
use super::faults::Rng;
use super::link::{self, Link, LinkEnd, ToxicSet};
use super::relay::{self, Returned, Served};
use super::stats::{ActiveConnection, ProxyStats};
use super::toxics::Stream;

/// Longest the API waits for a stopping proxy's tasks. They react to the
/// stop signal at once, so this only guards against a bug hanging the API.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What every connection of a running proxy shares.
pub(crate) struct ProxyContext {
    /// Dialled afresh for every client, so DNS changes are picked up.
    pub(crate) upstream: String,
    pub(crate) toxics: watch::Receiver<ToxicSet>,
    pub(crate) stats: Arc<ProxyStats>,
    /// Each connection takes two descriptors from it, or is closed at once.
    pub(crate) budget: Arc<FdBudget>,
}

/// A proxy that is listening.
#[derive(Debug)]
pub(crate) struct Running {
    /// Dropped to stop the accept loop and every connection.
    stop: watch::Sender<()>,
    /// Yields `None` once every task of this proxy has ended.
    finished: mpsc::Receiver<()>,
}

impl Running {
    /// Closes the listener and every connection, and waits until they are
    /// closed (at most `STOP_GRACE`).
    pub(crate) async fn stop(self) {
        let Running { stop, mut finished } = self;
        drop(stop);
        let _ = tokio::time::timeout(STOP_GRACE, finished.recv()).await;
    }
}

/// Starts accepting clients on `listener`.
pub(crate) fn start(listener: TcpListener, context: ProxyContext) -> Running {
    let (stop, stop_signal) = watch::channel(());
    let (finished_sender, finished) = mpsc::channel(1);
    super::carriers::start_all();
    super::relay::start_all();
    tokio::spawn(accept_loop(listener, Arc::new(context), stop_signal, finished_sender));
    Running { stop, finished }
}

async fn accept_loop(
    listener: TcpListener,
    context: Arc<ProxyContext>,
    mut stop: watch::Receiver<()>,
    finished: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    // Near the descriptor limit: close the client at once (it
                    // sees the connection end) rather than take descriptors
                    // the API needs.
                    let Some(claim) = context.budget.take(Claimant::Proxy, 2) else {
                        context.stats.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        drop(client);
                        continue;
                    };
                    // The socket moves to a carrier's runtime: it must leave
                    // this runtime's I/O driver first.
                    let Ok(client) = client.into_std() else { continue };
                    super::carriers::spawn(serve_connection(
                        claim,
                        client,
                        Arc::clone(&context),
                        stop.clone(),
                        finished.clone(),
                    ));
                }
                // Out of file descriptors or a client that reset before we
                // accepted: back off a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn serve_connection(
    _claim: super::budget::FdClaim,
    client: std::net::TcpStream,
    context: Arc<ProxyContext>,
    mut stop: watch::Receiver<()>,
    _finished: mpsc::Sender<()>,
) {
    let _active = ActiveConnection::open(&context.stats);
    let _load = super::memory::Load::enter();
    // Go, and so Toxiproxy, disables Nagle on every TCP socket; small
    // request/response traffic would otherwise stall for 40 ms.
    let _ = client.set_nodelay(true);
    let server = tokio::select! {
        connected = connect_upstream(&context.upstream) => match connected {
            Ok(server) => server,
            Err(_) => {
                context
                    .stats
                    .upstream_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        },
        _ = stop.changed() => return,
    };
    let _ = server.set_nodelay(true);

    // Without toxics, a relay thread serves the connection until a toxic
    // arrives; then it carries on here from where the relay left it. The
    // client's socket joins this runtime's poll set only then.
    let mut relayed = Returned::default();
    let mut toxics = context.toxics.clone();
    let (client, mut server) = if toxics.borrow_and_update().is_empty() {
        let stopped = stop_requested(&mut stop);
        match relay::serve(client, server, &context.stats, &mut toxics, stopped).await {
            Served::Over => return,
            Served::Declined(client, server) => (client, server),
            Served::Returned(returned, client, server) => {
                relayed = returned;
                let Ok(server) = TcpStream::from_std(server) else { return };
                (client, server)
            }
        }
    } else {
        (client, server)
    };
    let Ok(mut client) = TcpStream::from_std(client) else { return };
    // What the destinations had not accepted from the relay goes first.
    for (held, destination, stats) in [
        (&relayed.held[0], &mut server, &context.stats.upstream),
        (&relayed.held[1], &mut client, &context.stats.downstream),
    ] {
        if held.is_empty() {
            continue;
        }
        if destination.write_all(held).await.is_err() {
            return;
        }
        stats.sent.fetch_add(held.len() as u64, Ordering::Relaxed);
    }
    let finished = relayed.finished;

    // One flag per direction: set when the other direction ended the
    // connection, so that this one lets out what its toxics hold first.
    let peer_ended = [AtomicBool::new(false), AtomicBool::new(false)];
    // Set by the first direction to end of itself (its source closed or
    // failed, not a toxic): the other one ends after it.
    let first_ended = AtomicBool::new(relayed.first_ended);
    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let upstream = link::pump(
            client_read,
            server_write,
            Link {
                stream: Stream::Upstream,
                stats: &context.stats.upstream,
                toxics: context.toxics.clone(),
                rng: Rng::from_entropy(),
                budget: &context.budget,
                peer_ended: &peer_ended[0],
            },
        );
        let upstream = async {
            // Its end of stream was forwarded by the relay.
            let end = if finished[0] { LinkEnd::Finished } else { upstream.await };
            if matches!(end, LinkEnd::Finished | LinkEnd::Failed) {
                first_ended.store(true, Ordering::Relaxed);
            }
            end
        };
        let downstream = link::pump(
            server_read,
            client_write,
            Link {
                stream: Stream::Downstream,
                stats: &context.stats.downstream,
                toxics: context.toxics.clone(),
                rng: Rng::from_entropy(),
                budget: &context.budget,
                peer_ended: &peer_ended[1],
            },
        );
        // The server's end closing (or resetting) before the client's is
        // what a user whose client was cut off asks about: counted once,
        // for the direction from the server, when the client's has not
        // ended yet.
        let downstream = async {
            let end = if finished[1] { LinkEnd::Finished } else { downstream.await };
            if matches!(end, LinkEnd::Finished | LinkEnd::Failed)
                && !first_ended.swap(true, Ordering::Relaxed)
            {
                context.stats.closed_by_upstream.fetch_add(1, Ordering::Relaxed);
            }
            end
        };
        // `biased`: the branches are polled in order, without drawing a
        // random starting branch on every wake-up; the stop signal is an
        // atomic load, so it goes first.
        tokio::select! {
            biased;
            () = stop_requested(&mut stop) => LinkEnd::Closed { reset: false },
            end = both(upstream, downstream, &peer_ended) => end,
        }
    };
    if end == (LinkEnd::Closed { reset: true }) {
        // SO_LINGER 0 makes close() send RST instead of FIN.
        let _ = rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO));
        let _ = rustix::net::sockopt::set_socket_linger(&server, Some(Duration::ZERO));
    }
    // Dropping both streams closes them.
}

/// Waits for the proxy's stop signal without taking the channel's lock on
/// every wake-up of the connection.
///
/// A connection's task is woken for every message it forwards, and
/// `tokio::select!` polls every branch each time. Polling a `changed()`
/// future that is already registered locks the channel's waiter list (one
/// mutex for all the connections of a proxy, on every carrier thread) only
/// to find this task's waker already there. So once `changed()` holds this
/// task's waker, a poll with the same waker reads the channel's state (an
/// atomic load) instead; the sender's drop, which is the stop signal,
/// marks the channel closed before it wakes the waiters.
async fn stop_requested(stop: &mut watch::Receiver<()>) {
    // A second receiver, at the same version, to look at the state while
    // `changed()` borrows the first.
    let probe = stop.clone();
    let changed = stop.changed();
    tokio::pin!(changed);
    let mut registered: Option<Waker> = None;
    poll_fn(|context| {
        if registered.as_ref().is_some_and(|waker| waker.will_wake(context.waker())) {
            // A send would count too, though the signal is only ever the
            // sender's drop (an error here).
            return match probe.has_changed() {
                Ok(false) => Poll::Pending,
                Ok(true) | Err(_) => Poll::Ready(()),
            };
        }
        match changed.as_mut().poll(context) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => {
                registered = Some(context.waker().clone());
                Poll::Pending
            }
        }
    })
    .await;
}

/// Wakes a connection's task on behalf of one of its directions and notes
/// that it did, so that the task polls only the directions with something
/// to do.
///
/// A wake-up of a connection is almost always for one direction (a message
/// arrived on one socket). Polling the other direction as well costs a
/// readiness check under the socket's waiter lock and a walk into its
/// link's state for nothing, on every message forwarded.
struct DirectionWake {
    woken: AtomicBool,
    /// The connection task's waker.
    task: Waker,
}

impl Wake for DirectionWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set before the task is woken, so the poll it leads to sees it.
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// The wakers of a connection's two directions, made for one task waker.
struct DirectionWakers {
    states: [Arc<DirectionWake>; 2],
    /// Made once, so a poll lends a direction its waker without touching
    /// a reference count; sockets and channels keep their registration as
    /// long as the waker they hold `will_wake` the one they are polled with.
    wakers: [Waker; 2],
}

impl DirectionWakers {
    /// Both start woken: each direction must be polled once to register.
    fn new(task: &Waker) -> Self {
        let states = [(); 2]
            .map(|()| Arc::new(DirectionWake { woken: AtomicBool::new(true), task: task.clone() }));
        let wakers = [Waker::from(Arc::clone(&states[0])), Waker::from(Arc::clone(&states[1]))];
        DirectionWakers { states, wakers }
    }
}

/// Runs both directions; a half-closed direction lets the other go on.
/// A direction that closes the connection (or fails) sets the other's
/// `peer_ended` flag, and the connection ends when that one has let out
/// what its toxics hold; a reset ends it at once. Each direction is polled
/// only when it was woken (see [`DirectionWake`]).
async fn both(
    upstream: impl Future<Output = LinkEnd>,
    downstream: impl Future<Output = LinkEnd>,
    peer_ended: &[AtomicBool; 2],
) -> LinkEnd {
    tokio::pin!(upstream, downstream);
    let mut done = [false; 2];
    // How the first direction to close the connection ended it.
    let mut first_end: Option<LinkEnd> = None;
    let mut wakers: Option<DirectionWakers> = None;
    poll_fn(|context| {
        // A task keeps its waker where it was spawned; should it be polled
        // with another, new wakers (both woken) make every direction
        // register again with them.
        if !wakers.as_ref().is_some_and(|wakers| wakers.states[0].task.will_wake(context.waker())) {
            wakers = None;
        }
        let wakers = wakers.get_or_insert_with(|| DirectionWakers::new(context.waker()));
        for (index, finished) in done.iter_mut().enumerate() {
            if *finished || !wakers.states[index].woken.swap(false, Ordering::Acquire) {
                continue;
            }
            let mut direction = Context::from_waker(&wakers.wakers[index]);
            let polled = match index {
                0 => upstream.as_mut().poll(&mut direction),
                _ => downstream.as_mut().poll(&mut direction),
            };
            match polled {
                Poll::Pending => {}
                Poll::Ready(LinkEnd::Finished) => *finished = true,
                Poll::Ready(end @ (LinkEnd::Failed | LinkEnd::Closed { reset: false }))
                    if first_end.is_none() =>
                {
                    *finished = true;
                    first_end = Some(end);
                    let other = 1 - index;
                    peer_ended[other].store(true, Ordering::Release);
                    // The other direction is polled again, in this task's
                    // next poll, to take the flag in.
                    wakers.states[other].wake_by_ref();
                }
                Poll::Ready(end @ LinkEnd::Closed { reset: true }) => return Poll::Ready(end),
                Poll::Ready(end) => return Poll::Ready(first_end.unwrap_or(end)),
            }
        }
        if done == [true, true] {
            Poll::Ready(first_end.unwrap_or(LinkEnd::Finished))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Connects to the upstream. A zone id (`[fe80::1%eth0]:80`) is applied
/// here: the system resolver takes no bracketed scoped addresses.
async fn connect_upstream(upstream: &str) -> std::io::Result<TcpStream> {
    // `:5432`: this machine, as Go's `Dial` takes an empty host.
    if let Some(local) = super::registry::local_upstream(upstream) {
        return TcpStream::connect(&local[..]).await;
    }
    match crate::target::zoned_socket_address(upstream) {
        Some(Ok(address)) => TcpStream::connect(address).await,
        Some(Err(error)) => {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string()))
        }
        None => TcpStream::connect(upstream).await,
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;

    use tokio::sync::oneshot;

    use super::*;

    /// A direction that counts its polls and finishes when `finish` fires.
    fn direction(
        finish: oneshot::Receiver<()>,
        polls: Arc<AtomicUsize>,
    ) -> impl Future<Output = LinkEnd> {
        let mut finish = finish;
        poll_fn(move |context| {
            polls.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut finish).poll(context).map(|_| LinkEnd::Finished)
        })
    }

    #[tokio::test]
    async fn a_wake_up_polls_only_the_direction_it_was_for() {
        let polls = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
        let count = |index: usize| polls[index].load(Ordering::Relaxed);
        let (finish_upstream, upstream) = oneshot::channel();
        let (finish_downstream, downstream) = oneshot::channel();
        let upstream = direction(upstream, Arc::clone(&polls[0]));
        let downstream = direction(downstream, Arc::clone(&polls[1]));
        let connection = tokio::spawn(async move {
            let peer_ended = [AtomicBool::new(false), AtomicBool::new(false)];
            both(upstream, downstream, &peer_ended).await
        });
        while count(0) == 0 || count(1) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!((count(0), count(1)), (1, 1), "the first poll registers both");

        finish_upstream.send(()).expect("upstream waiting");
        while count(0) == 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!((count(0), count(1)), (2, 1), "the idle direction was polled too");

        finish_downstream.send(()).expect("downstream waiting");
        assert_eq!(connection.await.expect("connection task"), LinkEnd::Finished);
        assert_eq!((count(0), count(1)), (2, 2), "a finished direction was polled again");
    }

    #[tokio::test]
    async fn a_direction_that_closes_lets_the_other_let_out_what_it_holds() {
        let peer_ended = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let (finish_downstream, downstream_finished) = oneshot::channel::<()>();
        let upstream = async { LinkEnd::Closed { reset: false } };
        let downstream = async move {
            let _ = downstream_finished.await;
            LinkEnd::Closed { reset: false }
        };
        let flags = Arc::clone(&peer_ended);
        let connection = tokio::spawn(async move { both(upstream, downstream, &flags).await });
        while !peer_ended[1].load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        assert!(!peer_ended[0].load(Ordering::Acquire), "the direction that closed was told");
        assert!(!connection.is_finished(), "ended before the other direction let its data out");
        finish_downstream.send(()).expect("downstream waiting");
        assert_eq!(connection.await.expect("task"), LinkEnd::Closed { reset: false });
    }
}
