//! `slow_close`: data passes untouched, but when the source closes, the close
//! reaches the destination only `delay` milliseconds later.

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
            other => out.push(other),
        }
    }
}
