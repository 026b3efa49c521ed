//! `limit_data`: lets `bytes` bytes through on this link, then closes the
//! connection (a peer that dies mid-stream).

use std::time::Instant;

use super::{Fault, Item, Rng};

pub(crate) struct LimitData {
    remaining: u64,
    /// Set when the limit is 0 so the link closes without waiting for data.
    close_at: Option<Instant>,
    closed: bool,
}

impl LimitData {
    pub(crate) fn new(bytes: i64, now: Instant) -> Self {
        let remaining = u64::try_from(bytes).unwrap_or(0);
        LimitData {
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
}
