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
    /// use the API.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            return true;
        };
        let name = strip_port(host.trim()).to_ascii_lowercase();
        matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
            || self.extra.iter().any(|extra| strip_port(extra).eq_ignore_ascii_case(&name))
    }
}

/// `localhost:8474` → `localhost`, `[::1]:8474` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_pass_and_others_do_not() {
        let policy = HostPolicy::default();
        for host in
            ["localhost", "localhost:8474", "127.0.0.1:1", "[::1]:8474", "[::1]", "LOCALHOST"]
        {
            assert!(policy.allows(Some(host)), "{host}");
        }
        for host in
            ["evil.example:8474", "127.0.0.1.nip.io", "10.0.0.1:8474", "[::2]:1", "localhost.evil"]
        {
            assert!(!policy.allows(Some(host)), "{host}");
        }
        assert!(policy.allows(None));
        let policy = HostPolicy { extra: vec!["toxiproxy".to_string()] };
        assert!(policy.allows(Some("toxiproxy:8474")));
    }
}
