//! Details of socket owners, read lazily and only for pids that own a listed
//! socket: name, exe (and whether it was deleted), cmdline, uid and user
//! name, start time, state, systemd unit and container id.
//!
//! Per-run lookups (uid → name, boot time, clock ticks) are cached in
//! [`DetailCache`]: `ss -e` re-reads `/proc/mounts` per socket and pays 10×
//! for it.

use std::collections::HashMap;

use crate::model::Process;

/// Per-run caches for lookups that many processes share, and what a run
/// reads of each process.
#[derive(Debug, Default)]
pub struct DetailCache {
    user_names: HashMap<u32, Option<String>>,
    /// Leave `/proc/PID/environ` unread: a listing that does not show
    /// socket activation spares one read per owner (the kernel copies it
    /// out of the owner's memory).
    skip_environment: bool,
}

/// `btime` of `/proc/stat`: fixed from boot on, and `/proc/stat` is costly
/// to read (a line per CPU and per interrupt), so it is read once per
/// porthole process rather than once per run.
static BOOT_TIME: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

impl DetailCache {
    /// A cache for a run that reads each process's environment (for
    /// [`Process::listen_fds`]) only when `environment` is true.
    pub fn reading_environment(environment: bool) -> Self {
        DetailCache { skip_environment: !environment, ..DetailCache::default() }
    }

    /// The user name of `uid`, looked up once per run.
    pub fn user_name(&mut self, uid: u32) -> Option<String> {
        self.user_names.entry(uid).or_insert_with(|| crate::sys::users::name_of(uid)).clone()
    }

    /// Boot time, seconds since the Unix epoch (`btime` of `/proc/stat`).
    pub fn boot_time(&self) -> Option<u64> {
        *BOOT_TIME.get_or_init(read_boot_time)
    }
}

/// Whether two paths lead to the same file (device and inode); false when
/// either cannot be read.
fn same_file(one: &str, other: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    // The path as the bytes it was read from (it may not be UTF-8).
    let one = crate::model::os_text::to_bytes(one);
    let one = std::path::Path::new(std::ffi::OsStr::from_bytes(&one));
    match (std::fs::metadata(one), std::fs::metadata(other)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// porthole's own mount namespace (`mnt:[N]`), read once per process.
fn own_mount_namespace() -> Option<&'static std::path::PathBuf> {
    static OWN: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| std::fs::read_link("/proc/self/ns/mnt").ok()).as_ref()
}

/// A `/proc` file as text. `status` starts with the process's name and
/// `cgroup` holds unit and container names, any bytes their owners chose:
/// what is not UTF-8 is replaced, so the rest (the uid, the unit) is still
/// read.
pub fn read_text(path: &str) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// `TracerPid` from `/proc/PID/status`: the debugger (ptrace) attached to
/// the process, 0 when none.
pub fn tracer_pid(pid: u32) -> Option<u32> {
    let status = read_text(&format!("/proc/{pid}/status"))?;
    status.lines().find_map(|line| line.strip_prefix("TracerPid:")?.trim().parse().ok())
}

/// The process a task id belongs to (`Tgid` in `/proc/PID/status`): the
/// id itself for a process, its process's for a thread (`top -H`, `ps -L`
/// and stack traces show thread ids); `None` when no such task exists here.
pub fn thread_group(pid: u32) -> Option<u32> {
    let status = read_text(&format!("/proc/{pid}/status"))?;
    parse_thread_group(&status)
}

fn parse_thread_group(status: &str) -> Option<u32> {
    status.lines().find_map(|line| line.strip_prefix("Tgid:")?.trim().parse().ok())
}

/// Reads the details of `pid`; `None` when it exited meanwhile.
pub fn read(pid: u32, cache: &mut DetailCache) -> Option<Process> {
    let base = format!("/proc/{pid}");
    let stat = std::fs::read(format!("{base}/stat")).ok()?;
    let parsed = parse_stat(&stat)?;
    let status = read_text(&format!("{base}/status")).unwrap_or_default();
    let uid = parse_status_uid(&status).unwrap_or(u32::MAX);
    let namespace_pid = parse_status_namespace_pid(&status);
    let cmdline =
        std::fs::read(format!("{base}/cmdline")).map(|b| split_cmdline(&b)).unwrap_or_default();
    let (exe, exe_deleted) = match std::fs::read_link(format!("{base}/exe")) {
        Ok(path) => {
            let text = crate::model::os_text::from_os_str(path.as_os_str());
            match text.strip_suffix(" (deleted)") {
                Some(stripped) => (Some(stripped.to_string()), true),
                None => (Some(text), false),
            }
        }
        // Another user's process without root, or a kernel thread.
        Err(_) => (None, false),
    };
    // Another mount namespace matters only when its path does not lead to
    // its program from here (`ip netns exec` and systemd's PrivateTmp make
    // mount namespaces that see the same files). Unreadable (another
    // user's process without root): assumed shared.
    let exe_other_mount_namespace = !exe_deleted
        && std::fs::read_link(format!("{base}/ns/mnt"))
            .is_ok_and(|theirs| own_mount_namespace().is_some_and(|own| *own != theirs))
        && exe.as_deref().is_some_and(|path| !same_file(path, &format!("{base}/exe")));
    let cgroup = read_text(&format!("{base}/cgroup")).unwrap_or_default();
    let (unit, container) = parse_cgroup(&cgroup);
    // Without systemd a cgroup named `….service` (another init's, a
    // container runtime's, one made by hand) is no unit: no `systemctl`
    // printed for it could run.
    let unit = unit.filter(|_| systemd_booted());
    let unit_manager_uid = user_manager_uid(&cgroup).filter(|_| systemd_booted());
    let start_time = cache.boot_time().map(|boot| boot + parsed.start_ticks / clock_ticks());
    // The environment the process was started with; another user's is
    // refused without root, and then nothing is claimed.
    let listen_fds = if cache.skip_environment {
        None
    } else {
        std::fs::read(format!("{base}/environ")).ok().and_then(|e| socket_activation(&e, pid))
    };
    Some(Process {
        pid,
        name: parsed.name,
        exe,
        exe_deleted,
        exe_other_mount_namespace,
        cmdline,
        uid,
        user: if uid == u32::MAX { None } else { cache.user_name(uid) },
        start_time,
        start_ticks: parsed.start_ticks,
        state: parsed.state,
        parent_pid: parsed.parent_pid,
        unit,
        unit_manager_uid,
        container,
        listen_fds,
        namespace_pid,
    })
}

/// The innermost pid of `NSpid:` in `/proc/PID/status` (one pid per PID
/// namespace, from the one `/proc` belongs to inward) when the process
/// lives in a namespace below that one; `None` in the same namespace.
fn parse_status_namespace_pid(status: &str) -> Option<u32> {
    let pids: Vec<u32> = status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))?
        .split_ascii_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect();
    (pids.len() > 1).then(|| pids.last().copied()).flatten()
}

/// `LISTEN_FDS` of a process started by socket activation: its initial
/// environment (`/proc/PID/environ`, NUL-separated) sets `LISTEN_PID` to
/// `pid` itself. A launcher that hands sockets on sets `LISTEN_PID` to
/// its child, so a process that merely inherited the variables (a child
/// of the service, the launcher's own parent) does not count.
/// See: <https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html>
fn socket_activation(environ: &[u8], pid: u32) -> Option<u32> {
    let value = |name: &[u8]| {
        environ.split(|&byte| byte == 0).find_map(|entry| {
            let rest = entry.strip_prefix(name)?.strip_prefix(b"=")?;
            std::str::from_utf8(rest).ok()?.parse::<u32>().ok()
        })
    };
    (value(b"LISTEN_PID")? == pid).then(|| value(b"LISTEN_FDS")).flatten().filter(|&n| n > 0)
}

/// Whether `pid` is PID 1 of a PID namespace below the reader's, and if so
/// how many processes live in that namespace and whether it handles
/// SIGTERM; `None` for an ordinary process (or one that is gone).
pub fn namespace_init(pid: u32) -> Option<crate::model::termination::NamespaceInit> {
    let status = read_text(&format!("/proc/{pid}/status"))?;
    let catches_term = parse_namespace_init(&status)?;
    let namespace = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    // Every process whose PID namespace is that one (a child namespace's
    // processes are not counted: they die with it too, but are not "in" it).
    let processes = super::owners::list_pids()
        .into_iter()
        .filter(|other| {
            std::fs::read_link(format!("/proc/{other}/ns/pid")).is_ok_and(|link| link == namespace)
        })
        .count();
    Some(crate::model::termination::NamespaceInit { processes: processes.max(1), catches_term })
}

/// From `/proc/PID/status`: `Some(catches SIGTERM)` when the last `NSpid`
/// value is 1 and there are several (PID 1 of a nested namespace).
fn parse_namespace_init(status: &str) -> Option<bool> {
    let field = |name: &str| status.lines().find_map(|line| line.strip_prefix(name).map(str::trim));
    let pids: Vec<&str> = field("NSpid:")?.split_whitespace().collect();
    if pids.len() < 2 || pids.last() != Some(&"1") {
        return None;
    }
    let caught = u64::from_str_radix(field("SigCgt:")?, 16).ok()?;
    // Bit N-1 stands for signal N.
    Some(caught & (1 << (libc::SIGTERM - 1)) != 0)
}

/// How a process stands towards signals, from `/proc/PID/status`: each
/// mask holds bit N-1 for signal N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalState {
    /// Sent and not delivered yet: to the process (`ShdPnd`) or to its
    /// main thread (`SigPnd`).
    pub pending: u64,
    /// Blocked with `sigprocmask` by the main thread (`SigBlk`).
    pub blocked: u64,
    /// Set to `SIG_IGN` (`SigIgn`).
    pub ignored: u64,
    /// Given a handler (`SigCgt`).
    pub caught: u64,
    /// The process tracing it (`TracerPid`): a debugger, `strace`; 0 for
    /// none.
    pub tracer: u32,
}

impl SignalState {
    /// Whether `mask` has the bit of `signal`.
    pub fn has(mask: u64, signal: i32) -> bool {
        (1..=64).contains(&signal) && mask & (1 << (signal - 1)) != 0
    }
}

/// Parses the signal lines of `/proc/PID/status`; `None` without them.
pub fn parse_signal_state(status: &str) -> Option<SignalState> {
    let field = |name: &str| status.lines().find_map(|line| line.strip_prefix(name).map(str::trim));
    let mask = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
    Some(SignalState {
        pending: mask("ShdPnd:")? | mask("SigPnd:")?,
        blocked: mask("SigBlk:")?,
        ignored: mask("SigIgn:")?,
        caught: mask("SigCgt:")?,
        tracer: field("TracerPid:").and_then(|pid| pid.parse().ok()).unwrap_or(0),
    })
}

/// Reads only the one-letter state of `pid` (`T` stopped, `t` traced…).
pub fn state_of(pid: u32) -> Option<char> {
    read_stat(pid).map(|parsed| parsed.state)
}

/// The name of `pid` (its `comm`), as [`read`] gives it; `None` when the
/// process is gone.
pub fn name_of(pid: u32) -> Option<String> {
    read_stat(pid).map(|parsed| parsed.name)
}

/// Reads and parses `/proc/PID/stat`; `None` when the process is gone.
pub fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// How many threads of process `pid` are still running (not zombies).
///
/// # Platform specific behavior
/// When the main thread of a multi-threaded process exits first (it called
/// `pthread_exit`, or it finished `exit_group` before its siblings), the
/// process shows state `Z` in `/proc/PID/stat` while the other threads run
/// on and keep every file descriptor open, listening sockets included. Only
/// `/proc/PID/task/*/stat` tells such a process from a dead one.
pub fn live_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read(task.path().join("stat"))
                .ok()
                .and_then(|bytes| parse_stat(&bytes))
                .is_some_and(|stat| !matches!(stat.state, 'Z' | 'X'))
        })
        .count()
}

/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`: a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// Fields of `/proc/PID/stat` that we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub state: char,
    pub parent_pid: u32,
    /// Field 9, the kernel's `PF_*` flags ([`PF_KTHREAD`]).
    pub flags: u64,
    /// Start time in clock ticks after boot (field 22).
    pub start_ticks: u64,
}

impl Stat {
    /// A kernel thread: it cannot be signalled meaningfully.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// Parses `/proc/PID/stat`. The name sits in parentheses and may itself
/// contain `)` and spaces, so the fields are counted from the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    if close <= open {
        return None;
    }
    let name = crate::model::os_text::from_bytes(&bytes[open + 1..close]);
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); flags (field 9) is fields[6]; field 22
    // (starttime) is fields[19].
    let state = fields.first()?.chars().next()?;
    let parent_pid = fields.get(1)?.parse().ok()?;
    let flags = fields.get(6)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(Stat { name, state, parent_pid, flags, start_ticks })
}

/// The real uid from `/proc/PID/status` (`Uid:\treal\teffective…`).
pub fn parse_status_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The arguments of `/proc/PID/cmdline`, each ending in NUL. An empty
/// argument inside the list is kept (`prog "" x` is three arguments);
/// empty ones at the end are the NUL padding a process that rewrote its
/// title (`setproctitle`) leaves, and are dropped.
fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let mut arguments: Vec<String> =
        bytes.split(|&b| b == 0).map(crate::model::os_text::from_bytes).collect();
    while arguments.last().is_some_and(String::is_empty) {
        arguments.pop();
    }
    arguments
}

/// Whether systemd is the service manager of this system, as `sd_booted()`
/// tells it: the directory `/run/systemd/system/` exists. Read once.
/// See: <https://www.freedesktop.org/software/systemd/man/latest/sd_booted.html>
fn systemd_booted() -> bool {
    static BOOTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BOOTED.get_or_init(|| std::path::Path::new("/run/systemd/system").is_dir())
}

/// Finds the systemd unit and container id in `/proc/PID/cgroup`.
///
/// Recognised shapes (cgroup v2 `0::/…` and v1 `N:ctrl:/…`):
/// `/system.slice/nginx.service`, `/user.slice/…/app.scope`,
/// `/system.slice/docker-<64 hex>.scope`, `/docker/<64 hex>`,
/// `/machine.slice/libpod-<64 hex>.scope`, `…/cri-containerd-<64 hex>.scope`,
/// `/kubepods/…/<64 hex>`.
pub fn parse_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let path = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .or_else(|| text.lines().find_map(|line| line.splitn(3, ':').nth(2)))
        .unwrap_or("");
    let mut unit = None;
    let mut container = None;
    for component in path.split('/') {
        if let Some(id) = container_id(component) {
            container = Some(id);
            continue;
        }
        let is_unit = [".service", ".scope", ".socket", ".mount", ".slice"]
            .iter()
            .any(|suffix| component.ends_with(suffix));
        if is_unit && !component.ends_with(".slice") {
            unit = Some(component.to_string());
        }
    }
    // "docker-<id>.scope" is the container's scope, not a unit to restart.
    if container.is_some()
        && unit.as_deref().is_some_and(|u| u.contains(container.as_deref().unwrap_or("-")))
    {
        unit = None;
    }
    (unit, container)
}

/// The uid of the per-user service manager (`user@UID.service`) the
/// process's unit runs under, `None` for a system unit: a user unit is
/// stopped with `systemctl --user`, which `systemctl stop` cannot reach.
pub fn user_manager_uid(text: &str) -> Option<u32> {
    let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
    let mut components = path.split('/');
    let manager = components.find_map(|c| c.strip_prefix("user@")?.strip_suffix(".service"))?;
    // The manager's own process is `user@UID.service/init.scope`, not a
    // unit of it.
    components.next()?;
    manager.parse().ok()
}

fn container_id(component: &str) -> Option<String> {
    let trimmed = component.strip_suffix(".scope").unwrap_or(component);
    let id = trimmed.rsplit(['-', ':']).next().unwrap_or(trimmed);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id[..12].to_string())
}

fn read_boot_time() -> Option<u64> {
    boot_time_of(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `btime` line of a `/proc/stat` text: boot time, seconds since the
/// Unix epoch.
pub fn boot_time_of(proc_stat: &str) -> Option<u64> {
    proc_stat.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()
}

fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// A process whose descriptor table is full: every number below its
/// `RLIMIT_NOFILE` soft limit is taken, so `accept()` (like `open()`) fails
/// with `EMFILE` and a listener's completed connections stay in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullDescriptorTable {
    /// Descriptors open (`/proc/PID/fd`), all of those below the limit.
    pub open: usize,
    /// The soft limit in force (`Max open files` of `/proc/PID/limits`).
    pub soft: u64,
    /// The hard limit: how far the process, or its user, may raise the
    /// soft one without `CAP_SYS_RESOURCE`.
    pub hard: u64,
}

/// `Max open files` of `/proc/PID/limits`: (soft, hard), `None` for
/// `unlimited` (which the kernel does not allow for this limit, but the
/// file could say).
pub fn parse_open_files_limit(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = limits.lines().find_map(|line| line.strip_prefix("Max open files"))?;
    let mut words = rest.split_whitespace();
    let mut value = || -> Option<Option<u64>> {
        match words.next()? {
            "unlimited" => Some(None),
            number => number.parse().ok().map(Some),
        }
    };
    Some((value()?, value()?))
}

/// `FDSize:` of `/proc/PID/status`: how many slots the descriptor table
/// has now. The kernel grows it on demand, but never to hold a number at
/// or above the soft limit, so a table smaller than the limit still has
/// room.
pub fn parse_fd_table_size(status: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix("FDSize:")?.trim().parse().ok())
}

/// The one uid and the one gid of a process whose real, effective and
/// saved ids agree (`Uid:` and `Gid:` of `/proc/PID/status`): the ids a
/// caller must have as its real ones to set that process's limits without
/// `CAP_SYS_RESOURCE`. `None` when they differ (a set-uid program).
pub fn parse_settled_ids(status: &str) -> Option<(u32, u32)> {
    let settled = |name: &str| -> Option<u32> {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        let ids: Vec<u32> =
            line.split_whitespace().take(3).map(str::parse).collect::<Result<_, _>>().ok()?;
        (ids.len() == 3 && ids.iter().all(|&id| id == ids[0])).then_some(ids[0])
    };
    Some((settled("Uid:")?, settled("Gid:")?))
}

/// Whether the descriptors named in `/proc/PID/fd` take every number below
/// `soft`: the lowest free one, which the next `accept()` would get, is
/// then at or above the limit. A count alone would mislead for a process
/// whose limit was lowered after it opened descriptors above it.
pub fn descriptors_exhausted(names: &[String], soft: u64) -> bool {
    let below = names.iter().filter_map(|name| name.parse::<u64>().ok()).filter(|&fd| fd < soft);
    below.collect::<std::collections::BTreeSet<u64>>().len() as u64 >= soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_limit_is_read_from_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63254                63254                processes \n\
                      Max open files            1024                 524288               files     \n\
                      Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(parse_open_files_limit(limits), Some((Some(1024), Some(524288))));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), Some((None, None)));
        assert_eq!(parse_open_files_limit("Max processes 1 1 processes\n"), None);
        assert_eq!(parse_fd_table_size("Name:\tx\nFDSize:\t64\nGroups:\n"), Some(64));
    }

    #[test]
    fn settled_ids_need_real_effective_and_saved_to_agree() {
        let status = "Uid:\t65534\t65534\t65534\t65534\nGid:\t100\t100\t100\t100\n";
        assert_eq!(parse_settled_ids(status), Some((65534, 100)));
        let set_uid = "Uid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(parse_settled_ids(set_uid), None);
    }

    #[test]
    fn a_table_is_full_when_every_number_below_the_soft_limit_is_taken() {
        let names = |fds: &[u64]| fds.iter().map(u64::to_string).collect::<Vec<_>>();
        assert!(descriptors_exhausted(&names(&[0, 1, 2, 3]), 4));
        assert!(!descriptors_exhausted(&names(&[0, 1, 3]), 4));
        // Lowered after they were opened: 5 and 9 are open, 2 is free.
        assert!(!descriptors_exhausted(&names(&[0, 1, 3, 5, 9]), 4));
    }

    #[test]
    fn signal_masks_are_read_from_status() {
        let status = "Name:\tpython3\nState:\tS (sleeping)\nTracerPid:\t812\n\
                      SigQ:\t1/31546\nSigPnd:\t0000000000000001\nShdPnd:\t0000000000004000\n\
                      SigBlk:\t0000000000004000\nSigIgn:\t0000000001001000\n\
                      SigCgt:\t0000000180000002\n";
        let state = parse_signal_state(status).expect("parsed");
        assert_eq!(
            state,
            SignalState {
                pending: 0x4001,
                blocked: 0x4000,
                ignored: 0x0100_1000,
                caught: 0x1_8000_0002,
                tracer: 812
            }
        );
        assert!(SignalState::has(state.blocked, libc::SIGTERM));
        assert!(!SignalState::has(state.ignored, libc::SIGTERM));
        assert!(SignalState::has(state.ignored, libc::SIGPIPE));
        assert!(!SignalState::has(u64::MAX, 0) && !SignalState::has(u64::MAX, 65));
        assert_eq!(parse_signal_state("Name:\tx\n"), None);
    }

    #[test]
    fn the_pid_inside_a_nested_pid_namespace_is_the_last_of_nspid() {
        assert_eq!(parse_status_namespace_pid("Name:\tx\nNSpid:\t24533\t1\n"), Some(1));
        assert_eq!(parse_status_namespace_pid("Name:\tx\nNSpid:\t24533\n"), None);
        assert_eq!(parse_status_namespace_pid("Name:\tx\n"), None);
    }

    #[test]
    fn socket_activation_is_the_process_named_in_listen_pid() {
        let environ = b"PATH=/usr/bin\0LISTEN_PID=42\0LISTEN_FDS=2\0LISTEN_FDNAMES=a:b\0";
        assert_eq!(socket_activation(environ, 42), Some(2));
        // A child or parent that inherited the variables is not the service.
        assert_eq!(socket_activation(environ, 43), None);
        assert_eq!(socket_activation(b"LISTEN_FDS=1\0", 42), None);
        assert_eq!(socket_activation(b"LISTEN_PID=42\0LISTEN_FDS=0\0", 42), None);
    }

    #[test]
    fn a_thread_s_status_names_its_process() {
        let status = "Name:\tworker\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4100\nNgid:\t0\nPid:\t4123\n";
        assert_eq!(parse_thread_group(status), Some(4100));
        assert_eq!(parse_thread_group("Name:\tx\n"), None);
    }

    #[test]
    fn cmdline_keeps_inner_empty_arguments_and_drops_title_padding() {
        assert_eq!(split_cmdline(b"prog\0\0x y\0"), vec!["prog", "", "x y"]);
        assert_eq!(split_cmdline(b"nginx: worker process\0\0\0\0"), vec!["nginx: worker process"]);
        assert_eq!(split_cmdline(b"no-trailing-nul"), vec!["no-trailing-nul"]);
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn recognises_the_init_of_a_nested_pid_namespace() {
        let status = |nspid: &str, caught: &str| {
            format!("Name:\tsleep\nNSpid:\t{nspid}\nSigIgn:\t0000000000000000\nSigCgt:\t{caught}\n")
        };
        // No handler for SIGTERM (bit 14): the kernel drops it.
        assert_eq!(parse_namespace_init(&status("4242\t1", "0000000000000000")), Some(false));
        assert_eq!(parse_namespace_init(&status("4242\t1", "0000000000004000")), Some(true));
        // The host's init, and a process that is not its namespace's init.
        assert_eq!(parse_namespace_init(&status("1", "0000000000004000")), None);
        assert_eq!(parse_namespace_init(&status("4243\t2", "0")), None);
        assert_eq!(parse_namespace_init("Name:\tx\n"), None);
    }

    #[test]
    fn parses_stat_with_awkward_names() {
        let line = b"1234 (my (odd) name) T 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 98765 1000000 100 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.name, "my (odd) name");
        assert_eq!(stat.state, 'T');
        assert_eq!(stat.parent_pid, 1);
        assert_eq!(stat.start_ticks, 98765);
        assert!(!stat.is_kernel_thread());
        // A kernel thread: flags 0x208040 include PF_KTHREAD.
        let kthreadd = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        let kthreadd = parse_stat(kthreadd).unwrap();
        assert!(kthreadd.is_kernel_thread());
        assert_eq!(kthreadd.start_ticks, 5);
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x) S").is_none());
    }

    #[test]
    fn parses_cgroup_units_and_containers() {
        let id = "a".repeat(64);
        assert_eq!(
            parse_cgroup("0::/system.slice/nginx.service\n"),
            (Some("nginx.service".into()), None)
        );
        assert_eq!(
            parse_cgroup(&format!("0::/system.slice/docker-{id}.scope\n")),
            (None, Some("a".repeat(12)))
        );
        assert_eq!(parse_cgroup(&format!("12:pids:/docker/{id}\n")), (None, Some("a".repeat(12))));
        assert_eq!(
            parse_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/vite.scope\n"),
            (Some("vite.scope".into()), None)
        );
        assert_eq!(parse_cgroup(""), (None, None));
    }

    #[test]
    fn reads_own_process() {
        let mut cache = DetailCache::default();
        let me = read(std::process::id(), &mut cache).unwrap();
        assert!(!me.name.is_empty());
        assert!(me.start_time.is_some());
        assert!(!me.cmdline.is_empty());
        assert_eq!(parse_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"), Some(1000));
    }

    #[test]
    fn user_units_name_their_manager() {
        let user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vite.service\n";
        assert_eq!(parse_cgroup(user).0.as_deref(), Some("vite.service"));
        assert_eq!(user_manager_uid(user), Some(1000));
        let system = "0::/system.slice/nginx.service\n";
        assert_eq!(user_manager_uid(system), None);
        assert_eq!(user_manager_uid("0::/user.slice/user-1000.slice/user@1000.service\n"), None);
    }
}
