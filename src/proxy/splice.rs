//! Zero-copy forwarding for bulk transfers on links without toxics.
//!
//! `splice(2)` moves data socket → pipe → socket inside the kernel, so the
//! proxy never copies the bytes through user space. A link switches to it
//! only once reads keep filling its largest buffer, so request/response
//! connections do not pay two extra descriptors for a pipe.
//!
//! # Platform specific behavior
//! Linux only. See: <https://man7.org/linux/man-pages/man2/splice.2.html>

use std::io;
use std::os::fd::OwnedFd;

use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bytes moved per splice; also the pipe size asked for.
const PIPE_SIZE: usize = 1 << 20;

pub(crate) struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    /// What the kernel granted (the pipe size limit may be lower).
    capacity: usize,
}

impl SplicePipe {
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        let capacity = fcntl_setpipe_size(&write, PIPE_SIZE).unwrap_or(64 << 10);
        Ok(SplicePipe { read, write, capacity })
    }

    /// Moves what `source` has (up to the pipe's capacity) into the pipe;
    /// 0 means end of stream. Cancel-safe. The pipe must be empty, so that
    /// `EAGAIN` can only mean "the socket has nothing".
    pub(crate) async fn fill(&self, source: &TcpStream) -> io::Result<usize> {
        loop {
            source.readable().await?;
            let moved = source.try_io(Interest::READABLE, || {
                splice(
                    source,
                    None,
                    &self.write,
                    None,
                    self.capacity,
                    SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Moves `count` bytes from the pipe to `destination`, emptying it.
    pub(crate) async fn drain(&self, destination: &TcpStream, mut count: usize) -> io::Result<()> {
        while count > 0 {
            destination.writable().await?;
            let moved = destination.try_io(Interest::WRITABLE, || {
                splice(
                    &self.read,
                    None,
                    destination,
                    None,
                    count,
                    SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
                )
                .map_err(io::Error::from)
            });
            match moved {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(moved) => count -= moved,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}
