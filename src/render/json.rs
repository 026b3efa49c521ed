//! JSON wire types. Internal structs are never serialised directly: these
//! types fix the field names scripts rely on. Socket fields follow osquery's
//! `listening_ports` / `process_open_sockets` tables so fleet tools can join
//! porthole's output with theirs.

use serde::Serialize;

use crate::model::{Connection, PortMeaning, PortReport, Process, Snapshot, Socket};

/// Version of the JSON layout of every output (`ls`, `porthole PORT`,
/// `check`, `kill`, `free`, `audit`, `history`, `monitor --jsonl`, alerts,
/// `top` and the dashboard's API): one number, bumped on any incompatible
/// change to any of them. 2: one vocabulary across outputs (see the README,
/// "JSON output").
pub const SCHEMA_VERSION: u32 = 2;

/// A point in time on the wire: RFC 3339 UTC with microseconds, as every
/// output writes times (`2026-11-28T08:12:01.000000Z`).
pub fn time_of_seconds(seconds: u64) -> String {
    super::monitor::rfc3339(i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1_000_000))
}

/// One socket, as in `porthole ls --json`.
#[derive(Debug, Serialize)]
pub struct SocketRecord {
    /// `tcp`, `udp`, `unix` or `raw`.
    pub protocol: &'static str,
    /// `ipv4`, `ipv6` or `unix`.
    pub family: &'static str,
    pub local_address: Option<String>,
    /// 0 for a raw socket, which has no port (see `ip_protocol`).
    pub local_port: u16,
    pub remote_address: Option<String>,
    pub remote_port: u16,
    /// As `ss` spells it: `LISTEN`, `ESTAB`, `TIME-WAIT`, `UNCONN`…
    pub state: &'static str,
    /// `loopback`, `wildcard`, `specific` or `local` (Unix). A socket bound
    /// to the `lo` device is `loopback` whatever its address.
    pub scope: &'static str,
    /// Reachable from another device (a listener on a wildcard or
    /// non-loopback address, not bound to `lo`).
    pub exposed: bool,
    /// The interface the socket is bound to (`SO_BINDTODEVICE`, or the zone
    /// of a link-local address), by name (its index when the name could
    /// not be read); `null` when it takes packets from every interface.
    pub interface: Option<String>,
    /// The exact bytes of `interface`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_bytes: Option<String>,
    /// A `::` listener that also accepts IPv4 (`IPV6_V6ONLY` off); `null`
    /// when unknown.
    pub dual_stack: Option<bool>,
    pub inode: u64,
    /// Socket owner uid; `null` for Unix sockets (unix_diag has none).
    pub uid: Option<u32>,
    pub net_namespace: Option<u64>,
    /// Who lives in that namespace (`netns NAME`, `container ID`, `pid N
    /// (name)`), with `--netns all`.
    pub net_namespace_hint: Option<String>,
    pub rx_queue: u32,
    pub tx_queue: u32,
    /// Unix sockets: path, `@abstract`, or `null` when unnamed.
    pub path: Option<String>,
    /// The exact bytes of `path`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    /// Unix sockets: `stream`, `dgram` or `seqpacket`.
    pub unix_type: Option<&'static str>,
    /// Raw sockets: the IP protocol number (1 ICMP, 58 ICMPv6…), which
    /// `ss` prints in the port's place; `null` for other sockets.
    pub ip_protocol: Option<u8>,
    /// Raw sockets: the protocol's name when it has one (`icmp`, `ospf`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_protocol_name: Option<&'static str>,
    /// Unix sockets: inode of the connected peer.
    pub peer_inode: Option<u64>,
    pub processes: Vec<ProcessRecord>,
    /// For a socket whose owner could not be found: why (`not_root`,
    /// `own_user_unreadable`, `refused_to_root`, `hidepid`, `other_pid_namespace`,
    /// `no_process`), so that "nobody" is not read as "no process"; `null`
    /// when its owners are known or were not looked for.
    pub hidden_owner_reasons: Option<Vec<&'static str>>,
}

/// A listener that appeared or went away, as `monitor --jsonl` (a
/// `listener` line) and `history --json`/`--jsonl` (`listeners`, a
/// `listener` line) write it: one row, one layout. The recorder writes
/// `at_us` beside `at`; history, which reads stores of many machines,
/// writes `host` (`null` for a local store).
#[derive(Debug, Serialize)]
pub struct ListenerChangeRecord {
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_us: Option<crate::model::monitor::UnixMicros>,
    /// `appeared` or `disappeared`.
    pub change: &'static str,
    #[serde(flatten)]
    pub listener: ListenerFields,
    /// An `[::]` listener that also takes IPv4 clients (`IPV6_V6ONLY`
    /// off); `null` for other addresses and when the flag is unknown (in
    /// records that did not keep it).
    pub dual_stack: Option<bool>,
    /// History only: the machine that recorded it (`Some(None)`: `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<String>>,
    pub processes: Vec<super::monitor::ProcessLine>,
}

/// What a listener row says about the socket, shared by the recorded
/// change ([`ListenerChangeRecord`]: `monitor --jsonl`, history) and the
/// dashboard's live row (`/api/listeners`), so that both name a listener's
/// place and exposure alike. The dashboard's row, which came first, leaves
/// out `family` and [`ListenerSocket`] (it has its own `net_namespace`
/// later in the row).
#[derive(Debug, Serialize)]
pub struct ListenerFields {
    pub protocol: &'static str,
    /// `None` (left out) in the dashboard's row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<&'static str>,
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    /// The recorded socket; `None` (left out) in the dashboard's row.
    #[serde(flatten)]
    pub socket: Option<ListenerSocket>,
    /// As `porthole PORT` judges it: a listener bound to `lo` is `loopback`
    /// whatever its address.
    pub scope: &'static str,
    /// Another device could reach it (not loopback, not bound to `lo`).
    pub exposed: bool,
}

/// Which socket a recorded listener change is about.
#[derive(Debug, Serialize)]
pub struct ListenerSocket {
    /// Unix sockets: path or `@abstract`.
    pub path: Option<String>,
    /// The exact bytes of `path`, base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    pub inode: u64,
    /// `null` for Unix sockets (unix_diag reports no uid), as in `ls --json`.
    pub uid: Option<u32>,
    pub net_namespace: Option<u64>,
}

impl ListenerFields {
    /// The fields of a recorded change, every one present.
    pub fn of_event(event: &crate::model::monitor::ListenerEvent) -> Self {
        ListenerFields {
            protocol: event.protocol.as_str(),
            family: Some(event.family.as_str()),
            local_address: event.local.map(|address| address.ip().to_string()),
            local_port: event.local.map(|address| address.port()),
            socket: Some(ListenerSocket {
                path: event.path.clone(),
                path_bytes: path_bytes(event.path.as_deref()),
                inode: event.inode,
                // unix_diag reports no uid (u32::MAX).
                uid: (event.uid != u32::MAX).then_some(event.uid),
                net_namespace: event.net_namespace,
            }),
            scope: event.scope.as_str(),
            exposed: event.exposed,
        }
    }

    /// The fields of the dashboard's row for a listening socket found now.
    pub fn of_live(socket: &Socket) -> Self {
        ListenerFields {
            protocol: socket.protocol.as_str(),
            family: None,
            local_address: socket.local.map(|address| address.ip().to_string()),
            local_port: socket.local.map(|address| address.port()),
            socket: None,
            scope: socket.scope().as_str(),
            exposed: socket.exposed(),
        }
    }
}

/// Which of the two outputs a [`ListenerChangeRecord`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerChangeLayout {
    /// `monitor --jsonl`: with `at_us`, without `host`.
    Recorder,
    /// `history`: with `host`, without `at_us`.
    History,
}

impl ListenerChangeRecord {
    /// The row of `event`; `host` is the machine a history store names.
    pub fn of(
        event: &crate::model::monitor::ListenerEvent,
        layout: ListenerChangeLayout,
        host: Option<&str>,
    ) -> Self {
        use crate::model::monitor::ListenerChange;
        ListenerChangeRecord {
            at: super::monitor::rfc3339(event.at),
            at_us: (layout == ListenerChangeLayout::Recorder).then_some(event.at),
            change: match event.change {
                ListenerChange::Appeared => "appeared",
                ListenerChange::Disappeared => "disappeared",
            },
            listener: ListenerFields::of_event(event),
            dual_stack: event.dual_stack(),
            host: (layout == ListenerChangeLayout::History).then(|| host.map(str::to_string)),
            processes: event.owners.iter().map(super::monitor::ProcessLine::of).collect(),
        }
    }
}

/// The exact bytes of a Unix socket path, base64, for a `path_bytes` field:
/// `None` when there is no path or the path is UTF-8 (see
/// [`crate::model::os_text`]).
pub fn path_bytes(path: Option<&str>) -> Option<String> {
    path.and_then(crate::model::os_text::exact_bytes)
}

/// The exact bytes of a process's name, executable path and arguments
/// where they are not UTF-8 (see [`crate::model::os_text`]): the text fields
/// then carry U+FFFD for each such byte, and these carry the bytes, base64.
/// Each is left out when its text is exact, so most records have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessBytes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_bytes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_bytes: Option<String>,
    /// Every argument, base64, when any of them is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv_bytes: Option<Vec<String>>,
}

impl ProcessBytes {
    pub fn of(name: &str, exe: Option<&str>, argv: &[String]) -> Self {
        use crate::model::os_text::{exact_bytes, has_raw_bytes};
        use base64::Engine as _;
        let base64 = base64::engine::general_purpose::STANDARD;
        ProcessBytes {
            name_bytes: exact_bytes(name),
            exe_bytes: exe.and_then(exact_bytes),
            argv_bytes: argv.iter().any(|argument| has_raw_bytes(argument)).then(|| {
                argv.iter()
                    .map(|argument| base64.encode(crate::model::os_text::to_bytes(argument)))
                    .collect()
            }),
        }
    }
}

/// One owning process.
#[derive(Debug, Serialize)]
pub struct ProcessRecord {
    pub pid: u32,
    pub name: String,
    pub exe: Option<String>,
    pub exe_deleted: bool,
    /// `exe` is a path in the process's own mount namespace (a container):
    /// here it is `exe_here`.
    pub exe_other_mount_namespace: bool,
    /// Where the executable is from porthole's mount namespace
    /// (`/proc/PID/root/…` for a container's process).
    pub exe_here: Option<String>,
    /// The arguments joined by spaces, for reading.
    pub cmdline: String,
    /// The arguments exactly (an argument may contain spaces or be empty).
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub uid: u32,
    /// When the process started, RFC 3339 UTC; with `pid` it names the
    /// process even after the pid is reused.
    pub start_time: Option<String>,
    /// One-letter state (`S`, `R`, `T` stopped…).
    pub state: String,
    pub unit: Option<String>,
    pub container: Option<String>,
    /// Started by socket activation (`LISTEN_PID` names it): the number of
    /// sockets it was handed (`LISTEN_FDS`); `null` otherwise. Of several
    /// processes holding one socket, this one is the service.
    pub listen_fds: Option<u32>,
    /// Its pid inside its own PID namespace when that is below porthole's
    /// (`pid` is the pid here); `null` otherwise.
    pub namespace_pid: Option<u32>,
    #[serde(flatten)]
    pub bytes: ProcessBytes,
}

impl ProcessRecord {
    pub fn from_process(process: &Process) -> Self {
        ProcessRecord {
            pid: process.pid,
            name: process.name.clone(),
            exe: process.exe.clone(),
            exe_deleted: process.exe_deleted,
            exe_other_mount_namespace: process.exe_other_mount_namespace,
            exe_here: process.exe_path_here(),
            cmdline: process.cmdline.join(" "),
            argv: process.cmdline.clone(),
            user: process.user.clone(),
            uid: process.uid,
            start_time: process.start_time.map(time_of_seconds),
            state: process.state.to_string(),
            unit: process.unit.clone(),
            container: process.container.clone(),
            listen_fds: process.listen_fds,
            namespace_pid: process.namespace_pid,
            bytes: ProcessBytes::of(&process.name, process.exe.as_deref(), &process.cmdline),
        }
    }
}

impl SocketRecord {
    /// Builds the record of `socket`, with its owners' details from
    /// `processes` (owners without details are listed by pid only).
    pub fn from_socket(
        socket: &Socket,
        processes: &std::collections::BTreeMap<u32, Process>,
    ) -> Self {
        let scope = socket.scope();
        SocketRecord {
            protocol: socket.protocol.as_str(),
            family: socket.family.as_str(),
            local_address: socket.local.map(|a| a.ip().to_string()),
            local_port: socket.local_port(),
            remote_address: socket.remote.map(|a| a.ip().to_string()),
            remote_port: socket.remote_port(),
            state: socket.state.ss_name(),
            scope: scope.as_str(),
            exposed: socket.exposed(),
            interface: (socket.interface != 0).then(|| {
                socket.interface_name.clone().unwrap_or_else(|| socket.interface.to_string())
            }),
            interface_bytes: socket
                .interface_name
                .as_deref()
                .and_then(crate::model::os_text::exact_bytes),
            dual_stack: match socket.local.map(|local| crate::model::Scope::of_address(local.ip()))
            {
                Some(crate::model::Scope::Wildcard)
                    if socket.family == crate::model::Family::Ipv6 =>
                {
                    socket.v6only.map(|v| !v)
                }
                _ => None,
            },
            inode: socket.inode,
            uid: (socket.uid != u32::MAX).then_some(socket.uid),
            net_namespace: socket.net_namespace,
            net_namespace_hint: None,
            rx_queue: socket.rx_queue,
            tx_queue: socket.tx_queue,
            path: socket.path.clone(),
            path_bytes: path_bytes(socket.path.as_deref()),
            unix_type: socket.unix_kind.map(|k| k.as_str()),
            ip_protocol: socket.ip_protocol,
            ip_protocol_name: socket.ip_protocol.and_then(crate::model::ip_protocol::name),
            peer_inode: socket.peer_inode,
            processes: socket
                .owners
                .iter()
                .map(|pid| match processes.get(pid) {
                    Some(process) => ProcessRecord::from_process(process),
                    None => {
                        ProcessRecord::from_process(&Process { pid: *pid, ..Process::default() })
                    }
                })
                .collect(),
            hidden_owner_reasons: None,
        }
    }

    /// Sets [`SocketRecord::hidden_owner_reasons`] from the snapshot's
    /// reasons when the socket has a file but no visible owner.
    pub fn with_owner_gaps(mut self, socket: &Socket, gaps: &[crate::model::OwnerGap]) -> Self {
        if socket.inode != 0 && socket.owners.is_empty() && !gaps.is_empty() {
            self.hidden_owner_reasons = Some(gaps.iter().map(|g| g.code()).collect());
        }
        self
    }
}

/// The record of a socket of `snapshot`, with its namespace hint.
pub fn socket_record(snapshot: &Snapshot, socket: &Socket) -> SocketRecord {
    let mut record = SocketRecord::from_socket(socket, &snapshot.processes)
        .with_owner_gaps(socket, &snapshot.visibility.owner_gaps);
    record.net_namespace_hint = socket.net_namespace.and_then(|inode| {
        snapshot.namespaces.iter().find(|n| n.inode == inode).map(|n| n.hint(&snapshot.processes))
    });
    record
}

/// `porthole PORT --json`.
#[derive(Debug, Serialize)]
pub struct PortReportRecord {
    pub schema_version: u32,
    pub endpoint: String,
    pub port: u16,
    /// Something holds the port (a listener, or a live local end).
    pub held: bool,
    /// Another device could reach a listener (one on an address no
    /// interface has does not count).
    pub exposed: bool,
    /// Addresses listeners are bound to that no interface has
    /// (`IP_FREEBIND`, `ip_nonlocal_bind`): nothing reaches them yet.
    pub unassigned_addresses: Vec<String>,
    /// No interface of the namespace has an address but loopback ones, so
    /// no listener there is reachable from another device.
    pub only_loopback_addresses: bool,
    pub addresses: Vec<String>,
    /// The host name did not resolve here: `addresses` are what it means
    /// (`localhost`: the loopback addresses), not what a lookup gave.
    pub name_unresolved: bool,
    pub listeners: Vec<SocketRecord>,
    /// Listeners that serve the asked address (all for a bare port).
    pub serving: Vec<SocketRecord>,
    pub split_listeners: bool,
    pub clients: Vec<ConnectionRecord>,
    pub local_ends: Vec<ConnectionRecord>,
    /// Listeners of this machine the local ends are connected to (such an
    /// end is a client's); a local end whose other end is here but served
    /// by none of them may be a server's whose listener is gone.
    pub local_end_servers: Vec<SocketRecord>,
    /// The `porthole check --bind` command that tells whether a server can
    /// bind the port over its TIME-WAIT connections now (null without
    /// them, and with `--netns all`).
    pub bind_check_command: Option<String>,
    /// When nothing holds the port in the namespace asked about: its
    /// listeners in other network namespaces, each with the `porthole PORT
    /// --netns` command that shows it.
    pub elsewhere: Vec<super::kill::ElsewhereRecord>,
    pub outbound: Vec<SocketRecord>,
    pub time_wait: usize,
    /// Those TIME-WAIT connections, each with the listeners of this
    /// machine it talked to (empty when its server is elsewhere or gone).
    pub time_wait_connections: Vec<TimeWaitRecord>,
    /// TCP sockets bound to the port without listening (they hold it too).
    pub bound: Vec<SocketRecord>,
    pub meaning: MeaningRecord,
    /// With `--netns all`: the meaning in each other namespace holding a
    /// row, under its own sysctls (ephemeral range, reserved ports, first
    /// unprivileged port).
    pub namespace_meanings: Vec<NamespaceMeaningRecord>,
    /// Listeners' owners that are not the service the port is known for
    /// (`python3` on 5432); `null` when there are none.
    pub unexpected_owners: Option<UnexpectedOwnersRecord>,
    pub hidden_owners: usize,
    /// Why those owners are not visible: `not_root`, `hidepid`,
    /// `other_pid_namespace`, `no_process`, `own_user_unreadable`, `refused_to_root`.
    pub hidden_owner_reasons: Vec<&'static str>,
    /// With `no_process`: Unix sockets whose queues hold descriptors sent
    /// with `SCM_RIGHTS` and not yet received, which may be those sockets.
    pub in_flight: Vec<InFlightRecord>,
}

#[derive(Debug, Serialize)]
pub struct InFlightRecord {
    /// A process holding the Unix socket.
    pub pid: u32,
    pub name: String,
    pub unix_inode: u64,
    /// How many descriptors are queued on it (the kernel does not say which).
    pub descriptors: u32,
}

#[derive(Debug, Serialize)]
pub struct UnexpectedOwnersRecord {
    /// The service clients expect on the port (`PostgreSQL`).
    pub expected_service: String,
    /// The programs that serve it or stand in for it.
    pub expected_programs: Vec<String>,
    pub pids: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct NamespaceMeaningRecord {
    pub net_namespace: u64,
    /// `null` when its settings could not be read (then `error` says why).
    pub meaning: Option<MeaningRecord>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectionRecord {
    /// The end that uses the asked port locally.
    pub near: Option<SocketRecord>,
    /// The other end, when it is on this machine.
    pub far: Option<SocketRecord>,
    /// The near end is connected to itself (a TCP simultaneous open, same
    /// address and port on both ends): `far` is null, no server is involved.
    pub connected_to_itself: bool,
}

#[derive(Debug, Serialize)]
pub struct TimeWaitRecord {
    /// The TIME-WAIT socket (no process holds it).
    pub connection: SocketRecord,
    /// Listeners of this machine where the connection arrived.
    pub servers: Vec<SocketRecord>,
}

#[derive(Debug, Serialize)]
pub struct MeaningRecord {
    /// `system`, `user` or `dynamic`.
    pub iana_range: &'static str,
    pub ephemeral_range: Option<[u16; 2]>,
    pub in_ephemeral_range: bool,
    pub reserved: bool,
    pub privileged: bool,
    pub services: Vec<String>,
    pub browser_blocked: bool,
}

impl MeaningRecord {
    pub fn from_meaning(meaning: &PortMeaning) -> Self {
        MeaningRecord {
            iana_range: meaning.iana_range.as_str(),
            ephemeral_range: meaning.ephemeral_range.map(|(low, high)| [low, high]),
            in_ephemeral_range: meaning.in_ephemeral_range,
            reserved: meaning.reserved,
            privileged: meaning.privileged,
            services: meaning.services.clone(),
            browser_blocked: meaning.browser_blocked,
        }
    }
}

impl PortReportRecord {
    pub fn from_report(report: &PortReport) -> Self {
        let socket = |s: &Socket| {
            let mut record = SocketRecord::from_socket(s, &report.processes);
            record.net_namespace_hint = s.net_namespace.and_then(|inode| {
                report
                    .namespaces
                    .iter()
                    .find(|n| n.inode == inode)
                    .map(|n| n.hint(&report.processes))
            });
            record
        };
        let connection = |c: &Connection| ConnectionRecord {
            near: c.near.as_ref().map(socket),
            far: c.far.as_ref().map(socket),
            connected_to_itself: c.near.as_ref().is_some_and(Socket::connected_to_itself),
        };
        PortReportRecord {
            schema_version: SCHEMA_VERSION,
            endpoint: report.endpoint.clone(),
            port: report.port,
            held: report.is_held(),
            exposed: report.exposed(),
            unassigned_addresses: report.unassigned.iter().map(ToString::to_string).collect(),
            only_loopback_addresses: report.only_loopback_addresses,
            addresses: report.addresses.iter().map(ToString::to_string).collect(),
            name_unresolved: report.name_unresolved,
            listeners: report.listeners.iter().map(socket).collect(),
            serving: report.serving.iter().map(socket).collect(),
            split_listeners: report.split_listeners,
            clients: report.clients.iter().map(connection).collect(),
            local_ends: report.local_ends.iter().map(connection).collect(),
            local_end_servers: report.local_end_servers.iter().map(socket).collect(),
            bind_check_command: report.bind_check.clone(),
            elsewhere: report
                .elsewhere
                .iter()
                .map(|other| {
                    super::kill::ElsewhereRecord::new(&other.listener, other.command.clone())
                })
                .collect(),
            outbound: report.outbound.iter().map(socket).collect(),
            time_wait: report.time_wait,
            time_wait_connections: report
                .time_wait_ends
                .iter()
                .map(|end| TimeWaitRecord {
                    connection: socket(&end.socket),
                    servers: end.servers.iter().map(socket).collect(),
                })
                .collect(),
            bound: report.bound.iter().map(socket).collect(),
            meaning: MeaningRecord::from_meaning(&report.meaning),
            namespace_meanings: report
                .namespace_meanings
                .iter()
                .map(|other| NamespaceMeaningRecord {
                    net_namespace: other.inode,
                    meaning: other.meaning.as_ref().ok().map(MeaningRecord::from_meaning),
                    error: other.meaning.as_ref().err().cloned(),
                })
                .collect(),
            unexpected_owners: report.unexpected_owners.as_ref().map(|unexpected| {
                UnexpectedOwnersRecord {
                    expected_service: unexpected.service.clone(),
                    expected_programs: unexpected.expected.clone(),
                    pids: unexpected.pids.clone(),
                }
            }),
            hidden_owners: report.visibility.sockets_without_visible_owner,
            hidden_owner_reasons: report.visibility.owner_gaps.iter().map(|g| g.code()).collect(),
            in_flight: report
                .visibility
                .in_flight
                .iter()
                .map(|place| InFlightRecord {
                    pid: place.pid,
                    name: place.name.clone(),
                    unix_inode: place.unix_inode,
                    descriptors: place.descriptors,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::monitor::{ListenerChange, ListenerEvent};
    use crate::model::{Family, Protocol, Scope};

    /// Both outputs write a listener change with the same keys in the same
    /// order; only `at_us` (the recorder) and `host` (history) differ.
    #[test]
    fn a_listener_change_has_one_layout_in_both_outputs() {
        let event = ListenerEvent {
            at: 1_000_001,
            change: ListenerChange::Appeared,
            protocol: Protocol::Tcp,
            family: Family::Ipv6,
            local: Some("[::]:80".parse().unwrap()),
            path: None,
            inode: 7,
            uid: 0,
            net_namespace: None,
            scope: Scope::Wildcard,
            exposed: true,
            v6only: Some(false),
            owners: Vec::new(),
        };
        let middle = r#""change":"appeared","protocol":"tcp","family":"ipv6","local_address":"::","local_port":80,"path":null,"inode":7,"uid":0,"net_namespace":null,"scope":"wildcard","exposed":true,"dual_stack":true"#;
        let at = r#"{"at":"1970-01-01T00:00:01.000001Z","#;
        let recorder = ListenerChangeRecord::of(&event, ListenerChangeLayout::Recorder, None);
        assert_eq!(
            serde_json::to_string(&recorder).unwrap(),
            format!(r#"{at}"at_us":1000001,{middle},"processes":[]}}"#)
        );
        let history = ListenerChangeRecord::of(&event, ListenerChangeLayout::History, None);
        assert_eq!(
            serde_json::to_string(&history).unwrap(),
            format!(r#"{at}{middle},"host":null,"processes":[]}}"#)
        );
        let history = ListenerChangeRecord::of(&event, ListenerChangeLayout::History, Some("db1"));
        assert!(serde_json::to_string(&history).unwrap().contains(r#","host":"db1","#));
    }
}
