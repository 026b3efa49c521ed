//! Resolution of parsed arguments into validated settings: ports, states and
//! endpoints are parsed here, defaults applied, and every flag destructured
//! so a new one cannot be forgotten.

use anyhow::{bail, Context};

use crate::cli::args::{LsArgs, NetnsArg, ScopeArg, WhoArgs};
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
}
