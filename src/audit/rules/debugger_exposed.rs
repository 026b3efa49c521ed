//! `debugger-exposed`: a Node.js inspector, Chrome DevTools endpoint or JDWP
//! port answered. None of them has authentication: connecting is running
//! code in the process.

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::Debugger { kind, evidence, fix } => {
                let severity = if context.reachable_from_network() {
                    Severity::Critical
                } else {
                    Severity::High
                };
                let fix =
                    if kind == "Node.js inspector" { node_fix(context, fix) } else { fix.clone() };
                Some(context.finding(
                    RuleId::DebuggerExposed,
                    severity,
                    format!("{kind}: {evidence}"),
                    fix,
                ))
            }
            _ => None,
        })
        .collect()
}

/// "Start node without --inspect" sends the reader to a command line that
/// may not have it: `NODE_OPTIONS=--inspect` in the environment, or
/// `SIGUSR1` (which turns the inspector on in a running process), leave no
/// trace there. Then the fix says where to look, with the real pid.
fn node_fix(context: &Context<'_>, fix: &str) -> String {
    let owners = &context.target.owners;
    let flagged = owners.iter().any(|p| p.cmdline.iter().any(|a| a.starts_with("--inspect")));
    match owners.first() {
        Some(owner) if !flagged && !owner.cmdline.is_empty() => format!(
            "its command line has no --inspect: the inspector comes from NODE_OPTIONS in its environment (`tr '\\0' '\\n' < /proc/{pid}/environ | grep NODE_OPTIONS`) or was turned on at run time (SIGUSR1); restart it without them",
            pid = owner.pid
        ),
        _ => fix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn inspector_on_loopback_is_high() {
        let target = target("127.0.0.1", 9229);
        let seen = outcome(
            "node-inspector",
            vec![Observation::Debugger {
                kind: "Node.js inspector".into(),
                evidence: "200".into(),
                fix: "no --inspect".into(),
            }],
        );
        let finding = &check(&context(&target, Some(&seen)))[0];
        assert_eq!(finding.severity, Severity::High);
        // `server --flag`: no --inspect on the command line.
        assert!(finding.fix.contains("`tr '\\0' '\\n' < /proc/42/environ | grep NODE_OPTIONS`"));
        let mut flagged = target.clone();
        flagged.owners[0].cmdline = vec!["node".into(), "--inspect=127.0.0.1:9229".into()];
        assert_eq!(check(&context(&flagged, Some(&seen)))[0].fix, "no --inspect");
    }
}
