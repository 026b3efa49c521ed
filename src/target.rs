//! Endpoints as users type them: `5432`, `localhost:8080`, `127.0.0.1:62893`,
//! `[::1]:5173`, `[fe80::1%eth0]:80`. Parsing is strict and every error
//! names the bad part, so `porthole '[::1:80'` says what is wrong instead of
//! guessing.
//!
//! A zone id names the interface of a scoped IPv6 address (link-local
//! `fe80::/10`, multicast); it is written `%NAME` or `%INDEX`, or `%25NAME`
//! as URLs must encode `%` (RFC 6874). The interface is looked up when the
//! endpoint is parsed, so a wrong name is bad input, not a failed connect.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// A bad endpoint, naming the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("empty endpoint")]
    Empty,
    /// A host, or a host and a colon, without the port: `text` is what was
    /// typed, never a colon added to it.
    #[error("missing port after '{text}'")]
    MissingPort { text: String },
    /// One word that is neither a port nor a host: `text` as typed.
    #[error("'{text}' is neither a port number nor HOST:PORT")]
    NotAnEndpoint { text: String },
    #[error("unclosed '[' in '{text}' (write IPv6 as [ADDRESS]:PORT)")]
    UnclosedBracket { text: String },
    #[error("'{text}' is not an IPv6 address")]
    BadIpv6 { text: String },
    /// `[127.0.0.1]:80`: brackets are for IPv6 only; `written` is the
    /// endpoint without them.
    #[error("'{address}' is an IPv4 address, which takes no brackets: write {written}")]
    BracketedIpv4 { address: String, written: String },
    #[error("empty zone id in '{text}' (write [ADDRESS%INTERFACE]:PORT)")]
    EmptyZone { text: String },
    #[error("zone id '%{zone}' of '{text}': no network interface '{zone}' here")]
    UnknownZone { zone: String, text: String },
    #[error("'{text}' is not an IPv6 address (a zone id only follows IPv6)")]
    ZoneWithoutIpv6 { text: String },
    #[error("IPv6 address '{text}' needs brackets and a port: [{text}]:PORT")]
    BareIpv6 { text: String },
    #[error(
        "IPv6 '{text}' needs brackets and is ambiguous: [{address}]:{port} for port {port} of \
         {address}, or [{text}]:PORT for the address {text}"
    )]
    AmbiguousIpv6 { text: String, address: String, port: String },
    #[error("'{text}' is not a valid host name")]
    BadHost { text: String },
    /// Dotted numbers no IPv4 address has (`256.0.0.1`, `1.2.3.4.5`):
    /// passed on as a name, the resolver's "Name or service not known"
    /// would hide the typo.
    #[error("'{text}' is not an IPv4 address: it takes four numbers of 0-255, such as 127.0.0.1")]
    BadIpv4 { text: String },
    /// A number the resolver reads as an IPv4 address in the old
    /// `inet_aton` shorthand (`10`, `127.1`, `0x7f.1`, octal `010.0.0.1`):
    /// taken as a name it would silently mean `reads_as`.
    #[error("'{text}' is no host name: the resolver reads it as the IPv4 address {reads_as}; write the address in full (four decimal numbers, such as {reads_as})")]
    ShorthandIpv4 { text: String, reads_as: std::net::Ipv4Addr },
    /// A URL pasted where a port or `HOST:PORT` is taken (`porthole
    /// http://localhost:8080`): read as `HOST:PORT`, its scheme was the
    /// host and the rest a bad port. `endpoint` is the `HOST:PORT` in it,
    /// when it names a port.
    #[error("a URL, where PORT or HOST:PORT is expected{}", .endpoint.as_ref().map_or_else(|| " (porthole check and wait take URLs)".to_string(), |e| format!(": write {e} (porthole check and wait take URLs)")))]
    Url { endpoint: Option<String> },
    #[error("unexpected '{rest}' after ']' (expected :PORT)")]
    TrailingAfterBracket { rest: String },
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Whether port 0 is an answer where a port is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortZero {
    /// Matching sockets: unbound and wildcard-port sockets show port 0.
    Allowed,
    /// Using or claiming a port: 0 asks the kernel for any port, so it can be
    /// neither stopped nor handed out.
    Refused,
}

/// A typed port that is not one; the wording names the range that applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("'{text}' is not a port number (expected {min}-65535)")]
    NotANumber { text: String, min: u16 },
    #[error("port {value} is out of range ({min}-65535)")]
    OutOfRange { value: u64, min: u16 },
    /// A name from `/etc/services` where a port was expected: ports are
    /// not looked up by name (a name's port differs between machines and
    /// protocols), so the number is named for the user to type.
    #[error("'{text}' is a service name, not a port number: /etc/services gives it port {ports}; write the number ({first})")]
    ServiceName { text: String, ports: String, first: u16 },
}

/// Parses a port number as typed: decimal digits only (no sign, no
/// spaces), within the range `zero` allows. The one port parser of the
/// command line: endpoints, port lists, `kill`, `free`.
pub fn parse_port(text: &str, zero: PortZero) -> Result<u16, PortError> {
    let min = match zero {
        PortZero::Allowed => 0,
        PortZero::Refused => 1,
    };
    let not_a_number = || PortError::NotANumber { text: text.to_string(), min };
    let Some(value) = parse_decimal(text) else {
        if text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            let ports = crate::portinfo::ports_of_service(text);
            if let Some(&first) = ports.first() {
                let ports: Vec<String> = ports.iter().map(ToString::to_string).collect();
                return Err(PortError::ServiceName {
                    text: text.to_string(),
                    ports: ports.join(", "),
                    first,
                });
            }
        }
        return Err(not_a_number());
    };
    // Beyond u64 the number is shown as typed (cut), not as a bound.
    let value = u64::try_from(value).map_err(|_| not_a_number())?;
    match u16::try_from(value) {
        Ok(port) if port >= min => Ok(port),
        _ => Err(PortError::OutOfRange { value, min }),
    }
}

/// Parses a whole number as typed on the command line: decimal digits
/// only, so `+3`, `-1`, `0x10`, `1e3`, `3.0` and `3 4` are all `None`. The
/// one number parser behind ports, pids and counts, so every numeric option
/// takes the same forms. A number too large for `u128` saturates: callers
/// compare it with their own bounds.
pub fn parse_decimal(text: &str) -> Option<u128> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u128, |value, digit| {
        value.saturating_mul(10).saturating_add(u128::from(digit - b'0'))
    }))
}

/// Parses a decimal number with an optional fraction as typed on the
/// command line: digits and at most one `.` (`0.5`, `.5`, `1.`, `1`), the
/// forms a duration's number takes, so `+0.5`, `-0`, `1e3`, `0x1`, `nan`,
/// `inf` and `0.5 0.6` are all `None`. The counterpart of
/// [`parse_decimal`] for probabilities and rates.
pub fn parse_decimal_fraction(text: &str) -> Option<f64> {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let dots = text.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != text.len() {
        return None;
    }
    text.parse().ok()
}

/// The host part of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// An IPv6 address with a zone id: the interface it is reached on.
    Scoped {
        address: Ipv6Addr,
        /// The zone as written, without `%` (an interface name or index).
        zone: String,
        /// The interface index the kernel takes as `sin6_scope_id`.
        scope_id: u32,
    },
    /// A name to resolve (`localhost`, `db.internal`).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Scoped { address, zone, .. } => write!(f, "[{address}%{zone}]"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl Host {
    /// Where a probe of `ip` (this host's address, or one it resolved to)
    /// and `port` connects: a scoped host keeps its zone's name for
    /// printing.
    pub fn probe_address(&self, ip: IpAddr, port: u16) -> crate::model::diagnosis::ProbeAddress {
        use crate::model::diagnosis::ProbeAddress;
        match (self.socket_address(ip, port), self) {
            (SocketAddr::V6(address), Host::Scoped { zone, .. }) => {
                ProbeAddress::Scoped { address, zone: zone.clone() }
            }
            (address, _) => ProbeAddress::Ip(address),
        }
    }

    /// The socket address of `ip` (this host's address, or one it resolved
    /// to) and `port`, with the zone's scope id for a scoped host.
    pub fn socket_address(&self, ip: IpAddr, port: u16) -> SocketAddr {
        match (self, ip) {
            (Host::Scoped { scope_id, .. }, IpAddr::V6(v6)) => {
                SocketAddr::V6(SocketAddrV6::new(v6, port, 0, *scope_id))
            }
            _ => SocketAddr::new(ip, port),
        }
    }
}

/// For an address with a zone id (`[fe80::1%eth0]:80`), the socket address
/// with its scope id; `None` for any other text, which callers resolve as
/// before (the system resolver takes no bracketed scoped addresses).
pub fn zoned_socket_address(text: &str) -> Option<Result<SocketAddr, EndpointError>> {
    if !text.contains('%') {
        return None;
    }
    Some(Endpoint::parse(text).and_then(|endpoint| match endpoint.host {
        Some(host @ Host::Scoped { address, .. }) => {
            Ok(host.socket_address(IpAddr::V6(address), endpoint.port))
        }
        _ => Err(EndpointError::BadIpv6 { text: text.to_string() }),
    }))
}

/// An address with a zone id as output prints it, whichever way it was
/// written (`%3`, `%25eth0`): the zone by its interface's name,
/// `[fe80::1%eth0]:80`. `None` for any other text, and for a zone no
/// interface has (which the caller refuses in its own words).
pub fn zone_named(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    Endpoint::parse(text)
        .ok()
        .filter(|endpoint| matches!(endpoint.host, Some(Host::Scoped { .. })))
        .map(|endpoint| endpoint.to_string())
}

/// A socket address as output prints it: a scope id by its interface's
/// name (`[fe80::1%eth0]:80`, as Go's `net` writes it, and as a zone is
/// typed), not the bare index Rust's `Display` gives, which names no
/// interface to a reader.
pub fn socket_address_text(address: SocketAddr) -> String {
    match address {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            match crate::sys::interfaces::name_of(v6.scope_id()) {
                Some(name) => {
                    format!("[{}%{}]:{}", v6.ip(), String::from_utf8_lossy(&name), v6.port())
                }
                None => address.to_string(),
            }
        }
        _ => address.to_string(),
    }
}

/// Parses `ADDRESS` or `ADDRESS%ZONE` (the inside of the brackets).
fn parse_ipv6(inside: &str) -> Result<Host, EndpointError> {
    let Some((address, zone)) = inside.split_once('%') else {
        let ip: Ipv6Addr =
            inside.parse().map_err(|_| EndpointError::BadIpv6 { text: inside.to_string() })?;
        return Ok(Host::Ip(IpAddr::V6(ip)));
    };
    let ip: Ipv6Addr = address.parse().map_err(|_| {
        if address.parse::<std::net::Ipv4Addr>().is_ok() {
            EndpointError::ZoneWithoutIpv6 { text: inside.to_string() }
        } else {
            EndpointError::BadIpv6 { text: address.to_string() }
        }
    })?;
    // `%25` is how a URL writes `%` (RFC 6874): `[fe80::1%25eth0]`.
    let zone = match zone.strip_prefix("25") {
        Some(rest) if !rest.is_empty() && crate::sys::interfaces::index_of(zone).is_none() => rest,
        _ => zone,
    };
    if zone.is_empty() {
        return Err(EndpointError::EmptyZone { text: inside.to_string() });
    }
    let unknown =
        || EndpointError::UnknownZone { zone: zone.to_string(), text: inside.to_string() };
    // A numeric zone is an interface index: it is kept by the interface's
    // name, which output prints (an index means nothing to a reader).
    let (scope_id, name) = match zone.parse::<u32>() {
        Ok(index) => {
            let name = crate::sys::interfaces::name_of(index).ok_or_else(unknown)?;
            (index, String::from_utf8_lossy(&name).into_owned())
        }
        Err(_) => (crate::sys::interfaces::index_of(zone).ok_or_else(unknown)?, zone.to_string()),
    };
    Ok(Host::Scoped { address: ip, zone: name, scope_id })
}

/// A transport written after a port, as `/etc/services`, `fuser` and
/// porthole's own audit write it (`3000/tcp`, `127.0.0.1:53/udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// A transport written with a port that porthole cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A `/PROTOCOL` after a port that is neither TCP nor UDP.
    #[error("'/{protocol}' after the port: porthole knows /tcp and /udp")]
    Unknown { protocol: String },
    /// `tcp:3000/udp`: one transport before the port, the other after it.
    #[error("'{before}:' before the port and '/{after}' after it ask for both; give one")]
    Both { before: Transport, after: Transport },
}

/// Splits a trailing `/tcp` or `/udp` (any case) off a port or
/// `HOST:PORT` as typed, or a leading `tcp:` or `udp:` as `lsof -i TCP:3000`
/// and `check tcp:HOST:PORT` write it; `None` when there is none. Only a
/// suffix after a digit counts, so a path or URL is left whole; another word
/// there (`3000/sctp`) is an error that names it.
///
/// The prefix wins over a host of that name: `tcp:80` is port 80 of TCP, as
/// lsof reads it, not port 80 of a machine called `tcp`.
pub fn split_transport(text: &str) -> Result<(&str, Option<Transport>), TransportError> {
    let start = text.trim_start();
    for (prefix, transport) in [("tcp:", Transport::Tcp), ("udp:", Transport::Udp)] {
        // `tcp://HOST:PORT` is a URL, left whole for its own parser.
        let Some(rest) = start
            .get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .and_then(|_| start.get(prefix.len()..))
            .filter(|rest| !rest.starts_with('/'))
        else {
            continue;
        };
        return match split_suffix(rest)? {
            (rest, None) => Ok((rest, Some(transport))),
            (rest, Some(suffix)) if suffix == transport => Ok((rest, Some(transport))),
            (_, Some(after)) => Err(TransportError::Both { before: transport, after }),
        };
    }
    split_suffix(text)
}

/// The `/tcp` or `/udp` half of [`split_transport`].
fn split_suffix(text: &str) -> Result<(&str, Option<Transport>), TransportError> {
    let Some((before, after)) = text.trim_end().rsplit_once('/') else {
        return Ok((text, None));
    };
    if !before.ends_with(|c: char| c.is_ascii_digit())
        || after.is_empty()
        || !after.bytes().all(|b| b.is_ascii_alphanumeric())
        || before.contains('/')
    {
        return Ok((text, None));
    }
    match after.to_ascii_lowercase().as_str() {
        "tcp" => Ok((before, Some(Transport::Tcp))),
        "udp" => Ok((before, Some(Transport::Udp))),
        _ if after.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Err(TransportError::Unknown { protocol: after.to_string() })
        }
        _ => Ok((text, None)),
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
        if let Some((_, rest)) = text.split_once("://") {
            // The authority, without a user and password, when it parses
            // as HOST:PORT with both.
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            let endpoint = Endpoint::parse(authority)
                .ok()
                .filter(|endpoint| endpoint.host.is_some())
                .map(|_| authority.to_string());
            // The URL is not quoted: it may hold a password, and every
            // caller quotes what was typed before this.
            return Err(EndpointError::Url { endpoint });
        }
        if let Some(inner) = text.strip_prefix('[') {
            let Some((address, rest)) = inner.split_once(']') else {
                return Err(EndpointError::UnclosedBracket { text: text.to_string() });
            };
            let after = rest.trim();
            if address.parse::<std::net::Ipv4Addr>().is_ok()
                && (after.is_empty() || after.starts_with(':'))
            {
                let rest = after;
                let written = if rest.is_empty() || rest == ":" {
                    format!("{address}:PORT")
                } else {
                    format!("{address}{rest}")
                };
                return Err(EndpointError::BracketedIpv4 { address: address.to_string(), written });
            }
            let host = parse_ipv6(address)?;
            // Blanks around the colon are ignored, as around a bare port.
            let rest = rest.trim_start();
            let port = match rest.strip_prefix(':').map(str::trim) {
                Some("") | None if rest.is_empty() || rest.trim() == ":" => {
                    return Err(EndpointError::MissingPort { text: text.to_string() })
                }
                Some(port) => parse_port(port, PortZero::Allowed)?,
                None => return Err(EndpointError::TrailingAfterBracket { rest: rest.to_string() }),
            };
            return Ok(Endpoint { host: Some(host), port });
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Endpoint { host: None, port: parse_port(text, PortZero::Allowed)? });
        }
        // `:3000` as lsof and ss take it (`lsof -i :3000`), `*:3000` as ss
        // and netstat print a listener on every address: the port on every
        // address, as a bare port is.
        if let Some(port) = text.strip_prefix(':').or_else(|| text.strip_prefix("*:")) {
            let port = port.trim_start();
            if port.is_empty() {
                return Err(EndpointError::MissingPort { text: text.to_string() });
            }
            if !port.contains(':') {
                return Ok(Endpoint { host: None, port: parse_port(port, PortZero::Allowed)? });
            }
        }
        if text.matches(':').count() > 1 {
            // A bare IPv6 address: with or without a trailing ":PORT" it is
            // ambiguous, so ask for brackets. The zone is not part of the
            // address syntax: leave it out when deciding where it ends.
            let is_ipv6 = |candidate: &str| match candidate.split_once('%') {
                Some((address, zone)) => !zone.contains(':') && address.parse::<Ipv6Addr>().is_ok(),
                None => candidate.parse::<Ipv6Addr>().is_ok(),
            };
            let address = if is_ipv6(text) {
                // `::1:8080` is an address, but most likely port 8080 of
                // `::1`: offer both readings rather than only the first.
                if let Some((address, port)) = text.rsplit_once(':') {
                    let port_like = !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && port.parse::<u16>().is_ok();
                    if port_like && is_ipv6(address) {
                        return Err(EndpointError::AmbiguousIpv6 {
                            text: text.to_string(),
                            address: address.to_string(),
                            port: port.to_string(),
                        });
                    }
                }
                text
            } else {
                match text.rsplit_once(':') {
                    Some((address, _)) if is_ipv6(address) => address,
                    _ => {
                        // `localhost:8080:90`: a name no IPv6 address can
                        // start with, then a port with a colon too many.
                        if let Some((host, port)) = text.split_once(':') {
                            let hex = host.bytes().all(|b| b.is_ascii_hexdigit());
                            if !host.is_empty() && !hex && parse_host(host).is_ok() {
                                return Err(PortError::NotANumber {
                                    text: port.to_string(),
                                    min: 0,
                                }
                                .into());
                            }
                        }
                        return Err(EndpointError::BadIpv6 { text: text.to_string() });
                    }
                }
            };
            return Err(EndpointError::BareIpv6 { text: address.to_string() });
        }
        let Some((host, port)) = text.rsplit_once(':').map(|(h, p)| (h.trim_end(), p.trim_start()))
        else {
            // A lone word that starts like a number (`1e3`, `0x50`, `+80`,
            // `-1`) and is no IPv4 literal was meant as a port: "missing
            // port after '1e3:'" would quote a colon nobody typed.
            if text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
                && text.parse::<IpAddr>().is_err()
                && !text.contains('.')
            {
                return Err(PortError::NotANumber { text: text.to_string(), min: 0 }.into());
            }
            // A lone host without a port, quoted as typed: no colon added.
            return Err(match parse_host(text) {
                Ok(_) | Err(EndpointError::ShorthandIpv4 { .. }) => {
                    EndpointError::MissingPort { text: text.to_string() }
                }
                Err(error @ EndpointError::BadIpv4 { .. }) => error,
                Err(_) => EndpointError::NotAnEndpoint { text: text.to_string() },
            });
        };
        if port.is_empty() {
            return Err(EndpointError::MissingPort { text: text.to_string() });
        }
        let port = parse_port(port, PortZero::Allowed)?;
        let host = parse_host(host)?;
        Ok(Endpoint { host: Some(host), port })
    }
}

/// A host name or IPv4 literal (IPv6 needs brackets, handled by the caller).
pub fn parse_host(text: &str) -> Result<Host, EndpointError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if let Some(reads_as) = inet_aton(text) {
        return Err(EndpointError::ShorthandIpv4 { text: text.to_string(), reads_as });
    }
    // No top-level domain is all digits (RFC 3696 §2): dotted numbers were
    // meant as an address.
    if text.contains('.')
        && text.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(EndpointError::BadIpv4 { text: text.to_string() });
    }
    // A fully qualified name may end with the root's empty label
    // (`localhost.`, `db.example.`): resolvers take it as written.
    let labels = text.strip_suffix('.').unwrap_or(text);
    let valid = !labels.is_empty()
        && labels.len() <= 253
        && labels.split('.').all(|label| {
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

/// The IPv4 address glibc's `inet_aton` (and so `getaddrinfo`) reads `text`
/// as, when it is one of its numeric forms: one to four parts separated by
/// dots, each decimal, octal (a leading `0`) or hexadecimal (`0x`), the last
/// part filling the bytes left. `None` for anything else, such as a name.
///
/// See: <https://man7.org/linux/man-pages/man3/inet_aton.3.html>
fn inet_aton(text: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(hex, 16).ok()?
        } else if part.len() > 1 && part.starts_with('0') {
            if !part.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            u64::from_str_radix(part, 8).ok()?
        } else {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse::<u64>().ok()?
        };
        values.push(value);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 255) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let mut address = *last;
    for (index, value) in leading.iter().enumerate() {
        address |= value << (24 - 8 * index as u32);
    }
    Some(std::net::Ipv4Addr::from(address as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_is_digits_only() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("0042"), Some(42));
        assert_eq!(parse_decimal(&"9".repeat(60)), Some(u128::MAX));
        for text in ["", "+3", "-1", "0x10", "1e3", "3.0", "3 4", " 3", "٣"] {
            assert_eq!(parse_decimal(text), None, "{text:?}");
        }
    }

    fn ok(text: &str) -> Endpoint {
        Endpoint::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn blanks_around_the_colon_are_ignored_as_around_a_bare_port() {
        let v6 = Endpoint { host: Some(Host::Ip("::1".parse().unwrap())), port: 22 };
        for text in ["[::1]: 22", "[::1] :22", " [::1] : 22 ", "[::1]:22"] {
            assert_eq!(ok(text), v6, "{text}");
        }
        let name = Endpoint { host: Some(Host::Name("localhost".into())), port: 22 };
        for text in ["localhost: 22", "localhost :22", "localhost\t:\t22"] {
            assert_eq!(ok(text), name, "{text}");
        }
        for missing in ["[::1]: ", "[::1] :", "localhost: "] {
            let error = Endpoint::parse(missing).unwrap_err();
            assert!(matches!(error, EndpointError::MissingPort { .. }), "{missing}: {error}");
        }
        assert!(Endpoint::parse("local host:22").is_err());
    }

    #[test]
    fn a_fully_qualified_name_keeps_its_root_dot() {
        assert_eq!(parse_host("localhost.").unwrap(), Host::Name("localhost.".into()));
        for bad in [".", "x..", "..", "a..b"] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_port_is_taken_as_lsof_ss_and_netstat_write_it() {
        for text in [":3000", "*:3000", ": 3000", "*: 3000"] {
            assert_eq!(ok(text), Endpoint { host: None, port: 3000 }, "{text}");
        }
        for missing in [":", "*:"] {
            let error = Endpoint::parse(missing).unwrap_err();
            assert!(matches!(error, EndpointError::MissingPort { .. }), "{missing}: {error}");
        }
        assert!(Endpoint::parse(":x").is_err());
        // Still an IPv6 question, not a port.
        assert!(matches!(Endpoint::parse("::1").unwrap_err(), EndpointError::BareIpv6 { .. }));
        assert!(Endpoint::parse("*:3000:1").is_err());
    }

    #[test]
    fn a_transport_after_the_port_is_split_off() {
        assert_eq!(split_transport("3000/tcp"), Ok(("3000", Some(Transport::Tcp))));
        assert_eq!(split_transport("53/UDP"), Ok(("53", Some(Transport::Udp))));
        assert_eq!(split_transport("127.0.0.1:53/udp"), Ok(("127.0.0.1:53", Some(Transport::Udp))));
        assert_eq!(split_transport("[::1]:80/tcp"), Ok(("[::1]:80", Some(Transport::Tcp))));
        for whole in
            ["3000", "unix:/run/x.sock", "/run/x/1/tcp", "http://h:80/tcp", "localhost/tcp"]
        {
            assert_eq!(split_transport(whole), Ok((whole, None)), "{whole}");
        }
        assert_eq!(
            split_transport("3000/sctp").unwrap_err().to_string(),
            "'/sctp' after the port: porthole knows /tcp and /udp"
        );
    }

    #[test]
    fn a_transport_before_the_port_is_split_off_as_lsof_writes_it() {
        assert_eq!(split_transport("tcp:3000"), Ok(("3000", Some(Transport::Tcp))));
        assert_eq!(split_transport("UDP:53"), Ok(("53", Some(Transport::Udp))));
        assert_eq!(split_transport(" udp:53/udp"), Ok(("53", Some(Transport::Udp))));
        assert_eq!(
            split_transport("tcp:127.0.0.1:5432"),
            Ok(("127.0.0.1:5432", Some(Transport::Tcp)))
        );
        assert_eq!(split_transport("tcp:[::1]:80"), Ok(("[::1]:80", Some(Transport::Tcp))));
        // A URL and a word that only starts like a transport stay whole.
        for whole in ["tcp://localhost:80", "tcpx:80", "udp-host:53"] {
            assert_eq!(split_transport(whole), Ok((whole, None)), "{whole}");
        }
        assert_eq!(
            split_transport("tcp:53/udp").unwrap_err().to_string(),
            "'tcp:' before the port and '/udp' after it ask for both; give one"
        );
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
    fn parses_zone_ids() {
        let lo = crate::sys::interfaces::index_of("lo").expect("loopback interface");
        for text in ["[fe80::1%lo]:80", "[fe80::1%25lo]:80"] {
            let endpoint = ok(text);
            let host = endpoint.host.clone().unwrap();
            assert_eq!(
                host,
                Host::Scoped {
                    address: "fe80::1".parse().unwrap(),
                    zone: "lo".into(),
                    scope_id: lo
                },
                "{text}"
            );
            assert_eq!(endpoint.to_string(), "[fe80::1%lo]:80");
            let address = host.socket_address("fe80::1".parse().unwrap(), 80);
            assert_eq!(
                address,
                SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, lo))
            );
        }
        // Output names the zone, however it was typed or bound.
        for text in [format!("[fe80::1%{lo}]:80"), "[fe80::1%25lo]:80".into()] {
            assert_eq!(zone_named(&text).as_deref(), Some("[fe80::1%lo]:80"), "{text}");
        }
        assert_eq!(zone_named("127.0.0.1:80"), None);
        let bound = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, lo));
        assert_eq!(socket_address_text(bound), "[fe80::1%lo]:80");
        assert_eq!(socket_address_text("[::1]:80".parse().unwrap()), "[::1]:80");
        // A numeric zone is the interface index itself, kept by its name;
        // an index no interface has is bad input, as an unknown name is.
        assert_eq!(ok(&format!("[fe80::1%{lo}]:80")).to_string(), "[fe80::1%lo]:80");
        assert!(matches!(
            ok(&format!("[fe80::1%{lo}]:80")).host,
            Some(Host::Scoped { scope_id, .. }) if scope_id == lo
        ));
        assert!(matches!(
            Endpoint::parse("[fe80::1%4000000000]:80"),
            Err(EndpointError::UnknownZone { .. })
        ));
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        assert_eq!(
            err("[fe80::1%nosuchif0]:80"),
            "zone id '%nosuchif0' of 'fe80::1%nosuchif0': no network interface 'nosuchif0' here"
        );
        assert!(err("[fe80::1%]:80").starts_with("empty zone id"));
        assert!(err("[127.0.0.1%lo]:80").contains("a zone id only follows IPv6"));
        assert_eq!(
            err("fe80::1%lo:80"),
            "IPv6 address 'fe80::1%lo' needs brackets and a port: [fe80::1%lo]:PORT"
        );
        assert_eq!(
            err("fe80::1%lo"),
            "IPv6 address 'fe80::1%lo' needs brackets and a port: [fe80::1%lo]:PORT"
        );
        assert_eq!(err("fe80::zz%lo:80"), "'fe80::zz%lo:80' is not an IPv6 address");
        // A name and a port with a colon too many is no IPv6 address.
        assert_eq!(err("localhost:8080:90"), "'8080:90' is not a port number (expected 0-65535)");
        assert_eq!(err("db.example:1:2"), "'1:2' is not a port number (expected 0-65535)");
    }

    #[test]
    fn a_url_where_host_port_is_taken_names_the_host_port_in_it() {
        // Read as HOST:PORT, `http` was the host and `//localhost:8080` a
        // port that is not a number.
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        assert_eq!(
            err("http://localhost:8080/health"),
            "a URL, where PORT or HOST:PORT is expected: write localhost:8080 (porthole check and wait take URLs)"
        );
        assert_eq!(
            err("redis://:secret@[::1]:6379/0"),
            "a URL, where PORT or HOST:PORT is expected: write [::1]:6379 (porthole check and wait take URLs)"
        );
        assert_eq!(
            err("https://example.org/"),
            "a URL, where PORT or HOST:PORT is expected (porthole check and wait take URLs)"
        );
    }

    #[test]
    fn rejects_bad_input_naming_the_part() {
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        assert_eq!(err("70000"), "port 70000 is out of range (0-65535)");
        assert_eq!(err("host:8o"), "'8o' is not a port number (expected 0-65535)");
        assert_eq!(err("localhost:"), "missing port after 'localhost:'");
        assert_eq!(err("localhost"), "missing port after 'localhost'");
        assert_eq!(err("1e3"), "'1e3' is not a port number (expected 0-65535)");
        assert_eq!(err("0x50"), "'0x50' is not a port number (expected 0-65535)");
        assert_eq!(err("+80"), "'+80' is not a port number (expected 0-65535)");
        assert_eq!(err("127.0.0.1"), "missing port after '127.0.0.1'");
        assert!(err("[::1:80").starts_with("unclosed '['"));
        assert_eq!(err("[::1]"), "missing port after '[::1]'");
        assert_eq!(err("[::1]:"), "missing port after '[::1]:'");
        assert!(err("[::1]x").contains("after ']'"));
        assert!(err("[zz]:80").contains("not an IPv6"));
        assert_eq!(
            err("[127.0.0.1]:80"),
            "'127.0.0.1' is an IPv4 address, which takes no brackets: write 127.0.0.1:80"
        );
        assert!(err("[10.0.0.1]").ends_with("write 10.0.0.1:PORT"), "{}", err("[10.0.0.1]"));
        assert_eq!(
            err("::1:80"),
            "IPv6 '::1:80' needs brackets and is ambiguous: [::1]:80 for port 80 of ::1, or \
             [::1:80]:PORT for the address ::1:80"
        );
        assert!(err("host:abc").contains("'abc' is not a port"));
        assert!(err("bad host:80").contains("not a valid host"));
        assert_eq!(err(""), "empty endpoint");
    }

    #[test]
    fn dotted_numbers_no_address_has_are_named_as_a_bad_ipv4_address() {
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        for text in ["256.0.0.1", "1.2.3.4.5", "127.0.0.08", "300.1"] {
            assert_eq!(
                err(&format!("{text}:80")),
                format!(
                    "'{text}' is not an IPv4 address: it takes four numbers of 0-255, such as \
                     127.0.0.1"
                )
            );
        }
        assert!(err("256.0.0.1").starts_with("'256.0.0.1' is not an IPv4 address"));
        // A name with a number in it is still a name.
        for name in ["1.2.3.4.example", "10.in-addr", "123abc.5"] {
            assert!(matches!(parse_host(name), Ok(Host::Name(_))), "{name}");
        }
    }

    /// Every message quotes what was typed: a lone word that is no port
    /// was quoted with a colon nobody typed (`missing port after
    /// '\x1b[31m80:'`).
    #[test]
    fn errors_quote_the_input_as_typed() {
        let err = |text: &str| Endpoint::parse(text).unwrap_err().to_string();
        assert_eq!(err("\x1b[31m80"), "'\x1b[31m80' is neither a port number nor HOST:PORT");
        assert_eq!(err("a b"), "'a b' is neither a port number nor HOST:PORT");
        assert_eq!(err("db.example"), "missing port after 'db.example'");
        assert_eq!(err("db.example:"), "missing port after 'db.example:'");
        assert_eq!(err("10.1"), "missing port after '10.1'");
        // Whatever the input, the quoted parts are parts of it.
        for text in [
            "\x1b[31m80",
            "a b",
            "localhost",
            "db:",
            "[::1]",
            "[::1]x",
            "[zz]:80",
            "::1:80",
            "fe80::1%lo",
            "[fe80::1%nosuch]:1",
            "[fe80::1%]:1",
            "[127.0.0.1%lo]:1",
            "h:8o",
            "localhost:1:2",
            "10:00",
            "bad host:80",
            "\u{202e}x:80",
            "1e3",
            "70000",
        ] {
            let message = err(text);
            for quoted in message.split('\'').skip(1).step_by(2) {
                let quoted = quoted.trim_start_matches('%');
                assert!(text.contains(quoted), "{text:?}: {message}");
            }
        }
    }

    /// What the resolver would silently read as an address is refused,
    /// naming the address: `10:00` (a time typed after `--since`) was
    /// looked up as 0.0.0.10, port 0.
    #[test]
    fn refuses_numbers_the_resolver_reads_as_shorthand_ipv4() {
        let reads_as = |text: &str| match Endpoint::parse(text) {
            Err(EndpointError::ShorthandIpv4 { reads_as, .. }) => reads_as.to_string(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(reads_as("10:00"), "0.0.0.10");
        assert_eq!(reads_as("127.1:80"), "127.0.0.1");
        assert_eq!(reads_as("10.1.2:80"), "10.1.0.2");
        assert_eq!(reads_as("010.0.0.1:80"), "8.0.0.1");
        assert_eq!(reads_as("0x7f.1:80"), "127.0.0.1");
        assert_eq!(reads_as("2130706433:80"), "127.0.0.1");
        assert_eq!(
            Endpoint::parse("10:00").unwrap_err().to_string(),
            "'10' is no host name: the resolver reads it as the IPv4 address 0.0.0.10; write the \
             address in full (four decimal numbers, such as 0.0.0.10)"
        );
        // Names stay names; dotted numbers the resolver would refuse are
        // named as a bad address instead of reaching it.
        assert_eq!(ok("db1:5432").host, Some(Host::Name("db1".into())));
        assert_eq!(ok("0xdb.example:80").host, Some(Host::Name("0xdb.example".into())));
        for text in ["1.2.3.4.5:80", "300.1:80"] {
            assert!(matches!(Endpoint::parse(text), Err(EndpointError::BadIpv4 { .. })), "{text}");
        }
    }
}
