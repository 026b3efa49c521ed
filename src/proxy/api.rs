//! The Toxiproxy 2.12 HTTP API on hyper: routing, request decoding, and
//! Toxiproxy's status codes, bodies and content types.
//!
//! Request `Content-Type` is ignored and bodies are always read as JSON, as
//! Toxiproxy does. Errors are `{"error": "...", "status": N}` written the
//! way Go's `http.Error` writes them (`text/plain`), except for `/populate`
//! whose errors also carry the proxies created before the failure.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ProxyError;
use super::host::HostPolicy;
use super::metrics;
use super::registry::{ProxyPatch, ProxyRequest, Registry};
use super::wire::PopulateWire;

/// The Toxiproxy version whose API this server implements; clients print
/// or compare it.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// Request bodies larger than this are refused; real ones are a few
/// hundred bytes.
const MAX_BODY: usize = 1 << 20;

const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// What the API handlers share.
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub hosts: HostPolicy,
}

type Reply = Response<Full<Bytes>>;

/// Answers one request; never fails (errors become error responses).
pub async fn handle(state: &ApiState, request: Request<Incoming>) -> Result<Reply, Infallible> {
    let user_agent =
        request.headers().get(USER_AGENT).and_then(|value| value.to_str().ok()).unwrap_or("");
    // Toxiproxy's CSRF protection: browsers are refused outright.
    if user_agent.starts_with("Mozilla/") {
        return Ok(reply(StatusCode::FORBIDDEN, TEXT, "User agent not allowed\n".into()));
    }
    let host = request.headers().get(HOST).map(|value| value.to_str().unwrap_or("\u{fffd}"));
    if !state.hosts.allows(host) {
        return Ok(error_reply(403, "host not allowed"));
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Ok(error_reply(400, &format!("bad request body: {error}")));
        }
    };
    let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(route(state, &method, &segments, &body).await)
}

async fn route(state: &ApiState, method: &Method, segments: &[&str], body: &[u8]) -> Reply {
    let registry = &state.registry;
    let is_update = *method == Method::POST || *method == Method::PATCH;
    match segments {
        ["version"] if *method == Method::GET => json_reply(
            200,
            &json!({"version": TOXIPROXY_VERSION, "porthole": env!("CARGO_PKG_VERSION")}),
        ),
        ["proxies"] if *method == Method::GET => json_reply(200, &registry.list().await),
        ["proxies"] if *method == Method::POST => {
            let request = match decode(body).and_then(|value| ProxyRequest::from_json(&value, None))
            {
                Ok(request) => request,
                Err(error) => return proxy_error(&error),
            };
            respond(201, registry.create(request).await)
        }
        ["populate"] if *method == Method::POST => populate(registry, body).await,
        ["reset"] if *method == Method::POST => match registry.reset().await {
            Ok(()) => reply(StatusCode::NO_CONTENT, TEXT, Bytes::new()),
            Err(error) => proxy_error(&error),
        },
        ["metrics"] if *method == Method::GET => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&registry.metrics().await).into(),
        ),
        ["proxies", name] if *method == Method::GET => respond(200, registry.get(name).await),
        ["proxies", name] if is_update => {
            match decode(body).and_then(|value| ProxyPatch::from_json(&value)) {
                Ok(patch) => respond(200, registry.update(name, patch).await),
                Err(error) => proxy_error(&error),
            }
        }
        ["proxies", name] if *method == Method::DELETE => empty(registry.delete(name).await),
        ["proxies", name, "toxics"] if *method == Method::GET => {
            respond(200, registry.toxics(name).await)
        }
        ["proxies", name, "toxics"] if *method == Method::POST => match decode(body) {
            // Toxiproxy answers 200 here, not 201.
            Ok(value) => respond(200, registry.add_toxic(name, &value).await),
            Err(error) => proxy_error(&error),
        },
        ["proxies", name, "toxics", toxic] if *method == Method::GET => {
            respond(200, registry.toxic(name, toxic).await)
        }
        ["proxies", name, "toxics", toxic] if is_update => match decode(body) {
            Ok(value) => respond(200, registry.update_toxic(name, toxic, &value).await),
            Err(error) => proxy_error(&error),
        },
        ["proxies", name, "toxics", toxic] if *method == Method::DELETE => {
            empty(registry.remove_toxic(name, toxic).await)
        }
        ["version"]
        | ["proxies"]
        | ["populate"]
        | ["reset"]
        | ["metrics"]
        | ["proxies", _]
        | ["proxies", _, "toxics"]
        | ["proxies", _, "toxics", _] => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, Bytes::new()),
        _ => reply(StatusCode::NOT_FOUND, TEXT, "404 page not found\n".into()),
    }
}

/// `POST /populate`: a bare array of proxies (Toxiproxy's input) or
/// `{"proxies": [...]}` (its output shape, which some tools send back).
async fn populate(registry: &Registry, body: &[u8]) -> Reply {
    let parsed = decode(body).and_then(|value| {
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut object) => match object.remove("proxies") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(ProxyError::BadBody {
                        reason: "expected an array of proxies".to_string(),
                    })
                }
            },
            other => {
                return Err(ProxyError::BadBody {
                    reason: format!(
                        "expected an array of proxies, got {}",
                        super::registry::kind_of(&other)
                    ),
                })
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| ProxyRequest::from_json(item, Some(index + 1)))
            .collect::<Result<Vec<_>, _>>()
    });
    let requests = match parsed {
        Ok(requests) => requests,
        Err(error) => return populate_error(&error, &Value::Null),
    };
    match registry.populate(requests).await {
        Ok(proxies) => json_reply(201, &PopulateWire { proxies }),
        Err(failure) => {
            let proxies = serde_json::to_value(&failure.proxies).unwrap_or(Value::Null);
            populate_error(&failure.error, &proxies)
        }
    }
}

fn populate_error(error: &ProxyError, proxies: &Value) -> Reply {
    let status = error.status();
    let body = json!({"error": error.to_string(), "status": status, "proxies": proxies});
    let mut text = body.to_string();
    text.push('\n');
    reply(code(status), JSON, text.into())
}

/// Parses a request body as JSON; an empty body reads as Go's `EOF`.
fn decode(body: &[u8]) -> Result<Value, ProxyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ProxyError::BadBody { reason: "EOF".to_string() });
    }
    serde_json::from_slice(body).map_err(|error| ProxyError::BadBody { reason: error.to_string() })
}

fn respond<T: Serialize>(status: u16, result: Result<T, ProxyError>) -> Reply {
    match result {
        Ok(value) => json_reply(status, &value),
        Err(error) => proxy_error(&error),
    }
}

fn empty(result: Result<(), ProxyError>) -> Reply {
    match result {
        Ok(()) => reply(StatusCode::NO_CONTENT, TEXT, Bytes::new()),
        Err(error) => proxy_error(&error),
    }
}

fn proxy_error(error: &ProxyError) -> Reply {
    error_reply(error.status(), &error.to_string())
}

fn error_reply(status: u16, message: &str) -> Reply {
    let mut text = json!({"error": message, "status": status}).to_string();
    text.push('\n');
    reply(code(status), TEXT, text.into())
}

fn json_reply<T: Serialize>(status: u16, value: &T) -> Reply {
    match serde_json::to_string(value) {
        Ok(mut text) => {
            text.push('\n');
            reply(code(status), JSON, text.into())
        }
        Err(error) => error_reply(500, &error.to_string()),
    }
}

fn code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Decodes `%XX` escapes in a path segment (proxy names may contain any
/// character a client chooses to escape).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
            if let Some(value) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%2"), "end%2");
        assert_eq!(percent_decode("%41"), "A");
    }
}
