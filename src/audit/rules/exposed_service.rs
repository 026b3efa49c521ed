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
    let private = context.service_name().is_some_and(|s| PRIVATE_SERVICES.contains(&s))
        || context.has_open_door();
    let mut severity = if private { Severity::Medium } else { Severity::Low };
    let reach = match context.firewall {
        Verdict::Admitted => format!("{}: other devices can connect", context.firewall_text),
        Verdict::Blocked => {
            severity = severity.lowered();
            format!("{}: other devices are likely blocked", context.firewall_text)
        }
        Verdict::Unknown => format!("firewall unknown ({})", context.firewall_text),
    };
    let evidence = format!(
        "{} listens on {} ({}); {reach}",
        context.target.protocol,
        context.endpoint(),
        scope_words(context)
    );
    let mut fix = bind_fix(context.service_name(), context.target.port, &context.endpoint());
    if context.firewall != Verdict::Blocked {
        fix.push_str(&format!(
            "; or drop it at the firewall: `nft add rule inet filter input {} dport {} drop`",
            context.target.protocol, context.target.port
        ));
    }
    vec![context.finding(RuleId::ExposedService, severity, evidence, fix)]
}

fn scope_words(context: &Context<'_>) -> &'static str {
    match context.target.scope {
        crate::model::Scope::Wildcard => "every interface",
        _ => "a non-loopback address",
    }
}

/// The configuration change that binds a service to loopback; `bound` is
/// the current `ADDRESS:PORT`.
pub fn bind_fix(service: Option<&str>, port: u16, bound: &str) -> String {
    match service {
        Some("redis" | "valkey") => {
            "set `bind 127.0.0.1 -::1` and `protected-mode yes` in redis.conf".into()
        }
        Some("memcached") => {
            "run memcached with `-l 127.0.0.1` (Debian: /etc/memcached.conf)".into()
        }
        Some("postgresql") => "set `listen_addresses = 'localhost'` in postgresql.conf".into(),
        Some("mysql" | "mariadb") => "set `bind-address = 127.0.0.1` under [mysqld]".into(),
        Some("mongodb") => "set `net.bindIp: 127.0.0.1` in mongod.conf".into(),
        Some("node-inspector") => format!("use `--inspect=127.0.0.1:{port}`"),
        Some("elasticsearch") => "set `network.host: 127.0.0.1` in elasticsearch.yml".into(),
        Some("docker") => {
            format!("remove `-H tcp://{bound}` from dockerd; use the Unix socket or ssh://")
        }
        Some("jupyter") => "start Jupyter with `--ip=127.0.0.1`".into(),
        _ => format!("bind to 127.0.0.1:{port} instead of {bound}"),
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
}
