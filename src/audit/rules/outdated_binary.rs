//! `outdated-binary`: the process serving the port runs an executable that
//! was deleted or replaced since it started (an upgrade without a restart),
//! so the fixes of that upgrade are not in effect.

use super::Context;
use crate::audit::restart::ExeState;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let stale: Vec<(u32, &str, &str)> = context
        .restart
        .iter()
        .filter_map(|(pid, check)| match &check.exe {
            Some(ExeState::Deleted { path }) => Some((*pid, path.as_str(), "deleted")),
            Some(ExeState::Replaced { path }) => Some((*pid, path.as_str(), "replaced")),
            _ => None,
        })
        .collect();
    let Some(&(pid, path, how)) = stale.first() else { return Vec::new() };
    let severity = if context.exposed() { Severity::High } else { Severity::Medium };
    let mut evidence = format!("pid {pid} runs {path}, which was {how} on disk after it started");
    if stale.len() > 1 {
        let others: Vec<String> = stale[1..].iter().map(|(p, _, _)| p.to_string()).collect();
        evidence.push_str(&format!(" (also pids {})", others.join(", ")));
    }
    let mut fix = context.restart_fix(pid);
    if how == "deleted" {
        // Nothing is at the path: the same command cannot start it again.
        evidence.push_str("; nothing is at that path now");
        fix.push_str(&format!(
            " once {path} is back (reinstall it first: it was removed, not upgraded)"
        ));
    }
    let mut finding = context.finding(RuleId::OutdatedBinary, severity, evidence, fix);
    finding.pid = Some(pid);
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::restart::RestartCheck;
    use crate::audit::rules::testing::*;

    #[test]
    fn deleted_exe_asks_for_a_restart() {
        let mut target = target("127.0.0.1", 8000);
        target.owners[0].unit = Some("web.service".into());
        let check_result = RestartCheck {
            exe: Some(ExeState::Deleted { path: "/opt/web/server".into() }),
            libraries: vec![],
            maps_readable: true,
        };
        let mut ctx = context(&target, None);
        ctx.restart = vec![(42, &check_result)];
        let findings = check(&ctx);
        assert_eq!(
            findings[0].fix,
            "systemctl restart web.service once /opt/web/server is back (reinstall it first: it was removed, not upgraded)"
        );
        assert!(findings[0].evidence.contains("/opt/web/server"));
        assert!(findings[0].evidence.ends_with("nothing is at that path now"));
        let replaced = RestartCheck {
            exe: Some(ExeState::Replaced { path: "/opt/web/server".into() }),
            libraries: vec![],
            maps_readable: true,
        };
        ctx.restart = vec![(42, &replaced)];
        let findings = check(&ctx);
        assert_eq!(findings[0].fix, "systemctl restart web.service");
        assert!(findings[0].evidence.contains("which was replaced on disk"));
        // A user unit is restarted through its own manager: `systemctl
        // restart` asks the system manager, which has no such unit.
        let mut user_target = target.clone();
        user_target.owners[0].unit_manager_uid = Some(1000);
        user_target.owners[0].uid = 1000;
        user_target.owners[0].user = Some("dev".into());
        let mut user_ctx = context(&user_target, None);
        user_ctx.restart = vec![(42, &replaced)];
        assert_eq!(check(&user_ctx)[0].fix, "systemctl --user -M dev@ restart web.service");
        user_ctx.caller_uid = 1000;
        assert_eq!(check(&user_ctx)[0].fix, "systemctl --user restart web.service");
    }
}
