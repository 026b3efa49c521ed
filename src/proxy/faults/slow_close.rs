//! `slow_close`: data passes untouched, but when the source closes, the close
//! reaches the destination only `delay` milliseconds later.
//!
//! Any end that reaches the toxic is held back: the source's end of stream,
//! a read error, and a close decided by a toxic before it in the chain
//! (`limit_data`, `timeout`, `reset_peer`), since in Toxiproxy each of them
//! ends this toxic's input, and the toxic waits `delay` before it passes
//! the end on.

use std::time::Duration;

use super::{Fault, Item, Rng};

pub(crate) struct SlowClose {
    delay: Duration,
}

impl SlowClose {
    pub(crate) fn new(delay: Duration) -> Self {
        SlowClose { delay }
    }
}

impl Fault for SlowClose {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        match item {
            Item::Eof { at } => out.push(Item::Eof { at: at + self.delay }),
            Item::Close { at, reset } => out.push(Item::Close { at: at + self.delay, reset }),
            data @ Item::Data { .. } => out.push(data),
        }
    }

    fn delays(&self) -> bool {
        !self.delay.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use bytes::Bytes;

    #[test]
    fn holds_back_every_kind_of_end_but_not_data() {
        let now = Instant::now();
        let delay = Duration::from_millis(300);
        let mut fault = SlowClose::new(delay);
        let mut out = Vec::new();
        let data = Item::Data { bytes: Bytes::from_static(b"x"), at: now };
        for item in [data.clone(), Item::Eof { at: now }, Item::Close { at: now, reset: true }] {
            fault.apply(item, &mut Rng::new(1), &mut out);
        }
        assert_eq!(
            out,
            vec![data, Item::Eof { at: now + delay }, Item::Close { at: now + delay, reset: true },]
        );
    }
}
