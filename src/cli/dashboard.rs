//! `porthole dashboard` and `porthole monitor --serve`: the address, the
//! exposure decision, the Host allow-list and the token file, resolved.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::cli::args::{DashboardArgs, WebArgs};
use crate::store::StoreLocation;

/// How the dashboard is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    pub address: SocketAddr,
    /// Bound to a non-loopback address (`--expose` was given).
    pub exposed: bool,
    pub metrics_public: bool,
    /// Extra `Host` names besides the loopback ones.
    pub allow_hosts: Vec<String>,
    pub token_file: PathBuf,
}

impl ServeSettings {
    /// Resolves `--serve ADDR` with the shared web flags.
    pub fn resolve(address: &str, web: WebArgs) -> anyhow::Result<Self> {
        let WebArgs { expose, metrics_public, allow_host, token_file } = web;
        let address: SocketAddr = address.parse().map_err(|_| {
            // The endpoint parser names what is wrong (a port out of
            // range, missing brackets); a host name parses there but is no
            // address to bind.
            let reason = match crate::target::Endpoint::parse(address) {
                Err(error) => error.to_string(),
                Ok(_) => "expected IP:PORT such as 127.0.0.1:7878".to_string(),
            };
            anyhow::anyhow!("--serve '{address}': {reason}")
        })?;
        let loopback = crate::model::is_loopback(address.ip());
        if !loopback && !expose {
            bail!(
                "--serve {address} would let other devices reach the dashboard; \
                 add --expose to serve there anyway, or use 127.0.0.1"
            );
        }
        let mut allow_hosts = allow_host;
        for name in &allow_hosts {
            if !crate::proxy::host::is_host_name(name) {
                bail!(
                    "--allow-host '{}': expected a host name or address",
                    crate::render::sanitize::sanitize(name)
                );
            }
        }
        // A chosen specific address is a name clients will use: a LAN
        // address, and a loopback one other than 127.0.0.1 and [::1] too
        // (127.0.0.2 is as local, and the printed URL names it).
        if !address.ip().is_unspecified() {
            allow_hosts.push(match address {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            });
        }
        let token_file = match token_file {
            Some(path) => path,
            None => StoreLocation::state_directory()
                .context("finding the state directory for the dashboard token")?
                .join(crate::dashboard::token::FILE_NAME),
        };
        Ok(ServeSettings { address, exposed: !loopback, metrics_public, allow_hosts, token_file })
    }
}

/// `porthole dashboard`, resolved.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    pub store: StoreLocation,
    pub serve: ServeSettings,
}

impl DashboardSettings {
    pub fn resolve(args: DashboardArgs) -> anyhow::Result<Self> {
        let DashboardArgs { store, serve, web } = args;
        let store = crate::cli::settings::unless_empty_variable(store, "PORTHOLE_STORE");
        let store = StoreLocation::resolve(store.as_deref())?;
        Ok(DashboardSettings { store, serve: ServeSettings::resolve(&serve, web)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> WebArgs {
        WebArgs { token_file: Some("/tmp/t".into()), ..WebArgs::default() }
    }

    #[test]
    fn loopback_by_default_and_exposure_needs_the_flag() {
        let settings = ServeSettings::resolve("127.0.0.1:7878", web()).unwrap();
        assert!(!settings.exposed);
        let error = ServeSettings::resolve("0.0.0.0:7878", web()).unwrap_err().to_string();
        assert!(error.contains("--expose"), "{error}");
        let exposed =
            ServeSettings::resolve("10.0.0.5:7878", WebArgs { expose: true, ..web() }).unwrap();
        assert!(exposed.exposed);
        assert_eq!(exposed.allow_hosts, vec!["10.0.0.5".to_string()]);
        assert!(ServeSettings::resolve("localhost", web()).is_err());
        let bad = WebArgs { allow_host: vec!["a/b".into()], ..web() };
        assert!(ServeSettings::resolve("127.0.0.1:1", bad).is_err());
    }

    #[test]
    fn a_bad_serve_address_names_what_is_wrong() {
        let error = |text: &str| ServeSettings::resolve(text, web()).unwrap_err().to_string();
        assert!(error("127.0.0.1:99999").contains("port 99999 is out of range"));
        assert!(error("::1:80").contains("needs brackets"));
        assert!(error("localhost:80").contains("expected IP:PORT"));
    }
}
