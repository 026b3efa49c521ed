//! Bounded connections for probes: every connect, write and read is limited
//! by a per-target deadline and every read by a byte cap, so a silent or
//! hostile service can neither hang the audit nor make it buffer much.
//!
//! TLS uses rustls with certificate verification switched off: the audit
//! wants to know *what* answers inside TLS (a kubelet, Elasticsearch 8), not
//! whether its certificate is trusted; nothing secret is ever sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// Most bytes any single reply may contribute; enough for a banner, an HTTP
/// head and a small JSON body.
pub const MAX_REPLY: usize = 64 * 1024;

/// The point in time after which a target gets no more I/O.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    /// Bound of one operation (the `--timeout`).
    step: Duration,
}

impl Deadline {
    pub fn new(step: Duration, total: Duration) -> Self {
        Deadline { end: Instant::now() + total, step }
    }

    /// Time left for the next operation: the smaller of one step and what
    /// remains overall; `None` once expired.
    pub fn next(&self) -> Option<Duration> {
        let left = self.end.checked_duration_since(Instant::now())?;
        let bound = left.min(self.step);
        (bound > Duration::from_millis(1)).then_some(bound)
    }

    /// Like [`Deadline::next`], capped at `cap` (short passive reads).
    pub fn next_capped(&self, cap: Duration) -> Option<Duration> {
        self.next().map(|d| d.min(cap))
    }

    /// The deadline of one step that starts now: one `--timeout` at most,
    /// and never past the target's deadline. A read loop uses it so a
    /// server dripping a byte at a time cannot stretch the step.
    pub fn one_step(&self) -> Deadline {
        Deadline { end: self.end.min(Instant::now() + self.step), step: self.step }
    }
}

/// Why a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The reply is complete by its own framing.
    Complete,
    /// The peer closed the connection.
    Eof,
    /// The peer reset the connection.
    Reset,
    /// Nothing more arrived in time.
    Timeout,
    /// [`MAX_REPLY`] reached.
    Limit,
}

/// Where a probe connects: a TCP address, or a Unix socket file (as
/// reached from here).
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    Tcp(SocketAddr),
    Unix(&'a str),
}

impl From<SocketAddr> for Endpoint<'_> {
    fn from(address: SocketAddr) -> Self {
        Endpoint::Tcp(address)
    }
}

impl Conn {
    /// Connects in plain text to `endpoint`.
    pub fn open(endpoint: Endpoint<'_>, deadline: &Deadline) -> std::io::Result<Conn> {
        match endpoint {
            Endpoint::Tcp(address) => Conn::plain(address, deadline),
            Endpoint::Unix(path) => Conn::unix(path, deadline),
        }
    }
}

/// A plain or TLS connection to the probed service.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// A Unix stream socket (a service listening on a socket file).
    Unix(UnixStream),
}

impl Conn {
    /// Connects in plain text.
    pub fn plain(address: SocketAddr, deadline: &Deadline) -> std::io::Result<Conn> {
        let timeout = deadline.next().ok_or_else(timed_out)?;
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        let _ = stream.set_nodelay(true);
        Ok(Conn::Plain(stream))
    }

    /// Connects to the Unix socket file `path`. A connect to a listening
    /// socket completes or fails at once (a full backlog fails with
    /// `EAGAIN` only for non-blocking sockets): no timeout is needed, only
    /// the deadline check.
    pub fn unix(path: &str, deadline: &Deadline) -> std::io::Result<Conn> {
        deadline.next().ok_or_else(timed_out)?;
        Ok(Conn::Unix(UnixStream::connect(path)?))
    }

    /// Connects and completes a TLS handshake (no certificate checks).
    pub fn tls(address: SocketAddr, deadline: &Deadline) -> std::io::Result<Conn> {
        Conn::plain(address, deadline)?.into_tls(address, deadline)
    }

    /// Starts TLS on an open plain connection (after PostgreSQL's `S`).
    pub fn into_tls(self, address: SocketAddr, deadline: &Deadline) -> std::io::Result<Conn> {
        let mut stream = match self {
            Conn::Plain(stream) => stream,
            tls @ Conn::Tls(_) => return Ok(tls),
            Conn::Unix(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "no TLS over a Unix socket",
                ))
            }
        };
        let name = ServerName::IpAddress(address.ip().into());
        let mut connection = ClientConnection::new(tls_config()?, name)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        while connection.is_handshaking() {
            let timeout = deadline.next().ok_or_else(timed_out)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            connection.complete_io(&mut stream)?;
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(connection, stream))))
    }

    /// Ends a TLS session politely (close_notify), so the server sees a
    /// clean close instead of an error worth logging.
    pub fn close(self) {
        if let Conn::Tls(mut tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.conn.complete_io(&mut tls.sock);
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Conn::Plain(stream) => stream.set_read_timeout(Some(timeout)),
            Conn::Tls(tls) => tls.get_ref().set_read_timeout(Some(timeout)),
            Conn::Unix(stream) => stream.set_read_timeout(Some(timeout)),
        }
    }

    fn set_write_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Conn::Plain(stream) => stream.set_write_timeout(Some(timeout)),
            Conn::Tls(tls) => tls.get_ref().set_write_timeout(Some(timeout)),
            Conn::Unix(stream) => stream.set_write_timeout(Some(timeout)),
        }
    }

    /// Sends all of `bytes` before the deadline.
    pub fn send(&mut self, bytes: &[u8], deadline: &Deadline) -> std::io::Result<()> {
        let timeout = deadline.next().ok_or_else(timed_out)?;
        self.set_write_timeout(timeout)?;
        match self {
            Conn::Plain(stream) => stream.write_all(bytes),
            Conn::Unix(stream) => stream.write_all(bytes),
            Conn::Tls(tls) => {
                tls.write_all(bytes)?;
                tls.flush()
            }
        }
    }

    /// Reads until `complete` says the reply is whole, the peer closes, the
    /// cap is reached or `wait` passes without data. The whole read is one
    /// step: it ends after one `--timeout` even if data keeps trickling in.
    pub fn receive(
        &mut self,
        deadline: &Deadline,
        wait: Option<Duration>,
        complete: impl Fn(&[u8]) -> bool,
    ) -> (Vec<u8>, End) {
        let deadline = &deadline.one_step();
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let timeout = match wait {
                Some(cap) => deadline.next_capped(cap),
                None => deadline.next(),
            };
            let Some(timeout) = timeout else { return (buffer, End::Timeout) };
            if self.set_read_timeout(timeout).is_err() {
                return (buffer, End::Reset);
            }
            let read = match self {
                Conn::Plain(stream) => stream.read(&mut chunk),
                Conn::Tls(tls) => tls.read(&mut chunk),
                Conn::Unix(stream) => stream.read(&mut chunk),
            };
            match read {
                // A signal, or a stop and continue of porthole, fails a read
                // that has a socket timeout with EINTR: read again, the
                // timeout re-armed from the deadline.
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) => return (buffer, End::Eof),
                Ok(count) => {
                    let room = MAX_REPLY - buffer.len();
                    buffer.extend_from_slice(&chunk[..count.min(room)]);
                    if complete(&buffer) {
                        return (buffer, End::Complete);
                    }
                    if buffer.len() >= MAX_REPLY {
                        return (buffer, End::Limit);
                    }
                }
                Err(error) => {
                    let end = match error.kind() {
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                            End::Timeout
                        }
                        // A TLS peer closing without close_notify is still EOF.
                        std::io::ErrorKind::UnexpectedEof => End::Eof,
                        _ => End::Reset,
                    };
                    return (buffer, end);
                }
            }
        }
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::TimedOut)
}

/// The shared probe configuration (no certificate checks: a probe asks
/// what speaks on the port, not who it is).
fn tls_config() -> std::io::Result<Arc<ClientConfig>> {
    crate::diagnose::tls::probe_config().map_err(|error| std::io::Error::other(error.to_string()))
}

/// Printable, abbreviated rendering of reply bytes for evidence strings:
/// control bytes escaped, cut at `limit` characters.
pub fn abbreviate(bytes: &[u8], limit: usize) -> String {
    let mut text = String::new();
    for &byte in bytes {
        if text.chars().count() >= limit {
            text.push('…');
            break;
        }
        match byte {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            0x20..=0x7e => text.push(char::from(byte)),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviates_control_bytes() {
        assert_eq!(abbreviate(b"+PONG\r\n", 40), "+PONG\\r\\n");
        assert_eq!(abbreviate(&[0x0a, 0x00, b'5'], 40), "\\n\\x005");
        assert_eq!(abbreviate(b"abcdef", 3), "abc…");
    }

    #[test]
    fn a_dripping_server_cannot_stretch_a_read() {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // One byte every 20 ms, never a line end, for up to 10 s.
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for _ in 0..500 {
                if stream.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // A 200 ms step inside a 10 s target deadline.
        let deadline = Deadline::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut conn = Conn::plain(address, &deadline).unwrap();
        let (bytes, end) = conn.receive(&deadline, Some(Duration::from_millis(100)), |_| false);
        assert_eq!(end, End::Timeout);
        // Held to the whole deadline the read would collect ~500 bytes;
        // one step allows ~10 (a generous bound for a loaded machine).
        assert!(bytes.len() < 100, "read {} bytes", bytes.len());
        drop(conn);
        server.join().unwrap();
    }

    #[test]
    fn deadline_caps_each_step() {
        let deadline = Deadline::new(Duration::from_secs(2), Duration::from_millis(500));
        let next = deadline.next().unwrap();
        assert!(next <= Duration::from_millis(500));
        assert!(
            deadline.next_capped(Duration::from_millis(10)).unwrap() <= Duration::from_millis(10)
        );
        let expired = Deadline::new(Duration::from_secs(1), Duration::ZERO);
        assert!(expired.next().is_none());
    }
}
