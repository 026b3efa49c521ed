//! What is really at a Unix target's path, and which listeners own it.
//!
//! A Unix socket keeps the path it was bound to for its whole life, but the
//! file bind() created can be deleted or re-used while it listens: a second
//! server removes the path and binds its own socket there, a clean-up job
//! deletes it, a deploy leaves a regular file behind. `unix_diag` (and `ss`)
//! still show the first listener "on" the path, yet no client reaches it. So
//! a listener counts as serving the path only when the file bind() made for
//! it (device and inode from `UNIX_DIAG_VFS`) is the file at the path now,
//! as the client sees it (`stat`, through `/proc/PID/root` with `--from`).
//!
//! [`gather`] reads the facts (one `stat`, and for a socket file the sockets
//! bound to it); the functions after it build causes from those facts alone.

use std::collections::BTreeMap;
use std::path::Path;

use super::causes::{attempt_line, listener_line};
use super::environment::Client;
use super::{Attempt, Cause, CauseId, DiagnoseError, Fix, Severity};
use crate::inventory::system::{FileStatus, System};
use crate::inventory::Query;
use crate::model::{Process, Snapshot, Socket, SocketState, Source, UnixKind};

/// File-type bits of `st_mode`.
const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// What `stat` finds at the path, and the sockets bound to that file.
#[derive(Debug, Clone, Default)]
pub struct PathFacts {
    /// `stat` of the path as the client sees it; `None` when it does not
    /// exist (or cannot be read).
    pub status: Option<FileStatus>,
    /// The path exists although `stat` failed (a directory above it that
    /// porthole may not search).
    pub exists: bool,
    /// Sockets of any state bound to the file now at the path, with owners.
    pub bound: Vec<Socket>,
    pub processes: BTreeMap<u32, Process>,
    /// The socket table carries the bound file of each socket (netlink);
    /// without it (`/proc/net/unix`) no socket can be told apart by file.
    pub files_known: bool,
}

impl PathFacts {
    /// (device, inode) of the file at the path.
    pub fn identity(&self) -> Option<(u64, u64)> {
        self.status.as_ref().map(|status| (status.device, status.inode))
    }

    fn is_socket_file(&self) -> bool {
        self.status.as_ref().is_some_and(|status| status.mode & S_IFMT == S_IFSOCK)
    }
}

/// A Unix target whose path does not fit in `sockaddr_un`: whatever listens
/// there, a client that connects by the path fails before reaching it. The
/// probe went through the socket's directory (see
/// [`super::probe::connect`]), so the attempts say whether a server is
/// behind the path; the fix gives clients a path that fits. `short` is a
/// free path for a symlink to the socket, when one was found.
pub fn too_long(path: &Path, attempts: &[Attempt], short: Option<&Path>) -> Cause {
    use std::os::unix::ffi::OsStrExt;
    let length = path.as_os_str().as_bytes().len();
    let limit = super::probe::UNIX_PATH_MAX;
    let mut evidence: Vec<String> = attempts.iter().map(attempt_line).collect();
    evidence.push(format!(
        "the path is {length} bytes; a Unix socket address (sockaddr_un) holds at most {limit} and a NUL, so connect() by this path fails (ENAMETOOLONG, EINVAL or a truncated path, depending on the client)"
    ));
    if attempts.iter().any(|a| a.healthy) {
        evidence.push(
            "porthole reached the socket through its directory (/proc/self/fd/N/NAME): the server is up, only the path is out of reach".to_string(),
        );
    }
    let mut fix = vec![Fix::step(format!(
        "give the service a socket path of at most {limit} bytes (its socket path setting)"
    ))];
    if let Some(short) = short {
        fix.push(Fix::command(format!(
            "ln -s -- {} {}   # a short path to the same socket; clients connect to {}",
            crate::shell::word(&path.to_string_lossy()),
            crate::shell::word(&short.to_string_lossy()),
            short.display()
        )));
    }
    if let (Some(directory), Some(name)) = (path.parent(), path.file_name()) {
        fix.push(Fix::step(format!(
            "or start the client in {} and give it the relative path ./{}",
            directory.display(),
            Path::new(name).display()
        )));
    }
    Cause {
        id: CauseId::SocketPathTooLong,
        severity: Severity::Error,
        summary: format!(
            "the socket path is {length} bytes, longer than the {limit} a Unix socket address holds: clients that connect by it never reach the socket"
        ),
        evidence,
        fix,
    }
}

/// `stat` of the client's path; for a socket file, every socket bound to
/// it (a full Unix dump, made only on this failure path).
pub fn gather(
    system: &dyn System,
    client: Client,
    path: &Path,
) -> Result<PathFacts, DiagnoseError> {
    let text = path.to_string_lossy();
    if text.starts_with('@') {
        return Ok(PathFacts::default());
    }
    let file = client.file(&text);
    let status = system.file_status(&file);
    let mut facts = PathFacts {
        exists: status.is_some() || system.exists(&file),
        status,
        ..PathFacts::default()
    };
    if !facts.is_socket_file() {
        return Ok(facts);
    }
    let mut snapshot = system.snapshot(&Query::unix_sockets())?;
    facts.files_known = snapshot.source == Some(Source::Netlink);
    let identity = facts.identity();
    snapshot.sockets.retain(|socket| socket.bound_file.is_some() && socket.bound_file == identity);
    let inodes: Vec<u64> = snapshot.sockets.iter().map(|socket| socket.inode).collect();
    system.attach_owners(&mut snapshot, &inodes);
    let Snapshot { sockets, processes, .. } = snapshot;
    facts.bound = sockets;
    facts.processes = processes;
    Ok(facts)
}

/// A listener whose bound file is known and is not the file at the path:
/// the path was removed or re-used after it bound, so no client reaches it.
pub fn detached(listener: &Socket, identity: Option<(u64, u64)>) -> bool {
    listener.bound_file.is_some() && listener.bound_file != identity
}

/// The owner of `listener` that sees the listener's own file at `path`
/// (through `/proc/PID/root`): the file is there, in that process's mount
/// namespace.
pub fn owner_with_file(system: &dyn System, listener: &Socket, path: &Path) -> Option<u32> {
    let bound = listener.bound_file?;
    let text = path.to_string_lossy();
    listener.owners.iter().copied().find(|pid| {
        system
            .file_status(&format!("/proc/{pid}/root{text}"))
            .is_some_and(|status| (status.device, status.inode) == bound)
    })
}

/// Listeners whose file is at the path only in their owners' mount
/// namespaces: the client's path is another file (or none).
pub fn other_mount_namespace(
    system: &dyn System,
    path: &Path,
    attempts: &[Attempt],
    listeners: &[&Socket],
    processes: &BTreeMap<u32, Process>,
) -> Cause {
    let shown = path.display();
    let mut evidence: Vec<String> = attempts.iter().map(attempt_line).collect();
    let mut fix = Vec::new();
    let mut holders = Vec::new();
    let mut pids = Vec::new();
    for listener in listeners {
        let Some(pid) = owner_with_file(system, listener, path) else { continue };
        let line = listener_line(processes, listener);
        let holder = line.split_once(" held by ").map_or(line.clone(), |(_, who)| who.to_string());
        evidence.push(format!(
            "{holder} listens on {shown}, a file in its own mount namespace (/proc/{pid}/root{shown}): the client's {shown} does not lead to it"
        ));
        pids.push(pid);
        fix.push(Fix::command(format!(
            "{} check {} --from {pid}   # from inside its mount namespace",
            system.porthole_program(crate::inventory::system::Runner::User),
            crate::shell::word(&format!("unix:{}", path.to_string_lossy()))
        )));
        holders.push(holder);
    }
    let nsenter = pids.first().map(|pid| format!(" (nsenter -m -t {pid} …)")).unwrap_or_default();
    fix.insert(
        0,
        Fix::step(format!(
            "run the client in the server's mount namespace{nsenter}, or share the directory (a bind mount or volume, not a private /tmp)"
        )),
    );
    Cause {
        id: CauseId::OtherNamespace,
        severity: Severity::Error,
        summary: format!(
            "{} listens on {shown} in another mount namespace: the file is not at this path for the client",
            holders.join(", ")
        ),
        evidence,
        fix,
    }
}

/// What is at the path now, for evidence: one sentence.
pub fn describe(path: &Path, facts: &PathFacts) -> String {
    let shown = path.display();
    if path.to_string_lossy().starts_with('@') {
        return format!(
            "no socket is bound to the abstract name {shown} in this network namespace (abstract names are not files and belong to one network namespace)"
        );
    }
    let Some(status) = &facts.status else {
        return if facts.exists {
            format!("{shown} exists, but porthole cannot stat it")
        } else {
            format!("{shown} does not exist")
        };
    };
    let inode = status.inode;
    match status.mode & S_IFMT {
        S_IFSOCK => match facts.bound.first() {
            Some(socket) => {
                let holder = listener_line(&facts.processes, socket);
                let holder = holder.split_once(" held by ").map_or(holder.as_str(), |(_, who)| who);
                match (socket.unix_kind, socket.state) {
                    (Some(UnixKind::Datagram), _) => format!(
                        "{shown} (inode {inode}) belongs to a datagram socket of {holder}: a stream client cannot connect to it"
                    ),
                    (_, SocketState::Listen) => {
                        format!("{shown} (inode {inode}) is the socket file of {holder}, which listens")
                    }
                    _ => format!(
                        "{shown} (inode {inode}) is the socket file of {holder}, which bound it but does not listen on it (no listen() call)"
                    ),
                }
            }
            None if facts.files_known => format!(
                "{shown} (inode {inode}) is a socket file no socket is bound to: the server that created it is gone and left it behind (a stale socket file)"
            ),
            None => format!("{shown} exists, but no process listens on it (a stale socket file)"),
        },
        S_IFDIR => format!("{shown} is a directory, not a socket"),
        S_IFREG => format!("{shown} (inode {inode}) is a regular file, not a socket"),
        _ => format!("{shown} exists but is not a socket"),
    }
}

/// The fix for what is at the path when nobody listens on it.
fn path_fixes(path: &Path, facts: &PathFacts) -> Vec<Fix> {
    let mut fixes = Vec::new();
    if facts.is_socket_file() && facts.bound.is_empty() && facts.files_known {
        fixes.push(Fix::command(format!(
            "rm -- {}   # the stale socket file: a server that does not remove it first fails to bind with EADDRINUSE",
            crate::shell::word(&path.to_string_lossy())
        )));
    }
    if let Some(socket) = facts.bound.iter().find(|s| s.state != SocketState::Listen) {
        let who =
            socket.owners.first().map_or("its holder".to_string(), |pid| format!("pid {pid}"));
        fixes.push(Fix::step(format!(
            "the process that holds the path ({who}) must call listen() on it, or give the path back to the service"
        )));
    }
    fixes
}

/// Refused on a path whose only listeners (if any) bound an earlier file:
/// `nothing-listening` with what the path holds, or `socket-file-replaced`
/// naming the listeners that lost their file.
pub fn refused(
    path: &Path,
    attempts: &[Attempt],
    facts: &PathFacts,
    stranded: &[&Socket],
    processes: &BTreeMap<u32, Process>,
) -> Cause {
    let here = describe(path, facts);
    if stranded.is_empty() {
        let mut fix = path_fixes(path, facts);
        fix.push(Fix::step("start the service, or check its socket path setting"));
        return Cause {
            id: CauseId::NothingListening,
            severity: Severity::Error,
            summary: format!("nothing listens on the Unix socket {}", path.display()),
            evidence: vec![here],
            fix,
        };
    }
    let mut cause = replaced(path, facts, stranded, processes, Severity::Error);
    cause.evidence.splice(0..0, attempts.iter().map(attempt_line));
    cause.fix.extend(path_fixes(path, facts));
    cause
}

/// Listeners that still carry the path but whose file was removed or
/// replaced. An error when nothing else serves the path; a warning when
/// another socket now does (the old server only holds resources).
pub fn replaced(
    path: &Path,
    facts: &PathFacts,
    stranded: &[&Socket],
    processes: &BTreeMap<u32, Process>,
    severity: Severity,
) -> Cause {
    let shown = path.display();
    let gone = if facts.status.is_none() && !facts.exists { "deleted" } else { "replaced" };
    let holders: Vec<String> = stranded
        .iter()
        .map(|socket| {
            let line = listener_line(processes, socket);
            line.split_once(" held by ").map_or(line.clone(), |(_, who)| who.to_string())
        })
        .collect();
    let summary = match severity {
        Severity::Error => format!(
            "{} listens on {shown}, but that socket file was {gone}: connections to the path do not reach it",
            holders.join(", ")
        ),
        Severity::Warning => format!(
            "{} still {} on a socket file at {shown} that was since {gone}: it gets no connections",
            holders.join(", "),
            if holders.len() == 1 { "listens" } else { "listen" }
        ),
    };
    let mut evidence: Vec<String> = stranded
        .iter()
        .zip(&holders)
        .map(|(socket, holder)| {
            let (device, inode) = socket.bound_file.unwrap_or_default();
            let (major, minor) = (libc_major(device), libc_minor(device));
            format!(
                "listener inode {} of {holder} was bound to the file with inode {inode} on device {major}:{minor}",
                socket.inode
            )
        })
        .collect();
    evidence.push(format!("now: {}", describe(path, facts)));
    evidence.push(
        "a socket file belongs to the socket that bind() created it for; a listener cannot get it back once it is deleted or replaced"
            .to_string(),
    );
    let pids: Vec<u32> = stranded.iter().flat_map(|socket| socket.owners.iter().copied()).collect();
    let fix = match severity {
        Severity::Error => vec![Fix::step(format!(
            "restart {} so that it binds {shown} again (and find what removed or re-used the path: a second instance, a clean-up job)",
            holders.join(", ")
        ))],
        Severity::Warning if !pids.is_empty() => {
            let list: Vec<String> = pids.iter().map(u32::to_string).collect();
            let list = list.join(" ");
            // A stopped process keeps SIGTERM pending until it runs again.
            let stopped = pids.iter().any(|pid| processes.get(pid).is_some_and(Process::is_stopped));
            let line = if stopped {
                format!("kill {list} && kill -CONT {list}   # the old server, which nobody can reach (stopped: it ends once continued)")
            } else {
                format!("kill {list}   # the old server, which nobody can reach")
            };
            vec![Fix::command(line)]
        }
        Severity::Warning => vec![Fix::step("stop the old server, which nobody can reach")],
    };
    Cause { id: CauseId::SocketFileReplaced, severity, summary, evidence, fix }
}

/// Major number of an `st_dev` (glibc `gnu_dev_major`).
fn libc_major(device: u64) -> u64 {
    ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff)
}

/// Minor number of an `st_dev` (glibc `gnu_dev_minor`).
fn libc_minor(device: u64) -> u64 {
    (device & 0xff) | ((device >> 12) & 0xffff_ff00)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UnixKind;

    fn socket_file(inode: u64) -> FileStatus {
        FileStatus { device: 0x2b, inode, mode: S_IFSOCK | 0o755, uid: 0, gid: 0, is_file: false }
    }

    fn listener(inode: u64, file_inode: u64, pid: u32) -> Socket {
        Socket {
            inode,
            bound_file: Some((0x2b, file_inode)),
            owners: vec![pid],
            ..Socket::unix(
                Some(UnixKind::Stream),
                Some("/run/app.sock".into()),
                SocketState::Listen,
            )
        }
    }

    fn process(pid: u32, name: &str) -> (u32, Process) {
        (pid, Process { pid, name: name.into(), ..Process::default() })
    }

    #[test]
    fn a_listener_serves_only_the_file_it_bound() {
        let facts = PathFacts { status: Some(socket_file(10)), ..PathFacts::default() };
        assert!(!detached(&listener(1, 10, 5), facts.identity()));
        assert!(detached(&listener(1, 9, 5), facts.identity()));
        // Without the bound file (procfs) the path alone decides, as before.
        let unknown = Socket { bound_file: None, ..listener(1, 9, 5) };
        assert!(!detached(&unknown, facts.identity()));
        // A deleted path strands every listener whose file is known.
        assert!(detached(&listener(1, 10, 5), None));
    }

    #[test]
    fn the_path_says_who_holds_it_without_listening() {
        let mut bound = listener(2, 10, 7);
        bound.state = SocketState::Close;
        let facts = PathFacts {
            status: Some(socket_file(10)),
            exists: true,
            bound: vec![bound],
            processes: BTreeMap::from([process(7, "squatter")]),
            files_known: true,
        };
        let path = Path::new("/run/app.sock");
        let text = describe(path, &facts);
        assert!(text.contains("socket file of squatter (pid 7)"), "{text}");
        assert!(text.contains("does not listen"), "{text}");
        // Nothing to remove: the file is in use.
        assert!(path_fixes(path, &facts).iter().all(|fix| !fix.is_command()));
    }

    #[test]
    fn a_dangling_socket_file_is_removed_only_when_the_table_can_tell() {
        let path = Path::new("/run/app.sock");
        let known = PathFacts {
            status: Some(socket_file(10)),
            exists: true,
            files_known: true,
            ..PathFacts::default()
        };
        let fixes = path_fixes(path, &known);
        assert_eq!(fixes[0].text(), "rm -- /run/app.sock   # the stale socket file: a server that does not remove it first fails to bind with EADDRINUSE");
        let unknown = PathFacts { files_known: false, ..known };
        assert!(path_fixes(path, &unknown).is_empty());
    }

    #[test]
    fn a_stranded_listener_is_an_error_alone_and_a_warning_beside_a_new_one() {
        let path = Path::new("/run/app.sock");
        let old = listener(1, 9, 5);
        let processes = BTreeMap::from([process(5, "old")]);
        let regular = FileStatus { mode: S_IFREG | 0o644, ..socket_file(10) };
        let facts = PathFacts { status: Some(regular), exists: true, ..PathFacts::default() };
        let cause = refused(path, &[], &facts, &[&old], &processes);
        assert_eq!((cause.id, cause.severity), (CauseId::SocketFileReplaced, Severity::Error));
        assert!(
            cause.summary.contains("old (pid 5) listens on /run/app.sock"),
            "{}",
            cause.summary
        );
        assert!(
            cause.evidence.iter().any(|line| line.contains("regular file")),
            "{:?}",
            cause.evidence
        );
        let warning = replaced(path, &facts, &[&old], &processes, Severity::Warning);
        assert_eq!(warning.fix[0].text(), "kill 5   # the old server, which nobody can reach");
    }
}
