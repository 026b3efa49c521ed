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
//! the namespace: a firewall change, a client that connects to the
//! listener, or a line that starts the server again (its own program, or
//! one of the servers the fixes restart), which would otherwise bind in
//! the caller's namespace. Configuration lines, `kill`, `systemctl` and
//! package managers are left alone: they act on files and processes,
//! which namespaces of the network do not separate (and a package manager
//! needs the caller's network).

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
    // Its checks connect and read sysctls where it runs.
    "porthole",
];

/// Servers the fixes start again on another address (`memcached -l
/// 127.0.0.1 …`, `cd DIR && python3 -m http.server … --bind 127.0.0.1`):
/// started from the caller's namespace they would bind there, not in the
/// listener's.
const SERVER_PROGRAMS: &[&str] = &[
    "python",
    "python3",
    "memcached",
    "redis-server",
    "valkey-server",
    "mysqld",
    "mariadbd",
    "postgres",
    "pg_ctl",
    "jupyter",
    "jupyter-lab",
    "jupyter-notebook",
    "node",
    "php",
    "ruby",
    "nginx",
];

/// `fix` with every quoted command (`like this`) that acts on the network
/// run through `prefix` (`ip netns exec NAME `); the words around them,
/// and commands that do not depend on the namespace, are unchanged.
/// `server` is the listener's program name (`comm`): a line that starts it
/// again starts it inside too.
pub fn fix_inside(prefix: &str, fix: &str, server: Option<&str>) -> String {
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
        if quoted && acts_on_network(piece, server) {
            out.push_str(&crate::inventory::namespaces::run_inside(prefix, piece));
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// Whether a program of a quoted command depends on the namespace: one of
/// each simple command (`cd DIR && prog …` runs `cd`, then `prog`), past
/// the wrappers that run it (`sudo`, `runuser -u USER --`, `env`, `VAR=x`).
fn acts_on_network(command: &str, server: Option<&str>) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.split(|word| matches!(*word, "&&" | "||" | ";" | "|")).any(|simple| {
        let Some(program) = program_of(simple) else { return false };
        let name = program.rsplit('/').next().unwrap_or(program);
        // `comm` holds at most 15 bytes of the program's name: a name
        // that long may be the start of a longer one.
        let started_again = server.is_some_and(|server| match server.len() {
            0 => false,
            15 => name.as_bytes().starts_with(server.as_bytes()),
            _ => name == server,
        });
        NETWORK_PROGRAMS.contains(&name) || SERVER_PROGRAMS.contains(&name) || started_again
    })
}

/// The program a simple command runs, past `sudo`, `runuser`, `env`,
/// `nohup`, `setsid`, `exec` and variable assignments in front of it.
fn program_of<'a>(words: &[&'a str]) -> Option<&'a str> {
    let mut rest = words;
    loop {
        let (&first, tail) = rest.split_first()?;
        rest = match first {
            "sudo" | "runuser" => {
                // Their options, and the value of those that take one
                // (`-u USER`), up to `--` or the program.
                let mut tail = tail;
                while let Some((&option, after)) = tail.split_first() {
                    if option == "--" {
                        tail = after;
                        break;
                    }
                    if !option.starts_with('-') {
                        break;
                    }
                    tail = match option {
                        "-u" | "-g" | "-U" | "-G" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t"
                            if !after.is_empty() =>
                        {
                            &after[1..]
                        }
                        _ => after,
                    };
                }
                tail
            }
            "env" | "nohup" | "setsid" | "exec" => tail,
            word if word.contains('=') && !word.starts_with(['-', '/', '\'', '"']) => tail,
            _ => return Some(first),
        };
    }
}

/// How the fixes of a listener in `namespace` enter it: by its `ip netns`
/// name, else through a process inside. A process other than the
/// listener's `owners` goes first: a fix that stops the listener and
/// starts it again must still find the namespace after the stop. `None`
/// when no name or process leads there.
pub fn handle_for(namespace: &Namespace, owners: &[u32]) -> Option<NamespaceHandle> {
    let other = namespace.example_pid.filter(|pid| !owners.contains(pid));
    let path = match (&namespace.name, other.or(owners.first().copied()).or(namespace.example_pid))
    {
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
                "bind to 127.0.0.1:80; or drop it: `iptables -I INPUT ! -i lo -p tcp --dport 80 -j DROP`",
                None
            ),
            "bind to 127.0.0.1:80; or drop it: `ip netns exec demo iptables -I INPUT ! -i lo -p tcp --dport 80 -j DROP`"
        );
        // The semicolons of an nft script are inside its quotes.
        assert_eq!(
            fix_inside(prefix, "`nft 'add table inet filter; add chain inet filter input'`", None),
            "`ip netns exec demo nft 'add table inet filter; add chain inet filter input'`"
        );
        assert_eq!(
            fix_inside(prefix, "`ip6tables -I INPUT -j DROP && iptables -I INPUT -j DROP`", None),
            "`ip netns exec demo sh -c 'ip6tables -I INPUT -j DROP && iptables -I INPUT -j DROP'`"
        );
        // Quoted `<` and `>` are no redirections: still one simple command.
        assert_eq!(
            fix_inside(prefix, "`redis-cli -h 127.0.0.1 -p 6379 --askpass CONFIG SET requirepass '<new long random secret>'`, then `CONFIG REWRITE`", None),
            "`ip netns exec demo redis-cli -h 127.0.0.1 -p 6379 --askpass CONFIG SET requirepass '<new long random secret>'`, then `CONFIG REWRITE`"
        );
        let config = "set `bind 127.0.0.1 -::1` in redis.conf, then `systemctl restart redis`";
        assert_eq!(fix_inside(prefix, config, Some("redis-server")), config);
        let unpaired = "a `nft list ruleset";
        assert_eq!(fix_inside(prefix, unpaired, None), unpaired);
    }

    #[test]
    fn a_server_started_again_starts_inside_and_a_kill_stays_outside() {
        let prefix = "ip netns exec demo ";
        assert_eq!(
            fix_inside(
                prefix,
                "`kill 42`, then start it on loopback: `cd /srv && /usr/bin/python3 -m http.server 8000 --bind 127.0.0.1`",
                Some("python3")
            ),
            "`kill 42`, then start it on loopback: `ip netns exec demo sh -c 'cd /srv && /usr/bin/python3 -m http.server 8000 --bind 127.0.0.1'`"
        );
        assert_eq!(
            fix_inside(prefix, "`kill 7`, then start it as `memcached -l 127.0.0.1 -U 0`", None),
            "`kill 7`, then start it as `ip netns exec demo memcached -l 127.0.0.1 -U 0`"
        );
        // Past the wrappers that run it as its user; a program of its own
        // is known by the listener's name (`comm`, at most 15 bytes).
        assert_eq!(
            fix_inside(
                prefix,
                "`runuser -u dev -- /opt/app/bin/my-api-server-v2 --port 1`",
                Some("my-api-server-v")
            ),
            "`ip netns exec demo runuser -u dev -- /opt/app/bin/my-api-server-v2 --port 1`"
        );
        assert_eq!(
            fix_inside(prefix, "`sudo -u dev env PORT=1 ./app`", Some("app")),
            "`ip netns exec demo sudo -u dev env PORT=1 ./app`"
        );
        // porthole's own checks connect from where they run.
        assert_eq!(
            fix_inside(prefix, "run `/usr/local/bin/porthole check 127.0.0.1:80` as root", None),
            "run `ip netns exec demo /usr/local/bin/porthole check 127.0.0.1:80` as root"
        );
        // A short name is the whole name, not the start of another.
        let other = "`apt-get install --only-upgrade a2`";
        assert_eq!(fix_inside(prefix, other, Some("a")), other);
        let edit = "`sed -i -e '6s/x/y/' /etc/memcached.conf`, then `kill -HUP 42`";
        assert_eq!(fix_inside(prefix, edit, Some("memcached")), edit);
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
        assert_eq!(handle_for(&namespace, &[42]).unwrap().path, "/run/netns/demo");
        let unnamed = Namespace { name: None, ..namespace };
        // Another process of the namespace outlives a `kill` of the owner.
        assert_eq!(handle_for(&unnamed, &[42]).unwrap().path, "/proc/10/ns/net");
        assert_eq!(handle_for(&unnamed, &[10, 42]).unwrap().path, "/proc/10/ns/net");
        assert_eq!(handle_for(&unnamed, &[]).unwrap().path, "/proc/10/ns/net");
        let alone = Namespace { example_pid: None, ..unnamed };
        assert_eq!(handle_for(&alone, &[42]).unwrap().path, "/proc/42/ns/net");
        assert!(handle_for(&alone, &[]).is_none());
    }
}
