//! pg_hba.conf read from disk, as the server reads it, for the `trust`
//! lines no login from this machine can meet: `host all all 192.0.2.0/24
//! trust` admits a network that holds none of the machine's addresses, so
//! the loopback login and the one from a non-loopback address of the
//! machine are both asked for a password while every device of that
//! network gets in as any user. Reading it sends the server nothing, so it
//! is read in the passive audit too.
//!
//! The file is the one [`postgres_options::hba_file`] locates (command
//! line, configuration files, data directory; through `/proc/PID/root`
//! for a server whose mount namespace shows another file at a path). Its
//! lines are tokenised as PostgreSQL does (blank-separated fields, lists
//! joined by commas, double quotes that make a keyword or `@file` a plain
//! name, `#` comments, a trailing `\` continuing a record from PostgreSQL
//! 14 on, as `PG_VERSION` in its data directory says), and `include`,
//! `include_if_exists` and `include_dir` (PostgreSQL 16 and later) are followed where
//! they stand, relative to the including file. `@file` lists in the
//! database and user fields are replaced by the names they hold, relative
//! to the referencing file too, so the evidence names the users a line
//! admits and a line whose files name nobody admits no one.
//! See: <https://www.postgresql.org/docs/current/auth-pg-hba-conf.html>
//!
//! [`postgres_options::hba_file`]: crate::audit::postgres_options::hba_file

use std::net::IpAddr;
use std::ops::Range;

use crate::audit::postgres_options::HbaLocation;
use crate::audit::probes::pg_hba::{contains, HbaRule, HbaRules, RecordSource, Trusted};
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

impl HbaOnDisk {
    /// The file's lines, when it could be read.
    pub fn rules(&self) -> Option<&HbaRules> {
        match &self.file {
            HbaFile::Read(rules) => Some(rules),
            HbaFile::Unreadable { .. } => None,
        }
    }
}

/// The lines that say whom else a server trusts that let porthole's
/// `postgres` login in without a password, and whether they show quotes:
/// the file's own, read as the server tokenises it, when they explain
/// the login, since the server's `pg_hba_file_rules` view drops quotes (a
/// quoted `"all"`, a role or database named all, reads there as the
/// keyword); else the view (`false`: the file could not be read, or was
/// changed since the server read it). `None` when neither explains it.
pub fn deciding<'a>(
    view: Option<&'a HbaRules>,
    file: Option<&'a HbaRules>,
) -> Option<(&'a HbaRules, bool)> {
    let explains = |rules: &&HbaRules| !rules.superuser_trust().is_empty();
    file.filter(explains).map(|rules| (rules, true)).or(view.filter(explains).map(|v| (v, false)))
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
    // Any address of 127.0.0.0/8 is this machine's loopback: a local
    // client may connect from 127.0.0.2 as well as from 127.0.0.1.
    let inside_loopback = matches!(network, IpAddr::V4(v4) if v4.octets()[0] == 127 && prefix >= 8);
    let loopback = inside_loopback
        || [IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]
            .into_iter()
            .any(|ip| contains(network, prefix, ip));
    let this_machine = non_loopback().any(|(ip, _)| contains(network, prefix, *ip));
    let single = prefix >= width;
    let others = rule.trusted() == Trusted::Network && !(single && (loopback || this_machine));
    Admitted { loopback, this_machine, others }
}

/// Reads the pg_hba.conf at `location` with its includes.
pub fn read(system: &dyn System, location: &HbaLocation) -> HbaFile {
    let mut reader = Reader {
        system,
        location,
        continuation: location.major_version.is_none_or(|major| major >= 14),
        includes: location.major_version.is_none_or(|major| major >= 16),
        rules: Vec::new(),
    };
    if !reader.read(&location.path, 0) {
        return HbaFile::Unreadable { path: location.reached(system) };
    }
    HbaFile::Read(HbaRules { hba_file: location.reached(system), rules: reader.rules })
}

struct Reader<'a> {
    system: &'a dyn System,
    /// Where the server reads the file, and how its paths are reached.
    location: &'a HbaLocation,
    /// Whether a trailing `\` continues a record (PostgreSQL 14+).
    continuation: bool,
    /// Whether `include`, `include_if_exists` and `include_dir` are
    /// directives (PostgreSQL 16+; before, the server refuses such a line).
    includes: bool,
    rules: Vec<HbaRule>,
}

impl Reader<'_> {
    /// Reads `file`, as the server names it; `false` when it could not.
    /// The rules name the path that reaches it from here.
    fn read(&mut self, file: &str, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let reached = self.location.reach(self.system, file);
        let Some(text) = self.text(&reached) else { return false };
        let directory = file.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let relative = |path: &str| {
            if path.starts_with('/') {
                path.to_string()
            } else {
                format!("{directory}/{path}")
            }
        };
        for record in records(&text, self.continuation) {
            let directive = |index: usize| match record.fields.get(index).map(Vec::as_slice) {
                Some([token]) => Some(token.text.as_str()),
                _ => None,
            };
            match (directive(0).filter(|_| self.includes), directive(1)) {
                (Some("include" | "include_if_exists"), Some(included)) => {
                    let included = relative(included);
                    self.read(&included, depth + 1);
                }
                (Some("include_dir"), Some(included)) => {
                    let included = relative(included);
                    let listed = self.location.reach(self.system, &included);
                    for name in crate::audit::postgres_options::conf_directory(self.system, &listed)
                    {
                        self.read(&format!("{included}/{name}"), depth + 1);
                    }
                }
                _ => {
                    if let Some(mut rule) = rule(&reached, &record) {
                        let lists = [(&mut rule.database, 1), (&mut rule.user_name, 2)];
                        for (list, index) in lists {
                            *list = Some(self.expand(&record.fields[index], &directory, depth));
                        }
                        self.rules.push(rule);
                    }
                }
            }
        }
        true
    }
}

impl Reader<'_> {
    /// The text of `reached`, another user's file: a regular file only,
    /// never a FIFO, and at most [`MAX_FILE`] bytes.
    fn text(&self, reached: &str) -> Option<String> {
        let regular = self.system.file_status(reached).is_none_or(|s| s.is_file);
        let bytes = self.system.read_regular(reached, MAX_FILE).filter(|_| regular)?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `tokens` (a database or user field) as list entries, each unquoted
    /// `@file` replaced by the names in that file, as the server reads
    /// them: relative to `directory`, the referencing file's, names
    /// separated by blanks, commas or lines, `#` comments, nested `@file`s
    /// followed. A quoted `"@x"` is the name `@x`, and a bare `@` a name
    /// too. A file that cannot be read, or names no one, gives no names:
    /// the server then refuses the line (its later fields shift into the
    /// empty one's place).
    /// See: <https://www.postgresql.org/docs/current/auth-pg-hba-conf.html>
    fn expand(&self, tokens: &[Token], directory: &str, depth: usize) -> Vec<String> {
        let mut names = Vec::new();
        for token in tokens {
            let file = token.text.strip_prefix('@').filter(|name| !name.is_empty());
            let Some(name) = file.filter(|_| !token.quoted) else {
                names.push(token.entry());
                continue;
            };
            if depth >= MAX_DEPTH {
                continue;
            }
            let path = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("{directory}/{name}")
            };
            let Some(text) = self.text(&self.location.reach(self.system, &path)) else {
                continue;
            };
            let listed: Vec<Token> = records(&text, self.continuation)
                .into_iter()
                .flat_map(|record| record.fields.into_iter().flatten())
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

/// One token of a record, as PostgreSQL's `next_token()` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// Its characters, quotes removed (`""` inside quotes is one `"`).
    text: String,
    /// It began with a double quote: `"all"`, `"samehost"` and `"@x"` are
    /// then names, not keywords or file references.
    quoted: bool,
    /// Where it is in the record's joined text, quotes included.
    span: Range<usize>,
}

impl Token {
    /// The token as a database or user list holds it (see
    /// [`crate::audit::probes::pg_hba::unquoted`]).
    fn entry(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.text.replace('"', "\"\""))
        } else {
            self.text.clone()
        }
    }
}

/// One record of a pg_hba.conf (or of an `@file`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    /// The line it starts on, from 1.
    first_line: u32,
    /// The line it ends on (later than `first_line` for continued lines).
    last_line: u32,
    /// Its lines as they are in the file, joined by `\n`.
    raw: String,
    /// For each byte of the joined text (and its end), where it is in `raw`.
    offsets: Vec<usize>,
    /// Its fields, each a comma-separated list of tokens.
    fields: Vec<Vec<Token>>,
}

impl Record {
    /// Where `span` of the joined text is in `raw`.
    fn raw_span(&self, span: &Range<usize>) -> Range<usize> {
        let end = if span.end > span.start {
            self.offsets[span.end - 1] + 1
        } else {
            self.offsets[span.start]
        };
        self.offsets[span.start]..end
    }
}

/// The records of a pg_hba.conf as PostgreSQL reads them. A line's end
/// (`\n`, any `\r` before it) is dropped; with `continuation` (PostgreSQL
/// 14 and later) a line that then ends in `\` goes on in the next one: the
/// backslash is dropped and the lines are joined as they are (`tru\` and
/// `st` make `trust`), before comments are stripped, as the server does.
/// Before 14 the backslash is part of the last token, and the next line a
/// record of its own (the server rejects both).
fn records(text: &str, continuation: bool) -> Vec<Record> {
    let mut records = Vec::new();
    let mut raw = String::new();
    let mut joined = String::new();
    let mut offsets = Vec::new();
    let mut first_line = 0;
    let mut continued = false;
    for (index, line) in text.split_terminator('\n').enumerate() {
        if !continued {
            first_line = index as u32 + 1;
            raw.clear();
            joined.clear();
            offsets.clear();
        } else {
            raw.push('\n');
        }
        let at = raw.len();
        raw.push_str(line);
        let content = line.trim_end_matches('\r');
        let (content, continues) = match content.strip_suffix('\\') {
            Some(head) if continuation => (head, true),
            _ => (content, false),
        };
        joined.push_str(content);
        offsets.extend((0..content.len()).map(|offset| at + offset));
        continued = continues;
        if continued {
            continue;
        }
        offsets.push(at + content.len());
        records.extend(record(first_line, index as u32 + 1, &raw, &joined, &mut offsets));
    }
    // A continued line at the end of the file ends its record.
    if continued {
        let last_line = first_line + raw.matches('\n').count() as u32;
        offsets.push(raw.len());
        records.extend(record(first_line, last_line, &raw, &joined, &mut offsets));
    }
    records
}

/// The record of lines `first_line..=last_line`, unless it holds no field.
fn record(
    first_line: u32,
    last_line: u32,
    raw: &str,
    joined: &str,
    offsets: &mut Vec<usize>,
) -> Option<Record> {
    let fields = fields(joined);
    let offsets = std::mem::take(offsets);
    (!fields.is_empty()).then(|| Record {
        first_line,
        last_line,
        raw: raw.to_string(),
        offsets,
        fields,
    })
}

/// Blank to the server: space, tab and carriage return (`pg_isblank()`).
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// The fields of a joined record, as PostgreSQL's `next_field_expand()`
/// and `next_token()` split them: blanks and commas before a token are
/// skipped, a token ends at an unquoted blank or comma, and a comma after
/// it continues the field with the next token (`all, postgres` is one
/// field of two names, `all ,postgres` two fields). Double quotes may
/// wrap any part of a token (`""` inside them is a `"`); an unquoted `#`
/// ends the record.
/// See: <https://www.postgresql.org/docs/current/auth-pg-hba-conf.html>
fn fields(record: &str) -> Vec<Vec<Token>> {
    let bytes = record.as_bytes();
    let mut at = 0;
    let mut fields = Vec::new();
    let mut field = Vec::new();
    loop {
        while at < bytes.len() && (is_blank(bytes[at]) || bytes[at] == b',') {
            at += 1;
        }
        let start = at;
        let mut text = Vec::new();
        let (mut in_quote, mut was_quote, mut saw_quote) = (false, false, false);
        let (mut quoted, mut comma, mut comment) = (false, false, false);
        while at < bytes.len() && (!is_blank(bytes[at]) || in_quote) {
            let c = bytes[at];
            if c == b'#' && !in_quote {
                comment = true;
                break;
            }
            if c == b',' && !in_quote {
                comma = true;
                break;
            }
            if c != b'"' || was_quote {
                text.push(c);
            }
            was_quote = in_quote && c == b'"' && !was_quote;
            if c == b'"' {
                in_quote = !in_quote;
                saw_quote = true;
                quoted |= text.is_empty();
            }
            at += 1;
        }
        if saw_quote || !text.is_empty() {
            field.push(Token {
                text: String::from_utf8_lossy(&text).into_owned(),
                quoted,
                span: start..at,
            });
        }
        if !comma && !field.is_empty() {
            fields.push(std::mem::take(&mut field));
        }
        if comment || at >= bytes.len() {
            if !field.is_empty() {
                fields.push(field);
            }
            return fields;
        }
    }
}

/// One connection line as the rules see it, with its `@file` lists still
/// to read (`None` for a line that is not one: the server rejects it, and
/// porthole leaves it out). Database and user tokens keep their quotes
/// ([`Token::entry`]); the type, address and method are read as the
/// server reads them, where only `all`, `samehost` and `samenet` in the
/// address are keywords that quotes turn into a host name.
fn rule(file: &str, record: &Record) -> Option<HbaRule> {
    let fields = &record.fields;
    // One value only: the server refuses a list here.
    let single = |index: usize| match fields.get(index).map(Vec::as_slice) {
        Some([token]) => Some(token),
        _ => None,
    };
    let kind = single(0)?.text.clone();
    let (address, netmask, method) = match kind.as_str() {
        "local" => (None, None, single(3)?),
        "host" | "hostssl" | "hostnossl" | "hostgssenc" | "hostnogssenc" => {
            let token = single(3)?;
            let address = token.text.as_str();
            match address.split_once('/') {
                Some((ip, prefix)) => {
                    let ip: IpAddr = ip.parse().ok()?;
                    let prefix: u32 = prefix.parse().ok()?;
                    (Some(ip.to_string()), Some(mask(ip, prefix)?), single(4)?)
                }
                // An address and a mask (of its family) in the next field.
                None if address.parse::<IpAddr>().is_ok() => {
                    let ip: IpAddr = address.parse().ok()?;
                    let netmask: IpAddr = single(4)?.text.parse().ok()?;
                    if ip.is_ipv4() != netmask.is_ipv4() {
                        return None;
                    }
                    (Some(ip.to_string()), Some(netmask.to_string()), single(5)?)
                }
                // `all`, `samehost`, `samenet` or a host name; quoted, a
                // keyword is a host name.
                None => (Some(token.entry()), None, single(4)?),
            }
        }
        _ => return None,
    };
    // A method the server does not know makes the line an error.
    const METHODS: [&str; 14] = [
        "trust",
        "reject",
        "scram-sha-256",
        "md5",
        "password",
        "gss",
        "sspi",
        "ident",
        "peer",
        "pam",
        "ldap",
        "radius",
        "cert",
        "bsd",
    ];
    if !METHODS.contains(&method.text.as_str()) {
        return None;
    }
    let list = |index: usize| fields.get(index).map(|f| f.iter().map(Token::entry).collect());
    Some(HbaRule {
        file_name: Some(file.to_string()),
        line_number: record.first_line,
        kind: Some(kind),
        database: list(1),
        user_name: list(2),
        address,
        netmask,
        auth_method: Some(method.text.clone()),
        error: None,
        source: Some(RecordSource {
            last_line: record.last_line,
            raw: record.raw.clone(),
            method: record.raw_span(&method.span),
        }),
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
        records(text, true).iter().filter_map(|record| rule("/d/pg_hba.conf", record)).collect()
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
                (5, "host \"my db\",other @admins 192.0.2.0/24 trust".to_string()),
                (6, "hostssl all all 10.0.0.0/8 trust".to_string()),
                (8, "host all all samenet md5".to_string()),
            ]
        );
        assert_eq!(rules[1].auth_method.as_deref(), Some("scram-sha-256"));
    }

    /// Tokens as PostgreSQL 15's `next_token()` reads them (checked against
    /// the installed server's `pg_hba_file_rules` and its logins): quotes
    /// make a keyword or `@file` a name, a comma and blanks after it go on
    /// with the list, quotes may wrap part of a token, and the method and
    /// type are read whatever their quotes.
    #[test]
    fn tokens_are_read_as_postgresql_reads_them() {
        let rules = parse(concat!(
            "host \"all\" all 127.0.0.1/32 trust\n",
            "host all \"@admins\",@ 127.0.0.2/32 trust\n",
            "host all,  postgres all 127.0.0.3/32 \"trust\"\n",
            "host all all \"samehost\" trust\n",
            "host all a\"\"b,\"c\"\"d\" 127.0.0.4/32 trust\n",
            "host all x ,y 127.0.0.5/32 trust\n",
            "host all all 127.0.0.6/32 tru\\\n",
            "st# a comment\n",
            "hostfoo all all 127.0.0.7/32 trust\n",
            "host all all,127.0.0.8/32 trust\n",
        ));
        let texts: Vec<(u32, String)> = rules.iter().map(|r| (r.line_number, r.text())).collect();
        assert_eq!(
            texts,
            [
                (1, "host \"all\" all 127.0.0.1/32 trust".to_string()),
                (2, "host all \"@admins\",@ 127.0.0.2/32 trust".to_string()),
                (3, "host all,postgres all 127.0.0.3/32 trust".to_string()),
                (4, "host all all \"samehost\" trust".to_string()),
                (5, "host all ab,\"c\"\"d\" 127.0.0.4/32 trust".to_string()),
                (7, "host all all 127.0.0.6/32 trust".to_string()),
            ]
        );
        // `x ,y` is two fields: the address is `y`, the method an address.
        // `all,127…` is a list where one address goes. Neither is a record.
        // A quoted `samehost` is a host name: other devices may be it.
        assert_eq!(rules[3].trusted(), Trusted::Network);
        let local = [(IpAddr::from([10, 0, 0, 1]), 24)];
        assert_eq!(admitted(&rules[3], &local), Admitted { others: true, ..Admitted::default() });
        // The method's place in the file, across the continued line.
        let source = rules[5].source.as_ref().expect("read from the file");
        assert_eq!(source.last_line, 8);
        assert_eq!(&source.raw[source.method.clone()], "tru\\\nst");
        let quoted = rules[2].source.as_ref().expect("read from the file");
        assert_eq!(&quoted.raw[quoted.method.clone()], "\"trust\"");
    }

    /// Continued records, as PostgreSQL 14 and later read them, and as 13 does not.
    #[test]
    fn a_backslash_continues_a_record_from_postgresql_14_on_only() {
        let text =
            "host all all 192.0.2.0/24 \\\r\n  trust\nhost all all 10.0.0.0/8 # a \\\n  trust\n";
        let read = |continuation| -> Vec<(u32, String)> {
            records(text, continuation)
                .iter()
                .filter_map(|record| rule("/d/pg_hba.conf", record))
                .map(|rule| (rule.line_number, rule.text()))
                .collect()
        };
        // The comment ends the record: the continued `trust` is in it.
        assert_eq!(read(true), [(1, "host all all 192.0.2.0/24 trust".to_string())]);
        // Before 14 the backslash is the method, which the server refuses,
        // and `trust` no record.
        assert_eq!(read(false), []);
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
            .file("/proc/7/root/srv/admins", "alice, bob # not carol\n@lists/more \"@lists/more\"\n")
            .file("/proc/7/root/srv/lists/more", "\"dave\"\n")
            .file("/proc/7/root/etc/dbs", "app\n")
            .file("/proc/7/root/srv/empty", "# nobody yet\n");
        let location = HbaLocation {
            path: "/srv/pg_hba.conf".into(),
            root: "/proc/7/root".into(),
            pid: None,
            major_version: Some(15),
        };
        let HbaFile::Read(rules) = read(&system, &location) else { panic!("read") };
        let texts: Vec<String> = rules.rules.iter().map(HbaRule::text).collect();
        assert_eq!(
            texts,
            [
                "host all alice,bob,\"dave\",\"@lists/more\" 192.0.2.0/24 trust",
                "host app  198.51.100.0/24 trust"
            ]
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
        // Another loopback address: any local client may connect from it.
        assert_eq!(of("127.0.0.5/32"), Admitted { loopback: true, ..Admitted::default() });
        assert_eq!(of("127.1.0.0/16"), Admitted { loopback: true, ..Admitted::default() });
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
        assert_eq!(location.reached(&system), "/proc/42/root/srv/data/conf/hba.conf");
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
            pid: None,
            major_version: None,
        };
        assert_eq!(
            read(&system, &missing),
            HbaFile::Unreadable { path: "/nowhere/pg_hba.conf".into() }
        );
    }

    /// `include` lines are PostgreSQL 16's: a 15 refuses them as a
    /// connection type, and reads no other file.
    #[test]
    fn includes_are_followed_from_postgresql_16_on_only() {
        use crate::inventory::system::fake::Scripted;
        let system = Scripted::default()
            .file("/d/pg_hba.conf", "include_if_exists lab.conf\ninclude gone.conf\n")
            .file("/d/lab.conf", "host all all 192.0.2.0/24 trust\n");
        let lines = |major_version| {
            let location = HbaLocation {
                path: "/d/pg_hba.conf".into(),
                root: String::new(),
                pid: None,
                major_version,
            };
            let HbaFile::Read(rules) = read(&system, &location) else { panic!("read") };
            rules.rules.iter().map(HbaRule::text).collect::<Vec<_>>()
        };
        assert_eq!(lines(Some(16)), ["host all all 192.0.2.0/24 trust"]);
        assert_eq!(lines(None), ["host all all 192.0.2.0/24 trust"]);
        assert!(lines(Some(15)).is_empty());
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
