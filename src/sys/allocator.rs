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

/// Asks the kernel to back the 2 MiB-aligned part of `vector`'s buffer
/// with transparent huge pages (`madvise(MADV_HUGEPAGE)`), so that filling
/// a large buffer for the first time takes one page fault per 2 MiB instead
/// of one per 4 KiB. A hint only: refused or unsupported (THP `never`, a
/// small buffer) it changes nothing.
pub fn prefer_huge_pages<T>(vector: &Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = vector.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = vector.as_ptr() as usize;
    let aligned_start = start.div_ceil(HUGE) * HUGE;
    let aligned_end = (start + bytes) / HUGE * HUGE;
    if aligned_end <= aligned_start {
        return;
    }
    // SAFETY: the range lies inside the vector's own allocation, and
    // MADV_HUGEPAGE only changes how future faults are served, never the
    // contents or the mapping.
    unsafe {
        libc::madvise(
            aligned_start as *mut libc::c_void,
            aligned_end - aligned_start,
            libc::MADV_HUGEPAGE,
        );
    }
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

    /// The hint reaches the kernel: the mapping that holds a large vector
    /// is marked for huge pages (`hg` in its `VmFlags`), and a small one is
    /// left alone.
    #[test]
    fn a_large_vector_is_marked_for_huge_pages() {
        let large: Vec<u64> = Vec::with_capacity(8 << 17); // 8 MiB
        prefer_huge_pages(&large);
        let small: Vec<u64> = Vec::with_capacity(1 << 9); // 4 KiB
        prefer_huge_pages(&small);
        let flags_of = |address: usize| -> Option<String> {
            let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
            let mut inside = false;
            for line in smaps.lines() {
                if let Some((range, _)) = line.split_once(' ') {
                    if let Some((start, end)) = range.split_once('-') {
                        if let (Ok(start), Ok(end)) =
                            (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
                        {
                            inside = (start..end).contains(&address);
                            continue;
                        }
                    }
                }
                if inside {
                    if let Some(flags) = line.strip_prefix("VmFlags:") {
                        return Some(flags.to_string());
                    }
                }
            }
            None
        };
        // The aligned middle of the large buffer is where the hint applies.
        let middle = large.as_ptr() as usize + (4 << 20);
        let flags = flags_of(middle).expect("the large vector's mapping in smaps");
        assert!(flags.split_whitespace().any(|f| f == "hg"), "VmFlags: {flags}");
        let flags = flags_of(small.as_ptr() as usize).expect("the small vector's mapping");
        assert!(!flags.split_whitespace().any(|f| f == "hg"), "VmFlags: {flags}");
    }
}
