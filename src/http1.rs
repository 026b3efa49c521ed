//! HTTP/1.x response framing: the one parser of response heads and chunked
//! bodies, shared by the readiness probes (`diagnose::probe`), the audit's
//! HTTP probes (`audit::probes::http`) and the proxy API client
//! (`proxy::client`).
//!
//! Heads are parsed by `httparse` (the parser hyper uses), configured to
//! accept what real servers send (extra spaces, folded headers). Body framing
//! follows RFC 9112 §6.3: no body for 1xx, 204 and 304; chunked when the last
//! transfer coding is `chunked`; else `Content-Length`; else the body runs
//! until the peer closes. Everything is bounded: a head larger than
//! [`Limits::max_head`] or a body larger than [`Limits::max_body`] is an
//! error, never an allocation the peer chose.
//!
//! The callers differ in how strict they are, so parsing a response never
//! throws away what did arrive: [`Response::body`] holds the bytes decoded so
//! far and [`Response::body_error`] says why it stopped early. A probe reports
//! the partial body; the API client refuses it.
//!
//! See: <https://www.rfc-editor.org/rfc/rfc9112#section-7.1>

/// How many header fields (or trailer fields) a response may carry.
const MAX_FIELDS: usize = 100;

/// Upper bounds for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Status line and header fields, up to and including the empty line.
    pub max_head: usize,
    /// The decoded body (chunk framing and trailers not counted).
    pub max_body: usize,
}

impl Default for Limits {
    /// 64 KiB of head (hyper's default is 400 KiB, but no service a probe or
    /// the API client talks to needs more) and 1 MiB of body.
    fn default() -> Self {
        Limits { max_head: 64 << 10, max_body: 1 << 20 }
    }
}

/// Why a response could not be (fully) parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Http1Error {
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    #[error("the response head is larger than {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("the body ended early (truncated)")]
    Incomplete,
    #[error("malformed chunk size line")]
    ChunkSize,
    #[error("a chunk of {size} bytes exceeds the {limit}-byte body limit")]
    ChunkTooLarge { size: u64, limit: usize },
    #[error("chunk data is not followed by CRLF")]
    ChunkEnd,
    #[error("malformed trailer: {0}")]
    Trailer(httparse::Error),
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("malformed Content-Length {value:?}")]
    ContentLength { value: String },
}

/// The status line of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    pub reason: String,
}

/// A complete response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status_line: StatusLine,
    /// Names lower-cased, values trimmed (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// Bytes the head took, the empty line included: the body starts here.
    pub length: usize,
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 1xx, 204 and 304 have no body, whatever the headers say.
    Empty,
    Length(u64),
    Chunked,
    /// No framing: the body ends when the peer closes.
    UntilClose,
}

impl Head {
    /// The first value of header `name` (give it in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// How the body is delimited (RFC 9112 §6.3).
    pub fn framing(&self) -> Result<Framing, Http1Error> {
        let status = self.status_line.status;
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        // Transfer-Encoding overrides Content-Length; chunked counts only as
        // the last coding, and may be spread over several header lines.
        let codings: Vec<&str> = self
            .headers
            .iter()
            .filter(|(name, _)| name == "transfer-encoding")
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|coding| !coding.is_empty())
            .collect();
        if let Some(last) = codings.last() {
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            });
        }
        match self.header("content-length") {
            Some(value) => match value.parse::<u64>() {
                Ok(length) => Ok(Framing::Length(length)),
                Err(_) => Err(Http1Error::ContentLength { value: value.to_string() }),
            },
            None => Ok(Framing::UntilClose),
        }
    }
}

/// The parser settings for responses from servers we do not control.
fn parser() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true);
    config
}

fn fields(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|header| {
            let value = String::from_utf8_lossy(header.value).trim().to_string();
            (header.name.to_ascii_lowercase(), value)
        })
        .collect()
}

/// Parses the head at the start of `bytes`: `Ok(None)` while it is
/// incomplete.
pub fn parse_head(bytes: &[u8], limits: Limits) -> Result<Option<Head>, Http1Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut headers);
    match parser().parse_response(&mut response, bytes) {
        Ok(httparse::Status::Complete(length)) => {
            if length > limits.max_head {
                return Err(Http1Error::HeadTooLarge { limit: limits.max_head });
            }
            Ok(Some(Head {
                status_line: StatusLine {
                    minor_version: response.version.unwrap_or(1),
                    status: response.code.unwrap_or(0),
                    reason: response.reason.unwrap_or("").to_string(),
                },
                headers: fields(response.headers),
                length,
            }))
        }
        Ok(httparse::Status::Partial) if bytes.len() > limits.max_head => {
            Err(Http1Error::HeadTooLarge { limit: limits.max_head })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(error) => Err(Http1Error::Head(error)),
    }
}

/// The status line, when it has arrived whole, even if the headers have not
/// (a banner, or a head cut off by a timeout).
pub fn parse_status_line(bytes: &[u8]) -> Option<StatusLine> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut headers);
    // httparse fills in the status line before it reads header fields, so it
    // is there after `Partial` and even after a header error.
    let _ = parser().parse_response(&mut response, bytes);
    Some(StatusLine {
        minor_version: response.version?,
        status: response.code?,
        reason: response.reason?.to_string(),
    })
}

/// The end of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedEnd {
    /// Bytes of `bytes` the body took, trailers and final CRLF included.
    pub consumed: usize,
    /// Trailer fields, names lower-cased.
    pub trailers: Vec<(String, String)>,
}

/// Decodes a chunked body from `bytes` into `body`, at most `max_body`
/// bytes of it. On error `body` keeps what was decoded up to that point
/// (for [`Http1Error::Incomplete`], the part of the last chunk that came).
/// Chunk extensions are ignored, as RFC 9112 §7.1.1 allows.
pub fn decode_chunked(
    bytes: &[u8],
    max_body: usize,
    body: &mut Vec<u8>,
) -> Result<ChunkedEnd, Http1Error> {
    let mut rest = bytes;
    loop {
        let (line, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Err(Http1Error::Incomplete),
            Err(httparse::InvalidChunkSize) => return Err(Http1Error::ChunkSize),
        };
        rest = &rest[line..];
        if size == 0 {
            let mut trailers = [httparse::EMPTY_HEADER; MAX_FIELDS];
            return match httparse::parse_headers(rest, &mut trailers) {
                Ok(httparse::Status::Complete((length, trailers))) => Ok(ChunkedEnd {
                    consumed: bytes.len() - rest.len() + length,
                    trailers: fields(trailers),
                }),
                Ok(httparse::Status::Partial) => Err(Http1Error::Incomplete),
                Err(error) => Err(Http1Error::Trailer(error)),
            };
        }
        let room = max_body - body.len();
        // `size` is at most 16 hex digits: compare as u64 before converting.
        if size > room as u64 {
            return Err(Http1Error::ChunkTooLarge { size, limit: max_body });
        }
        let size = size as usize;
        if rest.len() < size {
            body.extend_from_slice(rest);
            return Err(Http1Error::Incomplete);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        match rest {
            [b'\r', b'\n', ..] => rest = &rest[2..],
            [] | [b'\r'] => return Err(Http1Error::Incomplete),
            _ => return Err(Http1Error::ChunkEnd),
        }
    }
}

/// A response as far as it has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub head: Head,
    pub framing: Framing,
    /// The body with its framing removed; possibly partial, see
    /// `body_error`.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
    /// Why `body` is not the whole body: `None` when the framing says it is
    /// complete, and always for [`Framing::UntilClose`] (only the caller
    /// knows whether the peer closed).
    pub body_error: Option<Http1Error>,
}

impl Response {
    /// The first value of header `name` (give it in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// Parses the response in `bytes`: `Ok(None)` while the head is incomplete,
/// an error when the head is not HTTP/1.x or too large.
pub fn parse_response(bytes: &[u8], limits: Limits) -> Result<Option<Response>, Http1Error> {
    let Some(head) = parse_head(bytes, limits)? else { return Ok(None) };
    let raw = &bytes[head.length..];
    let mut body = Vec::new();
    let mut trailers = Vec::new();
    let until_close = |body: &mut Vec<u8>| {
        let take = raw.len().min(limits.max_body);
        body.extend_from_slice(&raw[..take]);
        (raw.len() > take).then_some(Http1Error::BodyTooLarge { limit: limits.max_body })
    };
    let (framing, body_error) = match head.framing() {
        // A bad Content-Length leaves only the close to end the body.
        Err(error) => {
            until_close(&mut body);
            (Framing::UntilClose, Some(error))
        }
        Ok(framing @ Framing::Empty) => (framing, None),
        Ok(framing @ Framing::Length(length)) => {
            let wanted = usize::try_from(length).unwrap_or(usize::MAX);
            let take = raw.len().min(wanted).min(limits.max_body);
            body.extend_from_slice(&raw[..take]);
            let error = if wanted > limits.max_body {
                Some(Http1Error::BodyTooLarge { limit: limits.max_body })
            } else if raw.len() < wanted {
                Some(Http1Error::Incomplete)
            } else {
                None
            };
            (framing, error)
        }
        Ok(framing @ Framing::Chunked) => match decode_chunked(raw, limits.max_body, &mut body) {
            Ok(end) => {
                trailers = end.trailers;
                (framing, None)
            }
            Err(error) => (framing, Some(error)),
        },
        Ok(framing @ Framing::UntilClose) => (framing, until_close(&mut body)),
    };
    Ok(Some(Response { head, framing, body, trailers, body_error }))
}

/// Whether `bytes` hold a whole response by its own framing, so a reader
/// can stop without waiting for the peer to close. A body that can never
/// complete (malformed chunks, over the limit) counts as done too: more
/// bytes would not help. A close-delimited body is never complete here.
pub fn is_complete(bytes: &[u8], limits: Limits) -> bool {
    match parse_response(bytes, limits) {
        Ok(Some(response)) => match response.body_error {
            None => response.framing != Framing::UntilClose,
            Some(Http1Error::Incomplete) => false,
            Some(_) => true,
        },
        Ok(None) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_head: 1024, max_body: 64 };

    fn decode(bytes: &[u8]) -> (Vec<u8>, Result<ChunkedEnd, Http1Error>) {
        let mut body = Vec::new();
        let result = decode_chunked(bytes, LIMITS.max_body, &mut body);
        (body, result)
    }

    #[test]
    #[rustfmt::skip]
    fn chunked_golden_bytes() {
        let wire: &[u8] = b"\
            4\r\n\
            Wiki\r\n\
            7;name=value;flag\r\n\
            pedia i\r\n\
            B  ; ext=\"quoted;\"\r\n\
            n \r\nchunks.\r\n\
            0\r\n\
            Expires: never\r\n\
            X-Checksum:  abc \r\n\
            \r\n\
            next response";
        let (body, end) = decode(wire);
        assert_eq!(body, b"Wikipedia in \r\nchunks.");
        let end = end.expect("complete");
        // Everything up to the empty line after the trailers, not the bytes
        // of whatever follows on the connection.
        assert_eq!(&wire[end.consumed..], b"next response");
        assert_eq!(
            end.trailers,
            vec![("expires".into(), "never".into()), ("x-checksum".into(), "abc".into())]
        );
    }

    #[test]
    fn chunked_without_trailers_and_in_upper_case_hex() {
        let (body, end) = decode(b"A\r\n0123456789\r\n0\r\n\r\n");
        assert_eq!(body, b"0123456789");
        assert_eq!(end, Ok(ChunkedEnd { consumed: 20, trailers: Vec::new() }));
    }

    #[test]
    fn truncated_chunked_bodies_keep_what_arrived() {
        for (wire, decoded) in [
            (&b""[..], &b""[..]),
            (b"5", b""),
            (b"5\r", b""),
            (b"5\r\nhel", b"hel"),
            (b"5\r\nhello", b"hello"),
            (b"5\r\nhello\r", b"hello"),
            (b"5\r\nhello\r\n", b"hello"),
            (b"5\r\nhello\r\n0\r\n", b"hello"),
            (b"5\r\nhello\r\n0\r\nTrailer: x\r\n", b"hello"),
        ] {
            let (body, end) = decode(wire);
            assert_eq!(end, Err(Http1Error::Incomplete), "{:?}", String::from_utf8_lossy(wire));
            assert_eq!(body, decoded, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn bad_chunk_framing_is_an_error() {
        assert_eq!(decode(b"xyz\r\nabc\r\n0\r\n\r\n").1, Err(Http1Error::ChunkSize));
        assert_eq!(decode(b"-1\r\n").1, Err(Http1Error::ChunkSize));
        assert_eq!(decode(b"3\nabc\r\n").1, Err(Http1Error::ChunkSize));
        // 17 hex digits do not fit in 64 bits.
        assert_eq!(decode(b"10000000000000000\r\n").1, Err(Http1Error::ChunkSize));
        let (body, end) = decode(b"3\r\nabcdef\r\n");
        assert_eq!(end, Err(Http1Error::ChunkEnd));
        assert_eq!(body, b"abc");
        assert!(matches!(decode(b"0\r\nbad trailer\r\n\r\n").1, Err(Http1Error::Trailer(_))));
    }

    #[test]
    fn oversized_chunks_are_refused_before_reading_them() {
        assert_eq!(
            decode(b"ffffffffffffffff\r\n").1,
            Err(Http1Error::ChunkTooLarge { size: u64::MAX, limit: 64 })
        );
        // The limit is on the whole body, not per chunk.
        let mut wire = b"20\r\n".to_vec();
        wire.extend_from_slice(&[b'a'; 32]);
        wire.extend_from_slice(b"\r\n21\r\n");
        let (body, end) = decode(&wire);
        assert_eq!(end, Err(Http1Error::ChunkTooLarge { size: 33, limit: 64 }));
        assert_eq!(body.len(), 32);
    }

    #[test]
    fn heads_are_parsed_leniently_and_bounded() {
        let head = parse_head(
            b"HTTP/1.0  200  OK\r\nContent-Type : text/plain\r\nX-Folded: a\r\n b\r\n\r\nbody",
            LIMITS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status_line.status, 200);
        assert_eq!(head.status_line.reason, "OK");
        assert_eq!(head.status_line.minor_version, 0);
        assert_eq!(head.header("content-type"), Some("text/plain"));
        assert_eq!(
            head.length,
            b"HTTP/1.0  200  OK\r\nContent-Type : text/plain\r\nX-Folded: a\r\n b\r\n\r\n".len()
        );
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n", LIMITS), Ok(None));
        assert!(matches!(
            parse_head(b"-ERR unknown command\r\n", LIMITS),
            Err(Http1Error::Head(_))
        ));
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(2000));
        assert_eq!(
            parse_head(long.as_bytes(), LIMITS),
            Err(Http1Error::HeadTooLarge { limit: 1024 })
        );
        let status = parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\nRetry-").unwrap();
        assert_eq!((status.status, status.reason.as_str()), (503, "Service Unavailable"));
        assert_eq!(parse_status_line(b"HTTP/1.1 50"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing =
            |head: &str| parse_response(head.as_bytes(), LIMITS).unwrap().unwrap().framing;
        assert_eq!(framing("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"), Framing::Empty);
        assert_eq!(framing("HTTP/1.1 101 Switching Protocols\r\n\r\n"), Framing::Empty);
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
            ),
            Framing::Chunked
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            Framing::UntilClose
        );
        assert_eq!(framing("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"), Framing::Length(3));
        assert_eq!(framing("HTTP/1.0 200 OK\r\n\r\n"), Framing::UntilClose);
    }

    #[test]
    fn responses_and_completeness() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let response = parse_response(wire, LIMITS).unwrap().unwrap();
        assert_eq!(response.body, b"abcde");
        assert_eq!(response.body_error, None);
        assert!(is_complete(wire, LIMITS));
        // A body that merely contains the last-chunk bytes is not the end.
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n0\r\n\r\n";
        assert!(!is_complete(wire, LIMITS));

        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc";
        let response = parse_response(wire, LIMITS).unwrap().unwrap();
        assert_eq!(
            (response.body.as_slice(), response.body_error),
            (&b"abc"[..], Some(Http1Error::Incomplete))
        );
        assert!(!is_complete(wire, LIMITS));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcdeXX", LIMITS));
        assert!(!is_complete(b"HTTP/1.0 200 OK\r\n\r\nbody until eof", LIMITS));
        assert!(is_complete(b"HTTP/1.1 304 Not Modified\r\n\r\n", LIMITS));

        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
        let response = parse_response(wire, LIMITS).unwrap().unwrap();
        assert_eq!(response.body_error, Some(Http1Error::BodyTooLarge { limit: 64 }));
        assert!(is_complete(wire, LIMITS), "a body over the limit cannot complete");
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc";
        let response = parse_response(wire, LIMITS).unwrap().unwrap();
        assert_eq!(response.body, b"abc");
        assert_eq!(response.body_error, Some(Http1Error::ContentLength { value: "x".into() }));
    }
}
