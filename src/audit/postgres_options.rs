//! Where a PostgreSQL server's `listen_addresses` comes from, so the
//! `exposed-service` fix changes the setting the server really uses. The
//! postmaster's command line (`-c listen_addresses=*`, `-h ADDRESSES`, the
//! old `-i`) wins over every file; then the last line in the files read in
//! the server's order: its configuration file (`-c config_file=`, as
//! Debian's clusters are started, else `postgresql.conf` in the data
//! directory `-D` names), with its `include`, `include_if_exists` and
//! `include_dir` followed where they stand, then `postgresql.auto.conf` in
//! the data directory (`ALTER SYSTEM`), which beats them all. A line added
//! to postgresql.conf loses to either. Each line is read as the server's
//! lexer reads it ([`assignments`]): quoted values with their escapes, a
//! `#` inside quotes, no `=` needed.
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
    /// Every other `-c NAME=VALUE`, by name (the last one wins).
    others: std::collections::BTreeMap<String, String>,
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
            other => {
                found.others.insert(other.to_string(), value.to_string());
            }
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
        Some((file, line, value)) => BindSource::File { file, line, value },
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
    let Configuration { arguments, root, data, mut reader } =
        configuration(system, pid, cmdline, environment_data);
    let absolute = |path: String| match (path.starts_with('/'), &data) {
        (true, _) => Some(path),
        // The postmaster runs in its data directory.
        (false, Some(data)) => Some(format!("{data}/{path}")),
        (false, None) => None,
    };
    let path = match arguments.hba_file.or_else(|| reader.values.remove("hba_file")) {
        Some(file) => absolute(file)?,
        None => format!("{}/pg_hba.conf", data.as_deref()?),
    };
    let major_version = data.as_ref().and_then(|data| {
        let file = reader.reach(&format!("{data}/PG_VERSION"));
        let text = system.read_regular(&file, 64)?;
        String::from_utf8_lossy(&text).trim().split('.').next()?.parse().ok()
    });
    Some(HbaLocation { path, root, pid: Some(pid), major_version })
}

/// The value of setting `name` (lower case, `_` between words) the
/// postmaster `pid` runs with: `-c NAME=VALUE` on its command line, else
/// the last line of its configuration files, read as [`hba_file`] reads
/// them. `None`: not set, so the server's default.
pub fn server_setting(
    system: &dyn System,
    pid: u32,
    cmdline: &[String],
    environment_data: Option<&str>,
    name: &str,
) -> Option<String> {
    let Configuration { arguments, mut reader, .. } =
        configuration(system, pid, cmdline, environment_data);
    arguments.others.get(name).cloned().or_else(|| reader.values.remove(name))
}

/// The configuration file postmaster `pid` read first (as reached from
/// here): `-c config_file=`, else `postgresql.conf` in its data directory.
/// A setting added at its end is read after the lines above it, though an
/// included file or `postgresql.auto.conf` read later still wins.
pub fn config_file(
    system: &dyn System,
    pid: u32,
    cmdline: &[String],
    environment_data: Option<&str>,
) -> Option<String> {
    let Configuration { arguments, data, reader, .. } =
        configuration(system, pid, cmdline, environment_data);
    let file = match arguments.config_file {
        Some(file) if file.starts_with('/') => file,
        Some(file) => format!("{}/{file}", data?),
        None => format!("{}/postgresql.conf", data?),
    };
    Some(reader.reach(&file))
}

/// Whether `value` is a boolean setting PostgreSQL reads as on: `on`,
/// `true`, `yes`, `1`, or a unique prefix of the words, in any case.
/// See: <https://www.postgresql.org/docs/current/config-setting.html>
pub fn is_on(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    let prefix = |word: &str, shortest: usize| value.len() >= shortest && word.starts_with(&value);
    value == "1" || prefix("on", 2) || prefix("true", 1) || prefix("yes", 1)
}

/// A server's arguments and the configuration files it read.
struct Configuration<'a> {
    arguments: Arguments,
    /// See [`HbaLocation::root`].
    root: String,
    /// The data directory, absolute.
    data: Option<String>,
    /// The files read: `values` holds the last value of each setting.
    reader: Reader<'a>,
}

/// Reads the configuration files of postmaster `pid` run as `cmdline`
/// (with `environment_data`, its `PGDATA`) in the server's order: its
/// configuration file (`-c config_file=`, else `postgresql.conf` in the
/// data directory), then `postgresql.auto.conf` in the data directory.
fn configuration<'a>(
    system: &'a dyn System,
    pid: u32,
    cmdline: &[String],
    environment_data: Option<&str>,
) -> Configuration<'a> {
    let arguments = arguments(cmdline);
    let root = mount_root(system, pid);
    let mut data = arguments
        .data_directory
        .clone()
        .or_else(|| environment_data.map(str::to_string))
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| d.starts_with('/'));
    let config = match arguments.config_file.clone() {
        Some(file) if file.starts_with('/') => Some(file),
        Some(file) => data.as_ref().map(|data| format!("{data}/{file}")),
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
    Configuration { arguments, root, data, reader }
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

/// One setting a line of a PostgreSQL configuration file assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The line, from 1.
    pub line: usize,
    /// The setting's name, lowercased (the server compares names so).
    pub name: String,
    /// Its value, quotes and escapes undone.
    pub value: String,
}

/// The settings `text`, a PostgreSQL configuration file, assigns, in the
/// order the server reads them (the last of a name wins), each line read
/// as the server's lexer (`guc-file.l`) reads it: a name, an optional
/// `=`, one value, then nothing but blanks and a comment. A value is
/// quoted (`'…'`, where `''` and `\'` are a quote, `\n`, `\t`, `\b`, `\f`,
/// `\r` and octal `\101` the characters they name, and a `#` is part of
/// the value), or unquoted: a name-like word (`localhost`, `on`,
/// `conf.d/x`) or a number (`5432`, `64MB`, `0.5`), which a `#` ends. A
/// line the server refuses (`listen_addresses = *`, a second value) sets
/// nothing here: the server does not start with it.
/// See: <https://www.postgresql.org/docs/current/config-setting.html#CONFIG-SETTING-CONFIGURATION-FILE>
pub fn assignments(text: &[u8]) -> Vec<Assignment> {
    text.split(|&byte| byte == b'\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let (name, value) = assignment(line)?;
            Some(Assignment { line: index + 1, name, value })
        })
        .collect()
}

/// `[ \t\r]`: what the lexer skips between tokens.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// `LETTER`: ASCII letters, `_` and every byte from 0x80 (UTF-8).
fn is_letter(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

fn is_letter_or_digit(byte: u8) -> bool {
    is_letter(byte) || byte.is_ascii_digit()
}

/// The end of the run of bytes from `at` that `keep` accepts.
fn run(line: &[u8], at: usize, keep: impl Fn(u8) -> bool) -> usize {
    at + line[at..].iter().take_while(|&&byte| keep(byte)).count()
}

/// The name and value line `line` assigns (see [`assignments`]).
fn assignment(line: &[u8]) -> Option<(String, String)> {
    let skip = |at: usize| run(line, at, is_blank);
    let start = skip(0);
    // The name: `ID` or `QUALIFIED_ID` (`ID.ID`); a longer match of
    // `UNQUOTED_STRING` (`listen-addresses`, `a.b.c`) is not a name.
    if !line.get(start).copied().is_some_and(is_letter) {
        return None;
    }
    let mut end = run(line, start, is_letter_or_digit);
    if line.get(end) == Some(&b'.') && line.get(end + 1).copied().is_some_and(is_letter) {
        end = run(line, end + 1, is_letter_or_digit);
    }
    if unquoted_end(line, start) > end {
        return None;
    }
    let name = String::from_utf8_lossy(&line[start..end]).to_lowercase();
    let mut at = skip(end);
    if line.get(at) == Some(&b'=') {
        at = skip(at + 1);
    }
    let (value, end) = value(line, at)?;
    // Then the line ends, or a comment takes the rest.
    let rest = skip(end);
    (rest == line.len() || line[rest] == b'#').then_some((name, value))
}

/// The longest `UNQUOTED_STRING` from `at`: a letter, then letters,
/// digits and `-._:/`.
fn unquoted_end(line: &[u8], at: usize) -> usize {
    run(line, at, |byte| is_letter_or_digit(byte) || b"-._:/".contains(&byte))
}

/// The value token at `at` and where it ends: a quoted string, an
/// unquoted word or a number. `None` where the server sees none.
fn value(line: &[u8], at: usize) -> Option<(String, usize)> {
    let first = *line.get(at)?;
    if first == b'\'' {
        let end = quoted_end(line, at)?;
        return Some((unescaped(&line[at + 1..end - 1]), end));
    }
    let end = if is_letter(first) { unquoted_end(line, at) } else { number_end(line, at)? };
    Some((String::from_utf8_lossy(&line[at..end]).into_owned(), end))
}

/// The end of the longest `STRING` from the quote at `at`
/// (`'([^'\\\n]|\\.|'')*'`): every quote may close it, and `''` may go on,
/// so the longest ends at the last quote reached.
fn quoted_end(line: &[u8], at: usize) -> Option<usize> {
    let mut closed = None;
    let mut index = at + 1;
    while let Some(&byte) = line.get(index) {
        match byte {
            b'\\' if line.get(index + 1).is_some() => index += 2,
            b'\\' => break,
            b'\'' => {
                closed = Some(index + 1);
                if line.get(index + 1) != Some(&b'\'') {
                    break;
                }
                index += 2;
            }
            _ => index += 1,
        }
    }
    closed
}

/// The longest `INTEGER` (`[-+]?([0-9]+|0x[0-9a-fA-F]+)[a-zA-Z]*`) or
/// `REAL` (`[-+]?[0-9]*\.[0-9]*([Ee][-+]?[0-9]+)?`) from `at`.
fn number_end(line: &[u8], at: usize) -> Option<usize> {
    let digits = |at: usize| run(line, at, |byte| byte.is_ascii_digit());
    let signed = at + usize::from(matches!(line[at], b'-' | b'+'));
    let mut integer = None;
    let whole = digits(signed);
    if whole > signed {
        let hex = (line[signed..].starts_with(b"0x")
            && line.get(signed + 2).is_some_and(u8::is_ascii_hexdigit))
        .then(|| run(line, signed + 2, |byte| byte.is_ascii_hexdigit()));
        let number = hex.unwrap_or(whole);
        integer = Some(run(line, number, |byte| byte.is_ascii_alphabetic()));
    }
    let mut real = None;
    if line.get(whole) == Some(&b'.') {
        let mut end = digits(whole + 1);
        if matches!(line.get(end), Some(b'E' | b'e')) {
            let sign = end + 1 + usize::from(matches!(line.get(end + 1), Some(b'-' | b'+')));
            if digits(sign) > sign {
                end = digits(sign);
            }
        }
        real = Some(end);
    }
    integer.max(real)
}

/// A quoted value's text as the server keeps it (`DeescapeQuotedString`):
/// `''` is a quote, `\b \f \n \r \t` the control characters, `\` and up
/// to three octal digits the byte they make, and `\` before any other
/// character that character.
fn unescaped(inner: &[u8]) -> String {
    let mut value = Vec::with_capacity(inner.len());
    let mut index = 0;
    while let Some(&byte) = inner.get(index) {
        index += 1;
        match byte {
            b'\\' => {
                let Some(&escaped) = inner.get(index) else { break };
                index += 1;
                value.push(match escaped {
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'0'..=b'7' => {
                        let mut octal = u32::from(escaped - b'0');
                        for _ in 0..2 {
                            match inner.get(index) {
                                Some(&digit @ b'0'..=b'7') => {
                                    octal = (octal << 3) + u32::from(digit - b'0');
                                    index += 1;
                                }
                                _ => break,
                            }
                        }
                        // A `char` in C: `\777` wraps.
                        (octal & 0xff) as u8
                    }
                    other => other,
                });
            }
            b'\'' if inner.get(index) == Some(&b'\'') => {
                index += 1;
                value.push(b'\'');
            }
            other => value.push(other),
        }
    }
    String::from_utf8_lossy(&value).into_owned()
}

struct Reader<'a> {
    system: &'a dyn System,
    pid: u32,
    /// The last line that sets `listen_addresses`: (file, line from 1,
    /// value).
    found: Option<(String, usize, String)>,
    /// A path names another file for the server (`/proc/PID/root`).
    elsewhere: bool,
    /// Read files through this prefix (the server's root; empty: through
    /// `/proc/PID/root` where the server's mount namespace shows another
    /// file) instead of giving up on a server that sees other files
    /// (`elsewhere`).
    root: Option<String>,
    /// The last value of each other setting (`hba_file`, `ssl`…).
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
        let directory = file.rsplit_once('/').map_or("", |(d, _)| d);
        let relative = |path: &str| {
            if path.starts_with('/') {
                path.to_string()
            } else {
                format!("{directory}/{path}")
            }
        };
        for Assignment { line, name, value } in assignments(&bytes) {
            let value = value.as_str();
            match name.as_str() {
                "listen_addresses" => {
                    self.found = Some((reached.clone(), line, value.to_string()));
                }
                "include" | "include_if_exists" => self.read(&relative(value), depth + 1),
                "include_dir" => {
                    let included = relative(value);
                    for name in conf_directory(self.system, &self.reach(&included)) {
                        self.read(&format!("{included}/{name}"), depth + 1);
                    }
                }
                name => {
                    self.values.insert(name.to_string(), value.to_string());
                }
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
                others: Default::default(),
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

    /// Each form as PostgreSQL 15 reads it: checked against the installed
    /// server's `postgres -C listen_addresses` (the integration tests run
    /// it on the same forms).
    #[test]
    fn lines_are_read_as_the_server_lexes_them() {
        let read = |line: &str| assignment(line.as_bytes());
        let set = |value: &str| Some(("listen_addresses".to_string(), value.to_string()));
        for (line, expected) in [
            ("listen_addresses = 'localhost,10.0.0.1' # comment", set("localhost,10.0.0.1")),
            ("listen_addresses = '*'#x", set("*")),
            ("listen_addresses 'a#b'", set("a#b")),
            ("  Listen_Addresses='it''s'", set("it's")),
            ("listen_addresses = 'a\\'b\\\\c\\101\\tz'", set("a'b\\cA\tz")),
            ("listen_addresses = localhost#unquoted, ended by the comment", set("localhost")),
            ("listen_addresses = 'a=b'", set("a=b")),
            ("listen_addresses 'a=b' # no equals sign", set("a=b")),
            ("listen_addresses = ''", set("")),
            ("listen_addresses = 'x'\r", set("x")),
            ("port = 5432", Some(("port".into(), "5432".into()))),
            ("work_mem=64MB", Some(("work_mem".into(), "64MB".into()))),
            ("random_page_cost = 1.5e1", Some(("random_page_cost".into(), "1.5e1".into()))),
            ("include_dir conf.d/local", Some(("include_dir".into(), "conf.d/local".into()))),
            ("custom.option = on", Some(("custom.option".into(), "on".into()))),
            // The server refuses these lines (and does not start).
            ("listen_addresses = *", None),
            ("listen_addresses = 0.0.0.0", None),
            ("listen_addresses = 'a' 'b'", None),
            ("listen_addresses = 'unterminated", None),
            ("listen_addresses = 'a''", None),
            ("listen-addresses = 'x'", None),
            ("listen_addresses", None),
            ("listen_addresses =", None),
            // Not a setting.
            ("# listen_addresses = '*'", None),
            ("", None),
        ] {
            assert_eq!(read(line), expected, "{line}");
        }
        let text =
            b"listen_addresses = '127.0.0.1'\n\nport 5433\nlisten_addresses '*' # the last wins\n";
        let found: Vec<(usize, String)> = assignments(text)
            .into_iter()
            .filter(|a| a.name == "listen_addresses")
            .map(|a| (a.line, a.value))
            .collect();
        assert_eq!(found, [(1, "127.0.0.1".to_string()), (4, "*".to_string())]);
    }

    /// The line that sets `listen_addresses` last, with includes whose
    /// names hold a quote, a `#` and an `=`, which the server reads whole.
    #[test]
    fn the_last_line_that_sets_the_addresses_is_found_through_odd_includes() {
        use crate::inventory::system::fake::Scripted;
        let system = Scripted::default()
            .file(
                "/d/postgresql.conf",
                "listen_addresses = 'localhost'\ninclude 'it''s #1=a.conf' # quoted\ninclude_if_exists 'gone.conf'\nport = 5432\n",
            )
            .file("/d/it's #1=a.conf", "# wider\nlisten_addresses '*'#every address\n");
        let cmdline: Vec<String> = ["postgres", "-D", "/d"].into_iter().map(String::from).collect();
        assert_eq!(
            listen_addresses(&system, 7, &cmdline),
            Some(BindSource::File { file: "/d/it's #1=a.conf".into(), line: 2, value: "*".into() })
        );
    }

    /// `ssl` as the server reads it: the command line over the files, the
    /// last line of the files, PostgreSQL's spellings of a boolean.
    #[test]
    fn a_setting_is_the_command_line_s_else_the_last_line_read() {
        use crate::inventory::system::fake::Scripted;
        let system = Scripted::default()
            .file(
                "/d/postgresql.conf",
                "ssl = on
include 'more.conf'
",
            )
            .file(
                "/d/more.conf",
                "ssl = 'off'
",
            );
        let cmdline = |line: &str| -> Vec<String> { args(line) };
        let read = |line: &str| server_setting(&system, 7, &cmdline(line), None, "ssl");
        assert_eq!(read("postgres -D /d").as_deref(), Some("off"));
        assert_eq!(read("postgres -D /d -c ssl=true").as_deref(), Some("true"));
        assert_eq!(read("postgres -D /elsewhere"), None);
        for on in ["on", "ON", "true", "t", "yes", "y", "1"] {
            assert!(is_on(on), "{on}");
        }
        for off in ["off", "o", "false", "no", "0", ""] {
            assert!(!is_on(off), "{off}");
        }
    }
}
