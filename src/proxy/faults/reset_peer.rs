//! `reset_peer`: the first chunk of data triggers a TCP reset (RST) after
//! `timeout` milliseconds; that chunk and everything after it is dropped.
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
            Item::Data { at, .. } => {
                self.fired = true;
                out.push(Item::Close { at: at + self.timeout, reset: true });
            }
            other => out.push(other),
        }
    }
}
