//! Java debug wire protocol: the handshake is the 14 ASCII bytes
//! `JDWP-Handshake`, echoed by the JVM. Whoever completes it can run code in
//! the JVM; there is no authentication.
//! See: <https://docs.oracle.com/javase/8/docs/technotes/guides/jpda/jdwp-spec.html>

use std::net::SocketAddr;

use super::conn::{Conn, Deadline};
use super::{Observation, Outcome};

pub const HANDSHAKE: &[u8] = b"JDWP-Handshake";

pub fn probe(address: SocketAddr, deadline: &Deadline, outcome: &mut Outcome) {
    outcome.probes.push("jdwp handshake".into());
    let Ok(mut conn) = Conn::plain(address, deadline) else { return };
    if conn.send(HANDSHAKE, deadline).is_err() {
        return;
    }
    let (reply, _) = conn.receive(deadline, None, |b| b.len() >= HANDSHAKE.len());
    if reply.starts_with(HANDSHAKE) {
        outcome.service = Some("jdwp".into());
        outcome.observations.push(Observation::Debugger {
            kind: "JDWP (Java debugger)".into(),
            evidence: "sent JDWP-Handshake → JDWP-Handshake".into(),
            fix: "remove -agentlib:jdwp from the JVM options, or use address=127.0.0.1:PORT only while debugging".into(),
        });
    }
}
