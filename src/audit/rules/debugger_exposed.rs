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

/// "Start node without --inspect" sends the reader to a command line that
/// may not have it: `NODE_OPTIONS=--inspect` in the environment, or
/// `SIGUSR1` (which turns the inspector on in a running process), leave no
/// trace there. Then the fix says where to look, with the real pid. When
/// the command line has the flag, the fix names the process and the flag
/// as it was given (`--inspect=0.0.0.0:9229`, `--inspect-brk`).
fn node_fix(context: &Context<'_>, fix: &str) -> String {
    flag_fix(
        context,
        fix,
        |argv| argv.iter().skip(1).find(|a| a.starts_with("--inspect")),
        "--inspect=127.0.0.1:",
        |pid| {
            format!(
            "its command line has no --inspect: the inspector comes from NODE_OPTIONS in its environment (`tr '\\0' '\\n' < /proc/{pid}/environ | grep NODE_OPTIONS`) or was turned on at run time (SIGUSR1); restart it without them"
        )
        },
    )
}

/// The JDWP agent comes from `-agentlib:jdwp=…` (or the older
/// `-Xrunjdwp:…`) on the command line, or from the environment variables
/// every JVM reads (`JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS`,
/// `_JAVA_OPTIONS`), which leave no trace on the command line: then the
/// fix names the variable and the option read from `/proc/PID/environ`, or
/// says that the environment could not be read.
fn jdwp_fix(context: &Context<'_>, fix: &str) -> String {
    flag_fix(
        context,
        fix,
        |argv| argv.iter().find(|a| crate::audit::jvm_options::is_jdwp_option(a)),
        "address=127.0.0.1:",
        |pid| jdwp_elsewhere(context, pid),
    )
}

/// Where the agent of JVM `pid`, whose command line does not load it,
/// comes from.
fn jdwp_elsewhere(context: &Context<'_>, pid: u32) -> String {
    use crate::audit::jvm_options::{JvmEnvironment, VARIABLES};
    let name = context.target.owners.iter().find(|o| o.pid == pid).map_or("", |o| o.name.as_str());
    match context.target.jvm_environment.get(&pid) {
        Some(JvmEnvironment::Read(options)) if !options.is_empty() => {
            let found = &options[0];
            format!(
                "pid {pid} ({name}) gets `{option}` from {variable} in its environment (its command line does not show it): restart it without that variable{rest}",
                option = found.option,
                variable = found.variable,
                rest = loopback_advice(context, "address=127.0.0.1:"),
            )
        }
        Some(JvmEnvironment::Read(_)) => format!(
            "neither the command line of pid {pid} ({name}) nor its environment ({}) loads the JDWP agent: look in the files its command line names (`@argfiles`, -XX:VMOptionsFile=) and restart it without the option",
            VARIABLES.join(", ")
        ),
        Some(JvmEnvironment::Unreadable) => format!(
            "the command line of pid {pid} ({name}) has no -agentlib:jdwp, and its environment (/proc/{pid}/environ) could not be read{why}: the agent comes from {} there; restart it without them",
            VARIABLES.join(", "),
            why = if context.caller_uid == 0 { "" } else { " (not root: run porthole audit as root to read it)" },
        ),
        None => format!(
            "its command line has no -agentlib:jdwp: the agent comes from the JVM's environment ({} in /proc/{pid}/environ); restart it without it",
            VARIABLES.join(", ")
        ),
    }
}

/// The fix for a debugger turned on by a command-line flag: the owner
/// started with the flag (`find_flag` picks it from its argument list) is
/// named with the flag as it was given; an owner whose command line is
/// known but has no flag is told where else it comes from
/// (`without_flag`, given its pid); with no command line, `fix` stands.
fn flag_fix(
    context: &Context<'_>,
    fix: &str,
    find_flag: impl Fn(&[String]) -> Option<&String>,
    loopback_option: &str,
    without_flag: impl Fn(u32) -> String,
) -> String {
    let owners = &context.target.owners;
    let flagged = owners.iter().find_map(|p| Some((p, find_flag(&p.cmdline)?)));
    if let Some((owner, flag)) = flagged {
        return format!(
            "pid {pid} ({name}) was started with `{flag}`: restart it without it{rest}",
            pid = owner.pid,
            name = owner.name,
            rest = loopback_advice(context, loopback_option)
        );
    }
    match owners.first() {
        Some(owner) if !owner.cmdline.is_empty() => without_flag(owner.pid),
        _ => fix.to_string(),
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
    use crate::audit::jvm_options::{EnvironmentOption, JvmEnvironment};
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
        assert!(finding.fix.contains("`tr '\\0' '\\n' < /proc/42/environ | grep NODE_OPTIONS`"));
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
        java.jvm_environment.insert(
            42,
            JvmEnvironment::Read(vec![EnvironmentOption {
                variable: "JAVA_TOOL_OPTIONS".into(),
                option: agent.into(),
            }]),
        );
        assert_eq!(
            check(&context(&java, Some(&jdwp)))[0].fix,
            format!("pid 42 (java) gets `{agent}` from JAVA_TOOL_OPTIONS in its environment (its command line does not show it): restart it without that variable (or with `address=127.0.0.1:5005`, on loopback, only while debugging)")
        );
        // An environment porthole could not read is said to be so.
        java.jvm_environment.insert(42, JvmEnvironment::Unreadable);
        let mut unprivileged = context(&java, Some(&jdwp));
        unprivileged.caller_uid = 1000;
        let fix = &check(&unprivileged)[0].fix;
        assert_eq!(
            fix,
            "the command line of pid 42 (java) has no -agentlib:jdwp, and its environment (/proc/42/environ) could not be read (not root: run porthole audit as root to read it): the agent comes from JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, _JAVA_OPTIONS there; restart it without them"
        );
    }
}
