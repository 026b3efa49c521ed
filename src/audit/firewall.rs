//! The host firewall's input chain, read just far enough to say whether a
//! packet from another device to a port would get in: the input hook's
//! policy, and the TCP/UDP destination ports its rules accept or drop, each
//! with the transport protocol it matches (a `udp dport 53 drop` says
//! nothing about TCP port 53).
//!
//! nftables is read as JSON (`nft -j list ruleset`, typed by
//! [`crate::inventory::nftables`], the reader the diagnosis uses too);
//! without it, `iptables-save -t filter` (read by
//! [`crate::inventory::iptables`], also shared with the diagnosis). Both need root; unprivileged runs report
//! "unknown". The reading is an approximation (no interface, source or
//! conntrack matching), so findings say "likely".

use crate::inventory::iptables;
use crate::inventory::nftables::{self, NftExpression, NftRuleset};
use crate::inventory::system::{System, COMMAND_TIMEOUT};
use crate::model::{FirewallSummary, Protocol, Socket};

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
    /// Destination ports explicitly accepted.
    pub accepted: Vec<PortRange>,
    /// Destination ports explicitly dropped or rejected.
    pub dropped: Vec<PortRange>,
    pub note: Option<String>,
}

/// Destination ports a rule matches: an inclusive range, and the transport
/// protocol the match names (`None`: any, as nft's `th dport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub protocol: Option<Protocol>,
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    fn covers(&self, protocol: Protocol, port: u16) -> bool {
        self.protocol.is_none_or(|p| p == protocol) && (self.low..=self.high).contains(&port)
    }
}

/// `tcp`/`udp` as a rule names them; other names (`th`, `sctp`) are `None`.
fn transport(name: &str) -> Option<Protocol> {
    match name {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// The IP version of the traffic a chain is read for: nftables `ip` and
/// `ip6` tables (and `iptables`/`ip6tables`) each see one; `inet` both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn nft_families(self) -> [&'static str; 2] {
        match self {
            Family::V4 => ["ip", "inet"],
            Family::V6 => ["ip6", "inet"],
        }
    }

    /// The legacy dump program and the name the evidence gives it.
    fn legacy(self) -> (&'static str, &'static str) {
        match self {
            Family::V4 => ("iptables-save", "iptables"),
            Family::V6 => ("ip6tables-save", "ip6tables"),
        }
    }
}

impl InputChain {
    /// Reads the IPv4 input chain of the current network namespace of
    /// `system`: nftables, else (or when nft has no input hook) `iptables-save`.
    pub fn read(system: &dyn System) -> Self {
        Self::read_from(system, &nftables::read(system), Family::V4)
    }

    /// The input chain `family` traffic meets, from an nft ruleset already
    /// read (or the error reading it) and the legacy dump of that family.
    fn read_from(
        system: &dyn System,
        nft: &Result<NftRuleset, nftables::NftReadError>,
        family: Family,
    ) -> Self {
        let legacy =
            |text: &str| InputChain { source: Some(family.legacy().1), ..parse_iptables(text) };
        match nft {
            Ok(ruleset) => {
                let chain = input_chain_for(ruleset, family);
                if chain.policy.is_some() {
                    return chain;
                }
            }
            Err(error) => {
                if let Some(text) = legacy_save(system, family) {
                    return legacy(&text);
                }
                return InputChain { note: Some(error.to_string()), ..InputChain::default() };
            }
        }
        // nft works but has no input hook: iptables-legacy may still filter.
        match legacy_save(system, family) {
            Some(text) if text.contains(":INPUT") => legacy(&text),
            _ => InputChain {
                source: Some("nftables"),
                policy: Some("accept".into()),
                note: Some("no input hook: nothing filters incoming connections".into()),
                ..InputChain::default()
            },
        }
    }

    /// The verdict on a new TCP connection to `port`.
    pub fn verdict(&self, port: u16) -> Verdict {
        self.verdict_for(Protocol::Tcp, port)
    }

    /// The verdict on a new `protocol` flow to `port`: only rules that match
    /// that protocol (or any) count.
    pub fn verdict_for(&self, protocol: Protocol, port: u16) -> Verdict {
        let Some(policy) = &self.policy else { return Verdict::Unknown };
        let within = |ranges: &[PortRange]| ranges.iter().any(|r| r.covers(protocol, port));
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

    /// What the chain says about `protocol` port `port`, in words: the
    /// policy, and the rule that overrides it when one does (a finding that
    /// says "policy accept" and "blocked" would contradict itself).
    pub fn describe(&self, protocol: Protocol, port: u16) -> String {
        let (Some(source), Some(policy)) = (self.source, &self.policy) else {
            return self.note.clone().unwrap_or_else(|| "firewall not readable".into());
        };
        let within = |ranges: &[PortRange]| ranges.iter().any(|r| r.covers(protocol, port));
        let overridden = match policy.as_str() {
            "accept" if within(&self.dropped) => ", but a rule drops",
            "drop" if within(&self.accepted) => ", but a rule accepts",
            _ => return format!("{source} input policy {policy}"),
        };
        format!("{source} input policy {policy}{overridden} {protocol} port {port}")
    }

    pub fn summary(&self) -> FirewallSummary {
        FirewallSummary {
            source: self.source.map(str::to_string),
            input_policy: self.policy.clone(),
            note: self.note.clone(),
        }
    }
}

/// `iptables-save -t filter` (`ip6tables-save` for IPv6), when it runs and
/// succeeds.
fn legacy_save(system: &dyn System, family: Family) -> Option<String> {
    let output = system.run(family.legacy().0, &["-t", "filter"], COMMAND_TIMEOUT)?;
    output.success.then(|| output.text())
}

/// Both input chains of the host: a listener is reached through the one of
/// its address family, and a `[::]` listener (dual-stack unless
/// `IPV6_V6ONLY`) through both. `iptables` rules do nothing to IPv6.
#[derive(Debug, Clone, Default)]
pub struct HostFirewall {
    pub v4: InputChain,
    pub v6: InputChain,
}

impl HostFirewall {
    /// Reads the ruleset once (`nft`), plus the legacy dumps it needs.
    pub fn read(system: &dyn System) -> Self {
        let nft = nftables::read(system);
        HostFirewall {
            v4: InputChain::read_from(system, &nft, Family::V4),
            v6: InputChain::read_from(system, &nft, Family::V6),
        }
    }

    /// The verdict and its words for `protocol` port `port` on `address`
    /// (as the inventory writes it: `0.0.0.0`, `::`, `::1`…), taking `[::]`
    /// as dual-stack. A caller that has the socket passes its
    /// [`Reach::of_socket`] to [`HostFirewall::judge_reach`] instead.
    pub fn judge(&self, address: &str, protocol: Protocol, port: u16) -> (Verdict, String) {
        self.judge_reach(Reach::of_address(address), protocol, port)
    }

    /// The verdict and its words for `protocol` port `port` on a listener
    /// that clients of the families in `reach` can connect to: through the
    /// chain of each, either getting in being enough.
    pub fn judge_reach(&self, reach: Reach, protocol: Protocol, port: u16) -> (Verdict, String) {
        let one = |chain: &InputChain| {
            (chain.verdict_for(protocol, port), chain.describe(protocol, port))
        };
        match (reach.v4, reach.v6) {
            (true, false) | (false, false) => return one(&self.v4),
            (false, true) => return one(&self.v6),
            (true, true) => {}
        }
        let (v6, v6_text) = one(&self.v6);
        let (v4, v4_text) = one(&self.v4);
        let verdict = match (v6, v4) {
            (Verdict::Admitted, _) | (_, Verdict::Admitted) => Verdict::Admitted,
            (Verdict::Blocked, Verdict::Blocked) => Verdict::Blocked,
            _ => Verdict::Unknown,
        };
        let text = if v6_text == v4_text { v6_text } else { format!("{v6_text}; {v4_text}") };
        (verdict, text)
    }
}

/// The address families whose clients can reach a listener, and so whose
/// input chains a connection to it passes: an IPv4 bind takes IPv4, an IPv6
/// bind IPv6 (a v4-mapped one IPv4), and `[::]` both unless the socket is
/// `IPV6_V6ONLY`, when IPv4 cannot reach it at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    pub v4: bool,
    pub v6: bool,
}

impl Reach {
    /// From an address as the inventory writes it, `v6only` being the
    /// socket's flag when known. An unknown flag on `[::]` (the `/proc/net`
    /// reader cannot see it) counts as dual-stack, the kernel's default
    /// (`net.ipv6.bindv6only = 0`) and the more exposed reading.
    pub fn of(address: &str, v6only: Option<bool>) -> Reach {
        match address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => Reach { v4: true, v6: false },
            Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => {
                Reach { v4: true, v6: false }
            }
            Ok(std::net::IpAddr::V6(v6)) if v6.is_unspecified() => {
                Reach { v4: v6only != Some(true), v6: true }
            }
            Ok(std::net::IpAddr::V6(_)) => Reach { v4: false, v6: true },
            // Not an address (a Unix path): no IP family reaches it.
            Err(_) => Reach::default(),
        }
    }

    /// [`Reach::of`] an address without its flag.
    pub fn of_address(address: &str) -> Reach {
        Reach::of(address, None)
    }

    /// The families that reach `socket`, from its bound address and flag.
    pub fn of_socket(socket: &Socket) -> Reach {
        match socket.local {
            Some(local) => Reach::of(&local.ip().to_string(), socket.v6only),
            None => Reach::default(),
        }
    }

    /// Either reaching.
    pub fn union(self, other: Reach) -> Reach {
        Reach { v4: self.v4 || other.v4, v6: self.v6 || other.v6 }
    }

    /// An IPv6 wildcard that IPv4 cannot reach (`IPV6_V6ONLY`).
    pub fn is_v6_only(self) -> bool {
        self.v6 && !self.v4
    }
}

/// Reads `nft -j list ruleset` text; `None` when it is not that JSON.
pub fn parse_nft(text: &str) -> Option<InputChain> {
    nftables::parse(text.as_bytes()).ok().map(|ruleset| input_chain(&ruleset))
}

/// The IPv4 input hook of a ruleset: base chains hooked on input (families
/// ip, inet), the most restrictive policy among them, and `dport` matches
/// of their rules with an accept/drop/reject verdict.
pub fn input_chain(ruleset: &NftRuleset) -> InputChain {
    input_chain_for(ruleset, Family::V4)
}

/// [`input_chain`] for the chains `family` traffic passes.
fn input_chain_for(ruleset: &NftRuleset, family: Family) -> InputChain {
    let mut chain = InputChain { source: Some("nftables"), ..InputChain::default() };
    let mut input_chains = Vec::new();
    for base in ruleset.nftables.iter().filter_map(|item| item.chain.as_ref()) {
        if base.hook.as_deref() == Some("input")
            && family.nft_families().contains(&base.family.as_str())
        {
            let policy = base.policy.as_deref().unwrap_or("accept");
            if chain.policy.as_deref() != Some("drop") {
                chain.policy = Some(policy.to_string());
            }
            input_chains.push((&base.family, &base.table, &base.name));
        }
    }
    for rule in ruleset.nftables.iter().filter_map(|item| item.rule.as_ref()) {
        if !input_chains.contains(&(&rule.family, &rule.table, &rule.chain)) {
            continue;
        }
        let mut ports = Vec::new();
        let mut verdict = None;
        for statement in &rule.expr {
            if let Some(matched) = &statement.matches {
                if let NftExpression::Payload { payload } = &matched.left {
                    if payload.field.as_deref() == Some("dport") && matched.op == "==" {
                        let protocol = payload.protocol.as_deref().and_then(transport);
                        collect_ports(&matched.right, protocol, &mut ports);
                    }
                }
            }
            if statement.accept.is_some() {
                verdict = Some(true);
            }
            if statement.drop.is_some() || statement.reject.is_some() {
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
        return InputChain { source: Some("nftables"), ..InputChain::default() };
    }
    chain
}

/// A port, a `{"set": [...]}`, or a `{"range": [a, b]}`.
fn collect_ports(value: &NftExpression, protocol: Option<Protocol>, ports: &mut Vec<PortRange>) {
    let port = |value: &NftExpression| match value {
        NftExpression::Number(number) => u16::try_from(*number).ok(),
        _ => None,
    };
    match value {
        NftExpression::Number(_) => {
            ports.extend(port(value).map(|p| PortRange { protocol, low: p, high: p }))
        }
        NftExpression::Range { range } => {
            if let [low, high] = range.as_slice() {
                if let (Some(low), Some(high)) = (port(low), port(high)) {
                    ports.push(PortRange { protocol, low, high });
                }
            }
        }
        NftExpression::Set { set } => {
            for member in set {
                collect_ports(member, protocol, ports);
            }
        }
        _ => {}
    }
}

/// Reads `iptables-save -t filter`: the `INPUT` policy and its `-A INPUT …
/// --dport N[:M] -j ACCEPT|DROP|REJECT` rules.
pub fn parse_iptables(text: &str) -> InputChain {
    let mut chain = InputChain { source: Some("iptables"), ..InputChain::default() };
    let filter = iptables::table(text, "filter");
    if let Some(policy) = filter.policies.get("INPUT") {
        chain.policy = Some(if policy == "ACCEPT" { "accept".into() } else { "drop".into() });
    }
    for rule in filter.rules.iter().filter(|rule| rule.chain == "INPUT") {
        // `-p tcp` (or `--protocol`); without one, iptables refuses
        // `--dport`, so a rule with ports always names its protocol.
        let protocol = rule
            .words
            .windows(2)
            .find(|w| w[0] == "-p" || w[0] == "--protocol")
            .and_then(|w| transport(&w[1]));
        let ports: Vec<PortRange> = rule
            .words
            .windows(2)
            .filter(|w| w[0] == "--dport" || w[0] == "--dports")
            .flat_map(|w| w[1].split(','))
            .filter_map(|part| match part.split_once(':') {
                Some((a, b)) => {
                    Some(PortRange { protocol, low: a.parse().ok()?, high: b.parse().ok()? })
                }
                None => part.parse().ok().map(|p| PortRange { protocol, low: p, high: p }),
            })
            .collect();
        match rule.target() {
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
    fn reads_through_the_system_handle() {
        use crate::inventory::system::fake::Scripted;
        let ruleset = r#"{"nftables":[
          {"chain":{"family":"ip","table":"t","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"accept"}},
          {"rule":{"family":"ip","table":"t","chain":"in","handle":2,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":6379}},
            {"counter":{"packets":0,"bytes":0}},{"reject":{"type":"tcp reset"}}]}}]}"#;
        let chain = InputChain::read(&Scripted::default().command("nft -j list ruleset", ruleset));
        assert_eq!(chain.source, Some("nftables"));
        assert_eq!(chain.verdict(6379), Verdict::Blocked);
        assert_eq!(chain.verdict(80), Verdict::Admitted);
        // No nft: iptables-save answers instead.
        let iptables = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        let chain =
            InputChain::read(&Scripted::default().command("iptables-save -t filter", iptables));
        assert_eq!(
            (chain.source, chain.verdict(22), chain.verdict(80)),
            (Some("iptables"), Verdict::Admitted, Verdict::Blocked)
        );
        // Neither: unknown, and the note says why.
        let chain = InputChain::read(&Scripted::default());
        assert_eq!(chain.verdict(80), Verdict::Unknown);
        assert_eq!(chain.note.as_deref(), Some("nft: not installed or could not be started"));
    }

    #[test]
    fn rules_count_only_for_their_protocol_and_are_described() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 53 -j DROP\n-A INPUT -p tcp -m multiport --dports 80,443 -j REJECT\nCOMMIT\n";
        let chain = parse_iptables(text);
        assert_eq!(chain.verdict_for(Protocol::Udp, 53), Verdict::Blocked);
        assert_eq!(chain.verdict_for(Protocol::Tcp, 53), Verdict::Admitted);
        assert_eq!(chain.verdict_for(Protocol::Tcp, 443), Verdict::Blocked);
        assert_eq!(chain.verdict_for(Protocol::Udp, 443), Verdict::Admitted);
        assert_eq!(
            chain.describe(Protocol::Tcp, 443),
            "iptables input policy accept, but a rule drops tcp port 443"
        );
        assert_eq!(chain.describe(Protocol::Tcp, 53), "iptables input policy accept");
        let nft = r#"{"nftables":[
          {"chain":{"family":"inet","table":"f","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":2,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":5353}},{"accept":null}]}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":3,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":8080}},{"accept":null}]}}]}"#;
        let chain = parse_nft(nft).unwrap();
        assert_eq!(chain.verdict_for(Protocol::Tcp, 5353), Verdict::Blocked);
        assert_eq!(chain.verdict_for(Protocol::Udp, 5353), Verdict::Admitted);
        assert_eq!(
            (chain.verdict_for(Protocol::Tcp, 8080), chain.verdict_for(Protocol::Udp, 8080)),
            (Verdict::Admitted, Verdict::Admitted)
        );
        assert_eq!(
            chain.describe(Protocol::Udp, 5353),
            "nftables input policy drop, but a rule accepts udp port 5353"
        );
    }

    #[test]
    fn each_address_family_meets_its_own_chain() {
        let nft = r#"{"nftables":[
          {"chain":{"family":"ip","table":"f","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}}]}"#;
        let ruleset = nftables::parse(nft.as_bytes()).unwrap();
        let v6 = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n";
        let host = HostFirewall {
            v4: input_chain_for(&ruleset, Family::V4),
            v6: InputChain { source: Some("ip6tables"), ..parse_iptables(v6) },
        };
        assert_eq!(host.judge("0.0.0.0", Protocol::Tcp, 80).0, Verdict::Blocked);
        assert_eq!(
            host.judge("fd00::1", Protocol::Tcp, 80),
            (Verdict::Admitted, "ip6tables input policy accept".into())
        );
        assert_eq!(host.judge("fd00::1", Protocol::Tcp, 22).0, Verdict::Blocked);
        // `[::]` takes IPv4 clients too: blocked only when both block.
        let (verdict, text) = host.judge("::", Protocol::Tcp, 22);
        assert_eq!(verdict, Verdict::Blocked);
        assert_eq!(
            text,
            "ip6tables input policy accept, but a rule drops tcp port 22; nftables input policy drop"
        );
        assert_eq!(host.judge("::", Protocol::Tcp, 80).0, Verdict::Admitted);
        // An `IPV6_V6ONLY` `[::]` meets the IPv6 chain alone: IPv4 clients
        // never reach it, whatever the IPv4 chain admits.
        let v6only = Reach::of("::", Some(true));
        assert_eq!(v6only, Reach { v4: false, v6: true });
        assert_eq!(
            host.judge_reach(v6only, Protocol::Tcp, 22),
            (
                Verdict::Blocked,
                "ip6tables input policy accept, but a rule drops tcp port 22".into()
            )
        );
        assert_eq!(Reach::of("::", Some(false)), Reach { v4: true, v6: true });
        assert_eq!(Reach::of("::ffff:10.0.0.1", None), Reach { v4: true, v6: false });
        // An ip6 table is not an IPv4 chain.
        assert_eq!(input_chain_for(&ruleset, Family::V6).policy, None);
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
