//! A PostgreSQL connection string read the way libpq reads it, for
//! `--store`: a URL (`postgres://user:pw@host:port/db?key=value`) or a
//! keyword string (`host=db dbname=history`).
//!
//! The client library reads URLs more loosely than libpq: it adds the
//! default port for the URL's host and then `?port=` as a second one
//! ("invalid number of ports"), and it reads none of the environment. So a
//! URL is taken apart here, its query parameters overriding its own parts
//! as in libpq, and handed to the library as a keyword string; then what
//! neither says comes from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and
//! `PGDATABASE`, and a missing host is the Unix socket directory Debian's
//! libpq uses. Port 0 is refused, as libpq refuses it.
//!
//! See: <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING>
//! and <https://www.postgresql.org/docs/current/libpq-envars.html>

use postgres::Config;

use super::location::{is_url, KEYWORDS};

/// Where libpq looks for the server when nothing names a host (Debian's
/// `DEFAULT_PGSOCKET_DIR`).
pub const DEFAULT_SOCKET_DIRECTORY: &str = "/var/run/postgresql";

/// The client settings for `text` (a URL or a keyword string), with the
/// environment read through `env` for what `text` leaves out. The error is
/// the reason libpq would give, without the text itself.
pub fn config(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let keywords = if is_url(text) { keyword_string(&url_options(text)?) } else { text.into() };
    let mut config: Config = keywords.parse().map_err(|e: postgres::Error| e.to_string())?;
    let variable = |name: &str| env(name).filter(|value| !value.is_empty());
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match variable("PGHOST") {
            Some(hosts) => hosts.split(',').for_each(|host| {
                config.host(if host.is_empty() { DEFAULT_SOCKET_DIRECTORY } else { host });
            }),
            None => {
                config.host(DEFAULT_SOCKET_DIRECTORY);
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(ports) = variable("PGPORT") {
            for port in ports.split(',') {
                config.port(port_number(port).map_err(|reason| format!("PGPORT: {reason}"))?);
            }
        }
    }
    if let Some(port) = config.get_ports().iter().find(|port| **port == 0) {
        return Err(format!("invalid port number: \"{port}\""));
    }
    if config.get_user().is_none() {
        if let Some(user) = variable("PGUSER") {
            config.user(&user);
        }
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(dbname) = variable("PGDATABASE") {
            config.dbname(&dbname);
        }
    }
    Ok(config)
}

/// A port as libpq takes it: a number from 1 to 65535 (empty is the default).
fn port_number(text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Ok(5432);
    }
    match text.trim().parse::<u32>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(format!("invalid port number: \"{text}\"")),
    }
}

/// The settings a URL names, in libpq's order: its own parts first, then
/// its query parameters, a later value of a key replacing an earlier one.
fn url_options(url: &str) -> Result<Vec<(String, String)>, String> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .expect("is_url checked the scheme");
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let mut options: Vec<(String, String)> = Vec::new();
    let mut set = |key: &str, value: String| {
        options.retain(|(known, _)| known != key);
        options.push((key.to_string(), value));
    };
    // libpq looks for credentials up to the first '/'.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (credentials, rest) = match rest[..authority_end].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        if !user.is_empty() {
            set("user", decode(user)?);
        }
        if let Some(password) = password {
            set("password", decode(password).map_err(|_| hidden_password())?);
        }
    }
    let (hostspec, path) = match rest.split_once('/') {
        Some((hostspec, path)) => (hostspec, Some(path)),
        None => (rest, None),
    };
    let (mut hosts, mut ports) = (Vec::new(), Vec::new());
    for entry in hostspec.split(',') {
        let (host, port) = if let Some(bracketed) = entry.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("missing \"]\" in IPv6 host address \"{entry}\""))?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| {
                    format!("unexpected character \"{}\" after IPv6 host address", &after[..1])
                })?),
            };
            (host.to_string(), port)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (decode(host)?, Some(port)),
                None => (decode(entry)?, None),
            }
        };
        if let Some(port) = port {
            port_number(&decode(port)?)?;
        }
        hosts.push(host);
        ports.push(port.map(decode).transpose()?.unwrap_or_default());
    }
    if hosts.iter().any(|host| !host.is_empty()) {
        set("host", hosts.join(","));
    }
    if ports.iter().any(|port| !port.is_empty()) {
        set("port", ports.join(","));
    }
    if let Some(dbname) = path.filter(|path| !path.is_empty()) {
        set("dbname", decode(dbname)?);
    }
    for pair in query.unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            format!("missing key/value separator \"=\" in URI query parameter: \"{pair}\"")
        })?;
        let key = decode(key)?;
        if !KEYWORDS.contains(&key.as_str()) {
            return Err(format!("invalid URI query parameter: \"{key}\""));
        }
        let value = if key == "password" {
            decode(value).map_err(|_| hidden_password())?
        } else {
            decode(value)?
        };
        if key == "port" {
            value.split(',').try_for_each(|port| port_number(port).map(drop))?;
        }
        set(&key, value);
    }
    Ok(options)
}

/// A bad escape in a password, said without quoting it.
fn hidden_password() -> String {
    "invalid percent-encoded token in the password".into()
}

/// `key='value'` pairs the client library's keyword parser reads back as
/// they are.
fn keyword_string(options: &[(String, String)]) -> String {
    options
        .iter()
        .map(|(key, value)| format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Percent-decoding as libpq does it: `%XX` is a byte, a bad escape or
/// `%00` is refused.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let byte = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoded token: \"{text}\""))?;
            if byte == 0 {
                return Err(format!("forbidden value %00 in percent-encoded value: \"{text}\""));
            }
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("not UTF-8 once decoded: \"{text}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::config::Host;
    use std::path::PathBuf;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn tcp(config: &Config) -> Vec<String> {
        config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect()
    }

    #[test]
    fn query_parameters_override_the_urls_own_parts() {
        let config = config("postgres://localhost/x?port=5433", no_env).unwrap();
        assert_eq!(config.get_ports(), [5433]);
        assert_eq!(tcp(&config), ["localhost"]);
        let config = config_of("postgres://u:p@a:1/x?host=b&port=2&dbname=y&user=v&password=q");
        assert_eq!((tcp(&config), config.get_ports()), (vec!["b".to_string()], &[2][..]));
        assert_eq!(config.get_dbname(), Some("y"));
        assert_eq!(config.get_user(), Some("v"));
        assert_eq!(config.get_password(), Some(&b"q"[..]));
        let config = config_of("postgresql://[::1]:5433,h2:5434/db%20name");
        assert_eq!(tcp(&config), ["::1", "h2"]);
        assert_eq!(config.get_ports(), [5433, 5434]);
        assert_eq!(config.get_dbname(), Some("db name"));
        // A quote or backslash in a value survives the keyword string.
        assert_eq!(config_of("postgres://u:a'b%5Cc@h/x").get_password(), Some(&b"a'b\\c"[..]));
    }

    fn config_of(url: &str) -> Config {
        config(url, no_env).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn the_environment_fills_what_the_text_leaves_out() {
        let env = |name: &str| {
            Some(
                match name {
                    "PGHOST" => "envhost",
                    "PGPORT" => "5499",
                    "PGUSER" => "envuser",
                    "PGPASSWORD" => "envpw",
                    "PGDATABASE" => "envdb",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let config = config("postgres://", env).unwrap();
        assert_eq!((tcp(&config), config.get_ports()), (vec!["envhost".to_string()], &[5499][..]));
        assert_eq!(config.get_user(), Some("envuser"));
        assert_eq!(config.get_password(), Some(&b"envpw"[..]));
        assert_eq!(config.get_dbname(), Some("envdb"));
        let config = super::config("host=h port=1 user=u password=p dbname=d", env).unwrap();
        assert_eq!((tcp(&config), config.get_ports()), (vec!["h".to_string()], &[1][..]));
        assert_eq!((config.get_user(), config.get_dbname()), (Some("u"), Some("d")));
        // Nothing names a host: the Unix socket directory.
        let config = super::config("postgres:///x", no_env).unwrap();
        assert_eq!(config.get_hosts(), [Host::Unix(PathBuf::from(DEFAULT_SOCKET_DIRECTORY))]);
    }

    #[test]
    fn what_libpq_refuses_is_refused() {
        let error = |text: &str| config(text, no_env).unwrap_err();
        assert_eq!(error("postgres://h:0/x"), "invalid port number: \"0\"");
        assert_eq!(error("postgres://h/x?port=0"), "invalid port number: \"0\"");
        assert_eq!(error("postgres://h:65536/x"), "invalid port number: \"65536\"");
        assert_eq!(error("postgres://h:abc/x"), "invalid port number: \"abc\"");
        assert_eq!(error("host=h port=0"), "invalid port number: \"0\"");
        assert_eq!(error("postgres://h/x?nosuch=1"), "invalid URI query parameter: \"nosuch\"");
        assert!(error("postgres://h/x?port").contains("separator"));
        assert!(error("postgres://h/%zz").contains("percent-encoded"));
        assert!(error("postgres://h/a%00b").contains("%00"));
        assert!(error("postgres://[::1/x").contains("IPv6"));
        assert_eq!(error("postgres://u:se%zzcret@h/x"), hidden_password());
        assert_eq!(error("postgres://h/x?password=se%zzcret"), hidden_password());
        let env = |name: &str| (name == "PGPORT").then(|| "0".to_string());
        assert_eq!(
            config("postgres://h/x", env).unwrap_err(),
            "PGPORT: invalid port number: \"0\""
        );
    }
}
