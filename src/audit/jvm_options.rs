//! Where a JVM's JDWP agent comes from. Besides `-agentlib:jdwp=…` (or the
//! older `-Xrunjdwp:…`, or `-agentpath:…/libjdwp.so=…`) on its command
//! line, every JVM reads `JAVA_TOOL_OPTIONS` and `_JAVA_OPTIONS` from its
//! environment, and the `java` launcher `JDK_JAVA_OPTIONS`: an agent given
//! there runs the same but leaves no trace in `/proc/PID/cmdline`. The
//! probe needs the agent's options to know a port is a debugger (and which
//! one), and the `debugger-exposed` fix needs them to name where the option
//! really is.
//! See: <https://docs.oracle.com/en/java/javase/17/docs/specs/man/java.html#using-the-jdk_java_options-launcher-environment-variable>

use crate::inventory::system::System;
use crate::model::Process;

/// The environment variables a JVM takes options from, in the order the
/// JVM reads them.
pub const VARIABLES: &[&str] = &["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"];

/// The largest environment read (the kernel allows a few MiB; a JVM's is
/// a few KiB).
const MAX_ENVIRON: u64 = 4 << 20;

/// A JVM's environment as far as JDWP is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JvmEnvironment {
    /// Read: the JDWP options found in it, each with its variable, in the
    /// JVM's reading order (empty when none).
    Read(Vec<EnvironmentOption>),
    /// `/proc/PID/environ` could not be read (another user's process when
    /// porthole is not root, a process that is not dumpable, or `hidepid`).
    Unreadable,
}

/// A JDWP option given through an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentOption {
    /// `JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS` or `_JAVA_OPTIONS`.
    pub variable: String,
    /// The option as written there (`-agentlib:jdwp=…`): another user's
    /// text, shown sanitised.
    pub option: String,
}

/// Whether `argument` loads the JDWP agent.
pub fn is_jdwp_option(argument: &str) -> bool {
    argument.starts_with("-agentlib:jdwp")
        || argument.starts_with("-Xrunjdwp")
        || (argument.starts_with("-agentpath:") && argument.contains("libjdwp"))
}

/// Whether `process` is a JVM (whose environment may load an agent).
pub fn is_jvm(process: &Process) -> bool {
    let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
    process.name == "java"
        || process.exe.as_deref().map(base).as_deref() == Some("java")
        || process.cmdline.first().map(|argv0| base(argv0)).as_deref() == Some("java")
}

/// The JDWP options of a JVM's environment (`NAME=VALUE` entries separated
/// by NUL bytes, as `/proc/PID/environ` holds them). The options of a
/// variable are split on blanks, as the JVM splits them.
pub fn jdwp_options(environ: &[u8]) -> Vec<EnvironmentOption> {
    let entries: Vec<(&str, String)> = environ
        .split(|&byte| byte == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry).into_owned();
            let (name, value) = text.split_once('=')?;
            let variable = VARIABLES.iter().find(|v| **v == name)?;
            Some((*variable, value.to_string()))
        })
        .collect();
    VARIABLES
        .iter()
        .filter_map(|variable| entries.iter().find(|(name, _)| name == variable))
        .flat_map(|(variable, value)| {
            value.split_ascii_whitespace().filter(|o| is_jdwp_option(o)).map(|option| {
                EnvironmentOption { variable: variable.to_string(), option: option.to_string() }
            })
        })
        .collect()
}

/// Reads the environment of JVM `pid`.
pub fn read(system: &dyn System, pid: u32) -> JvmEnvironment {
    match system.read_regular(&format!("/proc/{pid}/environ"), MAX_ENVIRON) {
        Some(environ) => JvmEnvironment::Read(jdwp_options(&environ)),
        None => JvmEnvironment::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_agent_in_the_variables_a_jvm_reads() {
        let environ = b"PATH=/usr/bin\0JAVA_TOOL_OPTIONS=-Xmx1g  -agentlib:jdwp=transport=dt_socket,server=y,address=*:5005\0HOME=/root\0\
                        _JAVA_OPTIONS=-Xrunjdwp:transport=dt_socket,address=5006\0MY_JAVA_TOOL_OPTIONS=-agentlib:jdwp=x\0";
        let found = jdwp_options(environ);
        assert_eq!(
            found,
            vec![
                EnvironmentOption {
                    variable: "JAVA_TOOL_OPTIONS".into(),
                    option: "-agentlib:jdwp=transport=dt_socket,server=y,address=*:5005".into(),
                },
                EnvironmentOption {
                    variable: "_JAVA_OPTIONS".into(),
                    option: "-Xrunjdwp:transport=dt_socket,address=5006".into(),
                },
            ]
        );
        assert!(jdwp_options(b"JAVA_TOOL_OPTIONS=-Xmx1g\0PATH=/bin").is_empty());
        assert!(is_jdwp_option("-agentpath:/usr/lib/jvm/lib/libjdwp.so=transport=dt_socket"));
        assert!(!is_jdwp_option("-agentpath:/opt/yourkit/libyjpagent.so"));
    }
}
