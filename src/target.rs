//! Endpoints as users type them: `5432`, `localhost:8080`, `127.0.0.1:62893`,
//! `[::1]:5173`. Parsing is strict and every error names the bad part, so
//! `porthole '[::1:80'` says what is wrong instead of guessing.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::inventory::ports::{parse_port, PortListError};

/// A bad endpoint, naming the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("empty endpoint")]
    Empty,
    #[error("missing port after '{text}'")]
    MissingPort { text: String },
    #[error("unclosed '[' in '{text}' (write IPv6 as [ADDRESS]:PORT)")]
    UnclosedBracket { text: String },
    #[error("'{text}' is not an IPv6 address")]
    BadIpv6 { text: String },
    #[error("IPv6 address '{text}' needs brackets and a port: [{text}]:PORT")]
    BareIpv6 { text: String },
    #[error("'{text}' is not a valid host name")]
    BadHost { text: String },
    #[error("unexpected '{rest}' after ']' (expected :PORT)")]
    TrailingAfterBracket { rest: String },
    #[error(transparent)]
    Port(#[from] PortListError),
}

/// The host part of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// A name to resolve (`localhost`, `db.internal`).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// `[HOST:]PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `None` for a bare port: every address of the port.
    pub host: Option<Host>,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host}:{}", self.port),
            None => write!(f, "{}", self.port),
        }
    }
}

impl Endpoint {
    /// Parses `PORT`, `HOST:PORT` or `[IPv6]:PORT`.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EndpointError::Empty);
        }
        if let Some(inner) = text.strip_prefix('[') {
            let Some((address, rest)) = inner.split_once(']') else {
                return Err(EndpointError::UnclosedBracket { text: text.to_string() });
            };
            let ip: Ipv6Addr = address
                .parse()
                .map_err(|_| EndpointError::BadIpv6 { text: address.to_string() })?;
            let port = match rest.strip_prefix(':') {
                Some("") | None if rest.is_empty() || rest == ":" => {
                    return Err(EndpointError::MissingPort { text: text.to_string() })
                }
                Some(port) => parse_port(port)?,
                None => return Err(EndpointError::TrailingAfterBracket { rest: rest.to_string() }),
            };
            return Ok(Endpoint { host: Some(Host::Ip(IpAddr::V6(ip))), port });
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Endpoint { host: None, port: parse_port(text)? });
        }
        if text.matches(':').count() > 1 {
            // A bare IPv6 address: with or without a trailing ":PORT" it is
            // ambiguous, so ask for brackets.
            let address = text
                .parse::<Ipv6Addr>()
                .map(|_| text)
                .unwrap_or_else(|_| text.rsplit_once(':').map_or(text, |(address, _)| address));
            return Err(EndpointError::BareIpv6 { text: address.to_string() });
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            // A lone host without a port.
            return Err(EndpointError::MissingPort { text: format!("{text}:") });
        };
        if port.is_empty() {
            return Err(EndpointError::MissingPort { text: text.to_string() });
        }
        let port = parse_port(port)?;
        let host = parse_host(host)?;
        Ok(Endpoint { host: Some(host), port })
    }
}

/// A host name or IPv4 literal (IPv6 needs brackets, handled by the caller).
pub fn parse_host(text: &str) -> Result<Host, EndpointError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let valid = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(Host::Name(text.to_ascii_lowercase()))
    } else {
        Err(EndpointError::BadHost { text: text.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_shape() {
        assert_eq!(ok("5432"), Endpoint { host: None, port: 5432 });
        assert_eq!(ok("127.0.0.1:62893").host, Some(Host::Ip("127.0.0.1".parse().unwrap())));
        assert_eq!(ok("[::1]:80").host, Some(Host::Ip("::1".parse().unwrap())));
        assert_eq!(ok("LocalHost:3000").host, Some(Host::Name("localhost".into())));
        assert_eq!(ok("[::ffff:127.0.0.1]:1").port, 1);
        assert_eq!(ok("[::1]:80").to_string(), "[::1]:80");
    }

    #[test]
    fn rejects_bad_input_naming_the_part() {
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        assert_eq!(err("70000"), "port 70000 is out of range (0-65535)");
        assert_eq!(err("localhost:"), "missing port after 'localhost:'");
        assert!(err("[::1:80").starts_with("unclosed '['"));
        assert_eq!(err("[::1]"), "missing port after '[::1]'");
        assert_eq!(err("[::1]:"), "missing port after '[::1]:'");
        assert!(err("[::1]x").contains("after ']'"));
        assert!(err("[zz]:80").contains("not an IPv6"));
        assert!(err("::1:80").contains("needs brackets"));
        assert!(err("host:abc").contains("'abc' is not a port"));
        assert!(err("bad host:80").contains("not a valid host"));
        assert_eq!(err(""), "empty endpoint");
        assert_eq!(err("localhost"), "missing port after 'localhost:'");
    }
}
