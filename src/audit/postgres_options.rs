//! Where a PostgreSQL server's `listen_addresses` comes from, so the
//! `exposed-service` fix changes the setting the server really uses. The
//! postmaster's command line (`-c listen_addresses=*`, `-h ADDRESSES`, the
//! old `-i`) wins over every file; then the last line in the files read in
//! the server's order: its configuration file (`-c config_file=`, as
//! Debian's clusters are started, else `postgresql.conf` in the data
//! directory `-D` names), with its `include`, `include_if_exists` and
//! `include_dir` followed where they stand, then `postgresql.auto.conf` in
//! the data directory (`ALTER SYSTEM`), which beats them all. A line added
//! to postgresql.conf loses to either.
//! See: <https://www.postgresql.org/docs/current/config-setting.html>

use crate::audit::mysql_options::BindSource;
use crate::inventory::system::System;

/// How deep includes may nest (a loop must end).
const MAX_DEPTH: usize = 8;

/// The largest configuration file read (a stock one is about 30 KiB).
const MAX_FILE: u64 = 1 << 20;

/// What the postmaster's arguments say.
#[derive(Debug, Default, PartialEq, Eq)]
struct Arguments {
    /// The argument that sets the addresses, as given.
    listen: Option<String>,
    data_directory: Option<String>,
    config_file: Option<String>,
    /// `-c hba_file=…`: where pg_hba.conf is.
    hba_file: Option<String>,
}

/// A setting's name as PostgreSQL compares them: case and `-` vs `_` do not
/// matter on the command line.
fn setting(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

fn arguments(cmdline: &[String]) -> Arguments {
    let mut found = Arguments::default();
    let mut index = 1;
    while index < cmdline.len() {
        let arg = &cmdline[index];
        let next = cmdline.get(index + 1);
        // `-c NAME=VALUE` / `-cNAME=VALUE` / `--NAME=VALUE`; `-D DIR` / `-DDIR`;
        // `-h ADDRESSES`; `-i`.
        let (assignment, shown, used) = if arg == "-c" {
            (next.cloned(), format!("-c {}", next.cloned().unwrap_or_default()), 2)
        } else if let Some(rest) = arg.strip_prefix("-c") {
            (Some(rest.to_string()), arg.clone(), 1)
        } else if let Some(rest) = arg.strip_prefix("--") {
            (Some(rest.to_string()), arg.clone(), 1)
        } else if arg == "-D" || arg == "-h" {
            let value = next.cloned().unwrap_or_default();
            let name = if arg == "-D" { "data_directory" } else { "listen_addresses" };
            (Some(format!("{name}={value}")), format!("{arg} {value}"), 2)
        } else if let Some(rest) = arg.strip_prefix("-D") {
            (Some(format!("data_directory={rest}")), arg.clone(), 1)
        } else if arg == "-i" {
            (Some("listen_addresses=*".to_string()), arg.clone(), 1)
        } else {
            (None, String::new(), 1)
        };
        index += used;
        let Some((name, value)) = assignment.as_deref().and_then(|a| a.split_once('=')) else {
            continue;
        };
        match setting(name).as_str() {
            "listen_addresses" => found.listen = Some(shown),
            "data_directory" => found.data_directory = Some(value.to_string()),
            "config_file" => found.config_file = Some(value.to_string()),
            "hba_file" => found.hba_file = Some(value.to_string()),
            _ => {}
        }
    }
    found
}

/// The source of `listen_addresses` for postmaster `pid` run as `cmdline`;
/// `None` when its files are not known (no `-D` nor `config_file` on its
/// command line: `PGDATA` names them) or are other files for it than for
/// porthole under another root (a container: a fix must be made inside
/// it). A server that shares porthole's root but has a mount namespace of
/// its own (a bind mount over its configuration directory) is read, and
/// its file named, through `/proc/PID/root` where it sees another file.
pub fn listen_addresses(system: &dyn System, pid: u32, cmdline: &[String]) -> Option<BindSource> {
    let found = arguments(cmdline);
    if let Some(argument) = found.listen {
        return Some(BindSource::CommandLine(argument));
    }
    let data = found.data_directory.map(|d| d.trim_end_matches('/').to_string());
    let config =
        found.config_file.or_else(|| data.as_ref().map(|d| format!("{d}/postgresql.conf")))?;
    if !config.starts_with('/') {
        return None;
    }
    let shared_root = mount_root(system, pid).is_empty();
    let mut reader = Reader::new(system, pid, shared_root.then(String::new));
    reader.read(&config, 0);
    if let Some(data) = data.filter(|d| d.starts_with('/')) {
        reader.read(&format!("{data}/postgresql.auto.conf"), 0);
    }
    if reader.elsewhere {
        return None;
    }
    Some(match reader.found {
        Some((file, line)) => BindSource::File { file, line },
        None => BindSource::Unset { last_file: Some(reader.reach(&config)) },
    })
}

/// Where a PostgreSQL server reads its pg_hba.conf, as it names the file,
/// and how porthole reaches the files the server names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaLocation {
    /// The path as the server sees it.
    pub path: String,
    /// `/proc/PID/root` when the server sees another root directory (a
    /// container, a chroot): prepended to every path it names. Else empty.
    pub root: String,
    /// The postmaster: with `root` empty, a path it names is read through
    /// `/proc/PID/root` when its mount namespace shows another file there
    /// (a bind mount over its configuration directory); `None`: as named.
    pub pid: Option<u32>,
    /// The server's major version, from `PG_VERSION` in its data
    /// directory: a trailing `\` continues a pg_hba.conf record from 14 on
    /// only (`None`: not known, read as the current release does).
    pub major_version: Option<u32>,
}

impl HbaLocation {
    /// The path that reaches `path`, as the server names it, from
    /// porthole's mount namespace.
    pub fn reach(&self, system: &dyn System, path: &str) -> String {
        match self.pid {
            Some(pid) if self.root.is_empty() => crate::audit::reached_path(system, pid, path),
            _ => format!("{}{path}", self.root),
        }
    }

    /// The path that reaches the server's pg_hba.conf from here.
    pub fn reached(&self, system: &dyn System) -> String {
        self.reach(system, &self.path)
    }
}

/// Where postmaster `pid`, run as `cmdline` with `environment_data` (its
/// `PGDATA`, when its command line has no `-D`), reads pg_hba.conf:
/// `-c hba_file=` on its command line, else the last `hba_file` line of
/// its configuration files (read in the server's order), else
/// `pg_hba.conf` in its data directory. `None` when neither a data
/// directory nor a configuration file is known.
pub fn hba_file(
    system: &dyn System,
    pid: u32,
    cmdline: &[String],
    environment_data: Option<&str>,
) -> Option<HbaLocation> {
    let found = arguments(cmdline);
    let root = mount_root(system, pid);
    let mut data = found
        .data_directory
        .or_else(|| environment_data.map(str::to_string))
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| d.starts_with('/'));
    let absolute = |path: String, data: &Option<String>| match (path.starts_with('/'), data) {
        (true, _) => Some(path),
        // The postmaster runs in its data directory.
        (false, Some(data)) => Some(format!("{data}/{path}")),
        (false, None) => None,
    };
    let reach = |path: &str| match root.as_str() {
        "" => crate::audit::reached_path(system, pid, path),
        root => format!("{root}{path}"),
    };
    let version = |data: &Option<String>| {
        let file = reach(&format!("{}/PG_VERSION", data.as_deref()?));
        let text = system.read_regular(&file, 64)?;
        String::from_utf8_lossy(&text).trim().split('.').next()?.parse().ok()
    };
    if let Some(file) = found.hba_file {
        let major_version = version(&data);
        let pid = Some(pid);
        return absolute(file, &data).map(|path| HbaLocation { path, root, pid, major_version });
    }
    let config = match found.config_file {
        Some(file) => absolute(file, &data),
        None => data.as_ref().map(|d| format!("{d}/postgresql.conf")),
    };
    let mut reader = Reader::new(system, pid, Some(root.clone()));
    if let Some(config) = &config {
        reader.read(config, 0);
    }
    // A configuration file given alone names the data directory.
    if data.is_none() {
        data = reader.values.get("data_directory").cloned().filter(|d| d.starts_with('/'));
    }
    if let Some(data) = &data {
        reader.read(&format!("{data}/postgresql.auto.conf"), 0);
    }
    let path = match reader.values.remove("hba_file") {
        Some(file) => absolute(file, &data)?,
        None => format!("{}/pg_hba.conf", data.as_deref()?),
    };
    let major_version = version(&data);
    Some(HbaLocation { path, root, pid: Some(pid), major_version })
}

/// `/proc/PID/root` when the server sees another root directory than
/// porthole (a container, a chroot), else empty.
fn mount_root(system: &dyn System, pid: u32) -> String {
    let status = |path: &str| system.file_status(path).map(|s| (s.device, s.inode));
    let root = format!("/proc/{pid}/root");
    match status(&format!("{root}/")) {
        Some(theirs) if Some(theirs) != status("/") => root,
        _ => String::new(),
    }
}

/// The files an `include_dir` directive reads, in the order the server
/// reads them: the names in `directory` (a path porthole reaches) that end
/// in `.conf` and do not begin with `.`, sorted byte-wise. PostgreSQL reads
/// its configuration files and, from 16 on, pg_hba.conf's `include_dir`
/// this way.
/// See: <https://www.postgresql.org/docs/current/config-setting.html#CONFIG-INCLUDES>
pub(crate) fn conf_directory(system: &dyn System, directory: &str) -> Vec<String> {
    let mut names: Vec<String> = system
        .directory_times(directory)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.ends_with(".conf") && !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

struct Reader<'a> {
    system: &'a dyn System,
    pid: u32,
    /// The last line that sets `listen_addresses`: (file, line from 1).
    found: Option<(String, usize)>,
    /// A path names another file for the server (`/proc/PID/root`).
    elsewhere: bool,
    /// Read files through this prefix (the server's root; empty: through
    /// `/proc/PID/root` where the server's mount namespace shows another
    /// file) instead of giving up on a server that sees other files
    /// (`elsewhere`).
    root: Option<String>,
    /// The last value of `hba_file` and `data_directory`.
    values: std::collections::BTreeMap<String, String>,
}

impl<'a> Reader<'a> {
    fn new(system: &'a dyn System, pid: u32, root: Option<String>) -> Self {
        Reader { system, pid, found: None, elsewhere: false, root, values: Default::default() }
    }

    /// The path that reaches `file`, as the server names it, from here.
    fn reach(&self, file: &str) -> String {
        match self.root.as_deref() {
            Some("") => crate::audit::reached_path(self.system, self.pid, file),
            root => format!("{}{file}", root.unwrap_or_default()),
        }
    }

    fn read(&mut self, file: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let status = |path: &str| self.system.file_status(path).map(|s| (s.device, s.inode));
        let reached = match self.root {
            Some(_) => self.reach(file),
            None => {
                let theirs = status(&format!("/proc/{}/root{file}", self.pid));
                if theirs.is_some() && theirs != status(file) {
                    self.elsewhere = true;
                    return;
                }
                file.to_string()
            }
        };
        // Paths from another user's command line and files: regular files
        // only, never a FIFO or a device.
        let regular = self.system.file_status(&reached).is_none_or(|s| s.is_file);
        let Some(bytes) = self.system.read_regular(&reached, MAX_FILE).filter(|_| regular) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        let directory = file.rsplit_once('/').map_or("", |(d, _)| d);
        let relative = |path: &str| {
            if path.starts_with('/') {
                path.to_string()
            } else {
                format!("{directory}/{path}")
            }
        };
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let (name, value) = match line.split_once('=') {
                Some((name, value)) => (name.trim(), value.trim()),
                None => line.split_once([' ', '\t']).unwrap_or((line, "")),
            };
            let value = value.trim().trim_matches('\'');
            match setting(name).as_str() {
                "listen_addresses" => self.found = Some((reached.clone(), index + 1)),
                name @ ("hba_file" | "data_directory") => {
                    self.values.insert(name.to_string(), value.to_string());
                }
                "include" | "include_if_exists" => self.read(&relative(value), depth + 1),
                "include_dir" => {
                    let included = relative(value);
                    for name in conf_directory(self.system, &self.reach(&included)) {
                        self.read(&format!("{included}/{name}"), depth + 1);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_command_line_names_the_setting_and_the_files() {
        let debian = arguments(&args("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf"));
        assert_eq!(
            debian,
            Arguments {
                listen: None,
                data_directory: Some("/var/lib/postgresql/15/main".into()),
                config_file: Some("/etc/postgresql/15/main/postgresql.conf".into()),
                hba_file: None,
            }
        );
        for (line, shown) in [
            ("postgres -D /d -c listen_addresses=*", "-c listen_addresses=*"),
            ("postgres -D/d -clisten_addresses=0.0.0.0", "-clisten_addresses=0.0.0.0"),
            ("postgres --listen-addresses=* -D /d", "--listen-addresses=*"),
            ("postgres -h 0.0.0.0 -D /d", "-h 0.0.0.0"),
            ("postgres -i -D /d", "-i"),
        ] {
            let found = arguments(&args(line));
            assert_eq!(found.listen.as_deref(), Some(shown), "{line}");
            assert_eq!(found.data_directory.as_deref(), Some("/d"), "{line}");
        }
        // Another setting's value is not taken for an option.
        assert_eq!(arguments(&args("postgres -c cluster_name=-i -D /d")).listen, None);
    }
}
