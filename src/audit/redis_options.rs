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
    let read = reader(system, pid);
    let (lines, aclfile) = user_lines(&read, config);
    if let Some(path) = aclfile {
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

/// Where the server keeps an ACL user, so a new password outlives a
/// restart: `ACL SAVE` writes the `aclfile`, `CONFIG REWRITE` rewrites the
/// `user` lines of the configuration file, and a `rename-command CONFIG
/// ""` leaves only an edit of the line by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// The ACL file its `aclfile` names (the user's line in it or not).
    AclFile(String),
    /// The last `user NAME` line of its configuration files.
    Line(DefaultUserLine),
}

/// Where server `pid`, whose configuration file is `config`, keeps user
/// `name`; `None` when no file holds it (a user made with `ACL SETUSER`
/// and never saved).
pub fn user_source(system: &dyn System, pid: u32, config: &str, name: &str) -> Option<UserSource> {
    let (lines, aclfile) = user_lines(&reader(system, pid), config);
    if let Some(path) = aclfile {
        return Some(UserSource::AclFile(path));
    }
    let (file, line, _) = last_user_line(&lines, name)?;
    Some(UserSource::Line(DefaultUserLine { file: file.clone(), line: *line }))
}

/// Reads a file of server `pid` through `/proc/PID/root`, regular files
/// only and at most [`MAX_FILE`] of each.
fn reader(system: &dyn System, pid: u32) -> impl Fn(&str) -> Option<String> + '_ {
    move |path: &str| {
        let through = format!("/proc/{pid}/root{path}");
        let regular = system.file_status(&through).is_some_and(|s| s.is_file);
        let bytes = system.read_regular(&through, MAX_FILE).filter(|_| regular)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The lines of `config` and its includes, and the last `aclfile` among
/// them.
fn user_lines(
    read: &dyn Fn(&str) -> Option<String>,
    config: &str,
) -> (Vec<(String, usize, String)>, Option<String>) {
    let mut lines = Vec::new();
    configuration_lines(read, config, 0, &mut lines);
    let aclfile = lines.iter().rev().find_map(|(_, _, line)| {
        let mut words = line.split_whitespace();
        words.next()?.eq_ignore_ascii_case("aclfile").then(|| words.next())?
    });
    let aclfile = aclfile.map(|path| path.trim_matches('"').to_string());
    (lines, aclfile)
}

/// The last `user NAME` line (the last one is the one that counts).
fn last_user_line<'a>(
    lines: &'a [(String, usize, String)],
    name: &str,
) -> Option<&'a (String, usize, String)> {
    lines.iter().rfind(|(_, _, text)| {
        let mut words = text.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("user")) && words.next() == Some(name)
    })
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
    let (file, line, text) = last_user_line(lines, "default")?;
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
        let user = |config: &str, name: &str| {
            let (lines, aclfile) = user_lines(&files, config);
            (last_user_line(&lines, name).map(|(file, line, _)| (file.clone(), *line)), aclfile)
        };
        assert_eq!(
            user("/etc/redis/redis.conf", "app"),
            (Some(("/etc/redis/users.conf".into(), 1)), None)
        );
        assert_eq!(user("/etc/redis/redis.conf", "nobody"), (None, None));
        assert_eq!(
            user("/etc/redis/with-open-acl.conf", "app").1.as_deref(),
            Some("/etc/redis/acl-open.conf")
        );
    }
}
