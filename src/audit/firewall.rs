//! The host firewall's input chain, read just far enough to say whether a
//! packet from another device to a port would get in: the input hook's
//! policy, and the TCP/UDP destination ports its rules accept.
//!
//! nftables is read as JSON (`nft -j list ruleset`); without it,
//! `iptables-save -t filter`. Both need root; unprivileged runs report
//! "unknown". The reading is an approximation (no interface, source or
//! conntrack matching), so findings say "likely".

use std::time::Duration;

use crate::inventory::system::System;

use crate::model::FirewallSummary;

/// What the input chain would do with a new connection to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Policy accept and no drop rule for the port, or an accept rule.
    Admitted,
    /// Policy drop/reject and no rule accepting the port.
    Blocked,
    /// The ruleset could not be read.
    Unknown,
}

/// The parts of the input chain this module understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputChain {
    pub source: Option<&'static str>,
    /// `accept` or `drop` (iptables `DROP`/`REJECT` normalised to `drop`).
    pub policy: Option<String>,
    /// Destination ports explicitly accepted, as inclusive ranges.
    pub accepted: Vec<(u16, u16)>,
    /// Destination ports explicitly dropped or rejected.
    pub dropped: Vec<(u16, u16)>,
    pub note: Option<String>,
}

impl InputChain {
    /// Reads the ruleset of the current network namespace of `system`.
    pub fn read(system: &dyn System) -> Self {
        match run(system, "nft", &["-j", "list", "ruleset"]) {
            Ok(text) => match parse_nft(&text) {
                Some(chain) if chain.policy.is_some() => return chain,
                _ => {}
            },
            Err(note) => {
                if let Ok(text) = run(system, "iptables-save", &["-t", "filter"]) {
                    return parse_iptables(&text);
                }
                return InputChain { note: Some(note), ..InputChain::default() };
            }
        }
        // nft works but has no input hook: iptables-legacy may still filter.
        match run(system, "iptables-save", &["-t", "filter"]) {
            Ok(text) if text.contains(":INPUT") => parse_iptables(&text),
            _ => InputChain {
                source: Some("nftables"),
                policy: Some("accept".into()),
                note: Some("no input hook: nothing filters incoming connections".into()),
                ..InputChain::default()
            },
        }
    }

    pub fn verdict(&self, port: u16) -> Verdict {
        let Some(policy) = &self.policy else { return Verdict::Unknown };
        let within = |ranges: &[(u16, u16)]| ranges.iter().any(|&(a, b)| (a..=b).contains(&port));
        if policy == "accept" {
            if within(&self.dropped) {
                Verdict::Blocked
            } else {
                Verdict::Admitted
            }
        } else if within(&self.accepted) {
            Verdict::Admitted
        } else {
            Verdict::Blocked
        }
    }

    pub fn summary(&self) -> FirewallSummary {
        FirewallSummary {
            source: self.source.map(str::to_string),
            input_policy: self.policy.clone(),
            note: self.note.clone(),
        }
    }
}

/// `nft` and `iptables-save` answer in milliseconds; a hung one must not
/// hang the audit.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

fn run(system: &dyn System, program: &str, args: &[&str]) -> Result<String, String> {
    system.query(program, args, &[0], COMMAND_TIMEOUT)
}

/// Reads `nft -j list ruleset`: base chains hooked on input (families ip,
/// ip6, inet), the most restrictive policy among them, and `dport` matches
/// of their rules with an accept/drop/reject verdict.
pub fn parse_nft(text: &str) -> Option<InputChain> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = json.get("nftables")?.as_array()?;
    let mut chain = InputChain { source: Some("nftables"), ..InputChain::default() };
    let mut input_chains = Vec::new();
    for item in items {
        let Some(base) = item.get("chain") else { continue };
        let family = base.get("family").and_then(|f| f.as_str()).unwrap_or("");
        if base.get("hook").and_then(|h| h.as_str()) == Some("input")
            && matches!(family, "ip" | "ip6" | "inet")
        {
            let policy = base.get("policy").and_then(|p| p.as_str()).unwrap_or("accept");
            if chain.policy.as_deref() != Some("drop") {
                chain.policy = Some(policy.to_string());
            }
            input_chains.push((
                family.to_string(),
                base.get("table").and_then(|t| t.as_str()).unwrap_or("").to_string(),
                base.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string(),
            ));
        }
    }
    for item in items {
        let Some(rule) = item.get("rule") else { continue };
        let key = (
            rule.get("family").and_then(|f| f.as_str()).unwrap_or("").to_string(),
            rule.get("table").and_then(|t| t.as_str()).unwrap_or("").to_string(),
            rule.get("chain").and_then(|c| c.as_str()).unwrap_or("").to_string(),
        );
        if !input_chains.contains(&key) {
            continue;
        }
        let Some(expressions) = rule.get("expr").and_then(|e| e.as_array()) else { continue };
        let mut ports = Vec::new();
        let mut verdict = None;
        for expression in expressions {
            if let Some(matched) = expression.get("match") {
                let is_dport = matched
                    .pointer("/left/payload/field")
                    .and_then(|f| f.as_str())
                    .is_some_and(|f| f == "dport");
                if is_dport && matched.get("op").and_then(|o| o.as_str()).unwrap_or("==") == "==" {
                    collect_ports(matched.get("right"), &mut ports);
                }
            }
            if expression.get("accept").is_some() {
                verdict = Some(true);
            }
            if expression.get("drop").is_some() || expression.get("reject").is_some() {
                verdict = Some(false);
            }
        }
        match verdict {
            Some(true) => chain.accepted.extend(ports),
            Some(false) => chain.dropped.extend(ports),
            None => {}
        }
    }
    if chain.policy.is_none() {
        return Some(InputChain { source: Some("nftables"), ..InputChain::default() });
    }
    Some(chain)
}

/// A port, a `{"set": [...]}`, or a `{"range": [a, b]}`.
fn collect_ports(value: Option<&serde_json::Value>, ports: &mut Vec<(u16, u16)>) {
    let Some(value) = value else { return };
    if let Some(port) = value.as_u64().and_then(|p| u16::try_from(p).ok()) {
        ports.push((port, port));
    } else if let Some(range) = value.get("range").and_then(|r| r.as_array()) {
        let bound =
            |i: usize| range.get(i).and_then(|v| v.as_u64()).and_then(|p| u16::try_from(p).ok());
        if let (Some(a), Some(b)) = (bound(0), bound(1)) {
            ports.push((a, b));
        }
    } else if let Some(set) = value.get("set").and_then(|s| s.as_array()) {
        for member in set {
            collect_ports(Some(member), ports);
        }
    }
}

/// Reads `iptables-save -t filter`: `:INPUT POLICY` and `-A INPUT … --dport
/// N[:M] -j ACCEPT|DROP|REJECT` lines.
pub fn parse_iptables(text: &str) -> InputChain {
    let mut chain = InputChain { source: Some("iptables"), ..InputChain::default() };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(":INPUT ") {
            let policy = rest.split_whitespace().next().unwrap_or("ACCEPT");
            chain.policy = Some(if policy == "ACCEPT" { "accept".into() } else { "drop".into() });
        }
        let Some(rule) = line.strip_prefix("-A INPUT ") else { continue };
        let words: Vec<&str> = rule.split_whitespace().collect();
        let target = words.windows(2).find(|w| w[0] == "-j").map(|w| w[1]);
        let ports: Vec<(u16, u16)> = words
            .windows(2)
            .filter(|w| w[0] == "--dport" || w[0] == "--dports")
            .flat_map(|w| w[1].split(','))
            .filter_map(|part| match part.split_once(':') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => part.parse().ok().map(|p| (p, p)),
            })
            .collect();
        match target {
            Some("ACCEPT") => chain.accepted.extend(ports),
            Some("DROP" | "REJECT") => chain.dropped.extend(ports),
            _ => {}
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_policy_and_accepted_ports() {
        let text = r#"{"nftables":[{"metainfo":{"version":"1.0.6"}},
          {"table":{"family":"inet","name":"filter","handle":1}},
          {"chain":{"family":"inet","table":"filter","name":"input","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
          {"rule":{"family":"inet","table":"filter","chain":"input","handle":4,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":{"set":[22,{"range":[8000,8100]}]}}},
            {"accept":null}]}}]}"#;
        let chain = parse_nft(text).unwrap();
        assert_eq!(chain.policy.as_deref(), Some("drop"));
        assert_eq!(chain.verdict(22), Verdict::Admitted);
        assert_eq!(chain.verdict(8050), Verdict::Admitted);
        assert_eq!(chain.verdict(6379), Verdict::Blocked);
    }

    #[test]
    fn iptables_policy_and_rules() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 6379 -j DROP\nCOMMIT\n";
        let chain = parse_iptables(text);
        assert_eq!(chain.verdict(6379), Verdict::Blocked);
        assert_eq!(chain.verdict(80), Verdict::Admitted);
        assert_eq!(InputChain::default().verdict(80), Verdict::Unknown);
    }
}
