//! `--webhook URL`: each alert POSTed as JSON, from a thread of its own.
//!
//! Recording must never wait for a web server, so [`Webhook::submit`] only
//! appends to a bounded queue: when it is full the *oldest* alert is
//! dropped (the newest says most about the present) and counted, and the
//! count is reported when the monitor stops, like the recorder's losses.
//! The thread POSTs one alert at a time (HTTP/1.1, `Connection: close`),
//! each attempt bounded by a timeout; a failure (no connection, a timeout,
//! a 5xx, 408 or 429 answer) is retried with exponential backoff, 0.5 s
//! doubling up to 30 s, until the configured number of attempts is spent.
//! Any other answer than 2xx is final and fails at once: asking again
//! gets the same answer, and the backoffs held every alert queued behind
//! it. A redirect (an `http://` collector that sends everyone to
//! `https://`) is not followed — the body would go somewhere the user did
//! not name — and the failure says where it pointed.
//!
//! Only `http://` URLs are accepted: alerts go to a collector on the same
//! host or network (a local relay can add TLS).
//!
//! # Lifecycle
//! [`Webhook::finish`] closes the queue and gives the thread until a
//! deadline to deliver what is queued, without waiting out backoffs past
//! it; what is still queued or in flight then is counted as undelivered.
//! The thread is not joined after the deadline: a POST stuck in its
//! timeout ends with the process.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// First retry delay; doubled after each failed attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    /// `host` or `host:port` as written, for the `Host` header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Errors in a `--webhook` URL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookUrlError {
    #[error("only http:// URLs are supported")]
    Scheme,
    #[error("no host")]
    NoHost,
    #[error("invalid port '{0}'")]
    Port(String),
    /// A space or control character would end the request line or start
    /// a header of its own.
    #[error("a space or control character in the URL (percent-encode it: %20)")]
    Unsafe,
    #[error("invalid host '{0}'")]
    Host(String),
    /// A name that is none (`x..y`), or a number the resolver reads as an
    /// IPv4 address in the old shorthand (`10`, `127.1`).
    #[error(transparent)]
    HostName(crate::target::EndpointError),
    /// `user:password@` would be shown in every message that names the
    /// URL, and sent in the clear.
    #[error("a user name or password in the URL is not supported: give the collector a token in the path")]
    Credentials,
}

impl WebhookUrl {
    /// Parses `http://host[:port][/path]`; IPv6 hosts in brackets.
    pub fn parse(text: &str) -> Result<Self, WebhookUrlError> {
        let rest = text.strip_prefix("http://").ok_or(WebhookUrlError::Scheme)?;
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(WebhookUrlError::Unsafe);
        }
        // A fragment belongs to the client; it is never sent.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(index) if rest[index..].starts_with('/') => (&rest[..index], &rest[index..]),
            Some(index) => (&rest[..index], &rest[index..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        if authority.contains('@') {
            // Credentials in the URL would end up in messages; a header or
            // a token in the path is the way.
            return Err(WebhookUrlError::Credentials);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or(WebhookUrlError::NoHost)?;
                (host.to_string(), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            },
        };
        if host.is_empty() {
            return Err(WebhookUrlError::NoHost);
        }
        let bracketed = authority.starts_with('[');
        let host_ok = host.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'-' | b'_')
                || (bracketed && matches!(b, b':' | b'%'))
        });
        if !host_ok {
            return Err(WebhookUrlError::Host(host));
        }
        if !bracketed {
            crate::target::parse_host(&host).map_err(WebhookUrlError::HostName)?;
        }
        // Port 0 is no port a collector listens on: every POST would fail.
        let port = match port {
            Some(text) => text
                .parse()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| WebhookUrlError::Port(text.to_string()))?,
            None => 80,
        };
        Ok(WebhookUrl { authority: authority.to_string(), host, port, path })
    }
}

/// What the webhook thread did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebhookCounters {
    pub delivered: u64,
    /// Given up after every attempt failed.
    pub failed: u64,
    /// Oldest alerts dropped because the queue was full.
    pub dropped: u64,
    /// Still queued or in flight when the monitor stopped.
    pub undelivered: u64,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    /// Set by `finish`: deliver what is queued until this instant.
    closing: Option<Instant>,
    in_flight: bool,
    counters: WebhookCounters,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How one delivery is attempted and retried.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Alerts the queue holds at most.
    pub capacity: usize,
    /// Attempts per alert, the first included.
    pub attempts: u32,
    /// Connect, write and read timeout of one attempt.
    pub timeout: Duration,
    /// Delay before the first retry; doubled after each.
    pub first_backoff: Duration,
    /// Where each post says it is the recorder's own connection.
    pub own: crate::monitor::own::OwnConnections,
}

/// Reports a failed delivery (after its last attempt), one line.
pub type Report = Arc<dyn Fn(String) + Send + Sync>;

/// The queue and its thread; see the module docs.
pub struct Webhook {
    shared: Arc<Shared>,
    capacity: usize,
    /// Taken by [`Webhook::finish`].
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Webhook {
    /// Starts the delivery thread; failures after the last attempt go to
    /// `report`.
    pub fn start(
        url: WebhookUrl,
        options: WebhookOptions,
        report: Report,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() });
        let capacity = options.capacity.max(1);
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || deliver_all(&worker, &url, &options, &report))?;
        Ok(Webhook { shared, capacity, thread: Mutex::new(Some(thread)) })
    }

    /// Queues one alert's JSON; never blocks (beyond a short lock).
    pub fn submit(&self, body: Vec<u8>) {
        let mut state = self.shared.lock();
        if state.closing.is_some() {
            return;
        }
        while state.queue.len() >= self.capacity {
            state.queue.pop_front();
            state.counters.dropped += 1;
        }
        state.queue.push_back(body);
        drop(state);
        self.shared.wake.notify_all();
    }

    /// Counters so far.
    pub fn counters(&self) -> WebhookCounters {
        self.shared.lock().counters
    }

    /// Delivers what is queued until `deadline`, then stops; returns the
    /// final counters.
    pub fn finish(&self, deadline: Instant) -> WebhookCounters {
        self.shared.lock().closing = Some(deadline);
        self.shared.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            while Instant::now() < deadline && !thread.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        let mut state = self.shared.lock();
        state.counters.undelivered = state.queue.len() as u64 + u64::from(state.in_flight);
        state.counters
    }
}

/// The thread: takes alerts oldest first until closed and empty, or past
/// the closing deadline.
fn deliver_all(shared: &Shared, url: &WebhookUrl, options: &WebhookOptions, report: &Report) {
    loop {
        let body = {
            let mut state = shared.lock();
            loop {
                if state.closing.is_some_and(|deadline| Instant::now() >= deadline) {
                    return;
                }
                if let Some(body) = state.queue.pop_front() {
                    state.in_flight = true;
                    break body;
                }
                if state.closing.is_some() {
                    return;
                }
                state = shared.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let mut backoff = options.first_backoff;
        let mut attempt = 1;
        let outcome = loop {
            match post(url, &body, options.timeout, &options.own) {
                Ok(()) => break Ok(()),
                Err(failure) if failure.final_answer || attempt >= options.attempts => {
                    break Err(failure.message)
                }
                Err(_) => {}
            }
            attempt += 1;
            // Wait out the backoff, but not past the closing deadline.
            let until = Instant::now() + backoff;
            let mut state = shared.lock();
            loop {
                let now = Instant::now();
                let limit = state.closing.map_or(until, |deadline| deadline.min(until));
                if now >= limit {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, limit - now)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
            if state.closing.is_some_and(|deadline| Instant::now() >= deadline) {
                // Counted as undelivered by `finish`.
                return;
            }
            drop(state);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        let mut state = shared.lock();
        state.in_flight = false;
        match outcome {
            Ok(()) => state.counters.delivered += 1,
            Err(error) => {
                state.counters.failed += 1;
                drop(state);
                let attempts =
                    if attempt == 1 { "1 attempt" } else { &format!("{attempt} attempts") };
                report(format!("webhook delivery failed after {attempts}: {error}"));
            }
        }
    }
}

/// Why one POST failed.
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    message: String,
    /// The server's final word (a 3xx or 4xx other than 408 and 429):
    /// another attempt would get the same answer.
    final_answer: bool,
}

impl Failure {
    fn retry(message: String) -> Self {
        Failure { message, final_answer: false }
    }
}

/// The addresses of `host`, looked up within `timeout`. `getaddrinfo` has no
/// timeout of its own: a resolver that does not answer holds it for
/// resolv.conf's `timeout` × `attempts` × nameservers (30 s and more), far
/// past `webhook_timeout`. The lookup runs on a thread of its own and the
/// attempt stops waiting for it at the deadline (the thread ends when the
/// resolver gives up). An address needs no lookup.
fn resolve_within(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    let name = host.to_string();
    let spawned = std::thread::Builder::new().name("webhook-lookup".into()).spawn(move || {
        let addresses = (name.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>);
        // The attempt may have stopped waiting: nobody to tell then.
        let _ = sender.send(addresses);
    });
    if let Err(error) = spawned {
        return Err(Failure::retry(format!("resolving {host}: {error}")));
    }
    match receiver.recv_timeout(timeout) {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(error)) => Err(Failure::retry(format!("resolving {host}: {error}"))),
        Err(_) => Err(Failure::retry(format!(
            "resolving {host}: no answer within {timeout:?} (the resolver in /etc/resolv.conf does not answer)"
        ))),
    }
}

/// The answer to one POST: its status and, for a redirect, where to.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
}

/// One POST; `Ok` for a 2xx answer. `timeout` bounds the whole attempt:
/// the name's lookup and every address tried.
fn post(
    url: &WebhookUrl,
    body: &[u8],
    timeout: Duration,
    own: &crate::monitor::own::OwnConnections,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let addresses = resolve_within(&url.host, url.port, timeout)?;
    let mut last = format!("{} has no address", url.host);
    for address in addresses {
        let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|l| !l.is_zero())
        else {
            last = format!("{last}; no time left for {address} within {timeout:?}");
            break;
        };
        match post_to(address, url, body, left, own) {
            Ok(answer) if (200..300).contains(&answer.status) => return Ok(()),
            Ok(answer) => return Err(judge(&answer)),
            Err(error) => last = format!("{address}: {error}"),
        }
    }
    Err(Failure::retry(last))
}

/// A non-2xx answer as a failure: retried when the server may answer
/// otherwise later (5xx, 408 Request Timeout, 429 Too Many Requests).
fn judge(answer: &Answer) -> Failure {
    let status = answer.status;
    let final_answer = (300..500).contains(&status) && status != 408 && status != 429;
    let message = match (&answer.location, (300..400).contains(&status)) {
        (Some(location), true) => format!(
            "HTTP status {status}, redirected to {location} (not followed: give --webhook \
             the http:// URL that takes the POST, or a local relay for https)"
        ),
        _ => format!("HTTP status {status}"),
    };
    Failure { message, final_answer }
}

/// Most bytes of an answer's head read (the status line and `Location` are
/// all that matter).
const MAX_ANSWER_HEAD: usize = 8 << 10;
/// Most interim (1xx) answers skipped before the final one; the attempt's
/// timeout bounds them too.
const MAX_INTERIM: usize = 16;

fn post_to(
    address: SocketAddr,
    url: &WebhookUrl,
    body: &[u8],
    timeout: Duration,
    own: &crate::monitor::own::OwnConnections,
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    // The recorder leaves this connection out of its records: registered
    // until the post is over (the close just after is within its slack).
    let _own = stream.local_addr().map(|client| own.connected_from(client));
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: porthole/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        url.authority,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    // The timeout bounds the whole attempt, not each read or write: a
    // server that trickles a byte at a time would otherwise hold the
    // thread (and every alert queued behind it) for up to 1,024 timeouts.
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))
    };
    stream.write_all(head.as_bytes()).map_err(timed_out)?;
    stream.set_write_timeout(Some(remaining()?))?;
    stream.write_all(body).map_err(timed_out)?;
    stream.flush()?;
    // The head, up to its empty line, the peer's close or 8 KiB: a server
    // cannot make porthole read more. Interim answers (`100 Continue`,
    // `103 Early Hints`) come before the final one and are skipped (RFC
    // 9110 §15.2): taken for the answer, an alert the server then accepted
    // was counted failed and sent again.
    let limits = crate::http1::Limits { max_head: MAX_ANSWER_HEAD, max_body: 0 };
    let mut head = Vec::with_capacity(256);
    let mut interim = 0;
    let mut chunk = [0u8; 1024];
    loop {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_ANSWER_HEAD {
            stream.set_read_timeout(Some(remaining()?))?;
            let room = chunk.len().min(MAX_ANSWER_HEAD - head.len());
            let read = match std::io::Read::read(&mut stream, &mut chunk[..room]) {
                // A signal, or a stop and continue of the recorder, fails a
                // read that has a socket timeout with EINTR: read again
                // within what is left of the deadline.
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                read => read.map_err(timed_out)?,
            };
            if read == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..read]);
        }
        match crate::http1::parse_head(&head, limits) {
            Ok(Some(parsed))
                if (100..200).contains(&parsed.status_line.status)
                    && parsed.status_line.status != 101
                    && interim < MAX_INTERIM =>
            {
                head.drain(..parsed.length);
                interim += 1;
            }
            _ => break,
        }
    }
    // An answer completed past the deadline (this thread was not scheduled
    // while the bytes piled up) is a timeout all the same.
    remaining()?;
    let location = match crate::http1::parse_head(&head, limits) {
        Ok(Some(parsed)) => parsed.header("location").map(str::to_string),
        _ => None,
    };
    // The status line counts even when the rest of the head is cut off.
    let status = crate::http1::parse_status_line(&head)
        .map(|line| line.status)
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    Ok(Answer { status, location })
}

/// A socket timeout reads as "Resource temporarily unavailable" (`EAGAIN`)
/// on Linux; it is reported as what it is.
fn timed_out(error: std::io::Error) -> std::io::Error {
    match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out")
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    #[test]
    fn urls() {
        let url = WebhookUrl::parse("http://127.0.0.1:8080/hooks/alert?x=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8080));
        assert_eq!(url.path, "/hooks/alert?x=1");
        let url = WebhookUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("::1", 9000, "/"));
        let url = WebhookUrl::parse("http://collector").unwrap();
        assert_eq!((url.port, url.authority.as_str()), (80, "collector"));
        assert_eq!(WebhookUrl::parse("https://x/"), Err(WebhookUrlError::Scheme));
        assert_eq!(WebhookUrl::parse("http://:80/"), Err(WebhookUrlError::NoHost));
        assert_eq!(WebhookUrl::parse("http://h:x/"), Err(WebhookUrlError::Port("x".into())));
        assert_eq!(WebhookUrl::parse("http://u:p@h/"), Err(WebhookUrlError::Credentials));
        // Accepted, port 0 failed every delivery; `user:pw@` said "no host".
        assert_eq!(WebhookUrl::parse("http://h:0/"), Err(WebhookUrlError::Port("0".into())));
        assert_eq!(WebhookUrl::parse("http://[::1]:0/"), Err(WebhookUrlError::Port("0".into())));
        // Nothing that could end the request line or add a header.
        for unsafe_url in ["http://h/a b", "http://h/x\r\nX-Evil: 1", "http://h/\u{85}"] {
            assert_eq!(
                WebhookUrl::parse(unsafe_url),
                Err(WebhookUrlError::Unsafe),
                "{unsafe_url:?}"
            );
        }
        assert_eq!(WebhookUrl::parse("http://h\"x/"), Err(WebhookUrlError::Host("h\"x".into())));
        // A host is read as `porthole check` reads one: no shorthand IPv4
        // (`10` would mean 0.0.0.10), no empty label.
        for (url, message) in [
            (
                "http://10/",
                "'10' is no host name: the resolver reads it as the IPv4 address 0.0.0.10",
            ),
            ("http://127.1:9000/", "the IPv4 address 127.0.0.1"),
            ("http://x..y/", "'x..y' is not a valid host name"),
        ] {
            let error = WebhookUrl::parse(url).unwrap_err().to_string();
            assert!(error.contains(message), "{url}: {error}");
        }
        assert!(WebhookUrl::parse("http://collector.local:9000/").is_ok());
        let url = WebhookUrl::parse("http://h/alerts?x=1#part").unwrap();
        assert_eq!(url.path, "/alerts?x=1");
    }

    /// Reads one request, head and body; returns the body.
    fn read_request(stream: &TcpStream) -> String {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    }

    /// A server answering each request with the next status of `statuses`;
    /// returns the bodies it received.
    fn server(statuses: Vec<u16>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for status in statuses {
                let (mut stream, _) = listener.accept().unwrap();
                bodies.push(read_request(&stream));
                write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").unwrap();
            }
            bodies
        });
        (port, thread)
    }

    fn options(attempts: u32) -> WebhookOptions {
        WebhookOptions {
            own: Default::default(),
            capacity: 4,
            attempts,
            timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(10),
        }
    }

    fn quiet() -> Report {
        Arc::new(|_| {})
    }

    /// The timeout bounds an attempt, not each read: a server that sends
    /// its status line a byte at a time, each well within the timeout,
    /// still fails the attempt once the timeout has passed in all.
    #[test]
    fn a_trickling_server_times_out_the_attempt() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            for byte in b"HTTP/1.1 200 OK\r\n\r\n" {
                if stream.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        // Read a byte at a time, each within the timeout, the answer used to
        // count as delivered after 3.4 s.
        let error =
            post(&url, b"{}", Duration::from_secs(1), &Default::default()).unwrap_err().message;
        assert!(error.ends_with(": timed out"), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn failures_are_retried_until_one_succeeds() {
        let (port, server) = server(vec![500, 503, 200]);
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/a")).unwrap();
        let webhook = Webhook::start(url, options(5), quiet()).unwrap();
        webhook.submit(b"{\"n\":1}".to_vec());
        let bodies = server.join().unwrap();
        assert_eq!(bodies, ["{\"n\":1}"; 3]);
        let counters = webhook.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(counters, WebhookCounters { delivered: 1, ..WebhookCounters::default() });
    }

    /// An `http://` collector that sends everyone to `https://`: the
    /// redirect is not followed, not asked again (each retry held the
    /// alerts queued behind it through the backoffs), and the failure says
    /// where it pointed. A 404 is final too; a 429 is asked again.
    #[test]
    fn a_redirect_or_a_client_error_is_final_and_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut requests = 0;
            for answer in [
                "HTTP/1.1 301 Moved Permanently\r\nLocation: https://collector.example/hook\r\n\
                 Content-Length: 0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 204 No Content\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                read_request(&stream);
                stream.write_all(answer.as_bytes()).unwrap();
                requests += 1;
            }
            requests
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&reports);
        let report: Report = Arc::new(move |line| seen.lock().unwrap().push(line));
        let webhook = Webhook::start(url, options(5), report).unwrap();
        // 301 (final), 404 (final), then 429 and 204: delivered on retry.
        for n in 0..3 {
            webhook.submit(format!("{{\"n\":{n}}}").into_bytes());
        }
        assert_eq!(server.join().unwrap(), 4);
        let counters = webhook.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(counters.failed, 2, "{counters:?}");
        assert_eq!(counters.delivered, 1, "{counters:?}");
        let reports = reports.lock().unwrap();
        assert_eq!(
            reports[0],
            "webhook delivery failed after 1 attempt: HTTP status 301, redirected to \
             https://collector.example/hook (not followed: give --webhook the http:// URL that \
             takes the POST, or a local relay for https)"
        );
        assert_eq!(reports[1], "webhook delivery failed after 1 attempt: HTTP status 404");
        assert_eq!(reports.len(), 2, "{reports:?}");
    }

    /// A server that sends `100 Continue` (or `103 Early Hints`) before its
    /// final answer: the POST was taken for failed with "HTTP status 100",
    /// retried, and the alert delivered twice.
    #[test]
    fn interim_answers_are_skipped_for_the_final_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for answer in [
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n\
                 HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                bodies.push(read_request(&stream));
                // Each answer in two writes, the final one after a pause.
                let split = answer.rfind("HTTP/1.1").unwrap();
                stream.write_all(&answer.as_bytes()[..split]).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                stream.write_all(&answer.as_bytes()[split..]).unwrap();
            }
            bodies
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let webhook = Webhook::start(url, options(3), quiet()).unwrap();
        webhook.submit(b"{\"n\":1}".to_vec());
        webhook.submit(b"{\"n\":2}".to_vec());
        assert_eq!(server.join().unwrap(), ["{\"n\":1}", "{\"n\":2}"], "each sent once");
        let counters = webhook.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(
            counters,
            WebhookCounters { delivered: 1, failed: 1, ..WebhookCounters::default() },
            "the 404 after the interim answers is final"
        );
    }

    #[test]
    fn gives_up_after_the_last_attempt() {
        let (port, server) = server(vec![500, 500]);
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let webhook = Webhook::start(url, options(2), quiet()).unwrap();
        webhook.submit(b"{}".to_vec());
        assert_eq!(server.join().unwrap().len(), 2);
        let counters = webhook.finish(Instant::now() + Duration::from_secs(30));
        assert_eq!(counters.failed, 1);
        assert_eq!(counters.delivered, 0);
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        // Nothing listens on the port of a closed listener: every attempt
        // fails at once, and the thread is held in backoff.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let slow = WebhookOptions { first_backoff: Duration::from_secs(3600), ..options(2) };
        let webhook = Webhook::start(url, slow, quiet()).unwrap();
        for n in 0..10 {
            webhook.submit(format!("{n}").into_bytes());
        }
        let counters = webhook.finish(Instant::now());
        // One may be in flight; the queue keeps four.
        assert!(counters.dropped >= 5, "{counters:?}");
        assert_eq!(counters.dropped + counters.undelivered, 10, "{counters:?}");
    }
}
