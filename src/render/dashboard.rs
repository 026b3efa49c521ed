//! The lines `porthole dashboard` and `monitor --serve` print on stderr
//! when the server is up: the URL with its token (as Jupyter does) when
//! stderr is a terminal, and, when exposed, what that means.
//!
//! Under systemd stderr is the journal, which keeps every line and which
//! members of `adm` and `systemd-journal` read; a token printed there is
//! no longer the owner's alone, whatever the token file's mode. So the
//! token is printed only to a terminal; elsewhere the line says where the
//! token file is.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// Says where the dashboard is; `token` is printed in the URL when given
/// (stderr is a terminal), else the line names the token file.
pub fn serving(
    out: &mut impl Write,
    bound: SocketAddr,
    token: Option<&str>,
    exposed: bool,
    token_file: &Path,
) -> std::io::Result<()> {
    // A wildcard bind is reachable on loopback too: that is the address to
    // open on this machine.
    let shown = if bound.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
    } else {
        bound
    };
    let file = crate::render::sanitize::sanitize(&token_file.display().to_string()).into_owned();
    match token {
        Some(token) => writeln!(out, "porthole: dashboard on http://{shown}/?token={token}")?,
        None => writeln!(
            out,
            "porthole: dashboard on http://{shown}/ (open it with ?token= and the token in \
             {file}; the token is printed only to a terminal, not to logs)"
        )?,
    }
    writeln!(out, "porthole: metrics on http://{shown}/metrics (token in {file})")?;
    if exposed {
        writeln!(
            out,
            "porthole: exposed on {bound}: every device that can reach this machine can try \
             the token, and with it see every local service, process and connection; traffic \
             is plain HTTP. Prefer 127.0.0.1 and an SSH tunnel (ssh -L {port}:127.0.0.1:{port} \
             this-host).",
            port = bound.port()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_printed_only_when_asked() {
        let bound: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        let file = Path::new("/var/lib/porthole/dashboard.token");
        let mut terminal = Vec::new();
        serving(&mut terminal, bound, Some("SECRET"), false, file).unwrap();
        let terminal = String::from_utf8(terminal).unwrap();
        assert!(
            terminal.starts_with("porthole: dashboard on http://127.0.0.1:7878/?token=SECRET\n")
        );
        let mut log = Vec::new();
        serving(&mut log, bound, None, false, file).unwrap();
        let log = String::from_utf8(log).unwrap();
        assert!(!log.contains("SECRET") && !log.contains("?token=S"), "{log}");
        assert!(
            log.starts_with(
                "porthole: dashboard on http://127.0.0.1:7878/ (open it with ?token= and the \
                 token in /var/lib/porthole/dashboard.token;"
            ),
            "{log}"
        );
    }
}
