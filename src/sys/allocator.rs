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

    /// Set in the copy of the test binary that does the measuring.
    const MEASURING_CHILD: &str = "PORTHOLE_ALLOCATOR_TEST_CHILD";
    const TEST_NAME: &str = "sys::allocator::tests::freed_memory_shows_as_retained_until_released";

    #[test]
    #[cfg(target_env = "gnu")]
    fn freed_memory_shows_as_retained_until_released() {
        // The allocator's counters are process-wide: in the test harness
        // other tests' threads allocate and free megabytes meanwhile (once
        // 20 MiB were freed between two readings). So the measuring runs in
        // a copy of this test binary that runs this one test and nothing
        // else.
        if std::env::var_os(MEASURING_CHILD).is_none() {
            let exe = std::env::current_exe().expect("test binary path");
            let out = std::process::Command::new(exe)
                .args(["--exact", TEST_NAME, "--test-threads=1", "--nocapture"])
                .env(MEASURING_CHILD, "1")
                .output()
                .expect("run the test binary again");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "the measuring copy failed:\n{printed}");
            assert!(printed.contains("1 passed"), "the measuring copy ran no test:\n{printed}");
            return;
        }
        let before = heap_stats().expect("glibc");
        // Many mid-sized blocks (below the mmap threshold), each followed by
        // a small one that stays: the freed blocks are then holes inside the
        // heap, which glibc keeps (only free space at the heap's top is
        // given back by itself), as after a burst of connections.
        let mut pins = Vec::new();
        let blocks: Vec<Vec<u8>> = (0..256)
            .map(|_| {
                let block = vec![1u8; 16 << 10];
                pins.push(vec![2u8; 64]);
                block
            })
            .collect();
        let during = heap_stats().expect("glibc");
        // 4 MiB were allocated; the harness's own thread may free a little.
        assert!(during.in_use >= before.in_use + (3 << 20), "{before:?} {during:?}");
        drop(blocks);
        let after = heap_stats().expect("glibc");
        assert!(after.in_use + (3 << 20) <= during.in_use, "{during:?} {after:?}");
        assert!(after.free_retained >= 3 << 20, "freed blocks are kept: {after:?}");
        assert!(release_free_memory(), "malloc_trim found nothing to give back: {after:?}");
        drop(pins);
    }
}
