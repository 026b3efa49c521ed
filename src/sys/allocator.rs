//! What the C allocator holds, and giving its free memory back to the
//! kernel.
//!
//! After a burst of connections ends, glibc's `malloc` keeps the freed
//! buffers in its per-thread arenas for reuse: the heap in use drops back
//! to idle but the process's RSS does not, and each new burst lands in
//! slightly different places, so RSS creeps up round after round.
//! `malloc_trim(0)` returns every free page of every arena to the kernel
//! (`madvise(MADV_DONTNEED)` inside the heaps, not only at their tops).
//!
//! # Platform specific behavior
//! glibc only (`target_env = "gnu"`); elsewhere the statistics are `None`
//! and trimming does nothing. See:
//! <https://man7.org/linux/man-pages/man3/malloc_trim.3.html>,
//! <https://man7.org/linux/man-pages/man3/mallinfo.3.html>

/// The allocator's view of the heap, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Allocated and not yet freed (`uordblks` + `hblkhd`): what the
    /// program holds. A leak makes this grow.
    pub in_use: u64,
    /// Freed but kept by the allocator (`fordblks`): what retention keeps
    /// in RSS.
    pub free_retained: u64,
}

/// The current heap statistics.
#[cfg(target_env = "gnu")]
pub fn heap_stats() -> Option<HeapStats> {
    // SAFETY: mallinfo2 takes no arguments, returns a struct by value and
    // only reads the allocator's counters under its own locks.
    let info = unsafe { libc::mallinfo2() };
    Some(HeapStats {
        in_use: (info.uordblks + info.hblkhd) as u64,
        free_retained: info.fordblks as u64,
    })
}

#[cfg(not(target_env = "gnu"))]
pub fn heap_stats() -> Option<HeapStats> {
    None
}

/// Returns the allocator's free memory to the kernel; `true` when some was
/// released. Takes each arena's lock in turn, so it briefly delays other
/// threads' allocations: call it after load, not on a hot path.
#[cfg(target_env = "gnu")]
pub fn release_free_memory() -> bool {
    // SAFETY: malloc_trim only walks the allocator's own free lists under
    // its locks; a pad of 0 keeps nothing extra at the heap top.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(target_env = "gnu"))]
pub fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_env = "gnu")]
    fn freed_memory_shows_as_retained_until_released() {
        let before = heap_stats().expect("glibc");
        // Many mid-sized blocks (below the mmap threshold), then free them.
        let blocks: Vec<Vec<u8>> = (0..256).map(|_| vec![1u8; 16 << 10]).collect();
        let during = heap_stats().expect("glibc");
        // 4 MiB were allocated; the counters are process-wide and other
        // tests' threads allocate and free meanwhile, so ask for half.
        assert!(during.in_use >= before.in_use + (2 << 20), "{before:?} {during:?}");
        drop(blocks);
        let after = heap_stats().expect("glibc");
        assert!(after.in_use < during.in_use);
        release_free_memory();
    }
}
