//! Errors of the proxy engine, each with the HTTP status and message that
//! Toxiproxy 2.12 answers for the same condition.

/// Why an API operation on proxies or toxics failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The body is not the JSON the endpoint expects.
    #[error("bad request body: {reason}")]
    BadBody { reason: String },
    /// A required field is empty or absent (`name`, `upstream`, or with
    /// `/populate` `name at proxy 2`).
    #[error("missing required field: {field}")]
    MissingField { field: String },
    #[error("proxy not found")]
    ProxyNotFound,
    #[error("proxy already exists")]
    ProxyExists,
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("invalid toxic type")]
    InvalidToxicType,
    #[error("toxic already exists")]
    ToxicExists,
    #[error("toxic not found")]
    ToxicNotFound,
    /// The upstream is not `HOST:PORT`. Text that came with a request is
    /// quoted as it is, never with Rust's `Debug` escapes: JSON escapes it
    /// exactly and the terminal through the sanitiser.
    #[error("invalid upstream address \"{address}\": expected HOST:PORT")]
    BadUpstream { address: String },
    /// The listen address cannot be resolved or bound; worded like Go's
    /// `net.Listen` error, which clients may show: `listen tcp
    /// 127.0.0.1:3310: bind: address already in use` names the resolved
    /// address, `listen tcp: lookup nowhere: no such host` none.
    #[error("listen tcp{}: {reason}", address.as_ref().map(|address| format!(" {address}")).unwrap_or_default())]
    Listen { address: Option<String>, reason: String },
    /// The proxy would dial its own listener: every client connection would
    /// turn into an endless chain of connections until descriptors run out.
    #[error(
        "listen address {listen} is the upstream {upstream}: the proxy would connect to itself"
    )]
    Loop { listen: String, upstream: String },
    /// A toxic attribute outside the values that mean something.
    #[error("invalid attribute {attribute}: {value} (allowed: {minimum} to {maximum} {unit})")]
    AttributeRange {
        attribute: &'static str,
        value: i64,
        minimum: i64,
        maximum: i64,
        unit: &'static str,
    },
    #[error("invalid toxicity: {value} (allowed: 0 to 1)")]
    ToxicityRange { value: f64 },
    /// Two entries of one `/populate` list or config file share a name:
    /// the second would silently replace the first.
    #[error("duplicate proxy name \"{name}\" at proxy {second} (also proxy {first})")]
    DuplicateProxy { name: String, first: usize, second: usize },
    /// Two enabled entries of one `/populate` list or config file would
    /// listen on the same port of overlapping addresses.
    #[error(
        "listen address {listen} at proxy {second} is also the listen address of proxy {first}"
    )]
    ListenConflict { listen: String, first: usize, second: usize },
}

impl ProxyError {
    /// The HTTP status Toxiproxy uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::BadBody { .. }
            | ProxyError::MissingField { .. }
            | ProxyError::InvalidStream
            | ProxyError::InvalidToxicType
            | ProxyError::BadUpstream { .. }
            | ProxyError::Loop { .. }
            | ProxyError::AttributeRange { .. }
            | ProxyError::ToxicityRange { .. }
            | ProxyError::DuplicateProxy { .. }
            | ProxyError::ListenConflict { .. } => 400,
            ProxyError::ProxyNotFound | ProxyError::ToxicNotFound => 404,
            ProxyError::ProxyExists | ProxyError::ToxicExists => 409,
            ProxyError::Listen { .. } => 500,
        }
    }
}

/// An OS error as Go prints it: `bind: address already in use`, without
/// Rust's ` (os error 98)` suffix.
pub(crate) fn os_reason(operation: &str, error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(index) => &text[..index],
        None => &text,
    };
    let mut chars = text.chars();
    let lowered = match chars.next() {
        Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    };
    format!("{operation}: {lowered}")
}
