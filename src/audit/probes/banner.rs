//! The NULL probe: connect, send nothing, and read what the service says
//! first. SSH, SMTP, FTP, IMAP, POP3, VNC and MySQL/MariaDB greet their
//! clients, which identifies them without sending a byte.

use super::conn::abbreviate;

/// A service recognised from its greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub service: String,
    pub version: Option<String>,
    /// MySQL/MariaDB: the default authentication plugin.
    pub auth_plugin: Option<String>,
    /// MySQL/MariaDB: the error it sent instead of a greeting (code,
    /// message abbreviated): it refuses this client's address (1129 blocked
    /// after connection errors, 1130 no account for it).
    pub refused: Option<(u16, String)>,
}

/// Identifies a greeting; `None` when the bytes are not one we know.
pub fn identify(bytes: &[u8]) -> Option<Greeting> {
    if bytes.is_empty() {
        return None;
    }
    if let Some(greeting) = mysql_greeting(bytes) {
        return Some(greeting);
    }
    let text = String::from_utf8_lossy(bytes);
    let first_line = text.lines().next().unwrap_or("").trim().to_string();
    let named = |service: &str, version: Option<String>| {
        Some(Greeting { service: service.into(), version, auth_plugin: None, refused: None })
    };
    if let Some(rest) = first_line.strip_prefix("SSH-") {
        return named("ssh", Some(format!("SSH-{rest}")));
    }
    if first_line.starts_with("220") {
        let upper = first_line.to_ascii_uppercase();
        let service = if upper.contains("SMTP") || upper.contains("MAIL") {
            "smtp"
        } else if upper.contains("FTP") {
            "ftp"
        } else {
            "smtp/ftp"
        };
        return named(service, Some(first_line.chars().skip(4).collect()));
    }
    if first_line.starts_with("* OK") {
        return named("imap", None);
    }
    if first_line.starts_with("+OK") {
        return named("pop3", None);
    }
    if first_line.starts_with("RFB ") {
        return named("vnc", Some(first_line));
    }
    named("unknown", Some(format!("banner: {}", abbreviate(bytes, 40))))
}

/// A MySQL protocol 10 handshake: 3-byte length, sequence 0, protocol byte
/// 10, NUL-terminated version, thread id, salt, capabilities…, plugin name.
/// A refusal (`0xff` error packet, "Host … is not allowed") also identifies it.
pub fn mysql_greeting(bytes: &[u8]) -> Option<Greeting> {
    if bytes.len() < 5 || bytes[3] != 0 {
        return None;
    }
    let length = usize::from(bytes[0]) | usize::from(bytes[1]) << 8 | usize::from(bytes[2]) << 16;
    let payload = bytes.get(4..4 + length)?;
    match payload.first()? {
        10 => {
            let version_end = 1 + payload[1..].iter().position(|&b| b == 0)?;
            let version = String::from_utf8_lossy(&payload[1..version_end]).into_owned();
            let service =
                if version.to_ascii_lowercase().contains("mariadb") { "mariadb" } else { "mysql" };
            // The plugin name is the last NUL-terminated string of the packet.
            let auth_plugin = payload
                .strip_suffix(&[0])
                .and_then(|p| p.rsplit(|&b| b == 0).next())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .filter(|name| {
                    name.ends_with("password")
                        || name.contains("socket")
                        || name.contains("ed25519")
                });
            Some(Greeting {
                service: service.into(),
                version: Some(version),
                auth_plugin,
                refused: None,
            })
        }
        // Error packet before any handshake: code, then the message (no
        // SQL state marker at this stage, though one is skipped if sent).
        0xff => {
            let code = u16::from_le_bytes([*payload.get(1)?, *payload.get(2)?]);
            let message = match payload.get(3) {
                Some(b'#') => payload.get(9..),
                _ => payload.get(3..),
            };
            Some(Greeting {
                service: "mysql".into(),
                version: None,
                auth_plugin: None,
                refused: Some((code, abbreviate(message.unwrap_or_default(), 100))),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_instead_of_a_greeting_is_a_refusal_not_a_version() {
        let message = b"Host '10.0.0.5' is blocked because of many connection errors";
        let mut packet = vec![message.len() as u8 + 3, 0, 0, 0, 0xff, 0x69, 0x04];
        packet.extend_from_slice(message);
        let greeting = identify(&packet).expect("a MySQL error packet");
        assert_eq!(greeting.version, None);
        let (code, message) = greeting.refused.expect("refused");
        assert_eq!(code, 1129);
        assert!(message.starts_with("Host '10.0.0.5' is blocked"), "{message}");
    }

    #[test]
    fn recognises_greetings() {
        assert_eq!(identify(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap().service, "ssh");
        assert_eq!(identify(b"220 mail.example ESMTP Postfix\r\n").unwrap().service, "smtp");
        assert_eq!(identify(b"RFB 003.008\n").unwrap().service, "vnc");
        assert!(identify(b"").is_none());
    }

    #[test]
    fn parses_a_mariadb_handshake() {
        let mut payload = vec![10u8];
        payload.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
        payload.extend_from_slice(&[1, 0, 0, 0]); // thread id
        payload.extend_from_slice(b"abcdefgh\0"); // salt part 1
        payload.extend_from_slice(&[0xfe, 0xf7, 8, 2, 0, 0xff, 0x81, 21]); // caps, charset, status…
        payload.extend_from_slice(&[0; 10]);
        payload.extend_from_slice(b"ijklmnopqrst\0"); // salt part 2
        payload.extend_from_slice(b"mysql_native_password\0");
        let mut packet = vec![payload.len() as u8, 0, 0, 0];
        packet.extend_from_slice(&payload);
        let greeting = identify(&packet).unwrap();
        assert_eq!(greeting.service, "mariadb");
        assert_eq!(greeting.version.as_deref(), Some("5.5.5-10.11.6-MariaDB-0+deb12u1"));
        assert_eq!(greeting.auth_plugin.as_deref(), Some("mysql_native_password"));
    }
}
