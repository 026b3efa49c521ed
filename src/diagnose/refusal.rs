//! Services that accept a connection only to refuse it in their first
//! words: a connection limit (Redis `maxclients`, MySQL/MariaDB and
//! PostgreSQL `max_connections`, memcached `-c`) or a host that is not let
//! in. The kernel completed the handshake and the port looks up; only the
//! banner says the client is turned away. [`recognise`] reads the printable
//! prefix of what the service sent (the probe keeps 48 bytes) and names the
//! service, the reason and the setting to change.

/// A refusal a service wrote before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The service, as its users know it.
    pub service: &'static str,
    /// Why it refuses, in words.
    pub reason: &'static str,
    /// What to change, in words.
    pub fix: &'static str,
    /// Whether the refusal is a connection limit (the clients holding the
    /// connections are worth listing).
    pub limit: bool,
}

/// What MySQL/MariaDB say (ERR 1129) to a client host they blocked after
/// too many connection errors; `FLUSH HOSTS` unblocks it.
pub const MYSQL_HOST_BLOCKED: &str = "is blocked because of many connection errors";

/// Substrings of refusals (case-sensitive, as the services write them) and
/// what they mean. MySQL/MariaDB send an error packet as the greeting (a
/// binary header, then errno 1040, 1129 or 1130 and the message); Redis a
/// `-ERR` line; memcached an `ERROR` line; PostgreSQL an `E` message after
/// the startup packet.
const KNOWN: &[(&str, Refusal)] = &[
    (
        "-ERR max number of clients reached",
        Refusal {
            service: "Redis",
            reason: "its maxclients limit is reached",
            fix: "raise maxclients in redis.conf (or CONFIG SET maxclients from a connected client), or close the idle clients that hold the connections (the timeout setting does it)",
            limit: true,
        },
    ),
    (
        "Too many connections",
        Refusal {
            service: "MySQL/MariaDB",
            reason: "max_connections is reached (error 1040)",
            fix: "raise max_connections (SET GLOBAL max_connections, and in the server's configuration), or close idle connections (wait_timeout)",
            limit: true,
        },
    ),
    (
        MYSQL_HOST_BLOCKED,
        Refusal {
            service: "MySQL/MariaDB",
            reason: "this client host is blocked after too many failed connections (error 1129)",
            fix: "raise max_connect_errors if the errors are expected",
            limit: false,
        },
    ),
    (
        "is not allowed to connect to this M",
        Refusal {
            service: "MySQL/MariaDB",
            reason: "no account allows this client's host (error 1130)",
            fix: "create or grant an account for the address the client comes from (for example 'user'@'127.0.0.1'), or connect through the Unix socket as 'user'@'localhost'",
            limit: false,
        },
    ),
    (
        "Too many open connections",
        Refusal {
            service: "memcached",
            reason: "its connection limit is reached",
            fix: "raise memcached's connection limit (-c, or -c in /etc/memcached.conf), or close idle clients",
            limit: true,
        },
    ),
    (
        "too many clients already",
        Refusal {
            service: "PostgreSQL",
            reason: "max_connections is reached",
            fix: "raise max_connections in postgresql.conf (a restart applies it), or pool the clients (PgBouncer)",
            limit: true,
        },
    ),
];

/// The refusal in a banner, if it is one porthole knows.
pub fn recognise(banner: &str) -> Option<Refusal> {
    KNOWN.iter().find(|(words, _)| banner.contains(words)).map(|(_, refusal)| *refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_as_the_probe_keeps_them() {
        // Redis at maxclients, then MariaDB's error packet for errno 1040
        // (length, sequence, 0xff, 1040 little-endian) through `printable`.
        assert_eq!(recognise("-ERR max number of clients reached..").unwrap().service, "Redis");
        let mariadb = recognise("\u{17}....\u{10}.Too many connections").unwrap();
        assert_eq!((mariadb.service, mariadb.limit), ("MySQL/MariaDB", true));
        let host = recognise("K...j.Host '127.0.0.1' is not allowed to connect to this Ma…");
        assert!(!host.unwrap().limit);
        // An ordinary banner or error is not a refusal.
        assert_eq!(recognise("+PONG.."), None);
        assert_eq!(recognise("-ERR unknown command 'GET'"), None);
        assert_eq!(recognise("SSH-2.0-OpenSSH_9.2p1"), None);
    }
}
