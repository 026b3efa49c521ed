//! `trust-auth` (`--active`): PostgreSQL logged in `postgres`, its
//! superuser, without a password — a `trust` line in pg_hba.conf. A
//! superuser can run programs as the server's user (`COPY … FROM PROGRAM`).

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::TrustAuth { evidence, loopback_only } => Some(context.finding(
                RuleId::TrustAuth,
                // Other devices reaching the port meet a password when only
                // loopback is trusted: local users are who get in.
                if context.reachable_from_network() && loopback_only.is_none() {
                    Severity::Critical
                } else {
                    Severity::High
                },
                match loopback_only {
                    Some(network) => format!("{evidence}; {network}"),
                    None => evidence.clone(),
                },
                "replace `trust` with `scram-sha-256` on the `host` lines of pg_hba.conf (`SHOW hba_file;`), set a password, then `SELECT pg_reload_conf();`".into(),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn trust_on_loopback_is_high() {
        let target = target("127.0.0.1", 5432);
        let seen = outcome(
            "postgresql",
            vec![Observation::TrustAuth {
                evidence: "AuthenticationOk".into(),
                loopback_only: None,
            }],
        );
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::High);
    }

    #[test]
    fn trust_for_loopback_clients_only_is_high_on_an_exposed_port() {
        let target = target("0.0.0.0", 5432);
        let trusted = |loopback_only: Option<&str>| {
            outcome(
                "postgresql",
                vec![Observation::TrustAuth {
                    evidence: "AuthenticationOk".into(),
                    loopback_only: loopback_only.map(str::to_string),
                }],
            )
        };
        let mut exposed = context(&target, None);
        exposed.firewall = crate::audit::firewall::Verdict::Admitted;
        let everyone = trusted(None);
        exposed.outcome = Some(&everyone);
        assert_eq!(check(&exposed)[0].severity, Severity::Critical);
        let loopback = trusted(Some("from 10.0.0.5 a password is asked"));
        exposed.outcome = Some(&loopback);
        let finding = &check(&exposed)[0];
        assert_eq!(finding.severity, Severity::High);
        assert!(finding.evidence.ends_with("; from 10.0.0.5 a password is asked"));
    }
}
