//! `timeout`: the link goes silent. All data is dropped; after `timeout`
//! milliseconds without input the connection is closed, or never when the
//! timeout is 0 (a hung peer).
//!
//! As in Toxiproxy, every dropped chunk restarts the countdown. Once bytes
//! were dropped the stream is corrupt, so removing the toxic closes the
//! connection instead of letting later bytes through.

use std::time::{Duration, Instant};

use super::{Fault, Item, Rng};

pub(crate) struct Timeout {
    timeout: Duration,
    /// When the idle countdown ends; `None` for "hang forever".
    deadline: Option<Instant>,
    dropped_bytes: u64,
}

impl Timeout {
    pub(crate) fn new(timeout: Duration, now: Instant) -> Self {
        Timeout { timeout, deadline: (!timeout.is_zero()).then(|| now + timeout), dropped_bytes: 0 }
    }
}

impl Fault for Timeout {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        match item {
            Item::Data { bytes, at } => {
                self.dropped_bytes += bytes.len() as u64;
                if !self.timeout.is_zero() {
                    self.deadline = Some(at + self.timeout);
                }
            }
            // The end of stream is swallowed too: the peer sees a silent,
            // hung connection, never a clean close.
            Item::Eof { .. } => {}
            close @ Item::Close { .. } => out.push(close),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn closes_on_removal(&self) -> bool {
        self.dropped_bytes > 0
    }
}
