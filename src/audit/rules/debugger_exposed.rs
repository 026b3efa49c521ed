//! `debugger-exposed`: a Node.js inspector, Chrome DevTools endpoint or JDWP
//! port answered. None of them has authentication: connecting is running
//! code in the process.

use super::Context;
use crate::audit::launch_options::{OwnerEnvironment, Runtime};
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
                let fix = match kind.as_str() {
                    "Node.js inspector" => node_fix(context, fix),
                    kind if kind.starts_with("JDWP") => jdwp_fix(context, fix),
                    _ => fix.clone(),
                };
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

/// What the fix of a debugger says about the runtime that runs it.
struct Debugger {
    runtime: Runtime,
    /// The option as a reader searches for it: `--inspect`.
    flag: &'static str,
    /// What the option turns on: `inspector`.
    what: &'static str,
    /// The option that keeps it on loopback, before the port.
    loopback_option: &'static str,
    /// Where else it may come from than the command line or environment.
    otherwise: Option<&'static str>,
}

const NODE: Debugger = Debugger {
    runtime: Runtime::Node,
    flag: "--inspect",
    what: "inspector",
    loopback_option: "--inspect=127.0.0.1:",
    otherwise: Some("turned on while it ran (SIGUSR1, or inspector.open() in its code)"),
};

const JVM: Debugger = Debugger {
    runtime: Runtime::Jvm,
    flag: "-agentlib:jdwp",
    what: "agent",
    loopback_option: "address=127.0.0.1:",
    otherwise: None,
};

/// A Node.js inspector: `--inspect…` on the command line, or in
/// `NODE_OPTIONS`, which leaves no trace there, or turned on at run time
/// (`SIGUSR1`).
fn node_fix(context: &Context<'_>, fix: &str) -> String {
    flag_fix(context, fix, &NODE)
}

/// A JDWP agent: `-agentlib:jdwp=…` (or the older `-Xrunjdwp:…`) on the
/// command line, or in the environment variables every JVM reads
/// (`JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS`, `_JAVA_OPTIONS`).
fn jdwp_fix(context: &Context<'_>, fix: &str) -> String {
    flag_fix(context, fix, &JVM)
}

/// Where the option of `debugger` comes from for owner `pid`, whose
/// command line does not have it: the variable and the option read from
/// `/proc/PID/environ`, or that nothing there has it, or that the
/// environment could not be read (and who can read it).
fn elsewhere(context: &Context<'_>, pid: u32, debugger: &Debugger) -> String {
    let name = context.target.owners.iter().find(|o| o.pid == pid).map_or("", |o| o.name.as_str());
    let variables = debugger.runtime.variables().join(", ");
    let otherwise = debugger.otherwise.map(|how| format!(", or it was {how}")).unwrap_or_default();
    match context.target.environment.get(&pid) {
        Some(OwnerEnvironment::Read(options)) if !options.is_empty() => {
            let found = &options[0];
            format!(
                "pid {pid} ({name}) gets `{option}` from {variable} in its environment (its command line does not show it): restart it without that variable{rest}",
                option = found.option,
                variable = found.variable,
                rest = loopback_advice(context, debugger.loopback_option),
            )
        }
        Some(OwnerEnvironment::Read(_)) => match debugger.otherwise {
            Some(how) => format!(
                "neither the command line of pid {pid} ({name}) nor its environment ({variables}) has {flag}: the {what} was {how}; restart it to turn the {what} off",
                flag = debugger.flag,
                what = debugger.what,
            ),
            None => format!(
                "neither the command line of pid {pid} ({name}) nor its environment ({variables}) loads the JDWP agent: look in the files its command line names (`@argfiles`, -XX:VMOptionsFile=) and restart it without the option"
            ),
        },
        Some(OwnerEnvironment::Unreadable) => format!(
            "the command line of pid {pid} ({name}) has no {flag}, and its environment (/proc/{pid}/environ) could not be read{why}: the {what} comes from {variables} there{otherwise}; restart it without them",
            flag = debugger.flag,
            what = debugger.what,
            why = if context.caller_uid == 0 { "" } else { " (not root: run porthole audit as root to read it)" },
        ),
        None => format!(
            "its command line has no {flag}: the {what} comes from its environment ({variables} in /proc/{pid}/environ: `tr '\\0' '\\n' < /proc/{pid}/environ | grep -E '^({pattern})='`){otherwise}; restart it without them",
            flag = debugger.flag,
            what = debugger.what,
            pattern = debugger.runtime.variables().join("|"),
        ),
    }
}

/// The fix for a debugger turned on by a command-line flag: the owner
/// started with the flag is named with the flag as it was given; an owner
/// whose command line is known but has no flag is told where else it
/// comes from ([`elsewhere`]); with no owner in sight (another user's
/// process while porthole is not root), `fix` stands, with the port to
/// keep on loopback and what root would add.
fn flag_fix(context: &Context<'_>, fix: &str, debugger: &Debugger) -> String {
    let owners = &context.target.owners;
    let runtime = debugger.runtime;
    let skip = usize::from(runtime == Runtime::Node);
    let flagged = owners.iter().find_map(|p| {
        Some((p, p.cmdline.iter().skip(skip).find(|a| runtime.is_debugger_option(a))?))
    });
    if let Some((owner, flag)) = flagged {
        return format!(
            "pid {pid} ({name}) was started with `{flag}`: restart it without it{rest}",
            pid = owner.pid,
            name = owner.name,
            rest = loopback_advice(context, debugger.loopback_option)
        );
    }
    match owners.first() {
        Some(owner) if !owner.cmdline.is_empty() => elsewhere(context, owner.pid, debugger),
        Some(_) => format!("{fix}{}", loopback_advice(context, debugger.loopback_option)),
        None if context.caller_uid != 0 => format!(
            "{fix}{rest}; the process is hidden: its socket belongs to uid {uid} and porthole is not root, so its command line and environment could not be read (run porthole audit as root to name it and where its {flag} comes from: the command line or {variables})",
            rest = loopback_advice(context, debugger.loopback_option),
            uid = context.target.socket_uid,
            flag = debugger.flag,
            variables = runtime.variables().join(", "),
        ),
        None => format!("{fix}{}", loopback_advice(context, debugger.loopback_option)),
    }
}

/// What to keep while debugging: for a listener other devices reach, the
/// same port on loopback; one on loopback already is only told to go.
fn loopback_advice(context: &Context<'_>, option: &str) -> String {
    if context.target.scope == crate::model::Scope::Loopback {
        " (keep the debugger only while debugging)".to_string()
    } else {
        format!(
            " (or with `{option}{port}`, on loopback, only while debugging)",
            port = context.target.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::launch_options::{EnvironmentOption, OwnerEnvironment};
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
        assert!(finding
            .fix
            .contains("`tr '\\0' '\\n' < /proc/42/environ | grep -E '^(NODE_OPTIONS)='`"));
        let mut flagged = target.clone();
        flagged.owners[0].cmdline = vec!["node".into(), "--inspect=127.0.0.1:9229".into()];
        assert_eq!(
            check(&context(&flagged, Some(&seen)))[0].fix,
            "pid 42 (server) was started with `--inspect=127.0.0.1:9229`: restart it without it (keep the debugger only while debugging)"
        );
    }

    #[test]
    fn the_fix_names_the_real_process_and_flag() {
        let mut target = target("0.0.0.0", 9229);
        target.owners[0].name = "node".into();
        target.owners[0].cmdline =
            vec!["node".into(), "--inspect-brk=0.0.0.0:9229".into(), "app.js".into()];
        let seen = outcome(
            "node-inspector",
            vec![Observation::Debugger {
                kind: "Node.js inspector".into(),
                evidence: "200".into(),
                fix: "generic".into(),
            }],
        );
        let finding = &check(&context(&target, Some(&seen)))[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(
            finding.fix,
            "pid 42 (node) was started with `--inspect-brk=0.0.0.0:9229`: restart it without it (or with `--inspect=127.0.0.1:9229`, on loopback, only while debugging)"
        );
        let mut java = target.clone();
        java.port = 5005;
        java.owners[0].name = "java".into();
        let agent = "-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005";
        java.owners[0].cmdline = vec!["java".into(), agent.into(), "-jar".into(), "a.jar".into()];
        let jdwp = outcome(
            "jdwp",
            vec![Observation::Debugger {
                kind: "JDWP (Java debugger)".into(),
                evidence: "handshake".into(),
                fix: "generic".into(),
            }],
        );
        assert_eq!(
            check(&context(&java, Some(&jdwp)))[0].fix,
            format!("pid 42 (java) was started with `{agent}`: restart it without it (or with `address=127.0.0.1:5005`, on loopback, only while debugging)")
        );
        // From JAVA_TOOL_OPTIONS: the command line does not say, the
        // environment does.
        java.owners[0].cmdline = vec!["java".into(), "-jar".into(), "a.jar".into()];
        java.environment.insert(
            42,
            OwnerEnvironment::Read(vec![EnvironmentOption {
                variable: "JAVA_TOOL_OPTIONS".into(),
                option: agent.into(),
            }]),
        );
        assert_eq!(
            check(&context(&java, Some(&jdwp)))[0].fix,
            format!("pid 42 (java) gets `{agent}` from JAVA_TOOL_OPTIONS in its environment (its command line does not show it): restart it without that variable (or with `address=127.0.0.1:5005`, on loopback, only while debugging)")
        );
        // An environment porthole could not read is said to be so.
        java.environment.insert(42, OwnerEnvironment::Unreadable);
        let mut unprivileged = context(&java, Some(&jdwp));
        unprivileged.caller_uid = 1000;
        let fix = &check(&unprivileged)[0].fix;
        assert_eq!(
            fix,
            "the command line of pid 42 (java) has no -agentlib:jdwp, and its environment (/proc/42/environ) could not be read (not root: run porthole audit as root to read it): the agent comes from JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, _JAVA_OPTIONS there; restart it without them"
        );
    }
}
