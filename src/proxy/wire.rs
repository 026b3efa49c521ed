//! The Toxiproxy 2.12 JSON shapes, shared by the API server and the client
//! so both ends agree on field names and order.
//!
//! Field order is Go's struct order, since some clients compare response
//! text: a proxy is `name, listen, upstream, enabled, Logger, toxics` and a
//! toxic `attributes, name, type, stream, toxicity`, with attributes in the
//! order the toxic type declares them (`average_size, size_variation,
//! delay`), not sorted.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A proxy as `GET /proxies/{name}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyWire {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    /// Toxiproxy 2.12 serialises its proxy's logger, an exported field with
    /// no JSON tag and no public fields, as `"Logger":{}`. Kept so responses
    /// match byte for byte; never read.
    #[serde(rename = "Logger", default)]
    pub logger: Map<String, Value>,
    #[serde(default)]
    pub toxics: Vec<ToxicWire>,
}

/// A toxic as `GET /proxies/{name}/toxics/{toxic}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicWire {
    #[serde(default)]
    pub attributes: Attributes,
    pub name: String,
    pub r#type: String,
    pub stream: String,
    pub toxicity: Value,
}

/// A toxic as `POST /proxies/{proxy}/toxics` creates it and `POST
/// /proxies/{proxy}/toxics/{toxic}` updates it. Every field may be left out
/// or `null` (Go's decoder treats both alike): a create fills in defaults,
/// an update keeps the current values.
///
/// Fields are in alphabetical order, the order a `serde_json::Map` writes,
/// so the client's request bytes are those it always sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToxicRequestWire {
    /// Attribute names and integer values. Kept open: names a type does not
    /// declare are ignored, as Toxiproxy ignores them.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::attributes"
    )]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "fields::name")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "fields::stream")]
    pub stream: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::toxicity"
    )]
    pub toxicity: Option<f64>,
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields::kind"
    )]
    pub r#type: Option<String>,
}

impl ToxicRequestWire {
    /// Reads a request body already parsed as JSON. A field of the wrong
    /// type is refused in the words of Go's decoder as Toxiproxy's create
    /// handler meets it: `json: cannot unmarshal string into Go struct field
    /// ToxicWrapper.toxicity of type float32`.
    pub fn from_value(body: &Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err("expected a JSON object".to_string());
        }
        Self::deserialize(body).map_err(|error| error.to_string())
    }
}

/// The body of `POST /proxies` (create), of `POST`/`PATCH /proxies/{proxy}`
/// (update), and one entry of a `/populate` body or config file. Fields are
/// alphabetical like [`ToxicRequestWire`], so the client's request bytes are
/// those it always sent.
///
/// Every field is a [`Field`]: a value of the wrong type does not fail the
/// decoding but is kept, and the server checks the fields in one fixed order
/// (`name`, `upstream`, `listen`, then what is missing, then `enabled`,
/// `toxics`), so a body with several mistakes always gets the same answer
/// whatever order its keys came in. Unknown keys are ignored, as Toxiproxy
/// ignores them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyRequestWire {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub enabled: Field<bool>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub listen: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub name: Field<String>,
    /// Toxics to install at creation (a porthole extension for config files
    /// and `/populate`). Each entry is read by [`ToxicRequestWire::from_value`]
    /// when the toxic is built, so a toxic here is held to the same rules and
    /// messages as one sent to `POST /proxies/{proxy}/toxics`.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub toxics: Field<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub upstream: Field<String>,
}

impl ProxyRequestWire {
    /// Reads a request body already parsed as JSON; only a body that is not
    /// an object is refused here (`expected a JSON object, got an array`),
    /// the fields are judged by whoever uses them.
    pub fn from_value(body: &Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err(format!("expected a JSON object, got {}", kind_of(body)));
        }
        Self::deserialize(body).map_err(|error| error.to_string())
    }
}

/// One field of a request body as the client sent it. Go's decoder treats
/// `null` as absent, so does this.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// Left out or `null`.
    #[default]
    Absent,
    Given(T),
    /// Present with another JSON type; kept for the error message.
    Mistyped(Value),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value if one of the right type was given; a mistyped one is
    /// handed back for the caller to word the error.
    pub fn into_option(self) -> Result<Option<T>, Value> {
        match self {
            Field::Absent => Ok(None),
            Field::Given(value) => Ok(Some(value)),
            Field::Mistyped(value) => Err(value),
        }
    }
}

impl<T> From<T> for Field<T> {
    fn from(value: T) -> Self {
        Field::Given(value)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent => serializer.serialize_none(),
            Field::Given(value) => value.serialize(serializer),
            Field::Mistyped(value) => value.serialize(serializer),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Field::Absent,
            value => match T::deserialize(&value) {
                Ok(typed) => Field::Given(typed),
                Err(_) => Field::Mistyped(value),
            },
        })
    }
}

/// The body of `POST /populate` and the content of a config file: a bare
/// array of proxies (Toxiproxy's input) or `{"proxies": [...]}` (its output
/// shape, which some tools send back). The entries stay JSON values so that
/// each is judged by [`ProxyRequestWire::from_value`] and an error can name
/// its position.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PopulateRequestWire {
    Bare(Vec<Value>),
    Wrapped { proxies: Vec<Value> },
}

impl PopulateRequestWire {
    /// The proxy entries of `body`, or why it holds none: `expected an
    /// array of proxies` for an object without a `proxies` array, `…, got a
    /// number` for anything else.
    pub fn proxies(body: Value) -> Result<Vec<Value>, String> {
        match Self::deserialize(&body) {
            Ok(
                PopulateRequestWire::Bare(items) | PopulateRequestWire::Wrapped { proxies: items },
            ) => Ok(items),
            Err(_) if body.is_object() => Err("expected an array of proxies".to_string()),
            Err(_) => Err(format!("expected an array of proxies, got {}", kind_of(&body))),
        }
    }
}

/// JSON text as Go's decoder reads it: every byte that is not part of valid
/// UTF-8 stands for U+FFFD, one each, so a name sent in Latin-1 is taken
/// (with replacement characters) as Toxiproxy takes it, not refused.
pub fn go_json_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let mut rest = bytes;
    let mut text = match std::str::from_utf8(rest) {
        Ok(valid) => return std::borrow::Cow::Borrowed(valid),
        Err(_) => String::with_capacity(bytes.len() + 8),
    };
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                return std::borrow::Cow::Owned(text);
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                // Checked by `from_utf8` just now.
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                // Go's `utf8.DecodeRune` takes one byte of an invalid
                // sequence at a time; a sequence cut off by the end is
                // invalid too.
                let invalid = error.error_len().unwrap_or(after.len());
                text.extend(std::iter::repeat_n('\u{fffd}', invalid));
                rest = &after[invalid..];
            }
        }
    }
}

/// A JSON type name for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field readers of [`ToxicRequestWire`] that accept `null` as absent, as
/// Go does, and word a wrong type as Go's decoder does when Toxiproxy
/// decodes a toxic into its `ToxicWrapper` (whose `attributes` then hold a
/// `toxics.NoopToxic`, before the type is known).
mod fields {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::{Map, Value};

    fn read<'de, D, T>(
        deserializer: D,
        field: &str,
        go_type: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
    {
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(None),
            value => convert(&value).map(Some).ok_or_else(|| {
                D::Error::custom(format!(
                    "json: cannot unmarshal {} into Go struct field ToxicWrapper.{field} of type \
                     {go_type}",
                    go_kind(&value)
                ))
            }),
        }
    }

    /// What Go's decoder calls a JSON value of the wrong type (a number
    /// only ever is one where a string or an object was expected, so
    /// without its literal).
    fn go_kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    fn text<'de, D: Deserializer<'de>>(
        deserializer: D,
        field: &str,
    ) -> Result<Option<String>, D::Error> {
        read(deserializer, field, "string", |value| value.as_str().map(str::to_string))
    }

    pub(super) fn name<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        text(deserializer, "name")
    }

    pub(super) fn stream<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        text(deserializer, "stream")
    }

    pub(super) fn kind<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        text(deserializer, "type")
    }

    pub(super) fn toxicity<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        read(deserializer, "toxicity", "float32", Value::as_f64)
    }

    pub(super) fn attributes<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Map<String, Value>>, D::Error> {
        read(deserializer, "attributes", "toxics.NoopToxic", |value| value.as_object().cloned())
    }
}

/// The `/populate` response (an object, not a bare array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulateWire {
    pub proxies: Vec<ProxyWire>,
}

/// A toxic's attributes in declaration order (a JSON object on the wire).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub Vec<(String, Value)>);

impl Attributes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Attributes;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object of toxic attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Attributes(entries))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_their_order_both_ways() {
        let text = r#"{"attributes":{"average_size":10,"size_variation":2,"delay":0},"name":"s","type":"slicer","stream":"downstream","toxicity":1}"#;
        let toxic: ToxicWire = serde_json::from_str(text).expect("valid");
        assert_eq!(toxic.attributes.get("delay"), Some(&Value::from(0)));
        assert_eq!(serde_json::to_string(&toxic).expect("serialises"), text);
    }

    #[test]
    fn toxic_requests_read_null_as_absent_and_name_bad_fields() {
        let body = serde_json::json!({"type": "latency", "name": null, "toxicity": 0.5,
                                      "attributes": {"latency": 5}, "extra": [1]});
        let request = ToxicRequestWire::from_value(&body).expect("valid");
        assert_eq!(request.r#type.as_deref(), Some("latency"));
        assert_eq!(request.name, None);
        assert_eq!(request.toxicity, Some(0.5));
        assert_eq!(request.attributes.expect("given")["latency"], 5);
        let refused = |body: Value| ToxicRequestWire::from_value(&body).unwrap_err();
        assert_eq!(refused(serde_json::json!([])), "expected a JSON object");
        let go = |what: &str, field: &str, go_type: &str| {
            format!("json: cannot unmarshal {what} into Go struct field ToxicWrapper.{field} of type {go_type}")
        };
        assert_eq!(refused(serde_json::json!({"name": 5})), go("number", "name", "string"));
        assert_eq!(refused(serde_json::json!({"stream": true})), go("bool", "stream", "string"));
        assert_eq!(
            refused(serde_json::json!({"toxicity": "high"})),
            go("string", "toxicity", "float32")
        );
        assert_eq!(
            refused(serde_json::json!({"attributes": [1]})),
            go("array", "attributes", "toxics.NoopToxic")
        );
    }

    #[test]
    fn invalid_utf8_reads_as_go_reads_it() {
        assert_eq!(go_json_text(b"plain"), "plain");
        assert_eq!(go_json_text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(go_json_text(b"\xe2\x82x"), "\u{fffd}\u{fffd}x");
        assert_eq!(go_json_text(b"caf\xe9 \xe2\x82\xac"), "caf\u{fffd} \u{20ac}");
        assert_eq!(go_json_text(b"end\xe2"), "end\u{fffd}");
    }

    #[test]
    fn populate_bodies_are_an_array_or_an_object_holding_one() {
        let proxies = |body: Value| PopulateRequestWire::proxies(body);
        let one = serde_json::json!({"name": "a"});
        assert_eq!(proxies(serde_json::json!([one])), Ok(vec![one.clone()]));
        assert_eq!(proxies(serde_json::json!({"proxies": [one], "x": 1})), Ok(vec![one]));
        assert_eq!(
            proxies(serde_json::json!({"proxies": 5})).unwrap_err(),
            "expected an array of proxies"
        );
        assert_eq!(proxies(serde_json::json!({})).unwrap_err(), "expected an array of proxies");
        assert_eq!(
            proxies(serde_json::json!("x")).unwrap_err(),
            "expected an array of proxies, got a string"
        );
        assert_eq!(proxies(Value::Null).unwrap_err(), "expected an array of proxies, got null");
    }

    #[test]
    fn proxy_fields_keep_a_value_of_the_wrong_type() {
        let body = serde_json::json!({"enabled": "yes", "name": null, "listen": "x:1"});
        let request = ProxyRequestWire::from_value(&body).expect("an object");
        assert_eq!(request.enabled, Field::Mistyped(Value::from("yes")));
        assert_eq!(request.name, Field::Absent);
        assert_eq!(request.listen, Field::Given("x:1".to_string()));
        assert_eq!(request.upstream, Field::Absent);
        assert_eq!(
            ProxyRequestWire::from_value(&serde_json::json!([])).unwrap_err(),
            "expected a JSON object, got an array"
        );
        let update = ProxyRequestWire { enabled: false.into(), ..ProxyRequestWire::default() };
        assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"enabled":false}"#);
    }

    #[test]
    fn client_requests_keep_their_bytes() {
        let request = ToxicRequestWire {
            attributes: Some(
                serde_json::json!({"jitter": 10, "latency": 100}).as_object().cloned().unwrap(),
            ),
            name: None,
            stream: Some("downstream".into()),
            toxicity: Some(f64::from(0.5_f32)),
            r#type: Some("latency".into()),
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"attributes":{"jitter":10,"latency":100},"stream":"downstream","toxicity":0.5,"type":"latency"}"#
        );
        let create = ProxyRequestWire {
            enabled: true.into(),
            listen: "127.0.0.1:0".to_string().into(),
            name: "pg".to_string().into(),
            toxics: Field::Absent,
            upstream: "127.0.0.1:5432".to_string().into(),
        };
        assert_eq!(
            serde_json::to_string(&create).unwrap(),
            r#"{"enabled":true,"listen":"127.0.0.1:0","name":"pg","upstream":"127.0.0.1:5432"}"#
        );
    }
}
