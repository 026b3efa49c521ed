//! Who is who: a table of processes kept current by the process connector,
//! so a connection or listener is still named after its process exited.
//!
//! Entries are read through the machine handle at exec and fork — the
//! moments a process gets its name — and kept for [`KEEP_EXITED`] after
//! exit. Only processes in a recorded network namespace are read: the
//! connector reports every fork on the machine, and a parallel build
//! elsewhere would otherwise keep the recorder reading `/proc` (and dumping
//! listeners) all day. A process is identified by its pid *and* its start
//! time in clock ticks since boot (10 ms), so a pid reused within the same
//! second never lends its name to the newer process.

use foldhash::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inventory::proc_events::ProcEvent;
use crate::inventory::process::DetailCache;
use crate::inventory::system::System;
use crate::model::monitor::ProcessIdentity;
use crate::model::Process;

/// How long an exited process stays nameable.
pub const KEEP_EXITED: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Entry {
    /// Handed out shared: every event of a process names it without a copy.
    identity: Arc<ProcessIdentity>,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    start_ticks: u64,
    exited: Option<Instant>,
    /// Reported by the connector as starting in a recorded namespace (not
    /// only looked up because it owned something).
    started_here: bool,
}

/// How long a user name looked up for a process read is reused: NSS may
/// read files or ask a daemon, too slow to do at every exec on a busy
/// machine, while a long-running recorder should still see a user created
/// or renamed after it started.
pub const USER_NAMES_FOR: Duration = Duration::from_secs(300);

/// pid → identity, fed by fork/exec/exit events and `/proc`.
#[derive(Debug, Default)]
pub struct ProcessTable {
    entries: HashMap<u32, Entry>,
    /// `btime` of `/proc/stat`, read once.
    boot_time: Option<Option<u64>>,
    /// User names, for processes read from `/proc` and for identities eBPF
    /// reported, renewed after [`USER_NAMES_FOR`] (see
    /// [`ProcessTable::expire`]).
    details: DetailCache,
    details_since: Option<Instant>,
}

/// Which network namespaces the recorder records, to tell whether a new
/// process can matter to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Only the namespace with this inode (the recorder's own).
    Namespace(u64),
    /// Every namespace on the machine.
    All,
}

impl Recorded {
    /// Whether `pid` lives in a recorded namespace. A process that is
    /// already gone (or hidden) cannot be placed and is not recorded:
    /// there is nothing left to read about it anyway.
    pub fn holds(self, system: &dyn System, pid: u32) -> bool {
        match self {
            Recorded::All => true,
            Recorded::Namespace(inode) => system.net_namespace_of(pid) == Some(inode),
        }
    }
}

/// The identity of a process as `inventory::process` read it.
pub fn identity_of(process: Process) -> ProcessIdentity {
    ProcessIdentity {
        pid: process.pid,
        start_time: process.start_time,
        start_ticks: Some(process.start_ticks),
        name: process.name,
        exe: process.exe,
        exe_deleted: process.exe_deleted,
        cmdline: process.cmdline,
        uid: process.uid,
        user: process.user,
        unit: process.unit,
        container: process.container,
    }
}

/// Converts a start time in nanoseconds since boot (what eBPF reads from
/// `task_struct`) to the clock ticks `/proc/PID/stat` reports.
pub fn ticks_of_boottime(nanoseconds: u64) -> u64 {
    let ticks_per_second = rustix::param::clock_ticks_per_second().max(1);
    nanoseconds / (1_000_000_000 / ticks_per_second)
}

impl ProcessTable {
    /// Applies connector events: reads the processes that started in a
    /// recorded namespace, marks exits. Returns how many such processes
    /// started (each may be about to open a listener).
    pub fn apply(
        &mut self,
        system: &dyn System,
        recorded: Recorded,
        events: &[ProcEvent],
        now: Instant,
    ) -> usize {
        let mut started = 0;
        // A shell or a build forks and the child execs microseconds later:
        // both arrive in one batch. The child is read (and placed in its
        // namespace) once, at the exec, which also sees any namespace it
        // entered in between (`ip netns exec`, `unshare -n`).
        let execs: std::collections::HashSet<u32> = events
            .iter()
            .filter_map(|event| match *event {
                ProcEvent::Exec { pid } => Some(pid),
                _ => None,
            })
            .collect();
        for event in events {
            match *event {
                ProcEvent::Fork { child, .. } if execs.contains(&child) => {}
                ProcEvent::Fork { child: pid, .. } | ProcEvent::Exec { pid } => {
                    if !recorded.holds(system, pid) {
                        continue;
                    }
                    started += 1;
                    match self.read(system, pid) {
                        Some(mut entry) => {
                            entry.started_here = true;
                            self.entries.insert(pid, entry);
                        }
                        // Gone before it could be read again: what an
                        // earlier exec or fork read is the program it
                        // replaced (`ip netns exec`, a shell's `exec`), and
                        // would name everything it did after. Without an
                        // entry, eBPF events name it by the kernel's comm.
                        None if matches!(event, ProcEvent::Exec { .. }) => {
                            self.entries.remove(&pid);
                        }
                        None => {}
                    }
                }
                ProcEvent::Exit { pid } => {
                    if let Some(entry) = self.entries.get_mut(&pid) {
                        entry.exited = Some(now);
                    }
                }
            }
        }
        started
    }

    fn read(&mut self, system: &dyn System, pid: u32) -> Option<Entry> {
        let process = system.process_cached(pid, &mut self.details)?;
        let start_ticks = process.start_ticks;
        let identity = Arc::new(identity_of(process));
        Some(Entry { identity, start_ticks, exited: None, started_here: false })
    }

    /// Processes that started in a recorded namespace and have not exited,
    /// newest first: the likely owners of a socket that just appeared.
    pub fn live_recent(&self) -> Vec<u32> {
        let mut live: Vec<(u64, u32)> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.exited.is_none() && entry.started_here)
            .map(|(&pid, entry)| (entry.start_ticks, pid))
            .collect();
        live.sort_unstable_by(|a, b| b.cmp(a));
        live.into_iter().map(|(_, pid)| pid).collect()
    }

    /// Forgets processes that exited more than [`KEEP_EXITED`] ago.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.exited.is_none_or(|exited| now.duration_since(exited) < KEEP_EXITED)
        });
        let since = *self.details_since.get_or_insert(now);
        if now.duration_since(since) >= USER_NAMES_FOR {
            self.details = DetailCache::default();
            self.details_since = Some(now);
        }
    }

    /// The identity of `pid`, from the table or from `/proc`. With
    /// `start_ticks`, an entry of another process that had the same pid is
    /// not returned.
    pub fn lookup(
        &mut self,
        system: &dyn System,
        pid: u32,
        start_ticks: Option<u64>,
    ) -> Option<Arc<ProcessIdentity>> {
        let matches = |entry: &Entry| start_ticks.is_none_or(|ticks| entry.start_ticks == ticks);
        if let Some(entry) = self.entries.get(&pid) {
            if matches(entry) {
                return Some(Arc::clone(&entry.identity));
            }
        }
        let entry = self.read(system, pid)?;
        if !matches(&entry) {
            return None;
        }
        let identity = Arc::clone(&entry.identity);
        self.entries.insert(pid, entry);
        Some(identity)
    }

    /// The identity of a live `pid` whose `/proc/PID/stat` names it `name`
    /// now: the table's, read again when the table names it otherwise — it
    /// renamed itself (`prctl(PR_SET_NAME)`) after it was read at its exec,
    /// and a socket it holds now is its, under the name `ls` shows.
    pub fn lookup_named(
        &mut self,
        system: &dyn System,
        pid: u32,
        start_ticks: Option<u64>,
        name: &str,
    ) -> Option<Arc<ProcessIdentity>> {
        let identity = self.lookup(system, pid, start_ticks)?;
        if identity.name == name {
            return Some(identity);
        }
        let matches = |entry: &Entry| start_ticks.is_none_or(|ticks| entry.start_ticks == ticks);
        let Some(mut fresh) = self.read(system, pid).filter(matches) else {
            return Some(identity);
        };
        if let Some(old) = self.entries.get(&pid) {
            fresh.started_here = old.started_here;
            fresh.exited = old.exited;
        }
        let identity = Arc::clone(&fresh.identity);
        self.entries.insert(pid, fresh);
        Some(identity)
    }

    /// Marks `identity` (and the table's entry for it) as running a deleted
    /// executable when its `/proc/PID/exe` says so now. The flag is read
    /// with the rest at exec, but an upgrade deletes the file of a service
    /// that keeps running: callers recheck it at the rare moments that
    /// record a process as a listener's holder, never per connection. One
    /// `readlink` (and a `stat`, so a reused pid lends nothing); a process
    /// that exited, or one that is another than `identity`, is left as is.
    pub fn recheck_deleted(&mut self, system: &dyn System, identity: &mut ProcessIdentity) {
        if identity.exe_deleted {
            // A deleted file never comes back under the process.
            return;
        }
        let pid = identity.pid;
        let Some(entry) = self.entries.get_mut(&pid) else { return };
        if entry.exited.is_some() || entry.identity.start_time != identity.start_time {
            return;
        }
        if system.stat(pid).is_none_or(|stat| stat.start_ticks != entry.start_ticks) {
            return;
        }
        let deleted = system
            .read_link(&format!("/proc/{pid}/exe"))
            .is_some_and(|exe| exe.ends_with(" (deleted)"));
        if deleted {
            identity.exe_deleted = true;
            Arc::make_mut(&mut entry.identity).exe_deleted = true;
        }
    }

    /// The identity of a process seen by eBPF (pid, start in ns since boot,
    /// name, uid): the table's or `/proc`'s when the start matches, else
    /// what the kernel reported, which is all there is once it exited.
    pub fn identify(
        &mut self,
        system: &dyn System,
        pid: u32,
        start_boottime_ns: u64,
        name: &str,
        uid: u32,
    ) -> Arc<ProcessIdentity> {
        let ticks = ticks_of_boottime(start_boottime_ns);
        if let Some(identity) = self.lookup(system, pid, Some(ticks)) {
            if identity.name == name {
                return identity;
            }
            // The kernel names it otherwise at this event: the table read
            // it before an exec whose report has not been applied yet
            // (the connector and the ring buffer are read one after the
            // other), or it renamed itself. Read it again; once it is gone
            // the kernel's name is the one to keep.
            match self.read(system, pid).filter(|entry| entry.start_ticks == ticks) {
                Some(mut fresh) => {
                    if let Some(old) = self.entries.get(&pid) {
                        fresh.started_here = old.started_here;
                        fresh.exited = old.exited;
                    }
                    let identity = Arc::clone(&fresh.identity);
                    self.entries.insert(pid, fresh);
                    return identity;
                }
                None => {
                    self.entries.remove(&pid);
                }
            }
        }
        let boot_time = *self.boot_time.get_or_insert_with(|| {
            crate::inventory::process::boot_time_of(&system.read_text("/proc/stat")?)
        });
        let start_time = boot_time.map(|boot| boot + start_boottime_ns / 1_000_000_000);
        let user = self.details.user_name(uid);
        Arc::new(ProcessIdentity {
            pid,
            start_time,
            start_ticks: Some(ticks),
            name: name.to_string(),
            uid,
            user,
            ..ProcessIdentity::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;
    use crate::model::Process;

    fn machine() -> Scripted {
        let server = Process { pid: 40, name: "server".into(), ..Process::default() };
        let builder = Process { pid: 41, name: "rustc".into(), ..Process::default() };
        let mut machine = Scripted { namespace: 7, ..Scripted::default() }
            .process(server, 0)
            .process(builder, 0)
            .file("/proc/stat", "cpu 1 2 3\nbtime 1700000000\n");
        // A compiler in another namespace (a build elsewhere on the host).
        machine.process_namespaces.insert(41, 9);
        machine
    }

    /// `ip netns exec NS prog` is one process that execs twice; read at
    /// the first exec, gone by the time the second is applied: the name of
    /// the program it replaced must not stay on it.
    #[test]
    fn a_process_gone_before_its_second_exec_is_read_keeps_no_stale_name() {
        let mut machine = machine();
        let mut table = ProcessTable::default();
        let now = Instant::now();
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exec { pid: 40 }], now);
        assert_eq!(table.lookup(&machine, 40, Some(1040)).unwrap().name, "server");
        machine.processes.remove(&40);
        let events = [ProcEvent::Exec { pid: 40 }, ProcEvent::Exit { pid: 40 }];
        // Placed by its namespace as the events arrive: still placed, gone
        // from the process list.
        table.apply(&machine, Recorded::All, &events, now);
        assert!(table.lookup(&machine, 40, Some(1040)).is_none());
        let named = table.identify(&machine, 40, 0, "client", 0);
        assert_eq!(named.name, "client", "the kernel's comm at the event");
    }

    /// The table read `ip` at the first exec of `ip netns exec NS prog`;
    /// an eBPF event of `prog` is read before the second exec's report:
    /// the process is read again, not named `ip`.
    #[test]
    fn an_event_naming_a_process_otherwise_than_the_table_reads_it_again() {
        let mut machine = machine();
        let mut table = ProcessTable::default();
        let now = Instant::now();
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exec { pid: 40 }], now);
        let exec = Process { pid: 40, name: "uring_peer".into(), ..Process::default() };
        machine = machine.process(exec, 0);
        // `Scripted::process` starts pid 40 at 1040 ticks.
        let start_ns = 1040 * (1_000_000_000 / rustix::param::clock_ticks_per_second());
        let named = table.identify(&machine, 40, start_ns, "uring_peer", 0);
        assert_eq!(named.name, "uring_peer");
        assert_eq!(table.lookup(&machine, 40, Some(1040)).unwrap().name, "uring_peer");
    }

    #[test]
    fn names_a_process_after_it_exited_but_not_a_reused_pid() {
        let machine = machine();
        let mut table = ProcessTable::default();
        let now = Instant::now();
        let started =
            table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exec { pid: 40 }], now);
        assert_eq!(started, 1);
        // `Scripted::process` gives pid N the start time 1000 + N ticks.
        let me = table.lookup(&machine, 40, Some(1040)).expect("read at exec");
        assert_eq!(me.name, "server");
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exit { pid: 40 }], now);
        let gone = Scripted { namespace: 7, ..Scripted::default() };
        // Still named while kept after exit, though /proc no longer has it…
        assert_eq!(table.lookup(&gone, 40, Some(1040)).unwrap().name, "server");
        // …but not for a process started 10 ms later on the same pid.
        assert!(table.lookup(&gone, 40, Some(1041)).is_none());
        let per_tick = 1_000_000_000 / rustix::param::clock_ticks_per_second();
        let fallback = table.identify(&machine, 40, 1041 * per_tick, "newer", 0);
        assert_eq!(fallback.name, "newer");
        assert_eq!(fallback.start_time, Some(1_700_000_000 + 1041 * per_tick / 1_000_000_000));
        table.expire(now + KEEP_EXITED + Duration::from_secs(1));
        assert!(table.entries.is_empty());
    }

    /// An upgrade deletes the executable of a service read at its exec:
    /// a recheck flags it (and the table's entry, which later events of it
    /// name), but never a process that exited or another on the same pid.
    #[test]
    fn an_executable_deleted_after_the_exec_is_flagged_at_a_recheck() {
        let mut machine = machine();
        machine.links.insert("/proc/40/exe".into(), "/usr/sbin/server".into());
        let mut table = ProcessTable::default();
        let now = Instant::now();
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exec { pid: 40 }], now);
        let mut owner = Arc::unwrap_or_clone(table.lookup(&machine, 40, Some(1040)).unwrap());
        table.recheck_deleted(&machine, &mut owner);
        assert!(!owner.exe_deleted, "still on disk");

        machine.links.insert("/proc/40/exe".into(), "/usr/sbin/server (deleted)".into());
        let mut stale = owner.clone();
        // Another process that had pid 40 before: not this one's file.
        let mut earlier = ProcessIdentity { start_time: Some(1), ..owner.clone() };
        table.recheck_deleted(&machine, &mut earlier);
        assert!(!earlier.exe_deleted);
        table.recheck_deleted(&machine, &mut owner);
        assert!(owner.exe_deleted);
        assert!(table.lookup(&machine, 40, Some(1040)).unwrap().exe_deleted, "the entry too");

        // Exited: its pid's link may be another process's by now.
        let mut table = ProcessTable::default();
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exec { pid: 40 }], now);
        table.apply(&machine, Recorded::Namespace(7), &[ProcEvent::Exit { pid: 40 }], now);
        stale.exe_deleted = false;
        table.recheck_deleted(&machine, &mut stale);
        assert!(!stale.exe_deleted);
    }

    #[test]
    fn a_fork_whose_child_execs_in_the_same_batch_is_read_once_at_the_exec() {
        let machine = machine();
        let mut table = ProcessTable::default();
        let now = Instant::now();
        let fork_then_exec =
            [ProcEvent::Fork { parent: 1, child: 40 }, ProcEvent::Exec { pid: 40 }];
        assert_eq!(table.apply(&machine, Recorded::Namespace(7), &fork_then_exec, now), 1);
        assert_eq!(table.lookup(&machine, 40, Some(1040)).unwrap().name, "server");
        // A fork alone (a prefork worker that never execs) is still read.
        let mut table = ProcessTable::default();
        let fork = [ProcEvent::Fork { parent: 1, child: 40 }];
        assert_eq!(table.apply(&machine, Recorded::Namespace(7), &fork, now), 1);
        assert_eq!(table.entries.len(), 1);
    }

    #[test]
    fn processes_starting_in_other_namespaces_are_neither_read_nor_counted() {
        let machine = machine();
        let mut table = ProcessTable::default();
        let events = [
            ProcEvent::Fork { parent: 1, child: 41 },
            ProcEvent::Exec { pid: 41 },
            // Gone before it could be placed: nothing to read either.
            ProcEvent::Exec { pid: 42 },
        ];
        let started = table.apply(&machine, Recorded::Namespace(7), &events, Instant::now());
        assert_eq!(started, 0, "nothing started where the recorder records");
        assert!(table.entries.is_empty());
        // Recording every namespace, the compiler counts: once, for its fork
        // and its exec in one batch (the exec reads it).
        let started = table.apply(&machine, Recorded::All, &events, Instant::now());
        assert_eq!(started, 2);
        assert_eq!(table.entries.len(), 1, "pid 42 could not be read");
    }
}
