//! Where a memcached's options come from, so a fix changes them there.
//! memcached reads no configuration file: every option is on its command
//! line. Debian's service starts it through `systemd-memcached-wrapper
//! /etc/memcached.conf` (and its init script through `start-memcached`),
//! which turn the option lines of that file into the command line and
//! `exec` memcached, so the running process shows the options but not the
//! file. The file is the source when its option lines, read the way the
//! wrapper reads them, are exactly the command line; otherwise whoever
//! started memcached typed them, and the fix is a new command line.
//! See: <https://salsa.debian.org/debian/memcached/-/blob/master/debian/scripts/systemd-memcached-wrapper>
//!
//! With SASL (`-S`) the accounts are in Cyrus SASL's database, found the
//! way libsasl finds it for the server's process ([`sasl_database`]).

use crate::inventory::system::System;

/// The file Debian's wrapper and init script read.
pub const DEBIAN_CONFIG: &str = "/etc/memcached.conf";

/// The largest file read (Debian's is about 2 KiB).
const MAX_FILE: u64 = 1 << 20;

/// A configuration file whose option lines are a memcached's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its path as the server sees it.
    pub file: String,
    /// The last line (from 1) that sets `-l`/`--listen`.
    pub listen_line: Option<usize>,
    /// The last line (from 1) that sets `-U`/`--udp-port`.
    pub udp_line: Option<usize>,
}

/// Debian's file, when the memcached `pid` runs with `cmdline` and its
/// options are that file's (`None`: typed on a command line, or the file
/// is not readable, not a regular file, or another one than the path
/// names here).
pub fn config_file(system: &dyn System, pid: u32, cmdline: &[String]) -> Option<ConfigFile> {
    let file = DEBIAN_CONFIG;
    let status = |path: &str| system.file_status(path);
    let theirs = status(&format!("/proc/{pid}/root{file}"))?;
    let ours = status(file)?;
    // A container's file is not the one this path names here.
    if (theirs.device, theirs.inode) != (ours.device, ours.inode) || !ours.is_file {
        return None;
    }
    let text = String::from_utf8_lossy(&system.read_regular(file, MAX_FILE)?).into_owned();
    match_lines(&text, cmdline).map(|(listen_line, udp_line)| ConfigFile {
        file: file.to_string(),
        listen_line,
        udp_line,
    })
}

/// When `text`'s option lines, as the wrapper passes them, are the
/// arguments of `cmdline`: the last lines that set the listen addresses
/// and the UDP port.
fn match_lines(text: &str, cmdline: &[String]) -> Option<(Option<usize>, Option<usize>)> {
    let mut words = Vec::new();
    let (mut listen_line, mut udp_line) = (None, None);
    for (index, line) in text.lines().enumerate() {
        // The wrapper drops comments (an unescaped `#` to the end), blank
        // lines, `-d`, `-h` and directives that are not options (`logfile`).
        let line =
            match line.char_indices().find(|&(at, c)| c == '#' && !line[..at].ends_with('\\')) {
                Some((at, _)) => &line[..at],
                None => line,
            }
            .trim();
        if line.is_empty() || line.starts_with("-d") || line.starts_with("-h") {
            continue;
        }
        if !line.starts_with('-') {
            continue;
        }
        let flag = line.split_whitespace().next().unwrap_or_default();
        let is = |short: &str, long: &str| {
            flag == long || flag.starts_with(&format!("{long}=")) || flag.starts_with(short)
        };
        if is("-l", "--listen") {
            listen_line = Some(index + 1);
        }
        if is("-U", "--udp-port") {
            udp_line = Some(index + 1);
        }
        words.extend(line.split_whitespace().map(str::to_string));
    }
    let arguments = cmdline.get(1..)?;
    // The wrapper may append `-u root`.
    let same = arguments == words.as_slice()
        || arguments.strip_suffix(&["-u".to_string(), "root".to_string()][..])
            == Some(words.as_slice());
    (same && !words.is_empty()).then_some((listen_line, udp_line))
}

/// The ASCII authentication file of a memcached command line (`-Y FILE`,
/// `-YFILE`, `--auth-file=FILE` or `--auth-file FILE`; the last one
/// counts, as with getopt), as the server names it.
pub fn auth_file(cmdline: &[String]) -> Option<String> {
    let mut found = None;
    let mut arguments = cmdline.iter().skip(1);
    while let Some(argument) = arguments.next() {
        if argument == "--" {
            break;
        }
        if argument == "-Y" || argument == "--auth-file" {
            found = arguments.next().cloned();
        } else if let Some(file) = argument.strip_prefix("--auth-file=") {
            found = Some(file.to_string());
        } else if let Some(file) = argument.strip_prefix("-Y") {
            found = Some(file.to_string());
        }
    }
    found.filter(|file| !file.is_empty())
}

/// The SASL application name memcached passes to `sasl_server_init`: its
/// configuration file is `memcached.conf` in the configuration path.
const SASL_APPLICATION: &str = "memcached";

/// The directories memcached (1.5.7 and later) hands libsasl when
/// `SASL_CONF_PATH` is unset: the first of these that exists.
const MEMCACHED_CONF_DIRS: [&str; 2] = ["/etc/sasl", "/etc/sasl2"];

/// libsasl's own configuration path (`CONFIGDIR` of Debian's libsasl2 2.1.28,
/// as `strings libsasl2.so.2` shows it), for a memcached built without that
/// callback.
fn libsasl_conf_dirs() -> Vec<String> {
    let multiarch = format!("/usr/lib/{}-linux-gnu/sasl2", std::env::consts::ARCH);
    ["/etc/sasl2", "/etc/sasl", multiarch.as_str(), "/usr/lib/sasl2"]
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The database the `sasldb` plugin uses without `sasldb_path`.
const DEFAULT_SASLDB: &str = "/etc/sasldb2";

/// The account database of a memcached run with SASL (`-S`), for a fix that
/// changes a password with `saslpasswd2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslDatabase {
    /// The sasldb file, as reached from here (through `/proc/PID/root` for a
    /// mount namespace of its own).
    pub file: String,
    /// The realm memcached looks accounts up in: the host name it passes
    /// as `user_realm` to `sasl_server_new`. `None` when it runs under
    /// another host name than this machine's (a UTS namespace of its own),
    /// which porthole does not read.
    pub realm: Option<String>,
}

/// Where the memcached `pid` keeps its SASL accounts, found as libsasl
/// finds it for that process: the directories of `SASL_CONF_PATH` in its
/// environment (`/proc/PID/environ`, readable as root or its user), else
/// memcached's own choice, else libsasl's; the first `memcached.conf` in
/// them; its `sasldb_path`, else `/etc/sasldb2`. `None` when the
/// environment is unreadable, the accounts are not in a sasldb (another
/// `pwcheck_method` or `auxprop_plugin`) or the file is not there.
///
/// See: <https://www.cyrusimap.org/sasl/sasl/options.html>
pub fn sasl_database(system: &dyn System, pid: u32) -> Option<SaslDatabase> {
    let environment = system.read_regular(&format!("/proc/{pid}/environ"), 1 << 20)?;
    let conf_path = environment.split(|&b| b == 0).find_map(|entry| {
        entry.strip_prefix(b"SASL_CONF_PATH=").map(|v| String::from_utf8_lossy(v).into_owned())
    });
    let reached = |path: &str| super::reached_path(system, pid, path);
    let exists = |path: &str| system.file_status(&reached(path)).is_some();
    let text = conf_dirs(conf_path.as_deref(), exists).iter().find_map(|dir| {
        let file = format!("{}/{SASL_APPLICATION}.conf", dir.trim_end_matches('/'));
        system.read_regular(&reached(&file), MAX_FILE)
    });
    let text = text.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
    let file = reached(&sasldb_path(&text)?);
    system.file_status(&file).filter(|status| status.is_file)?;
    let own_host = super::shares_namespace(system, pid, "uts") == Some(true);
    let realm = own_host
        .then(|| system.read_text("/proc/sys/kernel/hostname"))
        .flatten()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty());
    Some(SaslDatabase { file, realm })
}

/// The directories libsasl searches for `memcached.conf`, in order:
/// `SASL_CONF_PATH` (a `:`-separated list), else the first of memcached's
/// own that `exists`, else libsasl's built-in path. Relative entries are
/// left out: they name a directory relative to a working directory porthole
/// does not follow.
fn conf_dirs(conf_path: Option<&str>, exists: impl Fn(&str) -> bool) -> Vec<String> {
    if let Some(path) = conf_path {
        return path.split(':').filter(|dir| dir.starts_with('/')).map(str::to_string).collect();
    }
    match MEMCACHED_CONF_DIRS.into_iter().find(|dir| exists(dir)) {
        Some(dir) => vec![dir.to_string()],
        None => libsasl_conf_dirs(),
    }
}

/// The sasldb a SASL configuration file's `text` names (`sasldb_path`,
/// else the default), or `None` when its accounts are checked elsewhere
/// (`pwcheck_method: saslauthd`, an `auxprop_plugin` list without
/// `sasldb`) or the path is relative. libsasl reads `key: value` lines,
/// keys in any case, `#` comments, and takes a key's first line.
fn sasldb_path(text: &str) -> Option<String> {
    let option = |wanted: &str| {
        text.lines().find_map(|line| {
            let line = line.trim_start();
            let (key, value) = line.split_once(':')?;
            (!line.starts_with('#') && key.eq_ignore_ascii_case(wanted))
                .then(|| value.trim().to_string())
        })
    };
    let words = |value: &str| value.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    if let Some(method) = option("pwcheck_method") {
        if !words(&method).iter().any(|word| word.starts_with("auxprop")) {
            return None;
        }
    }
    if let Some(plugins) = option("auxprop_plugin") {
        if !words(&plugins).iter().any(|word| word == "sasldb") {
            return None;
        }
    }
    let path = option("sasldb_path").unwrap_or_else(|| DEFAULT_SASLDB.to_string());
    path.starts_with('/').then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sasl_configuration_path_is_the_environment_s_else_memcached_s() {
        let none = |_: &str| false;
        assert_eq!(conf_dirs(Some("/srv/a:relative:/srv/b/"), none), ["/srv/a", "/srv/b/"]);
        assert_eq!(conf_dirs(None, |dir| dir == "/etc/sasl2"), ["/etc/sasl2"]);
        assert_eq!(conf_dirs(None, |_| true), ["/etc/sasl"]);
        let fallback = conf_dirs(None, none);
        assert_eq!(fallback.first().map(String::as_str), Some("/etc/sasl2"));
        assert!(fallback.contains(&"/usr/lib/sasl2".to_string()), "{fallback:?}");
    }

    #[test]
    fn the_sasldb_path_is_read_as_libsasl_reads_it() {
        assert_eq!(sasldb_path("").as_deref(), Some("/etc/sasldb2"));
        let text = "# sasldb_path: /commented\nmech_list: plain\n  SASLDB_Path:  /srv/my db  \nsasldb_path: /second\n";
        assert_eq!(sasldb_path(text).as_deref(), Some("/srv/my db"));
        assert_eq!(
            sasldb_path("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n").as_deref(),
            Some("/etc/sasldb2")
        );
        assert_eq!(sasldb_path("pwcheck_method: saslauthd\n"), None);
        assert_eq!(sasldb_path("auxprop_plugin: sql\n"), None);
        assert_eq!(sasldb_path("sasldb_path: relative.db\n"), None);
    }

    #[test]
    fn the_sasl_database_comes_from_the_server_s_environment() {
        use crate::inventory::system::{fake::Scripted, FileStatus};
        let regular =
            FileStatus { device: 1, inode: 2, mode: 0o100600, uid: 0, gid: 0, is_file: true };
        let uts = FileStatus { is_file: false, inode: 9, ..regular };
        let mut system = Scripted::default()
            .file("/proc/7/environ", "HOME=/\0SASL_CONF_PATH=/srv/conf\0")
            .file("/srv/conf/memcached.conf", "mech_list: plain\nsasldb_path: /srv/conf/db\n")
            .file("/proc/sys/kernel/hostname", "cachehost\n");
        system.statuses.insert("/srv/conf/db".into(), regular);
        system.statuses.insert("/proc/7/ns/uts".into(), uts);
        system.statuses.insert("/proc/self/ns/uts".into(), uts);
        let found = sasl_database(&system, 7).expect("found");
        assert_eq!(
            found,
            SaslDatabase { file: "/srv/conf/db".into(), realm: Some("cachehost".into()) }
        );
        // Another host name: the realm is not known.
        system.statuses.insert("/proc/self/ns/uts".into(), FileStatus { inode: 10, ..uts });
        assert_eq!(sasl_database(&system, 7).unwrap().realm, None);
        // In a mount namespace of its own: its files, through /proc/7/root.
        let mount = |inode| FileStatus { inode, is_file: false, ..regular };
        system.statuses.insert("/proc/7/ns/mnt".into(), mount(20));
        system.statuses.insert("/proc/self/ns/mnt".into(), mount(21));
        let theirs = FileStatus { inode: 30, ..regular };
        system.statuses.insert("/proc/7/root/srv/conf/memcached.conf".into(), theirs);
        system.statuses.insert("/proc/7/root/srv/theirs.db".into(), theirs);
        let mut system =
            system.file("/proc/7/root/srv/conf/memcached.conf", "sasldb_path: /srv/theirs.db\n");
        assert_eq!(sasl_database(&system, 7).unwrap().file, "/proc/7/root/srv/theirs.db");
        system.statuses.remove("/proc/7/ns/mnt");
        // No database file, or no environment: nothing to name.
        system.statuses.remove("/srv/conf/db");
        assert_eq!(sasl_database(&system, 7), None);
        assert_eq!(sasl_database(&system, 8), None);
    }

    #[test]
    fn the_auth_file_is_read_in_every_spelling() {
        assert_eq!(
            auth_file(&words("memcached -Y /etc/mc.auth -p 1")).as_deref(),
            Some("/etc/mc.auth")
        );
        assert_eq!(auth_file(&words("memcached -Y/a -p 1")).as_deref(), Some("/a"));
        assert_eq!(auth_file(&words("memcached --auth-file=/b")).as_deref(), Some("/b"));
        assert_eq!(auth_file(&words("memcached --auth-file /c -Y /d")).as_deref(), Some("/d"));
        assert_eq!(auth_file(&words("memcached -S -p 11211")), None);
        assert_eq!(auth_file(&words("memcached -Y")), None);
    }

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    /// Debian 12's /etc/memcached.conf with `-l` changed and UDP added.
    const DEBIAN: &str = "\
# memcached default config file
# Run memcached as a daemon.
-d

# Log memcached's output to /var/log/memcached
logfile /var/log/memcached.log
-m 64
# Default connection port is 11211
-p 11211
-u memcache
-l 0.0.0.0   # every interface
-U 11211
-P /var/run/memcached/memcached.pid
";

    #[test]
    fn the_wrapper_command_line_is_the_file() {
        let cmdline = words(
            "/usr/bin/memcached -m 64 -p 11211 -u memcache -l 0.0.0.0 -U 11211 -P /var/run/memcached/memcached.pid",
        );
        assert_eq!(match_lines(DEBIAN, &cmdline), Some((Some(11), Some(12))));
    }

    #[test]
    fn a_typed_command_line_is_not_the_file() {
        let typed = words("memcached -u nobody -l 0.0.0.0 -U 11211 -p 11211");
        assert_eq!(match_lines(DEBIAN, &typed), None);
        // Nor is one that differs in a single option.
        let changed = words(
            "/usr/bin/memcached -m 128 -p 11211 -u memcache -l 0.0.0.0 -U 11211 -P /var/run/memcached/memcached.pid",
        );
        assert_eq!(match_lines(DEBIAN, &changed), None);
        assert_eq!(match_lines("", &words("memcached")), None);
    }
}
