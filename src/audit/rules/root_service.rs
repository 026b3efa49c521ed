//! `root-service` (informational): an exposed listener is served by a root
//! process. Not a problem by itself (sshd), but it makes every other finding
//! on the listener worth more, and [`super::evaluate`] raises them.

use super::Context;
use crate::model::{Finding, Protocol, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    if !context.exposed() || context.target.protocol == Protocol::Unix || !context.runs_as_root() {
        return Vec::new();
    }
    let who = match context.target.owners.iter().find(|p| p.uid == 0) {
        Some(process) => format!("pid {} ({}) runs as root", process.pid, process.name),
        None => "the socket belongs to root (owner process hidden)".into(),
    };
    let edit =
        context.target.owners.first().and_then(|p| p.service_command("edit", context.caller_uid));
    let fix = match edit {
        Some(command) => format!(
            "`{command}`: add `User=` (and `AmbientCapabilities=CAP_NET_BIND_SERVICE` for ports below 1024)"
        ),
        None => "run it as an unprivileged user (or let it drop privileges after binding)".into(),
    };
    vec![context.finding(
        RuleId::RootService,
        Severity::Info,
        format!("{who} and listens on {}", context.endpoint()),
        fix,
    )]
}
