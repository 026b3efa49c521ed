//! Listeners in other network namespaces (`audit --netns all`, or the one
//! `--netns NAME|PATH` names): each is judged with the firewall of its own
//! namespace, and the commands in its fix are rewritten to run there.
//!
//! A namespace has its own nftables ruleset and iptables tables; the
//! caller's say nothing about it. [`read_firewalls`] reads each one on a
//! thread that entered the namespace (`nft` and `iptables-save`, started
//! from that thread, inherit it). A fix line is read in the caller's
//! namespace, so [`fix_inside`] puts `ip netns exec NAME` (or `nsenter
//! --net=PATH`) in front of each quoted command whose effect depends on
//! the namespace: a firewall change, or a client that connects to the
//! listener. Configuration lines, `systemctl` and package managers are
//! left alone: they act on files and processes, which namespaces of the
//! network do not separate (and a package manager needs the caller's
//! network).

use std::collections::BTreeMap;

use super::firewall::HostFirewall;
use super::Target;
use crate::inventory::system::System;
use crate::inventory::NamespaceHandle;
use crate::model::{Namespace, Protocol};

/// Programs whose effect depends on the network namespace they run in:
/// firewalls, socket and interface tools, and the clients the fixes use to
/// reach a service on its (namespace-local) address.
const NETWORK_PROGRAMS: &[&str] = &[
    "nft",
    "iptables",
    "ip6tables",
    "ss",
    "ip",
    "sysctl",
    "redis-cli",
    "valkey-cli",
    "psql",
    "mysql",
    "mariadb",
    "mongosh",
    "curl",
    "etcdctl",
    "rabbitmqctl",
];

/// `fix` with every quoted command (`like this`) that acts on the network
/// run through `prefix` (`ip netns exec NAME `); the words around them,
/// and commands that do not depend on the namespace, are unchanged.
pub fn fix_inside(prefix: &str, fix: &str) -> String {
    let mut out = String::with_capacity(fix.len() + prefix.len());
    // Odd pieces of a split on backticks are the quoted ones; an unpaired
    // last backtick leaves an odd count, and that text is left as it is.
    let pieces: Vec<&str> = fix.split('`').collect();
    let paired = pieces.len() % 2 == 1;
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            out.push('`');
        }
        let quoted = index % 2 == 1 && (paired || index + 1 < pieces.len());
        if quoted && acts_on_network(piece) {
            out.push_str(&crate::inventory::namespaces::run_inside(prefix, piece));
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// Whether a quoted command's first program depends on the namespace.
fn acts_on_network(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or_default();
    NETWORK_PROGRAMS.contains(&first)
}

/// How the fixes of a listener in `namespace` enter it: by its `ip netns`
/// name, else through a process inside (`owner`, the listener's, first).
/// `None` when no name or process leads there.
pub fn handle_for(namespace: &Namespace, owner: Option<u32>) -> Option<NamespaceHandle> {
    let path = match (&namespace.name, owner.or(namespace.example_pid)) {
        (Some(name), _) => format!("/run/netns/{name}"),
        (None, Some(pid)) => format!("/proc/{pid}/ns/net"),
        (None, None) => return None,
    };
    Some(NamespaceHandle { path, inode: namespace.inode })
}

/// The firewall of each namespace other than the caller's that has an IP
/// listener among `targets`, read from inside it; `Err` says why it could
/// not be (entering needs root).
pub fn read_firewalls(
    system: &dyn System,
    targets: &[Target],
    handles: &BTreeMap<u64, String>,
    current: Option<u64>,
) -> BTreeMap<u64, Result<HostFirewall, String>> {
    let mut firewalls = BTreeMap::new();
    for target in targets.iter().filter(|t| t.protocol != Protocol::Unix) {
        let Some(inode) = target.net_namespace.filter(|&ns| Some(ns) != current) else {
            continue;
        };
        if firewalls.contains_key(&inode) {
            continue;
        }
        let read = match handles.get(&inode) {
            Some(path) => {
                let handle = NamespaceHandle { path: path.clone(), inode };
                crate::inventory::namespaces::within(&handle, || HostFirewall::read(system))
                    .map_err(|error| {
                        let cause = std::error::Error::source(&error)
                            .map(|source| format!(": {source}"))
                            .unwrap_or_default();
                        format!("{error}{cause}")
                    })
            }
            None => Err("no process or name leads into it".to_string()),
        };
        firewalls.insert(inode, read);
    }
    firewalls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commands_that_act_on_the_network_move_inside() {
        let prefix = "ip netns exec demo ";
        assert_eq!(
            fix_inside(
                prefix,
                "bind to 127.0.0.1:80; or drop it: `iptables -I INPUT ! -i lo -p tcp --dport 80 -j DROP`"
            ),
            "bind to 127.0.0.1:80; or drop it: `ip netns exec demo iptables -I INPUT ! -i lo -p tcp --dport 80 -j DROP`"
        );
        // The semicolons of an nft script are inside its quotes.
        assert_eq!(
            fix_inside(prefix, "`nft 'add table inet filter; add chain inet filter input'`"),
            "`ip netns exec demo nft 'add table inet filter; add chain inet filter input'`"
        );
        assert_eq!(
            fix_inside(prefix, "`ip6tables -I INPUT -j DROP && iptables -I INPUT -j DROP`"),
            "`ip netns exec demo sh -c 'ip6tables -I INPUT -j DROP && iptables -I INPUT -j DROP'`"
        );
        // Quoted `<` and `>` are no redirections: still one simple command.
        assert_eq!(
            fix_inside(prefix, "`redis-cli -h 127.0.0.1 -p 6379 --askpass CONFIG SET requirepass '<new long random secret>'`, then `CONFIG REWRITE`"),
            "`ip netns exec demo redis-cli -h 127.0.0.1 -p 6379 --askpass CONFIG SET requirepass '<new long random secret>'`, then `CONFIG REWRITE`"
        );
        let config = "set `bind 127.0.0.1 -::1` in redis.conf, then `systemctl restart redis`";
        assert_eq!(fix_inside(prefix, config), config);
        let unpaired = "a `nft list ruleset";
        assert_eq!(fix_inside(prefix, unpaired), unpaired);
    }

    #[test]
    fn a_name_leads_in_before_a_process() {
        let namespace = Namespace {
            inode: 7,
            is_current: false,
            name: Some("demo".into()),
            example_pid: Some(10),
            container: None,
        };
        assert_eq!(handle_for(&namespace, Some(42)).unwrap().path, "/run/netns/demo");
        let unnamed = Namespace { name: None, ..namespace };
        assert_eq!(handle_for(&unnamed, Some(42)).unwrap().path, "/proc/42/ns/net");
        assert_eq!(handle_for(&unnamed, None).unwrap().path, "/proc/10/ns/net");
    }
}
