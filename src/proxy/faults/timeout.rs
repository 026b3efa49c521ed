//! `timeout`: the link goes silent. All data is dropped; after `timeout`
//! milliseconds without input the connection is closed, or never when the
//! timeout is 0 (a hung peer). When the source ends its stream the
//! connection is closed at once, as in Toxiproxy.
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
            // The source is done sending: close the connection, as
            // Toxiproxy's timeout toxic closes its link when its input ends.
            // Swallowing the end of stream instead would keep the other side
            // open for good with `timeout` 0: the client is gone, the server
            // never hears of it, and the proxy holds both sockets forever.
            Item::Eof { at } => out.push(Item::Close { at, reset: false }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn drops_data_restarts_the_countdown_and_closes_at_the_end_of_stream() {
        let now = Instant::now();
        let later = now + Duration::from_millis(40);
        for timeout in [Duration::ZERO, Duration::from_millis(100)] {
            let mut fault = Timeout::new(timeout, now);
            let mut out = Vec::new();
            let bytes = Bytes::from_static(b"dropped");
            fault.apply(Item::Data { bytes, at: later }, &mut Rng::new(1), &mut out);
            assert_eq!(out, vec![]);
            let expected = (!timeout.is_zero()).then(|| later + timeout);
            assert_eq!(fault.deadline(), expected);
            fault.apply(Item::Eof { at: later }, &mut Rng::new(1), &mut out);
            assert_eq!(out, vec![Item::Close { at: later, reset: false }], "{timeout:?}");
        }
    }
}
