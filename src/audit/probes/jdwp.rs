//! Java debug wire protocol: the handshake is the 14 ASCII bytes
//! `JDWP-Handshake`, echoed by the JVM. Whoever completes it can run code in
//! the JVM; there is no authentication.
//! See: <https://docs.oracle.com/javase/8/docs/technotes/guides/jpda/jdwp-spec.html>

use std::net::SocketAddr;

use super::conn::{Conn, Deadline};
use super::{Observation, Outcome};

pub const HANDSHAKE: &[u8] = b"JDWP-Handshake";

/// The fix shared by both ways of finding the agent (the rule names the
/// real option when the owner's command line has it).
const FIX: &str = "remove -agentlib:jdwp from the JVM options";

/// Shakes hands: 14 bytes out, the same 14 back, then a close, which the
/// agent takes as a debugger that came and went (it logs nothing).
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
            fix: FIX.into(),
        });
    }
}

/// A JDWP agent on a port the JVM picked, known from the owner's command
/// line and the backlog of one its transport listens with. It is not
/// connected to: the agent stops listening on each accept and listens
/// again on a new port, so even a handshake would move it away from the
/// port it printed for the developer's debugger.
pub fn picked_port(outcome: &mut Outcome) {
    outcome.probes.push("none (JDWP on a port the JVM picked)".into());
    outcome.service = Some("jdwp".into());
    outcome.observations.push(Observation::Debugger {
        kind: "JDWP (Java debugger)".into(),
        evidence: "the JVM runs a JDWP agent on a port of its choosing (address=…:0 or none), and this listener has the agent's backlog of 1; not connected to, since every connection makes the agent listen on a new port".into(),
        fix: FIX.into(),
    });
}
