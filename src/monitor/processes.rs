//! Who is who: a table of processes kept current by the process connector,
//! so a connection or listener is still named after its process exited.
//!
//! Entries are read from `/proc` at exec and fork — the moments a process
//! gets its name — and kept for [`KEEP_EXITED`] after exit. A process is
//! identified by its pid *and* its start time in clock ticks since boot
//! (10 ms), so a pid reused within the same second never lends its name to
//! the newer process.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::inventory::proc_events::ProcEvent;
use crate::inventory::process::{self, DetailCache};
use crate::model::monitor::ProcessIdentity;
use crate::model::Process;

/// How long an exited process stays nameable.
pub const KEEP_EXITED: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Entry {
    identity: ProcessIdentity,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    start_ticks: u64,
    exited: Option<Instant>,
}

/// pid → identity, fed by fork/exec/exit events and `/proc`.
#[derive(Debug, Default)]
pub struct ProcessTable {
    entries: HashMap<u32, Entry>,
    cache: DetailCache,
}

/// The identity of a process as `inventory::process` read it.
pub fn identity_of(process: Process) -> ProcessIdentity {
    ProcessIdentity {
        pid: process.pid,
        start_time: process.start_time,
        name: process.name,
        exe: process.exe,
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
    /// Applies connector events: read new processes now, mark exits.
    pub fn apply(&mut self, events: &[ProcEvent], now: Instant) {
        for event in events {
            match *event {
                ProcEvent::Fork { child: pid, .. } | ProcEvent::Exec { pid } => {
                    if let Some(entry) = self.read(pid) {
                        self.entries.insert(pid, entry);
                    }
                }
                ProcEvent::Exit { pid } => {
                    if let Some(entry) = self.entries.get_mut(&pid) {
                        entry.exited = Some(now);
                    }
                }
            }
        }
    }

    fn read(&mut self, pid: u32) -> Option<Entry> {
        let stat = process::read_stat(pid)?;
        let identity = identity_of(process::read(pid, &mut self.cache)?);
        Some(Entry { identity, start_ticks: stat.start_ticks, exited: None })
    }

    /// Forgets processes that exited more than [`KEEP_EXITED`] ago.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.exited.is_none_or(|exited| now.duration_since(exited) < KEEP_EXITED)
        });
    }

    /// The identity of `pid`, from the table or from `/proc`. With
    /// `start_ticks`, an entry of another process that had the same pid is
    /// not returned.
    pub fn lookup(&mut self, pid: u32, start_ticks: Option<u64>) -> Option<ProcessIdentity> {
        let matches = |entry: &Entry| start_ticks.is_none_or(|ticks| entry.start_ticks == ticks);
        if let Some(entry) = self.entries.get(&pid) {
            if matches(entry) {
                return Some(entry.identity.clone());
            }
        }
        let entry = self.read(pid)?;
        if !matches(&entry) {
            return None;
        }
        let identity = entry.identity.clone();
        self.entries.insert(pid, entry);
        Some(identity)
    }

    /// The identity of a process seen by eBPF (pid, start in ns since boot,
    /// name, uid): the table's or `/proc`'s when the start matches, else
    /// what the kernel reported, which is all there is once it exited.
    pub fn identify(
        &mut self,
        pid: u32,
        start_boottime_ns: u64,
        name: &str,
        uid: u32,
    ) -> ProcessIdentity {
        if let Some(identity) = self.lookup(pid, Some(ticks_of_boottime(start_boottime_ns))) {
            return identity;
        }
        let start_time =
            self.cache.boot_time().map(|boot| boot + start_boottime_ns / 1_000_000_000);
        ProcessIdentity {
            pid,
            start_time,
            name: name.to_string(),
            uid,
            user: self.cache.user_name(uid),
            ..ProcessIdentity::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_process_after_it_exited_but_not_a_reused_pid() {
        let mut table = ProcessTable::default();
        let pid = std::process::id();
        let now = Instant::now();
        table.apply(&[ProcEvent::Exec { pid }], now);
        let ticks = process::read_stat(pid).expect("own stat").start_ticks;
        let me = table.lookup(pid, Some(ticks)).expect("this process is readable");
        table.apply(&[ProcEvent::Exit { pid }], now);
        // Still named while kept after "exit"…
        assert_eq!(table.lookup(pid, Some(ticks)).unwrap().name, me.name);
        // …but not for a process started 10 ms later on the same pid.
        assert!(table.lookup(pid, Some(ticks + 1)).is_none());
        let per_tick = 1_000_000_000 / rustix::param::clock_ticks_per_second();
        let fallback = table.identify(pid, (ticks + 1) * per_tick, "newer", 0);
        assert_eq!(fallback.name, "newer");
        assert_eq!(fallback.user.as_deref(), Some("root"));
        table.expire(now + KEEP_EXITED + Duration::from_secs(1));
        assert!(table.entries.is_empty());
    }
}
