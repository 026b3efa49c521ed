//! What one batch of connection records does to a store, worked out before
//! any SQL runs: which connection rows to insert, which rows left open by an
//! earlier batch to update, and what to add to each hourly total. Both
//! writers ([`super::sqlite`] and `super::postgres`) apply the same plan in
//! their own SQL, so the two stores cannot drift apart in how they count.
//!
//! # Open connections
//! The capture engine reports a long connection twice or more: once while it
//! is open (with the bytes so far) and again when it ends. The first report
//! becomes a row with no `ended_at`; later ones update that row rather than
//! add another. Each writer keeps the connections it left open in an
//! [`OpenConnections`] map (rebuilt from the table when it starts), and the
//! plan says how that map changes once the batch is committed; a batch that
//! fails to commit leaves it as it was, matching the rolled-back tables.
//!
//! Rows left open by a run whose connection is gone (it closed while no
//! recorder ran, or the machine rebooted) are ended by the next run's
//! [`OpenSnapshot`]: every open row in its scope that the snapshot does not
//! list, or that began before the machine booted, gets the end `unknown`
//! and `ended_at` = the snapshot's time (ended *by* then), its bytes as
//! last reported.
//!
//! Every row names the network namespace it was seen in by its inode: the
//! capture engine says `None` for the recorder's own namespace, and the plan
//! writes the recorder's inode there (`own`), so recorders in different
//! namespaces sharing a store never take each other's rows for their own.
//! A `--netns current` snapshot judges only rows of its own namespace.
//!
//! Rows written before schema 3 carry no label for the recorder's own
//! namespace (`None`), and which namespace that was is not known: a
//! snapshot judges them as its own, as those versions did, and a row it
//! finds open gets the label this run reports it under ([`Relabel`]), so
//! this run's reports update it instead of adding a second row.
//!
//! Reports of one connection within one batch are merged into a single row
//! (or a single update), so a connection that opens and ends between two
//! batches is inserted once, already ended.
//!
//! # Hourly totals
//! A connection counts once, in the hour it started, under its server port
//! and its client's executable (or name). Bytes are counted as they are
//! reported: a later report adds only what the connection moved since the
//! previous one, so the totals end up with the final byte counts.

use std::collections::{BTreeMap, HashMap};

use super::codec;
use crate::model::monitor::{
    ConnectionEnd, ConnectionRecord, MonitorEvent, OpenSnapshot, ProcessIdentity, UnixMicros,
};

/// A connection's identity across reports: its socket cookie and network
/// namespace (cookies are unique per boot, not across namespaces' reports
/// from different writers).
pub type ConnectionKey = (u64, Option<u64>);

/// `(hour, server port, client executable, network namespace)` of the
/// hourly totals: the same port in two namespaces is two services.
pub type RollupKey = (UnixMicros, u16, String, Option<u64>);

/// The connections a writer has written while still open.
pub type OpenConnections = HashMap<ConnectionKey, OpenConnection>;

/// A connection written while still open, updated when its end arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConnection {
    /// Byte counts as last written, so the next report adds only the rest
    /// to the hourly totals.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// The hourly total the connection was counted in.
    pub rollup: RollupKey,
    /// The row's `at`: when the connection started, or was first reported.
    pub at: UnixMicros,
    /// Whether the row's start is known (kept in its flags when a snapshot
    /// ends it).
    pub start_known: bool,
}

/// What a batch adds to one hourly total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupDelta {
    /// The client's process name as last reported ("" when unknown).
    pub client_name: String,
    pub connections: i64,
    pub bytes_up: i64,
    pub bytes_down: i64,
}

/// The columns a later report of a connection changes. Processes and uids
/// missing from a report keep what an earlier one gave (the SQL's
/// `coalesce`); the rest is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionState<'a> {
    pub ended_at: Option<UnixMicros>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// [`codec::connection_flags`] of the latest report.
    pub flags: i64,
    pub client_process: Option<&'a ProcessIdentity>,
    pub server_process: Option<&'a ProcessIdentity>,
    pub client_uid: Option<u32>,
    pub server_uid: Option<u32>,
}

impl<'a> ConnectionState<'a> {
    fn of(record: &'a ConnectionRecord) -> Self {
        ConnectionState {
            ended_at: record.ended_at,
            bytes_up: record.bytes_client_to_server,
            bytes_down: record.bytes_server_to_client,
            flags: codec::connection_flags(record.end, start_of(record).is_some()),
            client_process: record.client_process.as_ref(),
            server_process: record.server_process.as_ref(),
            client_uid: record.client_uid,
            server_uid: record.server_uid,
        }
    }

    /// This state after a later report.
    fn then(&mut self, later: ConnectionState<'a>) {
        *self = ConnectionState {
            client_process: later.client_process.or(self.client_process),
            server_process: later.server_process.or(self.server_process),
            client_uid: later.client_uid.or(self.client_uid),
            server_uid: later.server_uid.or(self.server_uid),
            ..later
        };
    }
}

/// A connection row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection<'a> {
    /// The first report: addresses, ports and cookie.
    pub record: &'a ConnectionRecord,
    /// The namespace label of the row: the record's, or the recorder's own
    /// inode for a record of its own namespace.
    pub net_namespace: Option<u64>,
    /// When it started (or ended, or the batch's time when neither is
    /// known): the row's `at`.
    pub at: UnixMicros,
    /// The columns as the batch's last report of it left them.
    pub state: ConnectionState<'a>,
}

/// An update of a row an earlier batch left open, found by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionUpdate<'a> {
    pub key: ConnectionKey,
    pub state: ConnectionState<'a>,
}

/// A row left open under `key` whose namespace is now `net_namespace`: a
/// recorder before schema 3 left it without a label, and this run finds
/// its connection open in the namespace it labels so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relabel {
    pub key: ConnectionKey,
    pub net_namespace: Option<u64>,
}

/// Everything a batch's connection records do to the store.
#[derive(Debug, Default, PartialEq)]
pub struct BatchPlan<'a> {
    /// New rows, in the order of their first report.
    pub inserts: Vec<NewConnection<'a>>,
    /// Open rows an earlier recorder left without a label that this run
    /// finds open; applied before `updates`, which find them by their new
    /// key.
    pub relabels: Vec<Relabel>,
    /// Rows left open by earlier batches, each updated once.
    pub updates: Vec<ConnectionUpdate<'a>>,
    /// What to add to the hourly totals (created when missing).
    pub rollups: BTreeMap<RollupKey, RollupDelta>,
    /// How the writer's open connections change once the batch is
    /// committed: `None` removes the key.
    open_changes: HashMap<ConnectionKey, Option<OpenConnection>>,
}

/// Where the batch's reports of one connection go.
#[derive(Debug, Clone, Copy)]
enum Target {
    Insert(usize),
    Update(usize),
}

impl<'a> BatchPlan<'a> {
    /// Plans `records` (in the order they were captured) against the
    /// connections the writer has left `open`. `now` is the `at` of a
    /// record with neither a start nor an end time; `own` is the inode of
    /// the recorder's namespace, which its records call `None` (`None`
    /// when it could not be read: rows are then labelled as the records
    /// are).
    pub fn new(
        open: &OpenConnections,
        records: impl IntoIterator<Item = &'a ConnectionRecord>,
        now: UnixMicros,
        own: Option<u64>,
    ) -> Self {
        let mut planner = Planner::new(own);
        for record in records {
            planner.record(open, record, now);
        }
        planner.plan
    }

    /// Plans a batch's connection records and open snapshots, in order.
    pub fn of_events(
        open: &OpenConnections,
        batch: &'a [MonitorEvent],
        now: UnixMicros,
        own: Option<u64>,
    ) -> Self {
        let mut planner = Planner::new(own);
        for event in batch {
            match event {
                MonitorEvent::Connection(record) => planner.record(open, record, now),
                MonitorEvent::OpenSnapshot(snapshot) => planner.snapshot(open, snapshot),
                MonitorEvent::Started { .. }
                | MonitorEvent::Listener(_)
                | MonitorEvent::Loss(_) => {}
            }
        }
        planner.plan
    }

    /// Brings the writer's open connections up to date; call it once the
    /// batch is committed.
    pub fn commit_to(self, open: &mut OpenConnections) {
        for (key, change) in self.open_changes {
            match change {
                Some(connection) => open.insert(key, connection),
                None => open.remove(&key),
            };
        }
    }
}

/// A plan being built, with where this batch already put each connection
/// it saw while that connection stays open.
struct Planner<'a> {
    plan: BatchPlan<'a>,
    targets: HashMap<ConnectionKey, Target>,
    /// The recorder's namespace inode, its records' `None`.
    own: Option<u64>,
}

/// The label a row gets for a record's namespace `label`: the recorder's
/// own inode (`own`) for its own namespace, else the record's inode.
pub fn stored_namespace(label: Option<u64>, own: Option<u64>) -> Option<u64> {
    label.or(own)
}

impl<'a> Planner<'a> {
    fn new(own: Option<u64>) -> Self {
        Planner { plan: BatchPlan::default(), targets: HashMap::new(), own }
    }

    /// The connection `key` as the batch so far leaves it: open (and how),
    /// or not open.
    fn open_now(&self, open: &OpenConnections, key: &ConnectionKey) -> Option<OpenConnection> {
        match self.plan.open_changes.get(key) {
            Some(change) => change.clone(),
            None => open.get(key).cloned(),
        }
    }

    fn record(&mut self, open: &OpenConnections, record: &'a ConnectionRecord, now: UnixMicros) {
        let label = stored_namespace(record.net_namespace, self.own);
        let key = (record.cookie, label);
        let previous = self.open_now(open, &key);
        let plan = &mut self.plan;
        let state = ConnectionState::of(record);
        let (up, down) = (state.bytes_up, state.bytes_down);
        let ended = state.ended_at.is_some();
        let Some(previous) = previous else {
            let at = start_of(record).or(record.ended_at).unwrap_or(now);
            let (rollup, client_name) = rollup_key(record, at, label);
            let delta = plan.rollups.entry(rollup.clone()).or_default();
            delta.client_name = client_name;
            delta.connections += 1;
            delta.bytes_up += up as i64;
            delta.bytes_down += down as i64;
            if ended {
                // Recorded as closed: a later report with the same key
                // is another connection.
                self.targets.remove(&key);
            } else {
                let start_known = start_of(record).is_some();
                let connection =
                    OpenConnection { bytes_up: up, bytes_down: down, rollup, at, start_known };
                plan.open_changes.insert(key, Some(connection));
                self.targets.insert(key, Target::Insert(plan.inserts.len()));
            }
            plan.inserts.push(NewConnection { record, net_namespace: label, at, state });
            return;
        };
        // The same connection again: its end, or newer byte counts.
        let delta = plan.rollups.entry(previous.rollup.clone()).or_default();
        delta.bytes_up += up.saturating_sub(previous.bytes_up) as i64;
        delta.bytes_down += down.saturating_sub(previous.bytes_down) as i64;
        // The row's `at` stays that of its first report: whether it is the
        // start is what that report knew, not what a later one (whose
        // start may be a later first sighting) says.
        let (end, _) = codec::connection_from_flags(state.flags);
        let flags = codec::connection_flags(end, previous.start_known);
        self.update(key, ConnectionState { flags, ..state });
        if ended {
            self.plan.open_changes.insert(key, None);
            self.targets.remove(&key);
        } else {
            self.plan
                .open_changes
                .insert(key, Some(OpenConnection { bytes_up: up, bytes_down: down, ..previous }));
        }
    }

    /// Merges `state` into the row this batch already changes for `key`,
    /// or plans an update of the row an earlier batch left open.
    fn update(&mut self, key: ConnectionKey, state: ConnectionState<'a>) {
        let plan = &mut self.plan;
        match self.targets.get(&key) {
            Some(Target::Insert(index)) => plan.inserts[*index].state.then(state),
            Some(Target::Update(index)) => plan.updates[*index].state.then(state),
            None => {
                self.targets.insert(key, Target::Update(plan.updates.len()));
                plan.updates.push(ConnectionUpdate { key, state });
            }
        }
    }

    /// Ends the open rows `snapshot` speaks for whose connection it did not
    /// find open, and gives the rows it did find the key this run reports
    /// them under (see the module docs).
    fn snapshot(&mut self, open: &OpenConnections, snapshot: &OpenSnapshot) {
        let stored = |&(cookie, label): &ConnectionKey| (cookie, stored_namespace(label, self.own));
        let listed: std::collections::HashSet<ConnectionKey> =
            snapshot.open.iter().map(stored).collect();
        // Where each listed cookie is open, when cookies are unique on the
        // machine: an unlabelled row with that cookie is that connection,
        // whichever namespace the recorder that wrote it ran in.
        let mut listed_cookies: HashMap<u64, Option<Option<u64>>> = HashMap::new();
        for &(cookie, net_namespace) in &listed {
            listed_cookies
                .entry(cookie)
                .and_modify(|label| {
                    if *label != Some(net_namespace) {
                        *label = None;
                    }
                })
                .or_insert(Some(net_namespace));
        }
        let own = snapshot.own_namespace;
        let mut keys: Vec<ConnectionKey> = open
            .keys()
            .chain(self.plan.open_changes.keys())
            .filter(|key| snapshot.scope.covers(own, key.1))
            .copied()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let Some(connection) = self.open_now(open, &key) else { continue };
            let earlier_boot = snapshot.booted_at.is_some_and(|booted| connection.at < booted);
            // This run's name for the row's namespace: an unlabelled row
            // is taken to be of this run's own namespace.
            let own_key = match key.1 {
                None => (key.0, self.own),
                Some(inode) if inode == own => (key.0, self.own),
                Some(_) => key,
            };
            let found = if earlier_boot {
                None
            } else if listed.contains(&own_key) {
                Some(Some(own_key))
            } else {
                // Open under another label. With cookies unique on the
                // machine and one label, it is this row's connection (a
                // recorder that ran in that namespace said `None`); else it
                // cannot be told whether it is, and the row is left as it
                // is. Not open anywhere: ended below.
                listed_cookies.get(&key.0).map(|label| {
                    label.filter(|_| snapshot.unique_cookies).map(|label| (key.0, label))
                })
            };
            match found {
                Some(Some(new_key)) if new_key == key => continue,
                Some(Some(new_key)) => {
                    // Rows this batch already touched keep their key, and
                    // so does a row whose new key another open row holds.
                    if !self.targets.contains_key(&key) && self.open_now(open, &new_key).is_none() {
                        self.plan.relabels.push(Relabel { key, net_namespace: new_key.1 });
                        self.plan.open_changes.insert(key, None);
                        self.plan.open_changes.insert(new_key, Some(connection));
                    }
                    continue;
                }
                Some(None) => continue,
                None => {}
            }
            let state = ConnectionState {
                ended_at: Some(snapshot.at),
                bytes_up: connection.bytes_up,
                bytes_down: connection.bytes_down,
                flags: codec::connection_flags(ConnectionEnd::Unknown, connection.start_known),
                client_process: None,
                server_process: None,
                client_uid: None,
                server_uid: None,
            };
            self.update(key, state);
            self.plan.open_changes.insert(key, None);
            self.targets.remove(&key);
        }
    }
}

/// When `record`'s connection started, as far as it is known: a start after
/// its end (a sighting taken for a start, a clock stepped between the two)
/// is not one, and the row says the start was not seen rather than give a
/// negative duration.
fn start_of(record: &ConnectionRecord) -> Option<UnixMicros> {
    record.started_at.filter(|&start| record.ended_at.is_none_or(|end| start <= end))
}

/// The hourly total of a connection that started at `at`, and its client's
/// name: totals are kept per executable, or per name when the executable
/// is unknown, or under "" when the client is unknown.
fn rollup_key(
    record: &ConnectionRecord,
    at: UnixMicros,
    net_namespace: Option<u64>,
) -> (RollupKey, String) {
    let (exe, name) = match &record.client_process {
        Some(process) => {
            (process.exe.clone().unwrap_or_else(|| process.name.clone()), process.name.clone())
        }
        None => (String::new(), String::new()),
    };
    ((super::hour_start(at), record.server.port(), exe, net_namespace), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::monitor::SnapshotScope;

    /// 2026-11-28 10:00:00 UTC.
    const T0: UnixMicros = 1_795_860_000_000_000;
    const HOUR: i64 = 3_600_000_000;
    /// The inode of the namespace the snapshots' recorder runs in.
    const OWN: u64 = 4026531840;

    fn process(pid: u32, name: &str, exe: Option<&str>) -> ProcessIdentity {
        ProcessIdentity {
            pid,
            start_time: Some(100),
            start_ticks: None,
            name: name.into(),
            exe: exe.map(str::to_string),
            exe_deleted: false,
            cmdline: vec![name.into()],
            uid: 1000,
            user: None,
            unit: None,
            container: None,
        }
    }

    /// A report of connection `cookie` to port 5432, open unless `ended_at`.
    fn report(cookie: u64, ended_at: Option<UnixMicros>, bytes: (u64, u64)) -> ConnectionRecord {
        ConnectionRecord {
            cookie,
            net_namespace: None,
            client: "127.0.0.1:40000".parse().unwrap(),
            server: "127.0.0.1:5432".parse().unwrap(),
            started_at: Some(T0 + 10),
            ended_at,
            bytes_client_to_server: bytes.0,
            bytes_server_to_client: bytes.1,
            client_process: None,
            server_process: None,
            client_uid: None,
            server_uid: None,
            end: if ended_at.is_some() { ConnectionEnd::Closed } else { ConnectionEnd::Unknown },
        }
    }

    fn delta(name: &str, connections: i64, up: i64, down: i64) -> RollupDelta {
        RollupDelta { client_name: name.into(), connections, bytes_up: up, bytes_down: down }
    }

    #[test]
    fn new_connections_are_inserted_and_counted_per_hour_port_and_executable() {
        let mut psql = report(1, Some(T0 + 20), (10, 100));
        psql.client_process = Some(process(4411, "psql", Some("/usr/bin/psql")));
        let mut nameless = report(2, Some(T0 + 30), (1, 2));
        nameless.client_process = Some(process(4412, "worker", None));
        let mut later = report(3, Some(T0 + HOUR + 5), (5, 5));
        later.started_at = None;
        let mut unknown = report(4, None, (7, 8));
        unknown.started_at = None;
        let batch = [psql.clone(), nameless, later, unknown];
        let plan = BatchPlan::new(&OpenConnections::new(), &batch, T0 + 99, None);
        let ats: Vec<_> = plan.inserts.iter().map(|row| (row.record.cookie, row.at)).collect();
        assert_eq!(ats, [(1, T0 + 10), (2, T0 + 10), (3, T0 + HOUR + 5), (4, T0 + 99)]);
        assert!(plan.updates.is_empty());
        assert_eq!(plan.inserts[0].state, ConnectionState::of(&psql));
        let rollups: Vec<_> = plan.rollups.into_iter().collect();
        assert_eq!(
            rollups,
            [
                ((T0, 5432, String::new(), None), delta("", 1, 7, 8)),
                ((T0, 5432, "/usr/bin/psql".into(), None), delta("psql", 1, 10, 100)),
                ((T0, 5432, "worker".into(), None), delta("worker", 1, 1, 2)),
                ((T0 + HOUR, 5432, String::new(), None), delta("", 1, 5, 5)),
            ]
        );
    }

    #[test]
    fn an_open_connection_is_remembered_and_its_end_updates_it() {
        let mut open = OpenConnections::new();
        let first = [report(7, None, (10, 20))];
        let plan = BatchPlan::new(&open, &first, T0, None);
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.inserts[0].state.ended_at, None);
        plan.commit_to(&mut open);
        let rollup = (T0, 5432, String::new(), None);
        assert_eq!(
            open[&(7, None)],
            OpenConnection {
                bytes_up: 10,
                bytes_down: 20,
                rollup: rollup.clone(),
                at: T0 + 10,
                start_known: true
            }
        );

        let mut end = report(7, Some(T0 + 50), (100, 1000));
        end.client_uid = Some(1000);
        let second = [end.clone()];
        let plan = BatchPlan::new(&open, &second, T0, None);
        assert!(plan.inserts.is_empty());
        assert_eq!(
            plan.updates,
            [ConnectionUpdate { key: (7, None), state: ConnectionState::of(&end) }]
        );
        // Counted once, with the bytes moved since the first report.
        assert_eq!(plan.rollups[&rollup], delta("", 0, 90, 980));
        plan.commit_to(&mut open);
        assert!(open.is_empty());
    }

    #[test]
    fn reports_of_one_connection_in_one_batch_become_one_row() {
        let owner = process(4411, "psql", Some("/usr/bin/psql"));
        let mut opened = report(7, None, (10, 20));
        opened.client_process = Some(owner.clone());
        opened.client_uid = Some(1000);
        let growing = report(7, None, (50, 60));
        let mut ended = report(7, Some(T0 + 50), (100, 1000));
        ended.server_uid = Some(116);
        let batch = [opened.clone(), growing, ended];
        let mut open = OpenConnections::new();
        let plan = BatchPlan::new(&open, &batch, T0, None);
        assert!(plan.updates.is_empty());
        assert_eq!(plan.inserts.len(), 1);
        let row = &plan.inserts[0];
        assert_eq!(row.at, T0 + 10);
        assert_eq!(
            row.state,
            ConnectionState {
                ended_at: Some(T0 + 50),
                bytes_up: 100,
                bytes_down: 1000,
                flags: codec::connection_flags(ConnectionEnd::Closed, true),
                // Kept from the first report, which alone knew them.
                client_process: Some(&owner),
                server_process: None,
                client_uid: Some(1000),
                server_uid: Some(116),
            }
        );
        let rollup = (T0, 5432, "/usr/bin/psql".to_string(), None);
        assert_eq!(plan.rollups.len(), 1);
        assert_eq!(plan.rollups[&rollup], delta("psql", 1, 100, 1000));
        plan.commit_to(&mut open);
        assert!(open.is_empty(), "{open:?}");
    }

    #[test]
    fn several_reports_of_an_earlier_open_connection_make_one_update() {
        let rollup = (T0 - HOUR, 5432, "/usr/bin/psql".to_string(), None);
        let mut open = OpenConnections::from([(
            (7, Some(4026531840)),
            OpenConnection {
                bytes_up: 10,
                bytes_down: 10,
                rollup: rollup.clone(),
                at: T0 - HOUR,
                start_known: true,
            },
        )]);
        let mut growing = report(7, None, (30, 40));
        growing.net_namespace = Some(4026531840);
        growing.server_process = Some(process(812, "postgres", None));
        let mut still = growing.clone();
        still.bytes_client_to_server = 35;
        still.server_process = None;
        let batch = [growing.clone(), still];
        let plan = BatchPlan::new(&open, &batch, T0, None);
        assert!(plan.inserts.is_empty());
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].state.bytes_up, 35);
        assert_eq!(plan.updates[0].state.server_process, growing.server_process.as_ref());
        // Counted in the hour it started, not the hour of the report.
        assert_eq!(
            plan.rollups.into_iter().collect::<Vec<_>>(),
            [(rollup.clone(), delta("", 0, 25, 30))]
        );
        let plan = BatchPlan::new(&open, &batch, T0, None);
        plan.commit_to(&mut open);
        assert_eq!(
            open[&(7, Some(4026531840))],
            OpenConnection {
                bytes_up: 35,
                bytes_down: 40,
                rollup,
                at: T0 - HOUR,
                start_known: true
            }
        );
    }

    #[test]
    fn a_key_seen_again_after_its_end_is_a_new_connection() {
        let batch = [report(9, Some(T0 + 20), (1, 1)), report(9, None, (2, 2))];
        let mut open = OpenConnections::new();
        let plan = BatchPlan::new(&open, &batch, T0, None);
        assert_eq!(plan.inserts.len(), 2);
        assert_eq!(plan.rollups[&(T0, 5432, String::new(), None)], delta("", 2, 3, 3));
        plan.commit_to(&mut open);
        assert_eq!(open[&(9, None)].bytes_up, 2);
        // Byte counts that went down (a reused cookie) add nothing.
        let shrunk = [report(9, Some(T0 + 30), (1, 0))];
        let plan = BatchPlan::new(&open, &shrunk, T0, None);
        assert_eq!(plan.rollups[&(T0, 5432, String::new(), None)], delta("", 0, 0, 0));
    }

    fn snapshot(at: UnixMicros, scope: SnapshotScope, open: &[(u64, Option<u64>)]) -> MonitorEvent {
        MonitorEvent::OpenSnapshot(OpenSnapshot {
            at,
            booted_at: Some(T0 - HOUR),
            scope,
            open: open.to_vec(),
            own_namespace: OWN,
            unique_cookies: true,
        })
    }

    /// Rows a stopped recorder left open: the next start's snapshot ends
    /// those whose connection is gone, `unknown` by the snapshot's time
    /// with the bytes last reported, and leaves the others open.
    #[test]
    fn a_snapshot_ends_the_open_rows_whose_connection_is_gone() {
        let mut open = OpenConnections::new();
        let first = [report(1, None, (10, 20)), report(2, None, (30, 40))];
        let mut in_namespace = report(3, None, (1, 1));
        in_namespace.net_namespace = Some(4026532000);
        let mut unread = report(4, None, (1, 1));
        unread.net_namespace = Some(4026532001);
        let mut started_unknown = report(5, None, (7, 7));
        started_unknown.started_at = None;
        let rows = [&first[0], &first[1], &in_namespace, &unread, &started_unknown];
        BatchPlan::new(&open, rows, T0 + 20, None).commit_to(&mut open);
        assert_eq!(open.len(), 5);

        // `--netns current`: 2 is still open; 1 and 5 are gone; the other
        // namespaces' rows are not its to judge.
        let batch = [snapshot(T0 + HOUR, SnapshotScope::Own, &[(2, None)])];
        let plan = BatchPlan::of_events(&open, &batch, T0 + HOUR, None);
        assert!(plan.inserts.is_empty() && plan.rollups.is_empty(), "{plan:?}");
        let ended: Vec<_> = plan.updates.iter().map(|u| (u.key, u.state.clone())).collect();
        let unknown = |up, down, start_known| ConnectionState {
            ended_at: Some(T0 + HOUR),
            bytes_up: up,
            bytes_down: down,
            flags: codec::connection_flags(ConnectionEnd::Unknown, start_known),
            client_process: None,
            server_process: None,
            client_uid: None,
            server_uid: None,
        };
        assert_eq!(ended, [((1, None), unknown(10, 20, true)), ((5, None), unknown(7, 7, false))]);
        plan.commit_to(&mut open);
        let mut left: Vec<_> = open.keys().copied().collect();
        left.sort_unstable();
        assert_eq!(left, [(2, None), (3, Some(4026532000)), (4, Some(4026532001))]);

        // `--netns all`, one namespace unreadable: its row stays open.
        let scope = SnapshotScope::All { unread: vec![4026532001] };
        let batch = [snapshot(T0 + HOUR, scope, &[(2, None)])];
        let plan = BatchPlan::of_events(&open, &batch, T0 + HOUR, None);
        let keys: Vec<_> = plan.updates.iter().map(|u| u.key).collect();
        assert_eq!(keys, [(3, Some(4026532000))]);
        plan.commit_to(&mut open);
        assert_eq!(open.len(), 2);
    }

    /// After a reboot the kernel hands out the same cookies again: a row of
    /// the earlier boot is ended even when a connection open now has its
    /// key, and that connection's report makes a row of its own.
    #[test]
    fn a_row_of_an_earlier_boot_is_ended_though_its_cookie_is_open_again() {
        let mut open = OpenConnections::new();
        let mut old = report(6, None, (10, 20));
        old.started_at = Some(T0 - 2 * HOUR);
        BatchPlan::new(&open, [&old], T0, None).commit_to(&mut open);
        let mut now_open = report(6, None, (1, 2));
        now_open.started_at = Some(T0);
        let batch = [snapshot(T0 + 5, SnapshotScope::Own, &[(6, None)]), event(now_open)];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, None);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].state.ended_at, Some(T0 + 5));
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.inserts[0].state.ended_at, None);
        assert_eq!(plan.rollups[&(T0, 5432, String::new(), None)], delta("", 1, 1, 2));
        plan.commit_to(&mut open);
        assert_eq!(open[&(6, None)].at, T0);
    }

    /// The snapshot comes before the open reports of its start: a row
    /// still open is not ended, and its report updates it.
    #[test]
    fn a_connection_the_snapshot_lists_keeps_its_row() {
        let mut open = OpenConnections::new();
        BatchPlan::new(&open, [&report(8, None, (10, 20))], T0, None).commit_to(&mut open);
        let batch =
            [snapshot(T0 + 5, SnapshotScope::Own, &[(8, None)]), event(report(8, None, (15, 20)))];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, None);
        assert!(plan.inserts.is_empty());
        assert_eq!(plan.updates.len(), 1);
        assert_eq!((plan.updates[0].state.ended_at, plan.updates[0].state.bytes_up), (None, 15));
    }

    /// A connection first reported open without its start (it began before
    /// the recorder) has its first report's time as the row's: a later
    /// report that names a start does not make that time a start.
    #[test]
    fn a_later_report_does_not_claim_the_rows_time_as_the_start() {
        let mut unstarted = report(11, None, (1, 1));
        unstarted.started_at = None;
        let mut open = OpenConnections::new();
        BatchPlan::new(&open, [&unstarted], T0 + 50, None).commit_to(&mut open);
        assert!(!open[&(11, None)].start_known);
        let ended = report(11, Some(T0 + 90), (2, 2));
        let plan = BatchPlan::new(&open, [&ended], T0 + 99, None);
        let flags = plan.updates[0].state.flags;
        assert_eq!(codec::connection_from_flags(flags), (ConnectionEnd::Closed, false));
        // Within one batch too.
        let plan = BatchPlan::new(&OpenConnections::new(), [&unstarted, &ended], T0 + 50, None);
        let flags = plan.inserts[0].state.flags;
        assert_eq!(codec::connection_from_flags(flags), (ConnectionEnd::Closed, false));
    }

    fn in_namespace(cookie: u64, net_namespace: Option<u64>) -> ConnectionRecord {
        let mut record = report(cookie, None, (1, 1));
        record.net_namespace = net_namespace;
        record
    }

    /// A `--netns all` recorder in another namespace labelled this
    /// namespace's rows with its inode: a `--netns current` run here ends
    /// the one whose connection is gone, gives the open one its own label
    /// (so its report updates the row), and leaves other namespaces alone.
    #[test]
    fn a_current_run_judges_the_rows_an_all_run_elsewhere_left_open() {
        let mut open = OpenConnections::new();
        let rows =
            [in_namespace(1, Some(OWN)), in_namespace(2, Some(OWN)), in_namespace(3, Some(7))];
        BatchPlan::new(&open, &rows, T0, None).commit_to(&mut open);
        let batch =
            [snapshot(T0 + 5, SnapshotScope::Own, &[(2, None)]), event(report(2, None, (5, 5)))];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, None);
        assert_eq!(plan.relabels, [Relabel { key: (2, Some(OWN)), net_namespace: None }]);
        let updated: Vec<_> = plan.updates.iter().map(|u| (u.key, u.state.ended_at)).collect();
        assert_eq!(updated, [((1, Some(OWN)), Some(T0 + 5)), ((2, None), None)]);
        assert!(plan.inserts.is_empty(), "{plan:?}");
        plan.commit_to(&mut open);
        let mut left: Vec<_> = open.keys().copied().collect();
        left.sort_unstable();
        assert_eq!(left, [(2, None), (3, Some(7))]);
    }

    /// The reverse: a `--netns current` recorder in namespace 7 left a row
    /// open under `None`; a `--netns all` run here lists its cookie in 7,
    /// and with cookies unique on the machine that is the row's connection.
    /// Without unique cookies the row cannot be judged and stays as it is.
    #[test]
    fn an_all_run_takes_over_a_row_a_current_run_elsewhere_left_open() {
        let mut open = OpenConnections::new();
        BatchPlan::new(&open, [&in_namespace(4, None)], T0, None).commit_to(&mut open);
        let scope = SnapshotScope::All { unread: Vec::new() };
        let mut batch = [snapshot(T0 + 5, scope, &[(4, Some(7))]), event(in_namespace(4, Some(7)))];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, None);
        assert_eq!(plan.relabels, [Relabel { key: (4, None), net_namespace: Some(7) }]);
        assert!(plan.inserts.is_empty(), "{plan:?}");
        assert_eq!(plan.updates.len(), 1);
        assert_eq!((plan.updates[0].key, plan.updates[0].state.ended_at), ((4, Some(7)), None));
        if let MonitorEvent::OpenSnapshot(snapshot) = &mut batch[0] {
            snapshot.unique_cookies = false;
        }
        let plan = BatchPlan::of_events(&open, &batch[..1], T0 + 5, None);
        assert!(plan.relabels.is_empty() && plan.updates.is_empty(), "{plan:?}");
    }

    /// A start after the end is no start: the row begins at the end and
    /// says its start was not seen.
    #[test]
    fn a_start_after_the_end_is_not_stored_as_the_start() {
        let mut record = report(12, Some(T0 + 10), (1, 1));
        record.started_at = Some(T0 + 20);
        let plan = BatchPlan::new(&OpenConnections::new(), [&record], T0 + 30, None);
        assert_eq!(plan.inserts[0].at, T0 + 10);
        let flags = plan.inserts[0].state.flags;
        assert_eq!(codec::connection_from_flags(flags), (ConnectionEnd::Closed, false));
    }

    fn event(record: ConnectionRecord) -> MonitorEvent {
        MonitorEvent::Connection(Box::new(record))
    }

    /// Rows are labelled with the recorder's namespace even when its
    /// records say `None` (its own), and so are their hourly totals.
    #[test]
    fn rows_of_the_recorders_own_namespace_carry_its_inode() {
        let mut open = OpenConnections::new();
        let batch = [report(1, None, (1, 2)), in_namespace(2, Some(7))];
        let plan = BatchPlan::new(&open, &batch, T0, Some(OWN));
        let labels: Vec<_> = plan.inserts.iter().map(|row| row.net_namespace).collect();
        assert_eq!(labels, [Some(OWN), Some(7)]);
        let totals: Vec<_> = plan.rollups.keys().map(|key| key.3).collect();
        assert_eq!(totals, [Some(7), Some(OWN)]);
        plan.commit_to(&mut open);
        let mut keys: Vec<_> = open.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [(1, Some(OWN)), (2, Some(7))]);
        // Its later report updates the same row.
        let end = report(1, Some(T0 + 50), (5, 5));
        let plan = BatchPlan::new(&open, [&end], T0, Some(OWN));
        assert!(plan.inserts.is_empty());
        assert_eq!(plan.updates[0].key, (1, Some(OWN)));
    }

    /// Two `--netns current` recorders in namespaces 7 and 8 share a store:
    /// the start of one neither ends nor takes over the rows the other
    /// left open, and each still judges its own.
    #[test]
    fn a_current_run_leaves_another_namespaces_open_rows_alone() {
        let mut open = OpenConnections::new();
        BatchPlan::new(&open, [&report(1, None, (1, 1))], T0, Some(7)).commit_to(&mut open);
        BatchPlan::new(&open, [&report(2, None, (1, 1))], T0, Some(8)).commit_to(&mut open);
        let start_in = |own: u64, listed: &[(u64, Option<u64>)]| {
            MonitorEvent::OpenSnapshot(OpenSnapshot {
                at: T0 + 5,
                booted_at: Some(T0 - HOUR),
                scope: SnapshotScope::Own,
                open: listed.to_vec(),
                own_namespace: own,
                unique_cookies: true,
            })
        };
        // Namespace 8 starts again with nothing open, and then with its
        // connection still open: namespace 7's row is not touched either
        // way, though cookies are unique and 1 is not listed.
        for listed in [&[][..], &[(2, None)][..]] {
            let batch = [start_in(8, listed)];
            let plan = BatchPlan::of_events(&open, &batch, T0 + 5, Some(8));
            assert!(plan.relabels.is_empty(), "{plan:?}");
            let ended: Vec<_> = plan.updates.iter().map(|u| u.key).collect();
            let expected: &[ConnectionKey] = if listed.is_empty() { &[(2, Some(8))] } else { &[] };
            assert_eq!(ended, expected);
        }
        // Namespace 7 ends its own row when its connection is gone.
        let batch = [start_in(7, &[])];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, Some(7));
        let ended: Vec<_> = plan.updates.iter().map(|u| u.key).collect();
        assert_eq!(ended, [(1, Some(7))]);
    }

    /// A row an older porthole left open without a label is judged as
    /// those versions judged it, as the starting recorder's own: found open
    /// it gets the recorder's label (and its reports update it), gone it is
    /// ended.
    #[test]
    fn an_unlabelled_row_of_an_older_version_is_taken_as_the_recorders_own() {
        let mut open = OpenConnections::new();
        let rows = [report(3, None, (1, 1)), report(4, None, (1, 1))];
        BatchPlan::new(&open, &rows, T0, None).commit_to(&mut open);
        let batch =
            [snapshot(T0 + 5, SnapshotScope::Own, &[(3, None)]), event(report(3, None, (9, 9)))];
        let plan = BatchPlan::of_events(&open, &batch, T0 + 5, Some(OWN));
        assert_eq!(plan.relabels, [Relabel { key: (3, None), net_namespace: Some(OWN) }]);
        let updated: Vec<_> = plan.updates.iter().map(|u| (u.key, u.state.ended_at)).collect();
        assert_eq!(updated, [((4, None), Some(T0 + 5)), ((3, Some(OWN)), None)]);
        assert!(plan.inserts.is_empty(), "{plan:?}");
        plan.commit_to(&mut open);
        assert_eq!(open.keys().copied().collect::<Vec<_>>(), [(3, Some(OWN))]);
    }
}
