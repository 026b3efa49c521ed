//! Firewall rules that stop loopback traffic to a port.
//!
//! The ruleset is read with `nft -j list ruleset` into the typed model of
//! [`crate::inventory::nftables`] (only the statements that decide a
//! verdict are typed; anything else counts as "may match"), plus `iptables-legacy-save` and
//! `ip6tables-legacy-save` when the legacy backend is present (rules of the
//! `iptables-nft` backend already appear in the nft ruleset).
//!
//! The matcher follows the SYN of a loopback connection through every base
//! chain of the hooks it passes in its family (`output`, `postrouting`,
//! `egress` on lo, then `ingress` on lo, `prerouting`, `input`; for
//! iptables the `raw`, `mangle`, `filter` and `security` tables' chains of
//! those hooks, and the user chains they jump to): `oif lo` then `iif lo`,
//! source and destination address, `tcp dport`, `ct state new`.
//! Each condition evaluates to yes, no or maybe (a named set, a mark, an
//! unknown expression); a drop or reject whose conditions are all yes is
//! certain, one with a maybe is reported as possible. A rate, quota or
//! connection count (`limit`, `quota`, `ct count`, a meter) is a maybe too:
//! it stops some packets of a kind and not others. Chain policies count:
//! `policy drop` without an accept for the packet blocks it.
//!
//! Besides the SYN, [`Packet::later`] follows what the client sends once the
//! handshake completed (conntrack state `established`): a rule that stops
//! only those lets connect() succeed and leaves the server silent.
//!
//! Rules written by `iptables-nft` (plain `iptables` on Debian and Ubuntu)
//! live in the nft ruleset too, but their matches and targets that have no
//! native translation (`-m multiport`, `-m conntrack`, `-j REJECT`) appear in
//! `nft -j` as opaque `xt` expressions with no arguments. Such tables are
//! read back with `iptables-nft-save` ([`read_iptables_nft`]), matched by
//! the same `iptables-save` matcher as the legacy backend, and skipped by
//! the nft walk; the fix then names `iptables-nft`, which manages them. An
//! `xt` statement met anywhere else makes its rule "may match".
//!
//! Running `nft` is kept in [`read_nft`], [`read_iptables_nft`] and
//! [`read_legacy`], through the [`System`] handle (with its timeout), so
//! the matcher is tested on captured JSON without touching the kernel.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::inventory::iptables::{self, IptablesRule, IptablesTable};
use crate::inventory::nftables;
use crate::inventory::system::{System, COMMAND_TIMEOUT};

pub use crate::inventory::nftables::{
    NftChain, NftExpression, NftItem, NftJump, NftKey, NftMatch, NftNat, NftPayload, NftPrefix,
    NftReject, NftRule, NftRuleset, NftStatement, NftXt,
};

/// The packet followed through the rules: the SYN of a loopback
/// connection.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub port: u16,
    /// File-system uid and gid of the client socket, for owner matches
    /// (`meta skuid`, `--uid-owner`); `None` makes them "may match".
    pub owner: Option<(u32, u32)>,
    /// Set for the server's answer (the SYN-ACK) instead of the SYN: it
    /// goes from `source` port `port` back to the client's port, one of
    /// this range (`ip_local_port_range`), and conntrack counts it as
    /// `established`. `source` and `destination` are then the server's
    /// address and the client's.
    pub reply: Option<(u16, u16)>,
    /// Set for a later packet of the client's connection (its handshake
    /// ACK, its request), and for the server's answer: the SYN passed, and
    /// conntrack counts the connection as `established`.
    pub established: bool,
}

impl Packet {
    /// The answer to this SYN: addresses swapped, to a client port in
    /// `client_ports`.
    pub fn answer(&self, client_ports: (u16, u16)) -> Packet {
        Packet {
            source: self.destination,
            destination: self.source,
            port: self.port,
            // The server's socket sends it: its owner is not the client's.
            owner: None,
            reply: Some(client_ports),
            established: true,
        }
    }

    /// The packets the client sends after this SYN, once the handshake
    /// completed: same addresses, port and owner, state `established`.
    pub fn later(&self) -> Packet {
        Packet { established: true, ..*self }
    }
}

/// Where a hook sees the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Output,
    Input,
}

/// Three-valued match result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Maybe, _) | (_, Tri::Maybe) => Tri::Maybe,
            _ => Tri::Yes,
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }
    fn from(value: bool) -> Tri {
        if value {
            Tri::Yes
        } else {
            Tri::No
        }
    }
}

/// What a blocking rule does to the SYN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Drop,
    /// `reject`, with its `with …` text when given.
    Reject(Option<String>),
}

/// A rule (or chain policy) that stops the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub action: Action,
    /// `nftables`, `iptables-nft`, `ip6tables-nft`, `iptables-legacy` or
    /// `ip6tables-legacy`: the tool that edits the rule.
    pub source: &'static str,
    pub family: String,
    pub table: String,
    pub chain: String,
    /// Rule handle (nft) or rule number (iptables); `None` for a policy.
    pub handle: Option<u64>,
    /// False when a condition could not be evaluated (a named set, a mark).
    pub certain: bool,
    /// The rule as `nft list` / `iptables-save` prints it.
    pub text: String,
    /// The rule decides through a set or verdict map that holds other keys
    /// too (`tcp dport vmap { 22 : accept, 8082 : drop }`): deleting the
    /// rule would drop those as well, so the fix touches only this port.
    pub lookup: Option<Box<Lookup>>,
}

/// How a set or verdict map of a blocking rule holds the packet's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The named set or map `name` of the rule's table has the element:
    /// `key` as nft's command line writes it, `element` as its JSON does.
    Named { name: String, key: String, element: serde_json::Value },
    /// A map written in the rule cannot be edited: an accept of loopback
    /// traffic to `port` (`device` is `iif` or `oif`) goes in front of it.
    Inline { device: &'static str, port: u16 },
}

impl Blocker {
    /// `inet filter input handle 3: iif "lo" tcp dport 5555 drop`.
    pub fn describe(&self) -> String {
        let handle = match self.handle {
            Some(handle) if self.source == "nftables" => format!(" handle {handle}"),
            Some(number) => format!(" rule {number}"),
            None => " policy".to_string(),
        };
        let maybe = if self.certain { "" } else { " (may match)" };
        let source =
            if self.source == "nftables" { String::new() } else { format!("{}: ", self.source) };
        format!(
            "{source}{} {} {}{handle}: {}{maybe}",
            self.family, self.table, self.chain, self.text
        )
    }

    /// How the rule stops only part of the traffic, when it matches by
    /// chance or by count rather than by what a packet is: clients then
    /// fail now and then, and a retry may pass. `None` for a rule that
    /// stops every packet it describes.
    pub fn partial(&self) -> Option<String> {
        const KINDS: [(&[&str], &str); 5] = [
            (&["numgen random", "--mode random"], "at random"),
            (&["numgen inc", "--mode nth"], "one packet in every few"),
            (
                &["limit rate", "meter ", "-m limit", "-m hashlimit"],
                "by rate, while under (with `over`: above) its limit",
            ),
            (&["quota"], "by a byte quota, before (with `over`: after) it is used up"),
            (&["ct count", "-m connlimit"], "by the number of connections open"),
        ];
        KINDS.iter().find_map(|(words, how)| {
            let word = words.iter().find(|word| self.text.contains(*word))?;
            Some(format!("{how}: `{}`", word.trim()))
        })
    }

    /// The command that would delete the rule, for the fix list.
    pub fn removal(&self) -> String {
        match (self.source, self.handle, self.lookup.as_deref()) {
            ("nftables", Some(_), Some(Lookup::Named { name, key, element })) => nft_command(
                &self.family,
                &self.table,
                NftEdit::DeleteElement { set: name, key, element },
            ),
            ("nftables", Some(handle), Some(Lookup::Inline { device, port })) => nft_command(
                &self.family,
                &self.table,
                NftEdit::InsertRule {
                    chain: &self.chain,
                    position: Some(handle),
                    body: RuleBody::LoAccept { device, port: Some(*port) },
                },
            ),
            ("nftables", Some(handle), None) => nft_command(
                &self.family,
                &self.table,
                NftEdit::DeleteRule { chain: &self.chain, handle },
            ),
            ("nftables", None, _) => nft_command(
                &self.family,
                &self.table,
                NftEdit::InsertRule {
                    chain: &self.chain,
                    position: None,
                    body: RuleBody::LoAccept { device: self.loopback_device(), port: None },
                },
            ),
            // Delete it with the tool that owns it: plain `iptables` may be
            // either backend.
            (tool, Some(number), _) => {
                format!("{tool} -t {} -D {} {number}", self.table, self.chain)
            }
            (tool, None, _) => {
                let outgoing = matches!(self.chain.as_str(), "OUTPUT" | "POSTROUTING");
                let flag = if outgoing { "-o" } else { "-i" };
                format!("{tool} -t {} -I {} 1 {flag} lo -j ACCEPT", self.table, self.chain)
            }
        }
    }

    /// The rule that lets a connection's answers through the chain where
    /// this blocker stops them: `ct state established,related accept` at
    /// its top (a netdev chain, which sees no conntrack state, accepts
    /// loopback instead).
    pub fn answers_accepted(&self) -> String {
        match (self.source, self.family.as_str()) {
            ("nftables", family) => {
                let body = if family == "netdev" {
                    RuleBody::LoAccept { device: self.loopback_device(), port: None }
                } else {
                    RuleBody::AnswersAccept
                };
                let edit = NftEdit::InsertRule { chain: &self.chain, position: None, body };
                nft_command(family, &self.table, edit)
            }
            (tool, _) => format!(
                "{tool} -t {} -I {} 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                self.table, self.chain
            ),
        }
    }

    fn chain_hook_is_output(&self) -> bool {
        ["hook output", "hook postrouting", "hook egress"].iter().any(|h| self.text.contains(h))
    }

    /// `oif` in a chain on the way out, else `iif`.
    fn loopback_device(&self) -> &'static str {
        if self.chain_hook_is_output() {
            "oif"
        } else {
            "iif"
        }
    }
}

/// The kernel's names for the expressions behind [`Blocker::partial`]'s
/// kinds: `numgen`, `limit`, `meter` (a `dynset`), `quota`, `ct count`
/// (`connlimit`), and the iptables-nft matches `-m statistic`, `-m limit`,
/// `-m hashlimit` and `-m connlimit` (an `xt` match carries its own name).
pub const PARTIAL_EXPRESSIONS: [&str; 7] =
    ["numgen", "limit", "dynset", "quota", "connlimit", "hashlimit", "statistic"];

/// The ruleset and its text listing (`nft -a list ruleset`, which gives
/// each rule as people write it, keyed by handle); `None` when nft is
/// missing or refuses (no privilege), which the caller reports as "could
/// not read the ruleset".
pub fn read_nft(system: &dyn System) -> Option<(NftRuleset, String)> {
    let ruleset = nftables::read(system).ok()?;
    Some((ruleset, nftables::read_listing(system)))
}

/// Every rule that stops `packet`: the nft ruleset (tables iptables-nft
/// manages read from its own dump) and the legacy backend, read afresh.
/// For a single question asked outside a diagnosis (`wait`'s judgement of
/// one connection); a diagnosis reads each source once for all of its.
pub fn blockers_now(system: &dyn System, packet: &Packet) -> Vec<Blocker> {
    let nft = read_nft(system);
    let with_iptables = nft.as_ref().is_some_and(|(ruleset, _)| has_iptables_tables(ruleset));
    let iptables_nft = if with_iptables { read_iptables_nft(system) } else { Vec::new() };
    let managed = managed_tables(&iptables_nft);
    let mut blockers = match &nft {
        Some((ruleset, text)) => nft_blockers(ruleset, text, packet, &managed),
        None => Vec::new(),
    };
    for (source, dump) in iptables_nft.iter().chain(read_legacy(system).iter()) {
        blockers.extend(legacy_blockers(source, dump, packet));
    }
    blockers
}

/// The tables `iptables-nft` manages, as `(family, table)`: those it dumps.
pub fn managed_tables(dumps: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut tables = Vec::new();
    for (tool, dump) in dumps {
        let family = if tool.starts_with("ip6") { "ip6" } else { "ip" };
        for line in dump.lines() {
            if let Some(table) = line.trim().strip_prefix('*') {
                tables.push((family.to_string(), table.to_string()));
            }
        }
    }
    tables
}

/// Whether the ruleset has tables `iptables-nft` may have written: an `xt`
/// statement anywhere, or an `ip`/`ip6` table with an iptables table name.
pub fn has_iptables_tables(ruleset: &NftRuleset) -> bool {
    const NAMES: [&str; 5] = ["filter", "raw", "mangle", "nat", "security"];
    ruleset.nftables.iter().any(|item| {
        item.rule.as_ref().is_some_and(|rule| rule.expr.iter().any(|s| s.xt.is_some()))
            || item.chain.as_ref().is_some_and(|chain| {
                matches!(chain.family.as_str(), "ip" | "ip6")
                    && NAMES.contains(&chain.table.as_str())
            })
    })
}

/// Runs `iptables-nft-save` and `ip6tables-nft-save`; each result is
/// `(tool, output)` where `tool` is the command that edits those rules.
pub fn read_iptables_nft(system: &dyn System) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (tool, name) in
        [("iptables-nft-save", "iptables-nft"), ("ip6tables-nft-save", "ip6tables-nft")]
    {
        if let Some(output) = system.run(tool, &[], COMMAND_TIMEOUT) {
            if output.success && !output.stdout.is_empty() {
                found.push((name, output.text()));
            }
        }
    }
    found
}

/// Runs the legacy `iptables-save` tools that exist; each result is
/// `(tool, output)`.
pub fn read_legacy(system: &dyn System) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (tool, name) in
        [("iptables-legacy-save", "iptables-legacy"), ("ip6tables-legacy-save", "ip6tables-legacy")]
    {
        if let Some(output) = system.run(tool, &[], COMMAND_TIMEOUT) {
            if output.success {
                found.push((name, output.text()));
            }
        }
    }
    found
}

/// Rules of the nft ruleset that stop `packet`, in hook order. Tables in
/// `skip` (`(family, table)`, those iptables-nft manages) are matched from
/// their `iptables-nft-save` dump instead.
pub fn nft_blockers(
    ruleset: &NftRuleset,
    text: &str,
    packet: &Packet,
    skip: &[(String, String)],
) -> Vec<Blocker> {
    let texts = rule_texts(text);
    let v4 = packet.destination.is_ipv4();
    let mut chains: Vec<&NftChain> = ruleset
        .nftables
        .iter()
        .filter_map(|item| item.chain.as_ref())
        .filter(|chain| !skip.iter().any(|(f, t)| *f == chain.family && *t == chain.table))
        // A `route` chain (output hook only) drops like a filter chain.
        .filter(|chain| chain.kind.as_deref().is_none_or(|k| k == "filter" || k == "route"))
        .filter(|chain| match chain.family.as_str() {
            "inet" => true,
            "ip" => v4,
            "ip6" => !v4,
            "netdev" => true,
            _ => false,
        })
        .collect();
    chains.sort_by_key(|chain| chain.prio.unwrap_or(0));
    let devices = hook_devices(text);
    let mut blockers = Vec::new();
    // A loopback packet leaves through the output and postrouting hooks
    // and lo's egress hook (netdev, Linux 5.16), then comes back in on lo
    // through the ingress hook (netdev, or inet since Linux 5.10) and the
    // prerouting hook before the input hook; an ingress or egress chain
    // sees it only when it is attached to lo. Postrouting
    // knows the packet's socket and `oif lo`, prerouting `iif lo`, as the
    // output and input hooks do.
    for (hook, hook_name) in [
        (Hook::Output, "output"),
        (Hook::Output, "postrouting"),
        (Hook::Output, "egress"),
        (Hook::Input, "ingress"),
        (Hook::Input, "prerouting"),
        (Hook::Input, "input"),
    ] {
        // Ingress and egress chains are attached to devices.
        let per_device = matches!(hook_name, "ingress" | "egress");
        let on_lo = |chain: &NftChain| {
            let key = (chain.family.clone(), chain.table.clone(), chain.name.clone());
            devices.get(&key).is_some_and(|names| names.iter().any(|name| name == "lo"))
        };
        for chain in chains
            .iter()
            .filter(|c| c.hook.as_deref() == Some(hook_name))
            .filter(|c| per_device || c.family != "netdev")
            .filter(|c| !per_device || on_lo(c))
        {
            let walk = Walk { packet, hook, ruleset, texts: &texts };
            match walk.chain(chain, 0) {
                Verdict::Blocked(blocker) => blockers.push(blocker),
                Verdict::Accepted | Verdict::Continue(_) if chain.policy.as_deref() != Some("drop") => {}
                Verdict::Accepted => {}
                Verdict::Continue(maybe_accepted) => blockers.push(Blocker {
                    action: Action::Drop,
                    source: "nftables",
                    family: chain.family.clone(),
                    table: chain.table.clone(),
                    chain: chain.name.clone(),
                    handle: None,
                    certain: !maybe_accepted,
                    text: format!(
                        "type {} hook {hook_name} priority {}; policy drop; (no rule accepts this packet)",
                        chain.kind.as_deref().unwrap_or("filter"),
                        chain.prio.unwrap_or(0)
                    ),
                    lookup: None,
                }),
            }
        }
    }
    blockers
}

enum Verdict {
    Blocked(Blocker),
    Accepted,
    /// Fell off the end; `true` when a rule with an uncertain condition
    /// might have accepted it.
    Continue(bool),
}

/// Where a rule is: its table, chain and handle.
#[derive(Clone, Copy)]
struct Place<'a> {
    family: &'a str,
    table: &'a str,
    chain: &'a str,
    handle: u64,
}

/// One element of a named set (or a map key) as an expression; an element
/// with a timeout or counter is `{"elem": {"val": …}}`. What does not parse
/// is `Other`, which matches as "maybe".
fn element(value: &serde_json::Value) -> NftExpression {
    let value = value.get("elem").and_then(|elem| elem.get("val")).unwrap_or(value);
    serde_json::from_value(value.clone()).unwrap_or(NftExpression::Other(serde::de::IgnoredAny))
}

struct Walk<'a> {
    packet: &'a Packet,
    hook: Hook,
    ruleset: &'a NftRuleset,
    texts: &'a HashMap<(String, String, String, u64), String>,
}

impl<'a> Walk<'a> {
    /// The rules of one chain, in order.
    fn rules_of(&self, family: &str, table: &str, chain: &str) -> Vec<&'a NftRule> {
        self.ruleset
            .nftables
            .iter()
            .filter_map(|item| item.rule.as_ref())
            .filter(|r| r.family == family && r.table == table && r.chain == chain)
            .collect()
    }

    fn chain(&self, chain: &NftChain, depth: usize) -> Verdict {
        self.chain_named(&chain.family, &chain.table, &chain.name, depth)
    }

    fn chain_named(&self, family: &str, table: &str, name: &str, depth: usize) -> Verdict {
        if depth > 8 {
            return Verdict::Continue(true);
        }
        let mut maybe_accepted = false;
        for rule in self.rules_of(family, table, name) {
            let place = Place { family, table, chain: name, handle: rule.handle };
            let mut condition = Tri::Yes;
            // A named set holding the port that the rule matches it by.
            let mut lookup = None;
            // The rule's own blocker carries the set or map entry.
            let with_lookup = |found: Verdict, lookup: &Option<Lookup>| match found {
                Verdict::Blocked(mut blocker)
                    if blocker.chain == name && blocker.handle == Some(rule.handle) =>
                {
                    blocker.lookup = lookup.clone().map(Box::new);
                    Verdict::Blocked(blocker)
                }
                other => other,
            };
            for statement in &rule.expr {
                // A rate, quota or count lets some packets of the kind
                // through and stops others.
                if statement.counts_traffic() {
                    condition = condition.and(Tri::Maybe);
                }
                if let Some(matched) = &statement.matches {
                    condition = condition.and(self.evaluate_in(matched, family, table));
                    lookup = lookup.or_else(|| self.set_lookup(matched, family, table));
                }
                // An iptables match whose arguments nft does not show.
                if statement.xt.as_ref().is_some_and(|xt| xt.kind.as_deref() == Some("match")) {
                    condition = condition.and(Tri::Maybe);
                }
                // An iptables target (REJECT, …): a verdict of unknown kind.
                if let Some(xt) =
                    statement.xt.as_ref().filter(|xt| xt.kind.as_deref() == Some("target"))
                {
                    if condition == Tri::No {
                        break;
                    }
                    if matches!(xt.name.as_deref(), Some("REJECT")) && !maybe_accepted {
                        let certain = condition == Tri::Yes;
                        return Verdict::Blocked(self.blocker(
                            &place,
                            Action::Reject(None),
                            certain,
                        ));
                    }
                }
                if condition == Tri::No {
                    break;
                }
                if let Some(vmap) = &statement.vmap {
                    // Each entry is a verdict of its own, taken when the
                    // rule's condition holds and the key is the entry's.
                    for (key, verdict) in self.vmap_entries(vmap, family, table) {
                        let entry_lookup = self.map_lookup(vmap, &key);
                        let matched =
                            NftMatch { op: "==".into(), left: vmap.key.clone(), right: key };
                        let entry = condition.and(self.evaluate_in(&matched, family, table));
                        if entry == Tri::No {
                            continue;
                        }
                        let found =
                            self.verdict(&verdict, entry, &place, depth, &mut maybe_accepted);
                        if let Some(found) = found {
                            return with_lookup(found, &entry_lookup);
                        }
                        if entry == Tri::Yes {
                            break;
                        }
                    }
                    continue;
                }
                if let Some(found) =
                    self.verdict(statement, condition, &place, depth, &mut maybe_accepted)
                {
                    return with_lookup(found, &lookup);
                }
            }
        }
        Verdict::Continue(maybe_accepted)
    }

    /// What a verdict statement does to the packet under `condition`:
    /// `Some` ends the walk of the chain, `None` goes on to the next
    /// statement (a verdict that may not apply, or a jump that returned).
    fn verdict(
        &self,
        statement: &NftStatement,
        condition: Tri,
        place: &Place<'_>,
        depth: usize,
        maybe_accepted: &mut bool,
    ) -> Option<Verdict> {
        let certain = condition == Tri::Yes;
        if statement.accept.is_some() {
            if certain {
                return Some(Verdict::Accepted);
            }
            *maybe_accepted = true;
        } else if statement.drop.is_some() || statement.reject.is_some() {
            let action = match &statement.reject {
                Some(spec) => Action::Reject(spec.as_ref().map(reject_text)),
                None => Action::Drop,
            };
            if certain || !*maybe_accepted {
                return Some(Verdict::Blocked(self.blocker(place, action, certain)));
            }
        } else if let Some(jump) = statement.jump.as_ref().or(statement.goto.as_ref()) {
            match self.chain_named(place.family, place.table, &jump.target, depth + 1) {
                Verdict::Blocked(blocker) if certain => return Some(Verdict::Blocked(blocker)),
                Verdict::Blocked(mut blocker) => {
                    blocker.certain = false;
                    return Some(Verdict::Blocked(blocker));
                }
                Verdict::Accepted if certain => return Some(Verdict::Accepted),
                Verdict::Accepted => *maybe_accepted = true,
                Verdict::Continue(maybe) => *maybe_accepted |= maybe,
            }
            if statement.goto.is_some() && certain {
                return Some(Verdict::Continue(*maybe_accepted));
            }
        } else if statement.return_.is_some() && certain {
            return Some(Verdict::Continue(*maybe_accepted));
        }
        None
    }

    /// The blocker for the rule at `place`, with its text as `nft list`
    /// prints it.
    fn blocker(&self, place: &Place<'_>, action: Action, certain: bool) -> Blocker {
        let Place { family, table, chain, handle } = *place;
        let key = (family.to_string(), table.to_string(), chain.to_string(), handle);
        Blocker {
            action,
            source: "nftables",
            family: family.to_string(),
            table: table.to_string(),
            chain: chain.to_string(),
            handle: Some(handle),
            certain,
            text: self
                .texts
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("rule with handle {handle}")),
            lookup: None,
        }
    }

    /// The (key, verdict) entries of a verdict map: written in the rule, or
    /// a named map of the rule's table. An entry whose verdict is not
    /// understood decides nothing.
    fn vmap_entries(
        &self,
        vmap: &nftables::NftVmap,
        family: &str,
        table: &str,
    ) -> Vec<(NftExpression, NftStatement)> {
        let pairs: Vec<serde_json::Value> = match &vmap.data {
            serde_json::Value::String(name) if name.starts_with('@') => self
                .named(family, table, &name[1..])
                .map(|set| set.elem.clone())
                .unwrap_or_default(),
            data => data["set"].as_array().cloned().unwrap_or_default(),
        };
        pairs
            .iter()
            .filter_map(|pair| {
                let key = element(pair.get(0)?);
                let verdict = serde_json::from_value(pair.get(1)?.clone()).ok()?;
                Some((key, verdict))
            })
            .collect()
    }

    /// Whether `matched` is `tcp dport @name` with the port itself among
    /// the set's elements (not in a range), or `ip daddr @name` (`saddr`,
    /// `ip6`) with an element holding the packet's address: the element
    /// to delete, so the set's other entries keep their verdict.
    fn set_lookup(&self, matched: &NftMatch, family: &str, table: &str) -> Option<Lookup> {
        let NftExpression::Text(reference) = &matched.right else { return None };
        let name = reference.strip_prefix('@')?;
        if matched.op != "==" {
            return None;
        }
        if let Field::Address(address) = self.field(&matched.left) {
            let set = self.named(family, table, name)?;
            let (key, value) = set.elem.iter().find_map(|value| {
                let key = address_element(&element(value), address)?;
                // nft's JSON names an element by its value alone.
                let value = value.get("elem").and_then(|elem| elem.get("val")).unwrap_or(value);
                Some((key, value.clone()))
            })?;
            return Some(Lookup::Named { name: name.to_string(), key, element: value });
        }
        if !self.is_port(&matched.left) || self.packet.reply.is_some() {
            return None;
        }
        let set = self.named(family, table, name)?;
        let port = u64::from(self.packet.port);
        set.elem
            .iter()
            .any(|value| matches!(element(value), NftExpression::Number(n) if n == port))
            .then(|| Lookup::Named {
                name: name.to_string(),
                key: port.to_string(),
                element: serde_json::json!(port),
            })
    }

    /// The entry of a verdict map keyed by the packet's port: the named
    /// map's element, or for a map written in the rule an accept for the
    /// port to insert before it (not in a netdev chain, which has no
    /// implicit transport header match).
    fn map_lookup(&self, vmap: &nftables::NftVmap, key: &NftExpression) -> Option<Lookup> {
        let port = u64::from(self.packet.port);
        if self.packet.reply.is_some()
            || !self.is_port(&vmap.key)
            || !matches!(key, NftExpression::Number(n) if *n == port)
        {
            return None;
        }
        match &vmap.data {
            serde_json::Value::String(name) => Some(Lookup::Named {
                name: name.strip_prefix('@')?.to_string(),
                key: port.to_string(),
                element: serde_json::json!(port),
            }),
            _ => {
                let device = if self.hook == Hook::Output { "oif" } else { "iif" };
                Some(Lookup::Inline { device, port: self.packet.port })
            }
        }
    }

    /// `tcp dport` (or `th dport`).
    fn is_port(&self, expression: &NftExpression) -> bool {
        matches!(expression, NftExpression::Payload { payload }
            if matches!(payload.protocol.as_deref(), Some("tcp" | "th"))
                && payload.field.as_deref() == Some("dport"))
    }

    /// A named set or map of `table`.
    fn named(&self, family: &str, table: &str, name: &str) -> Option<&'a nftables::NftSet> {
        self.ruleset
            .nftables
            .iter()
            .filter_map(|item| item.set.as_ref().or(item.map.as_ref()))
            .find(|set| set.family == family && set.table == table && set.name == name)
    }

    /// A match of a rule in `family`/`table`, its `@name` right-hand side
    /// replaced by the named set's elements.
    fn evaluate_in(&self, matched: &NftMatch, family: &str, table: &str) -> Tri {
        let NftExpression::Text(reference) = &matched.right else { return self.evaluate(matched) };
        let Some(set) = reference.strip_prefix('@').and_then(|n| self.named(family, table, n))
        else {
            return self.evaluate(matched);
        };
        let elements = set.elem.iter().map(element).collect();
        let resolved = NftMatch { right: NftExpression::List(elements), ..matched.clone() };
        self.evaluate(&resolved)
    }

    fn evaluate(&self, matched: &NftMatch) -> Tri {
        let result = match self.field(&matched.left) {
            Field::Absent => return Tri::No,
            Field::Unknown => Tri::Maybe,
            Field::Text(value) => compare_text(&value, &matched.right),
            Field::Number(value) => compare_number(value, &matched.right),
            Field::Address(value) => compare_address(value, &matched.right),
            Field::PortIn(low, high) => compare_port_range(low, high, &matched.right),
        };
        if matched.op == "!=" {
            result.not()
        } else {
            result
        }
    }

    fn field(&self, left: &NftExpression) -> Field {
        let v4 = self.packet.destination.is_ipv4();
        match left {
            NftExpression::Meta { meta } => match meta.key.as_str() {
                "iif" | "iifname" if self.hook == Hook::Input => Field::Text("lo".into()),
                "oif" | "oifname" if self.hook == Hook::Output => Field::Text("lo".into()),
                "iif" | "iifname" | "oif" | "oifname" => Field::Absent,
                "l4proto" => Field::Text("tcp".into()),
                "protocol" => Field::Text(if v4 { "ip" } else { "ip6" }.into()),
                "nfproto" => Field::Text(if v4 { "ipv4" } else { "ipv6" }.into()),
                "iiftype" | "oiftype" => Field::Text("loopback".into()),
                // The socket's owner is known on the way out only: loopback
                // orphans the packet before it comes back in, and a rule on
                // an absent socket does not match.
                "skuid" | "skgid" if self.hook == Hook::Input => Field::Absent,
                "skuid" => self
                    .packet
                    .owner
                    .map_or(Field::Unknown, |(uid, _)| Field::Number(u64::from(uid))),
                "skgid" => self
                    .packet
                    .owner
                    .map_or(Field::Unknown, |(_, gid)| Field::Number(u64::from(gid))),
                _ => Field::Unknown,
            },
            NftExpression::Ct { ct } => match ct.key.as_str() {
                // The first answer of a connection is `established` (its
                // `ctinfo` is IP_CT_ESTABLISHED_REPLY).
                "state" if self.packet.established => Field::Text("established".into()),
                "state" => Field::Text("new".into()),
                _ => Field::Unknown,
            },
            NftExpression::Payload { payload } => {
                let protocol = payload.protocol.as_deref().unwrap_or("");
                let field = payload.field.as_deref().unwrap_or("");
                match (protocol, field) {
                    ("ip", _) if !v4 => Field::Absent,
                    ("ip6", _) if v4 => Field::Absent,
                    ("ip" | "ip6", "saddr") => Field::Address(self.packet.source),
                    ("ip" | "ip6", "daddr") => Field::Address(self.packet.destination),
                    ("ip", "protocol") | ("ip6", "nexthdr") => Field::Text("tcp".into()),
                    ("udp" | "sctp" | "dccp", _) => Field::Absent,
                    ("tcp" | "th", "dport") => match self.packet.reply {
                        Some((low, high)) => Field::PortIn(low, high),
                        None => Field::Number(u64::from(self.packet.port)),
                    },
                    ("tcp" | "th", "sport") if self.packet.reply.is_some() => {
                        Field::Number(u64::from(self.packet.port))
                    }
                    _ => Field::Unknown,
                }
            }
            _ => Field::Unknown,
        }
    }
}

/// A `redirect` or `dnat` rule of an `output` nat chain that sends the
/// loopback connection somewhere else: locally generated connections get
/// their destination from the output hook (prerouting never sees their
/// first packet for NAT), so only that hook is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    /// False when a condition could not be evaluated.
    pub certain: bool,
    /// The rule as `nft list` prints it.
    pub text: String,
    /// Where the connection goes: address and first port; `None` where the
    /// rule computes it (a map, a named set).
    pub to: Option<std::net::SocketAddr>,
    /// Set when the rule gives a port range (`:7000-7010`): the last port.
    pub last_port: Option<u16>,
}

impl Rewrite {
    /// `ip nat output handle 3: tcp dport 7001 redirect to :7999`.
    pub fn describe(&self) -> String {
        let maybe = if self.certain { "" } else { " (may match)" };
        format!(
            "{} {} {} handle {}: {}{maybe}",
            self.family, self.table, self.chain, self.handle, self.text
        )
    }

    /// The command that deletes the rule.
    pub fn removal(&self) -> String {
        let edit = NftEdit::DeleteRule { chain: &self.chain, handle: self.handle };
        nft_command(&self.family, &self.table, edit)
    }
}

/// The first `redirect`/`dnat` of the `output` nat chains (in priority
/// order) whose conditions `packet` may meet; `accept` and `return` in a
/// nat chain end the chain without a rewrite.
pub fn nft_rewrite(ruleset: &NftRuleset, text: &str, packet: &Packet) -> Option<Rewrite> {
    let texts = rule_texts(text);
    let chains = output_chains(ruleset, packet, "nat", &[]);
    let walk = Walk { packet, hook: Hook::Output, ruleset, texts: &texts };
    chains.iter().find_map(|chain| walk.rewrite_in(&chain.family, &chain.table, &chain.name, 0))
}

/// The base chains of type `kind` on the `output` hook that see `packet`
/// (its family's and `inet`), in priority order; tables in `skip` left out.
fn output_chains<'a>(
    ruleset: &'a NftRuleset,
    packet: &Packet,
    kind: &str,
    skip: &[(String, String)],
) -> Vec<&'a NftChain> {
    let v4 = packet.destination.is_ipv4();
    let mut chains: Vec<&NftChain> = ruleset
        .nftables
        .iter()
        .filter_map(|item| item.chain.as_ref())
        .filter(|chain| chain.kind.as_deref() == Some(kind))
        .filter(|chain| chain.hook.as_deref() == Some("output"))
        .filter(|chain| !skip.iter().any(|(f, t)| *f == chain.family && *t == chain.table))
        .filter(|chain| match chain.family.as_str() {
            "inet" => true,
            "ip" => v4,
            "ip6" => !v4,
            _ => false,
        })
        .collect();
    chains.sort_by_key(|chain| chain.prio.unwrap_or(0));
    chains
}

/// A rule of a `type route` output chain that sets the mark of the
/// loopback SYN (`meta mark set 0x1`, or iptables' `-j MARK --set-mark 1`
/// in mangle OUTPUT, which iptables-nft writes the same way). The kernel
/// routes a packet whose mark changed there again (`ip_route_me_harder`),
/// and policy-routing rules that select by `fwmark` meet it then, after
/// the connect's own lookups found table local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkSetter {
    /// `None` for an nft rule; for a rule read from an `iptables-save`
    /// dump, the tool that edits it (`iptables-nft`, `iptables-legacy`).
    pub tool: Option<&'static str>,
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    /// Its place in its chain, from 1: iptables' rule number.
    pub position: usize,
    /// The mark the packet leaves with.
    pub mark: u32,
    /// False when a condition could not be evaluated.
    pub certain: bool,
    /// The rule as `nft list` prints it.
    pub text: String,
    /// Whether a condition of the rule holds the packet to loopback only
    /// (`ip daddr 127.0.0.1`, `oif lo`): deleting the rule then changes
    /// nothing for other traffic.
    pub loopback_only: bool,
}

impl MarkSetter {
    /// `inet m out handle 2: ip daddr 127.0.0.1 meta mark set 0x00000001`,
    /// `iptables-nft: ip mangle OUTPUT rule 1: -A OUTPUT -d 127.0.0.1/32 …`.
    pub fn describe(&self) -> String {
        let maybe = if self.certain { "" } else { " (may match)" };
        let (family, table, chain) = (&self.family, &self.table, &self.chain);
        match self.tool {
            None => {
                format!("{family} {table} {chain} handle {}: {}{maybe}", self.handle, self.text)
            }
            Some(tool) => format!(
                "{tool}: {family} {table} {chain} rule {}: {}{maybe}",
                self.position, self.text
            ),
        }
    }

    /// The command that stops the rule marking loopback traffic: deleting
    /// it when it marks nothing else, else a `return` for `lo` inserted in
    /// front of it, so other traffic keeps its mark. An iptables rule is
    /// edited with the tool that owns it, by rule number.
    pub fn removal(&self) -> String {
        let (family, table, chain) = (&self.family, &self.table, &self.chain);
        let chain_word = crate::shell::printable_word(chain);
        match (self.tool, self.loopback_only) {
            (Some(tool), true) => format!("{tool} -t {table} -D {chain_word} {}", self.position),
            (Some(tool), false) => {
                format!("{tool} -t {table} -I {chain_word} {} -o lo -j RETURN", self.position)
            }
            (None, true) => {
                nft_command(family, table, NftEdit::DeleteRule { chain, handle: self.handle })
            }
            (None, false) => nft_command(
                family,
                table,
                NftEdit::InsertRule {
                    chain,
                    position: Some(self.handle),
                    body: RuleBody::LoReturn,
                },
            ),
        }
    }
}

/// A change [`nft_command`] makes to a table.
#[derive(Debug, Clone, Copy)]
enum NftEdit<'a> {
    /// Delete rule `handle` of `chain`.
    DeleteRule { chain: &'a str, handle: u64 },
    /// Insert `body` in `chain`: in front of rule `position`, or at the
    /// top of the chain.
    InsertRule { chain: &'a str, position: Option<u64>, body: RuleBody },
    /// Delete one element of the set or map `set`: `key` as the command
    /// line writes it, `element` as JSON does.
    DeleteElement { set: &'a str, key: &'a str, element: &'a serde_json::Value },
}

/// A rule a fix inserts.
#[derive(Debug, Clone, Copy)]
enum RuleBody {
    /// `oif lo return`: loopback leaves the chain before the rule.
    LoReturn,
    /// `iif lo accept` (`oif` on the way out), for `tcp dport PORT` only
    /// when a port is given.
    LoAccept { device: &'static str, port: Option<u16> },
    /// `ct state established,related accept`: a connection's answers.
    AnswersAccept,
}

impl RuleBody {
    /// The rule as nft's command line writes it.
    fn text(self) -> String {
        match self {
            RuleBody::LoReturn => "oif lo return".to_string(),
            RuleBody::LoAccept { device, port: Some(port) } => {
                format!("{device} lo tcp dport {port} accept")
            }
            RuleBody::LoAccept { device, port: None } => format!("{device} lo accept"),
            RuleBody::AnswersAccept => "ct state established,related accept".to_string(),
        }
    }

    /// The rule's expressions in nft's JSON.
    fn expressions(self) -> serde_json::Value {
        let lo = |device: &str| {
            serde_json::json!({ "match": { "op": "==",
                "left": { "meta": { "key": device } }, "right": "lo" } })
        };
        match self {
            RuleBody::LoReturn => serde_json::json!([lo("oif"), { "return": null }]),
            RuleBody::LoAccept { device, port } => {
                let mut expressions = vec![lo(device)];
                if let Some(port) = port {
                    expressions.push(serde_json::json!({ "match": { "op": "==",
                        "left": { "payload": { "protocol": "tcp", "field": "dport" } },
                        "right": port } }));
                }
                expressions.push(serde_json::json!({ "accept": null }));
                serde_json::Value::Array(expressions)
            }
            RuleBody::AnswersAccept => serde_json::json!([
                { "match": { "op": "in", "left": { "ct": { "key": "state" } },
                    "right": ["established", "related"] } },
                { "accept": null }
            ]),
        }
    }
}

/// Whether nft's command line reads `name` as a table or chain name: its
/// scanner's identifier (a letter or `_`, then letters, digits and
/// `/-_.`). Names made through nft's JSON input may hold anything (a
/// blank, `;`, `$`, a control character), and nft 1.0.6 takes no quoted
/// table or chain name.
fn nft_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
}

/// The nft command for `edit` in `family table`: nft's command line where
/// it reads the names, else the same command as nft's JSON input
/// (`printf '%s\n' '{"nftables":[…]}' | nft -j -f -`), which takes any
/// name, the JSON as one shell word.
fn nft_command(family: &str, table: &str, edit: NftEdit<'_>) -> String {
    let inner = match edit {
        NftEdit::DeleteRule { chain, .. } | NftEdit::InsertRule { chain, .. } => chain,
        NftEdit::DeleteElement { set, .. } => set,
    };
    if [family, table, inner].into_iter().all(nft_plain_name) {
        return match edit {
            NftEdit::DeleteRule { chain, handle } => {
                format!("nft delete rule {family} {table} {chain} handle {handle}")
            }
            NftEdit::InsertRule { chain, position: Some(handle), body } => format!(
                "nft insert rule {family} {table} {chain} position {handle} {}",
                body.text()
            ),
            NftEdit::InsertRule { chain, position: None, body } => {
                format!("nft insert rule {family} {table} {chain} {}", body.text())
            }
            NftEdit::DeleteElement { set, key, .. } => {
                format!("nft delete element {family} {table} {set} {{ {key} }}")
            }
        };
    }
    let command = match edit {
        NftEdit::DeleteRule { chain, handle } => serde_json::json!({ "delete": { "rule": {
            "family": family, "table": table, "chain": chain, "handle": handle } } }),
        NftEdit::InsertRule { chain, position, body } => {
            let mut rule = serde_json::json!({ "family": family, "table": table,
                "chain": chain, "expr": body.expressions() });
            // Without a handle, `insert` puts the rule at the chain's top.
            if let Some(handle) = position {
                rule["handle"] = serde_json::json!(handle);
            }
            serde_json::json!({ "insert": { "rule": rule } })
        }
        NftEdit::DeleteElement { set, element, .. } => serde_json::json!({ "delete": {
            "element": { "family": family, "table": table, "name": set, "elem": [element] } } }),
    };
    let input = serde_json::json!({ "nftables": [command] }).to_string();
    format!("printf '%s\\n' {} | nft -j -f -", crate::shell::printable_word(&input))
}

/// The last rule of the `type route` output chains (in priority order)
/// that sets a constant mark on `packet`: the mark it leaves with. Jumps
/// are not followed; a certain `accept` or `return` ends a chain. Tables in
/// `skip` (those iptables-nft manages, whose `-j MARK` nft shows as an
/// opaque `xt` target) are read by [`legacy_mark_setter`] instead.
pub fn nft_mark_setter(
    ruleset: &NftRuleset,
    text: &str,
    packet: &Packet,
    skip: &[(String, String)],
) -> Option<MarkSetter> {
    let texts = rule_texts(text);
    let chains = output_chains(ruleset, packet, "route", skip);
    let walk = Walk { packet, hook: Hook::Output, ruleset, texts: &texts };
    let mut found = None;
    for chain in chains {
        let (family, table, name) = (&chain.family, &chain.table, &chain.name);
        'rules: for (index, rule) in walk.rules_of(family, table, name).into_iter().enumerate() {
            let mut condition = Tri::Yes;
            let mut loopback_only = false;
            for statement in &rule.expr {
                if let Some(matched) = &statement.matches {
                    condition = condition.and(walk.evaluate_in(matched, family, table));
                    loopback_only |= holds_loopback_only(matched);
                }
                if statement.xt.is_some() || statement.counts_traffic() {
                    condition = condition.and(Tri::Maybe);
                }
                if condition == Tri::No {
                    continue 'rules;
                }
                let certain = condition == Tri::Yes;
                let mark = statement.mangle.as_ref().filter(|mangle| {
                    matches!(&mangle.key, NftExpression::Meta { meta } if meta.key == "mark")
                });
                if let Some(mangle) = mark {
                    // A computed mark (`mark or 0x1`) is not followed.
                    let Some(mark) = mangle.value.as_u64().and_then(|m| u32::try_from(m).ok())
                    else {
                        continue;
                    };
                    let key = (family.clone(), table.clone(), name.clone(), rule.handle);
                    found = Some(MarkSetter {
                        tool: None,
                        family: family.clone(),
                        table: table.clone(),
                        chain: name.clone(),
                        handle: rule.handle,
                        position: index + 1,
                        mark,
                        certain,
                        text: texts
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| format!("rule with handle {}", rule.handle)),
                        loopback_only,
                    });
                }
                if (statement.accept.is_some() || statement.return_.is_some()) && certain {
                    break 'rules;
                }
            }
        }
    }
    found
}

/// The last rule of mangle OUTPUT in an `iptables-save` dump of `tool`
/// that sets a constant mark on `packet` (`-j MARK --set-xmark 0x1/0xffffffff`,
/// as iptables-save prints `--set-mark 1`); user chains are not followed.
pub fn legacy_mark_setter(tool: &'static str, dump: &str, packet: &Packet) -> Option<MarkSetter> {
    let family = if tool.starts_with("ip6") { "ip6" } else { "ip" };
    if (family == "ip") != packet.destination.is_ipv4() {
        return None;
    }
    let rules = iptables::table(dump, "mangle").rules;
    let mut found = None;
    for (index, rule) in rules.iter().filter(|rule| rule.chain == "OUTPUT").enumerate() {
        let words = &rule.words;
        let (condition, target) = legacy_rule(words, Hook::Output, packet);
        if condition == Tri::No {
            continue;
        }
        let certain = condition == Tri::Yes;
        match target.as_deref() {
            Some("MARK") => {
                let value = |flag: &str| {
                    let at = words.iter().position(|w| w == flag)?;
                    words.get(at + 1).map(String::as_str)
                };
                // Only a mark set whole (a full mask) is a constant.
                let Some(spec) = value("--set-xmark").or(value("--set-mark")) else { continue };
                let (mark, mask) = spec.split_once('/').unwrap_or((spec, "0xffffffff"));
                let number = |text: &str| match text.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => text.parse().ok(),
                };
                let (Some(mark), Some(u32::MAX)) = (number(mark), number(mask)) else { continue };
                let to_loopback = |flag: &str| {
                    value(flag).is_some_and(|text| {
                        let (address, length) = text.split_once('/').unwrap_or((text, "32"));
                        let loopback = address.parse().is_ok_and(crate::model::is_loopback);
                        let minimum = if address.contains(':') { 128 } else { 8 };
                        loopback && length.parse::<u8>().is_ok_and(|l| l >= minimum)
                    })
                };
                let negated = words.iter().any(|w| w == "!");
                let loopback_only =
                    !negated && (to_loopback("-d") || value("-o").is_some_and(|d| d == "lo"));
                found = Some(MarkSetter {
                    tool: Some(tool),
                    family: family.to_string(),
                    table: "mangle".into(),
                    chain: "OUTPUT".into(),
                    handle: index as u64 + 1,
                    position: index + 1,
                    mark,
                    certain,
                    text: rule.text(),
                    loopback_only,
                });
            }
            Some("ACCEPT" | "RETURN") if certain => break,
            _ => {}
        }
    }
    found
}

/// Whether `matched` holds only loopback packets: `oif lo` (`oifname`),
/// or a destination address whose every value is a loopback address.
fn holds_loopback_only(matched: &NftMatch) -> bool {
    if matched.op != "==" {
        return false;
    }
    match &matched.left {
        NftExpression::Meta { meta } if matches!(meta.key.as_str(), "oif" | "oifname") => {
            matches!(&matched.right, NftExpression::Text(device) if device == "lo")
        }
        NftExpression::Payload { payload } if payload.field.as_deref() == Some("daddr") => {
            let loopback = |expression: &NftExpression| match expression {
                NftExpression::Text(text) => {
                    text.parse().is_ok_and(|ip: IpAddr| crate::model::is_loopback(ip))
                }
                NftExpression::Prefix { prefix } => {
                    let network = prefix.addr.parse().is_ok_and(crate::model::is_loopback);
                    network && prefix.len >= if prefix.addr.contains(':') { 128 } else { 8 }
                }
                _ => false,
            };
            let values = elements(&matched.right);
            !values.is_empty() && values.into_iter().all(loopback)
        }
        _ => false,
    }
}

impl Walk<'_> {
    /// The rewrite a nat chain applies to the packet, following jumps.
    fn rewrite_in(&self, family: &str, table: &str, name: &str, depth: usize) -> Option<Rewrite> {
        if depth > 8 {
            return None;
        }
        for rule in self.rules_of(family, table, name) {
            let mut condition = Tri::Yes;
            for statement in &rule.expr {
                if let Some(matched) = &statement.matches {
                    condition = condition.and(self.evaluate_in(matched, family, table));
                }
                if statement.xt.is_some() {
                    condition = condition.and(Tri::Maybe);
                }
                if condition == Tri::No {
                    break;
                }
                let certain = condition == Tri::Yes;
                let nat = match (&statement.redirect, &statement.dnat) {
                    (Some(arguments), _) => Some((true, arguments)),
                    (None, Some(arguments)) => Some((false, arguments)),
                    (None, None) => None,
                };
                let other_family = |arguments: &Option<NftNat>| {
                    let family = arguments.as_ref().and_then(|a| a.family.as_deref());
                    let v4 = self.packet.destination.is_ipv4();
                    matches!((family, v4), (Some("ip"), false) | (Some("ip6"), true))
                };
                if let Some((redirect, arguments)) = nat.filter(|(_, a)| !other_family(a)) {
                    let (to, last_port) = self.destination(redirect, arguments.as_ref());
                    let key =
                        (family.to_string(), table.to_string(), name.to_string(), rule.handle);
                    return Some(Rewrite {
                        family: family.to_string(),
                        table: table.to_string(),
                        chain: name.to_string(),
                        handle: rule.handle,
                        certain,
                        text: self
                            .texts
                            .get(&key)
                            .cloned()
                            .unwrap_or_else(|| format!("rule with handle {}", rule.handle)),
                        to,
                        last_port,
                    });
                }
                if let Some(jump) = statement.jump.as_ref().or(statement.goto.as_ref()) {
                    if let Some(found) = self.rewrite_in(family, table, &jump.target, depth + 1) {
                        return Some(Rewrite { certain: found.certain && certain, ..found });
                    }
                    if statement.goto.is_some() && certain {
                        return None;
                    }
                } else if (statement.accept.is_some() || statement.return_.is_some()) && certain {
                    return None;
                }
            }
        }
        None
    }

    /// Where a `redirect` (to this host's loopback address) or `dnat`
    /// sends the packet; the port stays when the rule names none.
    fn destination(
        &self,
        redirect: bool,
        arguments: Option<&NftNat>,
    ) -> (Option<std::net::SocketAddr>, Option<u16>) {
        let address = match arguments.and_then(|a| a.addr.as_ref()) {
            // A redirect of a locally generated packet goes to loopback.
            _ if redirect && self.packet.destination.is_ipv4() => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            _ if redirect => Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
            None => Some(self.packet.destination),
            Some(serde_json::Value::String(text)) => text.parse::<IpAddr>().ok(),
            Some(_) => None,
        };
        let port = |value: &serde_json::Value| value.as_u64().and_then(|p| u16::try_from(p).ok());
        let (first, last) = match arguments.and_then(|a| a.port.as_ref()) {
            None => (Some(self.packet.port), None),
            Some(serde_json::Value::Object(object)) => match object.get("range") {
                Some(serde_json::Value::Array(bounds)) if bounds.len() == 2 => {
                    (port(&bounds[0]), port(&bounds[1]))
                }
                _ => (None, None),
            },
            Some(value) => (port(value), None),
        };
        match (address, first) {
            (Some(address), Some(first)) => (Some(std::net::SocketAddr::new(address, first)), last),
            _ => (None, None),
        }
    }
}

enum Field {
    /// The packet has no such field at this hook (iif in output, ip on v6).
    Absent,
    Unknown,
    Text(String),
    Number(u64),
    Address(IpAddr),
    /// A port known only to be within this range (a client's source port).
    PortIn(u16, u16),
}

fn elements(right: &NftExpression) -> Vec<&NftExpression> {
    match right {
        NftExpression::Set { set } => set.iter().collect(),
        NftExpression::List(list) => list.iter().collect(),
        other => vec![other],
    }
}

fn compare_text(value: &str, right: &NftExpression) -> Tri {
    let mut result = Tri::No;
    for element in elements(right) {
        match element {
            NftExpression::Text(text) if text.starts_with('@') => result = Tri::Maybe,
            NftExpression::Text(text) if text == value => return Tri::Yes,
            // Interface or protocol numbers (`meta l4proto 6`).
            NftExpression::Number(6) if value == "tcp" => return Tri::Yes,
            NftExpression::Text(_) | NftExpression::Number(_) => {}
            _ => result = Tri::Maybe,
        }
    }
    result
}

fn compare_number(value: u64, right: &NftExpression) -> Tri {
    let mut result = Tri::No;
    for element in elements(right) {
        match element {
            NftExpression::Number(number) if *number == value => return Tri::Yes,
            NftExpression::Range { range } => match range.as_slice() {
                [NftExpression::Number(low), NftExpression::Number(high)]
                    if *low <= value && value <= *high =>
                {
                    return Tri::Yes
                }
                [NftExpression::Number(_), NftExpression::Number(_)] => {}
                _ => result = Tri::Maybe,
            },
            NftExpression::Number(_) => {}
            // Service names (`tcp dport http`) and named sets.
            _ => result = Tri::Maybe,
        }
    }
    result
}

/// A port somewhere in `low..=high` against the right-hand side: `Yes`
/// when every port of the range matches, `No` when none does.
fn compare_port_range(low: u16, high: u16, right: &NftExpression) -> Tri {
    let (low, high) = (u64::from(low), u64::from(high));
    let mut result = Tri::No;
    for element in elements(right) {
        match element {
            NftExpression::Number(number) if (low..=high).contains(number) => result = Tri::Maybe,
            NftExpression::Number(_) => {}
            NftExpression::Range { range } => match range.as_slice() {
                [NftExpression::Number(first), NftExpression::Number(last)] => {
                    if *first <= low && high <= *last {
                        return Tri::Yes;
                    }
                    if *last >= low && *first <= high {
                        result = Tri::Maybe;
                    }
                }
                _ => result = Tri::Maybe,
            },
            _ => result = Tri::Maybe,
        }
    }
    result
}

fn compare_address(value: IpAddr, right: &NftExpression) -> Tri {
    let mut result = Tri::No;
    for element in elements(right) {
        match element {
            NftExpression::Text(text) => match text.parse::<IpAddr>() {
                Ok(address) if address == value => return Tri::Yes,
                Ok(_) => {}
                Err(_) => result = Tri::Maybe,
            },
            NftExpression::Prefix { prefix } => match prefix.addr.parse::<IpAddr>() {
                Ok(network) if in_prefix(value, network, prefix.len) => return Tri::Yes,
                Ok(_) => {}
                Err(_) => result = Tri::Maybe,
            },
            NftExpression::Range { range } => match range.as_slice() {
                [NftExpression::Text(low), NftExpression::Text(high)] => {
                    match (low.parse::<IpAddr>(), high.parse::<IpAddr>()) {
                        (Ok(low), Ok(high)) if low <= value && value <= high => return Tri::Yes,
                        (Ok(_), Ok(_)) => {}
                        _ => result = Tri::Maybe,
                    }
                }
                _ => result = Tri::Maybe,
            },
            _ => result = Tri::Maybe,
        }
    }
    result
}

/// An address set's element that holds `address`, as `nft` writes it
/// (`127.0.0.1`, `127.0.0.0/8`, `127.0.0.1-127.0.0.9`).
fn address_element(element: &NftExpression, address: IpAddr) -> Option<String> {
    match element {
        NftExpression::Text(text) => {
            (text.parse::<IpAddr>().ok()? == address).then(|| text.clone())
        }
        NftExpression::Prefix { prefix } => {
            let network = prefix.addr.parse::<IpAddr>().ok()?;
            in_prefix(address, network, prefix.len)
                .then(|| format!("{}/{}", prefix.addr, prefix.len))
        }
        NftExpression::Range { range } => match range.as_slice() {
            [NftExpression::Text(low), NftExpression::Text(high)] => {
                let (start, end) = (low.parse::<IpAddr>().ok()?, high.parse::<IpAddr>().ok()?);
                (start <= address && address <= end).then(|| format!("{low}-{high}"))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `address` is inside `network/length` (same family only).
pub fn in_prefix(address: IpAddr, network: IpAddr, length: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let length = u32::from(length.min(32));
            let mask = if length == 0 { 0 } else { u32::MAX << (32 - length) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let length = u32::from(length.min(128));
            let mask = if length == 0 { 0 } else { u128::MAX << (128 - length) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn reject_text(spec: &NftReject) -> String {
    match (&spec.kind, &spec.expr) {
        (Some(kind), Some(expr)) => format!("{kind} {expr}"),
        (Some(kind), None) => kind.clone(),
        (None, Some(expr)) => expr.clone(),
        (None, None) => String::new(),
    }
}

/// Walks the text listing of `nft -a list ruleset`, calling `visit` with
/// the `(family, table, chain)` each line stands in and the line trimmed.
/// The JSON listing leaves out what the two readers below need.
fn walk_listing(text: &str, mut visit: impl FnMut(&(String, String, String), &str)) {
    let mut place = (String::new(), String::new(), String::new());
    for line in text.lines() {
        let line = line.trim();
        let body = line.split(" # handle").next().unwrap_or(line).trim();
        match body.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["table", family, name, "{"] => {
                place.0 = family.to_string();
                place.1 = name.to_string();
            }
            ["chain", name, "{"] => place.2 = name.to_string(),
            _ => {}
        }
        visit(&place, line);
    }
}

/// The devices of each ingress and egress chain, from the `type filter
/// hook ingress device "lo"` (or `devices = { "lo", "eth0" }`) line of the
/// text listing: `nft -j` (1.0.6) leaves them out.
fn hook_devices(text: &str) -> HashMap<(String, String, String), Vec<String>> {
    let mut devices = HashMap::new();
    walk_listing(text, |place, line| {
        let body = line.split(" # handle").next().unwrap_or(line).trim();
        if !matches!(
            body.split_whitespace().collect::<Vec<_>>().as_slice(),
            ["type", _, "hook", "ingress" | "egress", ..]
        ) {
            return;
        }
        let list = match body.split_once(" device ") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap_or("").to_string(),
            None => body
                .split_once("devices = {")
                .and_then(|(_, rest)| rest.split_once('}'))
                .map_or_else(String::new, |(list, _)| list.to_string()),
        };
        let names = list
            .split(',')
            .map(|name| name.trim().trim_matches(['"', ';']).to_string())
            .filter(|name| !name.is_empty())
            .collect();
        devices.insert(place.clone(), names);
    });
    devices
}

/// `(family, table, chain, handle)` → rule text from `nft -a list ruleset`.
fn rule_texts(text: &str) -> HashMap<(String, String, String, u64), String> {
    let mut texts = HashMap::new();
    walk_listing(text, |(family, table, chain), line| {
        let Some((body, handle)) = line.rsplit_once("# handle ") else { return };
        let body = body.trim();
        let is_header = matches!(
            body.split_whitespace().collect::<Vec<_>>().as_slice(),
            ["table", _, _, "{"] | ["chain", _, "{"]
        );
        if let (false, Ok(handle)) = (is_header, handle.trim().parse::<u64>()) {
            texts.insert((family.clone(), table.clone(), chain.clone(), handle), body.to_string());
        }
    });
    texts
}

/// The built-in chains a loopback packet passes, in order, with the hook
/// whose fields they see: out through `OUTPUT` and `POSTROUTING`, back in
/// through `PREROUTING` and `INPUT`. The `nat` table rewrites rather than
/// filters (see [`Rewrite`]); every other table can drop.
const LEGACY_CHAINS: [(&str, &str, Hook); 10] = [
    ("raw", "OUTPUT", Hook::Output),
    ("mangle", "OUTPUT", Hook::Output),
    ("filter", "OUTPUT", Hook::Output),
    ("security", "OUTPUT", Hook::Output),
    ("mangle", "POSTROUTING", Hook::Output),
    ("raw", "PREROUTING", Hook::Input),
    ("mangle", "PREROUTING", Hook::Input),
    ("mangle", "INPUT", Hook::Input),
    ("filter", "INPUT", Hook::Input),
    ("security", "INPUT", Hook::Input),
];

/// Rules of an `iptables-save` dump that stop `packet`, in the order the
/// packet meets their chains.
pub fn legacy_blockers(source: &'static str, dump: &str, packet: &Packet) -> Vec<Blocker> {
    let family = if source.starts_with("ip6") { "ip6" } else { "ip" };
    if (family == "ip") != packet.destination.is_ipv4() {
        return Vec::new();
    }
    let mut tables: BTreeMap<&str, IptablesTable> = BTreeMap::new();
    let mut blockers = Vec::new();
    for (table, chain, hook) in LEGACY_CHAINS {
        let IptablesTable { policies, rules } =
            tables.entry(table).or_insert_with(|| iptables::table(dump, table));
        match legacy_chain(rules, policies, (table, chain), hook, packet, 0) {
            Verdict::Blocked(mut blocker) => {
                blocker.source = source;
                blocker.family = family.to_string();
                blockers.push(blocker);
            }
            Verdict::Continue(maybe) if policies.get(chain).map(String::as_str) == Some("DROP") => {
                blockers.push(Blocker {
                    action: Action::Drop,
                    source,
                    family: family.to_string(),
                    table: table.into(),
                    chain: chain.into(),
                    handle: None,
                    certain: !maybe,
                    text: format!(":{chain} DROP (no rule accepts this packet)"),
                    lookup: None,
                });
            }
            _ => {}
        }
    }
    blockers
}

/// Walks `chain` of `table` (`place`), following jumps to user chains.
fn legacy_chain(
    rules: &[IptablesRule],
    policies: &BTreeMap<String, String>,
    (table, chain): (&str, &str),
    hook: Hook,
    packet: &Packet,
    depth: usize,
) -> Verdict {
    if depth > 8 {
        return Verdict::Continue(true);
    }
    let mut maybe_accepted = false;
    for (number, rule) in rules.iter().filter(|rule| rule.chain == chain).enumerate() {
        let words = &rule.words;
        let (condition, target) = legacy_rule(words, hook, packet);
        if condition == Tri::No {
            continue;
        }
        let certain = condition == Tri::Yes;
        match target.as_deref() {
            Some("ACCEPT") if certain => return Verdict::Accepted,
            Some("ACCEPT") => maybe_accepted = true,
            Some(verdict @ ("DROP" | "REJECT")) if certain || !maybe_accepted => {
                let with = words
                    .iter()
                    .position(|w| w == "--reject-with")
                    .and_then(|i| words.get(i + 1))
                    .cloned();
                return Verdict::Blocked(Blocker {
                    action: if verdict == "DROP" { Action::Drop } else { Action::Reject(with) },
                    source: "iptables",
                    family: String::new(),
                    table: table.into(),
                    chain: chain.to_string(),
                    handle: Some(number as u64 + 1),
                    certain,
                    text: rule.text(),
                    lookup: None,
                });
            }
            Some("RETURN") if certain => return Verdict::Continue(maybe_accepted),
            // A user chain: `iptables-save` lists it as `:NAME - [0:0]`,
            // with `-` where a built-in chain has its policy.
            Some(other)
                if policies.get(other).is_some_and(|policy| policy == "-")
                    || (!policies.contains_key(other)
                        && rules.iter().any(|r| r.chain == other)) =>
            {
                match legacy_chain(rules, policies, (table, other), hook, packet, depth + 1) {
                    Verdict::Blocked(mut blocker) => {
                        blocker.certain &= certain;
                        return Verdict::Blocked(blocker);
                    }
                    Verdict::Accepted if certain => return Verdict::Accepted,
                    Verdict::Accepted => maybe_accepted = true,
                    Verdict::Continue(maybe) => maybe_accepted |= maybe,
                }
            }
            _ => {}
        }
    }
    Verdict::Continue(maybe_accepted)
}

/// Evaluates the conditions of one `iptables-save` rule; returns the
/// condition and the `-j` target.
fn legacy_rule(words: &[String], hook: Hook, packet: &Packet) -> (Tri, Option<String>) {
    let mut condition = Tri::Yes;
    let mut target = None;
    let mut negate = false;
    let mut index = 0;
    while index < words.len() {
        let word = words[index].as_str();
        let value = words.get(index + 1).map(String::as_str).unwrap_or("");
        let mut result = None;
        let mut consumed = 2;
        match word {
            "!" => {
                negate = true;
                index += 1;
                continue;
            }
            "-i" | "--in-interface" => {
                result = Some(if hook == Hook::Input {
                    Tri::from(value == "lo" || value == "lo+")
                } else {
                    Tri::No
                })
            }
            "-o" | "--out-interface" => {
                result = Some(if hook == Hook::Output {
                    Tri::from(value == "lo" || value == "lo+")
                } else {
                    Tri::No
                })
            }
            "-p" | "--protocol" => result = Some(Tri::from(matches!(value, "tcp" | "6" | "all"))),
            "--dport" | "--destination-port" => {
                result = Some(match packet.reply {
                    Some(range) => ports_match_range(value, range),
                    None => port_match(value, packet.port),
                })
            }
            "--dports" | "--destination-ports" => {
                result = Some(match packet.reply {
                    Some(range) => value.split(',').map(|p| ports_match_range(p, range)).fold(
                        Tri::No,
                        |found, next| match (found, next) {
                            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
                            (Tri::Maybe, _) | (_, Tri::Maybe) => Tri::Maybe,
                            _ => Tri::No,
                        },
                    ),
                    None => {
                        Tri::from(value.split(',').any(|p| port_match(p, packet.port) == Tri::Yes))
                    }
                })
            }
            "--sport" | "--source-port" => {
                result = Some(match packet.reply {
                    Some(_) => port_match(value, packet.port),
                    None => Tri::Maybe,
                })
            }
            // `-m owner` matches the local socket, on the way out only.
            "--uid-owner" | "--gid-owner" if hook == Hook::Input => result = Some(Tri::No),
            "--uid-owner" => result = Some(owner_match(value, packet.owner.map(|(uid, _)| uid))),
            "--gid-owner" => result = Some(owner_match(value, packet.owner.map(|(_, gid)| gid))),
            "-s" | "--source" => result = Some(address_match(value, packet.source)),
            "-d" | "--destination" => result = Some(address_match(value, packet.destination)),
            "--state" | "--ctstate" => {
                let state = if packet.established { "ESTABLISHED" } else { "NEW" };
                result = Some(Tri::from(value.split(',').any(|s| s == state)))
            }
            "-m" | "--match" | "-c" => {
                consumed = if word == "-c" { 3 } else { 2 };
            }
            "-j" | "--jump" | "-g" | "--goto" => target = Some(value.to_string()),
            // The arguments of `-j MARK`, not conditions.
            "--reject-with" | "--comment" | "--set-xmark" | "--set-mark" => {}
            _ if word.starts_with("--") => result = Some(Tri::Maybe),
            _ => consumed = 1,
        }
        if let Some(mut tri) = result {
            if negate {
                tri = tri.not();
            }
            condition = condition.and(tri);
        }
        negate = false;
        index += consumed;
    }
    (condition, target)
}

/// An owner match's `ID` or `LOW-HIGH` against the socket's id; a user or
/// group name (iptables-save prints numbers) or an unknown owner is "maybe".
fn owner_match(text: &str, id: Option<u32>) -> Tri {
    let Some(id) = id else { return Tri::Maybe };
    let range = match text.split_once('-') {
        Some((low, high)) => low.parse::<u32>().ok().zip(high.parse::<u32>().ok()),
        None => text.parse::<u32>().ok().map(|one| (one, one)),
    };
    match range {
        Some((low, high)) => Tri::from((low..=high).contains(&id)),
        None => Tri::Maybe,
    }
}

fn port_match(text: &str, port: u16) -> Tri {
    let parsed = match text.split_once(':') {
        Some((low, high)) => {
            (low.parse::<u16>().unwrap_or(0), high.parse::<u16>().unwrap_or(u16::MAX))
        }
        None => match text.parse::<u16>() {
            Ok(value) => (value, value),
            Err(_) => return Tri::Maybe,
        },
    };
    Tri::from(parsed.0 <= port && port <= parsed.1)
}

/// A `PORT` or `LOW:HIGH` of iptables against a port known only to be in
/// `range`: `Yes` when it covers the whole range, `No` when it misses it.
fn ports_match_range(text: &str, (low, high): (u16, u16)) -> Tri {
    let (first, last) = match text.split_once(':') {
        Some((first, last)) => {
            (first.parse::<u16>().unwrap_or(0), last.parse::<u16>().unwrap_or(u16::MAX))
        }
        None => match text.parse::<u16>() {
            Ok(value) => (value, value),
            Err(_) => return Tri::Maybe,
        },
    };
    if first <= low && high <= last {
        Tri::Yes
    } else if last < low || first > high {
        Tri::No
    } else {
        Tri::Maybe
    }
}

fn address_match(text: &str, address: IpAddr) -> Tri {
    let (network, length) = match text.split_once('/') {
        Some((network, length)) => (network, length.parse::<u8>().ok()),
        None => (text, None),
    };
    let Ok(network) = network.parse::<IpAddr>() else { return Tri::Maybe };
    let length = length.unwrap_or(if network.is_ipv4() { 32 } else { 128 });
    Tri::from(in_prefix(address, network, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured with `nft -j list ruleset` / `nft -a list ruleset` (nftables
    // 1.0.6) from rules created in a private network namespace.
    const RULES_JSON: &str = include_str!("fixtures/rules.json");
    const RULES_TEXT: &str = include_str!("fixtures/rules.txt");
    const POLICY_JSON: &str = include_str!("fixtures/policy.json");
    const POLICY_TEXT: &str = include_str!("fixtures/policy.txt");

    #[test]
    fn rules_that_match_by_chance_or_count_stop_only_part_of_the_traffic() {
        let rule = |text: &str| Blocker {
            action: Action::Drop,
            source: "nftables",
            family: "inet".into(),
            table: "t".into(),
            chain: "input".into(),
            handle: Some(2),
            certain: false,
            text: text.into(),
            lookup: None,
        };
        let how = |text: &str| rule(text).partial();
        assert_eq!(
            how("tcp dport 80 numgen random mod 2 0 drop").unwrap(),
            "at random: `numgen random`"
        );
        assert!(how("-A INPUT -p tcp -m statistic --mode random --probability 0.5 -j DROP")
            .unwrap()
            .starts_with("at random"));
        assert!(how("tcp dport 80 limit rate over 2/second drop").unwrap().starts_with("by rate"));
        assert!(how("tcp dport 80 ct count over 4 drop").unwrap().contains("connections open"));
        assert_eq!(how("iif \"lo\" tcp dport 80 drop"), None);
        assert_eq!(how("meta skuid 1000 tcp dport 80 drop"), None);
    }

    #[test]
    fn a_port_known_only_by_its_range_matches_only_what_covers_the_range() {
        let number = NftExpression::Number;
        let range = |low, high| NftExpression::Range {
            range: vec![NftExpression::Number(low), NftExpression::Number(high)],
        };
        assert_eq!(compare_port_range(32768, 60999, &number(7001)), Tri::No);
        assert_eq!(compare_port_range(32768, 60999, &number(40000)), Tri::Maybe);
        assert_eq!(compare_port_range(32768, 60999, &range(1024, 65535)), Tri::Yes);
        assert_eq!(compare_port_range(32768, 60999, &range(1, 1023)), Tri::No);
        assert_eq!(compare_port_range(32768, 60999, &range(40000, 65535)), Tri::Maybe);
        assert_eq!(ports_match_range("7001", (32768, 60999)), Tri::No);
        assert_eq!(ports_match_range("1024:65535", (32768, 60999)), Tri::Yes);
        assert_eq!(ports_match_range("50000:", (32768, 60999)), Tri::Maybe);
        assert_eq!(ports_match_range("http", (32768, 60999)), Tri::Maybe);
    }

    fn packet(destination: &str, port: u16) -> Packet {
        let destination: IpAddr = destination.parse().unwrap();
        Packet {
            source: destination,
            destination,
            port,
            owner: Some((0, 0)),
            reply: None,
            established: false,
        }
    }

    fn blockers(json: &str, text: &str, destination: &str, port: u16) -> Vec<Blocker> {
        let ruleset: NftRuleset = serde_json::from_str(json).unwrap();
        nft_blockers(&ruleset, text, &packet(destination, port), &[])
    }

    #[test]
    fn the_last_constant_mark_of_a_route_chain_is_the_one_the_syn_leaves_with() {
        // Captured in a namespace: `inet m out` (route, -150) marks
        // 10.0.0.0/8 with 0x5 and 127.0.0.1 with 0x1, then ORs in 0x2;
        // `inet m later` (route, -100) marks port 9 with 0x7; `inet f o` is
        // a filter chain, whose mark leads to no new route lookup.
        let ruleset: NftRuleset =
            serde_json::from_str(include_str!("fixtures/marks.json")).unwrap();
        let text = include_str!("fixtures/marks.txt");
        let found = nft_mark_setter(&ruleset, text, &packet("127.0.0.1", 80), &[]).unwrap();
        assert_eq!((found.handle, found.position, found.mark), (4, 2, 1));
        assert!(found.certain && found.loopback_only, "{found:?}");
        assert_eq!(found.removal(), "nft delete rule inet m out handle 4");
        assert_eq!(
            found.describe(),
            "inet m out handle 4: ip daddr 127.0.0.1 meta mark set 0x00000001"
        );
        // Port 9 is marked again later, by a rule for any address.
        let later = nft_mark_setter(&ruleset, text, &packet("127.0.0.1", 9), &[]).unwrap();
        assert_eq!((later.chain.as_str(), later.handle, later.mark), ("later", 6, 7));
        assert!(!later.loopback_only);
        assert_eq!(later.removal(), "nft insert rule inet m later position 6 oif lo return");
        // No constant mark for 127.0.0.2, and a table iptables-nft manages
        // is left to its dump.
        assert_eq!(nft_mark_setter(&ruleset, text, &packet("127.0.0.2", 80), &[]), None);
        let managed = [("inet".to_string(), "m".to_string())];
        assert_eq!(nft_mark_setter(&ruleset, text, &packet("127.0.0.1", 9), &managed), None);
    }

    #[test]
    fn an_iptables_mark_in_mangle_output_is_read_from_its_dump() {
        let dump = "*mangle\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
            -A OUTPUT -d 10.0.0.0/8 -j MARK --set-xmark 0x5/0xffffffff\n\
            -A OUTPUT -d 127.0.0.1/32 -j MARK --set-xmark 0x1/0xffffffff\n\
            -A OUTPUT -p tcp -m tcp --dport 9 -j MARK --set-xmark 0x7/0xffffffff\n\
            -A OUTPUT -o lo -j MARK --set-xmark 0x2/0xff\nCOMMIT\n";
        let found = legacy_mark_setter("iptables-nft", dump, &packet("127.0.0.1", 80)).unwrap();
        assert_eq!((found.position, found.mark, found.loopback_only), (2, 1, true));
        assert_eq!(found.removal(), "iptables-nft -t mangle -D OUTPUT 2");
        assert_eq!(
            found.describe(),
            "iptables-nft: ip mangle OUTPUT rule 2: -A OUTPUT -d 127.0.0.1/32 -j MARK --set-xmark 0x1/0xffffffff"
        );
        let later = legacy_mark_setter("iptables-nft", dump, &packet("127.0.0.1", 9)).unwrap();
        assert_eq!((later.position, later.mark, later.loopback_only), (3, 7, false));
        assert_eq!(later.removal(), "iptables-nft -t mangle -I OUTPUT 3 -o lo -j RETURN");
        assert_eq!(legacy_mark_setter("ip6tables-nft", dump, &packet("127.0.0.1", 80)), None);
        assert_eq!(legacy_mark_setter("iptables-nft", dump, &packet("127.0.0.2", 80)), None);
    }

    #[test]
    fn finds_drop_and_reject_rules_for_the_port() {
        let found = blockers(RULES_JSON, RULES_TEXT, "127.0.0.1", 5555);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].action, Action::Drop);
        assert_eq!(found[0].handle, Some(3));
        assert!(found[0].certain);
        assert_eq!(found[0].text, "iif \"lo\" tcp dport 5555 counter packets 0 bytes 0 drop");
        assert_eq!(found[0].removal(), "nft delete rule inet filter input handle 3");

        let found = blockers(RULES_JSON, RULES_TEXT, "127.0.0.1", 6005);
        assert_eq!(found[0].action, Action::Reject(Some("icmp port-unreachable".into())));
        // The prefix is IPv4: ::1 is not affected, nor is a port outside the set.
        assert!(blockers(RULES_JSON, RULES_TEXT, "::1", 6005).is_empty());
        assert!(blockers(RULES_JSON, RULES_TEXT, "127.0.0.1", 6011).is_empty());

        let found = blockers(RULES_JSON, RULES_TEXT, "::1", 7000);
        assert_eq!(found[0].action, Action::Reject(Some("tcp reset".into())));
        assert!(blockers(RULES_JSON, RULES_TEXT, "127.0.0.1", 7000).is_empty());
    }

    /// `tcp dport vmap { 22 : accept, 8082 : drop }` and `tcp dport
    /// @blocked drop` with a named set, as `nft -j list ruleset` prints them.
    const LOOKUP_JSON: &str = r#"{"nftables": [
      {"set": {"family": "inet", "name": "blocked", "table": "f", "type": "inet_service",
               "handle": 3, "elem": [{"elem": {"val": 9000, "counter": {"packets": 0, "bytes": 0}}}, 8083]}},
      {"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter",
                 "hook": "input", "prio": 0, "policy": "accept"}},
      {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 7, "expr": [
        {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                  "data": {"set": [[22, {"accept": null}], [8082, {"drop": null}]]}}}]}},
      {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 8, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                   "right": "@blocked"}}, {"drop": null}]}}
    ]}"#;

    #[test]
    fn verdict_maps_and_named_sets_are_looked_into() {
        let found = blockers(LOOKUP_JSON, "", "127.0.0.1", 8082);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].certain);
        assert_eq!(
            found[0].removal(),
            "nft insert rule inet f input position 7 iif lo tcp dport 8082 accept"
        );
        // 22 is accepted by the map before the set is consulted.
        assert!(blockers(LOOKUP_JSON, "", "127.0.0.1", 22).is_empty());
        // In the set (plain or with a counter), certain, and only its element goes.
        let found = blockers(LOOKUP_JSON, "", "127.0.0.1", 8083);
        assert_eq!((found[0].handle, found[0].certain), (Some(8), true));
        assert_eq!(found[0].removal(), "nft delete element inet f blocked { 8083 }");
        assert_eq!(blockers(LOOKUP_JSON, "", "127.0.0.1", 9000)[0].handle, Some(8));
        // Not in the set: no longer a "may match".
        assert!(blockers(LOOKUP_JSON, "", "127.0.0.1", 8084).is_empty());
    }

    /// The same table named as nft's command line cannot write it (made
    /// through its JSON input): the element to delete and the accept to
    /// insert are given as JSON input, the element with a counter named by
    /// its value alone.
    #[test]
    fn set_and_map_fixes_for_names_the_command_line_cannot_take_are_json() {
        let odd = LOOKUP_JSON.replace(r#""table": "f""#, r#""table": "f x""#);
        let json = |removal: &str| {
            let quoted = removal
                .strip_prefix("printf '%s\\n' '")
                .and_then(|rest| rest.strip_suffix("' | nft -j -f -"))
                .unwrap_or_else(|| panic!("not JSON input: {removal}"));
            serde_json::from_str::<serde_json::Value>(quoted).expect("JSON")
        };
        let found = blockers(&odd, "", "127.0.0.1", 8082);
        assert_eq!(
            json(&found[0].removal()),
            serde_json::json!({ "nftables": [{ "insert": { "rule": {
                "family": "inet", "table": "f x", "chain": "input", "handle": 7, "expr": [
                    { "match": { "op": "==", "left": { "meta": { "key": "iif" } }, "right": "lo" } },
                    { "match": { "op": "==",
                        "left": { "payload": { "protocol": "tcp", "field": "dport" } },
                        "right": 8082 } },
                    { "accept": null }] } } }] })
        );
        let found = blockers(&odd, "", "127.0.0.1", 9000);
        assert_eq!(
            json(&found[0].removal()),
            serde_json::json!({ "nftables": [{ "delete": { "element": {
                "family": "inet", "table": "f x", "name": "blocked", "elem": [9000] } } }] })
        );
    }

    /// A chain policy in a table the command line cannot name: the accept
    /// of loopback and of a connection's answers go at the chain's top as
    /// JSON input (no handle: `insert` without one puts the rule first).
    #[test]
    fn policy_fixes_for_names_the_command_line_cannot_take_are_json() {
        let policy = Blocker {
            action: Action::Drop,
            source: "nftables",
            family: "inet".into(),
            table: "f x".into(),
            chain: "input".into(),
            handle: None,
            certain: true,
            text: "type filter hook input priority 0; policy drop;".into(),
            lookup: None,
        };
        let input = |command: String| {
            let quoted = command
                .strip_prefix("printf '%s\\n' '")
                .and_then(|rest| rest.strip_suffix("' | nft -j -f -"))
                .unwrap_or_else(|| panic!("not JSON input: {command}"));
            serde_json::from_str::<serde_json::Value>(quoted).expect("JSON")
        };
        let rule = |expr: serde_json::Value| {
            serde_json::json!({ "nftables": [{ "insert": { "rule": {
                "family": "inet", "table": "f x", "chain": "input", "expr": expr } } }] })
        };
        assert_eq!(
            input(policy.removal()),
            rule(serde_json::json!([
                { "match": { "op": "==", "left": { "meta": { "key": "iif" } }, "right": "lo" } },
                { "accept": null }
            ]))
        );
        assert_eq!(
            input(policy.answers_accepted()),
            rule(serde_json::json!([
                { "match": { "op": "in", "left": { "ct": { "key": "state" } },
                    "right": ["established", "related"] } },
                { "accept": null }
            ]))
        );
        let plain = Blocker { table: "f".into(), ..policy };
        assert_eq!(plain.removal(), "nft insert rule inet f input iif lo accept");
    }

    #[test]
    fn output_hook_and_family_tables() {
        let found = blockers(RULES_JSON, RULES_TEXT, "127.0.0.1", 8000);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].chain, "output");
        assert_eq!(found[0].action, Action::Reject(Some("icmp admin-prohibited".into())));
        // An `ip` table never sees IPv6.
        assert!(blockers(RULES_JSON, RULES_TEXT, "::1", 8000).is_empty());
    }

    #[test]
    fn policy_drop_without_an_accept_blocks() {
        let found = blockers(POLICY_JSON, POLICY_TEXT, "127.0.0.1", 9999);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].handle, None);
        assert!(found[0].certain);
        assert!(found[0].removal().contains("iif lo accept"), "{}", found[0].removal());
        // Port 22 is accepted in the chain, 8080 through the jump.
        assert!(blockers(POLICY_JSON, POLICY_TEXT, "127.0.0.1", 22).is_empty());
        assert!(blockers(POLICY_JSON, POLICY_TEXT, "::1", 8080).is_empty());
    }

    #[test]
    fn legacy_dumps_are_matched() {
        let dump = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                    -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
                    -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
                    -A OUTPUT -o lo -p tcp -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";
        let found = legacy_blockers("iptables-legacy", dump, &packet("127.0.0.1", 5432));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].chain, "OUTPUT");
        assert_eq!(found[0].handle, Some(1));
        assert_eq!(found[0].removal(), "iptables-legacy -t filter -D OUTPUT 1");
        assert_eq!(found[1].handle, None);
        assert!(legacy_blockers("iptables-legacy", dump, &packet("127.0.0.1", 22)).is_empty());
        let accept_lo = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n";
        assert!(legacy_blockers("iptables-legacy", accept_lo, &packet("127.0.0.1", 1)).is_empty());
        assert!(legacy_blockers("ip6tables-legacy", dump, &packet("127.0.0.1", 5432)).is_empty());
    }

    #[test]
    fn the_element_of_an_address_set_that_holds_the_address_is_named() {
        let parse = |json: &str| element(&serde_json::from_str(json).unwrap());
        let at: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(address_element(&parse(r#""127.0.0.1""#), at), Some("127.0.0.1".into()));
        assert_eq!(address_element(&parse(r#""10.1.1.1""#), at), None);
        let prefix = r#"{"prefix": {"addr": "127.0.0.0", "len": 8}}"#;
        assert_eq!(address_element(&parse(prefix), at), Some("127.0.0.0/8".into()));
        let range = r#"{"range": ["127.0.0.0", "127.0.0.9"]}"#;
        assert_eq!(address_element(&parse(range), at), Some("127.0.0.0-127.0.0.9".into()));
    }

    #[test]
    fn legacy_rules_in_user_chains_raw_and_mangle_are_matched() {
        // As `iptables-save` prints a user chain: `:NAME - [0:0]`.
        let jump = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:BLOCK - [0:0]\n\
                    -A INPUT -j BLOCK\n-A BLOCK -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n";
        let found = legacy_blockers("iptables-legacy", jump, &packet("127.0.0.1", 8080));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].removal(), "iptables-legacy -t filter -D BLOCK 1");
        assert!(legacy_blockers("iptables-legacy", jump, &packet("127.0.0.1", 22)).is_empty());
        // Every table but nat sees the packet on its way out and back in.
        let tables = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                      -A PREROUTING -p tcp -m tcp --dport 8081 -j DROP\nCOMMIT\n\
                      *mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                      :POSTROUTING DROP [0:0]\n-A POSTROUTING -o lo -p tcp -m tcp --dport 8081 -j ACCEPT\nCOMMIT\n";
        let found = legacy_blockers("iptables-legacy", tables, &packet("127.0.0.1", 8081));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].removal(), "iptables-legacy -t raw -D PREROUTING 1");
        let found = legacy_blockers("iptables-legacy", tables, &packet("127.0.0.1", 8082));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].removal(),
            "iptables-legacy -t mangle -I POSTROUTING 1 -o lo -j ACCEPT"
        );
    }

    // Captured in a private namespace from rules added with `iptables`
    // (1.8.9, nf_tables backend): `nft -j`, `nft -a` and `iptables-nft-save`.
    const XT_JSON: &str = include_str!("fixtures/iptables_nft.json");
    const XT_TEXT: &str = include_str!("fixtures/iptables_nft.txt");
    const XT_SAVE: &str = include_str!("fixtures/iptables_nft.save");

    /// What `check` sees on a default Debian ruleset written by iptables.
    fn iptables_nft(destination: &str, port: u16) -> Vec<Blocker> {
        let ruleset: NftRuleset = serde_json::from_str(XT_JSON).unwrap();
        assert!(has_iptables_tables(&ruleset));
        let dumps = vec![("iptables-nft", XT_SAVE.to_string())];
        let managed = managed_tables(&dumps);
        assert_eq!(managed, vec![("ip".to_string(), "filter".to_string())]);
        let packet = packet(destination, port);
        let mut found = nft_blockers(&ruleset, XT_TEXT, &packet, &managed);
        for (source, dump) in &dumps {
            found.extend(legacy_blockers(source, dump, &packet));
        }
        found
    }

    #[test]
    fn iptables_nft_rules_are_understood() {
        // -j REJECT --reject-with tcp-reset (an xt target in nft -j).
        let found = iptables_nft("127.0.0.1", 7001);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].action, Action::Reject(Some("tcp-reset".into())));
        assert!(found[0].certain);
        assert_eq!(found[0].removal(), "iptables-nft -t filter -D INPUT 1");
        // -m multiport --dports 7002,7003 -j DROP: only those ports.
        for port in [7002, 7003] {
            let found = iptables_nft("127.0.0.1", port);
            assert_eq!(found[0].action, Action::Drop, "{port}: {found:#?}");
            assert_eq!(found[0].removal(), "iptables-nft -t filter -D INPUT 2");
        }
        assert!(iptables_nft("127.0.0.1", 7010).is_empty());
        // -s 127.0.0.1: a loopback SYN from 127.0.0.1 matches.
        assert_eq!(iptables_nft("127.0.0.1", 7004)[0].handle, Some(3));
        // -i lo with conntrack NEW, and REJECT without --reject-with text.
        let found = iptables_nft("127.0.0.1", 7005);
        assert_eq!(found[0].action, Action::Reject(Some("icmp-port-unreachable".into())));
        // ! -i lo: loopback traffic passes.
        assert!(iptables_nft("127.0.0.1", 7006).is_empty());
        // The ip table never sees IPv6.
        assert!(iptables_nft("::1", 7001).is_empty());
    }

    #[test]
    fn xt_statements_without_the_dump_are_not_ignored() {
        // Without iptables-nft-save, the walk must not read
        // `-m multiport … -j DROP` as "drop every TCP port".
        let found = blockers(XT_JSON, XT_TEXT, "127.0.0.1", 7010);
        assert!(found.iter().all(|b| !b.certain), "{found:#?}");
        let found = blockers(XT_JSON, XT_TEXT, "127.0.0.1", 7001);
        assert_eq!(found[0].action, Action::Reject(None), "{found:#?}");
        assert!(found[0].text.contains("reject with tcp reset"), "{found:#?}");
    }

    #[test]
    fn prefixes() {
        let address = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_prefix(address("127.1.2.3"), address("127.0.0.0"), 8));
        assert!(!in_prefix(address("128.0.0.1"), address("127.0.0.0"), 8));
        assert!(in_prefix(address("::1"), address("::1"), 128));
        assert!(!in_prefix(address("::1"), address("127.0.0.0"), 8));
    }

    /// `nft -j list ruleset` of an `inet` and an `ip` table with output nat
    /// chains (captured from nft 1.0.6), and `nft -a list ruleset`.
    const NAT_JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "n", "handle": 1}}, {"chain": {"family": "inet", "table": "n", "name": "o", "handle": 1, "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "n", "chain": "o", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7101}}, {"redirect": null}]}}, {"rule": {"family": "inet", "table": "n", "chain": "o", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7102}}, {"redirect": {"port": 7999}}]}}, {"rule": {"family": "inet", "table": "n", "chain": "o", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7103}}, {"dnat": {"family": "ip", "addr": "127.0.0.2", "port": 8000}}]}}, {"rule": {"family": "inet", "table": "n", "chain": "o", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7104}}, {"dnat": {"family": "ip", "addr": "127.0.0.2"}}]}}, {"rule": {"family": "inet", "table": "n", "chain": "o", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7105}}, {"dnat": {"family": "ip", "addr": "127.0.0.1", "port": {"range": [7000, 7010]}}}]}}, {"table": {"family": "ip", "name": "m", "handle": 2}}, {"chain": {"family": "ip", "table": "m", "name": "o", "handle": 1, "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}}, {"rule": {"family": "ip", "table": "m", "chain": "o", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7106}}, {"dnat": {"addr": "127.0.0.3", "port": 81}}]}}]}"#;
    const NAT_TEXT: &str = r#"table inet n { # handle 1
	chain o { # handle 1
		type nat hook output priority -100; policy accept;
		tcp dport 7101 redirect # handle 2
		tcp dport 7102 redirect to :7999 # handle 3
		tcp dport 7103 dnat ip to 127.0.0.2:8000 # handle 4
		tcp dport 7104 dnat ip to 127.0.0.2 # handle 5
		ip daddr 127.0.0.1 tcp dport 7105 dnat ip to 127.0.0.1:7000-7010 # handle 6
	}
}
table ip m { # handle 2
	chain o { # handle 1
		type nat hook output priority -100; policy accept;
		tcp dport 7106 dnat to 127.0.0.3:81 # handle 2
	}
}
"#;

    fn rewrite(destination: &str, port: u16) -> Option<Rewrite> {
        let ruleset: NftRuleset = serde_json::from_str(NAT_JSON).unwrap();
        nft_rewrite(&ruleset, NAT_TEXT, &packet(destination, port))
    }

    #[test]
    fn redirect_and_dnat_rules_say_where_the_connection_goes() {
        let to = |text: &str| Some(text.parse::<std::net::SocketAddr>().unwrap());
        // `redirect` keeps the port; `redirect to :7999` changes it.
        assert_eq!(rewrite("127.0.0.1", 7101).unwrap().to, to("127.0.0.1:7101"));
        let moved = rewrite("127.0.0.2", 7102).unwrap();
        assert_eq!(moved.to, to("127.0.0.1:7999"));
        assert_eq!(moved.text, "tcp dport 7102 redirect to :7999");
        assert_eq!(moved.removal(), "nft delete rule inet n o handle 3");
        assert_eq!(rewrite("127.0.0.1", 7103).unwrap().to, to("127.0.0.2:8000"));
        assert_eq!(rewrite("127.0.0.1", 7104).unwrap().to, to("127.0.0.2:7104"));
        let range = rewrite("127.0.0.1", 7105).unwrap();
        assert_eq!((range.to, range.last_port), (to("127.0.0.1:7000"), Some(7010)));
        // `ip daddr 127.0.0.1` does not match 127.0.0.2; the `ip` table
        // and `dnat ip` never touch IPv6.
        assert_eq!(rewrite("127.0.0.2", 7105), None);
        assert_eq!(
            rewrite("127.0.0.1", 7106).unwrap().removal(),
            "nft delete rule ip m o handle 2"
        );
        assert_eq!(rewrite("::1", 7106), None);
        assert_eq!(rewrite("::1", 7103), None);
        assert_eq!(rewrite("127.0.0.1", 7200), None);
    }

    #[test]
    fn ingress_and_egress_devices_come_from_the_listing() {
        let text = "table netdev edge { # handle 4\n\tchain one { # handle 1\n\t\ttype filter hook ingress device \"lo\" priority filter; policy accept;\n\t}\n\tchain two { # handle 2\n\t\ttype filter hook ingress devices = { \"eth0\", \"lo\" } priority filter; policy drop;\n\t}\n\tchain out { # handle 3\n\t\ttype filter hook egress device \"lo\" priority filter; policy accept;\n\t}\n}\n";
        let devices = hook_devices(text);
        let key = |chain: &str| ("netdev".to_string(), "edge".to_string(), chain.to_string());
        assert_eq!(devices[&key("one")], ["lo"]);
        assert_eq!(devices[&key("two")], ["eth0", "lo"]);
        assert_eq!(devices[&key("out")], ["lo"]);
    }
}
