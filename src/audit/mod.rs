//! `porthole audit`: which local services put the machine at risk.
//!
//! [`audit`] takes an inventory [`Snapshot`] and
//! 1. groups its listeners into [`Target`]s (one per port, protocol,
//!    namespace and owner set: a dual-stack service is probed once);
//! 2. probes every TCP target in parallel over loopback ([`probes`]), each
//!    bounded by the timeout, entering other network namespaces on the
//!    probing thread when `--netns all` listed them;
//! 3. checks the owners for deleted or replaced code ([`restart`]), Unix
//!    API sockets for their mode, and the firewall's input chain
//!    ([`firewall`]) of each listener's own namespace ([`namespaces`]);
//! 4. runs the rules ([`rules`], one per file), rewrites the commands in
//!    the fixes of another namespace's listeners to run there, and sorts
//!    the findings.
//!
//! [`audit_in`] audits from inside the namespace `--netns NAME|PATH`
//! names, as if porthole ran there, and rewrites every fix to run there.
//!
//! Nothing here prints: progress goes to an optional callback.

pub mod file_server_options;
pub mod firewall;
pub mod jupyter_options;
pub mod launch_options;
pub mod memcached_options;
pub mod mysql_options;
pub mod namespaces;
pub mod packages;
pub mod passwords;
pub mod postgres_hba;
pub mod postgres_options;
pub mod probes;
pub mod redis_options;
pub mod restart;
pub mod rpm;
pub mod rules;
pub mod runtimes;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::inventory::system::System;
use crate::model::{
    AuditReport, Process, Protocol, RuleId, Scope, ServiceIdentity, Snapshot, Socket,
};
use probes::{Hint, Outcome, ProbeOptions};
use restart::RestartCheck;

/// Called after each probed target: (done, total).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How to audit.
#[derive(Clone)]
pub struct AuditOptions {
    /// Bound of each connect/read/write of a probe.
    pub timeout: Duration,
    /// Allow login attempts that servers log (PostgreSQL, MySQL).
    pub active: bool,
    /// Rules not to run.
    pub skip: BTreeSet<RuleId>,
    /// Probing threads at most.
    pub parallelism: usize,
    pub progress: Option<Progress>,
    /// The site's own credentials for `weak-password` (`--passwords FILE`).
    pub site_passwords: Vec<probes::login::Credential>,
    /// Keep the password `weak-password` found in the report (`--show`).
    pub show_passwords: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            timeout: Duration::from_secs(2),
            active: false,
            skip: BTreeSet::new(),
            // Probes wait on the network, not the CPU: a silent listener
            // holds a thread for a passive read plus one --timeout, so 50 of
            // them took ~10 s with 16 threads and take one round with 64.
            parallelism: 64,
            progress: None,
            site_passwords: Vec::new(),
            show_passwords: false,
        }
    }
}

impl std::fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditOptions")
            .field("timeout", &self.timeout)
            .field("active", &self.active)
            .field("skip", &self.skip)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}

/// A Unix socket file, for the mode check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketFile {
    /// The path the owner bound (as it sees its file system).
    pub path: String,
    /// The path that reaches the same file from porthole's mount
    /// namespace: `path`, or `/proc/PID/root` + `path` when the owner has a
    /// mount namespace of its own (a container, `unshare -m`), where the
    /// same path may name another file or none.
    pub reached_at: String,
    /// `st_mode`, including the file type bits.
    pub mode: u32,
    pub uid: u32,
    /// Who besides root may connect, from the socket's mode and the
    /// search bits of the directories above it.
    pub connectors: Connectors,
}

impl UnixSocketFile {
    /// `over the Unix socket PATH (mode 0777, owner uid 999): every local
    /// user can connect`, for evidence: where the file is and who reaches it.
    pub fn described(&self) -> String {
        let elsewhere = if self.reached_at != self.path {
            format!(" (in its owner's mount namespace, reached as {})", self.reached_at)
        } else {
            String::new()
        };
        let who = match self.connectors {
            Connectors::Everyone => "every local user can connect".to_string(),
            Connectors::Group(gid) => {
                format!("root, its owner and the members of group {gid} can connect")
            }
            Connectors::Owner if self.uid == 0 => "only root can connect".into(),
            Connectors::Owner => format!("only root and its owner (uid {}) can connect", self.uid),
        };
        format!(
            "over the Unix socket {}{elsewhere} (mode {:04o}, owner uid {}): {who}",
            self.path,
            self.mode & 0o7777,
            self.uid
        )
    }

    /// The grade of a way into a database (a login without a password)
    /// through this file: every local user high, a group medium. `None`
    /// when only root and the file's owner, the server's user, who reads
    /// the data files anyway, may connect.
    pub fn database_severity(&self) -> Option<crate::model::Severity> {
        match self.connectors {
            Connectors::Everyone => Some(crate::model::Severity::High),
            Connectors::Group(_) => Some(crate::model::Severity::Medium),
            Connectors::Owner => None,
        }
    }
}

/// Who may connect to a Unix socket file: connecting takes write
/// permission on the socket and search permission on every directory
/// above it. Root may always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connectors {
    /// Every local user.
    Everyone,
    /// The members of this group (and the owner).
    Group(u32),
    /// Its owner (uid) alone.
    #[default]
    Owner,
}

impl Connectors {
    /// Reads the mode of `status` (the socket at `path`) and of each
    /// directory above it. A directory that cannot be read counts as
    /// open: the check must not hide a socket it cannot see around.
    pub fn of(
        system: &dyn System,
        path: &str,
        status: &crate::inventory::system::FileStatus,
    ) -> Self {
        let (mut others, mut group) = (status.mode & 0o002 != 0, status.mode & 0o020 != 0);
        let mut directory = path;
        while let Some((parent, _)) = directory.rsplit_once('/') {
            directory = parent;
            let Some(dir) = system.file_status(if parent.is_empty() { "/" } else { parent }) else {
                continue;
            };
            others &= dir.mode & 0o001 != 0;
            // A member of the socket's group searches a directory of
            // that group by its group bits, any other by its others bits.
            group &= dir.mode & if dir.gid == status.gid { 0o010 } else { 0o001 } != 0;
        }
        if others {
            Connectors::Everyone
        } else if group {
            Connectors::Group(status.gid)
        } else {
            Connectors::Owner
        }
    }
}

/// One service as the rules see it: the listeners of one port (protocol,
/// namespace) held by the same processes.
#[derive(Debug, Clone)]
pub struct Target {
    pub protocol: Protocol,
    /// 0 for Unix sockets.
    pub port: u16,
    /// The most exposed bound address (or the Unix path).
    pub address: String,
    pub scope: Scope,
    /// The address families other devices reach the exposed binds over
    /// (all binds when none is exposed): the firewall chains that matter.
    pub reach: firewall::Reach,
    pub net_namespace: Option<u64>,
    /// Where to connect for probing (TCP only; loopback for wildcards).
    pub connect: Option<SocketAddr>,
    /// The loopback address of the other family that reaches the same
    /// sockets, when one does (`[::1]:5432` beside `127.0.0.1:5432`):
    /// servers that decide by client address (pg_hba.conf) may treat the
    /// two differently.
    pub other_loopback: Option<SocketAddr>,
    pub owners: Vec<Process>,
    /// The socket's uid as the kernel records it (visible without root).
    pub socket_uid: u32,
    /// The backlog of a TCP listener as the kernel's socket dump gives it
    /// (`None` for other sockets, or when only `/proc/net` could be read,
    /// which prints 0 for it).
    pub backlog: Option<u32>,
    pub unix: Option<UnixSocketFile>,
    /// The debugger options in the environment of each owner that is a
    /// JVM or a Node.js (see [`launch_options`]): an option given there is
    /// on no command line.
    pub environment: BTreeMap<u32, launch_options::OwnerEnvironment>,
}

/// Audits the listeners of `snapshot`.
pub fn audit(system: &dyn System, snapshot: &Snapshot, options: &AuditOptions) -> AuditReport {
    let started = Instant::now();
    let current_namespace = Some(system.net_namespace()).filter(|&inode| inode != 0);
    let targets = targets(system, snapshot);
    let listeners =
        snapshot.sockets.iter().filter(|s| s.is_listener() && s.protocol != Protocol::Unix).count();
    let hidden_owners = snapshot
        .sockets
        .iter()
        .filter(|s| {
            s.is_listener() && s.protocol != Protocol::Unix && s.inode != 0 && s.owners.is_empty()
        })
        .count();
    let handles = namespace_handles(snapshot);
    let mut outcomes = probe_all(&targets, &handles, options);
    let logins = if options.active && !options.skip.contains(&RuleId::WeakPassword) {
        let password_options = passwords::PasswordOptions {
            site: options.site_passwords.clone(),
            show: options.show_passwords,
            timeout: options.timeout,
            spacing: probes::login::SPACING,
        };
        passwords::check_all(
            system,
            &targets,
            &mut outcomes,
            &handles,
            current_namespace,
            &password_options,
        )
    } else {
        Vec::new()
    };
    // Reading pg_hba.conf sends the server nothing: it is part of the
    // passive audit, and the logins of `--active` add what the server says
    // (the file's lines, quotes included, decide whether a second login
    // is needed).
    let reads_hba = [RuleId::TrustAuth, RuleId::CleartextPassword];
    let mut unread = if !reads_hba.iter().all(|rule| options.skip.contains(rule)) {
        hba_on_disk(system, &targets, &mut outcomes, (&handles, current_namespace))
    } else {
        Vec::new()
    };
    if options.active {
        trust_from_the_network(
            system,
            &targets,
            &mut outcomes,
            (&handles, current_namespace),
            options,
        );
    }
    for (target, outcome) in targets.iter().zip(outcomes.iter_mut()) {
        // An exposed MySQL/MariaDB or PostgreSQL: what set its address.
        let Some(outcome) = outcome else { continue };
        // A MySQL/MariaDB that greeted this machine with an error: what
        // was not seen, and for a blocked address the command that unblocks
        // it (over the Unix socket: TCP from this address is refused).
        if let Some((code, message)) = &outcome.mysql_refusal {
            let endpoint = target.connect.map_or(target.address.clone(), |a| a.to_string());
            let what = format!(
                "the version and login checks of the MySQL/MariaDB on {endpoint}: it refused this machine's address before its greeting (ERR {code} {message})"
            );
            unread.push(if *code == 1129 {
                let owner = target.owners.first().map(|o| (o.pid, o.name.as_str(), &o.cmdline[..]));
                let command = mysql_options::flush_hosts_command(system, owner);
                format!("{what}; unblock it with `{command}` (as root, whom the socket lets in; add -p if root has a password), then audit again")
            } else {
                what
            });
        }
        let Some(owner) = target.owners.first() else { continue };
        // A Redis without a password whose file defines the default user:
        // the line that overrides a `requirepass`.
        let open =
            outcome.observations.iter().any(|o| matches!(o, probes::Observation::NoAuth { .. }));
        if let (true, Some(probes::Settings::File(config))) = (open, &outcome.settings) {
            outcome.redis_default_user = redis_options::default_user(system, owner.pid, config);
        }
        // An ACL user that got in with a weak password: where it is kept.
        let weak_user = outcome.observations.iter().find_map(|o| match o {
            probes::Observation::WeakPassword { user, config_command: Some(_), .. }
                if user != "default" =>
            {
                Some(user.clone())
            }
            _ => None,
        });
        if let (Some(user), Some(probes::Settings::File(config))) = (weak_user, &outcome.settings) {
            outcome.redis_user_source =
                redis_options::user_source(system, owner.pid, config, &user).map(|source| {
                    match source {
                        redis_options::UserSource::AclFile(file) => {
                            redis_options::UserSource::AclFile(reached_path(
                                system, owner.pid, &file,
                            ))
                        }
                        redis_options::UserSource::Line(mut line) => {
                            line.file = reached_path(system, owner.pid, &line.file);
                            redis_options::UserSource::Line(line)
                        }
                    }
                });
        }
        // The files a Redis names are its own: in a mount namespace of its
        // own the same path may be another file here (the system Redis's),
        // so fixes name the path that reaches the server's.
        if let Some(probes::Settings::File(config)) = &mut outcome.settings {
            *config = reached_path(system, owner.pid, config);
        }
        if let Some(found) = &mut outcome.redis_default_user {
            found.file = reached_path(system, owner.pid, &found.file);
        }
        // Jupyter: where it runs, for a fix that starts it again.
        if outcome.service.as_deref() == Some("jupyter") {
            outcome.owner_directory = system.read_link(&format!("/proc/{}/cwd", owner.pid));
            if let Some(environment) =
                system.read_regular(&format!("/proc/{}/environ", owner.pid), 1 << 20)
            {
                outcome.jupyter_token_line = jupyter_options::token_line(system, &environment);
            }
        }
        // A file server: the directory it hands out, and nginx's
        // `autoindex on;` lines for a fix that names them.
        if outcome.observations.iter().any(|o| matches!(o, probes::Observation::FileServer(_))) {
            outcome.served_directory =
                target.owners.iter().find_map(|owner| file_server_options::served(system, owner));
            let root = rustix::process::geteuid().is_root();
            let (autoindex, root_directory) =
                file_server_options::nginx(system, &target.owners, target.port, root);
            outcome.autoindex_lines = autoindex;
            if outcome.served_directory.is_none() {
                outcome.served_directory = root_directory;
            }
        }
        // An nginx that answers any Host: the lines that make one of its
        // servers on the port the default, which the fix's catch-all takes
        // over.
        if outcome.observations.iter().any(|o| matches!(o, probes::Observation::Rebindable { .. }))
        {
            let root = rustix::process::geteuid().is_root();
            outcome.nginx_default_listens =
                file_server_options::nginx_servers_on(system, &target.owners, target.port, root)
                    .map(|servers| {
                        servers
                            .into_iter()
                            .flat_map(|server| server.default_listens)
                            .filter(|(port, _, _)| *port == target.port)
                            .map(|(_, file, line)| (file, line))
                            .collect()
                    });
        }
        // memcached: whether its options are Debian's file or typed.
        if let Some(memcached) = target.owners.iter().find(|p| p.name == "memcached") {
            outcome.memcached_config =
                memcached_options::config_file(system, memcached.pid, &memcached.cmdline);
            // Relative to a working directory `-d` left: only absolute
            // paths are named.
            outcome.memcached_auth_file = memcached_options::auth_file(&memcached.cmdline)
                .filter(|file| file.starts_with('/'))
                .map(|file| reached_path(system, memcached.pid, &file));
            if outcome.memcached_sasl.is_some() {
                outcome.memcached_sasldb = memcached_options::sasl_database(system, memcached.pid);
            }
        }
        // A server with `skip-grant-tables` from its option files: the
        // lines to delete (a `[mysqld]` line in an included file is as
        // common as the command-line switch).
        let skipping = outcome.observations.iter().any(|o| {
            matches!(o, probes::Observation::EmptyPassword { account: Some(account), .. }
                if probes::mysql::skip_grant_tables(account))
        });
        if skipping {
            outcome.skip_grant_tables =
                mysql_options::skip_grant_tables_lines(system, owner.pid, &owner.cmdline).map(
                    |lines| {
                        lines
                            .into_iter()
                            .map(|mut line| {
                                line.file = reached_path(system, owner.pid, &line.file);
                                line
                            })
                            .collect()
                    },
                );
        }
        if !target.scope.is_exposed() {
            continue;
        }
        outcome.bind_option = match outcome.service.as_deref() {
            Some("mysql" | "mariadb") => {
                mysql_options::bind_address(system, owner.pid, &owner.cmdline)
            }
            Some("postgresql") => {
                postgres_options::listen_addresses(system, owner.pid, &owner.cmdline)
            }
            _ => None,
        };
    }
    let host_firewall = firewall::HostFirewall::read(system);
    let foreign_firewalls =
        namespaces::read_firewalls(system, &targets, &handles, current_namespace);

    let mut checks: BTreeMap<u32, RestartCheck> = BTreeMap::new();
    for target in &targets {
        for owner in &target.owners {
            checks.entry(owner.pid).or_insert_with(|| restart::check(system, owner.pid));
        }
    }
    let package_check = if options.skip.contains(&RuleId::OutdatedPackage) {
        packages::PackageCheck::default()
    } else {
        packages::check(system, &targets)
    };
    let uninspected_processes =
        checks.values().filter(|c| c.exe.is_none() || !c.maps_readable).count();

    let mut findings = Vec::new();
    let mut services = Vec::new();
    for (index, (target, outcome)) in targets.iter().zip(&outcomes).enumerate() {
        // Per listener: the chain of its address family, and a rule for its
        // protocol and port that may override the policy.
        let foreign = target.net_namespace.filter(|&ns| Some(ns) != current_namespace);
        let judge = |protocol: Protocol, port: u16| match foreign
            .map(|ns| (ns, foreign_firewalls.get(&ns)))
        {
            None => host_firewall.judge_reach(target.reach, protocol, port),
            // A Unix socket has no firewall (nor any entry here).
            Some((_, None)) => (firewall::Verdict::Unknown, String::new()),
            Some((ns, Some(Ok(theirs)))) => {
                let (verdict, text) = theirs.judge_reach(target.reach, protocol, port);
                (verdict, format!("{text} (network namespace {})", namespace_label(snapshot, ns)))
            }
            Some((ns, Some(Err(why)))) => (
                firewall::Verdict::Unknown,
                format!(
                    "the firewall of network namespace {} is not readable: {why}",
                    namespace_label(snapshot, ns)
                ),
            ),
        };
        let (verdict, firewall_text) = judge(target.protocol, target.port);
        let context = rules::Context {
            target,
            outcome: outcome.as_ref(),
            restart: target
                .owners
                .iter()
                .filter_map(|p| checks.get(&p.pid).map(|c| (p.pid, c)))
                .collect(),
            firewall: verdict,
            firewall_text: &firewall_text,
            memcached_udp: rules::UdpFirewall::of(target, judge),
            packages: package_check.targets.get(index).filter(|_| package_check.ran),
            package_lists_age: package_check.lists.age,
            dnf_cache_age: package_check.dnf_cache.as_ref().and_then(|cache| cache.age),
            caller_uid: rustix::process::geteuid().as_raw(),
        };
        let mut found = rules::evaluate(&context, &options.skip);
        if let Some(ns) = foreign {
            // The fix is read in the caller's namespace: its commands must
            // say how to get into the listener's.
            let namespace = snapshot.namespaces.iter().find(|n| n.inode == ns);
            let owners: Vec<u32> = target.owners.iter().map(|p| p.pid).collect();
            if let Some(handle) = namespace.and_then(|n| namespaces::handle_for(n, &owners)) {
                let prefix = crate::inventory::namespaces::exec_prefix(&handle);
                for finding in &mut found {
                    let server = finding.process.as_deref();
                    finding.fix = namespaces::fix_inside(&prefix, &finding.fix, server);
                }
            }
        }
        findings.extend(found);
        if let Some(outcome) = outcome {
            services.push(ServiceIdentity {
                port: target.port,
                address: target.address.clone(),
                protocol: target.protocol,
                net_namespace: target.net_namespace,
                service: outcome.service.clone(),
                version: outcome.version.clone(),
                tls: outcome.tls,
                probes: outcome.probes.clone(),
                note: outcome.note.clone(),
                pids: target.owners.iter().map(|p| p.pid).collect(),
            });
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.port.cmp(&b.port))
            .then(a.rule.cmp(&b.rule))
            .then(a.address.cmp(&b.address))
    });
    AuditReport {
        findings,
        services,
        listeners,
        probed: outcomes.iter().filter(|o| o.is_some()).count(),
        firewall: host_firewall.summary(
            targets
                .iter()
                .filter(|t| t.protocol != Protocol::Unix)
                .filter(|t| t.net_namespace.filter(|&ns| Some(ns) != current_namespace).is_none())
                .fold(firewall::Reach::default(), |reach, t| reach.union(t.reach)),
        ),
        uninspected_processes,
        hidden_owners,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        logins,
        packages: package_summary(&package_check),
        unread,
    }
}

/// Audits from inside the namespace `--netns NAME|PATH` named: probes,
/// the firewall and the addresses of a second login are that namespace's,
/// and every command in a fix runs there (`ip netns exec NAME …`), since
/// the user reads it in their own.
pub fn audit_in(
    system: &dyn System,
    snapshot: &Snapshot,
    options: &AuditOptions,
    namespace: &crate::inventory::NamespaceHandle,
) -> Result<AuditReport, crate::inventory::namespaces::EnterError> {
    let mut report =
        crate::inventory::namespaces::within(namespace, || audit(system, snapshot, options))?;
    if !crate::inventory::namespaces::still_there(namespace) {
        let path = namespace.path.clone();
        return Err(crate::inventory::namespaces::EnterError::Gone { path });
    }
    let prefix = crate::inventory::namespaces::exec_prefix(namespace);
    for finding in &mut report.findings {
        let server = finding.process.as_deref();
        finding.fix = namespaces::fix_inside(&prefix, &finding.fix, server);
    }
    Ok(report)
}

/// How evidence names namespace `inode`: its `ip netns` name, else its
/// inode (both as `ls --netns all` shows them).
fn namespace_label(snapshot: &Snapshot, inode: u64) -> String {
    match snapshot.namespaces.iter().find(|n| n.inode == inode).and_then(|n| n.name.as_deref()) {
        Some(name) => format!("'{name}'"),
        None => inode.to_string(),
    }
}

/// What the report says about the package lists.
fn package_summary(check: &packages::PackageCheck) -> crate::model::PackageListsSummary {
    let note = if !check.ran {
        check.note.clone()
    } else {
        let apt = match check.lists.age {
            _ if !check.apt_ran => None,
            None => Some("no package lists: run `apt-get update` to compare versions".into()),
            Some(age) if age > packages::STALE_AFTER => Some(format!(
                "package lists are {} old: run `apt-get update` for current versions",
                packages::describe_age(age)
            )),
            Some(_) => None,
        };
        let dnf = match check.dnf_cache.as_ref().map(|cache| cache.age) {
            None => None,
            Some(None) => {
                Some("no dnf metadata cache: run `dnf makecache` to compare rpm versions".into())
            }
            Some(Some(age)) if age > packages::STALE_AFTER => Some(format!(
                "dnf metadata cache is {} old: run `dnf makecache` for current versions",
                packages::describe_age(age)
            )),
            Some(Some(_)) => None,
        };
        let notes: Vec<String> = apt.into_iter().chain(dnf).collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    };
    let dnf_cache = check.dnf_cache.as_ref();
    crate::model::PackageListsSummary {
        checked: check.ran,
        directory: check.lists.directory.as_ref().map(|d| d.display().to_string()),
        age_seconds: check.lists.age.map(|a| a.as_secs()),
        dnf_cache_directory: dnf_cache
            .and_then(|cache| cache.directory.as_ref())
            .map(|d| d.display().to_string()),
        dnf_cache_age_seconds: dnf_cache.and_then(|cache| cache.age).map(|a| a.as_secs()),
        note,
    }
}

/// Protocol, namespace, port, owner pids, Unix path.
type GroupKey = (Protocol, Option<u64>, u16, Vec<u32>, String);

/// Groups listeners: same protocol, namespace, port and owners → one target.
pub fn targets(system: &dyn System, snapshot: &Snapshot) -> Vec<Target> {
    let mut groups: BTreeMap<GroupKey, Vec<&Socket>> = BTreeMap::new();
    for socket in snapshot.sockets.iter().filter(|s| s.is_listener()) {
        let path_key = if socket.protocol == Protocol::Unix {
            match &socket.path {
                // The sockets of root-equivalent APIs (for their mode) and
                // of services the probes can ask.
                Some(path) if rules_socket_candidate(path) => path.clone(),
                Some(path) if probed_unix_socket(snapshot, socket) => path.clone(),
                _ => continue,
            }
        } else {
            String::new()
        };
        groups
            .entry((
                socket.protocol,
                socket.net_namespace,
                socket.local_port(),
                socket.owners.clone(),
                path_key,
            ))
            .or_default()
            .push(socket);
    }
    groups
        .into_values()
        .filter_map(|sockets| {
            let first = *sockets.first()?;
            let owners: Vec<Process> = first
                .owners
                .iter()
                .filter_map(|pid| snapshot.processes.get(pid).cloned())
                .collect();
            if first.protocol == Protocol::Unix {
                let path = first.path.clone()?;
                let (metadata, reached_at) =
                    unix_socket_file(system, &path, owners.first().map(|p| p.pid))?;
                return Some(Target {
                    protocol: Protocol::Unix,
                    port: 0,
                    address: path.clone(),
                    scope: Scope::Local,
                    reach: firewall::Reach::default(),
                    net_namespace: first.net_namespace,
                    connect: None,
                    other_loopback: None,
                    owners,
                    socket_uid: metadata.uid,
                    backlog: None,
                    environment: BTreeMap::new(),
                    unix: Some(UnixSocketFile {
                        connectors: Connectors::of(system, &reached_at, &metadata),
                        path,
                        reached_at,
                        mode: metadata.mode,
                        uid: metadata.uid,
                    }),
                });
            }
            // The most exposed bind is what matters for exposure.
            let shown = sockets
                .iter()
                .max_by_key(|s| match s.scope() {
                    Scope::Wildcard => 2,
                    Scope::Specific => 1,
                    _ => 0,
                })
                .copied()
                .unwrap_or(first);
            let connect =
                if first.protocol == Protocol::Tcp { connect_address(&sockets) } else { None };
            let environment = owner_environment(system, &owners);
            let other_loopback = connect.and_then(|probed| other_loopback(&sockets, probed));
            // `0.0.0.0` plus an `IPV6_V6ONLY` `[::]` is reached over both
            // families; a lone `IPV6_V6ONLY` `[::]` over IPv6 only.
            let exposed = sockets.iter().any(|s| s.scope().is_exposed());
            let reach = sockets
                .iter()
                .filter(|s| !exposed || s.scope().is_exposed())
                .map(|s| firewall::Reach::of_socket(s))
                .fold(firewall::Reach::default(), firewall::Reach::union);
            Some(Target {
                protocol: first.protocol,
                port: first.local_port(),
                address: shown.local.map(|l| l.ip().to_string()).unwrap_or_default(),
                scope: shown.scope(),
                reach,
                net_namespace: first.net_namespace,
                connect,
                other_loopback,
                owners,
                socket_uid: first.uid,
                backlog: (first.protocol == Protocol::Tcp && first.tx_queue > 0)
                    .then_some(first.tx_queue),
                unix: None,
                environment,
            })
        })
        .collect()
}

/// The path that reaches `path`, as process `pid` names it, from here:
/// `path` itself when the process shares porthole's mount namespace or
/// sees the same file there (`ip netns exec` gives its command a mount
/// namespace of its own with the same files), else `/proc/PID/root` and
/// the path, which goes through the process's own mounts.
pub(crate) fn reached_path(system: &dyn System, pid: u32, path: &str) -> String {
    let identity = |file: &str| system.file_status(file).map(|s| (s.device, s.inode));
    if shares_namespace(system, pid, "mnt") != Some(false) || !path.starts_with('/') {
        return path.to_string();
    }
    let through = format!("/proc/{pid}/root{path}");
    match identity(&through) {
        Some(file) if identity(path) != Some(file) => through,
        _ => path.to_string(),
    }
}

/// Whether process `pid` is in porthole's own namespace of `kind` (`mnt`,
/// `uts`, … as named under `/proc/PID/ns/`), compared by the identity of
/// the namespace files; `None` when its file cannot be read (another
/// user's process without root, or gone).
pub(crate) fn shares_namespace(system: &dyn System, pid: u32, kind: &str) -> Option<bool> {
    let identity = |file: &str| system.file_status(file).map(|s| (s.device, s.inode));
    let theirs = identity(&format!("/proc/{pid}/ns/{kind}"))?;
    Some(identity(&format!("/proc/self/ns/{kind}")) == Some(theirs))
}

/// The status of the Unix socket file `path` bound by `owner`, and the
/// path it was read through (see [`UnixSocketFile::reached_at`]).
fn unix_socket_file(
    system: &dyn System,
    path: &str,
    owner: Option<u32>,
) -> Option<(crate::inventory::system::FileStatus, String)> {
    if let Some(pid) = owner {
        if shares_namespace(system, pid, "mnt") == Some(false) {
            let through = format!("/proc/{pid}/root{path}");
            let status = system.file_status(&through)?;
            // `ip netns exec` gives its command a mount namespace of its
            // own too, yet the same files: the plain path reads better.
            let same = |here: &crate::inventory::system::FileStatus| {
                (here.device, here.inode) == (status.device, status.inode)
            };
            if system.file_status(path).as_ref().is_some_and(same) {
                return Some((status, path.to_string()));
            }
            return Some((status, through));
        }
    }
    system.file_status(path).map(|status| (status, path.to_string()))
}

fn rules_socket_candidate(path: &str) -> bool {
    rules::is_api_socket(path)
}

/// A listening Unix socket of a service whose probe works over it (a
/// Redis with `unixsocket`, a memcached with `-s`).
fn probed_unix_socket(snapshot: &Snapshot, socket: &Socket) -> bool {
    let names = socket
        .owners
        .iter()
        .filter_map(|pid| snapshot.processes.get(pid))
        .map(|p| p.name.to_ascii_lowercase())
        .collect();
    probes::probes_unix(&Hint { names, ..Hint::default() })
}

/// A loopback address reaching one of the sockets; IPv4 first.
fn connect_address(sockets: &[&Socket]) -> Option<SocketAddr> {
    let mut candidates: Vec<SocketAddr> = sockets
        .iter()
        .filter_map(|s| s.local.map(|local| (local, s.interface)))
        .filter_map(|(local, interface)| {
            let ip = match local.ip() {
                IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                // A link-local address is reached through the interface
                // the socket is bound to, which the dump names; without
                // one (the `/proc/net` fallback) it cannot be reached.
                IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                    return (interface != 0).then(|| {
                        SocketAddr::V6(SocketAddrV6::new(v6, local.port(), 0, interface))
                    });
                }
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                other => other,
            };
            Some(SocketAddr::new(ip, local.port()))
        })
        .collect();
    candidates.sort_by_key(|address| (!address.is_ipv4(), !address.ip().is_loopback()));
    candidates.into_iter().next()
}

/// The loopback address of the family `probed` is not, when one of
/// `sockets` takes it: a loopback or wildcard bind of that family, or a
/// dual-stack `[::]` (which takes IPv4 clients too).
fn other_loopback(sockets: &[&Socket], probed: SocketAddr) -> Option<SocketAddr> {
    let port = probed.port();
    let takes = |ip: IpAddr| {
        sockets.iter().filter_map(|s| s.local.map(|local| (local.ip(), s.v6only))).any(
            |(bound, v6only)| match (bound, ip) {
                (IpAddr::V4(bound), IpAddr::V4(_)) => bound.is_loopback() || bound.is_unspecified(),
                (IpAddr::V6(bound), IpAddr::V6(_)) => bound.is_loopback() || bound.is_unspecified(),
                (IpAddr::V6(bound), IpAddr::V4(_)) => {
                    bound.is_unspecified() && v6only != Some(true)
                }
                _ => false,
            },
        )
    };
    let other = match probed.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => return None,
    };
    takes(other).then_some(SocketAddr::new(other, port))
}

/// For a PostgreSQL on a wildcard address: logs in again from a
/// non-loopback address of this machine, as another device's client would
/// arrive, since pg_hba.conf decides by the client's address.
/// - When the loopback login was trusted (`host all all 127.0.0.1/32
///   trust` is common in development images and trusts no other device)
///   and this one is asked for a password or refused, the trust is marked
///   loopback-only.
/// - When the loopback login was asked for a password and this one is
///   trusted (`host all all samenet trust`, or `0.0.0.0/0`, after
///   `scram-sha-256` lines for loopback), the trust other devices meet is
///   reported from there.
fn trust_from_the_network(
    system: &dyn System,
    targets: &[Target],
    outcomes: &mut [Option<Outcome>],
    (handles, current_namespace): (&BTreeMap<u64, String>, Option<u64>),
    options: &AuditOptions,
) {
    let mut interfaces = None;
    for (target, outcome) in targets.iter().zip(outcomes.iter_mut()) {
        let Some(outcome) = outcome else { continue };
        // When the server's pg_hba.conf lines could be read (from the
        // file, else from the server's view), they decide (a login from
        // this machine's own address meets `samehost` lines that no other
        // device does).
        let file = outcome.hba_on_disk.as_ref().and_then(postgres_hba::HbaOnDisk::rules);
        let trusted = outcome.observations.iter().any(|o| {
            matches!(o, probes::Observation::TrustAuth { loopback_only: None, hba, .. }
                if postgres_hba::deciding(hba.as_ref(), file).is_none())
        });
        let asked_over_loopback = outcome.service.as_deref() == Some("postgresql")
            && !outcome
                .observations
                .iter()
                .any(|o| matches!(o, probes::Observation::TrustAuth { .. }))
            && outcome
                .observations
                .iter()
                .find_map(|o| match o {
                    probes::Observation::AuthRequired { evidence } => Some(evidence.clone()),
                    _ => None,
                })
                .is_some();
        if !(trusted || asked_over_loopback) || target.scope != Scope::Wildcard {
            continue;
        }
        // The login from an address of the listener's own namespace.
        let login = |interfaces: &[crate::diagnose::interfaces::Interface]| {
            let ip = network_address(interfaces, target.reach)?;
            let deadline = probes::conn::Deadline::new(options.timeout, options.timeout * 4);
            let mut again = Outcome::default();
            probes::postgres::probe(SocketAddr::new(ip, target.port), &deadline, true, &mut again);
            Some((ip, again))
        };
        let foreign = target.net_namespace.filter(|&ns| Some(ns) != current_namespace);
        let tried = match foreign {
            None => login(interfaces.get_or_insert_with(|| {
                crate::diagnose::interfaces::read(system).unwrap_or_default()
            })),
            // Another namespace's addresses are used from a thread that
            // entered it (setns() changes that thread only, and `ip`, run
            // from it, lists that namespace's interfaces).
            Some(ns) => handles.get(&ns).and_then(|handle| {
                std::thread::scope(|scope| {
                    scope
                        .spawn(|| {
                            crate::sys::netns::enter(handle).ok()?;
                            login(&crate::diagnose::interfaces::read(system).unwrap_or_default())
                        })
                        .join()
                        .ok()
                        .flatten()
                })
            }),
        };
        let Some((ip, again)) = tried else { continue };
        if asked_over_loopback {
            trusted_from_the_network(outcome, again, ip);
            continue;
        }
        let asked = again.observations.iter().find_map(|o| match o {
            probes::Observation::AuthRequired { evidence } => Some(evidence.clone()),
            _ => None,
        });
        let answer = match (asked, &again.note) {
            (Some(evidence), _) => evidence,
            (None, Some(note)) if note.starts_with("login refused") => note.clone(),
            // Trusted from there too, or no answer: the finding stands.
            _ => continue,
        };
        for observation in &mut outcome.observations {
            if let probes::Observation::TrustAuth { loopback_only, .. } = observation {
                *loopback_only = Some(format!(
                    "from {ip}, an address of this machine that is not loopback: {answer}, so pg_hba.conf trusts loopback clients only"
                ));
            }
        }
        outcome.probes.push(format!("postgresql StartupMessage from {ip} (active)"));
    }
}

/// Reads the pg_hba.conf of every PostgreSQL from disk, with the addresses
/// of its listener's network namespace, into its outcome; the lines the
/// server reads decide who it trusts, including networks that hold none of
/// this machine's addresses, where no login from here arrives. Returns one
/// line per file that could not be read (or found).
fn hba_on_disk(
    system: &dyn System,
    targets: &[Target],
    outcomes: &mut [Option<Outcome>],
    (handles, current_namespace): (&BTreeMap<u64, String>, Option<u64>),
) -> Vec<String> {
    let mut unread = Vec::new();
    let mut addresses: BTreeMap<Option<u64>, Vec<(IpAddr, u8)>> = BTreeMap::new();
    for (target, outcome) in targets.iter().zip(outcomes.iter_mut()) {
        let Some(outcome) = outcome else { continue };
        if outcome.service.as_deref() != Some("postgresql") {
            continue;
        }
        // A socket file is named by its path (printed sanitised).
        let place = match &target.unix {
            Some(file) => format!("socket {}", file.path),
            None => format!("port {}", target.port),
        };
        let Some(postmaster) = target.owners.iter().find(|p| p.name.starts_with("postgres")) else {
            unread.push(format!(
                "the pg_hba.conf of the PostgreSQL on {place} (its process is not visible{})",
                if rustix::process::geteuid().is_root() { "" } else { "; run as root to see it" }
            ));
            continue;
        };
        let environment =
            system.read_regular(&format!("/proc/{}/environ", postmaster.pid), 1 << 20);
        let data = environment.as_deref().and_then(|bytes| {
            bytes.split(|&b| b == 0).find_map(|entry| {
                entry.strip_prefix(b"PGDATA=").map(|v| String::from_utf8_lossy(v).into_owned())
            })
        });
        let Some(location) = postgres_options::hba_file(
            system,
            postmaster.pid,
            &postmaster.cmdline,
            data.as_deref(),
        ) else {
            unread.push(format!(
                "the pg_hba.conf of the PostgreSQL on {place} (pid {}: neither its command line nor its environment names its data directory)",
                postmaster.pid
            ));
            continue;
        };
        let file = postgres_hba::read(system, &location);
        let ssl = postgres_options::server_setting(
            system,
            postmaster.pid,
            &postmaster.cmdline,
            data.as_deref(),
            "ssl",
        );
        outcome.postgres_config = postgres_options::config_file(
            system,
            postmaster.pid,
            &postmaster.cmdline,
            data.as_deref(),
        );
        // Unset is PostgreSQL's default, off; unread files say nothing.
        if matches!(file, postgres_hba::HbaFile::Read(_)) {
            outcome.postgres_ssl = Some(ssl.is_some_and(|value| postgres_options::is_on(&value)));
        }
        if let postgres_hba::HbaFile::Unreadable { path } = &file {
            // Not root: the data directory is the server user's alone.
            let hint =
                if rustix::process::geteuid().is_root() { "" } else { "; run as root to read it" };
            unread.push(format!(
                "the pg_hba.conf of the PostgreSQL on {place} ({} could not be read){hint}",
                path
            ));
        }
        let foreign = target.net_namespace.filter(|&ns| Some(ns) != current_namespace);
        let local = addresses
            .entry(foreign)
            .or_insert_with(|| namespace_addresses(system, foreign.and_then(|ns| handles.get(&ns))))
            .clone();
        outcome.hba_on_disk = Some(postgres_hba::HbaOnDisk { file, local_addresses: local });
    }
    unread
}

/// Every address of this network namespace, or of the one `handle`
/// enters (from a thread that entered it: `ip`, run from there, lists its
/// interfaces).
fn namespace_addresses(system: &dyn System, handle: Option<&String>) -> Vec<(IpAddr, u8)> {
    let read = || {
        crate::diagnose::interfaces::read(system)
            .unwrap_or_default()
            .into_iter()
            .filter(|interface| interface.up)
            .flat_map(|interface| interface.addresses)
            .collect::<Vec<_>>()
    };
    let Some(handle) = handle else { return read() };
    std::thread::scope(|scope| {
        scope
            .spawn(|| crate::sys::netns::enter(handle).ok().map(|()| read()))
            .join()
            .ok()
            .flatten()
            .unwrap_or_default()
    })
}

/// The login from `ip`, an address of this machine that is not loopback,
/// of a PostgreSQL that asked the loopback login for a password: when it
/// was trusted, the trust other devices meet is the finding.
fn trusted_from_the_network(outcome: &mut Outcome, again: Outcome, ip: IpAddr) {
    let asked = outcome.observations.iter().find_map(|o| match o {
        probes::Observation::AuthRequired { evidence } => Some(evidence.clone()),
        _ => None,
    });
    outcome.probes.push(format!("postgresql StartupMessage from {ip} (active)"));
    for observation in again.observations {
        if let probes::Observation::TrustAuth { evidence, hba, address, .. } = observation {
            outcome.observations.push(probes::Observation::TrustAuth {
                evidence: format!(
                    "from {ip}, an address of this machine that is not loopback: {evidence}, while over loopback: {}",
                    asked.as_deref().unwrap_or("a password was asked")
                ),
                loopback_only: None,
                hba,
                address,
            });
        }
    }
}

/// A non-loopback, non-link-local address of an up interface that the
/// listener's families reach, IPv4 first.
fn network_address(
    interfaces: &[crate::diagnose::interfaces::Interface],
    reach: firewall::Reach,
) -> Option<IpAddr> {
    let mut candidates: Vec<IpAddr> = interfaces
        .iter()
        .filter(|interface| interface.up)
        .flat_map(|interface| interface.addresses.iter().map(|(ip, _)| *ip))
        .filter(|ip| match ip {
            IpAddr::V4(v4) => reach.v4 && !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => reach.v6 && !v6.is_loopback() && v6.segments()[0] & 0xffc0 != 0xfe80,
        })
        .collect();
    candidates.sort_by_key(|ip| !ip.is_ipv4());
    candidates.into_iter().next()
}

/// Namespace inode → a path to enter it (`/run/netns/NAME`, `/proc/PID/ns/net`).
fn namespace_handles(snapshot: &Snapshot) -> BTreeMap<u64, String> {
    snapshot
        .namespaces
        .iter()
        .filter(|ns| !ns.is_current)
        .filter_map(|ns| {
            let handle = match (&ns.name, ns.example_pid) {
                (_, Some(pid)) => format!("/proc/{pid}/ns/net"),
                (Some(name), None) => format!("/run/netns/{name}"),
                (None, None) => return None,
            };
            Some((ns.inode, handle))
        })
        .collect()
}

/// Probes every TCP target on a pool of threads; `None` for targets that
/// are not probed.
fn probe_all(
    targets: &[Target],
    handles: &BTreeMap<u64, String>,
    options: &AuditOptions,
) -> Vec<Option<Outcome>> {
    let jobs: Vec<usize> = (0..targets.len())
        .filter(|&i| targets[i].connect.is_some() || unix_probed(&targets[i]))
        .collect();
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; targets.len()]);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let probe_options = ProbeOptions { timeout: options.timeout, active: options.active };
    let workers = options.parallelism.clamp(1, 64).min(jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = jobs.get(slot) else { break };
                let target = &targets[index];
                let outcome = probe_target(target, handles, probe_options);
                if let Ok(mut results) = results.lock() {
                    results[index] = Some(outcome);
                }
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(progress) = &options.progress {
                    progress(finished, jobs.len());
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The debugger options in the environment of each owner that is a JVM or
/// a Node.js.
pub fn owner_environment(
    system: &dyn System,
    owners: &[Process],
) -> BTreeMap<u32, launch_options::OwnerEnvironment> {
    owners
        .iter()
        .filter_map(|owner| {
            let runtime = launch_options::Runtime::of(owner)?;
            Some((owner.pid, launch_options::read(system, runtime, owner.pid)))
        })
        .collect()
}

/// A Unix socket target whose owner's service the probes can ask.
fn unix_probed(target: &Target) -> bool {
    target.unix.is_some() && probes::probes_unix(&hint_of(target))
}

/// What the probe of `target` may know about its owners.
pub fn hint_of(target: &Target) -> Hint {
    Hint {
        names: target.owners.iter().map(|p| p.name.to_ascii_lowercase()).collect(),
        cmdlines: target.owners.iter().map(Process::command_line).collect(),
        environment_options: target
            .environment
            .values()
            .filter_map(|environment| match environment {
                launch_options::OwnerEnvironment::Read(options) => Some(options),
                launch_options::OwnerEnvironment::Unreadable => None,
            })
            .flatten()
            .filter(|found| launch_options::is_jdwp_option(&found.option))
            .map(|found| found.option.clone())
            .collect(),
        backlog: target.backlog,
    }
}

fn probe_target(
    target: &Target,
    handles: &BTreeMap<u64, String>,
    options: ProbeOptions,
) -> Outcome {
    // A socket file is reached by its path, in any network namespace.
    if let Some(file) = target.unix.as_ref().filter(|_| unix_probed(target)) {
        return probes::probe_unix(&file.reached_at, &hint_of(target), options);
    }
    let Some(address) = target.connect else { return Outcome::default() };
    let hint = hint_of(target);
    let probe = || {
        let mut outcome = probes::probe(address, &hint, options);
        trust_over_the_other_loopback(target, options, &mut outcome);
        outcome
    };
    let foreign = target.net_namespace.and_then(|ns| handles.get(&ns));
    let Some(handle) = foreign else { return probe() };
    // setns() applies to the calling thread only: probe from a fresh thread
    // that enters the namespace and dies with it.
    let entered = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                crate::sys::netns::enter(handle)?;
                Ok::<_, std::io::Error>(probe())
            })
            .join()
    });
    match entered {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => Outcome {
            note: Some(format!("could not enter network namespace: {error}")),
            ..Outcome::default()
        },
        Err(_) => Outcome { note: Some("probe thread failed".into()), ..Outcome::default() },
    }
}

/// pg_hba.conf decides by the client's address, and `127.0.0.1/32` and
/// `::1/128` are lines of their own: a PostgreSQL that asked the login over
/// one loopback for a password (`--active`) is asked again over the other
/// when its sockets take it, where a `trust` line lets every local process
/// in as its superuser.
fn trust_over_the_other_loopback(target: &Target, options: ProbeOptions, outcome: &mut Outcome) {
    let asked = outcome.observations.iter().find_map(|o| match o {
        probes::Observation::AuthRequired { evidence } => Some(evidence.clone()),
        _ => None,
    });
    let (Some(asked), Some(other)) = (asked, target.other_loopback) else { return };
    if !options.active || outcome.service.as_deref() != Some("postgresql") {
        return;
    }
    let (Some(probed), deadline) =
        (target.connect, probes::conn::Deadline::new(options.timeout, options.timeout * 4))
    else {
        return;
    };
    let mut again = Outcome::default();
    probes::postgres::probe(other, &deadline, true, &mut again);
    outcome.probes.push(format!("postgresql StartupMessage over {} (active)", other.ip()));
    for observation in again.observations {
        if let probes::Observation::TrustAuth { evidence, loopback_only, hba, address } =
            observation
        {
            outcome.observations.push(probes::Observation::TrustAuth {
                hba,
                address,
                evidence: format!(
                    "over {}: {evidence}, while over {}: {asked}",
                    other.ip(),
                    probed.ip()
                ),
                loopback_only,
            });
        }
    }
}
