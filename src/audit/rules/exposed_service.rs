//! `exposed-service`: a listener other devices can reach (wildcard or
//! non-loopback bind). Exposure comes from the inventory, not from probing;
//! the firewall's input chain decides how likely a connection gets in.

use super::Context;
use crate::audit::firewall::Verdict;
use crate::model::{Finding, Protocol, RuleId, Severity};

/// Services that are meant for this machine or a private network only.
const PRIVATE_SERVICES: &[&str] = &[
    "redis",
    "valkey",
    "memcached",
    "mongodb",
    "postgresql",
    "mysql",
    "mariadb",
    "elasticsearch",
    "couchdb",
    "etcd",
    "jupyter",
    "node-inspector",
    "chrome-devtools",
    "jdwp",
    "docker",
    "kubelet",
    "metrics",
];

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    if !context.exposed() || context.target.protocol == Protocol::Unix {
        return Vec::new();
    }
    let memcached = context.memcached();
    // memcached's UDP socket is reported with its TCP listener (the same
    // process, the same addresses), unless TCP is off.
    if context.target.protocol == Protocol::Udp
        && memcached.as_ref().is_some_and(|options| options.tcp_port != 0)
    {
        return Vec::new();
    }
    let private = context.service_name().is_some_and(|s| PRIVATE_SERVICES.contains(&s))
        || memcached.is_some()
        || context.has_open_door();
    let mut severity = if private { Severity::Medium } else { Severity::Low };
    let protected = context.protected_mode() == Some(true);
    // memcached's UDP port is judged by the chain too: a rule that drops
    // only its TCP port leaves the reflector open.
    let udp_firewall = context.memcached_udp.as_ref();
    let firewall_text = match udp_firewall {
        Some(udp) if udp.text != context.firewall_text => {
            format!("{}; for udp port {}: {}", context.firewall_text, udp.port, udp.text)
        }
        _ => context.firewall_text.to_string(),
    };
    let reach = match context.network_verdict() {
        // The service turns other devices away itself: the network sees
        // only -DENIED, as long as no password is set and the mode stays on.
        _ if protected => {
            severity = severity.lowered();
            format!("{firewall_text}; Redis protected mode refuses clients from other addresses (-DENIED) while no password is set: it is what keeps other devices out")
        }
        Verdict::Admitted => format!("{firewall_text}: other devices can connect"),
        Verdict::Blocked => {
            severity = severity.lowered();
            format!("{firewall_text}: other devices are likely blocked")
        }
        Verdict::Unknown => format!("firewall unknown ({firewall_text})"),
    };
    let mut evidence = format!(
        "{} listens on {} ({}); {reach}",
        context.target.protocol,
        context.endpoint(),
        scope_words(context)
    );
    let udp = memcached.as_ref().and_then(|options| options.udp());
    let udp_verdict = udp_firewall.map_or(context.firewall, |udp| udp.verdict);
    if let Some(udp) = udp {
        evidence.push_str(&format!(
            "; memcached also answers UDP on port {udp} on the same addresses: an open UDP memcached is the classic DDoS amplification reflector (-U {udp})"
        ));
        if udp_verdict != Verdict::Blocked {
            severity = severity.max(Severity::High);
        }
    }
    let mut fix = bind_fix(context, udp.is_some());
    // Drop what the chain lets in, and nothing it already drops.
    let mut drops = Vec::new();
    if context.firewall != Verdict::Blocked {
        drops.push((context.target.protocol, context.target.port));
    }
    if let Some(udp) = udp_firewall.filter(|udp| udp.verdict != Verdict::Blocked) {
        drops.push((Protocol::Udp, udp.port));
    }
    if !drops.is_empty() && !protected {
        fix.push_str(&format!(
            "; or drop other devices' traffic at the firewall: `{}`",
            firewall_drop(context.firewall_text, &drops)
        ));
    }
    let mut finding = context.finding(RuleId::ExposedService, severity, evidence, fix);
    if finding.service.is_none() && memcached.is_some() {
        finding.service = Some("memcached".into());
    }
    vec![finding]
}

/// A command that drops the port for everything but loopback, for the
/// firewall(s) the evidence names, and runs as printed on any ruleset: with
/// iptables, an insert into the built-in INPUT chain; with nftables (or
/// none), `add` creates the table and the input chain when missing and
/// leaves existing ones (and their policy) as they are, and the rule is
/// inserted first: appended, it would come after any rule that already
/// accepts the port (`ip saddr 10.0.0.0/8 accept`) and drop nothing.
pub fn firewall_drop(firewall_text: &str, drops: &[(Protocol, u16)]) -> String {
    let legacy = |program: &str| {
        let commands: Vec<String> = drops
            .iter()
            .map(|(protocol, port)| {
                format!("{program} -I INPUT ! -i lo -p {protocol} --dport {port} -j DROP")
            })
            .collect();
        commands.join(" && ")
    };
    // The chains the evidence names, one `SOURCE input policy …` per
    // address family; a namespace's label (user text) is not read.
    let chains = firewall_text.split(" (network namespace ").next().unwrap_or(firewall_text);
    let named =
        |source: &str| chains.split("; ").any(|part| part.starts_with(&format!("{source} input ")));
    // An `inet` table's input hook sees both families, whatever the other
    // family's chain is read from, so nftables named for either family
    // (`ip6tables …; nftables …` when iptables-nft made only an `ip` table)
    // gets the one nft command. Otherwise iptables rules do nothing to IPv6
    // and ip6tables nothing to IPv4: a `[::]` listener judged by both gets
    // both.
    if !named("nftables") {
        match (named("ip6tables"), named("iptables")) {
            (true, true) => return format!("{} && {}", legacy("ip6tables"), legacy("iptables")),
            (true, false) => return legacy("ip6tables"),
            (false, true) => return legacy("iptables"),
            (false, false) => {}
        }
    }
    let rules: Vec<String> = drops
        .iter()
        .map(|(protocol, port)| {
            format!("insert rule inet filter input iifname != \"lo\" {protocol} dport {port} drop")
        })
        .collect();
    format!(
        "nft 'add table inet filter; add chain inet filter input {{ type filter hook input priority 0; }}; {}'",
        rules.join("; ")
    )
}

fn scope_words(context: &Context<'_>) -> &'static str {
    match context.target.scope {
        // The kernel keeps IPv4 clients off an `IPV6_V6ONLY` `[::]`.
        crate::model::Scope::Wildcard if context.target.reach.is_v6_only() => {
            "every IPv6 address; IPV6_V6ONLY, so no IPv4 client reaches it"
        }
        crate::model::Scope::Wildcard => "every interface",
        _ => "a non-loopback address",
    }
}

/// The configuration change that binds a service to loopback, naming only
/// what is not configured yet.
pub fn bind_fix(context: &Context<'_>, udp_on: bool) -> String {
    let port = context.target.port;
    let bound = context.endpoint();
    let service = context.service_name().or(context.memcached().map(|_| "memcached"));
    match service {
        Some("redis" | "valkey") => {
            let settings = context.outcome.and_then(|outcome| outcome.settings.as_ref());
            let persist = crate::audit::probes::redis::persist;
            match context.protected_mode() {
                Some(true) => format!(
                    "{} (protected mode is already on)",
                    persist(settings, &["bind 127.0.0.1 -::1"])
                ),
                _ => persist(settings, &["bind 127.0.0.1 -::1", "protected-mode yes"]),
            }
        }
        Some("memcached") => context.memcached_fix(true, udp_on),
        Some("postgresql") => postgres_bind_fix(context),
        Some("mysql" | "mariadb") => mysql_bind_fix(context),
        Some("mongodb") => "set `net.bindIp: 127.0.0.1` in mongod.conf".into(),
        Some("node-inspector") => format!("use `--inspect=127.0.0.1:{port}`"),
        Some("elasticsearch") => "set `network.host: 127.0.0.1` in elasticsearch.yml".into(),
        Some("docker") => {
            format!("remove `-H tcp://{bound}` from dockerd; use the Unix socket or ssh://")
        }
        Some("jupyter") => "start Jupyter with `--ip=127.0.0.1`".into(),
        _ if context.target.address.contains(':') => {
            format!("bind to [::1]:{port} (or 127.0.0.1:{port}) instead of {bound}")
        }
        _ => format!("bind to 127.0.0.1:{port} instead of {bound}"),
    }
}

/// `listen_addresses = 'localhost'` where the server reads it: the option
/// of its command line, the last line that sets it (in
/// postgresql.auto.conf, an included file or postgresql.conf), or a line
/// appended to its configuration file; then a restart, as the addresses
/// are read at start.
fn postgres_bind_fix(context: &Context<'_>) -> String {
    use crate::audit::mysql_options::BindSource;
    let source = context.outcome.and_then(|outcome| outcome.bind_option.as_ref());
    let restart = restart_words(context);
    let file = |path: &str| crate::shell::printable_word(path).into_owned();
    match source {
        Some(BindSource::File { file: path, line, value }) => format!(
            "`sed -i \"{line}s/.*/listen_addresses = 'localhost'/\" {}` (line {line} sets it{}), then {restart}",
            file(path),
            postgres_value(value)
        ),
        Some(BindSource::CommandLine(arg)) => format!(
            "its command line sets it (`{arg}`): start it with `-c listen_addresses=localhost` instead, then {restart}"
        ),
        Some(BindSource::Unset { last_file: Some(path) }) => format!(
            "`printf \"listen_addresses = 'localhost'\\n\" >> {}`, then {restart}",
            file(path)
        ),
        _ => "set `listen_addresses = 'localhost'` in postgresql.conf (`SHOW config_file;` names it), then restart it".into(),
    }
}

/// ` to 'VALUE'`: the addresses a line of postgresql.conf sets, as the
/// server read them and as the file would quote them (`''` for a quote).
/// Left out when they hold a backtick, which would end the quoted command
/// before it in the fix, or are longer than any list of addresses (a
/// 100 KB value would make the fix one 100 KB line). Control characters
/// stay: the renderer shows them escaped, and this is no command.
fn postgres_value(value: &str) -> String {
    /// Longest value shown, in characters.
    const LONGEST: usize = 200;
    if value.contains('`') || value.chars().nth(LONGEST).is_some() {
        return String::new();
    }
    format!(" to '{}'", value.replace('\'', "''"))
}

/// How to restart the owner: its unit's command, else the pid's restart.
fn restart_words(context: &Context<'_>) -> String {
    match context.target.owners.first() {
        Some(process) => match process.service_command("restart", context.caller_uid) {
            Some(command) => format!("`{command}`"),
            None => context.restart_fix(process.pid),
        },
        None => "restart it".into(),
    }
}

/// `bind-address = 127.0.0.1` where the server reads it: the line that set
/// another address (a later one in an included file beats an addition to
/// my.cnf), the command line, or a `[mysqld]` group at the end of the last
/// option file read; then a restart, as the address is read at start.
fn mysql_bind_fix(context: &Context<'_>) -> String {
    use crate::audit::mysql_options::BindSource;
    let source = context.outcome.and_then(|outcome| outcome.bind_option.as_ref());
    let restart = restart_words(context);
    let file = |path: &str| crate::shell::printable_word(path).into_owned();
    match source {
        Some(BindSource::File { file: path, line, .. }) => format!(
            "`sed -i '{line}s/.*/bind-address = 127.0.0.1/' {}` (line {line} sets it), then {restart}",
            file(path)
        ),
        Some(BindSource::CommandLine(arg)) => format!(
            "its command line sets it ({arg}): start it with --bind-address=127.0.0.1 instead, then {restart}"
        ),
        Some(BindSource::Unset { last_file: Some(path) }) => format!(
            "`printf '[mysqld]\\nbind-address = 127.0.0.1\\n' >> {}` (the last option file it reads; nothing sets it now), then {restart}",
            file(path)
        ),
        _ => "set `bind-address = 127.0.0.1` under [mysqld]".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn loopback_is_not_exposed_and_firewall_lowers() {
        let local = target("127.0.0.1", 8080);
        assert!(check(&context(&local, None)).is_empty());
        let wide = target("0.0.0.0", 6379);
        let redis = outcome("redis", vec![]);
        let mut ctx = context(&wide, Some(&redis));
        assert_eq!(check(&ctx)[0].severity, Severity::Medium);
        ctx.firewall = Verdict::Blocked;
        let findings = check(&ctx);
        assert_eq!(findings[0].severity, Severity::Low);
        assert!(findings[0].fix.contains("bind 127.0.0.1"));
    }

    #[test]
    fn the_firewall_command_matches_the_firewall_in_the_evidence() {
        let wide = target("0.0.0.0", 8080);
        let mut ctx = context(&wide, None);
        assert!(check(&ctx)[0].fix.contains("`nft 'add table inet filter;"));
        ctx.firewall_text = "iptables input policy accept";
        let fix = &check(&ctx)[0].fix;
        assert!(fix.contains("`iptables -I INPUT ! -i lo -p tcp --dport 8080 -j DROP`"), "{fix}");
        assert!(!fix.contains("nft"), "{fix}");
        // IPv6 gets ip6tables; `[::]` judged by both legacy tables gets both.
        assert_eq!(
            firewall_drop("ip6tables input policy accept", &[(Protocol::Tcp, 80)]),
            "ip6tables -I INPUT ! -i lo -p tcp --dport 80 -j DROP"
        );
        assert_eq!(
            firewall_drop("ip6tables input policy accept; iptables input policy accept", &[(Protocol::Udp, 53)]),
            "ip6tables -I INPUT ! -i lo -p udp --dport 53 -j DROP && iptables -I INPUT ! -i lo -p udp --dport 53 -j DROP"
        );
        // iptables-nft made an `ip` table only: IPv6 is read from ip6tables,
        // IPv4 from nftables; one inet rule covers both.
        let mixed = firewall_drop(
            "ip6tables input policy accept; nftables input policy accept",
            &[(Protocol::Tcp, 80)],
        );
        assert!(mixed.starts_with("nft 'add table inet filter;"), "{mixed}");
        assert!(!mixed.contains("ip6tables"), "{mixed}");
        // A namespace's name is not a firewall.
        assert_eq!(
            firewall_drop(
                "iptables input policy accept (network namespace 'nftables input x')",
                &[(Protocol::Tcp, 80)]
            ),
            "iptables -I INPUT ! -i lo -p tcp --dport 80 -j DROP"
        );
    }

    #[test]
    fn protected_mode_redis_is_not_reachable_by_other_devices() {
        use crate::audit::probes::Observation;
        let wide = target("0.0.0.0", 6379);
        let redis =
            outcome("redis", vec![Observation::ProtectedMode { on: true, evidence: "yes".into() }]);
        let finding = &check(&context(&wide, Some(&redis)))[0];
        assert_eq!(finding.severity, Severity::Low);
        assert!(!finding.evidence.contains("other devices can connect"), "{}", finding.evidence);
        assert!(finding.evidence.contains("protected mode"), "{}", finding.evidence);
        assert!(!finding.fix.contains("protected-mode yes"), "{}", finding.fix);
    }

    #[test]
    fn memcached_udp_is_part_of_the_memcached_finding() {
        let mut udp = target("0.0.0.0", 11211);
        udp.protocol = Protocol::Udp;
        udp.owners[0].name = "memcached".into();
        udp.owners[0].cmdline =
            "memcached -U 11211 -l 0.0.0.0".split(' ').map(str::to_string).collect();
        assert!(check(&context(&udp, None)).is_empty(), "folded into the TCP finding");
        let mut tcp = udp.clone();
        tcp.protocol = Protocol::Tcp;
        let seen = outcome("memcached", vec![]);
        let finding = &check(&context(&tcp, Some(&seen)))[0];
        assert_eq!(finding.severity, Severity::High);
        assert_eq!(finding.service.as_deref(), Some("memcached"));
        assert!(finding.evidence.contains("amplification"), "{}", finding.evidence);
        assert!(finding.fix.contains("-l 127.0.0.1 -U 0"), "{}", finding.fix);
    }

    #[test]
    fn a_drop_of_memcached_tcp_alone_leaves_the_udp_reflector_open() {
        use crate::audit::rules::UdpFirewall;
        let mut tcp = target("0.0.0.0", 11211);
        tcp.owners[0].name = "memcached".into();
        tcp.owners[0].cmdline =
            "memcached -U 11212 -l 0.0.0.0".split(' ').map(str::to_string).collect();
        let seen = outcome("memcached", vec![]);
        let mut ctx = context(&tcp, Some(&seen));
        ctx.firewall = Verdict::Blocked;
        ctx.firewall_text = "iptables input policy accept, but a rule drops tcp port 11211";
        ctx.memcached_udp = Some(UdpFirewall {
            port: 11212,
            verdict: Verdict::Admitted,
            text: "iptables input policy accept".into(),
        });
        assert!(ctx.reachable_from_network());
        let finding = &check(&ctx)[0];
        assert_eq!(finding.severity, Severity::High, "{}", finding.evidence);
        assert!(
            finding.evidence.contains(
                "for udp port 11212: iptables input policy accept: other devices can connect"
            ),
            "{}",
            finding.evidence
        );
        // Only the open UDP port is left to drop.
        assert!(
            finding.fix.ends_with("`iptables -I INPUT ! -i lo -p udp --dport 11212 -j DROP`"),
            "{}",
            finding.fix
        );
        // Both dropped: blocked, and nothing left to drop.
        ctx.memcached_udp = Some(UdpFirewall {
            port: 11212,
            verdict: Verdict::Blocked,
            text: "iptables input policy accept, but a rule drops udp port 11212".into(),
        });
        assert!(!ctx.reachable_from_network());
        let finding = &check(&ctx)[0];
        assert_eq!(finding.severity, Severity::Low, "{}", finding.evidence);
        assert!(!finding.fix.contains("iptables"), "{}", finding.fix);
        // Neither dropped yet: one nft script drops both.
        ctx.firewall = Verdict::Admitted;
        ctx.firewall_text = "nftables input policy accept";
        ctx.memcached_udp = Some(UdpFirewall {
            port: 11212,
            verdict: Verdict::Admitted,
            text: "nftables input policy accept".into(),
        });
        let finding = &check(&ctx)[0];
        assert!(finding.fix.contains("insert rule inet filter input iifname != \"lo\" tcp dport 11211 drop; insert rule inet filter input iifname != \"lo\" udp dport 11212 drop'`"), "{}", finding.fix);
    }
}
