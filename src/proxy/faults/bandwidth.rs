//! `bandwidth`: limits a link to `rate` KB/s (1 KB = 1000 bytes).
//!
//! Each piece leaves when the link would have finished sending it at that
//! rate; chunks larger than 100 ms worth of bytes are split so a big read
//! does not arrive as one late burst. `rate <= 0` means unlimited.

use std::time::{Duration, Instant};

use super::{Fault, Item, Rng};

pub(crate) struct Bandwidth {
    /// Bytes per second; 0 when unlimited.
    bytes_per_second: u64,
    /// When the link finishes sending what it has accepted so far.
    busy_until: Option<Instant>,
}

impl Bandwidth {
    pub(crate) fn new(rate_kb: i64) -> Self {
        Bandwidth {
            bytes_per_second: u64::try_from(rate_kb).unwrap_or(0).saturating_mul(1000),
            busy_until: None,
        }
    }
}

impl Fault for Bandwidth {
    fn apply(&mut self, item: Item, _rng: &mut Rng, out: &mut Vec<Item>) {
        if self.bytes_per_second == 0 {
            out.push(item);
            return;
        }
        let Item::Data { bytes, at } = item else {
            let due = self.busy_until.map_or(item.at(), |busy| busy.max(item.at()));
            out.push(item.with_at(due));
            return;
        };
        let slice = usize::try_from(self.bytes_per_second / 10).unwrap_or(usize::MAX).max(1);
        let mut start = self.busy_until.map_or(at, |busy| busy.max(at));
        let mut rest = bytes;
        while !rest.is_empty() {
            let piece = rest.split_to(slice.min(rest.len()));
            let nanos = piece.len() as u128 * 1_000_000_000 / u128::from(self.bytes_per_second);
            start += Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
            out.push(Item::Data { bytes: piece, at: start });
        }
        self.busy_until = Some(start);
    }

    fn delays(&self) -> bool {
        self.bytes_per_second > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn spreads_bytes_at_the_rate_and_splits_large_chunks() {
        let start = Instant::now();
        // 10 KB/s: 10,000 bytes take one second, in 1,000-byte slices.
        let mut fault = Bandwidth::new(10);
        let mut out = Vec::new();
        let bytes = Bytes::from(vec![0u8; 10_000]);
        fault.apply(Item::Data { bytes, at: start }, &mut Rng::new(1), &mut out);
        assert_eq!(out.len(), 10);
        let last = out.last().expect("ten slices").at();
        assert_eq!(last - start, Duration::from_secs(1));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let start = Instant::now();
        let mut fault = Bandwidth::new(0);
        let mut out = Vec::new();
        let bytes = Bytes::from(vec![0u8; 1000]);
        fault.apply(Item::Data { bytes, at: start }, &mut Rng::new(1), &mut out);
        assert_eq!(out[0].at(), start);
    }
}
