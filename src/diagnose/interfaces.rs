//! The network interfaces a loopback connection depends on: whether `lo` is
//! up and holds the address, whether the address has a `local` route, and
//! which device a socket bound with `SO_BINDTODEVICE` is tied to.
//!
//! Read with `ip -j addr show` and `ip -j route get ADDRESS` through the
//! [`System`] handle, so the answer is the calling thread's network
//! namespace (the client's with `--from PID`: a child process inherits the
//! namespace of the thread that starts it), where `/sys/class/net` would
//! show the namespace of whoever mounted `/sys`. A missing `ip` answers
//! "unknown", and no cause is built on it.

use std::net::IpAddr;

use super::firewall::in_prefix;
use crate::inventory::system::{System, COMMAND_TIMEOUT};

/// The loopback device's index in every network namespace (the kernel's
/// `LOOPBACK_IFINDEX`).
pub const LOOPBACK_INDEX: u32 = crate::model::LOOPBACK_INTERFACE;

/// One interface as `ip -j addr show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// The `UP` flag (administratively up).
    pub up: bool,
    /// Addresses with their prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// Every interface of the namespace, `None` when `ip` is missing or fails.
pub fn read(system: &dyn System) -> Option<Vec<Interface>> {
    let output = system.run("ip", &["-j", "addr", "show"], COMMAND_TIMEOUT)?;
    if !output.success {
        return None;
    }
    parse(&output.text())
}

/// Parses the JSON of `ip -j addr show`.
pub fn parse(json: &str) -> Option<Vec<Interface>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let interfaces = value
        .as_array()?
        .iter()
        .filter_map(|entry| {
            let index = u32::try_from(entry["ifindex"].as_u64()?).ok()?;
            let name = entry["ifname"].as_str()?.to_string();
            let up = entry["flags"]
                .as_array()
                .is_some_and(|flags| flags.iter().any(|flag| flag.as_str() == Some("UP")));
            let addresses = entry["addr_info"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|address| {
                            let ip = address["local"].as_str()?.parse().ok()?;
                            let prefix = u8::try_from(address["prefixlen"].as_u64()?).ok()?;
                            Some((ip, prefix))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Interface { index, name, up, addresses })
        })
        .collect();
    Some(interfaces)
}

/// What is wrong with the loopback path to an address on `lo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopbackProblem {
    /// `lo` is administratively down: IPv4 SYNs vanish, IPv6 connects
    /// fail with `ENETUNREACH`.
    LinkDown,
    /// The address (127.0.0.1, ::1) is not on `lo`.
    AddressMissing { address: IpAddr },
    /// The routing table has no `local` route for the address; `route` is
    /// what `ip route get` said instead.
    NoLocalRoute { address: IpAddr, route: String },
    /// Table `local` has a route for the address, longer than its `local`
    /// route, that is not local: a `blackhole`, `prohibit`, `unreachable`
    /// or `throw` route added there. The `local` route is still in place
    /// (adding it again fails with `File exists`); deleting this one is the
    /// fix.
    RouteInLocalTable {
        address: IpAddr,
        /// The route's type as `ip route` prints it (`blackhole`).
        kind: String,
        /// Its destination as `ip route` prints it (`127.0.0.2`,
        /// `127.0.0.0/24`).
        destination: String,
        /// Whether a `local` route holding the address stays in table local
        /// once this one is deleted (`local 127.0.0.0/8`); when none does
        /// (`::1`'s own route deleted too), the fix adds one back.
        local_route_kept: bool,
    },
    /// The address does not route to `lo` though table `local` holds its
    /// `local` route: a policy-routing rule with selectors porthole does
    /// not evaluate (a fwmark, `suppress_prefixlen`) decides first. `route` is
    /// what `ip route get` said.
    RuleNotEvaluated { address: IpAddr, route: String },
    /// A policy-routing rule, consulted before the one for table `local`,
    /// sends the address to a route that is not local (an `unreachable`,
    /// `prohibit` or `blackhole` route or rule action: EHOSTUNREACH, EACCES,
    /// EINVAL).
    PolicyRule {
        address: IpAddr,
        /// The rule's priority (`ip rule del pref N` names it).
        priority: u64,
        /// The rule as `ip rule` prints it, for the evidence.
        rule: String,
        /// Where it leads: the route in its table, or the rule's action.
        route: String,
        /// The connection's source address, when the rule selects by it
        /// (`from 127.0.0.1`): the one the kernel took from the local
        /// route in its first lookup, which had none.
        source: Option<IpAddr>,
    },
}

/// An XDP program on `lo`: it sees every loopback packet before the
/// network stack does, so an `XDP_DROP` loses SYNs that no nftables rule,
/// listener or route explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpProgram {
    pub id: u32,
    /// The name its loader gave it (other users' text).
    pub name: String,
    /// `generic` (skb mode, the only one `lo` supports in practice),
    /// `native` or `offload`.
    pub mode: &'static str,
}

/// The XDP program attached to `lo`, from `ip -j link show dev lo`.
pub fn loopback_xdp(system: &dyn System) -> Option<XdpProgram> {
    let output = system.run("ip", &["-j", "link", "show", "dev", "lo"], COMMAND_TIMEOUT)?;
    if !output.success {
        return None;
    }
    parse_xdp(&output.text())
}

fn parse_xdp(json: &str) -> Option<XdpProgram> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let xdp = &value.as_array()?.first()?["xdp"];
    let program = &xdp["prog"];
    let id = u32::try_from(program["id"].as_u64()?).ok()?;
    // iproute2's XDP_ATTACHED_* values.
    let mode = match xdp["mode"].as_u64() {
        Some(1) => "native",
        Some(3) => "offload",
        _ => "generic",
    };
    Some(XdpProgram { id, name: program["name"].as_str().unwrap_or("").to_string(), mode })
}

/// A filter of `tc` on `lo` (a `clsact` or `ingress` qdisc's `ingress` or
/// `egress` hook): like XDP it sees loopback packets outside any firewall
/// table. A BPF filter in direct-action mode drops with `TC_ACT_SHOT`;
/// another classifier (`u32`, `flower`, `matchall`) does what its actions
/// say (`drop`, `mirred … redirect` to another device, `police`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcFilter {
    /// `ingress` or `egress`.
    pub direction: &'static str,
    pub pref: u64,
    /// The classifier: `bpf`, `u32`, `flower`…
    pub kind: String,
    /// The filter's handle as tc prints it (`0x1`, `800::800`).
    pub handle: String,
    /// The kinds of its actions (`mirred`, `gact`), for a filter that is
    /// not BPF.
    pub actions: Vec<String>,
    pub program_id: Option<u64>,
    /// The program's name (other users' text).
    pub program_name: String,
}

/// The filters on `lo` that can stop packets, from `tc -j filter show dev
/// lo ingress|egress`: BPF filters, and other classifiers with actions.
pub fn loopback_tc_filters(system: &dyn System) -> Vec<TcFilter> {
    let mut filters = Vec::new();
    for direction in ["ingress", "egress"] {
        let Some(output) =
            system.run("tc", &["-j", "filter", "show", "dev", "lo", direction], COMMAND_TIMEOUT)
        else {
            continue;
        };
        if output.success {
            filters.extend(parse_tc_filters(&output.text(), direction));
        }
    }
    filters
}

fn parse_tc_filters(json: &str, direction: &'static str) -> Vec<TcFilter> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else { return Vec::new() };
    value
        .as_array()
        .into_iter()
        .flatten()
        // tc lists each priority once bare, then each filter with options;
        // a u32 hash table (options without actions) only classifies.
        .filter(|entry| entry["options"].is_object())
        // The legacy `ingress` qdisc (parent `ffff:`) has no egress hook,
        // but `tc filter show … egress` lists its filters again, marked
        // `"ingress": true` (or with that parent).
        .filter(|entry| {
            direction != "egress" || (entry["parent"] != "ffff:" && entry["ingress"] != true)
        })
        .filter_map(|entry| {
            let options = &entry["options"];
            let kind = entry["kind"].as_str()?.to_string();
            let actions: Vec<String> = options["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|action| action["kind"].as_str().map(str::to_string))
                .collect();
            if kind != "bpf" && actions.is_empty() {
                return None;
            }
            Some(TcFilter {
                direction,
                pref: entry["pref"].as_u64()?,
                handle: options["handle"].as_str().or(options["fh"].as_str())?.to_string(),
                kind,
                actions,
                program_id: options["prog"]["id"].as_u64(),
                program_name: options["prog"]["name"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The queueing discipline at the root of `lo`, when one was added: `lo`
/// has none (`noqueue`) unless someone adds it, and then every loopback
/// packet waits in it. `netem` delays or loses packets on purpose, `tbf`
/// and `htb` hold them at a rate and drop what does not fit: the SYN, the
/// request or the answer vanish or arrive late, with no firewall rule and
/// no fault of the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    /// `netem`, `tbf`, `htb`…
    pub kind: String,
    /// As `tc qdisc show` prints it, less the reference count:
    /// `qdisc netem 8001: root limit 1000 delay 5s loss 100%`.
    pub line: String,
    /// Packets sent, dropped and still queued since it was added.
    pub sent: u64,
    pub dropped: u64,
    pub queued: u64,
}

impl Qdisc {
    /// Whether it has dropped packets or holds some now: a qdisc that
    /// passed everything at once is no explanation for a silence.
    pub fn interferes(&self) -> bool {
        self.dropped > 0 || self.queued > 0
    }
}

/// The root qdisc of `lo`, from `tc -s qdisc show dev lo`; `None` for the
/// default `noqueue`, or when `tc` is missing.
pub fn loopback_qdisc(system: &dyn System) -> Option<Qdisc> {
    let output = system.run("tc", &["-s", "qdisc", "show", "dev", "lo"], COMMAND_TIMEOUT)?;
    if !output.success {
        return None;
    }
    parse_qdisc(&output.text())
}

/// Parses `tc -s qdisc show`: a `qdisc KIND HANDLE: root|parent P …` line
/// per qdisc, followed by its indented ` Sent B bytes N pkt (dropped D,
/// …)` and ` backlog Xb Yp …` lines.
fn parse_qdisc(text: &str) -> Option<Qdisc> {
    let mut found: Option<Qdisc> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(rest) = line.strip_prefix("qdisc ") {
            if found.is_some() {
                break;
            }
            let (kind, root) = (words.get(1)?, words.get(3) == Some(&"root"));
            if !root || *kind == "noqueue" {
                continue;
            }
            // `refcnt N` counts kernel references, not configuration.
            let mut shown = vec!["qdisc"];
            let mut skip = false;
            for word in rest.split_whitespace() {
                if std::mem::take(&mut skip) {
                    continue;
                }
                if word == "refcnt" {
                    skip = true;
                    continue;
                }
                shown.push(word);
            }
            found = Some(Qdisc {
                kind: (*kind).to_string(),
                line: shown.join(" "),
                sent: 0,
                dropped: 0,
                queued: 0,
            });
            continue;
        }
        let Some(qdisc) = found.as_mut() else { continue };
        let number = |after: &str| -> Option<u64> {
            let at = words.iter().position(|w| *w == after)?;
            words.get(at + 1)?.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok()
        };
        match words.first() {
            Some(&"Sent") => {
                qdisc.sent = words.get(3).and_then(|w| w.parse().ok()).unwrap_or(0);
                qdisc.dropped = number("(dropped").unwrap_or(0);
            }
            Some(&"backlog") => {
                qdisc.queued = words
                    .get(2)
                    .and_then(|w| w.strip_suffix('p'))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
    }
    found
}

/// What the routing decision of a connection depends on besides its
/// destination: policy-routing rules select by `ipproto`, `dport` and
/// `uidrange` too. Unknown parts make the rules that select by them
/// "not evaluated".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// The TCP destination port.
    pub port: Option<u16>,
    /// The uid of the connecting socket (the probe's: the client's with
    /// `--from PID`).
    pub uid: Option<u32>,
    /// The mark a firewall rule sets on the SYN in a `type route` output
    /// chain; `None` for unmarked traffic (mark 0, the lookups of
    /// connect() itself).
    pub mark: Option<u32>,
}

/// Why a loopback `address` cannot be reached through `lo`, `None` when the
/// link is up, holds the address and routes it locally (or `ip` cannot
/// tell).
pub fn loopback_problem(
    system: &dyn System,
    address: IpAddr,
    flow: Flow,
) -> Option<LoopbackProblem> {
    let interfaces = read(system)?;
    let lo = interfaces.iter().find(|i| i.index == LOOPBACK_INDEX)?;
    if !lo.up {
        return Some(LoopbackProblem::LinkDown);
    }
    // 127.0.0.2 is served by the 127.0.0.1/8 address; ::1 has no prefix
    // but itself.
    let on_lo = lo.addresses.iter().any(|(ip, prefix)| in_prefix(address, *ip, *prefix));
    let canonical = address == IpAddr::from([127, 0, 0, 1])
        || address == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if !on_lo && canonical {
        return Some(LoopbackProblem::AddressMissing { address });
    }
    let text = address.to_string();
    let mut output = route_get(system, address, None, flow)?;
    let mut from = String::new();
    if let Some(source) = local_source(&output) {
        // The first lookup of a connect has no source address: it takes
        // the one of the route it finds, and the lookup is made again with
        // it, where rules that select by source (`from 127.0.0.1`) meet it.
        output = route_get(system, address, Some(source), flow)?;
        if local_source(&output).is_some() {
            return None;
        }
        from = format!(" from {source}");
    }
    if let Some(problem) = policy_rule(system, address, flow) {
        return Some(problem);
    }
    let route = if output.success {
        let value: serde_json::Value = serde_json::from_str(&output.text()).ok()?;
        let first = value.as_array()?.first()?.clone();
        let kind = first["type"].as_str().unwrap_or("unicast");
        let device = first["dev"].as_str().map(|d| format!(" dev {d}")).unwrap_or_default();
        format!("{kind} {text}{from}{device}")
    } else {
        // `RTNETLINK answers: Network is unreachable` on stderr: no route.
        "no route (network is unreachable)".to_string()
    };
    // Table local still holds the address's local route, yet the lookup
    // did not end there: a rule porthole does not evaluate (a fwmark,
    // `suppress_prefixlen`) comes first. Adding the route again would fail with
    // `File exists`.
    let family = if address.is_ipv4() { "-4" } else { "-6" };
    let args = ["-j", family, "route", "show", "table", "local"];
    if let Some(routes) = system.run("ip", &args, COMMAND_TIMEOUT).filter(|o| o.success) {
        let routes: serde_json::Value = serde_json::from_str(&routes.text()).unwrap_or_default();
        if holds_local_route(&routes, address) {
            return Some(LoopbackProblem::RuleNotEvaluated { address, route });
        }
    }
    Some(LoopbackProblem::NoLocalRoute { address, route })
}

/// `ip -j route get ADDRESS [from SOURCE]`, asked as the connection asks
/// it, so rules that select by protocol, port or user decide here as they
/// do for it.
fn route_get(
    system: &dyn System,
    address: IpAddr,
    source: Option<IpAddr>,
    flow: Flow,
) -> Option<crate::inventory::system::CommandOutput> {
    let text = address.to_string();
    let source = source.map(|s| s.to_string());
    let (port, uid) = (flow.port.map(|p| p.to_string()), flow.uid.map(|u| u.to_string()));
    let mut args = vec!["-j", "route", "get", &text];
    if let Some(source) = &source {
        args.extend(["from", source]);
    }
    if let Some(port) = &port {
        args.extend(["ipproto", "tcp", "dport", port]);
    }
    if let Some(uid) = &uid {
        args.extend(["uid", uid]);
    }
    system.run("ip", &args, COMMAND_TIMEOUT)
}

/// The source address the kernel picked, when `ip route get` answered with
/// a `local` route; the destination itself when the route names none, as
/// the kernel does (`fib_prefsrc`, else `daddr`).
fn local_source(output: &crate::inventory::system::CommandOutput) -> Option<IpAddr> {
    if !output.success {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&output.text()).ok()?;
    let first = value.as_array()?.first()?;
    if first["type"].as_str() != Some("local") {
        return None;
    }
    first["prefsrc"].as_str().or(first["dst"].as_str())?.parse().ok()
}

/// The first policy-routing rule that decides `address`, when it sends it
/// anywhere but a `local` route: rules in priority order (`ip -j rule
/// show`), each rule's table searched for the longest route holding the
/// address (`ip -j route show table T`); a table without one passes the
/// lookup on, as the kernel does. The search ends at table `local`: when
/// it holds no route for the address, the rules after it are not the
/// cause, the missing local route is. `iif lo` (which locally generated
/// traffic matches), `oif`, `ipproto`, `dport`, `uidrange`, `from`,
/// `fwmark` (against `flow.mark`, 0 when unmarked) and `not` are evaluated
/// for `flow`; rules with other selectors (`sport`, `suppress_prefixlen`…)
/// are skipped.
///
/// # Platform specific behavior
///
/// A connect() looks its route up twice: first without a source address,
/// taking the one of the route it finds (`src 127.0.0.1` of table local's
/// `local 127.0.0.0/8`, `::1`), then again with that source, and the second
/// answer is the one the SYN takes. So the rules are evaluated twice too: a
/// `from 127.0.0.1` rule before table local decides only the second time.
///
/// See: <https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/include/net/route.h> (`ip_route_connect`)
pub fn policy_rule(system: &dyn System, address: IpAddr, flow: Flow) -> Option<LoopbackProblem> {
    let family = if address.is_ipv4() { "-4" } else { "-6" };
    let output = system.run("ip", &["-j", family, "rule", "show"], COMMAND_TIMEOUT)?;
    let rules: serde_json::Value = serde_json::from_str(&output.text()).ok()?;
    let mut rules: Vec<&serde_json::Value> = rules.as_array()?.iter().collect();
    rules.sort_by_key(|rule| rule["priority"].as_u64().unwrap_or(0));
    let mut tables: std::collections::HashMap<String, serde_json::Value> = Default::default();
    let mut routes = |table: &str| -> Option<serde_json::Value> {
        if let Some(known) = tables.get(table) {
            return Some(known.clone());
        }
        let args = ["-j", family, "route", "show", "table", table];
        let output = system.run("ip", &args, COMMAND_TIMEOUT)?;
        let routes: serde_json::Value = serde_json::from_str(&output.text()).unwrap_or_default();
        tables.insert(table.to_string(), routes.clone());
        Some(routes)
    };
    // connect() looks its route up unmarked (a socket without SO_MARK).
    let unmarked = Flow { mark: None, ..flow };
    let first = decide(&rules, address, None, unmarked, &mut routes)?;
    let Decision::Local { source } = first else { return problem_of(Some(first)) };
    let second = decide(&rules, address, Some(source), unmarked, &mut routes)?;
    if flow.mark.is_none() || matches!(second, Decision::Elsewhere(_)) {
        return problem_of(Some(second));
    }
    // The SYN marked in a route chain is routed again, with its source.
    problem_of(decide(&rules, address, Some(source), flow, &mut routes))
}

fn problem_of(decision: Option<Decision>) -> Option<LoopbackProblem> {
    match decision? {
        Decision::Elsewhere(problem) => Some(problem),
        Decision::Local { .. } => None,
    }
}

/// The policy-routing rule that sends the loopback SYN to `address` away
/// once a firewall rule marked it with `flow.mark`: `None` unless the
/// marked lookup (`ip route get … from SOURCE mark M`) fails where the
/// unmarked one is local.
pub fn marked_rule(system: &dyn System, address: IpAddr, flow: Flow) -> Option<LoopbackProblem> {
    let mark = flow.mark?;
    let unmarked = Flow { mark: None, ..flow };
    let source = local_source(&route_get(system, address, None, unmarked)?)?;
    let mut args: Vec<String> = ["-j", "route", "get"].map(str::to_string).to_vec();
    args.extend([address.to_string(), "from".into(), source.to_string()]);
    args.extend(["mark".into(), format!("{mark:#x}")]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let marked = system.run("ip", &args, COMMAND_TIMEOUT)?;
    if local_source(&marked).is_some() {
        return None;
    }
    policy_rule(system, address, flow)
}

/// Where one route lookup of a loopback connection ends.
#[derive(Debug)]
enum Decision {
    /// At a `local` route; `source` is the address the kernel takes as the
    /// connection's source from it.
    Local { source: IpAddr },
    /// Anywhere else: the rule or route that sends it there.
    Elsewhere(LoopbackProblem),
}

/// One lookup through `rules` (sorted by priority) for `address`, with the
/// connection's `source` when it has one; `routes` gives a table's routes.
/// `None` when the lookup ends without a route porthole can name (table
/// local holds none for the address, a table cannot be read).
fn decide(
    rules: &[&serde_json::Value],
    address: IpAddr,
    source: Option<IpAddr>,
    flow: Flow,
    routes: &mut dyn FnMut(&str) -> Option<serde_json::Value>,
) -> Option<Decision> {
    for rule in rules {
        if !rule_matches(rule, address, source, flow)? {
            continue;
        }
        let priority = rule["priority"].as_u64().unwrap_or(0);
        let described = describe_rule(rule);
        // Set when the rule decides by the source the first lookup picked.
        let by_source = source.filter(|_| rule["src"].as_str().is_some_and(|s| s != "all"));
        // This rule sends the address elsewhere, by `route`.
        let sent_elsewhere = |route: String| {
            Some(Decision::Elsewhere(LoopbackProblem::PolicyRule {
                address,
                priority,
                rule: described.clone(),
                route,
                source: by_source,
            }))
        };
        if let Some(action @ ("unreachable" | "prohibit" | "blackhole")) = rule["action"].as_str() {
            return sent_elsewhere(format!("the rule's own action: {action}"));
        }
        let Some(table) = rule["table"].as_str() else { continue };
        let routes = routes(table)?;
        let Some(found) = longest_route(&routes, address) else {
            if table == "local" {
                // Table local holds no route for the address: the rules
                // after it (`main`, `default`) are consulted only because
                // the local route is gone, so that is the cause to name
                // (and deleting `from all lookup main` would not repair
                // it), not those rules.
                return None;
            }
            continue;
        };
        if found.kind == "local" {
            // The kernel's source: the route's `src`, else the address.
            return Some(Decision::Local { source: found.source.unwrap_or(address) });
        }
        if table == "local" {
            // A route that outranks the local one by its length: a
            // `throw` passes the lookup on, the others end it, and neither
            // delivers locally.
            let local_route_kept = holds_local_route(&routes, address);
            return Some(Decision::Elsewhere(LoopbackProblem::RouteInLocalTable {
                address,
                kind: found.kind,
                destination: found.destination,
                local_route_kept,
            }));
        }
        return sent_elsewhere(format!("{} {} in table {table}", found.kind, found.destination));
    }
    None
}

/// Whether a rule of `ip -j rule show` applies to a locally generated
/// connection to `address` (and `flow`) from `source` (`None` in the first
/// lookup of a connect, which has no source yet); `Some(false)` for
/// selectors not evaluated.
fn rule_matches(
    rule: &serde_json::Value,
    address: IpAddr,
    source: Option<IpAddr>,
    flow: Flow,
) -> Option<bool> {
    const KNOWN: &[&str] = &[
        "priority",
        "src",
        "srclen",
        "dst",
        "dstlen",
        "table",
        "action",
        "flags",
        "not",
        "iif",
        "oif",
        "ipproto",
        "dport",
        "dport_start",
        "dport_end",
        "uid_start",
        "uid_end",
        "fwmark",
        "fwmask",
        // Who added the rule (`proto kernel`), not a selector.
        "protocol",
    ];
    let object = rule.as_object()?;
    if object.keys().any(|key| !KNOWN.contains(&key.as_str())) {
        return Some(false);
    }
    if rule["flags"].as_array().is_some_and(|flags| !flags.is_empty()) {
        return Some(false);
    }
    // Each selector: matched, or `None` when the flow does not say.
    let mut selectors: Vec<Option<bool>> = Vec::new();
    if let Some(network) = rule["src"].as_str().filter(|s| *s != "all") {
        let Ok(network) = network.parse::<IpAddr>() else { return Some(false) };
        let full = if network.is_ipv4() { 32 } else { 128 };
        let length = rule["srclen"].as_u64().and_then(|l| u8::try_from(l).ok()).unwrap_or(full);
        // Without a source the kernel compares the unspecified address,
        // which only `from all` (`0.0.0.0/0`) holds.
        let unspecified = if network.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        };
        selectors.push(Some(in_prefix(source.unwrap_or(unspecified), network, length)));
    }
    if let Some(destination) = rule["dst"].as_str().filter(|d| *d != "all") {
        let Ok(network) = destination.parse::<IpAddr>() else { return Some(false) };
        let full = if network.is_ipv4() { 32 } else { 128 };
        let length = rule["dstlen"].as_u64().and_then(|l| u8::try_from(l).ok()).unwrap_or(full);
        selectors.push(Some(in_prefix(address, network, length)));
    }
    // A locally generated packet's route lookup has `iif lo` (ip-rule(8));
    // its `oif` is a device only for a socket bound to one.
    if let Some(device) = rule["iif"].as_str() {
        selectors.push(Some(device == "lo"));
    }
    if rule.get("oif").is_some() {
        selectors.push(Some(false));
    }
    if let Some(protocol) = rule.get("ipproto") {
        let tcp = match protocol {
            serde_json::Value::String(name) => matches!(name.as_str(), "tcp" | "6" | "ipproto-6"),
            other => other.as_u64() == Some(6),
        };
        selectors.push(Some(tcp));
    }
    let range = |single: &str, start: &str, end: &str| -> Option<(u64, u64)> {
        match rule[single].as_u64() {
            Some(one) => Some((one, one)),
            None => Some((rule[start].as_u64()?, rule[end].as_u64()?)),
        }
    };
    if let Some((low, high)) = range("dport", "dport_start", "dport_end") {
        selectors.push(flow.port.map(|port| (low..=high).contains(&u64::from(port))));
    }
    if let Some((low, high)) = range("uid", "uid_start", "uid_end") {
        selectors.push(flow.uid.map(|uid| (low..=high).contains(&u64::from(uid))));
    }
    if let Some(wanted) = rule["fwmark"].as_str() {
        let hex = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).ok();
        let Some(wanted) = hex(wanted) else { return Some(false) };
        let mask = match rule["fwmask"].as_str() {
            Some(mask) => match hex(mask) {
                Some(mask) => mask,
                None => return Some(false),
            },
            None => u32::MAX,
        };
        // The kernel's test: `(rule mark ^ packet mark) & mask` is 0.
        selectors.push(Some((wanted ^ flow.mark.unwrap_or(0)) & mask == 0));
    }
    if selectors.iter().any(Option::is_none) {
        return Some(false);
    }
    let matched = selectors.into_iter().all(|selector| selector == Some(true));
    // `not` inverts the selectors as a whole.
    Some(matched != rule.get("not").is_some())
}

/// A rule as `ip rule` prints it: `50: to 127.0.0.0/8 lookup 100`.
fn describe_rule(rule: &serde_json::Value) -> String {
    let mut text = format!("{}:", rule["priority"].as_u64().unwrap_or(0));
    if rule.get("not").is_some() {
        text.push_str(" not");
    }
    let source = rule["src"].as_str().filter(|s| *s != "all");
    if let Some(source) = source {
        match rule["srclen"].as_u64() {
            Some(length) => text.push_str(&format!(" from {source}/{length}")),
            None => text.push_str(&format!(" from {source}")),
        }
    }
    if let Some(destination) = rule["dst"].as_str() {
        match rule["dstlen"].as_u64() {
            Some(length) => text.push_str(&format!(" to {destination}/{length}")),
            None => text.push_str(&format!(" to {destination}")),
        }
    } else if source.is_none() {
        text.push_str(" from all");
    }
    for (key, word) in [("iif", "iif"), ("oif", "oif"), ("ipproto", "ipproto")] {
        match &rule[key] {
            serde_json::Value::String(value) => text.push_str(&format!(" {word} {value}")),
            serde_json::Value::Number(value) => text.push_str(&format!(" {word} {value}")),
            _ => {}
        }
    }
    for (single, start, end, word) in [
        ("dport", "dport_start", "dport_end", "dport"),
        ("uid", "uid_start", "uid_end", "uidrange"),
    ] {
        match (rule[single].as_u64(), rule[start].as_u64(), rule[end].as_u64()) {
            (Some(one), _, _) => text.push_str(&format!(" {word} {one}")),
            (None, Some(low), Some(high)) if word == "dport" && low == high => {
                text.push_str(&format!(" {word} {low}"))
            }
            (None, Some(low), Some(high)) => text.push_str(&format!(" {word} {low}-{high}")),
            _ => {}
        }
    }
    if let Some(mark) = rule["fwmark"].as_str() {
        match rule["fwmask"].as_str() {
            Some(mask) => text.push_str(&format!(" fwmark {mark}/{mask}")),
            None => text.push_str(&format!(" fwmark {mark}")),
        }
    }
    if let Some(table) = rule["table"].as_str() {
        text.push_str(&format!(" lookup {table}"));
    }
    if let Some(action) = rule["action"].as_str() {
        text.push_str(&format!(" {action}"));
    }
    text
}

/// Whether a `local` route of `routes` (`ip -j route show`) holds `address`.
fn holds_local_route(routes: &serde_json::Value, address: IpAddr) -> bool {
    let only_local: Vec<serde_json::Value> = routes
        .as_array()
        .map(|all| all.iter().filter(|route| route["type"] == "local").cloned().collect())
        .unwrap_or_default();
    longest_route(&serde_json::Value::Array(only_local), address).is_some()
}

/// A route of `ip -j route show table T`.
struct FoundRoute {
    /// Its type as `ip route` prints it (`local`, `unicast`, `blackhole`).
    kind: String,
    /// Its destination as `ip route` prints it (`127.0.0.0/8`, `default`).
    destination: String,
    /// Its `src`: the source address a connection routed by it takes.
    source: Option<IpAddr>,
}

/// The longest route in `routes` (`ip -j route show table T`) that holds
/// `address`.
fn longest_route(routes: &serde_json::Value, address: IpAddr) -> Option<FoundRoute> {
    let full = if address.is_ipv4() { 32 } else { 128 };
    routes
        .as_array()?
        .iter()
        .filter_map(|route| {
            let destination = route["dst"].as_str()?;
            let (network, length) = match destination {
                "default" => (if address.is_ipv4() { "0.0.0.0" } else { "::" }, 0),
                _ => match destination.split_once('/') {
                    Some((network, length)) => (network, length.parse().ok()?),
                    None => (destination, full),
                },
            };
            let network: IpAddr = network.parse().ok()?;
            let holds =
                network.is_ipv4() == address.is_ipv4() && in_prefix(address, network, length);
            let found = FoundRoute {
                kind: route["type"].as_str().unwrap_or("unicast").to_string(),
                destination: destination.to_string(),
                source: route["prefsrc"].as_str().and_then(|s| s.parse().ok()),
            };
            holds.then_some((length, found))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, found)| found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;

    const UP: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],
        "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},
                     {"family":"inet6","local":"::1","prefixlen":128}]},
        {"ifindex":3,"ifname":"v0","flags":["BROADCAST","UP"],
        "addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24}]}]"#;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_xdp_program_on_lo_is_read_with_its_mode() {
        let attached = r#"[{"ifindex":1,"ifname":"lo","xdp":{"mode":2,"prog":{"id":4572,"name":"drop_all","tag":"b114","jited":1}}}]"#;
        assert_eq!(
            parse_xdp(attached),
            Some(XdpProgram { id: 4572, name: "drop_all".into(), mode: "generic" })
        );
        assert_eq!(parse_xdp(r#"[{"ifindex":1,"ifname":"lo","mtu":65536}]"#), None);
    }

    #[test]
    fn tc_bpf_filters_on_lo_are_read_once_each() {
        // `tc -j filter show dev lo ingress` with one direct-action filter.
        let listed = r#"[{"protocol":"all","pref":49152,"kind":"bpf","chain":0},{"protocol":"all","pref":49152,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"t.o:[tc]","direct-action":true,"not_in_hw":true,"prog":{"id":4645,"name":"drop_tc","tag":"614b434cd8324ecc","jited":1}}}]"#;
        assert_eq!(
            parse_tc_filters(listed, "ingress"),
            vec![TcFilter {
                direction: "ingress",
                pref: 49152,
                kind: "bpf".into(),
                handle: "0x1".into(),
                actions: Vec::new(),
                program_id: Some(4645),
                program_name: "drop_tc".into(),
            }]
        );
        // A u32 filter that redirects port 8080 to another device; its
        // hash table entry (no actions) is no filter of its own.
        let redirect = r#"[{"parent":"ffff:","protocol":"ip","pref":49152,"kind":"u32","chain":0},{"parent":"ffff:","protocol":"ip","pref":49152,"kind":"u32","chain":0,"options":{"fh":"800:","ht_divisor":1}},{"parent":"ffff:","protocol":"ip","pref":49152,"kind":"u32","chain":0,"options":{"fh":"800::800","order":2048,"key_ht":"800","bkt":"0","not_in_hw":true,"match":{"value":"1f90","mask":"ffff","offmask":"","off":20},"actions":[{"order":1,"kind":"mirred","mirred_action":"redirect","direction":"egress","to_dev":"v0","control_action":{"type":"stolen"},"index":1,"ref":1,"bind":1}]}}]"#;
        let found = parse_tc_filters(redirect, "ingress");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].kind.as_str(), found[0].handle.as_str()), ("u32", "800::800"));
        assert_eq!(found[0].actions, ["mirred"]);
        assert!(parse_tc_filters(redirect, "egress").is_empty());
        let listed_again = redirect.replace(r#""parent":"ffff:""#, r#""ingress":true"#);
        assert!(parse_tc_filters(&listed_again, "egress").is_empty());
        assert!(parse_tc_filters("[]", "egress").is_empty());
        assert!(parse_tc_filters("not json", "egress").is_empty());
    }

    #[test]
    fn a_root_qdisc_on_lo_is_read_with_its_counters() {
        let default = "qdisc noqueue 0: root refcnt 2 \n Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n";
        assert_eq!(parse_qdisc(default), None);
        let netem = "qdisc netem 8001: root refcnt 2 limit 1000 delay 5s loss 100%\n Sent 740 bytes 10 pkt (dropped 7, overlimits 0 requeues 0) \n backlog 180b 3p requeues 0\n";
        assert_eq!(
            parse_qdisc(netem),
            Some(Qdisc {
                kind: "netem".into(),
                line: "qdisc netem 8001: root limit 1000 delay 5s loss 100%".into(),
                sent: 10,
                dropped: 7,
                queued: 3,
            })
        );
        // An ingress qdisc hangs filters, it queues nothing.
        let tbf = "qdisc tbf 8003: root refcnt 2 rate 8bit burst 250b lat 60s \n Sent 214 bytes 3 pkt (dropped 0, overlimits 2 requeues 0) \n backlog 232b 2p requeues 0\nqdisc ingress ffff: parent ffff:fff1 ---------------- \n Sent 0 bytes 0 pkt (dropped 9, overlimits 0 requeues 0) \n";
        let read = parse_qdisc(tbf).unwrap();
        assert_eq!((read.kind.as_str(), read.sent, read.dropped, read.queued), ("tbf", 3, 0, 2));
        assert_eq!(read.line, "qdisc tbf 8003: root rate 8bit burst 250b lat 60s");
        assert!(read.interferes());
        let idle = Qdisc { queued: 0, ..read };
        assert!(!idle.interferes());
        assert_eq!(parse_qdisc("qdisc ingress ffff: parent ffff:fff1 ----------------\n"), None);
    }

    #[test]
    fn rule_selectors_are_evaluated_for_the_connection() {
        // As `ip -j rule show` prints them (iproute2 6.1).
        let rule = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
        let flow = Flow { port: Some(8080), uid: Some(0), mark: None };
        let at = ip("127.0.0.1");
        let cases = [
            (r#"{"priority":5,"src":"all","uid_start":0,"uid_end":0,"table":"100"}"#, true),
            (r#"{"priority":5,"src":"all","uid_start":1000,"uid_end":2000,"table":"100"}"#, false),
            (r#"{"priority":6,"src":"all","iif":"lo","table":"100"}"#, true),
            (r#"{"priority":6,"src":"all","iif":"eth0","table":"100"}"#, false),
            (r#"{"priority":11,"src":"all","oif":"lo","table":"100"}"#, false),
            (r#"{"priority":7,"src":"all","ipproto":"tcp","dport":8080,"table":"100"}"#, true),
            (r#"{"priority":7,"src":"all","ipproto":"udp","table":"100"}"#, false),
            (
                r#"{"priority":9,"src":"all","dport_start":8000,"dport_end":8100,"table":"100"}"#,
                true,
            ),
            (r#"{"priority":9,"src":"all","dport":9000,"table":"100"}"#, false),
            (
                r#"{"priority":8,"not":null,"src":"all","dst":"10.0.0.0","dstlen":8,"table":"100"}"#,
                true,
            ),
            (r#"{"priority":8,"not":null,"src":"all","iif":"lo","table":"100"}"#, false),
            // Not evaluated: a source port. Unmarked traffic misses a mark.
            (r#"{"priority":9,"src":"all","sport":5,"table":"100"}"#, false),
            (r#"{"priority":45,"src":"all","fwmark":"0x3","table":"7"}"#, false),
        ];
        for (json, expected) in cases {
            assert_eq!(rule_matches(&rule(json), at, None, flow), Some(expected), "{json}");
        }
        // A rule on the user or port cannot be judged without them.
        let by_user = rule(cases[0].0);
        assert_eq!(rule_matches(&by_user, at, None, Flow::default()), Some(false));
        assert_eq!(describe_rule(&by_user), "5: from all uidrange 0-0 lookup 100");
        let inverted = rule(cases[9].0);
        assert_eq!(describe_rule(&inverted), "8: not to 10.0.0.0/8 lookup 100");
        assert_eq!(describe_rule(&rule(cases[7].0)), "9: from all dport 8000-8100 lookup 100");
    }

    #[test]
    fn a_source_selector_matches_only_once_the_source_is_known() {
        let rule = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
        let flow = Flow { port: Some(8080), uid: Some(0), mark: None };
        let (at, v6) = (ip("127.0.0.1"), ip("::1"));
        let host = rule(r#"{"priority":50,"src":"127.0.0.1","table":"100"}"#);
        let network = rule(r#"{"priority":50,"src":"127.0.0.0","srclen":8,"table":"100"}"#);
        let other = rule(r#"{"priority":50,"src":"10.0.0.0","srclen":8,"table":"100"}"#);
        let inverted = rule(r#"{"priority":50,"not":null,"src":"127.0.0.1","table":"100"}"#);
        let loopback6 = rule(r#"{"priority":50,"src":"::1","table":"100"}"#);
        // The first lookup of a connect has no source: none of them match
        // (the inverted one does, as the kernel's compare with 0 says).
        for (rule, expected) in
            [(&host, false), (&network, false), (&other, false), (&inverted, true)]
        {
            assert_eq!(rule_matches(rule, at, None, flow), Some(expected), "{rule}");
        }
        assert_eq!(rule_matches(&loopback6, v6, None, flow), Some(false));
        // The second, with the source taken from the local route.
        for (rule, expected) in
            [(&host, true), (&network, true), (&other, false), (&inverted, false)]
        {
            assert_eq!(rule_matches(rule, at, Some(at), flow), Some(expected), "{rule}");
        }
        assert_eq!(rule_matches(&loopback6, v6, Some(v6), flow), Some(true));
        assert_eq!(describe_rule(&host), "50: from 127.0.0.1 lookup 100");
        assert_eq!(describe_rule(&network), "50: from 127.0.0.0/8 lookup 100");
        let both = rule(r#"{"priority":7,"src":"::1","dst":"::1","table":"9"}"#);
        assert_eq!(describe_rule(&both), "7: from ::1 to ::1 lookup 9");
    }

    #[test]
    fn a_rule_on_the_source_decides_the_second_lookup_of_a_connect() {
        // `from 127.0.0.1 lookup 100` before table local: `ip route get`
        // without a source answers local, with the source it fails.
        let rules = r#"[{"priority":50,"src":"127.0.0.0","srclen":8,"table":"100"},
            {"priority":100,"src":"all","table":"local"},
            {"priority":32766,"src":"all","table":"main"}]"#;
        let local_route =
            r#"[{"type":"local","dst":"127.0.0.0/8","dev":"lo","prefsrc":"127.0.0.1"}]"#;
        let mut system = Scripted::default()
            .command("ip -j addr show", UP)
            .command("ip -j -4 rule show", rules)
            .command("ip -j -4 route show table local", local_route)
            .command("ip -j -4 route show table 100", r#"[{"type":"blackhole","dst":"127.0.0.0/8"}]"#)
            .command(
                "ip -j route get 127.0.0.2",
                r#"[{"type":"local","dst":"127.0.0.2","dev":"lo","table":"local","prefsrc":"127.0.0.1"}]"#,
            );
        let failed = crate::inventory::system::CommandOutput { success: false, stdout: Vec::new() };
        system.commands.insert("ip -j route get 127.0.0.2 from 127.0.0.1".into(), failed.clone());
        let expected = LoopbackProblem::PolicyRule {
            address: ip("127.0.0.2"),
            priority: 50,
            rule: "50: from 127.0.0.0/8 lookup 100".into(),
            route: "blackhole 127.0.0.0/8 in table 100".into(),
            source: Some(ip("127.0.0.1")),
        };
        assert_eq!(loopback_problem(&system, ip("127.0.0.2"), Flow::default()), Some(expected));
        // A source elsewhere: the second lookup is local too, nothing is
        // claimed.
        let elsewhere = rules.replace(r#""src":"127.0.0.0""#, r#""src":"10.0.0.0""#);
        let system = system.command("ip -j -4 rule show", &elsewhere).command(
            "ip -j route get 127.0.0.2 from 127.0.0.1",
            r#"[{"type":"local","dst":"127.0.0.2","dev":"lo","prefsrc":"127.0.0.1"}]"#,
        );
        assert_eq!(loopback_problem(&system, ip("127.0.0.2"), Flow::default()), None);
        assert_eq!(policy_rule(&system, ip("127.0.0.2"), Flow::default()), None);
        // With table local first, the source rule never decides.
        let first = r#"[{"priority":0,"src":"all","table":"local"},
            {"priority":50,"src":"127.0.0.0","srclen":8,"table":"100"}]"#;
        let system = system.command("ip -j -4 rule show", first);
        assert_eq!(policy_rule(&system, ip("127.0.0.2"), Flow::default()), None);
        // ::1's local route names no source: the address is its own.
        let system = Scripted::default()
            .command(
                "ip -j -6 rule show",
                r#"[{"priority":50,"src":"::1","table":"100"},{"priority":100,"src":"all","table":"local"}]"#,
            )
            .command("ip -j -6 route show table local", r#"[{"type":"local","dst":"::1","dev":"lo"}]"#)
            .command("ip -j -6 route show table 100", r#"[{"type":"prohibit","dst":"default"}]"#);
        assert_eq!(
            policy_rule(&system, ip("::1"), Flow::default()),
            Some(LoopbackProblem::PolicyRule {
                address: ip("::1"),
                priority: 50,
                rule: "50: from ::1 lookup 100".into(),
                route: "prohibit default in table 100".into(),
                source: Some(ip("::1")),
            })
        );
    }

    #[test]
    fn a_fwmark_rule_decides_the_lookup_of_the_marked_syn_only() {
        let rule = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap();
        let at = ip("127.0.0.1");
        let exact = rule(r#"{"priority":50,"src":"all","fwmark":"0x1","table":"100"}"#);
        let masked =
            rule(r#"{"priority":50,"src":"all","fwmark":"0x1","fwmask":"0xff","table":"100"}"#);
        let unmarked = Flow::default();
        let marked = |mark| Flow { mark: Some(mark), ..Flow::default() };
        assert_eq!(rule_matches(&exact, at, Some(at), unmarked), Some(false));
        assert_eq!(rule_matches(&exact, at, Some(at), marked(1)), Some(true));
        assert_eq!(rule_matches(&exact, at, Some(at), marked(0x101)), Some(false));
        assert_eq!(rule_matches(&masked, at, Some(at), marked(0x101)), Some(true));
        assert_eq!(rule_matches(&masked, at, Some(at), marked(2)), Some(false));
        assert_eq!(describe_rule(&masked), "50: from all fwmark 0x1/0xff lookup 100");
        // connect()'s own lookups find table local; the SYN marked 0x1 is
        // routed again and meets rule 50.
        let rules = r#"[{"priority":50,"src":"all","fwmark":"0x1","table":"100"},
            {"priority":100,"src":"all","table":"local"}]"#;
        let mut system = Scripted::default()
            .command("ip -j -4 rule show", rules)
            .command(
                "ip -j -4 route show table local",
                r#"[{"type":"local","dst":"127.0.0.0/8","prefsrc":"127.0.0.1"}]"#,
            )
            .command(
                "ip -j -4 route show table 100",
                r#"[{"type":"unreachable","dst":"127.0.0.0/8"}]"#,
            )
            .command(
                "ip -j route get 127.0.0.1",
                r#"[{"type":"local","dst":"127.0.0.1","prefsrc":"127.0.0.1"}]"#,
            );
        let failed = crate::inventory::system::CommandOutput { success: false, stdout: Vec::new() };
        let marked_lookup = "ip -j route get 127.0.0.1 from 127.0.0.1 mark 0x1";
        system.commands.insert(marked_lookup.into(), failed);
        assert_eq!(policy_rule(&system, at, unmarked), None);
        let expected = LoopbackProblem::PolicyRule {
            address: at,
            priority: 50,
            rule: "50: from all fwmark 0x1 lookup 100".into(),
            route: "unreachable 127.0.0.0/8 in table 100".into(),
            source: None,
        };
        assert_eq!(marked_rule(&system, at, marked(1)), Some(expected));
        assert_eq!(marked_rule(&system, at, unmarked), None);
        // The kernel routes the marked SYN locally after all: no claim.
        let local = system.command(marked_lookup, r#"[{"type":"local","dst":"127.0.0.1"}]"#);
        assert_eq!(marked_rule(&local, at, marked(1)), None);
    }

    #[test]
    fn parses_names_flags_and_addresses() {
        let interfaces = parse(UP).unwrap();
        assert_eq!(interfaces.len(), 2);
        assert_eq!(interfaces[1].name, "v0");
        assert!(interfaces[0].up);
        assert_eq!(interfaces[0].addresses, vec![(ip("127.0.0.1"), 8), (ip("::1"), 128)]);
    }

    #[test]
    fn down_link_missing_address_and_missing_route() {
        let down = UP.replacen(r#""LOOPBACK","UP","LOWER_UP""#, r#""LOOPBACK""#, 1);
        let system = Scripted::default().command("ip -j addr show", &down);
        assert_eq!(
            loopback_problem(&system, ip("127.0.0.1"), Flow::default()),
            Some(LoopbackProblem::LinkDown)
        );

        let no_v6 = UP.replacen(r#""local":"::1""#, r#""local":"fe80::1""#, 1);
        let system = Scripted::default().command("ip -j addr show", &no_v6);
        assert_eq!(
            loopback_problem(&system, ip("::1"), Flow::default()),
            Some(LoopbackProblem::AddressMissing { address: ip("::1") })
        );

        // The address is there, the route is not: `ip route get` fails.
        let mut system = Scripted::default().command("ip -j addr show", UP);
        let failed = crate::inventory::system::CommandOutput { success: false, stdout: Vec::new() };
        system.commands.insert("ip -j route get 127.0.0.1".to_string(), failed.clone());
        assert!(matches!(
            loopback_problem(&system, ip("127.0.0.1"), Flow::default()),
            Some(LoopbackProblem::NoLocalRoute { .. })
        ));

        let routed = Scripted::default().command("ip -j addr show", UP).command(
            "ip -j route get 127.0.0.2",
            r#"[{"type":"local","dst":"127.0.0.2","dev":"lo"}]"#,
        );
        assert_eq!(loopback_problem(&routed, ip("127.0.0.2"), Flow::default()), None);
        // A rule before table local sends loopback to an unreachable route.
        let rules = r#"[{"priority":0,"src":"all","table":"local"},
            {"priority":45,"src":"all","fwmark":"0x3","table":"7"},
            {"priority":50,"src":"all","dst":"127.0.0.0","dstlen":8,"table":"100"}]"#;
        let moved = rules.replacen(r#""priority":0,"#, r#""priority":100,"#, 1);
        let scripted = |rules: &str| {
            let mut system = Scripted::default()
                .command("ip -j addr show", UP)
                .command("ip -j -4 rule show", rules)
                .command(
                    "ip -j -4 route show table 100",
                    r#"[{"type":"unreachable","dst":"127.0.0.0/8"}]"#,
                )
                .command("ip -j -4 route show table 7", r#"[{"type":"blackhole","dst":"default"}]"#)
                .command(
                    "ip -j -4 route show table local",
                    r#"[{"type":"local","dst":"127.0.0.0/8"}]"#,
                );
            system.commands.insert("ip -j route get 127.0.0.1".to_string(), failed.clone());
            system
        };
        assert_eq!(
            loopback_problem(&scripted(&moved), ip("127.0.0.1"), Flow::default()),
            Some(LoopbackProblem::PolicyRule {
                address: ip("127.0.0.1"),
                priority: 50,
                rule: "50: to 127.0.0.0/8 lookup 100".into(),
                route: "unreachable 127.0.0.0/8 in table 100".into(),
                source: None,
            })
        );
        // With table local consulted first, the rule never decides.
        let first = scripted(rules);
        assert_eq!(policy_rule(&first, ip("127.0.0.1"), Flow::default()), None);
        // Table local itself holds a longer route that is not local.
        let mut shadowed = first.command(
            "ip -j -4 route show table local",
            r#"[{"type":"local","dst":"127.0.0.0/8","dev":"lo"},
                {"type":"blackhole","dst":"127.0.0.2","flags":[]}]"#,
        );
        shadowed.commands.insert("ip -j route get 127.0.0.2".to_string(), failed.clone());
        assert_eq!(
            loopback_problem(&shadowed, ip("127.0.0.2"), Flow::default()),
            Some(LoopbackProblem::RouteInLocalTable {
                address: ip("127.0.0.2"),
                kind: "blackhole".into(),
                destination: "127.0.0.2".into(),
                local_route_kept: true,
            })
        );
        // ::1's own local route deleted and an unreachable one in its place:
        // deleting that leaves no local route, so the fix adds one.
        let mut replaced = Scripted::default()
            .command("ip -j addr show", UP)
            .command("ip -j -6 rule show", r#"[{"priority":0,"src":"all","table":"local"}]"#)
            .command(
                "ip -j -6 route show table local",
                r#"[{"type":"unreachable","dst":"::1","flags":[]}]"#,
            );
        replaced.commands.insert("ip -j route get ::1".to_string(), failed.clone());
        assert_eq!(
            loopback_problem(&replaced, ip("::1"), Flow::default()),
            Some(LoopbackProblem::RouteInLocalTable {
                address: ip("::1"),
                kind: "unreachable".into(),
                destination: "::1".into(),
                local_route_kept: false,
            })
        );
        assert_eq!(policy_rule(&shadowed, ip("127.0.0.1"), Flow::default()), None);
        // Table local lost the route of 127.0.0.2 and table main sends
        // 127.0.0.0/8 out of v0: rule 32766 is consulted after table local,
        // so the missing local route is named, not that rule.
        let elsewhere = Scripted::default()
            .command("ip -j addr show", UP)
            .command(
                "ip -j -4 rule show",
                r#"[{"priority":0,"src":"all","table":"local"},
                    {"priority":32766,"src":"all","table":"main"},
                    {"priority":32767,"src":"all","table":"default"}]"#,
            )
            .command(
                "ip -j -4 route show table local",
                r#"[{"type":"local","dst":"127.0.0.1","dev":"lo"}]"#,
            )
            .command(
                "ip -j -4 route show table main",
                r#"[{"dst":"127.0.0.0/8","dev":"v0","scope":"link","flags":[]}]"#,
            )
            .command(
                "ip -j route get 127.0.0.2",
                r#"[{"dst":"127.0.0.2","dev":"v0","prefsrc":"10.9.0.1"}]"#,
            );
        assert_eq!(
            loopback_problem(&elsewhere, ip("127.0.0.2"), Flow::default()),
            Some(LoopbackProblem::NoLocalRoute {
                address: ip("127.0.0.2"),
                route: "unicast 127.0.0.2 dev v0".into(),
            })
        );
        // Without `ip`, nothing is claimed.
        assert_eq!(loopback_problem(&Scripted::default(), ip("127.0.0.1"), Flow::default()), None);
    }
}
