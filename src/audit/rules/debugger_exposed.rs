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
                Some(context.finding(
                    RuleId::DebuggerExposed,
                    severity,
                    format!("{kind}: {evidence}"),
                    fix.clone(),
                ))
            }
            _ => None,
        })
        .collect()
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
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::High);
    }
}
