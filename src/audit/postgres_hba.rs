//! pg_hba.conf read from disk, as the server reads it, for the `trust`
//! lines no login from this machine can meet: `host all all 192.0.2.0/24
//! trust` admits a network that holds none of the machine's addresses, so
//! the loopback login and the one from a non-loopback address of the
//! machine are both asked for a password while every device of that
//! network gets in as any user.
//!
//! The file is the one [`postgres_options::hba_file`] locates (command
//! line, configuration files, data directory; through `/proc/PID/root`
//! for a server in a mount namespace of its own). Its lines are tokenised
//! as PostgreSQL does (whitespace-separated fields, double quotes, `#`
//! comments, a trailing `\` continuing a record from PostgreSQL 14 on, as
//! `PG_VERSION` in its data directory says), and `include`,
//! `include_if_exists` and `include_dir` (PostgreSQL 16) are followed where
//! they stand, relative to the including file. `@file` lists in the
//! database and user fields are replaced by the names they hold, relative
//! to the referencing file too, so the evidence names the users a line
//! admits and a line whose files name nobody admits no one.
//! See: <https://www.postgresql.org/docs/current/auth-pg-hba-conf.html>
//!
//! [`postgres_options::hba_file`]: crate::audit::postgres_options::hba_file

use std::net::IpAddr;

use crate::audit::postgres_options::HbaLocation;
use crate::audit::probes::pg_hba::{contains, HbaRule, HbaRules, Trusted};
use crate::inventory::system::System;

/// How deep includes may nest (a loop must end).
const MAX_DEPTH: usize = 8;

/// The largest file read (a stock pg_hba.conf is about 5 KiB).
const MAX_FILE: u64 = 1 << 20;

/// What reading a server's pg_hba.conf gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HbaFile {
    /// Its lines, with the file names porthole reaches them by.
    Read(HbaRules),
    /// The file (as porthole reaches it) could not be read.
    Unreadable { path: String },
}

/// A server's pg_hba.conf with the facts its lines are judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaOnDisk {
    pub file: HbaFile,
    /// The addresses (with prefix lengths) of the listener's network
    /// namespace: who `samehost` and `samenet` are, and which networks hold
    /// this machine.
    pub local_addresses: Vec<(IpAddr, u8)>,
}

/// Which clients a line admits, by where they connect from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admitted {
    /// 127.0.0.0/8, `::1`.
    pub loopback: bool,
    /// An address of this machine that is not loopback.
    pub this_machine: bool,
    /// Other devices (or, for a host name, whoever it resolves to).
    pub others: bool,
}

/// Who `rule`, a TCP line, admits, on a machine with `local` addresses.
pub fn admitted(rule: &HbaRule, local: &[(IpAddr, u8)]) -> Admitted {
    let non_loopback = || local.iter().filter(|(ip, _)| !ip.is_loopback());
    match rule.address.as_deref().unwrap_or_default() {
        "all" => return Admitted { loopback: true, this_machine: true, others: true },
        "samehost" => return Admitted { loopback: true, this_machine: true, others: false },
        "samenet" => {
            // The subnets of the machine's addresses: a /32 holds the
            // machine alone.
            let others = non_loopback()
                .any(|(ip, prefix)| u32::from(*prefix) < if ip.is_ipv4() { 32 } else { 128 });
            return Admitted { loopback: true, this_machine: true, others };
        }
        "localhost" => return Admitted { loopback: true, ..Admitted::default() },
        _ => {}
    }
    let Some((network, prefix)) = rule.network() else {
        // A host name (or `.domain`): it may resolve to anyone.
        return Admitted { others: true, ..Admitted::default() };
    };
    let width = if network.is_ipv4() { 32 } else { 128 };
    let loopback = [IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]
        .into_iter()
        .any(|ip| contains(network, prefix, ip));
    let this_machine = non_loopback().any(|(ip, _)| contains(network, prefix, *ip));
    let single = prefix >= width;
    let others = rule.trusted() == Trusted::Network && !(single && (loopback || this_machine));
    Admitted { loopback, this_machine, others }
}

/// Reads the pg_hba.conf at `location` with its includes.
pub fn read(system: &dyn System, location: &HbaLocation) -> HbaFile {
    let main = location.reached();
    let mut reader = Reader {
        system,
        root: &location.root,
        continuation: location.major_version.is_none_or(|major| major >= 14),
        rules: Vec::new(),
    };
    if !reader.read(&main, 0) {
        return HbaFile::Unreadable { path: main };
    }
    HbaFile::Read(HbaRules { hba_file: main, rules: reader.rules })
}

struct Reader<'a> {
    system: &'a dyn System,
    /// `/proc/PID/root` for a server with its own root, else empty: an
    /// absolute path in an include is the server's.
    root: &'a str,
    /// Whether a trailing `\` continues a record (PostgreSQL 14+).
    continuation: bool,
    rules: Vec<HbaRule>,
}

impl Reader<'_> {
    /// Reads `file` (a path porthole reaches); `false` when it could not.
    fn read(&mut self, file: &str, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        // Another user's file names: regular files only, never a FIFO.
        let regular = self.system.file_status(file).is_none_or(|s| s.is_file);
        let Some(bytes) = self.system.read_regular(file, MAX_FILE).filter(|_| regular) else {
            return false;
        };
        let text = String::from_utf8_lossy(&bytes);
        let directory = file.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let root = self.root;
        let relative = |path: &str| {
            if path.starts_with('/') {
                format!("{root}{path}")
            } else {
                format!("{directory}/{path}")
            }
        };
        for (line_number, fields) in records(&text, self.continuation) {
            let Some(first) = fields.first() else { continue };
            match (first.join(",").as_str(), fields.get(1)) {
                ("include" | "include_if_exists", Some(included)) => {
                    let included = relative(&included.join(","));
                    self.read(&included, depth + 1);
                }
                ("include_dir", Some(included)) => {
                    let included = relative(&included.join(","));
                    let mut names: Vec<String> = self
                        .system
                        .directory_times(&included)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, _)| name)
                        .filter(|name| name.ends_with(".conf") && !name.starts_with('.'))
                        .collect();
                    names.sort();
                    for name in names {
                        self.read(&format!("{included}/{name}"), depth + 1);
                    }
                }
                _ => {
                    if let Some(mut rule) = rule(file, line_number, &fields) {
                        rule.database = rule.database.map(|l| self.expand(&l, &directory, depth));
                        rule.user_name = rule.user_name.map(|l| self.expand(&l, &directory, depth));
                        self.rules.push(rule);
                    }
                }
            }
        }
        true
    }
}

impl Reader<'_> {
    /// `list` (a database or user field) with each `@file` replaced by the
    /// names in that file, as the server reads them: relative to
    /// `directory`, the referencing file's, names separated by whitespace
    /// or commas, `#` comments, nested `@file`s followed. A file that cannot
    /// be read, or names no one, gives no names: the server then refuses the
    /// line (its later fields shift into the empty one's place).
    /// See: <https://www.postgresql.org/docs/current/auth-pg-hba-conf.html>
    fn expand(&self, list: &[String], directory: &str, depth: usize) -> Vec<String> {
        let mut names = Vec::new();
        for token in list {
            let Some(name) = token.strip_prefix('@').filter(|name| !name.is_empty()) else {
                names.push(token.clone());
                continue;
            };
            if depth >= MAX_DEPTH {
                continue;
            }
            let path = if name.starts_with('/') {
                format!("{}{name}", self.root)
            } else {
                format!("{directory}/{name}")
            };
            let regular = self.system.file_status(&path).is_none_or(|s| s.is_file);
            let Some(bytes) = self.system.read_regular(&path, MAX_FILE).filter(|_| regular) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let listed: Vec<String> = records(&text, self.continuation)
                .into_iter()
                .flat_map(|(_, fields)| fields.into_iter().flatten())
                .filter(|name| !name.is_empty())
                .collect();
            let included = path.rsplit_once('/').map_or("", |(d, _)| d);
            names.extend(self.expand(&listed, included, depth + 1));
        }
        names
    }
}

/// Whether a line can match anyone: one with a database or user list
/// whose `@file`s named nobody is refused by the server.
pub fn names_someone(rule: &HbaRule) -> bool {
    let some = |list: &Option<Vec<String>>| list.as_ref().is_none_or(|l| !l.is_empty());
    some(&rule.database) && some(&rule.user_name)
}

/// The records of a pg_hba.conf: (line number of its first line, fields),
/// each field a comma-separated list of tokens, quotes removed. With
/// `continuation` (PostgreSQL 14 and later) a line ending in `\` goes on
/// in the next one: the backslash is dropped and the lines are joined as
/// they are, before comments are stripped, as the server does. Before 14
/// the backslash is part of the last token, and the next line a record of
/// its own (the server rejects both).
fn records(text: &str, continuation: bool) -> Vec<(u32, Vec<Vec<String>>)> {
    let mut records = Vec::new();
    let mut pending = String::new();
    let mut first_line = 0;
    let mut continued = false;
    for (index, line) in text.lines().enumerate() {
        if !continued {
            first_line = index as u32 + 1;
        }
        // The server strips a Windows line end first.
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(head) = line.strip_suffix('\\').filter(|_| continuation) {
            pending.push_str(head);
            continued = true;
            continue;
        }
        continued = false;
        pending.push_str(line);
        let fields = fields(strip_comment(&pending));
        pending.clear();
        if !fields.is_empty() {
            records.push((first_line, fields));
        }
    }
    records
}

/// `line` up to a `#` outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..at],
            _ => {}
        }
    }
    line
}

/// Whitespace-separated fields, each split at commas outside quotes.
fn fields(record: &str) -> Vec<Vec<String>> {
    let mut fields = Vec::new();
    let mut field: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in record.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ',' if !quoted => {
                field.push(std::mem::take(&mut token));
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    field.push(std::mem::take(&mut token));
                    fields.push(std::mem::take(&mut field));
                    started = false;
                }
            }
            c => {
                token.push(c);
                started = true;
            }
        }
    }
    if started {
        field.push(token);
        fields.push(field);
    }
    fields
}

/// One connection line as the rules see it (`None` for a line that is
/// not one: the server rejects it, and porthole leaves it out).
fn rule(file: &str, line_number: u32, fields: &[Vec<String>]) -> Option<HbaRule> {
    let word = |index: usize| fields.get(index).map(|f| f.join(","));
    let kind = word(0)?;
    let (address, netmask, method) = if kind == "local" {
        (None, None, word(3)?)
    } else if kind.starts_with("host") {
        let address = word(3)?;
        match address.split_once('/') {
            Some((ip, prefix)) => {
                let ip: IpAddr = ip.parse().ok()?;
                let prefix: u32 = prefix.parse().ok()?;
                (Some(ip.to_string()), Some(mask(ip, prefix)?), word(4)?)
            }
            // An address and a mask in the next field.
            None if address.parse::<IpAddr>().is_ok() => (Some(address), word(4), word(5)?),
            // `all`, `samehost`, `samenet` or a host name.
            None => (Some(address), None, word(4)?),
        }
    } else {
        return None;
    };
    Some(HbaRule {
        file_name: Some(file.to_string()),
        line_number,
        kind: Some(kind),
        database: fields.get(1).cloned(),
        user_name: fields.get(2).cloned(),
        address,
        netmask,
        auth_method: Some(method),
        error: None,
    })
}

/// The netmask of a prefix length, as pg_hba_file_rules shows it.
fn mask(ip: IpAddr, prefix: u32) -> Option<String> {
    Some(match ip {
        IpAddr::V4(_) if prefix <= 32 => {
            let bits = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            std::net::Ipv4Addr::from(bits).to_string()
        }
        IpAddr::V6(_) if prefix <= 128 => {
            let bits = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            std::net::Ipv6Addr::from(bits).to_string()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<HbaRule> {
        records(text, true)
            .into_iter()
            .filter_map(|(line, fields)| rule("/d/pg_hba.conf", line, &fields))
            .collect()
    }

    #[test]
    fn lines_are_tokenised_as_postgresql_does() {
        let rules = parse(concat!(
            "# TYPE DATABASE USER ADDRESS METHOD\n",
            "local   all all trust\n",
            "host all all 127.0.0.1/32 scram-sha-256 # trust nobody\n",
            "\n",
            "host \"my db\",other @admins 192.0.2.0/24 trust\n",
            "hostssl all all 10.0.0.0 255.0.0.0 \\\n",
            "    trust\n",
            "host all all samenet md5\n",
            "bogus line\n",
        ));
        let texts: Vec<(u32, String)> = rules.iter().map(|r| (r.line_number, r.text())).collect();
        assert_eq!(
            texts,
            [
                (2, "local all all trust".to_string()),
                (3, "host all all 127.0.0.1/32 scram-sha-256".to_string()),
                (5, "host my db,other @admins 192.0.2.0/24 trust".to_string()),
                (6, "hostssl all all 10.0.0.0/8 trust".to_string()),
                (8, "host all all samenet md5".to_string()),
            ]
        );
        assert_eq!(rules[1].auth_method.as_deref(), Some("scram-sha-256"));
    }

    /// Continued records, as PostgreSQL 14 and later read them, and as 13 does not.
    #[test]
    fn a_backslash_continues_a_record_from_postgresql_14_on_only() {
        let text =
            "host all all 192.0.2.0/24 \\\r\n  trust\nhost all all 10.0.0.0/8 # a \\\n  trust\n";
        let read = |continuation| -> Vec<(u32, String)> {
            records(text, continuation)
                .into_iter()
                .filter_map(|(line, fields)| rule("/d/pg_hba.conf", line, &fields))
                .map(|rule| (rule.line_number, rule.text()))
                .collect()
        };
        // The comment ends the record: the continued `trust` is in it.
        assert_eq!(read(true), [(1, "host all all 192.0.2.0/24 trust".to_string())]);
        // Before 14 the backslash is the method, and `trust` no record.
        assert_eq!(read(false), [(1, "host all all 192.0.2.0/24 \\".to_string())]);
    }

    /// `@file` lists are read where the server reads them: beside the file
    /// that names them (or under the server's root when absolute), with
    /// comments, commas and nested `@file`s; a line whose lists name nobody
    /// matches no connection.
    #[test]
    fn at_file_lists_are_expanded_as_the_server_reads_them() {
        use crate::inventory::system::fake::Scripted;
        let system = Scripted::default()
            .file(
                "/proc/7/root/srv/pg_hba.conf",
                "host all @admins 192.0.2.0/24 trust\nhost @/etc/dbs @empty 198.51.100.0/24 trust\n",
            )
            .file("/proc/7/root/srv/admins", "alice, bob # not carol\n@lists/more\n")
            .file("/proc/7/root/srv/lists/more", "\"dave\"\n")
            .file("/proc/7/root/etc/dbs", "app\n")
            .file("/proc/7/root/srv/empty", "# nobody yet\n");
        let location = HbaLocation {
            path: "/srv/pg_hba.conf".into(),
            root: "/proc/7/root".into(),
            major_version: Some(15),
        };
        let HbaFile::Read(rules) = read(&system, &location) else { panic!("read") };
        let texts: Vec<String> = rules.rules.iter().map(HbaRule::text).collect();
        assert_eq!(
            texts,
            ["host all alice,bob,dave 192.0.2.0/24 trust", "host app  198.51.100.0/24 trust"]
        );
        let someone: Vec<bool> = rules.rules.iter().map(names_someone).collect();
        assert_eq!(someone, [true, false]);
    }

    #[test]
    fn a_line_admits_loopback_this_machine_or_other_devices() {
        let local: Vec<(IpAddr, u8)> =
            vec![("127.0.0.1".parse().unwrap(), 8), ("10.77.0.1".parse().unwrap(), 24)];
        let of = |address: &str| {
            let rules = parse(&format!("host all all {address} trust\n"));
            admitted(&rules[0], &local)
        };
        let all = Admitted { loopback: true, this_machine: true, others: true };
        assert_eq!(of("all"), all);
        assert_eq!(of("0.0.0.0/0"), all);
        assert_eq!(of("samenet"), all);
        assert_eq!(of("samehost"), Admitted { others: false, ..all });
        assert_eq!(of("127.0.0.1/32"), Admitted { loopback: true, ..Admitted::default() });
        assert_eq!(of("::1/128"), Admitted { loopback: true, ..Admitted::default() });
        assert_eq!(of("10.77.0.1/32"), Admitted { this_machine: true, ..Admitted::default() });
        assert_eq!(
            of("10.0.0.0/8"),
            Admitted { this_machine: true, others: true, ..Admitted::default() }
        );
        // A network none of the machine's addresses is in: no login from
        // here meets it.
        assert_eq!(of("192.0.2.0/24"), Admitted { others: true, ..Admitted::default() });
        assert_eq!(
            of("192.0.2.7 255.255.255.255"),
            Admitted { others: true, ..Admitted::default() }
        );
        assert_eq!(of("db.example.com"), Admitted { others: true, ..Admitted::default() });
    }

    /// A server in a container (its own root): `-D` names the data
    /// directory, its postgresql.conf moves `hba_file`, which includes a
    /// directory; every path is read through `/proc/PID/root`.
    #[test]
    fn the_file_is_found_and_read_as_the_server_sees_it() {
        use crate::inventory::system::fake::Scripted;
        use crate::inventory::system::FileStatus;
        let status = |inode| FileStatus { device: 1, inode, is_file: false, ..Default::default() };
        let mut system = Scripted::default()
            .file("/proc/42/root/srv/data/postgresql.conf", "hba_file = 'conf/hba.conf'  # moved\n")
            .file(
                "/proc/42/root/srv/data/conf/hba.conf",
                "include_if_exists gone.conf\nlocal all all trust\ninclude_dir \"/etc/hba.d\"\n",
            )
            .file("/proc/42/root/etc/hba.d/10-lab.conf", "host all all 192.0.2.0/24 trust\n");
        system.statuses.insert("/".into(), status(2));
        system.statuses.insert("/proc/42/root/".into(), status(99));
        system.directories.insert(
            "/proc/42/root/etc/hba.d".into(),
            vec![("10-lab.conf".into(), std::time::SystemTime::UNIX_EPOCH)],
        );
        let cmdline: Vec<String> =
            ["postgres", "-D", "/srv/data/"].into_iter().map(String::from).collect();
        let location =
            crate::audit::postgres_options::hba_file(&system, 42, &cmdline, None).expect("located");
        assert_eq!(location.path, "/srv/data/conf/hba.conf");
        assert_eq!(location.reached(), "/proc/42/root/srv/data/conf/hba.conf");
        let HbaFile::Read(rules) = read(&system, &location) else { panic!("read") };
        let trust = rules.tcp_trust();
        assert_eq!(trust.len(), 1, "{rules:#?}");
        assert_eq!(trust[0].file(&rules), "/proc/42/root/etc/hba.d/10-lab.conf");
        assert_eq!(trust[0].line_number, 1);
        // Without -D, PGDATA from its environment names the directory.
        let bare: Vec<String> = vec!["postgres".into()];
        let found = crate::audit::postgres_options::hba_file(&system, 42, &bare, Some("/srv/data"));
        assert_eq!(found, Some(location));
        assert_eq!(crate::audit::postgres_options::hba_file(&system, 42, &bare, None), None);
        // A file that cannot be read is named.
        let missing = HbaLocation {
            path: "/nowhere/pg_hba.conf".into(),
            root: String::new(),
            major_version: None,
        };
        assert_eq!(
            read(&system, &missing),
            HbaFile::Unreadable { path: "/nowhere/pg_hba.conf".into() }
        );
    }

    #[test]
    fn prefixes_become_the_masks_the_view_shows() {
        assert_eq!(mask("192.0.2.0".parse().unwrap(), 24).as_deref(), Some("255.255.255.0"));
        assert_eq!(mask("0.0.0.0".parse().unwrap(), 0).as_deref(), Some("0.0.0.0"));
        assert_eq!(
            mask("::1".parse().unwrap(), 128).as_deref(),
            Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert_eq!(mask("10.0.0.0".parse().unwrap(), 33), None);
    }
}
