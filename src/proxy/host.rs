//! The `Host` header check that keeps web pages away from the API.
//!
//! A page on a hostile site can make the browser send requests to
//! `127.0.0.1:8474` by pointing its own DNS name at that address (DNS
//! rebinding); the browser then sends that name in `Host`. Accepting only
//! loopback names stops it. The `Mozilla/` user-agent block Toxiproxy has
//! is kept as well, but it does not cover `fetch` with `no-cors`.

/// Which `Host` values the API accepts.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Extra names (without port) accepted besides the loopback ones, for a
    /// server reached through a container name or a chosen address.
    pub extra: Vec<String>,
}

impl HostPolicy {
    /// Whether a request with this `Host` value (absent for HTTP/1.0) may
    /// use the API. The value must be exactly a name or bracketed IPv6
    /// address, optionally with `:PORT`: anything after the name
    /// (`[::1].evil.example`, `[::1]@evil.example`) fails, so a browser
    /// pointed at a look-alike name cannot pass.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let Some(name) = name_of(host.trim()) else {
            return false;
        };
        // `localhost.` is the same name written absolute (browsers resolve
        // it to loopback themselves); no one else can own it.
        matches!(name.as_str(), "localhost" | "localhost." | "127.0.0.1" | "[::1]")
            || self.extra.iter().any(|extra| name_of(extra).is_some_and(|extra| extra == name))
    }
}

/// Whether `name` can be given as an extra accepted name (`--allow-host`):
/// a host name, an IPv4 address or a bracketed IPv6 one, optionally with
/// `:PORT`, written exactly (no blanks). Anything else could never match a
/// `Host` header, so accepting it would silently change nothing.
pub fn is_host_name(name: &str) -> bool {
    name_of(name).is_some()
}

/// `localhost:8474` → `localhost`, `[::1]:8474` → `[::1]`, lower-cased;
/// `None` for anything that is not `NAME[:PORT]`.
fn name_of(host: &str) -> Option<String> {
    let (name, rest) = if host.starts_with('[') {
        let end = host.find(']')?;
        host.split_at(end + 1)
    } else {
        match host.find(':') {
            Some(colon) => host.split_at(colon),
            None => (host, ""),
        }
    };
    let port_ok = match rest.strip_prefix(':') {
        Some(port) => port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok(),
        None => rest.is_empty(),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|address| address.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        // DNS limits: labels of 1-63 characters, 253 in all (a final dot,
        // as in `box.lan.`, is allowed). A longer name or an empty label
        // (`a..b`) is sent by no client that resolved it.
        let labels = name.strip_suffix('.').unwrap_or(name);
        !labels.is_empty()
            && labels.len() <= 253
            && labels.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    (port_ok && name_ok).then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_name_is_a_host_name_or_address() {
        for name in ["box.lan", "toxiproxy", "10.0.0.5", "[fd00::5]", "box:8474", "localhost"] {
            assert!(is_host_name(name), "{name:?}");
        }
        for name in ["", "a b", " box", "box/", "[fd00::zz]", "[::1", "fd00::5", "box:x"] {
            assert!(!is_host_name(name), "{name:?}");
        }
        // Names no client that resolved them sends, and ports no URL has.
        let long_label = format!("{}.lan", "x".repeat(64));
        let long_name = ["x".repeat(63).as_str(); 5].join(".");
        for name in ["a..b", ".box", "[]", "[:]", "box:70000", "box:", &long_label, &long_name] {
            assert!(!is_host_name(name), "{name:?}");
        }
        assert!(is_host_name("box.lan."));
        assert!(is_host_name(&format!("{}.lan", "x".repeat(63))));
    }

    #[test]
    fn loopback_names_pass_and_others_do_not() {
        let policy = HostPolicy::default();
        for host in [
            "localhost",
            "localhost:8474",
            "127.0.0.1:1",
            "[::1]:8474",
            "[::1]",
            "LOCALHOST",
            "localhost.:1",
        ] {
            assert!(policy.allows(Some(host)), "{host}");
        }
        for host in [
            "evil.example:8474",
            "127.0.0.1.nip.io",
            "10.0.0.1:8474",
            "[::2]:1",
            "localhost.evil",
            "localhost..",
            "127.0.0.1.",
            "[::1].evil.example",
            "[::1]@evil.example",
            "[::1]:8474.evil.example",
            "localhost@evil.example",
            "localhost:8474:1",
            "localhost:",
            "localhost:abc",
            "127.0.0.1:8474/x",
            "",
        ] {
            assert!(!policy.allows(Some(host)), "{host}");
        }
        assert!(policy.allows(None));
        let policy = HostPolicy { extra: vec!["toxiproxy".to_string()] };
        assert!(policy.allows(Some("toxiproxy:8474")));
    }
}
