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
                    "reject requests whose Host is not one of the server's own names ({}) (webpack `allowedHosts`, Vite `server.allowedHosts`, Django `ALLOWED_HOSTS`), or require a token",
                    own_names(context).join(", ")
                );
                Some(context.finding(RuleId::DnsRebinding, severity, evidence.clone(), fix))
            }
            _ => None,
        })
        .collect()
}

/// The `Host` values the server should accept: `localhost:PORT` and the
/// address it was probed on (the bound address, or loopback for a
/// wildcard), plus the other loopback literal for a wildcard.
fn own_names(context: &Context<'_>) -> Vec<String> {
    let port = context.target.port;
    let mut names = vec![format!("localhost:{port}")];
    if let Some(probed) = context.target.connect {
        names.push(crate::audit::probes::http::local_host(probed));
    }
    if context.target.scope == crate::model::Scope::Wildcard {
        for loopback in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
            if !names.contains(&loopback) {
                names.push(loopback);
            }
        }
    }
    names
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
        assert!(findings[0].fix.contains("localhost:8000"));
    }

    #[test]
    fn the_allow_list_names_the_address_probed() {
        for (address, probed) in [
            ("192.0.2.2", "192.0.2.2:8000"),
            ("::1", "[::1]:8000"),
            ("127.0.0.2", "127.0.0.2:8000"),
        ] {
            let mut target = target(address, 8000);
            target.connect = Some(probed.parse().unwrap());
            let seen = outcome("http", vec![Observation::Rebindable { evidence: "same".into() }]);
            let fix = &check(&context(&target, Some(&seen)))[0].fix;
            assert!(fix.contains(probed), "{address}: {fix}");
            assert!(!fix.contains("127.0.0.1:8000"), "{address}: {fix}");
        }
    }
}
