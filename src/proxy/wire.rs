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
    /// Reads a request body already parsed as JSON. Errors name the field
    /// and what it held: `field toxicity must be a number, got "high"`.
    pub fn from_value(body: &Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err("expected a JSON object".to_string());
        }
        Self::deserialize(body).map_err(|error| error.to_string())
    }
}

/// The body of `POST /proxies` (create) and `POST /proxies/{proxy}`
/// (update) as the client sends it; alphabetical like
/// [`ToxicRequestWire`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProxyRequestWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<&'a str>,
}

/// Field readers of [`ToxicRequestWire`] that accept `null` as absent and
/// word a wrong type as the API always has.
mod fields {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::{Map, Value};

    fn read<'de, D, T>(
        deserializer: D,
        field: &str,
        expected: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
    {
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(None),
            value => convert(&value).map(Some).ok_or_else(|| {
                D::Error::custom(format!("field {field} must be {expected}, got {value}"))
            }),
        }
    }

    fn text<'de, D: Deserializer<'de>>(
        deserializer: D,
        field: &str,
    ) -> Result<Option<String>, D::Error> {
        read(deserializer, field, "a string", |value| value.as_str().map(str::to_string))
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
        read(deserializer, "toxicity", "a number", Value::as_f64)
    }

    pub(super) fn attributes<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Map<String, Value>>, D::Error> {
        read(deserializer, "attributes", "an object", |value| value.as_object().cloned())
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
        assert_eq!(refused(serde_json::json!({"name": 5})), "field name must be a string, got 5");
        assert_eq!(
            refused(serde_json::json!({"toxicity": "high"})),
            r#"field toxicity must be a number, got "high""#
        );
        assert_eq!(
            refused(serde_json::json!({"attributes": [1]})),
            "field attributes must be an object, got [1]"
        );
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
            enabled: Some(true),
            listen: Some("127.0.0.1:0"),
            name: Some("pg"),
            upstream: Some("127.0.0.1:5432"),
        };
        assert_eq!(
            serde_json::to_string(&create).unwrap(),
            r#"{"enabled":true,"listen":"127.0.0.1:0","name":"pg","upstream":"127.0.0.1:5432"}"#
        );
    }
}
