//! What a PostgreSQL that let `postgres` in without a password trusts,
//! read from the server itself on that same session (`--active` only): the
//! file it names as `hba_file` and its parsed lines from the
//! `pg_hba_file_rules` view, one read-only simple query. A login from one
//! address of the machine cannot tell `samehost` (this machine's own
//! addresses, no other device) from `samenet` or `all`; the lines can, and
//! they give the fix the real file and line numbers.
//!
//! Each row comes as `to_jsonb(row)::text`, so the columns PostgreSQL 16
//! added (`rule_number`, `file_name` for `include` files) are read where they
//! exist and missed nowhere else.
//! See: <https://www.postgresql.org/docs/current/view-pg-hba-file-rules.html>

use std::net::IpAddr;

use serde::Deserialize;

use super::conn::{Conn, Deadline};
use super::postgres_auth::{take_message, Message};

/// The query: the configured file name, then one JSON text per line.
const QUERY: &str =
    "SELECT current_setting('hba_file'), to_jsonb(r)::text FROM pg_catalog.pg_hba_file_rules r";

/// The most read after `AuthenticationOk`, rules included.
const MAX_BYTES: usize = 1 << 20;

/// pg_hba.conf as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRules {
    /// `SHOW hba_file`.
    pub hba_file: String,
    /// Its lines in the order the server tries them.
    pub rules: Vec<HbaRule>,
}

/// One line of pg_hba.conf, as `pg_hba_file_rules` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HbaRule {
    /// The file the line is in (PostgreSQL 16+, where pg_hba.conf may
    /// include others); `None` means `hba_file`.
    #[serde(default)]
    pub file_name: Option<String>,
    pub line_number: u32,
    /// `local`, `host`, `hostssl`, `hostnossl`, `hostgssenc`…
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub database: Option<Vec<String>>,
    #[serde(default)]
    pub user_name: Option<Vec<String>>,
    /// An address, `all`, `samehost`, `samenet` or a host name.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub netmask: Option<String>,
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Set when the server could not parse the line (it is not used).
    #[serde(default)]
    pub error: Option<String>,
    /// The record as the file holds it, when porthole read the file
    /// itself (the view does not show it).
    #[serde(skip)]
    pub source: Option<RecordSource>,
}

/// A record of pg_hba.conf as it stands in the file: what an edit of its
/// method must match and replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSource {
    /// The line the record ends on (it starts on `line_number`): more
    /// than one when lines end in `\` (PostgreSQL 14 and later).
    pub last_line: u32,
    /// Its lines as they are in the file, joined by `\n`.
    pub raw: String,
    /// Where its method token is in `raw`, quotes and any `\` line break
    /// inside it included.
    pub method: std::ops::Range<usize>,
}

/// The name a database or user entry of a line stands for. The file
/// reader keeps a quoted token quoted (`"all"`, its `"` doubled inside),
/// since PostgreSQL reads a quoted `all`, `sameuser`, `replication`,
/// `+name` or `@file` as a plain name, so an entry that compares equal to
/// a keyword is the keyword; the `pg_hba_file_rules` view drops the
/// quotes, so its names read as written.
pub(crate) fn unquoted(entry: &str) -> std::borrow::Cow<'_, str> {
    match entry.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
        Some(inner) => std::borrow::Cow::Owned(inner.replace("\"\"", "\"")),
        None => std::borrow::Cow::Borrowed(entry),
    }
}

/// Who a `trust` line lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trusted {
    /// Loopback clients (`127.0.0.1/32`, `::1/128`, `localhost`).
    Loopback,
    /// `samehost`: clients from any address of this machine, none other.
    ThisMachine,
    /// Other devices: `samenet`, `all`, another network or a host name.
    Network,
}

impl HbaRule {
    /// The file the line is in.
    pub fn file<'a>(&'a self, rules: &'a HbaRules) -> &'a str {
        self.file_name.as_deref().unwrap_or(&rules.hba_file)
    }

    /// A TCP line (`host`, `hostssl`, `hostnossl`, `hostgssenc`…).
    pub(crate) fn is_tcp(&self) -> bool {
        self.error.is_none() && self.kind.as_deref().is_some_and(|k| k.starts_with("host"))
    }

    pub(crate) fn method(&self) -> &str {
        self.auth_method.as_deref().unwrap_or_default()
    }

    /// Whether the line applies to a login as `postgres` to database
    /// `postgres`, the one porthole made (a group, `+name`, or a file,
    /// `@file`, may include it: counted).
    fn covers_superuser(&self) -> bool {
        let users = self.user_name.as_deref().unwrap_or_default();
        let databases = self.database.as_deref().unwrap_or_default();
        // A quoted entry is a name, never a keyword, group or file.
        let named = |entry: &str| unquoted(entry) == "postgres";
        users.iter().any(|u| u == "all" || named(u) || u.starts_with(['+', '@']))
            && databases.iter().any(|d| {
                matches!(d.as_str(), "all" | "sameuser" | "samerole" | "samegroup")
                    || named(d)
                    || d.starts_with('@')
            })
    }

    /// The network the line names, as (address, prefix length).
    pub(crate) fn network(&self) -> Option<(IpAddr, u32)> {
        let address: IpAddr = self.address.as_deref()?.parse().ok()?;
        let prefix = match self.netmask.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(IpAddr::V4(mask))) => u32::from(mask).leading_ones(),
            Some(Ok(IpAddr::V6(mask))) => u128::from(mask).leading_ones(),
            _ => {
                if address.is_ipv4() {
                    32
                } else {
                    128
                }
            }
        };
        Some((address, prefix))
    }

    /// Who the line lets in, judged by its address.
    pub fn trusted(&self) -> Trusted {
        match self.address.as_deref() {
            Some("samehost") => return Trusted::ThisMachine,
            Some("localhost") => return Trusted::Loopback,
            _ => {}
        }
        match self.network() {
            Some((IpAddr::V4(v4), prefix)) if prefix >= 8 && v4.octets()[0] == 127 => {
                Trusted::Loopback
            }
            Some((IpAddr::V6(v6), 128)) if v6.is_loopback() => Trusted::Loopback,
            Some((IpAddr::V6(v6), prefix))
                if prefix >= 104 && v6.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 127) =>
            {
                Trusted::Loopback
            }
            _ => Trusted::Network,
        }
    }

    /// Whether every client this line matches is matched by `self`
    /// first: same or wider address, every database and user.
    fn shadows(&self, later: &HbaRule) -> bool {
        let everyone = |list: &Option<Vec<String>>| {
            list.as_deref().is_some_and(|l| l.iter().any(|v| v == "all"))
        };
        // `hostssl` and the like match some connections only.
        if self.error.is_some()
            || self.kind.as_deref() != Some("host")
            || !everyone(&self.database)
            || !everyone(&self.user_name)
        {
            return false;
        }
        if self.address.as_deref() == Some("all") {
            return true;
        }
        match (self.network(), later.network()) {
            (Some((wide, wide_prefix)), Some((narrow, narrow_prefix))) => {
                wide_prefix <= narrow_prefix && contains(wide, wide_prefix, narrow)
            }
            _ => false,
        }
    }

    /// `host all all 127.0.0.1/32 trust`, rebuilt from the columns.
    pub fn text(&self) -> String {
        let list = |l: &Option<Vec<String>>| l.as_deref().unwrap_or_default().join(",");
        let address = match self.network() {
            Some((address, prefix)) => format!("{address}/{prefix}"),
            None => self.address.clone().unwrap_or_default(),
        };
        let mut text = format!(
            "{} {} {}",
            self.kind.as_deref().unwrap_or_default(),
            list(&self.database),
            list(&self.user_name)
        );
        if !address.is_empty() {
            text.push(' ');
            text.push_str(&address);
        }
        text.push(' ');
        text.push_str(self.method());
        text
    }
}

/// Whether `network`/`prefix` contains `address` (same family only).
pub(crate) fn contains(network: IpAddr, prefix: u32, address: IpAddr) -> bool {
    let (network, address, width) = match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    if prefix == 0 {
        return true;
    }
    let shift = width - prefix.min(width);
    (network >> shift) == (address >> shift)
}

impl HbaRules {
    /// The TCP `trust` lines a `postgres` login can reach: lines for other
    /// users or databases, and lines an earlier catch-all `host` line
    /// always answers first, are left out.
    pub fn superuser_trust(&self) -> Vec<&HbaRule> {
        let tcp: Vec<&HbaRule> = self.rules.iter().filter(|r| r.is_tcp()).collect();
        tcp.iter()
            .enumerate()
            .filter(|(_, rule)| rule.method() == "trust" && rule.covers_superuser())
            .filter(|(index, rule)| !tcp[..*index].iter().any(|earlier| earlier.shadows(rule)))
            .map(|(_, rule)| *rule)
            .collect()
    }

    /// The TCP `trust` lines some client can reach, whoever it logs in
    /// as: a line an earlier catch-all `host` line (every database and
    /// user, the same or a wider address, whatever its method) always
    /// answers first is left out.
    pub fn unshadowed_trust(&self) -> Vec<&HbaRule> {
        self.unshadowed("trust")
    }

    /// The TCP lines of `method` some client can reach, as
    /// [`HbaRules::unshadowed_trust`] finds them for `trust`.
    pub fn unshadowed(&self, method: &str) -> Vec<&HbaRule> {
        let tcp: Vec<&HbaRule> = self.rules.iter().filter(|r| r.is_tcp()).collect();
        tcp.iter()
            .enumerate()
            .filter(|(_, rule)| rule.method() == method)
            .filter(|(index, rule)| !tcp[..*index].iter().any(|earlier| earlier.shadows(rule)))
            .map(|(_, rule)| *rule)
            .collect()
    }

    /// The `local` (Unix socket) `trust` lines some client can reach: a
    /// line an earlier `local all all` line (whatever its method) always
    /// answers first is left out.
    pub fn local_trust(&self) -> Vec<&HbaRule> {
        let local: Vec<&HbaRule> = self
            .rules
            .iter()
            .filter(|r| r.error.is_none() && r.kind.as_deref() == Some("local"))
            .collect();
        let everyone = |list: &Option<Vec<String>>| {
            list.as_deref().is_some_and(|l| l.iter().any(|v| v == "all"))
        };
        local
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.method() == "trust")
            .filter(|(index, _)| {
                !local[..*index].iter().any(|r| everyone(&r.database) && everyone(&r.user_name))
            })
            .map(|(_, rule)| *rule)
            .collect()
    }

    /// Every TCP `trust` line, for the fix: all of them are ways in.
    pub fn tcp_trust(&self) -> Vec<&HbaRule> {
        self.rules.iter().filter(|r| r.is_tcp() && r.method() == "trust").collect()
    }
}

/// After `AuthenticationOk`: waits for `ReadyForQuery`, asks for the
/// rules, and reads them. `None` when the server refuses (no superuser, a
/// server before 10 without the view) or does not answer in time.
/// `received` holds what already arrived after `AuthenticationOk`.
pub fn read(conn: &mut Conn, deadline: &Deadline, received: Vec<u8>) -> Option<HbaRules> {
    let mut buffer = received;
    // A server that keeps sending is cut off: pg_hba.conf is a few KiB.
    let mut budget = MAX_BYTES;
    let mut next = |conn: &mut Conn| loop {
        if let Some(message) = take_message(&mut buffer) {
            return Some(message);
        }
        let (bytes, _) = conn.receive(deadline, None, |b| !b.is_empty());
        if bytes.is_empty() || bytes.len() > budget {
            return None;
        }
        budget -= bytes.len();
        buffer.extend_from_slice(&bytes);
    };
    loop {
        match next(conn)? {
            Message { kind: b'Z', .. } => break,
            Message { kind: b'E', .. } => return None,
            _ => {}
        }
    }
    let mut query = QUERY.as_bytes().to_vec();
    query.push(0);
    let mut message = vec![b'Q'];
    message.extend_from_slice(&((query.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(&query);
    conn.send(&message, deadline).ok()?;
    let mut rows = Vec::new();
    let mut failed = false;
    loop {
        match next(conn)? {
            Message { kind: b'D', body } => rows.push(data_row(&body)?),
            Message { kind: b'E', .. } => failed = true,
            Message { kind: b'Z', .. } => break,
            _ => {}
        }
    }
    if failed {
        return None;
    }
    parse(&rows)
}

/// The text of each column of a `DataRow` (`None` for NULL).
fn data_row(body: &[u8]) -> Option<Vec<Option<String>>> {
    let count = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let mut at = 2;
    let mut columns = Vec::new();
    for _ in 0..count {
        let length = i32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if length < 0 {
            columns.push(None);
            continue;
        }
        let end = at + usize::try_from(length).ok()?;
        columns.push(Some(String::from_utf8_lossy(body.get(at..end)?).into_owned()));
        at = end;
    }
    Some(columns)
}

/// Rows of (hba_file, JSON of the line) into rules.
pub fn parse(rows: &[Vec<Option<String>>]) -> Option<HbaRules> {
    let hba_file = rows.first()?.first()?.clone()?;
    let rules =
        rows.iter().filter_map(|row| serde_json::from_str(row.get(1)?.as_deref()?).ok()).collect();
    Some(HbaRules { hba_file, rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as PostgreSQL 15 returns them for `QUERY`.
    fn rules(lines: &[&str]) -> HbaRules {
        let rows: Vec<Vec<Option<String>>> = lines
            .iter()
            .map(|line| {
                vec![Some("/etc/postgresql/15/main/pg_hba.conf".into()), Some(line.to_string())]
            })
            .collect();
        parse(&rows).expect("rows parse")
    }

    const LOCAL: &str = r#"{"type": "local", "error": null, "address": null, "netmask": null, "options": null, "database": ["all"], "user_name": ["all"], "auth_method": "trust", "line_number": 1}"#;

    fn host(
        line: u32,
        database: &str,
        user: &str,
        address: &str,
        netmask: Option<&str>,
        method: &str,
    ) -> String {
        let netmask = netmask.map_or("null".to_string(), |m| format!("\"{m}\""));
        format!(
            r#"{{"type": "host", "error": null, "address": "{address}", "netmask": {netmask}, "options": null, "database": ["{database}"], "user_name": ["{user}"], "auth_method": "{method}", "line_number": {line}}}"#
        )
    }

    #[test]
    fn trust_is_judged_by_the_address_of_each_line() {
        let loopback = host(2, "all", "all", "127.0.0.1", Some("255.255.255.255"), "trust");
        let v6 =
            host(3, "all", "all", "::1", Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "trust");
        let same = host(4, "all", "all", "samehost", None, "trust");
        let net = host(5, "all", "all", "samenet", None, "trust");
        let parsed = rules(&[LOCAL, &loopback, &v6, &same, &net]);
        let trust = parsed.superuser_trust();
        let judged: Vec<(u32, Trusted)> =
            trust.iter().map(|r| (r.line_number, r.trusted())).collect();
        assert_eq!(
            judged,
            [
                (2, Trusted::Loopback),
                (3, Trusted::Loopback),
                (4, Trusted::ThisMachine),
                (5, Trusted::Network)
            ]
        );
        assert_eq!(trust[0].text(), "host all all 127.0.0.1/32 trust");
        assert_eq!(trust[1].text(), "host all all ::1/128 trust");
        assert_eq!(trust[3].text(), "host all all samenet trust");
        assert_eq!(trust[0].file(&parsed), "/etc/postgresql/15/main/pg_hba.conf");
    }

    #[test]
    fn lines_for_other_roles_or_behind_a_catch_all_are_not_the_superuser_s() {
        let catch_all = host(2, "all", "all", "0.0.0.0", Some("0.0.0.0"), "scram-sha-256");
        let dead = host(3, "all", "all", "10.0.0.0", Some("255.0.0.0"), "trust");
        let alice = host(4, "all", "alice", "::", Some("::"), "trust");
        let v6 = host(5, "all", "all", "::", Some("::"), "trust");
        let parsed = rules(&[LOCAL, &catch_all, &dead, &alice, &v6]);
        let reachable: Vec<u32> = parsed.superuser_trust().iter().map(|r| r.line_number).collect();
        assert_eq!(reachable, [5], "IPv4 is caught by line 2; line 4 is alice's");
        let live: Vec<u32> = parsed.unshadowed_trust().iter().map(|r| r.line_number).collect();
        assert_eq!(live, [4, 5], "line 3 is answered by line 2 first, whoever logs in");
        let all: Vec<u32> = parsed.tcp_trust().iter().map(|r| r.line_number).collect();
        assert_eq!(all, [3, 4, 5], "the fix changes every TCP trust line");
    }

    /// The file reader keeps quoted entries quoted: `"all"` is a database
    /// of that name, which porthole's login to `postgres` does not meet,
    /// and `"postgres"` the superuser itself.
    #[test]
    fn quoted_entries_are_names_not_keywords() {
        let database_all = host(2, r#"\"all\""#, "all", "0.0.0.0", Some("0.0.0.0"), "trust");
        let superuser = host(3, "all", r#"\"postgres\""#, "10.0.0.0", Some("255.0.0.0"), "trust");
        let parsed = rules(&[LOCAL, &database_all, &superuser]);
        let reachable: Vec<u32> = parsed.superuser_trust().iter().map(|r| r.line_number).collect();
        assert_eq!(reachable, [3]);
    }

    #[test]
    fn included_files_name_their_own_file() {
        let row = r#"{"type": "host", "error": null, "address": "samenet", "netmask": null, "database": ["all"], "file_name": "/etc/postgresql/16/main/hba.d/dev.conf", "user_name": ["all"], "auth_method": "trust", "line_number": 1, "rule_number": 3}"#;
        let parsed = rules(&[row]);
        let trust = parsed.superuser_trust();
        assert_eq!(trust[0].file(&parsed), "/etc/postgresql/16/main/hba.d/dev.conf");
    }

    #[test]
    fn data_rows_keep_nulls_and_refuse_short_bodies() {
        let mut body = 2u16.to_be_bytes().to_vec();
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"ok");
        assert_eq!(data_row(&body), Some(vec![None, Some("ok".into())]));
        assert_eq!(data_row(&body[..7]), None);
    }
}
