//! `--netns all`: the sockets of every network namespace on the machine.
//!
//! Namespaces are found through `/proc/*/ns/net` (every namespace some
//! process lives in) and `/run/netns/*` (named by `ip netns add`, possibly
//! with no process inside). Each one is read by a short-lived thread that
//! enters it with `setns` and runs the normal netlink dump; without the
//! privilege to enter, `/proc/PID/net/*` of a process inside it is read
//! instead (the text tables show the reader's view of that pid's namespace).

use std::collections::BTreeMap;

use super::{enumerate_current, procfs::Procfs, Inventory, InventoryError, NamespaceHandle, Query};
use crate::model::{Namespace, Socket, Source, Visibility};

/// Sockets of all namespaces, each labelled with its namespace inode.
pub struct AllNamespaces {
    pub sockets: Vec<Socket>,
    pub namespaces: Vec<Namespace>,
    pub source: Source,
}

/// Where a namespace can be entered from.
struct Found {
    namespace: Namespace,
    /// `/proc/PID/ns/net` or `/run/netns/NAME`.
    handle: String,
}

/// Inode of the network namespace porthole runs in (0 when unreadable).
pub fn own_inode() -> u64 {
    crate::sys::netns::inode_of("/proc/thread-self/ns/net").unwrap_or(0)
}

/// An identity of the calling thread's network namespace that no later
/// namespace takes over: its cookie (Linux 5.14+), else its inode (which a
/// namespace made after this one ended can get again).
pub fn own_identity() -> u64 {
    crate::sys::netns::own_cookie().unwrap_or_else(own_inode)
}

/// Lists every network namespace: inode → how to enter it and who is there.
fn discover() -> (u64, Vec<Found>) {
    let current = own_inode();
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let path = entry.path().to_string_lossy().into_owned();
            // A plain file is left where `ip netns add` failed or the
            // namespace was unmounted: no namespace, and nothing to read.
            if !crate::sys::netns::is_network_namespace(&path).unwrap_or(false) {
                continue;
            }
            let Ok(inode) = crate::sys::netns::inode_of(&path) else { continue };
            found.insert(
                inode,
                Found {
                    namespace: Namespace {
                        inode,
                        is_current: inode == current,
                        name: Some(entry.file_name().to_string_lossy().into_owned()),
                        example_pid: None,
                        container: None,
                    },
                    handle: path,
                },
            );
        }
    }
    for pid in super::owners::list_pids() {
        let handle = format!("/proc/{pid}/ns/net");
        let Ok(inode) = crate::sys::netns::inode_of(&handle) else { continue };
        let entry = found.entry(inode).or_insert_with(|| Found {
            namespace: Namespace {
                inode,
                is_current: inode == current,
                name: None,
                example_pid: None,
                container: None,
            },
            handle: handle.clone(),
        });
        if entry.namespace.example_pid.is_none() {
            entry.namespace.example_pid = Some(pid);
            let cgroup =
                super::process::read_text(&format!("/proc/{pid}/cgroup")).unwrap_or_default();
            entry.namespace.container = super::process::parse_cgroup(&cgroup).1;
            // Prefer a process handle: it also works for the /proc fallback.
            entry.handle = handle;
        }
    }
    (current, found.into_values().collect())
}

/// Enumerates every namespace with the query's filters.
pub fn enumerate_all(
    query: &Query,
    visibility: &mut Visibility,
) -> Result<AllNamespaces, InventoryError> {
    let (current, found) = discover();
    let mut sockets = Vec::new();
    let mut namespaces = Vec::new();
    let mut source = Source::Netlink;
    for entry in found {
        let inode = entry.namespace.inode;
        match list_found(&entry, current, query) {
            Ok(Some((mut listed, used))) => {
                if used == Source::Procfs {
                    source = Source::Procfs;
                }
                for socket in &mut listed {
                    socket.net_namespace = Some(inode);
                }
                sockets.extend(listed);
                namespaces.push(entry.namespace);
            }
            // Its last process exited while the others were being read:
            // gone, not unreadable, as there is nothing left to see.
            Ok(None) => {}
            Err(_) => visibility.unreadable_namespaces += 1,
        }
    }
    Ok(AllNamespaces { sockets, namespaces, source })
}

/// Reads a namespace [`discover`] found. `None` when it is gone by now:
/// its last process exited between being found and being entered (`kill
/// --netns /proc/PID/ns/net` looking at the port again after PID stopped).
fn list_found(
    entry: &Found,
    current: u64,
    query: &Query,
) -> Result<Option<(Vec<Socket>, Source)>, InventoryError> {
    let inode = entry.namespace.inode;
    let listed = if inode == current { enumerate_current(query) } else { read_other(entry, query) };
    match listed {
        Ok(listed) => Ok(Some(listed)),
        Err(_) if is_gone(inode, &entry.handle) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads the namespace process `pid` was found in, known to be `inode`, as
/// `--netns` reads it after finding it there: `None` once that namespace is
/// gone. What a namespace that vanishes mid-run looks like to every reader.
pub fn list_found_through_process(
    pid: u32,
    inode: u64,
    query: &Query,
) -> Result<Option<(Vec<Socket>, Source)>, InventoryError> {
    let entry = Found {
        namespace: Namespace {
            inode,
            is_current: inode == own_inode(),
            name: None,
            example_pid: Some(pid),
            container: None,
        },
        handle: format!("/proc/{pid}/ns/net"),
    };
    list_found(&entry, own_inode(), query)
}

/// True when the namespace `inode` no longer exists: `path` leads elsewhere
/// or nowhere and no process lives in it. Only asked after a read of it
/// failed, so the `/proc` scan this may take is off the usual path.
fn is_gone(inode: u64, path: &str) -> bool {
    crate::sys::netns::inode_of(path).ok() != Some(inode)
        && !discover().1.iter().any(|found| found.namespace.inode == inode)
}

/// The listing of a namespace that is gone: it has no sockets.
fn gone_namespace(inode: u64) -> AllNamespaces {
    let namespace =
        Namespace { inode, is_current: false, name: None, example_pid: None, container: None };
    AllNamespaces { sockets: Vec::new(), namespaces: vec![namespace], source: Source::Netlink }
}

/// Why `--netns NAME|PATH` names no network namespace.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no network namespace is named '{name}' (`ip netns list` shows the names; a path such as /proc/PID/ns/net works too)")]
    NoSuchName { name: String },
    #[error("{path} is not a network namespace (expected /run/netns/NAME, /proc/PID/ns/net or a bind mount of one)")]
    NotANamespace { path: String },
    #[error("no network namespace is mounted on {path} any more (`ip netns delete {name}` removes the leftover file)")]
    Stale { name: String, path: String },
    #[error("process {pid} does not exist (any more), so neither does the path to its network namespace")]
    NoProcess { pid: u32 },
    #[error("{path}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Finds the namespace `text` names: a name given to `ip netns add` (a
/// file in `/run/netns`), or, when it contains a `/`, a path to a
/// namespace file (`/proc/PID/ns/net`, a container runtime's bind mount).
pub fn lookup(text: &str) -> Result<NamespaceHandle, LookupError> {
    let named = !text.contains('/');
    let path = if named { format!("/run/netns/{text}") } else { text.to_string() };
    match crate::sys::netns::is_network_namespace(&path) {
        Ok(true) => {}
        Ok(false) if named => {
            let name = crate::shell::word(text).into_owned();
            return Err(LookupError::Stale { name, path });
        }
        Ok(false) => return Err(LookupError::NotANamespace { path }),
        Err(error) if named && error.kind() == std::io::ErrorKind::NotFound => {
            return Err(LookupError::NoSuchName { name: text.to_string() })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(pid) = process_of(&path) {
                return Err(LookupError::NoProcess { pid });
            }
            return Err(LookupError::Unreadable { path, source: error });
        }
        Err(source) => return Err(LookupError::Unreadable { path, source }),
    }
    let inode = crate::sys::netns::inode_of(&path)
        .map_err(|source| LookupError::Unreadable { path: path.clone(), source })?;
    Ok(NamespaceHandle { path, inode })
}

/// The pid of a `/proc/PID/…` path.
fn process_of(path: &str) -> Option<u32> {
    path.strip_prefix("/proc/")?.split('/').next()?.parse().ok()
}

/// Why work could not run inside a named namespace.
#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("entering the network namespace {path}")]
    Enter {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the thread working inside network namespace {path} panicked")]
    Thread { path: String },
    #[error("the network namespace {path} led to is gone: the processes in it exited (or it was deleted) while porthole worked there, so what was found there, and the commands to run there, no longer apply")]
    Gone { path: String },
}

/// Whether `handle`'s path still leads to the namespace it led to when it
/// was looked up: `/proc/PID/ns/net` of a process that exited, or an `ip
/// netns` name that was deleted, no longer does (porthole may still be
/// inside it, keeping it alive, but nothing else is and no fix line can
/// get there).
pub fn still_there(handle: &NamespaceHandle) -> bool {
    crate::sys::netns::inode_of(&handle.path).ok() == Some(handle.inode)
}

/// Runs `work` on a thread moved into `handle`'s namespace and returns its
/// result. `setns` applies to the calling thread only, so the caller's own
/// thread (and any command it later runs) stays where it was, while every
/// socket, netlink dump and `/proc/thread-self/net` or `/proc/sys/net` read
/// made by `work` sees the named namespace. Threads `work` spawns inherit
/// the namespace.
pub fn within<T: Send>(
    handle: &NamespaceHandle,
    work: impl FnOnce() -> T + Send,
) -> Result<T, EnterError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                crate::sys::netns::enter(&handle.path)
                    .map_err(|source| EnterError::Enter { path: handle.path.clone(), source })?;
                Ok(work())
            })
            .join()
            .map_err(|_| EnterError::Thread { path: handle.path.clone() })?
    })
}

/// Moves the calling thread into `handle`'s namespace for good: for a
/// command whose whole remaining work (and every thread it starts later)
/// belongs there, such as `top`'s sampling loop, which also owns the
/// terminal and so cannot move to another thread.
pub fn enter(handle: &NamespaceHandle) -> Result<(), EnterError> {
    crate::sys::netns::enter(&handle.path)
        .map_err(|source| EnterError::Enter { path: handle.path.clone(), source })
}

/// The prefix that runs a shell command inside `handle`'s namespace, for
/// fix lines printed from inside it: `ip netns exec NAME ` for a namespace
/// `ip netns` named, else `nsenter --net=PATH `.
///
/// The name or path is one shell word that holds no control character, so
/// the line runs as printed and shows as printed on a terminal: `ip netns
/// add` takes any name, an escape sequence or a newline included, and the
/// sanitiser would print those as `\x1b`, which a shell reads as four
/// characters. Such a name is written as `"$(printf '…\033…')"`.
pub fn exec_prefix(handle: &NamespaceHandle) -> String {
    match handle.path.strip_prefix("/run/netns/") {
        Some(name) if !name.contains('/') => {
            format!("ip netns exec {} ", crate::shell::printable_word(name))
        }
        _ => format!("nsenter --net={} ", crate::shell::printable_word(&handle.path)),
    }
}

/// `line`, a command printed for the user to run in their own namespace,
/// rewritten to run inside `handle`'s: `sudo` stays in front, since
/// entering a namespace needs root; a line with shell operators outside
/// quotes (`a && b`, `a | b`) runs whole under `sh -c` so every part of it
/// is inside; a trailing `# comment` stays outside.
pub fn command_inside(handle: &NamespaceHandle, line: &str) -> String {
    run_inside(&exec_prefix(handle), line)
}

/// [`command_inside`] with the prefix already made.
pub(crate) fn run_inside(prefix: &str, line: &str) -> String {
    let command = match line.find(" # ") {
        Some(at) => line[..at].trim_end(),
        None => line,
    };
    let comment = &line[command.len()..];
    // `sudo -u USER prog` stays whole inside: its options are sudo's, not
    // the prefix's.
    let (sudo, rest) = match command.strip_prefix("sudo ") {
        Some(rest) if !rest.starts_with('-') => ("sudo ", rest),
        _ => ("", command),
    };
    let body = if has_operator(rest) {
        format!("sh -c {}", crate::shell::word_always(rest))
    } else {
        rest.to_string()
    };
    format!("{sudo}{prefix}{body}{comment}")
}

/// Whether `command` has a shell operator (`;`, `&`, `|`, a redirection, a
/// command substitution) outside quotes: `nft 'add table inet t; …'` is one
/// simple command, `a && b` is not.
fn has_operator(command: &str) -> bool {
    let mut quote = None;
    let mut escaped = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => escaped = true,
            (Some('"'), '"') => quote = None,
            (Some('"'), '$') if chars.peek() == Some(&'(') => return true,
            (Some('"'), '`') => return true,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '&' | '|' | '<' | '>' | '`' | '(' | ')') => return true,
            (None, '$') if chars.peek() == Some(&'(') => return true,
            (None, _) => {}
        }
    }
    false
}

/// The argument that names namespace `namespace` to `--netns`, as a user
/// would type it: `current` for the caller's own, its `ip netns` name, or
/// else the namespace file of a
/// process inside it (`pid` preferred, e.g. the listener's owner).
pub fn argument_for(namespace: &Namespace, pid: Option<u32>) -> Option<String> {
    if namespace.is_current {
        return Some("current".to_string());
    }
    if let Some(name) = &namespace.name {
        return Some(name.clone());
    }
    pid.or(namespace.example_pid).map(|pid| format!("/proc/{pid}/ns/net"))
}

/// Enumerates the one namespace the user named (`--netns NAME|PATH`): its
/// sockets labelled with its inode, and what is known of it (its `ip
/// netns` name, a process inside) from the same discovery as `--netns all`.
pub fn enumerate_one(
    handle: &NamespaceHandle,
    query: &Query,
) -> Result<AllNamespaces, InventoryError> {
    let (current, found) = discover();
    let known = found.into_iter().find(|f| f.namespace.inode == handle.inode);
    if known.is_none() && crate::sys::netns::inode_of(&handle.path).ok() != Some(handle.inode) {
        // No process lives in it and its path leads elsewhere or nowhere
        // (`/proc/PID/ns/net` of a process that exited, a deleted `ip
        // netns`): the namespace is gone, and so are its sockets.
        return Ok(gone_namespace(handle.inode));
    }
    let entry = known.unwrap_or_else(|| {
        // A bind mount outside /run/netns with nobody inside: only the
        // path itself leads there.
        Found {
            namespace: Namespace {
                inode: handle.inode,
                is_current: handle.inode == current,
                name: None,
                example_pid: None,
                container: None,
            },
            handle: handle.path.clone(),
        }
    });
    let Some((mut sockets, source)) = list_found(&entry, current, query)? else {
        return Ok(gone_namespace(handle.inode));
    };
    for socket in &mut sockets {
        socket.net_namespace = Some(handle.inode);
    }
    Ok(AllNamespaces { sockets, namespaces: vec![entry.namespace], source })
}

/// Reads a namespace other than ours: enter it on a helper thread, or fall
/// back to the `/proc/PID/net` tables of a process inside it.
fn read_other(entry: &Found, query: &Query) -> Result<(Vec<Socket>, Source), InventoryError> {
    let handle = entry.handle.clone();
    let thread_query = query.clone();
    let entered = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                crate::sys::netns::enter(&handle)
                    .map_err(|source| InventoryError::Namespace { inode: 0, source })?;
                enumerate_current(&thread_query)
            })
            .join()
    });
    match entered {
        Ok(Ok(result)) => Ok(result),
        _ => match entry.namespace.example_pid {
            Some(pid) => {
                let sockets = Procfs::of_process(pid).sockets(query)?;
                // The tables of a process that has exited read as empty:
                // they speak for the namespace only if it is still there.
                if crate::sys::netns::inode_of(&format!("/proc/{pid}/ns/net")).ok()
                    != Some(entry.namespace.inode)
                {
                    return Err(InventoryError::Namespace {
                        inode: entry.namespace.inode,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                Ok((sockets, Source::Procfs))
            }
            None => Err(InventoryError::Namespace {
                inode: entry.namespace.inode,
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            }),
        },
    }
}

/// Every network namespace on the machine as (inode, handle to enter it),
/// with the inode of the caller's own namespace first in the pair.
pub fn list() -> (u64, Vec<(u64, String)>) {
    let (current, found) = discover();
    (current, found.into_iter().map(|entry| (entry.namespace.inode, entry.handle)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(path: &str) -> NamespaceHandle {
        NamespaceHandle { path: path.to_string(), inode: 1 }
    }

    #[test]
    fn operators_inside_quotes_keep_a_command_simple() {
        assert!(!has_operator("nft 'add table inet t; add chain inet t input'"));
        assert!(!has_operator("grep -n \"a;b\" /etc/hosts"));
        assert!(has_operator("iptables -I INPUT -j DROP && ip6tables -I INPUT -j DROP"));
        assert!(has_operator("ss -ltn | grep 80"));
        assert!(has_operator("kill \"$(pidof app)\""));
        assert!(has_operator("echo a\\'b; id"));
    }

    #[test]
    fn prefixes_name_the_namespace_as_ip_netns_or_nsenter_take_it() {
        assert_eq!(exec_prefix(&handle("/run/netns/demo")), "ip netns exec demo ");
        assert_eq!(exec_prefix(&handle("/run/netns/a b")), "ip netns exec 'a b' ");
        assert_eq!(exec_prefix(&handle("/proc/42/ns/net")), "nsenter --net=/proc/42/ns/net ");
        assert_eq!(
            command_inside(&handle("/run/netns/demo"), "sudo nft list ruleset   # look"),
            "sudo ip netns exec demo nft list ruleset   # look"
        );
    }
}
