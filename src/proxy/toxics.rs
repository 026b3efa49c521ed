//! Toxic definitions as the API sees them: type, attributes, stream and
//! toxicity, parsed and merged with Toxiproxy's rules and turned back into
//! its JSON shape.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::error::ProxyError;
use super::wire::{Attributes, ToxicRequestWire, ToxicWire};

/// Which way a toxic acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client (the default, as in Toxiproxy).
    Downstream,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }

    /// Case-insensitive, as Toxiproxy accepts it. An empty string is no
    /// stream: Toxiproxy defaults only an absent (or `null`) `stream` to
    /// downstream, and refuses `""`.
    pub fn parse(text: &str) -> Result<Self, ProxyError> {
        match text.to_ascii_lowercase().as_str() {
            "upstream" => Ok(Stream::Upstream),
            "downstream" => Ok(Stream::Downstream),
            _ => Err(ProxyError::InvalidStream),
        }
    }
}

/// A toxic type with its attributes (integers, as Toxiproxy declares them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToxicKind {
    /// `latency` and `jitter` in milliseconds.
    Latency {
        latency: i64,
        jitter: i64,
    },
    /// `rate` in KB/s (1 KB = 1000 bytes); `<= 0` is unlimited.
    Bandwidth {
        rate: i64,
    },
    /// `delay` in milliseconds before a close goes through.
    SlowClose {
        delay: i64,
    },
    /// `timeout` in milliseconds; 0 hangs forever.
    Timeout {
        timeout: i64,
    },
    /// `timeout` in milliseconds before the reset.
    ResetPeer {
        timeout: i64,
    },
    /// Sizes in bytes, `delay` in microseconds.
    Slicer {
        average_size: i64,
        size_variation: i64,
        delay: i64,
    },
    /// `bytes` allowed before the connection closes.
    LimitData {
        bytes: i64,
    },
    Noop,
}

impl ToxicKind {
    /// The registered type names, in Toxiproxy's spelling.
    pub const TYPES: [&'static str; 8] = [
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "noop",
    ];

    /// A toxic of `type_name` with every attribute at its zero default.
    pub fn default_for(type_name: &str) -> Result<Self, ProxyError> {
        Ok(match type_name {
            "latency" => ToxicKind::Latency { latency: 0, jitter: 0 },
            "bandwidth" => ToxicKind::Bandwidth { rate: 0 },
            "slow_close" => ToxicKind::SlowClose { delay: 0 },
            "timeout" => ToxicKind::Timeout { timeout: 0 },
            "reset_peer" => ToxicKind::ResetPeer { timeout: 0 },
            "slicer" => ToxicKind::Slicer { average_size: 0, size_variation: 0, delay: 0 },
            "limit_data" => ToxicKind::LimitData { bytes: 0 },
            "noop" => ToxicKind::Noop,
            _ => return Err(ProxyError::InvalidToxicType),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Noop => "noop",
        }
    }

    /// Attribute names and mutable slots, in the order Toxiproxy prints them.
    fn slots(&mut self) -> Vec<(&'static str, &mut i64)> {
        match self {
            ToxicKind::Latency { latency, jitter } => {
                vec![("latency", latency), ("jitter", jitter)]
            }
            ToxicKind::Bandwidth { rate } => vec![("rate", rate)],
            ToxicKind::SlowClose { delay } => vec![("delay", delay)],
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                vec![("timeout", timeout)]
            }
            ToxicKind::Slicer { average_size, size_variation, delay } => vec![
                ("average_size", average_size),
                ("size_variation", size_variation),
                ("delay", delay),
            ],
            ToxicKind::LimitData { bytes } => vec![("bytes", bytes)],
            ToxicKind::Noop => Vec::new(),
        }
    }

    /// The attribute names of `type_name`, in declaration order (`None` for
    /// an unknown type). The CLI uses them to refuse misspelt attributes,
    /// which the API, like Toxiproxy's, ignores.
    pub fn attribute_names(type_name: &str) -> Option<Vec<&'static str>> {
        let mut kind = ToxicKind::default_for(type_name).ok()?;
        Some(kind.slots().into_iter().map(|(name, _)| name).collect())
    }

    /// Toxiproxy's Go struct for this type and the Go type of its
    /// attributes, which its JSON decoding errors name.
    fn go_struct(&self) -> (&'static str, &'static str) {
        match self {
            ToxicKind::Latency { .. } => ("LatencyToxic", "int64"),
            ToxicKind::Bandwidth { .. } => ("BandwidthToxic", "int64"),
            ToxicKind::SlowClose { .. } => ("SlowCloseToxic", "int64"),
            ToxicKind::Timeout { .. } => ("TimeoutToxic", "int64"),
            ToxicKind::ResetPeer { .. } => ("ResetToxic", "int64"),
            ToxicKind::Slicer { .. } => ("SlicerToxic", "int"),
            ToxicKind::LimitData { .. } => ("LimitDataToxic", "int64"),
            ToxicKind::Noop => ("NoopToxic", "int64"),
        }
    }

    /// Overwrites the attributes present in `attributes`; others keep their
    /// value (Toxiproxy decodes the JSON over the existing toxic). Unknown
    /// keys and `null` are ignored; a known key must hold an integer, and
    /// anything else is refused in the words of Go's decoder (`json: cannot
    /// unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency
    /// of type int64`). `-0` is 0, as Go reads it. The result is then
    /// checked against [`ToxicKind::validate`].
    pub fn merge(&mut self, attributes: &Map<String, Value>) -> Result<(), ProxyError> {
        let (go_struct, go_type) = self.go_struct();
        for (name, slot) in self.slots() {
            let Some(value) = attributes.get(name) else {
                continue;
            };
            let refused = |what: String| ProxyError::BadBody {
                reason: format!(
                    "json: cannot unmarshal {what} into Go struct field \
                     {go_struct}.attributes.{name} of type {go_type}"
                ),
            };
            *slot = match value {
                Value::Null => continue,
                Value::Number(number) => match number.as_i64() {
                    Some(integer) => integer,
                    // `-0` reaches here as the float -0.0 (serde_json keeps
                    // its sign); Go's `ParseInt("-0")` is 0. A written float
                    // such as `0.0` is positive and refused, as by Go.
                    None if number
                        .as_f64()
                        .is_some_and(|float| float == 0.0 && float.is_sign_negative()) =>
                    {
                        0
                    }
                    None => return Err(refused(format!("number {}", go_number(number)))),
                },
                Value::String(_) => return Err(refused("string".to_string())),
                Value::Bool(_) => return Err(refused("bool".to_string())),
                Value::Array(_) => return Err(refused("array".to_string())),
                Value::Object(_) => return Err(refused("object".to_string())),
            };
        }
        self.validate()
    }

    /// Refuses values that are meaningless: negative times, sizes and rates,
    /// and a slicer with nothing to cut to.
    ///
    /// Accepted for compatibility with Toxiproxy: `bandwidth` `rate` 0 (no
    /// limit), `timeout` 0 (hang until removed), `limit_data` `bytes` 0
    /// (close at once), and a `jitter` larger than `latency` (delays are
    /// clamped at zero).
    pub fn validate(&mut self) -> Result<(), ProxyError> {
        let (average, delay_unit) = match self {
            ToxicKind::Slicer { average_size, .. } => (*average_size, "µs"),
            _ => (0, "ms"),
        };
        for (name, value) in self.slots() {
            let (minimum, maximum, unit) = match name {
                "delay" => (0, MAX_ATTRIBUTE, delay_unit),
                "latency" | "jitter" | "timeout" => (0, MAX_ATTRIBUTE, "ms"),
                "rate" => (0, MAX_ATTRIBUTE, "KB/s"),
                "average_size" => (1, MAX_ATTRIBUTE, "bytes"),
                "size_variation" => (0, average.max(0), "bytes"),
                _ => (0, i64::MAX, "bytes"),
            };
            if !(minimum..=maximum).contains(value) {
                return Err(ProxyError::AttributeRange {
                    attribute: name,
                    value: *value,
                    minimum,
                    maximum,
                    unit,
                });
            }
        }
        Ok(())
    }

    /// The attributes in declaration order, defaults included.
    pub fn attributes(&self) -> Attributes {
        let mut copy = self.clone();
        Attributes(
            copy.slots()
                .into_iter()
                .map(|(name, value)| (name.to_string(), Value::from(*value)))
                .collect(),
        )
    }
}

/// One toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    pub name: String,
    pub kind: ToxicKind,
    pub stream: Stream,
    /// Probability that a new link uses the toxic, drawn per link.
    pub toxicity: f32,
    /// Unique per version of the toxic: links keep a fault's state while it
    /// is unchanged, and start afresh (with a new toxicity draw) after an
    /// update, as Toxiproxy restarts the toxic.
    pub revision: u64,
    /// The revision the toxic was created with, kept by its updates: a link
    /// carries state (`limit_data`'s count, the bytes a `timeout` dropped)
    /// over to the next version of the same toxic only, never to another
    /// toxic given the same name after this one was removed (a removal
    /// and an addition a link takes in at once, as after `POST /reset`).
    pub origin: u64,
}

/// Largest time, size or rate attribute accepted: Go's `int32` maximum,
/// past which Toxiproxy's own arithmetic overflows.
pub const MAX_ATTRIBUTE: i64 = i32::MAX as i64;

fn next_revision() -> u64 {
    static REVISION: AtomicU64 = AtomicU64::new(1);
    REVISION.fetch_add(1, Ordering::Relaxed)
}

impl ToxicSpec {
    /// A toxic of `kind` named `name` (default `TYPE_STREAM`, as
    /// Toxiproxy names it), its attributes validated.
    pub fn new(
        name: Option<String>,
        mut kind: ToxicKind,
        stream: Stream,
        toxicity: f64,
    ) -> Result<Self, ProxyError> {
        kind.validate()?;
        let toxicity = check_toxicity(toxicity)?;
        let name = name
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| format!("{}_{}", kind.type_name(), stream.as_str()));
        let revision = next_revision();
        Ok(ToxicSpec { name, kind, stream, toxicity, revision, origin: revision })
    }

    /// Builds a toxic from a create request (`POST /proxies/{p}/toxics`).
    pub fn from_request(body: &Value) -> Result<Self, ProxyError> {
        let ToxicRequestWire { attributes, name, stream, toxicity, r#type } = read_request(body)?;
        let stream = stream.as_deref().map_or(Ok(Stream::Downstream), Stream::parse)?;
        let mut kind = ToxicKind::default_for(r#type.as_deref().unwrap_or(""))?;
        if let Some(attributes) = &attributes {
            kind.merge(attributes)?;
        }
        Self::new(name, kind, stream, toxicity.unwrap_or(1.0))
    }

    /// Applies an update request: attributes merge, `toxicity` replaces the
    /// old value only when given; type, stream and name never change.
    ///
    /// Toxiproxy decodes an update into a struct of `attributes` and
    /// `toxicity` alone: other fields are not looked at, whatever they
    /// hold, and a mistake is named against that anonymous struct
    /// (`Go struct field .toxicity`) and, for `attributes`, the toxic's own
    /// type.
    pub fn updated(&self, body: &Value) -> Result<Self, ProxyError> {
        let read = match body.as_object() {
            Some(fields) => Value::Object(
                fields
                    .iter()
                    .filter(|(key, _)| *key == "attributes" || *key == "toxicity")
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            ),
            None => body.clone(),
        };
        let (go_struct, _) = self.kind.go_struct();
        // Exhaustive: type, stream and name were left out above.
        let ToxicRequestWire { attributes, name: _, stream: _, toxicity, r#type: _ } =
            read_request(&read).map_err(|error| match error {
                ProxyError::BadBody { reason } => ProxyError::BadBody {
                    reason: reason
                        .replace("toxics.NoopToxic", &format!("toxics.{go_struct}"))
                        .replace("Go struct field ToxicWrapper.", "Go struct field ."),
                },
                other => other,
            })?;
        let mut next = self.clone();
        if let Some(attributes) = &attributes {
            next.kind.merge(attributes)?;
        }
        if let Some(toxicity) = toxicity {
            next.toxicity = check_toxicity(toxicity)?;
        }
        next.revision = next_revision();
        Ok(next)
    }

    /// The Toxiproxy JSON shape.
    pub fn to_wire(&self) -> ToxicWire {
        ToxicWire {
            attributes: self.kind.attributes(),
            name: self.name.clone(),
            r#type: self.kind.type_name().to_string(),
            stream: self.stream.as_str().to_string(),
            toxicity: toxicity_json(self.toxicity),
        }
    }
}

/// The typed request in `body`, its type errors worded for the API.
fn read_request(body: &Value) -> Result<ToxicRequestWire, ProxyError> {
    ToxicRequestWire::from_value(body).map_err(|reason| ProxyError::BadBody { reason })
}

/// A probability: Toxiproxy would take 1.5 or -1 and act as if 1 or 0, but
/// such a value is always a mistake, so it is refused.
fn check_toxicity(toxicity: f64) -> Result<f32, ProxyError> {
    if !(0.0..=1.0).contains(&toxicity) {
        return Err(ProxyError::ToxicityRange { value: toxicity });
    }
    Ok(toxicity as f32)
}

/// A JSON number as it is usually written, as Go's decoder quotes the
/// literal: `1e30`, not serde_json's `1e+30`.
fn go_number(number: &serde_json::Number) -> String {
    number.to_string().replace("e+", "e")
}

/// Prints a float32 as Go does: `1`, `0.5`, `0.1` (not `1.0` or
/// `0.10000000149011612`).
fn toxicity_json(toxicity: f32) -> Value {
    if toxicity.fract() == 0.0 && toxicity.abs() < 1e15 {
        return Value::from(toxicity as i64);
    }
    let shortest: f64 = toxicity.to_string().parse().unwrap_or(f64::from(toxicity));
    Value::from(shortest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_fills_defaults() {
        let spec =
            ToxicSpec::from_request(&json!({"type": "slicer", "attributes": {"average_size": 10}}))
                .expect("valid");
        assert_eq!(spec.name, "slicer_downstream");
        assert_eq!(spec.toxicity, 1.0);
        let wire = serde_json::to_value(spec.to_wire()).expect("serialises");
        assert_eq!(
            wire,
            json!({"attributes": {"average_size": 10, "size_variation": 0, "delay": 0},
                   "name": "slicer_downstream", "type": "slicer", "stream": "downstream",
                   "toxicity": 1})
        );
    }

    #[test]
    fn stream_is_case_insensitive_and_validated() {
        let spec =
            ToxicSpec::from_request(&json!({"type": "noop", "stream": "UpStream"})).expect("valid");
        assert_eq!(spec.stream, Stream::Upstream);
        assert!(matches!(
            ToxicSpec::from_request(&json!({"type": "noop", "stream": "sideways"})),
            Err(ProxyError::InvalidStream)
        ));
        assert!(matches!(
            ToxicSpec::from_request(&json!({"type": "gremlin"})),
            Err(ProxyError::InvalidToxicType)
        ));
    }

    #[test]
    fn update_merges_attributes_and_keeps_toxicity() {
        let spec = ToxicSpec::from_request(
            &json!({"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 5}}),
        )
        .expect("valid");
        let next = spec.updated(&json!({"attributes": {"latency": 300}})).expect("valid");
        assert_eq!(next.kind, ToxicKind::Latency { latency: 300, jitter: 5 });
        assert_eq!(next.toxicity, 0.5);
        assert_ne!(next.revision, spec.revision);
        assert_eq!(toxicity_json(0.1), json!(0.1));
        assert!(spec.updated(&json!({"attributes": {"latency": 1.5}})).is_err());
        // Name, type and stream are not read by an update, as in Toxiproxy.
        let same = spec.updated(&json!({"name": 5, "stream": [], "type": "x"})).expect("ignored");
        assert_eq!(
            (same.name, same.stream, same.kind),
            (spec.name.clone(), spec.stream, spec.kind.clone())
        );
        let refused = |body: Value| spec.updated(&body).unwrap_err().to_string();
        assert_eq!(
            refused(json!({"toxicity": "high"})),
            "bad request body: json: cannot unmarshal string into Go struct field .toxicity of \
             type float32"
        );
        assert_eq!(
            refused(json!({"attributes": [1]})),
            "bad request body: json: cannot unmarshal array into Go struct field .attributes of \
             type toxics.LatencyToxic"
        );
    }

    #[test]
    fn attributes_decode_as_go_decodes_them_into_integers() {
        let decoded = |attributes: &str| {
            let body = format!(r#"{{"type": "latency", "attributes": {attributes}}}"#);
            let body: Value = serde_json::from_str(&body).expect("test bodies are JSON");
            match ToxicSpec::from_request(&body) {
                Ok(spec) => format!("ok {:?}", spec.kind),
                Err(error) => format!("{} {error}", error.status()),
            }
        };
        let go = |what: &str| {
            format!(
                "400 bad request body: json: cannot unmarshal {what} into Go struct field \
                 LatencyToxic.attributes.latency of type int64"
            )
        };
        for (attributes, answer) in [
            (r#"{"latency": -0}"#, "ok Latency { latency: 0, jitter: 0 }".to_string()),
            (r#"{"latency": null}"#, "ok Latency { latency: 0, jitter: 0 }".to_string()),
            (r#"{"latency": 1, "latency": 7}"#, "ok Latency { latency: 7, jitter: 0 }".to_string()),
            (r#"{"latency": 1.5}"#, go("number 1.5")),
            (r#"{"latency": 100.0}"#, go("number 100.0")),
            (r#"{"latency": 0.0}"#, go("number 0.0")),
            (r#"{"latency": 1e30}"#, go("number 1e30")),
            (r#"{"latency": 9223372036854775808}"#, go("number 9223372036854775808")),
            (r#"{"latency": "5"}"#, go("string")),
            (r#"{"latency": true}"#, go("bool")),
            (r#"{"latency": [1]}"#, go("array")),
            (r#"{"latency": {}}"#, go("object")),
        ] {
            assert_eq!(decoded(attributes), answer, "{attributes}");
        }
        let slicer = json!({"type": "slicer", "attributes": {"average_size": 0.5}});
        assert_eq!(
            ToxicSpec::from_request(&slicer).unwrap_err().to_string(),
            "bad request body: json: cannot unmarshal number 0.5 into Go struct field \
             SlicerToxic.attributes.average_size of type int"
        );
    }

    #[test]
    fn an_empty_stream_is_refused_and_a_null_one_is_downstream() {
        assert!(matches!(
            ToxicSpec::from_request(&json!({"type": "noop", "stream": ""})),
            Err(ProxyError::InvalidStream)
        ));
        let spec = ToxicSpec::from_request(&json!({"type": "noop", "stream": null}))
            .expect("null is absent");
        assert_eq!((spec.stream, spec.name.as_str()), (Stream::Downstream, "noop_downstream"));
    }

    #[test]
    fn meaningless_attributes_are_refused_with_their_range() {
        let refused = |body: serde_json::Value| {
            ToxicSpec::from_request(&body).expect_err("must be refused").to_string()
        };
        assert_eq!(
            refused(json!({"type": "latency", "attributes": {"latency": -5}})),
            "invalid attribute latency: -5 (allowed: 0 to 2147483647 ms)"
        );
        assert_eq!(
            refused(json!({"type": "latency", "attributes": {"jitter": -1}})),
            "invalid attribute jitter: -1 (allowed: 0 to 2147483647 ms)"
        );
        assert_eq!(
            refused(json!({"type": "bandwidth", "attributes": {"rate": -1}})),
            "invalid attribute rate: -1 (allowed: 0 to 2147483647 KB/s)"
        );
        assert_eq!(
            refused(json!({"type": "slicer", "attributes": {"average_size": 0}})),
            "invalid attribute average_size: 0 (allowed: 1 to 2147483647 bytes)"
        );
        assert_eq!(
            refused(json!({"type": "slicer"})),
            "invalid attribute average_size: 0 (allowed: 1 to 2147483647 bytes)"
        );
        assert_eq!(
            refused(
                json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 11}})
            ),
            "invalid attribute size_variation: 11 (allowed: 0 to 10 bytes)"
        );
        assert_eq!(
            refused(json!({"type": "noop", "toxicity": 1.5})),
            "invalid toxicity: 1.5 (allowed: 0 to 1)"
        );
        assert_eq!(
            refused(json!({"type": "latency", "attributes": {"latency": 3_000_000_000_i64}})),
            "invalid attribute latency: 3000000000 (allowed: 0 to 2147483647 ms)"
        );
        // Kept for compatibility: 0 means "no limit" or "hang".
        for body in [
            json!({"type": "bandwidth", "attributes": {"rate": 0}}),
            json!({"type": "timeout", "attributes": {"timeout": 0}}),
            json!({"type": "latency", "attributes": {"latency": 10, "jitter": 50}}),
        ] {
            assert!(ToxicSpec::from_request(&body).is_ok(), "{body}");
        }
        assert_eq!(ToxicKind::attribute_names("latency"), Some(vec!["latency", "jitter"]));
        assert_eq!(ToxicKind::attribute_names("bogus"), None);
    }
}
