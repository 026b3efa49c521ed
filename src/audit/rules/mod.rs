//! The audit rules, one per file. Each rule is a pure function of a
//! [`Context`] — one listener with its probe outcome, owner processes,
//! restart check and firewall verdict — so it can be tested with a
//! hand-made context. Severities follow one principle: what an attacker
//! gains (data, code execution, root) times who can reach it (local users
//! and web pages through loopback; other devices when exposed).

mod cleartext_password;
mod cors_any_origin;
mod debugger_exposed;
mod dns_rebinding;
mod docker_api;
mod empty_password;
mod exposed_service;
mod file_server;
mod no_auth;
mod outdated_binary;
mod outdated_library;
mod outdated_package;
mod root_service;
mod trust_auth;
mod weak_password;
mod websocket_origin;
mod world_writable_socket;

pub use world_writable_socket::is_api_socket;

use std::collections::BTreeSet;

use super::firewall::Verdict;
use super::probes::{Observation, Outcome};
use super::restart::RestartCheck;
use super::Target;
use crate::model::{Finding, RuleId, Severity};

/// Everything a rule may look at for one listener.
pub struct Context<'a> {
    pub target: &'a Target,
    /// `None` for listeners that were not probed (UDP, Unix, printers).
    pub outcome: Option<&'a Outcome>,
    /// Restart checks of the owners that could be read, by pid.
    pub restart: Vec<(u32, &'a RestartCheck)>,
    /// What the input chain does with a connection from another device.
    pub firewall: Verdict,
    /// `nftables input policy drop`, for evidence strings.
    pub firewall_text: &'a str,
    /// The input chain's verdict on the UDP port of a memcached run with
    /// `-U`: the same process answers there, unauthenticated, so the
    /// service is out of other devices' reach only when both are blocked.
    pub memcached_udp: Option<UdpFirewall>,
    /// Package updates of the owner's executable and libraries (`None`
    /// when the package check did not run).
    pub packages: Option<&'a super::packages::TargetPackages>,
    /// Age of apt's package lists, for evidence strings (`None`: no lists).
    pub package_lists_age: Option<std::time::Duration>,
    /// Age of dnf's metadata cache, for updates from rpm repositories.
    pub dnf_cache_age: Option<std::time::Duration>,
    /// The uid porthole runs as: a user unit's `systemctl` command depends
    /// on whether it is the caller's own (`--user`) or another user's
    /// (`--user -M USER@`).
    pub caller_uid: u32,
}

impl Context<'_> {
    /// Bound to a wildcard or non-loopback address.
    pub fn exposed(&self) -> bool {
        self.target.scope.is_exposed()
    }

    /// Exposed and not (likely) stopped by the firewall, nor refused by the
    /// service itself (Redis protected mode while no password is set).
    pub fn reachable_from_network(&self) -> bool {
        self.exposed()
            && self.network_verdict() != Verdict::Blocked
            && self.protected_mode() != Some(true)
    }

    /// What the input chain does with other devices' traffic to the
    /// service: its own port's verdict, or, for a memcached with UDP on,
    /// the more open of its TCP and UDP ports'.
    pub fn network_verdict(&self) -> Verdict {
        match &self.memcached_udp {
            Some(udp) => self.firewall.either(udp.verdict),
            None => self.firewall,
        }
    }

    /// Redis `protected-mode` as probed (`None`: not asked, or a password
    /// was required so the question did not arise).
    pub fn protected_mode(&self) -> Option<bool> {
        self.observations().iter().find_map(|o| match o {
            Observation::ProtectedMode { on, .. } => Some(*on),
            _ => None,
        })
    }

    /// memcached's options from an owner's command line.
    pub fn memcached(&self) -> Option<MemcachedOptions> {
        let process = self.target.owners.iter().find(|p| p.name == "memcached")?;
        Some(MemcachedOptions::parse(&process.cmdline))
    }

    /// The change that runs memcached with `-l 127.0.0.1` (when
    /// `loopback`) and `-U 0` (when `udp_off`), where its options really
    /// are: the lines of the file Debian's wrapper made its command line
    /// from, or, for options typed on a command line, that command line
    /// with those options replaced; then the restart that makes it read
    /// them.
    pub fn memcached_fix(&self, loopback: bool, udp_off: bool) -> String {
        let Some(process) = self.target.owners.iter().find(|p| p.name == "memcached") else {
            let wanted = MemcachedOptions::wanted(loopback, udp_off).join(" ");
            return format!("run memcached with `{wanted}`");
        };
        let config = self.outcome.and_then(|outcome| outcome.memcached_config.as_ref());
        let restart = match process.service_command("restart", self.caller_uid) {
            Some(command) => format!("`{command}`"),
            None => format!("restart pid {}", process.pid),
        };
        if let Some(config) = config {
            let file = crate::shell::printable_word(&config.file).into_owned();
            let mut edits = Vec::new();
            let mut appended = Vec::new();
            let wanted = [
                (loopback, config.listen_line, "-l 127.0.0.1"),
                (udp_off, config.udp_line, "-U 0"),
            ];
            for (want, line, option) in wanted {
                match (want, line) {
                    (false, _) => {}
                    (true, Some(line)) => edits.push(format!("-e '{line}s/.*/{option}/'")),
                    (true, None) => appended.push(format!("'{option}'")),
                }
            }
            let mut commands = Vec::new();
            if !edits.is_empty() {
                commands.push(format!("sed -i {} {file}", edits.join(" ")));
            }
            if !appended.is_empty() {
                commands.push(format!("printf '%s\\n' {} >> {file}", appended.join(" ")));
            }
            return format!(
                "its options are the lines of {file} (its command line is made from them): `{}`, then {restart}",
                commands.join(" && ")
            );
        }
        let (kept, replaced) =
            MemcachedOptions::without_addresses(&process.cmdline, loopback, udp_off);
        let mut line: Vec<String> =
            kept.iter().map(|w| crate::shell::printable_word(w).into_owned()).collect();
        line.extend(MemcachedOptions::wanted(loopback, udp_off).into_iter().map(str::to_string));
        let typed = if replaced.is_empty() {
            String::new()
        } else {
            let shown: Vec<String> =
                replaced.iter().map(|w| crate::shell::printable_word(w).into_owned()).collect();
            format!(" (`{}`)", shown.join(" "))
        };
        let line = line.join(" ");
        match process.service_command("restart", self.caller_uid) {
            Some(_) => format!(
                "its options are on the command line its unit starts{typed}: make its ExecStart `{line}`, then `systemctl daemon-reload` and {restart}"
            ),
            None => format!(
                "its options are on its command line{typed}: `kill {}`, then start it as `{line}`",
                process.pid
            ),
        }
    }

    /// The probe's observations (none when not probed).
    pub fn observations(&self) -> &[Observation] {
        self.outcome.map_or(&[], |o| o.observations.as_slice())
    }

    /// Whether a probe found a way in without credentials.
    pub fn has_open_door(&self) -> bool {
        self.observations().iter().any(|o| {
            matches!(
                o,
                Observation::NoAuth { impact: super::probes::Impact::Control, .. }
                    | Observation::Debugger { .. }
                    | Observation::DockerApi { .. }
                    | Observation::TrustAuth { .. }
                    | Observation::LocalTrust { .. }
                    | Observation::EmptyPassword { .. }
                    | Observation::WeakPassword { .. }
            )
        })
    }

    /// `redis 7.0.15`, `http (nginx/1.22.1)`.
    pub fn service_label(&self) -> Option<String> {
        let outcome = self.outcome?;
        let service = outcome.service.clone()?;
        Some(match &outcome.version {
            Some(version)
                if outcome.http
                    && !matches!(
                        service.as_str(),
                        "node-inspector" | "chrome-devtools" | "docker" | "etcd" | "elasticsearch"
                    ) =>
            {
                format!("{service} ({version})")
            }
            Some(version) => format!("{service} {version}"),
            None => service,
        })
    }

    pub fn service_name(&self) -> Option<&str> {
        self.outcome.and_then(|o| o.service.as_deref())
    }

    /// Runs as root (an owner's uid, or the socket's when owners are hidden).
    pub fn runs_as_root(&self) -> bool {
        if self.target.owners.is_empty() {
            self.target.socket_uid == 0
        } else {
            self.target.owners.iter().any(|p| p.uid == 0)
        }
    }

    /// `where` for fixes: `bind 127.0.0.1:8080` style endpoint text.
    pub fn endpoint(&self) -> String {
        if self.target.port == 0 {
            self.target.address.clone()
        } else if self.target.address.contains(':') {
            format!("[{}]:{}", self.target.address, self.target.port)
        } else {
            format!("{}:{}", self.target.address, self.target.port)
        }
    }

    /// A finding about this listener, attributed to its first owner.
    pub fn finding(
        &self,
        rule: RuleId,
        severity: Severity,
        evidence: String,
        fix: String,
    ) -> Finding {
        let owner = self.target.owners.first();
        Finding {
            rule,
            severity,
            port: self.target.port,
            address: self.target.address.clone(),
            protocol: self.target.protocol,
            service: self.service_label(),
            pid: owner.map(|p| p.pid),
            process: owner.map(|p| p.name.clone()),
            unit: owner.and_then(|p| p.unit.clone()),
            net_namespace: self.target.net_namespace,
            evidence,
            fix,
        }
    }

    /// How to restart the owner: its systemd service, or the pid.
    pub fn restart_fix(&self, pid: u32) -> String {
        let process = self.target.owners.iter().find(|p| p.pid == pid);
        match process.and_then(|p| p.service_command("restart", self.caller_uid)) {
            Some(command) => command,
            None => match process {
                Some(p) => format!("restart pid {pid} ({})", abbreviate(&p.command_line(), 60)),
                None => format!("restart pid {pid}"),
            },
        }
    }
}

fn abbreviate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(limit).collect();
        cut.push('…');
        cut
    }
}

/// The memcached options that decide its exposure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemcachedOptions {
    /// `-p`/`--port` (11211 when absent; 0 turns TCP off).
    pub tcp_port: u16,
    /// `-U`/`--udp-port`: `None` or 0 means UDP is off (the default since
    /// memcached 1.5.6).
    pub udp_port: Option<u16>,
    /// `-l`/`--listen` addresses (every interface when empty).
    pub listen: Vec<String>,
}

impl MemcachedOptions {
    /// Reads `-p 11211`, `-p11211`, `--port=11211` and the same for `-U`
    /// and `-l`.
    pub fn parse(cmdline: &[String]) -> Self {
        let mut options = MemcachedOptions { tcp_port: 11211, ..Self::default() };
        let mut words = cmdline.iter().skip(1).peekable();
        while let Some(word) = words.next() {
            let (flag, inline) = match word.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
                _ if word.len() > 2
                    && word.starts_with('-')
                    && !word.starts_with("--")
                    && word.is_char_boundary(2) =>
                {
                    (&word[..2], Some(word[2..].to_string()))
                }
                _ => (word.as_str(), None),
            };
            if !matches!(flag, "-p" | "--port" | "-U" | "--udp-port" | "-l" | "--listen") {
                continue;
            }
            let Some(value) = inline.or_else(|| words.next().cloned()) else { break };
            match flag {
                "-p" | "--port" => options.tcp_port = value.parse().unwrap_or(options.tcp_port),
                "-U" | "--udp-port" => options.udp_port = value.parse().ok(),
                _ => options.listen.extend(value.split(',').map(str::to_string)),
            }
        }
        options
    }

    /// The options a fix adds.
    fn wanted(loopback: bool, udp_off: bool) -> Vec<&'static str> {
        let mut wanted = Vec::new();
        if loopback {
            wanted.push("-l 127.0.0.1");
        }
        if udp_off {
            wanted.push("-U 0");
        }
        wanted
    }

    /// `cmdline` without its listen-address options (when `loopback`) and
    /// UDP-port options (when `udp_off`), each with its value, and those
    /// options as given.
    fn without_addresses(
        cmdline: &[String],
        loopback: bool,
        udp_off: bool,
    ) -> (Vec<String>, Vec<String>) {
        let (mut kept, mut removed) = (Vec::new(), Vec::new());
        let mut words = cmdline.iter();
        if let Some(program) = words.next() {
            kept.push(program.clone());
        }
        while let Some(word) = words.next() {
            let mut flags = Vec::new();
            if loopback {
                flags.push(("-l", "--listen"));
            }
            if udp_off {
                flags.push(("-U", "--udp-port"));
            }
            let inline = flags.iter().any(|(short, long)| {
                word.starts_with(&format!("{long}=")) || (word.starts_with(short) && word.len() > 2)
            });
            if inline {
                removed.push(word.clone());
            } else if flags.iter().any(|(short, long)| word == short || word == long) {
                removed.push(word.clone());
                removed.extend(words.next().cloned());
            } else {
                kept.push(word.clone());
            }
        }
        (kept, removed)
    }

    /// The UDP port, when UDP is on.
    pub fn udp(&self) -> Option<u16> {
        self.udp_port.filter(|&port| port != 0)
    }
}

/// The firewall's judgement of memcached's UDP port (`-U PORT`), made
/// beside that of its TCP listener (see [`Context::memcached_udp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFirewall {
    pub port: u16,
    pub verdict: Verdict,
    /// The chain's words for `udp dport PORT`, as `firewall_text`.
    pub text: String,
}

impl UdpFirewall {
    /// Judges the UDP port of `target` when it is a memcached TCP listener
    /// run with UDP on; `judge` is the listener's own chain.
    pub fn of(
        target: &Target,
        judge: impl FnOnce(crate::model::Protocol, u16) -> (Verdict, String),
    ) -> Option<UdpFirewall> {
        if target.protocol != crate::model::Protocol::Tcp {
            return None;
        }
        let process = target.owners.iter().find(|p| p.name == "memcached")?;
        let port = MemcachedOptions::parse(&process.cmdline).udp()?;
        let (verdict, text) = judge(crate::model::Protocol::Udp, port);
        Some(UdpFirewall { port, verdict, text })
    }
}

type Rule = fn(&Context<'_>) -> Vec<Finding>;

/// Every rule, in the order findings are produced.
const RULES: [(RuleId, Rule); 17] = [
    (RuleId::ExposedService, exposed_service::check),
    (RuleId::NoAuth, no_auth::check),
    (RuleId::DnsRebinding, dns_rebinding::check),
    (RuleId::WebsocketOrigin, websocket_origin::check),
    (RuleId::CorsAnyOrigin, cors_any_origin::check),
    (RuleId::DebuggerExposed, debugger_exposed::check),
    (RuleId::DockerApi, docker_api::check),
    (RuleId::WorldWritableSocket, world_writable_socket::check),
    (RuleId::TrustAuth, trust_auth::check),
    (RuleId::EmptyPassword, empty_password::check),
    (RuleId::OutdatedBinary, outdated_binary::check),
    (RuleId::OutdatedLibrary, outdated_library::check),
    (RuleId::RootService, root_service::check),
    (RuleId::WeakPassword, weak_password::check),
    (RuleId::OutdatedPackage, outdated_package::check),
    (RuleId::CleartextPassword, cleartext_password::check),
    (RuleId::FileServer, file_server::check),
];

/// Rules whose impact grows when the process is root: they hand the
/// attacker the process itself or its data.
const RAISED_BY_ROOT: [RuleId; 8] = [
    RuleId::NoAuth,
    RuleId::DnsRebinding,
    RuleId::WebsocketOrigin,
    RuleId::CorsAnyOrigin,
    RuleId::DebuggerExposed,
    RuleId::TrustAuth,
    RuleId::EmptyPassword,
    RuleId::WeakPassword,
];

/// Runs every rule not in `skip` and combines severities: an exposed root
/// service raises the findings that give access to the process by one.
pub fn evaluate(context: &Context<'_>, skip: &BTreeSet<RuleId>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES
        .iter()
        .filter(|(id, _)| !skip.contains(id))
        .flat_map(|(_, rule)| rule(context))
        .collect();
    // Protected mode keeps other devices out as a firewall would: such a
    // Redis is graded as the loopback service it effectively is.
    if context.exposed() && context.protected_mode() != Some(true) && context.runs_as_root() {
        // Reading metrics gives nothing of the process, root or not.
        let reads_only = !context.observations().iter().any(|o| {
            matches!(o, Observation::NoAuth { impact: super::probes::Impact::Control, .. })
        });
        for finding in &mut findings {
            let information = finding.rule == RuleId::NoAuth && reads_only;
            if RAISED_BY_ROOT.contains(&finding.rule)
                && !information
                && finding.severity < Severity::Critical
            {
                finding.severity = finding.severity.raised();
                finding.evidence.push_str("; the process runs as root");
            }
        }
    }
    findings
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-made contexts for rule tests.
    use super::*;
    use crate::model::{Process, Protocol, Scope};

    pub fn target(address: &str, port: u16) -> Target {
        let scope = match address.parse() {
            Ok(ip) => Scope::of_address(ip),
            Err(_) => Scope::Local,
        };
        Target {
            protocol: if port == 0 { Protocol::Unix } else { Protocol::Tcp },
            port,
            address: address.into(),
            scope,
            reach: crate::audit::firewall::Reach::of_address(address),
            net_namespace: None,
            connect: None,
            other_loopback: None,
            owners: vec![Process {
                pid: 42,
                name: "server".into(),
                uid: 1000,
                cmdline: vec!["server".into(), "--flag".into()],
                ..Process::default()
            }],
            socket_uid: 1000,
            backlog: None,
            unix: None,
            environment: std::collections::BTreeMap::new(),
        }
    }

    pub fn outcome(service: &str, observations: Vec<Observation>) -> Outcome {
        Outcome { service: Some(service.into()), observations, ..Outcome::default() }
    }

    /// A pg_hba.conf on disk whose text is `text`, read (through a fake
    /// system that holds it at `/d/hba`) from `path`: another path is a file
    /// that cannot be read. `on_lan` puts the server's namespace on
    /// 10.0.0.1/24, else it has no address beyond loopback.
    pub fn hba_on_disk(
        text: &str,
        path: &str,
        on_lan: bool,
    ) -> crate::audit::postgres_hba::HbaOnDisk {
        let system = crate::inventory::system::fake::Scripted::default().file("/d/hba", text);
        let location = crate::audit::postgres_options::HbaLocation {
            path: path.into(),
            root: String::new(),
            pid: None,
            major_version: Some(15),
        };
        let local_addresses =
            if on_lan { vec![("10.0.0.1".parse().expect("address"), 24)] } else { Vec::new() };
        crate::audit::postgres_hba::HbaOnDisk {
            file: crate::audit::postgres_hba::read(&system, &location),
            local_addresses,
        }
    }

    /// A socket file at `path` (reached at the same path) with `mode`,
    /// owned by `uid`, that `connectors` may connect to.
    pub fn socket_file(
        path: &str,
        mode: u32,
        uid: u32,
        connectors: crate::audit::Connectors,
    ) -> crate::audit::UnixSocketFile {
        crate::audit::UnixSocketFile {
            path: path.into(),
            reached_at: path.into(),
            mode,
            uid,
            connectors,
        }
    }

    pub fn context<'a>(target: &'a Target, outcome: Option<&'a Outcome>) -> Context<'a> {
        Context {
            target,
            outcome,
            restart: Vec::new(),
            firewall: Verdict::Admitted,
            firewall_text: "nftables input policy accept",
            memcached_udp: None,
            packages: None,
            package_lists_age: None,
            dnf_cache_age: None,
            caller_uid: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::audit::probes::Impact;

    #[test]
    fn root_raises_access_findings_of_exposed_services() {
        let mut target = target("0.0.0.0", 6379);
        target.owners[0].uid = 0;
        let outcome =
            outcome("redis", vec![Observation::Rebindable { evidence: "same".into(), page: true }]);
        let findings = evaluate(&context(&target, Some(&outcome)), &BTreeSet::new());
        let rebinding = findings.iter().find(|f| f.rule == RuleId::DnsRebinding).unwrap();
        assert_eq!(rebinding.severity, Severity::High);
        assert!(findings
            .iter()
            .any(|f| f.rule == RuleId::RootService && f.severity == Severity::Info));
    }

    #[test]
    fn root_does_not_raise_a_read_of_metrics() {
        let mut target = target("0.0.0.0", 9100);
        target.owners[0].uid = 0;
        let open =
            |impact| Observation::NoAuth { evidence: "read".into(), fix: "fix".into(), impact };
        let severity = |observation| {
            let outcome = outcome("metrics", vec![observation]);
            let findings = evaluate(&context(&target, Some(&outcome)), &BTreeSet::new());
            findings.iter().find(|f| f.rule == RuleId::NoAuth).unwrap().severity
        };
        assert_eq!(severity(open(crate::audit::probes::Impact::Information)), Severity::Medium);
        assert_eq!(severity(open(crate::audit::probes::Impact::Control)), Severity::Critical);
    }

    #[test]
    fn memcached_options_from_command_lines() {
        let words = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>();
        let debian = MemcachedOptions::parse(&words(
            "/usr/bin/memcached -m 64 -p 11211 -u memcache -l 127.0.0.1 -P /run/memcached.pid",
        ));
        assert_eq!(debian.udp(), None);
        assert_eq!(debian.listen, ["127.0.0.1"]);
        let udp = MemcachedOptions::parse(&words("memcached -U 11211 -l 0.0.0.0,::"));
        assert_eq!(udp.udp(), Some(11211));
        assert_eq!(udp.listen, ["0.0.0.0", "::"]);
        let off = MemcachedOptions::parse(&words("memcached -U0 --port=11300"));
        assert_eq!((off.udp(), off.tcp_port), (None, 11300));
    }

    #[test]
    fn skipped_rules_produce_nothing() {
        let target = target("0.0.0.0", 6379);
        let outcome = outcome(
            "redis",
            vec![Observation::NoAuth {
                evidence: "PONG".into(),
                fix: "pw".into(),
                impact: Impact::Control,
            }],
        );
        let skip: BTreeSet<RuleId> = [RuleId::NoAuth].into();
        let findings = evaluate(&context(&target, Some(&outcome)), &skip);
        assert!(findings.iter().all(|f| f.rule != RuleId::NoAuth));
        assert!(findings.iter().any(|f| f.rule == RuleId::ExposedService));
    }
}
