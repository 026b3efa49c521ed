//! Toxics as stream transforms: one fault per file, all behind [`Fault`].
//!
//! A link (one direction of one connection) reads chunks, stamps each with the
//! instant it was read, and feeds them through the chain of faults selected
//! for it. A fault never sleeps: it computes *when* each piece it emits is due
//! (`Item::at`), and the link waits for that instant before writing. Because
//! every fault is a FIFO whose output times depend only on input times and
//! its own state, this gives the same schedule as Toxiproxy's goroutine per
//! toxic, without a task or a channel per fault and without locks.

mod bandwidth;
mod latency;
mod limit_data;
mod noop;
mod reset_peer;
mod slicer;
mod slow_close;
mod timeout;

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::toxics::ToxicKind;

/// One event flowing through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Bytes due to be written at `at`.
    Data { bytes: Bytes, at: Instant },
    /// The source finished sending: half-close the destination at `at`.
    Eof { at: Instant },
    /// A fault decided the connection ends at `at`; `reset` closes with RST.
    Close { at: Instant, reset: bool },
}

impl Item {
    /// The instant the item is due.
    pub(crate) fn at(&self) -> Instant {
        match self {
            Item::Data { at, .. } | Item::Eof { at } | Item::Close { at, .. } => *at,
        }
    }

    /// The same item due at another instant.
    pub(crate) fn with_at(self, at: Instant) -> Item {
        match self {
            Item::Data { bytes, .. } => Item::Data { bytes, at },
            Item::Eof { .. } => Item::Eof { at },
            Item::Close { reset, .. } => Item::Close { at, reset },
        }
    }
}

/// The per-link behaviour of one toxic.
///
/// An instance lives as long as its toxic is unchanged on this link, so it
/// may keep state (the bandwidth schedule, the bytes `limit_data` let
/// through). Implementations must emit items in order and never earlier
/// than they arrived.
pub(crate) trait Fault: Send {
    /// Feeds one item and pushes what comes out: nothing (dropped), the item
    /// itself with a later due time, or several pieces.
    fn apply(&mut self, item: Item, rng: &mut Rng, out: &mut Vec<Item>);

    /// An instant at which the fault acts without any input (the `timeout`
    /// toxic closing an idle link).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called once `deadline` has passed: the item the fault emits then
    /// (the `timeout` toxic's close), which goes on through the toxics
    /// after this one, as Toxiproxy's closed stage ends the input of the
    /// next (a `slow_close` after it still holds the close back).
    fn expire(&mut self) -> Option<Item> {
        None
    }

    /// Whether the fault schedules what passes through it later than it
    /// arrived (`latency`, `bandwidth`, `slicer`, `slow_close`). Only a
    /// change to such a toxic releases the data it was holding back: in
    /// Toxiproxy an update or removal interrupts that toxic alone, which
    /// passes its chunk on, while the other toxics keep theirs.
    fn delays(&self) -> bool {
        false
    }

    /// Whether the link keeps reading while this fault holds data back.
    /// Toxiproxy gives its `latency` toxic a 1024-chunk buffer, so a
    /// delayed stream is shifted in time and the sender goes on at full
    /// speed; the other toxics take one chunk at a time, so a `bandwidth`
    /// or `slicer` toxic slows the sender down too, as a slow network does
    /// once the socket buffers are full.
    fn reads_ahead(&self) -> bool {
        false
    }

    /// The least delay the fault gives any chunk (`latency - jitter`). When
    /// another toxic is taken off, data it released still waits this long
    /// from its arrival: in Toxiproxy it goes on through this toxic.
    fn min_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether taking the toxic off a live link must close it: `timeout`
    /// drops data, so the stream cannot continue intact afterwards.
    fn closes_on_removal(&self) -> bool {
        false
    }

    /// Bytes counted so far that an updated version of the same toxic
    /// carries on from (`limit_data` counts per connection across updates,
    /// as in Toxiproxy; `timeout` keeps the count of bytes it dropped).
    fn progress(&self) -> u64 {
        0
    }

    /// Continues from the `progress` of the version this one replaces.
    fn resume(&mut self, _progress: u64, _now: Instant) {}
}

/// Builds the fault for a toxic, as it starts acting on a link at `now`.
pub(crate) fn instantiate(kind: &ToxicKind, now: Instant) -> Box<dyn Fault> {
    match *kind {
        ToxicKind::Noop => Box::new(noop::Noop),
        ToxicKind::Latency { latency, jitter } => {
            Box::new(latency::Latency::new(millis(latency), millis(jitter)))
        }
        ToxicKind::Bandwidth { rate } => Box::new(bandwidth::Bandwidth::new(rate)),
        ToxicKind::SlowClose { delay } => Box::new(slow_close::SlowClose::new(millis(delay))),
        ToxicKind::Timeout { timeout } => Box::new(timeout::Timeout::new(millis(timeout), now)),
        ToxicKind::ResetPeer { timeout } => Box::new(reset_peer::ResetPeer::new(millis(timeout))),
        ToxicKind::Slicer { average_size, size_variation, delay } => Box::new(slicer::Slicer::new(
            average_size,
            size_variation,
            Duration::from_micros(u64::try_from(delay).unwrap_or(0)).min(MAX_DELAY),
        )),
        ToxicKind::LimitData { bytes } => Box::new(limit_data::LimitData::new(bytes)),
    }
}

/// The longest delay a toxic applies. Larger attribute values are clamped so
/// that `Instant + delay` cannot overflow; a month is "forever" for a test.
const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Milliseconds from the API (signed, as in Toxiproxy) as a duration;
/// negative values mean no delay.
fn millis(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0)).min(MAX_DELAY)
}

/// A small, fast pseudo-random generator (splitmix64). Jitter and toxicity
/// need no cryptographic quality, and one generator per link keeps the data
/// path free of shared state.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator seeded from the clock and a process-wide counter, so two
    /// links started in the same nanosecond still differ.
    pub(crate) fn from_entropy() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let count = COUNTER.fetch_add(0x6a09_e667_f3bc_c909, Ordering::Relaxed);
        let mut rng = Rng::new(nanos ^ count);
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `[low, high]` (`low` when the range is empty).
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        // i128 so that the widest range cannot overflow.
        let span = (i128::from(high) - i128::from(low) + 1) as u128;
        (i128::from(low) + (u128::from(self.next_u64()) % span) as i128) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_attributes_do_not_overflow() {
        let now = Instant::now();
        let kinds = [
            ToxicKind::Latency { latency: i64::MAX, jitter: i64::MAX },
            ToxicKind::SlowClose { delay: i64::MAX },
            ToxicKind::Timeout { timeout: i64::MAX },
            ToxicKind::ResetPeer { timeout: i64::MAX },
            ToxicKind::Slicer { average_size: 1, size_variation: i64::MAX, delay: i64::MAX },
            ToxicKind::Bandwidth { rate: i64::MAX },
            ToxicKind::LimitData { bytes: i64::MAX },
        ];
        for kind in kinds {
            let mut fault = instantiate(&kind, now);
            let mut out = Vec::new();
            let bytes = Bytes::from_static(b"0123456789");
            fault.apply(Item::Data { bytes, at: now }, &mut Rng::new(9), &mut out);
            fault.apply(Item::Eof { at: now }, &mut Rng::new(9), &mut out);
            for item in out {
                assert!(item.at() <= now + MAX_DELAY * 2, "{kind:?}");
            }
        }
    }

    #[test]
    fn rng_stays_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let value = rng.between(-5, 5);
            assert!((-5..=5).contains(&value));
            let unit = rng.unit();
            assert!((0.0..1.0).contains(&unit));
        }
        assert_eq!(rng.between(3, 3), 3);
        let wide = rng.between(i64::MIN, i64::MAX);
        assert!((i64::MIN..=i64::MAX).contains(&wide));
        assert_eq!(rng.between(4, 1), 4);
    }
}
