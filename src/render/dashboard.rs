//! The lines `porthole dashboard` and `monitor --serve` print on stderr
//! when the server is up: the URL with its token (as Jupyter does) and,
//! when exposed, what that means.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// Says where the dashboard is.
pub fn serving(
    out: &mut impl Write,
    bound: SocketAddr,
    token: &str,
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
    writeln!(out, "porthole: dashboard on http://{shown}/?token={token}")?;
    writeln!(
        out,
        "porthole: metrics on http://{shown}/metrics (token in {})",
        token_file.display()
    )?;
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
