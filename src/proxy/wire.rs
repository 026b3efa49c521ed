//! The Toxiproxy 2.12 JSON shapes, shared by the API server and the client
//! so both ends agree on field names and order.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A proxy as `GET /proxies/{name}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyWire {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<ToxicWire>,
}

/// A toxic as `GET /proxies/{name}/toxics/{toxic}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicWire {
    #[serde(default)]
    pub attributes: Map<String, Value>,
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
