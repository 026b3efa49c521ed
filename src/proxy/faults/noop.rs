//! `noop`: passes everything through unchanged (useful to test the API, and
//! what a toxic becomes on a link where its toxicity draw failed).

use super::{Fault, Item, Rng};

pub(crate) struct Noop;

impl Fault for Noop {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        out.push(item);
    }
}
