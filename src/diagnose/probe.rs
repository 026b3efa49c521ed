//! Probes: connect to one address and classify what happened, then
//! optionally ask the application something (an HTTP request, a TLS
//! ClientHello, or a nudge to see whether anything reads the socket).
//!
//! A connect result is classified by errno *and* by what the socket says
//! afterwards: `getsockname() == getpeername()` means the kernel connected
//! the socket to itself (TCP simultaneous open on a port inside the
//! ephemeral range with nothing listening), which is not a service.
//! See: <https://github.com/tokio-rs/tokio/issues/3405>
//!
//! HTTP is written by hand over the socket on purpose: no proxy variable can
//! divert a probe of a loopback address, and the bytes on the wire are
//! exactly the ones documented here.

pub use crate::model::diagnosis::{HttpResponse, Outcome, ProbeAddress, Reply};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

/// A connected socket (TCP or Unix).
#[derive(Debug)]
pub struct Stream(Socket);

// A read or write interrupted by a signal is tried again. With a socket
// timeout set, Linux fails a blocked call with EINTR whenever a handler runs
// and also, with no handler at all, when the process is stopped and
// continued (Ctrl-Z then `fg` during `porthole wait`); taken as an error,
// that would be reported as a reset or a failure of the server. Every
// caller re-arms its timeout from its own deadline, so a retry cannot
// outlast it by more than one signal's worth.
// See: <https://man7.org/linux/man-pages/man7/signal.7.html>
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match (&self.0).read(buf) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match (&self.0).write(buf) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stream {
    /// Our end and the server's end of a TCP connection (`None` for Unix):
    /// the 4-tuple that finds the server's socket in the inventory.
    pub fn tcp_ends(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        let local = self.0.local_addr().ok()?.as_socket()?;
        let peer = self.0.peer_addr().ok()?.as_socket()?;
        Some((local, peer))
    }

    /// The socket's inode when it is a Unix socket (`None` for TCP, or
    /// when it cannot be read): what finds our end in a `unix_diag` dump,
    /// whose peer field tells whether the server accepted us.
    pub fn unix_inode(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        if self.0.domain().ok()? != Domain::UNIX {
            return None;
        }
        let file = std::fs::File::from(std::os::fd::OwnedFd::from(self.0.try_clone().ok()?));
        Some(file.metadata().ok()?.ino())
    }

    pub(super) fn set_read_timeout(&self, deadline: Instant) -> std::io::Result<()> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.0.set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
    }
}

/// The result of one connect attempt.
#[derive(Debug)]
pub struct ConnectProbe {
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// The errno, when the kernel gave one.
    pub errno: Option<i32>,
    /// `ECONNREFUSED: connection refused`, `connected from 127.0.0.1:51234`…
    pub detail: String,
    /// The socket, when connected to a real peer.
    pub stream: Option<Stream>,
}

/// The `sun_path` for a Unix target: `@name` is an abstract socket (as
/// `ss` and `porthole ls` print it), which the kernel names with a leading
/// NUL byte instead of a file.
fn socket_name(path: &std::path::Path) -> std::borrow::Cow<'_, std::path::Path> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    match path.as_os_str().as_bytes().strip_prefix(b"@") {
        Some(name) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(name);
            std::borrow::Cow::Owned(std::ffi::OsString::from_vec(bytes).into())
        }
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// The most bytes a Unix socket path can have in `sockaddr_un` (its
/// 108-byte `sun_path` with the terminating NUL).
pub const UNIX_PATH_MAX: usize = 107;

/// Whether a Unix target names a file whose path does not fit in
/// `sockaddr_un`: a client that passes it to `connect()` fails before
/// reaching any socket (`ENAMETOOLONG` in Python, `path must be shorter
/// than SUN_LEN` in Rust, a truncated path in C).
pub fn unix_path_too_long(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    !bytes.starts_with(b"@") && bytes.len() > UNIX_PATH_MAX
}

/// The address of a Unix target, and the directory handle it goes through
/// when the path is too long for `sockaddr_un`: `/proc/self/fd/N/NAME`
/// reaches the same file (as a server that bound it with a relative name
/// from its directory made it), so the probe sees what listens there.
fn unix_address(path: &std::path::Path) -> std::io::Result<(SockAddr, Option<std::fs::File>)> {
    if !unix_path_too_long(path) {
        return Ok((SockAddr::unix(socket_name(path))?, None));
    }
    let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok((SockAddr::unix(path)?, None));
    };
    let handle = crate::sys::fds::open_directory_handle(directory)?;
    use std::os::fd::AsRawFd;
    let mut short = std::path::PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    short.push(name);
    Ok((SockAddr::unix(short)?, Some(handle)))
}

/// Connects to `address` within `timeout` and classifies the result.
pub fn connect(address: &ProbeAddress, timeout: Duration) -> ConnectProbe {
    let started = Instant::now();
    // Holds the directory of a long Unix path open until the connect is
    // made.
    let mut directory_handle = None;
    let (domain, target) = match address {
        ProbeAddress::Ip(ip) => (Domain::for_address(*ip), SockAddr::from(*ip)),
        ProbeAddress::Scoped { address, .. } => (Domain::IPV6, SockAddr::from(*address)),
        ProbeAddress::Unix(path) => match unix_address(path) {
            Ok((target, directory)) => {
                directory_handle = directory;
                (Domain::UNIX, target)
            }
            Err(error) => return failed(started, &error),
        },
    };
    let socket = match Socket::new(domain, Type::STREAM.cloexec(), None) {
        Ok(socket) => socket,
        Err(error) => return failed(started, &error),
    };
    let connected = if domain == Domain::UNIX {
        unix_connect(&socket, &target, timeout)
    } else {
        socket.connect_timeout(&target, timeout)
    };
    if let Err(error) = connected {
        return failed(started, &error);
    }
    let elapsed = started.elapsed();
    let local = socket.local_addr().ok().and_then(|a| a.as_socket());
    let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
    if let (Some(local), Some(peer)) = (local, peer) {
        if local == peer {
            return ConnectProbe {
                outcome: Outcome::SelfConnect,
                elapsed,
                errno: None,
                detail: format!(
                    "the socket connected to itself ({local} → {peer}): nothing listens, the port is inside the ephemeral range"
                ),
                stream: None,
            };
        }
    }
    let detail = match (local, &directory_handle) {
        (Some(local), _) => format!("connected from {}", address.name_zone(local)),
        (None, Some(_)) => format!(
            "connected through the socket's directory: the path is longer than the {UNIX_PATH_MAX} bytes a Unix socket address holds"
        ),
        (None, None) => "connected".to_string(),
    };
    ConnectProbe {
        outcome: Outcome::Connected,
        elapsed,
        errno: None,
        detail,
        stream: Some(Stream(socket)),
    }
}

/// A Unix stream connect, blocking for at most `timeout` while the
/// listener's backlog is full, as a blocking client waits: the kernel
/// takes the connection as soon as the server accepts one (so a busy
/// server is reached), and answers `EAGAIN` when the send timeout runs out
/// first.
///
/// # Platform specific behavior
/// A non-blocking Unix connect (what `connect_timeout` starts with) fails
/// at once with `EAGAIN` on a full backlog, and polling the unconnected
/// socket then reports `POLLHUP` with no error: the listener looked absent.
/// See: <https://elixir.bootlin.com/linux/v6.6/source/net/unix/af_unix.c>
/// (`unix_stream_connect`, `unix_wait_for_peer`).
fn unix_connect(socket: &Socket, target: &SockAddr, timeout: Duration) -> std::io::Result<()> {
    socket.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    socket.connect(target)?;
    socket.set_write_timeout(None)
}

fn failed(started: Instant, error: &std::io::Error) -> ConnectProbe {
    let errno = error.raw_os_error();
    let outcome = match errno {
        Some(libc::ECONNREFUSED) => Outcome::Refused,
        Some(libc::ENOENT) => Outcome::NoSocketFile,
        // Only a Unix connect answers EAGAIN: its listener's backlog stayed
        // full for the whole timeout.
        Some(libc::ETIMEDOUT) | Some(libc::EAGAIN) => Outcome::Timeout,
        Some(libc::ECONNRESET) | Some(libc::ECONNABORTED) => Outcome::Reset,
        Some(libc::EACCES) | Some(libc::EPERM) => Outcome::Denied,
        None if error.kind() == std::io::ErrorKind::TimedOut => Outcome::Timeout,
        _ => Outcome::Unreachable,
    };
    let detail = match errno {
        Some(libc::EAGAIN) => format!(
            "EAGAIN: the listener's backlog stayed full for {} ms (a blocking client waits)",
            started.elapsed().as_millis()
        ),
        Some(code) => format!("{}: {}", errno_name(code), strip_os_error(error)),
        None if outcome == Outcome::Timeout => "no answer to the SYN (dropped?)".to_string(),
        None => error.to_string(),
    };
    ConnectProbe { outcome, elapsed: started.elapsed(), errno, detail, stream: None }
}

/// `Connection refused (os error 111)` → `connection refused`.
fn strip_os_error(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The symbolic name of the errnos a connect or bind can return.
pub fn errno_name(code: i32) -> String {
    let name = match code {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ENETDOWN => "ENETDOWN",
        libc::EINVAL => "EINVAL",
        libc::EAGAIN => "EAGAIN",
        _ => return format!("errno {code}"),
    };
    name.to_string()
}

/// Responses are read up to this size; health endpoints are small.
pub const MAX_RESPONSE: usize = 1 << 20;

/// Sends `GET path` and reads the response (plain HTTP).
pub fn http_get(stream: &mut Stream, host: &str, path: &str, deadline: Instant) -> Reply {
    let request = request_bytes(host, path);
    if let Err(error) = stream.write_all(&request) {
        return io_reply(&error);
    }
    let (bytes, end) = read_until_done(stream, deadline, |s, d| s.set_read_timeout(d));
    classify_response(&bytes, end, false)
}

/// Sends `GET path` over TLS (any certificate accepted) and reads the
/// response; a plain-HTTP answer to the handshake is reported as such.
pub fn https_get(stream: &mut Stream, host: &str, path: &str, deadline: Instant) -> Reply {
    let (mut connection, verdict) = match super::tls::verifying_probe_connection(host) {
        Ok(pair) => pair,
        Err(error) => return Reply::Failed(error.to_string()),
    };
    if let Err(error) = stream.set_read_timeout(deadline) {
        return Reply::Failed(error.to_string());
    }
    let mut recording = Recording { inner: stream, first: Vec::new() };
    let mut tls = rustls::Stream::new(&mut connection, &mut recording);
    if let Err(error) = tls.write_all(&request_bytes(host, path)) {
        let first = recording.first.clone();
        return handshake_failure(&first, &error);
    }
    let (bytes, end) = read_until_done(&mut tls, deadline, |_, _| Ok(()));
    if bytes.is_empty() && !recording.first.is_empty() && !looks_like_tls(&recording.first) {
        return handshake_failure(&recording.first, &std::io::Error::other("not TLS"));
    }
    let mut reply = classify_response(&bytes, end, true);
    if let Reply::Http(response) = &mut reply {
        response.certificate = verdict.take().map(Box::new);
    }
    reply
}

/// Sends a TLS ClientHello and reports what kind of reply came back:
/// [`Reply::Tls`], [`Reply::PlainHttp`], or how the peer reacted.
pub fn tls_hello(stream: &mut Stream, host: &str, deadline: Instant) -> Reply {
    let mut connection = match super::tls::probe_connection(host) {
        Ok(connection) => connection,
        Err(error) => return Reply::Failed(error.to_string()),
    };
    let mut hello = Vec::new();
    if let Err(error) = connection.write_tls(&mut hello) {
        return Reply::Failed(error.to_string());
    }
    if let Err(error) = stream.write_all(&hello) {
        return io_reply(&error);
    }
    let (bytes, end) = read_some(stream, deadline);
    if bytes.is_empty() {
        return end;
    }
    if looks_like_tls(&bytes) {
        Reply::Tls
    } else if bytes.starts_with(b"HTTP/1.") {
        Reply::PlainHttp
    } else {
        Reply::Other(printable(&bytes))
    }
}

/// Waits briefly for a banner, then sends a minimal HTTP request, and reports
/// whether anything reads and reacts: any bytes, a close or a reset mean a
/// live application; silence means nobody is reading the socket.
pub fn nudge(stream: &mut Stream, deadline: Instant) -> Reply {
    let banner_deadline = Instant::now()
        + deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(250));
    let (bytes, end) = read_some(stream, banner_deadline);
    if !bytes.is_empty() {
        return classify_response(&bytes, End::Complete, false);
    }
    if end != Reply::Silent {
        return end;
    }
    if let Err(error) = stream.write_all(b"GET / HTTP/1.0\r\n\r\n") {
        return io_reply(&error);
    }
    let (bytes, end) = read_some(stream, deadline);
    if bytes.is_empty() {
        return end;
    }
    classify_response(&bytes, End::Complete, false)
}

/// Reads without sending anything for up to `wait`: a banner, an immediate
/// close or reset, or silence (the normal case for client-speaks-first
/// protocols).
pub fn peek(stream: &mut Stream, wait: Duration) -> Reply {
    let (bytes, end) = read_some(stream, Instant::now() + wait);
    if bytes.is_empty() {
        end
    } else {
        Reply::Other(printable(&bytes))
    }
}

fn request_bytes(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: porthole/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// Reads whatever arrives first (one read), within the deadline.
fn read_some(stream: &mut Stream, deadline: Instant) -> (Vec<u8>, Reply) {
    if let Err(error) = stream.set_read_timeout(deadline) {
        return (Vec::new(), Reply::Failed(error.to_string()));
    }
    let mut buffer = [0u8; 512];
    match stream.read(&mut buffer) {
        Ok(0) => (Vec::new(), Reply::Closed),
        Ok(n) => (buffer[..n].to_vec(), Reply::Silent),
        Err(error) => (Vec::new(), io_reply(&error)),
    }
}

/// How reading a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Headers and the announced body arrived (or EOF after some bytes).
    Complete,
    Eof,
    Reset,
    Timeout,
    Error,
}

fn read_until_done<R: Read>(
    reader: &mut R,
    deadline: Instant,
    mut arm: impl FnMut(&mut R, Instant) -> std::io::Result<()>,
) -> (Vec<u8>, End) {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if response_complete(&bytes) {
            return (bytes, End::Complete);
        }
        if Instant::now() >= deadline {
            return (bytes, End::Timeout);
        }
        if arm(reader, deadline).is_err() {
            return (bytes, End::Error);
        }
        match reader.read(&mut buffer) {
            Ok(0) => return (bytes, End::Eof),
            Ok(n) => {
                bytes.extend_from_slice(&buffer[..n]);
                if bytes.len() >= MAX_RESPONSE {
                    return (bytes, End::Complete);
                }
            }
            Err(error) => {
                let end = match io_reply(&error) {
                    Reply::Silent => End::Timeout,
                    Reply::Reset => End::Reset,
                    // rustls reports a close without close_notify as an
                    // unexpected EOF; for a probe that is just the end.
                    Reply::Closed => End::Eof,
                    _ => End::Error,
                };
                return (bytes, end);
            }
        }
    }
}

/// Whether a full response (head plus the body its framing announces) has
/// arrived, so a keep-alive server need not close first.
fn response_complete(bytes: &[u8]) -> bool {
    crate::http1::is_complete(bytes, limits())
}

/// The bounds [`read_until_done`] reads within.
fn limits() -> crate::http1::Limits {
    crate::http1::Limits { max_body: MAX_RESPONSE, ..Default::default() }
}

fn classify_response(bytes: &[u8], end: End, tls: bool) -> Reply {
    if bytes.is_empty() {
        return match end {
            End::Eof | End::Complete => Reply::Closed,
            End::Reset => Reply::Reset,
            End::Timeout => Reply::Silent,
            End::Error => Reply::Failed("read failed".to_string()),
        };
    }
    if looks_like_tls(bytes) {
        return Reply::Tls;
    }
    if looks_like_http2_settings(bytes) {
        return Reply::Http2;
    }
    match parse_http(bytes) {
        Some((status, reason, body, location)) => {
            Reply::Http(HttpResponse { status, reason, body, tls, location, certificate: None })
        }
        None => Reply::Other(printable(bytes)),
    }
}

/// The frame an HTTP/2 server sends first, whatever the client sent: a
/// SETTINGS frame (type 4, no ACK flag) on stream 0 whose length is a
/// multiple of the 6-byte setting. An h2c-only server answers an HTTP/1.1
/// request with it (then GOAWAY).
/// See: <https://www.rfc-editor.org/rfc/rfc9113#section-3.4>
fn looks_like_http2_settings(bytes: &[u8]) -> bool {
    let [l0, l1, l2, kind, flags, s0, s1, s2, s3, ..] = *bytes else { return false };
    let length = u32::from_be_bytes([0, l0, l1, l2]);
    kind == 0x04 && flags & 0x01 == 0 && [s0, s1, s2, s3] == [0; 4] && length % 6 == 0
}

/// A TLS record header: handshake (0x16) or alert (0x15), version 3.x.
fn looks_like_tls(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 0x03
}

fn handshake_failure(first: &[u8], error: &std::io::Error) -> Reply {
    if first.starts_with(b"HTTP/1.") {
        return Reply::PlainHttp;
    }
    if !first.is_empty() && !looks_like_tls(first) {
        return Reply::Other(printable(first));
    }
    io_reply(error)
}

pub(super) fn io_reply(error: &std::io::Error) -> Reply {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Reply::Silent,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Reply::Reset
        }
        ErrorKind::UnexpectedEof => Reply::Closed,
        _ => Reply::Failed(error.to_string()),
    }
}

/// Parses the status line and returns the body with its framing removed:
/// as much of it as arrived, since a probe reports what it saw. A head that
/// never completed still gives its status line.
/// Status, reason, body and `Location` of a response (the status line alone
/// when the rest does not parse).
fn parse_http(bytes: &[u8]) -> Option<(u16, String, String, Option<String>)> {
    if !bytes.starts_with(b"HTTP/1.") {
        return None;
    }
    match crate::http1::parse_response(bytes, limits()) {
        Ok(Some(response)) => {
            let location = response.header("location").map(str::to_string);
            let crate::http1::StatusLine { status, reason, .. } = response.head.status_line;
            Some((status, reason, String::from_utf8_lossy(&response.body).into_owned(), location))
        }
        Ok(None) | Err(_) => crate::http1::parse_status_line(bytes)
            .map(|line| (line.status, line.reason, String::new(), None)),
    }
}

/// The first bytes as readable text (non-printable bytes escaped).
pub(super) fn printable(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(48)];
    let mut text: String = head
        .iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '.' })
        .collect();
    if bytes.len() > head.len() {
        text.push('…');
    }
    text
}

/// Keeps the first bytes the server sent, to tell plain HTTP from TLS when a
/// handshake fails.
struct Recording<'a> {
    inner: &'a mut Stream,
    first: Vec<u8>,
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.first.len() < 16 {
            let take = n.min(16 - self.first.len());
            self.first.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

impl Write for Recording<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http2_settings_frame_is_told_from_other_bytes() {
        // nginx `listen … http2` (h2c) answering `GET / HTTP/1.1`: SETTINGS
        // with three settings, then GOAWAY.
        #[rustfmt::skip]
        let nginx = [
            0x00, 0x00, 0x12, // length 18: three settings
            0x04,             // type SETTINGS
            0x00,             // flags: not an ACK
            0x00, 0x00, 0x00, 0x00, // stream 0
            0x00, 0x03, 0x00, 0x00, 0x00, 0x80,
            0x00, 0x04, 0x00, 0x01, 0x00, 0x00,
            0x00, 0x05, 0x00, 0xff, 0xff, 0xff,
            0x00, 0x00, 0x08, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, // GOAWAY
        ];
        assert_eq!(classify_response(&nginx, End::Eof, false), Reply::Http2);
        // An ACK, a frame on a stream, or a ragged length is something else.
        let mut ack = nginx;
        ack[4] = 0x01;
        assert_ne!(classify_response(&ack, End::Eof, false), Reply::Http2);
        let mut stream = nginx;
        stream[8] = 0x01;
        assert_ne!(classify_response(&stream, End::Eof, false), Reply::Http2);
        assert_ne!(
            classify_response(b"\x00\x00\x05\x04\x00\x00\x00\x00\x00", End::Eof, false),
            Reply::Http2
        );
        assert!(!looks_like_http2_settings(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn parses_responses() {
        let reply = classify_response(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
            End::Complete,
            false,
        );
        assert_eq!(
            reply,
            Reply::Http(HttpResponse {
                status: 503,
                reason: "Service Unavailable".into(),
                body: "busy".into(),
                tls: false,
                location: None,
                certificate: None,
            })
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert!(response_complete(chunked));
        match classify_response(chunked, End::Complete, false) {
            Reply::Http(response) => assert_eq!(response.body, "abcde"),
            other => panic!("{other:?}"),
        }
        assert_eq!(classify_response(&[0x15, 0x03, 0x01, 0, 2], End::Eof, false), Reply::Tls);
        assert_eq!(classify_response(b"", End::Timeout, false), Reply::Silent);
        assert_eq!(classify_response(b"", End::Eof, false), Reply::Closed);
        assert_eq!(
            classify_response(b"-ERR x\r\n", End::Eof, false),
            Reply::Other("-ERR x..".into())
        );
        assert!(!response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"));
    }

    #[test]
    fn refused_and_connected_are_classified() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let probe = connect(&ProbeAddress::Ip(address), Duration::from_secs(2));
        assert_eq!(probe.outcome, Outcome::Connected);
        drop(listener);
        let probe = connect(&ProbeAddress::Ip(address), Duration::from_secs(2));
        assert_eq!(probe.outcome, Outcome::Refused, "{probe:?}");
        assert!(probe.detail.starts_with("ECONNREFUSED"), "{}", probe.detail);
        // A directory of our own: a fixed path such as /nonexistent is
        // another user's to create.
        let directory = tempfile::tempdir().unwrap();
        let probe = connect(
            &ProbeAddress::Unix(directory.path().join("absent/porthole.sock")),
            Duration::from_secs(1),
        );
        assert_eq!(probe.outcome, Outcome::NoSocketFile, "{probe:?}");
        assert!(probe.detail.starts_with("ENOENT"), "{}", probe.detail);
    }
}
