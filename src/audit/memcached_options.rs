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

#[cfg(test)]
mod tests {
    use super::*;

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
