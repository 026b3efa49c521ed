//! `limit_data`: lets `bytes` bytes through on this link, then closes the
//! connection (a peer that dies mid-stream).

use std::time::Instant;

use super::{Fault, Item, Rng};

pub(crate) struct LimitData {
    limit: u64,
    remaining: u64,
    /// Set when the limit is 0 so the link closes without waiting for data.
    close_at: Option<Instant>,
    closed: bool,
}

impl LimitData {
    pub(crate) fn new(bytes: i64, now: Instant) -> Self {
        let remaining = u64::try_from(bytes).unwrap_or(0);
        LimitData {
            limit: remaining,
            remaining,
            close_at: (remaining == 0).then_some(now),
            closed: false,
        }
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

    fn deadline(&self) -> Option<Instant> {
        self.close_at.filter(|_| !self.closed)
    }

    fn progress(&self) -> u64 {
        self.limit - self.remaining
    }

    fn resume(&mut self, progress: u64, now: Instant) {
        self.remaining = self.limit.saturating_sub(progress);
        if self.remaining == 0 {
            self.close_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn truncates_then_closes_and_resumes_after_an_update() {
        let now = Instant::now();
        let mut fault = LimitData::new(10, now);
        let mut out = Vec::new();
        let bytes = Bytes::from_static(b"123456");
        fault.apply(Item::Data { bytes, at: now }, &mut Rng::new(1), &mut out);
        assert_eq!(out.len(), 1);
        // The toxic is updated to 8 bytes: 6 already passed, 2 remain.
        let mut updated = LimitData::new(8, now);
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
}
