//! One handle for what porthole reads from the machine and does to it:
//! socket snapshots, process details, files under `/proc`, `/sys` and
//! `/etc` (and the dates of apt's package lists), sysctls, the external
//! tools it runs (`nft`, `iptables-save`,
//! `systemctl`, `docker`, `dpkg-query`, `apt-cache`), and the signals
//! `kill` sends.
//!
//! Engines take a `&dyn System` instead of calling the kernel themselves,
//! so their reasoning can be tested on scripted evidence: [`Machine`] is the
//! real implementation (on top of [`crate::inventory`] and [`crate::sys`]),
//! and `fake::Scripted` (tests only) answers from tables a test fills in.
//! The diagnosis (`check`), readiness (`wait`), termination (`kill`),
//! allocation (`free`) and audit engines all work through it.
//!
//! The handle answers lazily: an engine asks for a fact when its reasoning
//! needs it, which keeps a refused port's diagnosis to one netlink query.
//! Reads that depend on the calling thread's network namespace (sysctls
//! under `/proc/sys/net`, `/proc/thread-self/net`) answer for the thread
//! that calls, so a diagnosis run inside another namespace sees that one.
//!
//! # Outside the handle
//! No module outside `inventory/` and `sys/` reads `/proc` or `/sys` or runs
//! a program itself, except where the program is not a look at the
//! machine:
//! - `commands/wait.rs` runs the user's own `-- COMMAND` with inherited
//!   stdio, and its exit status becomes porthole's;
//! - `allocation/hold.rs` starts porthole itself again as the detached
//!   holder of `free --hold`, handing it the bound sockets;
//! - `alerts/command.rs` runs the user's `--on-alert` command under `sh -c`
//!   with the alert on its stdin.
//!
//! Two engines name `/proc` paths without reading them: `audit` passes
//! `/proc/PID/ns/net` to `crate::sys::netns` to probe inside another
//! namespace, and `diagnose` quotes `/proc` files in its evidence lines.
//! The `monitor` recorder takes the handle for what it judges — the
//! evidence behind its capture mode, process details, socket owners, the
//! namespaces it records and which of them a new process lives in — and
//! opens only its event streams (destroy multicast, process connector,
//! eBPF ring buffer) from `inventory` directly. The live view (`top`)
//! reads listeners, owners and process details through the handle; only
//! its two streams, the per-refresh counter dump
//! ([`crate::inventory::counters`]) and the socket-destroy feed, are read
//! directly.
//!
//! The proxy does not take the handle, because it reads nothing it
//! judges: it never looks at sockets or processes other than its own. At
//! start it reads its own descriptor limit and open descriptors
//! (`crate::sys::fds`, for its descriptor budget) and the CPU count (one
//! connection carrier per CPU); `/metrics` reads the allocator's heap
//! figures (`crate::sys::allocator`); request ids are seeded from
//! `/etc/machine-id`, or the host name where that file is missing.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::{owners, process, InventoryError, Query};
use crate::model::termination::{AsRoot, NamespaceInit};
use crate::model::{Process, Snapshot, Socket};
pub use crate::sys::executable::Runner;
use crate::sys::signal::{Signal, SignalError};

/// How long an external tool may run before it is killed. `nft` and
/// `systemctl` answer in milliseconds; a hung D-Bus or a huge ruleset must
/// not hang a diagnosis.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// What an external command printed, once it exited (or was killed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exited with status 0 before the timeout.
    pub success: bool,
    pub stdout: Vec<u8>,
}

impl CommandOutput {
    /// Standard output as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A file's identity and permissions, as `stat(2)` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStatus {
    pub device: u64,
    pub inode: u64,
    /// Permission and type bits (`st_mode`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A regular file (not a directory, socket or device).
    pub is_file: bool,
}

/// Everything an engine reads from the machine. `Sync`, because a
/// diagnosis from another process's point of view runs on a thread that
/// entered that process's network namespace.
pub trait System: Sync {
    /// Sockets (and their owners) as `query` asks, like
    /// [`crate::inventory::snapshot`].
    fn snapshot(&self, query: &Query) -> Result<Snapshot, InventoryError>;

    /// Finds the owners of the sockets whose inodes are in `inodes` (stops
    /// at one owner each) and adds them and their details to `snapshot`.
    fn attach_owners(&self, snapshot: &mut Snapshot, inodes: &[u64]);

    /// The Unix socket with `inode` and its peer (no owners), `None` when
    /// it is gone or its peer cannot be known. A wait polls its own end
    /// every few milliseconds, so [`Machine`] asks the kernel for that one
    /// socket ([`super::unix_socket`]) rather than for all of them.
    fn unix_socket(&self, inode: u64) -> Option<Socket> {
        let query = Query::unix_sockets();
        self.snapshot(&query).ok()?.sockets.into_iter().find(|socket| socket.inode == inode)
    }

    /// Details of one process, `None` when it is gone or hidden.
    fn process(&self, pid: u32) -> Option<Process>;

    /// [`System::process`] with the caller's cache of user names, for
    /// callers that read many processes over time (the recorder reads one
    /// at every exec on the machine; an NSS lookup each time would cost
    /// more than the rest of the read).
    fn process_cached(&self, pid: u32, cache: &mut process::DetailCache) -> Option<Process> {
        let _ = cache;
        self.process(pid)
    }

    /// Every process holding each of the socket `inodes` (all owners, not
    /// the first one only: a prefork server's listener has many), and how
    /// many processes could not be read. With `among`, only those
    /// processes are looked at.
    fn socket_owners(&self, inodes: &[u64], among: Option<&[u32]>) -> owners::OwnerScan;

    /// Every network namespace on the machine as (inode, path to enter it:
    /// `/proc/PID/ns/net` or `/run/netns/NAME`).
    fn net_namespace_handles(&self) -> Vec<(u64, String)>;

    /// The processes living in the network namespace with this inode.
    fn processes_in_net_namespace(&self, inode: u64) -> Vec<u32>;

    /// The connected TCP sockets `ports` selects, with their `tcp_info`
    /// byte counters, in the caller's network namespace or (`All`) in every
    /// one: what the recorder reports for connections still open.
    fn connection_counters(
        &self,
        namespaces: super::NamespaceSelection,
        ports: &super::counters::CounterPorts,
    ) -> Result<NamespaceCounters, InventoryError>;

    /// The contents of a file, `None` when it cannot be read.
    fn read(&self, path: &str) -> Option<Vec<u8>>;

    /// [`System::read`] for a kernel counter file the caller reads over and
    /// over (the recorder reads `/proc/thread-self/net/snmp` and three more
    /// at every tick): the file stays open on the calling thread and is
    /// read again from its start, which saves the path walk of each open,
    /// about half of what a small `/proc` read costs.
    fn reread(&self, path: &str) -> Option<Vec<u8>> {
        self.read(path)
    }

    /// A regular file of at most `limit` bytes, read whole; `None` for a
    /// larger one or anything else (a FIFO would block the read, a device
    /// such as `/dev/zero` never end it): for paths another user named.
    fn read_regular(&self, path: &str, limit: u64) -> Option<Vec<u8>> {
        self.read(path).filter(|bytes| bytes.len() as u64 <= limit)
    }

    /// Whether a path exists (a socket file, `/.dockerenv`).
    fn exists(&self, path: &str) -> bool;

    /// Runs `program` with `args`, killing it after `timeout`. `None` when
    /// it cannot be started.
    fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Option<CommandOutput>;

    /// Runs a query tool (`nft`, `dpkg-query`, `apt-cache`, `rpm`, a
    /// runtime's `--version`) with an environment of `PATH` and `LC_ALL=C`
    /// only (apt's `APT_CONFIG` and `HOME`, where rpm finds its database,
    /// are passed on too), killed after `timeout`. Its stdout when the exit code is one of `accepted`; otherwise one line
    /// saying why (`nft: Operation not permitted`).
    fn query(
        &self,
        program: &str,
        args: &[&str],
        accepted: &[i32],
        timeout: Duration,
    ) -> Result<String, String>;

    /// `stat(2)` of a path (following links), `None` when it cannot be read.
    fn file_status(&self, path: &str) -> Option<FileStatus>;

    /// The target of a symbolic link (`/proc/PID/exe`), lossy UTF-8.
    fn read_link(&self, path: &str) -> Option<String>;

    /// The names (lossy UTF-8) and modification times of a directory's
    /// entries, `None` when it cannot be read.
    fn directory_times(&self, path: &str) -> Option<Vec<(String, SystemTime)>>;

    /// The BPF programs on `hooks` of the cgroup of `pid` (porthole's own
    /// when `None`) and where each is attached. A machine without them (a
    /// scripted one) has none.
    fn cgroup_programs(
        &self,
        pid: Option<u32>,
        hooks: &[crate::sys::bpf_cgroup::CgroupHook],
    ) -> super::cgroup_policy::CgroupScan {
        let _ = (pid, hooks);
        super::cgroup_policy::CgroupScan::NoHierarchy
    }

    /// The BPF link that attaches XDP program `program_id` to a device,
    /// `None` when there is none (or it cannot be known).
    fn xdp_link_of(&self, program_id: u32) -> Option<u32> {
        let _ = program_id;
        None
    }

    /// Whether reading the nftables ruleset with `nft` may find a rule
    /// using one of the expressions `names` (`numgen`, `limit`, …): false
    /// only when a rule dump over netlink shows none uses them, or shows
    /// `nft` would be refused. A machine that cannot tell says true, so
    /// the caller reads the ruleset.
    fn nft_may_use_expressions(&self, names: &[&str]) -> bool {
        let _ = names;
        true
    }

    /// porthole's own environment variables.
    fn own_environment(&self) -> Vec<(String, String)>;

    /// How a command printed for `runner` to run calls porthole, so it runs
    /// this build: `porthole`, or its path where the runner's `PATH` does
    /// not find it ([`crate::sys::executable::program_word`]).
    fn porthole_program(&self, runner: Runner) -> String;

    /// The inode of the calling thread's network namespace (0 if unknown).
    fn net_namespace(&self) -> u64;

    /// The inode of a process's network namespace, `None` when the
    /// process is gone or hidden.
    fn net_namespace_of(&self, pid: u32) -> Option<u64>;

    /// Moves the calling thread into a process's network namespace (needs
    /// CAP_SYS_ADMIN); later reads on this thread see that namespace.
    fn enter_net_namespace_of(&self, pid: u32) -> std::io::Result<()>;

    /// How long the longest TIME-WAIT socket on `port` has left.
    fn time_wait_expiry(&self, port: u16) -> Option<Duration>;

    /// The name of a user, through the C library's NSS lookup.
    fn user_name(&self, uid: u32) -> Option<String>;

    /// Sends `signal` to one process (never a group), and only while `pid`
    /// is still the process that started at `start_ticks` (when known): a
    /// pid reused after the target exited is
    /// [`SignalError::NoSuchProcess`], and the new process gets nothing.
    fn signal(&self, pid: u32, start_ticks: Option<u64>, signal: Signal)
        -> Result<(), SignalError>;

    /// Whether `pid` exists (a zombie too), whoever owns it.
    fn process_exists(&self, pid: u32) -> bool;

    /// How many threads of `pid` still run (see
    /// [`process::live_threads`]).
    fn live_threads(&self, pid: u32) -> usize;

    /// Whether `pid` is PID 1 of a nested PID namespace, and what that
    /// namespace holds (see [`process::namespace_init`]).
    fn namespace_init(&self, pid: u32) -> Option<NamespaceInit>;

    /// `/proc/PID/stat` of a process, `None` when it is gone.
    fn stat(&self, pid: u32) -> Option<process::Stat> {
        process::parse_stat(&self.read(&format!("/proc/{pid}/stat"))?)
    }

    /// How `pid` treats signals (pending, blocked, ignored, caught) and
    /// who traces it; `None` when it is gone.
    fn signal_state(&self, pid: u32) -> Option<process::SignalState> {
        process::parse_signal_state(&self.read_text(&format!("/proc/{pid}/status"))?)
    }

    /// A file as text (lossy UTF-8).
    fn read_text(&self, path: &str) -> Option<String> {
        self.read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A sysctl by its dotted name (`net.core.somaxconn`), trimmed.
    fn sysctl(&self, name: &str) -> Option<String> {
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        self.read_text(&path).map(|text| text.trim().to_string())
    }

    /// `net.ipv4.ip_local_port_range`.
    fn ephemeral_range(&self) -> Option<(u16, u16)> {
        crate::sys::sysctl::parse_range(&self.sysctl("net.ipv4.ip_local_port_range")?)
    }

    /// `net.ipv4.ip_local_reserved_ports` as the kernel prints it.
    fn reserved_ports_text(&self) -> Option<String> {
        self.sysctl("net.ipv4.ip_local_reserved_ports")
    }

    /// `net.ipv4.ip_unprivileged_port_start`.
    fn unprivileged_port_start(&self) -> Option<u16> {
        self.sysctl("net.ipv4.ip_unprivileged_port_start")?.parse().ok()
    }

    /// `net.core.somaxconn`.
    fn somaxconn(&self) -> Option<u32> {
        self.sysctl("net.core.somaxconn")?.parse().ok()
    }

    /// Whether `::1` is unusable: `disable_ipv6` on `all` or `lo`, or no
    /// IPv6 in the kernel at all.
    fn ipv6_disabled_on_loopback(&self) -> bool {
        ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.lo.disable_ipv6"]
            .iter()
            .any(|name| self.sysctl(name).as_deref() == Some("1"))
            || !self.exists("/proc/sys/net/ipv6")
    }

    /// `TracerPid` of a process; `None` when unknown or not traced.
    fn tracer_pid(&self, pid: u32) -> Option<u32> {
        let status = self.read_text(&format!("/proc/{pid}/status"))?;
        let tracer = status
            .lines()
            .find_map(|line| line.strip_prefix("TracerPid:")?.trim().parse::<u32>().ok())?;
        (tracer != 0).then_some(tracer)
    }

    /// The descriptor table of `pid` when it is full (see
    /// [`process::FullDescriptorTable`]); `None` when it has room or cannot
    /// be read (another user's process, for anyone but root). `FDSize` is
    /// read first, so a process with room costs no listing of its
    /// descriptors.
    fn full_descriptor_table(&self, pid: u32) -> Option<process::FullDescriptorTable> {
        let limits = self.read_text(&format!("/proc/{pid}/limits"))?;
        let (Some(soft), hard) = process::parse_open_files_limit(&limits)? else {
            return None;
        };
        let status = self.read_text(&format!("/proc/{pid}/status"))?;
        if process::parse_fd_table_size(&status)? < soft {
            return None;
        }
        let names: Vec<String> = self
            .directory_times(&format!("/proc/{pid}/fd"))?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        process::descriptors_exhausted(&names, soft).then(|| process::FullDescriptorTable {
            open: names.len(),
            soft,
            hard: hard.unwrap_or(u64::MAX),
        })
    }

    /// `TcpExt: ListenOverflows` of the calling thread's namespace.
    fn listen_overflows(&self) -> Option<u64> {
        parse_listen_overflows(&self.read_text("/proc/thread-self/net/netstat")?)
    }
}

/// Finds `ListenOverflows` in `/proc/net/netstat` (header line, then a
/// line of values, per group).
pub fn parse_listen_overflows(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let values = lines.next()?;
        if header.starts_with("TcpExt:") {
            return header
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(name, _)| *name == "ListenOverflows")
                .and_then(|(_, value)| value.parse().ok());
        }
    }
    None
}

/// Connected TCP sockets with their byte counters, from one or more
/// network namespaces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceCounters {
    /// Each socket with the inode of the namespace it lives in.
    pub sockets: Vec<(u64, crate::model::top::TcpCounters)>,
    /// Namespaces that could not be entered or dumped, by inode.
    pub unread: Vec<u64>,
}

/// How this caller runs a command as root: as is for root, else through
/// `sudo` where this machine has it and the caller may use it, else through
/// `su` (root's password), else through `sudo` all the same when it is the
/// only way there is.
pub fn as_root(system: &dyn System, uid: u32, privileged: bool) -> AsRoot {
    let has = |paths: [&str; 2]| paths.iter().any(|path| system.exists(path));
    let sudo = has(["/usr/bin/sudo", "/bin/sudo"]);
    if privileged {
        AsRoot::Already
    } else if sudo && may_use_sudo(system, uid) {
        AsRoot::Sudo
    } else if has(["/usr/bin/su", "/bin/su"]) {
        AsRoot::Su
    } else if sudo {
        AsRoot::Sudo
    } else {
        AsRoot::Unknown
    }
}

/// Groups whose members the sudoers a distribution ships lets run every
/// command: `%sudo` (Debian, Ubuntu), `%wheel` (Fedora, RHEL, Arch, SUSE
/// when enabled), `%admin` (Ubuntu before 12.04).
const SUDO_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];

/// Whether `uid` may use sudo, as far as can be told without asking sudo
/// (sudoers is root's to read, `sudo -l` may ask for a password, and a
/// refused user's attempt is reported to the administrator): a member of
/// one of [`SUDO_GROUPS`], as `/etc/group` lists it (sudo reads the group
/// database, not the groups of the login, so a group added since counts)
/// or as the user's primary group. When `/etc/group` cannot be read, yes.
///
/// A user that sudoers names alone is not found: such a user gets `su -c`,
/// which asks root's password instead of theirs.
fn may_use_sudo(system: &dyn System, uid: u32) -> bool {
    let Some(groups) = super::user_database::groups(system) else {
        return true;
    };
    // The user's name and primary group, from the passwd file.
    let (user, primary) = match super::user_database::account(system, uid) {
        Some(account) => (Some(account.name), account.gid),
        None => (system.user_name(uid), None),
    };
    groups.iter().any(|group| {
        SUDO_GROUPS.contains(&group.name.as_str())
            && (primary == Some(group.gid)
                || user.as_deref().is_some_and(|user| group.members.iter().any(|m| m == user)))
    })
}

/// The machine porthole runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine;

impl System for Machine {
    fn nft_may_use_expressions(&self, names: &[&str]) -> bool {
        use crate::sys::nftables::{rules_use_expressions, ExpressionSearch};
        matches!(rules_use_expressions(names), ExpressionSearch::Found | ExpressionSearch::Unknown)
    }

    fn xdp_link_of(&self, program_id: u32) -> Option<u32> {
        crate::sys::bpf_cgroup::xdp_link_of(program_id).ok().flatten()
    }

    fn cgroup_programs(
        &self,
        pid: Option<u32>,
        hooks: &[crate::sys::bpf_cgroup::CgroupHook],
    ) -> super::cgroup_policy::CgroupScan {
        super::cgroup_policy::scan(pid, hooks)
    }

    fn snapshot(&self, query: &Query) -> Result<Snapshot, InventoryError> {
        super::snapshot(query)
    }

    fn attach_owners(&self, snapshot: &mut Snapshot, inodes: &[u64]) {
        if inodes.is_empty() {
            return;
        }
        // Only a TCP socket can be held by a memory mapping alone.
        let wanted: std::collections::HashSet<u64> = inodes.iter().copied().collect();
        let mappable: Vec<u64> = snapshot
            .sockets
            .iter()
            .filter(|s| s.protocol == crate::model::Protocol::Tcp && wanted.contains(&s.inode))
            .map(|s| s.inode)
            .collect();
        let scan = owners::scan_sockets(inodes, &mappable, owners::ScanLimit::FirstOwner);
        let mut cache = process::DetailCache::default();
        for socket in &mut snapshot.sockets {
            let pids: Vec<u32> = scan.owners.pids(socket.inode).collect();
            for pid in &pids {
                if let Some(details) = process::read(*pid, &mut cache) {
                    snapshot.processes.insert(*pid, details);
                }
            }
            socket.owners = pids;
        }
    }

    fn unix_socket(&self, inode: u64) -> Option<Socket> {
        super::unix_socket(inode).ok().flatten()
    }

    fn process(&self, pid: u32) -> Option<Process> {
        process::read(pid, &mut process::DetailCache::default())
    }

    fn process_cached(&self, pid: u32, cache: &mut process::DetailCache) -> Option<Process> {
        process::read(pid, cache)
    }

    fn socket_owners(&self, inodes: &[u64], among: Option<&[u32]>) -> owners::OwnerScan {
        match among {
            _ if inodes.is_empty() => owners::OwnerScan::default(),
            Some(pids) => owners::scan_among(inodes, owners::ScanLimit::AllOwners, pids.to_vec()),
            None => owners::scan(inodes),
        }
    }

    fn net_namespace_handles(&self) -> Vec<(u64, String)> {
        super::namespaces::list().1
    }

    fn processes_in_net_namespace(&self, inode: u64) -> Vec<u32> {
        owners::list_pids()
            .into_iter()
            .filter(|&pid| self.net_namespace_of(pid) == Some(inode))
            .collect()
    }

    fn connection_counters(
        &self,
        namespaces: super::NamespaceSelection,
        ports: &super::counters::CounterPorts,
    ) -> Result<NamespaceCounters, InventoryError> {
        let sample = || -> Result<Vec<crate::model::top::TcpCounters>, InventoryError> {
            let mut sockets = Vec::new();
            super::counters::CounterSampler::new().sample(ports, |socket| sockets.push(socket))?;
            Ok(sockets)
        };
        let own = self.net_namespace();
        let mut found = NamespaceCounters::default();
        found.sockets.extend(sample()?.into_iter().map(|socket| (own, socket)));
        if namespaces == super::NamespaceSelection::All {
            for (inode, path) in self.net_namespace_handles() {
                if inode == own {
                    continue;
                }
                // A dump reads the namespace of the thread that opens the
                // netlink socket: a thread entered into it does.
                let handle = super::NamespaceHandle { path, inode };
                match super::namespaces::within(&handle, sample) {
                    Ok(Ok(sockets)) => {
                        found.sockets.extend(sockets.into_iter().map(|socket| (inode, socket)));
                    }
                    Ok(Err(_)) | Err(_) => found.unread.push(inode),
                }
            }
        }
        Ok(found)
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    fn read_regular(&self, path: &str, limit: u64) -> Option<Vec<u8>> {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO without a writer must not wait.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() > limit {
            return None;
        }
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes).ok()?;
        (bytes.len() as u64 <= limit).then_some(bytes)
    }

    fn reread(&self, path: &str) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        // Per thread: `/proc/thread-self` names the thread that opened it.
        thread_local! {
            static OPEN: std::cell::RefCell<std::collections::HashMap<String, std::fs::File>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        OPEN.with_borrow_mut(|open| {
            if !open.contains_key(path) {
                open.insert(path.to_string(), std::fs::File::open(path).ok()?);
            }
            let file = open.get(path)?;
            let mut contents = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            loop {
                match file.read_at(&mut chunk, contents.len() as u64) {
                    Ok(0) => return Some(contents),
                    Ok(read) => contents.extend_from_slice(&chunk[..read]),
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        open.remove(path);
                        return None;
                    }
                }
            }
        })
    }

    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }

    fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Option<CommandOutput> {
        run_with_timeout(program, args, timeout)
    }

    fn query(
        &self,
        program: &str,
        args: &[&str],
        accepted: &[i32],
        timeout: Duration,
    ) -> Result<String, String> {
        run_query(program, args, accepted, timeout)
    }

    fn file_status(&self, path: &str) -> Option<FileStatus> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileStatus {
            device: metadata.dev(),
            inode: metadata.ino(),
            mode: metadata.mode(),
            uid: metadata.uid(),
            gid: metadata.gid(),
            is_file: metadata.is_file(),
        })
    }

    fn read_link(&self, path: &str) -> Option<String> {
        std::fs::read_link(path).ok().map(|link| link.to_string_lossy().into_owned())
    }

    fn directory_times(&self, path: &str) -> Option<Vec<(String, SystemTime)>> {
        let entries = std::fs::read_dir(path).ok()?;
        Some(
            entries
                .flatten()
                .filter_map(|entry| {
                    let modified = entry.metadata().ok()?.modified().ok()?;
                    Some((entry.file_name().to_string_lossy().into_owned(), modified))
                })
                .collect(),
        )
    }

    fn own_environment(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
            .collect()
    }

    fn porthole_program(&self, runner: Runner) -> String {
        crate::sys::executable::program_for(runner)
    }

    fn net_namespace(&self) -> u64 {
        crate::sys::netns::inode_of("/proc/thread-self/ns/net").unwrap_or(0)
    }

    fn net_namespace_of(&self, pid: u32) -> Option<u64> {
        crate::sys::netns::inode_of(&format!("/proc/{pid}/ns/net")).ok()
    }

    fn enter_net_namespace_of(&self, pid: u32) -> std::io::Result<()> {
        crate::sys::netns::enter(&format!("/proc/{pid}/ns/net"))
    }

    fn time_wait_expiry(&self, port: u16) -> Option<Duration> {
        super::procfs::time_wait_expiry(port)
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        crate::sys::users::name_of(uid)
    }

    fn signal(
        &self,
        pid: u32,
        start_ticks: Option<u64>,
        signal: Signal,
    ) -> Result<(), SignalError> {
        crate::sys::signal::send_if(pid, signal, || {
            start_ticks.is_none_or(|ticks| self.stat(pid).is_some_and(|s| s.start_ticks == ticks))
        })
    }

    fn process_exists(&self, pid: u32) -> bool {
        crate::sys::signal::exists(pid)
    }

    fn live_threads(&self, pid: u32) -> usize {
        process::live_threads(pid)
    }

    fn namespace_init(&self, pid: u32) -> Option<NamespaceInit> {
        process::namespace_init(pid)
    }
}

/// Runs a command with stdin closed and stderr discarded, reading its
/// stdout on a helper thread (so a full pipe cannot stall it) and killing
/// it once `timeout` has passed.
pub fn run_with_timeout(program: &str, args: &[&str], timeout: Duration) -> Option<CommandOutput> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                // Killing closes the pipe, which ends the reader.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break None,
        }
    };
    let stdout = reader.join().unwrap_or_default();
    Some(CommandOutput { success: status.is_some_and(|s| s.success()), stdout })
}

/// [`System::query`] on this machine: stdout is read on a thread so a
/// large answer cannot fill the pipe while the exit is awaited.
fn run_query(
    program: &str,
    args: &[&str],
    accepted: &[i32],
    timeout: Duration,
) -> Result<String, String> {
    let mut command = Command::new(program);
    command.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("LC_ALL", "C");
    if let Some(config) = std::env::var_os("APT_CONFIG") {
        command.env("APT_CONFIG", config);
    }
    // rpm reads `~/.rpmmacros`, and Debian's rpm keeps its database in
    // `~/.rpmdb`: without HOME, `rpm -qf` would look in `/.rpmdb`.
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or_else(|| format!("{program}: no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program}: no answer within {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(format!("{program}: {error}")),
        }
    };
    let stdout = reader.join().unwrap_or_default();
    if !status.code().is_some_and(|code| accepted.contains(&code)) {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let reason = stderr.lines().next().unwrap_or("failed").trim().to_string();
        return Err(format!("{program}: {reason}"));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

#[cfg(test)]
pub mod fake {
    //! A scripted [`System`]: sockets, files, sysctls and command outputs
    //! set by the test, nothing read from the machine.

    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use super::{CommandOutput, FileStatus, NamespaceCounters, Runner, System};
    use crate::inventory::{owners, InventoryError, NamespaceSelection, Query};
    use crate::model::termination::NamespaceInit;
    use crate::model::{Namespace, Process, Snapshot, Socket};
    use crate::sys::signal::{Signal, SignalError};

    /// The machine as a test describes it.
    #[derive(Debug, Default)]
    pub struct Scripted {
        /// Every socket, in every namespace (`net_namespace` set for those
        /// outside `namespace`).
        pub sockets: Vec<Socket>,
        pub processes: BTreeMap<u32, Process>,
        pub namespaces: Vec<Namespace>,
        /// The namespace the "client" runs in.
        pub namespace: u64,
        pub files: BTreeMap<String, Vec<u8>>,
        /// Keyed by the command line, words joined by spaces.
        pub commands: BTreeMap<String, CommandOutput>,
        pub environment: Vec<(String, String)>,
        pub time_wait_expiry: Option<Duration>,
        /// Commands run, in order: what the reasoning asked for.
        pub ran: std::sync::Mutex<Vec<String>>,
        /// PID 1s of nested PID namespaces.
        pub namespace_inits: BTreeMap<u32, NamespaceInit>,
        /// Signals sent, in order. A process that got SIGTERM or SIGKILL
        /// is gone afterwards (unless it is in `stubborn`).
        pub signalled: std::sync::Mutex<Vec<(u32, Signal)>>,
        /// Processes that ignore SIGTERM (SIGKILL still ends them).
        pub stubborn: Vec<u32>,
        /// `stat(2)` answers by path.
        pub statuses: BTreeMap<String, FileStatus>,
        /// Symbolic links by path.
        pub links: BTreeMap<String, String>,
        /// Directory entries and their modification times, by path.
        pub directories: BTreeMap<String, Vec<(String, SystemTime)>>,
        /// Network namespaces of processes living outside `namespace`.
        pub process_namespaces: BTreeMap<u32, u64>,
        /// BPF programs on the cgroup hooks of a process (`None`: porthole).
        pub cgroup_programs:
            BTreeMap<Option<u32>, Vec<crate::inventory::cgroup_policy::CgroupProgram>>,
        /// How printed commands call porthole (`None`: `porthole`), for
        /// the user and for root.
        pub program: Option<String>,
        pub root_program: Option<String>,
    }

    impl Scripted {
        /// Sets a sysctl by its dotted name.
        pub fn sysctl(mut self, name: &str, value: &str) -> Self {
            self.files.insert(format!("/proc/sys/{}", name.replace('.', "/")), value.into());
            self
        }

        /// Sets a file's contents.
        pub fn file(mut self, path: &str, text: &str) -> Self {
            self.files.insert(path.to_string(), text.into());
            self
        }

        /// Adds a process and its `/proc/PID/stat` line (state `S`, flags
        /// as given: [`crate::inventory::process::PF_KTHREAD`] makes a
        /// kernel thread).
        pub fn process(mut self, process: Process, flags: u64) -> Self {
            let stat = format!(
                "{} ({}) S {} 1 1 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 {}",
                process.pid,
                process.name,
                process.parent_pid,
                1000 + process.pid
            );
            self.files.insert(format!("/proc/{}/stat", process.pid), stat.into());
            let process = Process { start_ticks: 1000 + u64::from(process.pid), ..process };
            self.processes.insert(process.pid, process);
            self
        }

        /// Whether a signal sent so far ended `pid`.
        fn ended(&self, pid: u32) -> bool {
            self.signalled.lock().expect("no test panics holding the lock").iter().any(
                |(to, signal)| {
                    *to == pid
                        && (*signal == Signal::KILL
                            || (*signal == Signal::TERM && !self.stubborn.contains(&pid)))
                },
            )
        }

        /// Scripts a command's output.
        pub fn command(mut self, line: &str, stdout: &str) -> Self {
            let output = CommandOutput { success: true, stdout: stdout.into() };
            self.commands.insert(line.to_string(), output);
            self
        }

        fn visible(&self, socket: &Socket, query: &Query) -> bool {
            let wanted = query.named_namespace.as_ref().map_or(self.namespace, |h| h.inode);
            query.keeps(socket)
                && (query.namespaces == NamespaceSelection::All
                    || socket.net_namespace.unwrap_or(self.namespace) == wanted)
        }
    }

    impl System for Scripted {
        fn cgroup_programs(
            &self,
            pid: Option<u32>,
            hooks: &[crate::sys::bpf_cgroup::CgroupHook],
        ) -> crate::inventory::cgroup_policy::CgroupScan {
            let programs = self
                .cgroup_programs
                .get(&pid)
                .into_iter()
                .flatten()
                .filter(|program| hooks.contains(&program.hook))
                .cloned()
                .collect();
            crate::inventory::cgroup_policy::CgroupScan::Programs {
                cgroup: std::path::PathBuf::from("/sys/fs/cgroup"),
                programs,
            }
        }

        fn snapshot(&self, query: &Query) -> Result<Snapshot, InventoryError> {
            let sockets: Vec<Socket> =
                self.sockets.iter().filter(|s| self.visible(s, query)).cloned().collect();
            let processes = sockets
                .iter()
                .flat_map(|s| s.owners.iter())
                .filter_map(|pid| Some((*pid, self.processes.get(pid)?.clone())))
                .collect();
            let namespaces = match (query.namespaces, &query.named_namespace) {
                (NamespaceSelection::All, _) => self.namespaces.clone(),
                (NamespaceSelection::Current, None) => Vec::new(),
                (NamespaceSelection::Current, Some(handle)) => {
                    self.namespaces.iter().filter(|n| n.inode == handle.inode).cloned().collect()
                }
            };
            Ok(Snapshot { sockets, processes, namespaces, ..Snapshot::default() })
        }

        fn attach_owners(&self, snapshot: &mut Snapshot, inodes: &[u64]) {
            for socket in snapshot.sockets.iter().filter(|s| inodes.contains(&s.inode)) {
                for pid in &socket.owners {
                    if let Some(process) = self.processes.get(pid) {
                        snapshot.processes.insert(*pid, process.clone());
                    }
                }
            }
        }

        fn process(&self, pid: u32) -> Option<Process> {
            self.processes.get(&pid).cloned()
        }

        fn socket_owners(&self, inodes: &[u64], among: Option<&[u32]>) -> owners::OwnerScan {
            let looked_at = |pid: &u32| among.is_none_or(|among| among.contains(pid));
            let pairs = self
                .sockets
                .iter()
                .filter(|s| inodes.contains(&s.inode))
                .flat_map(|s| s.owners.iter().copied().filter(looked_at).map(|pid| (s.inode, pid)))
                .collect();
            owners::OwnerScan { owners: owners::OwnerIndex::new(pairs), ..Default::default() }
        }

        fn net_namespace_handles(&self) -> Vec<(u64, String)> {
            let handle = |namespace: &Namespace| match (&namespace.name, namespace.example_pid) {
                (_, Some(pid)) => format!("/proc/{pid}/ns/net"),
                (Some(name), None) => format!("/run/netns/{name}"),
                (None, None) => String::new(),
            };
            self.namespaces.iter().map(|n| (n.inode, handle(n))).collect()
        }

        fn processes_in_net_namespace(&self, inode: u64) -> Vec<u32> {
            let pids = self.processes.keys().copied();
            pids.filter(|&pid| self.net_namespace_of(pid) == Some(inode)).collect()
        }

        /// The scripted connected TCP sockets on `ports`; a script has no
        /// `tcp_info`, so their byte counts are 0.
        fn connection_counters(
            &self,
            namespaces: crate::inventory::NamespaceSelection,
            ports: &crate::inventory::counters::CounterPorts,
        ) -> Result<NamespaceCounters, InventoryError> {
            let query = Query { namespaces, listeners_only: false, ..Query::default() };
            let sockets = self
                .sockets
                .iter()
                .filter(|socket| self.visible(socket, &query))
                .filter(|socket| socket.protocol == crate::model::Protocol::Tcp)
                .filter_map(|socket| {
                    let (local, remote) = (socket.local?, socket.remote?);
                    let wanted = ports.local_ports.contains(&local.port())
                        || ports.remote_ports.contains(&remote.port());
                    (wanted && remote.port() != 0).then(|| {
                        let counters = crate::model::top::TcpCounters {
                            cookie: socket.cookie,
                            local,
                            remote,
                            state: socket.state,
                            inode: socket.inode,
                            uid: socket.uid,
                            bytes_acked: 0,
                            bytes_received: 0,
                        };
                        (socket.net_namespace.unwrap_or(self.namespace), counters)
                    })
                })
                .collect();
            Ok(NamespaceCounters { sockets, unread: Vec::new() })
        }

        fn read(&self, path: &str) -> Option<Vec<u8>> {
            self.files.get(path).cloned()
        }

        fn exists(&self, path: &str) -> bool {
            self.files.keys().any(|file| file == path || file.starts_with(&format!("{path}/")))
        }

        fn run(&self, program: &str, args: &[&str], _timeout: Duration) -> Option<CommandOutput> {
            let line = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>();
            let line = line.join(" ");
            self.ran.lock().expect("no test panics holding the lock").push(line.clone());
            self.commands.get(&line).cloned()
        }

        fn query(
            &self,
            program: &str,
            args: &[&str],
            _accepted: &[i32],
            timeout: Duration,
        ) -> Result<String, String> {
            match self.run(program, args, timeout) {
                Some(output) if output.success => Ok(output.text()),
                Some(_) => Err(format!("{program}: failed")),
                None => Err(format!("{program}: No such file or directory (os error 2)")),
            }
        }

        fn file_status(&self, path: &str) -> Option<FileStatus> {
            self.statuses.get(path).copied()
        }

        fn read_link(&self, path: &str) -> Option<String> {
            self.links.get(path).cloned()
        }

        fn directory_times(&self, path: &str) -> Option<Vec<(String, SystemTime)>> {
            self.directories.get(path).cloned()
        }

        fn own_environment(&self) -> Vec<(String, String)> {
            self.environment.clone()
        }

        fn porthole_program(&self, runner: Runner) -> String {
            let program = match runner {
                Runner::User => &self.program,
                Runner::Root => &self.root_program,
            };
            program.clone().unwrap_or_else(|| "porthole".to_string())
        }

        fn net_namespace(&self) -> u64 {
            self.namespace
        }

        fn net_namespace_of(&self, pid: u32) -> Option<u64> {
            let namespace = self.process_namespaces.get(&pid).copied().unwrap_or(self.namespace);
            self.processes.contains_key(&pid).then_some(namespace)
        }

        fn enter_net_namespace_of(&self, _pid: u32) -> std::io::Result<()> {
            // A scripted machine has one namespace: nothing to enter.
            Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
        }

        fn time_wait_expiry(&self, _port: u16) -> Option<Duration> {
            self.time_wait_expiry
        }

        fn user_name(&self, _uid: u32) -> Option<String> {
            None
        }

        fn signal(
            &self,
            pid: u32,
            start_ticks: Option<u64>,
            signal: Signal,
        ) -> Result<(), SignalError> {
            let same = start_ticks
                .is_none_or(|ticks| self.stat(pid).is_some_and(|s| s.start_ticks == ticks));
            if !self.process_exists(pid) || !same {
                return Err(SignalError::NoSuchProcess);
            }
            self.signalled.lock().expect("no test panics holding the lock").push((pid, signal));
            Ok(())
        }

        fn process_exists(&self, pid: u32) -> bool {
            self.processes.contains_key(&pid) && !self.ended(pid)
        }

        fn live_threads(&self, pid: u32) -> usize {
            usize::from(self.process_exists(pid))
        }

        fn namespace_init(&self, pid: u32) -> Option<NamespaceInit> {
            self.namespace_inits.get(&pid).cloned()
        }

        fn stat(&self, pid: u32) -> Option<crate::inventory::process::Stat> {
            if self.ended(pid) {
                return None;
            }
            crate::inventory::process::parse_stat(&self.read(&format!("/proc/{pid}/stat"))?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_killed_at_the_timeout() {
        // `sleep 10` run to the end exits 0: only a kill makes it fail.
        let output =
            run_with_timeout("sleep", &["10"], Duration::from_millis(100)).expect("sleep starts");
        assert!(!output.success);
    }

    #[test]
    fn command_output_is_read_in_full() {
        let output = run_with_timeout("seq", &["1", "100000"], COMMAND_TIMEOUT).expect("seq");
        assert!(output.success);
        assert_eq!(output.text().lines().count(), 100_000);
        assert!(run_with_timeout("/nonexistent/tool", &[], COMMAND_TIMEOUT).is_none());
    }

    #[test]
    fn a_signal_goes_only_to_the_process_that_started_when_the_plan_says() {
        // The pid the plan named now belongs to a process that started at
        // another time (pid reuse): it must get nothing.
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let pid = child.id();
        let ticks = Machine.stat(pid).expect("own child readable").start_ticks;
        assert_eq!(
            Machine.signal(pid, Some(ticks + 1), Signal::KILL),
            Err(SignalError::NoSuchProcess)
        );
        assert_eq!(child.try_wait().expect("waitable"), None, "still running");
        assert_eq!(Machine.signal(pid, Some(ticks), Signal::KILL), Ok(()));
        let status = child.wait().expect("waitable");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    }

    #[test]
    fn listen_overflows_from_netstat() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 17 17\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_listen_overflows(text), Some(17));
        assert_eq!(parse_listen_overflows("IpExt: A\nIpExt: 1\n"), None);
    }
}
