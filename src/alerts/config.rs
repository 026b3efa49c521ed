//! The alert rules file (TOML) and its defaults.
//!
//! Every key is optional; a missing file means [`AlertConfig::default`]. A
//! mistake is reported with the file, the line and the key, so a daemon that
//! refuses to start says exactly what to fix:
//! `/etc/porthole/alerts.toml line 3, key 'audit_severity': unknown severity 'hgh' …`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::duration::BareNumber;
use crate::model::Severity;

/// Databases, debuggers and remote-control APIs: a connection to one of
/// these from a program never seen before is worth a look.
pub const DEFAULT_SENSITIVE_PORTS: [u16; 16] = [
    // PostgreSQL, MySQL/MariaDB, Redis, MongoDB, memcached, Elasticsearch,
    // CouchDB, etcd, SQL Server
    5432, 3306, 6379, 27017, 11211, 9200, 5984, 2379, 1433,
    // Node inspector, Chrome DevTools, Java JDWP, debugpy, Delve
    9229, 9222, 5005, 5678, 2345, // Docker API, plain and TLS
    2375, 2376,
];

/// Which new listeners the passive audit looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditScope {
    /// Only listeners bound beyond loopback (the default: probing every
    /// development server on loopback would be noise).
    #[default]
    Exposed,
    /// Every new TCP listener.
    All,
}

/// What raises an alert and how alerts are delivered; see the README's
/// "Alerts" section for the file format.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Rule (a): a listener bound beyond loopback appeared.
    pub new_exposed_listener: bool,
    /// Rule (b): a listener appeared on one of these ports.
    pub watched_ports: BTreeSet<u16>,
    /// Rule (b): a listener appeared owned by anyone else (names or uids);
    /// empty turns the rule off.
    pub expected_users: BTreeSet<String>,
    /// Rule (c): findings of at least this severity; `None` turns the
    /// passive audit off.
    pub audit_severity: Option<Severity>,
    pub audit_scope: AuditScope,
    /// Rule (d): ports whose never-seen clients alert; empty turns it off.
    pub sensitive_ports: BTreeSet<u16>,
    /// Also judge the listeners that exist when the monitor starts (by
    /// default they are the baseline).
    pub existing: bool,
    /// The same program back on the same address within this long of its
    /// last alert is held back (a crash loop alerts once per period).
    pub repeat_after: Duration,
    /// `--on-alert`: kill the command after this long.
    pub command_timeout: Duration,
    /// `--on-alert`: never more commands running at once.
    pub command_concurrency: usize,
    /// `--webhook`: alerts waiting for delivery at most; the oldest is
    /// dropped (and counted) when a new one does not fit.
    pub webhook_queue: usize,
    /// `--webhook`: attempts per alert, with exponential backoff between.
    pub webhook_attempts: u32,
    /// `--webhook`: connect, write and read timeout of one attempt.
    pub webhook_timeout: Duration,
}

/// Most `--on-alert` commands running at once (`command_concurrency`).
pub const MAX_COMMAND_CONCURRENCY: usize = 256;
/// Most alerts waiting for the webhook (`webhook_queue`).
pub const MAX_WEBHOOK_QUEUE: usize = 100_000;
/// Most attempts per alert (`webhook_attempts`): with the 30 s backoff
/// ceiling, about an hour on one alert.
pub const MAX_WEBHOOK_ATTEMPTS: u32 = 120;
/// The most of `--alerts FILE` read: a rules file is a few KiB, and the
/// path may name `/dev/zero` or a log.
pub const MAX_RULES_FILE: u64 = 1024 * 1024;

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            new_exposed_listener: true,
            watched_ports: BTreeSet::new(),
            expected_users: BTreeSet::new(),
            audit_severity: Some(Severity::High),
            audit_scope: AuditScope::Exposed,
            sensitive_ports: DEFAULT_SENSITIVE_PORTS.into_iter().collect(),
            existing: false,
            repeat_after: Duration::from_secs(600),
            command_timeout: Duration::from_secs(10),
            command_concurrency: 4,
            webhook_queue: 256,
            webhook_attempts: 5,
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

/// Errors reading the rules file.
#[derive(Debug, thiserror::Error)]
pub enum AlertConfigError {
    #[error("reading the alert rules {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}{key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        /// `, key 'name'` when the mistake is in one key, else empty.
        key: String,
        message: String,
    },
}

/// The file as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRules {
    #[serde(default)]
    rules: RulesTable,
    #[serde(default)]
    delivery: DeliveryTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesTable {
    new_exposed_listener: Option<bool>,
    #[serde(default, deserialize_with = "port_list")]
    watched_ports: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "user_list")]
    expected_users: Option<Vec<String>>,
    #[serde(default, deserialize_with = "severity_or_off")]
    audit_severity: Option<Option<Severity>>,
    #[serde(default, deserialize_with = "audit_scope")]
    audit_listeners: Option<AuditScope>,
    #[serde(default, deserialize_with = "port_list")]
    sensitive_ports: Option<Vec<u16>>,
    existing: Option<bool>,
    #[serde(default, deserialize_with = "duration")]
    repeat_after: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryTable {
    #[serde(default, deserialize_with = "duration")]
    command_timeout: Option<Duration>,
    command_concurrency: Option<usize>,
    webhook_queue: Option<usize>,
    webhook_attempts: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    webhook_timeout: Option<Duration>,
}

/// A TOML value as the person wrote it, for messages about it.
fn written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("'{text}'"),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::Boolean(flag) => flag.to_string(),
        toml::Value::Datetime(_) => "a date".into(),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// A list of port numbers, 1–65535. Read element by element, so a mistake
/// is told in the file's terms ("70000 is not a port number"), not serde's
/// ("expected u16"), and points at the key.
fn port_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u16>>, D::Error> {
    let values = Vec::<toml::Value>::deserialize(deserializer)?;
    values
        .iter()
        .map(|value| {
            value
                .as_integer()
                .and_then(|number| u16::try_from(number).ok())
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{} is not a port number (expected 1-65535)",
                        written(value)
                    ))
                })
        })
        .collect::<Result<Vec<u16>, D::Error>>()
        .map(Some)
}

/// A list of users: names, or numeric uids (kept as their decimal text).
fn user_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    let values = Vec::<toml::Value>::deserialize(deserializer)?;
    values
        .iter()
        .map(|value| match value {
            toml::Value::String(name) if !name.is_empty() => Ok(name.clone()),
            toml::Value::Integer(uid) if u32::try_from(*uid).is_ok() => Ok(uid.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "{} is not a user (expected a user name or a uid, 0-4294967295)",
                written(other)
            ))),
        })
        .collect::<Result<Vec<String>, D::Error>>()
        .map(Some)
}

fn severity_or_off<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Severity>>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.eq_ignore_ascii_case("off") {
        return Ok(Some(None));
    }
    Severity::parse(&text).map(|s| Some(Some(s))).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown severity '{text}' (expected critical, high, medium, low, info or off)"
        ))
    })
}

fn audit_scope<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<AuditScope>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "exposed" => Ok(Some(AuditScope::Exposed)),
        "all" => Ok(Some(AuditScope::All)),
        _ => Err(serde::de::Error::custom(format!(
            "unknown listener set '{text}' (expected exposed or all)"
        ))),
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "invalid duration '{text}' (expected e.g. 500ms, 10s or 2m)"
        ))
    })
}

/// `500ms`, `10s`, `2m` (any unit of [`crate::duration`]); a positive
/// amount, with its unit.
fn parse_duration(text: &str) -> Option<Duration> {
    crate::duration::parse_duration(text.trim(), BareNumber::Refused)
        .ok()
        .filter(|duration| !duration.is_zero())
}

impl AlertConfig {
    /// Parses the rules file's text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, AlertConfigError> {
        let file: FileRules = toml::from_str(text).map_err(|error| invalid(path, text, &error))?;
        let FileRules { rules, delivery } = file;
        let RulesTable {
            new_exposed_listener,
            watched_ports,
            expected_users,
            audit_severity,
            audit_listeners,
            sensitive_ports,
            existing,
            repeat_after,
        } = rules;
        let DeliveryTable {
            command_timeout,
            command_concurrency,
            webhook_queue,
            webhook_attempts,
            webhook_timeout,
        } = delivery;
        let defaults = AlertConfig::default();
        // Each count has a ceiling: `command_concurrency` starts that many
        // threads and sizes their queue up front (a hundred million aborted
        // porthole, out of memory), `webhook_queue` holds that many alerts,
        // and `webhook_attempts` holds every alert behind a failing one.
        let positive = |key: &str, value: Option<usize>, default: usize, most: usize| match value {
            Some(value) if value == 0 || value > most => Err(AlertConfigError::Invalid {
                path: path.to_path_buf(),
                line: line_of_key(text, key),
                key: format!(", key '{key}'"),
                message: if value == 0 {
                    "must be at least 1".into()
                } else {
                    format!("{value} is more than {most}, the most porthole allows")
                },
            }),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        Ok(AlertConfig {
            new_exposed_listener: new_exposed_listener.unwrap_or(defaults.new_exposed_listener),
            watched_ports: watched_ports
                .map_or(defaults.watched_ports, |p| p.into_iter().collect()),
            expected_users: expected_users
                .map_or(defaults.expected_users, |users| users.into_iter().collect()),
            audit_severity: audit_severity.unwrap_or(defaults.audit_severity),
            audit_scope: audit_listeners.unwrap_or(defaults.audit_scope),
            sensitive_ports: sensitive_ports
                .map_or(defaults.sensitive_ports, |p| p.into_iter().collect()),
            existing: existing.unwrap_or(defaults.existing),
            repeat_after: repeat_after.unwrap_or(defaults.repeat_after),
            command_timeout: command_timeout.unwrap_or(defaults.command_timeout),
            command_concurrency: positive(
                "command_concurrency",
                command_concurrency,
                defaults.command_concurrency,
                MAX_COMMAND_CONCURRENCY,
            )?,
            webhook_queue: positive(
                "webhook_queue",
                webhook_queue,
                defaults.webhook_queue,
                MAX_WEBHOOK_QUEUE,
            )?,
            webhook_attempts: u32::try_from(positive(
                "webhook_attempts",
                webhook_attempts.map(|n| n as usize),
                defaults.webhook_attempts as usize,
                MAX_WEBHOOK_ATTEMPTS as usize,
            )?)
            .unwrap_or(MAX_WEBHOOK_ATTEMPTS),
            webhook_timeout: webhook_timeout.unwrap_or(defaults.webhook_timeout),
        })
    }

    /// Reads the rules file at `path`.
    pub fn read(path: &Path) -> Result<Self, AlertConfigError> {
        let bytes = crate::sys::input_file::read(path, MAX_RULES_FILE)
            .map_err(|source| AlertConfigError::Read { path: path.to_path_buf(), source })?;
        // Said with its line, like every other mistake in the file (a
        // Latin-1 comment, a file saved as UTF-16).
        let text = String::from_utf8(bytes).map_err(|error| {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            AlertConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1 + valid.iter().filter(|byte| **byte == b'\n').count(),
                key: String::new(),
                message: "not UTF-8 text (TOML files are UTF-8)".into(),
            }
        })?;
        AlertConfig::parse(path, &text)
    }
}

/// The rules file to read when none is named: the user's
/// (`$XDG_CONFIG_HOME/porthole/alerts.toml`, else
/// `~/.config/porthole/alerts.toml`) when it exists, else
/// `/etc/porthole/alerts.toml` when it exists, else none (the defaults).
pub fn default_path(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let user = match (xdg_config_home.filter(|d| !d.is_empty()), home.filter(|d| !d.is_empty())) {
        (Some(config), _) => Some(PathBuf::from(config).join("porthole/alerts.toml")),
        (None, Some(home)) => Some(PathBuf::from(home).join(".config/porthole/alerts.toml")),
        (None, None) => None,
    };
    user.into_iter()
        .chain(std::iter::once(PathBuf::from("/etc/porthole/alerts.toml")))
        .find(|path| path.is_file())
}

/// The error with the line it points at and the key on that line.
fn invalid(path: &Path, text: &str, error: &toml::de::Error) -> AlertConfigError {
    let (line, key) = match error.span() {
        Some(span) => {
            let mut line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let lines: Vec<&str> = text.lines().collect();
            // Inside a value written over several lines (an array), the
            // key is on the line the value starts: walk back to it, never
            // past a table header.
            let mut at = line - 1;
            while at > 0
                && lines.get(at).is_some_and(|l| !l.contains('=') && !l.trim().starts_with('['))
            {
                at -= 1;
            }
            let key = lines
                .get(at)
                .filter(|content| !content.trim_start().starts_with('#'))
                .and_then(|content| content.split_once('='))
                .map(|(key, _)| key.trim().trim_matches('"').to_string())
                .filter(|key| !key.is_empty() && !key.starts_with('['))
                .map(|key| format!(", key '{key}'"))
                .unwrap_or_default();
            if !key.is_empty() {
                line = at + 1;
            }
            (line, key)
        }
        None => (1, String::new()),
    };
    let message = error.message().trim().to_string();
    AlertConfigError::Invalid { path: path.to_path_buf(), line, key, message }
}

/// The line on which `key = …` is written (1 when it cannot be found).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| line.split_once('=').is_some_and(|(name, _)| name.trim() == key))
        .map_or(1, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertConfig, String> {
        AlertConfig::parse(Path::new("alerts.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        assert_eq!(parse("").unwrap(), AlertConfig::default());
        let defaults = AlertConfig::default();
        assert!(defaults.sensitive_ports.contains(&5432));
        assert!(defaults.sensitive_ports.contains(&2375));
        assert_eq!(defaults.audit_severity, Some(Severity::High));
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            "[rules]\n\
             new_exposed_listener = false\n\
             watched_ports = [22, 8080]\n\
             expected_users = [\"root\", 33]\n\
             audit_severity = \"off\"\n\
             audit_listeners = \"all\"\n\
             sensitive_ports = [5432]\n\
             existing = true\n\
             repeat_after = \"1h\"\n\
             [delivery]\n\
             command_timeout = \"500ms\"\n\
             command_concurrency = 2\n\
             webhook_queue = 8\n\
             webhook_attempts = 3\n\
             webhook_timeout = \"2s\"\n",
        )
        .unwrap();
        assert!(!config.new_exposed_listener);
        assert_eq!(config.watched_ports, [22, 8080].into());
        assert_eq!(config.expected_users, ["root".to_string(), "33".to_string()].into());
        assert_eq!(config.audit_severity, None);
        assert_eq!(config.audit_scope, AuditScope::All);
        assert_eq!(config.sensitive_ports, [5432].into());
        assert!(config.existing);
        assert_eq!(config.repeat_after, Duration::from_secs(3600));
        assert_eq!(config.command_timeout, Duration::from_millis(500));
        assert_eq!(config.command_concurrency, 2);
        assert_eq!(config.webhook_queue, 8);
        assert_eq!(config.webhook_attempts, 3);
        assert_eq!(config.webhook_timeout, Duration::from_secs(2));
    }

    #[test]
    fn mistakes_name_the_line_and_the_key() {
        let error = parse("[rules]\nwatched_ports = [22]\naudit_severity = \"hgh\"\n").unwrap_err();
        assert!(error.starts_with("alerts.toml line 3, key 'audit_severity': "), "{error}");
        assert!(error.contains("unknown severity 'hgh'"), "{error}");

        let error = parse("[rules]\nwatched_port = [22]\n").unwrap_err();
        assert!(error.starts_with("alerts.toml line 2, key 'watched_port': "), "{error}");
        assert!(error.contains("unknown field"), "{error}");

        let error = parse("[rules]\n\nwatched_ports = [70000]\n").unwrap_err();
        assert!(error.starts_with("alerts.toml line 3, key 'watched_ports': "), "{error}");

        let error = parse("[delivery]\ncommand_concurrency = 0\n").unwrap_err();
        assert_eq!(error, "alerts.toml line 2, key 'command_concurrency': must be at least 1");

        let error = parse("[rules\n").unwrap_err();
        assert!(error.starts_with("alerts.toml line 1: "), "{error}");
    }

    // `command_concurrency = 100000000` passed, and `--on-alert` then
    // asked for a queue of 1.6 billion slots: porthole aborted, out of
    // memory, after it had started recording. Every count has a ceiling.
    #[test]
    fn counts_beyond_their_ceiling_name_the_line_and_the_key() {
        for (text, expected) in [
            (
                "[delivery]\ncommand_concurrency = 100000000\n",
                "alerts.toml line 2, key 'command_concurrency': 100000000 is more than 256, the \
                 most porthole allows",
            ),
            (
                "[delivery]\n\nwebhook_queue = 100001\n",
                "alerts.toml line 3, key 'webhook_queue': 100001 is more than 100000, the most \
                 porthole allows",
            ),
            (
                "[delivery]\nwebhook_attempts = 4294967295\n",
                "alerts.toml line 2, key 'webhook_attempts': 4294967295 is more than 120, the \
                 most porthole allows",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
        let at_most = parse(
            "[delivery]\ncommand_concurrency = 256\nwebhook_queue = 100000\nwebhook_attempts = 120\n",
        )
        .expect("the ceilings themselves are allowed");
        assert_eq!(
            (at_most.command_concurrency, at_most.webhook_queue, at_most.webhook_attempts),
            (256, 100_000, 120)
        );
    }

    /// Values are judged in the file's terms, not Rust's (`expected u16`,
    /// `untagged enum UserName`), and a mistake inside an array written
    /// over several lines names the array's key and line.
    #[test]
    fn mistakes_in_lists_are_told_in_the_files_terms() {
        let cases = [
            (
                "[rules]\nwatched_ports = [70000]\n",
                "alerts.toml line 2, key 'watched_ports': 70000 is not a port number (expected 1-65535)",
            ),
            (
                "[rules]\nwatched_ports = [\n  22,\n  70000,\n]\n",
                "alerts.toml line 2, key 'watched_ports': 70000 is not a port number (expected 1-65535)",
            ),
            (
                "[rules]\nsensitive_ports = [0]\n",
                "alerts.toml line 2, key 'sensitive_ports': 0 is not a port number (expected 1-65535)",
            ),
            (
                "[rules]\nsensitive_ports = [\"x\"]\n",
                "alerts.toml line 2, key 'sensitive_ports': 'x' is not a port number (expected 1-65535)",
            ),
            (
                "[rules]\nexpected_users = [\"root\", -1]\n",
                "alerts.toml line 2, key 'expected_users': -1 is not a user (expected a user name or a uid, 0-4294967295)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), expected, "{text:?}");
        }
        let config = parse("[rules]\nexpected_users = [\"root\", 4294967295]\n").unwrap();
        assert_eq!(config.expected_users, ["root".to_string(), "4294967295".to_string()].into());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
    }

    #[test]
    fn the_users_file_comes_before_the_systems() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().to_str().unwrap();
        assert_ne!(
            default_path(Some(config), None),
            Some(dir.path().join("porthole/alerts.toml")),
            "absent files are not chosen"
        );
        std::fs::create_dir_all(dir.path().join("porthole")).unwrap();
        std::fs::write(dir.path().join("porthole/alerts.toml"), "").unwrap();
        assert_eq!(
            default_path(Some(config), Some("/nonexistent")),
            Some(dir.path().join("porthole/alerts.toml"))
        );
    }
}
