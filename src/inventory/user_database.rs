//! The local user and group database: `/etc/passwd` and `/etc/group`.
//!
//! The one place those files are parsed. Group names for the diagnosis
//! (the group of a Unix socket, of the prober) and the sudo check of the
//! run as root both come from here. The files are read through the
//! [`System`] handle, so a scripted machine supplies them in tests; the
//! parsing is pure and tested on text.
//!
//! Only the files are read: names that NSS serves from elsewhere (LDAP,
//! systemd's dynamic users) are not here. User names for display come from
//! [`System::user_name`], which asks the C library.
//!
//! See: <https://man7.org/linux/man-pages/man5/group.5.html>,
//! <https://man7.org/linux/man-pages/man5/passwd.5.html>

use super::system::System;

/// Where the group database lives.
pub const GROUP_FILE: &str = "/etc/group";
/// Where the user database lives.
pub const PASSWD_FILE: &str = "/etc/passwd";

/// One line of `/etc/group`: `name:password:gid:member,member…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    /// The users listed as members (not those whose primary group it is).
    pub members: Vec<String>,
}

/// One line of `/etc/passwd`, the fields porthole uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// The primary group; `None` when the field is not a number.
    pub gid: Option<u32>,
}

/// The groups of an `/etc/group` text, in file order. Lines without a
/// numeric gid (comments, damage) are skipped.
pub fn parse_groups(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            let members = fields
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|member| !member.is_empty())
                .map(str::to_string)
                .collect();
            Some(Group { name: name.to_string(), gid, members })
        })
        .collect()
}

/// The first account of an `/etc/passwd` text with `uid`, as `getpwuid`
/// would find it in the file.
pub fn parse_account(text: &str, uid: u32) -> Option<Account> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() <= 3 || fields[2].parse() != Ok(uid) {
            return None;
        }
        Some(Account { name: fields[0].to_string(), uid, gid: fields[3].parse().ok() })
    })
}

/// The groups of this machine's `/etc/group`; `None` when it cannot be
/// read.
pub fn groups(system: &dyn System) -> Option<Vec<Group>> {
    system.read_text(GROUP_FILE).map(|text| parse_groups(&text))
}

/// The name of group `gid` in `/etc/group`, the first line that has it.
pub fn group_name(system: &dyn System, gid: u32) -> Option<String> {
    groups(system)?.into_iter().find(|group| group.gid == gid).map(|group| group.name)
}

/// The account of `uid` in `/etc/passwd`.
pub fn account(system: &dyn System, uid: u32) -> Option<Account> {
    parse_account(&system.read_text(PASSWD_FILE)?, uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::system::fake::Scripted;

    const GROUP: &str = "root:x:0:\n\
                         # a comment\n\
                         wheel:x:10\n\
                         sudo:x:27:alice,carol\n\
                         broken:x:nope:alice\n\
                         twin:x:27:\n";
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          alice:x:1000:1000::/home/alice:/bin/sh\n\
                          odd:x:1001:staff::/:/bin/sh\n\
                          short:x:1002\n";

    #[test]
    fn groups_are_read_with_their_members() {
        let groups = parse_groups(GROUP);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["root", "wheel", "sudo", "twin"]);
        assert_eq!(groups[0], Group { name: "root".into(), gid: 0, members: vec![] });
        // No member field at all is no members.
        assert!(groups[1].members.is_empty());
        assert_eq!(groups[2].members, ["alice", "carol"]);
    }

    #[test]
    fn accounts_are_found_by_uid() {
        let alice = parse_account(PASSWD, 1000).unwrap();
        assert_eq!(alice, Account { name: "alice".into(), uid: 1000, gid: Some(1000) });
        assert_eq!(parse_account(PASSWD, 1001).unwrap().gid, None);
        // Too few fields to have a primary group: not an account.
        assert_eq!(parse_account(PASSWD, 1002), None);
        assert_eq!(parse_account(PASSWD, 4242), None);
    }

    #[test]
    fn the_machine_files_are_read_through_the_system_handle() {
        let machine = Scripted::default().file(GROUP_FILE, GROUP).file(PASSWD_FILE, PASSWD);
        // The first line with the gid names it, as getgrgid reads the file.
        assert_eq!(group_name(&machine, 27).as_deref(), Some("sudo"));
        assert_eq!(group_name(&machine, 10).as_deref(), Some("wheel"));
        assert_eq!(group_name(&machine, 99), None);
        assert_eq!(account(&machine, 0).unwrap().name, "root");
        let empty = Scripted::default();
        assert_eq!(groups(&empty), None);
        assert_eq!(account(&empty, 0), None);
    }
}
