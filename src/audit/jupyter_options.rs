//! How a Jupyter server that lets anyone in was told to: an empty token
//! on its command line (`--ServerApp.token=`, `--NotebookApp.token=''`,
//! `--IdentityProvider.token=`), so the `no-auth` fix is that command line
//! without it, started again where and as whom it ran. Jupyter makes a
//! random token when none is given.
//! See: <https://jupyter-server.readthedocs.io/en/latest/operators/security.html>

use crate::model::Process;

/// The classes whose `token` setting turns authentication off when empty.
const TOKEN_OPTIONS: [&str; 3] =
    ["--ServerApp.token", "--NotebookApp.token", "--IdentityProvider.token"];

/// Options that choose the address (`--ip`), replaced on an exposed server.
const IP_OPTIONS: [&str; 3] = ["--ip", "--ServerApp.ip", "--NotebookApp.ip"];

/// The arguments of `cmdline` that give an empty token: (first index,
/// how many words), and the words as given.
pub fn empty_token(cmdline: &[String]) -> Option<(usize, usize, String)> {
    cmdline.iter().enumerate().skip(1).find_map(|(index, arg)| {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        if !TOKEN_OPTIONS.contains(&name) {
            return None;
        }
        match value {
            Some(value) => matches!(value, "" | "''" | "\"\"").then(|| (index, 1, arg.clone())),
            None => {
                let next = cmdline.get(index + 1)?;
                next.is_empty().then(|| (index, 2, format!("{arg} ''")))
            }
        }
    })
}

/// The configuration files Jupyter reads from its user directory, in the
/// order they load (a later one wins).
const CONFIG_FILES: [&str; 2] = ["jupyter_notebook_config.py", "jupyter_server_config.py"];

/// The largest configuration file read.
const MAX_FILE: u64 = 1 << 20;

/// A line of a configuration file that empties the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLine {
    pub file: String,
    /// From 1.
    pub line: usize,
}

/// The last line that empties the token in the user configuration of
/// process `pid`, whose environment is `environment` (NUL-separated
/// `NAME=value` entries of `/proc/PID/environ`).
pub fn token_line(
    system: &dyn crate::inventory::system::System,
    environment: &[u8],
) -> Option<TokenLine> {
    let variable = |name: &str| {
        environment.split(|&b| b == 0).find_map(|entry| {
            let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
            Some(String::from_utf8_lossy(value).into_owned())
        })
    };
    let directory = variable("JUPYTER_CONFIG_DIR")
        .or_else(|| variable("HOME").map(|home| format!("{}/.jupyter", home.trim_end_matches('/'))))
        .filter(|d| d.starts_with('/'))?;
    let mut found = None;
    for name in CONFIG_FILES {
        let file = format!("{}/{name}", directory.trim_end_matches('/'));
        let regular = system.file_status(&file).is_none_or(|s| s.is_file);
        let Some(bytes) = system.read_regular(&file, MAX_FILE).filter(|_| regular) else {
            continue;
        };
        for (index, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            if empties_token(line) {
                found = Some(TokenLine { file: file.clone(), line: index + 1 });
            }
        }
    }
    found
}

/// `c.ServerApp.token = ''` (or `""`, any of the token classes).
fn empties_token(line: &str) -> bool {
    let line = line.split('#').next().unwrap_or_default().trim();
    let Some((name, value)) = line.split_once('=') else { return false };
    let name = name.trim();
    TOKEN_OPTIONS.iter().any(|option| {
        option.strip_prefix("--").is_some_and(|class_token| name == format!("c.{class_token}"))
    }) && matches!(value.trim(), "''" | "\"\"")
}

/// The command that starts `process` again without its empty token (and,
/// when `loopback`, bound to 127.0.0.1), in its working directory and as
/// its user when porthole runs as another (`caller_uid`).
pub fn restart_without_token(
    process: &Process,
    directory: Option<&str>,
    caller_uid: u32,
    loopback: bool,
) -> Option<String> {
    let (index, count, _) = empty_token(&process.cmdline)?;
    Some(restart(process, directory, caller_uid, loopback, Some((index, count))))
}

/// The command that starts `process` again as it was (its empty token
/// being in a file), bound to 127.0.0.1 when `loopback`.
pub fn restart_as_it_was(
    process: &Process,
    directory: Option<&str>,
    caller_uid: u32,
    loopback: bool,
) -> String {
    restart(process, directory, caller_uid, loopback, None)
}

fn restart(
    process: &Process,
    directory: Option<&str>,
    caller_uid: u32,
    loopback: bool,
    left_out: Option<(usize, usize)>,
) -> String {
    let (index, count) = left_out.unwrap_or((usize::MAX, 1));
    let mut words: Vec<String> = Vec::new();
    let mut skip = 0;
    for (at, arg) in process.cmdline.iter().enumerate() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if at == index {
            skip = count - 1;
            continue;
        }
        let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
        if loopback && at > 0 && IP_OPTIONS.contains(&name) {
            // `--ip ADDRESS` takes the next word too.
            if !arg.contains('=') {
                skip = 1;
            }
            continue;
        }
        words.push(arg.clone());
    }
    if loopback {
        words.push("--ip=127.0.0.1".into());
    }
    let command: Vec<String> =
        words.iter().map(|w| crate::shell::printable_word(w).into_owned()).collect();
    process.start_command(&command.join(" "), directory, caller_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(line: &[&str]) -> Process {
        Process {
            pid: 812,
            uid: 1000,
            user: Some("ada".into()),
            cmdline: line.iter().map(|w| w.to_string()).collect(),
            ..Process::default()
        }
    }

    #[test]
    fn an_empty_token_is_found_in_each_spelling() {
        for (line, shown) in [
            (vec!["jupyter-server", "--ServerApp.token="], "--ServerApp.token="),
            (vec!["jupyter-lab", "--NotebookApp.token=''"], "--NotebookApp.token=''"),
            (
                vec!["jupyter", "server", "--IdentityProvider.token", ""],
                "--IdentityProvider.token ''",
            ),
        ] {
            let words: Vec<String> = line.iter().map(|w| w.to_string()).collect();
            assert_eq!(empty_token(&words).map(|(_, _, s)| s).as_deref(), Some(shown), "{line:?}");
        }
        let set: Vec<String> =
            ["jupyter-server", "--ServerApp.token=abc"].iter().map(|w| w.to_string()).collect();
        assert_eq!(empty_token(&set), None);
    }

    #[test]
    fn a_configuration_line_that_empties_the_token_is_found() {
        for line in [
            "c.ServerApp.token = ''",
            "  c.IdentityProvider.token=\"\"  # open",
            "c.NotebookApp.token = ''",
        ] {
            assert!(empties_token(line), "{line}");
        }
        for line in
            ["# c.ServerApp.token = ''", "c.ServerApp.token = 'abc'", "c.ServerApp.password = ''"]
        {
            assert!(!empties_token(line), "{line}");
        }
    }

    #[test]
    fn the_restart_drops_the_token_and_binds_loopback_as_its_user() {
        let server = process(&[
            "/venv/bin/python3",
            "/venv/bin/jupyter-server",
            "--ip",
            "0.0.0.0",
            "--IdentityProvider.token",
            "",
            "--ServerApp.root_dir=/home/ada/my notes",
        ]);
        assert_eq!(
            restart_without_token(&server, Some("/home/ada"), 0, true).unwrap(),
            "cd /home/ada && runuser -u ada -- /venv/bin/python3 /venv/bin/jupyter-server '--ServerApp.root_dir=/home/ada/my notes' --ip=127.0.0.1"
        );
        assert_eq!(
            restart_without_token(&server, None, 1000, false).unwrap(),
            "/venv/bin/python3 /venv/bin/jupyter-server --ip 0.0.0.0 '--ServerApp.root_dir=/home/ada/my notes'"
        );
    }
}
