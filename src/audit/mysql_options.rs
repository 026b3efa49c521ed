//! Where a MySQL/MariaDB server's `bind-address` comes from, so the
//! `exposed-service` fix edits the line that sets it: Debian's packages set
//! it in an included file (`/etc/mysql/mariadb.conf.d/50-server.cnf`), and a
//! line added to `[mysqld]` of my.cnf is read before `!includedir` and loses
//! to it. The server's command line wins over every file; files are read in
//! the server's order (`--defaults-file` alone, else `/etc/my.cnf`,
//! `/etc/mysql/my.cnf`, then `--defaults-extra-file`), following `!include`
//! and `!includedir` (its `.cnf` files in name order), and the last value
//! in a server group wins.
//! See: <https://mariadb.com/kb/en/configuring-mariadb-with-option-files/>

use crate::inventory::system::System;

/// Where `bind-address` was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindSource {
    /// An argument of the server's command line (`--bind-address=0.0.0.0`).
    CommandLine(String),
    /// Line `line` (from 1) of `file`, which sets `value`.
    File { file: String, line: usize, value: String },
    /// Not set anywhere read: the server listens on every address; the
    /// last option file read, where a `[mysqld]` group added at its end wins.
    Unset { last_file: Option<String> },
}

/// How deep `!include` may nest (a loop must end).
const MAX_DEPTH: usize = 8;

/// The largest option file read (Debian's are a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// Whether `group` is read by the server.
fn server_group(group: &str) -> bool {
    let group = group.to_ascii_lowercase();
    matches!(group.as_str(), "mysqld" | "server" | "mariadb" | "mariadbd" | "client-server")
        || ["mysqld-", "mariadb-", "mariadbd-", "server-"].iter().any(|p| group.starts_with(p))
}

/// Whether `name` (without leading dashes) is the bind-address option.
fn is_bind_address(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    name == "bind-address" || name == "loose-bind-address"
}

/// What a server run as `cmdline` reads for `option`: the last argument
/// that sets it (as typed, with its value: the next argument when it has
/// no `=`), else a reader that went through the option files the server
/// reads (`--defaults-file` alone, else `/etc/my.cnf` and
/// `/etc/mysql/my.cnf`, then `--defaults-extra-file`; none with
/// `--no-defaults`) looking for it in the server's groups.
enum ServerOption<'a> {
    CommandLine { shown: String, value: String },
    Files(Reader<'a>),
}

fn server_option<'a>(
    system: &'a dyn System,
    pid: u32,
    cmdline: &[String],
    option: fn(&str) -> bool,
) -> ServerOption<'a> {
    let mut defaults_file = None;
    let mut extra_file = None;
    let mut no_defaults = false;
    let mut on_command_line = None;
    for (index, arg) in cmdline.iter().enumerate().skip(1) {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let Some(name) = name.strip_prefix("--") else { continue };
        match name.replace('_', "-").as_str() {
            "defaults-file" => defaults_file = value,
            "defaults-extra-file" => extra_file = value,
            "no-defaults" => no_defaults = true,
            name if option(name) => {
                on_command_line = Some(match value {
                    Some(value) => ServerOption::CommandLine { shown: arg.clone(), value },
                    None => {
                        let value = cmdline.get(index + 1).cloned().unwrap_or_default();
                        ServerOption::CommandLine { shown: format!("{arg} {value}"), value }
                    }
                });
            }
            _ => {}
        }
    }
    if let Some(found) = on_command_line {
        return found;
    }
    let files: Vec<String> = if no_defaults {
        Vec::new()
    } else if let Some(file) = defaults_file {
        vec![file]
    } else {
        ["/etc/my.cnf", "/etc/mysql/my.cnf"]
            .into_iter()
            .map(str::to_string)
            .chain(extra_file)
            .collect()
    };
    let mut reader = Reader {
        system,
        pid: Some(pid),
        root: String::new(),
        group: server_group,
        option,
        found: None,
        every: Vec::new(),
        last_file: None,
        elsewhere: false,
    };
    for file in &files {
        reader.read(file, 0);
    }
    ServerOption::Files(reader)
}

/// The source of `bind-address` for server `pid` run as `cmdline`; `None`
/// when the server sees other files at those paths than porthole does (a
/// container: a fix must be made inside it).
pub fn bind_address(system: &dyn System, pid: u32, cmdline: &[String]) -> Option<BindSource> {
    match server_option(system, pid, cmdline, is_bind_address) {
        ServerOption::CommandLine { shown, .. } => Some(BindSource::CommandLine(shown)),
        ServerOption::Files(reader) if reader.elsewhere => None,
        ServerOption::Files(reader) => Some(match reader.found {
            Some(found) => {
                BindSource::File { file: found.file, line: found.line, value: found.value }
            }
            None => BindSource::Unset { last_file: reader.last_file },
        }),
    }
}

/// The Unix socket server `pid`, run as `cmdline`, listens on: its
/// `--socket` option, else the last `socket` of a server group in the
/// option files it reads. `None` when neither sets it (the compiled-in
/// default applies, which the client shares) or the server sees other
/// files (a container).
pub fn server_socket(system: &dyn System, pid: u32, cmdline: &[String]) -> Option<String> {
    match server_option(system, pid, cmdline, is_socket) {
        ServerOption::CommandLine { value, .. } => Some(value).filter(|value| !value.is_empty()),
        ServerOption::Files(reader) if reader.elsewhere => None,
        ServerOption::Files(reader) => {
            reader.found.map(|found| found.value).filter(|value| !value.is_empty())
        }
    }
}

/// The command that unblocks the client hosts a MySQL/MariaDB server
/// blocked after too many connection errors (ERR 1129), for the server
/// `owner` (pid, process name, command line) when it is known:
/// `mariadb-admin` where the server is MariaDB or that client is installed,
/// over the server's own Unix socket when its options name one (TCP from a
/// blocked address is refused, the socket never is).
pub fn flush_hosts_command(system: &dyn System, owner: Option<(u32, &str, &[String])>) -> String {
    let named_mariadb = owner.is_some_and(|(_, name, _)| name.starts_with("mariadb"));
    let client = if named_mariadb || system.exists("/usr/bin/mariadb-admin") {
        "mariadb-admin"
    } else {
        "mysqladmin"
    };
    let socket = owner
        .and_then(|(pid, _, cmdline)| server_socket(system, pid, cmdline))
        .map(|socket| format!(" --socket={}", crate::shell::printable_word(&socket)))
        .unwrap_or_default();
    format!("{client}{socket} flush-hosts")
}

/// Whether `name` (without leading dashes) turns on `skip-grant-tables`.
fn is_skip_grant_tables(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    name == "skip-grant-tables" || name == "loose-skip-grant-tables"
}

/// Every line of the option files server `pid`, run as `cmdline`, reads
/// that sets `skip-grant-tables` in a server group (deleting the last one
/// alone would leave an earlier one in force); `None` when its command line
/// sets it, or it sees other files than porthole does (a container).
pub fn skip_grant_tables_lines(
    system: &dyn System,
    pid: u32,
    cmdline: &[String],
) -> Option<Vec<OptionLine>> {
    match server_option(system, pid, cmdline, is_skip_grant_tables) {
        ServerOption::Files(reader) if !reader.elsewhere => Some(reader.every),
        _ => None,
    }
}

/// An option's line in an option file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionLine {
    pub file: String,
    /// From 1.
    pub line: usize,
    /// The group it is in, as written (`client`).
    pub group: String,
    /// The value, without quotes.
    pub value: String,
}

/// Whether `group` is read by the `mariadb`/`mysql` command-line client.
fn client_group(group: &str) -> bool {
    let group = group.to_ascii_lowercase();
    matches!(
        group.as_str(),
        "client" | "client-server" | "client-mariadb" | "mysql" | "mariadb-client"
    )
}

/// Whether `name` is the client's socket option.
fn is_socket(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    name == "socket" || name == "loose-socket"
}

/// The `socket=` the `mariadb`/`mysql` client reads from its option files
/// (`/etc/my.cnf`, `/etc/mysql/my.cnf` with its `!includedir`s,
/// `$MYSQL_HOME/my.cnf`, `~/.my.cnf`, in that order; the last one in a
/// client group wins), as the client it is `home` and `mysql_home` of;
/// `None` when no file sets it (the client's compiled-in default applies).
/// See: <https://mariadb.com/kb/en/configuring-mariadb-with-option-files/>
pub fn client_socket(
    system: &dyn System,
    root: &str,
    home: Option<&str>,
    mysql_home: Option<&str>,
) -> Option<OptionLine> {
    client_option(system, root, home, mysql_home, is_socket)
}

/// The `port=` the `mariadb`/`mysql` client reads from its option files,
/// found as [`client_socket`] finds the socket.
pub fn client_port(
    system: &dyn System,
    root: &str,
    home: Option<&str>,
    mysql_home: Option<&str>,
) -> Option<OptionLine> {
    client_option(system, root, home, mysql_home, is_port)
}

/// Whether `name` is the client's port option.
fn is_port(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    name == "port" || name == "loose-port"
}

/// The last line of `option` in a client group of the client's option
/// files. `root` is the client's root directory as seen from here
/// (`/proc/PID/root` for another process, which may be in a container;
/// empty for porthole's own): the files are read there and named as the
/// client sees them.
fn client_option(
    system: &dyn System,
    root: &str,
    home: Option<&str>,
    mysql_home: Option<&str>,
    option: fn(&str) -> bool,
) -> Option<OptionLine> {
    let files: Vec<String> = ["/etc/my.cnf".to_string(), "/etc/mysql/my.cnf".to_string()]
        .into_iter()
        .chain(mysql_home.map(|directory| format!("{}/my.cnf", directory.trim_end_matches('/'))))
        .chain(home.map(|directory| format!("{}/.my.cnf", directory.trim_end_matches('/'))))
        .collect();
    let mut reader = Reader {
        system,
        pid: None,
        root: root.to_string(),
        group: client_group,
        option,
        found: None,
        every: Vec::new(),
        last_file: None,
        elsewhere: false,
    };
    for file in &files {
        reader.read(file, 0);
    }
    reader.found.filter(|found| !found.value.is_empty())
}

struct Reader<'a> {
    system: &'a dyn System,
    /// The server whose files these are: a path that names another file
    /// for it (`/proc/PID/root`) is not read.
    pid: Option<u32>,
    /// The reader's root directory as seen from here (`/proc/PID/root`),
    /// put before every path read; the paths named stay the reader's.
    root: String,
    /// Whether a group is read by the program.
    group: fn(&str) -> bool,
    /// Whether an option name is the one looked for.
    option: fn(&str) -> bool,
    /// A path names another file for the server (`/proc/PID/root`).
    elsewhere: bool,
    /// The last line of the option seen in a group the program reads.
    found: Option<OptionLine>,
    /// Every such line, in the order read.
    every: Vec<OptionLine>,
    last_file: Option<String>,
}

impl Reader<'_> {
    fn read(&mut self, file: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        // `ip netns exec` gives the server a mount namespace of its own
        // with the same files; a container has others.
        let status = |path: &str| self.system.file_status(path).map(|s| (s.device, s.inode));
        if let Some(pid) = self.pid {
            let theirs = status(&format!("/proc/{pid}/root{file}"));
            if theirs.is_some() && theirs != status(file) {
                self.elsewhere = true;
                return;
            }
        }
        // The paths come from another user's command line: a FIFO would
        // block the audit and `/dev/zero` fill its memory. Regular files
        // only, and not larger than an option file gets.
        let here = format!("{}{file}", self.root);
        let regular = self.system.file_status(&here).is_none_or(|s| s.is_file);
        let Some(bytes) = self.system.read_regular(&here, MAX_FILE).filter(|_| regular) else {
            return;
        };
        let text = String::from_utf8_lossy(&bytes);
        self.last_file = Some(file.to_string());
        let mut group = None;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(included) = line.strip_prefix("!includedir") {
                let directory = included.trim().trim_end_matches('/');
                let mut names: Vec<String> = self
                    .system
                    .directory_times(&format!("{}{directory}", self.root))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, _)| name)
                    .filter(|name| name.ends_with(".cnf"))
                    .collect();
                names.sort();
                for name in names {
                    self.read(&format!("{directory}/{name}"), depth + 1);
                }
            } else if let Some(included) = line.strip_prefix("!include") {
                self.read(included.trim(), depth + 1);
            } else if let Some(name) = line.strip_prefix('[') {
                let name = name.trim_end_matches(']').trim();
                group = (self.group)(name).then(|| name.to_string());
            } else if let Some(group) = group.as_ref().filter(|_| !line.starts_with(['#', ';'])) {
                let (name, value) = line.split_once('=').unwrap_or((line, ""));
                if (self.option)(name) {
                    // A value may be quoted, and a comment may follow it.
                    let value = value.split(" #").next().unwrap_or_default().trim();
                    let value = value.trim_matches(|c| c == '"' || c == '\'');
                    let found = OptionLine {
                        file: file.to_string(),
                        line: index + 1,
                        group: group.clone(),
                        value: value.to_string(),
                    };
                    self.every.push(found.clone());
                    self.found = Some(found);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;
    use std::time::SystemTime;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_last_line_of_a_server_group_wins_across_included_files() {
        let mut system = Scripted::default();
        system.files.insert(
            "/etc/mysql/my.cnf".into(),
            b"[mysqld]\nbind-address = 127.0.0.1\n[client]\nbind-address = 10.0.0.1\n!includedir /etc/mysql/mariadb.conf.d/\n".to_vec(),
        );
        system.directories.insert(
            "/etc/mysql/mariadb.conf.d".into(),
            ["60-galera.cnf", "50-server.cnf", "README"]
                .map(|name| (name.to_string(), SystemTime::UNIX_EPOCH))
                .to_vec(),
        );
        system.files.insert(
            "/etc/mysql/mariadb.conf.d/50-server.cnf".into(),
            b"# comment\n[mariadbd]\n#bind-address = ::\nbind_address=0.0.0.0\n".to_vec(),
        );
        system
            .files
            .insert("/etc/mysql/mariadb.conf.d/60-galera.cnf".into(), b"[galera]\n".to_vec());
        assert_eq!(
            bind_address(&system, 1, &args("/usr/sbin/mariadbd")),
            Some(BindSource::File {
                file: "/etc/mysql/mariadb.conf.d/50-server.cnf".into(),
                line: 4,
                value: "0.0.0.0".into(),
            })
        );
        assert_eq!(
            bind_address(&system, 1, &args("/usr/sbin/mariadbd --bind-address 0.0.0.0")),
            Some(BindSource::CommandLine("--bind-address 0.0.0.0".into()))
        );
        assert_eq!(
            bind_address(&system, 1, &args("mariadbd --no-defaults --port=3307")),
            Some(BindSource::Unset { last_file: None })
        );
        system.files.insert("/srv/db/my.cnf".into(), b"[mysqld]\nport = 3307\n".to_vec());
        assert_eq!(
            bind_address(&system, 1, &args("mariadbd --defaults-file=/srv/db/my.cnf")),
            Some(BindSource::Unset { last_file: Some("/srv/db/my.cnf".into()) })
        );
    }

    #[test]
    fn a_server_that_sees_other_files_is_not_read_for() {
        use crate::inventory::system::FileStatus;
        let mut system = Scripted::default();
        system.files.insert("/etc/mysql/my.cnf".into(), b"[mysqld]\nbind-address=::\n".to_vec());
        let status =
            |inode| FileStatus { device: 1, inode, mode: 0o100644, uid: 0, gid: 0, is_file: true };
        system.statuses.insert("/etc/mysql/my.cnf".into(), status(10));
        system.statuses.insert("/proc/7/root/etc/mysql/my.cnf".into(), status(99));
        assert_eq!(bind_address(&system, 7, &args("mariadbd")), None, "a container's own file");
        system.statuses.insert("/proc/7/root/etc/mysql/my.cnf".into(), status(10));
        assert!(bind_address(&system, 7, &args("mariadbd")).is_some(), "the same file");
    }

    #[test]
    fn the_clients_socket_is_the_last_in_a_client_group() {
        let mut system = Scripted::default();
        system.files.insert(
            "/etc/mysql/my.cnf".into(),
            b"[client-server]\nsocket = /run/mysqld/mysqld.sock\n[mysqld]\nsocket=/srv/server.sock\n".to_vec(),
        );
        let found = client_socket(&system, "", None, None).expect("a socket line");
        assert_eq!(
            (found.file.as_str(), found.line, found.group.as_str(), found.value.as_str()),
            ("/etc/mysql/my.cnf", 2, "client-server", "/run/mysqld/mysqld.sock")
        );
        system.files.insert(
            "/home/ci/.my.cnf".into(),
            b"[client]\nuser=ci\nsocket=\"/tmp/my sock\"  # ours\n".to_vec(),
        );
        let found = client_socket(&system, "", Some("/home/ci"), None).expect("a socket line");
        assert_eq!(
            (found.file.as_str(), found.value.as_str()),
            ("/home/ci/.my.cnf", "/tmp/my sock")
        );
        // Another process's files are read through its root, and named as
        // it sees them; so is its port.
        let mut container = Scripted::default();
        container.files.insert(
            "/proc/7/root/etc/mysql/my.cnf".into(),
            b"[client]\nport = 3307\nsocket = /run/theirs.sock\n".to_vec(),
        );
        let found = client_socket(&container, "/proc/7/root", None, None).expect("theirs");
        assert_eq!(
            (found.file.as_str(), found.value.as_str()),
            ("/etc/mysql/my.cnf", "/run/theirs.sock")
        );
        let port = client_port(&container, "/proc/7/root", None, None).expect("a port line");
        assert_eq!((port.line, port.value.as_str()), (2, "3307"));
        assert_eq!(client_port(&container, "", None, None), None);
        // A server group's socket is the server's, not the client's.
        let mut server_only = Scripted::default();
        server_only.files.insert("/etc/my.cnf".into(), b"[mysqld]\nsocket=/x.sock\n".to_vec());
        assert_eq!(client_socket(&server_only, "", None, None), None);
    }

    #[test]
    fn only_regular_files_are_read() {
        use crate::inventory::system::FileStatus;
        let mut system = Scripted::default();
        // Scripted, a read of these would succeed: the status must stop it.
        system.files.insert("/dev/zero".into(), b"[mysqld]\nbind-address=::\n".to_vec());
        let device =
            FileStatus { device: 5, inode: 4, mode: 0o20666, uid: 0, gid: 0, is_file: false };
        system.statuses.insert("/dev/zero".into(), device);
        assert_eq!(
            bind_address(&system, 7, &args("mariadbd --defaults-file=/dev/zero")),
            Some(BindSource::Unset { last_file: None })
        );
    }
}
