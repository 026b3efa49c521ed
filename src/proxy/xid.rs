//! Request ids in the format Toxiproxy puts in `X-Toxiproxy-Request-Id`: an
//! [xid](https://github.com/rs/xid), 12 bytes written as 20 characters of
//! base32hex (`0-9a-v`), lower case.
//!
//! The 12 bytes are a big-endian Unix time in seconds (4), a machine id (3),
//! the process id (2) and a counter (3) that starts at a random value. Ids
//! made by one process therefore sort by time and never repeat within a
//! second unless 16 million are made in it. Clients only log the id, but
//! some compare its length and alphabet, so the layout is kept exactly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The base32hex alphabet xid uses.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The per-process part of every id: machine id, pid, and the counter's
/// random start.
struct Seed {
    machine: [u8; 3],
    process: [u8; 2],
    counter: AtomicU32,
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        // xid hashes the machine id; any stable per-host value does, and
        // the hostname is one that needs no extra permissions.
        let host = std::fs::read_to_string("/etc/machine-id")
            .unwrap_or_else(|_| rustix::system::uname().nodename().to_string_lossy().into_owned());
        let hash = fnv1a(host.trim().as_bytes());
        let pid = std::process::id();
        let start = fnv1a(&now_nanos().to_le_bytes()) ^ pid;
        Seed {
            machine: [(hash >> 16) as u8, (hash >> 8) as u8, hash as u8],
            process: [(pid >> 8) as u8, pid as u8],
            counter: AtomicU32::new(start & 0x00ff_ffff),
        }
    })
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos())
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

/// A new id, e.g. `d4m2vb8k5ugl2tq5eqd0`.
pub fn new_id() -> String {
    let seed = seed();
    let seconds =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let counter = seed.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let mut raw = [0u8; 12];
    raw[..4].copy_from_slice(&(seconds as u32).to_be_bytes());
    raw[4..7].copy_from_slice(&seed.machine);
    raw[7..9].copy_from_slice(&seed.process);
    raw[9..].copy_from_slice(&counter.to_be_bytes()[1..]);
    encode(&raw)
}

/// 96 bits as 20 base32hex digits, 5 bits at a time from the most
/// significant end (the last digit carries 1 bit of padding, as in xid).
fn encode(raw: &[u8; 12]) -> String {
    let value = raw.iter().fold(0u128, |value, byte| (value << 8) | u128::from(*byte));
    // 20 digits cover 100 bits: shift left by 4 so the padding is at the end.
    let value = value << 4;
    (0..20).rev().map(|index| ALPHABET[((value >> (index * 5)) & 0x1f) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the xid README: bytes and their 20-character form.
    #[test]
    fn encodes_like_xid() {
        #[rustfmt::skip]
        let raw = [
            0x4d, 0x88, 0xe1, 0x5b, // time
            0x60, 0xf4, 0x86,       // machine
            0xe4, 0x28,             // pid
            0x41, 0x2d, 0xc9,       // counter
        ];
        assert_eq!(encode(&raw), "9m4e2mr0ui3e8a215n4g");
    }

    #[test]
    fn ids_are_twenty_base32hex_characters_and_distinct() {
        let first = new_id();
        let second = new_id();
        assert_eq!(first.len(), 20);
        assert!(first.bytes().all(|byte| ALPHABET.contains(&byte)), "{first}");
        assert_ne!(first, second);
    }
}
