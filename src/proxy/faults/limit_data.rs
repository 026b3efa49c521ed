//! `limit_data`: lets `bytes` bytes through on this link, then closes the
//! connection (a peer that dies mid-stream).

use std::time::Instant;

use super::{Fault, Item, Rng};

/// Passes the first `limit` bytes of a link, then closes the connection.
///
/// A limit of 0, or an update that lowers the limit below what already
/// passed, closes the connection when the next data arrives, not at once:
/// Toxiproxy's toxic acts only on what it reads, so the other direction
/// (a server's greeting) still flows until this one carries something.
pub(crate) struct LimitData {
    limit: u64,
    remaining: u64,
    closed: bool,
}

impl LimitData {
    pub(crate) fn new(bytes: i64) -> Self {
        let remaining = u64::try_from(bytes).unwrap_or(0);
        LimitData { limit: remaining, remaining, closed: false }
    }
}

impl Fault for LimitData {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        if self.closed {
            return;
        }
        match item {
            Item::Data { mut bytes, at } => {
                let allowed = usize::try_from(self.remaining).unwrap_or(usize::MAX);
                if bytes.len() > allowed {
                    bytes.truncate(allowed);
                }
                self.remaining -= bytes.len() as u64;
                if !bytes.is_empty() {
                    out.push(Item::Data { bytes, at });
                }
                if self.remaining == 0 {
                    self.closed = true;
                    out.push(Item::Close { at, reset: false });
                }
            }
            other => out.push(other),
        }
    }

    fn progress(&self) -> u64 {
        self.limit - self.remaining
    }

    fn resume(&mut self, progress: u64, _now: Instant) {
        self.remaining = self.limit.saturating_sub(progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn truncates_then_closes_and_resumes_after_an_update() {
        let now = Instant::now();
        let mut fault = LimitData::new(10);
        let mut out = Vec::new();
        let bytes = Bytes::from_static(b"123456");
        fault.apply(Item::Data { bytes, at: now }, &mut Rng::new(1), &mut out);
        assert_eq!(out.len(), 1);
        // The toxic is updated to 8 bytes: 6 already passed, 2 remain.
        let mut updated = LimitData::new(8);
        updated.resume(fault.progress(), now);
        let mut out = Vec::new();
        let bytes = Bytes::from_static(b"abcdef");
        updated.apply(Item::Data { bytes, at: now }, &mut Rng::new(1), &mut out);
        assert_eq!(
            out,
            vec![
                Item::Data { bytes: Bytes::from_static(b"ab"), at: now },
                Item::Close { at: now, reset: false },
            ]
        );
    }

    #[test]
    fn a_limit_already_reached_closes_on_the_next_data_not_before() {
        let now = Instant::now();
        let later = now + std::time::Duration::from_millis(5);
        let mut zero = LimitData::new(0);
        assert_eq!(zero.deadline(), None, "nothing happens before data comes");
        let mut lowered = LimitData::new(4);
        lowered.resume(6, now);
        assert_eq!(lowered.deadline(), None);
        for fault in [&mut zero, &mut lowered] {
            let mut out = Vec::new();
            let bytes = Bytes::from_static(b"xyz");
            fault.apply(Item::Data { bytes, at: later }, &mut Rng::new(1), &mut out);
            assert_eq!(out, vec![Item::Close { at: later, reset: false }]);
        }
    }
}
