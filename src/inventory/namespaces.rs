//! `--netns all`: the sockets of every network namespace on the machine.
//!
//! Namespaces are found through `/proc/*/ns/net` (every namespace some
//! process lives in) and `/run/netns/*` (named by `ip netns add`, possibly
//! with no process inside). Each one is read by a short-lived thread that
//! enters it with `setns` and runs the normal netlink dump; without the
//! privilege to enter, `/proc/PID/net/*` of a process inside it is read
//! instead (the text tables show the reader's view of that pid's namespace).

use std::collections::BTreeMap;

use super::{enumerate_current, procfs::Procfs, Inventory, InventoryError, Query};
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

/// Lists every network namespace: inode → how to enter it and who is there.
fn discover() -> (u64, Vec<Found>) {
    let current = crate::sys::netns::inode_of("/proc/thread-self/ns/net").unwrap_or(0);
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let path = entry.path().to_string_lossy().into_owned();
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
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
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
        let result =
            if inode == current { enumerate_current(query) } else { read_other(&entry, query) };
        match result {
            Ok((mut listed, used)) => {
                if used == Source::Procfs {
                    source = Source::Procfs;
                }
                for socket in &mut listed {
                    socket.net_namespace = Some(inode);
                }
                sockets.extend(listed);
                namespaces.push(entry.namespace);
            }
            Err(_) => visibility.unreadable_namespaces += 1,
        }
    }
    Ok(AllNamespaces { sockets, namespaces, source })
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
            Some(pid) => Ok((Procfs::of_process(pid).sockets(query)?, Source::Procfs)),
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
