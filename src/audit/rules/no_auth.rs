//! `no-auth`: the probe read data (or could have written it) without any
//! credentials. Unauthenticated and reachable from other devices is
//! critical; on loopback every local user and process (and, through DNS
//! rebinding or SSRF, web pages) still gets in, which is high.

use super::Context;
use crate::audit::probes::{Impact, Observation};
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::NoAuth { evidence, fix, impact } => {
                let severity = match (impact, context.reachable_from_network()) {
                    (Impact::Control, true) => Severity::Critical,
                    (Impact::Control, false) => Severity::High,
                    (Impact::Information, true) => Severity::Medium,
                    (Impact::Information, false) => Severity::Low,
                };
                Some(context.finding(RuleId::NoAuth, severity, evidence.clone(), fix.clone()))
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
    fn exposed_and_open_is_critical() {
        let open = outcome(
            "redis",
            vec![Observation::NoAuth {
                evidence: "PING → +PONG".into(),
                fix: "requirepass".into(),
                impact: Impact::Control,
            }],
        );
        let local = target("127.0.0.1", 6379);
        assert_eq!(check(&context(&local, Some(&open)))[0].severity, Severity::High);
        let wide = target("0.0.0.0", 6379);
        assert_eq!(check(&context(&wide, Some(&open)))[0].severity, Severity::Critical);
        let closed =
            outcome("redis", vec![Observation::AuthRequired { evidence: "NOAUTH".into() }]);
        assert!(check(&context(&wide, Some(&closed))).is_empty());
    }
}
