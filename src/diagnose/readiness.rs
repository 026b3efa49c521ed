//! Readiness: is a target up (as `wait` means it), and if not, why (the
//! one or two lines `wait` prints on timeout and `check` prints as its
//! verdict).
//!
//! "Up" is stricter than "connect() succeeded": a self-connected socket is
//! not a service, an HTTP target must answer with an accepted status (and
//! body), and every resolved address is tried, so a `localhost` that
//! resolves to `::1` first still counts as up when the service listens on
//! 127.0.0.1 only (as Happy Eyeballs clients see it). A bare TCP or Unix
//! target must also have its connection taken off the accept queue by a
//! process ([`acceptance`]) and kept for [`CLOSE_WATCH`].
//!
//! "Down" (`--down`) is judged from the socket table where it can see the
//! target's listener ([`listening`]), and by connect elsewhere: a full
//! accept queue or a DROP rule makes a live listener time out.
//!
//! [`wait`] is the polling loop of `porthole wait`: rounds of probes with
//! growing pauses until the targets are up (or down), then, on timeout, a
//! diagnosis of each pending target. It reports each round through a
//! callback, so the command renders progress while the engine decides.

use std::time::{Duration, Instant};

use std::net::{IpAddr, SocketAddr};

use crate::inventory::system::System;
use crate::inventory::Query;
use crate::model::diagnosis::{attempts_summary, CauseId};
use crate::model::{Protocol, SocketState};

use regex_lite::Regex;

use super::acceptance::{self, Acceptance};
use super::probe::{self, ProbeAddress, Reply, Stream};
use super::{diagnose, probe_address_open, resolve, Attempt, Client, Diagnosis, Request, Target};

/// A bad status list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("'{text}' is not an HTTP status (expected 100-599)")]
    NotAStatus { text: String },
    #[error("status range {start}-{end} is reversed")]
    Reversed { start: u16, end: u16 },
    #[error("empty status list")]
    Empty,
    #[error(transparent)]
    EmptyItem(#[from] crate::model::ports::EmptyItem),
}

/// Accepted HTTP statuses: `200-399`, `200,204`, `200-299,301`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet { ranges: vec![(200, 399)] }
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .ranges
            .iter()
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl StatusSet {
    pub fn parse(text: &str) -> Result<Self, StatusError> {
        let status = |part: &str| -> Result<u16, StatusError> {
            part.trim()
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| StatusError::NotAStatus { text: part.trim().to_string() })
        };
        let mut ranges = Vec::new();
        for part in crate::model::ports::list_items(text)? {
            let range = match part.split_once('-') {
                Some((start, end)) => {
                    let (start, end) = (status(start)?, status(end)?);
                    if start > end {
                        return Err(StatusError::Reversed { start, end });
                    }
                    (start, end)
                }
                None => {
                    let single = status(part)?;
                    (single, single)
                }
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(StatusError::Empty);
        }
        Ok(StatusSet { ranges })
    }

    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|(a, b)| *a <= status && status <= *b)
    }
}

/// What "ready" means for one target.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub statuses: StatusSet,
    pub body: Option<Regex>,
    /// Bound on each connect and on each application probe.
    pub connect_timeout: Duration,
}

/// One round of attempts on a target: every resolved address.
#[derive(Debug, Clone)]
pub struct Round {
    pub attempts: Vec<Attempt>,
    /// At least one address is ready.
    pub ready: bool,
    /// At least one address accepted a connection from a real peer (for
    /// `--down`, which waits until none does).
    pub answering: bool,
    /// Why the name did not resolve, when it did not.
    pub resolve_error: Option<String>,
    /// With `--down`: the listeners the socket table shows for the target
    /// (their local addresses or paths), or `None` when the table cannot
    /// see them (an address not on this machine), which leaves the
    /// judgement to connect. See [`listening`].
    pub listeners: Option<Vec<String>>,
}

/// Probes every address of `target` once.
pub fn round(system: &dyn System, target: &Target, readiness: &Readiness) -> Round {
    let addresses: Vec<ProbeAddress> = match target {
        Target::Unix { path } | Target::Service { socket: Some(path), .. } => {
            vec![ProbeAddress::Unix(path.clone())]
        }
        Target::Tcp { host, port }
        | Target::Http { host, port, .. }
        | Target::Service { host, port, .. } => {
            match resolve(system, host, *port, Client::Current) {
                Ok(ips) => ips.into_iter().map(|ip| host.probe_address(ip, *port)).collect(),
                Err(error) => {
                    let cause = std::error::Error::source(&error)
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    return Round {
                        attempts: Vec::new(),
                        ready: false,
                        answering: false,
                        resolve_error: Some(format!("{error}: {cause}")),
                        listeners: None,
                    };
                }
            }
        }
    };
    let mut attempts = Vec::new();
    for address in &addresses {
        let (mut attempt, mut stream) =
            probe_address_open(target, address, readiness.connect_timeout, super::Depth::Peek);
        // A bare TCP or Unix target has no reply to prove a server: ask
        // whether a process took the connection off the accept queue, and
        // whether it kept it. An HTTP or service answer proves both, and so
        // does a banner: a process wrote it, and may close right after (a
        // status port that prints a line and hangs up).
        let banner = matches!(attempt.reply, Some(Reply::Other(_)));
        if let (false, true, false, Some(stream)) =
            (target.asks_the_application(), attempt.healthy, banner, stream.as_mut())
        {
            let grace = ACCEPT_GRACE.min(readiness.connect_timeout);
            // The watch is not cut near the deadline: a server that drops
            // connections 60 ms after accepting must not pass the last
            // round because its watch was 50 ms. Polling stops early by a
            // fifth of the timeout (see `Budget`), which covers it for a
            // timeout of 500 ms and up.
            if let Some(reply) = await_accept(system, stream, grace, CLOSE_WATCH) {
                not_ready(&mut attempt, reply);
            }
        }
        drop(stream);
        if let (Target::Http { .. }, Some(Reply::Http(response))) = (target, &attempt.reply) {
            if attempt.healthy && !readiness.statuses.contains(response.status) {
                attempt.healthy = false;
                attempt.detail.push_str(&format!(" (waiting for {}", readiness.statuses));
                // A redirect the list leaves out is never followed: say
                // where it leads, so the URL to wait for is in sight.
                if let (300..=399, Some(location)) = (response.status, &response.location) {
                    attempt.detail.push_str(&format!("; it redirects to {location}, not followed"));
                }
                attempt.detail.push(')');
            } else if attempt.healthy {
                if let Some(body) = &readiness.body {
                    if !body.is_match(&response.body) {
                        attempt.healthy = false;
                        attempt.detail.push_str(&format!(" (body does not match /{body}/)"));
                    }
                }
            }
        }
        attempts.push(attempt);
    }
    let ready = attempts.iter().any(|a| a.healthy);
    let answering = attempts.iter().any(|a| a.outcome() == Some(super::Outcome::Connected));
    Round { attempts, ready, answering, resolve_error: None, listeners: None }
}

/// The listeners of `target` the socket table shows, for `--down`: a
/// connect says "down" for a listener that is only slow to answer (a full
/// accept queue drops the SYN, a DROP rule swallows it: both time out),
/// while the table still has its LISTEN socket. A closing server's
/// TIME-WAIT and established sockets are not listeners and do not count.
///
/// `None` when the table cannot tell: an IP address that is not this
/// namespace's (its listener, if any, is on another host or behind a
/// forward into another namespace), or an inventory that failed. Then
/// connect alone judges.
pub fn listening(system: &dyn System, target: &Target, round: &Round) -> Option<Vec<String>> {
    match target {
        Target::Unix { path } | Target::Service { socket: Some(path), .. } => {
            let query =
                Query { tcp: false, udp: false, unix: true, owners: false, ..Query::default() };
            let snapshot = system.snapshot(&query).ok()?;
            let path = path.to_string_lossy();
            Some(
                snapshot
                    .sockets
                    .iter()
                    .filter(|s| s.state == SocketState::Listen)
                    .filter_map(|s| s.path.clone())
                    .filter(|p| *p == path)
                    .collect(),
            )
        }
        Target::Tcp { port, .. } | Target::Http { port, .. } | Target::Service { port, .. } => {
            let local: Vec<IpAddr> = round
                .attempts
                .iter()
                // `0.0.0.0` is reached at 127.0.0.1: its listener.
                .filter_map(Attempt::destination)
                .filter(|ip| is_local(*ip))
                .collect();
            if local.is_empty() {
                return None;
            }
            // LISTEN sockets only: a busy server's connections on the
            // port would cost a walk of the established hash each round.
            let query = Query {
                udp: false,
                unix: false,
                owners: false,
                listeners_only: true,
                match_remote_port: false,
                ..Query::for_port(*port)
            };
            let snapshot = system.snapshot(&query).ok()?;
            Some(
                snapshot
                    .sockets
                    .iter()
                    .filter(|s| s.protocol == Protocol::Tcp && s.state == SocketState::Listen)
                    .filter(|s| local.iter().any(|ip| serves(s, *ip)))
                    .filter_map(|s| s.local.map(|address| address.to_string()))
                    .collect(),
            )
        }
    }
}

/// A `--down` round in words: the attempts, and what the socket table
/// said (or that connect alone judged).
pub fn down_summary(round: &Round) -> String {
    let attempts = match &round.resolve_error {
        Some(error) => error.clone(),
        None => attempts_summary(&round.attempts),
    };
    match round.listeners.as_deref() {
        Some([]) => format!("{attempts}; no listener in the socket table"),
        Some(listeners) => {
            format!("{attempts}; the socket table has a listener on {}", listeners.join(", "))
        }
        None if round.resolve_error.is_some() => attempts,
        None => format!("{attempts}; judged by connect: the address is not on this machine"),
    }
}

/// Whether `ip` is an address of this network namespace, whose socket
/// table would hold its listener: loopback, or an address a socket can be
/// bound to (EADDRNOTAVAIL otherwise).
///
/// # Platform specific behavior
/// With `net.ipv4.ip_nonlocal_bind` (or its IPv6 twin) set, any address
/// binds, and a remote target is judged by this table; it then has no
/// listener here, and connect still decides.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip.to_canonical().is_loopback()
        || std::net::UdpSocket::bind(std::net::SocketAddr::new(ip, 0)).is_ok()
}

/// Whether the TCP listener `listener` takes connections to `ip`: bound to
/// it, or to the wildcard of its family (`::` also takes IPv4 unless it is
/// IPv6-only).
pub(crate) fn serves(listener: &crate::model::Socket, ip: IpAddr) -> bool {
    let Some(local) = listener.local else { return false };
    let (bound, ip) = (local.ip().to_canonical(), ip.to_canonical());
    if bound == ip {
        return true;
    }
    match (local.ip(), ip) {
        (IpAddr::V4(any), IpAddr::V4(_)) => any.is_unspecified(),
        (IpAddr::V6(any), IpAddr::V6(_)) => any.is_unspecified(),
        (IpAddr::V6(any), IpAddr::V4(_)) => any.is_unspecified() && listener.v6only != Some(true),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// How long a connection may wait in the accept queue before `wait` holds
/// it against a TCP or Unix target. A busy but healthy server takes it well within
/// this; a listener that never accepts, or whose process is stopped, never
/// does (the kernel completes the handshake either way).
pub const ACCEPT_GRACE: Duration = Duration::from_millis(1000);

/// Pause between two looks at the server's end of the connection (spent
/// reading our end, so a close ends it at once).
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// How long `wait` keeps reading a connection after a process accepted it:
/// a server that takes each connection and drops it at once (a worker that
/// crashes on it, a connection limit that accepts then closes) is not
/// ready. Only an EOF or a reset with no byte before it counts: a server
/// that sends a banner and waits (SSH, SMTP, Redis) is ready.
pub const CLOSE_WATCH: Duration = Duration::from_millis(100);

/// Marks a connected attempt not ready, with what the server's end showed.
fn not_ready(attempt: &mut Attempt, reply: Reply) {
    attempt.healthy = false;
    attempt.detail.push_str(&format!("; {}", reply.describe()));
    attempt.reply = Some(reply);
}

/// Watches a connected `stream` until a process takes it off the
/// listener's accept queue (at most `grace`), then for `watch` more in case
/// the server drops it. `None` when the connection was accepted and kept
/// (or nothing can be known); otherwise the reply that makes it not ready:
/// [`Reply::Unaccepted`], [`Reply::Closed`] or [`Reply::Reset`].
///
/// A TCP connection's server end is found by the 4-tuple
/// ([`acceptance::server_end`]), a Unix one through our own end's peer
/// ([`acceptance::unix_client_end`]); between two looks the wait is a read
/// of our end, so a close or a reset is seen when it happens.
fn await_accept(
    system: &dyn System,
    stream: &mut Stream,
    grace: Duration,
    watch: Duration,
) -> Option<Reply> {
    let tcp = stream.tcp_ends();
    let unix = if tcp.is_none() { stream.unix_inode() } else { None };
    let look = || match (tcp, unix) {
        (Some((client, server)), _) => {
            acceptance::judge(acceptance::server_end(system, client, server).as_ref())
        }
        (None, Some(inode)) => {
            acceptance::judge_unix(acceptance::unix_client_end(system, inode).as_ref())
        }
        (None, None) => Acceptance::Unknown,
    };
    let started = Instant::now();
    // Whether the holders of a deferring listener are all stopped, read
    // once (it scans /proc for owners).
    let mut stopped_holders = None;
    loop {
        let acceptance = look();
        // A server end last seen as a request socket (SYN-RECV) is
        // half-open: it was never in the accept queue.
        let half_open = acceptance == Acceptance::Deferred;
        match acceptance {
            Acceptance::Accepted | Acceptance::Unknown => break,
            // Closed, but it may have written first (a banner that came
            // after the first peek): bytes are an answer.
            Acceptance::Closed => {
                return match probe::peek(stream, Duration::from_millis(1)) {
                    Reply::Other(_) => None,
                    _ => Some(Reply::Closed),
                };
            }
            Acceptance::Deferred => {
                let stopped = *stopped_holders.get_or_insert_with(|| {
                    tcp.is_some_and(|(client, server)| {
                        acceptance::holders_stopped(system, server)
                            || acks_dropped(system, client, server)
                    })
                });
                // A live holder would take the connection once a client
                // speaks; a stopped one never will, nor one that the
                // firewall keeps the client's packets from.
                if !stopped {
                    break;
                }
            }
            Acceptance::Queued => {}
        }
        let left = grace.saturating_sub(started.elapsed());
        if left.is_zero() {
            let waited_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
            return Some(Reply::Unaccepted { waited_ms, half_open });
        }
        match probe::peek(stream, ACCEPT_POLL.min(left)) {
            reply @ (Reply::Closed | Reply::Reset) => return Some(reply),
            // Bytes: a process holds the other end and wrote them.
            Reply::Other(_) => return None,
            _ => {}
        }
    }
    match probe::peek(stream, watch) {
        reply @ (Reply::Closed | Reply::Reset) => Some(reply),
        _ => None,
    }
}

/// Whether a firewall rule stops what the client sends after its SYN (the
/// handshake ACK, a request) from `client` to `server`: the server's end
/// then stays a request socket, as a `TCP_DEFER_ACCEPT` listener's does,
/// but no process will ever get it.
fn acks_dropped(system: &dyn System, client: SocketAddr, server: SocketAddr) -> bool {
    let packet = super::firewall::Packet {
        source: client.ip().to_canonical(),
        destination: server.ip().to_canonical(),
        port: server.port(),
        // The probe's own socket: porthole's user, not read here.
        owner: None,
        reply: None,
        established: true,
    };
    !super::firewall::blockers_now(system, &packet).is_empty()
}

/// The one or two lines that say why a target is not ready.
pub fn explain(diagnosis: &Diagnosis) -> Vec<String> {
    match diagnosis.causes.first() {
        Some(cause) => {
            let mut lines = vec![format!("{}: {}", cause.id.as_str(), cause.summary)];
            // A command keeps the `$ ` that `check` prints before it, so
            // a step in words is never taken for one.
            match cause.fix.first() {
                Some(fix) if fix.is_command() => lines.push(format!("fix: $ {fix}")),
                Some(fix) => lines.push(format!("fix: {fix}")),
                None => {}
            }
            lines
        }
        None if diagnosis.ok => vec!["it answers now".to_string()],
        None => vec!["no cause found".to_string()],
    }
}

/// Diagnoses `target` and returns [`explain`]'s lines (or why that failed);
/// an HTTP answer counts as healthy with one of `statuses`.
pub fn why_not_ready(
    system: &dyn System,
    target: &Target,
    timeout: Duration,
    statuses: &StatusSet,
) -> Vec<String> {
    let request = Request {
        target: Some(target.clone()),
        from_environment: Vec::new(),
        bind: None,
        client: Client::Current,
        timeout,
        statuses: statuses.clone(),
        then: Vec::new(),
    };
    match diagnose(system, &request) {
        Ok(diagnosis) => {
            let mut lines = explain(&diagnosis);
            // "Nothing listens on the Unix socket PATH" is true of a path
            // that does not exist (a typo, a directory not made yet), of a
            // stale socket file a crashed server left, and of a regular
            // file: what is at the path tells them apart, and is the line.
            if let (Some(_), Some(cause), Some(first)) =
                (target.unix_path(), diagnosis.causes.first(), lines.first_mut())
            {
                if let (CauseId::NothingListening, Some(found)) = (cause.id, cause.evidence.first())
                {
                    *first = format!("{}: {found}", cause.id.as_str());
                }
            }
            lines
        }
        Err(error) => vec![format!("could not diagnose: {error}")],
    }
}

/// The shortest connect timeout used when little time is left.
const MIN_PROBE: Duration = Duration::from_millis(50);

/// How `wait` polls, and what it waits for.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    pub readiness: Readiness,
    /// `None` waits forever.
    pub timeout: Option<Duration>,
    /// The first pause between rounds; each pause is half again as long as
    /// the one before, up to `max_interval`.
    pub interval: Duration,
    pub max_interval: Duration,
    /// One ready target is enough (otherwise all must be).
    pub any: bool,
    /// Wait until the targets stop answering instead.
    pub down: bool,
}

/// What [`wait`] reports as it goes.
#[derive(Debug)]
pub enum WaitEvent<'a> {
    /// One round of probes of one pending target.
    Round {
        /// The target's position in the list given to [`wait`].
        index: usize,
        target: &'a Target,
        round: &'a Round,
        /// Round number, from 1.
        number: u64,
        /// The target is now up (with `down`: no longer answering).
        satisfied: bool,
    },
}

/// How one target ended.
#[derive(Debug, Clone, Default)]
pub struct TargetOutcome {
    /// It became ready (with `down`: stopped answering).
    pub satisfied: bool,
    /// Its last round of probes.
    pub last_round: Option<Round>,
    /// Why it is still pending, one or two lines (empty when satisfied).
    pub why: Vec<String>,
}

/// How a whole wait ended.
#[derive(Debug, Clone)]
pub struct WaitOutcome {
    /// The wait is over because its condition holds (otherwise it timed
    /// out).
    pub satisfied: bool,
    /// When polling stopped, from the start.
    pub polled: Duration,
    /// When the explanations were done too, from the start.
    pub elapsed: Duration,
    /// One per target, in the order given.
    pub targets: Vec<TargetOutcome>,
}

/// How `timeout` is shared between polling and the diagnosis that
/// explains a timeout, so the whole run ends by the deadline: polling
/// stops early by a reserve (a fifth of the timeout at most), and each
/// pending target's diagnosis probes with half its share of the reserve
/// (a probe is a connect plus a read, each bounded by its timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// When polling stops.
    polling_deadline: Instant,
    /// Connect and read timeout of each explaining diagnosis.
    diagnosis_timeout: Duration,
}

impl Budget {
    fn new(started: Instant, timeout: Duration, connect_timeout: Duration, targets: usize) -> Self {
        let targets = u32::try_from(targets.max(1)).unwrap_or(u32::MAX);
        let reserve = (timeout / 5).min(connect_timeout * 2 * targets);
        Budget {
            polling_deadline: started + timeout.saturating_sub(reserve),
            diagnosis_timeout: (reserve / (2 * targets)).max(MIN_PROBE),
        }
    }
}

/// Polls `targets` until `policy` is met or its timeout passes, calling
/// `on_event` after every round of every pending target; an error from
/// `on_event` ends the wait with that error.
///
/// Each round probes every resolved address of every pending target
/// (self-connects and proxy variables cannot fool it). On timeout each
/// pending target gets a diagnosis within what is left of the timeout.
pub fn wait<E>(
    system: &dyn System,
    targets: &[Target],
    policy: &WaitPolicy,
    mut on_event: impl FnMut(&WaitEvent<'_>) -> Result<(), E>,
) -> Result<WaitOutcome, E> {
    let started = Instant::now();
    let budget = policy.timeout.map(|timeout| {
        Budget::new(started, timeout, policy.readiness.connect_timeout, targets.len())
    });
    let deadline = budget.map(|b| b.polling_deadline);
    let mut outcomes = vec![TargetOutcome::default(); targets.len()];
    // Self-connects seen per target: the kernel picks a random start in the
    // ephemeral range, so a later diagnosis may only see "refused".
    let mut self_connects = vec![0usize; targets.len()];
    // Connections the kernel completed that no process took, per target:
    // by timeout the diagnosis may see only a listener.
    let mut not_accepted = vec![0usize; targets.len()];
    // Of those, the ones whose server end never left SYN-RECV.
    let mut half_open = vec![0usize; targets.len()];
    // Connections made, and of those the ones the server closed or reset
    // without a byte, per target: a diagnosis connects once and may find
    // nothing wrong.
    let mut connected = vec![0usize; targets.len()];
    let mut dropped = vec![0usize; targets.len()];
    // Of the dropped ones, those reset rather than closed.
    let mut reset = vec![0usize; targets.len()];
    // Of the connections left in the queue, those whose grace was cut
    // short by the deadline: they prove nothing either way.
    let mut cut_short = vec![0usize; targets.len()];
    let full_grace_ms =
        u64::try_from(ACCEPT_GRACE.min(policy.readiness.connect_timeout).as_millis())
            .unwrap_or(u64::MAX);
    let mut interval = policy.interval;
    let mut number = 0u64;
    // The round in which each target was last seen satisfied: with every
    // target required, one seen up in an earlier round is probed again
    // before the wait ends, so a service that came up and went away while
    // another was still starting is not reported ready.
    let mut satisfied_in = vec![0u64; targets.len()];
    let satisfied = loop {
        number += 1;
        let mut probing: Vec<usize> =
            (0..targets.len()).filter(|&index| !outcomes[index].satisfied).collect();
        // Polling ends at the deadline; each probe's connect and read
        // timeouts are cut to what remains of it.
        let done = loop {
            for &index in &probing {
                let target = &targets[index];
                let mut readiness = policy.readiness.clone();
                if let Some(deadline) = deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    readiness.connect_timeout = readiness.connect_timeout.min(left.max(MIN_PROBE));
                }
                let mut round = round(system, target, &readiness);
                if policy.down && round.resolve_error.is_none() {
                    round.listeners = listening(system, target, &round);
                    round.answering |= round.listeners.as_ref().is_some_and(|l| !l.is_empty());
                }
                // With `down`, a name that no longer resolves is down too.
                let satisfied = if policy.down { !round.answering } else { round.ready };
                on_event(&WaitEvent::Round { index, target, round: &round, number, satisfied })?;
                self_connects[index] += round
                    .attempts
                    .iter()
                    .filter(|a| a.outcome() == Some(super::Outcome::SelfConnect))
                    .count();
                not_accepted[index] += round
                    .attempts
                    .iter()
                    .filter(|a| matches!(a.reply, Some(Reply::Unaccepted { .. })))
                    .count();
                half_open[index] += round
                    .attempts
                    .iter()
                    .filter(|a| matches!(a.reply, Some(Reply::Unaccepted { half_open: true, .. })))
                    .count();
                connected[index] +=
                    round.attempts.iter().filter(|a| handshake_completed(a)).count();
                cut_short[index] += round
                    .attempts
                    .iter()
                    .filter(|a| {
                        matches!(a.reply, Some(Reply::Unaccepted { waited_ms, .. }) if waited_ms < full_grace_ms)
                    })
                    .count();
                dropped[index] += round
                    .attempts
                    .iter()
                    .filter(|a| matches!(a.reply, Some(Reply::Closed | Reply::Reset)))
                    .count();
                reset[index] +=
                    round.attempts.iter().filter(|a| a.reply == Some(Reply::Reset)).count();
                outcomes[index].satisfied = satisfied;
                outcomes[index].last_round = Some(round);
                if satisfied {
                    satisfied_in[index] = number;
                }
            }
            let up = outcomes.iter().filter(|o| o.satisfied).count();
            if policy.any || up < targets.len() {
                break up > 0 && policy.any;
            }
            // Every target is up, some only as of an earlier round: they
            // are probed again now, and the wait ends once all of them
            // are up together.
            probing = (0..targets.len()).filter(|&index| satisfied_in[index] < number).collect();
            if probing.is_empty() {
                break true;
            }
        };
        if done {
            break true;
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break false;
        }
        let pause = match deadline {
            Some(deadline) => interval.min(deadline.saturating_duration_since(now)),
            None => interval,
        };
        std::thread::sleep(pause);
        interval = policy.max_interval.min(interval + interval / 2);
    };
    let polled = started.elapsed();
    if !satisfied {
        let connect_timeout = policy.readiness.connect_timeout;
        let diagnosis_timeout =
            budget.map_or(connect_timeout, |b| b.diagnosis_timeout.min(connect_timeout));
        for (index, target) in targets.iter().enumerate() {
            let outcome = &mut outcomes[index];
            if outcome.satisfied {
                continue;
            }
            let seen = Seen {
                connected: connected[index],
                dropped: dropped[index],
                reset: reset[index],
                not_accepted: not_accepted[index],
                cut_short: cut_short[index],
            };
            let mut why = why_pending(
                system,
                target,
                outcome.last_round.as_ref(),
                policy.down,
                seen,
                diagnosis_timeout,
                &policy.readiness.statuses,
            );
            if self_connects[index] > 0 && !policy.down {
                why.insert(
                    0,
                    format!(
                        "self-connect: {} attempt(s) connected to themselves (the port is inside the ephemeral range); not counted as ready",
                        self_connects[index]
                    ),
                );
            }
            if not_accepted[index] > 0 && !policy.down && !seen.accepted_and_closed() {
                // The kernel completes a TCP handshake; a Unix connect has
                // none, the listener's backlog just takes it.
                let how = match target.unix_path() {
                    Some(_) => "queued by the kernel",
                    None => "completed by the kernel",
                };
                // A server end in SYN-RECV never completed the handshake:
                // it was never in the accept queue at all.
                let line = if half_open[index] == not_accepted[index] {
                    format!(
                        "not-accepted: {} connection(s) stayed half-open (SYN-RECV on the server's side: the handshake never completed there), so no process could take them; not counted as ready",
                        not_accepted[index]
                    )
                } else {
                    format!(
                        "not-accepted: {} connection(s) {how} stayed in the accept queue, no process took them; not counted as ready",
                        not_accepted[index]
                    )
                };
                why.insert(0, line);
            }
            outcome.why = why;
        }
    }
    Ok(WaitOutcome { satisfied, polled, elapsed: started.elapsed(), targets: outcomes })
}

/// Whether an attempt's handshake completed: a connection made, or one the
/// server reset so soon after accepting that connect() itself reported the
/// reset (see [`super::probe_address_open`]). Both count as connections, so
/// the drops among them are never more than the connections made.
fn handshake_completed(attempt: &super::Attempt) -> bool {
    match attempt.outcome() {
        Some(super::Outcome::Connected) => true,
        Some(super::Outcome::Reset) => attempt.reply == Some(Reply::Reset),
        _ => false,
    }
}

/// What the rounds of one target saw, over the whole wait.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// Connections made.
    connected: usize,
    /// Of those, closed or reset by the server without a byte.
    dropped: usize,
    /// Of the dropped ones, those reset (RST) rather than closed (FIN).
    reset: usize,
    /// Left in the accept queue by every process.
    not_accepted: usize,
    /// Of those, the ones whose grace the deadline cut short.
    cut_short: usize,
}

impl Seen {
    /// The server took connections and dropped them, and none of ours
    /// waited a full grace in its queue: what was left there near the
    /// deadline was only cut short.
    fn accepted_and_closed(&self) -> bool {
        self.dropped > 0 && self.not_accepted == self.cut_short
    }

    /// Connections whose fate is known (not cut short).
    fn judged(&self) -> usize {
        self.connected - self.cut_short
    }
}

/// The one or two lines for a target that never became ready (with
/// `down`: never stopped answering); a diagnosis probes with
/// `diagnosis_timeout`.
fn why_pending(
    system: &dyn System,
    target: &Target,
    last: Option<&Round>,
    down: bool,
    seen: Seen,
    diagnosis_timeout: Duration,
    statuses: &StatusSet,
) -> Vec<String> {
    if let Some(round) = last {
        if down {
            let up: Vec<_> = round
                .attempts
                .iter()
                .filter(|a| a.outcome() == Some(super::Outcome::Connected))
                .cloned()
                .collect();
            return match round.listeners.as_deref() {
                Some(listeners) if !listeners.is_empty() => vec![format!(
                    "still-listening: the socket table has a listener on {} (last round: {})",
                    listeners.join(", "),
                    attempts_summary(&round.attempts)
                )],
                _ => vec![format!("last round: {}", attempts_summary(&up))],
            };
        }
        // A name that does not resolve is `check`'s `name-resolution`:
        // the sources asked, the hosts file, the name meant.
        if round.resolve_error.is_some() {
            return why_not_ready(system, target, diagnosis_timeout, statuses);
        }
        // The service answers, only not as asked. A status outside the
        // list is `check`'s `http-error`, worded by status with its fix; a
        // body that does not match is said as the round saw it.
        if let Some(attempt) =
            round.attempts.iter().find(|a| matches!(a.reply, Some(Reply::Http(_))))
        {
            let seen = vec![format!("{}: {}", attempt.address, attempt.detail)];
            let Some(Reply::Http(response)) = &attempt.reply else { return seen };
            // A success or redirect the list leaves out is no error of the
            // service's: the round's "(waiting for LIST)" says it all.
            if statuses.contains(response.status) || response.status < 400 {
                return seen;
            }
            let why = why_not_ready(system, target, diagnosis_timeout, statuses);
            let explained = why.first().is_some_and(|line| line.starts_with("http-error: "));
            return if explained { why } else { seen };
        }
        // A server that takes each connection and drops it at once looks
        // healthy to a diagnosis (some protocols hang up on a stranger's
        // first words): the rounds saw it, say it. A service target's
        // hang-up followed its protocol's first message: the diagnosis
        // names what holds the port instead.
        let service = matches!(target, Target::Service { .. });
        let dropped_here = seen.dropped > 0
            && round.attempts.iter().any(|a| matches!(a.reply, Some(Reply::Closed | Reply::Reset)));
        if !service && (seen.accepted_and_closed() || dropped_here) {
            let how_many = if seen.dropped == seen.judged() {
                format!("every connection ({} of {})", seen.dropped, seen.judged())
            } else {
                format!("{} of {} connections", seen.dropped, seen.judged())
            };
            let how = match seen.reset {
                0 => "closed",
                reset if reset == seen.dropped => "reset",
                _ => "closed or reset",
            };
            // A close (not a reset) of an HTTP request may be a judgement
            // of its Host: nginx's `return 444` in a default server.
            let host = match target {
                Target::Http { host, port, .. } if seen.reset == 0 => format!(
                    ", or a host name it does not serve (Host: {}; nginx closes those with return 444)",
                    super::host_header(host, *port)
                ),
                _ => String::new(),
            };
            return vec![
                format!(
                    "accepted-closed: the server accepted and {how} {how_many} without sending anything"
                ),
                format!("fix: look at the server's logs for why it drops every connection: a worker that crashes on each one, a client allow-list, a connection limit{host}"),
            ];
        }
    }
    let mut why = why_not_ready(system, target, diagnosis_timeout, statuses);
    // The diagnosis of a Unix target stops at connect, which a listener
    // that never accepts passes: name the listener and its queue.
    if let (Some(path), true) = (target.unix_path(), seen.not_accepted > seen.cut_short) {
        // Unless the diagnosis found why its process does not accept: it is
        // stopped (`kill -CONT PID`), frozen (the thaw), or out of file
        // descriptors (the `prlimit` that raises its limit). Those lines
        // name the fix.
        let stopped = format!("{}:", CauseId::ProcessStopped.as_str());
        let explained = |listener: &crate::model::Socket| {
            why.first().is_some_and(|line| line.starts_with(&stopped))
                || listener.owners.iter().any(|&pid| {
                    system.full_descriptor_table(pid).is_some()
                        || crate::inventory::freezer::frozen(system, pid).is_some()
                })
        };
        if let Some((listener, holders)) =
            acceptance::unix_listener(system, path).filter(|(listener, _)| !explained(listener))
        {
            why = vec![unix_not_accepting(target, &listener, &holders)];
            why.push(
                "fix: fix the server's accept loop: it never calls accept(), or the thread that does is blocked (or the process is stopped)"
                    .to_string(),
            );
        }
    }
    why
}

/// The line naming a Unix listener that leaves connections in its queue
/// (`holders`: `name (pid N)` each).
fn unix_not_accepting(
    target: &Target,
    listener: &crate::model::Socket,
    holders: &[String],
) -> String {
    let holder = if holders.is_empty() { "its process".to_string() } else { holders.join(", ") };
    format!(
        "not-responding: {} connection(s) wait in the accept queue of {target} (backlog {}): the kernel queued them, {holder} does not accept them",
        listener.rx_queue, listener.tx_queue
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Cause, CauseId, Fix, Severity};

    #[test]
    fn status_sets() {
        let set = StatusSet::parse("200-299, 301").unwrap();
        assert!(set.contains(204) && set.contains(301) && !set.contains(302));
        assert_eq!(set.to_string(), "200-299,301");
        assert!(StatusSet::default().contains(399));
        assert_eq!(
            StatusSet::parse("abc").unwrap_err().to_string(),
            "'abc' is not an HTTP status (expected 100-599)"
        );
        assert!(StatusSet::parse("99").is_err());
        assert!(StatusSet::parse("300-200").unwrap_err().to_string().contains("reversed"));
        assert!(StatusSet::parse("").is_err());
        assert_eq!(
            StatusSet::parse("200,,204").unwrap_err().to_string(),
            "empty item between '200' and '204' in '200,,204' (a stray comma, or a missing value)"
        );
        assert!(StatusSet::parse("200,").is_err());
    }

    #[test]
    fn a_listener_serves_its_address_and_its_family_s_wildcard() {
        let listener = |local: &str, v6only: Option<bool>| crate::model::Socket {
            v6only,
            ..crate::model::Socket::listening(Protocol::Tcp, local.parse().unwrap())
        };
        let (v4, v6): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        assert!(serves(&listener("127.0.0.1:80", None), v4));
        assert!(!serves(&listener("127.0.0.2:80", None), v4));
        assert!(serves(&listener("0.0.0.0:80", None), v4));
        assert!(!serves(&listener("0.0.0.0:80", None), v6));
        assert!(serves(&listener("[::]:80", Some(false)), v4));
        assert!(!serves(&listener("[::]:80", Some(true)), v4));
        assert!(serves(&listener("[::]:80", Some(true)), v6));
        assert!(serves(&listener("[::ffff:127.0.0.1]:80", None), v4));
        assert!(!serves(&listener("[::1]:80", None), v4));
    }

    #[test]
    fn loopback_and_own_addresses_are_local_others_are_not() {
        assert!(is_local("127.0.0.5".parse().unwrap()));
        assert!(is_local("::1".parse().unwrap()));
        // TEST-NET-1: documentation only, on no interface.
        assert!(!is_local("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn polling_and_the_explanation_fit_in_the_timeout() {
        let started = Instant::now();
        let second = Duration::from_secs(1);
        let budget = Budget::new(started, 2 * second, second, 1);
        assert_eq!(budget.polling_deadline, started + Duration::from_millis(1600));
        assert_eq!(budget.diagnosis_timeout, Duration::from_millis(200));
        // A long timeout keeps at most two connect timeouts per target.
        let budget = Budget::new(started, 30 * second, second, 1);
        assert_eq!(budget.polling_deadline, started + 28 * second);
        assert_eq!(budget.diagnosis_timeout, second);
        for (timeout_ms, targets) in [(300, 1), (2000, 3), (10_000, 2), (60_000, 5)] {
            let timeout = Duration::from_millis(timeout_ms);
            let budget = Budget::new(started, timeout, second, targets);
            let explaining = budget.diagnosis_timeout * 2 * targets as u32;
            assert!(
                budget.polling_deadline + explaining <= started + timeout
                    || budget.diagnosis_timeout == MIN_PROBE,
                "{timeout_ms} ms, {targets} targets: {budget:?}"
            );
        }
    }

    #[test]
    fn a_command_fix_keeps_its_dollar_and_a_step_has_none() {
        let diagnosis = |fix: Fix| Diagnosis {
            target: "127.0.0.1:1".into(),
            ok: false,
            attempts: Vec::new(),
            listeners: Vec::new(),
            processes: Default::default(),
            user_names: Default::default(),
            causes: vec![Cause {
                id: CauseId::LoopbackDown,
                severity: Severity::Error,
                summary: "lo is down".into(),
                evidence: Vec::new(),
                fix: vec![fix],
            }],
            redirects: Vec::new(),
        };
        let command = explain(&diagnosis(Fix::command("ip link set lo up")));
        assert_eq!(command, ["loopback-down: lo is down", "fix: $ ip link set lo up"]);
        let step = explain(&diagnosis(Fix::step("start the service")));
        assert_eq!(step[1], "fix: start the service");
    }

    fn policy(timeout: Duration, down: bool) -> WaitPolicy {
        WaitPolicy {
            readiness: Readiness {
                statuses: StatusSet::default(),
                body: None,
                connect_timeout: Duration::from_millis(500),
            },
            timeout: Some(timeout),
            interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(50),
            any: false,
            down,
        }
    }

    #[test]
    fn an_accepting_target_is_ready_in_one_round() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and holds: the probe's connection must leave the queue.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                held.push(stream);
            }
        });
        let target = Target::parse(&format!("127.0.0.1:{port}")).unwrap();
        let mut rounds = Vec::new();
        let outcome = wait(
            &crate::inventory::system::Machine,
            std::slice::from_ref(&target),
            &policy(Duration::from_secs(10), false),
            |event| {
                let WaitEvent::Round { index, number, satisfied, .. } = *event;
                rounds.push((index, number, satisfied));
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .unwrap();
        assert!(outcome.satisfied);
        assert_eq!(rounds, vec![(0, 1, true)]);
        assert!(outcome.targets[0].why.is_empty());
    }

    #[test]
    fn a_listener_that_never_accepts_is_not_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Target::parse(&format!("127.0.0.1:{port}")).unwrap();
        let outcome = wait(
            &crate::inventory::system::Machine,
            std::slice::from_ref(&target),
            &policy(Duration::from_millis(1500), false),
            |_| Ok::<(), std::convert::Infallible>(()),
        )
        .unwrap();
        assert!(!outcome.satisfied);
        let last = outcome.targets[0].last_round.as_ref().unwrap();
        // The grace is cut near the deadline: how long it was is not asked.
        assert!(matches!(last.attempts[0].reply, Some(Reply::Unaccepted { .. })), "{last:?}");
        assert!(outcome.targets[0].why[0].starts_with("not-accepted: "), "{outcome:?}");
        drop(listener);
    }

    // Waiting for two services, the first came up and went away again while
    // the second was still starting: the wait ended "ready" with one of
    // them down. Every target must be up together.
    #[test]
    fn a_target_that_went_away_while_another_started_is_not_ready() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let targets: Vec<Target> = [&first, &second]
            .iter()
            .map(|l| Target::parse(&l.local_addr().unwrap().to_string()).unwrap())
            .collect();
        // The first accepts one connection and holds it until told to stop;
        // then it closes, listener and all.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let mut first = Some(std::thread::spawn(move || {
            let held = first.accept();
            let _ = stopped.recv();
            drop(held);
        }));
        // The second never accepts until the first is gone.
        let mut second = Some(second);
        let mut events = Vec::new();
        let outcome = wait(
            &crate::inventory::system::Machine,
            &targets,
            &policy(Duration::from_secs(4), false),
            |event| {
                let WaitEvent::Round { index, satisfied, .. } = *event;
                events.push((index, satisfied));
                if (index, satisfied) == (0, true) {
                    stop.send(()).unwrap();
                    first.take().unwrap().join().unwrap();
                }
                // After a round in which the second was still starting.
                if (index, satisfied, first.is_none()) == (1, false, true) {
                    let Some(second) = second.take() else { return Ok(()) };
                    std::thread::spawn(move || {
                        let held: Vec<_> = second.incoming().take(64).collect();
                        drop(held);
                    });
                }
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .unwrap();
        assert!(!outcome.satisfied, "{events:?}");
        assert!(!outcome.targets[0].satisfied && outcome.targets[1].satisfied, "{events:?}");
        assert!(events.contains(&(1, true)) && events.ends_with(&[(0, false)]), "{events:?}");
    }

    #[test]
    fn a_closed_port_is_down_and_a_callback_error_ends_the_wait() {
        // A port bound and closed again: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let target = Target::parse(&format!("127.0.0.1:{port}")).unwrap();
        let system = crate::inventory::system::Machine;
        let down =
            wait(&system, std::slice::from_ref(&target), &policy(Duration::ZERO, true), |_| {
                Ok::<(), std::convert::Infallible>(())
            })
            .unwrap();
        assert!(down.satisfied);
        let stopped = wait(&system, &[target], &policy(Duration::from_secs(10), false), |_| {
            Err("the reader went away")
        });
        assert_eq!(stopped.unwrap_err(), "the reader went away");
    }
}
