//! Output of `porthole free`: the ports, one per line (so `$(porthole
//! free)` works), or one JSON object with the conditions that were checked.

use std::io::Write;

use serde::Serialize;

use crate::model::allocation::{Found, Skip};
use crate::model::termination::AsRoot;
use crate::render::Format;

/// What one `free` run found, for the renderer.
#[derive(Debug)]
pub struct FreeReport<'a> {
    pub found: &'a Found,
    pub requested: usize,
    pub name: Option<&'a str>,
    pub prefer: Option<u16>,
    /// `--udp`: the holder keeps the UDP port too.
    pub hold_udp: bool,
    pub holder_pid: Option<u32>,
    pub hold: Option<std::time::Duration>,
    /// What runs a command where the ports were searched: empty in the
    /// caller's namespace, `ip netns exec NAME ` with `--netns`.
    pub command_prefix: &'a str,
    /// How this caller runs the `sysctl -w` lines as root.
    pub as_root: AsRoot,
}

/// `porthole free --json`.
#[derive(Debug, Serialize)]
pub struct FreeRecord {
    pub schema_version: u32,
    pub ports: Vec<u16>,
    /// The first port (`null` when none was found), for `jq .port`.
    pub port: Option<u16>,
    pub requested: usize,
    pub range: [u16; 2],
    /// Where the search started: the preferred port, the name's hash or a
    /// random point.
    pub start: u16,
    pub name: Option<String>,
    pub prefer: Option<u16>,
    pub preferred_free: Option<bool>,
    /// Protocols each port was checked free for: always TCP and UDP.
    pub protocols: Vec<&'static str>,
    /// Addresses each port was test-bound on.
    pub checked_addresses: Vec<&'static str>,
    /// False when IPv6 is disabled and `::`/`::1` were skipped.
    pub ipv6_checked: bool,
    pub ephemeral_range: Option<[u16; 2]>,
    /// `net.ipv4.ip_unprivileged_port_start` when this user may not bind
    /// the ports below it (`null`: it may, e.g. as root).
    pub unprivileged_port_start: Option<u16>,
    pub skipped: usize,
    /// How many candidates were passed over per reason.
    pub skipped_because: std::collections::BTreeMap<&'static str, usize>,
    /// Why the preferred port was not returned (`null` when it was, or
    /// without `--prefer`).
    pub preferred_skip: Option<String>,
    pub holder_pid: Option<u32>,
    pub hold_seconds: Option<f64>,
    /// Protocols the holder keeps bound (`null` without a holder): TCP,
    /// and UDP with `--udp`.
    pub held_protocols: Option<Vec<&'static str>>,
    /// When too few ports were found: a `--range` in which a search under
    /// the same rules found enough (`null`: none, or none was needed).
    pub other_range: Option<[u16; 2]>,
    /// When too few ports were found: the `ip_local_reserved_ports` value
    /// that frees the range, checked by a search under it (`null`: none).
    pub release_reserved_ports: Option<String>,
}

impl FreeRecord {
    pub fn from_report(report: &FreeReport<'_>) -> Self {
        let found = report.found;
        let mut checked = vec!["0.0.0.0"];
        if found.ipv4_loopback_checked {
            checked.push("127.0.0.1");
        }
        if found.ipv6_checked {
            checked.push("::");
        }
        if found.ipv6_loopback_checked {
            checked.push("::1");
        }
        FreeRecord {
            schema_version: crate::render::json::SCHEMA_VERSION,
            ports: found.ports.clone(),
            port: found.ports.first().copied(),
            requested: report.requested,
            range: [found.range.0, found.range.1],
            start: found.start,
            name: report.name.map(str::to_string),
            prefer: report.prefer,
            preferred_free: report.prefer.map(|p| found.ports.first() == Some(&p)),
            protocols: vec!["tcp", "udp"],
            checked_addresses: checked,
            ipv6_checked: found.ipv6_checked,
            ephemeral_range: found.ephemeral.map(|(low, high)| [low, high]),
            unprivileged_port_start: found.privileged_below,
            skipped: found.skipped,
            skipped_because: found.skipped_because.clone(),
            preferred_skip: found.preferred_skip.as_ref().map(Skip::describe),
            holder_pid: report.holder_pid,
            hold_seconds: report.hold.map(|d| d.as_secs_f64()),
            held_protocols: report.holder_pid.map(|_| {
                if report.hold_udp {
                    vec!["tcp", "udp"]
                } else {
                    vec!["tcp"]
                }
            }),
            other_range: found.elsewhere.map(|(low, high)| [low, high]),
            release_reserved_ports: found.release_reserved.as_ref().map(ToString::to_string),
        }
    }
}

/// One line explaining why fewer ports than asked were found: how many
/// candidates each reason removed (the sysctls with their values), and the
/// ways out the search checked ([`Found::elsewhere`],
/// [`Found::release_reserved`]), as options and commands that run as
/// printed.
pub fn shortage_message(report: &FreeReport<'_>) -> String {
    let found = report.found;
    let (low, high) = found.range;
    let mut message =
        format!("found {} of {} free port(s) in {low}-{high}", found.ports.len(), report.requested);
    // The lowest port worth suggesting: 1024, or higher when this user may
    // not bind the ports below ip_unprivileged_port_start.
    let floor = found.privileged_below.map_or(1024, |start| start.max(1024));
    let no_room_at_all = found
        .ephemeral
        .is_some_and(|(e_low, e_high)| outside_ephemeral(e_low, e_high, floor).is_none());
    if found.range_all_ephemeral {
        if let Some((e_low, e_high)) = found.ephemeral {
            message.push_str(&format!(
                " (the whole range is inside ip_local_port_range {e_low}-{e_high}; "
            ));
            message.push_str(&match found.elsewhere {
                Some((gap_low, gap_high)) => {
                    format!("ports outside it: --range {gap_low}-{gap_high})")
                }
                None if no_room_at_all => format!("{})", no_room("it", report)),
                None => "no other range has a free port either)".to_string(),
            });
            return message;
        }
    }
    // Without the reasons "found 0" gives nothing to act on.
    if !found.skipped_because.is_empty() {
        let mut reasons: Vec<(&&str, &usize)> = found.skipped_because.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let reasons: Vec<String> = reasons
            .iter()
            .map(|(reason, count)| format!("{} ({count})", reason_with_value(reason, found)))
            .collect();
        message.push_str(&format!("; passed over: {}", reasons.join(", ")));
    }
    if let (Some(prefer), Some(skip)) = (report.prefer, &found.preferred_skip) {
        message.push_str(&format!("; {prefer}: {}", skip.describe()));
    }
    let mut range_said = false;
    // Ports were passed over for want of privilege: where this user's are.
    if let (Some(start), true) = (
        found.privileged_below,
        found.skipped_because.contains_key(Skip::Privileged { start: 0 }.category()),
    ) {
        message.push_str(&format!(
            "; this user may bind ports from {start} up (net.ipv4.ip_unprivileged_port_start)"
        ));
        // Ports passed over as ephemeral get the same range below.
        let ephemeral_advice = found.skipped_because.contains_key(Skip::Ephemeral.category());
        if let (Some((gap_low, gap_high)), false) = (found.elsewhere, ephemeral_advice) {
            message.push_str(&format!(": --range {gap_low}-{gap_high}"));
            range_said = true;
        }
    }
    // Ports were passed over for being ephemeral: say where the others are.
    if let (Some((e_low, e_high)), true) =
        (found.ephemeral, found.skipped_because.contains_key(Skip::Ephemeral.category()))
    {
        match found.elsewhere {
            Some((gap_low, gap_high)) => {
                message.push_str(&format!(
                    "; ports outside ip_local_port_range: --range {gap_low}-{gap_high}"
                ));
                range_said = true;
            }
            None if no_room_at_all => message.push_str(&format!(
                "; {}",
                no_room(&format!("ip_local_port_range {e_low}-{e_high}"), report)
            )),
            None => {}
        }
    }
    if let (Some((gap_low, gap_high)), false) = (found.elsewhere, range_said) {
        message.push_str(&format!("; free ports elsewhere: --range {gap_low}-{gap_high}"));
    }
    // Last, so the command ends the line.
    if let Some(released) = &found.release_reserved {
        let sysctl = format!(
            "sysctl -w net.ipv4.ip_local_reserved_ports={}",
            crate::shell::word(&released.to_string())
        );
        message.push_str(&format!(
            "; to use {low}-{high}, release its reserved ports{}",
            root_line(report, &sysctl)
        ));
    }
    message
}

/// A reason as counted, with the sysctl value behind it where it has one,
/// so the user sees which setting removed the ports.
fn reason_with_value(reason: &str, found: &Found) -> String {
    match (&found.reserved, found.ephemeral) {
        (Some(reserved), _) if reason == Skip::Reserved.category() => {
            format!("{reason} {reserved}")
        }
        (_, Some((low, high))) if reason == Skip::Ephemeral.category() => {
            format!("{reason} {low}-{high}")
        }
        _ => reason.to_string(),
    }
}

/// The larger run of ports from `floor` (1024, or this user's
/// `ip_unprivileged_port_start`) to 65535 outside the ephemeral range
/// `low`-`high`, if any.
fn outside_ephemeral(low: u16, high: u16, floor: u16) -> Option<(u16, u16)> {
    let below = (low > floor).then(|| (floor, low - 1));
    let above = (high < u16::MAX).then(|| (high.saturating_add(1).max(floor), u16::MAX));
    [below, above]
        .into_iter()
        .flatten()
        .filter(|(from, to)| from <= to)
        .max_by_key(|(from, to)| to - from)
}

/// The advice when the ephemeral range covers every unprivileged port:
/// no port is safe from outbound connections until it is narrowed.
fn no_room(subject: &str, report: &FreeReport<'_>) -> String {
    format!(
        "{subject} covers every unprivileged port, so any port may be taken \
         by an outbound connection; narrow it, e.g. to the kernel's default{}",
        root_line(report, "sysctl -w net.ipv4.ip_local_port_range='32768 60999'")
    )
}

/// `: COMMAND` run where the ports were searched, as this caller runs it as
/// root (`sudo …`, `su -c '…'`); ` as root: COMMAND` when neither is here.
fn root_line(report: &FreeReport<'_>, command: &str) -> String {
    let line = report.as_root.wrap(&format!("{}{command}", report.command_prefix));
    match report.as_root {
        AsRoot::Unknown => format!(" as root: {line}"),
        _ => format!(": {line}"),
    }
}

/// Writes the ports one per line, or the JSON object.
pub fn write_found(
    out: &mut dyn Write,
    report: &FreeReport<'_>,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json | Format::Jsonl => {
            crate::render::sanitize::write_json_pretty(
                &mut *out,
                &FreeRecord::from_report(report),
            )?;
            writeln!(out)
        }
        Format::Table => {
            for port in &report.found.ports {
                writeln!(out, "{port}")?;
            }
            Ok(())
        }
    }
}
