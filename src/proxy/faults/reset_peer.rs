//! `reset_peer`: the first chunk of data (or the end of the stream, if no
//! data came first) triggers a TCP reset (RST) after `timeout`
//! milliseconds; that chunk and everything after it is dropped.
//!
//! The link applies `SO_LINGER 0` only when this fault actually fires, so a
//! `reset_peer` toxic whose toxicity draw failed leaves close behaviour alone
//! (Toxiproxy sets the linger on every link as soon as the toxic exists).
//! See: <https://github.com/Shopify/toxiproxy/issues/603>

use std::time::Duration;

use super::{Fault, Item, Rng};

pub(crate) struct ResetPeer {
    timeout: Duration,
    fired: bool,
}

impl ResetPeer {
    pub(crate) fn new(timeout: Duration) -> Self {
        ResetPeer { timeout, fired: false }
    }
}

impl Fault for ResetPeer {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        if self.fired {
            return;
        }
        match item {
            // The end of the stream counts as the first chunk, as in
            // Toxiproxy (its toxic fires on anything read from its input):
            // a client that connects and closes without sending still gets
            // the reset `timeout` later, instead of a clean close. So does a
            // close from a toxic before this one, or a read error: either
            // ends this toxic's input in Toxiproxy.
            Item::Data { at, .. } | Item::Eof { at } | Item::Close { at, .. } => {
                self.fired = true;
                out.push(Item::Close { at: at + self.timeout, reset: true });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_first_chunk_or_the_end_of_stream_schedules_one_reset() {
        let now = Instant::now();
        let timeout = Duration::from_millis(30);
        let first = [
            Item::Data { bytes: Bytes::from_static(b"x"), at: now },
            Item::Eof { at: now },
            Item::Close { at: now, reset: false },
        ];
        for item in first {
            let mut fault = ResetPeer::new(timeout);
            let mut out = Vec::new();
            fault.apply(item, &mut Rng::new(1), &mut out);
            fault.apply(
                Item::Data { bytes: Bytes::from_static(b"y"), at: now },
                &mut Rng::new(1),
                &mut out,
            );
            assert_eq!(out, vec![Item::Close { at: now + timeout, reset: true }]);
        }
    }
}
