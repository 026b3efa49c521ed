//! Whether anything happened in the recorded namespace that a socket dump
//! would show, read from the kernel's per-namespace counters instead of
//! dumping.
//!
//! A sock_diag dump walks the kernel's socket hash tables, which are shared
//! by every namespace unless `tcp_child_ehash_entries` gave one its own: an
//! idle recorder that dumps every second pays for every socket on the
//! machine. Netlink capture has no event for "a listener appeared" or "a
//! connection was established", but the counters in
//! `/proc/thread-self/net/{sockstat,sockstat6,protocols,snmp}` move whenever
//! either happens, and reading them costs a few small reads:
//! - `inuse` of TCP, UDP and UDP-Lite (both families) counts hashed
//!   sockets — a listen(), a UDP bind and every established connection
//!   change it — and the `sockets` column of `UNIX` and `UNIX-STREAM` in
//!   `protocols` counts Unix sockets at socket();
//! - `ActiveOpens` and `PassiveOpens` of `Tcp` in `snmp` count every
//!   connect() and accept() that reached ESTABLISHED or SYN-RECV, and
//!   `CurrEstab` is how many connections are open now: a connection that
//!   has lived a whole interval was open at the previous tick too, so when
//!   either tick counted none there is nothing for a dump to name.
//!
//! These counters are per network namespace; the memory and orphan counts
//! beside them are machine-wide and would change with other namespaces'
//! traffic, so they are left out.
//!
//! What they cannot see — a Unix socket created long ago that starts
//! listening, a listener that closes while another opens — is caught by the
//! full reconciliation every [`super::FULL_RECONCILE`]; except that a TCP
//! or UDP listener's destroy notification (netlink mode) ends it at once,
//! and a TCP listener's makes the recorder dump for the one that may have
//! taken its place.

use crate::inventory::system::System;

/// The counters of one namespace, compared between ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// `inuse` of each IP protocol line and the Unix socket count: a change
    /// means a listener may have come or gone.
    pub sockets: Vec<(String, u64)>,
    /// `ActiveOpens` + `PassiveOpens`: a change means connections were
    /// established since the last look.
    pub opens: u64,
    /// `CurrEstab`: connections open (ESTABLISHED or CLOSE-WAIT) now.
    pub established: u64,
}

impl Activity {
    /// Reads the calling thread's namespace; `None` when a file is
    /// missing (then the caller dumps as it would without counters).
    pub fn read(system: &dyn System) -> Option<Activity> {
        // Read at every tick (every 10 ms while processes start): the files
        // stay open (`reread`).
        let text = |path: &str| {
            system.reread(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        let sockstat = text("/proc/thread-self/net/sockstat")?;
        let sockstat6 = text("/proc/thread-self/net/sockstat6").unwrap_or_default();
        let protocols = text("/proc/thread-self/net/protocols")?;
        let snmp = text("/proc/thread-self/net/snmp")?;
        let mut sockets = in_use(&sockstat);
        sockets.extend(in_use(&sockstat6));
        sockets.extend(unix_sockets(&protocols)?);
        let field = |name| tcp_field(&snmp, name);
        Some(Activity {
            sockets,
            opens: field("ActiveOpens")? + field("PassiveOpens")?,
            established: field("CurrEstab")?,
        })
    }

    /// Whether a listener may have come or gone since `before`: a socket
    /// count moved. `tcp_from_events`: TCP listeners are reported as they
    /// listen and close (eBPF capture), so the TCP counts — which every
    /// established or closed connection also moves — say nothing a dump
    /// is needed for; under connection churn they would otherwise ask for a
    /// dump at every tick.
    pub fn listeners_may_have_changed(&self, before: &Activity, tcp_from_events: bool) -> bool {
        // Compared in place: this runs at every tick.
        let counted = |(protocol, _): &&(String, u64)| {
            !(tcp_from_events && matches!(protocol.as_str(), "TCP" | "TCP6"))
        };
        !self.sockets.iter().filter(counted).eq(before.sockets.iter().filter(counted))
    }
}

/// `PROTO: inuse N …` lines of `sockstat`/`sockstat6` (the `sockets:
/// used` line is machine-wide and skipped).
fn in_use(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let (protocol, rest) = line.split_once(':')?;
            let mut words = rest.split_whitespace();
            (words.next()? == "inuse").then_some(())?;
            Some((protocol.to_string(), words.next()?.parse().ok()?))
        })
        .collect()
}

/// The `sockets` column of the `UNIX*` lines of `/proc/net/protocols`
/// (datagram and stream sockets are counted apart).
fn unix_sockets(text: &str) -> Option<Vec<(String, u64)>> {
    let header = text.lines().next()?;
    let column = header.split_whitespace().position(|word| word == "sockets")?;
    let counts = text
        .lines()
        .filter_map(|line| {
            let name = line.split_whitespace().next().filter(|name| name.starts_with("UNIX"))?;
            Some((name.to_string(), line.split_whitespace().nth(column)?.parse().ok()?))
        })
        .collect();
    Some(counts)
}

/// One field of the `Tcp:` header and value lines of `/proc/net/snmp`.
fn tcp_field(text: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|line| line.starts_with("Tcp:"));
    let header = lines.next()?;
    let values = lines.next()?;
    header
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;

    const SOCKSTAT: &str = "sockets: used 912\n\
        TCP: inuse 3 orphan 0 tw 2 alloc 41 mem 7\n\
        UDP: inuse 1 mem 2\n\
        UDPLITE: inuse 0\n\
        RAW: inuse 0\n\
        FRAG: inuse 0 memory 0\n";
    const SOCKSTAT6: &str = "TCP6: inuse 1\nUDP6: inuse 0\nUDPLITE6: inuse 0\n\
        RAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
    const PROTOCOLS: &str =
        "protocol  size sockets  memory press maxhdr  slab module     cl co di\n\
        PACKET    1472      0      -1   NI       0   no   kernel      n  n  n\n\
        UNIX-STREAM 1152    5      -1   NI       0   yes  kernel      n  n  n\n\
        UNIX      1024      2      -1   NI       0   yes  kernel      n  n  n\n\
        TCP       2432      3       7   no     320   yes  kernel      y  y  y\n";
    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails CurrEstab\n\
        Tcp: 1 200 120000 -1 17 16 0 2\n\
        Udp: InDatagrams NoPorts\nUdp: 4 0\n";

    fn machine(sockstat: &str, snmp: &str) -> Scripted {
        Scripted::default()
            .file("/proc/thread-self/net/sockstat", sockstat)
            .file("/proc/thread-self/net/sockstat6", SOCKSTAT6)
            .file("/proc/thread-self/net/protocols", PROTOCOLS)
            .file("/proc/thread-self/net/snmp", snmp)
    }

    #[test]
    fn reads_the_per_namespace_counters_only() {
        let activity = Activity::read(&machine(SOCKSTAT, SNMP)).expect("all files present");
        let names: Vec<&str> = activity.sockets.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "TCP",
                "UDP",
                "UDPLITE",
                "RAW",
                "FRAG",
                "TCP6",
                "UDP6",
                "UDPLITE6",
                "RAW6",
                "FRAG6",
                "UNIX-STREAM",
                "UNIX"
            ]
        );
        assert_eq!(activity.sockets[0], ("TCP".to_string(), 3));
        assert_eq!(activity.sockets[10], ("UNIX-STREAM".to_string(), 5));
        assert_eq!((activity.opens, activity.established), (33, 2));
        // Machine-wide memory and orphans move with other namespaces'
        // traffic: not a change here.
        let busy_elsewhere = SOCKSTAT.replace("mem 7", "mem 900").replace("used 912", "used 5000");
        assert_eq!(Activity::read(&machine(&busy_elsewhere, SNMP)), Some(activity.clone()));
        // A listen() hashes a socket; a connect() counts an open.
        let listened = SOCKSTAT.replace("TCP: inuse 3", "TCP: inuse 4");
        assert_ne!(Activity::read(&machine(&listened, SNMP)).unwrap().sockets, activity.sockets);
        let connected = SNMP.replace("-1 17 16", "-1 18 16");
        assert_eq!(Activity::read(&machine(SOCKSTAT, &connected)).unwrap().opens, 34);
        // Without the files (no procfs view of the namespace) nothing is
        // claimed, so the caller dumps.
        assert_eq!(Activity::read(&Scripted::default()), None);
    }

    #[test]
    fn tcp_counts_ask_for_a_dump_only_when_no_event_reports_tcp_listeners() {
        let before = Activity::read(&machine(SOCKSTAT, SNMP)).unwrap();
        // A connection opened (or a TCP listener appeared): both move `inuse`.
        let connected =
            Activity::read(&machine(&SOCKSTAT.replace("TCP: inuse 3", "TCP: inuse 5"), SNMP))
                .unwrap();
        assert!(connected.listeners_may_have_changed(&before, false));
        assert!(!connected.listeners_may_have_changed(&before, true));
        // UDP and Unix listeners have no event in either capture mode.
        let bound =
            Activity::read(&machine(&SOCKSTAT.replace("UDP: inuse 1", "UDP: inuse 2"), SNMP))
                .unwrap();
        assert!(bound.listeners_may_have_changed(&before, true));
        assert!(bound.listeners_may_have_changed(&before, false));
        assert!(!before.listeners_may_have_changed(&before, false));
    }
}
