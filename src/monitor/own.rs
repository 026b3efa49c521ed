//! The recorder's own connections: the passive audit's probes of a new
//! listener, webhook posts, a PostgreSQL store on this machine. They are no
//! clients of anything, so the recorder neither records nor counts them.
//!
//! In eBPF mode every one of them names the recorder's pid as its client.
//! In netlink mode only a connection alive at a scan is named; a shorter one
//! closes with a uid and a 4-tuple but no pid. The threads that connect say
//! so here first: a webhook post registers its client address once it is
//! connected; an audit probe, which connects inside code that does not hand
//! its socket out, registers the address it probes for as long as the probe
//! runs. A client end with no process that closed while one of those was
//! registered (or up to half a second after), from that address (or to that
//! server, with the recorder's uid) is the recorder's own. A short client of
//! the same user to the probed address, closing within that window, is
//! taken for a probe too: the probe's socket is not handed out, so its port
//! cannot be known.
//!
//! The dashboard's minute audit (`monitor --serve`) probes every listener
//! for seconds; claiming every short client of each of them meanwhile would
//! drop real connections, so its probes are not registered, and in netlink
//! mode they are recorded like any short client.
//!
//! # Platform specific behavior
//! Destroy notifications carry inode 0 and no pid, so nothing on the socket
//! itself tells whose it was.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::monitor::UnixMicros;

/// How long after its window a registration still matches a close: the
/// kernel sends destroy notices from a work queue and the recorder reads
/// them on its next wake-up, and closes wait a little to be paired.
const LATE_CLOSE: i64 = 500_000;
/// Registrations older than this (after their end) are dropped.
const KEEP: i64 = 60_000_000;

/// What the recorder's own threads are connecting to, shared between them
/// and the recorder (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct OwnConnections {
    inner: Arc<Mutex<Vec<Registration>>>,
}

#[derive(Debug, Clone, Copy)]
struct Registration {
    /// The client address when known (a webhook post), else the server
    /// address probed (an audit probe).
    address: Endpoint,
    from: UnixMicros,
    /// `None` while the connection may still be made.
    until: Option<UnixMicros>,
    /// Identifies the registration for [`OwnConnections::end`].
    id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Client(SocketAddr),
    Server(SocketAddr),
}

/// A registration that ends when dropped.
#[derive(Debug)]
pub struct Registered {
    own: OwnConnections,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.own.end(self.id, crate::monitor::unix_micros());
    }
}

impl OwnConnections {
    /// The recorder's process is about to connect to `server` (and will
    /// have closed that connection when the returned guard is dropped).
    pub fn probing(&self, server: SocketAddr) -> Registered {
        self.register(Endpoint::Server(canonical(server)), None)
    }

    /// The recorder's process connected from `client`; the connection is
    /// closed when the guard is dropped.
    pub fn connected_from(&self, client: SocketAddr) -> Registered {
        self.register(Endpoint::Client(canonical(client)), None)
    }

    fn register(&self, address: Endpoint, until: Option<UnixMicros>) -> Registered {
        let now = crate::monitor::unix_micros();
        let mut registrations = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registrations.retain(|r| r.until.is_none_or(|until| until.saturating_add(KEEP) >= now));
        let id = registrations.iter().map(|r| r.id + 1).max().unwrap_or(0);
        registrations.push(Registration { address, from: now, until, id });
        Registered { own: self.clone(), id }
    }

    fn end(&self, id: u64, at: UnixMicros) {
        let mut registrations = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(registration) = registrations.iter_mut().find(|r| r.id == id) {
            registration.until = Some(at);
        }
    }

    /// Whether a client end of the recorder's namespace that closed at
    /// `closed_at`, from `client` to `server`, with socket uid `uid`, and
    /// that no process was seen holding, was the recorder's own.
    pub fn is_own_client(
        &self,
        client: SocketAddr,
        server: SocketAddr,
        uid: u32,
        closed_at: UnixMicros,
    ) -> bool {
        let (client, server) = (canonical(client), canonical(server));
        let registrations = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        registrations.iter().any(|registration| {
            let during = closed_at >= registration.from
                && registration.until.is_none_or(|until| closed_at <= until + LATE_CLOSE);
            during
                && match registration.address {
                    Endpoint::Client(address) => address == client,
                    Endpoint::Server(address) => {
                        address == server && uid == rustix::process::geteuid().as_raw()
                    }
                }
        })
    }
}

fn canonical(address: SocketAddr) -> SocketAddr {
    crate::monitor::connections::canonical(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_probe_claims_closes_to_its_server_while_it_runs_and_shortly_after() {
        let own = OwnConnections::default();
        let uid = rustix::process::geteuid().as_raw();
        let before = crate::monitor::unix_micros();
        let probe = own.probing(at("127.0.0.1:5432"));
        let during = crate::monitor::unix_micros();
        assert!(own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5432"), uid, during));
        // Another server, another uid, or a close before the probe began.
        assert!(!own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5433"), uid, during));
        assert!(!own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5432"), uid + 1, during));
        assert!(!own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5432"), uid, before - 1));
        drop(probe);
        let ended = crate::monitor::unix_micros();
        assert!(own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5432"), uid, ended + 1));
        let late = ended + LATE_CLOSE + 1_000;
        assert!(!own.is_own_client(at("127.0.0.1:40000"), at("127.0.0.1:5432"), uid, late));
    }

    #[test]
    fn a_post_claims_its_client_address_only() {
        let own = OwnConnections::default();
        let _post = own.connected_from(at("[::ffff:127.0.0.1]:41000"));
        let now = crate::monitor::unix_micros();
        assert!(own.is_own_client(at("127.0.0.1:41000"), at("127.0.0.1:80"), 12345, now));
        assert!(!own.is_own_client(at("127.0.0.1:41001"), at("127.0.0.1:80"), 12345, now));
    }
}
