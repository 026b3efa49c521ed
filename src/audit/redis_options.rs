//! Where a Redis server's `default` user comes from. A `user default …
//! nopass` line (in its configuration file, or in the ACL file its
//! `aclfile` names) is applied after the configuration is read and resets
//! the user: a `requirepass` line added to the file is then overridden,
//! and the server stays without a password. The `no-auth` fix must change
//! that line instead.
//! See: <https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/>

use crate::inventory::system::System;

/// The largest file read (a stock redis.conf is about 100 KiB).
const MAX_FILE: u64 = 1 << 20;

/// A `user default` line that lets the user in without a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultUserLine {
    /// The file as the server names it (its configuration file, or the
    /// ACL file it names).
    pub file: String,
    /// From 1.
    pub line: usize,
}

/// How deep `include` may nest (a loop must end).
const MAX_DEPTH: usize = 8;

/// The `user default … nopass` line of server `pid`, whose configuration
/// file is `config` (as `INFO server` names it), read through
/// `/proc/PID/root` so a container's own files are the ones read. Its
/// `include` lines are followed where they stand (Redis reads the files
/// in that order, and the last line of a setting wins).
pub fn default_user(system: &dyn System, pid: u32, config: &str) -> Option<DefaultUserLine> {
    let read = |path: &str| {
        let through = format!("/proc/{pid}/root{path}");
        let regular = system.file_status(&through).is_some_and(|s| s.is_file);
        let bytes = system.read_regular(&through, MAX_FILE).filter(|_| regular)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let mut lines = Vec::new();
    configuration_lines(&read, config, 0, &mut lines);
    let aclfile = lines.iter().rev().find_map(|(_, _, line)| {
        let mut words = line.split_whitespace();
        words.next()?.eq_ignore_ascii_case("aclfile").then(|| words.next())?
    });
    if let Some(path) = aclfile {
        let path = path.trim_matches('"').to_string();
        let text = read(&path)?;
        let numbered: Vec<(String, usize, String)> = text
            .lines()
            .enumerate()
            .map(|(index, line)| (path.clone(), index + 1, line.to_string()))
            .collect();
        return nopass_line(&numbered);
    }
    nopass_line(&lines)
}

/// The lines of `file` and the files it includes, in reading order, each
/// with its file and number.
fn configuration_lines(
    read: &dyn Fn(&str) -> Option<String>,
    file: &str,
    depth: usize,
    lines: &mut Vec<(String, usize, String)>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(text) = read(file) else { return };
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("include")) {
            if let Some(included) = words.next() {
                configuration_lines(read, included.trim_matches('"'), depth + 1, lines);
            }
            continue;
        }
        lines.push((file.to_string(), index + 1, line.to_string()));
    }
}

/// The last `user default` line, when it has `nopass` (the last one is
/// the one that counts).
fn nopass_line(lines: &[(String, usize, String)]) -> Option<DefaultUserLine> {
    let (file, line, text) = lines.iter().rfind(|(_, _, text)| {
        let mut words = text.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("user"))
            && words.next() == Some("default")
    })?;
    text.split_whitespace()
        .any(|word| word.eq_ignore_ascii_case("nopass"))
        .then(|| DefaultUserLine { file: file.clone(), line: *line })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_default_user_line_counts_across_included_files() {
        let files = |path: &str| {
            match path {
            "/etc/redis/redis.conf" => Some("port 6379\n# user default on nopass\nuser default on >x ~* +@all\ninclude /etc/redis/users.conf\nrequirepass y\n".to_string()),
            "/etc/redis/users.conf" => Some("user app on >x ~* +@all\nuser default on nopass ~* &* +@all\n".to_string()),
            "/etc/redis/acl.conf" => Some("user default on >secret ~* +@all\n".to_string()),
            "/etc/redis/acl-open.conf" => Some("user default on nopass ~* +@all\n".to_string()),
            "/etc/redis/with-acl.conf" => Some("aclfile /etc/redis/acl.conf\n".to_string()),
            "/etc/redis/with-open-acl.conf" => Some("aclfile \"/etc/redis/acl-open.conf\"\n".to_string()),
            _ => None,
        }
        };
        let found = |config: &str| {
            let mut lines = Vec::new();
            configuration_lines(&files, config, 0, &mut lines);
            nopass_line(&lines)
        };
        assert_eq!(
            found("/etc/redis/redis.conf"),
            Some(DefaultUserLine { file: "/etc/redis/users.conf".into(), line: 2 })
        );
        assert_eq!(found("/etc/redis/users.conf").map(|l| l.line), Some(2));
        // `aclfile` lines are not `user` lines.
        assert_eq!(found("/etc/redis/with-acl.conf"), None);
        assert_eq!(found("/etc/redis/with-open-acl.conf"), None);
    }
}
