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
}
