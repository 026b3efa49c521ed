//! What `porthole kill` planned and what happened: the listeners' owners,
//! why some are left alone, the signals sent, and who holds the ports
//! afterwards. Produced by `crate::termination`, printed by `crate::render`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::{Process, Socket};

/// A signal by number, with the name users type (`TERM`, `KILL`, `USR1`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub number: i32,
}

/// Signals known by name, in `kill -l` order for the common ones.
const NAMED: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
    ("STKFLT", libc::SIGSTKFLT),
];

/// Other names for signals above, as procps `kill -s` takes them; a
/// signal is always shown by its name in [`NAMED`].
const ALIASES: &[(&str, i32)] =
    &[("IOT", libc::SIGABRT), ("CLD", libc::SIGCHLD), ("POLL", libc::SIGIO)];

/// The lowest real-time signal a program may use: glibc keeps the
/// kernel's first two (32 and 33) for its threads, so `SIGRTMIN` is 34.
fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

/// The highest signal number Linux accepts.
fn rtmax() -> i32 {
    libc::SIGRTMAX()
}

impl Signal {
    pub const TERM: Signal = Signal { number: libc::SIGTERM };
    pub const KILL: Signal = Signal { number: libc::SIGKILL };
    pub const CONT: Signal = Signal { number: libc::SIGCONT };
    pub const STOP: Signal = Signal { number: libc::SIGSTOP };
    pub const TSTP: Signal = Signal { number: libc::SIGTSTP };

    /// Parses what `kill -s` takes: `TERM`, `SIGTERM`, `term`, `15`, the
    /// real-time signals as `RTMIN`, `RTMIN+1`, `SIGRTMAX-2` (within
    /// `SIGRTMIN`..=`SIGRTMAX`) and procps' aliases (`IOT`, `CLD`,
    /// `POLL`). Signal 0 (a liveness probe, not a signal) is refused.
    pub fn parse(text: &str) -> Option<Signal> {
        let trimmed = text.trim();
        // Digits only, as every number porthole takes (`+9` is no signal).
        if let Some(number) = crate::target::parse_decimal(trimmed) {
            let number = i32::try_from(number).unwrap_or(i32::MAX);
            return (1..=rtmax()).contains(&number).then_some(Signal { number });
        }
        let upper = trimmed.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(number) = Self::real_time(name) {
            return Some(Signal { number });
        }
        NAMED
            .iter()
            .chain(ALIASES)
            .find(|(known, _)| *known == name)
            .map(|&(_, number)| Signal { number })
    }

    /// `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N` (N in decimal digits only,
    /// as bash's `kill` takes them), when the number is a real-time signal.
    fn real_time(name: &str) -> Option<i32> {
        let offset = |rest: &str, sign: char| -> Option<i32> {
            if rest.is_empty() {
                return Some(0);
            }
            let digits = rest.strip_prefix(sign)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<i32>().ok()
        };
        let number = if let Some(rest) = name.strip_prefix("RTMIN") {
            rtmin().checked_add(offset(rest, '+')?)?
        } else if let Some(rest) = name.strip_prefix("RTMAX") {
            rtmax().checked_sub(offset(rest, '-')?)?
        } else {
            return None;
        };
        (rtmin()..=rtmax()).contains(&number).then_some(number)
    }

    /// The name without the `SIG` prefix (`TERM`, `RTMIN+1`, `RTMAX-2`,
    /// split where bash's `kill -l` splits them), or the number (32 and
    /// 33, which glibc keeps for itself).
    pub fn name(self) -> String {
        if let Some((name, _)) = NAMED.iter().find(|(_, number)| *number == self.number) {
            return (*name).to_string();
        }
        let (low, high) = (rtmin(), rtmax());
        match self.number {
            n if n == low => "RTMIN".to_string(),
            n if n == high => "RTMAX".to_string(),
            n if n > low && n - low <= (high - low) / 2 => format!("RTMIN+{}", n - low),
            n if n > low && n < high => format!("RTMAX-{}", high - n),
            n => n.to_string(),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}

/// Why a listener's owner is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// PID 1 (init or systemd, e.g. a socket-activated unit). `systemd`:
    /// PID 1 is systemd, so `systemctl` is advice that runs; any other init
    /// (a container's, a supervisor running as PID 1) has no such command.
    Init { systemd: bool },
    /// porthole itself.
    Itself,
    /// The shell (or program) that started porthole, and
    /// `--allow-ancestors` was not given.
    Parent,
    /// An ancestor of porthole above its parent (the shell behind `sudo`
    /// or `sh -c`, a terminal multiplexer), and `--allow-ancestors` was not
    /// given: stopping it ends the caller's own session.
    Ancestor,
    /// A kernel thread: it cannot be signalled meaningfully.
    KernelThread,
    /// Another user's process and `--force` was not given. `as_root`:
    /// porthole is not root, so `--force` alone cannot help (the kernel
    /// refuses the signal); the command that does it as root.
    OtherUser { uid: u32, user: Option<String>, as_root: Option<String> },
    /// PID 1 of a PID namespace below porthole's (a container's init) and
    /// `--force` was not given: stopping it ends every process in there.
    NamespaceInit { processes: usize },
    /// A worker of a master that porthole cannot see or signal (another
    /// user's parent, porthole not root), handed its listening socket by
    /// that master (the socket belongs to the master's user): the master
    /// starts a new worker for each one stopped, so stopping workers frees
    /// nothing and drops their connections. `stop_command` stops the
    /// master, as root; `--force` stops the workers anyway.
    WorkerOfMaster { master: u32, master_name: String, master_user: String, stop_command: String },
}

impl Refusal {
    /// A short explanation for people.
    pub fn describe(&self) -> String {
        match self {
            Refusal::Init { systemd: true } => {
                "PID 1 holds the socket (a socket-activated unit? see `systemctl list-sockets`); porthole never signals PID 1, with any flag"
                    .to_string()
            }
            Refusal::Init { systemd: false } => {
                "PID 1 holds the socket: the init of this system or container, which hands the socket to the servers it starts (it is not systemd, so no systemctl reaches it); porthole never signals PID 1, with any flag; stop the service through that init's own configuration"
                    .to_string()
            }
            Refusal::Itself => "this is porthole itself".to_string(),
            Refusal::Parent => "this is the program that started porthole (the shell it runs in?): stopping it ends this session; pass --allow-ancestors to stop it anyway".to_string(),
            Refusal::Ancestor => "this is an ancestor of porthole (the shell behind sudo or sh -c, a terminal multiplexer?): stopping it ends this session; pass --allow-ancestors to stop it anyway".to_string(),
            Refusal::KernelThread => "a kernel thread".to_string(),
            Refusal::OtherUser { uid, user, as_root: None } => format!(
                "belongs to another user ({}); pass --force to stop it",
                user.clone().unwrap_or_else(|| uid.to_string())
            ),
            Refusal::OtherUser { uid, user, as_root: Some(command) } => format!(
                "belongs to another user ({}); only root may signal another user's process, \
                 with or without --force; as root: {command}",
                user.clone().unwrap_or_else(|| uid.to_string())
            ),
            Refusal::NamespaceInit { processes } => format!(
                "PID 1 of a PID namespace: stopping it ends all {processes} process(es) in that namespace; pass --force to stop it"
            ),
            Refusal::WorkerOfMaster { master, master_name, master_user, stop_command } => format!(
                "a worker of {master} ({master_name}), {master_user}'s process, which made the \
                 listening socket (a prefork master that holds it too starts a new worker for \
                 each one stopped, so stopping workers would not free the port); stop it \
                 instead, as root: {stop_command} (--force stops the workers anyway)"
            ),
        }
    }

    /// A stable identifier for JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Init { .. } => "pid_1",
            Refusal::Itself => "itself",
            Refusal::Parent => "parent",
            Refusal::Ancestor => "ancestor",
            Refusal::KernelThread => "kernel_thread",
            Refusal::OtherUser { .. } => "other_user",
            Refusal::NamespaceInit { .. } => "namespace_init",
            Refusal::WorkerOfMaster { .. } => "worker_of_master",
        }
    }
}

/// One process that owns a listener on a requested port.
#[derive(Debug, Clone)]
pub struct Target {
    pub pid: u32,
    /// Details; `None` when the process exited while it was being read.
    pub process: Option<Process>,
    /// Start time in clock ticks after boot, to notice pid reuse.
    pub start_ticks: Option<u64>,
    /// The requested ports it listens on.
    pub ports: Vec<u16>,
    pub refusal: Option<Refusal>,
    /// Container whose published port this process forwards or serves,
    /// when it is a forwarder (`docker-proxy`) or runs in a container.
    pub container_hint: Option<ContainerHint>,
    /// Set when the process is PID 1 of a PID namespace below porthole's.
    pub namespace_init: Option<NamespaceInit>,
    /// Set when the cgroup freezer holds the process: signals wait.
    pub frozen: Option<Frozen>,
    /// Another user's process (a prefork worker under `user nobody`) whose
    /// parent, a target porthole stops, holds the same listening socket:
    /// it is left to that parent (as systemd's `KillMode=mixed` does),
    /// not refused, and SIGKILLed only if it outlives the grace.
    pub stopped_with: Option<u32>,
}

/// A process frozen by the cgroup freezer, and how to thaw it (see
/// `crate::inventory::freezer` for the kernel's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// The control files to write, the cgroups where the freeze was set
    /// (`…/freezer.state` on cgroup v1, `…/cgroup.freeze` on v2).
    pub controls: Vec<String>,
    /// What to write there: `THAWED` (v1) or `0` (v2).
    pub thaw_value: &'static str,
    /// SIGKILL ends a frozen process on cgroup v2, not on v1.
    pub kill_ends_it: bool,
}

impl Frozen {
    /// The shell command that thaws the process, runnable as printed.
    pub fn thaw_command(&self) -> String {
        self.controls
            .iter()
            .map(|file| format!("echo {} > {}", self.thaw_value, crate::shell::word(file)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A target that is the init of a nested PID namespace (a container,
/// `unshare -p`).
///
/// # Platform specific behavior
/// The kernel ends every process of a PID namespace when its init exits,
/// and delivers a signal from an ancestor namespace to that init only if
/// the init handles it (SIGKILL and SIGSTOP excepted): SIGTERM to an init
/// without a handler is dropped, not ignored by the process.
/// See: <https://man7.org/linux/man-pages/man7/pid_namespaces.7.html>
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInit {
    /// Processes in that namespace when porthole looked, init included.
    pub processes: usize,
    /// It has a SIGTERM handler (`SigCgt`), so SIGTERM reaches it.
    pub catches_term: bool,
}

impl Target {
    /// Whether the plan will signal this process.
    pub fn will_stop(&self) -> bool {
        self.refusal.is_none()
    }
}

/// Advice for a listener that belongs to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerHint {
    /// The listener is a port forwarder: stopping it leaves the container
    /// running (and Docker may start a new forwarder).
    pub forwarder: bool,
    /// The container id, when it could be found.
    pub container: Option<String>,
}

/// What a run would do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ports: Vec<u16>,
    pub listeners: Vec<Socket>,
    pub targets: Vec<Target>,
    /// Listeners whose owner could not be seen.
    pub hidden: Vec<Socket>,
    /// Why those owners could not be seen (not root, hidepid, another PID
    /// namespace…); empty when `hidden` is.
    pub owner_gaps: Vec<super::OwnerGap>,
    pub processes: BTreeMap<u32, Process>,
    /// porthole runs as root: it can read every process of its PID
    /// namespace, so a hidden owner is never a matter of privileges and
    /// "run as root" is never the advice.
    pub privileged: bool,
    /// The uid porthole runs as: `systemctl --user` reaches only the
    /// caller's own user units.
    pub caller_uid: u32,
    /// The network namespaces the listeners are in, when porthole looked
    /// beyond its own (`--netns all|NAME|PATH`); empty otherwise.
    pub namespaces: Vec<super::Namespace>,
    /// User names of the listeners' socket uids: the kernel reports the
    /// uid of a socket whose owning process cannot be seen.
    pub user_names: BTreeMap<u32, String>,
    /// How a command that needs root is written for this caller.
    pub as_root: AsRoot,
    /// `porthole kill PORT… [FLAGS]` selecting what this run selects, as
    /// root's `PATH` finds this porthole.
    pub kill_command: String,
    /// How a command the caller runs calls porthole: `porthole`, or its
    /// path where the caller's `PATH` does not find this build.
    pub program: String,
}

impl Plan {
    /// Nothing listens on any requested port.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Some listeners have no owner, and nothing could hide one: no process
    /// holds them (only the kernel), so nothing can be signalled for them.
    pub fn ownerless(&self) -> bool {
        !self.hidden.is_empty() && self.owner_gaps == [super::OwnerGap::NoProcess]
    }

    /// Targets that will be signalled.
    pub fn stoppable(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.will_stop())
    }
}

/// What happened to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Exited after the first signal.
    Exited { after: Duration },
    /// Still running when SIGTERM's grace ended; SIGKILL stopped it.
    Killed { after: Duration },
    /// Still alive after every signal porthole sends.
    Survived,
    /// The signal was refused: another user's process and porthole is not
    /// root (EPERM).
    NotPermitted,
    /// It exited before porthole sent anything.
    AlreadyGone,
    /// `kill(2)` failed otherwise.
    Failed { errno: i32 },
}

impl Fate {
    pub fn code(&self) -> &'static str {
        match self {
            Fate::Exited { .. } => "exited",
            Fate::Killed { .. } => "killed",
            Fate::Survived => "survived",
            Fate::NotPermitted => "not_permitted",
            Fate::AlreadyGone => "already_gone",
            Fate::Failed { .. } => "failed",
        }
    }
}

/// One target's signals and fate.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub pid: u32,
    pub signals: Vec<Signal>,
    pub fate: Fate,
    /// The parent whose signal was meant to stop it ([`Target::stopped_with`]):
    /// `signals` holds only what porthole sent this process itself.
    pub via_parent: Option<u32>,
    /// Why it was still running when the grace of SIGTERM ended, as the
    /// kernel told just before SIGKILL; `None` when no SIGKILL followed, or
    /// the kernel said nothing that explains it.
    pub unanswered: Option<Unanswered>,
}

/// Why a process outlived SIGTERM's grace: saying "it ignored SIGTERM" of a
/// process that blocks it, is held by a debugger or was still shutting
/// down would send the user after the wrong cause.
///
/// # Platform specific behavior
/// Read from `/proc/PID/status` (`State`, `TracerPid`, `ShdPnd`/`SigPnd`,
/// `SigBlk`, `SigIgn`, `SigCgt`). A signal no thread may take stays pending;
/// an ignored one is dropped when sent; a traced process in a tracing stop
/// acts on nothing but SIGKILL until its tracer resumes it.
/// See: <https://man7.org/linux/man-pages/man5/proc_pid_status.5.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// Stopped by a tracer (state `t`): a debugger, `strace`.
    Traced { tracer: u32 },
    /// It blocks SIGTERM (`sigprocmask`): the signal was left pending.
    Blocked,
    /// Waiting in the kernel (state `D`) with SIGTERM pending.
    Uninterruptible,
    /// SIGTERM is set to `SIG_IGN`: the kernel dropped it.
    Ignored,
    /// It has a SIGTERM handler, which had not ended it within the grace.
    Handled,
}

impl Unanswered {
    /// The name `--json` gives it.
    pub fn code(&self) -> &'static str {
        match self {
            Unanswered::Traced { .. } => "traced",
            Unanswered::Blocked => "blocked",
            Unanswered::Uninterruptible => "uninterruptible",
            Unanswered::Ignored => "ignored",
            Unanswered::Handled => "handled",
        }
    }
}

/// Who holds a port after the run.
#[derive(Debug, Clone)]
pub struct Holder {
    pub socket: Socket,
    pub pid: Option<u32>,
    pub process: Option<Process>,
    pub kind: HolderKind,
    /// The parent of a new process (who restarted it).
    pub parent: Option<Process>,
    /// Set when that parent is PID 1 of a PID namespace below porthole's
    /// (a container whose init is the restart loop): stopping it ends the
    /// namespace, and SIGTERM reaches it only through a handler.
    pub parent_init: Option<NamespaceInit>,
    /// The parent was a target (signalled or refused) and still runs: it
    /// handed the listening socket to this process after the signals (a
    /// reload after `--signal HUP`, a master replacing a worker), so it,
    /// not this process, keeps the port held.
    pub parent_is_target: bool,
    /// The parent was no target because porthole could not see it hold the
    /// socket (another user's process, porthole not root) and still runs:
    /// the master of a prefork server that starts a new worker on the same
    /// socket for each one stopped.
    pub parent_unseen: bool,
    /// The parent is PID 1, which also started the stopped target: init
    /// (a container's shell loop, tini, runit) restarted it. porthole never
    /// signals PID 1, so `parent_stop_command` is `None`.
    pub parent_is_init: bool,
    /// The command that stops the parent from here, as root when the
    /// parent is another user's and porthole is not root; `None` without
    /// a parent.
    pub parent_stop_command: Option<String>,
}

/// How a holder relates to the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    /// A target that is still alive.
    Survivor,
    /// An owner porthole refused to stop.
    Refused,
    /// A process that was not there before: restarted by a supervisor.
    NewProcess,
    /// A process that was not a target but holds the very listening
    /// socket a target held: a child the target forked on SIGTERM, or one
    /// it passed the descriptor to (`SCM_RIGHTS`). Nothing restarted
    /// anything; the socket lives on in a process porthole did not signal.
    Inherited,
    /// A process that was not a target but was running before porthole
    /// started: it began listening on the port after the plan was made,
    /// so no supervisor restarted it.
    AlreadyRunning,
    /// No process porthole can see holds the socket: without root,
    /// another user's; as root, one outside porthole's PID namespace.
    Hidden,
}

impl HolderKind {
    pub fn code(self) -> &'static str {
        match self {
            HolderKind::Survivor => "survived",
            HolderKind::Refused => "refused",
            HolderKind::NewProcess => "new_process",
            HolderKind::Inherited => "inherited",
            HolderKind::AlreadyRunning => "already_running",
            HolderKind::Hidden => "hidden",
        }
    }
}

/// The state of the ports after the run.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Requested ports nothing listens on any more.
    pub free: Vec<u16>,
    pub holders: Vec<Holder>,
    /// How long the ports were watched for a restart.
    pub watched: Duration,
    /// Parents of stopped targets that are still running once the watch
    /// ended and are not porthole's own ancestors (the shell it runs in):
    /// a supervisor slower than the watch would be one of them.
    pub lingering_parents: Vec<Supervisor>,
    /// PID 1, when it started a stopped target and is not a host's init
    /// (`systemd`, `init`): a container's restart loop slower than the
    /// watch would look like a free port. porthole never signals it.
    pub init_parent: Option<Process>,
}

/// A process that may restart what `kill` stopped: a holder's parent or a
/// parent still running after the watch.
#[derive(Debug, Clone)]
pub struct Supervisor {
    pub process: Process,
    /// Set when it is PID 1 of a PID namespace below porthole's.
    pub namespace_init: Option<NamespaceInit>,
}

/// How a command that needs root is written for the caller: as is for
/// root, else through `sudo` or `su` where this machine has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsRoot {
    #[default]
    Already,
    Sudo,
    Su,
    /// Neither: the command as root runs it, which every line that
    /// prints it introduces with "as root".
    Unknown,
}

impl AsRoot {
    /// `command` as this caller runs it as root. Only a command: what is
    /// said about it (that root runs it) is the sentence's, never appended
    /// to it, so the line runs as printed.
    pub fn wrap(self, command: &str) -> String {
        match self {
            AsRoot::Already | AsRoot::Unknown => command.to_string(),
            AsRoot::Sudo => format!("sudo {command}"),
            AsRoot::Su => format!("su -c {}", crate::shell::word(command)),
        }
    }
}

/// The `kill` that stops a supervisor as it runs from here: a PID
/// namespace's init without a SIGTERM handler never receives SIGTERM from
/// an ancestor namespace (the kernel drops it), so only SIGKILL ends it.
pub fn supervisor_stop_command(pid: u32, namespace_init: Option<&NamespaceInit>) -> String {
    match namespace_init {
        Some(init) if !init.catches_term => format!("kill -KILL {pid}"),
        _ => format!("kill {pid}"),
    }
}

/// A socket on a requested port that `kill` leaves alone although it
/// keeps the port from being free.
#[derive(Debug, Clone)]
pub struct OtherSocket {
    pub socket: Socket,
    /// Its owners, as far as they can be seen.
    pub processes: Vec<Process>,
    /// Why it was left alone.
    pub kind: OtherKind,
}

/// A listener on a requested port in another network namespace than the
/// one `kill` looked in: out of reach of the request as given, so the
/// user is told the exact `--netns` that reaches it.
#[derive(Debug, Clone)]
pub struct Elsewhere {
    pub socket: Socket,
    /// The namespace it is in, as discovered (its name, who lives there).
    pub namespace: Option<super::Namespace>,
    pub processes: Vec<Process>,
    /// What to pass to `--netns` to reach it: the `ip netns` name, else a
    /// process's namespace file; `None` when no way in is known.
    pub netns_argument: Option<String>,
}

/// Why [`OtherSocket`] was not a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// A listener of a protocol or family the request's `-t`/`-u`/`-4`/`-6`
    /// left out.
    NotSelected,
    /// A TCP socket bound without `listen()` (a reservation such as
    /// `free --hold`, or a server between `bind()` and `listen()`): not a
    /// listener, but no other socket can bind the port.
    BoundOnly,
    /// A connected socket whose local end is the port (a connected UDP
    /// client, an outbound connection, a connection a server kept after
    /// closing its listener), on a port nothing listens on.
    Connected,
    /// A reservation by `porthole free --hold`: bound without `listen()`
    /// but with `SO_REUSEADDR`, so a server that sets the option binds the
    /// port now (and the holder exits); others wait for the hold to end.
    Hold,
    /// A connection of a server that is gone, still closing in the kernel
    /// (TIME-WAIT, or an orphaned FIN-WAIT, CLOSING or LAST-ACK socket no
    /// process holds), on a port nothing listens on: a new server can bind
    /// the port now only if both it and the gone server set `SO_REUSEADDR`
    /// (verified on Linux 6.x: the option on the new socket alone is not
    /// enough), otherwise once it ends.
    Closing,
}

impl OtherKind {
    /// The JSON spelling.
    pub fn code(self) -> &'static str {
        match self {
            OtherKind::NotSelected => "not_selected",
            OtherKind::BoundOnly => "bound_only",
            OtherKind::Connected => "connected",
            OtherKind::Closing => "closing",
            OtherKind::Hold => "hold",
        }
    }
}

impl Verification {
    pub fn all_free(&self) -> bool {
        self.holders.is_empty()
    }
}
