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

/// The `user default … nopass` line of server `pid`, whose configuration
/// file is `config` (as `INFO server` names it), read through
/// `/proc/PID/root` so a container's own files are the ones read.
pub fn default_user(system: &dyn System, pid: u32, config: &str) -> Option<DefaultUserLine> {
    let read = |path: &str| {
        let through = format!("/proc/{pid}/root{path}");
        let regular = system.file_status(&through).is_some_and(|s| s.is_file);
        let bytes = system.read_regular(&through, MAX_FILE).filter(|_| regular)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let text = read(config)?;
    let aclfile = text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()?.eq_ignore_ascii_case("aclfile")).then(|| words.next())?
    });
    let (file, text) = match aclfile {
        Some(path) => {
            let path = path.trim_matches('"').to_string();
            let text = read(&path)?;
            (path, text)
        }
        None => (config.to_string(), text),
    };
    nopass_line(&text).map(|line| DefaultUserLine { file, line })
}

/// The last `user default` line of `text`, when it has `nopass` (the
/// last one is the one that counts).
fn nopass_line(text: &str) -> Option<usize> {
    let (index, line) = text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let mut words = line.split_whitespace();
            words.next().is_some_and(|w| w.eq_ignore_ascii_case("user"))
                && words.next() == Some("default")
        })
        .last()?;
    line.split_whitespace().any(|word| word.eq_ignore_ascii_case("nopass")).then_some(index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_default_user_line_counts() {
        let text = "port 6379\n# user default on nopass\nuser app on >x ~* +@all\nuser default on nopass ~* &* +@all\n";
        assert_eq!(nopass_line(text), Some(4));
        assert_eq!(nopass_line("user default on nopass\nuser default on >secret ~* +@all\n"), None);
        assert_eq!(nopass_line("requirepass x\n"), None);
    }
}
