//! Who is who: a table of processes kept current by the process connector,
//! so a connection or listener is still named after its process exited.
//!
//! Entries are read from `/proc` at exec and fork — the moments a process
//! gets its name — and kept for [`KEEP_EXITED`] after exit. Lookups check
//! the start time, so a reused pid never lends its name to a newer process.

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

impl ProcessTable {
    /// Applies connector events: read new processes now, mark exits.
    pub fn apply(&mut self, events: &[ProcEvent], now: Instant) {
        for event in events {
            match *event {
                ProcEvent::Fork { child: pid, .. } | ProcEvent::Exec { pid } => {
                    if let Some(process) = process::read(pid, &mut self.cache) {
                        self.entries
                            .insert(pid, Entry { identity: identity_of(process), exited: None });
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

    /// Forgets processes that exited more than [`KEEP_EXITED`] ago.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.exited.is_none_or(|exited| now.duration_since(exited) < KEEP_EXITED)
        });
    }

    /// The identity of `pid`, from the table or from `/proc`. With
    /// `start_time`, an entry of another process that had the same pid is
    /// not returned.
    pub fn lookup(&mut self, pid: u32, start_time: Option<u64>) -> Option<ProcessIdentity> {
        let matches = |identity: &ProcessIdentity| {
            start_time.is_none()
                || identity.start_time.is_none()
                || identity.start_time == start_time
        };
        if let Some(entry) = self.entries.get(&pid) {
            if matches(&entry.identity) {
                return Some(entry.identity.clone());
            }
        }
        let identity = identity_of(process::read(pid, &mut self.cache)?);
        if !matches(&identity) {
            return None;
        }
        self.entries.insert(pid, Entry { identity: identity.clone(), exited: None });
        Some(identity)
    }

    /// The identity of a process seen by eBPF: the table's (or `/proc`'s)
    /// when the start time matches, else what the kernel reported — pid,
    /// name, uid, start — which is all there is once it exited.
    pub fn identify(
        &mut self,
        pid: u32,
        start_time: Option<u64>,
        name: &str,
        uid: u32,
    ) -> ProcessIdentity {
        if let Some(identity) = self.lookup(pid, start_time) {
            return identity;
        }
        ProcessIdentity {
            pid,
            start_time,
            name: name.to_string(),
            uid,
            user: self.cache.user_name(uid),
            ..ProcessIdentity::default()
        }
    }

    /// Boot time, seconds since the epoch, to convert eBPF start times.
    pub fn boot_time(&mut self) -> Option<u64> {
        self.cache.boot_time()
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
        let me = table.lookup(pid, None).expect("this process is readable");
        table.apply(&[ProcEvent::Exit { pid }], now);
        // Still named while kept after "exit"…
        assert_eq!(table.lookup(pid, me.start_time).unwrap().name, me.name);
        // …but not for a process with another start time on the same pid.
        let other_start = me.start_time.map(|start| start + 1000);
        assert!(table.lookup(pid, other_start).is_none());
        let fallback = table.identify(pid, other_start, "newer", 0);
        assert_eq!((fallback.name.as_str(), fallback.start_time), ("newer", other_start));
        table.expire(now + KEEP_EXITED + Duration::from_secs(1));
        assert!(table.entries.is_empty());
    }
}
