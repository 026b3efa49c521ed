//! `dns-rebinding`: an HTTP service answered a foreign `Host` exactly as it
//! answers `127.0.0.1`, so a web page whose name re-resolves to 127.0.0.1
//! can read it. Worse when the service also lets anyone in.
//! See: <https://green.sapphi.red/blog/local-server-security-best-practices>

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::Rebindable { evidence } => {
                let severity = if context.has_open_door() { Severity::High } else { Severity::Medium };
                let fix = format!(
                    "reject requests whose Host is not localhost, 127.0.0.1:{port} or [::1]:{port} (webpack `allowedHosts`, Vite `server.allowedHosts`, Django `ALLOWED_HOSTS`), or require a token",
                    port = context.target.port
                );
                Some(context.finding(RuleId::DnsRebinding, severity, evidence.clone(), fix))
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
    fn rebindable_http_is_medium() {
        let target = target("127.0.0.1", 8000);
        let seen = outcome("http", vec![Observation::Rebindable { evidence: "same".into() }]);
        let findings = check(&context(&target, Some(&seen)));
        assert_eq!(findings[0].severity, Severity::Medium);
        assert!(findings[0].fix.contains("127.0.0.1:8000"));
    }
}
