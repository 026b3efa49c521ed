//! The nftables ruleset as typed data: `nft -j list ruleset` run through
//! the [`System`] handle and deserialised into the shapes porthole reasons
//! about. `diagnose::firewall` follows a loopback SYN through it;
//! `audit::firewall` reads the input hook's policy and accepted ports.
//!
//! Only the statements that decide a verdict are typed: a match, accept,
//! drop, reject, jump, goto, return, and iptables-nft's opaque `xt`. Any
//! other statement (counter, log, …) deserialises with every field `None`,
//! and any other expression as [`NftExpression::Other`], so a ruleset using
//! features this model does not know still parses; its readers treat the
//! unknown parts as "may match".
//!
//! See: <https://manpages.debian.org/bookworm/libnftables1/libnftables-json.5.en.html>

use serde::{Deserialize, Deserializer};

use super::system::{System, COMMAND_TIMEOUT};

/// Why the ruleset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NftReadError {
    #[error("nft: not installed or could not be started")]
    Unavailable,
    #[error("nft: listing the ruleset failed (it needs root)")]
    Refused,
    #[error("nft: unreadable JSON: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Runs `nft -j list ruleset` in the calling thread's network namespace.
pub fn read(system: &dyn System) -> Result<NftRuleset, NftReadError> {
    let output = system
        .run("nft", &["-j", "list", "ruleset"], COMMAND_TIMEOUT)
        .ok_or(NftReadError::Unavailable)?;
    if !output.success {
        return Err(NftReadError::Refused);
    }
    Ok(parse(&output.stdout)?)
}

/// Parses the output of `nft -j list ruleset`.
pub fn parse(json: &[u8]) -> Result<NftRuleset, serde_json::Error> {
    serde_json::from_slice(json)
}

/// Runs `nft -a list ruleset`: the rules as people write them, with their
/// handles (empty when nft refuses).
pub fn read_listing(system: &dyn System) -> String {
    system
        .run("nft", &["-a", "list", "ruleset"], COMMAND_TIMEOUT)
        .filter(|output| output.success)
        .map(|output| output.text())
        .unwrap_or_default()
}

/// `nft -j list ruleset`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NftRuleset {
    #[serde(default)]
    pub nftables: Vec<NftItem>,
}

/// One element of the ruleset array; chains, rules, and the named sets and
/// maps rules refer to (`tcp dport @blocked`, `vmap @ports`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NftItem {
    pub chain: Option<NftChain>,
    pub rule: Option<NftRule>,
    pub set: Option<NftSet>,
    pub map: Option<NftSet>,
}

/// A named set or map: `{"family": "inet", "table": "f", "name": "blocked",
/// "elem": [8082, 9000]}`; a map's elements are `[key, value]` pairs. Kept
/// as JSON: an element may be a plain value, a range, a prefix, or an object
/// with a timeout or counter.
#[derive(Debug, Clone, Deserialize)]
pub struct NftSet {
    pub family: String,
    pub table: String,
    pub name: String,
    #[serde(default)]
    pub elem: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftChain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// `filter`, `nat`, `route` (base chains only).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `input`, `output`, … (base chains only).
    pub hook: Option<String>,
    pub prio: Option<i64>,
    /// `accept` or `drop` (base chains only).
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftRule {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    #[serde(default)]
    pub expr: Vec<NftStatement>,
}

/// A statement: a match, a verdict, or something that does not decide
/// (counter, log…), which has every field `None`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NftStatement {
    #[serde(rename = "match")]
    pub matches: Option<NftMatch>,
    #[serde(default, deserialize_with = "present")]
    pub accept: Option<Option<serde::de::IgnoredAny>>,
    #[serde(default, deserialize_with = "present")]
    pub drop: Option<Option<serde::de::IgnoredAny>>,
    #[serde(default, deserialize_with = "present")]
    pub reject: Option<Option<NftReject>>,
    pub jump: Option<NftJump>,
    pub goto: Option<NftJump>,
    #[serde(default, deserialize_with = "present", rename = "return")]
    pub return_: Option<Option<serde::de::IgnoredAny>>,
    /// An iptables extension (`xt`): its arguments are not in the JSON.
    pub xt: Option<NftXt>,
    /// `redirect [to :PORT]` (nat chains): the connection goes to a local
    /// port instead.
    #[serde(default, deserialize_with = "present")]
    pub redirect: Option<Option<NftNat>>,
    /// `dnat [ip|ip6] to ADDRESS[:PORT]` (nat chains): the connection goes
    /// to another address and port.
    #[serde(default, deserialize_with = "present")]
    pub dnat: Option<Option<NftNat>>,
    /// `tcp dport vmap { 8082 : drop, 22 : accept }` or `vmap @name`: the
    /// verdict of the entry whose key matches.
    pub vmap: Option<NftVmap>,
    /// `limit rate [over] N/unit`: matches some packets and not others,
    /// depending on how many came before.
    pub limit: Option<serde::de::IgnoredAny>,
    /// `quota [over] N bytes`: matches until (or once) the bytes are spent.
    pub quota: Option<serde::de::IgnoredAny>,
    /// `ct count [over] N`: matches by the number of connections.
    #[serde(rename = "ct count")]
    pub ct_count: Option<serde::de::IgnoredAny>,
    /// `meter` (`add @name { … limit … }`): a per-key limit.
    pub meter: Option<serde::de::IgnoredAny>,
    /// `meta mark set 0x1` (and iptables-nft's `-j MARK`): a key of the
    /// packet set to a value.
    pub mangle: Option<NftMangle>,
}

/// `KEY set VALUE`: the value is a number for a constant, an expression
/// (`mark or 0x1`) otherwise.
#[derive(Debug, Clone, Deserialize)]
pub struct NftMangle {
    pub key: NftExpression,
    pub value: serde_json::Value,
}

impl NftStatement {
    /// Whether the statement decides by what came before (a rate, a
    /// quota, a connection count) rather than by the packet itself.
    pub fn counts_traffic(&self) -> bool {
        self.limit.is_some()
            || self.quota.is_some()
            || self.ct_count.is_some()
            || self.meter.is_some()
    }
}

/// `{"vmap": {"key": EXPRESSION, "data": {"set": [[KEY, VERDICT], …]} or
/// "@name"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NftVmap {
    pub key: NftExpression,
    pub data: serde_json::Value,
}

/// The arguments of `redirect` and `dnat`: `{"addr": "127.0.0.2", "port":
/// 8000}`; either may be an expression (a range, a map), kept as JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NftNat {
    /// `ip` or `ip6` in an `inet` table (`dnat ip to …`): the rule only
    /// rewrites that family.
    pub family: Option<String>,
    pub addr: Option<serde_json::Value>,
    pub port: Option<serde_json::Value>,
}

/// `{"xt": {"type": "match", "name": "multiport"}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NftXt {
    /// `match` or `target`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

/// `{"drop": null}` must read as present: absent → `None`, `null` →
/// `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftReject {
    /// `icmp`, `icmpv6`, `icmpx`, `tcp reset`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `port-unreachable`, `admin-prohibited`…
    pub expr: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftJump {
    pub target: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftMatch {
    pub op: String,
    pub left: NftExpression,
    pub right: NftExpression,
}

/// The expression shapes the matcher understands.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NftExpression {
    Number(u64),
    Text(String),
    List(Vec<NftExpression>),
    Set { set: Vec<NftExpression> },
    Range { range: Vec<NftExpression> },
    Prefix { prefix: NftPrefix },
    Meta { meta: NftKey },
    Ct { ct: NftKey },
    Payload { payload: NftPayload },
    Other(serde::de::IgnoredAny),
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftPrefix {
    pub addr: String,
    pub len: u8,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftKey {
    pub key: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NftPayload {
    pub protocol: Option<String>,
    pub field: Option<String>,
}
