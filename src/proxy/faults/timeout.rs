//! `timeout`: the link goes silent. All data is dropped; after `timeout`
//! milliseconds without input the connection is closed, or never when the
//! timeout is 0 (a hung peer). When the source ends its stream the
//! connection is closed at once, as in Toxiproxy.
//!
//! As in Toxiproxy, every dropped chunk restarts the countdown. Once bytes
//! were dropped the stream is corrupt, so removing the toxic closes the
//! connection instead of letting later bytes through; an updated version
//! keeps the count, and an update whose toxicity draw leaves the link
//! without the toxic counts as a removal. The close at the end
//! of the countdown goes through the toxics after this one (a `slow_close`
//! added later holds it back), as Toxiproxy's closed stage ends the next
//! one's input.

use std::time::{Duration, Instant};

use super::{Fault, Item, Rng};

pub(crate) struct Timeout {
    timeout: Duration,
    /// When the idle countdown ends; `None` for "hang forever".
    deadline: Option<Instant>,
    dropped_bytes: u64,
    /// The countdown ran out and the close went out: nothing follows it.
    expired: bool,
}

impl Timeout {
    pub(crate) fn new(timeout: Duration, now: Instant) -> Self {
        Timeout {
            timeout,
            deadline: (!timeout.is_zero()).then(|| now + timeout),
            dropped_bytes: 0,
            expired: false,
        }
    }
}

impl Fault for Timeout {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        if self.expired {
            return;
        }
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

    fn expire(&mut self) -> Option<Item> {
        let at = self.deadline.take()?;
        self.expired = true;
        Some(Item::Close { at, reset: false })
    }

    fn closes_on_removal(&self) -> bool {
        self.dropped_bytes > 0
    }

    /// The bytes dropped so far: an updated version still counts them, so
    /// that removing it later closes a stream its first version corrupted.
    fn progress(&self) -> u64 {
        self.dropped_bytes
    }

    fn resume(&mut self, progress: u64, _now: Instant) {
        self.dropped_bytes = progress;
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

    #[test]
    fn the_countdown_ends_in_one_close_and_nothing_after() {
        let now = Instant::now();
        let mut fault = Timeout::new(Duration::from_millis(100), now);
        let due = now + Duration::from_millis(100);
        assert_eq!(fault.expire(), Some(Item::Close { at: due, reset: false }));
        assert_eq!((fault.deadline(), fault.expire()), (None, None));
        let mut out = Vec::new();
        fault.apply(Item::Eof { at: due }, &mut Rng::new(1), &mut out);
        assert_eq!(out, vec![]);
        // Hanging for good has no countdown to end.
        assert_eq!(Timeout::new(Duration::ZERO, now).expire(), None);
    }
}
