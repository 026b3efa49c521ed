//! Readiness: is a target up (as `wait` means it), and if not, why (the
//! one or two lines `wait` prints on timeout and `check` prints as its
//! verdict).
//!
//! "Up" is stricter than "connect() succeeded": a self-connected socket is
//! not a service, an HTTP target must answer with an accepted status (and
//! body), and every resolved address is tried, so a `localhost` that
//! resolves to `::1` first still counts as up when the service listens on
//! 127.0.0.1 only (as Happy Eyeballs clients see it).

use std::time::Duration;

use regex_lite::Regex;

use super::probe::{ProbeAddress, Reply};
use super::{diagnose, probe_address, resolve, Attempt, Client, Diagnosis, Request, Target};

/// A bad status list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("'{text}' is not an HTTP status (expected 100-599)")]
    NotAStatus { text: String },
    #[error("status range {start}-{end} is reversed")]
    Reversed { start: u16, end: u16 },
    #[error("empty status list")]
    Empty,
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
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
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
}

/// Probes every address of `target` once.
pub fn round(target: &Target, readiness: &Readiness) -> Round {
    let addresses: Vec<ProbeAddress> = match target {
        Target::Unix { path } => vec![ProbeAddress::Unix(path.clone())],
        Target::Tcp { host, port } | Target::Http { host, port, .. } => {
            match resolve(&crate::inventory::system::Machine, host, *port, Client::Current) {
                Ok(ips) => ips
                    .into_iter()
                    .map(|ip| ProbeAddress::Ip(host.socket_address(ip, *port)))
                    .collect(),
                Err(error) => {
                    let cause = std::error::Error::source(&error)
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    return Round {
                        attempts: Vec::new(),
                        ready: false,
                        answering: false,
                        resolve_error: Some(format!("{error}: {cause}")),
                    };
                }
            }
        }
    };
    let mut attempts = Vec::new();
    for address in &addresses {
        let mut attempt =
            probe_address(target, address, readiness.connect_timeout, super::Depth::Peek);
        if let (Target::Http { .. }, Some(Reply::Http(response))) = (target, &attempt.reply) {
            if attempt.healthy && !readiness.statuses.contains(response.status) {
                attempt.healthy = false;
                attempt.detail.push_str(&format!(" (waiting for {})", readiness.statuses));
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
    Round { attempts, ready, answering, resolve_error: None }
}

/// The one or two lines that say why a target is not ready.
pub fn explain(diagnosis: &Diagnosis) -> Vec<String> {
    match diagnosis.causes.first() {
        Some(cause) => {
            let mut lines = vec![format!("{}: {}", cause.id.as_str(), cause.summary)];
            if let Some(fix) = cause.fix.first() {
                lines.push(format!("fix: {fix}"));
            }
            lines
        }
        None if diagnosis.ok => vec!["it answers now".to_string()],
        None => vec!["no cause found".to_string()],
    }
}

/// Diagnoses `target` and returns [`explain`]'s lines (or why that failed).
pub fn why_not_ready(target: &Target, timeout: Duration) -> Vec<String> {
    let request =
        Request { target: Some(target.clone()), bind: None, client: Client::Current, timeout };
    match diagnose(&crate::inventory::system::Machine, &request) {
        Ok(diagnosis) => explain(&diagnosis),
        Err(error) => vec![format!("could not diagnose: {error}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
