//! Resolution of parsed arguments into validated settings: ports, states and
//! endpoints are parsed here, defaults applied, and every flag destructured
//! so a new one cannot be forgotten.

use anyhow::{bail, Context};

use crate::cli::args::{AuditArgs, LsArgs, NetnsArg, ScopeArg, WhoArgs};
use crate::inventory::{NamespaceSelection, PortSet, Query};
use crate::model::SocketState;
use crate::render::Format;
use crate::target::Endpoint;

/// Which bind scopes `ls` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeFilter {
    Loopback,
    Exposed,
    Wildcard,
    Specific,
}

/// Everything `porthole ls` needs, validated.
#[derive(Debug, Clone)]
pub struct LsSettings {
    pub query: Query,
    pub pid: Option<u32>,
    pub process_name: Option<String>,
    pub scope: Option<ScopeFilter>,
    pub state: Option<SocketState>,
    pub format: Format,
    /// Show full command lines.
    pub long: bool,
}

impl LsSettings {
    pub fn resolve(args: LsArgs) -> anyhow::Result<Self> {
        let LsArgs {
            all,
            tcp,
            udp,
            unix,
            ipv4,
            ipv6,
            port,
            pid,
            process,
            scope,
            state,
            netns,
            no_owners,
            long,
            json,
            jsonl,
        } = args;
        let any_protocol = tcp || udp || unix;
        let ports = port
            .as_deref()
            .map(|text| PortSet::parse(text).with_context(|| format!("--port '{text}'")))
            .transpose()?;
        let state = state
            .as_deref()
            .map(|text| {
                SocketState::parse_user(text).with_context(|| {
                    format!("--state: unknown state '{text}' (expected LISTEN, ESTAB, TIME-WAIT, UNCONN, SYN-SENT, SYN-RECV, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING)")
                })
            })
            .transpose()?;
        let pid = pid.as_deref().map(parse_pid).transpose()?;
        if no_owners && (pid.is_some() || process.is_some()) {
            bail!("--no-owners cannot be combined with --pid or --process");
        }
        // An explicit non-listening state implies --all.
        let listeners_only = !all && state.is_none_or(|s| s == SocketState::Listen);
        let query = Query {
            tcp: !any_protocol || tcp,
            udp: !any_protocol || udp,
            // Unix sockets have no ports, addresses or IP families.
            unix: (!any_protocol || unix) && ports.is_none() && !ipv4 && !ipv6 && scope.is_none(),
            ipv4: !ipv6 || ipv4,
            ipv6: !ipv4 || ipv6,
            listeners_only,
            ports,
            match_remote_port: false,
            owners: !no_owners,
            namespaces: netns_selection(netns),
            backend: Default::default(),
        };
        let scope = scope.map(|s| match s {
            ScopeArg::Loopback => ScopeFilter::Loopback,
            ScopeArg::Exposed => ScopeFilter::Exposed,
            ScopeArg::Wildcard => ScopeFilter::Wildcard,
            ScopeArg::Specific => ScopeFilter::Specific,
        });
        let format = if json {
            Format::Json
        } else if jsonl {
            Format::Jsonl
        } else {
            Format::Table
        };
        Ok(LsSettings { query, pid, process_name: process, scope, state, format, long })
    }
}

/// Everything `porthole PORT` needs, validated.
#[derive(Debug, Clone)]
pub struct WhoSettings {
    pub endpoint: Endpoint,
    pub tcp: bool,
    pub udp: bool,
    pub namespaces: NamespaceSelection,
    pub format: Format,
}

impl WhoSettings {
    pub fn resolve(args: WhoArgs) -> anyhow::Result<Self> {
        let WhoArgs { endpoint, tcp, udp, netns, json } = args;
        let parsed = Endpoint::parse(&endpoint).with_context(|| format!("'{endpoint}'"))?;
        Ok(WhoSettings {
            endpoint: parsed,
            tcp: tcp || !udp,
            udp: udp || !tcp,
            namespaces: netns_selection(netns),
            format: if json { Format::Json } else { Format::Table },
        })
    }
}

pub fn netns_selection(netns: NetnsArg) -> NamespaceSelection {
    match netns {
        NetnsArg::Current => NamespaceSelection::Current,
        NetnsArg::All => NamespaceSelection::All,
    }
}

/// Parses a pid (a positive decimal number).
pub fn parse_pid(text: &str) -> anyhow::Result<u32> {
    match text.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => bail!("'{text}' is not a process id"),
    }
}

/// Everything `porthole audit` needs, validated.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub query: Query,
    pub timeout: std::time::Duration,
    pub active: bool,
    pub skip: std::collections::BTreeSet<crate::model::RuleId>,
    /// `None`: never fail because of findings.
    pub fail_on: Option<crate::model::Severity>,
    pub format: crate::render::audit::AuditFormat,
}

impl AuditSettings {
    pub fn resolve(args: AuditArgs) -> anyhow::Result<Self> {
        use crate::model::{RuleId, Severity};
        use crate::render::audit::AuditFormat;
        let AuditArgs { port, active, skip, fail_on, timeout, netns, json, sarif } = args;
        let ports = port
            .as_deref()
            .map(|text| PortSet::parse(text).with_context(|| format!("--port '{text}'")))
            .transpose()?;
        let skip = skip
            .iter()
            .map(|name| {
                RuleId::parse(name).with_context(|| {
                    let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                    format!("--skip: unknown rule '{name}' (known: {})", known.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let fail_on = match fail_on.as_deref().map(str::trim) {
            None => Some(Severity::High),
            Some("never" | "none") => None,
            Some(text) => Some(Severity::parse(text).with_context(|| {
                format!("--fail-on: unknown severity '{text}' (expected critical, high, medium, low, info or never)")
            })?),
        };
        let timeout =
            parse_probe_timeout(&timeout).with_context(|| format!("--timeout '{timeout}'"))?;
        let query = Query {
            tcp: true,
            udp: true,
            // Unix sockets have no ports: only audited without --port.
            unix: ports.is_none(),
            ipv4: true,
            ipv6: true,
            listeners_only: true,
            ports,
            match_remote_port: false,
            owners: true,
            namespaces: netns_selection(netns),
            backend: Default::default(),
        };
        let format = if json {
            AuditFormat::Json
        } else if sarif {
            AuditFormat::Sarif
        } else {
            AuditFormat::Table
        };
        Ok(AuditSettings { query, timeout, active, skip, fail_on, format })
    }
}

/// Parses a probe timeout: `2s`, `500ms`, `1.5` (seconds); 10 ms to 10 min.
pub fn parse_probe_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 =
        number.trim().parse().map_err(|_| anyhow::anyhow!("not a duration (try 2s or 500ms)"))?;
    let seconds = value * scale;
    if !(0.01..=600.0).contains(&seconds) {
        bail!("must be between 10ms and 10m");
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn ls(args: &[&str]) -> anyhow::Result<LsSettings> {
        let mut full = vec!["porthole", "ls"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Ls(args) => LsSettings::resolve(args),
            _ => unreachable!("parsed an ls command"),
        }
    }

    #[test]
    fn defaults_list_listeners_of_every_protocol() {
        let settings = ls(&[]).unwrap();
        assert!(settings.query.tcp && settings.query.udp && settings.query.unix);
        assert!(settings.query.listeners_only);
        assert!(settings.query.owners);
    }

    #[test]
    fn filters_narrow_the_query() {
        let settings = ls(&["--tcp", "-4", "--port", "80,443"]).unwrap();
        assert!(settings.query.tcp && !settings.query.udp && !settings.query.unix);
        assert!(settings.query.ipv4 && !settings.query.ipv6);
        assert!(settings.query.ports.unwrap().contains(443));
        let settings = ls(&["--state", "time-wait"]).unwrap();
        assert!(!settings.query.listeners_only);
        assert_eq!(settings.state, Some(SocketState::TimeWait));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let message = format!("{:#}", ls(&["--port", "abc"]).unwrap_err());
        assert!(message.contains("--port 'abc'"), "{message}");
        assert!(format!("{:#}", ls(&["--port", "9-1"]).unwrap_err()).contains("reversed"));
        assert!(format!("{:#}", ls(&["--state", "nope"]).unwrap_err()).contains("unknown state"));
        assert!(format!("{:#}", ls(&["--pid", "x"]).unwrap_err()).contains("not a process id"));
        assert!(ls(&["-4", "-6"]).is_err());
    }

    fn audit(args: &[&str]) -> anyhow::Result<AuditSettings> {
        let mut full = vec!["porthole", "audit"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            crate::cli::Command::Audit(args) => AuditSettings::resolve(args),
            _ => unreachable!("parsed an audit command"),
        }
    }

    #[test]
    fn audit_flags_resolve() {
        let settings = audit(&[]).unwrap();
        assert_eq!(settings.fail_on, Some(crate::model::Severity::High));
        assert_eq!(settings.timeout, std::time::Duration::from_secs(2));
        assert!(settings.query.unix && settings.query.listeners_only);
        let settings = audit(&[
            "--port",
            "6379",
            "--skip",
            "no-auth",
            "--fail-on",
            "never",
            "--timeout",
            "500ms",
        ])
        .unwrap();
        assert!(!settings.query.unix);
        assert!(settings.skip.contains(&crate::model::RuleId::NoAuth));
        assert_eq!(settings.fail_on, None);
        assert_eq!(settings.timeout, std::time::Duration::from_millis(500));
        let message = format!("{:#}", audit(&["--skip", "nope"]).unwrap_err());
        assert!(message.contains("unknown rule 'nope'"), "{message}");
        assert!(audit(&["--fail-on", "severe"]).is_err());
        assert!(audit(&["--timeout", "0s"]).is_err());
        assert!(audit(&["--json", "--sarif"]).is_err());
    }
}
