//! `slicer`: cuts each chunk into slices of about `average_size ±
//! size_variation` bytes, `delay` microseconds apart, to exercise readers
//! that assume a message arrives in one read.
//!
//! Like Toxiproxy it bisects recursively, so slice sizes stay close to the
//! average without a long tail of tiny pieces, and it waits `delay` after
//! every slice, the last of a chunk included: the next chunk's first slice,
//! and the end of stream, come `delay` after the previous slice, so slices
//! stay evenly spaced across chunk boundaries.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Fault, Item, Rng};

pub(crate) struct Slicer {
    average_size: usize,
    size_variation: usize,
    delay: Duration,
    /// When the slice after the last one emitted may go: its due time plus
    /// `delay`.
    next: Option<Instant>,
}

impl Slicer {
    pub(crate) fn new(average_size: i64, size_variation: i64, delay: Duration) -> Self {
        Slicer {
            average_size: usize::try_from(average_size).unwrap_or(0),
            size_variation: usize::try_from(size_variation).unwrap_or(0),
            delay,
            next: None,
        }
    }

    /// Pushes the offsets at which to cut `start..end`: halve around the
    /// middle (± the variation) until a piece is within the variation of the
    /// average size, as Toxiproxy does.
    fn cuts(&self, start: usize, end: usize, rng: &mut Rng, out: &mut Vec<usize>) {
        let length = end - start;
        if self.average_size == 0 || length <= self.average_size + self.size_variation || length < 2
        {
            out.push(end);
            return;
        }
        let variation = i64::try_from(self.size_variation).unwrap_or(0);
        let shift = if variation > 0 { rng.between(-variation, variation - 1) } else { 0 };
        let middle = (start + length / 2) as i64 + shift;
        let middle = usize::try_from(middle).unwrap_or(start + 1).clamp(start + 1, end - 1);
        self.cuts(start, middle, rng, out);
        self.cuts(middle, end, rng, out);
    }
}

impl Fault for Slicer {
    fn apply(&mut self, item: Item, rng: &mut Rng, out: &mut Vec<Item>) {
        let Item::Data { bytes, at } = item else {
            let due = self.next.map_or(item.at(), |next| next.max(item.at()));
            out.push(item.with_at(due));
            return;
        };
        let mut cuts = Vec::new();
        self.cuts(0, bytes.len(), rng, &mut cuts);
        let mut due = self.next.map_or(at, |next| next.max(at));
        let mut from = 0;
        for cut in cuts {
            let piece: Bytes = bytes.slice(from..cut);
            from = cut;
            out.push(Item::Data { bytes: piece, at: due });
            due += self.delay;
        }
        self.next = Some(due);
    }

    fn delays(&self) -> bool {
        !self.delay.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_keep_every_byte_in_order() {
        let mut fault = Slicer::new(10, 3, Duration::from_micros(500));
        let data: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        let start = Instant::now();
        let bytes = Bytes::from(data.clone());
        fault.apply(Item::Data { bytes, at: start }, &mut Rng::new(3), &mut out);
        assert!(out.len() >= 15, "only {} slices", out.len());
        let mut joined = Vec::new();
        for item in &out {
            let Item::Data { bytes, .. } = item else { panic!("unexpected {item:?}") };
            assert!(bytes.len() <= 26, "slice of {}", bytes.len());
            joined.extend_from_slice(bytes);
        }
        assert_eq!(joined, data);
        let span = out.last().expect("slices").at() - start;
        assert_eq!(span, Duration::from_micros(500) * (out.len() as u32 - 1));
    }

    #[test]
    fn the_delay_follows_every_slice_across_chunks_and_before_the_end() {
        let delay = Duration::from_millis(10);
        let mut fault = Slicer::new(2, 0, delay);
        let start = Instant::now();
        let mut out = Vec::new();
        for at in [start, start + Duration::from_millis(1)] {
            let bytes = Bytes::from_static(b"abcd");
            fault.apply(Item::Data { bytes, at }, &mut Rng::new(5), &mut out);
        }
        fault.apply(Item::Eof { at: start }, &mut Rng::new(5), &mut out);
        // Two slices per chunk, each `delay` after the one before, and the
        // end `delay` after the last slice.
        let times: Vec<Duration> = out.iter().map(|item| item.at() - start).collect();
        assert_eq!(times, (0..5).map(|step| delay * step).collect::<Vec<_>>());
    }
}
