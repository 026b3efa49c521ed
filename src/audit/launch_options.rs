//! Where a debugger's option comes from when the command line does not
//! show it. A runtime reads options from its environment too, and an
//! option given there runs the same but leaves no trace in
//! `/proc/PID/cmdline`:
//! - every JVM reads `JAVA_TOOL_OPTIONS` and `_JAVA_OPTIONS`, and the `java`
//!   launcher `JDK_JAVA_OPTIONS`: the JDWP agent (`-agentlib:jdwp=…`, the
//!   older `-Xrunjdwp:…`, or `-agentpath:…/libjdwp.so=…`) may be there;
//! - Node.js reads `NODE_OPTIONS`: the inspector (`--inspect`,
//!   `--inspect-brk`, `--inspect-wait`, each with an optional
//!   `=[HOST:]PORT`) may be there.
//!
//! The probe needs a JVM's agent options to know a port is a debugger (and
//! which one), and the `debugger-exposed` fix needs both runtimes' to name
//! where the option really is.
//! See: <https://docs.oracle.com/en/java/javase/17/docs/specs/man/java.html#using-the-jdk_java_options-launcher-environment-variable>,
//! <https://nodejs.org/api/cli.html#node_optionsoptions>

use crate::inventory::system::System;
use crate::model::Process;

/// A runtime that takes debugger options from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Jvm,
    Node,
}

impl Runtime {
    /// The runtime `process` is, from its name, executable or `argv[0]`.
    pub fn of(process: &Process) -> Option<Runtime> {
        let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
        let names = [
            Some(process.name.clone()),
            process.exe.as_deref().map(base),
            process.cmdline.first().map(|argv0| base(argv0)),
        ];
        names.into_iter().flatten().find_map(|name| match name.as_str() {
            "java" => Some(Runtime::Jvm),
            "node" | "nodejs" => Some(Runtime::Node),
            _ => None,
        })
    }

    /// The environment variables it takes options from, in the order it
    /// reads them.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Runtime::Jvm => &["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS"],
            Runtime::Node => &["NODE_OPTIONS"],
        }
    }

    /// Whether `argument` turns its debugger on.
    pub fn is_debugger_option(self, argument: &str) -> bool {
        match self {
            Runtime::Jvm => is_jdwp_option(argument),
            Runtime::Node => is_inspect_option(argument),
        }
    }

    /// The options of one variable's `value`, split as the runtime splits
    /// them: a JVM on blanks; Node.js on blanks outside double quotes, with
    /// `\` escaping the next character inside them.
    fn split(self, value: &str) -> Vec<String> {
        match self {
            Runtime::Jvm => value.split_ascii_whitespace().map(str::to_string).collect(),
            Runtime::Node => split_node_options(value),
        }
    }
}

/// The largest environment read (the kernel allows a few MiB; a runtime's
/// is a few KiB).
const MAX_ENVIRON: u64 = 4 << 20;

/// A runtime's environment as far as its debugger is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerEnvironment {
    /// Read: the debugger options found in it, each with its variable, in
    /// the runtime's reading order (empty when none).
    Read(Vec<EnvironmentOption>),
    /// `/proc/PID/environ` could not be read (another user's process when
    /// porthole is not root, a process that is not dumpable, or `hidepid`).
    Unreadable,
}

/// A debugger option given through an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentOption {
    /// `JAVA_TOOL_OPTIONS`, `JDK_JAVA_OPTIONS`, `_JAVA_OPTIONS` or
    /// `NODE_OPTIONS`.
    pub variable: String,
    /// The option as written there (`-agentlib:jdwp=…`, `--inspect=…`):
    /// another user's text, shown sanitised.
    pub option: String,
}

/// Whether `argument` loads the JDWP agent.
pub fn is_jdwp_option(argument: &str) -> bool {
    argument.starts_with("-agentlib:jdwp")
        || argument.starts_with("-Xrunjdwp")
        || (argument.starts_with("-agentpath:") && argument.contains("libjdwp"))
}

/// Whether `argument` turns the Node.js inspector on: `--inspect`,
/// `--inspect-brk` or `--inspect-wait`, alone or with `=[HOST:]PORT`.
/// `--inspect-port` only sets the port an inspector would use.
pub fn is_inspect_option(argument: &str) -> bool {
    let name = argument.split_once('=').map_or(argument, |(name, _)| name);
    matches!(name, "--inspect" | "--inspect-brk" | "--inspect-wait")
}

/// `NODE_OPTIONS` split as Node.js splits it.
fn split_node_options(value: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut characters = value.chars();
    while let Some(c) = characters.next() {
        match c {
            '\\' if quoted => current.extend(characters.next()),
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' | '\t' | '\n' if !quoted => {
                if started {
                    options.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            other => {
                current.push(other);
                started = true;
            }
        }
    }
    if started {
        options.push(current);
    }
    options
}

/// The debugger options of `runtime` in an environment (`NAME=VALUE`
/// entries separated by NUL bytes, as `/proc/PID/environ` holds them).
pub fn debugger_options(runtime: Runtime, environ: &[u8]) -> Vec<EnvironmentOption> {
    let entries: Vec<(&str, String)> = environ
        .split(|&byte| byte == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry).into_owned();
            let (name, value) = text.split_once('=')?;
            let variable = runtime.variables().iter().find(|v| **v == name)?;
            Some((*variable, value.to_string()))
        })
        .collect();
    runtime
        .variables()
        .iter()
        .filter_map(|variable| entries.iter().find(|(name, _)| name == variable))
        .flat_map(|(variable, value)| {
            runtime
                .split(value)
                .into_iter()
                .filter(|o| runtime.is_debugger_option(o))
                .map(|option| EnvironmentOption { variable: variable.to_string(), option })
        })
        .collect()
}

/// Reads the debugger options in the environment of `pid`, a `runtime`.
pub fn read(system: &dyn System, runtime: Runtime, pid: u32) -> OwnerEnvironment {
    match system.read_regular(&format!("/proc/{pid}/environ"), MAX_ENVIRON) {
        Some(environ) => OwnerEnvironment::Read(debugger_options(runtime, &environ)),
        None => OwnerEnvironment::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_agent_in_the_variables_a_jvm_reads() {
        let environ = b"PATH=/usr/bin\0JAVA_TOOL_OPTIONS=-Xmx1g  -agentlib:jdwp=transport=dt_socket,server=y,address=*:5005\0HOME=/root\0\
                        _JAVA_OPTIONS=-Xrunjdwp:transport=dt_socket,address=5006\0MY_JAVA_TOOL_OPTIONS=-agentlib:jdwp=x\0";
        let found = debugger_options(Runtime::Jvm, environ);
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
        assert!(debugger_options(Runtime::Jvm, b"JAVA_TOOL_OPTIONS=-Xmx1g\0PATH=/bin").is_empty());
        assert!(is_jdwp_option("-agentpath:/usr/lib/jvm/lib/libjdwp.so=transport=dt_socket"));
        assert!(!is_jdwp_option("-agentpath:/opt/yourkit/libyjpagent.so"));
        // A JVM does not read NODE_OPTIONS, nor node JAVA_TOOL_OPTIONS.
        assert!(debugger_options(Runtime::Jvm, b"NODE_OPTIONS=--inspect").is_empty());
        assert!(debugger_options(Runtime::Node, b"JAVA_TOOL_OPTIONS=--inspect").is_empty());
    }

    #[test]
    fn finds_the_inspector_in_node_options() {
        let environ = b"NODE_OPTIONS=--max-old-space-size=4096 --inspect-port=9230 \"--inspect-brk=0.0.0.0:9229\" --require ./x.js\0";
        assert_eq!(
            debugger_options(Runtime::Node, environ),
            vec![EnvironmentOption {
                variable: "NODE_OPTIONS".into(),
                option: "--inspect-brk=0.0.0.0:9229".into(),
            }]
        );
        assert_eq!(split_node_options(r#" a  "b c" "d\"e" "#), vec!["a", "b c", "d\"e"]);
        assert!(is_inspect_option("--inspect"));
        assert!(is_inspect_option("--inspect-wait=127.0.0.1:0"));
        assert!(!is_inspect_option("--inspect-port=9230"));
        assert!(!is_inspect_option("--inspector"));
    }

    #[test]
    fn runtimes_by_process() {
        let process = |name: &str, argv0: &str| Process {
            name: name.into(),
            cmdline: vec![argv0.into()],
            ..Process::default()
        };
        assert_eq!(Runtime::of(&process("java", "java")), Some(Runtime::Jvm));
        assert_eq!(Runtime::of(&process("MainThread", "/usr/bin/node")), Some(Runtime::Node));
        assert_eq!(Runtime::of(&process("nodejs", "nodejs")), Some(Runtime::Node));
        assert_eq!(Runtime::of(&process("python3", "python3")), None);
    }
}
