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
            Observation::TrustAuth { evidence } => Some(context.finding(
                RuleId::TrustAuth,
                if context.reachable_from_network() { Severity::Critical } else { Severity::High },
                evidence.clone(),
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
            vec![Observation::TrustAuth { evidence: "AuthenticationOk".into() }],
        );
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::High);
    }
}
