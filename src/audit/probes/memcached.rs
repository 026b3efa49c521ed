//! memcached: `version` in the ASCII protocol. ASCII has no authentication
//! unless memcached runs with `-Y`, so an answer means anyone can read and
//! overwrite the cache.

use std::net::SocketAddr;

use super::conn::{abbreviate, Conn, Deadline};
use super::{Impact, Observation, Outcome};

pub const VERSION: &[u8] = b"version\r\n";

pub fn probe(address: SocketAddr, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("memcached version".into());
    let Ok(mut conn) = Conn::plain(address, deadline) else { return };
    if conn.send(VERSION, deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, |b| b.ends_with(b"\r\n"));
    let shown = abbreviate(&reply, 60);
    if let Some(rest) = reply.strip_prefix(b"VERSION ") {
        outcome.service = Some("memcached".into());
        outcome.version = Some(String::from_utf8_lossy(rest).trim().to_string());
        outcome.observations.push(Observation::NoAuth {
            evidence: format!("sent version → {shown} (ASCII protocol, no authentication)"),
            // Binding and UDP advice depend on how it runs: the rules add
            // them from the listener and the command line.
            fix: "enable SASL (`-S`) or ASCII authentication (`-Y FILE`) in memcached's options"
                .into(),
            impact: Impact::Control,
        });
    } else if reply.starts_with(b"CLIENT_ERROR") || reply.starts_with(b"ERROR") {
        outcome.service = Some("memcached".into());
        outcome
            .observations
            .push(Observation::AuthRequired { evidence: format!("sent version → {shown}") });
    }
}
