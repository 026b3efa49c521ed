//! The host firewall's input chain, read just far enough to say whether a
//! new connection from another device to a port would get in: each input
//! hook's policy and its rules in the order the kernel evaluates them, each
//! rule reduced to the transport protocol and destination ports it matches
//! (a `udp dport 53 drop` says nothing about TCP port 53) and whether its
//! other conditions hold for such a connection: always (`iifname != "lo"`,
//! `ct state new`, a rule with no condition), never (`iif lo`, `ct state
//! established,related`, `meta nfproto ipv6` in the IPv4 reading) or for
//! some devices only (`ip saddr 10.0.0.0/8`, `iifname "eth1"`, a named
//! set). The first rule that always applies decides; one that applies to
//! some devices only is named in the evidence when it is what lets them in.
//! Jumps to other chains are followed, their rules taken in place.
//!
//! nftables is read as JSON (`nft -j list ruleset`, typed by
//! [`crate::inventory::nftables`], the reader the diagnosis uses too);
//! without it, `iptables-save -t filter` (read by
//! [`crate::inventory::iptables`], also shared with the diagnosis). Both need
//! root; unprivileged runs report "unknown". The reading is an
//! approximation (no address or rate matching: those count as "some
//! devices"), so findings say "likely".

use crate::inventory::iptables;
use crate::inventory::nftables::{self, NftExpression, NftMatch, NftRuleset};
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

impl Verdict {
    /// The verdict for a service that clients reach through either of two
    /// ways in (two address families, or memcached's TCP and UDP ports):
    /// one getting in is enough, and only both blocked keep clients out.
    pub fn either(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Admitted, _) | (_, Verdict::Admitted) => Verdict::Admitted,
            (Verdict::Blocked, Verdict::Blocked) => Verdict::Blocked,
            _ => Verdict::Unknown,
        }
    }
}

/// The parts of the input chain this module understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputChain {
    pub source: Option<&'static str>,
    /// `accept` or `drop` (iptables `DROP`/`REJECT` normalised to `drop`):
    /// the most restrictive policy of the input hooks, for summaries.
    pub policy: Option<String>,
    /// The base chains on the input hook, each with its own policy; a
    /// connection gets in only when every one lets it pass. Empty: the
    /// policy alone decides.
    pub hooks: Vec<HookChain>,
    pub note: Option<String>,
}

/// One base chain on the input hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookChain {
    pub policy: String,
    /// In evaluation order, the rules of chains it jumps to in place.
    pub rules: Vec<InputRule>,
}

/// Whether a rule's conditions, besides protocol and port, hold for a new
/// connection from another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Always,
    /// For some devices or packets only (a source address, an interface
    /// other than lo, a named set, a match porthole does not read).
    Sometimes,
    Never,
}

impl Applies {
    fn and(self, other: Applies) -> Applies {
        match (self, other) {
            (Applies::Never, _) | (_, Applies::Never) => Applies::Never,
            (Applies::Sometimes, _) | (_, Applies::Sometimes) => Applies::Sometimes,
            _ => Applies::Always,
        }
    }

    fn not(self) -> Applies {
        match self {
            Applies::Always => Applies::Never,
            Applies::Never => Applies::Always,
            Applies::Sometimes => Applies::Sometimes,
        }
    }
}

/// One rule with a verdict, as it bears on a new connection from another
/// device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRule {
    /// Destination ports it matches; empty: every port.
    pub ports: Vec<PortRange>,
    /// The transport protocol it names outside a port match (`meta l4proto
    /// tcp`, `-p tcp`); `None`: any.
    pub protocol: Option<Protocol>,
    pub applies: Applies,
    /// `accept` (else drop or reject).
    pub accept: bool,
    /// The conditions that make it apply to some devices only, as written
    /// (`ip saddr 10.0.0.0/8`), for evidence.
    pub condition: String,
}

impl InputRule {
    fn new() -> Self {
        InputRule {
            ports: Vec::new(),
            protocol: None,
            applies: Applies::Always,
            accept: false,
            condition: String::new(),
        }
    }

    fn matches(&self, protocol: Protocol, port: u16) -> bool {
        self.applies != Applies::Never
            && self.protocol.is_none_or(|p| p == protocol)
            && (self.ports.is_empty() || self.ports.iter().any(|r| r.covers(protocol, port)))
    }

    /// Applies to some devices only, because of `words`.
    fn sometimes(&mut self, words: String) {
        self.applies = self.applies.and(Applies::Sometimes);
        if !words.is_empty() {
            if !self.condition.is_empty() {
                self.condition.push(' ');
            }
            self.condition.push_str(&words);
        }
    }
}

/// How one hook chain treats a new connection to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Passage {
    /// No rule decided: the policy does.
    Policy,
    /// A rule that always applies accepts it.
    RuleAccepts,
    /// A rule that always applies drops it.
    RuleDrops,
    /// A rule drops it for every device but those an earlier rule accepts
    /// (its condition).
    DropsAllBut(String),
    /// The policy drops it, but a rule accepts it from some devices.
    PolicyDropsAllBut(String),
}

impl HookChain {
    fn passage(&self, protocol: Protocol, port: u16) -> Passage {
        let mut admitted: Option<&str> = None;
        for rule in self.rules.iter().filter(|rule| rule.matches(protocol, port)) {
            match (rule.applies, rule.accept) {
                (Applies::Always, true) => return Passage::RuleAccepts,
                (Applies::Always, false) => {
                    return match admitted {
                        Some(condition) => Passage::DropsAllBut(condition.to_string()),
                        None => Passage::RuleDrops,
                    }
                }
                (Applies::Sometimes, true) => {
                    admitted.get_or_insert(&rule.condition);
                }
                _ => {}
            }
        }
        match admitted {
            Some(condition) if self.policy != "accept" => {
                Passage::PolicyDropsAllBut(condition.to_string())
            }
            _ => Passage::Policy,
        }
    }

    /// The verdict, and what overrides the policy in words (empty when
    /// nothing does).
    fn judge(&self, protocol: Protocol, port: u16) -> (Verdict, String) {
        let accept = self.policy == "accept";
        let named = |condition: &str| {
            if condition.is_empty() {
                "some devices".to_string()
            } else {
                format!("`{condition}`")
            }
        };
        match self.passage(protocol, port) {
            Passage::Policy if accept => (Verdict::Admitted, String::new()),
            Passage::Policy => (Verdict::Blocked, String::new()),
            Passage::RuleAccepts if accept => (Verdict::Admitted, String::new()),
            Passage::RuleAccepts => {
                (Verdict::Admitted, format!(", but a rule accepts {protocol} port {port}"))
            }
            Passage::RuleDrops if accept => {
                (Verdict::Blocked, format!(", but a rule drops {protocol} port {port}"))
            }
            Passage::RuleDrops => (Verdict::Blocked, String::new()),
            Passage::DropsAllBut(condition) => (
                Verdict::Admitted,
                format!(
                    ", but a rule drops {protocol} port {port} for all but {}",
                    named(&condition)
                ),
            ),
            Passage::PolicyDropsAllBut(condition) => (
                Verdict::Admitted,
                format!(", but a rule accepts {protocol} port {port} from {}", named(&condition)),
            ),
        }
    }
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
    /// `meta nfproto` of this family's packets.
    fn nfproto(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// `meta protocol` (the ethertype) of this family's packets.
    fn ethertype(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

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

    /// The verdict on a new `protocol` flow to `port` from another device:
    /// only rules that match that protocol (or any) count.
    pub fn verdict_for(&self, protocol: Protocol, port: u16) -> Verdict {
        self.judge(protocol, port).map_or(Verdict::Unknown, |(verdict, _)| verdict)
    }

    /// What the chain says about `protocol` port `port`, in words: the
    /// policy, and the rule that overrides it when one does (a finding that
    /// says "policy accept" and "blocked" would contradict itself).
    pub fn describe(&self, protocol: Protocol, port: u16) -> String {
        match (self.source, self.judge(protocol, port)) {
            (Some(_), Some((_, text))) => text,
            _ => self.note.clone().unwrap_or_else(|| "firewall not readable".into()),
        }
    }

    /// The verdict and its words: every hook must let the connection pass,
    /// so the first that blocks it decides, else the first with something
    /// to say.
    fn judge(&self, protocol: Protocol, port: u16) -> Option<(Verdict, String)> {
        let (source, policy) = (self.source.unwrap_or("firewall"), self.policy.as_ref()?);
        let lone;
        let hooks = if self.hooks.is_empty() {
            lone = [HookChain { policy: policy.clone(), rules: Vec::new() }];
            &lone[..]
        } else {
            &self.hooks[..]
        };
        let judged: Vec<(&HookChain, (Verdict, String))> =
            hooks.iter().map(|hook| (hook, hook.judge(protocol, port))).collect();
        let (hook, (verdict, overridden)) = judged
            .iter()
            .find(|(_, (verdict, _))| *verdict == Verdict::Blocked)
            .or_else(|| judged.iter().find(|(_, (_, text))| !text.is_empty()))
            .or_else(|| judged.first())?;
        Some((*verdict, format!("{source} input policy {}{overridden}", hook.policy)))
    }

    pub fn summary(&self) -> FirewallSummary {
        FirewallSummary {
            source: self.source.map(str::to_string),
            input_policy: self.policy.clone(),
            note: self.note.clone(),
            ipv6: None,
        }
    }

    /// `SOURCE input policy POLICY`, as [`InputChain::summary`] reads.
    fn words(&self) -> Option<String> {
        Some(format!("{} input policy {}", self.source?, self.policy.as_ref()?))
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

    /// The input chain(s) that the listeners reached by the families in
    /// `reach` go through: the IPv6 one alone when only IPv6 clients reach
    /// them (an `iptables` policy says nothing about them), the IPv4 one
    /// with the IPv6 one's words beside it when both families do and their
    /// chains differ.
    pub fn summary(&self, reach: Reach) -> FirewallSummary {
        match (reach.v4, reach.v6) {
            (false, true) => self.v6.summary(),
            (true, true) => {
                let ipv6 = self.v6.words().filter(|v6| Some(v6) != self.v4.words().as_ref());
                FirewallSummary { ipv6, ..self.v4.summary() }
            }
            _ => self.v4.summary(),
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
        let verdict = v6.either(v4);
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
    for base in ruleset.nftables.iter().filter_map(|item| item.chain.as_ref()) {
        if base.hook.as_deref() == Some("input")
            && base.kind.as_deref().is_none_or(|kind| kind == "filter")
            && family.nft_families().contains(&base.family.as_str())
        {
            let policy = base.policy.as_deref().unwrap_or("accept");
            if chain.policy.as_deref() != Some("drop") {
                chain.policy = Some(policy.to_string());
            }
            let mut rules = Vec::new();
            nft_rules(ruleset, (&base.family, &base.table, &base.name), family, 0, &mut rules);
            chain.hooks.push(HookChain { policy: policy.to_string(), rules });
        }
    }
    if chain.policy.is_none() {
        return InputChain { source: Some("nftables"), ..InputChain::default() };
    }
    chain
}

/// Chains jumped to deeper than this are taken as "some devices".
const MAX_JUMPS: usize = 8;

/// The rules of nft chain `(family, table, name)` with a verdict, in order,
/// as `family` traffic from another device meets them; a jump's target
/// rules in its place, each also bound by the jump's conditions.
fn nft_rules(
    ruleset: &NftRuleset,
    (table_family, table, name): (&str, &str, &str),
    family: Family,
    depth: usize,
    out: &mut Vec<InputRule>,
) {
    let rules =
        ruleset.nftables.iter().filter_map(|item| item.rule.as_ref()).filter(|rule| {
            rule.family == table_family && rule.table == table && rule.chain == name
        });
    for rule in rules {
        let mut read = InputRule::new();
        for statement in &rule.expr {
            if let Some(matched) = &statement.matches {
                nft_condition(matched, family, &mut read);
            }
            if let Some(xt) = &statement.xt {
                match (xt.kind.as_deref(), xt.name.as_deref()) {
                    (Some("target"), Some("REJECT" | "DROP")) => {
                        out.push(read);
                        break;
                    }
                    (Some("target"), Some("ACCEPT")) => {
                        read.accept = true;
                        out.push(read);
                        break;
                    }
                    // Its arguments are not in the JSON.
                    _ => read.sometimes(format!("xt {}", xt.name.as_deref().unwrap_or("match"))),
                }
            }
            if statement.accept.is_some() {
                read.accept = true;
                out.push(read);
                break;
            }
            if statement.drop.is_some() || statement.reject.is_some() {
                out.push(read);
                break;
            }
            if let Some(jump) = statement.jump.as_ref().or(statement.goto.as_ref()) {
                if read.applies == Applies::Never {
                    break;
                }
                let mut inner = Vec::new();
                if depth < MAX_JUMPS {
                    nft_rules(
                        ruleset,
                        (table_family, table, &jump.target),
                        family,
                        depth + 1,
                        &mut inner,
                    );
                }
                out.extend(inner.into_iter().filter_map(|rule| bound_by(rule, &read)));
                break;
            }
        }
    }
}

/// `inner`, reached through a jump whose own conditions are `jump`: it
/// applies only where both do. `None` when it can never apply.
fn bound_by(mut inner: InputRule, jump: &InputRule) -> Option<InputRule> {
    match (inner.protocol, jump.protocol) {
        (Some(a), Some(b)) if a != b => return None,
        (None, Some(b)) => inner.protocol = Some(b),
        _ => {}
    }
    if inner.ports.is_empty() {
        inner.ports = jump.ports.clone();
    } else if !jump.ports.is_empty() && inner.ports != jump.ports {
        // Both restrict ports: where they overlap is not worth computing.
        inner.sometimes(String::new());
    }
    if jump.applies != Applies::Always {
        inner.sometimes(jump.condition.clone());
    }
    (inner.applies != Applies::Never).then_some(inner)
}

/// Reads one nft match into `rule`, for `family` traffic from another
/// device.
fn nft_condition(matched: &NftMatch, family: Family, rule: &mut InputRule) {
    let negated = matched.op == "!=";
    let right = &matched.right;
    let texts = texts_of(right);
    // The values a field of such a connection has: does the match hold?
    let holds = |values: &[&str]| -> Applies {
        let yes = texts.as_ref().is_some_and(|texts| texts.iter().any(|t| values.contains(t)));
        let only = texts.as_ref().is_some_and(|texts| texts.iter().all(|t| values.contains(t)));
        let applies = match (&texts, yes) {
            (None, _) => Applies::Sometimes,
            (Some(_), true) if only || !negated => Applies::Always,
            (Some(_), true) => Applies::Sometimes,
            (Some(_), false) => Applies::Never,
        };
        if negated {
            applies.not()
        } else {
            applies
        }
    };
    let written = |left: String| {
        let op = if negated { " != " } else { " " };
        format!("{left}{op}{}", words(right))
    };
    match &matched.left {
        NftExpression::Meta { meta } => match meta.key.as_str() {
            // Another device's packet never comes in on lo; which other
            // interface it uses depends on the device.
            "iif" | "iifname" => match texts.as_deref() {
                Some(["lo"]) if negated => {}
                Some(["lo"]) => rule.applies = Applies::Never,
                _ => rule.sometimes(written(meta.key.clone())),
            },
            "iiftype" => match holds(&["loopback"]) {
                Applies::Always => rule.applies = Applies::Never,
                Applies::Never => {}
                Applies::Sometimes => rule.sometimes(written("iiftype".into())),
            },
            "nfproto" => rule.applies = rule.applies.and(holds(&[family.nfproto()])),
            "protocol" => rule.applies = rule.applies.and(holds(&[family.ethertype()])),
            "l4proto" => {
                transports(rule, texts.as_deref(), negated, || written("meta l4proto".into()))
            }
            key => rule.sometimes(written(format!("meta {key}"))),
        },
        NftExpression::Ct { ct } if ct.key == "state" => {
            rule.applies = rule.applies.and(holds(&["new"]));
        }
        NftExpression::Ct { ct } => rule.sometimes(written(format!("ct {}", ct.key))),
        NftExpression::Payload { payload } => {
            let protocol = payload.protocol.as_deref().unwrap_or("");
            let field = payload.field.as_deref().unwrap_or("");
            match (protocol, field) {
                ("ip", _) if family == Family::V6 => rule.applies = Applies::Never,
                ("ip6", _) if family == Family::V4 => rule.applies = Applies::Never,
                ("ip", "protocol") | ("ip6", "nexthdr") => {
                    transports(rule, texts.as_deref(), negated, || {
                        written(format!("{protocol} {field}"))
                    })
                }
                ("tcp" | "udp" | "th", "dport") if !negated => {
                    let before = rule.ports.len();
                    collect_ports(right, transport(protocol), &mut rule.ports);
                    if rule.ports.len() == before {
                        // A named set or a service name: not read.
                        rule.protocol = rule.protocol.or(transport(protocol));
                        rule.sometimes(written(format!("{protocol} dport")));
                    }
                }
                ("tcp" | "udp", _) => {
                    rule.protocol = transport(protocol);
                    rule.sometimes(written(format!("{protocol} {field}")));
                }
                ("th", _) => rule.sometimes(written(format!("th {field}"))),
                // ICMP, SCTP…: a TCP or UDP connection never matches.
                ("icmp" | "icmpv6" | "sctp" | "dccp" | "igmp" | "esp" | "ah", _) => {
                    rule.applies = Applies::Never
                }
                _ => rule.sometimes(written(format!("{protocol} {field}"))),
            }
        }
        _ => rule.sometimes(String::new()),
    }
}

/// A match on the transport protocol (`meta l4proto { tcp, udp }`, `ip
/// protocol tcp`), for the TCP and UDP flows judged here: both pass, one
/// does (the rule is that protocol's), or neither (ICMP only: never). Values
/// not read (a number, a set name) make it apply sometimes.
fn transports(
    rule: &mut InputRule,
    texts: Option<&[&str]>,
    negated: bool,
    written: impl Fn() -> String,
) {
    let Some(texts) = texts else { return rule.sometimes(written()) };
    let passes = |name: &str| texts.contains(&name) != negated;
    let only = match (passes("tcp"), passes("udp")) {
        (true, true) => return,
        (true, false) => Protocol::Tcp,
        (false, true) => Protocol::Udp,
        (false, false) => {
            rule.applies = Applies::Never;
            return;
        }
    };
    match rule.protocol {
        Some(named) if named != only => rule.applies = Applies::Never,
        _ => rule.protocol = Some(only),
    }
}

/// The words of a match's right side: `lo`, `{ established, related }`.
fn texts_of(value: &NftExpression) -> Option<Vec<&str>> {
    match value {
        NftExpression::Text(text) if !text.starts_with('@') => Some(vec![text.as_str()]),
        NftExpression::Set { set: items } | NftExpression::List(items) => {
            items.iter().map(|item| texts_of(item).filter(|t| t.len() == 1).map(|t| t[0])).collect()
        }
        _ => None,
    }
}

/// A right side as nft writes it, for evidence.
fn words(value: &NftExpression) -> String {
    match value {
        NftExpression::Number(number) => number.to_string(),
        NftExpression::Text(text) => text.clone(),
        NftExpression::Prefix { prefix } => format!("{}/{}", prefix.addr, prefix.len),
        NftExpression::Range { range } => range.iter().map(words).collect::<Vec<_>>().join("-"),
        NftExpression::Set { set: items } | NftExpression::List(items) => {
            format!("{{ {} }}", items.iter().map(words).collect::<Vec<_>>().join(", "))
        }
        _ => "…".into(),
    }
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

/// Reads `iptables-save -t filter`: the `INPUT` policy and its rules in
/// order, with the user chains they jump to in place.
pub fn parse_iptables(text: &str) -> InputChain {
    let mut chain = InputChain { source: Some("iptables"), ..InputChain::default() };
    let filter = iptables::table(text, "filter");
    if let Some(policy) = filter.policies.get("INPUT") {
        let policy = if policy == "ACCEPT" { "accept" } else { "drop" };
        chain.policy = Some(policy.into());
        let mut rules = Vec::new();
        iptables_rules(&filter, "INPUT", 0, &mut rules);
        chain.hooks.push(HookChain { policy: policy.into(), rules });
    }
    chain
}

/// The rules of iptables chain `name` with a verdict, in order (see
/// [`nft_rules`]).
fn iptables_rules(
    table: &iptables::IptablesTable,
    name: &str,
    depth: usize,
    out: &mut Vec<InputRule>,
) {
    for rule in table.rules.iter().filter(|rule| rule.chain == name) {
        let read = iptables_conditions(&rule.words);
        match rule.target() {
            Some("ACCEPT") => out.push(InputRule { accept: true, ..read }),
            Some("DROP" | "REJECT") => out.push(read),
            Some(target) if table.policies.get(target).is_some_and(|p| p == "-") => {
                if read.applies == Applies::Never {
                    continue;
                }
                let mut inner = Vec::new();
                if depth < MAX_JUMPS {
                    iptables_rules(table, target, depth + 1, &mut inner);
                }
                out.extend(inner.into_iter().filter_map(|inner| bound_by(inner, &read)));
            }
            // RETURN, LOG, marks: no verdict here.
            _ => {}
        }
    }
}

/// The conditions of one `iptables-save` rule's words.
fn iptables_conditions(words: &[String]) -> InputRule {
    let mut rule = InputRule::new();
    let mut index = 0;
    while index < words.len() {
        let negated = words[index] == "!";
        if negated {
            index += 1;
        }
        let Some(option) = words.get(index) else { break };
        // The one option here without a value: a SYN is what a new
        // connection starts with.
        if option == "--syn" {
            index += 1;
            continue;
        }
        let value = words.get(index + 1).map(String::as_str).unwrap_or_default();
        let written = || {
            let bang = if negated { "! " } else { "" };
            format!("{bang}{option} {value}")
        };
        index += 2;
        match option.as_str() {
            "-j" | "--jump" | "-g" | "--goto" => {
                // Target options (`--reject-with …`) follow: no conditions.
                break;
            }
            "-p" | "--protocol" => match (transport(value), negated) {
                (Some(protocol), false) => rule.protocol = Some(protocol),
                (None, false) if value != "all" => rule.applies = Applies::Never,
                _ => rule.sometimes(written()),
            },
            "-i" | "--in-interface" => match (value, negated) {
                ("lo", false) => rule.applies = Applies::Never,
                ("lo", true) => {}
                _ => rule.sometimes(written()),
            },
            "--dport" | "--dports" | "--destination-port" | "--destination-ports" if !negated => {
                let protocol = rule.protocol;
                rule.ports.extend(value.split(',').filter_map(|part| match part.split_once(':') {
                    Some((a, b)) => {
                        Some(PortRange { protocol, low: a.parse().ok()?, high: b.parse().ok()? })
                    }
                    None => part.parse().ok().map(|p| PortRange { protocol, low: p, high: p }),
                }));
            }
            "--state" | "--ctstate" => {
                let new = value.split(',').any(|state| state == "NEW");
                let applies = if new { Applies::Always } else { Applies::Never };
                rule.applies = rule.applies.and(if negated { applies.not() } else { applies });
            }
            // Modules whose options are read above, and comments.
            "-m" | "--match"
                if matches!(
                    value,
                    "tcp" | "udp" | "multiport" | "state" | "conntrack" | "comment"
                ) => {}
            "--comment" => {
                // A quoted comment is split on white space: skip to its end.
                let mut last = value;
                while last.starts_with('"') && !(last.len() > 1 && last.ends_with('"')) {
                    let Some(next) = words.get(index) else { break };
                    last = next;
                    index += 1;
                }
            }
            _ => rule.sometimes(written()),
        }
    }
    rule
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
        // The summary names the chain its listeners meet: the IPv6 one for
        // IPv6-only listeners, both when both families reach them.
        let v6only = Reach::of("::", Some(true));
        let summary = host.summary(v6only);
        assert_eq!(summary.source.as_deref(), Some("ip6tables"));
        assert_eq!(summary.input_policy.as_deref(), Some("accept"));
        assert_eq!(summary.ipv6, None);
        let both = host.summary(Reach::of("::", Some(false)));
        assert_eq!(both.source.as_deref(), Some("nftables"));
        assert_eq!(both.input_policy.as_deref(), Some("drop"));
        assert_eq!(both.ipv6.as_deref(), Some("ip6tables input policy accept"));
        assert_eq!(host.summary(Reach::of("0.0.0.0", None)).ipv6, None);
        // An `IPV6_V6ONLY` `[::]` meets the IPv6 chain alone: IPv4 clients
        // never reach it, whatever the IPv4 chain admits.
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
    fn rules_without_ports_are_read_in_order() {
        // ufw's shape: user chains, loopback and replies first, a source
        // allow-list, a quoted comment, then a reject for the rest.
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n\
            -A INPUT -j ufw-before-input\n\
            -A ufw-before-input -i lo -j ACCEPT\n\
            -A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
            -A ufw-before-input -j ufw-user-input\n\
            -A ufw-user-input -p tcp -m tcp --dport 22 -m comment --comment \"allow ssh\" -j ACCEPT\n\
            -A ufw-user-input -s 10.0.0.0/8 -p tcp -m tcp --dport 6379 --syn -j ACCEPT\n\
            -A INPUT ! -i lo -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";
        let chain = parse_iptables(text);
        assert_eq!(chain.verdict(22), Verdict::Admitted);
        assert_eq!(chain.verdict(80), Verdict::Blocked);
        assert_eq!(
            chain.describe(Protocol::Tcp, 80),
            "iptables input policy accept, but a rule drops tcp port 80"
        );
        assert_eq!(chain.verdict(6379), Verdict::Admitted);
        assert_eq!(
            chain.describe(Protocol::Tcp, 6379),
            "iptables input policy accept, but a rule drops tcp port 6379 for all but `-s 10.0.0.0/8`"
        );
        // nft: IPv6 dropped in an inet table, a named set, an interface.
        let nft = r#"{"nftables":[
          {"chain":{"family":"inet","table":"f","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":2,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"drop":null}]}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":3,"expr":[
            {"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":5,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"wg0"}},
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":5432}},{"accept":null}]}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":4,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":"@web"}},{"accept":null}]}},
          {"rule":{"family":"inet","table":"f","chain":"in","handle":6,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"iif"}},"right":"lo"}},{"accept":null}]}}]}"#;
        let ruleset = nftables::parse(nft.as_bytes()).unwrap();
        let v4 = input_chain_for(&ruleset, Family::V4);
        let v6 = input_chain_for(&ruleset, Family::V6);
        assert_eq!(v4.verdict(5432), Verdict::Admitted);
        assert_eq!(
            v4.describe(Protocol::Tcp, 5432),
            "nftables input policy drop, but a rule accepts tcp port 5432 from `iifname wg0`"
        );
        assert_eq!(v6.verdict(5432), Verdict::Blocked);
        assert_eq!(v6.describe(Protocol::Tcp, 5432), "nftables input policy drop");
        // `iif lo accept` lets no other device in; a named set may.
        assert_eq!(v4.verdict(9999), Verdict::Admitted);
        assert!(v4.describe(Protocol::Tcp, 9999).ends_with("from `tcp dport @web`"));
        assert_eq!(v4.verdict_for(Protocol::Udp, 9999), Verdict::Blocked);
        // `meta l4proto { tcp, udp } th dport 53 accept` is for both.
        let dns = r#"{"nftables":[
          {"chain":{"family":"ip","table":"f","name":"in","handle":1,"type":"filter","hook":"input","prio":0,"policy":"drop"}},
          {"rule":{"family":"ip","table":"f","chain":"in","handle":2,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":{"set":["tcp","udp"]}}},
            {"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":53}},{"accept":null}]}},
          {"rule":{"family":"ip","table":"f","chain":"in","handle":3,"expr":[
            {"match":{"op":"==","left":{"meta":{"key":"l4proto"}},"right":"icmp"}},{"accept":null}]}}]}"#;
        let chain = parse_nft(dns).unwrap();
        assert_eq!(
            chain.describe(Protocol::Udp, 53),
            "nftables input policy drop, but a rule accepts udp port 53"
        );
        assert_eq!(chain.verdict_for(Protocol::Tcp, 53), Verdict::Admitted);
        assert_eq!(chain.verdict_for(Protocol::Tcp, 80), Verdict::Blocked);
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
