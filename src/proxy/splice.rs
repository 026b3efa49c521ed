//! Zero-copy forwarding for bulk transfers on links without toxics.
//!
//! `splice(2)` moves data socket → pipe → socket inside the kernel, so the
//! proxy never copies the bytes through user space. A link switches to it
//! only once a read fills its largest copy buffer, so request/response
//! connections do not pay two extra descriptors for a pipe.
//!
//! # Design
//! The pipe is a buffer between the two sockets, not a hand-off: each turn
//! moves what the destination accepts out of the pipe, then tops the pipe
//! up from the source, so the source is read while earlier data is still
//! being written and neither socket waits for the other to finish a whole
//! pipe's worth. One `EAGAIN` is ambiguous: splicing into a pipe that
//! already holds data fails the same way whether the socket is empty or the
//! pipe is out of slots (a TCP segment can take a slot for a few bytes). So
//! the socket's readiness is cleared only when the pipe was empty; otherwise
//! the relay waits for the destination to take data, which makes room,
//! and tries again. A full pipe waits for the destination alone too: the
//! source is readable then, and waiting on it would return at once.
//!
//! # Platform specific behavior
//! Linux only. See: <https://man7.org/linux/man-pages/man2/splice.2.html>

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipe size asked for: 1 MiB, the default `/proc/sys/fs/pipe-max-size`.
/// The default 64 KiB pipe (16 slots) fills after a few segments and costs
/// a wake-up per 64 KiB; 1 MiB lets one splice take the whole socket queue.
const PIPE_SIZE: usize = 1 << 20;

/// A pipe between one source and one destination socket. Its fill level
/// lives here, not in the relay future, so dropping that future (when the
/// link's select loop picks another branch) loses nothing.
pub(crate) struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    /// What the kernel granted (the pipe size limit may be lower).
    capacity: usize,
    /// Bytes in the pipe, not yet written to the destination.
    held: AtomicUsize,
    /// The source reached end of stream; what the pipe holds is the rest.
    ended: AtomicBool,
}

/// What one call of [`SplicePipe::relay`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Relayed {
    pub(crate) received: usize,
    pub(crate) sent: usize,
    /// The source has ended and the pipe is empty.
    pub(crate) finished: bool,
}

impl SplicePipe {
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        let capacity = fcntl_setpipe_size(&write, PIPE_SIZE).unwrap_or(64 << 10);
        Ok(SplicePipe {
            read,
            write,
            capacity,
            held: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
        })
    }

    /// Bytes in the pipe waiting for the destination.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Moves data on until something moved (or the source ended and the
    /// pipe is empty). With `fill` false it only empties the pipe, for a
    /// link that must hand the next bytes to its toxics. Cancel-safe.
    pub(crate) async fn relay(
        &self,
        source: &TcpStream,
        destination: &TcpStream,
        fill: bool,
    ) -> io::Result<Relayed> {
        let mut relayed = Relayed::default();
        loop {
            let mut held = self.held();
            // Empty first: it makes room for the fill below.
            if held > 0 {
                match destination.try_io(Interest::WRITABLE, || {
                    splice(&self.read, None, destination, None, held, SpliceFlags::NONBLOCK)
                        .map_err(io::Error::from)
                }) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(moved) => {
                        held -= moved;
                        relayed.sent += moved;
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
            // Whether waiting for the source to become readable is sound:
            // false when the pipe is full, or after an `EAGAIN` that may
            // have meant "pipe full". Waiting on a source that has data
            // but nowhere to put it returns at once, every time: the relay
            // then spins without a system call (the destination's cleared
            // readiness makes `try_io` return before `splice`) until
            // tokio's cooperative budget runs out and re-queues the task.
            let mut wait_for_source =
                fill && !self.ended.load(Ordering::Relaxed) && held < self.capacity;
            if wait_for_source {
                let room = self.capacity - held;
                let into_pipe =
                    || splice(source, None, &self.write, None, room, SpliceFlags::NONBLOCK);
                let moved = if held == 0 {
                    // Empty pipe: `EAGAIN` means the socket is drained, and
                    // `try_io` clears its readiness.
                    source.try_io(Interest::READABLE, || into_pipe().map_err(io::Error::from))
                } else {
                    into_pipe().map_err(io::Error::from)
                };
                match moved {
                    Ok(0) => {
                        self.ended.store(true, Ordering::Relaxed);
                        wait_for_source = false;
                    }
                    Ok(moved) => {
                        held += moved;
                        relayed.received += moved;
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        wait_for_source = held == 0;
                    }
                    Err(error) => return Err(error),
                }
            }
            self.held.store(held, Ordering::Relaxed);
            if self.ended.load(Ordering::Relaxed) && held == 0 {
                relayed.finished = true;
                return Ok(relayed);
            }
            if relayed.received > 0 || relayed.sent > 0 {
                return Ok(relayed);
            }
            if held == 0 && !wait_for_source {
                // Only emptying was asked for, and the pipe is empty.
                return Ok(relayed);
            }
            poll_fn(|context| {
                if held > 0 {
                    if let Poll::Ready(ready) = destination.poll_write_ready(context) {
                        return Poll::Ready(ready);
                    }
                }
                if wait_for_source {
                    if let Poll::Ready(ready) = source.poll_read_ready(context) {
                        return Poll::Ready(ready);
                    }
                }
                Poll::Pending
            })
            .await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A connected pair: the tokio end the relay uses, and the blocking
    /// peer the test drives from a thread.
    fn pair(send_buffer: Option<usize>) -> (TcpStream, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let ours =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (peer, _) = listener.accept().expect("accept");
        if let Some(size) = send_buffer {
            // A fixed small send buffer (no autotuning) makes the
            // destination back up after a few hundred KiB.
            rustix::net::sockopt::set_socket_send_buffer_size(&ours, size).expect("SO_SNDBUF");
        }
        ours.set_nonblocking(true).expect("non-blocking");
        (TcpStream::from_std(ours).expect("register"), peer)
    }

    /// A slow destination with a full pipe behind it parks the relay: it
    /// must not keep being polled while the source has data it cannot take
    /// (it used to spin on the source's readiness until tokio's budget ran
    /// out, at full CPU). Everything still arrives, in order, once the
    /// destination reads again.
    #[tokio::test]
    async fn a_full_pipe_parks_the_relay_until_the_destination_drains() {
        const TOTAL: usize = 24 << 20;
        let (source, mut source_peer) = pair(None);
        let (destination, mut destination_peer) = pair(Some(64 << 10));
        let pipe = Arc::new(SplicePipe::new().expect("pipe"));
        let writer = std::thread::spawn(move || {
            let chunk: Vec<u8> = (0..=255u8).cycle().take(256 << 10).collect();
            for _ in 0..TOTAL / chunk.len() {
                source_peer.write_all(&chunk).expect("write the source");
            }
            source_peer.shutdown(Shutdown::Write).expect("half-close");
        });

        let polls = Arc::new(AtomicUsize::new(0));
        let mut relay = Box::pin({
            let pipe = Arc::clone(&pipe);
            async move {
                let mut moved = 0;
                loop {
                    let relayed = pipe.relay(&source, &destination, true).await?;
                    moved += relayed.sent;
                    if relayed.finished {
                        return io::Result::Ok(moved);
                    }
                }
            }
        });
        let counter = Arc::clone(&polls);
        let relay = tokio::spawn(poll_fn(move |context| {
            counter.fetch_add(1, Ordering::Relaxed);
            relay.as_mut().poll(context)
        }));

        // Wait for the pipe to stop filling behind the stalled destination:
        // full, or out of slots (a few bytes can take a whole slot). Full is
        // the case that spun.
        let (mut last, mut steady) = (0, 0);
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let held = pipe.held();
            steady = if held > 0 && held == last { steady + 1 } else { 0 };
            last = held;
            if steady == 5 {
                break;
            }
        }
        assert_eq!(steady, 5, "the pipe kept filling: {last} of {} bytes", pipe.capacity);
        let before = polls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Parked, the task is polled again only if a late ACK frees room in
        // the destination (a few times at most); the busy poll made it
        // thousands of times.
        let spun = polls.load(Ordering::Relaxed) - before;
        assert!(spun <= 20, "the relay was polled {spun} times while nothing could move");

        let reader = std::thread::spawn(move || {
            let mut received = Vec::with_capacity(TOTAL);
            destination_peer.read_to_end(&mut received).expect("read the destination");
            received
        });
        let moved = relay.await.expect("relay task").expect("relay");
        assert_eq!(moved, TOTAL);
        writer.join().expect("writer");
        drop(pipe);
        let received = tokio::task::spawn_blocking(move || reader.join().expect("reader"))
            .await
            .expect("join");
        assert_eq!(received.len(), TOTAL);
        assert!(received.iter().enumerate().all(|(index, byte)| *byte == index as u8));
    }
}
