//! Port forwarders whose upstream is named on their command line: `socat
//! TCP-LISTEN:8080,fork TCP:127.0.0.1:9000`. The forwarder accepts every
//! connection itself, so the port looks up; when nothing answers upstream
//! it closes (or resets) each connection at once. [`socat_upstream`] reads where
//! it forwards to, so `check` can probe that address and name it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address a `socat` command line connects to: its second address when
/// that is a TCP connect (`TCP:`, `TCP4:`, `TCP6:`, `TCP-CONNECT:` and the
/// 4/6 variants) with a literal IP or `localhost`; `None` otherwise (a
/// name porthole would have to resolve, a Unix or exec address).
pub fn socat_upstream(cmdline: &[String]) -> Option<SocketAddr> {
    let program = cmdline.first()?;
    if program.rsplit('/').next() != Some("socat") {
        return None;
    }
    // Options come first (`-d`, `-v`, `-T 5`…); then the two addresses.
    let addresses: Vec<&String> =
        cmdline.iter().skip(1).filter(|arg| !arg.starts_with('-')).collect();
    let second = addresses.get(1)?;
    let (kind, rest) = second.split_once(':')?;
    let kind = kind.to_ascii_uppercase();
    let tcp = ["TCP", "TCP4", "TCP6", "TCP-CONNECT", "TCP4-CONNECT", "TCP6-CONNECT"];
    if !tcp.contains(&kind.as_str()) {
        return None;
    }
    let target = rest.split(',').next()?;
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => host.parse().ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_connect_address_of_socat() {
        let up = |text: &str| socat_upstream(&line(text));
        assert_eq!(
            up("socat TCP-LISTEN:8090,bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:8091"),
            Some("127.0.0.1:8091".parse().unwrap())
        );
        assert_eq!(
            up("/usr/bin/socat -d -d tcp6-listen:80,fork tcp6-connect:[::1]:9000,nodelay"),
            Some("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            up("socat TCP-LISTEN:1,fork TCP:localhost:5"),
            Some("127.0.0.1:5".parse().unwrap())
        );
        // A name, a Unix upstream, or another program: nothing claimed.
        assert_eq!(up("socat TCP-LISTEN:1,fork TCP:db.internal:5432"), None);
        assert_eq!(up("socat TCP-LISTEN:1,fork UNIX-CONNECT:/run/app.sock"), None);
        assert_eq!(up("ncat -l 1 --sh-exec 'ncat 127.0.0.1 2'"), None);
    }
}
