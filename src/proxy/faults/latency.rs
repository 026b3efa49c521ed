//! `latency`: every chunk is delayed by `latency ± jitter` milliseconds from
//! the moment it arrived, in order.
//!
//! The delay counts from the arrival stamp, not from when the previous chunk
//! left, so a stream is shifted in time rather than slowed down (Toxiproxy
//! keeps reading while chunks wait). Several latency toxics add up because
//! each one shifts the stamp it passes on.

use std::time::{Duration, Instant};

use super::{Fault, Item, Rng};

pub(crate) struct Latency {
    latency: Duration,
    jitter: Duration,
    /// Due time of the last item emitted: jitter may draw a shorter delay
    /// for a later chunk, but bytes must not overtake each other.
    last: Option<Instant>,
}

impl Latency {
    pub(crate) fn new(latency: Duration, jitter: Duration) -> Self {
        Latency { latency, jitter, last: None }
    }

    fn delay(&self, rng: &mut Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let jitter = i64::try_from(self.jitter.as_micros()).unwrap_or(i64::MAX / 2);
        let base = i64::try_from(self.latency.as_micros()).unwrap_or(i64::MAX / 2);
        let micros = base.saturating_add(rng.between(-jitter, jitter)).max(0);
        Duration::from_micros(micros as u64)
    }
}

impl Fault for Latency {
    fn apply(&mut self, item: Item, rng: &mut Rng, out: &mut Vec<Item>) {
        let due = match &item {
            // An end of stream follows the data before it without a delay
            // of its own, as in Toxiproxy.
            Item::Eof { at } | Item::Close { at, .. } => *at,
            Item::Data { at, .. } => *at + self.delay(rng),
        };
        let due = self.last.map_or(due, |last| due.max(last));
        self.last = Some(due);
        out.push(item.with_at(due));
    }

    fn delays(&self) -> bool {
        !self.latency.is_zero() || !self.jitter.is_zero()
    }

    fn reads_ahead(&self) -> bool {
        true
    }

    fn min_delay(&self) -> Duration {
        self.latency.saturating_sub(self.jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn delays_each_chunk_from_its_arrival_and_keeps_order() {
        let start = Instant::now();
        let mut fault = Latency::new(Duration::from_millis(100), Duration::from_millis(50));
        let mut rng = Rng::new(1);
        let mut out = Vec::new();
        for offset in 0..100u64 {
            let at = start + Duration::from_millis(offset);
            let bytes = Bytes::from_static(b"x");
            fault.apply(Item::Data { bytes, at }, &mut rng, &mut out);
        }
        let mut previous = start;
        for (offset, item) in out.iter().enumerate() {
            let arrival = start + Duration::from_millis(offset as u64);
            assert!(item.at() >= arrival + Duration::from_millis(50));
            assert!(item.at() >= previous, "out of order");
            previous = item.at();
        }
    }
}
