//! `outdated-library`: an executable mapping of the serving process points
//! to a deleted or replaced file — typically a shared library updated by
//! the package manager (libssl, libc) while the service kept the old copy.
//! "port 5432 is served by pid 812, whose libssl was replaced: restart it".

use super::Context;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (pid, check) in &context.restart {
        if check.libraries.is_empty() {
            continue;
        }
        let listed: Vec<String> =
            check.libraries.iter().take(4).map(|m| format!("{} ({})", m.path, m.reason)).collect();
        let more = check.libraries.len().saturating_sub(4);
        let mut evidence = format!(
            "port {} is served by pid {pid}, which still maps {}",
            context.target.port,
            listed.join(", ")
        );
        if more > 0 {
            evidence.push_str(&format!(" and {more} more"));
        }
        let severity = if context.exposed() { Severity::High } else { Severity::Medium };
        let mut finding =
            context.finding(RuleId::OutdatedLibrary, severity, evidence, context.restart_fix(*pid));
        finding.pid = Some(*pid);
        findings.push(finding);
        // One finding per listener: the other owners share the mappings
        // (forked workers).
        break;
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::restart::{RestartCheck, StaleMapping};
    use crate::audit::rules::testing::*;

    #[test]
    fn replaced_library_names_the_file() {
        let target = target("127.0.0.1", 5432);
        let check_result = RestartCheck {
            exe: None,
            libraries: vec![StaleMapping {
                path: "/usr/lib/libssl.so.3".into(),
                reason: "replaced",
            }],
            maps_readable: true,
        };
        let mut ctx = context(&target, None);
        ctx.restart = vec![(42, &check_result)];
        let findings = check(&ctx);
        assert!(findings[0].evidence.contains("libssl.so.3 (replaced)"));
        assert!(findings[0].fix.starts_with("restart pid 42"));
    }
}
