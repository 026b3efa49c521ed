//! How the model's enums and lists are spelled in the store, the same in
//! SQLite and PostgreSQL. Text where people may read the tables by hand
//! (protocols, loss kinds, capture modes), small integers where a column
//! is repeated in every connection row (the end of a connection).

use std::borrow::Cow;

use crate::model::monitor::{CaptureMode, ConnectionEnd, ListenerChange, LossKind};
use crate::model::os_text;

/// What a NUL of a Unix socket path is written as in PostgreSQL, whose text
/// cannot hold NUL (abstract names often do: `@name\0\0…`, padded to the
/// address length). A private-use code point next to the block
/// [`os_text`] reserves for bytes; a path that really has this character
/// keeps it as its bytes (see [`path_to_db`]).
const NUL_IN_TEXT: char = '\u{10FF00}';

/// A Unix socket path as PostgreSQL text: every NUL as U+10FF00, a real
/// U+10FF00 as the bytes of its UTF-8 form, so that
/// [`path_from_db`] gives back exactly the path.
pub fn path_to_db(path: &str) -> Cow<'_, str> {
    if !path.contains(['\0', NUL_IN_TEXT]) {
        return Cow::Borrowed(path);
    }
    let mut text = String::with_capacity(path.len() + 8);
    for ch in path.chars() {
        match ch {
            '\0' => text.push(NUL_IN_TEXT),
            NUL_IN_TEXT => {
                text.push_str(&os_text::as_raw_bytes(ch.encode_utf8(&mut [0u8; 4]).as_bytes()))
            }
            ch => text.push(ch),
        }
    }
    Cow::Owned(text)
}

/// The path [`path_to_db`] wrote.
pub fn path_from_db(text: String) -> String {
    if !text.contains(NUL_IN_TEXT) && !os_text::has_raw_bytes(&text) {
        return text;
    }
    let text = text.replace(NUL_IN_TEXT, "\0");
    os_text::from_bytes(&os_text::to_bytes(&text))
}
use crate::model::{Family, Protocol, Scope};

pub fn change_to_db(change: ListenerChange) -> i64 {
    match change {
        ListenerChange::Disappeared => 0,
        ListenerChange::Appeared => 1,
    }
}

pub fn change_from_db(value: i64) -> ListenerChange {
    if value == 0 {
        ListenerChange::Disappeared
    } else {
        ListenerChange::Appeared
    }
}

pub fn protocol_from_db(text: &str) -> Protocol {
    match text {
        "udp" => Protocol::Udp,
        "unix" => Protocol::Unix,
        _ => Protocol::Tcp,
    }
}

pub fn family_from_db(text: &str) -> Family {
    match text {
        "ipv6" => Family::Ipv6,
        "unix" => Family::Unix,
        _ => Family::Ipv4,
    }
}

pub fn scope_from_db(text: &str) -> Scope {
    match text {
        "loopback" => Scope::Loopback,
        "wildcard" => Scope::Wildcard,
        "local" => Scope::Local,
        _ => Scope::Specific,
    }
}

pub fn loss_to_db(kind: LossKind) -> &'static str {
    crate::model::history::loss_kind_name(kind)
}

pub fn loss_from_db(text: &str) -> LossKind {
    match text {
        "netlink_overflow" => LossKind::NetlinkOverflow,
        "ring_buffer_full" => LossKind::RingBufferFull,
        "unmatched_cookie" => LossKind::UnmatchedCookie,
        "unknown_process" => LossKind::UnknownProcess,
        "program_skipped" => LossKind::ProgramSkipped,
        "unseen_listener" => LossKind::UnseenListener,
        _ => LossKind::StoreBacklog,
    }
}

pub fn mode_to_db(mode: CaptureMode) -> &'static str {
    crate::model::history::capture_mode_name(mode)
}

pub fn mode_from_db(text: &str) -> CaptureMode {
    if text == "ebpf" {
        CaptureMode::Ebpf
    } else {
        CaptureMode::Netlink
    }
}

/// Bit 2 of a connection's `flags`: the start time is known (else `at` is
/// the end time).
const START_KNOWN: i64 = 4;

/// A connection's `flags` column: how it ended (bits 0-1) and whether its
/// start is known (bit 2). One small integer instead of two columns keeps
/// the row short.
pub fn connection_flags(end: ConnectionEnd, start_known: bool) -> i64 {
    let end = match end {
        ConnectionEnd::Closed => 0,
        ConnectionEnd::Reset => 1,
        ConnectionEnd::Unknown => 2,
        ConnectionEnd::TimedOut => 3,
    };
    end | if start_known { START_KNOWN } else { 0 }
}

/// The end and start-known bit of a `flags` value.
pub fn connection_from_flags(flags: i64) -> (ConnectionEnd, bool) {
    let end = match flags & 3 {
        0 => ConnectionEnd::Closed,
        1 => ConnectionEnd::Reset,
        2 => ConnectionEnd::Unknown,
        _ => ConnectionEnd::TimedOut,
    };
    (end, flags & START_KNOWN != 0)
}

/// Command-line arguments joined by NUL, as `/proc/PID/cmdline` keeps
/// them, so arguments with spaces survive the round trip.
pub fn cmdline_to_db(arguments: &[String]) -> String {
    arguments.join("\0")
}

pub fn cmdline_from_db(text: &str) -> Vec<String> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split('\0').map(str::to_string).collect()
    }
}

/// Socket cookies and namespace inodes are `u64`; both databases store
/// signed 64-bit integers, so the bits are kept as they are.
pub fn u64_to_db(value: u64) -> i64 {
    value as i64
}

/// The `netns` of an hourly total from schema 3 on: the namespace's inode,
/// 0 when the recorder could not read it (the column is part of the key,
/// which takes no NULL).
pub fn rollup_namespace_to_db(net_namespace: Option<u64>) -> i64 {
    net_namespace.map_or(0, u64_to_db)
}

/// The namespace of an hourly total: `None` for 0 (not known) and for the
/// totals of schema 1 and 2 (read as NULL).
pub fn rollup_namespace_from_db(netns: Option<i64>) -> Option<u64> {
    netns.filter(|&netns| netns != 0).map(u64_from_db)
}

pub fn u64_from_db(value: i64) -> u64 {
    value as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for end in [
            ConnectionEnd::Closed,
            ConnectionEnd::Reset,
            ConnectionEnd::TimedOut,
            ConnectionEnd::Unknown,
        ] {
            for known in [false, true] {
                assert_eq!(connection_from_flags(connection_flags(end, known)), (end, known));
            }
        }
        for kind in [
            LossKind::NetlinkOverflow,
            LossKind::RingBufferFull,
            LossKind::UnmatchedCookie,
            LossKind::UnknownProcess,
            LossKind::StoreBacklog,
            LossKind::ProgramSkipped,
            LossKind::UnseenListener,
        ] {
            assert_eq!(loss_from_db(loss_to_db(kind)), kind);
        }
        let arguments = vec!["python3".to_string(), "-c".into(), "print('a b')".into()];
        assert_eq!(cmdline_from_db(&cmdline_to_db(&arguments)), arguments);
        assert!(cmdline_from_db("").is_empty());
        assert_eq!(u64_from_db(u64_to_db(u64::MAX)), u64::MAX);
    }

    /// Unix socket paths come back byte for byte, with no NUL in the text
    /// PostgreSQL is given: abstract names padded with NULs, bytes that are
    /// not UTF-8, and a path that really has the character NUL is written
    /// as.
    #[test]
    fn unix_paths_round_trip_without_nul() {
        for bytes in [
            &b"/run/app.sock"[..],
            b"@srv\0\0\0",
            b"@\0hidden\xff",
            b"/tmp/\xf4\x8f\xbc\x80\0x",
            b"/tmp/s\xfe\x1b[2J.sock",
        ] {
            let path = os_text::from_bytes(bytes);
            let stored = path_to_db(&path);
            assert!(!stored.contains('\0'), "{bytes:?} stored as {stored:?}");
            let read = path_from_db(stored.into_owned());
            assert_eq!(read, path, "{bytes:?}");
            assert_eq!(&*os_text::to_bytes(&read), bytes);
        }
        assert!(matches!(path_to_db("/run/app.sock"), Cow::Borrowed(_)));
    }
}
