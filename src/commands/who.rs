//! `porthole PORT` / `porthole HOST:PORT`: who holds a port, its clients,
//! and what the number means.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Context;

use crate::cli::args::WhoArgs;
use crate::cli::settings::WhoSettings;
use crate::commands::{ls::report_visibility, warn, ExitStatus};
use crate::diagnose::{self, environment::Client, DiagnoseError};
use crate::inventory::system::{Machine, System};
use crate::inventory::{self, port_report, NamespaceSelection, Query};
use crate::model::port::PortElsewhere;
use crate::render::port::write_report;
use crate::render::Style;
use crate::target::Host;

pub fn run(args: WhoArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let settings = WhoSettings::resolve(args)?;
    let mut name_unresolved = false;
    let (addresses, zone) = match &settings.endpoint.host {
        None => (Vec::new(), None),
        // A connection to 0.0.0.0 or :: goes to the loopback address of
        // its family (Linux `ip_route_connect`, `ip6_datagram_connect`):
        // that is whom it reaches, whatever listens on the wildcard.
        Some(Host::Ip(ip)) if ip.is_unspecified() => (vec![loopback_of(*ip)], None),
        Some(Host::Ip(ip)) => (vec![*ip], None),
        // The kernel binds a socket of a scoped address to its interface,
        // and reports that interface for it.
        Some(Host::Scoped { address, scope_id, .. }) => {
            (vec![std::net::IpAddr::V6(*address)], Some(*scope_id))
        }
        Some(Host::Name(name)) => match resolve(&settings, name)? {
            Ok(addresses) => (addresses, None),
            // `localhost` means the loopback addresses (RFC 6761) even when
            // /etc/hosts lost its line; clients that look it up fail,
            // which is said, but who holds the port is still answered.
            Err(error) if port_report::is_localhost(name) => {
                warn(&format!(
                    "'{name}' does not resolve here ({error}; is its line missing from /etc/hosts?): \
                     clients that look it up fail; showing 127.0.0.1 and ::1, which it means"
                ));
                name_unresolved = true;
                (port_report::loopback_addresses(), None)
            }
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("resolving '{name}'")))
            }
        },
    };
    let query = Query {
        tcp: settings.tcp,
        udp: settings.udp,
        namespaces: settings.namespaces,
        named_namespace: settings.named_namespace.clone(),
        ..Query::for_port(settings.endpoint.port)
    };
    let snapshot = inventory::snapshot(&query).context("listing sockets")?;
    report_visibility(&snapshot);
    // The ephemeral range, the reserved ports and the first unprivileged
    // port are sysctls of each network namespace: with `--netns NAME|PATH`
    // they are read inside that namespace, as its servers and clients see
    // them.
    let port = settings.endpoint.port;
    let meaning = match &settings.named_namespace {
        Some(namespace) => {
            crate::inventory::namespaces::within(namespace, || crate::portinfo::describe(port))
                .context("--netns")?
        }
        None => crate::portinfo::describe(port),
    };
    let mut report =
        port_report::build(settings.endpoint.to_string(), port, addresses, zone, snapshot, meaning);
    report.name_unresolved = name_unresolved;
    report.unspecified =
        matches!(settings.endpoint.host, Some(Host::Ip(ip)) if ip.is_unspecified());
    port_report::attach_peer_servers(&mut report, &query);
    if settings.namespaces == NamespaceSelection::Current {
        // Printed commands call this build of porthole as the user's PATH
        // finds it.
        let program = Machine.porthole_program(crate::sys::executable::Runner::User);
        report.bind_check =
            report.time_wait_ends.first().and_then(|end| end.socket.local).map(|local| {
                let netns = settings.named_namespace.as_ref().map_or_else(String::new, |handle| {
                    format!(" {}", crate::shell::option_with_value("--netns", &handle.path))
                });
                let address = crate::shell::word(&local.to_string()).into_owned();
                format!("{program} check --bind {address}{netns}")
            });
        if !report.is_held() {
            report.elsewhere = listeners_elsewhere(&settings, &program);
        }
    }
    if settings.namespaces == NamespaceSelection::All {
        // Each namespace's rows are explained by its own sysctls.
        let inodes = port_report::other_namespaces_with_rows(&report);
        report.namespace_meanings =
            crate::portinfo::describe_in_namespaces(&report.namespaces, &inodes, port);
    }
    if settings.namespaces == NamespaceSelection::Current
        && report.listeners.iter().any(crate::model::Socket::exposed)
    {
        let assigned = match &settings.named_namespace {
            Some(namespace) => crate::inventory::namespaces::within(namespace, assigned_addresses)
                .context("--netns")?,
            None => assigned_addresses(),
        };
        if let Some(assigned) = assigned {
            report.unassigned = port_report::unassigned_addresses(&report.listeners, &assigned);
            report.only_loopback_addresses =
                assigned.iter().all(|address| crate::model::is_loopback(*address));
        }
    }
    write_report(out, &report, settings.format, Style::detect())?;
    if settings.format == crate::render::Format::Table {
        // The store the recorder writes to (`PORTHOLE_STORE`, or the
        // default file).
        let configured = std::env::var("PORTHOLE_STORE").ok().filter(|s| !s.is_empty());
        let mut unreadable = false;
        // `-t` or `-u` asks about one transport's past as about its present.
        let protocol = match (settings.tcp, settings.udp) {
            (true, false) => Some(crate::model::Protocol::Tcp),
            (false, true) => Some(crate::model::Protocol::Udp),
            _ => None,
        };
        let history = crate::store::local_port_history(
            configured.as_deref(),
            settings.endpoint.port,
            protocol,
        )
        .unwrap_or_else(|error| {
            unreadable = true;
            // The answer about the port stands; the section it
            // would have had is said to be missing, and why.
            let source = if configured.is_some() { " (PORTHOLE_STORE)" } else { "" };
            warn(&format!("no History section{source}: {error}"));
            None
        });
        if history.is_none() && configured.is_none() && !unreadable {
            // A user who is not root reads their own store; the recorder's
            // service writes root's.
            if let Ok(own @ crate::store::StoreLocation::Sqlite(own_path)) =
                &crate::store::StoreLocation::default_for_user()
            {
                if let Some(system) = crate::store::SystemStore::beside(own) {
                    let missing = !own_path.exists();
                    warn(&format!(
                        "no History section: {}",
                        crate::commands::system_store_advice(own_path, missing, &system, false)
                    ));
                }
            }
        }
        if let Some(history) = history {
            let own_namespace = crate::inventory::namespaces::own_inode();
            let only = match (&settings.named_namespace, settings.namespaces) {
                (Some(named), _) => Some(named.inode),
                (None, NamespaceSelection::All) => None,
                (None, NamespaceSelection::Current) => Some(own_namespace),
            };
            // Printed as the user runs it: this build's path, the
            // transport flag typed.
            let program = Machine.porthole_program(crate::sys::executable::Runner::User);
            let flag = match protocol {
                Some(crate::model::Protocol::Tcp) => " -t",
                Some(_) => " -u",
                None => "",
            };
            let everywhere = format!("{program} {} --netns all{flag}", settings.endpoint.port);
            let live = crate::render::history::LiveListeners {
                sockets: &report.listeners,
                own_namespace,
                only,
                everywhere: &everywhere,
            };
            crate::render::history::write_port_history(out, &history, &live, Style::detect())?;
        }
    }
    Ok(if report.is_held() { ExitStatus::Success } else { ExitStatus::Failure })
}

/// The port's listeners in other network namespaces than the one asked
/// about, each with the `porthole PORT --netns ARG` that shows it; none
/// when they cannot be listed (said on stderr), as the answer about the
/// namespace asked about stands.
fn listeners_elsewhere(settings: &WhoSettings, program: &str) -> Vec<PortElsewhere> {
    let request = crate::termination::Request {
        ports: vec![settings.endpoint.port],
        tcp: settings.tcp,
        udp: settings.udp,
        ipv4: true,
        ipv6: true,
        force: false,
        allow_ancestors: false,
        namespaces: settings.namespaces,
        named_namespace: settings.named_namespace.clone(),
    };
    let found = match crate::termination::listeners_elsewhere(&Machine, &request) {
        Ok(found) => found,
        Err(error) => {
            warn(&format!("other network namespaces were not looked in: {error}"));
            return Vec::new();
        }
    };
    let flags = request.flags();
    found
        .into_iter()
        .map(|listener| {
            let command = listener.netns_argument.as_deref().map(|argument| {
                let netns = crate::shell::option_with_value("--netns", argument);
                format!("{program} {} {netns}{flags}", settings.endpoint.port)
            });
            PortElsewhere { listener, command }
        })
        .collect()
}

/// Every address of every interface of the calling thread's namespace;
/// `None` when they cannot be read (no `ip`), and then nothing is said
/// about listeners on addresses no interface has.
fn assigned_addresses() -> Option<Vec<IpAddr>> {
    let interfaces = crate::diagnose::interfaces::read(&Machine)?;
    Some(interfaces.iter().flat_map(|i| i.addresses.iter().map(|(address, _)| *address)).collect())
}

/// Resolves `name` as a client in the namespace asked about resolves it:
/// with `--netns NAME|PATH`, from inside that namespace, through its own
/// `/etc/netns/NAME` files (as `ip netns exec NAME` arranges) and its own
/// network; otherwise here. The outer error is a namespace that could not
/// be entered.
fn resolve(settings: &WhoSettings, name: &str) -> anyhow::Result<std::io::Result<Vec<IpAddr>>> {
    let port = settings.endpoint.port;
    let Some(namespace) = &settings.named_namespace else {
        return Ok(port_report::resolve(name, port));
    };
    let host = Host::Name(name.to_string());
    let resolved = crate::inventory::namespaces::within(namespace, || {
        diagnose::resolve_noting(&Machine, &host, port, Client::Current)
    })
    .context("--netns")?;
    Ok(resolved.map(|(addresses, _)| addresses).map_err(|error| match error {
        DiagnoseError::Resolve { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }))
}

/// The loopback address of `ip`'s family.
fn loopback_of(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    }
}
